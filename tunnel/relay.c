/*
 * relay.c: a WebSocket's last form on the gateway: bytes both ways between
 * one ssh_channel and the browser's socket (TLS through OpenSSL, or plain),
 * read and written directly, with no bufferevent in between.
 *
 * An idle relay holds no buffer.  Browser bytes are read only as far as the
 * channel's window takes them at once; channel bytes the socket cannot take
 * stay in libssh, whose window then stays shut (back-pressure to the agent).
 * Only bytes already read that the other side refused halfway (a TLS record
 * the socket did not take, a channel write cut short by a rekey) are kept
 * here, and only until that side drains.
 *
 * libssh callbacks and the socket event only move bytes and record state;
 * the done callback runs once, from the loop.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <libssh/libssh.h>
#include <libssh/callbacks.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/common.h"
#include "tunnel/relay.h"

#define RELAY_CHUNK	16384	/* one TLS record's payload */
#define RELAY_ROUNDS	16	/* reads per wakeup before others get a turn */

struct relay {
	ssh_channel		 ch;
	struct sshio		*io;
	SSL			*ssl;		/* NULL: a plain socket */
	evutil_socket_t		 fd;
	struct event		 ev;		/* the socket, for what evmask says */
	short			 evmask;
	char			*up;		/* browser bytes the channel has not taken */
	size_t			 uplen, upoff;
	char			*down;		/* notebook bytes the socket has not taken */
	size_t			 downlen, downoff;
	size_t			 stuck;		/* bytes libssh holds for us */
	time_t			 last;		/* bytes last moved either way */
	int			 idle;		/* s without bytes before closing, 0: never */
	unsigned int		 sock_eof:1;	/* the browser ended (or its socket failed) */
	unsigned int		 ch_eof:1;	/* the notebook sent EOF or CLOSE */
	unsigned int		 eof_sent:1;	/* we sent channel EOF */
	unsigned int		 win_wait:1;	/* reading waits for the channel's window */
	unsigned int		 read_wants_write:1;
	unsigned int		 write_wants_read:1;
	unsigned int		 finished:1;	/* done scheduled */
	unsigned int		 failed:1;	/* no TLS close_notify at the end */
	char			*why;
	struct event		*doneev;
	relay_done_cb		 done;
	relay_traffic_cb	 traffic;
	void			*arg;
	struct ssh_channel_callbacks_struct cb;
};

static void	relay_sockcb(evutil_socket_t, short, void *);

static void
relay_donecb(evutil_socket_t fd, short what, void *arg)
{
	struct relay	*r = arg;

	r->done(r, r->why, r->arg);	/* may free r */
}

/* Schedules the done callback once; @why NULL when the end was clean. */
static void
relay_finish(struct relay *r, const char *why)
{
	if (r->finished)
		return;
	r->finished = 1;
	if (why != NULL) {
		r->why = xstrdup(why);
		r->failed = 1;
	}
	event_del(&r->ev);	/* also if only made active */
	r->evmask = 0;
	if ((r->doneev = event_new(event_get_base(&r->ev), -1, 0, relay_donecb, r)) == NULL)
		fatalx("event_new failed");
	event_active(r->doneev, EV_TIMEOUT, 0);
}

/* The socket failed: why, from errno or OpenSSL's queue. */
static void
relay_sock_failed(struct relay *r, int tls)
{
	char		 buf[256];
	unsigned long	 e;

	if (tls && (e = ERR_peek_last_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof buf);
		ERR_clear_error();
	} else
		(void)snprintf(buf, sizeof buf, "%s", strerror(errno != 0 ? errno : EIO));
	r->sock_eof = 1;
	relay_finish(r, buf);
}

/* A plain socket call failed: 0 to try again later, -1 when it is over (finished). */
static ssize_t
relay_sock_errno(struct relay *r)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return (0);
	relay_sock_failed(r, 0);
	return (-1);
}

/*
 * Reads at most @n browser bytes into @buf: the count, 0 when there is
 * nothing now, -1 at the end (EOF: sock_eof; an error: finished).
 */
