/*
 * hub.c: the route table of everything nbgated answers itself under /hub/:
 * for each method and path, who may call it and the handler. hub_dispatch()
 * (given to the proxy with conn_set_hub()) matches a request against the
 * table, checks the caller, and gives the 400/401/403/404/405 answers.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

/*
 * Who may call an entry. The admin socket and administrators may call
 * anything but HUB_ANYONE's pages (the socket is no browser); a service
 * token only what has a .scope, and for a {user} only one it may act for.
 */
enum hub_who {
	HUB_PUBLIC,	/* the API's without a token: anyone, the socket too */
	HUB_ANYONE,	/* no login needed (a page checks its own) */
	HUB_CALLER,	/* any caller of the API: socket, user, service */
	HUB_ADMIN,	/* the admin socket or an administrator */
	HUB_USER,	/* the user named {user} themself, or an admin */
};

#define HUB_API_NOAUTH	403	/* no valid token in the API: as JupyterHub */
#define HUB_405		0x1	/* a method the path lacks is 405, not 404 */

struct hub_entry {
	const char	*method;	/* "GET", "POST PUT" (the first is named in
					   a 405); NULL: any */
	const char	*path;		/* literal, {name} a segment, {name*} the rest */
	enum hub_who	 who;
	unsigned int	 scope;		/* a service token may call it with this */
	int		 flags;		/* HUB_405 */
	void		(*exec)(struct hub_call *);
};

static void	hub_metrics(struct hub_call *);
static void	hub_health(struct hub_call *);
static void	hub_home(struct hub_call *);
static void	hub_usage(struct hub_call *);
static void	hub_login(struct hub_call *);
static void	hub_oidc(struct hub_call *);
static void	hub_pages(struct hub_call *);

/*
 * Read a row as: METHOD PATH may be called by WHO, and by a service token
 * with SCOPE (0: by none). A method the path does not list is a 405 if the
 * path is HUB_405, else as if the path did not exist; such a method is
 * checked against the path's first entry that is not GET. No entry may
 * shadow a later one (tests/unit/test-hub).
 */
#define RS	AUTH_SCOPE_READ_SERVERS
#define S	AUTH_SCOPE_SERVERS
#define DS	AUTH_SCOPE_DELETE_SERVERS
#define RU	(AUTH_SCOPE_READ_USERS | AUTH_SCOPE_READ_USERS_ACTIVITY | \
		    AUTH_SCOPE_READ_SERVERS)	/* any of: the model shows what it may */
#define LU	AUTH_SCOPE_LIST_USERS
#define UA	AUTH_SCOPE_USERS_ACTIVITY
#define RH	AUTH_SCOPE_READ_HUB
#define T	AUTH_SCOPE_TOKENS
#define RT	AUTH_SCOPE_READ_TOKENS

