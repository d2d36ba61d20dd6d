/*
 * test-sched-parse.c: the SLURM and PBS backends' argv builders and output
 * parsers against captured real output (tests/unit/data/sched/), the state
 * mapping tables, id validation and the SSH transport's quoting.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "scheduler/backend.h"
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

static void
output(struct sched_output *o, int status, const char *out, const char *err)
{
	o->status = status;
	o->out = out;
	o->outlen = strlen(out);
	o->err = err;
	o->errlen = strlen(err);
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
	is_str(s = argv_str(&a), "'squeue' '-h' '-t' 'all' '-o' '%i|%T|%r|%S|%N' '-j' "
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

int
main(void)
{
	log_init("test-sched-parse", LOG_WARN);
	test_slurm_submit();
	test_slurm_query();
	test_slurm_history();
	test_slurm_misc();
	test_mapping();
	test_pbs();
	test_ids();
	test_durations();
	test_quote();
	return (tap_done());
}
