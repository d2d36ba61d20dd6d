"""test_ident.py: attacks on who a user is (issue 13, item 7).

OpenID Connect names: a real OpenID provider (npm's oidc-provider,
tests/browser/oidc-provider.mjs, with extra accounts through OIDC_TEST_USERS)
and a real nbgated with username_claim: email, username_map (strip_suffix and a
map file) and one cluster whose jobs run as the community account nbcomm.
Accounts whose claim maps to root, to a system account of this host (daemon,
uid 1), to the community account, or to an administrator's name (with another
subject than the one auth.oidc.admins names) are refused with a page, a log line
and nbgate_login_reserved_names_total; a normal user, the administrator with
the configured subject, and a map-file rule log in. An explicit map-file entry
cannot map to root either; a newline in a claim does not forge a log line.

X.509: the same nbgated with credentials.ca_dir/gridmap from tests/pki/make-pki.sh;
credentials are POSTed to /hub/api/users/alice/credential. alice's plain client
certificate, one with EKU clientAuth, and her RFC 3820 proxy are accepted; a
certificate with EKU serverAuth only, a proxy of such a certificate, a certificate
without digitalSignature and an independent proxy are refused with messages naming
what is wrong; after a reload with credentials.allow_independent_proxies: true the
independent proxy is accepted.

credentials.from_login: with a charging: user cluster, dave's login alone gives him a
credential, while root, daemon and the community account get none (a second barrier
behind the OIDC refusal, for logins by PAM or an administrator's login link).
"""
import json
import os
import re
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import SRCDIR, Env, Gateway, free_port, wait_for  # noqa: E402
import test_oidc  # noqa: E402
from test_oidc import Browser, make_certs, write_secret  # noqa: E402

DOMAIN = "@example.org"
# login at the provider (= sub) -> claims. The gateway takes the email claim.
USERS = {
    "dave": {"email": "dave" + DOMAIN},               # a normal user
    "root": {"email": "root" + DOMAIN},
    "sysd": {"email": "daemon" + DOMAIN},             # uid 1 on this host
    "comm": {"email": "nbcomm" + DOMAIN},             # the cluster's login_user
    "carol": {"email": "carol" + DOMAIN},             # the admin, sub "carol"
    "evilcarol": {"email": "carol" + DOMAIN},         # another sub, same name
    "boss": {"email": "boss@corp.example"},           # map file: -> erin
    "ops": {"email": "ops@corp.example"},             # map file: -> root
    "forger": {"email": "x\nlogin: root logged in with OpenID Connect" + DOMAIN},
}
MAP = "# test map\nboss@corp.example erin\nops@corp.example root\n"


def community_cluster(env):
    """A cluster whose jobs run as nbcomm over SSH (nothing listens: never used here)."""
    key = env.path("login_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    with open(key + ".pub") as f:
        pub = " ".join(f.read().split()[:2])
    return ("clusters:\n  hpc:\n    scheduler: slurm\n    transport: ssh\n"
            "    login_host: 127.0.0.1:%d\n    login_host_key: \"%s\"\n"
            "    login_user: nbcomm\n    login_key: %s\n    community_account: community\n"
            "    template: %s/templates/slurm.sh\n"
            "    default_queue: debug\n    queues:\n      debug:\n"
            "        walltime: {default: 20m, max: 1h}\n        cores: {default: 1, max: 2}\n"
            "        memory: {default: 256MiB, max: 1GiB}\n"
            "    containers:\n      base: {image: \"\", runtime: none}\n"
            "    default_container: base\n" % (free_port(), pub, key, SRCDIR)
            + user_cluster(env, pub, key))


def user_cluster(env, hostkey, key):
    """A charging: user cluster (nothing listens either): where from_login would apply."""
    ca = env.path("user_ca")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ca], check=True)
    return ("  uhpc:\n    scheduler: slurm\n    transport: ssh\n    charging: user\n"
            "    login_host: 127.0.0.1:%d\n    login_host_key: \"%s\"\n    user_ca_key: %s\n"
            "    template: %s/templates/slurm.sh\n"
            "    default_queue: debug\n    queues:\n      debug:\n"
            "        walltime: {default: 20m, max: 2h}\n        cores: {default: 1, max: 2}\n"
            "        memory: {default: 256MiB, max: 1GiB}\n"
            "    containers:\n      base: {image: \"\", runtime: none}\n"
            "    default_container: base\n" % (free_port(), hostkey, ca, SRCDIR))