static const struct hub_entry hub_table[] = {
	/* The REST API (JSON; a cookie's calls pass hub_cookie_call() first). */
	{ "GET", "/hub/api/",				HUB_PUBLIC, 0, 0, api_version },
	{ "GET", "/hub/api",				HUB_PUBLIC, 0, 0, api_version },
	{ "GET", "/hub/api/info",			HUB_ADMIN, RH, 0, api_info },
	{ "GET", "/hub/api/user",			HUB_CALLER, 0, 0, api_whoami },
	{ "GET", "/hub/api/status",			HUB_ADMIN, 0, 0, api_status },
	{ "POST", "/hub/api/reload",			HUB_ADMIN, 0, 0, api_config },
	{ "GET", "/hub/api/config/check",		HUB_ADMIN, 0, 0, api_config },
	{ "GET", "/hub/api/routes",			HUB_ADMIN, 0, 0, api_routes_list },
	{ "POST PUT", "/hub/api/routes/{route*}",	HUB_ADMIN, 0, HUB_405, api_route_add },
	{ "DELETE", "/hub/api/routes/{route*}",		HUB_ADMIN, 0, HUB_405, api_route_del },
	{ "GET", "/hub/api/sessions",			HUB_ADMIN, 0, 0, api_sessions_list },
	{ "GET", "/hub/api/sessions/{session}",		HUB_ADMIN, 0, 0, api_session_get },
	{ "GET", "/hub/api/usage",			HUB_ADMIN, 0, 0, hub_usage },
	{ "POST", "/hub/api/orphans",			HUB_ADMIN, 0, 0, api_orphans },
	{ "GET", "/hub/api/tokens",			HUB_ADMIN, 0, HUB_405, api_tokens_list },
	{ "DELETE", "/hub/api/tokens/{id*}",		HUB_ADMIN, 0, HUB_405, api_token_revoke },
	{ "POST", "/hub/api/services/{service}/tokens",	HUB_ADMIN, 0, HUB_405,
	    api_tokens_issue },
	{ "DELETE", "/hub/api/services/{service}/tokens", HUB_ADMIN, 0, HUB_405,
	    api_tokens_revoke },
	{ "GET", "/hub/api/users",			HUB_ADMIN, LU, 0, api_users_list },
	{ "GET", "/hub/api/users/{user}",		HUB_USER, RU, 0, api_user_get },
	{ "POST", "/hub/api/users/{user}/activity",	HUB_USER, UA, HUB_405,
	    api_user_activity },
	{ "GET", "/hub/api/users/{user}/tokens",	HUB_USER, RT, HUB_405,
	    api_user_tokens_list },
	{ "POST", "/hub/api/users/{user}/tokens",	HUB_USER, T, HUB_405, api_tokens_issue },
	{ "DELETE", "/hub/api/users/{user}/tokens",	HUB_USER, T, HUB_405, api_tokens_revoke },
	{ "GET", "/hub/api/users/{user}/tokens/{token}", HUB_USER, RT, HUB_405,
	    api_user_token_get },
	{ "DELETE", "/hub/api/users/{user}/tokens/{token}", HUB_USER, T, HUB_405,
	    api_user_token_del },
	{ "POST", "/hub/api/users/{user}/login-url",	HUB_ADMIN, 0, 0, api_login_url },
	{ "GET", "/hub/api/users/{user}/server",	HUB_USER, RS, HUB_405, api_server_get },
	{ "POST", "/hub/api/users/{user}/server",	HUB_USER, S, HUB_405, api_server_start },
	{ "DELETE", "/hub/api/users/{user}/server",	HUB_USER, DS, HUB_405, api_server_stop },
	{ "GET", "/hub/api/users/{user}/server/progress", HUB_USER, RS, HUB_405, api_progress },
	{ "POST", "/hub/api/users/{user}/server/extend", HUB_USER, S, HUB_405,
	    api_server_extend },
	{ "POST", "/hub/api/users/{user}/server/relaunch", HUB_USER, S, HUB_405,
	    api_server_relaunch },
	{ "POST", "/hub/api/users/{user}/server/continue", HUB_USER, S, HUB_405,
	    api_server_continue },
	{ "GET", "/hub/api/users/{user}/servers/{server}", HUB_USER, RS, HUB_405,
	    api_server_get },
	{ "POST", "/hub/api/users/{user}/servers/{server}", HUB_USER, S, HUB_405,
	    api_server_start },
	{ "DELETE", "/hub/api/users/{user}/servers/{server}", HUB_USER, DS, HUB_405,
	    api_server_stop },
	{ "GET", "/hub/api/users/{user}/servers/{server}/progress", HUB_USER, RS,
	    HUB_405, api_progress },
	{ "POST", "/hub/api/users/{user}/servers/{server}/extend", HUB_USER, S,
	    HUB_405, api_server_extend },
	{ "POST", "/hub/api/users/{user}/servers/{server}/relaunch", HUB_USER, S,
	    HUB_405, api_server_relaunch },
	{ "POST", "/hub/api/users/{user}/servers/{server}/continue", HUB_USER, S,
	    HUB_405, api_server_continue },
	{ "GET", "/hub/api/users/{user}/credential",	HUB_USER, RS, HUB_405, api_cred_get },
	{ "POST", "/hub/api/users/{user}/credential",	HUB_USER, S, HUB_405, api_cred_set },
	{ "DELETE", "/hub/api/users/{user}/credential",	HUB_USER, S, HUB_405, api_cred_del },

	/* Prometheus; the admin socket serves only this and the API. */
	{ NULL, "/hub/metrics",				HUB_ADMIN, 0, 0, hub_metrics },

	/* Pages: each checks its visitor's login itself. */
	{ NULL, "/hub/health",				HUB_ANYONE, 0, 0, hub_health },
	{ NULL, "/hub/login/once",			HUB_ANYONE, 0, 0, api_login_once },
	{ NULL, "/hub/user-login",			HUB_ANYONE, 0, 0, api_user_login },
	{ NULL, "/hub/login",				HUB_ANYONE, 0, 0, hub_login },
	{ NULL, "/hub/oauth_login",			HUB_ANYONE, 0, 0, hub_oidc },
	{ NULL, "/hub/oauth_callback",			HUB_ANYONE, 0, 0, hub_oidc },
	{ NULL, "/hub/home",				HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/logout",				HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/credential",			HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/admin",				HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/admin/{page*}",			HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/spawn",				HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/spawn/{page*}",			HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/spawn-pending",			HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/spawn-pending/{page*}",		HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/stop",				HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/stop/{page*}",			HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/extend",				HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/extend/{page*}",			HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/relaunch",			HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/relaunch/{page*}",		HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/continue",			HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/hub/continue/{page*}",		HUB_ANYONE, 0, 0, hub_pages },
	{ NULL, "/",					HUB_ANYONE, 0, 0, hub_home },
	{ NULL, "/hub",					HUB_ANYONE, 0, 0, hub_home },
	{ NULL, "/hub/",				HUB_ANYONE, 0, 0, hub_home },
};

