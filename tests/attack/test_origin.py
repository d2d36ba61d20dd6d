"""test_origin.py (attack suite): another origin in the user's browser.

nbgated adds the notebook's token to every proxied request, which turns the
notebook's own XSRF and Origin checks off, so nbgated owns them: a request the
login cookie authenticates that may change something, and every upgrade, must
come from the gateway's own origin; the hub API wants the XSRF token and JSON
when a cookie authenticates it; administrators do not open users' notebooks
unless auth.admin_access says so.  Each attack is tried by raw requests and,
for the browser's side, by a hostile page on a sibling host (same site, so the
SameSite=Lax cookie goes along) in a real Chromium; each check first shows the
same action from the gateway's own pages works."""
import json
import os
import re
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import (Env, Gateway, NbAgent, Notebook, ssh_keygen, wait_for,  # noqa: E402
                     route_connected, browser_walk, login_path, ws_execute, free_port)

FOREIGN = "https://evil.nbtest.example"
EVIL_PAGE = """<!DOCTYPE html><html><body><p>a page on a sibling host</p><script>
const [gw, kid] = decodeURIComponent(location.hash.slice(1)).split('|');
window.results = {};
async function attempt(name, f) {
  try { window.results[name] = await f(); } catch (e) { window.results[name] = 'error: ' + e; }
}
async function run() {
  await attempt('post', async () => (await fetch(gw + '/user/alice/api/contents', {
    method: 'POST', mode: 'no-cors', credentials: 'include',
    headers: {'Content-Type': 'text/plain'}, body: JSON.stringify({type: 'file', ext: '.txt'})})).type);
  await attempt('terminal', async () => (await fetch(gw + '/user/alice/api/terminals', {
    method: 'POST', mode: 'no-cors', credentials: 'include'})).type);
  await attempt('read', async () => {
    const r = await fetch(gw + '/user/alice/api/contents', {credentials: 'include'});
    return 'read ' + r.status + ' ' + (await r.text()).slice(0, 80);
  });
  window.results.ws = await new Promise((done) => {
    const ws = new WebSocket(gw.replace('https', 'wss') + '/user/alice/api/kernels/' + kid + '/channels');
    const t = setTimeout(() => done('timeout'), 15000);
    ws.onopen = () => { clearTimeout(t); done('open'); };
    ws.onerror = () => { clearTimeout(t); done('error'); };
  });
  window.done = true;
}
run();
</script></body></html>"""
FORM_PAGE = """<!DOCTYPE html><html><body>
<form id="f" method="POST" enctype="text/plain"><input name='{"type":"file","x":"' value='"}'></form>
<script>document.getElementById('f').action = decodeURIComponent(location.hash.slice(1)) +
  '/user/alice/api/contents'; document.getElementById('f').submit();</script></body></html>"""
API_PAGE = """<!DOCTYPE html><html><body><script>
const gw = decodeURIComponent(location.hash.slice(1));
window.results = {};
fetch(gw + '/hub/api/routes/alice', {method: 'POST', mode: 'no-cors', credentials: 'include',
  headers: {'Content-Type': 'text/plain'}, body: JSON.stringify({key: %s})})
  .then((r) => { window.results.route = r.type; }, (e) => { window.results.route = 'error ' + e; })
  .finally(() => { window.done = true; });
</script></body></html>"""


