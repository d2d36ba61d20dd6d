/*
 * test-jobreq.c: daemon/sess/jobreq.c: defaults, every field's range and
 * choice errors (exact text), unknown fields, JSON types, walltime forms,
 * injection payloads in every field, and the template variables.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/daemon.h"
#include "scheduler/scheduler.h"
#include "tests/unit/tap.h"

static struct config	*cfg;

/* Checks options (JSON text, NULL for none) for alice; the request. */
static struct jobreq *
req_ok(const char *json, const char *what)
{
	struct jobreq	*req = NULL;
	json_t		*opts = json == NULL ? NULL : json_loads(json, 0, NULL);
	char		*field = NULL, *cause = NULL;
	int		 rc;

	rc = jobreq_from_options(cfg, "alice", "", opts, &req, &field, &cause);
	ok(rc == 0 && req != NULL, "%s: accepted", what);
	if (cause != NULL)
		tap_diag("%s", cause);
	free(field);
	free(cause);
	json_decref(opts);
	return (req);
}

/* Expects the options refused with field and exactly cause. */
static void
req_bad(const char *user, const char *server, const char *json,
    const char *want_field, const char *want_cause)
{
	struct jobreq	*req = NULL;
	json_t		*opts = json == NULL ? NULL :
			    json_loads(json, JSON_ALLOW_NUL, NULL);
	char		*field = NULL, *cause = NULL;

	if (json != NULL && opts == NULL)
		fatalx("bad test JSON: %s", json);
	ok(jobreq_from_options(cfg, user, server, opts, &req, &field,
	    &cause) == -1 && req == NULL, "%s refused", json == NULL ? user :
	    json);
	is_str(field, want_field, "  field named");
	is_str(cause, want_cause, "  message");
	free(field);
	free(cause);
	json_decref(opts);
}

#define BAD(json, f, c)	req_bad("alice", "", (json), (f), (c))

static void
test_defaults(void)
{
	struct jobreq	*req;

	req = req_ok(NULL, "no options");
	if (req != NULL) {
		is_str(req->user, "alice", "user");
		is_str(req->server, "", "default server");
		is_int(req->session, 0, "session not yet set");
		is_str(req->cluster, "expanse", "first cluster is the default");
		is_str(req->queue, "debug", "default_queue");
		is_int(req->walltime, 3600, "walltime default");
		is_int(req->cores, 1, "cores default");
		is_int(req->memory, 2LL << 30, "memory default");
		is_int(req->gpus, 0, "gpus default");
		is_str(req->container, "scipy", "default_container");
		is_str(req->account, "community", "community_account");
	}
	jobreq_free(req);
	jobreq_free(NULL);

	req = req_ok("{\"cluster\": null, \"queue\": \"\", \"walltime\": null}",
	    "null and empty mean default");
	is_str(req == NULL ? NULL : req->queue, "debug", "  queue default");
	jobreq_free(req);

	req = req_ok("{\"queue\": \"gpu\"}", "gpu queue");
	ok(req != NULL && req->gpus == 1 && req->cores == 4 &&
	    req->memory == 8ULL << 30, "queue's own defaults");
	jobreq_free(req);

	req = req_ok("{\"cluster\": \"comet\"}", "comet");
	ok(req != NULL && strcmp(req->queue, "batch") == 0 &&
	    req->walltime == 1800 && strcmp(req->container, "base") == 0 &&
	    strcmp(req->account, "") == 0, "comet defaults, no account "
	    "(user charging)");
	jobreq_free(req);

	req = req_ok("{\"cluster\": \"expanse\", \"queue\": \"compute\", "
	    "\"walltime\": \"1d12h\", \"cores\": 128, \"memory\": \"256GiB\", "
	    "\"gpus\": 0, \"container\": \"torch\", \"account\": \"alloc-42\"}",
	    "everything chosen, at the limits");
	ok(req != NULL && req->walltime == 129600 && req->cores == 128 &&
	    req->memory == 256ULL << 30 && strcmp(req->container, "torch") == 0 &&
	    strcmp(req->account, "alloc-42") == 0, "  values kept");
	jobreq_free(req);

	req = req_ok("{\"cluster\": \"comet\", \"account\": \"my_alloc.1\"}",
	    "user charging, no list: any quiet name");
	is_str(req == NULL ? NULL : req->account, "my_alloc.1", "  account");
	jobreq_free(req);
}

