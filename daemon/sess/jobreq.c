/*
 * jobreq.c: turns a user's spawn options (JupyterHub-style user_options)
 * into a job request checked against the clusters: config, with messages
 * that name the field and what is allowed; and the request's template vars.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "daemon/sess/sess.h"
#include "scheduler/scheduler.h"

#define JR_SHOW_MAX	40		/* bytes of a user's value in messages */
#define JR_MiB		(1024LL * 1024)
#define JR_MAX_SECS	(365LL * 24 * 3600)

/* The options a user may send, in the order they are checked. */
static const char *const jr_options[] = { "cluster", "queue", "walltime",
    "cores", "memory", "gpus", "container", "account", "app",
    "desktop_geometry" };

/* One request being checked; the first failure wins. */
struct jr {
	const struct config		*cfg;
	json_t				*opts;
	struct jobreq			*req;
	const struct config_cluster	*cluster;
	const struct config_queue	*queue;
	char				*field;
	char				*cause;
};

/* Fails the request: "field: message". */
static int NB_PRINTF(3, 4)
jr_fail(struct jr *jr, const char *field, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	jr->field = xstrdup(field);
	xasprintf(&jr->cause, "%s: %s", field, msg);
	free(msg);
	return (-1);
}

/* A user's value fit for a message: printable ASCII, cut at JR_SHOW_MAX. */
static char *
jr_show(const char *s)
{
	size_t	 len = strlen(s), n = len > JR_SHOW_MAX ? JR_SHOW_MAX : len, i;
	char	*out = xmalloc(n + 4);

	for (i = 0; i < n; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	memcpy(out + n, len > n ? "..." : "", len > n ? 4 : 1);
	return (out);
}

/* "a", "a or b", "a, b or c": the names of an element array. */
static char *
jr_choices(const void *array, size_t n, size_t size)
{
	const char	*name;
	char		*list = xstrdup(""), *old;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (size == 0)
			name = ((char *const *)array)[i];
		else
			name = *(char *const *)((const char *)array + i * size);
		old = list;
		xasprintf(&list, "%s%s%s", old, i == 0 ? "" : i + 1 == n ?
		    " or " : ", ", name);
		free(old);
	}
	return (list);
}

/* A JSON value's kind in words, for "expected X, got Y". */
static const char *
jr_kind(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return ("an object");
	case JSON_ARRAY:
		return ("a list");
	case JSON_STRING:
		return ("text");
	case JSON_INTEGER:
		return ("a whole number");
	case JSON_REAL:
		return ("a fractional number");
	default:
		return ("true/false");
	}
}

/* Digits to a number, clamped; NULL if there are none. */
static const char *
jr_digits(const char *s, long long *v)
{
	long long	n = 0;

	if (!isdigit((u_char)*s))
		return (NULL);
	for (; isdigit((u_char)*s); s++)
		n = n > JR_MAX_SECS * 1024 ? n : n * 10 + (*s - '0');
	*v = n;
	return (s);
}

/* "HH:MM:SS" or "MM:SS" (minutes and seconds below 60). */
static int
jr_parse_clock(const char *s, long long *secs)
{
	long long	part[3];
	size_t		n = 0;

	for (;;) {
		if (n == 3 || (s = jr_digits(s, &part[n++])) == NULL)
			return (-1);
		if (*s == '\0')
			break;
		if (*s++ != ':')
			return (-1);
	}
	if (n < 2 || part[n - 1] >= 60 || (n == 3 && part[1] >= 60))
		return (-1);
	*secs = n == 3 ? part[0] * 3600 + part[1] * 60 + part[2] :
	    part[0] * 60 + part[1];
	return (0);
}

/* "1d2h30m15s": units in that order, each at most once. */
static int
jr_parse_units(const char *s, long long *secs)
{
	static const char	 units[] = "dhms";
	static const long long	 mult[] = { 86400, 3600, 60, 1 };
	const char		*u;
	long long		 v, total = 0;
	size_t			 next = 0;

	while (*s != '\0') {
		if ((s = jr_digits(s, &v)) == NULL || *s == '\0' ||
		    (u = strchr(units, *s)) == NULL || (size_t)(u - units) <
		    next)
			return (-1);
		next = u - units + 1;
		total += v * mult[u - units];
		if (total > JR_MAX_SECS * 2)
			total = JR_MAX_SECS * 2;
		s++;
	}
	*secs = total;
	return (0);
}

