/*
 * sched.c: the backend table, the common job status, and a cluster's bridge:
 * one-shot requests (submit, cancel, batched query, queues, accounts, job
 * listings, accounting) run through a transport.  The tracker is in sched-track.c.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/common.h"
#include "scheduler/backend.h"

/* The one list of backends. */
static const struct sched_ops *const sched_backends[] = {
	&sched_slurm_ops,
	&sched_pbs_ops,
	&sched_slurmlib_ops,
	&sched_gridengine_ops,
	&sched_slurmrest_ops,
};

const struct sched_ops *
sched_find(const char *name)
{
	size_t	i;

	for (i = 0; i < nitems(sched_backends); i++) {
		if (strcmp(sched_backends[i]->name, name) == 0)
			return (sched_backends[i]);
	}
	return (NULL);
}

/* --- statuses ---------------------------------------------------------------------------- */

void
sched_status_clear(struct sched_status *st)
{
	free(st->reason);
	free(st->node);
	free(st->raw);
	memset(st, 0, sizeof *st);
	st->exit_code = -1;
}

void
sched_status_copy(struct sched_status *dst, const struct sched_status *src)
{
	*dst = *src;
	dst->reason = src->reason != NULL ? xstrdup(src->reason) : NULL;
	dst->node = src->node != NULL ? xstrdup(src->node) : NULL;
	dst->raw = src->raw != NULL ? xstrdup(src->raw) : NULL;
}

static int
sched_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/* Equal as far as a watcher cares (raw word, reason and time limit count, start does not). */
int
sched_status_equal(const struct sched_status *a, const struct sched_status *b)
{
	return (a->state == b->state && a->end == b->end && a->exit_code == b->exit_code &&
	    a->signal == b->signal && a->limit == b->limit &&
	    sched_streq(a->reason, b->reason) &&
	    sched_streq(a->node, b->node) && sched_streq(a->raw, b->raw));
}

const char *
sched_state_name(enum sched_state s)
{
	static const char *const names[] = { "unknown", "pending", "running", "ended" };

	return ((size_t)s < nitems(names) ? names[s] : "?");
}

const char *
sched_end_name(enum sched_end e)
{
	static const char *const names[] = { "none", "completed", "failed", "cancelled",
	    "timeout", "node_fail", "out_of_memory", "unknown" };

	return ((size_t)e < nitems(names) ? names[e] : "?");
}

/* --- argv vectors, validation, small parsers ------------------------------------------ */

void
sched_argv_add(struct sched_argv *a, const char *s)
{
	a->v = xreallocarray(a->v, a->n + 2, sizeof *a->v);
	a->v[a->n++] = xstrdup(s);
	a->v[a->n] = NULL;
}

void
sched_argv_addf(struct sched_argv *a, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	sched_argv_add(a, s);
	free(s);
}

void
sched_argv_clear(struct sched_argv *a)
{
	size_t	i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

static int
sched_charset_max(const char *s, const char *extra, size_t max)
{
	size_t	len = strlen(s);

	if (len == 0 || len > max || s[0] == '-')
		return (0);
	for (; *s != '\0'; s++) {
		if (!isascii((unsigned char)*s) || (!isalnum((unsigned char)*s) &&
		    strchr(extra, *s) == NULL))
			return (0);
	}
	return (1);
}

static int
sched_charset(const char *s, const char *extra)
{
	return (sched_charset_max(s, extra, 64));
}

/* A job id as it may appear in an argv: [0-9A-Za-z._[]-], not starting with '-'. */
int
sched_id_valid(const char *id)
{
	return (id != NULL && sched_charset(id, "._[]-"));
}

/* A user or account name: [A-Za-z0-9_.-], not starting with '-'. */
int
sched_name_valid(const char *name)
{
	return (name != NULL && sched_charset(name, "_.-"));
}

/* Same job: equal, or equal up to the first '.' when one side is bare ("123" ~ "123.srv"). */
int
sched_id_match(const char *a, const char *b)
{
	size_t	la = strcspn(a, "."), lb = strcspn(b, ".");

	if (strcmp(a, b) == 0)
		return (1);
	if (la != lb || strncmp(a, b, la) != 0)
		return (0);
	return (a[la] == '\0' || b[lb] == '\0');
}

/* "2024-01-02T03:04:05" in local time; N/A, Unknown, None: -1. */
/* A node list as squeue prints it ("n[01-04],gpu7"): safe as one argv word. */
int
sched_nodelist_valid(const char *s)
{
	return (sched_charset_max(s, "._,[]-", 4096));
}

/* Adds host name or address @h (transferred) unless invalid or already listed. */
void
sched_hosts_add(char ***vp, size_t *np, char *h)
{
	size_t	i;

	for (i = 0; i < *np && strcmp((*vp)[i], h) != 0; i++)
		;
	if (!sched_charset_max(h, "._:-", 255) || i < *np) {
		free(h);
		return;
	}
	*vp = xreallocarray(*vp, *np + 1, sizeof **vp);
	(*vp)[(*np)++] = h;
}

int
sched_parse_time(const char *s, time_t *t)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL || *end != '\0')
		return (-1);
	tm.tm_isdst = -1;
	if ((*t = mktime(&tm)) == (time_t)-1)
		return (-1);
	return (0);
}

