"""test_myproxy.py: daemon/ident/myproxy.c (through tests/unit/cred-cli) against Debian's real
myproxy-server: a private instance (own config, host certificate from the test CA of
tests/pki/make-pki.sh, own storage dir, free port, foreground -d mode which serves one
request, stopped by PID). alice's credential is stored with the real myproxy-init
(passphrase on stdin). Then: the right passphrase gives a proxy chain that x509_verify
accepts and maps to alice; a wrong passphrase, an unknown user, a server certificate
from another CA, an unexpected server DN and a server that never answers are refused
with clear messages. A stand-in server (named so, recording what it was sent) gives the
malformed answers no real server gives: empty chain, a chain for another key, no
RESPONSE line, ERROR lines with control characters, RESPONSE=2."""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, SRCDIR, binary, free_port, wait_for  # noqa: E402

PASS = "alice-myproxy-pass"
SERVER_DN = "/C=US/O=Example/CN=localhost"


def out(r):
    return "rc=%s\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr)


class World:
    def __init__(self, env):
        self.env = env
        self.pki = env.path("pki")
        self.n = 0
        r = subprocess.run(["sh", os.path.join(SRCDIR, "tests", "pki", "make-pki.sh"), self.pki],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("make-pki.sh failed: " + out(r))
        self.store = env.path("store")
        os.makedirs(self.store, mode=0o700)
        self.config = env.path("myproxy-server.config")
        with open(self.config, "w") as f:
            f.write('accepted_credentials "*"\nauthorized_retrievers "*"\n'
                    'default_retrievers "*"\nauthorized_renewers "*"\n')

    def p(self, name):
        return os.path.join(self.pki, name)

    def serve_once(self, host="host"):
        """A myproxy-server -d on a free port: it serves one connection, then exits."""
        self.n += 1
        name = "myproxy-server-%d" % self.n
        port = free_port()
        self.env.procs.start(name, ["myproxy-server", "-d", "-v", "-c", self.config, "-s", self.store,
                                    "-p", str(port), "-l", "127.0.0.1"],
                             env={"X509_USER_CERT": self.p(host + ".pem"),
                                  "X509_USER_KEY": self.p(host + ".key"),
                                  "X509_CERT_DIR": self.p("cadir")})
        if not wait_for(lambda: "Starting myproxy-server on" in self.env.procs.log(name), 15):
            raise RuntimeError("%s did not start:\n%s" % (name, self.env.procs.log(name)))
        return name, port

    def done(self, name):
        """Waits for the one-shot server to finish its request, then stops it by PID."""
        p = self.env.procs.procs.get(name)
        if p is not None:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.env.procs.stop(name)

    def logon(self, port, user="alice", passphrase=PASS, server_dn="-", outdir=None, timeout=None):
        self.n += 1
        outdir = outdir or self.env.path("logon-%d" % self.n)
        os.makedirs(outdir, mode=0o700, exist_ok=True)
        e = dict(os.environ)
        if timeout:
            e["CRED_TIMEOUT"] = str(timeout)
        t0 = time.monotonic()
        r = subprocess.run([binary("tests/unit/cred-cli"), "logon", "127.0.0.1", str(port), self.p("cadir"),
                            server_dn, user, "3600", outdir, self.p("grid-mapfile")],
                           input=passphrase + "\n", capture_output=True, text=True, timeout=60, env=e)
        with open(self.env.path("cred-cli.log"), "a") as f:  # scanned for sanitizer reports
            f.write(r.stderr)
        return r, outdir, time.monotonic() - t0


def test_store(env, w):
    name, port = w.serve_once()
    r = subprocess.run(["myproxy-init", "-s", "localhost", "-p", str(port), "-l", "alice", "-S"],
                       input=PASS + "\n", capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, X509_USER_CERT=w.p("alice.pem"), X509_USER_KEY=w.p("alice.key"),
                                X509_CERT_DIR=w.p("cadir"), MYPROXY_SERVER_DN=SERVER_DN))
    w.done(name)
    if not env.tap.ok(r.returncode == 0 and "for user alice now exists" in r.stdout,
                      "myproxy-init stores alice's credential", out(r) + env.procs.log(name)):
        raise RuntimeError("no stored credential, nothing else can pass")


