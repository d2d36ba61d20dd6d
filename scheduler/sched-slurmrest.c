/*
 * sched-slurmrest.c: the SLURM backend through slurmrestd (OpenAPI v0.0.38):
 * "commands" are requests {METHOD, API, PATH} for the HTTP transport, which
 * adds the URL, the version and the token; parsers read slurmrestd's JSON.
 * The batch script's #SBATCH lines become the job's properties (sbatch.c):
 * slurmrestd does not read them.
 */
#include "config.h"

#include <sys/wait.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/common.h"
#include "scheduler/backend.h"
#include "scheduler/sbatch.h"

#define REST_SCRIPT_MAX	(1024 * 1024)

static void
rest_req(struct sched_argv *a, const char *method, const char *api, const char *path)
{
	sched_argv_add(a, method);
	sched_argv_add(a, api);
	sched_argv_add(a, path);
}

static json_t *
rest_json(const struct sched_output *o)
{
	return (json_loadb(o->out, o->outlen, 0, NULL));
}

/* slurmrestd's errors[] descriptions, else the HTTP status. */
static char *
rest_cause(const struct sched_output *o, json_t *j)
{
	json_t		*e;
	const char	*d;
	char		*s = NULL, *t;
	size_t		 i;

	json_array_foreach(json_object_get(j, "errors"), i, e) {
		if ((d = json_string_value(json_object_get(e, "description"))) == NULL ||
		    *d == '\0')
			d = json_string_value(json_object_get(e, "error"));
		if (d == NULL || *d == '\0')
			continue;
		xasprintf(&t, "%s%s%.300s", s != NULL ? s : "", s != NULL ? "; " : "", d);
		free(s);
		s = t;
	}
	xasprintf(&t, "slurmrestd: %s (HTTP %d)", s != NULL ? s : "request failed", o->status);
	free(s);
	return (t);
}

/* 200 and a JSON object, else -1 and *cause. */
static int
rest_ok(const struct sched_output *o, json_t **jp, char **cause)
{
	json_t	*j = rest_json(o);

	if (o->status != 200 || !json_is_object(j) ||
	    json_array_size(json_object_get(j, "errors")) > 0) {
		*cause = rest_cause(o, j);
		json_decref(j);
		return (-1);
	}
	*jp = j;
	return (0);
}

static char *
rest_string(json_t *j, const char *key)
{
	const char	*s = json_string_value(json_object_get(j, key));

	return (s != NULL && *s != '\0' ? xstrndup(s, 1024) : NULL);
}

/* --- submit: the script and its directives as v0.0.38 job properties ---------------------- */

static void
rest_set_str(json_t *job, const char *key, const char *v)
{
	if (v != NULL)
		json_object_set_new(job, key, json_string(v));
}

static void
rest_set_int(json_t *job, const char *key, uint64_t v)
{
	if (v != 0)
		json_object_set_new(job, key, json_integer((json_int_t)v));
}

static json_t *
rest_job(const struct sbatch_opts *d)
{
	json_t	*job = json_object();
	char	*gres;

	rest_set_str(job, "partition", d->partition);
	rest_set_str(job, "account", d->account);
	rest_set_str(job, "reservation", d->reservation);
	rest_set_str(job, "qos", d->qos);
	rest_set_str(job, "name", d->name);
	rest_set_str(job, "comment", d->comment);
	/* slurmrestd cannot make the job's directory: the script does (rest_script()) */
	json_object_set_new(job, "standard_output", json_string("/dev/null"));
	json_object_set_new(job, "standard_error", json_string("/dev/null"));
	rest_set_int(job, "time_limit", d->time_min);
	rest_set_int(job, "memory_per_node", d->mem_mb);
	rest_set_int(job, "tasks", d->ntasks);
	rest_set_int(job, "cpus_per_task", d->cpus);
	if (d->nodes_min != 0)		/* v0.0.38: [min, max] */
		json_object_set_new(job, "nodes", json_pack("[I, I]", (json_int_t)d->nodes_min,
		    (json_int_t)d->nodes_max));
	if (d->gpus != 0) {		/* as sbatch --gres takes it */
		xasprintf(&gres, "gpu:%u", d->gpus);
		json_object_set_new(job, "gres", json_string(gres));
		free(gres);
	}
	/* No login shell here: the job starts in / (or --chdir) with a small environment. */
	json_object_set_new(job, "current_working_directory",
	    json_string(d->chdir != NULL ? d->chdir : "/"));
	json_object_set_new(job, "environment", json_pack("{s:s, s:s}",
	    "PATH", "/usr/local/bin:/usr/bin:/bin", "LANG", "C"));
	return (job);
}

