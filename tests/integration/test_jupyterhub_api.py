"""test_jupyterhub_api.py: nbgated as a JupyterHub client sees it (issue 16).

Written from JupyterHub's REST API documentation (docs/source/_static/
rest-api.yml and the "Using JupyterHub's REST API" pages), not from nbgate's
code: what a JupyterHub service (an idle culler, a gateway's portal) sends and
expects back. Against a real nbgated driving the shared SLURM test environment
(test_session.py's World), with one real notebook so that a user is "ready".

Checked: GET /hub/api/ without a token, /info with read:hub; the users list
in pages (Accept: application/jupyterhub-pagination+json) walked three pages
with limit=2 by following next.url, limits clamped, every state filter and
sort key with '-', include_stopped_servers; the user and server models'
keys; POST .../activity's rules (neither key: 400, an hour ahead: 400, an
older time does not move it back; a server's activity is the one the
culler reads); every scope refusing what it does not cover; a user's tokens
issued with scopes and an expiry, listed, shown, expired and deleted through
the API; {"status", "message"} errors; 202 for a stop under way, 204 for a
stopped server; and JupyterHub's own HubAuth and HubAuthenticated (Debian's
jupyterhub 3.0.0, run by jh_client.py) against nbgated, unchanged.
"""
import datetime
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, wait_for  # noqa: E402
from test_session import Api, session_cleanup, session_world  # noqa: E402

PAGED = {"Accept": "application/jupyterhub-pagination+json"}
PEP440 = re.compile(r"^([1-9][0-9]*!)?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*"
                    r"((a|b|rc)(0|[1-9][0-9]*))?(\.post(0|[1-9][0-9]*))?"
                    r"(\.dev(0|[1-9][0-9]*))?(\+[a-z0-9]+(\.[a-z0-9]+)*)?$")
TOKEN_USERS = ["jha", "jhb", "jhc", "jhd", "jhe"]   # users by their tokens, in this order
READY = "jhready"                                   # the one with a running notebook
IDLE = 20                                           # sessions.idle_timeout here (s)
USER_KEYS = {"kind", "name", "admin", "roles", "groups", "server", "pending",
             "last_activity", "created", "servers"}
SERVER_KEYS = {"name", "ready", "stopped", "pending", "url", "progress_url", "full_url",
               "full_progress_url", "started", "last_activity", "user_options"}


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(s):
    """An ISO 8601 UTC time (with or without a fraction) as seconds; None for null."""
    if not s:
        return None
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in s else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.datetime.strptime(s, fmt).replace(tzinfo=datetime.timezone.utc).timestamp()


def get(env, path, token=None, headers=None):
    """GET /hub/api + @path: (status, JSON or None)."""
    st, _, out = env.gw.request("GET", "/hub/api" + path, token=token, headers=headers)
    try:
        return st, json.loads(out) if out else None
    except ValueError:
        return st, out


def service(env, name, scopes, users=None):
    """A service token with @scopes (a list) for @users (None: every user)."""
    body = {"scopes": scopes}
    if users is None:
        body["all_users"] = True
    else:
        body["users"] = users
    st, m = env.api.call("POST", "/services/%s/tokens" % name, body)
    if st != 201:
        raise RuntimeError("service token for %s: %s %s" % (name, st, m))
    return m["token"]


def is_error(m, code):
    return isinstance(m, dict) and m.get("status") == code and isinstance(m.get("message"), str)


def test_version_info(env):
    t = env.tap
    st, m = get(env, "/")
    t.ok(st == 200 and set(m) == {"version"} and PEP440.match(m["version"]),
         "GET /hub/api/ without a token: 200 {\"version\": <PEP 440>}", (st, m))
    st, m2 = get(env, "/", token="not-a-token")
    t.ok(st == 200 and m2 == m, "... and with a token that is not one (not looked at)", (st, m2))
    st, m = get(env, "/info")
    t.ok(st == 403 and is_error(m, 403), "GET /hub/api/info without a token: 403", m)
    st, m = env.api.call("GET", "/info")
    t.ok(st == 200 and PEP440.match(m["version"]) and "class" in m["spawner"] and
         "class" in m["authenticator"] and m["spawner"]["version"] == m["version"],
         "GET /hub/api/info (admin): version, spawner and authenticator classes", m)
    st, m = get(env, "/info", token=service(env, "jhhub", ["read:hub"]))
    t.ok(st == 200 and "version" in m, "a service token with read:hub reads /info", (st, m))
    st, m = get(env, "/info", token=env.tok["jha"])
    t.ok(st == 403 and is_error(m, 403), "a user's token: /info is 403", m)


