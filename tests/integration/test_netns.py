"""test_netns.py: a compute node with no inbound port, and a link cut for 30 s.

The agent runs in a network namespace of its own, joined to the gateway host
by a veth pair; an nftables firewall inside lets nothing in that the
namespace did not start, and lets out only connections to the gateway's SSH
port.  The agent enrolls, starts a real Jupyter notebook on a Unix socket
(so nothing listens on the namespace's network at all), and the notebook is
reached through nbgated's HTTPS port.  Then the namespace's link goes down
for 30 s: nbgated notices (ssh keepalive 5 s, so TCP_USER_TIMEOUT 20 s),
answers 503 while the route is down, and once the link is back the same
agent and the same notebook (same kernel) serve again.  Last, the agent's
TCP connection is destroyed (ss -K) and the tunnel comes back at once.

Needs root, iproute2 (ip netns, ss -K: CONFIG_INET_DIAG_DESTROY) and nft.
Everything is named after this process's PID and removed at the end.
"""
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Gateway, binary, free_port, route_connected, wait_for,  # noqa: E402
                     ws_execute)

ROUTE = "nina"
CUT = 30            # seconds the link stays down (the issue says 30 s)
KEEPALIVE = 5       # nbgated's ssh keepalive; it gives up on a silent agent after 4x that
RECOVER = 60        # bound on the tunnel coming back after the link does


def sh(*argv, timeout=20):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except (OSError, TypeError):
        return False


