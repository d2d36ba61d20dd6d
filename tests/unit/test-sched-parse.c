/*
 * test-sched-parse.c: the SLURM and PBS backends' argv builders and output
 * parsers against captured real output (tests/unit/data/sched/), the state
 * mapping tables, id validation, the SSH transport's quoting, and job
 * listings (every backend's list parser, and sched_list() over a stand-in qstat),
 * and sched_usage() over a stand-in sacct (its lines: test-usage).
 */
#include "config.h"

#include <sys/stat.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/common.h"
#include "scheduler/backend.h"
#include "scheduler/sbatch.h"
#include "tests/unit/sched-fixture.h"
#include "tests/unit/tap.h"

static char *
fixture(const char *name, size_t *len)
{
	const char	*src = getenv("NB_SRCDIR");
	char		*path, *buf;
	FILE		*f;
	long		 n;

	xasprintf(&path, "%s/tests/unit/data/sched/%s", src != NULL ? src : ".", name);
	if ((f = fopen(path, "rb")) == NULL) {
		tap_diag("cannot open %s", path);
		free(path);
		*len = 0;
		return (xstrdup(""));
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc(n + 1);
	*len = fread(buf, 1, n, f);
	buf[*len] = '\0';
	fclose(f);
	free(path);
	return (buf);
}

static struct sched_job *
jobs_new(const char *const *ids, size_t n)
{
	struct sched_job	*j = xcalloc(n, sizeof *j);
	size_t			 i;

	for (i = 0; i < n; i++) {
		j[i].id = ids[i];
		j[i].st.exit_code = -1;
	}
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

static char *
argv_str(struct sched_argv *a)
{
	char	*s = transport_join((const char *const *)a->v);

	sched_argv_clear(a);
	return (s);
}

static void
test_slurm_submit(void)
{
	const struct sched_ops	*ops = sched_find("slurm");
	struct sched_output	 o;
	struct sched_argv	 a = { NULL, 0 };
	char			*id = NULL, *cause = NULL, *err, *s;
	size_t			 len;

	ok(ops == &sched_slurm_ops, "slurm backend in the table");
	ok(sched_find("lsf") == NULL, "no lsf backend");
	ops->submit_argv(&a, NULL, &cause);
	is_str(s = argv_str(&a), "'sbatch' '--parsable'", "sbatch argv, script on stdin");
	free(s);
	output(&o, 0, "7706400\n", "");
	ok(ops->submit_parse(&o, &id, &cause) == 0, "bare id parsed");
	is_str(id, "7706400", "job id");
	free(id);
	output(&o, 0, "123;nbgate\n", "");
	ok(ops->submit_parse(&o, &id, &cause) == 0, "id;cluster parsed");
	is_str(id, "123", "cluster suffix dropped");
	free(id);
	err = fixture("sbatch-badaccount.err", &len);
	output(&o, 1, "", err);
	id = NULL;
	ok(ops->submit_parse(&o, &id, &cause) == -1, "refused submit fails");
	has_str(cause, "Invalid account or account/partition combination",
	    "cause carries SLURM's words");
	ok(id == NULL, "no id");
	free(cause);
	free(err);
	output(&o, 0, "Submitted batch job x\n", "");
	cause = NULL;
	ok(ops->submit_parse(&o, &id, &cause) == -1, "junk instead of an id refused");
	free(cause);
	output(&o, 0, "", "");
	cause = NULL;
	ok(ops->submit_parse(&o, &id, &cause) == -1, "empty output refused");
	free(cause);
}

static void
test_slurm_query(void)
{
	const struct sched_ops	*ops = &sched_slurm_ops;
	const char *const	 ids[] = { "7706405", "7706400", "7706401", "7706408",
	    "7706409", "7706406", "99999" };
	const char *const	 bad[] = { "1", "2;rm -rf /" };
	struct sched_job	*j;
	struct sched_output	 o;
	struct sched_argv	 a = { NULL, 0 };
	char			*buf, *cause = NULL, *s;
	size_t			 len;

	ok(ops->query_argv(&a, ids, 3, &cause) == 0, "squeue argv built");
	is_str(s = argv_str(&a), "'squeue' '-h' '-t' 'all' '-o' '%i|%T|%r|%S|%N|%l' '-j' "
	    "'7706405,7706400,7706401'", "one squeue for the batch");
	free(s);
	ok(ops->query_argv(&a, bad, 2, &cause) == -1, "a bad id refuses the batch");
	sched_argv_clear(&a);
	free(cause);
	cause = NULL;

	buf = fixture("squeue-mixed.txt", &len);
	j = jobs_new(ids, nitems(ids));
	output(&o, 0, buf, "");
	ok(ops->query_parse(&o, j, nitems(ids), &cause) == 0, "squeue output parsed");
	ok(j[0].found && j[0].st.state == SCHED_ENDED && j[0].st.end == SCHED_END_CANCELLED,
	    "CANCELLED -> ended(cancelled)");
	ok(j[1].st.state == SCHED_ENDED && j[1].st.end == SCHED_END_COMPLETED &&
	    j[1].st.exit_code == -1, "COMPLETED -> ended(completed), exit code unknown to squeue");
	ok(j[2].st.end == SCHED_END_FAILED, "FAILED -> failed");
	ok(j[3].st.state == SCHED_PENDING, "PENDING");
	is_str(j[3].st.reason, "Resources", "pending reason");
	ok(j[3].st.start > 0, "estimated start parsed");
	is_str(j[4].st.reason, "JobHeldUser", "held reason");
	is_int(j[4].st.start, 0, "N/A start is unknown");
	ok(j[4].st.node == NULL, "no node while pending");
	ok(j[5].st.state == SCHED_RUNNING, "RUNNING");
	is_str(j[5].st.node, "vm", "node");
	ok(j[5].st.reason == NULL, "no reason while running");
	is_int(j[5].st.limit, 26 * 3600, "time limit D-HH:MM:SS");
	is_int(j[3].st.limit, 120, "time limit M:SS");
	is_int(j[4].st.limit, 0, "UNLIMITED: no limit");
	is_int(j[2].st.limit, 0, "no time limit field (older format): none");
	ok(!j[6].found, "unknown id not found");
	jobs_free(j, nitems(ids));
	free(buf);

	j = jobs_new(ids, 1);
	output(&o, 1, "", "squeue: error: Unable to contact slurm controller (connect failure)\n");
	ok(ops->query_parse(&o, j, 1, &cause) == -1, "controller down: query fails");
	has_str(cause, "Unable to contact slurm controller", "cause from stderr");
	free(cause);
	cause = NULL;
	output(&o, 1, "", "slurm_load_jobs error: Invalid job id specified\n");
	ok(ops->query_parse(&o, j, 1, &cause) == 0, "all ids unknown is an answer");
	ok(!j[0].found, "and nothing found");
	output(&o, 0, "7706405|BOGUS_STATE|None|N/A|\n7706405|RUNNING\n", "");
	ok(ops->query_parse(&o, j, 1, &cause) == 0, "odd lines survive");
	ok(j[0].found && j[0].st.state == SCHED_UNKNOWN, "unknown state word -> unknown");
	is_str(j[0].st.raw, "BOGUS_STATE", "raw word kept");
	jobs_free(j, 1);
}

static void
test_slurm_history(void)
{
	const struct sched_ops	*ops = &sched_slurm_ops;
	const char *const	 ids[] = { "7706401", "7706405", "7706402", "7706409", "5" };
	struct sched_job	*j;
	struct sched_output	 o;
	struct sched_argv	 a = { NULL, 0 };
	char			*buf, *cause = NULL, *s;
	size_t			 len;

	ops->history_argv(&a, ids, 2, &cause);
	is_str(s = argv_str(&a), "'sacct' '-n' '-P' '-X' '-o' "
	    "'JobID,State,ExitCode,Reason,NodeList,Start' '-j' '7706401,7706405'", "sacct argv");
	free(s);
	buf = fixture("sacct-mixed.txt", &len);
	j = jobs_new(ids, nitems(ids));
	output(&o, 0, buf, "");
	ok(ops->history_parse(&o, j, nitems(ids), &cause) == 0, "sacct output parsed");
	ok(j[0].st.end == SCHED_END_FAILED, "FAILED");
	is_int(j[0].st.exit_code, 3, "exit code 3");
	ok(j[1].st.end == SCHED_END_CANCELLED, "'CANCELLED by 1003' -> cancelled");
	ok(j[1].st.node == NULL, "'None assigned' is no node");
	is_int(j[2].st.signal, 53, "exit:signal split");
	ok(j[3].st.state == SCHED_PENDING, "sacct knows pending jobs too");
	is_str(j[3].st.reason, "JobHeldUser", "its reason");
	ok(!j[4].found, "job unknown to accounting");
	jobs_free(j, nitems(ids));
	free(buf);

	j = jobs_new(ids, 1);
	output(&o, 1, "", "sacct: error: Problem talking to the database: Connection refused\n");
	ok(ops->history_parse(&o, j, 1, &cause) == -1, "slurmdbd down: history fails");
	has_str(cause, "Problem talking to the database", "cause");
	free(cause);
	jobs_free(j, 1);
}

static void
test_slurm_misc(void)
{
	const struct sched_ops	*ops = &sched_slurm_ops;
	struct sched_output	 o;
	struct sched_argv	 a = { NULL, 0 };
	struct sched_queue	*q = NULL;
	char			*buf, *cause = NULL, **v = NULL, *s;
	size_t			 len, n = 0;
	time_t			 t = 1;

	buf = fixture("sinfo.txt", &len);
	output(&o, 0, buf, "");
	ok(ops->queues_parse(&o, &q, &n, &cause) == 0, "sinfo parsed");
	is_int(n, 2, "two partitions");
	if (n == 2) {
		is_str(q[0].name, "debug", "debug");
		ok(q[0].is_default && !q[1].is_default, "debug is the default");
		is_int(q[0].max_walltime, 3600, "debug: 1 h");
		is_int(q[1].max_walltime, 8 * 3600, "compute: 8 h");
		ok(q[0].available, "up");
		is_int(q[0].cpus_total, 2, "cpus");
	}
	sched_queues_free(q, n);
	free(buf);

	buf = fixture("sacctmgr-community.txt", &len);
	output(&o, 0, buf, "");
	ok(ops->accounts_parse(&o, &v, &n, &cause) == 0, "sacctmgr parsed");
	ok(n == 1 && strcmp(v[0], "community") == 0, "nbcommunity may charge community");
	sched_strings_free(v, n);
	free(buf);
	output(&o, 0, "a1\na1\nb2\n\nbad;name\n", "");
	ops->accounts_parse(&o, &v, &n, &cause);
	is_int(n, 2, "one per association, deduplicated, junk dropped");
	sched_strings_free(v, n);
	ok(ops->accounts_argv(&a, "alice", &cause) == 0, "sacctmgr argv");
	is_str(s = argv_str(&a), "'sacctmgr' '-n' '-P' 'show' 'assoc' 'user=alice' "
	    "'format=account'", "sacctmgr argv words");
	free(s);
	ok(ops->accounts_argv(&a, "alice format=user", &cause) == -1, "user name injection refused");
	sched_argv_clear(&a);
	free(cause);
	cause = NULL;

	buf = fixture("squeue-start.txt", &len);
	output(&o, 0, buf, "");
	ok(ops->estimate_parse(&o, "7706408", &t, &cause) == 0 && t > 0, "estimate parsed");
	ok(ops->estimate_parse(&o, "7706409", &t, &cause) == 0 && t == 0, "N/A: no estimate");
	free(buf);
	ok(ops->cancel_argv(&a, "-1", &cause) == -1, "option-like id refused for scancel");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);
	output(&o, 0, "", "scancel: error: Kill job error on job id 99999: Invalid job id specified\n");
	ok(ops->cancel_parse(&o, "99999", &cause) == -1, "scancel's error noticed despite exit 0");
	has_str(cause, "Invalid job id", "cause");
	free(cause);
}

static void
test_mapping(void)
{
	static const struct {
		const char	*word;
		int		 pbs;
		enum sched_state state;
		enum sched_end	 end;
	} t[] = {
		{ "PENDING", 0, SCHED_PENDING, SCHED_END_NONE },
		{ "CONFIGURING", 0, SCHED_PENDING, SCHED_END_NONE },
		{ "REQUEUED", 0, SCHED_PENDING, SCHED_END_NONE },
		{ "RUNNING", 0, SCHED_RUNNING, SCHED_END_NONE },
		{ "COMPLETING", 0, SCHED_RUNNING, SCHED_END_NONE },
		{ "SUSPENDED", 0, SCHED_RUNNING, SCHED_END_NONE },
		{ "COMPLETED", 0, SCHED_ENDED, SCHED_END_COMPLETED },
		{ "FAILED", 0, SCHED_ENDED, SCHED_END_FAILED },
		{ "CANCELLED", 0, SCHED_ENDED, SCHED_END_CANCELLED },
		{ "CANCELLED by 0", 0, SCHED_ENDED, SCHED_END_CANCELLED },
		{ "CANCELLED+", 0, SCHED_ENDED, SCHED_END_CANCELLED },
		{ "TIMEOUT", 0, SCHED_ENDED, SCHED_END_TIMEOUT },
		{ "DEADLINE", 0, SCHED_ENDED, SCHED_END_TIMEOUT },
		{ "NODE_FAIL", 0, SCHED_ENDED, SCHED_END_NODE_FAIL },
		{ "BOOT_FAIL", 0, SCHED_ENDED, SCHED_END_NODE_FAIL },
		{ "OUT_OF_MEMORY", 0, SCHED_ENDED, SCHED_END_OUT_OF_MEMORY },
		{ "PREEMPTED", 0, SCHED_ENDED, SCHED_END_CANCELLED },
		{ "", 0, SCHED_UNKNOWN, SCHED_END_NONE },
		{ "running", 0, SCHED_UNKNOWN, SCHED_END_NONE },
		{ "Q", 1, SCHED_PENDING, SCHED_END_NONE },
		{ "H", 1, SCHED_PENDING, SCHED_END_NONE },
		{ "W", 1, SCHED_PENDING, SCHED_END_NONE },
		{ "R", 1, SCHED_RUNNING, SCHED_END_NONE },
		{ "E", 1, SCHED_RUNNING, SCHED_END_NONE },
		{ "C", 1, SCHED_ENDED, SCHED_END_UNKNOWN },
		{ "F", 1, SCHED_ENDED, SCHED_END_UNKNOWN },
		{ "Z", 1, SCHED_UNKNOWN, SCHED_END_NONE },
		{ "RR", 1, SCHED_UNKNOWN, SCHED_END_NONE },
	};
	struct sched_status	st;
	size_t			i;
	int			good = 0;

	for (i = 0; i < nitems(t); i++) {
		memset(&st, 0, sizeof st);
		if (t[i].pbs)
			sched_pbs_map(t[i].word, &st);
		else
			sched_slurm_map(t[i].word, &st);
		if (st.state == t[i].state && st.end == t[i].end)
			good++;
		else
			tap_diag("'%s' -> %s/%s", t[i].word, sched_state_name(st.state),
			    sched_end_name(st.end));
		sched_status_clear(&st);
	}
	is_int(good, nitems(t), "state mapping table (%zu words)", nitems(t));
}

static void
test_pbs(void)
{
	const struct sched_ops	*ops = sched_find("pbs");
	const char *const	 ids[] = { "4321", "4322.pbs01.example.org", "4399.pbs01.example.org" };
	const char *const	 xids[] = { "4300.pbs01.example.org", "4301.pbs01.example.org",
	    "4302.pbs01.example.org", "4303.pbs01.example.org", "4304.pbs01.example.org" };
	const char *const	 tids[] = { "812.torque-srv.example.org", "813" };
	const char *const	 wids[] = { "7706410" };
	struct sched_job	*j;
	struct sched_output	 o;
	struct sched_argv	 a = { NULL, 0 };
	char			*buf, *cause = NULL, *id = NULL, *s, *err;
	size_t			 len;

	ok(ops != NULL && ops->submit_needs_file, "pbs backend needs a script file");
	ok(ops->accounts_argv == NULL && ops->estimate_argv == NULL, "optional ops absent");
	ops->submit_argv(&a, "/tmp/nbgate-job.abc", &cause);
	is_str(s = argv_str(&a), "'qsub' '/tmp/nbgate-job.abc'", "qsub FILE");
	free(s);
	ops->submit_argv(&a, NULL, &cause);
	has_str(s = argv_str(&a), "'sh' '-c' 'f=$(mktemp) && cat > \"$f\" && qsub \"$f\";",
	    "over ssh: a fixed sh -c wrapper reads stdin");
	free(s);
	buf = fixture("pbspro-qsub.txt", &len);
	output(&o, 0, buf, "");
	ok(ops->submit_parse(&o, &id, &cause) == 0, "PBS Pro id parsed");
	is_str(id, "4321.pbs01.example.org", "full id kept");
	free(id);
	free(buf);
	buf = fixture("wrapper-qsub.txt", &len);
	output(&o, 0, buf, "");
	ok(ops->submit_parse(&o, &id, &cause) == 0, "wrapper's bare id parsed");
	is_str(id, "7706410", "bare id");
	free(id);
	free(buf);
	output(&o, 1, "", "qsub: Unknown queue\n");
	ok(ops->submit_parse(&o, &id, &cause) == -1, "qsub error");
	is_str(cause, "qsub: Unknown queue", "cause");
	free(cause);
	cause = NULL;

	ops->query_argv(&a, ids, 2, &cause);
	is_str(s = argv_str(&a), "'qstat' '-f' '4321' '4322.pbs01.example.org'",
	    "qstat -f with ids as separate words");
	free(s);
	buf = fixture("pbspro-qstat-f.txt", &len);
	err = fixture("pbspro-qstat-unknown.err", &len);
	j = jobs_new(ids, nitems(ids));
	output(&o, 153, buf, err);
	ok(ops->query_parse(&o, j, nitems(ids), &cause) == 0,
	    "exit 153 with only 'Unknown Job Id' is an answer");
	ok(j[0].found && j[0].st.state == SCHED_RUNNING, "bare id matched 4321.pbs01... running");
	is_str(j[0].st.node, "node07", "exec_host node");
	ok(j[0].st.start > 0, "stime parsed");
	is_int(j[0].st.limit, 3600, "Resource_List.walltime parsed");
	has_str(j[0].st.reason, "Job run at", "comment kept");
	ok(j[1].st.state == SCHED_PENDING, "queued; a continuation 'job_state = R' not read");
	ok(j[1].st.start > 0, "estimated.start_time parsed");
	ok(!j[2].found, "unknown id missing");
	jobs_free(j, nitems(ids));
	free(buf);
	free(err);

	buf = fixture("pbspro-qstat-xf.txt", &len);
	j = jobs_new(xids, nitems(xids));
	output(&o, 0, buf, "");
	ok(ops->history_parse(&o, j, nitems(xids), &cause) == 0, "qstat -x -f parsed");
	ok(j[0].st.end == SCHED_END_COMPLETED && j[0].st.exit_code == 0, "F, Exit_status 0");
	ok(j[1].st.end == SCHED_END_FAILED && j[1].st.exit_code == 3, "Exit_status 3: failed");
	ok(j[2].st.end == SCHED_END_TIMEOUT, "Exit_status -29: walltime");
	ok(j[3].st.end == SCHED_END_CANCELLED && j[3].st.signal == 15, "271: killed by TERM");
	ok(j[4].st.end == SCHED_END_OUT_OF_MEMORY, "-27: memory");
	jobs_free(j, nitems(xids));
	free(buf);

	buf = fixture("torque-qstat-f.txt", &len);
	j = jobs_new(tids, nitems(tids));
	output(&o, 0, buf, "");
	ok(ops->query_parse(&o, j, nitems(tids), &cause) == 0, "Torque qstat -f parsed");
	ok(j[0].st.state == SCHED_ENDED && j[0].st.end == SCHED_END_TIMEOUT,
	    "Torque C, exit_status -11: walltime");
	is_str(j[0].st.node, "cn012", "Torque exec_host");
	ok(j[1].st.state == SCHED_PENDING, "held -> pending");
	jobs_free(j, nitems(tids));
	free(buf);

	buf = fixture("wrapper-qstat-f-running.txt", &len);
	j = jobs_new(wids, 1);
	output(&o, 0, buf, "");
	ok(ops->query_parse(&o, j, 1, &cause) == 0, "wrapper (tab-indented) parsed");
	ok(j[0].st.state == SCHED_RUNNING, "wrapper R");
	is_str(j[0].st.node, "vm", "wrapper node");
	jobs_free(j, 1);
	free(buf);
	buf = fixture("wrapper-qstat-f-cancelled.txt", &len);
	j = jobs_new(wids, 1);
	output(&o, 0, buf, "");
	ops->query_parse(&o, j, 1, &cause);
	ok(j[0].st.state == SCHED_ENDED && j[0].st.end == SCHED_END_UNKNOWN &&
	    j[0].st.exit_code == -1, "wrapper C without exit_status: ended(unknown)");
	sched_status_clear(&j[0].st);
	j[0].found = 0;
	output(&o, 153, "", "");
	ok(ops->query_parse(&o, j, 1, &cause) == 0 && !j[0].found,
	    "wrapper: exit 153 and silence means unknown id");
	err = fixture("wrapper-qstat-x.err", &len);
	output(&o, 2, "", err);
	ok(ops->history_parse(&o, j, 1, &cause) == 0 && !j[0].found,
	    "qstat -x unsupported: no history, not an error");
	free(err);
	output(&o, 1, "", "qstat: cannot connect to server pbs01 (errno=111)\n");
	ok(ops->query_parse(&o, j, 1, &cause) == -1, "server down: query fails");
	has_str(cause, "cannot connect", "cause");
	free(cause);
	jobs_free(j, 1);
	free(buf);
}

/* The listed job with this id, or NULL. */
static const struct sched_listed *
listed(const struct sched_listed *l, size_t n, const char *id)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strcmp(l[i].id, id) == 0)
			return (&l[i]);
	}
	return (NULL);
}

