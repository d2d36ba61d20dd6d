"""test_pages.py: the HTML pages of daemon/web/ (pages.c and a file per page): home, the spawn form,
the pending page and stop, with their CSRF protection (a token bound to the
login cookie, Origin/Referer checks) and the strict form decoder fed hostile
bodies. The spawn flow runs a real job on the shared SLURM test environment
(the World of test_session.py); user names are this test's own (pgalice,
pgbob) so other tests sharing the environment are never touched.
"""
import os
import re
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, wait_for  # noqa: E402
from test_session import session_cleanup, session_world  # noqa: E402

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def login(env, user):
    """Redeems a one-time login link; returns the Cookie header value."""
    url = env.gw.ctl("login-url", user).stdout.strip()
    u = urllib.parse.urlsplit(url)
    st, hd, _ = env.gw.request("GET", u.path + "?" + u.query)
    m = re.match(r"(__Host-nbgate-session=[^;]+)", hd.get("set-cookie", ""))
    env.tap.ok(st == 302 and m is not None, "%s logs in with a one-time link" % user, (st, hd))
    return m.group(1) if m else None


def get(env, path, cookie=None):
    st, hd, out = env.gw.request("GET", path, cookie=cookie)
    return st, hd, out.decode("utf-8", "replace")


def post(env, path, body, cookie, headers=None):
    h = dict(FORM)
    h.update(headers or {})
    if isinstance(body, dict):
        body = urllib.parse.urlencode(body)
    if isinstance(body, str):
        body = body.encode()
    st, hd, out = env.gw.request("POST", path, cookie=cookie, body=body, headers=h)
    return st, hd, out.decode("utf-8", "replace")


def xsrf(page):
    m = re.search(r'name="_xsrf" value="([0-9a-f]{64})"', page)
    return m.group(1) if m else None


def test_anonymous(env):
    t = env.tap
    st, _, out = get(env, "/hub/home")
    t.ok(st == 200 and "not logged in" in out, "home without a cookie: the login message",
         (st, out[:300]))
    st, _, out = get(env, "/hub/spawn")
    t.eq(st, 403, "spawn form without a cookie: 403")
    st, _, _ = post(env, "/hub/stop", "_xsrf=" + "0" * 64, None)
    t.eq(st, 403, "stop without a cookie: 403")


def test_home_empty(env):
    t = env.tap
    st, hd, out = get(env, "/hub/home", env.alice)
    t.eq(st, 200, "home: 200")
    t.has(out, "Logged in as pgalice", "home names the user")
    t.ok('<a href="/hub/spawn">Start</a>' in out and ">Stop<" not in out,
         "home without servers: a Start link, no Stop button", out[-1500:])
    t.has(out, 'name="server"', "home has the named server field")
    t.ok("frame-ancestors 'none'" in hd.get("content-security-policy", ""),
         "pages carry a CSP that forbids framing", hd)


