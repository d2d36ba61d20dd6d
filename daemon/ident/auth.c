/*
 * auth.c: who is asking.  Signed login cookies (HMAC-SHA256 with a secret
 * kept in the state directory), API tokens (only their SHA-256 is kept),
 * and one-time login codes an admin hands out.  An API token is a user's
 * (it may do what the user may) or a service's: a science gateway acting
 * for a listed set of users (or all), limited to its scopes.
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

#include <openssl/crypto.h>
#include <sqlite3.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "daemon/ident/ident.h"

#define AUTH_SECRET_LEN	32
#define AUTH_CODE_TTL	300
#define AUTH_HOST_CODE_TTL	60	/* s: a redirect's worth */

struct auth_entry {
	unsigned char		 digest[32];	/* SHA-256 of the token or code */
	char			*user;		/* the user, or the service */
	time_t			 created;
	time_t			 expires;	/* 0: never */
	struct auth_token	 tok;		/* API tokens: what it may do */
	struct auth_entry	*next;
};

static unsigned char	 auth_secret[AUTH_SECRET_LEN];
static int		 auth_ready;
static struct auth_entry *auth_tokens, *auth_codes, *auth_host_codes;
static char	*auth_code_take(struct auth_entry **, const char *);

/* Loads (or creates, 0600) the cookie signing secret in @dir. */
int
auth_init(const char *dir, char **cause)
{
	char	*path;
	ssize_t	 n;
	int	 fd, rv = -1;

	xasprintf(&path, "%s/cookie_secret", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, auth_secret, sizeof auth_secret);
		close(fd);
		if (n != (ssize_t)sizeof auth_secret) {
			xasprintf(cause, "%s: short or unreadable secret; remove it to make a new one", path);
			goto out;
		}
	} else if (errno == ENOENT) {
		if (RAND_bytes(auth_secret, sizeof auth_secret) != 1)
			fatalx("RAND_bytes failed");
		if (util_write_file(path, auth_secret, sizeof auth_secret, 0600, cause) == -1)
			goto out;
	} else {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	auth_ready = 1;
	rv = 0;
out:
	free(path);
	return (rv);
}

static void
auth_mac(const char *msg, char hex[65])
{
	unsigned char	md[32];
	unsigned int	mdlen = sizeof md;

	if (HMAC(EVP_sha256(), auth_secret, sizeof auth_secret,
	    (const unsigned char *)msg, strlen(msg), md, &mdlen) == NULL)
		fatalx("HMAC failed");
	codec_hex(hex, md, sizeof md);
}

/*
 * A cookie value "KIND:user:expiry:mac": v1 for the hub's login cookie, h1
 * for a user host's (proxy.user_hosts).  The kind is under the MAC, so one
 * never passes for the other.
 */
static char *
auth_cookie_make_kind(const char *kind, const char *user, int max_age)
{
	char	*msg, *out, mac[65];

	if (!auth_ready)
		fatalx("auth used before auth_init");
	xasprintf(&msg, "%s:%s:%lld", kind, user, (long long)time(NULL) + max_age);
	auth_mac(msg, mac);
	xasprintf(&out, "%s:%s", msg, mac);
	free(msg);
	return (out);
}

/* Makes a login cookie value for @user valid for @max_age seconds. */
char *
auth_cookie_make(const char *user, int max_age)
{
	return (auth_cookie_make_kind("v1", user, max_age));
}

/* The same for the cookie of @user's own host (proxy.user_hosts). */
char *
auth_host_cookie_make(const char *user, int max_age)
{
	return (auth_cookie_make_kind("h1", user, max_age));
}

/* Cookies logged out before their expiry: their MAC, until then (memory + SQLite). */
struct auth_revoked {
	char			 mac[65];
	long long		 expires;
	struct auth_revoked	*next;
};
static struct auth_revoked *auth_revoked;

