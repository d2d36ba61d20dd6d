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
 */
#include "config.h"

#include <sys/queue.h>

#include <inttypes.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>

#include "daemon/sess/sess.h"
#include "scheduler/scheduler.h"
#include "scheduler/backend.h"

#define SESS_TICK		1	/* s between housekeeping rounds */
#define SESS_CMD_TIMEOUT	30000	/* ms for mkdir/tail on the cluster */
#define SESS_TAIL_BYTES		"3000"	/* of job.err shown when a job fails */
#define SESS_CANCEL_RETRY	30	/* s between scancel attempts while stopping */
#define SESS_CANCEL_MAX		5
#define SESS_FAST_POLL		1000	/* ms, while some job waits to start */
#define SESS_REASON_MAX		4096	/* bytes of a transition's cause */
#define SESS_WINDDOWN		300	/* s an ended session's job may still be listed */

/* One cluster's scheduler bridge: a transport, a backend, a tracker. */
struct cluster {
	char			*name;
	struct transport	*tr;
	struct sched		*sched;
	struct sched_tracker	*trk;
	struct sched_req	*orphans;	/* sweep in flight */
	/* charging: user: a bridge per account, logging in with a minted certificate */
	char			*account;	/* NULL: the cluster's own bridge */
	time_t			 cert_until;	/* its certificate's end */
	char			**accounts;	/* allocations it may charge; NULL: not known */
	size_t			 naccounts;
	struct sched_req	*acct_req;
	time_t			 idle_since;	/* no active session uses it */
	/* what the scheduler says of its queues (sinfo), for the spawn form */
	struct sched_queue	*queues;
	size_t			 nqueues;
	time_t			 queues_asked;
	struct sched_req	*queues_req;
	TAILQ_ENTRY(cluster)	 entry;
};

struct session {
	long long		 id;
	char			*user;
	char			*server;	/* "" for the default server */
	char			*route;		/* "alice" or "alice/lab" */
	struct jobreq		*req;
	char			*options;	/* user_options as JSON text */
	char			*actor;		/* who started it */
	enum session_state	 state;
	enum session_state	 prior;		/* what unknown interrupted */
	char			*reason;	/* cause of the last transition */
	char			*job;
	char			*job_dir;
	char			*run_as;	/* charging: user: the account it runs as */
	char			*node;
	char			*error_output;	/* tail of job.err, when it failed */
	double			 created, started, ready, ended;
	time_t			 unknown_since;
	struct sched_status	 st;		/* the scheduler's last word */
	char			*agent_said;	/* why the agent left (protocol 3) */
	char			*claimed_job;	/* enrolled before sbatch answered */
	char			*stop_cause;	/* why we cancel, once we do */
	int			 cancels;
	time_t			 last_cancel;
	int			 warned;	/* walltime warning given */
	int			 tunnel_up;
	int			 adopting;	/* reloaded without a job id: looking */
	struct cluster		*cl;
	struct transport_req	*treq;
	struct sched_req	*sreq;
	struct event		*kick;
	TAILQ_ENTRY(session)	 entry;
};

struct sess_watcher {
	session_watch_cb		 fn;
	void				*arg;
	TAILQ_ENTRY(sess_watcher)	 entry;
};
static TAILQ_HEAD(, sess_watcher) sess_watchers = TAILQ_HEAD_INITIALIZER(sess_watchers);
static TAILQ_HEAD(, cluster)	 sess_clusters = TAILQ_HEAD_INITIALIZER(sess_clusters);
static TAILQ_HEAD(, session)	 sess_list = TAILQ_HEAD_INITIALIZER(sess_list);
static struct event		*sess_tick, *sess_orphan_timer;
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

static void	sess_step_submit(struct session *);
static void	sess_cancel(struct session *, const char *);
static void	sess_end(struct session *, const char *, int);

/* Tags the next log line with the session's user, id, job and cluster. */
static void
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

static int
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

static double
sess_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((double)ts.tv_sec + ts.tv_nsec / 1e9);
}

/* "alice" for the default server, "alice/lab" for a named one; caller frees. */
static char *
sess_route_name(const char *user, const char *server)
{
	char	*route;

	xasprintf(&route, "%s%s%s", user, *server != '\0' ? "/" : "", server);
	return (route);
}

static int
sess_active(const struct session *s)
{
	return (s->state != SESSION_ENDED);
}

/* ---- clusters ---------------------------------------------------------- */

static struct cluster *
sess_cluster(const char *name)
{
	struct cluster	*cl;

	TAILQ_FOREACH(cl, &sess_clusters, entry) {
		if (cl->account == NULL && strcmp(cl->name, name) == 0)
			return (cl);
	}
	return (NULL);
}

static struct session *
sess_by_job(struct cluster *cl, const char *job)
{
	struct session	*s;

	TAILQ_FOREACH(s, &sess_list, entry) {
		if (s->cl == cl && s->job != NULL && sess_active(s) &&
		    sched_id_match(s->job, job))
			return (s);
	}
	return (NULL);
}

static void	sess_tracked(const char *, const struct sched_status *,
		    const struct sched_status *, void *);

/*
 * A cluster's bridge from its configuration, or (account != NULL) one that logs
 * in as that account with a key and certificate held in memory; NULL and
 * *cause if it cannot be built.
 */
