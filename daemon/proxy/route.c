/*
 * route.c: the route table: "alice" or "alice/lab" → owner, the agent's
 * public key, the notebook token, and the live tunnel (if any).
 * A hash table with chaining: lookups are O(1) in the number of routes.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <sqlite3.h>

#include "daemon/proxy/proxy.h"

struct route {
	char		*name;		/* "alice" or "alice/lab" */
	char		*owner;		/* "alice" */
	ssh_key		 key;		/* the agent's public key */
	char		*token;		/* the notebook's token: secret */
	struct tunnel	*tunnel;	/* borrowed from the sshd while up */
	struct upool	*pool;		/* idle streams through that tunnel */
	unsigned long	 gen;		/* tunnels it has had (a stream's must be now's) */
	time_t		 created;
	unsigned char	 enroll[32];	/* SHA-256 of the one-time enrollment secret */
	int		 enroll_pending;
	unsigned char	 used[32];	/* SHA-256 of the secret used (a reuse is an alert) */
	int		 used_set;
	char		*enrolled_from;	/* address the enrolled agent came from */
	char		*job;		/* batch job the enrolling agent must run in */
	long long	 session;	/* the session that owns it, 0: an admin's */
	struct route	*succ;		/* a successor job's route, not in the table */
	int		 successor;	/* this is one (route_next_promote() clears it) */
	time_t		 activity;	/* last byte or request proxied through it */
	int		 references;	/* the table's, plus one per agent connection */
	int		 dead;		/* removed from the table */
	int		 strip;		/* the app serves from /: prefix removed */
	int		 no_token;	/* the app gets no Authorization from us */
	struct route	*next;		/* hash chain */
};

static struct route	**route_tab;
static size_t		  route_nbuckets, route_n;

static uint32_t
route_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (h);
}

static void
route_grow(void)
{
	struct route	**old = route_tab, *r, *next;
	size_t		  oldn = route_nbuckets, i, b;

	route_nbuckets = oldn == 0 ? 64 : oldn * 2;
	route_tab = xcalloc(route_nbuckets, sizeof *route_tab);
	for (i = 0; i < oldn; i++) {
		for (r = old[i]; r != NULL; r = next) {
			next = r->next;
			b = route_hash(r->name) % route_nbuckets;
			r->next = route_tab[b];
			route_tab[b] = r;
		}
	}
	free(old);
}

/* Is @name "user" or "user/server" with valid segments? */
int
route_name_valid(const char *name)
{
	const char	*slash = strchr(name, '/');

	if (slash == NULL)
		return (util_name_segment_valid(name, strlen(name)));
	return (util_name_segment_valid(name, slash - name) &&
	    util_name_segment_valid(slash + 1, strlen(slash + 1)));
}

/* Parses an OpenSSH public key line ("ssh-ed25519 AAAA... comment"). */
ssh_key
route_key_parse(const char *text, char **cause)
{
	const char	*sp = strchr(text, ' ');
	char		*type, *b64;
	ssh_key		 key = NULL;
	int		 rc;

	if (sp == NULL) {
		xasprintf(cause, "expected an OpenSSH public key line, "
		    "e.g. \"ssh-ed25519 AAAA... comment\"");
		return (NULL);
	}
	type = xstrndup(text, sp - text);
	sp += strspn(sp, " ");
	b64 = xstrndup(sp, strcspn(sp, " \r\n"));
	rc = ssh_pki_import_pubkey_base64(b64, ssh_key_type_from_name(type), &key);
	free(type);
	free(b64);
	if (rc != SSH_OK) {
		xasprintf(cause, "not a valid OpenSSH public key");
		return (NULL);
	}
	return (key);
}

/* Returns "type base64" for a public key; caller frees. */
char *
route_key_text(ssh_key key)
{
	char	*b64 = NULL, *out;

	if (key == NULL)
		return (xstrdup(""));
	if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK)
		fatalx("cannot export a public key");
	xasprintf(&out, "%s %s", ssh_key_type_to_char(ssh_key_type(key)), b64);
	ssh_string_free_char(b64);
	return (out);
}