/* SLURM/PBS durations: [D-]HH:MM:SS, HH:MM:SS, MM:SS, MM; "infinite"/"UNLIMITED": -1. */
int
sched_parse_duration(const char *s, int *secs)
{
	long	 f[3], days = 0, v;
	int	 n = 0;
	char	*end;

	if (strcasecmp(s, "infinite") == 0 || strcasecmp(s, "unlimited") == 0) {
		*secs = -1;
		return (0);
	}
	if (strchr(s, '-') != NULL) {
		errno = 0;
		days = strtol(s, &end, 10);
		if (errno != 0 || *end != '-' || days < 0 || days > 3650 || end == s)
			return (-1);
		s = end + 1;
	}
	for (;;) {
		if (!isdigit((unsigned char)*s) || n == 3)
			return (-1);
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno != 0 || v > 100000)
			return (-1);
		f[n++] = v;
		if (*end == '\0')
			break;
		if (*end != ':')
			return (-1);
		s = end + 1;
	}
	if (n == 1)
		v = f[0] * 60;
	else if (n == 2)
		v = f[0] * 60 + f[1];
	else
		v = f[0] * 3600 + f[1] * 60 + f[2];
	*secs = (int)(days * 86400 + v);
	return (0);
}

/* Walks buf line by line: *cursor starts at buf; returns the line and its length. */
const char *
sched_next_line(const char **cursor, const char *end, size_t *len)
{
	const char	*line = *cursor, *nl;

	if (line == NULL || line >= end)
		return (NULL);
	if ((nl = memchr(line, '\n', end - line)) == NULL)
		nl = end;
	*len = nl - line;
	if (*len > 0 && line[*len - 1] == '\r')
		(*len)--;
	*cursor = nl < end ? nl + 1 : end;
	return (line);
}

size_t
sched_split(const char *line, size_t len, int sep, char **fields, size_t max)
{
	const char	*end = line + len, *p;
	size_t		 n = 0;

	while (n < max) {
		if ((p = memchr(line, sep, end - line)) == NULL || n == max - 1)
			p = end;
		fields[n++] = xstrndup(line, p - line);
		if (p == end)
			break;
		line = p + 1;
	}
	return (n);
}

/* "CMD ID" with a checked id. */
int
sched_argv_id(struct sched_argv *a, const char *cmd, const char *id, char **cause)
{
	if (!sched_id_valid(id)) {
		xasprintf(cause, "invalid job id");
		return (-1);
	}
	sched_argv_add(a, cmd);
	sched_argv_add(a, id);
	return (0);
}

/* The first non-empty line of stderr, else of stdout, else "WHAT failed with exit status N". */
char *
sched_output_cause(const struct sched_output *o, const char *what)
{
	const char	*bufs[2] = { o->err, o->out }, *p, *line;
	size_t		 lens[2] = { o->errlen, o->outlen }, len, i;
	char		*s;

	for (i = 0; i < 2; i++) {
		p = bufs[i];
		while ((line = sched_next_line(&p, bufs[i] + lens[i], &len)) != NULL) {
			if (len > 0)
				return (xstrndup(line, len > 512 ? 512 : len));
		}
	}
	xasprintf(&s, "%s failed with exit status %d", what, o->status);
	return (s);
}

/* 0 if the command exited 0, else -1 and its cause (sched_output_cause()). */
int
sched_output_ok(const struct sched_output *o, const char *what, char **cause)
{
	if (o->status == 0)
		return (0);
	*cause = sched_output_cause(o, what);
	return (-1);
}

void
sched_queues_free(struct sched_queue *q, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(q[i].name);
	free(q);
}

static void
sched_listed_clear(struct sched_listed *l)
{
	free(l->id);
	free(l->name);
	free(l->comment);
	free(l->user);
	sched_status_clear(&l->st);
}

