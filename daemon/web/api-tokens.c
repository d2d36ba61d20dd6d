/*
 * api-tokens.c: the REST API of API tokens (auth.c keeps them): a user's,
 * issued by an admin; a service's, with scopes and the users it may act
 * for; the list, revocation; and who the calling token is.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

static json_t *
api_time_json(time_t t)
{
	struct tm	tm;
	char		buf[32];

	if (t == 0)
		return (json_null());
	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return (json_string(buf));
}

static json_t *
api_scopes_json(unsigned int scopes)
{
	json_t		*a = json_array();
	unsigned int	 bit;

	for (bit = 1; bit <= AUTH_SCOPES_ALL; bit <<= 1)
		if (scopes & bit)
			json_array_append_new(a, json_string(auth_scope_name(bit)));
	return (a);
}

/*
 * What a plain user's token may do, and only to that user: JupyterHub's
 * "self".  Not list:users, admin:users or read:hub.
 */
#define API_SELF_SCOPES	(AUTH_SCOPE_SERVERS | AUTH_SCOPE_READ_SERVERS | \
	AUTH_SCOPE_DELETE_SERVERS | AUTH_SCOPE_READ_USERS | \
	AUTH_SCOPE_READ_USERS_ACTIVITY | AUTH_SCOPE_USERS_ACTIVITY | \
	AUTH_SCOPE_ACCESS_SERVERS | AUTH_SCOPE_TOKENS | AUTH_SCOPE_READ_TOKENS | \
	AUTH_SCOPE_SERVER_STATE)

/*
 * @scopes as JupyterHub shows what a token may do: each limited to the
 * @n users with "!user=NAME" (n == 0: unlimited), as its clients check
 * them (HubAuth.check_scopes).  read:hub concerns no user.
 */
static json_t *
api_scopes_json_for(unsigned int scopes, const char *const *users, size_t n)
{
	json_t		*a = json_array();
	unsigned int	 bit;
	size_t		 i;

	for (bit = 1; bit <= AUTH_SCOPES_ALL; bit <<= 1) {
		if ((scopes & bit) == 0)
			continue;
		if (n == 0 || bit == AUTH_SCOPE_READ_HUB) {
			json_array_append_new(a, json_string(auth_scope_name(bit)));
			continue;
		}
		for (i = 0; i < n; i++)
			json_array_append_new(a, json_sprintf("%s!user=%s",
			    auth_scope_name(bit), users[i]));
	}
	return (a);
}

/* A token as the API shows it: never the secret (nbgated does not keep it). */
static json_t *
api_token_json(const struct auth_token *t)
{
	json_t	*j, *users;
	size_t	 i;

	j = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:b}", "id", t->id,
	    "kind", t->service ? "service" : "user", "name", t->name,
	    "scopes", api_scopes_json(t->scopes),
	    "created", api_time_json(t->created),
	    "expires", api_time_json(t->expires),
	    "last_used", api_time_json(t->last_used),
	    "expired", t->expires != 0 && t->expires < time(NULL));
	if (t->service) {
		json_object_set_new(j, "all_users", json_boolean(t->all_users));
		users = json_array();
		for (i = 0; i < t->nusers; i++)
			json_array_append_new(users, json_string(t->users[i]));
		json_object_set_new(j, "users", users);
	}
	return (j);
}

static void
api_token_list_one(const struct auth_token *t, void *arg)
{
	json_array_append_new(arg, api_token_json(t));
}

/* "expires_in" of a token request: seconds (1 .. 10 years); 0 if absent. */
static int
api_expires_in(json_t *j, time_t *expires, struct api_resp *rs)
{
	json_t		*v = json_object_get(j, "expires_in");
	json_int_t	 n;

	*expires = 0;
	if (v == NULL || json_is_null(v))
		return (0);
	n = json_is_integer(v) ? json_integer_value(v) : -1;
	if (n <= 0 || n > 10LL * 366 * 86400) {
		api_error(rs, 400, "expires_in: a number of seconds, 1 to 10 years");
		return (-1);
	}
	*expires = time(NULL) + (time_t)n;
	return (0);
}

