/*
 * session-track.c: following each session's job: the scheduler tracker's
 * answers, queue states for the spawn form, the timeouts of the
 * housekeeping tick, and sweeps for jobs of nbgate's that no session owns.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "daemon/sess/session-int.h"

#define SESS_TICK		1	/* s between housekeeping rounds */
#define SESS_CANCEL_RETRY	30	/* s between scancel attempts while stopping */
#define SESS_CANCEL_MAX		5
#define SESS_WINDDOWN		300	/* s an ended session's job may still be listed */

static struct event	*sess_tick, *sess_orphan_timer;

static struct session *
sess_by_job(struct cluster *cl, const char *job)
{
	struct session	*s;

	TAILQ_FOREACH(s, &sess_list, entry) {
		if (s->cl != cl || !sess_active(s))
			continue;
		if ((s->job != NULL && sched_id_match(s->job, job)) ||
		    (s->next_job != NULL && sched_id_match(s->next_job, job)))
			return (s);
	}
	return (NULL);
}

/* ---- queue states (sinfo), asked every SESS_QUEUES_EVERY seconds -------- */

#define SESS_QUEUES_EVERY	60

static void
sess_queues_done(const struct sched_queue *q, size_t n, const char *cause, void *arg)
{
	struct cluster	*cl = arg;
	size_t		 i;

	cl->queues_req = NULL;
	if (cause != NULL) {
		log_debug("cluster %s: queue states not known: %s", cl->name, cause);
		return;
	}
	sched_queues_free(cl->queues, cl->nqueues);
	cl->queues = xcalloc(n + 1, sizeof *cl->queues);
	for (i = 0; i < n; i++) {
		cl->queues[i] = q[i];
		cl->queues[i].name = xstrdup(q[i].name);
	}
	cl->nqueues = n;
}

static void
sess_queues_tend(time_t now)
{
	struct cluster	*cl;

	TAILQ_FOREACH(cl, &sess_clusters, entry) {
		if (cl->account != NULL || cl->queues_req != NULL ||
		    now - cl->queues_asked < SESS_QUEUES_EVERY ||
		    sched_ops_of(cl->sched)->queues_argv == NULL)
			continue;
		cl->queues_asked = now;
		cl->queues_req = sched_queues(cl->sched, sess_queues_done, cl);
	}
}

/* What the scheduler last said of queue @q on cluster @c (NULL: not known). */
const struct sched_queue *
session_queue_state(const char *c, const char *q)
{
	struct cluster	*cl;
	size_t		 i;

	TAILQ_FOREACH(cl, &sess_clusters, entry) {
		if (strcmp(cl->name, c) != 0 || cl->queues == NULL)
			continue;
		for (i = 0; i < cl->nqueues; i++) {
			if (strcmp(cl->queues[i].name, q) == 0)
				return (&cl->queues[i]);
		}
	}
	return (NULL);
}

/* ---- following the job ------------------------------------------------- */

/* Keeps the scheduler's word @st in @dst, its reason cleaned (any bytes). */
void
sess_status_keep(struct sched_status *dst, const struct sched_status *st)
{
	char	*clean;

	sched_status_clear(dst);
	sched_status_copy(dst, st);
	if (dst->reason != NULL) {
		clean = tunclient_reason_clean(dst->reason, SESS_REASON_MAX);
		free(dst->reason);
		dst->reason = clean;
	}
}

static void
sess_note_status(struct session *s, const struct sched_status *st)
{
	sess_status_keep(&s->st, st);
	if (st->node != NULL && (s->node == NULL || strcmp(s->node, st->node) != 0)) {
		free(s->node);
		s->node = tunclient_reason_clean(st->node, 1024);
	}
}