static int
auth_cookie_revoked(const char *mac)
{
	struct auth_revoked	**rp, *r;
	long long		  now = (long long)time(NULL);

	for (rp = &auth_revoked; (r = *rp) != NULL;) {
		if (r->expires < now) {		/* it would be refused anyway */
			*rp = r->next;
			free(r);
			continue;
		}
		if (CRYPTO_memcmp(r->mac, mac, 64) == 0)
			return (1);
		rp = &r->next;
	}
	return (0);
}

static void
auth_revoked_add(const char *mac, long long expires)
{
	struct auth_revoked	*r = xcalloc(1, sizeof *r);

	memcpy(r->mac, mac, 64);
	r->expires = expires;
	r->next = auth_revoked;
	auth_revoked = r;
}

/* From SQLite at start: the logged-out cookies that have not expired. */
void
auth_revoked_load(void)
{
	sqlite3_stmt	*st;
	const char	*mac;
	char		*cause = NULL;

	if (store_run(&cause, "DELETE FROM revoked_cookies WHERE expires < ?", "i",
	    (long long)time(NULL)) == -1) {
		log_warnx("auth: cannot drop expired logouts: %s", cause);
		free(cause);
	}
	if ((st = store_prepare("SELECT mac, expires FROM revoked_cookies")) == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if ((mac = (const char *)sqlite3_column_text(st, 0)) != NULL &&
		    strlen(mac) == 64)
			auth_revoked_add(mac, sqlite3_column_int64(st, 1));
	}
	sqlite3_finalize(st);
}

/* Logout: this cookie (a valid one) is refused from now on, even if replayed. */
void
auth_cookie_revoke(const char *value)
{
	const char	*last = strrchr(value, ':'), *colon;
	char		*user, *cause = NULL;
	long long	 expires;

	if ((user = auth_cookie_check(value)) == NULL)
		return;
	colon = last - 1;
	while (colon > value && *colon != ':')
		colon--;
	expires = strtoll(colon + 1, NULL, 10);
	auth_revoked_add(last + 1, expires);
	if (store_run(&cause, "INSERT OR IGNORE INTO revoked_cookies (mac, expires)"
	    " VALUES (?, ?)", "ti", last + 1, expires) == -1) {
		log_tag(user, 0, NULL, NULL);
		log_warnx("auth: %s's logout holds only until nbgated restarts: %s",
		    user, cause);
		free(cause);
	}
	free(user);
}

/* The user a cookie value of @kind proves (allocated), or NULL (bad, forged, expired, logged out). */
static char *
auth_cookie_check_kind(const char *kind, const char *value)
{
	const char	*last, *user, *colon;
	char		*msg, mac[65], *end;
	long long	 expires;
	int		 good;

	if (!auth_ready || strncmp(value, kind, 2) != 0 || value[2] != ':' ||
	    (last = strrchr(value, ':')) == NULL || strlen(last + 1) != 64)
		return (NULL);
	msg = xstrndup(value, last - value);
	auth_mac(msg, mac);
	good = CRYPTO_memcmp(mac, last + 1, 64) == 0 && !auth_cookie_revoked(last + 1);
	user = msg + 3;
	if (!good || (colon = strrchr(user, ':')) == NULL || colon == user) {
		free(msg);
		return (NULL);
	}
	expires = strtoll(colon + 1, &end, 10);
	if (*end != '\0' || expires < (long long)time(NULL)) {
		free(msg);
		return (NULL);
	}
	end = xstrndup(user, colon - user);
	free(msg);
	return (end);
}

/* The user a hub login cookie value proves (allocated), or NULL. */
char *
auth_cookie_check(const char *value)
{
	return (auth_cookie_check_kind("v1", value));
}

/* The user a user host's cookie value proves (allocated), or NULL. */
char *
auth_host_cookie_check(const char *value)
{
	return (auth_cookie_check_kind("h1", value));
}

