"""test_h2.py (attack suite): hostile HTTP/2 clients on the HTTPS port.

What HTTP/2 adds to a request, a client can abuse: a stream reset costs the client one
frame and the server a request's work (rapid reset, CVE-2023-44487, and its twin where the
client makes the server reset); fields HTTP/1.1 cannot carry (upper case, CR/LF,
connection-specific fields, a Host that disagrees with :authority, a :path that is not a
path) would smuggle a second request or framing into the HTTP/1.1 the notebook reads; a
content-length the DATA frames do not match; a header list past the limit; more streams
than announced; a head that never ends.  Each is refused and counted; the connection or
the stream goes, the gateway stays."""
import os
import re
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Gateway, backend_route, run_all  # noqa: E402
from h2client import H2  # noqa: E402

HEADER_TIMEOUT = 3
MAX_RESETS = 200            # proxy.http2_max_resets' default
ENHANCE_YOUR_CALM = 11


def setup(env):
    gw = Gateway(env, extra="auth:\n  admins: [admin]\nproxy:\n  header_timeout: %ds\n"
                 % HEADER_TIMEOUT).start()
    env.gw = gw
    env.tap.ok(backend_route(env, gw, "alice", token="nbtok-alice-secret"), "the tunnel connects")
    env.alice = gw.token("alice")


def served(env):
    """1 if a new h2 connection is still served."""
    c = H2(env.gw)
    st = c.request("GET", "/user/alice/bytes/10", token=env.alice)
    c.close()
    return st.status == 200


def burst(env, n, bad_header=False):
    """N streams opened and reset (or made to be reset by the server) in one write."""
    c = H2(env.gw, validate=False)
    for i in range(n):
        hs = [("X-Upper", "1")] if bad_header else []
        st = c.send("GET", "/user/alice/sleep/1", token=env.alice, headers=hs, flush=False)
        if not bad_header:
            c.c.reset_stream(st.sid, 8)
    c.flush()
    c.pump(lambda: False, 3)
    return c


