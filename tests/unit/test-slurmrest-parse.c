/*
 * test-slurmrest-parse.c: the slurm-rest backend (sched-slurmrest.c): the
 * submit body made from a batch script, the requests, and the parsers of
 * slurmrestd's (OpenAPI v0.0.38) answers, with the shapes seen from 22.05.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/common.h"
#include "scheduler/backend.h"
#include "tests/unit/sched-fixture.h"
#include "tests/unit/tap.h"

static const struct sched_ops *ops;

static void
test_submit(void)
{
	static const char script[] = "#!/bin/sh\n#SBATCH --job-name=nbgate-alice\n"
	    "#SBATCH --partition=debug --time=20 --nodes=1 --ntasks=1 --cpus-per-task=2\n"
	    "#SBATCH --mem=256M --account=community --comment=nbgate:user=alice:session=4\n"
	    "#SBATCH --output=/jobs/4/job.out\n#SBATCH --error=/jobs/4/job.err\n\n"
	    "echo hi\n";
	struct sched_argv	 a = { NULL, 0 };
	struct sched_output	 o;
	char			*body = NULL, *cause = NULL, *id = NULL;
	const char		*sc;
	size_t			 len = 0;
	json_t			*j, *job;

	ok(ops->submit_body(script, strlen(script), &body, &len, &cause) == 0, "submit body made");
	j = json_loadb(body != NULL ? body : "", len, 0, NULL);
	job = json_object_get(j, "job");
	ok(strcmp(json_string_value(json_object_get(job, "partition")), "debug") == 0 &&
	    json_integer_value(json_object_get(job, "time_limit")) == 20 &&
	    json_integer_value(json_object_get(job, "cpus_per_task")) == 2 &&
	    json_integer_value(json_object_get(job, "memory_per_node")) == 256 &&
	    json_integer_value(json_array_get(json_object_get(job, "nodes"), 1)) == 1 &&
	    strcmp(json_string_value(json_object_get(job, "account")), "community") == 0 &&
	    strcmp(json_string_value(json_object_get(job, "comment")),
	    "nbgate:user=alice:session=4") == 0 &&
	    strcmp(json_string_value(json_object_get(job, "name")), "nbgate-alice") == 0,
	    "the directives become v0.0.38 job properties");
	ok(json_is_object(json_object_get(job, "environment")) &&
	    json_is_string(json_object_get(job, "current_working_directory")),
	    "with an environment and a working directory (slurmrestd needs both)");
	sc = json_string_value(json_object_get(j, "script"));
	ok(sc != NULL && strstr(sc, "mkdir -p -m 700") != NULL &&
	    strstr(sc, "exec >>'/jobs/4/job.out' 2>>'/jobs/4/job.err'") != NULL &&
	    strstr(sc, "#SBATCH --error=/jobs/4/job.err\n\n: \"${USER:=") != NULL &&
	    strstr(sc, "\necho hi\n") != NULL,
	    "the script makes its output directory right after the directives");
	json_decref(j);
	free(body);
	body = NULL;
	ok(ops->submit_body("#!/bin/sh\n#SBATCH --wrap=id\n", 26, &body, &len, &cause) == -1 &&
	    strstr(cause, "\"--wrap\" is not supported") != NULL,
	    "a directive nbgate does not write is refused, named");
	free(cause);
	cause = NULL;
	ok(ops->submit_argv(&a, NULL, &cause) == 0 && a.n == 3 && strcmp(a.v[0], "POST") == 0 &&
	    strcmp(a.v[2], "job/submit") == 0, "POST slurm job/submit");
	sched_argv_clear(&a);
	output(&o, 200, "{\"errors\": [], \"job_id\": 1720902, \"step_id\": \"BATCH\"}", "");
	ok(ops->submit_parse(&o, &id, &cause) == 0 && strcmp(id, "1720902") == 0, "job id");
	free(id);
	output(&o, 400, "{\"errors\": [{\"error\": \"Unknown key \\\"x\\\"\"}, {\"error\": "
	    "\"Failure during parsing\"}]}", "");
	ok(ops->submit_parse(&o, &id, &cause) == -1, "HTTP 400: refused");
	is_str(cause, "slurmrestd: Unknown key \"x\"; Failure during parsing (HTTP 400)",
	    "cause: slurmrestd's errors and the status");
	free(cause);
}

static void
test_query(void)
{
	struct sched_output	 o;
	struct sched_job	 j[3];
	const char		*ids[] = { "11", "12", "13" };
	char			*cause = NULL;
	struct sched_argv	 a = { NULL, 0 };
	size_t			 i;

	memset(j, 0, sizeof j);
	for (i = 0; i < 3; i++)
		j[i].id = ids[i];
	ok(ops->query_argv(&a, ids, 3, &cause) == 0 && strcmp(a.v[2], "jobs") == 0,
	    "one GET slurm/jobs for every id");
	sched_argv_clear(&a);
	ok(ops->query_argv(&a, (const char *[]){ "1;x" }, 1, &cause) == -1, "bad id refused");
	free(cause);
	cause = NULL;
	output(&o, 200, "{\"errors\": [], \"jobs\": ["
	    "{\"job_id\": 11, \"job_state\": \"PENDING\", \"state_reason\": \"Priority\", "
	    "\"start_time\": 0, \"nodes\": \"\"},"
	    "{\"job_id\": 12, \"job_state\": \"FAILED\", \"state_reason\": \"None\", "
	    "\"start_time\": 1796617324, \"nodes\": \"vm\", \"exit_code\": 768},"
	    "{\"job_id\": 99, \"job_state\": \"RUNNING\"}]}", "");
	ok(ops->query_parse(&o, j, 3, &cause) == 0, "jobs parsed");
	ok(j[0].found && j[0].st.state == SCHED_PENDING && j[0].st.reason != NULL &&
	    strcmp(j[0].st.reason, "Priority") == 0, "11: pending, its reason");
	ok(j[1].found && j[1].st.state == SCHED_ENDED && j[1].st.exit_code == 3 &&
	    j[1].st.node != NULL && strcmp(j[1].st.node, "vm") == 0,
	    "12: ended, exit 3 from the wait status 768, node");
	ok(!j[2].found, "13: not in the answer");
	for (i = 0; i < 3; i++)
		sched_status_clear(&j[i].st);
}

static void
test_other(void)
{
	struct sched_argv	 a = { NULL, 0 };
	struct sched_output	 o;
	struct sched_queue	*q = NULL;
	char			**v = NULL, *cause = NULL;
	size_t			 n = 0;

	ok(ops->cancel_argv(&a, "12", &cause) == 0 && strcmp(a.v[0], "DELETE") == 0 &&
	    strcmp(a.v[2], "job/12") == 0, "DELETE slurm job/12");
	sched_argv_clear(&a);
	output(&o, 200, "{\"partitions\": [{\"name\": \"debug\", \"state\": \"UP\", "
	    "\"flags\": [\"default\"], \"max_time_limit\": 60, \"total_nodes\": 1, "
	    "\"total_cpus\": 8}, {\"name\": \"compute\", \"state\": \"DOWN\", \"flags\": [], "
	    "\"max_time_limit\": null}]}", "");
	ok(ops->queues_parse(&o, &q, &n, &cause) == 0 && n == 2 && q[0].is_default &&
	    q[0].available && q[0].max_walltime == 3600 && q[0].cpus_total == 8 &&
	    !q[1].available && q[1].max_walltime == -1, "partitions: default, up, limits");
	sched_queues_free(q, n);
	n = 0;
	ok(ops->accounts_argv(&a, "nbcommunity", &cause) == 0 && strcmp(a.v[1], "slurmdb") == 0 &&
	    strcmp(a.v[2], "associations?user=nbcommunity") == 0, "GET slurmdb associations");
	sched_argv_clear(&a);
	output(&o, 200, "{\"associations\": [{\"account\": \"community\"}, {\"account\": "
	    "\"community\"}, {\"account\": \"a b\"}]}", "");
	ok(ops->accounts_parse(&o, &v, &n, &cause) == 0 && n == 1 &&
	    strcmp(v[0], "community") == 0, "accounts: deduplicated, bad names dropped");
	sched_strings_free(v, n);
	v = NULL;
	n = 0;
	ok(ops->nodes_argv(&a, "5", "n[01-03],gpu1", &cause) == 0 &&
	    strcmp(a.v[2], "nodes#n[01-03],gpu1") == 0, "GET slurm/nodes, the list as fragment");
	sched_argv_clear(&a);
	output(&o, 200, "{\"nodes\": [{\"name\": \"n01\", \"address\": \"10.0.0.1\"}, "
	    "{\"name\": \"n04\", \"address\": \"10.0.0.4\"}, {\"name\": \"n1\", \"address\": "
	    "\"10.0.0.9\"}, {\"name\": \"gpu1\", \"address\": \"10.0.1.1\"}, {\"name\": \"n03\", "
	    "\"address\": \"10.0.0.3\"}]}", "n[01-03],gpu1");
	ok(ops->nodes_parse(&o, &v, &n, &cause) == 0 && n == 3 && strcmp(v[0], "10.0.0.1") == 0 &&
	    strcmp(v[1], "10.0.1.1") == 0 && strcmp(v[2], "10.0.0.3") == 0,
	    "only the job's nodes' addresses (n04 and unpadded n1 are not in n[01-03])");
	sched_strings_free(v, n);
	output(&o, 500, "{\"errors\": [{\"error_code\": 5005, \"error\": \"Zero Bytes were "
	    "transmitted or received\"}]}", "");
	ok(ops->queues_parse(&o, &q, &n, &cause) == -1 && strstr(cause, "Zero Bytes") != NULL,
	    "HTTP 500: slurmrestd's error is the cause");
	free(cause);
}

int
main(void)
{
	ops = sched_find("slurm-rest");
	if (!ok(ops != NULL, "slurm-rest is in the backend table"))
		return (tap_done());
	test_submit();
	test_query();
	test_other();
	return (tap_done());
}
