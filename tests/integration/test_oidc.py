"""test_oidc.py: OpenID Connect login (daemon/web/oidc.c, daemon/ident/oidc.c, daemon/ident/jwt.c) against a
real OpenID provider: npm's oidc-provider (tests/browser/oidc-provider.mjs)
over HTTPS with a certificate from a CA made here, trusted by nbgated through
auth.oidc.ca_file. A scripted browser (urllib, cookies, redirects followed
by hand) runs the whole authorization code flow: /hub/login's button,
/hub/oauth_login, the provider's login form, /hub/oauth_callback, the login
cookie; and the same in Debian's Chromium (tests/browser/oidc-login.js,
screenshots kept in the artifacts). Then: alice lands on /hub/home and cannot
reach /user/bob/; a tampered state, a replayed callback and a callback from
another browser are refused; next= never leaves the site; one address's
flood of logins only pushes out its own; the provider's access_denied, a
user whose name is not a Unix name, a wrong client secret (after a reload),
an untrusted CA and a provider that is down each get a clear page and count
in nbgate_login_failures_total; a key rotation (new kid, ES256), a
client_secret_post-only provider and a provider that keeps the user name in
userinfo work; nbgated keeps serving, and its log holds no secret, code or
cookie.
"""
import http.cookiejar
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRCDIR, Env, Gateway, binary, browser_walk, free_port, wait_for  # noqa: E402

BROWSER_DIR = os.path.join(SRCDIR, "tests", "browser")
PROVIDER = os.path.join(BROWSER_DIR, "oidc-provider.mjs")
SECRET = "client-secret-" + os.urandom(12).hex()
LABEL = "Test IdP"


def make_certs(env):
    """A test CA and a server certificate for 127.0.0.1 signed by it."""
    d = env.path("pki")
    os.makedirs(d)

    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=nbgate test OIDC CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "idp.key", "-out", "idp.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "idp.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "idp.pem", "-days", "2", "-extfile", "ext")
    # A second CA that signed nothing: trusting it must make the provider unreachable.
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out",
        "other.pem", "-days", "2", "-subj", "/CN=unrelated CA")
    return d


def write_secret(path, value):
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)


def start_provider(env, signing=None, auth=None, conform=False):
    idp_secret = env.path("idp-secret")
    write_secret(idp_secret, SECRET)
    n = env.procs.log("oidc-provider").count("ready ")
    p = env.procs.start("oidc-provider", [
        shutil.which("node") or "node", PROVIDER, str(env.idp_port),
        os.path.join(env.pki, "idp.pem"), os.path.join(env.pki, "idp.key"), idp_secret,
        "https://127.0.0.1:%d/hub/oauth_callback" % env.gw.https_port] +
        ([signing] if signing else []), cwd=BROWSER_DIR,
        env=dict([("OIDC_TEST_AUTH", auth)] if auth else []) |
        ({"OIDC_TEST_CONFORM": "1"} if conform else {}))
    if not wait_for(lambda: env.procs.log("oidc-provider").count("ready ") > n, 30):
        raise RuntimeError("oidc-provider did not start:\n" + env.procs.log("oidc-provider"))
    env.idp_pid = p.pid


def gw_config(env, ca):
    return ("public_url: https://127.0.0.1:%d\n"
            "auth:\n  admins: [carol]\n  oidc:\n"
            "    issuer: %s\n    client_id: nbgate\n    client_secret_file: %s\n"
            "    ca_file: %s\n    button_label: %s\n"
            % (env.gw.https_port, env.issuer, env.secret_file, ca, LABEL))


def reload_gw(env, ca):
    """Rewrites the oidc block and SIGHUPs nbgated; waits for the reload line."""
    with open(env.gw.config) as f:
        base = f.read().split("public_url:")[0]
    with open(env.gw.config, "w") as f:
        f.write(base + gw_config(env, ca))
    n = env.procs.log("nbgated").count("reload: configuration")
    os.kill(env.gw.proc.pid, signal.SIGHUP)
    if not wait_for(lambda: env.procs.log("nbgated").count("reload: configuration") > n, 10):
        raise RuntimeError("nbgated did not reload:\n" + env.procs.log("nbgated")[-2000:])


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


