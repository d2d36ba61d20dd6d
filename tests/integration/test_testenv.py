"""test_testenv.py: scripts/testenv.sh starts a real single-node SLURM with
accounting (slurmdbd), the PBS command line (slurm-wlm-torque) and an OpenSSH
login node; accounts and partition limits are enforced at submit, jobs run as
the users who submitted them, and a second `start` changes nothing.

The environment is left running: the other integration tests reuse it and
scripts/test.sh stops it at the end."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, wait_for, testenv, parse_env  # noqa: E402




def out(r):
    return "rc=%s\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr)



class Cluster:
    def __init__(self, env, vals):
        self.env = env
        self.v = vals
        self.environ = dict(os.environ, SLURM_CONF=vals["SLURM_CONF"])
        self.work = {}

    def workdir(self, user):
        """A directory the user owns, outside the (root-only) artifacts dir."""
        if user not in self.work:
            d = tempfile.mkdtemp(prefix="nbgate-testenv-%s-" % user)
            shutil.chown(d, user)
            os.chmod(d, 0o755)
            self.work[user] = d
        return self.work[user]

    def run(self, argv, user=None, timeout=60):
        cwd = None
        if user:
            cwd = self.workdir(user)
            argv = ["runuser", "-u", user, "--"] + argv
        return subprocess.run(argv, capture_output=True, text=True, env=self.environ, cwd=cwd,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def sacct(self, jobid):
        r = self.run(["sacct", "-n", "-P", "-X", "-j", str(jobid), "-o", "User,Account,State"])
        return r.stdout.strip()

    def ssh(self, user, key, command, known_hosts=None, extra=()):
        if known_hosts is None:
            known_hosts = self.env.path("login_known_hosts")
            with open(known_hosts, "w") as f:
                f.write("[127.0.0.1]:%s %s\n" % (self.v["NB_LOGIN_SSH_PORT"], self.v["NB_LOGIN_HOSTKEY"]))
        argv = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "UserKnownHostsFile=" + known_hosts, "-o", "IdentitiesOnly=yes",
                "-o", "ConnectTimeout=10", "-i", key, "-p", self.v["NB_LOGIN_SSH_PORT"]] + \
            list(extra) + ["%s@127.0.0.1" % user, command]
        # ssh runs with root's environment minus SLURM_CONF: the login node must provide it.
        e = dict(os.environ)
        e.pop("SLURM_CONF", None)
        return subprocess.run(argv, capture_output=True, text=True, env=e, timeout=60,
                              stdin=subprocess.DEVNULL)

    def cleanup(self):
        for d in self.work.values():
            shutil.rmtree(d, ignore_errors=True)


def pids(vals):
    run = os.path.join(vals["NB_TESTENV"], "run")
    got = {}
    for name in os.listdir(run):
        with open(os.path.join(run, name)) as f:
            got[name] = f.read().strip()
    return got


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None


def test_start(env):
    t0 = time.time()
    r = testenv("start")
    took = time.time() - t0
    env.tap.diag("testenv.sh start took %.1f s" % took)
    if not env.tap.ok(r.returncode == 0, "testenv.sh start succeeds", out(r)):
        return None
    env.tap.ok(took < 60, "and takes less than 60 s (%.1f s)" % took)
    e = testenv("env")
    env.tap.eq(e.returncode, 0, "testenv.sh env succeeds")
    vals = parse_env(e.stdout)
    want = ["NB_TESTENV", "SLURM_CONF", "NB_LOGIN_SSH_PORT", "NB_LOGIN_HOSTKEY", "NB_KEY_COMMUNITY",
            "NB_KEY_ALICE", "NB_SSH_USER_CA", "NB_SLURM_PARTITIONS", "NB_PBS_BINDIR",
            "NB_MARIADB_PORT", "NB_MARIADB_SOCKET"]
    env.tap.eq([k for k in want if not vals.get(k)], [], "env prints every variable the tests use")
    with open(os.path.join(vals.get("NB_TESTENV", "/nonexistent"), "env.json")) as f:
        env.tap.eq(json.load(f), vals, "env.json says the same as env")
    env.tap.ok(os.path.isfile(vals["SLURM_CONF"]) and vals["SLURM_CONF"] != "/etc/slurm/slurm.conf",
               "slurm.conf is the environment's own")
    return Cluster(env, vals)


def test_partitions(env, c):
    def states():
        r = c.run(["sinfo", "-h", "-o", "%R %a %T"], timeout=20)
        return sorted(r.stdout.split("\n")) if r.returncode == 0 else r.stderr
    want = ["", "compute up idle", "debug up idle"]
    got = wait_for(lambda: states() == want and states(), 30, 0.5) or states()
    env.tap.eq(got, want, "sinfo: partitions debug and compute are up, the node idle")
    r = c.run(["scontrol", "show", "partition", "debug"])
    env.tap.ok("Default=YES" in r.stdout and "MaxTime=01:00:00" in r.stdout,
               "debug is the default partition, 1 h", r.stdout)


def test_alice_job(env, c):
    r = c.run(["sbatch", "--parsable", "-A", "alloc_alice", "-p", "debug",
               "--wrap", "hostname; id -un; echo PBS_JOBID=$PBS_JOBID"], user="alice")
    if not env.tap.ok(r.returncode == 0 and r.stdout.strip().isdigit(),
                      "alice submits with -A alloc_alice", out(r)):
        return
    jobid = r.stdout.strip()
    path = os.path.join(c.workdir("alice"), "slurm-%s.out" % jobid)
    got = wait_for(lambda: "PBS_JOBID" in (read(path) or "") and read(path), 30, 0.2)
    lines = (got or "").split("\n")
    env.tap.ok(len(lines) >= 2 and lines[1] == "alice", "the job ran as alice", got)
    env.tap.has(got, "PBS_JOBID=%s" % jobid, "spank_pbs gives jobs PBS_JOBID")
    st = os.stat(path) if os.path.exists(path) else None
    env.tap.ok(st is not None and st.st_uid == int(c.run(["id", "-u", "alice"]).stdout),
               "its output file belongs to alice")
    acct = wait_for(lambda: c.sacct(jobid) == "alice|alloc_alice|COMPLETED" and c.sacct(jobid), 30, 0.3)
    env.tap.eq(acct or c.sacct(jobid), "alice|alloc_alice|COMPLETED",
               "sacct: the job is charged to alloc_alice and completed")


def test_wrong_account(env, c):
    r = c.run(["sbatch", "--parsable", "-A", "alloc_bob", "--wrap", "true"], user="alice")
    env.tap.ok(r.returncode != 0, "alice cannot charge alloc_bob: rejected at submit", out(r))
    env.tap.has(r.stderr, "Invalid account", "with the 'Invalid account' message")
    r = c.run(["sbatch", "--parsable", "-A", "no_such_account", "--wrap", "true"], user="bob")
    env.tap.ok(r.returncode != 0 and "Invalid account" in r.stderr, "an unknown account is rejected too",
               out(r))


def test_community(env, c):
    r = c.run(["sbatch", "--parsable", "-A", "community", "--wrap", "id -un"], user="nbcommunity")
    if not env.tap.ok(r.returncode == 0 and r.stdout.strip().isdigit(),
                      "nbcommunity submits with -A community", out(r)):
        return
    jobid = r.stdout.strip()
    path = os.path.join(c.workdir("nbcommunity"), "slurm-%s.out" % jobid)
    env.tap.eq(wait_for(lambda: read(path), 30, 0.2), "nbcommunity\n", "the job ran as nbcommunity")
    acct = wait_for(lambda: c.sacct(jobid).startswith("nbcommunity|community|") and c.sacct(jobid), 30, 0.3)
    env.tap.has(acct or c.sacct(jobid), "nbcommunity|community|", "sacct charges it to community")
    r = c.run(["sbatch", "--parsable", "-A", "community", "--wrap", "true"], user="alice")
    env.tap.ok(r.returncode != 0 and "Invalid account" in r.stderr,
               "alice herself cannot charge the community account", out(r))


def test_scancel_other_user(env, c):
    r = c.run(["sbatch", "--parsable", "-A", "alloc_alice", "-t", "5", "--wrap", "sleep 300"], user="alice")
    if not env.tap.ok(r.returncode == 0, "alice submits a long job", out(r)):
        return
    jobid = r.stdout.strip()
    wait_for(lambda: c.run(["squeue", "-h", "-j", jobid, "-o", "%T"]).stdout.strip() == "RUNNING", 30, 0.2)
    r = c.run(["scancel", jobid], user="bob")
    env.tap.ok(r.returncode != 0 and "denied" in r.stderr, "bob's scancel of alice's job is refused", out(r))
    st = c.run(["squeue", "-h", "-j", jobid, "-o", "%T"]).stdout.strip()
    env.tap.ok(st in ("RUNNING", "PENDING"), "and the job lives on", st)
    r = c.run(["scancel", jobid], user="alice")
    env.tap.eq(r.returncode, 0, "alice cancels her own job")
    gone = wait_for(lambda: c.run(["squeue", "-h", "-j", jobid, "-o", "%T"]).stdout.strip()
                    in ("", "CANCELLED"), 30, 0.3)
    env.tap.ok(gone, "and it is gone")


def test_partition_limit(env, c):
    r = c.run(["sbatch", "--parsable", "-A", "alloc_alice", "-p", "debug", "--time=2:00:00",
               "--wrap", "true"], user="alice")
    env.tap.ok(r.returncode != 0, "--time=2:00:00 on debug (MaxTime 1 h) is rejected at submit", out(r))
    env.tap.has(r.stderr, "time limit", "saying the time limit is invalid")
    r = c.run(["sbatch", "--parsable", "-A", "alloc_alice", "-p", "compute", "--time=2:00:00", "--hold",
               "--wrap", "true"], user="alice")
    env.tap.ok(r.returncode == 0, "the same walltime on compute (MaxTime 8 h) is accepted", out(r))
    if r.returncode == 0:
        c.run(["scancel", r.stdout.strip()], user="alice")


def test_pbs(env, c):
    d = c.workdir("alice")
    script = os.path.join(d, "pbsjob.sh")
    with open(script, "w") as f:
        f.write("#!/bin/bash\n#PBS -l walltime=00:01:00\n#PBS -N nbpbs\n"
                "sleep 1\necho \"pbs job $PBS_JOBID as $(id -un) in $PBS_O_WORKDIR\"\n")
    shutil.chown(script, "alice")
    qsub = os.path.join(c.v["NB_PBS_BINDIR"], "qsub")
    qstat = os.path.join(c.v["NB_PBS_BINDIR"], "qstat")
    r = c.run([qsub, "-A", "alloc_alice", script], user="alice")
    if not env.tap.ok(r.returncode == 0 and r.stdout.strip().isdigit(), "qsub as alice with a script file",
                      out(r)):
        return
    jobid = r.stdout.strip()
    r = c.run([qstat, jobid], user="alice")
    env.tap.ok(r.returncode == 0 and re.search(r"^%s\s+nbpbs\s+alice\s" % jobid, r.stdout, re.M),
               "qstat shows the job (name from #PBS -N)", out(r))
    r = c.run(["scontrol", "show", "job", jobid])
    env.tap.has(r.stdout, "TimeLimit=00:01:00", "#PBS -l walltime=00:01:00 became the time limit")

    def output():
        for name in os.listdir(d):
            if name.endswith(".o" + jobid):
                return read(os.path.join(d, name))
        return None
    got = wait_for(lambda: output(), 30, 0.2)
    env.tap.eq(got, "pbs job %s as alice in %s\n" % (jobid, d), "the PBS job's output exists")
    r = c.run([qstat, jobid], user="alice")
    env.tap.ok(re.search(r"^%s\s.*\sC\s" % jobid, r.stdout, re.M), "qstat shows it completed (C)", out(r))


def test_login_node(env, c):
    key = c.v["NB_KEY_ALICE"]
    r = c.ssh("alice", key, "echo $SLURM_CONF; id -un")
    env.tap.eq(r.stdout, "%s\nalice\n" % c.v["SLURM_CONF"],
               "ssh alice@login (host key from NB_LOGIN_HOSTKEY) sees SLURM_CONF")
    r = c.ssh("alice", key, "sbatch --parsable -A alloc_alice -o slurm-%j.out --wrap 'id -un; pwd'")
    if env.tap.ok(r.returncode == 0 and r.stdout.strip().isdigit(), "sbatch over ssh as alice", out(r)):
        jobid = r.stdout.strip()
        home = os.path.expanduser("~alice")
        path = os.path.join(home, "slurm-%s.out" % jobid)
        env.tap.eq(wait_for(lambda: read(path), 30, 0.2), "alice\n%s\n" % home, "and it ran as alice")
        try:
            os.unlink(path)
        except OSError:
            pass
    r = c.ssh("nbcommunity", c.v["NB_KEY_COMMUNITY"], "id -un")
    env.tap.eq(r.stdout, "nbcommunity\n", "the community key logs in as nbcommunity")
    r = c.ssh("bob", key, "id -un")
    env.tap.ok(r.returncode != 0 and r.stdout == "", "alice's key does not log in as bob", out(r))
    bad = env.path("wrong_known_hosts")
    with open(bad, "w") as f:  # some other ed25519 key as the login node's host key
        f.write("[127.0.0.1]:%s %s\n" % (c.v["NB_LOGIN_SSH_PORT"], " ".join(read(key + ".pub").split()[:2])))
    r = c.ssh("alice", key, "id -un", known_hosts=bad)
    env.tap.ok(r.returncode != 0 and r.stdout == "", "a wrong host key is refused (StrictHostKeyChecking)",
               out(r))
    # A user certificate from the test CA logs in without an authorized_keys entry.
    certkey = env.path("alice_certkey")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", certkey], check=True)
    r = c.ssh("alice", certkey, "id -un")
    env.tap.ok(r.returncode != 0, "an unknown key is refused", out(r))
    s = subprocess.run(["ssh-keygen", "-q", "-s", c.v["NB_SSH_USER_CA"], "-I", "test-alice", "-n", "alice",
                        "-V", "-1m:+5m", certkey + ".pub"], capture_output=True, text=True)
    env.tap.eq(s.returncode, 0, "the test CA signs a certificate for alice")
    r = c.ssh("alice", certkey, "id -un", extra=["-o", "CertificateFile=" + certkey + "-cert.pub"])
    env.tap.eq(r.stdout, "alice\n", "and it logs in as alice (TrustedUserCAKeys)")
    r = c.ssh("bob", certkey, "id -un", extra=["-o", "CertificateFile=" + certkey + "-cert.pub"])
    env.tap.ok(r.returncode != 0, "but not as bob (principal alice only)", out(r))


def test_status_and_restart(env, c):
    r = testenv("status")
    env.tap.ok(r.returncode == 0, "testenv.sh status exits 0", out(r))
    before = pids(c.v)
    t0 = time.time()
    r = testenv("start")
    took = time.time() - t0
    env.tap.ok(r.returncode == 0 and "already running" in r.stdout, "a second start is a no-op", out(r))
    env.tap.eq(pids(c.v), before, "and restarts nothing (same PIDs)")
    env.tap.ok(took < 20, "and is quick (%.1f s)" % took)
    env.tap.eq(parse_env(testenv("env").stdout), c.v, "and the env is unchanged")


def main():
    env = Env("test_testenv")
    if os.geteuid() != 0:
        env.tap.ok(False, "test_testenv needs root (it installs packages and starts daemons)")
        env.finish()
    got = {}

    def start(e):
        got["c"] = test_start(e)
    env.run(start)
    c = got.get("c")
    if c is not None:
        for fn in (test_partitions, test_alice_job, test_wrong_account, test_community,
                   test_scancel_other_user, test_partition_limit, test_pbs, test_login_node,
                   test_status_and_restart):
            env.run(fn, c)
        if env.tap.failed:
            env.tap.diag("environment logs: %s" % c.v.get("NB_TESTENV_LOGS"))
        else:
            c.cleanup()
    env.finish()


if __name__ == "__main__":
    main()