/* Captured from squeue 22.05 -o SLURM_LIST_FORMAT (fields split at \037), plus junk. */
static const char slurm_list_out[] =
    "8176903\037nbcommunity\037PENDING\037JobHeldUser\037N/A\037\037nbgate-alice|x\037"
    "nbgate:user=alice:session=3|y\n"
    "8176904\037nbcommunity\037RUNNING\037None\0372026-11-27T12:19:44\037vm\037nbgate-alice\037"
    "nbgate:user=alice:session=4\n"
    "\n"
    "8176905\037nbcommunity\037COMPLETING\037None\0372026-11-27T12:19:50\037vm\037"
    "nbgate-bob-lab\037nbgate:user=bob:session=9\037and\037more\n"
    "8176906\037nbcommunity\037CANCELLED\037None\037N/A\037\037nbgate-carol\037(null)\n"
    "8176907\037nbcommunity\037PENDING\037Priority\037N/A\037\037plain\037(null)\n"
    "squeue: this line is not a job\n"
    "1;rm -rf /\037nbcommunity\037PENDING\037None\037N/A\037\037x\037y\n"
    "8176908\037nbcommunity\037PENDING\n"
    "8176909|nbcommunity|PENDING|None|N/A||pipes|only\n";

static void
test_slurm_list(void)
{
	const struct sched_ops		*ops = &sched_slurm_ops;
	const struct sched_listed	*e;
	struct sched_listed		*l = NULL;
	struct sched_output		 o;
	struct sched_argv		 a = { NULL, 0 };
	char				*cause = NULL, *s;
	size_t				 n = 0;

	ok(ops->list_argv(&a, "alice", &cause) == 0, "squeue list argv for a user");
	is_str(s = argv_str(&a), "'squeue' '-h' '--noconvert' '-t' "
	    "'PENDING,RUNNING,SUSPENDED,CONFIGURING,COMPLETING' '-o' "
	    "'%i\037%u\037%T\037%r\037%S\037%N\037%j\037%k' '-u' 'alice'",
	    "unfinished states, comment last, -u USER");
	free(s);
	ok(ops->list_argv(&a, NULL, &cause) == 0, "squeue list argv without a user");
	s = argv_str(&a);
	ok(strlen(s) > 7 && strcmp(s + strlen(s) - 7, " '--me'") == 0 && strstr(s, "'-u'") == NULL,
	    "no user: --me, no -u");
	free(s);
	ok(ops->list_argv(&a, "alice,bob", &cause) == -1, "a user list is refused");
	has_str(cause, "invalid user name", "cause says so");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);
	ok(ops->list_argv(&a, "-ualice", &cause) == -1 && a.n == 0, "option-like user refused, "
	    "nothing built");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);

	output(&o, 0, slurm_list_out, "");
	ok(ops->list_parse(&o, &l, &n, &cause) == 0, "squeue listing parsed");
	is_int(n, 4, "4 unfinished jobs; ended, short, bad-id and foreign lines left out");
	e = listed(l, n, "8176903");
	ok(e != NULL && e->st.state == SCHED_PENDING, "held job: pending");
	is_str(e != NULL ? e->name : NULL, "nbgate-alice|x", "'|' in a name kept");
	is_str(e != NULL ? e->comment : NULL, "nbgate:user=alice:session=3|y",
	    "'|' in a comment kept");
	is_str(e != NULL ? e->user : NULL, "nbcommunity", "user");
	is_str(e != NULL ? e->st.reason : NULL, "JobHeldUser", "pending reason");
	ok(e != NULL && e->st.node == NULL && e->st.start == 0, "no node, N/A start");
	e = listed(l, n, "8176904");
	ok(e != NULL && e->st.state == SCHED_RUNNING && e->st.reason == NULL &&
	    e->st.start > 0, "running: start parsed, 'None' is no reason");
	is_str(e != NULL ? e->st.node : NULL, "vm", "node");
	e = listed(l, n, "8176905");
	ok(e != NULL && e->st.state == SCHED_RUNNING, "COMPLETING is still running");
	is_str(e != NULL ? e->comment : NULL, "nbgate:user=bob:session=9\037and\037more",
	    "separators inside the last field (the comment) are harmless");
	ok(listed(l, n, "8176906") == NULL, "a CANCELLED line is left out");
	e = listed(l, n, "8176907");
	ok(e != NULL && e->comment == NULL, "'(null)' comment is none");
	ok(listed(l, n, "8176908") == NULL && listed(l, n, "8176909|nbcommunity|PENDING|None|N/A||"
	    "pipes|only") == NULL, "short lines left out");
	sched_listed_free(l, n);

	l = (struct sched_listed *)1;
	output(&o, 0, "", "");
	ok(ops->list_parse(&o, &l, &n, &cause) == 0 && n == 0 && l == NULL,
	    "empty output: no jobs");
	output(&o, 1, "", "squeue: error: Unable to contact slurm controller (connect failure)\n");
	ok(ops->list_parse(&o, &l, &n, &cause) == -1, "controller down: listing fails");
	has_str(cause, "Unable to contact slurm controller", "cause in SLURM's words");
	free(cause);
	cause = NULL;
	output(&o, 0, "", "squeue: error: Invalid user: nosuch\n");
	ok(ops->list_parse(&o, &l, &n, &cause) == -1, "unknown user (squeue exits 0) fails");
	is_str(cause, "squeue: error: Invalid user: nosuch", "cause");
	free(cause);
}

