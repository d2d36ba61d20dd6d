"""test_limits_ssh.py: attacks on the agents' SSH port (tunnel/sshd.c) with raw sockets
against a real nbgated, and the real nbgate-agent logging in through them.

- Slot exhaustion: idle TCP connections (they never send a byte) from 127.0.0.1,
  127.0.0.2 and eight more loopback addresses in a burst; then 8 on each of 8 addresses
  (the whole pool), each replaced the moment the gateway drops it, while the agent
  tries from its own address. Before: 64 pending slots, newcomers refused, so a few
  connections a second kept every agent out. Now at most 8 pending per address and 64
  in all; a newcomer drops the oldest of its own address, or of the address holding
  the most: the agent logs in and serves.
- An authenticated agent is never the one dropped, however many newcomers arrive.
- The login deadline (ssh.login_timeout, 4 s here) counts from accept: a connection
  trickling its identification string a byte every 0.5 s is closed at 4 s all the same.
- The drops are logged and counted (nbgate_ssh_dropped_total).
"""
import os
import re
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Gateway, NbAgent, run_all, free_port, route_connected, ssh_keygen, wait_for  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration")
GRACE = 4
ADDRS = ["127.0.0.%d" % i for i in range(1, 11)]


def idle_conn(gw, src):
    """A TCP connection from @src to the SSH port that will never send a byte."""
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", gw.ssh_port))
    s.setblocking(False)
    return s


def is_closed(s):
    """True if the server closed @s (EOF or reset after whatever it sent)."""
    try:
        while True:
            r, _, _ = select.select([s], [], [], 0)
            if not r:
                return False
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except BlockingIOError:
        return False


def open_by_addr(conns):
    """{address: connections the server has not closed} of [(address, socket)]."""
    still = {}
    for a, s in conns:
        if not is_closed(s):
            still[a] = still.get(a, 0) + 1
    return still


class Flood:
    """@per idle connections from each of @addrs, each one replaced as soon as the
    server closes it: the pending pool stays as full as the attacker can keep it."""

    def __init__(self, gw, addrs, per):
        self.gw = gw
        self.want = [a for a in addrs for _ in range(per)]
        self.socks = {}
        self.opened = self.errors = 0
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self, a):
        try:
            self.socks[idle_conn(self.gw, a)] = a
            self.opened += 1
        except OSError:
            self.errors += 1

    def run(self):
        for a in self.want:
            self.open(a)
        while not self.stop_ev.is_set():
            if not self.socks:
                time.sleep(0.01)
            r, _, _ = select.select(list(self.socks), [], [], 0.01) if self.socks else ([], [], [])
            for s in r:
                if is_closed(s):
                    a = self.socks.pop(s)
                    s.close()
                    self.open(a)
            missing = len(self.want) - len(self.socks)
            for a in self.want[:missing]:  # opens that failed: try again
                self.open(a)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)
        for s in list(self.socks):
            s.close()


def metric(gw, name, labels):
    st, _, out = gw.request("GET", "/hub/metrics", token=gw.admin_token)
    m = re.search(r"^%s\{%s\} (\d+)$" % (re.escape(name), re.escape(labels)), out.decode(), re.M)
    return int(m.group(1)) if st == 200 and m else None


def served(env):
    st, _, body = env.gw.request("GET", "/user/alice/bytes/1000", token=env.alice, timeout=10)
    return st == 200 and len(body) == 1000


def setup(env):
    gw = Gateway(env, extra="ssh:\n  login_timeout: %ds\nauth:\n  admins: [admin]\n" % GRACE).start()
    env.gw = gw
    gw.admin_token = gw.token("admin")
    env.backend_port = free_port()
    env.procs.start("backend", ["/usr/bin/python3", os.path.join(HERE, "backend.py"),
                                str(env.backend_port)])
    wait_for(lambda: socket.create_connection(("127.0.0.1", env.backend_port), 1).close() or True)
    env.key = ssh_keygen(env.path("alice_key"))
    gw.add_route("alice", env.key + ".pub")
    env.alice = gw.token("alice")


def test_baseline(env):
    t = env.tap
    agent = NbAgent(env, env.gw, "alice", env.key, env.backend_port).start()
    t.ok(wait_for(lambda: route_connected(env.gw, "alice"), 20, 0.2),
         "without an attack: nbgate-agent logs in", env.procs.log(agent.name)[-2000:])
    t.ok(served(env), "without an attack: the agent serves /user/alice/")
    agent.stop()
    t.ok(wait_for(lambda: not route_connected(env.gw, "alice"), 10, 0.2),
         "the agent left; its route is down")


