"""test_login_pam.py: password login at /hub/login with PAM (daemon/web/login.c,
daemon/ident/pam.c): a real local user (nbpamuser) checked by pam_unix through the
service /etc/pam.d/nbgate-test, both made here and removed at the end
(nbgated runs as root in the tests, so pam_unix reads the shadow file).
Covers the form, success with the login cookie, one generic 401 for a wrong
password and an unknown user, the login CSRF token and Origin checks, the
backoff, a client that leaves while PAM runs, 20 concurrent attempts that
must not stall the loop, and that the password shows up in no log and no
command line.
"""
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, Gateway, wait_for  # noqa: E402

USER = "nbpamuser"
SERVICE = "nbgate-test"
PAMFILE = "/etc/pam.d/" + SERVICE
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
WRONG_MSG = "Wrong user name or password."


def setup_user(env):
    subprocess.run(["userdel", USER], capture_output=True)
    env.password = "Pw-" + secrets.token_hex(12)
    subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", USER], check=True,
                   capture_output=True)
    subprocess.run(["chpasswd"], input="%s:%s\n" % (USER, env.password), text=True,
                   check=True, capture_output=True)
    with open(PAMFILE, "w") as f:
        f.write("auth required pam_unix.so\naccount required pam_unix.so\n")


def cleanup_user():
    subprocess.run(["userdel", USER], capture_output=True)
    try:
        os.unlink(PAMFILE)
    except FileNotFoundError:
        pass


def form_page(env):
    """GET /hub/login: (status, headers, page, nonce cookie, token)."""
    st, hd, out = env.gw.request("GET", "/hub/login")
    out = out.decode("utf-8", "replace")
    m = re.match(r"(nbgate-login=[A-Za-z0-9_-]{32,64})", hd.get("set-cookie", ""))
    t = re.search(r'name="_xsrf" value="([0-9a-f]{64})"', out)
    return st, hd, out, m.group(1) if m else None, t.group(1) if t else None


def post(env, fields, cookie, headers=None, timeout=30):
    h = dict(FORM)
    h["Origin"] = "https://127.0.0.1:%d" % env.gw.https_port
    h.update(headers or {})
    h = dict((k, v) for k, v in h.items() if v is not None)
    if cookie:
        h["Cookie"] = cookie
    c = env.gw.conn(timeout)
    c.request("POST", "/hub/login", body=urllib.parse.urlencode(fields).encode(), headers=h)
    r = c.getresponse()
    out = r.read()
    c.close()
    hd = dict((k.lower(), v) for k, v in r.getheaders())
    hd["set-cookie"] = "\n".join(v for k, v in r.getheaders() if k.lower() == "set-cookie")
    return r.status, hd, out.decode("utf-8", "replace")


def error_of(page):
    m = re.search(r'<p class="error" role="alert" id="e-login">([^<]*)</p>', page)
    return m.group(1) if m else None


