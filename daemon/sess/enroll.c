/*
 * enroll.c: binds an enrolling agent to its session's batch job: before the
 * agent's key is bound, the scheduler is asked (off the loop) whether the job
 * it claims is the session's, is running, and runs where the agent connects
 * from; a secret used by two agents that both pass is a security alert.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon/sess/sess.h"
#include "scheduler/backend.h"

#define ENROLL_JOB_WAIT		30	/* seconds to wait for sbatch's answer */
#define ENROLL_RETRIES		3	/* scheduler commands that could not run */
#define ENROLL_RETRY_SECS	2
#define ENROLL_RESOLVE_MS	10000	/* getent ahosts */
#define ENROLL_HOSTS_MAX	256	/* names resolved per check (the batch host is first) */

struct enroll_check {
	struct route		*r;		/* referenced */
	struct sshd_conn	*conn;		/* held until the check ends, or NULL */
	int			 reused;	/* the secret was used already: judging */
	unsigned char		 md[32];	/* the secret's digest */
	ssh_key			 key;		/* the agent's public key (owned) */
	char			*token;
	char			*job;		/* the job the agent claims, or NULL */
	char			*addr;		/* where it connects from */
	char			*nodes;		/* the job's node list (for messages) */
	int			 waited;	/* seconds waited for the job id */
	int			 tries;		/* scheduler failures so far */
	struct sched_req	*sreq;
	struct proc		*proc;
	struct event		*retry;
	TAILQ_ENTRY(enroll_check) entry;
};
static TAILQ_HEAD(, enroll_check) enroll_checks = TAILQ_HEAD_INITIALIZER(enroll_checks);

static void	enroll_step(evutil_socket_t, short, void *);

static void
enroll_free(struct enroll_check *c)
{
	TAILQ_REMOVE(&enroll_checks, c, entry);
	sched_req_cancel(c->sreq);
	proc_cancel(c->proc);
	if (c->retry != NULL)
		event_free(c->retry);
	route_unref(c->r);
	ssh_key_free(c->key);
	freestr(c->token);
	free(c->job);
	free(c->addr);
	free(c->nodes);
	explicit_bzero(c->md, sizeof c->md);
	free(c);
}

/* Tries the step again in @secs seconds. */
static void
enroll_later(struct enroll_check *c, int secs)
{
	struct timeval	tv = { secs, 0 };

	evtimer_add(c->retry, &tv);
}

/* The agent is not the job's: its connection closes, the secret stays good. */
static void
enroll_refuse(struct enroll_check *c, const char *why)
{
	char	*line;

	xasprintf(&line, "%s from %s (job %s): %s", c->reused ?
	    "reused secret" : "enrollment", c->addr, c->job != NULL ? c->job : "-",
	    why);
	log_warnx("route %s: %s refused", route_name(c->r), line);
	store_audit(route_owner(c->r), "enroll-refused", route_name(c->r), line);
	gate->stats.enroll_refused++;
	if (c->conn != NULL)
		sshd_conn_unhold(c->conn, "enrollment refused: the agent is not "
		    "in the session's job on its node");
	c->conn = NULL;
	free(line);
	enroll_free(c);
}

/* Two agents used one secret and both are in the job, on its node: end it. */
static void
enroll_alert(struct enroll_check *c)
{
	const char	*first = route_enrolled_from(c->r);

	gate->stats.enroll_conflicts++;
	session_enroll_conflict(c->r, first != NULL ? first : "?", c->addr,
	    "security alert: this session's one-time enrollment secret was used "
	    "by two agents, so the notebook at its address may not be yours; "
	    "the session was closed (start a new one)");
	if (c->conn != NULL)
		sshd_conn_unhold(c->conn, "enrollment secret used by another agent");
	c->conn = NULL;
	enroll_free(c);
}

/* The checks passed: bind the key, or raise the alert if the secret is gone. */
static void
enroll_pass(struct enroll_check *c)
{
	char	*why = NULL, *fp;
	int	 rc;

	if (route_dead(c->r)) {
		enroll_refuse(c, "the route was removed meanwhile");
		return;
	}
	if (c->reused || c->conn == NULL) {
		enroll_alert(c);
		return;
	}
	if ((rc = route_enroll(c->r, c->md, c->key, c->token, c->addr, &why)) ==
	    ROUTE_SECRET_USED) {
		enroll_alert(c);
		return;
	}
	if (rc == -1) {
		enroll_refuse(c, why);
		free(why);
		return;
	}
	store_route_put(c->r);
	session_enrolled(c->r, c->job);
	fp = route_key_text(route_key(c->r));
	store_audit(route_owner(c->r), "enroll", route_name(c->r), fp);
	free(fp);
	gate->stats.enroll_accepted++;
	log_info("route %s: agent enrolled from job %s at %s (a node of the job)",
	    route_name(c->r), c->job, c->addr);
	sshd_conn_unhold(c->conn, NULL);
	enroll_free(c);
}