/* walltime, memory and counts in their accepted forms. */
static void
test_forms(void)
{
	static const struct { const char *json; int secs; } wt[] = {
		{ "\"1h30m\"", 5400 }, { "\"90m\"", 5400 }, { "\"5400\"", 5400 },
		{ "5400", 5400 }, { "\"01:30:00\"", 5400 }, { "\"90:00\"", 5400 },
		{ "\"1h\"", 3600 }, { "\"2h\"", 7200 }, { "\"45m30s\"", 2730 },
		{ "\"1:00:00\"", 3600 },
	};
	static const struct { const char *json; long long mib; } mem[] = {
		{ "512", 512 }, { "\"512\"", 512 }, { "\"512M\"", 512 },
		{ "\"512MiB\"", 512 }, { "\"4GiB\"", 4096 }, { "\"4g\"", 4096 },
		{ "\"1536mib\"", 1536 },
	};
	struct jobreq	*req;
	char		*json, buf[32];
	size_t		 i;
	int		 secs;

	for (i = 0; i < nitems(wt); i++) {
		xasprintf(&json, "{\"walltime\": %s}", wt[i].json);
		req = req_ok(json, json);
		is_int(req == NULL ? -1 : req->walltime, wt[i].secs, "  seconds");
		jobreq_free(req);
		free(json);
	}
	for (i = 0; i < nitems(mem); i++) {
		xasprintf(&json, "{\"memory\": %s}", mem[i].json);
		req = req_ok(json, json);
		is_int(req == NULL ? -1 : (long long)(req->memory >> 20),
		    mem[i].mib, "  MiB");
		jobreq_free(req);
		free(json);
	}
	req = req_ok("{\"cores\": \"3\", \"gpus\": \"0\"}", "counts as text");
	ok(req != NULL && req->cores == 3, "  cores 3");
	jobreq_free(req);

	ok(jobreq_parse_walltime("2d", &secs) == 0 && secs == 172800, "2d");
	ok(jobreq_parse_walltime("1d2h3m4s", &secs) == 0 && secs == 93784,
	    "all units");
	ok(jobreq_parse_walltime("99999999999999999999h", &secs) == 0 &&
	    secs > 365 * 86400, "huge clamps, does not wrap");
	ok(jobreq_parse_walltime("1m1h", &secs) == -1, "units out of order");
	ok(jobreq_parse_walltime("1h1h", &secs) == -1, "unit twice");
	ok(jobreq_parse_walltime("1:2:3:4", &secs) == -1, "four fields");
	ok(jobreq_parse_walltime("1:60", &secs) == -1, "60 seconds");
	ok(jobreq_parse_walltime("", &secs) == -1, "empty");
	ok(jobreq_parse_walltime("h", &secs) == -1, "unit alone");
	ok(jobreq_parse_walltime("1.5h", &secs) == -1, "fraction");
	jobreq_fmt_duration(buf, sizeof buf, 93784);
	is_str(buf, "1d2h3m4s", "fmt_duration all units");
	jobreq_fmt_duration(buf, sizeof buf, 0);
	is_str(buf, "0s", "fmt_duration zero");
}

