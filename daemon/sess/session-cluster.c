/*
 * session-cluster.c: the scheduler bridges sessions reach their jobs through:
 * one per configured cluster, and (charging: user) one per account, logging
 * in with a certificate signed for its verified credential.
 */
#include "config.h"

#include <sys/queue.h>

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/sess/session-int.h"

#define SESS_FAST_POLL		1000	/* ms, while some job waits to start */

struct sess_clusters	 sess_clusters = TAILQ_HEAD_INITIALIZER(sess_clusters);

/* ---- clusters ---------------------------------------------------------- */

struct cluster *
sess_cluster(const char *name)
{
	struct cluster	*cl;

	TAILQ_FOREACH(cl, &sess_clusters, entry) {
		if (cl->account == NULL && strcmp(cl->name, name) == 0)
			return (cl);
	}
	return (NULL);
}

/*
 * A cluster's bridge from its configuration, or (account != NULL) one that logs
 * in as that account with a key and certificate held in memory; NULL and
 * *cause if it cannot be built.
 */
static struct cluster *
sess_cluster_new(const struct config_cluster *c, const char *account,
    const char *key, const char *cert, char **cause)
{
	struct transport_config	 tc;
	struct cluster		*cl;
	const struct sched_ops	*ops;
	struct sess_rest	*rest = NULL;
	struct passwd		*pw;
	char			*host = NULL;
	const char		*colon;

	if ((ops = sched_find(c->transport == CONFIG_SLURMRESTD ? "slurm-rest" :
	    c->slurm_api == CONFIG_SLURM_LIBSLURM ? "slurm-lib" :
	    config_scheduler_name(c->scheduler))) == NULL) {
		xasprintf(cause, "no backend for scheduler %s",
		    config_scheduler_name(c->scheduler));
		return (NULL);
	}
	memset(&tc, 0, sizeof tc);
	tc.name = c->name;
	tc.slurm_conf = c->slurm_conf;
	tc.env = (const char *const *)c->environment;
	tc.nenv = c->nenvironment;
	if (c->transport == CONFIG_SSH) {
		tc.kind = TRANSPORT_SSH;
		if (c->login_host == NULL ||
		    (colon = strrchr(c->login_host, ':')) == NULL) {
			xasprintf(cause, "login_host is not host:port");
			return (NULL);
		}
		host = xstrndup(c->login_host, (size_t)(colon - c->login_host));
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			memmove(host, host + 1, strlen(host));
			host[strlen(host) - 1] = '\0';
		}
		tc.host = host;
		tc.port = atoi(colon + 1);
		tc.user = account != NULL ? account : c->login_user;
		tc.key_file = account != NULL ? NULL : c->login_key;
		tc.key_text = key;
		tc.cert_line = cert;
		tc.hostkey = c->login_host_key;
	} else if (c->transport == CONFIG_SLURMRESTD) {
		tc.kind = TRANSPORT_HTTP;
		if ((rest = sess_rest_new(c, cause)) == NULL)
			return (NULL);
		tc.http = sess_rest_http(rest);
	} else {
		tc.kind = TRANSPORT_LOCAL;
		tc.user = c->login_user;	/* NULL: nbgated's own account */
		if (c->slurm_api == CONFIG_SLURM_LIBSLURM)
			tc.helper = sched_slurmlib_path();	/* one long-lived helper */
		/* job output paths are relative to the submitting account's home */
		pw = c->login_user != NULL ? getpwnam(c->login_user) :
		    getpwuid(geteuid());
		if (pw != NULL && pw->pw_dir[0] == '/')
			tc.workdir = pw->pw_dir;
	}
	cl = xcalloc(1, sizeof *cl);
	cl->name = xstrdup(c->name);
	cl->account = account != NULL ? xstrdup(account) : NULL;
	cl->rest = rest;
	cl->tr = transport_new(gate->base, &tc, cause);
	free(host);
	if (cl->tr == NULL) {
		sess_rest_free(cl->rest);
		free(cl->account);
		free(cl->name);
		free(cl);
		return (NULL);
	}
	cl->sched = sched_new(gate->base, ops, cl->tr, c->name);
	cl->trk = sched_tracker_new(cl->sched, c->poll_interval * 1000,
	    SESS_FAST_POLL, sess_tracked, cl);
	return (cl);
}

static void
sess_cluster_free(struct cluster *cl)
{
	size_t	i;

	sched_req_cancel(cl->orphans);
	sched_req_cancel(cl->queues_req);
	sched_queues_free(cl->queues, cl->nqueues);
	sched_req_cancel(cl->acct_req);
	sched_tracker_free(cl->trk);
	sched_free(cl->sched);
	transport_free(cl->tr);
	sess_rest_free(cl->rest);
	for (i = 0; i < cl->naccounts; i++)
		free(cl->accounts[i]);
	free(cl->accounts);
	free(cl->account);
	free(cl->name);
	free(cl);
}