/* PBS Pro: a job name wrapped onto a continuation line, and a finished job. */
static const char pbspro_wrapped[] =
    "Job Id: 4400.pbs01.example.org\n"
    "    Job_Name = nbgate-averyveryverylongusername-with-a-server-name-that-does-not-fi\n"
    "\tt-in-one-line\n"
    "    Job_Owner = averyveryverylongusername@login01.example.org\n"
    "    job_state = H\n"
    "    Variable_List = PBS_O_HOME=/home/x,\n"
    "\tJob_Owner = mallory@evil\n"
    "\n"
    "Job Id: 4401.pbs01.example.org\n"
    "    Job_Name = nbgate-erin\n"
    "    Job_Owner = erin@login01.example.org\n"
    "    job_state = F\n"
    "    Exit_status = 0\n"
    "\n"
    "Job Id: 1;rm\n"
    "    job_state = R\n";

/* Captured from Debian's slurm-wlm-torque qstat -f (22.05): finished jobs stay as C. */
static const char wrapper_list[] =
    "Job Id:\t8176901\n"
    "\tJob_Name = ctl\037name\n"
    "\tJob_Owner = nbcommunity@localhost\n"
    "\tjob_state = C\n"
    "\tqueue = debug\n"
    "\tqtime = Fri Nov 27 12:16:25 2026\n"
    "\texec_host = vm/1\n"
    "\teuser = nbcommunity(1003)\n"
    "\n"
    "Job Id:\t8176903\n"
    "\tJob_Name = nbgate-alice|x\n"
    "\tJob_Owner = nbcommunity@localhost\n"
    "\tjob_state = Q\n"
    "\tqueue = debug\n"
    "\tqtime = Fri Nov 27 12:19:44 2026\n"
    "\tAccount_Name = community\n"
    "\tPriority = 0\n"
    "\teuser = nbcommunity(1003)\n"
    "\tegroup = nbcommunity(1003)\n"
    "\tResource_List.walltime = 00:01:00\n"
    "\n"
    "Job Id:\t8176904\n"
    "\tJob_Name = nbgate-alice\n"
    "\tJob_Owner = nbcommunity@localhost\n"
    "\tjob_state = R\n"
    "\tqueue = debug\n"
    "\tqtime = Fri Nov 27 12:19:44 2026\n"
    "\tmtime = Fri Nov 27 12:19:44 2026\n"
    "\tctime = Fri Nov 27 12:20:44 2026\n"
    "\tAccount_Name = community\n"
    "\texec_host = vm/1\n"
    "\tPriority = 4294901757\n"
    "\teuser = nbcommunity(1003)\n"
    "\tegroup = nbcommunity(1003)\n"
    "\n";