static struct cluster *
sess_cluster_new(const struct config_cluster *c, const char *account,
    const char *key, const char *cert, char **cause)
{
	struct transport_config	 tc;
	struct cluster		*cl;
	const struct sched_ops	*ops;
	struct passwd		*pw;
	char			*host = NULL;
	const char		*colon;

	if ((ops = sched_find(config_scheduler_name(c->scheduler))) == NULL) {
		xasprintf(cause, "no backend for scheduler %s",
		    config_scheduler_name(c->scheduler));
		return (NULL);
	}
	memset(&tc, 0, sizeof tc);
	tc.name = c->name;
	tc.slurm_conf = c->slurm_conf;
	if (c->transport == CONFIG_SSH) {
		tc.kind = TRANSPORT_SSH;
		if (c->login_host == NULL ||
		    (colon = strrchr(c->login_host, ':')) == NULL) {
			xasprintf(cause, "login_host is not host:port");
			return (NULL);
		}
		host = xstrndup(c->login_host, (size_t)(colon - c->login_host));
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			memmove(host, host + 1, strlen(host));
			host[strlen(host) - 1] = '\0';
		}
		tc.host = host;
		tc.port = atoi(colon + 1);
		tc.user = account != NULL ? account : c->login_user;
		tc.key_file = account != NULL ? NULL : c->login_key;
		tc.key_text = key;
		tc.cert_line = cert;
		tc.hostkey = c->login_host_key;
	} else {
		tc.kind = TRANSPORT_LOCAL;
		/* job output paths are relative to the submitting account's home */
		if ((pw = getpwuid(geteuid())) != NULL && pw->pw_dir[0] == '/')
			tc.workdir = pw->pw_dir;
	}
	cl = xcalloc(1, sizeof *cl);
	cl->name = xstrdup(c->name);
	cl->account = account != NULL ? xstrdup(account) : NULL;
	cl->tr = transport_new(gate->base, &tc, cause);
	free(host);
	if (cl->tr == NULL) {
		free(cl->name);
		free(cl);
		return (NULL);
	}
	cl->sched = sched_new(gate->base, ops, cl->tr, c->name);
	cl->trk = sched_tracker_new(cl->sched, c->poll_interval * 1000,
	    SESS_FAST_POLL, sess_tracked, cl);
	return (cl);
}

static void
sess_cluster_free(struct cluster *cl)
{
	size_t	i;

	sched_req_cancel(cl->orphans);
	sched_req_cancel(cl->queues_req);
	sched_queues_free(cl->queues, cl->nqueues);
	sched_req_cancel(cl->acct_req);
	sched_tracker_free(cl->trk);
	sched_free(cl->sched);
	transport_free(cl->tr);
	for (i = 0; i < cl->naccounts; i++)
		free(cl->accounts[i]);
	free(cl->accounts);
	free(cl->account);
	free(cl->name);
	free(cl);
}

/* Builds a bridge for every configured cluster that has none yet. */
static void
sess_clusters_sync(const struct config *cfg)
{
	struct cluster	*cl;
	char		*cause = NULL;
	size_t		 i;

	for (i = 0; i < cfg->nclusters; i++) {
		if (sess_cluster(cfg->clusters[i].name) != NULL)
			continue;
		if (cfg->clusters[i].charging == CONFIG_USER &&
		    cfg->clusters[i].login_key == NULL) {
			log_info("cluster %s: %s over %s, as each user (charging: "
			    "user)", cfg->clusters[i].name, config_scheduler_name(
			    cfg->clusters[i].scheduler), cfg->clusters[i].login_host);
			continue;	/* bridges are made per account, on demand */
		}
		if ((cl = sess_cluster_new(&cfg->clusters[i], NULL, NULL, NULL,
		    &cause)) == NULL) {
			log_warnx("cluster %s: %s", cfg->clusters[i].name, cause);
			free(cause);
			cause = NULL;
			continue;
		}
		TAILQ_INSERT_TAIL(&sess_clusters, cl, entry);
		log_info("cluster %s: %s over %s", cl->name,
		    config_scheduler_name(cfg->clusters[i].scheduler),
		    cfg->clusters[i].transport == CONFIG_SSH ?
		    cfg->clusters[i].login_host : "local commands");
	}
}

/* ---- charging: user: a bridge per account ------------------------------- */

#define SESS_CERT_RENEW		300	/* s before a certificate ends: sign a new one */
#define SESS_BRIDGE_IDLE	600	/* s a bridge no session uses is kept */

/* Signs a certificate for cred's account; 0 with key, cert and until, or -1. */
static int
sess_mint(const struct config_cluster *c, const struct cred *cred, char **key,
    char **cert, time_t *until, char **cause)
{
	time_t	 now = time(NULL), end;
	char	*kid, *err = NULL;

	end = now + gate->cfg->cred_cert_lifetime;
	if (end > cred->not_after)
		end = cred->not_after;
	if (end <= now + 30) {
		xasprintf(cause, "the credential for %s expires in under a minute",
		    cred->account);
		return (-1);
	}
	xasprintf(&kid, "%s (nbgate user %s)", cred->dn, cred->user);
	if (sshcert_mint(c->user_ca_key, cred->account, kid, now - 60, end, key, cert,
	    &err) == -1) {
		log_warnx("cluster %s: cannot sign a certificate for %s: %s", c->name,
		    cred->account, err);
		xasprintf(cause, "the gateway cannot sign a login certificate for %s "
		    "(see its log)", cred->account);
		free(err);
		free(kid);
		return (-1);
	}
	gate->stats.certs_minted++;
	log_info("cluster %s: certificate for %s signed, valid %lld s, key id \"%s\"",
	    c->name, cred->account, (long long)(end - now), kid);
	free(kid);
	*until = end;
	return (0);
}

