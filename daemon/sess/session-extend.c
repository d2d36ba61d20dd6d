/*
 * session-extend.c: the walltime lifeline: a running job's time limit
 * lengthened on a user's request (clusters.NAME.extend: step at a time, up
 * to max_total), through the cluster's scheduler bridge as its login user.
 * The scheduler decides: its refusal, in its own words, goes to the user.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/sess/session-int.h"

/* One extension on its way to the scheduler; the session is found again by id. */
struct sess_extend {
	long long		 id;
	int			 from, to;	/* time limit, s */
	char			*actor;
	session_extend_cb	 cb;
	void			*arg;
};

static void
sess_extend_done(const char *cause, void *arg)
{
	struct sess_extend	*x = arg;
	struct session		*s = sess_by_id(x->id);
	char			 a[32], b[32], *why, *msg = NULL;
	enum result_kind	 res = RESULT_OK;

	if (s != NULL) {
		s->extending = 0;
		s->extend_refused |= cause != NULL;	/* Continue is offered beside it */
	}
	jobreq_fmt_duration(a, sizeof a, x->from);
	jobreq_fmt_duration(b, sizeof b, x->to);
	if (cause != NULL) {
		res = RESULT_DENIED;
		xasprintf(&msg, "the scheduler did not extend the job: %s", cause);
	} else if (s == NULL || !sess_active(s)) {
		res = RESULT_NOT_FOUND;
		xasprintf(&msg, "the session ended meanwhile");
	}
	if (s != NULL) {
		xasprintf(&why, "%s -> %s by %s%s%s", a, b, x->actor, cause != NULL ?
		    ": " : "", cause != NULL ? cause : "");
		sess_journal(s, cause != NULL ? "extend-refused" : "extended", why);
		sess_tag(s);
		log_info("session %lld (%s): walltime %s", s->id, s->route, why);
		free(why);
	}
	if (res == RESULT_OK) {
		s->st.limit = x->to;	/* the tracker confirms it at its next look */
		store_audit(x->actor, "session-extend", s->route, s->job);
		sched_tracker_poll_now(s->cl->trk);
		sess_notify(s);
	}
	x->cb(res, msg, x->to, x->arg);
	free(msg);
	free(x->actor);
	free(x);
}

/*
 * Asks the scheduler to lengthen @user's @server job by its cluster's
 * extend.step (capped at extend.max_total). RESULT_OK: @cb runs once with
 * the outcome (and the new limit in seconds); otherwise *msg says why and
 * @cb never runs.
 */
enum result_kind
session_extend(const char *actor, const char *user, const char *server,
    session_extend_cb cb, void *arg, char **msg)
{
	const struct config_cluster	*c;
	struct session			*s;
	struct sess_extend		*x;
	char				*route, span[32];
	int				 cur;

	route = sess_route_name(user, server);
	s = sess_find_route(route, 1);
	free(route);
	if (s == NULL || (s->state != SESSION_RUNNING && s->state != SESSION_STARTING) ||
	    s->job == NULL || s->cl == NULL) {
		xasprintf(msg, "%s has no server%s%s running", user, *server != '\0' ?
		    " named " : "", server);
		return (RESULT_NOT_FOUND);
	}
	if ((c = config_cluster_find(gate->cfg, s->req->cluster)) == NULL ||
	    c->extend_step == 0) {
		xasprintf(msg, "cluster %s does not allow extending a job (no clusters.%s."
		    "extend)", s->req->cluster, s->req->cluster);
		return (RESULT_DENIED);
	}
	/* a bridge freed under it (reload) never answers: not past the command timeout */
	if (s->extending != 0 && time(NULL) - s->extending < SESS_CMD_TIMEOUT / 1000 * 2) {
		xasprintf(msg, "an extension of this job is already on its way");
		return (RESULT_CONFLICT);
	}
	cur = s->st.limit > 0 ? s->st.limit : s->req->walltime;
	if (cur >= c->extend_max) {
		jobreq_fmt_duration(span, sizeof span, c->extend_max);
		xasprintf(msg, "the walltime is already at the most cluster %s allows "
		    "(%s)", s->req->cluster, span);
		return (RESULT_LIMIT);
	}
	x = xcalloc(1, sizeof *x);
	x->id = s->id;
	x->from = cur;
	x->to = cur + c->extend_step < c->extend_max ? cur + c->extend_step :
	    c->extend_max;
	x->actor = xstrdup(actor);
	x->cb = cb;
	x->arg = arg;
	s->extending = time(NULL);
	sched_extend(s->cl->sched, s->job, x->to, sess_extend_done, x);
	return (RESULT_OK);
}
