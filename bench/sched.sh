#!/bin/bash
# Benchmarks the scheduler bridge against the real SLURM of scripts/testenv.sh (see bench/README.md):
# scheduler calls per minute with 1, 100 and 1,000 tracked jobs, and submit-to-RUNNING latency as
# seen by nbgate vs as logged by slurmctld.
# Then, per transport side by side (ssh-cli, local-cli, libslurm-exec, libslurm, slurmrestd, and the
# testenv's Grid Engine cell as "gridengine": qsub/qstat -xml/qacct locally): submit latency
# (median, p90) and scheduler calls per minute while tracking 1, 10 and 50 sessions' jobs.
# Usage: bench/sched.sh [--quick] [--transports-only] [--out DIR]  (root; ~14 min, --quick ~6 min)
# Env: NB_BUILDDIR, BENCH_SCHED_NS ("1 100 1000"), BENCH_SCHED_WINDOW (60 s),
#      BENCH_SCHED_INTERVAL (5000 ms), BENCH_SCHED_JOBS (10), BENCH_SCHED_FAST (500 ms),
#      BENCH_SCHED_TRANSPORTS ("ssh-cli local-cli libslurm-exec libslurm slurmrestd gridengine"),
#      BENCH_SCHED_T_NS ("1 10 50"), BENCH_SCHED_T_WINDOW (30 s), BENCH_SCHED_T_SUBMITS (20).
# Starts the testenv if it is not running and stops it again at the end (only then).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
PY=/usr/bin/python3
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

QUICK=0
ONLY_T=0
OUT=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--transports-only) ONLY_T=1 ;;
	--out) OUT=$2; shift ;;
	-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "sched.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	NS=${BENCH_SCHED_NS:-"1 100"}; WINDOW=${BENCH_SCHED_WINDOW:-20}; JOBS=${BENCH_SCHED_JOBS:-4}
else
	NS=${BENCH_SCHED_NS:-"1 100 1000"}; WINDOW=${BENCH_SCHED_WINDOW:-60}; JOBS=${BENCH_SCHED_JOBS:-10}
fi
TRANSPORTS=${BENCH_SCHED_TRANSPORTS:-"ssh-cli local-cli libslurm-exec libslurm slurmrestd gridengine"}
T_NS=${BENCH_SCHED_T_NS:-"1 10 50"}
T_WINDOW=${BENCH_SCHED_T_WINDOW:-$([ "$QUICK" = 1 ] && echo 15 || echo 30)}
T_SUBMITS=${BENCH_SCHED_T_SUBMITS:-$([ "$QUICK" = 1 ] && echo 10 || echo 20)}
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
		make -j2 tests/unit/sched-cli &&
		{ ! grep -q '^S\["HAVE_LIBSLURM_TRUE"\]=""' config.status || make -j2 nbgate-slurmlib; }
	) >"$OUT/logs/build.log" 2>&1 || { log "build failed, see $OUT/logs/build.log"; exit 1; }
fi
CLI="$B/tests/unit/sched-cli"
LIB="$B/nbgate-slurmlib"
if [ ! -x "$LIB" ]; then
	log "no $LIB (no libslurm): leaving out the libslurm transports"
	LIB=""
	TRANSPORTS=$(echo "$TRANSPORTS" | tr ' ' '\n' | grep -v '^libslurm' | tr '\n' ' ')
fi
[ -x "$CLI" ] || { log "no $CLI (build it: make -C $B tests/unit/sched-cli)"; exit 1; }

# ---------------------------------------------------------------- the SLURM test environment
. "$TOP/bench/testenv.sh"
if [ -n "$(squeue -h -u nbcommunity -n nbbench-held 2>/dev/null)" ]; then
	log "cancelling nbbench-held jobs left by an earlier run"
	runuser -u nbcommunity -- scancel -u nbcommunity -n nbbench-held
fi

log "out dir: $OUT; N = $NS; window ${WINDOW} s, poll interval ${INTERVAL} ms; $JOBS latency jobs (fast poll ${FAST} ms)"
log "transports: $TRANSPORTS; N = $T_NS, window ${T_WINDOW} s; $T_SUBMITS serial submits each"
SKIP=""
[ "$ONLY_T" = 1 ] && SKIP="--skip-calls --skip-latency"
# shellcheck disable=SC2086 # SKIP is a list of options
$PY "$HERE/sched_bench.py" --cli "$CLI" --out "$OUT" --ns "$NS" --window "$WINDOW" \
	--interval "$INTERVAL" --jobs "$JOBS" --lat-fast "$FAST" $SKIP \
	--transports "$TRANSPORTS" --slurmlib "$LIB" --t-ns "$T_NS" --t-window "$T_WINDOW" \
	--t-submits "$T_SUBMITS" 2>&1 | tee -a "$OUT/logs/run.log" >&2
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
tr = d.get("transports") or []
if tr:
    ns = [c["n"] for c in tr[0]["calls"]]
    print()
    print("Per transport: submit latency (%d serial submits, the library's own "
          "submit-to-answer time) and scheduler calls/min tracking N sessions' jobs "
          "(poll interval %d ms, %d s windows)" % (tr[0]["submit"]["submits"] + tr[0]["submit"]["failed"],
          tr[0]["calls"][0]["interval_ms"], tr[0]["calls"][0]["window_s"]))
    print("%-14s | %9s | %9s | %s | %s" % ("transport", "p50 ms", "p90 ms",
          " | ".join("calls/min N=%-3d" % n for n in ns), "processes"))
    for t in tr:
        print("%-14s | %9s | %9s | %s | %s" % (t["transport"], t["submit"]["p50_ms"], t["submit"]["p90_ms"],
              " | ".join("%15s" % c["calls_per_min"] for c in t["calls"]),
              ",".join(str(c["helpers"]) for c in t["calls"]) if t["transport"] == "libslurm" else "-"))
    by = {t["transport"]: t for t in tr}
    flat = all(max(c["calls_per_min"] for c in t["calls"]) <= 1.25 * min(c["calls_per_min"] for c in t["calls"])
               for t in tr if all(c["calls_per_min"] for c in t["calls"]))
    print("target calls/min independent of N for every transport (max <= 1.25 x min): %s"
          % ("PASS" if flat else "FAIL"))
    d["transports_calls_pass"] = flat
    if "ssh-cli" in by and "libslurm" in by and by["libslurm"]["submit"]["p50_ms"]:
        x = by["ssh-cli"]["submit"]["p50_ms"] / by["libslurm"]["submit"]["p50_ms"]
        print("target libslurm submit >= 5x faster than SSH CLI (p50): %s (%.1fx)"
              % ("PASS" if x >= 5 else "FAIL", x))
        d["libslurm_speedup"] = round(x, 2)
json.dump(d, open(sys.argv[1], "w"), indent=1)
EOF
log "results: $OUT/sched.json, $OUT/report.txt, logs in $OUT/logs/"
