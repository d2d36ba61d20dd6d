/*
 * tunnel.c: one granted forward on one agent connection: opens a
 * forwarded-tcpip channel per tunnel_connect(), pumps it to a bufferevent
 * pair, and fails or cuts every request and stream when the agent goes.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include "common/common.h"
#include "tunnel/relay.h"
#include "tunnel/tunnel.h"

#define TUNNEL_ERR_REFUSED	"the notebook refused the connection"
#define TUNNEL_ERR_CLOSED	"the notebook's tunnel closed"

struct tunnel_req {
	struct tunnel		*t;
	TAILQ_ENTRY(tunnel_req)	 entry;
	ssh_channel		 ch;		/* NULL until the open is sent */
	char			*origin;
	int			 oport;
	tunnel_connect_cb	 cb;
	void			*arg;
	int			 cancelled;
};

struct tunnel_stream {
	struct tunnel		*t;
	TAILQ_ENTRY(tunnel_stream) entry;
	struct pump		*pump;		/* a bufferevent pair's far end */
	struct relay		*relay;		/* or, spliced onto the browser's socket */
	tunnel_gone_cb		 gone;		/* spliced: the owner's hooks */
	tunnel_traffic_cb	 traffic;
	void			*arg;
};

struct tunnel {
	struct event_base	*base;
	struct sshd_conn	*conn;
	ssh_session		 s;
	struct sshio		*io;
	char			*fwd_addr;	/* as the agent sent it (pitfall 1) */
	int			 fwd_port;
	char			*peer;
	size_t			 bufsize;
	int			 dead;
	unsigned int		 nstreams;
	struct event		*kick;		/* run the service pass from the loop */
	TAILQ_HEAD(, tunnel_req) reqs;
	TAILQ_HEAD(, tunnel_stream) streams;
};

static void
tunnel_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tunnel	*t = arg;

	if (t->dead)
		return;
	tunnel_service(t);
	sshio_update(t->io);
}

/* Internal (sshd.c): the forward at @addr:@port was granted on @s. */
struct tunnel *
tunnel_new(struct event_base *base, struct sshd_conn *conn, ssh_session s,
    struct sshio *io, const char *addr, int port, const char *peer,
    size_t bufsize)
{
	struct tunnel	*t = xcalloc(1, sizeof *t);

	t->base = base;
	t->conn = conn;
	t->s = s;
	t->io = io;
	t->fwd_addr = xstrdup(addr);
	t->fwd_port = port;
	t->peer = xstrdup(peer);
	t->bufsize = bufsize > 0 ? bufsize : 256 * 1024;
	TAILQ_INIT(&t->reqs);
	TAILQ_INIT(&t->streams);
	if ((t->kick = event_new(base, -1, 0, tunnel_kick_cb, t)) == NULL)
		fatalx("event_new failed");
	return (t);
}

static void
tunnel_stream_done(struct pump *p, const char *why, void *arg)
{
	struct tunnel_stream	*st = arg;
	struct tunnel		*t = st->t;

	tunnel_gone_cb		 gone = st->gone;
	void			*garg = st->arg;

	if (why != NULL)
		log_debug("ssh: %s: stream ended: %s", t->peer, why);
	TAILQ_REMOVE(&t->streams, st, entry);
	t->nstreams--;
	pump_free(st->pump);
	free(st);
	if (gone != NULL)
		gone(garg);
}

static void
tunnel_req_free(struct tunnel_req *r)
{
	TAILQ_REMOVE(&r->t->reqs, r, entry);
	free(r->origin);
	free(r);
}

/* The channel is open: pair it with a bufferevent pair and hand one end over. */
static void
tunnel_req_opened(struct tunnel *t, struct tunnel_req *r)
{
	struct bufferevent	*pair[2];
	struct tunnel_stream	*st;
	tunnel_connect_cb	 cb = r->cb;
	void			*arg = r->arg;

	if (r->cancelled) {
		ssh_channel_close(r->ch);
		ssh_channel_free(r->ch);
		tunnel_req_free(r);
		return;
	}
	if (bufferevent_pair_new(t->base,
	    BEV_OPT_DEFER_CALLBACKS | BEV_OPT_CLOSE_ON_FREE, pair) != 0)
		fatalx("bufferevent_pair_new failed");
	/* The caller's end takes at most bufsize before the pair backs up. */
	bufferevent_setwatermark(pair[1], EV_READ, 0, t->bufsize);
	st = xcalloc(1, sizeof *st);
	st->t = t;
	st->pump = pump_new(r->ch, pair[0], t->bufsize, t->io,
	    tunnel_stream_done, st);		/* channel transferred */
	TAILQ_INSERT_TAIL(&t->streams, st, entry);
	t->nstreams++;
	tunnel_req_free(r);
	cb(pair[1], NULL, arg);			/* pair[1] transferred */
}