static void
test_pbs_list(void)
{
	const struct sched_ops		*ops = &sched_pbs_ops;
	const struct sched_listed	*e;
	struct sched_listed		*l = NULL;
	struct sched_output		 o;
	struct sched_argv		 a = { NULL, 0 };
	char				*buf, *cause = NULL, *s;
	size_t				 len, n = 0, i;

	ok(ops->list_argv(&a, NULL, &cause) == 0, "qstat list argv");
	is_str(s = argv_str(&a), "'qstat' '-f'", "qstat -f, every job");
	free(s);
	ok(ops->list_argv(&a, "alice", &cause) == 0, "with a user");
	is_str(s = argv_str(&a), "'qstat' '-f'", "still qstat -f (-u drops the full format)");
	free(s);
	ok(ops->list_argv(&a, "alice bob", &cause) == -1, "bad user name refused");
	has_str(cause, "invalid user name", "cause");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);

	buf = fixture("pbspro-qstat-f.txt", &len);
	output(&o, 0, buf, "");
	ok(ops->list_parse(&o, &l, &n, &cause) == 0, "PBS Pro qstat -f listing parsed");
	is_int(n, 2, "two jobs");
	e = listed(l, n, "4321.pbs01.example.org");
	ok(e != NULL && e->st.state == SCHED_RUNNING, "4321 running");
	is_str(e != NULL ? e->name : NULL, "nbgate-alice", "Job_Name");
	is_str(e != NULL ? e->user : NULL, "alice", "user from Job_Owner alice@login01...");
	is_str(e != NULL ? e->st.node : NULL, "node07", "node");
	ok(e != NULL && e->comment == NULL, "no SLURM comment");
	e = listed(l, n, "4322.pbs01.example.org");
	ok(e != NULL && e->st.state == SCHED_PENDING, "4322 queued; the continuation "
	    "'job_state = R' is not an attribute");
	is_str(e != NULL ? e->user : NULL, "bob", "bob");
	has_str(e != NULL ? e->st.reason : NULL, "(R: 64 A: 12 T: 48)",
	    "the wrapped comment is joined with its continuation");
	sched_listed_free(l, n);
	free(buf);

	output(&o, 0, pbspro_wrapped, "");
	ok(ops->list_parse(&o, &l, &n, &cause) == 0, "wrapped PBS Pro listing parsed");
	is_int(n, 1, "the F job and the bad id left out");
	is_str(n > 0 ? l[0].name : NULL, "nbgate-averyveryverylongusername-with-a-server-name-"
	    "that-does-not-fit-in-one-line", "a wrapped Job_Name joined");
	is_str(n > 0 ? l[0].user : NULL, "averyveryverylongusername",
	    "a continuation 'Job_Owner = ...' changes nothing");
	ok(n > 0 && l[0].st.state == SCHED_PENDING, "H: pending");
	sched_listed_free(l, n);

	buf = fixture("pbspro-qstat-xf.txt", &len);
	output(&o, 0, buf, "");
	ok(ops->list_parse(&o, &l, &n, &cause) == 0 && n == 0, "only finished (F) jobs: none");
	sched_listed_free(l, n);
	free(buf);

	buf = fixture("torque-qstat-f.txt", &len);
	output(&o, 0, buf, "");
	ok(ops->list_parse(&o, &l, &n, &cause) == 0, "Torque listing parsed");
	is_int(n, 1, "Torque C job left out");
	e = listed(l, n, "813.torque-srv.example.org");
	ok(e != NULL && e->st.state == SCHED_PENDING && e->user == NULL,
	    "held job without Job_Owner: pending, no user");
	is_str(e != NULL ? e->name : NULL, "nbgate-dave", "its name");
	sched_listed_free(l, n);
	free(buf);

	output(&o, 0, wrapper_list, "");
	ok(ops->list_parse(&o, &l, &n, &cause) == 0, "slurm-wlm-torque listing parsed");
	is_int(n, 2, "wrapper: C left out, Q and R kept");
	e = listed(l, n, "8176903");
	ok(e != NULL && e->st.state == SCHED_PENDING, "wrapper Q");
	is_str(e != NULL ? e->name : NULL, "nbgate-alice|x", "wrapper name with '|'");
	is_str(e != NULL ? e->user : NULL, "nbcommunity", "wrapper owner nbcommunity@localhost");
	e = listed(l, n, "8176904");
	ok(e != NULL && e->st.state == SCHED_RUNNING, "wrapper R");
	is_str(e != NULL ? e->st.node : NULL, "vm", "wrapper node");
	sched_listed_free(l, n);

	buf = xmalloc(64 + 2000 * 5 + 1);
	len = snprintf(buf, 64, "Job Id: 7.srv\n    job_state = Q\n    comment = a\n");
	for (i = 0; i < 2000; i++, len += 5)
		memcpy(buf + len, "\txyz\n", 5);	/* 6000 bytes of continuation */
	buf[len] = '\0';
	output(&o, 0, buf, "");
	ops->list_parse(&o, &l, &n, &cause);
	ok(n == 1 && l[0].st.reason[0] == 'a' && strlen(l[0].st.reason) <= 4096 &&
	    strlen(l[0].st.reason) > 4000, "a wrapped value stops growing at 4 KB");
	sched_listed_free(l, n);
	free(buf);

	l = (struct sched_listed *)1;
	output(&o, 153, "", "");
	ok(ops->list_parse(&o, &l, &n, &cause) == 0 && n == 0 && l == NULL,
	    "wrapper with no jobs (exit 153, silent): an empty list");
	output(&o, 0, "", "");
	ok(ops->list_parse(&o, &l, &n, &cause) == 0 && n == 0, "PBS Pro with no jobs");
	output(&o, 1, "", "qstat: cannot connect to server pbs01 (errno=111)\n");
	ok(ops->list_parse(&o, &l, &n, &cause) == -1, "server down: listing fails");
	is_str(cause, "qstat: cannot connect to server pbs01 (errno=111)", "cause in qstat's words");
	free(cause);
}

