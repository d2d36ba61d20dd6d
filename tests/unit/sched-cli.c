/*
 * sched-cli.c: drives scheduler/ (transports, backends, tracker) from the
 * command line in its own event loop and prints one JSON object per line,
 * so that tests/integration/test_sched.py can run the real library against
 * the real SLURM and PBS command line.
 *
 *   sched-cli [-b slurm|pbs|gridengine] [-c SLURM_CONF] [-e NAME=VALUE]... [-w WORKDIR] [-t CMD_MS]
 *             [-i POLL_MS] [-f FAST_MS] [-T SECONDS]
 *             [-s HOST:PORT -u USER -k KEY -H 'HOSTKEY LINE'] [-S]
 *             submit FILE... | serial FILE... | run FILE... | track ID... | cancel ID |
 *             query ID... | queues | accounts USER | list [USER] |
 *             token USER JWT_KEY_FILE LIFETIME_S (prints a slurmrestd token, nothing else)
 *
 * -R URL -K JWT_KEY -u USER: slurmrestd (backend slurm-rest, OpenAPI v0.0.38) through
 * nbgated's own HTTP client (daemon/sess/session-rest.c), tokens minted with the key.
 * -S: the slurm-lib backend's commands go to one long-lived helper ("serve"),
 * as nbgated runs it; "done" then says how many helper processes were started.
 */
#include "config.h"

#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/common.h"
#include "daemon/core/core.h"
#include "daemon/sess/session-int.h"
#include "scheduler/backend.h"

static struct event_base	*base;
static struct sched		*sched;
static struct transport		*tr;
static struct sched_tracker	*tracker;
static int			 outstanding;
static double			 t0;
static char			**files;
static int			 nfiles;

static double
elapsed(void)
{
	struct timeval	tv;

	gettimeofday(&tv, NULL);
	return (tv.tv_sec + tv.tv_usec / 1e6 - t0);
}

static void
emit(json_t *o)
{
	char	*s;

	json_object_set_new(o, "t", json_real(elapsed()));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

static json_t *
status_json(const struct sched_status *st)
{
	return (json_pack("{s:s, s:s, s:i, s:i, s:s?, s:s?, s:s?, s:I}",
	    "state", sched_state_name(st->state), "end", sched_end_name(st->end),
	    "exit", st->exit_code, "signal", st->signal, "reason", st->reason,
	    "node", st->node, "raw", st->raw, "start", (json_int_t)st->start));
}

static void
one_done(void)
{
	if (--outstanding == 0 && (tracker == NULL || sched_tracker_active(tracker) == 0))
		event_base_loopexit(base, NULL);
}

static void
change_cb(const char *id, const struct sched_status *old, const struct sched_status *st,
    void *arg)
{
	json_t	*o = json_pack("{s:s, s:s, s:s, s:o}", "event", "change", "id", id,
	    "old", sched_state_name(old->state), "status", status_json(st));

	emit(o);
	if (sched_tracker_active(tracker) == 0)
		event_base_loopexit(base, NULL);
}

static void
submit_cb(const char *id, const char *cause, void *arg)
{
	const char	*file = arg;
	char		*tcause = NULL;

	if (id != NULL) {
		emit(json_pack("{s:s, s:s, s:s}", "event", "submitted", "file", file, "id", id));
		if (tracker != NULL && sched_tracker_add(tracker, id, &tcause) == -1) {
			emit(json_pack("{s:s, s:s}", "event", "error", "cause", tcause));
			free(tcause);
		}
	} else
		emit(json_pack("{s:s, s:s, s:s}", "event", "submit_failed", "file", file,
		    "cause", cause));
	one_done();
}

static void
cancel_cb(const char *cause, void *arg)
{
	emit(json_pack("{s:s, s:s?}", "event", cause == NULL ? "cancelled" : "cancel_failed",
	    "cause", cause));
	one_done();
}

static void
query_cb(struct sched_job *jobs, size_t n, const char *cause, void *arg)
{
	json_t	*o = json_object();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_object_set_new(o, jobs[i].id, status_json(&jobs[i].st));
	emit(json_pack("{s:s, s:s?, s:o}", "event", "query", "cause", cause, "jobs", o));
	one_done();
}

static void
queues_cb(const struct sched_queue *q, size_t n, const char *cause, void *arg)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:b, s:b, s:i, s:i}", "name",
		    q[i].name, "up", q[i].available, "default", q[i].is_default,
		    "max_walltime", q[i].max_walltime, "cpus", q[i].cpus_total));
	emit(json_pack("{s:s, s:s?, s:o}", "event", "queues", "cause", cause, "queues", a));
	one_done();
}

