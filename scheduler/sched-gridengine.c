/*
 * sched-gridengine.c: the Grid Engine backend (Son of Grid Engine / Debian's
 * gridengine 8.1, Univa and Altair forms alike): qsub -terse, one `qstat -xml`
 * per poll (plus `qstat -j` for held and failed jobs), qacct, qdel, qstat -g c.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "scheduler/backend.h"

/*
 * The batched query: every job of the login account in one `qstat -xml`, then,
 * only if some are held or in error (state letters E or h), one `qstat -j` for
 * those (their reasons). With "all" as $1, `qstat -j` gets every job (listings
 * need the context tag). Fixed text: job ids never reach it.
 */
#define GE_QUERY_SCRIPT \
	"u=$(id -un) || exit 1\n" \
	"x=$(qstat -xml -u \"$u\") || exit 1\n" \
	"printf '%s\\n' \"$x\"\n" \
	"ids=$(printf '%s\\n' \"$x\" | awk -v all=\"$1\" '\n" \
	"  /<JB_job_number>/ { gsub(/<[^>]*>|[ \\t]/, \"\"); id = $0 }\n" \
	"  /<state>/ { gsub(/<[^>]*>|[ \\t]/, \"\"); if (all == \"all\" || $0 ~ /[Eh]/) print id }'" \
	" | sort -un | paste -sd, -)\n" \
	"[ -z \"$ids\" ] && exit 0\n" \
	"echo '#nbgate: qstat -j'\n" \
	"qstat -j \"$ids\"\n" \
	"exit 0\n"
#define GE_JOBS_MARK	"#nbgate: qstat -j"
/* qacct takes one job per call: one remote command loops over the ids. */
#define GE_HISTORY_SCRIPT \
	"for j do qacct -j \"$j\" 2>/dev/null; done; exit 0"
#define GE_VALUE_MAX	4096	/* bytes kept of one value */
#define GE_FAILED_LIMIT	37	/* qacct failed: "qmaster enforced h_rt, h_cpu, or h_vmem limit" */

/* State letters to the common status: qw hqw Eqw pending; r t Rr s S T dr running. */
void
sched_gridengine_map(const char *word, struct sched_status *st)
{
	free(st->raw);
	st->raw = xstrdup(word);
	st->end = SCHED_END_NONE;
	if (*word == '\0' || strspn(word, "qwhrtRsSTEdo") != strlen(word))
		st->state = SCHED_UNKNOWN;
	else if (strchr(word, 'E') != NULL)
		st->state = SCHED_PENDING;	/* stays until an admin clears it */
	else if (strpbrk(word, "rtsST") != NULL)
		st->state = SCHED_RUNNING;
	else if (strpbrk(word, "qwh") != NULL)
		st->state = SCHED_PENDING;
	else
		st->state = SCHED_UNKNOWN;
}

/* qsub reads the script on stdin; -terse prints the id alone. */
static int
ge_submit_argv(struct sched_argv *a, const char *path, char **cause)
{
	sched_argv_add(a, "qsub");
	sched_argv_add(a, "-terse");
	if (path != NULL)
		sched_argv_add(a, path);
	return (0);
}

/* "123" (or "123.1-10:1" for arrays, which nbgate never submits). */
static int
ge_submit_parse(const struct sched_output *o, char **id, char **cause)
{
	const char	*p = o->out, *line;
	size_t		 len;

	if (sched_output_ok(o, "qsub", cause) == -1)
		return (-1);
	while ((line = sched_next_line(&p, o->out + o->outlen, &len)) != NULL) {
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			len--;
		if (len == 0)
			continue;
		if (len <= 64 && strspn(line, "0123456789") == len) {
			*id = xstrndup(line, len);
			return (0);
		}
		break;
	}
	*cause = xstrdup("qsub printed no job id");
	return (-1);
}

static int
ge_script_argv(struct sched_argv *a, const char *arg)
{
	sched_argv_add(a, "sh");
	sched_argv_add(a, "-c");
	sched_argv_add(a, GE_QUERY_SCRIPT);
	sched_argv_add(a, "sh");
	sched_argv_add(a, arg);
	return (0);
}

/* Every job of the login account: the ids are picked from the answer. */
static int
ge_query_argv(struct sched_argv *a, const char *const *ids, size_t n, char **cause)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (!sched_id_valid(ids[i])) {
			xasprintf(cause, "invalid job id");
			return (-1);
		}
	}
	return (ge_script_argv(a, "reasons"));
}