/* The account's associations (sacctmgr, as the account): what it may charge. */
static void
sess_accounts_done(char *const *v, size_t n, const char *cause, void *arg)
{
	struct cluster	*cl = arg;
	size_t		 i;

	cl->acct_req = NULL;
	if (cause != NULL) {
		log_info("cluster %s: the associations of %s are not known (%s)",
		    cl->name, cl->account, cause);
		return;
	}
	for (i = 0; i < cl->naccounts; i++)
		free(cl->accounts[i]);
	free(cl->accounts);
	cl->accounts = xcalloc(n + 1, sizeof *cl->accounts);
	for (i = 0; i < n; i++)
		cl->accounts[i] = xstrdup(v[i]);
	cl->naccounts = n;
	log_info("cluster %s: %s may charge %zu account%s", cl->name, cl->account,
	    n, n == 1 ? "" : "s");
}

static void
sess_accounts_ask(struct cluster *cl)
{
	if (cl->acct_req == NULL)
		cl->acct_req = sched_accounts(cl->sched, cl->account,
		    sess_accounts_done, cl);
}

static struct cluster *
sess_bridge_find(const char *name, const char *account)
{
	struct cluster	*cl;

	TAILQ_FOREACH(cl, &sess_clusters, entry) {
		if (cl->account != NULL && strcmp(cl->name, name) == 0 &&
		    strcmp(cl->account, account) == 0)
			return (cl);
	}
	return (NULL);
}

/* The bridge that logs in to cluster c as cred's account, made on first use. */
static struct cluster *
sess_bridge(const struct config_cluster *c, const struct cred *cred, char **cause)
{
	struct cluster	*cl;
	char		*key = NULL, *cert = NULL;
	time_t		 until;

	if ((cl = sess_bridge_find(c->name, cred->account)) != NULL &&
	    cl->cert_until > time(NULL) + SESS_CERT_RENEW)
		return (cl);
	if (sess_mint(c, cred, &key, &cert, &until, cause) == -1) {
		if (cl == NULL)
			return (NULL);
		log_warnx("cluster %s: %s (the certificate in use stays)", c->name, *cause);
		free(*cause);
		*cause = NULL;
		return (cl);	/* its older certificate may still serve */
	}
	if (cl != NULL) {
		transport_rekey(cl->tr, key, cert);
		cl->cert_until = until;
	} else if ((cl = sess_cluster_new(c, cred->account, key, cert, cause)) != NULL) {
		cl->cert_until = until;
		TAILQ_INSERT_TAIL(&sess_clusters, cl, entry);
		log_info("cluster %s: bridge as %s for %s (%s)", c->name, cred->account,
		    cred->user, cred->dn);
		sess_accounts_ask(cl);
	}
	freestr(key);
	free(cert);
	return (cl);
}

/* Every user-mode cluster gets cred's bridge (the pages then know its accounts). */
void
session_credential(const struct cred *cred)
{
	const struct config	*cfg = gate->cfg;
	struct cluster		*cl;
	char			*cause = NULL;
	size_t			 i;

	for (i = 0; i < cfg->nclusters; i++) {
		if (cfg->clusters[i].charging != CONFIG_USER)
			continue;
		if ((cl = sess_bridge_find(cfg->clusters[i].name, cred->account)) != NULL)
			cl->cert_until = 0;	/* a new credential: a new certificate */
		if ((cl = sess_bridge(&cfg->clusters[i], cred, &cause)) == NULL) {
			log_info("cluster %s: %s", cfg->clusters[i].name, cause);
			free(cause);
			cause = NULL;
		} else
			sess_accounts_ask(cl);
	}
}

