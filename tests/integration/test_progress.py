"""test_progress.py: GET /hub/api/users/NAME/server[s/SERVER]/progress, a
server's start as Server-Sent Events (JupyterHub's progress API; daemon/web/progress.c
builds the events, daemon/proxy/conn-hub.c streams them). Auth and 404 first, then with
the shared SLURM test environment (the World of test_session.py): a failed
start, a stop while queued, a full start seen through the stream by 200
clients at once, clients that leave mid-stream, and streams that outlive the
proxy's idle timeout thanks to keepalive comments.

Jobs are held in the queue of a partition of this test's own, "nbprogress",
created down and brought up when the start should go on (test_session.py
takes "compute" down and up, and may run at the same time). User names are
this test's own too: test_session.py kills notebooks by their base URL.
"""
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, wait_for  # noqa: E402
from test_session import Api, scontrol, session_cleanup, session_world  # noqa: E402

N_STREAMS = 200
PART = "nbprogress"


def partition(state):
    return scontrol("update", "PartitionName=" + PART, "State=" + state)


class Stream:
    """One progress stream read off a raw TLS socket: head, then events and comments."""

    def __init__(self, gw, path, token=None, timeout=60):
        s = socket.create_connection(("127.0.0.1", gw.https_port), timeout=timeout)
        self.sock = gw.ssl_context().wrap_socket(s)
        auth = "Authorization: token %s\r\n" % token if token else ""
        self.sock.sendall(("GET /hub/api%s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                           "Accept: text/event-stream\r\n\r\n" % (path, auth)).encode())
        self.buf = b""
        self.eof = False
        self.events, self.comments = [], []
        while b"\r\n\r\n" not in self.buf and self._fill():
            pass
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        self.headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def _fill(self):
        try:
            b = self.sock.recv(65536)
        except (ConnectionResetError, OSError):
            b = b""
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def body(self):
        """The rest of a non-stream answer (an error: JSON, close or length delimited)."""
        n = int(self.headers.get("content-length", "-1"))
        while (n < 0 or len(self.buf) < n) and self._fill():
            pass
        return self.buf[:n] if n >= 0 else self.buf

    def next(self, timeout=60):
        """The next event dict, or ':comment' text; None at EOF or timeout."""
        self.sock.settimeout(timeout)
        while b"\n\n" not in self.buf:
            try:
                if not self._fill():
                    return None
            except socket.timeout:
                return None
        block, _, self.buf = self.buf.partition(b"\n\n")
        text = block.decode()
        if text.startswith(":"):
            self.comments.append(text)
            return text
        lines = text.split("\n")
        assert len(lines) == 1 and lines[0].startswith("data: "), text
        ev = json.loads(lines[0][6:])
        self.events.append(ev)
        return ev

    def until_final(self, timeout=120):
        """Reads events until ready/failed; returns the final one or None."""
        end = time.time() + timeout
        while time.time() < end:
            ev = self.next(max(0.1, end - time.time()))
            if ev is None:
                return None
            if isinstance(ev, dict) and (ev.get("ready") or ev.get("failed")):
                return ev
        return None

    def closes(self, timeout=10):
        """True if the server closes the stream with nothing more in it."""
        self.sock.settimeout(timeout)
        try:
            while self._fill():
                pass
        except socket.timeout:
            return False
        return self.buf == b""

    def close(self, reset=False):
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            self.sock.close()
        except OSError:
            pass


def prog_path(user, server=""):
    return "/users/%s/server%s/progress" % (user, "s/" + server if server else "")


def test_auth(env):
    t = env.tap
    gw = env.gw
    st, _, out = gw.request("GET", "/hub/api" + prog_path("alice"))
    t.ok(st == 403 and json.loads(out)["status"] == 403, "no token: 403 JSON", (st, out))
    st, _, out = gw.request("GET", "/hub/api" + prog_path("alice"), token=env.tok["bob"])
    t.ok(st == 403 and json.loads(out)["status"] == 403, "bob on alice's progress: 403", (st, out))
    st, _, out = gw.request("GET", "/hub/api" + prog_path("alice"), token=env.tok["alice"])
    t.ok(st == 404 and json.loads(out)["message"] == "no such server",
         "alice's own progress, no server: 404 'no such server'", (st, out))
    st, _, out = gw.request("GET", "/hub/api" + prog_path("alice", "lab"), token=env.tok["alice"])
    t.eq(st, 404, "a named server that does not exist: 404")
    st, _, out = gw.request("GET", "/hub/api" + prog_path("nobody"), token=env.tok["admin"])
    t.eq(st, 404, "an admin asking for a user without servers: 404")
    st, _, out = gw.request("POST", "/hub/api" + prog_path("alice"), token=env.tok["alice"])
    t.eq(st, 405, "POST .../progress: 405")
    st, _, out = gw.request("GET", "/hub/api/users/alice/servers/Bad!/progress",
                            token=env.tok["alice"])
    t.eq(st, 400, "a bad server name: 400")
    st, _, out = gw.request("GET", "/hub/api/users/alice/servers//progress", token=env.tok["alice"])
    t.ok(st in (400, 403, 404), "an empty server name is no progress stream", st)


def check_order(t, events, what):
    pcts = [e.get("progress") for e in events if isinstance(e, dict)]
    t.ok(all(isinstance(p, int) and 0 <= p <= 100 for p in pcts) and
         all(a <= b for a, b in zip(pcts, pcts[1:])),
         "%s: progress is 0..100 and never goes back" % what, pcts)
    t.ok(all({"progress", "message", "phase", "session", "job_id"} <= set(e) for e in events),
         "%s: every event has progress, message, phase, session, job_id" % what, events[:3])


def test_failed_start(env):
    t = env.tap
    for user, server in (("alice", ""), ("alice", "lab")):
        st, m = env.api.call("POST", "/users/%s/server%s" % (user, "s/" + server if server
                                                              else ""), {"queue": "broken"})
        t.ok(st in (201, 202) or st >= 400, "start in a queue the scheduler does not have: %d" % st,
             m)
        sv = "%s%s" % (user, "/" + server if server else "")
        ok = wait_for(lambda: env.api.server(user, server)[1].get("state", {}).get("phase") ==
                      "ended", 30)
        t.ok(ok, "%s ends at once" % sv, env.api.server(user, server))
        s = Stream(env.gw, prog_path(user, server), env.tok[user])
        t.eq(s.status, 200, "%s: progress of an ended server: 200" % sv)
        t.ok(s.headers.get("content-type") == "text/event-stream" and
             s.headers.get("cache-control") == "no-cache" and
             s.headers.get("x-accel-buffering") == "no",
             "%s: text/event-stream, no-cache, X-Accel-Buffering: no" % sv, s.headers)
        ev = s.next(10)
        t.ok(isinstance(ev, dict) and ev.get("failed") is True and ev["phase"] == "ended" and
             ev["progress"] == 100 and ev["message"].startswith("The server ended") and
             "error_output" in ev,
             "%s: one failed event with the reason and error_output" % sv, ev)
        t.diag("failed event: %s" % json.dumps(ev)[:400])
        t.ok(s.closes(), "%s: the stream closes after the failed event" % sv, s.buf[:200])
        s.close()


def test_stop_queued(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/perin/server", {"queue": PART})
    t.eq(st, 202, "perin's server requested in the down partition")
    s = Stream(env.gw, prog_path("perin"), env.tok["admin"])
    t.eq(s.status, 200, "an admin's token opens perin's stream")
    seen = []
    end = time.time() + 60
    while time.time() < end:
        ev = s.next(60)
        if not isinstance(ev, dict):
            break
        seen.append(ev["phase"])
        if ev["phase"] == "queued":
            break
    t.ok(seen and seen[-1] == "queued", "perin's stream reaches queued", seen)
    q = s.events[-1] if s.events else {}
    t.ok(q.get("progress") == 30 and q.get("job_id") and q["job_id"] in q.get("message", ""),
         "queued: 30 %% and the job in the message: %r" % q.get("message"), q)
    st, _ = env.api.call("DELETE", "/users/perin/server")
    t.eq(st, 202, "stop perin's queued server")
    ev = s.until_final(60)
    t.ok(ev is not None and ev.get("failed") is True and "stopped by admin" in ev["message"],
         "a stop while queued: failed event naming the stop", ev)
    t.ok(s.closes(), "perin's stream closes")
    check_order(t, s.events, "perin")
    s.close()


def reader(s, out, i):
    try:
        out[i] = (s.until_final(240), s.closes(20))
    except Exception as e:  # noqa: BLE001
        out[i] = (None, repr(e))


def test_full_start(env):
    t = env.tap
    st, m = env.api.call("POST", "/users/pcarol/server", {"queue": PART})
    t.eq(st, 202, "pcarol's server requested in the down partition")
    main = Stream(env.gw, prog_path("pcarol"), env.tok["pcarol"])
    t.eq(main.status, 200, "pcarol's own token opens her stream")
    first = main.next(10)
    t.ok(isinstance(first, dict) and first.get("session") == m["state"]["session"],
         "the current state comes at once, with the session id", first)
    # 200 more streams on the same pending server, and 20 that leave early.
    streams, leavers = [], []
    for i in range(N_STREAMS):
        streams.append(Stream(env.gw, prog_path("pcarol"), env.tok["admin"] if i % 2 else
                              env.tok["pcarol"]))
    for i in range(20):
        leavers.append(Stream(env.gw, prog_path("pcarol"), env.tok["pcarol"]))
    t.ok(all(s.status == 200 for s in streams + leavers), "%d streams open" % len(streams + leavers),
         [s.status for s in streams if s.status != 200][:5])
    t.ok(wait_for(lambda: env.api.server("pcarol")[1]["state"]["phase"] == "queued", 60),
         "pcarol is queued")
    for i, s in enumerate(leavers):
        if i % 2:
            s.next(5)
        s.close(reset=i % 3 == 0)
    st = json.loads(env.gw.ctl("--json", "status").stdout)
    t.ok(env.gw.alive() and st["connections"] >= N_STREAMS,
         "nbgated is fine after 20 clients left mid-stream (%d connections)" % st["connections"])
    # The stream outlives the idle timeout (10 s here) with keepalive comments (15 s).
    got = None
    end = time.time() + 25
    while time.time() < end:
        ev = main.next(25)
        if isinstance(ev, str):
            got = ev
            break
        if ev is None:
            break
    t.eq(got, ": keepalive", "a keepalive comment while queued; the idle timeout did not cut it")
    out = [None] * len(streams)
    threads = [threading.Thread(target=reader, args=(s, out, i), daemon=True)
               for i, s in enumerate(streams)]
    for th in threads:
        th.start()
    partition("UP")
    final = main.until_final(240)
    t.ok(final is not None and final.get("ready") is True and final.get("url") == "/user/pcarol/"
         and final["progress"] == 100 and final["phase"] == "running",
         "pcarol's stream ends with ready, url /user/pcarol/", final)
    t.ok(main.closes(), "pcarol's stream closes after the ready event")
    phases = [e["phase"] for e in main.events]
    t.diag("phases: %s" % phases)
    t.diag("messages: %s" % [e["message"] for e in main.events])
    order = ["requested", "submitted", "queued", "starting", "running"]
    t.ok(phases[-1] == "running" and "queued" in phases and
         all(p in order for p in phases) and
         [order.index(p) for p in phases] == sorted(order.index(p) for p in phases),
         "phases in order, through queued, to running", phases)
    # "starting" is skipped when the agent enrolls before the scheduler is polled again.
    st_ev = [e for e in main.events if e["phase"] == "starting"]
    t.ok(all(e["progress"] == 60 and "the notebook is starting" in e["message"] for e in st_ev),
         "starting (%s): 60 %%, the node in the message" % ("seen" if st_ev else "skipped"),
         st_ev)
    check_order(t, main.events, "pcarol")
    for th in threads:
        th.join(60)
    good = sum(1 for o in out if o and o[0] is not None and o[0].get("ready") and o[1] is True)
    t.eq(good, N_STREAMS, "all %d concurrent streams get the ready event and are closed"
         % N_STREAMS)
    bad = [o for o in out if not (o and o[0] is not None and o[0].get("ready") and o[1] is True)]
    if bad:
        t.diag("not ready: %s" % bad[:3])
    for s in streams:
        s.close()
    # Already running: one ready event, then close.
    s = Stream(env.gw, prog_path("pcarol"), env.tok["pcarol"])
    ev = s.next(10)
    t.ok(isinstance(ev, dict) and ev.get("ready") is True and ev["url"] == "/user/pcarol/",
         "a stream on a running server: one ready event", ev)
    t.ok(s.closes(), "and closes")
    s.close()
    t.ok(wait_for(lambda: json.loads(env.gw.ctl("--json", "status").stdout)["connections"] <= 1,
                  20), "every stream's connection is gone",
         env.gw.ctl("--json", "status").stdout)


def main():
    env = Env("test_progress")
    session_world(env, gw_extra="proxy:\n  idle_timeout: 10s\n", edit=lambda cfg: cfg.replace(
        "    queues:\n",
        "    queues:\n      broken:\n"
        "        walltime: {default: 20m, max: 1h}\n        cores: {default: 1, max: 2}\n"
        "        memory: {default: 256MiB, max: 1GiB}\n"
        "      %s:\n        walltime: {default: 20m, max: 1h}\n        cores: {default: 1, max: 2}\n"
        "        memory: {default: 256MiB, max: 1GiB}\n" % PART, 1))
    env.tok = {u: env.gw.token(u) for u in ("admin", "alice", "bob", "pcarol", "perin")}
    env.api = Api(env.gw, env.tok["admin"])
    scontrol("delete", "PartitionName=" + PART)
    r = scontrol("create", "PartitionName=" + PART, "Nodes=ALL", "State=DOWN", "MaxTime=2:00:00")
    env.tap.ok(r.returncode == 0, "partition %s created, down" % PART, r.stderr)
    try:
        env.run(test_auth)
        env.run(test_failed_start)
        env.run(test_stop_queued)
        env.run(test_full_start)
        r = env.gw.ctl("status")
        env.tap.ok(env.gw.alive() and r.returncode == 0, "nbgatectl status answers; nbgated is "
                   "still running", r.stderr)
    finally:
        session_cleanup(env, ("alice", "alice/lab", "pcarol", "perin"))
        scontrol("delete", "PartitionName=" + PART)
    env.finish()


if __name__ == "__main__":
    main()
