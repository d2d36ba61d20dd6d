/*
 * config.c: nbgated's YAML configuration: the schema tables, the built-in
 * defaults, and a loader that reports every problem as FILE:LINE: KEY: why.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "daemon/core/core.h"

#define CONFIG_MAX_SIZE		(1024 * 1024)	/* bytes of YAML we read */
#define CONFIG_MAX_ERRORS	50		/* lines of *cause before "N more" */
#define CONFIG_MAX_LINE		400		/* one error line, truncated beyond */
#define CONFIG_MAX_KEY		64		/* longest key we try to spell-check */

/*
 * The schema. Each section is a table of keys; a key names its type, where
 * its value lives (an offset into the object being filled), its range, its
 * default written as in the file, and for a nested section its sub-table.
 * The walker only ever sees (table, YAML node, object, dotted path), so it
 * recurses into any depth of sections without knowing what they are.
 *
 * How a later section plugs in, e.g. clusters: { name: { ..., queues:
 * { name: { limits } } } }:
 *  - define struct config_cluster and struct config_queue (name first) and
 *    their key tables with offsetof() into those structs, the cluster
 *    table holding a "queues" key of the new type CFG_MAPOF;
 *  - CFG_MAPOF (and CFG_LISTOF for a list of maps) keys carry .sub (the
 *    element table), .elem_size, and .off/.count_off for the element
 *    array and its count in the parent object, like CFG_STRLIST does;
 *  - cfg_walk_value() gains one case: per map entry (or list item) grow
 *    the array by one zeroed element, store the name, cfg_defaults() it,
 *    and call cfg_walk_section(ctx, key->sub, value, elem, "path.name");
 *  - cfg_free_section() gains the matching case: free each element through
 *    its table, then the array.
 * Nothing else changes: duplicate/unknown-key checks, messages and line
 * numbers come for free from cfg_walk_section().
 *
 * That is how clusters: is built. Two more hooks serve it: .required keys
 * are reported when absent, and a section's .check runs after its keys are
 * set (only if they all were valid) with seen[], the line of each key, so
 * cross-field problems are reported at the line of the key at fault.
 */
enum cfg_type {
	CFG_STRING,
	CFG_PATH,
	CFG_BOOL,
	CFG_INT,
	CFG_DURATION,
	CFG_SIZE,
	CFG_HOSTPORT,
	CFG_LOGLEVEL,
	CFG_STRLIST,
	CFG_SECTION,
	CFG_ENUM,
	CFG_MAPOF
};

struct cfg_ctx;
struct cfg_section;
struct cfg_key {
	const char		*name;
	enum cfg_type		 type;
	size_t			 off;		/* the value in the object */
	size_t			 count_off;	/* STRLIST, MAPOF: size_t count */
	long long		 min, max;	/* INT; DURATION (s); SIZE (bytes);
						   MAPOF: max entries */
	const char		*def;		/* default as written; NULL: none */
	const char		*derive;	/* default: STATE_DIR/derive */
	int			(*check)(const char *, char **);	/* each value;
						   MAPOF: each name */
	const struct cfg_section *sub;		/* SECTION; MAPOF: element */
	size_t			 elem_size;	/* MAPOF */
	const char *const	*choices;	/* ENUM: NULL-terminated */
	int			 required;	/* absent is an error */
};

/* Cross-field check of a section; seen[i] is the line of key i or 0. */
typedef void (*cfg_check_fn)(struct cfg_ctx *, const struct cfg_section *,
    void *, const char *, size_t, const size_t *);
struct cfg_section {
	const struct cfg_key	*keys;
	size_t			 nkeys;
	cfg_check_fn		 check;
};

/* Every CFG_MAPOF element struct starts with these two fields. */
struct cfg_elem {
	char			*name;
	size_t			 line;
};

struct cfg_type_info {
	const char	*what;	/* "expected ..." */
	int		(*set)(const struct cfg_key *, void *, const char *, char **);
};

struct cfg_ctx {
	const char	*name;		/* file name for messages */
	const char	*buf;		/* the YAML, for reader error lines */
	size_t		 len;
	yaml_document_t	*doc;
	char		*errors;	/* one per line */
	u_int		 nerrors;
};

static int	cfg_check_user(const char *, char **);
static int	cfg_check_url(const char *, char **);
static int	cfg_check_cluster_name(const char *, char **);
static int	cfg_check_sched_name(const char *, char **);
static int	cfg_check_sched_name_opt(const char *, char **);
static int	cfg_check_line(const char *, char **);
static int	cfg_check_image(const char *, char **);
static int	cfg_check_hostkey(const char *, char **);
static int	cfg_check_directive(const char *, char **);
static int	cfg_check_bind(const char *, char **);
static int	cfg_check_cidr(const char *, char **);
static int	cfg_check_output_dir(const char *, char **);
static int	cfg_check_workdir(const char *, char **);
static int	cfg_check_pam_service(const char *, char **);
static int	cfg_check_https(const char *, char **);
static int	cfg_check_origin(const char *, char **);
static int	cfg_check_user_hosts(const char *, char **);
static int	cfg_check_word(const char *, char **);
static int	cfg_check_word_opt(const char *, char **);
static int	cfg_check_label(const char *, char **);
static int	cfg_check_sub(const char *, char **);
static void	cfg_check_oidc(struct cfg_ctx *, const struct cfg_section *,
		    void *, const char *, size_t, const size_t *);
static void	cfg_check_top(struct cfg_ctx *, const struct cfg_section *,
		    void *, const char *, size_t, const size_t *);
static void	cfg_check_limit(struct cfg_ctx *, const struct cfg_section *,
		    void *, const char *, size_t, const size_t *);
static void	cfg_check_container(struct cfg_ctx *,
		    const struct cfg_section *, void *, const char *, size_t,
		    const size_t *);
static void	cfg_check_cluster(struct cfg_ctx *, const struct cfg_section *,
		    void *, const char *, size_t, const size_t *);
static void	cfg_check_retry(struct cfg_ctx *, const struct cfg_section *,
		    void *, const char *, size_t, const size_t *);

#define OFF(f)		offsetof(struct config, f)
#define QOFF(f)		offsetof(struct config_queue, f)
#define IOFF(f)		offsetof(struct config_container, f)
#define KOFF(f)		offsetof(struct config_cluster, f)
#define AOFF(f)		offsetof(struct config_oidc_admin, f)
#define SECTION(t)	{ (t), nitems(t), NULL }
#define CHECKED(t, fn)	{ (t), nitems(t), (fn) }
#define KiB		1024LL
#define MiB		(1024LL * 1024)
#define GiB		(1024LL * MiB)
#define MINUTE		60LL
#define HOUR		(60LL * 60)
#define DAY		(24LL * 60 * 60)

static const char *const cfg_schedulers[] = { "slurm", "pbs", NULL };
static const char *const cfg_transports[] = { "local", "ssh", NULL };
static const char *const cfg_chargings[] = { "community", "user", NULL };
static const char *const cfg_runtimes[] = { "singularity", "apptainer", "none",
    NULL };

static const char *const cfg_log_formats[] = { "text", "json", NULL };
static const struct cfg_key cfg_log_keys[] = {
	{ .name = "level", .type = CFG_LOGLEVEL, .off = OFF(log_level),
	  .def = "info" },
	{ .name = "format", .type = CFG_ENUM, .off = OFF(log_format),
	  .choices = cfg_log_formats, .def = "text" },
};
static const struct cfg_section cfg_log = SECTION(cfg_log_keys);

static const struct cfg_key cfg_listen_keys[] = {
	{ .name = "https", .type = CFG_HOSTPORT, .off = OFF(https_listen),
	  .def = "0.0.0.0:8443" },
	{ .name = "ssh", .type = CFG_HOSTPORT, .off = OFF(ssh_listen),
	  .def = "0.0.0.0:2222" },
	{ .name = "admin_socket", .type = CFG_PATH, .off = OFF(admin_socket),
	  .derive = "admin.sock" },
	{ .name = "admin_group", .type = CFG_STRING, .off = OFF(admin_group) },
};
static const struct cfg_section cfg_listen = SECTION(cfg_listen_keys);

static const char *const cfg_hsts_modes[] = { "auto", "on", "off", NULL };
static const struct cfg_key cfg_tls_keys[] = {
	{ .name = "certificate", .type = CFG_PATH, .off = OFF(tls_cert),
	  .derive = "tls.crt" },
	{ .name = "key", .type = CFG_PATH, .off = OFF(tls_key),
	  .derive = "tls.key" },
	{ .name = "self_signed", .type = CFG_BOOL, .off = OFF(tls_self_signed),
	  .def = "true" },
	{ .name = "hsts", .type = CFG_ENUM, .off = OFF(tls_hsts),
	  .choices = cfg_hsts_modes, .def = "auto" },
	{ .name = "handshake_timeout", .type = CFG_DURATION,
	  .off = OFF(tls_handshake_timeout), .min = 1, .max = 5 * MINUTE,
	  .def = "10s" },
};
static const struct cfg_section cfg_tls = SECTION(cfg_tls_keys);

static const struct cfg_key cfg_ssh_keys[] = {
	{ .name = "host_key", .type = CFG_PATH, .off = OFF(ssh_host_key),
	  .derive = "ssh_host_ed25519_key" },
	{ .name = "login_timeout", .type = CFG_DURATION,
	  .off = OFF(ssh_login_timeout), .min = 1, .max = 10 * MINUTE,
	  .def = "20s" },
	{ .name = "max_connections", .type = CFG_INT, .off = OFF(ssh_max_conns),
	  .min = 1, .max = 100000, .def = "10000" },
	{ .name = "max_unauthenticated", .type = CFG_INT,
	  .off = OFF(ssh_max_unauth), .min = 1, .max = 10000, .def = "64" },
	{ .name = "max_unauthenticated_per_address", .type = CFG_INT,
	  .off = OFF(ssh_max_unauth_per_addr), .min = 1, .max = 10000,
	  .def = "8" },
	{ .name = "keepalive", .type = CFG_DURATION, .off = OFF(ssh_keepalive),
	  .min = 5, .max = 10 * MINUTE, .def = "30s" },
};
static const struct cfg_section cfg_ssh = SECTION(cfg_ssh_keys);

