/*
 * cred.c: who a user is on clusters with "charging: user".
 *
 * A user proves an identity once: an X.509 certificate chain + key (or an
 * RFC 3820 proxy) uploaded, or fetched by a MyProxy logon, verified against
 * credentials.ca_dir and mapped to a local account by credentials.gridmap;
 * or, with credentials.from_login, the login alone names the account. What
 * is kept (memory and SQLite) is the verified identity only: DN, account,
 * source and expiry. The user's private key proves possession and is then
 * dropped; nbgated never stores it. The SSH certificates that log in as the
 * account are minted from the identity (session.c) and live in memory.
 * MyProxy logons are capped in flight (all users, each user) and backed off
 * after failures per MyProxy name and per gateway user (throttle.c).
 */
#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "daemon/ident/ident.h"

#define CRED_UID_MIN		1000	/* below: the system's accounts */
#define CRED_UID_NOBODY		65534
#define CRED_MP_FREE		5	/* failed MyProxy logons before backoff */
#define CRED_MP_NAME_MAX	256	/* bytes of a MyProxy user name */

struct cred_entry {
	struct cred		 c;
	TAILQ_ENTRY(cred_entry)	 entry;
};
static TAILQ_HEAD(, cred_entry) cred_list = TAILQ_HEAD_INITIALIZER(cred_list);

/* A MyProxy logon running in its own thread. */
struct cred_logon {
	char			*user;		/* gateway user */
	char			*mpuser;	/* MyProxy user name */
	char			*pass;
	char			*host;
	int			 port;
	int			 lifetime;
	char			*ca_dir;
	/* results, written by the thread before it signals */
	char			*chain;
	char			*key;
	char			*cause;
	int			 rc;
	int			 pipe[2];
	struct event		*ev;
	cred_done_cb		 cb;
	void			*arg;
	int			 abandoned;
	TAILQ_ENTRY(cred_logon)	 entry;
};
static TAILQ_HEAD(, cred_logon) cred_logons = TAILQ_HEAD_INITIALIZER(cred_logons);

static void
cred_clear(struct cred *c)
{
	free(c->user);
	free(c->dn);
	free(c->account);
	free(c->source);
	memset(c, 0, sizeof *c);
}

static struct cred_entry *
cred_find(const char *user)
{
	struct cred_entry	*e;

	TAILQ_FOREACH(e, &cred_list, entry) {
		if (strcmp(e->c.user, user) == 0)
			return (e);
	}
	return (NULL);
}

static void
cred_remove(struct cred_entry *e)
{
	TAILQ_REMOVE(&cred_list, e, entry);
	cred_clear(&e->c);
	free(e);
}

/* Replaces the user's identity in memory. */
static struct cred *
cred_mem(const char *user, const char *dn, const char *account, const char *source,
    time_t not_after, time_t verified)
{
	struct cred_entry	*e;

	if ((e = cred_find(user)) != NULL)
		cred_clear(&e->c);
	else {
		e = xcalloc(1, sizeof *e);
		TAILQ_INSERT_TAIL(&cred_list, e, entry);
	}
	e->c.user = xstrdup(user);
	e->c.dn = xstrdup(dn);
	e->c.account = xstrdup(account);
	e->c.source = xstrdup(source);
	e->c.not_after = not_after;
	e->c.verified = verified;
	return (&e->c);
}

/* Logs that the user's identity could not be written (@what: store, forget). */
static void
cred_store_failed(const char *user, const char *what, char *cause)
{
	log_tag(user, 0, NULL, NULL);
	log_warnx("credentials: cannot %s %s's identity: %s", what, user, cause);
	free(cause);
}

/* Removes the user's identity from SQLite. */
static void
cred_forget(const char *user)
{
	char	*cause = NULL;

	if (store_run(&cause, "DELETE FROM credentials WHERE user = ?", "t",
	    user) == -1)
		cred_store_failed(user, "forget", cause);
}

