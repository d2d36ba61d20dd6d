"""test_h2.py: HTTP/2 to browsers (ALPN "h2"): the hub and proxied requests as h2 streams
through a real nbgated, to a real HTTP backend behind plain OpenSSH (ssh -R) and to a real
Jupyter Notebook behind nbgate-agent: the same header rules, framing, authorization and
stream pool as HTTP/1.1 (test_proxy.py), many streams on one connection, and flow control
that keeps the gateway from reading the notebook faster than the browser takes the bytes."""
import hashlib
import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Gateway, NbAgent, Notebook, ssh_keygen, wait_for,  # noqa: E402
                     route_connected, backend_route, run_all, rss_kib, login_path, PATTERN)
from h2client import H2  # noqa: E402


def setup(env):
    gw = Gateway(env, extra="auth:\n  admins: [admin]\n").start()
    env.gw = gw
    backend_route(env, gw, "alice", token="nbtok-alice-secret")
    env.nb = Notebook(env, "carol").start()
    ckey = ssh_keygen(env.path("carol_key"))
    gw.add_route("carol", ckey + ".pub", token=env.nb.token)
    NbAgent(env, gw, "carol", ckey, target_port=env.nb.port).start()
    env.tap.ok(wait_for(lambda: route_connected(gw, "alice") and route_connected(gw, "carol"), 30),
               "both tunnels connect")
    env.alice = gw.token("alice")
    env.bob = gw.token("bob")
    env.carol = gw.token("carol")


