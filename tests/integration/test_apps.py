"""test_apps.py: apps beside the notebook (apps: in nbgated.yaml), against real
SLURM (the World of test_session.py) in one job: a remote desktop (TigerVNC's
Xvnc on a 0600 Unix socket, twm, xterm; the agent serves noVNC and bridges its
WebSocket to Xvnc) started by the agent inside the container stand-in, opened from the home page in Debian's
Chromium: the noVNC canvas draws, typed keys run a command in the xterm (its
output on the screenshot, and in a file it wrote), another user gets 403 at the
page and the WebSocket, no process of the job listens on TCP (from
/proc/PID/net/tcp* against each process's socket inodes), and after the stop
no process of the desktop is left. The screenshots stay in the artifacts.
And a web app (type: web): Debian's websocketd, which can only listen on TCP,
on the loopback port the agent picks (listen: loopback) in a network namespace
of its own, through the proxy: its static page, a redirect that lands right, and a WebSocket echo; the
node's own loopback has nothing on that port and refuses a connect.
"""
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRCDIR, browser_walk, login_path, wait_for  # noqa: E402
from test_pages import get, login, post, xsrf  # noqa: E402
from test_session import session_cleanup, session_world  # noqa: E402

USER, SERVER, OTHER = "dora", "desktop", "bob"
WEBUSER = "wes"
ROUTE = "%s/%s" % (USER, SERVER)
GEOMETRY = "1024x768"
COMMAND = "echo nbgate-$((6*7)) | tee desk-mark"
CLIP = "echo clip-$((2*21)) > clip-mark"


def edit(env):
    """The World's config with apps: a desktop (in the container stand-in) on hpc."""
    env.desktop = os.path.join(env.w.dir, "nbgate-desktop")
    shutil.copy(os.path.join(SRCDIR, "agent", "nbgate-desktop"), env.desktop)
    os.chmod(env.desktop, 0o755)

    env.webdir = os.path.join(env.w.dir, "web")
    os.makedirs(env.webdir)
    with open(os.path.join(env.webdir, "index.html"), "w") as f:
        f.write("<p>nbgate web app</p>\n")
    os.chmod(env.webdir, 0o755)
    env.cgidir = os.path.join(env.w.dir, "cgi")
    os.makedirs(env.cgidir)
    with open(os.path.join(env.cgidir, "go"), "w") as f:     # a redirect to its own /
        f.write("#!/bin/sh\nprintf 'Status: 302 Found\\r\\nLocation: /?from=go\\r\\n\\r\\n'\n")
    os.chmod(os.path.join(env.cgidir, "go"), 0o755)
    os.chmod(env.cgidir, 0o755)

    def fn(cfg):
        cfg = cfg.replace("sessions:\n", "sessions:\n  activity_interval: 5s\n", 1)
        return cfg + ("apps:\n  desktop:\n    type: desktop\n    description: Remote desktop\n"
                      "    command: [%s]\n    auth: none\n    strip_prefix: true\n"
                      "    clusters: [hpc]\n    containers: [scipy]\n"
                      "  echo:\n    type: web\n    description: websocketd echo\n"
                      "    command: [websocketd, --address=127.0.0.1, \"--port={port}\", "
                      "\"--staticdir=%s\", \"--cgidir=%s\", cat]\n    listen: loopback\n"
                      "    auth: none\n    strip_prefix: true\n    containers: [base]\n"
                      % (env.desktop, env.webdir, env.cgidir))
    return fn


def job_pids(job):
    """PIDs of every process of @job's batch step (slurmstepd's descendants)."""
    kids, roots = {}, []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
        if cmd.startswith("slurmstepd: [%s.batch]" % job):
            roots.append(int(d))
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return [p for p in out if p not in roots]


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None