static void
accounts_cb(char *const *v, size_t n, const char *cause, void *arg)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	emit(json_pack("{s:s, s:s?, s:o}", "event", "accounts", "cause", cause, "accounts", a));
	one_done();
}

/* One {"event": "listed"} object per job, then {"event": "list"} with the count or cause. */
static void
list_cb(const struct sched_listed *l, size_t n, const char *cause, void *arg)
{
	size_t	i;

	for (i = 0; i < n; i++)
		emit(json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:o}", "event", "listed",
		    "id", l[i].id, "name", l[i].name, "comment", l[i].comment, "user", l[i].user,
		    "status", status_json(&l[i].st)));
	emit(json_pack("{s:s, s:s?, s:I}", "event", "list", "cause", cause, "count",
	    (json_int_t)n));
	one_done();
}

static char *
slurp(const char *path, size_t *len)
{
	FILE	*f;
	char	*buf;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL)
		fatal("%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc(n + 1);
	*len = fread(buf, 1, n, f);
	fclose(f);
	return (buf);
}

static void
submit_all(void)
{
	char	*script;
	size_t	 len;
	int	 i;

	for (i = 0; i < nfiles; i++) {
		script = slurp(files[i], &len);
		outstanding++;
		sched_submit(sched, script, len, submit_cb, files[i]);
		free(script);
	}
}

/* serial: one submit at a time, each with the seconds it took ("took"), for benchmarks. */
static int	serial_i;
static double	serial_t;

static void	serial_submit(void);

static void
serial_cb(const char *id, const char *cause, void *arg)
{
	json_t	*o;

	if (id != NULL)
		o = json_pack("{s:s, s:s, s:s}", "event", "submitted", "file", files[serial_i], "id", id);
	else
		o = json_pack("{s:s, s:s, s:s}", "event", "submit_failed", "file", files[serial_i],
		    "cause", cause);
	json_object_set_new(o, "took", json_real(elapsed() - serial_t));
	emit(o);
	if (++serial_i < nfiles)
		serial_submit();
	else
		one_done();
}

static void
serial_submit(void)
{
	char	*script;
	size_t	 len;

	script = slurp(files[serial_i], &len);
	serial_t = elapsed();
	sched_submit(sched, script, len, serial_cb, NULL);
	free(script);
}

static void
deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	emit(json_pack("{s:s}", "event", "deadline"));
	event_base_loopexit(base, NULL);
}

/* token: slurmjwt.c's token for @user with the key in @file. */
static int
print_token(const char *user, const char *file, int lifetime)
{
	char	*key, *tok, *cause = NULL;
	size_t	 len;

	key = slurp(file, &len);
	if ((tok = slurmjwt_token((unsigned char *)key, len, user, time(NULL), lifetime,
	    &cause)) == NULL)
		fatalx("%s", cause);
	printf("%s\n", tok);
	freezero(key, len);
	freezero(tok, strlen(tok));
	return (0);
}

static __dead void
usage(void)
{
	fprintf(stderr, "usage: sched-cli [-b backend] [-c slurm.conf] [-w dir] [-t ms] "
	    "[-i ms] [-f ms] [-T s] [-s host:port -u user -k key -H hostkey] [-S] "
	    "[-R url -K jwt_key -u user] command ...\n");
	exit(2);
}

static void
finish(void)
{
	json_t	*o = json_pack("{s:s, s:I}", "event", "done",
	    "calls", (json_int_t)sched_calls(sched));

	json_object_set_new(o, "helpers", json_integer(transport_helper_started(tr)));
	if (tracker != NULL) {
		json_object_set_new(o, "polls", json_integer(sched_tracker_polls(tracker)));
		json_object_set_new(o, "active", json_integer(sched_tracker_active(tracker)));
	}
	emit(o);
}

