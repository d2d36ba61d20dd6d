# shellcheck shell=bash
# testenv-gridengine.sh: the single-node Grid Engine cell of scripts/testenv.sh (sourced by it).
#
# Debian's gridengine 8.1.9, unpacked by `scripts/deps.sh gridengine` (its qsub/qstat/qdel would
# clash with slurm-wlm-torque's in /usr/bin, so every Grid Engine command here runs by full path
# from $SGE_ROOT/bin/lx-amd64 and nbgate's clusters name that directory in their PATH). The cell
# lives in DIR/sge: classic spooling, admin user root, qmaster and execd on free ports, both in
# the foreground (SGE_ND) and recorded by PID like every other daemon. Two cluster queues, debug
# (1 h) and compute (8 h), with the parallel environment smp (slots on one host); jobs run as
# the users that submit them (alice, bob, nbcommunity).

GE_PREFIX="${NB_GRIDENGINE_PREFIX:-/opt/nbgate-gridengine}"
GE_ROOT="$D/sge"
GE_BIN="$GE_ROOT/bin/lx-amd64"

# ge CMD ARGS...: a Grid Engine command against this cell.
ge() {
	local c="$1"
	shift
	[ -f "$GE_ROOT/ports" ] || return 1
	# shellcheck disable=SC1091
	(. "$GE_ROOT/ports" && SGE_ROOT="$GE_ROOT" SGE_CELL=default timeout 20 "$GE_BIN/$c" "$@")
}

# The cell answers and its one host offers slots.
ge_ok() {
	ge qstat -g c 2>/dev/null | grep -q '^debug ' || return 1
	ge qhost -h "$(hostname)" 2>/dev/null | awk 'NR > 3 && $4 == "-" { bad = 1 } END { exit bad }'
}

# Jobs first (by job id, through qdel), then the daemons by PID.
ge_stop() {
	local _
	if alive sge_qmaster; then
		ge qdel -f -u '*' >/dev/null 2>&1 || true
		for _ in $(seq 50); do
			[ -z "$(ge qstat -u '*' 2>/dev/null)" ] && break
			sleep 0.2
		done
	fi
	halt sge_execd
	halt sge_qmaster
	rm -rf "$GE_ROOT"
}

ge_conf_queue() { # ge_conf_queue NAME H_RT HOST
	cat <<-EOF
		qname                 $1
		hostlist              $3
		seq_no                0
		load_thresholds       NONE
		suspend_thresholds    NONE
		nsuspend              1
		suspend_interval      00:05:00
		priority              0
		min_cpu_interval      00:05:00
		processors            UNDEFINED
		qtype                 BATCH
		ckpt_list             NONE
		pe_list               smp
		rerun                 FALSE
		slots                 8
		tmpdir                /tmp
		shell                 /bin/sh
		prolog                NONE
		epilog                NONE
		shell_start_mode      unix_behavior
		starter_method        NONE
		suspend_method        NONE
		resume_method         NONE
		terminate_method      NONE
		notify                00:00:60
		owner_list            NONE
		user_lists            NONE
		xuser_lists           NONE
		subordinate_list      NONE
		complex_values        NONE
		projects              NONE
		xprojects             NONE
		calendar              NONE
		initial_state         default
		s_rt                  INFINITY
		h_rt                  $2
		s_cpu                 INFINITY
		h_cpu                 INFINITY
		s_fsize               INFINITY
		h_fsize               INFINITY
		s_data                INFINITY
		h_data                INFINITY
		s_stack               INFINITY
		h_stack               INFINITY
		s_core                INFINITY
		h_core                INFINITY
		s_rss                 INFINITY
		h_rss                 INFINITY
		s_vmem                INFINITY
		h_vmem                INFINITY
	EOF
}