/* Replaces the user's identity (memory and SQLite). */
static const struct cred *
cred_put(const char *user, const char *dn, const char *account, const char *source,
    time_t not_after, time_t verified)
{
	struct cred	*c = cred_mem(user, dn, account, source, not_after, verified);
	char		*cause = NULL;

	if (store_run(&cause, "INSERT OR REPLACE INTO credentials (user, dn,"
	    " account, source, not_after, verified) VALUES (?, ?, ?, ?, ?, ?)",
	    "ttttii", user, dn, account, source, (long long)not_after,
	    (long long)verified) == -1)
		cred_store_failed(user, "store", cause);
	return (c);
}

int
cred_init(char **cause)
{
	sqlite3_stmt	*st;
	time_t		 now = time(NULL);
	const char	*v[4];
	char		*why = NULL;
	int		 i, n = 0;

	if (store_run(&why, "DELETE FROM credentials WHERE not_after <= ?", "i",
	    (long long)now) == -1) {
		log_warnx("credentials: cannot drop expired identities: %s", why);
		free(why);
	}
	if ((st = store_prepare("SELECT user, dn, account, source, not_after, verified"
	    " FROM credentials")) == NULL) {
		xasprintf(cause, "cannot read the credentials table");
		return (-1);
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (i = 0; i < 4; i++) {
			if ((v[i] = (const char *)sqlite3_column_text(st, i)) == NULL)
				break;
		}
		if (i < 4)
			continue;
		/* memory only: writing the table would make this scan see it again */
		cred_mem(v[0], v[1], v[2], v[3], (time_t)sqlite3_column_int64(st, 4),
		    (time_t)sqlite3_column_int64(st, 5));
		n++;
	}
	sqlite3_finalize(st);
	if (n > 0)
		log_info("credentials: %d verified identit%s reloaded", n, n == 1 ?
		    "y" : "ies");
	return (0);
}

void
cred_shutdown(void)
{
	struct cred_entry	*e;
	struct cred_logon	*l;

	while ((e = TAILQ_FIRST(&cred_list)) != NULL) {
		TAILQ_REMOVE(&cred_list, e, entry);
		cred_clear(&e->c);
		free(e);
	}
	/* A logon still running keeps its thread; it frees itself when done. */
	TAILQ_FOREACH(l, &cred_logons, entry)
		l->abandoned = 1;
}

/* The user's identity if it is still valid, else NULL (and it is forgotten). */
const struct cred *
cred_get(const char *user)
{
	struct cred_entry	*e;

	if ((e = cred_find(user)) == NULL)
		return (NULL);
	if (e->c.not_after <= time(NULL)) {
		log_tag(user, 0, NULL, NULL);
		log_info("credentials: %s's identity (%s) expired", user, e->c.dn);
		cred_forget(user);
		cred_remove(e);
		return (NULL);
	}
	return (&e->c);
}

/* Any valid identity that logs in as @account (a reload finds its jobs' owner). */
const struct cred *
cred_for_account(const char *account)
{
	struct cred_entry	*e;
	const struct cred	*best = NULL;
	time_t			 now = time(NULL);

	TAILQ_FOREACH(e, &cred_list, entry) {
		if (strcmp(e->c.account, account) == 0 && e->c.not_after > now &&
		    (best == NULL || e->c.not_after > best->not_after))
			best = &e->c;
	}
	return (best);
}

/*
 * Why no login may name the local account @user (as an OIDC user name, or as
 * a from_login certificate's principal): NULL if it may, else an owned
 * sentence. Reserved: root; this host's system accounts (uid below
 * CRED_UID_MIN, and nobody); nbgated's own account; every cluster's login_user
 * (the community accounts jobs run as). getpwnam() may ask NSS (files, sssd).
 */
