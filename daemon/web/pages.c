/*
 * pages.c: the HTML pages a scientist uses under /hub/: home (their servers),
 * the spawn form, the pending page and stop. Every POST carries a CSRF token
 * bound to the login cookie; form bodies go through a strict decoder.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "daemon/web/web.h"
#include "scheduler/scheduler.h"
#include "scheduler/backend.h"

#define PAGES_FORM_MAX		8192	/* bytes of a form body or query */
#define PAGES_FORM_FIELDS	16	/* fields in one form */
#define PAGES_FIELD_MAX		1024	/* bytes of one decoded value */
#define PAGES_NAME_MAX		32	/* bytes of a field name: [a-z_] */

/*
 * The CSRF key: random, in memory only. A restart makes open forms stale
 * (403 "reload the page"); the login cookie itself stays valid.
 */
static unsigned char	 pages_key[32];
static int		 pages_key_ready;
static char		 pages_nonce[33];	/* CSP nonce of the page being built */

static const char *pages_spawn_fields[] = {
	"cluster", "queue", "walltime", "cores", "memory", "gpus", "container",
	"account"
};

static const char pages_css[] =
	"body{font:16px/1.5 system-ui,sans-serif;max-width:62em;margin:0 auto;"
	"padding:0 1em 2em;color:#1b1b1b;background:#fff}"
	"header{display:flex;flex-wrap:wrap;gap:1em;align-items:center;"
	"border-bottom:1px solid #ccc;padding:.5em 0}header .who{margin-left:auto}"
	"h1{font-size:1.5em}h2{font-size:1.2em}"
	"table{border-collapse:collapse;width:100%}caption{text-align:left;"
	"font-weight:600}th,td{text-align:left;padding:.35em .5em;border-bottom:"
	"1px solid #ddd;vertical-align:top}"
	".field{margin:.9em 0}label{display:block;font-weight:600}"
	".hint{display:block;color:#555;font-size:.9em}"
	".error{display:block;color:#b00020;font-weight:600}"
	"input,select,button{font:inherit;padding:.3em .5em}"
	"button,.button{cursor:pointer;border:1px solid #1a5fb4;border-radius:4px;"
	"background:#1a5fb4;color:#fff;text-decoration:none;padding:.3em .8em}"
	"button.secondary{background:#fff;color:#1a5fb4}"
	":focus-visible{outline:3px solid #e66100;outline-offset:2px}"
	"form.inline{display:inline}progress{width:100%;height:1.2em}"
	"pre{background:#f4f4f4;padding:.5em;overflow:auto;max-height:24em;"
	"white-space:pre-wrap}.notice{border-left:4px solid #1a5fb4;"
	"padding:.3em .8em;background:#f0f5fc}";

/* Writes @s HTML-escaped; NULL writes nothing. */
static void
pages_esc(struct evbuffer *b, const char *s)
{
	if (s != NULL)
		http_html_escape(b, s);
}

/*
 * Percent-decodes @s[0..len) ('+' is a space) into an owned string and its
 * length; NULL for a bad escape, a raw byte outside printable ASCII, or NUL.
 */
