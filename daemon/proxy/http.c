/*
 * http.c: HTTP/1.1 message heads (collected from http_parser callbacks with
 * a size ceiling), hop-by-hop rules, and the small responses nbgated makes.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "daemon/proxy/proxy.h"

/* Headers a proxy never forwards (RFC 9110 7.6.1), besides those Connection names. */
static const struct {
	const char	*name;
	size_t		 len;
} http_hop_by_hop[] = {
#define HTTP_HOP(s) { s, sizeof s - 1 }
	HTTP_HOP("connection"), HTTP_HOP("keep-alive"), HTTP_HOP("proxy-connection"),
	HTTP_HOP("te"), HTTP_HOP("trailer"), HTTP_HOP("transfer-encoding"),
	HTTP_HOP("upgrade"), HTTP_HOP("proxy-authenticate"), HTTP_HOP("proxy-authorization"),
#undef HTTP_HOP
};

/* Starts an empty head that may grow to @limit bytes. */
void
http_msg_init(struct http_msg *m, size_t limit)
{
	memset(m, 0, sizeof *m);
	m->limit = limit;
}

/* Frees what a head holds and empties it (keeping the limit). */
void
http_msg_reset(struct http_msg *m)
{
	size_t	limit = m->limit;

	free(m->buf);
	free(m->hdr);
	http_msg_init(m, limit);
}

/*
 * The strings of a head live in one buffer, appended in the order
 * http_parser hands them over: a head costs a few allocations, not one or
 * two per header.  Makes room for @n more bytes, pointing every string at
 * its new place when the buffer moves.
 */
static void
http_msg_room(struct http_msg *m, size_t n)
{
	char	*old = m->buf, *nbuf;
	size_t	 cap = m->bufcap > 0 ? m->bufcap : 512, i;

	if (m->buflen + n <= m->bufcap)
		return;
	while (cap < m->buflen + n)
		cap *= 2;
	nbuf = xmalloc(cap);
	if (old != NULL)
		memcpy(nbuf, old, m->buflen);
#define HTTP_REBASE(p) do { if ((p) != NULL) (p) = nbuf + ((p) - old); } while (0)
	HTTP_REBASE(m->url);
	HTTP_REBASE(m->reason);
	for (i = 0; i < m->nhdr; i++) {
		HTTP_REBASE(m->hdr[i].name);
		HTTP_REBASE(m->hdr[i].value);
	}
#undef HTTP_REBASE
	free(old);
	m->buf = nbuf;
	m->bufcap = cap;
}

/*
 * Appends @len bytes to string *@s of @m: a new string at the end of the
 * buffer when *@s is NULL, else *@s is the last one (http_parser delivers
 * one string's pieces in a row) and grows in place.
 */
static int
http_msg_grow(struct http_msg *m, char **s, const char *at, size_t len)
{
	m->size += len;
	if (m->size > m->limit)
		return (-1);
	if (*s == NULL) {
		http_msg_room(m, len + 1);
		*s = m->buf + m->buflen;
		m->buflen += len + 1;
	} else {
		if (*s + strlen(*s) != m->buf + m->buflen - 1)
			return (-1);		/* not the last string: cannot grow */
		http_msg_room(m, len);		/* moves *s along if need be */
		m->buflen += len;
	}
	memcpy(m->buf + m->buflen - len - 1, at, len);
	m->buf[m->buflen - 1] = '\0';
	return (0);
}

/* Appends to the URL; -1 when the head outgrows its limit. */
int
http_msg_url(struct http_msg *m, const char *at, size_t len)
{
	return (http_msg_grow(m, &m->url, at, len));
}

/* Appends to the status reason; -1 when the head outgrows its limit. */
int
http_msg_reason(struct http_msg *m, const char *at, size_t len)
{
	return (http_msg_grow(m, &m->reason, at, len));
}

/* Appends to the current header name (starting a new header after a value). */
int
http_msg_field(struct http_msg *m, const char *at, size_t len)
{
	if (m->nhdr == 0 || m->in_value) {
		if (m->nhdr >= HTTP_MAX_HEADERS)
			return (-1);
		if (m->nhdr == m->hcap) {
			m->hcap = m->hcap > 0 ? m->hcap * 2 : 16;
			m->hdr = xreallocarray(m->hdr, m->hcap, sizeof *m->hdr);
		}
		m->hdr[m->nhdr].name = m->hdr[m->nhdr].value = NULL;
		m->hdr[m->nhdr].connection = 0;
		m->nhdr++;
		m->in_value = 0;
	}
	m->size += 4;	/* ": " and CRLF */
	return (http_msg_grow(m, &m->hdr[m->nhdr - 1].name, at, len));
}

