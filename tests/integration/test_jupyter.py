"""test_jupyter.py: a real Jupyter Notebook behind a tunnel from (a) plain OpenSSH
ssh -R and (b) nbgate's own agent, reached through nbgated's HTTPS port: tree
page, REST API, and a kernel computing 1+1 over its WebSocket."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Gateway, OpenSSHAgent, NbAgent, Notebook, ssh_keygen, wait_for,
                     route_connected, ws_execute)  # noqa: E402


def exercise(env, gw, route, prefix, how, token=None, cookie=None):
    st, h, body = gw.request("GET", prefix + "tree", token=token, cookie=cookie)
    env.tap.ok(st == 200 and b"Jupyter" in body, "%s: the tree page loads" % how, "status %d" % st)
    st, h, body = gw.request("GET", prefix + "api/status", token=token, cookie=cookie)
    env.tap.ok(st == 200 and "kernels" in json.loads(body), "%s: the notebook's REST API answers" % how, body[:300])
    st, h, body = gw.request("POST", prefix + "api/kernels", token=token, cookie=cookie,
                             body=b"{}", headers={"Content-Type": "application/json"})
    env.tap.eq(st, 201, "%s: a kernel starts" % how)
    kid = json.loads(body)["id"]
    res = ws_execute(gw, prefix, kid, "1+1", token=token, cookie=cookie)
    env.tap.eq(res, "2", "%s: the kernel computes 1+1 = 2 over its WebSocket" % how)
    res = ws_execute(gw, prefix, kid, "sum(range(10**6))", token=token, cookie=cookie)
    env.tap.eq(res, "499999500000", "%s: a second WebSocket on the same kernel works" % how)
    st, h, body = gw.request("DELETE", prefix + "api/kernels/" + kid, token=token, cookie=cookie)
    env.tap.eq(st, 204, "%s: the kernel is shut down" % how)


def test_openssh(env):
    gw = env.gw
    nb = Notebook(env, "alice").start()
    key = ssh_keygen(env.path("alice_key"))
    gw.add_route("alice", key + ".pub", token=nb.token)
    OpenSSHAgent(env, gw, "alice", key, nb.port).start()
    env.tap.ok(wait_for(lambda: route_connected(gw, "alice"), 20), "OpenSSH ssh -R agent connected")
    exercise(env, gw, "alice", "/user/alice/", "OpenSSH tunnel", token=gw.token("alice"))


def test_nbagent(env):
    gw = env.gw
    nb = Notebook(env, "carol", base_url="/user/carol/lab/").start()
    key = ssh_keygen(env.path("carol_key"))
    gw.add_route("carol/lab", key + ".pub", token=nb.token)
    NbAgent(env, gw, "carol/lab", key, target_port=nb.port).start()
    env.tap.ok(wait_for(lambda: route_connected(gw, "carol/lab"), 20), "nbgate-agent connected (named server)")
    r = gw.ctl("login-url", "carol")
    url = r.stdout.strip()
    st, h, _ = gw.request("GET", url[url.index("/hub/"):])
    cookie = h.get("set-cookie", "").split(";")[0]
    exercise(env, gw, "carol/lab", "/user/carol/lab/", "nbgate-agent tunnel, login cookie", cookie=cookie)
    st, h, body = gw.request("GET", "/user/carol/lab/api/status", token=gw.token("alice"))
    env.tap.eq(st, 403, "alice cannot open carol's named server")


def main():
    env = Env("test_jupyter")
    try:
        env.gw = Gateway(env).start()
    except Exception as e:
        env.tap.ok(False, "nbgated starts", e)
        env.finish()
    env.run(test_openssh)
    env.run(test_nbagent)
    env.tap.ok(env.gw.alive(), "nbgated is still running")
    env.finish()


if __name__ == "__main__":
    main()
