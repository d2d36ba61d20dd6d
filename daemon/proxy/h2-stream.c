/*
 * h2-stream.c: one HTTP/2 stream, carried as HTTP/1.1 through a conn of its
 * own (conn_inner_new): its request head checked and rewritten, its body
 * passed on as the conn takes it (the window follows), and the answer read
 * back as the client's window lets it, so the conn reads the notebook no
 * faster than the browser takes the bytes.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/ssl.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>

#include "daemon/proxy/proxy.h"
#include "daemon/proxy/conn.h"

#define H2S_BODY_MAX		(64 * 1024)	/* response bytes parsed ahead of the window */
#define H2S_RESP_HEAD_MAX	(64 * 1024)
#define H2S_HEAD_FLOOD		4		/* x proxy.max_header_size: not a head any more */

struct h2_stream {
	struct h2		*h;
	int32_t			 id;
	struct h2_streams	*list;
	TAILQ_ENTRY(h2_stream)	 entry;

	/* The request, as it comes. */
	struct evbuffer		*hdrs;		/* regular fields as HTTP/1.1 lines */
	struct evbuffer		*cookie;	/* cookie crumbs, joined with "; " */
	char			*method;
	char			*path;
	char			*authority;
	char			*host;
	size_t			 hsize;		/* the header list's size (RFC 9113 6.5.2) */
	int			 refuse;	/* 0, or the status the head gets */
	int			 in_head;	/* counted in h2_heads() */
	int			 has_length;	/* a content-length came */
	int			 chunked;	/* the body goes chunked (no length) */
	size_t			 unconsumed;	/* body bytes not yet given back as window */

	/* The conn that serves it, and our end of the pair between us. */
	struct conn		*inner;		/* NULL once gone */
	struct bufferevent	*bev;

	/* The answer, as it comes back. */
	http_parser		 rp;
	struct http_msg		 resp;
	int			 head_method;
	int			 submitted;	/* the response head went to nghttp2 */
	int			 done;		/* the whole body is in body */
	int			 deferred;	/* the data source waits for bytes */
	int			 failed;	/* reset: nothing more is read */
	struct evbuffer		*body;
};

static void	h2_stream_read_cb(struct bufferevent *, void *);
static void	h2_stream_write_cb(struct bufferevent *, void *);
static void	h2_stream_event_cb(struct bufferevent *, short, void *);
static void	h2_stream_pump(struct h2_stream *);

/* A stream whose request head begins (HEADERS arrived). */
struct h2_stream *
h2_stream_new(struct h2 *h, int32_t id, struct h2_streams *list)
{
	struct h2_stream	*st = xcalloc(1, sizeof *st);

	st->h = h;
	st->id = id;
	st->list = list;
	if ((st->hdrs = evbuffer_new()) == NULL || (st->cookie = evbuffer_new()) == NULL ||
	    (st->body = evbuffer_new()) == NULL)
		fatalx("out of memory");
	http_msg_init(&st->resp, H2S_RESP_HEAD_MAX);
	TAILQ_INSERT_TAIL(list, st, entry);
	st->in_head = 1;
	h2_heads(h, 1);
	gate->stats.h2_streams++;
	return (st);
}

static void
h2_stream_head_over(struct h2_stream *st)
{
	if (st->in_head) {
		st->in_head = 0;
		h2_heads(st->h, -1);
	}
}

/* 1 if @s (@len bytes) is a lower-case HTTP token: what a field name may be in h2. */
static int
h2_stream_name_ok(const uint8_t *s, size_t len)
{
	size_t	i;

	if (len == 0)
		return (0);
	for (i = 0; i < len; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))
			continue;
		if (strchr("!#$%&'*+-.^_`|~", s[i]) == NULL || s[i] == '\0')
			return (0);
	}
	return (1);
}

/* 1 if @s holds no byte that could end or split an HTTP/1.1 line. */
static int
h2_stream_value_ok(const uint8_t *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return (0);
	return (1);
}

static int
h2_stream_is(const uint8_t *name, size_t len, const char *what)
{
	return (len == strlen(what) && memcmp(name, what, len) == 0);
}

/*
 * One field of the request head.  nghttp2 has already refused what RFC
 * 9113 forbids (upper case, connection-specific fields, pseudo-fields out
 * of place); these checks hold again here because the fields become an
 * HTTP/1.1 head: nothing that could split a line or smuggle a second
 * framing reaches it.  A bad or oversized head is answered once it ends.
 */
