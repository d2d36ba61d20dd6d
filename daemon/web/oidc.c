/*
 * oidc.c: OpenID Connect login (auth.oidc): the provider's discovery
 * document and keys (fetched with httpc.c, cached), the pending logins'
 * state/nonce/PKCE verifier kept in memory, /hub/oauth_login (redirect to
 * the provider) and /hub/oauth_callback (code -> token -> login cookie).
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

#include "daemon/web/web.h"
#include "scheduler/scheduler.h"

#define OIDC_COOKIE		"nbgate-oidc"	/* binds a login to its browser */
#define OIDC_STATE_TTL		600	/* s from the redirect to the callback */
#define OIDC_STATES_MAX		4096	/* logins under way, all browsers */
#define OIDC_STATES_PEER	64	/* ... from one address: oldest go */
#define OIDC_FLOWS_MAX		64	/* callbacks waiting for the provider */
#define OIDC_META_TTL		3600	/* s a discovery document is reused */
#define OIDC_KEYS_REFETCH	10	/* s between key set fetches for a new kid */
#define OIDC_TIMEOUT_MS		10000
#define OIDC_SKEW		120	/* s of clock difference tolerated */
#define OIDC_SECRET_MAX		1024
#define OIDC_MAP_MAX		(1024 * 1024)

enum { OIDC_META, OIDC_KEYS };

/* One login between the redirect and the callback; single use. */
struct oidc_state {
	char			*state;
	char			*nonce;
	char			*verifier;	/* PKCE */
	char			*next;
	char			*bind;		/* the nbgate-oidc cookie */
	char			*peer;
	time_t			 expires;
	TAILQ_ENTRY(oidc_state)	 entry;
};
static TAILQ_HEAD(oidc_states, oidc_state) oidc_states =
    TAILQ_HEAD_INITIALIZER(oidc_states);
static size_t		 oidc_nstates;

/* A browser waiting for the provider (deferred answer). */
struct oidc_flow {
	struct conn_defer	*defer;
	int			 callback;	/* 0: /hub/oauth_login */
	int			 waiting;	/* OIDC_META/KEYS, or -1 */
	char			*peer;
	char			*next;		/* oauth_login */
	char			*bind;		/* oauth_login: cookie to set */
	struct oidc_state	*st;		/* callback: the used state */
	struct httpc_req	*req;		/* token request */
	char			*id_token;
	char			*access_token;	/* for userinfo, if asked */
	char			*sub;		/* the verified ID token's */
	int			 refetched;	/* key set refetched once */
	TAILQ_ENTRY(oidc_flow)	 entry;		/* all flows */
	TAILQ_ENTRY(oidc_flow)	 wentry;	/* waiters on a fetch */
};
static TAILQ_HEAD(oidc_flows, oidc_flow) oidc_flows =
    TAILQ_HEAD_INITIALIZER(oidc_flows);
static size_t		 oidc_nflows;

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
	struct oidc_flows	 waiters[2];
} oidc = {
	.waiters = { TAILQ_HEAD_INITIALIZER(oidc.waiters[0]),
	    TAILQ_HEAD_INITIALIZER(oidc.waiters[1]) },
};

static void	oidc_flow_verify(struct oidc_flow *);
static int	oidc_fetch(int, char **);

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

/* Fails every browser waiting on fetch @kind, or lets it go on. */
static void	oidc_waiters_run(int, const char *);

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

static void
oidc_state_free(struct oidc_state *st)
{
	if (st == NULL)
		return;
	freestr(st->state);
	freestr(st->nonce);
	freestr(st->verifier);
	free(st->next);
	freestr(st->bind);
	free(st->peer);
	free(st);
}

/*
 * Drops expired states, and @peer's oldest ones beyond OIDC_STATES_PEER - 1
 * (so one address cannot fill the table; a browser abandoning logins only
 * loses its own oldest ones).
 */
static void
oidc_states_sweep(const char *peer)
{
	struct oidc_state	*st, *next;
	time_t			 now = time(NULL);
	size_t			 n = 0;

	for (st = TAILQ_LAST(&oidc_states, oidc_states); st != NULL; st = next) {
		next = TAILQ_PREV(st, oidc_states, entry);	/* newest first */
		if (st->expires < now || (peer != NULL &&
		    strcmp(st->peer, peer) == 0 && ++n >= OIDC_STATES_PEER)) {
			TAILQ_REMOVE(&oidc_states, st, entry);
			oidc_nstates--;
			oidc_state_free(st);
		}
	}
}

