"""test_continue.py: continue in a new job (sessions.continue, issue 18) against the real
SLURM of scripts/testenv.sh, and the attacks on its second enrollment.

cuser's server continues while its job runs: the successor is submitted with the same
options, its agent enrolls with a secret of its own, the route moves, the old job is
cancelled; a loop of requests runs across the switch and counts its answers.  duser's
successor waits in a DOWN partition: nbgated restarts meanwhile, the old job is
cancelled first (the server shows as pending on the successor, not stopped), and
impostors (plain OpenSSH, as in test_enroll_bind.py) try the successor's secret on
another user's route, for the old job, and before the successor runs; the old job's
secret is tried after the switch.
"""
import calendar
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Env, wait_for, ws_execute  # noqa: E402
from test_pages import get, login  # noqa: E402
from test_progress import Stream, prog_path  # noqa: E402
import test_session as ts  # noqa: E402
import test_enroll_bind as eb  # noqa: E402

USERS = ("cuser", "duser")


def isotime(s):
    """Seconds since the epoch of the API's "2026-12-07T07:01:02.123456Z"."""
    base, _, frac = s.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + float("0." + (frac or "0"))


def events(env, user):
    st, m = env.api.server(user)
    return [(e["event"], e.get("cause") or "", isotime(e["time"]))
            for e in (m or {}).get("events", [])]


def state(env, user):
    return (env.api.server(user)[1] or {}).get("state", {})


def sbatch_lines(job):
    """The #SBATCH lines of a job's script, less those that name its output."""
    r = ts.scontrol("write", "batch_script", job, "-")
    return [l for l in r.stdout.splitlines() if l.startswith("#SBATCH") and
            not re.match(r"#SBATCH --(output|error)=", l)]


def job_fields(job):
    r = ts.scontrol("show", "job", job)
    return dict(re.findall(r"\b(TimeLimit|Partition|NumCPUs|MinMemoryNode|Account|JobName|"
                           r"Comment)=(\S+)", r.stdout))


def loop(env, user, stop, out):
    """GET /user/USER/api/status as fast as one client goes: (start, end, status)."""
    tok = env.user_tokens[user]
    while not stop.is_set():
        t0 = time.time()
        try:
            st, _, _ = env.gw.request("GET", "/user/%s/api/status" % user, token=tok, timeout=10)
        except Exception:
            st = 0
        out.append((t0, time.time(), st))


def started_at(env, user):
    """The notebook server's own start time (api/status): tells two notebooks apart."""
    st, _, out = env.gw.request("GET", "/user/%s/api/status" % user,
                                token=env.user_tokens[user], timeout=10)
    return json.loads(out).get("started") if st == 200 else None