/* --- qstat -xml ------------------------------------------------------------------------ */

/* One <job_list> of qstat -xml, or one block of qstat -j / qacct -j. */
struct ge_job {
	char		*id;
	char		*name;
	char		*owner;
	char		*state;		/* qstat -xml */
	char		*queue;		/* qstat -xml: queue@host */
	char		*start;		/* qstat -xml: 2024-01-02T03:04:05 */
	char		*context;	/* qstat -j */
	char		*reason;	/* qstat -j: error reason, else scheduling info */
	int		 error;		/* reason is the error reason */
	int		 more;		/* blank-led lines continue the scheduling info */
};

struct ge_list {
	struct ge_job	*v;
	size_t		 n;
};

static void
ge_job_clear(struct ge_job *j)
{
	free(j->id);
	free(j->name);
	free(j->owner);
	free(j->state);
	free(j->queue);
	free(j->start);
	free(j->context);
	free(j->reason);
	memset(j, 0, sizeof *j);
}

static struct ge_job *
ge_find(struct ge_job *v, size_t n, const char *id)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (v[i].id != NULL && strcmp(v[i].id, id) == 0)
			return (&v[i]);
	}
	return (NULL);
}

/* "&lt;" and friends back to bytes; other entities stay as written. */
static char *
ge_unescape(const char *s, size_t len)
{
	static const struct { const char *e; char c; } ents[] = {
		{ "&lt;", '<' }, { "&gt;", '>' }, { "&amp;", '&' },
		{ "&quot;", '"' }, { "&apos;", '\'' },
	};
	char	*out = xmalloc(len + 1), *o = out;
	size_t	 i, k;

	for (i = 0; i < len; i++) {
		for (k = 0; k < nitems(ents); k++) {
			if (strncmp(s + i, ents[k].e, strlen(ents[k].e)) == 0 &&
			    i + strlen(ents[k].e) <= len)
				break;
		}
		if (k < nitems(ents)) {
			*o++ = ents[k].c;
			i += strlen(ents[k].e) - 1;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return (out);
}

/* "<tag>value</tag>" on one line: the tag into tag, the value (unescaped) or NULL. */
static char *
ge_element(const char *line, size_t len, char *tag, size_t tagsize)
{
	const char	*p = line, *end = line + len, *t, *v, *close;
	size_t		 tlen;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p++ != '<')
		return (NULL);
	t = p;
	while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
		p++;
	tlen = p - t;
	if (tlen == 0 || tlen >= tagsize || p == end || *p != '>')
		return (NULL);
	v = ++p;
	if ((close = memmem(v, end - v, "</", 2)) == NULL || close - v > GE_VALUE_MAX ||
	    (size_t)(end - close) < tlen + 3 || strncmp(close + 2, t, tlen) != 0 ||
	    close[2 + tlen] != '>')
		return (NULL);
	memcpy(tag, t, tlen);
	tag[tlen] = '\0';
	return (ge_unescape(v, close - v));
}

static void
ge_set(char **dst, char *val)
{
	free(*dst);
	*dst = val;	/* transferred */
}

/* Adds the <job_list> entries of qstat -xml between p and end to v. */
static void
ge_parse_xml(const char *p, const char *end, struct ge_job **vp, size_t *np)
{
	struct ge_job	*j = NULL;
	const char	*line;
	char		 tag[64], *val;
	size_t		 len;

	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		if (memmem(line, len, "<job_list", 9) != NULL) {
			*vp = xreallocarray(*vp, *np + 1, sizeof **vp);
			j = &(*vp)[(*np)++];
			memset(j, 0, sizeof *j);
			continue;
		}
		if (memmem(line, len, "</job_list>", 11) != NULL) {
			j = NULL;
			continue;
		}
		if (j == NULL || (val = ge_element(line, len, tag, sizeof tag)) == NULL)
			continue;
		if (strcmp(tag, "JB_job_number") == 0)
			ge_set(&j->id, val);
		else if (strcmp(tag, "JB_name") == 0)
			ge_set(&j->name, val);
		else if (strcmp(tag, "JB_owner") == 0)
			ge_set(&j->owner, val);
		else if (strcmp(tag, "state") == 0)
			ge_set(&j->state, val);
		else if (strcmp(tag, "queue_name") == 0)
			ge_set(&j->queue, val);
		else if (strcmp(tag, "JAT_start_time") == 0)
			ge_set(&j->start, val);
		else
			free(val);
	}
}