#undef RS
#undef S
#undef DS
#undef RU
#undef LU
#undef UA
#undef RH
#undef T
#undef RT

static int	hub_server_valid(const char *);
static const struct hub_entry *hub_lookup_entry(const char *, const char *);

/*
 * The names a path may carry. A subject ({user}, {service}) is checked while
 * matching: a path naming an invalid one is a 400 whatever follows it; the
 * others once the caller may call the entry.
 */
static const struct hub_name {
	const char	*name;
	size_t		 slot;		/* in struct hub_call */
	int		 subject;
	int		(*valid)(const char *);
	const char	*invalid;	/* the 400's message */
} hub_names[] = {
	{ "user", offsetof(struct hub_call, user), 1, util_user_name_valid,
	    "invalid user name" },
	{ "service", offsetof(struct hub_call, name), 1, util_user_name_valid,
	    "invalid service name (lowercase letters, digits, '_', '-', '.')" },
	{ "server", offsetof(struct hub_call, server), 0, hub_server_valid,
	    "invalid server name (lowercase letters, digits, '_', '.', '-'; "
	    "at most 64)" },
	{ "route*", offsetof(struct hub_call, name), 0, route_name_valid,
	    "route name must be user or user/server (lowercase letters, digits, "
	    "'_', '-', '.')" },
	{ "session", offsetof(struct hub_call, name), 0, NULL, NULL },
	{ "id*", offsetof(struct hub_call, name), 0, NULL, NULL },
	{ "token", offsetof(struct hub_call, name), 0, NULL, NULL },
	{ "page*", offsetof(struct hub_call, name), 0, NULL, NULL },
};

/* Who is calling: known once an entry with a who other than HUB_ANYONE matches. */
enum hub_caller {
	CALLER_UNKNOWN,
	CALLER_NOBODY,		/* no login, no valid token */
	CALLER_SOCKET,		/* the admin socket */
	CALLER_ADMIN,		/* an administrator (cookie or own token) */
	CALLER_USER,		/* any other user (cookie or own token) */
	CALLER_SERVICE,		/* a service's token (outside the API: any token) */
};

struct hub_req {
	struct hub_call		 call;
	enum hub_caller		 caller;
	const struct hub_entry	*allow[8];	/* the path's entries, for a 405 */
	size_t			 nallow;
};

enum { HUB_NONE, HUB_MATCH, HUB_BADNAME };

/* A named server: not the default "" (that is .../server). */
static int
hub_server_valid(const char *s)
{
	return (*s != '\0' && util_server_name_valid(s));
}

static const struct hub_name *
hub_name_find(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < nitems(hub_names); i++)
		if (strlen(hub_names[i].name) == len &&
		    strncmp(hub_names[i].name, name, len) == 0)
			return (&hub_names[i]);
	return (NULL);
}

static char **
hub_slot(struct hub_call *c, const struct hub_name *hn)
{
	return ((char **)(void *)((char *)c + hn->slot));
}

