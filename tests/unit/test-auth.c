/* test-auth.c: daemon/ident/auth.c's API tokens: scopes, service tokens, expiry, revocation, reload. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

static void
test_scopes(void)
{
	unsigned int	 s;
	char		*cause = NULL, *text;

	ok(auth_scopes_parse("servers", &s, &cause) == 0, "servers parses");
	is_int(s, AUTH_SCOPE_SERVERS | AUTH_SCOPE_READ_SERVERS | AUTH_SCOPE_DELETE_SERVERS,
	    "servers implies read:servers and delete:servers (JupyterHub's tree)");
	ok(auth_scopes_parse("read:users, read:servers", &s, &cause) == 0, "a list with spaces");
	is_int(s, AUTH_SCOPE_READ_USERS | AUTH_SCOPE_READ_USERS_ACTIVITY |
	    AUTH_SCOPE_READ_SERVERS, "both read scopes; read:users holds read:users:activity");
	ok(auth_scopes_parse("admin:users", &s, &cause) == 0 &&
	    (s & AUTH_SCOPE_LIST_USERS) && (s & AUTH_SCOPE_USERS_ACTIVITY) &&
	    !(s & AUTH_SCOPE_SERVERS), "admin:users holds list:users and users:activity, "
	    "not servers");
	ok(auth_scopes_parse("tokens,read:hub,access:servers", &s, &cause) == 0 &&
	    s == (AUTH_SCOPE_TOKENS | AUTH_SCOPE_READ_TOKENS | AUTH_SCOPE_READ_HUB |
	    AUTH_SCOPE_ACCESS_SERVERS), "tokens holds read:tokens; read:hub, access:servers");
	text = auth_scopes_text(AUTH_SCOPE_SERVERS | AUTH_SCOPE_READ_SERVERS |
	    AUTH_SCOPE_READ_USERS);
	is_str(text, "servers,read:servers,read:users", "scopes as text");
	free(text);
	ok(auth_scopes_parse("servers,admin", &s, &cause) == -1, "an unknown scope is refused");
	has_str(cause, "'admin'", "the cause names it");
	free(cause);
	cause = NULL;
	ok(auth_scopes_parse(",,", &s, &cause) == -1, "no scope at all is refused");
	free(cause);
	cause = NULL;
	is_str(auth_scope_name(AUTH_SCOPE_READ_USERS), "read:users", "a scope's name");
}

static unsigned int legacy_scopes, newer_scopes;

static void
scopes_of(const struct auth_token *t, void *arg)
{
	(void)arg;
	if (strcmp(t->name, "legacy") == 0)
		legacy_scopes = t->scopes;
	else if (strcmp(t->name, "newer") == 0)
		newer_scopes = t->scopes;
}

static int	 nfound;
static const struct auth_token *found;

static void
count(const struct auth_token *t, void *arg)
{
	if (strcmp(t->name, arg) == 0) {
		nfound++;
		found = t;
	}
}

static void
test_tokens(const char *dbpath)
{
	const struct auth_token	*t;
	char			 id[AUTH_TOKEN_ID_LEN + 1], uid[AUTH_TOKEN_ID_LEN + 1];
	char			*svc, *ro, *old, *user, *who, *cause = NULL;

	ok(store_open(dbpath, &cause) == 0, "store opens %s", dbpath);
	svc = auth_service_issue("portal", AUTH_SCOPE_SERVERS | AUTH_SCOPE_READ_SERVERS,
	    "u1,u2", 0, id);
	ok(strlen(id) == AUTH_TOKEN_ID_LEN && strspn(id, "0123456789abcdef") ==
	    AUTH_TOKEN_ID_LEN, "a service token's id is 12 hex digits");
	is_int(auth_token_lookup(svc, &t), RESULT_OK, "the service token is known");
	ok(t->service && strcmp(t->name, "portal") == 0 && t->nusers == 2,
	    "kind, name, users");
	ok(auth_token_may_act(t, "u2") && !auth_token_may_act(t, "u3"),
	    "it acts for u2, not for u3");
	ok(t->last_used != 0, "its use is noted");
	ok(auth_token_check(svc) == NULL, "a service token is no user's token");
	ro = auth_service_issue("portal", AUTH_SCOPE_READ_USERS, NULL, 0, id);
	is_int(auth_token_lookup(ro, &t), RESULT_OK, "an all-users token");
	ok(t->all_users && auth_token_may_act(t, "anyone"), "it acts for anyone");
	old = auth_service_issue("late", AUTH_SCOPE_READ_USERS, NULL, time(NULL) - 5, id);
	is_int(auth_token_lookup(old, &t), RESULT_EXPIRED, "an expired token says so");
	is_int(auth_token_lookup("garbage", &t), RESULT_NOT_FOUND, "garbage is unknown");
	is_int(auth_token_lookup("", &t), RESULT_NOT_FOUND, "empty is unknown");
	user = auth_token_issue("alice", 0, uid);
	who = auth_token_check(user);
	is_str(who, "alice", "a user's token names its user");
	free(who);
	ok(auth_token_lookup(user, &t) == RESULT_OK && !t->service &&
	    t->scopes == AUTH_SCOPES_ALL && auth_token_may_act(t, "alice") &&
	    !auth_token_may_act(t, "bob"), "a user's token: all scopes, for its user only");
	is_int(auth_token_note(uid, "for the portal"), 1, "a note for alice's token");
	is_int(auth_token_note("nosuchid0000", "x"), 0, "no note for a token not there");

	/* restart: everything comes back from the database */
	auth_clear();
	ok(auth_token_lookup(svc, &t) == RESULT_NOT_FOUND, "cleared");
	store_token_load(auth_token_load);
	ok(auth_token_lookup(svc, &t) == RESULT_OK && t->nusers == 2 &&
	    t->scopes == (AUTH_SCOPE_SERVERS | AUTH_SCOPE_READ_SERVERS |
	    AUTH_SCOPE_DELETE_SERVERS),
	    "reloaded: the service token with its users and scopes");
	auth_token_load("00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa",
	    "service", "legacy", "read:users", "*", time(NULL), 0, 0, NULL);
	auth_token_load("00bb00bb00bb00bb00bb00bb00bb00bb00bb00bb00bb00bb00bb00bb00bb00bb",
	    "service", "newer", "read:users,read:users:activity", "*", time(NULL), 0, 0,
	    NULL);
	legacy_scopes = newer_scopes = 0;
	auth_token_foreach(scopes_of, NULL);
	ok((legacy_scopes & AUTH_SCOPE_LIST_USERS) && (legacy_scopes &
	    AUTH_SCOPE_SERVER_STATE), "a token stored before JupyterHub's names: "
	    "read:users still lists users, and sees a server's state");
	ok(newer_scopes != 0 && !(newer_scopes & AUTH_SCOPE_LIST_USERS) &&
	    !(newer_scopes & AUTH_SCOPE_SERVER_STATE), "a newer read:users token does not");
	is_int(auth_token_lookup(old, &t), RESULT_EXPIRED, "reloaded: still expired");
	who = auth_token_check(user);
	is_str(who, "alice", "reloaded: alice's token");
	free(who);
	ok(auth_token_lookup(user, &t) == RESULT_OK && t->note != NULL &&
	    strcmp(t->note, "for the portal") == 0, "reloaded: its note");

	nfound = 0;
	auth_token_foreach(count, "portal");
	is_int(nfound, 2, "portal has two tokens");
	is_int(auth_token_revoke_id(uid), 1, "revoke alice's token by id");
	ok(auth_token_check(user) == NULL, "alice's token is gone");
	is_int(auth_token_revoke_id(uid), 0, "a second revoke finds nothing");
	is_int(auth_token_revoke_user("portal"), 0, "revoking user 'portal' spares the service");
	is_int(auth_token_revoke_service("portal"), 2, "revoke the service: two tokens");
	ok(auth_token_lookup(svc, &t) == RESULT_NOT_FOUND &&
	    auth_token_lookup(ro, &t) == RESULT_NOT_FOUND, "both unknown now");
	auth_clear();
	store_token_load(auth_token_load);
	ok(auth_token_lookup(svc, &t) == RESULT_NOT_FOUND && auth_token_check(user) == NULL,
	    "revocations are stored");
	nfound = 0;
	auth_token_foreach(count, "late");
	is_int(nfound, 1, "the expired one is still listed (a week)");
	auth_clear();
	store_close();
	freestr(svc);
	freestr(ro);
	freestr(old);
	freestr(user);
}

int
main(void)
{
	char	 dir[] = "/tmp/nbgate-test-auth.XXXXXX", *db;

	log_init("test-auth", LOG_WARN);
	if (mkdtemp(dir) == NULL)
		return (1);
	xasprintf(&db, "%s/nbgate.db", dir);
	test_scopes();
	test_tokens(db);
	free(db);
	tap_rmtree(dir);
	return (tap_done());
}