def pam_children(env):
    """PIDs of nbgated's children (the PAM checks)."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == env.gw.proc.pid:
            kids.append(int(d))
    return kids


def test_form(env):
    t = env.tap
    st, hd, out, cookie, tok = form_page(env)
    t.eq(st, 200, "GET /hub/login: 200")
    t.ok('<label for="f-user">' in out and 'id="f-user" name="user"' in out,
         "the user name field has a label", out[-1500:])
    t.ok('<label for="f-password">' in out and 'type="password"' in out,
         "the password field has a label and hides what is typed", out[-1500:])
    t.ok(cookie is not None and tok is not None, "a nbgate-login cookie and an _xsrf token", hd)
    sc = hd.get("set-cookie", "")
    t.ok("HttpOnly" in sc and "Secure" in sc and "SameSite=Lax" in sc,
         "the nonce cookie is HttpOnly, Secure, SameSite=Lax", sc)
    env.nonce, env.tok = cookie, tok
    st, _, out = env.gw.request("GET", "/hub/home")
    t.ok(st == 200 and 'href="/hub/login"' in out.decode(), "home without login links to "
         "/hub/login", out[-800:])
    st, _, out = env.gw.request("GET", "/hub/login?next=%3Cscript%3E")
    t.ok(st == 200 and b"<script>" not in out, "a hostile next is not echoed", out[-800:])


def test_success(env):
    t = env.tap
    st, hd, out = post(env, {"_xsrf": env.tok, "user": USER, "password": env.password},
                       env.nonce)
    t.eq(st, 303, "right password: 303")
    t.eq(hd.get("location"), "/hub/home", "to /hub/home")
    sc = hd.get("set-cookie", "")
    m = re.search(r"(__Host-nbgate-session=[^;]+)", sc)
    t.ok(m is not None and "HttpOnly" in sc and "Secure" in sc and "SameSite=Lax" in sc
         and "Max-Age=43200" in sc, "a login cookie like the one-time link's", sc)
    if m is None:
        return
    st, _, out = env.gw.request("GET", "/hub/home", cookie=m.group(1))
    t.ok(st == 200 and ("Logged in as %s" % USER) in out.decode(), "home shows the user",
         out[:600])
    st, hd, _ = post(env, {"_xsrf": env.tok, "user": USER, "password": env.password,
                           "next": "/hub/spawn"}, env.nonce)
    t.ok(st == 303 and hd.get("location") == "/hub/spawn", "a same-site next is followed",
         (st, hd.get("location")))
    st, hd, _ = post(env, {"_xsrf": env.tok, "user": USER, "password": env.password,
                           "next": "//evil.example/x"}, env.nonce)
    t.ok(st == 303 and hd.get("location") == "/hub/home", "an off-site next is not",
         (st, hd.get("location")))


def test_wrong(env):
    t = env.tap
    env.wrong = "Wrong-" + secrets.token_hex(10)
    st, hd, out = post(env, {"_xsrf": env.tok, "user": USER, "password": env.wrong},
                       env.nonce)
    t.eq(st, 401, "wrong password: 401")
    t.eq(error_of(out), WRONG_MSG, "wrong password: the generic message")
    t.ok("__Host-nbgate-session" not in hd.get("set-cookie", ""), "wrong password: no login cookie", hd)
    t.has(out, 'value="%s"' % USER, "the user name is kept in the form")
    t.ok(re.search(r'name="_xsrf" value="%s"' % env.tok, out) is not None,
         "the form again carries a token that works", out[-1000:])
    st, hd, out2 = post(env, {"_xsrf": env.tok, "user": "nbpamghost", "password": env.wrong},
                        env.nonce)
    t.eq(st, 401, "unknown user: 401")
    t.eq(error_of(out2), error_of(out), "unknown user: the same message")
    t.ok("__Host-nbgate-session" not in hd.get("set-cookie", ""), "unknown user: no login cookie", hd)
    st, _, out = post(env, {"_xsrf": env.tok, "user": "Bad User", "password": "x"},
                      env.nonce)
    t.ok(st == 401 and error_of(out) == WRONG_MSG, "a malformed user name: the same 401",
         (st, out[-600:]))


def test_csrf(env):
    t = env.tap
    good = {"user": USER, "password": env.password}
    st, hd, _ = post(env, good, env.nonce)
    t.ok(st == 403 and "__Host-nbgate-session" not in hd.get("set-cookie", ""),
         "no _xsrf field: 403, no cookie", (st, hd))
    st, _, _ = post(env, dict(good, _xsrf=env.tok), None)
    t.eq(st, 403, "no nonce cookie: 403")
    _, _, _, other, _ = form_page(env)
    st, _, _ = post(env, dict(good, _xsrf=env.tok), other)
    t.eq(st, 403, "the token of another nonce: 403")
    st, _, _ = post(env, dict(good, _xsrf="0" * 64), env.nonce)
    t.eq(st, 403, "a made-up token: 403")
    st, hd, _ = post(env, dict(good, _xsrf=env.tok), env.nonce,
                     {"Origin": "https://evil.example"})
    t.ok(st == 403 and "__Host-nbgate-session" not in hd.get("set-cookie", ""),
         "a foreign Origin: 403, no cookie", (st, hd))
    st, _, _ = post(env, dict(good, _xsrf=env.tok), env.nonce,
                    {"Origin": None, "Referer": "https://evil.example/login"})
    t.eq(st, 403, "a foreign Referer: 403")
    st, _, _ = post(env, dict(good, _xsrf=env.tok), env.nonce, {"Content-Type": "text/plain"})
    t.eq(st, 415, "not a form encoding: 415")


def test_cmdline(env):
    """While a (slow, failing) check runs, no process shows the password."""
    t = env.tap
    secret = "Cmd-" + secrets.token_hex(10)
    env.secrets = [secret]
    res = {}
    th = threading.Thread(target=lambda: res.update(r=post(env, {
        "_xsrf": env.tok, "user": USER, "password": secret}, env.nonce)))
    th.start()
    seen_child = wait_for(lambda: len(pam_children(env)) > 0, 2, 0.01)
    found = []
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if secret.encode() in f.read():
                    found.append(d)
        except OSError:
            pass
    th.join()
    t.ok(seen_child, "a child process checks the password")
    t.ok(not found, "the password is in no process's command line", found)
    t.eq(res.get("r", (0,))[0], 401, "that attempt then fails: 401")


def test_backoff(env):
    """Past 5 failures a user name waits, even with the right password."""
    t = env.tap
    codes = []
    for _ in range(4):   # 2 already failed for USER (wrong, cmdline)
        codes.append(post(env, {"_xsrf": env.tok, "user": USER, "password": env.wrong},
                          env.nonce)[0])
    t.eq(codes, [401] * 4, "four more wrong passwords: 401 each")
    st, hd, out = post(env, {"_xsrf": env.tok, "user": USER, "password": env.password},
                       env.nonce)
    t.ok(st == 429 and "__Host-nbgate-session" not in hd.get("set-cookie", ""),
         "then even the right password waits: 429, no cookie", (st, hd))
    wait = int(hd.get("retry-after", "0"))
    t.ok(1 <= wait <= 300, "with a Retry-After", hd)
    time.sleep(wait + 0.5)
    st, _, _ = post(env, {"_xsrf": env.tok, "user": USER, "password": env.password},
                    env.nonce)
    t.eq(st, 303, "after the wait the right password works")


def test_disconnect(env):
    """A client that leaves while PAM runs: nothing stays behind."""
    t = env.tap
    body = urllib.parse.urlencode({"_xsrf": env.tok, "user": "nbpamleaver",
                                   "password": "x-" + secrets.token_hex(6)}).encode()
    req = ("POST /hub/login HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nCookie: %s\r\n"
           "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n"
           % (env.gw.https_port, env.nonce, len(body))).encode() + body
    s = socket.create_connection(("127.0.0.1", env.gw.https_port), timeout=10)
    tl = env.gw.ssl_context().wrap_socket(s)
    tl.sendall(req)
    started = wait_for(lambda: len(pam_children(env)) > 0, 2, 0.01)
    tl.close()
    t.ok(started, "the check started")
    gone = wait_for(lambda: not pam_children(env), 10, 0.1)
    t.ok(gone, "after the client left, the child finished and was reaped",
         pam_children(env))
    st, _, _ = env.gw.request("GET", "/hub/health")
    t.ok(st == 200 and env.gw.alive(), "nbgated answers on")


def test_flood(env):
    """20 wrong attempts at once: the loop keeps answering within 1 s."""
    t = env.tap
    results, slow, most = [], [], [0]
    env.secrets += ["Flood-%02d-%s" % (i, secrets.token_hex(6)) for i in range(20)]

    def one(i):
        try:
            results.append(post(env, {"_xsrf": env.tok, "user": "nbflood%d" % i,
                                      "password": env.secrets[-20 + i]}, env.nonce)[0])
        except Exception as e:  # noqa: BLE001
            results.append(repr(e))
    ths = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for th in ths:
        th.start()
    end = time.time() + 4
    while time.time() < end:
        most[0] = max(most[0], len(pam_children(env)))
        t0 = time.time()
        try:
            st, _, _ = env.gw.request("GET", "/hub/health", timeout=5)
        except Exception as e:  # noqa: BLE001
            st = repr(e)
        dt = time.time() - t0
        if st != 200 or dt > 1.0:
            slow.append((st, round(dt, 2)))
        time.sleep(0.1)
    for th in ths:
        th.join(30)
    t.ok(not slow, "/hub/health answered within 1 s all along", slow)
    t.ok(len(results) == 20 and all(r in (401, 429, 503) for r in results),
         "each attempt got 401, 429 or 503", results)
    t.ok(0 < most[0] <= 8, "at most 8 checks at once (saw %d)" % most[0])
    t.ok(env.gw.alive() and env.gw.ctl("status").returncode == 0, "nbgated survives")


def test_no_password_in_log(env):
    t = env.tap
    log = env.procs.log(env.gw.name)
    leaked = [p for p in [env.password, env.wrong] + env.secrets if p in log]
    t.ok(not leaked and "password login refused" in log, "no password in nbgated's log "
         "(which does record the refusals)", leaked)


def main():
    env = Env("test_login_pam")
    env.secrets, env.wrong = [], "(unset)"
    setup_user(env)
    try:
        env.gw = Gateway(env, extra="auth:\n  pam: true\n  pam_service: %s\n" % SERVICE).start()
        env.run(test_form)
        env.run(test_success)
        env.run(test_wrong)
        env.run(test_csrf)
        env.run(test_cmdline)
        env.run(test_backoff)
        env.run(test_disconnect)
        env.run(test_flood)
        env.run(test_no_password_in_log)
    finally:
        cleanup_user()
    env.finish()


if __name__ == "__main__":
    main()