/* Why a job ended, in a user's words. */
static char *
sess_end_cause(struct session *s, const struct sched_status *st, int *tail)
{
	char	*why, wt[32];

	*tail = 0;
	if (s->stop_cause != NULL)
		return (xstrdup(s->stop_cause));
	jobreq_fmt_duration(wt, sizeof wt, s->req->walltime);
	switch (st->end) {
	case SCHED_END_COMPLETED:
		if (s->agent_said != NULL && strncmp(s->agent_said, "walltime:", 9) == 0)
			xasprintf(&why, "the walltime (%s) was nearly over: the job ended "
			    "itself before the scheduler's kill (%s)", wt, s->agent_said);
		else if (s->agent_said != NULL)
			xasprintf(&why, "the notebook ended: %s", s->agent_said);
		else
			xasprintf(&why, "the job ended (exit status 0)");
		*tail = s->ready == 0;
		break;
	case SCHED_END_TIMEOUT:
		xasprintf(&why, "the walltime (%s) ran out", wt);
		break;
	case SCHED_END_CANCELLED:
		xasprintf(&why, "the job was cancelled outside nbgate (scancel, qdel "
		    "or an administrator)%s%s", st->reason != NULL ? ": " : "",
		    st->reason != NULL ? st->reason : "");
		break;
	case SCHED_END_NODE_FAIL:
		xasprintf(&why, "the compute node %s failed", s->node != NULL ?
		    s->node : "");
		break;
	case SCHED_END_OUT_OF_MEMORY:
		xasprintf(&why, "the job ran out of memory (%zu MiB asked for)",
		    s->req->memory / (1024 * 1024));
		*tail = 1;
		break;
	case SCHED_END_FAILED:
		if (s->agent_said != NULL)
			xasprintf(&why, "the notebook failed: %s", s->agent_said);
		else if (st->signal != 0)
			xasprintf(&why, "the job failed (killed by signal %d)", st->signal);
		else
			xasprintf(&why, "the job failed (exit status %d)", st->exit_code);
		*tail = 1;
		break;
	default:
		xasprintf(&why, "the job is gone and the scheduler cannot say how it "
		    "ended");
		*tail = 1;
		break;
	}
	return (why);
}

/* The tracker saw a job change (one batched query per cluster). */
void
sess_tracked(const char *id, const struct sched_status *old,
    const struct sched_status *st, void *arg)
{
	struct cluster	*cl = arg;
	struct session	*s;
	char		*why = NULL;
	int		 tail;

	if ((s = sess_by_job(cl, id)) == NULL || sess_continue_tracked(s, id, st))
		return;
	if (st->state != SCHED_UNKNOWN && s->state == SESSION_UNKNOWN) {
		sess_journal(s, "scheduler-back", NULL);
		s->state = s->prior;	/* restored; the switch below moves on */
	}
	sess_note_status(s, st);
	switch (st->state) {
	case SCHED_UNKNOWN:
		if (s->state == SESSION_UNKNOWN || s->state == SESSION_STOPPING)
			break;
		xasprintf(&why, "the scheduler cannot be asked about job %s (%s); the "
		    "session is kept for %d s", id, st->reason != NULL ? st->reason :
		    "no answer", gate->cfg->sess_unknown_grace);
		sess_set(s, SESSION_UNKNOWN, why);
		break;
	case SCHED_PENDING:
		if (s->state == SESSION_SUBMITTED || (s->state != SESSION_QUEUED &&
		    s->state != SESSION_STOPPING && s->state != SESSION_RUNNING)) {
			xasprintf(&why, "waiting in queue %s%s%s", s->req->queue,
			    st->reason != NULL ? ": " : "", st->reason != NULL ?
			    st->reason : "");
			sess_set(s, SESSION_QUEUED, why);
		} else if (s->state == SESSION_QUEUED) {
			sess_save(s);
			sess_notify(s);		/* reason or estimate changed */
		}
		break;
	case SCHED_RUNNING:
		if (s->started == 0)
			s->started = st->start != 0 ? (double)st->start : sess_now();
		if (s->state == SESSION_RUNNING || s->state == SESSION_STOPPING) {
			sess_save(s);
			if (old->limit != st->limit)	/* extended: a new end */
				sess_notify(s);
			break;
		}
		if (s->tunnel_up) {
			sess_set(s, SESSION_RUNNING, "the notebook is up");
			break;
		}
		xasprintf(&why, "job %s runs on %s; the notebook is starting", id,
		    st->node != NULL ? st->node : "a compute node");
		sess_set(s, SESSION_STARTING, why);
		break;
	case SCHED_ENDED:
		why = sess_end_cause(s, st, &tail);
		if (!sess_continue_old_ended(s, why))	/* a successor waits: pending on it */
			sess_end(s, why, tail);
		break;
	}
	free(why);
}

