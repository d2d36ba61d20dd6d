#!/bin/bash
# Benchmarks the scheduler bridge against the real SLURM of scripts/testenv.sh (see bench/README.md):
# scheduler calls per minute with 1, 100 and 1,000 tracked jobs, and submit-to-RUNNING latency as
# seen by nbgate vs as logged by slurmctld.
# Usage: bench/sched.sh [--quick] [--out DIR]      (root; ~6 min, --quick ~2 min)
# Env: NB_BUILDDIR, BENCH_SCHED_NS ("1 100 1000"), BENCH_SCHED_WINDOW (60 s),
#      BENCH_SCHED_INTERVAL (5000 ms), BENCH_SCHED_JOBS (10), BENCH_SCHED_FAST (500 ms).
# Starts the testenv if it is not running and stops it again at the end (only then).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
PY=/usr/bin/python3
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

QUICK=0
OUT=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--out) OUT=$2; shift ;;
	-h|--help) sed -n '2,9p' "$0"; exit 0 ;;
	*) echo "sched.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	NS=${BENCH_SCHED_NS:-"1 100"}; WINDOW=${BENCH_SCHED_WINDOW:-20}; JOBS=${BENCH_SCHED_JOBS:-4}
else
	NS=${BENCH_SCHED_NS:-"1 100 1000"}; WINDOW=${BENCH_SCHED_WINDOW:-60}; JOBS=${BENCH_SCHED_JOBS:-10}
fi
INTERVAL=${BENCH_SCHED_INTERVAL:-5000}
FAST=${BENCH_SCHED_FAST:-500}
OUT=${OUT:-$HERE/out/sched-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/logs" || exit 1
OUT=$(cd "$OUT" && pwd)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/logs/run.log" >&2; }

[ "$(id -u)" = 0 ] || { echo "sched.sh: run as root (runuser -u nbcommunity)" >&2; exit 1; }

# ---------------------------------------------------------------- build (optimised, no ASan)
if [ -n "${NB_BUILDDIR:-}" ]; then
	B=$NB_BUILDDIR
else
	B="$TOP/_build-bench"
	log "building sched-cli in $B"
	(
		cd "$TOP" && { [ -x configure ] || autoreconf -fi; } &&
		mkdir -p "$B" && cd "$B" && { [ -f Makefile ] || ../configure -q; } &&
		make -j2 tests/unit/sched-cli
	) >"$OUT/logs/build.log" 2>&1 || { log "build failed, see $OUT/logs/build.log"; exit 1; }
fi
CLI="$B/tests/unit/sched-cli"
[ -x "$CLI" ] || { log "no $CLI (build it: make -C $B tests/unit/sched-cli)"; exit 1; }

# ---------------------------------------------------------------- the SLURM test environment
. "$TOP/bench/testenv.sh"
if [ -n "$(squeue -h -u nbcommunity -n nbbench-held 2>/dev/null)" ]; then
	log "cancelling nbbench-held jobs left by an earlier run"
	runuser -u nbcommunity -- scancel -u nbcommunity -n nbbench-held
fi

log "out dir: $OUT; N = $NS; window ${WINDOW} s, poll interval ${INTERVAL} ms; $JOBS latency jobs (fast poll ${FAST} ms)"
$PY "$HERE/sched_bench.py" --cli "$CLI" --out "$OUT" --ns "$NS" --window "$WINDOW" \
	--interval "$INTERVAL" --jobs "$JOBS" --lat-fast "$FAST" 2>&1 | tee -a "$OUT/logs/run.log" >&2
[ -f "$OUT/sched.json" ] || { log "no results (see $OUT/logs/)"; exit 1; }

# ---------------------------------------------------------------- report
$PY - "$OUT/sched.json" <<'EOF' | tee "$OUT/report.txt"
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["calls"]
if rows:
    print("Scheduler calls with N tracked (held, PENDING) jobs; poll interval %d ms, window %d s"
          % (rows[0]["interval_ms"], rows[0]["window_s"]))
    print("%6s | %7s | %9s | %9s | %12s | %11s | %12s" % ("N", "run s", "commands", "cmds/min",
          "JOB_INFO RPC", "RPC/min", "cmds/min/job"))
    for r in rows:
        print("%6d | %7.1f | %9s | %9s | %12d | %11.1f | %12s" % (r["n"], r["wall_s"], r["calls"],
              r["calls_per_min"], r["ctld_job_info"], r["ctld_job_info_per_min"], r["calls_per_job_min"]))
    c = [r["calls_per_min"] for r in rows if r["calls_per_min"] is not None]
    # "constant": the largest N costs at most 25% more commands per minute than N = 1 (jitter).
    ok = bool(c) and max(c) <= 1.25 * min(c)
    print("target calls/min constant in N (max <= 1.25 x min): %s (%.1f .. %.1f)"
          % ("PASS" if ok else "FAIL", min(c), max(c)))
    d["calls_pass"] = ok
lat = d.get("latency")
if lat:
    print()
    print("Submit to RUNNING: %d jobs (sleep %d s, 2 CPUs: later jobs wait for a free CPU), "
          "tracker fast poll %d ms" % (lat["submitted"], lat["job_sleep_s"], lat["fast_ms"]))
    print("  nbgate saw RUNNING - slurmctld 'Allocate/Started JobId' (ms log):  p50 %s s, max %s s, "
          "min %s s (%d measured)" % (lat["p50_s"], lat["max_s"], lat["min_s"], lat["measured"]))
    print("  nbgate saw RUNNING - sacct Start (1 s precision, cross-check):      p50 %s s, max %s s"
          % (lat["sacct_p50_s"], lat["sacct_max_s"]))
    ok = lat["max_s"] is not None and lat["max_s"] <= 1.0 and lat["measured"] == lat["submitted"]
    print("target within one second (max <= 1 s): %s" % ("PASS" if ok else "FAIL"))
    d["latency_pass"] = ok
json.dump(d, open(sys.argv[1], "w"), indent=1)
EOF
log "results: $OUT/sched.json, $OUT/report.txt, logs in $OUT/logs/"
