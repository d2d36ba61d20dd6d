/*
 * status.c: the one place an error kind (enum result_kind, common.h)
 * becomes an HTTP status, for every page and API call that answers one.
 */
#include "config.h"

#include "daemon/web/web.h"

static const int status_codes[] = {
	[RESULT_OK] = 200,
	[RESULT_INVALID] = 400,
	[RESULT_EXPIRED] = 401,
	[RESULT_DENIED] = 403,
	[RESULT_NOT_FOUND] = 404,
	[RESULT_CONFLICT] = 409,
	[RESULT_LIMIT] = 429,
	[RESULT_INTERNAL] = 500,
	[RESULT_UNAVAILABLE] = 503,
};

/* The HTTP status that answers @res (500 for a kind it does not know). */
int
status_code(enum result_kind res)
{
	if ((size_t)res >= nitems(status_codes) || status_codes[res] == 0)
		return (500);
	return (status_codes[res]);
}
