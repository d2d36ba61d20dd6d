#!/usr/bin/env python3
"""test_systemd: nbgated under systemd's contract, without systemd as PID 1.

- Type=notify: a real nbgated with NOTIFY_SOCKET set (a datagram socket this
  test binds, as systemd does) says READY=1 only once it answers HTTPS,
  RELOADING=1 then READY=1 around a SIGHUP reload (a refused one too), and
  STOPPING=1 on SIGTERM; the commands it runs do not inherit NOTIFY_SOCKET.
- The unit (etc/nbgated.service.in, with this build's paths) passes
  `systemd-analyze verify`, and `systemd-analyze security --offline=true`
  rates it; the exposure score is printed and must stay below 2.0.
"""
import os
import re
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILDDIR, SRCDIR, Gateway, run_all, wait_for  # noqa: E402


class Notify:
    """What systemd would hear: datagrams on a socket of our own."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.got = []

    def poll(self):
        try:
            while True:
                self.got.append(self.sock.recv(4096).decode())
        except (socket.timeout, BlockingIOError):
            pass
        return self.got

    def wait(self, word, after=0, timeout=20):
        return wait_for(lambda: any(word in m.split("\n")
                                    for m in self.poll()[after:]), timeout)


def test_notify(env):
    t = env.tap
    n = Notify(env.path("notify.sock"))
    gw = Gateway(env)
    gw.proc = env.procs.start(gw.name, [os.path.join(BUILDDIR, "nbgated"), "-c", gw.config],
                              env={"NOTIFY_SOCKET": n.path})
    ready = n.wait("READY=1")
    t.ok(ready, "READY=1 arrives on NOTIFY_SOCKET", env.procs.log(gw.name)[-2000:])
    if not ready:
        return
    # READY means the listeners are up: HTTPS answers at once, no retry
    st, _, body = gw.request("GET", "/hub/health")
    t.ok(st == 200 and body == b"ok\n", "right after READY=1, /hub/health answers",
         "%r %r" % (st, body))
    first = [m for m in n.got if "READY=1" in m.split("\n")][0]
    t.has(first, "STATUS=serving HTTPS on port %d, agents on port %d"
          % (gw.https_port, gw.ssh_port), "the STATUS line names both ports")
    t.ok(os.path.exists(gw.sock) and gw.ctl("status").returncode == 0,
         "the admin socket answers too")

    # a reload: RELOADING=1, then READY=1
    mark = len(n.got)
    os.kill(gw.proc.pid, signal.SIGHUP)
    t.ok(n.wait("RELOADING=1", mark), "SIGHUP: RELOADING=1")
    t.ok(n.wait("READY=1", mark), "then READY=1 once the reload is done")
    seq = [w for m in n.got[mark:] for w in m.split("\n")
           if w in ("RELOADING=1", "READY=1")]
    t.eq(seq[:2], ["RELOADING=1", "READY=1"], "in that order")

    # a refused reload still ends RELOADING (else systemctl reload hangs)
    with open(gw.config, "a") as f:
        f.write("no_such_key: 1\n")
    mark = len(n.got)
    os.kill(gw.proc.pid, signal.SIGHUP)
    t.ok(n.wait("READY=1", mark), "a refused reload: READY=1 all the same")
    t.ok(any("STATUS=reload refused" in m for m in n.poll()[mark:]),
         "with a STATUS saying it was refused", n.got[mark:])
    t.ok(gw.alive(), "nbgated keeps running with the old configuration")

    # children do not inherit NOTIFY_SOCKET: nbgated's environment lost it
    with open("/proc/%d/environ" % gw.proc.pid, "rb") as f:
        initial = f.read()
    t.ok(b"NOTIFY_SOCKET=" in initial, "(the variable was in nbgated's initial environment)")
    r = subprocess.run(["gdb", "-batch", "-p", str(gw.proc.pid), "-ex",
                        'call (char *) getenv("NOTIFY_SOCKET")'],
                       capture_output=True, text=True, timeout=120)
    t.ok(re.search(r"^\$1 = 0x0$", r.stdout, re.M) is not None,
         "getenv(\"NOTIFY_SOCKET\") in nbgated is NULL: commands it runs cannot "
         "inherit it", r.stdout[-500:] + r.stderr[-500:])

    mark = len(n.got)
    rc = gw.stop()
    t.ok(any("STOPPING=1" in m.split("\n") for m in n.poll()[mark:]),
         "SIGTERM: STOPPING=1", n.got[mark:])
    t.eq(rc, 0, "and nbgated exits 0")


def render_unit(env):
    """etc/nbgated.service.in with this build's paths (as make renders it)."""
    with open(os.path.join(SRCDIR, "etc", "nbgated.service.in")) as f:
        text = f.read()
    conf = env.path("etc")
    os.makedirs(os.path.join(conf, "nbgate"), exist_ok=True)
    with open(os.path.join(conf, "nbgate", "nbgated.yaml"), "w") as f:
        f.write("state_dir: %s\n" % env.path("state"))
    text = text.replace("@sbindir@", BUILDDIR).replace("@sysconfdir@", conf)
    unit = env.path("nbgated.service")
    with open(unit, "w") as f:
        f.write(text)
    return unit


def test_unit(env):
    t = env.tap
    unit = render_unit(env)
    with open(os.path.join(BUILDDIR, "etc", "nbgated.service")) as f:
        built = f.read()
    t.ok("Type=notify" in built and "ExecStart=/" in built and "@" not in
         re.sub(r"\$MAINPID|@system-service", "", built),
         "make renders etc/nbgated.service with absolute paths and Type=notify")
    # --man=no: the pages are not installed from a build tree (the package
    # test verifies the installed unit with its pages)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", unit], capture_output=True,
                       text=True, timeout=120)
    mine = [l for l in (r.stdout + r.stderr).splitlines() if "nbgated.service" in l]
    t.ok(r.returncode == 0 and not mine, "systemd-analyze verify: no complaint about the unit",
         r.stdout + r.stderr)
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", unit],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\S+)", r.stdout)
    t.ok(m is not None, "systemd-analyze security rates the unit", r.stdout[-1500:] + r.stderr)
    if m:
        t.diag("systemd-analyze security: exposure %s %s" % (m.group(1), m.group(2)))
        t.ok(float(m.group(1)) < 2.0, "exposure below 2.0 (%s %s)" % (m.group(1), m.group(2)),
             "\n".join(l for l in r.stdout.splitlines() if l.startswith("✗"))[:3000])
    for key in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                "ProtectHome=yes", "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service",
                "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "User=nbgate"):
        t.ok(key in built, "the unit sets %s" % key.strip())
    lim = re.search(r"^LimitNOFILE=(\d+)$", built, re.M)
    t.ok(lim is not None and int(lim.group(1)) >= 2 * 10000,
         "LimitNOFILE allows 10,000 connections with their tunnel streams (%s)"
         % (lim.group(1) if lim else None))


if __name__ == "__main__":
    run_all("test_systemd", lambda env: None, [test_notify, test_unit])