/* Takes the state @s out of the table (single use); NULL if unknown. */
static struct oidc_state *
oidc_state_take(const char *s)
{
	struct oidc_state	*st;

	oidc_states_sweep(NULL);
	TAILQ_FOREACH(st, &oidc_states, entry) {
		if (util_streq_ct(st->state, s)) {
			TAILQ_REMOVE(&oidc_states, st, entry);
			oidc_nstates--;
			return (st);
		}
	}
	return (NULL);
}

/* A page saying what happened, with a link to start again. */
static void
oidc_page(struct api_resp *rs, int code, const char *title, const char *text,
    const char *detail)
{
	struct evbuffer	*b = pages_begin(title, NULL);

	evbuffer_add_printf(b, "<p role=\"alert\" id=\"oidc-error\">");
	http_html_escape(b, text);
	evbuffer_add_printf(b, "</p>\n");
	if (detail != NULL) {
		evbuffer_add_printf(b, "<p class=\"hint\">Details: ");
		http_html_escape(b, detail);
		evbuffer_add_printf(b, "</p>\n");
	}
	evbuffer_add_printf(b, "<p><a class=\"button\" href=\"/hub/login\">Try "
	    "again</a></p>\n");
	pages_reply(rs, code, b, NULL);
	api_add_headers(rs, xstrdup("Cache-Control: no-store\r\n"));
}