static void
test_errors(void)
{
	BAD("{\"cluster\": \"nope\"}", "cluster",
	    "cluster: 'nope' is not offered here (choose expanse or comet)");
	BAD("{\"queue\": \"gpu2\"}", "queue", "queue: 'gpu2' is not offered on "
	    "cluster expanse (choose debug, compute or gpu)");
	BAD("{\"walltime\": \"3h\"}", "walltime", "walltime: 3h is longer than "
	    "queue debug allows (at most 2h)");
	BAD("{\"walltime\": 30}", "walltime", "walltime: 30s is shorter than "
	    "queue debug allows (at least 1m)");
	BAD("{\"queue\": \"compute\", \"walltime\": \"5m\"}", "walltime",
	    "walltime: 5m is shorter than queue compute allows (at least 10m)");
	BAD("{\"walltime\": -5}", "walltime", "walltime: a negative time is "
	    "shorter than queue debug allows (at least 1m)");
	BAD("{\"walltime\": \"soon\"}", "walltime", "walltime: 'soon' is not a "
	    "duration (e.g. 1h30m, 01:30:00, or a number of seconds)");
	BAD("{\"walltime\": [1]}", "walltime", "walltime: expected a duration "
	    "(e.g. 1h30m, 01:30:00, or a number of seconds), got a list");
	BAD("{\"cores\": 8}", "cores", "cores: 8 is more than queue debug "
	    "allows (at most 4)");
	BAD("{\"cores\": 0}", "cores", "cores: 0 is fewer than queue debug "
	    "allows (at least 1)");
	BAD("{\"cores\": 1.5}", "cores", "cores: expected a whole number, got "
	    "a fractional number");
	BAD("{\"cores\": true}", "cores", "cores: expected a whole number, got "
	    "true/false");
	BAD("{\"cores\": \"many\"}", "cores", "cores: 'many' is not a whole "
	    "number");
	BAD("{\"cores\": 99999999999999999}", "cores", "cores: "
	    "99999999999999999 is more than queue debug allows (at most 4)");
	BAD("{\"memory\": \"16GiB\"}", "memory", "memory: 16GiB is more than "
	    "queue debug allows (at most 8GiB)");
	BAD("{\"memory\": 0}", "memory", "memory: 0MiB is less than queue "
	    "debug allows (at least 1MiB)");
	BAD("{\"queue\": \"compute\", \"memory\": 100}", "memory", "memory: "
	    "100MiB is less than queue compute allows (at least 1GiB)");
	BAD("{\"memory\": \"4GB\"}", "memory", "memory: '4GB' is not a memory "
	    "size (e.g. 4GiB, 512MiB, or a number of MiB)");
	BAD("{\"memory\": \"1.5GiB\"}", "memory", "memory: '1.5GiB' is not a "
	    "memory size (e.g. 4GiB, 512MiB, or a number of MiB)");
	BAD("{\"memory\": {}}", "memory", "memory: expected a memory size "
	    "(e.g. 4GiB, 512MiB, or a number of MiB), got an object");
	BAD("{\"memory\": \"99999999999999999999T\"}", "memory", "memory: "
	    "that is more than queue debug allows (at most 8GiB)");
	BAD("{\"gpus\": 1}", "gpus", "gpus: queue debug has no GPUs");
	BAD("{\"queue\": \"gpu\", \"gpus\": 5}", "gpus", "gpus: 5 is more than "
	    "queue gpu allows (at most 4)");
	BAD("{\"queue\": \"gpu\", \"gpus\": 0}", "gpus", "gpus: 0 is fewer "
	    "than queue gpu allows (at least 1)");
	BAD("{\"container\": \"tensorflow\"}", "container", "container: "
	    "'tensorflow' is not offered on cluster expanse (choose scipy, "
	    "torch or base)");
	BAD("{\"account\": \"other\"}", "account", "account: 'other' is not "
	    "available on cluster expanse (choose community or alloc-42)");
	BAD("{\"cluster\": \"comet\", \"account\": \"a;b\"}", "account",
	    "account: 'a;b' is not available on cluster comet (letters, "
	    "digits, '_', '.' and '-' only)");
	BAD("{\"queue\": 5}", "queue", "queue: expected a name, got a whole "
	    "number");
	BAD("{\"queue\": \"de\\u0000bug\"}", "queue", "queue: contains a NUL "
	    "byte");
	BAD("{\"walltime\": \"1h\\u0000;id\"}", "walltime", "walltime: '1h' is "
	    "not a duration (e.g. 1h30m, 01:30:00, or a number of seconds)");
	BAD("{\"token\": \"x\"}", "token", "token: not an option here (the "
	    "options are cluster, queue, walltime, cores, memory, gpus, "
	    "container, account, app or desktop_geometry)");
	BAD("[1, 2]", "user_options", "user_options: expected an object, got "
	    "a list");
	BAD("{\"queue\": \"\\u2028\\n$(id)xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxx\"}", "queue", "queue: '????$(id)xxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxx...' is not offered on cluster expanse (choose debug, "
	    "compute or gpu)");
	req_bad("Alice", "", NULL, "user", "user: 'Alice' is not a user name "
	    "([a-z_][a-z0-9_.-]{0,31})");
	req_bad("a23456789012345678901234567890123", "", NULL, "user",
	    "user: 'a23456789012345678901234567890123' is not a user name "
	    "([a-z_][a-z0-9_.-]{0,31})");
	req_bad("alice", "x/y", NULL, "server", "server: 'x/y' is not a server "
	    "name (lowercase letters, digits, '_', '.', '-'; at most 64)");
	req_bad("alice", "-x", NULL, "server", "server: '-x' is not a server "
	    "name (lowercase letters, digits, '_', '.', '-'; at most 64)");
}

