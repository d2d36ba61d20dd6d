/*
 * test-config.c: daemon/core/config.c: defaults, a full file, every kind of
 * error message (exact text, file and line), and hostile YAML.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

static const char *srcdir;

/* Path of a fixture; caller frees. */
static char *
fixture(const char *name)
{
	char	*path;

	xasprintf(&path, "%s/tests/unit/data/%s", srcdir, name);
	return (path);
}

/* Loads a fixture expected to fail; returns the cause (caller frees). */
static char *
load_bad(const char *name)
{
	struct config	*cfg;
	char		*path = fixture(name), *cause = NULL;

	cfg = config_load(path, &cause);
	ok(cfg == NULL && cause != NULL, "%s refused", name);
	config_free(cfg);
	free(path);
	return (cause);
}

/* Loads a fixture expected to succeed. */
static struct config *
load_good(const char *name)
{
	struct config	*cfg;
	char		*path = fixture(name), *cause = NULL;

	cfg = config_load(path, &cause);
	ok(cfg != NULL, "%s loads", name);
	if (cause != NULL)
		tap_diag("%s", cause);
	free(cause);
	free(path);
	return (cfg);
}

/* Parses a string. */
static struct config *
mem(const char *name, const char *s, char **cause)
{
	return (config_load_mem(name, s, strlen(s), cause));
}

/* Number of lines in a cause. */
static size_t
nlines(const char *s)
{
	size_t	n = 1;

	for (; *s != '\0'; s++)
		n += (*s == '\n');
	return (n);
}

static void
check_defaults(const struct config *cfg, const char *what)
{
	ok(cfg != NULL, "%s: have a config", what);
	if (cfg == NULL)
		return;
	is_str(cfg->state_dir, "/var/lib/nbgate", "%s: state_dir", what);
	is_str(cfg->public_url, "", "%s: public_url", what);
	is_int(cfg->log_level, LOG_INFO, "%s: log.level", what);
	is_int(cfg->log_format, LOG_FORMAT_TEXT, "%s: log.format", what);
	is_str(cfg->https_listen, "0.0.0.0:8443", "%s: listen.https", what);
	is_str(cfg->ssh_listen, "0.0.0.0:2222", "%s: listen.ssh", what);
	is_str(cfg->admin_socket, "/var/lib/nbgate/admin.sock",
	    "%s: listen.admin_socket", what);
	ok(cfg->admin_group == NULL, "%s: no admin_group", what);
	is_str(cfg->tls_cert, "/var/lib/nbgate/tls.crt", "%s: tls.certificate",
	    what);
	is_str(cfg->tls_key, "/var/lib/nbgate/tls.key", "%s: tls.key", what);
	is_int(cfg->tls_self_signed, 1, "%s: tls.self_signed", what);
	is_str(cfg->ssh_host_key, "/var/lib/nbgate/ssh_host_ed25519_key",
	    "%s: ssh.host_key", what);
	is_int(cfg->ssh_login_timeout, 20, "%s: ssh.login_timeout", what);
	is_int(cfg->ssh_max_conns, 10000, "%s: ssh.max_connections", what);
	is_int(cfg->ssh_max_unauth, 64, "%s: ssh.max_unauthenticated", what);
	is_int(cfg->ssh_max_unauth_per_addr, 8,
	    "%s: ssh.max_unauthenticated_per_address", what);
	is_int(cfg->ssh_keepalive, 30, "%s: ssh.keepalive", what);
	is_int(cfg->proxy_header_timeout, 30, "%s: proxy.header_timeout", what);
	is_int(cfg->proxy_idle_timeout, 3600, "%s: proxy.idle_timeout", what);
	is_int(cfg->proxy_max_header, 16384, "%s: proxy.max_header_size", what);
	is_int(cfg->proxy_buffer, 262144, "%s: proxy.buffer_size", what);
	is_int(cfg->proxy_max_conns, 18000, "%s: proxy.max_connections", what);
	is_int(cfg->nadmins, 0, "%s: no admins", what);
	is_int(cfg->cookie_max_age, 12 * 3600, "%s: auth.cookie_max_age", what);
	is_int(cfg->auth_pam, 0, "%s: auth.pam", what);
	is_str(cfg->auth_pam_service, "nbgate", "%s: auth.pam_service", what);
	is_int(cfg->nclusters, 0, "%s: no clusters", what);
	is_str(cfg->acct_endpoint, "", "%s: accounting.endpoint", what);
	ok(cfg->acct_token_file == NULL, "%s: no accounting.token_file", what);
	ok(cfg->acct_ca_file == NULL, "%s: no accounting.ca_file", what);
	is_int(cfg->acct_timeout, 10, "%s: accounting.timeout", what);
	is_int(cfg->acct_retry_initial, 5, "%s: accounting.retry.initial", what);
	is_int(cfg->acct_retry_max, 600, "%s: accounting.retry.max", what);
	is_str(cfg->acct_gateway_name, "nbgate", "%s: accounting.gateway_name", what);
	is_int(cfg->cred_myproxy_max, 8, "%s: credentials.myproxy_max_inflight",
	    what);
	is_int(cfg->cred_myproxy_max_user, 1,
	    "%s: credentials.myproxy_max_inflight_per_user", what);
}

static void
test_defaults(void)
{
	struct config	*cfg;

	cfg = config_default();
	check_defaults(cfg, "built-in");
	ok(cfg->path == NULL, "built-in has no path");
	ok(!config_is_admin(cfg, "root"), "nobody is admin by default");
	config_free(cfg);
	config_free(NULL);
	ok(1, "config_free(NULL) is a no-op");

	cfg = load_good("empty.yaml");
	check_defaults(cfg, "empty file");
	config_free(cfg);
	cfg = load_good("comments.yaml");
	check_defaults(cfg, "comments only");
	config_free(cfg);
}

static void
test_example(void)
{
	struct config	*cfg;
	char		*path, *cause = NULL;

	xasprintf(&path, "%s/etc/nbgated.yaml", srcdir);
	cfg = config_load(path, &cause);
	ok(cfg != NULL, "etc/nbgated.yaml loads");
	if (cause != NULL)
		tap_diag("%s", cause);
	check_defaults(cfg, "etc/nbgated.yaml");
	is_str(cfg == NULL ? NULL : cfg->path, path, "path is remembered");
	config_free(cfg);
	free(cause);
	free(path);
}

