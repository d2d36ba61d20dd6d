/*
 * test-hub: web/hub.c's route table: every pattern parses, no entry shadows
 * another, and paths reach the entries a reader of the table expects.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

/* A method and path, and the pattern of the entry it reaches (NULL: none). */
static const struct {
	const char	*method, *path, *pattern;
} cases[] = {
	{ "GET", "/hub/api/user", "/hub/api/user" },
	{ "GET", "/hub/api/users", "/hub/api/users" },
	{ "GET", "/hub/api/users/alice", "/hub/api/users/{user}" },
	{ "GET", "/hub/api/users/alice/", NULL },
	{ "POST", "/hub/api/users/alice", NULL },
	{ "POST", "/hub/api/users/alice/server", "/hub/api/users/{user}/server" },
	{ "PUT", "/hub/api/users/alice/server", NULL },
	{ "GET", "/hub/api/users/alice/server/progress", "/hub/api/users/{user}/server/progress" },
	{ "DELETE", "/hub/api/users/alice/servers/lab", "/hub/api/users/{user}/servers/{server}" },
	{ "GET", "/hub/api/users/alice/servers/lab/progress", "/hub/api/users/{user}/servers/{server}/progress" },
	{ "GET", "/hub/api/users/alice/servers/lab/x", NULL },
	{ "GET", "/hub/api/users/Alice/server", NULL },	/* an invalid user */
	{ "POST", "/hub/api/users/alice/tokens", "/hub/api/users/{user}/tokens" },
	{ "PUT", "/hub/api/routes/alice/lab", "/hub/api/routes/{route*}" },
	{ "DELETE", "/hub/api/routes/alice", "/hub/api/routes/{route*}" },
	{ "GET", "/hub/api/routes", "/hub/api/routes" },
	{ "DELETE", "/hub/api/tokens/abc", "/hub/api/tokens/{id*}" },
	{ "POST", "/hub/api/services/gw/tokens", "/hub/api/services/{service}/tokens" },
	{ "POST", "/hub/api/services/gw", NULL },
	{ "GET", "/hub/api/sessions/12", "/hub/api/sessions/{session}" },
	{ "GET", "/hub/api/sessions/12/x", NULL },
	{ "POST", "/hub/api/status", NULL },
	{ "GET", "/hub/metrics", "/hub/metrics" },
	{ "HEAD", "/hub/home", "/hub/home" },
	{ "POST", "/hub/spawn/lab", "/hub/spawn/{page*}" },
	{ "GET", "/hub/spawn-pending", "/hub/spawn-pending" },
	{ "GET", "/hub/spawnx", NULL },
	{ "GET", "/hub/admin/users/alice", "/hub/admin/{page*}" },
	{ "GET", "/hub/oauth_callback", "/hub/oauth_callback" },
	{ "GET", "/", "/" },
	{ "GET", "/hub/api", NULL },
	{ "GET", "/user/alice/lab", NULL },
};

int
main(void)
{
	const char	*got;
	char		*cause = NULL;
	size_t		 i;

	ok(hub_table_check(&cause) == 0, "the table is consistent: %s",
	    cause != NULL ? cause : "ok");
	free(cause);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		got = hub_lookup(cases[i].method, cases[i].path);
		ok(cases[i].pattern == NULL ? got == NULL : got != NULL &&
		    strcmp(got, cases[i].pattern) == 0, "%s %s: %s (got %s)",
		    cases[i].method, cases[i].path, cases[i].pattern != NULL ?
		    cases[i].pattern : "none", got != NULL ? got : "none");
	}
	return (tap_done());
}
