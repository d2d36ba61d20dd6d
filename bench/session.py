"""session.py: notebook start-up through the whole product, run by bench/session.sh (see
bench/README.md).

An optimised nbgated (NB_BUILDDIR) with one SLURM cluster of scripts/testenv.sh, reached over its
SSH login node as nbcommunity (as in tests/integration/test_session.py). Each run starts the server
of a fresh user benchN through the REST API and follows it:

  t_click      POST /hub/api/users/benchN/server                    client clock
  t_submit     slurmctld.log "_slurm_rpc_submit_batch_job: JobId=N"  ms (LogTimeFormat)
  t_running    slurmctld.log "sched: Allocate JobId=N" (or backfill's "Started JobId=N")
  t_ready_api  GET .../server says ready (polled every 50 ms)       client clock
  t_answer     GET /user/benchN/api/status through the proxy: 200  client clock (polled 20 ms)
  nb_startup   the agent's "notebook answers on ... after X s" in job.err (0.01 s, 50 ms probes)

overhead = (t_answer - t_running) - nb_startup. Where the time goes in between comes from
slurmd.log ("Launching batch job", ms), a marker the cluster's prologue writes into job.err when
the job script starts (date +%s.%N), and nbgated's session journal (GET /hub/api/sessions/ID,
microseconds: "enrolled", "running" = tunnel up). Between runs the same notebook command is
started directly as nbcommunity and polled every 10 ms: the raw start-up a user waits anyway.
All clocks are this machine's.
"""
import argparse
import datetime
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from harness import Gateway, Procs  # noqa: E402  (NB_BUILDDIR is set by session.sh)

USER = "nbcommunity"
TARGET_S = 0.3
API_POLL_S = 0.05
PROXY_POLL_S = 0.02
RAW_POLL_S = 0.01
MARK = "nbbench: job script starts at"


def log(msg):
    sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def run(argv, timeout=30):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess(argv, 1, "", str(e))


def iso_local(ts):
    """slurmctld/slurmd log time (local time, with or without milliseconds) -> epoch."""
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in ts else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(ts, fmt).timestamp()


def iso_utc(ts):
    """nbgated's journal / the agent's log time (UTC, 'Z') -> epoch."""
    ts = ts.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in ts else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(ts, fmt).replace(tzinfo=datetime.timezone.utc).timestamp()


def log_lines(path, pattern):
    """{group(2): (epoch, line)} for the first line matching pattern (group 1 = time)."""
    res = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = pattern.match(line)
                if m and m.group(2) not in res:
                    res[m.group(2)] = (iso_local(m.group(1)), line.rstrip())
    except OSError:
        pass
    return res


CTLD_SUBMIT = re.compile(r"^\[([0-9T:.-]+)\] _slurm_rpc_submit_batch_job: JobId=(\d+)")
CTLD_ALLOC = re.compile(r"^\[([0-9T:.-]+)\] (?:sched: Allocate JobId=|"
                        r"sched/backfill: _start_job: Started JobId=)(\d+)")
SLURMD_LAUNCH = re.compile(r"^\[([0-9T:.-]+)\] Launching batch job (\d+)")


class BenchEnv:
    """What harness.Gateway needs of a test Env: a directory for its files and the processes."""

    def __init__(self, artifacts):
        self.artifacts = artifacts
        self.procs = Procs(artifacts)

    def path(self, *parts):
        return os.path.join(self.artifacts, *parts)


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=2):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.unix_path)
        except OSError:
            s.close()
            raise
        self.sock = s


def pct(vals, p):
    """Nearest-rank percentile."""
    v = sorted(x for x in vals if x is not None)
    if not v:
        return None
    return v[max(0, int(math.ceil(p / 100.0 * len(v))) - 1)]


def fmt(v, w=7):
    return ("%*.3f" % (w, v)) if v is not None else "%*s" % (w, "-")


def sub(a, b):
    return a - b if a is not None and b is not None else None


