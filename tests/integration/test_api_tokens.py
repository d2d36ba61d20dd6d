"""test_api_tokens.py: the REST API's tokens and its bad-input answers
(daemon/ident/auth.c, daemon/web/api-tokens.c), against a real nbgated driving the shared
SLURM test environment (test_session.py's World).

A science gateway holds a service token with scopes (servers, read:servers,
read:users) for a listed set of users (or all) and names the user per
request in the URL, as with JupyterHub. Checked: a service token starts a
real SLURM job for a user it may act for, reads progress, stops it; other
users, missing scopes, revoked and expired tokens are refused with the right
status and a message; admin endpoints stay admin-only; tokens survive a
restart (only their SHA-256 is stored); garbage tokens and bodies are
answered, not crashed on; ten concurrent starts of one server submit one
job. Gateway users here (svcu1..svcu4) exist only in the gateway: jobs run
as the community user nbcommunity.

Artifacts (nbgated's log, its state dir, the jobs' output) are in the
printed directory.
"""
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, Gateway  # noqa: E402
from test_session import Api, session_cleanup, session_world  # noqa: E402

# JupyterHub's scope tree: servers holds read:servers and delete:servers; a
# server's "state" (nbgate's phase, job, reason) needs admin:server_state.
SCOPE_ALL = ["servers", "read:servers", "delete:servers", "admin:server_state"]


def ctl_issue(env, *args):
    """nbgatectl token issue ...: (returncode, token on stdout, stderr)."""
    r = env.gw.ctl("token", "issue", *args)
    return r.returncode, r.stdout.strip(), r.stderr


def db(env):
    c = sqlite3.connect(os.path.join(env.gw.dir, "nbgate.db"), timeout=10)
    return c


def comment_jobs(user):
    """Job ids (squeue and sacct) whose comment names gateway user @user."""
    tag = "nbgate:user=%s:" % user
    ids = set()
    r = subprocess.run(["squeue", "-h", "-u", "nbcommunity", "-o", "%i|%k"], capture_output=True,
                       text=True, timeout=30)
    for line in r.stdout.splitlines():
        jid, _, com = line.partition("|")
        if com.startswith(tag):
            ids.add(jid.strip())
    r = subprocess.run(["sacct", "-n", "-X", "-P", "-u", "nbcommunity", "-S", "now-1hour",
                        "-o", "JobID,Comment"], capture_output=True, text=True, timeout=30)
    for line in r.stdout.splitlines():
        jid, _, com = line.partition("|")
        if com.startswith(tag):
            ids.add(jid.strip())
    return ids


def sse_first(env, path, token):
    """Status, content type and the first event of a progress stream."""
    c = env.gw.conn(timeout=20)
    c.request("GET", "/hub/api" + path, headers={"Authorization": "token " + token})
    r = c.getresponse()
    ev = None
    if r.status == 200:
        lines = []
        while True:
            line = r.fp.readline()
            if not line or line in (b"\n", b"\r\n"):
                if lines:
                    break
                if not line:
                    break
                continue
            lines.append(line.decode().rstrip("\r\n"))
        data = [l[5:].strip() for l in lines if l.startswith("data:")]
        ev = json.loads(data[0]) if data else lines
    else:
        ev = json.loads(r.read() or b"null")
    ctype = r.getheader("Content-Type")
    c.close()
    return r.status, ctype, ev