/* Parses "1h30m", "90m", "01:30:00", "5400" into seconds (clamped). */
int
jobreq_parse_walltime(const char *s, int *secs)
{
	const char	*end;
	long long	 v;

	if ((end = jr_digits(s, &v)) != NULL && *end == '\0')
		;
	else if (strchr(s, ':') != NULL) {
		if (jr_parse_clock(s, &v) == -1)
			return (-1);
	} else if (*s == '\0' || jr_parse_units(s, &v) == -1)
		return (-1);
	*secs = v > INT_MAX ? INT_MAX : (int)v;
	return (0);
}

/* Writes seconds as "1d2h", "1h30m", "45s". */
void
jobreq_fmt_duration(char *buf, size_t len, long long v)
{
	static const char	 units[] = "dhms";
	static const long long	 mult[] = { 86400, 3600, 60, 1 };
	size_t			 i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < nitems(mult) && used < len; i++) {
		if (v / mult[i] == 0)
			continue;
		used += snprintf(buf + used, len - used, "%lld%c",
		    v / mult[i], units[i]);
		v %= mult[i];
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "%llds", v);
}

/* Writes bytes as GiB when whole, else MiB. */
static void
jr_fmt_size(char *buf, size_t len, long long v)
{
	if (v != 0 && v % (1024 * JR_MiB) == 0)
		snprintf(buf, len, "%lldGiB", v / (1024 * JR_MiB));
	else
		snprintf(buf, len, "%lldMiB", v / JR_MiB + (v % JR_MiB != 0));
}

/* An option's string value: 0 absent (or null, or ""), 1 set, -1 failed. */
static int
jr_string(struct jr *jr, const char *name, const char **s)
{
	json_t	*v = jr->opts == NULL ? NULL : json_object_get(jr->opts, name);

	*s = NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_string(v))
		return (jr_fail(jr, name, "expected a name, got %s",
		    jr_kind(v)));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return (jr_fail(jr, name, "contains a NUL byte"));
	*s = json_string_value(v);
	return (**s != '\0');
}

/*
 * A number option: integer JSON, or text that parse() reads. 0 absent, 1
 * set, -1 failed; what describes the accepted forms.
 */
static int
jr_number(struct jr *jr, const char *name, const char *what,
    int (*parse)(const char *, long long *), long long scale, long long *out)
{
	json_t		*v = jr->opts == NULL ? NULL : json_object_get(jr->opts, name);
	const char	*s;
	char		*shown;

	if (v == NULL || json_is_null(v) ||
	    (json_is_string(v) && json_string_length(v) == 0))
		return (0);
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		if (*out > LLONG_MAX / scale || *out < LLONG_MIN / scale)
			*out = *out < 0 ? LLONG_MIN : LLONG_MAX;
		else
			*out *= scale;
		return (1);
	}
	if (!json_is_string(v))
		return (jr_fail(jr, name, "expected %s, got %s", what,
		    jr_kind(v)));
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || parse(s, out) == -1) {
		shown = jr_show(s);
		jr_fail(jr, name, "'%s' is not %s", shown, what);
		free(shown);
		return (-1);
	}
	return (1);
}

/* Plain digits. */
static int
jr_parse_count(const char *s, long long *v)
{
	const char	*end = jr_digits(s, v);

	return (end == NULL || *end != '\0' ? -1 : 0);
}

/* A walltime string, in seconds. */
static int
jr_parse_walltime(const char *s, long long *v)
{
	int	secs;

	if (jobreq_parse_walltime(s, &secs) == -1)
		return (-1);
	*v = secs;
	return (0);
}

/* A memory string in bytes: MiB by default, or M/MiB, G/GiB, T/TiB. */
static int
jr_parse_memory(const char *s, long long *v)
{
	static const char	*units[] = { "", "M", "MiB", "G", "GiB", "T",
				    "TiB" };
	static const long long	 mult[] = { 1, 1, 1, 1024, 1024, 1024 * 1024,
				    1024 * 1024 };
	const char		*end;
	size_t			 i;

	if ((end = jr_digits(s, v)) == NULL)
		return (-1);
	for (i = 0; i < nitems(units); i++) {
		if (strcasecmp(end, units[i]) == 0) {
			*v = (*v > LLONG_MAX / JR_MiB / mult[i]) ? LLONG_MAX :
			    *v * mult[i] * JR_MiB;
			return (0);
		}
	}
	return (-1);
}

