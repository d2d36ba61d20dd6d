"""test_gridengine.py: the Grid Engine backend (scheduler/sched-gridengine.c,
templates/gridengine.sh) against the real single-node cell of
scripts/testenv.sh (Debian's gridengine 8.1.9).

- The bridge alone (tests/unit/sched-cli), LOCAL transport as nbcommunity and
  over SSH: submit, tracking to the end with qacct's exit status, qstat -g c,
  listing with the context tag, qdel.
- nbgated with a gridengine cluster over SSH, charged to the community account:
  spawn -> qsub -> agent -> notebook through the proxy -> a kernel computes 1+1;
  the orphan sweep finds a tagged job no session owns; a job in Eqw shows Grid
  Engine's reason on the pending page; restarts with a queued and a running job
  cancel neither; stop -> qacct shows the job ended; h_rt ends a 1-minute
  session with "walltime" as the reason. A user-charged cluster runs
  bob's notebook as bob (a certificate from his login).

There is no skip: a testenv without Grid Engine fails here (CI installs it with
scripts/deps.sh)."""
import html
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Gateway, binary, kernel_computes, parse_env, testenv,  # noqa: E402
                     wait_for)
from test_session import Api, World, proxied  # noqa: E402
from test_sched import Cli, done, final, ids  # noqa: E402

OK = "#!/bin/sh\n#$ -q debug -l h_rt=60 -o /dev/null -e /dev/null\nsleep 2; echo hi\n"
FAIL = "#!/bin/sh\n#$ -q debug -l h_rt=60 -o /dev/null -e /dev/null\nexit 3\n"
HELD = ("#!/bin/sh\n#$ -q debug -l h_rt=60 -h -N nbgate-nbcommunity -o /dev/null -e /dev/null\n"
        "#$ -ac nbgate_comment=nbgate:user=nbcommunity:session=424242\nsleep 30\n")
EQW_DIR = "/nonexistent/nbgate-gridengine-test"


def ge_env(v):
    return ["SGE_ROOT=%s" % v["NB_SGE_ROOT"], "SGE_CELL=%s" % v["NB_SGE_CELL"],
            "SGE_QMASTER_PORT=%s" % v["NB_SGE_QMASTER_PORT"],
            "SGE_EXECD_PORT=%s" % v["NB_SGE_EXECD_PORT"],
            "PATH=%s:/usr/local/bin:/usr/bin:/bin" % v["NB_SGE_BIN"]]


def ge(v, *args):
    """A Grid Engine command against the cell, as root (a manager)."""
    e = dict(os.environ)
    e.update(dict(x.split("=", 1) for x in ge_env(v)))
    return subprocess.run([os.path.join(v["NB_SGE_BIN"], args[0])] + list(args[1:]),
                          capture_output=True, text=True, timeout=30, env=e)


def qstat_state(v, job):
    """The job's state letters in `qstat -u '*'`, or None when it is not listed."""
    for line in ge(v, "qstat", "-u", "*").stdout.splitlines()[2:]:
        f = line.split()
        if f and f[0] == job:
            return f[4]
    return None


class GeCli(Cli):
    def argv(self, transport, args, backend="gridengine"):
        a = Cli.argv(self, transport, [], backend)
        for e in ge_env(self.v):
            a += ["-e", e]
        return a + list(args)

    def run(self, transport, *args, backend="gridengine", timeout=120):
        return Cli.run(self, transport, *args, backend=backend, timeout=timeout)


