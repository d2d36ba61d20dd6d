"""jh_client.py: JupyterHub's own client code, unchanged, against nbgated.

Run with Debian's /usr/bin/python3 (package jupyterhub 3.0.0, which is
where jupyterhub.services.auth lives; the test's Python may not have it).
A JupyterHub service authenticates the requests it gets with HubAuth: it
asks the Hub's /hub/api/user who a token belongs to, with the service's own
token beside it, and a tornado handler that mixes in HubAuthenticated lets
in only the users and scopes it names. Both are driven here exactly as a
service would, against nbgated's API; what they answered is printed as one
JSON object for test_jupyterhub_api.py to check.

Usage: jh_client.py API_URL CA_FILE   (tokens on stdin, one JSON object:
{"service": ..., "user": ..., "user_name": ..., "other": ...,
"other_name": ...})
"""
import asyncio
import json
import sys

from tornado import httpclient, web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from jupyterhub.services.auth import HubAuth, HubAuthenticated


def main():
    api_url, ca = sys.argv[1], sys.argv[2]
    tok = json.load(sys.stdin)
    out = {}
    auth = HubAuth(api_url=api_url, api_token=tok["service"], client_ca=ca,
                   cache_max_age=0)

    def ask(key, token):
        try:
            out[key] = auth.user_for_token(token, use_cache=False)
        except Exception as e:          # HTTPError(500/502) when the answer is wrong
            out[key] = {"error": "%s: %s" % (type(e).__name__, e)}

    ask("user", tok["user"])
    ask("bogus", "not-a-token-" + "0" * 32)
    ask("service", tok["service"])
    if isinstance(out["user"], dict) and "scopes" in out["user"]:
        u, other = out["user"], tok["other_name"]
        out["check_scopes"] = {
            "read:users": sorted(auth.check_scopes({"read:users"}, u)),
            "self": sorted(auth.check_scopes({"read:users!user=" + u["name"]}, u)),
            "other": sorted(auth.check_scopes({"read:users!user=" + other}, u)),
            "admin:users": sorted(auth.check_scopes({"admin:users"}, u)),
            "list:users": sorted(auth.check_scopes({"list:users"}, u)),
        }

    # A service's handler: HubAuthenticated, only the one user let in.
    class Whoami(HubAuthenticated, web.RequestHandler):
        hub_users = {tok["user_name"]}

        @web.authenticated
        def get(self):
            self.write({"name": self.get_current_user()["name"]})

    Whoami.hub_auth = auth

    async def serve():
        app = web.Application([(r"/whoami", Whoami)], login_url="/login")
        socks = bind_sockets(0, "127.0.0.1")     # non-blocking, as tornado wants
        port = socks[0].getsockname()[1]
        srv = HTTPServer(app)
        srv.add_sockets(socks)
        client = httpclient.AsyncHTTPClient()
        res = {}
        for key, token in (("whoami_user", tok["user"]), ("whoami_other", tok["other"]),
                           ("whoami_bogus", "not-a-token"), ("whoami_none", None)):
            h = {"Authorization": "token " + token} if token else {}
            r = await client.fetch("http://127.0.0.1:%d/whoami" % port, headers=h,
                                   raise_error=False, follow_redirects=False,
                                   request_timeout=30)
            body = (r.body or b"").decode("utf-8", "replace")
            res[key] = {"code": r.code, "body": body[:300]}
        srv.stop()
        return res

    # HubAuth's own requests run on its background loop; ours on a new one.
    out.update(asyncio.new_event_loop().run_until_complete(serve()))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