/* Finds a route by its full name; borrowed pointer or NULL. */
struct route *
route_find(const char *name)
{
	struct route	*r;

	if (route_nbuckets == 0)
		return (NULL);
	for (r = route_tab[route_hash(name) % route_nbuckets]; r != NULL; r = r->next) {
		if (strcmp(r->name, name) == 0)
			return (r);
	}
	return (NULL);
}

/* Finds the route for /user/@user/@second/...: a named server first, else the default. */
struct route *
route_lookup(const char *user, const char *second)
{
	struct route	*r;
	char		*full;

	if (second != NULL) {
		xasprintf(&full, "%s/%s", user, second);
		r = route_find(full);
		free(full);
		if (r != NULL)
			return (r);
	}
	return (route_find(user));
}

/*
 * Adds route @name for an agent with public key @key (ownership transferred)
 * and notebook token @token (may be NULL).  Replaces an existing route of
 * that name: its tunnel is kicked.
 */
struct route *
route_add(const char *name, const char *owner, ssh_key key, const char *token,
    char **cause)
{
	struct route	*r;
	size_t		 b;

	if (!route_name_valid(name)) {
		xasprintf(cause, "route name '%s' is not user or user/server "
		    "(lowercase letters, digits, '_', '-', '.', at most 64 each)", name);
		ssh_key_free(key);
		return (NULL);
	}
	route_remove(name);
	if (route_n + 1 > route_nbuckets)
		route_grow();
	r = xcalloc(1, sizeof *r);
	r->name = xstrdup(name);
	r->owner = xstrdup(owner);
	r->key = key;	/* transferred */
	r->token = token != NULL ? xstrdup(token) : NULL;
	r->created = time(NULL);
	r->references = 1;
	b = route_hash(name) % route_nbuckets;
	r->next = route_tab[b];
	route_tab[b] = r;
	route_n++;
	return (r);
}

/* Takes a reference: an agent connection holds its route while it lives. */
void
route_ref(struct route *r)
{
	r->references++;
}

/* Drops a reference; the last one frees the route. */
void
route_unref(struct route *r)
{
	if (r == NULL || --r->references > 0)
		return;
	free(r->name);
	free(r->owner);
	ssh_key_free(r->key);
	freestr(r->token);
	free(r->job);
	free(r->enrolled_from);
	upool_free(r->pool);
	explicit_bzero(r->enroll, sizeof r->enroll);
	explicit_bzero(r->used, sizeof r->used);
	free(r);
}

/* Has the route been removed from the table (its agent must go)? */
int
route_dead(struct route *r)
{
	return (r->dead);
}

static void
route_destroy(struct route *r)
{
	struct tunnel	*t = r->tunnel;

	route_next_drop(r);
	r->dead = 1;
	r->tunnel = NULL;
	upool_free(r->pool);
	r->pool = NULL;
	if (t != NULL)
		tunnel_kick(t, "route removed");
	route_unref(r);
}

/* Removes a route and kicks its agent; -1 if there was none. */
int
route_remove(const char *name)
{
	struct route	**rp, *r;

	if (route_nbuckets == 0)
		return (-1);
	for (rp = &route_tab[route_hash(name) % route_nbuckets]; *rp != NULL;
	    rp = &(*rp)->next) {
		if (strcmp((*rp)->name, name) == 0) {
			r = *rp;
			*rp = r->next;
			route_n--;
			route_destroy(r);
			return (0);
		}
	}
	return (-1);
}

/* Calls @fn for every route (which must not add or remove routes). */
void
route_foreach(void (*fn)(struct route *, void *), void *arg)
{
	struct route	*r;
	size_t		 i;

	for (i = 0; i < route_nbuckets; i++) {
		for (r = route_tab[i]; r != NULL; r = r->next)
			fn(r, arg);
	}
}

/* Removes every route. */
void
route_clear(void)
{
	struct route	*r, *next;
	size_t		 i;

	for (i = 0; i < route_nbuckets; i++) {
		for (r = route_tab[i]; r != NULL; r = next) {
			next = r->next;
			route_destroy(r);
		}
	}
	free(route_tab);
	route_tab = NULL;
	route_nbuckets = route_n = 0;
}

/* Number of routes. */
size_t
route_count(void)
{
	return (route_n);
}

static void
route_count_cb(struct route *r, void *arg)
{
	*(size_t *)arg += r->tunnel != NULL;
}