/* A copy of remote text fit for a log line: control bytes as '?', cut short. */
static char *
oidc_clean(const char *s)
{
	char	*c = xstrndup(s != NULL ? s : "", 200), *p;

	for (p = c; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	return (c);
}

/* A failed login: counted, logged (no secrets), and a page. */
static void
oidc_fail(struct api_resp *rs, const char *peer, int code, const char *title,
    const char *text, const char *why)
{
	char	*clean = oidc_clean(why);

	gate->stats.login_failures++;
	log_info("login: from %s: OpenID Connect login failed: %s", peer, clean);
	free(clean);
	oidc_page(rs, code, title, text, NULL);
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

/* The authorization request URL for a new state @st. */
static char *
oidc_auth_url(const struct oidc_state *st)
{
	const struct config	*cfg = gate->cfg;
	struct evbuffer		*b = evbuffer_new();
	unsigned char		 md[32];
	unsigned int		 mdlen = sizeof md;
	char			*challenge, *redirect = oidc_redirect_uri();
	size_t			 i;

	if (b == NULL || EVP_Digest(st->verifier, strlen(st->verifier), md,
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
	    "&code_challenge_method=S256", st->state, st->nonce, challenge);
	free(challenge);
	free(redirect);
	return (oidc_buf_str(b));
}

/* The browser's nbgate-oidc cookie if well formed (owned), else NULL. */
static char *
oidc_bind_get(const struct api_req *ar)
{
	const char	*h = http_msg_get(ar->head, "cookie");
	char		*v;

	if (h == NULL || (v = http_cookie_get(h, OIDC_COOKIE)) == NULL)
		return (NULL);
	if (strlen(v) != 43 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_-") != 43) {
		free(v);
		return (NULL);
	}
	return (v);
}

/* Makes a state for @fl and the 302 to the provider. */
static void
oidc_login_redirect(struct oidc_flow *fl, struct api_resp *rs)
{
	struct oidc_state	*st = xcalloc(1, sizeof *st);
	struct evbuffer		*b;
	char			*url, *h;

	st->state = util_random_token(32);
	st->nonce = util_random_token(32);
	st->verifier = util_random_token(32);
	st->next = xstrdup(fl->next);
	st->bind = xstrdup(fl->bind);
	st->peer = xstrdup(fl->peer);
	st->expires = time(NULL) + OIDC_STATE_TTL;
	TAILQ_INSERT_TAIL(&oidc_states, st, entry);
	oidc_nstates++;
	url = oidc_auth_url(st);
	b = pages_begin("Signing in", NULL);
	evbuffer_add_printf(b, "<p><a href=\"");
	http_html_escape(b, url);
	evbuffer_add_printf(b, "\">Continue to the sign-in page</a></p>\n");
	pages_reply(rs, 302, b, url);
	xasprintf(&h, "Set-Cookie: %s=%s; Path=/hub/oauth_callback; Max-Age=%d; "
	    "HttpOnly; Secure; SameSite=Lax\r\nCache-Control: no-store\r\n",
	    OIDC_COOKIE, fl->bind, OIDC_STATE_TTL);
	api_add_headers(rs, h);
	free(url);
	log_debug("oidc: from %s: sent to the provider", fl->peer);
}

static void
oidc_flow_free(struct oidc_flow *fl)
{
	TAILQ_REMOVE(&oidc_flows, fl, entry);
	oidc_nflows--;
	if (fl->waiting != -1)
		TAILQ_REMOVE(&oidc.waiters[fl->waiting], fl, wentry);
	if (fl->req != NULL)
		httpc_cancel(fl->req);
	free(fl->peer);
	free(fl->next);
	freestr(fl->bind);
	oidc_state_free(fl->st);
	freestr(fl->id_token);
	freestr(fl->access_token);
	free(fl->sub);
	free(fl);
}

static struct oidc_flow *
oidc_flow_new(const struct api_req *ar, int callback)
{
	struct oidc_flow	*fl = xcalloc(1, sizeof *fl);

	fl->callback = callback;
	fl->waiting = -1;
	fl->peer = xstrdup(ar->peer != NULL ? ar->peer : "?");
	TAILQ_INSERT_TAIL(&oidc_flows, fl, entry);
	oidc_nflows++;
	return (fl);
}

/* Sends @rs to @fl's browser and ends the flow. */
static void
oidc_flow_answer(struct oidc_flow *fl, struct api_resp *rs)
{
	conn_defer_answer(fl->defer, rs);	/* frees rs's parts */
	fl->defer = NULL;
	oidc_flow_free(fl);
}

/* The provider cannot be used: a page for @fl. */
static void
oidc_flow_down(struct oidc_flow *fl, const char *why)
{
	struct api_resp	rs;

	memset(&rs, 0, sizeof rs);
	oidc_fail(&rs, fl->peer, 503, "Sign-in service unreachable", "The "
	    "gateway cannot reach the identity provider right now. Try again in "
	    "a few minutes; if it persists, tell the gateway's administrators.",
	    why);
	api_add_headers(&rs, xstrdup("Retry-After: 60\r\n"));
	oidc_flow_answer(fl, &rs);
}

/* A fetch is done (@err NULL on success): every waiter goes on. */
static void
oidc_waiters_run(int kind, const char *err)
{
	struct oidc_flow	*fl;
	struct api_resp		 rs;

	while ((fl = TAILQ_FIRST(&oidc.waiters[kind])) != NULL) {
		TAILQ_REMOVE(&oidc.waiters[kind], fl, wentry);
		fl->waiting = -1;
		if (err != NULL)
			oidc_flow_down(fl, err);
		else if (!fl->callback) {
			memset(&rs, 0, sizeof rs);
			oidc_login_redirect(fl, &rs);
			oidc_flow_answer(fl, &rs);
		} else
			oidc_flow_verify(fl);
	}
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

/* Makes @fl wait for fetch @kind; -1 and *cause if it cannot start. */
static int
oidc_wait(struct oidc_flow *fl, int kind, char **cause)
{
	if (oidc_fetch(kind, cause) == -1)
		return (-1);
	fl->waiting = kind;
	TAILQ_INSERT_TAIL(&oidc.waiters[kind], fl, wentry);
	return (0);
}

/* 1 if the discovery document is there and fresh. */
static int
oidc_meta_fresh(void)
{
	return (oidc.meta_at != 0 && oidc.meta_at + OIDC_META_TTL > time(NULL));
}

/* GET /hub/oauth_login?next=PATH: a new state, then off to the provider. */
static void
oidc_login(const struct api_req *ar, struct api_resp *rs)
{
	const char		*q = ar->query != NULL ? ar->query : "", *next;
	const char		*peer = ar->peer != NULL ? ar->peer : "?";
	struct oidc_flow	*fl;
	json_t			*vals;
	char			*cause = NULL;

	vals = pages_form_parse(q, strlen(q), &cause);
	free(cause);
	cause = NULL;
	next = json_string_value(json_object_get(vals, "next"));
	oidc_states_sweep(peer);
	if (oidc_nstates >= OIDC_STATES_MAX || oidc_nflows >= OIDC_FLOWS_MAX) {
		log_info("login: from %s: too many OpenID Connect logins under "
		    "way, refused for now", peer);
		oidc_page(rs, 429, "Too many sign-ins", "Too many sign-ins are "
		    "under way. Wait a few minutes and try again.", NULL);
		goto out;
	}
	fl = oidc_flow_new(ar, 0);
	fl->next = xstrdup(login_next_valid(next) ? next : "/hub/home");
	if ((fl->bind = oidc_bind_get(ar)) == NULL)
		fl->bind = util_random_token(32);
	if (oidc_meta_fresh()) {
		oidc_login_redirect(fl, rs);
		oidc_flow_free(fl);
	} else if (oidc_wait(fl, OIDC_META, &cause) == -1) {
		oidc_fail(rs, peer, 503, "Sign-in service unreachable", "The "
		    "gateway cannot reach the identity provider right now. Try "
		    "again in a few minutes.", cause);
		oidc_flow_free(fl);
	} else
		fl->defer = conn_defer(ar->conn);
out:
	free(cause);
	json_decref(vals);
}

/* Logs @fl's user in: the login cookie and a 303 to where it was going. */
static void
oidc_flow_done(struct oidc_flow *fl, const char *user, const char *sub)
{
	struct api_resp	 rs;
	struct evbuffer	*b;
	char		*cookie, *h, *clean;

	memset(&rs, 0, sizeof rs);
	clean = oidc_clean(sub);
	log_info("login: %s logged in with OpenID Connect (sub %s) from %s",
	    user, clean, fl->peer);
	free(clean);
	store_audit(user, "login-oidc", user, fl->peer);
	b = pages_begin("Logged in", NULL);
	evbuffer_add_printf(b, "<p><a href=\"");
	http_html_escape(b, fl->st->next);
	evbuffer_add_printf(b, "\">Continue</a></p>\n");
	pages_reply(&rs, 303, b, fl->st->next);
	cookie = auth_cookie_make(user, gate->cfg->cookie_max_age);
	xasprintf(&h, "Set-Cookie: %s=%s; Path=/; Max-Age=%d; HttpOnly; Secure; "
	    "SameSite=Lax\r\nCache-Control: no-store\r\n", AUTH_COOKIE, cookie,
	    gate->cfg->cookie_max_age);
	freestr(cookie);
	api_add_headers(&rs, h);
	oidc_flow_answer(fl, &rs);
}

/* A callback that cannot go on: the page, counted and logged. */
static void
oidc_flow_fail(struct oidc_flow *fl, int code, const char *title,
    const char *text, const char *why)
{
	struct api_resp	rs;

	memset(&rs, 0, sizeof rs);
	oidc_fail(&rs, fl->peer, code, title, text, why);
	oidc_flow_answer(fl, &rs);
}

/* A mapped name that may not sign in here: counted, logged, a page. */
static void
oidc_flow_reserved(struct oidc_flow *fl, const char *v, const char *user,
    const char *cause)
{
	struct evbuffer	*text;
	char		*msg, *why;

	gate->stats.login_reserved++;
	if ((text = evbuffer_new()) == NULL)
		fatalx("oidc: out of memory");
	evbuffer_add_printf(text, "You signed in as \"%.128s\", which would be "
	    "the account \"%s\" here; that name %s, so it cannot be used to sign "
	    "in with your identity provider. Ask the gateway's administrators.",
	    v, user, cause);
	msg = oidc_buf_str(text);
	xasprintf(&why, "the %s claim maps to reserved name %s, which %s "
	    "(value \"%.64s\", sub %.64s)", gate->cfg->oidc_username_claim, user,
	    cause, v, fl->sub != NULL ? fl->sub : "?");	/* cut at 200 */
	oidc_flow_fail(fl, 403, "This name is reserved", msg, why);
	free(why);
	free(msg);
}

/* The ID token's user, mapped; or the refusal page. */
static void
oidc_flow_user(struct oidc_flow *fl, const char *v)
{
	const char	*claim = gate->cfg->oidc_username_claim;
	struct evbuffer	*text;
	char		*user, *cause = NULL, *msg, *why;

	if (v == NULL) {
		xasprintf(&why, "neither the ID token nor userinfo has a %s claim",
		    claim);
		oidc_flow_fail(fl, 403, "No user name", "The identity provider "
		    "did not tell this gateway your user name. Tell the gateway's "
		    "administrators.", why);
		free(why);
		return;
	}
	if ((user = oidc_map_user(v, gate->cfg->oidc_strip_suffix, oidc.map,
	    &cause)) != NULL && (cause = oidc_user_refusal(gate->cfg, user,
	    fl->sub)) != NULL) {
		oidc_flow_reserved(fl, v, user, cause);
		free(cause);
		free(user);
		return;
	}
	if (user == NULL) {
		if ((text = evbuffer_new()) == NULL)
			fatalx("oidc: out of memory");
		evbuffer_add_printf(text, "You signed in as \"%.128s\", which %s. "
		    "Ask the gateway's administrators for access.", v, cause);
		msg = oidc_buf_str(text);
		xasprintf(&why, "%s \"%.128s\" %s", claim, v, cause);
		oidc_flow_fail(fl, 403, "No account on this gateway", msg, why);
		free(why);
		free(msg);
		free(cause);
		return;
	}
	oidc_flow_done(fl, user, fl->sub);
	free(user);
}

/* The userinfo endpoint's answer: same subject, then the user name claim. */
static void
oidc_userinfo_done(const struct httpc_result *res, void *arg)
{
	struct oidc_flow	*fl = arg;
	json_t			*j = NULL;
	const char		*sub;
	char			*why = NULL;

	fl->req = NULL;
	if (res->error != NULL || res->status >= 500) {
		xasprintf(&why, "userinfo endpoint: %s", res->error != NULL ?
		    res->error : "server error");
		oidc_flow_down(fl, why);
		goto out;
	}
	j = json_loadb(res->body, res->bodylen, 0, NULL);
	sub = json_string_value(json_object_get(j, "sub"));
	if (res->status != 200 || sub == NULL || strcmp(sub, fl->sub) != 0) {
		xasprintf(&why, "userinfo endpoint: HTTP %ld, %s", res->status,
		    sub == NULL ? "no sub" : "another sub than the ID token's");
		oidc_flow_fail(fl, 502, "Sign-in failed", "The identity "
		    "provider's user information could not be used. Tell the "
		    "gateway's administrators.", why);
		goto out;
	}
	oidc_flow_user(fl, json_string_value(json_object_get(j,
	    gate->cfg->oidc_username_claim)));
out:
	json_decref(j);
	free(why);
}

/* Asks the userinfo endpoint for the claims the ID token lacks; -1 if not. */
static int
oidc_userinfo(struct oidc_flow *fl)
{
	struct httpc_opts	 o;
	const char		*hdrs[3];
	char			*auth, *cause = NULL;

	if (oidc.meta.userinfo_endpoint == NULL || fl->access_token == NULL)
		return (-1);
	xasprintf(&auth, "Authorization: Bearer %s", fl->access_token);
	hdrs[0] = "Accept: application/json";
	hdrs[1] = auth;
	hdrs[2] = NULL;
	memset(&o, 0, sizeof o);
	o.method = "GET";
	o.url = oidc.meta.userinfo_endpoint;
	o.headers = hdrs;
	o.timeout_ms = OIDC_TIMEOUT_MS;
	o.cafile = oidc.cafile;
	fl->req = httpc_request(&o, oidc_userinfo_done, fl, &cause);
	freestr(auth);
	if (fl->req == NULL) {
		oidc_flow_down(fl, cause);
		free(cause);
	}
	return (0);
}

/* The ID token: signature (refetching keys once for a new kid), claims, user. */
static void
oidc_flow_verify(struct oidc_flow *fl)
{
	struct jwt_expect	 x;
	struct jwt		*t;
	json_t			*claims;
	const char		*v;
	char			*cause = NULL;
	int			 rv;

	if (!oidc_enabled()) {	/* turned off by a reload meanwhile */
		oidc_flow_down(fl, "OpenID Connect login was turned off");
		return;
	}
	if ((t = jwt_parse(fl->id_token, strlen(fl->id_token), &cause)) == NULL)
		goto bad;
	rv = oidc.keys != NULL ? jwt_verify(t, oidc.keys, &cause) :
	    RESULT_NOT_FOUND;
	if (rv == RESULT_NOT_FOUND && !fl->refetched && (oidc.keys == NULL ||
	    oidc.keys_at + OIDC_KEYS_REFETCH <= time(NULL) ||
	    oidc.fetch[OIDC_KEYS] != NULL)) {
		fl->refetched = 1;
		jwt_free(t);
		free(cause);
		cause = NULL;
		if (oidc_wait(fl, OIDC_KEYS, &cause) == 0)
			return;
		oidc_flow_down(fl, cause);
		free(cause);
		return;
	}
	if (rv != RESULT_OK)
		goto bad;
	memset(&x, 0, sizeof x);
	x.issuer = gate->cfg->oidc_issuer;
	x.client_id = gate->cfg->oidc_client_id;
	x.nonce = fl->st->nonce;
	x.now = time(NULL);
	x.skew = OIDC_SKEW;
	if (jwt_check(t, &x, &cause) == -1)
		goto bad;
	claims = jwt_claims(t);
	fl->sub = xstrdup(json_string_value(json_object_get(claims, "sub")));
	if ((v = json_string_value(json_object_get(claims,
	    gate->cfg->oidc_username_claim))) != NULL || oidc_userinfo(fl) == -1)
		oidc_flow_user(fl, v);
	jwt_free(t);
	return;
bad:
	oidc_flow_fail(fl, 502, "Sign-in could not be verified", "The identity "
	    "provider's answer could not be verified, so you are not logged in. "
	    "Try again; if it persists, tell the gateway's administrators.",
	    cause);
	jwt_free(t);
	free(cause);
}

/* The token endpoint's answer. */
static void
oidc_token_done(const struct httpc_result *res, void *arg)
{
	struct oidc_flow	*fl = arg;
	json_t			*j = NULL;
	const char		*tok, *err;
	char			*why = NULL;

	fl->req = NULL;
	if (res->error != NULL) {
		xasprintf(&why, "token endpoint: %s", res->error);
		oidc_flow_down(fl, why);
		goto out;
	}
	j = json_loadb(res->body, res->bodylen, 0, NULL);
	err = json_string_value(json_object_get(j, "error"));
	if (res->status != 200 || err != NULL) {
		xasprintf(&why, "token endpoint: HTTP %ld, error %.64s", res->status,
		    err != NULL ? err : "(none)");
		if (err != NULL && strcmp(err, "invalid_grant") == 0)
			oidc_flow_fail(fl, 400, "Sign-in expired", "The identity "
			    "provider refused this sign-in (expired or already "
			    "used). Start again from the login page.", why);
		else if (res->status >= 500 || err == NULL)
			oidc_flow_down(fl, why);
		else
			oidc_flow_fail(fl, 502, "Sign-in misconfigured", "The "
			    "identity provider refused the gateway's credentials "
			    "(" /* e.g. invalid_client */ "a configuration "
			    "problem). Tell the gateway's administrators.", why);
		goto out;
	}
	if ((tok = json_string_value(json_object_get(j, "id_token"))) == NULL) {
		oidc_flow_fail(fl, 502, "Sign-in failed", "The identity provider "
		    "sent no ID token. Tell the gateway's administrators.",
		    "token endpoint: no id_token in the answer");
		goto out;
	}
	fl->id_token = xstrdup(tok);
	if ((tok = json_string_value(json_object_get(j, "access_token"))) != NULL)
		fl->access_token = xstrdup(tok);
	oidc_flow_verify(fl);
out:
	json_decref(j);
	free(why);
}

/* POSTs the code with the verifier to the token endpoint for @fl. */
static int
oidc_token_request(struct oidc_flow *fl, const char *code, char **cause)
{
	const struct config	*cfg = gate->cfg;
	struct evbuffer		*b = evbuffer_new(), *cred;
	struct httpc_opts	 o;
	const char		*hdrs[4];
	char			*body, *redirect = oidc_redirect_uri(), *auth = NULL;
	char			*plain, *b64;
	size_t			 n;

	if (b == NULL || (cred = evbuffer_new()) == NULL)
		fatalx("oidc: out of memory");
	evbuffer_add_printf(b, "grant_type=authorization_code&code=");
	codec_pct_encode(b, code, NULL);
	evbuffer_add_printf(b, "&redirect_uri=");
	codec_pct_encode(b, redirect, NULL);
	evbuffer_add_printf(b, "&code_verifier=%s", fl->st->verifier);
	if (oidc.meta.auth_post) {
		evbuffer_add_printf(b, "&client_id=");
		codec_pct_encode(b, cfg->oidc_client_id, NULL);
		evbuffer_add_printf(b, "&client_secret=");
		codec_pct_encode(b, oidc.secret, NULL);
	} else {	/* RFC 6749 2.3.1: form-encoded, then Basic */
		codec_pct_encode(cred, cfg->oidc_client_id, NULL);
		evbuffer_add(cred, ":", 1);
		codec_pct_encode(cred, oidc.secret, NULL);
		n = evbuffer_get_length(cred);
		plain = oidc_buf_str(cred);
		cred = NULL;
		b64 = codec_b64_encode(plain, n);
		xasprintf(&auth, "Authorization: Basic %s", b64);
		freestr(b64);
		freestr(plain);
	}
	if (cred != NULL)
		evbuffer_free(cred);
	n = 0;
	hdrs[n++] = "Accept: application/json";
	hdrs[n++] = "Content-Type: application/x-www-form-urlencoded";
	if (auth != NULL)
		hdrs[n++] = auth;
	hdrs[n] = NULL;
	n = evbuffer_get_length(b);
	body = oidc_buf_str(b);
	memset(&o, 0, sizeof o);
	o.method = "POST";
	o.url = oidc.meta.token_endpoint;
	o.headers = hdrs;
	o.body = body;
	o.bodylen = n;
	o.timeout_ms = OIDC_TIMEOUT_MS;
	o.cafile = oidc.cafile;
	fl->req = httpc_request(&o, oidc_token_done, fl, cause);
	freestr(body);
	if (auth != NULL)
		freestr(auth);
	free(redirect);
	return (fl->req != NULL ? 0 : -1);
}

/* The callback's checks before the token request; 0 or -1 with @rs set. */
static int
oidc_callback_check(const struct api_req *ar, struct api_resp *rs,
    json_t *vals, struct oidc_state **stp)
{
	const char		*peer = ar->peer != NULL ? ar->peer : "?";
	const char		*state = json_string_value(json_object_get(vals, "state"));
	const char		*err = json_string_value(json_object_get(vals, "error"));
	const char		*desc, *iss;
	struct oidc_state	*st;
	char			*bind, *why, *clean;
	int			 same;

	if (state == NULL || (st = oidc_state_take(state)) == NULL) {
		oidc_fail(rs, peer, 400, "Sign-in expired", "This sign-in is "
		    "unknown, has expired, or was already used. Start again from "
		    "the login page.", "unknown, expired or used state");
		return (-1);
	}
	*stp = st;
	bind = oidc_bind_get(ar);
	same = bind != NULL && util_streq_ct(bind, st->bind);
	free(bind);
	if (!same) {
		oidc_fail(rs, peer, 403, "Sign-in refused", "This sign-in was "
		    "started in another browser (or its cookie was lost). Start "
		    "again from the login page in this browser.",
		    "state used without its browser cookie");
		return (-1);
	}
	if (err != NULL) {
		desc = json_string_value(json_object_get(vals, "error_description"));
		xasprintf(&why, "the provider said %.64s", err);
		clean = oidc_clean(why);
		gate->stats.login_failures++;
		log_info("login: from %s: OpenID Connect login failed: %s", peer,
		    clean);
		free(clean);
		oidc_page(rs, 403, "Sign-in not completed", strcmp(err,
		    "access_denied") == 0 ? "The identity provider did not let "
		    "you sign in to this gateway (access denied)." : "The identity "
		    "provider ended the sign-in with an error.", desc != NULL ?
		    desc : err);
		free(why);
		return (-1);
	}
	iss = json_string_value(json_object_get(vals, "iss"));
	if (iss != NULL && strcmp(iss, gate->cfg->oidc_issuer) != 0) {
		oidc_fail(rs, peer, 400, "Sign-in refused", "The answer came from "
		    "another identity provider. Start again from the login page.",
		    "iss parameter of another issuer (mix-up)");
		return (-1);
	}
	if (json_string_value(json_object_get(vals, "code")) == NULL) {
		oidc_fail(rs, peer, 400, "Sign-in failed", "The identity provider "
		    "sent no code. Start again from the login page.", "no code");
		return (-1);
	}
	if (oidc.meta_at == 0) {
		oidc_fail(rs, peer, 503, "Sign-in service unreachable", "The "
		    "gateway lost the identity provider's settings. Try again in a "
		    "few minutes.", "no discovery document");
		return (-1);
	}
	return (0);
}

/* GET /hub/oauth_callback?code&state: the token request, answered later. */
static void
oidc_callback(const struct api_req *ar, struct api_resp *rs)
{
	const char		*q = ar->query != NULL ? ar->query : "";
	struct oidc_state	*st = NULL;
	struct oidc_flow	*fl;
	json_t			*vals;
	char			*cause = NULL;

	if (oidc_nflows >= OIDC_FLOWS_MAX) {
		log_info("login: from %s: %d sign-ins waiting for the provider, "
		    "refused for now", ar->peer, OIDC_FLOWS_MAX);
		oidc_page(rs, 503, "Busy", "Too many sign-ins are being checked "
		    "right now. Reload this page in a moment.", NULL);
		api_add_headers(rs, xstrdup("Retry-After: 2\r\n"));
		return;
	}
	if ((vals = pages_form_parse(q, strlen(q), &cause)) == NULL) {
		oidc_fail(rs, ar->peer != NULL ? ar->peer : "?", 400, "Sign-in "
		    "failed", "The answer from the identity provider could not be "
		    "read. Start again from the login page.", cause);
		free(cause);
		return;
	}
	if (oidc_callback_check(ar, rs, vals, &st) == -1) {
		oidc_state_free(st);
		json_decref(vals);
		return;
	}
	fl = oidc_flow_new(ar, 1);
	fl->st = st;	/* transferred */
	if (oidc_token_request(fl, json_string_value(json_object_get(vals,
	    "code")), &cause) == -1) {
		oidc_fail(rs, fl->peer, 503, "Sign-in service unreachable", "The "
		    "gateway cannot reach the identity provider right now. Try "
		    "again in a few minutes.", cause);
		oidc_flow_free(fl);
	} else
		fl->defer = conn_defer(ar->conn);
	free(cause);
	json_decref(vals);
}

/* Answers /hub/oauth_login and /hub/oauth_callback; 0 if not ours. */
int
oidc_dispatch(const struct api_req *ar, struct api_resp *rs)
{
	int	login = strcmp(ar->path, "/hub/oauth_login") == 0;

	if (!login && strcmp(ar->path, "/hub/oauth_callback") != 0)
		return (0);
	if (!oidc_enabled())
		oidc_page(rs, 404, "Not available", "Sign-in with an identity "
		    "provider is not enabled on this gateway.", NULL);
	else if (strcmp(ar->method, "GET") != 0 && strcmp(ar->method, "HEAD") != 0)
		oidc_page(rs, 405, "Method not allowed", "Use the sign-in button "
		    "on the login page.", NULL);
	else if (login)
		oidc_login(ar, rs);
	else
		oidc_callback(ar, rs);
	return (1);
}

/* Answers every waiting browser, cancels requests, forgets all (shutdown). */
void
oidc_shutdown(void)
{
	struct oidc_flow	*fl;
	struct oidc_state	*st;
	struct api_resp		 rs;

	oidc_forget("shutting down");	/* answers fetch waiters */
	while ((fl = TAILQ_FIRST(&oidc_flows)) != NULL) {
		memset(&rs, 0, sizeof rs);
		oidc_page(&rs, 503, "Shutting down", "The gateway is shutting "
		    "down.", NULL);
		if (fl->defer != NULL)
			oidc_flow_answer(fl, &rs);
		else {
			evbuffer_free(rs.body);
			free(rs.headers);
			oidc_flow_free(fl);
		}
	}
	while ((st = TAILQ_FIRST(&oidc_states)) != NULL) {
		TAILQ_REMOVE(&oidc_states, st, entry);
		oidc_state_free(st);
	}
	oidc_nstates = 0;
	freestr(oidc.secret);
	oidc.secret = NULL;
	free(oidc.map);
	oidc.map = NULL;
	free(oidc.issuer);
	oidc.issuer = NULL;
	free(oidc.cafile);
	oidc.cafile = NULL;
}
