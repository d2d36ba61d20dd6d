/*
 * session-restore.c: nbgated starting again: every session that had not
 * ended reloaded from the store and its job re-followed (or adopted, if it
 * was never recorded), stale routes dropped; and a configuration reload.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "daemon/sess/session-int.h"

static char *
sess_col(sqlite3_stmt *st, int i)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	return (t != NULL ? xstrdup((const char *)t) : NULL);
}

/*
 * Sessions reloaded without a job id: nbgated may have died between the
 * scheduler's answer and recording it. Their job, if any, carries the
 * session id in its comment; adopt it, or end the session.
 */
static void
sess_adopt_done(const struct sched_listed *jobs, size_t n, const char *cause,
    void *arg)
{
	struct cluster	*cl = arg;
	struct session	*s, *next;
	struct route	*r;
	char		*why, *tcause = NULL;
	size_t		 i;

	TAILQ_FOREACH_SAFE(s, &sess_list, entry, next) {
		if (s->cl != cl || !s->adopting)
			continue;
		s->adopting = 0;
		for (i = 0; cause == NULL && i < n; i++) {
			if (sess_comment_session(jobs[i].comment) == s->id)
				break;
		}
		if (cause != NULL || i == n) {
			if (cause != NULL)
				xasprintf(&why, "nbgated stopped before the job was recorded, "
				    "and the scheduler could not be asked (%s); start the "
				    "notebook again", cause);
			else
				xasprintf(&why, "nbgated stopped before the job was "
				    "submitted; start the notebook again");
			sess_finish(s, why);
			free(why);
			continue;
		}
		s->job = xstrdup(jobs[i].id);
		if ((r = route_find(s->route)) != NULL && route_session(r) == s->id &&
		    route_enroll_hex(r) != NULL) {
			route_set_job(r, s->job);
			store_route_put(r);
		}
		xasprintf(&why, "job %s adopted after a restart (found by its comment)",
		    s->job);
		sess_set(s, SESSION_SUBMITTED, why);
		outbox_record(s->id, s->user, s->req, s->job);
		free(why);
		if (sched_tracker_add(cl->trk, s->job, &tcause) == -1) {
			sess_tag(s);
			log_warnx("session %lld: %s", s->id, tcause);
			free(tcause);
			tcause = NULL;
		}
	}
}

/* The bridge a reloaded session's job is reached through. */
static struct cluster *
sess_reload_bridge(struct session *s)
{
	const struct config_cluster *c = config_cluster_find(gate->cfg,
	    s->req->cluster);
	const struct cred	*cred;
	struct cluster		*cl;
	char			*cause = NULL;

	if (s->run_as == NULL || c == NULL)
		return (sess_cluster(s->req->cluster));
	if (!sess_active(s))
		return (NULL);
	if ((cred = cred_for_account(s->run_as)) == NULL)
		return (NULL);
	if ((cl = sess_bridge(c, cred, &cause)) == NULL) {
		sess_tag(s);
		log_warnx("session %lld: %s", s->id, cause);
		free(cause);
	}
	return (cl);
}

