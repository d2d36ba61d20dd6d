#!/usr/bin/env python3
"""test_flavour.py: the notebook flavour per container (containers.NAME.notebook,
notebook_command). On the World of test_session.py (real SLURM, real nbgated, real
agent): a `server` container runs Debian's Jupyter Server (ServerApp) whose kernel
computes 1+1 over a WebSocket through the proxy, whose token no page, URL or
redirect a browser sees carries, and whose agent reports activity; a `lab`
container (the Singularity stand-in, with Jupyter Server as the command: Debian 12
has no JupyterLab) is started with ServerApp's options and sends the browser to
/lab; the classic notebook still runs beside them."""
import glob
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, kernel_computes, login_path, wait_for, ws_kernel  # noqa: E402
from test_activity import execute  # noqa: E402
from test_session import IMAGE, session_cleanup, session_world  # noqa: E402

USERS = ("sally", "lara", "cara")   # server, lab, classic
CONTAINERS = ('      jserver: {image: "", runtime: none, notebook: server}\n'
              '      jlab: {image: %s, runtime: singularity, notebook: lab,\n'
              '             notebook_command: [python3, -m, jupyter_server]}\n' % IMAGE)


def edit(cfg):
    cfg = cfg.replace("sessions:\n", "sessions:\n  activity_interval: 5s\n", 1)
    return cfg.replace("    containers:\n", "    containers:\n" + CONTAINERS, 1)


def cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def notebook_pid(base_url):
    """The notebook server's process (its argv names the base URL), or None."""
    want = ("--ServerApp.base_url=" + base_url).encode()
    for pid in os.listdir("/proc"):
        if pid.isdigit() and want in cmdline(pid):
            return pid
    return None


def server_token(pid, kind="jpserver"):
    """The token Jupyter Server wrote to its runtime file (jpserver-PID.json in the
    user's private working directory; nbserver- for the classic notebook): what the
    gateway presents, never the user."""
    try:
        cwd = os.readlink("/proc/%s/cwd" % pid)
    except OSError:
        return None
    for p in glob.glob(os.path.join(cwd, ".local/share/jupyter/runtime/%s-*.json" % kind)):
        with open(p) as f:
            tok = json.load(f).get("token")
        if tok:
            return tok
    return None