static void
test_full(void)
{
	struct config	*cfg;

	if ((cfg = load_good("full.yaml")) == NULL)
		return;
	is_str(cfg->state_dir, "/srv/nbgate", "trailing slash dropped");
	is_str(cfg->public_url, "https://gw.example.org:9443", "public_url");
	is_int(cfg->log_level, LOG_DEBUG, "log.level");
	is_int(cfg->log_format, LOG_FORMAT_JSON, "log.format");
	is_str(cfg->https_listen, "[::1]:9443", "listen.https v6");
	is_str(cfg->ssh_listen, "127.0.0.1:0", "listen.ssh");
	is_str(cfg->admin_socket, "/run/nbgate/admin.sock", "admin_socket");
	is_str(cfg->admin_group, "hpc-admin", "admin_group");
	is_str(cfg->tls_cert, "/etc/nbgate/tls.crt", "tls.certificate");
	is_str(cfg->tls_key, "/etc/nbgate/tls.key", "tls.key");
	is_int(cfg->tls_self_signed, 0, "tls.self_signed: no");
	is_str(cfg->ssh_host_key, "/etc/nbgate/ssh_host_ed25519_key",
	    "ssh.host_key");
	is_int(cfg->ssh_login_timeout, 120, "ssh.login_timeout 2m");
	is_int(cfg->ssh_max_conns, 500, "ssh.max_connections");
	is_int(cfg->ssh_max_unauth, 10, "ssh.max_unauthenticated");
	is_int(cfg->ssh_keepalive, 15, "ssh.keepalive plain seconds");
	is_int(cfg->proxy_header_timeout, 10, "proxy.header_timeout");
	is_int(cfg->proxy_idle_timeout, 2 * 86400, "proxy.idle_timeout 2d");
	is_int(cfg->proxy_max_header, 32768, "proxy.max_header_size 32KiB");
	is_int(cfg->proxy_buffer, 1048576, "proxy.buffer_size 1MiB");
	is_int(cfg->proxy_max_conns, 1000000, "proxy.max_connections at max");
	is_int(cfg->nadmins, 2, "two admins");
	ok(config_is_admin(cfg, "alice"), "alice is admin");
	ok(config_is_admin(cfg, "_svc.ops-1"), "_svc.ops-1 is admin");
	ok(!config_is_admin(cfg, "bob"), "bob is not");
	ok(!config_is_admin(cfg, "alic"), "no prefix match");
	is_int(cfg->cookie_max_age, 86400, "auth.cookie_max_age 1d");
	config_free(cfg);
}

static void
test_derived(void)
{
	struct config	*cfg;

	if ((cfg = load_good("state-dir.yaml")) == NULL)
		return;
	is_str(cfg->admin_socket, "/opt/gw/state/admin.sock",
	    "admin_socket follows state_dir");
	is_str(cfg->tls_cert, "/opt/gw/state/tls.crt",
	    "tls.certificate follows state_dir");
	is_str(cfg->tls_key, "/etc/ssl/private/gw.key", "explicit tls.key kept");
	is_str(cfg->ssh_host_key, "/opt/gw/state/ssh_host_ed25519_key",
	    "ssh.host_key follows state_dir");
	config_free(cfg);

	cfg = mem("mem", "state_dir: /\n", NULL);
	is_str(cfg == NULL ? NULL : cfg->admin_socket, "/admin.sock",
	    "state_dir / gives /admin.sock");
	config_free(cfg);
}

static void
test_unknown(void)
{
	char	*cause = load_bad("unknown-key.yaml");

	has_str(cause, "unknown-key.yaml:7: tls.certficate: unknown key "
	    "(did you mean 'certificate'?)", "misspelt key: file, line, "
	    "path, suggestion");
	has_str(cause, "unknown-key.yaml:8: colour: unknown key (known keys: "
	    "state_dir, public_url, log, listen, tls, ssh, proxy, auth, sessions, "
	    "credentials, accounting, clusters, apps)",
	    "no close match: lists the known keys");
	is_int(nlines(cause), 2, "two errors");
	free(cause);
}

static void
test_types(void)
{
	char	*cause = load_bad("wrong-type.yaml");

	has_str(cause, "wrong-type.yaml:2: ssh.max_connections: 'lots' is not "
	    "an integer (1 to 100000)", "int: names the range");
	has_str(cause, "wrong-type.yaml:3: ssh.login_timeout: expected a "
	    "duration (e.g. 30s, 5m, 2h), got a list", "list for a scalar");
	has_str(cause, "wrong-type.yaml:5: tls.self_signed: 'maybe' is not a "
	    "boolean (true, false, yes, no)", "bool: names the values");
	has_str(cause, "wrong-type.yaml:6: state_dir: 'relative/dir' is not an "
	    "absolute path", "relative path refused");
	has_str(cause, "wrong-type.yaml:8: listen.https: 'localhost' is not "
	    "host:port (port 0-65535)", "bad host:port");
	has_str(cause, "wrong-type.yaml:10: log.level: 'loud' is not a log "
	    "level (error, warning, info, debug)", "log level: names the values");
	has_str(cause, "wrong-type.yaml:11: public_url: 'gw.example.org' is "
	    "not an http:// or https:// URL", "public_url must be a URL");
	free(cause);
}

static void
test_range(void)
{
	char	*cause = load_bad("range.yaml");

	has_str(cause, "range.yaml:2: ssh.max_connections: '0' is out of "
	    "range (1 to 100000)", "int below min");
	has_str(cause, "range.yaml:3: ssh.max_unauthenticated: '10001' is out "
	    "of range (1 to 10000)", "int above max");
	has_str(cause, "range.yaml:4: ssh.keepalive: '1s' is out of range "
	    "(5s to 10m)", "duration range in units");
	has_str(cause, "range.yaml:6: proxy.idle_timeout: '5s' is out of range "
	    "(10s to 7d)", "idle_timeout range");
	has_str(cause, "range.yaml:7: proxy.max_header_size: '2MiB' is out of "
	    "range (1KiB to 1MiB)", "size range in units");
	has_str(cause, "range.yaml:8: proxy.buffer_size: "
	    "'99999999999999999999999GiB' is out of range", "overflow is "
	    "out of range, not wrapped");
	has_str(cause, "range.yaml:10: auth.cookie_max_age: '31d' is out of "
	    "range (1m to 30d)", "cookie_max_age range");
	is_int(nlines(cause), 7, "seven range errors");
	free(cause);
}

static void
test_suffix(void)
{
	char	*cause = load_bad("suffix.yaml");

	has_str(cause, "suffix.yaml:2: proxy.idle_timeout: '5x' is not a "
	    "duration (e.g. 30s, 5m, 2h)", "bad duration suffix");
	has_str(cause, "suffix.yaml:3: proxy.header_timeout: '1h30m' is not a "
	    "duration", "compound duration refused");
	has_str(cause, "suffix.yaml:4: proxy.max_header_size: '16KB' is not a "
	    "size (e.g. 65536, 16KiB, 1MiB)", "ambiguous KB refused");
	has_str(cause, "suffix.yaml:5: proxy.buffer_size: '1.5MiB' is not a "
	    "size", "fractional size refused");
	has_str(cause, "suffix.yaml:7: ssh.keepalive: '-30s' is not a duration",
	    "negative duration refused");
	free(cause);
}

static void
test_duplicate(void)
{
	char	*cause = load_bad("duplicate.yaml");

	has_str(cause, "duplicate.yaml:4: proxy.idle_timeout: duplicate key "
	    "(first set on line 2)", "duplicate key in a section");
	has_str(cause, "duplicate.yaml:7: log: duplicate key (first set on "
	    "line 5)", "duplicate section");
	free(cause);
}

