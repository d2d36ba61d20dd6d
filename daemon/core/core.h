/*
 * core.h: the bottom room of nbgated: the configuration, the SQLite store,
 * the libcurl client, TLS contexts and the one global state. Nothing here
 * knows of users, browsers or sessions; every other room may use it.
 */
#ifndef NB_CORE_H
#define NB_CORE_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include <event2/event.h>
#include <event2/buffer.h>

#include "common/common.h"

/* config.c (cfg-*.c: the schema): the YAML configuration (see etc/nbgated.yaml) */
enum config_scheduler { CONFIG_SLURM, CONFIG_PBS, CONFIG_GRIDENGINE };
enum config_transport { CONFIG_LOCAL, CONFIG_SSH, CONFIG_SLURMRESTD };
enum config_slurm_api { CONFIG_SLURM_CLI, CONFIG_SLURM_LIBSLURM };
enum config_charging { CONFIG_COMMUNITY, CONFIG_USER };
enum config_runtime { CONFIG_SINGULARITY, CONFIG_APPTAINER, CONFIG_NO_RUNTIME };
/* containers.NAME.notebook: which Jupyter application the image runs. */
enum config_notebook { CONFIG_NB_CLASSIC, CONFIG_NB_SERVER, CONFIG_NB_LAB };
enum config_orphans { CONFIG_ORPHANS_REPORT, CONFIG_ORPHANS_CANCEL };
/* What counts as use for sessions.idle_timeout. */
enum config_idle_counts { CONFIG_IDLE_EITHER, CONFIG_IDLE_BROWSER, CONFIG_IDLE_COMPUTE };
enum config_continue { CONFIG_CONTINUE_OFF, CONFIG_CONTINUE_OFFER, CONFIG_CONTINUE_AUTO };
enum config_hsts { CONFIG_HSTS_AUTO, CONFIG_HSTS_ON, CONFIG_HSTS_OFF };
/* apps.NAME.type: what the agent starts; listen: where; auth: what nbgated adds. */
enum config_app_type { CONFIG_APP_JUPYTER, CONFIG_APP_DESKTOP, CONFIG_APP_WEB };
enum config_app_listen { CONFIG_APP_UNIX, CONFIG_APP_LOOPBACK, CONFIG_APP_LOOPBACK_SHARED };
enum config_app_auth { CONFIG_APP_AUTH_TOKEN, CONFIG_APP_AUTH_NONE };

/*
 * clusters: a map of clusters, each with maps of queues and containers.
 * Every element starts with its name and the line it was named on. Optional
 * strings are "" when unset, optional paths and host:port NULL. Limits are
 * checked min <= default <= max at load time.
 */
struct config_queue {
	char		*name;		/* partition / PBS queue: [A-Za-z0-9_.-] */
	size_t		 line;
	char		*description;
	int		 walltime_min, walltime_def, walltime_max;	/* seconds */
	int		 cores_min, cores_def, cores_max;
	size_t		 memory_min, memory_def, memory_max;	/* bytes */
	int		 gpus_min, gpus_def, gpus_max;
	char		*reservation;	/* "" for none */
	char		*qos;		/* "" for none */
	char		*pe;		/* Grid Engine parallel environment for cores */
	char		*template;	/* NULL: the cluster's */
};
struct config_container {
	char		*name;
	size_t		 line;
	char		*image;		/* path or URI; "" with runtime none */
	int		 runtime;	/* enum config_runtime */
	char		*description;
	int		 notebook;	/* enum config_notebook */
	char		**notebook_command;	/* argv, or none: the flavour's */
	size_t		 nnotebook_command;
};
/*
 * apps: { NAME: {...} }: what a server runs besides the built-in "jupyter"
 * (cfg-app.c). Empty clusters/queues/containers lists mean all of them.
 */