/* "scopes" of a token request: a list or a comma string; -1 with a 400 set. */
static int
api_token_scopes(json_t *j, unsigned int *scopes, struct api_resp *rs)
{
	json_t	*sc = json_object_get(j, "scopes"), *v;
	char	*text = NULL, *old, *cause = NULL;
	size_t	 i;
	int	 rv = -1;

	if (json_is_string(sc))
		text = xstrdup(json_string_value(sc));
	else if (json_is_array(sc) && json_array_size(sc) > 0) {
		text = xstrdup("");
		json_array_foreach(sc, i, v) {
			if (!json_is_string(v)) {
				free(text);
				text = NULL;
				break;
			}
			old = text;
			xasprintf(&text, "%s%s%s", old, i > 0 ? "," : "",
			    json_string_value(v));
			free(old);
		}
	}
	if (text == NULL)
		api_error(rs, 400, "scopes: a list of scopes (servers, read:servers, "
		    "read:users)");
	else if (auth_scopes_parse(text, scopes, &cause) == -1) {
		free(text);
		xasprintf(&text, "scopes: %s", cause);
		api_error(rs, 400, text);
	} else
		rv = 0;
	free(text);
	free(cause);
	return (rv);
}

/*
 * "users" (a list of valid names, as a comma list in *users) or
 * "all_users": true (*users NULL) of a service token request; -1 with a 400 set.
 */
static int
api_token_users(json_t *j, char **users, struct api_resp *rs)
{
	json_t	*v = json_object_get(j, "all_users"), *ul = json_object_get(j, "users");
	char	*old, *msg;
	size_t	 i;
	int	 all;

	*users = NULL;
	if (v != NULL && !json_is_boolean(v)) {
		api_error(rs, 400, "all_users: true or false");
		return (-1);
	}
	all = json_is_true(v);
	if (all == (ul != NULL) || (ul != NULL && (!json_is_array(ul) ||
	    json_array_size(ul) == 0 || json_array_size(ul) > 10000))) {
		api_error(rs, 400, "users: the list of users the service may act for, "
		    "or \"all_users\": true (one of the two)");
		return (-1);
	}
	if (all)
		return (0);
	*users = xstrdup("");
	json_array_foreach(ul, i, v) {
		if (!json_is_string(v) || !util_user_name_valid(json_string_value(v))) {
			xasprintf(&msg, "users[%zu]: not a valid user name", i);
			api_error(rs, 400, msg);
			free(msg);
			free(*users);
			*users = NULL;
			return (-1);
		}
		old = *users;
		xasprintf(users, "%s%s%s", old, i > 0 ? "," : "", json_string_value(v));
		free(old);
	}
	return (0);
}

/* POST /hub/api/services/NAME/tokens. */
static void
api_service_token_issue(const struct api_req *ar, struct api_resp *rs,
    const char *name)
{
	json_t		*j = NULL;
	char		*tok, *users = NULL, *text;
	char		 id[AUTH_TOKEN_ID_LEN + 1];
	unsigned int	 scopes = 0;
	time_t		 expires;

	if ((j = api_body_object(ar, rs)) == NULL)
		return;
	if (api_expires_in(j, &expires, rs) == -1)
		goto out;
	if (api_token_scopes(j, &scopes, rs) == -1 ||
	    api_token_users(j, &users, rs) == -1)
		goto out;
	tok = auth_service_issue(name, scopes, users, expires, id);
	text = auth_scopes_text(scopes);
	store_audit(ar->actor, "service-token-issue", name, text);
	log_info("admin: token %s issued for service %s (scopes %s, users %s) by %s",
	    id, name, text, users == NULL ? "all" : users, ar->actor);
	free(text);
	api_json(rs, 201, json_pack("{s:s,s:s,s:s,s:o,s:b,s:o,s:o}", "service", name,
	    "token", tok, "id", id, "scopes", api_scopes_json(scopes), "all_users",
	    users == NULL, "users", users == NULL ? json_array() :
	    json_incref(json_object_get(j, "users")), "expires", api_time_json(expires)));
	freestr(tok);
out:
	free(users);
	json_decref(j);
}

