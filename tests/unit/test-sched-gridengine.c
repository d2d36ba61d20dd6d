/*
 * test-sched-gridengine.c: the Grid Engine backend's argv builders and
 * parsers against output captured from Debian's gridengine 8.1.9
 * (tests/unit/data/sched/gridengine-*), and its state letters.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/backend.h"
#include "tests/unit/tap.h"

static const struct sched_ops *ge = &sched_gridengine_ops;

/* The captured jobs: running, held, in error; and ones qacct knows. */
#define RUNNING	"14"
#define HELD	"15"
#define FAILED	"16"

static char *
fixture(const char *name, size_t *len)
{
	char	rel[256];

	snprintf(rel, sizeof rel, "tests/unit/data/sched/%s", name);
	return (tap_fixture(rel, len));
}

/* The output of a command: stdout from a fixture (or ""), stderr as given. */
static char *
output(struct sched_output *o, int status, const char *file, const char *err)
{
	char	*buf;
	size_t	 len = 0;

	buf = file != NULL ? fixture(file, &len) : xstrdup("");
	o->status = status;
	o->out = buf;
	o->outlen = len;
	o->err = err;
	o->errlen = strlen(err);
	return (buf);
}

static struct sched_job *
jobs_new(const char *const *ids, size_t n)
{
	struct sched_job	*j = xcalloc(n, sizeof *j);
	size_t			 i;

	for (i = 0; i < n; i++)
		j[i].id = ids[i];
	return (j);
}

static void
jobs_free(struct sched_job *j, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		sched_status_clear(&j[i].st);
	free(j);
}

static void
test_map(void)
{
	static const struct { const char *w; enum sched_state s; } m[] = {
		{ "qw", SCHED_PENDING }, { "hqw", SCHED_PENDING },
		{ "Eqw", SCHED_PENDING }, { "hRwq", SCHED_PENDING },
		{ "r", SCHED_RUNNING }, { "t", SCHED_RUNNING },
		{ "Rr", SCHED_RUNNING }, { "s", SCHED_RUNNING },
		{ "S", SCHED_RUNNING }, { "T", SCHED_RUNNING },
		{ "dr", SCHED_RUNNING }, { "", SCHED_UNKNOWN },
		{ "x", SCHED_UNKNOWN }, { "r!", SCHED_UNKNOWN },
	};
	struct sched_status	st;
	size_t			i;

	memset(&st, 0, sizeof st);
	for (i = 0; i < nitems(m); i++) {
		sched_gridengine_map(m[i].w, &st);
		is_str(sched_state_name(st.state), sched_state_name(m[i].s),
		    "state letters '%s': %s", m[i].w, sched_state_name(m[i].s));
		is_str(st.raw, m[i].w, "state letters '%s' kept as raw", m[i].w);
	}
	sched_status_clear(&st);
	ok(sched_find("gridengine") == ge, "sched_find(\"gridengine\")");
}

static void
test_submit(void)
{
	struct sched_argv	 a = { NULL, 0 };
	struct sched_output	 o;
	char			*buf, *err, *id = NULL, *cause = NULL;
	size_t			 len;

	ok(ge->submit_argv(&a, NULL, &cause) == 0 && a.n == 2 &&
	    strcmp(a.v[0], "qsub") == 0 && strcmp(a.v[1], "-terse") == 0,
	    "submit: qsub -terse, the script on stdin");
	ok(!ge->submit_needs_file, "submit: no temporary file needed");
	sched_argv_clear(&a);
	buf = output(&o, 0, "gridengine-qsub.txt", "");
	ok(ge->submit_parse(&o, &id, &cause) == 0, "submit: parses qsub -terse");
	is_str(id, RUNNING, "submit: the job id");
	free(id);
	free(buf);
	err = fixture("gridengine-qsub-badqueue.err", &len);
	buf = output(&o, 1, NULL, err);
	id = NULL;
	ok(ge->submit_parse(&o, &id, &cause) == -1 && id == NULL, "submit: a refusal fails");
	is_str(cause, "Unable to run job: Job was rejected because job requests unknown queue "
	    "\"nosuch\"", "submit: in qsub's own words (its first line)");
	free(cause);
	free(buf);
	free(err);
	cause = NULL;
	buf = output(&o, 0, NULL, "");
	ok(ge->submit_parse(&o, &id, &cause) == -1, "submit: no id printed fails");
	free(cause);
	free(buf);
}