def notebook_pid(base_url):
    """The Python process serving @base_url."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"python3") and ("--NotebookApp.base_url=" + base_url).encode() in argv:
            return int(d)
    return None


def netns_of(pid):
    try:
        return os.stat("/proc/%d/ns/net" % pid).st_ino
    except (OSError, TypeError):
        return None


class Netns:
    """A namespace NS joined by veth VG (root side, GW_IP) / VN (inside, NS_IP)."""

    def __init__(self, pid):
        self.ns = "nbt-%d" % pid
        self.vg, self.vn = "nbt%dg" % pid, "nbt%dn" % pid
        self.net = self.pick_subnet(pid)
        hosts = list(self.net.hosts())
        self.gw_ip, self.ns_ip = str(hosts[0]), str(hosts[1])

    @staticmethod
    def pick_subnet(pid):
        """A /30 in 10.213.0.0/16 that overlaps no address or route of this host."""
        used = []
        for line in sh("ip", "-4", "-o", "addr", "show").stdout.splitlines():
            m = re.search(r"inet (\S+)", line)
            if m:
                used.append(ipaddress.ip_network(m.group(1), strict=False))
        for line in sh("ip", "-4", "route", "show", "table", "all").stdout.splitlines():
            tok = line.split()
            if tok and tok[0] not in ("default", "broadcast", "local", "unreachable"):
                try:
                    used.append(ipaddress.ip_network(tok[0], strict=False))
                except ValueError:
                    pass
        base = int(ipaddress.ip_address("10.213.0.0"))
        for i in range(16384):
            net = ipaddress.ip_network((base + ((pid + i) % 16384) * 4, 30))
            if not any(net.overlaps(u) for u in used):
                return net
        raise RuntimeError("no free /30 in 10.213.0.0/16")

    def ip(self, *args):
        r = sh("ip", *args)
        if r.returncode != 0:
            raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def exec_argv(self, argv):
        return ["ip", "netns", "exec", self.ns] + list(argv)

    def run(self, *argv, timeout=20):
        return sh(*self.exec_argv(argv), timeout=timeout)

    def create(self):
        self.ip("netns", "add", self.ns)
        self.ip("link", "add", self.vg, "type", "veth", "peer", "name", self.vn)
        self.ip("link", "set", self.vn, "netns", self.ns)
        self.ip("addr", "add", "%s/30" % self.gw_ip, "dev", self.vg)
        self.ip("link", "set", self.vg, "up")
        self.ip("-n", self.ns, "link", "set", "lo", "up")
        self.ip("-n", self.ns, "addr", "add", "%s/30" % self.ns_ip, "dev", self.vn)
        self.link(True)

    def link(self, up):
        self.ip("-n", self.ns, "link", "set", self.vn, "up" if up else "down")
        if up:  # a link going down takes its routes with it
            self.ip("-n", self.ns, "route", "replace", "default", "via", self.gw_ip)

    def firewall(self, ssh_port):
        rules = (
            "table inet nbgate_test {\n"
            " chain input {\n"
            "  type filter hook input priority 0; policy drop;\n"
            "  iif lo accept\n"
            "  ct state established,related accept\n"
            " }\n"
            " chain output {\n"
            "  type filter hook output priority 0; policy drop;\n"
            "  oif lo accept\n"
            "  ct state established,related accept\n"
            "  oif %s ip daddr %s tcp dport %d ct state new accept\n"
            " }\n"
            "}\n" % (self.vn, self.gw_ip, ssh_port))
        r = subprocess.run(self.exec_argv(["nft", "-f", "-"]), input=rules, capture_output=True,
                           text=True, timeout=20)
        if r.returncode != 0:
            raise RuntimeError("nft -f: " + r.stderr)

    def inode(self):
        try:
            return os.stat("/run/netns/" + self.ns).st_ino
        except OSError:
            return None

    def remove(self):
        """Best effort, each step on its own: firewall, namespace, veth."""
        if self.inode() is not None:
            self.run("nft", "delete", "table", "inet", "nbgate_test")
            sh("ip", "netns", "del", self.ns)
        sh("ip", "link", "del", self.vg)

    def gone(self):
        return (self.ns not in sh("ip", "netns", "list").stdout.split()
                and sh("ip", "link", "show", self.vg).returncode != 0)


def remove_stale():
    """Namespaces and veths left by runs of this test that died (their PID is gone)."""
    for line in sh("ip", "netns", "list").stdout.splitlines():
        m = re.match(r"^nbt-(\d+)\b", line)
        if m and not os.path.exists("/proc/" + m.group(1)):
            sh("ip", "netns", "del", "nbt-" + m.group(1))
            sh("ip", "link", "del", "nbt%sg" % m.group(1))


def can_connect(host, port, timeout=3):
    try:
        socket.create_connection((host, port), timeout).close()
        return True
    except OSError:
        return False


PROBE = ("import socket, sys\n"
         "try:\n"
         "    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)\n"
         "    s.settimeout(3)\n"
         "    print('connected', s.recv(64))\n"
         "except OSError as e:\n"
         "    print('failed', e)\n"
         "    sys.exit(1)\n")


def ns_can_connect(net, host, port):
    """Connects from inside the namespace; (ok, what it printed)."""
    r = net.run("/usr/bin/python3", "-c", PROBE, host, str(port))
    return r.returncode == 0, (r.stdout + r.stderr).strip()


def tcp_socks(net, gw):
    """The namespace's TCP connections to the gateway's SSH port: local ports."""
    r = net.run("ss", "-Htn", "state", "established", "dst", "%s:%d" % (net.gw_ip, gw.ssh_port))
    return sorted(line.split()[-2] for line in r.stdout.splitlines() if line.strip())


# A listener that greets and hangs up.  Not http.server: it looks up its own
# address's name before it listens, and the namespace has no DNS.
LISTENER = ("import socket, sys\n"
            "s = socket.socket()\n"
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "s.bind((sys.argv[1], int(sys.argv[2])))\n"
            "s.listen(8)\n"
            "while True:\n"
            "    c, _ = s.accept()\n"
            "    c.sendall(b'hello\\n')\n"
            "    c.close()\n")


def listener(env, name, ip, port, net=None):
    argv = ["/usr/bin/python3", "-c", LISTENER, ip, str(port)]
    env.procs.start(name, net.exec_argv(argv) if net else argv)


def routes(gw):
    return dict((r["name"], r) for r in json.loads(gw.ctl("--json", "route", "list").stdout)["routes"])


def setup(env):
    """The gateway on the root side of the veth, its SSH port the only way out."""
    net = env.net
    net.create()
    env.tap.diag("namespace %s: %s (%s) -- %s (%s, gateway side)"
                 % (net.ns, net.vn, net.ns_ip, net.vg, net.gw_ip))
    gw = env.gw = Gateway(env, extra="ssh:\n  keepalive: %ds\n" % KEEPALIVE)
    with open(gw.config) as f:
        conf = f.read()
    with open(gw.config, "w") as f:
        f.write(conf.replace("ssh: 127.0.0.1:", "ssh: %s:" % net.gw_ip))
    gw.start()
    env.tap.ok(not can_connect("127.0.0.1", gw.ssh_port, 1) and can_connect(net.gw_ip, gw.ssh_port),
               "nbgated's SSH port listens on the veth address only")


def test_firewall(env):
    """Before the firewall both probes connect; after it, neither does."""
    net, gw = env.net, env.gw
    inside, outside = free_port(), free_port()
    listener(env, "probe-inside", net.ns_ip, inside, net)
    listener(env, "probe-outside", net.gw_ip, outside)
    env.tap.ok(wait_for(lambda: can_connect(net.ns_ip, inside, 1), 10),
               "without the firewall: the root namespace reaches a port listening inside")
    wait_for(lambda: can_connect(net.gw_ip, outside, 1), 10)
    ok, out = ns_can_connect(net, net.gw_ip, outside)
    env.tap.ok(ok and "hello" in out,
               "without the firewall: the namespace reaches another port on the gateway host", out)

    net.firewall(gw.ssh_port)
    env.tap.has(net.run("nft", "list", "ruleset").stdout, "policy drop", "the firewall is in place")
    t0 = time.time()
    env.tap.ok(not can_connect(net.ns_ip, inside, 3),
               "firewall: a connection into the namespace fails (%.1f s)" % (time.time() - t0))
    ok, out = ns_can_connect(net, net.gw_ip, outside)
    env.tap.ok(not ok, "firewall: the namespace cannot connect to another port on the gateway host", out)
    ok, out = ns_can_connect(net, net.gw_ip, gw.ssh_port)
    env.tap.ok(ok and "SSH-2.0" in out, "firewall: the gateway's SSH port is reached (%s)" % out, out)
    for name in ("probe-inside", "probe-outside"):
        env.procs.stop(name)


def test_agent(env):
    """The agent enrolls from inside; nothing listens on the namespace's network."""
    net, gw = env.net, env.gw
    secret = env.path("nina.enroll")
    r = gw.ctl("route", "add", ROUTE, "--enroll", "--enroll-out", secret)
    if not env.tap.eq(r.returncode, 0, "route add --enroll"):
        env.tap.diag(r.stderr)
        return
    home = env.path("agent-home")
    os.makedirs(home, exist_ok=True)
    argv = [binary("nbgate-agent"), "--gateway", "%s:%d" % (net.gw_ip, gw.ssh_port),
            "--route", ROUTE, "--hostkey-fingerprint", gw.fingerprint, "--backoff-max", "2",
            "--enroll-file", secret, "--notebook", "--runtime", "none",
            "--start-timeout", "90", "--workdir", home]
    e = {"HOME": home, "PATH": "/usr/bin:/bin", "JUPYTER_RUNTIME_DIR": os.path.join(home, ".rt"),
         "JUPYTER_CONFIG_DIR": os.path.join(home, ".jupyter"),
         "JUPYTER_DATA_DIR": os.path.join(home, ".data"), "IPYTHONDIR": os.path.join(home, ".ipython")}
    env.agent = env.procs.start("agent", net.exec_argv(argv), env=e)
    t0 = time.time()
    env.tap.ok(wait_for(lambda: route_connected(gw, ROUTE), 90, 0.2),
               "the agent in the namespace enrolls and its tunnel comes up (%.1f s)" % (time.time() - t0),
               env.procs.log("agent")[-2000:])
    env.nbpid = notebook_pid("/user/%s/" % ROUTE)
    env.tap.ok(env.nbpid is not None, "the notebook is running")
    env.tap.ok(net.inode() is not None and netns_of(env.agent.pid) == net.inode()
               and netns_of(env.nbpid) == net.inode(),
               "the agent and its notebook run inside the namespace",
               "netns %r, agent %r, notebook %r" % (net.inode(), netns_of(env.agent.pid),
                                                    netns_of(env.nbpid)))
    r = net.run("ss", "-Hltun")
    env.tap.ok(r.returncode == 0 and r.stdout.strip() == "",
               "nothing listens on the namespace's network (ss -ltun is empty)", r.stdout + r.stderr)
    r = net.run("ss", "-Hxl")
    env.tap.ok(r.returncode == 0 and "/nbgate-" in r.stdout,
               "the notebook listens on a Unix socket", r.stdout + r.stderr)
    env.tap.eq(len(tcp_socks(net, gw)), 1, "the namespace holds one connection: the agent's, to the gateway")