/* Every payload in every field is refused, naming that field. */
static void
test_injection(void)
{
	static const char *payloads[] = {
		"$(id)", "`id`", "; id", "a'b", "\\\"", "x\\n#SBATCH --uid=0",
		"x\\r", "\\u0000id", "\\u2028", "\\u0085", "-x", "--uid=0",
		"a b", "*", "debug;id", "debug\\n", "1h;id", "1h\\n", "4GiB$(id)",
		"../../etc", "{{user}}", "%j", "1,2", "caf\\u00e9",
	};
	static const char *fields[] = { "cluster", "queue", "walltime",
				    "cores", "memory", "gpus", "container",
				    "account" };
	static const char *clusters[] = { "expanse", "comet" };
	struct jobreq	*req;
	json_t		*opts;
	char		*json, *field, *cause, *longv;
	size_t		 i, j, k;
	int		 all;

	longv = xmalloc(100001);
	memset(longv, 'a', 100000);
	longv[100000] = '\0';
	for (k = 0; k < nitems(clusters); k++) {
		for (i = 0; i < nitems(fields); i++) {
			all = 1;
			for (j = 0; j <= nitems(payloads); j++) {
				/* The cluster field holds the payload itself. */
				xasprintf(&json, "{\"cluster\": \"%s\", \"%s\": "
				    "\"%s\"}", clusters[k], i == 0 ? "queue" :
				    fields[i], i == 0 ? "debug" : j ==
				    nitems(payloads) ? longv : payloads[j]);
				if (i == 0) {
					free(json);
					xasprintf(&json, "{\"cluster\": \"%s\"}",
					    j == nitems(payloads) ? longv :
					    payloads[j]);
				}
				opts = json_loads(json, JSON_ALLOW_NUL, NULL);
				if (opts == NULL)
					fatalx("bad test JSON: %s", json);
				field = cause = NULL;
				req = NULL;
				if (jobreq_from_options(cfg, "alice", "", opts,
				    &req, &field, &cause) != -1 ||
				    field == NULL || strcmp(field, fields[i]) != 0 ||
				    strncmp(cause, fields[i], strlen(fields[i])) != 0) {
					all = 0;
					tap_diag("%s: %s", json, cause == NULL ?
					    "accepted" : cause);
				}
				jobreq_free(req);
				json_decref(opts);
				free(field);
				free(cause);
				free(json);
			}
			ok(all, "%s: %zu payloads in %s all refused, naming it",
			    clusters[k], nitems(payloads) + 1, fields[i]);
		}
	}
	free(longv);
}

