"""test_user_hosts.py (attack suite): a malicious notebook's JavaScript.

With proxy.user_hosts every user's notebooks are served on a host name of
their own ({user}.nb.nbtest.example here) with a host-only cookie of their
own, handed over from the hub through a one-time code; the hub's host never
serves a notebook.  So a notebook page's JavaScript runs outside the hub's
origin, without the hub's cookie, and what it sends to the hub is refused by
the origin rule.  Raw requests check the hand-over; Chromium (host resolver
rules map the names to 127.0.0.1) checks what a notebook page can do."""
import json
import os
import re
import socket
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import (Env, Gateway, NbAgent, OpenSSHAgent, Notebook, ssh_keygen,  # noqa: E402
                     wait_for, route_connected, browser_walk, login_path, free_port)

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration")


def host(env, name):
    return "%s:%d" % (name, env.gw.https_port)


def req(env, method, path, host_name, cookie=None, headers=None):
    h = {"Host": host(env, host_name)}
    h.update(headers or {})
    if cookie:
        h["Cookie"] = cookie
    c = env.gw.conn()
    c.request(method, path, headers=h)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def hub_cookie(env, user):
    st, h, _ = req(env, "GET", login_path(env.gw, user), "hub.nbtest.example")
    m = re.match(r"(__Host-nbgate-session=[^;]+)", h.get("set-cookie", ""))
    if m is None:
        raise RuntimeError("no login cookie: %d %r" % (st, h))
    return m.group(1)


def hand_over(env, cookie, user, path):
    """The hub's redirect for PATH, then the user host's hand-over: (location, host cookie)."""
    st, h, _ = req(env, "GET", path, "hub.nbtest.example", cookie,
                   {"Origin": "https://hub.nbtest.example:%d" % env.gw.https_port})
    loc = h.get("location", "")
    u = urllib.parse.urlsplit(loc)
    if st != 302 or u.netloc != host(env, "%s.nb.nbtest.example" % user):
        return st, loc, None, None
    st2, h2, _ = req(env, "GET", u.path + "?" + u.query, u.hostname)
    m = re.match(r"(__Host-nbgate-user=[^;]+)", h2.get("set-cookie", ""))
    return st2, h2.get("location", ""), m.group(1) if m else None, u


def test_hand_over(env):
    t = env.tap
    alice = hub_cookie(env, "alice")
    st, loc, hc, u = hand_over(env, alice, "alice", "/user/alice/tree?x=1")
    t.ok(u is not None, "the hub's host does not serve alice's notebook: it sends the browser to "
         "alice.nb.nbtest.example with a hand-over code", (st, loc))
    t.ok(st == 302 and loc == "/user/alice/tree?x=1" and hc is not None,
         "alice's host takes the code, sets its own host-only cookie and opens the page asked for",
         (st, loc, hc))
    st, _, body = req(env, "GET", "/user/alice/api/contents", "alice.nb.nbtest.example", hc)
    t.ok(st == 200 and b"content" in body, "with that cookie alice's notebook answers on her host", st)
    st, _, _ = req(env, "GET", u.path + "?" + u.query, u.hostname)
    t.eq(st, 403, "attack user-host-code-replay: the hand-over code works once")
    st, h, _ = req(env, "GET", "/user/alice/api/contents", "alice.nb.nbtest.example", alice)
    t.ok(st == 302 and h.get("location", "").startswith("https://hub.nbtest.example:"),
         "attack user-host-hub-cookie: the hub's cookie is no login on a user's host (sent back to "
         "the hub)", (st, h.get("location")))
    st, _, body = req(env, "GET", "/hub/api/user", "hub.nbtest.example", hc)
    t.ok(st in (401, 403), "attack user-host-cookie-on-hub: a user host's cookie is no login on the hub",
         (st, body[:200]))
    st, _, _ = req(env, "GET", "/hub/home", "alice.nb.nbtest.example", hc)
    t.eq(st, 404, "attack user-host-hub-pages: a user's host serves none of the hub's pages")
    st, _, _ = req(env, "GET", "/user/bob/echo", "alice.nb.nbtest.example", hc)
    t.eq(st, 404, "attack user-host-other-user: alice's host does not serve bob's notebook")
    st, _, _ = req(env, "GET", "/user/bob/echo", "bob.nb.nbtest.example", hc)
    t.eq(st, 403, "attack user-host-foreign-cookie: alice's host cookie opens nothing on bob's host")
    # next= must stay on the user's own notebook.
    st, h, _ = req(env, "GET", "/user/alice/tree", "hub.nbtest.example", alice,
                   {"Origin": "https://hub.nbtest.example:%d" % env.gw.https_port})
    u = urllib.parse.urlsplit(h.get("location", ""))
    q = urllib.parse.parse_qs(u.query)
    evil = "/hub/user-login?code=%s&next=%s" % (q["code"][0], urllib.parse.quote("//evil.example/x"))
    st, h, _ = req(env, "GET", evil, "alice.nb.nbtest.example")
    t.ok(st == 302 and h.get("location") == "/user/alice/",
         "attack user-host-open-redirect: a next= off the user's notebook lands on /user/alice/",
         (st, h.get("location")))
    # Cookies of the gateway never reach the notebook.
    bob = hub_cookie(env, "bob")
    st, loc, bhc, _ = hand_over(env, bob, "bob", "/user/bob/echo")
    st, _, body = req(env, "GET", "/user/bob/echo", "bob.nb.nbtest.example", bhc + "; mine=1")
    seen = dict((k.lower(), v) for k, v in json.loads(body)["headers"])
    t.ok(st == 200 and seen.get("cookie") == "mine=1",
         "attack user-host-cookie-to-notebook: the host cookie is not passed to the notebook", seen)