def test_issue_and_list(env):
    t = env.tap
    rc, tok, err = ctl_issue(env, "--service", "gw", "--scope", "servers,admin:server_state",
                             "--users", "svcu1")
    t.ok(rc == 0 and len(tok) >= 40 and "\n" not in tok,
         "nbgatectl token issue --service gw --scope servers --users svcu1 prints a token", err)
    env.svc = tok
    t.ok("for service gw" in err and "svcu1" in err, "stderr says the id, service, scopes, users",
         err)
    rc, tok, err = ctl_issue(env, "--service", "gw", "--scope",
                             "read:servers,admin:server_state", "--users", "svcu1,svcu2")
    t.eq(rc, 0, "a read-only (read:servers) token for svcu1,svcu2")
    env.ro = tok
    r = env.gw.ctl("token", "issue", "--service", "gwall", "--scope",
                   "servers,read:users,list:users", "--all-users", "--json")
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    t.ok(j.get("service") == "gwall" and j.get("all_users") is True and
         j.get("scopes") == ["servers", "read:servers", "read:users", "list:users",
                             "read:users:activity", "delete:servers"] and j.get("token"),
         "--all-users --json: service, all_users, scopes (servers implies read:servers and "
         "delete:servers, read:users read:users:activity)", r.stdout)
    env.all = j.get("token")
    env.all_id = j.get("id")
    # refusals, each naming what is wrong
    rc, _, err = ctl_issue(env, "--service", "gw", "--scope", "servers,admin", "--users", "a")
    t.ok(rc != 0 and "admin" in err and "scope" in err, "an unknown scope is refused, named",
         err)
    rc, _, err = ctl_issue(env, "--service", "gw", "--scope", "servers", "--users", "a",
                           "--all-users")
    t.ok(rc != 0 and "--users" in err, "--users and --all-users together are refused", err)
    rc, _, err = ctl_issue(env, "--service", "gw", "--scope", "servers")
    t.ok(rc != 0, "a service token without --users/--all-users is refused", err)
    rc, _, err = ctl_issue(env, "--service", "gw", "--scope", "servers", "--users", "Bad;Name")
    t.ok(rc != 0 and "users[0]" in err, "a bad user name in --users is refused, named", err)
    rc, _, err = ctl_issue(env, "--service", "Bad;svc", "--scope", "servers", "--all-users")
    t.ok(rc != 0 and "service name" in err, "a bad service name is refused", err)
    rc, _, err = ctl_issue(env, "--service", "gw", "--scope", "servers", "--all-users",
                           "--expires", "soon")
    t.ok(rc != 0 and "--expires" in err, "a bad --expires is refused", err)
    st, m = env.api.call("POST", "/services/gw/tokens", {"scopes": "servers", "users": "svcu1"})
    t.ok(st == 400 and m["status"] == 400 and "users" in m["message"],
         "API: users not a list: 400 naming the field", m)
    st, m = env.api.call("POST", "/services/gw/tokens", {"scopes": [1], "all_users": True})
    t.ok(st == 400 and "scopes" in m["message"], "API: scopes not strings: 400", m)
    st, m = env.api.call("POST", "/services/gw/tokens", {"scopes": ["servers"], "all_users": True,
                                                         "expires_in": -5})
    t.ok(st == 400 and "expires_in" in m["message"], "API: negative expires_in: 400", m)
    # list: ids, owners, scopes, users, times; never a secret
    r = env.gw.ctl("token", "list", "--json")
    toks = json.loads(r.stdout)["tokens"] if r.returncode == 0 else []
    gw = [x for x in toks if x["kind"] == "service" and x["name"] == "gw"]
    t.ok(len(gw) == 2 and any(x["users"] == ["svcu1"] and x["scopes"] == SCOPE_ALL for x in gw)
         and any(x["users"] == ["svcu1", "svcu2"] and x["scopes"] == ["read:servers", "admin:server_state"]
                 for x in gw), "token list --json: gw's two tokens, scopes and users", gw)
    t.ok(all(len(x["id"]) == 12 and x["created"] and x["expires"] is None for x in gw),
         "each has a 12-digit id, a creation time, no expiry", gw)
    t.ok(any(x["kind"] == "user" and x["name"] == "admin" for x in toks),
         "the admin's user token is listed too", toks)
    r2 = env.gw.ctl("token", "list")
    t.ok(r2.returncode == 0 and "gwall" in r2.stdout and "*all*" in r2.stdout,
         "token list (table) shows the services", r2.stdout + r2.stderr)
    for secret in (env.svc, env.ro, env.all):
        t.ok(secret and secret not in r.stdout and secret not in r2.stdout,
             "no secret in token list")
    rows = db(env).execute("SELECT digest, kind, user, scopes, users FROM tokens"
                           " WHERE kind = 'service'").fetchall()
    dig = hashlib.sha256(env.svc.encode()).hexdigest()
    t.ok((dig, "service", "gw", "servers,read:servers,delete:servers,admin:server_state",
          "svcu1") in rows,
         "the database keeps the token's SHA-256, kind, service, scopes, users", rows)
    t.ok(not any(env.svc in str(x) for x in rows), "the database never has the secret")


