/*
 * test-usage: daemon/web/usage.c's reading of a job comment
 * ("nbgate:user=U:session=N") into the gateway user sacct's numbers are
 * counted for. (The sacct lines themselves: test-sched-parse.)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

int
main(void)
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
	return (tap_done());
}