class Browser:
    """Cookies, TLS trusting the gateway and the test CA, no automatic redirects."""

    def __init__(self, env):
        self.env = env
        self.jar = http.cookiejar.CookieJar()
        ctx = ssl.create_default_context(cafile=os.path.join(env.pki, "ca.pem"))
        ctx.load_verify_locations(cafile=env.gw.cert())
        ctx.check_hostname = False
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ctx), urllib.request.HTTPCookieProcessor(self.jar),
            NoRedirect())

    def req(self, url, data=None):
        if url.startswith("/"):
            url = "https://127.0.0.1:%d%s" % (self.env.gw.https_port, url)
        r = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode()
                                   if data is not None else None)
        try:
            resp = self.opener.open(r, timeout=30)
        except urllib.error.HTTPError as e:
            resp = e
        body = resp.read().decode("utf-8", "replace")
        self.last_headers = resp.headers
        loc = resp.headers.get("Location")
        return resp.status if hasattr(resp, "status") else resp.code, loc and \
            urllib.parse.urljoin(url, loc), body

    def cookie(self, name):
        for c in self.jar:
            if c.name == name:
                return c
        return None

    def start(self, next_=None):
        """/hub/oauth_login: returns the provider's authorization URL."""
        path = "/hub/oauth_login" + ("?next=" + urllib.parse.quote(next_, safe="")
                                     if next_ is not None else "")
        st, loc, body = self.req(path)
        if st != 302 or not loc or not loc.startswith(self.env.issuer):
            raise RuntimeError("oauth_login: %s %s %s" % (st, loc, body[:500]))
        self.env.set_cookies.append(self.last_headers.get_all("Set-Cookie") or [])
        return loc

    def at_provider(self, auth_url, user, password=None, action="login"):
        """Follows the provider until it sends the browser back: the callback URL."""
        url, form_url = auth_url, None
        for _ in range(10):
            st, loc, body = self.req(url) if form_url is None else self.req(
                form_url, {"login": user, "password": password or user + "-pw",
                           "action": action})
            form_url = None
            if loc and loc.startswith("https://127.0.0.1:%d/" % self.env.gw.https_port):
                return loc
            if loc:
                url = loc
                continue
            m = re.search(r'<form method="post" action="([^"]+)"', body)
            if st == 200 and m:
                form_url = urllib.parse.urljoin(url, m.group(1))
                continue
            raise RuntimeError("provider: %s at %s: %s" % (st, url, body[:500]))
        raise RuntimeError("provider: too many redirects")

    def login(self, user, next_=None):
        """The whole flow; returns the callback's (status, location, body)."""
        cb = self.at_provider(self.start(next_), user)
        self.env.codes.append(urllib.parse.parse_qs(urllib.parse.urlsplit(cb).query)
                              .get("code", [""])[0])
        return self.req(cb)


def metric_failures(env):
    st, _, out = env.gw.request("GET", "/hub/metrics", token=env.admin_token)
    m = re.search(r"^nbgate_login_failures_total (\d+)$", out.decode(), re.M)
    return int(m.group(1)) if st == 200 and m else -1


def test_login_page(env):
    t = env.tap
    b = Browser(env)
    st, _, body = b.req("/hub/login")
    t.eq(st, 200, "/hub/login answers with only OIDC configured")
    t.has(body, 'href="/hub/oauth_login">Sign in with Test IdP</a>',
          "the page has the 'Sign in with <button_label>' button")
    st, _, body = b.req("/hub/login?next=/hub/spawn")
    t.has(body, 'href="/hub/oauth_login?next=/hub/spawn"', "the button carries next=")
    st, _, body = b.req("/hub/home")
    t.has(body, 'href="/hub/login"', "/hub/home links to the login page for a visitor")


