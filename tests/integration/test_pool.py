"""test_pool.py: streams to a notebook reused across browser connections
(proxy.upstream_pool): a real nbgated, the real nbgate-agent and plain OpenSSH
as agents, a real HTTP backend that says which TCP connection answered.  Reuse
happens, and a stream that failed, was left mid-request, sat idle too long or
was closed by the notebook is not reused; the pool is bounded.  Also TLS
session resumption (tickets and the session cache) of the HTTPS port."""
import json
import os
import re
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Gateway, OpenSSHAgent, NbAgent, ssh_keygen, free_port,  # noqa: E402
                     wait_for, route_connected, run_all, read_all)

HERE = os.path.dirname(os.path.abspath(__file__))
POOL = 4
IDLE = 2


def setup(env):
    gw = Gateway(env, extra="auth:\n  admins: [admin]\nproxy:\n  upstream_pool: %d\n  upstream_idle: %ds\n"
                 % (POOL, IDLE)).start()
    env.gw = gw
    env.backend_port = free_port()
    env.procs.start("backend", ["/usr/bin/python3", os.path.join(HERE, "backend.py"),
                                str(env.backend_port), "alice"])
    wait_for(lambda: socket.create_connection(("127.0.0.1", env.backend_port), 1).close() or True)
    key = ssh_keygen(env.path("alice_key"))
    gw.add_route("alice", key + ".pub", token="nbtok-alice")
    OpenSSHAgent(env, gw, "alice", key, env.backend_port).start()
    key = ssh_keygen(env.path("carol_key"))
    gw.add_route("carol", key + ".pub", token="nbtok-carol")
    NbAgent(env, gw, "carol", key, env.backend_port).start()
    env.tap.ok(wait_for(lambda: route_connected(gw, "alice") and route_connected(gw, "carol"), 20),
               "an OpenSSH agent and nbgate-agent connect")
    env.tok = {"alice": gw.token("alice"), "carol": gw.token("carol")}


def get(env, route, what, close=True, conn=None):
    """GET /user/ROUTE/WHAT on a new browser connection (or CONN): status, body."""
    return env.gw.get("/user/%s/%s" % (route, what), env.tok[route], conn=conn, close=close)


def conn_no(env, route, **kw):
    st, body = get(env, route, "conn", **kw)
    return json.loads(body)["conn"] if st == 200 else None


def metric(env, name):
    st, h, body = env.gw.request("GET", "/hub/metrics", token=env.gw.token("admin"))
    m = re.search(r"^%s (\d+)$" % re.escape(name), body.decode(), re.M)
    return int(m.group(1)) if m else None


def test_reuse(env):
    t = env.tap
    for route in ("alice", "carol"):
        first = conn_no(env, route)
        ids = [conn_no(env, route) for i in range(5)]
        t.ok(first is not None and ids == [first] * 5,
             "%s: five new browser connections (Connection: close) use the first one's "
             "connection to the notebook" % route, (first, ids))
        # A browser that just hangs up after its answer gives the stream back too.
        c = env.gw.conn()
        a = conn_no(env, route, close=False, conn=c)
        c.close()
        time.sleep(0.2)
        t.eq(conn_no(env, route), a, "%s: a kept-alive connection's stream is reused after the "
             "browser hangs up" % route)
    st, body = get(env, "alice", "conn")
    t.eq(json.loads(body)["name"], "alice", "the answer is from the route's own notebook")


def test_not_after_error(env):
    t = env.tap
    a = conn_no(env, "alice")
    st, body = get(env, "alice", "short")
    t.ok(st != 200 or len(body) != 100, "a response cut short by the notebook fails", (st, len(body)))
    b = conn_no(env, "alice")
    t.ok(b is not None and b != a, "the stream that carried it is not reused", (a, b))
    # A request whose body the browser never finished.
    s = socket.create_connection(("127.0.0.1", env.gw.https_port), 10)
    s = env.gw.ssl_context().wrap_socket(s)
    s.sendall(b"POST /user/alice/sha256 HTTP/1.1\r\nHost: x\r\nAuthorization: token %s\r\n"
              b"Content-Length: 100000\r\n\r\n" % env.tok["alice"].encode() + b"y" * 1000)
    time.sleep(0.3)
    s.close()
    time.sleep(0.3)
    c = conn_no(env, "alice")
    t.ok(c is not None and c != b, "a stream left with a request body unfinished is not reused",
         (b, c))


def test_notebook_closes(env):
    t = env.tap
    st, body = get(env, "alice", "close-idle")
    t.eq((st, body), (200, b"ok"), "a response after which the notebook closes the connection")
    time.sleep(0.8)
    st, body = get(env, "alice", "conn")
    t.eq(st, 200, "the next browser connection gets an answer, not the closed stream's 502")
    # Closed just as it is taken: a GET is sent again on a new stream ...
    a = conn_no(env, "alice")
    st, body = get(env, "alice", "close-next")
    st, body = get(env, "alice", "conn")
    b = json.loads(body)["conn"] if st == 200 else None
    t.ok(st == 200 and b != a, "a GET whose pooled stream the notebook closes unanswered is "
         "sent again on a new stream", (st, body, a))
    # ... a POST is not (it might have been acted on): 502.
    get(env, "alice", "close-next")
    st, h, body = env.gw.request("POST", "/user/alice/sha256", token=env.tok["alice"], body=b"x")
    t.eq(st, 502, "a POST on such a stream is not sent again: 502")


