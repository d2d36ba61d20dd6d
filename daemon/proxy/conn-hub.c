/*
 * conn-hub.c: what nbgated answers itself under /hub/: the request handed to
 * the handler web/ registered (conn_set_hub), deferred answers (conn_defer)
 * and event streams (conn_stream).
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

#define CONN_SSE_BEAT		15	/* s between keepalive comments of a progress stream */

static conn_hub_fn conn_hub;	/* answers /hub/ (web/), set at start */

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
void
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
void
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
	/* An event stream (c->streamed, maybe already ended) has answered already. */
	if (!c->streamed && c->defer != NULL) {
		/* The parser stays paused; only EOF or an error matters now. */
		c->phase = PH_DEFER;
		bufferevent_set_timeouts(c->bev, NULL, NULL);
	} else if (!c->streamed) {
		c->phase = PH_HEAD;
		conn_reply(c, rs.code, rs.ctype, rs.headers, rs.body, keepalive);
		rs.body = NULL;	/* transferred */
		if (keepalive && !c->closing) {
			conn_set_read_timeout(c, gate->cfg->proxy_header_timeout);
			http_parser_pause(&c->rp, 0);
		}
	}
	free(rs.headers);
	if (rs.body != NULL)
		evbuffer_free(rs.body);
	free(path);
	free(user);
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

/* Sets who answers /hub/ requests (gate.c: web/'s route table). */
void
conn_set_hub(conn_hub_fn fn)
{
	conn_hub = fn;
}
