#!/usr/bin/python3
"""Reads OUT/raw/<path>/*.json from bench/run.sh, prints the tables, writes OUT/results.json.

Usage: /usr/bin/python3 bench/report.py OUTDIR
"""
import json
import os
import sys

LABEL = {"direct": "direct", "nginx": "nginx→ssh", "chp": "CHP→ssh", "nbgated": "nbgated",
         "nbgated_b": "nbgated (B build)"}
PEERS = (("nginx", 1.5), ("chp", 5.0))   # small-request targets: nbgated / peer


def load_results(out):
    meta = json.load(open(os.path.join(out, "meta.json")))
    paths = {}
    for p in meta["paths"]:
        d = os.path.join(out, "raw", p)
        entry = {"label": LABEL.get(p, p), "loads": {}}
        if not os.path.isdir(d):
            entry["failed"] = "not run"
        elif os.path.exists(os.path.join(d, "failed")):
            entry["failed"] = open(os.path.join(d, "failed")).read().strip()
        else:
            for f in sorted(os.listdir(d)):
                # small_cN.rK.json are the rounds behind small_cN.json
                if f.endswith(".json") and f != "procs.json" and ".r" not in f[:-5]:
                    try:
                        entry["loads"][f[:-5]] = json.load(open(os.path.join(d, f)))
                    except ValueError as e:
                        entry["loads"][f[:-5]] = {"failed": f"bad json: {e}"}
        paths[p] = entry
    return meta, paths


def val(paths, p, load, key):
    """A number from one load of one path, or None."""
    e = paths.get(p)
    if not e or "failed" in e:
        return None
    d = e["loads"].get(load)
    if not d or "failed" in d:
        return None
    v = d.get(key)
    return v if isinstance(v, (int, float)) else None


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float) and abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}" if isinstance(v, float) else f"{v:,}"


def ratio(a, b):
    return round(a / b, 2) if a is not None and b not in (None, 0) else None


def columns(meta):
    ns = [int(n) for n in meta["ws_idle_ns"]]
    http = [("100B c10 req/s", "small_c10", "req_per_s", 0), ("p99 ms", "small_c10", "p99_ms", 2),
            ("100B c100 req/s", "small_c100", "req_per_s", 0), ("p99 ms", "small_c100", "p99_ms", 2),
            ("nb status c10 req/s", "nbstatus_c10", "req_per_s", 0),
            ("new conn 100B req/s", "small_new_c10", "req_per_s", 0),
            ("new conn nb status req/s", "nbstatus_new_c10", "req_per_s", 0),
            ("new conn resuming req/s", "small_new_resume", "req_per_s", 0),
            ("new conn full hs req/s", "small_new_full", "req_per_s", 0),
            ("1MiB c1 MB/s", "bulk_c1", "mb_per_s", 1), ("1MiB c10 MB/s", "bulk_c10", "mb_per_s", 1),
            ("HTTP errors", None, "errors", 0)]
    ws = [("WS echo msg/s", "ws_echo", "msgs_per_s", 0)]
    for n in ns:
        ws += [(f"KiB/WS @{n}", f"ws_idle_{n}", "kib_per_ws", 1),
               (f"open @{n}", f"ws_idle_{n}", "open", 0),
               (f"errors @{n}", f"ws_idle_{n}", "errors", 0),
               (f"agent KiB/WS @{n}", f"ws_idle_{n}", "agent_kib_per_ws", 1)]
    return http, ws


def http_errors(paths, p):
    e = paths.get(p)
    if not e or "failed" in e:
        return None
    return sum(d.get("errors", 0) for k, d in e["loads"].items()
               if not k.startswith("ws_") and isinstance(d.get("errors"), int))


def cell(paths, p, load, key):
    if load is None:
        return http_errors(paths, p)
    return val(paths, p, load, key)


def table(title, cols, meta, paths, ratio_keys):
    rows = [[title] + [c[0] for c in cols]]
    for p in meta["paths"]:
        e = paths[p]
        if "failed" in e:
            rows.append([e["label"], "failed: " + e["failed"]])
            continue
        row = [e["label"]]
        for name, load, key, digits in cols:
            v = cell(paths, p, load, key)
            if v is None and load and load not in e["loads"]:
                row.append("not run")   # BENCH_SMALL_ONLY, or the run stopped early
            elif v is None and load and "failed" in e["loads"][load]:
                row.append("fail")
            else:
                row.append(fmt(float(v), digits) if isinstance(v, float) else fmt(v))
        rows.append(row)
    for peer, _ in PEERS:
        if "nbgated" not in paths or peer not in paths:
            continue
        row = [f"nbgated / {LABEL[peer]}"]
        for name, load, key, digits in cols:
            if not ratio_keys(key):
                row.append("")
                continue
            r = ratio(cell(paths, "nbgated", load, key), cell(paths, peer, load, key))
            row.append("-" if r is None else f"{r:.2f}×")
        rows.append(row)
    return render(rows)