def tcp_listeners(pid):
    """The TCP sockets @pid holds that listen (state 0A), from its own
    /proc/PID/net/tcp and tcp6 matched against the socket inodes of its fds;
    and how many TCP sockets it holds at all."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return None, 0
    listen, total = [], 0
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            c = row.split()
            if len(c) > 9 and c[9] in inodes:
                total += 1
                if c[3] == "0A":
                    listen.append((table, c[1]))
    return listen, total


def test_refused_app(env):
    t = env.tap
    st, j = env.api.call("POST", "/users/%s/servers/%s" % (USER, SERVER),
                         {"app": "vscode", "container": "scipy"})
    t.ok(st == 400 and (j or {}).get("field") == "app" and "choose jupyter, desktop" in
         (j or {}).get("message", ""), "an unknown app: 400 naming app and the allowed names",
         (st, j))
    st, j = env.api.call("POST", "/users/%s/servers/%s" % (USER, SERVER),
                         {"app": "desktop", "container": "scipy", "desktop_geometry": "9x9;id"})
    t.ok(st == 400 and (j or {}).get("field") == "desktop_geometry",
         "a bad geometry: 400 naming desktop_geometry", (st, j))
    st, j = env.api.call("POST", "/users/%s/servers/%s" % (USER, SERVER), {"app": "desktop"})
    t.ok(st == 400 and (j or {}).get("field") == "app" and "container base" in
         (j or {}).get("message", ""), "the desktop is not offered in container base", (st, j))


def test_form(env):
    """The spawn form lists the apps; a refused app comes back next to its field."""
    t = env.tap
    cookie = login(env, OTHER)
    st, _, page = get(env, "/hub/spawn", cookie)
    t.ok(st == 200 and 'id="f-app"' in page and 'value="jupyter"' in page and
         'value="desktop"' in page and 'value="echo"' in page and 'name="desktop_geometry"' in page,
         "the spawn form lists jupyter, desktop and echo, and the desktop's size", page[-3000:])
    st, _, out = post(env, "/hub/spawn", {"_xsrf": xsrf(page), "cluster": "hpc", "queue": "debug",
                                          "container": "base", "app": "desktop"}, cookie)
    t.ok(st == 400 and "app: &#39;desktop&#39; is not offered" in out.replace("'", "&#39;") and
         "choose jupyter, echo" in out and 'aria-invalid="true"' in out,
         "the form refuses the desktop in container base, next to the app field", out[-2500:])


def test_restart(env):
    """nbgated restarted: the desktop's route still strips its prefix, adds no token."""
    t = env.tap
    if not getattr(env, "job", None):
        t.ok(False, "the desktop's job runs")
        return
    env.gw.stop()
    env.gw.start()
    tok = env.gw.token(USER)
    ok = wait_for(lambda: env.gw.request("GET", "/user/%s/vnc.html" % ROUTE, token=tok)[0] == 200,
                  60)
    t.ok(ok, "after a restart noVNC's page is served again (prefix stripped)")
    st, _, body = env.gw.request("GET", "/user/%s/app/nope.js" % ROUTE, token=tok)
    t.eq(st, 404, "the agent's bridge answers 404 for a file it does not have")


def test_web_starts(env):
    st, j = env.api.call("POST", "/users/%s/server" % WEBUSER, {"app": "echo"})
    env.tap.eq(st, 202, "the web app is requested")


def test_web(env):
    """websocketd through the proxy: its page, and a WebSocket echo."""
    import ssl
    import websocket  # Debian's python3-websocket
    t = env.tap
    m, seen = env.api.wait(WEBUSER, timeout=120)
    t.ok(m is not None and m["ready"] and m["state"].get("app_type") == "web",
         "the web app runs", (seen, m and m["state"]))
    if m is None or not m["ready"]:
        return
    tok = env.gw.token(WEBUSER)
    st, _, body = env.gw.request("GET", "/user/%s/" % WEBUSER, token=tok)
    t.ok(st == 200 and b"nbgate web app" in body, "its page through the proxy (prefix stripped)",
         (st, body[:200]))
    st, h, _ = env.gw.request("GET", "/user/%s/go" % WEBUSER, token=tok)
    loc = h.get("location")
    t.ok(st == 302 and loc == "/user/%s/?from=go" % WEBUSER,
         "the app's redirect to its own / gets the prefix back (Location)", (st, loc))
    st, _, body = env.gw.request("GET", loc or "/", token=tok)
    t.ok(st == 200 and b"nbgate web app" in body, "and the redirect lands on its page",
         (st, body[:200]))
    ws = websocket.create_connection(
        "wss://127.0.0.1:%d/user/%s/echo" % (env.gw.https_port, WEBUSER),
        header=["Authorization: token " + tok], timeout=30,
        sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": env.gw.cert(),
                "check_hostname": False})
    ws.send("hello through nbgate")
    t.eq(ws.recv(), "hello through nbgate", "a WebSocket echo through the proxy")
    ws.close()
    pids = job_pids(m["state"]["job_id"])
    lst = [a for p in pids if "websocketd" in (cmdline(p) or "")
           for a in (tcp_listeners(p)[0] or [])]
    t.ok(lst and all(a.startswith("0100007F:") for _, a in lst),
         "websocketd (TCP only) listens on 127.0.0.1 alone, as listen: loopback says", lst)
    loopback_isolated(t, [p for p in pids
                          if os.path.basename((cmdline(p) or "-").split()[0]) == "websocketd"],
                      [int(a.split(":")[1], 16) for _, a in lst])
    st, _, _ = env.gw.request("GET", "/user/%s/" % WEBUSER, token=env.gw.token(OTHER))
    t.eq(st, 403, "another user gets 403 at the web app")