static void
auth_digest(const char *s, unsigned char md[32])
{
	unsigned int	len = 32;

	if (EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL) != 1)
		fatalx("EVP_Digest failed");
}

static char *
auth_add(struct auth_entry **list, const char *user, int ttl)
{
	struct auth_entry	*e = xcalloc(1, sizeof *e);
	char			*secret = util_random_token(32);

	auth_digest(secret, e->digest);
	e->user = xstrdup(user);
	e->created = time(NULL);
	e->expires = ttl > 0 ? time(NULL) + ttl : 0;
	e->next = *list;
	*list = e;
	return (secret);
}

/* The entry for @secret, expired or not. */
static struct auth_entry **
auth_find_any(struct auth_entry **list, const char *secret)
{
	unsigned char		  md[32];
	struct auth_entry	**ep;

	auth_digest(secret, md);
	for (ep = list; *ep != NULL; ep = &(*ep)->next) {
		if (CRYPTO_memcmp((*ep)->digest, md, sizeof md) == 0)
			return (ep);
	}
	return (NULL);
}

static struct auth_entry **
auth_find(struct auth_entry **list, const char *secret)
{
	struct auth_entry	**ep = auth_find_any(list, secret);

	if (ep != NULL && (*ep)->expires != 0 && (*ep)->expires < time(NULL))
		return (NULL);
	return (ep);
}

static void
auth_unlink(struct auth_entry **ep)
{
	struct auth_entry	*e = *ep;
	size_t			 i;

	*ep = e->next;
	free(e->user);
	for (i = 0; i < e->tok.nusers; i++)
		free(e->tok.users[i]);
	free(e->tok.users);
	free(e->tok.note);
	free(e);
}

/*
 * The scopes a token may hold, by JupyterHub's names, and what each implies
 * (as JupyterHub's scope tree: "servers" holds "read:servers" and
 * "delete:servers"). An alias is a name that only implies others.
 */
static const struct {
	const char	*name;
	unsigned int	 bit;
	unsigned int	 implies;
} auth_scope_names[] = {
	{ "servers", AUTH_SCOPE_SERVERS,
	    AUTH_SCOPE_READ_SERVERS | AUTH_SCOPE_DELETE_SERVERS },
	{ "read:servers", AUTH_SCOPE_READ_SERVERS, 0 },
	{ "delete:servers", AUTH_SCOPE_DELETE_SERVERS, 0 },
	{ "read:users", AUTH_SCOPE_READ_USERS, AUTH_SCOPE_READ_USERS_ACTIVITY },
	{ "list:users", AUTH_SCOPE_LIST_USERS, 0 },
	{ "read:users:activity", AUTH_SCOPE_READ_USERS_ACTIVITY, 0 },
	{ "users:activity", AUTH_SCOPE_USERS_ACTIVITY, 0 },
	{ "admin:users", AUTH_SCOPE_ADMIN_USERS, AUTH_SCOPE_READ_USERS |
	    AUTH_SCOPE_LIST_USERS | AUTH_SCOPE_USERS_ACTIVITY |
	    AUTH_SCOPE_READ_USERS_ACTIVITY },
	{ "access:servers", AUTH_SCOPE_ACCESS_SERVERS, 0 },
	{ "read:hub", AUTH_SCOPE_READ_HUB, 0 },
	{ "tokens", AUTH_SCOPE_TOKENS, AUTH_SCOPE_READ_TOKENS },
	{ "read:tokens", AUTH_SCOPE_READ_TOKENS, 0 },
	{ "admin:server_state", AUTH_SCOPE_SERVER_STATE, 0 },
	{ "users", 0, AUTH_SCOPE_READ_USERS | AUTH_SCOPE_LIST_USERS |
	    AUTH_SCOPE_USERS_ACTIVITY | AUTH_SCOPE_READ_USERS_ACTIVITY },
	{ "admin:servers", 0, AUTH_SCOPE_SERVERS | AUTH_SCOPE_READ_SERVERS |
	    AUTH_SCOPE_DELETE_SERVERS | AUTH_SCOPE_SERVER_STATE },
	{ "start:servers", 0, AUTH_SCOPE_SERVERS },
};
#define AUTH_SCOPES_KNOWN	"servers, read:servers, delete:servers, " \
	"read:users, list:users, read:users:activity, users:activity, " \
	"admin:users, users, access:servers, read:hub, tokens, read:tokens, " \
	"admin:server_state, admin:servers"

