/*
 * api-creds.c: the REST API of a user's credential (charging: user): an
 * X.509 certificate uploaded or fetched with a MyProxy logon, and the
 * accounts it may charge.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

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

/* GET /hub/api/users/{user}/credential */
void
api_cred_get(struct hub_call *c)
{
	const struct cred	*cr;

	if ((cr = cred_get(c->user)) == NULL)
		api_error(c->rs, 404, "no credential: upload one (POST with "
		    "certificate and key) or use a MyProxy logon");
	else
		api_json(c->rs, 200, api_cred_json(cr));
}

/* DELETE /hub/api/users/{user}/credential */
void
api_cred_del(struct hub_call *c)
{
	if (cred_drop(c->ar->actor, c->user) == -1)
		api_error(c->rs, 404, "no credential");
	else
		c->rs->code = 204;
}

/* {myproxy: {username, passphrase}}: answered later, when the logon is done. */
static void
api_cred_myproxy(const struct api_req *ar, struct api_resp *rs, const char *user,
    json_t *mp)
{
	struct api_myproxy	*amp;
	const char		*mpuser, *pass;
	char			*cause = NULL;
	int			 rc;

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
}

/*
 * POST /hub/api/users/{user}/credential: {certificate, key?, passphrase?}
 * or {myproxy: {username, passphrase}}.
 */
void
api_cred_set(struct hub_call *c)
{
	const struct api_req	*ar = c->ar;
	struct api_resp		*rs = c->rs;
	const struct cred	*cr;
	json_t			*j, *mp;
	const char		*chain, *key, *pass;
	char			*cause = NULL;

	if ((j = api_body_object(ar, rs)) == NULL)
		return;
	if ((mp = json_object_get(j, "myproxy")) != NULL)
		api_cred_myproxy(ar, rs, c->user, mp);
	else if (api_cred_str(j, "certificate", 256 * 1024, 1, &chain, rs) == 0 &&
	    api_cred_str(j, "key", 64 * 1024, 0, &key, rs) == 0 &&
	    api_cred_str(j, "passphrase", 1024, 0, &pass, rs) == 0) {
		if ((cr = cred_set_x509(ar->actor, c->user, chain, strlen(chain),
		    key, key != NULL ? strlen(key) : 0, pass, NULL, &cause)) == NULL) {
			api_error(rs, 400, cause);
			free(cause);
		} else {
			session_credential(cr);
			api_json(rs, 200, api_cred_json(cr));
		}
	}
	json_decref(j);
}