def loopback_isolated(t, pids, ports):
    """listen: loopback is a network namespace of the app's own: the node's
    loopback (this test's, as another account) has no listener on its port
    and refuses a connection there, while the proxy reached it above."""
    import socket
    host = os.readlink("/proc/self/ns/net")
    ns = {p: os.readlink("/proc/%d/ns/net" % p) for p in pids}
    t.ok(ns and all(n != host for n in ns.values()),
         "websocketd runs in a network namespace of its own", (host, ns))
    with open("/proc/self/net/tcp") as f:
        rows = [r.split() for r in f.read().splitlines()[1:]]
    seen = [r[1] for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) in ports]
    refused = []
    for port in ports:
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            refused.append(port)
        except OSError:
            pass
        finally:
            s.close()
    t.ok(ports and not seen and refused == ports,
         "attack app-loopback-other-account: the app's loopback port is not in the "
         "node's own network namespace (no listener in /proc/net/tcp, connect refused)",
         (ports, seen, refused))


def test_desktop_starts(env):
    t = env.tap
    env.t0 = time.time()
    st, j = env.api.call("POST", "/users/%s/servers/%s" % (USER, SERVER),
                         {"app": "desktop", "container": "scipy", "desktop_geometry": GEOMETRY})
    t.eq(st, 202, "the desktop is requested through the API (user_options app)")
    m, seen = env.api.wait(USER, SERVER, timeout=180)
    env.ready_s = time.time() - env.t0
    t.ok(m is not None and m["ready"], "the desktop runs", (seen, m and m["state"]))
    if m is None or not m["ready"]:
        return
    t.diag("spawn to ready: %.1f s" % env.ready_s)
    st = m["state"]
    env.job = st["job_id"]
    t.ok(st.get("app") == "desktop" and st.get("app_type") == "desktop" and
         st.get("desktop_geometry") == GEOMETRY, "the model shows the app and its size", st)
    url = st.get("open_url", "")
    t.ok(url.startswith("/user/%s/vnc.html?" % ROUTE) and "path=user/%s/websockify" % ROUTE in url
         and "password" not in url and "autoconnect=1" in url,
         "the page to open carries only path= and noVNC's options, no password", url)
    script = subprocess.run(["scontrol", "write", "batch_script", env.job, "-"],
                            capture_output=True, text=True, timeout=30).stdout
    t.ok("--app 'desktop'" in script and "--geometry '%s'" % GEOMETRY in script,
         "the batch script runs the agent with --app desktop --geometry", script[-800:])
    recs = []
    with open(env.w.standin_log) as f:
        for line in f:
            r = json.loads(line)
            if r.get("command") and r["command"][0] == env.desktop:
                recs.append(r)
    t.ok(len(recs) == 1 and recs[0]["command"][1] == GEOMETRY and recs[0]["containall"] and
         recs[0]["image"].endswith("scipy.sif") and recs[0]["command"][2] in recs[0]["binds"],
         "the container runtime (stand-in's record) ran nbgate-desktop GEOMETRY DIR, "
         "--containall, the private directory bound", recs)


def test_no_tcp(env):
    t = env.tap
    if not getattr(env, "job", None):
        t.ok(False, "the desktop's job runs")
        return
    ok = wait_for(lambda: any("xterm" in (cmdline(p) or "") for p in job_pids(env.job)), 30)
    pids = job_pids(env.job)
    env.desk = {p: cmdline(p) for p in pids}
    names = " ".join(c or "" for c in env.desk.values())
    t.ok(ok and "Xvnc" in names and "twm" in names and "xterm" in names and
         "nbgate-agent" in names, "the job runs the agent, Xvnc, twm and xterm", env.desk)
    xvnc = [c for c in env.desk.values() if c and "Xvnc" in c.split()[0]]
    t.ok(xvnc and "-rfbunixpath" in xvnc[0] and "-rfbport -1" in xvnc[0] and
         "-nolisten tcp" in xvnc[0] and "-rfbunixmode 0600" in xvnc[0],
         "Xvnc: a 0600 Unix socket, no RFB port, X11 not on TCP", xvnc)
    sock = re.search(r"-rfbunixpath (\S+)", xvnc[0]).group(1) if xvnc else None
    if sock:
        t.ok(os.stat(sock).st_mode & 0o777 == 0o600 and
             os.stat(os.path.dirname(sock)).st_mode & 0o777 == 0o700,
             "the VNC socket is 0600 in a 0700 directory", sock)
    listening, seen = {}, 0
    for p in pids:
        lst, n = tcp_listeners(p)
        seen += n
        if lst:
            listening[p] = (env.desk[p], lst)
    t.ok(len(pids) >= 5 and not listening,
         "no process of the job listens on TCP (%d processes, %d TCP sockets: the agent's "
         "link to the gateway)" % (len(pids), seen), listening)