static void
test_syntax(void)
{
	char	*cause = load_bad("syntax.yaml");

	has_str(cause, "syntax.yaml:4: mapping values are not allowed",
	    "YAML syntax error at the right line");
	is_int(nlines(cause), 1, "one syntax error");
	free(cause);

	cause = NULL;
	ok(mem("m.yaml", "log: {level: info\n", &cause) == NULL,
	    "unclosed flow map refused");
	has_str(cause, "m.yaml:2: did not find expected ',' or '}'",
	    "flow map error names the problem");
	free(cause);

	cause = NULL;
	ok(mem("m.yaml", "log: {}\n---\nlog: {}\n", &cause) == NULL,
	    "second document refused");
	has_str(cause, "m.yaml:3: only one YAML document is allowed",
	    "second document named");
	free(cause);

	cause = NULL;
	ok(mem("m.yaml", "ssh: {}\n\xff\xfe\n", &cause) == NULL,
	    "invalid UTF-8 refused");
	has_str(cause, "m.yaml:2: invalid ", "reader error has a line");
	free(cause);
}

static void
test_many(void)
{
	char	*cause = load_bad("many.yaml");

	is_int(nlines(cause), 5, "five errors, five lines");
	has_str(cause, "many.yaml:2: state_dir: 'nope' is not an absolute "
	    "path\n", "first error ends its line");
	has_str(cause, "many.yaml:4: proxy.idle_timout: unknown key "
	    "(did you mean 'idle_timeout'?)\n", "second error ends its line");
	ok(cause != NULL && strstr(cause, "many.yaml:2:") <
	    strstr(cause, "many.yaml:4:"), "errors in file order");
	has_str(cause, "many.yaml:5: proxy.max_connections: '-1' is out of "
	    "range (1 to 1000000)", "negative int out of range");
	has_str(cause, "many.yaml:7: ssh.keepalive: 'forever' is not a "
	    "duration", "third error");
	has_str(cause, "many.yaml:9: auth.admins: item 2: 'Bob' is not a user "
	    "name ([a-z_][a-z0-9_.-]{0,31})", "bad admin name");
	free(cause);
}

static void
test_shape(void)
{
	char	*cause = load_bad("shape.yaml");

	has_str(cause, "shape.yaml:2: proxy: expected a map of settings, got "
	    "a list", "list where a map is expected");
	has_str(cause, "shape.yaml:5: auth.admins: expected a list of strings, "
	    "got a map", "map where a list is expected");
	has_str(cause, "shape.yaml:6: tls: expected a map of settings, got a "
	    "single value", "scalar where a map is expected");
	has_str(cause, "shape.yaml:9: log.level: expected a log level", "map "
	    "where a scalar is expected");
	free(cause);

	cause = NULL;
	ok(mem("m.yaml", "- a\n- b\n", &cause) == NULL,
	    "top-level list refused");
	has_str(cause, "m.yaml:1: expected a map of settings, got a list",
	    "top-level shape error has no key");
	free(cause);

	cause = NULL;
	ok(mem("m.yaml", "proxy:\n  idle_timeout:\n", &cause) == NULL,
	    "empty value refused");
	has_str(cause, "m.yaml:2: proxy.idle_timeout: missing value",
	    "empty value named");
	free(cause);
}

/* DEEP_DEPTH nested lists parsed on a DEEP_STACK-byte stack (deep_thread). */
#define DEEP_DEPTH	50000
#define DEEP_STACK	(256 * 1024)

struct deep {
	const char	*buf;
	size_t		 len;
	struct config	*cfg;
	char		*cause;
};

static void *
deep_thread(void *arg)
{
	struct deep	*d = arg;

	d->cfg = config_load_mem("deep", d->buf, d->len, &d->cause);
	return (NULL);
}

/*
 * Parses buf on a thread whose stack is DEEP_STACK bytes: nesting of
 * DEEP_DEPTH levels would need more than that for any recursion (a call
 * costs at least its 16-byte-aligned return address, 800 KiB here), so a
 * recursive parser or walker dies of a stack overflow instead of passing.
 * libyaml's scanner is quadratic in the nesting (minutes for 200000 levels
 * under ASan), which is why the stack is made small rather than the input big.
 */
static struct config *
deep_load(const char *buf, size_t len, char **cause)
{
	struct deep	 d = { buf, len, NULL, NULL };
	pthread_attr_t	 attr;
	pthread_t	 t;

	if (pthread_attr_init(&attr) != 0 ||
	    pthread_attr_setstacksize(&attr, DEEP_STACK) != 0 ||
	    pthread_create(&t, &attr, deep_thread, &d) != 0 ||
	    pthread_join(t, NULL) != 0)
		fatalx("cannot run the deep-nesting thread");
	pthread_attr_destroy(&attr);
	*cause = d.cause;
	return (d.cfg);
}