/* Appends to the current header value. */
int
http_msg_value(struct http_msg *m, const char *at, size_t len)
{
	if (m->nhdr == 0)
		return (-1);
	if (!m->in_value && strlen(m->hdr[m->nhdr - 1].name) == 10 &&
	    strcasecmp(m->hdr[m->nhdr - 1].name, "connection") == 0)
		m->conn_hdr = m->hdr[m->nhdr - 1].connection = 1;	/* its names are hop-by-hop too */
	m->in_value = 1;
	return (http_msg_grow(m, &m->hdr[m->nhdr - 1].value, at, len));
}

/* Returns the first value of header @name, or NULL. */
const char *
http_msg_get(const struct http_msg *m, const char *name)
{
	size_t	i;

	for (i = 0; i < m->nhdr; i++) {
		if (strcasecmp(m->hdr[i].name, name) == 0)
			return (m->hdr[i].value != NULL ? m->hdr[i].value : "");
	}
	return (NULL);
}

/* Counts the headers called @name. */
size_t
http_msg_count(const struct http_msg *m, const char *name)
{
	size_t	i, n = 0;

	for (i = 0; i < m->nhdr; i++)
		n += strcasecmp(m->hdr[i].name, name) == 0;
	return (n);
}

/* Does comma-separated list @list contain @token (case-insensitive)? */
int
http_list_has(const char *list, const char *token)
{
	size_t		 tlen = strlen(token), n;
	const char	*p = list;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, ", \t");
		if (n == tlen && strncasecmp(p, token, n) == 0)
			return (1);
		p += n;
		p = strchr(p, ',');
	}
	return (0);
}

/* Should header @name of @m stay on this hop only? */
int
http_hop_header(const struct http_msg *m, const char *name)
{
	size_t	i, len = strlen(name);

	/* Runs for every header of every proxied message: lengths first. */
	for (i = 0; i < nitems(http_hop_by_hop); i++) {
		if (len == http_hop_by_hop[i].len &&
		    strcasecmp(name, http_hop_by_hop[i].name) == 0)
			return (1);
	}
	if (!m->conn_hdr)
		return (0);
	for (i = 0; i < m->nhdr; i++) {
		if (m->hdr[i].connection && m->hdr[i].value != NULL &&
		    http_list_has(m->hdr[i].value, name))
			return (1);
	}
	return (0);
}

/* Returns the text for a status code. */
const char *
http_status_text(int code)
{
	switch (code) {
	case 100: return ("Continue");
	case 101: return ("Switching Protocols");
	case 200: return ("OK");
	case 201: return ("Created");
	case 204: return ("No Content");
	case 302: return ("Found");
	case 303: return ("See Other");
	case 400: return ("Bad Request");
	case 401: return ("Unauthorized");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 408: return ("Request Timeout");
	case 409: return ("Conflict");
	case 411: return ("Length Required");
	case 413: return ("Content Too Large");
	case 414: return ("URI Too Long");
	case 415: return ("Unsupported Media Type");
	case 429: return ("Too Many Requests");
	case 431: return ("Request Header Fields Too Large");
	case 500: return ("Internal Server Error");
	case 501: return ("Not Implemented");
	case 502: return ("Bad Gateway");
	case 503: return ("Service Unavailable");
	case 504: return ("Gateway Timeout");
	default: return ("Unknown");
	}
}

/* Appends @s to @out with HTML's five special characters escaped. */
void
http_html_escape(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': evbuffer_add(out, "&amp;", 5); break;
		case '<': evbuffer_add(out, "&lt;", 4); break;
		case '>': evbuffer_add(out, "&gt;", 4); break;
		case '"': evbuffer_add(out, "&quot;", 6); break;
		case '\'': evbuffer_add(out, "&#39;", 5); break;
		default: evbuffer_add(out, s, 1); break;
		}
	}
}

/*
 * Writes a complete response: status line, @extra headers (CRLF-terminated
 * lines or NULL), Content-Length, Connection, then @body (may be NULL).
 */