def test_alice(env):
    t = env.tap
    b = Browser(env)
    auth = b.start()
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(auth).query)
    t.ok(q.get("response_type") == ["code"] and q.get("client_id") == ["nbgate"] and
         q.get("code_challenge_method") == ["S256"] and
         len(q.get("code_challenge", [""])[0]) == 43 and len(q.get("state", [""])[0]) >= 43 and
         len(q.get("nonce", [""])[0]) >= 43 and q.get("scope") == ["openid profile email"] and
         q.get("redirect_uri") == ["https://127.0.0.1:%d/hub/oauth_callback" % env.gw.https_port],
         "authorization request: code flow, PKCE S256, state, nonce, scopes, redirect URI", q)
    sc = " ".join(env.set_cookies[-1])
    t.ok(re.search(r"nbgate-oidc=[\w-]{43}; Path=/hub/oauth_callback; Max-Age=600; HttpOnly; "
                   r"Secure; SameSite=Lax", sc) is not None,
         "the login is bound to the browser by an HttpOnly Secure SameSite=Lax cookie", sc)
    cb = b.at_provider(auth, "alice")
    env.codes.append(urllib.parse.parse_qs(urllib.parse.urlsplit(cb).query)["code"][0])
    t0 = time.time()
    st, loc, body = b.req(cb)
    t.diag("callback (token request, key set fetch, verification): %.0f ms" %
           (1000 * (time.time() - t0)))
    t.eq((st, loc and urllib.parse.urlsplit(loc).path), (303, "/hub/home"),
         "the callback logs alice in and sends her to /hub/home")
    c = b.cookie("__Host-nbgate-session")
    sc = " ".join(b.last_headers.get_all("Set-Cookie") or [])
    t.ok(c is not None and c.value.startswith("v1:alice:") and "HttpOnly" in sc and
         "Secure" in sc and "SameSite=Lax" in sc, "the login cookie is set (HttpOnly, Secure, "
         "SameSite=Lax) for alice", sc)
    env.session_cookies.append(c.value if c else "")
    st, _, body = b.req("/hub/home")
    t.ok(st == 200 and "Logged in as alice" in body, "/hub/home shows alice", body[:300])
    st, _, body = b.req("/user/bob/tree")
    t.eq(st, 403, "alice's cookie cannot reach /user/bob/ (403)")
    st, _, _ = b.req("/user/alice/tree")
    t.ok(st not in (401, 403), "alice's cookie may reach /user/alice/ (not connected: %d)" % st)
    st, _, body = b.req(cb)
    t.ok(st == 400 and "already used" in body, "replaying the used callback is refused",
         (st, body[:400]))


def test_browser(env):
    """Chromium: click "Log in", "Sign in with Test IdP", log in at the provider."""
    t = env.tap
    res, shots = browser_walk(env, "oidc-login.js",
                              ["https://127.0.0.1:%d" % env.gw.https_port, "alice", "alice-pw"], 180)
    steps = res.get("steps", {})
    t.ok("error" not in res, "Chromium: the sign-in walk completes", res.get("error"))
    t.eq(steps.get("login_page", {}).get("button"), "Sign in with " + LABEL,
         "Chromium: /hub/login shows the sign-in button")
    t.ok(steps.get("provider", {}).get("url", "").startswith(env.issuer + "/interaction/"),
         "Chromium: the button leads to the provider's login form", steps.get("provider"))
    t.has(steps.get("wrong", {}).get("error"), "Wrong login or password",
          "Chromium: the provider refuses a wrong password")
    home = steps.get("home", {})
    t.ok(home.get("url") == "https://127.0.0.1:%d/hub/home" % env.gw.https_port and
         home.get("who") == "Logged in as alice", "Chromium: lands on /hub/home as alice", home)
    t.has(steps.get("logout", {}).get("text"), "You are not logged in",
          "Chromium: after logging out, not logged in")
    names = sorted(os.listdir(shots))
    t.eq(len(names), 5, "Chromium: a screenshot of each step kept in %s" % shots)


def test_both_methods(env):
    """PAM and OIDC together: the button above the password form."""
    t = env.tap
    gw2 = Gateway(env, name="nbgated-both")
    with open(gw2.config, "a") as f:
        f.write(gw_config(env, os.path.join(env.pki, "ca.pem")).replace(
            "public_url: https://127.0.0.1:%d" % env.gw.https_port,
            "public_url: https://127.0.0.1:%d" % gw2.https_port).replace(
            "auth:\n", "auth:\n  pam: true\n"))
    gw2.start()
    st, _, out = gw2.request("GET", "/hub/login")
    out = out.decode()
    t.ok(st == 200 and out.find('id="oidc-login"') < out.find('name="password"') and
         out.find('id="oidc-login"') > 0, "with pam and oidc, /hub/login has the button "
         "above the password form", out[:800])
    gw2.stop()
    bad = Gateway(env, name="nbgated-badca")
    with open(bad.config, "a") as f:
        f.write(gw_config(env, env.path("no-such-ca.pem")).replace(
            "public_url: https://127.0.0.1:%d" % env.gw.https_port,
            "public_url: https://127.0.0.1:%d" % bad.https_port))
    p = env.procs.start("nbgated-badca", [binary("nbgated"), "-c", bad.config])
    p.wait(20)
    t.ok(p.returncode != 0 and "ca_file" in env.procs.log("nbgated-badca") and
         "no-such-ca.pem" in env.procs.log("nbgated-badca"),
         "a missing ca_file stops nbgated at start with a message naming it",
         env.procs.log("nbgated-badca")[-500:])
    env.procs.stop("nbgated-badca")