static void
test_hostile(void)
{
	struct config	*cfg;
	char		*cause, *buf, *path;
	size_t		 i, len, n = DEEP_DEPTH;
	FILE		*f;
	int		 fd;

	cause = load_bad("aliases.yaml");
	has_str(cause, "aliases.yaml:11: ssh.idle_timeout: unknown key",
	    "alias to another section's map is checked against ssh's table");
	free(cause);
	if ((cfg = load_good("aliases-ok.yaml")) != NULL) {
		is_int(cfg->proxy_header_timeout, 45, "aliased scalar applied");
		is_int(cfg->nadmins, 2, "aliased list applied");
	}
	config_free(cfg);

	cause = NULL;
	ok(mem("m.yaml", "state_dir: \"/a\\0b\"\n", &cause) == NULL,
	    "NUL in a value refused");
	has_str(cause, "m.yaml:1: state_dir: value contains a NUL byte",
	    "NUL named");
	free(cause);

	/* Deep nesting: libyaml must not recurse; we must not either. */
	buf = xmalloc(2 * n + 16);
	len = 0;
	memcpy(buf, "auth: ", 6);
	len = 6;
	for (i = 0; i < n; i++)
		buf[len++] = '[';
	for (i = 0; i < n; i++)
		buf[len++] = ']';
	buf[len++] = '\n';
	cause = NULL;
	ok(deep_load(buf, len, &cause) == NULL, "%d-deep nesting refused without "
	    "crashing on a %d KiB stack", DEEP_DEPTH, DEEP_STACK / 1024);
	has_str(cause, "deep:1: auth: expected a map of settings, got a list",
	    "deep nesting: shape error");
	free(cause);

	/* Many errors: capped, with a count of the rest. */
	len = 0;
	for (i = 0; i < 200; i++)
		len += (size_t)snprintf(buf + len, 2 * n + 16 - len, "k%zu: 1\n", i);
	cause = NULL;
	ok(config_load_mem("many", buf, len, &cause) == NULL,
	    "200 unknown keys refused");
	is_int(nlines(cause), 51, "50 errors shown, then a summary");
	has_str(cause, "many: 150 more errors not shown", "summary counts");
	free(cause);
	free(buf);

	/* Too big for config_load. */
	xasprintf(&path, "%s/test-config-XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		fatal("mkstemp");
	for (i = 0; i < 70000; i++)
		fputs("# padding padding\n", f);
	fclose(f);
	cause = NULL;
	ok(config_load(path, &cause) == NULL, "file over 1 MiB refused");
	has_str(cause, "larger than 1MiB", "size limit named");
	free(cause);
	unlink(path);

	cause = NULL;
	ok(config_load(path, &cause) == NULL, "missing file refused");
	has_str(cause, "No such file or directory", "errno text");
	free(cause);
	free(path);
}

static void
test_clusters_full(void)
{
	const struct config_cluster	*c;
	const struct config_queue	*q;
	const struct config_container	*ct;
	struct config			*cfg;

	if ((cfg = load_good("clusters.yaml")) == NULL)
		return;
	is_int(cfg->nclusters, 2, "two clusters");
	is_str(cfg->clusters[0].name, "expanse", "first cluster (the default)");
	is_int(cfg->clusters[0].line, 3, "cluster line remembered");
	c = config_cluster_find(cfg, "expanse");
	ok(c == &cfg->clusters[0], "config_cluster_find");
	ok(config_cluster_find(cfg, "nope") == NULL, "unknown cluster: NULL");
	is_int(c->scheduler, CONFIG_SLURM, "scheduler slurm");
	is_int(c->transport, CONFIG_SSH, "transport ssh");
	is_str(c->login_host, "login.expanse.example.org:22", "login_host");
	has_str(c->login_host_key, "ssh-ed25519 AAAAC3Nza", "login_host_key");
	is_str(c->login_user, "nbcommunity", "login_user");
	is_str(c->login_key, "/var/lib/nbgate/community_key", "login_key");
	is_str(c->slurm_conf, "/etc/slurm/slurm.conf", "slurm_conf");
	is_str(c->template, "/etc/nbgate/templates/slurm.sh", "template");
	is_int(c->charging, CONFIG_COMMUNITY, "charging community");
	is_str(c->community_account, "community", "community_account");
	is_int(c->naccounts, 2, "two accounts");
	is_str(c->accounts[1], "alloc-42", "accounts[1]");
	is_int(c->poll_interval, 15, "poll_interval");
	is_str(c->prologue, "module load singularity", "prologue");
	is_str(c->epilogue, "echo done", "epilogue");
	is_int(c->nextra_directives, 2, "extra_directives");
	is_str(c->extra_directives[1], "--constraint=lustre", "directive 2");
	is_str(c->output_dir, "/scratch/nbgate/jobs", "output_dir");
	is_str(c->workdir, "$HOME/nbgate/{user}", "workdir");
	is_str(c->agent, "/opt/nbgate/bin/nbgate-agent", "agent");
	is_str(c->default_queue, "debug", "default_queue");
	is_int(c->nqueues, 3, "three queues");
	q = config_queue_find(c, "debug");
	ok(q != NULL && q->walltime_min == 60 && q->walltime_def == 3600 &&
	    q->walltime_max == 7200, "debug walltime 1m/1h/2h (min default)");
	ok(q != NULL && q->cores_min == 1 && q->cores_def == 1 &&
	    q->cores_max == 4, "debug cores 1/1/4");
	ok(q != NULL && q->memory_min == 1048576 &&
	    q->memory_def == 2147483648ULL && q->memory_max == 8589934592ULL,
	    "debug memory 1MiB/2GiB/8GiB");
	ok(q != NULL && q->gpus_min == 0 && q->gpus_def == 0 &&
	    q->gpus_max == 0, "gpus absent: none");
	is_str(q == NULL ? NULL : q->description, "Quick tests", "description");
	is_str(q == NULL ? NULL : q->reservation, "", "no reservation: \"\"");
	ok(q != NULL && q->template == NULL, "no queue template: NULL");
	q = config_queue_find(c, "compute");
	ok(q != NULL && q->walltime_min == 600 && q->walltime_max == 172800,
	    "compute walltime 10m..2d");
	is_str(q == NULL ? NULL : q->reservation, "maint_2024", "reservation");
	is_str(q == NULL ? NULL : q->qos, "high", "qos");
	is_str(q == NULL ? NULL : q->template,
	    "/etc/nbgate/templates/compute.sh", "queue template");
	q = config_queue_find(c, "gpu");
	ok(q != NULL && q->gpus_min == 1 && q->gpus_def == 1 &&
	    q->gpus_max == 4, "gpu queue gpus 1/1/4");
	is_int(c->ncontainers, 3, "three containers");
	ct = config_container_find(c, "torch");
	ok(ct != NULL && ct->runtime == CONFIG_APPTAINER, "runtime apptainer");
	is_str(ct == NULL ? NULL : ct->image, "docker://pytorch/pytorch:latest",
	    "image URI");
	ct = config_container_find(c, "base");
	ok(ct != NULL && ct->runtime == CONFIG_NO_RUNTIME && *ct->image == '\0',
	    "runtime none, no image");
	is_str(config_runtime_name(CONFIG_SINGULARITY), "singularity",
	    "config_runtime_name");
	ok(ct != NULL && ct->notebook == CONFIG_NB_CLASSIC &&
	    ct->nnotebook_command == 0, "notebook: classic, no command");
	ct = config_container_find(c, "torch");
	ok(ct != NULL && ct->notebook == CONFIG_NB_SERVER, "notebook: server "
	    "by default");
	ct = config_container_find(c, "scipy");
	ok(ct != NULL && ct->notebook == CONFIG_NB_LAB &&
	    ct->nnotebook_command == 4 &&
	    strcmp(ct->notebook_command[3], "--LabApp.x=a'b") == 0,
	    "notebook: lab, notebook_command word by word");
	is_str(config_notebook_name(CONFIG_NB_LAB), "lab", "config_notebook_name");
	is_str(c->default_container, "scipy", "default_container");
	is_int(c->nbinds, 2, "binds");
	is_str(c->binds[1], "/scratch:/scratch:rw", "bind with options");

	c = config_cluster_find(cfg, "comet");
	ok(c != NULL && c->scheduler == CONFIG_PBS && c->transport ==
	    CONFIG_SSH && c->charging == CONFIG_USER, "comet: pbs, ssh, "
	    "user charging");
	is_str(c == NULL ? NULL : c->user_ca_key, "/etc/nbgate/user_ca",
	    "comet: user_ca_key");
	ok(c != NULL && c->login_user == NULL && c->login_key == NULL &&
	    c->slurm_conf == NULL &&
	    c->template == NULL && *c->community_account == '\0' &&
	    c->naccounts == 0 && *c->prologue == '\0', "comet: unset keys");
	ok(c != NULL && c->poll_interval == 10 && strcmp(c->output_dir,
	    ".nbgate/jobs") == 0 && strcmp(c->agent, "nbgate-agent") == 0 &&
	    strcmp(c->workdir, "$HOME/nbgate/{user}") == 0,
	    "comet: defaults");
	is_str(config_scheduler_name(c == NULL ? 0 : c->scheduler), "pbs",
	    "config_scheduler_name");
	config_free(cfg);
}

/* The commented-out clusters: example in etc/nbgated.yaml, uncommented. */
static void
test_clusters_example(void)
{
	struct config	*cfg;
	char		*path, *cause = NULL, line[512], *buf;
	size_t		 len = 0, n;
	FILE		*f;
	int		 in = 0;

	xasprintf(&path, "%s/etc/nbgated.yaml", srcdir);
	if ((f = fopen(path, "r")) == NULL)
		fatal("%s", path);
	buf = xmalloc(65536);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strcmp(line, "# clusters:\n") == 0)
			in = 1;
		if (!in)
			continue;
		if (strncmp(line, "# ", 2) != 0)
			break;
		n = strlen(line + 2);
		if (len + n < 65536) {
			memcpy(buf + len, line + 2, n);
			len += n;
		}
	}
	fclose(f);
	ok(len > 1000, "etc/nbgated.yaml has a clusters: example");
	cfg = config_load_mem("example", buf, len, &cause);
	ok(cfg != NULL, "the clusters: example loads once uncommented");
	if (cause != NULL)
		tap_diag("%s", cause);
	ok(cfg != NULL && cfg->nclusters >= 1 && cfg->clusters[0].nqueues == 2 &&
	    cfg->clusters[0].ncontainers == 3 &&
	    cfg->clusters[0].containers[2].notebook == CONFIG_NB_LAB &&
	    cfg->clusters[0].containers[2].nnotebook_command == 1,
	    "example: a cluster with 2 queues, 3 containers (one lab, with its "
	    "command)");
	ok(cfg != NULL && cfg->nclusters >= 2 &&
	    cfg->clusters[1].scheduler == CONFIG_GRIDENGINE &&
	    cfg->clusters[1].nenvironment == 3 &&
	    strcmp(cfg->clusters[1].memory_complex, "h_vmem") == 0 &&
	    strcmp(cfg->clusters[1].queues[0].pe, "smp") == 0 &&
	    strcmp(cfg->clusters[0].memory_complex, "mem_free") == 0,
	    "example: a Grid Engine cluster (environment, memory_complex, pe)");
	config_free(cfg);
	free(cause);
	free(buf);
	free(path);
}