/* Number of routes whose agent is connected. */
size_t
route_count_connected(void)
{
	size_t	n = 0;

	route_foreach(route_count_cb, &n);
	return (n);
}

/* Accessors: borrowed values. */
const char *route_name(struct route *r) { return (r->name); }
const char *route_owner(struct route *r) { return (r->owner); }
/* The token nbgated adds to each request, or NULL (none, or the app takes none). */
const char *route_token(struct route *r) { return (r->no_token ? NULL : r->token); }
int route_strip(struct route *r) { return (r->strip); }
ssh_key route_key(struct route *r) { return (r->key); }
struct tunnel *route_tunnel(struct route *r) { return (r->tunnel); }
time_t route_created(struct route *r) { return (r->created); }

static void
route_digest(const char *secret, unsigned char md[32])
{
	unsigned int	len = 32;

	if (EVP_Digest(secret, strlen(secret), md, &len, EVP_sha256(), NULL) != 1)
		fatalx("EVP_Digest failed");
}

/*
 * Makes @r wait for an agent to enroll with a new one-time secret (bound to
 * batch job @job if not NULL); returns the secret, shown once (freestr).
 */
char *
route_enroll_begin(struct route *r, const char *job)
{
	char	*secret = util_random_token(32);

	route_digest(secret, r->enroll);
	r->enroll_pending = 1;
	free(r->job);
	r->job = job != NULL ? xstrdup(job) : NULL;
	return (secret);
}

/* Binds a pending enrollment to the batch job once the scheduler named it. */
void
route_set_job(struct route *r, const char *job)
{
	free(r->job);
	r->job = job != NULL ? xstrdup(job) : NULL;
}

/* Proxied traffic was seen at @now (idle culling). */
void
route_touch(struct route *r, time_t now)
{
	r->activity = now;
}

time_t
route_activity(struct route *r)
{
	return (r->activity);
}

/* The session that owns the route (0: an administrator's route). */
long long
route_session(struct route *r)
{
	return (r->session);
}

void
route_set_session(struct route *r, long long id)
{
	r->session = id;
}

/* How requests reach the route's app: prefix removed, token added or not. */
void
route_set_app(struct route *r, int strip, int add_token)
{
	r->strip = strip;
	r->no_token = !add_token;
	if (r->succ != NULL)
		route_set_app(r->succ, strip, add_token);
}

/* Restores a pending enrollment from the store (hex digest). */
void
route_enroll_restore(struct route *r, const char *hex, const char *job)
{
	if (hex == NULL || codec_unhex(r->enroll, sizeof r->enroll, hex,
	    strlen(hex)) == -1)
		return;
	r->enroll_pending = 1;
	free(r->job);
	r->job = job != NULL && *job != '\0' ? xstrdup(job) : NULL;
}

/* The pending enrollment's digest as hex (static buffer), or NULL. */
const char *
route_enroll_hex(struct route *r)
{
	static char	hex[65];

	if (!r->enroll_pending)
		return (NULL);
	codec_hex(hex, r->enroll, sizeof r->enroll);
	return (hex);
}

/* The batch job an enrolling agent must be in, or NULL. */
const char *
route_job(struct route *r)
{
	return (r->job);
}

/*
 * What an enrolling agent's @secret (and claimed batch job @job) is to @r:
 * ROUTE_SECRET_PENDING (the route waits for it; *md is its digest, for
 * route_enroll()), ROUTE_SECRET_USED (an agent enrolled with it already),
 * or ROUTE_SECRET_WRONG with *why.
 */
enum route_secret
route_enroll_match(struct route *r, const char *secret, const char *job,
    unsigned char md[32], char **why)
{
	route_digest(secret, md);
	if (r->used_set && CRYPTO_memcmp(md, r->used, 32) == 0)
		return (ROUTE_SECRET_USED);
	if (!r->enroll_pending || CRYPTO_memcmp(md, r->enroll, 32) != 0) {
		xasprintf(why, "no such enrollment (already used, or wrong secret)");
		return (ROUTE_SECRET_WRONG);
	}
	if (r->job != NULL && (job == NULL || strcmp(job, r->job) != 0)) {
		xasprintf(why, "the agent is not in batch job %s", r->job);
		return (ROUTE_SECRET_WRONG);
	}
	return (ROUTE_SECRET_PENDING);
}

