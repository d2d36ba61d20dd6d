"""test_slurmlib.py: the libslurm backend, i.e. the nbgate-slurmlib helper
(scheduler/slurmlib.c) and the slurm-lib backend (scheduler/sched-slurmlib.c)
driven through tests/unit/sched-cli, against the real SLURM of scripts/testenv.sh.

Everything runs as the unix user nbcommunity (root has no SLURM association):
the helper and sched-cli are copied into a work directory nbcommunity owns.
The #SBATCH directive parser lives in the helper, so it is tested here.
Without libslurm (configure said "libslurm: no") the whole test is skipped."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILDDIR, Env  # noqa: E402
from harness import parse_env, testenv  # noqa: E402
from test_sched import final, ids, done  # noqa: E402

TEMPLATE = """#!/bin/sh
#SBATCH --job-name=nbgate-nbcommunity
#SBATCH --comment=nbgate:user=nbcommunity:session=7
#SBATCH --partition=debug
#SBATCH --time=00:01:00
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --mem=100M
#SBATCH --account=community
#SBATCH --output=%s/job%d.out
#SBATCH --error=%s/job%d.err

echo "hi $USER"; sleep %d; exit %d
"""
SHORT = "#!/bin/sh\n#SBATCH -p debug -t 1 -A community\nsleep 2; echo hi\n"
BADACCT = "#!/bin/sh\n#SBATCH -p debug -t 1 -A alloc_alice\nsleep 1\n"
UNKNOWN = "#!/bin/sh\n#SBATCH -p debug -t 1 -A community\n#SBATCH --wrap=id\nsleep 1\n"
META = "#!/bin/sh\n#SBATCH -p debug -t 1 -A community -J $(touch${IFS}/tmp/slx)\nsleep 1\n"


class Lib:
    def __init__(self, env, vals):
        self.env = env
        self.v = vals
        self.work = tempfile.mkdtemp(prefix="nbgate-slurmlib-")
        shutil.chown(self.work, "nbcommunity")
        os.chmod(self.work, 0o755)
        self.n = 0
        self.lines = []		# every stdout line the helper printed
        self.bin = os.path.join(self.work, "nbgate-slurmlib")
        shutil.copy(os.path.join(BUILDDIR, "nbgate-slurmlib"), self.bin)
        self.cli = os.path.join(self.work, "sched-cli")
        shutil.copy(os.path.join(BUILDDIR, "tests/unit/sched-cli"), self.cli)
        os.chmod(self.bin, 0o755)
        os.chmod(self.cli, 0o755)

    def script(self, text):
        self.n += 1
        p = os.path.join(self.work, "job%d.sh" % self.n)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o644)
        return p

    def template(self, sleep, code):
        self.n += 1
        return TEMPLATE % (self.work, self.n, self.work, self.n, sleep, code)

    def run(self, *args, stdin="", conf=None, timeout=60):
        """The helper as nbcommunity, with the daemon's minimal environment."""
        argv = ["runuser", "-u", "nbcommunity", "--", "env", "-i", "PATH=/usr/bin:/bin",
                "LANG=C", "SLURM_CONF=%s" % (conf or self.v["SLURM_CONF"]), self.bin] + list(args)
        t0 = time.time()
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout,
                           cwd=self.work)
        r.elapsed = time.time() - t0
        self.lines += r.stdout.splitlines()
        out = []
        for line in r.stdout.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"not_json": line})
        with open(self.env.path("slurmlib.log"), "a") as f:
            f.write("$ %s (exit %d, %.2f s)\n%s%s\n" % (" ".join(args), r.returncode, r.elapsed,
                                                       r.stdout, r.stderr))
        return out, r

    def sched_cli(self, *args, timeout=120, serve=False, conf=None):
        argv = ["runuser", "-u", "nbcommunity", "--", "env", "NBGATE_SLURMLIB=%s" % self.bin,
                self.cli, "-b", "slurm-lib", "-i", "1000", "-f", "300", "-t", "15000",
                "-c", conf or self.v["SLURM_CONF"], "-w", self.work] + \
            (["-S"] if serve else []) + list(args)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        with open(self.env.path("sched-cli.log"), "a") as f:
            f.write("$ %s\n%s%s\n" % (" ".join(args), r.stdout, r.stderr))
        return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")], r

    def wait_state(self, jid, want, timeout=60):
        seen = []
        end = time.time() + timeout
        while time.time() < end:
            out, r = self.run("query", jid)
            st = out[0].get("state") if out else None
            if not seen or seen[-1] != st:
                seen.append(st)
            if st in want:
                return out[0], seen
            time.sleep(0.5)
        return None, seen


def t_queues(env, c):
    t = env.tap
    out, r = c.run("queues")
    t.eq([q.get("name") for q in out], ["debug", "compute"], "queues: debug and compute")
    t.ok(out and out[0].get("default") and out[0].get("max_time") == 3600,
         "debug is the default, 1 h", out)


