/*
 * backend.h: the scheduler bridge's execution half, grouped by file:
 * child processes off the loop, command transports (local or SSH), the
 * scheduler backends (argv builders + output parsers) and batched tracking.
 * (To be merged into scheduler.h.)
 */
#ifndef NB_BACKEND_H
#define NB_BACKEND_H

#include <sys/types.h>

#include <stddef.h>
#include <time.h>

struct event_base;
struct evbuffer;

/* proc.c: run an argv (never a shell) in its own process group */
#define PROC_OUTPUT_MAX		(4 * 1024 * 1024)	/* default ceiling per stream */
struct proc_cred {			/* the account a child runs as (the parent is root) */
	uid_t		 uid;
	gid_t		 gid;
	const gid_t	*groups;
	size_t		 ngroups;
};
/* Streaming: called after each read; drain what is used (out, err), leave the rest. */
typedef void (*proc_stream_cb)(struct evbuffer *, struct evbuffer *, void *);
struct proc_spec {
	const char *const *argv;	/* argv[0]: a path, or a name looked up in env's PATH */
	const char *const *env;		/* "NAME=value" list, NULL-terminated: all the child gets */
	const char	*input;		/* bytes written to stdin, then EOF (may be NULL) */
	size_t		 inlen;
	int		 timeout;	/* ms; 0: none. TERM to the group, KILL 2 s later */
	size_t		 output_max;	/* per stream; 0: PROC_OUTPUT_MAX */
	const char	*dir;		/* working directory; NULL: "/" */
	const struct proc_cred *cred;	/* NULL: the parent's own account */
	proc_stream_cb	 on_read;	/* set: a long-lived child fed by proc_write() */
};
struct proc_result {
	int		 exited;	/* 1: status is the exit status */
	int		 status;
	int		 signal;	/* killing signal, or 0 */
	int		 timed_out;
	int		 overflow;	/* a stream passed its ceiling (the group was killed) */
	struct evbuffer	*out;		/* borrowed for the callback only */
	struct evbuffer	*err;
};
struct proc;
typedef void (*proc_done_cb)(const struct proc_result *, void *);
/* Starts the child; the callback runs once, from the loop. NULL and *cause on failure. */
struct proc	*proc_run(struct event_base *, const struct proc_spec *, proc_done_cb,
		     void *, char **);
/* Streaming only: queues bytes for stdin; -1 if stdin is closed. */
int		 proc_write(struct proc *, const void *, size_t);
/* Kills the group (KILL) and frees; the callback will not run. NULL is a no-op. */
void		 proc_cancel(struct proc *);
/* Number of children started and not yet reaped (for tests and shutdown). */
int		 proc_running(void);

/* transport.c: run a scheduler command locally or on a login node over SSH */
enum transport_kind { TRANSPORT_LOCAL, TRANSPORT_SSH, TRANSPORT_HTTP };
/*
 * HTTP: argv is {METHOD, API, PATH[#FRAGMENT]}, stdin the body; the caller's
 * client sends it (adding its URL, version and credentials) and answers
 * once, from the loop: the HTTP status (0 and error: none), the body. The
 * result's status is the HTTP status, out the body, err the fragment (never sent).
 */