static char *
pages_unescape(const char *s, size_t len, size_t *outlen)
{
	char		*out = xcalloc(1, len + 1);
	size_t		 i, n = 0;
	unsigned char	 c;

	for (i = 0; i < len; i++) {
		if (s[i] == '+')
			out[n++] = ' ';
		else if (s[i] == '%') {
			if (len - i < 3 || codec_unhex(&c, 1, s + i + 1, 2) == -1 ||
			    c == 0)
				goto fail;
			out[n++] = (char)c;
			i += 2;
		} else if ((unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
			out[n++] = s[i];
		else
			goto fail;
	}
	*outlen = n;
	return (out);
fail:
	free(out);
	return (NULL);
}

/*
 * Decodes an application/x-www-form-urlencoded text into an owned JSON
 * object of strings, or NULL and *cause (caller frees). Strict: names are
 * [a-z_]{1,32}, values valid UTF-8 without NUL, no empty or repeated fields.
 */
static json_t *
pages_form_parse_max(const char *s, size_t len, size_t formmax, size_t fieldmax,
    char **cause)
{
	json_t		*form = json_object(), *v;
	const char	*end = s + len, *amp, *eq;
	char		*name = NULL, *value = NULL;
	size_t		 nlen, vlen;

	*cause = NULL;
	if (len > formmax) {
		xasprintf(cause, "the form is larger than %zu bytes", formmax);
		goto fail;
	}
	while (s < end) {
		if ((amp = memchr(s, '&', end - s)) == NULL)
			amp = end;
		if ((eq = memchr(s, '=', amp - s)) == NULL || eq == s) {
			xasprintf(cause, "the form has a part without a name");
			goto fail;
		}
		if (json_object_size(form) == PAGES_FORM_FIELDS) {
			xasprintf(cause, "the form has too many fields");
			goto fail;
		}
		name = pages_unescape(s, eq - s, &nlen);
		value = pages_unescape(eq + 1, amp - eq - 1, &vlen);
		if (name == NULL || value == NULL) {
			xasprintf(cause, "the form is not properly encoded");
			goto fail;
		}
		if (nlen > PAGES_NAME_MAX || strspn(name,
		    "abcdefghijklmnopqrstuvwxyz_") != nlen) {
			xasprintf(cause, "the form has a field with a bad name");
			goto fail;
		}
		if (vlen > fieldmax) {
			xasprintf(cause, "field %s is too long", name);
			goto fail;
		}
		if (json_object_get(form, name) != NULL) {
			xasprintf(cause, "field %s is repeated", name);
			goto fail;
		}
		if ((v = json_stringn(value, vlen)) == NULL) {
			xasprintf(cause, "field %s is not UTF-8 text", name);
			goto fail;
		}
		json_object_set_new(form, name, v);
		free(name);
		free(value);
		name = value = NULL;
		s = amp;
		if (s < end && ++s == end) {
			xasprintf(cause, "the form ends with an empty part");
			goto fail;
		}
	}
	return (form);
fail:
	free(name);
	free(value);
	json_decref(form);
	return (NULL);
}

json_t *
pages_form_parse(const char *s, size_t len, char **cause)
{
	return (pages_form_parse_max(s, len, PAGES_FORM_MAX, PAGES_FIELD_MAX, cause));
}

/* The form token for login cookie value @cookie: hex HMAC-SHA256. */
void
pages_xsrf(const char *cookie, char hex[65])
{
	unsigned char	md[32];
	unsigned int	mdlen = sizeof md;
	char		*msg;

	if (!pages_key_ready) {
		if (RAND_bytes(pages_key, sizeof pages_key) != 1)
			fatalx("RAND_bytes failed");
		pages_key_ready = 1;
	}
	xasprintf(&msg, "nbgate-xsrf:v1:%s", cookie);
	if (HMAC(EVP_sha256(), pages_key, sizeof pages_key,
	    (const unsigned char *)msg, strlen(msg), md, &mdlen) == NULL)
		fatalx("HMAC failed");
	freestr(msg);
	codec_hex(hex, md, sizeof md);
}

/* The request's login cookie value (owned) if it proves ar->user, else NULL. */
static char *
pages_cookie(const struct api_req *ar)
{
	const char	*h = http_msg_get(ar->head, "cookie");
	char		*v, *who;

	if (ar->user == NULL || h == NULL ||
	    (v = http_cookie_get(h, AUTH_COOKIE)) == NULL)
		return (NULL);
	who = auth_cookie_check(v);
	if (who == NULL || strcmp(who, ar->user) != 0) {
		free(who);
		freestr(v);
		return (NULL);
	}
	free(who);
	return (v);
}

/* The hidden _xsrf field of a form ("" without a login cookie: POSTs fail). */
static void
pages_xsrf_field(struct evbuffer *b, const struct api_req *ar)
{
	char	*cookie = pages_cookie(ar), hex[65] = "";

	if (cookie != NULL)
		pages_xsrf(cookie, hex);
	freestr(cookie);
	evbuffer_add_printf(b, "<input type=\"hidden\" name=\"_xsrf\" value=\"%s\">",
	    hex);
}

/* 0 if @token is the form token of this request's login cookie. */
int
pages_xsrf_check(const struct api_req *ar, const char *token)
{
	char	*cookie = pages_cookie(ar), hex[65];
	int	 rv = -1;

	if (cookie != NULL && token != NULL && strlen(token) == 64) {
		pages_xsrf(cookie, hex);
		rv = CRYPTO_memcmp(hex, token, 64) == 0 ? 0 : -1;
	}
	freestr(cookie);
	return (rv);
}

/*
 * -1 if Origin (or else Sec-Fetch-Site, or else Referer) says the form was
 * posted from another site; 0 if from ours or if the browser said nothing
 * (the form's _xsrf token, checked next, is what proves it then).
 */
int
pages_same_origin(const struct api_req *ar)
{
	const char	*why;

	if (http_msg_get(ar->head, "origin") == NULL &&
	    http_msg_get(ar->head, "sec-fetch-site") == NULL &&
	    http_msg_get(ar->head, "referer") == NULL)
		return (0);
	return (origin_check(ar->head, ar->tls, &why));
}

/* Starts a page: head, the shared stylesheet, the header bar, <h1>. */
struct evbuffer *
pages_begin(const char *title, const char *user)
{
	struct evbuffer	*b = evbuffer_new();
	unsigned char	 r[16];

	if (b == NULL)
		fatalx("out of memory");
	if (RAND_bytes(r, sizeof r) != 1)
		fatalx("RAND_bytes failed");
	codec_hex(pages_nonce, r, sizeof r);
	evbuffer_add_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width="
	    "device-width, initial-scale=1\"><title>");
	pages_esc(b, title);
	evbuffer_add_printf(b, " - nbgate</title><style nonce=\"%s\">%s</style>"
	    "</head><body><header><a href=\"/hub/home\">nbgate</a>", pages_nonce,
	    pages_css);
	if (user != NULL) {
		evbuffer_add_printf(b, "<span class=\"who\">Logged in as ");
		pages_esc(b, user);
		evbuffer_add_printf(b, "</span><a href=\"/hub/logout\">Log out</a>");
	}
	evbuffer_add_printf(b, "</header><main><h1>");
	pages_esc(b, title);
	evbuffer_add_printf(b, "</h1>\n");
	return (b);
}

/* Ends page @b and makes it the response, with @location if not NULL. */
void
pages_reply(struct api_resp *rs, int code, struct evbuffer *b,
    const char *location)
{
	evbuffer_add_printf(b, "</main></body></html>\n");
	rs->code = code;
	rs->ctype = "text/html; charset=utf-8";
	rs->body = b;
	xasprintf(&rs->headers, "Content-Security-Policy: default-src 'self'; "
	    "script-src 'nonce-%s'; style-src 'nonce-%s'; img-src 'self' data:; "
	    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'\r\n"
	    "Referrer-Policy: same-origin\r\n%s%s%s", pages_nonce, pages_nonce,
	    location != NULL ? "Location: " : "", location != NULL ? location : "",
	    location != NULL ? "\r\n" : "");
}

/* A page with a sentence and a way back. */
static void
pages_message(struct api_resp *rs, int code, const char *title,
    const char *text, const char *user)
{
	struct evbuffer	*b = pages_begin(title, user);

	evbuffer_add_printf(b, "<p>");
	pages_esc(b, text);
	evbuffer_add_printf(b, "</p><p><a href=\"/hub/home\">Back to your servers"
	    "</a></p>\n");
	pages_reply(rs, code, b, NULL);
}

/* A 303 to @where (a path of ours). */
static void
pages_redirect(struct api_resp *rs, const char *where)
{
	struct evbuffer	*b = pages_begin("Moved", NULL);

	evbuffer_add_printf(b, "<p><a href=\"");
	pages_esc(b, where);
	evbuffer_add_printf(b, "\">Continue</a></p>\n");
	pages_reply(rs, 303, b, where);
}

/* "/NAME" for a named server, "" for the default one. */
static const char *
pages_slash(const char *server)
{
	return (*server != '\0' ? "/" : "");
}

/* Writes bytes as GiB when whole, else MiB. */
static void
pages_fmt_size(char *buf, size_t len, size_t v)
{
	const size_t	mib = 1024 * 1024;

	if (v != 0 && v % (1024 * mib) == 0)
		snprintf(buf, len, "%zuGiB", v / (1024 * mib));
	else
		snprintf(buf, len, "%zuMiB", v / mib + (v % mib != 0));
}

/*
 * The POSTed form after the origin, encoding and token checks, owned; NULL
 * with the response set otherwise.
 */
static json_t	*pages_post_form_max(const struct api_req *, struct api_resp *,
		    size_t, size_t);

static json_t *
pages_post_form(const struct api_req *ar, struct api_resp *rs)
{
	return (pages_post_form_max(ar, rs, PAGES_FORM_MAX, PAGES_FIELD_MAX));
}

static json_t *
pages_post_form_max(const struct api_req *ar, struct api_resp *rs, size_t formmax,
    size_t fieldmax)
{
	const char	*ct = http_msg_get(ar->head, "content-type");
	size_t		 len = evbuffer_get_length(ar->body), n = 33;
	json_t		*form;
	char		*cause, *text;

	if (pages_same_origin(ar) == -1) {
		log_info("pages: %s: a form from another site was refused", ar->user);
		pages_message(rs, 403, "Request refused", "This form was sent from "
		    "another web site, so it was not carried out. Open your servers "
		    "page on this gateway and try again there.", ar->user);
		return (NULL);
	}
	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded",
	    n) != 0 || (ct[n] != '\0' && ct[n] != ';')) {
		pages_message(rs, 415, "Unsupported form", "The form must be sent "
		    "as application/x-www-form-urlencoded.", ar->user);
		return (NULL);
	}
	form = pages_form_parse_max((const char *)evbuffer_pullup(ar->body, -1), len,
	    formmax, fieldmax, &cause);
	if (form == NULL) {
		xasprintf(&text, "The form could not be read: %s.", cause);
		pages_message(rs, len > formmax ? 413 : 400, "Bad form", text,
		    ar->user);
		free(text);
		free(cause);
		return (NULL);
	}
	if (pages_xsrf_check(ar, json_string_value(json_object_get(form,
	    "_xsrf"))) == -1) {
		log_info("pages: %s: a form without a valid token was refused",
		    ar->user);
		pages_message(rs, 403, "Form expired", "This form has expired or did "
		    "not come from this gateway, so it was not carried out. Go back, "
		    "reload the page and try again.", ar->user);
		json_decref(form);
		return (NULL);
	}
	return (form);
}

struct pages_acc {
	const char	*user;
	json_t		*servers;	/* name → server model; active wins */
};

static void
pages_collect(const struct session *s, void *arg)
{
	struct pages_acc	*acc = arg;
	json_t			*old;

	if (strcmp(session_user(s), acc->user) != 0)
		return;
	old = json_object_get(acc->servers, session_server(s));
	if (old != NULL && session_state(s) == SESSION_ENDED)
		return;
	json_object_set_new(acc->servers, session_server(s), session_json(s, 0));
}