/* A scheduler command could not run: again a few times, then refuse. */
static void
enroll_sched_failed(struct enroll_check *c, const char *what, const char *cause)
{
	char	*why;

	if (++c->tries < ENROLL_RETRIES) {
		log_warnx("route %s: enrollment check: %s: %s (retrying)",
		    route_name(c->r), what, cause);
		enroll_later(c, ENROLL_RETRY_SECS);
		return;
	}
	xasprintf(&why, "the scheduler could not be asked (%s: %s)", what, cause);
	enroll_refuse(c, why);
	free(why);
}

/* getent ahosts lines: "ADDRESS STREAM name". */
static void
enroll_resolved(const struct proc_result *res, void *arg)
{
	struct enroll_check	*c = arg;
	size_t			 len;
	char			*line, *why;

	c->proc = NULL;
	while ((line = evbuffer_readln(res->out, &len, EVBUFFER_EOL_LF)) != NULL) {
		line[strcspn(line, " \t")] = '\0';
		if (util_addr_match(c->addr, line) == 1) {
			free(line);
			enroll_pass(c);
			return;
		}
		free(line);
	}
	xasprintf(&why, "%s is not the address of a node of job %s (%s)", c->addr,
	    c->job, c->nodes);
	enroll_refuse(c, why);
	free(why);
}

/* The job's hosts: an address matches at once, names are resolved off the loop. */
static void
enroll_hosts(char *const *v, size_t n, const char *cause, void *arg)
{
	struct enroll_check	*c = arg;
	const char		*argv[3 + ENROLL_HOSTS_MAX];
	const char		*env[] = { "PATH=/usr/bin:/bin", NULL };
	struct proc_spec	 spec;
	size_t			 i, k = 2;
	char			*err = NULL, *why;

	c->sreq = NULL;
	if (cause != NULL) {
		enroll_sched_failed(c, "the job's nodes", cause);
		return;
	}
	argv[0] = "getent";
	argv[1] = "ahosts";
	for (i = 0; i < n; i++) {
		switch (util_addr_match(c->addr, v[i])) {
		case 1:
			enroll_pass(c);
			return;
		case -1:
			if (k < 2 + ENROLL_HOSTS_MAX)
				argv[k++] = v[i];
			break;
		}
	}
	argv[k] = NULL;
	if (k == 2) {
		xasprintf(&why, "%s is not the address of a node of job %s (%s)",
		    c->addr, c->job, c->nodes);
		enroll_refuse(c, why);
		free(why);
		return;
	}
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.env = env;
	spec.timeout = ENROLL_RESOLVE_MS;
	spec.output_max = 256 * 1024;
	if ((c->proc = proc_run(gate->base, &spec, enroll_resolved, c, &err)) == NULL) {
		xasprintf(&why, "cannot resolve the job's nodes: %s", err);
		enroll_refuse(c, why);
		free(why);
		free(err);
	}
}

/* The job's state: running, on nodes the agent's address must belong to. */
static void
enroll_queried(struct sched_job *jobs, size_t n, const char *cause, void *arg)
{
	struct enroll_check		*c = arg;
	struct sched			*sched;
	const struct config_cluster	*cc;
	const char			*sjob;
	char				*why;
	size_t				 i;

	c->sreq = NULL;
	if (cause != NULL) {
		enroll_sched_failed(c, "the job's state", cause);
		return;
	}
	if (session_enroll_target(c->r, &sched, &sjob, &cc) == -1) {
		enroll_refuse(c, "the route's session is over");
		return;
	}
	if (n != 1 || !jobs[0].found || jobs[0].st.state != SCHED_RUNNING) {
		xasprintf(&why, "job %s is not running (%s)", c->job, n == 1 &&
		    jobs[0].found && jobs[0].st.raw != NULL ? jobs[0].st.raw :
		    "unknown to the scheduler");
		enroll_refuse(c, why);
		free(why);
		return;
	}
	free(c->nodes);
	c->nodes = xstrdup(jobs[0].st.node != NULL ? jobs[0].st.node : "no node");
	if (cc->nnode_addresses > 0) {
		for (i = 0; i < cc->nnode_addresses; i++) {
			if (util_addr_match(c->addr, cc->node_addresses[i]) == 1) {
				enroll_pass(c);
				return;
			}
		}
		xasprintf(&why, "%s is not in clusters.%s.node_addresses", c->addr,
		    cc->name);
		enroll_refuse(c, why);
		free(why);
		return;
	}
	if (jobs[0].st.node == NULL) {
		xasprintf(&why, "the scheduler names no node for job %s", c->job);
		enroll_refuse(c, why);
		free(why);
		return;
	}
	c->sreq = sched_nodes(sched, sjob, jobs[0].st.node, enroll_hosts, c);
}

