#!/bin/bash
# Benchmarks notebook start-up through the whole product (see bench/README.md): an optimised
# nbgated with one SLURM cluster reached over the test login node, N starts through the REST API.
# Per run: click -> job submitted -> RUNNING (slurmctld's log) -> notebook answering through the
# proxy, minus the notebook's own start-up (target: overhead <= 0.3 s); then stop and wait.
# Usage: bench/session.sh [--runs N] [--out DIR]      (root; ~15 s per run)
# Env: NB_BUILDDIR (default: make nbgated nbgatectl nbgate-agent in _build-bench/).
# Starts the testenv if it is not running and stops it again at the end (only then).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
PY=/usr/bin/python3
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

RUNS=10
OUT=""
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) RUNS=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h|--help) sed -n '2,8p' "$0"; exit 0 ;;
	*) echo "session.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
case "$RUNS" in ''|*[!0-9]*|0) echo "session.sh: --runs takes a number >= 1" >&2; exit 2 ;; esac
OUT=${OUT:-$HERE/out/session-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/logs" || exit 1
OUT=$(cd "$OUT" && pwd)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/logs/run.log" >&2; }

[ "$(id -u)" = 0 ] || { echo "session.sh: run as root (jobs run as nbcommunity)" >&2; exit 1; }

# ---------------------------------------------------------------- build (optimised, no ASan)
if [ -n "${NB_BUILDDIR:-}" ]; then
	B=$NB_BUILDDIR
else
	B="$TOP/_build-bench"
	log "building nbgated, nbgatectl, nbgate-agent in $B"
	(
		cd "$TOP" && { [ -x configure ] || autoreconf -fi; } &&
		mkdir -p "$B" && cd "$B" && { [ -f Makefile ] || ../configure -q; } &&
		make -j2 nbgated nbgatectl nbgate-agent
	) >"$OUT/logs/build.log" 2>&1 || { log "build failed, see $OUT/logs/build.log"; exit 1; }
fi
B=$(cd "$B" && pwd)
for f in nbgated nbgatectl nbgate-agent; do
	[ -x "$B/$f" ] || { log "no $B/$f (build it: make -C $B $f)"; exit 1; }
done
if grep -E '^(CFLAGS|NB_CFLAGS|LDFLAGS|NB_LDFLAGS) =' "$B/Makefile" 2>/dev/null | grep -q -- '-fsanitize'; then
	log "warning: $B is built with sanitizers: the numbers would be slower than a release build"
fi

# ---------------------------------------------------------------- the SLURM test environment
. "$TOP/bench/testenv.sh"

log "out dir: $OUT; $RUNS runs; binaries from $B"
# The python side starts nbgated and the raw notebooks and stops them by PID before it returns
# (also on SIGTERM); the trap above only handles the testenv.
NB_BUILDDIR=$B NB_SRCDIR=$TOP $PY "$HERE/session.py" --runs "$RUNS" --out "$OUT" &
PYPID=$!
trap 'log "interrupted"; kill -TERM "$PYPID" 2>/dev/null; wait "$PYPID"; exit 130' INT TERM
wait "$PYPID"
rc=$?
[ -f "$OUT/report.txt" ] || { log "no results (see $OUT/logs/)"; exit 1; }
log "results: $OUT/report.txt, $OUT/session.json, logs in $OUT/logs/"
exit "$rc"
