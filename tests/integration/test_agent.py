"""test_agent.py: nbgate-agent --notebook starts and supervises a real Jupyter
Notebook (Debian's) inside the Singularity stand-in (tests/standin, bubblewrap),
waits until it answers, and only then dials a real nbgated.

Route registration: the agent writes the notebook's token (0600) to --token-out
before it starts the notebook; the test waits for that file and then runs
`nbgatectl route add NAME --key KEY.pub --token-file THAT_FILE`. The agent keeps
retrying with backoff until the route exists, so the order does not matter.

Leaving (tunnel/PROTOCOL section 8): when an agent goes on purpose it tells the
gateway why; the gateway's SSH server logs "route NAME: disconnected: the agent
left: WHY" (tunnel/sshd.c), which is what these tests read in nbgated's log.
"""
import json
import os
import re
import signal
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SRCDIR, Env, Gateway, binary, kernel_computes, route_connected,  # noqa: E402
                     ssh_keygen, wait_for)

STANDIN = os.path.join(SRCDIR, "tests", "standin")
IMAGE = "/images/scipy.sif"


class Agent:
    """nbgate-agent --notebook for one route, with its own $HOME."""

    def __init__(self, env, gw, route, extra=(), runtime="singularity"):
        self.env, self.gw, self.route = env, gw, route
        self.name = "agent-" + route.replace("/", "_")
        self.home = env.path(self.name + "-home")
        os.makedirs(self.home, exist_ok=True)
        self.key = ssh_keygen(env.path(self.name + "_key"))
        self.token_file = env.path(self.name + ".nbtoken")
        self.argv = [binary("nbgate-agent"), "--gateway", "127.0.0.1:%d" % gw.ssh_port,
                     "--route", route, "--key", self.key,
                     "--hostkey-fingerprint", gw.fingerprint, "--backoff-max", "2",
                     "--notebook", "--runtime", runtime, "--token-out", self.token_file,
                     "--start-timeout", "90"] + list(extra)

    def start(self):
        # The stand-in is first on PATH for the agent only.
        e = {"PATH": STANDIN + ":/usr/bin:/bin", "HOME": self.home,
             "NB_STANDIN_LOG": self.env.path("standin.jsonl")}
        self.proc = self.env.procs.start(self.name, self.argv, env=e)
        AGENT_PIDS.add(self.proc.pid)
        return self

    def register(self):
        if not wait_for(lambda: os.path.exists(self.token_file), 10):
            raise RuntimeError("no token file:\n" + self.log()[-2000:])
        r = self.gw.ctl("route", "add", self.route, "--key", self.key + ".pub",
                        "--token-file", self.token_file)
        if r.returncode != 0:
            raise RuntimeError("route add failed: " + r.stderr)
        return self

    def token(self):
        with open(self.token_file) as f:
            return f.read().strip()

    def connected(self, timeout=60):
        return wait_for(lambda: route_connected(self.gw, self.route), timeout, 0.2)

    def log(self):
        return self.env.procs.log(self.name)

    def base_url(self):
        return "/user/%s/" % self.route


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


def all_cmdlines():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            c = cmdline(int(d))
            if c:
                out[int(d)] = c
    return out


AGENT_PIDS = set()     # agents this test started: their notebooks are ours


