"""harness.py: what nbgate's integration tests share.

TAP output, free ports, processes started and stopped by PID with their logs
kept under test-artifacts/<test>/, and the real parts: nbgated, OpenSSH, the
Jupyter notebook, nbgate-agent.
"""
import atexit
import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import traceback
import urllib.parse

PATTERN = bytes(range(256)) * 4096  # what backend.py serves, repeated
BUILDDIR = os.environ.get("NB_BUILDDIR") or os.getcwd()
# NB_HTTP=h2 (tests/over-h2/): Gateway.request() and get() speak HTTP/2, so a test file's
# checks of the proxy and its security rules run over both protocols.  What only HTTP/1.1
# can say (raw bytes, a kept-alive http.client connection) stays HTTP/1.1.
HTTP2 = os.environ.get("NB_HTTP") == "h2"
# Fields HTTP/2 forbids; a test's HTTP/1.1 framing hint, not a request field, over h2.
H2_DROPPED = ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade")
SRCDIR = os.environ.get("NB_SRCDIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Tap:
    """Numbered ok / not ok lines, then the plan; exit status says it all."""

    def __init__(self, name):
        self.name = name
        self.n = 0
        self.failed = 0

    def ok(self, cond, what, detail=None):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, what), flush=True)
        if not cond:
            self.failed += 1
            if detail is not None:
                for line in str(detail).splitlines()[:40]:
                    print("#   " + line, flush=True)
        return cond

    def eq(self, got, want, what):
        return self.ok(got == want, what, "got:  %r\nwant: %r" % (got, want))

    def has(self, hay, needle, what):
        return self.ok(hay is not None and needle in hay, what,
                       "got: %r\nwant it to contain: %r" % (hay if hay is None else hay[:2000], needle))

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def done(self, artifacts=None):
        print("1..%d" % self.n, flush=True)
        if self.failed and artifacts:
            print("# logs kept in %s" % artifacts, flush=True)
        return 1 if self.failed or self.n == 0 else 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    """A process's resident memory (VmRSS) in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_all(sock):
    """Everything a socket gives until it closes, times out or fails."""
    out = b""
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                break
            out += b
    except (socket.timeout, ssl.SSLError, ConnectionResetError, BrokenPipeError):
        pass
    return out


def wait_for(cond, timeout=20.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        try:
            v = cond()
            if v:
                return v
        except Exception:
            pass
        time.sleep(step)
    return None


class Procs:
    """Every process a test starts: logs in the artifacts dir, stopped by PID."""

    def __init__(self, artifacts):
        self.artifacts = artifacts
        self.procs = {}
        atexit.register(self.stop_all)

    def start(self, name, argv, env=None, **kw):
        log = open(os.path.join(self.artifacts, name + ".log"), "ab")
        e = dict(os.environ)
        if env:
            e.update(env)
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=e,
                             stdin=subprocess.DEVNULL, start_new_session=True, **kw)
        log.close()
        self.procs[name] = p
        return p

    def stop(self, name, sig=signal.SIGTERM, timeout=10):
        p = self.procs.pop(name, None)
        if p is None:
            return None
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        return p.returncode

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)

    def log(self, name):
        try:
            with open(os.path.join(self.artifacts, name + ".log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Env:
    """One test's world: artifacts dir, processes, TAP."""

    def __init__(self, name):
        if HTTP2:
            name += "-h2"
        self.name = name
        self.artifacts = os.path.join(BUILDDIR, "test-artifacts", name)
        shutil.rmtree(self.artifacts, ignore_errors=True)
        os.makedirs(self.artifacts)
        os.chmod(self.artifacts, 0o700)
        self.tap = Tap(name)
        self.procs = Procs(self.artifacts)
        if HTTP2:
            self.tap.diag("NB_HTTP=h2: Gateway.request() and get() go over HTTP/2")

    def path(self, *parts):
        return os.path.join(self.artifacts, *parts)

    def run(self, fn, *args):
        """Runs one test function; an exception is a failed test, not a crash."""
        try:
            fn(self, *args)
        except Exception:
            self.tap.ok(False, "%s raised" % fn.__name__, traceback.format_exc())

    def sanitizer_reports(self):
        """Sanitizer findings in the logs of every process this test started."""
        found = []
        for name in sorted(os.listdir(self.artifacts)):
            if not name.endswith(".log"):
                continue
            with open(os.path.join(self.artifacts, name), errors="replace") as f:
                for line in f:
                    if ("ERROR: AddressSanitizer" in line or "runtime error:" in line
                            or "ERROR: LeakSanitizer" in line):
                        found.append("%s: %s" % (name, line.strip()))
        return found

    def finish(self):
        self.procs.stop_all()
        reports = self.sanitizer_reports()
        self.tap.ok(not reports, "no sanitizer reports from the processes this test started",
                    "\n".join(reports[:20]))
        rc = self.tap.done(self.artifacts)
        sys.exit(rc)


