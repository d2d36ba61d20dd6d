/*
 * tunnel-fixture.c: the stage test-tunnel.c's cases play on (see
 * tunnel-fixture.h).
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

struct event_base	*base;
struct event		*tick;
char			 tmpdir[] = "/tmp/nbgate-test-tunnel-XXXXXX";
struct route		 alice = { .name = "alice" };
struct route		 bob = { .name = "bob" };
enum target_mode		 target_mode = TARGET_ECHO;
int			 target_port;
const char		*target_unix;	/* next agents: Unix socket target */
int			 target_conns;
pid_t			 children[32];
int			 nchildren;

const char *__lsan_default_suppressions(void);

/*
 * LeakSanitizer: libssh 0.10.6 keeps (leaks) the address string of each
 * tcpip-forward global request it hands to a callback (10 bytes,
 * "localhost", once per granted forward).
 */
const char *
__lsan_default_suppressions(void)
{
	return ("leak:libssh.so\n");
}

double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

uint64_t
fnv(uint64_t h, const unsigned char *p, size_t n)
{
	while (n-- > 0) {
		h ^= *p++;
		h *= 1099511628211ULL;
	}
	return (h);
}

void
fill(uint64_t *rng, unsigned char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		*rng ^= *rng << 13;
		*rng ^= *rng >> 7;
		*rng ^= *rng << 17;
		p[i] = (unsigned char)(*rng >> 24);
	}
}

void
kill_children(void)
{
	int	i;

	for (i = 0; i < nchildren; i++) {
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
	}
}

void
on_alarm(int sig)
{
	static const char msg[] = "Bail out! test-tunnel took too long\n";
	ssize_t		 n;

	n = write(STDOUT_FILENO, msg, sizeof msg - 1);
	(void)n;	/* nothing to do if it fails: the exit status says it */
	kill_children();
	_exit(1);
}

/* --- the daemon's side: hooks --- */

void *
hook_auth(const char *user, ssh_key key, void *arg)
{
	struct route	*routes[] = { &alice, &bob };
	size_t		 i, k;

	for (i = 0; i < nitems(routes); i++) {
		if (strcmp(user, routes[i]->name) != 0)
			continue;
		for (k = 0; k < nitems(routes[i]->keys); k++) {
			if (routes[i]->keys[k] != NULL && ssh_key_cmp(key,
			    routes[i]->keys[k], SSH_KEY_CMP_PUBLIC) == 0) {
				routes[i]->refs++;
				return (routes[i]);
			}
		}
	}
	return (NULL);
}

void
hook_up(struct tunnel *t, void *route, void *arg)
{
	struct route	*r = route;

	if (r->t != NULL)
		tunnel_kick(r->t, "replaced by a newer agent");
	r->t = t;
	r->ups++;
}

void
hook_release(void *route, void *arg)
{
	struct route	*r = route;

	r->refs--;
}

void
hook_exit(struct tunnel *t, void *route, const char *why, void *arg)
{
	struct route	*r = route;

	r->exits++;
	r->downs_at_exit = r->downs;
	r->exit_t = t;
	free(r->exit_why);
	r->exit_why = xstrdup(why);
}

void
hook_activity(struct tunnel *t, void *route, const struct activity *a, void *arg)
{
	struct route	*r = route;

	r->reports++;
	r->act = *a;
}

void
hook_down(struct tunnel *t, void *route, const char *why, void *arg)
{
	struct route	*r = route;

	if (r->t == t)
		r->t = NULL;
	r->downs++;
	free(r->down_why);
	r->down_why = xstrdup(why);
}

/* --- the notebook stand-in --- */

void
target_free(struct target_conn *tcn)
{
	bufferevent_free(tcn->bev);
	free(tcn);
	target_conns--;
}

void
target_writecb(struct bufferevent *bev, void *arg)
{
	struct target_conn	*tcn = arg;
	struct evbuffer		*out = bufferevent_get_output(bev);
	unsigned char		 buf[16384];
	size_t			 n;

	if (tcn->mode == TARGET_SOURCE) {
		while (tcn->left > 0 && evbuffer_get_length(out) < 256 * 1024) {
			n = tcn->left < sizeof buf ? tcn->left : sizeof buf;
			fill(&tcn->rng, buf, n);
			evbuffer_add(out, buf, n);
			tcn->left -= n;
		}
		if (tcn->left == 0 && evbuffer_get_length(out) == 0)
			target_free(tcn);
		return;
	}
	if (tcn->closing && evbuffer_get_length(out) == 0) {
		target_free(tcn);
		return;
	}
	target_readcb(bev, arg);
}

