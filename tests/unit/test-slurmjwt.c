/*
 * test-slurmjwt.c: slurmjwt.c's tokens, checked against one made independently
 * (Python's hmac and base64 over the same claims), and its refusals.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/backend.h"
#include "tests/unit/tap.h"

int
main(void)
{
	static const char	 key[] = "testkey-0123456789\n";
	char			*t, *cause = NULL;

	t = slurmjwt_token((const unsigned char *)key, strlen(key), "alice", 1700000000, 600,
	    &cause);
	is_str(t, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
	    "eyJleHAiOjE3MDAwMDA2MDAsImlhdCI6MTcwMDAwMDAwMCwic3VuIjoiYWxpY2UifQ."
	    "x6aFUte7hcsoaPNQlN7mjz2cQJX2khOhRncif9sBEig",
	    "HS256 token: header, exp/iat/sun claims, signature as computed elsewhere");
	free(t);
	t = slurmjwt_token((const unsigned char *)key, strlen(key) - 1, "alice", 1700000000,
	    600, &cause);
	ok(t != NULL && strstr(t, "x6aFUte7hcsoaPNQlN7mjz2cQJX2khOhRncif9sBEig") == NULL,
	    "another key, another signature");
	free(t);
	ok(slurmjwt_token((const unsigned char *)key, strlen(key), "al\"ice", 1, 600,
	    &cause) == NULL && cause != NULL, "a user name that is not a scheduler name is refused");
	free(cause);
	cause = NULL;
	ok(slurmjwt_token((const unsigned char *)key, 0, "alice", 1, 600, &cause) == NULL,
	    "an empty key is refused");
	free(cause);
	cause = NULL;
	ok(slurmjwt_token((const unsigned char *)key, strlen(key), "alice", 1, 0, &cause) ==
	    NULL, "a lifetime of 0 is refused");
	free(cause);
	return (tap_done());
}
