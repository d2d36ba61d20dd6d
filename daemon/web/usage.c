/*
 * usage.c: GET /hub/api/usage: jobs and core-hours per gateway user and
 * cluster, from nbgate's sessions table and, for SLURM clusters, from sacct
 * (run through the cluster's transport) side by side, so a center can
 * reconcile what the gateway saw with what the scheduler charged.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "daemon/web/web.h"
#include "scheduler/scheduler.h"
#include "scheduler/backend.h"

#define USAGE_SACCT_TIMEOUT	20000	/* ms for one sacct */
#define USAGE_DEFAULT_DAYS	30	/* --since, when not given */

struct usage_q {
	struct conn_defer	*defer;
	char			*user;		/* filter, or NULL */
	char			 since[32];	/* YYYY-MM-DDTHH:MM:SS, local time */
	json_t			*rows;		/* "user\ncluster" -> row */
	json_t			*sources;	/* cluster -> "ok" or why not */
	int			 waiting;	/* sacct runs outstanding */
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

/* "nbgate:user=U:session=N" -> U (owned), or NULL. */
static char *
usage_comment_user(const char *c, size_t len)
{
	const char	*u, *end;

	if (len < 12 || strncmp(c, "nbgate:user=", 12) != 0)
		return (NULL);
	u = c + 12;
	if ((end = memchr(u, ':', len - 12)) == NULL)
		return (NULL);
	return (xstrndup(u, end - u));
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
 * Splits one line of sacct -P: JobID|User|Account|AllocCPUS|ElapsedRaw|Comment
 * (in place). 0 with the job id (pointing into @line), the gateway user
 * named by an "nbgate:user=U:session=N" comment (owned; NULL if the comment
 * is empty), cores and seconds; -1 if the line is malformed or its comment
 * is someone else's.
 */
int
usage_sacct_parse(char *line, const char **job, char **user, long long *cpus,
    long long *secs)
{
	char	*f[6], *end;
	size_t	 i;

	*user = NULL;
	for (i = 0; i < 5; i++) {
		f[i] = line;
		if ((line = strchr(line, '|')) == NULL)
			return (-1);
		*line++ = '\0';
	}
	f[5] = line;	/* the comment, which may itself hold '|' */
	*cpus = strtoll(f[3], &end, 10);
	if (*f[3] == '\0' || *end != '\0' || *cpus < 0)
		return (-1);
	*secs = strtoll(f[4], &end, 10);
	if (*f[4] == '\0' || *end != '\0' || *secs < 0)
		return (-1);
	if (*f[0] == '\0')
		return (-1);
	*job = f[0];
	if (*f[5] == '\0')
		return (0);
	if ((*user = usage_comment_user(f[5], strlen(f[5]))) == NULL)
		return (-1);
	if (!util_user_name_valid(*user)) {
		free(*user);
		*user = NULL;
		return (-1);
	}
	return (0);
}

static void
usage_sacct_line(struct usage_q *q, const char *cluster, char *line, int *by_id)
{
	const char	*job;
	char		*user;
	long long	 cpus, secs;

	if (usage_sacct_parse(line, &job, &user, &cpus, &secs) == -1)
		return;
	if (user == NULL) {
		if ((user = usage_job_user(cluster, job)) == NULL)
			return;
		(*by_id)++;
	}
	if (q->user == NULL || strcmp(user, q->user) == 0)
		usage_add(usage_row(q, user, cluster), "sacct_jobs", "sacct_core_hours",
		    1, (double)cpus * (double)secs / 3600);
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

/* The last sacct answered: send the deferred response. */
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
usage_sacct_done(const struct transport_result *r, void *arg)
{
	struct usage_run	*run = arg;
	struct usage_q		*q = run->q;
	char			*out, *line, *next, *why = NULL;
	int			 by_id = 0;

	if (r->error != NULL)
		xasprintf(&why, "sacct: %s", r->error);
	else if (r->timed_out)
		why = xstrdup("sacct: timed out");
	else if (r->status != 0)
		xasprintf(&why, "sacct: exit %d: %.200s", r->status, r->err);
	if (why != NULL) {
		json_object_set_new(q->sources, run->cluster, json_string(why));
		log_warnx("usage: cluster %s: %s", run->cluster, why);
		free(why);
	} else {
		out = xstrndup(r->out, r->outlen);
		for (line = out; line != NULL && *line != '\0'; line = next) {
			if ((next = strchr(line, '\n')) != NULL)
				*next++ = '\0';
			usage_sacct_line(q, run->cluster, line, &by_id);
		}
		free(out);
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

/* Starts sacct on every SLURM cluster; returns how many run. */
static int
usage_sacct(struct usage_q *q)
{
	const struct config	*cfg = gate->cfg;
	const char		*argv[] = { "sacct", "-X", "-P", "-n", "-S", q->since,
	    "--format=JobID,User,Account,AllocCPUS,ElapsedRaw,Comment", NULL };
	struct transport	*tr;
	struct usage_run	*run;
	char			*cause = NULL;
	size_t			 i;
	int			 n = 0;

	for (i = 0; i < cfg->nclusters; i++) {
		if (cfg->clusters[i].scheduler != CONFIG_SLURM) {
			json_object_set_new(q->sources, cfg->clusters[i].name,
			    json_string("not SLURM: nbgate's own numbers only"));
			continue;
		}
		if ((tr = session_cluster_transport(cfg->clusters[i].name)) == NULL) {
			json_object_set_new(q->sources, cfg->clusters[i].name,
			    json_string("cluster not available"));
			continue;
		}
		run = xcalloc(1, sizeof *run);
		run->q = q;
		run->cluster = xstrdup(cfg->clusters[i].name);
		if (transport_run(tr, argv, NULL, 0, USAGE_SACCT_TIMEOUT,
		    usage_sacct_done, run, &cause) == NULL) {
			json_object_set_new(q->sources, run->cluster, json_string(cause));
			free(cause);
			cause = NULL;
			free(run->cluster);
			free(run);
			continue;
		}
		n++;
	}
	return (n);
}

/* GET /hub/api/usage[?user=U][&since=DATE]: answers now, or later (sacct). */
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
	if ((q->waiting = usage_sacct(q)) == 0) {
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
