"""sched_bench.py: the scheduler bridge's benchmark, run by bench/sched.sh (see bench/README.md).

Drives tests/unit/sched-cli (the scheduler library in its own event loop) as the unix user
nbcommunity against the real SLURM of scripts/testenv.sh (SLURM_CONF etc. in the environment).

  1. calls per minute: N held jobs (1, 100, 1,000; sbatch -H, separate job ids) tracked for a fixed
     window; the library's call counter, the tracker's polls and slurmctld's RPC counters (sdiag,
     before/after) over the window.
  2. submit-to-RUNNING: jobs submitted and tracked through the library; the wall clock at which
     sched-cli's "running" line arrives minus slurmctld's own allocation time (slurmctld.log,
     millisecond timestamps) and sacct's Start (second precision, a cross-check).
  3. per transport (--transports): the ways nbgated can reach SLURM side by side, in one run:
     ssh-cli (sbatch/squeue over SSH to the testenv's login node), local-cli (the same commands
     on this host), libslurm-exec (one nbgate-slurmlib process per command) and libslurm (one
     long-lived "nbgate-slurmlib serve", as nbgated runs it) and slurmrestd (HTTP with nbgated's
     own client, tokens minted with the cluster's jwt_key): submit latency (serial submits of
     jobs that end at once, median and p90 of the library's own submit-to-answer time) and scheduler calls
     per minute while tracking 1, 10 and 50 jobs (sessions).
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

USER = "nbcommunity"
ACCOUNT = "community"
JOBNAME = "nbbench-held"
HELD = "#!/bin/sh\n#SBATCH -p debug -t 5 -A %s -H -J %s -o /dev/null\nsleep 30\n" % (ACCOUNT, JOBNAME)
# What the per-transport submit latency submits: directives every backend takes (the libslurm
# helper reads only the ones nbgate's templates write: no -H), a job that ends at once.
QUICK = "#!/bin/sh\n#SBATCH -p debug -t 1 -A %s -J %s -o /dev/null\ntrue\n" % (ACCOUNT, JOBNAME)
REAL = "#!/bin/sh\n#SBATCH -p debug -t 1 -A %s -J nbbench-lat -o /dev/null\nsleep %d\n"
# The same two for the testenv's Grid Engine cell (transport "gridengine": qsub, qstat -xml, qacct).
GE_HELD = "#!/bin/sh\n#$ -q debug -l h_rt=300 -h -N %s -o /dev/null -e /dev/null\nsleep 30\n" % JOBNAME
GE_QUICK = "#!/bin/sh\n#$ -q debug -l h_rt=60 -N %s -o /dev/null -e /dev/null\ntrue\n" % JOBNAME


def log(msg):
    sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def as_user(argv):
    return ["runuser", "-u", USER, "--"] + argv


def sdiag():
    """{'type': {name: count}, 'user': {name: count}} from sdiag."""
    out = subprocess.run(["sdiag"], capture_output=True, text=True, timeout=30).stdout
    res = {"type": {}, "user": {}}
    sect = None
    for line in out.splitlines():
        if line.startswith("Remote Procedure Call statistics by message type"):
            sect = "type"
        elif line.startswith("Remote Procedure Call statistics by user"):
            sect = "user"
        elif line and not line[0].isspace():
            sect = None
        m = re.match(r"^\s+(\S+)\s+\(\s*\d+\)\s+count:(\d+)", line)
        if sect and m:
            res[sect][m.group(1)] = int(m.group(2))
    return res


def sdiag_delta(a, b):
    d = {}
    for sect in ("type", "user"):
        d[sect] = {k: v - a[sect].get(k, 0) for k, v in b[sect].items() if v - a[sect].get(k, 0)}
    return d


class Bench:
    def __init__(self, args):
        self.a = args
        self.conf = os.environ["SLURM_CONF"]
        self.ctld_log = os.path.join(os.environ.get("NB_TESTENV_LOGS",
                                                    os.path.join(os.environ["NB_TESTENV"], "log")),
                                     "slurmctld.log")
        self.work = tempfile.mkdtemp(prefix="nbbench-sched-")
        shutil.chown(self.work, USER)
        os.chmod(self.work, 0o755)
        self.cli = os.path.join(self.work, "sched-cli")
        shutil.copy(args.cli, self.cli)
        os.chmod(self.cli, 0o755)
        self.lib = os.path.join(self.work, "nbgate-slurmlib")
        if args.slurmlib:
            shutil.copy(args.slurmlib, self.lib)
            os.chmod(self.lib, 0o755)
        self.held = []
        self.ge_held = []
        self.logf = open(os.path.join(args.out, "logs", "sched-cli.log"), "a")

    def file(self, name, text):
        p = os.path.join(self.work, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o644)
        return p

    def ge_env(self):
        e = os.environ
        return ["SGE_ROOT=%s" % e["NB_SGE_ROOT"], "SGE_CELL=%s" % e["NB_SGE_CELL"],
                "SGE_QMASTER_PORT=%s" % e["NB_SGE_QMASTER_PORT"],
                "SGE_EXECD_PORT=%s" % e["NB_SGE_EXECD_PORT"],
                "PATH=%s:/usr/local/bin:/usr/bin:/bin" % e["NB_SGE_BIN"]]

    def cli_argv(self, interval, fast, total, args, transport="local-cli"):
        opts = ["-i", str(interval), "-f", str(fast), "-t", "15000", "-T", str(total)]
        if transport == "gridengine":     # local, as the community account (GE refuses root)
            ge = []
            for e in self.ge_env():
                ge += ["-e", e]
            return as_user([self.cli, "-b", "gridengine", "-w", self.work] + ge + opts + list(args))
        if transport == "slurmrestd":
            return [self.cli, "-b", "slurm-rest", "-R", os.environ["NB_SLURMRESTD_URL"],
                    "-K", os.environ["NB_SLURM_JWT_KEY"], "-u", USER] + opts + list(args)
        if transport == "ssh-cli":
            return [self.cli, "-b", "slurm", "-s", "127.0.0.1:%s" % os.environ["NB_LOGIN_SSH_PORT"],
                    "-u", USER, "-k", os.environ["NB_KEY_COMMUNITY"],
                    "-H", os.environ["NB_LOGIN_HOSTKEY"]] + opts + list(args)
        backend = ["-b", "slurm"]
        if transport.startswith("libslurm"):
            backend = ["-b", "slurm-lib"] + (["-S"] if transport == "libslurm" else [])
        return as_user(["env", "NBGATE_SLURMLIB=%s" % self.lib, self.cli] + backend +
                       ["-c", self.conf, "-w", self.work] + opts + list(args))

    # ------------------------------------------------------------ held jobs
    def submit_held(self, count):
        """Submits count held jobs with a few parallel sbatch loops (plain sbatch, not the library)."""
        if count <= 0:
            return
        script = self.file("held.sh", HELD)
        par = min(self.a.parallel, count)
        per = [count // par + (1 if i < count % par else 0) for i in range(par)]
        t0 = time.time()
        procs = [subprocess.Popen(as_user(["sh", "-c", "for i in $(seq %d); do sbatch --parsable %s "
                                           "|| echo FAIL; done" % (k, script)]),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=dict(os.environ, SLURM_CONF=self.conf))
                 for k in per if k > 0]
        fails = 0
        for p in procs:
            out, err = p.communicate()
            for line in out.split():
                if line == "FAIL":
                    fails += 1
                else:
                    self.held.append(line.split(";")[0])
            if err.strip():
                self.logf.write("sbatch: %s\n" % err.strip()[:2000])
        log("submitted %d held jobs in %.1f s (%d failed)" % (count - fails, time.time() - t0, fails))
        if fails:
            raise RuntimeError("%d sbatch failed, see logs/sched-cli.log" % fails)

    def track(self, n, transport="local-cli", window=None):
        ids = (self.ge_held if transport == "gridengine" else self.held)[:n]
        a = self.a
        window = window or a.window
        before = sdiag()
        t0 = time.time()
        r = subprocess.run(self.cli_argv(a.interval, a.interval, window, ["track"] + ids,
                                         transport),
                           capture_output=True, text=True, timeout=window + 120)
        wall = time.time() - t0
        after = sdiag()
        self.logf.write("$ %s track %d ids (%d s)\n%s%s\n" % (transport, n, window, r.stdout,
                                                            r.stderr))
        ev = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
        done = [e for e in ev if e["event"] == "done"]
        done = done[-1] if done else {}
        pending = sum(1 for e in ev if e["event"] == "change" and e["status"]["state"] == "pending")
        d = sdiag_delta(before, after)
        ji = d["type"].get("REQUEST_JOB_INFO", 0) + d["type"].get("REQUEST_JOB_INFO_SINGLE", 0)
        calls = done.get("calls")
        row = {"n": n, "window_s": window, "wall_s": round(wall, 2), "interval_ms": a.interval,
               "transport": transport, "helpers": done.get("helpers"),
               "calls": calls, "polls": done.get("polls"), "active": done.get("active"),
               "seen_pending": pending,
               "calls_per_min": round(calls * 60.0 / window, 1) if calls is not None else None,
               "ctld_job_info": ji,
               "ctld_job_info_per_min": round(ji * 60.0 / window, 1),
               "ctld_rpcs_by_user": d["user"].get(USER, 0),
               "ctld_rpc_delta": d}
        row["ctld_job_info_per_job_min"] = round(row["ctld_job_info_per_min"] / n, 4)
        row["calls_per_job_min"] = round(row["calls_per_min"] / n, 4) if calls is not None else None
        log("%s N=%d: %s calls, %s polls, %d REQUEST_JOB_INFO, %d pending seen"
            % (transport, n, calls, done.get("polls"), ji, pending))
        return row

    # ------------------------------------------------------------ per transport
    def submit_held_ge(self, count):
        """count held Grid Engine jobs, through qsub -terse directly (not the library)."""
        script = self.file("ge-held.sh", GE_HELD)
        qsub = os.path.join(os.environ["NB_SGE_BIN"], "qsub")
        t0 = time.time()
        for i in range(count):
            r = subprocess.run(as_user(["env"] + self.ge_env() + [qsub, "-terse", script]),
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0 or not r.stdout.strip():
                raise RuntimeError("qsub failed: %s" % r.stderr.strip()[:500])
            self.ge_held.append(r.stdout.strip().split(".")[0])
        log("submitted %d held Grid Engine jobs in %.1f s" % (count, time.time() - t0))

    def cancel_held_ge(self):
        if not self.ge_held:
            return
        qdel = os.path.join(os.environ["NB_SGE_BIN"], "qdel")
        r = subprocess.run(as_user(["env"] + self.ge_env() + [qdel] + self.ge_held),
                           capture_output=True, text=True, timeout=120)
        log("qdel %d Grid Engine jobs: rc %d" % (len(self.ge_held), r.returncode))
        self.ge_held = []

    def submit_latency(self, transport, count):
        """count jobs submitted one after another through the library (they end at once)."""
        files = [self.file("sub%d.sh" % i, GE_QUICK if transport == "gridengine" else QUICK)
                 for i in range(count)]
        r = subprocess.run(self.cli_argv(1000, 1000, 300, ["serial"] + files, transport),
                           capture_output=True, text=True, timeout=400)
        self.logf.write("$ %s serial %d\n%s%s\n" % (transport, count, r.stdout, r.stderr))
        ev = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
        took = sorted(e["took"] for e in ev if e["event"] == "submitted")
        failed = sum(1 for e in ev if e["event"] == "submit_failed")
        res = {"submits": len(took), "failed": failed,
               "p50_ms": round(statistics.median(took) * 1000, 1) if took else None,
               "p90_ms": round(took[min(len(took) - 1, int(0.9 * len(took)))] * 1000, 1)
               if took else None,
               "min_ms": round(took[0] * 1000, 1) if took else None}
        log("%s: %d submits, p50 %s ms, p90 %s ms (%d failed)" % (transport, len(took),
                                                                 res["p50_ms"], res["p90_ms"], failed))
        return res

    def transports(self):
        a = self.a
        res = []
        ns = sorted(int(x) for x in a.t_ns.split())
        trs = a.transports.split()
        if any(t != "gridengine" for t in trs):
            self.submit_held(max(ns) - len(self.held))
        if "gridengine" in trs:
            self.submit_held_ge(max(ns) - len(self.ge_held))
        for tr in trs:
            row = {"transport": tr, "submit": self.submit_latency(tr, a.t_submits), "calls": []}
            for n in ns:
                row["calls"].append(self.track(n, tr, a.t_window))
            res.append(row)
        return res

    def cancel_held(self):
        r = subprocess.run(as_user(["scancel", "-u", USER, "-n", JOBNAME]), capture_output=True,
                           text=True, timeout=120)
        log("scancel -u %s -n %s: rc %d %s" % (USER, JOBNAME, r.returncode, r.stderr.strip()))

    # ------------------------------------------------------------ latency
    def ctld_times(self, ids):
        """JobId -> epoch of slurmctld's allocation log line (local-time ms timestamps)."""
        want = set(ids)
        res = {}
        pat = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\] "
                         r"(?:sched: Allocate JobId=|sched/backfill: _start_job: Started JobId=)"
                         r"(\d+)")
        with open(self.ctld_log, errors="replace") as f:
            for line in f:
                m = pat.match(line)
                if m and m.group(2) in want and m.group(2) not in res:
                    ts = m.group(1)
                    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in ts else "%Y-%m-%dT%H:%M:%S"
                    res[m.group(2)] = datetime.datetime.strptime(ts, fmt).timestamp()
        return res

    def sacct_times(self, ids):
        r = subprocess.run(["sacct", "-n", "-P", "-X", "-o", "JobID,Submit,Start", "-j", ",".join(ids)],
                           capture_output=True, text=True, timeout=60)
        res = {}
        for line in r.stdout.splitlines():
            f = line.split("|")
            if len(f) == 3 and f[0] in ids:
                try:
                    res[f[0]] = (datetime.datetime.strptime(f[1], "%Y-%m-%dT%H:%M:%S").timestamp(),
                                 datetime.datetime.strptime(f[2], "%Y-%m-%dT%H:%M:%S").timestamp())
                except ValueError:
                    pass
        return res

    def latency(self):
        a = self.a
        files = [self.file("lat%d.sh" % i, REAL % (ACCOUNT, a.job_sleep)) for i in range(a.jobs)]
        argv = self.cli_argv(a.lat_interval, a.lat_fast, 300, ["run"] + files)
        t_start = time.time()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        seen = {}     # id -> wall clock of the "running" line
        lines = []
        for line in p.stdout:
            now = time.time()
            lines.append(line)
            if not line.startswith("{"):
                continue
            e = json.loads(line)
            if e["event"] == "change" and e["status"]["state"] == "running" and e["id"] not in seen:
                seen[e["id"]] = now
        err = p.stderr.read()
        p.wait()
        self.logf.write("$ run %d jobs\n%s%s\n" % (a.jobs, "".join(lines), err))
        ev = [json.loads(l) for l in lines if l.startswith("{")]
        ids = [e["id"] for e in ev if e["event"] == "submitted"]
        ended = {e["id"] for e in ev if e["event"] == "change" and e["status"]["state"] == "ended"}
        done = [e for e in ev if e["event"] == "done"]
        time.sleep(1)   # slurmctld's log and slurmdbd's records
        ctld = self.ctld_times(ids)
        sacct = self.sacct_times(ids)
        jobs = []
        for jid in ids:
            j = {"id": jid, "nbgate_running": seen.get(jid), "ctld_start": ctld.get(jid),
                 "sacct_submit": sacct.get(jid, (None, None))[0],
                 "sacct_start": sacct.get(jid, (None, None))[1], "ended_seen": jid in ended}
            if j["nbgate_running"] and j["ctld_start"]:
                j["lat_ctld_s"] = round(j["nbgate_running"] - j["ctld_start"], 3)
            if j["nbgate_running"] and j["sacct_start"]:
                j["lat_sacct_s"] = round(j["nbgate_running"] - j["sacct_start"], 3)
            jobs.append(j)
        lat = [j["lat_ctld_s"] for j in jobs if "lat_ctld_s" in j]
        lat_s = [j["lat_sacct_s"] for j in jobs if "lat_sacct_s" in j]
        res = {"jobs": jobs, "submitted": len(ids), "measured": len(lat),
               "interval_ms": a.lat_interval, "fast_ms": a.lat_fast, "job_sleep_s": a.job_sleep,
               "wall_s": round(time.time() - t_start, 1),
               "calls": done[-1].get("calls") if done else None,
               "p50_s": round(statistics.median(lat), 3) if lat else None,
               "max_s": round(max(lat), 3) if lat else None,
               "min_s": round(min(lat), 3) if lat else None,
               "sacct_p50_s": round(statistics.median(lat_s), 3) if lat_s else None,
               "sacct_max_s": round(max(lat_s), 3) if lat_s else None}
        log("latency: %d/%d measured, p50 %s s, max %s s" % (len(lat), len(ids), res["p50_s"], res["max_s"]))
        return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ns", default="1 100 1000")
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--interval", type=int, default=5000)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=10)
    ap.add_argument("--job-sleep", type=int, default=4)
    ap.add_argument("--lat-interval", type=int, default=10000)
    ap.add_argument("--lat-fast", type=int, default=500)
    ap.add_argument("--skip-calls", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--transports", default="")
    ap.add_argument("--slurmlib", default="")
    ap.add_argument("--t-ns", default="1 10 50")
    ap.add_argument("--t-window", type=int, default=30)
    ap.add_argument("--t-submits", type=int, default=20)
    a = ap.parse_args()
    b = Bench(a)
    res = {"calls": [], "latency": None, "transports": [],
           "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        if not a.skip_calls:
            for n in sorted(int(x) for x in a.ns.split()):
                b.submit_held(n - len(b.held))
                res["calls"].append(b.track(n))
        if a.transports:
            res["transports"] = b.transports()
    finally:
        if b.held:
            b.cancel_held()
        b.cancel_held_ge()
    if not a.skip_latency:
        res["latency"] = b.latency()
    shutil.rmtree(b.work, ignore_errors=True)
    with open(os.path.join(a.out, "sched.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
