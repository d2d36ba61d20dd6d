#!/bin/bash
# Benchmarks nbgated side by side with its peers in one run (see bench/README.md).
# Usage: bench/run.sh [--quick] [--out DIR] [--paths "direct nginx chp nbgated [nbgated_b]"]
# Everything runs on 127.0.0.1 with ports picked at run time; every process started here is
# stopped by PID on exit. Raw results, logs and results.json go to the out dir.
# shellcheck disable=SC2046 # PID lists from $(proxy_pids) etc. are meant to split
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
LIB="$PY $HERE/lib.py"
export NODE_PATH=/usr/share/nodejs
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

QUICK=0
OUT=""
PATHS="direct nginx chp nbgated"
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--out) OUT=$2; shift ;;
	--paths) PATHS=$2; shift ;;
	-h|--help) sed -n '2,5p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	DUR=${BENCH_DURATION:-3}; WS_NS=${BENCH_WS_NS:-"500 1000"}
else
	DUR=${BENCH_DURATION:-10}; WS_NS=${BENCH_WS_NS:-"2000 10000"}
fi
# Small-request loads run in rounds, every path once per round, all paths up at once: the
# machine's drift (other load, frequency) then hits every path alike; the median round counts.
ROUNDS=${BENCH_ROUNDS:-$([ "$QUICK" = 1 ] && echo 1 || echo 3)}
WS_PER_PROC=2500     # idle WebSockets per node client process (fd limit is per process)
ECHO_CONNS=10        # connections in the WebSocket echo test
OUT=${OUT:-$HERE/out/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/logs" "$OUT/raw" || exit 1
OUT=$(cd "$OUT" && pwd)
TMP=$(mktemp -d /tmp/nbbench.XXXXXX) || exit 1
chmod 755 "$TMP"   # nginx workers run as an unprivileged user and read the files in here

if ! ulimit -n 20000 2>/dev/null; then
	echo "run.sh: warning: could not raise the fd limit to 20000 (now $(ulimit -n))" >&2
fi

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/logs/run.log" >&2; }

# The OpenSSH tunnels use the cipher nbgate-agent's link uses on this machine (common/sshio.c):
# AES-256-GCM where the CPU has AES and carry-less multiply instructions, else ChaCha20-Poly1305.
if grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo; then
	SSH_CIPHER=${BENCH_SSH_CIPHER:-aes256-gcm@openssh.com}
else
	SSH_CIPHER=${BENCH_SSH_CIPHER:-chacha20-poly1305@openssh.com}
fi
# The nginx front speaks what Debian's own nginx.conf and browsers give it, TLS 1.3 (nginx 1.22
# alone defaults to TLS 1.2, whose resumption skips the key exchange TLS 1.3's always makes),
# with the TLS 1.3 suite nbgated picks (browsers list AES-128-GCM first too).
# BENCH_NGINX_TLS="TLSv1.2" measures it the old way.
NGINX_TLS=${BENCH_NGINX_TLS:-"TLSv1.2 TLSv1.3"}
TLS_SUITES="TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

# ---------------------------------------------------------------- process bookkeeping
ALL_PIDS=()     # every process started here
PATH_PIDS=()    # those of the path under test
LASTPID=""

# start_bg NAME CMD...: start CMD in the background, output to logs/NAME.log, PID in LASTPID.
start_bg() {
	local name=$1; shift
	"$@" >"$OUT/logs/$name.log" 2>&1 &
	LASTPID=$!
	ALL_PIDS+=("$LASTPID")
	PATH_PIDS+=("$LASTPID")
}

# stop_pids PID...: TERM each PID and its descendants, KILL what is left after 5 s.
stop_pids() {
	local all p i
	[ $# -gt 0 ] || return 0
	all=$($LIB tree "$@")
	[ -n "$all" ] || return 0
	# shellcheck disable=SC2086
	kill -TERM $all 2>/dev/null
	for i in $(seq 50); do
		local alive=""
		for p in $all; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	for p in $all; do kill -KILL "$p" 2>/dev/null; done
	for p in "$@"; do wait "$p" 2>/dev/null; done
	return 0
}

cleanup() {
	trap - EXIT INT TERM
	stop_pids "${ALL_PIDS[@]}"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# wait_for SECONDS CMD...: retry CMD every 0.2 s until it succeeds; 1 on timeout.
wait_for() {
	local deadline=$(( $(date +%s) + $1 )); shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.2
	done
	return 0
}

alive() { kill -0 "$1" 2>/dev/null; }

# http_ok URL: the URL answers 2xx (TLS not verified), with the bench's Authorization header.
http_ok() { curl -skf -o /dev/null --max-time 5 -H "$AUTH" "$1"; }

ports() { $LIB freeport "$1"; }

# ---------------------------------------------------------------- shared backends
setup_common() {
	log "out dir: $OUT (temp: $TMP)"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		-keyout "$TMP/tls.key" -out "$TMP/tls.crt" >"$OUT/logs/openssl.log" 2>&1 || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$TMP/user_key" -C bench || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$TMP/agent_key" -C bench-agent || return 1
	mkdir -p "$TMP/www" "$TMP/nb" "$TMP/jupyter"
	head -c 100 /dev/zero | tr '\0' 'a' >"$TMP/www/100b"
	head -c 1048576 /dev/urandom >"$TMP/www/1m"
	NBTOKEN=$(openssl rand -hex 24)
	printf '%s' "$NBTOKEN" >"$TMP/nbtoken"
	AUTH="Authorization: token $NBTOKEN"
	mkdir -p /run/sshd 2>/dev/null
	return 0
}

start_backends() {
	local p
	mapfile -t p < <(ports 3); P_ORIGIN=${p[0]}; P_WS=${p[1]}; P_NB=${p[2]}

	start_bg ws-echo node "$HERE/ws-echo.js" "$P_WS"

	start_bg notebook env HOME="$TMP/jupyter" JUPYTER_CONFIG_DIR="$TMP/jupyter/config" \
		JUPYTER_DATA_DIR="$TMP/jupyter/data" JUPYTER_RUNTIME_DIR="$TMP/jupyter/runtime" \
		IPYTHONDIR="$TMP/jupyter/ipython" \
		/usr/bin/python3 /usr/bin/jupyter-notebook --no-browser --allow-root --ip=127.0.0.1 \
		--port="$P_NB" --NotebookApp.port_retries=0 --NotebookApp.base_url=/user/bench/ \
		--NotebookApp.token="$NBTOKEN" --notebook-dir="$TMP/nb" --log-level=WARN

	mkdir -p "$TMP/origin"
	cat >"$TMP/origin/nginx.conf" <<-EOF
	# Backend: serves the two files, fronts the ws echo server and the notebook on one port.
	worker_processes 2;
	worker_rlimit_nofile 20000;
	daemon off;
	pid $TMP/origin/nginx.pid;
	error_log $OUT/logs/origin-nginx.error.log warn;
	events { worker_connections 20000; }
	http {
	    access_log off;
	    default_type application/octet-stream;
	    sendfile on;
	    keepalive_requests 1000000;
	    client_body_temp_path $TMP/origin/body; proxy_temp_path $TMP/origin/proxy;
	    fastcgi_temp_path $TMP/origin/fcgi; uwsgi_temp_path $TMP/origin/uwsgi;
	    scgi_temp_path $TMP/origin/scgi;
	    map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
	    upstream ws { server 127.0.0.1:$P_WS; keepalive 32; keepalive_requests 1000000; }
	    upstream nb { server 127.0.0.1:$P_NB; keepalive 32; keepalive_requests 1000000; }
	    server {
	        listen 127.0.0.1:$P_ORIGIN reuseport;
	        location = /user/bench/100b { alias $TMP/www/100b; }
	        location = /user/bench/1m { alias $TMP/www/1m; }
	        location /user/bench/ws {
	            proxy_pass http://ws; proxy_http_version 1.1;
	            proxy_set_header Upgrade \$http_upgrade;
	            proxy_set_header Connection \$connection_upgrade;
	            proxy_read_timeout 1h; proxy_send_timeout 1h;
	        }
	        location /user/bench/ {
	            proxy_pass http://nb; proxy_http_version 1.1;
	            proxy_set_header Connection ""; proxy_set_header Host \$http_host;
	        }
	    }
	}
	EOF
	start_bg origin-nginx nginx -e "$OUT/logs/origin-nginx.error.log" -p "$TMP/origin" \
		-c "$TMP/origin/nginx.conf"

	if ! wait_for 15 http_ok "http://127.0.0.1:$P_ORIGIN/user/bench/100b"; then
		log "backend nginx did not come up: see $OUT/logs/origin-nginx.log and origin-nginx.error.log"; return 1
	fi
	wait_for 15 node -e "
		const W=require('ws'); const w=new W('ws://127.0.0.1:$P_ORIGIN/user/bench/ws');
		w.on('open',()=>w.send('x')); w.on('message',()=>process.exit(0));
		w.on('error',()=>process.exit(1)); setTimeout(()=>process.exit(1),2000);" ||
		log "ws echo backend not answering: see $OUT/logs/ws-echo.log"
	if wait_for 60 http_ok "http://127.0.0.1:$P_ORIGIN/user/bench/api/status"; then
		NB_OK=1
	else
		NB_OK=0; log "notebook not answering: see $OUT/logs/notebook.log"
	fi
	PATH_PIDS=()
	log "backends up: origin nginx :$P_ORIGIN, ws echo :$P_WS, notebook :$P_NB"
	return 0
}

# ---------------------------------------------------------------- OpenSSH tunnel (paths 2, 3)
# start_ssh_tunnel NAME: throwaway sshd + `ssh -N -R` forwarding P_TUN to the backend.
start_ssh_tunnel() {
	local name=$1 d="$TMP/$1-sshd" p
	mapfile -t p < <(ports 2); local p_ssh=${p[0]}; P_TUN=${p[1]}
	mkdir -p "$d"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" || { FAIL="ssh-keygen failed"; return 1; }
	cp "$TMP/user_key.pub" "$d/authorized_keys"
	cat >"$d/sshd_config" <<-EOF
	Port $p_ssh
	ListenAddress 127.0.0.1
	HostKey $d/host_key
	PidFile $d/sshd.pid
	AuthorizedKeysFile $d/authorized_keys
	StrictModes no
	UsePAM no
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	PermitRootLogin prohibit-password
	AllowTcpForwarding remote
	X11Forwarding no
	PrintMotd no
	Ciphers $SSH_CIPHER
	MaxStartups 100
	LogLevel INFO
	EOF
	start_bg "$name-sshd" /usr/sbin/sshd -D -e -f "$d/sshd_config"; SSHD_PID=$LASTPID
	if ! wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p_ssh"; then
		FAIL="sshd did not listen, log $OUT/logs/$name-sshd.log"; return 1
	fi
	start_bg "$name-ssh" ssh -N -F /dev/null -i "$TMP/user_key" -p "$p_ssh" \
		-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o ExitOnForwardFailure=yes -o Ciphers="$SSH_CIPHER" \
		-R "127.0.0.1:$P_TUN:127.0.0.1:$P_ORIGIN" "$(id -un)@127.0.0.1"
	SSH_PID=$LASTPID
	if ! wait_for 15 http_ok "http://127.0.0.1:$P_TUN/user/bench/100b"; then
		FAIL="ssh -R tunnel not carrying requests, logs $OUT/logs/$name-ssh.log $OUT/logs/$name-sshd.log"
		return 1
	fi
	return 0
}

# ---------------------------------------------------------------- the four paths
# Each up_* sets BASE (http[s]://host:port), WSBASE, PROXY_ROOTS, AGENT_ROOTS, CLIENT_AUTH;
# on failure it sets FAIL and returns 1.
up_direct() {
	BASE="http://127.0.0.1:$P_ORIGIN"; WSBASE="ws://127.0.0.1:$P_ORIGIN"
	PROXY_ROOTS=""; AGENT_ROOTS=""; CLIENT_AUTH=$AUTH
	return 0
}

up_nginx() {
	start_ssh_tunnel nginx || return 1
	local d="$TMP/front-nginx" p
	mapfile -t p < <(ports 1); local port=${p[0]}
	mkdir -p "$d"
	cat >"$d/nginx.conf" <<-EOF
	worker_processes 2;
	worker_rlimit_nofile 20000;
	daemon off;
	pid $d/nginx.pid;
	error_log $OUT/logs/nginx-front.error.log warn;
	events { worker_connections 20000; }
	http {
	    access_log off;
	    keepalive_requests 1000000;
	    client_body_temp_path $d/body; proxy_temp_path $d/proxy;
	    fastcgi_temp_path $d/fcgi; uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;
	    map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
	    upstream tunnel { server 127.0.0.1:$P_TUN; keepalive 64; keepalive_requests 1000000; }
	    server {
	        listen 127.0.0.1:$port ssl reuseport;
	        ssl_certificate $TMP/tls.crt;
	        ssl_certificate_key $TMP/tls.key;
	        ssl_session_cache shared:SSL:10m;
	        ssl_protocols $NGINX_TLS;
	        ssl_prefer_server_ciphers on;
	        ssl_conf_command Ciphersuites $TLS_SUITES;
	        location /user/bench/ {
	            proxy_pass http://tunnel; proxy_http_version 1.1;
	            proxy_set_header Host \$http_host;
	            proxy_set_header Upgrade \$http_upgrade;
	            proxy_set_header Connection \$connection_upgrade;
	            proxy_read_timeout 1h; proxy_send_timeout 1h;
	        }
	    }
	}
	EOF
	start_bg nginx-front nginx -e "$OUT/logs/nginx-front.error.log" -p "$d" -c "$d/nginx.conf"
	local pid=$LASTPID
	BASE="https://127.0.0.1:$port"; WSBASE="wss://127.0.0.1:$port"; CLIENT_AUTH=$AUTH
	PROXY_ROOTS="$pid $SSHD_PID"; AGENT_ROOTS="$SSH_PID"
	if ! wait_for 15 http_ok "$BASE/user/bench/100b"; then
		FAIL="nginx front not answering, log $OUT/logs/nginx-front.error.log"; return 1
	fi
	return 0
}

up_chp() {
	start_ssh_tunnel chp || return 1
	local p; mapfile -t p < <(ports 2); local port=${p[0]} api=${p[1]}
	local tok; tok=$(openssl rand -hex 16)
	start_bg chp env CONFIGPROXY_AUTH_TOKEN="$tok" configurable-http-proxy --ip 127.0.0.1 \
		--port "$port" --api-ip 127.0.0.1 --api-port "$api" --ssl-key "$TMP/tls.key" \
		--ssl-cert "$TMP/tls.crt" --log-level warn
	local pid=$LASTPID
	if ! wait_for 20 curl -sf -o /dev/null -H "Authorization: token $tok" \
		"http://127.0.0.1:$api/api/routes"; then
		FAIL="CHP API not answering, log $OUT/logs/chp.log"; return 1
	fi
	if ! curl -sf -o /dev/null -X POST -H "Authorization: token $tok" \
		-d "{\"target\": \"http://127.0.0.1:$P_TUN\"}" "http://127.0.0.1:$api/api/routes/user/bench"; then
		FAIL="CHP refused the route, log $OUT/logs/chp.log"; return 1
	fi
	BASE="https://127.0.0.1:$port"; WSBASE="wss://127.0.0.1:$port"; CLIENT_AUTH=$AUTH
	PROXY_ROOTS="$pid $SSHD_PID"; AGENT_ROOTS="$SSH_PID"
	if ! wait_for 15 http_ok "$BASE/user/bench/100b"; then
		FAIL="CHP not proxying, log $OUT/logs/chp.log"; return 1
	fi
	return 0
}

find_nb_builddir() {
	local d
	if [ -n "${NB_BUILDDIR:-}" ]; then echo "$NB_BUILDDIR"; return; fi
	# An optimised build without sanitizers, made here (the test build has ASan).
	d="$HERE/../_build-bench"
	(
		cd "$HERE/.." && { [ -x configure ] || autoreconf -fi; } >&2 &&
		mkdir -p "$d" && cd "$d" && { [ -f Makefile ] || ../configure -q; } >&2 &&
		make -j2 >&2
	) || { echo "bench: cannot build nbgate in $d" >&2; }
	echo "$(cd "$d" && pwd)"
}

# nb_bin NAME: executable NAME at the top of the build dir, where the (non-recursive)
# build puts nbgated, nbgatectl and nbgate-agent; never a leftover of an older layout.
nb_bin() {
	[ -x "$NB_B/$1" ] && [ -f "$NB_B/$1" ] || return 1
	echo "$NB_B/$1"
}

# up_nbgated_b: a second nbgated build side by side (BENCH_B_BUILDDIR), for A/B trials of a change.
up_nbgated_b() {
	[ -n "${BENCH_B_BUILDDIR:-}" ] || { FAIL="set BENCH_B_BUILDDIR to the build dir to compare"; return 1; }
	NB_B=$BENCH_B_BUILDDIR up_nbgated_from nbgated_b
}

up_nbgated() {
	NB_B=$(find_nb_builddir) up_nbgated_from nbgated
}

# up_nbgated_from NAME: nbgated and its agent from build dir $NB_B; files and logs named NAME.
up_nbgated_from() {
	local name=$1 gated ctl agent
	gated=$(nb_bin nbgated) || { FAIL="no nbgated binary in $NB_B (set NB_BUILDDIR)"; return 1; }
	ctl=$(nb_bin nbgatectl) || { FAIL="no nbgatectl binary in $NB_B"; return 1; }
	agent=$(nb_bin nbgate-agent) || { FAIL="no nbgate-agent binary in $NB_B"; return 1; }
	local d="$TMP/$name" p; mapfile -t p < <(ports 2); local port=${p[0]} p_ssh=${p[1]}
	mkdir -p "$d/state"
	chmod 700 "$d/state"
	local sock="$d/admin.sock"
	cat >"$d/nbgated.yaml" <<-EOF
	state_dir: $d/state
	listen: { https: 127.0.0.1:$port, ssh: 127.0.0.1:$p_ssh, admin_socket: $sock }
	tls: { certificate: $TMP/tls.crt, key: $TMP/tls.key, self_signed: false }
	log: { level: warning }
	proxy: { max_connections_per_address: 1000000 }
	EOF
	# Every load comes from one address; a build from before the per-address cap
	# (nbgated_b in an A/B run) does not know the key.
	"$gated" --check-config "$d/nbgated.yaml" >/dev/null 2>&1 ||
		sed -i '/max_connections_per_address/d' "$d/nbgated.yaml"
	log "nbgated from $gated"
	# BENCH_NBGATED_ENV="VAR=VALUE ...": extra environment for nbgated alone (allocator trials).
	# shellcheck disable=SC2086
	start_bg "$name" env ${BENCH_NBGATED_ENV:-} "$gated" -c "$d/nbgated.yaml"; local pid=$LASTPID
	if ! wait_for 15 "$ctl" -s "$sock" status; then
		FAIL="nbgated not ready (status), log $OUT/logs/$name.log"
		alive "$pid" || FAIL="nbgated exited, log $OUT/logs/$name.log"
		return 1
	fi
	if ! alive "$pid"; then
		FAIL="nbgated exited after answering status, log $OUT/logs/$name.log"; return 1
	fi
	local fp
	fp=$("$ctl" -s "$sock" status --json 2>>"$OUT/logs/nbgatectl.log" | $PY -c \
		'import json,sys; print(json.load(sys.stdin).get("ssh_fingerprint",""))' 2>/dev/null)
	if [ -z "$fp" ] && [ -f "$d/state/ssh_host_ed25519_key.pub" ]; then
		fp=$(ssh-keygen -l -E sha256 -f "$d/state/ssh_host_ed25519_key.pub" | awk '{print $2}')
	fi
	[ -n "$fp" ] || { FAIL="no ssh_fingerprint from nbgatectl status --json, log $OUT/logs/nbgatectl.log"; return 1; }
	if ! "$ctl" -s "$sock" route add bench --key "$TMP/agent_key.pub" --token-file "$TMP/nbtoken" \
		>>"$OUT/logs/nbgatectl.log" 2>&1; then
		FAIL="nbgatectl route add failed, log $OUT/logs/nbgatectl.log"; return 1
	fi
	local tok
	tok=$("$ctl" -s "$sock" token issue bench 2>>"$OUT/logs/nbgatectl.log" | tail -n 1)
	[ -n "$tok" ] || { FAIL="nbgatectl token issue printed nothing, log $OUT/logs/nbgatectl.log"; return 1; }
	start_bg "$name-agent" "$agent" --gateway "127.0.0.1:$p_ssh" --route bench \
		--key "$TMP/agent_key" --hostkey-fingerprint "$fp" --target "127.0.0.1:$P_ORIGIN"
	local apid=$LASTPID
	BASE="https://127.0.0.1:$port"; WSBASE="wss://127.0.0.1:$port"
	CLIENT_AUTH="Authorization: token $tok"
	PROXY_ROOTS="$pid"; AGENT_ROOTS="$apid"
	if ! wait_for 20 curl -skf -o /dev/null --max-time 5 -H "$CLIENT_AUTH" "$BASE/user/bench/100b"; then
		FAIL="no 2xx through nbgated, logs $OUT/logs/$name.log $OUT/logs/$name-agent.log"
		alive "$apid" || FAIL="nbgate-agent exited, log $OUT/logs/$name-agent.log"
		return 1
	fi
	return 0
}

# ---------------------------------------------------------------- loads
proxy_pids() { [ -n "$PROXY_ROOTS" ] && $LIB tree $PROXY_ROOTS; }
agent_pids() { [ -n "$AGENT_ROOTS" ] && $LIB tree $AGENT_ROOTS; }
proxy_cpu() { if [ -n "$PROXY_ROOTS" ]; then $LIB cpu $(proxy_pids); else echo 0; fi; }
agent_cpu() { if [ -n "$AGENT_ROOTS" ]; then $LIB cpu $(agent_pids); else echo 0; fi; }
proxy_rss() { if [ -n "$PROXY_ROOTS" ]; then $LIB rss $(proxy_pids); else echo 0; fi; }
agent_rss() { if [ -n "$AGENT_ROOTS" ]; then $LIB rss $(agent_pids); else echo 0; fi; }

# load_gen NAME CONNS URLPATH CMD...: runs load generator CMD (it prints a BENCHJSON line) with
# the proxy's and the agent's CPU counted around it; raw/P/NAME.json gets the numbers.
load_gen() {
	local name=$1 conns=$2 path=$3 raw="$OUT/raw/$P/$1"
	local c0 c1 a0 a1
	shift 3
	c0=$(proxy_cpu); a0=$(agent_cpu)
	$LIB cpurun "$raw.gen" -- "$@" >"$raw.wrk.txt" 2>&1
	c1=$(proxy_cpu); a1=$(agent_cpu)
	$LIB wrkjson "$raw.wrk.txt" "$raw.json" "gen=$(cat "$raw.gen")" \
		"proxy_cpu_s=$(echo "$c1 $c0" | awk '{printf "%.2f", $1-$2}')" \
		"agent_cpu_s=$(echo "$a1 $a0" | awk '{printf "%.2f", $1-$2}')" conns="$conns" url="$path"
	log "$P $name: $(head -c 200 "$raw.json")"
}

# load_wrk NAME CONNS URLPATH [HEADER]: one wrk thread for DUR seconds (HEADER: one more).
load_wrk() {
	local extra=${4:-}
	load_gen "$1" "$2" "$3" wrk -t1 -c"$2" -d"${DUR}s" --timeout 10s --latency \
		-s "$HERE/wrk-json.lua" -H "$CLIENT_AUTH" ${extra:+-H "$extra"} "$BASE$3"
}

# load_newconn NAME CONNS URLPATH RESUME: newconn.py (Python's ssl, 2 processes), a new TLS
# connection per request, resuming sessions (RESUME=1, as browsers do) or not (0), for DUR s.
load_newconn() {
	load_gen "$1" "$2" "$3" "$PY" "$HERE/newconn.py" --url "$BASE$3" --conns "$2" \
		--duration "$DUR" --resume "$4" --header "$CLIENT_AUTH"
}

# new_loads: the new-connection loads (every request a new TLS connection, as a browser's
# after an idle gap): wrk (it resumes when a ticket reached it) on the 100-byte file and the
# notebook's status, and newconn.py with and without session resumption.
new_loads() {
	load_wrk small_new_c10 10 /user/bench/100b "Connection: close"
	if [ "$NB_OK" = 1 ]; then
		load_wrk nbstatus_new_c10 10 /user/bench/api/status "Connection: close"
	else
		echo '{"failed": "notebook backend did not come up"}' >"$OUT/raw/$P/nbstatus_new_c10.json"
	fi
	load_newconn small_new_resume 10 /user/bench/100b 1
	load_newconn small_new_full 10 /user/bench/100b 0
}

# bulk_loads: the 1 MiB file on one connection and on ten.
bulk_loads() {
	load_wrk bulk_c1 1 /user/bench/1m
	load_wrk bulk_c10 10 /user/bench/1m
}

# load_h2page: a page's 100 small assets fetched as a browser fetches them, through this path:
# over h2 on one connection (all 100 streams at once) and over HTTP/1.1 on 6 connections (one
# request at a time each), by h2load (nghttp2-client), page after page; the median time to the
# last asset, connections and TLS handshakes included.
load_h2page() {
	local raw="$OUT/raw/$P/h2page" reps c0 c1 a0 a1 i
	reps=$([ "$QUICK" = 1 ] && echo 10 || echo 30)
	if ! command -v h2load >/dev/null; then
		echo '{"failed": "h2load not installed (nghttp2-client)"}' >"$raw.json"
		return
	fi
	: >"$raw.h2.txt"; : >"$raw.h1.txt"
	c0=$(proxy_cpu); a0=$(agent_cpu)
	for i in $(seq "$reps"); do
		h2load -n 100 -c 1 -m 100 -H "$CLIENT_AUTH" "$BASE/user/bench/100b" >>"$raw.h2.txt" 2>&1
		h2load --h1 -n 100 -c 6 -m 1 -H "$CLIENT_AUTH" "$BASE/user/bench/100b" >>"$raw.h1.txt" 2>&1
	done
	c1=$(proxy_cpu); a1=$(agent_cpu)
	$LIB h2page "$raw.h2.txt" "$raw.h1.txt" "$raw.json" \
		"proxy_cpu_s=$(echo "$c1 $c0" | awk '{printf "%.2f", $1-$2}')" \
		"agent_cpu_s=$(echo "$a1 $a0" | awk '{printf "%.2f", $1-$2}')"
	log "$P h2page: $(head -c 300 "$raw.json")"
	[ "$NB_OK" = 1 ] && load_pageload
}

# load_pageload: Chromium loads the real notebook's tree page through this path, each time in
# a fresh context (new connections), over h2 and with HTTP/2 off (bench/page-load.js).
load_pageload() {
	local raw="$OUT/raw/$P/pageload" reps h
	reps=$([ "$QUICK" = 1 ] && echo 5 || echo 15)
	if [ ! -x /usr/bin/chromium ] || [ ! -d "$HERE/../tests/browser/node_modules/playwright-core" ]; then
		echo '{"failed": "chromium or tests/browser/node_modules (playwright-core) missing"}' >"$raw.json"
		return
	fi
	for h in h2 h1; do
		node "$HERE/page-load.js" --url "$BASE/user/bench/tree" --header "$CLIENT_AUTH" \
			--reps "$reps" $([ "$h" = h1 ] && echo --h1) >"$raw.$h.out" 2>"$raw.$h.err"
	done
	$PY -c 'import json, sys
def one(p):
    try:
        return json.loads(open(p).read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return {"failed": "page-load.js printed no result (see %s)" % p}
json.dump({"h2": one(sys.argv[1]), "h1": one(sys.argv[2])}, open(sys.argv[3], "w"))' \
		"$raw.h2.out" "$raw.h1.out" "$raw.json"
	log "$P pageload: $(head -c 300 "$raw.json")"
}

load_ws_echo() {
	local raw="$OUT/raw/$P/ws_echo" c0 c1 a0 a1
	c0=$(proxy_cpu); a0=$(agent_cpu)
	node "$HERE/ws-load.js" --mode echo --url "$WSBASE/user/bench/ws" --conns "$ECHO_CONNS" \
		--duration "$DUR" --header "$CLIENT_AUTH" >"$raw.out" 2>"$raw.err"
	c1=$(proxy_cpu); a1=$(agent_cpu)
	$PY - "$raw.out" "$raw.json" "$c0" "$c1" "$a0" "$a1" <<-'EOF'
	import json, sys
	src, dst, c0, c1, a0, a1 = sys.argv[1:7]
	try:
	    d = json.loads(open(src).read().strip().splitlines()[-1])
	    d["gen"] = {"cpu_s": d.pop("cpu_s"), "wall_s": d.pop("wall_s")}
	except Exception:
	    d = {"failed": "ws-load printed no result (see %s)" % src.replace(".out", ".err")}
	d["proxy_cpu_s"] = round(float(c1) - float(c0), 2)
	d["agent_cpu_s"] = round(float(a1) - float(a0), 2)
	json.dump(d, open(dst, "w"))
	EOF
	log "$P ws_echo: $(head -c 200 "$raw.json")"
}

# load_ws_idle N: hold N idle WebSockets through the path, read the proxy's RSS.
load_ws_idle() {
	local n=$1 raw="$OUT/raw/$P/ws_idle_$1" k nprocs pids=() files=() i left
	local r0 a0 r1 a1
	r0=$(proxy_rss); a0=$(agent_rss)
	# per-WS memory is taken against the RSS before the first idle test: memory freed after a
	# smaller N stays in the allocator and would hide the cost of the next N
	r0=${IDLE_BASE_RSS:-$r0}; a0=${IDLE_BASE_ARSS:-$a0}
	nprocs=$(( (n + WS_PER_PROC - 1) / WS_PER_PROC ))
	left=$n
	for k in $(seq "$nprocs"); do
		local m=$(( left < WS_PER_PROC ? left : WS_PER_PROC )); left=$(( left - m ))
		node "$HERE/ws-load.js" --mode hold --url "$WSBASE/user/bench/ws" --conns "$m" \
			--parallel 100 --header "$CLIENT_AUTH" >"$raw.$k.out" 2>"$raw.$k.err" &
		pids+=("$!"); ALL_PIDS+=("$!"); files+=("$raw.$k.out")
	done
	local deadline=$(( $(date +%s) + 60 + n / 25 ))
	while :; do
		local ready=0
		for i in "${!pids[@]}"; do
			if grep -q '"ready"' "${files[$i]}" 2>/dev/null || ! alive "${pids[$i]}"; then
				ready=$((ready + 1))
			fi
		done
		[ "$ready" -eq "$nprocs" ] && break
		[ "$(date +%s)" -ge "$deadline" ] && { log "$P ws_idle_$n: timed out opening"; break; }
		sleep 0.5
	done
	sleep 2
	r1=$(proxy_rss); a1=$(agent_rss)
	# BENCH_HOLD_HOOK="command": run while the N are held, with PROXY_PIDS set (heap studies).
	if [ -n "${BENCH_HOLD_HOOK:-}" ]; then
		PROXY_PIDS="$(proxy_pids | tr '\n' ' ')" bash -c "$BENCH_HOLD_HOOK" >"$raw.hook" 2>&1
	fi
	local detail; detail=$(proxy_pids | while read -r p; do
		printf '%s:%s:%s ' "$p" "$(cat /proc/$p/comm 2>/dev/null)" "$($LIB rss "$p")"; done)
	for i in "${!pids[@]}"; do kill -USR2 "${pids[$i]}" 2>/dev/null; done
	for i in "${!pids[@]}"; do
		for _ in $(seq 400); do alive "${pids[$i]}" || break; sleep 0.1; done
		kill -KILL "${pids[$i]}" 2>/dev/null; wait "${pids[$i]}" 2>/dev/null
	done
	$PY - "$raw.json" "$n" "$r0" "$r1" "$a0" "$a1" "$detail" "${files[@]}" <<-'EOF'
	import json, sys
	dst, n, r0, r1, a0, a1, detail = sys.argv[1:8]
	n, r0, r1, a0, a1 = int(n), int(r0), int(r1), int(a0), int(a1)
	opened = failed = closed = echo_ok = errors = 0
	opened_ready = 0
	first = ""
	for f in sys.argv[8:]:
	    lines = [json.loads(l) for l in open(f).read().splitlines() if l.startswith("{")]
	    ready = next((l for l in lines if l.get("ready")), {})
	    final = next((l for l in lines if l.get("mode") == "hold"), None)
	    opened_ready += ready.get("open", 0)
	    if final is None:
	        errors += ready.get("requested", 0) or 1
	        first = first or "client process gave no final report (%s)" % f
	        continue
	    opened += final["open"]; failed += final["failed"]; closed += final["closed_while_held"]
	    echo_ok += final["echo_ok"]; errors += final["errors"]
	    # still opening when the hold ended: count as errors too
	    errors += max(0, final["requested"] - final["open"] - final["failed"])
	    first = first or final.get("first_error", "")
	d = {"n": n, "open": opened_ready, "open_failed": failed, "closed_while_held": closed,
	     "echo_ok": echo_ok, "errors": errors,
	     "first_error": first, "rss_before_kib": r0, "rss_held_kib": r1,
	     "agent_rss_before_kib": a0, "agent_rss_held_kib": a1, "proxy_procs": detail.strip()}
	if opened_ready and detail.strip():
	    d["kib_per_ws"] = round((r1 - r0) / opened_ready, 2)
	    d["agent_kib_per_ws"] = round((a1 - a0) / opened_ready, 2)
	json.dump(d, open(dst, "w"))
	EOF
	log "$P ws_idle_$n: $(head -c 300 "$raw.json")"
}

# The loads after the small-request rounds, for path $P.
run_loads() {
	if [ "$NB_OK" = 1 ]; then
		load_wrk nbstatus_c10 10 /user/bench/api/status
	else
		echo '{"failed": "notebook backend did not come up"}' >"$OUT/raw/$P/nbstatus_c10.json"
	fi
	[ "${BENCH_NEW_ROUNDS:-0}" = 1 ] || new_loads
	[ "${BENCH_BULK_ROUNDS:-0}" = 1 ] || bulk_loads
	case "$P" in nbgated*) load_h2page ;; esac
	load_ws_echo
	local n
	IDLE_BASE_RSS=$(proxy_rss); IDLE_BASE_ARSS=$(agent_rss)
	for n in $WS_NS; do load_ws_idle "$n"; done
	unset IDLE_BASE_RSS IDLE_BASE_ARSS
}

declare -A PV=()     # per path that came up: how to reach it, its processes
UP_PATHS=()

# path_up P: starts path P and remembers it (UP_PATHS); on failure records why and stops it.
path_up() {
	P=$1; PATH_PIDS=(); FAIL=""
	mkdir -p "$OUT/raw/$P"
	log "== path $P: starting"
	if ! "up_$P"; then
		log "$P failed: $FAIL"
		echo "$FAIL" >"$OUT/raw/$P/failed"
		stop_pids "${PATH_PIDS[@]}"
		PATH_PIDS=()
		return 1
	fi
	echo "{\"proxy_pids\": \"$(proxy_pids | tr '\n' ' ')\", \"agent_pids\": \"$(agent_pids | tr '\n' ' ')\"}" \
		>"$OUT/raw/$P/procs.json"
	PV[$P,base]=$BASE; PV[$P,wsbase]=$WSBASE; PV[$P,auth]=$CLIENT_AUTH
	PV[$P,proxy]=$PROXY_ROOTS; PV[$P,agent]=$AGENT_ROOTS; PV[$P,pids]="${PATH_PIDS[*]}"
	UP_PATHS+=("$P")
}

# path_use P: makes P the path under test again.
path_use() {
	P=$1; BASE=${PV[$P,base]}; WSBASE=${PV[$P,wsbase]}; CLIENT_AUTH=${PV[$P,auth]}
	PROXY_ROOTS=${PV[$P,proxy]}; AGENT_ROOTS=${PV[$P,agent]}
	read -r -a PATH_PIDS <<<"${PV[$P,pids]}"
}

# path_finish P: the rest of P's loads, then its processes stopped.
path_finish() {
	local p
	path_use "$1"
	log "== path $P: other loads"
	run_loads
	# A process of the path that died during the loads makes the numbers suspect.
	for p in "${PATH_PIDS[@]}"; do
		alive "$p" || log "$P: process $p exited during the run (see logs)"
	done
	stop_pids "${PATH_PIDS[@]}"
	PATH_PIDS=()
}

# rounds FN NAME...: FN (loads that write raw/P/NAME.json) on every path, ROUNDS times, paths
# interleaved; raw/P/NAME.json is then the median round, as in small_rounds.
rounds() {
	local fn=$1 r name
	shift
	[ "${#UP_PATHS[@]}" -gt 0 ] || return 0
	for r in $(seq "$ROUNDS"); do
		for P in "${UP_PATHS[@]}"; do path_use "$P"; "$fn"; done
		for P in "${UP_PATHS[@]}"; do
			for name in "$@"; do
				[ -f "$OUT/raw/$P/$name.json" ] && mv "$OUT/raw/$P/$name.json" "$OUT/raw/$P/$name.r$r.json"
			done
		done
	done
	for P in "${UP_PATHS[@]}"; do
		for name in "$@"; do $LIB median "$OUT/raw/$P" "$name" "$ROUNDS"; done
	done
}

# small_rounds: small_c10 and small_c100 on every path, ROUNDS times, paths interleaved;
# raw/P/small_cN.json is then the median round (by req/s) with every round's req/s in it.
small_rounds() {
	local r name
	for r in $(seq "$ROUNDS"); do
		for P in "${UP_PATHS[@]}"; do
			path_use "$P"
			load_wrk "small_c10.r$r" 10 /user/bench/100b
			load_wrk "small_c100.r$r" 100 /user/bench/100b
		done
	done
	for P in "${UP_PATHS[@]}"; do
		for name in small_c10 small_c100; do
			$LIB median "$OUT/raw/$P" "$name" "$ROUNDS"
		done
	done
}

write_meta() {
	$PY - "$OUT/meta.json" <<-EOF
	import json, os, subprocess, sys
	def v(cmd):
	    try:
	        r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10)
	        return (r.stdout + r.stderr).strip().splitlines()[0]
	    except Exception:
	        return "?"
	json.dump({"quick": $QUICK, "duration_s": $DUR, "rounds": $ROUNDS, "ws_idle_ns": "$WS_NS".split(),
	           "ws_echo_conns": $ECHO_CONNS, "ssh_cipher": "$SSH_CIPHER", "nginx_tls": "$NGINX_TLS", "paths": "$PATHS".split(), "cores": os.cpu_count(),
	           "nb_builddir": "$(find_nb_builddir)", "fd_limit": "$(ulimit -n)",
	           "versions": {"nginx": v("nginx -v"), "wrk": v("wrk -v"), "node": v("node --version"),
	                        "openssh": v("ssh -V"), "chp": v("NODE_PATH=/usr/share/nodejs configurable-http-proxy --version"),
	                        "notebook": v("/usr/bin/jupyter-notebook --version"), "kernel": v("uname -r")}},
	          open(sys.argv[1], "w"), indent=1)
	EOF
}

# ---------------------------------------------------------------- main
setup_common || { log "setup failed (openssl/ssh-keygen): see $OUT/logs/openssl.log"; exit 1; }
NB_OK=0
if ! start_backends; then
	log "backends failed; nothing to measure"
	exit 1
fi
write_meta
for P in $PATHS; do
	case "$P" in
	direct|nginx|chp|nbgated|nbgated_b) path_up "$P" ;;
	*) log "unknown path $P (direct nginx chp nbgated nbgated_b)" ;;
	esac
done
[ "${#UP_PATHS[@]}" -gt 0 ] && small_rounds
# BENCH_NEW_ROUNDS=1 / BENCH_BULK_ROUNDS=1: the new-connection / bulk loads too in interleaved
# rounds (with BENCH_SMALL_ONLY=1 these and the small-request rounds alone).
[ "${BENCH_NEW_ROUNDS:-0}" = 1 ] &&
	rounds new_loads small_new_c10 nbstatus_new_c10 small_new_resume small_new_full
[ "${BENCH_BULK_ROUNDS:-0}" = 1 ] && rounds bulk_loads bulk_c1 bulk_c10
# BENCH_SMALL_ONLY=1: the small-request rounds alone (quick A/B of a change).
if [ "${BENCH_SMALL_ONLY:-0}" = 1 ]; then
	for P in "${UP_PATHS[@]}"; do path_use "$P"; stop_pids "${PATH_PIDS[@]}"; PATH_PIDS=(); done
else
	for P in "${UP_PATHS[@]}"; do path_finish "$P"; done
fi
$PY "$HERE/report.py" "$OUT"