char *
cred_account_reserved(const struct config *cfg, const char *user)
{
	struct passwd	*pw;
	char		*c = NULL;
	size_t		 i;

	if (strcmp(user, "root") == 0)
		return (xstrdup("is the superuser's name"));
	if ((pw = getpwnam(user)) != NULL && (pw->pw_uid < CRED_UID_MIN ||
	    pw->pw_uid == CRED_UID_NOBODY || pw->pw_uid == (uid_t)-2)) {
		xasprintf(&c, "is a system account on the gateway (uid %lu)",
		    (u_long)pw->pw_uid);
		return (c);
	}
	if ((pw = getpwuid(geteuid())) != NULL && strcmp(pw->pw_name, user) == 0)
		return (xstrdup("is the gateway's own account"));
	for (i = 0; cfg != NULL && i < cfg->nclusters; i++) {
		if (cfg->clusters[i].login_user != NULL &&
		    strcmp(cfg->clusters[i].login_user, user) == 0) {
			xasprintf(&c, "is the account cluster %s runs jobs as",
			    cfg->clusters[i].name);
			return (c);
		}
	}
	return (NULL);
}

/*
 * credentials.from_login: the login names the account, for a certificate's
 * lifetime; never a reserved account (whatever login method let the user in).
 */
const struct cred *
cred_from_login(const char *user)
{
	const struct cred	*c;
	char			*dn;
	time_t			 now = time(NULL);

	char			*why;

	if ((c = cred_get(user)) != NULL || !gate->cfg->cred_from_login)
		return (c);
	if ((why = cred_account_reserved(gate->cfg, user)) != NULL) {
		log_tag(user, 0, NULL, NULL);
		log_warnx("credentials: %s gets no certificate from the login "
		    "(from_login): the name %s", user, why);
		free(why);
		return (NULL);
	}
	xasprintf(&dn, "login:%s", user);
	c = cred_put(user, dn, user, "login", now + gate->cfg->cred_cert_lifetime, now);
	free(dn);
	log_tag(user, 0, NULL, NULL);
	log_info("credentials: %s gets account %s from the login (from_login)", user,
	    user);
	store_audit(user, "credential", user, "from login");
	return (c);
}

int
cred_drop(const char *actor, const char *user)
{
	struct cred_entry	*e;

	if ((e = cred_find(user)) == NULL)
		return (-1);
	log_tag(user, 0, NULL, NULL);
	log_info("credentials: %s's identity (%s) removed by %s", user, e->c.dn, actor);
	store_audit(actor, "credential-drop", user, e->c.dn);
	cred_forget(user);
	cred_remove(e);
	return (0);
}

static void
cred_policy(struct x509_policy *p)
{
	memset(p, 0, sizeof *p);
	p->ca_dir = gate->cfg->cred_ca_dir;
	p->gridmap = gate->cfg->cred_gridmap;
	p->check_crl = gate->cfg->cred_require_crl ? X509_CRL_REQUIRE :
	    X509_CRL_IF_PRESENT;
	p->allow_independent = gate->cfg->cred_allow_independent;
}

