/*
 * login.c: password login at /hub/login when auth.pam is on: the form, its
 * pre-login CSRF token, backoff per user name and per address (throttle.c),
 * and the deferred answer once pam.c has the result. With
 * auth.oidc the page also has the "Sign in with ..." button (oidc.c).
 * /hub/logout too: the page that asks, and the POST that revokes the cookie.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "daemon/web/web.h"
#include "scheduler/scheduler.h"

#define LOGIN_COOKIE		"nbgate-login"	/* pre-login CSRF nonce */
#define LOGIN_COOKIE_AGE	3600		/* s */
#define LOGIN_CONCURRENT	8	/* PAM checks at once */
#define LOGIN_USER_FREE		5	/* failures of a user name before backoff */
#define LOGIN_PEER_FREE		20	/* failures of an address before backoff */
#define LOGIN_WRONG		"Wrong user name or password."
/* What login_next_valid() lets through but the query's delimiters and '%'. */
#define LOGIN_NEXT_KEEP		"/:@!$'()*,[]^`{|}"

/* A login waiting for PAM; the browser may be gone (conn_defer). */
struct login_pending {
	struct conn_defer	*defer;
	char			*user;
	char			*peer;
	char			*next;
	char			*nonce;		/* the nbgate-login cookie */
	LIST_ENTRY(login_pending) entry;
};
static LIST_HEAD(, login_pending) login_pendings = LIST_HEAD_INITIALIZER(login_pendings);

/* 1 if @next is a path of this site to go to after login (no open redirect). */
int
login_next_valid(const char *next)
{
	size_t	i;

	if (next == NULL || next[0] != '/' || next[1] == '/' || next[1] == '\\' ||
	    strlen(next) > 512)
		return (0);
	for (i = 0; next[i] != '\0'; i++) {
		if ((unsigned char)next[i] <= 0x20 || (unsigned char)next[i] >= 0x7f ||
		    next[i] == '\\' || next[i] == '"' || next[i] == '<' ||
		    next[i] == '>')
			return (0);
	}
	return (1);
}

/* The request's nbgate-login nonce (owned, base64url) if well formed, else NULL. */
static char *
login_nonce_get(const struct api_req *ar)
{
	const char	*h = http_msg_get(ar->head, "cookie");
	char		*v;

	if (h == NULL || (v = http_cookie_get(h, LOGIN_COOKIE)) == NULL)
		return (NULL);
	if (strlen(v) < 32 || strlen(v) > 64 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(v)) {
		free(v);
		return (NULL);
	}
	return (v);
}

/* The form token for @nonce: the pages' HMAC, in its own domain. */
static void
login_token(const char *nonce, char hex[65])
{
	char	*msg;

	xasprintf(&msg, "login:%s", nonce);
	pages_xsrf(msg, hex);
	free(msg);
}

/* A page with one sentence and a link to the form. */
static void
login_message(struct api_resp *rs, int code, const char *title,
    const char *text, long retry)
{
	struct evbuffer	*b = pages_begin(title, NULL);
	char		*h;

	evbuffer_add_printf(b, "<p role=\"alert\">");
	pages_esc(b, text);
	evbuffer_add_printf(b, "</p><p><a href=\"/hub/login\">Back to the login "
	    "form</a></p>\n");
	pages_reply(rs, code, b, NULL);
	if (retry > 0) {
		xasprintf(&h, "Retry-After: %ld\r\n", retry);
		api_add_headers(rs, h);
	}
}

/* The "Sign in with ..." link to /hub/oauth_login, when OIDC is on. */
static void
login_oidc_button(struct evbuffer *b, const char *next)
{
	if (!oidc_enabled())
		return;
	evbuffer_add_printf(b, "<p><a class=\"button\" id=\"oidc-login\" "
	    "href=\"/hub/oauth_login");
	if (next != NULL && strcmp(next, "/hub/home") != 0) {
		evbuffer_add_printf(b, "?next=");
		codec_pct_encode(b, next, LOGIN_NEXT_KEEP);
	}
	evbuffer_add_printf(b, "\">Sign in with ");
	pages_esc(b, gate->cfg->oidc_button_label);
	evbuffer_add_printf(b, "</a></p>\n");
	if (gate->cfg->auth_pam)
		evbuffer_add_printf(b, "<p class=\"hint\">Or log in with your "
		    "cluster user name and password:</p>\n");
}

