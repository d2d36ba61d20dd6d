"""test_pool_isolation.py (attack suite): reused streams to notebooks
(proxy.upstream_pool) stay with their route and carry nothing of an earlier
answer.  Two users' routes (and a second server of one user) through real
agents to real backends that name themselves and their TCP connection; a
hostile notebook that sends a second, unasked-for response behind its answer
(at once, or later while the stream is idle) to have it delivered as the
answer to someone's next request."""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import (Env, Gateway, OpenSSHAgent, NbAgent, ssh_keygen, free_port,  # noqa: E402
                     wait_for, route_connected, run_all)

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration")


def backend(env, name):
    port = free_port()
    env.procs.start("backend-" + name.replace("/", "_"),
                    ["/usr/bin/python3", os.path.join(HERE, "backend.py"), str(port), name])
    wait_for(lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True)
    return port


def setup(env):
    gw = Gateway(env, extra="proxy:\n  upstream_pool: 8\n  upstream_idle: 30s\n").start()
    env.gw = gw
    for route, agent in (("alice", NbAgent), ("alice/lab", OpenSSHAgent), ("bob", NbAgent)):
        port = backend(env, route)
        key = ssh_keygen(env.path(route.replace("/", "_") + "_key"))
        gw.add_route(route, key + ".pub", token="nbtok-" + route)
        agent(env, gw, route, key, port).start()
    env.tap.ok(wait_for(lambda: all(route_connected(gw, r) for r in ("alice", "alice/lab", "bob")),
                        20), "three agents connect")
    env.tok = {"alice": gw.token("alice"), "bob": gw.token("bob")}


def ask(env, user, route, what, conn=None, close=True):
    return env.gw.get("/user/%s/%s" % (route, what), env.tok[user], conn=conn, close=close)


def who(env, user, route, **kw):
    st, body = ask(env, user, route, "conn", **kw)
    try:
        d = json.loads(body)
        return d["name"], d["conn"]
    except ValueError:
        return st, body


def test_routes_apart(env):
    t = env.tap
    alice = [who(env, "alice", "alice") for i in range(4)]
    bob = [who(env, "bob", "bob") for i in range(4)]
    lab = [who(env, "alice", "alice/lab") for i in range(4)]
    t.ok(all(a == alice[0] for a in alice) and alice[0][0] == "alice",
         "alice's requests reuse a stream to alice's notebook", alice)
    t.ok(all(b[0] == "bob" for b in bob), "attack pool-other-user: bob's requests after alice's, "
         "with alice's streams idle in the pool, reach bob's notebook", bob)
    t.ok(all(x[0] == "alice/lab" for x in lab), "attack pool-other-server: a second server of the same "
         "user gets its own streams", lab)
    t.eq(who(env, "alice", "alice"), alice[0], "alice's pooled stream was left to alice")
    # One browser connection, alternating users and routes: every request on its own route.
    c = env.gw.conn()
    seq = [who(env, u, r, conn=c, close=False)[0] for u, r in
           (("alice", "alice"), ("bob", "bob"), ("alice", "alice/lab"), ("alice", "alice"),
            ("bob", "bob"))]
    c.close()
    t.eq(seq, ["alice", "bob", "alice/lab", "alice", "bob"], "attack pool-switching-connection: one connection "
         "switching between users' routes: each request reaches its own route's notebook")
    st, body = ask(env, "alice", "bob", "conn")
    t.eq(st, 403, "and a pooled stream of bob's route does not open it to alice")


def test_no_leak(env):
    t = env.tap
    for what in ("extra", "extra-later"):
        a = who(env, "alice", "alice")
        st, body = ask(env, "alice", "alice", what)
        t.eq((st, body), (200, b"ok"), "%s: the hostile answer itself arrives as sent" % what)
        time.sleep(0.6)
        got = [ask(env, "alice", "alice", "conn") for i in range(3)]
        t.ok(all(st == 200 and b"LEAKED" not in b and json.loads(b)["name"] == "alice"
                 for st, b in got),
             "attack pool-unasked-response-%s: the next requests on new connections get "
             "their own answers, not the unasked-for response" % what, got)
        t.ok(json.loads(got[0][1])["conn"] != a[1],
             "%s: the stream that carried it is not reused" % what, (a, got[0]))
        c = env.gw.conn()
        st, body = ask(env, "alice", "alice", what, conn=c, close=False)
        time.sleep(0.6)
        st, body = ask(env, "alice", "alice", "conn", conn=c, close=False)
        c.close()
        t.ok(st == 200 and b"LEAKED" not in body, "attack pool-unasked-response-%s: nor does the next request "
             "on the same kept-alive connection" % what, (st, body))


def test_route_readded(env):
    t = env.tap
    gw = env.gw
    name, conn = who(env, "bob", "bob")
    t.eq(name, "bob", "bob's notebook answers")
    r = gw.ctl("route", "del", "bob")
    t.eq(r.returncode, 0, "bob's route is removed (its streams idle in the pool)")
    port = backend(env, "bob-again")
    key = ssh_keygen(env.path("bob2_key"))
    gw.add_route("bob", key + ".pub", token="nbtok-bob2")
    OpenSSHAgent(env, gw, "bob", key, port, name="ssh-bob2").start()
    t.ok(wait_for(lambda: route_connected(gw, "bob"), 20), "a new route of the same name connects")
    got = [who(env, "bob", "bob") for i in range(3)]
    t.ok(all(g[0] == "bob-again" for g in got), "attack pool-route-readded: requests reach the new "
         "route's notebook, never a stream kept for the route before", got)


def test_ticket_no_login(env):
    """A TLS session (its ticket, renewed on every resumption) carries no login: a client that
    resumes alice's session, a stolen ticket, is nobody until it shows a cookie or token."""
    import ssl
    t = env.tap
    gw = env.gw
    ctx = gw.ssl_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3

    def once(sess, auth):
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", gw.https_port), 10),
                            session=sess)
        s.sendall(("GET /user/alice/conn HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n"
                   % auth).encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        r = (s.session_reused, s.session, data.split(b"\r\n", 1)[0])
        s.close()
        return r

    _, sess, line = once(None, "Authorization: token %s\r\n" % env.tok["alice"])
    t.ok(b" 200 " in line, "alice reaches her notebook", line)
    reused, _, line = once(sess, "")
    t.ok(reused and b" 401 " in line, "attack tls-ticket-no-login: a connection resuming alice's "
         "TLS session without her cookie or token gets 401", (reused, line))


if __name__ == "__main__":
    run_all("test_pool_isolation", setup, [test_routes_apart, test_no_leak, test_route_readded,
                                           test_ticket_no_login])