static void
test_slurmlib_list(void)
{
	const struct sched_ops		*ops = sched_find("slurm-lib");
	struct sched_listed		*l = NULL;
	struct sched_output		 o;
	struct sched_argv		 a = { NULL, 0 };
	char				*cause = NULL;
	size_t				 n = 0;

	setenv("NBGATE_SLURMLIB", "/opt/x/nbgate-slurmlib", 1);
	ok(ops != NULL && ops->list_argv(&a, "alice", &cause) == 0 && a.n == 3 &&
	    strcmp(a.v[0], "/opt/x/nbgate-slurmlib") == 0 && strcmp(a.v[1], "list") == 0 &&
	    strcmp(a.v[2], "alice") == 0, "helper: list USER");
	sched_argv_clear(&a);
	ok(ops->list_argv(&a, NULL, &cause) == 0 && a.n == 2 && strcmp(a.v[1], "list") == 0,
	    "helper: list (our own jobs)");
	sched_argv_clear(&a);
	ok(ops->list_argv(&a, "$(id)", &cause) == -1, "bad user name refused");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);
	unsetenv("NBGATE_SLURMLIB");

	output(&o, 0, "{\"id\":8176903,\"state\":\"PENDING\",\"reason\":\"JobHeldUser\","
	    "\"name\":\"nbgate-alice|x\",\"comment\":\"nbgate:user=alice:session=3\","
	    "\"user\":\"nbcommunity\",\"start_time\":0}\n"
	    "not json\n[1,2]\n{\"state\":\"RUNNING\"}\n"
	    "{\"id\":8176904,\"state\":\"RUNNING\",\"nodes\":\"vm\",\"name\":\"nbgate-alice\","
	    "\"user\":\"nbcommunity\",\"start_time\":1795781984}\n"
	    "{\"id\":8176905,\"state\":\"COMPLETED\",\"exit_code\":0,\"signal\":0}\n", "");
	ok(ops->list_parse(&o, &l, &n, &cause) == 0, "helper's job lines parsed");
	is_int(n, 2, "ended job and junk lines left out");
	if (n == 2) {
		is_str(l[0].id, "8176903", "id as text");
		is_str(l[0].comment, "nbgate:user=alice:session=3", "comment");
		is_str(l[0].name, "nbgate-alice|x", "name");
		ok(l[0].st.state == SCHED_PENDING && strcmp(l[0].st.reason, "JobHeldUser") == 0,
		    "pending, reason");
		ok(l[1].st.state == SCHED_RUNNING && l[1].comment == NULL &&
		    strcmp(l[1].user, "nbcommunity") == 0, "running, no comment, user");
	}
	sched_listed_free(l, n);
	output(&o, 1, "{\"error\":\"unknown user nosuch\"}\n", "");
	ok(ops->list_parse(&o, &l, &n, &cause) == -1, "helper failure fails the listing");
	is_str(cause, "unknown user nosuch", "cause from the helper's error line");
	free(cause);
}