void
sched_listed_free(struct sched_listed *l, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		sched_listed_clear(&l[i]);
	free(l);
}

void
sched_used_free(struct sched_used *u, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(u[i].id);
		free(u[i].user);
		free(u[i].account);
		free(u[i].comment);
	}
	free(u);
}

void
sched_strings_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void sched_fail_cb(evutil_socket_t, short, void *);

/* --- a cluster's bridge ------------------------------------------------------------------ */

enum sched_req_kind { REQ_SUBMIT, REQ_CANCEL, REQ_QUERY, REQ_QUEUES, REQ_ACCOUNTS, REQ_LIST,
	REQ_NODES, REQ_USAGE, REQ_EXTEND };

struct sched_req {
	struct sched		*s;
	enum sched_req_kind	 kind;
	struct transport_req	*treq;
	void			*cb;
	void			*arg;
	char			*tmpfile;	/* PBS submit, local: removed when done */
	char			*id;		/* cancel */
	char			*user;		/* list: keep only this user's jobs, or NULL */
	char			*cmd;		/* usage: the command's name, for causes */
	int			 timeout;	/* ms; 0: the bridge's */
	struct sched_job	*jobs;		/* query */
	char			**ids;
	size_t			 n;
	struct event		*ev_fail;	/* reports a failure before any command ran */
	char			*fail;
	transport_cb		 tcb;		/* the command's own callback */
	struct timespec		 t0;		/* when it was started */
	LIST_ENTRY(sched_req)	 entry;
};

struct sched {
	struct event_base	*base;
	const struct sched_ops	*ops;
	struct transport	*tr;
	char			*name;
	int			 timeout;
	unsigned long long	 calls;
	unsigned long long	 errors;	/* commands that could not run or timed out */
	double			 seconds;	/* spent in commands, all together */
	LIST_HEAD(, sched_req)	 reqs;
};

/* The cluster's name (for logs) and its event loop: borrowed. */
const char *
sched_name(struct sched *s)
{
	return (s->name);
}

struct event_base *
sched_base(struct sched *s)
{
	return (s->base);
}

struct sched *
sched_new(struct event_base *base, const struct sched_ops *ops, struct transport *tr,
    const char *name)
{
	struct sched	*s = xcalloc(1, sizeof *s);

	s->base = base;
	s->ops = ops;
	s->tr = tr;
	s->name = xstrdup(name != NULL ? name : ops->name);
	s->timeout = 30000;
	LIST_INIT(&s->reqs);
	return (s);
}

static void
sched_req_free(struct sched_req *r)
{
	size_t	i;

	LIST_REMOVE(r, entry);
	if (r->tmpfile != NULL) {
		unlink(r->tmpfile);
		free(r->tmpfile);
	}
	free(r->id);
	free(r->user);
	free(r->cmd);
	free(r->fail);
	if (r->ev_fail != NULL)
		event_free(r->ev_fail);
	for (i = 0; i < r->n; i++) {
		free(r->ids[i]);
		sched_status_clear(&r->jobs[i].st);
	}
	free(r->ids);
	free(r->jobs);
	free(r);
}

void
sched_req_cancel(struct sched_req *r)
{
	if (r == NULL)
		return;
	transport_cancel(r->treq);
	sched_req_free(r);
}

void
sched_free(struct sched *s)
{
	if (s == NULL)
		return;
	while (!LIST_EMPTY(&s->reqs))
		sched_req_cancel(LIST_FIRST(&s->reqs));
	free(s->name);
	free(s);
}

const struct sched_ops *
sched_ops_of(const struct sched *s)
{
	return (s->ops);
}

unsigned long long
sched_calls(const struct sched *s)
{
	return (s->calls);
}

/* Commands that failed to run or timed out, and the seconds all commands took. */
unsigned long long
sched_errors(const struct sched *s)
{
	return (s->errors);
}

double
sched_seconds(const struct sched *s)
{
	return (s->seconds);
}

void
sched_set_timeout(struct sched *s, int ms)
{
	s->timeout = ms;
}

static struct sched_req *
sched_req_new(struct sched *s, enum sched_req_kind kind, void *cb, void *arg)
{
	struct sched_req	*r = xcalloc(1, sizeof *r);

	r->s = s;
	r->kind = kind;
	r->cb = cb;
	r->arg = arg;
	LIST_INSERT_HEAD(&s->reqs, r, entry);
	return (r);
}