/* Refuses options that nobody asked for. */
static int
jr_unknown(struct jr *jr)
{
	const char	*key;
	json_t		*v;
	char		*shown, *list;
	size_t		 i;

	if (jr->opts == NULL)
		return (0);
	json_object_foreach(jr->opts, key, v) {
		for (i = 0; i < nitems(jr_options); i++) {
			if (strcmp(key, jr_options[i]) == 0)
				break;
		}
		if (i < nitems(jr_options))
			continue;
		shown = jr_show(key);
		list = jr_choices(jr_options, nitems(jr_options), 0);
		jr_fail(jr, shown, "not an option here (the options are %s)",
		    list);
		free(list);
		free(shown);
		return (-1);
	}
	return (0);
}

/* cluster: one of clusters:, default the first. */
static int
jr_cluster(struct jr *jr)
{
	const struct config	*cfg = jr->cfg;
	const char		*s;
	char			*shown, *list;
	int			 rc;

	if ((rc = jr_string(jr, "cluster", &s)) == -1)
		return (-1);
	if (cfg->nclusters == 0)
		return (jr_fail(jr, "cluster", "no clusters are set up on "
		    "this gateway"));
	jr->cluster = rc == 0 ? &cfg->clusters[0] :
	    config_cluster_find(cfg, s);
	if (jr->cluster != NULL) {
		jr->req->cluster = xstrdup(jr->cluster->name);
		return (0);
	}
	shown = jr_show(s);
	list = jr_choices(cfg->clusters, cfg->nclusters, sizeof *cfg->clusters);
	jr_fail(jr, "cluster", "'%s' is not offered here (choose %s)", shown,
	    list);
	free(list);
	free(shown);
	return (-1);
}

/* queue: one of the cluster's, default default_queue. */
static int
jr_queue(struct jr *jr)
{
	const struct config_cluster	*c = jr->cluster;
	const char			*s;
	char				*shown, *list;
	int				 rc;

	if ((rc = jr_string(jr, "queue", &s)) == -1)
		return (-1);
	jr->queue = config_queue_find(c, rc == 0 ? c->default_queue : s);
	if (jr->queue != NULL) {
		jr->req->queue = xstrdup(jr->queue->name);
		return (0);
	}
	shown = jr_show(rc == 0 ? c->default_queue : s);
	list = jr_choices(c->queues, c->nqueues, sizeof *c->queues);
	jr_fail(jr, "queue", "'%s' is not offered on cluster %s (choose %s)",
	    shown, c->name, list);
	free(list);
	free(shown);
	return (-1);
}

/* walltime: within the queue's min and max, default its default. */
static int
jr_walltime(struct jr *jr)
{
	const struct config_queue	*q = jr->queue;
	long long			 v = q->walltime_def;
	char				 a[32], b[32];

	if (jr_number(jr, "walltime", "a duration (e.g. 1h30m, 01:30:00, "
	    "or a number of seconds)", jr_parse_walltime, 1, &v) == -1)
		return (-1);
	jobreq_fmt_duration(a, sizeof a, v);
	if (v > q->walltime_max) {
		jobreq_fmt_duration(b, sizeof b, q->walltime_max);
		return (jr_fail(jr, "walltime", "%s is longer than queue %s "
		    "allows (at most %s)", a, q->name, b));
	}
	if (v < q->walltime_min) {
		jobreq_fmt_duration(b, sizeof b, q->walltime_min);
		return (jr_fail(jr, "walltime", "%s is shorter than queue %s "
		    "allows (at least %s)", v < 0 ? "a negative time" : a,
		    q->name, b));
	}
	jr->req->walltime = (int)v;
	return (0);
}

/* cores and gpus: counts within the queue's min and max. */
static int
jr_count(struct jr *jr, const char *name, long long def, long long min,
    long long max, int *out)
{
	const struct config_queue	*q = jr->queue;
	long long			 v = def;

	if (jr_number(jr, name, "a whole number", jr_parse_count, 1,
	    &v) == -1)
		return (-1);
	if (v > max && max == 0)
		return (jr_fail(jr, name, "queue %s has no %s", q->name,
		    strcmp(name, "gpus") == 0 ? "GPUs" : name));
	if (v > max)
		return (jr_fail(jr, name, "%lld is more than queue %s allows "
		    "(at most %lld)", v, q->name, max));
	if (v < min)
		return (jr_fail(jr, name, "%lld is fewer than queue %s allows "
		    "(at least %lld)", v, q->name, min));
	*out = (int)v;
	return (0);
}