def test_reach(env):
    """Through nbgated's HTTPS port: status, a kernel, 1+1."""
    gw = env.gw
    env.tok = gw.token(ROUTE)
    st, _, body = gw.request("GET", "/user/%s/api/status" % ROUTE, token=env.tok)
    env.tap.ok(st == 200 and b"kernels" in body, "GET /user/%s/api/status: 200" % ROUTE, "status %d" % st)
    st, _, body = gw.request("POST", "/user/%s/api/kernels" % ROUTE, token=env.tok, body=b"{}",
                             headers={"Content-Type": "application/json"})
    if not env.tap.eq(st, 201, "a kernel starts"):
        return
    env.kid = json.loads(body)["id"]
    env.tap.eq(ws_execute(gw, "/user/%s/" % ROUTE, env.kid, "1+1", token=env.tok, timeout=60), "2",
               "the kernel computes 1+1 = 2 over its WebSocket")


def same_session(env, what):
    """The same kernel of the same notebook answers through the gateway."""
    gw = env.gw
    st, _, _ = gw.request("GET", "/user/%s/api/kernels/%s" % (ROUTE, env.kid), token=env.tok)
    env.tap.eq(st, 200, "%s: the same kernel %s is still there" % (what, env.kid))
    env.tap.eq(ws_execute(gw, "/user/%s/" % ROUTE, env.kid, "1+1", token=env.tok), "2",
               "%s: and computes 1+1 = 2" % what)
    env.tap.ok(alive(env.agent.pid) and notebook_pid("/user/%s/" % ROUTE) == env.nbpid,
               "%s: same agent, same notebook process" % what)