/* A command's result as its parser sees it; returns @o. */
static const struct sched_output *
sched_output_of(const struct transport_result *tr, struct sched_output *o)
{
	o->status = tr->status;
	o->out = tr->out;
	o->outlen = tr->outlen;
	o->err = tr->err;
	o->errlen = tr->errlen;
	return (o);
}

/* Turns a transport result into parser input, or a cause when it never ran or timed out. */
static int
sched_output(const struct transport_result *tr, struct sched_output *o, char **cause)
{
	if (tr->error != NULL) {
		*cause = xstrdup(tr->error);
		return (-1);
	}
	if (tr->timed_out) {
		*cause = xstrdup("scheduler command timed out");
		return (-1);
	}
	if (tr->status < 0) {
		*cause = xstrdup("scheduler command was killed");
		return (-1);
	}
	sched_output_of(tr, o);
	return (0);
}

/* Counts what every command cost, then hands its result on. */
static void
sched_exec_done(const struct transport_result *tr, void *arg)
{
	struct sched_req	*r = arg;
	struct timespec		 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->s->seconds += (double)(t1.tv_sec - r->t0.tv_sec) +
	    (double)(t1.tv_nsec - r->t0.tv_nsec) / 1e9;
	if (tr->error != NULL || tr->timed_out || tr->status < 0)
		r->s->errors++;
	r->tcb(tr, r);
}

static int
sched_exec(struct sched_req *r, struct sched_argv *a, const char *in, size_t len,
    transport_cb cb, char **cause)
{
	r->s->calls++;
	log_debug("%s: running %s%s", r->s->name, a->v[0], a->n > 1 ? " ..." : "");
	r->tcb = cb;
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	r->treq = transport_run(r->s->tr, (const char *const *)a->v, in, len,
	    r->timeout != 0 ? r->timeout : r->s->timeout, sched_exec_done, r, cause);
	sched_argv_clear(a);
	return (r->treq == NULL ? -1 : 0);
}

/* Fails a request from the loop, not under the caller's feet. */
static struct sched_req *
sched_fail(struct sched_req *r, char *cause)
{
	struct timeval	tv = { 0, 0 };

	r->treq = NULL;
	r->fail = cause;		/* transferred */
	if ((r->ev_fail = evtimer_new(r->s->base, sched_fail_cb, r)) == NULL)
		fatalx("evtimer_new failed");
	evtimer_add(r->ev_fail, &tv);
	return (r);
}

/* --- submit -------------------------------------------------------------------------------- */

static void
sched_submit_done(const struct transport_result *tr, void *arg)
{
	struct sched_req	*r = arg;
	struct sched_output	 o;
	char			*cause = NULL, *id = NULL;
	sched_submit_cb		 cb = (sched_submit_cb)r->cb;

	if (sched_output(tr, &o, &cause) == 0)
		r->s->ops->submit_parse(&o, &id, &cause);
	if (id != NULL)
		log_info("%s: submitted job %s", r->s->name, id);
	else
		log_warnx("%s: submit failed: %s", r->s->name, cause);
	cb(id, cause, r->arg);
	free(id);
	free(cause);
	sched_req_free(r);
}

/* Writes the script to a private temporary file (the PBS CLI cannot read stdin). */
static char *
sched_tmpfile(const char *script, size_t len, char **cause)
{
	char	path[] = "/tmp/nbgate-job.XXXXXX";
	int	fd;

	if ((fd = mkstemp(path)) == -1) {
		xasprintf(cause, "mkstemp: %s", strerror(errno));
		return (NULL);
	}
	if (fchmod(fd, 0600) == -1 || write(fd, script, len) != (ssize_t)len) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return (NULL);
	}
	close(fd);
	return (xstrdup(path));
}

/* Submits a batch script; the callback gets the job id or a cause. */
struct sched_req *
sched_submit(struct sched *s, const char *script, size_t len, sched_submit_cb cb, void *arg)
{
	struct sched_req	*r = sched_req_new(s, REQ_SUBMIT, cb, arg);
	struct sched_argv	 a = { NULL, 0 };
	char			*cause = NULL, *body = NULL;
	size_t			 bodylen = 0;
	int			 file, rc;

	file = s->ops->submit_needs_file && transport_kind(s->tr) == TRANSPORT_LOCAL;
	if (file && (r->tmpfile = sched_tmpfile(script, len, &cause)) == NULL)
		return (sched_fail(r, cause));
	if (s->ops->submit_body != NULL &&
	    s->ops->submit_body(script, len, &body, &bodylen, &cause) == -1)
		return (sched_fail(r, cause));
	if (s->ops->submit_argv(&a, r->tmpfile, &cause) == -1) {
		sched_argv_clear(&a);
		freezero(body, bodylen);
		return (sched_fail(r, cause));
	}
	if (body != NULL)
		rc = sched_exec(r, &a, body, bodylen, sched_submit_done, &cause);
	else
		rc = sched_exec(r, &a, file ? NULL : script, file ? 0 : len, sched_submit_done,
		    &cause);
	freezero(body, bodylen);
	if (rc == -1)
		return (sched_fail(r, cause));
	return (r);
}

