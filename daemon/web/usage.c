/*
 * usage.c: GET /hub/api/usage: jobs and core-hours per gateway user and
 * cluster, from nbgate's sessions table and, where the cluster's scheduler
 * backend keeps accounting (SLURM: sacct; sched_usage()), from the
 * scheduler side by side, so a center can reconcile what the gateway saw
 * with what the scheduler charged.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "daemon/web/web.h"
#include "scheduler/scheduler.h"
#include "scheduler/backend.h"

#define USAGE_SACCT_TIMEOUT	20000	/* ms for one accounting query */
#define USAGE_DEFAULT_DAYS	30	/* --since, when not given */

struct usage_q {
	struct conn_defer	*defer;
	char			*user;		/* filter, or NULL */
	char			 since[32];	/* YYYY-MM-DDTHH:MM:SS, local time */
	json_t			*rows;		/* "user\ncluster" -> row */
	json_t			*sources;	/* cluster -> "ok" or why not */
	int			 waiting;	/* accounting queries outstanding */
};

struct usage_run {
	struct usage_q		*q;
	char			*cluster;
};

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]" (local time) -> time and canonical text. */
static int
usage_parse_since(const char *s, time_t *t, char *out, size_t len)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%Y-%m-%d", &tm)) == NULL)
		return (-1);
	if (*end == 'T') {
		if ((end = strptime(end + 1, "%H:%M", &tm)) == NULL)
			return (-1);
		if (*end == ':' && (end = strptime(end + 1, "%S", &tm)) == NULL)
			return (-1);
	}
	if (*end != '\0' || tm.tm_year < 70 || tm.tm_year > 1100)
		return (-1);
	tm.tm_isdst = -1;
	if ((*t = mktime(&tm)) == (time_t)-1)
		return (-1);
	strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	return (0);
}

/* The row of @user on @cluster, created with zeros (sacct columns null). */
static json_t *
usage_row(struct usage_q *q, const char *user, const char *cluster)
{
	json_t	*row;
	char	*key;

	xasprintf(&key, "%s\n%s", user, cluster);
	if ((row = json_object_get(q->rows, key)) == NULL) {
		row = json_pack("{s:s, s:s, s:i, s:f, s:n, s:n}", "user", user,
		    "cluster", cluster, "jobs", 0, "core_hours", 0.0, "sacct_jobs",
		    "sacct_core_hours");
		json_object_set_new(q->rows, key, row);
	}
	free(key);
	return (row);
}

static void
usage_add(json_t *row, const char *jobs, const char *hours, long long n, double h)
{
	json_t	*j = json_object_get(row, jobs), *c = json_object_get(row, hours);

	json_object_set_new(row, jobs, json_integer(json_integer_value(j) + n));
	json_object_set_new(row, hours, json_real(json_number_value(c) + h));
}

/* nbgate's own view: sessions that had a job still around at or after since. */
static void
usage_local(struct usage_q *q, time_t since)
{
	sqlite3_stmt	*st;
	double		 now = (double)time(NULL);

	st = store_prepare("SELECT user, cluster, count(*), sum(CASE WHEN started IS"
	    " NULL THEN 0 ELSE cores * max(0, coalesce(ended, ?1) - started) END)"
	    " FROM sessions WHERE job IS NOT NULL AND coalesce(ended, ?1) >= ?2"
	    " AND (?3 IS NULL OR user = ?3) GROUP BY user, cluster");
	if (st == NULL)
		return;
	sqlite3_bind_double(st, 1, now);
	sqlite3_bind_double(st, 2, (double)since);
	if (q->user != NULL)
		sqlite3_bind_text(st, 3, q->user, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW)
		usage_add(usage_row(q, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1)), "jobs", "core_hours",
		    sqlite3_column_int64(st, 2), sqlite3_column_double(st, 3) / 3600);
	sqlite3_finalize(st);
}

/*
 * The gateway user a job comment "nbgate:user=U:session=N" names (owned), or
 * NULL if the comment is someone else's or the name is not a valid one.
 */
char *
usage_comment_user(const char *c)
{
	const char	*u, *end;
	char		*user;

	if (strncmp(c, "nbgate:user=", 12) != 0)
		return (NULL);
	u = c + 12;
	if ((end = strchr(u, ':')) == NULL)
		return (NULL);
	user = xstrndup(u, end - u);
	if (!util_user_name_valid(user)) {
		free(user);
		return (NULL);
	}
	return (user);
}

/*
 * The gateway user of job @id on @cluster by nbgate's sessions (owned), or
 * NULL: for sites whose slurmdbd keeps no job comments (AccountingStoreFlags
 * without job_comment), sacct's numbers are still attributed.
 */
