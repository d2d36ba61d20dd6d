/*
 * test-upool.c: a route's pool of idle streams (daemon/proxy/upool.c) on
 * bufferevent pairs: one end is the stream the pool keeps, the other plays
 * the notebook's side and sees the stream closed (EOF).
 */
#include "config.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

struct side {
	struct bufferevent	*far;	/* the notebook's end */
	struct bufferevent	*near;	/* the stream handed to the pool */
	int			 eof;	/* far saw the stream closed */
};

static void
far_event(struct bufferevent *bev, short what, void *arg)
{
	struct side	*s = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		s->eof = 1;
}

static void
side_new(struct side *s)
{
	struct bufferevent	*pair[2];

	memset(s, 0, sizeof *s);
	if (bufferevent_pair_new(gate->base, BEV_OPT_DEFER_CALLBACKS | BEV_OPT_CLOSE_ON_FREE,
	    pair) != 0)
		fatalx("bufferevent_pair_new");
	s->far = pair[0];
	s->near = pair[1];
	bufferevent_setcb(s->far, NULL, NULL, far_event, s);
	bufferevent_enable(s->far, EV_READ);
	bufferevent_enable(s->near, EV_READ);
}

static void
side_free(struct side *s)
{
	if (s->far != NULL)
		bufferevent_free(s->far);
	s->far = NULL;
}

/* Runs the loop until nothing is due (deferred callbacks included). */
static void
spin(void)
{
	int	i;

	for (i = 0; i < 5; i++)
		event_base_loop(gate->base, EVLOOP_NONBLOCK);
}

static void
wait_secs(double secs)
{
	struct timeval	tv = { (time_t)secs, (long)((secs - (long)secs) * 1e6) };

	event_base_loopexit(gate->base, &tv);
	event_base_dispatch(gate->base);
}

int
main(void)
{
	static struct gate	 st;
	struct side		 a, b, c;
	struct upool		*p;
	struct bufferevent	*got;
	char			*cause = NULL;
	const char		*y = "proxy:\n  upstream_pool: 2\n  upstream_idle: 1s\n";

	log_init("test-upool", LOG_WARN);
	gate = &st;
	if ((gate->cfg = config_load_mem("test", y, strlen(y), &cause)) == NULL) {
		tap_diag("config: %s", cause);
		return (1);
	}
	gate->base = event_base_new();
	p = upool_new();

	side_new(&a);
	side_new(&b);
	upool_put(p, a.near);
	upool_put(p, b.near);
	is_int(upool_count(p), 2, "two idle streams kept");
	ok(upool_take(p) == b.near, "the most recently used comes first");
	ok(upool_take(p) == a.near, "then the older one");
	ok(upool_take(p) == NULL, "then none");
	tunnel_stream_close(a.near);
	tunnel_stream_close(b.near);
	spin();
	side_free(&a);
	side_free(&b);

	side_new(&a);
	side_new(&b);
	side_new(&c);
	upool_put(p, a.near);
	upool_put(p, b.near);
	upool_put(p, c.near);
	spin();
	is_int(upool_count(p), 2, "a full pool keeps its size");
	ok(a.eof && !b.eof && !c.eof, "the oldest stream was closed to make room");
	upool_flush(p);
	spin();
	ok(upool_count(p) == 0 && b.eof && c.eof, "flush closes every idle stream");
	side_free(&a);
	side_free(&b);
	side_free(&c);

	side_new(&a);
	upool_put(p, a.near);
	bufferevent_write(a.far, "HTTP/1.1 200 OK\r\n", 17);
	spin();
	ok(upool_count(p) == 0 && a.eof, "bytes from the notebook while idle: the stream is closed");
	side_free(&a);

	side_new(&a);
	upool_put(p, a.near);
	bufferevent_flush(a.far, EV_WRITE, BEV_FINISHED);
	spin();
	is_int(upool_count(p), 0, "the notebook closing an idle stream takes it out");
	side_free(&a);

	side_new(&a);
	upool_put(p, a.near);
	bufferevent_write(a.far, "x", 1);	/* arrives before any callback runs */
	ok(upool_take(p) == NULL, "a stream with unread bytes is never handed out");
	spin();
	ok(a.eof, "and is closed");
	side_free(&a);

	side_new(&a);
	bufferevent_write(a.far, "x", 1);
	spin();
	upool_put(p, a.near);
	spin();
	ok(upool_count(p) == 0 && a.eof, "a stream given back with unread bytes is closed, not kept");
	side_free(&a);

	side_new(&a);
	upool_put(p, a.near);
	wait_secs(1.5);
	ok(upool_count(p) == 0 && a.eof, "an idle stream goes after proxy.upstream_idle");
	side_free(&a);

	gate->cfg->proxy_upstream_pool = 0;
	side_new(&a);
	upool_put(p, a.near);
	spin();
	ok(upool_count(p) == 0 && a.eof, "upstream_pool 0: nothing is kept");
	side_free(&a);

	side_new(&a);
	gate->cfg->proxy_upstream_pool = 2;
	upool_put(p, a.near);
	upool_free(p);
	spin();
	ok(a.eof, "freeing the pool (route removed) closes what it held");
	side_free(&a);
	got = upool_take(NULL);
	ok(got == NULL, "no pool, nothing to take");
	event_base_free(gate->base);
	return (tap_done());
}