static void
tunnel_req_failed(struct tunnel_req *r, const char *err)
{
	tunnel_connect_cb	 cb = r->cb;
	void			*arg = r->arg;
	int			 cancelled = r->cancelled;

	if (r->ch != NULL)
		ssh_channel_free(r->ch);	/* open resolved (pitfall 9) */
	tunnel_req_free(r);
	if (!cancelled)
		cb(NULL, err, arg);
}

/* Sends or advances one channel open; returns 1 if @r is resolved (freed). */
static int
tunnel_req_step(struct tunnel *t, struct tunnel_req *r)
{
	int	rc;

	if (r->cancelled && r->ch == NULL) {
		tunnel_req_free(r);
		return (1);
	}
	if (r->ch == NULL && (r->ch = ssh_channel_new(t->s)) == NULL) {
		tunnel_req_failed(r, TUNNEL_ERR_CLOSED);
		return (1);
	}
	rc = ssh_channel_open_reverse_forward(r->ch, t->fwd_addr, t->fwd_port,
	    r->origin, r->oport);
	if (rc == SSH_AGAIN)
		return (0);
	if (rc == SSH_OK)
		tunnel_req_opened(t, r);
	else {
		log_debug("ssh: %s: channel open refused: %s", t->peer,
		    ssh_get_error(t->s));
		tunnel_req_failed(r, TUNNEL_ERR_REFUSED);
	}
	return (1);
}

/* Internal (sshd.c): after every poll: advance opens, retry stream I/O. */
void
tunnel_service(struct tunnel *t)
{
	struct tunnel_req	*r, *rnext;
	struct tunnel_stream	*st;
	int			 resolved, rounds = 0;

	/*
	 * Advancing an open polls the session, which may settle an earlier
	 * request's open: go round again while anything resolved.  Callbacks
	 * may add requests (at the tail) but never free others.
	 */
	if (!TAILQ_EMPTY(&t->reqs))
		sshio_cork(t->io);	/* the opens of one pass leave together */
	do {
		resolved = 0;
		for (r = TAILQ_FIRST(&t->reqs); r != NULL && !t->dead; r = rnext) {
			rnext = TAILQ_NEXT(r, entry);
			resolved |= tunnel_req_step(t, r);
		}
	} while (resolved && !t->dead && ++rounds < 4);
	TAILQ_FOREACH(st, &t->streams, entry) {	/* never frees: done is deferred */
		if (st->relay != NULL)
			relay_service(st->relay);
		else
			pump_service(st->pump);
	}
}

/* Opens a stream to @origin:@oport's notebook; @cb runs once, from the loop. */
struct tunnel_req *
tunnel_connect(struct tunnel *t, const char *origin, int oport,
    tunnel_connect_cb cb, void *arg)
{
	struct tunnel_req	*r = xcalloc(1, sizeof *r);

	r->t = t;
	r->origin = xstrdup(origin != NULL ? origin : "127.0.0.1");
	r->oport = oport;
	r->cb = cb;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&t->reqs, r, entry);
	event_active(t->kick, EV_TIMEOUT, 0);
	return (r);
}

/* The caller lost interest before its callback: it will not be called. */
void
tunnel_req_cancel(struct tunnel_req *r)
{
	r->cancelled = 1;
	event_active(r->t->kick, EV_TIMEOUT, 0);
}

/* Ends the caller's side of a stream cleanly (EOF to the notebook) and frees it. */
void
tunnel_stream_close(struct bufferevent *bev)
{
	if (bev == NULL)
		return;
	bufferevent_flush(bev, EV_WRITE, BEV_FINISHED);
	bufferevent_free(bev);
}

/* A spliced stream's relay is done: the notebook ended, or the browser. */
static void
tunnel_relay_done(struct relay *rl, const char *why, void *arg)
{
	struct tunnel_stream	*st = arg;
	struct tunnel		*t = st->t;
	tunnel_gone_cb		 gone = st->gone;
	void			*garg = st->arg;

	if (why != NULL)
		log_debug("ssh: %s: WebSocket ended: %s", t->peer, why);
	TAILQ_REMOVE(&t->streams, st, entry);
	t->nstreams--;
	relay_free(rl);
	free(st);
	sshio_update(t->io);
	gone(garg);
}

