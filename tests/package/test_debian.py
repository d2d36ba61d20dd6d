#!/usr/bin/env python3
"""test_debian: the Debian packages build, install into a fresh Debian 12
root, start, and purge clean, following README's "Installing on a gateway"
section word for word.

1. `make dist`, unpack, and run README's build block there as written
   (`sh scripts/deps.sh pkg`, `dpkg-buildpackage -us -uc -b`); lintian on the
   result (every tag it prints is a failure unless debian/*.lintian-overrides
   explains it).
2. debootstrap a minimal bookworm (with systemd and man-db, as a gateway VM
   has them) from deb.debian.org into a scratch directory; the base system
   is cached under $NB_DEBOOTSTRAP_CACHE (default /var/cache/nbgate-test) as a
   tarball so that a second run does not download it again; every run
   unpacks a fresh copy.
3. In the root (chroot), README's install block, line by line as written,
   except two lines systemd would do on a real VM: `editor` (the test makes
   its own edit: free loopback ports) and the start part of
   `systemctl enable --now` (no systemd runs as PID 1 here: the test runs
   `systemctl enable`, which works offline in the root). The test then
   starts what the installed unit says, as the unit's User, with
   NOTIFY_SOCKET, waits for READY=1, and gets /hub/health.
4. The installed unit passes `systemd-analyze verify` (its man: pages
   resolve) and is rated by `systemd-analyze security`; the pages render.
5. `apt-get purge` the packages and `apt-get autoremove --purge` what they
   pulled in: no file is left that was not there before, except the
   backups passwd-/group-/shadow-/gshadow- (made by adduser's tools) and
   the system user nbgate, which Debian keeps (it may own files elsewhere).
"""
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))
from harness import BUILDDIR, SRCDIR, free_port, run_all, wait_for  # noqa: E402

MIRROR = "http://deb.debian.org/debian"
CACHE = os.environ.get("NB_DEBOOTSTRAP_CACHE", "/var/cache/nbgate-test")
BASE = "bookworm-minbase-systemd.tar"
# what is no file of a package: apt's and dpkg's own state, logs, caches
VOLATILE = ("/var/lib/apt/", "/var/lib/dpkg/", "/var/cache/", "/var/log/", "/tmp/",
            "/proc/", "/run/", "/dev/", "/sys/", "/root/", "/var/lib/systemd/deb-systemd",
            "/etc/ld.so.cache", "/var/lib/ucf/", "/var/lib/man-db/", "/var/lib/systemd/catalog/",
            "/usr/lib/python3/dist-packages/__pycache__", "/etc/resolv.conf",
            "/deb/")
POLICY = ("/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-")


# What `make check` puts in the environment that a site's shell does not
# have: make's own variables would carry this run's TESTS into the package
# build's `make check` (which would then run this test again, and again).
NOT_A_USERS_SHELL = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "NB_BUILDDIR",
                     "NB_SRCDIR", "NB_TESTENV", "NB_TESTENV_KEEP", "ASAN_OPTIONS")


def plain_env():
    return {k: v for k, v in os.environ.items() if k not in NOT_A_USERS_SHELL}


def sh(env, name, argv, timeout=1800, cwd=None, **kw):
    """Runs a command to completion, its output in the artifacts as NAME.log."""
    with open(env.path(name + ".log"), "ab") as log:
        log.write(("$ %s\n" % " ".join(argv)).encode())
        log.flush()
        r = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                           cwd=cwd, stdin=subprocess.DEVNULL, env=plain_env(), **kw)
    return r.returncode


