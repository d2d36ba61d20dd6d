/*
 * sess.h: notebook sessions: a user's spawn options checked against the
 * configuration (jobreq.c), the batch job, its agent's enrollment, the route
 * once the tunnel is up, and the attribution outbox for community accounts.
 * Uses proxy/ (routes), ident/ (credentials), core/ and scheduler/.
 */
#ifndef NB_SESS_H
#define NB_SESS_H

#include "daemon/proxy/proxy.h"

/*
 * jobreq.c: a user's spawn options (JupyterHub-style user_options) checked
 * against clusters: (gateway policy; the batch script is scheduler/template.c)
 */
struct json_t;
struct template_vars;
struct jobreq {
	char		*user;		/* gateway user name */
	char		*server;	/* named server, "" for the default one */
	int64_t		 session;	/* set by the session manager; 0 until then */
	char		*cluster;
	char		*queue;
	int		 walltime;	/* seconds */
	int		 cores;
	size_t		 memory;	/* bytes, a whole number of MiB */
	int		 gpus;
	char		*container;
	char		*account;	/* "" for the scheduler's default */
	char		*app;		/* "jupyter" or one of apps: */
	char		*geometry;	/* desktop: "WxH"; else "" */
};
/* What the session manager adds to a job's script (all may be ""). */
struct jobreq_env {
	const char	*gateway;	/* host:port the agent dials */
	const char	*hostkey_fp;	/* gateway host key, "SHA256:..." */
	const char	*base_url;	/* notebook base URL, e.g. /user/alice/ */
	const char	*route;		/* "alice" or "alice/lab" */
	const char	*enroll;	/* one-time enrollment secret (in the script only) */
	const struct config_app *app;	/* the request's app; NULL: jupyter */
};
/*
 * jobreq_from_options() returns 0 and an owned request (jobreq_free()), or
 * -1 with *field (the option at fault, e.g. "walltime") and *cause (a
 * sentence for the user that starts with that field) for the caller to free.
 * user_options may be NULL (all defaults).
 */
int		 jobreq_from_options(const struct config *, const char *,
		     const char *, struct json_t *, struct jobreq **, char **, char **);
void		 jobreq_free(struct jobreq *);
int		 jobreq_parse_walltime(const char *, int *);
void		 jobreq_fmt_duration(char *, size_t, long long);
struct template_vars *jobreq_template_vars(const struct jobreq *,
		     const struct config_cluster *, const struct jobreq_env *,
		     char **);
char		*jobreq_template_path(const struct jobreq *,
		     const struct config_cluster *);
const struct config_app *jobreq_app(const struct config *, const struct jobreq *);
void		 jobreq_app_from_options(struct jobreq *, const char *);
void		 jobreq_walltime_signal(struct template_vars *, int, int);


/*
 * session*.c: notebook sessions: start -> batch job -> agent -> route
 * (session.c the table and its states, session-start.c, session-track.c,
 * session-cluster.c, session-restore.c, session-json.c)
 */
enum session_state {
	SESSION_REQUESTED,	/* recorded; the job is being prepared */
	SESSION_SUBMITTED,	/* the scheduler has the job */
	SESSION_QUEUED,		/* pending in its queue */
	SESSION_STARTING,	/* the job runs; the notebook is not up yet */
	SESSION_RUNNING,	/* the agent's tunnel is up */
	SESSION_STOPPING,	/* cancel sent */
	SESSION_ENDED,
	SESSION_UNKNOWN,	/* the scheduler cannot be asked */
	SESSION_NSTATES
};
struct session;
#define SESSION_AGE_BUCKETS	6	/* running sessions by last activity */
extern const int session_age_bounds[SESSION_AGE_BUCKETS];	/* s; last: +Inf */
struct session_counts {
	unsigned long	 by_state[SESSION_NSTATES];
	unsigned long	 kernels, kernels_busy;	/* the agents' last reports */
	unsigned long	 reporting;	/* running sessions whose agent reports */
	unsigned long	 by_age[SESSION_AGE_BUCKETS];	/* cumulative, le */
	long long	 age_sum;	/* s, over them */
};
struct json_t;
int		 session_init(char **);
int		 session_check_templates(const struct config *, char **);
void		 session_reload(const struct config *);
/* charging: user: bridges for a new identity; the accounts one may charge. */
void		 session_credential(const struct cred *);
const char *const *session_accounts(const char *, const char *);
struct sched_queue;
const struct sched_queue *session_queue_state(const char *, const char *);
void		 session_shutdown(void);
const char	*session_state_name(enum session_state);
struct session	*session_start(const char *, const char *, const char *,
		     struct json_t *, enum result_kind *, char **, char **);