void
target_readcb(struct bufferevent *bev, void *arg)
{
	struct target_conn	*tcn = arg;
	struct evbuffer		*out = bufferevent_get_output(bev);

	if (tcn->mode != TARGET_ECHO)
		return;
	/* Echo, but never queue more than ~1 MiB: back-pressure to the tunnel. */
	if (evbuffer_get_length(out) < 1024 * 1024)
		evbuffer_add_buffer(out, bufferevent_get_input(bev));
}

void
target_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct target_conn	*tcn = arg;

	if ((what & BEV_EVENT_EOF) && tcn->mode == TARGET_ECHO) {
		evbuffer_add_buffer(bufferevent_get_output(bev),
		    bufferevent_get_input(bev));
		tcn->closing = 1;
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			target_free(tcn);
		return;
	}
	target_free(tcn);
}

void
target_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct target_conn	*tcn = xcalloc(1, sizeof *tcn);

	tcn->mode = target_mode;
	target_mode = TARGET_ECHO;	/* one-shot */
	tcn->left = SOURCE_BYTES;
	tcn->rng = 0x9e3779b97f4a7c15ULL;
	tcn->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(tcn->bev, target_readcb, target_writecb,
	    target_eventcb, tcn);
	bufferevent_enable(tcn->bev, EV_READ | EV_WRITE);
	target_conns++;
	if (tcn->mode == TARGET_SOURCE)
		target_writecb(tcn->bev, tcn);
}

struct evconnlistener *
target_listen(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	struct evconnlistener	*lev;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lev = evconnlistener_new_bind(base, target_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof sin);
	if (lev == NULL)
		fatal("target listen");
	getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&sin, &len);
	target_port = ntohs(sin.sin_port);
	return (lev);
}

struct evconnlistener *
target_listen_unix(const char *sockpath)
{
	struct sockaddr_un	 sun;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(sockpath) >= sizeof sun.sun_path)
		fatalx("%s: path too long", sockpath);
	memcpy(sun.sun_path, sockpath, strlen(sockpath));
	return (evconnlistener_new_bind(base, target_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE, 16, (struct sockaddr *)&sun, sizeof sun));
}

/* --- the browser's side: streams through the tunnel --- */

void
xfer_drain(struct xfer *x)
{
	struct evbuffer		*in = bufferevent_get_input(x->bev);
	struct evbuffer_iovec	 v[8];
	int			 i, n;
	size_t			 len;

	while ((len = evbuffer_get_length(in)) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, 8);
		if (n > 8)
			n = 8;
		for (i = 0; i < n; i++) {
			x->h_recv = fnv(x->h_recv, v[i].iov_base, v[i].iov_len);
			x->received += v[i].iov_len;
			evbuffer_drain(in, v[i].iov_len);
		}
	}
}

void
xfer_readcb(struct bufferevent *bev, void *arg)
{
	struct xfer	*x = arg;

	if (x->reading)
		xfer_drain(x);
}

void
xfer_writecb(struct bufferevent *bev, void *arg)
{
	struct xfer	*x = arg;
	struct evbuffer	*out = bufferevent_get_output(bev);
	unsigned char	 buf[16384];
	size_t		 n;

	while (x->sent < x->to_send && evbuffer_get_length(out) < 512 * 1024) {
		n = x->to_send - x->sent < sizeof buf ? x->to_send - x->sent :
		    sizeof buf;
		fill(&x->rng, buf, n);
		x->h_sent = fnv(x->h_sent, buf, n);
		evbuffer_add(out, buf, n);
		x->sent += n;
	}
	if (x->finish && !x->finished && x->sent == x->to_send) {
		x->finished = 1;
		bufferevent_flush(bev, EV_WRITE, BEV_FINISHED);
	}
}

void
xfer_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct xfer	*x = arg;

	if (what & BEV_EVENT_ERROR)
		x->error = 1;
	else if (what & BEV_EVENT_EOF)
		x->eof = 1;
	if (x->reading)
		xfer_drain(x);
}

void
xfer_connected(struct bufferevent *bev, const char *err, void *arg)
{
	struct xfer	*x = arg;

	x->got_cb = 1;
	if (bev == NULL) {
		x->err = xstrdup(err);
		return;
	}
	x->bev = bev;
	bufferevent_setcb(bev, xfer_readcb, xfer_writecb, xfer_eventcb, x);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	xfer_writecb(bev, x);
}

void
xfer_init(struct xfer *x, size_t to_send)
{
	memset(x, 0, sizeof *x);
	x->to_send = to_send;
	x->h_sent = x->h_recv = 14695981039346656037ULL;
	x->rng = 0x243f6a8885a308d3ULL;
	x->reading = 1;
	x->finish = 1;
}

void
xfer_free(struct xfer *x)
{
	if (x->bev != NULL)
		bufferevent_free(x->bev);
	free(x->err);
	x->bev = NULL;
	x->err = NULL;
}