def t_nodes_accounts(env, c):
    """What the CLI backend asks scontrol and sacctmgr for, through the library."""
    t = env.tap
    env_conf = dict(os.environ, SLURM_CONF=c.v["SLURM_CONF"])
    r = subprocess.run(["scontrol", "-o", "show", "node"], capture_output=True, text=True,
                       timeout=30, env=env_conf)
    want = {}
    for line in r.stdout.splitlines():
        f = dict(w.split("=", 1) for w in line.split() if "=" in w)
        if "NodeName" in f:
            want[f["NodeName"]] = f.get("NodeAddr", f["NodeName"])
    t.ok(want, "scontrol knows the test node(s)", r.stdout + r.stderr)
    out, r = c.run("nodes", ",".join(sorted(want)))
    t.eq({o.get("name"): o.get("addr") for o in out}, want,
         "nodes NODELIST: each node's NodeAddr, as scontrol shows it")
    out, r = c.run("nodes", "no-such-node")
    t.ok(r.returncode == 0 and out == [], "an unknown node: no lines", out)
    r = subprocess.run(["sacctmgr", "-n", "-P", "show", "assoc", "user=nbcommunity",
                        "format=account"], capture_output=True, text=True, timeout=30,
                       env=env_conf)
    want = sorted(set(r.stdout.split()))
    out, r = c.run("accounts", "nbcommunity")
    t.ok(want and sorted(set(o.get("account") for o in out)) == want,
         "accounts nbcommunity: the associations sacctmgr shows (%s)" % want, out)
    out, r = c.run("accounts", "nosuchuser")
    t.ok(r.returncode == 0 and out == [], "a user without associations: no accounts", out)