def test_logon(env, w):
    name, port = w.serve_once()
    r, outdir, took = w.logon(port, server_dn=SERVER_DN)
    w.done(name)
    env.tap.diag("logon took %.3f s (cred-cli says %s)" % (took, r.stdout.split("\n")[0]))
    if not env.tap.ok(r.returncode == 0, "right passphrase: logon succeeds and x509_verify accepts the chain",
                      out(r) + env.procs.log(name)):
        return
    env.tap.has(r.stdout, "dn=/C=US/O=Example/CN=Alice Smith\n", "the end-entity DN is alice's")
    env.tap.has(r.stdout, "account=alice\n", "mapped to alice by the grid-mapfile")
    env.tap.has(r.stdout, "proxy=1\n", "an RFC 3820 proxy")
    na = int(r.stdout.split("not_after=")[1].split()[0])
    env.tap.ok(abs(na - (time.time() + 3600)) < 120, "lifetime 3600 s as asked (not_after %d)" % na)
    env.tap.eq(oct(os.stat(outdir + "/key.pem").st_mode & 0o777), "0o600", "key.pem is private")
    v = subprocess.run(["openssl", "verify", "-CApath", w.p("cadir"), "-allow_proxy_certs",
                        "-untrusted", outdir + "/chain.pem", outdir + "/chain.pem"],
                       capture_output=True, text=True)
    env.tap.ok(v.returncode == 0, "openssl verify agrees the chain is valid", out(v))
    k = subprocess.run(["openssl", "x509", "-in", outdir + "/chain.pem", "-noout", "-pubkey"],
                       capture_output=True, text=True)
    kk = subprocess.run(["openssl", "pkey", "-in", outdir + "/key.pem", "-pubout"], capture_output=True, text=True)
    env.tap.ok(k.stdout and k.stdout == kk.stdout, "the returned key is the leaf's")
    env.tap.has(env.procs.log(name), "Delegating credentials for /C=US/O=Example/CN=Alice Smith lifetime=3600",
                "the server log shows the delegation")


def test_refusals(env, w):
    name, port = w.serve_once()
    r, _, _ = w.logon(port, passphrase="not-alices-passphrase")
    w.done(name)
    env.tap.ok(r.returncode != 0, "wrong passphrase refused", out(r))
    env.tap.has(r.stderr, "the MyProxy server refused: ", "the server's reason is passed on")
    env.tap.ok("not-alices-passphrase" not in r.stderr + r.stdout, "the passphrase is not in the message")
    env.tap.diag("wrong passphrase: " + r.stderr.strip())

    name, port = w.serve_once()
    r, _, _ = w.logon(port, user="nobody-stored")
    w.done(name)
    env.tap.ok(r.returncode != 0 and "the MyProxy server refused: " in r.stderr, "unknown user refused", out(r))

    name, port = w.serve_once(host="wronghost")
    r, _, _ = w.logon(port)
    w.done(name)
    env.tap.ok(r.returncode != 0, "server certificate from another CA refused", out(r))
    env.tap.has(r.stderr, "the MyProxy server 127.0.0.1:%d is not trusted: unable to get local issuer "
                "certificate" % port, "says the server is not trusted")
    env.tap.ok("Received" not in env.procs.log(name), "no request reached the untrusted server")

    name, port = w.serve_once()
    r, _, _ = w.logon(port, server_dn="/C=US/O=Example/CN=myproxy.example.org")
    w.done(name)
    env.tap.ok(r.returncode != 0, "unexpected server DN refused", out(r))
    env.tap.has(r.stderr, "the server certificate /C=US/O=Example/CN=localhost is not the one expected for "
                "/C=US/O=Example/CN=myproxy.example.org", "names both DNs")

    r, _, _ = w.logon(free_port())
    env.tap.has(r.stderr, "cannot connect to 127.0.0.1:", "nothing listening: cannot connect")

    # A listener that accepts and never speaks: the deadline ends the logon.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    r, _, took = w.logon(s.getsockname()[1], timeout=2)
    s.close()
    env.tap.ok(r.returncode != 0 and "timed out after 2 s" in r.stderr and took < 5,
               "a silent server times out after 2 s (took %.2f s)" % took, out(r))


