/*
 * cfg-cluster.c: clusters: { NAME: {...} }: the cluster, queue, container and
 * limit tables, their cross-field rules, and the names of their enums.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "daemon/core/core.h"
#include "daemon/core/cfg.h"

static void	cfg_check_limit(struct cfg_ctx *, const struct cfg_section *,
		    void *, const char *, size_t, const size_t *);
static void	cfg_check_container(struct cfg_ctx *,
		    const struct cfg_section *, void *, const char *, size_t,
		    const size_t *);
static int	cfg_check_restapi(const char *, char **);
static void	cfg_check_cluster(struct cfg_ctx *, const struct cfg_section *,
		    void *, const char *, size_t, const size_t *);

static const char *const cfg_schedulers[] = { "slurm", "pbs", "gridengine", NULL };
static const char *const cfg_transports[] = { "local", "ssh", "slurmrestd", NULL };
static const char *const cfg_slurm_apis[] = { "cli", "libslurm", NULL };
static const char *const cfg_chargings[] = { "community", "user", NULL };
static const char *const cfg_runtimes[] = { "singularity", "apptainer", "none",
    NULL };
static const char *const cfg_notebooks[] = { "classic", "server", "lab", NULL };
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
	{ .name = "pe", .type = CFG_STRING, .off = QOFF(pe), .def = "smp",
	  .check = cfg_check_sched_name },
};
static const struct cfg_section cfg_queue = SECTION(cfg_queue_keys);

static const struct cfg_key cfg_container_keys[] = {
	{ .name = "image", .type = CFG_STRING, .off = IOFF(image), .def = "",
	  .check = cfg_check_image },
	{ .name = "runtime", .type = CFG_ENUM, .off = IOFF(runtime),
	  .choices = cfg_runtimes, .def = "singularity" },
	{ .name = "description", .type = CFG_STRING,
	  .off = IOFF(description), .def = "", .check = cfg_check_line },
	{ .name = "notebook", .type = CFG_ENUM, .off = IOFF(notebook),
	  .choices = cfg_notebooks, .def = "server" },
	{ .name = "notebook_command", .type = CFG_STRLIST,
	  .off = IOFF(notebook_command), .count_off = IOFF(nnotebook_command),
	  .check = cfg_check_word },
};
static const struct cfg_section cfg_container =
    CHECKED(cfg_container_keys, cfg_check_container);

/* extend: {step, max_total}: absent, users cannot extend a running job. */
static const struct cfg_key cfg_extend_keys[] = {
	{ .name = "step", .type = CFG_DURATION, .off = KOFF(extend_step),
	  .min = MINUTE, .max = 7 * DAY, .required = 1 },
	{ .name = "max_total", .type = CFG_DURATION, .off = KOFF(extend_max),
	  .min = MINUTE, .max = 365 * DAY, .required = 1 },
};
static const struct cfg_section cfg_extend = SECTION(cfg_extend_keys);

static const struct cfg_key cfg_cluster_keys[] = {
	{ .name = "scheduler", .type = CFG_ENUM, .off = KOFF(scheduler),
	  .choices = cfg_schedulers, .required = 1 },
	{ .name = "transport", .type = CFG_ENUM, .off = KOFF(transport),
	  .choices = cfg_transports, .def = "local" },
	{ .name = "slurm_api", .type = CFG_ENUM, .off = KOFF(slurm_api),
	  .choices = cfg_slurm_apis, .def = "cli" },
	{ .name = "login_host", .type = CFG_HOSTPORT, .off = KOFF(login_host) },
	{ .name = "login_host_key", .type = CFG_STRING,
	  .off = KOFF(login_host_key), .check = cfg_check_hostkey },
	{ .name = "login_user", .type = CFG_STRING, .off = KOFF(login_user),
	  .check = cfg_check_user },
	{ .name = "login_key", .type = CFG_PATH, .off = KOFF(login_key) },
	{ .name = "user_ca_key", .type = CFG_PATH, .off = KOFF(user_ca_key) },
	{ .name = "slurm_conf", .type = CFG_PATH, .off = KOFF(slurm_conf) },
	{ .name = "environment", .type = CFG_STRLIST, .off = KOFF(environment),
	  .count_off = KOFF(nenvironment), .check = cfg_check_env },
	{ .name = "memory_complex", .type = CFG_STRING,
	  .off = KOFF(memory_complex), .def = "mem_free",
	  .check = cfg_check_sched_name },
	{ .name = "slurmrestd_url", .type = CFG_STRING, .off = KOFF(slurmrestd_url),
	  .def = "", .check = cfg_check_url },
	{ .name = "slurmrestd_api", .type = CFG_STRING, .off = KOFF(slurmrestd_api),
	  .def = "v0.0.38", .check = cfg_check_restapi },
	{ .name = "slurmrestd_token_file", .type = CFG_PATH,
	  .off = KOFF(slurmrestd_token_file) },
	{ .name = "slurmrestd_jwt_key", .type = CFG_PATH,
	  .off = KOFF(slurmrestd_jwt_key) },
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
	{ .name = "extend", .type = CFG_SECTION, .sub = &cfg_extend },
	{ .name = "node_addresses", .type = CFG_STRLIST,
	  .off = KOFF(node_addresses), .count_off = KOFF(nnode_addresses),
	  .check = cfg_check_cidr },
};
const struct cfg_section cfg_cluster =
    CHECKED(cfg_cluster_keys, cfg_check_cluster);

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