def test_bob(env):
    t = env.tap
    b = Browser(env)
    st, loc, _ = b.login("bob")
    t.eq(st, 303, "bob logs in")
    st, _, body = b.req("/hub/home")
    t.ok("Logged in as bob" in body, "/hub/home shows bob")
    st, _, _ = b.req("/user/alice/")
    t.eq(st, 403, "bob's cookie cannot reach /user/alice/ (403)")
    c = b.cookie("__Host-nbgate-session")
    env.session_cookies.append(c.value if c else "")


def test_state(env):
    t = env.tap
    b = Browser(env)
    cb = b.at_provider(b.start(), "alice")
    env.codes.append(urllib.parse.parse_qs(urllib.parse.urlsplit(cb).query)["code"][0])
    parts = urllib.parse.urlsplit(cb)
    q = urllib.parse.parse_qs(parts.query)
    s = q["state"][0]
    q["state"] = [s[:-1] + ("A" if s[-1] != "A" else "B")]
    bad = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q, doseq=True)))
    before = metric_failures(env)
    st, _, body = b.req(bad)
    t.ok(st == 400 and "Sign-in expired" in body and 'href="/hub/login"' in body,
         "a tampered state is refused with a page and a link to try again", (st, body[:400]))
    t.eq(metric_failures(env), before + 1, "... counted in nbgate_login_failures_total")
    t.ok(b.cookie("__Host-nbgate-session") is None, "... and no login cookie")
    other = Browser(env)
    st, _, body = other.req(cb)
    t.ok(st == 403 and "another browser" in body,
         "the genuine callback in another browser (no binding cookie) is refused", (st, body[:400]))
    st, _, body = b.req(cb)
    t.ok(st == 400 and b.cookie("__Host-nbgate-session") is None,
         "... and that used the state up: the first browser cannot use it either", st)


def test_next(env):
    t = env.tap
    for nxt, want in (("https://evil.example/", "/hub/home"), ("//evil.example/x", "/hub/home"),
                      ("/\\evil.example", "/hub/home"), ("/hub/spawn", "/hub/spawn")):
        b = Browser(env)
        st, loc, _ = b.login("alice", nxt)
        t.ok(st == 303 and loc == "https://127.0.0.1:%d%s" % (env.gw.https_port, want),
             "next=%s: after login the browser goes to %s" % (nxt, want), (st, loc))


def test_flood(env):
    """One address starting many logins only pushes out its own oldest ones."""
    t = env.tap
    b = Browser(env)
    cb = b.at_provider(b.start(), "alice")
    env.codes.append(urllib.parse.parse_qs(urllib.parse.urlsplit(cb).query)["code"][0])
    t0 = time.time()
    for _ in range(70):
        b.start()
    t.ok(time.time() - t0 < 20, "70 more logins started in %.1f s" % (time.time() - t0))
    st, _, body = b.req(cb)
    t.ok(st == 400 and "Sign-in expired" in body,
         "past 64 logins under way from one address, the oldest is forgotten", (st, body[:300]))
    t0 = time.time()
    st, _, _ = Browser(env).login("alice")
    t.eq(st, 303, "a new login still works")
    t.diag("one whole login, the provider's form included: %.0f ms" % (1000 * (time.time() - t0)))


def test_denied(env):
    t = env.tap
    b = Browser(env)
    before = metric_failures(env)
    cb = b.at_provider(b.start(), "alice", action="deny")
    t.has(cb, "error=access_denied", "the provider sends the browser back with access_denied")
    st, _, body = b.req(cb)
    t.ok(st == 403 and "access denied" in body and "The user said no." in body and
         'href="/hub/login"' in body, "access_denied: a clear page with the provider's words "
         "and a way to try again", (st, body[:500]))
    t.eq(metric_failures(env), before + 1, "... counted in nbgate_login_failures_total")