/* The name of one scope bit (of several, the first's). */
const char *
auth_scope_name(unsigned int bit)
{
	size_t	i;

	for (i = 0; i < nitems(auth_scope_names); i++)
		if (auth_scope_names[i].bit != 0 && (auth_scope_names[i].bit & bit))
			return (auth_scope_names[i].name);
	return ("?");
}

/*
 * Parses "servers,read:users" into scope bits, with what each implies;
 * -1 with *cause naming the bad one.
 */
int
auth_scopes_parse(const char *list, unsigned int *scopes, char **cause)
{
	const char	*p = list;
	size_t		 n, i;

	*scopes = 0;
	while (*p != '\0') {
		n = strcspn(p, ", ");
		for (i = 0; i < nitems(auth_scope_names); i++)
			if (strlen(auth_scope_names[i].name) == n &&
			    strncmp(auth_scope_names[i].name, p, n) == 0)
				break;
		if (n > 0 && i == nitems(auth_scope_names)) {
			xasprintf(cause, "unknown scope '%.*s' (known: %s)",
			    (int)(n > 64 ? 64 : n), p, AUTH_SCOPES_KNOWN);
			return (-1);
		}
		if (n > 0)
			*scopes |= auth_scope_names[i].bit | auth_scope_names[i].implies;
		p += n;
		p += strspn(p, ", ");
	}
	if (*scopes == 0) {
		xasprintf(cause, "no scope given (%s)", AUTH_SCOPES_KNOWN);
		return (-1);
	}
	*scopes = auth_scopes_expand(*scopes);
	return (0);
}

/* @scopes with everything they imply (twice: what an implied one implies). */
unsigned int
auth_scopes_expand(unsigned int scopes)
{
	size_t	i;
	int	pass;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < nitems(auth_scope_names); i++)
			if (scopes & auth_scope_names[i].bit)
				scopes |= auth_scope_names[i].implies;
	return (scopes);
}

/* The scope bits as a comma list (owned). */
char *
auth_scopes_text(unsigned int scopes)
{
	char	*s = xstrdup(""), *old;
	size_t	 i;

	for (i = 0; i < nitems(auth_scope_names); i++) {
		if ((scopes & auth_scope_names[i].bit) == 0)	/* an alias: 0 */
			continue;
		old = s;
		xasprintf(&s, "%s%s%s", old, *old != '\0' ? "," : "",
		    auth_scope_names[i].name);
		free(old);
	}
	return (s);
}

/* Splits a comma list of users into @e (NULL or "*": every user). */
static void
auth_set_users(struct auth_entry *e, const char *users)
{
	const char	*p;
	size_t		 n;

	e->tok.all_users = users == NULL || strcmp(users, "*") == 0;
	if (e->tok.all_users)
		return;
	for (p = users; *p != '\0'; p += n + (p[n] == ',')) {
		n = strcspn(p, ",");
		if (n == 0)
			continue;
		e->tok.users = xreallocarray(e->tok.users, e->tok.nusers + 1,
		    sizeof *e->tok.users);
		e->tok.users[e->tok.nusers++] = xstrndup(p, n);
	}
}

