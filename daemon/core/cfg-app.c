/*
 * cfg-app.c: apps: { NAME: {...} }: what a server may run besides the
 * built-in Jupyter notebook (a remote desktop, any web program), where it
 * listens, what nbgated adds to its requests, and who offers it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "daemon/core/core.h"
#include "daemon/core/cfg.h"

#define GEOMETRY_MIN_W	320
#define GEOMETRY_MIN_H	200
#define GEOMETRY_MAX_W	7680
#define GEOMETRY_MAX_H	4320

static void	cfg_check_app(struct cfg_ctx *, const struct cfg_section *,
		    void *, const char *, size_t, const size_t *);
static int	cfg_check_geometry(const char *, char **);

/* In enum config_app_type, config_app_listen and config_app_auth order. */
static const char *const cfg_app_types[] = { "jupyter", "desktop", "web", NULL };
static const char *const cfg_app_listens[] = { "unix", "loopback", "loopback-shared",
	NULL };
static const char *const cfg_app_auths[] = { "token", "none", NULL };

static const struct cfg_key cfg_app_keys[] = {
	{ .name = "type", .type = CFG_ENUM, .off = POFF(type),
	  .choices = cfg_app_types, .required = 1 },
	{ .name = "description", .type = CFG_STRING, .off = POFF(description),
	  .def = "", .check = cfg_check_line },
	{ .name = "command", .type = CFG_STRLIST, .off = POFF(command),
	  .count_off = POFF(ncommand), .check = cfg_check_word },
	{ .name = "listen", .type = CFG_ENUM, .off = POFF(listen),
	  .choices = cfg_app_listens, .def = "unix" },
	{ .name = "auth", .type = CFG_ENUM, .off = POFF(auth),
	  .choices = cfg_app_auths, .def = "token" },
	{ .name = "strip_prefix", .type = CFG_BOOL, .off = POFF(strip_prefix),
	  .def = "false" },
	{ .name = "geometry", .type = CFG_STRING, .off = POFF(geometry),
	  .def = "1280x800", .check = cfg_check_geometry },
	{ .name = "clusters", .type = CFG_STRLIST, .off = POFF(clusters),
	  .count_off = POFF(nclusters), .check = cfg_check_cluster_name },
	{ .name = "queues", .type = CFG_STRLIST, .off = POFF(queues),
	  .count_off = POFF(nqueues), .check = cfg_check_sched_name },
	{ .name = "containers", .type = CFG_STRLIST, .off = POFF(containers),
	  .count_off = POFF(ncontainers), .check = cfg_check_sched_name },
};
const struct cfg_section cfg_app = CHECKED(cfg_app_keys, cfg_check_app);

/* "WxH", each within what a browser window and Xvnc handle; 0 or -1. */
int
config_geometry_parse(const char *s, int *w, int *h)
{
	char	*end;
	long	 x, y;

	if (*s < '1' || *s > '9')
		return (-1);
	x = strtol(s, &end, 10);
	if (*end != 'x' || end[1] < '1' || end[1] > '9')
		return (-1);
	y = strtol(end + 1, &end, 10);
	if (*end != '\0' || x < GEOMETRY_MIN_W || x > GEOMETRY_MAX_W ||
	    y < GEOMETRY_MIN_H || y > GEOMETRY_MAX_H)
		return (-1);
	*w = (int)x;
	*h = (int)y;
	return (0);
}

static int
cfg_check_geometry(const char *s, char **problem)
{
	int	w, h;

	if (config_geometry_parse(s, &w, &h) == 0)
		return (0);
	xasprintf(problem, "'%s' is not WIDTHxHEIGHT between %dx%d and %dx%d",
	    s, GEOMETRY_MIN_W, GEOMETRY_MIN_H, GEOMETRY_MAX_W, GEOMETRY_MAX_H);
	return (-1);
}

/*
 * What each type needs: Jupyter checks the token nbgated adds and serves
 * under its prefix; the agent's noVNC bridge serves from / and checks nothing
 * (the gateway is their only door), on a Unix socket only; a web app names
 * its command.
 */
