"""test_log_injection.py: forged log lines through the password login form (/hub/login,
auth.pam on; see tests/integration/test_login_pam.py). Before, once an address was
backing off, the 429 path logged the posted user name as it came, so a name holding
"\\nFAKE LINE" wrote a line of the attacker's choosing into nbgated's log. Now a name
is logged only once it is a user name, and the log writer escapes control bytes in
every text line (common/log.c, unit-tested in tests/unit/test-util). The PAM service
named here does not exist: only failures are needed, and no account is made.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Gateway, run_all  # noqa: E402
from test_login_pam import form_page, post  # noqa: E402

FAKE = "FAKE LINE: login: root logged in with a password from 10.0.0.1"


def test_legit(env):
    t = env.tap
    st, _, _, env.nonce, env.tok = form_page(env)
    t.ok(st == 200 and env.tok, "the login form is served")
    st, _, _ = post(env, {"_xsrf": env.tok, "user": "nbinjectuser", "password": "x"}, env.nonce)
    t.ok(st in (401, 503), "a login of an unknown user fails (%d)" % st)
    t.ok(re.search(r"^.*login: nbinjectuser from 127\.0\.0\.1: .*$", env.procs.log("nbgated"), re.M),
         "without an attack: the failed login is logged on one line naming the user")


def test_injection(env):
    t = env.tap
    codes = []
    for _ in range(22):  # past the address's 20 free failures: backoff
        st, _, _ = post(env, {"_xsrf": env.tok, "user": "Not A Name", "password": "x"}, env.nonce)
        codes.append(st)
    t.ok(codes[-1] in (401, 429), "22 failed logins from one address (%s)" % sorted(set(codes)))
    for name in ("alice\n" + FAKE, "alice\r\n" + FAKE, "alice\x1b[2K\r" + FAKE):
        st, _, page = post(env, {"_xsrf": env.tok, "user": name, "password": "x"}, env.nonce)
        t.eq(st, 429, "a login with a control character in the name while backing off: 429 (%r)"
             % name[:8])
    log = env.procs.log("nbgated")
    t.ok(not re.search(r"^FAKE", log, re.M) and "\x1b" not in log,
         "attack log-injection-login: a newline (or ESC, CR) in the login form's user name forging "
         "a log line is refused", [ln for ln in log.splitlines() if "FAKE" in ln][:5])
    t.has(log, "login: (not a user name) from 127.0.0.1: refused, too many failures",
          "the refusal is logged without the name")
    t.ok(env.gw.alive(), "nbgated is still running")


def setup(env):
    env.gw = Gateway(env, extra="auth:\n  pam: true\n  pam_service: nbgate-attack-none\n").start()


def main():
    run_all("test_log_injection", setup, (test_legit, test_injection))


if __name__ == "__main__":
    main()