class EvilServer:
    """The hostile site: HTTPS on 127.0.0.2 (the test's own thread)."""

    def __init__(self, env, cert, key, pages):
        pages = dict(pages)

        class H(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                body = pages.get(self.path.split("?")[0].split("#")[0], "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.port = free_port()
        self.srv = ThreadingHTTPServer(("127.0.0.2", self.port), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def cookie_of(gw, user):
    st, h, _ = gw.request("GET", login_path(gw, user))
    m = re.match(r"(__Host-nbgate-session=[^;]+)", h.get("set-cookie", ""))
    if st != 303 and st != 302 or m is None:
        raise RuntimeError("login link for %s: %d %r" % (user, st, h))
    return m.group(1)


def xsrf_of(gw, cookie):
    st, h, body = gw.request("GET", "/hub/logout", cookie=cookie)  # its form has the token
    m = re.search(rb'name="_xsrf" value="([0-9a-f]{64})"', body)
    if m is None:
        raise RuntimeError("no _xsrf field on /hub/logout: %d" % st)
    return m.group(1).decode()


def files(nb):
    return sorted(f for f in os.listdir(nb.dir) if not f.startswith("."))


def refused_lines(gw, needle):
    return [ln for ln in gw.env.procs.log(gw.name).splitlines() if "refused" in ln and needle in ln]


def metric(gw, token, name):
    st, h, body = gw.request("GET", "/hub/metrics", token=token)
    m = re.search(r"^%s (\d+)$" % re.escape(name), body.decode(), re.M)
    return int(m.group(1)) if m else None


def test_raw(env):
    t, gw, nb = env.tap, env.gw, env.nb
    alice = cookie_of(gw, "alice")
    own = gw.origin()
    body = json.dumps({"type": "file", "ext": ".txt"}).encode()
    ct = {"Content-Type": "application/json"}
    # The same action from the gateway's own origin works: the rule is not "refuse all".
    st, _, _ = gw.request("POST", "/user/alice/api/contents", cookie=alice, body=body, headers=ct)
    t.eq(st, 201, "from the gateway's own origin, a cookie POST creates a file in the notebook")
    before = files(nb)
    cases = [
        ("cross-origin-post", "a cookie POST with a foreign Origin", {"Origin": FOREIGN}),
        ("text-plain-post", "a text/plain cookie POST from another origin",
         {"Origin": FOREIGN, "Content-Type": "text/plain"}),
        ("null-origin-post", "a cookie POST from an opaque (sandboxed) origin", {"Origin": "null"}),
        ("sibling-site-post", "a cookie POST whose browser says same-site, not same-origin",
         {"Sec-Fetch-Site": "same-site"}),
        ("foreign-referer-post", "a cookie POST with only a foreign Referer",
         {"Referer": FOREIGN + "/page"}),
        ("no-evidence-post", "a cookie POST with no Origin, Sec-Fetch-Site or Referer", {}),
        ("port-origin-post", "a cookie POST from the same host on another port",
         {"Origin": "https://127.0.0.1:%d" % (gw.https_port + 1)}),
        ("scheme-origin-post", "a cookie POST from http:// of the same host",
         {"Origin": "http://127.0.0.1:%d" % gw.https_port}),
        ("two-origins-post", "a cookie POST naming two Origins", None),
    ]
    for cid, what, hdrs in cases:
        if hdrs is None:
            raw = ("POST /user/alice/api/contents HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nCookie: %s\r\n"
                   "Origin: %s\r\nOrigin: %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n" % (gw.https_port, alice, own, own, len(body)))
            out = gw.raw(raw.encode() + body)
            st = int(out.split(b" ")[1]) if out.startswith(b"HTTP/1.1 ") else 0
        else:
            h = dict(ct)
            h.update(hdrs)
            st, _, _ = gw.request("POST", "/user/alice/api/contents", cookie=alice, body=body,
                                  headers=h, origin=False)
        t.ok(st == 403 and files(nb) == before, "attack %s: %s is refused (403, no file written)"
             % (cid, what), (st, files(nb), before))
    # Sec-Fetch-Site: same-origin without Origin (some GET-like navigations) is ours.
    st, _, _ = gw.request("POST", "/user/alice/api/contents", cookie=alice, body=body,
                          headers={"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"},
                          origin=False)
    t.eq(st, 201, "a cookie POST the browser marks same-origin (no Origin header) works")
    # GET from anywhere still works (links), and never grants CORS.
    st, h, _ = gw.request("GET", "/user/alice/api/contents", cookie=alice,
                          headers={"Origin": FOREIGN}, origin=False)
    t.ok(st == 200 and not any(k.startswith("access-control-") for k in h),
         "attack cors-grant: a foreign Origin's GET gets no Access-Control-* header from the notebook",
         (st, h))
    # API tokens are not subject to the rule: a browser cannot forge them.
    st, _, _ = gw.request("POST", "/user/alice/api/contents", token=gw.token("alice"), body=body,
                          headers={"Content-Type": "application/json", "Origin": FOREIGN})
    t.eq(st, 201, "a token-authenticated POST is not subject to the origin rule")
    # WebSockets: from our origin they work; from another they are refused at the upgrade.
    st, _, kbody = gw.request("POST", "/user/alice/api/kernels", token=gw.token("alice"), body=b"{}",
                              headers=ct)
    kid = json.loads(kbody)["id"]
    env.kernel = kid
    t.eq(ws_execute(gw, "/user/alice/", kid, "1+1", cookie=alice), "2",
         "a kernel WebSocket with the cookie from the gateway's origin computes 1+1")
    for cid, origin in (("ws-hijack", FOREIGN), ("ws-no-origin", None)):
        hdr = "" if origin is None else "Origin: %s\r\n" % origin
        out = gw.raw(("GET /user/alice/api/kernels/%s/channels HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Cookie: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n%s"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                      % (kid, gw.https_port, alice, hdr)).encode())
        t.ok(out.startswith(b"HTTP/1.1 403"), "attack %s: a cookie WebSocket upgrade %s is refused"
             % (cid, "from another origin" if origin else "without Origin"), out[:200])
    t.ok(len(refused_lines(gw, "user alice")) >= 8, "each refusal is logged with the user and why",
         refused_lines(gw, "user alice")[:3])
    adm = gw.token("admin")
    n = metric(gw, adm, 'nbgate_security_refused_total{rule="cross_origin"}')
    t.ok(n is not None and n >= 10, "the refusals are counted (nbgate_security_refused_total)", n)


def test_hub_api(env):
    t, gw = env.tap, env.gw
    admin = cookie_of(gw, "admin")
    xsrf = xsrf_of(gw, admin)
    key = ssh_keygen(env.path("mallory_key"))
    with open(key + ".pub") as f:
        mallory = f.read().strip()
    body = json.dumps({"key": mallory}).encode()
    j = {"Content-Type": "application/json"}
    st, _, _ = gw.request("POST", "/hub/api/routes/zed", cookie=admin, body=body,
                          headers=dict(j, **{"X-XSRFToken": xsrf}))
    t.eq(st, 201, "the hub API with the cookie, the pages' XSRF token and JSON works (route added)")
    st, _, _ = gw.request("POST", "/hub/api/routes/zed2?_xsrf=" + xsrf, cookie=admin, body=body,
                          headers=j)
    t.eq(st, 201, "... and with the token as the _xsrf parameter")
    keys = lambda: dict((r["name"], r.get("key_fingerprint")) for r in  # noqa: E731
                        json.loads(gw.ctl("--json", "route", "list").stdout)["routes"])
    before = keys().get("alice")
    cases = [
        ("api-no-xsrf", "a cookie call to the hub API without the XSRF token", dict(j), True),
        ("api-wrong-xsrf", "a cookie call with another login's XSRF token",
         dict(j, **{"X-XSRFToken": "0" * 64}), True),
        ("api-text-plain", "a cookie call with the token but a text/plain body",
         {"Content-Type": "text/plain", "X-XSRFToken": xsrf}, True),
        ("api-cross-origin", "a cookie call with the token from a foreign Origin",
         dict(j, **{"X-XSRFToken": xsrf, "Origin": FOREIGN}), False),
    ]
    for cid, what, hdrs, own in cases:
        st, _, resp = gw.request("POST", "/hub/api/routes/alice", cookie=admin, body=body,
                                 headers=hdrs, origin=own)
        t.ok(st in (403, 415) and keys().get("alice") == before,
             "attack %s: %s is refused (%d) and the route keeps its agent key" % (cid, what, st),
             (st, resp[:200]))
    st, _, _ = gw.request("POST", "/hub/api/routes/zed3", token=gw.token("admin"), body=body,
                          headers={"Content-Type": "application/json"})
    t.eq(st, 201, "a token-authenticated hub API call needs no XSRF token")


def test_admin_access(env):
    t, gw = env.tap, env.gw
    admin = cookie_of(gw, "admin")
    st, _, body = gw.request("GET", "/user/alice/tree", cookie=admin)
    t.ok(st == 403 and b"belongs to another user" in body,
         "attack admin-opens-notebook: by default an administrator's cookie does not open alice's "
         "notebook (auth.admin_access: false)", (st, body[:200]))
    with open(gw.config) as f:
        text = f.read()
    with open(gw.config, "w") as f:
        f.write(text.replace("  admin_access: false\n", "  admin_access: true\n"))
    r = gw.ctl("reload")
    t.ok(r.returncode == 0, "reload with auth.admin_access: true", r.stderr)
    st, _, _ = gw.request("GET", "/user/alice/tree", cookie=admin)
    t.eq(st, 200, "with auth.admin_access: true the administrator opens it")
    log = gw.env.procs.log(gw.name)
    t.ok("administrator admin opens alice's notebook alice" in log,
         "... and the access is logged (and audited) naming whose notebook it is")
    with open(gw.config, "w") as f:
        f.write(text)
    gw.ctl("reload")


def test_browser(env):
    t, gw = env.tap, env.gw
    cert, key = os.path.join(gw.dir, "tls.crt"), os.path.join(gw.dir, "tls.key")
    mkey = ssh_keygen(env.path("mallory2_key"))
    with open(mkey + ".pub") as f:
        key_line = json.dumps(f.read().strip())  # a valid key: only the rule refuses it
    evil = EvilServer(env, cert, key, {"/evil.html": EVIL_PAGE, "/form.html": FORM_PAGE,
                                       "/evil-api.html": API_PAGE % key_line})
    env.evil = evil
    before = files(env.nb)
    keys = lambda: dict((r["name"], r.get("key_fingerprint")) for r in  # noqa: E731
                        json.loads(gw.ctl("--json", "route", "list").stdout)["routes"])
    alice_key = keys().get("alice")
    gwurl = "https://gw.nbtest.example:%d" % gw.https_port
    evurl = "https://evil.nbtest.example:%d" % evil.port
    rules = "MAP gw.nbtest.example 127.0.0.1, MAP evil.nbtest.example 127.0.0.2"
    res, shots = browser_walk(env, "attack.js", [gwurl, evurl, login_path(gw, "alice"),
                                                 login_path(gw, "admin"), env.kernel], 240,
                              extra_env={"NB_RESOLVER_RULES": rules})
    steps = res.get("steps", {})
    t.ok("error" not in res, "the Chromium walk completes", res.get("error"))
    own = steps.get("own", {})
    t.ok(own.get("put") in (200, 201) and own.get("ws") == "open",
         "from the gateway's own page Chromium saves a file and opens a kernel WebSocket", own)
    new = [f for f in files(env.nb) if f not in before and f != "own.txt"]
    ev = steps.get("evil", {})
    log = refused_lines(gw, "user alice")
    t.ok(not new and any("Origin" in ln and "evil.nbtest.example" in ln for ln in log),
         "attack browser-cross-site-post: a sibling host's fetch POSTs (text/plain, terminal) "
         "reach nbgated with alice's cookie and are refused", (new, ev, log[-4:]))
    t.ok(ev.get("ws") == "error", "attack browser-ws-hijack: the sibling host's WebSocket to "
         "alice's kernel is refused", ev)
    t.ok(str(ev.get("read", "")).startswith("error"),
         "attack browser-cross-site-read: the sibling host cannot read alice's files (no CORS grant)", ev)
    form = steps.get("form", {})
    t.ok("another site" in form.get("text", "") and not [f for f in files(env.nb)
                                                           if f not in before and f != "own.txt"],
         "attack browser-form-post: a form POSTed from the sibling host gets the refusal page", form)
    t.ok(keys().get("alice") == alice_key and refused_lines(gw, "user admin: POST /hub/api/routes/alice"),
         "attack browser-hub-api: the sibling host's POST to the hub API with an administrator's "
         "cookie is refused and the route keeps its key", (steps.get("api"), keys().get("alice")))


def main():
    env = Env("test_origin")
    try:
        env.gw = Gateway(env, extra="auth:\n  admins: [admin]\n  admin_access: false\n").start()
        # The agent's notebooks accept any Host (the gateway's name); so does this one.
        env.nb = Notebook(env, "alice", extra=["--NotebookApp.allow_remote_access=True"]).start()
        key = ssh_keygen(env.path("alice_key"))
        env.gw.add_route("alice", key + ".pub", token=env.nb.token)
        NbAgent(env, env.gw, "alice", key, target_port=env.nb.port).start()
        if not wait_for(lambda: route_connected(env.gw, "alice"), 20):
            raise RuntimeError("alice's notebook did not connect")
    except Exception as e:
        env.tap.ok(False, "nbgated and alice's notebook start", e)
        env.finish()
    env.run(test_raw)
    env.run(test_hub_api)
    env.run(test_admin_access)
    env.run(test_browser)
    if getattr(env, "evil", None):
        env.evil.stop()
    env.tap.ok(env.gw.alive(), "nbgated is still running")
    env.finish()


if __name__ == "__main__":
    main()
