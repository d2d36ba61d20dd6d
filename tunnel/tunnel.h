/*
 * tunnel.h: the gateway's half of the tunnel: the embedded SSH server that
 * agents dial (sshd.c) and the tunnels it carries (tunnel.c).
 *
 * Ownership: the sshd owns every tunnel; the daemon only borrows a
 * struct tunnel * between the up and down hooks.  Streams handed to the
 * proxy are bufferevent pair ends owned by the caller.
 */
#ifndef NB_TUNNEL_H
#define NB_TUNNEL_H

#include <event2/bufferevent.h>
#include <libssh/libssh.h>
#include <openssl/ssl.h>

struct activity;
struct tunnel;
struct tunnel_req;
struct sshd;
struct sshd_conn;

struct sshd_settings {
	const char	*host_key;	/* path; an ed25519 key is generated there if missing */
	int		 login_timeout;	/* seconds from TCP accept to authenticated */
	int		 max_conns;	/* all agent connections */
	int		 max_unauth;	/* connections not yet authenticated */
	int		 max_unauth_per_addr;	/* the same, from one IPv4 address or IPv6 /64 */
	int		 keepalive;	/* seconds; dead agent noticed after ~4x */
	size_t		 stream_buffer;	/* bytes buffered per stream direction */
};

/* What the limits refused or dropped, since start (for metrics). */
struct sshd_stats {
	unsigned long long	 dropped_addr;	/* oldest pending of a full address */
	unsigned long long	 dropped_pool;	/* oldest pending of a full pool */
	unsigned long long	 login_timeouts;	/* not logged in by the deadline */
	unsigned long long	 refused_full;	/* max_conns reached: newcomer refused */
	unsigned long long	 leave_lines;	/* reasons read on activity channels */
};

/* What an agent presents to enroll (tunnel/PROTOCOL section 7). */
struct sshd_enroll {
	const char	*user;		/* route name */
	const char	*secret;	/* the one-time enrollment secret */
	ssh_key		 key;		/* the agent's own new public key */
	const char	*job;		/* batch job id the agent runs in, or NULL */
	const char	*token;		/* the notebook's token, or NULL */
	const char	*addr;		/* the agent's IP address, as the gateway sees it */
	struct sshd_conn *conn;		/* its connection, for sshd_conn_hold() */
};

struct sshd_hooks {
	/*
	 * May the agent logging in as @user (a route name, "alice" or
	 * "alice/lab") use public key @key?  Returns the daemon's route
	 * object, or NULL to refuse.  Called for the key query (the answer
	 * only decides whether the client may go on to sign) and again for
	 * the verified signature (the route returned is the one used); never
	 * for a bad signature.  @key is borrowed for the call.
	 */
	void	*(*auth)(const char *user, ssh_key key, void *arg);
	/*
	 * Optional: an agent enrolls with a one-time secret instead of a key.
	 * Returns the route (as auth does, released the same way) after
	 * binding the agent's key to it, or NULL with *why (allocated).
	 */
	void	*(*enroll)(const struct sshd_enroll *, char **why, void *arg);
	/* The agent for @route was granted its forward: the tunnel is live. */
	void	 (*up)(struct tunnel *, void *route, void *arg);
	/* The tunnel is gone (agent left, died, or was kicked). */
	void	 (*down)(struct tunnel *, void *route, const char *why, void *arg);
	/*
	 * Optional.  The agent said why it is leaving (protocol 3): text,
	 * sanitized, NUL-terminated.  Called at most once per tunnel, just
	 * before its down hook, and only for a tunnel the up hook saw.  @why
	 * is borrowed for the call: not empty, valid UTF-8, at most 2048
	 * bytes, no control characters but newline and tab.  It is the
	 * agent's word, to show its user, never to act on.
	 */
	void	 (*exit)(struct tunnel *, void *route, const char *why, void *arg);
	/*
	 * Optional.  The agent reported what its notebook and job are doing
	 * (protocol 4): @a is borrowed for the call, decoded and range
	 * checked, otherwise the agent's word.  Only between up and down;
	 * without this hook agents' activity channels are refused.
	 */
	void	 (*activity)(struct tunnel *, void *route, const struct activity *a,
		     void *arg);
	/*
	 * Optional: the sshd is done with a route auth() returned: at once
	 * for the key query's answer, or when the connection that logged in
	 * with it is freed (after down).  Once per non-NULL auth() result,
	 * so a reference taken in auth() can be dropped here.
	 */
	void	 (*release)(void *route, void *arg);
	/*
	 * Optional: a connection held with sshd_conn_hold() closed before
	 * sshd_conn_unhold(); @cookie is the hold's, the connection is gone.
	 */
	void	 (*hold_gone)(void *cookie, void *arg);
};

