/*
 * sched-slurmlib.c: the SLURM backend through libslurm: argv builders that run
 * the nbgate-slurmlib helper (slurmlib.c) and parsers of its JSON lines. The
 * daemon never links libslurm: it may exit() or block, the helper takes that.
 *
 * The helper is a libslurm client, so it needs slurm.conf and munge on the host
 * that runs it: use this backend with the LOCAL transport (nbgated's host is a
 * submit host). Over SSH the login node would need nbgate-slurmlib installed.
 * History (jobs the controller forgot) uses the CLI backend's sacct command.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/common.h"
#include "scheduler/backend.h"

#ifndef LIBEXECDIR
#define LIBEXECDIR	"/usr/local/libexec/nbgate"
#endif
#define SLURMLIB_PATH	LIBEXECDIR "/nbgate-slurmlib"

/* $NBGATE_SLURMLIB (tests run the build's copy), else the installed helper. */
const char *
sched_slurmlib_path(void)
{
	const char	*path = getenv("NBGATE_SLURMLIB");

	return (path != NULL && *path != '\0' ? path : SLURMLIB_PATH);
}

static void
slurmlib_cmd(struct sched_argv *a, const char *sub)
{
	sched_argv_add(a, sched_slurmlib_path());
	sched_argv_add(a, sub);
}

/* The next JSON object line of o's stdout; NULL at the end. Lines that are not objects are skipped. */
static json_t *
slurmlib_next(const struct sched_output *o, const char **p)
{
	const char	*line;
	size_t		 len;
	json_t		*j;

	while ((line = sched_next_line(p, o->out + o->outlen, &len)) != NULL) {
		if (len == 0)
			continue;
		if ((j = json_loadb(line, len, 0, NULL)) != NULL && json_is_object(j))
			return (j);
		json_decref(j);
	}
	return (NULL);
}

/* The helper's {"error"} line, else stderr's last non-empty line, else a default. */
static char *
slurmlib_cause(const struct sched_output *o)
{
	const char	*p = o->out, *line, *last = NULL, *e;
	size_t		 len, lastlen = 0;
	json_t		*j;
	char		*s = NULL;

	while (s == NULL && (j = slurmlib_next(o, &p)) != NULL) {
		if ((e = json_string_value(json_object_get(j, "error"))) != NULL)
			s = xstrndup(e, 512);
		json_decref(j);
	}
	if (s != NULL)
		return (s);
	p = o->err;
	while ((line = sched_next_line(&p, o->err + o->errlen, &len)) != NULL) {
		if (len > 0) {
			last = line;
			lastlen = len;
		}
	}
	if (last != NULL)
		return (xstrndup(last, lastlen < 512 ? lastlen : 512));
	xasprintf(&s, "nbgate-slurmlib failed with exit status %d", o->status);
	return (s);
}

static int
slurmlib_submit_argv(struct sched_argv *a, const char *path, char **cause)
{
	slurmlib_cmd(a, "submit");
	return (0);
}

/* {"id": N} */
static int
slurmlib_submit_parse(const struct sched_output *o, char **id, char **cause)
{
	const char	*p = o->out;
	json_t		*j, *v;

	if (o->status != 0) {
		*cause = slurmlib_cause(o);
		return (-1);
	}
	while ((j = slurmlib_next(o, &p)) != NULL) {
		v = json_object_get(j, "id");
		if (json_is_integer(v) && json_integer_value(v) > 0) {
			xasprintf(id, "%lld", (long long)json_integer_value(v));
			json_decref(j);
			return (0);
		}
		json_decref(j);
	}
	*cause = xstrdup("nbgate-slurmlib printed no job id");
	return (-1);
}

static int
slurmlib_ids(struct sched_argv *a, const char *const *ids, size_t n, char **cause)
{
	char	*list = NULL, *tmp;
	size_t	 i;

	for (i = 0; i < n; i++) {
		/* libslurm wants numbers: refuse anything else before running the helper */
		if (!sched_id_valid(ids[i]) || strspn(ids[i], "0123456789") != strlen(ids[i])) {
			xasprintf(cause, "invalid job id");
			free(list);
			return (-1);
		}
		xasprintf(&tmp, "%s%s%s", list != NULL ? list : "", i > 0 ? "," : "", ids[i]);
		free(list);
		list = tmp;
	}
	if (list == NULL) {
		xasprintf(cause, "no job ids");
		return (-1);
	}
	sched_argv_add(a, list);
	free(list);
	return (0);
}

static int
slurmlib_query_argv(struct sched_argv *a, const char *const *ids, size_t n, char **cause)
{
	slurmlib_cmd(a, "query");
	return (slurmlib_ids(a, ids, n, cause));
}

static char *
slurmlib_string(json_t *j, const char *key, const char *none)
{
	const char	*s = json_string_value(json_object_get(j, key));

	if (s == NULL || *s == '\0' || (none != NULL && strcmp(s, none) == 0))
		return (NULL);
	return (xstrndup(s, 1024));
}