/* memory: within the queue's min and max, a whole number of MiB. */
static int
jr_memory(struct jr *jr)
{
	const struct config_queue	*q = jr->queue;
	long long			 v = (long long)q->memory_def;
	char				 a[32], b[32];

	if (jr_number(jr, "memory", "a memory size (e.g. 4GiB, 512MiB, or a "
	    "number of MiB)", jr_parse_memory, JR_MiB, &v) == -1)
		return (-1);
	if (v > (long long)q->memory_max) {
		jr_fmt_size(a, sizeof a, v);
		jr_fmt_size(b, sizeof b, q->memory_max);
		return (jr_fail(jr, "memory", "%s is more than queue %s allows "
		    "(at most %s)", v == LLONG_MAX ? "that" : a, q->name, b));
	}
	if (v < (long long)q->memory_min) {
		jr_fmt_size(a, sizeof a, v < 0 ? 0 : v);
		jr_fmt_size(b, sizeof b, q->memory_min);
		return (jr_fail(jr, "memory", "%s is less than queue %s allows "
		    "(at least %s)", a, q->name, b));
	}
	jr->req->memory = (size_t)(v / JR_MiB + (v % JR_MiB != 0)) * JR_MiB;
	return (0);
}

/* container: one of the cluster's, default default_container. */
static int
jr_container(struct jr *jr)
{
	const struct config_cluster	*c = jr->cluster;
	const struct config_container	*ct;
	const char			*s;
	char				*shown, *list;
	int				 rc;

	if ((rc = jr_string(jr, "container", &s)) == -1)
		return (-1);
	ct = config_container_find(c, rc == 0 ? c->default_container : s);
	if (ct != NULL) {
		jr->req->container = xstrdup(ct->name);
		return (0);
	}
	shown = jr_show(rc == 0 ? c->default_container : s);
	list = jr_choices(c->containers, c->ncontainers, sizeof *c->containers);
	jr_fail(jr, "container", "'%s' is not offered on cluster %s (choose "
	    "%s)", shown, c->name, list);
	free(list);
	free(shown);
	return (-1);
}

/* Is s an account the user may pick on this cluster? */
static int
jr_account_ok(const struct config_cluster *c, const char *s)
{
	size_t	i;

	for (i = 0; i < c->naccounts; i++) {
		if (strcmp(c->accounts[i], s) == 0)
			return (1);
	}
	if (c->charging == CONFIG_COMMUNITY)
		return (c->naccounts == 0 && strcmp(s, c->community_account) == 0);
	/* User charging, no list: the scheduler decides; names stay quiet. */
	return (c->naccounts == 0 && util_batch_name_valid(s));
}

/* account: community_account by default in community mode, else none. */
static int
jr_account(struct jr *jr)
{
	const struct config_cluster	*c = jr->cluster;
	const char			*s;
	char				*shown, *list;
	int				 rc;

	if ((rc = jr_string(jr, "account", &s)) == -1)
		return (-1);
	if (rc == 0)
		s = c->charging == CONFIG_COMMUNITY ? c->community_account : "";
	if (*s == '\0' || jr_account_ok(c, s)) {
		jr->req->account = xstrdup(s);
		return (0);
	}
	shown = jr_show(s);
	if (c->naccounts != 0)
		list = jr_choices(c->accounts, c->naccounts, 0);
	else if (c->charging == CONFIG_COMMUNITY)
		list = xstrdup(c->community_account);
	else
		list = xstrdup("letters, digits, '_', '.' and '-' only");
	jr_fail(jr, "account", "'%s' is not available on cluster %s (%s%s)",
	    shown, c->name, c->naccounts != 0 ||
	    c->charging == CONFIG_COMMUNITY ? "choose " : "", list);
	free(list);
	free(shown);
	return (-1);
}