def test_form(env):
    t = env.tap
    st, _, out = get(env, "/hub/spawn", env.alice)
    t.eq(st, 200, "spawn form: 200")
    env.token = xsrf(out)
    t.ok(env.token is not None, "the form carries an _xsrf token")
    t.ok(re.search(r'<input id="f-cores" name="cores" type="number" min="1" max="2" step="1" '
                   r'required value="1"', out), "cores: the debug queue's min, max and default",
         out)
    t.ok(re.search(r'name="walltime" type="text" data-min="\d+" data-max="3600" required '
                   r'value="20m"', out), "walltime: the debug queue's max and default")
    t.has(out, "default 256MiB", "memory: the default is shown")
    t.ok('<option value="debug" selected>' in out and '<select id="f-cluster"' in out,
         "queue and cluster are selects, the default queue chosen")
    t.has(out, '<option value="base" selected>base — No container</option>',
          "containers are listed with their descriptions")
    t.has(out, '<option value="community">community</option>', "accounts are listed")
    t.ok('name="gpus"' not in out, "no GPU field for a queue without GPUs")
    t.ok(re.search(r'<label for="f-walltime">', out) and 'aria-describedby="h-walltime"' in out,
         "inputs have labels and hints")
    # what SLURM says of its partitions (sinfo, asked every minute) is shown with each queue
    live = wait_for(lambda: re.search(r'<option value="debug"[^>]*>debug — (\d+) of (\d+) cores idle '
                                      r'now</option>', get(env, "/hub/spawn", env.alice)[2]), 20)
    t.ok(live is not None and int(live.group(2)) == 8,
         "the queue list shows the partition's idle cores from sinfo (of the node's 8)",
         live.group(0) if live else None)
    st, _, out = get(env, "/hub/spawn?cluster=hpc&queue=compute", env.alice)
    t.ok(st == 200 and 'data-max="7200"' in out and '<option value="compute" selected>' in out,
         "?queue=compute shows that queue's limits", out[:200])
    st, _, out = post(env, "/hub/spawn", {"_xsrf": env.token, "_action": "reload",
                                          "cluster": "hpc", "queue": "compute",
                                          "cores": "2"}, env.alice)
    t.ok(st == 200 and 'data-max="7200"' in out and 'value="2"' in out,
         "Show limits (POST reload) keeps the entered values", st)
    st, hd, _ = get(env, "/hub/spawn?server=lab", env.alice)
    t.ok(st == 303 and hd.get("location") == "/hub/spawn/lab",
         "?server=lab goes to /hub/spawn/lab", (st, hd))
    st, _, _ = get(env, "/hub/spawn?server=Bad!", env.alice)
    t.eq(st, 400, "?server= with a bad name: 400")
    st, _, _ = get(env, "/hub/spawn/Bad!", env.alice)
    t.eq(st, 404, "/hub/spawn/<bad name>: 404")
    st, _, _ = get(env, "/hub/stop", env.alice)
    t.eq(st, 405, "GET /hub/stop: 405")


def test_invalid(env):
    t = env.tap
    st, _, out = post(env, "/hub/spawn", {"_xsrf": env.token, "_action": "start",
                                          "queue": "debug", "walltime": "3h"}, env.alice)
    t.eq(st, 400, "walltime above the queue's max: 400")
    t.has(out, "longer than queue debug allows", "the field's message is shown")
    t.has(out, '<span class="error" id="e-walltime">', "the message is next to walltime")
    t.has(out, 'aria-describedby="h-walltime e-walltime" aria-invalid="true"',
          "walltime points to its message (aria-describedby)")
    t.has(out, 'value="3h"', "the entered value is kept")
    st, _, out = post(env, "/hub/spawn", {"_xsrf": env.token, "queue": "<script>x</script>",
                                          "walltime": "\"><script>alert(1)</script>&'"},
                      env.alice)
    t.eq(st, 400, "queue=<script>: 400")
    t.ok("<script>x" not in out and "<script>alert" not in out,
         "the page does not contain the raw tags", out)
    t.has(out, "&lt;script&gt;x&lt;/script&gt;", "the queue name is shown escaped")
    t.has(out, 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;&#39;"',
          "an entered value with quotes, <, & is kept escaped in its attribute")
    st, _, out = post(env, "/hub/spawn", {"_xsrf": env.token, "cores": "many"}, env.alice)
    t.ok(st == 400 and "is not a whole number" in out and 'id="e-cores"' in out,
         "cores=many: 400 with the message at cores", (st, out[-800:]))


