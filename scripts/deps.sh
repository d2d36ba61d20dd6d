#!/bin/sh
# Installs what nbgate needs from Debian 12 (run as root). Groups: build, test, slurm, demo, bench, pkg.
# Usage: scripts/deps.sh [build] [test] [slurm] [bench] [pkg]   (default: build)
# pkg: what `dpkg-buildpackage -us -uc -b` needs (debian/control's Build-Depends).
# slurm: the single-node SLURM + accounting + PBS CLI + login sshd of scripts/testenv.sh.
# gridengine: Debian's Grid Engine 8.1.9 for testenv.sh's cell. gridengine-client conflicts with
#   slurm-wlm-torque (both ship qsub/qstat/qdel), so its packages are unpacked, not installed, into
#   $NB_GRIDENGINE_PREFIX (default /opt/nbgate-gridengine); their libraries come from apt. The
#   binaries load their spooling libraries from /usr/lib/gridengine (compiled in), so that path and
#   /usr/share/gridengine become symbolic links into the prefix (if nothing else is there).
set -eu
groups="${*:-build}"
build="autoconf automake libtool pkg-config make gcc libc6-dev
       libevent-dev libssl-dev libssh-dev libjansson-dev libyaml-dev libhttp-parser-dev
       libsqlite3-dev libcurl4-openssl-dev libpam0g-dev openssl ca-certificates
       libnghttp2-dev"
test="openssh-server openssh-client jupyter-notebook python3-websocket python3-requests
      curl procps iproute2 psmisc clang libclang-rt-14-dev bubblewrap chromium nftables
      myproxy-server myproxy jupyterhub
      python3-jupyter-server
      nghttp2-client python3-h2"
slurm="munge slurmctld slurmd slurm-client slurmdbd mariadb-server mariadb-client
       libslurm-dev slurm-wlm-torque openssh-server openssh-client procps iproute2 util-linux passwd
       slurmrestd slurm-wlm-jwt-plugin"
# apps (test): the remote desktop the agent starts (nbgate-desktop)
test="$test tigervnc-standalone-server novnc twm xterm fonts-dejavu-core websocketd"
demo="openssh-client jupyter-notebook python3 openssl passwd util-linux"
bench="nginx-light wrk node-configurable-http-proxy node-ws"
pkg="debhelper dpkg-dev fakeroot libslurm-dev"
gridengine="libjemalloc2 libdb5.3 libhwloc15 libtirpc3 libmunge2 libssl3 procps"
ge_debs="gridengine-common gridengine-client gridengine-master gridengine-exec"
ge_prefix="${NB_GRIDENGINE_PREFIX:-/opt/nbgate-gridengine}"
# the package test: a fresh Debian root, lintian, systemd-analyze, man
pkgtest="debootstrap lintian systemd man-db gdb"
pkgs=""
want_ge=0
for g in $groups; do
	case "$g" in
	build) pkgs="$pkgs $build" ;;
	test) pkgs="$pkgs $build $test $slurm $gridengine $pkg $pkgtest"; want_ge=1 ;;
	slurm) pkgs="$pkgs $slurm" ;;
	gridengine) pkgs="$pkgs $gridengine"; want_ge=1 ;;
	demo) pkgs="$pkgs $build $demo" ;;
	bench) pkgs="$pkgs $build $test $slurm $gridengine $bench"; want_ge=1 ;;
	pkg) pkgs="$pkgs $build $pkg" ;;
	*) echo "deps.sh: unknown group '$g' (build, test, slurm, gridengine, demo, bench, pkg)" >&2; exit 2 ;;
	esac
done
# jupyterhub (test): its own HubAuth client code, run against nbgated by
# tests/integration/jh_client.py.
# Test-only tooling from npm: playwright-core drives Debian's chromium;
# oidc-provider is the OpenID provider test_oidc logs in with.
browser_tools() {
	top=$(cd "$(dirname "$0")/.." && pwd)
	[ -d "$top/tests/browser/node_modules/playwright-core" ] &&
		[ -d "$top/tests/browser/node_modules/oidc-provider" ] && return 0
	# Debian's nodejs/npm only where no node is installed (this image ships its own).
	command -v npm >/dev/null 2>&1 ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
	(cd "$top/tests/browser" && npm install --no-audit --no-fund --loglevel=error)
}
# Grid Engine's Debian packages, unpacked (not installed) beside slurm-wlm-torque.
gridengine_unpack() {
	[ -x "$ge_prefix/usr/lib/gridengine/sge_qmaster" ] && [ -e /usr/lib/gridengine ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "deps.sh: need root to unpack Grid Engine into $ge_prefix" >&2; exit 1
	fi
	tmp=$(mktemp -d)
	# shellcheck disable=SC2086
	(cd "$tmp" && chmod 755 . && apt-get download -qq $ge_debs) || { rm -rf "$tmp"; exit 1; }
	mkdir -p "$ge_prefix.new"
	for f in "$tmp"/*.deb; do dpkg-deb -x "$f" "$ge_prefix.new"; done
	rm -rf "$tmp" "$ge_prefix"
	mv "$ge_prefix.new" "$ge_prefix"
	for d in /usr/lib/gridengine /usr/share/gridengine; do
		[ -e "$d" ] || ln -s "$ge_prefix$d" "$d"
	done
}
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || missing="$missing $p"
done
case " $groups " in *" test "*|*" bench "*) want_browser=1 ;; *) want_browser=0 ;; esac
if [ -z "$missing" ]; then
	[ "$want_ge" = 1 ] && gridengine_unpack
	[ "$want_browser" = 1 ] && browser_tools
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: need root to install:$missing" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
[ "$want_ge" = 1 ] && gridengine_unpack
[ "$want_browser" = 1 ] && browser_tools
exit 0
