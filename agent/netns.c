/*
 * netns.c: an app that can only listen on TCP, kept from the node's other
 * accounts: it runs in a network namespace of its own (inside a user
 * namespace that maps only the job's own uid and gid), and a helper left in
 * there connects to its loopback port for the agent and hands the connected
 * socket back over a socketpair (SCM_RIGHTS). Unprivileged, the agent cannot
 * setns() into it (that needs CAP_SYS_ADMIN over the namespace's owner).
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <net/if.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/util.h>

#include "common/common.h"
#include "agent/agent.h"

#define NETNS_TIMEOUT_MS	2000	/* for one connect through the helper */

struct netns_req {
	uint32_t	seq;
};
struct netns_rep {
	uint32_t	seq;
	int32_t		err;		/* 0: a socket rides along */
};

/* A reply as sent and received: the struct, and room for one descriptor. */
struct netns_msg {
	struct msghdr	msg;
	struct iovec	iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		cm;
};

static void
netns_msg_init(struct netns_msg *m, struct netns_rep *rep, int with_fd)
{
	memset(m, 0, sizeof *m);
	m->iov.iov_base = rep;
	m->iov.iov_len = sizeof *rep;
	m->msg.msg_iov = &m->iov;
	m->msg.msg_iovlen = 1;
	if (with_fd) {
		m->msg.msg_control = m->cm.buf;
		m->msg.msg_controllen = sizeof m->cm.buf;
	}
}

/* Writes @s to /proc/self/@name: 0, or -1 with why in @why. */
static int
netns_proc(const char *name, const char *s, char *why, size_t len)
{
	char	path[64];
	int	fd, rv = 0;

	snprintf(path, sizeof path, "/proc/self/%s", name);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1 ||
	    write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		rv = -1;
	if (fd != -1 && close(fd) == -1)
		rv = -1;
	if (rv == -1)
		snprintf(why, len, "writing %s: %s", path, strerror(errno));
	return (rv);
}

/* Brings the namespace's lo up: 0, or -1 with why in @why. */
static int
netns_lo_up(char *why, size_t len)
{
	struct ifreq	ifr;
	int		fd, rv = -1;

	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) != -1 &&
	    ioctl(fd, SIOCGIFFLAGS, &ifr) != -1) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) != -1)
			rv = 0;
	}
	if (rv == -1)
		snprintf(why, len, "bringing lo up: %s", strerror(errno));
	if (fd != -1)
		close(fd);
	return (rv);
}

/*
 * Moves the calling (single-threaded) process into a new user and network
 * namespace, maps its own uid and gid (setgroups denied, as an unprivileged
 * gid_map requires) and brings lo up. 0, or -1 with why in @why.
 */
int
netns_enter(char *why, size_t len)
{
	char	uidmap[64], gidmap[64];

	snprintf(uidmap, sizeof uidmap, "%lu %lu 1\n", (unsigned long)geteuid(),
	    (unsigned long)geteuid());
	snprintf(gidmap, sizeof gidmap, "%lu %lu 1\n", (unsigned long)getegid(),
	    (unsigned long)getegid());
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == -1) {
		snprintf(why, len, "unshare(CLONE_NEWUSER | CLONE_NEWNET): %s",
		    strerror(errno));
		return (-1);
	}
	if (netns_proc("uid_map", uidmap, why, len) != 0 ||
	    netns_proc("setgroups", "deny", why, len) != 0 ||
	    netns_proc("gid_map", gidmap, why, len) != 0)
		return (-1);
	return (netns_lo_up(why, len));
}

/*
 * Whether this node lets the agent's account make such namespaces: a child
 * tries netns_enter() and exits. 0, or -1 and *cause (why not).
 */
