"""test_attribution.py: community-account jobs are attributed to their gateway
users (daemon/sess/outbox.c, daemon/ATTRIBUTION.md) and usage is reported per
user (GET /hub/api/usage, nbgatectl usage).

Real parts: nbgated, SLURM (slurmdbd, sacct) of the shared test environment,
nbgate-agent and Jupyter in the jobs. The allocation service that gateways
report their end users to cannot be installed here, so a STAND-IN takes its
place: a small HTTPS server in this test (AllocationStandIn) that records
every request it receives (method, path, headers, JSON body) in memory and in
allocation-standin.jsonl among the artifacts; the tests check that record.
It answers 201, or 400 for gateway users it is told to refuse, or 503 for
the canary, a record nbgated keeps retrying whose retries count periods of
nbgated's own retry timer (instead of sleeping and hoping they have passed).
"""
import http.server
import json
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, free_port, wait_for  # noqa: E402
from test_session import session_cleanup, session_world  # noqa: E402

TOKEN = "attr-" + os.urandom(12).hex()
TOKEN2 = "attr2-" + os.urandom(12).hex()


class AllocationStandIn:
    """STAND-IN for an allocation service's "gateway user attribute" endpoint."""

    def __init__(self, env, port):
        self.env, self.port = env, port
        self.requests = []
        self.refuse = set()
        self.busy = set()       # answered 503: nbgated retries them
        self.lock = threading.Lock()
        self.log = env.path("allocation-standin.jsonl")
        self.cert, self.key = env.path("standin.crt"), env.path("standin.key")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", self.key, "-out", self.cert, "-days", "1",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("openssl: " + r.stderr)
        self.srv = None

    def handler(self):
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                rec = {"time": time.time(), "method": "POST", "path": self.path,
                       "headers": dict(self.headers.items()), "body": body}
                with outer.lock:
                    outer.requests.append(rec)
                    with open(outer.log, "a") as f:
                        f.write(json.dumps(rec) + "\n")
                    user = body.get("gateway_user") if isinstance(body, dict) else None
                    refuse = user is not None and user in outer.refuse
                    busy = user is not None and user in outer.busy
                if refuse:
                    out, code = b'{"error": "gateway user not registered"}', 400
                elif busy:
                    out, code = b'{"error": "try again later"}', 503
                else:
                    out, code = b'{"status": "recorded"}', 201
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
        return H

    def up(self):
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self.handler())
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def down(self):
        if self.srv is not None:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None

    def of(self, user):
        with self.lock:
            return [r for r in self.requests if r["body"] and r["body"].get("gateway_user") == user]


def metric(env, name):
    st, _, out = env.gw.request("GET", "/hub/metrics", token=env.gw.admin_token)
    for line in out.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def start(env, user, body):
    st, m = env.api.call("POST", "/users/%s/server" % user, body)
    env.tap.eq(st, 202, "%s's community server requested" % user)
    m, seen = env.api.wait(user, phases=("submitted", "queued", "starting", "running"),
                           timeout=90)
    job = m and m["state"]["job_id"]
    env.tap.ok(job is not None, "%s's job was submitted (%s)" % (user, job), seen)
    return job, m and m["state"]["session"]


CANARY = "yolanda"


def canary_start(env):
    """A record the stand-in answers 503: nbgated retries it on its own
    backoff timer (retry.initial 1 s, retry.max 2 s) until canary_stop()."""
    env.standin.busy.add(CANARY)
    job, _ = start(env, CANARY, {})
    env.tap.ok(job is not None and wait_for(lambda: env.standin.of(CANARY), 30),
               "the canary's record reached the stand-in (and was answered 503)")


def canary_rounds(env, n=3):
    """Waits until nbgated has retried the canary n more times: n retry
    timers fired, the last two retry.max apart, on nbgated's clock.  A record
    wrongly left due would have been retried by then, however slow the
    machine: it is due no later than retry.max after its answer."""
    k = len(env.standin.of(CANARY))
    return wait_for(lambda: len(env.standin.of(CANARY)) >= k + n, 120)


