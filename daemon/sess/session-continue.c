/*
 * session-continue.c: continue in a new job (sessions.continue): where the
 * walltime cannot be extended, the session's options go ahead as a successor
 * job, with its own one-time secret on a successor route (proxy/route.c)
 * bound to that job.  When its notebook connects the route moves to it and
 * the old job is cancelled; if the old job ends first, the session waits on
 * the successor (pending, not stopped).  Files carry over, kernels do not.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/sess/session-int.h"

#define SESS_CONTINUE_RETRY	60	/* s between automatic attempts */
#define SESS_PREV_RETRY		30	/* s between cancels of the job continued from */
#define SESS_PREV_MAX		5

/* A cancel sent on its own (the old job, an abandoned successor). */
struct cont_cancel {
	long long	 id;
	char		*job;
};

static void
cont_cancel_done(const char *cause, void *arg)
{
	struct cont_cancel	*x = arg;
	struct session		*s = sess_by_id(x->id);

	if (cause != NULL) {
		log_warnx("session %lld: cancelling job %s failed: %s", x->id, x->job,
		    cause);
		if (s != NULL)
			sess_journal(s, "cancel-failed", x->job);
	} else if (s != NULL && s->prev_cancel && s->prev_job != NULL &&
	    sched_id_match(s->prev_job, x->job)) {
		s->prev_cancel = 0;	/* the job continued from is gone for good */
		sess_save(s);
	}
	free(x->job);
	free(x);
}

static void
cont_cancel(struct session *s, const char *job)
{
	struct cont_cancel	*x = xcalloc(1, sizeof *x);

	if (s->prev_job != NULL && sched_id_match(s->prev_job, job)) {
		s->prev_cancel_at = time(NULL);	/* again from the tick until confirmed */
		s->prev_cancels++;
	}
	x->id = s->id;
	x->job = xstrdup(job);
	sched_tracker_remove(s->cl->trk, job);
	sched_cancel(s->cl->sched, job, cont_cancel_done, x);
}

/* Forgets the successor's state (not the job: see sess_continue_abandon()). */
static void
cont_clear(struct session *s)
{
	struct route	*r = route_find(s->route);

	transport_cancel(s->next_treq);
	s->next_treq = NULL;
	sched_req_cancel(s->next_sreq);
	s->next_sreq = NULL;
	if (r != NULL && route_session(r) == s->id && route_next(r) != NULL) {
		route_next_drop(r);
		store_route_put(r);
	}
	s->next_on = 0;
	free(s->next_job);
	s->next_job = NULL;
	free(s->next_actor);
	s->next_actor = NULL;
	sched_status_clear(&s->next_st);
}

/* The successor could not be had: the session goes on as it was. */
static void
cont_failed(struct session *s, const char *what, const char *cause)
{
	char	*why;

	xasprintf(&why, "%s: %s", what, cause);
	sess_tag(s);
	log_warnx("session %lld (%s): continue in a new job: %s", s->id, s->route, why);
	sess_journal(s, "continue-failed", why);
	if (s->next_job != NULL)
		sched_tracker_remove(s->cl->trk, s->next_job);
	cont_clear(s);
	sess_save(s);
	sess_notify(s);
	free(why);
}

static void
cont_submitted(const char *id, const char *cause, void *arg)
{
	struct session	*s = arg;
	struct route	*r, *n;
	char		*why, *tcause = NULL;

	s->next_sreq = NULL;
	if (id == NULL) {
		cont_failed(s, "the scheduler refused the successor job", cause);
		return;
	}
	s->next_job = xstrdup(id);
	if ((r = route_find(s->route)) != NULL && (n = route_next(r)) != NULL) {
		route_set_job(n, id);	/* its secret now works only in this job */
		store_route_put(n);
	}
	sess_save(s);
	xasprintf(&why, "job %s, the successor of job %s, asked by %s", id, s->job,
	    s->next_actor);
	sess_journal(s, "continue-submitted", why);
	sess_tag(s);
	log_info("session %lld (%s): %s", s->id, s->route, why);
	free(why);
	store_audit(s->user, "job-submit", s->route, id);
	outbox_record(s->id, s->user, s->req, id);
	if (sched_tracker_add(s->cl->trk, id, &tcause) == -1) {
		sess_tag(s);
		log_warnx("session %lld: cannot track job %s: %s", s->id, id, tcause);
		free(tcause);
	}
	sess_notify(s);
}

