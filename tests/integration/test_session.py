"""test_session.py: notebook sessions end to end (daemon/sess/): a REST
"start" becomes a real SLURM (or PBS command line) job, rendered from
templates/, submitted over SSH to the test login node as the community user;
in the job nbgate-agent starts a real Jupyter Notebook (directly, or inside
the Singularity stand-in), enrolls with the one-time secret, dials back, and
the notebook is reached through nbgated's HTTPS proxy.

Where things are: nbgated's artifacts are in the printed directory; the jobs'
own output (job.out, job.err) is copied there as job-<session>.log at the
end. The jobs run as nbcommunity, so what they need (the agent binary, the
stand-in, job directories) lives in a world-readable scratch directory,
removed at the end unless a test failed.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SRCDIR, Env, Gateway, binary, kernel_computes, parse_env,  # noqa: E402
                     testenv, wait_for, ws_execute)

IMAGE = "/images/scipy.sif"
# How cluster hpc reaches SLURM: "cli" (sbatch & co. over SSH on the login node),
# "libslurm" (this host is a submit host: nbgate-slurmlib, run as nbcommunity) or
# "slurmrestd" (HTTP to the testenv's slurmrestd, a token minted with its jwt_key).
# test_session_libslurm.py and test_session_slurmrestd.py run this same file.
SLURM_API = "cli"


def scontrol(*args):
    return subprocess.run(["scontrol"] + list(args), capture_output=True, text=True,
                          timeout=30, env=dict(os.environ))


def squeue_field(job, fmt):
    r = subprocess.run(["squeue", "-h", "-j", job, "-o", fmt], capture_output=True, text=True,
                       timeout=30)
    return r.stdout.strip()


def sacct_state(job):
    r = subprocess.run(["sacct", "-n", "-X", "-P", "-j", job, "-o", "State,User,Account,Comment"],
                       capture_output=True, text=True, timeout=30)
    return r.stdout.strip()


class World:
    def __init__(self, env, vals):
        self.env, self.v = env, vals
        self.dir = tempfile.mkdtemp(prefix="nbgate-sessions-")
        os.chmod(self.dir, 0o755)
        self.jobs = os.path.join(self.dir, "jobs")
        os.makedirs(self.jobs)
        shutil.chown(self.jobs, "nbcommunity")
        self.agent = os.path.join(self.dir, "nbgate-agent")
        shutil.copy(binary("nbgate-agent"), self.agent)
        os.chmod(self.agent, 0o755)
        self.standin = os.path.join(self.dir, "standin")
        shutil.copytree(os.path.join(SRCDIR, "tests", "standin"), self.standin, symlinks=True)
        if SLURM_API == "slurmrestd":
            # a token that slurmrestd would take, had it not expired a second after minting
            self.bad_token = os.path.join(self.dir, "expired.jwt")
            r = subprocess.run([binary("tests/unit/sched-cli"), "token", "nbcommunity",
                                vals["NB_SLURM_JWT_KEY"], "1"], capture_output=True, text=True)
            with open(os.open(self.bad_token, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(r.stdout)
        if SLURM_API == "libslurm":
            self.slurmlib = os.path.join(self.dir, "nbgate-slurmlib")
            shutil.copy(binary("nbgate-slurmlib"), self.slurmlib)
            os.environ["NBGATE_SLURMLIB"] = self.slurmlib
        self.standin_log = os.path.join(self.dir, "standin.jsonl")
        with open(self.standin_log, "w"):
            pass
        shutil.chown(self.standin_log, "nbcommunity")
        os.chmod(self.standin_log, 0o644)
        for root, dirs, files in os.walk(self.dir):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755 if d != "jobs" else 0o700)
        env.tap.diag("job scratch directory: %s" % self.dir)

    def cluster(self, name, scheduler, user_ca=None):
        """A cluster on the testenv: charged to the community account, or (user_ca: the
        SSH CA key) to each user, whose jobs then write to their own home."""
        v = self.v
        if user_ca is None:
            who = ("    login_user: nbcommunity\n    login_key: %s\n    slurm_conf: %s\n"
                   "    charging: community\n    community_account: community\n"
                   "    accounts: [community]\n" % (v["NB_KEY_COMMUNITY"], v["SLURM_CONF"]))
            out = "    output_dir: %s\n" % self.jobs
        else:
            who = "    slurm_conf: %s\n    charging: user\n    user_ca_key: %s\n" % (
                v["SLURM_CONF"], user_ca)
            out = ""
        reach = """    transport: ssh
    login_host: 127.0.0.1:%s
    login_host_key: "%s"