def test_csrf(env):
    t = env.tap
    good = {"queue": "debug", "walltime": "20m"}
    st, _, out = post(env, "/hub/spawn", good, env.alice)
    t.ok(st == 403 and "expired" in out, "POST without _xsrf: 403 with a clear page", st)
    st, _, _ = post(env, "/hub/spawn", dict(good, _xsrf="0" * 64), env.alice)
    t.eq(st, 403, "POST with a wrong _xsrf: 403")
    st, _, _ = post(env, "/hub/spawn", dict(good, _xsrf=env.token), env.bob)
    t.eq(st, 403, "pgalice's token with pgbob's cookie: 403")
    st, _, _ = env.gw.request("POST", "/hub/spawn", token=env.gw.token("pgalice"), headers=FORM,
                              body=urllib.parse.urlencode(dict(good, _xsrf=env.token)).encode())
    t.eq(st, 403, "an API token instead of the login cookie: 403")
    for h, what in (({"Origin": "https://evil.example"}, "a foreign Origin"),
                    ({"Origin": "null"}, "Origin: null"),
                    ({"Referer": "https://evil.example/hub/spawn"}, "a foreign Referer"),
                    ({"Origin": "https://127.0.0.1:%d.evil.example" % env.gw.https_port},
                     "an Origin that only starts with our host")):
        st, _, out = post(env, "/hub/spawn", dict(good, _xsrf=env.token), env.alice, h)
        t.ok(st == 403 and "another web site" in out, "POST with %s: 403" % what, st)
    st, _, _ = post(env, "/hub/stop", {"_xsrf": env.token}, env.alice,
                    {"Origin": "https://evil.example"})
    t.eq(st, 403, "stop with a foreign Origin: 403")


def test_hostile_forms(env):
    t = env.tap
    x = "_xsrf=" + env.token
    cases = (
        (x + "&queue=%zz", 400, "a bad percent escape"),
        (x + "&queue=%4", 400, "a cut percent escape"),
        (x + "&queue=a%00b", 400, "a NUL byte"),
        (x + "&queue=%ff%fe", 400, "bytes that are not UTF-8"),
        (x + "&queue=a&queue=b", 400, "a repeated field"),
        (x + "&_xsrf=" + env.token, 400, "a repeated _xsrf"),
        (x + "&&queue=a", 400, "an empty part"),
        (x + "&queue=a&", 400, "a trailing '&'"),
        (x + "&queue", 400, "a part without '='"),
        (x + "&=a", 400, "a part without a name"),
        (x + "&Queue=a", 400, "an upper-case field name"),
        (x + "&foo=1", 400, "a field the form does not have"),
        (x + "&queue=" + "a" * 2000, 400, "a value over 1024 bytes"),
        (x + "&queue=caf\xe9", 400, "a raw non-ASCII byte"),
        (x + "&queue=a b", 400, "a raw space"),
        (x + "&" + "&".join("f%s=1" % chr(97 + i) for i in range(20)), 400, "too many fields"),
        (x + "&queue=" + "a" * 9000, 413, "a body over 8 KiB"),
    )
    for body, code, what in cases:
        st, _, out = post(env, "/hub/spawn", body.encode("latin-1"), env.alice)
        t.ok(st == code, "form with %s: %d" % (what, code), (st, out[-400:]))
    st, _, _ = post(env, "/hub/spawn", x, env.alice, {"Content-Type": "text/plain"})
    t.eq(st, 415, "a form sent as text/plain: 415")
    st, _, _ = post(env, "/hub/spawn", x, env.alice, {"Content-Type": "application/json"})
    t.eq(st, 415, "a form sent as JSON: 415")
    st, _, out = post(env, "/hub/spawn", x + "&queue=a+b%2B%26", env.alice)
    t.ok(st == 400 and "&#39;a b+&amp;&#39; is not offered" in out,
         "'+' decodes to a space, %2B and %26 to '+' and '&'", out[-600:])
    t.ok(env.gw.alive(), "nbgated survives the hostile forms")