/* Verifies chain + key (PEM) and keeps the identity; -1 and *cause if refused. */
const struct cred *
cred_set_x509(const char *actor, const char *user, const char *chain, size_t chainlen,
    const char *key, size_t keylen, const char *pass, const char *source, char **cause)
{
	struct x509_policy	 pol;
	struct x509_ident	 id;
	const struct cred	*c;
	char			 when[32];
	struct tm		 tm;

	cred_policy(&pol);
	memset(&id, 0, sizeof id);
	if (x509_verify(chain, chainlen, key, keylen, pass, &pol, &id, cause) == -1) {
		log_tag(user, 0, NULL, NULL);
		log_info("credentials: %s's credential refused: %s", user, *cause);
		gate->stats.cred_refused++;
		return (NULL);
	}
	if (source == NULL)
		source = id.proxy ? "x509-proxy" : "x509";
	c = cred_put(user, id.dn, id.account, source, id.not_after, time(NULL));
	gmtime_r(&c->not_after, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
	log_tag(user, 0, NULL, NULL);
	log_info("credentials: %s proved %s (%s) -> account %s, valid until %s", user,
	    c->dn, c->source, c->account, when);
	store_audit(actor, "credential", user, c->dn);
	gate->stats.cred_verified++;
	x509_ident_free(&id);
	return (c);
}

/* ---- MyProxy logon, in a thread ----------------------------------------------- */

static void
cred_logon_free(struct cred_logon *l)
{
	free(l->user);
	free(l->mpuser);
	freestr(l->pass);
	free(l->host);
	free(l->ca_dir);
	free(l->chain);
	freestr(l->key);
	free(l->cause);
	if (l->ev != NULL)
		event_free(l->ev);
	if (l->pipe[0] != -1)
		close(l->pipe[0]);
	if (l->pipe[1] != -1)
		close(l->pipe[1]);
	free(l);
}

static void *
cred_logon_thread(void *arg)
{
	struct cred_logon	*l = arg;
	struct myproxy_opts	 o;
	char			 c = 0;

	memset(&o, 0, sizeof o);
	o.host = l->host;
	o.port = l->port;
	o.ca_dir = l->ca_dir;
	l->rc = myproxy_logon(&o, l->mpuser, l->pass, l->lifetime, &l->chain, &l->key,
	    &l->cause);
	/* the pipe is empty and ours: a one-byte write cannot block or fail */
	(void)!write(l->pipe[1], &c, 1);
	return (NULL);
}

static void
cred_logon_done(evutil_socket_t fd, short what, void *arg)
{
	struct cred_logon	*l = arg;
	const struct cred	*c = NULL;
	char			*cause = NULL, *actor;

	TAILQ_REMOVE(&cred_logons, l, entry);
	if (l->abandoned) {
		cred_logon_free(l);
		return;
	}
	if (l->rc == -1) {
		xasprintf(&cause, "MyProxy logon failed: %s", l->cause != NULL ?
		    l->cause : "no reason given");
		log_tag(l->user, 0, NULL, NULL);
		log_info("credentials: %s: %s", l->user, cause);
		gate->stats.cred_refused++;
		throttle_fail('m', l->mpuser, CRED_MP_FREE);
		throttle_fail('c', l->user, CRED_MP_FREE);
	} else {
		throttle_reset('m', l->mpuser);
		throttle_reset('c', l->user);
		xasprintf(&actor, "%s (MyProxy %s)", l->user, l->mpuser);
		c = cred_set_x509(actor, l->user, l->chain, strlen(l->chain), l->key,
		    strlen(l->key), NULL, "myproxy", &cause);
		free(actor);
	}
	l->cb(c, cause, l->arg);
	free(cause);
	cred_logon_free(l);
}

/* 1 if @s can be a MyProxy user name: one line, no control bytes. */
static int
cred_mpuser_valid(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n > CRED_MP_NAME_MAX)
		return (0);
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return (0);
	}
	return (1);
}

/*
 * May @user start a MyProxy logon as @mpuser now?  0, or CRED_BUSY and
 * *cause when too many are in flight or failures asked for a wait.
 */
static int
cred_myproxy_admit(const char *user, const char *mpuser, char **cause)
{
	const struct config	*cfg = gate->cfg;
	struct cred_logon	*l;
	int			 all = 0, mine = 0;
	long			 wait;

	TAILQ_FOREACH(l, &cred_logons, entry) {
		all++;
		if (strcmp(l->user, user) == 0)
			mine++;
	}
	if (mine >= cfg->cred_myproxy_max_user || all >= cfg->cred_myproxy_max) {
		log_tag(user, 0, NULL, NULL);
		log_info("credentials: %s: MyProxy logon refused: %d of yours, %d "
		    "in all in flight (myproxy_max_inflight%s)", user, mine, all,
		    mine >= cfg->cred_myproxy_max_user ? "_per_user" : "");
		gate->stats.myproxy_busy++;
		xasprintf(cause, "%s; try again when %s finished",
		    mine >= cfg->cred_myproxy_max_user ? "a MyProxy logon of yours "
		    "is still running" : "too many MyProxy logons are running "
		    "right now", mine >= cfg->cred_myproxy_max_user ? "it has" :
		    "they have");
		return (CRED_BUSY);
	}
	if ((wait = throttle_wait('m', mpuser)) == 0)
		wait = throttle_wait('c', user);
	if (wait > 0) {
		log_tag(user, 0, NULL, NULL);
		log_info("credentials: %s: MyProxy logon as %s refused, too many "
		    "failures (%ld s left)", user, mpuser, wait);
		gate->stats.myproxy_busy++;
		xasprintf(cause, "too many failed MyProxy logons: wait %ld s and "
		    "try again", wait);
		return (CRED_BUSY);
	}
	return (0);
}