struct config_app {
	char		*name;		/* the form's and the API's "app" */
	size_t		 line;
	int		 type;		/* enum config_app_type */
	char		*description;
	char		**command;	/* argv; none: the type's own */
	size_t		 ncommand;
	int		 listen;	/* enum config_app_listen */
	int		 auth;		/* enum config_app_auth */
	int		 strip_prefix;	/* /user/NAME/[SERVER/] removed before it */
	char		*geometry;	/* desktop: default "WxH" */
	char		**clusters;
	size_t		 nclusters;
	char		**queues;
	size_t		 nqueues;
	char		**containers;
	size_t		 ncontainers;
};
/* auth.oidc.admins: the provider's subject an administrator signs in with. */
struct config_oidc_admin {
	char		*name;		/* one of auth.admins */
	size_t		 line;
	char		*sub;		/* the ID token's sub claim */
};
struct config_cluster {
	char		*name;		/* [a-z0-9_-] */
	size_t		 line;
	int		 scheduler;	/* enum config_scheduler */
	int		 transport;	/* enum config_transport */
	int		 slurm_api;	/* enum config_slurm_api: how SLURM is asked */
	char		*login_host;	/* ssh: "host:port" */
	char		*login_host_key;	/* ssh: pinned "type base64" */
	char		*login_user;	/* ssh + community; local: run commands as */
	char		*login_key;	/* ssh + community: private key path */
	char		*user_ca_key;	/* ssh + user: SSH CA key for user certificates */
	char		*slurm_conf;	/* exported as SLURM_CONF; NULL: unset */
	char		*slurmrestd_url;	/* slurmrestd: "" unless transport slurmrestd */
	char		*slurmrestd_api;	/* slurmrestd: OpenAPI version, "v0.0.38" */
	char		*slurmrestd_token_file;	/* slurmrestd: a JWT, re-read each request */
	char		*slurmrestd_jwt_key;	/* slurmrestd: or the cluster's jwt_key */
	char		*template;	/* NULL: PKGDATADIR/templates/<scheduler>.sh */
	int		 charging;	/* enum config_charging */
	char		*community_account;
	char		**accounts;	/* choices offered to users */
	size_t		 naccounts;
	int		 poll_interval;	/* seconds */
	char		*prologue;	/* trusted shell text */
	char		*epilogue;	/* trusted shell text */
	char		**extra_directives;	/* trusted, one directive each */
	size_t		 nextra_directives;
	char		*output_dir;	/* job output goes to output_dir/<session>/ */
	char		*workdir;	/* "$HOME/nbgate/{user}": each user's own 0700 dir */
	char		*agent;		/* nbgate-agent command on the compute node */
	char		*default_queue;
	struct config_queue *queues;
	size_t		 nqueues;
	char		*default_container;
	struct config_container *containers;
	size_t		 ncontainers;
	char		**binds;	/* container bind specs */
	size_t		 nbinds;
	char		*memory_complex;	/* Grid Engine: h_vmem, mem_free, ... */
	char		**environment;	/* "NAME=value" for scheduler commands */
	size_t		 nenvironment;
	char		**node_addresses;	/* addresses/CIDRs agents may enroll from */
	size_t		 nnode_addresses;	/* 0: the job's nodes' own addresses */
	int		 extend_step;	/* s a user may add to a running job; 0: none */
	int		 extend_max;	/* s a job's walltime may reach by extending */
};

struct config {
	char		*path;		/* file it came from, NULL for built-in defaults */

	char		*state_dir;	/* keys, secrets, database */
	char		*public_url;	/* how browsers reach us, e.g. https://gw.example.org:8443 */
	int		 log_level;	/* enum log_level */
	int		 log_format;	/* enum log_format */

	char		*https_listen;	/* "host:port" */
	char		*ssh_listen;	/* "host:port" */
	char		*admin_socket;	/* path of the local admin socket */
	char		*admin_group;	/* group allowed on the admin socket, NULL: owner only */

	char		*tls_cert;	/* PEM chain */
	char		*tls_key;	/* PEM key */
	int		 tls_self_signed;	/* generate cert/key if missing */
	int		 tls_hsts;	/* enum config_hsts */
	int		 tls_handshake_timeout;	/* s from accept, absolute */

