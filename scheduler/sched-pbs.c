/*
 * sched-pbs.c: the PBS command-line backend (PBS Pro/OpenPBS, Torque, and
 * the slurm-wlm-torque wrappers): qsub/qstat -f/qstat -x -f/qdel argv
 * builders and a parser of the `qstat -f` attribute format (status queries
 * and job listings).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/common.h"
#include "scheduler/backend.h"

/*
 * qsub cannot read the script on stdin everywhere (the wrappers cannot), so
 * over SSH the script goes through a private temporary file. Fixed text: no
 * user value is ever part of it.
 */
#define PBS_STDIN_WRAPPER \
	"f=$(mktemp) && cat > \"$f\" && qsub \"$f\"; rc=$?; rm -f \"$f\"; exit $rc"

/* Exit codes: qstat's "Unknown Job Id" (PBS Pro and Torque); both lists are heuristics. */
#define PBS_UNKNOWN_JOB		153
#define PBS_PRO_KILL_MEM	-27
#define PBS_PRO_KILL_VMEM	-26
#define PBS_PRO_KILL_WALLTIME	-29
#define TORQUE_OVERLIMIT_MEM	-10
#define TORQUE_OVERLIMIT_WT	-11
#define PBS_VALUE_MAX		4096	/* bytes kept of a wrapped attribute value */

/* One-letter job_state to the common status; exit_status refines ENDED later. */
void
sched_pbs_map(const char *word, struct sched_status *st)
{
	free(st->raw);
	st->raw = xstrdup(word);
	st->end = SCHED_END_NONE;
	if (strlen(word) != 1) {
		st->state = SCHED_UNKNOWN;
		return;
	}
	switch (word[0]) {
	case 'Q': case 'H': case 'W': case 'T': case 'M': case 'B':
		st->state = SCHED_PENDING;
		break;
	case 'R': case 'E': case 'S': case 'U':
		st->state = SCHED_RUNNING;
		break;
	case 'C': case 'F': case 'X':
		st->state = SCHED_ENDED;
		st->end = SCHED_END_UNKNOWN;
		break;
	default:
		st->state = SCHED_UNKNOWN;
		break;
	}
}

/* PBS Pro: 256+signal when killed; negative: the server's own reasons. */
static void
pbs_exit(int code, struct sched_status *st)
{
	st->exit_code = -1;
	if (code == 0) {
		st->end = SCHED_END_COMPLETED;
		st->exit_code = 0;
	} else if (code > 0 && code < 256) {
		st->end = SCHED_END_FAILED;
		st->exit_code = code;
	} else if (code >= 256 && code < 256 + 128) {
		st->signal = code - 256;
		st->end = st->signal == 15 || st->signal == 9 ? SCHED_END_CANCELLED :
		    SCHED_END_FAILED;
	} else if (code == PBS_PRO_KILL_WALLTIME || code == TORQUE_OVERLIMIT_WT)
		st->end = SCHED_END_TIMEOUT;
	else if (code == PBS_PRO_KILL_MEM || code == PBS_PRO_KILL_VMEM ||
	    code == TORQUE_OVERLIMIT_MEM)
		st->end = SCHED_END_OUT_OF_MEMORY;
	else
		st->end = SCHED_END_FAILED;
}

static char *
pbs_cause(const struct sched_output *o, const char *what)
{
	const char	*p = o->err, *end = o->err + o->errlen, *line;
	size_t		 len;
	char		*s;

	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		if (len > 0)
			return (xstrndup(line, len > 512 ? 512 : len));
	}
	xasprintf(&s, "%s failed with exit status %d", what, o->status);
	return (s);
}

static int
pbs_submit_argv(struct sched_argv *a, const char *path, char **cause)
{
	if (path == NULL) {
		sched_argv_add(a, "sh");
		sched_argv_add(a, "-c");
		sched_argv_add(a, PBS_STDIN_WRAPPER);
		return (0);
	}
	sched_argv_add(a, "qsub");
	sched_argv_add(a, path);
	return (0);
}

/* "123.server" (PBS) or "123" (the wrappers), alone on a line. */
static int
pbs_submit_parse(const struct sched_output *o, char **id, char **cause)
{
	const char	*p = o->out, *line;
	size_t		 len;
	char		*s;

	if (o->status != 0) {
		*cause = pbs_cause(o, "qsub");
		return (-1);
	}
	while ((line = sched_next_line(&p, o->out + o->outlen, &len)) != NULL) {
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			len--;
		if (len == 0)
			continue;
		s = xstrndup(line, len);
		if (sched_id_valid(s) && isdigit((unsigned char)s[0])) {
			*id = s;
			return (0);
		}
		free(s);
		break;
	}
	*cause = xstrdup("qsub printed no job id");
	return (-1);
}

