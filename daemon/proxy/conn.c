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
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <jansson.h>
#include <http_parser.h>

#include "daemon/proxy/proxy.h"

#define CONN_ANON_BODY_MAX	(8 * 1024)	/* a login form before anyone is known */
#define CONN_RESP_HEAD_MAX	(64 * 1024)
#define CONN_TRIM_CHURN		256	/* accepts + closes that make a burst */
#define CONN_TRIM_QUIET		1	/* s without churn before trimming */
#define CONN_SSE_BEAT		15	/* s between keepalive comments of a progress stream */
#define CONN_WRITE_MAX		16384	/* one direct write: what libevent retries a blocked one with */
#define CONN_HSTS_AGE		31536000	/* s: a year, what HSTS preload lists ask */

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
	struct peer		*peerc;		/* its count against the per-address cap */
	time_t			 born;		/* accepted (the handshake's deadline) */
	int			 handshaking;	/* on conn_hs_list */
	TAILQ_ENTRY(conn)	 hs_entry;
	time_t			 head_start;	/* first byte of the request (its deadline) */
	int			 in_head;	/* between that byte and the head's end */
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
	size_t			 local_max;	/* the body this /hub/ request may have */
	char			*local_user;	/* who the /hub/ request is from, or NULL */

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

	struct conn_stream	*stream;	/* an event stream a handler writes */
	int			 streamed;	/* the request was answered with one */
	struct conn_defer	*defer;		/* PH_DEFER: owned by the handler */
	TAILQ_ENTRY(conn)	 entry;
};
static TAILQ_HEAD(, conn) conn_list = TAILQ_HEAD_INITIALIZER(conn_list);
/* TLS connections still in their handshake, in accept order (one deadline each). */
static TAILQ_HEAD(, conn) conn_hs_list = TAILQ_HEAD_INITIALIZER(conn_hs_list);
static struct event conn_hs_ev;
static struct event_base *conn_hs_base;

/*
 * A WebSocket after its splice: all that is left of its connection (the
 * relay in the tunnel has the socket).  Counted as a connection.
 */
struct wsconn {
	struct tunnel_stream	*st;
	struct peer		*peerc;
	char			*route;
	time_t			 touched;
	TAILQ_ENTRY(wsconn)	 entry;
};
static TAILQ_HEAD(, wsconn) ws_list = TAILQ_HEAD_INITIALIZER(ws_list);

static http_parser_settings conn_req_settings, conn_resp_settings;
static conn_connector_fn conn_connector = tunnel_connect;
static conn_hub_fn conn_hub;	/* answers /hub/ (web/), set at start */
static unsigned long conn_count;
static unsigned long conn_churn;	/* accepts + frees since the last trim */
static struct event conn_trim_ev;
static struct event_base *conn_trim_base;

static void	conn_close(struct conn *);
static void	conn_fail_json(struct conn *, int, const char *);
static void	conn_local(struct conn *);
static void	conn_parse(struct conn *);
static void	conn_parse_up(struct conn *);
static void	conn_send_head(struct conn *);
static void	conn_client_read(struct bufferevent *, void *);
static void	conn_client_write(struct bufferevent *, void *);
static void	conn_client_event(struct bufferevent *, short, void *);
static void	conn_parse_up_cb(struct bufferevent *, void *);
static void	conn_up_write(struct bufferevent *, void *);
static void	conn_up_event(struct bufferevent *, short, void *);
static void	conn_stream_gone(struct conn *);

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
	char		*both = NULL;

	if (c->tls && gate->hsts) {	/* tls.hsts: the gateway's own answers say it */
		xasprintf(&both, "Strict-Transport-Security: max-age=%d\r\n%s",
		    CONN_HSTS_AGE, extra != NULL ? extra : "");
		extra = both;
	}
	http_respond(out, code, ctype, extra, body, keepalive, c->req_head_method);
	free(both);
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
		conn_fail_json(c, code, text);
		return;
	}
	conn_reply(c, code, "text/html; charset=utf-8", NULL,
	    http_page(code, title, text), 0);
}

