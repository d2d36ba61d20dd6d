/*
 * cfg-walk.c: the schema walker: each value type's parser, errors as
 * "FILE:LINE: KEY: problem", and walking, defaulting and freeing any table.
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "daemon/core/core.h"
#include "daemon/core/cfg.h"

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
void
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
void
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


/* Adds one "FILE:LINE: PATH: problem" line; control characters become '?'. */
void NB_PRINTF(4, 5)
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
size_t
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

/* The element of a CFG_MAPOF array called name, or NULL. */
const struct cfg_elem *
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
void
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
size_t
cfg_seen(const struct cfg_section *sec, const size_t *seen, const char *name)
{
	ssize_t	i = cfg_find(sec, name);

	return (i == -1 ? 0 : seen[i]);
}

/* Reports a problem with key name of a section, at its line or at line. */
void NB_PRINTF(7, 8)
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
long long
cfg_get_num(const struct cfg_key *k, void *base)
{
	if (k->type == CFG_SIZE)
		return ((long long)*FIELD(base, k->off, size_t));
	return (*FIELD(base, k->off, int));
}

/* Writes a number in its key's unit. */
void
cfg_fmt_num(const struct cfg_key *k, long long v, char *buf, size_t len)
{
	if (k->type == CFG_DURATION)
		cfg_fmt_duration(buf, len, v);
	else if (k->type == CFG_SIZE)
		cfg_fmt_size(buf, len, v);
	else
		snprintf(buf, len, "%lld", v);
}

/* Sets every default of a section; they are ours, so a bad one is a bug. */
void
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
void
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
void
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
