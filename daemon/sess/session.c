/*
 * session.c: notebook sessions. A user's "start" becomes one batch job on a
 * cluster; the job's agent enrolls with a one-time secret and dials back,
 * and its tunnel coming up is what makes the session running.
 *
 *   requested -> submitted -> queued -> starting -> running -> stopping -> ended
 *   any active state -> unknown (scheduler unreachable) -> back, or ended
 *
 * Every transition is journaled in SQLite (sessions, session_events) before
 * anyone is told about it, and a job id is stored as soon as the scheduler
 * gives it, so a restart (graceful or kill -9) reloads every session,
 * re-queries the scheduler in one batch per cluster, and lets agents
 * reconnect to their routes. Stopping nbgated never cancels a job.
 *
 * This file owns the table of sessions, their state changes and watchers,
 * ending and stopping, and the SSH side's hooks. session-start.c submits,
 * session-track.c follows jobs, session-cluster.c holds the scheduler
 * bridges, session-restore.c restarts from the store, session-json.c draws.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "daemon/sess/session-int.h"

#define SESS_TAIL_BYTES		"3000"	/* of job.err shown when a job fails */

struct sess_watcher {
	session_watch_cb		 fn;
	void				*arg;
	TAILQ_ENTRY(sess_watcher)	 entry;
};
static TAILQ_HEAD(, sess_watcher) sess_watchers = TAILQ_HEAD_INITIALIZER(sess_watchers);
struct sess_list		 sess_list = TAILQ_HEAD_INITIALIZER(sess_list);
static struct session_counts	 sess_counts;

static const char *sess_state_names[] = {
	[SESSION_REQUESTED] = "requested",
	[SESSION_SUBMITTED] = "submitted",
	[SESSION_QUEUED] = "queued",
	[SESSION_STARTING] = "starting",
	[SESSION_RUNNING] = "running",
	[SESSION_STOPPING] = "stopping",
	[SESSION_ENDED] = "ended",
	[SESSION_UNKNOWN] = "unknown",
};

/* Tags the next log line with the session's user, id, job and cluster. */
void
sess_tag(const struct session *s)
{
	log_tag(s->user, s->id, s->job, s->req != NULL ? s->req->cluster : NULL);
}

const char *
session_state_name(enum session_state st)
{
	if ((size_t)st >= nitems(sess_state_names))
		return ("?");
	return (sess_state_names[st]);
}

int
sess_state_parse(const char *s, enum session_state *st)
{
	size_t	i;

	for (i = 0; i < nitems(sess_state_names); i++) {
		if (s != NULL && strcmp(s, sess_state_names[i]) == 0) {
			*st = (enum session_state)i;
			return (0);
		}
	}
	return (-1);
}

double
sess_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((double)ts.tv_sec + ts.tv_nsec / 1e9);
}

/* "alice" for the default server, "alice/lab" for a named one; caller frees. */
char *
sess_route_name(const char *user, const char *server)
{
	char	*route;

	xasprintf(&route, "%s%s%s", user, *server != '\0' ? "/" : "", server);
	return (route);
}

int
sess_active(const struct session *s)
{
	return (s->state != SESSION_ENDED);
}

/* ---- the journal ------------------------------------------------------- */

/* Logs that @what failed in the store (and frees @cause). */
void
sess_store_failed(const struct session *s, const char *what, char *cause)
{
	sess_tag(s);
	log_warnx("session %lld: cannot %s: %s", s->id, what, cause);
	free(cause);
}

void
sess_save(struct session *s)
{
	char	*cause = NULL;

	if (store_run(&cause, "UPDATE sessions SET state = ?, reason = ?, job = ?,"
	    " job_dir = ?, node = ?, started = ?, ready = ?, ended = ?,"
	    " error_output = ?, next_job = ?, next_dir = ?, next_actor = ?,"
	    " prev_job = ?, continued = ?, prev_cancel = ? WHERE id = ?",
	    "tttttdddtttttiii",
	    session_state_name(s->state), s->reason, s->job, s->job_dir, s->node,
	    s->started, s->ready, s->ended, s->error_output, s->next_job,
	    s->next_on ? s->next_dir : NULL, s->next_actor, s->prev_job,
	    (long long)s->continued, (long long)s->prev_cancel, s->id) == -1)
		sess_store_failed(s, "save its state", cause);
}