/*
 * The script with one line after its directives: HOME and USER as a login
 * would set them (slurmrestd's job gets only the environment we send), then
 * the directories of --output/--error made and stdout/stderr sent there
 * (nbgate's job directory, which no command made beforehand: there is no
 * shell on the other side). The paths passed sbatch.c's word check: no
 * quote, no space, nothing a shell expands inside single quotes.
 */
static char *
rest_script(const char *script, const struct sbatch_opts *d)
{
	const char	*o = d->output != NULL ? d->output : "/dev/null";
	const char	*e = d->error != NULL ? d->error : "/dev/null";
	char		*out = NULL, *line = NULL;

	xasprintf(&line, ": \"${USER:=$(id -un)}\" \"${HOME:=$(getent passwd \"$USER\" | "
	    "cut -d: -f6)}\"; export USER HOME; for nbgate_f in '%s' '%s'; do case $nbgate_f "
	    "in */*) mkdir -p -m 700 \"${nbgate_f%%/*}\";; esac; done; exec >>'%s' 2>>'%s'; "
	    "unset nbgate_f\n", o, e, o, e);
	xasprintf(&out, "%.*s%s%s", (int)d->end, script, line, script + d->end);
	free(line);
	return (out);
}

/* {"script": ..., "job": {...}} from the batch script; -1 and *cause for a directive we refuse. */
static int
rest_submit_body(const char *script, size_t len, char **body, size_t *bodylen, char **cause)
{
	struct sbatch_opts	 d;
	char			*text, *full;
	json_t			*j;

	if (len == 0 || len > REST_SCRIPT_MAX || memchr(script, '\0', len) != NULL ||
	    strncmp(script, "#!", 2) != 0) {
		*cause = xstrdup("the batch script is empty, too long, holds a NUL byte or "
		    "does not start with #!");
		return (-1);
	}
	text = xstrndup(script, len);
	memset(&d, 0, sizeof d);
	if (sbatch_parse(text, &d, cause) == -1) {
		sbatch_opts_clear(&d);
		free(text);
		return (-1);
	}
	full = rest_script(text, &d);
	free(text);
	j = json_pack("{s:s, s:o}", "script", full, "job", rest_job(&d));
	sbatch_opts_clear(&d);
	free(full);
	if (j == NULL || (*body = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		*cause = xstrdup("the batch script is not UTF-8 text");
		return (-1);
	}
	json_decref(j);
	*bodylen = strlen(*body);
	return (0);
}

static int
rest_submit_argv(struct sched_argv *a, const char *path, char **cause)
{
	rest_req(a, "POST", "slurm", "job/submit");
	return (0);
}

static int
rest_submit_parse(const struct sched_output *o, char **id, char **cause)
{
	json_t		*j, *v;

	if (rest_ok(o, &j, cause) == -1)
		return (-1);
	v = json_object_get(j, "job_id");
	if (!json_is_integer(v) || json_integer_value(v) <= 0) {
		*cause = xstrdup("slurmrestd answered without a job id");
		json_decref(j);
		return (-1);
	}
	xasprintf(id, "%lld", (long long)json_integer_value(v));
	json_decref(j);
	return (0);
}

/* --- jobs: one GET of every job --------------------------------------------------------- */

static int
rest_query_argv(struct sched_argv *a, const char *const *ids, size_t n, char **cause)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strspn(ids[i], "0123456789") != strlen(ids[i]) || *ids[i] == '\0') {
			*cause = xstrdup("invalid job id");
			return (-1);
		}
	}
	rest_req(a, "GET", "slurm", "jobs");
	return (0);
}

