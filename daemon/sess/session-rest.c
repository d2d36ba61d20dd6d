/*
 * session-rest.c: the HTTP client of a transport: slurmrestd cluster: requests
 * of the slurm-rest backend go out with libcurl on the loop (core/httpc.c),
 * as login_user with a JWT (minted with the cluster's jwt_key, or read from a
 * file); 401, 403 and 404 become causes a person can act on.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/sess/session-int.h"

#define REST_TOKEN_LIFETIME	3600	/* s: minted tokens; a new one after half */
#define REST_FILE_MAX		8192	/* token or key file */

struct sess_rest {
	struct transport_http	 http;
	char			*cluster;
	char			*url;		/* without a trailing / */
	char			*api;		/* v0.0.38 */
	char			*user;
	char			*token_file;	/* or: */
	unsigned char		*key;		/* the jwt_key's bytes */
	size_t			 keylen;
	char			*token;		/* minted, until token_exp */
	time_t			 token_exp;
};

struct sess_rest_call {
	struct sess_rest	*rc;
	struct httpc_req	*req;
	transport_http_cb	 cb;
	void			*arg;
	char			*path;		/* for causes: /slurm/v0.0.38/jobs */
};

/* A small private file (key or token): owner-only, not a link; NULL and *cause. */
static char *
sess_rest_read(const char *path, size_t *lenp, char **cause)
{
	struct stat	 sb;
	char		*buf;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (NULL);
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0 ||
	    sb.st_size <= 0 || sb.st_size > REST_FILE_MAX) {
		xasprintf(cause, "%s: not a regular file of 1 to %d bytes readable by its "
		    "owner only", path, REST_FILE_MAX);
		close(fd);
		return (NULL);
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	n = read(fd, buf, (size_t)sb.st_size);
	close(fd);
	if (n != sb.st_size) {
		xasprintf(cause, "%s: short read", path);
		freezero(buf, (size_t)sb.st_size + 1);
		return (NULL);
	}
	buf[n] = '\0';
	*lenp = (size_t)n;
	return (buf);
}

/* The token file's JWT, checked as far as we can without the key: a JWT, not expired, ours. */
static char *
sess_rest_file_token(struct sess_rest *rc, char **cause)
{
	const char	*dot1, *dot2, *sun;
	unsigned char	*raw = NULL;
	size_t		 len, rawlen;
	json_t		*j = NULL;
	json_int_t	 exp;
	char		*tok, *why = NULL;

	if ((tok = sess_rest_read(rc->token_file, &len, cause)) == NULL)
		return (NULL);
	tok[strcspn(tok, " \t\r\n")] = '\0';
	if ((dot1 = strchr(tok, '.')) == NULL || (dot2 = strchr(dot1 + 1, '.')) == NULL ||
	    codec_b64url_decode(dot1 + 1, dot2 - dot1 - 1, &raw, &rawlen) == -1 ||
	    (j = json_loadb((const char *)raw, rawlen, 0, NULL)) == NULL) {
		xasprintf(&why, "does not hold a JWT (scontrol token prints SLURM_JWT=...: "
		    "put only the part after '=' there)");
	} else if (!json_is_integer(json_object_get(j, "exp")) ||
	    (exp = json_integer_value(json_object_get(j, "exp"))) <= (json_int_t)time(NULL)) {
		xasprintf(&why, "holds a token that has expired (exp %lld)",
		    json_is_integer(json_object_get(j, "exp")) ?
		    (long long)json_integer_value(json_object_get(j, "exp")) : 0LL);
	} else if ((sun = json_string_value(json_object_get(j, "sun"))) != NULL &&
	    strcmp(sun, rc->user) != 0) {
		xasprintf(&why, "holds a token for user %.64s, not login_user %s", sun, rc->user);
	}
	json_decref(j);
	free(raw);
	if (why != NULL) {
		xasprintf(cause, "slurmrestd token file %s %s", rc->token_file, why);
		free(why);
		freezero(tok, len + 1);
		return (NULL);
	}
	return (tok);
}

/* The token for the next request (owned); NULL and *cause. */
static char *
sess_rest_token(struct sess_rest *rc, char **cause)
{
	time_t	now = time(NULL);

	if (rc->token_file != NULL)
		return (sess_rest_file_token(rc, cause));
	if (rc->token == NULL || now >= rc->token_exp - REST_TOKEN_LIFETIME / 2) {
		if (rc->token != NULL)
			freezero(rc->token, strlen(rc->token));
		rc->token = slurmjwt_token(rc->key, rc->keylen, rc->user, now,
		    REST_TOKEN_LIFETIME, cause);
		if (rc->token == NULL)
			return (NULL);
		rc->token_exp = now + REST_TOKEN_LIFETIME;
	}
	return (xstrdup(rc->token));
}

static void
sess_rest_call_free(struct sess_rest_call *call)
{
	free(call->path);
	free(call);
}