/* The accounts @account may charge on cluster @name; NULL if not known. */
const char *const *
session_accounts(const char *name, const char *account)
{
	struct cluster	*cl = sess_bridge_find(name, account);

	return (cl != NULL ? (const char *const *)cl->accounts : NULL);
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

/* Renews certificates about to end; frees bridges no session has used for a while. */
static void
sess_bridges_tend(time_t now)
{
	const struct config_cluster *c;
	const struct cred	*cred;
	struct cluster		*cl, *next;
	struct session		*s;
	char			*cause = NULL;
	int			 used;

	TAILQ_FOREACH_SAFE(cl, &sess_clusters, entry, next) {
		if (cl->account == NULL)
			continue;
		used = 0;
		TAILQ_FOREACH(s, &sess_list, entry) {
			if (s->cl == cl && sess_active(s))
				used = 1;
		}
		c = config_cluster_find(gate->cfg, cl->name);
		cred = cred_for_account(cl->account);
		if (!used && (c == NULL || cred == NULL || (cl->idle_since != 0 &&
		    now - cl->idle_since > SESS_BRIDGE_IDLE))) {
			TAILQ_FOREACH(s, &sess_list, entry) {
				if (s->cl == cl)
					s->cl = NULL;	/* ended ones only */
			}
			log_info("cluster %s: bridge as %s closed (unused)", cl->name,
			    cl->account);
			TAILQ_REMOVE(&sess_clusters, cl, entry);
			sess_cluster_free(cl);
			continue;
		}
		if (!used && cl->idle_since == 0)
			cl->idle_since = now;
		else if (used)
			cl->idle_since = 0;
		if (c != NULL && cred != NULL && cl->cert_until - now < SESS_CERT_RENEW &&
		    cred->not_after > cl->cert_until &&
		    sess_bridge(c, cred, &cause) == NULL) {
			log_warnx("cluster %s: %s", cl->name, cause);
			free(cause);
			cause = NULL;
		}
	}
}

/* ---- the journal ------------------------------------------------------- */

/* Logs that @what failed in the store (and frees @cause). */
static void
sess_store_failed(const struct session *s, const char *what, char *cause)
{
	sess_tag(s);
	log_warnx("session %lld: cannot %s: %s", s->id, what, cause);
	free(cause);
}

static void
sess_save(struct session *s)
{
	char	*cause = NULL;

	if (store_run(&cause, "UPDATE sessions SET state = ?, reason = ?, job = ?,"
	    " job_dir = ?, node = ?, started = ?, ready = ?, ended = ?,"
	    " error_output = ? WHERE id = ?", "tttttdddti",
	    session_state_name(s->state), s->reason, s->job, s->job_dir, s->node,
	    s->started, s->ready, s->ended, s->error_output, s->id) == -1)
		sess_store_failed(s, "save its state", cause);
}

static void
sess_journal(struct session *s, const char *what, const char *why)
{
	char	*cause = NULL;

	if (store_run(&cause, "INSERT INTO session_events (session, time, state,"
	    " cause) VALUES (?, ?, ?, ?)", "idtt", s->id, sess_now(), what,
	    why) == -1)
		sess_store_failed(s, "journal its state", cause);
}

/* Tells every watcher (progress streams, metrics) that s changed. */
static void
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
static void
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

/* ---- the steps of a start ---------------------------------------------- */

static struct session *
sess_alloc(void)
{
	struct session	*s = xcalloc(1, sizeof *s);

	return (s);
}

static void
sess_free(struct session *s)
{
	transport_cancel(s->treq);
	sched_req_cancel(s->sreq);
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

static void
sess_finish(struct session *s, const char *cause)
{
	transport_cancel(s->treq);
	s->treq = NULL;
	sched_req_cancel(s->sreq);
	s->sreq = NULL;
	if (s->job != NULL && s->cl != NULL)
		sched_tracker_remove(s->cl->trk, s->job);
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
static void
sess_end(struct session *s, const char *cause, int tail)
{
	const char	*argv[] = { "tail", "-c", SESS_TAIL_BYTES, NULL, NULL };
	char		*path, *err = NULL;

	if (!sess_active(s))
		return;
	if (!tail || s->job_dir == NULL || s->cl == NULL || s->job == NULL) {
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
sess_mkdir_done(const struct transport_result *tr, void *arg)
{
	struct session	*s = arg;
	char		*why;

	s->treq = NULL;
	if (s->stop_cause != NULL) {
		sess_finish(s, s->stop_cause);
		return;
	}
	if (tr->error != NULL || tr->status != 0) {
		xasprintf(&why, "cannot create the job directory %s on %s: %.*s",
		    s->job_dir, s->cl->name, tr->error != NULL ? 512 : (int)tr->errlen,
		    tr->error != NULL ? tr->error : tr->err);
		why[strcspn(why, "\n")] = '\0';
		sess_finish(s, why);
		free(why);
		return;
	}
	sess_step_submit(s);
}

/* First step: the job's directory (its output must have somewhere to go). */
static void
sess_step_prepare(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;
	const char	*argv[] = { "mkdir", "-p", "-m", "700", s->job_dir, NULL };
	char		*cause = NULL, *why;

	s->treq = transport_run(s->cl->tr, argv, NULL, 0, SESS_CMD_TIMEOUT,
	    sess_mkdir_done, s, &cause);
	if (s->treq == NULL) {
		xasprintf(&why, "cannot reach cluster %s: %s", s->cl->name, cause);
		sess_finish(s, why);
		free(why);
		free(cause);
	}
}

static void
sess_submitted(const char *id, const char *cause, void *arg)
{
	struct session	*s = arg;
	struct route	*r;
	char		*why = NULL, *tcause = NULL, *scause = NULL;

	s->sreq = NULL;
	if (id == NULL) {
		xasprintf(&why, "the scheduler refused the job: %s", cause);
		sess_finish(s, why);
		free(why);
		return;
	}
	s->job = xstrdup(id);
	if ((r = route_find(s->route)) != NULL && route_session(r) == s->id &&
	    route_enroll_hex(r) != NULL) {
		route_set_job(r, id);		/* the secret now works only in this job */
		store_route_put(r);
	}
	xasprintf(&why, "job %s submitted to %s", id, s->cl->name);
	/* the job id and its attribution together */
	if (store_run(&scause, "BEGIN", "") == -1)
		sess_store_failed(s, "begin recording the job", scause);
	sess_set(s, SESSION_SUBMITTED, why);
	outbox_record(s->id, s->user, s->req, s->job);
	if (store_run(&scause, "COMMIT", "") == -1)
		sess_store_failed(s, "commit the job's record", scause);
	free(why);
	store_audit(s->user, "job-submit", s->route, id);
	if (sched_tracker_add(s->cl->trk, id, &tcause) == -1) {
		sess_tag(s);
		log_warnx("session %lld: cannot track job %s: %s", s->id, id, tcause);
		free(tcause);
	}
	if (s->claimed_job != NULL && !sched_id_match(id, s->claimed_job)) {
		xasprintf(&why, "an agent from job %s (not %s) used this session's "
		    "secret: the session is closed", s->claimed_job, id);
		sess_cancel(s, why);
		free(why);
		return;
	}
	if (s->stop_cause != NULL)
		sess_cancel(s, s->stop_cause);
}

/* Renders the batch script with a fresh one-time secret and submits it. */
static void
sess_step_submit(struct session *s)
{
	const struct config_cluster	*c = config_cluster_find(gate->cfg, s->req->cluster);
	struct jobreq_env		 env;
	struct template_vars		*vars = NULL;
	struct route			*r;
	char				*path = NULL, *text = NULL, *script = NULL;
	char				*secret = NULL, *cause = NULL, *why = NULL;
	char				*base_url = NULL, *gw = NULL, host[256];
	size_t				 len;

	if (c == NULL) {
		xasprintf(&why, "cluster %s is no longer configured", s->req->cluster);
		goto fail;
	}
	if (gate->cfg->sess_gateway != NULL)
		gw = xstrdup(gate->cfg->sess_gateway);
	else {
		if (gethostname(host, sizeof host) == -1)
			snprintf(host, sizeof host, "localhost");
		host[sizeof host - 1] = '\0';
		xasprintf(&gw, "%s:%d", host, gate->ssh_port);
	}
	xasprintf(&base_url, "/user/%s/", s->route);
	if ((r = route_add(s->route, s->user, NULL, NULL, &cause)) == NULL) {
		xasprintf(&why, "cannot make the route: %s", cause);
		goto fail;
	}
	route_set_session(r, s->id);
	secret = route_enroll_begin(r, NULL);
	store_route_put(r);
	memset(&env, 0, sizeof env);
	env.gateway = gw;
	env.hostkey_fp = sshd_fingerprint(gate->sshd);
	env.base_url = base_url;
	env.route = s->route;
	env.enroll = secret;
	path = jobreq_template_path(s->req, c);
	if ((vars = jobreq_template_vars(s->req, c, &env, &cause)) != NULL) {
		/* the agent probes the link as often as nbgated does */
		snprintf(host, sizeof host, "%d", gate->cfg->ssh_keepalive);
		template_vars_set(vars, "keepalive", host, TEMPLATE_USER);
	}
	if (vars == NULL || (text = template_load(path, &len, &cause)) == NULL ||
	    (script = template_render(text, len, vars, &cause)) == NULL) {
		xasprintf(&why, "the batch script cannot be made (template %s): %s",
		    path, cause);
		goto fail;
	}
	s->sreq = sched_submit(s->cl->sched, script, strlen(script), sess_submitted, s);
	goto out;
fail:
	sess_finish(s, why);
out:
	if (script != NULL)
		explicit_bzero(script, strlen(script));
	free(script);
	free(text);
	free(path);
	if (vars != NULL)
		template_vars_free(vars);
	freestr(secret);
	free(cause);
	free(why);
	free(base_url);
	free(gw);
}

/* ---- following the job ------------------------------------------------- */

static void
sess_note_status(struct session *s, const struct sched_status *st)
{
	char	*clean;

	sched_status_clear(&s->st);
	sched_status_copy(&s->st, st);
	if (s->st.reason != NULL) {	/* the scheduler's words: any bytes */
		clean = tunclient_reason_clean(s->st.reason, SESS_REASON_MAX);
		free(s->st.reason);
		s->st.reason = clean;
	}
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
		if (s->agent_said != NULL)
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
static void
sess_tracked(const char *id, const struct sched_status *old,
    const struct sched_status *st, void *arg)
{
	struct cluster	*cl = arg;
	struct session	*s;
	char		*why = NULL;
	int		 tail;

	if ((s = sess_by_job(cl, id)) == NULL)
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
		sess_end(s, why, tail);
		break;
	}
	free(why);
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
static void
sess_cancel(struct session *s, const char *cause)
{
	if (s->stop_cause == NULL || s->stop_cause != cause) {
		free(s->stop_cause);
		s->stop_cause = xstrdup(cause);
	}
	if (s->job == NULL)
		return;			/* submit in flight: cancelled when it answers */
	if (s->state != SESSION_STOPPING)
		sess_set(s, SESSION_STOPPING, cause);
	if (s->sreq != NULL)
		return;
	s->cancels++;
	s->last_cancel = time(NULL);
	s->sreq = sched_cancel(s->cl->sched, s->job, sess_cancel_done, s);
}

/* ---- housekeeping ------------------------------------------------------ */

/* Seconds since the notebook was last used through the proxy (or came up). */
static time_t
sess_idle(struct session *s, time_t now)
{
	struct route	*r = route_find(s->route);
	time_t		 last = (time_t)s->ready;

	if (gate->started > last)	/* activity is not kept across restarts */
		last = gate->started;
	if (r != NULL && route_activity(r) > last)
		last = route_activity(r);
	return (now - last);
}

static void
sess_housekeeping(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s, *next;
	const struct config *cfg = gate->cfg;
	time_t		 now = time(NULL);
	double		 left;
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
				s->cancels++;
				s->last_cancel = now;
				s->sreq = sched_cancel(s->cl->sched, s->job,
				    sess_cancel_done, s);
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
		} else if (s->state == SESSION_RUNNING && s->started > 0 &&
		    !s->warned && cfg->sess_walltime_warning > 0) {
			left = s->started + s->req->walltime - sess_now();
			if (left <= cfg->sess_walltime_warning) {
				s->warned = 1;
				xasprintf(&why, "%.0f s of walltime left", left > 0 ? left : 0);
				sess_journal(s, "walltime-warning", why);
				sess_tag(s);
				log_info("session %lld (%s): %s", s->id, s->route, why);
				free(why);
			}
		}
	}
}

/* ---- orphans ----------------------------------------------------------- */

static long long
sess_comment_session(const char *comment)
{
	const char	*p;

	if (comment == NULL || strncmp(comment, "nbgate:", 7) != 0 ||
	    (p = strstr(comment, ":session=")) == NULL)
		return (0);
	return (strtoll(p + 9, NULL, 10));
}

static struct session *
sess_by_id(long long id)
{
	struct session	*s;

	TAILQ_FOREACH(s, &sess_list, entry) {
		if (s->id == id)
			return (s);
	}
	return (NULL);
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
		if (s->cl == cl && sess_active(s) && s->job == NULL)
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

/* ---- restart ----------------------------------------------------------- */

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

/* Reloads every session that had not ended, and re-follows its job. */
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

static void
sess_reload(void)
{
	sqlite3_stmt	*st;
	struct cluster	*cl;
	struct session	*s;
	struct jobreq	*jr;
	char		*state, *cause = NULL;
	size_t		 n = 0;

	/* every active session, and the last ended one of each server (a week) */
	if ((st = store_prepare("SELECT id, user, server, cluster, queue, account,"
	    " container, walltime, cores, memory, gpus, options, actor, state, reason,"
	    " job, job_dir, node, created, started, ready, ended, error_output, run_as"
	    " FROM sessions WHERE state != 'ended' OR id IN (SELECT MAX(id) FROM"
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
		s->cl = sess_reload_bridge(s);
		TAILQ_INSERT_TAIL(&sess_list, s, entry);
		n += sess_active(s);
	}
	sqlite3_finalize(st);
	TAILQ_FOREACH(s, &sess_list, entry) {
		if (!sess_active(s))
			continue;
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

/* ---- public ------------------------------------------------------------ */

/*
 * Renders every cluster's and queue's template with its defaults, so that
 * a template that cannot be read or rendered is found at start, reload and
 * --check-config, not at a user's first click. 0, or -1 and *cause (one
 * line per problem).
 */
int
session_check_templates(const struct config *cfg, char **cause)
{
	struct jobreq_env	 env = { "gateway.invalid:2222", "SHA256:check",
				    "/user/nbgate/", "nbgate", "check" };
	struct evbuffer		*errs = evbuffer_new();
	struct template_vars	*vars;
	struct jobreq		*req;
	json_t			*opts;
	char			*field = NULL, *msg = NULL, *path, *text, *out;
	size_t			 i, j, len;
	int			 rv;

	for (i = 0; i < cfg->nclusters; i++) {
		const struct config_cluster *c = &cfg->clusters[i];

		for (j = 0; j < c->nqueues; j++) {
			opts = json_pack("{s:s,s:s}", "cluster", c->name, "queue",
			    c->queues[j].name);
			req = NULL;
			path = text = out = NULL;
			vars = NULL;
			if (jobreq_from_options(cfg, "nbgate", "", opts, &req, &field,
			    &msg) == -1) {
				evbuffer_add_printf(errs, "clusters.%s.queues.%s: the defaults "
				    "are refused: %s\n", c->name, c->queues[j].name, msg);
				goto next;
			}
			req->session = 1;
			path = jobreq_template_path(req, c);
			if ((vars = jobreq_template_vars(req, c, &env, &msg)) == NULL ||
			    (text = template_load(path, &len, &msg)) == NULL ||
			    (out = template_render(text, len, vars, &msg)) == NULL)
				evbuffer_add_printf(errs, "clusters.%s.queues.%s: template %s: "
				    "%s\n", c->name, c->queues[j].name, path, msg);
next:
			free(out);
			free(text);
			free(path);
			if (vars != NULL)
				template_vars_free(vars);
			jobreq_free(req);
			json_decref(opts);
			free(field);
			free(msg);
			field = msg = NULL;
		}
	}
	if ((rv = evbuffer_get_length(errs) > 0 ? -1 : 0) == -1) {
		evbuffer_add(errs, "", 1);
		*cause = xstrdup((const char *)evbuffer_pullup(errs, -1));
		if ((len = strlen(*cause)) > 0 && (*cause)[len - 1] == '\n')
			(*cause)[len - 1] = '\0';
	}
	evbuffer_free(errs);
	return (rv);
}

int
session_init(char **cause)
{
	struct timeval	 tick = { SESS_TICK, 0 };
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
	sess_tick = event_new(gate->base, -1, EV_PERSIST, sess_housekeeping, NULL);
	evtimer_add(sess_tick, &tick);
	sess_orphan_timer = evtimer_new(gate->base, sess_orphan_sweep, NULL);
	tick.tv_sec = 30;	/* first sweep soon after a (re)start */
	evtimer_add(sess_orphan_timer, &tick);
	return (0);
}

/* A new configuration: clusters added get a bridge; changed ones apply on restart. */
void
session_reload(const struct config *cfg)
{
	sess_clusters_sync(cfg);
}

/* Frees everything in memory; jobs and the journal stay as they are. */
void
session_shutdown(void)
{
	struct session	*s;
	struct cluster	*cl;

	while ((s = TAILQ_FIRST(&sess_list)) != NULL) {
		TAILQ_REMOVE(&sess_list, s, entry);
		sess_free(s);
	}
	while ((cl = TAILQ_FIRST(&sess_clusters)) != NULL) {
		TAILQ_REMOVE(&sess_clusters, cl, entry);
		sess_cluster_free(cl);
	}
	if (sess_tick != NULL)
		event_free(sess_tick);
	if (sess_orphan_timer != NULL)
		event_free(sess_orphan_timer);
	sess_tick = sess_orphan_timer = NULL;
}

static struct session *
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

/* Forgets ended sessions of @route from memory (the journal keeps them). */
static void
sess_forget_ended(const char *route)
{
	struct session	*s, *next;

	TAILQ_FOREACH_SAFE(s, &sess_list, entry, next) {
		if (!sess_active(s) && strcmp(s->route, route) == 0) {
			TAILQ_REMOVE(&sess_list, s, entry);
			sess_free(s);
		}
	}
}

/*
 * Starts a notebook for user[/server] with @options (a JSON object of spawn
 * options, or NULL). Returns the session and sets *code to 202, or NULL with
 * *code (400, 403, 404, 409, 429, 503), *field (may be NULL) and *msg set.
 */
static char *
sess_span(long long t)
{
	char	*s;

	if (t >= 3600 && t % 3600 / 60 == 0)
		xasprintf(&s, "%lldh", t / 3600);
	else if (t >= 3600)
		xasprintf(&s, "%lldh %lldm", t / 3600, t % 3600 / 60);
	else
		xasprintf(&s, "%lldm", t / 60);
	return (s);
}

/*
 * charging: user: the user's verified identity, a walltime it covers, and an
 * account it may charge; 0 and *cred, or -1 with code, field and message.
 */
static int
sess_user_check(const struct config_cluster *c, const char *user,
    const struct jobreq *req, const struct cred **cred, int *code, char **field,
    char **msg)
{
	const char *const	*acc;
	char			*a, *b, *list;
	long long		 left;
	size_t			 i;

	if ((*cred = cred_from_login(user)) == NULL) {
		*code = 403;
		xasprintf(msg, "cluster %s runs notebooks as you, charged to your own "
		    "allocation: give nbgate your X.509 credential first (the "
		    "Credential page, or POST /hub/api/users/%s/credential)", c->name,
		    user);
		return (-1);
	}
	left = (long long)((*cred)->not_after - time(NULL));
	if (req->walltime > left) {
		*code = 400;
		*field = xstrdup("walltime");
		a = sess_span(req->walltime);
		b = sess_span(left);
		xasprintf(msg, "walltime %s is longer than your credential has left "
		    "(%s, %s): renew it or choose a shorter walltime", a, b,
		    (*cred)->dn);
		free(a);
		free(b);
		return (-1);
	}
	acc = session_accounts(c->name, (*cred)->account);
	if (acc == NULL || *req->account == '\0')
		return (0);
	for (i = 0; acc[i] != NULL; i++) {
		if (strcmp(acc[i], req->account) == 0)
			return (0);
	}
	list = xstrdup("");
	for (i = 0; acc[i] != NULL; i++) {
		xasprintf(&a, "%s%s%s", list, i > 0 ? ", " : "", acc[i]);
		free(list);
		list = a;
	}
	*code = 400;
	*field = xstrdup("account");
	xasprintf(msg, "account %s: %s may not charge it on %s (%s: %s)", req->account,
	    (*cred)->account, c->name, i == 1 ? "its account is" : "its accounts are",
	    i > 0 ? list : "none");
	free(list);
	return (-1);
}

struct session *
session_start(const char *actor, const char *user, const char *server,
    json_t *options, int *code, char **field, char **msg)
{
	const struct config	*cfg = gate->cfg;
	struct session		*s, *o;
	struct jobreq		*req = NULL;
	char			*route, *opts = NULL, *why, *cause = NULL;
	struct cluster		*cl = NULL;
	const struct config_cluster *cc;
	const struct cred	*cred = NULL;
	struct route		*r;
	int			 mine = 0, named = 0, total = 0;
	struct timeval		 now = { 0, 0 };

	*field = NULL;
	if (cfg->nclusters == 0) {
		*code = 503;
		xasprintf(msg, "no clusters are configured on this gateway");
		return (NULL);
	}
	if (!util_user_name_valid(user) || !util_server_name_valid(server)) {
		*code = 400;
		xasprintf(msg, "invalid user or server name");
		return (NULL);
	}
	route = sess_route_name(user, server);
	if ((o = sess_find_route(route, 1)) != NULL) {
		*code = 400;
		xasprintf(msg, "%s's server%s%s is already %s", user, *server != '\0' ?
		    " " : "", server, o->state == SESSION_RUNNING ? "running" :
		    "pending");
		free(route);
		return (NULL);
	}
	if ((r = route_find(route)) != NULL && route_session(r) == 0) {
		*code = 409;
		xasprintf(msg, "route %s is registered by an administrator", route);
		free(route);
		return (NULL);
	}
	TAILQ_FOREACH(o, &sess_list, entry) {
		if (!sess_active(o))
			continue;
		total++;
		if (strcmp(o->user, user) == 0) {
			mine++;
			named += *o->server != '\0';
		}
	}
	if (*server != '\0' && named >= cfg->sess_named) {
		*code = 400;
		xasprintf(msg, "%s already has %d named server%s running (the limit is "
		    "%d)", user, named, named == 1 ? "" : "s", cfg->sess_named);
	} else if (mine >= cfg->sess_max_per_user) {
		*code = 429;
		xasprintf(msg, "%s already has %d notebooks running or queued (the "
		    "limit is %d): stop one first", user, mine, cfg->sess_max_per_user);
	} else if (total >= cfg->sess_max_total) {
		*code = 429;
		xasprintf(msg, "the gateway runs its maximum of %d notebooks; try again "
		    "later", cfg->sess_max_total);
	} else if (jobreq_from_options(cfg, user, server, options, &req, field,
	    msg) == -1)
		*code = 400;
	else if ((cc = config_cluster_find(cfg, req->cluster)) != NULL &&
	    cc->charging == CONFIG_USER) {
		if (sess_user_check(cc, user, req, &cred, code, field, msg) == 0 &&
		    (cl = sess_bridge(cc, cred, msg)) == NULL)
			*code = 503;
		else if (cl != NULL)
			goto ok;
	} else if ((cl = sess_cluster(req->cluster)) == NULL) {
		*code = 503;
		xasprintf(msg, "cluster %s cannot be reached from this gateway (see "
		    "the gateway's log)", req->cluster);
	} else
		goto ok;
	jobreq_free(req);
	free(route);
	return (NULL);
ok:
	if (options != NULL)
		opts = json_dumps(options, JSON_COMPACT | JSON_SORT_KEYS);
	sess_forget_ended(route);
	s = sess_alloc();
	s->user = xstrdup(user);
	s->server = xstrdup(server);
	s->route = route;
	s->req = req;
	s->options = opts;
	s->actor = xstrdup(actor);
	s->cl = cl;
	s->run_as = cl->account != NULL ? xstrdup(cl->account) : NULL;
	s->created = sess_now();
	s->state = SESSION_REQUESTED;
	if (store_run(&cause, "INSERT INTO sessions (user, server, cluster, queue,"
	    " account, container, walltime, cores, memory, gpus, options, actor,"
	    " state, created, run_as) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
	    " ?, ?, ?)", "ttttttiiiitttdt", user, server, req->cluster, req->queue,
	    req->account, req->container, (long long)req->walltime,
	    (long long)req->cores, (long long)req->memory, (long long)req->gpus,
	    opts, actor, "requested", s->created, s->run_as) == -1) {
		log_tag(user, 0, NULL, req->cluster);
		log_warnx("session of %s (server '%s'): cannot record it: %s", user,
		    server, cause);
		free(cause);
		*code = 503;
		xasprintf(msg, "the gateway cannot record the session (database error)");
		s->req = NULL;
		jobreq_free(req);
		sess_free(s);
		return (NULL);
	}
	s->id = store_last_id();
	req->session = s->id;
	xasprintf(&s->job_dir, "%s/%lld", config_cluster_find(cfg,
	    req->cluster)->output_dir, s->id);
	TAILQ_INSERT_TAIL(&sess_list, s, entry);
	xasprintf(&why, "requested by %s", actor);
	sess_set(s, SESSION_REQUESTED, why);
	free(why);
	store_audit(actor, "session-start", route, opts);
	s->kick = evtimer_new(gate->base, sess_step_prepare, s);
	evtimer_add(s->kick, &now);
	*code = 202;
	return (s);
}

/* Stops user[/server]: cancels its job (or its submission). */
int
session_stop(const char *actor, const char *user, const char *server, int *code,
    char **msg)
{
	struct session	*s;
	char		*route, *why;

	route = sess_route_name(user, server);
	s = sess_find_route(route, 1);
	free(route);
	if (s == NULL) {
		*code = 404;
		xasprintf(msg, "%s has no server%s%s running", user,
		    *server != '\0' ? " named " : "", server);
		return (-1);
	}
	xasprintf(&why, "stopped by %s", actor);
	store_audit(actor, "session-stop", s->route, s->job);
	if (s->state == SESSION_STOPPING) {
		*code = 202;
	} else if (s->job == NULL && s->sreq == NULL) {
		/* not submitted, not being submitted: nothing to cancel */
		sess_finish(s, why);
		*code = 204;
	} else {
		sess_cancel(s, why);
		*code = 202;
	}
	free(why);
	return (0);
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
 * and cluster; -1 if r has no active cluster session.  All borrowed.
 */
int
session_enroll_target(struct route *r, struct sched **sched, const char **job,
    const struct config_cluster **cc)
{
	struct session	*s = sess_of_route(r);

	if (s == NULL || s->cl == NULL || s->state == SESSION_STOPPING ||
	    (*cc = config_cluster_find(gate->cfg, s->req->cluster)) == NULL)
		return (-1);
	*sched = s->cl->sched;
	*job = s->job;
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
	sess_journal(s, "tunnel-down", why);
}

/* The agent said why it is leaving (protocol 3). */
void
session_agent_exit(struct route *r, const char *why)
{
	struct session	*s = sess_of_route(r);

	if (s == NULL)
		return;
	free(s->agent_said);
	s->agent_said = xstrdup(why);
	sess_journal(s, "agent-exit", why);
}

/* ---- views ------------------------------------------------------------- */

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

/* One server as JupyterHub's API shows it, with nbgate's details in "state". */
json_t *
session_json(const struct session *s, int detail)
{
	json_t		*j, *state, *opts = NULL, *ev;
	const char	*pending = NULL;
	char		*url, *progress;
	double		 left = 0;
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
	if (s->state == SESSION_RUNNING && s->started > 0)
		left = s->started + s->req->walltime - sess_now();
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
	    "time_left", s->state == SESSION_RUNNING && s->started > 0 ?
	    json_integer(left > 0 ? (json_int_t)left : 0) : json_null(),
	    "ended", sess_time(s->ended),
	    "error_output", s->error_output,
	    "started_by", s->actor,
	    "runs_as", s->run_as);
	j = json_pack("{s:s,s:b,s:b,s:s?,s:s,s:s,s:o,s:o,s:o,s:o}",
	    "name", s->server,
	    "ready", s->state == SESSION_RUNNING,
	    "stopped", s->state == SESSION_ENDED,
	    "pending", pending,
	    "url", url,
	    "progress_url", progress,
	    "started", sess_time(s->created),
	    "last_activity", sess_time(s->ready > 0 ? s->ready : s->created),
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

/* Each cluster's scheduler traffic, for metrics. */
void
session_cluster_stats(void (*fn)(const char *, unsigned long long,
    unsigned long long, double, size_t, void *), void *arg)
{
	struct cluster	*cl;

	TAILQ_FOREACH(cl, &sess_clusters, entry)
		fn(cl->name, sched_calls(cl->sched), sched_errors(cl->sched),
		    sched_seconds(cl->sched), sched_tracker_active(cl->trk), arg);
}

long long
session_id(const struct session *s)
{
	return (s->id);
}

/* The scheduler bridge of cluster @name (for web/usage.c's accounting), or NULL. */
struct sched *
session_cluster_sched(const char *name)
{
	struct cluster	*cl;

	TAILQ_FOREACH(cl, &sess_clusters, entry) {
		if (strcmp(cl->name, name) == 0)
			return (cl->sched);
	}
	return (NULL);
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
const struct session_counts *
session_counts(void)
{
	struct session	*s;

	memset(&sess_counts, 0, sizeof sess_counts);
	TAILQ_FOREACH(s, &sess_list, entry) {
		if (sess_active(s))
			sess_counts.by_state[s->state]++;
	}
	return (&sess_counts);
}
