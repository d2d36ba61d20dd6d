/*
 * auth.c: who is asking.  Signed login cookies (HMAC-SHA256 with a secret
 * kept in the state directory), API tokens (only their SHA-256 is kept),
 * and one-time login codes an admin hands out.
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
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "daemon/daemon.h"

#define AUTH_SECRET_LEN	32
#define AUTH_CODE_TTL	300

struct auth_entry {
	unsigned char		 digest[32];	/* SHA-256 of the token or code */
	char			*user;
	time_t			 expires;	/* 0: never */
	struct auth_entry	*next;
};

static unsigned char	 auth_secret[AUTH_SECRET_LEN];
static int		 auth_ready;
static struct auth_entry *auth_tokens, *auth_codes;

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
	unsigned int	mdlen = sizeof md, i;

	if (HMAC(EVP_sha256(), auth_secret, sizeof auth_secret,
	    (const unsigned char *)msg, strlen(msg), md, &mdlen) == NULL)
		fatalx("HMAC failed");
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Makes a login cookie value for @user valid for @max_age seconds. */
char *
auth_cookie_make(const char *user, int max_age)
{
	char	*msg, *out, mac[65];

	if (!auth_ready)
		fatalx("auth used before auth_init");
	xasprintf(&msg, "v1:%s:%lld", user, (long long)time(NULL) + max_age);
	auth_mac(msg, mac);
	xasprintf(&out, "%s:%s", msg, mac);
	free(msg);
	return (out);
}

/* Returns the user a cookie value proves, or NULL (bad, forged, or expired). */
char *
auth_cookie_check(const char *value)
{
	const char	*last, *user, *colon;
	char		*msg, mac[65], *end;
	long long	 expires;
	int		 good;

	if (!auth_ready || strncmp(value, "v1:", 3) != 0 ||
	    (last = strrchr(value, ':')) == NULL || strlen(last + 1) != 64)
		return (NULL);
	msg = xstrndup(value, last - value);
	auth_mac(msg, mac);
	good = CRYPTO_memcmp(mac, last + 1, 64) == 0;
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
	e->expires = ttl > 0 ? time(NULL) + ttl : 0;
	e->next = *list;
	*list = e;
	return (secret);
}

static struct auth_entry **
auth_find(struct auth_entry **list, const char *secret)
{
	unsigned char		  md[32];
	struct auth_entry	**ep;
	time_t			  now = time(NULL);

	auth_digest(secret, md);
	for (ep = list; *ep != NULL; ep = &(*ep)->next) {
		if (CRYPTO_memcmp((*ep)->digest, md, sizeof md) == 0 &&
		    ((*ep)->expires == 0 || (*ep)->expires >= now))
			return (ep);
	}
	return (NULL);
}

static void
auth_unlink(struct auth_entry **ep)
{
	struct auth_entry	*e = *ep;

	*ep = e->next;
	free(e->user);
	free(e);
}

static void
auth_hex(const unsigned char md[32], char hex[65])
{
	int	i;

	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Issues an API token for @user; the caller shows it once and frees it (freestr). */
char *
auth_token_issue(const char *user)
{
	char	*token = auth_add(&auth_tokens, user, 0), hex[65];

	auth_hex(auth_tokens->digest, hex);
	store_token_put(hex, user, 0);
	return (token);
}

/* Loads a stored token digest (hex) at startup. */
void
auth_token_load(const char *hex, const char *user, time_t expires)
{
	struct auth_entry	*e;
	unsigned int		 b, i;

	if (strlen(hex) != 64)
		return;
	e = xcalloc(1, sizeof *e);
	for (i = 0; i < 32; i++) {
		if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
			free(e);
			return;
		}
		e->digest[i] = (unsigned char)b;
	}
	e->user = xstrdup(user);
	e->expires = expires;
	e->next = auth_tokens;
	auth_tokens = e;
}

/* Returns (allocated) the user an API token belongs to, or NULL. */
char *
auth_token_check(const char *token)
{
	struct auth_entry	**ep = auth_find(&auth_tokens, token);

	return (ep != NULL ? xstrdup((*ep)->user) : NULL);
}

/* Revokes every API token of @user; returns how many. */
int
auth_token_revoke_user(const char *user)
{
	struct auth_entry	**ep = &auth_tokens;
	int			  n = 0;

	while (*ep != NULL) {
		if (strcmp((*ep)->user, user) == 0) {
			auth_unlink(ep);
			n++;
		} else
			ep = &(*ep)->next;
	}
	store_token_del_user(user);
	return (n);
}

/* Issues a one-time login code for @user, valid a few minutes. */
char *
auth_code_issue(const char *user)
{
	return (auth_add(&auth_codes, user, AUTH_CODE_TTL));
}

/* Uses up a one-time code; returns (allocated) its user, or NULL. */
char *
auth_code_redeem(const char *code)
{
	struct auth_entry	**ep = auth_find(&auth_codes, code);
	char			 *user;

	if (ep == NULL)
		return (NULL);
	user = xstrdup((*ep)->user);
	auth_unlink(ep);
	return (user);
}

/* Forgets every token and code (shutdown). */
void
auth_clear(void)
{
	while (auth_tokens != NULL)
		auth_unlink(&auth_tokens);
	while (auth_codes != NULL)
		auth_unlink(&auth_codes);
	explicit_bzero(auth_secret, sizeof auth_secret);
	auth_ready = 0;
}
