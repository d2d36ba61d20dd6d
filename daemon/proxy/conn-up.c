/*
 * conn-up.c: a request on its way to the notebook and the response on its
 * way back: the stream through the tunnel, the heads both ways, the response
 * parser, back-pressure, and WebSocket upgrades spliced onto the tunnel.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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
#include "daemon/proxy/conn.h"

#define CONN_WRITE_MAX		16384	/* one direct write: what libevent retries a blocked one with */

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


static void	conn_parse_up_cb(struct bufferevent *, void *);
static void	conn_up_write(struct bufferevent *, void *);
static void	conn_up_event(struct bufferevent *, short, void *);
static void	conn_up_eof(struct conn *);

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
	if (c->fd != -1 && evbuffer_get_length(out) == 0 &&
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

/* Drops the stream to the notebook. */
void
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
	c->up_reusable = c->up_retry = c->up_eof = 0;
	route_unref(c->up_r);
	c->up_r = NULL;
}

/*
 * Gives the stream to the pool of the route it goes through, if it is
 * between two complete exchanges (the whole request sent and the whole
 * response read: up_reusable) and that route still has the tunnel it was
 * opened through; otherwise leaves it (conn_up_drop() closes it).
 */
void
conn_up_release(struct conn *c)
{
	struct bufferevent	*bev = c->up;

	if (bev == NULL || !c->up_reusable || c->up_r == NULL || route_dead(c->up_r) ||
	    evbuffer_get_length(bufferevent_get_input(bev)) != 0 ||
	    route_tunnel(c->up_r) == NULL || c->up_gen != route_tunnel_gen(c->up_r))
		return;
	c->up = NULL;
	c->up_reusable = 0;
	upool_put(route_upool(c->up_r), bev);	/* transferred */
}

/* The stream to the notebook opened (or was refused): send the head. */
void
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
/*
 * The request target the app sees: as the browser sent it, or, for an app
 * that serves from / (apps.NAME.strip_prefix), without /user/<route>.
 */
static void
conn_up_target(struct evbuffer *out, struct route *r, const char *url)
{
	size_t	n = 6 + strlen(route_name(r));

	if (!route_strip(r) || strncmp(url, "/user/", 6) != 0 ||
	    strncmp(url + 6, route_name(r), n - 6) != 0) {
		conn_add_str(out, url);
		return;
	}
	if (url[n] != '/')
		evbuffer_add(out, "/", 1);
	conn_add_str(out, url + n);
}

void
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
	if (c->up_r != NULL && c->up_r != r) {
		/* the stream is the old job's (continued in a new one): not its token */
		conn_fail(c, 502, "The notebook moved to a new job",
		    "Your server continued in a new job while this request was on "
		    "its way; send it again.");
		return;
	}
	/*
	 * The head is put together apart and handed to the stream at once:
	 * every write into a bufferevent pair moves bytes to its partner and
	 * schedules its callbacks (some thirty times for one head).
	 */
	conn_add_str(out, http_method_str(c->rp.method));
	evbuffer_add(out, " ", 1);
	conn_up_target(out, r, c->req.url);
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
	c->up_reusable = c->up_eof = 0;
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

/* The request and its response are both done: next request, or close. */
static void
conn_cycle_done(struct conn *c)
{
	if (!c->req_keepalive || c->resp_close || !c->req_done) {
		if (!c->resp_close)
			conn_up_release(c);	/* the browser's Connection: close */
		conn_close(c);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_input(c->up)) != 0)
		c->up_reusable = 0;	/* bytes nobody asked for: never before a next answer */
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

/*
 * For an app whose prefix is stripped on the way up, the prefix its
 * Location-like headers get back (http_location_prefix); else NULL.
 */
static char *
conn_up_prefix(struct conn *c)
{
	struct route	*r = route_find(c->route);
	char		*prefix;

	if (r == NULL || !route_strip(r))
		return (NULL);
	xasprintf(&prefix, "/user/%s", route_name(r));
	return (prefix);
}

static int
conn_up_on_headers(http_parser *p)
{
	struct conn	*c = p->data;
	struct evbuffer	*out = conn_wbuf();
	int		 code = p->status_code, upgraded, nobody, keep;
	size_t		 i;
	char		 status[16], *moved, *prefix = conn_up_prefix(c);

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
		if (prefix != NULL && (moved = http_location_prefix(h->name,
		    h->value, prefix)) != NULL) {
			conn_add_header(out, h->name, moved);
			free(moved);
			continue;
		}
		conn_add_header(out, h->name, h->value != NULL ? h->value : "");
	}
	free(prefix);
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
	conn_feed_move(&c->sfeed, at, len, out);
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
	/*
	 * Not after a HEAD: servers that send the body anyway (Python's
	 * http.server with do_HEAD = do_GET) would have it read as the next
	 * request's answer.
	 */
	c->up_reusable = http_should_keep_alive(p) && c->req_done && !c->req_head_method;
	http_parser_pause(p, 1);
	return (0);
}

static const http_parser_settings conn_resp_settings = {
	.on_message_begin = conn_up_on_begin,
	.on_status = conn_up_on_status,
	.on_header_field = conn_up_on_field,
	.on_header_value = conn_up_on_value,
	.on_headers_complete = conn_up_on_headers,
	.on_body = conn_up_on_body,
	.on_message_complete = conn_up_on_complete,
};

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

	if (c->up == NULL || c->closing || c->bev == NULL || c->fd == -1)
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
void
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
		conn_feed_start(&c->sfeed, in, v.iov_base);
		n = http_parser_execute(&c->sp, &conn_resp_settings, v.iov_base, v.iov_len);
		conn_feed_end(&c->sfeed, n);
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
	if (c->up_eof && c->up != NULL && !c->closing &&
	    (evbuffer_get_length(in) == 0 || c->resp_done)) {
		conn_up_eof(c);
		return;
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
	if (c->up != NULL && !c->resp_done &&
	    evbuffer_get_length(bufferevent_get_input(c->up)) > 0) {
		/* What the notebook sent before it closed goes first, as the browser takes it. */
		c->up_eof = 1;
		return;
	}
	conn_up_eof(c);
}

/* The notebook's side closed and all it sent is read: end what its closing ends. */
static void
conn_up_eof(struct conn *c)
{
	c->up_eof = 0;
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
	if (c->phase == PH_PROXY && c->up_retry && !c->resp_started && c->resp.size == 0) {
		log_debug("%s: route %s: pooled stream closed before an answer, reopening",
		    c->peer, c->route);
		bufferevent_setcb(c->up, NULL, NULL, NULL, NULL);
		tunnel_stream_close(c->up);
		c->up = NULL;
		c->up_retry = 0;
		conn_up_connect(c);
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

/* Ends every spliced WebSocket now (shutdown). */
void
conn_ws_close_all(void)
{
	struct wsconn	*w;

	while ((w = TAILQ_FIRST(&ws_list)) != NULL) {
		tunnel_splice_close(w->st);
		conn_ws_free(w);
	}
}