/* --- qstat -j and qacct -j: "key   value" blocks split by lines of '=' ------------------ */

/* Splits "key: value" (qstat -j; keys may hold spaces and digits) or "key value" (qacct). */
static int
ge_split_kv(const char *line, size_t len, int colon, char **key, char **val)
{
	const char	*sep, *v, *end = line + len;
	size_t		 klen;

	if (colon) {
		if ((sep = memchr(line, ':', len)) == NULL)
			return (-1);
		v = sep + 1;
	} else {
		sep = line;
		while (sep < end && !isspace((unsigned char)*sep))
			sep++;
		v = sep;
	}
	klen = sep - line;
	while (klen > 0 && isspace((unsigned char)line[klen - 1]))
		klen--;
	if (klen == 0 || klen > 64)
		return (-1);
	while (v < end && isspace((unsigned char)*v))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	if (end - v > GE_VALUE_MAX)
		end = v + GE_VALUE_MAX;
	*key = xstrndup(line, klen);
	*val = xstrndup(v, end - v);
	return (0);
}

/* "12/07/2026 03:51:06 [1001:10589]: error: can't open ...": the words after "]: ". */
static char *
ge_error_reason(const char *v)
{
	const char	*p;

	if ((p = strstr(v, "]: ")) != NULL)
		v = p + 3;
	if (strncmp(v, "error: ", 7) == 0)
		v += 7;
	return (xstrdup(v));
}

/* A blank-led line of qstat -j: more scheduling info, joined with "; ". */
static void
ge_jobs_more(struct ge_job *j, const char *line, size_t len)
{
	char	*s;

	while (len > 0 && isspace((unsigned char)*line)) {
		line++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)line[len - 1]))
		len--;
	if (!j->more || len == 0 || strlen(j->reason) + len > GE_VALUE_MAX)
		return;
	xasprintf(&s, "%s; %.*s", j->reason, (int)len, line);
	ge_set(&j->reason, s);
}

/* One "key: value" line of qstat -j into the job collected in j. */
static void
ge_jobs_line(struct ge_job *j, char *key, char *val)
{
	j->more = 0;
	if (strcmp(key, "job_number") == 0)
		ge_set(&j->id, val);
	else if (strcmp(key, "owner") == 0)
		ge_set(&j->owner, val);
	else if (strcmp(key, "job_name") == 0)
		ge_set(&j->name, val);
	else if (strcmp(key, "context") == 0)
		ge_set(&j->context, val);
	else if (strncmp(key, "error reason", 12) == 0) {
		ge_set(&j->reason, ge_error_reason(val));	/* over scheduling info */
		j->error = 1;
		free(val);
	} else if (strcmp(key, "scheduling info") == 0 && !j->error) {
		ge_set(&j->reason, val);
		j->more = 1;
	} else
		free(val);
	free(key);
}

typedef void (*ge_block_cb)(struct ge_job *, void *);

/* Blocks of `qstat -j`: cb sees each (owns nothing). */
static void
ge_parse_blocks(const char *p, const char *end, ge_block_cb cb, void *arg)
{
	struct ge_job	 j;
	const char	*line;
	char		*key, *val;
	size_t		 len;

	memset(&j, 0, sizeof j);
	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		if (len >= 10 && strspn(line, "=") == len) {
			if (j.id != NULL)
				cb(&j, arg);
			ge_job_clear(&j);
			continue;
		}
		if (len > 0 && (*line == ' ' || *line == '\t'))
			ge_jobs_more(&j, line, len);
		else if (len > 0 && ge_split_kv(line, len, 1, &key, &val) == 0)
			ge_jobs_line(&j, key, val);
	}
	if (j.id != NULL)
		cb(&j, arg);
	ge_job_clear(&j);
}

/* The reasons (and context) of `qstat -j` onto the jobs qstat -xml listed. */
static void
ge_merge_block(struct ge_job *b, void *arg)
{
	struct ge_list	*l = arg;
	struct ge_job	*j;

	if ((j = ge_find(l->v, l->n, b->id)) == NULL)
		return;
	if (b->context != NULL)
		ge_set(&j->context, xstrdup(b->context));
	if (b->reason != NULL)
		ge_set(&j->reason, xstrdup(b->reason));
	if (j->owner == NULL && b->owner != NULL)
		j->owner = xstrdup(b->owner);
}