def test_switch(env):
    """cuser: continue while the job runs; the route moves with no 5xx after the switch."""
    t = env.tap
    st, m = env.api.call("POST", "/users/cuser/server", {"walltime": "10m"})
    t.eq(st, 202, "cuser's server requested")
    m, seen = env.api.wait("cuser", timeout=150)
    if not t.ok(m is not None and m["ready"], "cuser's notebook runs", (seen, m)):
        return
    old = m["state"]["job_id"]
    t.eq(m["state"].get("continue"), {"mode": "offer", "before": 900},
         "the model offers continue (sessions.continue: offer)")
    cookie = login(env, "cuser")
    _, _, page = get(env, "/hub/home", cookie)
    t.ok('action="/hub/continue"' in page and "Continue in a new job</button>" in page,
         "the home page has a Continue button (no extend on this cluster)", page[-1500:])
    env.old_secret = eb.steal(old)
    before = started_at(env, "cuser")
    stop, reqs = threading.Event(), []
    th = threading.Thread(target=loop, args=(env, "cuser", stop, reqs), daemon=True)
    th.start()
    time.sleep(1)
    asked = time.time()
    st, j = env.api.call("POST", "/users/cuser/server/continue")
    t.ok(st == 202 and j["state"].get("successor", {}).get("phase") in
         ("submitting", "submitted", "queued"), "POST .../continue: 202, state.successor",
         (st, j))
    st2, j2 = env.api.call("POST", "/users/cuser/server/continue")
    t.eq(st2, 409, "a second continue while one waits: 409")
    wait_for(lambda: state(env, "cuser").get("successor", {}).get("job_id"), 30)
    new = state(env, "cuser").get("successor", {}).get("job_id")
    if not t.ok(new and new != old, "the successor has a job id of its own", (old, new)):
        stop.set()
        return
    both = subprocess.run(["squeue", "-h", "-u", "nbcommunity", "-n", "nbgate-cuser", "-o",
                           "%i"], capture_output=True, text=True, timeout=30).stdout.split()
    t.ok(old in both and new in both, "squeue shows both jobs of cuser", both)
    lo, ln = sbatch_lines(old), sbatch_lines(new)
    t.ok(lo and lo == ln, "the successor's #SBATCH lines are the old job's", (lo, ln))
    t.eq(job_fields(new), job_fields(old), "scontrol shows the same limits, place and comment")
    ok = wait_for(lambda: state(env, "cuser").get("continued_from") == old, 120)
    switched = time.time()
    time.sleep(3)
    stop.set()
    th.join(20)
    s = state(env, "cuser")
    t.ok(ok and s.get("job_id") == new and s.get("phase") == "running" and
         "successor" not in s, "the session follows the successor: running in job %s" % new, s)
    ev = events(env, "cuser")
    sw = [e for e in ev if e[0] == "continued"]
    sub = [e for e in ev if e[0] == "continue-submitted"]
    t.ok(sw and ("job %s -> job %s" % (old, new)) in sw[0][1] and sub and
         new in sub[0][1] and old in sub[0][1],
         "the journal: continue-submitted and continued, naming both jobs", ev)
    at = sw[0][2] if sw else switched
    after = [r for r in reqs if r[0] > at]
    bad_after = [r for r in after if r[2] >= 500 or r[2] == 0]
    bad = [r for r in reqs if r[2] >= 500 or r[2] == 0]
    gaps = [b[1] - a[1] for a, b in zip(reqs, reqs[1:])]
    t.diag("continue: %.1f s from POST to the switch; %d requests (%d after the switch), "
           "5xx or failed: %d in all, %d after; longest gap between answers %.2f s"
           % (at - asked, len(reqs), len(after), len(bad), len(bad_after),
              max(gaps) if gaps else 0))
    t.ok(len(after) >= 5 and not bad_after, "no 5xx for requests made after the switch "
         "(%d of them)" % len(after), bad_after[:5])
    t.ok(len(bad) <= 2, "at most the in-flight requests on the old tunnel failed", bad[:5])
    t.ok(started_at(env, "cuser") not in (None, before),
         "attack old-job-keeps-route: the route serves the new job's notebook, not the old one's",
         (before, started_at(env, "cuser")))
    t.ok(wait_for(lambda: ts.squeue_field(old, "%T") == "", 60),
         "the old job is gone from squeue", ts.squeue_field(old, "%T"))
    tok = env.user_tokens["cuser"]
    st, _, body = env.gw.request("POST", "/user/cuser/api/kernels", token=tok, body=b"{}",
                                 headers={"Content-Type": "application/json"})
    kid = json.loads(body)["id"] if st == 201 else None
    t.ok(kid is not None and ws_execute(env.gw, "/user/cuser/", kid, "6*7", token=tok) == "42",
         "a kernel started on the new notebook computes", (st, body[:200]))
    co = s.get("carry_over", {})
    t.ok(co.get("files") is True and co.get("kernel_state") is False and
         "kernel state does not" in co.get("message", ""),
         "the API says files carry over and kernel state does not", s)
    _, _, page = get(env, "/hub/home", cookie)
    t.ok('class="notice continue"' in page and "continued from job %s" % old in page and
         "kernel state does not" in page, "the home page says so too", page[-2000:])
    env.cuser_old, env.cuser_new = old, new


def test_old_job_secret(env):
    """After the switch the old job's one-time secret is worth nothing on the route."""
    t = env.tap
    if not getattr(env, "cuser_old", None) or not env.old_secret:
        t.ok(False, "cuser's switch happened and its old secret was read")
        return
    p = eb.impostor(env, "cuser", env.old_secret, env.cuser_old, "127.0.0.1", "old-secret")
    t.ok(wait_for(lambda: p.poll() is not None, 20) and p.returncode != 0 and
         eb.served(env, "cuser")[1] != b"IMPOSTOR\n" and
         state(env, "cuser").get("phase") == "running" and
         state(env, "cuser").get("job_id") == env.cuser_new,
         "attack old-job-reclaims-route: the old job's secret, claiming the old job, is "
         "refused after the switch; the session runs on in the new job",
         env.procs.log("old-secret")[-500:])
    env.procs.stop("old-secret")


