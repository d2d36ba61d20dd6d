"""test_sched.py: the scheduler bridge's execution half (scheduler/proc.c,
transport.c, sched*.c) against the real SLURM, the PBS command line
(slurm-wlm-torque) and the OpenSSH login node of scripts/testenv.sh, driven
through tests/unit/sched-cli (one JSON object per line).

Who submits what:
- LOCAL transport: sched-cli runs as the unix user nbcommunity (root has no
  SLURM association, so root's jobs charged to `community` are refused).
- SSH transport: nbcommunity@login with NB_KEY_COMMUNITY, host key pinned.
The walltime-expiry test needs 60+ s (SLURM's granularity is a minute): it
runs only with NB_SLOW_TESTS=1 and is reported as a TAP SKIP otherwise."""
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, binary, testenv, parse_env  # noqa: E402

OK = "#!/bin/sh\n#SBATCH -p debug -t 1 -A community\nsleep 2; echo hi\n"
FAIL = "#!/bin/sh\n#SBATCH -p debug -t 1 -A community\nexit 3\n"
LONG = "#!/bin/sh\n#SBATCH -p debug -t 2 -A community\nsleep 90\n"
HELD = "#!/bin/sh\n#SBATCH -p debug -t 1 -A community -H\nsleep 30\n"
BADACCT = "#!/bin/sh\n#SBATCH -p debug -t 1 -A alloc_alice\nsleep 1\n"
PBS = "#!/bin/sh\n#PBS -q debug -l walltime=00:01:00 -A community\nsleep 2\n"
PBSLONG = "#!/bin/sh\n#PBS -q debug -l walltime=00:02:00 -A community\nsleep 60\n"
# A held job named and commented the way nbgate does; '|' in the comment on purpose.
LISTED = ("#!/bin/sh\n#SBATCH -p debug -t 1 -A community -H -J nbgate-nbcommunity-%s\n"
          "#SBATCH --comment=nbgate:user=nbcommunity:session=%s|x\nsleep 30\n")