def test_whoami(env):
    t = env.tap
    st, m = Api(env.gw, env.svc).call("GET", "/user")
    t.ok(st == 200 and m["kind"] == "service" and m["name"] == "gw" and
         m["scopes"] == [x + "!user=svcu1" for x in SCOPE_ALL] and m["users"] == ["svcu1"] and
         m["all_users"] is False,
         "GET /hub/api/user with the service token: kind service, name, scopes (each "
         "!user=svcu1, as JupyterHub writes a filter), users", m)
    st, m = Api(env.gw, env.all).call("GET", "/user")
    t.ok(st == 200 and m["all_users"] is True and "read:users" in m["scopes"],
         "GET /hub/api/user with the all-users token", m)
    st, m = Api(env.gw, env.ustok).call("GET", "/user")
    t.ok(st == 200 and m["kind"] == "user" and m["name"] == "svcu4" and m["admin"] is False,
         "GET /hub/api/user with a user's token: kind user, its name", m)
    t.ok(m and m["scopes"] and all(x.endswith("!user=svcu4") for x in m["scopes"]) and
         "servers!user=svcu4" in m["scopes"] and
         not any(x.split("!")[0] in ("admin:users", "list:users", "read:hub") for x in m["scopes"]),
         "attack whoami-scopes-unfiltered: a user's token shows only scopes on that user", m)
    st, m = env.api.call("GET", "/user")
    t.ok(st == 200 and m["name"] == "admin" and m["admin"] is True and m["scopes"][0] == "admin"
         and "admin:users" in m["scopes"] and not any("!" in x for x in m["scopes"]),
         "GET /hub/api/user with an admin's token: admin, then every scope, unfiltered", m)
    st, m = Api(env.gw, None).call("GET", "/user")
    t.eq(st, 403, "GET /hub/api/user without a token: 403")