static void
cfg_check_app(struct cfg_ctx *ctx, const struct cfg_section *sec,
    void *base, const char *prefix, size_t line, const size_t *seen)
{
	struct config_app	*a = base;

	if (strcmp(a->name, CONFIG_APP_DEFAULT) == 0)
		cfg_error(ctx, a->line, prefix, "'%s' is the built-in notebook: "
		    "give this app another name", CONFIG_APP_DEFAULT);
	switch (a->type) {
	case CONFIG_APP_JUPYTER:
		if (a->listen != CONFIG_APP_UNIX)
			cfg_key_error(ctx, sec, seen, prefix, line, "listen",
			    "type jupyter listens on a Unix socket (Jupyter can)");
		if (a->auth != CONFIG_APP_AUTH_TOKEN)
			cfg_key_error(ctx, sec, seen, prefix, line, "auth",
			    "type jupyter needs token (Jupyter checks it)");
		if (a->strip_prefix)
			cfg_key_error(ctx, sec, seen, prefix, line, "strip_prefix",
			    "type jupyter serves under its own prefix");
		break;
	case CONFIG_APP_DESKTOP:
		if (a->listen != CONFIG_APP_UNIX)
			cfg_key_error(ctx, sec, seen, prefix, line, "listen",
			    "type desktop listens on a Unix socket only");
		if (a->auth != CONFIG_APP_AUTH_NONE)
			cfg_key_error(ctx, sec, seen, prefix, line, "auth",
			    "type desktop takes none (its bridge checks nothing)");
		if (!a->strip_prefix)
			cfg_key_error(ctx, sec, seen, prefix, line, "strip_prefix",
			    "type desktop needs true (noVNC is served "
			    "from /)");
		break;
	default:
		if (a->ncommand == 0)
			cfg_key_error(ctx, sec, seen, prefix, line, "command",
			    "required with type: web");
		break;
	}
}

/* A name list's entry that is not among a map's names, or NULL. */
static const char *
cfg_app_unknown(char **names, size_t n, const void *array, size_t count,
    size_t size)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (cfg_elem_find(array, count, size, names[i]) == NULL)
			return (names[i]);
	}
	return (NULL);
}

/* Is a queue or container called @name on any cluster the app is on? */
static int
cfg_app_somewhere(const struct config *cfg, const struct config_app *a,
    const char *name, int queue)
{
	const struct config_cluster	*c;
	size_t				 i;

	for (i = 0; i < cfg->nclusters; i++) {
		c = &cfg->clusters[i];
		if (!config_app_offered(a, c->name, NULL, NULL))
			continue;
		if (queue ? config_queue_find(c, name) != NULL :
		    config_container_find(c, name) != NULL)
			return (1);
	}
	return (0);
}

/* apps.NAME.clusters, queues and containers name what exists. */
void
cfg_check_apps(struct cfg_ctx *ctx, const struct config *cfg)
{
	const struct config_app	*a;
	const char		*bad;
	size_t			 i, j;

	for (i = 0; i < cfg->napps; i++) {
		a = &cfg->apps[i];
		bad = cfg_app_unknown(a->clusters, a->nclusters, cfg->clusters,
		    cfg->nclusters, sizeof *cfg->clusters);
		if (bad != NULL) {
			cfg_error(ctx, a->line, "apps", "%s: clusters: '%s' is not "
			    "one of the clusters", a->name, bad);
			continue;
		}
		for (j = 0; j < a->nqueues; j++) {
			if (!cfg_app_somewhere(cfg, a, a->queues[j], 1))
				cfg_error(ctx, a->line, "apps", "%s: queues: '%s' is "
				    "not a queue of its clusters", a->name,
				    a->queues[j]);
		}
		for (j = 0; j < a->ncontainers; j++) {
			if (!cfg_app_somewhere(cfg, a, a->containers[j], 0))
				cfg_error(ctx, a->line, "apps", "%s: containers: '%s' "
				    "is not a container of its clusters", a->name,
				    a->containers[j]);
		}
	}
}

/* The app called @name; borrowed, or NULL (also for the built-in jupyter). */
const struct config_app *
config_app_find(const struct config *cfg, const char *name)
{
	if (cfg == NULL || name == NULL)
		return (NULL);
	return ((const struct config_app *)cfg_elem_find(cfg->apps, cfg->napps,
	    sizeof *cfg->apps, name));
}

/* "jupyter", "desktop" or "web". */
const char *
config_app_type_name(int type)
{
	if (type < 0 || type >= (int)nitems(cfg_app_types) - 1)
		return ("unknown");
	return (cfg_app_types[type]);
}

static int
cfg_app_listed(char **list, size_t n, const char *name)
{
	size_t	i;

	if (n == 0 || name == NULL)
		return (1);
	for (i = 0; i < n; i++) {
		if (strcmp(list[i], name) == 0)
			return (1);
	}
	return (0);
}

/* Does @a run on that cluster, queue and container (NULL: any)? */
int
config_app_offered(const struct config_app *a, const char *cluster,
    const char *queue, const char *container)
{
	return (cfg_app_listed(a->clusters, a->nclusters, cluster) &&
	    cfg_app_listed(a->queues, a->nqueues, queue) &&
	    cfg_app_listed(a->containers, a->ncontainers, container));
}
