"""test_charging.py: who pays (issue 6). One nbgated with two clusters on the same
real SLURM (+ slurmdbd enforcing associations): "hpc" charges the community account
(jobs run as nbcommunity, charged to community, naming the gateway user) and "uhpc"
charges each user's own allocation: nbgated logs in to the real OpenSSH login node
*as the user* with a short-lived OpenSSH certificate it signs with the test SSH CA
(the login node has no authorized key for the key nbgated generates: only the CA
lets it in), after the user proved who they are with an X.509 credential from the
test PKI (tests/pki/make-pki.sh): uploaded, or fetched by a MyProxy logon from
Debian's real myproxy-server. Refused credentials (expired, other CA, unmapped,
tampered, revoked, wrong passphrase, key of another certificate) get clear
messages. alice cannot charge bob's allocation: nbgated refuses before submitting,
and SLURM refuses too. A restart keeps the identity and finds the user's job.
A second nbgated with credentials.from_login shows the certificate path without
X.509 (bob's login alone -> a job as bob on alloc_bob).

Artifacts (nbgated logs, PKI, job output copied from the users' homes) are in the
printed directory.
"""
import glob
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, Gateway, free_port, wait_for  # noqa: E402
from test_session import Api, sacct_state, session_world, squeue_field  # noqa: E402

ALICE_DN = "/C=US/O=Example/CN=Alice Smith"
MP_PASS = "alice-myproxy-pass"


def user_cluster(w, name="uhpc"):
    """World's cluster, but charging: user (no community login; the test SSH CA signs)."""
    return w.cluster(name, "slurm", user_ca=w.v["NB_SSH_USER_CA"])


def pem(env, name):
    with open(os.path.join(env.pki, name)) as f:
        return f.read()


def cred_post(env, user, body, token=None):
    st, hd, out = env.gw.request("POST", "/hub/api/users/%s/credential" % user,
                                 token=token or env.tok[user], body=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, timeout=60)
    try:
        return st, json.loads(out)
    except ValueError:
        return st, out


def jobs_of(user):
    r = subprocess.run(["squeue", "-h", "-u", user, "-o", "%i"], capture_output=True, text=True,
                       timeout=30)
    return r.stdout.split()


def test_no_credential(env):
    t = env.tap
    st, m = env.api.call("GET", "/users/alice/credential")
    t.eq(st, 404, "alice has no credential yet: 404")
    st, m = env.api.call("POST", "/users/alice/server", {"cluster": "uhpc"})
    t.eq(st, 403, "a user-charged cluster without a credential: 403")
    t.has(str(m), "runs notebooks as you, charged to your own allocation: give nbgate your "
          "X.509 credential first", "the message says what to do")
    t.eq(jobs_of("alice"), [], "nothing was submitted for alice")


def test_refused(env):
    t = env.tap
    cases = (
        ("expired", {"certificate": pem(env, "expired.pem"), "key": pem(env, "expired.key")},
         "the certificate expired on"),
        ("from another CA", {"certificate": pem(env, "wrongca-alice.pem"),
                             "key": pem(env, "wrongca-alice.key")}, "not issued by a trusted CA"),
        ("unmapped", {"certificate": pem(env, "unmapped.pem"), "key": pem(env, "unmapped.key")},
         "no account is mapped to"),
        ("tampered", {"certificate": pem(env, "tampered.pem"), "key": pem(env, "alice.key")},
         "signature"),
        ("revoked", {"certificate": pem(env, "revoked.pem"), "key": pem(env, "revoked.key")},
         "revoked"),
        ("another certificate's key", {"certificate": pem(env, "alice.pem"),
                                       "key": pem(env, "unmapped.key")},
         "the key does not match the certificate"),
        ("a wrong passphrase", {"certificate": pem(env, "alice.pem"),
                                "key": pem(env, "alice-enc.key"), "passphrase": "not-it-9731"},
         "passphrase"),
    )
    for what, body, want in cases:
        st, m = cred_post(env, "alice", body)
        t.ok(st == 400 and want in str(m.get("message") if isinstance(m, dict) else m),
             "%s credential refused: %s" % (what, want), (st, m))
    for what, body in (("not JSON", None), ("no certificate", {"key": "x"}),
                       ("certificate not a string", {"certificate": 5}),
                       ("myproxy not an object", {"myproxy": "alice"})):
        if body is None:
            st, _, out = env.gw.request("POST", "/hub/api/users/alice/credential",
                                        token=env.tok["alice"], body=b"{not json",
                                        headers={"Content-Type": "application/json"})
        else:
            st, out = cred_post(env, "alice", body)
        t.eq(st, 400, "malformed credential request (%s): 400" % what)
    st, _, _ = env.gw.request("POST", "/hub/api/users/bob/credential", token=env.tok["alice"],
                              body=json.dumps({"certificate": pem(env, "alice.pem")}).encode(),
                              headers={"Content-Type": "application/json"})
    t.eq(st, 403, "alice's token cannot set bob's credential")
    st, m = env.api.call("GET", "/users/alice/credential")
    t.eq(st, 404, "after all refusals alice still has no credential")


