"""run.py: the LOG_COMPILER of tests/over-h2/*.h2 (see tests/local.mk).

Each .h2 file names one test file of tests/integration or tests/attack; run.py runs it with
NB_HTTP=h2, so that the harness's Gateway.request() and get() speak HTTP/2 (ALPN h2) and the
same checks of the proxy, its authorization and its security rules hold over both protocols.
Its artifacts go to test-artifacts/<test>-h2/."""
import os
import runpy
import sys


def main():
    spec = os.path.abspath(sys.argv[1])
    with open(spec) as f:
        names = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    if len(names) != 1:
        sys.exit("%s: names %d test files, not one" % (spec, len(names)))
    target = os.path.normpath(os.path.join(os.path.dirname(spec), names[0]))
    os.environ["NB_HTTP"] = "h2"
    sys.path.insert(0, os.path.dirname(target))
    sys.argv = [target]
    runpy.run_path(target, run_name="__main__")


if __name__ == "__main__":
    main()
