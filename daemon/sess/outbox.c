/*
 * outbox.c: attribution of community-account jobs. Each such job gets a row
 * in the outbox table when its id is stored; with accounting.endpoint set,
 * rows are POSTed there as JSON (daemon/ATTRIBUTION.md) until the endpoint
 * takes them (2xx) or refuses them for good (4xx but 408/429).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "daemon/sess/sess.h"
#include "scheduler/scheduler.h"

#define OUTBOX_INFLIGHT		4	/* deliveries at once */
#define OUTBOX_TOKEN_MAX	4096	/* bytes of the token file */
#define OUTBOX_ANSWER_MAX	512	/* bytes of a refusal kept and logged */

struct outbox_send {
	long long		 id;
	char			*what;		/* "record 3 (user u, session 5, job 12)" */
	int			 attempts;
	struct httpc_req	*req;
};

static struct outbox_send	 outbox_inflight[OUTBOX_INFLIGHT];
static struct event		*outbox_timer;
static char			*outbox_token;	/* bearer token, or NULL */
static struct outbox_stats	 outbox_st;

static void	outbox_kick(void);
static void	outbox_round(void);

static double
outbox_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((double)ts.tv_sec + ts.tv_nsec / 1e9);
}

static int
outbox_enabled(void)
{
	return (gate != NULL && gate->cfg != NULL && gate->cfg->acct_endpoint[0] != '\0');
}

/* Reads the bearer token: one line, no control characters. */
static int
outbox_read_token(const char *path, char **token, char **cause)
{
	struct stat	 sb;
	FILE		*f;
	char		 buf[OUTBOX_TOKEN_MAX + 2];
	size_t		 n, i;

	*token = NULL;
	if (path == NULL)
		return (0);
	if ((f = fopen(path, "re")) == NULL) {
		xasprintf(cause, "accounting.token_file: %s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 077) != 0)
		log_warnx("accounting.token_file: %s can be read by others than its "
		    "owner (mode %04o); chmod 600 it", path, (u_int)(sb.st_mode & 07777));
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' '))
		buf[--n] = '\0';
	for (i = 0; i < n; i++) {
		if ((unsigned char)buf[i] < 0x21 || buf[i] == 0x7f)
			break;
	}
	if (n == 0 || n > OUTBOX_TOKEN_MAX || i != n) {
		explicit_bzero(buf, sizeof buf);
		xasprintf(cause, "accounting.token_file: %s: not one line of up to "
		    "%d printable characters", path, OUTBOX_TOKEN_MAX);
		return (-1);
	}
	*token = xstrdup(buf);
	explicit_bzero(buf, sizeof buf);
	return (0);
}

static void
outbox_count(void)
{
	sqlite3_stmt	*st;
	const char	*state;

	memset(&outbox_st, 0, sizeof outbox_st);
	if ((st = store_prepare("SELECT state, count(*) FROM outbox GROUP BY state")) == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		state = (const char *)sqlite3_column_text(st, 0);
		if (strcmp(state, "pending") == 0)
			outbox_st.pending = sqlite3_column_int64(st, 1);
		else if (strcmp(state, "sent") == 0)
			outbox_st.delivered = sqlite3_column_int64(st, 1);
		else if (strcmp(state, "rejected") == 0)
			outbox_st.rejected = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
}

static void
outbox_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (outbox_enabled())
		outbox_round();
}

/* Starts the outbox: token, counts, and the first delivery round. */
int
outbox_init(struct event_base *base, const struct config *cfg, char **cause)
{
	if (outbox_read_token(cfg->acct_token_file, &outbox_token, cause) == -1)
		return (-1);
	outbox_timer = evtimer_new(base, outbox_timer_cb, NULL);
	if (outbox_timer == NULL)
		fatalx("%s: evtimer_new", __func__);
	outbox_count();
	if (cfg->acct_endpoint[0] != '\0')
		log_info("outbox: %llu record(s) pending for %s", outbox_st.pending,
		    cfg->acct_endpoint);
	outbox_kick();
	return (0);
}

