/*
 * sshio.c: drives one non-blocking libssh session from a libevent loop:
 * a level-triggered read event, a write event armed only while libssh has
 * output pending, a service pass after each poll, and fd-death detection.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <libssh/libssh.h>

#include "common.h"

struct sshio {
	struct event_base	*base;
	ssh_session		 s;
	ssh_event		 sev;		/* this session only (pitfall 4) */
	struct event		*rev;
	struct event		*wev;
	struct event		*uncork;	/* end of the loop pass that corked */
	socket_t		 fd;		/* libssh's */
	evutil_socket_t		 evfd;		/* our dup of it, for libevent */
	int			 writing;	/* wev is armed */
	int			 corked;	/* TCP_CORK set, uncork pending */
	int			 dead;		/* dead() was called */
	sshio_cb		 service;
	sshio_cb		 deadcb;
	void			*arg;
};

static void	sshio_io(evutil_socket_t, short, void *);
static void	sshio_uncork(evutil_socket_t, short, void *);

/* Wraps @s; @service runs after every poll, @dead once when the fd is gone. */
struct sshio *
sshio_new(struct event_base *base, ssh_session s, sshio_cb service,
    sshio_cb dead, void *arg)
{
	struct sshio	*io = xcalloc(1, sizeof *io);

	io->base = base;
	io->s = s;
	io->fd = SSH_INVALID_SOCKET;
	io->evfd = -1;
	io->service = service;
	io->deadcb = dead;
	io->arg = arg;
	return (io);
}

