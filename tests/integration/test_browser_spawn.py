"""test_browser_spawn.py: a person logs in with their password (PAM: a local
test user and a PAM service file made here, removed at the end) and starts a
notebook as a SLURM job from the pages, in Debian's Chromium (playwright-core,
tests/browser/spawn.js): a wrong password is refused; a
walltime above the queue's max is refused next to its field, the fixed form
goes through the pending page into the notebook tree, a cell runs in a new
notebook, Stop on the home page ends the server (the job leaves squeue), and a
second user is refused at the notebook; Log out ends the login. Runs on the shared SLURM test
environment (the World of test_session.py) with its own user names (brspawn,
brother). Screenshots stay in the test's artifacts directory.
"""
import os
import secrets
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, browser_walk, login_path, wait_for  # noqa: E402
from test_session import session_cleanup, session_world  # noqa: E402

USER, OTHER = "brspawn", "brother"
SERVICE = "nbgate-brtest"
PAMFILE = "/etc/pam.d/" + SERVICE


def setup_pam(env):
    """USER as a local account with a random password, and a PAM service for it."""
    subprocess.run(["userdel", USER], capture_output=True)
    env.password = "Pw-" + secrets.token_hex(12)
    subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", USER], check=True,
                   capture_output=True)
    subprocess.run(["chpasswd"], input="%s:%s\n" % (USER, env.password), text=True, check=True,
                   capture_output=True)
    with open(PAMFILE, "w") as f:
        f.write("auth required pam_unix.so\naccount required pam_unix.so\n")


def cleanup_pam():
    subprocess.run(["userdel", USER], capture_output=True)
    try:
        os.unlink(PAMFILE)
    except FileNotFoundError:
        pass


def run_browser(env):
    gw = env.gw
    return browser_walk(env, "spawn.js",
                        ["https://127.0.0.1:%d" % gw.https_port, USER, "password", login_path(gw, OTHER)],
                        420, {"NB_TEST_PASSWORD": env.password})


def test_browser_spawn(env):
    t = env.tap
    res, shots = run_browser(env)
    steps = res.get("steps", {})
    t.ok("error" not in res, "the browser walk completes", res.get("error"))
    t.has(steps.get("wrong", {}).get("text", ""), "Wrong user name or password.",
          "a wrong password is refused on the login page")
    login = steps.get("login", {})
    t.ok(login.get("url", "").endswith("/hub/home") and USER in login.get("who", ""),
         "the right password (PAM) logs in and lands on the home page", login)
    bad = steps.get("invalid", {})
    t.ok("longer than queue debug allows" in bad.get("error", "") and
         bad.get("invalid") == "true" and bad.get("value") == "3h",
         "walltime 3h: the message is next to the field, which is marked invalid", bad)
    pend = steps.get("pending", {})
    t.ok("/hub/spawn-pending" in pend.get("url", "") and pend.get("phase") in
         ("requested", "submitted", "queued", "starting", "running"),
         "the fixed form goes to the pending page, which shows the phase", pend)
    tree = steps.get("tree", {})
    t.ok("/user/%s/tree" % USER in tree.get("url", ""),
         "the pending page lands in the notebook tree", tree)
    t.ok(len(tree.get("phases", [])) >= 1, "phases seen on the pending page: %s" %
         " -> ".join(tree.get("phases", [])))
    cell = steps.get("cell", {})
    t.ok(cell.get("created") == 201 and cell.get("output", "").strip() == "42",
         "a cell in a new notebook prints 42", cell)
    other = steps.get("other", {})
    t.ok(other.get("status") == 403 and "belongs to another user" in other.get("text", ""),
         "%s is refused at %s's notebook with a page saying why" % (OTHER, USER), other)
    stop = steps.get("stop", {})
    t.ok(stop.get("url", "").endswith("/hub/home") and "ended" in stop.get("row", ""),
         "Stop on the home page: the server ends", stop)
    m, seen = env.api.wait(USER, phases=("ended",), timeout=60)
    t.ok(m is not None and m["state"]["phase"] == "ended", "the API says it ended", (seen, m))
    job = (m or {}).get("state", {}).get("job_id") or "0"
    t.ok(wait_for(lambda: subprocess.run(["squeue", "-h", "-j", job], capture_output=True,
                                         text=True).stdout.strip() == "", 60),
         "job %s has left squeue" % job)
    out = steps.get("logout", {})
    t.ok(out.get("status") == 401 and "not logged in" in out.get("text", ""),
         "after Log out the notebook asks to log in again", out)
    t.ok(env.password not in env.procs.log("nbgated"), "the password is not in nbgated's log")
    for name in ("00-password-wrong", "00-password-login", "01-walltime-refused", "02-pending",
                 "03-tree", "04-cell", "05-stopped", "06-other-refused", "07-logged-out"):
        png = os.path.join(shots, name + ".png")
        t.ok(os.path.exists(png) and os.path.getsize(png) > 2000, "screenshot %s kept" % name)


def main():
    env = Env("test_browser_spawn")
    setup_pam(env)
    session_world(env, edit=lambda cfg: cfg.replace(
        "auth:\n  admins: [admin]\n",
        "auth:\n  admins: [admin]\n  pam: true\n  pam_service: %s\n" % SERVICE, 1))
    try:
        env.run(test_browser_spawn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        session_cleanup(env, (USER,))
        cleanup_pam()
    env.finish()


if __name__ == "__main__":
    main()
