/*
 * conn.c: one browser connection (TLS) or admin-socket connection (plain):
 * parse each request head with http_parser, check who may go where, answer
 * /hub/ itself or proxy /user/<name>/ through that notebook's tunnel, with
 * back-pressure both ways, and carry WebSocket upgrades byte for byte.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <jansson.h>
#include <http_parser.h>

#include "daemon/daemon.h"

#define CONN_LOCAL_BODY_MAX	(1024 * 1024)
#define CONN_RESP_HEAD_MAX	(64 * 1024)
#define CONN_TRIM_CHURN		256	/* accepts + closes that make a burst */
#define CONN_TRIM_QUIET		1	/* s without churn before trimming */
#define CONN_SSE_BEAT		15	/* s between keepalive comments of a progress stream */
#define CONN_WRITE_MAX		16384	/* one direct write: what libevent retries a blocked one with */

enum conn_phase {
	PH_HEAD,	/* reading a request head */
	PH_WAIT_UP,	/* waiting for a stream through the tunnel */
	PH_PROXY,	/* request body up, response down */
	PH_LOCAL,	/* collecting a body for a /hub/ handler */
	PH_UPGRADED,	/* raw bytes both ways (WebSocket) */
	PH_SSE,		/* a progress stream (Server-Sent Events) until close */
	PH_DEFER,	/* a /hub/ handler answers later (conn_defer_answer) */
};

/* The handler's handle on a deferred answer; c is NULL once the browser left. */
struct conn_defer {
	struct conn	*c;
};

struct conn {
	struct bufferevent	*bev;		/* the browser; NULL once a WebSocket is spliced */
	evutil_socket_t		 fd;		/* bev's socket and TLS: ours to close and free */
	SSL			*ssl;
	char			*peer;		/* "addr" for logs and X-Forwarded-For */
	int			 peer_port;
	int			 admin;		/* admin socket: trusted, plain */
	int			 tls;
	enum conn_phase		 phase;
	int			 closing;
	int			 free_scheduled;

	http_parser		 rp;		/* request parser */
	struct http_msg		 req;
	int			 req_head_done;
	int			 req_done;	/* whole request read */
	int			 req_chunked;
	int			 req_keepalive;
	int			 req_head_method;
	int			 req_upgrade;
	int			 err_code;	/* set by a callback before failing */
	struct evbuffer		*local_body;

	char			*route;		/* route name the stream serves */
	time_t			 touched;	/* last conn_touch() */
	struct tunnel_req	*treq;
	struct bufferevent	*up;		/* stream to the notebook */
	http_parser		 sp;		/* response parser */
	struct http_msg		 resp;
	int			 resp_started;	/* head sent to the browser */
	int			 resp_chunked;
	int			 resp_close;	/* close-delimited, or must close after */
	int			 resp_done;
	int			 up_reusable;

	long long		 sse_session;	/* the session a progress stream follows */
	int			 sse_watching;	/* registered with session_watch() */
	int			 sse_pct;	/* progress sent so far: never goes back */
	char			*sse_last;	/* last event's JSON, to skip repeats */
	struct event		*sse_beat;	/* keepalive comments */
	struct conn_defer	*defer;		/* PH_DEFER: owned by the handler */
	TAILQ_ENTRY(conn)	 entry;
};
static TAILQ_HEAD(, conn) conn_list = TAILQ_HEAD_INITIALIZER(conn_list);

/*
 * A WebSocket after its splice: all that is left of its connection (the
 * relay in the tunnel has the socket).  Counted as a connection.
 */
struct wsconn {
	struct tunnel_stream	*st;
	char			*route;
	time_t			 touched;
	TAILQ_ENTRY(wsconn)	 entry;
};
static TAILQ_HEAD(, wsconn) ws_list = TAILQ_HEAD_INITIALIZER(ws_list);

static http_parser_settings conn_req_settings, conn_resp_settings;
static conn_connector_fn conn_connector = tunnel_connect;
static unsigned long conn_count;
static unsigned long conn_churn;	/* accepts + frees since the last trim */
static struct event conn_trim_ev;
static struct event_base *conn_trim_base;

static void	conn_close(struct conn *);
static void	conn_parse(struct conn *);
static void	conn_parse_up(struct conn *);
static void	conn_send_head(struct conn *);
static void	conn_client_read(struct bufferevent *, void *);
static void	conn_client_write(struct bufferevent *, void *);
static void	conn_client_event(struct bufferevent *, short, void *);
static void	conn_parse_up_cb(struct bufferevent *, void *);
static void	conn_up_write(struct bufferevent *, void *);
static void	conn_up_event(struct bufferevent *, short, void *);
static void	conn_sse_stop(struct conn *);
static void	conn_sse_watch(const struct session *, void *);

static size_t
conn_limit(void)
{
	return (gate->cfg->proxy_buffer);
}

static void
conn_set_read_timeout(struct conn *c, int secs)
{
	struct timeval	tv = { secs, 0 };

	bufferevent_set_timeouts(c->bev, &tv, NULL);
}

/*
 * Where a proxied head (either way) or a response's bytes are put together
 * before they go out in one piece: one buffer for all connections, always
 * emptied before the function that filled it returns (conn_send_head, or
 * conn_write_now after each pass of the response parser).
 */