def walk(env, token, query):
    """Follows next.url from /users?@query: the pages (each _pagination) and items."""
    pages, items = [], []
    st, m = get(env, "/users?" + query, token=token, headers=PAGED)
    while st == 200 and isinstance(m, dict):
        pages.append(m["_pagination"])
        items += m["items"]
        nxt = m["_pagination"]["next"]
        if nxt is None or len(pages) > 10:
            break
        url = nxt["url"]
        if not re.match(r"^https?://[^/]+/hub/api/users\?", url):
            pages.append({"bad_url": url})
            break
        st, _, out = env.gw.request("GET", url[url.index("/hub/api/"):], token=token,
                                    headers=PAGED)
        m = json.loads(out) if st == 200 else None
    return pages, items


def test_pagination(env):
    t = env.tap
    inactive = sorted(["admin"] + TOKEN_USERS)
    pages, items = walk(env, env.admin, "state=inactive&sort=name&limit=2")
    t.ok(len(pages) == 3 and [p["offset"] for p in pages] == [0, 2, 4] and
         all(p["limit"] == 2 and p["total"] == 6 for p in pages),
         "state=inactive, limit=2: three pages (offsets 0, 2, 4; total 6) by next.url", pages)
    t.ok(pages and pages[0]["next"] and pages[0]["next"]["offset"] == 2 and
         pages[0]["next"]["limit"] == 2 and pages[-1].get("next", 1) is None,
         "next: {offset, limit, url} on the first, null on the last", pages)
    t.ok(pages and "state=inactive" in pages[0]["next"]["url"] and
         "sort=name" in pages[0]["next"]["url"], "next.url keeps the other parameters",
         pages and pages[0]["next"])
    t.eq([u["name"] for u in items], inactive, "the three pages hold every inactive user once, "
         "by name")
    st, m = get(env, "/users?limit=2", token=env.admin)
    t.ok(st == 200 and isinstance(m, list) and len(m) == 2,
         "without the pagination Accept: a bare list (limit still applies)", m)
    st, m = get(env, "/users", token=env.admin, headers=PAGED)
    t.ok(st == 200 and m["_pagination"]["limit"] == 50 and m["_pagination"]["offset"] == 0 and
         m["_pagination"]["total"] == 7 and len(m["items"]) == 7 and
         m["_pagination"]["next"] is None, "defaults: offset 0, limit 50; all 7 users", m and
         m["_pagination"])
    st, m = get(env, "/users?limit=1000", token=env.admin, headers=PAGED)
    t.ok(st == 200 and m["_pagination"]["limit"] == 200, "limit above 200 is 200",
         m and m["_pagination"])
    st, m = get(env, "/users?limit=0", token=env.admin, headers=PAGED)
    t.ok(st == 200 and m["_pagination"]["limit"] == 1 and len(m["items"]) == 1,
         "limit 0 is 1", m and m["_pagination"])
    st, m = get(env, "/users?offset=6&limit=2", token=env.admin, headers=PAGED)
    t.ok(st == 200 and len(m["items"]) == 1 and m["_pagination"]["next"] is None,
         "the last partial page: one item, no next", m)
    st, m = get(env, "/users?offset=50", token=env.admin, headers=PAGED)
    t.ok(st == 200 and m["items"] == [] and m["_pagination"]["total"] == 7,
         "an offset past the end: no items, the total", m)
    for q in ("offset=two", "limit=x"):
        st, m = get(env, "/users?" + q, token=env.admin)
        t.ok(st == 400 and is_error(m, 400), "%s: 400 {status, message}" % q, m)


