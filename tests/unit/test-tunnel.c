/*
 * test-tunnel.c: the tunnel end to end in one event loop: the embedded sshd,
 * the libssh agent (tunclient) and plain OpenSSH as agents, an in-process
 * notebook stand-in, bulk transfer, back-pressure, refusals, tunnel death,
 * the reasons agents give when they leave (protocol 3) and their activity
 * reports (protocol 4).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <libssh/libssh.h>

#include "common/common.h"
#include "tunnel/tunnel.h"
#include "tests/unit/tap.h"
#include "tests/unit/tunnel-fixture.h"

static void	test_cancel_close(void);
static void	test_activity(struct sshd *);

/* --- the tests --- */

/* The gateway under test; without @activity, one of protocol 3. */
static struct sshd *
test_server(int activity)
{
	struct sshd_settings	 set = {
		.login_timeout = 2, .max_conns = 16, .max_unauth = 4,
		.max_unauth_per_addr = 3,
		.keepalive = 1, .stream_buffer = STREAM_BUFFER
	};
	struct sshd_hooks	 hooks = {
		.auth = hook_auth, .up = hook_up, .down = hook_down,
		.exit = hook_exit, .release = hook_release,
		.activity = activity ? hook_activity : NULL
	};
	struct sshd		*sd;
	struct stat		 st;
	char			*hk = path("state/ssh/host_key"), *cause = NULL;
	char			*cmd, line[512] = "";
	FILE			*f;

	set.host_key = hk;
	sd = sshd_new(base, &set, &hooks, NULL, &cause);
	ok(sd != NULL, "sshd_new generates a host key%s%s", cause ? ": " : "",
	    cause ? cause : "");
	if (sd == NULL)
		exit(tap_done());
	ok(stat(hk, &st) == 0 && (st.st_mode & 0777) == 0600, "host key is 0600");
	cmd = path("state/ssh");
	ok(stat(cmd, &st) == 0 && (st.st_mode & 0777) == 0700, "key dir is 0700");
	free(cmd);
	ok(sshd_listen(sd, "127.0.0.1:0", &cause) == 0, "listen on a free port");
	ok(sshd_port(sd) > 0, "bound port %d", sshd_port(sd));
	xasprintf(&cmd, "ssh-keygen -l -f %s.pub", hk);
	if ((f = popen(cmd, "r")) != NULL) {
		if (fgets(line, sizeof line, f) == NULL)
			line[0] = '\0';
		pclose(f);
	}
	has_str(line, sshd_fingerprint(sd), "fingerprint matches ssh-keygen -l");
	free(cmd);
	free(hk);
	return (sd);
}

/* (a) libssh agent up, 16 MiB echoed both ways. */
static void
test_bulk(struct sshd *sd, struct client *c)
{
	char	*key = path("alice_key");
	double	 dt;

	client_start(c, "alice", key, sshd_fingerprint(sd), sd);
	ok(WAIT_FOR(alice.t != NULL && c->state == TUNCLIENT_UP, 5),
	    "libssh agent authenticates and gets its forward");
	is_int(alice.ups, 1, "up hook fired once");
	is_int(sshd_count(sd), 1, "one agent connection");
	if ((dt = echo_through(&alice, BULK, "16 MiB echo")) > 0)
		tap_diag("16 MiB each way in %.2f s: %.1f MB/s per direction",
		    dt, BULK / dt / 1e6);
	ok(WAIT_FOR(alice.t != NULL && tunnel_streams(alice.t) == 0, 3),
	    "stream is gone after both EOFs");
	free(key);
	if (alice.t != NULL)
		test_cancel_close();
}

/* tunnel_req_cancel() and tunnel_stream_close() */
static void
test_cancel_close(void)
{
	struct xfer	 x;
	struct tunnel_req *r;

	xfer_init(&x, 0);
	r = tunnel_connect(alice.t, "127.0.0.1", 40010, xfer_connected, &x);
	tunnel_req_cancel(r);
	WAIT_FOR(0, 0.3);
	ok(!x.got_cb, "cancelled request: no callback");
	ok(WAIT_FOR(tunnel_streams(alice.t) == 0 && target_conns == 0, 3),
	    "cancelled request: channel closed, notebook connection gone");

	xfer_init(&x, 0);
	tunnel_connect(alice.t, "127.0.0.1", 40011, xfer_connected, &x);
	WAIT_FOR(x.got_cb && target_conns == 1, 5);
	ok(x.bev != NULL && tunnel_streams(alice.t) == 1, "stream open");
	if (x.bev != NULL) {
		bufferevent_write(x.bev, "hello", 5);
		tunnel_stream_close(x.bev);
		x.bev = NULL;
	}
	ok(WAIT_FOR(tunnel_streams(alice.t) == 0 && target_conns == 0, 3),
	    "tunnel_stream_close: EOF reaches the notebook, stream freed");
	xfer_free(&x);
}

static void
bp_sample(evutil_socket_t fd, short what, void *arg)
{
	struct xfer		*x = arg;
	struct bufferevent	*partner;
	size_t			 n, *max = (size_t *)&x->to_send;

	if (x->bev == NULL ||
	    (partner = bufferevent_pair_get_partner(x->bev)) == NULL)
		return;
	n = evbuffer_get_length(bufferevent_get_input(x->bev)) +
	    evbuffer_get_length(bufferevent_get_output(partner));
	if (n > *max)
		*max = n;
}

