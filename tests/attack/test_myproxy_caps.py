"""test_myproxy_caps.py: MyProxy logons through nbgated's REST API
(POST /hub/api/users/NAME/credential {myproxy: ...}) against Debian's real myproxy-server
(one-shot -d instances on one port, alice's credential stored with myproxy-init, as in
tests/integration/test_myproxy.py) and a silent server that accepts and never answers.

- Caps in flight: credentials.myproxy_max_inflight (8) and _per_user (1). Before, each
  logon had its own thread and socket with no cap (40 at once = 40 threads). Now 40
  concurrent logons from 40 users: 8 reach the server, 32 get 429 at once, and
  nbgated's thread count (/proc/PID/status) grows by at most 8.
- Backoff: wrong passphrases for one MyProxy name are throttled as the login form's
  are (throttle.c): after 5 free failures, 429 without asking the server, for every
  gateway user guessing that name; another name is not affected; after the wait the
  right passphrase works.
- A MyProxy user name with a newline is refused before it is logged.
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Gateway, free_port, run_all, wait_for  # noqa: E402
from test_myproxy import PASS, World, out  # noqa: E402

CAP, CAP_USER = 8, 1


def cred_post(env, user, mpuser, passphrase, timeout=60):
    body = json.dumps({"myproxy": {"username": mpuser, "passphrase": passphrase}}).encode()
    st, _, data = env.gw.request("POST", "/hub/api/users/%s/credential" % user, token=env.tok(user),
                                 body=body, headers={"Content-Type": "application/json"},
                                 timeout=timeout)
    try:
        return st, json.loads(data)
    except ValueError:
        return st, data


def serve(env, w):
    """A real one-shot myproxy-server -d behind the front; its process name."""
    w.n += 1
    name = "myproxy-server-%d" % w.n
    port = free_port()
    env.procs.start(name, ["myproxy-server", "-d", "-v", "-c", w.config, "-s", w.store,
                           "-p", str(port), "-l", "127.0.0.1"],
                    env={"X509_USER_CERT": w.p("host.pem"), "X509_USER_KEY": w.p("host.key"),
                         "X509_CERT_DIR": w.p("cadir")})
    if not wait_for(lambda: "Starting myproxy-server on" in env.procs.log(name), 15):
        raise RuntimeError("%s did not start:\n%s" % (name, env.procs.log(name)))
    env.front.target = port
    return name


class Front:
    """What nbgated dials (credentials.myproxy): relays each connection to the real
    myproxy-server of the moment (self.target), or, with target None, accepts and never
    answers (a silent server). One port for the whole test, whatever runs behind it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.target = None
        self.silent = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.target is None:
                self.silent.append(c)
                continue
            try:
                b = socket.create_connection(("127.0.0.1", self.target), 5)
            except OSError:
                c.close()
                continue
            for x, y in ((c, b), (b, c)):
                threading.Thread(target=self.pump, args=(x, y), daemon=True).start()

    @staticmethod
    def pump(x, y):
        try:
            while True:
                d = x.recv(65536)
                if not d:
                    break
                y.sendall(d)
        except OSError:
            pass
        try:
            y.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def drop_silent(self):
        """Resets the connections it kept silent: the logons waiting on them fail."""
        for c in self.silent:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        self.silent = []


def threads_of(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^Threads:\s+(\d+)", f.read(), re.M).group(1))


def setup(env):
    w = env.w = World(env)
    name, port = w.serve_once()
    r = subprocess.run(["myproxy-init", "-s", "localhost", "-p", str(port), "-l", "alice", "-S"],
                       input=PASS + "\n", capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, X509_USER_CERT=w.p("alice.pem"), X509_USER_KEY=w.p("alice.key"),
                                X509_CERT_DIR=w.p("cadir"), MYPROXY_SERVER_DN="/C=US/O=Example/CN=localhost"))
    w.done(name)
    if r.returncode != 0:
        raise RuntimeError("myproxy-init failed: " + out(r))
    env.front = Front()
    env.gw = Gateway(env, extra="credentials:\n  ca_dir: %s\n  gridmap: %s\n  myproxy: 127.0.0.1:%d\n"
                     % (w.p("cadir"), w.p("grid-mapfile"), env.front.port)).start()
    tokens = {}

    def tok(user):
        if user not in tokens:
            tokens[user] = env.gw.token(user)
        return tokens[user]
    env.tok = tok


def test_legit(env):
    t = env.tap
    name = serve(env, env.w)
    st, m = cred_post(env, "alice", "alice", PASS)
    env.w.done(name)
    t.ok(st == 200 and m.get("source") == "myproxy", "without an attack: a MyProxy logon through the "
         "API gives alice her proxy (200)", (st, m))
    t.ok(re.search(r"^.*credentials: alice: MyProxy logon as alice at 127\.0\.0\.1:\d+$",
                   env.procs.log("nbgated"), re.M) is not None, "the logon is logged on one line")


