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
#include <event2/http.h>
#include <jansson.h>

#include "daemon/web/web.h"
#include "scheduler/scheduler.h"

#define API_HOST_COOKIE_AGE	3600	/* s: a user host's cookie, renewed through the hub */

static void
api_json(struct api_resp *rs, int code, json_t *j)
{
	char	*s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	if (s == NULL) {	/* e.g. text that is not UTF-8 */
		code = 500;
		s = xstrdup("{\"status\":500,\"message\":\"the answer could not be "
		    "encoded as JSON\"}");
	}
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
	json_t	*j;

	j = json_pack("{s:s,s:s?,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
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
	    "refused", (json_int_t)gate->stats.refused);
	json_object_set_new(j, "config", gate->cfg->path != NULL ?
	    json_string(gate->cfg->path) : json_null());
	json_object_set_new(j, "last_reload", gate->reload_time == 0 ? json_null() :
	    json_pack("{s:I,s:b,s:s?}", "time", (json_int_t)gate->reload_time,
	    "ok", gate->reload_error == NULL, "errors", gate->reload_error));
	api_json(rs, 200, j);
}

/* How the configuration file is reloaded and checked: gate.c's, set at start. */
static api_config_fn	 api_reload_file, api_check_file;

void
api_set_config_ops(api_config_fn reload, api_config_fn check)
{
	api_reload_file = reload;
	api_check_file = check;
}