def test_alpn(env):
    t, gw = env.tap, env.gw
    c = H2(gw)
    t.eq(c.alpn, "h2", "a client offering h2 and http/1.1 gets h2")
    st = c.request("GET", "/hub/health")
    rs = c.c.remote_settings
    t.eq(rs.max_concurrent_streams, 100, "the server's SETTINGS: 100 concurrent streams")
    t.ok(dict(rs).get(8, 0) == 0, "no SETTINGS_ENABLE_CONNECT_PROTOCOL: browsers open WebSockets over "
         "HTTP/1.1", dict(rs))
    t.ok(st.status == 200 and bytes(st.body) == b"ok\n", "the hub answers over h2",
         (st.status, bytes(st.body)))
    t.eq(c.request("GET", "/hub/api/routes").status, 403, "the admin API without a token: 403 over h2")
    c.close()
    ctx = gw.ssl_context()
    ctx.set_alpn_protocols(["http/1.1"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", gw.https_port), 10))
    t.eq(s.selected_alpn_protocol(), "http/1.1", "a client offering only http/1.1 gets it")
    s.sendall(b"GET /hub/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    t.ok(s.recv(100).startswith(b"HTTP/1.1 200"), "and is served HTTP/1.1 as before")
    s.close()
    off = Gateway(env, name="nbgated-h1", extra="proxy:\n  http2: false\n").start()
    c = H2(off)
    t.eq(c.alpn, "http/1.1", "proxy.http2: false: ALPN offers only http/1.1")
    c.sock.close()
    off.stop()


def test_headers(env):
    t, gw = env.tap, env.gw
    c = H2(gw)
    st = c.request("GET", "/user/alice/echo?x=1", token=env.alice, headers=[
        ("cookie", "__Host-nbgate-session=v1:alice:1:ff"), ("cookie", "_xsrf=abc"),
        ("cookie", "other=1"), ("te", "trailers"), ("x-forwarded-for", "6.6.6.6"),
        ("forwarded", "for=6.6.6.6"), ("x-custom", "kept")])
    t.eq(st.status, 200, "GET through the tunnel over h2 answers 200")
    got = json.loads(bytes(st.body))
    seen = dict((k.lower(), v) for k, v in got["headers"])
    t.eq(got["path"], "/user/alice/echo?x=1", ":path reaches the notebook unchanged")
    t.eq(seen.get("host"), c.authority(), ":authority becomes Host")
    t.eq(seen.get("authorization"), "token nbtok-alice-secret",
         "the notebook token replaces the user's credential")
    t.eq(seen.get("x-forwarded-for"), "127.0.0.1", "X-Forwarded-For is the real peer")
    t.eq(seen.get("x-forwarded-proto"), "https", "X-Forwarded-Proto")
    t.eq(seen.get("cookie"), "_xsrf=abc; other=1",
         "cookie crumbs are joined and the gateway's login cookie is not passed on")
    t.ok("te" not in seen and "forwarded" not in seen, "te and Forwarded are not passed on", seen)
    t.eq(seen.get("x-custom"), "kept", "end-to-end headers are kept")
    t.ok("connection" not in st.headers and "transfer-encoding" not in st.headers and
         "keep-alive" not in st.headers, "no connection-specific field in the h2 response",
         st.headers)
    c.close()


def test_framing(env):
    t, gw = env.tap, env.gw
    c = H2(gw)
    for kind, n in (("bytes", 3000000), ("chunked", 2500000), ("close", 1234567), ("bytes", 0)):
        st = c.request("GET", "/user/alice/%s/%d" % (kind, n), token=env.alice)
        want = (PATTERN * 4)[:n]
        t.ok(st.status == 200 and st.ended and bytes(st.body) == want,
             "%s response of %d bytes arrives intact over h2" % (kind, n),
             "status %s, got %d bytes" % (st.status, len(st.body)))
    # Answers the notebook ends by closing, many at once: the tunnel's end of each stream
    # often holds more than the proxy's side takes when the EOF comes (libevent's flush of a
    # pair moved only up to the watermark, and the rest went with the stream).
    # The client takes nothing for a second, so every stream backs up while its notebook
    # connection ends.
    n = 700000
    c.auto_ack = False
    sts = [c.send("GET", "/user/alice/close/%d" % n, token=env.alice) for i in range(12)]
    c.pump(lambda: False, 1)
    c.auto_ack = True
    for s in sts:
        if s.body:
            c.c.acknowledge_received_data(len(s.body), s.sid)
    c.flush()
    c.pump(lambda: all(s.ended or s.reset is not None for s in sts), 60)
    t.eq(sum(1 for s in sts if s.ended and bytes(s.body) == (PATTERN * 4)[:n]), 12,
         "12 close-delimited answers of %d bytes at once, after a client's stall, arrive intact" % n)
    st = c.request("HEAD", "/user/alice/bytes/1000", token=env.alice)
    t.ok(st.status == 200 and len(st.body) == 0 and st.headers.get("content-length") == "1000",
         "HEAD keeps content-length and sends no body", st.headers)
    payload = os.urandom(3 * 1024 * 1024 + 7)
    digest = hashlib.sha256(payload).hexdigest()
    st = c.request("POST", "/user/alice/sha256", token=env.alice, body=payload,
                   headers=[("content-length", str(len(payload)))])
    t.ok(st.status == 200 and json.loads(bytes(st.body))["sha256"] == digest,
         "a 3 MiB upload with content-length arrives intact", bytes(st.body)[:200])
    st = c.request("POST", "/user/alice/sha256", token=env.alice, body=payload)
    t.ok(st.status == 200 and json.loads(bytes(st.body))["sha256"] == digest,
         "a 3 MiB upload without content-length arrives intact (chunked to the notebook)",
         bytes(st.body)[:200])
    c.close()


def test_multiplex(env):
    t, gw = env.tap, env.gw
    c = H2(gw)
    sts = [c.send("GET", "/user/alice/bytes/%d" % (1000 + i), token=env.alice) for i in range(100)]
    c.pump(lambda: all(s.ended or s.reset is not None for s in sts), 60)
    good = sum(1 for i, s in enumerate(sts)
               if s.status == 200 and bytes(s.body) == (PATTERN * 4)[:1000 + i])
    t.eq(good, 100, "100 concurrent streams on one h2 connection, all intact")
    conns = []
    for i in range(5):
        st = c.request("GET", "/user/alice/conn", token=env.alice)
        conns.append(json.loads(bytes(st.body))["conns"])
    t.ok(conns[0] == conns[-1], "five h2 requests in turn reuse the route's idle streams (the "
         "notebook accepted no new connection)", conns)
    t.ok(c.goaway is None and not c.closed, "the connection stays open")
    c.close()
    st, h, body = gw.request("GET", "/hub/metrics", token=gw.token("admin"))
    m = re.search(r"^nbgate_http2_streams_total (\d+)$", body.decode(), re.M)
    t.ok(m is not None and int(m.group(1)) >= 105, "h2 requests are counted in /hub/metrics",
         m and m.group(0))


def test_authz(env):
    t, gw = env.tap, env.gw
    c = H2(gw)
    st = c.request("GET", "/user/alice/echo")
    t.ok(st.status == 401 and b"not logged in" in st.body, "no credential: 401 over h2")
    t.eq(c.request("GET", "/user/alice/echo", token="not-a-token").status, 401, "a bad token: 401")
    st = c.request("GET", "/user/alice/echo", token=env.bob)
    t.ok(st.status == 403 and b"belongs to another user" in st.body,
         "bob's token cannot reach alice's notebook over h2: 403")
    t.eq(c.request("GET", "/user/carol/api/status", token=env.alice).status, 403,
         "alice cannot reach carol's notebook over h2: 403")
    t.eq(c.request("GET", "/user/bob/echo", token=env.bob).status, 503,
         "a user without a notebook: 503")
    t.eq(c.request("GET", "/hub/api/routes", token=env.alice).status, 403,
         "a non-admin token cannot use the admin API over h2")
    st = c.request("GET", login_path(gw, "alice"))
    cookie = st.headers.get("set-cookie", "").split(";")[0]
    t.ok(st.status == 302 and cookie.startswith("__Host-"),
         "a one-time login link over h2 sets the login cookie", (st.status, st.headers))
    for origin, want, what in ((gw.origin(), 200, "from the gateway's own origin: served"),
                               ("https://evil.example", 403, "from another origin: 403")):
        st = c.request("POST", "/user/alice/sha256", body=b"x",
                       headers=[("cookie", cookie), ("origin", origin)])
        t.eq(st.status, want, "a POST with the login cookie over h2 %s" % what)
    st = c.request("GET", "/user/alice/echo", headers=[("cookie", cookie)])
    t.eq(st.status, 200, "the cookie opens alice's notebook over h2")
    c.close()


def test_notebook(env):
    t, gw = env.tap, env.gw
    c = H2(gw)
    st = c.request("GET", "/user/carol/api/status", token=env.carol)
    t.ok(st.status == 200 and "started" in json.loads(bytes(st.body)),
         "a real notebook's /api/status over h2", (st.status, bytes(st.body)[:200]))
    st = c.request("GET", "/user/carol/tree", token=env.carol)
    t.ok(st.status == 200 and b"<html" in bytes(st.body).lower(),
         "the notebook's tree page over h2", (st.status, st.headers))
    name = "h2-%d.txt" % os.getpid()
    body = json.dumps({"type": "file", "format": "text", "content": "over h2\n"}).encode()
    st = c.request("PUT", "/user/carol/api/contents/" + name, token=env.carol, body=body,
                   headers=[("content-type", "application/json")])
    t.eq(st.status, 201, "a file saved through the contents API over h2")
    st = c.request("GET", "/user/carol/api/contents/" + name, token=env.carol)
    t.ok(st.status == 200 and json.loads(bytes(st.body))["content"] == "over h2\n",
         "and read back")
    c.close()


def test_flow_control(env):
    t, gw = env.tap, env.gw
    n = 64 * 1024 * 1024
    c = H2(gw)
    c.auto_ack = False      # the client's window (64 KiB) is never opened
    before = rss_kib(gw.proc.pid)
    st = c.send("GET", "/user/alice/bytes/%d" % n, token=env.alice)
    c.pump(lambda: False, 3)
    grown = rss_kib(gw.proc.pid) - before
    t.ok(st.status == 200 and len(st.body) <= 65535,
         "a client that opens no window gets no more than its window", len(st.body))
    # Bounded, not exact: the tunnel's window and (in the ASan build) the allocator's
    # quarantine count too; reading the answer ahead of the client would take 64 MiB.
    t.ok(grown < 32 * 1024, "and nbgated does not read the 64 MiB answer ahead of it "
         "(resident memory grew %d KiB)" % grown)
    c.auto_ack = True
    c.c.acknowledge_received_data(len(st.body), st.sid)
    c.flush()
    c.wait(st, 120)
    t.ok(st.ended and len(st.body) == n and hashlib.sha256(bytes(st.body)).digest() ==
         hashlib.sha256((PATTERN * 64)[:n]).digest(),
         "once the window opens the whole 64 MiB arrive intact", len(st.body))
    c.close()


def test_still_running(env):
    env.tap.ok(env.gw.alive(), "nbgated is still running")


def main():
    run_all("test_h2", setup, (test_alpn, test_headers, test_framing, test_multiplex, test_authz,
                               test_notebook, test_flow_control, test_still_running))


if __name__ == "__main__":
    main()