static ssize_t
relay_sock_read(struct relay *r, char *buf, size_t n)
{
	ssize_t		 got;
	int		 rc;

	if (r->ssl == NULL) {
		if ((got = recv(r->fd, buf, n, 0)) > 0)
			return (got);
		if (got == 0) {
			r->sock_eof = 1;
			return (-1);
		}
		return (relay_sock_errno(r));
	}
	ERR_clear_error();
	errno = 0;
	r->read_wants_write = 0;
	if ((rc = SSL_read(r->ssl, buf, (int)n)) > 0)
		return (rc);
	switch (SSL_get_error(r->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return (0);
	case SSL_ERROR_WANT_WRITE:
		r->read_wants_write = 1;	/* a TLS message to answer first */
		return (0);
	case SSL_ERROR_ZERO_RETURN:		/* close_notify */
		r->sock_eof = 1;
		return (-1);
	case SSL_ERROR_SYSCALL:
		if (errno == 0) {		/* closed without close_notify: browsers do */
			r->sock_eof = 1;
			ERR_clear_error();
			return (-1);
		}
		relay_sock_failed(r, 0);
		return (-1);
	default:
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			r->sock_eof = 1;
			ERR_clear_error();
			return (-1);
		}
		relay_sock_failed(r, 1);
		return (-1);
	}
}

/*
 * Writes at most @n bytes of @buf to the browser: the count, 0 when the
 * socket takes nothing now, -1 on an error (finished).  With TLS a refused
 * write must be repeated with the same bytes (relay_push keeps them).
 */
static ssize_t
relay_sock_write(struct relay *r, const char *buf, size_t n)
{
	ssize_t		 w;
	int		 rc;

	if (r->ssl == NULL) {
		if ((w = send(r->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL)) >= 0)
			return (w);
		return (relay_sock_errno(r));
	}
	ERR_clear_error();
	errno = 0;
	r->write_wants_read = 0;
	if ((rc = SSL_write(r->ssl, buf, (int)n)) > 0)
		return (rc);
	switch (SSL_get_error(r->ssl, rc)) {
	case SSL_ERROR_WANT_WRITE:
		return (0);
	case SSL_ERROR_WANT_READ:
		r->write_wants_read = 1;
		return (0);
	case SSL_ERROR_SYSCALL:
		relay_sock_failed(r, 0);
		return (-1);
	default:
		relay_sock_failed(r, 1);
		return (-1);
	}
}

/* Bytes moved: the owner hears of them, and the relay is not idle. */
static void
relay_moved(struct relay *r, size_t up, size_t down)
{
	r->last = time(NULL);
	if (r->traffic != NULL)
		r->traffic(up, down, r->arg);
}

/*
 * Hands @len notebook bytes to the socket; what it refuses is kept in
 * r->down (one chunk at most: the caller stops offering more).  Returns the
 * bytes taken (written or kept): all of @len unless the socket blocked.
 */
static size_t
relay_push(struct relay *r, const char *data, size_t len)
{
	size_t	done = 0, n;
	ssize_t	w;

	while (done < len && !r->finished) {
		n = len - done < RELAY_CHUNK ? len - done : RELAY_CHUNK;
		if ((w = relay_sock_write(r, data + done, n)) < 0)
			return (len);		/* failed: nobody to give it to */
		if (w == 0) {
			r->down = xmalloc(n);
			memcpy(r->down, data + done, n);
			r->downlen = n;
			r->downoff = 0;
			return (done + n);
		}
		done += (size_t)w;
	}
	return (done);
}

/* libssh: channel data; @len is everything it holds for us. */
static int
relay_ch_data(ssh_session s, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *arg)
{
	struct relay	*r = arg;
	size_t		 n;

	if (is_stderr || r->finished)
		return ((int)len);	/* nobody to give it to */
	if (r->down != NULL || r->write_wants_read) {
		r->stuck = len;		/* the socket is full: wait */
		return (0);
	}
	n = relay_push(r, data, len);
	r->stuck = len - n;
	if (n > 0)
		relay_moved(r, 0, n);
	return ((int)n);
}

static void
relay_ch_eof(ssh_session s, ssh_channel ch, void *arg)
{
	struct relay	*r = arg;

	r->ch_eof = 1;
}

static void
relay_ch_close(ssh_session s, ssh_channel ch, void *arg)
{
	struct relay	*r = arg;

	r->ch_eof = 1;
	r->eof_sent = 1;	/* nothing more may be sent on it */
}

/* Kept notebook bytes, then what libssh held back, to the socket. */
static void
relay_down(struct relay *r)
{
	char	buf[RELAY_CHUNK];
	ssize_t	w;
	int	n, read = 0;

	while (r->down != NULL && !r->finished) {
		if ((w = relay_sock_write(r, r->down + r->downoff,
		    r->downlen - r->downoff)) <= 0)
			return;
		r->downoff += (size_t)w;
		if (r->downoff == r->downlen) {
			free(r->down);
			r->down = NULL;
		}
	}
	while (r->stuck > 0 && r->down == NULL && !r->finished) {
		n = ssh_channel_read_nonblocking(r->ch, buf,
		    r->stuck < sizeof buf ? (uint32_t)r->stuck : sizeof buf, 0);
		if (n <= 0) {
			r->stuck = 0;	/* the next data callback says again */
			if (n == SSH_ERROR)
				relay_finish(r, "channel read failed");
			break;
		}
		r->stuck -= (size_t)n < r->stuck ? (size_t)n : r->stuck;
		read = 1;
		(void)relay_push(r, buf, (size_t)n);	/* takes all of it */
		relay_moved(r, 0, (size_t)n);
	}
	if (read)
		sshio_update(r->io);	/* window adjust queued */
}

