/*
 * sched-slurm.c: the SLURM command-line backend: sbatch/squeue/sacct/scancel/
 * sinfo/sacctmgr argv builders and parsers of their (22.05) output.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/backend.h"

#define SLURM_SQUEUE_FORMAT	"%i|%T|%r|%S|%N|%l"
#define SLURM_SACCT_FORMAT	"JobID,State,ExitCode,Reason,NodeList,Start"
/*
 * Job names and comments are free text: SLURM takes '|' and even control
 * characters in both. The fields are split at ASCII's unit separator, the
 * fixed-shape ones first and the comment last, so that a separator inside it
 * stays part of it; only a name holding \037 itself would spill into the comment.
 */
#define SLURM_LIST_SEP		'\037'
#define SLURM_LIST_FORMAT	"%i\037%u\037%T\037%r\037%S\037%N\037%j\037%k"
#define SLURM_LIST_FIELDS	8
#define SLURM_LIST_STATES	"PENDING,RUNNING,SUSPENDED,CONFIGURING,COMPLETING"
/* Accounting: the comment last, so that a '|' inside it stays part of it. */
#define SLURM_USAGE_FORMAT	"JobID,User,Account,AllocCPUS,ElapsedRaw,Comment"
#define SLURM_USAGE_FIELDS	6

static const struct {
	const char	*word;
	enum sched_state state;
	enum sched_end	 end;
} slurm_states[] = {
	{ "PENDING",		SCHED_PENDING,	SCHED_END_NONE },
	{ "CONFIGURING",	SCHED_PENDING,	SCHED_END_NONE },
	{ "REQUEUED",		SCHED_PENDING,	SCHED_END_NONE },
	{ "REQUEUE_FED",	SCHED_PENDING,	SCHED_END_NONE },
	{ "REQUEUE_HOLD",	SCHED_PENDING,	SCHED_END_NONE },
	{ "RESV_DEL_HOLD",	SCHED_PENDING,	SCHED_END_NONE },
	{ "RUNNING",		SCHED_RUNNING,	SCHED_END_NONE },
	{ "COMPLETING",		SCHED_RUNNING,	SCHED_END_NONE },
	{ "SIGNALING",		SCHED_RUNNING,	SCHED_END_NONE },
	{ "STAGE_OUT",		SCHED_RUNNING,	SCHED_END_NONE },
	{ "SUSPENDED",		SCHED_RUNNING,	SCHED_END_NONE },
	{ "STOPPED",		SCHED_RUNNING,	SCHED_END_NONE },
	{ "RESIZING",		SCHED_RUNNING,	SCHED_END_NONE },
	{ "COMPLETED",		SCHED_ENDED,	SCHED_END_COMPLETED },
	{ "FAILED",		SCHED_ENDED,	SCHED_END_FAILED },
	{ "SPECIAL_EXIT",	SCHED_ENDED,	SCHED_END_FAILED },
	{ "CANCELLED",		SCHED_ENDED,	SCHED_END_CANCELLED },
	{ "PREEMPTED",		SCHED_ENDED,	SCHED_END_CANCELLED },
	{ "REVOKED",		SCHED_ENDED,	SCHED_END_CANCELLED },
	{ "TIMEOUT",		SCHED_ENDED,	SCHED_END_TIMEOUT },
	{ "DEADLINE",		SCHED_ENDED,	SCHED_END_TIMEOUT },
	{ "NODE_FAIL",		SCHED_ENDED,	SCHED_END_NODE_FAIL },
	{ "BOOT_FAIL",		SCHED_ENDED,	SCHED_END_NODE_FAIL },
	{ "OUT_OF_MEMORY",	SCHED_ENDED,	SCHED_END_OUT_OF_MEMORY },
};

/* A state word (squeue %T, sacct State, "CANCELLED by 1003", "CA") to the common status. */
void
sched_slurm_map(const char *word, struct sched_status *st)
{
	size_t	i, len = strcspn(word, " +");

	st->state = SCHED_UNKNOWN;
	st->end = SCHED_END_NONE;
	free(st->raw);
	st->raw = xstrndup(word, len);
	for (i = 0; i < nitems(slurm_states); i++) {
		if (strlen(slurm_states[i].word) == len &&
		    strncmp(slurm_states[i].word, word, len) == 0) {
			st->state = slurm_states[i].state;
			st->end = slurm_states[i].end;
			return;
		}
	}
}