/* Is the claimed job the session's?  Then ask the scheduler about it. */
static void
enroll_step(evutil_socket_t fd, short what, void *arg)
{
	struct enroll_check		*c = arg;
	struct sched			*sched;
	const struct config_cluster	*cc;
	const char			*sjob;
	char				*why;

	if (session_enroll_target(c->r, &sched, &sjob, &cc) == -1) {
		enroll_refuse(c, "the route's session is over");
		return;
	}
	if (sjob == NULL && c->waited++ < ENROLL_JOB_WAIT) {
		enroll_later(c, 1);	/* sbatch has not answered yet */
		return;
	}
	if (c->job == NULL || sjob == NULL || !sched_id_match(sjob, c->job)) {
		xasprintf(&why, "the agent claims job %s, the session's job is %s",
		    c->job != NULL ? c->job : "(none)", sjob != NULL ? sjob :
		    "not known");
		enroll_refuse(c, why);
		free(why);
		return;
	}
	c->sreq = sched_query(sched, &sjob, 1, enroll_queried, c);
}

/*
 * Starts checking the enrollment @e of session route @r whose secret has
 * digest @md, and holds its connection until the check ends: the key is
 * bound if it passes.  With @reused the secret was used already by another
 * key, and a pass raises the security alert instead.  -1 and *why when
 * the claim is refused at once (no session, or not the session's job).
 */
int
enroll_check(struct route *r, const struct sshd_enroll *e, const unsigned char md[32],
    int reused, char **why)
{
	struct enroll_check		*c;
	struct sched			*sched;
	const struct config_cluster	*cc;
	const char			*sjob;
	char				*text, *cause = NULL;

	if (session_enroll_target(r, &sched, &sjob, &cc) == -1) {
		xasprintf(why, "the route's session is over");
		return (-1);
	}
	if (sjob != NULL && (e->job == NULL || !sched_id_match(sjob, e->job))) {
		xasprintf(why, "the agent claims job %s, the session's job is %s",
		    e->job != NULL ? e->job : "(none)", sjob);
		return (-1);
	}
	c = xcalloc(1, sizeof *c);
	route_ref(r);
	c->r = r;
	c->reused = reused;
	memcpy(c->md, md, sizeof c->md);
	text = route_key_text(e->key);
	c->key = route_key_parse(text, &cause);		/* it parsed before */
	free(text);
	free(cause);
	c->token = e->token != NULL ? xstrdup(e->token) : NULL;
	c->job = e->job != NULL ? xstrdup(e->job) : NULL;
	c->addr = xstrdup(e->addr != NULL ? e->addr : "?");
	if ((c->retry = evtimer_new(gate->base, enroll_step, c)) == NULL)
		fatalx("evtimer_new failed");
	TAILQ_INSERT_TAIL(&enroll_checks, c, entry);
	c->conn = e->conn;
	sshd_conn_hold(e->conn, c);
	enroll_later(c, 0);	/* from the loop, not inside libssh */
	return (0);
}

/* The held connection went away: nothing left to bind. */
void
enroll_gone(void *cookie)
{
	struct enroll_check	*c = cookie;

	c->conn = NULL;
	log_info("route %s: enrolling agent from %s left before its check ended",
	    route_name(c->r), c->addr);
	enroll_free(c);
}

/* Drops every check in flight (before the clusters and the sshd go). */
void
enroll_shutdown(void)
{
	struct enroll_check	*c;

	while ((c = TAILQ_FIRST(&enroll_checks)) != NULL) {
		if (c->conn != NULL)
			sshd_conn_unhold(c->conn, "gateway shutting down");
		enroll_free(c);
	}
}
