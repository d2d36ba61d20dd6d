/*
 * test-httpc: daemon/core/httpc.c against a real local HTTP server
 * (tests/unit/data/httpc-server.py, python3's http.server on a free port).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

struct got {
	int	 calls;
	long	 status;
	char	*error;
	char	*body;
	char	*ctype;
};

static struct event_base	*base;
static int			 port;
static int			 in_request;
static int			 called_inside;

static void
got_cb(const struct httpc_result *r, void *arg)
{
	struct got	*g = arg;

	if (in_request)
		called_inside = 1;
	g->calls++;
	g->status = r->status;
	g->error = r->error != NULL ? xstrdup(r->error) : NULL;
	g->body = xstrndup(r->body, r->bodylen);
	g->ctype = r->content_type != NULL ? xstrdup(r->content_type) : NULL;
}

static void
got_clear(struct got *g)
{
	free(g->error);
	free(g->body);
	free(g->ctype);
	memset(g, 0, sizeof *g);
}

static void
loop_until(int *calls, int want)
{
	struct timeval	 tv = { 0, 20000 };
	int		 i;

	for (i = 0; i < 1000 && *calls < want; i++) {	/* at most ~20 s */
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static struct httpc_req *
get(struct got *g, const char *method, const char *path, const char *body,
    const char *const *hdrs, int timeout_ms, char **cause)
{
	struct httpc_opts	 o;
	struct httpc_req	*req;
	char			*url;

	xasprintf(&url, "http://127.0.0.1:%d%s", port, path);
	memset(&o, 0, sizeof o);
	o.method = method;
	o.url = url;
	o.body = body;
	o.bodylen = body != NULL ? strlen(body) : 0;
	o.headers = hdrs;
	o.timeout_ms = timeout_ms;
	in_request = 1;
	req = httpc_request(&o, got_cb, g, cause);
	in_request = 0;
	free(url);
	return (req);
}

static pid_t
server_start(int *wfd)
{
	const char	*src = getenv("NB_SRCDIR");
	char		*script, *line = NULL;
	size_t		 cap = 0;
	int		 in[2], out[2];
	pid_t		 pid;
	FILE		*f;

	*wfd = -1;
	xasprintf(&script, "%s/tests/unit/data/httpc-server.py", src ? src : ".");
	if (pipe(in) == -1 || pipe(out) == -1)
		return (-1);
	if ((pid = fork()) == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl("/usr/bin/python3", "python3", script, (char *)NULL);
		_exit(127);
	}
	free(script);
	close(in[0]);
	close(out[1]);
	*wfd = in[1];
	f = fdopen(out[0], "r");
	if (f == NULL || getline(&line, &cap, f) == -1) {	/* the port it listens on */
		free(line);
		return (-1);
	}
	fclose(f);
	port = atoi(line);
	free(line);
	return (pid);
}

int
main(void)
{
	const char *const	 hdrs[] = { "Authorization: Bearer t0k",
	    "Content-Type: application/json", NULL };
	const char *const	 badhdrs[] = { "X-A: b\r\nX-Injected: 1", NULL };
	struct got		 g = { 0 }, g2 = { 0 };
	struct httpc_req	*req;
	char			*cause = NULL;
	pid_t			 pid;
	int			 wfd = -1, st;

	pid = server_start(&wfd);
	ok(pid > 0 && port > 0, "test server started on port %d", port);
	base = event_base_new();
	ok(httpc_init(base, &cause) == 0, "httpc_init");

	ok(get(&g, NULL, "/ok", NULL, NULL, 0, &cause) != NULL, "GET queued");
	is_int(g.calls, 0, "no callback inside httpc_request");
	loop_until(&g.calls, 1);
	is_int(g.calls, 1, "GET: one callback");
	is_int(g.status, 200, "GET: status");
	ok(g.error == NULL, "GET: no error");
	is_str(g.body, "hello", "GET: body");
	is_str(g.ctype, "text/plain", "GET: content type");
	got_clear(&g);

	ok(get(&g, "POST", "/in", "{\"a\":1}", hdrs, 0, &cause) != NULL, "POST queued");
	loop_until(&g.calls, 1);
	is_int(g.status, 201, "POST: status");
	has_str(g.body, "\"body\": \"{\\\"a\\\":1}\"", "POST: server got the body");
	has_str(g.body, "\"auth\": \"Bearer t0k\"", "POST: server got the header");
	has_str(g.body, "\"ctype\": \"application/json\"", "POST: content type sent");
	got_clear(&g);

	ok(get(&g, "PUT", "/put", "x", NULL, 0, &cause) != NULL, "PUT queued");
	loop_until(&g.calls, 1);
	is_int(g.status, 204, "PUT: custom method, 204");
	is_str(g.body, "", "PUT: empty body");
	got_clear(&g);

	ok(get(&g, NULL, "/big", NULL, NULL, 0, &cause) != NULL, "big GET queued");
	loop_until(&g.calls, 1);
	is_str(g.error, "response too large", "2 MiB body: response too large");
	got_clear(&g);

	ok(get(&g, NULL, "/redirect", NULL, NULL, 0, &cause) != NULL, "redirect queued");
	loop_until(&g.calls, 1);
	is_int(g.status, 302, "redirect not followed");
	is_str(g.body, "moved", "redirect: its own body");
	got_clear(&g);

	ok(get(&g, NULL, "/slow", NULL, NULL, 500, &cause) != NULL, "slow GET queued");
	loop_until(&g.calls, 1);
	is_int(g.calls, 1, "timeout: one callback");
	ok(g.error != NULL && g.status == 0, "timeout: error, no status (%s)",
	    g.error ? g.error : "none");
	got_clear(&g);

	/* Two at once; the first cancelled: only the second calls back. */
	req = get(&g, NULL, "/ok", NULL, NULL, 0, &cause);
	ok(get(&g2, NULL, "/ok", NULL, NULL, 0, &cause) != NULL, "second queued");
	httpc_cancel(req);
	loop_until(&g2.calls, 1);
	loop_until(&g.calls, 1);	/* gives a cancelled one the chance to misbehave */
	is_int(g.calls, 0, "cancelled: no callback");
	is_int(g2.calls, 1, "the other completed");
	got_clear(&g);
	got_clear(&g2);

	ok(get(&g, NULL, "/ok", NULL, badhdrs, 0, &cause) == NULL, "CR/LF header refused");
	free(cause);
	cause = NULL;
	{
		struct httpc_opts o = { .url = "ftp://127.0.0.1/x" };

		ok(httpc_request(&o, got_cb, &g, &cause) == NULL, "ftp:// refused");
		has_str(cause, "only http", "ftp:// cause: %s", cause ? cause : "");
		free(cause);
		cause = NULL;
	}

	/* The server stops: connection refused is an error without a status. */
	close(wfd);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	ok(get(&g, NULL, "/ok", NULL, NULL, 2000, &cause) != NULL, "GET to a closed port queued");
	loop_until(&g.calls, 1);
	ok(g.status == 0 && g.error != NULL, "closed port: error (%s)", g.error ? g.error : "none");
	got_clear(&g);

	/* Shutdown with one in flight: no callback. */
	get(&g, NULL, "/ok", NULL, NULL, 0, &cause);
	httpc_shutdown();
	is_int(g.calls, 0, "shutdown: no callback");
	ok(!called_inside, "no callback ever ran inside httpc_request");
	event_base_free(base);
	return (tap_done());
}