/* POST /hub/api/reload, GET /hub/api/config/check: the configuration file. */
static void
api_config(const struct api_req *ar, struct api_resp *rs, int apply)
{
	char		*path, *cause = NULL;

	if (gate->cfg->path == NULL || api_reload_file == NULL) {
		api_error(rs, 409, "nbgated runs with its built-in configuration "
		    "(no -c FILE): there is nothing to check or reload");
		return;
	}
	path = xstrdup(gate->cfg->path);	/* a reload frees the running config */
	if (apply) {
		log_info("admin: reload asked by %s", ar->actor);
		if (api_reload_file(path, &cause) == -1)
			api_json(rs, 400, json_pack("{s:i,s:s,s:s}", "status", 400,
			    "message", "the configuration was not applied; the running "
			    "one stays", "errors", cause));
		else
			api_json(rs, 200, json_pack("{s:s,s:b}", "config", path,
			    "applied", 1));
	} else if (api_check_file(path, &cause) == -1)
		api_json(rs, 200, json_pack("{s:s,s:b,s:s}", "config", path, "ok", 0,
		    "errors", cause));
	else
		api_json(rs, 200, json_pack("{s:s,s:b}", "config", path, "ok", 1));
	free(cause);
	free(path);
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
	if (job != NULL && !util_job_id_valid(job)) {
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

/* Adds header lines @extra (allocated, consumed) in front of rs->headers. */
void
api_add_headers(struct api_resp *rs, char *extra)
{
	char	*h;

	xasprintf(&h, "%s%s", extra, rs->headers != NULL ? rs->headers : "");
	free(rs->headers);
	free(extra);
	rs->headers = h;
}

/* A query parameter's value (owned), or NULL. */
char *
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
	enum result_kind res;
	int			 code, ended;

	if (!util_server_name_valid(server) || (*server == '\0' &&
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
		if ((s = session_start(ar->actor, user, server, opts, &res, &field,
		    &msg)) == NULL) {
			code = status_code(res);
			api_json(rs, code, json_pack("{s:i,s:s,s:s?}", "status", code,
			    "message", msg, "field", field));
		} else
			api_json(rs, 202, session_json(s, 0));
		free(field);
		free(msg);
		json_decref(j);
	} else if (strcmp(ar->method, "DELETE") == 0) {
		if ((res = session_stop(ar->actor, user, server, &ended, &msg)) !=
		    RESULT_OK)
			api_error(rs, status_code(res), msg);
		else
			rs->code = ended ? 204 : 202;
		free(msg);
	} else if (strcmp(ar->method, "GET") == 0) {
		if ((s = session_find(user, server)) == NULL)
			api_error(rs, 404, "no such server");
		else
			api_json(rs, 200, session_json(s, 1));
	} else
		api_error(rs, 405, "use GET, POST or DELETE");
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

/* GET .../progress: the session's progress as Server-Sent Events (progress.c). */
static void
api_progress(const struct api_req *ar, struct api_resp *rs, const char *user,
    const char *server)
{
	const struct session	*s;

	if (strcmp(ar->method, "GET") != 0)
		api_error(rs, 405, "use GET");
	else if (!util_server_name_valid(server))
		api_error(rs, 400, "invalid server name (lowercase letters, digits, "
		    "'_', '.', '-'; at most 64)");
	else if ((s = session_find(user, server)) == NULL)
		api_error(rs, 404, "no such server");
	else
		progress_stream(ar->conn, s);
}

/* /hub/api/users/{user}/...: what a user may do for themself (and admins for anyone). */
/* ---- credentials (charging: user) -------------------------------------- */

/* The identity and, per user-mode cluster, the accounts it may charge. */
static json_t *
api_cred_json(const struct cred *c)
{
	const struct config	*cfg = gate->cfg;
	const char *const	*acc;
	json_t			*j = cred_json(c), *cl = json_object(), *a;
	size_t			 i;

	for (i = 0; i < cfg->nclusters; i++) {
		if (cfg->clusters[i].charging != CONFIG_USER)
			continue;
		if ((acc = session_accounts(cfg->clusters[i].name, c->account)) != NULL) {
			a = json_array();
			for (; *acc != NULL; acc++)
				json_array_append_new(a, json_string(*acc));
		} else
			a = json_null();
		json_object_set_new(cl, cfg->clusters[i].name, json_pack("{s:o}",
		    "accounts", a));
	}
	json_object_set_new(j, "clusters", cl);
	return (j);
}

struct api_myproxy {
	struct conn_defer	*d;	/* set once the logon has started */
};

static void
api_myproxy_done(const struct cred *c, const char *cause, void *arg)
{
	struct api_myproxy	*mp = arg;
	struct conn_defer	*d = mp->d;
	struct api_resp		 rs;

	free(mp);

	memset(&rs, 0, sizeof rs);
	if (c == NULL)
		api_error(&rs, 400, cause);
	else {
		session_credential(c);
		api_json(&rs, 200, api_cred_json(c));
	}
	conn_defer_answer(d, &rs);
}

/* A string member of at most @max bytes; NULL (and 400 set) if wrong, *v NULL if absent. */
static int
api_cred_str(json_t *j, const char *key, size_t max, int required, const char **v,
    struct api_resp *rs)
{
	json_t	*m = json_object_get(j, key);
	char	*msg;

	*v = NULL;
	if (m == NULL && !required)
		return (0);
	if (m == NULL || !json_is_string(m) || json_string_length(m) == 0 ||
	    json_string_length(m) > max || strlen(json_string_value(m)) !=
	    json_string_length(m)) {
		xasprintf(&msg, "%s: %s (a string of 1 to %zu bytes)", key,
		    m == NULL ? "missing" : "not valid", max);
		api_error(rs, 400, msg);
		free(msg);
		return (-1);
	}
	*v = json_string_value(m);
	return (0);
}

/* /hub/api/users/NAME/credential: GET, POST {certificate, key?, passphrase?} or
 * {myproxy: {username, passphrase}}, DELETE. */
static void
api_credential(const struct api_req *ar, struct api_resp *rs, const char *user)
{
	const struct cred	*c;
	json_t			*j, *mp;
	const char		*chain, *key, *pass, *mpuser;
	char			*cause = NULL;
	struct api_myproxy	*amp;
	int			 rc;

	if (strcmp(ar->method, "GET") == 0) {
		if ((c = cred_get(user)) == NULL)
			api_error(rs, 404, "no credential: upload one (POST with "
			    "certificate and key) or use a MyProxy logon");
		else
			api_json(rs, 200, api_cred_json(c));
		return;
	}
	if (strcmp(ar->method, "DELETE") == 0) {
		if (cred_drop(ar->actor, user) == -1)
			api_error(rs, 404, "no credential");
		else
			rs->code = 204;
		return;
	}
	if (strcmp(ar->method, "POST") != 0) {
		api_error(rs, 405, "use GET, POST or DELETE");
		return;
	}
	if ((j = api_body_object(ar, rs)) == NULL)
		return;
	if ((mp = json_object_get(j, "myproxy")) != NULL) {
		if (!json_is_object(mp))
			api_error(rs, 400, "myproxy: an object {username, passphrase}");
		else if (api_cred_str(mp, "username", 256, 1, &mpuser, rs) == 0 &&
		    api_cred_str(mp, "passphrase", 1024, 1, &pass, rs) == 0) {
			/* the callback always comes later, from the loop */
			amp = xcalloc(1, sizeof *amp);
			if (ar->conn == NULL) {
				api_error(rs, 503, "cannot wait for MyProxy here");
				free(amp);
			} else if ((rc = cred_myproxy(user, mpuser, pass,
			    api_myproxy_done, amp, &cause)) != 0) {
				api_error(rs, rc == CRED_BUSY ? 429 : 400, cause);
				free(amp);
				free(cause);
			} else
				amp->d = conn_defer(ar->conn);
		}
		json_decref(j);
		return;
	}
	if (api_cred_str(j, "certificate", 256 * 1024, 1, &chain, rs) == 0 &&
	    api_cred_str(j, "key", 64 * 1024, 0, &key, rs) == 0 &&
	    api_cred_str(j, "passphrase", 1024, 0, &pass, rs) == 0) {
		if ((c = cred_set_x509(ar->actor, user, chain, strlen(chain), key,
		    key != NULL ? strlen(key) : 0, pass, NULL, &cause)) == NULL) {
			api_error(rs, 400, cause);
			free(cause);
		} else {
			session_credential(c);
			api_json(rs, 200, api_cred_json(c));
		}
	}
	json_decref(j);
}

static int
api_user_self(const struct api_req *ar, struct api_resp *rs, const char *user,
    const char *p)
{
	char	*server;

	if (strcmp(p, "/credential") == 0) {
		api_credential(ar, rs, user);
		return (1);
	}

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

/* ---- API tokens: users' and services' (auth.c keeps them) ------------- */

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

/* POST /hub/api/users/NAME/tokens [{"expires_in": S}] or .../services/NAME/tokens. */
static void
api_token_issue(const struct api_req *ar, struct api_resp *rs, const char *name,
    int service)
{
	json_t		*j = NULL;
	char		*tok, *users = NULL, *text;
	char		 id[AUTH_TOKEN_ID_LEN + 1];
	unsigned int	 scopes = 0;
	time_t		 expires;

	if (evbuffer_get_length(ar->body) > 0 || service) {
		if ((j = api_body_object(ar, rs)) == NULL)
			return;
	}
	if (api_expires_in(j, &expires, rs) == -1)
		goto out;
	if (!service) {
		tok = auth_token_issue(name, expires, id);
		store_audit(ar->actor, "token-issue", name, id);
		log_info("admin: API token %s issued for %s by %s", id, name, ar->actor);
		api_json(rs, 201, json_pack("{s:s,s:s,s:s,s:o}", "user", name,
		    "token", tok, "id", id, "expires", api_time_json(expires)));
		freestr(tok);
		goto out;
	}
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

/* GET /hub/api/tokens, DELETE /hub/api/tokens/ID, /hub/api/services/NAME/tokens. */
static void
api_tokens_admin(const struct api_req *ar, struct api_resp *rs, const char *p)
{
	const char	*m = ar->method;
	char		*name;
	size_t		 n;
	json_t		*list;

	if (strcmp(p, "tokens") == 0) {
		if (strcmp(m, "GET") != 0) {
			api_error(rs, 405, "use GET");
			return;
		}
		list = json_array();
		auth_token_foreach(api_token_list_one, list);
		api_json(rs, 200, json_pack("{s:o}", "tokens", list));
	} else if (strncmp(p, "tokens/", 7) == 0) {
		if (strcmp(m, "DELETE") != 0)
			api_error(rs, 405, "use DELETE");
		else if (auth_token_revoke_id(p + 7) == 0)
			api_error(rs, 404, "no token with this id");
		else {
			store_audit(ar->actor, "token-revoke-id", p + 7, NULL);
			log_info("admin: token %s revoked by %s", p + 7, ar->actor);
			rs->code = 204;
		}
	} else {
		p += 9;
		n = strcspn(p, "/");
		name = xstrndup(p, n);
		if (!util_user_name_valid(name))
			api_error(rs, 400, "invalid service name (lowercase letters, "
			    "digits, '_', '-', '.')");
		else if (strcmp(p + n, "/tokens") != 0)
			api_error(rs, 404, "no such API endpoint");
		else if (strcmp(m, "POST") == 0)
			api_token_issue(ar, rs, name, 1);
		else if (strcmp(m, "DELETE") == 0) {
			store_audit(ar->actor, "service-token-revoke", name, NULL);
			log_info("admin: the tokens of service %s revoked by %s", name,
			    ar->actor);
			api_json(rs, 200, json_pack("{s:s,s:i}", "service", name,
			    "revoked", auth_token_revoke_service(name)));
		} else
			api_error(rs, 405, "use POST or DELETE");
		free(name);
	}
}

/* The bearer token of a request ("Authorization: token X"), or NULL. */
static const char *
api_bearer(const struct api_req *ar)
{
	const char	*auth = http_msg_get(ar->head, "authorization");

	if (auth == NULL || strncasecmp(auth, "token ", 6) != 0)
		return (NULL);
	return (auth + 6);
}

/* GET /hub/api/user: who the token (or cookie) is. */
static void
api_whoami(const struct api_req *ar, struct api_resp *rs,
    const struct auth_token *tok)
{
	json_t	*j, *users;
	size_t	 i;
	int	 admin;

	if (tok != NULL && tok->service) {
		users = json_array();
		for (i = 0; i < tok->nusers; i++)
			json_array_append_new(users, json_string(tok->users[i]));
		j = json_pack("{s:s,s:s,s:o,s:b,s:o,s:s,s:o}", "kind", "service",
		    "name", tok->name, "scopes", api_scopes_json(tok->scopes),
		    "all_users", tok->all_users, "users", users, "token_id", tok->id,
		    "expires", api_time_json(tok->expires));
	} else if (ar->admin_socket) {
		j = json_pack("{s:s,s:s,s:b,s:[s]}", "kind", "admin-socket", "name",
		    ar->actor, "admin", 1, "scopes", "admin");
	} else {
		admin = config_is_admin(gate->cfg, ar->user);
		j = json_pack("{s:s,s:s,s:b,s:o}", "kind", "user", "name", ar->user,
		    "admin", admin, "scopes", admin ? json_pack("[s]", "admin") :
		    api_scopes_json(AUTH_SCOPES_ALL));
		if (tok != NULL)
			json_object_set_new(j, "token_id", json_string(tok->id));
	}
	api_json(rs, 200, j);
}

/* 403 naming the scope @tok lacks. */
static void
api_scope_missing(struct api_resp *rs, const struct auth_token *tok, unsigned int need)
{
	char	*have = auth_scopes_text(tok->scopes), *msg;

	xasprintf(&msg, "this token lacks the scope '%s' (it has: %s)",
	    auth_scope_name(need), *have != '\0' ? have : "none");
	api_error(rs, 403, msg);
	free(msg);
	free(have);
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

/*
 * A service token's request: /hub/api/users[/NAME[/server[s/S][/progress]]],
 * within its scopes and for the users it may act for; every action is
 * done (and audited) as "service:NAME for USER".
 */
static void
api_service(const struct api_req *ar, struct api_resp *rs, const struct auth_token *tok)
{
	const char	*p = ar->path + strlen("/hub/api/"), *m = ar->method;
	struct api_req	 sar;
	json_t		*model;
	char		*user, *server, *msg;
	size_t		 n;
	unsigned int	 need;

	if (strcmp(p, "users") == 0 && strcmp(m, "GET") == 0) {
		if ((tok->scopes & AUTH_SCOPE_READ_USERS) == 0)
			api_scope_missing(rs, tok, AUTH_SCOPE_READ_USERS);
		else
			api_service_users(rs, tok);
		return;
	}
	if (strncmp(p, "users/", 6) != 0) {
		api_error(rs, 403, "this needs an administrator's token");
		return;
	}
	p += 6;
	n = strcspn(p, "/");
	user = xstrndup(p, n);
	p += n;
	need = 0;
	if (*p == '\0' && strcmp(m, "GET") == 0)
		need = AUTH_SCOPE_READ_USERS;
	else if ((server = api_progress_server(p)) != NULL) {
		free(server);
		need = AUTH_SCOPE_READ_SERVERS;
	} else if (strcmp(p, "/server") == 0 || strcmp(p, "/credential") == 0 ||
	    (strncmp(p, "/servers/", 9) == 0 && strchr(p + 9, '/') == NULL))
		need = strcmp(m, "GET") == 0 ? AUTH_SCOPE_READ_SERVERS :
		    AUTH_SCOPE_SERVERS;
	if (!util_user_name_valid(user))
		api_error(rs, 400, "invalid user name");
	else if (need == 0)
		api_error(rs, 403, "this needs an administrator's token");
	else if (!auth_token_may_act(tok, user)) {
		xasprintf(&msg, "this token may not act for %s", user);
		api_error(rs, 403, msg);
		free(msg);
	} else if ((tok->scopes & need) == 0)
		api_scope_missing(rs, tok, need);
	else if (need == AUTH_SCOPE_READ_USERS) {
		model = api_user_model(user);
		if ((tok->scopes & AUTH_SCOPE_READ_SERVERS) == 0)
			json_object_del(model, "servers");
		api_json(rs, 200, model);
	} else {
		sar = *ar;
		xasprintf(&msg, "service:%s for %s", tok->name, user);
		sar.actor = msg;
		sar.user = user;
		if (!api_user_self(&sar, rs, user, p))
			api_error(rs, 404, "no such API endpoint");
		log_tag(user, 0, NULL, NULL);
		if (strcmp(m, "GET") == 0)	/* gateways poll */
			log_debug("api: %s %s by %s: %d", m, ar->path, msg, rs->code);
		else
			log_info("api: %s %s by %s: %d", m, ar->path, msg, rs->code);
		free(msg);
	}
	free(user);
}

/* An API request without a user: a service's token, or a 401 saying why. */
static void
api_no_user(const struct api_req *ar, struct api_resp *rs)
{
	const char		*secret = api_bearer(ar);
	const struct auth_token	*tok;
	int			 st;

	if (secret == NULL) {
		api_error(rs, 401, "authentication required: send "
		    "'Authorization: token <token>'");
		return;
	}
	st = auth_token_lookup(secret, &tok);
	if (st != RESULT_OK) {
		gate->stats.login_failures++;
		api_error(rs, 401, st == RESULT_EXPIRED ? "this token has expired" :
		    "this token is not valid (unknown or revoked)");
	} else if (!tok->service)	/* a user's, but conn_request_user() refused it */
		api_error(rs, 401, "this token is not valid");
	else if (strcmp(ar->path, "/hub/api/user") == 0 && strcmp(ar->method, "GET") == 0)
		api_whoami(ar, rs, tok);
	else
		api_service(ar, rs, tok);
}

/* The admin REST API: /hub/api/...; the caller checked admin rights. */
static void
api_admin(const struct api_req *ar, struct api_resp *rs)
{
	const char	*p = ar->path + strlen("/hub/api/"), *m = ar->method;
	char		*user = NULL;
	size_t		 n;

	if (strcmp(p, "status") == 0 && strcmp(m, "GET") == 0) {
		api_status(rs);
	} else if (strcmp(p, "reload") == 0 && strcmp(m, "POST") == 0) {
		api_config(ar, rs, 1);
	} else if (strcmp(p, "config/check") == 0 && strcmp(m, "GET") == 0) {
		api_config(ar, rs, 0);
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
	} else if (strcmp(p, "tokens") == 0 || strncmp(p, "tokens/", 7) == 0 ||
	    strncmp(p, "services/", 9) == 0) {
		api_tokens_admin(ar, rs, p);
	} else if (strncmp(p, "users/", 6) == 0) {
		p += 6;
		n = strcspn(p, "/");
		user = xstrndup(p, n);
		p += n;
		if (!util_user_name_valid(user))
			api_error(rs, 400, "invalid user name");
		else if (api_user_self(ar, rs, user, p))
			;
		else if (strcmp(p, "/tokens") == 0 && strcmp(m, "POST") == 0) {
			api_token_issue(ar, rs, user, 0);
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
	log_tag(user, 0, NULL, NULL);
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
/*
 * proxy.user_hosts: the hand-over from the hub to a user's own host.  The
 * code (one use, a minute, made by the hub for the logged-in visitor) says
 * who; this host's own cookie is set (host-only, shorter-lived than the
 * hub's: when it expires a page load fetches a new one from the hub), and
 * the browser goes on to the notebook page it asked for.
 */
static void
api_user_login(const struct api_req *ar, struct api_resp *rs)
{
	char	*hu = userhost_user(ar->host), *code = NULL, *who = NULL;
	char	*next = NULL, *dec = NULL, *prefix = NULL, *cookie;
	int	 age = gate->cfg->cookie_max_age < API_HOST_COOKIE_AGE ?
		    gate->cfg->cookie_max_age : API_HOST_COOKIE_AGE;

	if (hu == NULL) {
		api_page(rs, 404, "Not found", "There is no page at this address.");
		return;
	}
	if ((code = api_query_get(ar->query, "code")) == NULL ||
	    (who = auth_host_code_redeem(code)) == NULL) {
		gate->stats.login_failures++;
		api_page(rs, 403, "Link expired", "This hand-over link was already used "
		    "or has expired. Open your notebook again from the gateway's home page.");
		goto out;
	}
	xasprintf(&prefix, "/user/%s/", hu);
	if ((next = api_query_get(ar->query, "next")) != NULL)
		dec = evhttp_uridecode(next, 0, NULL);
	if (dec == NULL || strncmp(dec, prefix, strlen(prefix)) != 0 ||
	    strpbrk(dec, "\r\n\\") != NULL) {
		free(dec);
		dec = xstrdup(prefix);
	}
	cookie = auth_host_cookie_make(who, age);
	xasprintf(&rs->headers, "Set-Cookie: %s=%s; Path=/; Max-Age=%d; HttpOnly; "
	    "Secure; SameSite=Lax\r\nLocation: %s\r\n", AUTH_HOST_COOKIE, cookie, age, dec);
	freestr(cookie);
	log_info("%s: %s logged in on %s's host", ar->peer, who, hu);
	api_page(rs, 302, "Logged in", "Opening the notebook.");
out:
	free(hu);
	freestr(code);
	free(who);
	free(next);
	free(dec);
	free(prefix);
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
api_check_cookie_call(const struct api_req *ar, struct api_resp *rs)
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

void
api_dispatch(const struct api_req *ar, struct api_resp *rs)
{
	const char		*path = ar->path;
	const struct auth_token	*tok = NULL;

	if (strncmp(path, "/hub/api/", 9) == 0) {
		if (api_check_cookie_call(ar, rs) == -1)
			;
		else if (strcmp(path, "/hub/api/user") == 0 && strcmp(ar->method, "GET") == 0 &&
		    (ar->admin_socket || ar->user != NULL))
			api_whoami(ar, rs, api_bearer(ar) != NULL &&
			    auth_token_lookup(api_bearer(ar), &tok) == RESULT_OK ?
			    tok : NULL);
		else if (ar->admin_socket || (ar->user != NULL &&
		    config_is_admin(gate->cfg, ar->user)))
			api_admin(ar, rs);
		else if (ar->user != NULL && api_own(ar, rs))
			;
		else if (ar->user == NULL)
			api_no_user(ar, rs);
		else
			api_error(rs, 403, "this needs an administrator's token");
	} else if (strcmp(path, "/hub/metrics") == 0) {
		if (!ar->admin_socket && ar->user == NULL && api_bearer(ar) != NULL &&
		    auth_token_lookup(api_bearer(ar), &tok) == RESULT_OK)
			api_error(rs, 403, "metrics need an administrator's token");
		else if (!ar->admin_socket && ar->user == NULL)
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
	else if (strcmp(path, "/hub/user-login") == 0)
		api_user_login(ar, rs);
	else if (login_dispatch(ar, rs) || pages_dispatch(ar, rs))
		;
	else if (strcmp(path, "/") == 0 || strcmp(path, "/hub") == 0 ||
	    strcmp(path, "/hub/") == 0) {
		xasprintf(&rs->headers, "Location: /hub/home\r\n");
		api_page(rs, 302, "nbgate", "Moved to /hub/home.");
	} else
		api_page(rs, 404, "Not found", "There is no page at this address.");
}
