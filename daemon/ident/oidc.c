/*
 * oidc.c: OpenID Connect's protocol half (auth.oidc): the provider's
 * discovery document and key set (fetched with httpc.c, cached), the
 * authorization URL (PKCE), and the exchange of a code for a user name:
 * token endpoint, ID token checks (jwt.c), userinfo, the user map. No
 * browsers and no pages: web/oidc.c has those.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "daemon/ident/ident.h"

#define OIDC_META_TTL		3600	/* s a discovery document is reused */
#define OIDC_KEYS_REFETCH	10	/* s between key set fetches for a new kid */
#define OIDC_TIMEOUT_MS		10000
#define OIDC_SKEW		120	/* s of clock difference tolerated */
#define OIDC_SECRET_MAX		1024
#define OIDC_MAP_MAX		(1024 * 1024)

enum { OIDC_META, OIDC_KEYS };

/* One waiting for a fetch: a browser's sign-in, or an exchange (keys). */
struct oidc_waiter {
	oidc_wait_cb		 cb;
	void			*arg;
	int			 kind;
	TAILQ_ENTRY(oidc_waiter) entry;
};
TAILQ_HEAD(oidc_waiters, oidc_waiter);

/* A code being exchanged for a user name; ends in one call of cb. */
struct oidc_exchange {
	oidc_exchange_cb	 cb;
	void			*arg;
	char			*nonce;		/* the ID token must carry it */
	struct httpc_req	*req;		/* token or userinfo request */
	struct oidc_waiter	*w;		/* waiting for the key set */
	char			*id_token;
	char			*access_token;	/* for userinfo, if asked */
	char			*sub;		/* the verified ID token's */
	int			 refetched;	/* key set refetched once */
};

static struct {
	char			*issuer;	/* what the caches are for */
	char			*cafile;
	char			*secret;
	char			*map;		/* the map file's text, or NULL */
	struct oidc_meta	 meta;
	time_t			 meta_at;	/* 0: none */
	struct jwt_keys		*keys;
	time_t			 keys_at;
	struct httpc_req	*fetch[2];
	struct oidc_waiters	 waiters[2];
} oidc = {
	.waiters = { TAILQ_HEAD_INITIALIZER(oidc.waiters[0]),
	    TAILQ_HEAD_INITIALIZER(oidc.waiters[1]) },
};

static int	oidc_fetch(int, char **);
static void	oidc_exchange_verify(struct oidc_exchange *);
static void	oidc_userinfo_done(const struct httpc_result *, void *);

/* Frees what a discovery summary holds. */
void
oidc_meta_clear(struct oidc_meta *m)
{
	free(m->authorization_endpoint);
	free(m->token_endpoint);
	free(m->jwks_uri);
	free(m->userinfo_endpoint);
	memset(m, 0, sizeof *m);
}

/* An https URL member of @j, copied into @out; -1 if absent or not https. */
static int
oidc_meta_url(json_t *j, const char *name, char **out, char **cause)
{
	const char	*s = json_string_value(json_object_get(j, name));
	size_t		 i;

	if (s == NULL || strncmp(s, "https://", 8) != 0 || strlen(s) > 1024) {
		xasprintf(cause, "the discovery document's %s is missing or not "
		    "an https URL", name);
		return (-1);
	}
	for (i = 0; s[i] != '\0'; i++) {
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f ||
		    s[i] == '#') {
			xasprintf(cause, "the discovery document's %s is not a "
			    "plain URL", name);
			return (-1);
		}
	}
	*out = xstrdup(s);
	return (0);
}

/* 1 if the string list @name of @j holds @value. */
static int
oidc_list_has(json_t *j, const char *name, const char *value)
{
	json_t	*v;
	size_t	 i;

	json_array_foreach(json_object_get(j, name), i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
			return (1);
	}
	return (0);
}

/*
 * Reads a discovery document for @issuer into @m (cleared first): the
 * issuer must match exactly, the endpoints be https, and one of the client
 * secret methods we speak be offered (basic unless only post is).
 */
int
oidc_meta_parse(const char *buf, size_t len, const char *issuer,
    struct oidc_meta *m, char **cause)
{
	json_t		*j, *methods;
	const char	*iss;
	int		 rv = -1;