/* A new config: re-read the token (keeping the old one if that fails). */
void
outbox_reload(const struct config *cfg)
{
	char	*token, *cause = NULL;

	if (outbox_read_token(cfg->acct_token_file, &token, &cause) == -1) {
		log_warnx("reload: %s; keeping the previous token", cause);
		free(cause);
	} else {
		freestr(outbox_token);
		outbox_token = token;
	}
	outbox_kick();
}

/* Cancels deliveries in flight (their rows stay pending). */
void
outbox_shutdown(void)
{
	size_t	i;

	for (i = 0; i < OUTBOX_INFLIGHT; i++) {
		httpc_cancel(outbox_inflight[i].req);
		free(outbox_inflight[i].what);
		memset(&outbox_inflight[i], 0, sizeof outbox_inflight[i]);
	}
	if (outbox_timer != NULL)
		event_free(outbox_timer);
	outbox_timer = NULL;
	freestr(outbox_token);
	outbox_token = NULL;
}

const struct outbox_stats *
outbox_stats(void)
{
	return (&outbox_st);
}

/* The local account community jobs run as. */
static const char *
outbox_unix_user(const struct config_cluster *c)
{
	struct passwd	*pw;

	if (c->login_user != NULL)	/* ssh, or local run as login_user */
		return (c->login_user);
	if ((pw = getpwuid(geteuid())) != NULL)
		return (pw->pw_name);
	return ("");
}

/*
 * Records a session's job if its cluster charges the community account.
 * Called in the step that stores the job id; a second call for the same
 * session and job changes nothing.
 */
void
outbox_record(long long session, const char *user, const struct jobreq *req,
    const char *job)
{
	const struct config_cluster	*c;
	const char			*account;
	char				*what, *cause = NULL;

	if (gate == NULL || (c = config_cluster_find(gate->cfg, req->cluster)) == NULL ||
	    c->charging != CONFIG_COMMUNITY)
		return;
	account = req->account[0] != '\0' ? req->account : c->community_account;
	if (store_run(&cause, "INSERT OR IGNORE INTO outbox (session, user,"
	    " cluster, job, submitted, account, queue, cores, memory, gpus,"
	    " walltime, unix_user, state, next_try) VALUES (?, ?, ?, ?, ?, ?, ?,"
	    " ?, ?, ?, ?, ?, 'pending', 0)", "itttdttiiiit", session, user,
	    req->cluster, job, outbox_now(), account, req->queue,
	    (long long)req->cores, (long long)req->memory, (long long)req->gpus,
	    (long long)req->walltime, outbox_unix_user(c)) == -1) {
		log_warnx("outbox: user %s, session %lld, job %s: cannot record it: "
		    "%s", user, session, job, cause);
		free(cause);
		return;
	}
	if (store_changes() == 0)
		return;
	outbox_st.pending++;
	xasprintf(&what, "user %s, session %lld, job %s", user, session, job);
	log_info("outbox: %s: recorded (account %s on %s)%s", what, account,
	    req->cluster, outbox_enabled() ? "" : "; no accounting.endpoint, kept");
	free(what);
	outbox_kick();
}

