/*
 * pump.c: moves bytes both ways between one ssh_channel and one bufferevent
 * (a socket on the agent, a pair end on the gateway) with back-pressure on
 * both sides, EOF in both directions, and one deferred done callback.
 *
 * libssh callbacks only record state; all work happens in pump_service()
 * (after each poll) or in the bufferevent callbacks, both at loop level.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <libssh/libssh.h>
#include <libssh/callbacks.h>

#include "common.h"

#define PUMP_MAX_WRITE	32768	/* one channel packet */
#define PUMP_SLURP	65536	/* one read from a socket */
#define PUMP_BEV_READ	4096	/* what libevent 2.1 reads per callback at most */

struct pump {
	ssh_channel		 ch;
	struct bufferevent	*bev;
	struct sshio		*io;
	size_t			 limit;
	size_t			 stuck;		/* bytes libssh holds for us (pitfall 7) */
	int			 is_pair;
	int			 ch_eof;	/* peer sent EOF or CLOSE */
	int			 ch_closed;	/* peer sent CLOSE */
	int			 bev_eof;	/* nothing more to read from bev */
	int			 eof_sent;	/* we sent channel EOF */
	int			 out_done;	/* bev write side finished */
	int			 shut_pending;	/* socket: shutdown once output drains */
	int			 read_off;	/* reading stopped: input full */
	int			 finished;	/* done scheduled */
	int			 clean;
	char			*why;
	struct event		*doneev;
	pump_done_cb		 done;
	void			*arg;
	struct ssh_channel_callbacks_struct cb;
};

static void	pump_check(struct pump *);
static void	pump_done(evutil_socket_t, short, void *);

static void
pump_finish(struct pump *p, const char *why)
{
	if (p->finished)
		return;
	p->finished = 1;
	p->clean = why == NULL;
	if (why != NULL)
		p->why = xstrdup(why);
	bufferevent_disable(p->bev, EV_READ);
	/* Made only now: thousands of idle streams need none. */
	p->doneev = event_new(bufferevent_get_base(p->bev), -1, 0, pump_done, p);
	if (p->doneev == NULL)
		fatalx("event_new failed");
	event_active(p->doneev, EV_TIMEOUT, 0);
}

static void
pump_done(evutil_socket_t fd, short what, void *arg)
{
	struct pump	*p = arg;

	p->done(p, p->why, p->arg);	/* may free p */
}

/*
 * Hands @n bytes to the bufferevent.  A socket with nothing queued gets them
 * at once: the bufferevent would arm its write event, wait a loop turn for
 * it and disarm it again (two epoll_ctl calls and a wakeup per small
 * response).  What the socket does not take, and any error, is left to the
 * bufferevent as before.
 */
static void
pump_write(struct pump *p, const char *data, size_t n, size_t queued)
{
	evutil_socket_t	fd;
	ssize_t		w;

	if (!p->is_pair && queued == 0 && !p->shut_pending &&
	    (fd = bufferevent_getfd(p->bev)) != -1 &&
	    (bufferevent_get_enabled(p->bev) & EV_WRITE)) {
		w = send(fd, data, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			data += w;
			n -= (size_t)w;
		}
	}
	if (n > 0)
		bufferevent_write(p->bev, data, n);
}

static int
pump_ch_data(ssh_session s, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *arg)
{
	struct pump	*p = arg;
	size_t		 olen, n;

	if (is_stderr || p->finished || p->out_done)
		return ((int)len);	/* nobody to give it to */
	olen = evbuffer_get_length(bufferevent_get_output(p->bev));
	n = olen >= p->limit ? 0 : p->limit - olen;
	if (n > len)
		n = len;
	if (n > 0)
		pump_write(p, data, n, olen);
	p->stuck = len - n;	/* @len is everything libssh holds */
	return ((int)n);
}

static void
pump_ch_eof(ssh_session s, ssh_channel ch, void *arg)
{
	struct pump	*p = arg;

	p->ch_eof = 1;
}

static void
pump_ch_close(ssh_session s, ssh_channel ch, void *arg)
{
	struct pump	*p = arg;

	p->ch_eof = p->ch_closed = 1;
}

/* bufferevent input -> channel, as far as the peer's window allows (pitfall 6). */
static void
pump_to_channel(struct pump *p)
{
	struct evbuffer	*in = bufferevent_get_input(p->bev);
	size_t		 len, n;
	uint32_t	 win;
	int		 rc, wrote = 0;

	if (p->finished)
		return;
	if (p->ch_closed || p->eof_sent) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	while ((len = evbuffer_get_length(in)) > 0) {
		if ((win = ssh_channel_window_size(p->ch)) == 0)
			break;
		sshio_cork(p->io);
		n = len < win ? len : win;
		if (n > PUMP_MAX_WRITE)
			n = PUMP_MAX_WRITE;
		rc = ssh_channel_write(p->ch, evbuffer_pullup(in, n), (uint32_t)n);
		if (rc == SSH_ERROR) {
			pump_finish(p, ssh_get_error(ssh_channel_get_session(p->ch)));
			return;
		}
		if (rc == 0)
			break;		/* rekey in progress: retry after a poll */
		evbuffer_drain(in, (size_t)rc);
		wrote = 1;
	}
	/*
	 * libevent 2.1 re-runs a read callback at once while the input stays
	 * at its high watermark: stop reading until the window lets us drain.
	 */
	if (evbuffer_get_length(in) >= p->limit) {
		if (!p->read_off)
			bufferevent_disable(p->bev, EV_READ);
		p->read_off = 1;
	} else if (p->read_off && !p->bev_eof) {
		p->read_off = 0;
		bufferevent_enable(p->bev, EV_READ);
	}
	if (p->bev_eof && evbuffer_get_length(in) == 0) {
		ssh_channel_send_eof(p->ch);
		p->eof_sent = 1;
		wrote = 1;
	}
	if (wrote)
		sshio_update(p->io);
}