/* The scheduler's words for a failure: stderr's last non-empty line, else a default. */
static char *
slurm_cause(const struct sched_output *o, const char *what)
{
	const char	*p = o->err, *end = o->err + o->errlen, *line, *last = NULL;
	size_t		 len, lastlen = 0;

	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		if (len > 0) {
			last = line;
			lastlen = len;
		}
	}
	if (last == NULL) {
		char	*s;

		xasprintf(&s, "%s failed with exit status %d", what, o->status);
		return (s);
	}
	if (lastlen > 512)
		lastlen = 512;
	return (xstrndup(last, lastlen));
}

static int
slurm_ids(struct sched_argv *a, const char *const *ids, size_t n, char **cause)
{
	char	*list = NULL, *tmp;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (!sched_id_valid(ids[i])) {
			xasprintf(cause, "invalid job id");
			free(list);
			return (-1);
		}
		xasprintf(&tmp, "%s%s%s", list != NULL ? list : "", i > 0 ? "," : "", ids[i]);
		free(list);
		list = tmp;
	}
	sched_argv_add(a, list);
	free(list);
	return (0);
}

static int
slurm_submit_argv(struct sched_argv *a, const char *path, char **cause)
{
	sched_argv_add(a, "sbatch");
	sched_argv_add(a, "--parsable");
	if (path != NULL)
		sched_argv_add(a, path);
	return (0);
}

/* "123" or "123;cluster" on the first line. */
static int
slurm_submit_parse(const struct sched_output *o, char **id, char **cause)
{
	const char	*p = o->out, *line;
	size_t		 len;
	char		*s;

	if (o->status != 0) {
		*cause = slurm_cause(o, "sbatch");
		return (-1);
	}
	if ((line = sched_next_line(&p, o->out + o->outlen, &len)) == NULL) {
		*cause = xstrdup("sbatch printed no job id");
		return (-1);
	}
	s = xstrndup(line, strcspn(line, ";") < len ? strcspn(line, ";") : len);
	if (!sched_id_valid(s) || strspn(s, "0123456789") != strlen(s)) {
		free(s);
		*cause = xstrdup("sbatch printed an invalid job id");
		return (-1);
	}
	*id = s;
	return (0);
}

static int
slurm_query_argv(struct sched_argv *a, const char *const *ids, size_t n, char **cause)
{
	sched_argv_add(a, "squeue");
	sched_argv_add(a, "-h");
	sched_argv_add(a, "-t");
	sched_argv_add(a, "all");
	sched_argv_add(a, "-o");
	sched_argv_add(a, SLURM_SQUEUE_FORMAT);
	sched_argv_add(a, "-j");
	return (slurm_ids(a, ids, n, cause));
}

static struct sched_job *
slurm_job(struct sched_job *jobs, size_t n, const char *id)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strcmp(jobs[i].id, id) == 0)
			return (&jobs[i]);
	}
	return (NULL);
}

static char *
slurm_field(const char *s, const char *none1, const char *none2)
{
	if (*s == '\0' || strcmp(s, none1) == 0 || (none2 != NULL && strcmp(s, none2) == 0))
		return (NULL);
	return (xstrdup(s));
}

/* squeue -o '%i|%T|%r|%S|%N|%l' lines (the time limit may be missing). */
static int
slurm_query_parse(const struct sched_output *o, struct sched_job *jobs, size_t n, char **cause)
{
	const char		*p = o->out, *line, *end = o->out + o->outlen;
	char			*f[6];
	size_t			 len, nf, i;
	struct sched_job	*j;

	if (o->status != 0) {
		/* every id unknown: older squeue exits 1; that is an answer, not a failure */
		if (o->errlen > 0 && memmem(o->err, o->errlen, "Invalid job id specified", 24)) {
			return (0);
		}
		*cause = slurm_cause(o, "squeue");
		return (-1);
	}
	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		if (len == 0)
			continue;
		nf = sched_split(line, len, '|', f, nitems(f));
		if (nf >= 5 && (j = slurm_job(jobs, n, f[0])) != NULL) {
			sched_status_clear(&j->st);
			sched_slurm_map(f[1], &j->st);
			j->found = 1;
			if (j->st.state == SCHED_PENDING)
				j->st.reason = slurm_field(f[2], "None", NULL);
			if (sched_parse_time(f[3], &j->st.start) == -1)
				j->st.start = 0;
			j->st.node = slurm_field(f[4], "(null)", "None assigned");
			if (nf == 6 && (sched_parse_duration(f[5], &j->st.limit) == -1 ||
			    j->st.limit < 0))
				j->st.limit = 0;	/* UNLIMITED, INVALID */
		}
		for (i = 0; i < nf; i++)
			free(f[i]);
	}
	return (0);
}