	char		*ssh_host_key;
	int		 ssh_login_timeout;	/* seconds */
	int		 ssh_max_conns;
	int		 ssh_max_unauth;
	int		 ssh_max_unauth_per_addr;
	int		 ssh_keepalive;	/* seconds */

	int		 proxy_header_timeout;	/* seconds */
	int		 proxy_idle_timeout;	/* seconds */
	size_t		 proxy_max_header;	/* bytes of request head */
	size_t		 proxy_buffer;		/* bytes buffered per direction */
	int		 proxy_max_conns;	/* browser connections */
	int		 proxy_max_conns_per_addr;	/* from one client address */
	size_t		 proxy_max_body;	/* bytes of a /hub/ request body */
	char		*proxy_user_hosts;	/* "{user}.nb.example.org", "": off */
	int		 proxy_upstream_pool;	/* idle streams kept per route */
	int		 proxy_upstream_idle;	/* seconds an idle stream is kept */
	int		 proxy_http2;		/* offer h2 in ALPN */
	int		 proxy_h2_streams;	/* concurrent streams per h2 connection */
	int		 proxy_h2_resets;	/* stream resets per 10 s before GOAWAY */

	char		**admins;	/* user names with admin rights */
	size_t		 nadmins;
	char		**allowed_origins;	/* more origins of this gateway */
	size_t		 nallowed_origins;
	int		 admin_access;	/* admins may open users' notebooks */
	int		 cookie_max_age;	/* seconds */
	int		 auth_pam;	/* password login at /hub/login */
	char		*auth_pam_service;	/* /etc/pam.d/<this> */
	/* auth.oidc: OpenID Connect login; off unless oidc_issuer is set */
	char		*oidc_issuer;		/* https URL, as in the tokens' iss */
	char		*oidc_client_id;
	char		*oidc_secret_file;	/* path of the client secret */
	char		**oidc_scopes;		/* none: openid profile email */
	size_t		 noidc_scopes;
	char		*oidc_username_claim;
	char		*oidc_strip_suffix;	/* "" for none, e.g. "@example.org" */
	char		*oidc_map_file;		/* "claim-value user" lines, or NULL */
	char		*oidc_ca_file;		/* PEM bundle, NULL: system CAs */
	char		*oidc_button_label;
	struct config_oidc_admin *oidc_admins;	/* admins who may use OIDC */
	size_t		 noidc_admins;

	char		*sess_gateway;	/* host:port agents dial; NULL: hostname:ssh port */
	int		 sess_max_per_user;	/* concurrent sessions of one user */
	int		 sess_named;	/* named servers per user (0: none) */
	int		 sess_max_total;	/* concurrent sessions in all */
	int		 sess_start_timeout;	/* s from job start to tunnel up */
	int		 sess_unknown_grace;	/* s a session may stay unknown */
	int		 sess_walltime_warning;	/* s before the end: warn */
	int		 sess_walltime_signal;	/* s before the end: the job ends itself */
	int		 sess_continue;		/* enum config_continue */
	int		 sess_continue_before;	/* s before the end: auto submits */
	int		 sess_orphans;	/* enum config_orphans */
	int		 sess_orphan_interval;	/* s between orphan sweeps */
	int		 sess_idle_timeout;	/* s without use: stop; 0 off */
	int		 sess_idle_counts;	/* enum config_idle_counts */
	int		 sess_activity_interval;	/* s between the agents' reports */
	int		 sess_queued_timeout;	/* s queued: give up; 0 off */