class Bench:
    def __init__(self, args):
        self.a = args
        self.logs = os.path.join(args.out, "logs")
        self.tdir = os.environ["NB_TESTENV"]
        tlogs = os.environ.get("NB_TESTENV_LOGS", os.path.join(self.tdir, "log"))
        self.ctld_log = os.path.join(tlogs, "slurmctld.log")
        self.slurmd_log = os.path.join(tlogs, "slurmd.log")
        self.work = tempfile.mkdtemp(prefix="nbbench-session-")
        os.chmod(self.work, 0o755)
        self.jobs = os.path.join(self.work, "jobs")
        os.makedirs(self.jobs)
        shutil.chown(self.jobs, USER)
        os.chmod(self.jobs, 0o700)
        self.agent = os.path.join(self.work, "nbgate-agent")
        shutil.copy(os.path.join(args.builddir, "nbgate-agent"), self.agent)
        os.chmod(self.agent, 0o755)
        gwdir = os.path.join(self.work, "gw")
        os.makedirs(gwdir, mode=0o700)
        self.env = BenchEnv(gwdir)
        self.gw = None
        self.raw_procs = []
        self.rows = []

    # ------------------------------------------------------------ setup
    def conf_facts(self):
        """What the timestamps can resolve, read from slurm.conf and a log line."""
        f = {"log_time_format": "iso8601_ms (SLURM's default; not set in slurm.conf)"}
        try:
            with open(os.environ["SLURM_CONF"]) as fh:
                for line in fh:
                    m = re.match(r"^\s*LogTimeFormat\s*=\s*(\S+)", line, re.I)
                    if m:
                        f["log_time_format"] = m.group(1) + " (slurm.conf)"
                    m = re.match(r"^\s*SlurmctldDebug\s*=\s*(\S+)", line, re.I)
                    if m:
                        f["slurmctld_debug"] = m.group(1)
        except OSError:
            pass
        ms = None
        try:
            with open(self.ctld_log, errors="replace") as fh:
                for line in fh:
                    m = re.match(r"^\[([0-9T:.-]+)\] ", line)
                    if m:
                        ms = "." in m.group(1)
                        break
        except OSError:
            pass
        f["ctld_ms"] = ms
        return f

    def config(self):
        v = os.environ
        prologue = 'echo "%s $(date +%%s.%%N)" >&2' % MARK
        return """auth:
  admins: [admin]
sessions:
  gateway_address: 127.0.0.1:%d
  max_per_user: 3
  start_timeout: 3m
  orphans: report
clusters:
  hpc:
    scheduler: slurm
    transport: ssh
    login_host: 127.0.0.1:%s
    login_host_key: "%s"
    login_user: %s
    login_key: %s
    slurm_conf: %s
    charging: community
    community_account: community
    accounts: [community]
    prologue: '%s'
    output_dir: %s
    agent: %s
    template: %s/templates/slurm.sh
    default_queue: debug
    queues:
      debug:
        walltime: {default: 20m, max: 1h}
        cores: {default: 1, max: 2}
        memory: {default: 256MiB, max: 1GiB}
    containers:
      base: {image: "", runtime: none, description: "No container"}
    default_container: base
""" % (self.gw.ssh_port, v["NB_LOGIN_SSH_PORT"], v["NB_LOGIN_HOSTKEY"], USER,
            v["NB_KEY_COMMUNITY"], v["SLURM_CONF"], prologue, self.jobs, self.agent, SRC)

    def start_gateway(self):
        self.gw = Gateway(self.env)
        with open(self.gw.config) as f:
            text = f.read().replace("level: debug", "level: info")
        with open(self.gw.config, "w") as f:
            f.write(text + self.config())
        self.gw.start()
        self.admin = self.gw.token("admin")
        log("nbgated %s up: https 127.0.0.1:%d, ssh 127.0.0.1:%d" % (
            os.path.join(self.a.builddir, "nbgated"), self.gw.https_port, self.gw.ssh_port))

    def api(self, method, path, body=None, token=None):
        data = json.dumps(body).encode() if body is not None else None
        h = {"Content-Type": "application/json"} if data is not None else {}
        st, _, out = self.gw.request(method, "/hub/api" + path, token=token or self.admin,
                                     body=data, headers=h)
        try:
            return st, json.loads(out) if out else None
        except ValueError:
            return st, out

    def cancel_leftovers(self, users):
        names = ",".join("nbgate-" + u for u in users)
        r = run(["squeue", "-h", "-u", USER, "-n", names, "-o", "%A"])
        ids = r.stdout.split()
        if ids:
            log("cancelling %d job(s) left by an earlier bench run: %s" % (len(ids), " ".join(ids)))
            run(["scancel"] + ids)

    # ------------------------------------------------------------ one run
    def one(self, i):
        user = "bench%d" % i
        tok = self.gw.token(user)
        r = {"run": i, "user": user}
        q = run(["squeue", "-h", "-t", "PD,R,CG", "-o", "%A"])
        r["other_jobs"] = len(q.stdout.split())
        with open("/proc/loadavg") as f:
            r["loadavg"] = float(f.read().split()[0])
        r["t_click"] = time.time()
        st, m = self.api("POST", "/users/%s/server" % user, {})
        r["t_post_answer"] = time.time()
        if st != 202 or not isinstance(m, dict):
            r["error"] = "POST: %s %s" % (st, m)
            return r
        r["session"] = m["state"]["session"]
        try:
            self.follow(user, tok, r)
        finally:
            self.stop(user, r)
        return r

    def follow(self, user, tok, r):
        end = time.time() + self.a.timeout
        m = None
        while time.time() < end:
            st, m = self.api("GET", "/users/%s/server" % user)
            if st == 200 and (m["ready"] or m["stopped"]):
                break
            time.sleep(API_POLL_S)
        r["t_ready_api"] = time.time()
        r["job"] = m and m["state"]["job_id"]
        if not (m and m["ready"]):
            r["error"] = "not ready: %s" % (m and m["state"])
            return
        end = time.time() + 30
        st = None
        while time.time() < end:
            try:
                st, _, _ = self.gw.request("GET", "/user/%s/api/status" % user, token=tok,
                                           timeout=5)
            except OSError:
                st = None
            if st == 200:
                r["t_answer"] = time.time()
                break
            time.sleep(PROXY_POLL_S)
        if "t_answer" not in r:
            r["error"] = "no 200 through the proxy within 30 s (last %s)" % st
        st, full = self.api("GET", "/sessions/%d" % r["session"])
        if st == 200:
            r["events"] = full.get("events", [])

    def stop(self, user, r):
        r["t_delete"] = time.time()
        st, m = self.api("DELETE", "/users/%s/server" % user)
        end = time.time() + 90
        while time.time() < end:
            st, m = self.api("GET", "/users/%s/server" % user)
            if st != 200 or m["stopped"]:
                r["t_ended"] = time.time()
                break
            time.sleep(0.2)
        r["ended_reason"] = m and isinstance(m, dict) and m["state"]["reason"]
        # The next run starts on an idle SLURM: this job is out of squeue.
        end = time.time() + 60
        while r.get("job") and time.time() < end:
            if not run(["squeue", "-h", "-j", r["job"], "-o", "%T"]).stdout.strip():
                break
            time.sleep(0.2)

    def collect(self, r):
        """Log-derived times, read after the job ended (its files are complete)."""
        job = r.get("job")
        if not job:
            return
        sub_ = log_lines(self.ctld_log, CTLD_SUBMIT).get(job)
        alloc = log_lines(self.ctld_log, CTLD_ALLOC).get(job)
        launch = log_lines(self.slurmd_log, SLURMD_LAUNCH).get(job)
        r["t_submit"], r["submit_line"] = sub_ if sub_ else (None, None)
        r["t_running"], r["running_line"] = alloc if alloc else (None, None)
        r["t_launch"], r["launch_line"] = launch if launch else (None, None)
        if r["t_running"] is None:
            # Fallback only: sacct's Start has one-second resolution.
            s = run(["sacct", "-n", "-X", "-P", "-j", job, "-o", "Start"]).stdout.strip()
            try:
                r["t_running"] = iso_local(s.splitlines()[0])
                r["running_source"] = "sacct Start (1 s)"
            except (ValueError, IndexError):
                pass
        else:
            r["running_source"] = "slurmctld.log"
            r["running_by"] = "backfill" if "backfill" in r["running_line"] else "main"
        s = run(["sacct", "-n", "-X", "-P", "-j", job, "-o", "Start"]).stdout.strip()
        try:
            r["sacct_start"] = iso_local(s.splitlines()[0])
        except (ValueError, IndexError):
            r["sacct_start"] = None
        for ev in r.get("events", []):
            key = "j_" + ev["event"].replace("-", "_")
            if key not in r:
                r[key] = iso_utc(ev["time"])
        err = os.path.join(self.jobs, str(r["session"]), "job.err")
        r["job_err"] = err
        try:
            with open(err, errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        m = re.search(re.escape(MARK) + r" (\d+\.\d+)", text)
        r["t_script"] = float(m.group(1)) if m else None
        m = re.search(r"^(\S+) nbgate-agent\[\d+\]: info: .*notebook answers on .* after "
                      r"([0-9.]+) s", text, re.M)
        r["nb_startup"] = float(m.group(2)) if m else None
        r["nb_answers_line"] = m.group(0) if m else None
        m = re.search(r"^(\S+) nbgate-agent\[\d+\]: ", text, re.M)
        r["t_agent_first_log"] = iso_utc(m.group(1)) if m else None

    def derive(self, r):
        t = r.get
        r["click_submit"] = sub(t("t_submit"), t("t_click"))
        r["sched"] = sub(t("t_running"), t("t_submit"))
        r["run_answer"] = sub(t("t_answer"), t("t_running"))
        r["overhead"] = sub(r["run_answer"], t("nb_startup"))
        r["total"] = sub(t("t_answer"), t("t_click"))
        r["stop"] = sub(t("t_ended"), t("t_delete"))
        # where RUNNING -> answering goes
        r["b_launch"] = sub(t("t_launch"), t("t_running"))
        r["b_script"] = sub(t("t_script"), t("t_launch"))
        r["b_script_enrolled"] = sub(t("j_enrolled"), t("t_script"))
        r["b_agent_rest"] = sub(r["b_script_enrolled"], t("nb_startup"))
        r["b_tunnel"] = sub(t("j_running"), t("j_enrolled"))
        r["b_api_seen"] = sub(t("t_ready_api"), t("j_running"))
        r["b_proxy"] = sub(t("t_answer"), t("t_ready_api"))
        # where click -> submitted goes
        r["c_requested"] = sub(t("j_requested"), t("t_click"))
        r["c_sbatch"] = sub(t("t_submit"), t("j_requested"))
        r["c_answer"] = sub(t("j_submitted"), t("t_submit"))

    # ------------------------------------------------------------ raw notebook
    def raw_notebook(self, i):
        """The agent's notebook command, started directly as nbcommunity: seconds to answer."""
        d = tempfile.mkdtemp(prefix="nbbench-raw-")
        shutil.chown(d, USER)
        os.chmod(d, 0o700)
        sock = os.path.join(d, "nb.sock")
        base = "/user/raw%d/" % i
        token = os.urandom(24).hex()
        home = os.path.expanduser("~" + USER)
        env = {"HOME": home, "USER": USER, "LOGNAME": USER, "PATH": "/usr/local/bin:/usr/bin:/bin",
               "LANG": os.environ.get("LANG", "C.UTF-8"), "JUPYTER_TOKEN": token}
        argv = ["jupyter-notebook", "--no-browser", "--NotebookApp.base_url=" + base,
                "--NotebookApp.sock=" + sock, "--NotebookApp.sock_mode=0600",
                "--NotebookApp.notebook_dir=" + home, "--NotebookApp.allow_remote_access=True"]
        logf = open(os.path.join(self.logs, "raw-notebook-%d.log" % i), "wb")
        t0 = time.time()
        p = subprocess.Popen(argv, env=env, cwd=home, user=USER, group=USER, stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        self.raw_procs.append(p)
        took = None
        end = t0 + 60
        while time.time() < end and p.poll() is None:
            try:
                c = UnixHTTP(sock)
                c.request("GET", base + "api", headers={"Authorization": "token " + token})
                if c.getresponse().status == 200:
                    took = time.time() - t0
                    c.close()
                    break
                c.close()
            except OSError:
                pass
            time.sleep(RAW_POLL_S)
        self.stop_raw(p)
        shutil.rmtree(d, ignore_errors=True)
        return took

    def stop_raw(self, p):
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        if p in self.raw_procs:
            self.raw_procs.remove(p)

    # ------------------------------------------------------------ main
    def main(self):
        facts = self.conf_facts()
        users = ["bench%d" % i for i in range(1, self.a.runs + 1)]
        self.cancel_leftovers(users)
        self.start_gateway()
        for i in range(1, self.a.runs + 1):
            r = self.one(i)
            self.collect(r)
            self.derive(r)
            r["raw_startup"] = self.raw_notebook(i)
            self.rows.append(r)
            if r.get("error"):
                log("run %d: FAILED: %s" % (i, r["error"]))
            else:
                log("run %d (job %s): total %.3f s, RUNNING->answer %s s, notebook %s s, "
                    "overhead %s s, raw notebook %s s" % (
                        i, r["job"], r["total"], fmt(r["run_answer"], 0), r["nb_startup"],
                        fmt(r["overhead"], 0), fmt(r["raw_startup"], 0)))
        self.report(facts)

    def peers(self):
        out = []
        pol = run(["apt-cache", "policy", "jupyterhub"]).stdout
        m = re.search(r"Candidate:\s*(\S+)", pol)
        cand = m.group(1) if m and m.group(1) != "(none)" else None
        bs = run(["apt-cache", "policy", "python3-batchspawner"]).stdout
        bsm = re.search(r"Candidate:\s*(\S+)", bs)
        imp = run(["/usr/bin/python3", "-c", "import batchspawner"]).returncode == 0
        out.append("  JupyterHub: %s" % ("Debian package jupyterhub %s is installable (apt-cache "
                                         "policy)" % cand if cand else "no Debian package"))
        if imp:
            out.append("  batchspawner: importable here, but this bench does not drive it")
        else:
            out.append("  batchspawner: %s, not importable: no JupyterHub+batchspawner run "
                       "(it is on PyPI only, which this machine does not reach)" %
                       ("python3-batchspawner %s in apt" % bsm.group(1)
                        if bsm and bsm.group(1) != "(none)" else "no Debian package"))
        out.append("  The number to compare with is the raw notebook start-up (what a user "
                   "waits anyway).")
        return out

    def report(self, facts):
        ok = [r for r in self.rows if not r.get("error")]
        L = []
        L.append("Notebook start-up through nbgate: %d runs (%d ok), SLURM %s, one node, "
                 "partition debug, 1 core / 256 MiB, no container" % (
                     len(self.rows), len(ok), run(["sinfo", "-V"]).stdout.strip()))
        head = run(["git", "-C", SRC, "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = run(["git", "-C", SRC, "status", "--porcelain", "--", "daemon", "agent", "common",
                     "tunnel", "scheduler", "templates"]).stdout.split("\n")
        dirty = [d[3:] for d in dirty if d.strip()]
        L.append("Source: git %s%s; binaries from %s" % (
            head or "?", " + uncommitted changes in " + " ".join(dirty) if dirty else " (clean)",
            self.a.builddir))
        L.append("")
        hdr = ("%3s %9s %5s %5s | %7s %7s %4s %7s %7s %7s %7s | %7s" % (
            "run", "job", "other", "load", "clk>sub", "sub>RUN", "by", "RUN>ans", "nb", "ovrhd",
            "total", "raw nb"))
        L.append(hdr)
        for r in self.rows:
            if r.get("error"):
                L.append("%3d %9s  FAILED: %s" % (r["run"], r.get("job") or "-", r["error"]))
                continue
            L.append("%3d %9s %5d %5.2f | %s %s %4s %s %s %s %s | %s" % (
                r["run"], r["job"], r["other_jobs"], r["loadavg"], fmt(r["click_submit"]),
                fmt(r["sched"]), r.get("running_by", "?")[:4], fmt(r["run_answer"]), fmt(r["nb_startup"]), fmt(r["overhead"]),
                fmt(r["total"]), fmt(r["raw_startup"])))
        L.append("  other = jobs in the system (PD/R/CG) at the click; load = 1-min loadavg "
                 "(%d cores); by = which SLURM scheduler started the job (main / backfill)"
                 % os.cpu_count())
        L.append("  nb = the agent's 'notebook answers ... after X s'; raw nb = the same "
                 "notebook started directly, polled every %d ms" % (RAW_POLL_S * 1000))
        L.append("")
        L.append("Where click -> submitted goes (s):")
        L.append("%3s | %7s %7s %7s" % ("run", "clk>req", "req>sub", "sub>nbg"))
        for r in ok:
            L.append("%3d | %s %s %s" % (r["run"], fmt(r["c_requested"]), fmt(r["c_sbatch"]),
                                         fmt(r["c_answer"])))
        L.append("  clk>req  click -> nbgated journal 'requested'")
        L.append("  req>sub  -> slurmctld '_slurm_rpc_submit_batch_job' (mkdir of the job dir and "
                 "sbatch, over SSH to the login node)")
        L.append("  sub>nbg  -> nbgated journal 'submitted' (sbatch's answer back in nbgated)")
        L.append("")
        L.append("Where RUNNING -> answering goes (s):")
        L.append("%3s | %7s %7s %7s %7s %7s %7s %7s %7s" % (
            "run", "RUN>lch", "lch>scr", "scr>enr", "nb", "agent", "enr>tun", "tun>api",
            "api>ans"))
        for r in ok:
            L.append("%3d | %s %s %s %s %s %s %s %s" % (
                r["run"], fmt(r["b_launch"]), fmt(r["b_script"]), fmt(r["b_script_enrolled"]),
                fmt(r["nb_startup"]), fmt(r["b_agent_rest"]), fmt(r["b_tunnel"]),
                fmt(r["b_api_seen"]), fmt(r["b_proxy"])))
        L.append("  RUN>lch  slurmctld Allocate -> slurmd 'Launching batch job'")
        L.append("  lch>scr  -> the job script's first line (prologue marker, date +%s.%N)")
        L.append("  scr>enr  -> nbgated journal 'enrolled' (agent start, notebook start-up, "
                 "SSH connect, enrollment)")
        L.append("  agent    scr>enr minus nb: agent start + SSH connect + enrollment (nb has "
                 "0.1 s resolution)")
        L.append("  enr>tun  'enrolled' -> 'running' (tunnel up) in nbgated's journal")
        L.append("  tun>api  -> the client's 50 ms poll of GET .../server sees ready")
        L.append("  api>ans  -> first 200 from /user/benchN/api/status through the proxy")
        L.append("")
        L.append("Summary over %d ok runs (s)     median      p90      max" % len(ok))
        rows = [("click -> submitted (slurmctld)", "click_submit"),
                ("submitted -> RUNNING (sched)", "sched"),
                ("RUNNING -> answering (proxy)", "run_answer"),
                ("notebook start-up (agent)", "nb_startup"),
                ("overhead", "overhead"),
                ("click -> notebook total", "total"),
                ("raw notebook start-up (10 ms)", "raw_startup"),
                ("overhead vs raw start-up", "overhead_raw"),
                ("stop: DELETE -> ended", "stop")]
        raw_med = statistics.median([r["raw_startup"] for r in ok if r["raw_startup"]] or [0])
        for r in ok:
            r["overhead_raw"] = sub(r["run_answer"], r["raw_startup"])
        summ = {}
        for name, key in rows:
            vals = [r[key] for r in ok if r.get(key) is not None]
            med = statistics.median(vals) if vals else None
            summ[key] = {"median": med, "p90": pct(vals, 90), "max": max(vals) if vals else None,
                         "n": len(vals)}
            L.append("%-31s %s  %s  %s" % (name, fmt(med), fmt(pct(vals, 90)),
                                           fmt(max(vals) if vals else None)))
        ov = summ["overhead"]
        within = sum(1 for r in ok if r.get("overhead") is not None and r["overhead"] <= TARGET_S)
        verdict = ov["median"] is not None and ov["median"] <= TARGET_S
        L.append("target overhead <= %.1f s (median): %s (median %s s, max %s s, %d/%d runs "
                 "within)" % (TARGET_S, "PASS" if verdict else "FAIL", fmt(ov["median"], 0),
                              fmt(ov["max"], 0), within, len(ok)))
        nbs = [r["nb_startup"] for r in ok if r.get("nb_startup") is not None]
        q = [r["nb_startup"] - r["raw_startup"] for r in ok
             if r.get("nb_startup") is not None and r.get("raw_startup")]
        if nbs:
            L.append("note: the agent probes the notebook every 50 ms (agent/notebook.c "
                     "NB_PROBE_MS); agent-seen minus raw start-up: median %s s over %d runs" % (
                         fmt(statistics.median(q) if q else None, 0), len(nbs)))
        L.append("")
        L.append("Timestamp sources and resolution:")
        L.append("  t_click, t_ready_api, t_answer: this client's clock (time.time(), us); "
                 "API polled every %d ms, proxy every %d ms" % (API_POLL_S * 1000,
                                                                  PROXY_POLL_S * 1000))
        L.append("  t_submit, t_running: %s, LogTimeFormat %s -> %s" % (
            os.path.basename(self.ctld_log), facts["log_time_format"],
            "1 ms" if facts["ctld_ms"] else "1 s (set LogTimeFormat=iso8601_ms for ms)"))
        srcs = sorted(set(r.get("running_source") or "?" for r in ok))
        L.append("  t_running taken from: %s ('sched: Allocate JobId=N' at SlurmctldDebug=%s)" % (
            ", ".join(srcs), facts.get("slurmctld_debug", "?")))
        L.append("  slurmd 'Launching batch job': 1 ms; prologue marker: date +%s.%N (ns, costs "
                 "one fork of date in the job)")
        L.append("  nbgated journal (enrolled, running): microseconds; the agent's own log lines: "
                 "1 s (UTC, no fraction)")
        L.append("  notebook start-up: 0.01 s as printed, and it includes the agent's 50 ms probe "
                 "interval (so up to +0.05 s over the raw start-up)")
        L.append("  raw notebook start-up: the same command run directly as %s, polled every "
                 "%d ms (median %.3f s)" % (USER, RAW_POLL_S * 1000, raw_med))
        d = [abs(r["t_running"] - r["sacct_start"]) for r in ok
             if r.get("t_running") and r.get("sacct_start")]
        if d:
            L.append("  cross-check: |slurmctld Allocate - sacct Start| max %.3f s (sacct: 1 s "
                     "resolution)" % max(d))
        L.append("  All clocks are this machine's clock (slurmctld, slurmd, nbgated, the job and "
                 "this client).")
        L.append("")
        L.append("Peers:")
        L.extend(self.peers())
        text = "\n".join(L) + "\n"
        sys.stdout.write(text)
        with open(os.path.join(self.a.out, "report.txt"), "w") as f:
            f.write(text)
        with open(os.path.join(self.a.out, "session.json"), "w") as f:
            json.dump({"runs": self.rows, "summary": summ, "target_s": TARGET_S,
                       "overhead_pass": verdict, "facts": facts}, f, indent=1)

    def close(self):
        for p in list(self.raw_procs):
            self.stop_raw(p)
        if self.gw is not None:
            users = [r["user"] for r in self.rows]
            for u in users:
                try:
                    self.api("DELETE", "/users/%s/server" % u)
                except OSError:
                    pass
            self.gw.stop()
        self.env.procs.stop_all()
        for src in (self.env.path("nbgated.log"), self.env.path("nbgated", "nbgated.yaml")):
            if os.path.exists(src):
                shutil.copy(src, self.logs)
        for sid in sorted(os.listdir(self.jobs)):
            p = os.path.join(self.jobs, sid, "job.err")
            if os.path.exists(p):
                shutil.copy(p, os.path.join(self.logs, "job-%s.err" % sid))
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("--builddir", default=os.environ.get("NB_BUILDDIR"))
    ap.add_argument("--timeout", type=float, default=180, help="seconds for one start")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "logs"), exist_ok=True)
    b = Bench(a)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        b.main()
    finally:
        b.close()
    ok = [r for r in b.rows if not r.get("error")]
    return 0 if ok and len(ok) == len(b.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