def test_bad_name(env):
    t = env.tap
    b = Browser(env)
    st, _, body = b.login("mallory")
    t.ok(st == 403 and "No account on this gateway" in body and
         "not a valid user name" in body and b.cookie("__Host-nbgate-session") is None,
         "a user whose preferred_username is not a Unix name is refused with a clear page",
         (st, body[:600]))


def test_rotation(env):
    """The provider comes back signing with a new ES256 key: one key set refetch."""
    t = env.tap
    env.procs.stop("oidc-provider")
    start_provider(env, "ES256:rotated-ec")
    time.sleep(10.5)  # nbgated refetches keys for a new kid at most every 10 s
    n = env.procs.log("nbgated").count("signing keys from")
    b = Browser(env)
    st, loc, body = b.login("alice")
    t.ok(st == 303 and b.cookie("__Host-nbgate-session") is not None,
         "after a key rotation (new kid, ES256) login works", (st, body[:400]))
    t.eq(env.procs.log("nbgated").count("signing keys from"), n + 1,
         "... after exactly one key set refetch")
    _, _, keys = b.req(env.issuer + "/jwks")
    t.eq([(k.get("kty"), k.get("kid")) for k in json.loads(keys)["keys"]],
         [("EC", "rotated-ec")], "... and the provider's only key is that EC key")


def test_client_post(env):
    """A provider whose token endpoint takes only client_secret_post."""
    t = env.tap
    env.procs.stop("oidc-provider")
    start_provider(env, auth="client_secret_post")
    shutil.copy(os.path.join(env.pki, "ca.pem"), os.path.join(env.pki, "ca-post.pem"))
    reload_gw(env, os.path.join(env.pki, "ca-post.pem"))  # forget the discovery document
    log = env.procs.log("oidc-provider")
    t.ok("token request: client_secret_basic" in log, "so far nbgated used client_secret_basic")
    n = log.count("token request:")
    st, _, body = Browser(env).login("bob")
    t.ok(st == 303, "a provider offering only client_secret_post: bob logs in",
         (st, body[:400]))
    t.eq(env.procs.log("oidc-provider").count("token request: no Authorization header"), 1,
         "... and nbgated sent the secret in the form, not with HTTP Basic")
    t.eq(env.procs.log("oidc-provider").count("token request:"), n + 1, "... in one request")
    env.procs.stop("oidc-provider")
    start_provider(env)
    reload_gw(env, os.path.join(env.pki, "ca.pem"))


def test_userinfo(env):
    """A provider that puts preferred_username only in userinfo."""
    t = env.tap
    env.procs.stop("oidc-provider")
    start_provider(env, conform=True)
    n = env.procs.log("oidc-provider").count("userinfo request")
    b = Browser(env)
    st, _, body = b.login("bob")
    t.ok(st == 303 and b.cookie("__Host-nbgate-session") is not None and
         b.cookie("__Host-nbgate-session").value.startswith("v1:bob:"),
         "the user name claim only in userinfo: nbgated asks userinfo and bob logs in",
         (st, body[:400]))
    t.eq(env.procs.log("oidc-provider").count("userinfo request"), n + 1,
         "... with one userinfo request")
    env.procs.stop("oidc-provider")
    start_provider(env)
    n = env.procs.log("oidc-provider").count("userinfo request")
    st, _, _ = Browser(env).login("alice")
    t.ok(st == 303 and env.procs.log("oidc-provider").count("userinfo request") == n,
         "with the claim in the ID token, userinfo is not asked")


def test_wrong_secret(env):
    t = env.tap
    write_secret(env.secret_file, "not-the-" + SECRET)
    reload_gw(env, os.path.join(env.pki, "ca.pem"))
    b = Browser(env)
    before = metric_failures(env)
    st, _, body = b.login("alice")
    t.ok(st == 502 and "Sign-in misconfigured" in body and "administrators" in body and
         b.cookie("__Host-nbgate-session") is None,
         "wrong client secret: the token endpoint refuses, a clear page", (st, body[:500]))
    t.eq(metric_failures(env), before + 1, "... counted in nbgate_login_failures_total")
    t.has(env.procs.log("nbgated"), "invalid_client", "the log says why (invalid_client)")
    write_secret(env.secret_file, SECRET)
    reload_gw(env, os.path.join(env.pki, "ca.pem"))
    st, _, _ = Browser(env).login("alice")
    t.eq(st, 303, "with the right secret again (reloaded), login works")