typedef void (*transport_http_cb)(long, const char *, const char *, size_t, void *);
struct transport_http {
	void	*(*request)(void *, const char *, const char *, const char *, const char *,
		    size_t, int, transport_http_cb, void *, char **);	/* NULL and *cause */
	void	 (*cancel)(void *);	/* a request not yet answered; no callback after */
	void	*ctx;
};
struct transport_config {
	enum transport_kind kind;
	const char	*name;		/* for logs, e.g. the cluster name */
	const char	*path;		/* PATH for commands; NULL: a standard one */
	const char	*slurm_conf;	/* LOCAL: SLURM_CONF for children, or NULL */
	const char *const *env;		/* "NAME=value" for every command (PATH= replaces path), */
	size_t		 nenv;		/* locally in the environment, over SSH through env(1) */
	const char	*workdir;	/* LOCAL: working directory (job output lands here); NULL: / */
	const char	*helper;	/* LOCAL: commands of this program go to its one "serve" child */
	const struct transport_http *http;	/* HTTP: the client (borrowed, outlives us) */
	const char	*host;		/* SSH: login host, port, user (LOCAL: run as; NULL: own) */
	int		 port;
	const char	*user;
	const char	*key_file;	/* private key; KEY-cert.pub beside it is used if present */
	const char	*key_text;	/* or the private key itself (OpenSSH text), kept in memory */
	const char	*cert_line;	/* with key_text: its certificate "type base64 [comment]" */
	const char	*hostkey;	/* pinned "type base64 [comment]" OpenSSH public key line */
	int		 connect_timeout; /* seconds; 0: 10 */
};
struct transport_result {
	int		 status;	/* exit status; -1: none (see error / timed_out) */
	int		 timed_out;
	const char	*error;		/* could not run it at all (transport down, ...), or NULL */
	const char	*out;		/* NUL-terminated, borrowed for the callback */
	size_t		 outlen;
	const char	*err;
	size_t		 errlen;
};
struct transport;
struct transport_req;
typedef void (*transport_cb)(const struct transport_result *, void *);
struct transport *transport_new(struct event_base *, const struct transport_config *, char **);
/* Cancels every outstanding request (no callbacks) and frees. NULL is a no-op. */
void		 transport_free(struct transport *);
/* Queues argv (+ stdin bytes); timeout in ms. The callback runs once, from the loop. */
struct transport_req *transport_run(struct transport *, const char *const *, const char *,
		     size_t, int, transport_cb, void *, char **);
void		 transport_cancel(struct transport_req *);	/* no callback afterwards */
enum transport_kind transport_kind(const struct transport *);
unsigned long long transport_helper_started(const struct transport *);
void		 transport_rekey(struct transport *, const char *, const char *);
char		*transport_quote(const char *);		/* one shell word; caller frees */
char		*transport_join(const char *const *);	/* argv as a quoted command line */

/* helper.c: one long-lived "HELPER serve" child answering commands as JSON lines */
struct helper;
struct helper_req;
typedef void (*helper_cb)(int, int, const char *, struct evbuffer *, struct evbuffer *,
		     void *);	/* status (-1: none), timed out, error, stdout, stderr */
/* @spec: env, cred, dir (borrowed; they must outlive the helper); argv and input unused. */
struct helper	*helper_new(struct event_base *, const char *, const struct proc_spec *);
void		 helper_free(struct helper *);	/* no callbacks; NULL is a no-op */
struct helper_req *helper_run(struct helper *, const char *const *, const char *, size_t, int,
		     helper_cb, void *, char **);
void		 helper_cancel(struct helper_req *);	/* no callback afterwards */
unsigned long long helper_started(const struct helper *);	/* children started */

/* slurmjwt.c: SLURM auth/jwt tokens (HS256, claims exp/iat/sun), for slurmrestd; caller frees */
char		*slurmjwt_token(const unsigned char *, size_t, const char *, time_t, int, char **);

/* sched.c: common status, argv vectors, the backend table, requests and tracking */
enum sched_state { SCHED_UNKNOWN = 0, SCHED_PENDING, SCHED_RUNNING, SCHED_ENDED };
enum sched_end {
	SCHED_END_NONE = 0,	/* not ended */
	SCHED_END_COMPLETED,
	SCHED_END_FAILED,
	SCHED_END_CANCELLED,
	SCHED_END_TIMEOUT,
	SCHED_END_NODE_FAIL,
	SCHED_END_OUT_OF_MEMORY,
	SCHED_END_UNKNOWN
};
struct sched_status {
	enum sched_state state;
	enum sched_end	 end;
	int		 exit_code;	/* ENDED: exit status, -1 unknown */
	int		 signal;	/* ENDED: killing signal, 0 none */
	time_t		 start;		/* PENDING: estimate, RUNNING: start; 0 unknown */
	int		 limit;		/* time limit the scheduler holds, s; 0 unknown/none */
	char		*reason;	/* pending reason / scheduler comment / error, or NULL */
	char		*node;		/* RUNNING/ENDED: node list, or NULL */
	char		*raw;		/* the scheduler's own state word, or NULL */
};
void		 sched_status_clear(struct sched_status *);	/* frees strings, zeroes */
void		 sched_status_copy(struct sched_status *, const struct sched_status *);
int		 sched_status_equal(const struct sched_status *, const struct sched_status *);
const char	*sched_state_name(enum sched_state);
const char	*sched_end_name(enum sched_end);

