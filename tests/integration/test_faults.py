"""test_faults.py: an agent killed mid-transfer, a gateway restart, an agent
replaced: the daemon survives, routes answer 503 while down, agents reconnect
and traffic resumes."""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Gateway, NbAgent, OpenSSHAgent, ssh_keygen, free_port, wait_for,
                     route_connected)  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def setup(env):
    env.gw = Gateway(env).start()
    env.port = free_port()
    env.procs.start("backend", ["/usr/bin/python3", os.path.join(HERE, "backend.py"), str(env.port)])
    wait_for(lambda: socket.create_connection(("127.0.0.1", env.port), 1).close() or True)
    env.key = ssh_keygen(env.path("alice_key"))
    env.gw.add_route("alice", env.key + ".pub", token="t")
    env.agent = NbAgent(env, env.gw, "alice", env.key, target_port=env.port).start()
    env.tap.ok(wait_for(lambda: route_connected(env.gw, "alice"), 20), "agent connected")
    env.tok = env.gw.token("alice")


def test_kill_mid_transfer(env):
    gw = env.gw
    c = gw.conn(timeout=30)
    c.request("GET", "/user/alice/bytes/%d" % (500 * 1024 * 1024), headers={"Authorization": "token " + env.tok})
    r = c.getresponse()
    got = len(r.read(4 * 1024 * 1024))
    env.agent.stop(signal.SIGKILL)
    err = None
    try:
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            got += len(b)
    except Exception as e:
        err = e
    c.close()
    env.tap.ok(got < 500 * 1024 * 1024, "the interrupted download ends short, not as a complete file",
               "got %d bytes, error %r" % (got, err))
    env.tap.ok(gw.alive(), "nbgated survives the agent dying mid-transfer")
    env.tap.ok(wait_for(lambda: not route_connected(gw, "alice"), 30), "the route is marked disconnected")
    st, _, body = gw.request("GET", "/user/alice/bytes/10", token=env.tok)
    env.tap.eq(st, 503, "and answers 503 while the agent is away")
    env.agent = NbAgent(env, gw, "alice", env.key, target_port=env.port).start()
    env.tap.ok(wait_for(lambda: route_connected(gw, "alice"), 20), "a new agent reconnects")
    st, _, body = gw.request("GET", "/user/alice/bytes/1000", token=env.tok)
    env.tap.ok(st == 200 and len(body) == 1000, "traffic resumes")


def test_gateway_restart(env):
    gw = env.gw
    gw.stop()
    time.sleep(1)
    env.tap.ok(env.agent.proc.poll() is None, "the agent keeps running while the gateway is down")
    gw.start()
    r = gw.ctl("--json", "route", "list")
    env.tap.has(r.stdout, '"alice"', "routes survive a restart (SQLite)")
    env.tap.ok(wait_for(lambda: route_connected(gw, "alice"), 30), "the agent reconnects by itself after a restart")
    st, _, body = gw.request("GET", "/user/alice/bytes/1000", token=env.tok)
    env.tap.ok(st == 200 and len(body) == 1000, "API tokens survive the restart and traffic flows")
    gw.stop(signal.SIGKILL)
    gw.start()
    env.tap.ok(wait_for(lambda: route_connected(gw, "alice"), 30), "after kill -9 too, the agent reconnects")
    st, _, body = gw.request("GET", "/user/alice/bytes/1000", token=env.tok)
    env.tap.ok(st == 200 and len(body) == 1000, "and traffic flows")
    db = os.path.join(gw.dir, "nbgate.db")
    env.tap.eq(oct(os.stat(db).st_mode & 0o777), "0o600", "the database is readable by nbgated only")
    import sqlite3
    con = sqlite3.connect(db)
    stored = " ".join(str(row) for row in con.execute("SELECT * FROM tokens"))
    audit = [row[0] for row in con.execute("SELECT action FROM audit")]
    con.close()
    env.tap.ok(env.tok not in stored and "alice" in stored, "only token digests are stored", stored[:200])
    env.tap.ok("route-add" in audit and "token-issue" in audit, "admin actions are in the audit log", audit)
    log = env.procs.log(env.agent.name)
    env.tap.has(log, "up", "the agent logs its tunnel state changes")


def test_replace(env):
    gw = env.gw
    second = OpenSSHAgent(env, gw, "alice", env.key, env.port, name="ssh-second").start()
    env.tap.ok(wait_for(lambda: "replaced" in env.procs.log("nbgated"), 20),
               "a second agent for the same route replaces the first")
    st, _, body = gw.request("GET", "/user/alice/bytes/100", token=env.tok)
    env.tap.eq(st, 200, "and serves")
    second.stop()
    r = gw.ctl("route", "del", "alice")
    env.tap.eq(r.returncode, 0, "route del works")
    st, _, body = gw.request("GET", "/user/alice/bytes/100", token=env.tok)
    env.tap.eq(st, 503, "a removed route answers 503")


def main():
    env = Env("test_faults")
    env.run(setup)
    if env.tap.failed == 0:
        for t in (test_kill_mid_transfer, test_gateway_restart, test_replace):
            env.run(t)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    env.finish()


if __name__ == "__main__":
    main()
