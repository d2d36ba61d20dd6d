/*
 * h2.c: HTTP/2 on a browser's TLS connection (ALPN "h2"): one nghttp2
 * session on the loop, its frames in and out with back-pressure, and the
 * limits only HTTP/2 has: concurrent streams, the header list, resets.
 * h2-stream.c carries each stream's request through the HTTP/1.1 code.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/ssl.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>

#include "daemon/proxy/proxy.h"
#include "daemon/proxy/conn.h"

#define H2_STREAM_WINDOW	(256 * 1024)	/* what a client may upload unread, per stream */
#define H2_CONN_WINDOW		(1024 * 1024)	/* ... and on the whole connection */
#define H2_RESET_PERIOD		10		/* s over which resets are counted */
#define H2_RECV_SLICE		16384		/* bytes fed to nghttp2 at once */

struct h2 {
	struct conn		*c;		/* the TLS connection: owns us */
	nghttp2_session		*s;
	struct h2_streams	 streams;	/* every stream with a request */
	int			 flushing;	/* in h2_flush(): no re-entry */
	int			 again;		/* h2_flush() asked for while in it */
	int			 ending;	/* GOAWAY queued: close once it is out */
	int			 heads;		/* streams whose head is on its way */
	time_t			 heads_since;	/* since when one is */
	unsigned		 resets;	/* RST_STREAMs either way this period */
	time_t			 reset_start;
};

static void	h2_read_cb(struct bufferevent *, void *);
static void	h2_write_cb(struct bufferevent *, void *);
static void	h2_event_cb(struct bufferevent *, short, void *);

/* 1 if the TLS handshake on @ssl settled on HTTP/2. */
int
h2_alpn(SSL *ssl)
{
	const unsigned char	*p;
	unsigned int		 len;

	SSL_get0_alpn_selected(ssl, &p, &len);
	return (len == 2 && memcmp(p, "h2", 2) == 0);
}

/* The TLS connection under @h. */
struct conn *
h2_conn(struct h2 *h)
{
	return (h->c);
}

/* The nghttp2 session of @h. */
struct nghttp2_session *
h2_session(struct h2 *h)
{
	return (h->s);
}

/*
 * The read deadline: a request head (HEADERS and its CONTINUATIONs) must
 * be in within proxy.header_timeout of its first frame however the bytes
 * trickle in, and an idle connection goes after as long; while requests
 * are under way their own conns keep the time (as HTTP/1.1 does).
 */
static void
h2_timeouts(struct h2 *h)
{
	struct timeval	 rd = { gate->cfg->proxy_header_timeout, 0 };
	struct timeval	 wr = { gate->cfg->proxy_idle_timeout, 0 };
	time_t		 left;

	if (h->c->closing)
		return;
	if (h->heads > 0) {
		left = h->heads_since + gate->cfg->proxy_header_timeout - time(NULL);
		rd.tv_sec = left > 0 ? left : 1;
	}
	bufferevent_set_timeouts(h->c->bev,
	    h->heads > 0 || TAILQ_EMPTY(&h->streams) ? &rd : NULL, &wr);
}

/* A stream's head began (+1) or ended (-1, complete or not). */
void
h2_heads(struct h2 *h, int delta)
{
	if (h->heads == 0 && delta > 0)
		h->heads_since = time(NULL);
	h->heads += delta;
	h2_timeouts(h);
}

/* Ends the connection with GOAWAY @code once what is queued is out. */
static void
h2_end(struct h2 *h, uint32_t code)
{
	if (h->ending)
		return;
	h->ending = 1;
	if (code == NGHTTP2_ENHANCE_YOUR_CALM)
		gate->stats.h2_abuse++;
	nghttp2_session_terminate_session(h->s, code);
}

/*
 * Counts a stream reset, the client's or ours (a client can make us reset
 * streams with bad frames as cheaply as it resets its own): more than
 * proxy.http2_max_resets in H2_RESET_PERIOD seconds and the connection
 * goes with GOAWAY ENHANCE_YOUR_CALM (CVE-2023-44487, "rapid reset": each
 * reset stream costs the server a request's work, and the stream limit
 * does not count it).
 */