def tail(env, name, n=2500):
    try:
        with open(env.path(name + ".log"), errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def readme_blocks():
    """The shell blocks of README's "Installing on a gateway" section."""
    with open(os.path.join(SRCDIR, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Installing on a gateway.*?(?=^## )", text, re.M | re.S)
    if m is None:
        return []
    return [[l for l in b.splitlines() if l.strip() and not l.lstrip().startswith("#")]
            for b in re.findall(r"```sh\n(.*?)```", m.group(0), re.S)]


class World:
    pass


W = World()


def setup(env):
    W.blocks = readme_blocks()
    W.root = env.path("root")
    W.mounted = []


def test_build(env):
    t = env.tap
    t.eq(len(W.blocks), 2, "README's install section has a build block and an install block")
    if len(W.blocks) != 2:
        return
    # the release tarball, unpacked: what a site downloads
    rc = sh(env, "dist", ["make", "dist"], cwd=BUILDDIR)
    tars = sorted(glob.glob(os.path.join(BUILDDIR, "nbgate-*.tar.gz")))
    t.ok(rc == 0 and tars, "make dist makes the tarball", tail(env, "dist"))
    if not tars:
        return
    work = env.path("build")
    os.makedirs(work)
    sh(env, "dist", ["tar", "-xzf", tars[-1], "-C", work])
    src = glob.glob(os.path.join(work, "nbgate-*"))[0]
    for line in W.blocks[0]:
        rc = sh(env, "build", ["sh", "-ec", line], cwd=src, timeout=3600)
        if not t.ok(rc == 0, "build block: `%s`" % line, tail(env, "build")):
            return
    W.debs = {os.path.basename(p).split("_")[0]: p
              for p in glob.glob(os.path.join(work, "*.deb")) if "-dbgsym_" not in p}
    t.eq(sorted(W.debs), ["nbgate", "nbgate-agent", "nbgate-slurmlib"],
         "three packages: nbgate, nbgate-agent, nbgate-slurmlib")
    r = subprocess.run(["lintian", "--no-tag-display-limit"] + sorted(W.debs.values()),
                       capture_output=True, text=True, timeout=900)
    tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWIP]: ", l)]
    t.ok(not tags, "lintian prints no tag (%d packages)" % len(W.debs), "\n".join(tags))
    contents = subprocess.run(["dpkg-deb", "-c", W.debs.get("nbgate-agent", "/dev/null")],
                              capture_output=True, text=True).stdout
    t.ok("./usr/bin/nbgate-agent" in contents and "nbgated" not in contents,
         "nbgate-agent holds the agent and nothing of the gateway", contents[-1500:])


def mount(what, where, *opts):
    os.makedirs(where, exist_ok=True)
    subprocess.run(["mount"] + list(opts) + [what, where], check=True)
    W.mounted.append(where)


def unmount_all():
    for m in reversed(W.mounted):
        subprocess.run(["umount", m])
    W.mounted = []


def chroot(env, name, cmd, timeout=900, user=None):
    argv = ["chroot"] + (["--userspec=%s" % user] if user else []) + \
        [W.root, "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
         "DEBIAN_FRONTEND=noninteractive", "HOME=/root", "LC_ALL=C.UTF-8",
         "sh", "-ec", cmd]
    return sh(env, name, argv, timeout=timeout)


def files(root):
    out = set()
    for d, dirs, fs in os.walk(root):
        rel = "/" + os.path.relpath(d, root) if d != root else "/"
        for x in fs + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            p = os.path.normpath(os.path.join(rel, x))
            if not any(p.startswith(v) or p == v.rstrip("/") for v in VOLATILE):
                out.add(p)
    return out


def test_root(env):
    t = env.tap
    if not hasattr(W, "debs") or len(W.debs) != 3:
        t.ok(False, "no packages to install (see the build checks)")
        return
    os.makedirs(CACHE, exist_ok=True)
    base = os.path.join(CACHE, BASE)
    if not os.path.exists(base):
        tmp = env.path("debootstrap")
        rc = sh(env, "debootstrap", ["debootstrap", "--variant=minbase",
                                     "--include=systemd,man-db,ca-certificates", "bookworm",
                                     tmp, MIRROR], timeout=1800)
        if not t.ok(rc == 0, "debootstrap a minimal Debian 12 root", tail(env, "debootstrap")):
            return
        sh(env, "debootstrap", ["tar", "-cf", base + ".tmp", "-C", tmp, "."])
        os.rename(base + ".tmp", base)
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        t.diag("the Debian 12 base system comes from %s (made by debootstrap on an "
               "earlier run)" % base)
    os.makedirs(W.root)
    rc = sh(env, "root", ["tar", "-xf", base, "-C", W.root])
    t.ok(rc == 0 and os.path.exists(os.path.join(W.root, "usr/bin/apt-get")),
         "a fresh Debian 12 root", tail(env, "root"))
    shutil.copy("/etc/resolv.conf", os.path.join(W.root, "etc/resolv.conf"))
    try:
        # debootstrap made the root's own /dev nodes: only /proc is mounted
        mount("proc", os.path.join(W.root, "proc"), "-t", "proc")
        install_and_run(env)
    finally:
        unmount_all()
    # 300 MB of root and packages, kept only to look at a failure; never
    # while anything is mounted in the root
    mounted = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                             text=True).stdout
    if not t.failed and W.root not in mounted:
        shutil.rmtree(W.root, ignore_errors=True)
        shutil.rmtree(env.path("build"), ignore_errors=True)


def install_and_run(env):
    t = env.tap
    before = files(W.root)
    debdir = os.path.join(W.root, "deb")
    os.makedirs(debdir)
    for p in W.debs.values():
        shutil.copy(p, debdir)
    rc = chroot(env, "apt", "apt-get update -qq", timeout=900)
    t.ok(rc == 0, "apt-get update in the root (Debian's mirror)", tail(env, "apt"))
    https, ssh = free_port(), free_port()
    edit = ("sed -i -e 's/^  https: 0.0.0.0:8443$/  https: 127.0.0.1:%d/' "
            "-e 's/^  ssh: 0.0.0.0:2222$/  ssh: 127.0.0.1:%d/' /etc/nbgate/nbgated.yaml"
            % (https, ssh))
    for line in W.blocks[1]:
        word = line.split()[0]
        if word == "editor":
            cmd, what = edit, "`%s` (the test's edit: loopback ports %d, %d)" % (line, https, ssh)
        elif word == "systemctl" and "--now" in line.split():
            # no systemd runs as PID 1 here: enable as written, start below
            cmd = line.replace(" --now", "")
            what = "`%s` as `%s` (the start is the test's, below)" % (line, cmd)
        else:
            cmd, what = "cd /deb && " + line, "install block: `%s`" % line
        rc = chroot(env, "install", cmd)
        if not t.ok(rc == 0, what, tail(env, "install")):
            return
    t.ok(os.path.islink(os.path.join(W.root, "etc/systemd/system/multi-user.target.wants/"
                                     "nbgated.service")), "nbgated.service is enabled")
    pw = open(os.path.join(W.root, "etc/passwd")).read()
    m = re.search(r"^nbgate:x:(\d+):(\d+):[^:\n]*:([^:\n]*):([^:\n]*)$", pw, re.M)
    t.ok(m is not None and int(m.group(1)) < 1000 and m.group(4) in
         ("/usr/sbin/nologin", "/bin/false"),
         "postinst made the system user nbgate (no login shell)", m.group(0) if m else pw[-500:])
    st = os.stat(os.path.join(W.root, "var/lib/nbgate"))
    t.ok(m is not None and st.st_uid == int(m.group(1)) and (st.st_mode & 0o777) == 0o700,
         "/var/lib/nbgate is nbgate's, 0700", oct(st.st_mode))
    conff = subprocess.run(["chroot", W.root, "dpkg-query", "-W", "-f=${Conffiles}", "nbgate"],
                           capture_output=True, text=True).stdout
    t.has(conff, "/etc/nbgate/nbgated.yaml", "the configuration is a conffile")

    unit_path = os.path.join(W.root, "lib/systemd/system/nbgated.service")
    unit = open(unit_path).read() if os.path.exists(unit_path) else ""
    t.ok("Type=notify" in unit, "the installed unit is Type=notify")
    rc = chroot(env, "analyze", "systemd-analyze verify /lib/systemd/system/nbgated.service")
    t.ok(rc == 0 and "nbgated.service:" not in tail(env, "analyze"),
         "systemd-analyze verify: the installed unit, its commands and man: pages check out",
         tail(env, "analyze"))
    r = subprocess.run(["chroot", W.root, "systemd-analyze", "security", "--offline=true",
                        "/lib/systemd/system/nbgated.service"],
                       capture_output=True, text=True, timeout=300)
    sc = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\S+)", r.stdout)
    t.ok(sc is not None and float(sc.group(1)) < 2.0, "systemd-analyze security: %s"
         % (sc.group(0) if sc else "no rating"), r.stdout[-1500:] + r.stderr)
    # the compute nodes' package (README: install it where jobs run)
    rc = chroot(env, "agent", "cd /deb && apt-get install -y ./nbgate-agent_*.deb")
    t.ok(rc == 0, "nbgate-agent installs", tail(env, "agent"))
    rc = chroot(env, "agent", "rc=0; nbgate-agent >/dev/null 2>&1 || rc=$?; test $rc = 2")
    t.ok(rc == 0, "nbgate-agent runs (a usage error without options: exit 2)",
         tail(env, "agent"))
    for page in ("nbgated", "nbgated.yaml", "nbgatectl", "nbgate-agent"):
        rc = chroot(env, "man", "man -P cat %s | grep -q NAME" % page)
        t.ok(rc == 0, "man %s renders in the root" % page, tail(env, "man"))

    run_unit(env, unit, https)

    rc = chroot(env, "purge", "apt-get purge -y -qq nbgate nbgate-agent && "
                "apt-get autoremove --purge -y -qq")
    t.ok(rc == 0, "apt-get purge, then autoremove what they pulled in", tail(env, "purge"))
    # what dependencies leave is their packages' business (apt may keep a
    # package another one recommends); what no installed package owns is ours
    owned = set()
    for lst in glob.glob(os.path.join(W.root, "var/lib/dpkg/info/*.list")):
        with open(lst, errors="replace") as f:
            owned.update(l.rstrip("\n") for l in f)
    left = sorted(f for f in files(W.root) - before if f not in POLICY and f not in owned)
    t.ok(not left, "no file is left that was not there before and no installed package "
         "owns (but the passwd-, group-, shadow-, gshadow- backups)", "\n".join(left[:60]))
    st = subprocess.run(["chroot", W.root, "dpkg-query", "-W", "-f=${db:Status-Abbrev}\n",
                         "nbgate", "nbgate-agent"], capture_output=True, text=True)
    t.ok("rc" not in st.stdout and "ii" not in st.stdout,
         "dpkg knows neither package any more (no config files kept)", st.stdout + st.stderr)
    pw = open(os.path.join(W.root, "etc/passwd")).read()
    t.ok(re.search(r"^nbgate:", pw, re.M) is not None,
         "the system user nbgate stays, as Debian keeps system users")



def exec_lines(unit, key):
    return [l.split("=", 1)[1] for l in unit.splitlines() if l.startswith(key + "=")]


def run_unit(env, unit, https):
    """What systemd would do: ExecStartPre, then ExecStart as User= with NOTIFY_SOCKET."""
    t = env.tap
    user = exec_lines(unit, "User")[-1] if exec_lines(unit, "User") else "root"
    for pre in exec_lines(unit, "ExecStartPre"):
        rc = chroot(env, "startpre", pre, user="%s:%s" % (user, user))
        t.ok(rc == 0, "ExecStartPre as %s: `%s`" % (user, pre), tail(env, "startpre"))
    start = exec_lines(unit, "ExecStart")
    if not t.ok(len(start) == 1, "one ExecStart"):
        return
    ns = os.path.join(W.root, "run", "nbgate-notify.sock")
    os.makedirs(os.path.dirname(ns), exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(ns)
    os.chmod(ns, 0o777)
    s.settimeout(0.5)
    argv = ["chroot", "--userspec=%s:%s" % (user, user), W.root, "/usr/bin/env", "-i",
            "PATH=/usr/sbin:/usr/bin", "NOTIFY_SOCKET=/run/nbgate-notify.sock"] + start[0].split()
    p = env.procs.start("nbgated", argv)
    got = []

    def ready():
        try:
            got.append(s.recv(4096).decode())
        except socket.timeout:
            pass
        return any("READY=1" in m.split("\n") for m in got)
    ok = wait_for(ready, 60)
    t.ok(ok, "nbgated (the unit's ExecStart, as %s) says READY=1" % user,
         env.procs.log("nbgated")[-2000:])
    if ok:
        out = subprocess.run(["curl", "-sk", "--max-time", "10",
                              "https://127.0.0.1:%d/hub/health" % https],
                             capture_output=True, text=True).stdout
        t.eq(out, "ok\n", "GET /hub/health from the host answers ok")
        pw = open(os.path.join(W.root, "etc/passwd")).read()
        m = re.search(r"^nbgate:x:(\d+):", pw, re.M)
        uid = os.stat("/proc/%d" % p.pid).st_uid	# chroot and env exec nbgated
        t.ok(m is not None and uid == int(m.group(1)) and
             os.readlink("/proc/%d/exe" % p.pid).endswith("/usr/sbin/nbgated"),
             "nbgated runs as nbgate, not root", "uid %r" % uid)
    rc = env.procs.stop("nbgated")
    wait_for(lambda: ready() and False, 1)	# what it said while stopping
    t.ok(any("STOPPING=1" in m.split("\n") for m in got), "SIGTERM: STOPPING=1", got)
    t.eq(rc, 0, "nbgated exits 0")
    s.close()
    os.unlink(ns)


def unmount_leftovers():
    """Mounts a killed earlier run left in its root: detached before anything
    removes the artifacts."""
    base = os.path.join(BUILDDIR, "test-artifacts", "test_debian")
    for _ in range(2):
        out = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                             text=True).stdout.split("\n")
        for m in sorted((m for m in out if m.startswith(base + "/")), reverse=True):
            subprocess.run(["umount", "-l", m])
    out = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                         text=True).stdout
    if base + "/" in out:
        print("not ok 1 - mounts under %s cannot be detached\n1..1" % base)
        sys.exit(1)


if __name__ == "__main__":
    if os.environ.get("NB_PACKAGE_TEST_RUNNING"):
        print("not ok 1 - test_debian ran inside its own package build\n1..1")
        sys.exit(1)
    os.environ["NB_PACKAGE_TEST_RUNNING"] = "1"	# kept by plain_env(): a guard
    if os.geteuid() != 0:
        print("not ok 1 - test_debian needs root (chroot, mount)\n1..1")
        sys.exit(1)
    unmount_leftovers()
    try:
        run_all("test_debian", setup, [test_build, test_root])
    finally:
        unmount_all()