int
h2_stream_header(struct h2_stream *st, const uint8_t *name, size_t nlen,
    const uint8_t *value, size_t vlen)
{
	char	**pseudo = NULL;

	st->hsize += nlen + vlen + 32;
	if (st->hsize > H2S_HEAD_FLOOD * gate->cfg->proxy_max_header) {
		/* Not a big head but a flood of CONTINUATIONs: the connection goes. */
		log_warnx("%s: HTTP/2 stream %d: request head over %zu bytes and growing: "
		    "connection closed", h2_conn(st->h)->peer, st->id, st->hsize);
		return (NGHTTP2_ERR_CALLBACK_FAILURE);
	}
	if (st->refuse != 0)
		return (0);
	if (st->hsize > gate->cfg->proxy_max_header) {
		st->refuse = 431;
		return (0);
	}
	if (!h2_stream_value_ok(value, vlen) ||
	    (name[0] != ':' && !h2_stream_name_ok(name, nlen))) {
		st->refuse = 400;
		return (0);
	}
	if (name[0] == ':') {
		if (h2_stream_is(name, nlen, ":method"))
			pseudo = &st->method;
		else if (h2_stream_is(name, nlen, ":path"))
			pseudo = &st->path;
		else if (h2_stream_is(name, nlen, ":authority"))
			pseudo = &st->authority;
		else if (!h2_stream_is(name, nlen, ":scheme"))
			st->refuse = 400;	/* :protocol: no extended CONNECT here */
		if (pseudo != NULL && *pseudo == NULL)
			*pseudo = xstrndup((const char *)value, vlen);
		return (0);
	}
	if (h2_stream_is(name, nlen, "cookie")) {
		if (evbuffer_get_length(st->cookie) > 0)
			evbuffer_add(st->cookie, "; ", 2);
		evbuffer_add(st->cookie, value, vlen);
		return (0);
	}
	if (h2_stream_is(name, nlen, "host")) {
		if (st->host != NULL)
			st->refuse = 400;
		else
			st->host = xstrndup((const char *)value, vlen);
		return (0);
	}
	if (h2_stream_is(name, nlen, "connection") || h2_stream_is(name, nlen, "upgrade") ||
	    h2_stream_is(name, nlen, "transfer-encoding") ||
	    h2_stream_is(name, nlen, "keep-alive") ||
	    h2_stream_is(name, nlen, "proxy-connection")) {
		st->refuse = 400;
		return (0);
	}
	if (h2_stream_is(name, nlen, "te") || h2_stream_is(name, nlen, "http2-settings"))
		return (0);	/* hop-by-hop: "te: trailers" is all h2 allows */
	if (h2_stream_is(name, nlen, "content-length")) {
		if (st->has_length) {
			st->refuse = 400;
			return (0);
		}
		st->has_length = 1;
	}
	evbuffer_add(st->hdrs, name, nlen);
	evbuffer_add(st->hdrs, ": ", 2);
	evbuffer_add(st->hdrs, value, vlen);
	evbuffer_add(st->hdrs, "\r\n", 2);
	return (0);
}

/* 1 if @s is a request target HTTP/1.1 can carry as it is ("/..." only). */
static int
h2_stream_path_ok(const char *s)
{
	if (s == NULL || s[0] != '/')
		return (0);
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return (0);
	return (1);
}