void
sess_journal(struct session *s, const char *what, const char *why)
{
	char	*cause = NULL;

	if (store_run(&cause, "INSERT INTO session_events (session, time, state,"
	    " cause) VALUES (?, ?, ?, ?)", "idtt", s->id, sess_now(), what,
	    why) == -1)
		sess_store_failed(s, "journal its state", cause);
}

/* Tells every watcher (progress streams, metrics) that s changed. */
void
sess_notify(const struct session *s)
{
	struct sess_watcher	*w, *next;

	TAILQ_FOREACH_SAFE(w, &sess_watchers, entry, next)
		w->fn(s, w->arg);
}

/*
 * Calls @fn(session, arg) after every state change of any session (and
 * when the scheduler's reason for a queued one changes). @fn may call
 * session_unwatch() on itself, not on others.
 */
void
session_watch(session_watch_cb fn, void *arg)
{
	struct sess_watcher	*w = xcalloc(1, sizeof *w);

	w->fn = fn;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&sess_watchers, w, entry);
}

void
session_unwatch(session_watch_cb fn, void *arg)
{
	struct sess_watcher	*w;

	TAILQ_FOREACH(w, &sess_watchers, entry) {
		if (w->fn == fn && w->arg == arg) {
			TAILQ_REMOVE(&sess_watchers, w, entry);
			free(w);
			return;
		}
	}
}

/* Moves s to @st because of @cause: journaled first, then logged. */
void
sess_set(struct session *s, enum session_state st, const char *cause)
{
	enum session_state	old = s->state;

	if (st == SESSION_UNKNOWN && old != SESSION_UNKNOWN) {
		s->prior = old;
		s->unknown_since = time(NULL);
	}
	s->state = st;
	freestr(s->reason);
	/* scheduler and job output may be any bytes: keep valid UTF-8 (JSON) */
	s->reason = cause != NULL ? tunclient_reason_clean(cause, SESS_REASON_MAX) :
	    NULL;
	cause = s->reason;
	if (st == SESSION_RUNNING && s->ready == 0)
		s->ready = sess_now();
	if (st == SESSION_ENDED)
		s->ended = sess_now();
	sess_save(s);
	sess_journal(s, session_state_name(st), cause);
	sess_notify(s);
	sess_tag(s);
	log_info("session %lld (%s on %s%s%s): %s%s%s%s%s", s->id,
	    s->route, s->req->cluster, s->job != NULL ? ", job " : "",
	    s->job != NULL ? s->job : "", old != st ? session_state_name(old) : "",
	    old != st ? " -> " : "", session_state_name(st),
	    cause != NULL ? ": " : "", cause != NULL ? cause : "");
	if (st == SESSION_ENDED)
		store_audit(s->user, "session-end", s->route, cause);
}

/* ---- ending ---------------------------------------------------------- */

struct session *
sess_alloc(void)
{
	struct session	*s = xcalloc(1, sizeof *s);

	return (s);
}

void
sess_free(struct session *s)
{
	transport_cancel(s->treq);
	sched_req_cancel(s->sreq);
	sess_continue_free(s);
	if (s->kick != NULL)
		event_free(s->kick);
	jobreq_free(s->req);
	sched_status_clear(&s->st);
	free(s->user);
	free(s->server);
	free(s->route);
	free(s->options);
	free(s->actor);
	freestr(s->reason);
	free(s->job);
	free(s->job_dir);
	free(s->run_as);
	free(s->node);
	free(s->error_output);
	free(s->agent_said);
	free(s->claimed_job);
	free(s->stop_cause);
	free(s);
}

