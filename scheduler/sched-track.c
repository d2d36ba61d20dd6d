/*
 * sched-track.c: follows every job of one cluster with ONE batched query per
 * poll interval (faster while a job waits to start, with jitter, never two
 * queries in flight) and reports status changes.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/common.h"
#include "scheduler/backend.h"

struct sched_tjob {
	char			*id;
	struct sched_status	 st;
	int			 exit_waits;	/* polls that saw it failed without its exit code */
	int			 removed;	/* during a callback: freed after the round */
	TAILQ_ENTRY(sched_tjob)	 entry;
};

struct sched_tracker {
	struct sched		*s;
	int			 interval;	/* ms */
	int			 fast;		/* ms, while a job waits to start */
	sched_change_cb		 cb;
	void			*arg;
	TAILQ_HEAD(, sched_tjob) jobs;
	struct event		*timer;
	struct sched_req	*inflight;	/* never two queries at once */
	size_t			 offset;	/* next chunk when more than SCHED_BATCH_MAX */
	unsigned long long	 polls;
	int			 in_cb;
	int			 dying;
};

static void	sched_tracker_poll(evutil_socket_t, short, void *);

/*
 * Polls (at the fast interval) that a job squeue already lists as FAILED
 * waits for its exit code: squeue has none, and sacct may not have the end
 * yet (slurmctld tells slurmdbd a moment later).  After that it is reported
 * without one (no accounting, or a history the server does not keep).
 */
#define SCHED_EXIT_WAITS	5

/* Polls every interval ms (fast ms while any job is pending or unknown), with jitter. */
struct sched_tracker *
sched_tracker_new(struct sched *s, int interval, int fast, sched_change_cb cb, void *arg)
{
	struct sched_tracker	*t = xcalloc(1, sizeof *t);

	t->s = s;
	t->interval = interval > 0 ? interval : 30000;
	t->fast = fast > 0 && fast < t->interval ? fast : t->interval;
	t->cb = cb;
	t->arg = arg;
	TAILQ_INIT(&t->jobs);
	if ((t->timer = evtimer_new(sched_base(s), sched_tracker_poll, t)) == NULL)
		fatalx("evtimer_new failed");
	return (t);
}

static void
sched_tjob_free(struct sched_tracker *t, struct sched_tjob *j)
{
	TAILQ_REMOVE(&t->jobs, j, entry);
	sched_status_clear(&j->st);
	free(j->id);
	free(j);
}

void
sched_tracker_free(struct sched_tracker *t)
{
	if (t == NULL)
		return;
	if (t->in_cb) {
		t->dying = 1;
		return;
	}
	sched_req_cancel(t->inflight);
	while (!TAILQ_EMPTY(&t->jobs))
		sched_tjob_free(t, TAILQ_FIRST(&t->jobs));
	event_free(t->timer);
	free(t);
}

static struct sched_tjob *
sched_tracker_find(const struct sched_tracker *t, const char *id)
{
	struct sched_tjob	*j;

	TAILQ_FOREACH(j, &t->jobs, entry) {
		if (!j->removed && strcmp(j->id, id) == 0)
			return (j);
	}
	return (NULL);
}

static int
sched_tjob_active(const struct sched_tjob *j)
{
	return (!j->removed && j->st.state != SCHED_ENDED);
}

size_t
sched_tracker_active(const struct sched_tracker *t)
{
	struct sched_tjob	*j;
	size_t			 n = 0;

	TAILQ_FOREACH(j, &t->jobs, entry)
		n += sched_tjob_active(j);
	return (n);
}

static void
sched_tracker_schedule(struct sched_tracker *t, int ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(t->timer, &tv);
}

/* The next poll: fast while a job may be about to start, ±10% jitter. */
static int
sched_tracker_delay(struct sched_tracker *t)
{
	struct sched_tjob	*j;
	int			 ms = t->interval, jitter;

	TAILQ_FOREACH(j, &t->jobs, entry) {
		if (sched_tjob_active(j) && (j->st.state != SCHED_RUNNING || j->exit_waits > 0))
			ms = t->fast;
	}
	jitter = ms / 10;
	if (jitter > 0)
		ms += (int)(arc4random_uniform(2 * jitter + 1)) - jitter;
	return (ms);
}