/* The query's ?next= if login_next_valid() (owned), else NULL. */
static char *
login_query_next(const struct api_req *ar)
{
	json_t		*vals;
	const char	*next = NULL;
	char		*cause = NULL, *v;

	if ((vals = pages_query(ar, &cause)) != NULL)
		next = json_string_value(json_object_get(vals, "next"));
	free(cause);
	v = login_next_valid(next) ? xstrdup(next) : NULL;
	json_decref(vals);
	return (v);
}

/* The page with only the sign-in button (auth.oidc without auth.pam). */
static void
login_oidc_only(const struct api_req *ar, struct api_resp *rs)
{
	struct evbuffer	*b = pages_begin("Log in", NULL);
	char		*next = login_query_next(ar);

	login_oidc_button(b, next);
	pages_reply(rs, 200, b, NULL);
	free(next);
}

/* The login form; @error shown above it, @user kept, @nonce's token inside. */
static void
login_form(struct api_resp *rs, int code, const char *user, const char *next,
    const char *nonce, const char *error)
{
	struct evbuffer	*b = pages_begin("Log in", NULL);
	char		 tok[65];

	login_token(nonce, tok);
	login_oidc_button(b, next);
	if (error != NULL) {
		evbuffer_add_printf(b, "<p class=\"error\" role=\"alert\" "
		    "id=\"e-login\">");
		pages_esc(b, error);
		evbuffer_add_printf(b, "</p>\n");
	}
	pages_form_token(b, NULL, "/hub/login", tok);
	if (next != NULL && strcmp(next, "/hub/home") != 0)
		pages_hidden(b, "next", next);
	evbuffer_add_printf(b, "<div class=\"field\"><label for=\"f-user\">User "
	    "name</label><input id=\"f-user\" name=\"user\" type=\"text\" "
	    "autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" "
	    "required maxlength=\"64\"%s value=\"", error != NULL ?
	    " aria-describedby=\"e-login\" aria-invalid=\"true\"" : " autofocus");
	pages_esc(b, user);
	evbuffer_add_printf(b, "\"></div><div class=\"field\"><label for="
	    "\"f-password\">Password</label><input id=\"f-password\" name="
	    "\"password\" type=\"password\" autocomplete=\"current-password\" "
	    "required%s></div><button type=\"submit\">Log in</button></form>\n"
	    "<p class=\"hint\">Your user name and password on the cluster.</p>\n",
	    error != NULL ? " autofocus" : "");
	pages_reply(rs, code, b, NULL);
}

/* GET /hub/login: the form, with a fresh nonce cookie unless one is there. */
static void
login_get(const struct api_req *ar, struct api_resp *rs)
{
	char	*next = login_query_next(ar), *nonce;

	if ((nonce = login_nonce_get(ar)) == NULL)
		nonce = util_random_token(32);
	login_form(rs, 200, NULL, next, nonce, NULL);
	api_add_headers(rs, xstrdup("Cache-Control: no-store\r\n"));
	pages_set_cookie(rs, LOGIN_COOKIE, nonce, "/hub/login", LOGIN_COOKIE_AGE);
	free(nonce);
	free(next);
}

static void
login_pending_free(struct login_pending *lp)
{
	LIST_REMOVE(lp, entry);
	free(lp->user);
	free(lp->peer);
	free(lp->next);
	free(lp->nonce);
	free(lp);
}

/* pam.c's answer: log, count, and answer the browser if it is still there. */
static void
login_result(enum result_kind code, const char *why, void *arg)
{
	struct login_pending	*lp = arg;
	struct api_resp		 rs;

	memset(&rs, 0, sizeof rs);
	if (code == RESULT_OK) {
		throttle_reset('u', lp->user);
		log_tag(lp->user, 0, NULL, NULL);
		log_info("login: %s logged in with a password from %s", lp->user,
		    lp->peer);
		store_audit(lp->user, "login-password", lp->user, lp->peer);
		pages_moved(&rs, 303, "Logged in", lp->next, "Continue");
		pages_set_cookie(&rs, LOGIN_COOKIE, "", "/hub/login", 0);
		pages_login_cookie(&rs, lp->user);
	} else if (code == RESULT_DENIED) {
		gate->stats.login_failures++;
		throttle_fail('u', lp->user, LOGIN_USER_FREE);
		throttle_fail('p', lp->peer, LOGIN_PEER_FREE);
		log_tag(lp->user, 0, NULL, NULL);
		log_info("login: %s from %s: password login refused: %s", lp->user,
		    lp->peer, why);
		login_form(&rs, 401, lp->user, lp->next, lp->nonce, LOGIN_WRONG);
	} else {
		log_tag(lp->user, 0, NULL, NULL);
		log_warnx("login: %s from %s: PAM failed: %s", lp->user, lp->peer,
		    why);
		login_message(&rs, 503, "Login not available", "Passwords cannot "
		    "be checked right now. Try again in a minute.", 60);
	}
	conn_defer_answer(lp->defer, &rs);	/* frees it */
	login_pending_free(lp);
}