/* The query script's answer: its jobs, or -1 and *cause. */
static int
ge_parse_answer(const struct sched_output *o, struct ge_job **vp, size_t *np, char **cause)
{
	struct ge_list	 l = { NULL, 0 };
	const char	*end = o->out + o->outlen, *mark;

	if (sched_output_ok(o, "qstat", cause) == -1)
		return (-1);
	mark = memmem(o->out, o->outlen, GE_JOBS_MARK, strlen(GE_JOBS_MARK));
	ge_parse_xml(o->out, mark != NULL ? mark : end, &l.v, &l.n);
	if (mark != NULL)
		ge_parse_blocks(mark, end, ge_merge_block, &l);
	*vp = l.v;
	*np = l.n;
	return (0);
}

static void
ge_free(struct ge_job *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		ge_job_clear(&v[i]);
	free(v);
}

/* One listed job as the common status. */
static void
ge_status(const struct ge_job *j, struct sched_status *st)
{
	const char	*at;
	time_t		 t;

	sched_status_clear(st);
	st->exit_code = -1;
	sched_gridengine_map(j->state != NULL ? j->state : "", st);
	if (j->queue != NULL && (at = strchr(j->queue, '@')) != NULL && at[1] != '\0')
		st->node = xstrdup(at + 1);
	if (j->reason != NULL)
		st->reason = xstrdup(j->reason);
	if (st->state == SCHED_RUNNING && j->start != NULL && sched_parse_time(j->start, &t) == 0)
		st->start = t;
}

static int
ge_query_parse(const struct sched_output *o, struct sched_job *jobs, size_t n, char **cause)
{
	struct ge_job	*v = NULL, *j;
	size_t		 nv = 0, i;

	if (ge_parse_answer(o, &v, &nv, cause) == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		if ((j = ge_find(v, nv, jobs[i].id)) != NULL) {
			ge_status(j, &jobs[i].st);
			jobs[i].found = 1;
		}
	}
	ge_free(v, nv);
	return (0);
}

/* --- qacct ----------------------------------------------------------------------------- */

/* One finished job of qacct -j. */
struct ge_acct {
	char		*id;
	char		*owner;
	char		*account;
	char		*host;
	long long	 slots;
	int		 failed;
	char		*failed_text;
	int		 exit;
	time_t		 start;
	time_t		 end;
};

/* "Mon Dec  7 03:51:16 2026" */
static time_t
ge_ctime(const char *s)
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

typedef void (*ge_acct_cb)(const struct ge_acct *, void *);

static void
ge_acct_clear(struct ge_acct *a)
{
	free(a->id);
	free(a->owner);
	free(a->account);
	free(a->host);
	free(a->failed_text);
	memset(a, 0, sizeof *a);
	a->exit = -1;
}

static void
ge_acct_line(struct ge_acct *a, const char *key, char *val)
{
	if (strcmp(key, "jobnumber") == 0)
		ge_set(&a->id, val);
	else if (strcmp(key, "owner") == 0)
		ge_set(&a->owner, val);
	else if (strcmp(key, "account") == 0)
		ge_set(&a->account, val);
	else if (strcmp(key, "hostname") == 0)
		ge_set(&a->host, val);
	else if (strcmp(key, "failed") == 0) {
		a->failed = atoi(val);
		ge_set(&a->failed_text, val);
	} else {
		if (strcmp(key, "slots") == 0)
			a->slots = strtoll(val, NULL, 10);
		else if (strcmp(key, "exit_status") == 0)
			a->exit = atoi(val);
		else if (strcmp(key, "start_time") == 0)
			a->start = ge_ctime(val);
		else if (strcmp(key, "end_time") == 0)
			a->end = ge_ctime(val);
		free(val);
	}
}