def test_browser(env):
    t, gw = env.tap, env.gw
    rules = "MAP hub.nbtest.example 127.0.0.1, MAP *.nb.nbtest.example 127.0.0.1"
    hub = "https://hub.nbtest.example:%d" % gw.https_port
    before = len([ln for ln in gw.env.procs.log(gw.name).splitlines() if "refused" in ln])
    res, shots = browser_walk(env, "userhosts.js", [hub, login_path(gw, "alice")], 240,
                              extra_env={"NB_RESOLVER_RULES": rules})
    steps = res.get("steps", {})
    t.ok("error" not in res, "the Chromium walk completes", res.get("error"))
    inside = steps.get("inside", {})
    t.ok(inside.get("origin") == "https://alice.nb.nbtest.example:%d" % gw.https_port,
         "the one-time link on the hub lands in alice's notebook on her own host", steps.get("landed"))
    t.ok(inside.get("put") in (200, 201) and inside.get("ws") == "open",
         "on her host the notebook works: a file saved, a kernel WebSocket opened", inside)
    t.ok("nbgate" not in inside.get("cookies", "x"),
         "attack user-host-read-cookie: the notebook page's JavaScript sees no gateway cookie", inside)
    log = [ln for ln in gw.env.procs.log(gw.name).splitlines() if "refused" in ln][before:]
    t.ok(any("POST /hub/api/users/alice/server refused" in ln and "alice.nb.nbtest.example" in ln
             for ln in log) and not env.sessions(),
         "attack user-host-js-to-hub: the notebook page's POST to the hub API (with the hub's "
         "same-site cookie) is refused and starts nothing", (inside.get("hubPost"), log[-3:]))
    t.ok(str(inside.get("hubRead", "")).startswith("error"),
         "attack user-host-js-reads-hub: the notebook page cannot read the hub's API (no CORS)", inside)


def main():
    env = Env("test_user_hosts")
    try:
        port = free_port()
        gw = Gateway(env, extra="public_url: https://hub.nbtest.example:%d\n"
                     "proxy:\n  user_hosts: \"{user}.nb.nbtest.example\"\n" % port)
        # The listening port is the one public_url names.
        with open(gw.config) as f:
            text = f.read()
        with open(gw.config, "w") as f:
            f.write(text.replace("https: 127.0.0.1:%d" % gw.https_port, "https: 127.0.0.1:%d" % port))
        gw.https_port = port
        env.gw = gw.start()
        nb = Notebook(env, "alice", extra=["--NotebookApp.allow_remote_access=True"]).start()
        key = ssh_keygen(env.path("alice_key"))
        gw.add_route("alice", key + ".pub", token=nb.token)
        NbAgent(env, gw, "alice", key, target_port=nb.port).start()
        bport = free_port()
        env.procs.start("backend", ["/usr/bin/python3", os.path.join(HERE, "backend.py"), str(bport)])
        wait_for(lambda: socket.create_connection(("127.0.0.1", bport), 1).close() or True)
        bkey = ssh_keygen(env.path("bob_key"))
        gw.add_route("bob", bkey + ".pub", token="nbtok-bob")
        OpenSSHAgent(env, gw, "bob", bkey, bport).start()
        if not wait_for(lambda: route_connected(gw, "alice") and route_connected(gw, "bob"), 20):
            raise RuntimeError("the notebooks did not connect")
        env.sessions = lambda: json.loads(gw.ctl("--json", "server", "list").stdout or "{}").get("sessions", [])
    except Exception as e:
        env.tap.ok(False, "nbgated with proxy.user_hosts and two notebooks start", e)
        env.finish()
    env.run(test_hand_over)
    env.run(test_browser)
    env.tap.ok(env.gw.alive(), "nbgated is still running")
    env.finish()


if __name__ == "__main__":
    main()