/* Kept browser bytes to the channel: 1 when none are left. */
static int
relay_up_flush(struct relay *r)
{
	uint32_t	 win;
	size_t		 n;
	int		 rc;

	while (r->up != NULL) {
		if ((win = ssh_channel_window_size(r->ch)) == 0) {
			r->win_wait = 1;
			return (0);
		}
		n = r->uplen - r->upoff;
		if (n > win)
			n = win;
		sshio_cork(r->io);
		rc = ssh_channel_write(r->ch, r->up + r->upoff, (uint32_t)n);
		if (rc == SSH_ERROR) {
			relay_finish(r, ssh_get_error(ssh_channel_get_session(r->ch)));
			return (0);
		}
		if (rc == 0)
			return (0);	/* rekey in progress: after a poll */
		r->upoff += (size_t)rc;
		if (r->upoff == r->uplen) {
			free(r->up);
			r->up = NULL;
		}
		sshio_update(r->io);
	}
	return (1);
}

/* Browser bytes to the channel, as far as its window goes. */
static void
relay_up(struct relay *r)
{
	char		 buf[RELAY_CHUNK];
	uint32_t	 win;
	ssize_t		 got;
	int		 rc, rounds = 0, wrote = 0;

	r->win_wait = 0;
	if (r->finished || (r->up != NULL && !relay_up_flush(r)) || r->finished)
		return;
	while (!r->sock_eof && !r->finished && !r->eof_sent) {
		if ((win = ssh_channel_window_size(r->ch)) == 0) {
			r->win_wait = 1;
			break;
		}
		if (++rounds > RELAY_ROUNDS)
			break;		/* more later: see relay_arm() */
		got = relay_sock_read(r, buf, win < sizeof buf ? win : sizeof buf);
		if (got <= 0)
			break;
		relay_moved(r, (size_t)got, 0);
		sshio_cork(r->io);
		rc = ssh_channel_write(r->ch, buf, (uint32_t)got);
		if (rc == SSH_ERROR) {
			relay_finish(r, ssh_get_error(ssh_channel_get_session(r->ch)));
			return;
		}
		wrote = 1;
		if (rc < got) {		/* a rekey: keep the rest */
			r->uplen = (size_t)(got - rc);
			r->upoff = 0;
			r->up = xmalloc(r->uplen);
			memcpy(r->up, buf + rc, r->uplen);
			break;
		}
	}
	if (r->sock_eof && !r->finished) {
		/* The browser is gone: what it sent (if the window lets), EOF, done. */
		(void)relay_up_flush(r);
		if (!r->eof_sent && !r->finished) {
			ssh_channel_send_eof(r->ch);
			r->eof_sent = 1;
		}
		wrote = 1;
		relay_finish(r, NULL);
	}
	if (wrote)
		sshio_update(r->io);
}

/* The notebook is done and the browser has everything: finish cleanly. */
static void
relay_check(struct relay *r)
{
	if (!r->finished && r->ch_eof && r->stuck == 0 && r->down == NULL)
		relay_finish(r, NULL);
}

/* (Re)arms the socket event, timing out after @secs (0: no timeout). */
static void
relay_add(struct relay *r, time_t secs)
{
	struct timeval	tv = { secs, 0 };

	if (event_add(&r->ev, secs > 0 ? &tv : NULL) == -1)
		fatalx("event_add failed");
}

/* Waits on the socket for exactly what the relay needs next. */
static void
relay_arm(struct relay *r)
{
	short	want = 0;
	int	reading;

	reading = !r->finished && !r->sock_eof && r->up == NULL && !r->win_wait &&
	    !r->eof_sent;
	if (reading)
		want |= r->read_wants_write ? EV_WRITE : EV_READ;
	if (!r->finished && r->down != NULL)
		want |= r->write_wants_read ? EV_READ : EV_WRITE;
	if (want != r->evmask) {
		event_del(&r->ev);
		r->evmask = want;
		if (want != 0) {
			event_assign(&r->ev, event_get_base(&r->ev), r->fd,
			    want | EV_PERSIST, relay_sockcb, r);
			relay_add(r, r->idle);
		}
	}
	/* Decrypted bytes OpenSSL holds wake no socket event. */
	if (reading && !r->read_wants_write && r->ssl != NULL &&
	    SSL_pending(r->ssl) > 0)
		event_active(&r->ev, EV_READ, 0);
}