static int
slurm_history_argv(struct sched_argv *a, const char *const *ids, size_t n, char **cause)
{
	sched_argv_add(a, "sacct");
	sched_argv_add(a, "-n");
	sched_argv_add(a, "-P");
	sched_argv_add(a, "-X");
	sched_argv_add(a, "-o");
	sched_argv_add(a, SLURM_SACCT_FORMAT);
	sched_argv_add(a, "-j");
	return (slurm_ids(a, ids, n, cause));
}

/* "3:0" (exit:signal). */
static void
slurm_exit(const char *s, struct sched_status *st)
{
	int	code, sig;

	if (sscanf(s, "%d:%d", &code, &sig) == 2 && code >= 0 && code < 256 && sig >= 0 &&
	    sig < 128) {
		st->exit_code = code;
		st->signal = sig;
	}
}

/* sacct -n -P -X -o JobID,State,ExitCode,Reason,NodeList,Start lines. */
static int
slurm_history_parse(const struct sched_output *o, struct sched_job *jobs, size_t n,
    char **cause)
{
	const char		*p = o->out, *line, *end = o->out + o->outlen;
	char			*f[6];
	size_t			 len, nf, i;
	struct sched_job	*j;

	if (o->status != 0) {
		*cause = slurm_cause(o, "sacct");
		return (-1);
	}
	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		if (len == 0)
			continue;
		nf = sched_split(line, len, '|', f, nitems(f));
		if (nf >= 5 && (j = slurm_job(jobs, n, f[0])) != NULL) {
			sched_status_clear(&j->st);
			sched_slurm_map(f[1], &j->st);
			j->found = 1;
			if (j->st.state == SCHED_ENDED)
				slurm_exit(f[2], &j->st);
			if (j->st.state == SCHED_PENDING)
				j->st.reason = slurm_field(f[3], "None", NULL);
			j->st.node = slurm_field(f[4], "None assigned", "(null)");
			if (sched_parse_time(f[5], &j->st.start) == -1)
				j->st.start = 0;
		}
		for (i = 0; i < nf; i++)
			free(f[i]);
	}
	return (0);
}

static int
slurm_cancel_argv(struct sched_argv *a, const char *id, char **cause)
{
	if (!sched_id_valid(id)) {
		xasprintf(cause, "invalid job id");
		return (-1);
	}
	sched_argv_add(a, "scancel");
	sched_argv_add(a, id);
	return (0);
}

static int
slurm_cancel_parse(const struct sched_output *o, const char *id, char **cause)
{
	/* scancel exits 0 even for unknown ids but says so on stderr */
	if (o->status != 0 || (o->errlen > 0 && memmem(o->err, o->errlen, "error", 5))) {
		*cause = slurm_cause(o, "scancel");
		return (-1);
	}
	return (0);
}

/* scontrol update JobId=N TimeLimit=MINUTES (SLURM counts whole minutes). */
static int
slurm_extend_argv(struct sched_argv *a, const char *id, int secs, char **cause)
{
	if (!sched_id_valid(id) || secs <= 0) {
		xasprintf(cause, "invalid job id or time limit");
		return (-1);
	}
	sched_argv_add(a, "scontrol");
	sched_argv_add(a, "update");
	sched_argv_addf(a, "JobId=%s", id);
	sched_argv_addf(a, "TimeLimit=%d", (secs + 59) / 60);
	return (0);
}

static int
slurm_extend_parse(const struct sched_output *o, const char *id, char **cause)
{
	if (o->status == 0)
		return (0);
	*cause = slurm_cause(o, "scontrol update");	/* "... Access/permission denied ..." */
	return (-1);
}

static int
slurm_queues_argv(struct sched_argv *a, char **cause)
{
	sched_argv_add(a, "sinfo");
	sched_argv_add(a, "-h");
	sched_argv_add(a, "-o");
	sched_argv_add(a, "%R|%a|%l|%D|%C|%P");
	return (0);
}