	memset(m, 0, sizeof *m);
	if ((j = json_loadb(buf, len, 0, NULL)) == NULL || !json_is_object(j)) {
		xasprintf(cause, "the discovery document is not a JSON object");
		goto out;
	}
	iss = json_string_value(json_object_get(j, "issuer"));
	if (iss == NULL || strcmp(iss, issuer) != 0) {
		xasprintf(cause, "the discovery document is for another issuer "
		    "(\"%.200s\")", iss != NULL ? iss : "");
		goto out;
	}
	if (oidc_meta_url(j, "authorization_endpoint",
	    &m->authorization_endpoint, cause) == -1 ||
	    oidc_meta_url(j, "token_endpoint", &m->token_endpoint, cause) == -1 ||
	    oidc_meta_url(j, "jwks_uri", &m->jwks_uri, cause) == -1 ||
	    (json_object_get(j, "userinfo_endpoint") != NULL &&
	    oidc_meta_url(j, "userinfo_endpoint", &m->userinfo_endpoint,
	    cause) == -1))
		goto out;
	methods = json_object_get(j, "token_endpoint_auth_methods_supported");
	if (methods == NULL || oidc_list_has(j,
	    "token_endpoint_auth_methods_supported", "client_secret_basic"))
		m->auth_post = 0;
	else if (oidc_list_has(j, "token_endpoint_auth_methods_supported",
	    "client_secret_post"))
		m->auth_post = 1;
	else {
		xasprintf(cause, "the provider takes neither client_secret_basic "
		    "nor client_secret_post at its token endpoint");
		goto out;
	}
	if (json_object_get(j, "code_challenge_methods_supported") != NULL &&
	    !oidc_list_has(j, "code_challenge_methods_supported", "S256")) {
		xasprintf(cause, "the provider does not support PKCE with S256");
		goto out;
	}
	rv = 0;
out:
	if (rv == -1)
		oidc_meta_clear(m);
	json_decref(j);
	return (rv);
}

/*
 * The user name for claim value @value: looked up in @map ("value user"
 * lines), else with @suffix stripped (if it ends so), else @value itself
 * when neither is configured. NULL and *cause if refused.
 */
char *
oidc_map_user(const char *value, const char *suffix, const char *map,
    char **cause)
{
	const char	*line, *end, *sp;
	size_t		 vlen = strlen(value), slen, n;
	char		*user = NULL;

	for (line = map; line != NULL && *line != '\0'; line = end) {
		end = line + strcspn(line, "\n");
		n = strcspn(line, " \t\n");
		sp = line + n + strspn(line + n, " \t");
		if (*line != '#' && n == vlen && memcmp(line, value, n) == 0 &&
		    sp < end) {
			user = xstrndup(sp, strcspn(sp, " \t\r\n"));
			break;
		}
		if (*end == '\n')
			end++;
	}
	if (user == NULL && suffix != NULL && *suffix != '\0' &&
	    vlen > (slen = strlen(suffix)) &&
	    strcmp(value + vlen - slen, suffix) == 0)
		user = xstrndup(value, vlen - slen);
	if (user == NULL && map == NULL && (suffix == NULL || *suffix == '\0'))
		user = xstrdup(value);
	if (user == NULL) {
		xasprintf(cause, "is not mapped to an account on this gateway");
		return (NULL);
	}
	if (!util_user_name_valid(user)) {
		if (strcmp(user, value) == 0)
			xasprintf(cause, "is not a valid user name here (lowercase "
			    "letters, digits, '_', '.', '-'; at most 32)");
		else
			xasprintf(cause, "maps to '%.64s', which is not a valid "
			    "user name", user);
		free(user);
		return (NULL);
	}
	return (user);
}

/*
 * Why @user, mapped from an ID token with subject @sub, may not sign in with
 * OpenID Connect under @cfg: NULL if it may, else an owned sentence. Refused:
 * the accounts cred_account_reserved() names (root, system accounts, nbgated's
 * own, the clusters' community accounts: with credentials.from_login a login
 * name becomes an SSH certificate principal), and an administrator's name
 * unless auth.oidc.admins binds it to this very subject (a provider's sub is
 * never reassigned, while preferred_username or email may be chosen or
 * recycled).
 */
