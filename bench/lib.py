#!/usr/bin/python3
"""Small helpers for bench/run.sh (stdlib only; run with /usr/bin/python3).

  lib.py freeport N            print N free TCP ports on 127.0.0.1, one a line
  lib.py tree PID...           print PID and all its descendants, one a line
  lib.py rss PID...            print the summed VmRSS of the PIDs in KiB
  lib.py cpu PID...            print the summed user+system CPU time of the PIDs in seconds
  lib.py cpurun OUT -- CMD...  run CMD, pass its output through, write {"cpu_s","wall_s"} to OUT
  lib.py wrkjson IN OUT K=V... pull the BENCHJSON line out of wrk's output IN, add fields, write OUT
  lib.py median DIR NAME N    DIR/NAME.json := the median of DIR/NAME.r1..rN.json by req/s
"""
import json
import os
import re
import resource
import socket
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def freeport(n):
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    for s in socks:
        print(s.getsockname()[1])
        s.close()


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pids):
    kids = children_map()
    seen, todo = [], [int(p) for p in pids]
    while todo:
        p = todo.pop()
        if p in seen or not os.path.exists(f"/proc/{p}"):
            continue
        seen.append(p)
        todo.extend(kids.get(p, []))
    for p in sorted(seen):
        print(p)


def rss(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    print(total)


def cpu(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    print(f"{total / TICK:.2f}")


def cpurun(out, cmd):
    t0 = time.monotonic()
    rc = subprocess.call(cmd)
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        json.dump({"cpu_s": round(ru.ru_utime + ru.ru_stime, 3), "wall_s": round(wall, 3),
                   "rc": rc}, f)
    return rc


def write_with(dst, data, extra):
    """dst := DATA as JSON, with each "key=value" of EXTRA in it (value as JSON if it parses)."""
    for kv in extra:
        k, v = kv.split("=", 1)
        try:
            data[k] = json.loads(v)
        except ValueError:
            data[k] = v
    with open(dst, "w") as f:
        json.dump(data, f)


def wrkjson(src, dst, extra):
    data = None
    with open(src, errors="replace") as f:
        for line in f:
            if line.startswith("BENCHJSON "):
                data = json.loads(line[len("BENCHJSON "):])
    if data is None:
        data = {"failed": f"wrk printed no result (see {src})"}
    write_with(dst, data, extra)


def h2page(h2txt, h1txt, dst, extra):
    """dst := one page of small assets fetched over h2 (one connection) and over HTTP/1.1 (six)
    by h2load, many times: per protocol the median time to the last asset (h2load's "finished
    in", connections included), the requests per second that makes, and the failed requests."""
    def runs(src):
        out, fails, proto = [], 0, set()
        try:
            text = open(src, errors="replace").read()
        except OSError:
            return out, 1, proto
        for line in text.splitlines():
            m = re.match(r"finished in ([\d.]+)(ms|s|us),", line)
            if m:
                v = float(m.group(1))
                out.append(v * {"ms": 1, "s": 1000, "us": 0.001}[m.group(2)])
            m = re.match(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded", line)
            if m:
                fails += int(m.group(1)) - int(m.group(2))
            m = re.match(r"Application protocol: (\S+)", line)
            if m:
                proto.add(m.group(1))
        return out, fails, proto
    data = {}
    for key, src in (("h2", h2txt), ("h1", h1txt)):
        t, fails, proto = runs(src)
        if not t:
            data[key] = {"failed": f"h2load printed no result (see {src})"}
            continue
        t.sort()
        med = t[len(t) // 2]
        data[key] = {"last_asset_ms": round(med, 2), "req_per_s": round(100 * 1000 / med, 1),
                     "loads": len(t), "failed_requests": fails, "protocol": sorted(proto)}
    write_with(dst, data, extra)


def median(d, name, rounds):
    """d/name.json := the median of d/name.rK.json (K = 1..rounds) by req/s, with
    every round's req/s in "rounds" (a failed round counts as 0)."""
    runs = []
    for k in range(1, int(rounds) + 1):
        try:
            with open(os.path.join(d, f"{name}.r{k}.json")) as f:
                runs.append(json.load(f))
        except (OSError, ValueError):
            runs.append({"failed": f"round {k} left no result"})
    order = sorted(range(len(runs)), key=lambda i: runs[i].get("req_per_s", 0))
    pick = dict(runs[order[len(order) // 2]])
    pick["rounds"] = [r.get("req_per_s", 0) for r in runs]
    with open(os.path.join(d, f"{name}.json"), "w") as f:
        json.dump(pick, f)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "freeport":
        freeport(rest[0])
    elif cmd == "tree":
        tree(rest)
    elif cmd == "rss":
        rss(rest)
    elif cmd == "cpu":
        cpu(rest)
    elif cmd == "cpurun":
        sys.exit(cpurun(rest[0], rest[2:]))
    elif cmd == "wrkjson":
        wrkjson(rest[0], rest[1], rest[2:])
    elif cmd == "h2page":
        h2page(rest[0], rest[1], rest[2], rest[3:])
    elif cmd == "median":
        median(rest[0], rest[1], rest[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