/* sinfo -o '%R|%a|%l|%D|%C|%P': name|up|1:00:00|nodes|A/I/O/T|name* (default). */
static int
slurm_queues_parse(const struct sched_output *o, struct sched_queue **qp, size_t *np,
    char **cause)
{
	const char		*p = o->out, *line, *end = o->out + o->outlen;
	char			*f[6];
	size_t			 len, nf, i, n = 0;
	struct sched_queue	*q = NULL, *e;
	int			 a, idle, other, total;

	if (o->status != 0) {
		*cause = slurm_cause(o, "sinfo");
		return (-1);
	}
	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		if (len == 0)
			continue;
		nf = sched_split(line, len, '|', f, nitems(f));
		if (nf == nitems(f) && sched_name_valid(f[0])) {
			q = xreallocarray(q, n + 1, sizeof *q);
			e = &q[n++];
			memset(e, 0, sizeof *e);
			e->name = xstrdup(f[0]);
			e->available = strcmp(f[1], "up") == 0;
			if (sched_parse_duration(f[2], &e->max_walltime) == -1)
				e->max_walltime = -1;
			e->nodes = atoi(f[3]);
			if (sscanf(f[4], "%d/%d/%d/%d", &a, &idle, &other, &total) == 4) {
				e->cpus_idle = idle;
				e->cpus_total = total;
			}
			e->is_default = strchr(f[5], '*') != NULL;
		}
		for (i = 0; i < nf; i++)
			free(f[i]);
	}
	*qp = q;
	*np = n;
	return (0);
}

static int
slurm_accounts_argv(struct sched_argv *a, const char *user, char **cause)
{
	if (!sched_name_valid(user)) {
		xasprintf(cause, "invalid user name");
		return (-1);
	}
	sched_argv_add(a, "sacctmgr");
	sched_argv_add(a, "-n");
	sched_argv_add(a, "-P");
	sched_argv_add(a, "show");
	sched_argv_add(a, "assoc");
	sched_argv_addf(a, "user=%s", user);
	sched_argv_add(a, "format=account");
	return (0);
}

/* One account per line, possibly repeated (one association per partition). */
static int
slurm_accounts_parse(const struct sched_output *o, char ***vp, size_t *np, char **cause)
{
	const char	*p = o->out, *line, *end = o->out + o->outlen;
	char		**v = NULL, *s;
	size_t		 len, n = 0, i;

	if (o->status != 0) {
		*cause = slurm_cause(o, "sacctmgr");
		return (-1);
	}
	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		s = xstrndup(line, len);
		for (i = 0; i < n && strcmp(v[i], s) != 0; i++)
			;
		if (!sched_name_valid(s) || i < n) {
			free(s);
			continue;
		}
		v = xreallocarray(v, n + 1, sizeof *v);
		v[n++] = s;
	}
	*vp = v;
	*np = n;
	return (0);
}

static int
slurm_estimate_argv(struct sched_argv *a, const char *id, char **cause)
{
	if (!sched_id_valid(id)) {
		xasprintf(cause, "invalid job id");
		return (-1);
	}
	sched_argv_add(a, "squeue");
	sched_argv_add(a, "--start");
	sched_argv_add(a, "-h");
	sched_argv_add(a, "-o");
	sched_argv_add(a, "%i|%S");
	sched_argv_add(a, "-j");
	sched_argv_add(a, id);
	return (0);
}

/* "123|2024-01-02T03:04:05" or "123|N/A" (0: no estimate). */
static int
slurm_estimate_parse(const struct sched_output *o, const char *id, time_t *t, char **cause)
{
	const char	*p = o->out, *line, *end = o->out + o->outlen;
	char		*f[2];
	size_t		 len, nf;

	if (o->status != 0) {
		*cause = slurm_cause(o, "squeue --start");
		return (-1);
	}
	*t = 0;
	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		nf = sched_split(line, len, '|', f, nitems(f));
		if (nf == 2 && strcmp(f[0], id) == 0 && sched_parse_time(f[1], t) == -1)
			*t = 0;
		free(f[0]);
		if (nf == 2)
			free(f[1]);
	}
	return (0);
}