/* ---- housekeeping ------------------------------------------------------ */

/* Seconds since the notebook was last used (sessions.idle_counts says how). */
static time_t
sess_idle(struct session *s, time_t now)
{
	return (now - sess_last_use(s, gate->cfg->sess_idle_counts));
}

/*
 * The walltime warning: given once when @left seconds remain, within
 * sessions.walltime_warning (@warn); taken back when an extension moves the
 * end further away. Watchers (progress streams, pages) hear of both.
 */
static void
sess_walltime_warn(struct session *s, double left, int warn)
{
	char	*why;

	if (s->warned && left > warn + SESS_TICK) {
		s->warned = 0;
		sess_notify(s);
		return;
	}
	if (s->warned || left > warn || (s->state != SESSION_RUNNING &&
	    s->state != SESSION_STARTING))
		return;
	s->warned = 1;
	xasprintf(&why, "%.0f s of walltime left", left > 0 ? left : 0);
	sess_journal(s, "walltime-warning", why);
	sess_tag(s);
	log_info("session %lld (%s): %s", s->id, s->route, why);
	free(why);
	sess_notify(s);
}

static void
sess_housekeeping(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s, *next;
	const struct config *cfg = gate->cfg;
	time_t		 now = time(NULL);
	double		 ends;
	char		*why;

	sess_bridges_tend(now);
	sess_queues_tend(now);
	TAILQ_FOREACH_SAFE(s, &sess_list, entry, next) {
		if (!sess_active(s)) {
			/* keep the last ended session of a route for the pages */
			continue;
		}
		/* a cancelled job ends within seconds: look (batched) until it has */
		if (s->state == SESSION_STOPPING && s->sreq == NULL && s->job != NULL &&
		    now - s->last_cancel >= 1 && now - s->last_cancel < 60)
			sched_tracker_poll_now(s->cl->trk);
		if (s->state == SESSION_UNKNOWN &&
		    now - s->unknown_since > cfg->sess_unknown_grace) {
			xasprintf(&why, "the scheduler could not be asked about job %s "
			    "for %lld s: the session is given up (the job was not "
			    "cancelled)", s->job != NULL ? s->job : "-",
			    (long long)(now - s->unknown_since));
			sess_finish(s, why);
			free(why);
		} else if (s->state == SESSION_STARTING && s->started > 0 &&
		    !s->tunnel_up && now - (time_t)s->started > cfg->sess_start_timeout) {
			xasprintf(&why, "the notebook did not connect within %d s of the "
			    "job starting", cfg->sess_start_timeout);
			sess_cancel(s, why);
			free(why);
		} else if (s->state == SESSION_STOPPING && s->sreq == NULL &&
		    s->job != NULL && now - s->last_cancel >= SESS_CANCEL_RETRY) {
			if (s->cancels >= SESS_CANCEL_MAX) {
				sess_journal(s, "cancel-given-up", s->job);
				s->last_cancel = now;
			} else {
				sess_cancel_send(s);
			}
		} else if (s->state == SESSION_RUNNING && cfg->sess_idle_timeout > 0 &&
		    sess_idle(s, now) > cfg->sess_idle_timeout) {
			xasprintf(&why, "stopped after %d s without use (sessions."
			    "idle_timeout)", cfg->sess_idle_timeout);
			sess_cancel(s, why);
			free(why);
		} else if ((s->state == SESSION_QUEUED || s->state == SESSION_SUBMITTED) &&
		    cfg->sess_queued_timeout > 0 && s->job != NULL &&
		    now - (time_t)s->created > cfg->sess_queued_timeout) {
			xasprintf(&why, "still waiting in queue %s after %d s (sessions."
			    "queued_timeout): cancelled", s->req->queue,
			    cfg->sess_queued_timeout);
			sess_cancel(s, why);
			free(why);
		} else if (cfg->sess_walltime_warning > 0 && (ends = sess_ends(s)) > 0)
			sess_walltime_warn(s, ends - sess_now(), cfg->sess_walltime_warning);
		if (sess_active(s))
			sess_continue_tend(s, now);
	}
}