/* 1 if @s is a method token. */
static int
h2_stream_method_ok(const char *s)
{
	return (s != NULL && *s != '\0' &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ-") == strlen(s));
}

static ssize_t
h2_stream_data(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct h2_stream	*st = src->ptr;
	int			 n;

	n = evbuffer_remove(st->body, buf, len);
	if (n <= 0 && !st->done) {
		st->deferred = 1;
		return (NGHTTP2_ERR_DEFERRED);
	}
	if (st->done && evbuffer_get_length(st->body) == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (n > 0 ? n : 0);
}

/* Hands the response head @nv (@n fields) to nghttp2, with a body to follow unless @nobody. */
static void
h2_stream_submit(struct h2_stream *st, nghttp2_nv *nv, size_t n, int nobody)
{
	nghttp2_data_provider	prd;
	int			rv;

	prd.source.ptr = st;
	prd.read_callback = h2_stream_data;
	st->submitted = 1;
	rv = nghttp2_submit_response(h2_session(st->h), st->id, nv, n, nobody ? NULL : &prd);
	if (rv != 0) {
		log_info("%s: HTTP/2 stream %d: %s", h2_conn(st->h)->peer, st->id,
		    nghttp2_strerror(rv));
		st->failed = 1;
		nghttp2_submit_rst_stream(h2_session(st->h), NGHTTP2_FLAG_NONE, st->id,
		    NGHTTP2_INTERNAL_ERROR);
	}
}

/* Answers the stream here, with a short page (a refused head). */
static void
h2_stream_answer(struct h2_stream *st, int code, const char *title, const char *text)
{
	struct evbuffer	*page = http_page(code, title, text);
	char		 status[8], len[24];
	nghttp2_nv	 nv[] = {
		{ (uint8_t *)":status", (uint8_t *)status, 7, 0, NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"content-type", (uint8_t *)"text/html; charset=utf-8", 12, 24,
		    NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"content-length", (uint8_t *)len, 14, 0, NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"cache-control", (uint8_t *)"no-store", 13, 8,
		    NGHTTP2_NV_FLAG_NONE },
	};

	nv[0].valuelen = (size_t)snprintf(status, sizeof status, "%03d", code);
	nv[2].valuelen = (size_t)snprintf(len, sizeof len, "%zu", evbuffer_get_length(page));
	evbuffer_add_buffer(st->body, page);
	evbuffer_free(page);
	st->done = 1;
	h2_stream_submit(st, nv, nitems(nv), 0);
	gate->stats.bad_requests++;
}

/*
 * The request head as HTTP/1.1, for the stream's conn: Host from
 * :authority (a Host field that names another host is refused: the two
 * must not disagree), one Cookie, the body framed by its content-length or
 * else chunked, and Connection: close: the conn serves this one request
 * (its stream to the notebook goes back to the route's pool).
 */
static struct evbuffer *
h2_stream_head_h1(struct h2_stream *st, int end)
{
	struct evbuffer	*b;
	const char	*host = st->authority != NULL ? st->authority : st->host;

	if (st->host != NULL && st->authority != NULL &&
	    strcasecmp(st->host, st->authority) != 0)
		return (NULL);
	if (host == NULL || *host == '\0' || !h2_stream_method_ok(st->method) ||
	    !h2_stream_path_ok(st->path) || strcmp(st->method, "CONNECT") == 0)
		return (NULL);
	if ((b = evbuffer_new()) == NULL)
		fatalx("out of memory");
	evbuffer_add_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\n", st->method, st->path, host);
	evbuffer_add_buffer(b, st->hdrs);
	if (evbuffer_get_length(st->cookie) > 0) {
		evbuffer_add(b, "Cookie: ", 8);
		evbuffer_add_buffer(b, st->cookie);
		evbuffer_add(b, "\r\n", 2);
	}
	if (!end && !st->has_length) {
		st->chunked = 1;
		evbuffer_add_printf(b, "Transfer-Encoding: chunked\r\n");
	} else if (end && !st->has_length && strcmp(st->method, "GET") != 0 &&
	    strcmp(st->method, "HEAD") != 0)
		evbuffer_add_printf(b, "Content-Length: 0\r\n");
	evbuffer_add_printf(b, "Connection: close\r\n\r\n");
	return (b);
}

/* Response parser callbacks: the stream's conn answers in HTTP/1.1. */
static int
h2_stream_on_begin(http_parser *p)
{
	struct h2_stream	*st = p->data;

	http_msg_reset(&st->resp);
	return (0);
}

static int
h2_stream_on_field(http_parser *p, const char *at, size_t len)
{
	struct h2_stream	*st = p->data;

	return (http_msg_field(&st->resp, at, len));
}

static int
h2_stream_on_value(http_parser *p, const char *at, size_t len)
{
	struct h2_stream	*st = p->data;

	return (http_msg_value(&st->resp, at, len));
}

/* The response head, as h2 fields: lower-case names, no hop-by-hop field. */
static int
h2_stream_on_headers(http_parser *p)
{
	struct h2_stream	*st = p->data;
	int			 code = p->status_code, nobody;
	nghttp2_nv		*nv;
	char			 status[8], **names;
	size_t			 i, j, n = 0, k;

	if (code >= 100 && code < 200)
		return (0);	/* interim: the real answer follows */
	nobody = st->head_method || code == 204 || code == 304;
	nv = xcalloc(st->resp.nhdr + 1, sizeof *nv);
	names = xcalloc(st->resp.nhdr + 1, sizeof *names);
	snprintf(status, sizeof status, "%03d", code);
	nv[n++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7, 3,
	    NGHTTP2_NV_FLAG_NONE };
	for (i = 0; i < st->resp.nhdr; i++) {
		const struct http_hdr *hd = &st->resp.hdr[i];
		const char *v = hd->value != NULL ? hd->value : "";

		if (http_hop_header(&st->resp, hd->name) ||
		    strcasecmp(hd->name, "te") == 0)
			continue;
		names[i] = xstrdup(hd->name);
		for (k = 0; names[i][k] != '\0'; k++)
			if (names[i][k] >= 'A' && names[i][k] <= 'Z')
				names[i][k] += 'a' - 'A';
		nv[n++] = (nghttp2_nv){ (uint8_t *)names[i], (uint8_t *)v, k, strlen(v),
		    NGHTTP2_NV_FLAG_NONE };
	}
	h2_stream_submit(st, nv, n, nobody);
	for (j = 0; j < st->resp.nhdr; j++)
		free(names[j]);
	free(names);
	free(nv);
	return (nobody ? 1 : 0);
}

static int
h2_stream_on_body(http_parser *p, const char *at, size_t len)
{
	struct h2_stream	*st = p->data;

	evbuffer_add(st->body, at, len);
	return (0);
}

static int
h2_stream_on_complete(http_parser *p)
{
	struct h2_stream	*st = p->data;

	if (p->status_code >= 100 && p->status_code < 200)
		return (0);
	st->done = 1;
	http_parser_pause(p, 1);
	return (0);
}

static const http_parser_settings h2_stream_resp_settings = {
	.on_message_begin = h2_stream_on_begin,
	.on_header_field = h2_stream_on_field,
	.on_header_value = h2_stream_on_value,
	.on_headers_complete = h2_stream_on_headers,
	.on_body = h2_stream_on_body,
	.on_message_complete = h2_stream_on_complete,
};

/* Resets the stream (nothing more of it is read or sent). */
static void
h2_stream_fail(struct h2_stream *st, const char *why)
{
	if (st->failed)
		return;
	st->failed = 1;
	log_info("%s: HTTP/2 stream %d: %s", h2_conn(st->h)->peer, st->id, why);
	nghttp2_submit_rst_stream(h2_session(st->h), NGHTTP2_FLAG_NONE, st->id,
	    NGHTTP2_INTERNAL_ERROR);
}

/*
 * The request head is complete (@end: and the request, bodyless): a bad
 * one is answered here, a good one goes to a conn of its own.
 */
void
h2_stream_head_done(struct h2_stream *st, int end)
{
	struct bufferevent	*pair[2];
	struct evbuffer		*head;
	struct conn		*outer = h2_conn(st->h);

	h2_stream_head_over(st);
	if (st->refuse == 431) {
		log_info("%s: HTTP/2 stream %d: request head over %zu bytes: refused",
		    outer->peer, st->id, gate->cfg->proxy_max_header);
		h2_stream_answer(st, 431, "Request head too large",
		    "The request head is too large.");
		return;
	}
	if (st->refuse != 0 || (head = h2_stream_head_h1(st, end)) == NULL) {
		log_info("%s: HTTP/2 stream %d: malformed or ambiguous head refused",
		    outer->peer, st->id);
		h2_stream_answer(st, 400, "Bad request",
		    "The request was malformed or ambiguous.");
		return;
	}
	st->head_method = strcmp(st->method, "HEAD") == 0;
	if (bufferevent_pair_new(gate->base, BEV_OPT_DEFER_CALLBACKS, pair) == -1)
		fatalx("bufferevent_pair_new failed");
	st->bev = pair[1];
	st->inner = conn_inner_new(outer, pair[0], st);	/* transferred */
	http_parser_init(&st->rp, HTTP_RESPONSE);
	st->rp.data = st;
	bufferevent_setcb(st->bev, h2_stream_read_cb, h2_stream_write_cb,
	    h2_stream_event_cb, st);
	bufferevent_setwatermark(st->bev, EV_READ, 0, H2S_BODY_MAX);
	bufferevent_enable(st->bev, EV_READ | EV_WRITE);
	bufferevent_write_buffer(st->bev, head);
	evbuffer_free(head);
}

/*
 * Gives window back for what the stream's conn has taken: all of it once
 * our end of the pair is empty (the conn stops reading while the notebook
 * is slow, and the bytes wait here, counted against the client's window).
 */
static void
h2_stream_window(struct h2_stream *st)
{
	if (st->unconsumed == 0 || (st->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(st->bev)) > 0))
		return;
	nghttp2_session_consume(h2_session(st->h), st->id, st->unconsumed);
	st->unconsumed = 0;
	h2_flush(st->h);
}

/* Body bytes of the request. */
void
h2_stream_body(struct h2_stream *st, const uint8_t *data, size_t len)
{
	struct evbuffer	*out;

	st->unconsumed += len;
	if (st->inner == NULL || st->bev == NULL) {
		nghttp2_session_consume(h2_session(st->h), st->id, st->unconsumed);
		st->unconsumed = 0;
		return;	/* answered already, or gone: dropped */
	}
	out = bufferevent_get_output(st->bev);
	if (st->chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, data, len);
	if (st->chunked)
		evbuffer_add(out, "\r\n", 2);
}

/* The request's body ended. */
void
h2_stream_body_end(struct h2_stream *st)
{
	if (st->chunked && st->inner != NULL && st->bev != NULL)
		evbuffer_add(bufferevent_get_output(st->bev), "0\r\n\r\n", 5);
	st->chunked = 0;
}

/*
 * Reads the conn's answer while fewer than H2S_BODY_MAX of its bytes wait
 * for the client's window; the rest waits in the pair (and the conn stops
 * reading the notebook when that is full).
 */
static void
h2_stream_pump(struct h2_stream *st)
{
	struct evbuffer		*in;
	struct evbuffer_iovec	 v;
	enum http_errno		 e;
	size_t			 n;

	if (st->failed || st->bev == NULL)
		return;
	in = bufferevent_get_input(st->bev);
	while (!st->done && !st->failed && evbuffer_get_length(in) > 0 &&
	    evbuffer_get_length(st->body) < H2S_BODY_MAX) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = http_parser_execute(&st->rp, &h2_stream_resp_settings, v.iov_base,
		    v.iov_len);
		evbuffer_drain(in, n);
		e = HTTP_PARSER_ERRNO(&st->rp);
		if (e != HPE_OK && e != HPE_PAUSED) {
			h2_stream_fail(st, http_errno_description(e));
			return;
		}
	}
	if (st->done)
		evbuffer_drain(in, evbuffer_get_length(in));
	else if (st->inner == NULL && evbuffer_get_length(in) == 0) {
		/* The conn is gone and all it said is read: a close-delimited end. */
		http_parser_execute(&st->rp, &h2_stream_resp_settings, NULL, 0);
		if (!st->done && !st->submitted)
			h2_stream_answer(st, 502, "Bad gateway", "The request could not "
			    "be answered.");
		else if (!st->done)
			h2_stream_fail(st, "its answer was cut short");
	}
	if (st->deferred && st->submitted && (evbuffer_get_length(st->body) > 0 || st->done)) {
		st->deferred = 0;
		nghttp2_session_resume_data(h2_session(st->h), st->id);
	}
}