static int
slurmlib_int(json_t *j, const char *key, json_int_t lo, json_int_t hi, json_int_t *v)
{
	json_t	*x = json_object_get(j, key);

	if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
		return (-1);
	*v = json_integer_value(x);
	return (0);
}

/* One job line into its status, the same fields the CLI backend fills. */
static void
slurmlib_job(json_t *j, struct sched_status *st)
{
	const char	*state = json_string_value(json_object_get(j, "state"));
	json_int_t	 v, sig;

	sched_status_clear(st);
	sched_slurm_map(state != NULL ? state : "", st);
	if (st->state == SCHED_PENDING)
		st->reason = slurmlib_string(j, "reason", "None");
	if (slurmlib_int(j, "start_time", 1, INT64_MAX, &v) == 0)
		st->start = (time_t)v;
	st->node = slurmlib_string(j, "nodes", NULL);
	if (slurmlib_int(j, "time_limit", 1, INT32_MAX / 60, &v) == 0)	/* minutes */
		st->limit = (int)v * 60;
	if (st->state == SCHED_ENDED && slurmlib_int(j, "exit_code", 0, 255, &v) == 0 &&
	    slurmlib_int(j, "signal", 0, 127, &sig) == 0) {
		st->exit_code = (int)v;
		st->signal = (int)sig;
	}
}

/* {"id": N, "state": "RUNNING", ...} per job the controller still knows. */
static int
slurmlib_query_parse(const struct sched_output *o, struct sched_job *jobs, size_t n,
    char **cause)
{
	const char	*p = o->out;
	json_t		*j;
	json_int_t	 id;
	char		 buf[32];
	size_t		 i;

	if (o->status != 0) {
		*cause = slurmlib_cause(o);
		return (-1);
	}
	while ((j = slurmlib_next(o, &p)) != NULL) {
		if (slurmlib_int(j, "id", 1, UINT32_MAX, &id) == 0) {
			snprintf(buf, sizeof buf, "%lld", (long long)id);
			for (i = 0; i < n; i++) {
				if (strcmp(jobs[i].id, buf) == 0) {
					slurmlib_job(j, &jobs[i].st);
					jobs[i].found = 1;
				}
			}
		}
		json_decref(j);
	}
	return (0);
}

/* History: the controller forgets ended jobs after MinJobAge; sacct still knows them. */
static int
slurmlib_history_argv(struct sched_argv *a, const char *const *ids, size_t n, char **cause)
{
	return (sched_slurm_ops.history_argv(a, ids, n, cause));
}

static int
slurmlib_history_parse(const struct sched_output *o, struct sched_job *jobs, size_t n,
    char **cause)
{
	return (sched_slurm_ops.history_parse(o, jobs, n, cause));
}

/* Accounting: sacct, as the CLI backend runs it. */
static int
slurmlib_usage_argv(struct sched_argv *a, const char *since, char **cause)
{
	return (sched_slurm_ops.usage_argv(a, since, cause));
}

static int
slurmlib_usage_parse(const struct sched_output *o, struct sched_used **up, size_t *np,
    char **cause)
{
	return (sched_slurm_ops.usage_parse(o, up, np, cause));
}

static int
slurmlib_cancel_argv(struct sched_argv *a, const char *id, char **cause)
{
	slurmlib_cmd(a, "cancel");
	return (slurmlib_ids(a, &id, 1, cause));
}

static int
slurmlib_cancel_parse(const struct sched_output *o, const char *id, char **cause)
{
	if (o->status != 0) {
		*cause = slurmlib_cause(o);
		return (-1);
	}
	return (0);
}

static int
slurmlib_queues_argv(struct sched_argv *a, char **cause)
{
	slurmlib_cmd(a, "queues");
	return (0);
}

/* {"name", "state": "UP", "max_time": s or -1, "nodes", "cpus", "default"} per partition. */
static int
slurmlib_queues_parse(const struct sched_output *o, struct sched_queue **qp, size_t *np,
    char **cause)
{
	const char		*p = o->out, *name, *state;
	struct sched_queue	*q = NULL, *e;
	size_t			 n = 0;
	json_t			*j;
	json_int_t		 v;

	if (o->status != 0) {
		*cause = slurmlib_cause(o);
		return (-1);
	}
	while ((j = slurmlib_next(o, &p)) != NULL) {
		name = json_string_value(json_object_get(j, "name"));
		state = json_string_value(json_object_get(j, "state"));
		if (name != NULL && sched_name_valid(name)) {
			q = xreallocarray(q, n + 1, sizeof *q);
			e = &q[n++];
			memset(e, 0, sizeof *e);
			e->name = xstrdup(name);
			e->available = state != NULL && strcmp(state, "UP") == 0;
			e->is_default = json_is_true(json_object_get(j, "default"));
			e->max_walltime = slurmlib_int(j, "max_time", 0, INT32_MAX, &v) == 0 ?
			    (int)v : -1;
			if (slurmlib_int(j, "nodes", 0, INT32_MAX, &v) == 0)
				e->nodes = (int)v;
			if (slurmlib_int(j, "cpus", 0, INT32_MAX, &v) == 0)
				e->cpus_total = (int)v;
		}
		json_decref(j);
	}
	*qp = q;
	*np = n;
	return (0);
}

