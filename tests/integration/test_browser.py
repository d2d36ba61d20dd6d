"""test_browser.py: a person in a real browser (Debian's Chromium driven by
playwright-core from npm): one-time login link, the notebook's tree page, a cell
computing 1+1 over the kernel's WebSocket, bob refused at alice's notebook,
logout. Screenshots of each step stay in the test's artifacts directory."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Gateway, NbAgent, Notebook, ssh_keygen, wait_for, route_connected,
                     browser_walk, login_path)  # noqa: E402

NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
               "source": ["1+1"]}],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def test_browser(env):
    gw = env.gw
    nb = Notebook(env, "alice")
    with open(os.path.join(nb.dir, "test.ipynb"), "w") as f:
        json.dump(NOTEBOOK, f)
    nb.start()
    key = ssh_keygen(env.path("alice_key"))
    gw.add_route("alice", key + ".pub", token=nb.token)
    NbAgent(env, gw, "alice", key, target_port=nb.port).start()
    env.tap.ok(wait_for(lambda: route_connected(gw, "alice"), 20), "alice's notebook is connected")
    res, shots = browser_walk(env, "notebook.js",
                              ["https://127.0.0.1:%d" % gw.https_port, login_path(gw, "alice"),
                               login_path(gw, "bob"), "/user/alice/notebooks/test.ipynb"], 240)
    steps = res.get("steps", {})
    env.tap.ok("error" not in res, "the browser walk completes", res.get("error"))
    login = steps.get("login", {})
    env.tap.ok("/user/alice/tree" in login.get("url", ""), "the one-time link lands in alice's notebook", login)
    env.tap.eq(steps.get("cell", {}).get("output", "").strip(), "2", "a cell run in Chromium prints 2")
    bob = steps.get("bob", {})
    env.tap.ok(bob.get("status") == 403 and "belongs to another user" in bob.get("text", ""),
               "bob's browser is refused at alice's notebook with a page saying why", bob)
    out = steps.get("logout", {})
    env.tap.ok(out.get("status") == 401 and "not logged in" in out.get("text", ""),
               "after logout the notebook asks to log in again", out)
    for name in ("01-tree", "02-cell", "03-bob-refused", "04-logged-out"):
        png = os.path.join(shots, name + ".png")
        env.tap.ok(os.path.exists(png) and os.path.getsize(png) > 2000, "screenshot %s kept" % name)


def main():
    env = Env("test_browser")
    try:
        env.gw = Gateway(env).start()
    except Exception as e:
        env.tap.ok(False, "nbgated starts", e)
        env.finish()
    env.run(test_browser)
    env.tap.ok(env.gw.alive(), "nbgated is still running")
    env.finish()


if __name__ == "__main__":
    main()