static int
pages_strcmp(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/* A form with one button that POSTs to /hub/stop[/SERVER]. */
static void
pages_stop_form(struct evbuffer *b, const struct api_req *ar,
    const char *server, const char *label)
{
	evbuffer_add_printf(b, "<form class=\"inline\" method=\"post\" "
	    "action=\"/hub/stop%s", pages_slash(server));
	pages_esc(b, server);
	evbuffer_add_printf(b, "\">");
	pages_xsrf_field(b, ar);
	evbuffer_add_printf(b, "<button type=\"submit\">%s</button></form>", label);
}

/* One row of the servers table. */
static void
pages_home_row(struct evbuffer *b, const struct api_req *ar, const char *name,
    json_t *m)
{
	json_t		*st = json_object_get(m, "state");
	const char	*phase = json_string_value(json_object_get(st, "phase"));
	const char	*fields[] = { "queue", "cluster" };
	json_t		*left = json_object_get(st, "time_left");
	char		 buf[32];
	size_t		 i;

	if (phase == NULL)
		phase = "unknown";
	evbuffer_add_printf(b, "<tr><th scope=\"row\">");
	pages_esc(b, *name != '\0' ? name : "default");
	evbuffer_add_printf(b, "</th><td>");
	pages_esc(b, phase);
	for (i = 0; i < nitems(fields); i++) {
		evbuffer_add_printf(b, "</td><td>");
		pages_esc(b, json_string_value(json_object_get(st, fields[i])));
	}
	evbuffer_add_printf(b, "</td><td>");
	if (json_is_integer(left)) {
		jobreq_fmt_duration(buf, sizeof buf, json_integer_value(left));
		pages_esc(b, buf);
	}
	evbuffer_add_printf(b, "</td><td>");
	pages_esc(b, json_string_value(json_object_get(st, "job_id")));
	evbuffer_add_printf(b, "</td><td>");
	pages_esc(b, json_string_value(json_object_get(st, "reason")));
	evbuffer_add_printf(b, "</td><td>");
	if (json_is_true(json_object_get(m, "ready"))) {
		evbuffer_add_printf(b, "<a class=\"button\" href=\"");
		pages_esc(b, json_string_value(json_object_get(m, "url")));
		evbuffer_add_printf(b, "\">Open</a> ");
	} else if (json_is_string(json_object_get(m, "pending")) &&
	    strcmp(phase, "stopping") != 0) {
		evbuffer_add_printf(b, "<a href=\"/hub/spawn-pending%s",
		    pages_slash(name));
		pages_esc(b, name);
		evbuffer_add_printf(b, "\">Progress</a> ");
	}
	if (strcmp(phase, "ended") != 0 && strcmp(phase, "stopping") != 0)
		pages_stop_form(b, ar, name, "Stop");
	else if (strcmp(phase, "ended") == 0) {
		evbuffer_add_printf(b, "<a href=\"/hub/spawn%s", pages_slash(name));
		pages_esc(b, name);
		evbuffer_add_printf(b, "\">Start</a>");
	}
	evbuffer_add_printf(b, "</td></tr>\n");
}

/* GET /hub/home: the user's servers, with Open, Stop and Start. */
static int
pages_user_charging(void)
{
	size_t	i;

	for (i = 0; i < gate->cfg->nclusters; i++) {
		if (gate->cfg->clusters[i].charging == CONFIG_USER)
			return (1);
	}
	return (0);
}

static void
pages_home(const struct api_req *ar, struct api_resp *rs)
{
	struct pages_acc	 acc = { ar->user, json_object() };
	struct evbuffer		*b;
	const char		*k, **names;
	json_t			*v;
	size_t			 n = 0, i;

	session_foreach(pages_collect, &acc);
	names = xcalloc(json_object_size(acc.servers) + 1, sizeof *names);
	json_object_foreach(acc.servers, k, v)
		names[n++] = k;
	qsort(names, n, sizeof *names, pages_strcmp);
	b = pages_begin("Your servers", ar->user);
	evbuffer_add_printf(b, "<table><caption>Servers of ");
	pages_esc(b, ar->user);
	evbuffer_add_printf(b, "</caption><thead><tr><th scope=\"col\">Server</th>"
	    "<th scope=\"col\">Phase</th><th scope=\"col\">Queue</th><th scope="
	    "\"col\">Cluster</th><th scope=\"col\">Time left</th><th scope=\"col\">"
	    "Job</th><th scope=\"col\">Reason</th><th scope=\"col\">Actions</th>"
	    "</tr></thead><tbody>\n");
	if (json_object_get(acc.servers, "") == NULL)
		evbuffer_add_printf(b, "<tr><th scope=\"row\">default</th><td>not "
		    "started</td><td></td><td></td><td></td><td></td><td></td><td>"
		    "<a href=\"/hub/spawn\">Start</a></td></tr>\n");
	for (i = 0; i < n; i++)
		pages_home_row(b, ar, names[i], json_object_get(acc.servers,
		    names[i]));
	evbuffer_add_printf(b, "</tbody></table>\n");
	if (gate->cfg->sess_named > 0)
		evbuffer_add_printf(b, "<h2>Named servers</h2><form method=\"get\" "
		    "action=\"/hub/spawn\"><div class=\"field\"><label for=\"f-server\">"
		    "Start a named server</label><input id=\"f-server\" name=\"server\" "
		    "required maxlength=\"64\" pattern=\"[a-z0-9_][a-z0-9_.\\-]*\" "
		    "aria-describedby=\"h-server\"><span class=\"hint\" id=\"h-server\">"
		    "Lowercase letters, digits, '_', '.', '-'; you may run %d named "
		    "server%s.</span></div><button type=\"submit\">Choose options"
		    "</button></form>\n", gate->cfg->sess_named,
		    gate->cfg->sess_named == 1 ? "" : "s");
	if (pages_user_charging())
		evbuffer_add_printf(b, "<p><a href=\"/hub/credential\">Your "
		    "credential</a> (for clusters that charge your own allocation)"
		    "</p>\n");
	if (config_is_admin(gate->cfg, ar->user))
		evbuffer_add_printf(b, "<p><a href=\"/hub/admin\">All sessions "
		    "(administration)</a></p>\n");
	pages_reply(rs, 200, b, NULL);
	free(names);
	json_decref(acc.servers);
}

/*
 * /hub/logout: GET asks (a form with the CSRF token), POST logs out. A GET
 * alone never changes anything, so no other site can log a user out.
 */
static void
pages_logout(const struct api_req *ar, struct api_resp *rs, int get, int post)
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
		evbuffer_add_printf(b, "<form method=\"post\" action=\"/hub/logout\">");
		pages_xsrf_field(b, ar);
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
	xasprintf(&hdr, "Set-Cookie: %s=; Path=/; Max-Age=0; HttpOnly; Secure; "
	    "SameSite=Lax\r\n", AUTH_COOKIE);
	api_add_headers(rs, hdr);
}

/* ---- /hub/credential: the user's X.509 identity (charging: user) ------- */

#define PAGES_CRED_FORM_MAX	(256 * 1024)
#define PAGES_CRED_FIELD_MAX	(128 * 1024)