static void
test_query(void)
{
	static const char *const ids[] = { RUNNING, HELD, FAILED, "99999" };
	struct sched_argv	 a = { NULL, 0 };
	struct sched_output	 o;
	struct sched_job	*j = jobs_new(ids, nitems(ids));
	const char		*bad[] = { "1;rm" };
	char			*buf, *cause = NULL;

	ok(ge->query_argv(&a, ids, nitems(ids), &cause) == 0 && a.n == 5 &&
	    strcmp(a.v[0], "sh") == 0 && strstr(a.v[2], "qstat -xml -u") != NULL &&
	    strcmp(a.v[4], "reasons") == 0, "query: one qstat -xml for the account's jobs");
	ok(strstr(a.v[2], RUNNING) == NULL, "query: no job id in the script text");
	sched_argv_clear(&a);
	ok(ge->query_argv(&a, bad, 1, &cause) == -1, "query: a bad id is refused");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);

	buf = output(&o, 0, "gridengine-query.txt", "");
	ok(ge->query_parse(&o, j, nitems(ids), &cause) == 0, "query: parses");
	ok(j[0].found && j[0].st.state == SCHED_RUNNING, "query: running job r");
	is_str(j[0].st.node, "vm", "query: its host from queue@host");
	ok(j[0].st.start > 0, "query: its start time");
	ok(j[1].found && j[1].st.state == SCHED_PENDING, "query: held job pending");
	is_str(j[1].st.raw, "hqw", "query: held job's letters");
	is_str(j[1].st.reason, "Job is in hold state", "query: held: qstat -j's reason");
	ok(j[2].found && j[2].st.state == SCHED_PENDING, "query: Eqw job pending");
	is_str(j[2].st.raw, "Eqw", "query: Eqw letters");
	is_str(j[2].st.reason, "can't open output file \"/tmp/getry/nope.out\": "
	    "Permission denied", "query: Eqw: the error reason, not the scheduling info");
	ok(!j[3].found, "query: an unknown id is not found");
	ok(j[0].st.reason == NULL, "query: no reason asked for a running job");
	free(buf);
	buf = output(&o, 1, NULL, "error: commlib error: can't connect to service\n");
	ok(ge->query_parse(&o, j, nitems(ids), &cause) == -1, "query: qstat failing fails");
	has_str(cause, "can't connect", "query: qstat's words");
	free(cause);
	free(buf);
	jobs_free(j, nitems(ids));
}

static void
test_list(void)
{
	struct sched_argv	 a = { NULL, 0 };
	struct sched_output	 o;
	struct sched_listed	*l = NULL;
	char			*buf, *cause = NULL;
	size_t			 n = 0;

	ok(ge->list_argv(&a, "alice", &cause) == 0 && a.n == 5 &&
	    strcmp(a.v[4], "all") == 0, "list: qstat -xml, then qstat -j for every job");
	sched_argv_clear(&a);
	ok(ge->list_argv(&a, "a;b", &cause) == -1, "list: a bad user is refused");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);
	buf = output(&o, 0, "gridengine-list.txt", "");
	ok(ge->list_parse(&o, &l, &n, &cause) == 0 && n == 3, "list: three jobs");
	if (n == 3) {
		is_str(l[0].id, RUNNING, "list: running job first (queue_info)");
		is_str(l[0].comment, "nbgate:user=alice:session=7", "list: tag from -ac");
		is_str(l[0].user, "alice", "list: owner");
		is_str(l[0].name, "nbgate-alice", "list: name");
		ok(l[0].st.state == SCHED_RUNNING, "list: running");
		/* pending jobs come in priority order: FAILED, then HELD */
		is_str(l[2].id, HELD, "list: held job");
		is_str(l[2].comment, "nbgate:user=alice:session=8", "list: held job's tag");
		is_str(l[2].name, "nbgate-alice-two", "list: held job's name");
		ok(strcmp(l[1].id, FAILED) == 0 && l[1].st.state == SCHED_PENDING &&
		    l[1].comment != NULL, "list: Eqw job listed pending with its tag");
	}
	sched_listed_free(l, n);
	free(buf);
}

