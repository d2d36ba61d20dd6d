"""test_enroll_bind.py: enrollment bound to the real job (issue 13; tunnel/PROTOCOL
section 7), against the real SLURM of scripts/testenv.sh.  A session's one-time
secret sits in its batch script, which every job of a community account can read
(scontrol write batch_script); nbgated must ask SLURM that the agent's claimed job
is the session's, is running, and runs on the node the agent connects from.

The impostors are plain OpenSSH clients (`ssh -b ADDR`, so one can come from
127.0.0.2 while the job's node is 127.0.0.1) presenting the stolen secret as the
enrollment password, serving a web server of their own.  A third cluster, "slow",
is the same SLURM with a prologue that sleeps before the job's agent starts: the
job runs, and an impostor on its node can be first.
"""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import (Env, binary, free_port, route_connected, ssh_keygen,  # noqa: E402
                     wait_for)
import test_session as ts  # noqa: E402

SLOW = 25	# seconds a "slow" job waits before its own agent starts


def slow_cluster(env, cfg):
    """The World's clusters plus "slow", and "nat": slow, whose nodes may appear from
    127.0.0.0/31 only (clusters.nat.node_addresses, as behind NAT)."""
    slow = env.w.cluster("slow", "slurm").replace('prologue: "', 'prologue: "sleep %d; ' % SLOW, 1)
    nat = env.w.cluster("nat", "slurm").replace('prologue: "', 'prologue: "sleep %d; ' % SLOW, 1)
    return cfg + slow + nat + '    node_addresses: ["127.0.0.0/31"]\n'


def impostor_web(env, routes=("alice", "bob", "dave", "erin", "frank")):
    """A web server that answers /user/<route>/impostor.txt with IMPOSTOR."""
    root = env.path("impostor-web")
    for route in routes:
        os.makedirs(os.path.join(root, "user", route), exist_ok=True)
        with open(os.path.join(root, "user", route, "impostor.txt"), "w") as f:
            f.write("IMPOSTOR\n")
    env.web_port = free_port()
    env.procs.start("impostor-web", ["/usr/bin/python3", "-m", "http.server", "--bind",
                                     "127.0.0.1", "--directory", root, str(env.web_port)])


def impostor(env, route, secret, job, src, name):
    """OpenSSH from @src enrolling for @route with a stolen @secret, claiming @job."""
    key = ssh_keygen(env.path(name + ".key"))
    with open(key + ".pub") as f:
        blob = f.read().split()[1]
    pw = env.path(name + ".password")
    with open(pw, "w") as f:
        f.write("nbgate-enroll/1 %s ssh-ed25519 %s %s -\n" % (secret, blob, job))
    os.chmod(pw, 0o600)
    askpass = env.path(name + ".askpass")
    with open(askpass, "w") as f:
        f.write("#!/bin/sh\nexec cat '%s'\n" % pw)
    os.chmod(askpass, 0o700)
    known = env.path(name + ".known_hosts")
    with open(known, "w") as f:
        f.write("[127.0.0.1]:%d %s\n" % (env.gw.ssh_port, env.gw.hostkey_pub()))
    argv = ["ssh", "-N", "-F", "/dev/null", "-b", src, "-p", str(env.gw.ssh_port),
            "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + known,
            "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
            "-o", "NumberOfPasswordPrompts=1", "-o", "ExitOnForwardFailure=yes",
            "-o", "ServerAliveInterval=5",
            "-R", "0:127.0.0.1:%d" % env.web_port, "%s@127.0.0.1" % route]
    return env.procs.start(name, argv, env={"SSH_ASKPASS": askpass,
                                            "SSH_ASKPASS_REQUIRE": "force",
                                            "DISPLAY": ":0"})


def steal(job):
    """The one-time secret from the job's batch script, as any co-user can read it."""
    r = ts.scontrol("write", "batch_script", job, "-")
    m = re.search(r"NBGATE_ENROLL='([^']+)'", r.stdout)
    return m.group(1) if m else None


def start(env, user, opts):
    st, m = env.api.call("POST", "/users/%s/server" % user, opts)
    if st != 202:
        return None
    wait_for(lambda: (env.api.server(user)[1] or {}).get("state", {}).get("job_id"), 60)
    return env.api.server(user)[1]["state"].get("job_id")


def served(env, route):
    """What /user/ROUTE/impostor.txt gives the route's own user."""
    st, _, out = env.gw.request("GET", "/user/%s/impostor.txt" % route,
                                token=env.user_tokens[route], timeout=10)
    return st, out


def gwlog(env):
    return env.procs.log("nbgated")


def metric(env, name):
    st, _, out = env.gw.request("GET", "/hub/metrics", token=env.api.token)
    return ts.metric(out.decode(), name) if st == 200 else None


