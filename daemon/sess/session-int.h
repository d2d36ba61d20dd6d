/*
 * session-int.h: private to session*.c, the pieces of the session manager
 * (never included outside daemon/sess/; sess.h is the room's interface).
 * The structs, the two lists, and the calls one piece makes into another.
 */
#ifndef NB_SESSION_INT_H
#define NB_SESSION_INT_H

#include <sys/queue.h>

#include <time.h>

#include "daemon/sess/sess.h"
#include "scheduler/scheduler.h"
#include "scheduler/backend.h"

#define SESS_CMD_TIMEOUT	30000	/* ms for mkdir/tail on the cluster */
#define SESS_REASON_MAX		4096	/* bytes of a transition's cause */

/* One cluster's scheduler bridge: a transport, a backend, a tracker. */
struct cluster {
	char			*name;
	struct transport	*tr;
	struct sched		*sched;
	struct sched_tracker	*trk;
	struct sched_req	*orphans;	/* sweep in flight */
	/* charging: user: a bridge per account, logging in with a minted certificate */
	char			*account;	/* NULL: the cluster's own bridge */
	time_t			 cert_until;	/* its certificate's end */
	char			**accounts;	/* allocations it may charge; NULL: not known */
	size_t			 naccounts;
	struct sched_req	*acct_req;
	time_t			 idle_since;	/* no active session uses it */
	/* what the scheduler says of its queues (sinfo), for the spawn form */
	struct sched_queue	*queues;
	size_t			 nqueues;
	time_t			 queues_asked;
	struct sched_req	*queues_req;
	struct sess_rest	*rest;		/* transport: slurmrestd: its HTTP client */
	TAILQ_ENTRY(cluster)	 entry;
};

struct session {
	long long		 id;
	char			*user;
	char			*server;	/* "" for the default server */
	char			*route;		/* "alice" or "alice/lab" */
	struct jobreq		*req;
	char			*options;	/* user_options as JSON text */
	char			*actor;		/* who started it */
	enum session_state	 state;
	enum session_state	 prior;		/* what unknown interrupted */
	char			*reason;	/* cause of the last transition */
	char			*job;
	char			*job_dir;
	char			*run_as;	/* charging: user: the account it runs as */
	char			*node;
	char			*error_output;	/* tail of job.err, when it failed */
	double			 created, started, ready, ended;
	time_t			 unknown_since;
	struct sched_status	 st;		/* the scheduler's last word */
	char			*agent_said;	/* why the agent left (protocol 3) */
	char			*claimed_job;	/* enrolled before sbatch answered */
	char			*stop_cause;	/* why we cancel, once we do */
	int			 cancels;
	time_t			 last_cancel;
	int			 warned;	/* walltime warning given (for this end) */
	time_t			 extending;	/* an extension is on its way since; 0 none */
	int			 extend_refused;	/* the scheduler said no (continue instead) */
	int			 tunnel_up;
	/* the agent's reports (protocol 4); compute_last 0: none yet */
	time_t			 compute_last;	/* the notebook or job last did something */
	int			 kernels, kernels_busy, terminals;
	long long		 cpu_ms;
	int			 adopting;	/* reloaded without a job id: looking */
	/* continue in a new job (session-continue.c): the successor, until it takes over */
	int			 next_on;	/* a successor is asked for (until the switch) */
	char			*next_job;	/* its job id; NULL: being submitted */
	char			*next_dir;	/* its job directory */
	char			*next_actor;	/* who asked for it */
	struct sched_status	 next_st;	/* the scheduler's last word on it */
	struct sched_req	*next_sreq;
	struct transport_req	*next_treq;
	char			*prev_job;	/* the job the session continued from */
	int			 prev_cancel;	/* its cancel not confirmed yet (kept) */
	time_t			 prev_cancel_at;	/* last sent */
	int			 prev_cancels;	/* sent so far */
	int			 continued;	/* successors so far (the directory's suffix) */
	time_t			 next_asked;	/* sessions.continue: auto last tried */
	struct cluster		*cl;
	struct transport_req	*treq;
	struct sched_req	*sreq;
	struct event		*kick;
	TAILQ_ENTRY(session)	 entry;
};

TAILQ_HEAD(sess_list, session);
TAILQ_HEAD(sess_clusters, cluster);
extern struct sess_list		 sess_list;	/* session.c */
extern struct sess_clusters	 sess_clusters;	/* session-cluster.c */

/* session.c: the table and its state changes */
void		 sess_tag(const struct session *);
int		 sess_state_parse(const char *, enum session_state *);
double		 sess_now(void);
char		*sess_route_name(const char *, const char *);
int		 sess_active(const struct session *);
void		 sess_store_failed(const struct session *, const char *, char *);
void		 sess_save(struct session *);
void		 sess_journal(struct session *, const char *, const char *);
void		 sess_notify(const struct session *);
void		 sess_set(struct session *, enum session_state, const char *);
struct session	*sess_alloc(void);
void		 sess_route_app(struct route *, const struct jobreq *);
void		 sess_free(struct session *);
void		 sess_finish(struct session *, const char *);
void		 sess_end(struct session *, const char *, int);
void		 sess_cancel(struct session *, const char *);
void		 sess_cancel_send(struct session *);
time_t		 sess_last_use(const struct session *, int);
double		 sess_ends(const struct session *);
struct session	*sess_by_id(long long);
struct session	*sess_find_route(const char *, int);

/* session-rest.c: slurmrestd over core/httpc.c, for a cluster's HTTP transport */
struct sess_rest;
struct sess_rest *sess_rest_new(const struct config_cluster *, char **);
const struct transport_http *sess_rest_http(struct sess_rest *);
void		 sess_rest_free(struct sess_rest *);

/* session-cluster.c: scheduler bridges, per cluster or per account */
struct config_cluster;
struct cred;
struct cluster	*sess_cluster(const char *);
void		 sess_clusters_sync(const struct config *);
void		 sess_clusters_free(void);
struct cluster	*sess_bridge(const struct config_cluster *, const struct cred *,
		     char **);
void		 sess_bridges_tend(time_t);

/* session-start.c: a job's batch script (with its one-time secret) */
char		*sess_script(struct session *, const char *, const char *, char **);

/* session-continue.c: the successor job (sessions.continue) */
enum result_kind sess_continue(struct session *, const char *, char **);
int		 sess_continue_tracked(struct session *, const char *,
		     const struct sched_status *);
int		 sess_continue_old_ended(struct session *, const char *);
void		 sess_continue_abandon(struct session *, const char *);
void		 sess_continue_tend(struct session *, time_t);
void		 sess_continue_restore(struct session *);
void		 sess_continue_free(struct session *);

/* session-track.c: following jobs, housekeeping, orphans */
void		 sess_status_keep(struct sched_status *, const struct sched_status *);
void		 sess_tracked(const char *, const struct sched_status *,
		     const struct sched_status *, void *);
long long	 sess_comment_session(const char *);
void		 sess_track_start(void);
void		 sess_track_stop(void);

#endif