/* Drops the route (the agent's credential dies with it). */
static void
sess_route_drop(struct session *s)
{
	struct route	*r = route_find(s->route);

	if (r != NULL && route_session(r) == s->id) {
		route_remove(s->route);
		store_route_del(s->route);
	}
}

void
sess_finish(struct session *s, const char *cause)
{
	transport_cancel(s->treq);
	s->treq = NULL;
	sched_req_cancel(s->sreq);
	s->sreq = NULL;
	if (s->job != NULL && s->cl != NULL)
		sched_tracker_remove(s->cl->trk, s->job);
	sess_continue_abandon(s, cause);
	sess_route_drop(s);
	sess_set(s, SESSION_ENDED, cause);
}

/*
 * @cause plus the last line of the job's error output, without the agent's
 * log prefix ("TIME nbgate-agent[PID]: warning: agent: route R: ").
 */
static char *
sess_last_words(char *cause, const char *out, const char *route)
{
	const char	*end = out + strlen(out), *line, *p;
	char		*tag, *why;
	size_t		 len;

	while (end > out && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	for (line = end; line > out && line[-1] != '\n'; line--)
		;
	if (line == end)
		return (cause);
	xasprintf(&tag, "agent: route %s: ", route);
	if ((p = memmem(line, (size_t)(end - line), tag, strlen(tag))) != NULL)
		line = p + strlen(tag);
	free(tag);
	len = (size_t)(end - line);
	if (len > 300)
		len = 300;
	xasprintf(&why, "%s: %.*s", cause, (int)len, line);
	free(cause);
	return (why);
}

static void
sess_tail_done(const struct transport_result *tr, void *arg)
{
	struct session	*s = arg;
	char		*cause = s->stop_cause;

	s->treq = NULL;
	s->stop_cause = NULL;
	if (tr->error == NULL && tr->status == 0 && tr->outlen > 0) {
		free(s->error_output);
		s->error_output = tunclient_reason_clean(tr->out, tr->outlen + 1);
		if (s->agent_said == NULL)	/* the job's last words, in the reason */
			cause = sess_last_words(cause, s->error_output, s->route);
	}
	sess_finish(s, cause);
	free(cause);
}

/*
 * Ends s with @cause; with @tail, first fetches the end of the job's error
 * output so that the user sees why (the job's own words).
 */
void
sess_end(struct session *s, const char *cause, int tail)
{
	const char	*argv[] = { "tail", "-c", SESS_TAIL_BYTES, NULL, NULL };
	char		*path, *err = NULL;

	if (!sess_active(s))
		return;
	if (!tail || s->job_dir == NULL || s->cl == NULL || s->job == NULL ||
	    transport_kind(s->cl->tr) == TRANSPORT_HTTP) {	/* no shell to tail with */
		sess_finish(s, cause);
		return;
	}
	xasprintf(&path, "%s/job.err", s->job_dir);
	argv[3] = path;
	free(s->stop_cause);
	s->stop_cause = xstrdup(cause);
	transport_cancel(s->treq);
	s->treq = transport_run(s->cl->tr, argv, NULL, 0, SESS_CMD_TIMEOUT,
	    sess_tail_done, s, &err);
	free(path);
	if (s->treq == NULL) {
		free(err);
		free(s->stop_cause);
		s->stop_cause = NULL;
		sess_finish(s, cause);
	}
}

static void
sess_cancel_done(const char *cause, void *arg)
{
	struct session	*s = arg;

	s->sreq = NULL;
	if (cause != NULL) {
		sess_tag(s);
		log_warnx("session %lld: cancelling job %s failed: %s (retrying)",
		    s->id, s->job, cause);
		sess_journal(s, "cancel-failed", cause);
		return;
	}
	sched_tracker_poll_now(s->cl->trk);
}

/* Cancels s's job because of @cause (kept as the end reason). */
void
sess_cancel(struct session *s, const char *cause)
{
	if (s->stop_cause == NULL || s->stop_cause != cause) {
		free(s->stop_cause);
		s->stop_cause = xstrdup(cause);
	}
	sess_continue_abandon(s, cause);
	if (s->job == NULL)
		return;			/* submit in flight: cancelled when it answers */
	if (s->state != SESSION_STOPPING)
		sess_set(s, SESSION_STOPPING, cause);
	if (s->sreq != NULL)
		return;
	sess_cancel_send(s);
}

/* Sends the cancel of s's job (again, while it is stopping). */
void
sess_cancel_send(struct session *s)
{
	s->cancels++;
	s->last_cancel = time(NULL);
	s->sreq = sched_cancel(s->cl->sched, s->job, sess_cancel_done, s);
}

struct session *
sess_by_id(long long id)
{
	struct session	*s;

	TAILQ_FOREACH(s, &sess_list, entry) {
		if (s->id == id)
			return (s);
	}
	return (NULL);
}

/* Frees everything in memory; jobs and the journal stay as they are. */
void
session_shutdown(void)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&sess_list)) != NULL) {
		TAILQ_REMOVE(&sess_list, s, entry);
		sess_free(s);
	}
	sess_clusters_free();
	sess_track_stop();
}