/* "jupyter, desktop or web": the apps offered with the request's choices. */
static char *
jr_app_names(struct jr *jr)
{
	const struct config_app	*a;
	char			*list = xstrdup(CONFIG_APP_DEFAULT), *old;
	size_t			 i;

	for (i = 0; i < jr->cfg->napps; i++) {
		a = &jr->cfg->apps[i];
		if (!config_app_offered(a, jr->req->cluster, jr->req->queue,
		    jr->req->container))
			continue;
		old = list;
		xasprintf(&list, "%s, %s", old, a->name);
		free(old);
	}
	return (list);
}

/* app: jupyter (the default) or an app offered with these choices. */
static int
jr_app(struct jr *jr)
{
	const struct config_app	*a = NULL;
	const char		*s;
	char			*shown, *list;
	int			 rc;

	if ((rc = jr_string(jr, "app", &s)) == -1)
		return (-1);
	if (rc == 0 || strcmp(s, CONFIG_APP_DEFAULT) == 0) {
		jr->req->app = xstrdup(CONFIG_APP_DEFAULT);
		return (0);
	}
	if ((a = config_app_find(jr->cfg, s)) != NULL &&
	    config_app_offered(a, jr->req->cluster, jr->req->queue,
	    jr->req->container)) {
		jr->req->app = xstrdup(a->name);
		return (0);
	}
	shown = jr_show(s);
	list = jr_app_names(jr);
	jr_fail(jr, "app", "'%s' is not offered on cluster %s, queue %s with "
	    "container %s (choose %s)", shown, jr->req->cluster, jr->req->queue,
	    jr->req->container, list);
	free(list);
	free(shown);
	return (-1);
}

/* desktop_geometry: WIDTHxHEIGHT for a desktop app, default its geometry. */
static int
jr_geometry(struct jr *jr)
{
	const struct config_app	*a = config_app_find(jr->cfg, jr->req->app);
	const char		*s;
	char			*shown;
	int			 rc, w, h;

	if ((rc = jr_string(jr, "desktop_geometry", &s)) == -1)
		return (-1);
	if (a == NULL || a->type != CONFIG_APP_DESKTOP) {
		jr->req->geometry = xstrdup("");
		if (rc == 0)
			return (0);
		return (jr_fail(jr, "desktop_geometry", "only for a desktop "
		    "app (app %s is not one)", jr->req->app));
	}
	if (rc == 0)
		s = a->geometry;
	if (config_geometry_parse(s, &w, &h) == 0) {
		jr->req->geometry = xstrdup(s);
		return (0);
	}
	shown = jr_show(s);
	jr_fail(jr, "desktop_geometry", "'%s' is not WIDTHxHEIGHT (e.g. 1280x800; "
	    "320x200 to 7680x4320)", shown);
	free(shown);
	return (-1);
}

/* Checks who is asking, then each option in turn. */
static int
jr_check(struct jr *jr, const char *user, const char *server)
{
	struct jobreq	*req = jr->req;
	char		*shown;

	if (user == NULL || !util_user_name_valid(user)) {
		shown = jr_show(user == NULL ? "" : user);
		jr_fail(jr, "user", "'%s' is not a user name "
		    "([a-z_][a-z0-9_.-]{0,31})", shown);
		free(shown);
		return (-1);
	}
	if (!util_server_name_valid(server)) {
		shown = jr_show(server);
		jr_fail(jr, "server", "'%s' is not a server name (lowercase "
		    "letters, digits, '_', '.', '-'; at most 64)", shown);
		free(shown);
		return (-1);
	}
	req->user = xstrdup(user);
	req->server = xstrdup(server);
	if (jr->opts != NULL && !json_is_object(jr->opts))
		return (jr_fail(jr, "user_options", "expected an object, got %s",
		    jr_kind(jr->opts)));
	if (jr_unknown(jr) == -1 || jr_cluster(jr) == -1 ||
	    jr_queue(jr) == -1 || jr_walltime(jr) == -1 ||
	    jr_count(jr, "cores", jr->queue->cores_def, jr->queue->cores_min,
	    jr->queue->cores_max, &req->cores) == -1 || jr_memory(jr) == -1 ||
	    jr_count(jr, "gpus", jr->queue->gpus_def, jr->queue->gpus_min,
	    jr->queue->gpus_max, &req->gpus) == -1 || jr_container(jr) == -1 ||
	    jr_account(jr) == -1 || jr_app(jr) == -1 || jr_geometry(jr) == -1)
		return (-1);
	return (0);
}