static const struct cfg_key cfg_proxy_keys[] = {
	{ .name = "header_timeout", .type = CFG_DURATION,
	  .off = OFF(proxy_header_timeout), .min = 1, .max = 10 * MINUTE,
	  .def = "30s" },
	{ .name = "idle_timeout", .type = CFG_DURATION,
	  .off = OFF(proxy_idle_timeout), .min = 10, .max = 7 * DAY,
	  .def = "1h" },
	{ .name = "max_header_size", .type = CFG_SIZE,
	  .off = OFF(proxy_max_header), .min = KiB, .max = MiB,
	  .def = "16KiB" },
	{ .name = "buffer_size", .type = CFG_SIZE, .off = OFF(proxy_buffer),
	  .min = 16 * KiB, .max = 64 * MiB, .def = "256KiB" },
	{ .name = "max_connections", .type = CFG_INT,
	  .off = OFF(proxy_max_conns), .min = 1, .max = 1000000,
	  .def = "18000" },
	{ .name = "max_connections_per_address", .type = CFG_INT,
	  .off = OFF(proxy_max_conns_per_addr), .min = 1, .max = 1000000,
	  .def = "1000" },
	{ .name = "max_body_size", .type = CFG_SIZE, .off = OFF(proxy_max_body),
	  .min = 4 * KiB, .max = 64 * MiB, .def = "1MiB" },
	{ .name = "user_hosts", .type = CFG_STRING, .off = OFF(proxy_user_hosts),
	  .def = "", .check = cfg_check_user_hosts },
};
static const struct cfg_section cfg_proxy = SECTION(cfg_proxy_keys);

static const struct cfg_key cfg_oidc_map_keys[] = {
	{ .name = "strip_suffix", .type = CFG_STRING, .off = OFF(oidc_strip_suffix),
	  .def = "", .check = cfg_check_word_opt },
	{ .name = "file", .type = CFG_PATH, .off = OFF(oidc_map_file) },
};
static const struct cfg_section cfg_oidc_map = SECTION(cfg_oidc_map_keys);

static const struct cfg_key cfg_oidc_admin_keys[] = {
	{ .name = "sub", .type = CFG_STRING, .off = AOFF(sub),
	  .check = cfg_check_sub, .required = 1 },
};
static const struct cfg_section cfg_oidc_admin = SECTION(cfg_oidc_admin_keys);

static const struct cfg_key cfg_oidc_keys[] = {
	{ .name = "issuer", .type = CFG_STRING, .off = OFF(oidc_issuer),
	  .check = cfg_check_https, .required = 1 },
	{ .name = "client_id", .type = CFG_STRING, .off = OFF(oidc_client_id),
	  .check = cfg_check_word, .required = 1 },
	{ .name = "client_secret_file", .type = CFG_PATH,
	  .off = OFF(oidc_secret_file), .required = 1 },
	{ .name = "scopes", .type = CFG_STRLIST, .off = OFF(oidc_scopes),
	  .count_off = OFF(noidc_scopes), .check = cfg_check_word },
	{ .name = "username_claim", .type = CFG_STRING,
	  .off = OFF(oidc_username_claim), .def = "preferred_username",
	  .check = cfg_check_word },
	{ .name = "username_map", .type = CFG_SECTION, .sub = &cfg_oidc_map },
	{ .name = "admins", .type = CFG_MAPOF, .off = OFF(oidc_admins),
	  .count_off = OFF(noidc_admins), .sub = &cfg_oidc_admin,
	  .elem_size = sizeof(struct config_oidc_admin), .max = 256,
	  .check = cfg_check_user },
	{ .name = "ca_file", .type = CFG_PATH, .off = OFF(oidc_ca_file) },
	{ .name = "button_label", .type = CFG_STRING,
	  .off = OFF(oidc_button_label), .def = "your institution",
	  .check = cfg_check_label },
};
static const struct cfg_section cfg_oidc = CHECKED(cfg_oidc_keys, cfg_check_oidc);

static const struct cfg_key cfg_auth_keys[] = {
	{ .name = "admins", .type = CFG_STRLIST, .off = OFF(admins),
	  .count_off = OFF(nadmins), .check = cfg_check_user },
	{ .name = "cookie_max_age", .type = CFG_DURATION,
	  .off = OFF(cookie_max_age), .min = MINUTE, .max = 30 * DAY,
	  .def = "12h" },
	{ .name = "pam", .type = CFG_BOOL, .off = OFF(auth_pam), .def = "false" },
	{ .name = "pam_service", .type = CFG_STRING, .off = OFF(auth_pam_service),
	  .def = "nbgate", .check = cfg_check_pam_service },
	{ .name = "oidc", .type = CFG_SECTION, .sub = &cfg_oidc },
	{ .name = "allowed_origins", .type = CFG_STRLIST, .off = OFF(allowed_origins),
	  .count_off = OFF(nallowed_origins), .check = cfg_check_origin },
	{ .name = "admin_access", .type = CFG_BOOL, .off = OFF(admin_access),
	  .def = "false" },
};
static const struct cfg_section cfg_auth = SECTION(cfg_auth_keys);

static const char *const cfg_orphan_actions[] = { "report", "cancel", NULL };
static const struct cfg_key cfg_sessions_keys[] = {
	{ .name = "gateway_address", .type = CFG_HOSTPORT,
	  .off = OFF(sess_gateway) },
	{ .name = "max_per_user", .type = CFG_INT, .off = OFF(sess_max_per_user),
	  .min = 1, .max = 1000, .def = "3" },
	{ .name = "named_servers", .type = CFG_INT, .off = OFF(sess_named),
	  .min = 0, .max = 1000, .def = "2" },
	{ .name = "max_total", .type = CFG_INT, .off = OFF(sess_max_total),
	  .min = 1, .max = 1000000, .def = "1000" },
	{ .name = "start_timeout", .type = CFG_DURATION,
	  .off = OFF(sess_start_timeout), .min = 10, .max = DAY, .def = "10m" },
	{ .name = "unknown_grace", .type = CFG_DURATION,
	  .off = OFF(sess_unknown_grace), .min = 10, .max = 7 * DAY,
	  .def = "30m" },
	{ .name = "walltime_warning", .type = CFG_DURATION,
	  .off = OFF(sess_walltime_warning), .min = 0, .max = DAY,
	  .def = "10m" },
	{ .name = "orphans", .type = CFG_ENUM, .off = OFF(sess_orphans),
	  .choices = cfg_orphan_actions, .def = "report" },
	{ .name = "orphan_interval", .type = CFG_DURATION,
	  .off = OFF(sess_orphan_interval), .min = 10, .max = DAY,
	  .def = "10m" },
	{ .name = "idle_timeout", .type = CFG_DURATION,
	  .off = OFF(sess_idle_timeout), .min = 0, .max = 30 * DAY, .def = "0" },
	{ .name = "queued_timeout", .type = CFG_DURATION,
	  .off = OFF(sess_queued_timeout), .min = 0, .max = 30 * DAY, .def = "0" },
};
static const struct cfg_section cfg_sessions = SECTION(cfg_sessions_keys);

/* credentials: how users prove who they are for clusters with charging: user. */
static const struct cfg_key cfg_credentials_keys[] = {
	{ .name = "ca_dir", .type = CFG_PATH, .off = OFF(cred_ca_dir),
	  .def = "/etc/grid-security/certificates" },
	{ .name = "gridmap", .type = CFG_PATH, .off = OFF(cred_gridmap),
	  .def = "/etc/grid-security/grid-mapfile" },
	{ .name = "require_crl", .type = CFG_BOOL, .off = OFF(cred_require_crl),
	  .def = "false" },
	{ .name = "myproxy", .type = CFG_HOSTPORT, .off = OFF(cred_myproxy) },
	{ .name = "myproxy_lifetime", .type = CFG_DURATION,
	  .off = OFF(cred_myproxy_lifetime), .min = MINUTE, .max = 7 * DAY,
	  .def = "12h" },
	{ .name = "myproxy_max_inflight", .type = CFG_INT,
	  .off = OFF(cred_myproxy_max), .min = 1, .max = 256, .def = "8" },
	{ .name = "myproxy_max_inflight_per_user", .type = CFG_INT,
	  .off = OFF(cred_myproxy_max_user), .min = 1, .max = 256, .def = "1" },
	{ .name = "certificate_lifetime", .type = CFG_DURATION,
	  .off = OFF(cred_cert_lifetime), .min = MINUTE, .max = 7 * DAY,
	  .def = "12h" },
	{ .name = "from_login", .type = CFG_BOOL, .off = OFF(cred_from_login),
	  .def = "false" },
	{ .name = "allow_independent_proxies", .type = CFG_BOOL,
	  .off = OFF(cred_allow_independent), .def = "false" },
};
static const struct cfg_section cfg_credentials = SECTION(cfg_credentials_keys);
/* accounting: where community-account jobs are reported (daemon/outbox.c) */
static const struct cfg_key cfg_retry_keys[] = {
	{ .name = "initial", .type = CFG_DURATION, .off = OFF(acct_retry_initial),
	  .min = 1, .max = HOUR, .def = "5s" },
	{ .name = "max", .type = CFG_DURATION, .off = OFF(acct_retry_max),
	  .min = 1, .max = DAY, .def = "10m" },
};
static const struct cfg_section cfg_retry =
    CHECKED(cfg_retry_keys, cfg_check_retry);
static const struct cfg_key cfg_accounting_keys[] = {
	{ .name = "endpoint", .type = CFG_STRING, .off = OFF(acct_endpoint),
	  .def = "", .check = cfg_check_url },
	{ .name = "token_file", .type = CFG_PATH, .off = OFF(acct_token_file) },
	{ .name = "ca_file", .type = CFG_PATH, .off = OFF(acct_ca_file) },
	{ .name = "timeout", .type = CFG_DURATION, .off = OFF(acct_timeout),
	  .min = 1, .max = 5 * MINUTE, .def = "10s" },
	{ .name = "retry", .type = CFG_SECTION, .sub = &cfg_retry },
	{ .name = "gateway_name", .type = CFG_STRING, .off = OFF(acct_gateway_name),
	  .def = "nbgate", .check = cfg_check_line },
};
static const struct cfg_section cfg_accounting = SECTION(cfg_accounting_keys);

/*
 * clusters: { NAME: { ..., queues: { NAME: { walltime: {min, default, max},
 * ... } }, containers: { NAME: {...} } } }. A limit table is always min,
 * default, max in that order: cfg_check_limit() relies on it.
 */