def run_all(name, setup, tests):
    """A test file's main(): an Env, setup(env), each test function in turn, then
    the closing checks.  A setup that raises is one failed check."""
    env = Env(name)
    try:
        setup(env)
        for fn in tests:
            env.run(fn)
    except Exception as e:
        env.tap.ok(False, "setup", repr(e))
    env.finish()


def login_path(gw, user):
    """The path of a one-time login link for USER (nbgatectl login-url)."""
    url = gw.ctl("login-url", user).stdout.strip()
    return url[url.index("/hub/"):]


def browser_walk(env, script, args, timeout, extra_env=None):
    """Runs tests/browser/SCRIPT (a Chromium walk) with ARGS and a screenshots dir
    as its last argument; returns (its JSON result, the screenshots dir).  Its
    output is kept in browser.log; a walk that printed no JSON reads as an error."""
    shots = env.path("screenshots")
    os.makedirs(shots, exist_ok=True)
    bdir = os.path.join(SRCDIR, "tests", "browser")
    p = subprocess.run(["node", os.path.join(bdir, script)] + list(args) + [shots],
                       capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, NODE_PATH=os.path.join(bdir, "node_modules"),
                                **(extra_env or {})))
    with open(env.path("browser.log"), "w") as f:
        f.write(p.stdout + p.stderr)
    try:
        res = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = {"error": p.stderr[-2000:], "steps": {}}
    return res, shots


def binary(name):
    p = os.path.join(BUILDDIR, name)
    if not os.path.exists(p):
        raise RuntimeError("%s not built (looked in %s)" % (name, BUILDDIR))
    return p