""" % (v["NB_LOGIN_SSH_PORT"], v["NB_LOGIN_HOSTKEY"])
        if scheduler == "slurm" and SLURM_API == "libslurm":
            reach = "    transport: local\n    slurm_api: libslurm\n"
            who = who.replace("    login_key: %s\n" % v["NB_KEY_COMMUNITY"], "")
        elif scheduler == "slurm" and SLURM_API == "slurmrestd":
            reach = ("    transport: slurmrestd\n    slurmrestd_url: %s\n    slurmrestd_api: %s\n"
                     "    slurmrestd_jwt_key: %s\n" % (v["NB_SLURMRESTD_URL"],
                                                     v["NB_SLURMRESTD_API"], v["NB_SLURM_JWT_KEY"]))
            who = who.replace("    login_key: %s\n" % v["NB_KEY_COMMUNITY"], "")
        return """  %s:
    scheduler: %s
%s%s    poll_interval: 2s
    prologue: "PATH=%s:$PATH; NB_STANDIN_LOG=%s; export PATH NB_STANDIN_LOG"
%s    agent: %s
    template: %s/templates/%s.sh
    default_queue: debug
    queues:
      debug:
        walltime: {default: 20m, max: 1h}
        cores: {default: 1, max: 2}
        memory: {default: 256MiB, max: 1GiB}
      compute:
        walltime: {default: 20m, max: 2h}
        cores: {default: 1, max: 2}
        memory: {default: 256MiB, max: 1GiB}
    containers:
      base: {image: "", runtime: none, description: "No container", notebook: classic}
      scipy: {image: %s, runtime: singularity, notebook: classic}
    default_container: base
    binds: ["/tmp"]
""" % (name, scheduler, reach, who, self.standin,
            self.standin_log, out, self.agent, SRCDIR, scheduler, IMAGE)

    def config(self, ssh_port):
        extra = ""
        if SLURM_API == "slurmrestd":
            extra = self.cluster("restbad", "slurm").replace(
                "    slurmrestd_jwt_key: %s\n" % self.v["NB_SLURM_JWT_KEY"],
                "    slurmrestd_token_file: %s\n" % self.bad_token)
        return ("auth:\n  admins: [admin]\n"
                "sessions:\n  gateway_address: 127.0.0.1:%d\n  max_per_user: 3\n"
                "  named_servers: 1\n  start_timeout: 3m\n  orphans: report\n"
                "clusters:\n%s%s%s" % (ssh_port, self.cluster("hpc", "slurm"),
                                       self.cluster("pbs", "pbs"), extra))

    def keep_logs(self):
        """Copies every job's output into the artifacts (sanitizer reports are checked there)."""
        for sid in sorted(os.listdir(self.jobs)):
            out = []
            for f in ("job.out", "job.err"):
                p = os.path.join(self.jobs, sid, f)
                if os.path.exists(p):
                    with open(p, errors="replace") as fh:
                        out.append("==> %s <==\n%s" % (f, fh.read()))
            with open(self.env.path("job-%s.log" % sid), "w") as fh:
                fh.write("\n".join(out))


class Api:
    def __init__(self, gw, token):
        self.gw, self.token = gw, token

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        h = {"Content-Type": "application/json"} if data is not None else {}
        st, hd, out = self.gw.request(method, "/hub/api" + path, token=self.token, body=data,
                                      headers=h)
        try:
            j = json.loads(out) if out else None
        except ValueError:
            j = out
        return st, j

    def server(self, user, name=""):
        path = "/users/%s/server%s" % (user, "s/" + name if name else "")
        return self.call("GET", path)

    def wait(self, user, name="", phases=("running",), timeout=120):
        """Polls the server until its phase is one of @phases; returns (model, phases seen)."""
        seen = []
        end = time.time() + timeout
        m = None
        while time.time() < end:
            st, m = self.server(user, name)
            if st == 200:
                ph = m["state"]["phase"]
                if not seen or seen[-1] != ph:
                    seen.append(ph)
                if ph in phases:
                    return m, seen
            time.sleep(0.3)
        return m, seen


def proxied(env, route, path="api/status"):
    st, _, out = env.gw.request("GET", "/user/%s/%s" % (route, path), token=env.user_tokens[
        route.split("/")[0]])
    return st, out


def test_check_templates(env):
    """A template that cannot be read or rendered is found by --check-config (and at start)."""
    t = env.tap
    with open(env.gw.config) as f:
        good = f.read()
    bad_tpl = env.path("broken.sh")
    with open(bad_tpl, "w") as f:
        f.write("#!/bin/sh\n#SBATCH --time={{walltime}}\necho {{no_such_variable}}\n")
    for what, text, want in (
            ("missing", good.replace("%s/templates/slurm.sh" % SRCDIR, "/nonexistent/slurm.sh"),
             "clusters.hpc.queues.debug: template /nonexistent/slurm.sh:"),
            ("broken", good.replace("%s/templates/pbs.sh" % SRCDIR, bad_tpl),
             "clusters.pbs.queues.debug: template %s: line 3: unknown variable "
             "'no_such_variable'" % bad_tpl)):
        p = env.path("check-%s.yaml" % what)
        with open(p, "w") as f:
            f.write(text)
        r = subprocess.run([binary("nbgated"), "--check-config", p], capture_output=True,
                           text=True, timeout=30)
        t.ok(r.returncode == 1 and want in r.stderr,
             "--check-config finds a %s template and names cluster, queue, path" % what,
             r.stdout + r.stderr)
    r = subprocess.run([binary("nbgated"), "--check-config", env.gw.config], capture_output=True,
                       text=True, timeout=30)
    t.ok(r.returncode == 0, "--check-config passes the test's own configuration", r.stderr)