def parent(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(") ", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def ours(pid):
    """Does @pid descend from an agent this test started (not another test's, nor a
    leftover of an earlier run, serving the same user name)?"""
    for _ in range(32):
        pid = parent(pid)
        if pid in AGENT_PIDS:
            return True
        if pid <= 1:
            return False
    return False


def notebook_pid(base_url):
    """The Python process serving @base_url (not bwrap, not the stand-in), among the
    notebooks of this test's agents."""
    for pid, c in all_cmdlines().items():
        if (c[0].endswith("python3") and "--NotebookApp.base_url=" + base_url in c and
                ours(pid)):
            return pid
    return None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def tcp_listeners(pid):
    """TCP sockets in LISTEN state that @pid holds open."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", t)
        if m:
            inodes.add(m.group(1))
    found = []
    for tab in ("tcp", "tcp6"):
        with open("/proc/%d/net/%s" % (pid, tab)) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:
                    found.append((tab, cols[1]))
    return found


def records(env):
    try:
        with open(env.path("standin.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def record_for(env, route):
    for r in reversed(records(env)):
        if "--NotebookApp.base_url=/user/%s/" % route in r.get("argv", []):
            return r
    return None


def left_line(env, route):
    """The reason nbgated's SSH server logged for @route's agent leaving, or None."""
    m = None
    for m in re.finditer(r"route %s: disconnected: the agent left: (.*)" % re.escape(route),
                         env.procs.log("nbgated")):
        pass
    return m.group(1) if m else None


def test_slow_start(env):
    """(8) the agent dials only after the notebook answers."""
    gw = env.gw
    a = Agent(env, gw, "dave", ["--image", IMAGE, "-v"])  # -v: "connecting to" is debug
    wrapper = os.path.join(a.home, "slow-notebook")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n# starts the notebook 3 s late\nsleep 3\nexec \"$@\"\n")
    os.chmod(wrapper, 0o755)
    a.argv += ["--notebook-cmd", wrapper + " jupyter-notebook"]
    a.start().register()
    t0 = time.time()
    early = False
    while time.time() - t0 < 2.5:
        early = early or route_connected(gw, "dave")
        time.sleep(0.1)
    env.tap.ok(not early, "slow start: the route is not connected while the notebook sleeps")
    env.tap.ok("connecting to" not in a.log() and "tunnel up" not in a.log(),
               "slow start: the agent has not dialled the gateway yet", a.log()[-1500:])
    env.dave = a


def test_slow_start_done(env):
    a = env.dave
    env.tap.ok(a.connected(), "slow start: the route connects once the notebook answers",
               a.log()[-2000:])
    log = a.log()
    i, j = log.find("notebook answers on"), log.find("connecting to")
    env.tap.ok(0 <= i < j < log.find("tunnel up"),
               "slow start: 'notebook answers', then 'connecting to', then 'tunnel up'", log[-2000:])
    st, _, _ = env.gw.request("GET", "/user/dave/api/status", token=env.gw.token("dave"))
    env.tap.eq(st, 200, "slow start: the notebook answers through the gateway")


def test_singularity(env):
    """(1) singularity runtime: proxying works and the stand-in saw the right argv."""
    gw, a = env.gw, env.alice
    env.tap.ok(a.connected(), "singularity: the route connects", a.log()[-2000:])
    tok = gw.token("alice")
    st, _, body = gw.request("GET", "/user/alice/tree", token=tok)
    env.tap.ok(st == 200 and b"Jupyter" in body, "singularity: the tree page loads over HTTPS",
               "status %d" % st)
    kid = kernel_computes(env.tap, gw, "/user/alice/", tok,
                          "singularity: the kernel computes 1+1 = 2 over its WebSocket",
                          starts="singularity: a kernel starts")
    if kid:
        gw.request("DELETE", "/user/alice/api/kernels/" + kid, token=tok)

    rec = record_for(env, "alice")
    if not env.tap.ok(rec is not None, "singularity: the stand-in recorded the call", records(env)):
        return
    sock = [x for x in rec["argv"] if x.startswith("--NotebookApp.sock=")]
    sock = sock[0].split("=", 1)[1] if sock else ""
    sockdir = os.path.dirname(sock)
    env.alice_sock = sock
    want = ["singularity", "exec", "--containall", "--home", a.home, "--pwd", a.home,
            "--bind", "/home", "--bind", sockdir,
            IMAGE, "jupyter-notebook", "--no-browser", "--config=%s/token.py" % sockdir,
            "--NotebookApp.base_url=/user/alice/",
            "--NotebookApp.sock=" + sock, "--NotebookApp.sock_mode=0600",
            "--NotebookApp.notebook_dir=" + a.home, "--NotebookApp.allow_remote_access=True"]
    if os.geteuid() == 0:
        want.append("--allow-root")
    env.tap.eq(os.path.basename(rec["argv"][0]), "singularity", "singularity: the agent ran `singularity` from PATH")
    env.tap.eq(rec["argv"][1:], want[1:], "singularity: exact argv (image, --containall, the "
               "working directory as home, binds, the token's config file, no --nv)")
    env.tap.ok(re.match(r"^/tmp/nbgate-[A-Za-z0-9]{6}$", sockdir) is not None,
               "singularity: the socket is in a private directory under $TMPDIR", sockdir)
    env.tap.ok(rec["containall"] and rec["cleanenv"] and rec["pid_ns"] and not rec["nv"] and
               rec["image"] == IMAGE, "singularity: the record says --containall (clean "
               "environment, PID namespace), no --nv, image " + IMAGE, rec)
    token = a.token()
    env.tap.ok(len(token) >= 40, "singularity: the token file holds a long random token")
    env.tap.eq(oct(os.stat(a.token_file).st_mode & 0o777), "0o600", "singularity: the token file is 0600")
    env.tap.ok(not any(token in x for x in rec["argv"]), "singularity: the token is not in argv")
    env.tap.ok(not any(token in v for v in rec["env"].values()) and
               not any("TOKEN" in n for n in rec["env_names"] + rec["child_env_names"]),
               "singularity: the token is in no environment variable (none named *TOKEN*)", rec)
    env.tap.ok(not os.path.exists(os.path.join(sockdir, "token.py")),
               "singularity: the token's config file is gone once the notebook answers")
    leaks = [pid for pid, c in all_cmdlines().items() if any(token in x for x in c)]
    env.tap.eq(leaks, [], "singularity: no process on the host has the token in its command line")
    env.tap.ok(token not in a.log(), "singularity: the token is not in the agent's log")


def test_socket(env):
    """(4) a 0600 Unix socket in a 0700 directory, and no TCP listener."""
    sock = getattr(env, "alice_sock", "")
    pid = notebook_pid("/user/alice/")
    env.tap.ok(pid is not None, "socket: found the notebook process")
    try:
        st = os.stat(sock)
        dst = os.stat(os.path.dirname(sock))
    except OSError as e:
        env.tap.ok(False, "socket: stat %r" % sock, e)
        return
    env.tap.ok(stat.S_ISSOCK(st.st_mode), "socket: %s is a Unix socket" % sock)
    env.tap.eq(oct(st.st_mode & 0o777), "0o600", "socket: mode 0600")
    env.tap.eq(oct(dst.st_mode & 0o777), "0o700", "socket: its directory is 0700")
    if pid is not None:
        env.tap.eq(tcp_listeners(pid), [], "socket: the notebook listens on no TCP port")
    env.alice_nbpid = pid


def test_gpus(env):
    """(2) --gpus adds --nv."""
    a = env.bob
    env.tap.ok(a.connected(), "gpus: the route connects", a.log()[-2000:])
    rec = record_for(env, "bob")
    env.tap.ok(rec is not None and rec["nv"] and "--nv" in rec["argv"]
               and rec["argv"].index("--nv") < rec["argv"].index(IMAGE),
               "gpus: --gpus puts --nv before the image", rec)


def test_runtime_none(env):
    """(3) runtime none runs the notebook directly; TCP with --tcp."""
    a = env.carol
    env.tap.ok(a.connected(), "none: the route connects", a.log()[-2000:])
    env.tap.eq(record_for(env, "carol"), None, "none: the stand-in was not called")
    pid = notebook_pid("/user/carol/")
    ppid = None
    if pid is not None:
        with open("/proc/%d/stat" % pid) as f:
            ppid = int(f.read().split(") ")[1].split()[1])
    env.tap.eq(ppid, a.proc.pid, "none: the notebook is the agent's own child")
    env.tap.ok(pid is not None and "--NotebookApp.ip=127.0.0.1" in cmdline(pid),
               "none: with --tcp it listens on 127.0.0.1", cmdline(pid) if pid else None)
    lst = tcp_listeners(pid) if pid else []
    env.tap.ok(len(lst) == 1 and lst[0][1].startswith("0100007F:"),
               "none: --tcp: exactly one TCP listener, on 127.0.0.1", lst)
    st, _, body = env.gw.request("GET", "/user/carol/api/status", token=env.gw.token("carol"))
    env.tap.eq(st, 200, "none: the notebook answers through the gateway")


def test_gateway_restart(env):
    """(7) the gateway restarts: agents reconnect, notebooks untouched."""
    gw = env.gw
    before = {r: notebook_pid("/user/%s/" % r) for r in ("alice", "carol")}
    gw.stop()
    time.sleep(1)
    gw.start()
    for r in ("alice", "carol"):
        env.tap.ok(wait_for(lambda: route_connected(gw, r), 30, 0.2),
                   "restart: %s's agent reconnects" % r)
        env.tap.eq(notebook_pid("/user/%s/" % r), before[r], "restart: %s's notebook has the same PID" % r)
    st, _, _ = gw.request("GET", "/user/alice/api/status", token=gw.token("alice"))
    env.tap.eq(st, 200, "restart: traffic flows again")


def test_notebook_dies(env):
    """(5) the notebook exits: the agent exits non-zero and says why."""
    a = env.bob
    pid = notebook_pid("/user/bob/")
    if not env.tap.ok(pid is not None, "dies: found bob's notebook"):
        return
    # Only a connected agent can say why it leaves (after the restart above).
    env.tap.ok(a.connected(30), "dies: bob's agent is connected", a.log()[-1500:])
    os.kill(pid, signal.SIGTERM)
    try:
        rc = a.proc.wait(20)
    except Exception:
        rc = None
    log = a.log()
    env.tap.ok(rc not in (None, 0), "dies: the agent exits non-zero (%r)" % rc, log[-2000:])
    m = re.search(r"notebook exited with status (\d+): (.*)", log)
    env.tap.ok(m is not None, "dies: the agent says 'notebook exited with status N: ...'", log[-2000:])
    env.tap.has(log, "received signal 15, stopping", "dies: the notebook's own last output is logged")
    if m:
        tail = re.findall(r"notebook: (.*)", log[:m.start()])
        env.tap.ok(tail and tail[-1] == m.group(2) and "NotebookApp]" in m.group(2),
                   "dies: the exit line carries the notebook's last output line", m.group(0))
        # sshd.c logs the reason's first line, cut to 256 bytes.
        env.tap.eq(wait_for(lambda: left_line(env, "bob"), 5), m.group(0)[:256],
                   "dies: the agent told the gateway why: the same status and last line")
    env.procs.procs.pop(a.name, None)


def test_sigterm(env):
    """(6) SIGTERM (walltime, scancel): notebook gone within 10 s, exit 0."""
    a = env.alice
    pid = notebook_pid("/user/alice/")
    # Only a connected agent can say why it leaves (after the restart above).
    env.tap.ok(env.frank.connected(30), "sigterm: frank's agent is connected", env.frank.log()[-1500:])
    env.frank_t0 = time.time()
    os.kill(env.frank.proc.pid, signal.SIGTERM)
    t0 = time.time()
    os.kill(a.proc.pid, signal.SIGTERM)
    gone = wait_for(lambda: not alive(pid), 10, 0.1) if pid else None
    env.tap.ok(gone, "sigterm: the notebook is gone within 10 s (%.1f s)" % (time.time() - t0))
    try:
        rc = a.proc.wait(15)
    except Exception:
        rc = None
    env.tap.eq(rc, 0, "sigterm: the agent exits 0")
    env.tap.has(a.log(), "exiting: SIGTERM", "sigterm: the agent logs why it stopped")
    sock = getattr(env, "alice_sock", "")
    env.tap.ok(sock and not os.path.exists(os.path.dirname(sock)),
               "sigterm: the socket directory is removed")
    env.tap.ok(wait_for(lambda: not route_connected(env.gw, "alice"), 10), "sigterm: the route is down")
    said = left_line(env, "alice") or ""
    env.tap.ok(re.match(r"^stopped by SIGTERM \(walltime, scancel or stop\); \d+ kernels? "
                        r"stopped cleanly$", said),
               "sigterm: the agent told the gateway why it left, and of its kernels", said)
    # frank's notebook ignores SIGTERM for 10 s; its agent said goodbye at once.
    said = wait_for(lambda: left_line(env, "frank"), 5)
    env.tap.ok(env.frank.proc.poll() is None and (said or "").startswith(
               "stopped by SIGTERM (walltime, scancel or stop); "),
               "sigterm: the agent leaves the gateway first, before its notebook has stopped", said)
    env.procs.procs.pop(a.name, None)


def test_sigkill_escalation(env):
    """(6b) a notebook group that ignores SIGTERM is killed after 10 s; exit 0."""
    a = env.frank
    t0 = env.frank_t0
    try:
        rc = a.proc.wait(max(1, 20 - (time.time() - t0)))
    except Exception:
        rc = None
    took = time.time() - t0
    env.tap.eq(rc, 0, "escalation: the agent exits 0")
    env.tap.ok(9 <= took <= 14, "escalation: after the 10 s grace (%.1f s)" % took)
    env.tap.has(a.log(), "sending SIGKILL", "escalation: the agent says it sent SIGKILL")
    env.tap.eq([p for p, c in all_cmdlines().items()
                if c[:2] == ["sleep", "61"] or any(x.endswith("/stubborn") for x in c)], [],
               "escalation: nothing of the notebook's process group is left")
    env.procs.procs.pop(a.name, None)


def test_notebook_killed(env):
    """(5b) kill -9 of a runtime-none notebook is reported as a signal."""
    a = env.carol
    pid = notebook_pid("/user/carol/")
    if not env.tap.ok(pid is not None, "kill -9: found carol's notebook"):
        return
    os.kill(pid, signal.SIGKILL)
    try:
        rc = a.proc.wait(20)
    except Exception:
        rc = None
    env.tap.eq(rc, 1, "kill -9: the agent exits 1")
    env.tap.has(a.log(), "notebook was killed by signal 9: ", "kill -9: the agent says so")
    env.tap.has(wait_for(lambda: left_line(env, "carol"), 5), "notebook was killed by signal 9: ",
                "kill -9: and tells the gateway")
    env.procs.procs.pop(a.name, None)


def test_bad_options(env):
    a = Agent(env, env.gw, "erin", ["--base-url", "/user/mallory/"], runtime="none")
    p = env.procs.start("agent-bad", a.argv)
    rc = p.wait(10)
    env.tap.ok(rc == 2 and "does not match route" in env.procs.log("agent-bad"),
               "options: a --base-url for another user is refused", env.procs.log("agent-bad"))
    for at, why in (("12x", "wants a time in seconds since the epoch"),
                    (str(int(time.time()) - 3600), "is in the past")):
        p = env.procs.start("agent-bad-at", a.argv + ["--walltime-signal-at", at])
        rc = p.wait(10)
        log = env.procs.log("agent-bad-at")
        env.tap.ok(rc == 2 and "--walltime-signal-at " + why in log,
                   "options: --walltime-signal-at %s is refused (%s)" % (at, why), log)
        env.procs.procs.pop("agent-bad-at", None)


def test_start_failures(env):
    """A notebook that never answers, or cannot even be run: exit 1 with the reason."""
    silent = Agent(env, env.gw, "gina", ["--start-timeout", "2"], runtime="none")
    script = os.path.join(silent.home, "silent")
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho 'pretending to start'\nexec sleep 30\n")
    os.chmod(script, 0o755)
    silent.argv = [x if x != "90" else "2" for x in silent.argv] + ["--notebook-cmd", script]
    missing = Agent(env, env.gw, "hank", ["--notebook-cmd", "/nonexistent/jupyter"], runtime="none")
    silent.start()
    missing.start()
    rc = missing.proc.wait(10)
    env.tap.ok(rc == 1 and "notebook exited with status 127: nbgate-agent: cannot run "
               "/nonexistent/jupyter: No such file or directory" in missing.log(),
               "start: a command that cannot run is reported (status 127)", missing.log())
    t0 = time.time()
    rc = silent.proc.wait(20)
    env.tap.ok(rc == 1 and "notebook did not answer within 2 s: pretending to start" in silent.log(),
               "start: a notebook that never answers is stopped after --start-timeout",
               silent.log())
    env.tap.ok(time.time() - t0 < 6, "start: and promptly (%.1f s)" % (time.time() - t0))
    env.tap.ok("connecting to" not in silent.log() + missing.log(), "start: neither dialled the gateway")
    for a in (silent, missing):
        env.procs.procs.pop(a.name, None)


def test_walltime_timer(env):
    """(9) --walltime-signal-at (PBS's early end): at that time the agent does what SIGUSR1
    does: stops the kernels through the notebook server and leaves saying "walltime:"."""
    at = int(time.time()) + 12  # time for the notebook to come up and a kernel to start
    a = Agent(env, env.gw, "ivan", ["--walltime-signal-at", str(at)], runtime="none")
    a.start().register()
    if not env.tap.ok(a.connected(15), "walltime timer: the agent is connected", a.log()[-1500:]):
        return
    pid = notebook_pid("/user/ivan/")
    st, _, out = env.gw.request("POST", "/user/ivan/api/kernels", token=env.gw.token("ivan"),
                                body=b"{}", headers={"Content-Type": "application/json"})
    env.tap.ok(st == 201 and time.time() < at - 1, "walltime timer: a kernel starts before the "
               "timer (%.1f s left)" % (at - time.time()), (st, out[:200]))
    try:
        rc = a.proc.wait(max(1, at - time.time()) + 25)
    except Exception:
        rc = None
    took = time.time() - at
    env.tap.eq(rc, 0, "walltime timer: the agent exits 0")
    env.tap.ok(-1 <= took <= 20, "walltime timer: not before its time (%.1f s after it)" % took)
    said = wait_for(lambda: left_line(env, "ivan"), 5) or ""
    env.tap.eq(said, "walltime: the job's time limit is near (--walltime-signal-at, the agent's "
               "own timer); 1 kernel stopped cleanly, the notebook server stopped",
               "walltime timer: the agent told the gateway it left for the walltime, its kernel "
               "stopped")
    env.tap.ok(pid is not None and not alive(pid), "walltime timer: the notebook is gone")
    env.procs.procs.pop(a.name, None)


def main():
    env = Env("test_agent")
    try:
        env.gw = Gateway(env).start()
    except Exception as e:
        env.tap.ok(False, "nbgated starts", e)
        env.finish()
    env.run(test_bad_options)
    env.run(test_start_failures)
    env.run(test_slow_start)
    env.alice = Agent(env, env.gw, "alice", ["--image", IMAGE, "--bind", "/home",
                                             "--base-url", "/user/alice/"]).start()
    env.bob = Agent(env, env.gw, "bob", ["--image", IMAGE, "--bind", "/home", "--gpus"]).start()
    env.carol = Agent(env, env.gw, "carol", ["--tcp"], runtime="none").start()
    env.frank = Agent(env, env.gw, "frank", runtime="none")
    stubborn = os.path.join(env.frank.home, "stubborn")
    with open(stubborn, "w") as f:
        f.write("#!/bin/sh\n# ignores SIGTERM and outlives the notebook\n"
                "trap '' TERM\n\"$@\"\nsleep 61\n")
    os.chmod(stubborn, 0o755)
    env.frank.argv += ["--notebook-cmd", stubborn + " jupyter-notebook"]
    env.frank.start()
    for a in (env.alice, env.bob, env.carol, env.frank):
        env.run(lambda e, ag=a: ag.register())
    for t in (test_slow_start_done, test_singularity, test_socket, test_gpus, test_runtime_none,
              test_gateway_restart, test_notebook_dies, test_sigterm, test_notebook_killed,
              test_sigkill_escalation, test_walltime_timer):
        env.run(t)
    env.tap.ok(env.gw.alive(), "nbgated is still running")
    env.finish()


if __name__ == "__main__":
    main()
