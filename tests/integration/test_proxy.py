"""test_proxy.py: the HTTPS front end and proxy through a tunnel dialled by plain
OpenSSH (ssh -R) to a real HTTP backend: header rules, framing, keep-alive,
authorization, login links."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Gateway, OpenSSHAgent, ssh_keygen, wait_for,  # noqa: E402
                     route_connected, backend_route, PATTERN)

HERE = os.path.dirname(os.path.abspath(__file__))


def setup(env):
    gw = Gateway(env).start()
    env.gw = gw
    env.tap.ok(backend_route(env, gw, "alice", token="nbtok-alice-secret"),
               "OpenSSH agent connects and gets its forward")
    env.alice = gw.token("alice")
    env.bob = gw.token("bob")


def headers_of(body):
    return dict((k.lower(), v) for k, v in json.loads(body)["headers"])


def test_headers(env):
    gw = env.gw
    st, h, body = gw.request("GET", "/user/alice/echo?x=1", token=env.alice, headers={
        "Cookie": "__Host-nbgate-session=v1:alice:1:ff; _xsrf=abc; other=1",
        "Connection": "keep-alive, X-Hop-Secret", "X-Hop-Secret": "1", "TE": "trailers",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==", "X-Forwarded-For": "6.6.6.6",
        "X-Custom": "kept"})
    env.tap.eq(st, 200, "GET through the tunnel answers 200")
    seen = headers_of(body)
    env.tap.eq(json.loads(body)["path"], "/user/alice/echo?x=1", "path and query reach the notebook unchanged")
    env.tap.eq(seen.get("authorization"), "token nbtok-alice-secret", "the notebook token replaces the user's credential")
    env.tap.eq(seen.get("x-forwarded-for"), "127.0.0.1", "X-Forwarded-For is the real peer, not the client's claim")
    env.tap.eq(seen.get("x-forwarded-proto"), "https", "X-Forwarded-Proto")
    env.tap.eq(seen.get("x-forwarded-host"), "127.0.0.1:%d" % gw.https_port, "X-Forwarded-Host")
    env.tap.eq(seen.get("cookie"), "_xsrf=abc; other=1", "the gateway's login cookie is not passed to the notebook")
    env.tap.ok("x-hop-secret" not in seen and "te" not in seen and "proxy-authorization" not in seen,
               "hop-by-hop headers are stripped", seen)
    env.tap.eq(seen.get("x-custom"), "kept", "end-to-end headers are kept")


def test_framing(env):
    gw = env.gw
    for kind, n in (("bytes", 3000000), ("chunked", 2500000), ("close", 1234567), ("bytes", 0)):
        st, h, body = gw.request("GET", "/user/alice/%s/%d" % (kind, n), token=env.alice)
        want = (PATTERN * 4)[:n]
        env.tap.ok(st == 200 and body == want, "%s response of %d bytes arrives intact" % (kind, n),
                   "status %d, got %d bytes" % (st, len(body)))
    st, h, body = gw.request("HEAD", "/user/alice/bytes/1000", token=env.alice)
    env.tap.ok(st == 200 and body == b"" and h.get("content-length") == "1000",
               "HEAD keeps Content-Length and sends no body", h)
    payload = os.urandom(3 * 1024 * 1024 + 7)
    import hashlib
    st, h, body = gw.request("POST", "/user/alice/sha256", token=env.alice, body=payload)
    env.tap.ok(st == 200 and json.loads(body)["sha256"] == hashlib.sha256(payload).hexdigest(),
               "a 3 MiB upload with Content-Length arrives intact", body[:200])
    def chunks():
        for i in range(0, len(payload), 100000):
            yield payload[i:i + 100000]
    st, h, body = gw.request("POST", "/user/alice/sha256", token=env.alice, body=chunks(),
                             headers={"Transfer-Encoding": "chunked"})
    env.tap.ok(st == 200 and json.loads(body)["sha256"] == hashlib.sha256(payload).hexdigest(),
               "a chunked upload arrives intact", body[:200])


def test_keepalive(env):
    c = env.gw.conn()
    ok = True
    for i in range(5):
        c.request("GET", "/user/alice/bytes/%d" % (1000 + i), headers={"Authorization": "token " + env.alice})
        r = c.getresponse()
        ok = ok and r.status == 200 and len(r.read()) == 1000 + i
    c.close()
    env.tap.ok(ok, "five requests on one kept-alive browser connection")
    s, h, _ = env.gw.request("GET", "/user/alice/bytes/10", token=env.alice, h1=True)
    env.tap.eq(h.get("connection"), "keep-alive", "responses say keep-alive")


def test_authz(env):
    gw = env.gw
    st, h, body = gw.request("GET", "/user/alice/echo")
    env.tap.eq(st, 401, "no credential: 401")
    env.tap.has(body.decode(), "not logged in", "the 401 page says what to do")
    st, h, body = gw.request("GET", "/user/alice/echo", token="not-a-token")
    env.tap.eq(st, 401, "a bad token: 401")
    st, h, body = gw.request("GET", "/user/alice/echo", token=env.bob)
    env.tap.eq(st, 403, "bob's token cannot reach alice's notebook (tunnel connected): 403")
    env.tap.has(body.decode(), "belongs to another user", "the 403 page explains")
    st, h, body = gw.request("GET", "/user/bob/echo", token=env.alice)
    env.tap.eq(st, 403, "alice cannot reach bob's route (no route, no tunnel): 403")
    key = ssh_keygen(env.path("bob_key"))
    gw.add_route("bob", key + ".pub")
    st, h, body = gw.request("GET", "/user/bob/echo", token=env.alice)
    env.tap.eq(st, 403, "alice cannot reach bob's route (route, no tunnel): 403")
    st, h, body = gw.request("GET", "/user/bob/echo", token=env.bob)
    env.tap.eq(st, 503, "bob's own route without a tunnel: 503")
    env.tap.has(body.decode(), "not connected", "the 503 page says the notebook is not connected")
    OpenSSHAgent(env, gw, "bob", key, env.backend_port).start()
    env.tap.ok(wait_for(lambda: route_connected(gw, "bob"), 20), "bob's agent connects")
    st, h, body = gw.request("GET", "/user/bob/echo", token=env.alice)
    env.tap.eq(st, 403, "alice cannot reach bob's route (tunnel connected): 403")
    st, h, body = gw.request("GET", "/user/bob/echo", token=env.bob)
    env.tap.eq(st, 200, "bob reaches his own notebook")
    st, h, body = gw.request("GET", "/hub/api/routes", token=env.alice)
    env.tap.eq(st, 403, "a non-admin token cannot use the admin API")
    st, h, body = gw.request("GET", "/hub/api/routes")
    env.tap.eq(st, 403, "the admin API without a token: 403")


def test_login_link(env):
    gw = env.gw
    r = gw.ctl("login-url", "alice")
    env.tap.eq(r.returncode, 0, "nbgatectl login-url works")
    url = r.stdout.strip()
    path = url[url.index("/hub/"):]
    st, h, body = gw.request("GET", path)
    env.tap.eq(st, 302, "the one-time link logs in and redirects")
    env.tap.eq(h.get("location"), "/user/alice/", "to the user's notebook")
    sc = h.get("set-cookie", "")
    env.tap.ok(all(a in sc for a in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/")),
               "the login cookie is HttpOnly, Secure, SameSite", sc)
    cookie = sc.split(";")[0]
    st, h, body = gw.request("GET", "/user/alice/echo", cookie=cookie)
    env.tap.eq(st, 200, "the cookie opens alice's notebook")
    env.tap.ok("cookie" not in headers_of(body), "and is not passed on to the notebook")
    st, h, body = gw.request("GET", "/user/bob/echo", cookie=cookie)
    env.tap.eq(st, 403, "the cookie does not open bob's")
    st, h, body = gw.request("GET", path)
    env.tap.eq(st, 403, "a used link is refused")
    forged = cookie.replace("alice", "bob")
    st, h, body = gw.request("GET", "/user/bob/echo", cookie=forged)
    env.tap.eq(st, 401, "a forged cookie is refused")
    log = env.procs.log("nbgated")
    env.tap.ok(env.alice not in log and url.split("code=")[1] not in log and
               "nbtok-alice-secret" not in log, "no token, code or notebook secret in the daemon's log")


def main():
    env = Env("test_proxy")
    env.run(setup)
    if env.tap.failed == 0:
        for t in (test_headers, test_framing, test_keepalive, test_authz, test_login_link):
            env.run(t)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    env.finish()


if __name__ == "__main__":
    main()