static void
h2_reset_note(struct h2 *h)
{
	time_t	now = time(NULL);

	if (now - h->reset_start >= H2_RESET_PERIOD) {
		h->reset_start = now;
		h->resets = 0;
	}
	if (++h->resets <= (unsigned)gate->cfg->proxy_h2_resets || h->ending)
		return;
	gate->stats.refused++;
	log_warnx("%s: HTTP/2: more than %d stream resets in %d s: connection "
	    "closed (rapid reset)", h->c->peer, gate->cfg->proxy_h2_resets,
	    H2_RESET_PERIOD);
	h2_end(h, NGHTTP2_ENHANCE_YOUR_CALM);
}

static int
h2_on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct h2		*h = arg;
	struct h2_stream	*st;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST ||
	    h->ending)
		return (0);
	st = h2_stream_new(h, f->hd.stream_id, &h->streams);
	nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
	return (0);
}

static int
h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
    size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *arg)
{
	struct h2_stream	*st;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return (0);	/* trailers: not passed on */
	if ((st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id)) == NULL)
		return (0);
	return (h2_stream_header(st, name, namelen, value, valuelen));
}

/*
 * A header field nghttp2 finds malformed (a connection-specific field, a
 * bad character): the stream is reset, never passed on with it dropped.
 */
static int
h2_on_invalid_header(nghttp2_session *s, const nghttp2_frame *f,
    const uint8_t *name, size_t namelen, const uint8_t *value, size_t valuelen,
    uint8_t flags, void *arg)
{
	struct h2	*h = arg;

	gate->stats.bad_requests++;
	log_info("%s: HTTP/2 stream %d: malformed header field refused", h->c->peer,
	    f->hd.stream_id);
	return (NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE);
}

static int
h2_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct h2		*h = arg;
	struct h2_stream	*st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	int			 end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if (st == NULL)
			break;
		if (f->headers.cat == NGHTTP2_HCAT_REQUEST)
			h2_stream_head_done(st, end);
		else if (end)
			h2_stream_body_end(st);	/* after trailers */
		break;
	case NGHTTP2_DATA:
		if (st != NULL && end)
			h2_stream_body_end(st);
		break;
	case NGHTTP2_RST_STREAM:
		h2_reset_note(h);
		break;
	}
	return (0);
}

static int
h2_on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	if (f->hd.type == NGHTTP2_RST_STREAM)
		h2_reset_note(arg);
	return (0);
}

static int
h2_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
    size_t len, void *arg)
{
	struct h2_stream	*st = nghttp2_session_get_stream_user_data(s, id);

	if (st == NULL) {
		nghttp2_session_consume(s, id, len);	/* nobody takes it */
		return (0);
	}
	h2_stream_body(st, data, len);
	return (0);
}

static int
h2_on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	struct h2_stream	*st = nghttp2_session_get_stream_user_data(s, id);

	if (st != NULL) {
		nghttp2_session_set_stream_user_data(s, id, NULL);
		h2_stream_free(st);
		h2_timeouts(arg);
	}
	return (0);
}

static nghttp2_session_callbacks *
h2_callbacks(void)
{
	static nghttp2_session_callbacks	*cb;

	if (cb != NULL)
		return (cb);
	if (nghttp2_session_callbacks_new(&cb) != 0)
		fatalx("out of memory");
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
	nghttp2_session_callbacks_set_on_invalid_header_callback(cb, h2_on_invalid_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, h2_on_frame_send);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_stream_close);
	return (cb);
}

/* Closes the connection once what is queued is out (h2_free from conn_free). */
static void
h2_close(struct h2 *h)
{
	conn_close(h->c);
}

/*
 * Moves frames nghttp2 has ready to the browser while its buffer has room
 * (the write callback comes back for more), then lets streams whose
 * response bytes waited for window read on; closes when both sides are done.
 */
void
h2_flush(struct h2 *h)
{
	struct evbuffer	*out;
	const uint8_t	*p;
	ssize_t		 n;

	if (h->flushing) {
		h->again = 1;
		return;
	}
	if (h->c->closing)
		return;
	out = bufferevent_get_output(h->c->bev);
	h->flushing = 1;
	do {
		h->again = 0;
		n = 0;
		while (evbuffer_get_length(out) < conn_limit() &&
		    (n = nghttp2_session_mem_send(h->s, &p)) > 0)
			evbuffer_add(out, p, (size_t)n);
		if (n < 0) {
			log_info("%s: HTTP/2: %s", h->c->peer, nghttp2_strerror((int)n));
			h->flushing = 0;
			conn_free_later(h->c);
			return;
		}
		if (h2_stream_pump_all(&h->streams))
			h->again = 1;
	} while (h->again && evbuffer_get_length(out) < conn_limit());
	h->flushing = 0;
	if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s))
		h2_close(h);
}