/* (b) a stream whose caller does not read: gateway buffers stay bounded. */
static void
test_backpressure(void)
{
	struct xfer	 x;
	struct event	*sample;
	struct timeval	 tv = { 0, 5000 };
	uint64_t	 rng = 0x9e3779b97f4a7c15ULL, h = 14695981039346656037ULL;
	unsigned char	 buf[16384];
	size_t		 left, n, max, got;
	double		 t0;

	xfer_init(&x, 0);
	x.reading = 0;
	x.finish = 0;
	target_mode = TARGET_SOURCE;
	tunnel_connect(alice.t, "127.0.0.1", 40001, xfer_connected, &x);
	WAIT_FOR(x.got_cb, 5);
	ok(x.bev != NULL, "back-pressure: stream opened");
	if (x.bev == NULL)
		return;
	/* Not reading means EV_READ off: libevent 2.1 re-runs a read
	 * callback that leaves the input at its high watermark. */
	bufferevent_disable(x.bev, EV_READ);
	sample = event_new(base, -1, EV_PERSIST, bp_sample, &x);
	event_add(sample, &tv);
	WAIT_FOR(0, 1.5);
	max = x.to_send;
	tap_diag("back-pressure: gateway held at most %zu bytes for the stream "
	    "(stream_buffer %d)", max, STREAM_BUFFER);
	ok(max > 0 && max <= 2 * STREAM_BUFFER + 65536,
	    "gateway buffers stay under ~2x stream_buffer while nobody reads");
	x.to_send = 0;
	x.reading = 1;
	t0 = now_s();
	got = x.received;
	bufferevent_enable(x.bev, EV_READ);
	xfer_drain(&x);
	ok(WAIT_FOR(x.eof || x.error, 15), "reading again drains to EOF");
	tap_diag("one way after the stall: %zu bytes in %.2f s: %.1f MB/s",
	    x.received - got, now_s() - t0, (x.received - got) / (now_s() - t0) / 1e6);
	event_free(sample);
	for (left = SOURCE_BYTES; left > 0; left -= n) {
		n = left < sizeof buf ? left : sizeof buf;
		fill(&rng, buf, n);
		h = fnv(h, buf, n);
	}
	is_int(x.received, SOURCE_BYTES, "all source bytes arrived after the stall");
	ok(x.h_recv == h, "in order and intact");
	tunnel_stream_close(x.bev);
	x.bev = NULL;
	xfer_free(&x);
}

/* (c) refusals: wrong key, wrong route, wrong host key pin. */
static void
test_refusals(struct sshd *sd)
{
	struct client	 c;
	char		*bobkey = path("bob_key"), *alicekey = path("alice_key");
	int		 ups = alice.ups + bob.ups;

	client_start(&c, "alice", bobkey, sshd_fingerprint(sd), sd);
	ok(WAIT_FOR(c.downs > 0, 5), "wrong key: agent is refused");
	has_str(c.why, "refused", "wrong key: reason says refused");
	ok(c.failed == 0, "wrong key: not permanent (route may appear later)");
	client_stop(&c);

	client_start(&c, "bob", alicekey, sshd_fingerprint(sd), sd);
	ok(WAIT_FOR(c.downs > 0, 5), "alice's key for route bob is refused");
	has_str(c.why, "refused", "wrong route: reason says refused");
	client_stop(&c);

	client_start(&c, "alice", alicekey,
	    "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", sd);
	ok(WAIT_FOR(c.failed > 0, 5), "host key pin mismatch: FAILED");
	has_str(c.why, "does not match", "pin mismatch: clear message");
	ok(c.downs == 0 && c.ups == 0, "pin mismatch: no retry, never up");
	WAIT_FOR(0, 0.2);
	ok(c.state == TUNCLIENT_FAILED, "pin mismatch: stays FAILED");
	client_stop(&c);
	is_int(alice.ups + bob.ups, ups, "no up hook for refused agents");
	free(bobkey);
	free(alicekey);
}

/* (d) the tunnel dies mid-stream; the agent comes back; a new stream works. */
static void
test_death(struct client *c)
{
	struct xfer	 active, pending;
	int		 downs = alice.downs, ups = c->ups;

	xfer_init(&active, 64 * 1024 * 1024);
	active.finish = 0;
	tunnel_connect(alice.t, "127.0.0.1", 40002, xfer_connected, &active);
	WAIT_FOR(active.got_cb && active.received > 1024 * 1024, 5);
	ok(active.bev != NULL && active.received > 0, "death: stream is flowing");
	xfer_init(&pending, 1);
	tunnel_connect(alice.t, "127.0.0.1", 40003, xfer_connected, &pending);
	tunnel_kick(alice.t, "test kills the tunnel");
	ok(WAIT_FOR(alice.downs > downs, 3), "death: down hook fires");
	has_str(alice.down_why, "test kills", "death: down hook says why");
	ok(alice.t == NULL, "death: route has no tunnel");
	ok(WAIT_FOR(pending.got_cb, 2), "death: pending request answered");
	ok(pending.bev == NULL, "death: pending request failed");
	has_str(pending.err, "tunnel closed", "death: in plain words");
	ok(WAIT_FOR(active.error || active.eof, 2), "death: active stream sees it");
	ok(active.error, "death: active stream sees an error, not a clean EOF");
	ok(active.received < active.to_send, "death: the stream was cut");
	xfer_free(&active);
	xfer_free(&pending);
	ok(WAIT_FOR(c->downs > 0, 3), "death: agent notices (DOWN)");
	ok(WAIT_FOR(c->ups > ups && alice.t != NULL, 6),
	    "death: agent reconnects with backoff");
	echo_through(&alice, 100 * 1000, "after reconnect");
}

/* A second agent for the same route wins; the hook kicks the first. */
static void
test_replace(struct sshd *sd, struct client *old, struct client *c2)
{
	char			*key = path("alice_key");
	int			 downs = old->downs, ups = alice.ups;

	client_start(c2, "alice", key, sshd_fingerprint(sd), sd);
	ok(WAIT_FOR(c2->ups > 0 && old->downs > downs, 5),
	    "second agent is up, the first was kicked (from the up hook)");
	is_int(alice.ups, ups + 1, "one more up hook");
	client_stop(old);
	echo_through(&alice, 1000, "after replacement");
	free(key);
}