int
netns_available(char **cause)
{
	char	why[256] = "";
	int	fds[2], status;
	ssize_t	n;
	pid_t	pid;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		xasprintf(cause, "pipe: %s", strerror(errno));
		return (-1);
	}
	if ((pid = fork()) == -1) {
		xasprintf(cause, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return (-1);
	}
	if (pid == 0) {
		close(fds[0]);
		if (netns_enter(why, sizeof why) == 0)
			_exit(0);
		if (write(fds[1], why, strlen(why)) == -1)
			_exit(2);
		_exit(1);
	}
	close(fds[1]);
	while ((n = read(fds[0], why, sizeof why - 1)) == -1 && errno == EINTR)
		;
	why[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return (0);
	xasprintf(cause, "user namespaces are not available to this account on "
	    "this node (%s)", *why != '\0' ? why : "the test child failed");
	return (-1);
}

/* The helper: one connect to 127.0.0.1:@port per request, until EOF. */
static __dead void
netns_serve(int fd, int port)
{
	struct sockaddr_in	 sin;
	struct netns_req	 rq;
	struct netns_rep	 rep;
	struct netns_msg	 m;
	struct cmsghdr		*c;
	ssize_t			 n;
	int			 s;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (;;) {
		if ((n = recv(fd, &rq, sizeof rq, 0)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);		/* the agent is gone */
		if (n != sizeof rq)
			continue;
		memset(&rep, 0, sizeof rep);
		rep.seq = rq.seq;
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s == -1 || connect(s, (struct sockaddr *)&sin, sizeof sin) == -1)
			rep.err = errno != 0 ? errno : EIO;
		netns_msg_init(&m, &rep, rep.err == 0);
		if (rep.err == 0) {
			c = CMSG_FIRSTHDR(&m.msg);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &s, sizeof s);
		}
		if (sendmsg(fd, &m.msg, MSG_NOSIGNAL) == -1 && errno == EPIPE)
			_exit(0);
		if (s != -1)
			close(s);
	}
}

/*
 * In the app's process, inside the namespace, before it execs: forks the
 * helper serving @fd (it dies with the app, or when the agent hangs up) and
 * closes @fd here. 0, or -1 with why in @why.
 */
int
netns_helper(int fd, int port, char *why, size_t len)
{
	pid_t	app = getpid();

	switch (fork()) {
	case -1:
		snprintf(why, len, "fork: %s", strerror(errno));
		return (-1);
	case 0:
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "nbgate-netns");	/* in ps, beside the app */
		if (getppid() != app)
			_exit(0);
		signal(SIGTERM, SIG_DFL);
		netns_serve(fd, port);
	}
	close(fd);
	return (0);
}

/*
 * The agent's side: asks the helper on @fd for a socket connected to the
 * app and waits for it (loopback: at once; at most NETNS_TIMEOUT_MS).
 * Returns a non-blocking connected socket, or -1 and *cause.
 */
int
netns_connect(int fd, uint32_t *seq, char **cause)
{
	struct netns_req	 rq = { .seq = ++*seq };
	struct netns_rep	 rep;
	struct pollfd		 pfd = { .fd = fd, .events = POLLIN };
	struct netns_msg	 m;
	struct cmsghdr		*c;
	ssize_t			 n;
	int			 s;

	if (send(fd, &rq, sizeof rq, MSG_NOSIGNAL) != sizeof rq) {
		xasprintf(cause, "the app's namespace is gone: %s", strerror(errno));
		return (-1);
	}
	for (;;) {
		if ((n = poll(&pfd, 1, NETNS_TIMEOUT_MS)) == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			xasprintf(cause, "no answer from the app's namespace");
			return (-1);
		}
		netns_msg_init(&m, &rep, 1);
		if ((n = recvmsg(fd, &m.msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)) == -1 &&
		    (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			xasprintf(cause, "the app's namespace is gone");
			return (-1);
		}
		s = -1;
		c = CMSG_FIRSTHDR(&m.msg);
		if (c != NULL && c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&s, CMSG_DATA(c), sizeof s);
		if (n == sizeof rep && rep.seq == rq.seq && (s != -1 || rep.err != 0))
			break;
		if (s != -1)
			close(s);		/* a late answer to an earlier ask */
	}
	if (rep.err != 0) {
		xasprintf(cause, "connecting in the app's namespace: %s",
		    strerror(rep.err));
		return (-1);
	}
	evutil_make_socket_nonblocking(s);
	util_set_nodelay(s);
	return (s);
}