def gw_config(env, independent=False):
    return ("public_url: https://127.0.0.1:%d\n"
            "auth:\n  admins: [carol, frank]\n  oidc:\n"
            "    issuer: %s\n    client_id: nbgate\n    client_secret_file: %s\n"
            "    ca_file: %s\n    username_claim: email\n"
            "    username_map:\n      strip_suffix: \"%s\"\n      file: %s\n"
            "    admins:\n      carol: {sub: carol}\n"
            "credentials:\n  ca_dir: %s\n  gridmap: %s\n  from_login: true\n"
            "  certificate_lifetime: 40m\n%s"
            "%s"
            % (env.gw.https_port, env.issuer, env.secret_file,
               os.path.join(env.pki, "ca.pem"), DOMAIN, env.map_file,
               os.path.join(env.x509, "cadir"), os.path.join(env.x509, "grid-mapfile"),
               "  allow_independent_proxies: true\n" if independent else "", env.cluster))


def metric(env, name):
    st, _, out = env.gw.request("GET", "/hub/metrics", token=env.admin_token)
    m = re.search(r"^%s (\d+)$" % name, out.decode(), re.M)
    return int(m.group(1)) if st == 200 and m else -1


def session_user(b):
    c = b.cookie("__Host-nbgate-session")
    return c.value.split(":")[1] if c is not None and c.value.startswith("v1:") else None


def test_oidc_legit(env):
    t = env.tap
    b = Browser(env)
    st, _, body = b.login("dave")
    t.ok(st == 303 and session_user(b) == "dave",
         "attack oidc-baseline: dave@example.org maps to dave and logs in", (st, body[:300]))
    b = Browser(env)
    st, _, body = b.login("carol")
    t.ok(st == 303 and session_user(b) == "carol",
         "attack oidc-baseline: the administrator carol, with the sub auth.oidc.admins names, "
         "logs in", (st, body[:300]))
    b = Browser(env)
    st, _, body = b.login("boss")
    t.ok(st == 303 and session_user(b) == "erin",
         "attack oidc-baseline: a username_map file rule maps boss@corp.example to erin",
         (st, body[:300]))


def refused(env, login, name, reason, check_id, attack):
    t = env.tap
    b = Browser(env)
    r0, f0 = metric(env, "nbgate_login_reserved_names_total"), \
        metric(env, "nbgate_login_failures_total")
    st, _, body = b.login(login)
    t.ok(st == 403 and "This name is reserved" in body and reason in body and
         b.cookie("__Host-nbgate-session") is None,
         "attack %s: %s is refused (403, a page saying why, no login cookie)" % (check_id, attack),
         (st, session_user(b), body[:800]))
    t.ok(metric(env, "nbgate_login_reserved_names_total") == r0 + 1 and
         metric(env, "nbgate_login_failures_total") == f0 + 1,
         "attack %s: ... counted in nbgate_login_reserved_names_total and "
         "nbgate_login_failures_total" % check_id)
    t.ok(re.search(r"maps to reserved name %s, which " % re.escape(name),
                   env.procs.log("nbgated")) is not None,
         "attack %s: ... and logged with the name" % check_id)


def test_oidc_reserved(env):
    refused(env, "root", "root", "superuser", "oidc-root",
            "an OIDC account whose claim maps to root")
    refused(env, "sysd", "daemon", "system account on the gateway (uid 1)", "oidc-system",
            "an OIDC account whose claim maps to daemon (uid 1 on the gateway)")
    refused(env, "comm", "nbcomm", "the account cluster hpc runs jobs as", "oidc-community",
            "an OIDC account whose claim maps to the community account nbcomm")
    refused(env, "evilcarol", "carol", "an administrator", "oidc-admin-name",
            "another subject whose claim maps to the administrator carol")
    refused(env, "ops", "root", "superuser", "oidc-map-root",
            "a username_map file entry mapping to root")


def test_oidc_forged_log(env):
    t = env.tap
    b = Browser(env)
    st, _, body = b.login("forger")
    log = env.procs.log("nbgated")
    forged = [ln for ln in log.splitlines() if ln.startswith("login: root logged in")]
    t.ok(st == 403 and b.cookie("__Host-nbgate-session") is None and not forged and
         "x?login: root logged in" in log,
         "attack oidc-log-newline: a claim with a newline neither logs in nor forges a log line",
         (st, forged, body[:300]))


def test_from_login(env):
    """credentials.from_login never names a reserved account, whatever let the user in."""
    t = env.tap

    def start(user):
        st, _, out = env.gw.request("POST", "/hub/api/users/%s/server" % user,
                                    token=env.admin_token, headers={"Content-Type": "application/json"},
                                    body=json.dumps({"cluster": "uhpc", "walltime": "1h"}).encode())
        return st, out.decode(errors="replace")
    st, out = start("dave")
    t.ok(st == 400 and "walltime 1h is longer than your credential has left" in out,
         "attack from-login-baseline: dave's login alone gives him a 40m credential on the "
         "user-charged cluster", (st, out))
    for user, cid in (("root", "from-login-root"), ("daemon", "from-login-system"),
                      ("nbcomm", "from-login-community")):
        st, out = start(user)
        st2, _, _ = env.gw.request("GET", "/hub/api/users/%s/credential" % user,
                                   token=env.admin_token)
        t.ok(st == 403 and "X.509 credential first" in out and st2 == 404 and
             "%s gets no certificate from the login (from_login): the name " % user
             in env.procs.log("nbgated"),
             "attack %s: a from_login certificate for %s (logged in some other way: an "
             "administrator's login link, PAM) is refused" % (cid, user), (st, out, st2))


