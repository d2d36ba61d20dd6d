/*
 * api-users.c: JupyterHub's REST API about users: the version and /info,
 * the user and server models, the list of users (filters, sort, pages) and
 * POST .../activity. A user is whoever has a session or an API token.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

#define API_PAGE_DEFAULT	50	/* JupyterHub's api_page_default_limit */
#define API_PAGE_MAX		200	/* and api_page_max_limit */
#define API_PAGINATION		"application/jupyterhub-pagination+json"
#define API_USER_ACTIVITY_MAX	10000	/* users whose own activity is kept */

/*
 * A user's own last_activity (JupyterHub's user.last_activity, posted to
 * .../activity): a user may post it without naming a server. A server's
 * activity is its route's (route_touch()), the one the idle culler reads.
 */
static json_t	*api_user_activity_map;

/* One user of the list, gathered from sessions and tokens. */
struct api_user_ent {
	char	*name;
	double	 created;	/* first session or token; 0: unknown */
	double	 activity;	/* 0: none */
	int	 active;	/* a server that is not stopped */
	int	 ready;		/* a server that is ready */
};

struct api_users {
	struct api_user_ent	*v;
	size_t			 n;
};

/*
 * Parses an ISO 8601 time ("2026-12-07T01:02:03[.fff][Z|+01:00]"; without a
 * zone, UTC as JupyterHub reads it): 0, or -1.
 */