class StandIn:
    """A STAND-IN MyProxy server (Python ssl, test-CA host certificate) for the malformed
    answers no real server gives. It records what the client sent: self.record."""

    def __init__(self, w, answer):
        import ssl
        import threading
        self.answer = answer
        self.record = {}
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(w.p("host.pem"), w.p("host.key"))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def read_until(self, conn, buf, done):
        while not done(buf):
            d = conn.recv(65536)
            if not d:
                break
            buf += d
        return buf

    def serve(self):
        try:
            raw, _ = self.sock.accept()
            raw.settimeout(10)
            conn = self.ctx.wrap_socket(raw, server_side=True)
            buf = self.read_until(conn, b"", lambda b: b"\0" in b[1:])
            self.record["flag"] = buf[:1]
            self.record["request"] = buf[1:buf.index(b"\0", 1)].decode()
            conn.sendall(b"\0")
            conn.sendall(self.answer["response"])
            if "chain" in self.answer:
                der = self.read_until(conn, b"", lambda b: len(b) >= 4 and len(b) >= 4 + (b[2] << 8 | b[3]))
                self.record["csr"] = der
                conn.sendall(self.answer["chain"])
            conn.close()
        except Exception as e:  # recorded, and the test's checks of the record fail
            self.record["error"] = repr(e)
        finally:
            self.sock.close()

    def close(self):
        self.thread.join(15)


def der(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-outform", "DER"], capture_output=True,
                          check=True).stdout


def test_standin(env, w):
    ok = b"VERSION=MYPROXYv2\nRESPONSE=0\n\0"
    s = StandIn(w, {"response": ok, "chain": b"\x00"})
    r, _, _ = w.logon(s.port, timeout=5)
    s.close()
    env.tap.has(r.stderr, "the MyProxy server sent a chain of 0 certificates", "stand-in: empty chain refused")
    rec = s.record
    env.tap.eq(rec.get("flag"), b"0", "stand-in record: the client sent the '0' flag first")
    env.tap.eq(rec.get("request"), "VERSION=MYPROXYv2\nCOMMAND=0\nUSERNAME=alice\nPASSPHRASE=%s\n"
               "LIFETIME=3600\n" % PASS, "stand-in record: the GET request, NUL-terminated")
    csr = env.path("standin.csr")
    with open(csr, "wb") as f:
        f.write(rec.get("csr", b""))
    v = subprocess.run(["openssl", "req", "-inform", "DER", "-in", csr, "-noout", "-verify", "-text"],
                       capture_output=True, text=True)
    env.tap.ok(v.returncode == 0 and "Public-Key: (2048 bit)" in v.stdout,
               "stand-in record: a self-signed DER CSR for a 2048-bit key", out(v))

    s = StandIn(w, {"response": ok, "chain": b"\x01" + der(w.p("alice.pem"))})
    r, _, _ = w.logon(s.port, timeout=5)
    s.close()
    env.tap.has(r.stderr, "the MyProxy server returned a certificate for another key",
                "stand-in: a chain that does not certify the new key is refused")

    s = StandIn(w, {"response": b"HELLO\n\0"})
    r, _, _ = w.logon(s.port, timeout=5)
    s.close()
    env.tap.has(r.stderr, "the MyProxy server sent no RESPONSE line", "stand-in: no RESPONSE line")

    s = StandIn(w, {"response": b"VERSION=MYPROXYv2\nRESPONSE=1\nERROR=line one\nERROR=two\x1b[31m\n\0"})
    r, _, _ = w.logon(s.port, timeout=5)
    s.close()
    env.tap.has(r.stderr, "the MyProxy server refused: line one two?[31m\n",
                "stand-in: ERROR lines joined, control characters replaced")

    s = StandIn(w, {"response": b"VERSION=MYPROXYv2\nRESPONSE=2\nAUTHORIZATION_DATA=x\n\0"})
    r, _, _ = w.logon(s.port, timeout=5)
    s.close()
    env.tap.has(r.stderr, "wants another authorization method (not supported)", "stand-in: RESPONSE=2")


def main():
    env = Env("test_myproxy")
    w = World(env)
    for fn in (test_store, test_logon, test_refusals, test_standin):
        before = env.tap.failed
        env.run(fn, w)
        if fn is test_store and env.tap.failed != before:
            break
    if env.tap.failed == 0:  # keys and stored credentials are kept only to debug a failure
        for d in (w.pki, w.store):
            shutil.rmtree(d, ignore_errors=True)
        for n in os.listdir(env.artifacts):
            if n.startswith("logon-"):
                shutil.rmtree(env.path(n), ignore_errors=True)
    env.finish()


if __name__ == "__main__":
    main()