def test_pending_successor(env):
    """duser: the successor waits; restart; the old job ends first; the impostors."""
    t = env.tap
    st, m = env.api.call("POST", "/users/duser/server", {"queue": "compute", "walltime": "10m"})
    m, seen = env.api.wait("duser", timeout=150)
    if not t.ok(m is not None and m["ready"], "duser's notebook runs in queue compute", seen):
        return
    old = m["state"]["job_id"]
    ts.partition("DOWN")
    r = env.gw.ctl("server", "continue", "duser")
    t.ok(r.returncode == 0 and r.stdout.startswith("duser: continues in a new job ("),
         "duser continues in a new job (nbgatectl server continue)", r.stdout + r.stderr)
    wait_for(lambda: state(env, "duser").get("successor", {}).get("scheduler_reason"), 60)
    s = state(env, "duser")
    new = s.get("successor", {}).get("job_id")
    t.ok(new and s["successor"]["phase"] == "queued" and s["successor"].get("scheduler_reason")
         and s["phase"] == "running", "the model shows the successor waiting, and why "
         "(%s)" % s.get("successor", {}).get("scheduler_reason"), s)
    cookie = login(env, "duser")
    _, _, page = get(env, "/hub/home", cookie)
    t.ok("continues in a new job (job %s), queued" % new in page and "kernel state does not"
         in page, "the home page shows the successor's queue state", page[-2000:])
    if not new:
        return
    p = Stream(env.gw, prog_path("duser"), token=env.api.token, timeout=30)
    ev = p.next(30)
    p.close()
    t.ok(isinstance(ev, dict) and ev.get("successor", {}).get("job_id") == new and
         ev["successor"].get("phase") == "queued" and
         ev.get("carry_over", {}).get("kernel_state") is False,
         "the progress stream's event carries the successor's queue state", ev)
    env.gw.stop()
    env.gw.start()
    s = state(env, "duser")
    t.ok(s.get("job_id") == old and s.get("successor", {}).get("job_id") == new,
         "after a restart of nbgated the successor is still there", s)
    secret = eb.steal(new)
    t.ok(secret is not None and secret != eb.steal(old),
         "the successor's script has a one-time secret of its own", new)
    p = eb.impostor(env, "cuser", secret, new, "127.0.0.1", "succ-other-user")
    t.ok(wait_for(lambda: p.poll() is not None, 20) and p.returncode != 0 and
         eb.served(env, "cuser")[1] != b"IMPOSTOR\n",
         "attack successor-enroll-other-user: duser's successor secret on cuser's route is "
         "refused", env.procs.log("succ-other-user")[-500:])
    env.procs.stop("succ-other-user")
    p = eb.impostor(env, "duser", secret, old, "127.0.0.1", "succ-old-job")
    t.ok(wait_for(lambda: p.poll() is not None, 20) and p.returncode != 0 and
         re.search(r"the agent is not in batch job %s" % new, eb.gwlog(env)),
         "attack successor-secret-old-job: the successor's secret claiming the old (running) "
         "job is refused", env.procs.log("succ-old-job")[-500:])
    env.procs.stop("succ-old-job")
    p = eb.impostor(env, "duser", secret, new, "127.0.0.1", "succ-pending")
    t.ok(wait_for(lambda: p.poll() is not None, 30) and
         re.search(r"route duser: enrollment from 127\.0\.0\.1 \(job %s\): job %s is not "
                   r"running" % (new, new), eb.gwlog(env)) and
         eb.served(env, "duser")[1] != b"IMPOSTOR\n",
         "attack successor-enroll-pending: the successor's secret before its job runs is "
         "refused; the old notebook still serves", eb.gwlog(env)[-1500:])
    env.procs.stop("succ-pending")
    subprocess.run(["scancel", old], timeout=30)
    ok = wait_for(lambda: state(env, "duser").get("job_id") == new, 60)
    m = env.api.server("duser")[1] or {}
    s = m.get("state", {})
    t.ok(ok and s.get("phase") == "queued" and s.get("continued_from") == old and
         m.get("pending") == "spawn" and m.get("stopped") is False,
         "the old job ended first: the server is pending on the successor, not stopped", m)
    ts.partition("UP")
    m, seen = env.api.wait("duser", timeout=150)
    t.ok(m is not None and m["ready"] and m["state"]["job_id"] == new and
         ts.proxied(env, "duser")[0] == 200,
         "the successor's own agent enrolls (the refused attempts left its secret good)",
         (seen, m and m["state"]))
    ev = [e[0] for e in events(env, "duser")]
    t.ok("continued" in ev and "reloaded" in ev, "the journal: reloaded, then continued", ev)


