/*
 * progress.c: a session's progress as JupyterHub shapes it (progress, message,
 * ready, url, failed) plus phase, session, job_id and error_output: one event
 * for the spawn-pending page, and the event stream GET .../progress follows
 * until the server is ready or has failed (with ?until=end: until it ends,
 * carrying time_left and the walltime warning while it runs).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/web/web.h"

/* One stream following one session; the proxy owns the connection. */
struct progress {
	struct conn_stream	*st;
	long long		 session;
	int			 pct;		/* progress sent so far: never goes back */
	int			 until_end;	/* ?until=end: on past ready */
	char			*last;		/* last event's JSON, to skip repeats */
};

static const char *
progress_str(const json_t *j, const char *key)
{
	return (json_string_value(json_object_get(j, key)));
}

/* The progress message for phase @st, from the server model's "state" @v (owned). */
static char *
progress_message(enum session_state st, const json_t *v, const char *url)
{
	const char	*job = progress_str(v, "job_id"), *why = progress_str(v, "reason");
	const char	*cl = progress_str(v, "cluster"), *node = progress_str(v, "node");
	const char	*sr = progress_str(v, "scheduler_reason");
	const char	*eta = progress_str(v, "estimated_start");
	char		*m;

	if (job == NULL)
		job = "";
	if (cl == NULL)
		cl = "the cluster";
	switch (st) {
	case SESSION_REQUESTED:
		xasprintf(&m, "Preparing the job for %s", cl);
		break;
	case SESSION_SUBMITTED:
		xasprintf(&m, "Job %s submitted to %s", job, cl);
		break;
	case SESSION_QUEUED:
		xasprintf(&m, "Job %s is queued on %s%s%s%s%s", job, cl,
		    sr != NULL ? ": " : "", sr != NULL ? sr : "",
		    eta != NULL ? "; estimated start " : "", eta != NULL ? eta : "");
		break;
	case SESSION_STARTING:
		xasprintf(&m, "Job %s runs on %s; the notebook is starting", job,
		    node != NULL ? node : "a compute node");
		break;
	case SESSION_RUNNING:
		xasprintf(&m, "Server ready at %s", url);
		break;
	case SESSION_STOPPING:
		xasprintf(&m, "The server is stopping%s%s", why != NULL ? ": " : "",
		    why != NULL ? why : "");
		break;
	case SESSION_ENDED:
		xasprintf(&m, "The server ended%s%s", why != NULL ? ": " : "",
		    why != NULL ? why : "");
		break;
	default:
		xasprintf(&m, "the scheduler cannot be reached%s%s",
		    why != NULL ? ": " : "", why != NULL ? why : "");
		break;
	}
	return (m);
}

/*
 * One event of a progress stream (JupyterHub's shape, plus phase, session
 * and job_id) for @s now, owned; *final says the stream ends with it.
 */
json_t *
progress_event(const struct session *s, int *final)
{
	static const int pct[SESSION_NSTATES] = {
		[SESSION_REQUESTED] = 10, [SESSION_SUBMITTED] = 20,
		[SESSION_QUEUED] = 30, [SESSION_STARTING] = 60,
		[SESSION_RUNNING] = 100, [SESSION_STOPPING] = 90,
		[SESSION_ENDED] = 100, [SESSION_UNKNOWN] = 30,
	};
	enum session_state	 st = session_state(s);
	json_t			*m = session_json(s, 0), *v, *ev;
	const char		*url = progress_str(m, "url"), *err;
	char			*msg;

	if (url == NULL)	/* session_json() failed: say what is known */
		url = "";
	v = json_object_get(m, "state");
	if (progress_str(v, "open_url") != NULL)	/* an app's own page */
		url = progress_str(v, "open_url");
	msg = progress_message(st, v, url);
	ev = json_pack("{s:i,s:s,s:s,s:I,s:O}", "progress", pct[st], "message", msg,
	    "phase", session_state_name(st), "session", (json_int_t)session_id(s),
	    "job_id", json_object_get(v, "job_id") != NULL ?
	    json_object_get(v, "job_id") : json_null());
	*final = st == SESSION_RUNNING || st == SESSION_ENDED;
	if (json_is_integer(json_object_get(v, "time_left")))
		json_object_set(ev, "time_left", json_object_get(v, "time_left"));
	if (json_is_object(json_object_get(v, "successor")))	/* continue in a new job */
		json_object_set(ev, "successor", json_object_get(v, "successor"));
	if (json_is_object(json_object_get(v, "carry_over")))
		json_object_set(ev, "carry_over", json_object_get(v, "carry_over"));
	if (st == SESSION_RUNNING) {
		json_object_set_new(ev, "ready", json_true());
		json_object_set_new(ev, "url", json_string(url));
		if (json_is_string(json_object_get(v, "walltime_warning")))
			json_object_set(ev, "walltime_warning",
			    json_object_get(v, "walltime_warning"));
	} else if (st == SESSION_ENDED) {
		json_object_set_new(ev, "failed", json_true());
		err = progress_str(v, "error_output");
		json_object_set_new(ev, "error_output", err != NULL ?
		    json_string(err) : json_null());
	}
	free(msg);
	json_decref(m);
	return (ev);
}

static void	progress_watch(const struct session *, void *);

static void
progress_free(struct progress *p)
{
	session_unwatch(progress_watch, p);
	free(p->last);
	free(p);
}

/* The connection went (the browser left, or stopped reading keepalives). */
static void
progress_closed(void *arg)
{
	progress_free(arg);
}

/* Sends @s's state as one event unless it repeats the last; ends after the last. */
static void
progress_send(struct progress *p, const struct session *s)
{
	json_t	*ev;
	char	*line, *text;
	int	 final, pct, rv;

	ev = progress_event(s, &final);
	if (p->until_end)
		final = session_state(s) == SESSION_ENDED;
	pct = (int)json_integer_value(json_object_get(ev, "progress"));
	if (pct < p->pct)
		json_object_set_new(ev, "progress", json_integer(p->pct));
	else
		p->pct = pct;
	line = json_dumps(ev, JSON_COMPACT);	/* one line: newlines are escaped */
	json_decref(ev);
	if (line == NULL)
		return;
	if (!final && p->last != NULL && strcmp(line, p->last) == 0) {
		free(line);
		return;
	}
	xasprintf(&text, "data: %s\n\n", line);
	free(p->last);
	p->last = line;		/* transferred */
	rv = conn_stream_send(p->st, text, strlen(text));
	free(text);
	if (rv == -1) {
		log_info("progress of session %lld: dropped", p->session);
		progress_free(p);
	} else if (final) {
		log_debug("progress of session %lld: final event sent", p->session);
		conn_stream_end(p->st);
		progress_free(p);
	}
}

static void
progress_watch(const struct session *s, void *arg)
{
	struct progress	*p = arg;

	if (session_id(s) == p->session)
		progress_send(p, s);
}

/* Answers the request on @c with @s's progress as it changes (@until_end: until it ends). */
void
progress_stream(struct conn *c, const struct session *s, int until_end)
{
	struct progress	*p = xcalloc(1, sizeof *p);

	p->session = session_id(s);
	p->until_end = until_end;
	p->st = conn_stream(c, progress_closed, p);
	log_debug("progress of session %lld: stream opened", p->session);
	session_watch(progress_watch, p);
	progress_send(p, s);
}
