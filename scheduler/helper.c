/*
 * helper.c: one long-lived "HELPER serve" child per local transport (the
 * nbgate-slurmlib helper): commands go to it as JSON lines, one at a time, and
 * come back as {"status": N, "out": "..."}, so SLURM is asked without a fork
 * per query. The child is restarted when it dies, hangs or has served enough.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "common/common.h"
#include "scheduler/backend.h"

#define HELPER_SERVED_MAX	1000	/* answers per child, then a fresh one (re-reads slurm.conf) */
#define HELPER_LINE_MAX		(PROC_OUTPUT_MAX - 1)
#define HELPER_ERR_MAX		512	/* last stderr line kept for causes */

struct helper_req {
	struct helper		*h;
	char			*line;		/* the request, ending in \n */
	int			 timeout;	/* ms; 0: none */
	helper_cb		 cb;		/* NULL once cancelled */
	void			*arg;
	TAILQ_ENTRY(helper_req)	 entry;
};

struct helper {
	struct event_base	*base;
	struct proc_spec	 spec;		/* argv: HELPER serve; the rest borrowed */
	const char		*argv[3];
	struct proc		*p;
	struct helper_req	*cur;		/* sent, not answered */
	TAILQ_HEAD(, helper_req) queue;
	struct event		*ev_timeout;
	struct event		*ev_kick;	/* helper_next() from the loop */
	unsigned		 served;	/* answers from the current child */
	unsigned long long	 started;	/* children started */
	char			*last_err;	/* last non-empty stderr line */
};

static void	helper_next(struct helper *);

static void
helper_req_free(struct helper_req *r)
{
	if (r->line != NULL)
		freezero(r->line, strlen(r->line));	/* may hold a batch script */
	free(r);
}

/* Answers the request in flight (a result, or an error) and sends the next. */
static void
helper_answer(struct helper *h, int status, int timed_out, const char *error, const char *out,
    size_t outlen)
{
	struct helper_req	*r = h->cur;
	struct evbuffer		*o, *e;

	h->cur = NULL;
	evtimer_del(h->ev_timeout);
	if (r == NULL)
		return;
	if (r->cb != NULL) {
		if ((o = evbuffer_new()) == NULL || (e = evbuffer_new()) == NULL)
			fatalx("evbuffer_new failed");
		evbuffer_add(o, out, outlen);
		r->cb(status, timed_out, error, o, e, r->arg);
		evbuffer_free(o);
		evbuffer_free(e);
	}
	helper_req_free(r);
}

/* Ends the child (KILL: it holds no request when this is called, or a hung one). */
static void
helper_stop(struct helper *h)
{
	proc_cancel(h->p);
	h->p = NULL;
	h->served = 0;
}

/* One {"status": N, "out": "..."} line: the answer to the request in flight. */
static void
helper_line(struct helper *h, const char *line, size_t len)
{
	json_t		*j, *st, *out;
	char		*cause;

	j = json_loadb(line, len, 0, NULL);
	st = json_object_get(j, "status");
	out = json_object_get(j, "out");
	if (!json_is_integer(st) || !json_is_string(out) || h->cur == NULL) {
		json_decref(j);
		xasprintf(&cause, "nbgate-slurmlib serve: unexpected answer");
		helper_stop(h);
		helper_answer(h, -1, 0, cause, "", 0);
		free(cause);
		return;
	}
	h->served++;
	helper_answer(h, (int)json_integer_value(st), 0, NULL, json_string_value(out),
	    json_string_length(out));
	json_decref(j);
	if (h->served >= HELPER_SERVED_MAX)
		helper_stop(h);
}

static void
helper_read(struct evbuffer *out, struct evbuffer *err, void *arg)
{
	struct helper	*h = arg;
	char		*line;
	size_t		 len;

	while ((line = evbuffer_readln(err, &len, EVBUFFER_EOL_LF)) != NULL) {
		if (len > 0) {
			free(h->last_err);
			h->last_err = xstrndup(line, len < HELPER_ERR_MAX ? len : HELPER_ERR_MAX);
		}
		free(line);
	}
	if (evbuffer_get_length(err) > HELPER_ERR_MAX)
		evbuffer_drain(err, evbuffer_get_length(err));
	if ((line = evbuffer_readln(out, &len, EVBUFFER_EOL_LF)) != NULL) {
		helper_line(h, line, len);	/* may stop the child: read nothing more */
		free(line);
		helper_next(h);
		return;
	}
	if (evbuffer_get_length(out) > HELPER_LINE_MAX) {
		helper_stop(h);
		helper_answer(h, -1, 0, "nbgate-slurmlib serve: answer too large", "", 0);
		helper_next(h);
	}
}

/* The child is gone: the request in flight fails with what it said last. */
static void
helper_exited(const struct proc_result *pr, void *arg)
{
	struct helper	*h = arg;
	char		*cause;

	h->p = NULL;
	h->served = 0;
	if (pr->exited)
		xasprintf(&cause, "nbgate-slurmlib exited with status %d%s%s", pr->status,
		    h->last_err != NULL ? ": " : "", h->last_err != NULL ? h->last_err : "");
	else
		xasprintf(&cause, "nbgate-slurmlib killed by signal %d%s%s", pr->signal,
		    h->last_err != NULL ? ": " : "", h->last_err != NULL ? h->last_err : "");
	helper_answer(h, -1, 0, cause, "", 0);
	free(cause);
	helper_next(h);
}

