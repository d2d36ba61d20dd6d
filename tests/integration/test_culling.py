"""test_culling.py: sessions nobody uses are stopped (sessions.idle_timeout),
jobs forgotten in a queue are given up (sessions.queued_timeout), and
concurrent start requests for one server submit exactly one job. Real nbgated,
real SLURM over the test login node (World from test_session.py); users and
the partition are this test's own (cidle, cqueued, cconc; nbcull)."""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, Gateway, parse_env, testenv, wait_for  # noqa: E402
from test_session import Api, World, scontrol, session_cleanup, session_world  # noqa: E402

PART = "nbcull"
IDLE = 12
QUEUED = 12


def test_idle(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/cidle/server", {})
    t.eq(st, 202, "cidle's server requested")
    m, seen = env.api.wait("cidle", timeout=150)
    t.ok(m is not None and m["ready"], "cidle's notebook runs", (seen, m and m["state"]))
    tok = env.gw.token("cidle")
    # Used every few seconds for longer than the idle timeout: it stays.
    end = time.time() + IDLE + 6
    while time.time() < end:
        st, _, _ = env.gw.request("GET", "/user/cidle/api/status", token=tok)
        time.sleep(3)
    st, m = env.api.server("cidle")
    t.ok(m["state"]["phase"] == "running",
         "a notebook in use for %d s (> idle_timeout %d s) keeps running" % (IDLE + 6, IDLE),
         m["state"])
    t0 = time.time()
    m, seen = env.api.wait("cidle", phases=("ended",), timeout=IDLE + 60)
    took = time.time() - t0
    t.ok(m is not None and m["stopped"] and "without use" in (m["state"]["reason"] or ""),
         "left alone, it is stopped with the reason", m and m["state"])
    t.ok(IDLE - 4 <= took <= IDLE + 30, "stopped %.1f s after the last use (idle_timeout %d s)"
         % (took, IDLE))


def test_queued(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/cqueued/server", {"queue": PART})
    t.eq(st, 202, "cqueued's server requested in a partition that is down")
    m, seen = env.api.wait("cqueued", phases=("queued",), timeout=60)
    job = m and m["state"]["job_id"]
    t.ok(job is not None, "it waits in the queue", m and m["state"])
    m, seen = env.api.wait("cqueued", phases=("ended",), timeout=QUEUED + 60)
    t.ok(m is not None and "still waiting in queue" in (m["state"]["reason"] or ""),
         "after queued_timeout it is cancelled with the reason", m and m["state"])
    r = subprocess.run(["squeue", "-h", "-j", str(job), "-o", "%T"], capture_output=True,
                       text=True)
    t.eq(r.stdout.strip(), "", "its job is gone from the queue")


def test_concurrent(env):
    t = env.tap
    results = []

    def start():
        results.append(env.api.call("POST", "/users/cconc/server", {})[0])

    threads = [threading.Thread(target=start) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t.ok(sorted(results).count(202) == 1 and all(s in (202, 400) for s in results),
         "12 concurrent starts of one server: one 202, the rest 400", sorted(results))
    m, seen = env.api.wait("cconc", phases=("submitted", "queued", "starting", "running"),
                           timeout=60)
    r = subprocess.run(["squeue", "-h", "-n", "nbgate-cconc", "-o", "%i"], capture_output=True,
                       text=True)
    t.eq(len(r.stdout.split()), 1, "exactly one job was submitted")
    st, _ = env.api.call("DELETE", "/users/cconc/server")
    t.ok(st in (202, 204), "stopped", st)
    # Malformed and wrong-typed bodies are refused, nothing is started.
    for body, what in ((b"{", "malformed JSON"), (b"[]", "a JSON array"),
                       (b'{"user_options": 3}', "user_options not an object")):
        st, _, out = env.gw.request("POST", "/hub/api/users/cbad/server", token=env.api.token,
                                    body=body, headers={"Content-Type": "application/json"})
        j = json.loads(out) if out else {}
        t.ok(st == 400 and j.get("status") == 400 and j.get("message"),
             "%s: 400 with a message" % what, (st, out[:200]))
    st, _, _ = env.gw.request("POST", "/hub/api/users/cbad/server", token="nope" * 8,
                              body=b"{}", headers={"Content-Type": "application/json"})
    t.eq(st, 403, "a bad token: 403")


def main():
    env = Env("test_culling")
    session_world(env, edit=lambda cfg: cfg.replace(
        "sessions:\n", "sessions:\n  idle_timeout: %ds\n  queued_timeout: %ds\n"
        % (IDLE, QUEUED), 1).replace(
        "    queues:\n",
        "    queues:\n      %s:\n        walltime: {default: 20m, max: 1h}\n"
        "        cores: {default: 1, max: 2}\n        memory: {default: 256MiB, max: 1GiB}\n"
        % PART, 1))
    scontrol("delete", "PartitionName=" + PART)
    r = scontrol("create", "PartitionName=" + PART, "Nodes=ALL", "State=DOWN", "MaxTime=2:00:00")
    env.tap.ok(r.returncode == 0, "partition %s created, down" % PART, r.stderr)
    try:
        for fn in (test_concurrent, test_queued, test_idle):
            env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    finally:
        session_cleanup(env, ("cidle", "cqueued", "cconc"))
        scontrol("delete", "PartitionName=" + PART)
    env.finish()
    vals = parse_env(testenv("env").stdout)
    os.environ.update({k: v for k, v in vals.items()})
    env.w = World(env, vals)
    env.gw = Gateway(env)
    cfg = env.w.config(env.gw.ssh_port).replace(
        "sessions:\n", "sessions:\n  idle_timeout: %ds\n  queued_timeout: %ds\n"
        % (IDLE, QUEUED), 1).replace(
        "    queues:\n",
        "    queues:\n      %s:\n        walltime: {default: 20m, max: 1h}\n"
        "        cores: {default: 1, max: 2}\n        memory: {default: 256MiB, max: 1GiB}\n"
        % PART, 1)
    with open(env.gw.config, "a") as f:
        f.write(cfg)
    scontrol("delete", "PartitionName=" + PART)
    r = scontrol("create", "PartitionName=" + PART, "Nodes=ALL", "State=DOWN", "MaxTime=2:00:00")
    env.tap.ok(r.returncode == 0, "partition %s created, down" % PART, r.stderr)
    try:
        env.gw.start()
        env.api = Api(env.gw, env.gw.token("admin"))
        for fn in (test_concurrent, test_queued, test_idle):
            env.run(fn)
        env.tap.ok(env.gw.alive(), "nbgated is still running")
    except Exception as e:
        env.tap.ok(False, "nbgated starts", e)
    finally:
        for u in ("cidle", "cqueued", "cconc"):
            try:
                env.api.call("DELETE", "/users/%s/server" % u)
            except Exception:
                pass
        wait_for(lambda: subprocess.run(["squeue", "-h", "-n", "nbgate-cidle,nbgate-cqueued,"
                                         "nbgate-cconc"], capture_output=True,
                                        text=True).stdout.strip() == "", 60)
        scontrol("delete", "PartitionName=" + PART)
        env.w.keep_logs()
        if env.tap.failed == 0:
            import shutil
            shutil.rmtree(env.w.dir, ignore_errors=True)
    env.finish()


if __name__ == "__main__":
    main()