def canary_stop(env):
    env.standin.busy.discard(CANARY)
    env.api.call("DELETE", "/users/%s/server" % CANARY)
    env.tap.ok(wait_for(lambda: any(x["user"] == CANARY and x["state"] == "sent"
                                    for x in outbox_rows(env)) and
                        metric(env, "nbgate_outbox_pending") == 0, 60),
               "the canary is delivered once the stand-in takes it: nothing pending")


def outbox_rows(env):
    db = sqlite3.connect(os.path.join(env.gw.dir, "nbgate.db"))
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM outbox ORDER BY id")]
    db.close()
    return rows


def test_delivered(env):
    """A community job: one record, with the SLURM job id and the bearer token."""
    t = env.tap
    job, sid = start(env, "ursula", {"cores": 2, "walltime": "30m"})
    env.ursula = (job, sid)
    env.ursula_running = None
    if job is None:
        return
    t.ok(wait_for(lambda: env.standin.of("ursula"), 30), "the stand-in received ursula's record")
    reqs = env.standin.of("ursula")
    t.eq(len(reqs), 1, "exactly one request for ursula")
    if not reqs:
        return
    r = reqs[0]
    b = r["body"]
    t.eq(r["path"], "/v1/gateway-user-attributes", "POSTed to the configured path")
    t.eq(r["headers"].get("Authorization"), "Bearer " + TOKEN, "bearer token from token_file")
    t.eq(r["headers"].get("Content-Type"), "application/json", "JSON content type")
    t.eq(b["job_id"], job, "job_id is the SLURM job id")
    t.eq(b["gateway_user"], "ursula", "gateway_user")
    t.eq(b["gateway"], "nbgate-test", "gateway (accounting.gateway_name)")
    t.eq(b["account"], "community", "account charged")
    t.eq(b["resource"], "hpc", "resource: the cluster")
    t.eq(b["queue"], "debug", "queue")
    t.eq(b["cores"], 2, "cores")
    t.eq(b["walltime_seconds"], 1800, "walltime_seconds")
    t.eq(b["memory_mib"], 256, "memory_mib")
    t.eq(b["local_user"], "nbcommunity", "local_user: the community unix user")
    t.eq(b["session_id"], sid, "session_id")
    t.eq(b["scheduler_comment"], "nbgate:user=ursula:session=%d" % sid, "scheduler_comment")
    sub = time.mktime(time.strptime(b["submit_time"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    t.ok(abs(sub - time.time()) < 120, "submit_time is RFC 3339 UTC and recent (%s)"
         % b["submit_time"])
    def sacct():
        return subprocess.run(["sacct", "-n", "-X", "-P", "-j", job, "-o", "Account,User"],
                              capture_output=True, text=True, timeout=30).stdout.strip()
    wait_for(lambda: sacct() != "", 60, 1)     # slurmdbd may lag behind sbatch
    t.eq(sacct(), "community|nbcommunity", "SLURM charged the community account for the job")
    comment = subprocess.run(["squeue", "-h", "-j", job, "-o", "%k"], capture_output=True,
                             text=True, timeout=30).stdout.strip()
    t.eq(comment, b["scheduler_comment"], "the job's comment in SLURM is scheduler_comment")
    t.ok(wait_for(lambda: metric(env, "nbgate_outbox_delivered_total") == 1, 10),
         "nbgate_outbox_delivered_total 1")
    rows = [x for x in outbox_rows(env) if x["user"] == "ursula"]
    t.ok(len(rows) == 1 and rows[0]["state"] == "sent" and rows[0]["job"] == job,
         "the outbox row is kept, marked sent", rows)
    m, seen = env.api.wait("ursula", timeout=120)
    if m is not None and m["ready"]:
        env.ursula_running = time.time()    # the job started before this


def test_down_restart(env):
    """Endpoint down while a job is submitted; nbgated restarts; delivered once."""
    t = env.tap
    env.standin.down()
    job, sid = start(env, "victor", {})
    if job is None:
        return
    t.ok(wait_for(lambda: "job %s): attempt 1 failed" % job in env.procs.log("nbgated"), 30),
         "the first attempt failed and was logged (user, session, job)")
    t.eq(metric(env, "nbgate_outbox_pending"), 1, "one record pending")
    env.api.call("DELETE", "/users/victor/server")
    env.gw.stop(signal.SIGTERM)
    env.gw.start()
    t.eq(metric(env, "nbgate_outbox_pending"), 1, "still pending after the restart")
    t.ok(wait_for(lambda: "job %s): attempt 2 failed" % job in env.procs.log("nbgated"), 30),
         "the restarted nbgated read it back and tried again (endpoint still down)")
    t.eq(metric(env, "nbgate_outbox_pending"), 1, "so it is still pending")
    t.eq(env.standin.of("victor"), [], "nothing reached the stand-in meanwhile")
    env.standin.up()
    t.ok(wait_for(lambda: env.standin.of("victor"), 30),
         "after the endpoint comes back victor's record is delivered")
    t.ok(wait_for(lambda: metric(env, "nbgate_outbox_pending") == 0, 10), "nothing pending")
    # Several retry periods on nbgated's clock, counted by a record it
    # keeps retrying: a duplicate would show up by then.
    canary_start(env)
    t.ok(canary_rounds(env), "nbgated retried the canary three more times")
    reqs = env.standin.of("victor")
    t.eq(len(reqs), 1, "delivered exactly once")
    t.ok(reqs and reqs[0]["body"]["job_id"] == job, "with victor's job id", reqs)
    t.ok((metric(env, "nbgate_outbox_failed_attempts_total") or 0) >= 1,
         "the failed attempt after the restart is counted")


def test_rejected(env):
    """A 400 answer: the record is rejected with the answer, and not retried."""
    t = env.tap
    env.standin.refuse.add("wendy")
    job, sid = start(env, "wendy", {})
    if job is None:
        return
    t.ok(wait_for(lambda: env.standin.of("wendy"), 30), "wendy's record reached the stand-in")
    env.api.call("DELETE", "/users/wendy/server")
    # retry.max is 2s: a retry would have come by the canary's next rounds.
    t.ok(canary_rounds(env), "nbgated retried the canary three more times")
    t.eq(len(env.standin.of("wendy")), 1, "a 400 is not retried")
    rows = [x for x in outbox_rows(env) if x["user"] == "wendy"]
    t.ok(len(rows) == 1 and rows[0]["state"] == "rejected" and
         "not registered" in (rows[0]["answer"] or "") and rows[0]["last_error"] == "HTTP 400",
         "the row is marked rejected with the server's answer", rows)
    log = env.procs.log("nbgated")
    t.ok(any("rejected" in l and "wendy" in l and job in l and "not registered" in l
             for l in log.splitlines()), "the refusal is logged naming user and job")
    t.eq(metric(env, "nbgate_outbox_rejected_total"), 1, "nbgate_outbox_rejected_total 1")
    canary_stop(env)


def sacct_job(job):
    """AllocCPUS|ElapsedRaw|State of one job, as sacct says."""
    return subprocess.run(["sacct", "-n", "-X", "-P", "-j", job, "-o",
                           "AllocCPUS,ElapsedRaw,State"], capture_output=True, text=True,
                          timeout=30).stdout.strip()


def test_usage(env):
    """ursula's 2-core job runs about a minute: usage agrees with sacct."""
    t = env.tap
    job, sid = getattr(env, "ursula", (None, None))
    if job is None:
        t.ok(False, "ursula's job exists for the usage test")
        return
    m, seen = env.api.wait("ursula", timeout=120)
    t.ok(m is not None and m["ready"], "ursula's notebook runs", seen)
    running = env.ursula_running or time.time()
    time.sleep(max(0.0, 62 - (time.time() - running)))
    env.api.call("DELETE", "/users/ursula/server")
    m, seen = env.api.wait("ursula", phases=("ended", "stopped"), timeout=90)
    t.ok(wait_for(lambda: "COMPLETED" in sacct_job(job) or "CANCELLED" in sacct_job(job),
                  60, 1), "sacct knows ursula's job ended (%s)" % sacct_job(job))
    f = sacct_job(job).split("|")
    cpus, elapsed = int(f[0]), int(f[1])
    t.ok(elapsed >= 60, "the job ran at least a minute (%d s)" % elapsed)
    t.eq(cpus, 2, "SLURM allocated 2 CPUs")
    r = env.gw.ctl("--json", "usage", "--user", "ursula")
    t.ok(r.returncode == 0, "nbgatectl --json usage --user ursula", r.stderr)
    try:
        u = json.loads(r.stdout)
    except ValueError:
        u = {}
    rows = u.get("usage", [])
    t.eq([(x["user"], x["cluster"]) for x in rows], [("ursula", "hpc")],
         "one row: ursula on hpc")
    t.ok(u.get("sources", {}).get("hpc", "").startswith("ok"), "sacct answered for hpc",
         u.get("sources"))
    if len(rows) != 1:
        return
    x = rows[0]
    want = 2 * elapsed / 3600.0
    t.eq(x["jobs"], 1, "nbgate counts one job")
    t.ok(abs(x["core_hours"] - want) <= 2 * 10 / 3600.0,
         "nbgate core-hours %.4f within 10 s x 2 cores of sacct's %.4f"
         % (x["core_hours"], want))
    t.eq(x["sacct_jobs"], 1, "sacct column: one job")
    t.ok(x["sacct_core_hours"] is not None and abs(x["sacct_core_hours"] - want) < 1e-6,
         "sacct column: AllocCPUS x ElapsedRaw (%s)" % x["sacct_core_hours"])
    r = env.gw.ctl("usage")
    lines = r.stdout.splitlines()
    t.ok(r.returncode == 0 and any(l.split()[:3] == ["ursula", "hpc", "1"] and
                                   len(l.split()) == 6 for l in lines) and
         any(l.startswith("USER") and "SACCT-CORE-H" in l for l in lines),
         "nbgatectl usage prints both columns side by side", r.stdout + r.stderr)
    r = env.gw.ctl("usage", "--since", "yesterday")
    t.ok(r.returncode == 1 and "since" in r.stderr, "a bad --since is refused naming it",
         r.stderr)
    r = env.gw.ctl("--json", "usage", "--user", "nosuchuser")
    t.ok(r.returncode == 0 and json.loads(r.stdout)["usage"] == [],
         "a user without jobs: no rows", r.stdout)


def test_reload_token(env):
    """A new token in token_file is used after a reload (SIGHUP)."""
    t = env.tap
    with open(env.tokfile, "w") as f:
        f.write(TOKEN2 + "\n")
    n = env.procs.log("nbgated").count("reload: configuration")
    env.gw.proc.send_signal(signal.SIGHUP)
    t.ok(wait_for(lambda: env.procs.log("nbgated").count("reload: configuration") > n, 20),
         "nbgated reloaded its configuration")
    job, sid = start(env, "xavier", {})
    if job is None:
        return
    t.ok(wait_for(lambda: env.standin.of("xavier"), 30), "xavier's record was delivered")
    env.api.call("DELETE", "/users/xavier/server")
    reqs = env.standin.of("xavier")
    t.ok(reqs and reqs[0]["headers"].get("Authorization") == "Bearer " + TOKEN2,
         "with the new token")


def test_token_secret(env):
    t = env.tap
    log = env.procs.log("nbgated")
    t.ok(TOKEN not in log and TOKEN2 not in log,
         "the bearer tokens never appear in nbgated's log")
    with open(env.gw.config) as f:
        t.ok(TOKEN not in f.read(), "nor in its configuration")


def main():
    env = Env("test_attribution")
    port = free_port()
    env.standin = AllocationStandIn(env, port)
    env.standin.up()
    tokfile = env.tokfile = env.path("accounting.token")
    with open(tokfile, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(tokfile, 0o600)
    acct = ("accounting:\n"
            "  endpoint: https://127.0.0.1:%d/v1/gateway-user-attributes\n"
            "  token_file: %s\n  ca_file: %s\n  timeout: 5s\n"
            "  retry: {initial: 1s, max: 2s}\n  gateway_name: nbgate-test\n"
            % (port, tokfile, env.standin.cert))
    session_world(env, edit=lambda cfg: cfg + acct)
    env.gw.admin_token = env.gw.token("admin")
    try:
        for fn in (test_delivered, test_down_restart, test_rejected, test_usage,
                   test_reload_token, test_token_secret):
            env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        env.standin.down()
        session_cleanup(env, ("ursula", "victor", "wendy", "xavier", CANARY))
    env.finish()


if __name__ == "__main__":
    main()