static void
hub_call_clear(struct hub_call *c)
{
	free(c->user);
	free(c->server);
	free(c->name);
	c->user = c->server = c->name = NULL;
}

/*
 * Matches @path against @pattern, capturing the names into @c. HUB_MATCH,
 * HUB_NONE, or HUB_BADNAME (*bad set) if it names an invalid subject before
 * it stops matching. If @self is not NULL, it is the only subject that
 * matches (a user who is not an admin calls for themself only).
 */
static int
hub_match(const char *pattern, const char *path, const char *self,
    struct hub_call *c, const struct hub_name **bad)
{
	const struct hub_name	*hn;
	const char		*p = pattern, *s = path, *end;
	char			**slot;
	size_t			 len;

	hub_call_clear(c);
	while (*p != '\0') {
		if (*p != '{') {
			if (*p++ != *s++)
				return (HUB_NONE);
			continue;
		}
		end = strchr(p, '}');
		hn = hub_name_find(p + 1, end - p - 1);
		len = end[-1] == '*' ? strlen(s) : strcspn(s, "/");
		slot = hub_slot(c, hn);
		*slot = xstrndup(s, len);
		s += len;
		p = end + 1;
		if (!hn->subject && len == 0 && *p != '\0')
			return (HUB_NONE);	/* "//" names nothing */
		if (!hn->subject)
			continue;
		if (self != NULL && strcmp(*slot, self) != 0)
			return (HUB_NONE);
		if (self == NULL && !hn->valid(*slot)) {
			*bad = hn;
			return (HUB_BADNAME);
		}
	}
	return (*s == '\0' ? HUB_MATCH : HUB_NONE);
}

/* Whether @method is one of @e's. */
static int
hub_method(const struct hub_entry *e, const char *method)
{
	const char	*m = e->method;
	size_t		 n = strlen(method), len;

	if (m == NULL)
		return (1);
	for (; *m != '\0'; m += len + (m[len] == ' ')) {
		len = strcspn(m, " ");
		if (len == n && strncmp(m, method, n) == 0)
			return (1);
	}
	return (0);
}

/*
 * Who calls a request: in the API, a 403 (answered) for no token, an
 * unknown one, one that has expired, or a user's that did not log in: the
 * code JupyterHub gives, which its clients rely on (HubAuth takes a 403 from
 * /hub/api/user as "no such user" and anything else as the Hub failing).
 * Outside it (only metrics ask), any valid token without a user is a
 * "service".
 */
static int
hub_caller(struct hub_req *r, int api)
{
	const struct api_req	*ar = r->call.ar;
	const char		*secret = api_bearer(ar);
	const struct auth_token	*tok;
	int			 st;

	if (ar->admin_socket)
		r->caller = CALLER_SOCKET;
	else if (ar->user != NULL) {
		r->caller = config_is_admin(gate->cfg, ar->user) ? CALLER_ADMIN :
		    CALLER_USER;
		/* a user's token with scopes: as a service's, for its user only */
		if (api && secret != NULL && auth_token_lookup(secret, &tok) ==
		    RESULT_OK && !tok->service && tok->scopes != AUTH_SCOPES_ALL &&
		    strcmp(tok->name, ar->user) == 0)
			r->call.tok = tok;
	} else if (!api) {
		r->caller = CALLER_NOBODY;
		if (secret != NULL && auth_token_lookup(secret, &tok) == RESULT_OK)
			r->caller = CALLER_SERVICE;
	} else if (secret == NULL) {
		api_error(r->call.rs, HUB_API_NOAUTH, "authentication "
		    "required: send 'Authorization: token <token>'");
		return (-1);
	} else if ((st = auth_token_lookup(secret, &tok)) != RESULT_OK) {
		gate->stats.login_failures++;
		api_error(r->call.rs, HUB_API_NOAUTH, st == RESULT_EXPIRED ?
		    "this token has expired" :
		    "this token is not valid (unknown or revoked)");
		return (-1);
	} else if (!tok->service) {	/* a user's, but conn_request_user() refused it */
		api_error(r->call.rs, HUB_API_NOAUTH, "this token is not valid");
		return (-1);
	} else {
		r->caller = CALLER_SERVICE;
		r->call.tok = tok;
	}
	return (0);
}