def test_spawn_flow(env):
    t = env.tap
    origin = {"Origin": "https://127.0.0.1:%d" % env.gw.https_port}
    st, hd, out = post(env, "/hub/spawn", {"_xsrf": env.token, "_action": "start",
                                           "cluster": "hpc", "queue": "debug",
                                           "walltime": "20m", "cores": "1",
                                           "memory": "256MiB", "container": "base",
                                           "account": ""}, env.alice, origin)
    t.ok(st == 303 and hd.get("location") == "/hub/spawn-pending",
         "valid POST (same Origin): 303 to /hub/spawn-pending", (st, hd, out[-500:]))
    st, _, out = get(env, "/hub/spawn-pending", env.alice)
    t.eq(st, 200, "pending page: 200")
    t.ok(re.search(r'phase: <strong id="phase">(requested|submitted|queued|starting|running)<',
                   out), "the pending page shows the phase", out[-1500:])
    t.has(out, 'data-url="/hub/api/users/pgalice/server/progress"',
          "the pending page knows its progress stream")
    t.ok('action="/hub/stop"' in out or "Open your notebook" in out,
         "the pending page has a Cancel button (or is already ready)")
    t.has(out, 'href="/hub/spawn-pending">Refresh</a>', "a refresh link for browsers without JS")
    t.ok(re.search(r'<script nonce="([0-9a-f]{32})">', out), "the script carries the CSP nonce")
    st, _, out = get(env, "/hub/spawn-pending/nosuch", env.alice)
    t.eq(st, 404, "pending page of a server never started: 404")
    st, _, out = post(env, "/hub/spawn", {"_xsrf": env.token}, env.alice)
    t.ok(st == 409 or st == 400, "a second start of the same server is refused", (st, out[-400:]))
    m, seen = env.api.wait("pgalice", timeout=150)
    t.ok(m is not None and m.get("ready"), "pgalice's server becomes ready", (seen, m))
    st, _, out = get(env, "/hub/home", env.alice)
    home = out
    t.has(out, '<a class="button" href="/user/pgalice/">Open</a>', "home: an Open link")
    t.ok('action="/hub/stop"' in out and ">Stop</button>" in out, "home: a Stop button")
    t.ok(re.search(r"<td>running</td><td>debug</td><td>hpc</td><td>\d+m", out),
         "home: phase, queue, cluster and time left", out[-1500:])
    st, _, out = get(env, "/hub/spawn-pending", env.alice)
    t.has(out, "Open your notebook", "pending page of a running server links the notebook")
    st, hd, _ = post(env, "/hub/stop", {"_xsrf": xsrf(home)}, env.alice, origin)
    t.ok(st == 303 and hd.get("location") == "/hub/home", "POST /hub/stop: 303 to home",
         (st, hd))
    m, seen = env.api.wait("pgalice", phases=("ended",), timeout=90)
    t.ok(m is not None and m["state"]["phase"] == "ended", "the server ends", (seen, m))
    st, _, out = get(env, "/hub/home", env.alice)
    t.ok('<a href="/hub/spawn">Start</a>' in out and "<td>ended</td>" in out,
         "home after the stop: ended, with a Start link", out[-1500:])


def test_failed(env):
    """A start that fails (a queue SLURM does not have) shows why on the pending page."""
    t = env.tap
    st, _, out = get(env, "/hub/spawn", env.bob)
    tok = xsrf(out)
    st, hd, _ = post(env, "/hub/spawn/lab", {"_xsrf": tok, "queue": "nbpagesnone"}, env.bob)
    t.ok(st == 303 and hd.get("location") == "/hub/spawn-pending/lab",
         "pgbob's named server 'lab': 303 to its pending page", (st, hd))
    env.api.wait("pgbob", "lab", phases=("ended",), timeout=60)
    st, _, out = get(env, "/hub/spawn-pending/lab", env.bob)
    t.ok(st == 200 and '<section id="failure">' in out and "The server ended" in out,
         "the failed start's pending page shows why (failure section visible)", out[-1500:])
    t.ok('id="cancel"' not in out, "no Cancel button once it has ended")


def html_esc(s):
    """What http_html_escape makes of @s."""
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def admin_rows(page):
    """The admin table's rows as lists of cell texts (user first)."""
    body = page.split("<tbody>", 1)[-1].split("</tbody>", 1)[0]
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        rows.append(re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S))
    return rows