static void
test_vars(void)
{
	const struct jobreq_env	 env = { "gw:2222", "SHA256:x", "/user/alice/",
				    "alice", "secret", NULL };
	struct template_vars	*vars;
	struct jobreq		*req;
	json_t			*opts;
	char			*field = NULL, *cause = NULL, *path;

	opts = json_loads("{\"queue\": \"gpu\", \"walltime\": \"1h30m\", "
	    "\"memory\": \"10GiB\", \"gpus\": 2}", 0, NULL);
	if (jobreq_from_options(cfg, "abcdefghijklmnopq", "lab", opts, &req,
	    &field, &cause) == -1)
		fatalx("%s", cause);
	req->session = 1234567890123LL;
	vars = jobreq_template_vars(req, config_cluster_find(cfg, "expanse"),
	    &env, &cause);
	ok(vars != NULL, "template vars built");
	is_str(template_vars_get(vars, "walltime"), "01:30:00", "walltime");
	is_str(template_vars_get(vars, "walltime_s"), "5400", "walltime_s");
	is_str(template_vars_get(vars, "memory_mb"), "10240", "memory_mb");
	is_str(template_vars_get(vars, "gpus"), "2", "gpus");
	is_str(template_vars_get(vars, "session"), "1234567890123", "session");
	is_str(template_vars_get(vars, "job_name"),
	    "nbgate-abcdefghijklmnopq-lab", "job_name with server");
	is_str(template_vars_get(vars, "comment"),
	    "nbgate:user=abcdefghijklmnopq:session=1234567890123", "comment");
	is_str(template_vars_get(vars, "pbs_name"), "nb-abcdefghijkl",
	    "pbs_name: 15 characters");
	is_str(template_vars_get(vars, "job_dir"),
	    "/scratch/nbgate/jobs/1234567890123", "job_dir");
	is_str(template_vars_get(vars, "extra_directives"),
	    "#SBATCH --qos=normal\n#SBATCH --constraint=lustre",
	    "extra_directives, one a line");
	is_str(template_vars_get(vars, "binds"), "/home,/scratch:/scratch:rw",
	    "binds joined");
	is_str(template_vars_get(vars, "gateway"), "gw:2222", "gateway");
	template_vars_free(vars);
	path = jobreq_template_path(req, config_cluster_find(cfg, "expanse"));
	is_str(path, "/etc/nbgate/templates/slurm.sh", "cluster template");
	free(path);
	free(req->queue);
	req->queue = xstrdup("compute");
	path = jobreq_template_path(req, config_cluster_find(cfg, "expanse"));
	is_str(path, "/etc/nbgate/templates/compute.sh", "queue template");
	free(path);
	path = jobreq_template_path(req, config_cluster_find(cfg, "comet"));
	has_str(path, "/templates/pbs.sh", "default template by scheduler");
	free(path);
	vars = jobreq_template_vars(req, config_cluster_find(cfg, "comet"),
	    NULL, &cause);
	ok(vars == NULL, "vars for the wrong cluster refused");
	has_str(cause, "no longer matches", "  says why");
	free(cause);
	cause = NULL;
	jobreq_free(req);
	json_decref(opts);

	req = req_ok(NULL, "defaults for vars");
	vars = jobreq_template_vars(req, config_cluster_find(cfg, "expanse"),
	    NULL, &cause);
	is_str(vars == NULL ? NULL : template_vars_get(vars, "gpus"), "",
	    "gpus 0 is empty (section off)");
	is_str(vars == NULL ? NULL : template_vars_get(vars, "job_name"),
	    "nbgate-alice", "job_name, default server");
	is_str(vars == NULL ? NULL : template_vars_get(vars, "gateway"), "",
	    "no env: empty");
	template_vars_free(vars);
	jobreq_free(req);
}

static void
test_no_clusters(void)
{
	struct config	*saved = cfg;

	cfg = config_default();
	BAD(NULL, "cluster", "cluster: no clusters are set up on this gateway");
	config_free(cfg);
	cfg = saved;
}