/* --- sched_list() over a local transport and a stand-in qstat ------------------------- */

struct list_result {
	int		 calls;
	size_t		 n;
	char		*ids;		/* space-separated */
	char		*cause;
};

/* A callback ran: what it was told, ids to follow. */
static void
result_set(struct list_result *r, size_t n, const char *cause)
{
	r->calls++;
	r->n = n;
	r->cause = cause != NULL ? xstrdup(cause) : NULL;
	r->ids = xstrdup("");
}

static void
result_add(struct list_result *r, const char *id)
{
	char	*s;

	xasprintf(&s, "%s%s%s", r->ids, *r->ids != '\0' ? " " : "", id);
	free(r->ids);
	r->ids = s;
}

static void
list_cb(const struct sched_listed *l, size_t n, const char *cause, void *arg)
{
	size_t	i;

	result_set(arg, n, cause);
	for (i = 0; i < n; i++)
		result_add(arg, l[i].id);
}

static void
usage_cb(const struct sched_used *u, size_t n, const char *cause, void *arg)
{
	result_set(arg, n, cause);
	for (; n > 0; n--, u++)
		result_add(arg, u->id);
}

/* Writes @dir/@name: a shell script of @body (a stand-in scheduler command). */
static void
standin(const char *dir, const char *name, const char *body)
{
	char	*path;
	FILE	*f;

	xasprintf(&path, "%s/%s", dir, name);
	if ((f = fopen(path, "w")) != NULL) {
		fprintf(f, "#!/bin/sh\n%s\n", body);
		fclose(f);
	}
	chmod(path, 0755);
	free(path);
}