def test_bridge(env):
    t, v = env.tap, env.v
    c = GeCli(env, v)
    ev, r = c.run("local", "run", c.script(OK), c.script(FAIL))
    f = final(ev)
    jid = ids(ev)
    t.ok(len(jid) == 2, "local: qsub -terse as nbcommunity returns two ids", r.stderr[-500:])
    ends = sorted((f.get(j, {}).get("end"), f.get(j, {}).get("exit")) for j in jid)
    t.ok(ends == [("completed", 0), ("failed", 3)],
         "local: tracked to the end, exit statuses from qacct", (ends, r.stdout[-1500:]))
    d = done(ev)
    t.ok(d.get("polls", 0) > 0 and d.get("calls", 0) - 2 <= 2 * d["polls"],
         "local: at most one query (+ one qacct) per poll", d)
    ev, r = c.run("ssh", "queues")
    q = ev[0].get("queues") if ev else None
    t.ok(q and sorted(x["name"] for x in q) == ["compute", "debug"],
         "ssh: qstat -g c names debug and compute", r.stdout + r.stderr[-500:])
    t.ok(q and all(x.get("cpus") == 8 for x in q), "ssh: 8 slots each", q)
    ev, r = c.run("ssh", "submit", c.script(HELD))
    held = ids(ev)
    t.eq(len(held), 1, "ssh: a held job submitted")
    ev, r = c.run("ssh", "list")
    mine = [e for e in ev if e["event"] == "listed" and held and e.get("id") == held[0]]
    t.ok(mine and mine[0].get("comment") == "nbgate:user=nbcommunity:session=424242" and
         mine[0].get("user") == "nbcommunity", "ssh: list shows the job with its -ac tag",
         r.stdout[-1000:])
    ev, r = c.run("local", "query", *held)
    st = ev[0]["jobs"].get(held[0], {}) if ev and held and ev[0].get("jobs") else {}
    t.ok(st.get("state") == "pending" and "hold" in (st.get("reason") or ""),
         "local: the held job is pending, qstat -j says why", st)
    if held:
        ev, r = c.run("ssh", "cancel", held[0])
        t.ok(wait_for(lambda: qstat_state(v, held[0]) is None, 30), "ssh: qdel removes it")


def test_full_path(env):
    t, v = env.tap, env.v
    st, m = env.api.call("POST", "/users/alice/server", {"cluster": "ge"})
    t.eq(st, 202, "alice's server on the Grid Engine cluster: 202")
    m, seen = env.api.wait("alice", timeout=150)
    t.ok(m is not None and m["ready"], "alice's notebook becomes ready", (seen, m))
    t.diag("phases seen: %s" % seen)
    job = m and m["state"]["job_id"]
    env.alice_job = job
    t.ok(job and job.isdigit(), "the job id is qsub's", job)
    if not job:
        return
    r = ge(v, "qstat", "-j", job)
    t.ok("owner:                      nbcommunity" in r.stdout and
         "nbgate_comment=nbgate:user=alice:session=%d" % m["state"]["session"] in r.stdout and
         "job_name:                   nbgate-alice" in r.stdout and
         "parallel environment:  smp range: 1" in r.stdout,
         "qstat -j: runs as nbcommunity, in smp, named and tagged for alice", r.stdout[-1500:])
    t.eq(qstat_state(v, job), "r", "qstat: the job runs")
    st, out = proxied(env, "alice")
    t.eq(st, 200, "the notebook's REST API answers through the proxy")
    kernel_computes(t, env.gw, "/user/alice/", env.user_tokens["alice"],
                    "kernel: 1+1 over the WebSocket through the tunnel")


def test_orphans(env):
    """A job with nbgate's -ac tag that no session owns is reported (orphans: report)."""
    t, v = env.tap, env.v
    c = GeCli(env, v)
    ev, r = c.run("ssh", "submit", c.script(HELD.replace("424242", "999999")))
    job = (ids(ev) or [None])[0]
    t.ok(job is not None, "a tagged job no session owns is submitted", r.stderr[-500:])
    if job is None:
        return
    st, _ = env.api.call("POST", "/orphans")
    t.eq(st, 202, "POST /hub/api/orphans starts a sweep")
    line = "job %s (nbgate:user=nbcommunity:session=999999) carries nbgate's tag" % job
    t.ok(wait_for(lambda: line in env.procs.log("nbgated"), 30),
         "nbgated reports the orphan (cluster, job id, its tag from qstat -j's context)")
    t.eq(qstat_state(v, job), "hqw", "orphans: report leaves the job alone")
    mine = [l for l in env.procs.log("nbgated").splitlines()
            if "belongs to no session" in l and "job %s " % job not in l]
    t.eq(mine, [], "alice's own job is not reported as an orphan")
    ge(v, "qdel", job)


def test_user(env):
    """charging: user: nbgated logs in as bob (certificate from his login), the job is bob's."""
    t, v = env.tap, env.v
    st, m = env.api.call("POST", "/users/bob/server", {"cluster": "geu"})
    t.eq(st, 202, "bob's server on the user-charged Grid Engine cluster: 202")
    m, seen = env.api.wait("bob", timeout=150)
    t.ok(m is not None and m["ready"], "bob's notebook becomes ready", (seen, m and m["state"]))
    job = m and m["state"]["job_id"]
    r = ge(v, "qstat", "-j", job or "0")
    t.ok(job and "owner:                      bob" in r.stdout, "the job runs as bob",
         r.stdout[-800:])
    st, out = proxied(env, "bob")
    t.eq(st, 200, "bob's notebook answers through the proxy")
    env.api.call("DELETE", "/users/bob/server")
    t.ok(job and wait_for(lambda: qstat_state(v, job) is None, 60), "stopped: qdel as bob")


