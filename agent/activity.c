/*
 * activity.c: what the notebook and the job are doing, for the gateway's
 * idle culler (tunnel/PROTOCOL section 9): asks the notebook server's
 * /api/kernels (often, to catch a kernel turning busy), /api/terminals and
 * /api/status, sums the CPU time of the agent's child processes (/proc), and
 * hands a report line to the agent every interval and on each busy change;
 * for a remote desktop, the bytes its bridge relays stand for the kernels.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

#include "common/common.h"
#include "agent/agent.h"

#define ACT_BODY_MAX	(1024 * 1024)	/* bytes of one answer */
#define ACT_GET_TIMEOUT	10		/* seconds for one request */
#define ACT_CPU_BUSY	10		/* % of one CPU over an interval: in use */
#define ACT_MAX_PIDS	65536		/* processes looked at in /proc */

/* The requests of one round, in order; a short round asks only the first. */
static const char *const act_paths[] = { "api/kernels", "api/terminals",
    "api/status" };
#define ACT_NPATHS	(sizeof act_paths / sizeof act_paths[0])

struct actpoll {
	struct event_base	*base;
	struct notebook		*nb;
	const struct notebook_config *cfg;
	int			 interval;	/* s between full reports */
	actpoll_cb		 cb;
	void			*arg;
	struct event		*timer;
	struct bufferevent	*bev;		/* the request in flight */
	size_t			 step;		/* index into act_paths */
	int			 full;		/* this round asks all three */
	struct timespec		 last_full;
	struct activity		 a;		/* being gathered */
	time_t			 last;		/* latest sign of activity */
	long long		 busy;		/* busy kernels, last seen */
	long long		 cpu_prev;	/* ms, at the last full round */
	struct timespec		 cpu_when;
};

/* "2026-12-07T01:40:00.123456Z" or with "+HH:MM": seconds since the epoch; 0 bad. */
time_t
actpoll_time(const char *s)
{
	struct tm	 tm;
	int		 n = 0, oh, om;
	const char	*p;
	time_t		 t;

	memset(&tm, 0, sizeof tm);
	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return (0);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return (0);
	p = s + n;
	if (*p == '.')
		p += 1 + strspn(p + 1, "0123456789");
	if ((t = timegm(&tm)) == (time_t)-1)
		return (0);
	if (strcmp(p, "Z") == 0 || *p == '\0')
		return (t);
	if ((*p != '+' && *p != '-') || sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 ||
	    strlen(p) != 6 || oh > 23 || om > 59)
		return (0);
	return (*p == '+' ? t - (oh * 3600 + om * 60) : t + (oh * 3600 + om * 60));
}

/* Count, and latest last_activity, of a JSON list of objects. */
static int
act_list(const char *body, size_t len, long long *n, long long *busy, time_t *last)
{
	json_t		*j, *o;
	size_t		 i;
	time_t		 t;
	const char	*st;

	if ((j = json_loadb(body, len, 0, NULL)) == NULL)
		return (-1);
	if (!json_is_array(j)) {
		json_decref(j);
		return (-1);
	}
	*n = 0;
	if (busy != NULL)
		*busy = 0;
	json_array_foreach(j, i, o) {
		if (!json_is_object(o))
			continue;
		(*n)++;
		t = actpoll_time(json_string_value(json_object_get(o,
		    "last_activity")));
		if (t > *last)
			*last = t;
		st = json_string_value(json_object_get(o, "execution_state"));
		if (busy != NULL && st != NULL && strcmp(st, "busy") == 0)
			(*busy)++;
	}
	json_decref(j);
	return (0);
}

/*
 * /api/kernels: kernels, busy ones, and the latest last_activity (moved
 * forward into *last); 0, or -1 if it is not a list.
 */
int
actpoll_kernels(const char *body, size_t len, long long *n, long long *busy,
    time_t *last)
{
	return (act_list(body, len, n, busy, last));
}

/* /api/terminals: how many, and their latest last_activity into *last. */
int
actpoll_terminals(const char *body, size_t len, long long *n, time_t *last)
{
	return (act_list(body, len, n, NULL, last));
}

/* Utime+stime (ticks) and parent of /proc/PID/stat; -1 if unreadable. */
static int
act_stat(const char *pid, pid_t *ppid, unsigned long long *ticks)
{
	char			 path[64], buf[1024], *p;
	FILE			*f;
	size_t			 n;
	unsigned long long	 ut, st;

	snprintf(path, sizeof path, "/proc/%s/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold anything: fields start after its last ')' */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1,
	    " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", ppid, &ut,
	    &st) != 3)
		return (-1);
	*ticks = ut + st;
	return (0);
}