/* The notebook is down: the agent refuses the channel, the caller hears so. */
static void
test_notebook_down(struct sshd *sd)
{
	struct evconnlistener	*lev;
	struct client		 c;
	struct xfer		 x;
	char			*key = path("bob_key");
	int			 saved = target_port;

	lev = target_listen();		/* a port nobody listens on once freed */
	evconnlistener_free(lev);
	client_start(&c, "bob", key, sshd_fingerprint(sd), sd);
	target_port = saved;
	ok(WAIT_FOR(bob.t != NULL, 5), "agent for a stopped notebook is up");
	xfer_init(&x, 0);
	if (bob.t != NULL)
		tunnel_connect(bob.t, "127.0.0.1", 40020, xfer_connected, &x);
	ok(WAIT_FOR(x.got_cb, 5) && x.bev == NULL,
	    "notebook down: the stream is refused, not opened empty");
	has_str(x.err, "refused", "notebook down: in plain words");
	is_int(bob.t != NULL ? tunnel_streams(bob.t) : 0, 0, "no stream left");
	xfer_free(&x);
	client_stop(&c);
	ok(WAIT_FOR(bob.t == NULL, 3), "bob's tunnel down");
	free(key);
}

/* --target-unix: route bob's agent serves a notebook on a Unix socket. */
static void
test_unix_target(struct sshd *sd)
{
	struct evconnlistener	*lev;
	struct client		 c;
	char			*sock = path("nb.sock"), *key = path("bob_key");

	if ((lev = target_listen_unix(sock)) == NULL) {
		ok(0, "listen on %s", sock);
		goto out;
	}
	target_unix = sock;
	client_start(&c, "bob", key, sshd_fingerprint(sd), sd);
	target_unix = NULL;
	ok(WAIT_FOR(bob.t != NULL, 5), "agent with a Unix socket target is up");
	echo_through(&bob, 300 * 1000, "Unix socket target");
	client_stop(&c);
	ok(WAIT_FOR(bob.t == NULL, 3), "bob's tunnel down after the agent left");
	evconnlistener_free(lev);
out:
	free(sock);
	free(key);
}

static char *
write_known_hosts(struct sshd *sd)
{
	char	*hk = path("state/ssh/host_key.pub"), *kh = path("known_hosts");
	char	 line[1024] = "";
	FILE	*in, *out;

	if ((in = fopen(hk, "r")) == NULL || fgets(line, sizeof line, in) == NULL)
		fatal("%s", hk);
	fclose(in);
	if ((out = fopen(kh, "w")) == NULL)
		fatal("%s", kh);
	fprintf(out, "[127.0.0.1]:%d %s", sshd_port(sd), line);
	fclose(out);
	free(hk);
	return (kh);
}

static void
ssh_argv(char **argv, char *kh, char *key, char *port, const char *opt,
    const char *optarg, const char *last)
{
	int	 i = 0;
	char	*o;

	argv[i++] = "ssh";
	argv[i++] = "-F";
	argv[i++] = "/dev/null";
	argv[i++] = "-o";
	argv[i++] = "BatchMode=yes";
	argv[i++] = "-o";
	argv[i++] = "StrictHostKeyChecking=yes";
	argv[i++] = "-o";
	xasprintf(&o, "UserKnownHostsFile=%s", kh);
	argv[i++] = o;
	argv[i++] = "-o";
	argv[i++] = "GlobalKnownHostsFile=/dev/null";
	argv[i++] = "-o";
	argv[i++] = "IdentitiesOnly=yes";
	argv[i++] = "-o";
	argv[i++] = "IdentityAgent=none";
	argv[i++] = "-o";
	argv[i++] = "ExitOnForwardFailure=yes";
	argv[i++] = "-i";
	argv[i++] = key;
	argv[i++] = "-p";
	argv[i++] = port;
	if (opt != NULL) {
		if (strcmp(opt, "-R") == 0)
			argv[i++] = "-N";
		argv[i++] = (char *)opt;
		argv[i++] = (char *)optarg;
	}
	argv[i++] = "alice@127.0.0.1";
	if (last != NULL)
		argv[i++] = (char *)last;
	argv[i] = NULL;
}

/* (e) plain OpenSSH as the agent; (f) it may do nothing else. */
static void
test_openssh(struct sshd *sd)
{
	char	*argv[40], *kh = write_known_hosts(sd), *key = path("ossh_key");
	char	*port, *fwd;
	pid_t	 pid;
	int	 ups = alice.ups, downs = alice.downs, rc;

	xasprintf(&port, "%d", sshd_port(sd));
	xasprintf(&fwd, "0:127.0.0.1:%d", target_port);
	ssh_argv(argv, kh, key, port, "-R", fwd, NULL);
	pid = spawn(argv, "ssh-forward.log");
	free(argv[8]);
	ok(WAIT_FOR(alice.ups > ups && alice.t != NULL, 10),
	    "OpenSSH ssh -N -R logs in and gets its forward");
	ok(waitpid(pid, NULL, WNOHANG) == 0, "OpenSSH agent still running");
	echo_through(&alice, 4 * 1024 * 1024, "OpenSSH 4 MiB echo");
	echo_through(&alice, 10, "OpenSSH small echo");
	kill(pid, SIGTERM);
	rc = wait_child(pid, 5);
	ok(rc != -1, "OpenSSH agent exited on SIGTERM");
	ok(WAIT_FOR(alice.downs > downs, 3), "down hook after OpenSSH left");

	ssh_argv(argv, kh, key, port, NULL, NULL, "true");
	pid = spawn(argv, "ssh-exec.log");
	free(argv[8]);
	rc = wait_child(pid, 10);
	ok(rc > 0, "exec request refused (ssh exit %d)", rc);

	free(fwd);
	xasprintf(&fwd, "127.0.0.1:%d", target_port);
	ssh_argv(argv, kh, key, port, "-W", fwd, NULL);
	pid = spawn(argv, "ssh-direct.log");
	free(argv[8]);
	rc = wait_child(pid, 10);
	ok(rc > 0, "direct-tcpip (-W) refused (ssh exit %d)", rc);
	is_int(target_conns, 0, "the notebook saw no direct connection");

	ssh_argv(argv, kh, key, port, "-o",
	    "PreferredAuthentications=password,keyboard-interactive", "true");
	pid = spawn(argv, "ssh-password.log");
	free(argv[8]);
	rc = wait_child(pid, 10);
	ok(rc > 0 && log_has("ssh-password.log", "Permission denied (publickey)"),
	    "only publickey is offered (ssh exit %d)", rc);
	free(fwd);
	free(port);
	free(kh);
	free(key);
}

