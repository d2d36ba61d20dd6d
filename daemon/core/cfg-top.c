/*
 * cfg-top.c: the top-level keys (log, listen, tls, ssh, proxy, auth,
 * sessions, credentials, accounting, clusters), their defaults and rules.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "daemon/core/core.h"
#include "daemon/core/cfg.h"

static void	cfg_check_oidc(struct cfg_ctx *, const struct cfg_section *,
		    void *, const char *, size_t, const size_t *);
static void	cfg_check_top(struct cfg_ctx *, const struct cfg_section *,
		    void *, const char *, size_t, const size_t *);
static void	cfg_check_retry(struct cfg_ctx *, const struct cfg_section *,
		    void *, const char *, size_t, const size_t *);

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
	{ .name = "upstream_pool", .type = CFG_INT, .off = OFF(proxy_upstream_pool),
	  .min = 0, .max = 1024, .def = "8" },
	{ .name = "upstream_idle", .type = CFG_DURATION,
	  .off = OFF(proxy_upstream_idle), .min = 1, .max = 10 * MINUTE, .def = "30s" },
	{ .name = "http2", .type = CFG_BOOL, .off = OFF(proxy_http2), .def = "true" },
	{ .name = "http2_max_streams", .type = CFG_INT, .off = OFF(proxy_h2_streams),
	  .min = 1, .max = 1000, .def = "100" },
	{ .name = "http2_max_resets", .type = CFG_INT, .off = OFF(proxy_h2_resets),
	  .min = 1, .max = 100000, .def = "200" },
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
/* In enum config_idle_counts order. */
static const char *const cfg_idle_counts[] = { "either", "browser", "compute", NULL };
/* In enum config_continue order. */
static const char *const cfg_continue[] = { "off", "offer", "auto", NULL };
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
	{ .name = "walltime_signal", .type = CFG_DURATION,
	  .off = OFF(sess_walltime_signal), .min = 0, .max = 18 * 3600,
	  .def = "1m" },
	{ .name = "continue", .type = CFG_ENUM, .off = OFF(sess_continue),
	  .choices = cfg_continue, .def = "offer" },
	{ .name = "continue_before", .type = CFG_DURATION,
	  .off = OFF(sess_continue_before), .min = 60, .max = DAY, .def = "15m" },
	{ .name = "orphans", .type = CFG_ENUM, .off = OFF(sess_orphans),
	  .choices = cfg_orphan_actions, .def = "report" },
	{ .name = "orphan_interval", .type = CFG_DURATION,
	  .off = OFF(sess_orphan_interval), .min = 10, .max = DAY,
	  .def = "10m" },
	{ .name = "idle_timeout", .type = CFG_DURATION,
	  .off = OFF(sess_idle_timeout), .min = 0, .max = 30 * DAY, .def = "0" },
	{ .name = "idle_counts", .type = CFG_ENUM, .off = OFF(sess_idle_counts),
	  .choices = cfg_idle_counts, .def = "either" },
	{ .name = "activity_interval", .type = CFG_DURATION,
	  .off = OFF(sess_activity_interval), .min = 5, .max = DAY, .def = "60" },
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
	{ .name = "apps", .type = CFG_MAPOF, .off = OFF(apps),
	  .count_off = OFF(napps), .sub = &cfg_app,
	  .elem_size = sizeof(struct config_app), .max = 64,
	  .check = cfg_check_sched_name },
};
const struct cfg_section cfg_top = CHECKED(cfg_top_keys, cfg_check_top);

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
	cfg_check_apps(ctx, cfg);
}