/* --- cancel, extend ------------------------------------------------------------------------ */

static void
sched_cancel_done(const struct transport_result *tr, void *arg)
{
	struct sched_req	*r = arg;
	struct sched_output	 o;
	char			*cause = NULL;
	sched_done_cb		 cb = (sched_done_cb)r->cb;

	if (sched_output(tr, &o, &cause) == 0) {
		if (r->kind == REQ_CANCEL)
			r->s->ops->cancel_parse(&o, r->id, &cause);
		else
			r->s->ops->extend_parse(&o, r->id, &cause);
	}
	cb(cause, r->arg);
	free(cause);
	sched_req_free(r);
}

/* One command about job @id that succeeds or fails (cancel, extend to @secs). */
static struct sched_req *
sched_job_cmd(struct sched *s, enum sched_req_kind kind, const char *id, int secs,
    sched_done_cb cb, void *arg)
{
	struct sched_req	*r = sched_req_new(s, kind, cb, arg);
	struct sched_argv	 a = { NULL, 0 };
	char			*cause = NULL;
	int			 rc;

	r->id = xstrdup(id);
	if (kind == REQ_EXTEND && s->ops->extend_argv == NULL) {
		xasprintf(&cause, "nbgate cannot extend %s jobs", s->ops->name);
		return (sched_fail(r, cause));
	}
	rc = kind == REQ_CANCEL ? s->ops->cancel_argv(&a, id, &cause) :
	    s->ops->extend_argv(&a, id, secs, &cause);
	if (rc == -1) {
		sched_argv_clear(&a);
		return (sched_fail(r, cause));
	}
	if (sched_exec(r, &a, NULL, 0, sched_cancel_done, &cause) == -1)
		return (sched_fail(r, cause));
	return (r);
}

struct sched_req *
sched_cancel(struct sched *s, const char *id, sched_done_cb cb, void *arg)
{
	return (sched_job_cmd(s, REQ_CANCEL, id, 0, cb, arg));
}

/* Sets running job @id's time limit to @secs (the scheduler may refuse: its words). */
struct sched_req *
sched_extend(struct sched *s, const char *id, int secs, sched_done_cb cb, void *arg)
{
	return (sched_job_cmd(s, REQ_EXTEND, id, secs, cb, arg));
}

/* --- batched query (+ history) --------------------------------------------------------- */

static void
sched_query_finish(struct sched_req *r, const char *cause)
{
	sched_query_cb	cb = (sched_query_cb)r->cb;
	size_t		i;

	for (i = 0; cause != NULL && i < r->n; i++) {
		sched_status_clear(&r->jobs[i].st);
		r->jobs[i].st.state = SCHED_UNKNOWN;
		r->jobs[i].st.reason = xstrdup(cause);
	}
	cb(r->jobs, r->n, cause, r->arg);
	sched_req_free(r);
}

/* Does the job need the history command: unseen, or ended without an exit code. */
static int
sched_needs_history(const struct sched_job *j)
{
	return (!j->found || (j->st.state == SCHED_ENDED && j->st.exit_code == -1 &&
	    j->st.end != SCHED_END_CANCELLED));
}

static void
sched_merge(struct sched_job *j, struct sched_job *h)
{
	char	*node = NULL;

	if (!h->found) {
		if (!j->found) {		/* gone from both: it ended, we cannot say how */
			sched_status_clear(&j->st);
			j->st.state = SCHED_ENDED;
			j->st.end = SCHED_END_UNKNOWN;
			j->found = 1;
		}
		return;
	}
	if (j->found && h->st.state != SCHED_ENDED)
		return;				/* the live answer is newer */
	if (h->st.node == NULL && j->st.node != NULL)
		node = xstrdup(j->st.node);
	sched_status_clear(&j->st);
	j->st = h->st;				/* transferred */
	memset(&h->st, 0, sizeof h->st);
	if (node != NULL && j->st.node == NULL)
		j->st.node = node;
	else
		free(node);
	j->found = 1;
}