/* Whether the caller may call @e at all (a {user} is checked while matching). */
static int
hub_admits(struct hub_req *r, const struct hub_entry *e)
{
	if (e->who == HUB_PUBLIC)
		return (1);
	if (e->who == HUB_ANYONE)
		return (!r->call.ar->admin_socket);
	if (r->caller == CALLER_UNKNOWN)	/* outside the API: metrics */
		(void)hub_caller(r, 0);
	switch (r->caller) {
	case CALLER_SOCKET:
	case CALLER_ADMIN:
		return (1);
	case CALLER_USER:
		return (e->who == HUB_USER || e->who == HUB_CALLER);
	case CALLER_SERVICE:
		return (e->who == HUB_CALLER || (r->call.tok != NULL && e->scope != 0));
	default:
		return (0);
	}
}

/* 403 naming the scope @tok lacks. */
static void
hub_scope_missing(struct api_resp *rs, const struct auth_token *tok,
    unsigned int need)
{
	char	*have = auth_scopes_text(tok->scopes), *msg;

	if (need & AUTH_SCOPE_READ_USERS)	/* of several, the one to ask for */
		need = AUTH_SCOPE_READ_USERS;
	xasprintf(&msg, "this token lacks the scope '%s' (it has: %s)",
	    auth_scope_name(need), *have != '\0' ? have : "none");
	api_error(rs, 403, msg);
	free(msg);
	free(have);
}

/* A service token may act for {user} and has the scope: 0, or -1 and a 403. */
static int
hub_service_may(struct hub_req *r, const struct hub_entry *e)
{
	const struct hub_call	*c = &r->call;
	char			*msg;

	if (c->tok == NULL || e->who == HUB_CALLER)
		return (0);
	if (e->scope == 0) {	/* a user's token with scopes, at an admin's URL */
		api_error(c->rs, 403, "this token's scopes do not cover this "
		    "endpoint (it needs an administrator's full token)");
		return (-1);
	}
	if (c->user != NULL && r->caller != CALLER_ADMIN &&
	    !auth_token_may_act(c->tok, c->user)) {
		xasprintf(&msg, "this token may not act for %s", c->user);
		api_error(c->rs, 403, msg);
		free(msg);
		return (-1);
	}
	if ((c->tok->scopes & e->scope) == 0) {
		hub_scope_missing(c->rs, c->tok, e->scope);
		return (-1);
	}
	return (0);
}

/*
 * The names that are not subjects, once the caller may call: 0, or -1 and a
 * 400. Before a 405 (@allowed 0) only a name that ends the path counts: it
 * names what the method was for; a name before a sub-resource (.../progress)
 * does not.
 */
static int
hub_names_valid(struct hub_call *c, const struct hub_entry *e, int allowed)
{
	const struct hub_name	*hn;
	const char		*p;
	size_t			 len;

	for (p = strchr(e->path, '{'); p != NULL; p = strchr(p + 1, '{')) {
		len = strcspn(p + 1, "}");
		hn = hub_name_find(p + 1, len);
		if (!allowed && p[len + 2] != '\0')
			continue;
		if (!hn->subject && hn->valid != NULL && !hn->valid(*hub_slot(c, hn))) {
			api_error(c->rs, 400, hn->invalid);
			return (-1);
		}
	}
	return (0);
}

/* Notes @e as an entry of the path taking another method (a 405 names them). */
static void
hub_allow_add(struct hub_req *r, const struct hub_entry *e)
{
	if (r->nallow < nitems(r->allow))
		r->allow[r->nallow++] = e;
}

/* 405 "use GET, POST or DELETE": the first method of each of the path's entries. */
static void
hub_not_allowed(struct hub_req *r)
{
	const char	*m, *sep;
	char		*msg = xstrdup("use"), *old;
	size_t		 i;

	for (i = 0; i < r->nallow; i++) {
		m = r->allow[i]->method;
		sep = i == 0 ? " " : i == r->nallow - 1 ? " or " : ", ";
		old = msg;
		xasprintf(&msg, "%s%s%.*s", old, sep, (int)strcspn(m, " "), m);
		free(old);
	}
	api_error(r->call.rs, 405, msg);
	free(msg);
}

