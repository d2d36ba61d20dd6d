"""test_enroll.py: tunnel credentials (tunnel/PROTOCOL section 7): an agent enrolls
with a one-time secret, bound to its batch job, hands over its notebook's token, and
from then on logs in with its own key; the secret is worthless once used."""
import json
import os
import signal
import socket
import sqlite3
import sys
import time

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
    argv = [binary("nbgate-agent"), "--gateway", "127.0.0.1:%d" % gw.ssh_port, "--route", route,
            "--enroll-file", secret_file, "--hostkey-fingerprint", gw.fingerprint,
            "--backoff-max", "2"]
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


def test_token_handover(env):
    gw = env.gw
    secret_file = enroll_route(env, gw, "carol")
    nb = Notebook(env, "carol")  # only for its port/token helpers; the agent starts its own
    argv_extra = ["--notebook", "--runtime", "none", "--tcp", "--notebook-cmd", "/usr/bin/python3 -m notebook",
                  "--workdir", nb.dir]
    agent(env, gw, "carol", secret_file, "agent-carol", extra=argv_extra,
          envvars={"HOME": nb.dir, "JUPYTER_RUNTIME_DIR": os.path.join(nb.dir, ".rt"),
                   "JUPYTER_CONFIG_DIR": os.path.join(nb.dir, ".jupyter"),
                   "JUPYTER_DATA_DIR": os.path.join(nb.dir, ".data"), "PATH": "/usr/bin:/bin"})
    env.tap.ok(wait_for(lambda: route_connected(gw, "carol"), 90), "a notebook agent enrolls once its notebook answers")
    st, _, body = gw.request("GET", "/user/carol/api/status", token=gw.token("carol"))
    env.tap.ok(st == 200 and b"kernels" in body,
               "the notebook's token came over the tunnel: the gateway can open it", "status %d" % st)


def main():
    env = Env("test_enroll")
    env.run(setup)
    if env.tap.failed == 0:
        for t in (test_enroll, test_job_binding, test_token_handover):
            env.run(t)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    env.finish()


if __name__ == "__main__":
    main()