def cred_post(env, cert, key, user="alice"):
    def pem(n):
        with open(os.path.join(env.x509, n)) as f:
            return f.read()
    st, _, out = env.gw.request("POST", "/hub/api/users/%s/credential" % user,
                                token=env.alice_token,
                                body=json.dumps({"certificate": pem(cert), "key": pem(key)}).encode(),
                                headers={"Content-Type": "application/json"}, timeout=60)
    try:
        m = json.loads(out)
    except ValueError:
        m = {"raw": out[:300]}
    return st, m


def test_x509(env):
    t = env.tap
    for cert, what in (("alice", "alice's client certificate"),
                       ("alice-client", "alice's certificate with EKU clientAuth"),
                       ("proxy", "alice's RFC 3820 (inheritAll) proxy")):
        st, m = cred_post(env, cert + ".pem", cert + ".key")
        t.ok(st == 200 and m.get("account") == "alice",
             "attack x509-baseline: %s is accepted and maps to alice" % what, (st, m))
    for cert, want, cid, attack in (
            ("alice-server", "the certificate is not for client authentication: its extended "
             "key usage does not include client authentication (clientAuth); it lists "
             "serverAuth", "x509-server-eku", "a certificate with EKU serverAuth only"),
            ("serverproxy", "the certificate is not for client authentication",
             "x509-server-eec", "a proxy of a serverAuth-only certificate"),
            ("alice-nosig", "its key usage does not include digitalSignature",
             "x509-no-digsig", "a certificate whose key usage lacks digitalSignature"),
            ("indproxy", "the proxy is an independent proxy (RFC 3820 policy "
             "id-ppl-independent)", "x509-independent", "an independent proxy")):
        st, m = cred_post(env, cert + ".pem", cert + ".key")
        t.ok(st == 400 and want in str(m.get("message", m)),
             "attack %s: %s is refused with a message naming it" % (cid, attack), (st, m))
    env.write_config(independent=True)
    st, m = cred_post(env, "indproxy.pem", "indproxy.key")
    t.ok(st == 200 and m.get("account") == "alice",
         "attack x509-independent: with credentials.allow_independent_proxies the independent "
         "proxy is accepted (the refusal was the option's doing)", (st, m))
    st, m = cred_post(env, "alice-server.pem", "alice-server.key")
    t.eq(st, 400, "attack x509-server-eku: the option does not lift the purpose check")


def main():
    env = Env("test_ident")
    env.codes, env.session_cookies, env.set_cookies = [], [], []
    if not os.path.isdir(os.path.join(test_oidc.BROWSER_DIR, "node_modules", "oidc-provider")):
        env.tap.ok(False, "oidc-provider is installed (npm install in tests/browser)")
        env.finish()
    env.pki = make_certs(env)
    env.x509 = env.path("x509")
    r = subprocess.run(["sh", os.path.join(SRCDIR, "tests", "pki", "make-pki.sh"), env.x509],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        env.tap.ok(False, "make-pki.sh", r.stderr)
        env.finish()
    env.secret_file = env.path("oidc-client-secret")
    write_secret(env.secret_file, test_oidc.SECRET)
    env.map_file = env.path("oidc-users")
    with open(env.map_file, "w") as f:
        f.write(MAP)
    env.gw = Gateway(env)
    env.idp_port = free_port()
    env.issuer = "https://127.0.0.1:%d" % env.idp_port
    env.cluster = community_cluster(env)
    with open(env.gw.config) as f:
        base = f.read()

    def write_config(independent=False):
        with open(env.gw.config, "w") as f:
            f.write(base + gw_config(env, independent))
        if env.gw.alive():
            n = env.procs.log("nbgated").count("reload: configuration")
            os.kill(env.gw.proc.pid, signal.SIGHUP)
            if not wait_for(lambda: env.procs.log("nbgated").count("reload: configuration") > n,
                            10):
                raise RuntimeError("nbgated did not reload:\n" + env.procs.log("nbgated")[-2000:])
    env.write_config = write_config
    write_config()
    os.environ["OIDC_TEST_USERS"] = json.dumps(USERS)
    test_oidc.start_provider(env)
    env.gw.start()
    env.admin_token = env.gw.token("frank")
    env.alice_token = env.gw.token("alice")
    env.run(test_oidc_legit)
    env.run(test_oidc_reserved)
    env.run(test_oidc_forged_log)
    env.run(test_from_login)
    env.run(test_x509)
    env.finish()


if __name__ == "__main__":
    main()