/* A built command: owned argv, NULL-terminated. */
struct sched_argv {
	char		**v;
	size_t		  n;
};
void		 sched_argv_add(struct sched_argv *, const char *);
void		 sched_argv_addf(struct sched_argv *, const char *, ...)
		     __attribute__((__format__(__printf__, 2, 3)));
void		 sched_argv_clear(struct sched_argv *);
/* What a command produced, as a parser sees it. */
struct sched_output {
	int		 status;	/* exit status (>= 0) */
	const char	*out;
	size_t		 outlen;
	const char	*err;
	size_t		 errlen;
};
/* One job of a batched query; parsers set found and st for ids they see. */
struct sched_job {
	const char	*id;
	int		 found;
	struct sched_status st;
};
struct sched_queue {
	char		*name;
	int		 available;	/* partition/queue up */
	int		 is_default;
	int		 max_walltime;	/* seconds; -1 unlimited/unknown */
	int		 nodes;
	int		 cpus_idle;
	int		 cpus_total;
};
void		 sched_queues_free(struct sched_queue *, size_t);
void		 sched_strings_free(char **, size_t);
/* One job of a listing (sched_list): strings owned, freed by sched_listed_free(). */
struct sched_listed {
	char		*id;		/* job id as the scheduler prints it */
	char		*name;		/* job name, or NULL */
	char		*comment;	/* job comment (SLURM), or NULL */
	char		*user;		/* owner, or NULL */
	struct sched_status st;		/* PENDING / RUNNING (ENDED jobs may be left out) */
};
void		 sched_listed_free(struct sched_listed *, size_t);
/* One job of an accounting listing (sched_usage): strings owned, freed by sched_used_free(). */
struct sched_used {
	char		*id;		/* job id as the scheduler prints it */
	char		*user;		/* owner, or NULL */
	char		*account;	/* charged account, or NULL */
	long long	 cpus;		/* cores allocated */
	long long	 secs;		/* seconds it ran */
	char		*comment;	/* job comment as given, "" if none */
};
void		 sched_used_free(struct sched_used *, size_t);

#define SCHED_BATCH_MAX	4096	/* job ids per query command (~40 KB of argv) */
/*
 * A backend. Builders fill an argv and return 0, or -1 with *cause (bad id, ...).
 * Parsers read one command's output and return 0, or -1 with *cause (the
 * scheduler's own words where it gave any). NULL members are unsupported.
 */