/*
 * Binds the agent's key @key (copied) and its notebook's @token to @r if
 * the secret of digest @md is still the one @r waits for: the secret is
 * dead from now on (a reuse is recognised).  @from is the agent's address.
 * 0 on success; ROUTE_SECRET_USED if another agent used it meanwhile; -1
 * with *why otherwise.
 */
int
route_enroll(struct route *r, const unsigned char md[32], ssh_key key,
    const char *token, const char *from, char **why)
{
	char		*text, *cause = NULL;
	ssh_key		 copy;

	if (r->used_set && CRYPTO_memcmp(md, r->used, 32) == 0)
		return (ROUTE_SECRET_USED);
	if (!r->enroll_pending || CRYPTO_memcmp(md, r->enroll, 32) != 0) {
		xasprintf(why, "no such enrollment (already used, or wrong secret)");
		return (-1);
	}
	text = route_key_text(key);
	copy = route_key_parse(text, &cause);
	free(text);
	if (copy == NULL) {
		xasprintf(why, "%s", cause);
		free(cause);
		return (-1);
	}
	ssh_key_free(r->key);
	r->key = copy;
	if (token != NULL) {
		freestr(r->token);
		r->token = xstrdup(token);
	}
	r->enroll_pending = 0;
	memcpy(r->used, md, sizeof r->used);
	r->used_set = 1;
	explicit_bzero(r->enroll, sizeof r->enroll);
	free(r->enrolled_from);
	r->enrolled_from = xstrdup(from != NULL ? from : "?");
	return (0);
}

/* Where the enrolled agent came from ("?" unknown, NULL: none since start). */
const char *
route_enrolled_from(struct route *r)
{
	return (r->enrolled_from);
}

/*
 * Successors (sessions.continue): a second job of a route's session gets a
 * route object of its own, outside the table, with its own one-time secret
 * bound to its own job; its agent enrolls on it and authenticates with its
 * own key.  Only when its tunnel comes up does it take the route's place in
 * the table (the old object dies, with every connection of the old job).
 */

/* Makes @r's successor (replacing one) and returns its one-time secret (freestr). */
char *
route_next_begin(struct route *r)
{
	struct route	*n;

	route_next_drop(r);
	n = xcalloc(1, sizeof *n);
	n->name = xstrdup(r->name);
	n->owner = xstrdup(r->owner);
	n->session = r->session;
	n->created = time(NULL);
	n->references = 1;	/* @r's */
	n->successor = 1;
	n->strip = r->strip;		/* the same app as its predecessor */
	n->no_token = r->no_token;
	r->succ = n;
	return (route_enroll_begin(n, NULL));
}

/*
 * Restores @r's successor from the store: its waiting enrollment (hex
 * digest, job), or the key and token its agent enrolled with (each may be
 * NULL or "").
 */
void
route_next_restore(struct route *r, const char *hex, const char *job,
    const char *key, const char *token)
{
	struct route	*n;
	char		*cause = NULL;

	if ((hex == NULL || *hex == '\0') && (key == NULL || *key == '\0'))
		return;
	freestr(route_next_begin(r));
	n = r->succ;
	n->enroll_pending = 0;		/* the new secret: never given out */
	explicit_bzero(n->enroll, sizeof n->enroll);
	route_enroll_restore(n, hex, job);
	if (key != NULL && *key != '\0' && (n->key = route_key_parse(key, &cause)) == NULL)
		free(cause);
	if (token != NULL && *token != '\0')
		n->token = xstrdup(token);
}

/* @r's successor (borrowed), or NULL. */
struct route *
route_next(struct route *r)
{
	return (r->succ);
}

/* Is @r a successor that waits to take its route's place? */
int
route_is_next(struct route *r)
{
	return (r->successor && !r->dead);
}

/* Forgets @r's successor: its agent, if any, is kicked. */
void
route_next_drop(struct route *r)
{
	struct route	*n = r->succ;

	if (n == NULL)
		return;
	r->succ = NULL;
	route_destroy(n);
}

/*
 * Puts @r's successor in @r's place in the table and removes @r (its
 * tunnel is kicked, its key and token die with it); returns the successor,
 * or NULL if @r has none or is not in the table.
 */