void
http_respond(struct evbuffer *out, int code, const char *ctype,
    const char *extra, struct evbuffer *body, int keepalive, int head_only)
{
	size_t	len = body != NULL ? evbuffer_get_length(body) : 0;

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", code, http_status_text(code));
	if (ctype != NULL)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
	evbuffer_add_printf(out, "Content-Length: %zu\r\n", len);
	evbuffer_add_printf(out, "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n");
	if (extra != NULL)
		evbuffer_add(out, extra, strlen(extra));
	evbuffer_add_printf(out, "Connection: %s\r\n\r\n", keepalive ? "keep-alive" : "close");
	if (body != NULL && !head_only)
		evbuffer_add_buffer(out, body);
}

/* Builds a plain HTML page saying what happened and what to do next. */
struct evbuffer *
http_page(int code, const char *title, const char *text)
{
	struct evbuffer	*b = evbuffer_new();

	if (b == NULL)
		fatalx("out of memory");
	evbuffer_add_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width\"><title>%d ", code);
	http_html_escape(b, title);
	evbuffer_add_printf(b, " - nbgate</title><style>body{font-family:sans-serif;"
	    "max-width:40em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}"
	    "</style></head><body><main><h1>");
	http_html_escape(b, title);
	evbuffer_add_printf(b, "</h1><p>");
	http_html_escape(b, text);
	evbuffer_add_printf(b, "</p><p><small>HTTP %d %s</small></p></main></body></html>\n",
	    code, http_status_text(code));
	return (b);
}

/*
 * Finds cookie @name in a Cookie header; returns an allocated value or NULL.
 */
char *
http_cookie_get(const char *header, const char *name)
{
	size_t		 nlen = strlen(name), n;
	const char	*p = header;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		n = strcspn(p, ";");
		if (n > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
			return (xstrndup(p + nlen + 1, n - nlen - 1));
		p += n;
	}
	return (NULL);
}