/* Channel bytes libssh kept back -> bufferevent output, while it has room. */
static void
pump_drain(struct pump *p)
{
	struct evbuffer		*out = bufferevent_get_output(p->bev);
	struct evbuffer_iovec	 v;
	size_t			 olen, room;
	int			 n, read = 0;

	while (p->stuck > 0 && !p->out_done && !p->finished) {
		if ((olen = evbuffer_get_length(out)) >= p->limit)
			break;
		room = p->limit - olen;
		if (room > p->stuck)
			room = p->stuck;
		if (evbuffer_reserve_space(out, room, &v, 1) < 1)
			fatalx("evbuffer_reserve_space failed");
		if (v.iov_len > room)
			v.iov_len = room;
		n = ssh_channel_read_nonblocking(p->ch, v.iov_base,
		    (uint32_t)v.iov_len, 0);
		if (n <= 0) {
			v.iov_len = 0;
			evbuffer_commit_space(out, &v, 1);
			p->stuck = 0;
			if (n == SSH_ERROR)
				pump_finish(p, "channel read failed");
			break;
		}
		v.iov_len = (size_t)n;
		evbuffer_commit_space(out, &v, 1);
		p->stuck -= (size_t)n;
		read = 1;
	}
	if (read)
		sshio_update(p->io);	/* window adjust queued */
}

/* Channel EOF -> finish the bufferevent's write side once everything is in. */
static void
pump_finish_output(struct pump *p)
{
	struct evbuffer	*out = bufferevent_get_output(p->bev);

	p->out_done = 1;
	if (p->is_pair) {
		/*
		 * libevent's BEV_FINISHED flush of a pair moves only what fits
		 * below the partner's read high watermark when its input is
		 * under it, then signals EOF: the rest would go with our end.
		 * Lift the watermark first (the channel is done: what is left
		 * is bounded by its window).
		 */
		if (bufferevent_pair_get_partner(p->bev) != NULL)
			bufferevent_setwatermark(bufferevent_pair_get_partner(p->bev),
			    EV_READ, 0, 0);
		bufferevent_flush(p->bev, EV_WRITE, BEV_FINISHED);
		return;
	}
	if (evbuffer_get_length(out) == 0)
		shutdown(bufferevent_getfd(p->bev), SHUT_WR);
	else {
		p->shut_pending = 1;
		bufferevent_setwatermark(p->bev, EV_WRITE, 0, 0);
	}
}

static void
pump_check(struct pump *p)
{
	if (p->finished)
		return;
	if (p->is_pair && !p->out_done &&
	    bufferevent_pair_get_partner(p->bev) == NULL) {
		/* The caller freed its end: nobody reads; what it wrote goes. */
		p->out_done = p->bev_eof = 1;
		pump_to_channel(p);
	}
	if (p->ch_eof && p->stuck == 0 && !p->out_done)
		pump_finish_output(p);
	if (p->out_done && !p->shut_pending && (p->eof_sent || p->ch_closed))
		pump_finish(p, NULL);
}

/*
 * A socket bufferevent reads 4 KiB per callback in libevent 2.1 (pitfall
 * 11); take what the socket has, up to the limit, in reads of up to
 * PUMP_SLURP, so that the channel gets full packets (each packet costs
 * libssh a send, a poll and its padding's random bytes).  The bufferevent
 * keeps its input's end frozen outside its own reads: thawed here.  EOF is
 * left for libevent's next read to report.
 */
static void
pump_slurp(struct pump *p)
{
	struct evbuffer		*in = bufferevent_get_input(p->bev);
	struct evbuffer_iovec	 v;
	evutil_socket_t		 fd = bufferevent_getfd(p->bev);
	size_t			 len, want;
	ssize_t			 n;
	char			*why;

	if (evbuffer_get_length(in) < PUMP_BEV_READ)
		return;		/* libevent's read was not cut short: nothing more */
	evbuffer_unfreeze(in, 0);
	while ((len = evbuffer_get_length(in)) < p->limit) {
		want = p->limit - len < PUMP_SLURP ? p->limit - len : PUMP_SLURP;
		if (evbuffer_reserve_space(in, (ev_ssize_t)want, &v, 1) < 1)
			fatalx("evbuffer_reserve_space failed");
		if (v.iov_len > want)
			v.iov_len = want;
		n = recv(fd, v.iov_base, v.iov_len, MSG_DONTWAIT);
		v.iov_len = n > 0 ? (size_t)n : 0;
		evbuffer_commit_space(in, &v, 1);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			xasprintf(&why, "%s", strerror(errno));
			pump_finish(p, why);
			free(why);
			break;
		}
		if (n < (ssize_t)want)
			break;		/* the socket is empty (or at EOF) */
	}
	evbuffer_freeze(in, 0);
}