def test_upload(env):
    t = env.tap
    st, m = cred_post(env, "alice", {"certificate": pem(env, "alice.pem"),
                                     "key": pem(env, "alice-enc.key"), "passphrase": "alice-pass"})
    t.eq(st, 200, "alice's certificate + encrypted key + passphrase accepted")
    if st != 200:
        t.diag(str(m))
        return
    t.eq((m["dn"], m["account"], m["source"]), (ALICE_DN, "alice", "x509"),
         "verified: alice's DN, mapped to the account alice (grid-mapfile), source x509")
    t.ok(m["seconds_left"] > 86400, "expires with the certificate (%s)" % m["expires"])
    t.ok("key" not in json.dumps(m).replace("keys", ""), "the answer holds no key", m)
    # the accounts alice may charge on uhpc come from sacctmgr, as alice
    got = wait_for(lambda: (env.api.call("GET", "/users/alice/credential")[1]["clusters"]["uhpc"]
                            ["accounts"]), 30)
    t.eq(got, ["alloc_alice"], "uhpc: alice may charge alloc_alice (sacctmgr, run as alice)")
    log = env.procs.log("nbgated")
    t.ok("alice-pass" not in log and "PRIVATE KEY" not in log,
         "neither the passphrase nor a key is in nbgated's log")
    raw = b""
    for f in glob.glob(os.path.join(env.gw.dir, "nbgate.db*")):
        with open(f, "rb") as fh:
            raw += fh.read()
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(env.gw.dir, "nbgate.db"), uri=True)
    rows = db.execute("SELECT user, dn, account, source FROM credentials").fetchall()
    db.close()
    t.eq(rows, [("alice", ALICE_DN, "alice", "x509")],
         "the database keeps the verified identity (user, DN, account, source)")
    t.ok(b"PRIVATE KEY" not in raw and b"alice-pass" not in raw,
         "and no key or passphrase (database and its WAL)")


