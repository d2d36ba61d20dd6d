"""test_enroll.py: tunnel credentials (tunnel/PROTOCOL section 7): an agent enrolls
with a one-time secret (from a file, or from the environment with --enroll-env),
bound to its batch job (--job-id, $SLURM_JOB_ID or $PBS_JOBID), hands over its
notebook's token, and from then on logs in with its own key; the secret is
worthless once used."""
import json
import os
import socket
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Gateway, Notebook, free_port, wait_for, route_connected,
                     binary)  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def routes(gw):
    return dict((r["name"], r) for r in json.loads(gw.ctl("--json", "route", "list").stdout)["routes"])


def enroll_route(env, gw, name, *extra):
    out = env.path("%s.enroll" % name.replace("/", "_"))
    r = gw.ctl("route", "add", name, "--enroll", "--enroll-out", out, *extra)
    if r.returncode != 0:
        raise RuntimeError("route add --enroll failed: " + r.stderr)
    return out


def agent(env, gw, route, secret_file, name, target_port=None, extra=(), envvars=None):
    """An enrolling agent; secret_file None: the secret comes in $NBGATE_ENROLL."""
    cred = ["--enroll-file", secret_file] if secret_file else ["--enroll-env", "NBGATE_ENROLL"]
    argv = [binary("nbgate-agent"), "--gateway", "127.0.0.1:%d" % gw.ssh_port, "--route", route,
            "--hostkey-fingerprint", gw.fingerprint, "--backoff-max", "2"] + cred
    if target_port is not None:
        argv += ["--target", "127.0.0.1:%d" % target_port]
    return env.procs.start(name, argv + list(extra), env=envvars)


def setup(env):
    env.gw = Gateway(env).start()
    env.port = free_port()
    env.procs.start("backend", ["/usr/bin/python3", os.path.join(HERE, "backend.py"), str(env.port)])
    wait_for(lambda: socket.create_connection(("127.0.0.1", env.port), 1).close() or True)


def test_enroll(env):
    gw = env.gw
    secret_file = enroll_route(env, gw, "alice")
    env.tap.eq(oct(os.stat(secret_file).st_mode & 0o777), "0o600", "the secret is written 0600")
    with open(secret_file) as f:
        secret = f.read().strip()
    rt = routes(gw)["alice"]
    env.tap.ok(rt["enrolling"] and rt.get("key_fingerprint") is None,
               "the route waits for its agent, with no key yet", rt)
    agent(env, gw, "alice", secret_file, "agent-alice", env.port)
    env.tap.ok(wait_for(lambda: route_connected(gw, "alice"), 20), "the agent enrolls and its tunnel comes up")
    rt = routes(gw)["alice"]
    env.tap.ok(not rt["enrolling"] and rt.get("key_fingerprint", "").startswith("SHA256:"),
               "the route now holds the agent's own key", rt)
    tok = gw.token("alice")
    st, _, body = gw.request("GET", "/user/alice/bytes/100", token=tok)
    env.tap.eq(st, 200, "traffic flows through the enrolled tunnel")

    second = agent(env, gw, "alice", secret_file, "agent-replay", env.port)
    try:
        second.wait(20)
    except Exception:
        pass
    env.tap.eq(second.poll(), 2, "a second agent replaying the used secret fails for good (exit 2)")
    env.tap.has(env.procs.log("agent-replay"), "refused the enrollment",
                "and says the enrollment was refused")
    env.tap.ok(route_connected(gw, "alice"), "the enrolled agent keeps its tunnel")
    st, _, _ = gw.request("GET", "/user/alice/bytes/100", token=tok)
    env.tap.eq(st, 200, "and keeps serving")

    wrong = env.path("wrong.enroll")
    with open(wrong, "w") as f:
        f.write("not-the-secret\n")
    enroll_route(env, gw, "dave")
    p = agent(env, gw, "dave", wrong, "agent-wrong", env.port)
    try:
        p.wait(20)
    except Exception:
        pass
    env.tap.eq(p.poll(), 2, "a wrong secret is refused for good")
    env.tap.ok(not route_connected(gw, "dave"), "and the route stays unconnected")

    gw.stop()
    gw.start()
    env.tap.ok(wait_for(lambda: route_connected(gw, "alice"), 30),
               "after a gateway restart the agent logs in with its key")
    st, _, _ = gw.request("GET", "/user/alice/bytes/100", token=tok)
    env.tap.eq(st, 200, "and traffic flows")
    for name in ("nbgated", "agent-alice", "agent-replay"):
        env.tap.ok(secret not in env.procs.log(name), "the secret is not in the %s log" % name)
    con = sqlite3.connect(os.path.join(gw.dir, "nbgate.db"))
    rows = list(con.execute("SELECT name, enroll, key FROM routes"))
    audit = [r[0] for r in con.execute("SELECT action FROM audit")]
    con.close()
    env.tap.ok(all(secret not in str(r) for r in rows), "the store never holds the secret", rows)
    env.tap.ok([r for r in rows if r[0] == "alice"][0][1] is None, "the used enrollment is gone from the store")
    env.tap.ok("enroll" in audit and "enroll-refused" in audit, "enrollments and refusals are audited", audit)