/*
 * JupyterHub's rule for the REST API when the login cookie (not a token
 * header) authenticates a call that may change something: the call comes
 * from the gateway's own origin, carries the XSRF token of the pages
 * (X-XSRFToken header or _xsrf parameter), and a body is JSON.  A page on
 * another site can make the browser send the cookie, but not the token,
 * nor a JSON body without a CORS preflight.  0 to go on; -1 answered.
 */
static int
hub_cookie_call(const struct api_req *ar, struct api_resp *rs)
{
	const char	*m = ar->method, *why, *ct, *tok, *o;
	char		*q = NULL;
	int		 rv = -1;

	if (ar->admin_socket || ar->user == NULL || !conn_request_by_cookie(ar->head) ||
	    strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0)
		return (0);
	if (origin_check(ar->head, ar->tls, &why) == -1) {
		o = http_msg_get(ar->head, "origin");
		log_warnx("%s: user %s: %s %s refused: %s%s%s", ar->peer, ar->user, m,
		    ar->path, why, o != NULL ? ": " : "", o != NULL ? o : "");
		api_error(rs, 403, "cross-site request refused: a call made with the "
		    "login cookie must come from this gateway's own pages");
		gate->stats.cross_origin++;
		return (-1);
	}
	if ((tok = http_msg_get(ar->head, "x-xsrftoken")) == NULL && ar->query != NULL)
		tok = q = api_query_get(ar->query, "_xsrf");
	if (http_msg_count(ar->head, "x-xsrftoken") > 1 ||
	    pages_xsrf_check(ar, tok) == -1) {
		log_warnx("%s: user %s: %s %s refused: no valid XSRF token", ar->peer,
		    ar->user, m, ar->path);
		api_error(rs, 403, "'_xsrf' argument missing or wrong: a call made with "
		    "the login cookie needs the X-XSRFToken header (or use an API token)");
		gate->stats.xsrf_refused++;
		goto out;
	}
	ct = http_msg_get(ar->head, "content-type");
	if (ar->body != NULL && evbuffer_get_length(ar->body) > 0 &&
	    (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))) {
		api_error(rs, 415, "the body must be JSON (Content-Type: application/json)");
		goto out;
	}
	rv = 0;
out:
	free(q);
	return (rv);
}

/*
 * The entry a request calls: its path and method match and the caller may
 * call it. If none: *path_e is one the path matches with another method
 * (its first writing one: that decides who may hear the 405), *bad an
 * invalid subject the path names, *denied set if the caller may call none.
 */
static const struct hub_entry *
hub_find(struct hub_req *r, const struct hub_entry **path_e,
    const struct hub_name **bad, int *denied)
{
	const struct api_req	*ar = r->call.ar;
	const struct hub_entry	*e;
	const struct hub_name	*b;
	const char		*self;
	size_t			 i;
	int			 m;

	for (i = 0; i < nitems(hub_table); i++) {
		e = &hub_table[i];
		self = r->caller == CALLER_USER && e->who == HUB_USER ? ar->user : NULL;
		if ((m = hub_match(e->path, ar->path, self, &r->call, &b)) == HUB_NONE)
			continue;
		if (!hub_admits(r, e)) {
			*denied |= e->who != HUB_ANYONE;
			continue;
		}
		if (m == HUB_BADNAME) {
			if (*bad == NULL)
				*bad = b;
			continue;
		}
		if (hub_method(e, ar->method))
			return (e);
		hub_allow_add(r, e);
		if (*path_e == NULL || (strcmp((*path_e)->method, "GET") == 0 &&
		    strcmp(e->method, "GET") != 0))
			*path_e = e;
	}
	return (NULL);
}

/* The one 401/403 outside the checks of a service token (hub_service_may()). */
static void
hub_deny(struct hub_req *r, int api)
{
	struct api_resp	*rs = r->call.rs;

	if (api)	/* the API's refusals of tokens come before: hub_caller() */
		api_error(rs, 403, "this needs an administrator's token");
	else if (r->caller == CALLER_NOBODY)	/* outside the API only metrics ask */
		api_error(rs, 401, "authentication required: send "
		    "'Authorization: token <an admin's token>'");
	else
		api_error(rs, 403, "metrics need an administrator's token");
}