def test_filters_and_sort(env):
    t = env.tap
    names = lambda m: [u["name"] for u in m]  # noqa: E731
    st, m = get(env, "/users?state=ready", token=env.admin)
    t.ok(st == 200 and names(m) == [READY], "state=ready: only the user whose server is ready",
         m)
    st, m = get(env, "/users?state=active", token=env.admin)
    t.ok(st == 200 and names(m) == [READY], "state=active: only the user with a server", m)
    st, m = get(env, "/users?state=inactive", token=env.admin)
    t.ok(st == 200 and READY not in names(m) and set(TOKEN_USERS) <= set(names(m)),
         "state=inactive: everyone without a server", m)
    st, m = get(env, "/users?state=sleeping", token=env.admin)
    t.ok(st == 400 and is_error(m, 400), "an unknown state: 400", m)
    st, m = get(env, "/users?sort=name", token=env.admin)
    t.ok(st == 200 and names(m) == sorted(names(m)) and len(m) == 7, "sort=name: by name", m)
    st, m = get(env, "/users?sort=-name", token=env.admin)
    t.ok(st == 200 and names(m) == sorted(names(m), reverse=True), "sort=-name: reversed",
         names(m) if st == 200 else m)
    st, m = get(env, "/users", token=env.admin)
    order = names(m) if st == 200 else []
    t.ok(order[:1] == ["admin"] and [n for n in order if n in TOKEN_USERS] == TOKEN_USERS,
         "the default sort (id): in the order the users came to be", order)
    st, m = get(env, "/users?sort=-id", token=env.admin)
    t.eq(names(m) if st == 200 else m, order[::-1], "sort=-id: the reverse")
    # last_activity: give three users an order, the rest have none (null)
    now = time.time()
    for i, u in enumerate(("jhc", "jha", "jhe")):
        st, _ = env.api.call("POST", "/users/%s/activity" % u, {"last_activity": iso(now - 300 + i)})
        t.eq(st, 200, "activity for %s" % u)
    st, m = get(env, "/users?sort=last_activity&state=inactive", token=env.admin)
    got = names(m) if st == 200 else m
    t.ok(got[-3:] == ["jhc", "jha", "jhe"] and all(u["last_activity"] is None for u in m[:-3]),
         "sort=last_activity: no activity (null) first, then oldest to newest", m)
    st, m = get(env, "/users?sort=-last_activity&state=inactive", token=env.admin)
    got = names(m) if st == 200 else m
    t.ok(got[:3] == ["jhe", "jha", "jhc"] and all(u["last_activity"] is None for u in m[3:]),
         "sort=-last_activity: newest first, nulls last", got)
    st, m = get(env, "/users?sort=age", token=env.admin)
    t.ok(st == 400 and is_error(m, 400) and "sort" in m["message"], "an unknown sort: 400", m)


def test_models(env):
    t = env.tap
    st, m = env.api.call("GET", "/users/" + READY)
    t.ok(st == 200 and USER_KEYS <= set(m) and m["kind"] == "user" and
         m["roles"] == ["user"] and m["groups"] == [] and m["created"],
         "the user model: kind, name, admin, roles, groups, server, pending, last_activity, "
         "created, servers", m)
    srv = (m or {}).get("servers", {}).get("", {})
    t.ok(SERVER_KEYS <= set(srv) and srv["ready"] is True and srv["stopped"] is False and
         srv["pending"] is None and srv["url"] == "/user/%s/" % READY and
         srv["progress_url"] == "/hub/api/users/%s/server/progress" % READY,
         "the server model: name, ready, stopped, pending, url, progress_url, full_url, ...",
         srv)
    t.ok(m and m["server"] == "/user/%s/" % READY and m["pending"] is None,
         "the user's 'server' is the ready default server's url", m)
    t.ok("state" in srv, "an admin sees the server's state", srv)
    ro = service(env, "jhro", ["read:servers"], [READY])
    st, s = get(env, "/users/%s/server" % READY, token=ro)
    t.ok(st == 200 and SERVER_KEYS <= set(s) and "state" not in s,
         "read:servers without admin:server_state: the model without 'state'", s)
    rs = service(env, "jhrs", ["read:servers", "admin:server_state"], [READY])
    st, s = get(env, "/users/%s/server" % READY, token=rs)
    t.ok(st == 200 and s.get("state", {}).get("phase") == "running",
         "with admin:server_state: 'state' (nbgate's phase, job...)", s)
    # nbgate's users exist implicitly (a gateway starts a server for any name)
    st, m = env.api.call("GET", "/users/nosuchuser")
    t.ok(st == 200 and m["servers"] == {} and m["created"] is None,
         "a user nbgate has not seen: a model without servers, created null", m)
    st, m = env.api.call("POST", "/users/nosuchuser/activity", {"last_activity": iso(time.time())})
    t.ok(st == 404 and is_error(m, 404), "activity for a user nbgate has not seen: 404 "
         "{status, message}", m)


