/*
 * pages.c: the page kit every HTML page under /hub/ is made with: a page is
 * pages_begin() .. pages_reply() (head, stylesheet, header bar, CSP nonce);
 * text goes through pages_esc(); a POST form opens with pages_form() (its
 * _xsrf token, bound to the login cookie) and comes back through
 * pages_post_form() (origin, strict decoder, token). pages_dispatch() sends
 * /hub/home, spawn, spawn-pending, stop, logout, credential and admin to the
 * files that draw them (home.c, spawn.c, pending.c, login.c, credential.c,
 * admin.c).
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

#define PAGES_FORM_FIELDS	16	/* fields in one form */
#define PAGES_NAME_MAX		32	/* bytes of a field name: [a-z_] */

/*
 * The CSRF key: random, in memory only. A restart makes open forms stale
 * (403 "reload the page"); the login cookie itself stays valid.
 */
static unsigned char	 pages_key[32];
static int		 pages_key_ready;
static char		 pages_nonce[33];	/* CSP nonce of the page being built */


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

/* Writes @s HTML-escaped (text and attribute values); NULL writes nothing. */
void
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
json_t *
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

/* The request's query decoded as a form (pages_form_parse()); "" if none. */
json_t *
pages_query(const struct api_req *ar, char **cause)
{
	const char	*q = ar->query != NULL ? ar->query : "";

	return (pages_form_parse(q, strlen(q), cause));
}

/* The query as pages_query(), or NULL with a 400 page naming the fault. */
json_t *
pages_query_page(const struct api_req *ar, struct api_resp *rs)
{
	json_t	*vals;
	char	*cause, *text;

	if ((vals = pages_query(ar, &cause)) == NULL) {
		xasprintf(&text, "The address could not be read: %s.", cause);
		pages_message(rs, 400, "Bad address", text, ar->user);
		free(text);
		free(cause);
	}
	return (vals);
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
char *
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

/* A hidden field @name with @value (escaped). */
void
pages_hidden(struct evbuffer *b, const char *name, const char *value)
{
	evbuffer_add_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	pages_esc(b, value);
	evbuffer_add_printf(b, "\">");
}

/*
 * Opens a POST form to @action (escaped; @class NULL or a class name) and
 * writes its hidden _xsrf field with @token.
 */
void
pages_form_token(struct evbuffer *b, const char *class, const char *action,
    const char *token)
{
	evbuffer_add_printf(b, "<form%s%s%s method=\"post\" action=\"",
	    class != NULL ? " class=\"" : "", class != NULL ? class : "",
	    class != NULL ? "\"" : "");
	pages_esc(b, action);
	evbuffer_add_printf(b, "\">");
	pages_hidden(b, "_xsrf", token);
}

/* pages_form_token() with this request's login cookie's token ("" without). */
void
pages_form(struct evbuffer *b, const struct api_req *ar, const char *class,
    const char *action)
{
	char	*cookie = pages_cookie(ar), hex[65] = "";

	if (cookie != NULL)
		pages_xsrf(cookie, hex);
	freestr(cookie);
	pages_form_token(b, class, action, hex);
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
static int
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
void
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
void
pages_redirect(struct api_resp *rs, const char *where)
{
	pages_moved(rs, 303, "Moved", where, "Continue");
}

/* A @code redirect to @where: page @title with a link @text to it. */
void
pages_moved(struct api_resp *rs, int code, const char *title, const char *where,
    const char *text)
{
	struct evbuffer	*b = pages_begin(title, NULL);

	evbuffer_add_printf(b, "<p><a href=\"");
	pages_esc(b, where);
	evbuffer_add_printf(b, "\">");
	pages_esc(b, text);
	evbuffer_add_printf(b, "</a></p>\n");
	pages_reply(rs, code, b, where);
}

/* Adds a Set-Cookie for @name=@value on @path for @age s (0: delete it). */
void
pages_set_cookie(struct api_resp *rs, const char *name, const char *value,
    const char *path, int age)
{
	char	*h;

	xasprintf(&h, "Set-Cookie: %s=%s; Path=%s; Max-Age=%d; HttpOnly; Secure; "
	    "SameSite=Lax\r\n", name, value, path, age);
	api_add_headers(rs, h);
}

/* Logs @user in on this response: a fresh login cookie. */
void
pages_login_cookie(struct api_resp *rs, const char *user)
{
	char	*cookie = auth_cookie_make(user, gate->cfg->cookie_max_age);

	pages_set_cookie(rs, AUTH_COOKIE, cookie, "/", gate->cfg->cookie_max_age);
	freestr(cookie);
}

/* Writes a <script> with this page's nonce (CSP). */
void
pages_script(struct evbuffer *b, const char *js)
{
	evbuffer_add_printf(b, "<script nonce=\"%s\">%s</script>\n", pages_nonce,
	    js);
}

/* "/NAME" for a named server, "" for the default one. */
const char *
pages_slash(const char *server)
{
	return (*server != '\0' ? "/" : "");
}

/*
 * Reads a POSTed form into *form (owned): PAGES_FORM_OK, or what is wrong
 * with it (PAGES_FORM_BAD with *cause, caller frees). The _xsrf token is the
 * caller's to check: a login form has no login cookie yet.
 */
int
pages_form_read(const struct api_req *ar, size_t formmax, size_t fieldmax,
    json_t **form, char **cause)
{
	const char	*ct = http_msg_get(ar->head, "content-type");
	size_t		 len = evbuffer_get_length(ar->body), n = 33;

	*form = NULL;
	if (pages_same_origin(ar) == -1)
		return (PAGES_FORM_FOREIGN);
	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded",
	    n) != 0 || (ct[n] != '\0' && ct[n] != ';'))
		return (PAGES_FORM_TYPE);
	*form = pages_form_parse_max((const char *)evbuffer_pullup(ar->body, -1),
	    len, formmax, fieldmax, cause);
	if (*form == NULL)
		return (len > formmax ? PAGES_FORM_LARGE : PAGES_FORM_BAD);
	return (PAGES_FORM_OK);
}

