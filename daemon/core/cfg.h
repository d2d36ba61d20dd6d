/*
 * cfg.h: the configuration's schema engine, private to daemon/core's cfg-*.c
 * and config.c (core.h is the room's interface). Include after <yaml.h>.
 */
#ifndef NB_CORE_CFG_H
#define NB_CORE_CFG_H

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

#define OFF(f)		offsetof(struct config, f)
#define QOFF(f)		offsetof(struct config_queue, f)
#define IOFF(f)		offsetof(struct config_container, f)
#define KOFF(f)		offsetof(struct config_cluster, f)
#define POFF(f)		offsetof(struct config_app, f)
#define AOFF(f)		offsetof(struct config_oidc_admin, f)
#define SECTION(t)	{ (t), nitems(t), NULL }
#define CHECKED(t, fn)	{ (t), nitems(t), (fn) }
#define KiB		1024LL
#define MiB		(1024LL * 1024)
#define GiB		(1024LL * MiB)
#define MINUTE		60LL
#define HOUR		(60LL * 60)
#define DAY		(24LL * 60 * 60)
#define FIELD(base, off, type)	((type *)((char *)(base) + (off)))

/* cfg-walk.c: value types, "FILE:LINE: KEY: problem" errors, the walker */
void		 cfg_error(struct cfg_ctx *, size_t, const char *,
		    const char *, ...) NB_PRINTF(4, 5);
void		 cfg_key_error(struct cfg_ctx *, const struct cfg_section *,
		    const size_t *, const char *, size_t, const char *,
		    const char *, ...) NB_PRINTF(7, 8);
size_t		 cfg_line(yaml_node_t *);
size_t		 cfg_seen(const struct cfg_section *, const size_t *,
		    const char *);
void		 cfg_fmt_duration(char *, size_t, long long);
void		 cfg_fmt_size(char *, size_t, long long);
long long	 cfg_get_num(const struct cfg_key *, void *);
void		 cfg_fmt_num(const struct cfg_key *, long long, char *, size_t);
const struct cfg_elem *cfg_elem_find(const void *, size_t, size_t,
		    const char *);
void		 cfg_walk_section(struct cfg_ctx *, const struct cfg_section *,
		    yaml_node_t *, void *, const char *, size_t);
void		 cfg_defaults(const struct cfg_section *, void *);
void		 cfg_derive(const struct cfg_section *, void *, const char *);
void		 cfg_free_section(const struct cfg_section *, void *);

/* cfg-check.c: checks of one value, each "0, or -1 and *problem" */
int		 cfg_check_user(const char *, char **);
int		 cfg_check_url(const char *, char **);
int		 cfg_check_cluster_name(const char *, char **);
int		 cfg_check_sched_name(const char *, char **);
int		 cfg_check_pam_service(const char *, char **);
int		 cfg_check_https(const char *, char **);
int		 cfg_check_user_hosts(const char *, char **);
int		 cfg_check_origin(const char *, char **);
int		 cfg_check_word(const char *, char **);
int		 cfg_check_word_opt(const char *, char **);
int		 cfg_check_label(const char *, char **);
int		 cfg_check_sched_name_opt(const char *, char **);
int		 cfg_check_line(const char *, char **);
int		 cfg_check_sub(const char *, char **);
int		 cfg_check_image(const char *, char **);
int		 cfg_check_hostkey(const char *, char **);
int		 cfg_check_directive(const char *, char **);
int		 cfg_check_env(const char *, char **);
int		 cfg_check_bind(const char *, char **);
int		 cfg_check_cidr(const char *, char **);
int		 cfg_check_output_dir(const char *, char **);
int		 cfg_check_workdir(const char *, char **);

/* cfg-top.c: the top-level keys, their defaults and cross-section rules */
extern const struct cfg_section cfg_top;

/* cfg-cluster.c: clusters, their queues, containers and limits */
extern const struct cfg_section cfg_cluster;

/* cfg-app.c: apps, and their references to clusters checked */
extern const struct cfg_section cfg_app;
void		 cfg_check_apps(struct cfg_ctx *, const struct config *);

#endif /* NB_CORE_CFG_H */