/* Checks a user's options against the config; see daemon.h. */
int
jobreq_from_options(const struct config *cfg, const char *user,
    const char *server, json_t *user_options, struct jobreq **reqp,
    char **field, char **cause)
{
	struct jr	jr = { .cfg = cfg, .opts = user_options };

	*reqp = NULL;
	jr.req = xcalloc(1, sizeof *jr.req);
	if (jr_check(&jr, user, server == NULL ? "" : server) == -1) {
		jobreq_free(jr.req);
		if (field != NULL)
			*field = jr.field;
		else
			free(jr.field);
		if (cause != NULL)
			*cause = jr.cause;
		else
			free(jr.cause);
		return (-1);
	}
	*reqp = jr.req;	/* transferred */
	return (0);
}

/* Frees a request; NULL is a no-op. */
void
jobreq_free(struct jobreq *req)
{
	if (req == NULL)
		return;
	free(req->user);
	free(req->server);
	free(req->cluster);
	free(req->queue);
	free(req->container);
	free(req->account);
	free(req->app);
	free(req->geometry);
	free(req);
}

/* Joins a string list, each item prefixed, one a line (no final '\n'). */
static char *
jr_join(char *const *list, size_t n, const char *prefix, const char *sep)
{
	char	*out = xstrdup(""), *old;
	size_t	 i;

	for (i = 0; i < n; i++) {
		old = out;
		xasprintf(&out, "%s%s%s%s", old, i == 0 ? "" : sep, prefix,
		    list[i]);
		free(old);
	}
	return (out);
}

/* Sets a printf-formatted user-kind variable. */
static void NB_PRINTF(3, 4)
jr_setf(struct template_vars *vars, const char *name, const char *fmt, ...)
{
	va_list	 ap;
	char	*value;

	va_start(ap, fmt);
	xvasprintf(&value, fmt, ap);
	va_end(ap);
	template_vars_set(vars, name, value, TEMPLATE_USER);
	free(value);
}

/* Who and what: identity, resources, names for the job. */
static void
jr_vars_job(struct template_vars *vars, const struct jobreq *req,
    const struct config_cluster *c, const struct config_queue *q)
{
	char	pbs_name[16];

	jr_setf(vars, "user", "%s", req->user);
	jr_setf(vars, "server", "%s", req->server);
	jr_setf(vars, "session", "%" PRId64, req->session);
	jr_setf(vars, "cluster", "%s", c->name);
	jr_setf(vars, "queue", "%s", q->name);
	jr_setf(vars, "walltime", "%02d:%02d:%02d", req->walltime / 3600,
	    req->walltime / 60 % 60, req->walltime % 60);
	jr_setf(vars, "walltime_s", "%d", req->walltime);
	jr_setf(vars, "cores", "%d", req->cores);
	jr_setf(vars, "memory_mb", "%lld", ((long long)req->memory + JR_MiB -
	    1) / JR_MiB);
	jr_setf(vars, "gpus", "%.0d", req->gpus);	/* "" for 0 */
	jr_setf(vars, "account", "%s", req->account);
	jr_setf(vars, "reservation", "%s", q->reservation);
	jr_setf(vars, "qos", "%s", q->qos);
	jr_setf(vars, "pe", "%s", q->pe);
	jr_setf(vars, "memory_complex", "%s", c->memory_complex);
	jr_setf(vars, "memory_per_core_mb", "%lld", ((long long)req->memory +
	    (long long)req->cores * JR_MiB - 1) / ((long long)req->cores * JR_MiB));
	jr_setf(vars, "job_name", "nbgate-%s%s%s", req->user,
	    *req->server == '\0' ? "" : "-", req->server);
	jr_setf(vars, "comment", "nbgate:user=%s:session=%" PRId64, req->user,
	    req->session);
	snprintf(pbs_name, sizeof pbs_name, "nb-%s", req->user);
	jr_setf(vars, "pbs_name", "%s", pbs_name);
	jr_setf(vars, "job_dir", "%s/%" PRId64, c->output_dir, req->session);
}

/*
 * What the agent starts (--app, --geometry, --listen): an app's command
 * replaces the container's notebook command.
 */
