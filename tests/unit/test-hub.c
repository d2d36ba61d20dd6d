/*
 * test-hub: web/hub.c's route table: every pattern parses, no entry shadows
 * another, paths reach the entries a reader of the table expects; and who
 * gets which 400/401/403/404/405 from hub_dispatch().
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

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
	{ "GET", "/hub/api", "/hub/api" },
	{ "GET", "/hub/api/", "/hub/api/" },
	{ "POST", "/hub/api/users/alice/activity", "/hub/api/users/{user}/activity" },
	{ "DELETE", "/hub/api/users/alice/tokens/abc", "/hub/api/users/{user}/tokens/{token}" },
	{ "GET", "/hub/api/users/alice/tokens/abc/x", NULL },
	{ "GET", "/user/alice/lab", NULL },
};

/* Callers: the admin socket, users by their tokens, services' tokens. */
enum { SOCKET, ROOT, ALICE, NOBODY, GARBAGE, EXPIRED, REFUSED, SVC, SVC_RS, ALICE_RU,
    ROOT_LU, NCALLERS };
static char	*bearer[NCALLERS];

static const struct {
	int		 who;
	const char	*method, *path;
	int		 code;
	const char	*says;		/* in the body */
} answers[] = {
	{ NOBODY, "GET", "/hub/api/status", 403, "authentication required" },
	{ NOBODY, "GET", "/hub/api/nothing", 403, "authentication required" },
	{ GARBAGE, "GET", "/hub/api/users", 403, "not valid (unknown or revoked)" },
	{ EXPIRED, "GET", "/hub/api/users", 403, "has expired" },
	{ REFUSED, "GET", "/hub/api/user", 403, "this token is not valid" },
	{ ALICE, "GET", "/hub/api/status", 403, "an administrator's token" },
	{ ALICE, "GET", "/hub/api/users/bob/server", 403, "an administrator's token" },
	{ ALICE, "GET", "/hub/api/users/Bad!/server", 403, "an administrator's token" },
	{ ALICE, "POST", "/hub/api/users/alice", 403, "an administrator's token" },
	{ ALICE, "GET", "/hub/api/users/alice/server", 404, "no such server" },
	{ ALICE, "PUT", "/hub/api/users/alice/server", 405, "use GET, POST or DELETE" },
	{ ALICE, "GET", "/hub/api/users/alice/servers/Bad!", 400, "invalid server name" },
	{ ALICE, "GET", "/hub/api/user", 200, "\"alice\"" },
	{ ROOT, "GET", "/hub/api/nothing", 404, "no such API endpoint" },
	{ ROOT, "POST", "/hub/api/status", 404, "no such API endpoint" },
	{ ROOT, "GET", "/hub/api/users/Bad!/anything", 400, "invalid user name" },
	{ ROOT, "GET", "/hub/api/users/alice/servers//progress", 404, "no such API" },
	{ ROOT, "POST", "/hub/api/users/alice/servers/Bad!/progress", 405, "use GET" },
	{ ROOT, "PUT", "/hub/api/users/alice/servers/Bad!", 400, "invalid server name" },
	{ ROOT, "GET", "/hub/api/routes/alice", 405, "use POST or DELETE" },
	{ ROOT, "GET", "/hub/api/routes/Bad!", 400, "route name must be" },
	{ ROOT, "POST", "/hub/api/tokens", 405, "use GET" },
	{ ROOT, "GET", "/hub/api/services/Bad!/x", 400, "invalid service name" },
	{ ROOT, "GET", "/hub/api/services/gw/x", 404, "no such API endpoint" },
	{ ROOT, "GET", "/hub/api/sessions/x", 404, "no such API endpoint" },
	{ ROOT, "GET", "/hub/api/config/check", 409, "built-in configuration" },
	{ SOCKET, "GET", "/hub/api/user", 200, "admin-socket" },
	{ SOCKET, "GET", "/hub/health", 404, "the admin socket serves" },
	{ SOCKET, "GET", "/hub/nothing", 404, "the admin socket serves" },
	{ SVC, "GET", "/hub/api/status", 403, "an administrator's token" },
	{ SVC, "GET", "/hub/api/services/gw/tokens", 403, "an administrator's token" },
	{ SVC, "GET", "/hub/api/users/Bad!/tokens", 400, "invalid user name" },
	{ SVC, "GET", "/hub/api/users/alice/tokens", 403, "lacks the scope 'read:tokens'" },
	{ SVC, "GET", "/hub/api/users/bob/server", 403, "may not act for bob" },
	{ SVC, "GET", "/hub/api/users", 403, "lacks the scope 'list:users'" },
	{ SVC, "GET", "/hub/api/users/alice", 200, "\"servers\"" },
	{ SVC, "POST", "/hub/api/users/alice/activity", 403, "lacks the scope 'users:activity'" },
	{ SVC, "GET", "/hub/api/info", 403, "lacks the scope 'read:hub'" },
	{ ALICE_RU, "GET", "/hub/api/users/alice", 200, "\"alice\"" },
	{ ALICE_RU, "GET", "/hub/api/users/alice/server", 403, "lacks the scope 'read:servers'" },
	{ ALICE_RU, "GET", "/hub/api/user", 200, "\"read:users!user=alice\"" },
	{ ALICE_RU, "GET", "/hub/api/users/bob", 403, "an administrator's token" },
	{ ROOT_LU, "GET", "/hub/api/users", 200, "\"alice\"" },
	{ ROOT_LU, "GET", "/hub/api/status", 403, "scopes do not cover" },
	{ ROOT_LU, "GET", "/hub/api/users/alice", 403, "lacks the scope 'read:users'" },
	{ NOBODY, "GET", "/hub/api/", 200, "\"version\"" },
	{ GARBAGE, "GET", "/hub/api", 200, "\"version\"" },
	{ SOCKET, "GET", "/hub/api/", 200, "\"version\"" },
	{ NOBODY, "GET", "/hub/api/info", 403, "authentication required" },
	{ ALICE, "GET", "/hub/api/info", 403, "an administrator's token" },
	{ ROOT, "GET", "/hub/api/info", 200, "\"spawner\"" },
	{ SVC, "GET", "/hub/api/users/alice/server", 404, "no such server" },
	{ SVC_RS, "PUT", "/hub/api/users/alice/server", 403, "lacks the scope 'servers'" },
	{ SVC_RS, "POST", "/hub/api/users/alice/server/progress", 405, "use GET" },
	{ SVC, "GET", "/hub/api/user", 200, "\"service\"" },
	{ NOBODY, "GET", "/hub/metrics", 401, "<an admin's token>" },
	{ SVC, "GET", "/hub/metrics", 403, "metrics need" },
	{ ALICE, "GET", "/hub/metrics", 403, "metrics need" },
	{ NOBODY, "GET", "/hub/nothing", 404, "There is no page" },
	{ NOBODY, "GET", "/hub", 302, "Moved to /hub/home" },
};