def test_activity(env):
    t = env.tap
    path = "/users/jhb/activity"
    st, m = env.api.call("POST", path, {})
    t.ok(st == 400 and is_error(m, 400), "neither last_activity nor servers: 400", m)
    st, m = env.api.call("POST", path, {"last_activity": iso(time.time() + 3700)})
    t.ok(st == 400 and is_error(m, 400) and "future" in m["message"],
         "a time more than an hour ahead: 400", m)
    st, m = env.api.call("POST", path, {"last_activity": "yesterday"})
    t.ok(st == 400 and is_error(m, 400), "not a time: 400", m)
    st, m = env.api.call("POST", path, {"servers": {"nosuch": {"last_activity": iso(time.time())}}})
    t.ok(st == 400 and is_error(m, 400), "a server the user does not have: 400", m)
    st, m = Api(env.gw, env.tok["jha"]).call("POST", path, {"last_activity": iso(time.time())})
    t.ok(st == 403 and is_error(m, 403),
         "attack activity-other-user: jha's token cannot post jhb's activity", m)
    t1 = time.time() - 60
    st, _ = env.api.call("POST", path, {"last_activity": iso(t1)})
    st2, m = env.api.call("GET", "/users/jhb")
    t.ok(st == 200 and st2 == 200 and abs(parse_iso(m["last_activity"]) - t1) < 0.01,
         "a user's activity is taken", (st, m))
    st, _ = env.api.call("POST", path, {"last_activity": iso(t1 - 600)})
    st2, m = env.api.call("GET", "/users/jhb")
    t.ok(st == 200 and abs(parse_iso(m["last_activity"]) - t1) < 0.01,
         "an older time does not move it back", m)
    # a server's activity: the one the gateway keeps for the idle culler
    rpath = "/users/%s/activity" % READY
    st, m = env.api.call("POST", rpath, {"servers": {"": {"last_activity": iso(time.time() + 3700)}}})
    t.ok(st == 400 and is_error(m, 400), "a server's time more than an hour ahead: 400", m)
    ahead = int(time.time()) + 1800
    st, m = env.api.call("POST", rpath, {"servers": {"": {"last_activity": iso(ahead)}}})
    st2, s = env.api.call("GET", "/users/%s/server" % READY)
    t.ok(st == 200 and st2 == 200 and abs(parse_iso(s["last_activity"]) - ahead) < 1,
         "a server's activity is taken (half an hour ahead is allowed)", (st, m, s))
    st, m = env.api.call("POST", rpath, {"servers": {"": {"last_activity": iso(time.time())}}})
    st2, s = env.api.call("GET", "/users/%s/server" % READY)
    t.ok(st == 200 and abs(parse_iso(s["last_activity"]) - ahead) < 1,
         "an older server time does not move it back", s)
    st, u = env.api.call("GET", "/users/" + READY)
    t.ok(st == 200 and abs(parse_iso(u["last_activity"]) - ahead) < 1,
         "the user's last_activity follows its server's", u)
    ua = service(env, "jhact", ["users:activity"], ["jhb"])
    st, _, _ = env.gw.request("POST", "/hub/api" + path, token=ua, body=json.dumps(
        {"last_activity": iso(time.time())}).encode(), headers={"Content-Type": "application/json"})
    t.eq(st, 200, "a service with users:activity posts a user's activity")