/* Builds a bridge for every configured cluster that has none yet. */
void
sess_clusters_sync(const struct config *cfg)
{
	struct cluster	*cl;
	char		*cause = NULL;
	size_t		 i;

	for (i = 0; i < cfg->nclusters; i++) {
		if (sess_cluster(cfg->clusters[i].name) != NULL)
			continue;
		if (cfg->clusters[i].charging == CONFIG_USER &&
		    cfg->clusters[i].login_key == NULL) {
			log_info("cluster %s: %s over %s, as each user (charging: "
			    "user)", cfg->clusters[i].name, config_scheduler_name(
			    cfg->clusters[i].scheduler), cfg->clusters[i].login_host);
			continue;	/* bridges are made per account, on demand */
		}
		if ((cl = sess_cluster_new(&cfg->clusters[i], NULL, NULL, NULL,
		    &cause)) == NULL) {
			log_warnx("cluster %s: %s", cfg->clusters[i].name, cause);
			free(cause);
			cause = NULL;
			continue;
		}
		TAILQ_INSERT_TAIL(&sess_clusters, cl, entry);
		log_info("cluster %s: %s over %s", cl->name,
		    config_scheduler_name(cfg->clusters[i].scheduler),
		    cfg->clusters[i].transport == CONFIG_SSH ?
		    cfg->clusters[i].login_host :
		    cfg->clusters[i].transport == CONFIG_SLURMRESTD ?
		    cfg->clusters[i].slurmrestd_url :
		    cfg->clusters[i].slurm_api == CONFIG_SLURM_LIBSLURM ?
		    "libslurm (nbgate-slurmlib)" : "local commands");
	}
}

/* Frees every bridge (at shutdown: no session uses them any more). */
void
sess_clusters_free(void)
{
	struct cluster	*cl, *next;

	TAILQ_FOREACH_SAFE(cl, &sess_clusters, entry, next)
		sess_cluster_free(cl);
	TAILQ_INIT(&sess_clusters);
}

/* ---- charging: user: a bridge per account ------------------------------- */

#define SESS_CERT_RENEW		300	/* s before a certificate ends: sign a new one */
#define SESS_BRIDGE_IDLE	600	/* s a bridge no session uses is kept */

/* Signs a certificate for cred's account; 0 with key, cert and until, or -1. */
static int
sess_mint(const struct config_cluster *c, const struct cred *cred, char **key,
    char **cert, time_t *until, char **cause)
{
	time_t	 now = time(NULL), end;
	char	*kid, *err = NULL;

	end = now + gate->cfg->cred_cert_lifetime;
	if (end > cred->not_after)
		end = cred->not_after;
	if (end <= now + 30) {
		xasprintf(cause, "the credential for %s expires in under a minute",
		    cred->account);
		return (-1);
	}
	xasprintf(&kid, "%s (nbgate user %s)", cred->dn, cred->user);
	if (sshcert_mint(c->user_ca_key, cred->account, kid, now - 60, end, key, cert,
	    &err) == -1) {
		log_warnx("cluster %s: cannot sign a certificate for %s: %s", c->name,
		    cred->account, err);
		xasprintf(cause, "the gateway cannot sign a login certificate for %s "
		    "(see its log)", cred->account);
		free(err);
		free(kid);
		return (-1);
	}
	gate->stats.certs_minted++;
	log_info("cluster %s: certificate for %s signed, valid %lld s, key id \"%s\"",
	    c->name, cred->account, (long long)(end - now), kid);
	free(kid);
	*until = end;
	return (0);
}

/* The account's associations (sacctmgr, as the account): what it may charge. */
static void
sess_accounts_done(char *const *v, size_t n, const char *cause, void *arg)
{
	struct cluster	*cl = arg;
	size_t		 i;

	cl->acct_req = NULL;
	if (cause != NULL) {
		log_info("cluster %s: the associations of %s are not known (%s)",
		    cl->name, cl->account, cause);
		return;
	}
	for (i = 0; i < cl->naccounts; i++)
		free(cl->accounts[i]);
	free(cl->accounts);
	cl->accounts = xcalloc(n + 1, sizeof *cl->accounts);
	for (i = 0; i < n; i++)
		cl->accounts[i] = xstrdup(v[i]);
	cl->naccounts = n;
	log_info("cluster %s: %s may charge %zu account%s", cl->name, cl->account,
	    n, n == 1 ? "" : "s");
}

static void
sess_accounts_ask(struct cluster *cl)
{
	if (cl->acct_req == NULL)
		cl->acct_req = sched_accounts(cl->sched, cl->account,
		    sess_accounts_done, cl);
}

static struct cluster *
sess_bridge_find(const char *name, const char *account)
{
	struct cluster	*cl;

	TAILQ_FOREACH(cl, &sess_clusters, entry) {
		if (cl->account != NULL && strcmp(cl->name, name) == 0 &&
		    strcmp(cl->account, account) == 0)
			return (cl);
	}
	return (NULL);
}