static void
test_clusters_cross(void)
{
	static const char *want[] = {
		"clusters-cross.yaml:6: clusters.defq.default_queue: 'nope' is "
		    "not one of the queues (q)",
		"clusters-cross.yaml:20: clusters.defc.default_container: "
		    "'nope' is not one of the containers (c)",
		"clusters-cross.yaml:25: clusters.noqueues.queues: at least one "
		    "queue is required",
		"clusters-cross.yaml:31: clusters.sshneeds.login_host: required "
		    "with transport: ssh",
		"clusters-cross.yaml:31: clusters.sshneeds.login_host_key: "
		    "required with transport: ssh",
		"clusters-cross.yaml:31: clusters.sshneeds.login_key: required "
		    "with transport: ssh and charging: community",
		"clusters-cross.yaml:44: clusters.localssh.login_key: only used "
		    "with transport: ssh",
		"clusters-cross.yaml:53: clusters.noacct.community_account: "
		    "required with charging: community",
		"clusters-cross.yaml:62: clusters.notlisted.community_account: "
		    "'c' is not one of the accounts (a, b)",
		"clusters-cross.yaml:72: clusters.useracct.charging: user needs "
		    "transport: ssh (jobs are submitted by logging in as each "
		    "user)",
		"clusters-cross.yaml:73: clusters.useracct.community_account: "
		    "only used with charging: community",
		"clusters-cross.yaml:108: clusters.usernoca.user_ca_key: "
		    "required with charging: user",
		"clusters-cross.yaml:117: clusters.commca.user_ca_key: only "
		    "used with charging: user",
		"clusters-cross.yaml:125: clusters.libpbs.slurm_api: libslurm "
		    "needs scheduler: slurm",
		"clusters-cross.yaml:135: clusters.libssh.slurm_api: libslurm "
		    "needs transport: local",
		"clusters-cross.yaml:148: clusters.restbad.slurmrestd_url: required "
		    "with transport: slurmrestd",
		"clusters-cross.yaml:148: clusters.restbad.slurmrestd_token_file: "
		    "transport: slurmrestd needs one of slurmrestd_token_file and "
		    "slurmrestd_jwt_key",
		"clusters-cross.yaml:148: clusters.restbad.login_user: required with "
		    "transport: slurmrestd (the account jobs run as)",
		"clusters-cross.yaml:146: clusters.restbad.output_dir: must be "
		    "absolute with transport: slurmrestd (jobs start in /)",
		"clusters-cross.yaml:157: clusters.restnot.slurmrestd_url: only used "
		    "with transport: slurmrestd",
		"clusters-cross.yaml:86: clusters.limits.queues.q.walltime."
		    "default: 3h is more than max 2h",
		"clusters-cross.yaml:87: clusters.limits.queues.q.cores.max: 4 "
		    "is less than min 8",
		"clusters-cross.yaml:88: clusters.limits.queues.q.memory."
		    "default: 1GiB is less than min 2GiB",
		"clusters-cross.yaml:89: clusters.limits.queues.q.gpus.default: "
		    "3 is more than max 2",
		"clusters-cross.yaml:100: clusters.images.containers.c.image: "
		    "must be empty with runtime: none",
		"clusters-cross.yaml:101: clusters.images.containers.n.image: "
		    "required with runtime: apptainer",
	};
	char	*cause = load_bad("clusters-cross.yaml");
	size_t	 i;

	for (i = 0; i < nitems(want); i++)
		has_str(cause, want[i], "cross-field error %zu at its line", i + 1);
	is_int(nlines(cause), nitems(want), "exactly those errors");
	free(cause);
}

static void
test_clusters_values(void)
{
	static const char *want[] = {
		":3: clusters.Bad_Name: 'Bad_Name' is not a cluster name",
		":6: clusters.e.scheduler: 'lsf' is not one of: slurm, pbs",
		":7: clusters.e.transport: 'carrier-pigeon' is not one of: "
		    "local, ssh, slurmrestd",
		":8: clusters.e.poll_interval: '1h' is out of range (1s to 10m)",
		":9: clusters.e.community_account: 'a b' is not a scheduler name",
		":10: clusters.e.accounts: item 2: '-x' is not a scheduler name",
		":11: clusters.e.login_host_key: not an OpenSSH public key",
		":12: clusters.e.extra_directives: item 1: 'qos=x' is not one "
		    "scheduler option on one line",
		":13: clusters.e.binds: item 1: 'home' is not a bind",
		":14: clusters.e.output_dir: '/tmp/a b' is not an output "
		    "directory",
		":17: clusters.e.queues.q.memory.max: required key is missing",
		":18: clusters.e.queues.q: duplicate name (first used on line 17)",
		":19: clusters.e.queues.-bad: '-bad' is not a scheduler name",
		":20: clusters.e.queues.r.memory.default: '1KiB' is out of range",
		":20: clusters.e.queues.r.qos: 'a;b' is not a scheduler name",
		":22: clusters.e.containers.c.image: 'relative.sif' is not an "
		    "image path or URI",
		":22: clusters.e.containers.c.runtim: unknown key (did you mean "
		    "'runtime'?)",
		":25: clusters.f.queues: expected a map of names to settings, "
		    "got a list",
		":24: clusters.f.scheduler: required key is missing",
		":24: clusters.f.default_queue: required key is missing",
		":27: clusters.g: expected a map of settings, got a list",
	};
	char	*cause = load_bad("clusters-values.yaml");
	size_t	 i;

	for (i = 0; i < nitems(want); i++)
		has_str(cause, want[i], "value error %zu at its line", i + 1);
	is_int(nlines(cause), nitems(want) + 1, "exactly those errors");
	free(cause);
}