static void
test_history(void)
{
	static const char *const ids[] = { "2", "7", RUNNING, "99999" };
	struct sched_argv	 a = { NULL, 0 };
	struct sched_output	 o;
	struct sched_job	*j = jobs_new(ids, nitems(ids));
	const char		*bad[] = { "7$(x)" };
	char			*buf, *cause = NULL;

	ok(ge->history_argv(&a, ids, nitems(ids), &cause) == 0 && a.n == 8 &&
	    strcmp(a.v[4], "2") == 0 && strcmp(a.v[7], "99999") == 0,
	    "history: one command, the ids as arguments");
	sched_argv_clear(&a);
	ok(ge->history_argv(&a, bad, 1, &cause) == -1, "history: a bad id is refused");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);
	buf = output(&o, 0, "gridengine-qacct-history.txt", "");
	ok(ge->history_parse(&o, j, nitems(ids), &cause) == 0, "history: parses qacct -j");
	ok(j[0].found && j[0].st.state == SCHED_ENDED &&
	    j[0].st.end == SCHED_END_COMPLETED && j[0].st.exit_code == 0,
	    "history: exit 0 completed");
	is_str(j[0].st.node, "vm", "history: host");
	ok(j[1].found && j[1].st.end == SCHED_END_TIMEOUT, "history: failed 37 (h_rt) timeout");
	has_str(j[1].st.reason, "h_rt", "history: qacct's words for it");
	ok(j[2].found && j[2].st.end == SCHED_END_CANCELLED && j[2].st.signal == 9,
	    "history: qdel while running: cancelled, signal 9");
	ok(!j[3].found, "history: unknown to qacct: not found");
	free(buf);
	jobs_free(j, nitems(ids));
}

static void
test_queues(void)
{
	struct sched_argv	 a = { NULL, 0 };
	struct sched_output	 o;
	struct sched_queue	*q = NULL;
	char			*buf, *cause = NULL;
	size_t			 n = 0;

	ok(ge->queues_argv(&a, &cause) == 0 && a.n == 3 && strcmp(a.v[2], "c") == 0,
	    "queues: qstat -g c");
	sched_argv_clear(&a);
	buf = output(&o, 0, "gridengine-qstat-gc.txt", "");
	ok(ge->queues_parse(&o, &q, &n, &cause) == 0 && n == 2, "queues: two");
	if (n == 2) {
		is_str(q[1].name, "debug", "queues: name");
		is_int(q[1].cpus_idle, 6, "queues: free slots");
		is_int(q[1].cpus_total, 8, "queues: total slots");
		ok(q[0].available && q[1].available, "queues: both up");
	}
	sched_queues_free(q, n);
	free(buf);
	buf = output(&o, 0, "gridengine-qstat-gc-disabled.txt", "");
	ok(ge->queues_parse(&o, &q, &n, &cause) == 0 && n == 2 && !q[0].available &&
	    q[1].available, "queues: a disabled queue (cdsuE = total) is down");
	sched_queues_free(q, n);
	free(buf);
}

static void
test_misc(void)
{
	struct sched_argv	 a = { NULL, 0 };
	struct sched_output	 o;
	struct sched_used	*u = NULL;
	char			*buf, *cause = NULL, **v = NULL;
	size_t			 n = 0, i;
	long long		 slots = 0;

	buf = output(&o, 0, "gridengine-nodes.txt", "");
	ok(ge->nodes_parse(&o, &v, &n, &cause) == 0 && n == 1 && strcmp(v[0], "vm") == 0,
	    "nodes: the job's host, once");
	sched_strings_free(v, n);
	free(buf);
	ok(ge->cancel_argv(&a, RUNNING, &cause) == 0 && strcmp(a.v[0], "qdel") == 0,
	    "cancel: qdel");
	sched_argv_clear(&a);
	buf = output(&o, 1, "gridengine-qdel-unknown.out", "");
	ok(ge->cancel_parse(&o, "99999", &cause) == -1, "cancel: unknown job fails");
	has_str(cause, "does not exist", "cancel: qdel's words (on stdout)");
	free(cause);
	cause = NULL;
	free(buf);
	ok(ge->usage_argv(&a, "2026-12-07T03:00:00", &cause) == 0 && a.n == 4 &&
	    strcmp(a.v[3], "202612070300.00") == 0, "usage: qacct -j -b CCYYMMDDhhmm.SS");
	sched_argv_clear(&a);
	ok(ge->usage_argv(&a, "yesterday", &cause) == -1, "usage: a bad time is refused");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);
	buf = output(&o, 0, "gridengine-qacct-usage.txt", "");
	ok(ge->usage_parse(&o, &u, &n, &cause) == 0 && n == 7, "usage: seven jobs");
	for (i = 0; i < n; i++) {
		slots += u[i].cpus;
		if (strcmp(u[i].id, "2") == 0)
			ok(u[i].cpus == 2 && u[i].secs == 20 && strcmp(u[i].user, "alice") == 0 &&
			    strcmp(u[i].account, "sge") == 0 && strcmp(u[i].comment, "") == 0,
			    "usage: job 2: 2 slots, 20 s, owner, account, no comment");
	}
	is_int(slots, 20, "usage: slots of each job (one had 8)");
	sched_used_free(u, n);
	free(buf);
}

int
main(void)
{
	log_init("test-sched-gridengine", LOG_WARN);
	test_map();
	test_submit();
	test_query();
	test_list();
	test_history();
	test_queues();
	test_misc();
	return (tap_done());
}