/* A request no entry answers: 404, or 403 where the caller may not look. */
static void
hub_unmatched(struct hub_req *r, int api, int denied)
{
	const struct api_req	*ar = r->call.ar;
	struct api_resp		*rs = r->call.rs;

	if (api && (r->caller == CALLER_SOCKET || r->caller == CALLER_ADMIN))
		api_error(rs, 404, "no such API endpoint");
	else if (api || denied)
		hub_deny(r, api);
	else if (ar->admin_socket)
		api_error(rs, 404, "the admin socket serves /hub/api/ and /hub/metrics "
		    "only");
	else
		api_page(rs, 404, "Not found", "There is no page at this address.");
}

/* Calls @e; a service acts for {user} as "service:NAME for USER", and is logged. */
static void
hub_exec(struct hub_req *r, const struct hub_entry *e)
{
	struct hub_call		*c = &r->call;
	const struct api_req	*ar = c->ar;
	struct api_req		 sar;
	char			*actor;

	if (r->caller != CALLER_SERVICE || e->who != HUB_USER) {
		e->exec(c);
		return;
	}
	xasprintf(&actor, "service:%s for %s", c->tok->name, c->user);
	sar = *ar;
	sar.actor = actor;
	sar.user = c->user;
	c->ar = &sar;
	e->exec(c);
	c->ar = ar;
	log_tag(c->user, 0, NULL, NULL);
	if (strcmp(ar->method, "GET") == 0)	/* gateways poll */
		log_debug("api: %s %s by %s: %d", ar->method, ar->path, actor,
		    c->rs->code);
	else
		log_info("api: %s %s by %s: %d", ar->method, ar->path, actor,
		    c->rs->code);
	free(actor);
}

/* Answers a request under /hub/ (and /): conn_set_hub()'s. */
void
hub_dispatch(const struct api_req *ar, struct api_resp *rs)
{
	struct hub_req		 r;
	const struct hub_entry	*e, *path_e = NULL;
	const struct hub_name	*bad = NULL;
	int			 api = strncmp(ar->path, "/hub/api/", 9) == 0;
	int			 denied = 0, allowed;

	memset(&r, 0, sizeof r);
	r.call.ar = ar;
	r.call.rs = rs;
	if (api && (e = hub_lookup_entry(ar->method, ar->path)) != NULL &&
	    e->who == HUB_PUBLIC) {	/* no token asked for, none looked at */
		e->exec(&r.call);
		return;
	}
	if (api && (hub_cookie_call(ar, rs) == -1 || hub_caller(&r, 1) == -1))
		return;
	if ((e = hub_find(&r, &path_e, &bad, &denied)) == NULL) {
		if (bad != NULL) {
			api_error(rs, 400, bad->invalid);
			goto out;
		}
		if (path_e == NULL || (path_e->flags & HUB_405) == 0) {
			hub_unmatched(&r, api, denied);
			goto out;
		}
		e = path_e;
		hub_match(e->path, ar->path, NULL, &r.call, &bad);	/* its names */
	}
	allowed = hub_method(e, ar->method);
	if (hub_service_may(&r, e) == -1 || hub_names_valid(&r.call, e, allowed) == -1)
		goto out;
	if (!allowed)
		hub_not_allowed(&r);
	else
		hub_exec(&r, e);
out:
	hub_call_clear(&r.call);
}

/* /hub/metrics: Prometheus text. */
static void
hub_metrics(struct hub_call *c)
{
	c->rs->code = 200;
	c->rs->ctype = "text/plain; version=0.0.4; charset=utf-8";
	c->rs->body = metrics_render();
}

/* /hub/health: for load balancers. */
static void
hub_health(struct hub_call *c)
{
	c->rs->code = 200;
	c->rs->ctype = "text/plain";
	c->rs->body = evbuffer_new();
	evbuffer_add_printf(c->rs->body, "ok\n");
}

/* /, /hub, /hub/: the home page. */
static void
hub_home(struct hub_call *c)
{
	xasprintf(&c->rs->headers, "Location: /hub/home\r\n");
	api_page(c->rs, 302, "nbgate", "Moved to /hub/home.");
}

/* GET /hub/api/usage (usage.c) */
static void
hub_usage(struct hub_call *c)
{
	usage_api(c->ar, c->rs);
}