ge_start() {
	local host qport eport share="$GE_PREFIX/usr/share/gridengine" c="$GE_ROOT/default/common" sb
	sb="$GE_PREFIX/usr/lib/gridengine"
	[ -x "$sb/sge_qmaster" ] || die "Grid Engine is not unpacked in $GE_PREFIX (scripts/deps.sh gridengine)"
	host=$(hostname)
	pick_port qport
	pick_port eport
	rm -rf "$GE_ROOT"
	mkdir -p "$c" "$GE_ROOT/bin" "$GE_ROOT/utilbin" "$GE_ROOT/lib" "$GE_ROOT/spool/qmaster/job_scripts" \
		"$GE_ROOT/spool/execd"
	ln -s "$sb" "$GE_ROOT/bin/lx-amd64"
	ln -s "$sb" "$GE_ROOT/utilbin/lx-amd64"
	ln -s "$sb" "$GE_ROOT/lib/lx-amd64"
	ln -s "$share/util" "$GE_ROOT/util"
	printf 'SGE_QMASTER_PORT=%s\nSGE_EXECD_PORT=%s\nexport SGE_QMASTER_PORT SGE_EXECD_PORT\n' \
		"$qport" "$eport" >"$GE_ROOT/ports"
	cat >"$c/bootstrap" <<-EOF
		# written by scripts/testenv.sh
		admin_user              root
		default_domain          none
		ignore_fqdn             true
		spooling_method         classic
		spooling_lib            libspoolc
		spooling_params         $c;$GE_ROOT/spool/qmaster
		binary_path             $GE_ROOT/bin
		qmaster_spool_dir       $GE_ROOT/spool/qmaster
		security_mode           none
		listener_threads        2
		worker_threads          2
		scheduler_threads       1
	EOF
	echo "$host" >"$c/act_qmaster"
	# The hostname resolves to 127.0.0.1, which resolves back to "localhost": one host.
	echo "$host localhost" >"$c/host_aliases"
	# Accounting written at once (qacct right after a job), no mail, users from uid 100.
	sed -e "s#/var/spool/gridengine/execd#$GE_ROOT/spool/execd#" -e 's#/usr/bin/mail#/bin/true#' \
		-e 's#^min_uid .*#min_uid 100#' -e 's#^min_gid .*#min_gid 100#' \
		-e 's#^reporting_params .*#reporting_params accounting=true reporting=false flush_time=00:00:01 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00#' \
		"$share/default-configuration" >"$GE_ROOT/global.conf"
	(
		export SGE_ROOT="$GE_ROOT" SGE_CELL=default LD_LIBRARY_PATH="$sb"
		"$sb/spoolinit" classic libspoolc "$c;$GE_ROOT/spool/qmaster" init &&
			"$sb/spooldefaults.bin" configuration "$GE_ROOT/global.conf" &&
			"$sb/spooldefaults.bin" complexes "$share/util/resources/centry" &&
			"$sb/spooldefaults.bin" usersets "$share/util/resources/usersets" &&
			"$sb/spooldefaults.bin" managers root
	) >"$D/log/sge-init.log" 2>&1 || die "Grid Engine spool initialisation failed" "$D/log/sge-init.log"
	chmod -R a+rX "$GE_ROOT"
	# shellcheck disable=SC1091
	. "$GE_ROOT/ports"
	SGE_ROOT="$GE_ROOT" SGE_CELL=default SGE_ND=1 spawn sge_qmaster "$sb/sge_qmaster"
	wait_until 30 ge qstat -g c || die "sge_qmaster does not answer" "$GE_ROOT/spool/qmaster/messages"
	ge qconf -as "$host" >/dev/null 2>&1 || true
	ge qconf -ssconf | sed -e 's/^schedule_interval .*/schedule_interval 0:0:1/' \
		-e 's/^flush_submit_sec .*/flush_submit_sec 1/' -e 's/^flush_finish_sec .*/flush_finish_sec 1/' \
		>"$GE_ROOT/sched.conf"
	ge qconf -Msconf "$GE_ROOT/sched.conf" >>"$D/log/sge-init.log" 2>&1 || die "qconf -Msconf failed"
	# shellcheck disable=SC2016
	printf 'pe_name smp\nslots 16\nuser_lists NONE\nxuser_lists NONE\nstart_proc_args NONE\nstop_proc_args NONE\nallocation_rule $pe_slots\ncontrol_slaves FALSE\njob_is_first_task TRUE\nurgency_slots min\naccounting_summary FALSE\nqsort_args NONE\n' \
		>"$GE_ROOT/smp.pe"
	ge qconf -Ap "$GE_ROOT/smp.pe" >>"$D/log/sge-init.log" 2>&1 || die "qconf -Ap smp failed"
	ge_conf_queue debug 01:00:00 "$host" >"$GE_ROOT/debug.q"
	ge_conf_queue compute 08:00:00 "$host" >"$GE_ROOT/compute.q"
	ge qconf -Aq "$GE_ROOT/debug.q" >>"$D/log/sge-init.log" 2>&1 || die "qconf -Aq debug failed"
	ge qconf -Aq "$GE_ROOT/compute.q" >>"$D/log/sge-init.log" 2>&1 || die "qconf -Aq compute failed"
	SGE_ROOT="$GE_ROOT" SGE_CELL=default SGE_ND=1 spawn sge_execd "$sb/sge_execd"
	wait_until 30 ge_ok || die "sge_execd: the host offers no slots" "$GE_ROOT/spool/execd/$host/messages"
	setenv NB_SGE_ROOT "$GE_ROOT"
	setenv NB_SGE_CELL default
	setenv NB_SGE_BIN "$GE_BIN"
	setenv NB_SGE_QMASTER_PORT "$qport"
	setenv NB_SGE_EXECD_PORT "$eport"
	setenv NB_SGE_QUEUES "debug compute"
}