/* ---- orphans ----------------------------------------------------------- */

long long
sess_comment_session(const char *comment)
{
	const char	*p;

	if (comment == NULL || strncmp(comment, "nbgate:", 7) != 0 ||
	    (p = strstr(comment, ":session=")) == NULL)
		return (0);
	return (strtoll(p + 9, NULL, 10));
}

/* Does s still own its job: active, or ended so recently that the job may be winding down? */
static int
sess_owned(const struct session *s)
{
	return (sess_active(s) || sess_now() - s->ended < SESS_WINDDOWN);
}

/*
 * Is @job any active session's job, on any cluster? (Two cluster entries
 * may front one scheduler, e.g. its SLURM and its PBS command line.)
 */
static int
sess_any_job(const char *job)
{
	struct session	*s;

	TAILQ_FOREACH(s, &sess_list, entry) {
		if (s->job != NULL && sched_id_match(s->job, job) && sess_owned(s))
			return (1);
	}
	return (0);
}

static void
sess_orphans_done(const struct sched_listed *jobs, size_t n, const char *cause,
    void *arg)
{
	struct cluster	*cl = arg;
	struct session	*s;
	long long	 id;
	size_t		 i;
	int		 ours;

	cl->orphans = NULL;
	if (cause != NULL) {
		log_debug("cluster %s: orphan sweep: %s", cl->name, cause);
		return;
	}
	TAILQ_FOREACH(s, &sess_list, entry) {
		if (s->cl == cl && sess_active(s) && (s->job == NULL ||
		    (s->next_on && s->next_job == NULL)))
			return;		/* a submit in flight: its id is not known yet */
	}
	for (i = 0; i < n; i++) {
		id = sess_comment_session(jobs[i].comment);
		ours = id != 0 || (jobs[i].name != NULL &&
		    strncmp(jobs[i].name, "nbgate-", 7) == 0);
		if (!ours || sess_any_job(jobs[i].id) ||
		    ((s = sess_by_id(id)) != NULL && sess_owned(s)))
			continue;
		log_warnx("cluster %s: job %s (%s) carries nbgate's tag but belongs to "
		    "no session%s", cl->name, jobs[i].id, jobs[i].comment != NULL ?
		    jobs[i].comment : jobs[i].name, gate->cfg->sess_orphans ==
		    CONFIG_ORPHANS_CANCEL ? ": cancelling it" : "");
		store_audit("nbgated", "orphan", jobs[i].id, jobs[i].comment);
		if (gate->cfg->sess_orphans == CONFIG_ORPHANS_CANCEL)
			sched_cancel(cl->sched, jobs[i].id, NULL, NULL);
	}
}

static void
sess_orphan_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct cluster	*cl;
	struct timeval	 tv = { gate->cfg->sess_orphan_interval, 0 };

	TAILQ_FOREACH(cl, &sess_clusters, entry) {
		if (cl->orphans == NULL && sched_ops_of(cl->sched)->list_argv != NULL)
			cl->orphans = sched_list(cl->sched, NULL, sess_orphans_done, cl);
	}
	evtimer_add(sess_orphan_timer, &tv);
}

/* Runs a sweep now (tests, nbgatectl). */
void
session_orphan_sweep(void)
{
	sess_orphan_sweep(-1, 0, NULL);
}

/* Starts the housekeeping tick and the orphan sweeps. */
void
sess_track_start(void)
{
	struct timeval	 tick = { SESS_TICK, 0 };

	sess_tick = event_new(gate->base, -1, EV_PERSIST, sess_housekeeping, NULL);
	evtimer_add(sess_tick, &tick);
	sess_orphan_timer = evtimer_new(gate->base, sess_orphan_sweep, NULL);
	tick.tv_sec = 30;	/* first sweep soon after a (re)start */
	evtimer_add(sess_orphan_timer, &tick);
}

void
sess_track_stop(void)
{
	if (sess_tick != NULL)
		event_free(sess_tick);
	if (sess_orphan_timer != NULL)
		event_free(sess_orphan_timer);
	sess_tick = sess_orphan_timer = NULL;
}