static int
pbs_ids(struct sched_argv *a, const char *const *ids, size_t n, char **cause)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (!sched_id_valid(ids[i])) {
			xasprintf(cause, "invalid job id");
			return (-1);
		}
		sched_argv_add(a, ids[i]);	/* the wrappers refuse comma lists */
	}
	return (0);
}

static int
pbs_query_argv(struct sched_argv *a, const char *const *ids, size_t n, char **cause)
{
	sched_argv_add(a, "qstat");
	sched_argv_add(a, "-f");
	return (pbs_ids(a, ids, n, cause));
}

static int
pbs_history_argv(struct sched_argv *a, const char *const *ids, size_t n, char **cause)
{
	sched_argv_add(a, "qstat");
	sched_argv_add(a, "-x");
	sched_argv_add(a, "-f");
	return (pbs_ids(a, ids, n, cause));
}

/* "Tue Jan  2 10:00:00 2024" */
static time_t
pbs_time(const char *s)
{
	struct tm	 tm;
	const char	*end;
	time_t		 t;

	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%a %b %d %H:%M:%S %Y", &tm)) == NULL || *end != '\0')
		return (0);
	tm.tm_isdst = -1;
	return ((t = mktime(&tm)) == (time_t)-1 ? 0 : t);
}

/* One job's attributes as they are collected. */
struct pbs_block {
	char		*id;
	char		*name;		/* Job_Name */
	char		*owner;		/* Job_Owner: user@host */
	char		*state;
	char		*exec_host;
	char		*comment;
	char		*start;
	char		*estimate;
	char		*walltime;	/* Resource_List.walltime */
	int		 has_exit;
	int		 exit;
};
/* Runs for each block that has both an id and a job_state. */
typedef void (*pbs_block_cb)(const struct pbs_block *, void *);

/* A block's attributes as the common status. */
static void
pbs_block_status(const struct pbs_block *b, struct sched_status *st)
{
	sched_status_clear(st);
	sched_pbs_map(b->state, st);
	if (st->state == SCHED_ENDED && b->has_exit)
		pbs_exit(b->exit, st);
	if (b->exec_host != NULL)	/* node01/0+node02/1 -> node01 */
		st->node = xstrndup(b->exec_host, strcspn(b->exec_host, "/"));
	if (b->comment != NULL)
		st->reason = xstrdup(b->comment);
	if (st->state == SCHED_RUNNING && b->start != NULL)
		st->start = pbs_time(b->start);
	if (st->state == SCHED_PENDING && b->estimate != NULL)
		st->start = pbs_time(b->estimate);
	if (b->walltime != NULL && (sched_parse_duration(b->walltime, &st->limit) == -1 ||
	    st->limit < 0))
		st->limit = 0;
}

static void
pbs_block_end(struct pbs_block *b, pbs_block_cb cb, void *arg)
{
	if (b->id != NULL && b->state != NULL)
		cb(b, arg);
	free(b->id);
	free(b->name);
	free(b->owner);
	free(b->state);
	free(b->exec_host);
	free(b->comment);
	free(b->start);
	free(b->estimate);
	free(b->walltime);
	memset(b, 0, sizeof *b);
}

/* Stores the attributes we read; returns where the value went (for continuations) or NULL. */
static char **
pbs_attr(struct pbs_block *b, const char *key, const char *val)
{
	char	**dst = NULL;

	if (strcmp(key, "job_state") == 0)
		dst = &b->state;
	else if (strcmp(key, "Job_Name") == 0)
		dst = &b->name;
	else if (strcmp(key, "Job_Owner") == 0)
		dst = &b->owner;
	else if (strcmp(key, "exec_host") == 0)
		dst = &b->exec_host;
	else if (strcmp(key, "comment") == 0)
		dst = &b->comment;
	else if (strcmp(key, "stime") == 0 || strcmp(key, "start_time") == 0)
		dst = &b->start;
	else if (strcmp(key, "estimated.start_time") == 0)
		dst = &b->estimate;
	else if (strcmp(key, "Resource_List.walltime") == 0)
		dst = &b->walltime;
	else if (strcasecmp(key, "exit_status") == 0) {
		b->has_exit = 1;
		b->exit = atoi(val);
	}
	if (dst != NULL) {
		free(*dst);
		*dst = xstrdup(val);
	}
	return (dst);
}

/* PBS wraps long values at ~80 columns: the rest follows on tab-led lines, joined as is. */
static void
pbs_continue(char **dst, const char *more)
{
	char	*s;

	if (strlen(*dst) + strlen(more) > PBS_VALUE_MAX)
		return;
	xasprintf(&s, "%s%s", *dst, more);
	free(*dst);
	*dst = s;
}