def test_legit(env):
    """The job's own agent enrolls: SLURM confirms job, state and node."""
    t = env.tap
    job = start(env, "alice", {"container": "base"})
    m, seen = env.api.wait("alice", timeout=150)
    t.ok(m is not None and m["ready"], "baseline: alice's job's own agent enrolls and the notebook "
         "becomes ready", (seen, m))
    t.eq(ts.proxied(env, "alice")[0], 200, "baseline: alice's notebook answers through the proxy")
    t.has(gwlog(env), "route alice: agent enrolled from job %s at 127.0.0.1" % job,
          "baseline: the gateway logs the enrollment as checked (job and node)")
    t.ok((metric(env, 'nbgate_enrollments_total{result="accepted"}') or 0) >= 1,
         "baseline: nbgate_enrollments_total counts it")
    env.alice_job = job


def test_not_running(env):
    """bob's job waits (partition DOWN): its secret is refused before it runs, and
    when it claims another (running) job; bob's own agent enrolls afterwards."""
    t = env.tap
    ts.partition("DOWN")
    try:
        job = start(env, "bob", {"container": "base", "queue": "compute"})
        secret = steal(job) if job else None
        if not t.ok(secret is not None, "bob's pending job script holds a secret (as any "
                    "co-user reads it)", job):
            return
        p = impostor(env, "bob", secret, job, "127.0.0.1", "impostor-pending")
        refused = wait_for(lambda: re.search(r"route bob: enrollment from 127\.0\.0\.1 \(job %s\): "
                                             r"job %s is not running" % (job, job), gwlog(env)), 30)
        t.ok(refused and wait_for(lambda: p.poll() is not None, 20) and
             not route_connected(env.gw, "bob") and served(env, "bob")[0] != 200,
             "attack enroll-not-running: an agent with a pending job's secret claiming that job "
             "is refused (SLURM says PENDING) and serves nothing", gwlog(env)[-1500:])
        env.procs.stop("impostor-pending")
        p = impostor(env, "bob", secret, env.alice_job, "127.0.0.1", "impostor-otherjob")
        t.ok(wait_for(lambda: p.poll() is not None, 20) and p.returncode != 0 and
             re.search(r"enrollment refused \(the agent is not in batch job %s\) for user 'bob'"
                       % job, gwlog(env)) and not route_connected(env.gw, "bob"),
             "attack enroll-other-job: the same secret claiming another running job on the "
             "same node is refused", env.procs.log("impostor-otherjob")[-500:])
        env.procs.stop("impostor-otherjob")
    finally:
        ts.partition("UP")
    m, seen = env.api.wait("bob", timeout=150)
    t.ok(m is not None and m["ready"] and ts.proxied(env, "bob")[0] == 200,
         "the refused attempts left the secret good: bob's own agent enrolls once the job runs",
         (seen, m))


def running(job):
    return ts.squeue_field(job, "%T") == "RUNNING"


def test_other_address(env):
    """dave's job runs, its agent not yet: the stolen secret from 127.0.0.2 is refused."""
    t = env.tap
    job = start(env, "dave", {"container": "base", "cluster": "slow"})
    ok = job and wait_for(lambda: running(job), 60)
    secret = steal(job) if ok else None
    if not t.ok(secret is not None, "dave's job runs (its agent waits %d s) and its secret is "
                "readable" % SLOW, job):
        return
    p = impostor(env, "dave", secret, job, "127.0.0.2", "impostor-elsewhere")
    refused = wait_for(lambda: re.search(r"route dave: enrollment from 127\.0\.0\.2 \(job %s\): "
                                         r"127\.0\.0\.2 is not the address of a node of job" % job,
                                         gwlog(env)), 30)
    t.ok(refused and wait_for(lambda: p.poll() is not None, 20) and
         not route_connected(env.gw, "dave") and served(env, "dave")[0] != 200,
         "attack enroll-stolen-secret: an agent on another host (127.0.0.2) using a running "
         "job's secret and id is refused and serves nothing", gwlog(env)[-1500:])
    env.procs.stop("impostor-elsewhere")
    m, seen = env.api.wait("dave", timeout=SLOW + 120)
    t.ok(m is not None and m["ready"] and ts.proxied(env, "dave")[0] == 200,
         "dave's own agent, on the job's node, then enrolls with the same secret", (seen, m))