/* The page dispatchers of login.c, oidc.c and pages.c: a 404 page if not theirs. */
static void
hub_login(struct hub_call *c)
{
	if (!login_dispatch(c->ar, c->rs))
		api_page(c->rs, 404, "Not found", "There is no page at this address.");
}

static void
hub_oidc(struct hub_call *c)
{
	if (!oidc_dispatch(c->ar, c->rs))
		api_page(c->rs, 404, "Not found", "There is no page at this address.");
}

static void
hub_pages(struct hub_call *c)
{
	if (!pages_dispatch(c->ar, c->rs))
		api_page(c->rs, 404, "Not found", "There is no page at this address.");
}

/* The entry @method @path calls whoever asks (NULL if none), for hub_lookup(). */
static const struct hub_entry *
hub_lookup_entry(const char *method, const char *path)
{
	struct hub_call		 c;
	const struct hub_name	*bad;
	const struct hub_entry	*e, *found = NULL;
	size_t			 i;

	memset(&c, 0, sizeof c);
	for (i = 0; i < nitems(hub_table) && found == NULL; i++) {
		e = &hub_table[i];
		if (hub_match(e->path, path, NULL, &c, &bad) == HUB_MATCH &&
		    hub_method(e, method))
			found = e;
	}
	hub_call_clear(&c);
	return (found);
}

/* The pattern of the entry @method @path calls, or NULL (tests). */
const char *
hub_lookup(const char *method, const char *path)
{
	const struct hub_entry	*e = hub_lookup_entry(method, path);

	return (e != NULL ? e->path : NULL);
}

/* A path @pattern matches: each name replaced by "x1" (valid as any name). */
static char *
hub_sample(const char *pattern, char **cause)
{
	const char	*p = pattern, *end;
	char		*s = xstrdup(""), *old;
	size_t		 n;

	while (*p != '\0') {
		n = strcspn(p, "{");
		old = s;
		xasprintf(&s, "%s%.*s", old, (int)n, p);
		free(old);
		if (p[n] == '\0')
			break;
		p += n;
		if ((end = strchr(p, '}')) == NULL || memchr(p + 1, '{', end - p) ||
		    hub_name_find(p + 1, end - p - 1) == NULL ||
		    (end[-1] == '*' && end[1] != '\0')) {
			xasprintf(cause, "%s: a bad name at '%s' ({name}, or {name*} "
			    "last)", pattern, p);
			free(s);
			return (NULL);
		}
		old = s;
		xasprintf(&s, "%sx1", old);
		free(old);
		p = end + 1;
	}
	return (s);
}

/*
 * Tests: every pattern parses, every method is known, the entries of one
 * path agree on who and the 405, and each entry is reached by a path it
 * matches (no earlier entry shadows it). 0, or -1 and *cause.
 */
int
hub_table_check(char **cause)
{
	const struct hub_entry	*e, *f;
	const char		*m;
	char			 method[16];
	char			*sample;
	size_t			 i, j, len;

	for (i = 0; i < nitems(hub_table); i++) {
		e = &hub_table[i];
		if (e->path[0] != '/' || (sample = hub_sample(e->path, cause)) == NULL) {
			if (e->path[0] != '/')
				xasprintf(cause, "%s: not an absolute path", e->path);
			return (-1);
		}
		for (j = 0; j < i; j++) {
			f = &hub_table[j];
			if (strcmp(e->path, f->path) == 0 && (e->who != f->who ||
			    e->flags != f->flags)) {
				xasprintf(cause, "%s: entries disagree on who or 405",
				    e->path);
				free(sample);
				return (-1);
			}
		}
		for (m = e->method != NULL ? e->method : "GET"; *m != '\0';
		    m += len + (m[len] == ' ')) {
			len = strcspn(m, " ");
			snprintf(method, sizeof method, "%.*s", (int)len, m);
			if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 &&
			    strcmp(method, "PUT") != 0 && strcmp(method, "DELETE") != 0) {
				xasprintf(cause, "%s: unknown method '%s'", e->path, method);
				free(sample);
				return (-1);
			}
			if (hub_lookup_entry(method, sample) != e) {
				xasprintf(cause, "%s %s: shadowed by an earlier entry",
				    method, e->path);
				free(sample);
				return (-1);
			}
		}
		free(sample);
	}
	return (0);
}