def test_service_flow(env):
    t = env.tap
    svc, ro = Api(env.gw, env.svc), Api(env.gw, env.ro)
    st, m = svc.call("POST", "/users/svcu1/server", {"user_options": {"container": "base"}})
    t.eq(st, 202, "service gw starts svcu1's server: 202")
    sid = m["state"]["session"] if st == 202 else None
    t.ok(m and m.get("state", {}).get("started_by") == "service:gw for svcu1",
         "the session says it was started by 'service:gw for svcu1'", m)
    st, m = svc.call("POST", "/users/svcu2/server", {})
    t.ok(st == 403 and m["status"] == 403 and m["message"] == "this token may not act for svcu2",
         "the same token for svcu2: 403 'this token may not act for svcu2'", m)
    st, m = ro.call("POST", "/users/svcu1/server", {})
    t.ok(st == 403 and "'servers'" in m["message"],
         "a read:servers token POSTs: 403 naming the missing scope 'servers'", m)
    st, m = ro.call("DELETE", "/users/svcu1/server")
    t.ok(st == 403 and "'delete:servers'" in m["message"],
         "... and DELETE: 403 naming 'delete:servers' (JupyterHub's scope for a stop)", m)
    # JupyterHub: read:servers is enough for the user model (with its servers)
    st, m = ro.call("GET", "/users/svcu1")
    t.ok(st == 200 and "svcu1" == m["name"] and "servers" in m,
         "GET /users/svcu1 with read:servers: the model, with servers", m)
    st, m = ro.call("GET", "/users")
    t.ok(st == 403 and "'list:users'" in m["message"], "GET /users without list:users: 403", m)
    st, m = Api(env.gw, env.all).call("GET", "/users")
    t.ok(st == 200 and any(u["name"] == "svcu1" for u in m),
         "GET /users with list:users (all users): svcu1 is listed", m)
    st, m = Api(env.gw, env.all).call("POST", "/users/svcu1/tokens")
    t.ok(st == 403 and "'tokens'" in m["message"],
         "a service token without 'tokens' cannot issue a user's token (403)", m)
    for meth, path in (("GET", "/routes"), ("GET", "/sessions"), ("GET", "/tokens"),
                       ("POST", "/orphans"), ("GET", "/status"),
                       ("POST", "/users/svcu1/login-url"),
                       ("POST", "/services/gw/tokens"), ("DELETE", "/routes/svcu1")):
        st, m = Api(env.gw, env.all).call(meth, path)
        t.ok(st == 403 and "administrator" in m["message"],
             "a service token: %s %s is admin-only (403)" % (meth, path), (st, m))
    st, _, out = env.gw.request("GET", "/hub/metrics", token=env.all)
    t.eq(st, 403, "a service token: /hub/metrics is admin-only (403)")
    st, _, out = env.gw.request("GET", "/user/svcu1/api/status", token=env.svc)
    t.ok(st in (401, 403, 302), "a service token does not open svcu1's notebook (%d)" % st)
    # progress with read:servers
    st, ctype, ev = sse_first(env, "/users/svcu1/server/progress", env.ro)
    t.ok(st == 200 and ctype.startswith("text/event-stream") and isinstance(ev, dict) and
         "progress" in ev and ev.get("session") == sid,
         "read:servers token reads the progress stream (first event)", (st, ctype, ev))
    st, ctype, ev = sse_first(env, "/users/svcu2/server/progress", env.svc)
    t.ok(st == 403 and "svcu2" in ev["message"], "progress of a user outside the set: 403", ev)
    m, seen = ro.wait("svcu1", timeout=150)
    t.ok(m is not None and m["ready"], "svcu1's notebook runs (polled with read:servers)",
         (seen, m and m["state"]))
    t.diag("phases seen: %s" % seen)
    job = m and m["state"]["job_id"]
    t.eq(comment_jobs("svcu1"), {job}, "SLURM has exactly svcu1's one job (comment names svcu1)")
    st, _ = svc.call("DELETE", "/users/svcu1/server")
    t.eq(st, 202, "service gw stops svcu1's server: 202")
    m, seen = ro.wait("svcu1", phases=("ended",), timeout=90)
    t.ok(m is not None and "stopped by service:gw for svcu1" in (m["state"]["reason"] or ""),
         "it ends, 'stopped by service:gw for svcu1'", m and m["state"])
    aud = db(env).execute("SELECT actor, action, object FROM audit WHERE actor LIKE"
                          " 'service:%'").fetchall()
    t.ok(("service:gw for svcu1", "session-start", "svcu1") in aud and
         ("service:gw for svcu1", "session-stop", "svcu1") in aud,
         "the audit log records start and stop as 'service:gw for svcu1'", aud)
    st, m = Api(env.gw, env.all).call("GET", "/users/svcu1")
    t.ok(st == 200 and m["name"] == "svcu1", "read:users: GET /users/svcu1", m)