static void
tunnel_relay_traffic(size_t up, size_t down, void *arg)
{
	struct tunnel_stream	*st = arg;

	if (st->traffic != NULL)
		st->traffic(up, down, st->arg);
}

/*
 * Splices stream @up onto the browser's socket (see tunnel.h).  What the
 * pair still holds goes where it was heading, in order: browser bytes in
 * front of @to_channel, notebook bytes behind @to_socket.
 */
struct tunnel_stream *
tunnel_stream_splice(struct bufferevent *up, evutil_socket_t fd, SSL *ssl,
    struct evbuffer *to_channel, struct evbuffer *to_socket, int idle,
    tunnel_gone_cb gone, tunnel_traffic_cb traffic, void *arg)
{
	struct bufferevent	*near;
	struct tunnel_stream	*st;
	struct pump		*p;
	ssh_channel		 ch;
	size_t			 stuck = 0;

	if (up == NULL || (near = bufferevent_pair_get_partner(up)) == NULL ||
	    (p = pump_of(near)) == NULL)
		return (NULL);
	st = pump_arg(p);
	if (st == NULL || st->pump != p || st->t->dead || st->relay != NULL)
		return (NULL);
	if ((ch = pump_release(p, &stuck)) == NULL)
		return (NULL);		/* a side already ended: stay as is */
	evbuffer_prepend_buffer(to_channel, bufferevent_get_output(up));
	evbuffer_prepend_buffer(to_channel, bufferevent_get_input(near));
	evbuffer_add_buffer(to_socket, bufferevent_get_input(up));
	evbuffer_add_buffer(to_socket, bufferevent_get_output(near));
	bufferevent_setcb(up, NULL, NULL, NULL, NULL);
	bufferevent_setcb(near, NULL, NULL, NULL, NULL);
	pump_free(p);			/* frees near, not the channel */
	bufferevent_free(up);
	st->pump = NULL;
	st->gone = gone;
	st->traffic = traffic;
	st->arg = arg;
	st->relay = relay_new(st->t->base, ch, stuck, st->t->io, fd, ssl,
	    to_channel, to_socket, idle, tunnel_relay_done, tunnel_relay_traffic, st);
	return (st);
}

/* The owner is done: what the browser sent goes on, then EOF; @gone will not run. */
void
tunnel_splice_close(struct tunnel_stream *st)
{
	struct tunnel	*t = st->t;

	TAILQ_REMOVE(&t->streams, st, entry);
	t->nstreams--;
	relay_close(st->relay);
	free(st);
	sshio_update(t->io);
}

/* Disconnects the agent; the down hook follows from the loop.  Safe in hooks. */
void
tunnel_kick(struct tunnel *t, const char *why)
{
	sshd_conn_kick(t->conn, why);
}

/* "addr:port" of the agent. */
const char *
tunnel_peer(struct tunnel *t)
{
	return (t->peer);
}

/* Streams currently open. */
unsigned int
tunnel_streams(struct tunnel *t)
{
	return (t->nstreams);
}

/*
 * Internal (sshd.c): the agent is gone: fail pending requests, cut streams
 * (their pair ends see an error).  Channels still opening are left to
 * ssh_free() (pitfall 9).
 */
void
tunnel_abort(struct tunnel *t)
{
	struct tunnel_req	*r;
	struct tunnel_stream	*st;

	t->dead = 1;
	while ((st = TAILQ_FIRST(&t->streams)) != NULL) {
		tunnel_gone_cb	 gone = st->gone;
		void		*garg = st->arg;

		TAILQ_REMOVE(&t->streams, st, entry);
		t->nstreams--;
		if (st->relay != NULL)
			relay_free(st->relay);	/* closes the browser's socket */
		else
			pump_free(st->pump);
		free(st);
		if (gone != NULL)
			gone(garg);	/* may close the owner: st is gone already */
	}
	while ((r = TAILQ_FIRST(&t->reqs)) != NULL) {
		tunnel_connect_cb	 cb = r->cb;
		void			*arg = r->arg;
		int			 cancelled = r->cancelled;

		tunnel_req_free(r);
		if (!cancelled)
			cb(NULL, TUNNEL_ERR_CLOSED, arg);
	}
}

/* Internal (sshd.c): frees the tunnel; tunnel_abort() ran before. */
void
tunnel_free(struct tunnel *t)
{
	if (t == NULL)
		return;
	tunnel_abort(t);
	event_free(t->kick);
	free(t->fwd_addr);
	free(t->peer);
	free(t);
}