static struct evbuffer *
conn_wbuf(void)
{
	static struct evbuffer	*wbuf;

	if (wbuf == NULL && (wbuf = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	return (wbuf);
}

/*
 * Writes what conn_wbuf() holds to the browser at once when nothing is
 * queued before it: handed to the bufferevent, a small response would arm
 * its write event, wait a loop turn and disarm it again (two epoll_ctl and
 * a pass through libevent's TLS write path per response).  What the socket
 * does not take (or an error) goes to the bufferevent, which goes on from
 * there; a blocked TLS write is retried by libevent with the same bytes
 * first (slices of at most CONN_WRITE_MAX, which it retries whole).
 */
static void
conn_write_now(struct conn *c)
{
	struct evbuffer		*buf = conn_wbuf(), *out;
	struct evbuffer_iovec	 v;
	size_t			 n;
	ssize_t			 w;

	if (evbuffer_get_length(buf) == 0)
		return;
	if (c->bev == NULL || c->closing) {
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) == 0 &&
	    (bufferevent_get_enabled(c->bev) & EV_WRITE)) {
		while (evbuffer_peek(buf, -1, NULL, &v, 1) == 1) {
			n = v.iov_len < CONN_WRITE_MAX ? v.iov_len : CONN_WRITE_MAX;
			if (c->ssl != NULL) {
				ERR_clear_error();
				w = SSL_write(c->ssl, v.iov_base, (int)n);
				if (w <= 0)
					ERR_clear_error();	/* libevent's retry says */
			} else
				w = send(c->fd, v.iov_base, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w <= 0)
				break;
			evbuffer_drain(buf, (size_t)w);
		}
	}
	evbuffer_add_buffer(out, buf);
}

/* Answers with a complete response (a page or JSON) and maybe closes. */
static void
conn_reply(struct conn *c, int code, const char *ctype, const char *extra,
    struct evbuffer *body, int keepalive)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	http_respond(out, code, ctype, extra, body, keepalive, c->req_head_method);
	if (body != NULL)
		evbuffer_free(body);
	if (!keepalive)
		conn_close(c);
}

/* Answers with an error page and closes (the stream may be out of sync). */
static void
conn_fail(struct conn *c, int code, const char *title, const char *text)
{
	if (c->resp_started) {
		conn_close(c);
		return;
	}
	if (c->admin) {
		struct evbuffer	*b = evbuffer_new();
		json_t		*j = json_pack("{s:i,s:s}", "status", code, "message", text);
		char		*s = json_dumps(j, JSON_COMPACT);

		evbuffer_add_printf(b, "%s\n", s);
		free(s);
		json_decref(j);
		conn_reply(c, code, "application/json", NULL, b, 0);
		return;
	}
	conn_reply(c, code, "text/html; charset=utf-8", NULL,
	    http_page(code, title, text), 0);
}

/* Drops the stream to the notebook. */
static void
conn_up_drop(struct conn *c)
{
	if (c->treq != NULL) {
		tunnel_req_cancel(c->treq);
		c->treq = NULL;
	}
	if (c->up != NULL) {
		bufferevent_setcb(c->up, NULL, NULL, NULL, NULL);
		tunnel_stream_close(c->up);
		c->up = NULL;
	}
	if (c->phase == PH_UPGRADED) {
		if (gate->stats.websockets > 0)
			gate->stats.websockets--;
		c->phase = PH_HEAD;
	}
	free(c->route);
	c->route = NULL;
	c->up_reusable = 0;
}

static void
conn_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_churn = 0;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/*
 * A TLS handshake allocates and frees far more than an idle connection
 * keeps (record buffers, handshake hashes, key shares); after a burst of
 * them glibc holds the freed pages between long-lived objects (thousands of
 * idle WebSockets).  Once connections stop coming and going for a moment,
 * give those pages back: at most once per quiet period, O(heap) each.
 */
static void
conn_note_churn(void)
{
	struct timeval	tv = { CONN_TRIM_QUIET, 0 };

	if (++conn_churn < CONN_TRIM_CHURN)
		return;
	if (conn_trim_base != gate->base) {
		if (conn_trim_base != NULL)
			event_del(&conn_trim_ev);
		evtimer_assign(&conn_trim_ev, gate->base, conn_trim_cb, NULL);
		conn_trim_base = gate->base;
	}
	evtimer_add(&conn_trim_ev, &tv);	/* re-armed: fires once it is quiet */
}

/* A connection (or a spliced WebSocket) came or went. */
static void
conn_counted(int delta)
{
	conn_count += delta;
	gate->stats.conns = conn_count;
	conn_note_churn();
}

static void
conn_free(struct conn *c)
{
	conn_up_drop(c);
	conn_sse_stop(c);
	if (c->defer != NULL)
		c->defer->c = NULL;	/* the handler frees it when it answers */
	if (c->bev != NULL)
		bufferevent_free(c->bev);	/* leaves fd and ssl to us */
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd != -1)
		evutil_closesocket(c->fd);
	http_msg_reset(&c->req);
	http_msg_reset(&c->resp);
	if (c->local_body != NULL)
		evbuffer_free(c->local_body);
	free(c->peer);
	TAILQ_REMOVE(&conn_list, c, entry);
	free(c);
	conn_counted(-1);
}

static void
conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_free(arg);
}

/*
 * Frees @c from the loop, once: no callback of its bufferevent runs after
 * this, however many of them were already due.
 */
static void
conn_free_later(struct conn *c)
{
	if (c->free_scheduled)
		return;
	c->free_scheduled = 1;
	c->closing = 1;
	if (c->bev != NULL) {
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	}
	event_base_once(gate->base, -1, EV_TIMEOUT, conn_free_cb, c, NULL);
}

static void
conn_drained(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free_later(c);
}

static void
conn_dead_event(struct bufferevent *bev, short what, void *arg)
{
	conn_free_later(arg);
}

/* Closes after what is queued for the browser has been written. */
static void
conn_close(struct conn *c)
{
	struct timeval	tv = { 10, 0 };

	if (c->closing)
		return;
	c->closing = 1;
	conn_up_drop(c);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_setcb(c->bev, NULL, conn_drained, conn_dead_event, c);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free_later(c);
	else
		bufferevent_enable(c->bev, EV_WRITE);
}

