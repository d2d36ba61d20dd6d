/*
 * session-json.c: a session as JupyterHub's REST API shows a server, with
 * nbgate's details (phase, job, node, times) under "state".
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "daemon/sess/session-int.h"

static json_t *
sess_time(double t)
{
	char		 buf[64];
	time_t		 sec = (time_t)t;
	struct tm	 tm;

	if (t <= 0)
		return (json_null());
	gmtime_r(&sec, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ".%06dZ",
	    (int)((t - (double)sec) * 1e6));
	return (json_string(buf));
}

/* A time as the API writes one (ISO 8601 UTC, microseconds), or null for 0. */
json_t *
session_time_json(double t)
{
	return (sess_time(t));
}

/* The walltime warning's words, @left seconds before the end. */
static json_t *
sess_warning(double left)
{
	char	 span[32], *m;
	json_t	*j;

	jobreq_fmt_duration(span, sizeof span, (long long)left);
	xasprintf(&m, "The job's walltime ends in %s: save your work. The notebook "
	    "server is stopped shortly before the end.", span);
	j = json_string(m);
	free(m);
	return (j);
}

/* "extend": {step, max_total} while the cluster lets this running job grow. */
static void
sess_json_extend(const struct session *s, json_t *state)
{
	const struct config_cluster	*c = config_cluster_find(gate->cfg, s->req->cluster);
	int				 cur = s->st.limit > 0 ? s->st.limit : s->req->walltime;

	json_t				*x;

	if (c == NULL || c->extend_step == 0 || cur >= c->extend_max)
		return;
	x = json_pack("{s:i,s:i}", "step", c->extend_step, "max_total", c->extend_max);
	if (s->extend_refused)	/* the scheduler said no: Continue is offered too */
		json_object_set_new(x, "refused", json_true());
	json_object_set_new(state, "extend", x);
}

/* What the user is told when a server continues in a new job (API and pages). */
#define SESS_CARRY_OVER	"Your files carry over to the new job (the same home and " \
	"work directories); kernel state does not: variables and running " \
	"computations are lost, so run your notebooks again there."

/*
 * Continue in a new job: "successor" while one is asked for (its job and
 * queue state), "continued_from" after a switch, "carry_over" with either,
 * and "continue" while one may be asked for.
 */
static void
sess_json_continue(const struct session *s, json_t *state)
{
	const char	*phase;

	if (s->next_on) {
		phase = s->next_job == NULL ? "submitting" :
		    s->next_st.state == SCHED_RUNNING ? "starting" :
		    s->next_st.state == SCHED_PENDING ? "queued" : "submitted";
		json_object_set_new(state, "successor", json_pack("{s:s?,s:s,s:s?,"
		    "s:o,s:s?}", "job_id", s->next_job, "phase", phase,
		    "scheduler_reason", s->next_st.state == SCHED_PENDING ?
		    s->next_st.reason : NULL, "estimated_start",
		    s->next_st.state == SCHED_PENDING && s->next_st.start > 0 ?
		    sess_time((double)s->next_st.start) : json_null(),
		    "requested_by", s->next_actor));
	} else if (s->state == SESSION_RUNNING && s->job != NULL &&
	    gate->cfg->sess_continue != CONFIG_CONTINUE_OFF)
		json_object_set_new(state, "continue", json_pack("{s:s,s:i}", "mode",
		    gate->cfg->sess_continue == CONFIG_CONTINUE_AUTO ? "auto" : "offer",
		    "before", gate->cfg->sess_continue_before));
	if (s->prev_job != NULL)
		json_object_set_new(state, "continued_from", json_string(s->prev_job));
	if (s->next_on || s->prev_job != NULL)
		json_object_set_new(state, "carry_over", json_pack("{s:b,s:b,s:s}",
		    "files", 1, "kernel_state", 0, "message", SESS_CARRY_OVER));
}

/*
 * The server's app, and for a desktop the page to open: noVNC, told where
 * its WebSocket is (under the route; the gateway strips the prefix) and
 * nothing else: no password, the gateway's authorization is the only door.
 */
static void
sess_json_app(const struct session *s, json_t *state)
{
	const struct config_app	*a = jobreq_app(gate->cfg, s->req);
	char			*open;

	json_object_set_new(state, "app", json_string(s->req->app != NULL ?
	    s->req->app : CONFIG_APP_DEFAULT));
	if (a == NULL)
		return;
	json_object_set_new(state, "app_type",
	    json_string(config_app_type_name(a->type)));
	if (a->type != CONFIG_APP_DESKTOP)
		return;
	xasprintf(&open, "/user/%s/vnc.html?path=user/%s/websockify&autoconnect=1"
	    "&resize=remote&reconnect=1", s->route, s->route);
	json_object_set_new(state, "open_url", json_string(open));
	if (*s->req->geometry != '\0')
		json_object_set_new(state, "desktop_geometry",
		    json_string(s->req->geometry));
	free(open);
}

