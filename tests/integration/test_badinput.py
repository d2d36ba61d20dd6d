"""test_badinput.py: malformed and ambiguous HTTP, smuggling attempts, bad SSH
logins and bad configuration each get a clear refusal, and nbgated keeps serving."""
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Gateway, OpenSSHAgent, ssh_keygen, free_port, wait_for,
                     route_connected, binary, SRCDIR)  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def status_of(raw):
    try:
        return int(raw.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def setup(env):
    env.gw = Gateway(env, extra="proxy:\n  header_timeout: 2s\n").start()
    env.backend_port = free_port()
    env.procs.start("backend", ["/usr/bin/python3", os.path.join(HERE, "backend.py"),
                                str(env.backend_port)])
    env.key = ssh_keygen(env.path("alice_key"))
    env.gw.add_route("alice", env.key + ".pub", token="nbtok")
    OpenSSHAgent(env, env.gw, "alice", env.key, env.backend_port).start()
    env.tap.ok(wait_for(lambda: route_connected(env.gw, "alice"), 20), "agent connected")
    env.tok = env.gw.token("alice")


def healthy(env):
    st, _, _ = env.gw.request("GET", "/hub/health")
    return st == 200 and env.gw.alive()


def test_http(env):
    gw, auth = env.gw, "Authorization: token %s\r\n" % env.tok
    cases = [
        ("CL and TE together (smuggling)", b"POST /user/alice/sha256 HTTP/1.1\r\nHost: x\r\n" + auth.encode() +
         b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /user/alice/echo HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
        ("two different Content-Lengths", b"POST /user/alice/sha256 HTTP/1.1\r\nHost: x\r\n" + auth.encode() +
         b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", (400,)),
        ("Transfer-Encoding other than chunked", b"POST /user/alice/sha256 HTTP/1.1\r\nHost: x\r\n" + auth.encode() +
         b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", (400, 501)),
        ("obfuscated Transfer-Encoding", b"POST /user/alice/sha256 HTTP/1.1\r\nHost: x\r\n" + auth.encode() +
         b"Transfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc", (400,)),
        ("no Host on HTTP/1.1", b"GET /user/alice/echo HTTP/1.1\r\n" + auth.encode() + b"\r\n", (400,)),
        ("two Host headers", b"GET /user/alice/echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n" + auth.encode() + b"\r\n", (400,)),
        ("garbage request line", b"HELLO THERE\r\n\r\n", (400,)),
        ("bare LF header injection", b"GET /user/alice/echo HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", (400,)),
        ("oversized header", b"GET /user/alice/echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n", (431,)),
        ("oversized URL", b"GET /user/alice/" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", (414,)),
        ("dot segments in a notebook path", b"GET /user/alice/../bob/ HTTP/1.1\r\nHost: x\r\n" + auth.encode() + b"\r\n", (400,)),
        ("bad chunk size", b"POST /user/alice/sha256 HTTP/1.1\r\nHost: x\r\n" + auth.encode() +
         b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", (400, 502)),
        ("absolute-form target", b"GET http://evil/user/alice/echo HTTP/1.1\r\nHost: x\r\n" + auth.encode() + b"\r\n", (400,)),
    ]
    for what, data, want in cases:
        out = gw.raw(data)
        st = status_of(out)
        env.tap.ok(st in want, "%s: %s" % (what, "/".join(map(str, want))), out[:300])
        env.tap.ok(out.count(b"HTTP/1.1 ") <= 1, "%s: nothing smuggled behind it" % what, out[:600])
    env.tap.ok(healthy(env), "nbgated serves after every malformed request")

    s = socket.create_connection(("127.0.0.1", gw.https_port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # plain HTTP to the TLS port
    try:
        s.recv(100)
    except OSError:
        pass
    s.close()
    s = socket.create_connection(("127.0.0.1", gw.https_port), timeout=5)
    s.sendall(os.urandom(5000))
    s.close()
    env.tap.ok(healthy(env), "plain HTTP and random bytes on the TLS port do no harm")


def test_timeouts(env):
    gw = env.gw
    s = socket.create_connection(("127.0.0.1", gw.https_port), timeout=10)
    t = gw.ssl_context().wrap_socket(s)
    t.sendall(b"GET /user/alice/echo HTTP/1.1\r\nHost: x\r\n")  # never finished
    t0 = time.time()
    out = b""
    try:
        while True:
            b = t.recv(4096)
            if not b:
                break
            out += b
    except (socket.timeout, ssl.SSLError, OSError):
        pass
    dt = time.time() - t0
    t.close()
    env.tap.eq(status_of(out), 408, "a request head that never ends gets 408")
    env.tap.ok(1.5 < dt < 8, "after the configured header timeout (2 s): took %.1f s" % dt)
    s = socket.create_connection(("127.0.0.1", gw.https_port), timeout=10)
    t = gw.ssl_context().wrap_socket(s)
    t0 = time.time()
    try:
        got = t.recv(4096)
    except (socket.timeout, ssl.SSLError, OSError):
        got = b""
    dt = time.time() - t0
    t.close()
    env.tap.ok(got == b"" and 1.5 < dt < 8, "an idle connection is closed quietly after the timeout (%.1f s)" % dt)
    env.tap.ok(healthy(env), "nbgated serves after the timeouts")


def cert_der(gw):
    s = socket.create_connection(("127.0.0.1", gw.https_port), timeout=10)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(s)
    der = t.getpeercert(binary_form=True)
    t.close()
    return der


def test_tls_reload(env):
    gw = env.gw
    before = cert_der(gw)
    kept = gw.conn()
    kept.request("GET", "/user/alice/echo", headers={"Authorization": "token " + env.tok})
    env.tap.eq(kept.getresponse().read() and 200, 200, "a kept-alive connection before the reload")
    crt, key = gw.cert(), os.path.join(gw.dir, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key + ".new", "-out", crt + ".new", "-days", "2",
                    "-subj", "/CN=reloaded", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    os.rename(key + ".new", key)
    os.rename(crt + ".new", crt)
    os.kill(gw.proc.pid, signal.SIGHUP)
    env.tap.ok(wait_for(lambda: cert_der(gw) != before, 10), "after SIGHUP new connections get the new certificate")
    kept.request("GET", "/user/alice/echo", headers={"Authorization": "token " + env.tok})
    r = kept.getresponse()
    r.read()
    env.tap.eq(r.status, 200, "the connection opened before the reload keeps working")
    kept.close()
    st, _, _ = gw.request("GET", "/user/alice/echo", token=env.tok)
    env.tap.eq(st, 200, "and new ones verify against the new certificate")


def test_ssh(env):
    gw = env.gw
    wrong = ssh_keygen(env.path("wrong_key"))
    a = OpenSSHAgent(env, gw, "alice", wrong, env.backend_port, name="ssh-wrongkey")
    p = subprocess.run(a.argv(), capture_output=True, text=True, timeout=30)
    env.tap.ok(p.returncode != 0, "an unregistered key is refused", p.stderr)
    bobkey = ssh_keygen(env.path("bob_key"))
    gw.add_route("bob", bobkey + ".pub")
    a = OpenSSHAgent(env, gw, "alice", bobkey, env.backend_port, name="ssh-wrongroute")
    p = subprocess.run(a.argv(), capture_output=True, text=True, timeout=30)
    env.tap.ok(p.returncode != 0, "bob's key cannot serve alice's route", p.stderr)
    a = OpenSSHAgent(env, gw, "alice", env.key, env.backend_port, name="ssh-exec")
    argv = [x for x in a.argv() if x not in ("-N",)]
    argv = argv[:argv.index("-R")] + argv[argv.index("-R") + 2:] + ["true"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    env.tap.ok(p.returncode != 0, "a command (exec) is refused", p.stderr)
    lport = free_port()
    argv = a.argv()
    argv = argv[:argv.index("-R")] + ["-L", "%d:127.0.0.1:%d" % (lport, env.backend_port)] + \
        argv[argv.index("-R") + 2:]
    env.procs.start("ssh-local-forward", argv)
    got = None
    if wait_for(lambda: socket.create_connection(("127.0.0.1", lport), 1).close() or True, 15):
        s = socket.create_connection(("127.0.0.1", lport), timeout=10)
        s.sendall(b"GET /user/alice/echo HTTP/1.0\r\n\r\n")
        try:
            got = s.recv(100)
        except OSError:
            got = b""
        s.close()
    env.tap.eq(got, b"", "a -L (direct-tcpip) channel is refused: nothing reaches the backend")
    env.procs.stop("ssh-local-forward")
    s = socket.create_connection(("127.0.0.1", gw.ssh_port), timeout=5)
    s.sendall(b"SSH-2.0-junk\r\n" + os.urandom(3000))
    s.close()
    s = socket.create_connection(("127.0.0.1", gw.ssh_port), timeout=5)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    s.close()
    env.tap.ok(route_connected(gw, "alice"), "the real agent stays connected through all that")
    st, _, _ = gw.request("GET", "/user/alice/echo", token=env.tok)
    env.tap.eq(st, 200, "and traffic still flows")
    log = env.procs.log("nbgated")
    env.tap.has(log, "refused", "the daemon logs refused SSH logins")


def test_config(env):
    bad = env.path("bad.yaml")
    with open(bad, "w") as f:
        f.write("listen:\n  https: 127.0.0.1:99999\nproxy:\n  idle_timout: 5m\n")
    p = subprocess.run([binary("nbgated"), "--check-config", bad], capture_output=True, text=True)
    env.tap.ok(p.returncode != 0, "--check-config fails on a bad file")
    env.tap.has(p.stderr, bad + ":2: listen.https", "the message names file, line and key")
    env.tap.has(p.stderr, bad + ":4: proxy.idle_timout", "every error is reported, with the unknown key")
    p = subprocess.run([binary("nbgated"), "--check-config", os.path.join(SRCDIR, "etc", "nbgated.yaml")],
                       capture_output=True, text=True)
    env.tap.eq(p.returncode, 0, "the example configuration checks clean")
    p = subprocess.run([binary("nbgated"), "-c", bad], capture_output=True, text=True, timeout=10)
    env.tap.ok(p.returncode != 0 and "listen.https" in p.stderr, "nbgated refuses to start on a bad file")

    # SIGHUP with a broken file keeps the running configuration.
    gw = env.gw
    with open(gw.config) as f:
        good = f.read()
    with open(gw.config, "a") as f:
        f.write("bogus_key: 1\n")
    os.kill(gw.proc.pid, signal.SIGHUP)
    env.tap.ok(wait_for(lambda: "reload failed" in env.procs.log("nbgated"), 10), "a bad reload is logged")
    env.tap.ok(healthy(env), "and the daemon keeps serving with the old configuration")
    # The same through nbgatectl: config check, reload, and status's record of the last reload.
    line = good.count("\n") + 1
    r = gw.ctl("config", "check")
    env.tap.ok(r.returncode == 1 and "%s:%d: bogus_key: unknown key" % (gw.config, line) in r.stderr,
               "nbgatectl config check names file, line and key", r.stdout + r.stderr)
    r = gw.ctl("reload")
    env.tap.ok(r.returncode == 1 and "not applied; nbgated keeps its running configuration" in r.stderr
               and "bogus_key" in r.stderr, "nbgatectl reload of a bad file: refused, with the errors",
               r.stderr)
    st = json.loads(gw.ctl("--json", "status").stdout)
    env.tap.ok(st["config"] == gw.config and st["last_reload"]["ok"] is False and
               "bogus_key" in st["last_reload"]["errors"], "status records the refused reload",
               st.get("last_reload"))
    env.tap.ok(healthy(env), "the daemon still serves")
    with open(gw.config, "w") as f:
        f.write(good)
    r = gw.ctl("config", "check")
    env.tap.ok(r.returncode == 0 and "configuration OK" in r.stdout, "config check passes the fixed file",
               r.stdout + r.stderr)
    r = gw.ctl("reload")
    env.tap.ok(r.returncode == 0 and "applied" in r.stdout, "nbgatectl reload applies it", r.stderr)
    st = json.loads(gw.ctl("--json", "status").stdout)
    env.tap.ok(st["last_reload"]["ok"] is True and st["last_reload"].get("errors") is None,
               "status records the applied reload")
    os.kill(gw.proc.pid, signal.SIGHUP)
    env.tap.ok(wait_for(lambda: "configuration %s applied" % gw.config in env.procs.log("nbgated"), 10),
               "a good reload is applied")
    st, _, _ = gw.request("GET", "/user/alice/echo", token=env.tok)
    env.tap.ok(st == 200 and route_connected(gw, "alice"), "tunnels and routes survive a reload")


def main():
    env = Env("test_badinput")
    env.run(setup)
    if env.tap.failed == 0:
        for t in (test_http, test_timeouts, test_tls_reload, test_ssh, test_config):
            env.run(t)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    env.finish()


if __name__ == "__main__":
    main()