class Cli:
    def __init__(self, env, vals):
        self.env = env
        self.v = vals
        self.work = tempfile.mkdtemp(prefix="nbgate-sched-")
        shutil.chown(self.work, "nbcommunity")
        os.chmod(self.work, 0o755)
        self.n = 0
        # nbcommunity must be able to run the driver: a copy in its own work
        # directory, rather than opening up the build tree's parents.
        self.bin = os.path.join(self.work, "sched-cli")
        shutil.copy(binary("tests/unit/sched-cli"), self.bin)
        os.chmod(self.bin, 0o755)

    def script(self, text):
        self.n += 1
        p = os.path.join(self.work, "job%d.sh" % self.n)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o644)
        return p

    def argv(self, transport, args, backend="slurm"):
        a = [self.bin, "-b", backend, "-i", "1000", "-f", "300", "-t", "4000"]
        if transport == "ssh":
            a += ["-s", "127.0.0.1:%s" % self.v["NB_LOGIN_SSH_PORT"], "-u", "nbcommunity",
                  "-k", self.v["NB_KEY_COMMUNITY"], "-H", self.v["NB_LOGIN_HOSTKEY"]]
        else:
            a = ["runuser", "-u", "nbcommunity", "--"] + a + \
                ["-c", self.v["SLURM_CONF"], "-w", self.work]
        return a + list(args)

    def run(self, transport, *args, backend="slurm", timeout=120):
        r = subprocess.run(self.argv(transport, args, backend), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        events = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
        with open(self.env.path("sched-cli.log"), "a") as f:
            f.write("$ %s\n%s%s\n" % (" ".join(args), r.stdout, r.stderr))
        return events, r

    def start(self, transport, *args, backend="slurm"):
        return subprocess.Popen(self.argv(transport, args, backend), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, stdin=subprocess.DEVNULL)


def final(events):
    """Last status per job id."""
    out = {}
    for e in events:
        if e["event"] == "change":
            out[e["id"]] = e["status"]
    return out


def ids(events):
    return [e["id"] for e in events if e["event"] == "submitted"]


def done(events):
    d = [e for e in events if e["event"] == "done"]
    return d[-1] if d else {}


def t_queues_accounts(env, c):
    t = env.tap
    ev, r = c.run("local", "queues")
    q = ev[0].get("queues") if ev else None
    t.ok(q and [x["name"] for x in q] == ["debug", "compute"], "sinfo: debug and compute", r)
    t.ok(q and q[0]["default"] and q[0]["max_walltime"] == 3600, "debug is default, 1 h", q)
    ev, r = c.run("ssh", "accounts", "nbcommunity")
    t.eq(ev[0].get("accounts") if ev else None, ["community"], "sacctmgr over ssh: community")


def t_local_submit(env, c):
    t = env.tap
    ev, r = c.run("local", "run", c.script(OK))
    f = final(ev)
    t.eq(len(ids(ev)), 1, "local sbatch as nbcommunity returns an id")
    t.ok(f and list(f.values())[0]["state"] == "ended" and list(f.values())[0]["end"] == "completed"
         and list(f.values())[0]["exit"] == 0, "local job tracked to ended(completed), exit 0",
         r.stdout)
    states = [e["status"]["state"] for e in ev if e["event"] == "change"]
    t.ok("running" in states or "pending" in states, "seen pending/running first", states)


def t_ssh_batch(env, c):
    t = env.tap
    files = [c.script(OK) for _ in range(3)] + [c.script(FAIL)]
    ev, r = c.run("ssh", "run", *files)
    jid = ids(ev)
    f = final(ev)
    t.eq(len(jid), 4, "four jobs submitted over ssh")
    ends = sorted((f.get(j, {}).get("end"), f.get(j, {}).get("exit")) for j in jid)
    t.eq(ends, [("completed", 0)] * 3 + [("failed", 3)], "3 completed (exit 0), 1 failed (exit 3)")
    d = done(ev)
    queries = d.get("calls", 0) - 4
    t.ok(d.get("polls", 0) > 0 and queries <= 2 * d["polls"],
         "batched: %d query commands for %d polls of up to 4 jobs (<= 2 per poll)"
         % (queries, d.get("polls", 0)), d)
    running = [e["t"] for e in ev if e["event"] == "change" and e["status"]["state"] == "running"]
    if running:
        env.tap.diag("submit -> first RUNNING seen by the tracker: %.2f s" % min(running))


def t_cancel(env, c):
    t = env.tap
    ev, r = c.run("ssh", "submit", c.script(HELD))
    jid = ids(ev)
    t.eq(len(jid), 1, "held job submitted")
    if not jid:
        return
    ev, r = c.run("ssh", "query", jid[0])
    st = ev[0]["jobs"][jid[0]] if ev and ev[0].get("jobs") else {}
    t.ok(st.get("state") == "pending" and st.get("reason") == "JobHeldUser",
         "one-shot query: pending (JobHeldUser)", st)
    ev, r = c.run("ssh", "cancel", jid[0])
    t.eq(ev[0]["event"] if ev else None, "cancelled", "scancel over ssh")
    ev, r = c.run("ssh", "track", jid[0])
    f = final(ev).get(jid[0], {})
    t.ok(f.get("state") == "ended" and f.get("end") == "cancelled", "tracked: ended(cancelled)", f)
    ev, r = c.run("ssh", "cancel", "1;touch /tmp/x")
    t.ok(ev and ev[0]["event"] == "cancel_failed" and "invalid job id" in ev[0]["cause"],
         "hostile id refused before any command", ev)


def t_bad_account(env, c):
    t = env.tap
    ev, r = c.run("ssh", "submit", c.script(BADACCT))
    e = ev[0] if ev else {}
    t.eq(e.get("event"), "submit_failed", "account nbcommunity may not charge: refused")
    t.has(e.get("cause"), "Invalid account or account/partition combination specified",
          "cause carries SLURM's message")


def listed(events):
    """The jobs of a `list` run by id, and the list event's cause."""
    jobs = {e["id"]: e for e in events if e["event"] == "listed"}
    end = [e for e in events if e["event"] == "list"]
    return jobs, (end[0].get("cause") if end else "no list event")


def t_list(env, c):
    t = env.tap
    tag = "%d-%d" % (os.getpid(), int(time.time()))
    ev, r = c.run("ssh", "submit", c.script(LISTED % (tag + "a", tag)),
                  c.script(LISTED % (tag + "b", tag)))
    jid = ids(ev)
    t.eq(len(jid), 2, "two held nbgate-style jobs submitted")
    if len(jid) != 2:
        return
    try:
        for transport, user in (("local", None), ("ssh", None), ("ssh", "nbcommunity")):
            ev, r = c.run(transport, "list", *([user] if user else []))
            jobs, cause = listed(ev)
            mine = [jobs.get(j, {}) for j in jid]
            t.ok(cause is None and all(mine), "squeue list (%s, %s): both jobs listed"
                 % (transport, user or "--me"), r.stdout + r.stderr)
            t.ok(all(m.get("name", "").startswith("nbgate-nbcommunity-" + tag) and
                     m.get("comment") == "nbgate:user=nbcommunity:session=%s|x" % tag and
                     m.get("user") == "nbcommunity" and m["status"]["state"] == "pending" and
                     m["status"]["reason"] == "JobHeldUser" for m in mine),
                 "name, comment (with '|'), user, pending (JobHeldUser)", mine)
        ev, r = c.run("ssh", "list", "alice")
        jobs, cause = listed(ev)
        t.ok(cause is None and not set(jid) & set(jobs) and
             all(j.get("user") == "alice" for j in jobs.values()),
             "list alice: none of nbcommunity's jobs", r.stdout)
        ev, r = c.run("ssh", "list", "nosuchuser")
        jobs, cause = listed(ev)
        t.ok(not jobs and cause and "Invalid user" in cause,
             "unknown user: squeue's own words (%s)" % cause, r.stdout)
        for user in (None, "nbcommunity"):
            ev, r = c.run("local", "list", *([user] if user else []), backend="pbs")
            jobs, cause = listed(ev)
            mine = [jobs.get(j, {}) for j in jid]
            t.ok(cause is None and all(m.get("user") == "nbcommunity" and
                                       m.get("name", "").startswith("nbgate-nbcommunity-") and
                                       m["status"]["raw"] == "Q" for m in mine),
                 "PBS wrappers qstat -f list (%s): both jobs, Q, owner nbcommunity"
                 % (user or "everyone"), r.stdout + r.stderr)
            t.ok(all(j["status"]["state"] != "ended" for j in jobs.values()),
                 "no finished (C) job listed", jobs)
        ev, r = c.run("local", "list", "alice", backend="pbs")
        jobs, cause = listed(ev)
        t.ok(cause is None and not set(jid) & set(jobs), "PBS list alice: filtered by owner",
             r.stdout)
    finally:
        for j in jid:
            c.run("ssh", "cancel", j)
    for transport, backend in (("ssh", "slurm"), ("local", "pbs")):
        ev, r = c.run(transport, "list", backend=backend)
        jobs, cause = listed(ev)
        t.ok(cause is None and not set(jid) & set(jobs),
             "after scancel: gone from the %s list" % backend, r.stdout)


def t_pbs(env, c):
    t = env.tap
    ev, r = c.run("ssh", "run", c.script(PBS), backend="pbs")
    jid = ids(ev)
    f = final(ev)
    t.eq(len(jid), 1, "qsub over ssh (script through a private temp file)")
    t.ok(jid and f.get(jid[0], {}).get("state") == "ended", "PBS job tracked to ended "
         "(the wrappers report no exit status: end %s)" % (f.get(jid[0], {}).get("end")), r.stdout)
    ev, r = c.run("local", "submit", c.script(PBSLONG), backend="pbs")
    jid = ids(ev)
    t.eq(len(jid), 1, "local qsub with a 0600 temp file")
    left = [n for n in os.listdir("/tmp") if n.startswith("nbgate-job.")]
    t.eq(left, [], "temp script file removed")
    if not jid:
        return
    ev, r = c.run("local", "query", jid[0], backend="pbs")
    st = ev[0]["jobs"][jid[0]] if ev and ev[0].get("jobs") else {}
    t.ok(st.get("state") in ("pending", "running"), "qstat -f: %s" % st.get("raw"), st)
    ev, r = c.run("local", "cancel", jid[0], backend="pbs")
    t.eq(ev[0]["event"] if ev else None, "cancelled", "qdel")
    ev, r = c.run("local", "track", jid[0], backend="pbs")
    t.eq(final(ev).get(jid[0], {}).get("state"), "ended", "after qdel: ended")


def read_events(p, want, timeout):
    """Reads p's JSON lines until want(event) or timeout; returns (match, all)."""
    end = time.time() + timeout
    seen = []
    while time.time() < end:
        r, _, _ = select.select([p.stdout], [], [], 0.5)
        if r:
            line = p.stdout.readline()
            if not line:
                break
            e = json.loads(line)
            seen.append(e)
            if want(e):
                return e, seen
    return None, seen


def t_controller_down(env, c):
    t = env.tap
    d = c.v["NB_TESTENV"]
    ev, r = c.run("ssh", "submit", c.script(LONG))
    jid = ids(ev)
    t.eq(len(jid), 1, "long job submitted")
    if not jid:
        return
    p = c.start("local", "-T", "150", "track", jid[0])
    try:
        e, seen = read_events(p, lambda e: e["event"] == "change" and
                              e["status"]["state"] == "running", 30)
        t.ok(e, "tracked to running", seen)
        with open(os.path.join(d, "run", "slurmctld.pid")) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, signal.SIGKILL)
        e, seen = read_events(p, lambda e: e["event"] == "change", 40)
        t.ok(e and e["status"]["state"] == "unknown",
             "slurmctld down: status UNKNOWN, not ended", seen)
        t.ok(not any(x["event"] == "change" and x["status"]["state"] == "ended" for x in seen),
             "never reported ended while the controller was down")
        r = testenv("start", d)
        t.ok(r.returncode == 0, "testenv restarted slurmctld", r.stdout + r.stderr)
        e, seen = read_events(p, lambda e: e["event"] == "change", 60)
        t.ok(e and e["status"]["state"] in ("running", "ended", "pending"),
             "recovered: %s" % (e["status"]["state"] if e else None), seen)
    finally:
        p.kill()
        p.wait()
        c.run("ssh", "cancel", jid[0])