int
main(int argc, char **argv)
{
	struct transport_config	 cfg;
	struct config_cluster	 rc;
	struct sess_rest	*rest = NULL;
	const struct sched_ops	*ops;
	const char		*backend = "slurm", *cmd;
	char			*cause = NULL, *host = NULL;
	const char		*envs[16];
	struct timeval		 tv = { 0, 0 };
	struct event		*ev_deadline;
	int			 c, i, interval = 1000, fast = 500, timeout = 15000, total = 120;

	memset(&cfg, 0, sizeof cfg);
	memset(&rc, 0, sizeof rc);
	cfg.kind = TRANSPORT_LOCAL;
	cfg.name = "cli";
	cfg.env = envs;
	while ((c = getopt(argc, argv, "b:c:e:f:H:i:k:K:R:s:St:T:u:w:")) != -1) {
		switch (c) {
		case 'b': backend = optarg; break;
		case 'e':
			if (cfg.nenv == nitems(envs))
				fatalx("too many -e");
			envs[cfg.nenv++] = optarg;
			break;
		case 'c': cfg.slurm_conf = optarg; break;
		case 'w': cfg.workdir = optarg; break;
		case 'i': interval = atoi(optarg); break;
		case 'f': fast = atoi(optarg); break;
		case 't': timeout = atoi(optarg); break;
		case 'T': total = atoi(optarg); break;
		case 'u': cfg.user = optarg; break;
		case 'k': cfg.key_file = optarg; break;
		case 'H': cfg.hostkey = optarg; break;
		case 'S': cfg.helper = sched_slurmlib_path(); break;
		case 'R': rc.slurmrestd_url = optarg; cfg.kind = TRANSPORT_HTTP; break;
		case 'K': rc.slurmrestd_jwt_key = optarg; break;
		case 's':
			cfg.kind = TRANSPORT_SSH;
			if (util_parse_hostport(optarg, &host, &cfg.port, &cause) == -1)
				fatalx("%s", cause);
			cfg.host = host;
			break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	log_init("sched-cli", getenv("NB_DEBUG") != NULL ? LOG_DEBUG : LOG_WARN);
	if (strcmp(argv[0], "token") == 0 && argc == 4)
		return (print_token(argv[1], argv[2], atoi(argv[3])));
	t0 = elapsed();
	base = util_event_base_new();
	if ((ops = sched_find(backend)) == NULL)
		fatalx("no backend %s", backend);
	if (cfg.kind == TRANSPORT_HTTP) {
		rc.name = (char *)"cli";
		rc.slurmrestd_api = (char *)"v0.0.38";
		rc.login_user = (char *)cfg.user;
		cfg.user = NULL;
		if (httpc_init(base, &cause) == -1 || (rest = sess_rest_new(&rc, &cause)) == NULL)
			fatalx("%s", cause);
		cfg.http = sess_rest_http(rest);
	}
	if ((tr = transport_new(base, &cfg, &cause)) == NULL)
		fatalx("%s", cause);
	sched = sched_new(base, ops, tr, "cli");
	sched_set_timeout(sched, timeout);
	cmd = argv[0];
	files = argv + 1;
	nfiles = argc - 1;
	if (strcmp(cmd, "run") == 0 || strcmp(cmd, "track") == 0)
		tracker = sched_tracker_new(sched, interval, fast, change_cb, NULL);
	if (strcmp(cmd, "submit") == 0 || strcmp(cmd, "run") == 0)
		submit_all();
	else if (strcmp(cmd, "serial") == 0 && argc >= 2) {
		outstanding++;
		serial_submit();
	}
	else if (strcmp(cmd, "track") == 0) {
		for (i = 1; i < argc; i++) {
			if (sched_tracker_add(tracker, argv[i], &cause) == -1)
				fatalx("%s: %s", argv[i], cause);
		}
	} else if (strcmp(cmd, "cancel") == 0 && argc == 2) {
		outstanding++;
		sched_cancel(sched, argv[1], cancel_cb, NULL);
	} else if (strcmp(cmd, "query") == 0 && argc >= 2) {
		outstanding++;
		sched_query(sched, (const char *const *)argv + 1, argc - 1, query_cb, NULL);
	} else if (strcmp(cmd, "queues") == 0) {
		outstanding++;
		sched_queues(sched, queues_cb, NULL);
	} else if (strcmp(cmd, "accounts") == 0 && argc == 2) {
		outstanding++;
		sched_accounts(sched, argv[1], accounts_cb, NULL);
	} else if (strcmp(cmd, "list") == 0 && argc <= 2) {
		outstanding++;
		sched_list(sched, argc == 2 ? argv[1] : NULL, list_cb, NULL);
	} else
		usage();
	tv.tv_sec = total;
	ev_deadline = evtimer_new(base, deadline_cb, NULL);
	evtimer_add(ev_deadline, &tv);
	event_base_dispatch(base);
	finish();
	event_free(ev_deadline);
	sched_tracker_free(tracker);
	sched_free(sched);
	transport_free(tr);
	sess_rest_free(rest);
	if (rest != NULL)
		httpc_shutdown();
	event_base_free(base);
	free(host);
	free(cause);
	return (0);
}
