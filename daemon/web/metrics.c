/*
 * metrics.c: what Prometheus scrapes at /hub/metrics (text format 0.0.4):
 * sessions by state, spawn duration and queue wait histograms, scheduler
 * command counts/latency/errors per cluster, tunnels, proxy traffic and
 * logins. Histograms are fed by watching session state changes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "daemon/web/web.h"

static const double metrics_bounds[] = { 1, 2, 5, 10, 20, 30, 60, 120, 300, 600,
    1800, 3600, 4 * 3600 };
#define METRICS_NB	(sizeof metrics_bounds / sizeof metrics_bounds[0])

struct histogram {
	unsigned long long	 bucket[METRICS_NB];	/* cumulative at render */
	unsigned long long	 count;
	double			 sum;
};

enum { SPAWN_OK, SPAWN_FAILED, SPAWN_NOUTCOMES };
static const char *metrics_outcomes[] = { "success", "failure" };
static struct histogram	 metrics_spawn[SPAWN_NOUTCOMES];
static struct histogram	 metrics_wait;
static unsigned long long metrics_ended;

static void
metrics_observe(struct histogram *h, double v)
{
	size_t	i;

	if (v < 0)
		v = 0;
	for (i = 0; i < METRICS_NB; i++) {
		if (v <= metrics_bounds[i]) {
			h->bucket[i]++;
			break;
		}
	}
	h->count++;
	h->sum += v;
}

/* A session changed: a first "running" or an "ended" feeds the histograms. */
static void
metrics_session(const struct session *s, void *arg)
{
	double	created, started, ready, ended;

	session_times(s, &created, &started, &ready, &ended);
	switch (session_state(s)) {
	case SESSION_RUNNING:
		if (ready > 0 && created > 0)
			metrics_observe(&metrics_spawn[SPAWN_OK], ready - created);
		if (started > 0 && created > 0)
			metrics_observe(&metrics_wait, started - created);
		break;
	case SESSION_ENDED:
		metrics_ended++;
		if (ready == 0 && created > 0 && ended > 0)
			metrics_observe(&metrics_spawn[SPAWN_FAILED], ended - created);
		break;
	default:
		break;
	}
}

void
metrics_init(void)
{
	session_watch(metrics_session, NULL);
}

void
metrics_shutdown(void)
{
	session_unwatch(metrics_session, NULL);
}

static void
metrics_histogram(struct evbuffer *b, const char *name, const char *labels,
    const struct histogram *h)
{
	unsigned long long	cum = 0;
	size_t			i;

	for (i = 0; i < METRICS_NB; i++) {
		cum += h->bucket[i];
		evbuffer_add_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
		    *labels != '\0' ? "," : "", metrics_bounds[i], cum);
	}
	evbuffer_add_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
	    *labels != '\0' ? "," : "", h->count);
	evbuffer_add_printf(b, "%s_sum{%s} %.3f\n%s_count{%s} %llu\n", name, labels,
	    h->sum, name, labels, h->count);
}

static void
metrics_cluster(const char *name, unsigned long long calls, unsigned long long errors,
    double seconds, size_t tracked, void *arg)
{
	struct evbuffer	*b = arg;

	evbuffer_add_printf(b, "nbgate_scheduler_commands_total{cluster=\"%s\"} %llu\n"
	    "nbgate_scheduler_command_errors_total{cluster=\"%s\"} %llu\n"
	    "nbgate_scheduler_command_seconds_total{cluster=\"%s\"} %.3f\n"
	    "nbgate_scheduler_jobs_tracked{cluster=\"%s\"} %zu\n",
	    name, calls, name, errors, name, seconds, name, tracked);
}

#define HELP(b, n, t, h) \
	evbuffer_add_printf((b), "# HELP %s %s\n# TYPE %s %s\n", (n), (h), (n), (t))