static void
h2_read_cb(struct bufferevent *bev, void *arg)
{
	struct h2		*h = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v;
	ssize_t			 n;
	size_t			 len;

	while (!h->ending && !h->c->closing && evbuffer_get_length(in) > 0) {
		/* The browser does not take our frames: stop reading its own. */
		if (evbuffer_get_length(bufferevent_get_output(bev)) >= conn_limit()) {
			bufferevent_disable(bev, EV_READ);
			break;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		len = v.iov_len < H2_RECV_SLICE ? v.iov_len : H2_RECV_SLICE;
		n = nghttp2_session_mem_recv(h->s, v.iov_base, len);
		if (n < 0) {
			gate->stats.bad_requests++;
			log_info("%s: HTTP/2: %s", h->c->peer, nghttp2_strerror((int)n));
			/* FLOODED: nghttp2's own limits; CALLBACK_FAILURE: a head's (h2-stream.c). */
			h2_end(h, n == NGHTTP2_ERR_FLOODED || n == NGHTTP2_ERR_CALLBACK_FAILURE ?
			    NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
			break;
		}
		evbuffer_drain(in, (size_t)n);
	}
	if (h->ending)
		evbuffer_drain(in, evbuffer_get_length(in));
	h2_flush(h);
}

/* The browser took our frames: more of them, and read its own again. */
static void
h2_write_cb(struct bufferevent *bev, void *arg)
{
	struct h2	*h = arg;

	h2_flush(h);
	if (!h->c->closing && !h->ending) {
		bufferevent_enable(bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
			h2_read_cb(bev, h);
	}
}

static void
h2_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct h2	*h = arg;

	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && !h->ending) {
		if (h->heads > 0) {
			gate->stats.deadline_drops++;
			log_info("%s: HTTP/2: request head not in after %d s: closed",
			    h->c->peer, gate->cfg->proxy_header_timeout);
		}
		h2_end(h, NGHTTP2_NO_ERROR);
		bufferevent_disable(bev, EV_READ);
		h2_flush(h);
		return;
	}
	conn_free_later(h->c);	/* EOF, an error, or a browser that does not read */
}

/* Speaks HTTP/2 on @c from now on: the session, our SETTINGS, the callbacks. */
void
h2_start(struct conn *c)
{
	struct h2		*h = xcalloc(1, sizeof *h);
	nghttp2_option		*opt;
	nghttp2_settings_entry	 set[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, gate->cfg->proxy_h2_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, gate->cfg->proxy_max_header },
		/* No SETTINGS_ENABLE_CONNECT_PROTOCOL: WebSockets open over HTTP/1.1. */
	};

	h->c = c;
	c->h2 = h;
	TAILQ_INIT(&h->streams);
	gate->stats.h2_conns++;
	if (nghttp2_option_new(&opt) != 0)
		fatalx("out of memory");
	/* Window goes back only as a stream's conn takes the bytes (h2-stream.c). */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
	if (nghttp2_session_server_new2(&h->s, h2_callbacks(), h, opt) != 0)
		fatalx("out of memory");
	nghttp2_option_del(opt);
	if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, set, nitems(set)) != 0 ||
	    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0,
	    H2_CONN_WINDOW) != 0)
		fatalx("cannot set up an HTTP/2 session");
	log_debug("%s: HTTP/2", c->peer);
	bufferevent_setcb(c->bev, h2_read_cb, h2_write_cb, h2_event_cb, h);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	h2_timeouts(h);
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		h2_read_cb(c->bev, h);
	else
		h2_flush(h);
}

/* Frees @h and its streams (their conns go from the loop); from conn_free(). */
void
h2_free(struct h2 *h)
{
	struct h2_stream	*st;

	h->c->h2 = NULL;
	while ((st = TAILQ_FIRST(&h->streams)) != NULL)
		h2_stream_free(st);
	nghttp2_session_del(h->s);
	free(h);
}
