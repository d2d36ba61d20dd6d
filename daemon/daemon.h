/*
 * daemon.h: nbgated's internal interfaces, grouped by file.
 * Structs are opaque unless the caller needs their fields.
 */
#ifndef NB_DAEMON_H
#define NB_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/types.h>

#include "common/common.h"
#include "tunnel/tunnel.h"

/* config.c: the YAML configuration (see etc/nbgated.yaml) */
enum config_scheduler { CONFIG_SLURM, CONFIG_PBS };
enum config_transport { CONFIG_LOCAL, CONFIG_SSH };
enum config_charging { CONFIG_COMMUNITY, CONFIG_USER };
enum config_runtime { CONFIG_SINGULARITY, CONFIG_APPTAINER, CONFIG_NO_RUNTIME };
enum config_orphans { CONFIG_ORPHANS_REPORT, CONFIG_ORPHANS_CANCEL };
enum config_hsts { CONFIG_HSTS_AUTO, CONFIG_HSTS_ON, CONFIG_HSTS_OFF };

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
	char		*template;	/* NULL: the cluster's */
};
struct config_container {
	char		*name;
	size_t		 line;
	char		*image;		/* path or URI; "" with runtime none */
	int		 runtime;	/* enum config_runtime */
	char		*description;
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
	char		*login_host;	/* ssh: "host:port" */
	char		*login_host_key;	/* ssh: pinned "type base64" */
	char		*login_user;	/* ssh + community */
	char		*login_key;	/* ssh + community: private key path */
	char		*user_ca_key;	/* ssh + user: SSH CA key for user certificates */
	char		*slurm_conf;	/* exported as SLURM_CONF; NULL: unset */
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
	char		**node_addresses;	/* addresses/CIDRs agents may enroll from */
	size_t		 nnode_addresses;	/* 0: the job's nodes' own addresses */
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
	int		 sess_orphans;	/* enum config_orphans */
	int		 sess_orphan_interval;	/* s between orphan sweeps */
	int		 sess_idle_timeout;	/* s without proxied traffic: stop; 0 off */
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

/*
 * jobreq.c: a user's spawn options (JupyterHub-style user_options) checked
 * against clusters: (gateway policy; the batch script is scheduler/template.c)
 */
struct json_t;
struct template_vars;
#define JOBREQ_USER_MAX		32	/* [a-z_][a-z0-9_.-]{0,31} */
#define JOBREQ_SERVER_MAX	64	/* "" or [a-z0-9_][a-z0-9_.-]{0,63} */
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
};
/* What the session manager adds to a job's script (all may be ""). */
struct jobreq_env {
	const char	*gateway;	/* host:port the agent dials */
	const char	*hostkey_fp;	/* gateway host key, "SHA256:..." */
	const char	*base_url;	/* notebook base URL, e.g. /user/alice/ */
	const char	*route;		/* "alice" or "alice/lab" */
	const char	*enroll;	/* one-time enrollment secret (in the script only) */
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
int		 jobreq_user_valid(const char *);
int		 jobreq_server_valid(const char *);
int		 jobreq_parse_walltime(const char *, int *);
void		 jobreq_fmt_duration(char *, size_t, long long);
struct template_vars *jobreq_template_vars(const struct jobreq *,
		     const struct config_cluster *, const struct jobreq_env *,
		     char **);
char		*jobreq_template_path(const struct jobreq *,
		     const struct config_cluster *);


/* http.c */
#define HTTP_MAX_HEADERS	100
struct http_hdr {
	char	*name;
	char	*value;
	int	 connection;	/* this is a Connection header */
};
struct http_msg {			/* one request or response head */
	char		*url;		/* request target */
	char		*reason;	/* response reason phrase */
	struct http_hdr	*hdr;
	size_t		 nhdr;
	size_t		 hcap;		/* hdr slots allocated */
	char		*buf;		/* every string above, NUL-terminated, in order */
	size_t		 buflen;
	size_t		 bufcap;
	size_t		 size;		/* bytes so far, against limit */
	size_t		 limit;
	int		 in_value;
	int		 conn_hdr;	/* a Connection header is present */
};
void		 http_msg_init(struct http_msg *, size_t);
void		 http_msg_reset(struct http_msg *);
int		 http_msg_url(struct http_msg *, const char *, size_t);
int		 http_msg_reason(struct http_msg *, const char *, size_t);
int		 http_msg_field(struct http_msg *, const char *, size_t);
int		 http_msg_value(struct http_msg *, const char *, size_t);
const char	*http_msg_get(const struct http_msg *, const char *);
size_t		 http_msg_count(const struct http_msg *, const char *);
int		 http_list_has(const char *, const char *);
int		 http_hop_header(const struct http_msg *, const char *);
const char	*http_status_text(int);
void		 http_html_escape(struct evbuffer *, const char *);
void		 http_respond(struct evbuffer *, int, const char *, const char *,
		     struct evbuffer *, int, int);
struct evbuffer	*http_page(int, const char *, const char *);
char		*http_cookie_get(const char *, const char *);
char		*http_cookie_strip(const char *, const char *);
int		 http_cookie_count(const char *, const char *);
int		 http_conn_names_framing(const struct http_msg *);
int		 http_req_withheld(const struct http_hdr *);
int		 http_resp_withheld(const struct http_hdr *);
int		 http_user_path(const char *, char **, char **);

/* route.c: /user/<name>[/<server>]/ → the tunnel of that notebook */
struct route;
struct route	*route_add(const char *, const char *, ssh_key, const char *, char **);
int		 route_remove(const char *);
struct route	*route_find(const char *);
struct route	*route_lookup(const char *, const char *);
const char	*route_name(struct route *);
const char	*route_owner(struct route *);
const char	*route_token(struct route *);
ssh_key		 route_key(struct route *);
struct tunnel	*route_tunnel(struct route *);
void		 route_set_tunnel(struct route *, struct tunnel *);
time_t		 route_created(struct route *);
void		 route_foreach(void (*)(struct route *, void *), void *);
size_t		 route_count(void);
size_t		 route_count_connected(void);
void		 route_clear(void);
void		 route_ref(struct route *);
void		 route_unref(struct route *);
int		 route_dead(struct route *);
int		 route_name_valid(const char *);
ssh_key		 route_key_parse(const char *, char **);
char		*route_key_text(ssh_key);
char		*route_enroll_begin(struct route *, const char *);
void		 route_enroll_restore(struct route *, const char *, const char *);
const char	*route_enroll_hex(struct route *);
const char	*route_job(struct route *);
void		 route_set_job(struct route *, const char *);
long long	 route_session(struct route *);
void		 route_touch(struct route *, time_t);
time_t		 route_activity(struct route *);
void		 route_set_session(struct route *, long long);
enum route_secret { ROUTE_SECRET_WRONG = -1, ROUTE_SECRET_PENDING = 0, ROUTE_SECRET_USED = 1 };
enum route_secret route_enroll_match(struct route *, const char *, const char *,
		     unsigned char [32], char **);
int		 route_enroll(struct route *, const unsigned char [32], ssh_key,
		     const char *, const char *, char **);
const char	*route_enrolled_from(struct route *);

/* peer.c: connections per client address */
struct peer;
struct peer	*peer_get(const char *);
void		 peer_put(struct peer *);
unsigned long	 peer_count(const struct peer *);

/* origin.c: the same-origin rule for cookie-authenticated requests */
int		 origin_is_ours(const char *, const char *, int);
int		 origin_check(const struct http_msg *, int, const char **);
char		*userhost_user(const char *);
char		*userhost_url(const char *, const char *);
char		*userhost_hub_url(void);

/* auth.c: who is asking — login cookies, API tokens, one-time login codes */
#define AUTH_COOKIE	"__Host-nbgate-session"	/* __Host-: Secure, Path=/, no Domain */
#define AUTH_COOKIE_PREFIX	"__Host-nbgate-"	/* every login cookie of ours */
int		 auth_init(const char *, char **);
char		*auth_cookie_make(const char *, int);
char		*auth_cookie_check(const char *);
char		*auth_host_cookie_make(const char *, int);
char		*auth_host_cookie_check(const char *);
char		*auth_host_code_issue(const char *);
char		*auth_host_code_redeem(const char *);
#define AUTH_HOST_COOKIE	"__Host-nbgate-user"	/* a user host's own login */
void		 auth_cookie_revoke(const char *);	/* logout */
void		 auth_revoked_load(void);
#define AUTH_SCOPE_SERVERS	0x1	/* start and stop servers */
#define AUTH_SCOPE_READ_SERVERS	0x2	/* server models and progress */
#define AUTH_SCOPE_READ_USERS	0x4	/* user models */
#define AUTH_SCOPES_ALL		0x7
#define AUTH_TOKEN_ID_LEN	12	/* the id: the digest's first hex digits */
#define AUTH_TOKEN_OK		0
#define AUTH_TOKEN_UNKNOWN	1
#define AUTH_TOKEN_EXPIRED	2
struct auth_token {			/* what an API token may do (no secret) */
	char		 id[AUTH_TOKEN_ID_LEN + 1];
	int		 service;	/* 0: a user's own token */
	const char	*name;		/* the user, or the service */
	unsigned int	 scopes;	/* AUTH_SCOPE_* */
	int		 all_users;	/* service: may act for every user */
	char		**users;	/* service: else for these */
	size_t		 nusers;
	time_t		 created, expires, last_used;	/* expires 0: never */
};
char		*auth_token_issue(const char *, time_t, char [AUTH_TOKEN_ID_LEN + 1]);
char		*auth_service_issue(const char *, unsigned int, const char *, time_t,
		     char [AUTH_TOKEN_ID_LEN + 1]);
char		*auth_token_check(const char *);
int		 auth_token_lookup(const char *, const struct auth_token **);
int		 auth_token_may_act(const struct auth_token *, const char *);
void		 auth_token_load(const char *, const char *, const char *, const char *,
		     const char *, time_t, time_t, time_t);
int		 auth_token_revoke_user(const char *);
int		 auth_token_revoke_service(const char *);
int		 auth_token_revoke_id(const char *);
void		 auth_token_foreach(void (*)(const struct auth_token *, void *), void *);
int		 auth_scopes_parse(const char *, unsigned int *, char **);
char		*auth_scopes_text(unsigned int);
const char	*auth_scope_name(unsigned int);
char		*auth_code_issue(const char *);
char		*auth_code_redeem(const char *);
void		 auth_clear(void);

/* gate.c: nbgated's one global state: config, loop, listeners, the sshd */
struct gate_stats {
	unsigned long long	 requests;	/* proxied requests */
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
int		 gate_start(struct event_base *, struct config *, char **);
int		 gate_reload(struct config *, char **);
/* Loads and checks FILE (templates too) and applies it; -1 and *cause (kept running). */
int		 gate_reload_file(const char *, char **);
/* Loads and checks FILE without applying it: 0, or -1 and *cause. */
int		 gate_check_file(const char *, char **);
void		 gate_stop(void);

/* conn.c: one browser (or admin socket) connection: parse, route, proxy */
enum conn_kind { CONN_TLS, CONN_ADMIN, CONN_PLAIN };
void		 conn_accept(int, const char *, int, enum conn_kind);
unsigned long	 conn_open(void);
typedef struct tunnel_req *(*conn_connector_fn)(struct tunnel *, const char *, int,
		     tunnel_connect_cb, void *);
void		 conn_set_connector(conn_connector_fn);
void		 conn_close_all(void);
/*
 * A /hub/ handler that answers later (PAM) calls conn_defer(ar->conn) and
 * leaves the response empty; it owns the handle and gives it back, once,
 * to conn_defer_answer(), which sends the response if the browser is still
 * there (and frees what the response holds either way).
 */
struct conn;
struct conn_defer;
struct api_resp;
struct conn_defer *conn_defer(struct conn *);
void		 conn_defer_answer(struct conn_defer *, struct api_resp *);

/* api.c: what nbgated answers itself under /hub/ */
struct api_req {
	const char		*method;
	const char		*path;		/* without the query */
	const char		*query;		/* after '?', or NULL */
	const struct http_msg	*head;
	struct evbuffer		*body;
	const char		*user;		/* authenticated user, or NULL */
	int			 admin_socket;	/* came over the local admin socket */
	const char		*host;		/* Host header */
	int			 tls;		/* came over HTTPS */
	const char		*actor;		/* for the audit log */
	const char		*peer;		/* client address */
	struct conn		*conn;		/* for conn_defer() */
};
struct api_resp {
	int			 code;
	const char		*ctype;
	char			*headers;	/* extra header lines, allocated */
	struct evbuffer		*body;		/* allocated by the handler */
	long long		 progress;	/* not 0: stream this session's progress (SSE) */
};
struct session;
struct json_t;
void		 api_dispatch(const struct api_req *, struct api_resp *);
void		 api_add_headers(struct api_resp *, char *);	/* consumes the lines */
char		*api_query_get(const char *, const char *);	/* a ?k=v value, owned */
struct json_t	*api_progress_event(const struct session *, int *);
char		*api_request_user(const struct http_msg *);
int		 api_request_by_cookie(const struct http_msg *);

/* pages.c: HTML pages under /hub/: home, spawn[/S], spawn-pending[/S], stop[/S] */
int		 pages_dispatch(const struct api_req *, struct api_resp *);
struct json_t	*pages_form_parse(const char *, size_t, char **);
/* Helpers for login.c: a page is pages_begin() .. pages_reply(). */
struct evbuffer	*pages_begin(const char *, const char *);
void		 pages_reply(struct api_resp *, int, struct evbuffer *, const char *);
int		 pages_same_origin(const struct api_req *);
int		 pages_xsrf_check(const struct api_req *, const char *);
void		 pages_xsrf(const char *, char [65]);

/* login.c: /hub/login: password login (auth.pam), rate-limited; the OIDC button */
int		 login_dispatch(const struct api_req *, struct api_resp *);
int		 login_next_valid(const char *);
void		 login_shutdown(void);

/* throttle.c: failure counters with backoff per "kind:name" (login.c, cred.c) */
void		 throttle_fail(int, const char *, unsigned int);
void		 throttle_reset(int, const char *);
long		 throttle_wait(int, const char *);	/* s left, or 0 */
void		 throttle_clear(void);

/*
 * jwt.c: ID tokens (compact JWS) and key sets (JWKS), no I/O; fuzzed.
 * _parse() returns an owned object (_free()) or NULL and *cause (caller
 * frees); jwt_verify() only after jwt_parse(), jwt_check() only after
 * jwt_verify() said JWT_OK.
 */
#define JWT_OK		0
#define JWT_BAD		(-1)
#define JWT_NOKEY	(-2)	/* no key with the token's kid: refetch once */
struct jwt;
struct jwt_keys;
struct jwt_expect {
	const char	*issuer;
	const char	*client_id;
	const char	*nonce;		/* NULL: not checked */
	time_t		 now;
	int		 skew;		/* s of clock difference allowed */
};
struct jwt	*jwt_parse(const char *, size_t, char **);
void		 jwt_free(struct jwt *);
const char	*jwt_alg(const struct jwt *);
const char	*jwt_kid(const struct jwt *);
struct json_t	*jwt_claims(const struct jwt *);	/* borrowed */
int		 jwt_verify(const struct jwt *, const struct jwt_keys *, char **);
int		 jwt_check(const struct jwt *, const struct jwt_expect *, char **);
struct jwt_keys	*jwt_keys_parse(const char *, size_t, char **);
void		 jwt_keys_free(struct jwt_keys *);
size_t		 jwt_keys_count(const struct jwt_keys *);

/*
 * oidc.c: OpenID Connect login (auth.oidc): /hub/oauth_login and
 * /hub/oauth_callback, answered through conn_defer() while the provider is
 * asked. oidc_meta_parse() and oidc_map_user() are pure (tests, fuzzing);
 * oidc_map_user() returns an owned name or NULL and *cause;
 * oidc_user_refusal() NULL if a mapped name may sign in, else an owned reason.
 */
struct oidc_meta {			/* what we use of the discovery document */
	char		*authorization_endpoint;
	char		*token_endpoint;
	char		*jwks_uri;
	char		*userinfo_endpoint;	/* NULL if none */
	int		 auth_post;	/* client_secret_post, not _basic */
};
int		 oidc_init(const struct config *, char **);
void		 oidc_shutdown(void);
int		 oidc_enabled(void);
int		 oidc_dispatch(const struct api_req *, struct api_resp *);
int		 oidc_meta_parse(const char *, size_t, const char *, struct oidc_meta *,
		     char **);
void		 oidc_meta_clear(struct oidc_meta *);
char		*oidc_map_user(const char *, const char *, const char *, char **);
char		*oidc_user_refusal(const struct config *, const char *, const char *);

/* pam.c: PAM checks in a child process, off the event loop */
#define PAM_CHECK_OK	0	/* authenticated, account valid */
#define PAM_CHECK_DENIED 1	/* wrong password, unknown user, locked account */
#define PAM_CHECK_ERROR	2	/* PAM itself failed */
struct pam_attempt;
typedef void	(*pam_attempt_cb)(int, const char *, void *);
int		 pam_check(const char *, const char *, const char *, char **);
struct pam_attempt *pam_attempt_start(const char *, const char *, const char *,
		     pam_attempt_cb, void *, char **);
unsigned int	 pam_attempts(void);
void		 pam_attempt_kill_all(void);

/* store.c: durable state in SQLite */
int		 store_open(const char *, char **);
void		 store_close(void);
int		 store_route_put(struct route *);
int		 store_route_del(const char *);
int		 store_route_load(void (*)(const char *, const char *, const char *,
		     const char *, const char *, const char *, long long));
int		 store_token_put(const char *, const char *, const char *, const char *,
		     const char *, time_t, time_t);
int		 store_token_del(const char *, const char *, const char *);
int		 store_token_used(const char *, time_t);
int		 store_token_load(void (*)(const char *, const char *, const char *,
		     const char *, const char *, time_t, time_t, time_t));
void		 store_audit(const char *, const char *, const char *, const char *);
/* 0, or -1 and *cause (caller reports and frees); the route, token and audit calls log. */
int		 store_run(char **, const char *, const char *, ...);
long long	 store_last_id(void);
int		 store_changes(void);
struct sqlite3_stmt;
struct sqlite3_stmt *store_prepare(const char *);

/*
 * cred.c: verified identities of users for clusters with charging: user (the
 * DN, the account it maps to, the expiry; never a key). Borrowed pointers stay
 * valid until the next cred_* call that changes the user's identity.
 * cred_account_reserved(): NULL, or an owned reason no login may name an account.
 */
struct cred {
	char		*user;		/* gateway user */
	char		*dn;		/* certificate subject, or "login:NAME" */
	char		*account;	/* local account jobs run as */
	char		*source;	/* x509, x509-proxy, myproxy, login */
	time_t		 not_after;	/* the credential's expiry */
	time_t		 verified;
};
struct json_t;
typedef void (*cred_done_cb)(const struct cred *, const char *, void *);
int		 cred_init(char **);
void		 cred_shutdown(void);
const struct cred *cred_get(const char *);
const struct cred *cred_for_account(const char *);
const struct cred *cred_from_login(const char *);
char		*cred_account_reserved(const struct config *, const char *);
const struct cred *cred_set_x509(const char *, const char *, const char *, size_t,
		    const char *, size_t, const char *, const char *, char **);
#define CRED_BUSY	-2	/* cred_myproxy(): too many in flight or backing off */
int		 cred_myproxy(const char *, const char *, const char *, cred_done_cb,
		    void *, char **);
int		 cred_drop(const char *, const char *);
struct json_t	*cred_json(const struct cred *);

/* session.c: notebook sessions: start -> batch job -> agent -> route */
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
struct session_counts {
	unsigned long	 by_state[SESSION_NSTATES];
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
		     struct json_t *, int *, char **, char **);
int		 session_stop(const char *, const char *, const char *, int *,
		     char **);
const struct session *session_find(const char *, const char *);
const struct session *session_by_id(long long);
void		 session_foreach(void (*)(const struct session *, void *), void *);
long long	 session_id(const struct session *);
void		 session_times(const struct session *, double *, double *, double *,
		     double *);
void		 session_cluster_stats(void (*)(const char *, unsigned long long,
		     unsigned long long, double, size_t, void *), void *);
const char	*session_user(const struct session *);
struct transport;
struct transport *session_cluster_transport(const char *);
typedef void	(*session_watch_cb)(const struct session *, void *);
void		 session_watch(session_watch_cb, void *);
void		 session_unwatch(session_watch_cb, void *);
const char	*session_server(const struct session *);
enum session_state session_state(const struct session *);
struct json_t	*session_json(const struct session *, int);
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

/* enroll.c: an enrolling agent checked against its session's job */
int		 enroll_check(struct route *, const struct sshd_enroll *,
		     const unsigned char [32], int, char **);
void		 enroll_gone(void *);
void		 enroll_shutdown(void);

/* metrics.c: Prometheus text at /hub/metrics */
void		 metrics_init(void);
void		 metrics_shutdown(void);
struct evbuffer	*metrics_render(void);

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

/* usage.c: GET /hub/api/usage: per-user jobs and core-hours, nbgate vs sacct */
void		 usage_api(const struct api_req *, struct api_resp *);
int		 usage_sacct_parse(char *, const char **, char **, long long *,
		     long long *);

/* tls.c */
void		*tls_ctx_new(const char *, const char *, char **);
void		 tls_ctx_free(void *);
int		 tls_ctx_self_issued(void *);
int		 tls_self_signed(const char *, const char *, char **);

/*
 * x509.c: a user's X.509 credential (chain + key) checked against a hashed CA
 * directory (HASH.0, HASH.rN CRLs) and mapped to an account by a grid-mapfile.
 */
enum x509_crl_mode {
	X509_CRL_IF_PRESENT = 0,	/* check CRLs of CAs that have a HASH.rN file */
	X509_CRL_REQUIRE,		/* every CA must have a CRL */
	X509_CRL_OFF			/* never check CRLs */
};
struct x509_policy {
	const char	*ca_dir;	/* grid-style hashed CA directory */
	const char	*gridmap;	/* grid-mapfile path */
	int		 check_crl;	/* enum x509_crl_mode */
	int		 refuse_proxy;	/* 1: RFC 3820 proxies are refused */
	int		 allow_independent; /* 1: id-ppl-independent proxies too */
};
struct x509_ident {
	char		*dn;		/* end-entity subject, /C=US/O=.../CN=... form */
	char		*account;	/* mapped local account */
	time_t		 not_after;	/* earliest notAfter along the chain */
	int		 proxy;		/* 1 if the leaf is an RFC 3820 proxy */
	EVP_PKEY	*key;		/* the user's key, matches the leaf */
};
/* 0 and *out (free with x509_ident_free()), or -1 and *cause (caller frees). */
int		 x509_verify(const char *, size_t, const char *, size_t, const char *,
		    const struct x509_policy *, struct x509_ident *, char **);
void		 x509_ident_free(struct x509_ident *);
/* 1 and *account (caller frees) if mapped, 0 if not, -1 and *cause. */
int		 x509_gridmap_lookup(const char *, const char *, char **, char **);
char		*x509_name_oneline(const X509_NAME *);	/* caller frees */

/*
 * sshcert.c: short-lived OpenSSH user certificates (ed25519) for a fresh user key,
 * signed by an unencrypted openssh-key-v1 ed25519 CA key.
 */
/* 0 with *privkey_b64 (OpenSSH PEM text, caller freestr()s) and *cert_line
 * ("ssh-ed25519-cert-v01@openssh.com BASE64 KEYID", caller frees), or -1 and *cause. */
int		 sshcert_mint(const char *, const char *, const char *, time_t, time_t,
		    char **, char **, char **);
/* An unencrypted openssh-key-v1 ed25519 key's seed and public key; -1 and *cause. */
int		 sshcert_parse_privkey(const char *, size_t, unsigned char[32],
		    unsigned char[32], char **);

/*
 * myproxy.c: MyProxy GET (logon) over TLS, blocking: run it in a thread (it keeps
 * no global state). Writes to a closed peer need SIGPIPE ignored, as nbgated does.
 */
#define MYPROXY_PORT	7512
#define MYPROXY_TIMEOUT	30		/* seconds, connect to last byte */
struct myproxy_opts {
	const char	*host;
	int		 port;		/* MYPROXY_PORT */
	const char	*ca_dir;	/* hashed CA directory the server's cert must chain to */
	const char	*server_dn;	/* exact server DN expected, or NULL */
	const char	*server_name;	/* name the cert must carry (NAME, host/NAME,
					   myproxy/NAME); NULL: host */
	int		 timeout;	/* seconds for the whole logon; 0: MYPROXY_TIMEOUT */
};
/* 0 with *chain_pem (caller frees) and *key_pem (caller freestr()s), or -1, *cause. */
int		 myproxy_logon(const struct myproxy_opts *, const char *, const char *, int,
		    char **, char **, char **);

#endif