static void
auth_entry_finish(struct auth_entry *e)
{
	char	hex[65];

	codec_hex(hex, e->digest, sizeof e->digest);
	memcpy(e->tok.id, hex, AUTH_TOKEN_ID_LEN);
	e->tok.id[AUTH_TOKEN_ID_LEN] = '\0';
	e->tok.name = e->user;
	e->tok.created = e->created;
	e->tok.expires = e->expires;
}

/*
 * Issues an API token for @user (expiring at @expires, 0: never), its id to
 * @id; the caller shows it once and frees it (freestr).
 */
char *
auth_token_issue(const char *user, time_t expires, char id[AUTH_TOKEN_ID_LEN + 1])
{
	return (auth_token_issue_scoped(user, AUTH_SCOPES_ALL, expires, id));
}

/* The same, limited to @scopes (AUTH_SCOPES_ALL: whatever @user may do). */
char *
auth_token_issue_scoped(const char *user, unsigned int scopes, time_t expires,
    char id[AUTH_TOKEN_ID_LEN + 1])
{
	char	*token = auth_add(&auth_tokens, user, 0), hex[65], *sc = NULL;

	auth_tokens->expires = expires;
	auth_tokens->tok.scopes = scopes = auth_scopes_expand(scopes);
	auth_entry_finish(auth_tokens);
	codec_hex(hex, auth_tokens->digest, sizeof auth_tokens->digest);
	if (scopes != AUTH_SCOPES_ALL)
		sc = auth_scopes_text(scopes);
	store_token_put(hex, "user", user, sc, NULL, auth_tokens->created, expires);
	free(sc);
	memcpy(id, auth_tokens->tok.id, AUTH_TOKEN_ID_LEN + 1);
	return (token);
}

/*
 * What a token stored before scopes had JupyterHub's names may do besides
 * its names' meaning now: "read:users" listed users, and every service saw
 * a server's "state". Such a text names only servers, read:servers and
 * read:users, without what a newer one always holds with them.
 */
static unsigned int
auth_scopes_legacy(const char *text, unsigned int scopes)
{
	unsigned int	old = AUTH_SCOPE_SERVERS | AUTH_SCOPE_READ_SERVERS |
			    AUTH_SCOPE_READ_USERS;

	if ((scopes & ~(old | AUTH_SCOPE_DELETE_SERVERS |
	    AUTH_SCOPE_READ_USERS_ACTIVITY)) != 0 || strstr(text, "delete:") != NULL ||
	    strstr(text, ":activity") != NULL)
		return (0);
	if ((scopes & AUTH_SCOPE_READ_USERS) == 0 && (scopes & AUTH_SCOPE_SERVERS) == 0 &&
	    strcmp(text, "read:servers") != 0)
		return (0);
	return (AUTH_SCOPE_SERVER_STATE | ((scopes & AUTH_SCOPE_READ_USERS) ?
	    AUTH_SCOPE_LIST_USERS : 0));
}

/*
 * Issues a token for service @name with @scopes, acting for the users in
 * the comma list @users (NULL: every user); its id goes to @id.
 */
char *
auth_service_issue(const char *name, unsigned int scopes, const char *users,
    time_t expires, char id[AUTH_TOKEN_ID_LEN + 1])
{
	char	*token = auth_add(&auth_tokens, name, 0), hex[65], *sc;

	auth_tokens->expires = expires;
	auth_tokens->tok.service = 1;
	auth_tokens->tok.scopes = scopes = auth_scopes_expand(scopes);
	auth_set_users(auth_tokens, users);
	auth_entry_finish(auth_tokens);
	codec_hex(hex, auth_tokens->digest, sizeof auth_tokens->digest);
	sc = auth_scopes_text(scopes);
	store_token_put(hex, "service", name, sc, users != NULL ? users : "*",
	    auth_tokens->created, expires);
	free(sc);
	memcpy(id, auth_tokens->tok.id, AUTH_TOKEN_ID_LEN + 1);
	return (token);
}