/* Request parser callbacks. */
static int
conn_on_begin(http_parser *p)
{
	struct conn	*c = p->data;

	http_msg_reset(&c->req);
	c->req_head_done = c->req_done = c->req_chunked = 0;
	c->req_upgrade = c->req_head_method = 0;
	c->resp_started = c->resp_done = c->resp_chunked = c->resp_close = 0;
	if (c->local_body != NULL) {
		evbuffer_free(c->local_body);
		c->local_body = NULL;
	}
	return (0);
}

static int
conn_on_url(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	if (http_msg_url(&c->req, at, len) == -1) {
		c->err_code = 414;
		return (-1);
	}
	return (0);
}

static int
conn_on_field(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	if (http_msg_field(&c->req, at, len) == -1) {
		c->err_code = 431;
		return (-1);
	}
	return (0);
}

static int
conn_on_value(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	if (http_msg_value(&c->req, at, len) == -1) {
		c->err_code = 431;
		return (-1);
	}
	return (0);
}

static int
conn_on_headers(http_parser *p)
{
	struct conn	*c = p->data;

	c->req_head_done = 1;
	c->req_chunked = (p->flags & F_CHUNKED) != 0;
	c->req_keepalive = http_should_keep_alive(p);
	c->req_head_method = p->method == HTTP_HEAD;
	c->req_upgrade = p->upgrade;
	http_parser_pause(p, 1);
	return (0);
}

static int
conn_on_body(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;
	struct evbuffer	*out;

	if (c->phase == PH_LOCAL) {
		if (evbuffer_get_length(c->local_body) + len > CONN_LOCAL_BODY_MAX) {
			c->err_code = 413;
			return (-1);
		}
		evbuffer_add(c->local_body, at, len);
		return (0);
	}
	if (c->up == NULL)
		return (0);	/* the stream died; the response side reports it */
	out = bufferevent_get_output(c->up);
	if (c->req_chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, at, len);
	if (c->req_chunked)
		evbuffer_add(out, "\r\n", 2);
	gate->stats.bytes_up += len;
	return (0);
}

static int
conn_on_complete(http_parser *p)
{
	struct conn	*c = p->data;

	c->req_done = 1;
	if (c->phase == PH_PROXY && c->up != NULL && c->req_chunked)
		evbuffer_add(bufferevent_get_output(c->up), "0\r\n\r\n", 5);
	http_parser_pause(p, 1);
	return (0);
}

/* Who is asking: an API token header or the login cookie (allocated), or NULL. */
char *
api_request_user(const struct http_msg *m)
{
	const char	*auth = http_msg_get(m, "authorization");
	const char	*cookie = http_msg_get(m, "cookie");
	char		*v, *user = NULL;

	if (auth != NULL && strncasecmp(auth, "token ", 6) == 0)
		return (auth_token_check(auth + 6));
	if (cookie != NULL && (v = http_cookie_get(cookie, AUTH_COOKIE)) != NULL) {
		user = auth_cookie_check(v);
		free(v);
	}
	return (user);
}

/* Checks what a proxy request head must satisfy; 0 or an HTTP status. */
static int
conn_check_head(struct conn *c)
{
	const char	*te = http_msg_get(&c->req, "transfer-encoding");

	if (c->req.url == NULL || c->req.url[0] != '/')
		return (400);
	if (c->rp.http_major == 1 && c->rp.http_minor >= 1 &&
	    http_msg_count(&c->req, "host") != 1)
		return (400);
	if (http_msg_count(&c->req, "host") > 1 ||
	    http_msg_count(&c->req, "content-length") > 1 ||
	    http_msg_count(&c->req, "transfer-encoding") > 1)
		return (400);
	if (te != NULL && strcasecmp(te, "chunked") != 0)
		return (501);
	if (te != NULL && http_msg_get(&c->req, "content-length") != NULL)
		return (400);
	return (0);
}

static void
conn_stream_ready(struct bufferevent *bev, const char *err, void *arg)
{
	struct conn	*c = arg;

	c->treq = NULL;
	if (bev == NULL) {
		log_info("%s: route %s: stream refused: %s", c->peer, c->route, err);
		if (err != NULL && strstr(err, "tunnel closed") != NULL)
			conn_fail(c, 502, "The connection to your notebook was lost",
			    "The link between the gateway and the compute node running "
			    "your notebook went down while this request waited. The "
			    "notebook keeps running and reconnects by itself; try again "
			    "in a moment.");
		else
			conn_fail(c, 502, "The notebook did not answer",
			    "The tunnel to your notebook is up, but the notebook refused "
			    "the connection. It may be starting or have stopped; try "
			    "again in a moment.");
		return;
	}
	c->up = bev;
	conn_send_head(c);
}

/* Notes traffic on @route, at most once a second per connection (idle culling). */
static void
conn_touch_route(const char *route, time_t *touched)
{
	struct route	*r;
	time_t		 now;

	if (route == NULL || (now = time(NULL)) == *touched)
		return;
	*touched = now;
	if ((r = route_find(route)) != NULL)
		route_touch(r, now);
}

static void
conn_touch(struct conn *c)
{
	conn_touch_route(c->route, &c->touched);
}

/* Proxies the request head just parsed to route @r. */
static void
conn_proxy(struct conn *c, struct route *r)
{
	struct tunnel	*t = route_tunnel(r);

	c->phase = PH_PROXY;
	gate->stats.requests++;
	route_touch(r, time(NULL));
	if (c->up != NULL && c->up_reusable && strcmp(c->route, route_name(r)) == 0) {
		conn_send_head(c);
		return;
	}
	conn_up_drop(c);
	c->route = xstrdup(route_name(r));
	c->phase = PH_WAIT_UP;
	c->treq = conn_connector(t, c->peer, c->peer_port, conn_stream_ready, c);
}

/* Adds string @s (no printf: heads are built for every proxied message). */
static void
conn_add_str(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, s, strlen(s));
}

/* Adds "name: value\r\n". */
static void
conn_add_header(struct evbuffer *out, const char *name, const char *value)
{
	conn_add_str(out, name);
	evbuffer_add(out, ": ", 2);
	conn_add_str(out, value);
	evbuffer_add(out, "\r\n", 2);
}