/* Runs the loop until a callback counted in @r came (5 s at most). */
static void
result_wait(struct event_base *base, const struct list_result *r)
{
	struct timeval	 tv = { 0, 10000 };
	int		 i;

	for (i = 0; i < 500 && r->calls == 0; i++) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

/* Runs sched_list(user) until its callback, with qstat printing out (exit status rc). */
static void
list_run(struct event_base *base, struct sched *s, const char *dir, const char *out, int rc,
    const char *user, struct list_result *r)
{
	char	*path, *body;
	FILE	*f;

	memset(r, 0, sizeof *r);
	xasprintf(&path, "%s/out", dir);
	if ((f = fopen(path, "w")) != NULL) {
		fputs(out, f);
		fclose(f);
	}
	free(path);
	xasprintf(&body, "cat '%s/out'\n[ %d = 0 ] || echo 'qstat: the stand-in "
	    "failed' >&2\nexit %d", dir, rc, rc);
	standin(dir, "qstat", body);
	free(body);
	sched_list(s, user, list_cb, r);
	result_wait(base, r);
}

/* Runs sched_usage() until its callback, with sacct being the script @body. */
static void
usage_run(struct event_base *base, struct sched *s, const char *dir, const char *body,
    int timeout, struct list_result *r)
{
	memset(r, 0, sizeof *r);
	standin(dir, "sacct", body);
	sched_usage(s, "2026-11-01T00:00:00", timeout, usage_cb, r);
	result_wait(base, r);
}

static void
list_result_clear(struct list_result *r)
{
	free(r->ids);
	free(r->cause);
}

/* sched_usage() over a stand-in sacct in @dir, on @tr (proc.c reaps on the first loop only). */
static void
test_sched_usage(struct event_base *base, struct transport *tr, const char *dir)
{
	struct sched		*s, *pbs;
	struct list_result	 r;

	s = sched_new(base, &sched_slurm_ops, tr, "slurm-test");
	usage_run(base, s, dir, "[ \"$4 $5\" = '-S 2026-11-01T00:00:00' ] || exit 3\n"
	    "printf '42|u|a|2|61|c\\n43|u|a|x|1|\\n44|u|a|1|1|\\n'", 0, &r);
	ok(r.calls == 1 && r.cause == NULL, "sched_usage: one answer, no cause");
	is_str(r.ids, "42 44", "sacct's jobs, since the time asked for");
	list_result_clear(&r);
	usage_run(base, s, dir, "echo 'no database' >&2; exit 1", 0, &r);
	is_str(r.cause, "sacct: exit 1: no database\n", "sacct failed: its status and words");
	list_result_clear(&r);
	usage_run(base, s, dir, "sleep 5", 200, &r);
	is_str(r.cause, "sacct: timed out", "the caller's timeout: sacct: timed out");
	list_result_clear(&r);
	is_int(sched_calls(s), 3, "each a scheduler command of the cluster's bridge");

	pbs = sched_new(base, &sched_pbs_ops, tr, "pbs-test");
	memset(&r, 0, sizeof r);
	sched_usage(pbs, "2026-11-01T00:00:00", 0, usage_cb, &r);
	is_int(r.calls, 0, "PBS: no callback under the caller's feet");
	event_base_loop(base, EVLOOP_NONBLOCK);
	ok(r.calls == 1 && r.n == 0, "then one from the loop");
	is_str(r.cause, "this scheduler keeps no accounting", "PBS: not supported");
	list_result_clear(&r);
	sched_free(pbs);
	sched_free(s);
}

static void
test_sched_list(void)
{
	static const char mixed[] =
	    "Job Id: 10.srv\n    Job_Owner = alice@login\n    job_state = R\n\n"
	    "Job Id: 11.srv\n    Job_Owner = bob@login\n    job_state = Q\n\n"
	    "Job Id: 12.srv\n    job_state = Q\n\n"
	    "Job Id: 13.srv\n    Job_Owner = alice@login\n    job_state = C\n\n"
	    "Job Id: 14.srv\n    Job_Owner = alice2@login\n    job_state = Q\n\n"
	    "Job Id: 15.srv\n    Job_Owner = alice@other\n    job_state = H\n";
	struct sched_ops		 nolist = sched_pbs_ops;
	struct transport_config		 cfg;
	struct event_base		*base = util_event_base_new();
	struct transport		*tr;
	struct sched			*s, *s2;
	struct list_result		 r;
	char				 dir[] = "/tmp/nbgate-test-list.XXXXXX", *cause = NULL;
	char				*path;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		event_base_free(base);
		return;
	}
	memset(&cfg, 0, sizeof cfg);
	cfg.kind = TRANSPORT_LOCAL;
	cfg.name = "test";
	xasprintf(&path, "%s:/usr/bin:/bin", dir);
	cfg.path = path;
	if (!ok((tr = transport_new(base, &cfg, &cause)) != NULL, "local transport")) {
		tap_diag("%s", cause);
		free(cause);
		free(path);
		event_base_free(base);
		return;
	}
	s = sched_new(base, &sched_pbs_ops, tr, "pbs-test");

	list_run(base, s, dir, mixed, 0, "alice", &r);
	is_int(r.calls, 1, "one callback");
	ok(r.cause == NULL, "no cause");
	is_str(r.ids, "10.srv 15.srv", "sched_list(alice) keeps alice's unfinished jobs only "
	    "(not bob's, the owner-less one, the C one, or alice2's)");
	list_result_clear(&r);
	list_run(base, s, dir, mixed, 0, NULL, &r);
	is_str(r.ids, "10.srv 11.srv 12.srv 14.srv 15.srv", "no user: every unfinished job");
	list_result_clear(&r);
	list_run(base, s, dir, "", 1, NULL, &r);
	ok(r.calls == 1 && r.n == 0, "failed qstat: no jobs");
	is_str(r.cause, "qstat: the stand-in failed", "cause is qstat's own stderr line");
	list_result_clear(&r);
	is_int(sched_calls(s), 3, "three commands so far");
	list_run(base, s, dir, mixed, 0, "alice;id", &r);
	has_str(r.cause, "invalid user name", "bad user name: refused from the loop");
	is_int(sched_calls(s), 3, "and no command ran");
	list_result_clear(&r);

	nolist.list_argv = NULL;
	nolist.list_parse = NULL;
	s2 = sched_new(base, &nolist, tr, "nolist");
	memset(&r, 0, sizeof r);
	sched_list(s2, NULL, list_cb, &r);
	is_int(r.calls, 0, "unsupported: no callback under the caller's feet");
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(r.calls, 1, "then one from the loop");
	has_str(r.cause, "cannot list jobs", "unsupported backend says so");
	list_result_clear(&r);

	memset(&r, 0, sizeof r);
	sched_req_cancel(sched_list(s, NULL, list_cb, &r));
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(r.calls, 0, "a cancelled listing calls nobody");

	test_sched_usage(base, tr, dir);
	sched_free(s2);
	sched_free(s);
	transport_free(tr);
	event_base_free(base);
	if (tap_rmtree(dir) != 0)
		tap_diag("could not remove %s", dir);
	free(path);
}

static void
test_ids(void)
{
	static const struct {
		const char	*s;
		int		 valid;
	} t[] = {
		{ "123", 1 }, { "123.pbs01.example.org", 1 }, { "123_4", 1 }, { "12[3]", 1 },
		{ "a-b", 1 }, { "", 0 }, { "-1", 0 }, { "1;2", 0 }, { "1 2", 0 }, { "1'2", 0 },
		{ "$(id)", 0 }, { "1\n2", 0 }, { "1,2", 0 }, { "1\xc3\xa9", 0 }, { "1/2", 0 },
		{ "12345678901234567890123456789012345678901234567890123456789012345", 0 },
	};
	size_t	i;
	int	good = 0;

	for (i = 0; i < nitems(t); i++)
		good += sched_id_valid(t[i].s) == t[i].valid;
	is_int(good, nitems(t), "job id charset (%zu cases)", nitems(t));
	ok(sched_name_valid("alloc_alice") && !sched_name_valid("a[1]") &&
	    !sched_name_valid("-x") && !sched_name_valid("a b"), "user/account charset");
	ok(sched_id_match("123", "123.srv") && sched_id_match("123.srv", "123") &&
	    !sched_id_match("123.a", "123.b") && !sched_id_match("12", "123.srv"), "id matching");
}

static void
test_durations(void)
{
	int	s = 0;

	ok(sched_parse_duration("1:00:00", &s) == 0 && s == 3600, "1:00:00");
	ok(sched_parse_duration("1-02:00:00", &s) == 0 && s == 93600, "1-02:00:00");
	ok(sched_parse_duration("30", &s) == 0 && s == 1800, "30 (minutes)");
	ok(sched_parse_duration("05:30", &s) == 0 && s == 330, "MM:SS");
	ok(sched_parse_duration("infinite", &s) == 0 && s == -1, "infinite");
	ok(sched_parse_duration("1:2:3:4", &s) == -1, "too many fields");
	ok(sched_parse_duration("x", &s) == -1 && sched_parse_duration("", &s) == -1 &&
	    sched_parse_duration("1:", &s) == -1, "junk refused");
}

/* Every word must come back from a real shell exactly as it went in. */
static void
test_quote(void)
{
	const char *const words[] = { "plain", "", "it's", "''", "$(touch /tmp/nbgate-pwned)",
	    "`id`", "a b\tc", "line1\nline2", "back\\slash", "\"dq\"", "*", "~", "-n", "x;y|z&",
	    "!", "%s", NULL };
	const char *const one[] = { "a'b", NULL };
	char	*q, *line, *cmd, buf[4096], want[4096] = "";
	FILE	*p;
	size_t	 n, i;

	is_str(q = transport_quote(""), "''", "empty word");
	free(q);
	is_str(q = transport_quote("it's"), "'it'\\''s'", "single quote closed and escaped");
	free(q);
	is_str(q = transport_join(one), "'a'\\''b'", "join");
	free(q);
	line = transport_join(words);
	xasprintf(&cmd, "printf '[%%s]' %s", line);
	for (i = 0, n = 0; words[i] != NULL; i++)
		n += snprintf(want + n, sizeof want - n, "[%s]", words[i]);
	if ((p = popen(cmd, "r")) != NULL) {
		n = fread(buf, 1, sizeof buf - 1, p);
		buf[n] = '\0';
		pclose(p);
	} else
		buf[0] = '\0';
	is_str(buf, want, "sh sees every nasty word unchanged");
	ok(access("/tmp/nbgate-pwned", F_OK) == -1, "nothing was executed");
	free(cmd);
	free(line);
}

