/*
 * scheduler.h: the scheduler bridge's internal interfaces: batch-script
 * templates. (Job requests checked against the config are gateway policy:
 * daemon/sess/jobreq.c.)
 */
#ifndef NB_SCHEDULER_H
#define NB_SCHEDULER_H

#include <stddef.h>

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
