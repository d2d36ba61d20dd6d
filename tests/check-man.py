#!/usr/bin/env python3
"""check-man.py: the manual pages are current and render cleanly.

nbgated.yaml(5) is made by scripts/man-config.py from the parser's own key
table (nbgated --config-keys) and etc/nbgated.yaml: it must equal what the
script makes now (else `make man-config` and commit), the example must write
no key the parser does not know, and every page must render with man(1)
without a warning. TAP output; run by `make check`.
"""
import importlib.util
import os
import subprocess
import sys

SRC = os.environ.get("NB_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("NB_BUILDDIR") or os.getcwd()
PAGES = ["daemon/nbgated.8", "daemon/nbgated.yaml.5", "ctl/nbgatectl.8",
         "agent/nbgate-agent.1"]

spec = importlib.util.spec_from_file_location(
    "man_config", os.path.join(SRC, "scripts", "man-config.py"))
mc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mc)

n = 0
failed = 0


def ok(cond, name, diag=()):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    for d in diag:
        print("# " + d)
    print("%s %d - %s" % ("ok" if cond else "not ok", n, name))


print("1..%d" % (3 + len(PAGES)))
rows = mc.keys(os.path.join(BUILD, "nbgated"))
with open(os.path.join(SRC, "etc", "nbgated.yaml"), encoding="utf-8") as f:
    example = f.read()
unknown = []
found = mc.descriptions(example, {r[0]: r[1] for r in rows}, unknown)
made = mc.page(rows, found)
with open(os.path.join(SRC, "daemon", "nbgated.yaml.5"), encoding="utf-8") as f:
    have = f.read()
diff = []
if made != have:
    a, b = have.splitlines(), made.splitlines()
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else "(end)"
        y = b[i] if i < len(b) else "(end)"
        if x != y:
            diff = ["daemon/nbgated.yaml.5:%d: has %r" % (i + 1, x),
                    "the parser's table and the example make %r" % y,
                    "run `make man-config` in the build directory and commit"]
            break
ok(made == have, "nbgated.yaml(5) is what the parser's %d keys and "
   "etc/nbgated.yaml make" % len(rows), diff)
ok(not unknown, "etc/nbgated.yaml writes only keys the parser knows",
   ["etc/nbgated.yaml:%d: %s is no key of the parser" % u for u in unknown])
described = [r[0] for r in rows if r[0] in found]
ok(len(described) * 2 > len(rows), "the example explains most keys (%d of %d)"
   % (len(described), len(rows)))
for p in PAGES:
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l",
                        os.path.join(SRC, p)], capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"))
    ok(r.returncode == 0 and not r.stderr.strip() and "NAME" in r.stdout,
       "%s renders without a warning (%d lines)" % (p, len(r.stdout.splitlines())),
       r.stderr.strip().splitlines()[:5])
sys.exit(1 if failed else 0)