/* The attribution outbox (outbox.c). */
static void
metrics_outbox(struct evbuffer *b)
{
	const struct outbox_stats	*o = outbox_stats();

	HELP(b, "nbgate_outbox_pending", "gauge",
	    "Attribution records not yet delivered to accounting.endpoint.");
	evbuffer_add_printf(b, "nbgate_outbox_pending %llu\n", o->pending);
	HELP(b, "nbgate_outbox_delivered_total", "counter",
	    "Attribution records the endpoint accepted (2xx), all time.");
	evbuffer_add_printf(b, "nbgate_outbox_delivered_total %llu\n", o->delivered);
	HELP(b, "nbgate_outbox_rejected_total", "counter",
	    "Attribution records the endpoint refused for good (4xx), all time.");
	evbuffer_add_printf(b, "nbgate_outbox_rejected_total %llu\n", o->rejected);
	HELP(b, "nbgate_outbox_failed_attempts_total", "counter",
	    "Delivery attempts that failed and will be retried, since start.");
	evbuffer_add_printf(b, "nbgate_outbox_failed_attempts_total %llu\n", o->failures);
}

/* The agents' SSH server's limits (tunnel/sshd.c). */
static void
metrics_ssh(struct evbuffer *b)
{
	const struct sshd_stats	*s;

	if (gate->sshd == NULL)
		return;
	s = sshd_stats(gate->sshd);
	HELP(b, "nbgate_ssh_dropped_total", "counter",
	    "SSH connections to the agents' port dropped or refused by a limit, by reason.");
	evbuffer_add_printf(b, "nbgate_ssh_dropped_total{reason=\"per_address\"} %llu\n"
	    "nbgate_ssh_dropped_total{reason=\"unauthenticated\"} %llu\n"
	    "nbgate_ssh_dropped_total{reason=\"login_timeout\"} %llu\n"
	    "nbgate_ssh_dropped_total{reason=\"max_connections\"} %llu\n",
	    s->dropped_addr, s->dropped_pool, s->login_timeouts, s->refused_full);
}

/* What the agents report (tunnel protocol 4), and how long ago notebooks were used. */
static void
metrics_activity(struct evbuffer *b, const struct session_counts *sc)
{
	static const char	*const names[] = { "nbgate_kernels",
	    "nbgate_kernels_busy", "nbgate_sessions_reporting" };
	static const char	*const helps[] = {
	    "Kernels of running notebooks, as their agents last reported.",
	    "Of them, executing code.",
	    "Running notebooks whose agent reports activity (tunnel protocol 4)." };
	const unsigned long	 vals[] = { sc->kernels, sc->kernels_busy,
	    sc->reporting };
	const char		*age = "nbgate_session_last_activity_age_seconds";
	size_t			 i;

	for (i = 0; i < nitems(names); i++) {
		HELP(b, names[i], "gauge", helps[i]);
		evbuffer_add_printf(b, "%s %lu\n", names[i], vals[i]);
	}
	HELP(b, age, "histogram",
	    "Running notebooks by seconds since their last use (browser or notebook).");
	for (i = 0; i < SESSION_AGE_BUCKETS; i++) {
		if (session_age_bounds[i] < 0)
			evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %lu\n", age,
			    sc->by_age[i]);
		else
			evbuffer_add_printf(b, "%s_bucket{le=\"%d\"} %lu\n", age,
			    session_age_bounds[i], sc->by_age[i]);
	}
	evbuffer_add_printf(b, "%s_sum %lld\n%s_count %lu\n", age, sc->age_sum,
	    age, sc->by_age[SESSION_AGE_BUCKETS - 1]);
}