char *
oidc_user_refusal(const struct config *cfg, const char *user, const char *sub)
{
	char	*c;
	size_t	 i;

	if ((c = cred_account_reserved(cfg, user)) != NULL ||
	    !config_is_admin(cfg, user))
		return (c);
	for (i = 0; i < cfg->noidc_admins; i++) {
		if (strcmp(cfg->oidc_admins[i].name, user) == 0 && sub != NULL &&
		    strcmp(cfg->oidc_admins[i].sub, sub) == 0)
			return (NULL);
	}
	return (xstrdup("is an administrator's name, and this sign-in is not "
	    "the one auth.oidc.admins names for that administrator"));
}

/* Reads a small private file (the secret, the map) into *out. */
static int
oidc_read_file(const char *path, size_t max, int secret, char **out,
    char **cause)
{
	struct stat	 sb;
	char		*buf = NULL;
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &sb) == -1) {
		xasprintf(cause, "auth.oidc: %s: %s", path, strerror(errno));
		goto fail;
	}
	if (secret && (sb.st_mode & S_IROTH)) {
		xasprintf(cause, "auth.oidc: %s: the client secret file must not "
		    "be readable by others (chmod o-r)", path);
		goto fail;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > (off_t)max) {
		xasprintf(cause, "auth.oidc: %s: not a regular file of at most "
		    "%zu bytes", path, max);
		goto fail;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (len < (size_t)sb.st_size &&
	    (n = read(fd, buf + len, (size_t)sb.st_size - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	*out = buf;
	return (0);
fail:
	if (fd != -1)
		close(fd);
	return (-1);
}

/* The secret file's first line, trimmed; -1 if empty or unreadable. */
static int
oidc_load_secret(const char *path, char **out, char **cause)
{
	char	*buf;
	size_t	 n;

	if (oidc_read_file(path, OIDC_SECRET_MAX, 1, &buf, cause) == -1)
		return (-1);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n == 0 || strspn(buf, " \t") == n) {
		xasprintf(cause, "auth.oidc: %s: the client secret file is empty",
		    path);
		freestr(buf);
		return (-1);
	}
	*out = buf;
	return (0);
}

/* A fetch is done (@err NULL on success): every waiter goes on. */
static void
oidc_waiters_run(int kind, const char *err)
{
	struct oidc_waiter	*w;
	oidc_wait_cb		 cb;
	void			*arg;

	while ((w = TAILQ_FIRST(&oidc.waiters[kind])) != NULL) {
		TAILQ_REMOVE(&oidc.waiters[kind], w, entry);
		cb = w->cb;
		arg = w->arg;
		free(w);
		cb(err, arg);
	}
}

/* Forgets the provider's documents (issuer or CA changed, shutdown). */
static void
oidc_forget(const char *why)
{
	int	k;

	for (k = OIDC_META; k <= OIDC_KEYS; k++) {
		if (oidc.fetch[k] != NULL) {
			httpc_cancel(oidc.fetch[k]);
			oidc.fetch[k] = NULL;
		}
		oidc_waiters_run(k, why);
	}
	oidc_meta_clear(&oidc.meta);
	oidc.meta_at = 0;
	jwt_keys_free(oidc.keys);
	oidc.keys = NULL;
	oidc.keys_at = 0;
}

/*
 * Reads auth.oidc's secret and map files of @cfg (start and reload); on
 * failure nothing changes. A new issuer or CA drops the cached documents;
 * the discovery document is then fetched in the background.
 */
int
oidc_init(const struct config *cfg, char **cause)
{
	char	*secret = NULL, *map = NULL, *why = NULL;

	if (cfg->oidc_issuer != NULL) {
		if (cfg->oidc_ca_file != NULL && access(cfg->oidc_ca_file, R_OK) == -1) {
			xasprintf(cause, "auth.oidc: ca_file %s: %s", cfg->oidc_ca_file,
			    strerror(errno));
			return (-1);
		}
		if (oidc_load_secret(cfg->oidc_secret_file, &secret, cause) == -1)
			return (-1);
		if (cfg->oidc_map_file != NULL && oidc_read_file(cfg->oidc_map_file,
		    OIDC_MAP_MAX, 0, &map, cause) == -1) {
			freestr(secret);
			return (-1);
		}
	}
	if (oidc.issuer == NULL || cfg->oidc_issuer == NULL ||
	    strcmp(oidc.issuer, cfg->oidc_issuer) != 0 ||
	    (oidc.cafile == NULL) != (cfg->oidc_ca_file == NULL) ||
	    (oidc.cafile != NULL && strcmp(oidc.cafile, cfg->oidc_ca_file) != 0))
		oidc_forget("the provider's settings changed");
	free(oidc.issuer);
	free(oidc.cafile);
	oidc.issuer = cfg->oidc_issuer != NULL ? xstrdup(cfg->oidc_issuer) : NULL;
	oidc.cafile = cfg->oidc_ca_file != NULL ? xstrdup(cfg->oidc_ca_file) :
	    NULL;
	freestr(oidc.secret);
	free(oidc.map);
	oidc.secret = secret;
	oidc.map = map;
	if (oidc.issuer != NULL) {
		log_info("oidc: login with %s as client %s", oidc.issuer,
		    cfg->oidc_client_id);
		if (oidc.meta_at == 0 && oidc_fetch(OIDC_META, &why) == -1) {
			log_warnx("oidc: discovery document of %s: %s", oidc.issuer,
			    why);	/* tried again at the first login */
			free(why);
		}
	}
	return (0);
}

/* True if OpenID Connect login is configured. */
int
oidc_enabled(void)
{
	return (gate != NULL && gate->cfg != NULL && gate->cfg->oidc_issuer !=
	    NULL && oidc.secret != NULL);
}

/* Forgets the provider and its settings; every waiter is told (shutdown). */
void
oidc_clear(void)
{
	oidc_forget("shutting down");
	freestr(oidc.secret);
	oidc.secret = NULL;
	free(oidc.map);
	oidc.map = NULL;
	free(oidc.issuer);
	oidc.issuer = NULL;
	free(oidc.cafile);
	oidc.cafile = NULL;
}

/* 1 if a discovery document is there (maybe stale). */
int
oidc_discovered(void)
{
	return (oidc.meta_at != 0);
}

/* 1 if the discovery document is there and fresh. */
int
oidc_meta_fresh(void)
{
	return (oidc.meta_at != 0 && oidc.meta_at + OIDC_META_TTL > time(NULL));
}

/* An evbuffer's text as an owned string. */
static char *
oidc_buf_str(struct evbuffer *b)
{
	size_t	 len = evbuffer_get_length(b);
	char	*s = xmalloc(len + 1);

	evbuffer_remove(b, s, len);
	s[len] = '\0';
	evbuffer_free(b);
	return (s);
}

/* PUBLIC_URL/hub/oauth_callback, the registered redirect URI. */
static char *
oidc_redirect_uri(void)
{
	const char	*pub = gate->cfg->public_url;
	size_t		 n = strlen(pub);
	char		*s;

	while (n > 0 && pub[n - 1] == '/')
		n--;
	xasprintf(&s, "%.*s/hub/oauth_callback", (int)n, pub);
	return (s);
}

/*
 * The authorization request URL (owned) for a login's @state, @nonce and
 * PKCE @verifier; only with a discovery document (oidc_discovered()).
 */
char *
oidc_auth_url(const char *state, const char *nonce, const char *verifier)
{
	const struct config	*cfg = gate->cfg;
	struct evbuffer		*b = evbuffer_new();
	unsigned char		 md[32];
	unsigned int		 mdlen = sizeof md;
	char			*challenge, *redirect = oidc_redirect_uri();
	size_t			 i;

	if (b == NULL || EVP_Digest(verifier, strlen(verifier), md,
	    &mdlen, EVP_sha256(), NULL) != 1)
		fatalx("oidc: out of memory");
	challenge = codec_b64url_encode(md, sizeof md);
	evbuffer_add_printf(b, "%s%sresponse_type=code&client_id=",
	    oidc.meta.authorization_endpoint,
	    strchr(oidc.meta.authorization_endpoint, '?') != NULL ? "&" : "?");
	codec_pct_encode(b, cfg->oidc_client_id, NULL);
	evbuffer_add_printf(b, "&redirect_uri=");
	codec_pct_encode(b, redirect, NULL);
	evbuffer_add_printf(b, "&scope=");
	if (cfg->noidc_scopes == 0)
		evbuffer_add_printf(b, "openid%%20profile%%20email");
	for (i = 0; i < cfg->noidc_scopes; i++) {
		evbuffer_add_printf(b, "%s", i > 0 ? "%20" : "");
		codec_pct_encode(b, cfg->oidc_scopes[i], NULL);
	}
	evbuffer_add_printf(b, "&state=%s&nonce=%s&code_challenge=%s"
	    "&code_challenge_method=S256", state, nonce, challenge);
	free(challenge);
	free(redirect);
	return (oidc_buf_str(b));
}

/* httpc's answer to a discovery or key set fetch. */
static void
oidc_fetched(const struct httpc_result *res, void *arg)
{
	int		 kind = (int)(intptr_t)arg;
	struct jwt_keys	*keys;
	char		*cause = NULL;

	oidc.fetch[kind] = NULL;
	if (res->error != NULL)
		xasprintf(&cause, "%s", res->error);
	else if (res->status != 200)
		xasprintf(&cause, "HTTP status %ld", res->status);
	else if (kind == OIDC_META) {
		oidc_meta_clear(&oidc.meta);
		if (oidc_meta_parse(res->body, res->bodylen, oidc.issuer,
		    &oidc.meta, &cause) == 0)
			oidc.meta_at = time(NULL);
		else
			oidc.meta_at = 0;
	} else if ((keys = jwt_keys_parse(res->body, res->bodylen,
	    &cause)) != NULL) {
		jwt_keys_free(oidc.keys);
		oidc.keys = keys;
		oidc.keys_at = time(NULL);
		log_info("oidc: %zu signing keys from %s", jwt_keys_count(keys),
		    oidc.meta.jwks_uri);
	}
	if (cause != NULL) {
		log_warnx("oidc: %s of %s: %s", kind == OIDC_META ?
		    "discovery document" : "key set", oidc.issuer, cause);
	}
	oidc_waiters_run(kind, cause);
	free(cause);
}

/* Starts fetching @kind unless under way; -1 and *cause if it cannot. */
static int
oidc_fetch(int kind, char **cause)
{
	struct httpc_opts	 o;
	static const char *const hdrs[] = { "Accept: application/json", NULL };
	char			*url;

	if (oidc.fetch[kind] != NULL)
		return (0);
	if (oidc.issuer == NULL || (kind == OIDC_KEYS &&
	    oidc.meta.jwks_uri == NULL)) {
		xasprintf(cause, "the provider's settings are not loaded");
		return (-1);
	}
	if (kind == OIDC_META) {
		xasprintf(&url, "%.*s/.well-known/openid-configuration",
		    (int)(strlen(oidc.issuer) - (oidc.issuer[strlen(oidc.issuer)
		    - 1] == '/')), oidc.issuer);
	} else
		url = xstrdup(oidc.meta.jwks_uri);
	memset(&o, 0, sizeof o);
	o.method = "GET";
	o.url = url;
	o.headers = hdrs;
	o.timeout_ms = OIDC_TIMEOUT_MS;
	o.cafile = oidc.cafile;
	oidc.fetch[kind] = httpc_request(&o, oidc_fetched, (void *)(intptr_t)kind,
	    cause);
	free(url);
	return (oidc.fetch[kind] != NULL ? 0 : -1);
}

/* Adds a waiter for fetch @kind, starting it; NULL and *cause if it cannot. */
static struct oidc_waiter *
oidc_wait(int kind, oidc_wait_cb cb, void *arg, char **cause)
{
	struct oidc_waiter	*w;

	if (oidc_fetch(kind, cause) == -1)
		return (NULL);
	w = xcalloc(1, sizeof *w);
	w->cb = cb;
	w->arg = arg;
	w->kind = kind;
	TAILQ_INSERT_TAIL(&oidc.waiters[kind], w, entry);
	return (w);
}

/*
 * Fetches the discovery document and calls @cb (error or NULL, @arg) once
 * it is there or cannot be had, at the latest from oidc_clear(); -1 and
 * *cause if the fetch cannot start (then @cb is never called).
 */
int
oidc_discover(oidc_wait_cb cb, void *arg, char **cause)
{
	return (oidc_wait(OIDC_META, cb, arg, cause) != NULL ? 0 : -1);
}

/* Ends @ex: @r to its caller, then freed. */
static void
oidc_exchange_end(struct oidc_exchange *ex, struct oidc_result *r)
{
	r->sub = ex->sub;
	ex->cb(r, ex->arg);
	oidc_exchange_cancel(ex);
}

/* Ends @ex with error kind @error, @why for the log. */
static void
oidc_exchange_fail(struct oidc_exchange *ex, int error, const char *why)
{
	struct oidc_result	r;

	memset(&r, 0, sizeof r);
	r.error = error;
	r.why = why;
	oidc_exchange_end(ex, &r);
}

/* The user name claim's value @v, mapped to a user who may sign in. */
static void
oidc_exchange_user(struct oidc_exchange *ex, const char *v)
{
	const char		*claim = gate->cfg->oidc_username_claim;
	struct oidc_result	 r;
	char			*user = NULL, *cause = NULL, *why = NULL;

	memset(&r, 0, sizeof r);
	r.value = v;
	if (v == NULL) {
		r.error = OIDC_ENONAME;
		xasprintf(&why, "neither the ID token nor userinfo has a %s claim",
		    claim);
	} else if ((user = oidc_map_user(v, gate->cfg->oidc_strip_suffix,
	    oidc.map, &cause)) == NULL) {
		r.error = OIDC_ENOACCOUNT;
		xasprintf(&why, "%s \"%.128s\" %s", claim, v, cause);
	} else if ((cause = oidc_user_refusal(gate->cfg, user, ex->sub)) != NULL) {
		r.error = OIDC_ERESERVED;
		xasprintf(&why, "the %s claim maps to reserved name %s, which %s "
		    "(value \"%.64s\", sub %.64s)", claim, user, cause, v,
		    ex->sub != NULL ? ex->sub : "?");	/* cut at 200 */
	}
	r.user = user;
	r.cause = cause;
	r.why = why;
	oidc_exchange_end(ex, &r);
	free(user);
	free(cause);
	free(why);
}

/* Asks the userinfo endpoint for the claims the ID token lacks; -1 if not. */
static int
oidc_userinfo(struct oidc_exchange *ex)
{
	struct httpc_opts	 o;
	const char		*hdrs[3];
	char			*auth, *cause = NULL;

	if (oidc.meta.userinfo_endpoint == NULL || ex->access_token == NULL)
		return (-1);
	xasprintf(&auth, "Authorization: Bearer %s", ex->access_token);
	hdrs[0] = "Accept: application/json";
	hdrs[1] = auth;
	hdrs[2] = NULL;
	memset(&o, 0, sizeof o);
	o.method = "GET";
	o.url = oidc.meta.userinfo_endpoint;
	o.headers = hdrs;
	o.timeout_ms = OIDC_TIMEOUT_MS;
	o.cafile = oidc.cafile;
	ex->req = httpc_request(&o, oidc_userinfo_done, ex, &cause);
	freestr(auth);
	if (ex->req == NULL) {
		oidc_exchange_fail(ex, OIDC_EDOWN, cause);
		free(cause);
	}
	return (0);
}

/* The userinfo endpoint's answer: same subject, then the user name claim. */
static void
oidc_userinfo_done(const struct httpc_result *res, void *arg)
{
	struct oidc_exchange	*ex = arg;
	json_t			*j = NULL;
	const char		*sub;
	char			*why = NULL;

	ex->req = NULL;
	if (res->error != NULL || res->status >= 500) {
		xasprintf(&why, "userinfo endpoint: %s", res->error != NULL ?
		    res->error : "server error");
		oidc_exchange_fail(ex, OIDC_EDOWN, why);
		goto out;
	}
	j = json_loadb(res->body, res->bodylen, 0, NULL);
	sub = json_string_value(json_object_get(j, "sub"));
	if (res->status != 200 || sub == NULL || strcmp(sub, ex->sub) != 0) {
		xasprintf(&why, "userinfo endpoint: HTTP %ld, %s", res->status,
		    sub == NULL ? "no sub" : "another sub than the ID token's");
		oidc_exchange_fail(ex, OIDC_EUSERINFO, why);
		goto out;
	}
	oidc_exchange_user(ex, json_string_value(json_object_get(j,
	    gate->cfg->oidc_username_claim)));
out:
	json_decref(j);
	free(why);
}

/* The key set is fetched again (@err NULL) or cannot be: verify, or fail. */
static void
oidc_exchange_keys(const char *err, void *arg)
{
	struct oidc_exchange	*ex = arg;

	ex->w = NULL;	/* freed by oidc_waiters_run() */
	if (err != NULL)
		oidc_exchange_fail(ex, OIDC_EDOWN, err);
	else
		oidc_exchange_verify(ex);
}

/* The ID token: signature (refetching keys once for a new kid), claims, user. */
static void
oidc_exchange_verify(struct oidc_exchange *ex)
{
	struct jwt_expect	 x;
	struct jwt		*t;
	json_t			*claims;
	const char		*v;
	char			*cause = NULL;
	int			 rv;

	if (!oidc_enabled()) {	/* turned off by a reload meanwhile */
		oidc_exchange_fail(ex, OIDC_EDOWN, "OpenID Connect login was "
		    "turned off");
		return;
	}
	if ((t = jwt_parse(ex->id_token, strlen(ex->id_token), &cause)) == NULL)
		goto bad;
	rv = oidc.keys != NULL ? jwt_verify(t, oidc.keys, &cause) :
	    RESULT_NOT_FOUND;
	if (rv == RESULT_NOT_FOUND && !ex->refetched && (oidc.keys == NULL ||
	    oidc.keys_at + OIDC_KEYS_REFETCH <= time(NULL) ||
	    oidc.fetch[OIDC_KEYS] != NULL)) {
		ex->refetched = 1;
		jwt_free(t);
		free(cause);
		cause = NULL;
		if ((ex->w = oidc_wait(OIDC_KEYS, oidc_exchange_keys, ex,
		    &cause)) != NULL)
			return;
		oidc_exchange_fail(ex, OIDC_EDOWN, cause);
		free(cause);
		return;
	}
	if (rv != RESULT_OK)
		goto bad;
	memset(&x, 0, sizeof x);
	x.issuer = gate->cfg->oidc_issuer;
	x.client_id = gate->cfg->oidc_client_id;
	x.nonce = ex->nonce;
	x.now = time(NULL);
	x.skew = OIDC_SKEW;
	if (jwt_check(t, &x, &cause) == -1)
		goto bad;
	claims = jwt_claims(t);
	ex->sub = xstrdup(json_string_value(json_object_get(claims, "sub")));
	if ((v = json_string_value(json_object_get(claims,
	    gate->cfg->oidc_username_claim))) != NULL || oidc_userinfo(ex) == -1)
		oidc_exchange_user(ex, v);
	jwt_free(t);
	return;
bad:
	oidc_exchange_fail(ex, OIDC_EVERIFY, cause);
	jwt_free(t);
	free(cause);
}

/* The token endpoint's answer. */
static void
oidc_token_done(const struct httpc_result *res, void *arg)
{
	struct oidc_exchange	*ex = arg;
	json_t			*j = NULL;
	const char		*tok, *err;
	char			*why = NULL;

	ex->req = NULL;
	if (res->error != NULL) {
		xasprintf(&why, "token endpoint: %s", res->error);
		oidc_exchange_fail(ex, OIDC_EDOWN, why);
		goto out;
	}
	j = json_loadb(res->body, res->bodylen, 0, NULL);
	err = json_string_value(json_object_get(j, "error"));
	if (res->status != 200 || err != NULL) {
		xasprintf(&why, "token endpoint: HTTP %ld, error %.64s", res->status,
		    err != NULL ? err : "(none)");
		if (err != NULL && strcmp(err, "invalid_grant") == 0)
			oidc_exchange_fail(ex, OIDC_EEXPIRED, why);
		else if (res->status >= 500 || err == NULL)
			oidc_exchange_fail(ex, OIDC_EDOWN, why);
		else	/* e.g. invalid_client */
			oidc_exchange_fail(ex, OIDC_ECLIENT, why);
		goto out;
	}
	if ((tok = json_string_value(json_object_get(j, "id_token"))) == NULL) {
		oidc_exchange_fail(ex, OIDC_ENOTOKEN, "token endpoint: no id_token "
		    "in the answer");
		goto out;
	}
	ex->id_token = xstrdup(tok);
	if ((tok = json_string_value(json_object_get(j, "access_token"))) != NULL)
		ex->access_token = xstrdup(tok);
	oidc_exchange_verify(ex);
out:
	json_decref(j);
	free(why);
}

/* The token request's form body for @code and @verifier; *auth for Basic. */
static char *
oidc_token_body(const char *code, const char *verifier, char **auth)
{
	const struct config	*cfg = gate->cfg;
	struct evbuffer		*b = evbuffer_new(), *cred;
	char			*redirect = oidc_redirect_uri(), *plain, *b64;
	size_t			 n;

	if (b == NULL || (cred = evbuffer_new()) == NULL)
		fatalx("oidc: out of memory");
	*auth = NULL;
	evbuffer_add_printf(b, "grant_type=authorization_code&code=");
	codec_pct_encode(b, code, NULL);
	evbuffer_add_printf(b, "&redirect_uri=");
	codec_pct_encode(b, redirect, NULL);
	evbuffer_add_printf(b, "&code_verifier=%s", verifier);
	if (oidc.meta.auth_post) {
		evbuffer_add_printf(b, "&client_id=");
		codec_pct_encode(b, cfg->oidc_client_id, NULL);
		evbuffer_add_printf(b, "&client_secret=");
		codec_pct_encode(b, oidc.secret, NULL);
		evbuffer_free(cred);
	} else {	/* RFC 6749 2.3.1: form-encoded, then Basic */
		codec_pct_encode(cred, cfg->oidc_client_id, NULL);
		evbuffer_add(cred, ":", 1);
		codec_pct_encode(cred, oidc.secret, NULL);
		n = evbuffer_get_length(cred);
		plain = oidc_buf_str(cred);
		b64 = codec_b64_encode(plain, n);
		xasprintf(auth, "Authorization: Basic %s", b64);
		freestr(b64);
		freestr(plain);
	}
	free(redirect);
	return (oidc_buf_str(b));
}

/*
 * Exchanges the authorization @code (with the login's PKCE @verifier) for
 * the user it names, checking the ID token against @nonce; @cb gets the
 * result once (not from inside this call). NULL and *cause if the request
 * cannot start. Needs a discovery document (oidc_discovered()).
 */
struct oidc_exchange *
oidc_exchange_start(const char *code, const char *verifier, const char *nonce,
    oidc_exchange_cb cb, void *arg, char **cause)
{
	struct oidc_exchange	*ex;
	struct httpc_opts	 o;
	const char		*hdrs[4];
	char			*body, *auth;
	size_t			 n = 0;

	body = oidc_token_body(code, verifier, &auth);
	hdrs[n++] = "Accept: application/json";
	hdrs[n++] = "Content-Type: application/x-www-form-urlencoded";
	if (auth != NULL)
		hdrs[n++] = auth;
	hdrs[n] = NULL;
	memset(&o, 0, sizeof o);
	o.method = "POST";
	o.url = oidc.meta.token_endpoint;
	o.headers = hdrs;
	o.body = body;
	o.bodylen = strlen(body);
	o.timeout_ms = OIDC_TIMEOUT_MS;
	o.cafile = oidc.cafile;
	ex = xcalloc(1, sizeof *ex);
	ex->cb = cb;
	ex->arg = arg;
	ex->nonce = xstrdup(nonce);
	if ((ex->req = httpc_request(&o, oidc_token_done, ex, cause)) == NULL) {
		oidc_exchange_cancel(ex);
		ex = NULL;
	}
	freestr(body);
	if (auth != NULL)
		freestr(auth);
	return (ex);
}

/* Stops @ex without calling its callback, and frees it; NULL is a no-op. */
void
oidc_exchange_cancel(struct oidc_exchange *ex)
{
	if (ex == NULL)
		return;
	if (ex->w != NULL) {
		TAILQ_REMOVE(&oidc.waiters[ex->w->kind], ex->w, entry);
		free(ex->w);
	}
	if (ex->req != NULL)
		httpc_cancel(ex->req);
	freestr(ex->nonce);
	freestr(ex->id_token);
	freestr(ex->access_token);
	free(ex->sub);
	free(ex);
}