#define LIMIT(t, f, lo, hi, mindef, req, dflt)				\
	{ .name = "min", .type = (t), .off = QOFF(f##_min), .min = (lo),	\
	  .max = (hi), .def = (mindef) },					\
	{ .name = "default", .type = (t), .off = QOFF(f##_def), .min = (lo),	\
	  .max = (hi), .required = (req), .def = (dflt) },			\
	{ .name = "max", .type = (t), .off = QOFF(f##_max), .min = (lo),	\
	  .max = (hi), .required = (req), .def = (dflt) }
static const struct cfg_key cfg_walltime_keys[] = {
	LIMIT(CFG_DURATION, walltime, 1, 365 * DAY, "1m", 1, NULL),
};
static const struct cfg_section cfg_walltime =
    CHECKED(cfg_walltime_keys, cfg_check_limit);
static const struct cfg_key cfg_cores_keys[] = {
	LIMIT(CFG_INT, cores, 1, 100000, "1", 1, NULL),
};
static const struct cfg_section cfg_cores =
    CHECKED(cfg_cores_keys, cfg_check_limit);
static const struct cfg_key cfg_memory_keys[] = {
	LIMIT(CFG_SIZE, memory, MiB, 1024 * 1024 * GiB, "1MiB", 1,
	    NULL),
};
static const struct cfg_section cfg_memory =
    CHECKED(cfg_memory_keys, cfg_check_limit);
static const struct cfg_key cfg_gpus_keys[] = {
	LIMIT(CFG_INT, gpus, 0, 1024, "0", 0, "0"),
};
static const struct cfg_section cfg_gpus =
    CHECKED(cfg_gpus_keys, cfg_check_limit);

static const struct cfg_key cfg_queue_keys[] = {
	{ .name = "description", .type = CFG_STRING, .off = QOFF(description),
	  .def = "", .check = cfg_check_line },
	{ .name = "walltime", .type = CFG_SECTION, .sub = &cfg_walltime,
	  .required = 1 },
	{ .name = "cores", .type = CFG_SECTION, .sub = &cfg_cores,
	  .required = 1 },
	{ .name = "memory", .type = CFG_SECTION, .sub = &cfg_memory,
	  .required = 1 },
	{ .name = "gpus", .type = CFG_SECTION, .sub = &cfg_gpus },
	{ .name = "reservation", .type = CFG_STRING, .off = QOFF(reservation),
	  .def = "", .check = cfg_check_sched_name_opt },
	{ .name = "qos", .type = CFG_STRING, .off = QOFF(qos), .def = "",
	  .check = cfg_check_sched_name_opt },
	{ .name = "template", .type = CFG_PATH, .off = QOFF(template) },
};
static const struct cfg_section cfg_queue = SECTION(cfg_queue_keys);

static const struct cfg_key cfg_container_keys[] = {
	{ .name = "image", .type = CFG_STRING, .off = IOFF(image), .def = "",
	  .check = cfg_check_image },
	{ .name = "runtime", .type = CFG_ENUM, .off = IOFF(runtime),
	  .choices = cfg_runtimes, .def = "singularity" },
	{ .name = "description", .type = CFG_STRING,
	  .off = IOFF(description), .def = "", .check = cfg_check_line },
};
static const struct cfg_section cfg_container =
    CHECKED(cfg_container_keys, cfg_check_container);

static const struct cfg_key cfg_cluster_keys[] = {
	{ .name = "scheduler", .type = CFG_ENUM, .off = KOFF(scheduler),
	  .choices = cfg_schedulers, .required = 1 },
	{ .name = "transport", .type = CFG_ENUM, .off = KOFF(transport),
	  .choices = cfg_transports, .def = "local" },
	{ .name = "login_host", .type = CFG_HOSTPORT, .off = KOFF(login_host) },
	{ .name = "login_host_key", .type = CFG_STRING,
	  .off = KOFF(login_host_key), .check = cfg_check_hostkey },
	{ .name = "login_user", .type = CFG_STRING, .off = KOFF(login_user),
	  .check = cfg_check_user },
	{ .name = "login_key", .type = CFG_PATH, .off = KOFF(login_key) },
	{ .name = "user_ca_key", .type = CFG_PATH, .off = KOFF(user_ca_key) },
	{ .name = "slurm_conf", .type = CFG_PATH, .off = KOFF(slurm_conf) },
	{ .name = "template", .type = CFG_PATH, .off = KOFF(template) },
	{ .name = "charging", .type = CFG_ENUM, .off = KOFF(charging),
	  .choices = cfg_chargings, .def = "community" },
	{ .name = "community_account", .type = CFG_STRING,
	  .off = KOFF(community_account), .def = "",
	  .check = cfg_check_sched_name_opt },
	{ .name = "accounts", .type = CFG_STRLIST, .off = KOFF(accounts),
	  .count_off = KOFF(naccounts), .check = cfg_check_sched_name },
	{ .name = "poll_interval", .type = CFG_DURATION,
	  .off = KOFF(poll_interval), .min = 1, .max = 10 * MINUTE,
	  .def = "10s" },
	{ .name = "prologue", .type = CFG_STRING, .off = KOFF(prologue),
	  .def = "" },
	{ .name = "epilogue", .type = CFG_STRING, .off = KOFF(epilogue),
	  .def = "" },
	{ .name = "extra_directives", .type = CFG_STRLIST,
	  .off = KOFF(extra_directives), .count_off = KOFF(nextra_directives),
	  .check = cfg_check_directive },
	{ .name = "output_dir", .type = CFG_STRING, .off = KOFF(output_dir),
	  .def = ".nbgate/jobs", .check = cfg_check_output_dir },
	{ .name = "workdir", .type = CFG_STRING, .off = KOFF(workdir),
	  .def = "$HOME/nbgate/{user}", .check = cfg_check_workdir },
	{ .name = "agent", .type = CFG_STRING, .off = KOFF(agent),
	  .def = "nbgate-agent", .check = cfg_check_line },
	{ .name = "default_queue", .type = CFG_STRING,
	  .off = KOFF(default_queue), .check = cfg_check_sched_name,
	  .required = 1 },
	{ .name = "queues", .type = CFG_MAPOF, .off = KOFF(queues),
	  .count_off = KOFF(nqueues), .sub = &cfg_queue,
	  .elem_size = sizeof(struct config_queue), .max = 256,
	  .check = cfg_check_sched_name, .required = 1 },
	{ .name = "default_container", .type = CFG_STRING,
	  .off = KOFF(default_container), .check = cfg_check_sched_name,
	  .required = 1 },
	{ .name = "containers", .type = CFG_MAPOF, .off = KOFF(containers),
	  .count_off = KOFF(ncontainers), .sub = &cfg_container,
	  .elem_size = sizeof(struct config_container), .max = 256,
	  .check = cfg_check_sched_name, .required = 1 },
	{ .name = "binds", .type = CFG_STRLIST, .off = KOFF(binds),
	  .count_off = KOFF(nbinds), .check = cfg_check_bind },
	{ .name = "node_addresses", .type = CFG_STRLIST,
	  .off = KOFF(node_addresses), .count_off = KOFF(nnode_addresses),
	  .check = cfg_check_cidr },
};
static const struct cfg_section cfg_cluster =
    CHECKED(cfg_cluster_keys, cfg_check_cluster);

static const struct cfg_key cfg_top_keys[] = {
	{ .name = "state_dir", .type = CFG_PATH, .off = OFF(state_dir),
	  .def = "/var/lib/nbgate" },
	{ .name = "public_url", .type = CFG_STRING, .off = OFF(public_url),
	  .def = "", .check = cfg_check_url },
	{ .name = "log", .type = CFG_SECTION, .sub = &cfg_log },
	{ .name = "listen", .type = CFG_SECTION, .sub = &cfg_listen },
	{ .name = "tls", .type = CFG_SECTION, .sub = &cfg_tls },
	{ .name = "ssh", .type = CFG_SECTION, .sub = &cfg_ssh },
	{ .name = "proxy", .type = CFG_SECTION, .sub = &cfg_proxy },
	{ .name = "auth", .type = CFG_SECTION, .sub = &cfg_auth },
	{ .name = "sessions", .type = CFG_SECTION, .sub = &cfg_sessions },
	{ .name = "credentials", .type = CFG_SECTION, .sub = &cfg_credentials },
	{ .name = "accounting", .type = CFG_SECTION, .sub = &cfg_accounting },
	{ .name = "clusters", .type = CFG_MAPOF, .off = OFF(clusters),
	  .count_off = OFF(nclusters), .sub = &cfg_cluster,
	  .elem_size = sizeof(struct config_cluster), .max = 64,
	  .check = cfg_check_cluster_name },
};
static const struct cfg_section cfg_top = CHECKED(cfg_top_keys, cfg_check_top);

#define FIELD(base, off, type)	((type *)((char *)(base) + (off)))

/* Parses decimal digits, clamping to LLONG_MAX; -1 if there are none. */
static int
cfg_digits(const char *s, long long *v, const char **end)
{
	long long	n = 0;

	if (!isdigit((u_char)*s))
		return (-1);
	for (; isdigit((u_char)*s); s++) {
		if (n > (LLONG_MAX - 9) / 10)
			n = LLONG_MAX;
		else
			n = n * 10 + (*s - '0');
	}
	*v = n;
	*end = s;
	return (0);
}

/* Multiplies, clamping to LLONG_MAX. */
static long long
cfg_scale(long long v, long long unit)
{
	return (v > LLONG_MAX / unit ? LLONG_MAX : v * unit);
}

/* Writes seconds in the largest unit that divides them: 30s, 5m, 2h, 7d. */
static void
cfg_fmt_duration(char *buf, size_t len, long long v)
{
	if (v != 0 && v % DAY == 0)
		snprintf(buf, len, "%lldd", v / DAY);
	else if (v != 0 && v % HOUR == 0)
		snprintf(buf, len, "%lldh", v / HOUR);
	else if (v != 0 && v % MINUTE == 0)
		snprintf(buf, len, "%lldm", v / MINUTE);
	else
		snprintf(buf, len, "%llds", v);
}

/* Writes bytes in the largest binary unit that divides them. */
static void
cfg_fmt_size(char *buf, size_t len, long long v)
{
	if (v != 0 && v % (1024 * MiB) == 0)
		snprintf(buf, len, "%lldGiB", v / (1024 * MiB));
	else if (v != 0 && v % MiB == 0)
		snprintf(buf, len, "%lldMiB", v / MiB);
	else if (v != 0 && v % KiB == 0)
		snprintf(buf, len, "%lldKiB", v / KiB);
	else
		snprintf(buf, len, "%lld", v);
}

/* Checks v against the key's range; the message shows it in the key's unit. */
static int
cfg_range(const struct cfg_key *k, const char *s, long long v, char **problem)
{
	char	lo[32], hi[32];

	if (v >= k->min && v <= k->max)
		return (0);
	if (k->type == CFG_DURATION) {
		cfg_fmt_duration(lo, sizeof lo, k->min);
		cfg_fmt_duration(hi, sizeof hi, k->max);
	} else if (k->type == CFG_SIZE) {
		cfg_fmt_size(lo, sizeof lo, k->min);
		cfg_fmt_size(hi, sizeof hi, k->max);
	} else {
		snprintf(lo, sizeof lo, "%lld", k->min);
		snprintf(hi, sizeof hi, "%lld", k->max);
	}
	xasprintf(problem, "'%s' is out of range (%s to %s)", s, lo, hi);
	return (-1);
}

/* Replaces a string field; NULL-safe on the old value. */
static void
cfg_replace(void *base, size_t off, const char *s)
{
	char	**p = FIELD(base, off, char *);

	free(*p);
	*p = xstrdup(s);
}

static int
cfg_set_string(const struct cfg_key *k, void *base, const char *s,
    char **problem)
{
	if (k->check != NULL && k->check(s, problem) == -1)
		return (-1);
	cfg_replace(base, k->off, s);
	return (0);
}

/* An absolute path, stored without trailing slashes. */
static int
cfg_set_path(const struct cfg_key *k, void *base, const char *s,
    char **problem)
{
	char	*copy;
	size_t	 len;

	if (*s != '/') {
		xasprintf(problem, "'%s' is not an absolute path", s);
		return (-1);
	}
	copy = xstrdup(s);
	len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	cfg_replace(base, k->off, copy);
	free(copy);
	return (0);
}

static int
cfg_set_bool(const struct cfg_key *k, void *base, const char *s,
    char **problem)
{
	int	*p = FIELD(base, k->off, int);

	if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0)
		*p = 1;
	else if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0)
		*p = 0;
	else {
		xasprintf(problem, "'%s' is not a boolean (true, false, yes, no)",
		    s);
		return (-1);
	}
	return (0);
}

static int
cfg_set_int(const struct cfg_key *k, void *base, const char *s,
    char **problem)
{
	const char	*end;
	long long	 v;
	int		 neg = (*s == '-');

	if (cfg_digits(s + neg, &v, &end) == -1 || *end != '\0') {
		xasprintf(problem, "'%s' is not an integer (%lld to %lld)", s,
		    k->min, k->max);
		return (-1);
	}
	if (neg)
		v = -v;
	if (cfg_range(k, s, v, problem) == -1)
		return (-1);
	*FIELD(base, k->off, int) = (int)v;
	return (0);
}

static int
cfg_set_duration(const struct cfg_key *k, void *base, const char *s,
    char **problem)
{
	static const char	 units[] = "smhd";
	static const long long	 mult[] = { 1, MINUTE, HOUR, DAY };
	const char		*end, *u;
	long long		 v;

	if (cfg_digits(s, &v, &end) == -1)
		goto bad;
	if (*end != '\0') {
		if (end[1] != '\0' || (u = strchr(units, *end)) == NULL)
			goto bad;
		v = cfg_scale(v, mult[u - units]);
	}
	if (cfg_range(k, s, v, problem) == -1)
		return (-1);
	*FIELD(base, k->off, int) = (int)v;
	return (0);
bad:
	xasprintf(problem, "'%s' is not a duration (e.g. 30s, 5m, 2h)", s);
	return (-1);
}

static int
cfg_set_size(const struct cfg_key *k, void *base, const char *s,
    char **problem)
{
	static const char	*units[] = { "", "B", "K", "KiB", "M", "MiB",
				    "G", "GiB" };
	static const long long	 mult[] = { 1, 1, KiB, KiB, MiB, MiB,
				    1024 * MiB, 1024 * MiB };
	const char		*end;
	long long		 v;
	size_t			 i;

	if (cfg_digits(s, &v, &end) == -1)
		goto bad;
	for (i = 0; i < nitems(units); i++) {
		if (strcasecmp(end, units[i]) == 0)
			break;
	}
	if (i == nitems(units))
		goto bad;
	v = cfg_scale(v, mult[i]);
	if (cfg_range(k, s, v, problem) == -1)
		return (-1);
	*FIELD(base, k->off, size_t) = (size_t)v;
	return (0);
bad:
	xasprintf(problem, "'%s' is not a size (e.g. 65536, 16KiB, 1MiB)", s);
	return (-1);
}

static int
cfg_set_hostport(const struct cfg_key *k, void *base, const char *s,
    char **problem)
{
	char	*host = NULL;
	int	 port;

	if (util_parse_hostport(s, &host, &port, problem) == -1)
		return (-1);
	free(host);
	cfg_replace(base, k->off, s);
	return (0);
}

static int
cfg_set_loglevel(const struct cfg_key *k, void *base, const char *s,
    char **problem)
{
	int	level;

	if ((level = log_level_parse(s)) == -1) {
		xasprintf(problem,
		    "'%s' is not a log level (error, warning, info, debug)", s);
		return (-1);
	}
	*FIELD(base, k->off, int) = level;
	return (0);
}

/* One word from the key's list of choices, stored as its index. */
static int
cfg_set_enum(const struct cfg_key *k, void *base, const char *s,
    char **problem)
{
	char	*list = NULL, *old;
	size_t	 i;

	for (i = 0; k->choices[i] != NULL; i++) {
		if (strcmp(s, k->choices[i]) == 0) {
			*FIELD(base, k->off, int) = (int)i;
			return (0);
		}
	}
	for (i = 0; k->choices[i] != NULL; i++) {
		old = list;
		xasprintf(&list, "%s%s%s", old == NULL ? "" : old,
		    old == NULL ? "" : ", ", k->choices[i]);
		free(old);
	}
	xasprintf(problem, "'%s' is not one of: %s", s, list);
	free(list);
	return (-1);
}

static const struct cfg_type_info cfg_types[] = {
	[CFG_STRING] = { "a string", cfg_set_string },
	[CFG_PATH] = { "an absolute path", cfg_set_path },
	[CFG_BOOL] = { "a boolean (true, false, yes, no)", cfg_set_bool },
	[CFG_INT] = { "an integer", cfg_set_int },
	[CFG_DURATION] = { "a duration (e.g. 30s, 5m, 2h)", cfg_set_duration },
	[CFG_SIZE] = { "a size (e.g. 65536, 16KiB, 1MiB)", cfg_set_size },
	[CFG_HOSTPORT] = { "host:port", cfg_set_hostport },
	[CFG_LOGLEVEL] = { "a log level (error, warning, info, debug)",
	    cfg_set_loglevel },
	[CFG_STRLIST] = { "a list of strings", NULL },
	[CFG_SECTION] = { "a map of settings", NULL },
	[CFG_ENUM] = { "one word from a list", cfg_set_enum },
	[CFG_MAPOF] = { "a map of names to settings", NULL },
};

/* User names as useradd accepts them by default. */
static int
cfg_check_user(const char *s, char **problem)
{
	if (util_user_name_valid(s))
		return (0);
	xasprintf(problem, "'%s' is not a user name ([a-z_][a-z0-9_.-]{0,31})",
	    s);
	return (-1);
}

/* Empty (derive from the request) or an http(s) URL. */
static int
cfg_check_url(const char *s, char **problem)
{
	if (*s == '\0' || strncmp(s, "https://", 8) == 0 ||
	    strncmp(s, "http://", 7) == 0)
		return (0);
	xasprintf(problem, "'%s' is not an http:// or https:// URL", s);
	return (-1);
}

/* True if s is made only of characters in set, with a length in 1..max. */
static int
cfg_charset(const char *s, const char *set, size_t max)
{
	size_t	len = strlen(s);

	return (len >= 1 && len <= max && strspn(s, set) == len);
}

#define CFG_ALNUM	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* Cluster names appear in URLs, logs and paths: [a-z0-9_-], 32 at most. */
static int
cfg_check_cluster_name(const char *s, char **problem)
{
	if (cfg_charset(s, "abcdefghijklmnopqrstuvwxyz0123456789_-", 32) &&
	    *s != '-')
		return (0);
	xasprintf(problem, "'%s' is not a cluster name (lowercase letters, "
	    "digits, '_', '-'; at most 32)", s);
	return (-1);
}

/*
 * Queue, account, reservation, QOS and container names. Queue, account,
 * reservation and QOS go into #SBATCH/#PBS lines unquoted, so they are held
 * to a charset that needs no quoting and cannot start an option.
 */
static int
cfg_check_sched_name(const char *s, char **problem)
{
	if (util_batch_name_valid(s))
		return (0);
	xasprintf(problem, "'%s' is not a scheduler name (letters, digits, "
	    "'_', '.', '-'; at most 64; not starting with '-' or '.')", s);
	return (-1);
}

/* A PAM service: a file name in /etc/pam.d. */
static int
cfg_check_pam_service(const char *s, char **problem)
{
	if (*s != '\0' && cfg_charset(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-",
	    64) && *s != '.')
		return (0);
	xasprintf(problem, "'%s' is not a PAM service name (lowercase letters, "
	    "digits, '_', '.', '-'; at most 64; not starting with '.')", s);
	return (-1);
}

/* An https:// URL without spaces, query or fragment (an OIDC issuer). */
static int
cfg_check_https(const char *s, char **problem)
{
	if (strncmp(s, "https://", 8) == 0 && s[8] != '\0' && s[8] != '/' &&
	    cfg_charset(s, CFG_ALNUM ":/._~%-", 512))
		return (0);
	xasprintf(problem, "'%s' is not an https:// URL without query (e.g. "
	    "https://cilogon.org)", s);
	return (-1);
}

/* proxy.user_hosts: "" or a host name with one {user}, e.g. {user}.nb.example.org. */
static int
cfg_check_user_hosts(const char *s, char **problem)
{
	const char	*u = strstr(s, "{user}");

	if (*s == '\0' || (u != NULL && strstr(u + 1, "{user}") == NULL &&
	    strcspn(s, "{") == (size_t)(u - s) && strchr(u + 6, '{') == NULL &&
	    cfg_charset(s, "abcdefghijklmnopqrstuvwxyz0123456789.-{}", 253) &&
	    (u[6] == '.' || u[6] == '-') && strchr(u + 6, '.') != NULL))
		return (0);
	xasprintf(problem, "'%s' is not a host name pattern: expected one {user} "
	    "followed by the rest of a name, e.g. {user}.nb.example.org (lowercase, "
	    "no port)", s);
	return (-1);
}

/* A browser origin: http(s)://HOST[:PORT], nothing after it. */
static int
cfg_check_origin(const char *s, char **problem)
{
	const char	*h = NULL;

	if (strncmp(s, "https://", 8) == 0)
		h = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		h = s + 7;
	if (h != NULL && *h != '\0' && *h != ':' && strpbrk(h, "/?#@") == NULL &&
	    cfg_charset(h, CFG_ALNUM ":.-[]", 300))
		return (0);
	xasprintf(problem, "'%s' is not an origin: expected https://HOST or "
	    "https://HOST:PORT, without a path", s);
	return (-1);
}

/* One printable word: no spaces or control characters, at most 256. */
static int
cfg_check_word(const char *s, char **problem)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if ((u_char)s[i] <= 0x20 || (u_char)s[i] == 0x7f)
			break;
	}
	if (i > 0 && s[i] == '\0' && i <= 256)
		return (0);
	xasprintf(problem, "'%s' is not one word (printable, no spaces, at "
	    "most 256 characters)", s);
	return (-1);
}