def test_browser(env):
    t = env.tap
    if not getattr(env, "job", None):
        t.ok(False, "the desktop's job runs")
        return
    gw = env.gw
    t0 = time.time()
    res, shots = browser_walk(env, "desktop.js", [
        "https://127.0.0.1:%d" % gw.https_port, login_path(gw, USER), login_path(gw, OTHER),
        ROUTE, COMMAND, CLIP], 300)
    env.shots = shots
    steps = res.get("steps", {})
    t.ok("error" not in res, "the browser walk completes", res.get("error"))
    op = steps.get("open", {})
    t.ok(op.get("href", "").startswith("/user/%s/vnc.html?path=" % ROUTE),
         "the home page opens the desktop at noVNC", op)
    cv = op.get("canvas", {})
    t.ok(cv.get("colours", 0) >= 3 and cv.get("width", 0) > 0,
         "the noVNC canvas draws the desktop", cv)
    t.ok((cv.get("width"), cv.get("height")) == (1280, 800),
         "resize=remote: the desktop took the browser window's size, not %s" % GEOMETRY, cv)
    if "first_frame_ms" in op:
        t.diag("home page click to first desktop frame: %d ms; spawn to ready: %.1f s"
               % (op["first_frame_ms"], env.ready_s))
    ty = steps.get("typed", {})
    t.ok(ty and ty["before"]["sum"] != ty["after"]["sum"], "typing changes the screen", ty)
    home = pwd.getpwnam("nbcommunity").pw_dir
    mark = os.path.join(home, "nbgate", USER, "desk-mark")
    t.ok(wait_for(lambda: os.path.exists(mark) and open(mark).read().strip() == "nbgate-42", 10),
         "the typed command ran in the xterm (it wrote nbgate-42)", mark)
    clip = os.path.join(home, "nbgate", USER, "clip-mark")
    t.ok(wait_for(lambda: os.path.exists(clip) and open(clip).read().strip() == "clip-42", 10),
         "noVNC's clipboard pasted into the xterm ran (it wrote clip-42)", clip)
    got = steps.get("clipboard", {}).get("from_desktop", "")
    t.ok("nbgate" in got, "a word selected in the xterm reaches noVNC's clipboard", got)
    other = steps.get("other", {})
    t.ok(other.get("status") == 403 and other.get("ws") == "error",
         "attack app-other-user: another user gets 403 at the desktop's page and its "
         "WebSocket", other)
    t.eq(steps.get("owner_ws"), "open", "the owner's WebSocket opens (the control)")
    for name in ("01-desktop", "02-typed", "03-other-refused", "04-clipboard"):
        png = os.path.join(shots, name + ".png")
        t.ok(os.path.exists(png) and os.path.getsize(png) > 5000, "screenshot %s kept" % name)
    desktop_activity(env, t0)


def desktop_activity(env, t0):
    """The agent reports a desktop's use (RFB bytes through its bridge, CPU)
    on the activity channel: the session's compute activity is from the walk."""
    import datetime

    def compute():
        m, _ = env.api.wait(USER, SERVER, timeout=5)
        return (m or {}).get("state", {}).get("compute")

    def since_walk():
        c = compute()
        if not c or not c.get("last_activity"):
            return None
        at = datetime.datetime.strptime(c["last_activity"], "%Y-%m-%dT%H:%M:%S.%fZ")
        at = at.replace(tzinfo=datetime.timezone.utc).timestamp()
        return c if at >= t0 - 1 else None
    ok = wait_for(since_walk, 20)
    env.tap.ok(ok, "the agent reports the desktop in use (its compute activity is from "
               "the browser walk, for sessions.idle_counts: compute)", (t0, compute()))


def test_stop(env):
    t = env.tap
    if not getattr(env, "desk", None):
        t.ok(False, "the desktop's processes were seen")
        return
    st, _ = env.api.call("DELETE", "/users/%s/servers/%s" % (USER, SERVER))
    t.ok(st in (202, 204), "the desktop is stopped", st)
    m, seen = env.api.wait(USER, SERVER, phases=("ended",), timeout=60)
    t.ok(m is not None and m["state"]["phase"] == "ended", "the session ends", seen)

    def left():
        return {p: c for p, c in env.desk.items() if c and cmdline(p) == c}
    t.ok(wait_for(lambda: not left(), 30), "no process of the desktop survives the job",
         left())


def main():
    from harness import Env
    env = Env("test_apps")
    session_world(env, edit=lambda cfg: edit(env)(cfg))
    try:
        for fn in (test_refused_app, test_web_starts, test_desktop_starts, test_form, test_no_tcp,
                   test_browser, test_restart, test_stop, test_web):
            env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        session_cleanup(env, ("%s/%s" % (USER, SERVER), WEBUSER))
    env.finish()


if __name__ == "__main__":
    main()