/* One job object into its status, as the CLI backend fills it. */
static void
rest_status(json_t *j, struct sched_status *st)
{
	const char	*state = json_string_value(json_object_get(j, "job_state"));
	json_t		*v;
	json_int_t	 raw;

	sched_status_clear(st);
	sched_slurm_map(state != NULL ? state : "", st);
	if (st->state == SCHED_PENDING) {
		st->reason = rest_string(j, "state_reason");
		if (st->reason != NULL && strcmp(st->reason, "None") == 0) {
			free(st->reason);
			st->reason = NULL;
		}
	}
	v = json_object_get(j, "start_time");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		st->start = (time_t)json_integer_value(v);
	st->node = rest_string(j, "nodes");
	v = json_object_get(j, "exit_code");	/* the wait status, as slurmctld keeps it */
	if (st->state == SCHED_ENDED && json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= INT32_MAX) {
		raw = json_integer_value(v);
		st->exit_code = WIFEXITED((int)raw) ? WEXITSTATUS((int)raw) : 0;
		st->signal = WIFSIGNALED((int)raw) ? WTERMSIG((int)raw) : 0;
	}
}

static int
rest_query_parse(const struct sched_output *o, struct sched_job *jobs, size_t n, char **cause)
{
	json_t		*j, *job;
	char		 buf[32];
	size_t		 i, k;

	if (rest_ok(o, &j, cause) == -1)
		return (-1);
	json_array_foreach(json_object_get(j, "jobs"), k, job) {
		if (!json_is_integer(json_object_get(job, "job_id")))
			continue;
		snprintf(buf, sizeof buf, "%lld",
		    (long long)json_integer_value(json_object_get(job, "job_id")));
		for (i = 0; i < n; i++) {
			if (strcmp(jobs[i].id, buf) == 0) {
				rest_status(job, &jobs[i].st);
				jobs[i].found = 1;
			}
		}
	}
	json_decref(j);
	return (0);
}

static int
rest_list_argv(struct sched_argv *a, const char *user, char **cause)
{
	if (user != NULL && !sched_name_valid(user)) {
		xasprintf(cause, "invalid user name");
		return (-1);
	}
	rest_req(a, "GET", "slurm", "jobs");
	return (0);
}

/* Every unfinished job (sched_list() keeps the user's). */
static int
rest_list_parse(const struct sched_output *o, struct sched_listed **lp, size_t *np,
    char **cause)
{
	struct sched_listed	*l = NULL, *e;
	json_t			*j, *job;
	size_t			 n = 0, k;

	if (rest_ok(o, &j, cause) == -1)
		return (-1);
	json_array_foreach(json_object_get(j, "jobs"), k, job) {
		if (!json_is_integer(json_object_get(job, "job_id")))
			continue;
		l = xreallocarray(l, n + 1, sizeof *l);
		e = &l[n];
		memset(e, 0, sizeof *e);
		rest_status(job, &e->st);
		if (e->st.state == SCHED_ENDED || e->st.state == SCHED_UNKNOWN) {
			sched_status_clear(&e->st);
			continue;
		}
		xasprintf(&e->id, "%lld", (long long)json_integer_value(json_object_get(job,
		    "job_id")));
		e->user = rest_string(job, "user_name");
		e->name = rest_string(job, "name");
		e->comment = rest_string(job, "comment");
		n++;
	}
	json_decref(j);
	*lp = l;
	*np = n;
	return (0);
}

static int
rest_cancel_argv(struct sched_argv *a, const char *id, char **cause)
{
	char	*path;

	if (*id == '\0' || strspn(id, "0123456789") != strlen(id)) {
		*cause = xstrdup("invalid job id");
		return (-1);
	}
	xasprintf(&path, "job/%s", id);
	rest_req(a, "DELETE", "slurm", path);
	free(path);
	return (0);
}