def leaks(secret):
    """Processes whose argv or environment hold @secret."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for what in ("cmdline", "environ"):
            try:
                with open("/proc/%s/%s" % (pid, what), "rb") as f:
                    if secret.encode() in f.read():
                        out.append((pid, what))
            except OSError:
                pass
    return out


def cookie_of(gw, user):
    st, h, _ = gw.request("GET", login_path(gw, user))
    m = re.match(r"(__Host-nbgate-session=[^;]+)", h.get("set-cookie", ""))
    return m.group(1) if st in (302, 303) and m else None


def browse(gw, cookie, path, hops=8):
    """GET @path as a browser does, following redirects on the gateway; returns
    [(status, location, body)] of every answer seen."""
    seen = []
    for _ in range(hops):
        st, h, body = gw.request("GET", path, cookie=cookie)
        loc = h.get("location", "")
        seen.append((st, loc, body))
        if st not in (301, 302, 303, 307, 308) or not loc.startswith("/"):
            break
        path = loc
    return seen


def batch_script(job):
    return subprocess.run(["scontrol", "write", "batch_script", job, "-"], capture_output=True,
                          text=True, timeout=30).stdout


def start(env, user, container):
    st, m = env.api.call("POST", "/users/%s/server" % user, {"container": container})
    env.tap.eq(st, 202, "%s: a server with container %s requested" % (user, container))


def ready(env, user):
    m, seen = env.api.wait(user, timeout=180)
    env.tap.ok(m is not None and m["ready"], "%s's notebook becomes ready" % user, (seen, m))
    return m if m is not None and m["ready"] else None


def busy_report(env, user):
    def compute():
        st, m = env.api.server(user)
        return m["state"].get("compute", {}) if st == 200 else {}
    return wait_for(lambda: compute().get("kernels_busy") == 1, 25, 0.5), compute()


def test_server(env):
    t, gw, tok = env.tap, env.gw, env.user_tokens["sally"]
    m = ready(env, "sally")
    if m is None:
        return
    script = batch_script(m["state"]["job_id"])
    t.ok("--notebook-app 'server'" in script and "--notebook-cmd" not in script,
         "the job asks the agent for Jupyter Server, with its own command", script[-700:])
    pid = notebook_pid("/user/sally/")
    argv = [a.decode() for a in cmdline(pid)] if pid else []
    t.ok(argv[1:3] == ["-m", "jupyter_server"] and "--ServerApp.sock_mode=0600" in argv and
         any(a.startswith("--ServerApp.root_dir=") for a in argv) and
         not any("NotebookApp" in a for a in argv),
         "python3 -m jupyter_server with ServerApp's options, on a 0600 socket", argv)
    secret = server_token(pid) if pid else None
    t.ok(secret is not None and len(secret) >= 32, "Jupyter Server runs with the agent's token")
    if secret is None:
        return
    t.eq(leaks(secret), [], "the token is in no process's argv or environment")
    st, _, out = gw.request("GET", "/user/sally/api", token=tok)
    t.ok(st == 200 and b"version" in out, "Jupyter Server's REST API through the proxy",
         (st, out[:200]))
    kernel_computes(t, gw, "/user/sally/", tok,
                    "Jupyter Server's kernel: 1+1 over the WebSocket through the proxy",
                    starts="a kernel starts on Jupyter Server")
    cookie = cookie_of(gw, "sally")
    t.ok(cookie is not None, "sally logs in with a one-time link")
    walk = browse(gw, cookie, "/user/sally/") + browse(gw, cookie, "/user/sally/api/status")
    walk += browse(gw, cookie, "/hub/home") + browse(gw, cookie, "/user/sally/api/kernels")
    t.ok(walk[0][0] == 200 and b"Jupyter" in walk[0][2], "the browser's /user/sally/ is "
         "Jupyter Server's page", [(s, l, b[:120]) for s, l, b in walk[:2]])
    shown = [(s, l) for s, l, b in walk if secret in l or secret.encode() in b]
    t.eq(shown, [], "the token is in no page, URL or redirect the browser sees (%d answers)"
         % len(walk))


def test_activity(env):
    """The agent's watcher reads Jupyter Server's /api/kernels, /api/terminals and
    /api/status: a kernel turning busy is reported at once, then counted."""
    t, gw, tok = env.tap, env.gw, env.user_tokens["sally"]
    st, _, out = gw.request("GET", "/user/sally/api/kernels", token=tok)
    kernels = json.loads(out) if st == 200 else []
    if not kernels:
        t.ok(False, "sally's kernel is there for the activity check", (st, out[:200]))
        return
    ws = ws_kernel(gw, "/user/sally/", kernels[0]["id"], tok)
    busy = execute(ws, "import time\ntime.sleep(20)\n")
    t0 = time.time()
    t.ok(busy, "sally's kernel is busy with a 20 s sleep")
    ok, comp = busy_report(env, "sally")
    t.ok(ok, "Jupyter Server: the agent reported the busy kernel within %.1f s"
         % (time.time() - t0), comp)
    t.ok(comp.get("kernels") == 1 and "terminals" in comp and comp.get("last_activity"),
         "the report counts Jupyter Server's kernels and terminals", comp)
    ws.close()


def test_lab(env):
    t, gw = env.tap, env.gw
    m = ready(env, "lara")
    if m is None:
        return
    script = batch_script(m["state"]["job_id"])
    t.ok("--notebook-app 'lab'" in script and
         "--notebook-cmd 'python3 -m jupyter_server'" in script,
         "the job asks for lab with the container's notebook_command, quoted", script[-700:])
    with open(env.w.standin_log) as f:
        recs = [json.loads(l) for l in f if l.strip()]
    rec = [r for r in recs if "--ServerApp.base_url=/user/lara/" in r.get("command", [])]
    t.ok(rec, "the container runtime (stand-in) was asked to run lara's notebook", recs[-1:])
    if not rec:
        return
    cmd = rec[-1]["command"]
    conf = [a for a in cmd if a.startswith("--config=")]
    t.ok(cmd[:4] == ["python3", "-m", "jupyter_server", "--no-browser"] and len(conf) == 1 and
         "--ServerApp.default_url=/lab" in cmd and "--ServerApp.sock_mode=0600" in cmd and
         any(a.startswith("--ServerApp.sock=") for a in cmd) and
         any(a.startswith("--ServerApp.root_dir=") for a in cmd) and
         not any("NotebookApp" in a or "token" in a.lower() for a in cmd if a not in conf),
         "lab: the command, then ServerApp's options with default_url /lab; the token only "
         "in the private config file", cmd)
    t.ok(not any("TOKEN" in k for k in rec[-1].get("env", {})) and
         not any("TOKEN" in k for k in rec[-1].get("child_env_names", [])),
         "no token variable reaches the container", rec[-1].get("child_env_names"))
    cookie = cookie_of(gw, "lara")
    walk = browse(gw, cookie, "/user/lara/", hops=1) if cookie else []
    t.ok(walk and walk[0][0] == 302 and walk[0][1].startswith("/user/lara/lab"),
         "lab: the browser's /user/lara/ is sent to /user/lara/lab",
         [(s, l) for s, l, _ in walk])


def test_classic(env):
    t, gw, tok = env.tap, env.gw, env.user_tokens["cara"]
    m = ready(env, "cara")
    if m is None:
        return
    t.ok("--notebook-app 'classic'" in batch_script(m["state"]["job_id"]),
         "the job asks for the classic notebook")
    pid = notebook_pid("/user/cara/")
    t.ok(pid is None and any(b"--NotebookApp.base_url=/user/cara/" in cmdline(p)
                             for p in os.listdir("/proc") if p.isdigit()),
         "the classic notebook runs with NotebookApp's options")
    st, _, out = gw.request("GET", "/user/cara/tree", token=tok)
    t.ok(st == 200 and b"Jupyter" in out, "classic: the tree page through the proxy", st)
    pid = next((p for p in os.listdir("/proc") if p.isdigit() and
                b"--NotebookApp.base_url=/user/cara/" in cmdline(p)), None)
    secret = pid and server_token(pid, "nbserver")
    t.ok(secret and secret.encode() not in out, "classic: the tree page does not show the token")
    kernel_computes(t, gw, "/user/cara/", tok, "classic: 1+1 over the WebSocket through the proxy",
                    starts="classic: a kernel starts")


def main():
    env = Env("test_flavour")
    session_world(env, edit=edit)
    env.user_tokens = {u: env.gw.token(u) for u in USERS}
    try:
        for u, c in zip(USERS, ("jserver", "jlab", "base")):
            start(env, u, c)
        for fn in (test_server, test_activity, test_lab, test_classic):
            env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        session_cleanup(env, USERS)
    env.finish()


if __name__ == "__main__":
    main()