/* Echo @n bytes through @r's tunnel; returns the seconds it took, -1 on failure. */
double
echo_through(struct route *r, size_t n, const char *what)
{
	struct xfer	 x;
	double		 t0 = now_s(), dt = -1;

	xfer_init(&x, n);
	if (r->t == NULL) {
		ok(0, "%s: tunnel is up", what);
		return (-1);
	}
	tunnel_connect(r->t, "127.0.0.1", 40000, xfer_connected, &x);
	WAIT_FOR(x.got_cb, 5);
	ok(x.bev != NULL, "%s: stream opened%s%s", what, x.err ? ": " : "",
	    x.err ? x.err : "");
	if (x.bev == NULL)
		goto out;
	WAIT_FOR(x.eof || x.error, 20);
	dt = now_s() - t0;
	ok(x.eof && !x.error, "%s: stream ended with EOF after the echo", what);
	is_int(x.received, n, "%s: all %zu bytes came back", what, n);
	ok(x.h_recv == x.h_sent, "%s: checksum matches", what);
out:
	xfer_free(&x);
	return (dt);
}

/* --- agents --- */

void
client_state(struct tunclient *tc, enum tunclient_state st, const char *why,
    void *arg)
{
	struct client	*c = arg;

	c->state = st;
	if (st == TUNCLIENT_UP)
		c->ups++;
	if (st == TUNCLIENT_DOWN)
		c->downs++;
	if (st == TUNCLIENT_FAILED)
		c->failed++;
	if (why != NULL) {
		free(c->why);
		c->why = xstrdup(why);
	}
}

struct tunclient *
client_start(struct client *c, const char *user, const char *keyfile,
    const char *pin, struct sshd *sd)
{
	struct tunclient_config	 cfg;
	char			*cause = NULL;

	memset(c, 0, sizeof *c);
	memset(&cfg, 0, sizeof cfg);
	cfg.host = "127.0.0.1";
	cfg.port = sshd_port(sd);
	cfg.user = user;
	cfg.hostkey_pin = pin;
	cfg.key_file = keyfile;
	if (target_unix != NULL)
		cfg.target_unix = target_unix;
	else {
		cfg.target_host = "127.0.0.1";
		cfg.target_port = target_port;
	}
	cfg.backoff_max = 2;
	cfg.keepalive = 1;	/* exercise SSH_MSG_IGNORE during the test */
	c->tc = tunclient_new(base, &cfg, client_state, c, &cause);
	if (c->tc == NULL)
		tap_diag("tunclient_new: %s", cause);
	free(cause);
	return (c->tc);
}

void
client_stop(struct client *c)
{
	tunclient_free(c->tc);
	c->tc = NULL;
	free(c->why);
	c->why = NULL;
}

char *
path(const char *name)
{
	char	*p;

	xasprintf(&p, "%s/%s", tmpdir, name);
	return (p);
}

ssh_key
keygen(const char *name)
{
	char	*p = path(name), *pub;
	char	*argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
		    "test", "-f", p, NULL };
	ssh_key	 key = NULL;
	pid_t	 pid;
	int	 status;

	/* no shell: the path goes to ssh-keygen as one argument */
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		fatalx("ssh-keygen -f %s failed", p);
	xasprintf(&pub, "%s.pub", p);
	if (ssh_pki_import_pubkey_file(pub, &key) != SSH_OK)
		fatalx("cannot read %s", pub);
	free(pub);
	free(p);
	return (key);
}

/* Does the file @name in the temp dir contain @what? */
int
log_has(const char *name, const char *what)
{
	char	*p = path(name), line[1024];
	FILE	*f;
	int	 found = 0;

	if ((f = fopen(p, "r")) != NULL) {
		while (!found && fgets(line, sizeof line, f) != NULL)
			found = strstr(line, what) != NULL;
		fclose(f);
	}
	free(p);
	return (found);
}

pid_t
spawn(char *const argv[], const char *logname)
{
	char	*log = path(logname);
	pid_t	 pid;
	int	 fd;

	if (nchildren == (int)nitems(children))
		fatalx("too many children");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, STDIN_FILENO);
		close(fd);
		execvp(argv[0], argv);
		_exit(127);
	}
	free(log);
	children[nchildren++] = pid;
	return (pid);
}

void
reaped(pid_t pid)
{
	int	i;

	for (i = 0; i < nchildren; i++)
		if (children[i] == pid)
			children[i] = 0;
}

/* Waits for @pid (running the loop meanwhile); its exit status, -1 on timeout. */
int
wait_child(pid_t pid, double secs)
{
	int	status = 0, done = 0;

	WAIT_FOR(done || (done = waitpid(pid, &status, WNOHANG) == pid), secs);
	if (!done) {
		tap_diag("waitpid(%ld): %s", (long)pid, strerror(errno));
		return (-1);
	}
	reaped(pid);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