def test_eqw(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/erin/server", {"cluster": "geeqw"})
    t.eq(st, 202, "erin's server on a cluster whose jobs cannot start (-wd to nowhere)")
    m, seen = env.api.wait("erin", phases=("queued",), timeout=60)
    reason = (m and m["state"].get("scheduler_reason")) or ""
    wait_for(lambda: "chdir" in (env.api.server("erin")[1]["state"].get("scheduler_reason")
                                 or ""), 30)
    st, m = env.api.server("erin")
    reason = m["state"].get("scheduler_reason") or ""
    t.ok(m["state"]["phase"] == "queued" and EQW_DIR in reason,
         "the Eqw job is queued with Grid Engine's error reason", m["state"])
    st, _, body = env.gw.request("GET", "/hub/spawn-pending", token=env.user_tokens["erin"])
    page = html.unescape(body.decode(errors="replace"))
    t.ok(st == 200 and EQW_DIR in page, "the pending page shows why", (st, page[-1500:]))
    job = m["state"]["job_id"]
    env.api.call("DELETE", "/users/erin/server")
    t.ok(wait_for(lambda: qstat_state(env.v, job) is None, 30), "stopping it: qdel removes it")


def test_restart(env):
    """A queued and a running Grid Engine job survive SIGTERM and kill -9 of nbgated."""
    t, v = env.tap, env.v
    r = ge(v, "qmod", "-d", "compute")
    t.ok(r.returncode == 0, "queue compute is disabled (jobs wait in it)", r.stderr)
    st, m = env.api.call("POST", "/users/carol/server", {"cluster": "ge", "queue": "compute"})
    t.eq(st, 202, "carol's server requested in queue compute")
    m, seen = env.api.wait("carol", phases=("queued",), timeout=60)
    job = m and m["state"]["job_id"]
    t.ok(job is not None and m["state"]["phase"] == "queued", "carol is queued", m and m["state"])
    if job is None or getattr(env, "alice_job", None) is None:
        return
    before = {u: env.api.server(u)[1]["state"]["job_id"] for u in ("alice", "carol")}
    for how in (signal.SIGTERM, signal.SIGKILL):
        env.gw.stop(how)
        env.gw.start()
        after = {}
        for u in before:
            st, m = env.api.server(u)
            after[u] = (st, m and m["state"]["job_id"], m and m["state"]["phase"])
        t.ok(all(after[u][1] == before[u] for u in before),
             "after %s: both sessions are back with their jobs" % how.name, after)
        t.ok(wait_for(lambda: proxied(env, "alice")[0] == 200, 60),
             "after %s: alice is reached again (agent reconnected)" % how.name)
        t.eq(env.api.server("carol")[1]["state"]["phase"], "queued",
             "after %s: carol is still queued" % how.name)
    states = {u: qstat_state(v, before[u]) for u in before}
    t.eq(states, {"alice": "r", "carol": "qw"}, "no job was cancelled by the restarts")
    ge(v, "qmod", "-e", "compute")
    m, seen = env.api.wait("carol", timeout=150)
    t.ok(m is not None and m["ready"], "the queued one still starts after the restarts",
         (seen, m and m["state"]))


def test_stop(env):
    t, v = env.tap, env.v
    job = getattr(env, "alice_job", None)
    if job is None:
        t.ok(False, "alice's job to stop")
        return
    st, _ = env.api.call("DELETE", "/users/alice/server")
    t.ok(st in (202, 204), "stop alice's server", st)
    m, seen = env.api.wait("alice", phases=("stopped", "failed", "ended"), timeout=60)
    t.ok(wait_for(lambda: qstat_state(v, job) is None, 60), "the job leaves qstat")
    acct = {}

    def ended():
        r = ge(v, "qacct", "-j", job)
        acct.update(k.split(None, 1) for k in r.stdout.splitlines() if len(k.split(None, 1)) == 2)
        return r.returncode == 0 and "end_time" in acct

    t.ok(wait_for(ended, 30), "qacct shows the job ended", acct)
    t.ok(acct.get("owner", "").strip() == "nbcommunity" and acct.get("jobname", "").strip() ==
         "nbgate-alice", "qacct: nbcommunity's job nbgate-alice", acct)
    # Usage through the same ops table: qacct -j -b, attributed to alice by the job id.
    r = env.gw.ctl("--json", "usage", "--user", "alice")
    try:
        u = json.loads(r.stdout)
    except ValueError:
        u = {}
    rows = [x for x in u.get("usage", []) if x.get("cluster") == "ge"]
    t.ok(u.get("sources", {}).get("ge", "").startswith("ok"), "qacct answered for ge",
         (u.get("sources"), r.stderr))
    try:
        secs = (time.mktime(time.strptime(acct["end_time"].strip(), "%a %b %d %H:%M:%S %Y")) -
                time.mktime(time.strptime(acct["start_time"].strip(), "%a %b %d %H:%M:%S %Y")))
    except (KeyError, ValueError):
        secs = -1
    t.ok(len(rows) == 1 and rows[0]["sacct_jobs"] >= 1 and secs > 0 and
         rows[0]["sacct_core_hours"] is not None and
         rows[0]["sacct_core_hours"] >= secs / 3600.0 - 1e-6,
         "usage: alice's job from qacct, 1 slot x %s s" % secs, rows)


def test_walltime(env):
    """h_rt (seconds in Grid Engine) ends dave's 1-minute session; qacct says why."""
    t = env.tap
    m, seen = env.api.wait("dave", phases=("ended",), timeout=200)
    t.ok(m is not None and "walltime" in (m["state"]["reason"] or ""),
         "dave's 1-minute session ends: walltime ran out", m and m["state"])


def config(w, v, ssh_port):
    env_lines = "    environment:\n" + "".join('      - "%s"\n' % e for e in ge_env(v))
    ge_c = w.cluster("ge", "gridengine").replace("    scheduler: gridengine\n",
                                                  "    scheduler: gridengine\n" + env_lines)
    bad = w.cluster("geeqw", "gridengine").replace(
        "    scheduler: gridengine\n", "    scheduler: gridengine\n" + env_lines +
        "    extra_directives: [\"-wd %s\"]\n" % EQW_DIR)
    user = w.cluster("geu", "gridengine", user_ca=v["NB_SSH_USER_CA"]).replace(
        "    scheduler: gridengine\n", "    scheduler: gridengine\n" + env_lines)
    return ("auth:\n  admins: [admin]\n"
            "sessions:\n  gateway_address: 127.0.0.1:%d\n  max_per_user: 3\n"
            "  named_servers: 1\n  start_timeout: 3m\n  orphans: report\n"
            "credentials:\n  from_login: true\n  certificate_lifetime: 40m\n"
            "clusters:\n%s%s%s" % (ssh_port, ge_c, bad, user))


def main():
    env = Env("test_gridengine")
    if testenv("status").returncode != 0:
        r = testenv("start")
        if r.returncode != 0:
            env.tap.ok(False, "the test environment (with Grid Engine) starts", r.stderr[-2000:])
            env.finish()
    env.v = parse_env(testenv("env").stdout)
    os.environ.update(env.v)
    env.tap.ok(os.path.isdir(env.v.get("NB_SGE_ROOT", "/nonexistent")) and
               ge(env.v, "qstat", "-g", "c").returncode == 0,
               "the test environment has a Grid Engine cell that answers")
    env.w = World(env, env.v)
    env.gw = Gateway(env)
    with open(env.gw.config, "a") as f:
        f.write(config(env.w, env.v, env.gw.ssh_port))
    try:
        env.gw.start()
    except Exception as e:
        env.tap.ok(False, "nbgated starts with its Grid Engine clusters", e)
        env.finish()
    env.api = Api(env.gw, env.gw.token("admin"))
    env.user_tokens = {u: env.gw.token(u) for u in ("alice", "bob", "carol", "erin")}
    st, m = env.api.call("POST", "/users/dave/server", {"cluster": "ge", "walltime": "1m"})
    env.tap.eq(st, 202, "dave's 1-minute server requested")
    try:
        for fn in (test_bridge, test_full_path, test_orphans, test_user, test_eqw, test_restart,
                   test_stop, test_walltime):
            env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        ge(env.v, "qmod", "-e", "compute")
        for u in ("alice", "bob", "carol", "dave", "erin"):
            try:
                env.api.call("DELETE", "/users/%s/server" % u)
            except Exception:
                pass
        wait_for(lambda: ge(env.v, "qstat", "-u", "nbcommunity,bob").stdout.strip() == "", 60)
        env.w.keep_logs()
    env.finish()


if __name__ == "__main__":
    main()