/* (g) the nbgate-agent program: options, pin mismatch, a real tunnel, SIGTERM. */
static void
test_agent_program(struct sshd *sd)
{
	const char	*bdir = getenv("NB_BUILDDIR");
	char		*prog, *gw, *tgt, *key = path("alice_key");
	char		*argv[16];
	pid_t		 pid;
	int		 rc, ups = alice.ups, downs = alice.downs, exits = alice.exits;

	xasprintf(&prog, "%s/nbgate-agent", bdir != NULL ? bdir : ".");
	/* make check builds it first: a missing agent is a failure, not a skip. */
	if (!ok(access(prog, X_OK) == 0, "nbgate-agent is built: %s", prog)) {
		free(prog);
		free(key);
		return;
	}
	xasprintf(&gw, "127.0.0.1:%d", sshd_port(sd));
	xasprintf(&tgt, "127.0.0.1:%d", target_port);
	argv[0] = prog;
	argv[1] = "--gateway";
	argv[2] = "nope";
	argv[3] = NULL;
	rc = wait_child(spawn(argv, "agent-usage.log"), 5);
	is_int(rc, 2, "nbgate-agent: bad options exit 2");

	argv[2] = gw;
	argv[3] = "--route";
	argv[4] = "alice";
	argv[5] = "--key";
	argv[6] = key;
	argv[7] = "--hostkey-fingerprint";
	argv[8] = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	argv[9] = "--target";
	argv[10] = tgt;
	argv[11] = NULL;
	rc = wait_child(spawn(argv, "agent-pin.log"), 5);
	is_int(rc, 2, "nbgate-agent: host key mismatch exits 2");

	argv[8] = (char *)sshd_fingerprint(sd);
	pid = spawn(argv, "agent.log");
	ok(WAIT_FOR(alice.ups > ups && alice.t != NULL, 5),
	    "nbgate-agent brings the tunnel up");
	echo_through(&alice, 1024 * 1024, "nbgate-agent 1 MiB echo");
	kill(pid, SIGTERM);
	rc = wait_child(pid, 5);
	is_int(rc, 0, "nbgate-agent exits 0 on SIGTERM");
	ok(WAIT_FOR(alice.downs > downs, 3), "down hook after nbgate-agent left");
	is_int(alice.exits, exits + 1, "SIGTERM: the exit hook ran once");
	is_str(alice.exit_why, "stopped by SIGTERM (walltime, scancel or stop)",
	    "SIGTERM: nbgate-agent told the gateway why it left");
	is_int(alice.downs_at_exit, downs, "SIGTERM: the exit hook ran before down");
	has_str(alice.down_why, "the agent left: stopped by SIGTERM",
	    "SIGTERM: the down hook's reason says so too");
	free(prog);
	free(gw);
	free(tgt);
	free(key);
}

/* A notebook for nbgate-agent --notebook --tcp: answers 200, dies on SIGTERM. */
static const char fake_notebook[] =
    "import http.server, os, signal, sys\n"
    "port = int([a.split('=', 1)[1] for a in sys.argv\n"
    "            if a.startswith('--NotebookApp.port=')][0])\n"
    "def bye(sig, frame):\n"
    "    print('fake notebook: caught SIGTERM', flush=True)\n"
    "    print('fake notebook: last words \\x1b[1mbold\\x1b[0m\\r', flush=True)\n"
    "    os._exit(3)\n"
    "signal.signal(signal.SIGTERM, bye)\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200)\n"
    "        self.send_header('Content-Length', '2')\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b'{}')\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "with open(sys.argv[1], 'w') as f:\n"
    "    f.write(str(os.getpid()))\n"
    "print('fake notebook: serving', flush=True)\n"
    "http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()\n";

static pid_t
read_pid(const char *p)
{
	FILE	*f;
	long	 pid = 0;

	if ((f = fopen(p, "r")) == NULL)
		return (0);
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return ((pid_t)pid);
}