/* Blocks of qacct -j output; cb sees each record with a job number. */
static void
ge_parse_acct(const struct sched_output *o, ge_acct_cb cb, void *arg)
{
	const char	*p = o->out, *end = o->out + o->outlen, *line;
	struct ge_acct	 a;
	char		*key, *val;
	size_t		 len;

	memset(&a, 0, sizeof a);
	ge_acct_clear(&a);
	while ((line = sched_next_line(&p, end, &len)) != NULL) {
		if (len >= 10 && strspn(line, "=") == len) {
			if (a.id != NULL)
				cb(&a, arg);
			ge_acct_clear(&a);
		} else if (len > 0 && ge_split_kv(line, len, 0, &key, &val) == 0) {
			ge_acct_line(&a, key, val);
			free(key);
		}
	}
	if (a.id != NULL)
		cb(&a, arg);
	ge_acct_clear(&a);
}

/*
 * failed 0: the job's own exit status (128+N: killed by signal N, by qdel
 * when N is 9 or 15); failed 37: a limit (h_rt) the qmaster enforced;
 * failed 100 with a signal: killed after the job (qdel); any other failed
 * code: it could not start (the text says why).
 */
static void
ge_acct_status(const struct ge_acct *a, struct sched_status *st)
{
	sched_status_clear(st);
	st->state = SCHED_ENDED;
	st->raw = xstrdup("qacct");
	st->exit_code = -1;
	st->start = a->start;
	if (a->host != NULL && strcmp(a->host, "") != 0)
		st->node = xstrdup(a->host);
	if (a->exit > 128 && a->exit < 256)
		st->signal = a->exit - 128;
	if (a->failed == GE_FAILED_LIMIT)
		st->end = SCHED_END_TIMEOUT;
	else if (a->failed == 0 && a->exit == 0) {
		st->end = SCHED_END_COMPLETED;
		st->exit_code = 0;
	} else if ((a->failed == 0 || a->failed == 100) &&
	    (st->signal == 9 || st->signal == 15))
		st->end = SCHED_END_CANCELLED;
	else if (a->failed == 0) {
		st->end = SCHED_END_FAILED;
		if (st->signal == 0)
			st->exit_code = a->exit;
	} else
		st->end = SCHED_END_FAILED;
	if (a->failed != 0 && a->failed_text != NULL)
		st->reason = xstrdup(a->failed_text);
}

static int
ge_history_argv(struct sched_argv *a, const char *const *ids, size_t n, char **cause)
{
	size_t	i;

	sched_argv_add(a, "sh");
	sched_argv_add(a, "-c");
	sched_argv_add(a, GE_HISTORY_SCRIPT);
	sched_argv_add(a, "sh");
	for (i = 0; i < n; i++) {
		if (!sched_id_valid(ids[i]) || strspn(ids[i], "0123456789") != strlen(ids[i])) {
			xasprintf(cause, "invalid job id");
			return (-1);
		}
		sched_argv_add(a, ids[i]);
	}
	return (0);
}

struct ge_hist {
	struct sched_job	*jobs;
	size_t			 n;
};

/* A job may have run more than once (rescheduled): the last record wins. */
static void
ge_hist_record(const struct ge_acct *a, void *arg)
{
	struct ge_hist	*h = arg;
	size_t		 i;

	for (i = 0; i < h->n; i++) {
		if (strcmp(h->jobs[i].id, a->id) == 0) {
			ge_acct_status(a, &h->jobs[i].st);
			h->jobs[i].found = 1;
		}
	}
}

/* Jobs qacct does not know (yet: the accounting file is flushed late) stay unfound. */
static int
ge_history_parse(const struct sched_output *o, struct sched_job *jobs, size_t n,
    char **cause)
{
	struct ge_hist	h = { jobs, n };

	if (sched_output_ok(o, "qacct", cause) == -1)
		return (-1);
	ge_parse_acct(o, ge_hist_record, &h);
	return (0);
}

/* --- qdel, qstat -g c, listings, hosts, usage ------------------------------------------ */

static int
ge_cancel_argv(struct sched_argv *a, const char *id, char **cause)
{
	return (sched_argv_id(a, "qdel", id, cause));
}

static int
ge_cancel_parse(const struct sched_output *o, const char *id, char **cause)
{
	return (sched_output_ok(o, "qdel", cause));
}

/* Splits at runs of blanks into at most max owned fields; returns the count. */
static size_t
ge_fields(const char *line, size_t len, char **f, size_t max)
{
	const char	*end = line + len, *w;
	size_t		 n = 0;

	while (n < max) {
		while (line < end && isspace((unsigned char)*line))
			line++;
		if (line == end)
			break;
		w = line;
		while (line < end && !isspace((unsigned char)*line))
			line++;
		f[n++] = xstrndup(w, line - w);
	}
	return (n);
}