/* Writes the request head to the notebook, then lets the body flow. */
static void
conn_send_head(struct conn *c)
{
	struct evbuffer	*out = conn_wbuf();
	struct route	*r = route_find(c->route);
	const char	*host = http_msg_get(&c->req, "host");
	const char	*upgrade = http_msg_get(&c->req, "upgrade");
	const char	*expect = http_msg_get(&c->req, "expect");
	size_t		 i;
	char		*cookie;

	if (r == NULL) {
		conn_fail(c, 503, "Notebook gone", "The notebook was just stopped.");
		return;
	}
	/*
	 * The head is put together apart and handed to the stream at once:
	 * every write into a bufferevent pair moves bytes to its partner and
	 * schedules its callbacks (some thirty times for one head).
	 */
	conn_add_str(out, http_method_str(c->rp.method));
	evbuffer_add(out, " ", 1);
	conn_add_str(out, c->req.url);
	evbuffer_add(out, " HTTP/1.1\r\n", 11);
	for (i = 0; i < c->req.nhdr; i++) {
		const struct http_hdr *h = &c->req.hdr[i];
		const char *v = h->value != NULL ? h->value : "";

		if (http_hop_header(&c->req, h->name) ||
		    strcasecmp(h->name, "authorization") == 0 ||
		    strcasecmp(h->name, "expect") == 0 ||
		    strncasecmp(h->name, "x-forwarded-", 12) == 0)
			continue;
		if (strcasecmp(h->name, "cookie") == 0) {
			if ((cookie = http_cookie_strip(v, AUTH_COOKIE)) != NULL)
				conn_add_header(out, "Cookie", cookie);
			free(cookie);
			continue;
		}
		conn_add_header(out, h->name, v);
	}
	conn_add_header(out, "X-Forwarded-For", c->peer);
	conn_add_header(out, "X-Forwarded-Proto", c->tls ? "https" : "http");
	if (host != NULL)
		conn_add_header(out, "X-Forwarded-Host", host);
	if (route_token(r) != NULL) {
		conn_add_str(out, "Authorization: token ");
		conn_add_str(out, route_token(r));
		evbuffer_add(out, "\r\n", 2);
	}
	if (c->req_chunked)
		conn_add_str(out, "Transfer-Encoding: chunked\r\n");
	if (c->req_upgrade && upgrade != NULL) {
		conn_add_str(out, "Connection: Upgrade\r\n");
		conn_add_header(out, "Upgrade", upgrade);
		evbuffer_add(out, "\r\n", 2);
	} else
		conn_add_str(out, "Connection: keep-alive\r\n\r\n");
	evbuffer_add_buffer(bufferevent_get_output(c->up), out);
	if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && !c->req_done)
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "HTTP/1.1 100 Continue\r\n\r\n");

	c->phase = PH_PROXY;
	c->up_reusable = 0;
	http_msg_reset(&c->resp);
	http_parser_init(&c->sp, HTTP_RESPONSE);
	c->sp.data = c;
	bufferevent_setcb(c->up, conn_parse_up_cb, conn_up_write, conn_up_event, c);
	bufferevent_setwatermark(c->up, EV_WRITE, conn_limit() / 2, 0);
	bufferevent_enable(c->up, EV_READ | EV_WRITE);
	conn_set_read_timeout(c, gate->cfg->proxy_idle_timeout);
	{
		struct timeval tv = { gate->cfg->proxy_idle_timeout, 0 };
		bufferevent_set_timeouts(c->up, &tv, NULL);
	}
	if (!c->req_done)
		http_parser_pause(&c->rp, 0);	/* body, or the end of an upgrade head */
	conn_parse(c);
	conn_parse_up(c);
}

/* Decides what the request just parsed gets. */
static void
conn_request(struct conn *c)
{
	char		*user = NULL, *name = NULL, *second = NULL, *text;
	struct route	*r;
	int		 code;

	if ((code = conn_check_head(c)) != 0) {
		gate->stats.bad_requests++;
		conn_fail(c, code, "Bad request", "The request was malformed or ambiguous.");
		return;
	}
	if (c->admin || strncmp(c->req.url, "/user/", 6) != 0) {
		c->phase = PH_LOCAL;
		c->local_body = evbuffer_new();
		http_parser_pause(&c->rp, 0);
		return;
	}
	if (c->req_upgrade && c->req_chunked) {
		conn_fail(c, 400, "Bad request", "An upgrade request cannot have a body.");
		return;
	}
	if (http_user_path(c->req.url, &name, &second) == -1) {
		gate->stats.bad_requests++;
		conn_fail(c, 400, "Bad request", "That is not a valid notebook address.");
		goto out;
	}
	user = api_request_user(&c->req);
	if (user == NULL) {
		gate->stats.refused++;
		conn_fail(c, 401, "Please log in",
		    "You are not logged in to this gateway. Log in first, then open "
		    "your notebook again.");
		goto out;
	}
	if (strcmp(user, name) != 0 && !config_is_admin(gate->cfg, user)) {
		gate->stats.refused++;
		log_info("%s: user %s refused access to /user/%s/", c->peer, user, name);
		conn_fail(c, 403, "Not your notebook",
		    "This notebook belongs to another user. You can only open your own.");
		goto out;
	}
	if ((r = route_lookup(name, second)) == NULL || route_tunnel(r) == NULL) {
		xasprintf(&text, "%s is not connected to the gateway right now. If you "
		    "just started it, it may still be waiting in the queue or starting; "
		    "this page can be reloaded in a moment.",
		    r == NULL ? "No notebook" : "The notebook");
		conn_fail(c, 503, "Notebook not connected", text);
		free(text);
		goto out;
	}
	conn_proxy(c, r);
out:
	free(user);
	free(name);
	free(second);
}