/* (h) nbgate-agent --notebook: its notebook dies; the gateway hears why. */
static void
test_agent_notebook(struct sshd *sd)
{
	const char	*bdir = getenv("NB_BUILDDIR");
	char		*prog, *gw, *key = path("alice_key");
	char		*script = path("fakenb.py"), *pidfile = path("fakenb.pid");
	char		*tok = path("fakenb.token");
	char		*cmd, *argv[24];
	FILE		*f;
	pid_t		 pid, nbpid;
	int		 rc, i = 0, ups = alice.ups, downs = alice.downs;
	int		 exits = alice.exits;
	unsigned long long leaves = sshd_stats(sd)->leave_lines;

	xasprintf(&prog, "%s/nbgate-agent", bdir != NULL ? bdir : ".");
	xasprintf(&gw, "127.0.0.1:%d", sshd_port(sd));
	xasprintf(&cmd, "/usr/bin/python3 %s %s", script, pidfile);
	/* Both are required (configure checks for python3): missing is a failure. */
	if (!ok(access(prog, X_OK) == 0 && access("/usr/bin/python3", X_OK) == 0,
	    "nbgate-agent (%s) and /usr/bin/python3 are there", prog))
		goto out;
	if ((f = fopen(script, "w")) == NULL)
		fatal("%s", script);
	fputs(fake_notebook, f);
	fclose(f);
	argv[i++] = prog;
	argv[i++] = "--gateway";
	argv[i++] = gw;
	argv[i++] = "--route";
	argv[i++] = "alice";
	argv[i++] = "--key";
	argv[i++] = key;
	argv[i++] = "--hostkey-fingerprint";
	argv[i++] = (char *)sshd_fingerprint(sd);
	argv[i++] = "--notebook";
	argv[i++] = "--runtime";
	argv[i++] = "none";
	argv[i++] = "--tcp";
	argv[i++] = "--token-out";
	argv[i++] = tok;
	argv[i++] = "--workdir";
	argv[i++] = tmpdir;
	argv[i++] = "--notebook-cmd";
	argv[i++] = cmd;
	argv[i] = NULL;
	pid = spawn(argv, "agent-notebook.log");
	ok(WAIT_FOR(alice.ups > ups && alice.t != NULL, 20),
	    "notebook agent: up once its notebook answers");
	nbpid = read_pid(pidfile);
	ok(nbpid > 0 && kill(nbpid, SIGTERM) == 0,
	    "notebook agent: killed its notebook");
	rc = wait_child(pid, 10);
	is_int(rc, 1, "notebook agent: exits 1 when its notebook died");
	ok(WAIT_FOR(alice.downs > downs, 3), "notebook agent: down hook");
	is_int(alice.exits, exits + 1, "notebook agent: the exit hook ran once");
	is_str(alice.exit_why, "notebook exited with status 3: fake notebook: last "
	    "words [1mbold[0m", "notebook agent: the gateway got the notebook's "
	    "status and last output, control characters stripped");
	is_int(alice.downs_at_exit, downs, "notebook agent: exit before down");
	has_str(alice.down_why, "the agent left: notebook exited with status 3",
	    "notebook agent: down's reason");
	tap_diag("notebook agent: the reason came %s",
	    sshd_stats(sd)->leave_lines > leaves ? "on the activity channel" :
	    "in the DISCONNECT only (the channel was not open in time)");
out:
	free(prog);
	free(gw);
	free(key);
	free(script);
	free(pidfile);
	free(tok);
	free(cmd);
}

/* tunclient_reason_clean(): what both halves make of a leaving reason. */
static void
test_reason_clean(void)
{
	static const struct {
		const char	*in;
		size_t		 max;
		const char	*want;
	} t[] = {
		{ "plain", 100, "plain" },
		{ "two\nlines\tand a tab", 100, "two\nlines\tand a tab" },
		{ "cr\r\nlf, esc \x1b[31mred\x1b[0m, del \x7f, bell \a", 100,
		    "cr\nlf, esc [31mred[0m, del , bell" },
		{ "C1 \xc2\x85 gone, NBSP \xc2\xa0 kept", 100,
		    "C1  gone, NBSP \xc2\xa0 kept" },
		{ "bad \xff\xfe, overlong \xc0\xaf, surrogate \xed\xa0\x80", 100,
		    "bad ??, overlong ??, surrogate ???" },
		{ "cut \xc3\xa9", 5, "cut" },			/* not in the middle */
		{ "cut \xc3\xa9", 6, "cut \xc3\xa9" },
		{ "emoji \xf0\x9f\x98\x80!", 100, "emoji \xf0\x9f\x98\x80!" },
		{ "beyond \xf4\x90\x80\x80", 100, "beyond ????" },
		{ "truncated \xe2\x82", 100, "truncated ??" },
		{ "trailing  \n\t\n", 100, "trailing" },
		{ "\x01\x02\x03", 100, "" },
		{ "abcdef", 3, "abc" },
		{ "abc", 0, "" },
	};
	size_t	 i;
	char	*out;

	for (i = 0; i < nitems(t); i++) {
		out = tunclient_reason_clean(t[i].in, t[i].max);
		is_str(out, t[i].want, "reason_clean case %zu", i);
		free(out);
	}
}

/*
 * tunclient_leave(); returns how often it blocked (voluntary context
 * switches: a poll, read or sleep that waited).  A loaded machine adds
 * involuntary switches only, so this counts waiting, not speed.
 */
static long
leave_waits(struct tunclient *tc, const char *why)
{
	struct rusage	ru0, ru1;

	if (getrusage(RUSAGE_THREAD, &ru0) == -1)
		fatal("getrusage");
	tunclient_leave(tc, why);
	if (getrusage(RUSAGE_THREAD, &ru1) == -1)
		fatal("getrusage");
	return (ru1.ru_nvcsw - ru0.ru_nvcsw);
}

/* Sends one report as soon as the activity channel takes it: 0, or -1. */
static int
report_once(struct client *c, const char *line, double secs)
{
	double	end = now_s() + secs;

	while (tunclient_report(c->tc, line) != 0) {
		if (now_s() >= end)
			return (-1);
		event_base_loop(base, EVLOOP_ONCE);
	}
	return (0);
}

/*
 * (j) protocol 4: a report reaches the activity hook intact; one that is
 * not a report closes the activity channel, not the tunnel; a gateway of
 * protocol 3 refuses the channel and the agent just sends nothing.
 */
