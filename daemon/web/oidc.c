/*
 * oidc.c: OpenID Connect's pages (auth.oidc): /hub/oauth_login (a new
 * login's state, nonce and PKCE verifier, kept in memory and bound to the
 * browser by a cookie; then the redirect to the provider) and
 * /hub/oauth_callback (the checks, then ident/oidc.c's exchange of the code
 * for a user name, answered through conn_defer(); the login cookie).
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

#define OIDC_COOKIE		"nbgate-oidc"	/* binds a login to its browser */
#define OIDC_STATE_TTL		600	/* s from the redirect to the callback */
#define OIDC_STATES_MAX		4096	/* logins under way, all browsers */
#define OIDC_STATES_PEER	64	/* ... from one address: oldest go */
#define OIDC_FLOWS_MAX		64	/* callbacks waiting for the provider */

/* One login between the redirect and the callback; single use. */
struct oidc_state {
	char			*state;
	char			*nonce;
	char			*verifier;	/* PKCE */
	char			*next;
	char			*bind;		/* the nbgate-oidc cookie */
	char			*peer;
	time_t			 expires;
	TAILQ_ENTRY(oidc_state)	 entry;
};
static TAILQ_HEAD(oidc_states, oidc_state) oidc_states =
    TAILQ_HEAD_INITIALIZER(oidc_states);
static size_t		 oidc_nstates;

/* A browser waiting for the provider (deferred answer). */
struct oidc_flow {
	struct conn_defer	*defer;
	char			*peer;
	char			*next;		/* oauth_login */
	char			*bind;		/* oauth_login: cookie to set */
	struct oidc_state	*st;		/* callback: the used state */
	struct oidc_exchange	*ex;		/* callback: under way */
	TAILQ_ENTRY(oidc_flow)	 entry;
};
static TAILQ_HEAD(oidc_flows, oidc_flow) oidc_flows =
    TAILQ_HEAD_INITIALIZER(oidc_flows);
static size_t		 oidc_nflows;

/* What a browser is told when an exchange fails (ident.h's OIDC_E*). */
static const struct oidc_refusal {
	int		 code;
	const char	*title;
	const char	*text;		/* NULL: written from the result */
} oidc_refusals[OIDC_NERRORS] = {
	[OIDC_EDOWN] = { 503, "Sign-in service unreachable", "The gateway "
	    "cannot reach the identity provider right now. Try again in a few "
	    "minutes; if it persists, tell the gateway's administrators." },
	[OIDC_EEXPIRED] = { 400, "Sign-in expired", "The identity provider "
	    "refused this sign-in (expired or already used). Start again from "
	    "the login page." },
	[OIDC_ECLIENT] = { 502, "Sign-in misconfigured", "The identity provider "
	    "refused the gateway's credentials (a configuration problem). Tell "
	    "the gateway's administrators." },
	[OIDC_ENOTOKEN] = { 502, "Sign-in failed", "The identity provider sent "
	    "no ID token. Tell the gateway's administrators." },
	[OIDC_EVERIFY] = { 502, "Sign-in could not be verified", "The identity "
	    "provider's answer could not be verified, so you are not logged in. "
	    "Try again; if it persists, tell the gateway's administrators." },
	[OIDC_EUSERINFO] = { 502, "Sign-in failed", "The identity provider's "
	    "user information could not be used. Tell the gateway's "
	    "administrators." },
	[OIDC_ENONAME] = { 403, "No user name", "The identity provider did not "
	    "tell this gateway your user name. Tell the gateway's "
	    "administrators." },
	[OIDC_ENOACCOUNT] = { 403, "No account on this gateway", NULL },
	[OIDC_ERESERVED] = { 403, "This name is reserved", NULL },
};

static void
oidc_state_free(struct oidc_state *st)
{
	if (st == NULL)
		return;
	freestr(st->state);
	freestr(st->nonce);
	freestr(st->verifier);
	free(st->next);
	freestr(st->bind);
	free(st->peer);
	free(st);
}

/*
 * Drops expired states, and @peer's oldest ones beyond OIDC_STATES_PEER - 1
 * (so one address cannot fill the table; a browser abandoning logins only
 * loses its own oldest ones).
 */