	char		*cred_ca_dir;	/* hashed directory of trusted CAs (+ CRLs) */
	char		*cred_gridmap;	/* grid-mapfile: DN -> account */
	int		 cred_require_crl;	/* refuse if a CA has no CRL */
	char		*cred_myproxy;	/* MyProxy server "host:port", NULL: none */
	int		 cred_myproxy_lifetime;	/* s asked of MyProxy */
	int		 cred_myproxy_max;	/* logons in flight, all users */
	int		 cred_myproxy_max_user;	/* logons in flight, one user */
	int		 cred_cert_lifetime;	/* s: longest SSH certificate */
	int		 cred_from_login;	/* a login alone gets a certificate */
	int		 cred_allow_independent; /* RFC 3820 independent proxies */
	char		*acct_endpoint;	/* attribution POSTs go here; "": none */
	char		*acct_token_file;	/* bearer token; NULL: none */
	char		*acct_ca_file;	/* NULL: system CAs */
	int		 acct_timeout;	/* s per request */
	int		 acct_retry_initial;	/* s, first backoff */
	int		 acct_retry_max;	/* s, backoff ceiling */
	char		*acct_gateway_name;	/* "gateway" in each record */

	struct config_cluster *clusters;	/* in file order; first is the default */
	size_t		 nclusters;
	struct config_app *apps;	/* besides the built-in jupyter */
	size_t		 napps;
};
/* Loaders return an owned config (config_free()), or NULL and the errors,
 * one "FILE:LINE: KEY: problem" a line, in *cause (caller frees). */
struct config	*config_default(void);
struct config	*config_load(const char *, char **);
struct config	*config_load_mem(const char *, const char *, size_t, char **);
void		 config_free(struct config *);
int		 config_is_admin(const struct config *, const char *);
/* Lookups by name; borrowed pointers or NULL. */
const struct config_cluster *config_cluster_find(const struct config *, const char *);
const struct config_queue *config_queue_find(const struct config_cluster *, const char *);
const struct config_container *config_container_find(const struct config_cluster *,
		     const char *);
const char	*config_scheduler_name(int);
const char	*config_runtime_name(int);
const char	*config_notebook_name(int);
/* cfg-app.c: apps.NAME; "jupyter" is the built-in default (NULL app) */
#define CONFIG_APP_DEFAULT	"jupyter"
const struct config_app *config_app_find(const struct config *, const char *);
const char	*config_app_type_name(int);
int		 config_app_offered(const struct config_app *, const char *,
		     const char *, const char *);
int		 config_geometry_parse(const char *, int *, int *);
/* Every key: path, type, default, range, "required"; tab-separated lines. */
void		 config_keys_print(FILE *);

/*
 * state.c: nbgated's one global state: config, loop, listeners, the sshd,
 * counters. gate.c (above every room) fills it at start and on reload.
 */
struct gate_stats {
	unsigned long long	 requests;	/* proxied requests */
	unsigned long long	 up_opened;	/* streams to notebooks opened */
	unsigned long long	 up_reused;	/* taken from a route's idle pool */
	unsigned long long	 tls_full;	/* TLS handshakes done in full */
	unsigned long long	 tls_resumed;	/* and resumed (ticket or cache) */
	unsigned long long	 bytes_up;	/* browser → notebook */
	unsigned long long	 bytes_down;	/* notebook → browser */
	unsigned long long	 refused;	/* 401/403 at the proxy */
	unsigned long long	 bad_requests;	/* 400-class parse errors */
	unsigned long		 websockets;	/* open now */
	unsigned long		 conns;		/* browser connections open now */
	unsigned long long	 login_failures;	/* bad or used login links, bad tokens */
	unsigned long long	 login_reserved;	/* OIDC names refused as reserved */
	unsigned long long	 myproxy_busy;	/* MyProxy logons refused: caps, backoff */
	unsigned long long	 cred_verified;	/* X.509 credentials accepted */
	unsigned long long	 cred_refused;	/* and refused (MyProxy failures too) */
	unsigned long long	 certs_minted;	/* SSH user certificates signed */
	unsigned long long	 cross_origin;	/* cookie requests from another origin */
	unsigned long long	 admin_access;	/* admins opening users' notebooks */
	unsigned long long	 xsrf_refused;	/* hub API calls without the XSRF token */
	unsigned long long	 deadline_drops;	/* handshake or head too slow */
	unsigned long long	 addr_refused;	/* connections over the per-address cap */
	unsigned long long	 enroll_accepted;	/* agents enrolled */
	unsigned long long	 enroll_refused;	/* enrollments refused (secret, job, node) */
	unsigned long long	 enroll_conflicts;	/* one secret used by two agents: alerts */
	unsigned long long	 h2_conns;	/* HTTP/2 connections (ALPN h2) */
	unsigned long long	 h2_streams;	/* their requests */
	unsigned long long	 h2_abuse;	/* ended with ENHANCE_YOUR_CALM: resets, floods */
};
struct gate {
	struct config		*cfg;
	struct event_base	*base;
	struct sshd		*sshd;
	void			*ssl_ctx;	/* SSL_CTX *, swapped on reload */
	int			 hsts;		/* send Strict-Transport-Security */
	int			 https_port;
	int			 ssh_port;
	time_t			 started;
	struct gate_stats	 stats;
	time_t			 reload_time;	/* last reload attempt, 0: none */
	char			*reload_error;	/* its errors, NULL if it applied */
};
extern struct gate	*gate;