static void
jr_vars_app(struct template_vars *vars, const struct config_app *a,
    const struct jobreq *req)
{
	char	*s;

	jr_setf(vars, "app", "%s", req->app != NULL ? req->app : CONFIG_APP_DEFAULT);
	/* empty for Jupyter: its scripts stay as they were before apps */
	jr_setf(vars, "app_type", "%s", a == NULL || a->type == CONFIG_APP_JUPYTER ?
	    "" : config_app_type_name(a->type));
	/* a loopback port in a network namespace of its own, or refuse;
	 * loopback-shared: the node's shared loopback where that cannot be */
	jr_setf(vars, "app_tcp", "%s", a == NULL || a->listen == CONFIG_APP_UNIX ?
	    "" : a->listen == CONFIG_APP_LOOPBACK ? "required" : "preferred");
	jr_setf(vars, "geometry", "%s", req->geometry != NULL ? req->geometry : "");
	if (a == NULL || a->ncommand == 0)
		return;
	s = jr_join(a->command, a->ncommand, "", " ");
	template_vars_set(vars, "notebook_cmd", s, TEMPLATE_USER);
	free(s);
}

/* What runs: container, agent, and the admin's trusted text. */
static void
jr_vars_run(struct template_vars *vars, const struct config_cluster *c,
    const struct config_container *ct, const struct jobreq_env *env, int gpus)
{
	const char	*prefix = c->scheduler == CONFIG_PBS ? "#PBS " :
			    c->scheduler == CONFIG_GRIDENGINE ? "#$ " : "#SBATCH ";
	char		*s;

	jr_setf(vars, "container", "%s", ct->name);
	jr_setf(vars, "image", "%s", ct->image);
	jr_setf(vars, "runtime", "%s", config_runtime_name(ct->runtime));
	/* binds and --nv mean something only inside a container */
	s = ct->runtime == CONFIG_NO_RUNTIME ? xstrdup("") :
	    jr_join(c->binds, c->nbinds, "", ",");
	template_vars_set(vars, "binds", s, TEMPLATE_USER);
	free(s);
	jr_setf(vars, "container_gpus", "%s", gpus > 0 &&
	    ct->runtime != CONFIG_NO_RUNTIME ? "yes" : "");
	/* one quoted argument; the agent splits it on blanks (no word has one) */
	jr_setf(vars, "notebook_app", "%s", config_notebook_name(ct->notebook));
	s = jr_join(ct->notebook_command, ct->nnotebook_command, "", " ");
	template_vars_set(vars, "notebook_cmd", s, TEMPLATE_USER);
	free(s);
	jr_setf(vars, "agent", "%s", c->agent);
	jr_setf(vars, "gateway", "%s", env == NULL || env->gateway == NULL ?
	    "" : env->gateway);
	jr_setf(vars, "hostkey_fp", "%s", env == NULL ||
	    env->hostkey_fp == NULL ? "" : env->hostkey_fp);
	jr_setf(vars, "base_url", "%s", env == NULL || env->base_url == NULL ?
	    "" : env->base_url);
	jr_setf(vars, "route", "%s", env == NULL || env->route == NULL ?
	    "" : env->route);
	jr_setf(vars, "enroll", "%s", env == NULL || env->enroll == NULL ?
	    "" : env->enroll);
	jr_setf(vars, "keepalive", "%s", "");	/* the session manager sets it */
	jr_setf(vars, "activity_interval", "%s", "");	/* so does it this */
	jr_setf(vars, "walltime_signal", "%s", "");	/* and these */
	jr_setf(vars, "walltime_soft", "%s", "");
	jr_setf(vars, "walltime_soft_s", "%s", "");
	template_vars_set(vars, "prologue", c->prologue, TEMPLATE_TRUSTED);
	template_vars_set(vars, "epilogue", c->epilogue, TEMPLATE_TRUSTED);
	s = jr_join(c->extra_directives, c->nextra_directives, prefix, "\n");
	template_vars_set(vars, "extra_directives", s, TEMPLATE_TRUSTED);
	free(s);
}

/*
 * The user's own working directory (clusters.NAME.workdir with {user}
 * replaced): "workdir_home" is "yes" when it is relative to the job's
 * $HOME, and "workdir" is then the rest. The name was checked before.
 */