static void
pages_cred_render(struct api_resp *rs, int code, const struct api_req *ar,
    const char *user, const char *error, const char *notice)
{
	const struct config	*cfg = gate->cfg;
	const struct cred	*c = cred_get(user);
	const char *const	*acc;
	struct evbuffer		*b = pages_begin("Your credential", user);
	char			 when[40];
	struct tm		 tm;
	size_t			 i;

	if (error != NULL) {
		evbuffer_add_printf(b, "<p class=\"error\" role=\"alert\">");
		pages_esc(b, error);
		evbuffer_add_printf(b, "</p>\n");
	} else if (notice != NULL) {
		evbuffer_add_printf(b, "<p role=\"status\">");
		pages_esc(b, notice);
		evbuffer_add_printf(b, "</p>\n");
	}
	evbuffer_add_printf(b, "<p>Clusters that charge your own allocation run "
	    "your notebooks as you. nbgate logs in for you with a short-lived "
	    "certificate once you have shown who you are with your X.509 "
	    "credential. Your private key is only used to check that the "
	    "certificate is yours; nbgate does not keep it.</p>\n");
	if (c != NULL) {
		gmtime_r(&c->not_after, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
		evbuffer_add_printf(b, "<table><caption>Verified identity</caption>"
		    "<tbody><tr><th scope=\"row\">Subject</th><td id=\"cred-dn\">");
		pages_esc(b, c->dn);
		evbuffer_add_printf(b, "</td></tr><tr><th scope=\"row\">Account"
		    "</th><td id=\"cred-account\">");
		pages_esc(b, c->account);
		evbuffer_add_printf(b, "</td></tr><tr><th scope=\"row\">From</th>"
		    "<td>");
		pages_esc(b, c->source);
		evbuffer_add_printf(b, "</td></tr><tr><th scope=\"row\">Valid until"
		    "</th><td>%s</td></tr>", when);
		for (i = 0; i < cfg->nclusters; i++) {
			if (cfg->clusters[i].charging != CONFIG_USER)
				continue;
			evbuffer_add_printf(b, "<tr><th scope=\"row\">Allocations on ");
			pages_esc(b, cfg->clusters[i].name);
			evbuffer_add_printf(b, "</th><td>");
			if ((acc = session_accounts(cfg->clusters[i].name,
			    c->account)) == NULL)
				evbuffer_add_printf(b, "not known yet");
			for (; acc != NULL && *acc != NULL; acc++) {
				pages_esc(b, *acc);
				evbuffer_add_printf(b, "%s", acc[1] != NULL ? ", " : "");
			}
			evbuffer_add_printf(b, "</td></tr>");
		}
		evbuffer_add_printf(b, "</tbody></table>\n<form method=\"post\" "
		    "action=\"/hub/credential\">");
		pages_xsrf_field(b, ar);
		evbuffer_add_printf(b, "<input type=\"hidden\" name=\"action\" "
		    "value=\"remove\"><button type=\"submit\">Forget this "
		    "credential</button></form>\n");
	} else
		evbuffer_add_printf(b, "<p id=\"cred-none\">You have not given a "
		    "credential yet.</p>\n");
	evbuffer_add_printf(b, "<h2>Upload a certificate</h2><form method=\"post\" "
	    "action=\"/hub/credential\">");
	pages_xsrf_field(b, ar);
	evbuffer_add_printf(b, "<input type=\"hidden\" name=\"action\" value="
	    "\"upload\"><div class=\"field\"><label for=\"f-certificate\">"
	    "Certificate (PEM; a proxy certificate with its chain is fine)</label>"
	    "<textarea id=\"f-certificate\" name=\"certificate\" rows=\"8\" "
	    "cols=\"66\" required spellcheck=\"false\"></textarea></div>"
	    "<div class=\"field\"><label for=\"f-key\">Private key (PEM; leave "
	    "empty if it is in the box above)</label><textarea id=\"f-key\" "
	    "name=\"key\" rows=\"6\" cols=\"66\" spellcheck=\"false\" "
	    "autocomplete=\"off\"></textarea></div><div class=\"field\"><label "
	    "for=\"f-passphrase\">Key passphrase (if the key is encrypted)"
	    "</label><input id=\"f-passphrase\" name=\"passphrase\" type=\"password\" "
	    "autocomplete=\"off\" maxlength=\"1024\"></div><button type=\"submit\">"
	    "Verify and use</button></form>\n");
	if (cfg->cred_myproxy != NULL) {
		evbuffer_add_printf(b, "<h2>MyProxy logon</h2><form method=\"post\" "
		    "action=\"/hub/credential\">");
		pages_xsrf_field(b, ar);
		evbuffer_add_printf(b, "<input type=\"hidden\" name=\"action\" "
		    "value=\"myproxy\"><div class=\"field\"><label for=\"f-username\">"
		    "MyProxy user name at ");
		pages_esc(b, cfg->cred_myproxy);
		evbuffer_add_printf(b, "</label><input id=\"f-username\" name="
		    "\"username\" required maxlength=\"256\" autocomplete=\"username\">"
		    "</div><div class=\"field\"><label for=\"f-mp-passphrase\">MyProxy "
		    "passphrase</label><input id=\"f-mp-passphrase\" name=\"passphrase\" "
		    "type=\"password\" required maxlength=\"1024\" autocomplete="
		    "\"current-password\"></div><button type=\"submit\">Log on"
		    "</button></form>\n");
	}
	evbuffer_add_printf(b, "<p><a href=\"/hub/home\">Back to your servers</a>"
	    "</p>\n");
	pages_reply(rs, code, b, NULL);
}

/* A form value without the CRs a textarea sends. */
static char *
pages_cred_text(json_t *form, const char *name)
{
	const char	*v = json_string_value(json_object_get(form, name));
	char		*t, *p, *q;

	if (v == NULL || *v == '\0')
		return (NULL);
	t = xstrdup(v);
	for (p = q = t; *p != '\0'; p++) {
		if (*p != '\r')
			*q++ = *p;
	}
	*q = '\0';
	return (t);
}

struct pages_cred_wait {
	struct conn_defer	*d;
	char			*user;
};

static void
pages_cred_myproxy_done(const struct cred *c, const char *cause, void *arg)
{
	struct pages_cred_wait	*w = arg;
	struct api_resp		 rs;
	struct evbuffer		*b;

	memset(&rs, 0, sizeof rs);
	if (c != NULL) {
		session_credential(c);
		b = pages_begin("Moved", NULL);
		evbuffer_add_printf(b, "<p><a href=\"/hub/credential\">Continue</a>"
		    "</p>\n");
		pages_reply(&rs, 303, b, "/hub/credential?verified=1");
	} else {
		b = pages_begin("MyProxy logon failed", w->user);
		evbuffer_add_printf(b, "<p class=\"error\" role=\"alert\">");
		pages_esc(b, cause);
		evbuffer_add_printf(b, "</p><p><a href=\"/hub/credential\">Back to "
		    "your credential</a></p>\n");
		pages_reply(&rs, 400, b, NULL);
	}
	conn_defer_answer(w->d, &rs);
	free(w->user);
	free(w);
}

static void
pages_credential(const struct api_req *ar, struct api_resp *rs, int get)
{
	const struct cred	*c;
	json_t			*form;
	const char		*action, *mpuser, *pass;
	char			*chain = NULL, *key = NULL, *cause = NULL;
	struct pages_cred_wait	*w;
	int			 rc;

	if (get) {
		pages_cred_render(rs, 200, ar, ar->user, NULL, ar->query != NULL &&
		    strcmp(ar->query, "verified=1") == 0 ? "Your credential was "
		    "verified." : NULL);
		return;
	}
	if ((form = pages_post_form_max(ar, rs, PAGES_CRED_FORM_MAX,
	    PAGES_CRED_FIELD_MAX)) == NULL)
		return;
	action = json_string_value(json_object_get(form, "action"));
	pass = json_string_value(json_object_get(form, "passphrase"));
	if (pass != NULL && *pass == '\0')
		pass = NULL;
	if (action != NULL && strcmp(action, "remove") == 0) {
		if (cred_drop(ar->actor, ar->user) == -1)
			pages_cred_render(rs, 404, ar, ar->user, "You have no "
			    "credential to forget.", NULL);
		else
			pages_cred_render(rs, 200, ar, ar->user, NULL, "Your "
			    "credential was forgotten.");
	} else if (action != NULL && strcmp(action, "myproxy") == 0) {
		mpuser = json_string_value(json_object_get(form, "username"));
		if (mpuser == NULL || *mpuser == '\0' || strlen(mpuser) > 256 ||
		    pass == NULL)
			pages_cred_render(rs, 400, ar, ar->user, "MyProxy logon: "
			    "give your MyProxy user name and passphrase.", NULL);
		else {
			w = xcalloc(1, sizeof *w);
			w->user = xstrdup(ar->user);
			if ((rc = cred_myproxy(ar->user, mpuser, pass,
			    pages_cred_myproxy_done, w, &cause)) != 0) {
				pages_cred_render(rs, rc == CRED_BUSY ? 429 : 400,
				    ar, ar->user, cause, NULL);
				free(cause);
				free(w->user);
				free(w);
			} else
				w->d = conn_defer(ar->conn);
		}
	} else if (action != NULL && strcmp(action, "upload") == 0) {
		chain = pages_cred_text(form, "certificate");
		key = pages_cred_text(form, "key");
		if (chain == NULL)
			pages_cred_render(rs, 400, ar, ar->user, "Certificate: paste "
			    "your certificate (PEM).", NULL);
		else if ((c = cred_set_x509(ar->actor, ar->user, chain,
		    strlen(chain), key, key != NULL ? strlen(key) : 0, pass, NULL,
		    &cause)) == NULL) {
			xasprintf(&chain, "Your credential was not accepted: %s.",
			    cause);
			pages_cred_render(rs, 400, ar, ar->user, chain, NULL);
			free(cause);
		} else {
			session_credential(c);
			pages_redirect(rs, "/hub/credential?verified=1");
		}
	} else
		pages_cred_render(rs, 400, ar, ar->user, "This form has no known "
		    "action.", NULL);
	free(chain);
	freestr(key);
	json_decref(form);
}

/* What the spawn form shows: entered values, and the field at fault. */
struct pages_spawn {
	const struct api_req		*ar;
	const char			*server;
	json_t				*vals;	/* entered, or NULL */
	const char			*field;	/* at fault, or NULL */
	const char			*msg;
	const struct config_cluster	*c;
	const struct config_queue	*q;
};

/* The entered value of @name, or @def. */
static const char *
pages_val(const struct pages_spawn *sp, const char *name, const char *def)
{
	const char	*v = json_string_value(json_object_get(sp->vals, name));

	return (v != NULL ? v : def);
}

/* aria-describedby (hint, and error if at fault) of input @name. */
static void
pages_aria(struct evbuffer *b, const struct pages_spawn *sp, const char *name)
{
	int	bad = sp->field != NULL && strcmp(sp->field, name) == 0;

	evbuffer_add_printf(b, " aria-describedby=\"h-%s%s%s\"%s", name,
	    bad ? " e-" : "", bad ? name : "", bad ? " aria-invalid=\"true\"" : "");
}

/* The hint of input @name, then its error if it is at fault; closes the field. */
static void
pages_hint(struct evbuffer *b, const struct pages_spawn *sp, const char *name,
    const char *hint)
{
	evbuffer_add_printf(b, "<span class=\"hint\" id=\"h-%s\">", name);
	pages_esc(b, hint);
	evbuffer_add_printf(b, "</span>");
	if (sp->field != NULL && strcmp(sp->field, name) == 0) {
		evbuffer_add_printf(b, "<span class=\"error\" id=\"e-%s\">", name);
		pages_esc(b, sp->msg);
		evbuffer_add_printf(b, "</span>");
	}
	evbuffer_add_printf(b, "</div>\n");
}

/* A text or number input with its label, hint and error. */
static void
pages_input(struct evbuffer *b, const struct pages_spawn *sp, const char *name,
    const char *label, const char *value, const char *attrs, const char *hint)
{
	evbuffer_add_printf(b, "<div class=\"field\"><label for=\"f-%s\">%s</label>"
	    "<input id=\"f-%s\" name=\"%s\" %s value=\"", name, label, name, name,
	    attrs);
	pages_esc(b, value);
	evbuffer_add_printf(b, "\"");
	pages_aria(b, sp, name);
	evbuffer_add_printf(b, ">");
	pages_hint(b, sp, name, hint);
}

/* Opens a <select> with its label. */
static void
pages_select(struct evbuffer *b, const struct pages_spawn *sp, const char *name,
    const char *label)
{
	evbuffer_add_printf(b, "<div class=\"field\"><label for=\"f-%s\">%s</label>"
	    "<select id=\"f-%s\" name=\"%s\"", name, label, name, name);
	pages_aria(b, sp, name);
	evbuffer_add_printf(b, ">");
}

static void
pages_option(struct evbuffer *b, const char *value, const char *text,
    const char *desc, const char *chosen)
{
	evbuffer_add_printf(b, "<option value=\"");
	pages_esc(b, value);
	evbuffer_add_printf(b, "\"%s>", strcmp(value, chosen) == 0 ?
	    " selected" : "");
	pages_esc(b, text);
	if (desc != NULL && *desc != '\0') {
		evbuffer_add_printf(b, " — ");
		pages_esc(b, desc);
	}
	evbuffer_add_printf(b, "</option>");
}

/* Cluster and queue: what the limits below depend on. */
static void
pages_spawn_where(struct evbuffer *b, const struct pages_spawn *sp)
{
	const struct config	*cfg = gate->cfg;
	const struct sched_queue *qs;
	char			*text;
	size_t			 i;

	if (cfg->nclusters > 1) {
		pages_select(b, sp, "cluster", "Cluster");
		for (i = 0; i < cfg->nclusters; i++)
			pages_option(b, cfg->clusters[i].name, cfg->clusters[i].name,
			    NULL, sp->c->name);
		evbuffer_add_printf(b, "</select>");
		pages_hint(b, sp, "cluster", "Where the job runs.");
	} else {
		evbuffer_add_printf(b, "<input type=\"hidden\" name=\"cluster\" "
		    "value=\"");
		pages_esc(b, sp->c->name);
		evbuffer_add_printf(b, "\">");
	}
	pages_select(b, sp, "queue", "Queue");
	for (i = 0; i < sp->c->nqueues; i++) {
		qs = session_queue_state(sp->c->name, sp->c->queues[i].name);
		if (qs == NULL)
			text = xstrdup(sp->c->queues[i].description);
		else if (!qs->available)
			xasprintf(&text, "%s%sdown: jobs wait until it is up again",
			    sp->c->queues[i].description, *sp->c->queues[i].description !=
			    '\0' ? "; " : "");
		else
			xasprintf(&text, "%s%s%d of %d cores idle now",
			    sp->c->queues[i].description, *sp->c->queues[i].description !=
			    '\0' ? "; " : "", qs->cpus_idle, qs->cpus_total);
		pages_option(b, sp->c->queues[i].name, sp->c->queues[i].name, text,
		    sp->q->name);
		free(text);
	}
	evbuffer_add_printf(b, "</select>");
	pages_hint(b, sp, "queue", "The limits below are the chosen queue's; "
	    "after changing cluster or queue, press \"Show limits\".");
}

/* Walltime, cores, memory, gpus: inputs with the queue's limits. */
static void
pages_spawn_limits(struct evbuffer *b, const struct pages_spawn *sp)
{
	const struct config_queue	*q = sp->q;
	char				 def[32], lo[32], hi[32], attrs[128], *hint;

	jobreq_fmt_duration(def, sizeof def, q->walltime_def);
	jobreq_fmt_duration(lo, sizeof lo, q->walltime_min);
	jobreq_fmt_duration(hi, sizeof hi, q->walltime_max);
	snprintf(attrs, sizeof attrs, "type=\"text\" data-min=\"%d\" data-max=\"%d\" "
	    "required", q->walltime_min, q->walltime_max);
	xasprintf(&hint, "From %s to %s (default %s), e.g. 1h30m or 01:30:00.",
	    lo, hi, def);
	pages_input(b, sp, "walltime", "Walltime", pages_val(sp, "walltime", def),
	    attrs, hint);
	free(hint);
	snprintf(def, sizeof def, "%d", q->cores_def);
	snprintf(attrs, sizeof attrs, "type=\"number\" min=\"%d\" max=\"%d\" "
	    "step=\"1\" required", q->cores_min, q->cores_max);
	xasprintf(&hint, "From %d to %d (default %d).", q->cores_min, q->cores_max,
	    q->cores_def);
	pages_input(b, sp, "cores", "Cores", pages_val(sp, "cores", def), attrs,
	    hint);
	free(hint);
	pages_fmt_size(def, sizeof def, q->memory_def);
	pages_fmt_size(lo, sizeof lo, q->memory_min);
	pages_fmt_size(hi, sizeof hi, q->memory_max);
	snprintf(attrs, sizeof attrs, "type=\"text\" data-min=\"%zu\" data-max="
	    "\"%zu\" required", q->memory_min, q->memory_max);
	xasprintf(&hint, "From %s to %s (default %s), e.g. 512MiB or 4GiB.", lo,
	    hi, def);
	pages_input(b, sp, "memory", "Memory", pages_val(sp, "memory", def), attrs,
	    hint);
	free(hint);
	if (q->gpus_max <= 0)
		return;
	snprintf(def, sizeof def, "%d", q->gpus_def);
	snprintf(attrs, sizeof attrs, "type=\"number\" min=\"%d\" max=\"%d\" "
	    "step=\"1\"", q->gpus_min, q->gpus_max);
	xasprintf(&hint, "From %d to %d (default %d).", q->gpus_min, q->gpus_max,
	    q->gpus_def);
	pages_input(b, sp, "gpus", "GPUs", pages_val(sp, "gpus", def), attrs, hint);
	free(hint);
}

/* Container and account: the cluster's choices. */
static void
pages_spawn_choices(struct evbuffer *b, const struct pages_spawn *sp)
{
	const struct config_cluster	*c = sp->c;
	const struct cred		*cred;
	const char *const		*acc;
	const char			*cur;
	char				*text;
	size_t				 i;

	pages_select(b, sp, "container", "Container");
	cur = pages_val(sp, "container", c->default_container);
	for (i = 0; i < c->ncontainers; i++)
		pages_option(b, c->containers[i].name, c->containers[i].name,
		    c->containers[i].description, cur);
	evbuffer_add_printf(b, "</select>");
	pages_hint(b, sp, "container", "The software environment of the notebook.");
	cur = pages_val(sp, "account", "");
	if (c->naccounts > 0) {
		pages_select(b, sp, "account", "Account");
		xasprintf(&text, "Default%s%s%s", c->charging == CONFIG_COMMUNITY ?
		    " (" : "", c->charging == CONFIG_COMMUNITY ? c->community_account :
		    "", c->charging == CONFIG_COMMUNITY ? ")" : "");
		pages_option(b, "", text, NULL, cur);
		free(text);
		for (i = 0; i < c->naccounts; i++)
			pages_option(b, c->accounts[i], c->accounts[i], NULL, cur);
		evbuffer_add_printf(b, "</select>");
		pages_hint(b, sp, "account", "What the job is charged to.");
	} else if (c->charging == CONFIG_USER) {
		cred = cred_get(sp->ar->user);
		acc = cred != NULL ? session_accounts(c->name, cred->account) : NULL;
		if (cred == NULL) {
			evbuffer_add_printf(b, "<p class=\"error\" id=\"no-cred\">"
			    "Notebooks on this cluster run as you, charged to your "
			    "own allocation: first give nbgate your <a href=\""
			    "/hub/credential\">credential</a>.</p>");
		} else if (acc != NULL) {
			pages_select(b, sp, "account", "Allocation");
			pages_option(b, "", "Your default", NULL, cur);
			for (; *acc != NULL; acc++)
				pages_option(b, *acc, *acc, NULL, cur);
			evbuffer_add_printf(b, "</select>");
			pages_hint(b, sp, "account", "The allocations your account may "
			    "charge on this cluster.");
		} else
			pages_input(b, sp, "account", "Allocation", cur, "type=\"text\" "
			    "maxlength=\"64\"", "Optional; empty for your default "
			    "allocation.");
	}
}

/* The spawn form for sp->server with status @code. */
static void
pages_spawn_render(struct api_resp *rs, int code, struct pages_spawn *sp)
{
	const struct config	*cfg = gate->cfg;
	const struct session	*s;
	const char		*v, *srv = sp->server;
	struct evbuffer		*b;
	char			*title;

	if (cfg->nclusters == 0) {
		pages_message(rs, 503, "No clusters", "No clusters are set up on "
		    "this gateway.", sp->ar->user);
		return;
	}
	v = pages_val(sp, "cluster", NULL);
	if (v == NULL || (sp->c = config_cluster_find(cfg, v)) == NULL)
		sp->c = &cfg->clusters[0];
	v = pages_val(sp, "queue", NULL);
	if (v == NULL || (sp->q = config_queue_find(sp->c, v)) == NULL)
		sp->q = config_queue_find(sp->c, sp->c->default_queue);
	xasprintf(&title, "Start %s%s", *srv != '\0' ? "server " : "your default "
	    "server", srv);
	b = pages_begin(title, sp->ar->user);
	free(title);
	if ((s = session_find(sp->ar->user, srv)) != NULL &&
	    session_state(s) != SESSION_ENDED) {
		evbuffer_add_printf(b, "<p class=\"notice\">This server is %s. <a "
		    "href=\"/hub/spawn-pending%s", session_state_name(session_state(s)),
		    pages_slash(srv));
		pages_esc(b, srv);
		evbuffer_add_printf(b, "\">See its progress</a>.</p>\n");
	}
	if (sp->msg != NULL) {	/* also next to its field, when it has one */
		evbuffer_add_printf(b, "<p class=\"error\" role=\"alert\">The server "
		    "was not started: ");
		pages_esc(b, sp->msg);
		evbuffer_add_printf(b, "</p>\n");
	}
	evbuffer_add_printf(b, "<form method=\"post\" action=\"/hub/spawn%s",
	    pages_slash(srv));
	pages_esc(b, srv);
	evbuffer_add_printf(b, "\">");
	pages_xsrf_field(b, sp->ar);
	pages_spawn_where(b, sp);
	pages_spawn_limits(b, sp);
	pages_spawn_choices(b, sp);
	evbuffer_add_printf(b, "<p><button type=\"submit\" name=\"_action\" "
	    "value=\"start\">Start</button> <button type=\"submit\" class=\""
	    "secondary\" name=\"_action\" value=\"reload\" formnovalidate>Show "
	    "limits</button></p></form>\n<script nonce=\"%s\">(function(){var f="
	    "document.querySelector('form[method=post]');['f-cluster','f-queue']"
	    ".forEach(function(i){var e=document.getElementById(i);if(e)e."
	    "addEventListener('change',function(){var r=f.querySelector("
	    "'button[value=reload]');if(f.requestSubmit)f.requestSubmit(r);else "
	    "r.click();});});})();</script>\n", pages_nonce);
	pages_reply(rs, code, b, NULL);
}

/* GET /hub/spawn[/SERVER][?cluster=&queue=] (or ?server=NAME: go there). */
static void
pages_spawn_get(const struct api_req *ar, struct api_resp *rs,
    const char *server)
{
	struct pages_spawn	 sp = { .ar = ar, .server = server };
	const char		*q = ar->query != NULL ? ar->query : "", *named;
	char			*cause, *where;

	if ((sp.vals = pages_form_parse(q, strlen(q), &cause)) == NULL) {
		xasprintf(&where, "The address could not be read: %s.", cause);
		pages_message(rs, 400, "Bad address", where, ar->user);
		free(where);
		free(cause);
		return;
	}
	if ((named = pages_val(&sp, "server", NULL)) != NULL) {
		if (*server != '\0' || *named == '\0' || !util_server_name_valid(named))
			pages_message(rs, 400, "Not a server name", "A server name is "
			    "lowercase letters, digits, '_', '.' and '-', at most 64.",
			    ar->user);
		else {
			xasprintf(&where, "/hub/spawn/%s", named);
			pages_redirect(rs, where);
			free(where);
		}
	} else
		pages_spawn_render(rs, 200, &sp);
	json_decref(sp.vals);
}

/* POST /hub/spawn[/SERVER]: start (or re-show the form for another queue). */
static void
pages_spawn_post(const struct api_req *ar, struct api_resp *rs,
    const char *server)
{
	struct pages_spawn	 sp = { .ar = ar, .server = server };
	const char		*k, *action;
	json_t			*form, *opts, *v;
	char			*field = NULL, *msg = NULL, *where;
	size_t			 i;
	enum result_kind res;

	if ((form = pages_post_form(ar, rs)) == NULL)
		return;
	opts = json_object();
	json_object_foreach(form, k, v) {
		for (i = 0; i < nitems(pages_spawn_fields); i++) {
			if (strcmp(k, pages_spawn_fields[i]) == 0)
				json_object_set(opts, k, v);
		}
		if (!json_object_get(opts, k) && strcmp(k, "_xsrf") != 0 &&
		    strcmp(k, "_action") != 0) {
			xasprintf(&msg, "The form has a field this page does not "
			    "know: %s.", k);
			pages_message(rs, 400, "Bad form", msg, ar->user);
			goto out;
		}
	}
	sp.vals = opts;
	action = json_string_value(json_object_get(form, "_action"));
	if (action != NULL && strcmp(action, "reload") == 0) {
		pages_spawn_render(rs, 200, &sp);
		goto out;
	}
	if (session_start(ar->user, ar->user, server, opts, &res, &field,
	    &msg) == NULL) {
		sp.field = field;
		sp.msg = msg;
		pages_spawn_render(rs, status_code(res), &sp);
		goto out;
	}
	xasprintf(&where, "/hub/spawn-pending%s%s", pages_slash(server), server);
	pages_redirect(rs, where);
	free(where);
out:
	free(field);
	free(msg);
	json_decref(opts);
	json_decref(form);
}

/* The pending page's live updates (textContent only; same-origin URLs only). */
static const char pages_pending_js[] =
	"(function(){var $=function(i){return document.getElementById(i)};"
	"if(!window.EventSource)return;var es=new EventSource($('progress-url')"
	".getAttribute('data-url'));es.onmessage=function(x){var d;try{d=JSON."
	"parse(x.data)}catch(e){return}if(typeof d.message==='string')$('msg')."
	"textContent=d.message;if(typeof d.phase==='string')$('phase')."
	"textContent=d.phase;if(typeof d.progress==='number')$('bar').value="
	"d.progress;if(d.ready&&typeof d.url==='string'&&d.url.charAt(0)==='/'"
	"&&d.url.charAt(1)!=='/'&&d.url.charAt(1)!=='\\\\'){es.close();location."
	"assign(d.url)}if(d.failed){es.close();$('failure').hidden=false;$("
	"'errout').textContent=d.error_output||'(no error output)';var c=$("
	"'cancel');if(c)c.hidden=true}}})();";

/* GET /hub/spawn-pending[/SERVER]: the phase now, live with JS. */
static void
pages_pending(const struct api_req *ar, struct api_resp *rs,
    const char *server)
{
	const struct session	*s = session_find(ar->user, server);
	json_t			*ev;
	const char		*url, *err;
	struct evbuffer		*b;
	int			 final;

	if (s == NULL) {
		pages_message(rs, 404, "No such server", "This server has not been "
		    "started. Start it from your servers page.", ar->user);
		return;
	}
	ev = progress_event(s, &final);
	url = json_string_value(json_object_get(ev, "url"));
	err = json_string_value(json_object_get(ev, "error_output"));
	b = pages_begin(*server != '\0' ? "Starting a named server" :
	    "Starting your server", ar->user);
	evbuffer_add_printf(b, "<p id=\"progress-url\" data-url=\"/hub/api/users/");
	pages_esc(b, ar->user);
	evbuffer_add_printf(b, "/server%s", *server != '\0' ? "s/" : "");
	pages_esc(b, server);
	evbuffer_add_printf(b, "/progress\">Server: <strong>");
	pages_esc(b, *server != '\0' ? server : "default");
	evbuffer_add_printf(b, "</strong>; phase: <strong id=\"phase\">");
	pages_esc(b, json_string_value(json_object_get(ev, "phase")));
	evbuffer_add_printf(b, "</strong></p><label for=\"bar\">Progress</label>"
	    "<progress id=\"bar\" max=\"100\" value=\"%d\"></progress>"
	    "<p id=\"msg\" role=\"status\" aria-live=\"polite\">",
	    (int)json_integer_value(json_object_get(ev, "progress")));
	pages_esc(b, json_string_value(json_object_get(ev, "message")));
	evbuffer_add_printf(b, "</p>\n");
	if (url != NULL) {
		evbuffer_add_printf(b, "<p><a class=\"button\" href=\"");
		pages_esc(b, url);
		evbuffer_add_printf(b, "\">Open your notebook</a></p>\n");
	}
	evbuffer_add_printf(b, "<section id=\"failure\"%s><h2>Why it failed</h2>"
	    "<pre id=\"errout\">", json_is_true(json_object_get(ev, "failed")) ?
	    "" : " hidden");
	pages_esc(b, err != NULL ? err : "(no error output)");
	evbuffer_add_printf(b, "</pre></section>\n<p>");
	if (!final) {
		evbuffer_add_printf(b, "<span id=\"cancel\">");
		pages_stop_form(b, ar, server, "Cancel");
		evbuffer_add_printf(b, "</span> ");
	}
	evbuffer_add_printf(b, "<a href=\"/hub/spawn-pending%s", pages_slash(server));
	pages_esc(b, server);
	evbuffer_add_printf(b, "\">Refresh</a> · <a href=\"/hub/home\">Your servers"
	    "</a></p>\n<script nonce=\"%s\">%s</script>\n", pages_nonce,
	    pages_pending_js);
	pages_reply(rs, 200, b, NULL);
	json_decref(ev);
}

/* POST /hub/stop[/SERVER]. */
static void
pages_stop(const struct api_req *ar, struct api_resp *rs, const char *server)
{
	json_t	*form;
	char	*msg = NULL;
	enum result_kind res;
	int	 ended;

	if ((form = pages_post_form(ar, rs)) == NULL)
		return;
	if ((res = session_stop(ar->user, ar->user, server, &ended, &msg)) !=
	    RESULT_OK)
		pages_message(rs, status_code(res), "Not stopped", msg,
		    ar->user);
	else
		pages_redirect(rs, "/hub/home");
	free(msg);
	json_decref(form);
}

/* The admin page's filters: ?user= and ?state=, both optional, validated. */
struct pages_admin {
	const struct api_req	*ar;
	const char		*user;	/* NULL: everyone */
	const char		*state;	/* NULL: every state */
	struct evbuffer		*b;
	size_t			 n;	/* rows shown */
};

/* 0 if @state names a session state. */
static int
pages_state_valid(const char *state)
{
	int	i;

	for (i = 0; i < SESSION_NSTATES; i++) {
		if (strcmp(state, session_state_name(i)) == 0)
			return (0);
	}
	return (-1);
}

/*
 * Reads and checks the filters of @vals (borrowed into @pa); -1 with a 400
 * page naming the parameter otherwise. @extra is the one other field allowed.
 */
static int
pages_admin_filters(struct pages_admin *pa, json_t *vals, const char *extra,
    struct api_resp *rs)
{
	const char	*k, *bad = NULL;
	json_t		*v;
	char		*text;

	json_object_foreach(vals, k, v) {
		if (strcmp(k, "user") != 0 && strcmp(k, "state") != 0 &&
		    (extra == NULL || strcmp(k, extra) != 0) &&
		    strcmp(k, "_xsrf") != 0 && bad == NULL)
			bad = k;
	}
	pa->user = json_string_value(json_object_get(vals, "user"));
	pa->state = json_string_value(json_object_get(vals, "state"));
	if (pa->user != NULL && *pa->user == '\0')
		pa->user = NULL;
	if (pa->state != NULL && *pa->state == '\0')
		pa->state = NULL;
	if (bad != NULL)
		xasprintf(&text, "The address has a parameter this page does not "
		    "know: %s.", bad);
	else if (pa->user != NULL && !util_user_name_valid(pa->user))
		xasprintf(&text, "Parameter user is not a user name.");
	else if (pa->state != NULL && pages_state_valid(pa->state) == -1)
		xasprintf(&text, "Parameter state is not a session state (requested, "
		    "submitted, queued, starting, running, stopping, ended, unknown).");
	else
		return (0);
	pages_message(rs, 400, "Bad filter", text, pa->ar->user);
	free(text);
	return (-1);
}

/* "/hub/admin" with the filters of @pa (validated, so not escaped). */
static char *
pages_admin_url(const struct pages_admin *pa)
{
	char	*url;

	xasprintf(&url, "/hub/admin%s%s%s%s%s", pa->user != NULL ||
	    pa->state != NULL ? "?" : "", pa->user != NULL ? "user=" : "",
	    pa->user != NULL ? pa->user : "", pa->user != NULL &&
	    pa->state != NULL ? "&state=" : pa->state != NULL ? "state=" : "",
	    pa->state != NULL ? pa->state : "");
	return (url);
}

/* A table cell with @s escaped. */
static void
pages_td(struct evbuffer *b, const char *s)
{
	evbuffer_add_printf(b, "<td>");
	pages_esc(b, s);
	evbuffer_add_printf(b, "</td>");
}

/* The last cell of an admin row: Stop if active, Why if it ended. */
static void
pages_admin_action(struct pages_admin *pa, const struct session *s, json_t *st)
{
	const char	*err = json_string_value(json_object_get(st, "error_output"));
	const char	*reason = json_string_value(json_object_get(st, "reason"));
	struct evbuffer	*b = pa->b;

	evbuffer_add_printf(b, "<td>");
	if (session_state(s) == SESSION_ENDED) {
		evbuffer_add_printf(b, "<details><summary>Why</summary><p>");
		pages_esc(b, reason != NULL ? reason : "(no reason recorded)");
		evbuffer_add_printf(b, "</p><pre>");
		pages_esc(b, err != NULL ? err : "(no error output)");
		evbuffer_add_printf(b, "</pre></details>");
	} else if (session_state(s) != SESSION_STOPPING) {
		evbuffer_add_printf(b, "<form class=\"inline\" method=\"post\" "
		    "action=\"/hub/admin/stop\">");
		pages_xsrf_field(b, pa->ar);
		evbuffer_add_printf(b, "<input type=\"hidden\" name=\"session\" "
		    "value=\"%lld\">", session_id(s));
		if (pa->user != NULL)
			evbuffer_add_printf(b, "<input type=\"hidden\" name=\"user\" "
			    "value=\"%s\">", pa->user);	/* validated */
		if (pa->state != NULL)
			evbuffer_add_printf(b, "<input type=\"hidden\" name=\"state\" "
			    "value=\"%s\">", pa->state);	/* validated */
		evbuffer_add_printf(b, "<button type=\"submit\">Stop</button></form>");
	}
	evbuffer_add_printf(b, "</td></tr>\n");
}

/* One row of the admin table, if it passes the filters. */
static void
pages_admin_row(const struct session *s, void *arg)
{
	struct pages_admin	*pa = arg;
	json_t			*j, *st;
	double			 created, started, ready, ended;
	char			 age[32];

	if ((pa->user != NULL && strcmp(pa->user, session_user(s)) != 0) ||
	    (pa->state != NULL && strcmp(pa->state,
	    session_state_name(session_state(s))) != 0))
		return;
	j = session_json(s, 0);
	st = json_object_get(j, "state");
	session_times(s, &created, &started, &ready, &ended);
	jobreq_fmt_duration(age, sizeof age, (long long)(time(NULL) - created));
	evbuffer_add_printf(pa->b, "<tr><th scope=\"row\">");
	pages_esc(pa->b, session_user(s));
	evbuffer_add_printf(pa->b, "</th>");
	pages_td(pa->b, *session_server(s) != '\0' ? session_server(s) : "default");
	pages_td(pa->b, json_string_value(json_object_get(st, "cluster")));
	pages_td(pa->b, json_string_value(json_object_get(st, "queue")));
	pages_td(pa->b, json_string_value(json_object_get(st, "job_id")));
	pages_td(pa->b, session_state_name(session_state(s)));
	pages_td(pa->b, age);
	pages_td(pa->b, json_string_value(json_object_get(st, "account")));
	pages_td(pa->b, json_string_value(json_object_get(st, "node")));
	pages_td(pa->b, json_string_value(json_object_get(st, "reason")));
	pages_admin_action(pa, s, st);
	json_decref(j);
	pa->n++;
}

/* The filter form of the admin page. */
static void
pages_admin_form(struct evbuffer *b, const struct pages_admin *pa)
{
	int	i;

	evbuffer_add_printf(b, "<form method=\"get\" action=\"/hub/admin\">"
	    "<div class=\"field\"><label for=\"f-user\">User</label><input id="
	    "\"f-user\" name=\"user\" maxlength=\"64\" value=\"%s\"></div><div "
	    "class=\"field\"><label for=\"f-state\">State</label><select id="
	    "\"f-state\" name=\"state\"><option value=\"\">any</option>",
	    pa->user != NULL ? pa->user : "");	/* validated */
	for (i = 0; i < SESSION_NSTATES; i++)
		pages_option(b, session_state_name(i), session_state_name(i), NULL,
		    pa->state != NULL ? pa->state : "");
	evbuffer_add_printf(b, "</select></div><button type=\"submit\">Filter"
	    "</button> <a href=\"/hub/admin\">Show all</a></form>\n");
}

/* GET /hub/admin[?user=&state=]: every session in memory. */
static void
pages_admin(const struct api_req *ar, struct api_resp *rs)
{
	struct pages_admin	 pa = { .ar = ar };
	const char		*q = ar->query != NULL ? ar->query : "";
	json_t			*vals;
	char			*cause, *text;

	if ((vals = pages_form_parse(q, strlen(q), &cause)) == NULL) {
		xasprintf(&text, "The address could not be read: %s.", cause);
		pages_message(rs, 400, "Bad address", text, ar->user);
		free(text);
		free(cause);
		return;
	}
	if (pages_admin_filters(&pa, vals, NULL, rs) == -1)
		goto out;
	pa.b = pages_begin("All sessions", ar->user);
	pages_admin_form(pa.b, &pa);
	evbuffer_add_printf(pa.b, "<table><caption>Sessions in memory (active, "
	    "and the last ended one of each server)</caption><thead><tr>");
	evbuffer_add_printf(pa.b, "<th scope=\"col\">User</th><th scope=\"col\">"
	    "Server</th><th scope=\"col\">Cluster</th><th scope=\"col\">Queue</th>"
	    "<th scope=\"col\">Job</th><th scope=\"col\">State</th><th scope="
	    "\"col\">Age</th><th scope=\"col\">Account</th><th scope=\"col\">Node"
	    "</th><th scope=\"col\">Reason</th><th scope=\"col\">Actions</th>"
	    "</tr></thead><tbody>\n");
	session_foreach(pages_admin_row, &pa);
	if (pa.n == 0)
		evbuffer_add_printf(pa.b, "<tr><td colspan=\"11\">No sessions match."
		    "</td></tr>\n");
	evbuffer_add_printf(pa.b, "</tbody></table>\n");
	pages_reply(rs, 200, pa.b, NULL);
out:
	json_decref(vals);
}

/* POST /hub/admin/stop: session=ID, back to the admin page with its filters. */
static void
pages_admin_stop(const struct api_req *ar, struct api_resp *rs)
{
	struct pages_admin	 pa = { .ar = ar };
	const struct session	*s;
	const char		*idv;
	json_t			*form;
	char			*msg = NULL, *end, *where;
	long long		 id = 0;
	enum result_kind res;
	int			 ended;

	if ((form = pages_post_form(ar, rs)) == NULL)
		return;
	if (pages_admin_filters(&pa, form, "session", rs) == -1)
		goto out;
	if ((idv = json_string_value(json_object_get(form, "session"))) != NULL)
		id = strtoll(idv, &end, 10);
	if (idv == NULL || *idv == '\0' || *end != '\0' || id <= 0)
		pages_message(rs, 400, "Bad form", "The form has no session number.",
		    ar->user);
	else if ((s = session_by_id(id)) == NULL ||
	    session_state(s) == SESSION_ENDED)
		pages_message(rs, 409, "Not stopped", "This session has already "
		    "ended.", ar->user);
	else if ((res = session_stop(ar->user, session_user(s), session_server(s),
	    &ended, &msg)) != RESULT_OK)
		pages_message(rs, status_code(res), "Not stopped", msg,
		    ar->user);
	else {
		log_tag(ar->user, 0, NULL, NULL);
		log_info("pages: %s: stopped session %lld (%s)", ar->user, id,
		    session_user(s));
		where = pages_admin_url(&pa);
		pages_redirect(rs, where);
		free(where);
	}
out:
	free(msg);
	json_decref(form);
}

/* /hub/admin and /hub/admin/stop: administrators only. */
static void
pages_admin_dispatch(const struct api_req *ar, struct api_resp *rs,
    const char *rest, int get, int post)
{
	if (ar->user == NULL)
		pages_message(rs, 401, "Not logged in", "You are not logged in. Use "
		    "the login link your gateway or administrator gave you.", NULL);
	else if (!config_is_admin(gate->cfg, ar->user)) {
		log_info("pages: %s: not an administrator: %s refused", ar->user,
		    ar->path);
		pages_message(rs, 403, "Administrators only", "This page is for "
		    "the gateway's administrators.", ar->user);
	} else if (*rest == '\0' && get)
		pages_admin(ar, rs);
	else if (strcmp(rest, "/stop") == 0 && post)
		pages_admin_stop(ar, rs);
	else if (*rest == '\0' || strcmp(rest, "/stop") == 0)
		pages_message(rs, 405, "Method not allowed", "This page does not take "
		    "that method.", ar->user);
	else
		pages_message(rs, 404, "Not found", "There is no such page.",
		    ar->user);
}

/* /hub/home for a visitor when password login is on: a link to it. */
static void
pages_login_link(struct api_resp *rs)
{
	struct evbuffer	*b = pages_begin("nbgate", NULL);

	evbuffer_add_printf(b, "<p>You are not logged in. <a class=\"button\" "
	    "href=\"/hub/login\">Log in</a>%s, or use a login link your "
	    "administrator gave you.</p>\n", gate->cfg->auth_pam ? " with your "
	    "cluster user name and password" : "");
	pages_reply(rs, 200, b, NULL);
}

/* @path minus @prefix if it is that prefix, alone or followed by '/'. */
static const char *
pages_prefix(const char *path, const char *prefix)
{
	size_t	n = strlen(prefix);

	if (strncmp(path, prefix, n) != 0 || (path[n] != '\0' && path[n] != '/'))
		return (NULL);
	return (path + n);
}

/* Answers /hub/home, spawn, spawn-pending, stop and admin; 0 if not ours. */
int
pages_dispatch(const struct api_req *ar, struct api_resp *rs)
{
	const char	*rest, *m = ar->method;
	int		 get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	int		 post = strcmp(m, "POST") == 0, kind;

	if (strcmp(ar->path, "/hub/home") == 0) {
		if (ar->user == NULL && (gate->cfg->auth_pam || oidc_enabled()))
			pages_login_link(rs);
		else if (ar->user == NULL)
			pages_message(rs, 200, "nbgate", "You are not logged in. Use the "
			    "login link your gateway or administrator gave you.", NULL);
		else if (!get)
			pages_message(rs, 405, "Method not allowed", "Use GET.", ar->user);
		else
			pages_home(ar, rs);
		return (1);
	}
	if (strcmp(ar->path, "/hub/logout") == 0) {
		pages_logout(ar, rs, get, post);
		return (1);
	}
	if (strcmp(ar->path, "/hub/credential") == 0) {
		if (ar->user == NULL)
			pages_message(rs, 403, "Not logged in", "You are not logged "
			    "in.", NULL);
		else if (!get && !post)
			pages_message(rs, 405, "Method not allowed", "Use the forms "
			    "on this page.", ar->user);
		else
			pages_credential(ar, rs, get);
		return (1);
	}
	if ((rest = pages_prefix(ar->path, "/hub/admin")) != NULL) {
		pages_admin_dispatch(ar, rs, rest, get, post);
		return (1);
	}
	if ((rest = pages_prefix(ar->path, "/hub/spawn-pending")) != NULL)
		kind = 'p';
	else if ((rest = pages_prefix(ar->path, "/hub/spawn")) != NULL)
		kind = 's';
	else if ((rest = pages_prefix(ar->path, "/hub/stop")) != NULL)
		kind = 'x';
	else
		return (0);
	if (*rest == '/' && (*++rest == '\0' || !util_server_name_valid(rest)))
		pages_message(rs, 404, "Not found", "There is no such server page.",
		    ar->user);
	else if (ar->user == NULL)
		pages_message(rs, 403, "Not logged in", "You are not logged in. Use "
		    "the login link your gateway or administrator gave you.", NULL);
	else if (kind == 's' && get)
		pages_spawn_get(ar, rs, rest);
	else if (kind == 's' && post)
		pages_spawn_post(ar, rs, rest);
	else if (kind == 'p' && get)
		pages_pending(ar, rs, rest);
	else if (kind == 'x' && post)
		pages_stop(ar, rs, rest);
	else
		pages_message(rs, 405, "Method not allowed", kind == 'x' ? "Use the "
		    "Stop button." : "This page does not take that method.", ar->user);
	return (1);
}
