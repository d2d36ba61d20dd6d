/*
 * upool.c: a route's idle streams to its notebook (an SSH channel and the
 * agent's connection to the notebook server), kept after the browser
 * connection that used them ends, for the next one on the same route.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "daemon/proxy/proxy.h"

/*
 * Invariants: a stream enters only between two complete exchanges (the
 * whole request sent, the whole response read, nothing more read), so it
 * carries nothing of its last response; while it waits, any byte or EOF
 * from the notebook's side drops it; it never leaves its pool, and a pool
 * belongs to one route object (a route re-added under the same name gets a
 * new, empty one).
 */
struct upool_ent {
	struct bufferevent	*bev;
	struct upool		*pool;
	TAILQ_ENTRY(upool_ent)	 entry;
};

struct upool {
	TAILQ_HEAD(upool_head, upool_ent) idle;		/* most recently used first */
	int			 n;
};

/* A new, empty pool; upool_free() closes what it holds. */
struct upool *
upool_new(void)
{
	struct upool	*p = xcalloc(1, sizeof *p);

	TAILQ_INIT(&p->idle);
	return (p);
}

/* Takes @e out of its pool and returns its stream, callbacks off. */
static struct bufferevent *
upool_unlink(struct upool_ent *e)
{
	struct bufferevent	*bev = e->bev;

	TAILQ_REMOVE(&e->pool->idle, e, entry);
	e->pool->n--;
	free(e);
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(bev, EV_READ);
	bufferevent_set_timeouts(bev, NULL, NULL);
	return (bev);
}

static void
upool_drop(struct upool_ent *e)
{
	tunnel_stream_close(upool_unlink(e));
}

/* Bytes from the notebook while no request is out: not a clean stream. */
static void
upool_read_cb(struct bufferevent *bev, void *arg)
{
	upool_drop(arg);
}

/* The notebook or the agent closed it, or it sat idle too long. */
static void
upool_event_cb(struct bufferevent *bev, short what, void *arg)
{
	upool_drop(arg);
}

/*
 * Keeps @bev (a tunnel stream between exchanges: caller checked) for the
 * pool's next taker, or closes it if pooling is off; the oldest goes when
 * the pool is full.  Takes @bev.
 */
void
upool_put(struct upool *p, struct bufferevent *bev)
{
	struct upool_ent	*e;
	struct timeval		 tv = { gate->cfg->proxy_upstream_idle, 0 };

	if (p == NULL || gate->cfg->proxy_upstream_pool <= 0 ||
	    evbuffer_get_length(bufferevent_get_input(bev)) != 0) {
		tunnel_stream_close(bev);
		return;
	}
	while (p->n >= gate->cfg->proxy_upstream_pool)
		upool_drop(TAILQ_LAST(&p->idle, upool_head));
	e = xcalloc(1, sizeof *e);
	e->bev = bev;
	e->pool = p;
	TAILQ_INSERT_HEAD(&p->idle, e, entry);
	p->n++;
	bufferevent_setcb(bev, upool_read_cb, NULL, upool_event_cb, e);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_enable(bev, EV_READ);
}

/* The most recently used idle stream (caller's now), or NULL. */
struct bufferevent *
upool_take(struct upool *p)
{
	struct upool_ent	*e;
	struct bufferevent	*bev;

	while (p != NULL && (e = TAILQ_FIRST(&p->idle)) != NULL) {
		bev = upool_unlink(e);
		if (evbuffer_get_length(bufferevent_get_input(bev)) == 0)
			return (bev);
		tunnel_stream_close(bev);	/* bytes not yet seen by upool_read_cb */
	}
	return (NULL);
}

/* Closes every idle stream (the route's tunnel changed). */
void
upool_flush(struct upool *p)
{
	while (p != NULL && !TAILQ_EMPTY(&p->idle))
		upool_drop(TAILQ_FIRST(&p->idle));
}

/* Closes what @p holds and frees it; NULL is fine. */
void
upool_free(struct upool *p)
{
	upool_flush(p);
	free(p);
}

/* Idle streams @p holds now. */
int
upool_count(const struct upool *p)
{
	return (p != NULL ? p->n : 0);
}
