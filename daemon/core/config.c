/*
 * config.c: nbgated's YAML configuration: loading a file or buffer into a
 * struct config (cfg-*.c hold the schema and its walker), freeing it, and
 * the lookups the rest of the daemon uses.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "daemon/core/core.h"
#include "daemon/core/cfg.h"

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