/* "key = value" after leading whitespace; continuation lines do not match. */
static int
pbs_split_attr(const char *line, char **key, char **val)
{
	const char	*p = line, *k;

	while (*p == ' ' || *p == '\t')
		p++;
	k = p;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == '.')
		p++;
	if (p == k || strncmp(p, " = ", 3) != 0)
		return (-1);
	*key = xstrndup(k, p - k);
	*val = xstrdup(p + 3);
	return (0);
}

/*
 * Parses `qstat -f` blocks: "Job Id: ID", then attributes indented with spaces
 * (PBS Pro, Torque; long values continue on tab-led lines) or with a tab (the
 * slurm-wlm-torque wrappers, which never wrap). cb sees each finished block.
 */
static void
pbs_parse_blocks(const struct sched_output *o, pbs_block_cb cb, void *arg)
{
	const char		*p = o->out, *line, *end = o->out + o->outlen, *id;
	struct pbs_block	 b;
	char			*s, *key, *val, **dst = NULL;
	size_t			 len;
	int			 indent = 0;

	memset(&b, 0, sizeof b);
	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		s = xstrndup(line, len);
		if (strncmp(s, "Job Id:", 7) == 0) {
			pbs_block_end(&b, cb, arg);
			id = s + 7 + strspn(s + 7, " \t");
			len = strlen(id);
			while (len > 0 && (id[len - 1] == ' ' || id[len - 1] == '\t'))
				len--;
			b.id = xstrndup(id, len);
			indent = 0;
			dst = NULL;
		} else if (s[0] == '\t' && indent == ' ') {
			if (dst != NULL)
				pbs_continue(dst, s + 1);
		} else if ((s[0] == ' ' || s[0] == '\t') && pbs_split_attr(s, &key, &val) == 0) {
			if (indent == 0)
				indent = s[0];
			dst = b.id != NULL ? pbs_attr(&b, key, val) : NULL;
			free(key);
			free(val);
		} else
			dst = NULL;	/* a blank or foreign line ends any value */
		free(s);
	}
	pbs_block_end(&b, cb, arg);
}

static struct sched_job *
pbs_job(struct sched_job *jobs, size_t n, const char *id)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strcmp(jobs[i].id, id) == 0)
			return (&jobs[i]);
	}
	for (i = 0; i < n; i++) {
		if (sched_id_match(jobs[i].id, id))
			return (&jobs[i]);
	}
	return (NULL);
}

struct pbs_query {
	struct sched_job	*jobs;
	size_t			 n;
};

static void
pbs_query_block(const struct pbs_block *b, void *arg)
{
	struct pbs_query	*q = arg;
	struct sched_job	*j;

	if ((j = pbs_job(q->jobs, q->n, b->id)) != NULL) {
		pbs_block_status(b, &j->st);
		j->found = 1;
	}
}

/* stderr holds only "Unknown Job Id" lines (or nothing): an answer, not a failure. */
static int
pbs_only_unknown(const struct sched_output *o)
{
	const char	*p = o->err, *end = o->err + o->errlen, *line;
	size_t		 len;

	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		if (len > 0 && memmem(line, len, "Unknown Job Id", 14) == NULL &&
		    memmem(line, len, "Job has finished", 16) == NULL)
			return (0);
	}
	return (1);
}

/* qstat answered: exit 0, or "Unknown Job Id" (153; 35 on some), or nothing to show (153). */
static int
pbs_answered(const struct sched_output *o, char **cause)
{
	if (o->status != 0 && !(o->status == PBS_UNKNOWN_JOB && pbs_only_unknown(o)) &&
	    !(o->status == 35 && pbs_only_unknown(o) && o->errlen > 0)) {
		*cause = pbs_cause(o, "qstat");
		return (0);
	}
	return (1);
}

static int
pbs_query_parse(const struct sched_output *o, struct sched_job *jobs, size_t n, char **cause)
{
	struct pbs_query	q = { jobs, n };

	if (!pbs_answered(o, cause))
		return (-1);
	pbs_parse_blocks(o, pbs_query_block, &q);
	return (0);
}

/* qstat -x: history where the server keeps it; "unknown option" means none is kept. */
static int
pbs_history_parse(const struct sched_output *o, struct sched_job *jobs, size_t n,
    char **cause)
{
	if (o->status != 0 && (memmem(o->err, o->errlen, "nknown option", 13) != NULL ||
	    memmem(o->err, o->errlen, "nvalid option", 13) != NULL ||
	    memmem(o->err, o->errlen, "llegal option", 13) != NULL))
		return (0);
	return (pbs_query_parse(o, jobs, n, cause));
}