static void
test_activity(struct sshd *sd)
{
	struct activity	 a = { .kernels = 2, .busy = 1, .terminals = 1,
			       .connections = 3, .idle = 0, .cpu_ms = 4321 };
	struct client	 c;
	struct sshd	*old;
	char		*key = path("alice_key"), *line = activity_encode(&a);
	int		 n = alice.reports, exits;
	unsigned long long leaves;

	client_start(&c, "alice", key, sshd_fingerprint(sd), sd);
	ok(WAIT_FOR(alice.t != NULL && c.state == TUNCLIENT_UP, 5), "activity: up");
	ok(report_once(&c, line, 5) == 0,
	    "activity: the channel opens and a report goes (%zu bytes)", strlen(line));
	ok(WAIT_FOR(alice.reports > n, 3), "activity: the hook has it");
	ok(memcmp(&alice.act, &a, sizeof a) == 0, "activity: intact");
	is_int(tunclient_report(c.tc, "nbgate-activity/1 kernels=1 busy=5\n"), 0,
	    "activity: a bad report goes out too");
	ok(WAIT_FOR(report_once(&c, "", 0) != 0, 3),
	    "activity: the gateway closed the channel");
	ok(alice.t != NULL && c.state == TUNCLIENT_UP, "activity: the tunnel stays up");
	is_int(alice.reports, n + 1, "activity: the bad one was not passed on");
	client_stop(&c);
	ok(WAIT_FOR(alice.t == NULL, 3), "activity: down");

	/* Leaving with the channel open: the reason comes on it too. */
	leaves = sshd_stats(sd)->leave_lines;
	exits = alice.exits;
	client_start(&c, "alice", key, sshd_fingerprint(sd), sd);
	ok(WAIT_FOR(alice.t != NULL && c.state == TUNCLIENT_UP, 5), "leave line: up");
	ok(report_once(&c, line, 5) == 0, "leave line: the channel is open");
	WAIT_FOR(alice.reports > n + 1, 3);
	tunclient_leave(c.tc, "done\\now\n\tbye");
	ok(WAIT_FOR(alice.exits > exits, 3), "leave line: the exit hook ran");
	is_str(alice.exit_why, "done\\now\n\tbye", "leave line: the reason, intact");
	is_int(sshd_stats(sd)->leave_lines, leaves + 1,
	    "leave line: it came on the activity channel");
	client_stop(&c);
	ok(WAIT_FOR(alice.t == NULL, 3), "leave line: down");

	/* A hostile agent's leave line: cleaned as a DISCONNECT's reason is. */
	exits = alice.exits;
	client_start(&c, "alice", key, sshd_fingerprint(sd), sd);
	ok(WAIT_FOR(alice.t != NULL && c.state == TUNCLIENT_UP, 5), "hostile line: up");
	ok(report_once(&c, line, 5) == 0, "hostile line: the channel is open");
	is_int(tunclient_report(c.tc, "nbgate-exit/1 evil\x1b[2Jwipe\\nsecond\x07\n"),
	    0, "hostile line: sent");
	WAIT_FOR(0, 1);
	client_stop(&c);
	ok(WAIT_FOR(alice.exits > exits, 3), "hostile line: the exit hook ran");
	is_str(alice.exit_why, "evil[2Jwipe\nsecond",
	    "attack leave-line-hostile: a compromised agent's reason loses its "
	    "control characters (no escape sequence reaches a page or log)");
	ok(WAIT_FOR(alice.t == NULL, 3), "hostile line: down");

	/*
	 * Leaving with the channel still opening (nbgate-agent right after
	 * up) is in test_agent_notebook: here the gateway shares our thread
	 * and cannot answer the open while the client waits for it.
	 */
	n = alice.reports;
	old = test_server(0);
	client_start(&c, "alice", key, sshd_fingerprint(old), old);
	ok(WAIT_FOR(alice.t != NULL && c.state == TUNCLIENT_UP, 5),
	    "activity: up with a gateway of protocol 3");
	WAIT_FOR(0, 1);
	ok(tunclient_report(c.tc, line) != 0 && alice.reports == n,
	    "activity: it refused the channel; nothing is sent");
	ok(c.state == TUNCLIENT_UP && alice.t != NULL, "activity: the tunnel works on");
	exits = alice.exits;
	tunclient_leave(c.tc, "old gateway, still told");
	ok(WAIT_FOR(alice.exits > exits, 3), "protocol 3: the exit hook ran");
	is_str(alice.exit_why, "old gateway, still told",
	    "protocol 3: the reason came in the DISCONNECT");
	is_int(sshd_stats(old)->leave_lines, 0, "protocol 3: no leave line");
	client_stop(&c);
	ok(WAIT_FOR(alice.t == NULL, 3), "activity: down again");
	sshd_free(old);
	free(line);
	free(key);
}