/* The checks before PAM; 0 with @lp filled, or -1 with the answer set. */
static int
login_post_check(const struct api_req *ar, struct api_resp *rs, json_t *form,
    struct login_pending *lp)
{
	const char	*k, *user, *pw, *next;
	char		 tok[65];
	json_t		*v;
	long		 wait;

	json_object_foreach(form, k, v) {
		if (strcmp(k, "_xsrf") != 0 && strcmp(k, "user") != 0 &&
		    strcmp(k, "password") != 0 && strcmp(k, "next") != 0) {
			login_message(rs, 400, "Bad form", "The form has a field "
			    "this page does not know.", 0);
			return (-1);
		}
	}
	k = json_string_value(json_object_get(form, "_xsrf"));
	if ((lp->nonce = login_nonce_get(ar)) != NULL)
		login_token(lp->nonce, tok);
	if (lp->nonce == NULL || k == NULL || strlen(k) != 64 ||
	    CRYPTO_memcmp(tok, k, 64) != 0) {
		log_info("login: from %s: a login form without a valid token was "
		    "refused", ar->peer);
		login_message(rs, 403, "Form expired", "This login form has expired "
		    "or did not come from this gateway. Reload the login page and "
		    "try again.", 0);
		return (-1);
	}
	next = json_string_value(json_object_get(form, "next"));
	lp->next = xstrdup(login_next_valid(next) ? next : "/hub/home");
	user = json_string_value(json_object_get(form, "user"));
	pw = json_string_value(json_object_get(form, "password"));
	lp->user = xstrdup(user != NULL ? user : "");
	lp->peer = xstrdup(ar->peer != NULL ? ar->peer : "?");
	if ((wait = throttle_wait('u', lp->user)) == 0)
		wait = throttle_wait('p', lp->peer);
	if (wait > 0) {
		/* a name is logged only once it is known to be a user name */
		if (!util_user_name_valid(lp->user))
			log_info("login: (not a user name) from %s: refused, too "
			    "many failures (%ld s left)", lp->peer, wait);
		else {
			log_tag(lp->user, 0, NULL, NULL);
			log_info("login: %s from %s: refused, too many failures "
			    "(%ld s left)", lp->user, lp->peer, wait);
		}
		login_message(rs, 429, "Too many failed logins", "There were too "
		    "many failed logins. Wait a little and try again.", wait);
		return (-1);
	}
	if (!util_user_name_valid(lp->user) || pw == NULL || *pw == '\0') {
		gate->stats.login_failures++;
		throttle_fail('p', lp->peer, LOGIN_PEER_FREE);
		login_form(rs, 401, lp->user, lp->next, lp->nonce, LOGIN_WRONG);
		return (-1);
	}
	if (pam_attempts() >= LOGIN_CONCURRENT) {
		log_info("login: %s from %s: %d checks running, refused for now",
		    lp->user, lp->peer, LOGIN_CONCURRENT);
		login_message(rs, 503, "Busy", "Too many logins are being checked "
		    "right now. Try again in a moment.", 2);
		return (-1);
	}
	return (0);
}

/* POST /hub/login: the checks, then PAM in a child; answered in login_result. */
static void
login_post(const struct api_req *ar, struct api_resp *rs)
{
	size_t			 len = evbuffer_get_length(ar->body);
	unsigned char		*raw = evbuffer_pullup(ar->body, -1);
	struct login_pending	*lp;
	const char		*pw;
	json_t			*form;
	char			*cause = NULL;
	int			 rv;

	rv = pages_form_read(ar, PAGES_FORM_MAX, PAGES_FIELD_MAX, &form, &cause);
	free(cause);
	cause = NULL;
	if (rv == PAGES_FORM_FOREIGN) {
		log_info("login: from %s: a login form from another site was refused",
		    ar->peer);
		login_message(rs, 403, "Request refused", "This login form was sent "
		    "from another web site. Open the login page of this gateway and "
		    "log in there.", 0);
		return;
	}
	if (rv == PAGES_FORM_TYPE) {
		login_message(rs, 415, "Unsupported form", "The form must be sent as "
		    "application/x-www-form-urlencoded.", 0);
		return;
	}
	if (rv != PAGES_FORM_OK) {
		login_message(rs, rv == PAGES_FORM_LARGE ? 413 : 400, "Bad form",
		    "The login form could not be read.", 0);
		goto out;
	}
	lp = xcalloc(1, sizeof *lp);
	LIST_INSERT_HEAD(&login_pendings, lp, entry);
	pw = json_string_value(json_object_get(form, "password"));
	if (login_post_check(ar, rs, form, lp) == -1) {
		login_pending_free(lp);
		goto out;
	}
	if (pam_attempt_start(gate->cfg->auth_pam_service, lp->user, pw,
	    login_result, lp, &cause) == NULL) {
		log_tag(lp->user, 0, NULL, NULL);
		log_warnx("login: %s from %s: %s", lp->user, lp->peer, cause);
		login_message(rs, 503, "Login not available", "Passwords cannot be "
		    "checked right now. Try again in a minute.", 60);
		login_pending_free(lp);
		free(cause);
		goto out;
	}
	lp->defer = conn_defer(ar->conn);
out:
	/* The child has its copy: wipe the password here. */
	if ((pw = json_string_value(json_object_get(form, "password"))) != NULL)
		explicit_bzero((char *)pw, strlen(pw));
	explicit_bzero(raw, len);
	json_decref(form);
}