/* GET /hub/api/user: who the token (or cookie) is. */
void
api_whoami(struct hub_call *c)
{
	const struct api_req	*ar = c->ar;
	const struct auth_token	*tok = c->tok;
	json_t			*j, *users, *sc;
	size_t			 i;
	unsigned int		 scopes;
	int			 admin;

	if (tok == NULL && (api_bearer(ar) == NULL ||
	    auth_token_lookup(api_bearer(ar), &tok) != RESULT_OK))
		tok = NULL;

	if (tok != NULL && tok->service) {
		users = json_array();
		for (i = 0; i < tok->nusers; i++)
			json_array_append_new(users, json_string(tok->users[i]));
		j = json_pack("{s:s,s:s,s:o,s:b,s:o,s:s,s:o}", "kind", "service",
		    "name", tok->name, "scopes", api_scopes_json_for(tok->scopes,
		    (const char *const *)tok->users, tok->all_users ? 0 :
		    tok->nusers), "all_users", tok->all_users, "users", users,
		    "token_id", tok->id, "expires", api_time_json(tok->expires));
	} else if (ar->admin_socket) {
		j = json_pack("{s:s,s:s,s:b,s:[s]}", "kind", "admin-socket", "name",
		    ar->actor, "admin", 1, "scopes", "admin");
	} else {
		admin = config_is_admin(gate->cfg, ar->user);
		scopes = tok != NULL ? tok->scopes : AUTH_SCOPES_ALL;
		if (admin && scopes == AUTH_SCOPES_ALL) {
			sc = api_scopes_json_for(scopes, NULL, 0);
			json_array_insert_new(sc, 0, json_string("admin"));
		} else if (admin)	/* a limited admin's token: for anyone */
			sc = api_scopes_json_for(scopes, NULL, 0);
		else
			sc = api_scopes_json_for(scopes & API_SELF_SCOPES,
			    &ar->user, 1);
		j = json_pack("{s:s,s:s,s:b,s:o}", "kind", "user", "name", ar->user,
		    "admin", admin, "scopes", sc);
		if (tok != NULL)
			json_object_set_new(j, "token_id", json_string(tok->id));
	}
	api_json(c->rs, 200, j);
}

/* GET /hub/api/tokens */
void
api_tokens_list(struct hub_call *c)
{
	json_t	*j = json_pack("{s:[]}", "tokens");

	auth_token_foreach(api_token_list_one, json_object_get(j, "tokens"));
	api_json(c->rs, 200, j);
}

/* DELETE /hub/api/tokens/{id} */
void
api_token_revoke(struct hub_call *c)
{
	if (auth_token_revoke_id(c->name) == 0)
		api_error(c->rs, 404, "no token with this id");
	else {
		store_audit(c->ar->actor, "token-revoke-id", c->name, NULL);
		log_info("admin: token %s revoked by %s", c->name, c->ar->actor);
		c->rs->code = 204;
	}
}

/*
 * JupyterHub's token model of a user's token (nbgate's id; "expires" as
 * before besides "expires_at").
 */
static json_t *
api_user_token_json(const struct auth_token *t)
{
	return (json_pack("{s:s,s:s,s:s,s:n,s:[],s:o,s:o?,s:o,s:o,s:o,s:o,s:n}",
	    "id", t->id, "kind", "api_token", "user", t->name, "service",
	    "roles", "scopes", api_scopes_json(t->scopes), "note", t->note != NULL ?
	    json_string(t->note) : NULL,
	    "created", api_time_json(t->created),
	    "expires_at", api_time_json(t->expires),
	    "expires", api_time_json(t->expires),
	    "last_activity", api_time_json(t->last_used), "session_id"));
}

/*
 * A token's "note": absent, null, or text of at most AUTH_TOKEN_NOTE_MAX
 * bytes without control characters (it is shown on pages and in lists);
 * *note points into @j.  0, or -1 answered.
 */
static int
api_token_note(json_t *j, const char **note, struct api_resp *rs)
{
	json_t			*v = json_object_get(j, "note");
	const unsigned char	*p;

	*note = NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_string(v) || json_string_length(v) > AUTH_TOKEN_NOTE_MAX)
		goto bad;
	for (p = (const unsigned char *)json_string_value(v); *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			goto bad;
	*note = json_string_value(v);
	return (0);
bad:
	api_error(rs, 400, "note: text of at most 255 bytes, without control "
	    "characters");
	return (-1);
}

/*
 * POST /hub/api/users/{user}/tokens {"expires_in"?, "scopes"?, "note"?}:
 * without scopes the token may do what its user may; a caller whose own
 * token is limited gives no more than it holds.
 */