def test_revoke_expire(env):
    t = env.tap
    rc, tmp, _ = ctl_issue(env, "--service", "gwtmp", "--scope", "read:servers", "--users", "x")
    st, _ = Api(env.gw, tmp).call("GET", "/user")
    t.eq(st, 200, "a fresh token works")
    r = env.gw.ctl("token", "list", "--json")
    tid = [x["id"] for x in json.loads(r.stdout)["tokens"] if x["name"] == "gwtmp"]
    t.ok(tid and [x for x in json.loads(r.stdout)["tokens"] if x["name"] == "gwtmp"][0][
        "last_used"], "token list shows when it was last used")
    r = env.gw.ctl("token", "revoke", tid[0] if tid else "none")
    t.ok(r.returncode == 0 and "revoked" in r.stdout, "nbgatectl token revoke ID", r.stderr)
    st, m = Api(env.gw, tmp).call("GET", "/users/x/server")
    t.ok(st == 403 and "revoked" in m["message"], "a revoked token: 403", m)
    r = env.gw.ctl("token", "revoke", "--id", tid[0] if tid else "none")
    t.ok(r.returncode != 0 and "404" in r.stderr, "revoking it again: no such token", r.stderr)
    # expiry: one that lapses in 1 s, and one whose expiry is set in the past
    rc, short, err = ctl_issue(env, "--service", "gwexp", "--scope", "servers", "--users",
                               "svcu1", "--expires", "1s")
    t.ok(rc == 0 and "expires 20" in err, "--expires 1s: the expiry is shown", err)
    st, _ = Api(env.gw, short).call("GET", "/users/svcu1/server")
    t.ok(st in (200, 404), "before it expires it is accepted (%d)" % st)
    time.sleep(2.2)
    st, m = Api(env.gw, short).call("POST", "/users/svcu1/server", {})
    t.ok(st == 403 and "expired" in m["message"], "after expiry: 403 'this token has expired'", m)
    rc, ushort, _ = ctl_issue(env, "svcu4", "--expires", "1s")
    time.sleep(2.2)
    st, m = Api(env.gw, ushort).call("GET", "/users/svcu4")
    t.ok(st == 403 and "expired" in m["message"], "a user's token expires too: 403", m)
    env.expired = short
    # --service revokes all of a service's tokens
    rc, a, _ = ctl_issue(env, "--service", "gwrev", "--scope", "servers", "--all-users")
    rc, b, _ = ctl_issue(env, "--service", "gwrev", "--scope", "read:users", "--all-users")
    r = env.gw.ctl("--json", "token", "revoke", "--service", "gwrev")
    t.ok(r.returncode == 0 and json.loads(r.stdout)["revoked"] == 2,
         "token revoke --service gwrev: 2 revoked", r.stdout + r.stderr)
    t.ok(Api(env.gw, a).call("GET", "/user")[0] == 403 and
         Api(env.gw, b).call("GET", "/user")[0] == 403, "both answer 403 now")
    rc, c, _ = ctl_issue(env, "svcu5")
    r = env.gw.ctl("token", "revoke", "svcu5")
    t.ok(r.returncode == 0 and Api(env.gw, c).call("GET", "/users/svcu5")[0] == 403,
         "token revoke USER still revokes a user's tokens", r.stderr)
    env.revoked = tmp


def test_restart(env):
    t = env.tap
    env.gw.stop(signal.SIGTERM)
    env.gw.start()
    st, m = Api(env.gw, env.svc).call("GET", "/user")
    t.ok(st == 200 and m["kind"] == "service" and m["users"] == ["svcu1"] and
         m["scopes"] == [x + "!user=svcu1" for x in SCOPE_ALL],
         "after a restart the service token works, same scopes/users", m)
    st, m = Api(env.gw, env.svc).call("GET", "/users/svcu2/server")
    t.eq(st, 403, "... and is still limited to svcu1")
    st, m = Api(env.gw, env.ro).call("POST", "/users/svcu1/server", {})
    t.ok(st == 403 and "'servers'" in m["message"], "... the read-only one still lacks servers",
         m)
    st, m = Api(env.gw, env.revoked).call("GET", "/user")
    t.eq(st, 403, "the revoked token stays revoked")
    st, m = Api(env.gw, env.expired).call("GET", "/user")
    t.ok(st == 403 and "expired" in m["message"], "the expired token stays expired", m)
    st, m = Api(env.gw, env.ustok).call("GET", "/users/svcu4")
    t.eq(st, 200, "a user's token keeps working after the restart")
    st, _ = env.api.call("GET", "/status")
    t.eq(st, 200, "the admin's token too")