struct route *
route_next_promote(struct route *r)
{
	struct route	**rp, *n = r->succ;

	if (n == NULL || route_nbuckets == 0)
		return (NULL);
	for (rp = &route_tab[route_hash(r->name) % route_nbuckets]; *rp != NULL;
	    rp = &(*rp)->next) {
		if (*rp == r)
			break;
	}
	if (*rp == NULL)
		return (NULL);
	r->succ = NULL;
	n->successor = 0;
	n->next = r->next;
	*rp = n;		/* @r's reference to it is now the table's */
	route_destroy(r);
	return (n);
}

/* Binds (or with NULL unbinds) the live tunnel of a route. */
void
route_set_tunnel(struct route *r, struct tunnel *t)
{
	upool_flush(r->pool);	/* streams of the tunnel before: never reused */
	r->tunnel = t;
	r->gen++;
}

/* Changes whenever the route's tunnel does. */
unsigned long
route_tunnel_gen(struct route *r)
{
	return (r->gen);
}

/* The route's pool of idle streams (made on first use); NULL once removed. */
struct upool *
route_upool(struct route *r)
{
	if (r->pool == NULL && !r->dead)
		r->pool = upool_new();
	return (r->pool);
}

/*
 * Routes outlive a restart in the store's routes table (core/store.c owns the
 * schema): one row per route, replaced whole on every change.
 */

/* Records a route as it is now (replacing one of the same name). */
int
store_route_put(struct route *r)
{
	char		*key, *nkey = NULL, *cause = NULL, next[65];
	struct route	*n;
	int		 rv;

	if (r->successor) {	/* kept in its route's row */
		if ((r = route_find(r->name)) == NULL || r->succ == NULL)
			return (0);
	}
	n = r->succ;
	if (n != NULL && route_enroll_hex(n) != NULL)
		snprintf(next, sizeof next, "%s", route_enroll_hex(n));
	else
		next[0] = '\0';
	key = route_key_text(route_key(r));
	if (n != NULL && n->key != NULL)
		nkey = route_key_text(n->key);
	rv = store_run(&cause, "INSERT OR REPLACE INTO routes (name, owner, key,"
	    " token, created, enroll, job, session, next_enroll, next_job, next_key,"
	    " next_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    "ttttittitttt", route_name(r), route_owner(r), key, r->token,
	    (long long)route_created(r), route_enroll_hex(r), route_job(r),
	    route_session(r), *next != '\0' ? next : NULL,
	    n != NULL ? route_job(n) : NULL, nkey, n != NULL ? n->token : NULL);
	free(key);
	free(nkey);
	if (rv == -1)
		return (store_failed("route", route_name(r), cause));
	return (0);
}

/* Forgets a route. */
int
store_route_del(const char *name)
{
	char	*cause = NULL;

	if (store_run(&cause, "DELETE FROM routes WHERE name = ?", "t", name) == -1)
		return (store_failed("route", name, cause));
	return (0);
}

/* Calls @fn(name, owner, key, token, enroll, job, session) for every stored route. */
int
store_route_load(void (*fn)(const char *, const char *, const char *, const char *,
    const char *, const char *, long long))
{
	sqlite3_stmt	*st;
	struct route	*r;
	const char	*name;

	if ((st = store_prepare("SELECT name, owner, key, token, enroll, job,"
	    " session, next_enroll, next_job, next_key, next_token FROM routes"
	    " ORDER BY name")) == NULL)
		return (-1);
	while (sqlite3_step(st) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(st, 0);
		fn(name, (const char *)sqlite3_column_text(st, 1),
		    (const char *)sqlite3_column_text(st, 2),
		    (const char *)sqlite3_column_text(st, 3),
		    (const char *)sqlite3_column_text(st, 4),
		    (const char *)sqlite3_column_text(st, 5),
		    (long long)sqlite3_column_int64(st, 6));
		/* a successor job's enrollment or agent (store.c schema 10) */
		if (name != NULL && (r = route_find(name)) != NULL)
			route_next_restore(r, (const char *)sqlite3_column_text(st, 7),
			    (const char *)sqlite3_column_text(st, 8),
			    (const char *)sqlite3_column_text(st, 9),
			    (const char *)sqlite3_column_text(st, 10));
	}
	sqlite3_finalize(st);
	return (0);
}