/* The same, or empty for "none". */
static int
cfg_check_word_opt(const char *s, char **problem)
{
	return (*s == '\0' ? 0 : cfg_check_word(s, problem));
}

/* A button's label: one line, 1 to 64 bytes. */
static int
cfg_check_label(const char *s, char **problem)
{
	if (*s != '\0' && strlen(s) <= 64 && cfg_check_line(s, problem) == 0)
		return (0);
	free(*problem);
	*problem = NULL;
	xasprintf(problem, "must be one line of 1 to 64 characters");
	return (-1);
}

/* The same, or empty for "none". */
static int
cfg_check_sched_name_opt(const char *s, char **problem)
{
	if (*s == '\0')
		return (0);
	return (cfg_check_sched_name(s, problem));
}

/* One line of text: no control characters. */
static int
cfg_check_line(const char *s, char **problem)
{
	const char	*p;

	for (p = s; *p != '\0'; p++) {
		if (iscntrl((u_char)*p)) {
			xasprintf(problem, "must be one line without control "
			    "characters");
			return (-1);
		}
	}
	return (0);
}

/* An OpenID Connect subject: 1 to 255 characters, no control characters. */
static int
cfg_check_sub(const char *s, char **problem)
{
	if (*s == '\0' || strlen(s) > 255) {
		xasprintf(problem, "must be 1 to 255 characters");
		return (-1);
	}
	return (cfg_check_line(s, problem));
}