def test_bad_tokens(env):
    t = env.tap
    st, _, out = env.gw.request("GET", "/hub/api/users/svcu1/server",
                                headers={"Authorization": "token \x7f\x01%00"})
    t.ok(st in (400, 403), "control characters in the token header: %d (HTTP-level refusal "
         "or 403)" % st, out[:200])
    for what, hdr in (("empty", "token "), ("garbage", "token not-a-token"),
                      ("percent-encoded", "token %00%ff"), ("long", "token " + "A" * 4000),
                      ("a Bearer header", "Bearer " + env.svc), ("no scheme", env.svc)):
        try:
            st, _, out = env.gw.request("GET", "/hub/api/users/svcu1/server",
                                        headers={"Authorization": hdr})
        except Exception as e:
            st, out = None, str(e).encode()
        body = {}
        try:
            body = json.loads(out)
        except ValueError:
            pass
        t.ok(st == 403 and body.get("status") == 403 and body.get("message"),
             "%s token: 403 with {status, message}" % what, (st, out[:200]))
    try:
        st, _, out = env.gw.request("GET", "/hub/api/user",
                                    headers={"Authorization": "token " + "x" * 100000})
    except Exception as e:
        st, out = None, str(e)
    t.ok(st in (400, 403, 431) or st is None, "a 100 KB token header is refused (%s)" % st)
    st, m = Api(env.gw, env.ustok).call("POST", "/users/svcu1/server", {})
    t.eq(st, 403, "svcu4's user token cannot start svcu1's server")
    st, m = Api(env.gw, env.ustok).call("GET", "/tokens")
    t.eq(st, 403, "a user's token cannot list tokens")
    st, _, out = env.gw.request("GET", "/hub/health")
    t.ok(st == 200 and env.gw.alive(), "nbgated keeps serving after the bad tokens")


def test_malformed(env):
    t = env.tap

    def post(body, ctype="application/json", user="svcu2"):
        h = {"Content-Type": ctype} if ctype else {}
        st, _, out = env.gw.request("POST", "/hub/api/users/%s/server" % user,
                                    token=env.api.token, body=body, headers=h)
        try:
            return st, json.loads(out)
        except ValueError:
            return st, out
    for what, body in (("not JSON", b"{nope"), ("a JSON array", b"[1, 2]"),
                       ("a JSON string", b'"x"'), ("truncated", b'{"user_options": {'),
                       ("NUL bytes", b'{"a":\x00}')):
        st, m = post(body)
        t.ok(st == 400 and isinstance(m, dict) and m.get("status") == 400 and
             "JSON" in m.get("message", ""), "%s body: 400 {status, message}" % what, (st, m))
    st, m = post(b'{"user_options": [1]}')
    t.ok(st == 400 and "user_options" in m["message"], "user_options an array: 400", m)
    for key, val in (("cores", "many"), ("cores", [1]), ("memory", {}), ("walltime", True),
                     ("queue", 5), ("cores", -1), ("cores", 2 ** 40)):
        st, m = post(json.dumps({"user_options": {key: val}}).encode())
        t.ok(st == 400 and isinstance(m, dict) and m.get("field") == key,
             "user_options.%s = %r: 400 naming the field" % (key, val), (st, m))
    st, m = post(json.dumps({"user_options": {"cores": 10 ** 30}}).encode())
    t.ok(st == 400 and isinstance(m, dict) and m.get("status") == 400,
         "an integer beyond 64 bits: 400 (the JSON parser refuses it)", (st, m))
    st, m = post(json.dumps({"user_options": {"zz_unknown": 1}}).encode())
    t.ok(st == 400 and isinstance(m, dict), "an unknown option: 400", (st, m))
    st, m = post(b"{}", ctype="text/plain")
    t.ok(st == 415 and m.get("status") == 415, "a text/plain body: 415", (st, m))
    big = json.dumps({"user_options": {"container": "x" * (900 * 1024)}}).encode()
    st, m = post(big)
    t.ok(st == 400 and isinstance(m, dict) and m.get("field") == "container",
         "a 900 KB body: 400 naming the field", (st, str(m)[:200]))
    try:
        st, m = post(b"{" + b" " * (2 * 1024 * 1024) + b"}")
    except Exception as e:
        st, m = None, str(e)
    t.ok(st == 413 or st is None, "a 2 MB body: 413 (or the connection is closed)", (st, m))
    st, m = env.api.call("GET", "/users/svcu2/server")
    t.eq(st, 404, "none of these started a server for svcu2")
    # unknown and invalid user names
    st, m = env.api.call("GET", "/users/nosuchuser9")
    t.ok(st == 200 and m["servers"] == {}, "GET an unknown user: 200 with no servers "
         "(gateway users exist implicitly)", m)
    st, m = env.api.call("GET", "/users/nosuchuser9/server")
    t.ok(st == 404 and m["status"] == 404, "GET an unknown user's server: 404", m)
    st, m = env.api.call("DELETE", "/users/nosuchuser9/server")
    t.eq(st, 404, "DELETE an unknown user's server: 404")
    st, m = env.api.call("GET", "/users/nosuchuser9/servers/nope/progress")
    t.eq(st, 404, "progress of an unknown server: 404")
    for name in ("Upper", "semi;colon", "a" * 300, "%2e%2e", "-dash", "sp%20ace"):
        st, m = env.api.call("POST", "/users/%s/server" % name, {})
        t.ok(st == 400 and isinstance(m, dict) and m.get("status") == 400,
             "invalid user name %r: 400" % name[:20], (st, m))
        st, m = Api(env.gw, env.all).call("POST", "/users/%s/server" % name, {})
        t.eq(st, 400, "... also for a service token (%r)" % name[:20])
    st, m = env.api.call("POST", "/users/svcu2/servers/Bad%20Name", {})
    t.eq(st, 400, "an invalid server name: 400")
    st, m = env.api.call("PUT", "/users/svcu2/server", {})
    t.eq(st, 405, "PUT on a server: 405")
    t.ok(env.gw.alive(), "nbgated is still running after the malformed requests")