static int
api_time_parse(const char *s, double *t)
{
	struct tm	 tm;
	const char	*p;
	double		 frac = 0, scale = 0.1;
	int		 n = 0, zh, zm;
	long		 off = 0;

	memset(&tm, 0, sizeof tm);
	if (sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 || n == 0)
		return (-1);
	p = s + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &zh, &zm) == 2 &&
	    strlen(p) == 6) {
		off = (zh * 3600L + zm * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	}
	if (*p != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return (-1);
	tm.tm_year -= 1900;
	tm.tm_mon--;
	*t = (double)timegm(&tm) - (double)off + frac;
	return (0);
}

static struct api_user_ent *
api_users_get(struct api_users *u, const char *name)
{
	size_t	i;

	for (i = 0; i < u->n; i++)
		if (strcmp(u->v[i].name, name) == 0)
			return (&u->v[i]);
	u->v = xreallocarray(u->v, u->n + 1, sizeof *u->v);
	memset(&u->v[u->n], 0, sizeof *u->v);
	u->v[u->n].name = xstrdup(name);
	return (&u->v[u->n++]);
}

static void
api_users_free(struct api_users *u)
{
	size_t	i;

	for (i = 0; i < u->n; i++)
		free(u->v[i].name);
	free(u->v);
}

/*
 * When a server was last used: the later of a request through its route,
 * POST .../activity and its notebook's own activity (sess/), or when it
 * came up; what the idle culler reads.
 */
static double
api_server_activity(const struct session *s)
{
	return ((double)session_last_activity(s));
}

static void
api_users_add_session(const struct session *s, void *arg)
{
	struct api_user_ent	*e = api_users_get(arg, session_user(s));
	double			 created, started, ready, ended, act;

	session_times(s, &created, &started, &ready, &ended);
	if (e->created == 0 || (created > 0 && created < e->created))
		e->created = created;
	if (session_state(s) != SESSION_ENDED) {
		e->active = 1;
		e->ready |= session_state(s) == SESSION_RUNNING;
		if ((act = api_server_activity(s)) > e->activity)
			e->activity = act;
	}
}

static void
api_users_add_token(const struct auth_token *t, void *arg)
{
	struct api_user_ent	*e;

	if (t->service)
		return;
	e = api_users_get(arg, t->name);
	if (e->created == 0 || (t->created > 0 && (double)t->created < e->created))
		e->created = (double)t->created;
}

/* Every user (a session or a token), or those @tok may act for. */
static void
api_users_collect(struct api_users *u, const struct auth_token *tok)
{
	json_t		*v;
	size_t		 i;

	memset(u, 0, sizeof *u);
	session_foreach(api_users_add_session, u);
	auth_token_foreach(api_users_add_token, u);
	for (i = 0; i < u->n; i++) {
		v = json_object_get(api_user_activity_map, u->v[i].name);
		if (v != NULL && json_real_value(v) > u->v[i].activity)
			u->v[i].activity = json_real_value(v);
	}
	for (i = 0; tok != NULL && i < u->n;) {
		if (auth_token_may_act(tok, u->v[i].name)) {
			i++;
			continue;
		}
		free(u->v[i].name);
		u->v[i] = u->v[--u->n];
	}
}

/* Whether the caller may see @scope's part of a model (a full caller: yes). */
static int
api_may(const struct hub_call *c, unsigned int scope)
{
	return (c->tok == NULL || (c->tok->scopes & scope) != 0);
}

/*
 * A server as JupyterHub's API shows it: session_json() with the activity
 * its route saw, absolute URLs (with public_url), and nbgate's
 * "state" only for a caller with admin:server_state (or no token limits).
 */
json_t *
api_server_model(const struct hub_call *c, const struct session *s)
{
	json_t		*j = session_json(s, 0);
	const char	*pub = gate->cfg->public_url, *url, *prog;
	size_t		 len;

	json_object_set_new(j, "last_activity",
	    session_time_json(api_server_activity(s)));
	url = json_string_value(json_object_get(j, "url"));
	prog = json_string_value(json_object_get(j, "progress_url"));
	if (pub != NULL && *pub != '\0' && url != NULL && prog != NULL) {
		len = strlen(pub) - (pub[strlen(pub) - 1] == '/');
		json_object_set_new(j, "full_url", json_sprintf("%.*s%s", (int)len,
		    pub, url));
		json_object_set_new(j, "full_progress_url", json_sprintf("%.*s%s",
		    (int)len, pub, prog));
	} else {
		json_object_set_new(j, "full_url", json_null());
		json_object_set_new(j, "full_progress_url", json_null());
	}
	if (!api_may(c, AUTH_SCOPE_SERVER_STATE))
		json_object_del(j, "state");
	return (j);
}

struct api_model_acc {
	const struct hub_call	*c;
	const char		*user;
	int			 stopped;	/* include_stopped_servers */
	json_t			*servers;
};

static void
api_model_server(const struct session *s, void *arg)
{
	struct api_model_acc	*acc = arg;

	if (strcmp(session_user(s), acc->user) != 0 ||
	    (session_state(s) == SESSION_ENDED && !acc->stopped))
		return;
	json_object_set_new(acc->servers, session_server(s), api_server_model(acc->c, s));
}

/* JupyterHub's user model; "servers" only for a caller with read:servers. */
static json_t *
api_user_model(const struct hub_call *c, const struct api_user_ent *e, int stopped)
{
	struct api_model_acc	 acc = { c, e->name, stopped, json_object() };
	json_t			*def, *j;
	int			 admin = config_is_admin(gate->cfg, e->name);

	session_foreach(api_model_server, &acc);
	def = json_object_get(acc.servers, "");
	j = json_pack("{s:s,s:s,s:b,s:[s],s:[],s:O,s:O,s:o,s:o}",
	    "kind", "user", "name", e->name, "admin", admin,
	    "roles", admin ? "admin" : "user", "groups",
	    "server", def != NULL && json_is_true(json_object_get(def, "ready")) ?
	    json_object_get(def, "url") : json_null(),
	    "pending", def != NULL && json_object_get(def, "pending") != NULL ?
	    json_object_get(def, "pending") : json_null(),
	    "last_activity", api_may(c, AUTH_SCOPE_READ_USERS_ACTIVITY) ?
	    session_time_json(e->activity) : json_null(),
	    "created", session_time_json(e->created));
	if (api_may(c, AUTH_SCOPE_READ_SERVERS))
		json_object_set(j, "servers", acc.servers);
	json_decref(acc.servers);
	return (j);
}

/* A flag in the query: "?name", "?name=" or any value but "false" and "0". */
static int
api_query_flag(const char *q, const char *name)
{
	size_t		 n = strlen(name), len, vlen;
	const char	*v;

	for (; q != NULL && *q != '\0'; q += len + (q[len] == '&')) {
		len = strcspn(q, "&");
		if (len < n || strncmp(q, name, n) != 0 || (len > n && q[n] != '='))
			continue;
		v = q + n + (len > n);
		vlen = len - n - (len > n);
		return (!(vlen == 5 && strncasecmp(v, "false", 5) == 0) &&
		    !(vlen == 1 && *v == '0'));
	}
	return (0);
}

/* A whole number parameter's absolute value in *v (left alone if absent): 0, or -1. */
static int
api_query_long(const char *q, const char *name, long *v)
{
	char	*s = api_query_get(q, name), *end;
	int	 rv = 0;

	if (s != NULL) {
		*v = labs(strtol(s, &end, 10));
		rv = *s == '\0' || *end != '\0' ? -1 : 0;
	}
	free(s);
	return (rv);
}

/* ?offset= and ?limit= as JupyterHub reads them: 0, or -1 and a 400. */
static int
api_page_args(const struct hub_call *c, int paged, long *offset, long *limit)
{
	*offset = 0;
	*limit = paged ? API_PAGE_DEFAULT : API_PAGE_MAX;
	if (api_query_long(c->ar->query, "offset", offset) == -1 ||
	    api_query_long(c->ar->query, "limit", limit) == -1) {
		api_error(c->rs, 400, "Invalid argument type, offset and limit must be "
		    "integers");
		return (-1);
	}
	if (*limit > API_PAGE_MAX)
		*limit = API_PAGE_MAX;
	if (*limit < 1)
		*limit = 1;
	return (0);
}

/* ?sort= for qsort()'s comparison, set by api_sort_arg() just before it. */
static int	api_sort_desc;
static int	api_sort_key;	/* 0 id, 1 name, 2 last_activity */

/* JupyterHub's order: ascending puts nulls first, descending last. */
static int
api_user_cmp(const void *a, const void *b)
{
	const struct api_user_ent	*x = a, *y = b;
	double				 dx, dy;
	int				 r;

	if (api_sort_key == 1)
		r = strcmp(x->name, y->name);
	else {
		dx = api_sort_key == 2 ? x->activity : x->created;
		dy = api_sort_key == 2 ? y->activity : y->created;
		if ((dx == 0) != (dy == 0))
			return ((dx == 0) ? -1 : 1) * (api_sort_desc ? -1 : 1);
		r = dx < dy ? -1 : dx > dy;
		if (r == 0)
			r = strcmp(x->name, y->name);
	}
	return (api_sort_desc ? -r : r);
}

/* ?sort=: 0, or -1 and a 400. */
static int
api_sort_arg(const struct hub_call *c)
{
	char		*s = api_query_get(c->ar->query, "sort"), *msg;
	const char	*k = s != NULL ? s : "id";

	api_sort_desc = *k == '-';
	k += api_sort_desc;
	if (strcmp(k, "id") == 0)
		api_sort_key = 0;
	else if (strcmp(k, "name") == 0)
		api_sort_key = 1;
	else if (strcmp(k, "last_activity") == 0)
		api_sort_key = 2;
	else {
		xasprintf(&msg, "sort must be 'id', 'name', or 'last_activity', not '%s'",
		    s);
		api_error(c->rs, 400, msg);
		free(msg);
		free(s);
		return (-1);
	}
	free(s);
	return (0);
}

/* ?state=: keeps the users it names; -1 and a 400 if it names no state. */
static int
api_state_filter(const struct hub_call *c, struct api_users *u)
{
	char	*st = api_query_get(c->ar->query, "state"), *msg;
	size_t	 i;
	int	 keep, rv = 0;

	if (st != NULL && strcmp(st, "active") != 0 && strcmp(st, "ready") != 0 &&
	    strcmp(st, "inactive") != 0) {
		xasprintf(&msg, "Unrecognized state filter: '%s'", st);
		api_error(c->rs, 400, msg);
		free(msg);
		rv = -1;
	}
	for (i = 0; st != NULL && rv == 0 && i < u->n;) {
		keep = strcmp(st, "active") == 0 ? u->v[i].active :
		    strcmp(st, "ready") == 0 ? u->v[i].ready : !u->v[i].active;
		if (keep) {
			i++;
			continue;
		}
		free(u->v[i].name);
		memmove(&u->v[i], &u->v[i + 1], (u->n - i - 1) * sizeof *u->v);
		u->n--;
	}
	free(st);
	return (rv);
}

/*
 * The absolute URL of the next page: public_url (else https://Host), this
 * path, the query with the next offset and limit.
 */
static json_t *
api_next_url(const struct hub_call *c, long offset, long limit)
{
	const char	*pub = gate->cfg->public_url, *q = c->ar->query, *host;
	struct evbuffer	*b = evbuffer_new();
	json_t		*j;
	size_t		 len;

	if (pub != NULL && *pub != '\0')
		evbuffer_add_printf(b, "%.*s", (int)(strlen(pub) -
		    (pub[strlen(pub) - 1] == '/')), pub);
	else {
		host = c->ar->host != NULL ? c->ar->host : "localhost";
		evbuffer_add_printf(b, "https://%s", host);
	}
	evbuffer_add_printf(b, "%s?", c->ar->path);
	while (q != NULL && *q != '\0') {
		len = strcspn(q, "&");
		if (len > 0 && strncmp(q, "offset=", 7) != 0 && strncmp(q, "limit=", 6) != 0)
			evbuffer_add_printf(b, "%.*s&", (int)len, q);
		q += len + (q[len] == '&');
	}
	evbuffer_add_printf(b, "offset=%ld&limit=%ld", offset, limit);
	j = json_stringn((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
	evbuffer_free(b);
	return (j);
}

/*
 * GET /hub/api/users: JupyterHub's list: ?state=active|ready|inactive,
 * ?sort=[-]id|name|last_activity, ?offset, ?limit, ?include_stopped_servers;
 * a page object when the Accept header asks for one, else a bare list.
 */
void
api_users_list(struct hub_call *c)
{
	struct api_users	 u;
	const char		*acc = http_msg_get(c->ar->head, "accept");
	int			 paged = acc != NULL && strstr(acc, API_PAGINATION) != NULL;
	int			 stopped = api_query_flag(c->ar->query,
				     "include_stopped_servers");
	long			 offset, limit, i;
	json_t			*items, *next = json_null();

	if (api_page_args(c, paged, &offset, &limit) == -1 || api_sort_arg(c) == -1)
		return;
	api_users_collect(&u, c->tok != NULL && (c->tok->service ||
	    !config_is_admin(gate->cfg, c->tok->name)) ? c->tok : NULL);
	if (api_state_filter(c, &u) == -1) {
		api_users_free(&u);
		return;
	}
	qsort(u.v, u.n, sizeof *u.v, api_user_cmp);
	items = json_array();
	for (i = offset; i < (long)u.n && i < offset + limit; i++)
		json_array_append_new(items, api_user_model(c, &u.v[i], stopped));
	if (!paged)
		api_json(c->rs, 200, items);
	else {
		if (offset + limit < (long)u.n)
			next = json_pack("{s:I,s:I,s:o}", "offset", (json_int_t)(offset +
			    limit), "limit", (json_int_t)limit, "url", api_next_url(c,
			    offset + limit, limit));
		api_json(c->rs, 200, json_pack("{s:o,s:{s:I,s:I,s:I,s:o}}", "items",
		    items, "_pagination", "offset", (json_int_t)offset, "limit",
		    (json_int_t)limit, "total", (json_int_t)u.n, "next", next));
	}
	api_users_free(&u);
}

/* The user @name as the list has it, in @u; NULL if nbgate knows no such user. */
static const struct api_user_ent *
api_user_find(struct api_users *u, const char *name)
{
	size_t	i;

	api_users_collect(u, NULL);
	for (i = 0; i < u->n; i++)
		if (strcmp(u->v[i].name, name) == 0)
			return (&u->v[i]);
	return (NULL);
}

/*
 * GET /hub/api/users/{user}: the model. Gateway users exist implicitly (a
 * gateway starts a server for any valid name; nbgate has no POST /users):
 * one nbgate has not seen is a user without servers, created null.
 */
void
api_user_get(struct hub_call *c)
{
	struct api_users		 u;
	const struct api_user_ent	*e;
	struct api_user_ent		 none;

	if ((e = api_user_find(&u, c->user)) == NULL) {
		memset(&none, 0, sizeof none);
		none.name = c->user;
		e = &none;
	}
	api_json(c->rs, 200, api_user_model(c, e, api_query_flag(c->ar->query,
	    "include_stopped_servers")));
	api_users_free(&u);
}

/* A "last_activity" value: 0, or -1 and JupyterHub's 400. */
static int
api_activity_time(struct api_resp *rs, json_t *v, double *t)
{
	char	*msg;

	if (!json_is_string(v) || api_time_parse(json_string_value(v), t) == -1) {
		api_error(rs, 400, "Not a valid timestamp");
		return (-1);
	}
	if (*t - (double)time(NULL) > 59 * 60) {
		xasprintf(&msg, "Rejecting activity from more than an hour in the "
		    "future: %s", json_string_value(v));
		api_error(rs, 400, msg);
		free(msg);
		return (-1);
	}
	return (0);
}

/* Checks "servers" of an activity body, each time parsed into "t": 0, or -1 and a 400. */
static int
api_activity_servers(struct hub_call *c, json_t *servers)
{
	const char	*name;
	json_t		*v;
	char		*msg;
	double		 t;

	json_object_foreach(servers, name, v) {
		if (session_find(c->user, name) == NULL) {
			xasprintf(&msg, "No such server '%s' for user %s", name, c->user);
			api_error(c->rs, 400, msg);
			free(msg);
			return (-1);
		}
		if (!json_is_object(v) || json_object_get(v, "last_activity") == NULL) {
			api_error(c->rs, 400, "servers must be a dict of the form "
			    "{server_name: {last_activity: timestamp}}");
			return (-1);
		}
		if (api_activity_time(c->rs, json_object_get(v, "last_activity"), &t) == -1)
			return (-1);
		json_object_set_new(v, "t", json_real(t));
	}
	return (0);
}

/* Moves server @name's activity to @t if that is later: its route's, the culler's. */
static void
api_activity_server(const char *user, const char *name, double t)
{
	const struct session	*s = session_find(user, name);
	struct route		*r;
	json_t			*j;
	const char		*route;

	if (s == NULL)
		return;
	j = session_json(s, 0);
	route = json_string_value(json_object_get(json_object_get(j, "state"), "route"));
	if (route != NULL && (r = route_find(route)) != NULL &&
	    route_session(r) == session_id(s) && (time_t)t > route_activity(r))
		route_touch(r, (time_t)t);
	json_decref(j);
}

/*
 * POST /hub/api/users/{user}/activity: {"last_activity": T, "servers":
 * {NAME: {"last_activity": T}}}; either may be left out, not both; times
 * only move forward, and none may be more than an hour ahead.
 */
void
api_user_activity(struct hub_call *c)
{
	struct api_users	 u;
	json_t			*j, *la, *servers, *v;
	const char		*name;
	double			 t = 0;

	if (api_user_find(&u, c->user) == NULL) {
		api_users_free(&u);
		api_error(c->rs, 404, "No such user");
		return;
	}
	api_users_free(&u);
	if ((j = api_body_object(c->ar, c->rs)) == NULL)
		return;
	la = json_object_get(j, "last_activity");
	servers = json_object_get(j, "servers");
	if ((la == NULL || json_is_null(la) || (json_is_string(la) &&
	    *json_string_value(la) == '\0')) && (servers == NULL ||
	    json_is_null(servers) || (json_is_object(servers) &&
	    json_object_size(servers) == 0))) {
		api_error(c->rs, 400, "body must contain at least one of `last_activity` "
		    "or `servers`");
		goto out;
	}
	if (servers != NULL && !json_is_null(servers) && (!json_is_object(servers) ||
	    api_activity_servers(c, servers) == -1)) {
		if (!json_is_object(servers))
			api_error(c->rs, 400, "servers must be a dict of the form "
			    "{server_name: {last_activity: timestamp}}");
		goto out;
	}
	if (la != NULL && !json_is_null(la) && api_activity_time(c->rs, la, &t) == -1)
		goto out;
	if (t > 0) {
		if (api_user_activity_map == NULL)
			api_user_activity_map = json_object();
		v = json_object_get(api_user_activity_map, c->user);
		if ((v == NULL && json_object_size(api_user_activity_map) <
		    API_USER_ACTIVITY_MAX) || (v != NULL && t > json_real_value(v)))
			json_object_set_new(api_user_activity_map, c->user, json_real(t));
	}
	if (json_is_object(servers))
		json_object_foreach(servers, name, v)
			api_activity_server(c->user, name, json_real_value(
			    json_object_get(v, "t")));
	log_debug("api: activity of %s posted by %s", c->user, c->ar->actor);
	c->rs->code = 200;
out:
	json_decref(j);
}

/* GET /hub/api/: the version, to anyone (JupyterHub's clients ask first). */
void
api_version(struct hub_call *c)
{
	api_json(c->rs, 200, json_pack("{s:s}", "version", PACKAGE_VERSION));
}

/* GET /hub/api/info (read:hub): the version and what plays which JupyterHub part. */
void
api_info(struct hub_call *c)
{
	const struct config	*cfg = gate->cfg;
	json_t			*logins = json_array(), *scheds = json_array();
	size_t			 i, k;

	if (cfg->auth_pam)
		json_array_append_new(logins, json_string("pam"));
	if (cfg->oidc_issuer != NULL)
		json_array_append_new(logins, json_string("oidc"));
	json_array_append_new(logins, json_string("token"));
	for (i = 0; i < cfg->nclusters; i++) {
		for (k = 0; k < i; k++)
			if (cfg->clusters[k].scheduler == cfg->clusters[i].scheduler)
				break;
		if (k == i)
			json_array_append_new(scheds, json_string(config_scheduler_name(
			    cfg->clusters[i].scheduler)));
	}
	api_json(c->rs, 200, json_pack("{s:s,s:n,s:n,s:{s:s,s:s,s:o},s:{s:s,s:s,s:o}}",
	    "version", PACKAGE_VERSION, "python", "sys_executable",
	    "authenticator", "class", "nbgate.auth", "version", PACKAGE_VERSION,
	    "methods", logins,
	    "spawner", "class", "nbgate.batch", "version", PACKAGE_VERSION,
	    "schedulers", scheds));
}

/* Forgets the users' own activity (shutdown). */
void
api_users_shutdown(void)
{
	json_decref(api_user_activity_map);
	api_user_activity_map = NULL;
}