static char *
usage_job_user(const char *cluster, const char *id)
{
	sqlite3_stmt	*st;
	char		*user = NULL;

	if ((st = store_prepare("SELECT user FROM sessions WHERE cluster = ? AND"
	    " job = ? LIMIT 1")) == NULL)
		return (NULL);
	sqlite3_bind_text(st, 1, cluster, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		user = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return (user);
}

/*
 * Adds one job the scheduler accounted for: its gateway user from its
 * comment, or by its id for a job without one; a job with someone else's
 * comment is not the gateway's.
 */
static void
usage_sched_job(struct usage_q *q, const char *cluster, const struct sched_used *u,
    int *by_id)
{
	char	*user;

	if (*u->comment != '\0')
		user = usage_comment_user(u->comment);
	else if ((user = usage_job_user(cluster, u->id)) != NULL)
		(*by_id)++;
	if (user == NULL)
		return;
	if (q->user == NULL || strcmp(user, q->user) == 0)
		usage_add(usage_row(q, user, cluster), "sacct_jobs", "sacct_core_hours",
		    1, (double)u->cpus * (double)u->secs / 3600);
	free(user);
}

/* Fills @rs with the answer and frees @q. */
static void
usage_finish(struct usage_q *q, struct api_resp *rs)
{
	json_t		*list = json_array(), *row, *j;
	const char	*k;
	char		*s;

	json_object_foreach(q->rows, k, row)
		json_array_append(list, row);
	j = json_pack("{s:i, s:s, s:o, s:o}", "status", 200, "since", q->since,
	    "sources", q->sources, "usage", list);
	rs->code = 200;
	rs->ctype = "application/json";
	rs->body = evbuffer_new();
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	evbuffer_add_printf(rs->body, "%s\n", s);
	free(s);
	json_decref(j);
	json_decref(q->rows);
	free(q->user);
	free(q);
}

/* The last scheduler answered: send the deferred response. */
static void
usage_answer(struct usage_q *q)
{
	struct conn_defer	*d = q->defer;
	struct api_resp		 rs;

	memset(&rs, 0, sizeof rs);
	usage_finish(q, &rs);
	conn_defer_answer(d, &rs);
}

static void
usage_sched_done(const struct sched_used *u, size_t n, const char *cause, void *arg)
{
	struct usage_run	*run = arg;
	struct usage_q		*q = run->q;
	char			*why = NULL;
	size_t			 i;
	int			 by_id = 0;

	if (cause != NULL) {
		json_object_set_new(q->sources, run->cluster, json_string(cause));
		log_warnx("usage: cluster %s: %s", run->cluster, cause);
	} else {
		for (i = 0; i < n; i++)
			usage_sched_job(q, run->cluster, &u[i], &by_id);
		if (by_id == 0)
			why = xstrdup("ok");
		else
			xasprintf(&why, "ok; %d job(s) without a comment in sacct, "
			    "attributed by job id (set AccountingStoreFlags=job_comment)",
			    by_id);
		json_object_set_new(q->sources, run->cluster, json_string(why));
		free(why);
	}
	free(run->cluster);
	free(run);
	if (--q->waiting == 0)
		usage_answer(q);
}

/*
 * Asks every cluster whose backend keeps accounting (SLURM's sacct) for the
 * jobs since q->since; returns how many asked.
 */
static int
usage_sched(struct usage_q *q)
{
	const struct config	*cfg = gate->cfg;
	const struct sched_ops	*ops;
	struct sched		*s;
	struct usage_run	*run;
	size_t			 i;
	int			 n = 0;

	for (i = 0; i < cfg->nclusters; i++) {
		ops = sched_find(config_scheduler_name(cfg->clusters[i].scheduler));
		if (ops == NULL || ops->usage_argv == NULL) {
			json_object_set_new(q->sources, cfg->clusters[i].name,
			    json_string("not SLURM: nbgate's own numbers only"));
			continue;
		}
		if ((s = session_cluster_sched(cfg->clusters[i].name)) == NULL) {
			json_object_set_new(q->sources, cfg->clusters[i].name,
			    json_string("cluster not available"));
			continue;
		}
		run = xcalloc(1, sizeof *run);
		run->q = q;
		run->cluster = xstrdup(cfg->clusters[i].name);
		sched_usage(s, q->since, USAGE_SACCT_TIMEOUT, usage_sched_done, run);
		n++;
	}
	return (n);
}

/* GET /hub/api/usage[?user=U][&since=DATE]: answers now, or later (the scheduler). */
void
usage_api(const struct api_req *ar, struct api_resp *rs)
{
	struct usage_q	*q;
	char		*since;
	time_t		 t;
	struct tm	 tm;

	q = xcalloc(1, sizeof *q);
	q->user = api_query_get(ar->query, "user");
	since = api_query_get(ar->query, "since");
	if (q->user != NULL && !util_user_name_valid(q->user)) {
		rs->code = 400;
		goto bad;
	}
	if (since != NULL) {
		if (usage_parse_since(since, &t, q->since, sizeof q->since) == -1) {
			rs->code = 400;
			goto bad;
		}
	} else {
		t = time(NULL) - USAGE_DEFAULT_DAYS * 86400;
		localtime_r(&t, &tm);
		strftime(q->since, sizeof q->since, "%Y-%m-%dT%H:%M:%S", &tm);
	}
	free(since);
	q->rows = json_object();
	q->sources = json_object();
	usage_local(q, t);
	if ((q->waiting = usage_sched(q)) == 0) {
		usage_finish(q, rs);
		return;
	}
	q->defer = conn_defer(ar->conn);
	return;
bad:
	rs->ctype = "application/json";
	rs->body = evbuffer_new();
	evbuffer_add_printf(rs->body, "{\"status\": 400, \"message\": \"%s\"}\n",
	    q->user != NULL && !util_user_name_valid(q->user) ?
	    "user: not a valid user name" :
	    "since: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]");
	free(since);
	free(q->user);
	free(q);
}
