/*
 * test-usage: accounting for GET /hub/api/usage: the SLURM backend's sacct
 * command and its lines (JobID|User|Account|AllocCPUS|ElapsedRaw|Comment),
 * and daemon/web/usage.c's reading of a job comment ("nbgate:user=U:session=N")
 * into the gateway user sacct's numbers count for. (sched_usage() over a
 * stand-in sacct: test-sched-parse.)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "scheduler/backend.h"
#include "tests/unit/tap.h"

/* sacct -X -P -n lines as usage reads them, each with a twist. */
static const char slurm_usage_out[] =
    "42|nbcommunity|community|2|61|nbgate:user=ursula:session=7\n"
    "43|nbcommunity|community|4|10|\n"
    "44|x|y|1|5|nbgate:user=a.b-c:session=1|extra\n"
    "45|x|y|1|5|someone else's job\n"
    "47|x|y|-1|5|nbgate:user=u:session=1\n"
    "48|x|y|2|5s|nbgate:user=u:session=1\n"
    "49|x|y|2\n"
    "\n"
    "|x|y|2|5|\n";

/* 1 if a job of that id was read. */
static int
used_has(const struct sched_used *u, size_t n, const char *id)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strcmp(u[i].id, id) == 0)
			return (1);
	}
	return (0);
}

static void
test_slurm_usage(void)
{
	const struct sched_ops	*ops = &sched_slurm_ops;
	struct sched_used	*u = NULL;
	size_t			 n = 0;
	char			*cause = NULL;
	struct sched_argv	 a = { NULL, 0 };
	struct sched_output	 o = { 0, slurm_usage_out, sizeof slurm_usage_out - 1, "", 0 };

	ok(ops->usage_argv(&a, "2026-11-01T00:00:00", &cause) == 0 && a.n == 7, "sacct argv");
	if (a.n == 7) {
		is_str(a.v[0], "sacct", "sacct");
		is_str(a.v[1], "-X", "allocations only");
		is_str(a.v[5], "2026-11-01T00:00:00", "since");
		is_str(a.v[6], "--format=JobID,User,Account,AllocCPUS,ElapsedRaw,Comment",
		    "its columns, the comment last");
	}
	sched_argv_clear(&a);
	ok(ops->usage_parse(&o, &u, &n, &cause) == 0, "sacct parsed");
	is_int(n, 4, "4 jobs; bad numbers, a short line, an empty one, no job id skipped");
	ok(!used_has(u, n, "47"), "negative cores refused");
	ok(!used_has(u, n, "48"), "non-numeric elapsed refused");
	ok(!used_has(u, n, "49"), "short line refused");
	ok(!used_has(u, n, ""), "empty line and a line without a job id refused");
	if (n == 4) {
		is_str(u[0].id, "42", "job id");
		is_str(u[0].user, "nbcommunity", "User");
		is_str(u[0].account, "community", "Account");
		is_int(u[0].cpus, 2, "AllocCPUS");
		is_int(u[0].secs, 61, "ElapsedRaw");
		is_str(u[0].comment, "nbgate:user=ursula:session=7", "Comment");
		is_str(u[1].id, "43", "no comment (slurmdbd without job_comment): kept");
		is_str(u[1].comment, "", "its comment is empty");
		is_int(u[1].cpus * u[1].secs, 40, "its cores and seconds");
		is_str(u[2].comment, "nbgate:user=a.b-c:session=1|extra",
		    "a comment holding '|' stays whole");
		is_str(u[3].comment, "someone else's job", "a foreign comment is the caller's to judge");
	}
	sched_used_free(u, n);
	u = NULL;
	n = 0;
	ok(ops->usage_argv(&a, "--help", &cause) == -1 && a.n == 0,
	    "a start that is not a time refused, nothing built");
	free(cause);
	cause = NULL;
	o.status = 1;
	o.err = "sacct: error: Problem talking to the database\n";
	o.errlen = strlen(o.err);
	ok(ops->usage_parse(&o, &u, &n, &cause) == -1 && n == 0, "sacct failed");
	is_str(cause, "sacct: exit 1: sacct: error: Problem talking to the database\n",
	    "the cause: sacct's exit status and stderr");
	free(cause);
	ok(sched_pbs_ops.usage_argv == NULL && sched_pbs_ops.usage_parse == NULL,
	    "PBS keeps no accounting here");
	ok(sched_slurmlib_ops.usage_argv != NULL, "libslurm backend: sacct too");
}

static void
test_comment_user(void)
{
	char	*user;

	user = usage_comment_user("nbgate:user=ursula:session=7");
	ok(user != NULL, "the gateway's comment names a user");
	is_str(user, "ursula", "user from the comment");
	free(user);

	ok(usage_comment_user("") == NULL,
	    "no comment (slurmdbd without job_comment): no user; counted by job id");

	user = usage_comment_user("nbgate:user=a.b-c:session=1|extra");
	ok(user != NULL, "a comment holding '|'");
	is_str(user, "a.b-c", "user before the first ':'");
	free(user);

	ok(usage_comment_user("someone else's job") == NULL, "a foreign comment is skipped");
	ok(usage_comment_user("nbgate:user=Bad;rm:session=1") == NULL,
	    "an invalid user name is skipped");
	ok(usage_comment_user("nbgate:user=u") == NULL, "comment without session refused");
	ok(usage_comment_user("nbgate:user=") == NULL, "comment cut short refused");
}

int
main(void)
{
	test_slurm_usage();
	test_comment_user();
	return (tap_done());
}