/* The successor's script: the session's options, a secret of its own. */
static void
cont_submit(struct session *s)
{
	struct route	*r = route_find(s->route);
	char		*secret, *script, *why = NULL;

	if (r == NULL || route_session(r) != s->id) {
		cont_failed(s, "the successor job cannot be submitted", "the route is gone");
		return;
	}
	secret = route_next_begin(r);
	store_route_put(r);
	if ((script = sess_script(s, secret, s->next_dir, &why)) == NULL) {
		cont_failed(s, "the successor job cannot be submitted", why);
		free(why);
		freestr(secret);
		return;
	}
	s->next_sreq = sched_submit(s->cl->sched, script, strlen(script),
	    cont_submitted, s);
	explicit_bzero(script, strlen(script));
	free(script);
	freestr(secret);
}

static void
cont_mkdir_done(const struct transport_result *tr, void *arg)
{
	struct session	*s = arg;
	char		*why;

	s->next_treq = NULL;
	if (tr->error != NULL || tr->status != 0) {
		xasprintf(&why, "cannot create %s on %s: %.*s", s->next_dir, s->cl->name,
		    tr->error != NULL ? 512 : (int)tr->errlen, tr->error != NULL ?
		    tr->error : tr->err);
		why[strcspn(why, "\n")] = '\0';
		cont_failed(s, "the successor job cannot be submitted", why);
		free(why);
		return;
	}
	cont_submit(s);
}

/*
 * Submits @s's options ahead as a successor job, for @actor.  RESULT_OK,
 * or a refusal with *msg: RESULT_DENIED (sessions.continue: off),
 * RESULT_NOT_FOUND (not running), RESULT_CONFLICT (one is on its way),
 * RESULT_UNAVAILABLE (the cluster cannot be reached).
 */
enum result_kind
sess_continue(struct session *s, const char *actor, char **msg)
{
	const struct config_cluster	*c;
	const char			*argv[] = { "mkdir", "-p", "-m", "700", NULL, NULL };
	char				*cause = NULL;

	if (gate->cfg->sess_continue == CONFIG_CONTINUE_OFF) {
		xasprintf(msg, "this gateway does not continue servers in a new job "
		    "(sessions.continue: off)");
		return (RESULT_DENIED);
	}
	if (s->state != SESSION_RUNNING || s->job == NULL || s->cl == NULL ||
	    (c = config_cluster_find(gate->cfg, s->req->cluster)) == NULL) {
		xasprintf(msg, "%s's server%s%s is not running", s->user,
		    *s->server != '\0' ? " " : "", s->server);
		return (RESULT_NOT_FOUND);
	}
	if (s->next_on) {
		xasprintf(msg, "a new job for this server is already %s (job %s)",
		    s->next_job != NULL ? "waiting" : "being submitted",
		    s->next_job != NULL ? s->next_job : "not known yet");
		return (RESULT_CONFLICT);
	}
	s->next_on = 1;
	free(s->next_actor);
	s->next_actor = xstrdup(actor);
	free(s->next_dir);
	xasprintf(&s->next_dir, "%s/%lld.%d", c->output_dir, s->id, s->continued + 1);
	sess_save(s);		/* a restart looks for a job of a submission on its way */
	store_audit(actor, "session-continue", s->route, s->job);
	if (transport_kind(s->cl->tr) == TRANSPORT_HTTP) {
		cont_submit(s);		/* no shell there: the script makes it */
		return (RESULT_OK);
	}
	argv[4] = s->next_dir;
	if ((s->next_treq = transport_run(s->cl->tr, argv, NULL, 0, SESS_CMD_TIMEOUT,
	    cont_mkdir_done, s, &cause)) == NULL) {
		xasprintf(msg, "cannot reach cluster %s: %s", s->cl->name, cause);
		cont_failed(s, "cannot reach the cluster", cause);
		free(cause);
		return (RESULT_UNAVAILABLE);
	}
	return (RESULT_OK);
}

/* The successor becomes the session's job; the old job's fields go. */
static void
cont_take_over(struct session *s)
{
	free(s->prev_job);
	s->prev_job = s->job;		/* transferred */
	s->job = s->next_job;		/* transferred */
	s->next_job = NULL;
	free(s->job_dir);
	s->job_dir = s->next_dir;	/* transferred */
	s->next_dir = NULL;
	s->next_on = 0;
	s->continued++;
	free(s->node);
	s->node = s->next_st.node != NULL ? xstrdup(s->next_st.node) : NULL;
	sched_status_clear(&s->st);
	sched_status_copy(&s->st, &s->next_st);
	sched_status_clear(&s->next_st);
	s->started = s->st.state == SCHED_RUNNING && s->st.start > 0 ?
	    (double)s->st.start : 0;
	s->warned = 0;
	s->extend_refused = 0;
	s->tunnel_up = 0;
	s->compute_last = 0;
	s->kernels = s->kernels_busy = s->terminals = 0;
	free(s->agent_said);
	s->agent_said = NULL;
	free(s->next_actor);
	s->next_actor = NULL;
}