def test_admin_access(env):
    """Only administrators see /hub/admin; others get 403, strangers 401."""
    t = env.tap
    st, _, out = get(env, "/hub/home", env.admin)
    t.has(out, '<a href="/hub/admin">', "an admin's home links to /hub/admin")
    st, _, out = get(env, "/hub/home", env.alice)
    t.ok("/hub/admin" not in out, "a user's home does not link to /hub/admin")
    st, _, out = get(env, "/hub/admin", env.alice)
    t.ok(st == 403 and "Administrators only" in out, "GET /hub/admin as pgalice: 403 page",
         (st, out[-400:]))
    tok = xsrf(get(env, "/hub/spawn", env.alice)[2])
    st, _, out = post(env, "/hub/admin/stop", {"_xsrf": tok, "session": "1"}, env.alice)
    t.eq(st, 403, "POST /hub/admin/stop as pgalice: 403")
    st, _, out = get(env, "/hub/admin")
    t.ok(st == 401 and "not logged in" in out, "GET /hub/admin without a cookie: 401 page", st)
    st, _, _ = post(env, "/hub/admin/stop", {"session": "1"}, None)
    t.eq(st, 401, "POST /hub/admin/stop without a cookie: 401")
    st, _, _ = env.gw.request("GET", "/hub/admin", token=env.gw.token("admin"))
    t.eq(st, 200, "an admin's API token also opens the page (GET only; POST needs the cookie)")
    st, _, _ = get(env, "/hub/admin/stop", env.admin)
    t.eq(st, 405, "GET /hub/admin/stop: 405")
    st, _, _ = get(env, "/hub/admin/nosuch", env.admin)
    t.eq(st, 404, "/hub/admin/nosuch: 404")


def test_admin_table(env):
    """The admin sees everyone's sessions, filters them, and bad filters are 400."""
    t = env.tap
    tok = xsrf(get(env, "/hub/spawn", env.bob)[2])
    st, hd, _ = post(env, "/hub/spawn", {"_xsrf": tok, "_action": "start", "queue": "debug",
                                         "walltime": "20m"}, env.bob)
    t.ok(st == 303, "pgbob starts his default server", (st, hd))
    m, seen = env.api.wait("pgbob", phases=("queued", "starting", "running"), timeout=90)
    t.ok(m is not None and m["state"].get("job_id"), "pgbob's server has a job", (seen, m))
    env.bob_job = m["state"].get("job_id") if m else None
    st, _, out = get(env, "/hub/admin", env.admin)
    t.eq(st, 200, "GET /hub/admin as admin: 200")
    rows = admin_rows(out)
    users = set(r[0] for r in rows)
    t.ok({"pgalice", "pgbob"} <= users, "the admin sees pgalice's and pgbob's sessions",
         rows)
    bob = [r for r in rows if r[0] == "pgbob" and r[1] == "default"]
    t.ok(bob and bob[0][2] == "hpc" and bob[0][3] == "debug" and bob[0][4] == env.bob_job and
         bob[0][5] in ("queued", "starting", "running") and re.match(r"^\d+[dhms]", bob[0][6]),
         "pgbob's row: cluster, queue, job id, state, age", bob)
    t.ok(bob and (bob[0][7] == "" if bob[0][5] == "queued" else
                  re.match(r"^\d+[dhms]", bob[0][7])),
         "time left: once the job runs", bob)
    t.ok(bob and (bob[0][8] == "" if bob[0][5] != "running" else
                  re.match(r"^\d+[dhms].* ago", bob[0][8])),
         "last used: how long ago, for a running session only", bob)
    t.ok(bob and "Stop</button>" in bob[0][12], "an active session has a Stop button", bob)
    lab = [r for r in rows if r[0] == "pgbob" and r[1] == "lab"]
    t.ok(lab and lab[0][5] == "ended" and lab[0][7] == "" and
         "<details><summary>Why</summary>" in lab[0][12] and
         "<pre>" in lab[0][12], "the failed 'lab' has a Why details element with a <pre>", lab)
    t.has(out, "<th scope=\"col\">Account</th><th scope=\"col\">Node</th>",
          "the table has account and node columns")
    st, _, out = get(env, "/hub/admin?user=pgbob", env.admin)
    rows = admin_rows(out)
    t.ok(st == 200 and rows and all(r[0] == "pgbob" for r in rows), "?user=pgbob: his only",
         rows)
    t.has(out, '<input id="f-user" name="user" maxlength="64" value="pgbob">',
          "the filter form keeps the user")
    st, _, out = get(env, "/hub/admin?state=ended", env.admin)
    rows = admin_rows(out)
    t.ok(st == 200 and rows and all(r[5] == "ended" for r in rows) and
         "Stop</button>" not in out, "?state=ended: ended ones only, no Stop buttons", rows)
    t.has(out, '<option value="ended" selected>', "the filter form keeps the state")
    st, _, out = get(env, "/hub/admin?user=pgalice&state=running", env.admin)
    t.ok(st == 200 and "No sessions match." in out, "a filter that matches nothing says so")
    for q, name in (("state=bogus", "state"), ("user=Bad!", "user"),
                    ("state=%3Cscript%3E", "state"), ("foo=1", "foo"),
                    ("user=a&user=b", "user")):
        st, _, out = get(env, "/hub/admin?" + q, env.admin)
        t.ok(st == 400 and name in out and "<script>" not in out,
             "?%s: 400 naming %s" % (q, name), (st, out[-300:]))