enum result_kind session_stop(const char *, const char *, const char *, int *,
		     char **);
/* session-start.c: an ended server started again alike; the form's last choices */
struct session	*session_relaunch(const char *, const char *, const char *,
		     enum result_kind *, char **, char **);
struct json_t	*session_last_choices(const char *, const char *);
/* session-extend.c: a running job's walltime lengthened (clusters.NAME.extend) */
typedef void	(*session_extend_cb)(enum result_kind, const char *, int, void *);
enum result_kind session_extend(const char *, const char *, const char *,
		     session_extend_cb, void *, char **);
/* session-continue.c: the same options ahead in a successor job (sessions.continue) */
enum result_kind session_continue(const char *, const char *, const char *, char **);
int		 session_continue_switch(struct route *, char **);
const struct session *session_find(const char *, const char *);
const struct session *session_by_id(long long);
void		 session_foreach(void (*)(const struct session *, void *), void *);
long long	 session_id(const struct session *);
void		 session_times(const struct session *, double *, double *, double *,
		     double *);
void		 session_cluster_stats(void (*)(const char *, unsigned long long,
		     unsigned long long, double, size_t, void *), void *);
const char	*session_user(const struct session *);
struct sched;
struct sched	*session_cluster_sched(const char *);
typedef void	(*session_watch_cb)(const struct session *, void *);
void		 session_watch(session_watch_cb, void *);
void		 session_unwatch(session_watch_cb, void *);
const char	*session_server(const struct session *);
enum session_state session_state(const struct session *);
struct json_t	*session_json(const struct session *, int);
struct json_t	*session_time_json(double);
const struct session_counts *session_counts(void);
void		 session_orphan_sweep(void);
void		 session_enrolled(struct route *, const char *);
struct sched;
int		 session_enroll_target(struct route *, struct sched **, const char **,
		     const struct config_cluster **);
void		 session_enroll_conflict(struct route *, const char *, const char *,
		     const char *);
void		 session_tunnel_up(struct route *, const char *);
void		 session_tunnel_down(struct route *, const char *);
void		 session_agent_exit(struct route *, const char *);
struct activity;
void		 session_activity(struct route *, const struct activity *);
time_t		 session_last_activity(const struct session *);

/* enroll.c: an enrolling agent checked against its session's job */
int		 enroll_check(struct route *, const struct sshd_enroll *,
		     const unsigned char [32], int, char **);
void		 enroll_gone(void *);
void		 enroll_shutdown(void);

/*
 * outbox.c: community-account jobs recorded for attribution, and POSTed to
 * accounting.endpoint (daemon/ATTRIBUTION.md) with retries.
 */
struct outbox_stats {
	unsigned long long	 pending;	/* rows not yet delivered */
	unsigned long long	 delivered;	/* rows the endpoint took (2xx) */
	unsigned long long	 rejected;	/* rows it refused (4xx) */
	unsigned long long	 failures;	/* failed attempts since start */
};
struct jobreq;
int		 outbox_init(struct event_base *, const struct config *, char **);
void		 outbox_reload(const struct config *);
void		 outbox_shutdown(void);
void		 outbox_record(long long, const char *, const struct jobreq *,
		     const char *);
const struct outbox_stats *outbox_stats(void);

#endif
