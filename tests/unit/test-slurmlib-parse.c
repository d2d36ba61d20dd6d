/*
 * test-slurmlib-parse.c: the slurm-lib backend (sched-slurmlib.c): argv builders
 * and parsers of nbgate-slurmlib's JSON lines. The #SBATCH parser lives in the
 * helper itself and is tested through it by tests/integration/test_slurmlib.py.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/backend.h"
#include "tests/unit/sched-fixture.h"
#include "tests/unit/tap.h"

static const struct sched_ops *ops;

static void
jobs_free(struct sched_job *j, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		sched_status_clear(&j[i].st);
	free(j);
}

static struct sched_job *
jobs_new(const char *const *ids, size_t n)
{
	struct sched_job	*j = xcalloc(n, sizeof *j);
	size_t			 i;

	for (i = 0; i < n; i++) {
		j[i].id = ids[i];
		sched_status_clear(&j[i].st);
	}
	return (j);
}

static void
test_argv(void)
{
	struct sched_argv	 a = { NULL, 0 };
	const char		*ids[] = { "12", "13", "14" }, *bad[] = { "12", "1;rm" };
	const char		*uid[] = { "12.server" };
	char			*cause = NULL;

	setenv("NBGATE_SLURMLIB", "/opt/x/nbgate-slurmlib", 1);
	ok(ops->query_argv(&a, ids, 3, &cause) == 0 && a.n == 3, "query argv: 3 words");
	is_str(a.v[0], "/opt/x/nbgate-slurmlib", "NBGATE_SLURMLIB overrides the path");
	is_str(a.v[1], "query", "query subcommand");
	is_str(a.v[2], "12,13,14", "three ids, one command");
	sched_argv_clear(&a);
	ok(ops->query_argv(&a, bad, 2, &cause) == -1, "hostile id refused");
	has_str(cause, "invalid job id", "cause says so");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);
	ok(ops->query_argv(&a, uid, 1, &cause) == -1, "non-numeric id refused (libslurm wants numbers)");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);
	ok(ops->cancel_argv(&a, "77", &cause) == 0 && a.n == 3 &&
	    strcmp(a.v[1], "cancel") == 0 && strcmp(a.v[2], "77") == 0, "cancel argv");
	sched_argv_clear(&a);
	ok(ops->submit_argv(&a, NULL, &cause) == 0 && a.n == 2 &&
	    strcmp(a.v[1], "submit") == 0, "submit argv: script on stdin");
	ok(!ops->submit_needs_file, "no temp file needed");
	sched_argv_clear(&a);
	ok(ops->history_argv(&a, ids, 3, &cause) == 0 && strcmp(a.v[0], "sacct") == 0,
	    "history: the CLI backend's sacct");
	sched_argv_clear(&a);
	unsetenv("NBGATE_SLURMLIB");
	ok(ops->queues_argv(&a, &cause) == 0 && a.n == 2, "queues argv");
	ok(strstr(a.v[0], "/nbgate-slurmlib") != NULL && a.v[0][0] == '/',
	    "default path is absolute: %s", a.v[0]);
	sched_argv_clear(&a);
}

static void
test_submit(void)
{
	struct sched_output	 o;
	char			*id = NULL, *cause = NULL;

	output(&o, 0, "{\"id\":4242}\n", "");
	ok(ops->submit_parse(&o, &id, &cause) == 0, "submit parsed");
	is_str(id, "4242", "job id");
	free(id);
	id = NULL;
	output(&o, 1, "{\"error\":\"Invalid account or account/partition combination "
	    "specified\"}\n", "slurm_submit: noise\n");
	ok(ops->submit_parse(&o, &id, &cause) == -1, "submit error");
	is_str(cause, "Invalid account or account/partition combination specified",
	    "cause is the helper's JSON error, not stderr");
	free(cause);
	cause = NULL;
	output(&o, 1, "", "slurm_init: fatal: something\n");
	ok(ops->submit_parse(&o, &id, &cause) == -1, "no JSON: failure");
	is_str(cause, "slurm_init: fatal: something", "cause falls back to stderr");
	free(cause);
	cause = NULL;
	output(&o, 139, "", "");
	ok(ops->submit_parse(&o, &id, &cause) == -1, "crash: failure");
	has_str(cause, "exit status 139", "cause has the status");
	free(cause);
	cause = NULL;
	output(&o, 0, "garbage\n{\"id\":\"x\"}\n", "");
	ok(ops->submit_parse(&o, &id, &cause) == -1, "no valid id: failure");
	free(cause);
}

static void
test_query(void)
{
	const char *ids[] = { "10", "11", "12", "13", "14" };
	struct sched_job	*j = jobs_new(ids, 5);
	struct sched_output	 o;
	char			*cause = NULL;
	const char		*out =
	    "{\"account\":\"community\",\"id\":10,\"nodes\":null,\"reason\":\"JobHeldUser\","
	    "\"start_time\":0,\"end_time\":0,\"state\":\"PENDING\",\"user\":\"nbcommunity\"}\n"
	    "{\"id\":11,\"nodes\":\"node1\",\"reason\":\"None\",\"start_time\":1700000000,"
	    "\"time_limit\":90,\"state\":\"RUNNING\",\"exit_code\":0,\"signal\":0}\n"
	    "{\"id\":12,\"nodes\":\"node1\",\"reason\":\"NonZeroExitCode\",\"state\":\"FAILED\","
	    "\"exit_code\":3,\"signal\":0,\"start_time\":1700000001}\n"
	    "not json\n"
	    "{\"id\":13,\"state\":\"CANCELLED\",\"exit_code\":0,\"signal\":9}\n"
	    "{\"id\":99,\"state\":\"RUNNING\"}\n";

	output(&o, 0, out, "");
	ok(ops->query_parse(&o, j, 5, &cause) == 0, "query parsed");
	ok(j[0].found && j[0].st.state == SCHED_PENDING, "10 pending");
	is_str(j[0].st.reason, "JobHeldUser", "10: reason");
	is_int(j[0].st.start, 0, "10: no start");
	ok(j[0].st.node == NULL, "10: no node");
	ok(j[1].found && j[1].st.state == SCHED_RUNNING, "11 running");
	ok(j[1].st.reason == NULL, "11: no reason while running");
	is_str(j[1].st.node, "node1", "11: node");
	is_int(j[1].st.limit, 5400, "11: time limit in minutes");
	is_int(j[0].st.limit, 0, "10: no time limit given");
	is_int(j[1].st.start, 1700000000, "11: start");
	is_int(j[1].st.exit_code, -1, "11: no exit code while running");
	ok(j[2].st.state == SCHED_ENDED && j[2].st.end == SCHED_END_FAILED, "12 ended(failed)");
	is_int(j[2].st.exit_code, 3, "12: exit 3");
	is_str(j[2].st.raw, "FAILED", "12: raw word");
	ok(j[3].st.end == SCHED_END_CANCELLED && j[3].st.signal == 9, "13 cancelled, signal 9");
	ok(!j[4].found, "14 absent: not found (history decides)");
	jobs_free(j, 5);

	j = jobs_new(ids, 1);
	output(&o, 1, "{\"error\":\"Unable to contact slurm controller (connect failure)\"}\n", "");
	ok(ops->query_parse(&o, j, 1, &cause) == -1, "controller down: failure, not ended");
	has_str(cause, "Unable to contact slurm controller", "cause");
	ok(!j[0].found, "job untouched");
	free(cause);
	jobs_free(j, 1);
}

static void
test_cancel_queues(void)
{
	struct sched_output	 o;
	struct sched_queue	*q = NULL;
	size_t			 n = 0;
	char			*cause = NULL;

	output(&o, 0, "{\"cancelled\":5}\n", "");
	ok(ops->cancel_parse(&o, "5", &cause) == 0, "cancel ok");
	output(&o, 1, "{\"error\":\"Access/permission denied\"}\n", "");
	ok(ops->cancel_parse(&o, "5", &cause) == -1, "cancel refused");
	is_str(cause, "Access/permission denied", "cancel cause");
	free(cause);
	output(&o, 0, "{\"name\":\"debug\",\"state\":\"UP\",\"max_time\":3600,\"nodes\":1,"
	    "\"cpus\":2,\"default\":true}\n{\"name\":\"compute\",\"state\":\"DOWN\","
	    "\"max_time\":-1,\"nodes\":1,\"cpus\":2,\"default\":false}\n{\"name\":\"b;d\"}\n", "");
	ok(ops->queues_parse(&o, &q, &n, &cause) == 0 && n == 2, "two queues (bad name dropped)");
	if (n == 2) {
		ok(q[0].available && q[0].is_default && q[0].max_walltime == 3600 &&
		    q[0].cpus_total == 2, "debug: up, default, 1 h");
		ok(!q[1].available && !q[1].is_default && q[1].max_walltime == -1,
		    "compute: down, unlimited");
	}
	sched_queues_free(q, n);
}

static void
test_nodes_accounts(void)
{
	struct sched_argv	 a = { NULL, 0 };
	struct sched_output	 o;
	char			**v = NULL, *cause = NULL;
	size_t			 n = 0;

	ok(ops->nodes_argv(&a, "5", "node[1-2]", &cause) == 0 && a.n == 3 &&
	    strcmp(a.v[1], "nodes") == 0 && strcmp(a.v[2], "node[1-2]") == 0,
	    "nodes argv: nodes NODELIST");
	sched_argv_clear(&a);
	ok(ops->nodes_argv(&a, "5", "n1;id", &cause) == -1 && a.n == 0,
	    "a node list with a shell character is refused");
	free(cause);
	cause = NULL;
	output(&o, 0, "{\"name\":\"node1\",\"addr\":\"10.0.0.1\"}\n{\"name\":\"node2\","
	    "\"addr\":\"10.0.0.1\"}\n{\"name\":\"x\",\"addr\":\"a b\"}\n", "");
	ok(ops->nodes_parse(&o, &v, &n, &cause) == 0 && n == 1 && strcmp(v[0], "10.0.0.1") == 0,
	    "node addresses: repeats and bad ones dropped");
	sched_strings_free(v, n);
	v = NULL;
	n = 0;
	ok(ops->accounts_argv(&a, "nbcommunity", &cause) == 0 && a.n == 3 &&
	    strcmp(a.v[1], "accounts") == 0 && strcmp(a.v[2], "nbcommunity") == 0,
	    "accounts argv: accounts USER");
	sched_argv_clear(&a);
	ok(ops->accounts_argv(&a, "-u", &cause) == -1 && a.n == 0, "option-like user refused");
	free(cause);
	cause = NULL;
	output(&o, 0, "{\"account\":\"community\"}\n{\"account\":\"community\"}\n"
	    "{\"account\":\"$(id)\"}\n{\"account\":\"alloc_a\"}\n", "");
	ok(ops->accounts_parse(&o, &v, &n, &cause) == 0 && n == 2 &&
	    strcmp(v[0], "community") == 0 && strcmp(v[1], "alloc_a") == 0,
	    "accounts: deduplicated, bad names dropped");
	sched_strings_free(v, n);
	output(&o, 1, "{\"error\":\"cannot reach slurmdbd: Connection refused\"}\n", "");
	ok(ops->accounts_parse(&o, &v, &n, &cause) == -1, "slurmdbd down: accounts fail");
	is_str(cause, "cannot reach slurmdbd: Connection refused", "cause from the helper");
	free(cause);
}

int
main(void)
{
	ops = sched_find("slurm-lib");
	if (!ok(ops != NULL, "slurm-lib is in the backend table"))
		return (tap_done());
	test_argv();
	test_submit();
	test_query();
	test_cancel_queues();
	test_nodes_accounts();
	return (tap_done());
}