def render(rows):
    width = max(len(r) for r in rows)
    w = [0] * width
    for r in rows:
        if len(r) == 2 and r[1].startswith("failed:"):
            w[0] = max(w[0], len(r[0]))
            continue
        for i, c in enumerate(r):
            w[i] = max(w[i], len(str(c)))
    lines = []
    for j, r in enumerate(rows):
        if len(r) == 2 and r[1].startswith("failed:"):
            lines.append(r[0].ljust(w[0]) + "  " + r[1])
            continue
        lines.append("  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i])
                               for i, c in enumerate(r)))
        if j == 0:
            lines.append("-" * len(lines[-1]))
    return "\n".join(lines)


def cpu_table(meta, paths):
    loads = ["small_c10", "small_c100", "nbstatus_c10", "small_new_c10", "nbstatus_new_c10",
             "small_new_resume", "small_new_full", "bulk_c1", "bulk_c10", "ws_echo"]
    rows = [["CPU % of one core: load gen/proxy/agent"] + loads]
    for p in meta["paths"]:
        e = paths[p]
        if "failed" in e:
            continue
        row = [e["label"]]
        for ld in loads:
            d = e["loads"].get(ld, {})
            g = d.get("gen") or {}
            wall = g.get("wall_s") or d.get("duration_s")
            if "failed" in d or not wall:
                row.append("-")
                continue
            pc = "-" if p == "direct" else f"{100 * d.get('proxy_cpu_s', 0) / wall:.0f}"
            ac = "-" if p == "direct" else f"{100 * d.get('agent_cpu_s', 0) / wall:.0f}"
            row.append(f"{100 * g.get('cpu_s', 0) / wall:.0f}/{pc}/{ac}")
        rows.append(row)
    return render(rows)


def targets(meta, paths):
    ns = [int(n) for n in meta["ws_idle_ns"]]
    res = []

    def add(what, value, ok, goal):
        res.append({"target": what, "goal": goal, "value": value,
                    "result": "n/a" if ok is None else ("PASS" if ok else "FAIL")})

    for load in ("small_c10", "small_c100"):
        for peer, goal in PEERS:
            r = ratio(val(paths, "nbgated", load, "req_per_s"), val(paths, peer, load, "req_per_s"))
            add(f"{load} req/s nbgated / {LABEL[peer]}", r, None if r is None else r >= goal,
                f">= {goal}×")
    for load, goal in (("nbstatus_new_c10", 1.5), ("small_new_c10", 2.0), ("small_new_full", 2.0)):
        r = ratio(val(paths, "nbgated", load, "req_per_s"), val(paths, "nginx", load, "req_per_s"))
        if r is not None:
            add(f"{load} req/s nbgated / nginx→ssh (a new TLS connection per request)", r, r >= goal,
                f">= {goal}×")
    # Issue 17: twice the OpenSSH tunnel at 10 connections, 250 MB/s on one.
    for load, goal in (("bulk_c1", 1.0), ("bulk_c10", 2.0)):
        r = ratio(val(paths, "nbgated", load, "mb_per_s"), val(paths, "nginx", load, "mb_per_s"))
        add(f"{load} MB/s nbgated / OpenSSH tunnel (nginx→ssh, {meta.get('ssh_cipher', 'same cipher')})", r,
            None if r is None else r >= goal, f">= {goal}×")
    m = val(paths, "nbgated", "bulk_c1", "mb_per_s")
    add("bulk_c1 MB/s nbgated, one connection", m, None if m is None else m >= 250, ">= 250 MB/s")
    for n in ns:
        k = val(paths, "nbgated", f"ws_idle_{n}", "kib_per_ws")
        add(f"nbgated KiB per idle WebSocket @{n}", k, None if k is None else k <= 16, "<= 16 KiB")
    n = max(ns)
    o, e = val(paths, "nbgated", f"ws_idle_{n}", "open"), val(paths, "nbgated", f"ws_idle_{n}", "errors")
    note = "" if n >= 10000 else f" (only {n} in this run; target is 10,000)"
    add(f"nbgated holds {n} idle WebSockets without errors{note}", None if o is None else f"{o} open, {e} errors",
        None if o is None else (o == n and e == 0), "all open, 0 errors")
    return res


def rounds_lines(meta, paths):
    """The small-request rounds behind the medians in the HTTP table."""
    n = meta.get("rounds", 1)
    if n <= 1:
        return []
    lines = [f"100B req/s in {n} rounds, paths interleaved (the table shows each path's median):"]
    for p in meta["paths"]:
        e = paths[p]
        if "failed" in e:
            continue
        parts = []
        for load in ("small_c10", "small_c100"):
            r = e["loads"].get(load, {}).get("rounds")
            if r:
                parts.append(f"{load[6:]}: " + " / ".join(fmt(float(x), 0) for x in r))
        if parts:
            lines.append(f"  {e['label']:<12} " + "   ".join(parts))
    return lines