def test_job_binding(env):
    gw = env.gw
    secret_file = enroll_route(env, gw, "bob", "--job-id", "4242")
    p = agent(env, gw, "bob", secret_file, "agent-bob-wrongjob", env.port, extra=["--job-id", "4241"])
    try:
        p.wait(20)
    except Exception:
        pass
    env.tap.eq(p.poll(), 2, "an agent in another batch job cannot enroll")
    env.tap.has(env.procs.log("nbgated"), "not in batch job 4242", "the gateway logs why")
    agent(env, gw, "bob", secret_file, "agent-bob", env.port, envvars={"SLURM_JOB_ID": "4242"})
    env.tap.ok(wait_for(lambda: route_connected(gw, "bob"), 20),
               "the agent in the right job (SLURM_JOB_ID) enrolls")


def read_secret(path):
    with open(path) as f:
        return f.read().strip()


def environ(pid):
    """The environment block the kernel shows for @pid (what ps e and /proc show)."""
    with open("/proc/%d/environ" % pid, "rb") as f:
        return f.read()


def notebook_pid(base_url):
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"python3") and ("--NotebookApp.base_url=" + base_url).encode() in argv:
            return int(d)
    return None


def test_token_handover(env):
    """--notebook with --enroll-env: the notebook never sees the secret."""
    gw = env.gw
    secret = read_secret(enroll_route(env, gw, "carol"))
    nb = Notebook(env, "carol")  # only for its port/token helpers; the agent starts its own
    argv_extra = ["--notebook", "--runtime", "none", "--tcp", "--notebook-cmd", "/usr/bin/python3 -m notebook",
                  "--workdir", nb.dir]
    p = agent(env, gw, "carol", None, "agent-carol", extra=argv_extra,
              envvars={"HOME": nb.dir, "JUPYTER_RUNTIME_DIR": os.path.join(nb.dir, ".rt"),
                       "JUPYTER_CONFIG_DIR": os.path.join(nb.dir, ".jupyter"),
                       "JUPYTER_DATA_DIR": os.path.join(nb.dir, ".data"), "PATH": "/usr/bin:/bin",
                       "NBGATE_ENROLL": secret})
    env.tap.ok(wait_for(lambda: route_connected(gw, "carol"), 90), "a notebook agent enrolls once its notebook answers")
    st, _, body = gw.request("GET", "/user/carol/api/status", token=gw.token("carol"))
    env.tap.ok(st == 200 and b"kernels" in body,
               "the notebook's token came over the tunnel: the gateway can open it", "status %d" % st)
    pid = notebook_pid("/user/carol/")
    if env.tap.ok(pid is not None, "enroll-env: found the notebook process"):
        e = environ(pid)
        env.tap.ok(b"NBGATE_ENROLL=" not in e and secret.encode() not in e,
                   "enroll-env: the notebook did not inherit $NBGATE_ENROLL")
    e = environ(p.pid)
    env.tap.ok(secret.encode() not in e, "enroll-env: the secret is wiped from the agent's /proc environ")
    env.tap.ok(secret not in env.procs.log("agent-carol"), "enroll-env: the secret is not in the agent's log")


def test_enroll_env(env):
    """--enroll-env with a plain target; the secret leaves no trace."""
    gw = env.gw
    secret = read_secret(enroll_route(env, gw, "erin"))
    p = agent(env, gw, "erin", None, "agent-erin", env.port, envvars={"NBGATE_ENROLL": secret})
    env.tap.ok(wait_for(lambda: route_connected(gw, "erin"), 20), "enroll-env: the agent enrolls")
    with open("/proc/%d/cmdline" % p.pid, "rb") as f:
        cmd = f.read()
    env.tap.ok(secret.encode() not in cmd and secret.encode() not in environ(p.pid),
               "enroll-env: the secret is neither in its command line nor in /proc/PID/environ")
    st, _, _ = gw.request("GET", "/user/erin/bytes/100", token=gw.token("erin"))
    env.tap.eq(st, 200, "enroll-env: traffic flows")