/* Loads a stored token (digest in hex) at startup. */
void
auth_token_load(const char *hex, const char *kind, const char *name,
    const char *scopes, const char *users, time_t created, time_t expires,
    time_t last_used, const char *note)
{
	struct auth_entry	*e;
	char			*cause = NULL;

	if (hex == NULL || name == NULL)
		return;
	e = xcalloc(1, sizeof *e);
	if (codec_unhex(e->digest, sizeof e->digest, hex, strlen(hex)) == -1) {
		free(e);
		return;
	}
	e->user = xstrdup(name);
	e->created = created;
	e->expires = expires;
	e->tok.last_used = last_used;
	if (kind != NULL && strcmp(kind, "service") == 0) {
		e->tok.service = 1;
		if (scopes == NULL || auth_scopes_parse(scopes, &e->tok.scopes,
		    &cause) == -1) {
			log_warnx("store: service %s: a token with bad scopes is "
			    "ignored: %s", name, cause != NULL ? cause : "none");
			free(cause);
			free(e->user);
			free(e);
			return;
		}
		e->tok.scopes |= auth_scopes_legacy(scopes, e->tok.scopes);
		auth_set_users(e, users);
	} else if (scopes != NULL && auth_scopes_parse(scopes, &e->tok.scopes,
	    &cause) == -1) {
		log_warnx("store: user %s: a token with bad scopes is ignored: %s",
		    name, cause);
		free(cause);
		free(e->user);
		free(e);
		return;
	} else if (scopes == NULL)
		e->tok.scopes = AUTH_SCOPES_ALL;
	auth_entry_finish(e);
	if (note != NULL && *note != '\0')
		e->tok.note = xstrndup(note, AUTH_TOKEN_NOTE_MAX);
	e->next = auth_tokens;
	auth_tokens = e;
}

/*
 * What @secret proves: RESULT_OK with *tok set (valid until the next
 * issue/revoke), RESULT_EXPIRED, or RESULT_NOT_FOUND.  Notes its use.
 */
enum result_kind
auth_token_lookup(const char *secret, const struct auth_token **tok)
{
	struct auth_entry	**ep;
	time_t			  now = time(NULL);
	char			  hex[65];

	*tok = NULL;
	if (secret == NULL || *secret == '\0' || strlen(secret) > 512 ||
	    (ep = auth_find_any(&auth_tokens, secret)) == NULL)
		return (RESULT_NOT_FOUND);
	if ((*ep)->expires != 0 && (*ep)->expires < now)
		return (RESULT_EXPIRED);
	if ((*ep)->tok.last_used + 60 <= now) {	/* at most one write a minute */
		codec_hex(hex, (*ep)->digest, sizeof (*ep)->digest);
		store_token_used(hex, now);
	}
	(*ep)->tok.last_used = now;
	*tok = &(*ep)->tok;
	return (RESULT_OK);
}

/* Returns (allocated) the user a user's API token belongs to, or NULL. */
char *
auth_token_check(const char *token)
{
	const struct auth_token	*tok;

	if (auth_token_lookup(token, &tok) != RESULT_OK || tok->service)
		return (NULL);
	return (xstrdup(tok->name));
}

/* May @tok act for @user? */
int
auth_token_may_act(const struct auth_token *tok, const char *user)
{
	size_t	i;

	if (!tok->service)
		return (strcmp(tok->name, user) == 0);
	if (tok->all_users)
		return (1);
	for (i = 0; i < tok->nusers; i++)
		if (strcmp(tok->users[i], user) == 0)
			return (1);
	return (0);
}

/* Revokes every user token of @user (@service 0) or token of service @name; how many. */
static int
auth_revoke_name(int service, const char *name)
{
	struct auth_entry	**ep = &auth_tokens;
	int			  n = 0;

	while (*ep != NULL) {
		if ((*ep)->tok.service == service && strcmp((*ep)->user, name) == 0) {
			auth_unlink(ep);
			n++;
		} else
			ep = &(*ep)->next;
	}
	store_token_del(service ? "service" : "user", name, NULL);
	return (n);
}