struct session *
sess_find_route(const char *route, int active_only)
{
	struct session	*s, *last = NULL;

	TAILQ_FOREACH(s, &sess_list, entry) {
		if (strcmp(s->route, route) != 0)
			continue;
		if (sess_active(s))
			return (s);
		last = s;
	}
	return (active_only ? NULL : last);
}

/*
 * Stops user[/server]: cancels its job (or its submission). RESULT_OK and
 * *ended (1: it ended at once, nothing to cancel; 0: it is stopping), or
 * RESULT_NOT_FOUND and *msg.
 */
enum result_kind
session_stop(const char *actor, const char *user, const char *server, int *ended,
    char **msg)
{
	struct session	*s;
	char		*route, *why;

	route = sess_route_name(user, server);
	s = sess_find_route(route, 1);
	free(route);
	if (s == NULL) {
		xasprintf(msg, "%s has no server%s%s running", user,
		    *server != '\0' ? " named " : "", server);
		return (RESULT_NOT_FOUND);
	}
	xasprintf(&why, "stopped by %s", actor);
	store_audit(actor, "session-stop", s->route, s->job);
	*ended = 0;
	if (s->job == NULL && s->sreq == NULL && s->state != SESSION_STOPPING) {
		/* not submitted, not being submitted: nothing to cancel */
		sess_finish(s, why);
		*ended = 1;
	} else if (s->state != SESSION_STOPPING)
		sess_cancel(s, why);
	free(why);
	return (RESULT_OK);
}

/* ---- hooks from the SSH side ------------------------------------------- */

static struct session *
sess_of_route(struct route *r)
{
	struct session	*s;

	if (route_session(r) == 0 || (s = sess_by_id(route_session(r))) == NULL ||
	    !sess_active(s))
		return (NULL);
	return (s);
}

/* An agent enrolled for r's session, from job @job (NULL if it did not say). */
void
session_enrolled(struct route *r, const char *job)
{
	struct session	*s = sess_of_route(r);

	if (s == NULL)
		return;
	sess_journal(s, "enrolled", job);
	if (s->job == NULL && job != NULL) {
		free(s->claimed_job);
		s->claimed_job = xstrdup(job);	/* checked when sbatch answers */
	}
}

/*
 * For binding an enrolling agent to r's session's job (enroll.c): the
 * session's scheduler bridge, job id (NULL: sbatch has not answered yet)
 * and cluster; -1 if r has no active cluster session.  All borrowed.  A
 * successor's route (sessions.continue) is bound to the successor's job,
 * and only while the session still waits for that successor.
 */
int
session_enroll_target(struct route *r, struct sched **sched, const char **job,
    const struct config_cluster **cc)
{
	struct session	*s = sess_of_route(r);
	struct route	*cur;

	if (s == NULL || s->cl == NULL || s->state == SESSION_STOPPING ||
	    (*cc = config_cluster_find(gate->cfg, s->req->cluster)) == NULL)
		return (-1);
	*sched = s->cl->sched;
	*job = s->job;
	if (route_is_next(r)) {
		if (!s->next_on || (cur = route_find(s->route)) == NULL ||
		    route_next(cur) != r)
			return (-1);
		*job = s->next_job;
	}
	return (0);
}