/*
 * Progress streams (GET .../progress, api.c checked it): Server-Sent Events,
 * one "data:" line per state change of the session, close-delimited, ended
 * by the server after the ready or failed event.
 */

/* The stream writes nothing more: no watcher, no heartbeat. */
static void
conn_sse_stop(struct conn *c)
{
	if (c->sse_watching) {
		session_unwatch(conn_sse_watch, c);
		c->sse_watching = 0;
	}
	if (c->sse_beat != NULL) {
		event_free(c->sse_beat);
		c->sse_beat = NULL;
	}
	free(c->sse_last);
	c->sse_last = NULL;
}

/* Queues @len bytes for the client; one that stopped reading is dropped (-1). */
static int
conn_sse_write(struct conn *c, const char *text, size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	if (evbuffer_get_length(out) + len > conn_limit()) {
		log_info("%s: progress of session %lld: the client does not read; "
		    "dropped", c->peer, c->sse_session);
		conn_sse_stop(c);
		conn_free_later(c);
		return (-1);
	}
	evbuffer_add(out, text, len);
	return (0);
}

/* Sends @s's state as one event unless it repeats the last; closes after the last. */
static void
conn_sse_send(struct conn *c, const struct session *s)
{
	json_t	*ev;
	char	*line, *text;
	int	 final, pct;

	ev = api_progress_event(s, &final);
	pct = (int)json_integer_value(json_object_get(ev, "progress"));
	if (pct < c->sse_pct)
		json_object_set_new(ev, "progress", json_integer(c->sse_pct));
	else
		c->sse_pct = pct;
	line = json_dumps(ev, JSON_COMPACT);	/* one line: newlines are escaped */
	json_decref(ev);
	if (line == NULL)
		return;
	if (!final && c->sse_last != NULL && strcmp(line, c->sse_last) == 0) {
		free(line);
		return;
	}
	xasprintf(&text, "data: %s\n\n", line);
	free(c->sse_last);
	c->sse_last = line;	/* transferred */
	if (conn_sse_write(c, text, strlen(text)) == 0 && final) {
		log_debug("%s: progress of session %lld: final event sent", c->peer,
		    c->sse_session);
		conn_sse_stop(c);
		conn_close(c);
	}
	free(text);
}

static void
conn_sse_watch(const struct session *s, void *arg)
{
	struct conn	*c = arg;

	if (!c->closing && session_id(s) == c->sse_session)
		conn_sse_send(c, s);
}

static void
conn_sse_beat(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	static const char beat[] = ": keepalive\n\n";

	if (!c->closing)
		conn_sse_write(c, beat, sizeof beat - 1);
}

/* Answers with the stream's head and the current state, then follows @id. */
static void
conn_sse_start(struct conn *c, long long id)
{
	const struct session	*s = session_by_id(id);
	struct timeval		 beat = { CONN_SSE_BEAT, 0 };
	struct timeval		 wr = { gate->cfg->proxy_idle_timeout, 0 };

	if (s == NULL) {
		conn_fail(c, 404, "No such server", "The server is gone.");
		return;
	}
	evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n");
	c->phase = PH_SSE;
	c->resp_started = 1;
	c->sse_session = id;
	http_msg_reset(&c->req);
	/* No idle timeout: only a client that stops taking bytes times out. */
	bufferevent_set_timeouts(c->bev, NULL, &wr);
	bufferevent_enable(c->bev, EV_READ);
	log_debug("%s: progress of session %lld: stream opened", c->peer, id);
	c->sse_beat = event_new(gate->base, -1, EV_PERSIST, conn_sse_beat, c);
	if (c->sse_beat == NULL)
		fatalx("event_new failed");
	event_add(c->sse_beat, &beat);
	session_watch(conn_sse_watch, c);
	c->sse_watching = 1;
	conn_sse_send(c, s);
}

/* Runs the /hub/ handler once the whole local request is in. */
static void
conn_local(struct conn *c)
{
	struct api_req	 ar;
	struct api_resp	 rs;
	char		*path, *q, *user;
	int		 keepalive = c->req_keepalive;

	memset(&ar, 0, sizeof ar);
	memset(&rs, 0, sizeof rs);
	path = xstrdup(c->req.url);
	if ((q = strchr(path, '?')) != NULL)
		*q++ = '\0';
	user = c->admin ? NULL : api_request_user(&c->req);
	ar.method = http_method_str(c->rp.method);
	ar.path = path;
	ar.query = q;
	ar.head = &c->req;
	ar.body = c->local_body;
	ar.user = user;
	ar.admin_socket = c->admin;
	ar.host = http_msg_get(&c->req, "host");
	ar.actor = c->admin ? c->peer : user != NULL ? user : "anonymous";
	ar.peer = c->peer;
	ar.conn = c;
	api_dispatch(&ar, &rs);
	if (c->defer != NULL) {
		/* The parser stays paused; only EOF or an error matters now. */
		c->phase = PH_DEFER;
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		free(rs.headers);
		if (rs.body != NULL)
			evbuffer_free(rs.body);
		free(path);
		free(user);
		return;
	}
	c->phase = PH_HEAD;
	if (rs.progress != 0 && rs.code == 200) {
		keepalive = 0;		/* the stream is close-delimited */
		conn_sse_start(c, rs.progress);
		if (rs.body != NULL)
			evbuffer_free(rs.body);
	} else
		conn_reply(c, rs.code, rs.ctype, rs.headers, rs.body, keepalive);
	free(rs.headers);
	free(path);
	free(user);
	if (keepalive && !c->closing) {
		conn_set_read_timeout(c, gate->cfg->proxy_header_timeout);
		http_parser_pause(&c->rp, 0);
	}
}

/* The current /hub/ handler will answer later; see daemon.h. */
struct conn_defer *
conn_defer(struct conn *c)
{
	if (c->defer != NULL)
		fatalx("conn_defer twice");
	c->defer = xcalloc(1, sizeof *c->defer);
	c->defer->c = c;
	return (c->defer);
}