struct act_proc {
	pid_t			 pid, ppid;
	unsigned long long	 ticks;
};

static int
act_proc_cmp(const void *a, const void *b)
{
	pid_t	x = ((const struct act_proc *)a)->pid;
	pid_t	y = ((const struct act_proc *)b)->pid;

	return (x < y ? -1 : x > y);
}

/* Is @p a descendant of @root?  Walks up its parents (sorted by pid). */
static int
act_descends(const struct act_proc *all, size_t n, const struct act_proc *p,
    pid_t root)
{
	struct act_proc	 key;
	int		 depth;

	for (depth = 0; depth < 256 && p != NULL && p->ppid > 1; depth++) {
		if (p->ppid == root)
			return (1);
		key.pid = p->ppid;
		p = bsearch(&key, all, n, sizeof *all, act_proc_cmp);
	}
	return (0);
}

/*
 * CPU time (ms) of our descendants now alive: the notebook, its kernels and
 * whatever they run.  Processes that ended take theirs with them, so the
 * sum can drop; only growth counts.
 */
long long
actpoll_cpu_ms(pid_t root)
{
	DIR			*d;
	struct dirent		*e;
	struct act_proc		*all;
	unsigned long long	 total = 0;
	size_t			 n = 0, i;
	long			 hz = sysconf(_SC_CLK_TCK);

	if ((d = opendir("/proc")) == NULL)
		return (-1);
	all = xcalloc(ACT_MAX_PIDS, sizeof *all);
	while (n < ACT_MAX_PIDS && (e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]) ||
		    act_stat(e->d_name, &all[n].ppid, &all[n].ticks) != 0)
			continue;
		all[n++].pid = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	qsort(all, n, sizeof *all, act_proc_cmp);
	for (i = 0; i < n; i++) {
		if (act_descends(all, n, &all[i], root))
			total += all[i].ticks;
	}
	free(all);
	return (hz > 0 ? (long long)(total * 1000 / (unsigned long long)hz) : 0);
}

static double
act_since(const struct timespec *t0)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9);
}

static void	act_get(struct actpoll *);

/* Arms the next round: a short one every few seconds. */
static void
act_schedule(struct actpoll *ap)
{
	struct timeval	tv = { AGENT_BUSY_POLL, 0 };

	if (tv.tv_sec > ap->interval)
		tv.tv_sec = ap->interval;
	evtimer_add(ap->timer, &tv);
}

/* The end of a full round: CPU, then the report. */
static void
act_report(struct actpoll *ap)
{
	long long	 cpu = actpoll_cpu_ms(getpid());
	double		 dt = act_since(&ap->cpu_when);
	time_t		 now = time(NULL);
	char		*line;

	if (cpu >= 0) {
		if (ap->cpu_when.tv_sec != 0 && dt > 0 && cpu > ap->cpu_prev &&
		    (double)(cpu - ap->cpu_prev) >= dt * 10.0 * ACT_CPU_BUSY)
			ap->last = now;	/* ms per s, as a percentage of one CPU */
		ap->cpu_prev = cpu;
		clock_gettime(CLOCK_MONOTONIC, &ap->cpu_when);
		ap->a.cpu_ms = cpu;
	}
	if (ap->a.busy > 0)
		ap->last = now;
	ap->a.idle = ap->last > 0 ? (now > ap->last ? now - ap->last : 0) : -1;
	line = activity_encode(&ap->a);
	if (ap->cb(line, ap->arg) != 0)
		ap->last_full.tv_sec = 0;	/* not sent: again at the next look */
	free(line);
}