/*
 * The successor's tunnel is up on route object @r: it takes the route's
 * place (the old job's route dies with its tunnel and key), the session
 * follows the successor's job and the old job is cancelled.  0, or -1 and
 * *why when the session does not wait for this successor.
 */
int
session_continue_switch(struct route *r, char **why)
{
	struct session	*s;
	struct route	*cur;
	char		*old, *line;

	if (route_session(r) == 0 || (s = sess_by_id(route_session(r))) == NULL ||
	    !sess_active(s) || !s->next_on || s->next_job == NULL ||
	    s->state != SESSION_RUNNING || (cur = route_find(s->route)) == NULL ||
	    route_next(cur) != r || route_next_promote(cur) != r) {
		xasprintf(why, "the session does not wait for this job");
		return (-1);
	}
	store_route_put(r);
	old = xstrdup(s->job);
	cont_take_over(s);
	if (s->started == 0)
		s->started = sess_now();
	xasprintf(&line, "job %s -> job %s: the route moved to the new job and job "
	    "%s is cancelled; files carry over, kernel state does not", old, s->job,
	    old);
	sess_journal(s, "continued", line);
	sess_tag(s);
	log_info("session %lld (%s): %s", s->id, s->route, line);
	store_audit(s->user, "session-continued", s->route, line);
	s->prev_cancel = 1;	/* kept: a restart before the cancel sends it again */
	s->prev_cancels = 0;
	sess_save(s);
	cont_cancel(s, old);
	sched_tracker_poll_now(s->cl->trk);
	sess_notify(s);
	free(line);
	free(old);
	return (0);
}

/*
 * @s's job ended (@why) while a successor waits: the successor becomes the
 * session's job, the session shows as pending on it.  1 if so, 0 if @s has
 * no successor with a job id (the caller ends it).
 */
int
sess_continue_old_ended(struct session *s, const char *why)
{
	struct route	*r, *n;
	char		*line;
	int		 runs;

	if (!s->next_on || s->next_job == NULL)
		return (0);
	if ((r = route_find(s->route)) != NULL && route_session(r) == s->id &&
	    (n = route_next_promote(r)) != NULL)
		store_route_put(n);
	xasprintf(&line, "job %s ended (%s); the server continues in job %s: files "
	    "carry over, kernel state does not", s->job, why, s->next_job);
	sched_tracker_remove(s->cl->trk, s->job);
	cont_take_over(s);
	sess_journal(s, "continued", line);
	runs = s->st.state == SCHED_RUNNING;
	if (!runs)
		s->started = 0;
	sess_set(s, runs ? SESSION_STARTING : SESSION_QUEUED, line);
	free(line);
	return (1);
}

/* The tracker's word on @s's successor job @id: 1 if it was that, else 0. */
int
sess_continue_tracked(struct session *s, const char *id, const struct sched_status *st)
{
	char	*why;

	if (!s->next_on || s->next_job == NULL || !sched_id_match(s->next_job, id))
		return (0);
	if (st->state == SCHED_ENDED) {
		xasprintf(&why, "job %s ended before its notebook took over (%s)", id,
		    st->raw != NULL ? st->raw : "no reason given");
		sched_status_clear(&s->next_st);
		cont_failed(s, "the successor job ended", why);
		free(why);
		return (1);
	}
	if (st->state == SCHED_RUNNING && s->next_st.state != SCHED_RUNNING) {
		xasprintf(&why, "job %s runs on %s; its notebook is starting", id,
		    st->node != NULL ? st->node : "a compute node");
		sess_journal(s, "continue-starting", why);
		free(why);
	}
	sess_status_keep(&s->next_st, st);
	sess_notify(s);		/* its queue state, on the pages and streams */
	return (1);
}

/* The session ends or stops: its successor, if any, is cancelled. */
void
sess_continue_abandon(struct session *s, const char *why)
{
	if (!s->next_on)
		return;
	if (s->next_job != NULL && s->cl != NULL)
		cont_cancel(s, s->next_job);
	sess_journal(s, "continue-abandoned", why);
	cont_clear(s);
	sess_save(s);
}

/* 1 if @s's cluster can still lengthen its job (clusters.NAME.extend, not refused). */
static int
cont_can_extend(const struct session *s)
{
	const struct config_cluster	*c = config_cluster_find(gate->cfg, s->req->cluster);
	int				 cur = s->st.limit > 0 ? s->st.limit : s->req->walltime;

	return (c != NULL && c->extend_step > 0 && cur < c->extend_max &&
	    !s->extend_refused);
}