# (scope, what it covers) -- calls it does not cover must be refused with 403.
CALLS = {
    "list": ("GET", "/users"),
    "user": ("GET", "/users/jha"),
    "server": ("GET", "/users/%s/server" % READY),
    "start": ("POST", "/users/jhnobody/server"),
    "stop": ("DELETE", "/users/jhnobody/server"),
    "activity": ("POST", "/users/jha/activity"),
    "info": ("GET", "/info"),
    "tokens": ("GET", "/users/jha/tokens"),
    "newtoken": ("POST", "/users/jha/tokens"),
    "sessions": ("GET", "/sessions"),
}
COVERS = {
    "list:users": {"list"},
    "read:users": {"user"},
    "read:users:activity": {"user"},
    "read:servers": {"user", "server"},
    "servers": {"user", "server", "start", "stop"},
    "delete:servers": {"stop"},
    "admin:users": {"list", "user", "activity"},
    "users:activity": {"activity"},
    "access:servers": set(),
    "read:hub": {"info"},
    "tokens": {"tokens", "newtoken"},
}


def test_scopes(env):
    t = env.tap
    for scope, covers in COVERS.items():
        tok = service(env, "jhs%d" % len(scope), [scope])
        bad = []
        for what, (meth, path) in CALLS.items():
            if what in covers and what == "start":
                continue        # allowed would start a real job
            body = {"last_activity": iso(time.time())} if what == "activity" else None
            st, m = Api(env.gw, tok).call(meth, path, body)
            if (what in covers) == (st == 403):
                bad.append((what, st, m))
            elif st == 403 and not is_error(m, 403):
                bad.append((what, st, m))
        t.ok(not bad, "attack scope-escalation: a token with only %s: 403 for what it does not "
             "cover, not for %s"
             % (scope, sorted(covers) or "anything"), bad)


def test_tokens(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/jha/tokens", {"expires_in": 3, "scopes": ["read:users"],
                                                       "note": "short"})
    t.ok(st == 201 and m["token"] and m["id"] and m["expires_at"] and m["user"] == "jha" and
         "read:users" in m["scopes"] and m["note"] == "short",
         "POST /users/jha/tokens {expires_in, scopes, note}: 201, the token and its model", m)
    short, sid = (m or {}).get("token"), (m or {}).get("id")
    exp = parse_iso(m["expires_at"]) if st == 201 else 0
    t.ok(abs(exp - (time.time() + 3)) < 3, "expires_at is 3 s ahead", m)
    st, m = env.api.call("GET", "/users/jha/tokens")
    t.ok(st == 200 and any(x["id"] == sid for x in m["api_tokens"]) and
         not any("token" in x for x in m["api_tokens"]),
         "GET /users/jha/tokens: {api_tokens: [...]} with it, no secrets", m)
    st, m = env.api.call("GET", "/users/jha/tokens/%s" % sid)
    t.ok(st == 200 and m["id"] == sid and m["kind"] == "api_token" and m["note"] == "short",
         "GET .../tokens/ID, with its note kept", m)
    for bad in ("x" * 256, "two\nlines", 7):
        st, m = env.api.call("POST", "/users/jha/tokens", {"note": bad})
        t.ok(st == 400 and is_error(m, 400) and "note" in m["message"],
             "attack token-note-control: a note %r: 400 naming note"
             % (bad if len(str(bad)) < 20 else "of 256 bytes"), m)
    st, m = env.api.call("GET", "/users/jhb/tokens/%s" % sid)
    t.ok(st == 404 and is_error(m, 404), "attack token-id-other-user: another user's token id: 404", m)
    st, m = get(env, "/users/jha", token=short)
    t.eq(st, 200, "the read:users token reads jha's model")
    st, m = get(env, "/users/jha/server", token=short)
    t.ok(st == 403 and "read:servers" in m["message"], "but not a server: 403 naming read:servers",
         m)
    time.sleep(4)
    st, m = get(env, "/users/jha", token=short)
    t.ok(st == 403 and is_error(m, 403) and "expired" in m["message"], "after 3 s: 403 expired", m)
    st, m = env.api.call("GET", "/users/jha/tokens")
    t.ok(st == 200 and not any(x["id"] == sid for x in m["api_tokens"]),
         "an expired token is no longer listed", m)
    # a user manages their own tokens; not another's; a limited token issues no broader one
    ju = Api(env.gw, env.tok["jha"])
    st, m = ju.call("POST", "/users/jha/tokens", {"expires_in": 600})
    t.ok(st == 201 and m["token"], "jha issues a token for themself with their own token", m)
    mine, mid = (m or {}).get("token"), (m or {}).get("id")
    st, m = ju.call("POST", "/users/jhb/tokens", {})
    t.ok(st == 403 and is_error(m, 403),
         "attack token-for-other-user: jha's token issues none for jhb", m)
    st, m = ju.call("POST", "/users/jha/tokens", {"scopes": ["read:users"]})
    narrow = (m or {}).get("token")
    st, m = Api(env.gw, narrow).call("POST", "/users/jha/tokens", {"scopes": ["servers"]})
    t.ok(st == 403 and is_error(m, 403), "attack token-scope-escalation: a read:users token cannot issue one with servers", m)
    st, m = ju.call("DELETE", "/users/jha/tokens/%s" % mid)
    t.eq(st, 204, "DELETE .../tokens/ID: 204")
    st, m = get(env, "/user", token=mine)
    t.eq(st, 403, "the deleted token is refused")
    st, m = ju.call("DELETE", "/users/jha/tokens/%s" % mid)
    t.ok(st == 404 and is_error(m, 404), "deleting it again: 404", m)
    st, m = env.api.call("POST", "/users/jha/tokens", {"expires_in": "soon"})
    t.ok(st == 400 and is_error(m, 400), "expires_in not a number: 400", m)
    st, m = env.api.call("POST", "/users/jha/tokens", {"scopes": ["nope"]})
    t.ok(st == 400 and is_error(m, 400), "an unknown scope: 400", m)