/* A container image: empty, an absolute path, or a scheme://reference. */
static int
cfg_check_image(const char *s, char **problem)
{
	const char	*p;

	for (p = s; *p != '\0'; p++) {
		if (iscntrl((u_char)*p) || isspace((u_char)*p))
			goto bad;
	}
	if (*s == '\0' || *s == '/' || (strstr(s, "://") != NULL && *s != ':'))
		return (0);
bad:
	xasprintf(problem, "'%s' is not an image path or URI (e.g. "
	    "/shared/images/scipy.sif, docker://jupyter/scipy-notebook)", s);
	return (-1);
}

/* A pinned SSH host key: "type base64" as in known_hosts, no host name. */
static int
cfg_check_hostkey(const char *s, char **problem)
{
	const char	*sp = strchr(s, ' ');
	char		*type = NULL, *b64 = NULL;
	ssh_key		 key = NULL;
	int		 rc = -1;

	if (sp == NULL)
		goto out;
	type = xstrndup(s, sp - s);
	sp += strspn(sp, " ");
	b64 = xstrndup(sp, strcspn(sp, " "));
	if (ssh_key_type_from_name(type) == SSH_KEYTYPE_UNKNOWN ||
	    ssh_pki_import_pubkey_base64(b64, ssh_key_type_from_name(type),
	    &key) != SSH_OK)
		goto out;
	rc = 0;
out:
	if (rc == -1) {
		xasprintf(problem, "not an OpenSSH public key (\"ssh-ed25519 "
		    "AAAA...\", as in the login node's ssh_host_*_key.pub)");
	}
	ssh_key_free(key);
	free(type);
	free(b64);
	return (rc);
}

/* An admin's extra #SBATCH/#PBS option: one line, starting with '-'. */
static int
cfg_check_directive(const char *s, char **problem)
{
	if (*s == '-' && cfg_check_line(s, problem) == 0)
		return (0);
	free(*problem);
	*problem = NULL;
	xasprintf(problem, "'%s' is not one scheduler option on one line "
	    "(e.g. --qos=normal)", s);
	return (-1);
}

/* A container bind: SRC[:DST[:OPTS]], absolute paths, no spaces or commas. */
static int
cfg_check_bind(const char *s, char **problem)
{
	if (*s == '/' && cfg_charset(s, CFG_ALNUM "_./:+@-", 1024))
		return (0);
	xasprintf(problem, "'%s' is not a bind (/path or /src:/dst[:ro]; "
	    "letters, digits and _./:+@- only)", s);
	return (-1);
}

/* An IP address or a CIDR block (node_addresses). */
static int
cfg_check_cidr(const char *s, char **problem)
{
	if (util_addr_match("::", s) != -1)
		return (0);
	xasprintf(problem, "'%s' is not an IP address or CIDR block (e.g. "
	    "10.1.0.0/16, 192.0.2.7, 2001:db8::/32)", s);
	return (-1);
}

/*
 * Where job output goes: it is written into #SBATCH/#PBS lines, so only a
 * quiet charset; relative paths are relative to the job's submit directory.
 */
static int
cfg_check_output_dir(const char *s, char **problem)
{
	if (cfg_charset(s, CFG_ALNUM "_./-", 512) && *s != '-')
		return (0);
	xasprintf(problem, "'%s' is not an output directory (letters, digits "
	    "and _./- only)", s);
	return (-1);
}

/*
 * Each user's working directory: "$HOME/..." (the job's home) or an
 * absolute path, with {user} in it (one directory per gateway user, the
 * point of it on a community account), no "." or ".." segment.
 */
static int
cfg_check_workdir(const char *s, char **problem)
{
	const char	*rest = strncmp(s, "$HOME/", 6) == 0 ? s + 6 : s;
	char		*copy = xstrdup(rest), *seg, *save = NULL;
	int		 ok;

	ok = (rest != s || *s == '/') && strstr(s, "{user}") != NULL &&
	    cfg_charset(rest, CFG_ALNUM "_./-{}", 512);
	for (seg = copy; ok && (seg = strstr(seg, "{user}")) != NULL; )
		memcpy(seg, "uuuuuu", 6);	/* no braces but {user}'s */
	ok = ok && strpbrk(copy, "{}") == NULL;
	for (seg = strtok_r(copy, "/", &save); ok && seg != NULL;
	    seg = strtok_r(NULL, "/", &save))
		ok = strcmp(seg, ".") != 0 && strcmp(seg, "..") != 0;
	free(copy);
	if (ok)
		return (0);
	xasprintf(problem, "'%s' is not a working directory ($HOME/... or an "
	    "absolute path containing {user}; letters, digits and _./- only, "
	    "no . or .. segments)", s);
	return (-1);
}

