"""test_slurmrestd.py: the slurmrestd of scripts/testenv.sh (SLURM's REST API, JWT auth) and the
tokens nbgate mints for it (scheduler/slurmjwt.c through tests/unit/sched-cli token): what a
slurmrestd transport builds on. Checks that a minted token is taken like `scontrol token`'s, how
slurmrestd 22.05 answers a bad, expired or missing token and a wrong API version, and the
submit / list / cancel calls of OpenAPI v0.0.38 as nbcommunity."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, binary, parse_env, testenv  # noqa: E402


class Rest:
    def __init__(self, env, vals):
        self.env, self.v = env, vals
        self.url = vals["NB_SLURMRESTD_URL"]
        self.api = vals["NB_SLURMRESTD_API"]

    def token(self, user="nbcommunity", key=None, lifetime=120):
        r = subprocess.run([binary("tests/unit/sched-cli"), "token", user,
                            key or self.v["NB_SLURM_JWT_KEY"], str(lifetime)],
                           capture_output=True, text=True, timeout=30)
        return r.stdout.strip()

    def call(self, method, path, token=None, user="nbcommunity", body=None):
        h = {"Content-Type": "application/json"}
        if token is not None:
            h["X-SLURM-USER-NAME"] = user
            h["X-SLURM-USER-TOKEN"] = token
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, headers=h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                st, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            st, raw = e.code, e.read()
        try:
            return st, json.loads(raw)
        except ValueError:
            return st, {"text": raw.decode(errors="replace")}


def errors(m):
    return " ".join(e.get("description", "") for e in (m or {}).get("errors", []))


def test_tokens(env, rest):
    t = env.tap
    tok = rest.token()
    t.ok(tok.count(".") == 2, "sched-cli token mints a JWT with the cluster's key")
    st, m = rest.call("GET", "/slurm/%s/ping" % rest.api, tok)
    t.ok(st == 200 and m.get("pings", [{}])[0].get("ping") == "UP",
         "slurmrestd takes nbgate's token: ping UP", (st, m))
    t.eq(m.get("meta", {}).get("plugin", {}).get("type"), "openapi/%s" % rest.api,
         "the answer names the OpenAPI version (%s)" % rest.api)
    st, m = rest.call("GET", "/slurm/%s/ping" % rest.api)
    t.eq(st, 401, "no token: 401")
    bad = env.path("other.key")
    with open(bad, "wb") as f:
        f.write(os.urandom(32))
    st, m = rest.call("GET", "/slurm/%s/ping" % rest.api, rest.token(key=bad))
    t.ok(st >= 400, "a token signed with another key is refused (%d: %s)" % (st, errors(m)), m)
    short = rest.token(lifetime=1)
    time.sleep(2.5)
    st, m = rest.call("GET", "/slurm/%s/ping" % rest.api, short)
    t.ok(st >= 400, "an expired token is refused (%d: %s)" % (st, errors(m)), m)
    st, m = rest.call("GET", "/slurm/v0.0.30/ping", tok)
    t.eq(st, 404, "an API version slurmrestd does not offer: 404")


def test_jobs(env, rest):
    t = env.tap
    tok = rest.token()
    job = {"partition": "debug", "time_limit": 1, "account": "community", "name": "nbgate-rest",
           "comment": "nbgate:user=restcheck:session=0", "current_working_directory": "/tmp",
           "environment": {"PATH": "/usr/bin:/bin"}, "standard_output": "/dev/null",
           "standard_error": "/dev/null"}
    st, m = rest.call("POST", "/slurm/%s/job/submit" % rest.api, tok,
                      body={"script": "#!/bin/sh\nsleep 60\n", "job": job})
    jid = m.get("job_id")
    t.ok(st == 200 and isinstance(jid, int), "POST job/submit as nbcommunity: a job id", (st, m))
    if not isinstance(jid, int):
        return
    st, m = rest.call("GET", "/slurm/%s/jobs" % rest.api, tok)
    mine = [j for j in m.get("jobs", []) if j.get("job_id") == jid]
    t.ok(st == 200 and mine and mine[0].get("user_name") == "nbcommunity" and
         mine[0].get("account") == "community" and
         mine[0].get("comment") == "nbgate:user=restcheck:session=0",
         "GET jobs: every job in one call, with user, account and comment", mine)
    st, m = rest.call("GET", "/slurm/%s/jobs" % rest.api, tok, user="alice")
    t.ok(st >= 400, "a token for nbcommunity sent as alice is refused (%d: %s)" % (st, errors(m)))
    st, m = rest.call("DELETE", "/slurm/%s/job/%d" % (rest.api, jid), tok)
    t.eq(st, 200, "DELETE job/ID cancels it")
    st, m = rest.call("GET", "/slurm/%s/job/%d" % (rest.api, jid), tok)
    states = [j.get("job_state") for j in m.get("jobs", [])]
    t.ok(states and states[0] in ("CANCELLED", "COMPLETING"), "the job is cancelled", states)
    st, m = rest.call("GET", "/slurm/%s/partitions" % rest.api, tok)
    t.eq(sorted(p.get("name") for p in m.get("partitions", [])), ["compute", "debug"],
         "GET partitions: debug and compute")
    st, m = rest.call("GET", "/slurmdb/%s/associations?user=nbcommunity" % rest.api, tok)
    t.ok(st == 200 and "community" in [a.get("account") for a in m.get("associations", [])],
         "GET slurmdb associations: nbcommunity may charge community", (st, errors(m)))


def main():
    env = Env("test_slurmrestd")
    r = testenv("start")
    if not env.tap.ok(r.returncode == 0, "testenv started (with slurmrestd)", r.stdout + r.stderr):
        env.finish()
    rest = Rest(env, parse_env(testenv("env").stdout))
    env.run(test_tokens, rest)
    env.run(test_jobs, rest)
    env.finish()


if __name__ == "__main__":
    main()