def test_admin_escaping(env):
    """Reasons and error output (the scheduler's words) are shown escaped."""
    t = env.tap
    st, j = env.api.call("GET", "/sessions?user=pgbob&state=ended")
    lab = [s for s in (j or {}).get("sessions", []) if s["name"] == "lab"]
    t.ok(st == 200 and lab and lab[0]["state"].get("reason"), "the failed start has a reason",
         (st, j))
    if not lab:
        return
    reason = lab[0]["state"]["reason"]
    err = lab[0]["state"].get("error_output") or "(no error output)"
    st, _, out = get(env, "/hub/admin?user=pgbob&state=ended", env.admin)
    t.has(out, "<td>%s</td>" % html_esc(reason), "the reason is in its cell, escaped")
    t.has(out, "<pre>%s</pre>" % html_esc(err), "the error output is in the <pre>, escaped")
    t.ok("<script" not in out and "<pre>" in out,
         "no raw script tags on the page")


def test_admin_stop(env):
    """The admin stops pgbob's server: 303 back with the filters; the job is cancelled."""
    t = env.tap
    st, _, out = get(env, "/hub/admin?user=pgbob&state=%s" % env.api.server("pgbob")[1][
        "state"]["phase"], env.admin)
    m = re.search(r'name="session" value="(\d+)"><input type="hidden" name="user" '
                  r'value="pgbob"><input type="hidden" name="state" value="(\w+)">', out)
    t.ok(m is not None, "the Stop form carries the session id and the filters", out[-1500:])
    if m is None:
        return
    sid, state, tok = m.group(1), m.group(2), xsrf(out)
    st, _, _ = post(env, "/hub/admin/stop", {"session": sid, "user": "pgbob"}, env.admin)
    t.eq(st, 403, "admin stop without _xsrf: 403")
    st, _, _ = post(env, "/hub/admin/stop", {"_xsrf": tok, "session": sid}, env.admin,
                    {"Origin": "https://evil.example"})
    t.eq(st, 403, "admin stop from another origin: 403")
    st, _, _ = post(env, "/hub/admin/stop", {"_xsrf": tok, "session": "x"}, env.admin)
    t.eq(st, 400, "admin stop with a bad session number: 400")
    st, hd, _ = post(env, "/hub/admin/stop", {"_xsrf": tok, "session": sid,
                                              "user": "pgbob", "state": state}, env.admin)
    want = "/hub/admin?user=pgbob&state=%s" % state
    t.ok(st == 303 and hd.get("location") == want, "admin stop: 303 to %s" % want, (st, hd))
    m, seen = env.api.wait("pgbob", phases=("ended",), timeout=90)
    t.ok(m is not None and m["state"]["phase"] == "ended", "pgbob's server ends", (seen, m))
    gone = wait_for(lambda: subprocess.run(["squeue", "-h", "-j", env.bob_job or "0"],
                                           capture_output=True, text=True).stdout.strip() == "",
                    60)
    t.ok(gone, "job %s is no longer in squeue" % env.bob_job)
    st, _, out = post(env, "/hub/admin/stop", {"_xsrf": tok, "session": sid}, env.admin)
    t.ok(st == 409 and "already" in out, "stopping it again: 409", st)
    st, _, out = get(env, "/hub/admin?user=pgbob", env.admin)
    t.ok(any(r[1] == "default" and r[5] == "ended" for r in admin_rows(out)),
         "the admin page shows it ended")