def test_full_path(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/alice/server", {"user_options": {"container": "base"}})
    t.eq(st, 202, "POST /hub/api/users/alice/server: 202 Accepted")
    t.ok(m and m.get("pending") == "spawn" and m["state"]["session"] > 0,
         "the answer is a pending server with its session id", m)
    m, seen = env.api.wait("alice", timeout=150)
    t.ok(m is not None and m["ready"], "alice's notebook becomes ready", (seen, m))
    t.diag("phases seen: %s" % seen)
    t.ok("running" in seen and seen.index("running") > 0, "phases go through the queue to running",
         seen)
    job = m["state"]["job_id"]
    env.alice_job = job
    t.ok(job and re.match(r"^\d+$", job), "the job id is recorded", job)
    t.eq(squeue_field(job, "%u|%a|%k|%j"),
         "nbcommunity|community|nbgate:user=alice:session=%d|nbgate-alice" % m["state"]["session"],
         "SLURM: runs as nbcommunity, charged to community, names alice")
    st, out = proxied(env, "alice")
    t.eq(st, 200, "the notebook's REST API answers through the proxy")
    st, out = proxied(env, "alice", "tree")
    t.ok(st == 200 and b"Jupyter" in out, "tree page through the proxy", (st, out[:200]))
    kernel_computes(t, env.gw, "/user/alice/", env.user_tokens["alice"],
                    "kernel: 1+1 over the WebSocket through the tunnel")
    # The job script holds the one-time secret; it is used up and bound to the job.
    r = scontrol("write", "batch_script", job, "-")
    sec = re.search(r"NBGATE_ENROLL='([^']+)'", r.stdout)
    t.ok(sec is not None, "the job script carries an enrollment secret (in its environment "
         "assignment, not on a command line)", r.stdout[-600:] + r.stderr)
    if sec:
        secret = sec.group(1)
        leaked = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        if secret.encode() in f.read():
                            leaked.append(pid)
                except OSError:
                    pass
        t.eq(leaked, [], "the secret is in no process's command line")
        sf = env.path("stolen.secret")
        with open(sf, "w") as f:
            f.write(secret + "\n")
        os.chmod(sf, 0o600)
        # Replayed as from another job: refused, and alice's session goes on.  (The same replay
        # from the job's own node with its own id cannot be told from the job's agent and ends
        # the session with a security alert: tests/attack/test_enroll_bind.py.)
        r = subprocess.run([binary("nbgate-agent"), "--gateway", "127.0.0.1:%d" % env.gw.ssh_port,
                            "--route", "alice", "--hostkey-fingerprint", env.gw.fingerprint,
                            "--enroll-file", sf, "--job-id", str(int(job) + 100000),
                            "--target", "127.0.0.1:9"],
                           capture_output=True, text=True, timeout=60)
        t.ok(r.returncode != 0 and "refused the enrollment" in r.stderr,
             "replaying the secret from the job script is refused", r.stderr[-500:])
        st, out = proxied(env, "alice")
        t.eq(st, 200, "alice's notebook still answers after the replay attempt")


def test_named_container(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/alice/servers/lab", {"container": "scipy", "cores": 2})
    t.eq(st, 202, "named server lab with the scipy container: 202")
    m, seen = env.api.wait("alice", "lab", timeout=150)
    t.ok(m is not None and m["ready"], "alice/lab becomes ready", (seen, m))
    st, out = proxied(env, "alice/lab")
    t.eq(st, 200, "alice/lab answers through the proxy")
    recs = []
    with open(env.w.standin_log) as f:
        recs = [json.loads(l) for l in f if l.strip()]
    rec = [r for r in recs if r.get("image") == IMAGE]
    t.ok(rec, "the container runtime (stand-in) was asked to run the image", recs[-1:])
    if rec:
        r = rec[-1]
        t.ok(r["subcommand"] == "exec" and r["cleanenv"] and "/tmp" in ",".join(r["binds"]) and
             not r["nv"], "singularity exec --cleanenv with the configured binds, no --nv", r)
        t.ok(any("/user/alice/lab/" in a for a in r["command"]),
             "the notebook's base URL is /user/alice/lab/", r["command"])
    st, m = env.api.call("POST", "/users/alice/servers/second", {})
    t.ok(st == 400 and "named server" in m["message"], "the named-server limit (1) is enforced",
         (st, m))
    st, m = env.api.call("GET", "/users/alice")
    t.ok(st == 200 and set(m["servers"]) == {"", "lab"} and m["server"] == "/user/alice/",
         "GET /hub/api/users/alice lists both servers (JupyterHub's shape)", m)
    st, _ = env.api.call("DELETE", "/users/alice/servers/lab")
    t.eq(st, 202, "DELETE alice/lab: 202 (stopping)")
    m, seen = env.api.wait("alice", "lab", phases=("ended",), timeout=90)
    t.ok(m is not None and m["stopped"] and "stopped by admin" in (m["state"]["reason"] or ""),
         "alice/lab ends, stopped by admin", m and m["state"])
    job = m and m["state"]["job_id"]
    t.ok(job and wait_for(lambda: "CANCELLED" in sacct_state(job), 20),
         "SLURM shows the job cancelled", job and sacct_state(job))
    st, _ = proxied(env, "alice/lab")
    t.ok(st in (404, 503), "alice/lab's route is gone (404/503)", st)


def metric(text, name):
    """The value of one sample line (name with labels, exactly), or None."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def test_metrics(env):
    t = env.tap
    st, hd, out = env.gw.request("GET", "/hub/metrics", token=env.api.token)
    text = out.decode()
    t.ok(st == 200 and hd.get("content-type", "").startswith("text/plain; version=0.0.4"),
         "GET /hub/metrics with an admin's token: Prometheus text", (st, hd))
    t.ok((metric(text, 'nbgate_sessions{state="running"}') or 0) >= 1,
         "sessions by state: at least one running", text[:600])
    t.ok((metric(text, 'nbgate_spawn_duration_seconds_count{outcome="success"}') or 0) >= 2,
         "spawn duration histogram counts the successful starts")
    t.ok((metric(text, 'nbgate_scheduler_commands_total{cluster="hpc"}') or 0) > 0 and
         metric(text, 'nbgate_scheduler_command_errors_total{cluster="hpc"}') is not None,
         "scheduler commands and errors per cluster")
    t.ok((metric(text, "nbgate_tunnels_connected") or 0) >= 1, "tunnels connected")
    if SLURM_API == "libslurm":
        kids = subprocess.run(["pgrep", "-P", str(env.gw.proc.pid), "-u", "nbcommunity", "-f",
                               "nbgate-slurmlib serve"], capture_output=True, text=True)
        calls = metric(text, 'nbgate_scheduler_commands_total{cluster="hpc"}') or 0
        t.ok(len(kids.stdout.split()) == 1 and calls >= 5,
             "libslurm: one long-lived nbgate-slurmlib serve (as nbcommunity) answered all %d "
             "of hpc's scheduler calls" % calls, kids.stdout)
    t.ok((metric(text, "nbgate_proxy_requests_total") or 0) > 0, "proxied requests counted")
    st, _, _ = env.gw.request("GET", "/hub/metrics", token=env.user_tokens["bob"])
    t.eq(st, 403, "/hub/metrics refuses a user's token")
    st, _, _ = env.gw.request("GET", "/hub/metrics")
    t.eq(st, 401, "/hub/metrics refuses no token")


def test_cut(env):
    """The agent's TCP connection is killed and new ones are dropped for 30 s: the
    session stays running, the notebook keeps its kernel, traffic resumes."""
    t = env.tap
    port = env.gw.ssh_port
    st, m = env.api.server("alice")
    t.ok(m and m["state"]["phase"] == "running", "alice is running before the cut", m and m["state"])
    st, _, out = env.gw.request("POST", "/user/alice/api/kernels", token=env.user_tokens["alice"],
                                body=b"{}", headers={"Content-Type": "application/json"})
    kid = json.loads(out)["id"] if st == 201 else None
    table = "nbsess%d" % os.getpid()
    nft = ["nft", "-f", "-"]
    rules = ("table inet %s {\n chain in {\n  type filter hook input priority 0;\n"
             "  tcp dport %d ct state new counter drop\n }\n}\n" % (table, port))
    try:
        r = subprocess.run(nft, input=rules, capture_output=True, text=True)
        t.ok(r.returncode == 0, "new connections to the gateway's SSH port are dropped", r.stderr)
        r = subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", str(port)],
                           capture_output=True, text=True)
        def status():
            try:
                return env.gw.request("GET", "/user/alice/api/status",
                                      token=env.user_tokens["alice"], timeout=5)[0]
            except OSError:
                return 0
        t.ok(r.returncode == 0 and wait_for(lambda: status() != 200, 20),
             "the agent's connection is killed: the notebook is unreachable (%d)" % status(),
             r.stderr)
        def dropped():
            r = subprocess.run(["nft", "list", "table", "inet", table],
                               capture_output=True, text=True)
            m = re.search(r"packets (\d+)", r.stdout)
            return int(m.group(1)) if m else 0

        def polls():
            st, _, out = env.gw.request("GET", "/hub/metrics", token=env.api.token)
            return metric(out.decode(), 'nbgate_scheduler_commands_total{cluster="hpc"}') or 0
        # Not a sleep: the outage lasts until nbgated's own tracker has asked
        # SLURM 15 more times (poll_interval 2s: about 30 s of its clock) and
        # the agent has been turned away 3 times; nothing may end the session
        # meanwhile, however slow the machine.
        def phase():
            m = env.api.server("alice")[1]
            return m.get("state", {}).get("phase") if isinstance(m, dict) else None
        n0 = polls()
        wait_for(lambda: (polls() >= n0 + 15 and dropped() >= 3) or phase() != "running", 180)
        t.ok(polls() >= n0 + 15 and dropped() >= 3,
             "the outage lasts 15 scheduler polls and 3 refused agent connections",
             (polls() - n0, dropped()))
        st, m = env.api.server("alice")
        t.eq(m["state"]["phase"], "running", "after 30 s without a tunnel the session is still running")
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True)
    t0 = time.time()
    ok = wait_for(lambda: proxied(env, "alice")[0] == 200, 90)
    t.ok(ok, "traffic resumes when the agent can reconnect (%.1f s)" % (time.time() - t0))
    if kid:
        t.eq(ws_execute(env.gw, "/user/alice/", kid, "1+1", token=env.user_tokens["alice"]), "2",
             "the same kernel answers: the notebook was not restarted")
    st, full = env.api.call("GET", "/sessions/%d" % m["state"]["session"])
    evs = [e["event"] for e in (full or {}).get("events", [])]
    t.ok("tunnel-down" in evs and evs.count("tunnel-up") >= 1,
         "the journal records the tunnel going down and up again", evs)


def test_bad_requests(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/bob/server", {"walltime": "5h"})
    t.ok(st == 400 and m.get("field") == "walltime" and "1h" in m["message"],
         "walltime above the queue's max: 400 naming the field and the range", m)
    st, m = env.api.call("POST", "/users/bob/server", {"queue": "nope"})
    t.ok(st == 400 and m.get("field") == "queue", "unknown queue: 400 naming the field", m)
    st, m = env.api.call("POST", "/users/bob/server", {"container": "$(id)"})
    t.ok(st == 400 and m.get("field") == "container", "injection in container: 400", m)
    st, m = env.api.call("POST", "/users/Bad;User/server", {})
    t.eq(st, 400, "a bad user name: 400")
    st, m = env.api.call("DELETE", "/users/nobody/server")
    t.eq(st, 404, "stopping a server that does not exist: 404")
    # A user may manage their own server, not someone else's.
    bob = Api(env.gw, env.user_tokens["bob"])
    st, m = bob.call("POST", "/users/alice/servers/x", {})
    t.eq(st, 403, "bob cannot start a server for alice")
    st, m = bob.call("GET", "/users/bob")
    t.ok(st == 200 and m["name"] == "bob" and m["servers"] == {},
         "bob reads his own user model", m)
    st, m = bob.call("GET", "/sessions")
    t.eq(st, 403, "bob cannot list every session")
    # The scheduler refuses: an account the community user has no association for.
    st, m = env.api.call("POST", "/users/bob/server", {"account": "alloc_bob"})
    t.ok(st == 400 and m.get("field") == "account", "an account not offered: 400", m)


def test_pbs(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/bob/server", {"cluster": "pbs"})
    t.eq(st, 202, "bob's server on the PBS cluster (qsub): 202")
    m, seen = env.api.wait("bob", timeout=150)
    t.ok(m is not None and m["ready"], "bob's notebook via qsub becomes ready", (seen, m))
    st, out = proxied(env, "bob")
    t.eq(st, 200, "bob's notebook answers through the proxy")
    env.bob_job = m and m["state"]["job_id"]


def partition(state):
    """compute DOWN: jobs are accepted and wait (PartitionDown), a real 'queued'."""
    return scontrol("update", "PartitionName=compute", "State=" + state)


def test_restart(env):
    """One queued and two running sessions survive SIGTERM and kill -9."""
    t = env.tap
    r = partition("DOWN")
    t.ok(r.returncode == 0, "partition compute is down (jobs wait in it)", r.stderr)
    st, m = env.api.call("POST", "/users/carol/server", {"queue": "compute"})
    t.eq(st, 202, "carol's server requested in queue compute")
    m, seen = env.api.wait("carol", phases=("queued",), timeout=60)
    job = m and m["state"]["job_id"]
    t.ok(m and m["state"]["phase"] == "queued" and job is not None,
         "carol is queued (%s)" % (m and m["state"]["scheduler_reason"]), m and m["state"])
    if job is None:
        return
    before = {u: env.api.server(u)[1]["state"]["job_id"] for u in ("alice", "bob", "carol")}
    for how in (signal.SIGTERM, signal.SIGKILL):
        env.gw.stop(how)
        env.gw.start()
        after = {}
        for u in ("alice", "bob", "carol"):
            st, m = env.api.server(u)
            after[u] = (st, m and m["state"]["job_id"], m and m["state"]["phase"])
        t.ok(all(after[u][1] == before[u] for u in before),
             "after %s: all three sessions are back with their jobs" % how.name, after)
        ok = wait_for(lambda: proxied(env, "alice")[0] == 200 and proxied(env, "bob")[0] == 200,
                      60)
        t.ok(ok, "after %s: alice and bob are reached again (agents reconnected)" % how.name)
        t.eq(env.api.server("carol")[1]["state"]["phase"], "queued",
             "after %s: carol is still queued" % how.name)
    states = {u: squeue_field(before[u], "%T") for u in before}
    t.ok(states["alice"] == "RUNNING" and states["bob"] == "RUNNING" and
         states["carol"] == "PENDING", "no job was cancelled by the restarts", states)
    partition("UP")
    m, seen = env.api.wait("carol", timeout=150)
    t.ok(m is not None and m["ready"], "the queued one still starts after the restarts",
         (seen, m and m["state"]))


def test_adopt(env):
    """nbgated dies after sbatch answered but before it recorded the job id
    (simulated: kill -9, then the journal is put back to that moment): on
    restart the job is found by its comment and adopted, not orphaned."""
    import sqlite3
    t = env.tap
    st, m = env.api.call("POST", "/users/frank/server", {})
    t.eq(st, 202, "frank's server requested")
    m, seen = env.api.wait("frank", phases=("submitted", "queued", "starting", "running"),
                           timeout=60)
    job, sid = m and m["state"]["job_id"], m and m["state"]["session"]
    t.ok(job is not None, "frank's job was submitted", m and m["state"])
    if job is None:
        return
    env.gw.stop(signal.SIGKILL)
    db = sqlite3.connect(os.path.join(env.gw.dir, "nbgate.db"))
    db.execute("UPDATE sessions SET state = 'requested', job = NULL WHERE id = ?", (sid,))
    db.commit()
    db.close()
    env.gw.start()
    m, seen = env.api.wait("frank", timeout=150)
    t.ok(m is not None and m["ready"] and m["state"]["job_id"] == job,
         "after the restart frank's job %s is adopted and the notebook runs" % job,
         (seen, m and m["state"]))
    st, full = env.api.call("GET", "/sessions/%d" % sid)
    causes = [e.get("cause") or "" for e in (full or {}).get("events", [])]
    t.ok(any("adopted" in c for c in causes), "the journal says the job was adopted", causes)
    t.eq(squeue_field(job, "%T"), "RUNNING", "the job was neither cancelled nor duplicated")
    r = subprocess.run(["squeue", "-h", "-n", "nbgate-frank", "-o", "%i"], capture_output=True,
                       text=True)
    t.eq(r.stdout.split(), [job], "exactly one job for frank")
    env.api.call("DELETE", "/users/frank/server")


def test_notebook_killed(env):
    t = env.tap
    st, m = env.api.server("carol")
    sid = m["state"]["session"]
    t.ok(wait_for(lambda: proxied(env, "carol")[0] == 200, 60), "carol's notebook answers")
    # carol's agent is the one dialling THIS gateway (other tests may run a carol too);
    # its notebook is its own child (runtime none).
    agent = None
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if (argv[0].endswith(b"nbgate-agent") and b"carol" in argv and
                ("127.0.0.1:%d" % env.gw.ssh_port).encode() in argv):
            agent = pid
    r = subprocess.run(["pkill", "-KILL", "-P", str(agent), "-f", "jupyter-notebook"],
                       capture_output=True) if agent else None
    t.ok(r is not None and r.returncode == 0, "killed carol's notebook process (child of agent "
         "%s)" % agent)
    m, seen = env.api.wait("carol", phases=("ended",), timeout=90)
    reason = m and m["state"]["reason"] or ""
    t.ok(m is not None and m["stopped"] and "notebook" in reason,
         "the session ends and says the notebook died", m and m["state"])
    t.diag("reason: %s" % reason)
    st, full = env.api.call("GET", "/sessions/%d" % sid)
    evs = [e["event"] for e in (full or {}).get("events", [])] if st == 200 else []
    t.ok("requested" in evs and "running" in evs and "ended" in evs,
         "the journal has every transition", evs)


def test_pbs_stop(env):
    t = env.tap
    st, _ = env.api.call("DELETE", "/users/bob/server")
    t.eq(st, 202, "stop bob's PBS server: 202")
    m, seen = env.api.wait("bob", phases=("ended",), timeout=90)
    t.ok(m is not None and "stopped by admin" in (m["state"]["reason"] or ""),
         "bob's PBS session ends, stopped by admin", m and m["state"])
    t.ok(wait_for(lambda: squeue_field(env.bob_job, "%T") == "", 30),
         "qdel took bob's job out of the queue", env.bob_job)


def test_scancel(env):
    t = env.tap
    job = env.alice_job
    r = subprocess.run(["scancel", job], capture_output=True, text=True)
    t.eq(r.returncode, 0, "scancel alice's job from outside")
    m, seen = env.api.wait("alice", phases=("ended",), timeout=90)
    t.ok(m is not None and "cancelled outside nbgate" in (m["state"]["reason"] or ""),
         "alice's session ends: cancelled outside nbgate", m and m["state"])


def test_walltime(env):
    t = env.tap
    m, seen = env.api.wait("dave", phases=("ended",), timeout=200)
    t.ok(m is not None and "walltime" in (m["state"]["reason"] or ""),
         "dave's 1-minute session ends: walltime ran out", m and m["state"])


def test_stop_queued(env):
    t = env.tap
    partition("DOWN")
    st, m = env.api.call("POST", "/users/erin/server", {"queue": "compute"})
    m, seen = env.api.wait("erin", phases=("queued",), timeout=60)
    job = m and m["state"]["job_id"]
    t.ok(job is not None, "erin's job is queued", m and m["state"])
    st, _ = env.api.call("DELETE", "/users/erin/server")
    t.eq(st, 202, "stop erin's queued server: 202")
    m, seen = env.api.wait("erin", phases=("ended",), timeout=60)
    t.ok(m is not None and m["stopped"] and "stopped by admin" in (m["state"]["reason"] or ""),
         "a queued session is cancelled", m and m["state"])
    t.ok(job and wait_for(lambda: squeue_field(job, "%T") == "", 30),
         "the queued job is gone from the queue", job)
    partition("UP")


def test_orphans(env):
    """A job carrying nbgate's tag that no session owns is reported (orphans: report)."""
    t = env.tap
    v = env.w.v
    script = ("#!/bin/sh\n#SBATCH -p debug -t 5 -A community -J nbgate-zed "
              "--comment=nbgate:user=zed:session=999999\n"
              "#SBATCH -o /dev/null\nsleep 300\n")
    r = subprocess.run(["ssh", "-i", v["NB_KEY_COMMUNITY"], "-p", v["NB_LOGIN_SSH_PORT"],
                        "-o", "UserKnownHostsFile=" + v["NB_LOGIN_KNOWN_HOSTS"],
                        "-o", "BatchMode=yes", "nbcommunity@127.0.0.1",
                        "SLURM_CONF=%s sbatch --parsable" % v["SLURM_CONF"]],
                       input=script, capture_output=True, text=True, timeout=60)
    job = r.stdout.strip().split(";")[0]
    t.ok(r.returncode == 0 and job.isdigit(), "an nbgate-tagged job no session owns is submitted",
         r.stderr)
    if not job.isdigit():
        return
    st, _ = env.api.call("POST", "/orphans")
    t.eq(st, 202, "POST /hub/api/orphans starts a sweep")
    line = "job %s (nbgate:user=zed:session=999999) carries nbgate's tag" % job
    t.ok(wait_for(lambda: line in env.procs.log("nbgated"), 30),
         "nbgated reports the orphan (cluster, job id, its tag)")
    t.eq(squeue_field(job, "%T") in ("RUNNING", "PENDING"), True,
         "orphans: report leaves the job alone")
    mine = [l for l in env.procs.log("nbgated").splitlines()
            if "belongs to no session" in l and "job %s " % job not in l]
    t.eq(mine, [], "no session's own job is reported as an orphan")
    subprocess.run(["scancel", job], capture_output=True)


def test_ctl(env):
    t = env.tap
    r = env.gw.ctl("--json", "server", "list")
    t.ok(r.returncode == 0 and "sessions" in r.stdout, "nbgatectl server list", r.stderr)
    r = env.gw.ctl("server", "list")
    t.ok(r.returncode == 0 and "alice" in r.stdout, "nbgatectl server list (table) shows alice",
         r.stdout + r.stderr)
    # server continue asks POST .../continue over the admin socket.  alice's job stays as it
    # is for test_scancel: a server that continues is tests/attack/test_continue.py's.
    r = env.gw.ctl("server", "continue", "alice/nosuch")
    t.ok(r.returncode == 1 and "nbgatectl: 404: alice has no server named nosuch running" in
         r.stderr, "nbgatectl server continue alice/nosuch: 404 for that named server",
         r.stdout + r.stderr)
    r = env.gw.ctl("server", "continue")
    t.ok(r.returncode == 2 and "server continue USER[/SERVER]" in r.stderr,
         "nbgatectl server continue without USER: the usage", r.stdout + r.stderr)


def test_rest_bad_token(env):
    """slurmrestd only: a cluster whose token file holds an expired token; the start fails
    and the user's pending page says why."""
    t = env.tap
    st, m = env.api.call("POST", "/users/ursula/server", {"cluster": "restbad"})
    t.eq(st, 202, "ursula's server on cluster restbad (expired slurmrestd token) requested")
    m, seen = env.api.wait("ursula", phases=("ended",), timeout=60)
    reason = (m or {}).get("state", {}).get("reason") or ""
    t.ok("slurmrestd token file" in reason and "expired" in reason,
         "the session ends: the slurmrestd token has expired", reason)
    url = env.gw.ctl("login-url", "ursula").stdout.strip()
    u = urllib.parse.urlsplit(url)
    st, hd, _ = env.gw.request("GET", u.path + "?" + u.query)
    cookie = re.match(r"(__Host-nbgate-session=[^;]+)", hd.get("set-cookie", ""))
    st, _, out = env.gw.request("GET", "/hub/spawn-pending",
                                cookie=cookie.group(1) if cookie else None)
    out = out.decode("utf-8", "replace")
    t.ok(st == 200 and "expired" in out and "slurmrestd token file" in out,
         "ursula's pending page says the slurmrestd token has expired", out[-1200:])


def session_world(env, edit=None, gw_extra=""):
    """The shared SLURM test environment (started if it is down), a World for the
    jobs, and a started nbgated with the two clusters of World.config(); @edit may
    rewrite that YAML first. Sets env.w, env.gw, env.api (an admin's token); a
    failure is reported and ends the test."""
    if testenv("status").returncode != 0:
        r = testenv("start")
        if r.returncode != 0:
            env.tap.ok(False, "the SLURM test environment starts", r.stderr[-2000:])
            env.finish()
    vals = parse_env(testenv("env").stdout)
    os.environ.update(vals)
    env.w = World(env, vals)
    env.gw = Gateway(env, extra=gw_extra)
    cfg = env.w.config(env.gw.ssh_port)
    with open(env.gw.config, "a") as f:
        f.write(edit(cfg) if edit is not None else cfg)
    try:
        env.gw.start()
    except Exception as e:
        env.tap.ok(False, "nbgated starts with its clusters", e)
        env.finish()
    env.api = Api(env.gw, env.gw.token("admin"))


def session_cleanup(env, servers):
    """Stops @servers ("user" or "user/name"), waits until their jobs have left the
    queue, keeps the jobs' output in the artifacts, and removes the scratch
    directory if nothing failed."""
    names = []
    for s in servers:
        user, _, name = s.partition("/")
        try:
            env.api.call("DELETE", "/users/%s/server%s" % (user, "s/" + name if name else ""))
        except Exception:
            pass
        names.append("nbgate-%s%s" % (user, "-" + name if name else ""))
    wait_for(lambda: subprocess.run(["squeue", "-h", "-u", "nbcommunity", "-n", ",".join(names)],
                                    capture_output=True, text=True).stdout.strip() == "", 60)
    env.w.keep_logs()
    if env.tap.failed == 0:
        shutil.rmtree(env.w.dir, ignore_errors=True)


def main(slurm_api="cli"):
    global SLURM_API
    SLURM_API = slurm_api
    env = Env("test_session" if slurm_api == "cli" else "test_session_" + slurm_api)
    env.tap.diag("cluster hpc reaches SLURM through %s" % slurm_api)
    session_world(env)
    env.user_tokens = {u: env.gw.token(u) for u in ("alice", "bob", "carol")}
    # dave's session runs out of walltime (SLURM counts in minutes) while the rest goes on.
    st, m = env.api.call("POST", "/users/dave/server", {"walltime": "1m"})
    env.tap.eq(st, 202, "dave's 1-minute server requested")
    try:
        for fn in (test_check_templates, test_full_path, test_named_container, test_metrics, test_cut, test_bad_requests, test_pbs,
                   test_restart, test_adopt, test_notebook_killed, test_pbs_stop, test_stop_queued,
                   test_walltime, test_orphans, test_ctl, test_scancel):
            env.run(fn)
        if SLURM_API == "slurmrestd":
            env.run(test_rest_bad_token)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        partition("UP")
        session_cleanup(env, ("alice", "bob", "carol", "dave", "erin", "frank", "alice/lab"))
    env.finish()


if __name__ == "__main__":
    main()