/* (i) tunclient_leave(): the reason arrives, bounded in time and size. */
static void
test_leave(struct sshd *sd)
{
	struct client	 c;
	struct xfer	 x;
	char		*key = path("alice_key"), *bobkey = path("bob_key");
	char		 big[3000], *want;
	int		 exits, downs, i;
	long		 n;
	double		 t0, dt;
	const unsigned char *p;

	client_start(&c, "alice", key, sshd_fingerprint(sd), sd);
	ok(WAIT_FOR(alice.t != NULL && c.state == TUNCLIENT_UP, 5), "leave: up");
	exits = alice.exits;
	downs = alice.downs;
	t0 = now_s();
	n = leave_waits(c.tc, "going\r\naway\x1b now");
	ok(n > 0, "leave: up, it waits for its goodbye to go out (%ld waits)", n);
	dt = now_s() - t0;
	/* The gateway is this very loop: it cannot answer while we wait. */
	ok(dt < 1.5, "leave: waits at most about a second (%.2f s)", dt);
	ok(WAIT_FOR(alice.downs > downs, 3), "leave: the tunnel is down");
	is_int(alice.exits, exits + 1, "leave: the exit hook ran");
	is_str(alice.exit_why, "going\naway now", "leave: the reason, cleaned");
	has_str(alice.down_why, "the agent left: going",
	    "leave: down names its first line");
	WAIT_FOR(0, 2.5);
	ok(c.ups == 1 && c.downs == 0 && c.failed == 0 && alice.t == NULL,
	    "leave: no state callback and no new dial afterwards");
	client_stop(&c);

	for (i = 0; i < (int)sizeof big - 1; i++)
		big[i] = "\xc3\xa9xyz"[i % 5];	/* 2-byte characters mixed in */
	big[sizeof big - 1] = '\0';
	client_start(&c, "alice", key, sshd_fingerprint(sd), sd);
	ok(WAIT_FOR(alice.t != NULL && c.state == TUNCLIENT_UP, 5), "leave: up again");
	exits = alice.exits;
	tunclient_leave(c.tc, big);
	ok(WAIT_FOR(alice.exits > exits, 3), "leave: a long reason arrives");
	want = tunclient_reason_clean(big, TUNCLIENT_LEAVE_MAX);
	is_str(alice.exit_why, want, "leave: cut to %d bytes between characters",
	    TUNCLIENT_LEAVE_MAX);
	ok(alice.exit_why != NULL && strlen(alice.exit_why) <= TUNCLIENT_LEAVE_MAX &&
	    strlen(alice.exit_why) > TUNCLIENT_LEAVE_MAX - 4, "leave: %zu bytes",
	    alice.exit_why != NULL ? strlen(alice.exit_why) : 0);
	free(want);
	client_stop(&c);
	WAIT_FOR(alice.t == NULL, 3);

	/* Mid-transfer: libssh has just written, and more is queued. */
	client_start(&c, "alice", key, sshd_fingerprint(sd), sd);
	ok(WAIT_FOR(alice.t != NULL && c.state == TUNCLIENT_UP, 5), "busy leave: up");
	xfer_init(&x, 64 * 1024 * 1024);
	x.finish = 0;
	if (alice.t != NULL)
		tunnel_connect(alice.t, "127.0.0.1", 40030, xfer_connected, &x);
	WAIT_FOR(x.got_cb && x.received > 2 * 1024 * 1024, 5);
	ok(x.bev != NULL && x.received > 0, "busy leave: a stream is flowing");
	exits = alice.exits;
	tunclient_leave(c.tc, "busy, but leaving");
	ok(WAIT_FOR(alice.exits > exits, 3), "busy leave: the reason still arrives");
	is_str(alice.exit_why, "busy, but leaving", "busy leave: intact");
	ok(WAIT_FOR(x.error || x.eof, 3), "busy leave: the stream was cut");
	xfer_free(&x);
	client_stop(&c);
	WAIT_FOR(alice.t == NULL, 3);

	/* Not up (refused, retrying): nothing to say, and no waiting. */
	client_start(&c, "alice", bobkey, sshd_fingerprint(sd), sd);
	WAIT_FOR(c.downs > 0, 5);
	exits = alice.exits;
	/* "At once": it never blocks (counted, not timed: see leave_waits). */
	n = leave_waits(c.tc, "never sent");
	ok(n == 0, "leave: without a tunnel it returns at once (%ld waits)", n);
	client_stop(&c);

	/* Version 2 behaviour: a plain hang-up is no reason. */
	client_start(&c, "alice", key, sshd_fingerprint(sd), sd);
	ok(WAIT_FOR(alice.t != NULL, 5), "hang-up: up");
	/* A whole login has been served since: a stray goodbye would be in. */
	is_int(alice.exits, exits, "leave: without a tunnel no exit hook");
	exits = alice.exits;
	downs = alice.downs;
	client_stop(&c);
	ok(WAIT_FOR(alice.downs > downs, 3), "hang-up: down");
	is_int(alice.exits, exits, "hang-up: no exit hook");
	for (p = (const unsigned char *)alice.down_why; p != NULL && *p != '\0'; p++)
		if (*p < 0x20)
			break;
	ok(p != NULL && *p == '\0', "hang-up: down's reason is one clean line: '%s'",
	    alice.down_why != NULL ? alice.down_why : "(null)");
	free(key);
	free(bobkey);
}

/*
 * A libssh client that says goodbye with any bytes it likes: logged in
 * with @forward or not, or not even logged in (@auth 0).  Runs blocking
 * in a child; returns its pid.
 */
static pid_t
raw_goodbye(struct sshd *sd, int auth, int forward, const char *text)
{
	ssh_session	 s;
	ssh_key		 key = NULL;
	char		*kp = path("alice_key");
	int		 port = sshd_port(sd), verbosity = 0;
	pid_t		 pid;

	if (nchildren == (int)nitems(children))
		fatalx("too many children");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0) {
		free(kp);
		children[nchildren++] = pid;
		return (pid);
	}
	if ((s = ssh_new()) == NULL)
		_exit(10);
	ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1");
	ssh_options_set(s, SSH_OPTIONS_PORT, &port);
	ssh_options_set(s, SSH_OPTIONS_USER, "alice");
	ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
	if (ssh_connect(s) != SSH_OK)
		_exit(11);
	if (auth && (ssh_pki_import_privkey_file(kp, NULL, NULL, NULL,
	    &key) != SSH_OK ||
	    ssh_userauth_publickey(s, NULL, key) != SSH_AUTH_SUCCESS))
		_exit(12);
	if (forward && ssh_channel_listen_forward(s, "localhost", 0, NULL) != SSH_OK)
		_exit(13);
	ssh_session_set_disconnect_message(s, text);
	ssh_disconnect(s);
	usleep(200 * 1000);	/* the fd was libssh's: closing it was its job */
	_exit(0);
}