def test_node_addresses(env):
    """clusters.nat.node_addresses: 127.0.0.0/31; the agent's address must be in it."""
    t = env.tap
    bad = env.path("bad-node-addresses.yaml")
    with open(env.gw.config) as f:
        text = f.read()
    with open(bad, "w") as f:
        f.write(text.replace('node_addresses: ["127.0.0.0/31"]', 'node_addresses: ["127.0.0.0/33"]'))
    r = subprocess.run([binary("nbgated"), "--check-config", bad], capture_output=True, text=True,
                       timeout=30)
    t.ok(r.returncode != 0 and "'127.0.0.0/33' is not an IP address or CIDR block" in r.stderr +
         r.stdout, "node_addresses: a bad CIDR block is a config error", r.stderr[-400:])
    job = start(env, "frank", {"container": "base", "cluster": "nat"})
    ok = job and wait_for(lambda: running(job), 60)
    secret = steal(job) if ok else None
    if not t.ok(secret is not None, "frank's job (cluster nat) runs and its secret is readable",
                job):
        return
    p = impostor(env, "frank", secret, job, "127.0.0.2", "impostor-nat")
    refused = wait_for(lambda: re.search(r"route frank: enrollment from 127\.0\.0\.2 \(job %s\): "
                                         r"127\.0\.0\.2 is not in clusters\.nat\.node_addresses" % job,
                                         gwlog(env)), 30)
    t.ok(refused and wait_for(lambda: p.poll() is not None, 20) and
         not route_connected(env.gw, "frank") and served(env, "frank")[0] != 200,
         "attack enroll-nat-outside: with node_addresses, a running job's secret and id from an "
         "address outside them is refused", gwlog(env)[-1000:])
    env.procs.stop("impostor-nat")
    m, seen = env.api.wait("frank", timeout=SLOW + 120)
    t.ok(m is not None and m["ready"] and ts.proxied(env, "frank")[0] == 200,
         "frank's own agent (127.0.0.1, inside node_addresses) enrolls", (seen, m))
    env.api.call("DELETE", "/users/frank/server")


def test_race(env):
    """erin's job runs; an impostor on the job's own node enrolls first (the check
    cannot tell it from the job's agent); when the job's agent comes with the used
    secret the session ends with a security alert and the route serves nothing."""
    t = env.tap
    before = metric(env, "nbgate_enroll_conflicts_total")
    job = start(env, "erin", {"container": "base", "cluster": "slow"})
    ok = job and wait_for(lambda: running(job), 60)
    secret = steal(job) if ok else None
    if not t.ok(secret is not None, "erin's job runs and its secret is readable", job):
        return
    impostor(env, "erin", secret, job, "127.0.0.1", "impostor-race")
    up = wait_for(lambda: route_connected(env.gw, "erin"), 30)
    st, out = served(env, "erin")
    t.ok(up and st == 200 and b"IMPOSTOR" in out, "the impostor on the job's node wins the race: "
         "until the job's agent comes, its tunnel serves erin's address", (st, out[:100]))
    m, seen = env.api.wait("erin", phases=("stopping", "ended"), timeout=SLOW + 60)
    reason = (m or {}).get("state", {}).get("reason") or ""
    t.ok("security alert" in reason and "used by two agents" in reason,
         "attack enroll-race: when the job's own agent finds its secret used, the session ends "
         "at once with a security alert as its reason", (seen, reason))
    st, out = served(env, "erin")
    t.ok(st != 200 and b"IMPOSTOR" not in out and not route_connected(env.gw, "erin") and
         "erin" not in env.gw.ctl("route", "list").stdout,
         "attack enroll-race: the impostor's tunnel is closed and the route removed: erin's "
         "address serves nothing", (st, out[:200]))
    t.ok(re.search(r"warning: .*security: session \d+ \(erin\): user erin, job %s: security alert.*"
                   r"\(agents from 127\.0\.0\.1 and 127\.0\.0\.1\)" % job, gwlog(env)),
         "attack enroll-race: a warning names the session, user, job and both addresses",
         [l for l in gwlog(env).splitlines() if "security" in l][-3:])
    t.eq(metric(env, "nbgate_enroll_conflicts_total"), (before or 0) + 1,
         "attack enroll-race: nbgate_enroll_conflicts_total counts the alert")
    st, _, page = env.gw.request("GET", "/hub/spawn-pending", token=env.user_tokens["erin"])
    t.ok(st == 200 and b"security alert" in page, "erin's pending page shows the alert",
         (st, page[-400:]))
    t.ok(wait_for(lambda: ts.squeue_field(job, "%T") == "", 60), "and the job is cancelled")
    env.procs.stop("impostor-race")


def main():
    env = Env("test_enroll_bind")
    ts.session_world(env, edit=lambda cfg: slow_cluster(env, cfg))
    env.user_tokens = {u: env.gw.token(u) for u in ("alice", "bob", "dave", "erin", "frank")}
    impostor_web(env)
    try:
        for fn in (test_legit, test_not_running, test_other_address, test_node_addresses,
                   test_race):
            env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        ts.partition("UP")
        ts.session_cleanup(env, ("alice", "bob", "dave", "erin", "frank"))
    env.finish()


if __name__ == "__main__":
    main()