def test_slots(env):
    t = env.tap
    gw = env.gw
    burst = [(a, idle_conn(gw, a)) for a in ["127.0.0.1"] * 40 + ["127.0.0.2"] * 40]
    time.sleep(0.5)
    still = open_by_addr(burst)
    t.diag("after 40 idle connections from 127.0.0.1 and 40 from 127.0.0.2: still open %s"
           % sorted(still.items()))
    t.ok(still.get("127.0.0.1") == 8 and still.get("127.0.0.2") == 8,
         "attack ssh-slots-one-address: 40 idle connections from one address holding more than "
         "8 pending slots is refused (the oldest ones are dropped)", still)
    burst += [(a, idle_conn(gw, a)) for a in ADDRS[2:] for _ in range(8)]
    time.sleep(0.5)
    still = open_by_addr(burst)
    total = sum(still.values())
    t.diag("after %d more from 8 other addresses: %d still open, by address %s"
           % (len(burst) - 80, total, sorted(still.items())))
    t.ok(total == 64 and max(still.values()) <= 8,
         "attack ssh-slots-pool: %d idle connections from 10 addresses holding more than 64 "
         "pending slots is refused" % len(burst), still)

    # The attacker keeps 8 pending on each of 8 addresses (the whole pool of 64) and
    # replaces each one the moment it is dropped; the agent comes from its own address.
    flood = Flood(gw, ADDRS[1:9], 8).start()
    time.sleep(2)
    t0 = time.monotonic()
    agent = NbAgent(env, gw, "alice", env.key, env.backend_port, name="agent-alice-flood").start()
    up = wait_for(lambda: route_connected(gw, "alice"), 20, 0.2)
    took = time.monotonic() - t0
    t.diag("flood so far: %d connections opened (%d refused outright)" % (flood.opened, flood.errors))
    t.ok(up, "attack ssh-slots-exhaustion: 64 idle connections from 8 addresses, each replaced as "
         "soon as it is dropped, keeping the real agent out is refused (nbgate-agent logged in "
         "after %.1f s)" % took, env.procs.log(agent.name)[-2000:])
    t.ok(up and served(env), "under the flood the agent's route serves /user/alice/")

    # The logged-in agent must survive many more newcomers than there are slots.
    logins = env.procs.log("nbgated").count("route alice: authenticated")
    time.sleep(3)
    flood.stop()
    burst2 = [idle_conn(gw, a) for a in ADDRS for _ in range(20)]
    time.sleep(1)
    log = env.procs.log("nbgated")
    t.diag("flood: %d connections opened (%d failed to open)" % (flood.opened, flood.errors))
    t.ok(route_connected(gw, "alice") and log.count("route alice: authenticated") == logins
         and "route alice: disconnected" not in log.split("route alice: authenticated")[-1],
         "attack ssh-drop-authenticated: %d newcomers dropping a logged-in agent is refused "
         "(it stays connected, no new login)" % (flood.opened + len(burst2)))
    t.ok(served(env), "after the floods the same tunnel still serves")
    for _, s in burst:
        s.close()
    for s in burst2:
        s.close()
    agent.stop()


def test_grace(env):
    t = env.tap
    gw = env.gw
    socks = [idle_conn(gw, "127.0.0.3") for _ in range(3)]
    t0 = time.monotonic()
    sent, closed_at = 0, None
    ident = b"SSH-2.0-trickle" + b"x" * 200
    while time.monotonic() - t0 < 3 * GRACE:
        if all(is_closed(s) for s in socks):
            closed_at = time.monotonic() - t0
            break
        try:
            for s in socks:
                s.send(ident[sent:sent + 1])
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            pass
        time.sleep(0.5)
    t.diag("trickled %d bytes each; closed after %s s" % (sent, closed_at))
    t.ok(closed_at is not None and GRACE - 0.5 <= closed_at <= GRACE + 2.5,
         "attack ssh-login-trickle: a connection trickling a byte every 0.5 s past the %d s login "
         "deadline is refused (closed at %s s)" % (GRACE, closed_at and "%.1f" % closed_at))
    for s in socks:
        s.close()
    log = env.procs.log("nbgated")
    t.has(log, "dropped: not logged in %d s after connecting (login_timeout)" % GRACE,
          "the login deadline is logged")


def test_counted(env):
    t = env.tap
    log = env.procs.log("nbgated")
    t.ok("(max_unauthenticated_per_address)" in log and "dropped to make room for" in log,
         "drops to make room are logged, naming the limit")
    t.ok(not re.search(r"^FAKE", log, re.M), "no forged lines in nbgated's log")
    for reason in ("per_address", "unauthenticated", "login_timeout"):
        n = metric(env.gw, "nbgate_ssh_dropped_total", 'reason="%s"' % reason)
        t.ok(n is not None and n > 0, "nbgate_ssh_dropped_total{reason=\"%s\"} counts them (%s)"
             % (reason, n))
    t.ok(env.gw.alive(), "nbgated is still running")


def main():
    run_all("test_limits_ssh", setup, (test_baseline, test_slots, test_grace, test_counted))


if __name__ == "__main__":
    main()