/* The bridge that logs in to cluster c as cred's account, made on first use. */
struct cluster *
sess_bridge(const struct config_cluster *c, const struct cred *cred, char **cause)
{
	struct cluster	*cl;
	char		*key = NULL, *cert = NULL;
	time_t		 until;

	if ((cl = sess_bridge_find(c->name, cred->account)) != NULL &&
	    cl->cert_until > time(NULL) + SESS_CERT_RENEW)
		return (cl);
	if (sess_mint(c, cred, &key, &cert, &until, cause) == -1) {
		if (cl == NULL)
			return (NULL);
		log_warnx("cluster %s: %s (the certificate in use stays)", c->name, *cause);
		free(*cause);
		*cause = NULL;
		return (cl);	/* its older certificate may still serve */
	}
	if (cl != NULL) {
		transport_rekey(cl->tr, key, cert);
		cl->cert_until = until;
	} else if ((cl = sess_cluster_new(c, cred->account, key, cert, cause)) != NULL) {
		cl->cert_until = until;
		TAILQ_INSERT_TAIL(&sess_clusters, cl, entry);
		log_info("cluster %s: bridge as %s for %s (%s)", c->name, cred->account,
		    cred->user, cred->dn);
		sess_accounts_ask(cl);
	}
	freestr(key);
	free(cert);
	return (cl);
}

/* Every user-mode cluster gets cred's bridge (the pages then know its accounts). */
void
session_credential(const struct cred *cred)
{
	const struct config	*cfg = gate->cfg;
	struct cluster		*cl;
	char			*cause = NULL;
	size_t			 i;

	for (i = 0; i < cfg->nclusters; i++) {
		if (cfg->clusters[i].charging != CONFIG_USER)
			continue;
		if ((cl = sess_bridge_find(cfg->clusters[i].name, cred->account)) != NULL)
			cl->cert_until = 0;	/* a new credential: a new certificate */
		if ((cl = sess_bridge(&cfg->clusters[i], cred, &cause)) == NULL) {
			log_info("cluster %s: %s", cfg->clusters[i].name, cause);
			free(cause);
			cause = NULL;
		} else
			sess_accounts_ask(cl);
	}
}

/* The accounts @account may charge on cluster @name; NULL if not known. */
const char *const *
session_accounts(const char *name, const char *account)
{
	struct cluster	*cl = sess_bridge_find(name, account);

	return (cl != NULL ? (const char *const *)cl->accounts : NULL);
}

/* Renews certificates about to end; frees bridges no session has used for a while. */
void
sess_bridges_tend(time_t now)
{
	const struct config_cluster *c;
	const struct cred	*cred;
	struct cluster		*cl, *next;
	struct session		*s;
	char			*cause = NULL;
	int			 used;

	TAILQ_FOREACH_SAFE(cl, &sess_clusters, entry, next) {
		if (cl->account == NULL)
			continue;
		used = 0;
		TAILQ_FOREACH(s, &sess_list, entry) {
			if (s->cl == cl && sess_active(s))
				used = 1;
		}
		c = config_cluster_find(gate->cfg, cl->name);
		cred = cred_for_account(cl->account);
		if (!used && (c == NULL || cred == NULL || (cl->idle_since != 0 &&
		    now - cl->idle_since > SESS_BRIDGE_IDLE))) {
			TAILQ_FOREACH(s, &sess_list, entry) {
				if (s->cl == cl)
					s->cl = NULL;	/* ended ones only */
			}
			log_info("cluster %s: bridge as %s closed (unused)", cl->name,
			    cl->account);
			TAILQ_REMOVE(&sess_clusters, cl, entry);
			sess_cluster_free(cl);
			continue;
		}
		if (!used && cl->idle_since == 0)
			cl->idle_since = now;
		else if (used)
			cl->idle_since = 0;
		if (c != NULL && cred != NULL && cl->cert_until - now < SESS_CERT_RENEW &&
		    cred->not_after > cl->cert_until &&
		    sess_bridge(c, cred, &cause) == NULL) {
			log_warnx("cluster %s: %s", cl->name, cause);
			free(cause);
			cause = NULL;
		}
	}
}

/* Each cluster's scheduler traffic, for metrics. */
void
session_cluster_stats(void (*fn)(const char *, unsigned long long,
    unsigned long long, double, size_t, void *), void *arg)
{
	struct cluster	*cl;

	TAILQ_FOREACH(cl, &sess_clusters, entry)
		fn(cl->name, sched_calls(cl->sched), sched_errors(cl->sched),
		    sched_seconds(cl->sched), sched_tracker_active(cl->trk), arg);
}

/* The scheduler bridge of cluster @name (for web/usage.c's accounting), or NULL. */
struct sched *
session_cluster_sched(const char *name)
{
	struct cluster	*cl;

	TAILQ_FOREACH(cl, &sess_clusters, entry) {
		if (strcmp(cl->name, name) == 0)
			return (cl->sched);
	}
	return (NULL);
}