struct sched_ops {
	const char	*name;
	/* optional: the request body from the script (slurmrestd: JSON), sent instead of it */
	int		(*submit_body)(const char *, size_t, char **, size_t *, char **);
	/* submit: script on stdin, or in file (path non-NULL) when submit_needs_file */
	int		  submit_needs_file;
	int		(*submit_argv)(struct sched_argv *, const char *, char **);
	int		(*submit_parse)(const struct sched_output *, char **, char **);
	int		(*query_argv)(struct sched_argv *, const char *const *, size_t, char **);
	int		(*query_parse)(const struct sched_output *, struct sched_job *, size_t,
			    char **);
	/* accounting / history for jobs the query no longer knows (optional) */
	int		(*history_argv)(struct sched_argv *, const char *const *, size_t,
			    char **);
	int		(*history_parse)(const struct sched_output *, struct sched_job *,
			    size_t, char **);
	int		(*cancel_argv)(struct sched_argv *, const char *, char **);
	int		(*cancel_parse)(const struct sched_output *, const char *, char **);
	int		(*queues_argv)(struct sched_argv *, char **);
	int		(*queues_parse)(const struct sched_output *, struct sched_queue **,
			    size_t *, char **);
	int		(*accounts_argv)(struct sched_argv *, const char *, char **);
	int		(*accounts_parse)(const struct sched_output *, char ***, size_t *,
			    char **);
	int		(*estimate_argv)(struct sched_argv *, const char *, char **);
	int		(*estimate_parse)(const struct sched_output *, const char *, time_t *,
			    char **);
	/*
	 * The unfinished jobs of one user (NULL: the submitting account's own).
	 * PBS cannot filter by user in `qstat -f`: it lists every job qstat shows,
	 * user set from Job_Owner; sched_list() drops other users' jobs when given
	 * a user, and with NULL the caller filters on user.
	 */
	int		(*list_argv)(struct sched_argv *, const char *, char **);
	int		(*list_parse)(const struct sched_output *, struct sched_listed **,
			    size_t *, char **);
	/*
	 * The hosts a running job runs on, for binding an agent to its job:
	 * from the job id and its node list as the query gave it, the names
	 * or addresses the gateway resolves (SLURM: each node's NodeAddr).
	 */
	int		(*nodes_argv)(struct sched_argv *, const char *, const char *,
			    char **);
	int		(*nodes_parse)(const struct sched_output *, char ***, size_t *,
			    char **);
	/*
	 * Accounting (optional): every job that ran since a local time
	 * (YYYY-MM-DDTHH:MM:SS) with its cores and seconds, for usage reports.
	 * Malformed lines are skipped; a failed command is a cause.
	 */
	int		(*usage_argv)(struct sched_argv *, const char *, char **);
	int		(*usage_parse)(const struct sched_output *, struct sched_used **,
			    size_t *, char **);
	/*
	 * A running job's new time limit in seconds (optional): run as the
	 * login user, whom the scheduler may refuse (SLURM: only operators
	 * and administrators may lengthen a job); the cause is its own words.
	 */
	int		(*extend_argv)(struct sched_argv *, const char *, int, char **);
	int		(*extend_parse)(const struct sched_output *, const char *, char **);
};
const struct sched_ops *sched_find(const char *);	/* "slurm", "pbs", "gridengine"; NULL if none */
int		 sched_id_valid(const char *);		/* [0-9A-Za-z._[]-], 1-64 */
int		 sched_name_valid(const char *);	/* user/account: [A-Za-z0-9_.-], 1-64 */
int		 sched_id_match(const char *, const char *);	/* "123" ~ "123.server" */
int		 sched_nodelist_valid(const char *);	/* hostlist: [A-Za-z0-9._,[]-], 1-4096 */
/* Adds host @h (owned; freed if invalid or already there) to an owned list. */
void		 sched_hosts_add(char ***, size_t *, char *);
int		 sched_parse_time(const char *, time_t *);	/* 2024-01-02T03:04:05, local */
int		 sched_parse_duration(const char *, int *);	/* [D-]HH:MM:SS, MM:SS, MM */
/* Next line of buf (without its \n); NULL at the end. */
const char	*sched_next_line(const char **, const char *, size_t *);
/* Backend helpers: "CMD ID" (checked id); a failed command's cause (stderr, else stdout). */
int		 sched_argv_id(struct sched_argv *, const char *, const char *, char **);
char		*sched_output_cause(const struct sched_output *, const char *);
int		 sched_output_ok(const struct sched_output *, const char *, char **);
/* Splits one line at sep into at most n fields (owned copies); returns the count. */
size_t		 sched_split(const char *, size_t, int, char **, size_t);

/* A cluster's bridge: one backend over one transport. */
struct sched;
struct sched_req;
typedef void (*sched_submit_cb)(const char *, const char *, void *);	/* id or cause */
typedef void (*sched_done_cb)(const char *, void *);			/* NULL or cause */
typedef void (*sched_query_cb)(struct sched_job *, size_t, const char *, void *);
typedef void (*sched_queues_cb)(const struct sched_queue *, size_t, const char *, void *);
typedef void (*sched_strings_cb)(char *const *, size_t, const char *, void *);
typedef void (*sched_list_cb)(const struct sched_listed *, size_t, const char *,
		     void *);						/* jobs, or cause */
