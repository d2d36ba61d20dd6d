/*
 * api-admin.c: the administrator's REST API about the gateway itself: its
 * status, the configuration file (check, reload), routes, orphaned jobs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

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

/* GET /hub/api/status */
void
api_status(struct hub_call *c)
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
	api_json(c->rs, 200, j);
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
void
api_config(struct hub_call *c)
{
	const struct api_req	*ar = c->ar;
	struct api_resp		*rs = c->rs;
	char			*path, *cause = NULL;
	int			 apply = strcmp(ar->method, "POST") == 0;

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

/* GET /hub/api/routes */
void
api_routes_list(struct hub_call *c)
{
	json_t	*list = json_array();

	route_foreach(api_route_json, list);
	api_json_list(c->rs, "routes", list);
}

/* POST (or PUT) /hub/api/routes/{route}: {key} or {enroll: true}. */
void
api_route_add(struct hub_call *c)
{
	const struct api_req	*ar = c->ar;
	struct api_resp		*rs = c->rs;
	const char		*name = c->name;
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

/* DELETE /hub/api/routes/{route} */
void
api_route_del(struct hub_call *c)
{
	if (route_remove(c->name) == 0) {
		store_route_del(c->name);
		store_audit(c->ar->actor, "route-del", c->name, NULL);
		log_info("admin: route %s removed by %s", c->name, c->ar->actor);
		c->rs->code = 204;
	} else
		api_error(c->rs, 404, "no such route");
}

/* POST /hub/api/orphans: look for jobs no session knows now. */
void
api_orphans(struct hub_call *c)
{
	session_orphan_sweep();
	c->rs->code = 202;
}
