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

static void
reaches(const char *method, const char *path, const char *pattern)
{
	const char	*got = hub_lookup(method, path);

	if (pattern == NULL)
		ok(got == NULL, "%s %s: no entry (got %s)", method, path,
		    got != NULL ? got : "none");
	else
		ok(got != NULL && strcmp(got, pattern) == 0, "%s %s: %s (got %s)",
		    method, path, pattern, got != NULL ? got : "none");
}

int
main(void)
{
	char	*cause = NULL;

	ok(hub_table_check(&cause) == 0, "the table is consistent: %s",
	    cause != NULL ? cause : "ok");
	free(cause);

	reaches("GET", "/hub/api/user", "/hub/api/user");
	reaches("GET", "/hub/api/users", "/hub/api/users");
	reaches("GET", "/hub/api/users/alice", "/hub/api/users/{user}");
	reaches("GET", "/hub/api/users/alice/", NULL);
	reaches("POST", "/hub/api/users/alice", NULL);
	reaches("POST", "/hub/api/users/alice/server", "/hub/api/users/{user}/server");
	reaches("PUT", "/hub/api/users/alice/server", NULL);
	reaches("GET", "/hub/api/users/alice/server/progress",
	    "/hub/api/users/{user}/server/progress");
	reaches("DELETE", "/hub/api/users/alice/servers/lab",
	    "/hub/api/users/{user}/servers/{server}");
	reaches("GET", "/hub/api/users/alice/servers/lab/progress",
	    "/hub/api/users/{user}/servers/{server}/progress");
	reaches("GET", "/hub/api/users/alice/servers/lab/x", NULL);
	reaches("GET", "/hub/api/users/Alice/server", NULL);	/* an invalid user */
	reaches("POST", "/hub/api/users/alice/tokens", "/hub/api/users/{user}/tokens");
	reaches("PUT", "/hub/api/routes/alice/lab", "/hub/api/routes/{route*}");
	reaches("DELETE", "/hub/api/routes/alice", "/hub/api/routes/{route*}");
	reaches("GET", "/hub/api/routes", "/hub/api/routes");
	reaches("DELETE", "/hub/api/tokens/abc", "/hub/api/tokens/{id*}");
	reaches("POST", "/hub/api/services/gw/tokens", "/hub/api/services/{service}/tokens");
	reaches("POST", "/hub/api/services/gw", NULL);
	reaches("GET", "/hub/api/sessions/12", "/hub/api/sessions/{session}");
	reaches("GET", "/hub/api/sessions/12/x", NULL);
	reaches("POST", "/hub/api/status", NULL);
	reaches("GET", "/hub/metrics", "/hub/metrics");
	reaches("HEAD", "/hub/home", "/hub/home");
	reaches("POST", "/hub/spawn/lab", "/hub/spawn/{page*}");
	reaches("GET", "/hub/spawn-pending", "/hub/spawn-pending");
	reaches("GET", "/hub/spawnx", NULL);
	reaches("GET", "/hub/admin/users/alice", "/hub/admin/{page*}");
	reaches("GET", "/hub/oauth_callback", "/hub/oauth_callback");
	reaches("GET", "/", "/");
	reaches("GET", "/hub/api", NULL);
	reaches("GET", "/user/alice/lab", NULL);
	return (tap_done());
}