static void
sched_history_done(const struct transport_result *tr, void *arg)
{
	struct sched_req	*r = arg;
	struct sched_output	 o;
	struct sched_job	*h;
	char			*cause = NULL;
	size_t			 i, n = 0;

	h = xcalloc(r->n, sizeof *h);
	for (i = 0; i < r->n; i++) {
		if (sched_needs_history(&r->jobs[i])) {
			h[n].id = r->jobs[i].id;
			h[n++].st.exit_code = -1;
		}
	}
	if (sched_output(tr, &o, &cause) == 0 &&
	    r->s->ops->history_parse(&o, h, n, &cause) == 0) {
		for (i = 0, n = 0; i < r->n; i++) {
			if (sched_needs_history(&r->jobs[i]))
				sched_merge(&r->jobs[i], &h[n++]);
		}
	} else {
		/* Unseen jobs are unknown (not gone); ended ones keep the live answer. */
		for (i = 0; i < r->n; i++) {
			if (r->jobs[i].found)
				continue;
			sched_status_clear(&r->jobs[i].st);
			r->jobs[i].st.reason = xstrdup(cause);
		}
		log_warnx("%s: history query failed: %s", r->s->name, cause);
	}
	for (i = 0; i < r->n; i++)
		sched_status_clear(&h[i].st);
	free(h);
	free(cause);
	sched_query_finish(r, NULL);
}

static void
sched_query_done(const struct transport_result *tr, void *arg)
{
	struct sched_req	*r = arg;
	struct sched_output	 o;
	struct sched_argv	 a = { NULL, 0 };
	char			*cause = NULL, **ids;
	size_t			 i, n = 0;

	if (sched_output(tr, &o, &cause) == -1 ||
	    r->s->ops->query_parse(&o, r->jobs, r->n, &cause) == -1) {
		log_warnx("%s: query failed: %s", r->s->name, cause);
		sched_query_finish(r, cause);
		free(cause);
		return;
	}
	ids = xcalloc(r->n + 1, sizeof *ids);
	for (i = 0; i < r->n; i++) {
		if (sched_needs_history(&r->jobs[i]))
			ids[n++] = r->ids[i];
	}
	if (n == 0 || r->s->ops->history_argv == NULL) {
		free(ids);
		for (i = 0; i < r->n; i++) {
			if (!r->jobs[i].found) {	/* no history to ask: gone */
				r->jobs[i].found = 1;
				r->jobs[i].st.state = SCHED_ENDED;
				r->jobs[i].st.end = SCHED_END_UNKNOWN;
			}
		}
		sched_query_finish(r, NULL);
		return;
	}
	if (r->s->ops->history_argv(&a, (const char *const *)ids, n, &cause) == -1 ||
	    sched_exec(r, &a, NULL, 0, sched_history_done, &cause) == -1) {
		sched_argv_clear(&a);
		sched_query_finish(r, cause);
		free(cause);
	}
	free(ids);
}

/* One batched query for n ids (at most SCHED_BATCH_MAX), plus at most one history command. */
struct sched_req *
sched_query(struct sched *s, const char *const *ids, size_t n, sched_query_cb cb, void *arg)
{
	struct sched_req	*r = sched_req_new(s, REQ_QUERY, cb, arg);
	struct sched_argv	 a = { NULL, 0 };
	char			*cause = NULL;
	size_t			 i;

	r->ids = xcalloc(n, sizeof *r->ids);
	r->jobs = xcalloc(n, sizeof *r->jobs);
	r->n = n;
	for (i = 0; i < n; i++) {
		r->ids[i] = xstrdup(ids[i]);
		r->jobs[i].id = r->ids[i];
		r->jobs[i].st.exit_code = -1;
	}
	if (n == 0 || n > SCHED_BATCH_MAX) {
		xasprintf(&cause, "cannot query %zu jobs at once", n);
		return (sched_fail(r, cause));
	}
	if (s->ops->query_argv(&a, ids, n, &cause) == -1) {
		sched_argv_clear(&a);
		return (sched_fail(r, cause));
	}
	if (sched_exec(r, &a, NULL, 0, sched_query_done, &cause) == -1)
		return (sched_fail(r, cause));
	return (r);
}

/* --- queues and accounts ---------------------------------------------------------------- */