/*
 * Security alert: r's one-time secret was used by two agents (@first, the
 * address the route's agent enrolled from, and @second) that both passed the
 * job checks, so which one is the job's own cannot be told.  The route goes
 * at once (its tunnel with it) and the job is cancelled, with @why as the
 * session's reason.
 */
void
session_enroll_conflict(struct route *r, const char *first, const char *second,
    const char *why)
{
	struct session	*s = sess_of_route(r);
	char		*line;

	if (s == NULL)
		return;
	xasprintf(&line, "%s (agents from %s and %s)", why, first, second);
	sess_tag(s);
	log_warnx("security: session %lld (%s): user %s, job %s: %s", s->id,
	    s->route, s->user, s->job != NULL ? s->job : "-", line);
	sess_journal(s, "security-alert", line);
	store_audit(s->user, "enroll-conflict", s->route, line);
	sess_route_drop(s);
	sess_cancel(s, why);	/* enroll.c checks only once the job id is known */
	free(line);
}

void
session_tunnel_up(struct route *r, const char *peer)
{
	struct session	*s = sess_of_route(r);
	char		*why;

	if (s == NULL)
		return;
	s->tunnel_up = 1;
	if (s->state == SESSION_RUNNING) {
		sess_journal(s, "tunnel-up", peer);
		return;
	}
	if (s->state == SESSION_STOPPING)
		return;
	if (s->started == 0)
		s->started = sess_now();
	xasprintf(&why, "the notebook is up (agent connected from %s)", peer);
	sess_set(s, SESSION_RUNNING, why);
	free(why);
}

void
session_tunnel_down(struct route *r, const char *why)
{
	struct session	*s = sess_of_route(r);

	if (s == NULL)
		return;
	s->tunnel_up = 0;
	s->kernels_busy = 0;	/* nobody reports on them now */
	sess_journal(s, "tunnel-down", why);
}

/* The agent said why it is leaving (protocol 3). */
void
session_agent_exit(struct route *r, const char *why)
{
	struct session	*s = sess_of_route(r);

	if (s == NULL || route_dead(r))	/* a job continued from says nothing now */
		return;
	free(s->agent_said);
	s->agent_said = xstrdup(why);
	/* a label for the journal only: the agent's words decide nothing */
	sess_journal(s, strncmp(why, "walltime:", 9) == 0 ? "walltime" : "agent-exit",
	    why);
}

/*
 * The agent reported what the notebook and job are doing (protocol 4): the
 * time of their last activity, as the gateway's clock has it (the agent
 * sends an age, so the clocks need not agree).
 */
void
session_activity(struct route *r, const struct activity *a)
{
	struct session	*s = sess_of_route(r);
	time_t		 now = time(NULL), t;

	if (s == NULL)
		return;
	s->kernels = (int)a->kernels;
	s->kernels_busy = (int)a->busy;
	s->terminals = (int)a->terminals;
	s->cpu_ms = a->cpu_ms;
	t = a->busy > 0 ? now : a->idle >= 0 ? now - (time_t)a->idle : 0;
	if (t > now)
		t = now;
	if (t > s->compute_last)	/* activity only moves forward */
		s->compute_last = t;
	if (s->compute_last == 0)	/* reports, but nothing known: the start */
		s->compute_last = (time_t)s->ready;
}

/*
 * When @s was last used, by the browser (through the proxy, or since it
 * came up or nbgated started), the notebook (the agent's reports), or the
 * later of the two (@counts: enum config_idle_counts).  Without reports a
 * session counts browser use alone.
 */