static void
api_user_token_issue(struct hub_call *c)
{
	const struct api_req	*ar = c->ar;
	struct api_resp		*rs = c->rs;
	const struct auth_token	*t;
	json_t			*j = NULL, *m;
	char			*tok, id[AUTH_TOKEN_ID_LEN + 1];
	const char		*note;
	unsigned int		 scopes = AUTH_SCOPES_ALL;
	time_t			 expires;

	if (evbuffer_get_length(ar->body) > 0 && (j = api_body_object(ar, rs)) == NULL)
		return;
	if (api_expires_in(j, &expires, rs) == -1 || api_token_note(j, &note, rs) == -1)
		goto out;
	if (json_array_size(json_object_get(j, "roles")) > 0) {
		api_error(rs, 400, "roles: nbgate has no roles; ask for \"scopes\"");
		goto out;
	}
	if (json_object_get(j, "scopes") != NULL && !json_is_null(json_object_get(j,
	    "scopes")) && api_token_scopes(j, &scopes, rs) == -1)
		goto out;
	if (c->tok != NULL && !c->tok->service && (scopes & ~c->tok->scopes) != 0) {
		api_error(rs, 403, "a token may not issue one with scopes it lacks");
		goto out;
	}
	tok = auth_token_issue_scoped(c->user, scopes, expires, id);
	auth_token_note(id, note);
	store_audit(ar->actor, "token-issue", c->user, id);
	log_info("api: API token %s issued for %s by %s", id, c->user, ar->actor);
	if (auth_token_lookup(tok, &t) != RESULT_OK) {
		api_error(rs, 500, "Failed to create token");
		freestr(tok);
		goto out;
	}
	m = api_user_token_json(t);
	json_object_set_new(m, "token", json_string(tok));
	api_json(rs, 201, m);
	freestr(tok);
out:
	json_decref(j);
}

/*
 * POST /hub/api/users/{user}/tokens or /hub/api/services/{service}/tokens
 * {scopes, users | all_users, expires_in?}
 */
void
api_tokens_issue(struct hub_call *c)
{
	if (c->user != NULL)
		api_user_token_issue(c);
	else
		api_service_token_issue(c->ar, c->rs, c->name);
}

struct api_user_tokens {
	const char		*user;
	const char		*id;	/* one, or NULL: all */
	json_t			*list;
	const struct auth_token	*found;
};

static void
api_user_token_one(const struct auth_token *t, void *arg)
{
	struct api_user_tokens	*a = arg;

	if (t->service || strcmp(t->name, a->user) != 0)
		return;
	if (a->id != NULL) {
		if (strcmp(t->id, a->id) == 0)
			a->found = t;
	} else if (t->expires == 0 || t->expires >= time(NULL))
		json_array_append_new(a->list, api_user_token_json(t));
}

/* GET /hub/api/users/{user}/tokens: {"api_tokens": [...]}, expired ones left out. */
void
api_user_tokens_list(struct hub_call *c)
{
	struct api_user_tokens	a = { c->user, NULL, json_array(), NULL };

	auth_token_foreach(api_user_token_one, &a);
	api_json(c->rs, 200, json_pack("{s:o}", "api_tokens", a.list));
}

/* The token {token} of {user}, or NULL and JupyterHub's 404. */
static const struct auth_token *
api_user_token_find(struct hub_call *c)
{
	struct api_user_tokens	 a = { c->user, c->name, NULL, NULL };
	char			*msg;

	auth_token_foreach(api_user_token_one, &a);
	if (a.found == NULL) {
		xasprintf(&msg, "No such token %s for user %s", c->name, c->user);
		api_error(c->rs, 404, msg);
		free(msg);
	}
	return (a.found);
}

/* GET /hub/api/users/{user}/tokens/{token} */
void
api_user_token_get(struct hub_call *c)
{
	const struct auth_token	*t;

	if ((t = api_user_token_find(c)) != NULL)
		api_json(c->rs, 200, api_user_token_json(t));
}

/* DELETE /hub/api/users/{user}/tokens/{token}: 204. */
void
api_user_token_del(struct hub_call *c)
{
	if (api_user_token_find(c) == NULL)
		return;
	auth_token_revoke_id(c->name);
	store_audit(c->ar->actor, "token-revoke-id", c->name, c->user);
	log_info("api: token %s of %s revoked by %s", c->name, c->user, c->ar->actor);
	c->rs->code = 204;
}

/* DELETE /hub/api/users/{user}/tokens or .../services/{service}/tokens: all of them. */
void
api_tokens_revoke(struct hub_call *c)
{
	const char	*name = c->user != NULL ? c->user : c->name;

	if (c->user != NULL) {
		store_audit(c->ar->actor, "token-revoke", name, NULL);
		api_json(c->rs, 200, json_pack("{s:s,s:i}", "user", name,
		    "revoked", auth_token_revoke_user(name)));
		return;
	}
	store_audit(c->ar->actor, "service-token-revoke", name, NULL);
	log_info("admin: the tokens of service %s revoked by %s", name, c->ar->actor);
	api_json(c->rs, 200, json_pack("{s:s,s:i}", "service", name,
	    "revoked", auth_token_revoke_service(name)));
}
