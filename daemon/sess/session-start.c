/*
 * session-start.c: a user's start: the checks and limits, the session's
 * record, then the steps of its submission (job directory, batch script
 * with a one-time secret, submit); and the templates checked at start.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>

#include "daemon/sess/session-int.h"

static void	sess_step_submit(struct session *);
static void	sess_remember(struct session *);

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

	if (transport_kind(s->cl->tr) == TRANSPORT_HTTP) {
		sess_step_submit(s);	/* no shell there: the script makes it (sched-slurmrest.c) */
		return;
	}
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

/*
 * @s's batch script with the one-time enrollment @secret, its output in
 * @dir (NULL: the session's job directory): owned (explicit_bzero before
 * free: it holds the secret), or NULL and *why.
 */
char *
sess_script(struct session *s, const char *secret, const char *dir, char **why)
{
	const struct config_cluster	*c = config_cluster_find(gate->cfg, s->req->cluster);
	struct jobreq_env		 env;
	struct template_vars		*vars = NULL;
	char				*path = NULL, *text = NULL, *script = NULL;
	char				*cause = NULL, *base_url = NULL, *gw = NULL;
	char				 host[256];
	size_t				 len;

	if (c == NULL) {
		xasprintf(why, "cluster %s is no longer configured", s->req->cluster);
		return (NULL);
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
	memset(&env, 0, sizeof env);
	env.gateway = gw;
	env.hostkey_fp = sshd_fingerprint(gate->sshd);
	env.base_url = base_url;
	env.route = s->route;
	env.enroll = secret;
	env.app = jobreq_app(gate->cfg, s->req);
	path = jobreq_template_path(s->req, c);
	if ((vars = jobreq_template_vars(s->req, c, &env, &cause)) != NULL) {
		/* the agent probes the link as often as nbgated does */
		snprintf(host, sizeof host, "%d", gate->cfg->ssh_keepalive);
		template_vars_set(vars, "keepalive", host, TEMPLATE_USER);
		/* and reports activity as often as sessions.activity_interval */
		snprintf(host, sizeof host, "%d", gate->cfg->sess_activity_interval);
		template_vars_set(vars, "activity_interval", host, TEMPLATE_USER);
		/* and is told to end itself this long before its walltime does */
		jobreq_walltime_signal(vars, s->req->walltime,
		    gate->cfg->sess_walltime_signal);
		if (dir != NULL)	/* a successor's output beside its predecessor's */
			template_vars_set(vars, "job_dir", dir, TEMPLATE_USER);
	}
	if (vars == NULL || (text = template_load(path, &len, &cause)) == NULL ||
	    (script = template_render(text, len, vars, &cause)) == NULL)
		xasprintf(why, "the batch script cannot be made (template %s): %s",
		    path, cause);
	free(text);
	free(path);
	if (vars != NULL)
		template_vars_free(vars);
	free(cause);
	free(base_url);
	free(gw);
	return (script);
}

/* Renders the batch script with a fresh one-time secret and submits it. */
static void
sess_step_submit(struct session *s)
{
	struct route	*r;
	char		*script = NULL, *secret = NULL, *cause = NULL, *why = NULL;

	if ((r = route_add(s->route, s->user, NULL, NULL, &cause)) == NULL) {
		xasprintf(&why, "cannot make the route: %s", cause);
		goto fail;
	}
	route_set_session(r, s->id);
	sess_route_app(r, s->req);
	secret = route_enroll_begin(r, NULL);
	store_route_put(r);
	if ((script = sess_script(s, secret, NULL, &why)) == NULL)
		goto fail;
	s->sreq = sched_submit(s->cl->sched, script, strlen(script), sess_submitted, s);
	goto out;
fail:
	sess_finish(s, why);
out:
	if (script != NULL)
		explicit_bzero(script, strlen(script));
	free(script);
	freestr(secret);
	free(cause);
	free(why);
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
 * account it may charge; 0 and *cred, or -1 with *res, field and message.
 */
static int
sess_user_check(const struct config_cluster *c, const char *user,
    const struct jobreq *req, const struct cred **cred, enum result_kind *res,
    char **field, char **msg)
{
	const char *const	*acc;
	char			*a, *b, *list;
	long long		 left;
	size_t			 i;

	if ((*cred = cred_from_login(user)) == NULL) {
		*res = RESULT_DENIED;
		xasprintf(msg, "cluster %s runs notebooks as you, charged to your own "
		    "allocation: give nbgate your X.509 credential first (the "
		    "Credential page, or POST /hub/api/users/%s/credential)", c->name,
		    user);
		return (-1);
	}
	left = (long long)((*cred)->not_after - time(NULL));
	if (req->walltime > left) {
		*res = RESULT_INVALID;
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
	*res = RESULT_INVALID;
	*field = xstrdup("account");
	xasprintf(msg, "account %s: %s may not charge it on %s (%s: %s)", req->account,
	    (*cred)->account, c->name, i == 1 ? "its account is" : "its accounts are",
	    i > 0 ? list : "none");
	free(list);
	return (-1);
}

/*
 * Starts a notebook for user[/server] with @options (a JSON object of spawn
 * options, or NULL). Returns the session, or NULL with *res, *field (may be
 * NULL) and *msg set. *res: RESULT_INVALID (bad names or options, and, as
 * JupyterHub answers 400 for them, a server already running and the limit
 * of named servers), RESULT_DENIED (charging: user without a credential),
 * RESULT_CONFLICT (an administrator's route), RESULT_LIMIT (notebooks per
 * user or in all), RESULT_UNAVAILABLE (no cluster reachable, no database).
 */
struct session *
session_start(const char *actor, const char *user, const char *server,
    json_t *options, enum result_kind *res, char **field, char **msg)
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
		*res = RESULT_UNAVAILABLE;
		xasprintf(msg, "no clusters are configured on this gateway");
		return (NULL);
	}
	if (!util_user_name_valid(user) || !util_server_name_valid(server)) {
		*res = RESULT_INVALID;
		xasprintf(msg, "invalid user or server name");
		return (NULL);
	}
	route = sess_route_name(user, server);
	if ((o = sess_find_route(route, 1)) != NULL) {
		*res = RESULT_INVALID;
		xasprintf(msg, "%s's server%s%s is already %s", user, *server != '\0' ?
		    " " : "", server, o->state == SESSION_RUNNING ? "running" :
		    "pending");
		free(route);
		return (NULL);
	}
	if ((r = route_find(route)) != NULL && route_session(r) == 0) {
		*res = RESULT_CONFLICT;
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
		*res = RESULT_INVALID;
		xasprintf(msg, "%s already has %d named server%s running (the limit is "
		    "%d)", user, named, named == 1 ? "" : "s", cfg->sess_named);
	} else if (mine >= cfg->sess_max_per_user) {
		*res = RESULT_LIMIT;
		xasprintf(msg, "%s already has %d notebooks running or queued (the "
		    "limit is %d): stop one first", user, mine, cfg->sess_max_per_user);
	} else if (total >= cfg->sess_max_total) {
		*res = RESULT_LIMIT;
		xasprintf(msg, "the gateway runs its maximum of %d notebooks; try again "
		    "later", cfg->sess_max_total);
	} else if (jobreq_from_options(cfg, user, server, options, &req, field,
	    msg) == -1)
		*res = RESULT_INVALID;
	else if ((cc = config_cluster_find(cfg, req->cluster)) != NULL &&
	    cc->charging == CONFIG_USER) {
		if (sess_user_check(cc, user, req, &cred, res, field, msg) == 0 &&
		    (cl = sess_bridge(cc, cred, msg)) == NULL)
			*res = RESULT_UNAVAILABLE;
		else if (cl != NULL)
			goto ok;
	} else if ((cl = sess_cluster(req->cluster)) == NULL) {
		*res = RESULT_UNAVAILABLE;
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
		*res = RESULT_UNAVAILABLE;
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
	sess_remember(s);
	s->kick = evtimer_new(gate->base, sess_step_prepare, s);
	evtimer_add(s->kick, &now);
	*res = RESULT_OK;
	return (s);
}

/* How the proxy reaches the request's app (apps.NAME.strip_prefix, auth). */
void
sess_route_app(struct route *r, const struct jobreq *req)
{
	const struct config_app	*a = jobreq_app(gate->cfg, req);

	route_set_app(r, a != NULL && a->strip_prefix, a == NULL ||
	    a->auth == CONFIG_APP_AUTH_TOKEN);
}

/* ---- relaunch and the form's last choices -------------------------------- */

/* A request's resolved choices as spawn options: strings, as the form sends them. */
static json_t *
sess_req_options(const struct jobreq *req)
{
	char	wt[32], mem[32], cores[16], gpus[16];
	json_t	*o;

	jobreq_fmt_duration(wt, sizeof wt, req->walltime);
	snprintf(mem, sizeof mem, "%zuMiB", req->memory / (1024 * 1024));
	snprintf(cores, sizeof cores, "%d", req->cores);
	snprintf(gpus, sizeof gpus, "%d", req->gpus);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "cluster", req->cluster,
	    "queue", req->queue, "walltime", wt, "cores", cores, "memory", mem,
	    "gpus", gpus, "container", req->container, "account", req->account);
	if (req->app != NULL && strcmp(req->app, CONFIG_APP_DEFAULT) != 0)
		json_object_set_new(o, "app", json_string(req->app));
	if (req->geometry != NULL && *req->geometry != '\0')
		json_object_set_new(o, "desktop_geometry", json_string(req->geometry));
	return (o);
}

/* Keeps @s's choices as its user's last on its cluster (the form starts from them). */
static void
sess_remember(struct session *s)
{
	json_t	*o = sess_req_options(s->req);
	char	*text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS), *cause = NULL;

	if (text != NULL && store_run(&cause, "INSERT OR REPLACE INTO spawn_choices (user,"
	    " cluster, options, time) VALUES (?, ?, ?, ?)", "tttd", s->user,
	    s->req->cluster, text, s->created) == -1)
		sess_store_failed(s, "keep its spawn choices", cause);
	free(text);
	json_decref(o);
}