/* One answer: a status line of 200 and a body, else the round ends. */
static void
act_answer(struct actpoll *ap, struct evbuffer *in)
{
	size_t			 len = evbuffer_get_length(in);
	char			*all, *body;
	struct evbuffer_ptr	 p;
	long long		 n, busy;
	json_t			*j;
	int			 ok = -1;

	p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	all = xmalloc(len + 1);
	evbuffer_remove(in, all, len);
	all[len] = '\0';
	if (p.pos < 0 || strncmp(all, "HTTP/1.", 7) != 0 || strncmp(all + 8,
	    " 200 ", 5) != 0)
		goto out;
	body = all + p.pos + 4;
	len -= (size_t)p.pos + 4;
	switch (ap->step) {
	case 0:
		if ((ok = actpoll_kernels(body, len, &n, &busy, &ap->last)) != 0)
			break;
		ap->a.kernels = n;
		ap->a.busy = busy;
		if (busy != ap->busy)	/* a kernel turned busy, or all idle */
			ap->full = 1;
		ap->busy = busy;
		break;
	case 1:
		ok = actpoll_terminals(body, len, &ap->a.terminals, &ap->last);
		break;
	case 2:
		if ((j = json_loadb(body, len, 0, NULL)) != NULL) {
			ap->a.connections = json_integer_value(json_object_get(j,
			    "connections"));
			json_decref(j);
			ok = 0;
		}
		break;
	}
out:
	if (ok != 0)
		log_debug("agent: route %s: activity: %s: no answer", ap->cfg->route,
		    act_paths[ap->step]);
	free(all);
	bufferevent_free(ap->bev);
	ap->bev = NULL;
	if (ok == 0 && ap->full && ++ap->step < ACT_NPATHS) {
		act_get(ap);
		return;
	}
	if (ok == 0 && ap->full) {
		clock_gettime(CLOCK_MONOTONIC, &ap->last_full);
		act_report(ap);
	}
	act_schedule(ap);
}

static void
act_event(struct bufferevent *bev, short what, void *arg)
{
	struct actpoll	*ap = arg;

	if (what & BEV_EVENT_EOF)
		act_answer(ap, bufferevent_get_input(bev));
	else if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		evbuffer_drain(bufferevent_get_input(bev), (size_t)-1);
		act_answer(ap, bufferevent_get_input(bev));
	}
}

static void
act_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer	*in = bufferevent_get_input(bev);

	if (evbuffer_get_length(in) > ACT_BODY_MAX) {
		evbuffer_drain(in, (size_t)-1);
		act_answer(arg, in);
	}
}

/* One GET, HTTP/1.0 (no chunks), read to the server's close. */
static void
act_get(struct actpoll *ap)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = notebook_addr(ap->nb, &ss);
	struct timeval		 tv = { ACT_GET_TIMEOUT, 0 };

	if ((ap->bev = bufferevent_socket_new(ap->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_setcb(ap->bev, act_read, NULL, act_event, ap);
	bufferevent_set_timeouts(ap->bev, &tv, &tv);
	/* no_track_activity: our asking is not the user's activity */
	evbuffer_add_printf(bufferevent_get_output(ap->bev),
	    "GET %s%s?no_track_activity=1 HTTP/1.0\r\nHost: localhost\r\n"
	    "Authorization: token %s\r\n\r\n", ap->cfg->base_url,
	    act_paths[ap->step], notebook_token(ap->nb));
	bufferevent_enable(ap->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(ap->bev, (struct sockaddr *)&ss, len) != 0) {
		bufferevent_free(ap->bev);
		ap->bev = NULL;
		act_schedule(ap);
	}
}

/*
 * A desktop has no server to ask: its activity is the RFB bytes its bridge
 * relays either way (keys, pointer, screen updates) and the CPU its
 * processes use; kernels, busy and terminals stay 0.
 */
static void
act_desktop(struct actpoll *ap, int full)
{
	time_t	t = notebook_traffic(ap->nb);

	if (t > ap->last)
		ap->last = t;
	if (full) {
		clock_gettime(CLOCK_MONOTONIC, &ap->last_full);
		act_report(ap);
	}
	act_schedule(ap);
}

static void
act_tick(evutil_socket_t fd, short what, void *arg)
{
	struct actpoll	*ap = arg;

	if (ap->bev != NULL)
		return;
	ap->step = 0;
	ap->full = ap->last_full.tv_sec == 0 ||
	    act_since(&ap->last_full) >= ap->interval - 0.5;
	if (ap->cfg->app == APP_DESKTOP)
		act_desktop(ap, ap->full);
	else
		act_get(ap);
}

/* Starts watching a notebook that answers; reports go to @cb. */
struct actpoll *
actpoll_new(struct event_base *base, struct notebook *nb,
    const struct notebook_config *cfg, int interval, actpoll_cb cb, void *arg)
{
	struct actpoll	*ap = xmalloc(sizeof *ap);
	struct timeval	 tv = { 1, 0 };

	*ap = (struct actpoll){ .base = base, .nb = nb, .cfg = cfg, .interval =
	    interval, .cb = cb, .arg = arg };
	ap->timer = evtimer_new(base, act_tick, ap);
	evtimer_add(ap->timer, &tv);
	return (ap);
}

void
actpoll_free(struct actpoll *ap)
{
	if (ap == NULL)
		return;
	if (ap->bev != NULL)
		bufferevent_free(ap->bev);
	event_free(ap->timer);
	free(ap);
}
