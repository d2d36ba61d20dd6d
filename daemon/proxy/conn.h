/*
 * conn.h: what conn*.c share about one browser connection, private to them
 * (proxy.h is the room's interface). Include after <http_parser.h>,
 * <openssl/ssl.h> and proxy.h.  An HTTP/2 connection (h2.c) is a conn
 * whose bytes go to its nghttp2 session; each of its streams runs through
 * an inner conn of its own (h2-stream.c), fed HTTP/1.1 over a bufferevent
 * pair, so every request, whatever the protocol, meets the same code.
 */
#ifndef NB_PROXY_CONN_H
#define NB_PROXY_CONN_H

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

/*
 * Large body pieces go through without being copied: a parser runs over
 * the first chain of its input (@base), and its body callback moves the
 * body's bytes on to the output (evbuffer_remove_buffer moves whole chains
 * and copies only one it cuts), dropping the framing read before them.
 * @taken: bytes of that chain already out of @in.  Pieces below
 * CONN_FEED_MOVE are copied: a moved chain is a separate TLS record on
 * the browser's side, and a small response would leave in two (measured:
 * +9 us of CPU per 100-byte response) to save a copy of a few bytes.
 */
#define CONN_FEED_MOVE		16384
struct conn_feed {
	struct evbuffer		*in;
	const char		*base;
	size_t			 taken;
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
	struct conn_feed	 rfeed;		/* its input while it runs */
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
	struct conn_feed	 sfeed;		/* its input while it runs */
	struct http_msg		 resp;
	int			 resp_started;	/* head sent to the browser */
	int			 resp_chunked;
	int			 resp_close;	/* close-delimited, or must close after */
	int			 resp_done;
	int			 up_reusable;	/* between two complete exchanges */
	struct route		*up_r;		/* the route object up is through: a reference */
	unsigned long		 up_gen;	/* its tunnel generation then */
	int			 up_retry;	/* from the pool, bodyless: may reopen once */
	int			 up_eof;	/* it closed; what it sent before is still queued */

	struct conn_stream	*stream;	/* an event stream a handler writes */
	int			 streamed;	/* the request was answered with one */
	struct conn_defer	*defer;		/* PH_DEFER: owned by the handler */
	struct h2		*h2;		/* an HTTP/2 connection: its session */
	struct h2_stream	*h2s;		/* an inner conn: the stream it serves */
	int			 inner;		/* an h2 stream's: no socket, not counted */
	TAILQ_ENTRY(conn)	 entry;
};

/* The ceiling of every buffer of a connection (proxy.buffer_size). */
static inline size_t
conn_limit(void)
{
	return (gate->cfg->proxy_buffer);
}

/* A parser is about to run over @base, the first chain of @in. */
static inline void
conn_feed_start(struct conn_feed *f, struct evbuffer *in, const char *base)
{
	f->in = in;
	f->base = base;
	f->taken = 0;
}

/* Moves the @len body bytes at @at (in the chain being parsed) to @out. */
static inline void
conn_feed_move(struct conn_feed *f, const char *at, size_t len, struct evbuffer *out)
{
	size_t	off;

	if (f->in == NULL || len < CONN_FEED_MOVE) {	/* dropped at conn_feed_end */
		evbuffer_add(out, at, len);
		return;
	}
	off = (size_t)(at - f->base);
	if (off > f->taken)
		evbuffer_drain(f->in, off - f->taken);
	evbuffer_remove_buffer(f->in, out, len);
	f->taken = off + len;
}

/* The parser consumed @n bytes of the chain: drops those not moved. */
static inline void
conn_feed_end(struct conn_feed *f, size_t n)
{
	if (n > f->taken)
		evbuffer_drain(f->in, n - f->taken);
	f->in = NULL;
}

static inline void
conn_set_read_timeout(struct conn *c, int secs)
{
	struct timeval	tv = { secs, 0 };

	bufferevent_set_timeouts(c->bev, &tv, NULL);
}

/* Notes traffic on @route, at most once a second per connection (idle culling). */
static inline void
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

static inline void
conn_touch(struct conn *c)
{
	conn_touch_route(c->route, &c->touched);
}

/* conn.c: accept, TLS handshake deadlines, replies, close and free */
void		 conn_reply(struct conn *, int, const char *, const char *,
		    struct evbuffer *, int);
void		 conn_fail(struct conn *, int, const char *, const char *);
void		 conn_fail_json(struct conn *, int, const char *);
void		 conn_close(struct conn *);
void		 conn_free_later(struct conn *);
void		 conn_counted(int);
struct conn	*conn_inner_new(struct conn *, struct bufferevent *, struct h2_stream *);

/* conn-request.c: request heads, who is asking, where a request goes */
void		 conn_parse(struct conn *);
void		 conn_up_connect(struct conn *);

/* conn-up.c: the stream to the notebook, responses, WebSocket splices */
void		 conn_up_ready(struct bufferevent *, const char *, void *);
void		 conn_send_head(struct conn *);
void		 conn_parse_up(struct conn *);
void		 conn_up_drop(struct conn *);
void		 conn_up_release(struct conn *);
void		 conn_ws_close_all(void);

/* conn-hub.c: /hub/ requests: the handler, deferred answers, event streams */
void		 conn_local(struct conn *);
void		 conn_stream_gone(struct conn *);

/* h2.c: HTTP/2 on a TLS connection (ALPN "h2") */
struct h2;
struct h2_stream;
TAILQ_HEAD(h2_streams, h2_stream);
int		 h2_alpn(SSL *);
void		 h2_start(struct conn *);
void		 h2_free(struct h2 *);
void		 h2_flush(struct h2 *);
struct conn	*h2_conn(struct h2 *);
struct nghttp2_session *h2_session(struct h2 *);
void		 h2_heads(struct h2 *, int);

/* h2-stream.c: one h2 stream, carried through an inner conn as HTTP/1.1 */
struct h2_stream *h2_stream_new(struct h2 *, int32_t, struct h2_streams *);
int		 h2_stream_header(struct h2_stream *, const uint8_t *, size_t,
		    const uint8_t *, size_t);
void		 h2_stream_head_done(struct h2_stream *, int);
void		 h2_stream_body(struct h2_stream *, const uint8_t *, size_t);
void		 h2_stream_body_end(struct h2_stream *);
void		 h2_stream_free(struct h2_stream *);
void		 h2_stream_conn_gone(struct h2_stream *);
int		 h2_stream_pump_all(struct h2_streams *);

#endif /* NB_PROXY_CONN_H */
