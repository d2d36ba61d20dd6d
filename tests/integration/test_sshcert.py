"""test_sshcert.py: certificates minted by daemon/ident/sshcert.c (through tests/unit/cred-cli)
are what real OpenSSH and libssh expect: ssh-keygen -L reads principal, validity and
key id; the testenv login node's sshd (TrustedUserCAKeys) lets alice in with her
certificate through OpenSSH's ssh and through libssh (the daemon's transport); a
certificate for bob does not log in as alice; an expired one is refused."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, binary, testenv, parse_env  # noqa: E402

KEYID = "nbgate: /C=US/O=Example/CN=Alice Smith"


def out(r):
    return "rc=%s\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr)


LOG = None  # cred-cli's stderr goes here too, so Env.finish() scans it for sanitizer reports


def run(argv, timeout=30):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if LOG and argv[0].endswith("cred-cli"):
        with open(LOG, "a") as f:
            f.write(r.stderr)
    return r


def mint(env, v, keydir, principal, after, before):
    os.makedirs(keydir, mode=0o700)
    return run([binary("tests/unit/cred-cli"), "mint", v["NB_SSH_USER_CA"], principal, KEYID,
                str(int(after)), str(int(before)), keydir])


def ssh(v, keydir, user):
    return run(["ssh", "-F", "/dev/null", "-i", keydir + "/id",
                "-o", "CertificateFile=" + keydir + "/id-cert.pub", "-o", "IdentitiesOnly=yes",
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "UserKnownHostsFile=" + v["NB_LOGIN_KNOWN_HOSTS"],
                "-o", "ConnectTimeout=10", "-p", v["NB_LOGIN_SSH_PORT"],
                user + "@" + v["NB_LOGIN_HOST"], "id", "-un"])


def libssh(v, keydir, user):
    return run([binary("tests/unit/cred-cli"), "login", v["NB_LOGIN_HOST"], v["NB_LOGIN_SSH_PORT"],
                user, v["NB_LOGIN_KNOWN_HOSTS"], keydir + "/id", keydir + "/id-cert.pub", "id -un"])


def test_all(env, v, tmp):
    now = time.time()
    alice = os.path.join(tmp, "alice")
    r = mint(env, v, alice, "alice", now - 60, now + 600)
    if not env.tap.ok(r.returncode == 0, "cred-cli mint: alice's certificate", out(r)):
        return
    env.tap.eq(oct(os.stat(alice + "/id").st_mode & 0o777), "0o600", "the key file is private")
    r = run(["ssh-keygen", "-L", "-f", alice + "/id-cert.pub"])
    env.tap.ok(r.returncode == 0, "ssh-keygen -L parses the certificate", out(r))
    env.tap.has(r.stdout, "Type: ssh-ed25519-cert-v01@openssh.com user certificate", "-L: user cert")
    env.tap.has(r.stdout, 'Key ID: "%s"' % KEYID, "-L: key id records the DN")
    env.tap.ok("Principals: \n                alice\n" in r.stdout, "-L: principal alice", r.stdout)
    want = "Valid: from %s to %s" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(int(now - 60))),
                                     time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(int(now + 600))))
    env.tap.has(r.stdout, want, "-L: validity window")
    env.tap.has(r.stdout, "Critical Options: (none)", "-L: no critical options")
    ca_fp = run(["ssh-keygen", "-l", "-f", v["NB_SSH_USER_CA_PUB"]]).stdout.split()[1]
    env.tap.has(r.stdout, "Signing CA: ED25519 " + ca_fp, "-L: signed by the testenv user CA")
    k = run(["ssh-keygen", "-l", "-f", alice + "/id"])
    env.tap.ok(k.returncode == 0 and len(k.stdout.split()) > 1 and
               "Public key: ED25519-CERT " + k.stdout.split()[1] in r.stdout,
               "ssh-keygen reads the private key; the certificate certifies it", out(k) + r.stdout)

    t0 = time.monotonic()
    r = ssh(v, alice, "alice")
    env.tap.ok(r.returncode == 0 and r.stdout.strip() == "alice",
               "OpenSSH ssh logs in as alice with the certificate (%.2f s)" % (time.monotonic() - t0), out(r))
    t0 = time.monotonic()
    r = libssh(v, alice, "alice")
    env.tap.ok(r.returncode == 0 and r.stdout.strip() == "alice",
               "libssh logs in as alice with the certificate (%.2f s)" % (time.monotonic() - t0), out(r))

    bob = os.path.join(tmp, "bob")
    r = mint(env, v, bob, "bob", now - 60, now + 600)
    env.tap.ok(r.returncode == 0, "cred-cli mint: a certificate for bob", out(r))
    r = ssh(v, bob, "alice")
    env.tap.ok(r.returncode != 0 and "alice" not in r.stdout, "bob's certificate does not log in as alice (ssh)", out(r))
    env.tap.has(r.stderr, "Permission denied", "sshd says permission denied")
    r = libssh(v, bob, "alice")
    env.tap.ok(r.returncode != 0 and "alice" not in r.stdout, "nor through libssh", out(r))
    env.tap.has(r.stderr, "publickey authentication refused", "cred-cli says authentication was refused")

    old = os.path.join(tmp, "expired")
    r = mint(env, v, old, "alice", now - 7200, now - 3600)
    env.tap.ok(r.returncode == 0, "cred-cli mint: an expired certificate", out(r))
    r = ssh(v, old, "alice")
    env.tap.ok(r.returncode != 0 and "alice" not in r.stdout, "sshd refuses the expired certificate", out(r))
    r = libssh(v, old, "alice")
    env.tap.ok(r.returncode != 0 and "alice" not in r.stdout, "through libssh too", out(r))


def main():
    global LOG
    env = Env("test_sshcert")
    LOG = env.path("cred-cli.log")
    r = testenv("start")
    if not env.tap.ok(r.returncode == 0, "testenv.sh start", out(r)):
        env.finish()
    v = parse_env(testenv("env").stdout)
    tmp = tempfile.mkdtemp(prefix="keys-", dir=env.artifacts)
    env.run(test_all, v, tmp)
    shutil.rmtree(tmp, ignore_errors=True)  # the minted keys are not kept
    env.finish()


if __name__ == "__main__":
    main()
