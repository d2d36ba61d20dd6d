/*
 * api.c: what nbgated answers itself under /hub/: the admin REST API (JSON,
 * over the local admin socket or with an admin's token), one-time login
 * links and logout; the HTML pages are pages.c's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/daemon.h"
#include "scheduler/scheduler.h"

static void
api_json(struct api_resp *rs, int code, json_t *j)
{
	char	*s = json_dumps(j, JSON_COMPACT);

	rs->code = code;
	rs->ctype = "application/json";
	rs->body = evbuffer_new();
	evbuffer_add_printf(rs->body, "%s\n", s);
	free(s);
	json_decref(j);
}

static void
api_error(struct api_resp *rs, int code, const char *msg)
{
	api_json(rs, code, json_pack("{s:i,s:s}", "status", code, "message", msg));
}

static void
api_page(struct api_resp *rs, int code, const char *title, const char *text)
{
	rs->code = code;
	rs->ctype = "text/html; charset=utf-8";
	rs->body = http_page(code, title, text);
}

/* Parses a JSON object body; NULL with a 400 already set otherwise. */
static json_t *
api_body_object(const struct api_req *ar, struct api_resp *rs)
{
	json_error_t	 err;
	json_t		*j;
	size_t		 len = evbuffer_get_length(ar->body);
	const char	*ct = http_msg_get(ar->head, "content-type");
	char		*msg;

	if (ct != NULL && strncasecmp(ct, "application/json", 16) != 0) {
		api_error(rs, 415, "the body must be application/json");
		return (NULL);
	}
	j = json_loadb((const char *)evbuffer_pullup(ar->body, -1), len, 0, &err);
	if (j == NULL || !json_is_object(j)) {
		xasprintf(&msg, "the body is not a JSON object: %s",
		    j == NULL ? err.text : "wrong type");
		api_error(rs, 400, msg);
		free(msg);
		json_decref(j);
		return (NULL);
	}
	return (j);
}

