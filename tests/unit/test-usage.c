/*
 * test-usage: daemon/usage.c's reading of sacct -P lines
 * (JobID|User|Account|AllocCPUS|ElapsedRaw|Comment).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

static int
parse(const char *text, const char **job, char **user, long long *cpus, long long *secs)
{
	static char	 buf[512];

	snprintf(buf, sizeof buf, "%s", text);
	return (usage_sacct_parse(buf, job, user, cpus, secs));
}

int
main(void)
{
	const char	*job;
	char		*user;
	long long	 cpus, secs;

	ok(parse("42|nbcommunity|community|2|61|nbgate:user=ursula:session=7", &job, &user,
	    &cpus, &secs) == 0, "a full line parses");
	is_str(job, "42", "job id");
	is_str(user, "ursula", "user from the comment");
	is_int(cpus, 2, "AllocCPUS");
	is_int(secs, 61, "ElapsedRaw");
	free(user);

	ok(parse("43|nbcommunity|community|4|10|", &job, &user, &cpus, &secs) == 0 &&
	    user == NULL, "no comment (slurmdbd without job_comment): parses, no user");
	is_str(job, "43", "its job id, for the lookup by id");

	ok(parse("44|x|y|1|5|nbgate:user=a.b-c:session=1|extra", &job, &user, &cpus,
	    &secs) == 0, "a comment holding '|'");
	is_str(user, "a.b-c", "user before the first ':'");
	free(user);

	ok(parse("45|x|y|1|5|someone else's job", &job, &user, &cpus, &secs) == -1,
	    "a foreign comment is skipped");
	ok(parse("46|x|y|1|5|nbgate:user=Bad;rm:session=1", &job, &user, &cpus,
	    &secs) == -1 && user == NULL, "an invalid user name is skipped");
	ok(parse("47|x|y|-1|5|nbgate:user=u:session=1", &job, &user, &cpus, &secs) == -1,
	    "negative cores refused");
	ok(parse("48|x|y|2|5s|nbgate:user=u:session=1", &job, &user, &cpus, &secs) == -1,
	    "non-numeric elapsed refused");
	ok(parse("49|x|y|2", &job, &user, &cpus, &secs) == -1, "short line refused");
	ok(parse("", &job, &user, &cpus, &secs) == -1, "empty line refused");
	ok(parse("|x|y|2|5|", &job, &user, &cpus, &secs) == -1, "no job id refused");
	ok(parse("50|x|y|2|5|nbgate:user=u", &job, &user, &cpus, &secs) == -1,
	    "comment without session refused");
	return (tap_done());
}