static void
sched_queues_done(const struct transport_result *tr, void *arg)
{
	struct sched_req	*r = arg;
	struct sched_output	 o;
	struct sched_queue	*q = NULL;
	size_t			 n = 0;
	char			*cause = NULL;
	sched_queues_cb		 cb = (sched_queues_cb)r->cb;

	if (sched_output(tr, &o, &cause) == 0)
		r->s->ops->queues_parse(&o, &q, &n, &cause);
	cb(q, n, cause, r->arg);
	sched_queues_free(q, n);
	free(cause);
	sched_req_free(r);
}

struct sched_req *
sched_queues(struct sched *s, sched_queues_cb cb, void *arg)
{
	struct sched_req	*r = sched_req_new(s, REQ_QUEUES, cb, arg);
	struct sched_argv	 a = { NULL, 0 };
	char			*cause = NULL;

	if (s->ops->queues_argv == NULL)
		return (sched_fail(r, xstrdup("this scheduler cannot list queues")));
	if (s->ops->queues_argv(&a, &cause) == -1 ||
	    sched_exec(r, &a, NULL, 0, sched_queues_done, &cause) == -1) {
		sched_argv_clear(&a);
		return (sched_fail(r, cause));
	}
	return (r);
}

static void
sched_accounts_done(const struct transport_result *tr, void *arg)
{
	struct sched_req	*r = arg;
	struct sched_output	 o;
	char			**v = NULL, *cause = NULL;
	size_t			 n = 0;
	sched_strings_cb	 cb = (sched_strings_cb)r->cb;

	if (sched_output(tr, &o, &cause) == 0)
		r->s->ops->accounts_parse(&o, &v, &n, &cause);
	cb(v, n, cause, r->arg);
	sched_strings_free(v, n);
	free(cause);
	sched_req_free(r);
}

struct sched_req *
sched_accounts(struct sched *s, const char *user, sched_strings_cb cb, void *arg)
{
	struct sched_req	*r = sched_req_new(s, REQ_ACCOUNTS, cb, arg);
	struct sched_argv	 a = { NULL, 0 };
	char			*cause = NULL;

	if (s->ops->accounts_argv == NULL)
		return (sched_fail(r, xstrdup("this scheduler has no accounts")));
	if (s->ops->accounts_argv(&a, user, &cause) == -1 ||
	    sched_exec(r, &a, NULL, 0, sched_accounts_done, &cause) == -1) {
		sched_argv_clear(&a);
		return (sched_fail(r, cause));
	}
	return (r);
}

/* --- job listings ---------------------------------------------------------------------- */

/* Keeps only want's jobs (PBS lists everyone's); an unknown owner is not want. */
static size_t
sched_list_filter(struct sched_listed *l, size_t n, const char *want)
{
	size_t	i, kept = 0;

	for (i = 0; i < n; i++) {
		if (want == NULL || (l[i].user != NULL && strcmp(l[i].user, want) == 0))
			l[kept++] = l[i];	/* transferred */
		else
			sched_listed_clear(&l[i]);
	}
	return (kept);
}

static void
sched_list_done(const struct transport_result *tr, void *arg)
{
	struct sched_req	*r = arg;
	struct sched_output	 o;
	struct sched_listed	*l = NULL;
	size_t			 n = 0;
	char			*cause = NULL;
	sched_list_cb		 cb = (sched_list_cb)r->cb;

	if (sched_output(tr, &o, &cause) == 0 &&
	    r->s->ops->list_parse(&o, &l, &n, &cause) == 0)
		n = sched_list_filter(l, n, r->user);
	else {
		log_warnx("%s: job list failed: %s", r->s->name, cause);
		sched_listed_free(l, n);
		l = NULL;
		n = 0;
	}
	cb(l, n, cause, r->arg);
	sched_listed_free(l, n);
	free(cause);
	sched_req_free(r);
}

/* Unfinished jobs of user, or NULL: the submitting account's (PBS: all qstat shows). */
struct sched_req *
sched_list(struct sched *s, const char *user, sched_list_cb cb, void *arg)
{
	struct sched_req	*r = sched_req_new(s, REQ_LIST, cb, arg);
	struct sched_argv	 a = { NULL, 0 };
	char			*cause = NULL;

	if (s->ops->list_argv == NULL || s->ops->list_parse == NULL)
		return (sched_fail(r, xstrdup("this scheduler cannot list jobs")));
	if (user != NULL)
		r->user = xstrdup(user);
	if (s->ops->list_argv(&a, user, &cause) == -1 ||
	    sched_exec(r, &a, NULL, 0, sched_list_done, &cause) == -1) {
		sched_argv_clear(&a);
		return (sched_fail(r, cause));
	}
	return (r);
}