class Gateway:
    """A real nbgated with its own state dir, free ports and admin socket."""

    def __init__(self, env, name="nbgated", extra=""):
        self.env = env
        self.name = name
        self.dir = env.path(name)
        os.makedirs(self.dir, exist_ok=True)
        self.https_port = free_port()
        self.ssh_port = free_port()
        self.sock = os.path.join(self.dir, "admin.sock")
        self.config = os.path.join(self.dir, "nbgated.yaml")
        with open(self.config, "w") as f:
            f.write("state_dir: %s\n"
                    "listen:\n  https: 127.0.0.1:%d\n  ssh: 127.0.0.1:%d\n  admin_socket: %s\n"
                    "log:\n  level: debug\n%s"
                    % (self.dir, self.https_port, self.ssh_port, self.sock, extra))
        self.proc = None

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.proc = self.env.procs.start(self.name, [binary("nbgated"), "-c", self.config])
        ok = wait_for(lambda: self.proc.poll() is None and os.path.exists(self.sock)
                      and self.ctl("status").returncode == 0, 20)
        if not ok:
            raise RuntimeError("nbgated did not start:\n" + self.env.procs.log(self.name)[-3000:])
        st = json.loads(self.ctl("--json", "status").stdout)
        self.fingerprint = st["ssh_fingerprint"]
        return self

    def stop(self, sig=signal.SIGTERM):
        return self.env.procs.stop(self.name, sig)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def ctl(self, *args, input=None):
        return subprocess.run([binary("nbgatectl"), "-s", self.sock] + list(args),
                              capture_output=True, text=True, input=input, timeout=30)

    def hostkey_pub(self):
        with open(os.path.join(self.dir, "ssh_host_ed25519_key.pub")) as f:
            return f.read().strip()

    def cert(self):
        return os.path.join(self.dir, "tls.crt")

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.cert())
        ctx.check_hostname = False
        return ctx

    def add_route(self, name, pubkey_file, token=None):
        args = ["route", "add", name, "--key", pubkey_file]
        if token is not None:
            tf = self.env.path("%s.token" % name.replace("/", "_"))
            with open(tf, "w") as f:
                f.write(token + "\n")
            os.chmod(tf, 0o600)
            args += ["--token-file", tf]
        r = self.ctl(*args)
        if r.returncode != 0:
            raise RuntimeError("route add failed: " + r.stderr)

    def token(self, user):
        r = self.ctl("token", "issue", user)
        if r.returncode != 0:
            raise RuntimeError("token issue failed: " + r.stderr)
        return r.stdout.strip()

    def conn(self, timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.https_port,
                                           context=self.ssl_context(), timeout=timeout)

    def origin(self):
        """The gateway's own origin, as a browser on its pages names it."""
        return "https://127.0.0.1:%d" % self.https_port

    def request(self, method, path, token=None, cookie=None, body=None, headers=None, timeout=30,
                origin=True, h1=False):
        """One request: (status, headers with lower-case names, body).  With a cookie it is
        sent as a browser on the gateway's own pages sends it: with Origin, unless the caller
        names its own Origin, Referer or Sec-Fetch-Site, or says origin=False (as attacks do).
        Over HTTP/2 when NB_HTTP=h2, unless h1 (a check of HTTP/1.1 itself)."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "token " + token
        if cookie:
            h["Cookie"] = cookie
            if origin and not any(k.lower() in ("origin", "referer", "sec-fetch-site") for k in h):
                h["Origin"] = self.origin()
        if HTTP2 and not h1:
            return self.request_h2(method, path, h, body, timeout)
        c = self.conn(timeout)
        c.request(method, path, body=body, headers=h,
                  encode_chunked=h.get("Transfer-Encoding") == "chunked")
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def request_h2(self, method, path, h, body, timeout):
        """request() over HTTP/2, on a connection of its own, as a browser or an h1-to-h2
        intermediary would send it: a Host field becomes :authority, connection-specific
        fields and those Connection names go (RFC 9113 8.2.2), a chunked body goes as DATA
        frames without a content-length.  A stream the gateway resets answers status 0."""
        from h2client import H2
        named = set(H2_DROPPED)
        for k, v in h.items():
            if k.lower() == "connection":
                named.update(x.strip().lower() for x in v.split(","))
        fields = []
        authority = None
        for k, v in h.items():
            if k.lower() == "host":
                authority = v
            elif k.lower() not in named:
                fields.append((k.lower(), v))
        if isinstance(body, str):
            body = body.encode()
        elif body is not None and not isinstance(body, (bytes, bytearray)):
            body = b"".join(body)
        if body is not None and h.get("Transfer-Encoding") != "chunked" and \
                not any(k == "content-length" for k, v in fields):
            fields.append(("content-length", str(len(body))))
        c = H2(self, timeout=timeout)
        try:
            st = c.request(method, path, headers=fields, body=body, authority=authority,
                           timeout=timeout)
        finally:
            c.close()
        return (st.status or 0, dict(st.headers), bytes(st.body))

    def get(self, path, token, conn=None, close=True):
        """GET PATH with TOKEN on CONN, or on a new connection closed after it (with
        "Connection: close" unless close=False): (status, body); a body the server
        cut short is returned as far as it came.  Without CONN, over HTTP/2 when
        NB_HTTP=h2."""
        if HTTP2 and conn is None:
            status, _, body = self.request("GET", path, token=token)
            return status, body
        c = conn or self.conn()
        h = {"Authorization": "token " + token}
        if close:
            h["Connection"] = "close"
        c.request("GET", path, headers=h)
        r = c.getresponse()
        try:
            body = r.read()
        except http.client.IncompleteRead as e:
            body = e.partial
        if conn is None:
            c.close()
        return r.status, body

    def raw(self, data, timeout=10):
        """Sends raw bytes over TLS and returns everything read until close."""
        s = socket.create_connection(("127.0.0.1", self.https_port), timeout=timeout)
        t = self.ssl_context().wrap_socket(s)
        t.sendall(data)
        out = read_all(t)
        t.close()
        return out


def ssh_keygen(path):
    if os.path.exists(path):
        os.unlink(path)
        os.unlink(path + ".pub")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path],
                   check=True, stdout=subprocess.DEVNULL)
    return path


class OpenSSHAgent:
    """Plain OpenSSH as the agent: ssh -N -R 0:127.0.0.1:PORT route@gateway."""

    def __init__(self, env, gw, route, key, target_port, name=None):
        self.env, self.gw, self.route, self.key = env, gw, route, key
        self.target_port = target_port
        self.name = name or "ssh-%s" % route.replace("/", "_")
        self.known = env.path(self.name + ".known_hosts")
        with open(self.known, "w") as f:
            f.write("[127.0.0.1]:%d %s\n" % (gw.ssh_port, gw.hostkey_pub()))

    def argv(self, extra=()):
        return ["ssh", "-N", "-F", "/dev/null", "-o", "ExitOnForwardFailure=yes",
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "UserKnownHostsFile=" + self.known, "-o", "ServerAliveInterval=5",
                "-o", "IdentitiesOnly=yes", "-i", self.key, "-p", str(self.gw.ssh_port),
                "-R", "0:127.0.0.1:%d" % self.target_port] + list(extra) + \
               ["%s@127.0.0.1" % self.route]

    def start(self):
        self.env.procs.start(self.name, self.argv())
        return self

    def stop(self):
        self.env.procs.stop(self.name)


class NbAgent:
    """nbgate's own agent binary."""

    def __init__(self, env, gw, route, key, target_port=None, target_unix=None, name=None):
        self.env, self.gw, self.route, self.key = env, gw, route, key
        self.name = name or "agent-%s" % route.replace("/", "_")
        self.target_port, self.target_unix = target_port, target_unix

    def start(self, extra=()):
        argv = [binary("nbgate-agent"), "--gateway", "127.0.0.1:%d" % self.gw.ssh_port,
                "--route", self.route, "--key", self.key,
                "--hostkey-fingerprint", self.gw.fingerprint, "--backoff-max", "2"]
        if self.target_unix:
            argv += ["--target-unix", self.target_unix]
        else:
            argv += ["--target", "127.0.0.1:%d" % self.target_port]
        self.proc = self.env.procs.start(self.name, argv + list(extra))
        return self

    def stop(self, sig=signal.SIGTERM):
        return self.env.procs.stop(self.name, sig)