/* Sends a deferred response if its browser is still there; frees @d. */
void
conn_defer_answer(struct conn_defer *d, struct api_resp *rs)
{
	struct conn	*c = d->c;
	int		 keepalive;

	if (c != NULL)
		c->defer = NULL;
	if (c != NULL && !c->closing) {
		keepalive = c->req_keepalive;
		c->phase = PH_HEAD;
		conn_reply(c, rs->code, rs->ctype, rs->headers, rs->body, keepalive);
		rs->body = NULL;	/* transferred */
		if (keepalive && !c->closing) {
			conn_set_read_timeout(c, gate->cfg->proxy_header_timeout);
			http_parser_pause(&c->rp, 0);
			conn_parse(c);
		}
	}
	if (rs->body != NULL)
		evbuffer_free(rs->body);
	rs->body = NULL;
	free(rs->headers);
	rs->headers = NULL;
	free(d);
}

/* Feeds browser bytes to the request parser while the far side has room. */
static void
conn_parse(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec	 v;
	enum http_errno		 e;
	size_t			 n;

	while (!c->closing && evbuffer_get_length(in) > 0) {
		if (c->up != NULL &&
		    evbuffer_get_length(bufferevent_get_output(c->up)) >= conn_limit()) {
			bufferevent_disable(c->bev, EV_READ);
			return;
		}
		if (c->phase == PH_UPGRADED) {
			evbuffer_add_buffer(bufferevent_get_output(c->up), in);
			break;
		}
		if (HTTP_PARSER_ERRNO(&c->rp) == HPE_PAUSED)
			break;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = http_parser_execute(&c->rp, &conn_req_settings, v.iov_base, v.iov_len);
		evbuffer_drain(in, n);
		e = HTTP_PARSER_ERRNO(&c->rp);
		if (e != HPE_OK && e != HPE_PAUSED) {
			gate->stats.bad_requests++;
			log_info("%s: bad request: %s", c->peer, http_errno_description(e));
			conn_fail(c, c->err_code != 0 ? c->err_code : 400, "Bad request",
			    c->err_code == 413 ? "The request body is too large." :
			    c->err_code != 0 ? "The request head is too large." :
			    "The request was malformed or ambiguous.");
			return;
		}
		if (c->req_head_done && c->phase == PH_HEAD) {
			c->req_head_done = 0;
			conn_request(c);
			continue;
		}
		if (c->req_done && c->phase == PH_LOCAL) {
			conn_local(c);
			continue;
		}
	}
	/* A paused parser with a growing backlog: stop reading the browser. */
	if (!c->closing && c->phase != PH_UPGRADED &&
	    evbuffer_get_length(in) >= conn_limit())
		bufferevent_disable(c->bev, EV_READ);
	else if (!c->closing)
		bufferevent_enable(c->bev, EV_READ);
}

/* The request and its response are both done: next request, or close. */
static void
conn_cycle_done(struct conn *c)
{
	if (!c->req_keepalive || c->resp_close || !c->req_done) {
		conn_close(c);
		return;
	}
	if (!c->up_reusable) {
		bufferevent_setcb(c->up, NULL, NULL, NULL, NULL);
		tunnel_stream_close(c->up);
		c->up = NULL;
	}
	c->phase = PH_HEAD;
	conn_set_read_timeout(c, gate->cfg->proxy_header_timeout);
	http_parser_pause(&c->rp, 0);
	conn_parse(c);
}

/* Response parser callbacks. */
static int
conn_up_on_status(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	return (http_msg_reason(&c->resp, at, len));
}

static int
conn_up_on_field(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	return (http_msg_field(&c->resp, at, len));
}

static int
conn_up_on_value(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	return (http_msg_value(&c->resp, at, len));
}

static int
conn_up_on_begin(http_parser *p)
{
	struct conn	*c = p->data;

	http_msg_reset(&c->resp);
	return (0);
}

static int
conn_up_on_headers(http_parser *p)
{
	struct conn	*c = p->data;
	struct evbuffer	*out = conn_wbuf();
	int		 code = p->status_code, upgraded, nobody, keep;
	size_t		 i;
	char		 status[16];

	upgraded = code == 101 && c->req_upgrade;
	nobody = c->req_head_method || code == 204 || code == 304 ||
	    (code >= 100 && code < 200);
	c->resp_chunked = !nobody && (p->flags & F_CHUNKED) != 0;
	if (!nobody && !c->resp_chunked &&
	    http_msg_get(&c->resp, "content-length") == NULL && !upgraded)
		c->resp_close = 1;	/* delimited by the notebook closing */
	if (c->req_upgrade && !upgraded && code >= 200)
		c->resp_close = 1;	/* refused upgrade: do not reuse the connection */
	keep = c->req_keepalive && !c->resp_close;
	snprintf(status, sizeof status, "HTTP/1.1 %03d ", code);	/* 100..999 */
	conn_add_str(out, status);
	conn_add_str(out, c->resp.reason != NULL ? c->resp.reason : http_status_text(code));
	evbuffer_add(out, "\r\n", 2);
	for (i = 0; i < c->resp.nhdr; i++) {
		const struct http_hdr *h = &c->resp.hdr[i];

		if (http_hop_header(&c->resp, h->name))
			continue;
		conn_add_header(out, h->name, h->value != NULL ? h->value : "");
	}
	if (upgraded) {
		conn_add_str(out, "Connection: Upgrade\r\n");
		conn_add_header(out, "Upgrade", http_msg_get(&c->resp, "upgrade") != NULL ?
		    http_msg_get(&c->resp, "upgrade") : "websocket");
		evbuffer_add(out, "\r\n", 2);
	} else if (code >= 100 && code < 200)
		evbuffer_add(out, "\r\n", 2);
	else {
		if (c->resp_chunked)
			conn_add_str(out, "Transfer-Encoding: chunked\r\n");
		conn_add_str(out, keep ? "Connection: keep-alive\r\n\r\n" :
		    "Connection: close\r\n\r\n");
	}
	if (code >= 200 || upgraded)
		c->resp_started = 1;
	if (upgraded) {
		/* The parser consumes the head and stops; raw bytes follow. */
		c->phase = PH_UPGRADED;
		gate->stats.websockets++;
		return (0);
	}
	return (nobody ? 1 : 0);
}