/* Adds one "FILE:LINE: PATH: problem" line; control characters become '?'. */
static void NB_PRINTF(4, 5)
cfg_error(struct cfg_ctx *ctx, size_t line, const char *path,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg, *text, *old = ctx->errors;
	size_t	 i;

	if (++ctx->nerrors > CONFIG_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (path != NULL && *path != '\0')
		xasprintf(&text, "%s:%zu: %s: %s", ctx->name, line, path, msg);
	else
		xasprintf(&text, "%s:%zu: %s", ctx->name, line, msg);
	free(msg);
	if (strlen(text) > CONFIG_MAX_LINE)
		memcpy(text + CONFIG_MAX_LINE - 3, "...", 4);
	for (i = 0; text[i] != '\0'; i++) {
		if (iscntrl((u_char)text[i]))
			text[i] = '?';
	}
	if (old == NULL)
		ctx->errors = text;
	else {
		xasprintf(&ctx->errors, "%s\n%s", old, text);
		free(old);
		free(text);
	}
}

/* The 1-based line a node starts on. */
static size_t
cfg_line(yaml_node_t *node)
{
	return (node->start_mark.line + 1);
}

/* A node's kind in words, for "expected X, got Y". */
static const char *
cfg_kind(yaml_node_t *node)
{
	switch (node->type) {
	case YAML_MAPPING_NODE:
		return ("a map");
	case YAML_SEQUENCE_NODE:
		return ("a list");
	default:
		return ("a single value");
	}
}

/* True for a plain empty, ~ or null scalar: "key:" with nothing after it. */
static int
cfg_is_null(yaml_node_t *node)
{
	const char	*s;

	if (node->type != YAML_SCALAR_NODE ||
	    node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return (0);
	s = (const char *)node->data.scalar.value;
	return (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0);
}

/* A scalar's text, or NULL if it holds a NUL byte (C strings can't). */
static const char *
cfg_text(yaml_node_t *node)
{
	const char	*s = (const char *)node->data.scalar.value;

	if (strlen(s) != node->data.scalar.length)
		return (NULL);
	return (s);
}

/* Optimal string alignment distance, for "did you mean". */
static size_t
cfg_distance(const char *a, const char *b)
{
	size_t	d[CONFIG_MAX_KEY + 1][CONFIG_MAX_KEY + 1];
	size_t	la = strlen(a), lb = strlen(b), i, j, v;

	if (la > CONFIG_MAX_KEY || lb > CONFIG_MAX_KEY)
		return (SIZE_MAX);
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return (d[la][lb]);
}

/* Reports an unknown key with the closest known one, or the list of them. */
static void
cfg_unknown(struct cfg_ctx *ctx, const struct cfg_section *sec,
    yaml_node_t *node, const char *path, const char *name)
{
	const char	*best = NULL;
	char		*list = NULL, *old;
	size_t		 i, d, bestd = SIZE_MAX;

	for (i = 0; i < sec->nkeys; i++) {
		d = cfg_distance(name, sec->keys[i].name);
		if (d < bestd && d <= 1 + strlen(sec->keys[i].name) / 5) {
			best = sec->keys[i].name;
			bestd = d;
		}
	}
	if (best != NULL) {
		cfg_error(ctx, cfg_line(node), path,
		    "unknown key (did you mean '%s'?)", best);
		return;
	}
	for (i = 0; i < sec->nkeys; i++) {
		old = list;
		xasprintf(&list, "%s%s%s", old == NULL ? "" : old,
		    old == NULL ? "" : ", ", sec->keys[i].name);
		free(old);
	}
	cfg_error(ctx, cfg_line(node), path, "unknown key (known keys: %s)",
	    list);
	free(list);
}

/* Frees a string list field and its count. */
static void
cfg_free_list(void *base, const struct cfg_key *k)
{
	char	**list = *FIELD(base, k->off, char **);
	size_t	  i, n = *FIELD(base, k->count_off, size_t);

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	*FIELD(base, k->off, char **) = NULL;
	*FIELD(base, k->count_off, size_t) = 0;
}

/* Sets a list of strings from a YAML sequence; null means empty. */
static void
cfg_walk_list(struct cfg_ctx *ctx, const struct cfg_key *k, yaml_node_t *node,
    void *base, const char *path)
{
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	const char		*s;
	char			**list, *problem = NULL;
	size_t			 n = 0, idx;

	cfg_free_list(base, k);
	if (cfg_is_null(node))
		return;
	if (node->type != YAML_SEQUENCE_NODE) {
		cfg_error(ctx, cfg_line(node), path, "expected %s, got %s",
		    cfg_types[k->type].what, cfg_kind(node));
		return;
	}
	it = node->data.sequence.items.start;
	list = xreallocarray(NULL, node->data.sequence.items.top - it,
	    sizeof *list);
	for (idx = 0; it < node->data.sequence.items.top; it++, idx++) {
		item = yaml_document_get_node(ctx->doc, *it);
		if (item == NULL || item->type != YAML_SCALAR_NODE ||
		    cfg_is_null(item) || (s = cfg_text(item)) == NULL) {
			cfg_error(ctx, item == NULL ? cfg_line(node) :
			    cfg_line(item), path, "item %zu: expected a string",
			    idx + 1);
		} else if (k->check != NULL && k->check(s, &problem) == -1) {
			cfg_error(ctx, cfg_line(item), path, "item %zu: %s",
			    idx + 1, problem);
			free(problem);
			problem = NULL;
		} else
			list[n++] = xstrdup(s);
	}
	*FIELD(base, k->off, char **) = list;
	*FIELD(base, k->count_off, size_t) = n;
}

/* Sets one scalar value through its type's parser. */
static void
cfg_walk_scalar(struct cfg_ctx *ctx, const struct cfg_key *k,
    yaml_node_t *node, void *base, const char *path)
{
	const char	*what = cfg_types[k->type].what, *s;
	char		*problem = NULL;

	if (node->type != YAML_SCALAR_NODE) {
		cfg_error(ctx, cfg_line(node), path, "expected %s, got %s",
		    what, cfg_kind(node));
		return;
	}
	if (cfg_is_null(node)) {
		cfg_error(ctx, cfg_line(node), path,
		    "missing value (expected %s; remove the key for the default)",
		    what);
		return;
	}
	if ((s = cfg_text(node)) == NULL) {
		cfg_error(ctx, cfg_line(node), path, "value contains a NUL byte");
		return;
	}
	if (cfg_types[k->type].set(k, base, s, &problem) == -1) {
		cfg_error(ctx, cfg_line(node), path, "%s", problem);
		free(problem);
	}
}

static void	cfg_walk_section(struct cfg_ctx *, const struct cfg_section *,
		    yaml_node_t *, void *, const char *, size_t);
static void	cfg_defaults(const struct cfg_section *, void *);

/* The element of a CFG_MAPOF array called name, or NULL. */
static const struct cfg_elem *
cfg_elem_find(const void *array, size_t n, size_t size, const char *name)
{
	const struct cfg_elem	*e;
	size_t			 i;

	for (i = 0; i < n; i++) {
		e = (const struct cfg_elem *)((const char *)array + i * size);
		if (strcmp(e->name, name) == 0)
			return (e);
	}
	return (NULL);
}

/* Adds one named element to a CFG_MAPOF array and walks its settings. */
static void
cfg_walk_elem(struct cfg_ctx *ctx, const struct cfg_key *k,
    yaml_node_pair_t *pair, void *base, const char *prefix)
{
	void		**array = FIELD(base, k->off, void *);
	size_t		 *n = FIELD(base, k->count_off, size_t);
	yaml_node_t	 *key, *value;
	const struct cfg_elem *dup;
	struct cfg_elem	 *e;
	const char	 *name;
	char		 *path = NULL, *problem = NULL;

	key = yaml_document_get_node(ctx->doc, pair->key);
	value = yaml_document_get_node(ctx->doc, pair->value);
	if (key == NULL || value == NULL)
		return;
	if (key->type != YAML_SCALAR_NODE || (name = cfg_text(key)) == NULL) {
		cfg_error(ctx, cfg_line(key), prefix, "names must be plain words");
		return;
	}
	xasprintf(&path, "%s.%s", prefix, name);
	if (k->check != NULL && k->check(name, &problem) == -1) {
		cfg_error(ctx, cfg_line(key), path, "%s", problem);
		goto out;
	}
	if ((dup = cfg_elem_find(*array, *n, k->elem_size, name)) != NULL) {
		cfg_error(ctx, cfg_line(key), path, "duplicate name (first "
		    "used on line %zu)", dup->line);
		goto out;
	}
	*array = xreallocarray(*array, *n + 1, k->elem_size);
	e = (struct cfg_elem *)((char *)*array + *n * k->elem_size);
	memset(e, 0, k->elem_size);
	e->name = xstrdup(name);
	e->line = cfg_line(key);
	(*n)++;
	cfg_defaults(k->sub, e);
	cfg_walk_section(ctx, k->sub, value, e, path, e->line);
out:
	free(problem);
	free(path);
}

/* Walks a map of names to settings into a growing array of elements. */
static void
cfg_walk_mapof(struct cfg_ctx *ctx, const struct cfg_key *k,
    yaml_node_t *node, void *base, const char *path)
{
	yaml_node_pair_t	*pair;
	yaml_node_t		*key;

	if (cfg_is_null(node))
		return;
	if (node->type != YAML_MAPPING_NODE) {
		cfg_error(ctx, cfg_line(node), path, "expected %s, got %s",
		    cfg_types[k->type].what, cfg_kind(node));
		return;
	}
	pair = node->data.mapping.pairs.start;
	for (; pair < node->data.mapping.pairs.top; pair++) {
		if (*FIELD(base, k->count_off, size_t) >= (size_t)k->max) {
			key = yaml_document_get_node(ctx->doc, pair->key);
			cfg_error(ctx, key == NULL ? cfg_line(node) :
			    cfg_line(key), path, "too many entries (at most "
			    "%lld)", k->max);
			break;
		}
		cfg_walk_elem(ctx, k, pair, base, path);
	}
}

/* Applies one key's value, whatever its type. */
static void
cfg_walk_value(struct cfg_ctx *ctx, const struct cfg_key *k,
    yaml_node_t *node, void *base, const char *path, size_t line)
{
	switch (k->type) {
	case CFG_SECTION:
		cfg_walk_section(ctx, k->sub, node, base, path, line);
		break;
	case CFG_MAPOF:
		cfg_walk_mapof(ctx, k, node, base, path);
		break;
	case CFG_STRLIST:
		cfg_walk_list(ctx, k, node, base, path);
		break;
	default:
		cfg_walk_scalar(ctx, k, node, base, path);
		break;
	}
}

/* Finds a key in a section table; -1 if unknown. */
static ssize_t
cfg_find(const struct cfg_section *sec, const char *name)
{
	size_t	i;

	for (i = 0; i < sec->nkeys; i++) {
		if (strcmp(sec->keys[i].name, name) == 0)
			return ((ssize_t)i);
	}
	return (-1);
}

/* Handles one "key: value" pair of a section; seen[] holds first lines. */
static void
cfg_walk_pair(struct cfg_ctx *ctx, const struct cfg_section *sec,
    yaml_node_pair_t *pair, void *base, const char *prefix, size_t *seen)
{
	yaml_node_t	*key, *value;
	const char	*name;
	char		*path = NULL;
	ssize_t		 i;

	key = yaml_document_get_node(ctx->doc, pair->key);
	value = yaml_document_get_node(ctx->doc, pair->value);
	if (key == NULL || value == NULL)
		return;
	if (key->type != YAML_SCALAR_NODE || (name = cfg_text(key)) == NULL) {
		cfg_error(ctx, cfg_line(key), prefix, "keys must be plain names");
		return;
	}
	xasprintf(&path, "%s%s%s", prefix, *prefix == '\0' ? "" : ".", name);
	if ((i = cfg_find(sec, name)) == -1)
		cfg_unknown(ctx, sec, key, path, name);
	else if (seen[i] != 0) {
		cfg_error(ctx, cfg_line(key), path,
		    "duplicate key (first set on line %zu)", seen[i]);
	} else {
		seen[i] = cfg_line(key);
		cfg_walk_value(ctx, &sec->keys[i], value, base, path, seen[i]);
	}
	free(path);
}

/* Reports the required keys of a section that were not set. */
static void
cfg_required(struct cfg_ctx *ctx, const struct cfg_section *sec,
    const char *prefix, size_t line, const size_t *seen)
{
	char	*path;
	size_t	 i;

	for (i = 0; i < sec->nkeys; i++) {
		if (!sec->keys[i].required || seen[i] != 0)
			continue;
		xasprintf(&path, "%s%s%s", prefix, *prefix == '\0' ? "" : ".",
		    sec->keys[i].name);
		cfg_error(ctx, line, path, "required key is missing");
		free(path);
	}
}

/*
 * Applies a YAML map (or nothing, for "key:" with no value) to an object
 * through its section table; line is where the section is named. The
 * cross-field check runs only if every key of the section was valid.
 */
static void
cfg_walk_section(struct cfg_ctx *ctx, const struct cfg_section *sec,
    yaml_node_t *node, void *base, const char *prefix, size_t line)
{
	yaml_node_pair_t	*pair;
	size_t			*seen;
	u_int			 nerrors = ctx->nerrors;

	if (!cfg_is_null(node) && node->type != YAML_MAPPING_NODE) {
		cfg_error(ctx, cfg_line(node), prefix, "expected %s, got %s",
		    cfg_types[CFG_SECTION].what, cfg_kind(node));
		return;
	}
	seen = xcalloc(sec->nkeys, sizeof *seen);
	if (!cfg_is_null(node)) {
		pair = node->data.mapping.pairs.start;
		for (; pair < node->data.mapping.pairs.top; pair++)
			cfg_walk_pair(ctx, sec, pair, base, prefix, seen);
	}
	cfg_required(ctx, sec, prefix, line, seen);
	if (sec->check != NULL && ctx->nerrors == nerrors)
		sec->check(ctx, sec, base, prefix, line, seen);
	free(seen);
}

/* The line a section's key was set on, or 0. */
static size_t
cfg_seen(const struct cfg_section *sec, const size_t *seen, const char *name)
{
	ssize_t	i = cfg_find(sec, name);

	return (i == -1 ? 0 : seen[i]);
}

/* Reports a problem with key name of a section, at its line or at line. */
static void NB_PRINTF(7, 8)
cfg_key_error(struct cfg_ctx *ctx, const struct cfg_section *sec,
    const size_t *seen, const char *prefix, size_t line, const char *name,
    const char *fmt, ...)
{
	va_list	 ap;
	size_t	 at = cfg_seen(sec, seen, name);
	char	*msg, *path;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(&path, "%s.%s", prefix, name);
	cfg_error(ctx, at != 0 ? at : line, path, "%s", msg);
	free(path);
	free(msg);
}

/* A numeric field as long long, whatever its C type. */
static long long
cfg_get_num(const struct cfg_key *k, void *base)
{
	if (k->type == CFG_SIZE)
		return ((long long)*FIELD(base, k->off, size_t));
	return (*FIELD(base, k->off, int));
}

/* Writes a number in its key's unit. */
static void
cfg_fmt_num(const struct cfg_key *k, long long v, char *buf, size_t len)
{
	if (k->type == CFG_DURATION)
		cfg_fmt_duration(buf, len, v);
	else if (k->type == CFG_SIZE)
		cfg_fmt_size(buf, len, v);
	else
		snprintf(buf, len, "%lld", v);
}

/* accounting.retry: initial <= max. */
static void
cfg_check_retry(struct cfg_ctx *ctx, const struct cfg_section *sec,
    void *base, const char *prefix, size_t line, const size_t *seen)
{
	const struct config	*cfg = base;
	char			 a[32], b[32];

	if (cfg->acct_retry_initial > cfg->acct_retry_max) {
		cfg_fmt_duration(a, sizeof a, cfg->acct_retry_initial);
		cfg_fmt_duration(b, sizeof b, cfg->acct_retry_max);
		cfg_key_error(ctx, sec, seen, prefix, line, "max",
		    "%s is less than initial %s", b, a);
	}
}

/* walltime, cores, memory, gpus: min <= default <= max. */
static void
cfg_check_limit(struct cfg_ctx *ctx, const struct cfg_section *sec,
    void *base, const char *prefix, size_t line, const size_t *seen)
{
	const struct cfg_key	*k = sec->keys;	/* min, default, max */
	long long		 min, def, max;
	char			 a[32], b[32], c[32];

	min = cfg_get_num(&k[0], base);
	def = cfg_get_num(&k[1], base);
	max = cfg_get_num(&k[2], base);
	cfg_fmt_num(&k[0], min, a, sizeof a);
	cfg_fmt_num(&k[1], def, b, sizeof b);
	cfg_fmt_num(&k[2], max, c, sizeof c);
	if (min > max) {
		cfg_key_error(ctx, sec, seen, prefix, line, "max",
		    "%s is less than min %s", c, a);
	} else if (def < min) {
		cfg_key_error(ctx, sec, seen, prefix, line, "default",
		    "%s is less than min %s", b, a);
	} else if (def > max) {
		cfg_key_error(ctx, sec, seen, prefix, line, "default",
		    "%s is more than max %s", b, c);
	}
}

/* An image goes with a runtime, and runtime none with no image. */
static void
cfg_check_container(struct cfg_ctx *ctx, const struct cfg_section *sec,
    void *base, const char *prefix, size_t line, const size_t *seen)
{
	struct config_container	*c = base;

	if (c->runtime == CONFIG_NO_RUNTIME && *c->image != '\0') {
		cfg_key_error(ctx, sec, seen, prefix, line, "image",
		    "must be empty with runtime: none");
	} else if (c->runtime != CONFIG_NO_RUNTIME && *c->image == '\0') {
		cfg_key_error(ctx, sec, seen, prefix, line, "image",
		    "required with runtime: %s", cfg_runtimes[c->runtime]);
	}
}

/* "a, b, c" from the names of a CFG_MAPOF array or a string list. */
static char *
cfg_names(const void *array, size_t n, size_t size)
{
	char		*list = xstrdup(""), *old;
	const char	*name;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (size == 0)
			name = ((char *const *)array)[i];
		else
			name = ((const struct cfg_elem *)
			    ((const char *)array + i * size))->name;
		old = list;
		xasprintf(&list, "%s%s%s", old, i == 0 ? "" : ", ", name);
		free(old);
	}
	return (list);
}

/* default_queue and default_container name entries that exist. */
static void
cfg_check_defaults(struct cfg_ctx *ctx, const struct cfg_section *sec,
    struct config_cluster *c, const char *prefix, size_t line,
    const size_t *seen)
{
	char	*list;

	if (c->nqueues == 0) {
		cfg_key_error(ctx, sec, seen, prefix, line, "queues",
		    "at least one queue is required");
	} else if (config_queue_find(c, c->default_queue) == NULL) {
		list = cfg_names(c->queues, c->nqueues, sizeof *c->queues);
		cfg_key_error(ctx, sec, seen, prefix, line, "default_queue",
		    "'%s' is not one of the queues (%s)", c->default_queue,
		    list);
		free(list);
	}
	if (c->ncontainers == 0) {
		cfg_key_error(ctx, sec, seen, prefix, line, "containers",
		    "at least one container is required");
	} else if (config_container_find(c, c->default_container) == NULL) {
		list = cfg_names(c->containers, c->ncontainers,
		    sizeof *c->containers);
		cfg_key_error(ctx, sec, seen, prefix, line, "default_container",
		    "'%s' is not one of the containers (%s)",
		    c->default_container, list);
		free(list);
	}
}

/* transport: ssh needs where and how to log in; local must not have it. */
static void
cfg_check_transport(struct cfg_ctx *ctx, const struct cfg_section *sec,
    struct config_cluster *c, const char *prefix, size_t line,
    const size_t *seen)
{
	static const char *const names[] = { "login_host", "login_host_key",
				    "login_user", "login_key" };
	const char		*set[nitems(names)];
	size_t			 i, tline = cfg_seen(sec, seen, "transport");

	set[0] = c->login_host;
	set[1] = c->login_host_key;
	set[2] = c->login_user;
	set[3] = c->login_key;
	for (i = 0; i < nitems(names); i++) {
		if (c->transport == CONFIG_LOCAL && set[i] != NULL) {
			cfg_key_error(ctx, sec, seen, prefix, line, names[i],
			    "only used with transport: ssh");
		} else if (c->transport == CONFIG_SSH && set[i] == NULL &&
		    i < 2) {
			cfg_key_error(ctx, sec, seen, prefix, tline, names[i],
			    "required with transport: ssh");
		} else if (c->transport == CONFIG_SSH && set[i] == NULL &&
		    c->charging == CONFIG_COMMUNITY) {
			cfg_key_error(ctx, sec, seen, prefix, tline, names[i],
			    "required with transport: ssh and charging: "
			    "community");
		}
	}
}

/* charging: community needs its account, among accounts if those are set. */
static void
cfg_check_charging(struct cfg_ctx *ctx, const struct cfg_section *sec,
    struct config_cluster *c, const char *prefix, size_t line,
    const size_t *seen)
{
	size_t	 i, cline = cfg_seen(sec, seen, "charging");
	char	*list;

	if (c->charging == CONFIG_USER) {
		if (*c->community_account != '\0') {
			cfg_key_error(ctx, sec, seen, prefix, line,
			    "community_account",
			    "only used with charging: community");
		}
		if (c->transport != CONFIG_SSH) {
			cfg_key_error(ctx, sec, seen, prefix, cline != 0 ? cline :
			    line, "charging", "user needs transport: ssh (jobs "
			    "are submitted by logging in as each user)");
		} else if (c->user_ca_key == NULL) {
			cfg_key_error(ctx, sec, seen, prefix, cline != 0 ? cline :
			    line, "user_ca_key", "required with charging: user");
		}
		return;
	}
	if (c->user_ca_key != NULL) {
		cfg_key_error(ctx, sec, seen, prefix, line, "user_ca_key",
		    "only used with charging: user");
	}
	if (*c->community_account == '\0') {
		cfg_key_error(ctx, sec, seen, prefix, cline != 0 ? cline : line,
		    "community_account", "required with charging: community");
		return;
	}
	for (i = 0; i < c->naccounts; i++) {
		if (strcmp(c->accounts[i], c->community_account) == 0)
			return;
	}
	if (c->naccounts == 0)
		return;
	list = cfg_names(c->accounts, c->naccounts, 0);
	cfg_key_error(ctx, sec, seen, prefix, line, "community_account",
	    "'%s' is not one of the accounts (%s)", c->community_account, list);
	free(list);
}

/* auth.oidc: the scopes ask for openid. */
static void
cfg_check_oidc(struct cfg_ctx *ctx, const struct cfg_section *sec,
    void *base, const char *prefix, size_t line, const size_t *seen)
{
	struct config	*cfg = base;
	size_t		 i;

	if (cfg->noidc_scopes == 0)
		return;
	for (i = 0; i < cfg->noidc_scopes; i++) {
		if (strcmp(cfg->oidc_scopes[i], "openid") == 0)
			return;
	}
	cfg_key_error(ctx, sec, seen, prefix, line, "scopes",
	    "must include openid");
}

/* Rules across sections: OIDC needs the public URL its redirect URI is on. */
static void
cfg_check_top(struct cfg_ctx *ctx, const struct cfg_section *sec,
    void *base, const char *prefix, size_t line, const size_t *seen)
{
	struct config	*cfg = base;
	size_t		 at = cfg_seen(sec, seen, "auth");

	size_t		 i;

	(void)prefix;
	if (cfg->oidc_issuer != NULL && *cfg->public_url == '\0')
		cfg_error(ctx, at != 0 ? at : line, "public_url", "required with "
		    "auth.oidc (the provider redirects browsers to "
		    "PUBLIC_URL/hub/oauth_callback)");
	if (*cfg->proxy_user_hosts != '\0' && *cfg->public_url == '\0')
		cfg_error(ctx, line, "public_url", "required with proxy.user_hosts "
		    "(users' hosts send browsers back to the hub there to log in)");
	for (i = 0; i < cfg->noidc_admins; i++) {
		if (!config_is_admin(cfg, cfg->oidc_admins[i].name))
			cfg_error(ctx, cfg->oidc_admins[i].line,
			    "auth.oidc.admins", "'%s' is not in auth.admins",
			    cfg->oidc_admins[i].name);
	}
}

/* A cluster's cross-field rules. */
static void
cfg_check_cluster(struct cfg_ctx *ctx, const struct cfg_section *sec,
    void *base, const char *prefix, size_t line, const size_t *seen)
{
	struct config_cluster	*c = base;

	cfg_check_defaults(ctx, sec, c, prefix, line, seen);
	cfg_check_transport(ctx, sec, c, prefix, line, seen);
	cfg_check_charging(ctx, sec, c, prefix, line, seen);
}

/* Sets every default of a section; they are ours, so a bad one is a bug. */
static void
cfg_defaults(const struct cfg_section *sec, void *base)
{
	const struct cfg_key	*k;
	char			*problem = NULL;
	size_t			 i;

	for (i = 0; i < sec->nkeys; i++) {
		k = &sec->keys[i];
		if (k->type == CFG_SECTION)
			cfg_defaults(k->sub, base);
		else if (k->def != NULL &&
		    cfg_types[k->type].set(k, base, k->def, &problem) == -1)
			fatalx("config default %s: %s", k->name, problem);
	}
}

/* Fills paths left unset with STATE_DIR/name, once state_dir is known. */
static void
cfg_derive(const struct cfg_section *sec, void *base, const char *dir)
{
	const struct cfg_key	*k;
	char			**p;
	size_t			  i;

	for (i = 0; i < sec->nkeys; i++) {
		k = &sec->keys[i];
		if (k->type == CFG_SECTION) {
			cfg_derive(k->sub, base, dir);
			continue;
		}
		p = FIELD(base, k->off, char *);
		if (k->derive != NULL && *p == NULL)
			xasprintf(p, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir,
			    k->derive);
	}
}

static void	cfg_free_section(const struct cfg_section *, void *);

/* Frees a CFG_MAPOF array: each element through its table, then the array. */
static void
cfg_free_mapof(void *base, const struct cfg_key *k)
{
	char		*array = *FIELD(base, k->off, char *);
	size_t		 i, n = *FIELD(base, k->count_off, size_t);
	struct cfg_elem	*e;

	for (i = 0; i < n; i++) {
		e = (struct cfg_elem *)(array + i * k->elem_size);
		cfg_free_section(k->sub, e);
		free(e->name);
	}
	free(array);
	*FIELD(base, k->off, char *) = NULL;
	*FIELD(base, k->count_off, size_t) = 0;
}

/* Frees what a section table says the object owns. */
static void
cfg_free_section(const struct cfg_section *sec, void *base)
{
	const struct cfg_key	*k;
	size_t			 i;

	for (i = 0; i < sec->nkeys; i++) {
		k = &sec->keys[i];
		switch (k->type) {
		case CFG_SECTION:
			cfg_free_section(k->sub, base);
			break;
		case CFG_STRLIST:
			cfg_free_list(base, k);
			break;
		case CFG_MAPOF:
			cfg_free_mapof(base, k);
			break;
		case CFG_STRING:
		case CFG_PATH:
		case CFG_HOSTPORT:
			free(*FIELD(base, k->off, char *));
			break;
		default:
			break;
		}
	}
}

/* A config holding the defaults, derived paths not yet filled. */
static struct config *
cfg_new(void)
{
	struct config	*cfg;

	cfg = xcalloc(1, sizeof *cfg);
	cfg_defaults(&cfg_top, cfg);
	return (cfg);
}

/* Reports libyaml's syntax error at the line it found it. */
static void
cfg_yaml_error(struct cfg_ctx *ctx, yaml_parser_t *parser)
{
	const char	*problem = parser->problem;
	size_t		 line, i, end;

	if (problem == NULL)
		problem = "cannot parse YAML";
	if (parser->error == YAML_READER_ERROR) {
		end = parser->problem_offset < ctx->len ?
		    parser->problem_offset : ctx->len;
		for (line = 1, i = 0; i < end; i++)
			line += (ctx->buf[i] == '\n');
	} else
		line = parser->problem_mark.line + 1;
	if (parser->context != NULL) {
		cfg_error(ctx, line, NULL, "%s %s (line %zu)", problem,
		    parser->context, parser->context_mark.line + 1);
	} else
		cfg_error(ctx, line, NULL, "%s", problem);
}

/* Refuses a second YAML document, which we would otherwise ignore. */
static void
cfg_no_more(struct cfg_ctx *ctx, yaml_parser_t *parser)
{
	yaml_document_t	 doc;
	yaml_node_t	*root;

	if (!yaml_parser_load(parser, &doc)) {
		cfg_yaml_error(ctx, parser);
		return;
	}
	if ((root = yaml_document_get_root_node(&doc)) != NULL) {
		cfg_error(ctx, cfg_line(root), NULL,
		    "only one YAML document is allowed");
	}
	yaml_document_delete(&doc);
}

/* Ends a long list of errors with how many were left out. */
static void
cfg_error_more(struct cfg_ctx *ctx)
{
	char	*old = ctx->errors;

	xasprintf(&ctx->errors, "%s\n%s: %u more errors not shown", old,
	    ctx->name, ctx->nerrors - CONFIG_MAX_ERRORS);
	free(old);
}

/* Parses YAML from memory; all problems, one a line, in *cause. */
struct config *
config_load_mem(const char *name, const char *buf, size_t len, char **cause)
{
	struct cfg_ctx	 ctx = { .name = name, .buf = buf, .len = len };
	struct config	*cfg = NULL;
	yaml_parser_t	 parser;
	yaml_document_t	 doc;
	yaml_node_t	*root;
	int		 loaded = 0;

	if (!yaml_parser_initialize(&parser))
		fatalx("yaml_parser_initialize failed");
	yaml_parser_set_input_string(&parser, (const u_char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		cfg_yaml_error(&ctx, &parser);
		goto out;
	}
	loaded = 1;
	ctx.doc = &doc;
	cfg = cfg_new();
	cfg->path = xstrdup(name);
	if ((root = yaml_document_get_root_node(&doc)) != NULL) {
		cfg_walk_section(&ctx, &cfg_top, root, cfg, "",
		    cfg_line(root));
		cfg_no_more(&ctx, &parser);
	}
	cfg_derive(&cfg_top, cfg, cfg->state_dir);
out:
	if (loaded)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (ctx.nerrors == 0)
		return (cfg);
	config_free(cfg);
	if (ctx.nerrors > CONFIG_MAX_ERRORS)
		cfg_error_more(&ctx);
	if (cause != NULL)
		*cause = ctx.errors;
	else
		free(ctx.errors);
	return (NULL);
}

/* Reads and parses a file of at most CONFIG_MAX_SIZE bytes. */
struct config *
config_load(const char *path, char **cause)
{
	struct config	*cfg = NULL;
	char		*buf, limit[32];
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd;

	buf = xmalloc(CONFIG_MAX_SIZE + 1);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	while (len <= CONFIG_MAX_SIZE) {
		n = read(fd, buf + len, CONFIG_MAX_SIZE + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONFIG_MAX_SIZE) {
		cfg_fmt_size(limit, sizeof limit, CONFIG_MAX_SIZE);
		xasprintf(cause, "%s: larger than %s", path, limit);
		goto out;
	}
	cfg = config_load_mem(path, buf, len, cause);
out:
	if (fd != -1)
		close(fd);
	free(buf);
	return (cfg);
}

/* The built-in configuration, used when no file is given. */
struct config *
config_default(void)
{
	struct config	*cfg;

	cfg = cfg_new();
	cfg_derive(&cfg_top, cfg, cfg->state_dir);
	return (cfg);
}

/* Frees a configuration; NULL is a no-op. */
void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	cfg_free_section(&cfg_top, cfg);
	free(cfg->path);
	free(cfg);
}

/* True if name is listed in auth.admins. */
int
config_is_admin(const struct config *cfg, const char *name)
{
	size_t	i;

	if (cfg == NULL || name == NULL)
		return (0);
	for (i = 0; i < cfg->nadmins; i++) {
		if (strcmp(cfg->admins[i], name) == 0)
			return (1);
	}
	return (0);
}

/* The cluster called name; borrowed, or NULL. */
const struct config_cluster *
config_cluster_find(const struct config *cfg, const char *name)
{
	if (cfg == NULL || name == NULL)
		return (NULL);
	return ((const struct config_cluster *)cfg_elem_find(cfg->clusters,
	    cfg->nclusters, sizeof *cfg->clusters, name));
}

/* A cluster's queue called name; borrowed, or NULL. */
const struct config_queue *
config_queue_find(const struct config_cluster *c, const char *name)
{
	if (c == NULL || name == NULL)
		return (NULL);
	return ((const struct config_queue *)cfg_elem_find(c->queues,
	    c->nqueues, sizeof *c->queues, name));
}

/* A cluster's container called name; borrowed, or NULL. */
const struct config_container *
config_container_find(const struct config_cluster *c, const char *name)
{
	if (c == NULL || name == NULL)
		return (NULL);
	return ((const struct config_container *)cfg_elem_find(c->containers,
	    c->ncontainers, sizeof *c->containers, name));
}

/* "slurm" or "pbs". */
const char *
config_scheduler_name(int scheduler)
{
	if (scheduler < 0 || scheduler >= (int)nitems(cfg_schedulers) - 1)
		return ("unknown");
	return (cfg_schedulers[scheduler]);
}

/* "singularity", "apptainer" or "none". */
const char *
config_runtime_name(int runtime)
{
	if (runtime < 0 || runtime >= (int)nitems(cfg_runtimes) - 1)
		return ("unknown");
	return (cfg_runtimes[runtime]);
}

/* What a key's type is called in config_keys_print()'s listing. */
static const char *const cfg_type_names[] = {
	[CFG_STRING] = "string", [CFG_PATH] = "path", [CFG_BOOL] = "boolean",
	[CFG_INT] = "integer", [CFG_DURATION] = "duration", [CFG_SIZE] = "size",
	[CFG_HOSTPORT] = "host:port", [CFG_LOGLEVEL] = "log level",
	[CFG_STRLIST] = "list", [CFG_SECTION] = "section", [CFG_ENUM] = "word",
	[CFG_MAPOF] = "map",
};

static void
cfg_keys_print(FILE *f, const struct cfg_section *sec, const char *prefix)
{
	const struct cfg_key	*k;
	const char *const	*c;
	char			*path, *sub, lo[32], hi[32], range[256];
	size_t			 i, n;

	for (i = 0; i < sec->nkeys; i++) {
		k = &sec->keys[i];
		xasprintf(&path, "%s%s%s", prefix, *prefix != '\0' ? "." : "",
		    k->name);
		range[0] = '\0';
		switch (k->type) {
		case CFG_INT:
		case CFG_DURATION:
		case CFG_SIZE:
			cfg_fmt_num(k, k->min, lo, sizeof lo);
			cfg_fmt_num(k, k->max, hi, sizeof hi);
			snprintf(range, sizeof range, "%s to %s", lo, hi);
			break;
		case CFG_BOOL:
			snprintf(range, sizeof range, "true, false");
			break;
		case CFG_LOGLEVEL:
			snprintf(range, sizeof range, "error, warning, info, debug");
			break;
		case CFG_ENUM:
			for (c = k->choices; *c != NULL; c++) {
				n = strlen(range);
				snprintf(range + n, sizeof range - n, "%s%s",
				    c == k->choices ? "" : ", ", *c);
			}
			break;
		case CFG_MAPOF:
			if (k->max > 0)
				snprintf(range, sizeof range, "at most %lld", k->max);
			break;
		default:
			break;
		}
		fprintf(f, "%s\t%s\t%s%s\t%s\t%s\n", path, cfg_type_names[k->type],
		    k->def != NULL ? k->def : k->derive != NULL ? "STATE_DIR/" : "",
		    k->def == NULL && k->derive != NULL ? k->derive : "", range,
		    k->required ? "required" : "");
		if (k->type == CFG_SECTION)
			cfg_keys_print(f, k->sub, path);
		else if (k->type == CFG_MAPOF) {
			xasprintf(&sub, "%s.NAME", path);
			cfg_keys_print(f, k->sub, sub);
			free(sub);
		}
		free(path);
	}
}

/*
 * Every key the parser knows, one a line, tab-separated: its path (map
 * elements as NAME), type, default ("" for none; STATE_DIR/file for paths
 * under state_dir), range or choices, and "required" if it must be given.
 * nbgated.yaml(5) is made from this (scripts/man-config.py).
 */
void
config_keys_print(FILE *f)
{
	cfg_keys_print(f, &cfg_top, "");
}