def test_auto(env):
    """sessions.continue: auto (a reload): cuser's running server, on a cluster without
    extend, gets its successor from nbgated itself once continue_before reaches it."""
    t = env.tap
    if not getattr(env, "cuser_new", None):
        t.ok(False, "cuser's first switch happened")
        return
    env.api.call("DELETE", "/users/duser/server")     # not continued again meanwhile
    with open(env.gw.config) as f:
        cfg = f.read()
    with open(env.gw.config, "w") as f:
        f.write(cfg.replace("sessions:\n", "sessions:\n  continue: auto\n  continue_before: 1h\n", 1))
    r = env.gw.ctl("reload")
    t.ok(r.returncode == 0, "reloaded with sessions.continue: auto, continue_before: 1h", r.stderr)
    ok = wait_for(lambda: state(env, "cuser").get("continued_from") == env.cuser_new, 120)
    s = state(env, "cuser")
    ev = events(env, "cuser")
    sub = [e for e in ev if e[0] == "continue-submitted"]
    t.ok(ok and s.get("phase") == "running" and len(sub) == 2 and
         "sessions.continue: auto" in sub[-1][1],
         "nbgated continued cuser by itself (10m walltime < 1h): running in a third job", (s, ev))
    t.ok(ts.proxied(env, "cuser")[0] == 200, "and the route serves the third job's notebook")


def test_restart_submitting(env):
    """kill -9 while the successor is being submitted: after the restart it is adopted
    (found by its comment) or the journal says it was not recorded; no job is left over."""
    t = env.tap
    s = state(env, "cuser")
    if not t.ok(s.get("phase") == "running", "cuser runs (sessions.continue back to offer)", s):
        return
    with open(env.gw.config) as f:
        cfg = f.read()
    with open(env.gw.config, "w") as f:
        f.write(cfg.replace("  continue: auto\n  continue_before: 1h\n", ""))
    old = s["job_id"]
    st, j = env.api.call("POST", "/users/cuser/server/continue")
    env.gw.stop(signal.SIGKILL)
    killed = time.time()
    env.gw.start()

    def settled():
        ev = events(env, "cuser")
        return state(env, "cuser").get("continued_from") == old or any(
            e[0] == "continue-failed" and e[2] > killed for e in ev)
    ok = wait_for(settled, 120)
    adopted = state(env, "cuser").get("continued_from") == old
    t.diag("kill -9 during the successor's submission: %s" % (
        "adopted after the restart" if adopted else "not submitted, journaled"))
    t.ok(st == 202 and ok, "after kill -9 the successor is adopted, or the journal says it was "
         "not recorded", events(env, "cuser")[-6:])

    def jobs():
        return subprocess.run(["squeue", "-h", "-u", "nbcommunity", "-n", "nbgate-cuser", "-o",
                               "%i"], capture_output=True, text=True, timeout=30).stdout.split()
    t.ok(wait_for(lambda: jobs() == [state(env, "cuser").get("job_id")], 60),
         "no job is left over: squeue shows the server's job alone", (jobs(), state(env, "cuser")))


TESTS = (test_switch, test_old_job_secret, test_pending_successor, test_auto,
         test_restart_submitting)


def main():
    env = Env("test_continue")
    ts.session_world(env)
    env.user_tokens = {u: env.gw.token(u) for u in USERS}
    eb.impostor_web(env, ("cuser", "duser"))
    try:
        for fn in TESTS:
            env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        ts.partition("UP")          # test_pending_successor took it down
        ts.session_cleanup(env, USERS)
    env.finish()


if __name__ == "__main__":
    main()