/* Grid Engine's keys: environment entries NAME=value, memory_complex and pe as names. */
static void
test_clusters_gridengine(void)
{
	static const char *base = "clusters:\n  ge:\n    scheduler: gridengine\n"
	    "    community_account: c\n    default_queue: q\n    default_container: c\n"
	    "    containers: {c: {image: \"\", runtime: none}}\n";
	struct config	*cfg;
	char		*cause = NULL, *y;

	xasprintf(&y, "%s    environment: [\"SGE_ROOT=/opt/sge\", \"PATH=/a:/b\"]\n"
	    "    queues: {q: {walltime: {default: 1h, max: 2h}, cores: {default: 1, max: 4}, "
	    "memory: {default: 1GiB, max: 2GiB}, pe: mpi-fill}}\n", base);
	cfg = mem("ge.yaml", y, &cause);
	ok(cfg != NULL && cfg->clusters[0].scheduler == CONFIG_GRIDENGINE &&
	    cfg->clusters[0].nenvironment == 2 &&
	    strcmp(cfg->clusters[0].environment[1], "PATH=/a:/b") == 0 &&
	    strcmp(cfg->clusters[0].queues[0].pe, "mpi-fill") == 0 &&
	    strcmp(cfg->clusters[0].memory_complex, "mem_free") == 0,
	    "gridengine: environment, pe, memory_complex default");
	config_free(cfg);
	free(y);
	free(cause);
	cause = NULL;
	xasprintf(&y, "%s    environment: [\"1X=y\", \"NOEQ\", \"=v\"]\n"
	    "    memory_complex: \"h vmem\"\n"
	    "    queues: {q: {walltime: {default: 1h, max: 2h}, cores: {default: 1, max: 4}, "
	    "memory: {default: 1GiB, max: 2GiB}, pe: \"a;b\"}}\n", base);
	ok(mem("ge.yaml", y, &cause) == NULL, "gridengine: bad values refused");
	has_str(cause, "'1X=y' is not NAME=value on one line", "environment: a name "
	    "starting with a digit");
	has_str(cause, "'NOEQ' is not NAME=value", "environment: no '='");
	has_str(cause, "'=v' is not NAME=value", "environment: no name");
	has_str(cause, "clusters.ge.memory_complex", "memory_complex: not a name");
	has_str(cause, "clusters.ge.queues.q.pe", "pe: not a name");
	free(y);
	free(cause);
}

static void
test_clusters_hostile(void)
{
	struct config	*cfg;
	char		*cause = NULL, *buf;
	size_t		 len, i;

	cfg = mem("m.yaml", "clusters:\n", &cause);
	ok(cfg != NULL && cfg->nclusters == 0, "empty clusters: none");
	config_free(cfg);
	ok(mem("m.yaml", "clusters: [a]\n", &cause) == NULL, "list refused");
	has_str(cause, "m.yaml:1: clusters: expected a map of names to "
	    "settings, got a list", "clusters must be a map");
	free(cause);

	/* More than 64 clusters: one error, then stop. */
	buf = xmalloc(100 * 160);
	len = snprintf(buf, 300, "x: &Q {q: {walltime: {default: 1h, max: 1h}, "
	    "cores: {default: 1, max: 1}, memory: {default: 1GiB, max: 1GiB}}}"
	    "\nclusters:\n");
	for (i = 0; i < 100; i++)
		len += snprintf(buf + len, 160, "  c%zu: {scheduler: slurm, "
		    "community_account: x, default_queue: q, queues: *Q, "
		    "containers: {c: {runtime: none}}, default_container: c}\n",
		    i);
	cause = NULL;
	ok(config_load_mem("many", buf, len, &cause) == NULL, "100 clusters "
	    "refused");
	has_str(cause, "many:67: clusters: too many entries (at most 64)",
	    "cap on clusters named at the first one over");
	has_str(cause, "many:1: x: unknown key", "and the anchor's key");
	is_int(nlines(cause), 2, "nothing else");
	free(cause);
	free(buf);

	/* notebook: one of three; notebook_command: words without blanks */
	cause = NULL;
	ok(mem("nb.yaml", "clusters:\n  a:\n    scheduler: slurm\n"
	    "    community_account: x\n    default_queue: q\n"
	    "    queues: {q: {walltime: {default: 1h, max: 1h}, cores: "
	    "{default: 1, max: 1}, memory: {default: 1GiB, max: 1GiB}}}\n"
	    "    containers: {c: {runtime: none, notebook: notebook7, "
	    "notebook_command: [jupyter lab, \"\", ok]}}\n"
	    "    default_container: c\n", &cause) == NULL,
	    "bad notebook and notebook_command refused");
	has_str(cause, "clusters.a.containers.c.notebook: ", "notebook named");
	has_str(cause, "classic, server, lab", "with its choices");
	has_str(cause, "'jupyter lab' is not one word", "a word with a blank");
	has_str(cause, "'' is not one word", "an empty word");
	free(cause);

	/* Aliases may repeat a queue map: each copy is checked and freed. */
	cause = NULL;
	cfg = mem("m.yaml", "clusters:\n  a:\n    scheduler: slurm\n"
	    "    community_account: x\n    default_queue: q\n"
	    "    queues: &Q {q: {walltime: {default: 1h, max: 1h}, cores: "
	    "{default: 1, max: 1}, memory: {default: 1GiB, max: 1GiB}}}\n"
	    "    containers: &C {c: {runtime: none}}\n"
	    "    default_container: c\n  b:\n    scheduler: pbs\n"
	    "    community_account: x\n    default_queue: q\n"
	    "    queues: *Q\n    containers: *C\n    default_container: c\n",
	    &cause);
	ok(cfg != NULL && cfg->nclusters == 2 && cfg->clusters[1].nqueues == 1,
	    "aliased queues and containers");
	if (cause != NULL)
		tap_diag("%s", cause);
	config_free(cfg);
	free(cause);
}