def backend_route(env, gw, user, token=None):
    """backend.py (a real HTTP server) behind plain OpenSSH (ssh -R) as USER's route: starts
    both (env.backend_port, the agent in env.agent) and returns once the route is connected."""
    env.backend_port = free_port()
    env.procs.start("backend", ["/usr/bin/python3", os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "backend.py"), str(env.backend_port)])
    wait_for(lambda: socket.create_connection(("127.0.0.1", env.backend_port), 1).close() or True)
    key = ssh_keygen(env.path("%s_key" % user))
    gw.add_route(user, key + ".pub", token=token)
    env.agent = OpenSSHAgent(env, gw, user, key, env.backend_port).start()
    return wait_for(lambda: route_connected(gw, user), 20)


def route_connected(gw, name):
    r = gw.ctl("--json", "route", "list")
    if r.returncode != 0:
        return False
    for rt in json.loads(r.stdout)["routes"]:
        if rt["name"] == name:
            return rt["connected"]
    return False


JUPYTER = shutil.which("jupyter-notebook", path="/usr/bin:/usr/local/bin") or "jupyter-notebook"


class Notebook:
    """A real Jupyter Notebook (Debian's), bound to 127.0.0.1 with a token."""

    def __init__(self, env, user, base_url=None, name=None, extra=()):
        self.env = env
        self.user = user
        self.extra = list(extra)
        self.name = name or "notebook-" + user
        self.port = free_port()
        self.token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        self.base_url = base_url or "/user/%s/" % user
        self.dir = env.path(self.name + "-home")
        os.makedirs(self.dir, exist_ok=True)

    def start(self):
        env = {"HOME": self.dir, "JUPYTER_RUNTIME_DIR": os.path.join(self.dir, ".rt"),
               "JUPYTER_CONFIG_DIR": os.path.join(self.dir, ".jupyter"),
               "JUPYTER_DATA_DIR": os.path.join(self.dir, ".data"),
               "IPYTHONDIR": os.path.join(self.dir, ".ipython"),
               "PATH": "/usr/bin:/bin", "JUPYTER_TOKEN": self.token}
        argv = ["/usr/bin/python3", "-m", "notebook", "--no-browser", "--ip=127.0.0.1",
                "--port=%d" % self.port, "--port-retries=0",
                "--NotebookApp.base_url=" + self.base_url,
                "--notebook-dir=" + self.dir] + self.extra
        if os.geteuid() == 0:
            argv.append("--allow-root")
        self.env.procs.start(self.name, argv, env=env)
        def up():
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            c.request("GET", self.base_url + "api/status",
                      headers={"Authorization": "token " + self.token})
            return c.getresponse().status == 200
        if not wait_for(up, 60, 0.2):
            raise RuntimeError("notebook did not start:\n" + self.env.procs.log(self.name)[-3000:])
        return self