/* sshd.c */
struct sshd	*sshd_new(struct event_base *, const struct sshd_settings *,
		     const struct sshd_hooks *, void *, char **);
int		 sshd_listen(struct sshd *, const char *, char **);
int		 sshd_port(struct sshd *);
const char	*sshd_fingerprint(struct sshd *);	/* "SHA256:..." of the host key */
void		 sshd_set_settings(struct sshd *, const struct sshd_settings *);
unsigned int	 sshd_count(struct sshd *);		/* live agent connections */
const struct sshd_stats *sshd_stats(struct sshd *);
/* Enrollment checked later (see the hold_gone hook): no up until unheld; why: close. */
void		 sshd_conn_hold(struct sshd_conn *, void *);
void		 sshd_conn_unhold(struct sshd_conn *, const char *);
void		 sshd_free(struct sshd *);

/* tunnel.c */
/*
 * Called once per tunnel_connect(): @bev is the caller's end of a stream to
 * the notebook (caller frees it; to end the stream cleanly call
 * tunnel_stream_close()), or NULL with @err saying why (502 material).
 */
typedef void (*tunnel_connect_cb)(struct bufferevent *bev, const char *err, void *arg);
struct tunnel_req *tunnel_connect(struct tunnel *, const char *, int,
		     tunnel_connect_cb, void *);
void		 tunnel_req_cancel(struct tunnel_req *);
void		 tunnel_stream_close(struct bufferevent *);
/*
 * A WebSocket after its 101: tunnel_stream_splice() drops the bufferevent
 * pair between @up (a tunnel_connect() stream) and the channel and relays
 * the channel to the browser's socket @fd (TLS through @ssl, or plain when
 * NULL) directly.  It takes @fd and @ssl (closed and freed with the
 * stream) and the bytes in @to_channel (browser bytes already read) and
 * @to_socket (bytes for the browser not yet written): the caller frees its
 * bufferevent without closing either.  No bytes either way for @idle
 * seconds (0: no limit) ends it.  NULL, and nothing taken, if @up is
 * not a tunnel stream or one side already ended.  The caller ends it with
 * tunnel_splice_close(); @gone runs (from the loop, at most once, never
 * after tunnel_splice_close()) when the notebook side ends, the browser
 * goes, or the agent goes; @traffic hears of the bytes moved (up, down).
 */
struct tunnel_stream;
typedef void (*tunnel_gone_cb)(void *);
typedef void (*tunnel_traffic_cb)(size_t, size_t, void *);
struct tunnel_stream *tunnel_stream_splice(struct bufferevent *, evutil_socket_t,
		     SSL *, struct evbuffer *, struct evbuffer *, int, tunnel_gone_cb,
		     tunnel_traffic_cb, void *);
void		 tunnel_splice_close(struct tunnel_stream *);
void		 tunnel_kick(struct tunnel *, const char *);
const char	*tunnel_peer(struct tunnel *);	/* "addr:port" of the agent */
unsigned int	 tunnel_streams(struct tunnel *);

/* Internal to tunnel/: how sshd.c and tunnel.c talk to each other. */
struct sshd_conn;
struct sshio;
struct event_base;
struct tunnel	*tunnel_new(struct event_base *, struct sshd_conn *, ssh_session,
		     struct sshio *, const char *, int, const char *, size_t);
void		 tunnel_service(struct tunnel *);
void		 tunnel_abort(struct tunnel *);
void		 tunnel_free(struct tunnel *);
void		 sshd_conn_kick(struct sshd_conn *, const char *);

#endif
