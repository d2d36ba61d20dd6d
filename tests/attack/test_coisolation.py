"""test_coisolation.py: two gateway users on one community account (issue 13, item 5).

alice and bob each start a notebook on the community-charged cluster "hpc" of the
real SLURM test environment (scripts/testenv.sh): both jobs run as the Unix user
nbcommunity, in the scipy container, i.e. the Singularity stand-in
(tests/standin/singularity, bubblewrap), which records what it was asked to do.
Every check first shows the legitimate thing working, then that the co-user's
attempt is refused:

- each user has a working directory of their own ($HOME/nbgate/<user>), 0700 even if a
  co-user had opened it before the job, and the notebook starts there;
- the container runtime was asked for --containall (clean environment, PID and IPC
  namespaces) with only that directory as home and the agent's private 0700 directory
  bound, no other host directory (the record is checked, not just the argv);
- the notebook's token is in no process environment or command line (notebook, agent,
  runtime), and the config file that carried it is gone once the notebook answers;
- from inside alice's notebook (its mount and PID namespaces, seen through
  /proc/PID/root) bob's directory, token file and processes do not exist;
- alice's notebook's own contents API does not list ../bob.

What stays shared on a community account (all jobs are one Unix user) is printed as
diagnostics at the end, and written down in SECURITY.md: the uid itself (outside a
container every job can read every user's directory, signal their processes and
read /proc/PID/environ), the batch system (scancel, scontrol write batch_script of
every job of the account), and whatever a site bind brings into the container.
"""
import glob
import json
import os
import pwd
import socket
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Env  # noqa: E402
from test_session import session_cleanup, session_world, squeue_field  # noqa: E402

USERS = ("alice", "bob")
COMMUNITY = "nbcommunity"


def contained_world(cfg):
    """The world's clusters, the container by default and no site binds: the
    notebook must get nothing of the host but its user's own directory."""
    return cfg.replace("default_container: base", "default_container: scipy").replace(
        '    binds: ["/tmp"]\n', "")


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


def pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def notebook_pid(env, user):
    """The notebook server itself (not bwrap, not the agent) serving /user/USER/ for
    this test: the one on the socket its container runtime was given (other test
    environments on this machine may run notebooks for an "alice" too)."""
    r = record_of(env, user)
    sock = r and [a for a in r["command"] if a.startswith("--NotebookApp.sock=")]
    if not sock:
        return None
    for pid in pids():
        c = cmdline(pid)
        if c and sock[0] in c and os.path.basename(c[0]) != "bwrap" and "--no-browser" in c:
            return pid
    return None


def agent_pid(env, user):
    for pid in pids():
        c = cmdline(pid)
        if c and c[0] == env.w.agent and "--route" in c and c[c.index("--route") + 1] == user:
            return pid
    return None


def ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(") ", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def opt(c, name):
    for a in c:
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def unix_get(sock, path, token):
    """GET over the notebook's Unix socket; the status code."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock)
    s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: token %s\r\n"
               "Connection: close\r\n\r\n" % (path, token)).encode())
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return int(out.split(b" ", 2)[1]) if out.startswith(b"HTTP/1.") else -1


def standin_records(env):
    with open(env.w.standin_log) as f:
        return [json.loads(line) for line in f if line.strip()]


def record_of(env, user):
    for r in reversed(standin_records(env)):
        if "--NotebookApp.base_url=/user/%s/" % user in r.get("command", []):
            return r
    return None


def start(env):
    t = env.tap
    home = pwd.getpwnam(COMMUNITY).pw_dir
    env.dirs = {u: os.path.join(home, "nbgate", u) for u in USERS}
    # A co-user (or an old job) left bob's directory open before his job starts.
    os.makedirs(env.dirs["bob"], exist_ok=True)
    for d in (os.path.dirname(env.dirs["bob"]), env.dirs["bob"]):
        shutil_chown(d)
    os.chmod(env.dirs["bob"], 0o755)
    env.tok = {u: env.gw.token(u) for u in USERS}
    for u in USERS:
        st, m = env.api.call("POST", "/users/%s/server" % u, {"cluster": "hpc"})
        t.eq(st, 202, "%s's notebook on the community cluster requested" % u)
    env.model = {}
    for u in USERS:
        m, seen = env.api.wait(u, timeout=180)
        t.ok(m is not None and m["ready"], "%s's notebook (scipy container) becomes ready" % u,
             (seen, m))
        env.model[u] = m if m and m["ready"] else None
    return all(env.model.values())


def shutil_chown(path):
    os.chown(path, pwd.getpwnam(COMMUNITY).pw_uid, pwd.getpwnam(COMMUNITY).pw_gid)


def test_accounts(env):
    t = env.tap
    who = [squeue_field(env.model[u]["state"]["job_id"], "%u|%k").split("|")[0] for u in USERS]
    t.eq(who, [COMMUNITY, COMMUNITY], "both jobs run as the one Unix user %s (community "
         "account): the situation this test is about" % COMMUNITY)


def test_workdirs(env):
    t = env.tap
    a, b = env.dirs["alice"], env.dirs["bob"]
    uid = pwd.getpwnam(COMMUNITY).pw_uid
    sts = {}
    for u in USERS:
        try:
            sts[u] = os.lstat(env.dirs[u])
        except OSError:
            sts[u] = None
    t.ok(a != b and sts["alice"] is not None and stat.S_ISDIR(sts["alice"].st_mode) and
         stat.S_IMODE(sts["alice"].st_mode) == 0o700 and sts["alice"].st_uid == uid,
         "alice has her own working directory %s, 0700, owned by %s" % (a, COMMUNITY),
         sts["alice"])
    t.ok(sts["bob"] is not None and stat.S_IMODE(sts["bob"].st_mode) == 0o700,
         "attack coiso-open-dir: a working directory a co-user opened (0755) before bob's "
         "job is refused: the job made it 0700 again",
         oct(sts["bob"].st_mode) if sts["bob"] else None)
    for u in USERS:
        pid = notebook_pid(env, u)
        cwd = None
        try:
            cwd = os.readlink("/proc/%d/cwd" % pid) if pid else None
        except OSError:
            pass
        t.ok(cwd == env.dirs[u] and opt(cmdline(pid), "--NotebookApp.notebook_dir") ==
             env.dirs[u], "%s's notebook starts in (cwd, notebook_dir) her/his own directory"
             % u, (pid, cwd))


def test_runtime_record(env):
    """What the container runtime was asked: checked in the stand-in's own record."""
    t = env.tap
    for u in USERS:
        r = record_of(env, u)
        if not t.ok(r is not None, "the container runtime (stand-in) recorded %s's notebook" % u,
                    standin_records(env)[-2:]):
            continue
        c = r["command"]
        sockdir = os.path.dirname(opt(c, "--NotebookApp.sock") or "/x/y")
        t.ok(r["subcommand"] == "exec" and r["containall"] and r["contain"] and r["cleanenv"]
             and r["pid_ns"] and r["ipc_ns"] and "--containall" in r["argv"],
             "%s: exec --containall (contained filesystems, clean environment, PID and IPC "
             "namespaces)" % u, r)
        t.ok(r["home"] == env.dirs[u] and r["pwd"] == env.dirs[u],
             "%s: --home and --pwd are the user's own directory" % u, (r["home"], r["pwd"]))
        t.eq(r["host_dirs"], [env.dirs[u], sockdir],
             "attack coiso-bind-%s: any host directory in the container but the user's own "
             "and the agent's private one is refused (what was mounted)" % u)
        others = [d for v, d in env.dirs.items() if v != u]
        t.ok(not any(o in json.dumps(r) for o in others),
             "attack coiso-bind-other-%s: the co-user's directory in the request is refused: "
             "it is nowhere in it" % u)
        try:
            mode = stat.S_IMODE(os.stat(sockdir).st_mode)
        except OSError:
            mode = None
        t.ok(sockdir.startswith("/tmp/nbgate-") and mode == 0o700,
             "attack coiso-sockdir-%s: reaching the notebook's socket through its directory "
             "is refused to other users: the agent's directory is 0700" % u, (sockdir, mode))


def alice_token(env, sock):
    """alice's token and the runtime file it came from: Jupyter writes one
    (nbserver-PID.json) into its home, which should be her own directory; the
    account's shared home is looked at too, to catch a notebook that wrote it there
    (the file of this notebook: the one naming its socket)."""
    home = pwd.getpwnam(COMMUNITY).pw_dir
    for d in (env.dirs["alice"], home):
        for f in glob.glob(os.path.join(d, ".local/share/jupyter/runtime/nbserver-*.json")):
            with open(f) as fh:
                info = json.load(fh)
            if info.get("base_url") == "/user/alice/" and info.get("sock") == sock and \
                    info.get("token"):
                return info["token"], f
    return None, None


def test_token(env):
    t = env.tap
    pid, apid = notebook_pid(env, "alice"), agent_pid(env, "alice")
    c = cmdline(pid) if pid else []
    sock = opt(c, "--NotebookApp.sock")
    tok, where = alice_token(env, sock)
    real = tok is not None and sock is not None and unix_get(sock, "/user/alice/api/status", tok)
    wrong = sock is not None and unix_get(sock, "/user/alice/api/status", "x" * 43)
    t.ok(pid and apid and real == 200 and wrong == 403,
         "alice's token (from her notebook's runtime file) opens her notebook on its socket; "
         "a wrong one gets 403", (pid, apid, real, wrong))
    if not tok:
        return
    t.ok(where.startswith(env.dirs["alice"] + "/"),
         "attack coiso-token-shared-home: reading alice's token from the account's shared "
         "home is refused: her notebook writes its runtime file in her own 0700 directory", where)
    leaks = []
    for what, p in (("notebook", pid), ("agent", apid)):
        if tok.encode() in environ(p):
            leaks.append("%s %d environ" % (what, p))
        if any(tok in a for a in cmdline(p)):
            leaks.append("%s %d cmdline" % (what, p))
    leaks += ["pid %d cmdline" % p for p in pids() if any(tok in a for a in cmdline(p))]
    t.eq(leaks, [], "attack coiso-token-proc: reading alice's notebook token from "
         "/proc/PID/environ or /proc/PID/cmdline (notebook, agent, any process) is refused")
    r = record_of(env, "alice") or {}
    t.ok(r and tok not in json.dumps(r) and not any("TOKEN" in n for n in
                                                    r["env_names"] + r["child_env_names"]),
         "attack coiso-token-runtime: the token handed to the container runtime is refused: "
         "no argument or variable (none named *TOKEN*) it was given holds it", r)
    conf = opt(c, "--config")
    t.ok(conf is not None and conf.startswith(os.path.dirname(sock) + "/") and
         not os.path.exists(conf), "attack coiso-token-file: reading the token's config file "
         "named on the command line is refused: it is gone once the notebook answers", conf)


def ns_path(pid, path):
    return "/proc/%d/root%s" % (pid, path)


def test_namespaces(env):
    """What alice's notebook (and every kernel or terminal it starts) can see."""
    t = env.tap
    pid = notebook_pid(env, "alice")
    mine = os.path.join(env.dirs["alice"], "alice-notes.txt")
    with open(mine, "w") as f:
        f.write("alice's\n")
    shutil_chown(mine)
    theirs = os.path.join(env.dirs["bob"], "bob-secret.txt")
    with open(theirs, "w") as f:
        f.write("bob's\n")
    shutil_chown(theirs)
    try:
        own = os.listdir(ns_path(pid, env.dirs["alice"]))
    except OSError as e:
        own = str(e)
    t.ok(isinstance(own, list) and "alice-notes.txt" in own,
         "inside alice's notebook her own directory and files are there", own)
    seen = {}
    for what in (env.dirs["bob"], theirs,
                 os.path.join(env.dirs["bob"], ".local/share/jupyter/runtime")):
        seen[what] = os.path.exists(ns_path(pid, what))
    t.ok(pid is not None and not any(seen.values()),
         "attack coiso-files: alice's notebook reading bob's directory, files or token file "
         "is refused: none of them exists in its mount namespace", seen)
    t.ok(os.path.exists(theirs), "(bob's file does exist on the host)")

    def visible():
        out = {}
        try:
            entries = os.listdir(ns_path(pid, "/proc"))
        except OSError:
            return None
        for p in entries:
            if p.isdigit():
                try:
                    with open(ns_path(pid, "/proc/%s/cmdline" % p), "rb") as f:
                        out[int(p)] = f.read()
                except OSError:
                    pass
        return out
    procs = visible() or {}
    t.ok(any(b"/user/alice/" in c for c in procs.values()),
         "inside alice's notebook its own process is visible", sorted(procs))
    t.ok(procs and not any(b"/user/bob/" in c or b"nbgate-agent" in c for c in procs.values())
         and len(procs) < 10, "attack coiso-procs: alice's notebook seeing (or signalling) "
         "bob's notebook or either agent is refused: its PID namespace holds only its own "
         "%d processes" % len(procs), sorted(procs))
    with open("/proc/%d/status" % pid) as f:
        nspid = [l for l in f if l.startswith("NSpid:")]
    t.ok(nspid and len(nspid[0].split()) == 3,
         "alice's notebook is in a PID namespace of its own (NSpid has two levels)", nspid)


def test_api(env):
    t = env.tap
    st, _, out = env.gw.request("GET", "/user/alice/api/contents/", token=env.tok["alice"])
    names = [c["name"] for c in json.loads(out)["content"]] if st == 200 else []
    t.ok(st == 200 and "alice-notes.txt" in names,
         "alice's contents API lists her own directory", (st, names))
    for path in ("/user/alice/api/contents/..%2Fbob", "/user/alice/api/contents/../bob",
                 "/user/alice/api/contents/%2E%2E/bob/bob-secret.txt",
                 "/user/alice/api/contents/..%2F..%2Fnbgate%2Fbob"):
        st, _, out = env.gw.request("GET", path, token=env.tok["alice"])
        t.ok(400 <= st < 500 and b"bob's" not in out and b'"content"' not in out,
             "attack coiso-api-dotdot: listing bob's directory through alice's notebook API "
             "(%s) is refused: %d" % (path, st), out[:300])


def test_plain(env):
    """Without a container (container "base", runtime none) the notebook still gets its
    token through the config file, and Jupyter's runtime files (nbserver-PID.json holds
    the token, kernel-*.json the kernels' keys) go to the user's own directory."""
    t = env.tap
    st, m = env.api.call("POST", "/users/alice/servers/plain", {"cluster": "hpc",
                                                                "container": "base"})
    m, seen = env.api.wait("alice", "plain", timeout=180)
    if not t.ok(m is not None and m["ready"], "alice's notebook without a container becomes "
                "ready", (st, seen, m)):
        return
    pid = None
    for p in pids():
        c = cmdline(p)
        if c and "--NotebookApp.base_url=/user/alice/plain/" in c and "--no-browser" in c \
                and cmdline(ppid(p))[:1] == [env.w.agent]:
            pid = p     # this test's: a child of this test's agent
    files = glob.glob(os.path.join(env.dirs["alice"],
                                   ".local/share/jupyter/runtime/nbserver-*.json"))
    tok = None
    for f in files:
        with open(f) as fh:
            info = json.load(fh)
        if info.get("base_url") == "/user/alice/plain/":
            tok = info.get("token")
    c = cmdline(pid) if pid else []
    sock = opt(c, "--NotebookApp.sock")
    t.ok(pid and tok and sock and unix_get(sock, "/user/alice/plain/api/status", tok) == 200,
         "without a container: alice's token, from the runtime file in her own directory, "
         "opens that notebook", (pid, files))
    t.ok(pid and tok and tok.encode() not in environ(pid) and not any(tok in a for a in c) and
         not os.path.exists(opt(c, "--config") or "/nonexistent/x"),
         "attack coiso-token-plain: reading the token of a notebook without a container from "
         "its /proc/PID/environ, cmdline or config file is refused")
    env.api.call("DELETE", "/users/alice/servers/plain")


def test_shared(env):
    """What one Unix user cannot keep from itself: said, not hidden."""
    t = env.tap
    r = subprocess.run(["runuser", "-u", COMMUNITY, "--", "ls", env.dirs["bob"]],
                       capture_output=True, text=True, timeout=30)
    t.diag("SHARED on a community account: outside a container, any process of %s lists "
           "bob's 0700 directory: %s" % (COMMUNITY, "yes" if r.returncode == 0 else "no (%s)"
                                         % r.stderr.strip()))
    t.diag("SHARED: from outside a container, /proc/PID/environ and memory of every job of "
           "the account, signals to its processes, scancel and `scontrol write batch_script` "
           "of every job of the account (the uid is the only thing SLURM checks).")
    t.diag("SHARED: whatever a site bind (clusters.NAME.binds) brings into the container, "
           "e.g. /home. Where users must be isolated from each other use charging: user.")


def main():
    env = Env("test_coisolation")
    session_world(env, edit=contained_world)
    try:
        if start(env):
            for fn in (test_accounts, test_workdirs, test_runtime_record, test_token,
                       test_namespaces, test_api, test_plain, test_shared):
                env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        session_cleanup(env, USERS + ("alice/plain",))
    env.finish()


if __name__ == "__main__":
    main()