/* app and desktop_geometry: apps: in clusters.yaml, and what the job gets. */
static void
test_apps(void)
{
	const struct jobreq_env	 env = { "gw:2222", "SHA256:x", "/user/alice/",
				    "alice", "secret", NULL };
	struct jobreq		*req;
	struct template_vars	*vars;
	char			*cause = NULL;

	req = req_ok(NULL, "no app");
	is_str(req == NULL ? NULL : req->app, "jupyter", "  jupyter by default");
	is_str(req == NULL ? NULL : req->geometry, "", "  no geometry");
	jobreq_free(req);
	req = req_ok("{\"app\": \"desktop\"}", "app desktop");
	is_str(req == NULL ? NULL : req->geometry, "1280x800", "  its geometry");
	if (req != NULL) {
		ok(jobreq_app(cfg, req) != NULL, "  found in apps:");
		vars = jobreq_template_vars(req, config_cluster_find(cfg,
		    "expanse"), &(struct jobreq_env){ "gw:2222", "SHA256:x",
		    "/user/alice/", "alice", "secret", jobreq_app(cfg, req) },
		    &cause);
		is_str(vars == NULL ? NULL : template_vars_get(vars, "app_type"),
		    "desktop", "  app_type for the agent's --app");
		is_str(vars == NULL ? NULL : template_vars_get(vars, "geometry"),
		    "1280x800", "  geometry for --geometry");
		is_str(vars == NULL ? NULL : template_vars_get(vars, "app_tcp"),
		    "", "  no --tcp --netns for a Unix socket");
		if (vars != NULL)
			template_vars_free(vars);
	}
	jobreq_free(req);
	req = req_ok("{\"app\": \"jupyter\"}", "app jupyter");
	vars = req == NULL ? NULL : jobreq_template_vars(req,
	    config_cluster_find(cfg, "expanse"), &env, &cause);
	is_str(vars == NULL ? NULL : template_vars_get(vars, "app_type"), "",
	    "  no --app for jupyter (scripts as before)");
	if (vars != NULL)
		template_vars_free(vars);
	jobreq_free(req);
	req = req_ok("{\"app\": \"desktop\", \"desktop_geometry\": \"1024x768\"}",
	    "geometry chosen");
	is_str(req == NULL ? NULL : req->geometry, "1024x768", "  kept");
	jobreq_free(req);
	BAD("{\"app\": \"vscode\"}", "app", "app: 'vscode' is not offered on "
	    "cluster expanse, queue debug with container scipy (choose jupyter, "
	    "desktop)");
	BAD("{\"app\": \"desktop\", \"queue\": \"gpu\"}", "app", "app: "
	    "'desktop' is not offered on cluster expanse, queue gpu with container "
	    "scipy (choose jupyter)");
	BAD("{\"app\": \"desktop\", \"desktop_geometry\": \"1024x768;id\"}",
	    "desktop_geometry", "desktop_geometry: '1024x768;id' is not "
	    "WIDTHxHEIGHT (e.g. 1280x800; 320x200 to 7680x4320)");
	BAD("{\"app\": \"desktop\", \"desktop_geometry\": \"99999x768\"}",
	    "desktop_geometry", "desktop_geometry: '99999x768' is not "
	    "WIDTHxHEIGHT (e.g. 1280x800; 320x200 to 7680x4320)");
	BAD("{\"desktop_geometry\": \"1024x768\"}", "desktop_geometry",
	    "desktop_geometry: only for a desktop app (app jupyter is not one)");
	BAD("{\"app\": 3}", "app", "app: expected a name, got a whole number");
	free(cause);
}

int
main(void)
{
	const char	*srcdir;
	char		*path, *cause = NULL;

	log_init("test-jobreq", LOG_WARN);
	if ((srcdir = getenv("NB_SRCDIR")) == NULL)
		srcdir = ".";
	xasprintf(&path, "%s/tests/unit/data/clusters.yaml", srcdir);
	if ((cfg = config_load(path, &cause)) == NULL)
		fatalx("%s", cause);
	free(path);
	test_defaults();
	test_forms();
	test_errors();
	test_injection();
	test_vars();
	test_apps();
	test_no_clusters();
	config_free(cfg);
	return (tap_done());
}
