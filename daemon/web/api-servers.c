/*
 * api-servers.c: the REST API of users and their servers (JupyterHub's):
 * user models, starting, showing and stopping servers, a start's progress;
 * and the admin's view of sessions.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

struct api_user_acc {
	const char	*user;
	json_t		*servers;
};

/* JupyterHub lists only servers that are not stopped in "servers". */
static void
api_user_server(const struct session *s, void *arg)
{
	struct api_user_acc	*acc = arg;

	if (strcmp(session_user(s), acc->user) != 0 ||
	    session_state(s) == SESSION_ENDED)
		return;
	json_object_set_new(acc->servers, session_server(s), session_json(s, 0));
}

/* JupyterHub's user model: name, admin, server, pending, servers. */
static json_t *
api_user_model(const char *user)
{
	struct api_user_acc	 acc = { user, json_object() };
	json_t		*def, *j;
	const char	*pending = NULL;

	session_foreach(api_user_server, &acc);
	def = json_object_get(acc.servers, "");
	if (def != NULL && json_is_string(json_object_get(def, "pending")))
		pending = json_string_value(json_object_get(def, "pending"));
	j = json_pack("{s:s,s:s,s:b,s:s?,s:s?,s:O,s:o}",
	    "kind", "user", "name", user,
	    "admin", config_is_admin(gate->cfg, user),
	    "server", def != NULL && json_is_true(json_object_get(def, "ready")) ?
	    json_string_value(json_object_get(def, "url")) : NULL,
	    "pending", pending,
	    "last_activity", def != NULL ? json_object_get(def, "last_activity") :
	    json_null(),
	    "servers", acc.servers);
	return (j);
}

static void
api_user_name(const struct session *s, void *arg)
{
	json_t	*names = arg;

	json_object_set_new(names, session_user(s), json_true());
}

struct api_filter {
	const char	*user;
	const char	*state;
	json_t		*list;
};

static void
api_session_filter(const struct session *s, void *arg)
{
	struct api_filter	*f = arg;

	if ((f->user != NULL && strcmp(f->user, session_user(s)) != 0) ||
	    (f->state != NULL && strcmp(f->state, session_state_name(
	    session_state(s))) != 0))
		return;
	json_array_append_new(f->list, session_json(s, 0));
}

/* GET /hub/api/users for a service: the users it may act for. */
static void
api_service_users(struct api_resp *rs, const struct auth_token *tok)
{
	json_t		*list = json_array(), *names, *v;
	const char	*k;
	size_t		 i;

	if (tok->all_users) {
		names = json_object();
		session_foreach(api_user_name, names);
		json_object_foreach(names, k, v)
			json_array_append_new(list, api_user_model(k));
		json_decref(names);
	} else
		for (i = 0; i < tok->nusers; i++)
			json_array_append_new(list, api_user_model(tok->users[i]));
	if ((tok->scopes & AUTH_SCOPE_READ_SERVERS) == 0)
		json_array_foreach(list, i, v)
			json_object_del(v, "servers");
	api_json(rs, 200, list);
}

/* GET /hub/api/users: every user with a session; a service's, those it may act for. */
void
api_users_list(struct hub_call *c)
{
	json_t		*names, *list, *v;
	const char	*k;

	if (c->tok != NULL) {
		api_service_users(c->rs, c->tok);
		return;
	}
	names = json_object();
	list = json_array();
	session_foreach(api_user_name, names);
	json_object_foreach(names, k, v)
		json_array_append_new(list, api_user_model(k));
	json_decref(names);
	api_json(c->rs, 200, list);
}

/* GET /hub/api/users/{user}: the model; without servers for a service lacking read:servers. */
void
api_user_get(struct hub_call *c)
{
	json_t	*model = api_user_model(c->user);

	if (c->tok != NULL && (c->tok->scopes & AUTH_SCOPE_READ_SERVERS) == 0)
		json_object_del(model, "servers");
	api_json(c->rs, 200, model);
}

/* GET /hub/api/sessions[?user=U&state=S] */
void
api_sessions_list(struct hub_call *c)
{
	struct api_filter	 f;
	char			*user, *state;

	user = api_query_get(c->ar->query, "user");
	state = api_query_get(c->ar->query, "state");
	f.user = user;
	f.state = state;
	f.list = json_array();
	session_foreach(api_session_filter, &f);
	api_json_list(c->rs, "sessions", f.list);
	free(user);
	free(state);
}

/* GET /hub/api/sessions/{session}: one, by its number. */
void
api_session_get(struct hub_call *c)
{
	const struct session	*s;
	char			*end;
	long long		 id;

	id = strtoll(c->name, &end, 10);
	if (*end != '\0' || id <= 0)
		api_error(c->rs, 404, "no such API endpoint");
	else if ((s = session_by_id(id)) == NULL)
		api_error(c->rs, 404, "no such session in memory (ended sessions are "
		    "kept in the database's journal)");
	else
		api_json(c->rs, 200, session_json(s, 1));
}

/* The server a call names: {server}, or the default "" for .../server. */
static const char *
api_server_name(const struct hub_call *c)
{
	return (c->server != NULL ? c->server : "");
}

/*
 * POST /hub/api/users/{user}/server and .../servers/{server}: start it. The
 * body is the spawn options, either as {"user_options": {...}} or as the
 * object itself.
 */
void
api_server_start(struct hub_call *c)
{
	const struct api_req	*ar = c->ar;
	struct api_resp		*rs = c->rs;
	const struct session	*s;
	json_t			*j = NULL, *opts = NULL;
	char			*field = NULL, *msg = NULL;
	enum result_kind	 res;
	int			 code;

	if (evbuffer_get_length(ar->body) > 0) {
		if ((j = api_body_object(ar, rs)) == NULL)
			return;
		opts = json_object_get(j, "user_options");
		if (opts == NULL)
			opts = j;
		else if (!json_is_object(opts)) {
			api_error(rs, 400, "user_options must be an object");
			json_decref(j);
			return;
		}
	}
	if ((s = session_start(ar->actor, c->user, api_server_name(c), opts, &res,
	    &field, &msg)) == NULL) {
		code = status_code(res);
		api_json(rs, code, json_pack("{s:i,s:s,s:s?}", "status", code,
		    "message", msg, "field", field));
	} else
		api_json(rs, 202, session_json(s, 0));
	free(field);
	free(msg);
	json_decref(j);
}

/* DELETE /hub/api/users/{user}/server(s/{server}): stop it. */
void
api_server_stop(struct hub_call *c)
{
	char			*msg = NULL;
	enum result_kind	 res;
	int			 ended;

	if ((res = session_stop(c->ar->actor, c->user, api_server_name(c), &ended,
	    &msg)) != RESULT_OK)
		api_error(c->rs, status_code(res), msg);
	else
		c->rs->code = ended ? 204 : 202;
	free(msg);
}

/* The session of the server a call names, or NULL and a 404. */
static const struct session *
api_server_find(struct hub_call *c)
{
	const struct session	*s = session_find(c->user, api_server_name(c));

	if (s == NULL)
		api_error(c->rs, 404, "no such server");
	return (s);
}

/* GET /hub/api/users/{user}/server(s/{server}): show it. */
void
api_server_get(struct hub_call *c)
{
	const struct session	*s;

	if ((s = api_server_find(c)) != NULL)
		api_json(c->rs, 200, session_json(s, 1));
}

/* GET .../server(s/{server})/progress: the session's progress as Server-Sent Events. */
void
api_progress(struct hub_call *c)
{
	const struct session	*s;

	if ((s = api_server_find(c)) != NULL)
		progress_stream(c->ar->conn, s);
}