def timed_request(gw, tok, box):
    t0 = time.time()
    try:
        st, _, body = gw.request("GET", "/user/%s/api/status" % ROUTE, token=tok, timeout=CUT + 10)
    except Exception as e:
        st, body = repr(e), b""
    box.append((st, time.time() - t0, body))


def during_cut(env, t_down):
    """While the link is down: 503, and every process keeps running."""
    gw = env.gw
    # A request sent as the link goes: the tunnel looks up, so it waits for the stream.
    box = []
    th = threading.Thread(target=timed_request, args=(gw, env.tok, box), daemon=True)
    th.start()
    gone = wait_for(lambda: not route_connected(gw, ROUTE), CUT - 2, 0.2)
    env.tap.ok(gone, "cut: nbgated notices the dead tunnel while the link is down (%.1f s)"
               % (time.time() - t_down))
    th.join(max(0.0, CUT - 1 - (time.time() - t_down)))
    st, took, body = box[0] if box else ("still waiting", time.time() - t_down, b"")
    env.tap.ok(st in (502, 503, 504) and took < CUT,
               "cut: a request sent as the link went down gets %s after %.1f s" % (st, took))
    m = re.search(rb"<p>(.*?)</p>", body, re.S)
    env.tap.diag("its page says: %s" % (m.group(1).decode(errors="replace") if m else body[:200]))
    t0 = time.time()
    st, _, body = gw.request("GET", "/user/%s/api/status" % ROUTE, token=env.tok, timeout=10)
    env.tap.ok(st == 503 and time.time() - t0 < 5 and b"not connected" in body,
               "cut: a new request gets 503 at once (%.2f s)" % (time.time() - t0), body[:300])
    env.tap.ok(gw.alive() and alive(env.agent.pid) and alive(env.nbpid),
               "cut: nbgated, the agent and the notebook keep running")