/* Starts tracking id (status UNKNOWN until the first answer, polled shortly). */
int
sched_tracker_add(struct sched_tracker *t, const char *id, char **cause)
{
	struct sched_tjob	*j;

	if (!sched_id_valid(id)) {
		xasprintf(cause, "invalid job id");
		return (-1);
	}
	if (sched_tracker_find(t, id) != NULL)
		return (0);
	j = xcalloc(1, sizeof *j);
	j->id = xstrdup(id);
	j->st.exit_code = -1;
	TAILQ_INSERT_TAIL(&t->jobs, j, entry);
	if (t->inflight == NULL)
		sched_tracker_schedule(t, 50);	/* adds within 50 ms share one query */
	return (0);
}

void
sched_tracker_remove(struct sched_tracker *t, const char *id)
{
	struct sched_tjob	*j;

	if ((j = sched_tracker_find(t, id)) == NULL)
		return;
	if (t->in_cb)
		j->removed = 1;
	else
		sched_tjob_free(t, j);
}

const struct sched_status *
sched_tracker_get(const struct sched_tracker *t, const char *id)
{
	struct sched_tjob	*j = sched_tracker_find(t, id);

	return (j != NULL ? &j->st : NULL);
}

unsigned long long
sched_tracker_polls(const struct sched_tracker *t)
{
	return (t->polls);
}

void
sched_tracker_poll_now(struct sched_tracker *t)
{
	if (t->inflight == NULL)
		sched_tracker_schedule(t, 0);
}

static void
sched_tracker_update(struct sched_tracker *t, struct sched_tjob *j, struct sched_status *st)
{
	struct sched_status	old;

	if (sched_status_equal(&j->st, st))
		return;
	log_debug("%s: job %s: %s -> %s (%s)", sched_name(t->s), j->id, sched_state_name(j->st.state),
	    sched_state_name(st->state), st->raw != NULL ? st->raw : "");
	old = j->st;
	sched_status_copy(&j->st, st);
	if (t->cb != NULL)
		t->cb(j->id, &old, &j->st, t->arg);
	sched_status_clear(&old);
}

/* A failure without its exit code yet: hold it back for another poll or few. */
static int
sched_tjob_exit_pending(struct sched_tjob *j, const struct sched_status *st)
{
	if (st->state != SCHED_ENDED || st->end != SCHED_END_FAILED || st->exit_code != -1)
		return (0);
	return (j->exit_waits++ < SCHED_EXIT_WAITS);
}

static void
sched_tracker_done(struct sched_job *jobs, size_t n, const char *cause, void *arg)
{
	struct sched_tracker	*t = arg;
	struct sched_tjob	*j, *next;
	size_t			 i;

	t->inflight = NULL;
	t->in_cb = 1;
	for (i = 0; i < n; i++) {
		if ((j = sched_tracker_find(t, jobs[i].id)) != NULL && sched_tjob_active(j) &&
		    !sched_tjob_exit_pending(j, &jobs[i].st))
			sched_tracker_update(t, j, &jobs[i].st);
	}
	t->in_cb = 0;
	for (j = TAILQ_FIRST(&t->jobs); j != NULL; j = next) {
		next = TAILQ_NEXT(j, entry);
		if (j->removed)
			sched_tjob_free(t, j);
	}
	if (t->dying) {
		sched_tracker_free(t);
		return;
	}
	if (t->offset != 0)
		sched_tracker_schedule(t, 0);	/* the rest of a large set */
	else if (sched_tracker_active(t) > 0)
		sched_tracker_schedule(t, sched_tracker_delay(t));
}

static void
sched_tracker_poll(evutil_socket_t fd, short events, void *arg)
{
	struct sched_tracker	*t = arg;
	struct sched_tjob	*j;
	const char		**ids;
	size_t			 n = 0, skip = 0, total = sched_tracker_active(t);

	if (t->inflight != NULL || total == 0)
		return;
	if (t->offset >= total)
		t->offset = 0;
	ids = xcalloc(total, sizeof *ids);
	TAILQ_FOREACH(j, &t->jobs, entry) {
		if (!sched_tjob_active(j) || skip++ < t->offset)
			continue;
		if (n < SCHED_BATCH_MAX)
			ids[n++] = j->id;
	}
	t->offset = t->offset + n < total ? t->offset + n : 0;
	t->polls++;
	t->inflight = sched_query(t->s, ids, n, sched_tracker_done, t);
	free(ids);
}
