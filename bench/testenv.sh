# bench/testenv.sh: sourced by the SLURM benchmarks (sched.sh, session.sh).
# Brings the shared SLURM test environment up if it is down (and only then
# stops it again on exit), and exports its variables. Needs TOP, OUT, log().
STARTED_ENV=0
bench_testenv_cleanup() {
	trap - EXIT INT TERM
	if [ "$STARTED_ENV" = 1 ]; then
		log "stopping the testenv this run started"
		bash "$TOP/scripts/testenv.sh" stop >>"$OUT/logs/testenv.log" 2>&1
	fi
}
trap bench_testenv_cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

if ! bash "$TOP/scripts/testenv.sh" status >/dev/null 2>&1; then
	log "starting the testenv (scripts/testenv.sh start)"
	STARTED_ENV=1
	bash "$TOP/scripts/testenv.sh" start >>"$OUT/logs/testenv.log" 2>&1 ||
		{ log "testenv did not start, see $OUT/logs/testenv.log"; exit 1; }
fi
eval "$(bash "$TOP/scripts/testenv.sh" env)"