/*
 * Pumps every stream whose answer waits while the client's window had
 * room; 1 if one of them has more for nghttp2 (h2_flush goes round again).
 */
int
h2_stream_pump_all(struct h2_streams *list)
{
	struct h2_stream	*st, *next;
	int			 more = 0;

	TAILQ_FOREACH_SAFE(st, list, entry, next) {
		if (st->bev == NULL || st->failed || !st->deferred)
			continue;
		h2_stream_pump(st);
		if (!st->deferred)
			more = 1;
	}
	return (more);
}

static void
h2_stream_read_cb(struct bufferevent *bev, void *arg)
{
	struct h2_stream	*st = arg;

	h2_stream_pump(st);
	h2_flush(st->h);
}

/* Our end of the pair is empty: the conn took the body so far. */
static void
h2_stream_write_cb(struct bufferevent *bev, void *arg)
{
	h2_stream_window(arg);
}

static void
h2_stream_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct h2_stream	*st = arg;

	h2_stream_pump(st);
	h2_flush(st->h);
}

/* The stream's conn is freed: what it said is read to the end. */
void
h2_stream_conn_gone(struct h2_stream *st)
{
	st->inner = NULL;
	if (st->bev == NULL)
		return;
	h2_stream_pump(st);
	h2_flush(st->h);
}

/* Frees @st: the stream closed, or its connection goes; its conn goes from the loop. */
void
h2_stream_free(struct h2_stream *st)
{
	if (st->inner != NULL) {
		st->inner->h2s = NULL;
		conn_free_later(st->inner);
	}
	if (st->bev != NULL)
		bufferevent_free(st->bev);
	if (st->unconsumed > 0 && h2_conn(st->h)->h2 != NULL)
		nghttp2_session_consume_connection(h2_session(st->h), st->unconsumed);
	h2_stream_head_over(st);
	TAILQ_REMOVE(st->list, st, entry);
	evbuffer_free(st->hdrs);
	evbuffer_free(st->cookie);
	evbuffer_free(st->body);
	http_msg_reset(&st->resp);
	free(st->method);
	free(st->path);
	free(st->authority);
	free(st->host);
	free(st);
}