/* One server as JupyterHub's API shows it, with nbgate's details in "state". */
json_t *
session_json(const struct session *s, int detail)
{
	json_t		*j, *state, *opts = NULL, *ev;
	const char	*pending = NULL;
	char		*url, *progress;
	double		 left = 0, ends;
	sqlite3_stmt	*st;

	switch (s->state) {
	case SESSION_REQUESTED:
	case SESSION_SUBMITTED:
	case SESSION_QUEUED:
	case SESSION_STARTING:
		pending = "spawn";
		break;
	case SESSION_STOPPING:
		pending = "stop";
		break;
	default:
		break;
	}
	if ((ends = sess_ends(s)) > 0 && (left = ends - sess_now()) < 0)
		left = 0;
	if (s->options != NULL)
		opts = json_loads(s->options, 0, NULL);
	xasprintf(&url, "/user/%s/", s->route);
	xasprintf(&progress, "/hub/api/users/%s/server%s%s/progress", s->user,
	    *s->server != '\0' ? "s/" : "", s->server);
	state = json_pack("{s:I,s:s,s:s?,s:s,s:s,s:s,s:s?,s:s,s:s?,s:s?,s:s?,"
	    "s:i,s:i,s:I,s:i,s:o,s:o,s:o,s:s?,s:s?,s:s?}",
	    "session", (json_int_t)s->id,
	    "phase", session_state_name(s->state),
	    "reason", s->reason,
	    "cluster", s->req->cluster,
	    "queue", s->req->queue,
	    "container", s->req->container,
	    "account", *s->req->account != '\0' ? s->req->account : NULL,
	    "route", s->route,
	    "job_id", s->job,
	    "node", s->node,
	    "scheduler_reason", s->state == SESSION_QUEUED ? s->st.reason : NULL,
	    "walltime", s->req->walltime,
	    "cores", s->req->cores,
	    "memory", (json_int_t)s->req->memory,
	    "gpus", s->req->gpus,
	    "estimated_start", s->state == SESSION_QUEUED && s->st.start > 0 ?
	    sess_time((double)s->st.start) : json_null(),
	    "time_left", ends > 0 ? json_integer((json_int_t)left) : json_null(),
	    "ended", sess_time(s->ended),
	    "error_output", s->error_output,
	    "started_by", s->actor,
	    "runs_as", s->run_as);
	if (ends > 0) {
		json_object_set_new(state, "ends_at", sess_time(ends));
		if (s->st.limit > 0)
			json_object_set_new(state, "time_limit", json_integer(s->st.limit));
	}
	sess_json_app(s, state);
	if (s->state == SESSION_RUNNING && s->job != NULL)
		sess_json_extend(s, state);
	if (ends > 0 && s->warned)
		json_object_set_new(state, "walltime_warning", sess_warning(left));
	if (s->state != SESSION_ENDED)
		sess_json_continue(s, state);
	if (s->state == SESSION_RUNNING)	/* since browser or notebook use */
		json_object_set_new(state, "idle_seconds", json_integer(
		    (json_int_t)(time(NULL) - session_last_activity(s))));
	if (s->compute_last != 0 && s->state == SESSION_RUNNING)
		json_object_set_new(state, "compute", json_pack("{s:o,s:i,s:i,s:i,s:I}",
		    "last_activity", sess_time((double)s->compute_last),
		    "kernels", s->kernels, "kernels_busy", s->kernels_busy,
		    "terminals", s->terminals, "cpu_seconds",
		    (json_int_t)(s->cpu_ms / 1000)));
	j = json_pack("{s:s,s:b,s:b,s:s?,s:s,s:s,s:o,s:o,s:o,s:o}",
	    "name", s->server,
	    "ready", s->state == SESSION_RUNNING,
	    "stopped", s->state == SESSION_ENDED,
	    "pending", pending,
	    "url", url,
	    "progress_url", progress,
	    "started", sess_time(s->created),
	    "last_activity", sess_time((double)session_last_activity(s)),
	    "state", state,
	    "user_options", opts != NULL ? opts : json_object());
	if (detail && (st = store_prepare("SELECT time, state, cause FROM"
	    " session_events WHERE session = ? ORDER BY id")) != NULL) {
		ev = json_array();
		sqlite3_bind_int64(st, 1, s->id);
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(ev, json_pack("{s:o,s:s,s:s?}",
			    "time", sess_time(sqlite3_column_double(st, 0)),
			    "event", (const char *)sqlite3_column_text(st, 1),
			    "cause", (const char *)sqlite3_column_text(st, 2)));
		sqlite3_finalize(st);
		json_object_set_new(j, "events", ev);
	}
	json_object_set_new(j, "user", json_string(s->user));
	free(url);
	free(progress);
	return (j);
}