/*
 * The POSTed form after the origin, encoding and token checks, owned; NULL
 * with the response set otherwise.
 */
json_t *
pages_post_form(const struct api_req *ar, struct api_resp *rs)
{
	return (pages_post_form_max(ar, rs, PAGES_FORM_MAX, PAGES_FIELD_MAX));
}

/* pages_post_form() with other limits (large fields: certificates). */
json_t *
pages_post_form_max(const struct api_req *ar, struct api_resp *rs,
    size_t formmax, size_t fieldmax)
{
	json_t	*form;
	char	*cause = NULL, *text;
	int	 rv;

	switch (rv = pages_form_read(ar, formmax, fieldmax, &form, &cause)) {
	case PAGES_FORM_OK:
		break;
	case PAGES_FORM_FOREIGN:
		log_info("pages: %s: a form from another site was refused", ar->user);
		pages_message(rs, 403, "Request refused", "This form was sent from "
		    "another web site, so it was not carried out. Open your servers "
		    "page on this gateway and try again there.", ar->user);
		return (NULL);
	case PAGES_FORM_TYPE:
		pages_message(rs, 415, "Unsupported form", "The form must be sent "
		    "as application/x-www-form-urlencoded.", ar->user);
		return (NULL);
	default:
		xasprintf(&text, "The form could not be read: %s.", cause);
		pages_message(rs, rv == PAGES_FORM_LARGE ? 413 : 400, "Bad form",
		    text, ar->user);
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

/* An <option> of @value showing @text (— @desc), selected if it is @chosen. */
void
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

/* @path minus @prefix if it is that prefix, alone or followed by '/'. */
static const char *
pages_prefix(const char *path, const char *prefix)
{
	size_t	n = strlen(prefix);

	if (strncmp(path, prefix, n) != 0 || (path[n] != '\0' && path[n] != '/'))
		return (NULL);
	return (path + n);
}

/* Answers /hub/home, logout, credential, admin, spawn, spawn-pending, stop,
 * extend, relaunch; 0 if not ours. */
int
pages_dispatch(const struct api_req *ar, struct api_resp *rs)
{
	const char	*rest, *m = ar->method;
	int		 get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	int		 post = strcmp(m, "POST") == 0, kind;

	if (strcmp(ar->path, "/hub/home") == 0) {
		if (ar->user == NULL && (gate->cfg->auth_pam || oidc_enabled()))
			home_login_link(rs);
		else if (ar->user == NULL)
			pages_message(rs, 200, "nbgate", "You are not logged in. Use the "
			    "login link your gateway or administrator gave you.", NULL);
		else if (!get)
			pages_message(rs, 405, "Method not allowed", "Use GET.", ar->user);
		else
			home_page(ar, rs);
		return (1);
	}
	if (strcmp(ar->path, "/hub/logout") == 0) {
		login_logout(ar, rs, get, post);
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
			credential_page(ar, rs, get);
		return (1);
	}
	if ((rest = pages_prefix(ar->path, "/hub/admin")) != NULL) {
		admin_dispatch(ar, rs, rest, get, post);
		return (1);
	}
	if ((rest = pages_prefix(ar->path, "/hub/spawn-pending")) != NULL)
		kind = 'p';
	else if ((rest = pages_prefix(ar->path, "/hub/spawn")) != NULL)
		kind = 's';
	else if ((rest = pages_prefix(ar->path, "/hub/stop")) != NULL)
		kind = 'x';
	else if ((rest = pages_prefix(ar->path, "/hub/extend")) != NULL)
		kind = 'e';
	else if ((rest = pages_prefix(ar->path, "/hub/relaunch")) != NULL)
		kind = 'r';
	else if ((rest = pages_prefix(ar->path, "/hub/continue")) != NULL)
		kind = 'c';
	else
		return (0);
	if (*rest == '/' && (*++rest == '\0' || !util_server_name_valid(rest)))
		pages_message(rs, 404, "Not found", "There is no such server page.",
		    ar->user);
	else if (ar->user == NULL)
		pages_message(rs, 403, "Not logged in", "You are not logged in. Use "
		    "the login link your gateway or administrator gave you.", NULL);
	else if (kind == 's' && get)
		spawn_get(ar, rs, rest);
	else if (kind == 's' && post)
		spawn_post(ar, rs, rest);
	else if (kind == 'p' && get)
		pending_page(ar, rs, rest);
	else if (kind == 'x' && post)
		home_stop(ar, rs, rest);
	else if (kind == 'e' && post)
		extend_post(ar, rs, rest);
	else if (kind == 'r' && post)
		home_relaunch(ar, rs, rest);
	else if (kind == 'c' && post)
		continue_post(ar, rs, rest);
	else
		pages_message(rs, 405, "Method not allowed", kind == 'x' ? "Use the "
		    "Stop button." : kind == 'e' ? "Use the Extend button." : kind == 'r' ?
		    "Use the Relaunch button." :
		    "This page does not take that method.", ar->user);
	return (1);
}