static void
helper_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct helper	*h = arg;

	helper_stop(h);
	helper_answer(h, -1, 1, NULL, "", 0);
	helper_next(h);
}

/* Sends the next queued request, starting a child if there is none. */
static void
helper_next(struct helper *h)
{
	struct helper_req	*r;
	struct timeval		 tv;
	char			*cause = NULL;

	while (h->cur == NULL && (r = TAILQ_FIRST(&h->queue)) != NULL) {
		TAILQ_REMOVE(&h->queue, r, entry);
		if (h->p == NULL) {
			free(h->last_err);
			h->last_err = NULL;
			if ((h->p = proc_run(h->base, &h->spec, helper_exited, h, &cause)) == NULL) {
				h->cur = r;
				helper_answer(h, -1, 0, cause, "", 0);
				free(cause);
				cause = NULL;
				continue;
			}
			h->started++;
		}
		h->cur = r;
		if (proc_write(h->p, r->line, strlen(r->line)) == -1) {
			helper_stop(h);
			helper_answer(h, -1, 0, "nbgate-slurmlib serve: its input is closed", "", 0);
			continue;
		}
		if (r->timeout > 0) {
			tv.tv_sec = r->timeout / 1000;
			tv.tv_usec = (r->timeout % 1000) * 1000;
			evtimer_add(h->ev_timeout, &tv);
		}
	}
}

static void
helper_kick(evutil_socket_t fd, short events, void *arg)
{
	helper_next(arg);
}

/* A helper running "PATH serve" with @spec's environment, account and directory (borrowed). */
struct helper *
helper_new(struct event_base *base, const char *path, const struct proc_spec *spec)
{
	struct helper	*h = xcalloc(1, sizeof *h);

	h->base = base;
	h->spec = *spec;
	h->argv[0] = path;
	h->argv[1] = "serve";
	h->argv[2] = NULL;
	h->spec.argv = h->argv;
	h->spec.input = NULL;
	h->spec.inlen = 0;
	h->spec.timeout = 0;
	h->spec.on_read = helper_read;
	TAILQ_INIT(&h->queue);
	if ((h->ev_timeout = evtimer_new(base, helper_timeout, h)) == NULL ||
	    (h->ev_kick = event_new(base, -1, 0, helper_kick, h)) == NULL)
		fatalx("event_new failed");
	return (h);
}

/* Stops the child and drops every request without callbacks. NULL is a no-op. */
void
helper_free(struct helper *h)
{
	struct helper_req	*r;

	if (h == NULL)
		return;
	helper_stop(h);
	if (h->cur != NULL)
		helper_req_free(h->cur);
	while ((r = TAILQ_FIRST(&h->queue)) != NULL) {
		TAILQ_REMOVE(&h->queue, r, entry);
		helper_req_free(r);
	}
	event_free(h->ev_timeout);
	event_free(h->ev_kick);
	free(h->last_err);
	free(h);
}

/*
 * Queues argv (the words after the helper's path) and stdin bytes; the
 * callback runs once, from the loop. NULL and *cause if they cannot be sent.
 */
struct helper_req *
helper_run(struct helper *h, const char *const *argv, const char *input, size_t inlen,
    int timeout, helper_cb cb, void *arg, char **cause)
{
	struct helper_req	*r;
	json_t			*j, *a;
	size_t			 i;
	char			*s;

	a = json_array();
	for (i = 0; argv[i] != NULL; i++)
		json_array_append_new(a, json_string(argv[i]));
	if (json_array_size(a) != i) {
		json_decref(a);
		*cause = xstrdup("a command word is not UTF-8 text");
		return (NULL);
	}
	/* "o" hands a over, also when packing fails (jansson >= 2.11) */
	j = json_pack("{s:o, s:s%}", "argv", a, "input", input != NULL ? input : "",
	    input != NULL ? inlen : (size_t)0);
	if (j == NULL) {
		*cause = xstrdup("the command's input is not UTF-8 text");
		return (NULL);
	}
	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("json_dumps failed");
	json_decref(j);
	r = xcalloc(1, sizeof *r);
	xasprintf(&r->line, "%s\n", s);
	freezero(s, strlen(s));
	r->h = h;
	r->timeout = timeout;
	r->cb = cb;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&h->queue, r, entry);
	event_active(h->ev_kick, EV_TIMEOUT, 0);
	return (r);
}

/* Forgets a request: no callback. One in flight still has its answer read (and dropped). */
void
helper_cancel(struct helper_req *r)
{
	struct helper	*h;

	if (r == NULL)
		return;
	h = r->h;
	if (h->cur == r) {
		r->cb = NULL;
		return;
	}
	TAILQ_REMOVE(&h->queue, r, entry);
	helper_req_free(r);
}

/* Children started so far (for tests: one serves many commands). */
unsigned long long
helper_started(const struct helper *h)
{
	return (h->started);
}
