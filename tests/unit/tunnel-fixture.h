/*
 * tunnel-fixture.h: what test-tunnel.c's cases stand on: one event loop
 * with the embedded sshd's hooks, an in-process notebook stand-in, streams
 * through a tunnel as a browser's, agents (tunclient) and child processes
 * (tunnel-fixture.c).
 */
#ifndef NB_TUNNEL_FIXTURE_H
#define NB_TUNNEL_FIXTURE_H

#include <sys/types.h>

#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <libssh/libssh.h>

#include "common/common.h"
#include "tunnel/tunnel.h"

#define STREAM_BUFFER	(256 * 1024)
#define BULK		(16 * 1024 * 1024)
#ifndef SOURCE_BYTES
#define SOURCE_BYTES	(6 * 1024 * 1024)
#endif

#define WAIT_FOR(cond, secs) __extension__ ({				\
	double _d = now_s() + (secs);					\
	while (!(cond) && now_s() < _d)					\
		event_base_loop(base, EVLOOP_ONCE);			\
	(cond); })

struct route {
	const char	*name;
	ssh_key		 keys[2];
	int		 refs;		/* auth() results not yet released */
	struct tunnel	*t;
	int		 ups;
	int		 downs;
	char		*down_why;
	int		 exits;
	int		 downs_at_exit;	/* down hooks seen when exit last ran */
	struct tunnel	*exit_t;	/* the tunnel exit last ran for */
	char		*exit_why;
	int		 reports;	/* activity hook calls (protocol 4) */
	struct activity	 act;		/* the last one */
};

struct client {
	struct tunclient	*tc;
	enum tunclient_state	 state;
	int			 ups;
	int			 downs;
	int			 failed;
	char			*why;
};

struct xfer {
	struct bufferevent	*bev;
	int			 got_cb;
	char			*err;
	size_t			 to_send;
	size_t			 sent;
	size_t			 received;
	uint64_t		 h_sent;
	uint64_t		 h_recv;
	uint64_t		 rng;
	int			 finish;	/* EOF after sending */
	int			 finished;
	int			 reading;
	int			 eof;
	int			 error;
};

enum target_mode { TARGET_ECHO, TARGET_SOURCE };

struct target_conn {
	struct bufferevent	*bev;
	enum target_mode	 mode;
	size_t			 left;		/* SOURCE: bytes still to queue */
	uint64_t		 rng;
	int			 closing;
};

extern struct event_base	*base;
extern struct event		*tick;
extern char			 tmpdir[];
extern struct route		 alice;
extern struct route		 bob;
extern enum target_mode		 target_mode;
extern int			 target_port;
extern const char		*target_unix;	/* next agents: Unix socket target */
extern int			 target_conns;
extern pid_t			 children[32];
extern int			 nchildren;

double	 now_s(void);
void	 tick_cb(evutil_socket_t fd, short what, void *arg);
uint64_t	 fnv(uint64_t h, const unsigned char *p, size_t n);
void	 fill(uint64_t *rng, unsigned char *p, size_t n);
void	 kill_children(void);
void	 on_alarm(int sig);
void	*hook_auth(const char *user, ssh_key key, void *arg);
void	 hook_up(struct tunnel *t, void *route, void *arg);
void	 hook_release(void *route, void *arg);
void	 hook_exit(struct tunnel *t, void *route, const char *why, void *arg);
void	 hook_activity(struct tunnel *t, void *route, const struct activity *a,
	    void *arg);
void	 hook_down(struct tunnel *t, void *route, const char *why, void *arg);
void	 target_free(struct target_conn *tcn);
void	 target_writecb(struct bufferevent *bev, void *arg);
void	 target_readcb(struct bufferevent *bev, void *arg);
void	 target_eventcb(struct bufferevent *bev, short what, void *arg);
void	 target_accept(struct evconnlistener *lev, evutil_socket_t fd,
		     struct sockaddr *sa, int salen, void *arg);
struct evconnlistener	*target_listen(void);
struct evconnlistener	*target_listen_unix(const char *sockpath);
void	 xfer_drain(struct xfer *x);
void	 xfer_readcb(struct bufferevent *bev, void *arg);
void	 xfer_writecb(struct bufferevent *bev, void *arg);
void	 xfer_eventcb(struct bufferevent *bev, short what, void *arg);
void	 xfer_connected(struct bufferevent *bev, const char *err, void *arg);
void	 xfer_init(struct xfer *x, size_t to_send);
void	 xfer_free(struct xfer *x);
double	 echo_through(struct route *r, size_t n, const char *what);
void	 client_state(struct tunclient *tc, enum tunclient_state st,
		     const char *why, void *arg);
struct tunclient	*client_start(struct client *c, const char *user,
		     const char *keyfile, const char *pin, struct sshd *sd);
void	 client_stop(struct client *c);
char	*path(const char *name);
ssh_key	 keygen(const char *name);
int	 log_has(const char *name, const char *what);
pid_t	 spawn(char *const argv[], const char *logname);
void	 reaped(pid_t pid);
int	 wait_child(pid_t pid, double secs);

#endif