static int
pbs_cancel_argv(struct sched_argv *a, const char *id, char **cause)
{
	if (!sched_id_valid(id)) {
		xasprintf(cause, "invalid job id");
		return (-1);
	}
	sched_argv_add(a, "qdel");
	sched_argv_add(a, id);
	return (0);
}

static int
pbs_cancel_parse(const struct sched_output *o, const char *id, char **cause)
{
	if (o->status != 0) {
		*cause = pbs_cause(o, "qdel");
		return (-1);
	}
	return (0);
}

/*
 * `qstat -f` with no ids: every job the server shows (all users' unless it
 * hides them). `-u` is no help: qstat's synopsis pairs it with the one-line
 * formats, not -f, and the wrappers do switch format. So the owner is parsed
 * from Job_Owner and sched_list() filters.
 */
static int
pbs_list_argv(struct sched_argv *a, const char *user, char **cause)
{
	if (user != NULL && !sched_name_valid(user)) {
		xasprintf(cause, "invalid user name");
		return (-1);
	}
	sched_argv_add(a, "qstat");
	sched_argv_add(a, "-f");
	return (0);
}

struct pbs_list {
	struct sched_listed	*l;
	size_t			 n;
};

/* Keeps unfinished jobs (Torque and the wrappers show finished ones as C for a while). */
static void
pbs_list_block(const struct pbs_block *b, void *arg)
{
	struct pbs_list		*pl = arg;
	struct sched_listed	*e;
	struct sched_status	 st;

	memset(&st, 0, sizeof st);
	pbs_block_status(b, &st);
	if (st.state == SCHED_ENDED || !sched_id_valid(b->id)) {
		sched_status_clear(&st);
		return;
	}
	pl->l = xreallocarray(pl->l, pl->n + 1, sizeof *pl->l);
	e = &pl->l[pl->n++];
	memset(e, 0, sizeof *e);
	e->id = xstrdup(b->id);
	if (b->name != NULL && *b->name != '\0')
		e->name = xstrdup(b->name);
	if (b->owner != NULL && b->owner[0] != '@' && b->owner[0] != '\0')
		e->user = xstrndup(b->owner, strcspn(b->owner, "@"));
	e->st = st;	/* transferred */
}

static int
pbs_list_parse(const struct sched_output *o, struct sched_listed **lp, size_t *np,
    char **cause)
{
	struct pbs_list	pl = { NULL, 0 };

	if (!pbs_answered(o, cause))
		return (-1);
	pbs_parse_blocks(o, pbs_list_block, &pl);
	*lp = pl.l;
	*np = pl.n;
	return (0);
}

/* qstat -f ID again: exec_host names every host (the query keeps the first). */
static int
pbs_nodes_argv(struct sched_argv *a, const char *id, const char *nodes, char **cause)
{
	sched_argv_add(a, "qstat");
	sched_argv_add(a, "-f");
	return (pbs_ids(a, &id, 1, cause));
}

struct pbs_hosts {
	char		**v;
	size_t		  n;
};

/* exec_host "node01/0*2+node02/1": node01, node02. */
static void
pbs_hosts_block(const struct pbs_block *b, void *arg)
{
	struct pbs_hosts	*h = arg;
	const char		*p = b->exec_host;
	size_t			 len;

	while (p != NULL && *p != '\0') {
		len = strcspn(p, "+");
		sched_hosts_add(&h->v, &h->n, xstrndup(p, strcspn(p, "/+") < len ?
		    strcspn(p, "/+") : len));
		p += len;
		if (*p == '+')
			p++;
	}
}

static int
pbs_nodes_parse(const struct sched_output *o, char ***vp, size_t *np, char **cause)
{
	struct pbs_hosts	h = { NULL, 0 };

	if (!pbs_answered(o, cause))
		return (-1);
	pbs_parse_blocks(o, pbs_hosts_block, &h);
	*vp = h.v;
	*np = h.n;
	return (0);
}

const struct sched_ops sched_pbs_ops = {
	.name = "pbs",
	.submit_needs_file = 1,
	.submit_argv = pbs_submit_argv,
	.submit_parse = pbs_submit_parse,
	.query_argv = pbs_query_argv,
	.query_parse = pbs_query_parse,
	.history_argv = pbs_history_argv,
	.history_parse = pbs_history_parse,
	.cancel_argv = pbs_cancel_argv,
	.cancel_parse = pbs_cancel_parse,
	.list_argv = pbs_list_argv,
	.list_parse = pbs_list_parse,
	.nodes_argv = pbs_nodes_argv,
	.nodes_parse = pbs_nodes_parse,
	/* queues (qstat -Q), accounts and estimates: not offered by every PBS */
	.queues_argv = NULL,
	.accounts_argv = NULL,
	.estimate_argv = NULL,
};