def test_logout(env):
    """Logout is a form with the CSRF token; a GET alone changes nothing; the old
    cookie is refused afterwards, even replayed, and after a restart."""
    t = env.tap
    ck = login(env, "pgcarol")
    st, hd, page = get(env, "/hub/logout", ck)
    t.ok(st == 200 and 'id="logout"' in page and "set-cookie" not in hd,
         "GET /hub/logout asks (a Log out button) and does not log out", (st, hd))
    tok = xsrf(page)
    st, _, page = get(env, "/hub/home", ck)
    t.ok("pgcarol" in page, "still logged in after the GET")
    st, _, _ = post(env, "/hub/logout", {"_xsrf": "0" * 64}, ck)
    t.eq(st, 403, "POST /hub/logout with a wrong _xsrf: 403")
    st, _, _ = post(env, "/hub/logout", {"_xsrf": tok}, ck, {"Origin": "https://evil.example"})
    t.eq(st, 403, "POST /hub/logout from another site: 403")
    st, hd, page = post(env, "/hub/logout", {"_xsrf": tok}, ck)
    t.ok(st == 200 and "__Host-nbgate-session=;" in hd.get("set-cookie", "") and
         "Max-Age=0" in hd.get("set-cookie", ""), "the form logs out and clears the cookie", (st, hd))
    st, _, page = get(env, "/hub/home", ck)
    t.ok("pgcarol" not in page, "the old cookie, replayed, is no longer a login")
    env.gw.stop()
    env.gw.start()
    st, _, page = get(env, "/hub/home", ck)
    t.ok("pgcarol" not in page, "... nor after nbgated restarts")
    st, _, page = get(env, "/hub/home", env.alice)
    t.ok("pgalice" in page, "other logins are not affected")


def main():
    env = Env("test_pages")
    session_world(env, edit=lambda cfg: cfg.replace(
        "    queues:\n",
        "    queues:\n      nbpagesnone:\n"
        "        walltime: {default: 20m, max: 1h}\n        cores: {default: 1, max: 2}\n"
        "        memory: {default: 256MiB, max: 1GiB}\n", 1))
    try:
        env.alice = login(env, "pgalice")
        env.bob = login(env, "pgbob")
        env.run(test_anonymous)
        env.run(test_home_empty)
        env.run(test_form)
        env.run(test_invalid)
        env.run(test_csrf)
        env.run(test_hostile_forms)
        env.run(test_spawn_flow)
        env.run(test_failed)
        env.admin = login(env, "admin")
        env.run(test_admin_access)
        env.run(test_admin_table)
        env.run(test_admin_escaping)
        env.run(test_admin_stop)
        env.run(test_logout)
        r = env.gw.ctl("status")
        env.tap.ok(env.gw.alive() and r.returncode == 0, "nbgated is still running", r.stderr)
    finally:
        session_cleanup(env, ("pgalice", "pgbob/lab", "pgbob"))
    env.finish()


if __name__ == "__main__":
    main()