/* sessions.continue: auto: the successor goes ahead continue_before the end. */
void
sess_continue_tend(struct session *s, time_t now)
{
	double	ends;
	char	*msg = NULL;

	if (s->prev_cancel && s->prev_job != NULL && s->cl != NULL &&
	    now - s->prev_cancel_at >= SESS_PREV_RETRY) {
		if (s->prev_cancels >= SESS_PREV_MAX) {
			sess_journal(s, "cancel-given-up", s->prev_job);
			s->prev_cancel = 0;
			sess_save(s);
		} else
			cont_cancel(s, s->prev_job);
	}
	if (s->next_on && s->next_job != NULL && s->next_st.state == SCHED_RUNNING &&
	    s->next_st.start > 0 && now - s->next_st.start > gate->cfg->sess_start_timeout) {
		xasprintf(&msg, "its notebook did not connect within %d s of the job "
		    "starting", gate->cfg->sess_start_timeout);
		sess_continue_abandon(s, msg);
		free(msg);
		return;
	}
	if (gate->cfg->sess_continue != CONFIG_CONTINUE_AUTO ||
	    s->state != SESSION_RUNNING || s->next_on ||
	    now - s->next_asked < SESS_CONTINUE_RETRY || cont_can_extend(s) ||
	    (ends = sess_ends(s)) <= 0 || ends - (double)now > gate->cfg->sess_continue_before)
		return;
	s->next_asked = now;
	if (sess_continue(s, "nbgated (sessions.continue: auto)", &msg) != RESULT_OK) {
		sess_journal(s, "continue-failed", msg);
		free(msg);
	}
}

/* Is job @a later than job @b (numbered ids: SLURM, PBS)?  1 when not known. */
static int
cont_later(const char *a, const char *b)
{
	char			*ea, *eb;
	unsigned long long	 na = strtoull(a, &ea, 10), nb = strtoull(b, &eb, 10);

	return (ea == a || eb == b || na > nb);
}

/*
 * Reloaded while the successor's submission was on its way: its job, if the
 * scheduler took it as nbgated stopped, names the session in its comment
 * and is later than the session's job (not a job of another time).
 */
static void
cont_adopt_done(const struct sched_listed *jobs, size_t n, const char *cause,
    void *arg)
{
	long long	*id = arg;
	struct session	*s = sess_by_id(*id);
	size_t		 i;

	free(id);
	if (s == NULL || !s->next_on || s->next_job != NULL)
		return;
	for (i = 0; cause == NULL && i < n; i++) {
		if (sess_comment_session(jobs[i].comment) == s->id && s->job != NULL &&
		    !sched_id_match(s->job, jobs[i].id) && cont_later(jobs[i].id, s->job))
			break;
	}
	if (cause != NULL || i == n) {
		cont_failed(s, "the successor job was not recorded", cause != NULL ?
		    cause : "nbgated stopped before the scheduler took it; ask again");
		return;
	}
	cont_submitted(jobs[i].id, NULL, s);
}

/* A reloaded session's successor is followed again (its route was reloaded). */
void
sess_continue_restore(struct session *s)
{
	char		*cause = NULL;
	long long	*id;

	if (s->cl == NULL || !sess_active(s))
		return;
	if (s->prev_cancel && s->prev_job != NULL)
		cont_cancel(s, s->prev_job);	/* nbgated stopped before it was confirmed */
	if (s->next_job == NULL && s->next_dir == NULL)
		return;
	s->next_on = 1;
	if (s->next_job == NULL) {
		if (sched_ops_of(s->cl->sched)->list_argv == NULL) {
			cont_failed(s, "the successor job was not recorded", "nbgated "
			    "stopped before the scheduler answered; ask again");
			return;
		}
		id = xmalloc(sizeof *id);
		*id = s->id;
		sched_list(s->cl->sched, NULL, cont_adopt_done, id);	/* finds s by id */
		return;
	}
	if (sched_tracker_add(s->cl->trk, s->next_job, &cause) == -1) {
		sess_tag(s);
		log_warnx("session %lld: %s", s->id, cause);
		free(cause);
	}
}

void
sess_continue_free(struct session *s)
{
	transport_cancel(s->next_treq);
	sched_req_cancel(s->next_sreq);
	sched_status_clear(&s->next_st);
	free(s->next_job);
	free(s->next_dir);
	free(s->next_actor);
	free(s->prev_job);
}

/* Continues @user's @server in a new job, for @actor (see sess_continue()). */
enum result_kind
session_continue(const char *actor, const char *user, const char *server, char **msg)
{
	struct session	*s;
	char		*route;

	route = sess_route_name(user, server);
	s = sess_find_route(route, 1);
	free(route);
	if (s == NULL) {
		xasprintf(msg, "%s has no server%s%s running", user, *server != '\0' ?
		    " named " : "", server);
		return (RESULT_NOT_FOUND);
	}
	return (sess_continue(s, actor, msg));
}