/*
 * Starts a MyProxy logon; the callback runs once, from the loop.  -1 and
 * *cause (a bad request), or CRED_BUSY and *cause (too many in flight or a
 * backoff: "429").
 */
int
cred_myproxy(const char *user, const char *mpuser, const char *pass, cred_done_cb cb,
    void *arg, char **cause)
{
	struct cred_logon	*l;
	const char		*hp = gate->cfg->cred_myproxy, *colon;
	pthread_t		 th;
	pthread_attr_t		 attr;

	if (hp == NULL || (colon = strrchr(hp, ':')) == NULL) {
		xasprintf(cause, "this gateway offers no MyProxy logon "
		    "(credentials.myproxy is not set)");
		return (-1);
	}
	if (!cred_mpuser_valid(mpuser)) {
		xasprintf(cause, "a MyProxy user name is one line of at most %d "
		    "bytes without control characters", CRED_MP_NAME_MAX);
		return (-1);
	}
	if (cred_myproxy_admit(user, mpuser, cause) != 0)
		return (CRED_BUSY);
	l = xcalloc(1, sizeof *l);
	l->pipe[0] = l->pipe[1] = -1;
	l->user = xstrdup(user);
	l->mpuser = xstrdup(mpuser);
	l->pass = xstrdup(pass);
	l->host = xstrndup(hp, (size_t)(colon - hp));
	if (l->host[0] == '[' && l->host[strlen(l->host) - 1] == ']') {
		memmove(l->host, l->host + 1, strlen(l->host));
		l->host[strlen(l->host) - 1] = '\0';
	}
	l->port = atoi(colon + 1);
	l->lifetime = gate->cfg->cred_myproxy_lifetime;
	l->ca_dir = xstrdup(gate->cfg->cred_ca_dir);
	l->cb = cb;
	l->arg = arg;
	if (pipe2(l->pipe, O_CLOEXEC) == -1) {
		xasprintf(cause, "pipe: %s", strerror(errno));
		cred_logon_free(l);
		return (-1);
	}
	l->ev = event_new(gate->base, l->pipe[0], EV_READ, cred_logon_done, l);
	event_add(l->ev, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, cred_logon_thread, l) != 0) {
		pthread_attr_destroy(&attr);
		xasprintf(cause, "cannot start the MyProxy logon");
		cred_logon_free(l);
		return (-1);
	}
	pthread_attr_destroy(&attr);
	TAILQ_INSERT_TAIL(&cred_logons, l, entry);
	log_tag(user, 0, NULL, NULL);
	log_info("credentials: %s: MyProxy logon as %s at %s", user, mpuser, hp);
	return (0);
}

/* What the API and pages show: never a key, never a passphrase. */
json_t *
cred_json(const struct cred *c)
{
	char		 when[32];
	struct tm	 tm;

	gmtime_r(&c->not_after, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return (json_pack("{s:s,s:s,s:s,s:s,s:I}", "dn", c->dn, "account", c->account,
	    "source", c->source, "expires", when, "seconds_left",
	    (json_int_t)(c->not_after - time(NULL))));
}
