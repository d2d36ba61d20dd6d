/*
 * scheduler.h: the scheduler bridge's internal interfaces, grouped by file:
 * job requests checked against the config, and batch-script templates.
 */
#ifndef NB_SCHEDULER_H
#define NB_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct config;
struct config_cluster;

/* jobreq.c: a user's spawn options, checked against clusters: */
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
		     const char *, json_t *, struct jobreq **, char **, char **);
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

/* template.c: {{name}} (quoted), {{#name}}..{{/name}}, {{{trusted}}} */
#define TEMPLATE_MAX_SIZE	(256 * 1024)	/* bytes of template text */
#define TEMPLATE_MAX_VALUE	4096		/* bytes of one value */
#define TEMPLATE_MAX_OUTPUT	(1024 * 1024)	/* bytes of rendered script */
enum template_kind {
	TEMPLATE_USER,		/* may come from a user: always quoted */
	TEMPLATE_TRUSTED	/* admin-written config text: may be raw */
};
struct template_vars;
struct template_vars *template_vars_new(void);
void		 template_vars_set(struct template_vars *, const char *,
		     const char *, enum template_kind);
const char	*template_vars_get(const struct template_vars *, const char *);
void		 template_vars_free(struct template_vars *);
/* Renders text; the owned script, or NULL and *cause ("line N: ..."). */
char		*template_render(const char *, size_t,
		     const struct template_vars *, char **);
/* Reads a template file of at most TEMPLATE_MAX_SIZE bytes; caller frees. */
char		*template_load(const char *, size_t *, char **);
char		*template_quote(const char *);

/*
 * sched-*.c: scheduler backends (a later issue): const struct sched_ops
 * tables with designated initialisers, their list in one file.
 * --- sched_ops goes here ---
 */

#endif