def test_culler(env):
    """The activity posted for READY's server (right after it came up, ten
    minutes ahead) is the one the idle culler reads: with no traffic at all it
    outlives sessions.idle_timeout."""
    t = env.tap
    wait = env.t_ready + 2 * IDLE + 10 - time.time()
    if wait > 0:
        time.sleep(wait)
    st, s = env.api.call("GET", "/users/%s/server" % READY)
    t.ok(st == 200 and s["ready"] and s["state"]["phase"] == "running",
         "%.0f s after it came up, with no traffic and idle_timeout %d s, the server posted "
         "active runs on" % (time.time() - env.t_ready, IDLE), s and s.get("state"))


def test_hub_clients(env):
    """JupyterHub's own client code (Debian's jupyterhub 3.0.0), unchanged:
    HubAuth identifies a user's token through /hub/api/user, takes a bad
    one as nobody, and a HubAuthenticated handler lets in only its user."""
    t = env.tap
    py = "/usr/bin/python3"
    ok = os.path.exists(py) and subprocess.run(
        [py, "-c", "import jupyterhub.services.auth"], capture_output=True).returncode == 0
    if not t.ok(ok, "JupyterHub's Python package is installed (scripts/deps.sh test)"):
        return
    tokens = {"service": service(env, "jhauth", ["read:users"]), "user": env.tok["jha"],
              "user_name": "jha", "other": env.tok["jhb"], "other_name": "jhb"}
    r = subprocess.run([py, os.path.join(os.path.dirname(os.path.abspath(__file__)), "jh_client.py"),
                        "https://127.0.0.1:%d/hub/api/" % env.gw.https_port, env.gw.cert()],
                       input=json.dumps(tokens), capture_output=True, text=True, timeout=120)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        t.ok(False, "jh_client.py printed its answers", (r.returncode, r.stdout[-500:],
                                                         r.stderr[-2000:]))
        return
    u = out.get("user")
    t.ok(isinstance(u, dict) and u.get("name") == "jha" and u.get("kind") == "user" and
         isinstance(u.get("scopes"), list),
         "HubAuth.user_for_token: a user's token is that user, with its scopes", u)
    cs = out.get("check_scopes") or {}
    t.ok(cs.get("self") == ["read:users!user=jha"],
         "HubAuth.check_scopes: jha's token may read jha", cs)
    t.ok(cs.get("other") == [] and cs.get("read:users") == [] and cs.get("admin:users") == []
         and cs.get("list:users") == [],
         "attack whoami-scopes-unfiltered: a service checking scopes with JupyterHub's "
         "check_scopes finds no right to another user, admin:users or list:users in a "
         "user's token", cs)
    t.ok(out.get("bogus", "absent") is None,
         "HubAuth.user_for_token: an unknown token is nobody (None, not an error)",
         out.get("bogus", "absent"))
    sv = out.get("service")
    t.ok(isinstance(sv, dict) and sv.get("kind") == "service" and sv.get("name") == "jhauth",
         "HubAuth.user_for_token: the service's own token is the service", sv)
    w = out.get("whoami_user", {})
    t.ok(w.get("code") == 200 and json.loads(w.get("body") or "{}").get("name") == "jha",
         "HubAuthenticated: the user it names gets in", w)
    t.eq(out.get("whoami_other", {}).get("code"), 403,
         "HubAuthenticated: another user's token gets 403")
    t.ok(out.get("whoami_bogus", {}).get("code") == 302 and
         out.get("whoami_none", {}).get("code") == 302,
         "HubAuthenticated: a bad token and none are sent to log in (302)",
         (out.get("whoami_bogus"), out.get("whoami_none")))