/*
 * transport: ssh needs where and how to log in; local has no login host or
 * key (login_user, if set, is the account local commands run as).
 */
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
		if (c->transport != CONFIG_SSH && set[i] != NULL && i != 2) {
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

/* slurmrestd_api: "v0.0.NN" (it is part of every request's path). */
static int
cfg_check_restapi(const char *s, char **problem)
{
	if (strncmp(s, "v0.0.", 5) == 0 && strlen(s) <= 8 && strlen(s) > 5 &&
	    strspn(s + 5, "0123456789") == strlen(s + 5))
		return (0);
	xasprintf(problem, "'%s' is not an OpenAPI version such as v0.0.38", s);
	return (-1);
}

/*
 * transport: slurmrestd: SLURM, a URL, one way to a token and the account it
 * is for (login_user); its keys mean nothing with another transport.
 */
static void
cfg_check_slurmrestd(struct cfg_ctx *ctx, const struct cfg_section *sec,
    struct config_cluster *c, const char *prefix, size_t line,
    const size_t *seen)
{
	size_t	tline = cfg_seen(sec, seen, "transport");

	if (c->transport != CONFIG_SLURMRESTD) {
		if (*c->slurmrestd_url != '\0')
			cfg_key_error(ctx, sec, seen, prefix, line, "slurmrestd_url",
			    "only used with transport: slurmrestd");
		if (c->slurmrestd_token_file != NULL)
			cfg_key_error(ctx, sec, seen, prefix, line,
			    "slurmrestd_token_file", "only used with transport: slurmrestd");
		if (c->slurmrestd_jwt_key != NULL)
			cfg_key_error(ctx, sec, seen, prefix, line, "slurmrestd_jwt_key",
			    "only used with transport: slurmrestd");
		return;
	}
	if (strcmp(config_scheduler_name(c->scheduler), "slurm") != 0)
		cfg_key_error(ctx, sec, seen, prefix, tline, "transport",
		    "slurmrestd needs scheduler: slurm");
	if (*c->slurmrestd_url == '\0')
		cfg_key_error(ctx, sec, seen, prefix, tline, "slurmrestd_url",
		    "required with transport: slurmrestd");
	if ((c->slurmrestd_token_file == NULL) == (c->slurmrestd_jwt_key == NULL))
		cfg_key_error(ctx, sec, seen, prefix, tline, "slurmrestd_token_file",
		    "transport: slurmrestd needs one of slurmrestd_token_file and "
		    "slurmrestd_jwt_key");
	if (c->login_user == NULL)
		cfg_key_error(ctx, sec, seen, prefix, tline, "login_user",
		    "required with transport: slurmrestd (the account jobs run as)");
	if (c->output_dir[0] != '/')
		cfg_key_error(ctx, sec, seen, prefix, line, "output_dir",
		    "must be absolute with transport: slurmrestd (jobs start in /)");
}

/* slurm_api: libslurm is a SLURM client on this host: scheduler slurm, transport local. */
static void
cfg_check_slurm_api(struct cfg_ctx *ctx, const struct cfg_section *sec,
    struct config_cluster *c, const char *prefix, size_t line,
    const size_t *seen)
{
	if (c->slurm_api == CONFIG_SLURM_CLI)
		return;
	if (strcmp(config_scheduler_name(c->scheduler), "slurm") != 0) {
		cfg_key_error(ctx, sec, seen, prefix, line, "slurm_api",
		    "libslurm needs scheduler: slurm");
	} else if (c->transport != CONFIG_LOCAL) {
		cfg_key_error(ctx, sec, seen, prefix, line, "slurm_api",
		    "libslurm needs transport: local (this host is a submit "
		    "host with the cluster's slurm.conf and munge)");
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
/* A cluster's cross-field rules. */
static void
cfg_check_cluster(struct cfg_ctx *ctx, const struct cfg_section *sec,
    void *base, const char *prefix, size_t line, const size_t *seen)
{
	struct config_cluster	*c = base;

	cfg_check_defaults(ctx, sec, c, prefix, line, seen);
	cfg_check_transport(ctx, sec, c, prefix, line, seen);
	cfg_check_slurm_api(ctx, sec, c, prefix, line, seen);
	cfg_check_slurmrestd(ctx, sec, c, prefix, line, seen);
	cfg_check_charging(ctx, sec, c, prefix, line, seen);
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

/* "classic", "server" or "lab": the agent's --notebook-app. */
const char *
config_notebook_name(int notebook)
{
	if (notebook < 0 || notebook >= (int)nitems(cfg_notebooks) - 1)
		return ("unknown");
	return (cfg_notebooks[notebook]);
}