def test_idle(env):
    t = env.tap
    a = conn_no(env, "alice")
    t.eq(conn_no(env, "alice"), a, "reused within %d s" % IDLE)
    time.sleep(IDLE + 1.5)
    b = conn_no(env, "alice")
    t.ok(b is not None and b != a, "an idle stream is closed after proxy.upstream_idle", (a, b))


def test_bounded(env):
    t = env.tap
    n = POOL + 2
    conns = [env.gw.conn() for i in range(n)]
    held = [conn_no(env, "alice", close=False, conn=c) for c in conns]
    for c in conns:
        c.close()
    time.sleep(0.3)
    conns = [env.gw.conn() for i in range(n)]
    again = [conn_no(env, "alice", close=False, conn=c) for c in conns]
    for c in conns:
        c.close()
    reused = len(set(held) & set(again))
    t.ok(len(set(held)) == n and reused == POOL,
         "%d streams given back, the pool keeps %d of them" % (n, POOL), (held, again))


def test_metrics(env):
    t = env.tap
    before = metric(env, 'nbgate_proxy_upstream_streams_total{how="reused"}')
    for i in range(3):
        conn_no(env, "alice")
    after = metric(env, 'nbgate_proxy_upstream_streams_total{how="reused"}')
    t.ok(before is not None and after is not None and after - before >= 3,
         "the metrics count reused streams", (before, after))


def tls_health(gw, ctx, sess):
    """GET /hub/health on a new TLS connection offering SESS: (resumed, its session)."""
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", gw.https_port), 10), session=sess)
    s.sendall(b"GET /hub/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    read_all(s)
    r = (s.session_reused, s.session)
    s.close()
    return r


def resumed_in_a_row(gw, ctx, n):
    sess, reused = None, []
    for i in range(n):
        r, sess = tls_health(gw, ctx, sess)
        reused.append(r)
    return reused


def test_resumption(env):
    t = env.tap
    gw = env.gw
    ctx = gw.ssl_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    reused = resumed_in_a_row(gw, ctx, 4)
    t.ok(reused == [False, True, True, True], "TLS 1.3 clients resume with a ticket", reused)
    # A browser uses a ticket once: each resumed connection must bring the next one
    # (OpenSSL's client names a session by its ticket's digest: a new ticket, a new id).
    _, s1 = tls_health(gw, ctx, None)
    r2, s2 = tls_health(gw, ctx, s1)
    r3, s3 = tls_health(gw, ctx, s2)
    t.ok(r2 and r3 and len({s1.id, s2.id, s3.id}) == 3, "a resumed TLS 1.3 connection brings a "
         "fresh ticket, so clients that use a ticket once resume every time",
         (r2, r3, s1.id.hex()[:8], s2.id.hex()[:8], s3.id.hex()[:8]))
    ctx = gw.ssl_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_TICKET
    reused = resumed_in_a_row(gw, ctx, 3)
    t.ok(reused == [False, True, True], "TLS 1.2 clients without tickets resume from the "
         "server's session cache", reused)
    full = metric(env, 'nbgate_tls_handshakes_total{kind="resumed"}')
    t.ok(full is not None and full >= 5, "the metrics count resumed handshakes", full)


def test_reload_keeps_tickets(env):
    t = env.tap
    gw = env.gw
    ctx = gw.ssl_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    _, sess = tls_health(gw, ctx, None)
    r = gw.ctl("reload")
    t.eq(r.returncode, 0, "nbgatectl reload")
    time.sleep(0.5)
    reused, _ = tls_health(gw, ctx, sess)
    t.ok(reused, "a ticket issued before a config reload resumes after it")


def test_agent_cipher(env):
    with open("/proc/cpuinfo") as f:
        flags = set(" ".join(l for l in f if l.startswith("flags")).split())
    want = "aes256-gcm@openssh.com" if {"aes", "pclmulqdq"} <= flags else "chacha20-poly1305@openssh.com"
    m = re.findall(r"route carol: authenticated.*\n.*cipher (\S+)", env.procs.log("nbgated"))
    env.tap.eq(m[-1] if m else None, want, "nbgate-agent's link uses %s on this machine (AES "
               "instructions: %s)" % (want, {"aes", "pclmulqdq"} <= flags))


def test_certificate(env):
    t = env.tap
    with open(env.gw.cert()) as f:
        pem = f.read()
    import subprocess
    out = subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem, capture_output=True,
                         text=True).stdout
    t.ok("id-ecPublicKey" in out and "prime256v1" in out,
         "the self-signed default certificate is ECDSA P-256", out[:400])
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % env.gw.https_port,
                        "-groups", "X25519:P-256", "-brief"], input="", capture_output=True,
                       text=True, timeout=20)
    t.ok("X25519" in r.stdout + r.stderr, "X25519 is the key exchange offered first",
         (r.stdout + r.stderr)[-400:])


if __name__ == "__main__":
    run_all("test_pool", setup, [test_reuse, test_not_after_error, test_notebook_closes, test_idle,
                                 test_bounded, test_metrics, test_resumption,
                                 test_reload_keeps_tickets, test_agent_cipher, test_certificate])
