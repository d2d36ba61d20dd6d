/*
 * test-route.c: a route's successor (daemon/proxy/route.c, sessions.continue):
 * its own one-time secret bound to its own job, outside the table until it
 * is promoted, and kept in the store across a restart.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

/* What an enrolling agent's @secret claiming @job is to @r. */
static enum route_secret
match(struct route *r, const char *secret, const char *job)
{
	unsigned char		 md[32];
	char			*why = NULL;
	enum route_secret	 rs = route_enroll_match(r, secret, job, md, &why);

	free(why);
	return (rs);
}

/* Enrolls a fresh key with @secret on @r; 0 on success. */
static int
enroll(struct route *r, const char *secret, const char *token)
{
	unsigned char	 md[32];
	char		*why = NULL;
	ssh_key		 key = NULL;
	int		 rv;

	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
		return (-1);
	if (route_enroll_match(r, secret, route_job(r), md, &why) != ROUTE_SECRET_PENDING)
		rv = -1;
	else
		rv = route_enroll(r, md, key, token, "127.0.0.1", &why);
	ssh_key_free(key);
	free(why);
	return (rv);
}

static void
load_none(const char *name, const char *owner, const char *key, const char *token,
    const char *enroll, const char *job, long long session)
{
	ssh_key	 k = NULL;
	char	*cause = NULL;

	if (key != NULL && *key != '\0')
		k = route_key_parse(key, &cause);
	free(cause);
	if (route_add(name, owner, k, token, &cause) == NULL)
		free(cause);
	else
		route_set_session(route_find(name), session);
}

static void
test_successor(void)
{
	struct route	*r, *n, *m;
	char		*first, *next, *cause = NULL, *keytext, *got;

	r = route_add("alice", "alice", NULL, NULL, &cause);
	route_set_session(r, 7);
	first = route_enroll_begin(r, "100");
	ok(enroll(r, first, "tok-old") == 0, "the first job's agent enrolls");
	ok(route_next(r) == NULL && !route_is_next(r), "no successor yet");

	next = route_next_begin(r);
	n = route_next(r);
	ok(n != NULL && route_is_next(n) && route_find("alice") == r,
	    "a successor is made, outside the table");
	ok(strcmp(next, first) != 0, "with a secret of its own");
	is_int(route_session(n), 7, "for the same session");
	is_str(route_owner(n), "alice", "and the same owner");
	is_int(match(r, next, "100"), ROUTE_SECRET_WRONG,
	    "its secret is nothing on the route itself");
	is_int(match(n, first, "100"), ROUTE_SECRET_WRONG,
	    "the first job's secret is nothing on the successor");
	route_set_job(n, "101");
	is_int(match(n, next, "100"), ROUTE_SECRET_WRONG,
	    "its secret claiming the first job is refused (bound to job 101)");
	is_int(match(n, next, "101"), ROUTE_SECRET_PENDING,
	    "its secret claiming its own job is taken");

	ok(store_route_put(n) == 0, "the successor is kept in its route's row");
	route_clear();
	ok(store_route_load(load_none) == 0 && (r = route_find("alice")) != NULL,
	    "the route comes back after a restart");
	ok((n = route_next(r)) != NULL && route_is_next(n) &&
	    match(n, next, "101") == ROUTE_SECRET_PENDING,
	    "with its successor's enrollment, still bound to job 101");

	ok(enroll(n, next, "tok-new") == 0, "the successor's agent enrolls");
	ok(ssh_key_cmp(route_key(n), route_key(r), SSH_KEY_CMP_PUBLIC) != 0,
	    "with a key other than the route's");
	keytext = route_key_text(route_key(n));
	store_route_put(n);
	route_clear();
	store_route_load(load_none);
	r = route_find("alice");
	n = r != NULL ? route_next(r) : NULL;
	got = n != NULL && route_key(n) != NULL ? route_key_text(route_key(n)) : NULL;
	ok(got != NULL && strcmp(got, keytext) == 0 && route_enroll_hex(n) == NULL &&
	    route_token(n) != NULL && strcmp(route_token(n), "tok-new") == 0,
	    "after a restart the enrolled successor keeps its key and token, its secret used");
	free(got);
	free(keytext);
	if (n == NULL)
		return;
	route_ref(r);				/* an old agent's connection */
	m = route_next_promote(r);
	ok(m == n && route_find("alice") == n && !route_is_next(n),
	    "promoted: the successor is the route now");
	ok(route_dead(r) && route_next(r) == NULL, "the old route object is dead");
	is_str(route_token(n), "tok-new", "the notebook token is the successor's");
	route_unref(r);

	n = route_next(m);
	ok(n == NULL, "and it has no successor of its own");
	freestr(route_next_begin(m));
	n = route_next(m);
	route_ref(n);
	route_remove("alice");
	ok(route_dead(n), "removing a route kills its successor too");
	route_unref(n);
	freestr(first);
	freestr(next);
}

/*
 * An app that checks no token (auth: none) never gets the notebook's: the
 * route adds none, and neither does a successor made for it (continue).
 */
static void
test_app_token(void)
{
	struct route	*r, *n;
	char		*cause = NULL, *secret, *next;

	r = route_add("dora", "dora", NULL, NULL, &cause);
	route_set_session(r, 9);
	secret = route_enroll_begin(r, "200");
	ok(enroll(r, secret, "tok-dora") == 0 && route_token(r) != NULL,
	    "a notebook's route adds its token");
	route_set_app(r, 1, 0);
	ok(route_token(r) == NULL && route_strip(r),
	    "attack app-token-withheld: a desktop's route adds no token, strips its prefix");
	next = route_next_begin(r);
	n = route_next(r);
	route_set_job(n, "201");
	ok(enroll(n, next, "tok-dora-2") == 0 && route_token(n) == NULL && route_strip(n),
	    "attack app-token-withheld: nor does its successor (continue in a new job)");
	route_set_app(r, 0, 1);
	ok(route_token(n) != NULL && strcmp(route_token(n), "tok-dora-2") == 0 &&
	    !route_strip(n), "the route's app rules reach a successor made before them");
	route_remove("dora");
	freestr(secret);
	freestr(next);
}

int
main(void)
{
	static struct gate	 st;
	char			 dir[] = "/tmp/nbgate-test-route.XXXXXX", db[64];
	char			*cause = NULL;

	log_init("test-route", LOG_WARN);
	gate = &st;
	gate->base = event_base_new();
	if (mkdtemp(dir) == NULL ||
	    snprintf(db, sizeof db, "%s/nbgate.db", dir) >= (int)sizeof db ||
	    store_open(db, &cause) == -1) {
		tap_diag("store: %s", cause != NULL ? cause : "no directory");
		return (1);
	}
	test_successor();
	test_app_token();
	route_clear();
	store_close();
	event_base_free(gate->base);
	tap_rmtree(dir);
	return (tap_done());
}