/*
 * /hub/logout: GET asks (a form with the CSRF token), POST logs out. A GET
 * alone never changes anything, so no other site can log a user out.
 */
void
login_logout(const struct api_req *ar, struct api_resp *rs, int get, int post)
{
	struct evbuffer	*b;
	json_t		*form;
	char		*hdr;

	if (ar->user == NULL) {
		b = pages_begin("Logged out", NULL);
		evbuffer_add_printf(b, "<p>You are not logged in.</p><p><a href="
		    "\"/hub/login\">Log in</a></p>\n");
		pages_reply(rs, 200, b, NULL);
		return;
	}
	if (get) {
		b = pages_begin("Log out", ar->user);
		pages_form(b, ar, NULL, "/hub/logout");
		evbuffer_add_printf(b, "<p>Log out of this gateway? Your notebooks keep "
		    "running.</p><button type=\"submit\" id=\"logout\">Log out</button>"
		    "</form><p><a href=\"/hub/home\">Back to your servers</a></p>\n");
		pages_reply(rs, 200, b, NULL);
		return;
	}
	if (!post) {
		pages_message(rs, 405, "Method not allowed", "Use the Log out button.",
		    ar->user);
		return;
	}
	if ((form = pages_post_form(ar, rs)) == NULL)
		return;
	json_decref(form);
	if ((hdr = pages_cookie(ar)) != NULL) {	/* replaying it no longer works */
		auth_cookie_revoke(hdr);
		freestr(hdr);
	}
	log_tag(ar->user, 0, NULL, NULL);
	log_info("login: %s logged out", ar->user);
	b = pages_begin("Logged out", NULL);
	evbuffer_add_printf(b, "<p>You are logged out. Your notebooks keep running."
	    "</p><p><a href=\"/hub/login\">Log in again</a></p>\n");
	pages_reply(rs, 200, b, NULL);
	pages_set_cookie(rs, AUTH_COOKIE, "", "/", 0);
}

/* Answers /hub/login; 0 if not ours. */
int
login_dispatch(const struct api_req *ar, struct api_resp *rs)
{
	const char	*m = ar->method;

	if (oidc_dispatch(ar, rs))
		return (1);
	if (strcmp(ar->path, "/hub/login") != 0)
		return (0);
	if (!gate->cfg->auth_pam && oidc_enabled() && (strcmp(m, "GET") == 0 ||
	    strcmp(m, "HEAD") == 0))
		login_oidc_only(ar, rs);
	else if (!gate->cfg->auth_pam)
		login_message(rs, 404, "Log in", "Password login is not enabled on "
		    "this gateway. Use the login link your gateway or administrator "
		    "gave you.", 0);
	else if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
		login_get(ar, rs);
	else if (strcmp(m, "POST") == 0)
		login_post(ar, rs);
	else
		login_message(rs, 405, "Method not allowed", "Use the login form.",
		    0);
	return (1);
}

/* Kills running checks and forgets pending logins and counters (shutdown). */
void
login_shutdown(void)
{
	struct login_pending	*lp;
	struct api_resp		 rs;

	pam_attempt_kill_all();
	while ((lp = LIST_FIRST(&login_pendings)) != NULL) {
		memset(&rs, 0, sizeof rs);
		login_message(&rs, 503, "Shutting down", "The gateway is shutting "
		    "down.", 0);
		if (lp->defer != NULL)
			conn_defer_answer(lp->defer, &rs);
		else {
			evbuffer_free(rs.body);
			free(rs.headers);
		}
		login_pending_free(lp);
	}
	throttle_clear();
}
