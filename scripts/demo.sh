#!/bin/sh
# The first command of the README: installs what nbgate needs (Debian 12, as
# root), builds it, and runs a demo gateway on the embedded defaults: nbgated
# as the unprivileged user 'nbgate' with a self-signed certificate, and one
# notebook for the demo user 'demo' dialled in through nbgate-agent.
# Ctrl-C stops everything the demo started.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
HTTPS_PORT=${NBGATE_DEMO_HTTPS_PORT:-8443}
SSH_PORT=${NBGATE_DEMO_SSH_PORT:-2222}
STATE=/var/lib/nbgate-demo

scripts/deps.sh build demo
[ -x configure ] || autoreconf -fi
mkdir -p _build-demo
cd _build-demo
[ -f Makefile ] || ../configure -q
make -j2
B=$(pwd)

id nbgate >/dev/null 2>&1 || useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin nbgate
id demo >/dev/null 2>&1 || useradd --create-home --shell /bin/bash demo
install -d -o nbgate -g nbgate -m 0700 "$STATE"
work=$(mktemp -d /tmp/nbgate-demo.XXXXXX)
chmod 0755 "$work"
cat > "$STATE/nbgated.yaml" <<YAML
# nbgate demo configuration (see etc/nbgated.yaml for every key)
state_dir: $STATE
listen:
  https: 0.0.0.0:$HTTPS_PORT
  ssh: 127.0.0.1:$SSH_PORT
  admin_socket: $STATE/admin.sock
YAML
chown nbgate:nbgate "$STATE/nbgated.yaml"

pids=""
cleanup() {
	trap - INT TERM EXIT
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
	echo "demo stopped"
}
trap cleanup INT TERM EXIT

runuser -u nbgate -- "$B/nbgated" -c "$STATE/nbgated.yaml" &
pids="$pids $!"
ctl() { "$B/nbgatectl" -s "$STATE/admin.sock" "$@"; }
i=0
until ctl status >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "nbgated did not start" >&2; exit 1; }
	sleep 0.1
done

# The demo user's notebook: its token travels in the environment and a 0600
# file, never on a command line.
nbport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=$(openssl rand -hex 24)
umask 077
printf '%s\n' "$token" > "$work/token"
runuser -u demo -- ssh-keygen -q -t ed25519 -N '' -f "$work/agent_key" 2>/dev/null ||
	{ ssh-keygen -q -t ed25519 -N '' -f "$work/agent_key"; chown demo "$work/agent_key"; }
ctl route add demo --key "$work/agent_key.pub" --token-file "$work/token" >/dev/null
chown demo "$work" "$work/agent_key"
cd /home/demo
JUPYTER_TOKEN=$token runuser -u demo -w JUPYTER_TOKEN -- /usr/bin/python3 -m notebook \
	--no-browser --ip=127.0.0.1 --port="$nbport" --NotebookApp.base_url=/user/demo/ \
	>"$work/notebook.log" 2>&1 &
pids="$pids $!"
fp=$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["ssh_fingerprint"])')
runuser -u demo -- "$B/nbgate-agent" --gateway "127.0.0.1:$SSH_PORT" --route demo \
	--key "$work/agent_key" --hostkey-fingerprint "$fp" --target "127.0.0.1:$nbport" &
pids="$pids $!"
i=0
until ctl route list | grep -q 'demo.*connected'; do
	i=$((i + 1)); [ $i -lt 600 ] || { echo "the demo notebook did not connect" >&2; exit 1; }
	sleep 0.1
done
url=$(ctl login-url demo)
host=$(hostname -f 2>/dev/null || hostname)
cat <<MSG

  nbgate demo is running.
  Open this one-time login link (valid 5 minutes; the certificate is self-signed):

    $(printf '%s' "$url" | sed "s#https://localhost:#https://$host:#")

  More links: $B/nbgatectl -s $STATE/admin.sock login-url demo
  Status:     $B/nbgatectl -s $STATE/admin.sock status
  Ctrl-C stops the demo.
MSG
wait