time_t
sess_last_use(const struct session *s, int counts)
{
	struct route	*r = route_find(s->route);
	time_t		 browser = (time_t)s->ready, compute;

	if (gate->started > browser)	/* activity is not kept across restarts */
		browser = gate->started;
	compute = browser;
	if (r != NULL && route_activity(r) > browser)
		browser = route_activity(r);
	if (s->compute_last == 0 || counts == CONFIG_IDLE_BROWSER)
		return (browser);
	if (s->kernels_busy > 0 && s->tunnel_up)
		return (time(NULL));
	if (s->compute_last > compute)
		compute = s->compute_last;
	if (counts == CONFIG_IDLE_COMPUTE)
		return (compute);
	return (compute > browser ? compute : browser);
}

/*
 * When the job's walltime runs out, 0 if it does not run: from its start and
 * the time limit the scheduler reports (an extension moves it), else from
 * the start we saw and the walltime asked for.
 */
double
sess_ends(const struct session *s)
{
	if (s->started <= 0 || (s->state != SESSION_RUNNING &&
	    s->state != SESSION_STARTING && s->state != SESSION_STOPPING))
		return (0);
	if (s->st.state == SCHED_RUNNING && s->st.start > 0 && s->st.limit > 0)
		return ((double)s->st.start + s->st.limit);
	return (s->started + s->req->walltime);
}

/* The later of browser and notebook use (for pages and the API); 0: none. */
time_t
session_last_activity(const struct session *s)
{
	if (s->state != SESSION_RUNNING)
		return ((time_t)(s->ready > 0 ? s->ready : s->created));
	return (sess_last_use(s, CONFIG_IDLE_EITHER));
}

/* ---- lookups ----------------------------------------------------------- */

/* The server of user[/server]: the active one, else the last ended one; or NULL. */
const struct session *
session_find(const char *user, const char *server)
{
	char			*route;
	const struct session	*s;

	route = sess_route_name(user, server);
	s = sess_find_route(route, 0);
	free(route);
	return (s);
}

const struct session *
session_by_id(long long id)
{
	return (sess_by_id(id));
}

/* Calls @fn for every session in memory (active ones, and the last ended per route). */
void
session_foreach(void (*fn)(const struct session *, void *), void *arg)
{
	struct session	*s;

	TAILQ_FOREACH(s, &sess_list, entry)
		fn(s, arg);
}

/* When it was requested, its job started, its notebook came up, it ended (0: not yet). */
void
session_times(const struct session *s, double *created, double *started,
    double *ready, double *ended)
{
	*created = s->created;
	*started = s->started;
	*ready = s->ready;
	*ended = s->ended;
}

long long
session_id(const struct session *s)
{
	return (s->id);
}

const char *
session_user(const struct session *s)
{
	return (s->user);
}

const char *
session_server(const struct session *s)
{
	return (s->server);
}

enum session_state
session_state(const struct session *s)
{
	return (s->state);
}

/* Counts by state, for status and metrics. */
const int session_age_bounds[SESSION_AGE_BUCKETS] = { 60, 300, 900, 3600,
    14400, -1 };

/* Running sessions: kernels, and the age of their last activity (cumulative). */
static void
sess_count_running(const struct session *s, time_t now)
{
	time_t	age = now - session_last_activity(s);
	size_t	i;

	sess_counts.age_sum += (long long)age;
	sess_counts.kernels += (unsigned long)s->kernels;
	sess_counts.kernels_busy += (unsigned long)s->kernels_busy;
	if (s->compute_last != 0)
		sess_counts.reporting++;
	for (i = 0; i < SESSION_AGE_BUCKETS; i++) {
		if (session_age_bounds[i] < 0 || age <= session_age_bounds[i])
			sess_counts.by_age[i]++;
	}
}

const struct session_counts *
session_counts(void)
{
	struct session	*s;
	time_t		 now = time(NULL);

	memset(&sess_counts, 0, sizeof sess_counts);
	TAILQ_FOREACH(s, &sess_list, entry) {
		if (sess_active(s))
			sess_counts.by_state[s->state]++;
		if (s->state == SESSION_RUNNING)
			sess_count_running(s, now);
	}
	return (&sess_counts);
}