def ws_kernel(gw, path_prefix, kernel_id, token=None, cookie=None, timeout=30):
    """A WebSocket to a kernel's channels through the gateway (as a browser tab holds)."""
    import websocket  # Debian's python3-websocket
    url = "wss://127.0.0.1:%d%sapi/kernels/%s/channels" % (gw.https_port, path_prefix, kernel_id)
    headers = []
    if token:
        headers.append("Authorization: token " + token)
    opts = {}
    if cookie:
        headers.append("Cookie: " + cookie)
        opts["origin"] = gw.origin()  # as a browser on the gateway's pages sends it
    return websocket.create_connection(url, header=headers, timeout=timeout, **opts,
                                       sslopt={"cert_reqs": ssl.CERT_REQUIRED,
                                               "ca_certs": gw.cert(), "check_hostname": False})


def ws_send_execute(ws, code):
    """Sends an execute_request for @code on a kernel's WebSocket; returns its msg_id."""
    msg_id = base64.b16encode(os.urandom(8)).decode()
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": msg_id,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        "buffers": []}))
    return msg_id


def ws_execute(gw, path_prefix, kernel_id, code, token=None, cookie=None, timeout=30):
    """Runs @code in a kernel over its WebSocket through the gateway; returns text/plain."""
    ws = ws_kernel(gw, path_prefix, kernel_id, token, cookie, timeout)
    msg_id = ws_send_execute(ws, code)
    end = time.time() + timeout
    result = None
    while time.time() < end:
        m = json.loads(ws.recv())
        if m.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "execute_result":
            result = m["content"]["data"].get("text/plain")
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" and result is not None:
            break
    ws.close()
    return result


def kernel_computes(t, gw, prefix, token, what, code="1+1", expect="2",
                    starts="a kernel starts"):
    """Starts a kernel in the notebook at @prefix ("/user/NAME/") over its REST API through
    the gateway (check @starts: 201) and runs @code in it over its WebSocket (check @what:
    the answer is @expect).  Returns the kernel's id, or None if none started."""
    st, _, out = gw.request("POST", prefix + "api/kernels", token=token, body=b"{}",
                            headers={"Content-Type": "application/json"})
    if not t.ok(st == 201, starts, (st, out[:200])):
        return None
    kid = json.loads(out)["id"]
    t.eq(ws_execute(gw, prefix, kid, code, token=token), expect, what)
    return kid


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


TESTENV = os.path.join(SRCDIR, "scripts", "testenv.sh")


def testenv(*args, timeout=600):
    """Runs scripts/testenv.sh (start|stop|status|env) for the shared SLURM environment."""
    return subprocess.run(["bash", TESTENV] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def parse_env(text):
    """The KEY='value' lines that `testenv.sh env` prints, as a dict."""
    import re
    import shlex
    vals = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if m:
            vals[m.group(1)] = shlex.split(m.group(2))[0] if m.group(2) else ""
    return vals
