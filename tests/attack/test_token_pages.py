#!/usr/bin/env python3
"""test_token_pages.py: the notebook's token never reaches the browser.

Jupyter (Notebook 6 and Jupyter Server alike) writes its token into every HTML
page it renders for a logged-in user (data-jupyter-api-token, a ?token= link on
the logo); nbgated presents the token with every request it passes on, so through
the gateway every page would carry it. The agent's private config file hides it
from the page templates. Real nbgated, real nbgate-agent --notebook, Debian's
classic notebook and Jupyter Server (one of them as `lab`, in the Singularity
stand-in): each page and redirect a browser sees, with the user's API token and
with the login cookie, must not contain the token the agent wrote (--token-out),
which still opens the notebook's API from the gateway."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Env, Gateway, login_path  # noqa: E402
from test_agent import IMAGE, Agent  # noqa: E402

# route, agent options, runtime, pages (under /user/ROUTE/) a browser opens
CASES = (
    ("tpclassic", ["--notebook-app", "classic"], "none",
     ("tree", "notebooks/x.ipynb", "edit/x.txt", "terminals/1")),
    ("tpserver", ["--notebook-app", "server"], "none", ("", "api/status")),
    ("tplab", ["--notebook-app", "lab", "--notebook-cmd", "python3 -m jupyter_server",
               "--image", IMAGE], "singularity", ("", "api/status")),
)


def cookie_of(gw, user):
    st, h, _ = gw.request("GET", login_path(gw, user))
    m = re.match(r"(__Host-nbgate-session=[^;]+)", h.get("set-cookie", ""))
    return m.group(1) if st in (302, 303) and m else None


def test_pages(env, route, agent, pages):
    t, gw = env.tap, env.gw
    t.ok(agent.connected(90), "%s: the notebook connects" % route, agent.log()[-1500:])
    secret = agent.token()
    tok, cookie = gw.token(route), cookie_of(gw, route)
    st, _, body = gw.request("GET", "/user/%s/api/status" % route, token=tok)
    t.ok(st == 200 and b"started" in body, "%s: the gateway's token opens the API" % route, st)
    seen, shown = [], []
    for p in pages:
        for how in ({"token": tok}, {"cookie": cookie}):
            path = "/user/%s/%s" % (route, p)
            for _ in range(4):     # follow redirects on the gateway, as a browser does
                st, h, body = gw.request("GET", path, **how)
                loc = h.get("location", "")
                seen.append((path, st))
                if secret in loc or secret.encode() in body or \
                        any(secret in v for v in h.values()):
                    shown.append((path, st, loc))
                if st not in (301, 302, 303, 307) or not loc.startswith("/"):
                    break
                path = loc
    t.ok(any(s[1] == 200 for s in seen) and all(s[1] in (200, 302, 404) for s in seen),
         "%s: the pages load (%d answers; a missing file's page is a 404)" % (route, len(seen)),
         seen)
    t.eq(shown, [], "attack token-in-page: %s: no page, header or redirect shows the "
         "notebook's token" % route)


def main():
    env = Env("test_token_pages")
    try:
        env.gw = Gateway(env).start()
    except Exception as e:
        env.tap.ok(False, "nbgated starts", e)
        env.finish()
    agents = {}
    for route, opts, runtime, _ in CASES:
        agents[route] = Agent(env, env.gw, route, opts, runtime=runtime).start()
    for route, _, _, pages in CASES:
        env.run(lambda e, r=route: agents[r].register())
        env.run(test_pages, route, agents[route], pages)
    env.tap.ok(env.gw.alive(), "nbgated is still running")
    env.finish()


if __name__ == "__main__":
    main()