/* Reloads every session that had not ended, and re-follows its job. */
static void
sess_reload(void)
{
	sqlite3_stmt	*st;
	struct cluster	*cl;
	struct session	*s;
	struct jobreq	*jr;
	struct route	*r;
	char		*state, *cause = NULL;
	size_t		 n = 0;

	/* every active session, and the last ended one of each server (a week) */
	if ((st = store_prepare("SELECT id, user, server, cluster, queue, account,"
	    " container, walltime, cores, memory, gpus, options, actor, state, reason,"
	    " job, job_dir, node, created, started, ready, ended, error_output, run_as,"
	    " next_job, next_dir, next_actor, prev_job, continued, prev_cancel FROM sessions WHERE state != 'ended' OR id IN (SELECT MAX(id) FROM"
	    " sessions WHERE ended > ? GROUP BY user, server) ORDER BY id")) == NULL)
		return;
	sqlite3_bind_double(st, 1, sess_now() - 7 * 86400);
	while (sqlite3_step(st) == SQLITE_ROW) {
		s = sess_alloc();
		s->id = sqlite3_column_int64(st, 0);
		s->user = sess_col(st, 1);
		s->server = sess_col(st, 2);
		s->route = sess_route_name(s->user, s->server);
		jr = s->req = xcalloc(1, sizeof *jr);
		jr->user = xstrdup(s->user);
		jr->server = xstrdup(s->server);
		jr->session = s->id;
		jr->cluster = sess_col(st, 3);
		jr->queue = sess_col(st, 4);
		jr->account = sess_col(st, 5);
		jr->container = sess_col(st, 6);
		jr->walltime = sqlite3_column_int(st, 7);
		jr->cores = sqlite3_column_int(st, 8);
		jr->memory = (size_t)sqlite3_column_int64(st, 9);
		jr->gpus = sqlite3_column_int(st, 10);
		s->options = sess_col(st, 11);
		jobreq_app_from_options(jr, s->options);
		s->actor = sess_col(st, 12);
		state = sess_col(st, 13);
		if (sess_state_parse(state, &s->state) == -1)
			s->state = SESSION_UNKNOWN;
		free(state);
		s->prior = s->state;
		s->reason = sess_col(st, 14);
		s->job = sess_col(st, 15);
		s->job_dir = sess_col(st, 16);
		s->node = sess_col(st, 17);
		s->created = sqlite3_column_double(st, 18);
		s->started = sqlite3_column_double(st, 19);
		s->ready = sqlite3_column_double(st, 20);
		s->ended = sqlite3_column_double(st, 21);
		s->error_output = sess_col(st, 22);
		s->run_as = sess_col(st, 23);
		s->next_job = sess_col(st, 24);	/* continue in a new job (schema 10) */
		s->next_dir = sess_col(st, 25);
		s->next_actor = sess_col(st, 26);
		s->prev_job = sess_col(st, 27);
		s->continued = sqlite3_column_int(st, 28);
		s->prev_cancel = sqlite3_column_int(st, 29);
		s->cl = sess_reload_bridge(s);
		TAILQ_INSERT_TAIL(&sess_list, s, entry);
		n += sess_active(s);
	}
	sqlite3_finalize(st);
	TAILQ_FOREACH(s, &sess_list, entry) {
		if (!sess_active(s))
			continue;
		if ((r = route_find(s->route)) != NULL && route_session(r) == s->id)
			sess_route_app(r, s->req);
		sess_journal(s, "reloaded", "nbgated started");
		if (s->job == NULL && s->cl != NULL &&
		    sched_ops_of(s->cl->sched)->list_argv != NULL) {
			s->adopting = 1;	/* sbatch may have answered as we died */
			continue;
		}
		if (s->job == NULL) {
			sess_finish(s, "nbgated stopped before the job was submitted; "
			    "start the notebook again");
			continue;
		}
		if (s->cl == NULL && s->run_as != NULL) {
			xasprintf(&cause, "nbgate holds no valid credential for %s any "
			    "more, so it cannot ask about job %s; the job was not "
			    "cancelled", s->run_as, s->job);
			sess_set(s, SESSION_UNKNOWN, cause);
			free(cause);
			cause = NULL;
			continue;
		}
		if (s->cl == NULL) {
			sess_set(s, SESSION_UNKNOWN, "its cluster is no longer configured");
			continue;
		}
		if (s->state == SESSION_STOPPING)
			s->stop_cause = xstrdup(s->reason != NULL ? s->reason : "stopped");
		if (sched_tracker_add(s->cl->trk, s->job, &cause) == -1) {
			sess_tag(s);
			log_warnx("session %lld: %s", s->id, cause);
			free(cause);
			cause = NULL;
		}
		sess_continue_restore(s);
	}
	if (n > 0)
		log_info("sessions: %zu reloaded; their jobs are being re-queried", n);
	TAILQ_FOREACH(cl, &sess_clusters, entry) {
		TAILQ_FOREACH(s, &sess_list, entry) {
			if (s->cl == cl && s->adopting) {
				sched_list(cl->sched, NULL, sess_adopt_done, cl);
				break;
			}
		}
	}
}

/* Routes made for sessions that have since ended go (their agents with them). */
static void
sess_route_check(struct route *r, void *arg)
{
	char		***dead = arg;
	struct session	*s;
	size_t		 n;

	if (route_session(r) == 0)
		return;
	if ((s = sess_by_id(route_session(r))) != NULL && sess_active(s))
		return;
	for (n = 0; (*dead)[n] != NULL; n++)
		;
	*dead = xreallocarray(*dead, n + 2, sizeof **dead);
	(*dead)[n] = xstrdup(route_name(r));
	(*dead)[n + 1] = NULL;
}

int
session_init(char **cause)
{
	char		**dead = xcalloc(1, sizeof *dead);
	size_t		 i;

	sess_clusters_sync(gate->cfg);
	sess_reload();
	route_foreach(sess_route_check, &dead);
	for (i = 0; dead[i] != NULL; i++) {
		log_info("route %s: its session has ended, removed", dead[i]);
		route_remove(dead[i]);
		store_route_del(dead[i]);
		free(dead[i]);
	}
	free(dead);
	sess_track_start();
	return (0);
}

/* A new configuration: clusters added get a bridge; changed ones apply on restart. */
void
session_reload(const struct config *cfg)
{
	sess_clusters_sync(cfg);
}