/* Answers with JSON's {"status", "message"} and closes. */
static void
conn_fail_json(struct conn *c, int code, const char *text)
{
	struct evbuffer	*b = evbuffer_new();
	json_t		*j = json_pack("{s:i,s:s}", "status", code, "message", text);
	char		*s = json_dumps(j, JSON_COMPACT);

	if (c->resp_started) {
		conn_close(c);
		goto out;
	}
	evbuffer_add_printf(b, "%s\n", s);
	conn_reply(c, code, "application/json", NULL, b, 0);
	b = NULL;	/* transferred */
out:
	if (b != NULL)
		evbuffer_free(b);
	free(s);
	json_decref(j);
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

/*
 * The TLS handshake's deadline (tls.handshake_timeout from accept, however
 * the bytes trickle in): one timer for the oldest handshake in progress.
 */
static void
conn_hs_arm(void)
{
	struct conn	*c = TAILQ_FIRST(&conn_hs_list);
	struct timeval	 tv = { 0, 0 };
	time_t		 now = time(NULL);

	if (c == NULL) {
		if (conn_hs_base != NULL)
			event_del(&conn_hs_ev);
		return;
	}
	if (c->born + gate->cfg->tls_handshake_timeout > now)
		tv.tv_sec = c->born + gate->cfg->tls_handshake_timeout - now;
	evtimer_add(&conn_hs_ev, &tv);
}

static void
conn_hs_done(struct conn *c)
{
	if (!c->handshaking)
		return;
	c->handshaking = 0;
	TAILQ_REMOVE(&conn_hs_list, c, hs_entry);
}

static void conn_free_later(struct conn *);

static void
conn_hs_expire(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c;
	time_t		 now = time(NULL);

	while ((c = TAILQ_FIRST(&conn_hs_list)) != NULL &&
	    c->born + gate->cfg->tls_handshake_timeout <= now) {
		conn_hs_done(c);
		gate->stats.deadline_drops++;
		log_debug("%s: TLS handshake not done in %d s: closed", c->peer,
		    gate->cfg->tls_handshake_timeout);
		c->closing = 1;
		conn_free_later(c);
	}
	conn_hs_arm();
}

static void
conn_hs_start(struct conn *c)
{
	if (conn_hs_base != gate->base) {
		evtimer_assign(&conn_hs_ev, gate->base, conn_hs_expire, NULL);
		conn_hs_base = gate->base;
	}
	c->handshaking = 1;
	TAILQ_INSERT_TAIL(&conn_hs_list, c, hs_entry);
	if (!evtimer_pending(&conn_hs_ev, NULL))
		conn_hs_arm();
}

static void
conn_free(struct conn *c)
{
	conn_up_drop(c);
	conn_stream_gone(c);
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
	free(c->local_user);
	conn_hs_done(c);
	peer_put(c->peerc);
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
	free(c->local_user);
	c->local_user = NULL;
	c->head_start = time(NULL);
	c->in_head = 1;
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
	c->in_head = 0;
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
		if (evbuffer_get_length(c->local_body) + len > c->local_max) {
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

/*
 * Who is asking: an API token header, or else the one cookie @name that
 * @check turns into a user (allocated), or NULL.  A head with two such
 * cookies (one tossed in by a sibling host) or two Cookie headers proves
 * no one.
 */
static char *
conn_request_who(const struct http_msg *m, const char *name,
    char *(*check)(const char *))
{
	const char	*auth = http_msg_get(m, "authorization");
	const char	*cookie = http_msg_get(m, "cookie");
	char		*v, *user = NULL;

	if (auth != NULL && strncasecmp(auth, "token ", 6) == 0)
		return (auth_token_check(auth + 6));
	if (cookie == NULL || http_msg_count(m, "cookie") > 1 ||
	    http_cookie_count(cookie, name) != 1)
		return (NULL);
	if ((v = http_cookie_get(cookie, name)) != NULL) {
		user = check(v);
		free(v);
	}
	return (user);
}

/* Who is asking on the hub's host: a token header or the login cookie. */
char *
conn_request_user(const struct http_msg *m)
{
	return (conn_request_who(m, AUTH_COOKIE, auth_cookie_check));
}

/* 1 if the head's credential is the login cookie (not an API token header). */
int
conn_request_by_cookie(const struct http_msg *m)
{
	const char	*auth = http_msg_get(m, "authorization");

	return (auth == NULL || strncasecmp(auth, "token ", 6) != 0);
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
	if (http_conn_names_framing(&c->req))
		return (400);	/* "Connection: content-length" would unframe the body */
	return (0);
}

/*
 * The same-origin rule at the proxy: a request the login cookie
 * authenticates that may change something (not GET, HEAD or OPTIONS), and
 * every upgrade, must come from the gateway's own pages.  The notebook
 * cannot check this itself: the token nbgated adds turns its own XSRF and
 * Origin checks off.  0 to go on, -1 when refused (answered).
 */
static int
conn_check_origin(struct conn *c, const char *user)
{
	enum http_method	 m = c->rp.method;
	const char		*why, *o = http_msg_get(&c->req, "origin");

	if (!conn_request_by_cookie(&c->req) ||
	    (!c->req_upgrade && (m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS)))
		return (0);
	if (origin_check(&c->req, c->tls, &why) == 0)
		return (0);
	gate->stats.refused++;
	gate->stats.cross_origin++;
	log_warnx("%s: user %s: %s %s refused: %s%s%s", c->peer, user,
	    c->req_upgrade ? "upgrade of" : http_method_str(m), c->req.url, why,
	    o != NULL ? ": " : "", o != NULL ? o : "");
	conn_fail(c, 403, "Request from another site refused",
	    "This request to your notebook did not come from this gateway's own "
	    "pages (another web site, or a page on another host name, tried to "
	    "use your login). It was refused and nothing was changed. If you "
	    "clicked something on this gateway, reload the page and try again.");
	return (-1);
}

static void
conn_up_ready(struct bufferevent *bev, const char *err, void *arg)
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
	c->treq = conn_connector(t, c->peer, c->peer_port, conn_up_ready, c);
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

		if (http_hop_header(&c->req, h->name) || http_req_withheld(h))
			continue;
		if (strcasecmp(h->name, "cookie") == 0) {
			/* the hub's and a user host's login: never the notebook's */
			cookie = http_cookie_strip(v, AUTH_COOKIE_PREFIX);
			if (cookie != NULL)
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

/* 1 if the request carries a valid service token (no user of its own). */
static int
conn_service_token(struct conn *c)
{
	const char		*auth = http_msg_get(&c->req, "authorization");
	const struct auth_token	*tok;

	return (auth != NULL && strncasecmp(auth, "token ", 6) == 0 &&
	    auth_token_lookup(auth + 6, &tok) == RESULT_OK);
}

/*
 * A /hub/ request: who it is from is settled before any of its body is
 * read, and that decides how much body it may have: none before a login
 * but the login form's few KiB, proxy.max_body_size after.  0 to read on;
 * -1 when refused (answered).
 */
static int
conn_local_begin(struct conn *c)
{
	const char		*cl = http_msg_get(&c->req, "content-length");
	unsigned long long	 len = cl != NULL ? strtoull(cl, NULL, 10) : 0;
	int			 api = strncmp(c->req.url, "/hub/api/", 9) == 0;

	if (!c->admin)
		c->local_user = conn_request_user(&c->req);
	if (c->admin || c->local_user != NULL || conn_service_token(c))
		c->local_max = gate->cfg->proxy_max_body;
	else if (strncmp(c->req.url, "/hub/login", 10) == 0)
		c->local_max = CONN_ANON_BODY_MAX;
	else
		c->local_max = 0;
	if (c->local_max == 0 && (c->req_chunked || len > 0)) {
		/*
		 * Answered as its handler answers anyone unknown (401, 403),
		 * without its body, which is never read: the connection closes.
		 */
		gate->stats.refused++;
		c->req_keepalive = 0;
		c->local_body = evbuffer_new();
		conn_local(c);
		return (-1);
	}
	if (len > c->local_max) {
		gate->stats.bad_requests++;
		if (api)
			conn_fail_json(c, 413, "the request body is too large");
		else
			conn_fail(c, 413, "Request too large",
			    "The request body is too large.");
		return (-1);
	}
	return (0);
}

/*
 * proxy.user_hosts: every user's notebooks on a host of their own
 * (alice.nb.example.org), with a host-only cookie of its own, so that a
 * notebook's JavaScript never runs in the hub's origin nor with the hub's
 * cookie.  A user's host serves /user/<that user>/ and the hand-over
 * /hub/user-login, nothing of the hub.  -1 when answered.
 */
static int
conn_userhost_hub(struct conn *c)
{
	char	*hu;

	if (*gate->cfg->proxy_user_hosts == '\0' || c->admin ||
	    (hu = userhost_user(http_msg_get(&c->req, "host"))) == NULL)
		return (0);
	free(hu);
	if (strncmp(c->req.url, "/hub/user-login?", 16) == 0)
		return (0);
	conn_fail(c, 404, "Not on this host", "This host serves one user's notebooks "
	    "only; the gateway's pages are on its main address.");
	return (-1);
}

/* Redirects to @url (allocated: freed here) with a short page. */
static void
conn_redirect(struct conn *c, char *url)
{
	char	*hdr;

	xasprintf(&hdr, "Location: %s\r\n", url);
	conn_reply(c, 302, "text/html; charset=utf-8", hdr,
	    http_page(302, "Moved", "Opening your notebook."), c->req_keepalive);
	free(hdr);
	free(url);
}

/* Not logged in on a user's host: a page load goes to the hub to log in. 0 if sent. */
static int
conn_userhost_back(struct conn *c)
{
	enum http_method	 m = c->rp.method;
	char			*hub, *url;

	if ((m != HTTP_GET && m != HTTP_HEAD) || c->req_upgrade)
		return (-1);
	hub = userhost_hub_url();
	xasprintf(&url, "%s%s", hub, c->req.url);
	free(hub);
	conn_redirect(c, url);
	return (0);
}

/* On the hub's host: a page load of /user/NAME/ is handed over to NAME's host. */
static void
conn_userhost_send(struct conn *c, const char *user, const char *name)
{
	enum http_method	 m = c->rp.method;
	char			*code, *next, *base, *url;

	if ((m != HTTP_GET && m != HTTP_HEAD) || c->req_upgrade) {
		conn_fail(c, 403, "Notebook on its own host", "Notebooks are served on "
		    "their own host name here; reload the notebook's page.");
		return;
	}
	code = auth_host_code_issue(user);
	if ((next = evhttp_encode_uri(c->req.url)) == NULL)
		fatalx("out of memory");
	base = userhost_url(name, http_msg_get(&c->req, "host"));
	xasprintf(&url, "%s/hub/user-login?code=%s&next=%s", base, code, next);
	freestr(code);
	free(next);
	free(base);
	conn_redirect(c, url);
}

/* Decides what the request just parsed gets. */
static void
conn_request(struct conn *c)
{
	char		*user = NULL, *name = NULL, *second = NULL, *text;
	char		*host_user = NULL;
	struct route	*r;
	int		 code;

	if ((code = conn_check_head(c)) != 0) {
		gate->stats.bad_requests++;
		conn_fail(c, code, "Bad request", "The request was malformed or ambiguous.");
		return;
	}
	if (c->admin || strncmp(c->req.url, "/user/", 6) != 0) {
		if (conn_userhost_hub(c) == -1 || conn_local_begin(c) == -1)
			return;
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
	if (*gate->cfg->proxy_user_hosts != '\0' && !c->admin &&
	    (host_user = userhost_user(http_msg_get(&c->req, "host"))) != NULL) {
		if (strcmp(name, host_user) != 0) {
			conn_fail(c, 404, "Not on this host", "This host serves only "
			    "its own user's notebooks.");
			goto out;
		}
		user = conn_request_who(&c->req, AUTH_HOST_COOKIE,
		    auth_host_cookie_check);
		if (user == NULL && conn_userhost_back(c) == 0)
			goto out;	/* to the hub, to log in there */
	} else
		user = conn_request_user(&c->req);
	if (user == NULL) {
		gate->stats.refused++;
		conn_fail(c, 401, "Please log in",
		    "You are not logged in to this gateway. Log in first, then open "
		    "your notebook again.");
		goto out;
	}
	if (strcmp(user, name) != 0 &&
	    !(gate->cfg->admin_access && config_is_admin(gate->cfg, user))) {
		gate->stats.refused++;
		log_info("%s: user %s refused access to /user/%s/", c->peer, user, name);
		conn_fail(c, 403, "Not your notebook",
		    "This notebook belongs to another user. You can only open your own.");
		goto out;
	}
	if (conn_check_origin(c, user) == -1)
		goto out;
	if (*gate->cfg->proxy_user_hosts != '\0' && host_user == NULL) {
		conn_userhost_send(c, user, name);	/* never served in the hub's origin */
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
	if (strcmp(user, name) != 0 &&
	    (c->route == NULL || strcmp(c->route, route_name(r)) != 0)) {
		/* auth.admin_access: every connection an administrator opens */
		log_warnx("%s: administrator %s opens %s's notebook %s", c->peer, user,
		    name, route_name(r));
		store_audit(user, "admin-access", route_name(r), c->req.url);
		gate->stats.admin_access++;
	}
	conn_proxy(c, r);
out:
	free(user);
	free(host_user);
	free(name);
	free(second);
}

/*
 * Event streams (Server-Sent Events) a /hub/ handler opens with conn_stream():
 * the head goes out at once, then whatever the handler sends, close-delimited,
 * with a keepalive comment every CONN_SSE_BEAT seconds. What is sent is the
 * handler's business (web/progress.c follows a session).
 */
struct conn_stream {
	struct conn		*c;
	conn_stream_closed_cb	 closed;
	void			*arg;
	struct event		*beat;
};

/* Detaches and frees @c's stream: nothing more is written to it. */
static struct conn_stream *
conn_stream_detach(struct conn *c)
{
	struct conn_stream	*st = c->stream;

	if (st == NULL)
		return (NULL);
	c->stream = NULL;
	if (st->beat != NULL)
		event_free(st->beat);
	st->beat = NULL;
	return (st);
}

/* The connection goes: tells the handler once (unless it ended the stream). */
static void
conn_stream_gone(struct conn *c)
{
	struct conn_stream	*st = conn_stream_detach(c);

	if (st == NULL)
		return;
	if (st->closed != NULL)
		st->closed(st->arg);
	free(st);
}

static void
conn_stream_beat(evutil_socket_t fd, short what, void *arg)
{
	struct conn_stream	*st = arg;
	conn_stream_closed_cb	 closed = st->closed;
	void			*carg = st->arg;
	static const char	 beat[] = ": keepalive\n\n";

	/* A drop frees @st here; its handler has not called, so it is told. */
	if (!st->c->closing && conn_stream_send(st, beat, sizeof beat - 1) == -1 &&
	    closed != NULL)
		closed(carg);
}

/* Answers the current /hub/ request with an event stream; see proxy.h. */
struct conn_stream *
conn_stream(struct conn *c, conn_stream_closed_cb closed, void *arg)
{
	struct conn_stream	*st;
	struct timeval		 beat = { CONN_SSE_BEAT, 0 };
	struct timeval		 wr = { gate->cfg->proxy_idle_timeout, 0 };

	if (c->stream != NULL || c->defer != NULL)
		fatalx("conn_stream: the request is already answered");
	st = xcalloc(1, sizeof *st);
	st->c = c;
	st->closed = closed;
	st->arg = arg;
	evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n");
	c->stream = st;
	c->streamed = 1;
	c->phase = PH_SSE;
	c->resp_started = 1;
	http_msg_reset(&c->req);
	/* No idle timeout: only a client that stops taking bytes times out. */
	bufferevent_set_timeouts(c->bev, NULL, &wr);
	bufferevent_enable(c->bev, EV_READ);
	st->beat = event_new(gate->base, -1, EV_PERSIST, conn_stream_beat, st);
	if (st->beat == NULL)
		fatalx("event_new failed");
	event_add(st->beat, &beat);
	return (st);
}

/*
 * Queues @len bytes of events: 0, or -1 when the client does not read
 * them (the stream is dropped and @st freed; its closed callback is not
 * called: the caller learns it here).
 */
int
conn_stream_send(struct conn_stream *st, const char *text, size_t len)
{
	struct conn	*c = st->c;
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	if (evbuffer_get_length(out) + len > conn_limit()) {
		log_info("%s: event stream: the client does not read; dropped",
		    c->peer);
		conn_stream_detach(c);
		free(st);
		conn_free_later(c);
		return (-1);
	}
	evbuffer_add(out, text, len);
	return (0);
}

/* Ends the stream once what was sent is out; @st is freed. */
void
conn_stream_end(struct conn_stream *st)
{
	struct conn	*c = st->c;

	conn_stream_detach(c);
	free(st);
	conn_close(c);
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
	user = c->local_user;	/* transferred: settled before the body */
	c->local_user = NULL;
	ar.method = http_method_str(c->rp.method);
	ar.path = path;
	ar.query = q;
	ar.head = &c->req;
	ar.body = c->local_body;
	ar.user = user;
	ar.admin_socket = c->admin;
	ar.host = http_msg_get(&c->req, "host");
	ar.tls = c->tls;
	ar.actor = c->admin ? c->peer : user != NULL ? user : "anonymous";
	ar.peer = c->peer;
	ar.conn = c;
	if (conn_hub != NULL)
		conn_hub(&ar, &rs);
	else {
		rs.code = 404;
		rs.body = http_page(404, "Not Found", "Nothing is served here.");
	}
	if (c->streamed) {
		/* Answered with an event stream (maybe already ended). */
		free(rs.headers);
		if (rs.body != NULL)
			evbuffer_free(rs.body);
		free(path);
		free(user);
		return;
	}
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

		if (http_hop_header(&c->resp, h->name) || http_resp_withheld(h))
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
	peer_put(w->peerc);
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
	w->peerc = c->peerc;	/* transferred: the socket still counts */
	c->peerc = NULL;
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

/* 1 while a request head (or a /hub/ request's body) is on its way in. */
static int
conn_in_head(struct conn *c)
{
	return ((c->phase == PH_HEAD && c->in_head) ||
	    (c->phase == PH_LOCAL && !c->req_done));
}

/*
 * A request head, and a /hub/ request's body, must be in within
 * proxy.header_timeout of its first byte however the bytes trickle in
 * (slowloris): the read timeout is what is left of that, not an idle timer.
 */
static void
conn_head_deadline(struct conn *c)
{
	time_t	left = c->head_start + gate->cfg->proxy_header_timeout - time(NULL);

	if (c->closing || !conn_in_head(c))
		return;
	if (left <= 0) {
		gate->stats.deadline_drops++;
		log_info("%s: request head not in after %d s: refused", c->peer,
		    gate->cfg->proxy_header_timeout);
		conn_fail(c, 408, "Request timeout", "The request took too long to arrive.");
		return;
	}
	conn_set_read_timeout(c, (int)left);
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
	conn_head_deadline(c);
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

	if (what == BEV_EVENT_CONNECTED) {
		conn_hs_done(c);	/* TLS handshake done */
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) &&
	    ((c->phase == PH_HEAD && c->req.size > 0) || conn_in_head(c))) {
		if (conn_in_head(c))
			gate->stats.deadline_drops++;
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

	struct peer	*pc = NULL;
	static time_t	 last_warned;

	if (!admin && conn_count >= (unsigned long)gate->cfg->proxy_max_conns) {
		log_warnx("%s: too many connections (%lu), refusing", peer, conn_count);
		close(fd);
		return;
	}
	if (!admin && peer_count(pc = peer_get(peer)) >
	    (unsigned long)gate->cfg->proxy_max_conns_per_addr) {
		gate->stats.addr_refused++;
		if (last_warned != time(NULL)) {	/* at most a line a second */
			last_warned = time(NULL);
			log_warnx("%s: more than %d connections from this address, "
			    "refusing", peer, gate->cfg->proxy_max_conns_per_addr);
		}
		peer_put(pc);
		close(fd);
		return;
	}
	evutil_make_socket_nonblocking(fd);
	c = xcalloc(1, sizeof *c);
	c->peerc = pc;
	c->born = time(NULL);
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
		conn_hs_start(c);
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

/* Sets who answers /hub/ requests (gate.c: web/'s route table). */
void
conn_set_hub(conn_hub_fn fn)
{
	conn_hub = fn;
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
	if (conn_hs_base != NULL)
		event_del(&conn_hs_ev);
	conn_hs_base = NULL;
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