/* The user's associations, from slurmdbd through the library. */
static int
slurmlib_accounts_argv(struct sched_argv *a, const char *user, char **cause)
{
	if (!sched_name_valid(user)) {
		xasprintf(cause, "invalid user name");
		return (-1);
	}
	slurmlib_cmd(a, "accounts");
	sched_argv_add(a, user);
	return (0);
}

/* {"account": NAME} per association; repeats (one per partition) dropped. */
static int
slurmlib_accounts_parse(const struct sched_output *o, char ***vp, size_t *np, char **cause)
{
	const char	*p = o->out, *name;
	char		**v = NULL;
	size_t		 n = 0, i;
	json_t		*j;

	if (o->status != 0) {
		*cause = slurmlib_cause(o);
		return (-1);
	}
	while ((j = slurmlib_next(o, &p)) != NULL) {
		name = json_string_value(json_object_get(j, "account"));
		for (i = 0; name != NULL && i < n && strcmp(v[i], name) != 0; i++)
			;
		if (name != NULL && sched_name_valid(name) && i == n) {
			v = xreallocarray(v, n + 1, sizeof *v);
			v[n++] = xstrdup(name);
		}
		json_decref(j);
	}
	*vp = v;
	*np = n;
	return (0);
}

/* A job's hosts: each node's NodeAddr, from the node list the query gave. */
static int
slurmlib_nodes_argv(struct sched_argv *a, const char *id, const char *nodes, char **cause)
{
	if (nodes == NULL || !sched_nodelist_valid(nodes)) {
		xasprintf(cause, "job %s has no valid node list", id);
		return (-1);
	}
	slurmlib_cmd(a, "nodes");
	sched_argv_add(a, nodes);
	return (0);
}

/* {"name": N, "addr": A} per node. */
static int
slurmlib_nodes_parse(const struct sched_output *o, char ***vp, size_t *np, char **cause)
{
	const char	*p = o->out, *addr;
	json_t		*j;

	if (o->status != 0) {
		*cause = slurmlib_cause(o);
		return (-1);
	}
	while ((j = slurmlib_next(o, &p)) != NULL) {
		if ((addr = json_string_value(json_object_get(j, "addr"))) != NULL)
			sched_hosts_add(vp, np, xstrndup(addr, 256));	/* transferred */
		json_decref(j);
	}
	return (0);
}

static int
slurmlib_list_argv(struct sched_argv *a, const char *user, char **cause)
{
	if (user != NULL && !sched_name_valid(user)) {
		xasprintf(cause, "invalid user name");
		return (-1);
	}
	slurmlib_cmd(a, "list");
	if (user != NULL)
		sched_argv_add(a, user);
	return (0);
}

/* The same job lines as a query, each with "user", "name" and "comment"; ended ones left out. */
static int
slurmlib_list_parse(const struct sched_output *o, struct sched_listed **lp, size_t *np,
    char **cause)
{
	const char		*p = o->out;
	struct sched_listed	*l = NULL, *e;
	size_t			 n = 0;
	json_t			*j;
	json_int_t		 id;

	if (o->status != 0) {
		*cause = slurmlib_cause(o);
		return (-1);
	}
	while ((j = slurmlib_next(o, &p)) != NULL) {
		if (slurmlib_int(j, "id", 1, UINT32_MAX, &id) == 0) {
			l = xreallocarray(l, n + 1, sizeof *l);
			e = &l[n];
			memset(e, 0, sizeof *e);
			slurmlib_job(j, &e->st);
			if (e->st.state == SCHED_ENDED)
				sched_status_clear(&e->st);
			else {
				xasprintf(&e->id, "%lld", (long long)id);
				e->user = slurmlib_string(j, "user", NULL);
				e->name = slurmlib_string(j, "name", NULL);
				e->comment = slurmlib_string(j, "comment", NULL);
				n++;
			}
		}
		json_decref(j);
	}
	*lp = l;
	*np = n;
	return (0);
}

const struct sched_ops sched_slurmlib_ops = {
	.name = "slurm-lib",
	.submit_argv = slurmlib_submit_argv,
	.submit_parse = slurmlib_submit_parse,
	.query_argv = slurmlib_query_argv,
	.query_parse = slurmlib_query_parse,
	.history_argv = slurmlib_history_argv,
	.history_parse = slurmlib_history_parse,
	.cancel_argv = slurmlib_cancel_argv,
	.cancel_parse = slurmlib_cancel_parse,
	.queues_argv = slurmlib_queues_argv,
	.queues_parse = slurmlib_queues_parse,
	.accounts_argv = slurmlib_accounts_argv,
	.accounts_parse = slurmlib_accounts_parse,
	.list_argv = slurmlib_list_argv,
	.list_parse = slurmlib_list_parse,
	.nodes_argv = slurmlib_nodes_argv,
	.nodes_parse = slurmlib_nodes_parse,
	.usage_argv = slurmlib_usage_argv,
	.usage_parse = slurmlib_usage_parse,
};