def test_concurrent(env, n=10):
    """n POSTs for the same server over n connections at once: one job."""
    t = env.tap
    user = "svcu3"
    results = [None] * n
    barrier = threading.Barrier(n)
    conns = [env.gw.conn(timeout=60) for _ in range(n)]
    for c in conns:
        c.connect()
    body = json.dumps({"user_options": {"container": "base"}}).encode()

    def one(i):
        try:
            barrier.wait(10)
            conns[i].request("POST", "/hub/api/users/%s/server" % user, body=body,
                             headers={"Authorization": "token " + env.all,
                                      "Content-Type": "application/json"})
            r = conns[i].getresponse()
            results[i] = (r.status, json.loads(r.read() or b"null"))
        except Exception as e:
            results[i] = (None, str(e))
    ths = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(90)
    for c in conns:
        c.close()
    codes = sorted(r[0] for r in results if r)
    t.diag("concurrent start answers: %s" % codes)
    ok = [r for r in results if r and r[0] == 202]
    busy = [r for r in results if r and r[0] == 400 and "already" in r[1].get("message", "")]
    t.ok(len(ok) == 1 and len(busy) == n - 1,
         "%d concurrent starts: one 202, %d x 400 'already pending/running'" % (n, n - 1),
         results)
    st, m = env.api.server(user)
    job = None
    if st == 200:
        m, seen = env.api.wait(user, phases=("submitted", "queued", "starting", "running"),
                               timeout=60)
        job = m and m["state"]["job_id"]
    time.sleep(5)   # let any second submission show up
    jobs = comment_jobs(user)
    t.ok(job is not None and jobs == {job},
         "exactly one SLURM job carries nbgate:user=%s (%s)" % (user, sorted(jobs)), m)
    st, m = env.api.call("GET", "/sessions?user=%s" % user)
    t.eq(len((m or {}).get("sessions", [])), 1, "one session for %s in nbgated" % user)
    # and n concurrent stops: one 202, the rest 202 (stopping) or 404
    results = [None] * n
    barrier = threading.Barrier(n)

    def stop(i):
        try:
            barrier.wait(10)
            st, _ = Api(env.gw, env.all).call("DELETE", "/users/%s/server" % user)
            results[i] = st
        except Exception as e:
            results[i] = str(e)
    ths = [threading.Thread(target=stop, args=(i,)) for i in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(90)
    t.ok(all(r in (202, 204, 404) for r in results) and results.count(202) + results.count(204)
         >= 1, "%d concurrent stops: 202/204/404 only" % n, results)
    m, seen = env.api.wait(user, phases=("ended",), timeout=90)
    t.ok(m is not None and m["state"]["phase"] == "ended", "svcu3's server ended",
         m and m["state"])


def test_migration(env):
    """A schema-3 database (before service tokens) with a user's token is
    brought to schema 4 by a second nbgated, and the token keeps working."""
    t = env.tap
    gw2 = Gateway(env, name="nbgated-v3")
    src = db(env)
    dst = sqlite3.connect(os.path.join(gw2.dir, "nbgate.db"))
    src.backup(dst)
    src.close()
    dst.execute("DELETE FROM tokens WHERE kind != 'user'")
    for col in ("kind", "scopes", "users", "last_used", "note"):
        dst.execute("ALTER TABLE tokens DROP COLUMN %s" % col)
    dst.execute("DELETE FROM sessions")
    dst.execute("DELETE FROM routes")
    # what later schemas added goes too, so that this is a schema-3 database
    schema3 = {"routes", "tokens", "audit", "sessions", "session_events"}
    for (name,) in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        if name not in schema3 and not name.startswith("sqlite_"):
            dst.execute("DROP TABLE %s" % name)
    # and the columns later schemas added to schema 3's tables (run_as, a successor's ...)
    schema3_cols = {
        "routes": ["name", "owner", "key", "token", "created", "enroll", "job", "session"],
        "sessions": ["id", "user", "server", "cluster", "queue", "account", "container",
                     "walltime", "cores", "memory", "gpus", "options", "actor", "state",
                     "reason", "job", "job_dir", "node", "error_output", "created", "started",
                     "ready", "ended"],
    }
    for table, keep in schema3_cols.items():
        for (col,) in [(r[1],) for r in dst.execute("PRAGMA table_info(%s)" % table)]:
            if col not in keep:
                dst.execute("ALTER TABLE %s DROP COLUMN %s" % (table, col))
    dst.execute("PRAGMA user_version = 3")
    dst.commit()
    cols = [r[1] for r in dst.execute("PRAGMA table_info(tokens)")]
    made = {table: [r[1] for r in dst.execute("PRAGMA table_info(%s)" % table)]
            for table in schema3_cols}
    dst.close()
    t.eq(cols, ["digest", "user", "created", "expires"], "a schema-3 tokens table is made")
    t.eq(made, schema3_cols, "schema-3 routes and sessions tables are made")
    gw2.start()
    try:
        st, m = Api(gw2, env.ustok).call("GET", "/users/svcu4")
        t.eq(st, 200, "after the migration svcu4's token (issued under schema 3) works")
        st, m = Api(gw2, env.ustok).call("GET", "/user")
        t.ok(st == 200 and m["kind"] == "user" and m["name"] == "svcu4",
             "... and is a user's token", m)
        st, _ = Api(gw2, env.svc).call("GET", "/user")
        t.eq(st, 403, "the service tokens removed from that copy are unknown there")
        log = env.procs.log("nbgated-v3")
        t.ok("schema now at version 4" in log, "nbgated logs the migration to schema 4")
        r = gw2.ctl("token", "issue", "--service", "gw", "--scope", "read:users", "--all-users")
        t.ok(r.returncode == 0 and Api(gw2, r.stdout.strip()).call("GET", "/user")[0] == 200,
             "a service token can be issued on the migrated database")
    finally:
        gw2.stop()


def test_no_secrets_logged(env):
    t = env.tap
    log = env.procs.log("nbgated")
    leaked = [s for s in (env.svc, env.ro, env.all, env.ustok) if s and s in log]
    t.eq(leaked, [], "no token secret in nbgated's log")
    t.ok("issued for service gw" in log, "the log records issuing (ids, not secrets)")


def main():
    env = Env("test_api_tokens")
    session_world(env)
    rc, env.ustok, err = ctl_issue(env, "svcu4")
    env.tap.ok(rc == 0 and env.ustok, "a user token for svcu4 (nbgatectl token issue USER)", err)
    try:
        for fn in (test_issue_and_list, test_whoami, test_service_flow, test_revoke_expire,
                   test_restart, test_bad_tokens, test_malformed, test_concurrent,
                   test_migration, test_no_secrets_logged):
            env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        session_cleanup(env, ("svcu1", "svcu2", "svcu3"))
    env.finish()


if __name__ == "__main__":
    main()