/* Revokes every API token of @user; returns how many. */
int
auth_token_revoke_user(const char *user)
{
	return (auth_revoke_name(0, user));
}

/* Revokes every token of service @name; returns how many. */
int
auth_token_revoke_service(const char *name)
{
	return (auth_revoke_name(1, name));
}

/* Revokes the token with id @id; 1, or 0 if there is none. */
int
auth_token_revoke_id(const char *id)
{
	struct auth_entry	**ep;
	char			  hex[65];

	if (strlen(id) != AUTH_TOKEN_ID_LEN)
		return (0);
	for (ep = &auth_tokens; *ep != NULL; ep = &(*ep)->next) {
		if (strcmp((*ep)->tok.id, id) == 0) {
			codec_hex(hex, (*ep)->digest, sizeof (*ep)->digest);
			store_token_del(NULL, NULL, hex);
			auth_unlink(ep);
			return (1);
		}
	}
	return (0);
}

/*
 * Gives the token with id @id its note (@note NULL or empty: none), kept in
 * the store; 1, or 0 if there is no such token.  The caller checks the
 * note (at most AUTH_TOKEN_NOTE_MAX bytes of text).
 */
int
auth_token_note(const char *id, const char *note)
{
	struct auth_entry	*e;
	char			 hex[65];

	for (e = auth_tokens; e != NULL; e = e->next) {
		if (strcmp(e->tok.id, id) != 0)
			continue;
		free(e->tok.note);
		e->tok.note = note != NULL && *note != '\0' ? xstrdup(note) : NULL;
		codec_hex(hex, e->digest, sizeof e->digest);
		store_token_note(hex, e->tok.note);
		return (1);
	}
	return (0);
}

/* Calls @fn for every token (never its secret, which is not kept). */
void
auth_token_foreach(void (*fn)(const struct auth_token *, void *), void *arg)
{
	struct auth_entry	*e;

	for (e = auth_tokens; e != NULL; e = e->next)
		fn(&e->tok, arg);
}

/* Issues a one-time login code for @user, valid a few minutes. */
char *
auth_code_issue(const char *user)
{
	return (auth_add(&auth_codes, user, AUTH_CODE_TTL));
}

/*
 * A one-time code that hands a hub login over to the user's own host
 * (proxy.user_hosts); its own list, so it is no login link for the hub.
 */
char *
auth_host_code_issue(const char *user)
{
	return (auth_add(&auth_host_codes, user, AUTH_HOST_CODE_TTL));
}

/* Uses up a host hand-over code; returns (allocated) its user, or NULL. */
char *
auth_host_code_redeem(const char *code)
{
	return (auth_code_take(&auth_host_codes, code));
}

/* Uses up a code of @list; returns (allocated) its user, or NULL. */
static char *
auth_code_take(struct auth_entry **list, const char *code)
{
	struct auth_entry	**ep = auth_find(list, code);
	char			 *user;

	if (ep == NULL)
		return (NULL);
	user = xstrdup((*ep)->user);
	auth_unlink(ep);
	return (user);
}

/* Uses up a one-time code; returns (allocated) its user, or NULL. */
char *
auth_code_redeem(const char *code)
{
	return (auth_code_take(&auth_codes, code));
}

/* Forgets every token and code (shutdown). */
void
auth_clear(void)
{
	while (auth_tokens != NULL)
		auth_unlink(&auth_tokens);
	while (auth_codes != NULL)
		auth_unlink(&auth_codes);
	while (auth_host_codes != NULL)
		auth_unlink(&auth_host_codes);
	while (auth_revoked != NULL) {
		struct auth_revoked *r = auth_revoked;
		auth_revoked = r->next;
		free(r);
	}
	explicit_bzero(auth_secret, sizeof auth_secret);
	auth_ready = 0;
}