static int
ge_queues_argv(struct sched_argv *a, char **cause)
{
	sched_argv_add(a, "qstat");
	sched_argv_add(a, "-g");
	sched_argv_add(a, "c");
	return (0);
}

/*
 * "CLUSTER QUEUE  CQLOAD USED RES AVAIL TOTAL aoACDS cdsuE": a queue is up
 * while some of its slots are not disabled, suspended or in error (cdsuE).
 */
static int
ge_queues_parse(const struct sched_output *o, struct sched_queue **qp, size_t *np,
    char **cause)
{
	const char		*p = o->out, *line;
	struct sched_queue	*q = NULL, *e;
	size_t			 len, n = 0, nf, i;
	char			*f[9];

	if (sched_output_ok(o, "qstat -g c", cause) == -1)
		return (-1);
	while ((line = sched_next_line(&p, o->out + o->outlen, &len)) != NULL) {
		nf = ge_fields(line, len, f, nitems(f));
		if (nf == 8 && sched_name_valid(f[0]) && strspn(f[2], "0123456789") ==
		    strlen(f[2]) && strspn(f[6], "0123456789") == strlen(f[6])) {
			q = xreallocarray(q, n + 1, sizeof *q);
			e = &q[n++];
			memset(e, 0, sizeof *e);
			e->name = xstrdup(f[0]);
			e->cpus_idle = atoi(f[4]);
			e->cpus_total = atoi(f[5]);
			e->available = e->cpus_total > atoi(f[7]);
			e->max_walltime = -1;	/* h_rt lives in `qconf -sq` */
			e->nodes = -1;
		}
		for (i = 0; i < nf; i++)
			free(f[i]);
	}
	*qp = q;
	*np = n;
	return (0);
}

/* Unfinished jobs of the login account with their context tags (qstat -j for all). */
static int
ge_list_argv(struct sched_argv *a, const char *user, char **cause)
{
	if (user != NULL && !sched_name_valid(user)) {
		xasprintf(cause, "invalid user name");
		return (-1);
	}
	return (ge_script_argv(a, "all"));
}

/* "nbgate_comment=nbgate:user=..." in the -ac context: the tag; other variables are not ours. */
static char *
ge_comment(const char *context)
{
	const char	*p = context;
	size_t		 len;

	while (p != NULL && *p != '\0') {
		len = strcspn(p, ",");
		if (strncmp(p, "nbgate_comment=", 15) == 0 && len > 15)
			return (xstrndup(p + 15, len - 15));
		p += len;
		if (*p == ',')
			p++;
	}
	return (NULL);
}

static int
ge_list_parse(const struct sched_output *o, struct sched_listed **lp, size_t *np,
    char **cause)
{
	struct ge_job		*v = NULL;
	struct sched_listed	*l = NULL, *e;
	size_t			 nv = 0, n = 0, i;

	if (ge_parse_answer(o, &v, &nv, cause) == -1)
		return (-1);
	for (i = 0; i < nv; i++) {
		if (v[i].id == NULL || !sched_id_valid(v[i].id))
			continue;
		l = xreallocarray(l, n + 1, sizeof *l);
		e = &l[n++];
		memset(e, 0, sizeof *e);
		e->id = xstrdup(v[i].id);
		if (v[i].name != NULL && *v[i].name != '\0')
			e->name = xstrdup(v[i].name);
		if (v[i].owner != NULL && sched_name_valid(v[i].owner))
			e->user = xstrdup(v[i].owner);
		if (v[i].context != NULL)
			e->comment = ge_comment(v[i].context);
		ge_status(&v[i], &e->st);
	}
	ge_free(v, nv);
	*lp = l;
	*np = n;
	return (0);
}

/* Every running job's tasks (-g t: one line per host of a parallel job). */
static int
ge_nodes_argv(struct sched_argv *a, const char *id, const char *nodes, char **cause)
{
	if (!sched_id_valid(id)) {
		xasprintf(cause, "invalid job id");
		return (-1);
	}
	sched_argv_add(a, "sh");
	sched_argv_add(a, "-c");
	sched_argv_add(a, "qstat -xml -g t -s r -u \"$(id -un)\" && echo \"#nbgate: job $1\"");
	sched_argv_add(a, "sh");
	sched_argv_add(a, id);
	return (0);
}