static int
rest_cancel_parse(const struct sched_output *o, const char *id, char **cause)
{
	json_t	*j;

	if (rest_ok(o, &j, cause) == -1)
		return (-1);
	json_decref(j);
	return (0);
}

/* --- partitions, associations, nodes ------------------------------------------------------ */

static int
rest_queues_argv(struct sched_argv *a, char **cause)
{
	rest_req(a, "GET", "slurm", "partitions");
	return (0);
}

static int
rest_flag(json_t *flags, const char *want)
{
	json_t	*f;
	size_t	 i;

	json_array_foreach(flags, i, f) {
		if (json_is_string(f) && strcmp(json_string_value(f), want) == 0)
			return (1);
	}
	return (0);
}

static int
rest_queues_parse(const struct sched_output *o, struct sched_queue **qp, size_t *np,
    char **cause)
{
	struct sched_queue	*q = NULL, *e;
	const char		*name, *state;
	json_t			*j, *p, *v;
	size_t			 n = 0, k;

	if (rest_ok(o, &j, cause) == -1)
		return (-1);
	json_array_foreach(json_object_get(j, "partitions"), k, p) {
		name = json_string_value(json_object_get(p, "name"));
		state = json_string_value(json_object_get(p, "state"));
		if (name == NULL || !sched_name_valid(name))
			continue;
		q = xreallocarray(q, n + 1, sizeof *q);
		e = &q[n++];
		memset(e, 0, sizeof *e);
		e->name = xstrdup(name);
		e->available = state != NULL && strcmp(state, "UP") == 0;
		e->is_default = rest_flag(json_object_get(p, "flags"), "default");
		v = json_object_get(p, "max_time_limit");	/* minutes; null: none */
		e->max_walltime = json_is_integer(v) && json_integer_value(v) >= 0 &&
		    json_integer_value(v) < INT32_MAX / 60 ? (int)json_integer_value(v) * 60 : -1;
		if (json_is_integer(v = json_object_get(p, "total_nodes")))
			e->nodes = (int)json_integer_value(v);
		if (json_is_integer(v = json_object_get(p, "total_cpus")))
			e->cpus_total = (int)json_integer_value(v);
	}
	json_decref(j);
	*qp = q;
	*np = n;
	return (0);
}

static int
rest_accounts_argv(struct sched_argv *a, const char *user, char **cause)
{
	char	*path;

	if (!sched_name_valid(user)) {
		xasprintf(cause, "invalid user name");
		return (-1);
	}
	xasprintf(&path, "associations?user=%s", user);
	rest_req(a, "GET", "slurmdb", path);
	free(path);
	return (0);
}

static int
rest_accounts_parse(const struct sched_output *o, char ***vp, size_t *np, char **cause)
{
	const char	*acct;
	char		**v = NULL;
	size_t		 n = 0, i, k;
	json_t		*j, *a;

	if (rest_ok(o, &j, cause) == -1)
		return (-1);
	json_array_foreach(json_object_get(j, "associations"), k, a) {
		acct = json_string_value(json_object_get(a, "account"));
		for (i = 0; acct != NULL && i < n && strcmp(v[i], acct) != 0; i++)
			;
		if (acct != NULL && sched_name_valid(acct) && i == n) {
			v = xreallocarray(v, n + 1, sizeof *v);
			v[n++] = xstrdup(acct);
		}
	}
	json_decref(j);
	*vp = v;
	*np = n;
	return (0);
}