/* --- a job's hosts ----------------------------------------------------------------------- */

static void
sched_nodes_done(const struct transport_result *tr, void *arg)
{
	struct sched_req	*r = arg;
	struct sched_output	 o;
	char			**v = NULL, *cause = NULL;
	size_t			 n = 0;
	sched_strings_cb	 cb = (sched_strings_cb)r->cb;

	if (sched_output(tr, &o, &cause) == 0 &&
	    r->s->ops->nodes_parse(&o, &v, &n, &cause) == 0 && n == 0)
		cause = xstrdup("the scheduler named no host for the job");
	cb(v, n, cause, r->arg);
	sched_strings_free(v, n);
	free(cause);
	sched_req_free(r);
}

/* The hosts of running job @id (node list @nodes): names or addresses, to resolve. */
struct sched_req *
sched_nodes(struct sched *s, const char *id, const char *nodes, sched_strings_cb cb,
    void *arg)
{
	struct sched_req	*r = sched_req_new(s, REQ_NODES, cb, arg);
	struct sched_argv	 a = { NULL, 0 };
	char			*cause = NULL;

	if (s->ops->nodes_argv == NULL || s->ops->nodes_parse == NULL)
		return (sched_fail(r, xstrdup("this scheduler cannot name a job's hosts")));
	if (s->ops->nodes_argv(&a, id, nodes, &cause) == -1 ||
	    sched_exec(r, &a, NULL, 0, sched_nodes_done, &cause) == -1) {
		sched_argv_clear(&a);
		return (sched_fail(r, cause));
	}
	return (r);
}

/* --- accounting ------------------------------------------------------------------------- */

/*
 * Causes keep the words usage reports have always shown ("sacct: timed
 * out"); a command that ran goes to the parser whatever its exit status.
 */
static void
sched_usage_done(const struct transport_result *tr, void *arg)
{
	struct sched_req	*r = arg;
	char			*cause = NULL;
	struct sched_used	*u = NULL;
	size_t			 n = 0;
	struct sched_output	 o;

	if (tr->error != NULL)
		xasprintf(&cause, "%s: %s", r->cmd, tr->error);
	else if (tr->timed_out)
		xasprintf(&cause, "%s: timed out", r->cmd);
	else
		r->s->ops->usage_parse(sched_output_of(tr, &o), &u, &n, &cause);
	((sched_usage_cb)r->cb)(cause == NULL ? u : NULL, cause == NULL ? n : 0, cause,
	    r->arg);
	sched_used_free(u, n);
	free(cause);
	sched_req_free(r);
}

/* Jobs that ran since @since (local time), for usage reports. */
struct sched_req *
sched_usage(struct sched *s, const char *since, int timeout, sched_usage_cb cb, void *arg)
{
	struct sched_req	*r = sched_req_new(s, REQ_USAGE, cb, arg);
	struct sched_argv	 a = { NULL, 0 };
	char			*cause = NULL;

	r->timeout = timeout;
	if (s->ops->usage_argv == NULL || s->ops->usage_parse == NULL)
		cause = xstrdup("this scheduler keeps no accounting");
	else if (s->ops->usage_argv(&a, since, &cause) == 0) {
		r->cmd = xstrdup(a.v[0]);
		if (sched_exec(r, &a, NULL, 0, sched_usage_done, &cause) == 0)
			return (r);
	}
	sched_argv_clear(&a);
	return (sched_fail(r, cause));
}

static void
sched_fail_cb(evutil_socket_t fd, short events, void *arg)
{
	struct sched_req	*r = arg;

	switch (r->kind) {
	case REQ_SUBMIT:
		((sched_submit_cb)r->cb)(NULL, r->fail, r->arg);
		break;
	case REQ_CANCEL:
	case REQ_EXTEND:
		((sched_done_cb)r->cb)(r->fail, r->arg);
		break;
	case REQ_QUERY:
		sched_query_finish(r, r->fail);		/* frees r */
		return;
	case REQ_QUEUES:
		((sched_queues_cb)r->cb)(NULL, 0, r->fail, r->arg);
		break;
	case REQ_ACCOUNTS:
	case REQ_NODES:
		((sched_strings_cb)r->cb)(NULL, 0, r->fail, r->arg);
		break;
	case REQ_LIST:
		((sched_list_cb)r->cb)(NULL, 0, r->fail, r->arg);
		break;
	case REQ_USAGE:
		((sched_usage_cb)r->cb)(NULL, 0, r->fail, r->arg);
		break;
	}
	sched_req_free(r);
}