static int
slurm_list_argv(struct sched_argv *a, const char *user, char **cause)
{
	if (user != NULL && !sched_name_valid(user)) {
		xasprintf(cause, "invalid user name");
		return (-1);
	}
	sched_argv_add(a, "squeue");
	sched_argv_add(a, "-h");
	sched_argv_add(a, "--noconvert");
	sched_argv_add(a, "-t");
	sched_argv_add(a, SLURM_LIST_STATES);
	sched_argv_add(a, "-o");
	sched_argv_add(a, SLURM_LIST_FORMAT);
	if (user != NULL) {
		sched_argv_add(a, "-u");
		sched_argv_add(a, user);
	} else
		sched_argv_add(a, "--me");	/* SLURM >= 20.11 */
	return (0);
}

/* One line of SLURM_LIST_FORMAT; 0 if it is not one (short, bad id) or the job ended. */
static int
slurm_list_line(const char *line, size_t len, struct sched_listed *e)
{
	char	*f[SLURM_LIST_FIELDS];
	size_t	 nf, i;
	int	 ok;

	memset(e, 0, sizeof *e);
	sched_status_clear(&e->st);
	nf = sched_split(line, len, SLURM_LIST_SEP, f, nitems(f));
	if (nf == nitems(f) && sched_id_valid(f[0]))
		sched_slurm_map(f[2], &e->st);
	/* -t asked for unfinished jobs only: an ended one is left out all the same */
	ok = e->st.raw != NULL && e->st.state != SCHED_ENDED;
	if (!ok)
		sched_status_clear(&e->st);
	else {
		e->id = xstrdup(f[0]);
		e->user = slurm_field(f[1], "(null)", NULL);
		if (e->st.state == SCHED_PENDING)
			e->st.reason = slurm_field(f[3], "None", NULL);
		if (sched_parse_time(f[4], &e->st.start) == -1)
			e->st.start = 0;
		e->st.node = slurm_field(f[5], "(null)", "None assigned");
		e->name = slurm_field(f[6], "(null)", NULL);
		e->comment = slurm_field(f[7], "(null)", NULL);
	}
	for (i = 0; i < nf; i++)
		free(f[i]);
	return (ok);
}

/*
 * squeue -o SLURM_LIST_FORMAT lines; others are skipped. squeue exits 0 after
 * "error: Invalid user", so an error on stderr fails the listing: an empty
 * list must mean no jobs.
 */
static int
slurm_list_parse(const struct sched_output *o, struct sched_listed **lp, size_t *np,
    char **cause)
{
	const char		*p = o->out, *line, *end = o->out + o->outlen;
	struct sched_listed	*l = NULL, e;
	size_t			 len, n = 0;

	if (o->status != 0 || (o->errlen > 0 && memmem(o->err, o->errlen, "error:", 6))) {
		*cause = slurm_cause(o, "squeue");
		return (-1);
	}
	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		if (len == 0 || !slurm_list_line(line, len, &e))
			continue;
		l = xreallocarray(l, n + 1, sizeof *l);
		l[n++] = e;	/* transferred */
	}
	*lp = l;
	*np = n;
	return (0);
}

/* scontrol -o show node LIST: one line per node of the job (LIST is a hostlist). */
static int
slurm_nodes_argv(struct sched_argv *a, const char *id, const char *nodes, char **cause)
{
	if (nodes == NULL || !sched_nodelist_valid(nodes)) {
		xasprintf(cause, "job %s has no valid node list", id);
		return (-1);
	}
	sched_argv_add(a, "scontrol");
	sched_argv_add(a, "-o");
	sched_argv_add(a, "show");
	sched_argv_add(a, "node");
	sched_argv_add(a, nodes);
	return (0);
}

/* The value of " KEY=" in one scontrol -o line (values here have no spaces). */
static char *
slurm_node_field(const char *line, size_t len, const char *key)
{
	const char	*p = line, *end = line + len, *v;
	size_t		 klen = strlen(key);

	while (p < end) {
		if ((p == line || p[-1] == ' ') && (size_t)(end - p) > klen &&
		    strncmp(p, key, klen) == 0 && p[klen] == '=') {
			v = p + klen + 1;
			return (xstrndup(v, strcspn(v, " \n") < (size_t)(end - v) ?
			    strcspn(v, " \n") : (size_t)(end - v)));
		}
		p++;
	}
	return (NULL);
}