def test_stop(env):
    t = env.tap
    st, m = env.api.call("DELETE", "/users/%s/server" % READY)
    t.eq(st, 202, "DELETE a running server: 202 while the job is cancelled")
    m, seen = env.api.wait(READY, phases=("ended",), timeout=90)
    t.ok(m is not None and m["stopped"] is True and m["ready"] is False, "it stops", m)
    st, m = env.api.call("DELETE", "/users/%s/server" % READY)
    t.eq(st, 204, "DELETE a stopped server: 204")
    st, u = env.api.call("GET", "/users/" + READY)
    t.ok(st == 200 and u["servers"] == {} and u["server"] is None,
         "a stopped server is left out of servers", u)
    st, u = get(env, "/users/%s?include_stopped_servers" % READY, token=env.admin)
    t.ok(st == 200 and u["servers"].get("", {}).get("stopped") is True,
         "include_stopped_servers: the stopped server is there, stopped: true", u)
    st, m = get(env, "/users?state=ready", token=env.admin)
    t.ok(st == 200 and m == [], "state=ready: nobody now", m)
    st, m = get(env, "/users?include_stopped_servers&state=inactive", token=env.admin)
    t.ok(st == 200 and any(u["name"] == READY and "" in u["servers"] for u in m),
         "the list with include_stopped_servers shows it too", m)


def main():
    env = Env("test_jupyterhub_api")
    session_world(env, edit=lambda cfg: cfg.replace(
        "sessions:\n", "sessions:\n  idle_timeout: %ds\n" % IDLE, 1))
    env.admin = env.api.token
    env.tok = {}
    for u in TOKEN_USERS:
        time.sleep(1.1)     # one second apart: the order they came to be in
        st, m = env.api.call("POST", "/users/%s/tokens" % u, {})
        env.tok[u] = (m or {}).get("token")
        env.tap.ok(st == 201 and env.tok[u], "a token for %s through the API" % u, m)
    time.sleep(1.1)
    st, m = env.api.call("POST", "/users/%s/server" % READY, {"user_options": {"container": "base"}})
    env.tap.eq(st, 202, "%s's server requested" % READY)
    m, seen = env.api.wait(READY, timeout=150)
    env.tap.ok(m is not None and m["ready"], "%s's notebook runs" % READY, seen)
    env.t_ready = time.time()
    st, _ = env.api.call("POST", "/users/%s/activity" % READY,
                         {"servers": {"": {"last_activity": iso(env.t_ready + 600)}}})
    env.tap.eq(st, 200, "its activity posted, ten minutes ahead")
    try:
        for fn in (test_version_info, test_pagination, test_filters_and_sort, test_models,
                   test_activity, test_scopes, test_tokens, test_culler, test_hub_clients,
                   test_stop):
            env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        session_cleanup(env, (READY,))
    env.finish()


if __name__ == "__main__":
    main()
