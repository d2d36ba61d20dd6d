#!/bin/sh
# The first command of the README: installs what nbgate needs (Debian 12, as
# root), builds and installs it (/usr/local), and runs a demo gateway on the
# embedded defaults: nbgated as the unprivileged user 'nbgate' with a
# self-signed certificate, SQLite and its own SSH server, in front of a real
# single-node SLURM started by scripts/testenv.sh. It then starts a notebook
# for the demo user 'demo' the way a gateway would (a batch job whose
# nbgate-agent dials back) and prints a one-time login link.
#
# If SLURM cannot start here, the demo says so loudly and falls back to a
# notebook started directly on this machine (no scheduler): LOCAL FALLBACK.
# Ctrl-C stops everything the demo started (the notebook's job is cancelled).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
HTTPS_PORT=${NBGATE_DEMO_HTTPS_PORT:-8443}
SSH_PORT=${NBGATE_DEMO_SSH_PORT:-2222}
STATE=/var/lib/nbgate-demo
SLURMDIR=$STATE-slurm

scripts/deps.sh build demo slurm
[ -x configure ] || autoreconf -fi
mkdir -p _build-demo
cd _build-demo
[ -f Makefile ] || ../configure -q
make -j2
make install >/dev/null
cd "$top"
ctl() { nbgatectl -s "$STATE/admin.sock" "$@"; }

id nbgate >/dev/null 2>&1 || useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin nbgate
install -d -o nbgate -g nbgate -m 0700 "$STATE"
work=$(mktemp -d /tmp/nbgate-demo.XXXXXX)
chmod 0755 "$work"

pids=""
slurm=no
cleanup() {
	trap '' INT TERM	# a second Ctrl-C must not cut the cleanup short
	trap - EXIT
	if [ "$slurm" = yes ]; then
		# every notebook the demo runs (demo's, and any started since)
		for r in $(ctl --json server list 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin)["sessions"]:
    if not s["stopped"]:
        print(s["state"]["route"])' 2>/dev/null); do
			ctl server stop "$r" >/dev/null 2>&1 || true
		done
		sleep 2
	fi
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	if [ "$slurm" = yes ]; then
		scripts/testenv.sh stop "$SLURMDIR" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
	echo "demo stopped"
}
trap cleanup INT TERM EXIT

echo "== starting a single-node SLURM (scripts/testenv.sh, $SLURMDIR)"
if scripts/testenv.sh start "$SLURMDIR"; then
	slurm=yes
	eval "$(scripts/testenv.sh env "$SLURMDIR")"
	# nbgated submits as the community account over SSH to the login node.
	install -o nbgate -g nbgate -m 0600 "$NB_KEY_COMMUNITY" "$STATE/community_key"
else
	echo "" >&2
	echo "!! SLURM did not start here: LOCAL FALLBACK (no scheduler; one notebook" >&2
	echo "!! started directly, not as a batch job). See the messages above." >&2
	echo "" >&2
fi

{
	cat <<YAML
# nbgate demo configuration (see etc/nbgated.yaml for every key)
state_dir: $STATE
listen:
  https: 0.0.0.0:$HTTPS_PORT
  ssh: 127.0.0.1:$SSH_PORT
  admin_socket: $STATE/admin.sock
sessions:
  gateway_address: 127.0.0.1:$SSH_PORT
YAML
	[ "$slurm" = yes ] && cat <<YAML
clusters:
  demo:
    scheduler: slurm
    transport: ssh
    login_host: 127.0.0.1:$NB_LOGIN_SSH_PORT
    login_host_key: "$NB_LOGIN_HOSTKEY"
    login_user: $NB_COMMUNITY_USER
    login_key: $STATE/community_key
    slurm_conf: $SLURM_CONF
    charging: community
    community_account: $NB_COMMUNITY_ACCOUNT
    poll_interval: 5s
    agent: /usr/local/bin/nbgate-agent
    default_queue: debug
    queues:
      debug:
        description: "Interactive notebooks (up to 1 hour)"
        walltime: {default: 30m, max: 1h}
        cores: {default: 1, max: 2}
        memory: {default: 1GiB, max: 4GiB}
    containers:
      host: {image: "", runtime: none, description: "The node's own Jupyter (no container)",
             notebook: classic}
    default_container: host
YAML
} > "$STATE/nbgated.yaml"
chown nbgate:nbgate "$STATE/nbgated.yaml"

runuser -u nbgate -- /usr/local/sbin/nbgated -c "$STATE/nbgated.yaml" &
pids="$pids $!"
i=0
until ctl status >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "nbgated did not start" >&2; exit 1; }
	sleep 0.1
done

if [ "$slurm" = yes ]; then
	# A route or session left by an earlier demo run goes first.
	if ctl server stop demo >/dev/null 2>&1; then
		i=0
		until ctl --json server show demo | grep -q '"phase": "ended"'; do
			i=$((i + 1)); [ $i -lt 60 ] || break
			sleep 1
		done
	fi
	ctl route del demo >/dev/null 2>&1 || true
	echo "== starting demo's notebook as a SLURM job (nbgatectl server start demo --wait)"
	ctl server start demo --wait
else
	# LOCAL FALLBACK: the notebook's token travels in the environment and a
	# 0600 file, never on a command line.
	id demo >/dev/null 2>&1 || useradd --create-home --shell /bin/bash demo
	nbport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	token=$(openssl rand -hex 24)
	umask 077
	printf '%s\n' "$token" > "$work/token"
	ssh-keygen -q -t ed25519 -N '' -f "$work/agent_key"
	ctl route add demo --key "$work/agent_key.pub" --token-file "$work/token" >/dev/null
	chown demo "$work" "$work/agent_key"
	(cd /home/demo && JUPYTER_TOKEN=$token runuser -u demo -w JUPYTER_TOKEN -- \
	    /usr/bin/python3 -m notebook --no-browser --ip=127.0.0.1 --port="$nbport" \
	    --NotebookApp.base_url=/user/demo/ >"$work/notebook.log" 2>&1) &
	pids="$pids $!"
	fp=$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["ssh_fingerprint"])')
	runuser -u demo -- /usr/local/bin/nbgate-agent --gateway "127.0.0.1:$SSH_PORT" \
	    --route demo --key "$work/agent_key" --hostkey-fingerprint "$fp" \
	    --target "127.0.0.1:$nbport" &
	pids="$pids $!"
	i=0
	until ctl route list | grep -q 'demo.*connected'; do
		i=$((i + 1)); [ $i -lt 600 ] || { echo "the demo notebook did not connect" >&2; exit 1; }
		sleep 0.1
	done
fi
url=$(ctl login-url demo)
host=$(hostname -f 2>/dev/null || hostname)
cat <<MSG

  nbgate demo is running$( [ "$slurm" = yes ] || printf ' (LOCAL FALLBACK: no SLURM)').
  Open this one-time login link (valid 5 minutes; the certificate is self-signed):

    $(printf '%s' "$url" | sed "s#https://localhost:#https://$host:#")

  More links:  nbgatectl -s $STATE/admin.sock login-url demo
  Sessions:    nbgatectl -s $STATE/admin.sock server list
  Another:     nbgatectl -s $STATE/admin.sock server start alice --wait
  REST API:    token=\$(nbgatectl -s $STATE/admin.sock token issue demo)
               curl -k -H "Authorization: token \$token" -X POST https://$host:$HTTPS_PORT/hub/api/users/demo/servers/lab
  Ctrl-C stops the demo (and cancels its jobs).
MSG
wait