/* Each node's NodeAddr (the name or address slurmctld reaches it by). */
static int
slurm_nodes_parse(const struct sched_output *o, char ***vp, size_t *np, char **cause)
{
	const char	*p = o->out, *line, *end = o->out + o->outlen;
	char		*addr;
	size_t		 len;

	if (o->status != 0) {
		*cause = slurm_cause(o, "scontrol show node");
		return (-1);
	}
	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		if ((addr = slurm_node_field(line, len, "NodeAddr")) == NULL)
			addr = slurm_node_field(line, len, "NodeName");
		if (addr != NULL)
			sched_hosts_add(vp, np, addr);	/* transferred */
	}
	return (0);
}

/* sacct of every job (allocations only) since @since, local time. */
static int
slurm_usage_argv(struct sched_argv *a, const char *since, char **cause)
{
	static const char *const words[] = { "sacct", "-X", "-P", "-n", "-S" };
	time_t			 t;
	size_t			 i;

	if (sched_parse_time(since, &t) == -1) {
		xasprintf(cause, "bad start time '%.64s'", since);
		return (-1);
	}
	for (i = 0; i < nitems(words); i++)
		sched_argv_add(a, words[i]);
	sched_argv_add(a, since);
	sched_argv_add(a, "--format=" SLURM_USAGE_FORMAT);
	return (0);
}

/* A count of sacct's: digits only. */
static int
slurm_usage_num(const char *s, long long *v)
{
	char	*end;

	*v = strtoll(s, &end, 10);
	return (*s == '\0' || *end != '\0' || *v < 0 ? -1 : 0);
}

/* Adds the job of one SLURM_USAGE_FORMAT line to @up; skips a short line, no id, bad numbers. */
static void
slurm_usage_add(const char *line, size_t len, struct sched_used **up, size_t *np)
{
	char			*f[SLURM_USAGE_FIELDS];
	struct sched_used	*u;
	long long		 cpus, secs;
	size_t			 nf, i;

	nf = sched_split(line, len, '|', f, nitems(f));
	if (nf == nitems(f) && *f[0] != '\0' && slurm_usage_num(f[3], &cpus) == 0 &&
	    slurm_usage_num(f[4], &secs) == 0) {
		*up = xreallocarray(*up, *np + 1, sizeof **up);
		u = &(*up)[(*np)++];
		u->id = xstrdup(f[0]);
		u->user = slurm_field(f[1], "(null)", NULL);
		u->account = slurm_field(f[2], "(null)", NULL);
		u->cpus = cpus;
		u->secs = secs;
		u->comment = xstrdup(f[5]);
	}
	for (i = 0; i < nf; i++)
		free(f[i]);
}

/* sacct -X -P -n --format=SLURM_USAGE_FORMAT lines; others are skipped. */
static int
slurm_usage_parse(const struct sched_output *o, struct sched_used **up, size_t *np,
    char **cause)
{
	const char		*p = o->out, *line, *end = o->out + o->outlen;
	const char		*err = o->err != NULL ? o->err : "";
	size_t			 len;

	*up = NULL;
	*np = 0;
	if (o->status != 0) {
		xasprintf(cause, "sacct: exit %d: %.*s", o->status,
		    (int)(o->errlen < 200 ? o->errlen : 200), err);
		return (-1);
	}
	while ((line = sched_next_line(&p, end, &len)) != NULL)
		slurm_usage_add(line, len, up, np);
	return (0);
}

const struct sched_ops sched_slurm_ops = {
	.name = "slurm",
	.submit_argv = slurm_submit_argv,
	.submit_parse = slurm_submit_parse,
	.query_argv = slurm_query_argv,
	.query_parse = slurm_query_parse,
	.history_argv = slurm_history_argv,
	.history_parse = slurm_history_parse,
	.cancel_argv = slurm_cancel_argv,
	.cancel_parse = slurm_cancel_parse,
	.queues_argv = slurm_queues_argv,
	.queues_parse = slurm_queues_parse,
	.accounts_argv = slurm_accounts_argv,
	.accounts_parse = slurm_accounts_parse,
	.estimate_argv = slurm_estimate_argv,
	.estimate_parse = slurm_estimate_parse,
	.list_argv = slurm_list_argv,
	.list_parse = slurm_list_parse,
	.nodes_argv = slurm_nodes_argv,
	.nodes_parse = slurm_nodes_parse,
	.usage_argv = slurm_usage_argv,
	.usage_parse = slurm_usage_parse,
	.extend_argv = slurm_extend_argv,
	.extend_parse = slurm_extend_parse,
};