/*
 * @user's last spawn choices on @cluster (NULL: on the cluster used last):
 * an owned object of strings (cluster, queue, walltime, ...), or NULL.
 */
json_t *
session_last_choices(const char *user, const char *cluster)
{
	sqlite3_stmt	*st;
	json_t		*j = NULL;

	if ((st = store_prepare(cluster != NULL ? "SELECT options FROM spawn_choices"
	    " WHERE user = ? AND cluster = ?" : "SELECT options FROM spawn_choices"
	    " WHERE user = ? ORDER BY time DESC LIMIT 1")) == NULL)
		return (NULL);
	sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
	if (cluster != NULL)
		sqlite3_bind_text(st, 2, cluster, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		j = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	sqlite3_finalize(st);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return (j);
}

/*
 * Starts @user's ended @server again with the choices its last job ran
 * with (as session_start(), which checks them against today's limits).
 */
struct session *
session_relaunch(const char *actor, const char *user, const char *server,
    enum result_kind *res, char **field, char **msg)
{
	struct session	*s, *n;
	char		*route;
	json_t		*opts;

	*field = NULL;
	route = sess_route_name(user, server);
	s = sess_find_route(route, 0);
	free(route);
	if (s == NULL || sess_active(s)) {
		*res = s == NULL ? RESULT_NOT_FOUND : RESULT_INVALID;
		xasprintf(msg, s == NULL ? "%s has no ended server%s%s to relaunch" :
		    "%s's server%s%s has not ended", user, *server != '\0' ? " " : "",
		    server);
		return (NULL);
	}
	opts = sess_req_options(s->req);
	n = session_start(actor, user, server, opts, res, field, msg);
	json_decref(opts);
	return (n);
}

/* ---- templates ---------------------------------------------------------- */

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
				    "/user/nbgate/", "nbgate", "check", NULL };
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