/* Starts polling; call once key exchange (or connect) has started (pitfall 3). */
int
sshio_attach(struct sshio *io, char **cause)
{
	io->fd = ssh_get_fd(io->s);
	if (io->fd == SSH_INVALID_SOCKET) {
		xasprintf(cause, "ssh session has no socket");
		return (-1);
	}
	if ((io->sev = ssh_event_new()) == NULL)
		fatalx("ssh_event_new failed");
	if (ssh_event_add_session(io->sev, io->s) != SSH_OK) {
		xasprintf(cause, "ssh_event_add_session failed");
		ssh_event_free(io->sev);
		io->sev = NULL;
		return (-1);
	}
	/*
	 * libssh closes its fd on its own (pitfall 8); libevent watches a
	 * dup so the number it knows stays ours until we drop the events.
	 */
	if ((io->evfd = fcntl(io->fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		xasprintf(cause, "dup: %s", strerror(errno));
		return (-1);
	}
	io->rev = event_new(io->base, io->evfd, EV_READ | EV_PERSIST, sshio_io, io);
	io->wev = event_new(io->base, io->evfd, EV_WRITE | EV_PERSIST, sshio_io, io);
	io->uncork = event_new(io->base, -1, 0, sshio_uncork, io);
	if (io->rev == NULL || io->wev == NULL || io->uncork == NULL)
		fatalx("event_new failed");
	event_add(io->rev, NULL);
	sshio_update(io);
	return (0);
}

/* Is the socket libssh started with still libssh's and open? */
int
sshio_fd_alive(struct sshio *io)
{
	if (io->dead || io->fd == SSH_INVALID_SOCKET)
		return (0);
	if (ssh_get_fd(io->s) != io->fd)
		return (0);
	return ((ssh_get_status(io->s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) == 0);
}

static void
sshio_unwatch(struct sshio *io)
{
	if (io->corked)
		sshio_uncork(-1, 0, io);	/* what libssh still sends goes at once */
	if (io->uncork != NULL)
		event_free(io->uncork);
	io->uncork = NULL;
	if (io->rev != NULL)
		event_free(io->rev);
	if (io->wev != NULL)
		event_free(io->wev);
	io->rev = io->wev = NULL;
	io->writing = 0;
	if (io->evfd != -1)
		close(io->evfd);
	io->evfd = -1;
}

/*
 * The fd is gone (libssh closed it, pitfall 8) or broken: drop the events
 * before the number can be reused, then tell the owner.  Must be the last
 * thing touching @io: the owner may free it.
 */
static void
sshio_die(struct sshio *io)
{
	sshio_unwatch(io);
	io->dead = 1;
	io->deadcb(io->arg);
}

/* Arms the write event iff libssh has output pending; checks the fd. */
void
sshio_update(struct sshio *io)
{
	int	want;

	if (io->dead || io->rev == NULL)
		return;
	if (!sshio_fd_alive(io)) {
		/* Not under the owner's feet: finish from the loop. */
		event_active(io->rev, EV_READ, 0);
		return;
	}
	want = (ssh_get_poll_flags(io->s) & SSH_WRITE_PENDING) != 0;
	if (want && !io->writing)
		event_add(io->wev, NULL);
	else if (!want && io->writing)
		event_del(io->wev);
	io->writing = want;
}

static void
sshio_io(evutil_socket_t fd, short what, void *arg)
{
	struct sshio	*io = arg;

	if (io->dead)
		return;
	if (sshio_fd_alive(io))
		ssh_event_dopoll(io->sev, 0);
	if (!sshio_fd_alive(io)) {
		sshio_die(io);
		return;
	}
	io->service(io->arg);
	if (!sshio_fd_alive(io)) {
		sshio_die(io);
		return;
	}
	sshio_update(io);
}

/*
 * Holds the session's output back until the end of this loop pass: the
 * packets of every channel written in one pass (many small requests or
 * responses at once) then leave in one TCP segment instead of one each.
 * Every segment costs the sender a transmit and the receiver a delivery,
 * a wakeup and often an ACK, which is most of what a small proxied request
 * costs (TCP_CORK; the uncork event is queued behind every callback
 * already due in this pass, so nothing waits for the next one).
 */
void
sshio_cork(struct sshio *io)
{
	int	on = 1;

	if (io->corked || io->dead || io->uncork == NULL)
		return;
	if (setsockopt(io->evfd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) == -1)
		return;		/* not TCP: nothing to gain */
	io->corked = 1;
	event_active(io->uncork, EV_TIMEOUT, 0);
}

static void
sshio_uncork(evutil_socket_t fd, short what, void *arg)
{
	struct sshio	*io = arg;
	int		 off = 0;

	io->corked = 0;
	if (io->evfd != -1)
		(void)setsockopt(io->evfd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
}

/* Stops polling and frees; the session itself stays the caller's. */
void
sshio_free(struct sshio *io)
{
	if (io == NULL)
		return;
	sshio_unwatch(io);
	if (io->sev != NULL) {
		ssh_event_remove_session(io->sev, io->s);
		ssh_event_free(io->sev);
	}
	free(io);
}

/*
 * Disconnects (if still connected) and frees @s, closing its socket: libssh
 * 0.10 leaves open an fd it was handed (accept_fd, SSH_OPTIONS_FD) when we
 * disconnect, though it closes it itself when the peer hangs up.
 */
void
sshio_close_session(ssh_session s)
{
	socket_t	fd;

	if (s == NULL)
		return;
	fd = ssh_get_fd(s);		/* -1 once libssh closed it */
	if (ssh_is_connected(s))
		ssh_disconnect(s);
	ssh_free(s);
	/* Nothing opened an fd since: if @fd is open it is still ours. */
	if (fd != SSH_INVALID_SOCKET && fcntl(fd, F_GETFD) != -1)
		close(fd);
}

#define SSHIO_CIPHERS_AES	"aes256-gcm@openssh.com,chacha20-poly1305@openssh.com," \
				"aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr"
#define SSHIO_CIPHERS_NO_GCM	"chacha20-poly1305@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr"

/* 1 if this CPU has AES and carry-less multiply instructions (fast AES-GCM). */
static int
sshio_aes_hw(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	return (__builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul"));
#else
	return (0);	/* ChaCha20-Poly1305 is the safe choice where we cannot tell */
#endif
}

/* What the agent asks for, best first; NULL: libssh's default. */
const char *
sshio_ciphers_client(void)
{
	return (sshio_aes_hw() ? SSHIO_CIPHERS_AES : NULL);
}

/* What the gateway offers; NULL: libssh's default (AES-GCM among them). */
const char *
sshio_ciphers_server(void)
{
	return (sshio_aes_hw() ? NULL : SSHIO_CIPHERS_NO_GCM);
}