def test_rapid_reset(env):
    t = env.tap
    c = burst(env, MAX_RESETS // 2)
    st = c.request("GET", "/user/alice/bytes/10", token=env.alice, timeout=10)
    t.ok(c.goaway is None and st.status == 200, "%d resets (below proxy.http2_max_resets): the "
         "connection goes on" % (MAX_RESETS // 2), (c.goaway, st.status))
    c.close()
    c = burst(env, MAX_RESETS + 100)
    t.ok(c.goaway == ENHANCE_YOUR_CALM and c.closed,
         "attack h2-rapid-reset: %d streams opened and reset in a burst end the connection with "
         "GOAWAY ENHANCE_YOUR_CALM after proxy.http2_max_resets" % (MAX_RESETS + 100),
         (c.goaway, c.closed))
    c.close()
    t.ok("rapid reset" in env.procs.log("nbgated"), "and it is logged")
    c = burst(env, MAX_RESETS + 100, bad_header=True)
    t.ok(c.goaway == ENHANCE_YOUR_CALM and c.closed,
         "attack h2-made-you-reset: %d streams the server must reset (a malformed field each) "
         "end the connection the same way" % (MAX_RESETS + 100), (c.goaway, c.closed))
    c.close()
    t.ok(served(env), "the gateway serves the next connection")
    t.ok((metric(env.gw, 'nbgate_security_refused_total{rule="h2_abuse"}') or 0) >= 2,
         "connections ended for resets are counted in /hub/metrics")


def metric(gw, name):
    st, h, body = gw.request("GET", "/hub/metrics", token=gw.token("admin"))
    m = re.search(r"^%s (\d+)$" % re.escape(name), body.decode(), re.M)
    return int(m.group(1)) if m else None


def refused(st):
    return st.reset is not None or st.status == 400


def test_smuggling(env):
    t, gw = env.tap, env.gw
    cases = [
        ("h2-upper-case-field", [("X-Injected", "1")], {}),
        ("h2-connection-field", [("connection", "keep-alive")], {}),
        ("h2-transfer-encoding", [("transfer-encoding", "chunked")], {}),
        ("h2-upgrade-field", [("upgrade", "websocket")], {}),
        ("h2-keep-alive-field", [("keep-alive", "timeout=5")], {}),
        ("h2-crlf-in-value", [("x-a", "1\r\nX-Injected: 1")], {}),
        ("h2-lf-in-value", [("x-a", "1\nX-Injected: 1")], {}),
        ("h2-host-mismatch", [("host", "evil.example")], {}),
        ("h2-two-hosts", [("host", "127.0.0.1:%d" % gw.https_port), ("host", "evil.example")],
         {"authority": None}),
        ("h2-path-absolute", [], {"path": "http://evil.example/user/alice/echo"}),
        ("h2-path-relative", [], {"path": "user/alice/echo"}),
        ("h2-path-space", [], {"path": "/user/alice/echo HTTP/1.1\r\nX-Injected: 1"}),
    ]
    for name, hs, kw in cases:
        c = H2(gw, validate=False)
        path = kw.get("path", "/user/alice/echo")
        st = c.send("GET", path, token=env.alice, headers=hs, authority=kw.get("authority"))
        c.wait(st, 10)
        leaked = st.status == 200 and b"injected" in bytes(st.body).lower()
        t.ok(refused(st) and not leaked, "attack %s: refused (reset or 400), never passed on" % name,
             (st.status, st.reset, bytes(st.body)[:200]))
        c.close()
    # A body longer, or shorter, than its content-length.
    for name, cl, body in (("h2-content-length-short", 5, b"x" * 20),
                           ("h2-content-length-long", 100, b"x" * 5)):
        c = H2(gw, validate=False)
        st = c.send("POST", "/user/alice/sha256", token=env.alice, body=body,
                    headers=[("content-length", str(cl))])
        c.wait(st, 10)
        t.ok(st.reset is not None or st.status == 400,
             "attack %s: content-length %d with %d bytes of DATA: the stream is reset"
             % (name, cl, len(body)), (st.status, st.reset, bytes(st.body)[:100]))
        c.close()
    t.ok(served(env), "the gateway serves the next connection")


def test_limits(env):
    t, gw = env.tap, env.gw
    c = H2(gw, validate=False)
    st = c.request("GET", "/user/alice/echo", token=env.alice,
                   headers=[("x-big-%d" % i, "v" * 1000) for i in range(20)])
    t.ok(st.status == 431 or st.reset is not None, "attack h2-header-list: a 20 KiB header list "
         "(proxy.max_header_size 16 KiB) is refused", (st.status, st.reset))
    st = c.request("GET", "/user/alice/bytes/10", token=env.alice)
    t.eq(st.status, 200, "and the connection goes on")
    c.close()
    # More streams than the 100 announced, opened before reading the server's SETTINGS.
    c = H2(gw)
    sts = [c.send("GET", "/user/alice/sleep/2", token=env.alice) for i in range(130)]
    c.pump(lambda: all(s.ended or s.reset is not None for s in sts), 30)
    ok = sum(1 for s in sts if s.status == 200)
    refused_n = sum(1 for s in sts if s.reset == 7)
    open_n = sum(1 for s in sts if not s.ended and s.reset is None)
    t.ok(ok <= 100 and refused_n == 130 - ok and refused_n >= 30,
         "attack h2-too-many-streams: of 130 streams at once, those past the 100 announced are "
         "refused (REFUSED_STREAM)", ("200:", ok, "refused:", refused_n, "unanswered after 30 s:",
                                       open_n))
    c.close()
    # A request head that never ends: HEADERS without END_HEADERS, no CONTINUATION.
    c = H2(gw)
    c.pump(lambda: False, 0.5)
    start = time.time()
    c.sock.sendall(frame(1, 0, 1, b"\x82"))
    c.pump(lambda: False, HEADER_TIMEOUT + 5)
    took = time.time() - start
    t.ok(c.closed and took < HEADER_TIMEOUT + 3,
         "attack h2-slowloris-head: a HEADERS frame whose head never ends is closed at "
         "proxy.header_timeout", (c.closed, round(took, 1)))
    c.close()
    # One head in a HEADERS frame and CONTINUATION frames without end (CVE-2024-27316 kind):
    # full frames of 1000-byte fields; the head is never let to grow without bound.  Seven
    # frames stay under nghttp2's own count of CONTINUATIONs, so nbgated's limit acts.
    c = H2(gw)
    c.pump(lambda: False, 0.5)
    fields = (b"\x00\x03x-a\x7f\xe9\x06" + b"v" * 1000) * 15
    try:
        c.sock.sendall(frame(1, 0, 1, b"\x82") + frame(9, 0, 1, fields) * 7)
    except OSError:
        pass
    c.pump(lambda: False, HEADER_TIMEOUT - 1)
    t.ok(c.closed and c.goaway == ENHANCE_YOUR_CALM,
         "attack h2-continuation-flood: a head growing in CONTINUATION frames past four times "
         "proxy.max_header_size (16 KiB) ends the connection with GOAWAY ENHANCE_YOUR_CALM, "
         "before proxy.header_timeout", (c.closed, c.goaway))
    c.close()
    t.ok(served(env), "the gateway serves the next connection")


def frame(kind, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", sid) + payload


def test_still_running(env):
    env.tap.ok(env.gw.alive(), "nbgated is still running")


def main():
    run_all("test_attack_h2", setup, (test_rapid_reset, test_smuggling, test_limits,
                                      test_still_running))


if __name__ == "__main__":
    main()