static void
api_route_json(struct route *r, void *arg)
{
	json_t	*list = arg;
	char	*fp = NULL;
	unsigned char *hash = NULL;
	size_t	 hlen;

	if (route_key(r) != NULL && ssh_get_publickey_hash(route_key(r),
	    SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0) {
		fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
		ssh_clean_pubkey_hash(&hash);
	}
	json_array_append_new(list, json_pack("{s:s,s:s,s:b,s:b,s:s?,s:I}",
	    "name", route_name(r), "owner", route_owner(r),
	    "connected", route_tunnel(r) != NULL,
	    "enrolling", route_enroll_hex(r) != NULL,
	    "key_fingerprint", fp,
	    "created", (json_int_t)route_created(r)));
	ssh_string_free_char(fp);
}

static void
api_status(struct api_resp *rs)
{
	api_json(rs, 200, json_pack("{s:s,s:s?,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "version", PACKAGE_VERSION,
	    "ssh_fingerprint", gate->sshd != NULL ? sshd_fingerprint(gate->sshd) : NULL,
	    "https_port", gate->https_port,
	    "ssh_port", gate->ssh_port,
	    "uptime", (json_int_t)(time(NULL) - gate->started),
	    "routes", (json_int_t)route_count(),
	    "tunnels", (json_int_t)route_count_connected(),
	    "connections", (json_int_t)gate->stats.conns,
	    "websockets", (json_int_t)gate->stats.websockets,
	    "requests", (json_int_t)gate->stats.requests,
	    "bytes_up", (json_int_t)gate->stats.bytes_up,
	    "bytes_down", (json_int_t)gate->stats.bytes_down,
	    "refused", (json_int_t)gate->stats.refused));
}

static void
api_route_add(const struct api_req *ar, struct api_resp *rs, const char *name)
{
	json_t		*j;
	const char	*keytext = NULL, *token = NULL, *job = NULL;
	char		*cause = NULL, *text = NULL, *owner = NULL, *secret = NULL;
	struct route	*r;
	ssh_key		 key = NULL;
	int		 enroll = 0;

	if ((j = api_body_object(ar, rs)) == NULL)
		return;
	if (json_unpack(j, "{s?s,s?s,s?b,s?s}", "key", &keytext, "token", &token,
	    "enroll", &enroll, "job_id", &job) != 0 || (keytext == NULL) == !enroll) {
		api_error(rs, 400, "fields: either \"key\" (the agent's OpenSSH public key "
		    "line) or \"enroll\": true (the agent enrolls with a one-time secret, "
		    "optionally bound to \"job_id\"); \"token\" (the notebook's token) is "
		    "optional");
		goto out;
	}
	if (job != NULL && (*job == '\0' || strlen(job) > 64 || job[strspn(job,
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._-[]")] != '\0')) {
		api_error(rs, 400, "job_id: letters, digits, '.', '_', '-', '[', ']' only");
		goto out;
	}
	if (keytext != NULL && (key = route_key_parse(keytext, &cause)) == NULL) {
		xasprintf(&text, "key: %s", cause);
		api_error(rs, 400, text);
		goto out;
	}
	owner = xstrndup(name, strcspn(name, "/"));
	if ((r = route_add(name, owner, key, token, &cause)) == NULL) {	/* key transferred */
		api_error(rs, 400, cause);
		goto out;
	}
	if (enroll)
		secret = route_enroll_begin(r, job);
	store_route_put(r);
	text = route_key_text(route_key(r));
	store_audit(ar->actor, enroll ? "route-add-enroll" : "route-add", name,
	    enroll ? job : text);
	log_info("admin: route %s added for %s by %s%s", name, owner, ar->actor,
	    enroll ? " (waiting for its agent to enroll)" : "");
	api_json(rs, 201, json_pack("{s:s,s:s,s:s?}", "name", name, "owner", owner,
	    "enrollment", secret));
out:
	freestr(secret);
	free(owner);
	free(cause);
	free(text);
	json_decref(j);
}

static void
api_login_url(const struct api_req *ar, struct api_resp *rs, const char *user)
{
	char	*code = auth_code_issue(user), *url;

	if (gate->cfg->public_url != NULL && gate->cfg->public_url[0] != '\0')
		xasprintf(&url, "%s/hub/login/once?code=%s", gate->cfg->public_url, code);
	else if (!ar->admin_socket && ar->host != NULL)
		xasprintf(&url, "https://%s/hub/login/once?code=%s", ar->host, code);
	else
		xasprintf(&url, "https://localhost:%d/hub/login/once?code=%s",
		    gate->https_port, code);
	store_audit(ar->actor, "login-link", user, NULL);
	log_info("admin: one-time login link made for %s by %s", user, ar->actor);
	api_json(rs, 201, json_pack("{s:s,s:s,s:i}", "user", user, "url", url,
	    "expires_in", 300));
	freestr(url);
	freestr(code);
}

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

/* A query parameter's value (owned), or NULL. */
static char *
api_query_get(const char *q, const char *name)
{
	size_t	 n = strlen(name), len;

	while (q != NULL && *q != '\0') {
		len = strcspn(q, "&");
		if (len > n && strncmp(q, name, n) == 0 && q[n] == '=')
			return (xstrndup(q + n + 1, len - n - 1));
		q += len + (q[len] == '&');
	}
	return (NULL);
}

static void
api_sessions(const struct api_req *ar, struct api_resp *rs, const char *p)
{
	struct api_filter	 f;
	const struct session	*s;
	char			*user, *state, *end;
	long long		 id;

	if (*p == '\0') {
		user = api_query_get(ar->query, "user");
		state = api_query_get(ar->query, "state");
		f.user = user;
		f.state = state;
		f.list = json_array();
		session_foreach(api_session_filter, &f);
		api_json(rs, 200, json_pack("{s:o}", "sessions", f.list));
		free(user);
		free(state);
		return;
	}
	id = strtoll(p + 1, &end, 10);
	if (*p != '/' || *end != '\0' || id <= 0)
		api_error(rs, 404, "no such API endpoint");
	else if ((s = session_by_id(id)) == NULL)
		api_error(rs, 404, "no such session in memory (ended sessions are "
		    "kept in the database's journal)");
	else
		api_json(rs, 200, session_json(s, 1));
}

/*
 * POST/DELETE /hub/api/users/{user}/server and .../servers/{server};
 * GET .../server(s/{server}) shows one. The body of a POST is the spawn
 * options, either as {"user_options": {...}} or as the object itself.
 */
static void
api_server(const struct api_req *ar, struct api_resp *rs, const char *user,
    const char *server)
{
	const struct session	*s;
	json_t			*j = NULL, *opts = NULL;
	char			*field = NULL, *msg = NULL;
	int			 code;

	if (!jobreq_server_valid(server) || (*server == '\0' &&
	    strstr(ar->path, "/servers/") != NULL)) {
		api_error(rs, 400, "invalid server name (lowercase letters, digits, "
		    "'_', '.', '-'; at most 64)");
		return;
	}
	if (strcmp(ar->method, "POST") == 0) {
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
		if ((s = session_start(ar->actor, user, server, opts, &code, &field,
		    &msg)) == NULL) {
			api_json(rs, code, json_pack("{s:i,s:s,s:s?}", "status", code,
			    "message", msg, "field", field));
		} else
			api_json(rs, code, session_json(s, 0));
		free(field);
		free(msg);
		json_decref(j);
	} else if (strcmp(ar->method, "DELETE") == 0) {
		if (session_stop(ar->actor, user, server, &code, &msg) == -1)
			api_error(rs, code, msg);
		else
			rs->code = code;
		free(msg);
	} else if (strcmp(ar->method, "GET") == 0) {
		if ((s = session_find(user, server)) == NULL)
			api_error(rs, 404, "no such server");
		else
			api_json(rs, 200, session_json(s, 1));
	} else
		api_error(rs, 405, "use GET, POST or DELETE");
}

/* A string field of @j, or NULL. */
static const char *
api_str(const json_t *j, const char *key)
{
	return (json_string_value(json_object_get(j, key)));
}

/* The progress message for phase @st, from the server model's "state" @v (owned). */
static char *
api_progress_message(enum session_state st, const json_t *v, const char *url)
{
	const char	*job = api_str(v, "job_id"), *why = api_str(v, "reason");
	const char	*cl = api_str(v, "cluster"), *node = api_str(v, "node");
	const char	*sr = api_str(v, "scheduler_reason");
	const char	*eta = api_str(v, "estimated_start");
	char		*m;

	if (job == NULL)
		job = "";
	if (cl == NULL)
		cl = "the cluster";
	switch (st) {
	case SESSION_REQUESTED:
		xasprintf(&m, "Preparing the job for %s", cl);
		break;
	case SESSION_SUBMITTED:
		xasprintf(&m, "Job %s submitted to %s", job, cl);
		break;
	case SESSION_QUEUED:
		xasprintf(&m, "Job %s is queued on %s%s%s%s%s", job, cl,
		    sr != NULL ? ": " : "", sr != NULL ? sr : "",
		    eta != NULL ? "; estimated start " : "", eta != NULL ? eta : "");
		break;
	case SESSION_STARTING:
		xasprintf(&m, "Job %s runs on %s; the notebook is starting", job,
		    node != NULL ? node : "a compute node");
		break;
	case SESSION_RUNNING:
		xasprintf(&m, "Server ready at %s", url);
		break;
	case SESSION_STOPPING:
		xasprintf(&m, "The server is stopping%s%s", why != NULL ? ": " : "",
		    why != NULL ? why : "");
		break;
	case SESSION_ENDED:
		xasprintf(&m, "The server ended%s%s", why != NULL ? ": " : "",
		    why != NULL ? why : "");
		break;
	default:
		xasprintf(&m, "the scheduler cannot be reached%s%s",
		    why != NULL ? ": " : "", why != NULL ? why : "");
		break;
	}
	return (m);
}

/*
 * One event of a progress stream (JupyterHub's shape, plus phase, session
 * and job_id) for @s now, owned; *final says the stream ends with it.
 */
json_t *
api_progress_event(const struct session *s, int *final)
{
	static const int pct[SESSION_NSTATES] = {
		[SESSION_REQUESTED] = 10, [SESSION_SUBMITTED] = 20,
		[SESSION_QUEUED] = 30, [SESSION_STARTING] = 60,
		[SESSION_RUNNING] = 100, [SESSION_STOPPING] = 90,
		[SESSION_ENDED] = 100, [SESSION_UNKNOWN] = 30,
	};
	enum session_state	 st = session_state(s);
	json_t			*m = session_json(s, 0), *v, *ev;
	const char		*url = api_str(m, "url"), *err;
	char			*msg;

	if (url == NULL)	/* session_json() failed: say what is known */
		url = "";
	v = json_object_get(m, "state");
	msg = api_progress_message(st, v, url);
	ev = json_pack("{s:i,s:s,s:s,s:I,s:O}", "progress", pct[st], "message", msg,
	    "phase", session_state_name(st), "session", (json_int_t)session_id(s),
	    "job_id", json_object_get(v, "job_id") != NULL ?
	    json_object_get(v, "job_id") : json_null());
	*final = st == SESSION_RUNNING || st == SESSION_ENDED;
	if (st == SESSION_RUNNING) {
		json_object_set_new(ev, "ready", json_true());
		json_object_set_new(ev, "url", json_string(url));
	} else if (st == SESSION_ENDED) {
		json_object_set_new(ev, "failed", json_true());
		err = api_str(v, "error_output");
		json_object_set_new(ev, "error_output", err != NULL ?
		    json_string(err) : json_null());
	}
	free(msg);
	json_decref(m);
	return (ev);
}

/* ".../server/progress" or ".../servers/NAME/progress": the name (owned), or NULL. */
static char *
api_progress_server(const char *p)
{
	size_t	n;

	if (strcmp(p, "/server/progress") == 0)
		return (xstrdup(""));
	if (strncmp(p, "/servers/", 9) != 0)
		return (NULL);
	p += 9;
	n = strcspn(p, "/");
	if (n == 0 || strcmp(p + n, "/progress") != 0)
		return (NULL);
	return (xstrndup(p, n));
}

/* GET .../progress: checks what conn.c then streams (Server-Sent Events). */
static void
api_progress(const struct api_req *ar, struct api_resp *rs, const char *user,
    const char *server)
{
	const struct session	*s;

	if (strcmp(ar->method, "GET") != 0)
		api_error(rs, 405, "use GET");
	else if (!jobreq_server_valid(server))
		api_error(rs, 400, "invalid server name (lowercase letters, digits, "
		    "'_', '.', '-'; at most 64)");
	else if ((s = session_find(user, server)) == NULL)
		api_error(rs, 404, "no such server");
	else {
		rs->code = 200;
		rs->ctype = "text/event-stream";
		rs->progress = session_id(s);
	}
}

/* /hub/api/users/{user}/...: what a user may do for themself (and admins for anyone). */
static int
api_user_self(const struct api_req *ar, struct api_resp *rs, const char *user,
    const char *p)
{
	char	*server;

	if (*p == '\0' && strcmp(ar->method, "GET") == 0) {
		api_json(rs, 200, api_user_model(user));
		return (1);
	}
	if ((server = api_progress_server(p)) != NULL) {
		api_progress(ar, rs, user, server);
		free(server);
		return (1);
	}
	if (strcmp(p, "/server") == 0) {
		api_server(ar, rs, user, "");
		return (1);
	}
	if (strncmp(p, "/servers/", 9) == 0 && strchr(p + 9, '/') == NULL) {
		server = xstrdup(p + 9);
		api_server(ar, rs, user, server);
		free(server);
		return (1);
	}
	return (0);
}

/* The admin REST API: /hub/api/...; the caller checked admin rights. */
static void
api_admin(const struct api_req *ar, struct api_resp *rs)
{
	const char	*p = ar->path + strlen("/hub/api/"), *m = ar->method;
	char		*user = NULL, *tok;
	size_t		 n;

	if (strcmp(p, "status") == 0 && strcmp(m, "GET") == 0) {
		api_status(rs);
	} else if (strcmp(p, "routes") == 0 && strcmp(m, "GET") == 0) {
		json_t *list = json_array();
		route_foreach(api_route_json, list);
		api_json(rs, 200, json_pack("{s:o}", "routes", list));
	} else if (strncmp(p, "routes/", 7) == 0) {
		p += 7;
		if (!route_name_valid(p))
			api_error(rs, 400, "route name must be user or user/server "
			    "(lowercase letters, digits, '_', '-', '.')");
		else if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0)
			api_route_add(ar, rs, p);
		else if (strcmp(m, "DELETE") == 0) {
			if (route_remove(p) == 0) {
				store_route_del(p);
				store_audit(ar->actor, "route-del", p, NULL);
				log_info("admin: route %s removed by %s", p, ar->actor);
				rs->code = 204;
			} else
				api_error(rs, 404, "no such route");
		} else
			api_error(rs, 405, "use POST or DELETE");
	} else if (strcmp(p, "users") == 0 && strcmp(m, "GET") == 0) {
		json_t *names = json_object(), *list = json_array(), *v;
		const char *k;
		session_foreach(api_user_name, names);
		json_object_foreach(names, k, v)
			json_array_append_new(list, api_user_model(k));
		json_decref(names);
		api_json(rs, 200, list);
	} else if (strncmp(p, "sessions", 8) == 0 && strcmp(m, "GET") == 0) {
		api_sessions(ar, rs, p + 8);
	} else if (strcmp(p, "usage") == 0 && strcmp(m, "GET") == 0) {
		usage_api(ar, rs);
	} else if (strcmp(p, "orphans") == 0 && strcmp(m, "POST") == 0) {
		session_orphan_sweep();
		rs->code = 202;
	} else if (strncmp(p, "users/", 6) == 0) {
		p += 6;
		n = strcspn(p, "/");
		user = xstrndup(p, n);
		p += n;
		if (!jobreq_user_valid(user))
			api_error(rs, 400, "invalid user name");
		else if (api_user_self(ar, rs, user, p))
			;
		else if (strcmp(p, "/tokens") == 0 && strcmp(m, "POST") == 0) {
			tok = auth_token_issue(user);
			store_audit(ar->actor, "token-issue", user, NULL);
			log_info("admin: API token issued for %s by %s", user, ar->actor);
			api_json(rs, 201, json_pack("{s:s,s:s}", "user", user, "token", tok));
			freestr(tok);
		} else if (strcmp(p, "/tokens") == 0 && strcmp(m, "DELETE") == 0) {
			store_audit(ar->actor, "token-revoke", user, NULL);
			api_json(rs, 200, json_pack("{s:s,s:i}", "user", user,
			    "revoked", auth_token_revoke_user(user)));
		} else if (strcmp(p, "/login-url") == 0 && strcmp(m, "POST") == 0)
			api_login_url(ar, rs, user);
		else
			api_error(rs, 404, "no such API endpoint");
	} else
		api_error(rs, 404, "no such API endpoint");
	free(user);
}

static void
api_login_once(const struct api_req *ar, struct api_resp *rs)
{
	const char	*q = ar->query;
	char		*code, *user, *cookie;

	if (q == NULL || strncmp(q, "code=", 5) != 0) {
		api_page(rs, 400, "Login link incomplete", "The link has no login code.");
		return;
	}
	code = xstrndup(q + 5, strcspn(q + 5, "&"));
	user = auth_code_redeem(code);
	freestr(code);
	if (user == NULL) {
		gate->stats.login_failures++;
		log_info("login: a login link was refused (used, expired or wrong)");
		api_page(rs, 403, "Login link not valid",
		    "This login link was already used or has expired. Ask your "
		    "administrator for a new one.");
		return;
	}
	cookie = auth_cookie_make(user, gate->cfg->cookie_max_age);
	xasprintf(&rs->headers, "Set-Cookie: %s=%s; Path=/; Max-Age=%d; HttpOnly; "
	    "Secure; SameSite=Lax\r\nLocation: /user/%s/\r\n", AUTH_COOKIE, cookie,
	    gate->cfg->cookie_max_age, user);
	log_info("login: %s logged in with a one-time link", user);
	freestr(cookie);
	api_page(rs, 302, "Logged in", "You are logged in; opening your notebook.");
	free(user);
}

/* A user's own servers: /hub/api/users/<self>[/server[s/NAME]]; 1 if answered. */
static int
api_own(const struct api_req *ar, struct api_resp *rs)
{
	const char	*p = ar->path + strlen("/hub/api/users/");
	size_t		 n = strlen(ar->user);

	if (strncmp(ar->path, "/hub/api/users/", 15) != 0 ||
	    strncmp(p, ar->user, n) != 0 || (p[n] != '\0' && p[n] != '/'))
		return (0);
	return (api_user_self(ar, rs, ar->user, p + n));
}

/* Answers a request nbgated serves itself. */
void
api_dispatch(const struct api_req *ar, struct api_resp *rs)
{
	const char	*path = ar->path;

	if (strncmp(path, "/hub/api/", 9) == 0) {
		if (ar->admin_socket || (ar->user != NULL &&
		    config_is_admin(gate->cfg, ar->user)))
			api_admin(ar, rs);
		else if (ar->user != NULL && api_own(ar, rs))
			;
		else if (ar->user == NULL)
			api_error(rs, 401, "authentication required: send "
			    "'Authorization: token <token>'");
		else
			api_error(rs, 403, "this needs an administrator's token");
	} else if (strcmp(path, "/hub/metrics") == 0) {
		if (!ar->admin_socket && ar->user == NULL)
			api_error(rs, 401, "authentication required: send "
			    "'Authorization: token <an admin's token>'");
		else if (!ar->admin_socket && !config_is_admin(gate->cfg, ar->user))
			api_error(rs, 403, "metrics need an administrator's token");
		else {
			rs->code = 200;
			rs->ctype = "text/plain; version=0.0.4; charset=utf-8";
			rs->body = metrics_render();
		}
	} else if (ar->admin_socket)
		api_error(rs, 404, "the admin socket serves /hub/api/ and /hub/metrics only");
	else if (strcmp(path, "/hub/health") == 0) {
		rs->code = 200;
		rs->ctype = "text/plain";
		rs->body = evbuffer_new();
		evbuffer_add_printf(rs->body, "ok\n");
	} else if (strcmp(path, "/hub/login/once") == 0)
		api_login_once(ar, rs);
	else if (strcmp(path, "/hub/logout") == 0) {
		xasprintf(&rs->headers, "Set-Cookie: %s=; Path=/; Max-Age=0; HttpOnly; "
		    "Secure; SameSite=Lax\r\n", AUTH_COOKIE);
		api_page(rs, 200, "Logged out", "You are logged out.");
	} else if (login_dispatch(ar, rs) || pages_dispatch(ar, rs))
		;
	else if (strcmp(path, "/") == 0 || strcmp(path, "/hub") == 0 ||
	    strcmp(path, "/hub/") == 0) {
		xasprintf(&rs->headers, "Location: /hub/home\r\n");
		api_page(rs, 302, "nbgate", "Moved to /hub/home.");
	} else
		api_page(rs, 404, "Not found", "There is no page at this address.");
}
