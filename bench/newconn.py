#!/usr/bin/python3
"""New-connection load client for bench/run.sh (Python's ssl: OpenSSL does the work).

  newconn.py --url URL --conns N --duration S --resume 0|1 [--procs P] [--header H]...

N loops (threads, spread over P processes), each sends GET URL with Connection: close on a
new TLS connection, reads the answer to the end, closes, again, for S seconds.  --resume 1:
each loop offers the session of its last connection (a ticket or a session id, as browsers
do); 0: every handshake is a full one.  Prints one line "BENCHJSON {...}" with the fields
wrk-json.lua prints, plus how many handshakes resumed and the client's CPU.
"""
import argparse
import json
import multiprocessing
import os
import resource
import socket
import ssl
import threading
import time
import urllib.parse


def loop(a, ctx, host, port, req, end, out):
    sess, lat, n, resumed, errors = None, [], 0, 0, 0
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            s = socket.create_connection((host, port), timeout=10)
            # As browsers do: else the request waits behind the client's Finished for a
            # delayed ACK (~40 ms) whenever the two leave as separate small writes.
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = ctx.wrap_socket(s, server_hostname=host, session=sess if a.resume else None)
            t.sendall(req)
            head = b"".join(iter(lambda: t.recv(65536), b""))
            if a.resume:
                sess = t.session
            resumed += t.session_reused
            t.close()
            if not head.startswith(b"HTTP/1.1 2"):
                errors += 1
                continue
        except (OSError, ssl.SSLError):
            errors += 1
            continue
        n += 1
        lat.append((time.monotonic() - t0) * 1000)
    out.append((n, resumed, errors, lat))


def proc(a, nthreads, q):
    u = urllib.parse.urlsplit(a.url)
    host, port = u.hostname, u.port or 443
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    hdr = "".join("%s\r\n" % h for h in a.header)
    req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\n%sConnection: close\r\n\r\n"
           % (u.path or "/", host, port, hdr)).encode()
    end = time.monotonic() + a.duration
    out = []
    ts = [threading.Thread(target=loop, args=(a, ctx, host, port, req, end, out))
          for i in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q.put(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--conns", type=int, default=10)
    p.add_argument("--duration", type=float, default=3)
    p.add_argument("--resume", type=int, default=1)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--header", action="append", default=[])
    a = p.parse_args()
    t0 = time.monotonic()
    q = multiprocessing.Queue()
    per = [a.conns // a.procs + (1 if i < a.conns % a.procs else 0) for i in range(a.procs)]
    ps = [multiprocessing.Process(target=proc, args=(a, k, q)) for k in per if k > 0]
    for x in ps:
        x.start()
    res = []
    for x in ps:
        res += q.get()
    for x in ps:
        x.join()
    wall = time.monotonic() - t0
    n = sum(r[0] for r in res)
    lat = sorted(v for r in res for v in r[3])
    pct = lambda q: lat[min(len(lat) - 1, int(len(lat) * q / 100))] if lat else 0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    errors = sum(r[2] for r in res)
    print("BENCHJSON " + json.dumps({
        "requests": n, "duration_s": round(wall, 3), "req_per_s": round(n / wall, 1),
        "p50_ms": round(pct(50), 3), "p99_ms": round(pct(99), 3), "max_ms": round(pct(100), 3),
        "errors": errors, "errors_detail": {"connect": errors, "read": 0, "write": 0, "status": 0,
                                            "timeout": 0},
        "resumed": sum(r[1] for r in res),
        "client_cpu_s": round(ru.ru_utime + ru.ru_stime, 3)}))


if __name__ == "__main__":
    main()