/* hub_dispatch() for @who: the code, and whether the body says @says. */
static void
answer(size_t n)
{
	struct http_msg	 m;
	struct api_req	 ar;
	struct api_resp	 rs;
	const char	*b = bearer[answers[n].who], *body;
	char		*hv;
	int		 who = answers[n].who;

	http_msg_init(&m, 65536);
	http_msg_url(&m, answers[n].path, strlen(answers[n].path));
	if (b != NULL) {
		xasprintf(&hv, "token %s", b);
		http_msg_field(&m, "Authorization", 13);
		http_msg_value(&m, hv, strlen(hv));
		free(hv);
	}
	memset(&ar, 0, sizeof ar);
	memset(&rs, 0, sizeof rs);
	ar.method = answers[n].method;
	ar.path = answers[n].path;
	ar.head = &m;
	ar.body = evbuffer_new();
	ar.admin_socket = who == SOCKET;
	ar.user = who == ROOT || who == ROOT_LU ? "root" : who == ALICE ||
	    who == ALICE_RU ? "alice" : NULL;
	ar.actor = ar.user != NULL ? ar.user : "test";
	ar.peer = "test";
	ar.tls = 1;
	hub_dispatch(&ar, &rs);
	evbuffer_add(rs.body, "", 1);
	body = (const char *)evbuffer_pullup(rs.body, -1);
	ok(rs.code == answers[n].code && strstr(body, answers[n].says) != NULL,
	    "caller %d: %s %s: %d '%s' (got %d %s)", who, ar.method, ar.path,
	    answers[n].code, answers[n].says, rs.code, body);
	evbuffer_free(rs.body);
	evbuffer_free(ar.body);
	free(rs.headers);
	http_msg_reset(&m);
}

/* A gateway with admin root, a store and tokens for the callers. */
static int
setup(char *dir)
{
	char		*y, *db, *cause = NULL, id[AUTH_TOKEN_ID_LEN + 1];
	static struct gate st;

	xasprintf(&y, "auth:\n  admins: [root]\nstate_dir: %s\n", dir);
	xasprintf(&db, "%s/nbgate.db", dir);
	gate = &st;
	if ((gate->cfg = config_load_mem("test", y, strlen(y), &cause)) == NULL ||
	    store_open(db, &cause) == -1 || auth_init(dir, &cause) == -1) {
		tap_diag("setup: %s", cause);
		return (-1);
	}
	free(y);
	free(db);
	bearer[ROOT] = auth_token_issue("root", 0, id);
	bearer[ALICE] = auth_token_issue("alice", 0, id);
	bearer[GARBAGE] = xstrdup("nbg_garbage");
	bearer[EXPIRED] = auth_token_issue("carol", time(NULL) - 100, id);
	bearer[REFUSED] = xstrdup(bearer[ALICE]);	/* a user's, without its user */
	bearer[SVC] = auth_service_issue("gw", AUTH_SCOPE_SERVERS |
	    AUTH_SCOPE_READ_SERVERS, "alice", 0, id);
	bearer[SVC_RS] = auth_service_issue("gw2", AUTH_SCOPE_READ_SERVERS, "alice",
	    0, id);
	bearer[ALICE_RU] = auth_token_issue_scoped("alice", AUTH_SCOPE_READ_USERS, 0, id);
	bearer[ROOT_LU] = auth_token_issue_scoped("root", AUTH_SCOPE_LIST_USERS, 0, id);
	return (0);
}

int
main(void)
{
	const char	*got;
	char		*cause = NULL, dir[] = "/tmp/nbgate-test-hub.XXXXXX";
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
	log_init("test-hub", LOG_ERR);
	if (mkdtemp(dir) == NULL || setup(dir) == -1)
		return (1);
	for (i = 0; i < sizeof answers / sizeof answers[0]; i++)
		answer(i);
	for (i = 0; i < NCALLERS; i++)
		freestr(bearer[i]);
	store_close();
	tap_rmtree(dir);
	return (tap_done());
}