/* The whole exposition; the caller frees it. */
struct evbuffer *
metrics_render(void)
{
	struct evbuffer			*b = evbuffer_new();
	const struct session_counts	*sc = session_counts();
	const struct gate_stats		*st = &gate->stats;
	char				 labels[64];
	size_t				 i;

	HELP(b, "nbgate_up_seconds", "gauge", "Seconds since nbgated started.");
	evbuffer_add_printf(b, "nbgate_up_seconds %lld\n",
	    (long long)(time(NULL) - gate->started));
	HELP(b, "nbgate_sessions", "gauge", "Notebook sessions by state (ended: not counted).");
	for (i = 0; i < SESSION_NSTATES; i++) {
		if (i == SESSION_ENDED)
			continue;
		evbuffer_add_printf(b, "nbgate_sessions{state=\"%s\"} %lu\n",
		    session_state_name((enum session_state)i), sc->by_state[i]);
	}
	metrics_activity(b, sc);
	HELP(b, "nbgate_sessions_ended_total", "counter", "Sessions that ended since start.");
	evbuffer_add_printf(b, "nbgate_sessions_ended_total %llu\n", metrics_ended);
	HELP(b, "nbgate_spawn_duration_seconds", "histogram",
	    "From the request to the notebook answering (success) or to the end (failure).");
	for (i = 0; i < SPAWN_NOUTCOMES; i++) {
		snprintf(labels, sizeof labels, "outcome=\"%s\"", metrics_outcomes[i]);
		metrics_histogram(b, "nbgate_spawn_duration_seconds", labels,
		    &metrics_spawn[i]);
	}
	HELP(b, "nbgate_queue_wait_seconds", "histogram",
	    "From the request to the job starting on a node.");
	metrics_histogram(b, "nbgate_queue_wait_seconds", "", &metrics_wait);
	HELP(b, "nbgate_scheduler_commands_total", "counter", "Scheduler commands run.");
	HELP(b, "nbgate_scheduler_command_errors_total", "counter",
	    "Scheduler commands that could not run or timed out.");
	HELP(b, "nbgate_scheduler_command_seconds_total", "counter",
	    "Seconds spent in scheduler commands (divide by commands for the mean).");
	HELP(b, "nbgate_scheduler_jobs_tracked", "gauge", "Jobs followed, not yet ended.");
	session_cluster_stats(metrics_cluster, b);
	HELP(b, "nbgate_routes", "gauge", "Routes (/user/NAME/[SERVER/]).");
	evbuffer_add_printf(b, "nbgate_routes %zu\n", route_count());
	HELP(b, "nbgate_tunnels_connected", "gauge", "Routes whose agent is connected.");
	evbuffer_add_printf(b, "nbgate_tunnels_connected %zu\n", route_count_connected());
	HELP(b, "nbgate_proxy_requests_total", "counter", "Requests proxied to notebooks.");
	evbuffer_add_printf(b, "nbgate_proxy_requests_total %llu\n", st->requests);
	HELP(b, "nbgate_proxy_bytes_total", "counter", "Bytes proxied, by direction.");
	evbuffer_add_printf(b, "nbgate_proxy_bytes_total{direction=\"up\"} %llu\n"
	    "nbgate_proxy_bytes_total{direction=\"down\"} %llu\n", st->bytes_up,
	    st->bytes_down);
	HELP(b, "nbgate_proxy_upstream_streams_total", "counter",
	    "Streams to notebooks a request used: opened for it, or reused from the "
	    "route's pool of idle streams.");
	evbuffer_add_printf(b, "nbgate_proxy_upstream_streams_total{how=\"opened\"} %llu\n"
	    "nbgate_proxy_upstream_streams_total{how=\"reused\"} %llu\n", st->up_opened,
	    st->up_reused);
	HELP(b, "nbgate_tls_handshakes_total", "counter",
	    "Browser TLS handshakes completed: full, or resumed (ticket or session cache).");
	evbuffer_add_printf(b, "nbgate_tls_handshakes_total{kind=\"full\"} %llu\n"
	    "nbgate_tls_handshakes_total{kind=\"resumed\"} %llu\n", st->tls_full,
	    st->tls_resumed);
	HELP(b, "nbgate_proxy_refused_total", "counter", "Requests refused (401/403).");
	evbuffer_add_printf(b, "nbgate_proxy_refused_total %llu\n", st->refused);
	HELP(b, "nbgate_proxy_bad_requests_total", "counter", "Malformed requests (400).");
	evbuffer_add_printf(b, "nbgate_proxy_bad_requests_total %llu\n", st->bad_requests);
	HELP(b, "nbgate_websockets_active", "gauge", "WebSockets open now.");
	evbuffer_add_printf(b, "nbgate_websockets_active %lu\n", st->websockets);
	HELP(b, "nbgate_connections_active", "gauge", "Browser connections open now.");
	evbuffer_add_printf(b, "nbgate_connections_active %lu\n", st->conns);
	HELP(b, "nbgate_login_failures_total", "counter",
	    "Login links that were used, expired or wrong.");
	evbuffer_add_printf(b, "nbgate_login_failures_total %llu\n", st->login_failures);
	HELP(b, "nbgate_login_reserved_names_total", "counter",
	    "OpenID Connect sign-ins refused because the name is reserved "
	    "(root, system accounts, community accounts, administrators).");
	evbuffer_add_printf(b, "nbgate_login_reserved_names_total %llu\n",
	    st->login_reserved);
	HELP(b, "nbgate_credentials_total", "counter",
	    "X.509 credentials checked (uploaded or from MyProxy), by result.");
	evbuffer_add_printf(b, "nbgate_credentials_total{result=\"verified\"} %llu\n"
	    "nbgate_credentials_total{result=\"refused\"} %llu\n", st->cred_verified,
	    st->cred_refused);
	HELP(b, "nbgate_myproxy_refused_total", "counter",
	    "MyProxy logons refused before starting: too many in flight, or backoff after failures.");
	evbuffer_add_printf(b, "nbgate_myproxy_refused_total %llu\n", st->myproxy_busy);
	HELP(b, "nbgate_ssh_certificates_total", "counter",
	    "SSH user certificates signed to log in to clusters as users.");
	evbuffer_add_printf(b, "nbgate_ssh_certificates_total %llu\n", st->certs_minted);
	HELP(b, "nbgate_security_refused_total", "counter",
	    "Requests and connections refused by a security rule, by rule.");
	evbuffer_add_printf(b,
	    "nbgate_security_refused_total{rule=\"cross_origin\"} %llu\n"
	    "nbgate_security_refused_total{rule=\"xsrf\"} %llu\n"
	    "nbgate_security_refused_total{rule=\"deadline\"} %llu\n"
	    "nbgate_security_refused_total{rule=\"per_address\"} %llu\n"
	    "nbgate_security_refused_total{rule=\"h2_abuse\"} %llu\n",
	    st->cross_origin, st->xsrf_refused, st->deadline_drops, st->addr_refused,
	    st->h2_abuse);
	HELP(b, "nbgate_http2_connections_total", "counter",
	    "Browser connections that chose HTTP/2 (ALPN h2).");
	evbuffer_add_printf(b, "nbgate_http2_connections_total %llu\n", st->h2_conns);
	HELP(b, "nbgate_http2_streams_total", "counter", "Requests on HTTP/2 connections.");
	evbuffer_add_printf(b, "nbgate_http2_streams_total %llu\n", st->h2_streams);
	HELP(b, "nbgate_admin_access_total", "counter",
	    "Connections on which an administrator opened another user's notebook.");
	evbuffer_add_printf(b, "nbgate_admin_access_total %llu\n", st->admin_access);
	metrics_ssh(b);
	HELP(b, "nbgate_enrollments_total", "counter",
	    "Agent enrollments, by result (refused: wrong secret, job or node).");
	evbuffer_add_printf(b, "nbgate_enrollments_total{result=\"accepted\"} %llu\n"
	    "nbgate_enrollments_total{result=\"refused\"} %llu\n", st->enroll_accepted,
	    st->enroll_refused);
	HELP(b, "nbgate_enroll_conflicts_total", "counter",
	    "Security alerts: one enrollment secret used by two agents of the job "
	    "(the session was closed).");
	evbuffer_add_printf(b, "nbgate_enroll_conflicts_total %llu\n",
	    st->enroll_conflicts);
	metrics_outbox(b);
	return (b);
}