def h2page_lines(meta, paths):
    """The h2 rows: a page of 100 small assets through nbgated, h2 (1 connection) vs HTTP/1.1 (6),
    and Chromium's load of the notebook's tree page over h2 and HTTP/1.1."""
    lines = []
    for p in meta["paths"]:
        d = paths.get(p, {}).get("loads", {}).get("h2page")
        if d is None:
            continue
        if "failed" in d:
            lines.append(f"  {LABEL.get(p, p)}: failed: {d['failed']}")
            continue
        for key, what in (("h2", "h2, 1 connection, 100 streams"), ("h1", "HTTP/1.1, 6 connections")):
            e = d.get(key, {})
            if "failed" in e:
                lines.append(f"  {LABEL.get(p, p)} {what}: failed: {e['failed']}")
                continue
            lines.append(f"  {LABEL.get(p, p)} {what}: last asset after {e['last_asset_ms']} ms "
                         f"(median of {e['loads']} pages), {e['req_per_s']} req/s"
                         f"{', %d failed requests' % e['failed_requests'] if e['failed_requests'] else ''}")
        h2, h1 = d.get("h2", {}), d.get("h1", {})
        if "last_asset_ms" in h2 and "last_asset_ms" in h1:
            lines.append(f"  {LABEL.get(p, p)}: h2 / HTTP/1.1 time to the last asset: "
                         f"{h2['last_asset_ms'] / h1['last_asset_ms']:.2f}")
    for p in meta["paths"]:
        d = paths.get(p, {}).get("loads", {}).get("pageload")
        if d is None:
            continue
        for key, what in (("h2", "h2"), ("h1", "HTTP/1.1 (--disable-http2)")):
            e = d.get(key, {})
            if "failed" in e or "error" in e:
                lines.append(f"  {LABEL.get(p, p)} Chromium, notebook tree page, {what}: failed: "
                             f"{e.get('failed') or e.get('error', '')[:200]}")
                continue
            lines.append(f"  {LABEL.get(p, p)} Chromium, notebook tree page, {what}: load event "
                         f"{e.get('load_ms')} ms, last of {e.get('resources')} resources "
                         f"{e.get('last_asset_ms')} ms (median of {e.get('reps')}, over "
                         f"{'/'.join(e.get('protocols', []))})")
    return (["", "HTTP/2 through nbgated (h2load: a page of 100 small assets; Chromium: the notebook's "
             "tree page):"] + lines) if lines else []


def main():
    out = sys.argv[1]
    meta, paths = load_results(out)
    http, ws = columns(meta)
    rate_keys = lambda k: k in ("req_per_s", "mb_per_s", "msgs_per_s", "kib_per_ws", "p99_ms")
    mode = "quick" if meta.get("quick") else "full"
    text = [f"nbgate benchmark ({mode}: {meta['duration_s']} s per load, {meta['cores']} cores, "
            f"all on 127.0.0.1; one run, compare ratios rather than absolute numbers)", "",
            table("HTTP", http, meta, paths, rate_keys)] + rounds_lines(meta, paths) + ["",
            table("WebSocket", ws, meta, paths, rate_keys), "",
            "Ratios are nbgated / peer: above 1 is better for req/s, MB/s and msg/s; below 1 is better"
            " for p99 ms and KiB/WS.", "",
            cpu_table(meta, paths)] + h2page_lines(meta, paths) + ["", "Targets:"]
    tg = targets(meta, paths)
    for t in tg:
        text.append(f"  [{t['result']:>4}] {t['target']}: {t['value'] if t['value'] is not None else '-'}"
                    f" (goal {t['goal']})")
    notes = []
    for p in meta["paths"]:
        if "failed" in paths[p]:
            notes.append(f"  {LABEL.get(p, p)}: failed: {paths[p]['failed']}")
            continue
        for ld, d in sorted(paths[p]["loads"].items()):
            if "failed" in d:
                notes.append(f"  {LABEL.get(p, p)} {ld}: failed: {d['failed']}")
            elif d.get("errors"):
                notes.append(f"  {LABEL.get(p, p)} {ld}: {d['errors']} errors"
                             f" {d.get('errors_detail') or d.get('first_error') or ''}")
    if notes:
        text += ["", "Failures and errors:"] + notes
    text.append("")
    text.append(f"Logs: {out}/logs   raw numbers: {out}/raw   JSON: {out}/results.json")
    print("\n".join(text))
    ratios = {}
    for peer, _ in PEERS:
        for load in ("small_c10", "small_c100", "nbstatus_c10", "small_new_c10", "nbstatus_new_c10",
                     "small_new_resume", "small_new_full", "bulk_c1", "bulk_c10", "ws_echo"):
            key = "msgs_per_s" if load == "ws_echo" else ("mb_per_s" if load.startswith("bulk") else "req_per_s")
            ratios[f"{load}.{key} nbgated/{peer}"] = ratio(val(paths, "nbgated", load, key),
                                                           val(paths, peer, load, key))
        for n in meta["ws_idle_ns"]:
            ratios[f"ws_idle_{n}.kib_per_ws nbgated/{peer}"] = ratio(
                val(paths, "nbgated", f"ws_idle_{n}", "kib_per_ws"), val(paths, peer, f"ws_idle_{n}", "kib_per_ws"))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": meta, "paths": paths, "ratios": ratios, "targets": tg}, f, indent=1)
    with open(os.path.join(out, "table.txt"), "w") as f:
        f.write("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