static int
ge_nodes_parse(const struct sched_output *o, char ***vp, size_t *np, char **cause)
{
	struct ge_job	*v = NULL;
	const char	*mark, *at, *end = o->out + o->outlen;
	char		*id;
	size_t		 nv = 0, i, len;

	if (sched_output_ok(o, "qstat", cause) == -1)
		return (-1);
	if ((mark = memmem(o->out, o->outlen, "#nbgate: job ", 13)) == NULL) {
		*cause = xstrdup("qstat: no answer");
		return (-1);
	}
	len = strcspn(mark + 13, "\n");
	id = xstrndup(mark + 13, len > (size_t)(end - mark - 13) ? 0 : len);
	ge_parse_xml(o->out, mark, &v, &nv);
	for (i = 0; i < nv; i++) {
		if (v[i].id != NULL && strcmp(v[i].id, id) == 0 && v[i].queue != NULL &&
		    (at = strchr(v[i].queue, '@')) != NULL && at[1] != '\0')
			sched_hosts_add(vp, np, xstrdup(at + 1));
	}
	ge_free(v, nv);
	free(id);
	return (0);
}

/* qacct -b takes [[CC]YY]MMDDhhmm[.SS]: from 2024-01-02T03:04:05. */
static int
ge_usage_argv(struct sched_argv *a, const char *since, char **cause)
{
	time_t		 t;
	struct tm	 tm;
	char		 buf[32];

	if (sched_parse_time(since, &t) == -1 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof buf, "%Y%m%d%H%M.%S", &tm) == 0) {
		xasprintf(cause, "invalid time");
		return (-1);
	}
	sched_argv_add(a, "qacct");
	sched_argv_add(a, "-j");
	sched_argv_add(a, "-b");
	sched_argv_add(a, buf);
	return (0);
}

struct ge_usage {
	struct sched_used	*u;
	size_t			 n;
};

/* No comment in qacct: usage attributes the job by its id. */
static void
ge_usage_record(const struct ge_acct *a, void *arg)
{
	struct ge_usage		*g = arg;
	struct sched_used	*e;

	if (!sched_id_valid(a->id) || a->end < a->start || a->start == 0)
		return;
	g->u = xreallocarray(g->u, g->n + 1, sizeof *g->u);
	e = &g->u[g->n++];
	memset(e, 0, sizeof *e);
	e->id = xstrdup(a->id);
	e->user = a->owner != NULL ? xstrdup(a->owner) : NULL;
	e->account = a->account != NULL ? xstrdup(a->account) : NULL;
	e->cpus = a->slots > 0 ? a->slots : 1;
	e->secs = (long long)(a->end - a->start);
	e->comment = xstrdup("");
}

/* "no jobs running since startup" / no accounting file: nothing ran. */
static int
ge_usage_parse(const struct sched_output *o, struct sched_used **up, size_t *np,
    char **cause)
{
	struct ge_usage	g = { NULL, 0 };

	if (o->status != 0 && memmem(o->err, o->errlen, "no jobs", 7) == NULL &&
	    memmem(o->err, o->errlen, "accounting", 10) == NULL) {
		*cause = sched_output_cause(o, "qacct");
		return (-1);
	}
	ge_parse_acct(o, ge_usage_record, &g);
	*up = g.u;
	*np = g.n;
	return (0);
}

const struct sched_ops sched_gridengine_ops = {
	.name = "gridengine",
	.submit_needs_file = 0,
	.submit_argv = ge_submit_argv,
	.submit_parse = ge_submit_parse,
	.query_argv = ge_query_argv,
	.query_parse = ge_query_parse,
	.history_argv = ge_history_argv,
	.history_parse = ge_history_parse,
	.cancel_argv = ge_cancel_argv,
	.cancel_parse = ge_cancel_parse,
	.queues_argv = ge_queues_argv,
	.queues_parse = ge_queues_parse,
	.list_argv = ge_list_argv,
	.list_parse = ge_list_parse,
	.nodes_argv = ge_nodes_argv,
	.nodes_parse = ge_nodes_parse,
	.usage_argv = ge_usage_argv,
	.usage_parse = ge_usage_parse,
	/* projects (qconf -sprjl) are not per user; estimates: none */
	.accounts_argv = NULL,
	.estimate_argv = NULL,
};