def t_timeout(env, c):
    if os.environ.get("NB_SLOW_TESTS") != "1":
        env.tap.n += 1
        print("ok %d # SKIP walltime expiry takes 60+ s (set NB_SLOW_TESTS=1)" % env.tap.n,
              flush=True)
        return
    s = "#!/bin/sh\n#SBATCH -p debug -t 1 -A community\nsleep 300\n"
    ev, r = c.run("ssh", "-T", "200", "run", c.script(s), timeout=240)
    f = list(final(ev).values())
    env.tap.ok(f and f[0]["end"] == "timeout", "walltime expiry: ended(timeout)", r.stdout)


def main():
    env = Env("test_sched")
    d = os.environ.get("NB_TESTENV", "/tmp/nbgate-testenv")
    r = testenv("start", d)
    if not env.tap.ok(r.returncode == 0, "testenv started", r.stdout + r.stderr):
        env.finish()
    vals = parse_env(testenv("env", d).stdout)
    vals.setdefault("NB_TESTENV", d)
    c = Cli(env, vals)
    for fn in (t_queues_accounts, t_local_submit, t_ssh_batch, t_cancel, t_bad_account,
               t_list, t_pbs, t_controller_down, t_timeout):
        env.run(fn, c)
    shutil.rmtree(c.work, ignore_errors=True)
    env.finish()


if __name__ == "__main__":
    main()