def test_link_cut(env):
    """The link goes down for 30 s; the session survives and traffic resumes."""
    net, gw = env.net, env.gw
    before = tcp_socks(net, gw)
    net.link(False)
    t_down = time.time()
    try:
        during_cut(env, t_down)
        time.sleep(max(0.0, CUT - (time.time() - t_down)))
    finally:  # the link comes back whatever happened
        running = gw.alive() and alive(env.agent.pid) and alive(env.nbpid)
        net.link(True)
    t_up = time.time()
    env.tap.ok(running, "cut: after %d s all three are still running" % CUT)
    env.tap.diag("link down for %.1f s" % (t_up - t_down))
    back = wait_for(lambda: route_connected(gw, ROUTE), RECOVER, 0.2)
    took = time.time() - t_up
    env.tap.ok(back, "cut: the tunnel is back within %d s of the link (%.1f s)" % (RECOVER, took),
               env.procs.log("agent")[-2000:])
    env.tap.diag("recovery after the link came back: %.1f s" % took)
    rt = routes(gw).get(ROUTE, {})
    env.tap.ok(rt.get("connected") is True, "cut: nbgatectl route list shows %s connected" % ROUTE, rt)
    after = tcp_socks(net, gw)
    env.tap.ok(len(after) == 1 and after != before,
               "cut: the agent dialled a new connection", "before %r, after %r" % (before, after))
    same_session(env, "cut")


def test_tcp_kill(env):
    """ss -K destroys the agent's connection: the tunnel is back at once."""
    net, gw = env.net, env.gw
    before = tcp_socks(net, gw)
    down = "route %s: tunnel down" % ROUTE
    downs = env.procs.log("nbgated").count(down)
    t0 = time.time()
    r = net.run("ss", "-K", "dst", net.gw_ip, "dport", "=", str(gw.ssh_port))
    env.tap.ok(r.returncode == 0 and len(before) == 1 and before[0] in r.stdout,
               "kill: ss -K destroyed the agent's connection %s" % before, r.stdout + r.stderr)
    back = wait_for(lambda: route_connected(gw, ROUTE) and len(tcp_socks(net, gw)) == 1
                    and tcp_socks(net, gw) != before, 20, 0.1)
    took = time.time() - t0
    env.tap.ok(back and took < 10, "kill: the agent is connected again on a new connection (%.1f s)" % took,
               "before %r, now %r" % (before, tcp_socks(net, gw)))
    env.tap.diag("recovery after the TCP kill: %.1f s" % took)
    env.tap.ok(env.procs.log("nbgated").count(down) > downs, "kill: nbgated saw the old tunnel go down")
    env.tap.has(env.procs.log("agent"), "tunnel down: connection lost: Socket error: Software caused "
                "connection abort", "kill: the agent saw its connection destroyed")
    st, _, _ = gw.request("GET", "/user/%s/api/status" % ROUTE, token=env.tok)
    env.tap.eq(st, 200, "kill: traffic flows")
    same_session(env, "kill")


def main():
    env = Env("test_netns")
    # make's timeout, or ^C: still remove the namespace and the veth.
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))
    net = None
    try:
        for prog in ("ip", "ss", "nft"):
            env.tap.ok(shutil.which(prog, path="/usr/sbin:/usr/bin:/sbin:/bin") is not None,
                       "%s is installed (scripts/deps.sh test)" % prog)
        env.tap.ok(os.geteuid() == 0, "runs as root (network namespaces)")
        if env.tap.failed == 0:
            remove_stale()
            try:
                net = env.net = Netns(os.getpid())
            except Exception as e:
                env.tap.ok(False, "a free /30 for the veth pair", e)
        if env.tap.failed == 0:
            env.run(setup)
        if env.tap.failed == 0:
            env.run(test_firewall)
            env.run(test_agent)
        if env.tap.failed == 0:
            env.run(test_reach)
        if env.tap.failed == 0:
            for t in (test_link_cut, test_tcp_kill):
                env.run(t)
        if getattr(env, "gw", None) is not None:
            env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        env.procs.stop_all()
        if net is not None:
            net.remove()
    if net is not None:
        env.tap.ok(net.gone(), "the namespace %s and the veth %s are removed" % (net.ns, net.vg))
    env.finish()


if __name__ == "__main__":
    main()