static void
relay_sockcb(evutil_socket_t fd, short what, void *arg)
{
	struct relay	*r = arg;
	time_t		 left;
	char		 why[64];

	if (r->finished)
		return;
	if (what & EV_TIMEOUT) {
		if ((left = r->last + r->idle - time(NULL)) <= 0) {
			(void)snprintf(why, sizeof why, "idle for %d s", r->idle);
			relay_finish(r, why);
			return;
		}
		relay_add(r, left);	/* bytes moved meanwhile */
		return;
	}
	if (r->down != NULL)
		relay_down(r);
	relay_up(r);
	if (!r->finished && r->down == NULL && r->stuck > 0)
		relay_down(r);
	relay_check(r);
	relay_arm(r);
}

/*
 * Takes channel @ch (its callbacks are the relay's from now on; libssh holds
 * @stuck bytes for it), socket @fd and, for TLS, @ssl (both closed and freed
 * by relay_free()).  @to_channel and @to_socket are bytes already read and
 * not yet delivered; they are emptied.  No bytes either way for @idle
 * seconds (0: no limit) ends it.  @done runs once from the loop
 * (reason NULL when clean); the owner then calls relay_free().  @traffic
 * (optional) hears of the bytes moved each way.
 */
struct relay *
relay_new(struct event_base *base, ssh_channel ch, size_t stuck,
    struct sshio *io, evutil_socket_t fd, SSL *ssl, struct evbuffer *to_channel,
    struct evbuffer *to_socket, int idle, relay_done_cb done,
    relay_traffic_cb traffic, void *arg)
{
	struct relay	*r = xcalloc(1, sizeof *r);

	r->ch = ch;
	r->stuck = stuck;
	r->io = io;
	r->fd = fd;
	r->ssl = ssl;
	r->done = done;
	r->traffic = traffic;
	r->arg = arg;
	r->idle = idle > 0 ? idle : 0;
	r->last = time(NULL);
	if (ssl != NULL)
		SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if ((r->uplen = evbuffer_get_length(to_channel)) > 0) {
		r->up = xmalloc(r->uplen);
		evbuffer_remove(to_channel, r->up, r->uplen);
	}
	if ((r->downlen = evbuffer_get_length(to_socket)) > 0) {
		r->down = xmalloc(r->downlen);
		evbuffer_remove(to_socket, r->down, r->downlen);
	}
	r->cb.userdata = r;
	r->cb.channel_data_function = relay_ch_data;
	r->cb.channel_eof_function = relay_ch_eof;
	r->cb.channel_close_function = relay_ch_close;
	ssh_callbacks_init(&r->cb);
	ssh_set_channel_callbacks(ch, &r->cb);

	event_assign(&r->ev, base, fd, EV_READ | EV_PERSIST, relay_sockcb, r);
	relay_add(r, r->idle);
	r->evmask = EV_READ;
	/* A first pass: kept bytes, and TLS records OpenSSL read ahead. */
	event_active(&r->ev, EV_READ | EV_WRITE, 0);
	return (r);
}

/* After every poll of the channel's session: retry what waited on it. */
void
relay_service(struct relay *r)
{
	if (r->finished)
		return;
	if (r->up != NULL || r->win_wait)
		relay_up(r);
	if (!r->finished && r->down == NULL && r->stuck > 0)
		relay_down(r);
	relay_check(r);
	relay_arm(r);
}

/* The owner is done: browser bytes already read go on (as far as the window lets), then EOF. */
void
relay_close(struct relay *r)
{
	if (!r->finished && !r->eof_sent) {
		(void)relay_up_flush(r);
		if (!r->eof_sent) {
			ssh_channel_send_eof(r->ch);
			r->eof_sent = 1;
		}
		sshio_update(r->io);
	}
	r->failed = 1;		/* cut short: no close_notify */
	relay_free(r);
}

/* Frees the relay, its channel, its socket and its TLS state. */
void
relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	ssh_remove_channel_callbacks(r->ch, &r->cb);
	ssh_channel_free(r->ch);
	event_del(&r->ev);
	if (r->doneev != NULL)
		event_free(r->doneev);
	if (r->ssl != NULL) {
		if (!r->failed && !r->sock_eof) {
			(void)SSL_shutdown(r->ssl);	/* close_notify, if the socket takes it */
			ERR_clear_error();
		}
		SSL_free(r->ssl);
	}
	if (r->fd != -1)
		evutil_closesocket(r->fd);
	free(r->up);
	free(r->down);
	free(r->why);
	free(r);
}