/* store.c: durable state in SQLite */
int		 store_open(const char *, char **);
void		 store_close(void);
int		 store_token_put(const char *, const char *, const char *, const char *,
		     const char *, time_t, time_t);
int		 store_token_del(const char *, const char *, const char *);
int		 store_token_used(const char *, time_t);
int		 store_token_note(const char *, const char *);
int		 store_token_load(void (*)(const char *, const char *, const char *,
		     const char *, const char *, time_t, time_t, time_t, const char *));
void		 store_audit(const char *, const char *, const char *, const char *);
/* 0, or -1 and *cause (caller reports and frees); the route, token and audit calls log. */
int		 store_run(char **, const char *, const char *, ...);
int		 store_failed(const char *, const char *, char *);	/* logs, frees, -1 */
long long	 store_last_id(void);
int		 store_changes(void);
struct sqlite3_stmt;
struct sqlite3_stmt *store_prepare(const char *);

/*
 * httpc.c: asynchronous HTTP(S) requests on the event loop (libcurl multi).
 * http:// and https:// only, no redirects followed, response bodies up to
 * 1 MiB. The callback runs once, from the loop (never inside
 * httpc_request()); the result and its strings are valid only during the
 * callback, and the request is freed after it returns (do not cancel it
 * there). httpc_cancel() and httpc_shutdown() free requests without calling
 * back; neither may be called from inside libcurl.
 */
struct httpc_result {
	long		 status;	/* HTTP status, 0 if none */
	const char	*error;		/* could not talk to the server, or NULL */
	const char	*body;		/* NUL-terminated, "" if none */
	size_t		 bodylen;
	const char	*content_type;	/* or NULL */
};
typedef void (*httpc_cb)(const struct httpc_result *, void *);
struct httpc_opts {
	const char		*method;	/* NULL: GET, or POST with a body */
	const char		*url;
	const char *const	*headers;	/* NULL-terminated "Name: value" */
	const char		*body;		/* copied */
	size_t			 bodylen;
	int			 timeout_ms;	/* whole request; <= 0: 30 s */
	const char		*cafile;	/* NULL: system CAs */
};
struct httpc_req;
int		 httpc_init(struct event_base *, char **);
void		 httpc_shutdown(void);	/* cancels all, no callbacks */
struct httpc_req *httpc_request(const struct httpc_opts *, httpc_cb, void *, char **);
void		 httpc_cancel(struct httpc_req *);	/* no callback afterwards */

/* tls.c */
void		*tls_ctx_new(const char *, const char *, char **);
void		 tls_ctx_free(void *);
void		 tls_ctx_alpn(void *, int);
int		 tls_ctx_self_issued(void *);
int		 tls_self_signed(const char *, const char *, char **);

#endif
