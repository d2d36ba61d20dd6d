"""test_activity.py: idleness as users mean it (sessions.idle_counts), with the
agent's activity reports (tunnel/PROTOCOL section 9). A kernel computing with no
browser connected is not idle, and is stopped idle_timeout after it finishes; an
open tab (a WebSocket held to an idle kernel, the kernel list polled as JupyterLab
does) is idle under "compute" and in use under "browser". Two nbgateds on the
World of test_session.py (real SLURM, real Jupyter): one counting compute, one
browser, so the three notebooks run at once and the test takes about 4 minutes."""
import datetime
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, Gateway, ws_kernel, ws_send_execute  # noqa: E402
from test_session import Api, metric, session_cleanup, session_world  # noqa: E402

IDLE = 60           # sessions.idle_timeout: the smallest the issue asks about
INTERVAL = 10       # sessions.activity_interval for the test (the default is 60 s)
LOOP = IDLE + INTERVAL + 20   # the kernel computes longer than idle_timeout plus a report


def sessions_cfg(mode):
    return lambda cfg: cfg.replace("sessions:\n", "sessions:\n  idle_timeout: %ds\n"
                                   "  idle_counts: %s\n  activity_interval: %ds\n"
                                   % (IDLE, mode, INTERVAL), 1)


def execute(ws, code):
    """Sends an execute_request; returns once the kernel says it is busy with it.
    The notebook server's greeting of a new WebSocket (kernel_info on the shell
    and control channels) is let through first: the control channel's
    status "idle" would otherwise overwrite the kernel's "busy" in /api/kernels
    (a race of Jupyter's; the agent's CPU measure covers it, this checks the
    busy report)."""
    ws.settimeout(2)
    try:
        while True:
            ws.recv()
    except Exception:
        pass
    ws.settimeout(30)
    msg_id = ws_send_execute(ws, code)
    end = time.time() + 30
    while time.time() < end:
        m = json.loads(ws.recv())
        if (m.get("parent_header", {}).get("msg_id") == msg_id and m["msg_type"] == "status"
                and m["content"]["execution_state"] == "busy"):
            return True
    return False


def kernel(gw, route, token):
    st, _, body = gw.request("POST", "/user/%s/api/kernels" % route, token=token, body=b"{}",
                             headers={"Content-Type": "application/json"})
    return json.loads(body)["id"] if st == 201 else None


def age(iso):
    t = datetime.datetime.strptime(iso.rstrip("Z")[:19], "%Y-%m-%dT%H:%M:%S")
    return time.time() - t.replace(tzinfo=datetime.timezone.utc).timestamp()


class Tab:
    """A browser tab: a WebSocket held to the kernel, its list polled every 10 s."""

    def __init__(self, gw, route, kid, token):
        self.gw, self.route, self.token = gw, route, token
        self.ws = ws_kernel(gw, "/user/%s/" % route, kid, token)
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.poll, daemon=True)
        self.th.start()

    def poll(self):
        while not self.stop.wait(10):
            try:
                self.gw.request("GET", "/user/%s/api/kernels" % self.route, token=self.token,
                                timeout=10)
            except Exception:
                pass

    def close(self):
        self.stop.set()
        try:
            self.ws.close()
        except Exception:
            pass


def start(env, api, gw, user):
    st, _ = api.call("POST", "/users/%s/server" % user, {})
    env.tap.eq(st, 202, "%s's server requested" % user)


def running(env, api, user):
    m, seen = api.wait(user, timeout=150)
    env.tap.ok(m is not None and m["ready"], "%s's notebook runs" % user, (seen, m and m["state"]))
    return m is not None and m["ready"]