static void
jr_vars_workdir(struct template_vars *vars, const struct config_cluster *c,
    const char *user)
{
	const char	*w = c->workdir != NULL ? c->workdir : "$HOME/nbgate/{user}";
	const char	*p = strncmp(w, "$HOME/", 6) == 0 ? w + 6 : w, *hit;
	char		*out = xstrdup(""), *old;

	jr_setf(vars, "workdir_home", "%s", p != w ? "yes" : "");
	while ((hit = strstr(p, "{user}")) != NULL) {
		old = out;
		xasprintf(&out, "%s%.*s%s", old, (int)(hit - p), p, user);
		free(old);
		p = hit + 6;
	}
	jr_setf(vars, "workdir", "%s%s", out, p);
	free(out);
}

/* The variables a template sees for req; owned, or NULL and *cause. */
struct template_vars *
jobreq_template_vars(const struct jobreq *req,
    const struct config_cluster *c, const struct jobreq_env *env,
    char **cause)
{
	const struct config_queue	*q;
	const struct config_container	*ct;
	const struct config_app		*a = env != NULL ? env->app : NULL;
	struct template_vars		*vars;

	if (req->app != NULL && strcmp(req->app, CONFIG_APP_DEFAULT) != 0 &&
	    a == NULL) {
		xasprintf(cause, "app %s is no longer offered", req->app);
		return (NULL);
	}
	if (c == NULL || strcmp(c->name, req->cluster) != 0 ||
	    (q = config_queue_find(c, req->queue)) == NULL ||
	    (ct = config_container_find(c, req->container)) == NULL) {
		xasprintf(cause, "the request no longer matches cluster %s's "
		    "configuration", req->cluster);
		return (NULL);
	}
	if (!util_user_name_valid(req->user)) {
		xasprintf(cause, "'%s' is not a valid user name for a job",
		    req->user);
		return (NULL);
	}
	vars = template_vars_new();
	jr_vars_job(vars, req, c, q);
	jr_vars_run(vars, c, ct, env, req->gpus);
	jr_vars_app(vars, a, req);
	jr_vars_workdir(vars, c, req->user);
	return (vars);
}

/* The template file for req: the queue's, the cluster's, or the default. */
char *
jobreq_template_path(const struct jobreq *req, const struct config_cluster *c)
{
	const struct config_queue	*q = config_queue_find(c, req->queue);
	char				*path;

	if (q != NULL && q->template != NULL)
		return (xstrdup(q->template));
	if (c->template != NULL)
		return (xstrdup(c->template));
	xasprintf(&path, "%s/templates/%s.sh", PKGDATADIR,
	    config_scheduler_name(c->scheduler));
	return (path);
}

/* The request's app from the configuration; NULL for the built-in jupyter. */
const struct config_app *
jobreq_app(const struct config *cfg, const struct jobreq *req)
{
	if (req->app == NULL || strcmp(req->app, CONFIG_APP_DEFAULT) == 0)
		return (NULL);
	return (config_app_find(cfg, req->app));
}

/* A reloaded request's app and geometry, from the options it was made with. */
void
jobreq_app_from_options(struct jobreq *req, const char *options)
{
	json_t		*o = options != NULL ? json_loads(options, 0, NULL) : NULL;
	const char	*app = json_string_value(json_object_get(o, "app"));
	const char	*geo = json_string_value(json_object_get(o,
			    "desktop_geometry"));

	free(req->app);
	free(req->geometry);
	req->app = xstrdup(app != NULL && *app != '\0' ? app : CONFIG_APP_DEFAULT);
	req->geometry = xstrdup(geo != NULL ? geo : "");
	json_decref(o);
}

/*
 * The early end (sessions.walltime_signal): the job is asked to end itself
 * @early seconds before its @walltime does. "walltime_signal" is that many
 * seconds (SLURM's --signal), "walltime_soft" the walltime less them as
 * HH:MM:SS (Grid Engine's s_rt) and "walltime_soft_s" the same in seconds
 * (the agent's own timer, for PBS). All stay empty when it is off or the
 * walltime is not over twice the signal.
 */
void
jobreq_walltime_signal(struct template_vars *vars, int walltime, int early)
{
	int	soft = walltime - early;

	if (early <= 0 || walltime <= 2 * early)
		return;
	jr_setf(vars, "walltime_signal", "%d", early);
	jr_setf(vars, "walltime_soft", "%02d:%02d:%02d", soft / 3600,
	    soft / 60 % 60, soft % 60);
	jr_setf(vars, "walltime_soft_s", "%d", soft);
}