static void
outbox_rfc3339(double t, char *buf, size_t len)
{
	struct tm	 tm;
	time_t		 sec = (time_t)t;

	gmtime_r(&sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

#define COL_TEXT(st, i)	((const char *)sqlite3_column_text((st), (i)))

/* The JSON body of one row (id, session, user, cluster, job, submitted, ...). */
static json_t *
outbox_json(sqlite3_stmt *st)
{
	char	 when[32], *aid, *comment;
	json_t	*j;

	outbox_rfc3339(sqlite3_column_double(st, 5), when, sizeof when);
	xasprintf(&aid, "%s:%lld:%s", gate->cfg->acct_gateway_name,
	    (long long)sqlite3_column_int64(st, 1), COL_TEXT(st, 4));
	xasprintf(&comment, "nbgate:user=%s:session=%lld", COL_TEXT(st, 2),
	    (long long)sqlite3_column_int64(st, 1));
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I,"
	    " s:I, s:s, s:I, s:s}",
	    "attribution_id", aid,
	    "gateway", gate->cfg->acct_gateway_name,
	    "gateway_user", COL_TEXT(st, 2),
	    "job_id", COL_TEXT(st, 4),
	    "submit_time", when,
	    "resource", COL_TEXT(st, 3),
	    "account", COL_TEXT(st, 6),
	    "queue", COL_TEXT(st, 7),
	    "cores", (json_int_t)sqlite3_column_int64(st, 8),
	    "memory_mib", (json_int_t)(sqlite3_column_int64(st, 9) / (1024 * 1024)),
	    "gpus", (json_int_t)sqlite3_column_int64(st, 10),
	    "walltime_seconds", (json_int_t)sqlite3_column_int64(st, 11),
	    "local_user", COL_TEXT(st, 12),
	    "session_id", (json_int_t)sqlite3_column_int64(st, 1),
	    "scheduler_comment", comment);
	free(aid);
	free(comment);
	return (j);
}

/* Seconds to wait before attempt number @attempts + 1 (>= 1). */
static double
outbox_backoff(int attempts)
{
	const struct config	*cfg = gate->cfg;
	double			 d = cfg->acct_retry_initial;
	int			 i;

	for (i = 1; i < attempts && d < cfg->acct_retry_max; i++)
		d *= 2;
	if (d > cfg->acct_retry_max)
		d = cfg->acct_retry_max;
	return (d * (1 + (arc4random() % 2500) / 10000.0));
}

/* A printable, bounded copy of a refusal for the row and the log. */
static char *
outbox_answer(const struct httpc_result *r)
{
	size_t	 n = r->bodylen < OUTBOX_ANSWER_MAX ? r->bodylen : OUTBOX_ANSWER_MAX;
	char	*s = xstrndup(r->body, n), *p;

	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	return (s);
}

/* Logs that an attempt's outcome could not be written (and frees @cause). */
static void
outbox_store_failed(const struct outbox_send *o, char *cause)
{
	log_warnx("outbox: %s: cannot record the attempt: %s", o->what, cause);
	free(cause);
}

static void
outbox_done(const struct httpc_result *r, void *arg)
{
	struct outbox_send	*o = arg;
	char			*answer = NULL, *why = NULL, *cause = NULL;
	double			 wait;

	o->req = NULL;
	if (r->error == NULL && r->status >= 200 && r->status < 300) {
		if (store_run(&cause, "UPDATE outbox SET state = 'sent', sent = ?,"
		    " attempts = ?, answer = NULL, last_error = NULL WHERE id = ?",
		    "dii", outbox_now(), (long long)o->attempts, o->id) == -1)
			outbox_store_failed(o, cause);
		outbox_st.pending--;
		outbox_st.delivered++;
		log_info("outbox: %s: delivered (HTTP %ld, attempt %d)", o->what,
		    r->status, o->attempts);
	} else if (r->error == NULL && r->status >= 400 && r->status < 500 &&
	    r->status != 408 && r->status != 429) {
		answer = outbox_answer(r);
		xasprintf(&why, "HTTP %ld", r->status);
		if (store_run(&cause, "UPDATE outbox SET state = 'rejected',"
		    " attempts = ?, answer = ?, last_error = ? WHERE id = ?", "itti",
		    (long long)o->attempts, answer, why, o->id) == -1)
			outbox_store_failed(o, cause);
		outbox_st.pending--;
		outbox_st.rejected++;
		log_warnx("outbox: %s: rejected by %s (HTTP %ld: %s); not retried",
		    o->what, gate->cfg->acct_endpoint, r->status, answer);
	} else {
		if (r->error != NULL)
			why = xstrdup(r->error);
		else {
			answer = outbox_answer(r);
			xasprintf(&why, "HTTP %ld: %s", r->status, answer);
		}
		wait = outbox_backoff(o->attempts);
		if (store_run(&cause, "UPDATE outbox SET attempts = ?, next_try = ?,"
		    " last_error = ? WHERE id = ?", "idti", (long long)o->attempts,
		    outbox_now() + wait, why, o->id) == -1)
			outbox_store_failed(o, cause);
		outbox_st.failures++;
		log_warnx("outbox: %s: attempt %d failed (%s); next in %.0f s",
		    o->what, o->attempts, why, wait);
	}
	free(why);
	free(answer);
	free(o->what);
	memset(o, 0, sizeof *o);
	outbox_kick();
}

static int
outbox_busy(long long id)
{
	size_t	i;

	for (i = 0; i < OUTBOX_INFLIGHT; i++) {
		if (outbox_inflight[i].id == id)
			return (1);
	}
	return (0);
}

/* Sends one row; 0, or -1 if it could not even be queued (retried later). */
static int
outbox_send(struct outbox_send *o, sqlite3_stmt *st)
{
	const struct config	*cfg = gate->cfg;
	struct httpc_opts	 opts;
	const char		*hdrs[4];
	char			*auth = NULL, *body, *idem, *cause = NULL, *why = NULL;
	json_t			*j;
	size_t			 n = 0;

	o->id = sqlite3_column_int64(st, 0);
	o->attempts = sqlite3_column_int(st, 13) + 1;
	xasprintf(&o->what, "record %lld (user %s, session %lld, job %s)", o->id,
	    COL_TEXT(st, 2), (long long)sqlite3_column_int64(st, 1), COL_TEXT(st, 4));
	if ((j = outbox_json(st)) == NULL ||
	    (body = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		fatalx("%s: json", __func__);
	json_decref(j);
	hdrs[n++] = "Content-Type: application/json";
	xasprintf(&idem, "Idempotency-Key: %s:%lld", cfg->acct_gateway_name, o->id);
	hdrs[n++] = idem;
	if (outbox_token != NULL) {
		xasprintf(&auth, "Authorization: Bearer %s", outbox_token);
		hdrs[n++] = auth;
	}
	hdrs[n] = NULL;
	memset(&opts, 0, sizeof opts);
	opts.method = "POST";
	opts.url = cfg->acct_endpoint;
	opts.headers = hdrs;
	opts.body = body;
	opts.bodylen = strlen(body);
	opts.timeout_ms = cfg->acct_timeout * 1000;
	opts.cafile = cfg->acct_ca_file;
	o->req = httpc_request(&opts, outbox_done, o, &cause);
	freestr(auth);
	free(idem);
	free(body);
	if (o->req == NULL) {
		log_warnx("outbox: %s: %s", o->what, cause);
		if (store_run(&why, "UPDATE outbox SET next_try = ?, last_error = ?"
		    " WHERE id = ?", "dti", outbox_now() + outbox_backoff(o->attempts),
		    cause, o->id) == -1)
			outbox_store_failed(o, why);
		free(cause);
		free(o->what);
		memset(o, 0, sizeof *o);
		return (-1);
	}
	return (0);
}

/* Starts what is due, up to OUTBOX_INFLIGHT, and arms the timer for the next. */
static void
outbox_round(void)
{
	sqlite3_stmt	*st;
	struct timeval	 tv;
	double		 now = outbox_now(), next = 0;
	size_t		 i;

	if ((st = store_prepare("SELECT id, session, user, cluster, job, submitted,"
	    " account, queue, cores, memory, gpus, walltime, unix_user, attempts,"
	    " next_try FROM outbox WHERE state = 'pending' ORDER BY next_try, id")) == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (outbox_busy(sqlite3_column_int64(st, 0)))
			continue;
		if (sqlite3_column_double(st, 14) > now) {
			next = sqlite3_column_double(st, 14);
			break;
		}
		for (i = 0; i < OUTBOX_INFLIGHT && outbox_inflight[i].id != 0; i++)
			;
		if (i == OUTBOX_INFLIGHT)
			break;	/* a completion kicks the next round */
		outbox_send(&outbox_inflight[i], st);
	}
	sqlite3_finalize(st);
	if (next > 0) {
		next -= now;
		tv.tv_sec = (time_t)next;
		tv.tv_usec = (suseconds_t)((next - (double)tv.tv_sec) * 1e6);
		evtimer_add(outbox_timer, &tv);
	}
}

/* Runs a delivery round on the next loop turn (never inline). */
static void
outbox_kick(void)
{
	if (outbox_timer == NULL || !outbox_enabled())
		return;
	evtimer_del(outbox_timer);
	event_active(outbox_timer, EV_TIMEOUT, 0);
}
