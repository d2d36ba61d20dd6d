/*
 * api-servers.c: the REST API of users' servers (JupyterHub's): starting,
 * showing and stopping them, a start's progress; and the admin's view of
 * sessions. The models are api-users.c's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

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
		api_json(rs, 202, api_server_model(c, s));
	free(field);
	free(msg);
	json_decref(j);
}

/* POST /hub/api/users/{user}/server(s/{server})/relaunch: start it again as it last ran. */
void
api_server_relaunch(struct hub_call *c)
{
	const struct session	*s;
	char			*field = NULL, *msg = NULL;
	enum result_kind	 res;
	int			 code;

	if ((s = session_relaunch(c->ar->actor, c->user, api_server_name(c), &res,
	    &field, &msg)) == NULL) {
		code = status_code(res);
		api_json(c->rs, code, json_pack("{s:i,s:s,s:s?}", "status", code,
		    "message", msg, "field", field));
	} else
		api_json(c->rs, 202, api_server_model(c, s));
	free(field);
	free(msg);
}

/*
 * POST /hub/api/users/{user}/server(s/{server})/continue: the same options
 * ahead in a successor job (sessions.continue); 202 with the model, whose
 * state.successor follows it.
 */
void
api_server_continue(struct hub_call *c)
{
	const struct session	*s;
	char			*msg = NULL;
	enum result_kind	 res;
	int			 code;

	if ((res = session_continue(c->ar->actor, c->user, api_server_name(c),
	    &msg)) != RESULT_OK) {
		code = status_code(res);
		api_json(c->rs, code, json_pack("{s:i,s:s}", "status", code, "message",
		    msg));
	} else if ((s = session_find(c->user, api_server_name(c))) != NULL)
		api_json(c->rs, 202, api_server_model(c, s));
	free(msg);
}

/* DELETE /hub/api/users/{user}/server(s/{server}): stop it: 202 while it stops, 204 once stopped. */
void
api_server_stop(struct hub_call *c)
{
	char			*msg = NULL;
	enum result_kind	 res;
	int			 ended;

	if ((res = session_stop(c->ar->actor, c->user, api_server_name(c), &ended,
	    &msg)) == RESULT_NOT_FOUND && session_find(c->user, api_server_name(c)) != NULL)
		c->rs->code = 204;	/* JupyterHub: a stopped server stops at once */
	else if (res != RESULT_OK)
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

	json_t			*j, *d;

	if ((s = api_server_find(c)) == NULL)
		return;
	j = api_server_model(c, s);
	if (json_object_get(j, "state") != NULL) {	/* nbgate's: its journal */
		d = session_json(s, 1);
		json_object_set(j, "events", json_object_get(d, "events"));
		json_decref(d);
	}
	api_json(c->rs, 200, j);
}

/*
 * GET .../server(s/{server})/progress[?until=end]: the session's progress as
 * Server-Sent Events, until it is ready (JupyterHub's) or until it ends.
 */
void
api_progress(struct hub_call *c)
{
	const struct session	*s;
	char			*until;

	if ((s = api_server_find(c)) == NULL)
		return;
	until = api_query_get(c->ar->query, "until");
	if (until != NULL && strcmp(until, "end") != 0)
		api_error(c->rs, 400, "until: only \"end\" is known");
	else
		progress_stream(c->ar->conn, s, until != NULL);
	free(until);
}
