"""test_websocket.py: upgraded connections (WebSockets) through nbgated and
nbgate-agent to a small raw upgrade server: bytes that wait for the 101 and
bytes behind it, large echoes both ways, a reader that stops reading and a
notebook that stops reading (the gateway's memory stays bounded both ways),
each side closing, the idle timeout, and the agent dying.
nbgated relays a WebSocket's channel straight to the browser's socket after
the 101 (no bufferevent pair, no bufferevent in between): these are the paths
that changes."""
import hashlib
import json
import os
import select
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Gateway, NbAgent, ssh_keygen, wait_for,  # noqa: E402
                     route_connected, binary, rss_kib)

HEAD_END = b"\r\n\r\n"
AFTER_101 = b"hello-after-101"


class UpgradeServer:
    """Answers any request with 101 (plus AFTER_101 in the same write), then
    by path: .../echo echoes until EOF; .../push/N sends N pattern bytes and
    closes; .../stall/N reads nothing until self.release is set, then
    everything.  Records what it saw in self.events, and how many bytes a
    push has sent so far in self.pushed[path]."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.events = []
        self.pushed = {}
        self.release = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self.loop, daemon=True).start()

    def note(self, ev):
        with self.lock:
            self.events.append(ev)

    def seen(self, ev):
        with self.lock:
            return ev in self.events

    def loop(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        buf = b""
        while HEAD_END not in buf:
            b = s.recv(65536)
            if not b:
                s.close()
                return
            buf += b
        head, rest = buf.split(HEAD_END, 1)
        path = head.split(b" ")[1].decode()
        self.note(("head", path, b"upgrade: test" in head.lower()))
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\n"
                  b"Connection: Upgrade\r\n\r\n" + AFTER_101)
        if path.endswith("/echo"):
            n = 0
            if rest:
                s.sendall(rest)
                n += len(rest)
            for b in received(s):
                s.sendall(b)
                n += len(b)
            self.note(("eof", path, n))
        elif "/push/" in path:
            n = int(path.rsplit("/", 1)[1])
            sent = 0
            try:
                while sent < n:
                    k = min(4096, n - sent)     # fine-grained progress
                    s.sendall(pattern(sent, k))
                    sent += k
                    self.pushed[path] = sent
            except OSError:
                pass
            self.note(("push-done", path, sent))
        elif "/stall/" in path:
            # reads nothing until the test has measured, then everything
            self.release.wait(120)
            h, n = hashlib.sha256(rest), len(rest)
            for b in received(s):
                h.update(b)
                n += len(b)
            self.note(("sunk", path, n, h.hexdigest()))
        s.close()


def received(s):
    """What the peer sends on s, chunk by chunk, until it closes or the socket fails."""
    while True:
        try:
            b = s.recv(65536)
        except OSError:
            return
        if not b:
            return
        yield b


def pattern(off, n):
    return bytes((off + i) % 251 for i in range(n))


def asan_build():
    with open(binary("nbgated"), "rb") as f:
        return b"__asan_init" in f.read()


def status(gw):
    return json.loads(gw.ctl("--json", "status").stdout)


def open_ws(env, path, early=b""):
    gw = env.gw
    s = socket.create_connection(("127.0.0.1", gw.https_port), timeout=20)
    t = gw.ssl_context().wrap_socket(s)
    t.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token %s\r\n"
               "Connection: Upgrade\r\nUpgrade: test\r\n\r\n" % (path, env.alice)).encode() + early)
    buf = b""
    while HEAD_END not in buf:
        b = t.recv(65536)
        if not b:
            break
        buf += b
    head, rest = buf.split(HEAD_END, 1) if HEAD_END in buf else (buf, b"")
    return t, head, rest


def read_n(t, have, n, timeout=30):
    end = time.time() + timeout
    while len(have) < n and time.time() < end:
        b = t.recv(1 << 20)
        if not b:
            break
        have += b
    return have


def exchange(t, data, timeout=60):
    """Sends data and reads as many bytes back, both at once, from this one
    thread: an SSL socket must not be read and written by two threads at the
    same time (OpenSSL keeps one state for both; a reader may then see a
    false EOF)."""
    t.setblocking(False)
    sent, got = 0, bytearray()
    end = time.time() + timeout
    try:
        while len(got) < len(data) and time.time() < end:
            r, w, _ = select.select([t], [t] if sent < len(data) else [], [], 0.5)
            if r or t.pending():
                while True:
                    try:
                        b = t.recv(1 << 20)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        break
                    if not b:
                        return bytes(got)
                    got += b
            if w and sent < len(data):
                try:       # a refused write is retried with the same bytes
                    sent += t.send(data[sent:sent + 65536])
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
    finally:
        t.settimeout(20)
    return bytes(got)


def read_eof(t, timeout=15):
    t.settimeout(timeout)
    out = b""
    try:
        while True:
            b = t.recv(65536)
            if not b:
                return out, True
            out += b
    except (socket.timeout, OSError):
        return out, False


def setup(env):
    gw = Gateway(env, extra="proxy:\n  idle_timeout: 10s\n").start()
    env.gw = gw
    env.srv = UpgradeServer()
    key = ssh_keygen(env.path("alice_key"))
    gw.add_route("alice", key + ".pub")
    env.agent = NbAgent(env, gw, "alice", key, target_port=env.srv.port).start()
    env.tap.ok(wait_for(lambda: route_connected(gw, "alice"), 20), "nbgate-agent connects")
    env.alice = gw.token("alice")


def test_echo(env):
    t, head, rest = open_ws(env, "/user/alice/ws/echo", early=b"EARLY")
    env.tap.ok(head.startswith(b"HTTP/1.1 101"), "the upgrade answers 101", head[:200])
    have = read_n(t, rest, len(AFTER_101) + 5)
    env.tap.eq(have, AFTER_101 + b"EARLY",
               "bytes behind the 101 and bytes sent before it both arrive, in order")
    env.tap.ok(wait_for(lambda: status(env.gw)["websockets"] == 1, 5), "status counts 1 WebSocket")
    env.tap.has(env.procs.log("nbgated"), "WebSocket spliced onto its channel",
                "nbgated hands the WebSocket's channel to the browser connection")
    data = os.urandom(4 * 1024 * 1024 + 3)
    got = exchange(t, data, 60)
    env.tap.ok(hashlib.sha256(got).digest() == hashlib.sha256(data).digest(),
               "4 MiB echoed both ways at once arrive intact", "got %d bytes" % len(got))
    t.close()
    env.tap.ok(wait_for(lambda: any(e[0] == "eof" and e[1].endswith("/ws/echo")
                                    for e in list(env.srv.events)), 10),
               "the browser closing reaches the notebook as EOF")
    env.tap.ok(wait_for(lambda: status(env.gw)["websockets"] == 0, 10),
               "status counts 0 WebSockets after the close")


def open_probe(env):
    """A second WebSocket to the echo path, through the same agent and SSH
    connection as the one under test."""
    t, head, rest = open_ws(env, "/user/alice/ws/echo")
    read_n(t, rest, len(AFTER_101))
    return t


def stalled(probe, progress, limit, rounds=5, timeout=120):
    """Bytes, not seconds: waits until progress() (bytes one side got out)
    stops moving while echoes go through the same tunnel, nbgated and agent
    (rounds round trips in a row with no progress between: every loop on
    the path ran and nothing more was taken), or until it reaches limit
    (nothing held it back).  Returns the last value.  A slow machine only
    makes this take longer; it cannot make an unbounded flow look bounded."""
    end = time.time() + timeout
    last, still = progress(), 0
    while still < rounds and last < limit and time.time() < end:
        probe.sendall(b"p" * 4096)
        read_n(probe, b"", 4096)
        now = progress()
        still = still + 1 if now == last else 0
        last = now
    return last


def test_slow_reader(env):
    n = 48 * 1024 * 1024
    path = "/user/alice/ws/push/%d" % n
    probe = open_probe(env)
    before = rss_kib(env.gw.proc.pid)
    t, head, rest = open_ws(env, path)
    env.tap.ok(head.startswith(b"HTTP/1.1 101"), "push: 101", head[:200])
    # Not reading: the notebook must be held back.  Wait until it is (or
    # has pushed past the bound), however long this machine takes.
    pushed = stalled(probe, lambda: env.srv.pushed.get(path, 0), 24 * 1024 * 1024)
    grown = rss_kib(env.gw.proc.pid) - before
    probe.close()
    # In flight at most: kernel socket buffers on both sides, the agent's and
    # nbgated's stream buffers and the SSH window; far less than 48 MiB.
    env.tap.ok(pushed < 24 * 1024 * 1024, "the notebook cannot push 48 MiB past a reader that stops",
               "pushed %d" % pushed)
    env.tap.diag("pushed %d bytes while the reader stopped; nbgated grew %d KiB" % (pushed, grown))
    if asan_build():
        env.tap.diag("ASan build: its quarantine keeps freed memory, RSS not checked")
    else:
        env.tap.ok(grown < 16 * 1024, "nbgated grows less than 16 MiB meanwhile (%d KiB)" % grown)
    t.settimeout(60)
    have = rest[len(AFTER_101):] if rest.startswith(AFTER_101) else None
    if have is None:
        have = read_n(t, rest, len(AFTER_101))[len(AFTER_101):]
    out, eof = read_eof(t, 60)
    have += out
    env.tap.ok(len(have) == n and have[:1000] == pattern(0, 1000) and
               have[-1000:] == pattern(n - 1000, 1000),
               "then all 48 MiB arrive, in order", "got %d" % len(have))
    env.tap.ok(eof, "and the notebook closing ends the browser's connection after them")
    t.close()
    env.tap.ok(wait_for(lambda: status(env.gw)["websockets"] == 0, 10), "0 WebSockets again")


def test_stalled_notebook(env):
    """The browser sends while the notebook reads nothing: the SSH window
    holds the browser back (nbgated keeps no more than a record), then
    everything arrives in order."""
    n = 32 * 1024 * 1024
    path = "/user/alice/ws/stall/%d" % n
    data = os.urandom(n)
    probe = open_probe(env)
    t, head, rest = open_ws(env, path)
    env.tap.ok(head.startswith(b"HTTP/1.1 101"), "stall: 101", head[:200])
    # Read what the notebook sent behind its 101 (it may come in a later
    # record): closing a socket with unread bytes resets the connection,
    # and a reset throws away what this side still had to send.
    have = read_n(t, rest, len(AFTER_101))
    env.tap.eq(have, AFTER_101, "stall: the bytes behind the 101 arrive")
    before = rss_kib(env.gw.proc.pid)
    sent = [0]

    def writer():
        try:
            for off in range(0, n, 16384):     # fine-grained progress
                t.sendall(data[off:off + 16384])
                sent[0] = off + 16384
        except OSError:
            pass
    th = threading.Thread(target=writer)
    th.start()
    # The notebook reads nothing until released: wait until the browser is
    # held back (or has sent past the bound), however long this machine takes.
    in_flight = stalled(probe, lambda: sent[0], 16 * 1024 * 1024)
    grown = rss_kib(env.gw.proc.pid) - before
    env.srv.release.set()
    probe.close()
    env.tap.ok(in_flight < 16 * 1024 * 1024,
               "the browser cannot push 32 MiB past a notebook that does not read",
               "sent %d" % in_flight)
    env.tap.diag("browser got %d bytes out while the notebook stalled; nbgated grew %d KiB"
                 % (in_flight, grown))
    if not asan_build():
        env.tap.ok(grown < 16 * 1024, "nbgated grows less than 16 MiB meanwhile (%d KiB)" % grown)
    th.join(90)
    want = hashlib.sha256(data).hexdigest()
    t.close()
    env.tap.ok(wait_for(lambda: any(e[0] == "sunk" and e[1] == path for e in list(env.srv.events)), 60),
               "the notebook sees the browser's EOF after reading")
    sunk = [e for e in list(env.srv.events) if e[0] == "sunk" and e[1] == path]
    env.tap.ok(sunk and sunk[0][2] == n and sunk[0][3] == want,
               "then all 32 MiB arrive at the notebook, in order",
               "got %r" % (sunk[0][2] if sunk else None))
    env.tap.ok(wait_for(lambda: status(env.gw)["websockets"] == 0, 10), "0 WebSockets after it")


def test_idle(env):
    """proxy.idle_timeout (10 s here) ends a spliced WebSocket that moves no
    bytes either way, and only such a one."""
    t, head, rest = open_ws(env, "/user/alice/ws/echo")
    have = read_n(t, rest, len(AFTER_101))
    start = time.time()
    alive = True
    while time.time() - start < 14:     # a byte each way every 3 s: not idle
        t.sendall(b"x")
        have = read_n(t, have, len(have) + 1, 5)
        quiet = time.time()             # the last bytes moved
        if not have.endswith(b"x"):
            alive = False
            break
        time.sleep(3)
    env.tap.ok(alive, "a WebSocket with traffic every 3 s outlives a 10 s idle timeout")
    out, eof = read_eof(t, 30)
    took = time.time() - quiet
    env.tap.ok(eof and 9 <= took <= 25, "an idle one is closed after about 10 s",
               "eof %s after %.1f s" % (eof, took))
    t.close()
    env.tap.has(env.procs.log("nbgated"), "WebSocket ended: idle for 10 s",
                "nbgated says why it ended")
    env.tap.ok(wait_for(lambda: status(env.gw)["websockets"] == 0, 10), "0 WebSockets after it")


def test_agent_dies(env):
    t, head, rest = open_ws(env, "/user/alice/ws/echo")
    have = read_n(t, rest, len(AFTER_101))
    t.sendall(b"ping")
    have = read_n(t, have, len(AFTER_101) + 4)
    env.tap.eq(have, AFTER_101 + b"ping", "a WebSocket echoes before the agent dies")
    env.agent.stop(sig=9)
    out, eof = read_eof(t, 20)
    env.tap.ok(eof, "the agent dying closes the browser's WebSocket")
    t.close()
    env.tap.ok(env.gw.alive(), "nbgated is still running")
    env.tap.ok(wait_for(lambda: status(env.gw)["websockets"] == 0, 10), "0 WebSockets after the agent died")


if __name__ == "__main__":
    env = Env("test_websocket")
    env.run(setup)
    for fn in (test_echo, test_slow_reader, test_stalled_notebook, test_idle, test_agent_dies):
        env.run(fn)
    env.finish()