static void
oidc_states_sweep(const char *peer)
{
	struct oidc_state	*st, *next;
	time_t			 now = time(NULL);
	size_t			 n = 0;

	for (st = TAILQ_LAST(&oidc_states, oidc_states); st != NULL; st = next) {
		next = TAILQ_PREV(st, oidc_states, entry);	/* newest first */
		if (st->expires < now || (peer != NULL &&
		    strcmp(st->peer, peer) == 0 && ++n >= OIDC_STATES_PEER)) {
			TAILQ_REMOVE(&oidc_states, st, entry);
			oidc_nstates--;
			oidc_state_free(st);
		}
	}
}

/* Takes the state @s out of the table (single use); NULL if unknown. */
static struct oidc_state *
oidc_state_take(const char *s)
{
	struct oidc_state	*st;

	oidc_states_sweep(NULL);
	TAILQ_FOREACH(st, &oidc_states, entry) {
		if (util_streq_ct(st->state, s)) {
			TAILQ_REMOVE(&oidc_states, st, entry);
			oidc_nstates--;
			return (st);
		}
	}
	return (NULL);
}

/* A page saying what happened, with a link to start again. */
static void
oidc_page(struct api_resp *rs, int code, const char *title, const char *text,
    const char *detail)
{
	struct evbuffer	*b = pages_begin(title, NULL);

	evbuffer_add_printf(b, "<p role=\"alert\" id=\"oidc-error\">");
	pages_esc(b, text);
	evbuffer_add_printf(b, "</p>\n");
	if (detail != NULL) {
		evbuffer_add_printf(b, "<p class=\"hint\">Details: ");
		pages_esc(b, detail);
		evbuffer_add_printf(b, "</p>\n");
	}
	evbuffer_add_printf(b, "<p><a class=\"button\" href=\"/hub/login\">Try "
	    "again</a></p>\n");
	pages_reply(rs, code, b, NULL);
	api_add_headers(rs, xstrdup("Cache-Control: no-store\r\n"));
}

