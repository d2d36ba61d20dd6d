/*
 * conn.c: one browser connection (TLS) or admin-socket connection (plain)
 * from accept to free: the caps on connections, the TLS handshake's and the
 * request head's deadlines, the browser's callbacks, replies and closing.
 * conn-request.c reads requests, conn-up.c carries them to the notebook,
 * conn-hub.c answers /hub/.
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
#include "daemon/proxy/conn.h"

#define CONN_RESP_HEAD_MAX	(64 * 1024)
#define CONN_TRIM_CHURN		256	/* accepts + closes that make a burst */
#define CONN_TRIM_QUIET		1	/* s without churn before trimming */
#define CONN_HSTS_AGE		31536000	/* s: a year, what HSTS preload lists ask */

static TAILQ_HEAD(, conn) conn_list = TAILQ_HEAD_INITIALIZER(conn_list);
/* TLS connections still in their handshake, in accept order (one deadline each). */
static TAILQ_HEAD(, conn) conn_hs_list = TAILQ_HEAD_INITIALIZER(conn_hs_list);
static struct event conn_hs_ev;
static struct event_base *conn_hs_base;
static unsigned long conn_count;
static unsigned long conn_churn;	/* accepts + frees since the last trim */
static struct event conn_trim_ev;
static struct event_base *conn_trim_base;

static void	conn_client_read(struct bufferevent *, void *);
static void	conn_client_write(struct bufferevent *, void *);
static void	conn_client_event(struct bufferevent *, short, void *);
static void	conn_setup(struct conn *);

/* Answers with a complete response (a page or JSON) and maybe closes. */
void
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
void
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
void
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
void
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
	if (c->h2 != NULL)
		h2_free(c->h2);
	if (c->h2s != NULL)
		h2_stream_conn_gone(c->h2s);	/* the stream reads what is left */
	if (c->stream != NULL)
		conn_stream_gone(c);
	if (c->defer != NULL)
		c->defer->c = NULL;	/* the handler frees it when it answers */
	if (c->bev != NULL)
		bufferevent_free(c->bev);	/* leaves fd and ssl to us */
	if (c->ssl != NULL) {
		/*
		 * Browsers close without a close_notify: without this SSL_free
		 * would drop the session from the cache.  Fatal TLS errors
		 * dropped theirs already.
		 */
		SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		SSL_free(c->ssl);
	}
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
	if (!c->inner)
		conn_counted(-1);
	free(c);
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
void
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
void
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
		if (c->ssl != NULL && SSL_session_reused(c->ssl))
			gate->stats.tls_resumed++;
		else if (c->ssl != NULL)
			gate->stats.tls_full++;
		if (c->ssl != NULL && h2_alpn(c->ssl))
			h2_start(c);	/* its callbacks from here on */
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
	if (c->phase == PH_HEAD)
		conn_up_release(c);	/* the browser left between requests */
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
	conn_setup(c);
	if (kind == CONN_H2C)
		h2_start(c);
}

/*
 * An HTTP/2 stream's own conn: it reads the stream's request as HTTP/1.1
 * from @bev (its end of a pair, owned from here) and answers into it,
 * exactly as a browser connection's would; @outer is the TLS connection.
 * Not counted as a connection (its stream is, by the session's limits).
 */
struct conn *
conn_inner_new(struct conn *outer, struct bufferevent *bev, struct h2_stream *st)
{
	struct conn	*c = xcalloc(1, sizeof *c);

	c->inner = 1;
	c->h2s = st;
	c->born = time(NULL);
	c->tls = outer->tls;
	c->peer = xstrdup(outer->peer);
	c->peer_port = outer->peer_port;
	c->fd = -1;
	c->bev = bev;
	conn_setup(c);
	return (c);
}

/* What conn_accept() and conn_inner_new() share: parsers, callbacks, the list. */
static void
conn_setup(struct conn *c)
{
	http_msg_init(&c->req, gate->cfg->proxy_max_header);
	http_msg_init(&c->resp, CONN_RESP_HEAD_MAX);
	http_parser_init(&c->rp, HTTP_REQUEST);
	c->rp.data = c;
	if (!c->inner)
		conn_counted(1);
	TAILQ_INSERT_TAIL(&conn_list, c, entry);
	bufferevent_setcb(c->bev, conn_client_read, conn_client_write, conn_client_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, conn_limit() / 2, 0);
	conn_set_read_timeout(c, gate->cfg->proxy_header_timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
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

	while ((c = TAILQ_FIRST(&conn_list)) != NULL)
		conn_free(c);
	conn_ws_close_all();
	if (conn_trim_base != NULL)
		event_del(&conn_trim_ev);
	conn_trim_base = NULL;
	if (conn_hs_base != NULL)
		event_del(&conn_hs_ev);
	conn_hs_base = NULL;
	conn_churn = 0;
}

