#!/bin/bash
# testenv.sh: nbgate's test environment, the real thing on one host.
#
#   scripts/testenv.sh start|stop|status|env [DIR]     (DIR: $NB_TESTENV or /tmp/nbgate-testenv)
#
# start   installs the Debian packages (scripts/deps.sh slurm) and starts, all privately under DIR:
#         munged (own socket and key), MariaDB (own datadir, socket and loopback port), slurmdbd,
#         slurmctld + slurmd (accounting enforced; partitions debug (default, 1 h) and compute (8 h);
#         accounts community/alloc_alice/alloc_bob for the unix users nbcommunity/alice/bob, created
#         if missing; nbcommunity is a SLURM operator, so it may lengthen jobs), the PBS command line (Debian's slurm-wlm-torque, spank_pbs enabled) and an
#         OpenSSH sshd on a free loopback port acting as the cluster login node (public keys only,
#         keys in DIR/keys/, a test user-certificate CA in DIR/ssh_user_ca), slurmrestd on a free
#         loopback port (runs as nobody; JWT auth: AuthAltTypes=auth/jwt, key DIR/jwt/jwt_hs256.key),
#         and a single-node Grid Engine cell in DIR/sge (scripts/testenv-gridengine.sh: qmaster +
#         execd, queues debug and compute with the parallel environment smp).
#         Idempotent: does nothing if the environment already answers; otherwise it stops whatever
#         it recorded before and starts fresh.
# stop    cancels the jobs, stops exactly the processes recorded in DIR/run/ by PID (TERM, wait,
#         KILL) and removes the runtime state (keys and logs stay).
# status  exits 0 only if every part answers.
# env     prints shell assignments (SLURM_CONF, NB_LOGIN_SSH_PORT, ...); the same is in DIR/env.json.
#
# Every command needs SLURM_CONF=DIR/slurm.conf in its environment (nothing is written to /etc/slurm).
# Logs: DIR/log/ (the previous start's logs in DIR/log.prev/).
set -eu

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
top=$(cd "$(dirname "$0")/.." && pwd)
cmd="${1:-}"
D="${2:-${NB_TESTENV:-/tmp/nbgate-testenv}}"
case "$D" in /*) ;; *) D="$(pwd)/$D" ;; esac
D="${D%/}"
CLUSTER=nbgate
USERS="alice bob nbcommunity"
SLURMLIB=/usr/lib/x86_64-linux-gnu/slurm-wlm
SLURM_CONF="$D/slurm.conf"
export SLURM_CONF
MUNGE_SOCK="$D/munge/munge.socket.2"
MYSQL_SOCK="$D/mysql/mysqld.sock"
# shellcheck source=scripts/testenv-gridengine.sh
. "$top/scripts/testenv-gridengine.sh"

T0=""
say() {
	if [ -n "$T0" ]; then
		printf 'testenv: [%5ss] %s\n' "$(elapsed "$T0")" "$*"
	else
		printf 'testenv: %s\n' "$*"
	fi
}
die() {
	printf 'testenv: FAILED: %s\n' "$1" >&2
	[ -n "${2:-}" ] && printf 'testenv: read %s\n' "$2" >&2
	exit 1
}
usage() { echo "usage: $0 start|stop|status|env [DIR]" >&2; exit 2; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# wait_until SECONDS COMMAND...: polls every 0.1 s.
wait_until() {
	local t="$1" end
	shift
	end=$(( $(date +%s) + t ))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# --- processes, recorded as "PID STARTTIME" so that a reused PID is never signalled ---------------

# A zombie counts as gone: PID 1 may be slow to reap (here it is not an init that waits at once).
starttime() { awk '{ sub(/^.*\) /, ""); if ($1 != "Z" && $1 != "X") print $20 }' "/proc/$1/stat" 2>/dev/null; }

# spawn NAME COMMAND...: starts COMMAND (which must stay in the foreground) in its own session with
# output appended to DIR/log/NAME.log, and records it in DIR/run/NAME.pid.
spawn() {
	local name="$1" pid st
	shift
	setsid "$@" </dev/null >>"$D/log/$name.log" 2>&1 9>&- &
	pid=$!
	st=$(starttime "$pid") || true
	[ -n "$st" ] || die "$name exited at once" "$D/log/$name.log"
	echo "$pid $st" >"$D/run/$name.pid"
}

# recorded NAME: prints the PID if the process recorded for NAME is still that process.
recorded() {
	local f="$D/run/$1.pid" pid st
	[ -f "$f" ] || return 1
	read -r pid st <"$f" || return 1
	[ -n "$pid" ] && [ -n "$st" ] || return 1
	[ "$(starttime "$pid")" = "$st" ] || return 1
	echo "$pid"
}

alive() { recorded "$1" >/dev/null; }

# halt NAME: TERM, wait up to 15 s, KILL; by recorded PID only.
halt() {
	local name="$1" pid i
	if pid=$(recorded "$name"); then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 150); do
			alive "$name" || break
			[ "$i" = 150 ] && { kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; }
			sleep 0.1
		done
		say "stopped $name (pid $pid)"
	fi
	rm -f "$D/run/$name.pid"
}

# --- free ports: outside the kernel's ephemeral range, where the tests' port-0 binds land ---------

# pick_port VAR: sets VAR (not a $(subshell), which would forget the ports picked before).
PICKED=""
pick_port() {
	local lo hi p used _
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
	used=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }' | sort -u)
	for _ in $(seq 200); do
		if [ "$lo" -gt 12000 ]; then
			p=$(( 10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000) ))
		else
			p=$(( hi + 1 + (RANDOM * 32768 + RANDOM) % (65000 - hi) ))
		fi
		case " $PICKED " in *" $p "*) continue ;; esac
		if ! printf '%s\n' "$used" | grep -qx "$p"; then
			PICKED="$PICKED $p"
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free port found"
}

# --- health ---------------------------------------------------------------------------------------

munge_ok() { munge -S "$MUNGE_SOCK" -n 2>/dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null 2>&1; }
mysql_ok() { mariadb-admin --no-defaults -S "$MYSQL_SOCK" -u root ping >/dev/null 2>&1; }
dbd_ok() {
	timeout 10 sacctmgr -n -P show cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"
}
ctld_ok() { timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }
# slurmrestd: /ping answers 200 for nbcommunity with a token from scontrol (JWT, the cluster's key).
rest_ok() {
	local port tok
	port=$(cat "$D/run/slurmrestd.port" 2>/dev/null) || return 1
	tok=$(timeout 10 scontrol token username=nbcommunity lifespan=60 2>/dev/null | sed -n 's/^SLURM_JWT=//p')
	[ -n "$tok" ] || return 1
	curl -sf -o /dev/null --max-time 10 -H "X-SLURM-USER-NAME: nbcommunity" \
		-H "X-SLURM-USER-TOKEN: $tok" "http://127.0.0.1:$port/slurm/v0.0.38/ping"
}
node_ok() {
	local s
	s=$(timeout 10 sinfo -h -N -o '%T' 2>/dev/null | sort -u) || return 1
	[ -n "$s" ] || return 1
	printf '%s\n' "$s" | grep -qvE '^(idle|mixed|allocated|completing)$' && return 1
	return 0
}
ssh_ok() {
	[ -f "$D/env.sh" ] || return 1
	local port
	port=$(sed -n "s/^NB_LOGIN_SSH_PORT='\(.*\)'$/\1/p" "$D/env.sh")
	[ -n "$port" ] || return 1
	timeout 10 ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$D/known_hosts" -o IdentitiesOnly=yes -o ConnectTimeout=5 \
		-i "$D/keys/nbcommunity" -p "$port" nbcommunity@127.0.0.1 true >/dev/null 2>&1
}

DAEMONS="munged mariadb slurmdbd slurmctld slurmd sshd slurmrestd sge_qmaster sge_execd"

# check [quiet]: every part answers?
check() {
	local quiet="${1:-}" bad=0 d
	[ -f "$D/env.sh" ] || { [ -n "$quiet" ] || say "not started (no $D/env.sh)"; return 1; }
	for d in $DAEMONS; do
		if alive "$d"; then
			[ -n "$quiet" ] || say "$d: running (pid $(recorded "$d"))"
		else
			[ -n "$quiet" ] || say "$d: NOT running (log: $D/log/$d.log)"
			bad=1
		fi
	done
	[ "$bad" = 0 ] || return 1
	munge_ok || { [ -n "$quiet" ] || say "munge: credentials fail"; return 1; }
	mysql_ok || { [ -n "$quiet" ] || say "mariadb: no answer"; return 1; }
	dbd_ok || { [ -n "$quiet" ] || say "slurmdbd: no answer to sacctmgr"; return 1; }
	ctld_ok || { [ -n "$quiet" ] || say "slurmctld: scontrol ping fails"; return 1; }
	node_ok || { [ -n "$quiet" ] || say "slurmd: node not up: $(timeout 5 sinfo -h -N -o '%N %T %E' 2>&1)"; return 1; }
	ssh_ok || { [ -n "$quiet" ] || say "sshd: login as nbcommunity fails"; return 1; }
	ge_ok || { [ -n "$quiet" ] || say "Grid Engine: the cell does not answer or offers no slots"; return 1; }
	rest_ok || { [ -n "$quiet" ] || say "slurmrestd: no answer to ping with a token"; return 1; }
	[ -n "$quiet" ] || say "all parts answer ($D)"
	return 0
}

# --- stop -----------------------------------------------------------------------------------------

# A job step that outlived its slurmd (seen after test_sched: a cancelled job's slurmstepd
# left waiting for the slurmd it reports to, deaf to SIGTERM): found by this environment's
# SLURM_CONF in its environment, stopped with what it still runs.
stray_steps() {
	local p kids
	for p in $(pgrep -f '^slurmstepd: ' || true); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_CONF=$D/slurm.conf" ||
			continue
		kids=$(pgrep -P "$p" || true)
		kill -KILL "$p" $kids 2>/dev/null || true
		say "stopped a job step left by slurmd (pid $p)"
	done
}

stop_all() {
	local ids=() _
	# Jobs first (through SLURM, not by process name), so that no job outlives its slurmd.
	if alive slurmctld && alive slurmd; then
		mapfile -t ids < <(timeout 10 squeue -h -o %A 2>/dev/null || true)
		if [ "${#ids[@]}" -gt 0 ]; then
			say "cancelling ${#ids[@]} job(s)"
			timeout 10 scancel --quiet "${ids[@]}" 2>/dev/null || true
			for _ in $(seq 50); do
				[ -z "$(timeout 5 squeue -h -t R,CG,PD,S -o %A 2>/dev/null)" ] && break
				sleep 0.2
			done
		fi
	fi
	ge_stop
	halt slurmrestd
	halt sshd
	halt slurmd
	stray_steps
	halt slurmctld
	halt slurmdbd
	halt mariadb
	halt munged
	# Runtime state only: keys, the munge key, the CA, logs and DIR/cache stay.
	rm -rf "$D/run" "$D/state" "$D/mysql" "$D/authorized_keys" "$D/env.sh" "$D/env.json" \
		"$D/slurm.conf" "$D/slurmdbd.conf" "$D/plugstack.conf" "$D/sshd_config" "$D/known_hosts"
	rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock" "$D/munge/munged.pid"
}

# --- start ----------------------------------------------------------------------------------------

# All ancestors root-owned and not group/world-writable: then sshd's StrictModes can stay on.
strict_ok() {
	local p="$1"
	while :; do
		[ "$(stat -c '%u' "$p")" = 0 ] || return 1
		[ $(( 0$(stat -c '%a' "$p") & 022 )) = 0 ] || return 1
		[ "$p" = / ] && return 0
		p=$(dirname "$p")
	done
}

keygen() { # keygen FILE COMMENT
	if ! ssh-keygen -y -f "$1" >/dev/null 2>&1 || [ ! -f "$1.pub" ]; then
		rm -f "$1" "$1.pub"
		ssh-keygen -q -t ed25519 -N '' -C "$2" -f "$1" >/dev/null
	fi
}

json_str() {
	local v="$1"
	v=${v//\\/\\\\}
	v=${v//\"/\\\"}
	printf '"%s"' "$v"
}

ENV_KEYS=""
ENV_VALS=()
setenv() { ENV_KEYS="$ENV_KEYS $1"; ENV_VALS+=("$2"); }

write_env() {
	local k i=0 sh="$D/env.sh.tmp" js="$D/env.json.tmp" sep=""
	: >"$sh"
	printf '{' >"$js"
	for k in $ENV_KEYS; do
		printf "%s='%s'\n" "$k" "${ENV_VALS[$i]//\'/\'\\\'\'}" >>"$sh"
		printf '%s\n  %s: %s' "$sep" "$(json_str "$k")" "$(json_str "${ENV_VALS[$i]}")" >>"$js"
		sep=","
		i=$((i + 1))
	done
	# shellcheck disable=SC2086
	echo "export$ENV_KEYS" >>"$sh"
	printf '\n}\n' >>"$js"
	chmod 0644 "$sh" "$js"
	mv "$js" "$D/env.json"
	mv "$sh" "$D/env.sh"
}

start_all() {
	local t host node first_jobid tmpl ctld_port slurmd_port dbd_port mysql_port ssh_port dbpass u strict pbsdir
	local rest_port
	T0=$(now)

	if check quiet; then
		say "already running and healthy ($D); nothing to do"
		return 0
	fi
	if [ -d "$D/run" ] && [ -n "$(ls -A "$D/run" 2>/dev/null)" ]; then
		say "stale or broken environment: stopping what was recorded"
	fi
	stop_all >/dev/null

	say "packages (scripts/deps.sh slurm gridengine)"
	"$top/scripts/deps.sh" slurm gridengine >"$D/deps.log" 2>&1 || die "package install failed" "$D/deps.log"

	mkdir -p "$D/run" "$D/state/slurmctld" "$D/state/slurmd" "$D/keys" "$D/ssh" \
		"$D/authorized_keys" "$D/munge" "$D/mysql"
	rm -rf "$D/log.prev"
	[ -d "$D/log" ] && mv "$D/log" "$D/log.prev"
	mkdir -p "$D/log"
	chmod 0755 "$D" "$D/log" "$D/keys" "$D/ssh" "$D/authorized_keys"
	chmod 0700 "$D/run" "$D/state/slurmctld"
	chmod 0755 "$D/state" "$D/state/slurmd"

	say "unix users: $USERS"
	for u in $USERS; do
		id -u "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
	done

	host=$(hostname -s)
	node=$(slurmd -C | head -n 1)
	case "$node" in NodeName=*) ;; *) die "slurmd -C printed: $node" ;; esac
	# Notebooks are mostly idle: like a shared interactive partition, the one
	# node offers 8 cores however many it has (SlurmdParameters=config_overrides),
	# so that tests can keep several notebook jobs running at once.
	node=$(printf '%s\n' "$node" | sed -e 's/CPUs=[0-9]*/CPUs=8/' \
	    -e 's/Boards=[0-9]* //' -e 's/SocketsPerBoard=[0-9]*/Sockets=1/' \
	    -e 's/CoresPerSocket=[0-9]*/CoresPerSocket=8/' -e 's/ThreadsPerCore=[0-9]*/ThreadsPerCore=1/')
	first_jobid=$(( ($(date +%s) % 100000) * 100 + 1000 ))
	pick_port ctld_port
	pick_port slurmd_port
	pick_port dbd_port
	pick_port mysql_port
	pick_port ssh_port
	say "ports: slurmctld $ctld_port, slurmd $slurmd_port, slurmdbd $dbd_port, mariadb $mysql_port, sshd $ssh_port"

	# munged: its own key (made once), socket, seed, pid and log files.
	say "munged"
	chown munge:munge "$D/munge"
	chmod 0755 "$D/munge"
	if [ ! -s "$D/munge/munge.key" ]; then
		setpriv --reuid=munge --regid=munge --init-groups mungekey --create --keyfile="$D/munge/munge.key"
	fi
	chown munge:munge "$D/munge/munge.key"
	chmod 0600 "$D/munge/munge.key"
	install -o munge -g munge -m 0640 /dev/null "$D/log/munged.log"
	spawn munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
		--socket="$MUNGE_SOCK" --key-file="$D/munge/munge.key" --seed-file="$D/munge/munged.seed" \
		--pid-file="$D/munge/munged.pid" --log-file="$D/log/munged.log"
	wait_until 10 munge_ok || die "munged does not answer" "$D/log/munged.log"

	# MariaDB, private: never the system's instance, socket or port.
	say "mariadb (private datadir, port $mysql_port)"
	chown mysql:mysql "$D/mysql"
	chmod 0755 "$D/mysql"
	install -o mysql -g mysql -m 0640 /dev/null "$D/log/mariadb.log"
	# A pristine datadir is made once per MariaDB version (DIR/cache/) and copied on every start:
	# mariadb-install-db costs seconds on a busy machine, a copy a fraction of one.
	tmpl="$D/cache/mariadb-$(dpkg-query -W -f='${Version}' mariadb-server | tr -c 'A-Za-z0-9.+\n' _)"
	if [ ! -f "$tmpl.ok" ]; then
		rm -rf "$D/cache"
		mkdir -p "$D/cache"
		chown mysql:mysql "$D/cache"
		chmod 0700 "$D/cache"
		mariadb-install-db --no-defaults --datadir="$tmpl" --user=mysql \
			--auth-root-authentication-method=socket --skip-test-db --skip-name-resolve \
			--innodb-log-file-size=16M >"$D/log/mariadb-install.log" 2>&1 ||
			die "mariadb-install-db failed" "$D/log/mariadb-install.log"
		touch "$tmpl.ok"
	fi
	cp -a "$tmpl" "$D/mysql/data"
	spawn mariadb /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$D/mysql/data" \
		--socket="$MYSQL_SOCK" --port="$mysql_port" --bind-address=127.0.0.1 --skip-name-resolve \
		--pid-file="$D/mysql/mariadbd.pid" --log-error="$D/log/mariadb.log" --skip-log-bin \
		--innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 --innodb-log-file-size=16M \
		--innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --innodb-flush-method=nosync \
		--innodb-file-per-table=0 --max-connections=100
	wait_until 30 mysql_ok || die "mariadb does not answer" "$D/log/mariadb.log"
	dbpass=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
	mariadb --no-defaults -S "$MYSQL_SOCK" -u root <<-EOF || die "mariadb: cannot create the slurm user" "$D/log/mariadb.log"
		CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$dbpass';
		CREATE DATABASE slurm_acct_db;
		GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
	EOF

	# JWT key for slurmrestd (AuthAltTypes=auth/jwt below): owned by SlurmUser (root), 0600.
	mkdir -p "$D/jwt"
	chmod 0700 "$D/jwt"
	[ -s "$D/jwt/jwt_hs256.key" ] || head -c 32 /dev/urandom >"$D/jwt/jwt_hs256.key"
	chmod 0600 "$D/jwt/jwt_hs256.key"

	say "configs in $D (slurm.conf, slurmdbd.conf, plugstack.conf, sshd_config)"
	umask 077
	cat >"$D/slurmdbd.conf" <<-EOF
		# written by scripts/testenv.sh
		AuthType=auth/munge
		AuthInfo=socket=$MUNGE_SOCK
		# slurmrestd's users: JWT (scontrol token, or nbgate's own with the same key)
		AuthAltTypes=auth/jwt
		AuthAltParameters=jwt_key=$D/jwt/jwt_hs256.key
		DbdHost=$host
		DbdAddr=127.0.0.1
		DbdPort=$dbd_port
		SlurmUser=root
		DebugLevel=info
		LogFile=$D/log/slurmdbd.log
		PidFile=$D/run/slurmdbd.daemon.pid
		StorageType=accounting_storage/mysql
		StorageHost=127.0.0.1
		StoragePort=$mysql_port
		StorageUser=slurm
		StoragePass=$dbpass
		StorageLoc=slurm_acct_db
	EOF
	umask 022
	cat >"$D/plugstack.conf" <<-EOF
		# PBS_* variables in jobs (PBS_JOBID, PBS_O_WORKDIR, ...), as with a Torque-compatible site.
		required $SLURMLIB/spank_pbs.so
	EOF
	cat >"$D/slurm.conf" <<-EOF
		# written by scripts/testenv.sh: one node, accounting enforced, behaves like a real site.
		ClusterName=$CLUSTER
		SlurmctldHost=$host(127.0.0.1)
		SlurmctldPort=$ctld_port
		SlurmdPort=$slurmd_port
		SlurmUser=root
		SlurmdUser=root
		AuthType=auth/munge
		CredType=cred/munge
		AuthInfo=socket=$MUNGE_SOCK
		# slurmrestd's users: JWT (scontrol token, or nbgate's own with the same key)
		AuthAltTypes=auth/jwt
		AuthAltParameters=jwt_key=$D/jwt/jwt_hs256.key
		StateSaveLocation=$D/state/slurmctld
		SlurmdSpoolDir=$D/state/slurmd
		SlurmctldPidFile=$D/run/slurmctld.daemon.pid
		SlurmdPidFile=$D/run/slurmd.daemon.pid
		SlurmctldLogFile=$D/log/slurmctld.log
		SlurmdLogFile=$D/log/slurmd.log
		SlurmctldDebug=info
		SlurmdDebug=info
		PlugStackConfig=$D/plugstack.conf
		ProctrackType=proctrack/linuxproc
		TaskPlugin=task/none
		JobAcctGatherType=jobacct_gather/linux
		JobAcctGatherFrequency=30
		MpiDefault=none
		SwitchType=switch/none
		SelectType=select/cons_tres
		SelectTypeParameters=CR_Core_Memory
		DefMemPerCPU=512
		EnforcePartLimits=ALL
		SchedulerType=sched/backfill
		SchedulerParameters=batch_sched_delay=0
		SlurmdParameters=config_overrides
		MailProg=/bin/true
		ReturnToService=2
		MinJobAge=600
		# Job ids differ from one start to the next (and look like a real site's), so that a stale id
		# kept by a test from an earlier environment never names a new job.
		FirstJobId=$first_jobid
		JobCompType=jobcomp/none
		AccountingStorageType=accounting_storage/slurmdbd
		AccountingStorageHost=127.0.0.1
		AccountingStoragePort=$dbd_port
		# the munged that slurmdbd uses (sacctmgr/sacct ignore AuthInfo for slurmdbd connections)
		AccountingStoragePass=$MUNGE_SOCK
		AccountingStorageEnforce=associations,limits,qos
		# sacct shows the job comment (nbgate:user=U:session=N): usage reports by gateway user
		AccountingStoreFlags=job_comment
		$node NodeAddr=127.0.0.1 State=UNKNOWN
		PartitionName=debug Nodes=ALL Default=YES MaxTime=01:00:00 State=UP
		PartitionName=compute Nodes=ALL Default=NO MaxTime=08:00:00 State=UP
	EOF
	chmod 0644 "$D/slurm.conf" "$D/plugstack.conf"

	say "slurmdbd (port $dbd_port)"
	spawn slurmdbd /usr/sbin/slurmdbd -D
	wait_until 30 timeout 5 sacctmgr -n -P show cluster ||
		die "slurmdbd does not answer" "$D/log/slurmdbd.log"

	# Associations go in before slurmctld starts, so that it loads them (and enforces them) at once.
	say "accounts: cluster $CLUSTER; community<-nbcommunity, alloc_alice<-alice, alloc_bob<-bob"
	# One sacctmgr session (commands on stdin) instead of one connection per command.
	sacctmgr -i >"$D/log/sacctmgr.log" 2>&1 <<-EOF || die "sacctmgr failed" "$D/log/sacctmgr.log"
		add cluster $CLUSTER
		add account community Description="gateway community allocation" Organization=nbgate
		add account alloc_alice,alloc_bob Description="personal allocation" Organization=nbgate
		add user nbcommunity Account=community AdminLevel=Operator
		add user alice Account=alloc_alice
		add user bob Account=alloc_bob
	EOF
	dbd_ok || die "cluster $CLUSTER not registered" "$D/log/sacctmgr.log"

	say "slurmctld (port $ctld_port)"
	spawn slurmctld /usr/sbin/slurmctld -D -i
	wait_until 30 ctld_ok || die "slurmctld does not answer" "$D/log/slurmctld.log"

	say "slurmd (port $slurmd_port)"
	spawn slurmd /usr/sbin/slurmd -D
	wait_until 30 node_ok || die "the node does not come up: $(timeout 5 sinfo -h -N -o '%N %T %E' 2>&1)" \
		"$D/log/slurmd.log"

	say "login node: sshd on 127.0.0.1:$ssh_port"
	keygen "$D/ssh/ssh_host_ed25519_key" "nbgate-testenv login node"
	keygen "$D/ssh_user_ca" "nbgate-testenv user CA"
	for u in nbcommunity alice bob; do
		keygen "$D/keys/$u" "$u@nbgate-testenv"
		install -o root -g root -m 0644 "$D/keys/$u.pub" "$D/authorized_keys/$u"
	done
	chmod 0600 "$D/ssh/ssh_host_ed25519_key" "$D/ssh_user_ca" "$D/keys/nbcommunity" "$D/keys/alice" \
		"$D/keys/bob"
	chmod 0644 "$D/ssh_user_ca.pub"
	echo "[127.0.0.1]:$ssh_port $(cut -d ' ' -f 1,2 "$D/ssh/ssh_host_ed25519_key.pub")" >"$D/known_hosts"
	strict=no
	strict_ok "$D" && strict=yes
	mkdir -p /run/sshd
	chmod 0755 /run/sshd
	cat >"$D/sshd_config" <<-EOF
		# written by scripts/testenv.sh: the cluster's login node. Not the system's sshd.
		Port $ssh_port
		ListenAddress 127.0.0.1
		HostKey $D/ssh/ssh_host_ed25519_key
		PidFile none
		LogLevel VERBOSE
		PermitRootLogin no
		AuthenticationMethods publickey
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		HostbasedAuthentication no
		AuthorizedKeysFile $D/authorized_keys/%u
		TrustedUserCAKeys $D/ssh_user_ca.pub
		# StrictModes is off only when a parent of $D is writable by others (e.g. /tmp):
		# the key files themselves are root-owned, mode 0644, in root-owned 0755 directories.
		StrictModes $strict
		# PAM: accounts made by useradd have a locked password, which sshd without PAM refuses.
		UsePAM yes
		# No AcceptEnv: clients pass no environment. Remote commands see the cluster's slurm.conf:
		SetEnv SLURM_CONF=$D/slurm.conf
		X11Forwarding no
		PrintMotd no
		PrintLastLog no
		MaxStartups 64:30:128
		MaxSessions 64
		Subsystem sftp internal-sftp
	EOF
	chmod 0644 "$D/sshd_config"
	/usr/sbin/sshd -t -f "$D/sshd_config" >"$D/log/sshd.log" 2>&1 || die "sshd_config rejected" "$D/log/sshd.log"
	spawn sshd /usr/sbin/sshd -D -e -f "$D/sshd_config"

	# --- slurmrestd (SLURM's REST API, JWT auth) --------------------------------------------------
	pick_port rest_port
	say "slurmrestd on 127.0.0.1:$rest_port (as nobody, rest_auth/jwt, openapi v0.0.38)"
	install -o nobody -g nogroup -m 0640 /dev/null "$D/log/slurmrestd.log"
	echo "$rest_port" >"$D/run/slurmrestd.port"
	# SLURM_JWT=daemon: slurmrestd itself talks auth/jwt (else auth/munge refuses the users' tokens).
	spawn slurmrestd setpriv --reuid=nobody --regid=nogroup --clear-groups env SLURM_JWT=daemon \
		/usr/sbin/slurmrestd -a rest_auth/jwt -s openapi/v0.0.38,openapi/dbv0.0.38 \
		"127.0.0.1:$rest_port"
	wait_until 30 rest_ok || die "slurmrestd does not answer" "$D/log/slurmrestd.log"
	say "Grid Engine cell ($D/sge)"
	ge_start

	pbsdir=$(dirname "$(command -v qsub)")
	head -n 1 "$pbsdir/qsub" | grep -q perl || die "$pbsdir/qsub is not slurm-wlm-torque's (gridengine installed?)"
	setenv NB_TESTENV "$D"
	setenv SLURM_CONF "$D/slurm.conf"
	setenv NB_SLURM_CLUSTER "$CLUSTER"
	setenv NB_SLURM_PARTITIONS "debug compute"
	setenv NB_SLURM_DEFAULT_PARTITION debug
	setenv NB_SLURM_MAXTIME_DEBUG "01:00:00"
	setenv NB_SLURM_MAXTIME_COMPUTE "08:00:00"
	setenv NB_SLURM_ACCOUNTS "community alloc_alice alloc_bob"
	setenv NB_COMMUNITY_USER nbcommunity
	setenv NB_COMMUNITY_ACCOUNT community
	setenv NB_SLURMCTLD_PORT "$ctld_port"
	setenv NB_SLURMD_PORT "$slurmd_port"
	setenv NB_SLURMDBD_PORT "$dbd_port"
	setenv NB_PBS_BINDIR "$pbsdir"
	setenv NB_MUNGE_SOCKET "$MUNGE_SOCK"
	setenv NB_MARIADB_PORT "$mysql_port"
	setenv NB_MARIADB_SOCKET "$MYSQL_SOCK"
	setenv NB_LOGIN_HOST 127.0.0.1
	setenv NB_LOGIN_SSH_PORT "$ssh_port"
	setenv NB_LOGIN_HOSTKEY "$(cut -d ' ' -f 1,2 "$D/ssh/ssh_host_ed25519_key.pub")"
	setenv NB_LOGIN_KNOWN_HOSTS "$D/known_hosts"
	setenv NB_KEY_COMMUNITY "$D/keys/nbcommunity"
	setenv NB_KEY_ALICE "$D/keys/alice"
	setenv NB_KEY_BOB "$D/keys/bob"
	setenv NB_SSH_USER_CA "$D/ssh_user_ca"
	setenv NB_SSH_USER_CA_PUB "$D/ssh_user_ca.pub"
	setenv NB_TESTENV_LOGS "$D/log"
	setenv NB_SLURMRESTD_URL "http://127.0.0.1:$rest_port"
	setenv NB_SLURMRESTD_API v0.0.38
	setenv NB_SLURM_JWT_KEY "$D/jwt/jwt_hs256.key"
	write_env
	wait_until 10 ssh_ok || die "sshd: login as nbcommunity with its key fails" "$D/log/sshd.log"

	check quiet || { check; die "the environment does not answer after start" "$D/log/"; }
	t=$(elapsed "$T0")
	T0=""
	say "ready in ${t}s: eval \"\$($0 env $D)\"   (SLURM_CONF=$D/slurm.conf)"
}

# --- main -----------------------------------------------------------------------------------------

if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
case "$cmd" in
start | stop)
	[ "$(id -u)" = 0 ] || die "$cmd needs root"
	mkdir -p "$D"
	chmod 0755 "$D"
	exec 9>"$D.lock"
	flock -w 300 9 || die "another testenv.sh holds $D.lock"
	if [ "$cmd" = start ]; then
		ok=0
		# On failure, stop what was started (NB_TESTENV_KEEP=1 leaves it running to look at).
		trap '[ "$ok" = 1 ] || [ "${NB_TESTENV_KEEP:-}" = 1 ] || { echo "testenv: start failed; stopping what it started (logs stay in $D/log)" >&2; stop_all >/dev/null 2>&1; }' EXIT
		start_all
		ok=1
	else
		stop_all
		say "stopped ($D)"
	fi
	;;
status)
	check
	;;
env)
	[ -f "$D/env.sh" ] || die "not started: no $D/env.sh"
	cat "$D/env.sh"
	;;
*) usage ;;
esac