static void
test_accounting(void)
{
	struct config	*cfg;
	char		*cause = NULL;

	cfg = mem("acct.yaml", "accounting:\n"
	    "  endpoint: https://alloc.example.org/v1/attributes\n"
	    "  token_file: /etc/nbgate/acct.token\n"
	    "  ca_file: /etc/nbgate/ca.pem\n"
	    "  timeout: 30s\n"
	    "  retry: {initial: 2s, max: 1h}\n"
	    "  gateway_name: Example Science Gateway\n", &cause);
	ok(cfg != NULL, "accounting: loads");
	if (cfg != NULL) {
		is_str(cfg->acct_endpoint, "https://alloc.example.org/v1/attributes",
		    "accounting.endpoint");
		is_str(cfg->acct_token_file, "/etc/nbgate/acct.token",
		    "accounting.token_file");
		is_str(cfg->acct_ca_file, "/etc/nbgate/ca.pem", "accounting.ca_file");
		is_int(cfg->acct_timeout, 30, "accounting.timeout");
		is_int(cfg->acct_retry_initial, 2, "accounting.retry.initial");
		is_int(cfg->acct_retry_max, 3600, "accounting.retry.max");
		is_str(cfg->acct_gateway_name, "Example Science Gateway",
		    "accounting.gateway_name");
	}
	config_free(cfg);
	free(cause);
	cause = NULL;

	cfg = mem("acct.yaml", "accounting:\n"
	    "  endpoint: ftp://x\n"
	    "  token_file: token\n"
	    "  timeout: 10m\n"
	    "  retry:\n"
	    "    initial: 1h\n"
	    "    max: 1m\n"
	    "  tokn: x\n", &cause);
	ok(cfg == NULL, "bad accounting: refused");
	has_str(cause, "acct.yaml:2: accounting.endpoint: 'ftp://x' is not an "
	    "http:// or https:// URL", "endpoint must be http(s)");
	has_str(cause, "acct.yaml:3: accounting.token_file: 'token' is not an "
	    "absolute path", "token_file must be absolute");
	has_str(cause, "acct.yaml:4: accounting.timeout:", "timeout range");
	has_str(cause, "acct.yaml:7: accounting.retry.max: 1m is less than "
	    "initial 1h", "retry: max >= initial, at max's line");
	has_str(cause, "acct.yaml:8: accounting.tokn: unknown key", "unknown key");
	config_free(cfg);
	free(cause);
}

/* auth.oidc: defaults, a full block, and each refusal at its line. */
static void
test_oidc(void)
{
	struct config	*cfg;
	char		*cause = NULL;

	cfg = mem("o.yaml", "public_url: https://gw.example.org\n"
	    "auth:\n  oidc:\n    issuer: https://cilogon.org\n"
	    "    client_id: cilogon:/client_id/42\n"
	    "    client_secret_file: /etc/nbgate/oidc-secret\n", &cause);
	ok(cfg != NULL, "oidc: the three required keys are enough");
	if (cause != NULL)
		tap_diag("%s", cause);
	is_str(cfg ? cfg->oidc_issuer : NULL, "https://cilogon.org", "issuer");
	is_str(cfg ? cfg->oidc_client_id : NULL, "cilogon:/client_id/42",
	    "client_id");
	is_str(cfg ? cfg->oidc_username_claim : NULL, "preferred_username",
	    "username_claim defaults to preferred_username");
	is_str(cfg ? cfg->oidc_button_label : NULL, "your institution",
	    "button_label default");
	is_int(cfg ? (long long)cfg->noidc_scopes : -1, 0,
	    "scopes: none given (openid profile email used)");
	ok(cfg != NULL && cfg->oidc_map_file == NULL && cfg->oidc_ca_file == NULL &&
	    *cfg->oidc_strip_suffix == '\0', "no map, no CA file");
	config_free(cfg);
	free(cause);
	cause = NULL;

	cfg = config_default();
	ok(cfg->oidc_issuer == NULL, "oidc is off by default");
	config_free(cfg);

	cfg = mem("o.yaml", "public_url: https://gw.example.org\n"
	    "auth:\n  oidc:\n    issuer: https://idp.example.org/realms/hpc\n"
	    "    client_id: nbgate\n    client_secret_file: /s\n"
	    "    scopes: [openid, email]\n    username_claim: email\n"
	    "    username_map:\n      strip_suffix: \"@example.org\"\n"
	    "      file: /etc/nbgate/users\n    ca_file: /etc/ca.pem\n"
	    "    button_label: Example University\n", &cause);
	ok(cfg != NULL, "oidc: a full block loads");
	ok(cfg != NULL && cfg->noidc_scopes == 2 &&
	    strcmp(cfg->oidc_scopes[1], "email") == 0, "scopes");
	is_str(cfg ? cfg->oidc_strip_suffix : NULL, "@example.org",
	    "username_map.strip_suffix");
	is_str(cfg ? cfg->oidc_map_file : NULL, "/etc/nbgate/users",
	    "username_map.file");
	is_str(cfg ? cfg->oidc_ca_file : NULL, "/etc/ca.pem", "ca_file");
	is_str(cfg ? cfg->oidc_button_label : NULL, "Example University",
	    "button_label");
	config_free(cfg);
	free(cause);
	cause = NULL;

	cfg = mem("o.yaml", "auth:\n  oidc:\n    client_id: x\n", &cause);
	ok(cfg == NULL, "oidc without issuer refused");
	has_str(cause, "o.yaml:2: auth.oidc.issuer: required key is missing",
	    "names the missing issuer");
	has_str(cause, "o.yaml:2: auth.oidc.client_secret_file: required key "
	    "is missing", "names the missing secret file");
	free(cause);
	cause = NULL;

	cfg = mem("o.yaml", "auth:\n  oidc:\n    issuer: http://idp\n"
	    "    client_id: a b\n    client_secret_file: rel\n"
	    "    scopes: [profile]\n    button_label: \"\"\n"
	    "    client_secret: hunter2\n", &cause);
	ok(cfg == NULL, "bad oidc values refused");
	has_str(cause, "o.yaml:3: auth.oidc.issuer: 'http://idp' is not an "
	    "https:// URL", "issuer must be https");
	has_str(cause, "o.yaml:4: auth.oidc.client_id: 'a b' is not one word",
	    "client_id: one word");
	has_str(cause, "o.yaml:5: auth.oidc.client_secret_file: 'rel' is not an "
	    "absolute path", "secret file: absolute path");
	has_str(cause, "o.yaml:7: auth.oidc.button_label: must be one line of "
	    "1 to 64 characters", "empty label refused");
	has_str(cause, "o.yaml:8: auth.oidc.client_secret: unknown key (known "
	    "keys: issuer, client_id, client_secret_file,", "no secret in the "
	    "YAML");
	ok(cause != NULL && strstr(cause, "hunter2") == NULL,
	    "the would-be secret is not echoed");
	free(cause);
	cause = NULL;

	cfg = mem("o.yaml", "auth:\n  oidc:\n    issuer: https://idp\n"
	    "    client_id: a\n    client_secret_file: /s\n"
	    "    scopes: [profile]\n", &cause);
	has_str(cause, "o.yaml:6: auth.oidc.scopes: must include openid",
	    "scopes without openid refused");
	free(cause);
	cause = NULL;

	cfg = mem("o.yaml", "public_url: https://gw\nauth:\n  admins: [carol]\n"
	    "  oidc:\n    issuer: https://idp\n    client_id: a\n"
	    "    client_secret_file: /s\n    admins:\n"
	    "      carol: {sub: \"248289761001\"}\n", &cause);
	ok(cfg != NULL && cfg->noidc_admins == 1 &&
	    strcmp(cfg->oidc_admins[0].name, "carol") == 0 &&
	    strcmp(cfg->oidc_admins[0].sub, "248289761001") == 0,
	    "auth.oidc.admins: an administrator bound to a subject");
	config_free(cfg);
	free(cause);
	cause = NULL;

	cfg = mem("o.yaml", "public_url: https://gw\nauth:\n  admins: [carol]\n"
	    "  oidc:\n    issuer: https://idp\n    client_id: a\n"
	    "    client_secret_file: /s\n    admins:\n"
	    "      dave: {sub: d}\n", &cause);
	ok(cfg == NULL, "auth.oidc.admins: a name not in auth.admins refused");
	has_str(cause, "o.yaml:9: auth.oidc.admins: 'dave' is not in auth.admins",
	    "names the file line and the name");
	free(cause);
	cause = NULL;

	cfg = mem("o.yaml", "public_url: https://gw\nauth:\n  admins: [carol]\n"
	    "  oidc:\n    issuer: https://idp\n    client_id: a\n"
	    "    client_secret_file: /s\n    admins:\n"
	    "      Carol: {sub: c}\n      erin: {}\n", &cause);
	ok(cfg == NULL, "bad auth.oidc.admins refused");
	has_str(cause, "Carol", "an oidc admin must be a user name");
	has_str(cause, "auth.oidc.admins.erin.sub: required key is missing",
	    "the subject is required");
	free(cause);
	cause = NULL;

	cfg = mem("o.yaml", "auth:\n  oidc:\n    issuer: https://idp\n"
	    "    client_id: a\n    client_secret_file: /s\n", &cause);
	ok(cfg == NULL, "oidc without public_url refused");
	has_str(cause, "o.yaml:1: public_url: required with auth.oidc",
	    "names public_url");
	free(cause);
}