static void
pump_readcb(struct bufferevent *bev, void *arg)
{
	struct pump	*p = arg;

	if (!p->is_pair && !p->read_off)
		pump_slurp(p);
	pump_to_channel(p);
	pump_check(p);
}

static void
pump_writecb(struct bufferevent *bev, void *arg)
{
	struct pump	*p = arg;

	if (p->shut_pending &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		shutdown(bufferevent_getfd(bev), SHUT_WR);
		p->shut_pending = 0;
	}
	pump_drain(p);
	pump_check(p);
}

static void
pump_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct pump	*p = arg;
	char		*why;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_ERROR) {
		xasprintf(&why, "%s", evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
		pump_finish(p, why);
		free(why);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		p->bev_eof = 1;
		pump_to_channel(p);
		pump_check(p);
	}
}

/*
 * Takes @ch (open) and @bev; buffers at most @limit bytes per direction in
 * @bev.  @done runs once from the loop (reason NULL when clean); the owner
 * then calls pump_free().  @io is the session's driver (write interest).
 */
struct pump *
pump_new(ssh_channel ch, struct bufferevent *bev, size_t limit,
    struct sshio *io, pump_done_cb done, void *arg)
{
	struct pump	*p = xcalloc(1, sizeof *p);

	p->ch = ch;
	p->bev = bev;
	p->io = io;
	p->limit = limit > 0 ? limit : 65536;
	/* A socket may have no fd yet (still resolving its peer's name). */
	p->is_pair = bufferevent_pair_get_partner(bev) != NULL;
	p->done = done;
	p->arg = arg;

	p->cb.userdata = p;
	p->cb.channel_data_function = pump_ch_data;
	p->cb.channel_eof_function = pump_ch_eof;
	p->cb.channel_close_function = pump_ch_close;
	ssh_callbacks_init(&p->cb);
	ssh_set_channel_callbacks(ch, &p->cb);

	bufferevent_setcb(bev, pump_readcb, pump_writecb, pump_eventcb, p);
	bufferevent_setwatermark(bev, EV_READ, 0, p->limit);
	bufferevent_setwatermark(bev, EV_WRITE, p->limit / 2, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return (p);
}

/* Retries blocked writes and reads; the owner calls it after every poll. */
void
pump_service(struct pump *p)
{
	if (p->finished)
		return;
	pump_to_channel(p);
	pump_drain(p);
	pump_check(p);
}

/* The pump serving @bev (a pump_new() bufferevent), or NULL. */
struct pump *
pump_of(struct bufferevent *bev)
{
	bufferevent_data_cb	 readcb;
	void			*arg;

	if (bev == NULL)
		return (NULL);
	bufferevent_getcb(bev, &readcb, NULL, NULL, &arg);
	return (readcb == pump_readcb ? arg : NULL);
}

/* The @arg given to pump_new(). */
void *
pump_arg(struct pump *p)
{
	return (p->arg);
}

/*
 * Gives up the channel, unfinished and with nothing sent or seen to end it,
 * to a new owner (a spliced WebSocket's relay): its callbacks are removed,
 * *@stuck says how many bytes libssh holds for it.  NULL (the pump keeps
 * it) once either side has ended.  The pump is then only for pump_free().
 */
ssh_channel
pump_release(struct pump *p, size_t *stuck)
{
	ssh_channel	ch = p->ch;

	if (ch == NULL || p->finished || p->ch_eof || p->bev_eof ||
	    p->eof_sent || p->out_done || p->shut_pending)
		return (NULL);
	ssh_remove_channel_callbacks(ch, &p->cb);
	*stuck = p->stuck;
	p->ch = NULL;
	p->finished = p->clean = 1;
	return (ch);
}

/* Returns the pump's channel (borrowed). */
ssh_channel
pump_channel(struct pump *p)
{
	return (p->ch);
}

/* Closes and frees channel and bufferevent; a pair's partner sees an error unless clean. */
void
pump_free(struct pump *p)
{
	struct bufferevent	*partner;

	if (p == NULL)
		return;
	if (p->ch != NULL) {
		ssh_remove_channel_callbacks(p->ch, &p->cb);
		ssh_channel_free(p->ch);
	}
	if (p->is_pair && !p->clean &&
	    (partner = bufferevent_pair_get_partner(p->bev)) != NULL) {
		bufferevent_flush(p->bev, EV_WRITE, BEV_FLUSH);
		bufferevent_trigger_event(partner,
		    BEV_EVENT_ERROR | BEV_EVENT_READING, BEV_TRIG_DEFER_CALLBACKS);
	}
	bufferevent_free(p->bev);
	if (p->doneev != NULL)
		event_free(p->doneev);
	free(p->why);
	free(p);
}