/* How many cookies named @name a Cookie header value holds. */
int
http_cookie_count(const char *header, const char *name)
{
	size_t		 nlen = strlen(name), n;
	const char	*p = header;
	int		 count = 0;

	while (*p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		n = strcspn(p, ";");
		if (n > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
			count++;
		p += n;
	}
	return (count);
}

/*
 * 1 if a Connection header of @m names Content-Length, Transfer-Encoding
 * or Host: dropping those as hop-by-hop would forward a body unframed (the
 * next hop would read it as another request) or a head without its Host.
 */
int
http_conn_names_framing(const struct http_msg *m)
{
	size_t	i;

	if (!m->conn_hdr)
		return (0);
	for (i = 0; i < m->nhdr; i++) {
		if (m->hdr[i].connection && m->hdr[i].value != NULL &&
		    (http_list_has(m->hdr[i].value, "content-length") ||
		    http_list_has(m->hdr[i].value, "transfer-encoding") ||
		    http_list_has(m->hdr[i].value, "host")))
			return (1);
	}
	return (0);
}

/*
 * 1 if a browser's request header must not reach the notebook: what
 * nbgated sets itself (the notebook's Authorization, X-Forwarded-*), what
 * it answers itself (Expect), and a client's claims about its address
 * (X-Real-IP, Forwarded).  Runs for every proxied header: first letter first.
 */
int
http_req_withheld(const struct http_hdr *h)
{
	const char	*n = h->name;

	switch (n[0]) {
	case 'a':
	case 'A':
		return (strcasecmp(n, "authorization") == 0);
	case 'e':
	case 'E':
		return (strcasecmp(n, "expect") == 0);
	case 'f':
	case 'F':
		return (strcasecmp(n, "forwarded") == 0);
	case 'x':
	case 'X':
		return (strncasecmp(n, "x-forwarded-", 12) == 0 ||
		    strcasecmp(n, "x-real-ip") == 0);
	default:
		return (0);
	}
}

/*
 * 1 if a notebook's response header must not reach the browser: CORS
 * grants (the notebook echoes any Origin once nbgated's token authenticates
 * the request; the gateway serves notebooks same-origin only) and cookies
 * in nbgated's own names (a notebook must not log its visitor in or out).
 */
int
http_resp_withheld(const struct http_hdr *h)
{
	const char	*v = h->value, *p;

	switch (h->name[0]) {
	case 'a':
	case 'A':
		return (strncasecmp(h->name, "access-control-", 15) == 0);
	case 's':
	case 'S':
		if (strcasecmp(h->name, "set-cookie") != 0 || v == NULL)
			return (0);
		p = v + strspn(v, " \t");
		if (strncmp(p, "__Host-", 7) == 0 || strncmp(p, "__Secure-", 9) == 0)
			p += p[2] == 'H' ? 7 : 9;
		return (strncasecmp(p, "nbgate-", 7) == 0);
	default:
		return (0);
	}
}

/* Where Refresh's "N; url=X" names X, or NULL. */
static const char *
http_refresh_url(const char *v)
{
	const char	*p = strchr(v, ';');

	if (p == NULL)
		return (NULL);
	p += 1 + strspn(p + 1, " \t");
	if (strncasecmp(p, "url", 3) != 0)
		return (NULL);
	p += 3 + strspn(p + 3, " \t");
	if (*p++ != '=')
		return (NULL);
	p += strspn(p, " \t");
	return (*p == '\'' || *p == '"' ? p + 1 : p);
}

/*
 * A response header of an app that serves from / (its prefix stripped on
 * the way up), with @prefix ("/user/alice/lab") put back where it names an
 * absolute path on this host: Location, Content-Location, Refresh's url=.
 * NULL when nothing changes: another header, a relative reference, a full
 * URL or "//host" (another host's), or a path already under @prefix (never
 * twice). The caller frees.
 */
char *
http_location_prefix(const char *name, const char *value, const char *prefix)
{
	const char	*path = value;
	size_t		 plen = strlen(prefix);
	char		*out;

	if (value == NULL)
		return (NULL);
	if (strcasecmp(name, "refresh") == 0)
		path = http_refresh_url(value);
	else if (strcasecmp(name, "location") != 0 &&
	    strcasecmp(name, "content-location") != 0)
		return (NULL);
	if (path == NULL || path[0] != '/' || path[1] == '/' || path[1] == '\\')
		return (NULL);
	if (strncmp(path, prefix, plen) == 0 && strchr("/?#", path[plen]) != NULL)
		return (NULL);		/* also at its end: '\0' is in the set */
	xasprintf(&out, "%.*s%s%s", (int)(path - value), value, prefix, path);
	return (out);
}

/*
 * Returns a Cookie header value without the cookies whose names start with
 * @prefix (NULL if nothing is left).
 */
char *
http_cookie_strip(const char *header, const char *prefix)
{
	struct evbuffer	*b = evbuffer_new();
	size_t		 plen = strlen(prefix), n, len;
	const char	*p = header;
	char		*out = NULL;

	if (b == NULL)
		fatalx("out of memory");
	while (*p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		n = strcspn(p, ";");
		if (n == 0)
			break;
		if (!(n > plen && strncmp(p, prefix, plen) == 0)) {
			if (evbuffer_get_length(b) > 0)
				evbuffer_add(b, "; ", 2);
			evbuffer_add(b, p, n);
		}
		p += n;
	}
	if ((len = evbuffer_get_length(b)) > 0) {
		out = xmalloc(len + 1);
		evbuffer_remove(b, out, len);
		out[len] = '\0';
	}
	evbuffer_free(b);
	return (out);
}

/*
 * Splits "/user/<name>[/<rest>]" into name and the second segment; rejects
 * dot segments and names outside [a-z0-9_.-].  Returns 0 or -1.
 */
int
http_user_path(const char *path, char **name, char **second)
{
	const char	*p, *q, *s;
	size_t		 n;

	*name = *second = NULL;
	if (strncmp(path, "/user/", 6) != 0)
		return (-1);
	p = path + 6;
	n = strcspn(p, "/?");
	if (!util_name_segment_valid(p, n))
		return (-1);
	for (s = path; (s = strstr(s, "/.")) != NULL; s++) {
		if (s[2] == '/' || s[2] == '\0' || s[2] == '?' ||
		    (s[2] == '.' && (s[3] == '/' || s[3] == '\0' || s[3] == '?')))
			return (-1);
	}
	*name = xstrndup(p, n);
	if (p[n] == '/') {
		q = p + n + 1;
		n = strcspn(q, "/?");
		if (n > 0 && n <= 64)
			*second = xstrndup(q, n);
	}
	return (0);
}