/* A job's hosts for binding its agent: scontrol NodeAddr, PBS exec_host. */
static void
test_nodes(void)
{
	const struct sched_ops	*ops = &sched_slurm_ops;
	struct sched_output	 o;
	struct sched_argv	 a = { NULL, 0 };
	char			**v = NULL, *cause = NULL, *s;
	size_t			 n = 0;

	ok(ops->nodes_argv(&a, "42", "n[01-02],gpu7", &cause) == 0, "scontrol argv");
	is_str(s = argv_str(&a), "'scontrol' '-o' 'show' 'node' 'n[01-02],gpu7'",
	    "scontrol -o show node with the hostlist as one word");
	free(s);
	sched_argv_clear(&a);
	ok(ops->nodes_argv(&a, "42", "-n1", &cause) == -1, "option-like node list refused");
	free(cause);
	cause = NULL;
	ok(ops->nodes_argv(&a, "42", "n1;reboot", &cause) == -1, "shell bytes refused");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);
	output(&o, 0, "NodeName=n01 Arch=x86_64 CoresPerSocket=8  CPUAlloc=3 "
	    "NodeAddr=10.1.0.1 NodeHostName=n01 Version=22.05.8 OS=Linux 6.1 #1 SMP\n"
	    "NodeName=n02 Arch=x86_64 NodeAddr=n02-ib NodeHostName=n02 State=MIXED\n"
	    "NodeName=n03 Arch=x86_64 State=MIXED\n", "");
	ok(ops->nodes_parse(&o, &v, &n, &cause) == 0, "scontrol -o show node parsed");
	ok(n == 3 && strcmp(v[0], "10.1.0.1") == 0 && strcmp(v[1], "n02-ib") == 0 &&
	    strcmp(v[2], "n03") == 0, "each node's NodeAddr (NodeName without one)");
	sched_strings_free(v, n);
	output(&o, 1, "", "slurm_load_node error: Invalid node name specified\n");
	ok(ops->nodes_parse(&o, &v, &n, &cause) == -1, "scontrol error is a failure");
	has_str(cause, "Invalid node name", "with scontrol's words");
	free(cause);
	cause = NULL;

	ops = &sched_pbs_ops;
	v = NULL;
	n = 0;
	ok(ops->nodes_argv(&a, "42.pbs01", NULL, &cause) == 0, "qstat argv");
	is_str(s = argv_str(&a), "'qstat' '-f' '42.pbs01'", "qstat -f ID");
	free(s);
	sched_argv_clear(&a);
	output(&o, 0, "Job Id: 42.pbs01\n    job_state = R\n"
	    "    exec_host = n01/0*2+n02/1+n01/3\n", "");
	ok(ops->nodes_parse(&o, &v, &n, &cause) == 0, "qstat -f parsed");
	ok(n == 2 && strcmp(v[0], "n01") == 0 && strcmp(v[1], "n02") == 0,
	    "exec_host: every host once, without its CPUs");
	sched_strings_free(v, n);
	ok(sched_nodelist_valid("n[001-128],login-2.cluster") &&
	    !sched_nodelist_valid("") && !sched_nodelist_valid("a b"),
	    "node list charset");
}

/* Extend: scontrol update in whole minutes; a refusal in SLURM's own words. */
static void
test_slurm_extend(void)
{
	const struct sched_ops	*ops = &sched_slurm_ops;
	struct sched_argv	 a = { NULL, 0 };
	struct sched_output	 o;
	char			*cause = NULL, *s;

	ok(ops->extend_argv(&a, "7706405", 181, &cause) == 0, "extend argv built");
	is_str(s = argv_str(&a), "'scontrol' 'update' 'JobId=7706405' 'TimeLimit=4'",
	    "scontrol update, seconds rounded up to minutes");
	free(s);
	sched_argv_clear(&a);
	ok(ops->extend_argv(&a, "1;reboot", 60, &cause) == -1 && cause != NULL,
	    "a bad job id is refused");
	free(cause);
	cause = NULL;
	sched_argv_clear(&a);
	output(&o, 0, "", "");
	ok(ops->extend_parse(&o, "7706405", &cause) == 0, "exit 0: extended");
	output(&o, 1, "", "slurm_update error: Access/permission denied\n");
	ok(ops->extend_parse(&o, "7706405", &cause) == -1, "exit 1: refused");
	is_str(cause, "slurm_update error: Access/permission denied", "in scontrol's words");
	free(cause);
	ok(sched_pbs_ops.extend_argv == NULL, "PBS: no extend (not written yet)");
}

/* #SBATCH --signal (the early end, sessions.walltime_signal) as libslurm gets it. */
static void
test_sbatch_signal(void)
{
	struct sbatch_opts	 o;
	char			*cause = NULL;

	memset(&o, 0, sizeof o);
	is_int(sbatch_parse("#!/bin/sh\n#SBATCH --signal=B:USR1@90\n#SBATCH "
	    "--time=10\ntrue\n", &o, &cause), 0, "sbatch: --signal=B:USR1@90 is read");
	ok(o.warn_signal == SIGUSR1 && o.warn_time == 90 && o.warn_batch &&
	    o.time_min == 10, "sbatch: USR1, 90 s before the end, to the batch shell");
	sbatch_opts_clear(&o);
	memset(&o, 0, sizeof o);
	is_int(sbatch_parse("#!/bin/sh\n#SBATCH --signal=SIGTERM\ntrue\n", &o,
	    &cause), 0, "sbatch: --signal=SIGTERM is read");
	ok(o.warn_signal == SIGTERM && o.warn_time == 60 && !o.warn_batch,
	    "sbatch: TERM, sbatch's default 60 s, to every step");
	sbatch_opts_clear(&o);
	memset(&o, 0, sizeof o);
	is_int(sbatch_parse("#!/bin/sh\n#SBATCH --signal=B:KILLALL@1\ntrue\n", &o,
	    &cause), -1, "sbatch: an unknown signal is refused");
	ok(cause != NULL, "sbatch: ... with a cause (%s)", cause ? cause : "none");
	free(cause);
	sbatch_opts_clear(&o);
}

int
main(void)
{
	log_init("test-sched-parse", LOG_WARN);
	test_slurm_extend();
	test_sbatch_signal();
	test_nodes();
	test_slurm_submit();
	test_slurm_query();
	test_slurm_history();
	test_slurm_misc();
	test_mapping();
	test_pbs();
	test_slurm_list();
	test_pbs_list();
	test_slurmlib_list();
	test_sched_list();
	test_ids();
	test_durations();
	test_quote();
	return (tap_done());
}
