#!/bin/sh
# The second command of the README: installs what the tests need (Debian
# packages), builds with ASan+UBSan and -Werror in _build/, runs every test
# (`make check`: unit and integration), and prints "N passed, N failed".
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh test
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi
mkdir -p _build
cd _build
if [ ! -f Makefile ] || [ ../configure -nt Makefile ]; then
	../configure -q --enable-asan --enable-werror --enable-debug
fi
make -j2
# Leak checks run in the unit tests; libssh and OpenSSL keep global state at exit.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export ASAN_OPTIONS
# Integration tests start the SLURM/PBS/login-node environment (scripts/testenv.sh)
# on first use; it is stopped by PID at the end unless NB_TESTENV_KEEP=1.
if [ "${NB_TESTENV_KEEP:-0}" != 1 ]; then
	trap 'bash "$top/scripts/testenv.sh" stop >/dev/null 2>&1 || true' EXIT
fi
status=0
make check || status=$?
log=test-suite.log
pass=0 fail=0 skip=0
if [ -f "$log" ]; then
	for f in $(find tests -name '*.trs'); do
		p=$(grep -c '^:test-result: \(PASS\|XFAIL\)' "$f" || true)
		x=$(grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)' "$f" || true)
		k=$(grep -c '^:test-result: SKIP' "$f" || true)
		pass=$((pass + p)); fail=$((fail + x)); skip=$((skip + k))
	done
fi
# The release tarball must build and pass the unit tests on its own (make distcheck).
if [ "$status" -eq 0 ]; then
	unit=$(cd "$top" && ls tests/unit/test-*.c | sed 's/\.c$//' | tr '\n' ' ')
	if make distcheck TESTS="$unit" >distcheck.log 2>&1; then
		pass=$((pass + 1))
		echo "PASS: make distcheck"
	else
		fail=$((fail + 1)); status=1
		echo "FAIL: make distcheck (see $top/_build/distcheck.log)"
	fi
fi
if [ "$status" -ne 0 ]; then
	echo "make check failed: see $top/_build/test-suite.log and $top/_build/test-artifacts/"
	[ "$fail" -eq 0 ] && fail=1
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
