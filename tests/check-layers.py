#!/usr/bin/env python3
"""check-layers.py: includes and calls between the project's folders go one way.

Reads every #include "..." in the .c and .h files of the rooms below, resolves
it as the compiler does (the including file's folder, then the top of the
tree), and fails, naming file, line and include, when a room includes a
header of a room it may not use. Then reads the compiled objects in the build
directory (the current one, or NB_BUILDDIR) with nm and fails, naming object
and function, when one calls or reads a name that only a room it may not use
defines. TAP output; run by `make check` from the build directory.
"""
import os
import re
import subprocess
import sys

# The order of rooms, bottom up: each room may include its own headers and
# those of the rooms it lists, which must come earlier in this list. A file
# belongs to the room with the longest matching folder, so finer rooms inside
# daemon/ (e.g. ("daemon/core", [...]), ("daemon/ident", [..., "daemon/core"]))
# go here and daemon/'s own files (gate.c, main.c) keep the widest entry.
ROOMS = [
    ("common", []),
    ("scheduler", ["common"]),
    ("tunnel", ["common"]),
    ("daemon/core", ["common"]),
    ("daemon/ident", ["common", "daemon/core"]),
    ("daemon/proxy", ["common", "tunnel", "daemon/core", "daemon/ident"]),
    ("daemon/sess", ["common", "scheduler", "tunnel", "daemon/core",
                     "daemon/ident", "daemon/proxy"]),
    ("daemon/web", ["common", "scheduler", "tunnel", "daemon/core",
                    "daemon/ident", "daemon/proxy", "daemon/sess"]),
    ("daemon", ["common", "scheduler", "tunnel", "daemon/core", "daemon/ident",
                "daemon/proxy", "daemon/sess", "daemon/web"]),
    ("ctl", ["common"]),
    ("agent", ["common"]),
]

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def room_of(path):
    """The room a path (relative to the top, '/'-separated) lies in, or None."""
    best = None
    for name, _ in ROOMS:
        if path.startswith(name + "/") and (best is None or
                                             len(name) > len(best)):
            best = name
    return best


def resolve(top, rel_file, target):
    """The include's path relative to the top, or None if not the project's."""
    for base in (os.path.dirname(rel_file), ""):
        cand = os.path.normpath(os.path.join(base, target))
        if not cand.startswith("..") and os.path.isfile(os.path.join(top, cand)):
            return cand.replace(os.sep, "/")
    # Not found in the source tree (e.g. autoconf's config.h): only a path
    # that names a room is still the project's own.
    cand = os.path.normpath(target).replace(os.sep, "/")
    return cand if room_of(cand) is not None else None


def order_problems():
    """Entries of ROOMS that use a later or unknown room (the list is the order)."""
    seen, bad = [], []
    for name, uses in ROOMS:
        for u in uses:
            if u not in seen:
                bad.append("%s uses %s, which is not below it in ROOMS" % (name, u))
        seen.append(name)
    return bad


def sources(top, room):
    """The .c and .h files of a room (not those of finer rooms inside it)."""
    out = []
    for dirpath, dirnames, files in os.walk(os.path.join(top, room)):
        dirnames.sort()
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                rel = os.path.relpath(os.path.join(dirpath, f), top)
                rel = rel.replace(os.sep, "/")
                if room_of(rel) == room:
                    out.append(rel)
    return out


def check_room(top, room, uses):
    """(files scanned, includes seen, problems) for one room."""
    allowed = set(uses) | {room}
    files = sources(top, room)
    n, bad = 0, []
    for rel in files:
        with open(os.path.join(top, rel), encoding="utf-8",
                  errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if m is None:
                    continue
                path = resolve(top, rel, m.group(1))
                if path is None:
                    continue
                n += 1
                other = room_of(path)
                if other is not None and other not in allowed:
                    bad.append('%s:%d: #include "%s": %s may not include %s '
                               "(it may use: %s)" % (rel, lineno, m.group(1),
                               room, other, ", ".join(uses) or "nothing"))
    return len(files), n, bad


def object_names(obj):
    """(defined, undefined) global names of one object file, by nm."""
    out = subprocess.run(["nm", obj], capture_output=True, text=True,
                         check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRCG":
            defined.add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
    return defined, undefined


def check_calls(build):
    """(objects read, problems): calls from a room into one it may not use."""
    objs = {}
    for name, _ in ROOMS:
        for dirpath, dirnames, files in os.walk(os.path.join(build, name)):
            dirnames.sort()
            for f in sorted(files):
                if f.endswith(".o"):
                    rel = os.path.relpath(os.path.join(dirpath, f), build)
                    rel = rel.replace(os.sep, "/")
                    if room_of(rel) == name:
                        objs[rel] = object_names(os.path.join(build, rel))
    definers = {}
    for rel, (defined, _) in objs.items():
        for sym in defined:
            definers.setdefault(sym, set()).add(room_of(rel))
    uses = dict(ROOMS)
    bad = []
    for rel, (_, undefined) in sorted(objs.items()):
        room = room_of(rel)
        allowed = set(uses[room]) | {room}
        for sym in sorted(undefined):
            rooms = definers.get(sym)
            # a name two rooms define (main) is nobody's in particular
            if rooms is None or len(rooms) != 1:
                continue
            other = next(iter(rooms))
            if other not in allowed:
                bad.append("%s: uses %s, which only %s/ defines (%s may use: "
                           "%s)" % (rel, sym, other, room,
                                    ", ".join(uses[room]) or "nothing"))
    return len(objs), bad


def main():
    top = os.environ.get("NB_SRCDIR") or os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    build = os.environ.get("NB_BUILDDIR") or os.getcwd()
    print("1..%d" % (len(ROOMS) + 2))
    bad = order_problems()
    for b in bad:
        print("# " + b)
    failed = bool(bad)
    print("%s 1 - ROOMS is an order (each room uses only rooms below it)" %
          ("not ok" if bad else "ok"))
    for i, (room, uses) in enumerate(ROOMS, 2):
        nfiles, nincl, bad = check_room(top, room, uses)
        if nfiles == 0:
            bad.append("%s/: no .c or .h files under %s" % (room, top))
        for b in bad:
            print("# " + b)
        failed = failed or bool(bad)
        print("%s %d - %s/: %d files, %d project includes, none upward" %
              ("not ok" if bad else "ok", i, room, nfiles, nincl))
    nobjs, bad = check_calls(build)
    if nobjs == 0:
        bad.append("no object files of the rooms under %s: run from the build "
                   "directory after make, or set NB_BUILDDIR" % build)
    for b in bad:
        print("# " + b)
    failed = failed or bool(bad)
    print("%s %d - calls: %d objects read, none into a room above" %
          ("not ok" if bad else "ok", len(ROOMS) + 2, nobjs))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