/* A copy of remote text fit for a log line: control bytes as '?', cut short. */
static char *
oidc_clean(const char *s)
{
	char	*c = xstrndup(s != NULL ? s : "", 200), *p;

	for (p = c; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	return (c);
}

/* A failed login: counted, logged (no secrets), and a page. */
static void
oidc_fail(struct api_resp *rs, const char *peer, int code, const char *title,
    const char *text, const char *why)
{
	char	*clean = oidc_clean(why);

	gate->stats.login_failures++;
	log_info("login: from %s: OpenID Connect login failed: %s", peer, clean);
	free(clean);
	oidc_page(rs, code, title, text, NULL);
}

/* The browser's nbgate-oidc cookie if well formed (owned), else NULL. */
static char *
oidc_bind_get(const struct api_req *ar)
{
	const char	*h = http_msg_get(ar->head, "cookie");
	char		*v;

	if (h == NULL || (v = http_cookie_get(h, OIDC_COOKIE)) == NULL)
		return (NULL);
	if (strlen(v) != 43 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_-") != 43) {
		free(v);
		return (NULL);
	}
	return (v);
}

/* Makes a state for @fl and the 302 to the provider. */
static void
oidc_login_redirect(struct oidc_flow *fl, struct api_resp *rs)
{
	struct oidc_state	*st = xcalloc(1, sizeof *st);
	char			*url;

	st->state = util_random_token(32);
	st->nonce = util_random_token(32);
	st->verifier = util_random_token(32);
	st->next = xstrdup(fl->next);
	st->bind = xstrdup(fl->bind);
	st->peer = xstrdup(fl->peer);
	st->expires = time(NULL) + OIDC_STATE_TTL;
	TAILQ_INSERT_TAIL(&oidc_states, st, entry);
	oidc_nstates++;
	url = oidc_auth_url(st->state, st->nonce, st->verifier);
	pages_moved(rs, 302, "Signing in", url, "Continue to the sign-in page");
	api_add_headers(rs, xstrdup("Cache-Control: no-store\r\n"));
	pages_set_cookie(rs, OIDC_COOKIE, fl->bind, "/hub/oauth_callback",
	    OIDC_STATE_TTL);
	free(url);
	log_debug("oidc: from %s: sent to the provider", fl->peer);
}

static void
oidc_flow_free(struct oidc_flow *fl)
{
	TAILQ_REMOVE(&oidc_flows, fl, entry);
	oidc_nflows--;
	oidc_exchange_cancel(fl->ex);
	free(fl->peer);
	free(fl->next);
	freestr(fl->bind);
	oidc_state_free(fl->st);
	free(fl);
}

static struct oidc_flow *
oidc_flow_new(const struct api_req *ar)
{
	struct oidc_flow	*fl = xcalloc(1, sizeof *fl);

	fl->peer = xstrdup(ar->peer != NULL ? ar->peer : "?");
	TAILQ_INSERT_TAIL(&oidc_flows, fl, entry);
	oidc_nflows++;
	return (fl);
}

/* Sends @rs to @fl's browser and ends the flow. */
static void
oidc_flow_answer(struct oidc_flow *fl, struct api_resp *rs)
{
	conn_defer_answer(fl->defer, rs);	/* frees rs's parts */
	fl->defer = NULL;
	oidc_flow_free(fl);
}

/* A sign-in that cannot go on (OIDC_E* @error): the page, counted, logged. */
static void
oidc_flow_fail(struct oidc_flow *fl, int error, const char *text,
    const char *why)
{
	const struct oidc_refusal	*r = &oidc_refusals[error];
	struct api_resp			 rs;

	memset(&rs, 0, sizeof rs);
	oidc_fail(&rs, fl->peer, r->code, r->title, text != NULL ? text :
	    r->text, why);
	if (error == OIDC_EDOWN)
		api_add_headers(&rs, xstrdup("Retry-After: 60\r\n"));
	oidc_flow_answer(fl, &rs);
}

/* The discovery document is there (@err NULL): off to the provider. */
static void
oidc_login_ready(const char *err, void *arg)
{
	struct oidc_flow	*fl = arg;
	struct api_resp		 rs;

	if (err != NULL) {
		oidc_flow_fail(fl, OIDC_EDOWN, NULL, err);
		return;
	}
	memset(&rs, 0, sizeof rs);
	oidc_login_redirect(fl, &rs);
	oidc_flow_answer(fl, &rs);
}

/* GET /hub/oauth_login?next=PATH: a new state, then off to the provider. */
static void
oidc_login(const struct api_req *ar, struct api_resp *rs)
{
	const char		*next;
	const char		*peer = ar->peer != NULL ? ar->peer : "?";
	struct oidc_flow	*fl;
	json_t			*vals;
	char			*cause = NULL;

	vals = pages_query(ar, &cause);
	free(cause);
	cause = NULL;
	next = json_string_value(json_object_get(vals, "next"));
	oidc_states_sweep(peer);
	if (oidc_nstates >= OIDC_STATES_MAX || oidc_nflows >= OIDC_FLOWS_MAX) {
		log_info("login: from %s: too many OpenID Connect logins under "
		    "way, refused for now", peer);
		oidc_page(rs, 429, "Too many sign-ins", "Too many sign-ins are "
		    "under way. Wait a few minutes and try again.", NULL);
		goto out;
	}
	fl = oidc_flow_new(ar);
	fl->next = xstrdup(login_next_valid(next) ? next : "/hub/home");
	if ((fl->bind = oidc_bind_get(ar)) == NULL)
		fl->bind = util_random_token(32);
	if (oidc_meta_fresh()) {
		oidc_login_redirect(fl, rs);
		oidc_flow_free(fl);
	} else if (oidc_discover(oidc_login_ready, fl, &cause) == -1) {
		oidc_fail(rs, peer, 503, "Sign-in service unreachable", "The "
		    "gateway cannot reach the identity provider right now. Try "
		    "again in a few minutes.", cause);
		oidc_flow_free(fl);
	} else
		fl->defer = conn_defer(ar->conn);
out:
	free(cause);
	json_decref(vals);
}

/* Logs @fl's user in: the login cookie and a 303 to where it was going. */
static void
oidc_flow_done(struct oidc_flow *fl, const char *user, const char *sub)
{
	struct api_resp	 rs;
	char		*clean;

	memset(&rs, 0, sizeof rs);
	clean = oidc_clean(sub);
	log_info("login: %s logged in with OpenID Connect (sub %s) from %s",
	    user, clean, fl->peer);
	free(clean);
	store_audit(user, "login-oidc", user, fl->peer);
	pages_moved(&rs, 303, "Logged in", fl->st->next, "Continue");
	api_add_headers(&rs, xstrdup("Cache-Control: no-store\r\n"));
	pages_login_cookie(&rs, user);
	oidc_flow_answer(fl, &rs);
}

/* ident/oidc.c's end of the exchange: logged in, or a page saying why not. */
static void
oidc_exchanged(const struct oidc_result *r, void *arg)
{
	struct oidc_flow	*fl = arg;
	char			*text = NULL;

	fl->ex = NULL;	/* freed by ident/oidc.c */
	if (r->error == OIDC_OK) {
		oidc_flow_done(fl, r->user, r->sub);
		return;
	}
	if (r->error == OIDC_ERESERVED) {
		gate->stats.login_reserved++;
		xasprintf(&text, "You signed in as \"%.128s\", which would be the "
		    "account \"%s\" here; that name %s, so it cannot be used to sign "
		    "in with your identity provider. Ask the gateway's "
		    "administrators.", r->value, r->user, r->cause);
	} else if (r->error == OIDC_ENOACCOUNT)
		xasprintf(&text, "You signed in as \"%.128s\", which %s. Ask the "
		    "gateway's administrators for access.", r->value, r->cause);
	oidc_flow_fail(fl, r->error, text, r->why);
	free(text);
}

/* The callback's checks before the token request; 0 or -1 with @rs set. */
static int
oidc_callback_check(const struct api_req *ar, struct api_resp *rs,
    json_t *vals, struct oidc_state **stp)
{
	const char		*peer = ar->peer != NULL ? ar->peer : "?";
	const char		*state = json_string_value(json_object_get(vals, "state"));
	const char		*err = json_string_value(json_object_get(vals, "error"));
	const char		*desc, *iss;
	struct oidc_state	*st;
	char			*bind, *why, *clean;
	int			 same;

	if (state == NULL || (st = oidc_state_take(state)) == NULL) {
		oidc_fail(rs, peer, 400, "Sign-in expired", "This sign-in is "
		    "unknown, has expired, or was already used. Start again from "
		    "the login page.", "unknown, expired or used state");
		return (-1);
	}
	*stp = st;
	bind = oidc_bind_get(ar);
	same = bind != NULL && util_streq_ct(bind, st->bind);
	free(bind);
	if (!same) {
		oidc_fail(rs, peer, 403, "Sign-in refused", "This sign-in was "
		    "started in another browser (or its cookie was lost). Start "
		    "again from the login page in this browser.",
		    "state used without its browser cookie");
		return (-1);
	}
	if (err != NULL) {
		desc = json_string_value(json_object_get(vals, "error_description"));
		xasprintf(&why, "the provider said %.64s", err);
		clean = oidc_clean(why);
		gate->stats.login_failures++;
		log_info("login: from %s: OpenID Connect login failed: %s", peer,
		    clean);
		free(clean);
		oidc_page(rs, 403, "Sign-in not completed", strcmp(err,
		    "access_denied") == 0 ? "The identity provider did not let "
		    "you sign in to this gateway (access denied)." : "The identity "
		    "provider ended the sign-in with an error.", desc != NULL ?
		    desc : err);
		free(why);
		return (-1);
	}
	iss = json_string_value(json_object_get(vals, "iss"));
	if (iss != NULL && strcmp(iss, gate->cfg->oidc_issuer) != 0) {
		oidc_fail(rs, peer, 400, "Sign-in refused", "The answer came from "
		    "another identity provider. Start again from the login page.",
		    "iss parameter of another issuer (mix-up)");
		return (-1);
	}
	if (json_string_value(json_object_get(vals, "code")) == NULL) {
		oidc_fail(rs, peer, 400, "Sign-in failed", "The identity provider "
		    "sent no code. Start again from the login page.", "no code");
		return (-1);
	}
	if (!oidc_discovered()) {
		oidc_fail(rs, peer, 503, "Sign-in service unreachable", "The "
		    "gateway lost the identity provider's settings. Try again in a "
		    "few minutes.", "no discovery document");
		return (-1);
	}
	return (0);
}

/* GET /hub/oauth_callback?code&state: the token request, answered later. */
static void
oidc_callback(const struct api_req *ar, struct api_resp *rs)
{
	struct oidc_state	*st = NULL;
	struct oidc_flow	*fl;
	json_t			*vals;
	char			*cause = NULL;

	if (oidc_nflows >= OIDC_FLOWS_MAX) {
		log_info("login: from %s: %d sign-ins waiting for the provider, "
		    "refused for now", ar->peer, OIDC_FLOWS_MAX);
		oidc_page(rs, 503, "Busy", "Too many sign-ins are being checked "
		    "right now. Reload this page in a moment.", NULL);
		api_add_headers(rs, xstrdup("Retry-After: 2\r\n"));
		return;
	}
	if ((vals = pages_query(ar, &cause)) == NULL) {
		oidc_fail(rs, ar->peer != NULL ? ar->peer : "?", 400, "Sign-in "
		    "failed", "The answer from the identity provider could not be "
		    "read. Start again from the login page.", cause);
		free(cause);
		return;
	}
	if (oidc_callback_check(ar, rs, vals, &st) == -1) {
		oidc_state_free(st);
		json_decref(vals);
		return;
	}
	fl = oidc_flow_new(ar);
	fl->st = st;	/* transferred */
	if ((fl->ex = oidc_exchange_start(json_string_value(json_object_get(vals,
	    "code")), st->verifier, st->nonce, oidc_exchanged, fl,
	    &cause)) == NULL) {
		oidc_fail(rs, fl->peer, 503, "Sign-in service unreachable", "The "
		    "gateway cannot reach the identity provider right now. Try "
		    "again in a few minutes.", cause);
		oidc_flow_free(fl);
	} else
		fl->defer = conn_defer(ar->conn);
	free(cause);
	json_decref(vals);
}

/* Answers /hub/oauth_login and /hub/oauth_callback; 0 if not ours. */
int
oidc_dispatch(const struct api_req *ar, struct api_resp *rs)
{
	int	login = strcmp(ar->path, "/hub/oauth_login") == 0;

	if (!login && strcmp(ar->path, "/hub/oauth_callback") != 0)
		return (0);
	if (!oidc_enabled())
		oidc_page(rs, 404, "Not available", "Sign-in with an identity "
		    "provider is not enabled on this gateway.", NULL);
	else if (strcmp(ar->method, "GET") != 0 && strcmp(ar->method, "HEAD") != 0)
		oidc_page(rs, 405, "Method not allowed", "Use the sign-in button "
		    "on the login page.", NULL);
	else if (login)
		oidc_login(ar, rs);
	else
		oidc_callback(ar, rs);
	return (1);
}

/* Answers every waiting browser, cancels requests, forgets all (shutdown). */
void
oidc_shutdown(void)
{
	struct oidc_flow	*fl;
	struct oidc_state	*st;
	struct api_resp		 rs;

	oidc_clear();	/* answers those waiting for the provider's documents */
	while ((fl = TAILQ_FIRST(&oidc_flows)) != NULL) {
		memset(&rs, 0, sizeof rs);
		oidc_page(&rs, 503, "Shutting down", "The gateway is shutting "
		    "down.", NULL);
		if (fl->defer != NULL)
			oidc_flow_answer(fl, &rs);
		else {
			evbuffer_free(rs.body);
			free(rs.headers);
			oidc_flow_free(fl);
		}
	}
	while ((st = TAILQ_FIRST(&oidc_states)) != NULL) {
		TAILQ_REMOVE(&oidc_states, st, entry);
		oidc_state_free(st);
	}
	oidc_nstates = 0;
}