typedef void (*sched_usage_cb)(const struct sched_used *, size_t, const char *,
		     void *);						/* jobs, or cause */
const char	*sched_name(struct sched *);
struct event_base *sched_base(struct sched *);
struct sched	*sched_new(struct event_base *, const struct sched_ops *, struct transport *,
		     const char *);
void		 sched_free(struct sched *);	/* cancels requests without callbacks */
const struct sched_ops *sched_ops_of(const struct sched *);
unsigned long long sched_calls(const struct sched *);	/* scheduler commands run */
unsigned long long sched_errors(const struct sched *);	/* could not run, timed out */
double		 sched_seconds(const struct sched *);	/* time in commands, summed */
void		 sched_set_timeout(struct sched *, int);	/* ms per command; default 30 s */
struct sched_req *sched_submit(struct sched *, const char *, size_t, sched_submit_cb, void *);
struct sched_req *sched_cancel(struct sched *, const char *, sched_done_cb, void *);
struct sched_req *sched_extend(struct sched *, const char *, int, sched_done_cb, void *);
/* One batched query (+ at most one history command); statuses are UNKNOWN on failure. */
struct sched_req *sched_query(struct sched *, const char *const *, size_t, sched_query_cb,
		     void *);
struct sched_req *sched_queues(struct sched *, sched_queues_cb, void *);
struct sched_req *sched_accounts(struct sched *, const char *, sched_strings_cb, void *);
/* Unfinished jobs of a user (NULL: see list_argv); jobs borrowed for the callback. */
struct sched_req *sched_list(struct sched *, const char *, sched_list_cb, void *);
/* The hosts (names or addresses) of running job @id whose node list is @nodes. */
struct sched_req *sched_nodes(struct sched *, const char *, const char *, sched_strings_cb,
		     void *);
/*
 * Jobs that ran since @since (YYYY-MM-DDTHH:MM:SS, local) within @timeout ms;
 * jobs borrowed for the callback. A cause names the command ("sacct: timed out").
 */
struct sched_req *sched_usage(struct sched *, const char *, int, sched_usage_cb, void *);
void		 sched_req_cancel(struct sched_req *);	/* no callback afterwards */

/* Tracking: every job of a cluster polled with one batched query per interval. */
struct sched_tracker;
typedef void (*sched_change_cb)(const char *, const struct sched_status *,
		     const struct sched_status *, void *);	/* id, old, new */
struct sched_tracker *sched_tracker_new(struct sched *, int, int, sched_change_cb, void *);
void		 sched_tracker_free(struct sched_tracker *);
int		 sched_tracker_add(struct sched_tracker *, const char *, char **);
void		 sched_tracker_remove(struct sched_tracker *, const char *);
const struct sched_status *sched_tracker_get(const struct sched_tracker *, const char *);
void		 sched_tracker_poll_now(struct sched_tracker *);
unsigned long long sched_tracker_polls(const struct sched_tracker *);
size_t		 sched_tracker_active(const struct sched_tracker *);	/* not yet ENDED */

/* sched-slurm.c, sched-pbs.c */
extern const struct sched_ops sched_slurm_ops;
extern const struct sched_ops sched_pbs_ops;
extern const struct sched_ops sched_slurmlib_ops;	/* sched-slurmlib.c: via nbgate-slurmlib */
extern const struct sched_ops sched_gridengine_ops;	/* sched-gridengine.c */
extern const struct sched_ops sched_slurmrest_ops;	/* sched-slurmrest.c: HTTP transport */
const char	*sched_slurmlib_path(void);	/* the helper the slurm-lib backend runs */
/* State words to the common status (exported for the mapping tests). */
void		 sched_slurm_map(const char *, struct sched_status *);
void		 sched_pbs_map(const char *, struct sched_status *);
void		 sched_gridengine_map(const char *, struct sched_status *);

#endif