def test_untrusted_ca(env):
    t = env.tap
    reload_gw(env, os.path.join(env.pki, "other.pem"))
    b = Browser(env)
    st, _, body = b.req("/hub/oauth_login")
    t.ok(st == 503 and "cannot reach the identity provider" in body,
         "a provider whose certificate ca_file does not trust: a clear 503 page", (st, body[:400]))
    reload_gw(env, os.path.join(env.pki, "ca.pem"))


def test_provider_down(env):
    t = env.tap
    b = Browser(env)
    cb = b.at_provider(b.start(), "alice")
    env.codes.append(urllib.parse.parse_qs(urllib.parse.urlsplit(cb).query)["code"][0])
    env.procs.stop("oidc-provider")
    t.ok(wait_for(lambda: subprocess.run(["kill", "-0", str(env.idp_pid)],
                                         capture_output=True).returncode != 0, 5),
         "the provider is stopped")
    before = metric_failures(env)
    t0 = time.time()
    st, _, body = b.req(cb)
    t.ok(st == 503 and "cannot reach the identity provider" in body and 'href="/hub/login"' in body,
         "provider down at the token request: a clear 503 page with a way to try again",
         (st, body[:400]))
    t.ok(time.time() - t0 < 15, "... within the request timeout (%.1f s)" % (time.time() - t0))
    t.eq(metric_failures(env), before + 1, "... counted in nbgate_login_failures_total")
    # Another ca_file path makes nbgated forget the discovery document.
    shutil.copy(os.path.join(env.pki, "ca.pem"), os.path.join(env.pki, "ca2.pem"))
    reload_gw(env, os.path.join(env.pki, "ca2.pem"))
    st, _, body = Browser(env).req("/hub/oauth_login")
    t.ok(st == 503 and "cannot reach the identity provider" in body,
         "provider down at discovery: a clear 503 page", (st, body[:400]))
    st, _, body = env.gw.request("GET", "/hub/health")
    t.ok(st == 200 and env.gw.alive(), "nbgated keeps serving")
    st, _, body = Browser(env).req("/hub/login")
    t.eq(st, 200, "... its login page too")


def test_no_secrets_in_log(env):
    t = env.tap
    log = env.procs.log("nbgated")
    leaks = [what for what, s in [("client secret", SECRET)] +
             [("code", c) for c in env.codes if c] +
             [("login cookie", c) for c in env.session_cookies if c] if s in log]
    t.ok(not leaks and env.codes, "nbgated's log holds no client secret, no authorization "
         "code (%d checked) and no login cookie" % len(env.codes), leaks)
    with open("/proc/%d/cmdline" % env.gw.proc.pid, "rb") as f:
        t.ok(SECRET.encode() not in f.read(), "the secret is not on nbgated's command line")
    t.has(log, "logged in with OpenID Connect (sub alice)", "the log names who logged in")


def main():
    env = Env("test_oidc")
    env.codes, env.session_cookies, env.set_cookies = [], [], []
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "oidc-provider")):
        env.tap.ok(False, "oidc-provider is installed (run scripts/deps.sh test: npm install in "
                   "tests/browser)")
        env.finish()
    env.pki = make_certs(env)
    env.secret_file = env.path("oidc-client-secret")
    write_secret(env.secret_file, SECRET)
    env.gw = Gateway(env)
    env.idp_port = free_port()
    env.issuer = "https://127.0.0.1:%d" % env.idp_port
    with open(env.gw.config, "a") as f:
        f.write(gw_config(env, os.path.join(env.pki, "ca.pem")))
    start_provider(env)
    env.gw.start()
    env.admin_token = env.gw.token("carol")
    env.run(test_login_page)
    env.run(test_alice)
    env.run(test_browser)
    env.run(test_both_methods)
    env.run(test_bob)
    env.run(test_state)
    env.run(test_next)
    env.run(test_flood)
    env.run(test_denied)
    env.run(test_bad_name)
    env.run(test_rotation)
    env.run(test_client_post)
    env.run(test_userinfo)
    env.run(test_wrong_secret)
    env.run(test_untrusted_ca)
    env.run(test_provider_down)
    env.run(test_no_secrets_in_log)
    env.finish()


if __name__ == "__main__":
    main()