def test_activity(env, gwb, apib):
    t, gw, api = env.tap, env.gw, env.api
    t0 = time.time()
    for g, a, u in ((gw, api, "aloop"), (gw, api, "atabc"), (gwb, apib, "atabb")):
        start(env, a, g, u)
    if not all([running(env, api, "aloop"), running(env, api, "atabc"),
                running(env, apib, "atabb")]):
        return
    t.diag("three notebooks running after %.1f s" % (time.time() - t0))
    tok = {u: g.token(u) for g, u in ((gw, "aloop"), (gw, "atabc"), (gwb, "atabb"))}
    tabs = []
    for g, u in ((gw, "atabc"), (gwb, "atabb")):
        kid = kernel(g, u, tok[u])
        t.ok(kid is not None, "%s: a kernel starts" % u)
        tabs.append(Tab(g, u, kid, tok[u]))
    tab_opened = time.time()
    kid = kernel(gw, "aloop", tok["aloop"])
    ws = ws_kernel(gw, "/user/aloop/", kid, tok["aloop"])
    busy = execute(ws, "import time\nt = time.time()\nwhile time.time() - t < %d:\n    pass\n"
                   % LOOP)
    loop_start = time.time()
    ws.close()  # no browser from now on
    t.ok(busy, "aloop: the kernel is busy with a %d s loop; its WebSocket is closed" % LOOP)

    # A report comes at once when a kernel turns busy (the agent looks every 5 s).
    def compute():
        st, m = api.server("aloop")
        return m["state"].get("compute", {}) if st == 200 else {}
    ok = False
    end = time.time() + 20
    while time.time() < end and not ok:
        ok = compute().get("kernels_busy") == 1
        time.sleep(0.5)
    t.ok(ok, "aloop: the agent reported the busy kernel within %.1f s (interval %d s)"
         % (time.time() - loop_start, INTERVAL), compute())
    text = gw.request("GET", "/hub/metrics", token=env.api.token)[2].decode()
    t.ok(metric(text, "nbgate_kernels_busy") == 1, "metrics: nbgate_kernels_busy 1",
         metric(text, "nbgate_kernels_busy"))
    t.ok(metric(text, "nbgate_sessions_reporting") == 2, "metrics: 2 notebooks report",
         metric(text, "nbgate_sessions_reporting"))

    # atabc (compute): the open tab does not keep it.
    m, seen = api.wait("atabc", phases=("ended",), timeout=IDLE + 60)
    took = time.time() - tab_opened
    t.ok(m is not None and "without use" in (m["state"]["reason"] or ""),
         "idle_counts compute: a tab open on an idle kernel is stopped as unused",
         m and m["state"])
    t.ok(IDLE - 5 <= took <= IDLE + 40, "%.1f s after the tab opened (idle_timeout %d s)"
         % (took, IDLE))

    # aloop: computing past idle_timeout plus a report, nobody connected: it runs.
    time.sleep(max(0, loop_start + IDLE + INTERVAL + 5 - time.time()))
    st, m = api.server("aloop")
    t.ok(st == 200 and m["state"]["phase"] == "running",
         "a kernel computing for %.0f s with no browser (> idle_timeout %d s) keeps its "
         "notebook" % (time.time() - loop_start, IDLE), m and m["state"])
    t.ok(st == 200 and age(m["last_activity"]) < INTERVAL + 5,
         "its last_activity is the notebook's: %.0f s ago" % age(m["last_activity"]),
         m and m["last_activity"])
    loop_end = loop_start + LOOP
    m, seen = api.wait("aloop", phases=("ended",), timeout=LOOP + IDLE + 60)
    took = time.time() - loop_end
    t.ok(m is not None and "without use" in (m["state"]["reason"] or ""),
         "once the loop is over, it is stopped as unused", m and m["state"])
    t.ok(IDLE - 5 <= took <= IDLE + INTERVAL + 15,
         "%.1f s after the loop ended (idle_timeout %d s, reports every %d s)"
         % (took, IDLE, INTERVAL))

    # atabb (browser): the same tab, open all this time, keeps it.
    st, m = apib.server("atabb")
    t.ok(st == 200 and m["state"]["phase"] == "running",
         "idle_counts browser: the tab open on an idle kernel for %.0f s keeps it"
         % (time.time() - tab_opened), m and m["state"])
    for tab in tabs:
        tab.close()
    t.diag("the activity checks took %.1f s" % (time.time() - t0))


def main():
    env = Env("test_activity")
    t0 = time.time()
    session_world(env, edit=sessions_cfg("compute"))
    gwb = Gateway(env, name="nbgated-browser")
    with open(gwb.config, "a") as f:
        f.write(sessions_cfg("browser")(env.w.config(gwb.ssh_port)))
    apib = None
    try:
        gwb.start()
        apib = Api(gwb, gwb.token("admin"))
        env.run(test_activity, gwb, apib)
        env.tap.ok(env.gw.alive() and gwb.alive(), "both nbgateds are still running")
    except Exception as e:
        env.tap.ok(False, "the second nbgated starts", e)
    finally:
        if apib is not None:
            try:
                apib.call("DELETE", "/users/atabb/server")
            except Exception:
                pass
        session_cleanup(env, ("aloop", "atabc", "atabb"))
        env.tap.diag("test_activity took %.1f s" % (time.time() - t0))
    env.finish()


if __name__ == "__main__":
    main()