static int
conn_up_on_body(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;
	struct evbuffer	*out = conn_wbuf();

	if (c->resp_chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, at, len);
	if (c->resp_chunked)
		evbuffer_add(out, "\r\n", 2);
	gate->stats.bytes_down += len;
	return (0);
}

static int
conn_up_on_complete(http_parser *p)
{
	struct conn	*c = p->data;

	if (c->phase == PH_UPGRADED)
		return (0);
	if (p->status_code >= 100 && p->status_code < 200)
		return (0);	/* an interim response: the real one follows */
	if (c->resp_chunked)
		evbuffer_add(conn_wbuf(), "0\r\n\r\n", 5);
	c->resp_done = 1;
	c->up_reusable = http_should_keep_alive(p) && c->req_done;
	http_parser_pause(p, 1);
	return (0);
}

static void
conn_ws_free(struct wsconn *w)
{
	TAILQ_REMOVE(&ws_list, w, entry);
	free(w->route);
	free(w);
	if (gate->stats.websockets > 0)
		gate->stats.websockets--;
	conn_counted(-1);
}

/* A spliced WebSocket ended: the notebook's side, the browser's, or the agent. */
static void
conn_ws_gone(void *arg)
{
	conn_ws_free(arg);	/* its stream is gone already */
}

static void
conn_ws_traffic(size_t up, size_t down, void *arg)
{
	struct wsconn	*w = arg;

	gate->stats.bytes_up += up;
	gate->stats.bytes_down += down;
	conn_touch_route(w->route, &w->touched);
}

/*
 * A WebSocket from here on only moves bytes: the tunnel relays its channel
 * to the browser's socket directly, and the bufferevent pair in between,
 * the browser's bufferevent and this connection go (about 3.5 KiB per idle
 * WebSocket; a small wsconn stays).  0 if the stream is not a tunnel's or a
 * side already ended: the connection goes on as it is.
 */
static int
conn_ws_splice(struct conn *c)
{
	struct wsconn	*w;

	if (c->up == NULL || c->closing || c->bev == NULL)
		return (0);
	w = xcalloc(1, sizeof *w);
	w->st = tunnel_stream_splice(c->up, c->fd, c->ssl, bufferevent_get_input(c->bev),
	    bufferevent_get_output(c->bev), gate->cfg->proxy_idle_timeout,
	    conn_ws_gone, conn_ws_traffic, w);
	if (w->st == NULL) {
		free(w);
		return (0);
	}
	log_debug("%s: route %s: WebSocket spliced onto its channel", c->peer, c->route);
	w->route = c->route;
	w->touched = c->touched;
	TAILQ_INSERT_TAIL(&ws_list, w, entry);
	conn_counted(1);
	c->route = NULL;
	c->up = NULL;		/* freed by the splice */
	c->fd = -1;		/* the relay's now */
	c->ssl = NULL;
	c->phase = PH_HEAD;	/* the WebSocket is w's to count */
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_free(c->bev);
	c->bev = NULL;
	conn_free_later(c);
	return (1);
}

/* Feeds notebook bytes to the response parser while the browser keeps up. */
static void
conn_parse_up(struct conn *c)
{
	struct evbuffer		*in, *out;
	struct evbuffer_iovec	 v;
	enum http_errno		 e;
	size_t			 n;

	if (c->up == NULL || c->closing)
		return;
	in = bufferevent_get_input(c->up);
	out = bufferevent_get_output(c->bev);
	while (!c->closing && c->up != NULL && evbuffer_get_length(in) > 0) {
		if (evbuffer_get_length(out) >= conn_limit()) {
			bufferevent_disable(c->up, EV_READ);
			return;
		}
		if (c->phase == PH_UPGRADED) {
			gate->stats.bytes_down += evbuffer_get_length(in);
			conn_touch(c);
			evbuffer_add_buffer(out, in);
			break;
		}
		if (c->resp_done)
			break;	/* bytes after a response: dropped with the stream */
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = http_parser_execute(&c->sp, &conn_resp_settings, v.iov_base, v.iov_len);
		evbuffer_drain(in, n);
		conn_write_now(c);
		e = HTTP_PARSER_ERRNO(&c->sp);
		if (e != HPE_OK && e != HPE_PAUSED) {
			log_info("%s: route %s: bad response from the notebook: %s",
			    c->peer, c->route, http_errno_description(e));
			conn_fail(c, 502, "Bad answer from the notebook",
			    "The notebook sent a response the gateway could not read.");
			return;
		}
		if (c->phase == PH_UPGRADED) {
			/* Heads are not needed any more: idle WebSockets stay small. */
			http_msg_reset(&c->req);
			http_msg_reset(&c->resp);
			conn_parse(c);	/* browser bytes that waited for the 101 */
			if (conn_ws_splice(c))
				return;
			continue;
		}
		if (c->resp_done) {
			conn_cycle_done(c);
			return;
		}
	}
	if (c->up != NULL && !c->closing)
		bufferevent_enable(c->up, EV_READ);
}

static void
conn_parse_up_cb(struct bufferevent *bev, void *arg)
{
	conn_parse_up(arg);
}

/* The stream to the notebook drained below its low watermark: read the browser again. */
static void
conn_up_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (!c->closing)
		conn_parse(c);
}