/* What 401, 403 and 404 mean here; NULL for the parsers to read. */
static char *
sess_rest_status_cause(struct sess_rest_call *call, long status)
{
	struct sess_rest	*rc = call->rc;
	char			*s = NULL;

	if (status == 401)
		xasprintf(&s, "slurmrestd at %s refused the token for %s (HTTP 401): check "
		    "%s", rc->url, rc->user, rc->token_file != NULL ? "slurmrestd_token_file" :
		    "slurmrestd_jwt_key (the cluster's jwt_key) and AuthAltTypes=auth/jwt");
	else if (status == 403)
		xasprintf(&s, "slurmrestd at %s does not let %s do this (HTTP 403, %s)", rc->url,
		    rc->user, call->path);
	else if (status == 404)
		xasprintf(&s, "slurmrestd at %s has no %s (HTTP 404): does it offer OpenAPI %s? "
		    "(slurmrestd_api; slurmrestd -s lists what it loads)", rc->url, call->path,
		    rc->api);
	return (s);
}

static void
sess_rest_done(const struct httpc_result *res, void *arg)
{
	struct sess_rest_call	*call = arg;
	char			*cause = NULL, *err = NULL;

	if (res->error != NULL)
		xasprintf(&err, "slurmrestd at %s: %s", call->rc->url, res->error);
	else
		cause = sess_rest_status_cause(call, res->status);
	if (err != NULL || cause != NULL) {
		log_warnx("cluster %s: %s", call->rc->cluster, err != NULL ? err : cause);
		call->cb(0, err != NULL ? err : cause, NULL, 0, call->arg);
	} else
		call->cb(res->status, NULL, res->body, res->bodylen, call->arg);
	free(err);
	free(cause);
	sess_rest_call_free(call);
}

static void *
sess_rest_request(void *ctx, const char *method, const char *api, const char *path,
    const char *body, size_t len, int timeout, transport_http_cb cb, void *arg, char **cause)
{
	struct sess_rest	*rc = ctx;
	struct sess_rest_call	*call;
	struct httpc_opts	 o;
	char			*tok, *url, *hname, *htok;
	const char		*headers[4];

	if ((tok = sess_rest_token(rc, cause)) == NULL)
		return (NULL);
	call = xcalloc(1, sizeof *call);
	call->rc = rc;
	call->cb = cb;
	call->arg = arg;
	xasprintf(&call->path, "/%s/%s/%s", api, rc->api, path);
	xasprintf(&url, "%s%s", rc->url, call->path);
	xasprintf(&hname, "X-SLURM-USER-NAME: %s", rc->user);
	xasprintf(&htok, "X-SLURM-USER-TOKEN: %s", tok);
	freezero(tok, strlen(tok));
	headers[0] = hname;
	headers[1] = htok;
	headers[2] = "Content-Type: application/json";
	headers[3] = NULL;
	memset(&o, 0, sizeof o);
	o.method = method;
	o.url = url;
	o.headers = headers;
	o.body = body;
	o.bodylen = len;
	o.timeout_ms = timeout;
	call->req = httpc_request(&o, sess_rest_done, call, cause);
	free(url);
	free(hname);
	freezero(htok, strlen(htok));
	if (call->req == NULL) {
		sess_rest_call_free(call);
		return (NULL);
	}
	return (call);
}

static void
sess_rest_cancel(void *handle)
{
	struct sess_rest_call	*call = handle;

	httpc_cancel(call->req);
	sess_rest_call_free(call);
}

/* The client of cluster @c (transport: slurmrestd); NULL and *cause if its key cannot be read. */
struct sess_rest *
sess_rest_new(const struct config_cluster *c, char **cause)
{
	struct sess_rest	*rc = xcalloc(1, sizeof *rc);
	size_t			 n;

	rc->cluster = xstrdup(c->name);
	rc->url = xstrdup(c->slurmrestd_url);
	n = strlen(rc->url);
	while (n > 0 && rc->url[n - 1] == '/')
		rc->url[--n] = '\0';
	rc->api = xstrdup(c->slurmrestd_api);
	rc->user = xstrdup(c->login_user != NULL ? c->login_user : "");
	if (c->slurmrestd_token_file != NULL)
		rc->token_file = xstrdup(c->slurmrestd_token_file);
	else if ((rc->key = (unsigned char *)sess_rest_read(c->slurmrestd_jwt_key, &rc->keylen,
	    cause)) == NULL) {
		sess_rest_free(rc);
		return (NULL);
	}
	rc->http.request = sess_rest_request;
	rc->http.cancel = sess_rest_cancel;
	rc->http.ctx = rc;
	return (rc);
}

/* Its hooks for transport_new() (borrowed; valid until sess_rest_free()). */
const struct transport_http *
sess_rest_http(struct sess_rest *rc)
{
	return (&rc->http);
}

/* NULL is a no-op; the transport using it must be freed first. */
void
sess_rest_free(struct sess_rest *rc)
{
	if (rc == NULL)
		return;
	if (rc->key != NULL)
		freezero(rc->key, rc->keylen + 1);
	if (rc->token != NULL)
		freezero(rc->token, strlen(rc->token));
	free(rc->cluster);
	free(rc->url);
	free(rc->api);
	free(rc->user);
	free(rc->token_file);
	free(rc);
}