def test_bob_account(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/alice/server", {"cluster": "uhpc", "account": "alloc_bob"})
    t.eq(st, 400, "alice asking to charge alloc_bob: 400 before anything is submitted")
    t.has(str(m), "account alloc_bob: alice may not charge it on uhpc (its account is: alloc_alice)",
          "the message names the account and alice's own")
    t.eq(jobs_of("alice"), [], "no job was submitted")
    # SLURM refuses too: sbatch as alice charging alloc_bob
    r = subprocess.run(["runuser", "-u", "alice", "--", "sbatch", "--account=alloc_bob",
                        "--partition=debug", "--time=1", "--wrap", "true"], capture_output=True,
                       text=True, timeout=30, cwd="/tmp", env=dict(os.environ))
    t.ok(r.returncode != 0 and "nvalid account" in r.stderr,
         "SLURM itself refuses alice's sbatch --account=alloc_bob", r.stdout + r.stderr)


def test_user_job(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/alice/server", {"cluster": "uhpc", "account": "alloc_alice"})
    t.eq(st, 202, "alice's user-charged server requested")
    m, seen = env.api.wait("alice", timeout=150)
    t.ok(m is not None and m["ready"], "alice's notebook on uhpc becomes ready", (seen, m))
    if not m or not m["ready"]:
        return
    job = m["state"]["job_id"]
    env.alice_job = job
    t.eq(m["state"]["runs_as"], "alice", "the session says it runs as alice")
    t.eq(squeue_field(job, "%u|%a|%k"), "alice|alloc_alice|nbgate:user=alice:session=%d"
         % m["state"]["session"], "SLURM: the job runs as alice, charged to alloc_alice")
    st, _, out = env.gw.request("GET", "/user/alice/api/status", token=env.tok["alice"])
    t.eq(st, 200, "alice's notebook answers through the proxy")
    with open(os.path.join(env.v["NB_TESTENV_LOGS"], "sshd.log"), errors="replace") as f:
        sshd = f.read()
    t.ok(re.search(r"Accepted publickey for alice from 127\.0\.0\.1 port \d+ ssh2: ED25519-CERT "
                   r"SHA256:\S+ ID %s \(nbgate user alice\)" % re.escape(ALICE_DN), sshd),
         "the login node accepted alice's certificate, its key id recording the DN",
         sshd[-1500:])
    st, _, out = env.gw.request("GET", "/hub/metrics", token=env.gw.token("admin"))
    t.ok(re.search(rb"nbgate_ssh_certificates_total [1-9]", out) and
         re.search(rb'nbgate_credentials_total\{result="refused"\} [1-9]', out),
         "metrics count certificates signed and credentials refused")


def test_community_side_by_side(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/alice/servers/comm", {"cluster": "hpc"})
    t.eq(st, 202, "alice's community-charged server requested on hpc")
    m, seen = env.api.wait("alice", "comm", timeout=150)
    t.ok(m is not None and m["ready"], "it becomes ready", (seen, m))
    if m and m["ready"]:
        job = m["state"]["job_id"]
        t.eq(squeue_field(job, "%u|%a|%k"), "nbcommunity|community|nbgate:user=alice:session=%d"
             % m["state"]["session"], "community mode: runs as nbcommunity, charged to community, "
             "carries alice's identity")
        t.eq(m["state"].get("runs_as"), None, "no runs_as in community mode")
    st, _ = env.api.call("DELETE", "/users/alice/servers/comm")
    env.api.wait("alice", "comm", phases=("ended",), timeout=60)


def test_restart(env):
    t = env.tap
    job = getattr(env, "alice_job", None)
    if job is None:
        t.ok(False, "restart: alice's user-charged job is running")
        return
    env.gw.stop(signal.SIGTERM)
    env.gw.start()
    m, seen = env.api.wait("alice", timeout=60)
    t.ok(m and m["ready"] and m["state"]["job_id"] == job,
         "after a restart alice's session is back, running, same job", (seen, m))
    st, m2 = env.api.call("GET", "/users/alice/credential")
    t.ok(st == 200 and m2["dn"] == ALICE_DN, "the verified identity survived the restart", m2)
    t.ok(wait_for(lambda: env.gw.request("GET", "/user/alice/api/status",
                                         token=env.tok["alice"])[0] == 200, 60),
         "alice's notebook answers again (its agent reconnected)")
    st, _ = env.api.call("DELETE", "/users/alice/server")
    t.ok(st in (202, 204), "stop alice's user-charged server")
    m, _ = env.api.wait("alice", phases=("ended",), timeout=90)
    t.ok(m is not None, "it ends")
    ok = wait_for(lambda: sacct_state(job).startswith("CANCELLED"), 60)
    t.ok(ok, "SLURM: the job was cancelled (as alice, over her certificate)", sacct_state(job))
    t.has(sacct_state(job), "|alice|alloc_alice|", "sacct: the job ran as alice on alloc_alice")


def test_myproxy(env):
    """MyProxy logon through the REST API, against a real one-shot myproxy-server."""
    t = env.tap
    mpw = env.mpw
    name = "myproxy-server-api"
    env.procs.start(name, ["myproxy-server", "-d", "-v", "-c", mpw.config, "-s", mpw.store,
                           "-p", str(env.mp_port), "-l", "127.0.0.1"],
                    env={"X509_USER_CERT": mpw.p("host.pem"), "X509_USER_KEY": mpw.p("host.key"),
                         "X509_CERT_DIR": mpw.p("cadir")})
    if not wait_for(lambda: "Starting myproxy-server on" in env.procs.log(name), 15):
        t.ok(False, "myproxy-server starts", env.procs.log(name))
        return
    st, m = cred_post(env, "bob", {"myproxy": {"username": "alice", "passphrase": MP_PASS}})
    mpw.done(name)
    t.ok(st == 200 and m.get("source") == "myproxy" and m.get("dn") == ALICE_DN,
         "a MyProxy logon through the API gives bob's gateway login alice's verified proxy", (st, m))
    if st == 200:
        t.ok(0 < m["seconds_left"] <= 3700, "its lifetime is what MyProxy delegated (%d s)"
             % m["seconds_left"])
    st, m = cred_post(env, "bob", {"myproxy": {"username": "alice", "passphrase": "wrong-pass-55"}})
    t.ok(st == 400 and "MyProxy logon failed" in str(m), "MyProxy down or refusing: 400 with why",
         (st, m))
    t.ok("wrong-pass-55" not in env.procs.log("nbgated") and MP_PASS not in env.procs.log("nbgated"),
         "MyProxy passphrases are not in nbgated's log")
    st, _, _ = env.gw.request("DELETE", "/hub/api/users/bob/credential", token=env.tok["bob"])
    t.eq(st, 204, "bob removes his credential")
    st, _ = env.api.call("GET", "/users/bob/credential")
    t.eq(st, 404, "and it is gone")

def test_pages(env):
    """The credential page and the spawn form in a browser's terms (form posts with _xsrf)."""
    from test_pages import get, login, post, xsrf
    t = env.tap
    ck = login(env, "alice")
    st, _, page = get(env, "/hub/credential", ck)
    t.ok(st == 200 and ALICE_DN in page and "alloc_alice" in page,
         "the credential page shows alice's verified DN and her allocations on uhpc", page[-1500:])
    tok = xsrf(page)
    st, _, page = post(env, "/hub/credential", {"_xsrf": tok, "action": "remove"}, ck)
    t.ok(st == 200 and 'id="cred-none"' in page, "'Forget this credential' forgets it")
    st, _, page = get(env, "/hub/spawn?cluster=uhpc", ck)
    t.ok('id="no-cred"' in page and 'href="/hub/credential"' in page,
         "the spawn form for uhpc says to give a credential first", page[-1500:])
    st, _, page = post(env, "/hub/credential", {"_xsrf": tok, "action": "upload",
                                                 "certificate": pem(env, "expired.pem"),
                                                 "key": pem(env, "expired.key")}, ck)
    t.ok(st == 400 and "Your credential was not accepted: the certificate expired on" in page,
         "an expired certificate uploaded through the page: 400 with the reason", page[-1500:])
    # a textarea sends CRLF line ends; the page takes them
    crlf = {k: pem(env, f).replace("\n", "\r\n") for k, f in (("certificate", "proxy.pem"),
                                                                  ("key", "proxy.key"))}
    st, hd, _ = post(env, "/hub/credential", dict(crlf, _xsrf=tok, action="upload"), ck)
    t.ok(st == 303 and hd.get("location") == "/hub/credential?verified=1",
         "alice's proxy certificate (CRLF line ends) uploaded through the page: 303", (st, hd))
    st, _, page = get(env, "/hub/credential?verified=1", ck)
    t.ok("Your credential was verified." in page and ALICE_DN in page and "x509-proxy" in page,
         "the page says it was verified, from a proxy, alice's DN")
    wait_for(lambda: "alloc_alice" in get(env, "/hub/credential", ck)[2], 30)
    st, _, page = get(env, "/hub/spawn?cluster=uhpc", ck)
    t.ok(re.search(r'<select[^>]*name="account".*<option value="alloc_alice"', page, re.S),
         "the spawn form for uhpc offers alice's allocation (from sacctmgr)", page[-2000:])
    st, _, page = post(env, "/hub/credential", {"action": "remove"}, ck)
    t.eq(st, 403, "a credential form without _xsrf is refused")
    st, _, _ = env.gw.request("GET", "/hub/credential")
    t.eq(st, 403, "the credential page needs a login")


def test_from_login(env):
    """credentials.from_login: a second nbgated gives bob a certificate from his login."""
    t = env.tap
    gw2 = Gateway(env, name="nbgated-fromlogin")
    with open(gw2.config) as f:
        text = f.read()
    with open(gw2.config, "w") as f:     # this one logs JSON lines
        f.write(text.replace("log:\n  level: debug\n", "log:\n  level: debug\n  format: json\n"))
    with open(gw2.config, "a") as f:
        f.write("auth:\n  admins: [admin]\n"
                "sessions:\n  gateway_address: 127.0.0.1:%d\n  start_timeout: 3m\n"
                "credentials:\n  from_login: true\n  certificate_lifetime: 40m\n"
                "clusters:\n%s" % (gw2.ssh_port, user_cluster(env.w)))
    gw2.start()
    api2 = Api(gw2, gw2.token("admin"))
    st, m = api2.call("POST", "/users/bob/server", {"walltime": "1h"})
    t.ok(st == 400 and "walltime 1h is longer than your credential has left" in str(m),
         "walltime beyond the credential's lifetime: 400 naming both", (st, m))
    st, m = api2.call("POST", "/users/bob/server", {"walltime": "20m"})
    t.eq(st, 202, "bob (no X.509) starts a server on a user-charged cluster")
    m, seen = api2.wait("bob", timeout=150)
    t.ok(m is not None and m["ready"], "bob's notebook becomes ready", (seen, m))
    if m and m["ready"]:
        job = m["state"]["job_id"]
        t.eq(squeue_field(job, "%u|%a"), "bob|alloc_bob",
             "the job runs as bob, charged to bob's default allocation")
    st, c = api2.call("GET", "/users/bob/credential")
    t.ok(st == 200 and c["source"] == "login" and c["account"] == "bob", "the identity came from "
         "the login", c)
    api2.call("DELETE", "/users/bob/server")
    api2.wait("bob", phases=("ended",), timeout=90)
    gw2.stop()
    # log.format: json: every line an object; session lines carry user, session, job, cluster
    bad, running = [], None
    for line in env.procs.log("nbgated-fromlogin").splitlines():
        if not line.startswith("{"):
            if "AddressSanitizer" not in line and line.strip():
                bad.append(line)
            continue
        try:
            o = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if "-> running" in o.get("msg", "") and o.get("user") == "bob":
            running = o
    t.eq(bad[:3], [], "log.format json: every line nbgated wrote is a JSON object")
    t.ok(running is not None and running.get("session", 0) > 0 and running.get("job") and
         running.get("cluster") == "uhpc" and running.get("level") == "info" and
         re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", running.get("time", "")),
         "the 'running' line names user bob, the session, the job and the cluster as fields",
         running)


def keep_user_logs(env):
    for user in ("alice", "bob"):
        for d in glob.glob("/home/%s/.nbgate/jobs/*" % user):
            out = []
            for f in ("job.out", "job.err"):
                p = os.path.join(d, f)
                if os.path.exists(p):
                    with open(p, errors="replace") as fh:
                        out.append("==> %s <==\n%s" % (f, fh.read()))
            with open(env.path("job-%s-%s.log" % (user, os.path.basename(d))), "w") as fh:
                fh.write("\n".join(out))


def main():
    env = Env("test_charging")
    env.pki = env.path("pki")
    env.mp_port = free_port()

    def edit(cfg):
        return cfg.replace("clusters:\n", "credentials:\n  ca_dir: %s/cadir\n  gridmap: %s/grid-mapfile\n"
                           "  myproxy: 127.0.0.1:%d\n  myproxy_lifetime: 1h\nclusters:\n"
                           % (env.pki, env.pki, env.mp_port), 1) + user_cluster(env.w)

    # The PKI (and alice's credential in a real myproxy-server store) first.
    from test_myproxy import World as MyProxyWorld, test_store
    env.mpw = MyProxyWorld(env)       # runs make-pki.sh into env.path("pki")
    try:
        test_store(env, env.mpw)
    except Exception as e:
        env.tap.ok(False, "alice's credential is stored in myproxy-server", e)
    session_world(env, edit=edit)
    env.v = env.w.v
    env.tok = {u: env.gw.token(u) for u in ("alice", "bob")}
    try:
        for fn in (test_no_credential, test_refused, test_upload, test_bob_account, test_user_job,
                   test_community_side_by_side, test_restart, test_myproxy, test_pages, test_from_login):
            env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        for u in ("alice", "bob"):
            for j in jobs_of(u):
                subprocess.run(["scancel", j], capture_output=True, timeout=30)
        keep_user_logs(env)
        env.w.keep_logs()
        if env.tap.failed == 0:
            shutil.rmtree(env.w.dir, ignore_errors=True)
    env.finish()


if __name__ == "__main__":
    main()