def test_job_detect(env):
    """Enrolling without --job-id: $SLURM_JOB_ID, else $PBS_JOBID, if valid."""
    gw = env.gw
    secret = read_secret(enroll_route(env, gw, "gina", "--job-id", "777.pbs01.example.org"))
    agent(env, gw, "gina", None, "agent-gina", env.port,
          envvars={"NBGATE_ENROLL": secret, "SLURM_JOB_ID": "", "PBS_JOBID": "777.pbs01.example.org"})
    env.tap.ok(wait_for(lambda: route_connected(gw, "gina"), 20),
               "job id: an empty $SLURM_JOB_ID is skipped, $PBS_JOBID binds")
    log = env.procs.log("agent-gina")
    env.tap.has(log, "ignoring $SLURM_JOB_ID: not a batch job id", "job id: the agent says what it skipped")
    env.tap.has(log, "enrolling from batch job 777.pbs01.example.org (PBS_JOBID)", "job id: and what it used")

    secret = read_secret(enroll_route(env, gw, "hank", "--job-id", "888"))
    agent(env, gw, "hank", None, "agent-hank", env.port,
          envvars={"NBGATE_ENROLL": secret, "SLURM_JOB_ID": "888", "PBS_JOBID": "999.pbs01"})
    env.tap.ok(wait_for(lambda: route_connected(gw, "hank"), 20), "job id: $SLURM_JOB_ID comes before $PBS_JOBID")

    secret = read_secret(enroll_route(env, gw, "ivan", "--job-id", "901"))
    p = agent(env, gw, "ivan", None, "agent-ivan", env.port, extra=["--job-id", "902"],
              envvars={"NBGATE_ENROLL": secret, "SLURM_JOB_ID": "901", "PBS_JOBID": ""})
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        pass
    env.tap.eq(p.poll(), 2, "job id: --job-id wins over $SLURM_JOB_ID (wrong job: refused)")


def usage(env, args, envvars=None):
    e = dict(os.environ)
    e.update(envvars or {})
    r = subprocess.run([binary("nbgate-agent"), "--gateway", "127.0.0.1:1", "--route", "zed",
                        "--hostkey-fingerprint", "SHA256:x", "--target", "127.0.0.1:1"] + args,
                       capture_output=True, text=True, env=e, timeout=10)
    return r.returncode, r.stderr


def test_usage(env):
    secret_file = env.path("usage.enroll")
    with open(secret_file, "w") as f:
        f.write("s3cret\n")
    good = {"NBGATE_ENROLL": "s3cret"}
    cases = [
        (["--enroll-env", "NBGATE_ENROLL", "--key", secret_file], good, "exclude each other"),
        (["--enroll-env", "NBGATE_ENROLL", "--enroll-file", secret_file], good, "exclude each other"),
        (["--enroll-env", "NBGATE_NOT_SET_ANYWHERE"], None, "$NBGATE_NOT_SET_ANYWHERE is not set"),
        (["--enroll-env", "NBGATE_ENROLL"], {"NBGATE_ENROLL": "two words"},
         "--enroll-env: not an enrollment secret"),
        (["--enroll-env", "NBGATE_ENROLL"], {"NBGATE_ENROLL": ""}, "--enroll-env: not an enrollment secret"),
        (["--enroll-env", "A=B"], None, "--enroll-env wants an environment variable's name"),
        ([], None, "one of --key, --enroll-file and --enroll-env is required"),
        (["--enroll-env", "NBGATE_ENROLL", "--job-id", "a;b"], good, "--job-id: letters, digits"),
    ]
    for args, envvars, want in cases:
        rc, err = usage(env, args, envvars)
        env.tap.ok(rc == 2 and want in err and "usage:" in err, "usage: %s -> %s" % (" ".join(args), want),
                   "exit %d\n%s" % (rc, err))
    rc, err = usage(env, ["--no-such-option"])
    env.tap.has(err, "--enroll-env NAME reads the one-time secret from $NAME",
                "usage: documents --enroll-env")
    env.tap.has(err, "--job-id defaults to $SLURM_JOB_ID, else $PBS_JOBID", "usage: documents the job id")
    # A key agent does not enroll: whatever $SLURM_JOB_ID holds is not its business.
    rc, err = usage(env, ["--key", "/dev/null"], {"SLURM_JOB_ID": "not a job id!"})
    env.tap.ok("--job-id" not in err and "cannot read the private key" in err,
               "usage: an odd $SLURM_JOB_ID does not stop a key agent", err)


def main():
    env = Env("test_enroll")
    env.run(setup)
    if env.tap.failed == 0:
        for t in (test_usage, test_enroll, test_job_binding, test_enroll_env, test_job_detect,
                  test_token_handover):
            env.run(t)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    env.finish()


if __name__ == "__main__":
    main()