static void
conn_up_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	if (what & BEV_EVENT_TIMEOUT) {
		log_info("%s: route %s: the notebook did not answer in time", c->peer, c->route);
		conn_fail(c, 504, "The notebook is not answering",
		    "The notebook took too long to answer.");
		return;
	}
	/* EOF or error from the tunnel side. */
	conn_parse_up(c);
	if (c->closing)
		return;
	if (c->phase == PH_UPGRADED) {
		conn_close(c);
		return;
	}
	if (c->resp_close && c->resp_started && !c->resp_done) {
		http_parser_execute(&c->sp, &conn_resp_settings, NULL, 0);
		conn_write_now(c);
		conn_close(c);
		return;
	}
	if (c->phase == PH_PROXY && !c->resp_done) {
		conn_fail(c, 502, "The notebook closed the connection",
		    "The notebook closed the connection before it answered. It may "
		    "have stopped or restarted.");
		return;
	}
	/* An idle kept-alive stream went away: fine. */
	conn_up_drop(c);
}

static void
conn_client_read(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->phase == PH_UPGRADED) {
		gate->stats.bytes_up += evbuffer_get_length(bufferevent_get_input(bev));
		conn_touch(c);
	}
	if (c->phase == PH_SSE) {	/* nothing more is read: only EOF matters */
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	conn_parse(c);
}

/* The browser took what we had queued: let the notebook's bytes flow again. */
static void
conn_client_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->up != NULL && !c->closing)
		conn_parse_up(c);
}

static void
conn_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	unsigned long	 e;

	if (what == BEV_EVENT_CONNECTED)
		return;		/* TLS handshake done */
	if ((what & BEV_EVENT_TIMEOUT) && c->phase == PH_HEAD && c->req.size > 0) {
		conn_fail(c, 408, "Request timeout", "The request took too long to arrive.");
		return;
	}
	if ((what & BEV_EVENT_ERROR) && c->tls &&
	    (e = bufferevent_get_openssl_error(bev)) != 0)
		log_debug("%s: TLS: %s", c->peer, ERR_reason_error_string(e));
	if (c->phase == PH_UPGRADED && c->up != NULL && (what & BEV_EVENT_EOF))
		evbuffer_add_buffer(bufferevent_get_output(c->up), bufferevent_get_input(bev));
	c->closing = 1;
	conn_up_drop(c);
	conn_free_later(c);
}

/* Takes an accepted socket: TLS for browsers, plain for the admin socket (and fuzzing). */
void
conn_accept(int fd, const char *peer, int port, enum conn_kind kind)
{
	int		 admin = kind == CONN_ADMIN;
	struct conn	*c;
	SSL		*ssl;

	if (!admin && conn_count >= (unsigned long)gate->cfg->proxy_max_conns) {
		log_warnx("%s: too many connections (%lu), refusing", peer, conn_count);
		close(fd);
		return;
	}
	evutil_make_socket_nonblocking(fd);
	c = xcalloc(1, sizeof *c);
	c->admin = admin;
	c->tls = kind == CONN_TLS;
	c->peer = xstrdup(peer);
	c->peer_port = port;
	/*
	 * The bufferevent does not own fd and ssl: a spliced WebSocket's relay
	 * takes them over when its bufferevent goes (conn_ws_splice).
	 */
	c->fd = fd;
	if (!c->tls)
		c->bev = bufferevent_socket_new(gate->base, fd, 0);
	else {
		util_set_nodelay(fd);
		if ((ssl = SSL_new(gate->ssl_ctx)) == NULL)
			fatalx("SSL_new failed");
		c->ssl = ssl;
		c->bev = bufferevent_openssl_socket_new(gate->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, 0);
		bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	}
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	http_msg_init(&c->req, gate->cfg->proxy_max_header);
	http_msg_init(&c->resp, CONN_RESP_HEAD_MAX);
	http_parser_init(&c->rp, HTTP_REQUEST);
	c->rp.data = c;
	conn_counted(1);
	TAILQ_INSERT_TAIL(&conn_list, c, entry);
	bufferevent_setcb(c->bev, conn_client_read, conn_client_write, conn_client_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, conn_limit() / 2, 0);
	conn_set_read_timeout(c, gate->cfg->proxy_header_timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Replaces how streams to notebooks are opened (tests and fuzzing only). */
void
conn_set_connector(conn_connector_fn fn)
{
	conn_connector = fn != NULL ? fn : tunnel_connect;
}

/* Number of open connections. */
unsigned long
conn_open(void)
{
	return (conn_count);
}

/* Frees every connection now (shutdown). */
void
conn_close_all(void)
{
	struct conn	*c;
	struct wsconn	*w;

	while ((c = TAILQ_FIRST(&conn_list)) != NULL)
		conn_free(c);
	while ((w = TAILQ_FIRST(&ws_list)) != NULL) {
		tunnel_splice_close(w->st);
		conn_ws_free(w);
	}
	if (conn_trim_base != NULL)
		event_del(&conn_trim_ev);
	conn_trim_base = NULL;
	conn_churn = 0;
}

/* Sets up the parser callbacks once. */
static void __attribute__((constructor))
conn_init_settings(void)
{
	conn_req_settings.on_message_begin = conn_on_begin;
	conn_req_settings.on_url = conn_on_url;
	conn_req_settings.on_header_field = conn_on_field;
	conn_req_settings.on_header_value = conn_on_value;
	conn_req_settings.on_headers_complete = conn_on_headers;
	conn_req_settings.on_body = conn_on_body;
	conn_req_settings.on_message_complete = conn_on_complete;
	conn_resp_settings.on_message_begin = conn_up_on_begin;
	conn_resp_settings.on_status = conn_up_on_status;
	conn_resp_settings.on_header_field = conn_up_on_field;
	conn_resp_settings.on_header_value = conn_up_on_value;
	conn_resp_settings.on_headers_complete = conn_up_on_headers;
	conn_resp_settings.on_body = conn_up_on_body;
	conn_resp_settings.on_message_complete = conn_up_on_complete;
}