/* Is @name one of "n[01-03,7],gpu1" (one bracket per item, as SLURM prints them)? */
static int
rest_range_has(const char *r, size_t rlen, const char *mid)
{
	char		*copy = xstrndup(r, rlen), *p, *save = NULL, *dash;
	unsigned long	 lo, hi, v;
	int		 found = 0;

	if (sbatch_number(mid, 999999999, &v) == -1) {
		free(copy);
		return (0);
	}
	for (p = strtok_r(copy, ",", &save); p != NULL && !found; p = strtok_r(NULL, ",", &save)) {
		if ((dash = strchr(p, '-')) != NULL)
			*dash++ = '\0';
		if (sbatch_number(p, 999999999, &lo) == -1 || (dash != NULL &&
		    sbatch_number(dash, 999999999, &hi) == -1))
			continue;
		if (dash == NULL)
			hi = lo;
		/* zero-padded ranges ("01-03") name nodes with that many digits */
		found = v >= lo && v <= hi && (*p != '0' || strlen(mid) == strlen(p));
	}
	free(copy);
	return (found);
}

static int
rest_hostlist_has(const char *list, size_t len, const char *name)
{
	const char	*p = list, *end = list + len, *item, *lb, *rb;
	char		*mid;
	size_t		 ilen, plen, slen, nlen = strlen(name);
	int		 depth, found = 0;

	while (p < end && !found) {
		for (item = p, depth = 0; p < end && (*p != ',' || depth > 0); p++)
			depth += *p == '[' ? 1 : *p == ']' ? -1 : 0;
		ilen = p - item;
		p++;
		if ((lb = memchr(item, '[', ilen)) == NULL) {
			found = ilen == nlen && strncmp(item, name, nlen) == 0;
			continue;
		}
		if ((rb = memchr(lb, ']', item + ilen - lb)) == NULL)
			continue;
		plen = lb - item;
		slen = item + ilen - rb - 1;
		if (nlen <= plen + slen || strncmp(name, item, plen) != 0 ||
		    strncmp(name + nlen - slen, rb + 1, slen) != 0)
			continue;
		mid = xstrndup(name + plen, nlen - plen - slen);
		found = rest_range_has(lb + 1, rb - lb - 1, mid);
		free(mid);
	}
	return (found);
}

/*
 * The job's node list rides in the request path's fragment, which the HTTP
 * transport does not send but hands back as the parser's err; the parser keeps
 * those nodes' addresses out of every node's.
 */
static int
rest_nodes_argv(struct sched_argv *a, const char *id, const char *nodes, char **cause)
{
	char	*path;

	if (nodes == NULL || !sched_nodelist_valid(nodes)) {
		xasprintf(cause, "job %s has no valid node list", id);
		return (-1);
	}
	xasprintf(&path, "nodes#%s", nodes);	/* the fragment is not sent */
	rest_req(a, "GET", "slurm", path);
	free(path);
	return (0);
}

static int
rest_nodes_parse(const struct sched_output *o, char ***vp, size_t *np, char **cause)
{
	const char	*name, *addr;
	json_t		*j, *nd;
	size_t		 k;

	if (rest_ok(o, &j, cause) == -1)
		return (-1);
	json_array_foreach(json_object_get(j, "nodes"), k, nd) {
		name = json_string_value(json_object_get(nd, "name"));
		addr = json_string_value(json_object_get(nd, "address"));
		if (name != NULL && rest_hostlist_has(o->err, o->errlen, name))
			sched_hosts_add(vp, np, xstrndup(addr != NULL ? addr : name, 256));
	}
	json_decref(j);
	return (0);
}

const struct sched_ops sched_slurmrest_ops = {
	.name = "slurm-rest",
	.submit_body = rest_submit_body,
	.submit_argv = rest_submit_argv,
	.submit_parse = rest_submit_parse,
	.query_argv = rest_query_argv,
	.query_parse = rest_query_parse,
	.cancel_argv = rest_cancel_argv,
	.cancel_parse = rest_cancel_parse,
	.queues_argv = rest_queues_argv,
	.queues_parse = rest_queues_parse,
	.accounts_argv = rest_accounts_argv,
	.accounts_parse = rest_accounts_parse,
	.list_argv = rest_list_argv,
	.list_parse = rest_list_parse,
	.nodes_argv = rest_nodes_argv,
	.nodes_parse = rest_nodes_parse,
};