/* (j) hostile goodbyes: cleaned, bounded, ignored without a tunnel, no crash. */
static void
test_exit_hostile(struct sshd *sd)
{
	char		 text[4096];
	const char	*head = "nbgate-exit/1 evil\x1b]0;title\a\r\n"
			    "[fake] log line\xff\xfe \xc0\xaf\x7f ";
	size_t		 n;
	int		 exits = alice.exits, downs = alice.downs, ups = alice.ups;
	const unsigned char *p;
	int		 clean = 1;

	n = strlen(head);
	memcpy(text, head, n);
	memset(text + n, 'x', sizeof text - n - 1);
	text[sizeof text - 1] = '\0';
	is_int(wait_child(raw_goodbye(sd, 1, 1, text), 10), 0,
	    "hostile: the raw client logged in, forwarded, left");
	ok(WAIT_FOR(alice.downs > downs && alice.ups > ups, 3),
	    "hostile: up, then down");
	is_int(alice.exits, exits + 1, "hostile: the exit hook ran");
	has_str(alice.exit_why, "evil]0;title\n[fake] log line?? ?? xxx",
	    "hostile: control characters stripped, invalid bytes replaced");
	for (p = (const unsigned char *)alice.exit_why; p != NULL && *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
			clean = 0;
	ok(alice.exit_why != NULL && clean && strlen(alice.exit_why) <= 2048,
	    "hostile: no control characters, %zu bytes (<= 2048)",
	    alice.exit_why != NULL ? strlen(alice.exit_why) : 0);
	ok(alice.down_why != NULL && strchr(alice.down_why, '\n') == NULL &&
	    strlen(alice.down_why) < 300, "hostile: down's reason is one short line");

	exits = alice.exits;
	is_int(wait_child(raw_goodbye(sd, 1, 0, "nbgate-exit/1 no forward yet"), 10),
	    0, "hostile: logged in without a forward, left");
	is_int(wait_child(raw_goodbye(sd, 0, 0, "nbgate-exit/1 not logged in"), 10),
	    0, "hostile: not logged in, left");
	is_int(wait_child(raw_goodbye(sd, 1, 1, "nbgate-exit/1 \x01\x02\r\n\t "), 10),
	    0, "hostile: an empty reason");
	WAIT_FOR(sshd_count(sd) == 0, 3);
	is_int(alice.exits, exits,
	    "hostile: no exit hook without a tunnel or a reason");
	is_int(sshd_count(sd), 0,
	    "hostile: every connection is gone, the server lives");
}

/* A TCP connection to the sshd from @src (an address on lo), non-blocking. */
static int
limits_connect(struct sshd *sd, const char *src)
{
	struct sockaddr_in	 sin;
	int			 fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, src, &sin.sin_addr);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0)
		fatal("bind %s", src);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(sshd_port(sd));
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0)
		fatal("connect");
	WAIT_FOR(0, 0.05);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return (fd);
}

/* 1 if the server closed @fd (after its banner), 0 if it is still open. */
static int
limits_closed(int fd)
{
	char	buf[256];
	ssize_t	r;

	while ((r = recv(fd, buf, sizeof buf, 0)) > 0)
		;
	return (r == 0);
}

/*
 * Limits: max_unauth=4 and 3 per address.  The fourth connection from one
 * address drops that address's oldest; a full pool drops its oldest; the
 * newcomers are served; silent ones time out.
 */
static void
test_limits(struct sshd *sd)
{
	const char	*src[6] = { "127.0.0.1", "127.0.0.1", "127.0.0.1",
			    "127.0.0.1", "127.0.0.2", "127.0.0.2" };
	struct sshd_stats before = *sshd_stats(sd);
	int		 fds[6], i, closed[6];
	double		 t0;

	for (i = 0; i < 6; i++)
		fds[i] = limits_connect(sd, src[i]);
	WAIT_FOR(0, 0.2);
	for (i = 0; i < 6; i++)
		closed[i] = limits_closed(fds[i]);
	ok(closed[0] && !closed[2] && !closed[3],
	    "a fourth from one address drops that address's oldest");
	ok(closed[1] && !closed[4] && !closed[5],
	    "a full pool (4) drops the oldest of the address holding most; "
	    "the newcomers are served");
	is_int(sshd_stats(sd)->dropped_addr - before.dropped_addr, 1,
	    "one counted per address");
	is_int(sshd_stats(sd)->dropped_pool - before.dropped_pool, 1,
	    "one counted for the pool");
	t0 = now_s();
	WAIT_FOR(sshd_count(sd) == 0, 4);
	ok(sshd_count(sd) == 0, "silent connections dropped by login timeout "
	    "after %.1f s", now_s() - t0);
	is_int(sshd_stats(sd)->login_timeouts - before.login_timeouts, 4,
	    "four login timeouts counted");
	for (i = 0; i < 6; i++)
		close(fds[i]);
}

int
main(void)
{
	struct evconnlistener	*lev;
	struct sshd		*sd;
	struct client		 c, c2;
	struct timeval		 tv = { 0, 20000 };
	int			 failed;

	log_init("test-tunnel", getenv("NB_TEST_DEBUG") ? LOG_DEBUG : LOG_WARN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm(90);
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp");
	base = util_event_base_new();	/* as nbgated: epoll changelist */
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &tv);
	lev = target_listen();

	alice.keys[0] = keygen("alice_key");
	alice.keys[1] = keygen("ossh_key");
	bob.keys[0] = keygen("bob_key");

	memset(&c2, 0, sizeof c2);
	sd = test_server(1);
	test_bulk(sd, &c);
	if (alice.t != NULL)
		test_backpressure();
	test_refusals(sd);
	if (alice.t != NULL)
		test_death(&c);
	if (alice.t != NULL)
		test_replace(sd, &c, &c2);
	client_stop(&c);
	client_stop(&c2);
	WAIT_FOR(alice.t == NULL, 3);
	test_agent_program(sd);
	WAIT_FOR(alice.t == NULL, 3);
	test_agent_notebook(sd);
	WAIT_FOR(alice.t == NULL, 3);
	test_reason_clean();
	test_leave(sd);
	test_activity(sd);
	WAIT_FOR(alice.t == NULL, 3);
	test_exit_hostile(sd);
	test_unix_target(sd);
	test_notebook_down(sd);
	test_openssh(sd);
	test_limits(sd);

	kill_children();
	sshd_free(sd);
	ok(alice.refs == 0 && bob.refs == 0,
	    "every route auth() returned was released (alice %d, bob %d)",
	    alice.refs, bob.refs);
	evconnlistener_free(lev);
	event_free(tick);
	event_base_free(base);
	ssh_key_free(alice.keys[0]);
	ssh_key_free(alice.keys[1]);
	ssh_key_free(bob.keys[0]);
	free(alice.down_why);
	free(bob.down_why);
	free(alice.exit_why);
	free(bob.exit_why);
	failed = tap_done();
	if (failed || getenv("NB_TEST_KEEP") != NULL) {
		printf("# logs and keys kept in %s (ssh-*.log: OpenSSH stderr; "
		    "gateway log: this test's stderr)\n", tmpdir);
	} else {
		if (tap_rmtree(tmpdir) != 0)
			printf("# could not remove %s\n", tmpdir);
	}
	return (failed);
}