/* apps: each type's rules, and names of clusters, queues, containers that exist. */
static void
test_apps(void)
{
	static const char base[] = "clusters:\n  c1:\n    scheduler: slurm\n"
	    "    community_account: a\n    default_queue: q\n    queues:\n"
	    "      q: {walltime: {default: 1h, max: 2h}, cores: {default: 1, max: 2},"
	    " memory: {default: 1GiB, max: 2GiB}}\n    default_container: b\n"
	    "    containers:\n      b: {runtime: none}\n";
	const struct config_app	*a;
	struct config		*cfg;
	char			*text, *cause = NULL;

	xasprintf(&text, "%sapps:\n  desk: {type: desktop, auth: none, strip_prefix: true}\n"
	    "  web: {type: web, command: [\"prog\", \"--port={port}\"], listen: loopback,"
	    " auth: none, strip_prefix: true, queues: [q], containers: [b]}\n"
	    "  shared: {type: web, command: [p], listen: loopback-shared}\n", base);
	cfg = mem("apps.yaml", text, &cause);
	ok(cfg != NULL && cfg->napps == 3, "a desktop and two web apps load");
	if (cause != NULL)
		tap_diag("%s", cause);
	free(cause);
	cause = NULL;
	free(text);
	a = config_app_find(cfg, "desk");
	ok(a != NULL && a->type == CONFIG_APP_DESKTOP && strcmp(a->geometry,
	    "1280x800") == 0 && a->listen == CONFIG_APP_UNIX,
	    "  the desktop's defaults: 1280x800, a Unix socket");
	a = config_app_find(cfg, "web");
	ok(a != NULL && a->ncommand == 2 && config_app_offered(a, "c1", "q", "b") &&
	    !config_app_offered(a, "c1", "other", "b"), "  where the web app is offered");
	ok(a != NULL && a->listen == CONFIG_APP_LOOPBACK, "  listen: loopback");
	a = config_app_find(cfg, "shared");
	ok(a != NULL && a->listen == CONFIG_APP_LOOPBACK_SHARED,
	    "  listen: loopback-shared (the node's loopback where no namespace can be)");
	ok(config_app_find(cfg, "jupyter") == NULL, "  jupyter is built in, not in apps");
	config_free(cfg);

	xasprintf(&text, "%sapps:\n  jupyter: {type: jupyter}\n"
	    "  d1: {type: desktop}\n"
	    "  d2: {type: desktop, auth: none, strip_prefix: true, listen: loopback}\n"
	    "  w1: {type: web}\n"
	    "  j1: {type: jupyter, auth: none}\n"
	    "  j2: {type: jupyter, listen: loopback}\n"
	    "  g1: {type: desktop, geometry: 10x10}\n", base);
	cfg = mem("apps-bad.yaml", text, &cause);
	ok(cfg == NULL && cause != NULL, "bad apps are refused");
	has_str(cause, "apps.jupyter: 'jupyter' is the built-in notebook",
	    "  jupyter is a reserved name");
	has_str(cause, "apps.d1.auth: type desktop takes none", "  desktop: auth none");
	has_str(cause, "apps.d1.strip_prefix: type desktop needs true",
	    "  desktop: the prefix stripped");
	has_str(cause, "apps.d2.listen: type desktop listens on a Unix socket only",
	    "  desktop: no loopback port");
	has_str(cause, "apps.w1.command: required with type: web", "  web: a command");
	has_str(cause, "apps.j1.auth: type jupyter needs token", "  jupyter: the token");
	has_str(cause, "apps.j2.listen: type jupyter listens on a Unix socket",
	    "  jupyter: a Unix socket (its kernels are stopped and watched there)");
	has_str(cause, "apps.g1.geometry: '10x10' is not WIDTHxHEIGHT",
	    "  a geometry out of range");
	free(cause);
	free(text);
	config_free(cfg);

	/* names are checked once every app's own keys are right */
	xasprintf(&text, "%sapps:\n"
	    "  x1: {type: web, command: [p], clusters: [nope]}\n"
	    "  x2: {type: web, command: [p], queues: [nope], containers: [nope2]}\n",
	    base);
	cause = NULL;
	cfg = mem("apps-names.yaml", text, &cause);
	ok(cfg == NULL && cause != NULL, "apps naming what is not there are refused");
	has_str(cause, "x1: clusters: 'nope' is not one of the clusters",
	    "  an unknown cluster");
	has_str(cause, "x2: queues: 'nope' is not a queue of its clusters",
	    "  an unknown queue");
	has_str(cause, "x2: containers: 'nope2' is not a container of its clusters",
	    "  an unknown container");
	free(cause);
	free(text);
	config_free(cfg);
}

int
main(void)
{
	log_init("test-config", LOG_WARN);
	if ((srcdir = getenv("NB_SRCDIR")) == NULL)
		srcdir = ".";
	test_defaults();
	test_example();
	test_full();
	test_derived();
	test_unknown();
	test_types();
	test_range();
	test_suffix();
	test_duplicate();
	test_syntax();
	test_many();
	test_shape();
	test_hostile();
	test_clusters_full();
	test_clusters_example();
	test_clusters_cross();
	test_apps();
	test_clusters_values();
	test_clusters_hostile();
	test_clusters_gridengine();
	test_accounting();
	test_oidc();
	return (tap_done());
}