def t_submit_query(env, c):
    t = env.tap
    out, r = c.run("submit", stdin=c.template(3, 0))
    jid = str(out[0]["id"]) if out and "id" in out[0] else None
    t.ok(r.returncode == 0 and jid is not None, "submit of a template-style script: {\"id\": N}",
         r.stdout + r.stderr)
    if jid is None:
        return
    out, r = c.run("query", jid)
    j = out[0] if out else {}
    t.ok(j.get("state") in ("PENDING", "RUNNING"), "query: PENDING or RUNNING first", out)
    t.ok(j.get("user") == "nbcommunity" and j.get("account") == "community" and
         j.get("partition") == "debug" and j.get("name") == "nbgate-nbcommunity" and
         j.get("comment") == "nbgate:user=nbcommunity:session=7",
         "job runs as nbcommunity, charged to community, name and comment set", j)
    j, seen = c.wait_state(jid, ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"))
    t.ok(j and j["state"] == "COMPLETED" and j.get("exit_code") == 0,
         "job ended: COMPLETED, exit 0 (states seen %s)" % seen, j)
    with open(os.path.join(c.work, "job%d.out" % c.n)) as f:
        t.eq(f.read().strip(), "hi nbcommunity", "the job ran with USER set (non-empty env)")


def t_batch(env, c):
    t = env.tap
    jids = []
    for code in (0, 0, 3):
        out, r = c.run("submit", stdin=c.template(1, code))
        if out and "id" in out[0]:
            jids.append(str(out[0]["id"]))
    t.eq(len(jids), 3, "three jobs submitted")
    out, r = c.run("query", ",".join(jids + ["999999"]))
    t.eq(sorted(str(j.get("id")) for j in out), sorted(jids),
         "one helper run answers all three (unknown id simply absent)")
    # the backend: tracked to the end through sched-cli, batched
    files = [c.script(SHORT) for _ in range(3)]
    ev, r = c.sched_cli("run", *files)
    got = ids(ev)
    f = final(ev)
    t.eq(len(got), 3, "sched-cli -b slurm-lib: three submitted")
    t.eq(sorted((f.get(j, {}).get("state"), f.get(j, {}).get("end"), f.get(j, {}).get("exit"))
                for j in got), [("ended", "completed", 0)] * 3,
         "tracked to ended(completed), exit 0", )
    d = done(ev)
    queries = d.get("calls", 0) - 3
    t.ok(d.get("polls", 0) > 0 and queries <= 2 * d["polls"],
         "batched: %d helper runs for %d polls of 3 jobs" % (queries, d.get("polls", 0)), d)


def t_serve(env, c):
    """nbgated's way: one long-lived helper (serve) answers every command of a tracker."""
    t = env.tap
    files = [c.script(SHORT) for _ in range(3)]
    ev, r = c.sched_cli("run", *files, serve=True)
    got = ids(ev)
    f = final(ev)
    d = done(ev)
    t.eq(sorted((f.get(j, {}).get("state"), f.get(j, {}).get("end")) for j in got),
         [("ended", "completed")] * 3, "serve: three jobs submitted and tracked to the end")
    t.ok(d.get("helpers") == 1 and d.get("calls", 0) >= 5,
         "one helper process answered all %s commands" % d.get("calls"), d)
    # A helper that dies (between or during commands) is started again for the next one.
    out, r = c.run("submit", stdin=c.template(60, 0))
    jid = str(out[0]["id"]) if out and "id" in out[0] else "0"
    proc = subprocess.Popen(["runuser", "-u", "nbcommunity", "--", "env",
                             "NBGATE_SLURMLIB=%s" % c.bin, c.cli, "-b", "slurm-lib", "-i", "300",
                             "-f", "300", "-t", "15000", "-c", c.v["SLURM_CONF"], "-w", c.work,
                             "-S", "-T", "4", "track", jid],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    for _ in range(40):
        time.sleep(0.1)
        r = subprocess.run(["pgrep", "-u", "nbcommunity", "-f", "%s serve" % c.bin],
                           capture_output=True, text=True)
        if r.stdout.split():
            killed = r.stdout.split()[0]
            os.kill(int(killed), 9)
            break
    out, err = proc.communicate(timeout=60)
    ev = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    d = done(ev)
    t.ok(killed is not None and d.get("helpers", 0) >= 2 and d.get("polls", 0) >= 3 and
         final(ev).get(jid, {}).get("state") in ("pending", "running"),
         "a killed helper (pid %s) is replaced: %s helpers for %s polls, job %s still tracked"
         % (killed, d.get("helpers"), d.get("polls"), jid), (d, err[-500:]))
    c.run("cancel", jid)
    ev, r = c.sched_cli("queues", serve=True, conf="/nonexistent/slurm.conf")
    e = ev[0] if ev else {}
    t.ok(e.get("event") == "queues" and "/nonexistent/slurm.conf" in (e.get("cause") or "")
         and not e.get("queues") and done(ev).get("helpers") == 1,
         "serve with a missing slurm.conf: the command fails with the reason, the helper lives",
         ev)


def t_cancel(env, c):
    t = env.tap
    out, r = c.run("submit", stdin=c.template(120, 0))
    jid = str(out[0]["id"]) if out and "id" in out[0] else None
    t.ok(jid is not None, "long job submitted", r.stdout + r.stderr)
    if jid is None:
        return
    ev, r = c.sched_cli("cancel", jid)
    t.eq(ev[0]["event"] if ev else None, "cancelled", "cancel through the backend")
    j, seen = c.wait_state(jid, ("CANCELLED", "COMPLETED", "FAILED"), 30)
    t.eq(j and j["state"], "CANCELLED", "job ends CANCELLED")
    out, r = c.run("cancel", "1")
    t.ok(r.returncode == 1 and out and "error" in out[0], "cancel of a job that is not "
         "nbcommunity's or does not exist: exit 1 + JSON error", out)


def t_refusals(env, c):
    t = env.tap
    out, r = c.run("submit", stdin=BADACCT)
    t.eq(r.returncode, 1, "account nbcommunity may not use: exit 1")
    t.has(out[0].get("error") if out else None,
          "Invalid account or account/partition combination specified", "SLURM's own message")
    out, r = c.run("submit", stdin=UNKNOWN)
    t.ok(r.returncode == 1 and out and "--wrap" in out[0].get("error", ""),
         "unknown directive refused, named in the error", out)
    out, r = c.run("submit", stdin=META)
    t.ok(r.returncode == 1 and out and "not allow" in out[0].get("error", ""),
         "directive with shell metacharacters refused", out)
    t.ok(not os.path.exists("/tmp/slx"), "nothing was run")
    ev, r = c.sched_cli("submit", c.script(UNKNOWN))
    e = ev[0] if ev else {}
    t.ok(e.get("event") == "submit_failed" and "--wrap" in (e.get("cause") or ""),
         "through the backend: submit_failed with the helper's words", e)


def t_no_conf(env, c):
    t = env.tap
    for cmd in (["query", "1"], ["submit"]):
        out, r = c.run(*cmd, stdin=SHORT, conf="/nonexistent/slurm.conf", timeout=20)
        t.ok(r.returncode == 1 and len(out) == 1 and "/nonexistent/slurm.conf" in
             out[0].get("error", "") and r.elapsed < 5,
             "%s with a missing slurm.conf: exit 1 + JSON error in %.2f s" % (cmd[0], r.elapsed),
             r.stdout + r.stderr)


def t_stdout_json(env, c):
    bad = []
    for line in c.lines:
        try:
            if not isinstance(json.loads(line), dict):
                bad.append(line)
        except ValueError:
            bad.append(line)
    env.tap.ok(c.lines and not bad, "all %d stdout lines of the helper are JSON objects"
               % len(c.lines), bad)


def main():
    if not os.path.exists(os.path.join(BUILDDIR, "nbgate-slurmlib")):
        print("1..0 # SKIP nbgate-slurmlib not built (configure found no libslurm)", flush=True)
        sys.exit(0)
    env = Env("test_slurmlib")
    d = os.environ.get("NB_TESTENV", "/tmp/nbgate-testenv")
    r = testenv("start", d)
    if not env.tap.ok(r.returncode == 0, "testenv started", r.stdout + r.stderr):
        env.finish()
    vals = parse_env(testenv("env", d).stdout)
    c = Lib(env, vals)
    for fn in (t_queues, t_nodes_accounts, t_submit_query, t_batch, t_serve, t_cancel, t_refusals, t_no_conf,
               t_stdout_json):
        env.run(fn, c)
    shutil.rmtree(c.work, ignore_errors=True)
    env.finish()


if __name__ == "__main__":
    main()