def test_caps(env):
    t = env.tap
    gw = env.gw
    users = ["u%02d" % i for i in range(1, 41)]
    for u in users + ["alice"]:
        env.tok(u)
    env.front.target = None
    silent = env.front
    base = threads_of(gw.proc.pid)
    results = {}

    def one(u, key=None):
        results[key or u] = cred_post(env, u, "nobody-" + u, "guess", timeout=90)

    # per user: alice's second logon while her first runs
    th = [threading.Thread(target=one, args=("alice",), daemon=True)]
    th[0].start()
    wait_for(lambda: len(silent.silent) == 1, 10)
    one("alice", "alice-2")
    st, m = results.get("alice-2", (None, None))
    t.ok(st == 429 and "a MyProxy logon of yours is still running" in str(m),
         "attack myproxy-per-user: a second logon of one user while the first runs is refused "
         "(429)", (st, m))

    # all users: 40 more at once from 40 users, 7 places left
    t0 = time.monotonic()
    for u in users:
        x = threading.Thread(target=one, args=(u,), daemon=True)
        x.start()
        th.append(x)
    wait_for(lambda: sum(1 for u in users if u in results) >= len(users) - (CAP - 1), 30)
    time.sleep(1)
    took = time.monotonic() - t0
    refused = [u for u in users if results.get(u, (None,))[0] == 429]
    waiting = [u for u in users if u not in results]
    peak = threads_of(gw.proc.pid)
    t.diag("40 logons at once: %d answered 429 in %.1f s, %d waiting; the silent server has %d "
           "connections; nbgated threads %d -> %d" % (len(refused), took, len(waiting),
                                                     len(silent.silent), base, peak))
    t.ok(len(refused) == len(users) - (CAP - 1) and len(waiting) == CAP - 1,
         "attack myproxy-flood: 40 concurrent logons beyond credentials.myproxy_max_inflight (8) "
         "are refused with 429", {u: results.get(u) for u in users[:3]})
    t.ok(len(silent.silent) == CAP, "at most %d logons reach the MyProxy server (%d did)"
         % (CAP, len(silent.silent)))
    t.ok(peak - base <= CAP, "nbgated's threads grew by %d (at most %d)" % (peak - base, CAP))
    st, m = results.get(refused[0]) if refused else (None, None)
    t.ok(m is not None and "too many MyProxy logons are running" in str(m),
         "the 429 says why", m)
    silent.drop_silent()  # the logons in flight fail at once
    for x in th:
        x.join(30)
    t.ok(all(results.get(u, (None,))[0] == 400 for u in waiting + ["alice"]),
         "the logons in flight end with 400 when the server goes",
         {u: results.get(u) for u in waiting + ["alice"]})
    t.ok(wait_for(lambda: threads_of(gw.proc.pid) <= base, 10),
         "their threads are gone (%d)" % threads_of(gw.proc.pid))


def test_backoff(env):
    t = env.tap
    w = env.w
    codes = []
    for i in range(6):
        name = serve(env, w)
        st, m = cred_post(env, "carol", "alice", "guess-%d" % i)
        w.done(name)
        codes.append(st)
    t.ok(codes == [400] * 6, "six wrong passphrases for alice's MyProxy name: the server refuses "
         "each (400)", codes)
    st, m = cred_post(env, "carol", "alice", PASS, timeout=10)
    t.ok(st == 429 and "too many failed MyProxy logons" in str(m),
         "attack myproxy-guessing: a seventh guess at once is refused (429) without asking the "
         "server", (st, m))
    st, m = cred_post(env, "dave", "alice", "guess-7", timeout=10)
    t.ok(st == 429, "attack myproxy-guessing-other-user: the same MyProxy name guessed from "
         "another gateway user is refused (429)", (st, m))
    name = serve(env, w)
    st, m = cred_post(env, "erin", "nobody-stored", "x")
    w.done(name)
    t.ok(st == 400 and "the MyProxy server refused" in str(m),
         "another user with another MyProxy name still reaches the server", (st, m))
    time.sleep(2.5)
    name = serve(env, w)
    st, m = cred_post(env, "carol", "alice", PASS)
    w.done(name)
    t.ok(st == 200, "after the wait the right passphrase works (200)", (st, m))


def test_log_injection(env):
    t = env.tap
    st, m = cred_post(env, "alice", "alice\nFAKE LINE: credentials: root logged in", "x", timeout=10)
    t.ok(st == 400 and "control characters" in str(m), "a MyProxy user name with a newline: 400 "
         "with why", (st, m))
    log = env.procs.log("nbgated")
    t.ok(not re.search(r"^FAKE", log, re.M), "attack log-injection-myproxy: a newline in the MyProxy "
         "user name forging a log line is refused")
    t.ok(env.gw.alive(), "nbgated is still running")


def main():
    run_all("test_myproxy_caps", setup, (test_legit, test_caps, test_backoff, test_log_injection))


if __name__ == "__main__":
    main()
