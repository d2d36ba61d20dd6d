/*
 * sshd.c: the SSH server embedded in the gateway that agents dial: host key,
 * listener, per-connection key exchange, publickey auth, the one
 * tcpip-forward request per connection, limits, keepalive, the agent's
 * activity reports, the reason an agent gives for leaving, and teardown.  Connections not yet logged in are
 * pending: capped per address and in all, an oldest pending one giving way to
 * a newcomer, and each has an absolute login deadline from accept.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <libssh/libssh.h>
#include <libssh/callbacks.h>
#include <libssh/server.h>

#include "common/common.h"
#include "tunnel/tunnel.h"

#define SSHD_MAX_REFUSALS	10	/* auth attempts before we hang up */
#define SSHD_NAME_MAX		64	/* logged bytes of a peer-chosen name */
#define SSHD_WHY_MAX		256	/* bytes of a disconnect reason logged */
#define SSHD_EXIT_MAX		2048	/* bytes of a leaving reason kept */
/* How libssh 0.10 reports the peer's SSH_MSG_DISCONNECT in ssh_get_error(). */
#define SSHD_DISCONNECT		"Received SSH_MSG_DISCONNECT: "
#define SSHD_EXIT_TAG		"nbgate-exit/1 "	/* tunnel/PROTOCOL 8 */

enum conn_state { CONN_KEX, CONN_AUTH, CONN_AUTHED };

/* Whose connection it is, for the per-address cap: IPv4, or an IPv6 /64. */
struct sshd_addr {
	int		 family;
	unsigned char	 bytes[8];
};

struct sshd_conn {
	struct sshd		*sshd;
	TAILQ_ENTRY(sshd_conn)	 entry;
	TAILQ_ENTRY(sshd_conn)	 pentry;	/* in sd->pending, oldest first */
	int			 pending;
	struct sshd_addr	 addr;
	ssh_session		 s;
	struct sshio		*io;
	char			*peer;		/* "addr:port" */
	char			*ip;		/* the agent's IP address as text */
	char			*name;		/* "peer: route alice" for logs */
	enum conn_state		 state;
	void			*route;
	struct tunnel		*tun;
	int			 up_pending;
	int			 up_sent;
	int			 refusals;
	int			 closing;
	int			 quiet;		/* dropped for room: logged by the dropper */
	void			*hold;		/* enrollment being checked: no up yet */
	char			*why;
	char			*exit_why;	/* the agent's reason (protocol 3) */
	ssh_channel		 act;		/* its activity reports (protocol 4) */
	struct evbuffer		*act_in;	/* reports not yet handed on */
	int			 act_eof;	/* the agent closed it (CHANNEL_CLOSE) */
	struct ssh_channel_callbacks_struct act_cb;
	struct event		*login_timer;
	struct event		*ka_timer;
	struct event		*reap;
	struct ssh_server_callbacks_struct scb;
};

struct sshd {
	struct event_base	*base;
	struct sshd_settings	 settings;
	char			*host_key;
	struct sshd_hooks	 hooks;
	void			*arg;
	ssh_bind		 bind;
	struct evconnlistener	*lev;
	char			*fingerprint;
	int			 port;
	unsigned int		 nconns;
	unsigned int		 npending;	/* not logged in, not closing */
	unsigned int		 next_port;
	struct sshd_stats	 stats;
	time_t			 drop_logged;	/* second of the last drop logged */
	unsigned int		 drop_quiet;	/* drops not logged since */
	TAILQ_HEAD(, sshd_conn)	 conns;
	TAILQ_HEAD(, sshd_conn)	 pending;
};

static void	conn_destroy(struct sshd_conn *);
static void	conn_service(void *);

/* "SHA256:..." of @key, as ssh-keygen -l prints it; caller frees. */
static char *
sshd_key_fp(ssh_key key)
{
	unsigned char	*hash = NULL;
	size_t		 hlen;
	char		*fp, *out;

	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &hlen) != SSH_OK)
		return (xstrdup("SHA256:?"));
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	ssh_clean_pubkey_hash(&hash);
	out = xstrdup(fp != NULL ? fp : "SHA256:?");
	ssh_string_free_char(fp);
	return (out);
}

/* A peer-chosen name made safe for one log line; caller frees. */
static char *
sshd_clean(const char *s)
{
	size_t	 i, n = strlen(s);
	char	*out;

	if (n > SSHD_NAME_MAX)
		n = SSHD_NAME_MAX;
	out = xstrndup(s, n);
	for (i = 0; i < n; i++) {
		if (out[i] < 0x20 || out[i] > 0x7e || out[i] == '\'')
			out[i] = '?';
	}
	return (out);
}

/* Peer-supplied text as one safe log line of at most @max bytes; caller frees. */
static char *
sshd_line(const char *s, size_t max)
{
	char	*out = tunclient_reason_clean(s, max), *p;

	for (p = out; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	}
	return (out);
}

static int
sshd_write_pub(const char *path, ssh_key key, char **cause)
{
	char	*b64 = NULL, *line = NULL, *pubpath = NULL;
	int	 rv = -1;

	if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
		xasprintf(cause, "%s: cannot encode public key", path);
		goto out;
	}
	xasprintf(&line, "%s %s nbgate-gateway\n",
	    ssh_key_type_to_char(ssh_key_type(key)), b64);
	xasprintf(&pubpath, "%s.pub", path);
	rv = util_write_file(pubpath, line, strlen(line), 0644, cause);
out:
	ssh_string_free_char(b64);
	free(line);
	free(pubpath);
	return (rv);
}

static ssh_key
sshd_generate_key(const char *path, char **cause)
{
	ssh_key	 key = NULL;
	char	*b64 = NULL, *dir = xstrdup(path), *slash;

	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (util_mkdir_p(dir, 0700, cause) != 0)
			goto out;
	}
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
		fatalx("cannot generate an ed25519 key");
	if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &b64) != SSH_OK ||
	    util_write_file(path, b64, strlen(b64), 0600, cause) != 0) {
		if (*cause == NULL)
			xasprintf(cause, "%s: cannot encode host key", path);
		ssh_key_free(key);
		key = NULL;
		goto out;
	}
	log_info("ssh: generated host key %s", path);
out:
	freestr(b64);
	free(dir);
	return (key);
}

static ssh_key
sshd_load_key(const char *path, char **cause)
{
	ssh_key	key = NULL;

	if (access(path, F_OK) != 0) {
		if (errno != ENOENT) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			return (NULL);
		}
		if ((key = sshd_generate_key(path, cause)) == NULL)
			return (NULL);
	} else if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL,
	    &key) != SSH_OK) {
		xasprintf(cause, "%s: cannot read the host key", path);
		return (NULL);
	}
	if (sshd_write_pub(path, key, cause) != 0) {
		ssh_key_free(key);
		return (NULL);
	}
	return (key);
}

/* Loads (or creates) the host key and prepares the server; no socket yet. */
struct sshd *
sshd_new(struct event_base *base, const struct sshd_settings *settings,
    const struct sshd_hooks *hooks, void *arg, char **cause)
{
	struct sshd	*sd = xcalloc(1, sizeof *sd);
	ssh_key		 key;
	bool		 no = false;
	int		 verbosity = 0;
	const char	*ciphers;

	sd->base = base;
	sd->hooks = *hooks;
	sd->arg = arg;
	TAILQ_INIT(&sd->conns);
	TAILQ_INIT(&sd->pending);
	sshd_set_settings(sd, settings);
	if ((key = sshd_load_key(sd->host_key, cause)) == NULL)
		goto fail;
	sd->fingerprint = sshd_key_fp(key);
	if ((sd->bind = ssh_bind_new()) == NULL)
		fatalx("ssh_bind_new failed");
	if (ssh_bind_options_set(sd->bind, SSH_BIND_OPTIONS_PROCESS_CONFIG,
	    &no) != SSH_OK ||
	    ssh_bind_options_set(sd->bind, SSH_BIND_OPTIONS_LOG_VERBOSITY,
	    &verbosity) != SSH_OK ||
	    ssh_bind_options_set(sd->bind, SSH_BIND_OPTIONS_IMPORT_KEY,
	    key) != SSH_OK) {		/* key transferred */
		xasprintf(cause, "ssh server setup: %s", ssh_get_error(sd->bind));
		goto fail;
	}
	if ((ciphers = sshio_ciphers_server()) != NULL &&
	    (ssh_bind_options_set(sd->bind, SSH_BIND_OPTIONS_CIPHERS_C_S, ciphers) != SSH_OK ||
	    ssh_bind_options_set(sd->bind, SSH_BIND_OPTIONS_CIPHERS_S_C, ciphers) != SSH_OK)) {
		xasprintf(cause, "ssh server ciphers: %s", ssh_get_error(sd->bind));
		goto fail;
	}
	sd->next_port = 10000 + (unsigned int)(arc4random() % 20000);
	return (sd);
fail:
	sshd_free(sd);
	return (NULL);
}

/* Replaces the limits (config reload); applies to new connections. */
void
sshd_set_settings(struct sshd *sd, const struct sshd_settings *settings)
{
	free(sd->host_key);
	sd->settings = *settings;
	sd->host_key = xstrdup(settings->host_key);
	sd->settings.host_key = sd->host_key;
}

/* The bound port (useful after listening on port 0). */
int
sshd_port(struct sshd *sd)
{
	return (sd->port);
}

/* "SHA256:..." of the host key, for agents to pin. */
const char *
sshd_fingerprint(struct sshd *sd)
{
	return (sd->fingerprint);
}

/* Live agent connections, authenticated or not. */
unsigned int
sshd_count(struct sshd *sd)
{
	return (sd->nconns);
}

/* Connections refused or dropped by the limits, since start. */
const struct sshd_stats *
sshd_stats(struct sshd *sd)
{
	return (&sd->stats);
}

static void
sshd_addr_of(const struct sockaddr *sa, struct sshd_addr *a)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;

	memset(a, 0, sizeof *a);
	a->family = sa->sa_family;
	if (sa->sa_family == AF_INET)
		memcpy(a->bytes, &sin->sin_addr, 4);
	else if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		a->family = AF_INET;
		memcpy(a->bytes, &sin6->sin6_addr.s6_addr[12], 4);
	} else if (sa->sa_family == AF_INET6)
		memcpy(a->bytes, &sin6->sin6_addr, 8);	/* one site's /64 */
}

/* The IP address of @sa as text ("local" for others); caller frees. */
static char *
sshd_peer_addr(const struct sockaddr *sa)
{
	char	host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET)
		evutil_inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    host, sizeof host);
	else if (sa->sa_family == AF_INET6)
		evutil_inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		    host, sizeof host);
	else
		return (xstrdup("local"));
	return (xstrdup(host));
}

static char *
sshd_peer_name(const struct sockaddr *sa)
{
	char		 host[INET6_ADDRSTRLEN] = "?", *out;
	int		 port = 0;
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET) {
		evutil_inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		port = ntohs(sin->sin_port);
		xasprintf(&out, "%s:%d", host, port);
	} else if (sa->sa_family == AF_INET6) {
		evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		port = ntohs(sin6->sin6_port);
		xasprintf(&out, "[%s]:%d", host, port);
	} else
		out = xstrdup("local");
	return (out);
}

/* @c is no longer pending: it logged in or is going. */
static void
conn_unpend(struct sshd_conn *c)
{
	if (!c->pending)
		return;
	TAILQ_REMOVE(&c->sshd->pending, c, pentry);
	c->pending = 0;
	c->sshd->npending--;
}

/* Schedules the connection's teardown from the loop; safe anywhere. */
static void
conn_close(struct sshd_conn *c, const char *why)
{
	if (c->closing)
		return;
	conn_unpend(c);
	c->closing = 1;
	c->why = xstrdup(why);
	event_active(c->reap, EV_TIMEOUT, 0);
}

/* Disconnects the agent behind @c (tunnel_kick); safe inside hooks. */
void
sshd_conn_kick(struct sshd_conn *c, const char *why)
{
	conn_close(c, why);
}

/*
 * From the enroll hook: @c is authenticated, but its tunnel is not
 * announced (no up hook) until sshd_conn_unhold().  If the connection goes
 * first, the hold_gone hook gets @cookie back.
 */
void
sshd_conn_hold(struct sshd_conn *c, void *cookie)
{
	c->hold = cookie;
}

/* Ends a hold: with @why NULL the tunnel may come up, else @c is closed. */
void
sshd_conn_unhold(struct sshd_conn *c, const char *why)
{
	c->hold = NULL;
	if (why != NULL) {
		conn_close(c, why);
		return;
	}
	if (c->closing)
		return;
	conn_service(c);	/* the up hook, if the forward came already */
	sshio_update(c->io);
}

static void
conn_reap(evutil_socket_t fd, short what, void *arg)
{
	conn_destroy(arg);
}

static void
conn_login_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct sshd_conn	*c = arg;

	if (c->state == CONN_AUTHED || c->closing)
		return;
	log_warnx("ssh: %s: dropped: not logged in %d s after connecting "
	    "(login_timeout)", c->peer, c->sshd->settings.login_timeout);
	c->sshd->stats.login_timeouts++;
	conn_close(c, "login timeout");
}

static void
conn_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct sshd_conn	*c = arg;

	if (c->closing || !sshio_fd_alive(c->io))
		return;
	ssh_send_ignore(c->s, "");	/* not ssh_send_keepalive (pitfall 15) */
	sshio_update(c->io);
}

static void
sshd_release(struct sshd *sd, void *route)
{
	if (route != NULL && sd->hooks.release != NULL)
		sd->hooks.release(route, sd->arg);
}

static int
conn_auth_refused(struct sshd_conn *c, const char *user, ssh_key key,
    const char *what)
{
	char	*u = sshd_clean(user), *fp = sshd_key_fp(key);

	log_warnx("ssh: %s: %s for user '%s' (key %s)", c->peer, what, u, fp);
	free(u);
	free(fp);
	if (++c->refusals >= SSHD_MAX_REFUSALS)
		conn_close(c, "too many authentication attempts");
	return (SSH_AUTH_DENIED);
}

/* The agent proved who it is: bind its route and start the keepalives. */
static void
conn_authed(struct sshd_conn *c, void *route, const char *user, ssh_key key,
    const char *how)
{
	struct sshd	*sd = c->sshd;
	char		*u, *fp;

	c->route = route;
	c->state = CONN_AUTHED;
	conn_unpend(c);
	evtimer_del(c->login_timer);
	u = sshd_clean(user);
	fp = sshd_key_fp(key);
	free(c->name);
	xasprintf(&c->name, "%s: route %s", c->peer, u);
	log_info("ssh: %s: %s (key %s)", c->name, how, fp);
	log_debug("ssh: %s: cipher %s", c->name, ssh_get_cipher_in(c->s));
	free(u);
	free(fp);
	if (sd->settings.keepalive > 0) {
		struct timeval tv = { sd->settings.keepalive, 0 };
		evtimer_add(c->ka_timer, &tv);
	}
}

static int
conn_auth_pubkey(ssh_session s, const char *user, struct ssh_key_struct *key,
    char state, void *arg)
{
	struct sshd_conn	*c = arg;
	struct sshd		*sd = c->sshd;
	void			*route;

	if (c->closing || c->state == CONN_AUTHED)
		return (SSH_AUTH_DENIED);
	if (state != SSH_PUBLICKEY_STATE_NONE &&
	    state != SSH_PUBLICKEY_STATE_VALID)	/* pitfall 2 */
		return (conn_auth_refused(c, user, key, "bad signature"));
	if ((route = sd->hooks.auth(user, key, sd->arg)) == NULL)
		return (conn_auth_refused(c, user, key, "auth refused"));
	if (state == SSH_PUBLICKEY_STATE_NONE) {
		sshd_release(sd, route);	/* only "go on and sign" */
		return (SSH_AUTH_SUCCESS);
	}

	conn_authed(c, route, user, key, "authenticated");
	return (SSH_AUTH_SUCCESS);
}

/*
 * Enrollment: the "password" is one line, "nbgate-enroll/1 SECRET KEYTYPE
 * KEYBASE64 JOB TOKEN" (JOB and TOKEN are "-" when absent).  Any other
 * password is refused like a wrong key.
 */
static int
conn_auth_password(ssh_session s, const char *user, const char *password, void *arg)
{
	struct sshd_conn	*c = arg;
	struct sshd		*sd = c->sshd;
	struct sshd_enroll	 e;
	char			*copy, *f[7], *save = NULL, *why = NULL, *what;
	ssh_key			 key = NULL;
	void			*route = NULL;
	int			 n = 0, rv;

	if (c->closing || c->state == CONN_AUTHED || sd->hooks.enroll == NULL)
		return (SSH_AUTH_DENIED);
	copy = xstrdup(password);
	for (f[n] = strtok_r(copy, " ", &save); f[n] != NULL && n < 6;
	    f[n] = strtok_r(NULL, " ", &save))
		n++;
	if (n != 6 || strcmp(f[0], "nbgate-enroll/1") != 0 ||
	    ssh_pki_import_pubkey_base64(f[3], ssh_key_type_from_name(f[2]),
	    &key) != SSH_OK) {
		freezero(copy, strlen(password));
		return (conn_auth_refused(c, user, NULL, "password refused"));
	}
	memset(&e, 0, sizeof e);
	e.user = user;
	e.secret = f[1];
	e.key = key;
	e.job = strcmp(f[4], "-") == 0 ? NULL : f[4];
	e.token = strcmp(f[5], "-") == 0 ? NULL : f[5];
	e.addr = c->ip;
	e.conn = c;
	route = sd->hooks.enroll(&e, &why, sd->arg);
	freezero(copy, strlen(password));
	if (route == NULL) {
		xasprintf(&what, "enrollment refused (%s)", why != NULL ? why : "?");
		rv = conn_auth_refused(c, user, key, what);
		free(what);
	} else {
		conn_authed(c, route, user, key, c->hold != NULL ?
		    "enrolling (held: no traffic until its claim is checked)" :
		    "enrolled");
		rv = SSH_AUTH_SUCCESS;
	}
	free(why);
	ssh_key_free(key);
	return (rv);
}

static void
conn_forward(struct sshd_conn *c, ssh_message msg)
{
	struct sshd	*sd = c->sshd;
	const char	*addr = ssh_message_global_request_address(msg);
	int		 port = ssh_message_global_request_port(msg);

	if (c->state != CONN_AUTHED || c->tun != NULL || c->closing ||
	    port < 0 || port > 65535) {
		log_warnx("ssh: %s: forward refused", c->name);
		ssh_message_reply_default(msg);
		return;
	}
	if (addr == NULL)
		addr = "";
	if (port == 0)
		port = (int)(sd->next_port++ % 50000) + 10000;
	ssh_message_global_request_reply_success(msg, (uint16_t)port);
	/* Channel opens carry addr as sent and this port (pitfall 1). */
	c->tun = tunnel_new(sd->base, c, c->s, c->io, addr, port, c->peer,
	    sd->settings.stream_buffer);
	c->up_pending = 1;
	log_info("ssh: %s: forward granted", c->name);
}

static void
conn_global_request(ssh_session s, ssh_message msg, void *arg)
{
	struct sshd_conn	*c = arg;

	switch (ssh_message_subtype(msg)) {
	case SSH_GLOBAL_REQUEST_TCPIP_FORWARD:
		conn_forward(c, msg);
		break;
	case SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD:
		if (c->tun == NULL) {
			ssh_message_reply_default(msg);
			break;
		}
		ssh_message_global_request_reply_success(msg, 0);
		conn_close(c, "agent cancelled the forward");
		break;
	default:
		ssh_message_reply_default(msg);	/* keepalive@openssh.com etc. */
		break;
	}
}

/*
 * Protocol 4 (tunnel/PROTOCOL section 9): the one "direct-tcpip" channel an
 * agent may open is to ACTIVITY_HOST, once its tunnel is up, for reports.
 * 0: taken; 1: refused (libssh's default answer).
 */
/*
 * The channel's bytes, taken in libssh's callback (reading the channel
 * ourselves would poll the session from outside sshio); a little more than
 * a report is kept, the rest is for conn_act_read() to refuse.
 */
static int
conn_act_data(ssh_session s, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *arg)
{
	struct sshd_conn	*c = arg;

	if (evbuffer_get_length(c->act_in) <= ACTIVITY_LEAVE_MAX + 2)
		evbuffer_add(c->act_in, data, len);
	return ((int)len);
}

static void
conn_act_closed(ssh_session s, ssh_channel ch, void *arg)
{
	((struct sshd_conn *)arg)->act_eof = 1;
}

static int
conn_act_open(struct sshd_conn *c, ssh_message msg)
{
	const char	*host = ssh_message_channel_request_open_destination(msg);

	if (host == NULL || strcmp(host, ACTIVITY_HOST) != 0 || c->tun == NULL ||
	    c->act != NULL || c->closing || c->sshd->hooks.activity == NULL)
		return (1);
	if ((c->act = ssh_message_channel_request_open_reply_accept(msg)) == NULL)
		return (0);
	c->act_in = evbuffer_new();
	c->act_eof = 0;
	memset(&c->act_cb, 0, sizeof c->act_cb);
	c->act_cb.userdata = c;
	c->act_cb.channel_data_function = conn_act_data;
	c->act_cb.channel_close_function = conn_act_closed;
	ssh_callbacks_init(&c->act_cb);
	ssh_set_channel_callbacks(c->act, &c->act_cb);
	log_debug("ssh: %s: activity channel open", c->name);
	return (0);
}

/* Drops the activity channel (the tunnel stays); @why is logged. */
static void
conn_act_close(struct sshd_conn *c, const char *why)
{
	if (c->act == NULL)
		return;
	if (why != NULL)
		log_warnx("ssh: %s: activity channel closed: %s", c->name, why);
	ssh_remove_channel_callbacks(c->act, &c->act_cb);
	/*
	 * Closed by the agent: freed without a word (closing would flush,
	 * polling the session from here and maybe eating its DISCONNECT).
	 */
	ssh_channel_free(c->act);
	c->act = NULL;
	evbuffer_free(c->act_in);
	c->act_in = NULL;
}

/*
 * Keeps the reason of a leaving line (section 9) like one from the agent's
 * DISCONNECT (section 8), which follows it but can be lost: libssh 0.10
 * writes its queued output after reading a DISCONNECT in the same poll,
 * on the closed socket, and that error replaces the DISCONNECT's text.
 */
static void
conn_act_leave(struct sshd_conn *c, char *raw)
{
	char	*why = tunclient_reason_clean(raw, SSHD_EXIT_MAX);

	free(raw);
	if (c->exit_why == NULL && *why != '\0') {
		c->exit_why = why;
		c->sshd->stats.leave_lines++;
		log_debug("ssh: %s: the agent says why it leaves", c->name);
	} else
		free(why);
}

/* Hands on the whole reports the activity channel brought. */
static void
conn_act_read(struct sshd_conn *c)
{
	struct sshd	*sd = c->sshd;
	struct activity	 a;
	char		*line, *raw;
	size_t		 len, tag = strlen(ACTIVITY_LEAVE_TAG), left;
	int		 rc;

	while ((line = evbuffer_readln(c->act_in, &len, EVBUFFER_EOL_LF)) != NULL) {
		if ((rc = activity_leave_decode(line, len, &raw)) == 1) {
			free(line);
			conn_act_leave(c, raw);
			continue;
		}
		if (rc != 0 || activity_decode(line, len, &a) != 0) {
			free(line);
			conn_act_close(c, "not an activity report");
			return;
		}
		free(line);
		if (c->up_sent)
			sd->hooks.activity(c->tun, c->route, &a, sd->arg);
	}
	left = evbuffer_get_length(c->act_in);
	if (left > ACTIVITY_LEAVE_MAX || (left > ACTIVITY_LINE_MAX &&
	    evbuffer_search(c->act_in, ACTIVITY_LEAVE_TAG, tag, NULL).pos != 0))
		conn_act_close(c, "a report too long");
	else if (c->act_eof)
		conn_act_close(c, NULL);
}

/*
 * Every request no server callback took comes here.  Global requests are
 * taken as messages rather than through global_request_function: libssh
 * 0.10 frees a message it handed to that callback without its bind address
 * (ten bytes lost per agent login); a message callback's message is freed
 * whole.  0: answered; 1: libssh gives its default answer (refusal), as it
 * did before for everything else.
 */
static int
conn_message(ssh_session s, ssh_message msg, void *arg)
{
	if (ssh_message_type(msg) == SSH_REQUEST_CHANNEL_OPEN &&
	    ssh_message_subtype(msg) == SSH_CHANNEL_DIRECT_TCPIP)
		return (conn_act_open(arg, msg));
	if (ssh_message_type(msg) != SSH_REQUEST_GLOBAL)
		return (1);
	conn_global_request(s, msg, arg);
	return (0);
}

/* After every poll: key exchange, the up hook, the tunnel's pending work. */
static void
conn_service(void *arg)
{
	struct sshd_conn	*c = arg;
	struct sshd		*sd = c->sshd;
	int			 rc;

	if (c->closing)
		return;
	if (c->state == CONN_KEX) {
		if ((rc = ssh_handle_key_exchange(c->s)) == SSH_ERROR) {
			log_warnx("ssh: %s: key exchange failed: %s", c->peer,
			    ssh_get_error(c->s));
			conn_close(c, "key exchange failed");
			return;
		}
		if (rc == SSH_OK)
			c->state = CONN_AUTH;
	}
	if (c->up_pending && c->hold == NULL) {
		c->up_pending = 0;
		c->up_sent = 1;
		sd->hooks.up(c->tun, c->route, sd->arg);
	}
	if (c->tun != NULL && !c->closing)
		tunnel_service(c->tun);
	if (c->act != NULL && !c->closing)
		conn_act_read(c);
}

/*
 * Protocol 3 (tunnel/PROTOCOL section 8): an agent leaving on purpose puts
 * its reason in its SSH_MSG_DISCONNECT, which libssh 0.10 hands over only
 * inside the session's error text (at most 1023 bytes of it).  Keeps the
 * reason, cleaned, if there is one.
 */
static void
conn_note_exit(struct sshd_conn *c)
{
	const char	*err = ssh_get_error(c->s), *p;
	char		*why;

	if (c->exit_why != NULL || err == NULL ||
	    strncmp(err, SSHD_DISCONNECT, strlen(SSHD_DISCONNECT)) != 0)
		return;
	p = err + strlen(SSHD_DISCONNECT);
	p += strspn(p, "0123456789");
	if (*p++ != ':' ||
	    strncmp(p, SSHD_EXIT_TAG, strlen(SSHD_EXIT_TAG)) != 0)
		return;
	why = tunclient_reason_clean(p + strlen(SSHD_EXIT_TAG), SSHD_EXIT_MAX);
	if (*why == '\0') {
		free(why);
		return;
	}
	c->exit_why = why;
}

static void
conn_dead(void *arg)
{
	struct sshd_conn	*c = arg;
	const char		*err = ssh_get_error(c->s);
	char			*first, *line, *why;

	if (c->act != NULL)
		conn_act_read(c);	/* its reason may be there (section 9) */
	if (c->tun != NULL)
		conn_note_exit(c);	/* no tunnel yet: nobody to tell */
	if (c->exit_why != NULL) {
		first = xstrndup(c->exit_why, strcspn(c->exit_why, "\n"));
		line = sshd_line(first, SSHD_WHY_MAX);
		xasprintf(&why, "the agent left: %s", line);
		free(first);
		free(line);
	} else if (err != NULL && *err != '\0')
		why = sshd_line(err, SSHD_WHY_MAX);	/* may quote the peer */
	else
		why = xstrdup("connection closed");
	conn_close(c, why);
	free(why);
}

static void
conn_destroy(struct sshd_conn *c)
{
	struct sshd	*sd = c->sshd;
	const char	*why = c->why != NULL ? c->why : "closed";

	if (c->tun != NULL) {
		tunnel_abort(c->tun);
		if (c->up_sent && c->exit_why != NULL && sd->hooks.exit != NULL)
			sd->hooks.exit(c->tun, c->route, c->exit_why, sd->arg);
		if (c->up_sent)
			sd->hooks.down(c->tun, c->route, why, sd->arg);
		tunnel_free(c->tun);
	}
	if (c->hold != NULL && sd->hooks.hold_gone != NULL)
		sd->hooks.hold_gone(c->hold, sd->arg);
	c->hold = NULL;
	sshd_release(sd, c->route);
	if (c->quiet)
		log_debug("ssh: %s: disconnected: %s", c->name, why);
	else
		log_info("ssh: %s: disconnected: %s", c->name, why);
	sshio_free(c->io);	/* drop the events before the fd goes */
	if (c->act != NULL) {
		ssh_channel_free(c->act);
		evbuffer_free(c->act_in);
	}
	sshio_close_session(c->s);
	conn_unpend(c);
	TAILQ_REMOVE(&sd->conns, c, entry);
	sd->nconns--;
	event_free(c->login_timer);
	event_free(c->ka_timer);
	event_free(c->reap);
	free(c->peer);
	free(c->ip);
	free(c->name);
	free(c->why);
	free(c->exit_why);
	free(c);
}

static struct sshd_conn *
conn_new(struct sshd *sd, char *peer, const struct sshd_addr *addr, char *ip)
{
	struct sshd_conn	*c = xcalloc(1, sizeof *c);

	c->sshd = sd;
	c->peer = peer;			/* transferred */
	c->ip = ip;			/* transferred */
	c->name = xstrdup(peer);
	c->addr = *addr;
	c->state = CONN_KEX;
	c->login_timer = evtimer_new(sd->base, conn_login_timeout, c);
	c->ka_timer = event_new(sd->base, -1, EV_PERSIST, conn_keepalive, c);
	c->reap = event_new(sd->base, -1, 0, conn_reap, c);
	if (c->login_timer == NULL || c->ka_timer == NULL || c->reap == NULL)
		fatalx("event_new failed");

	c->scb.userdata = c;
	c->scb.auth_pubkey_function = conn_auth_pubkey;
	c->scb.auth_password_function = conn_auth_password;
	ssh_callbacks_init(&c->scb);

	TAILQ_INSERT_TAIL(&sd->conns, c, entry);
	sd->nconns++;
	TAILQ_INSERT_TAIL(&sd->pending, c, pentry);
	c->pending = 1;
	sd->npending++;
	return (c);
}

/* Hands the accepted socket to libssh and starts a non-blocking key exchange. */
static int
conn_start(struct sshd_conn *c, int fd, char **cause)
{
	struct sshd	*sd = c->sshd;
	struct timeval	 tv = { sd->settings.login_timeout, 0 };

	if ((c->s = ssh_new()) == NULL)
		fatalx("ssh_new failed");
	if (ssh_bind_accept_fd(sd->bind, c->s, fd) != SSH_OK) {
		xasprintf(cause, "accept: %s", ssh_get_error(sd->bind));
		return (-1);
	}
	ssh_set_server_callbacks(c->s, &c->scb);
	ssh_set_message_callback(c->s, conn_message, c);
	ssh_set_auth_methods(c->s, sd->hooks.enroll != NULL ?
	    SSH_AUTH_METHOD_PUBLICKEY | SSH_AUTH_METHOD_PASSWORD :
	    SSH_AUTH_METHOD_PUBLICKEY);
	ssh_set_blocking(c->s, 0);
	if (ssh_handle_key_exchange(c->s) == SSH_ERROR) {
		xasprintf(cause, "key exchange: %s", ssh_get_error(c->s));
		return (-1);
	}
	c->io = sshio_new(sd->base, c->s, conn_service, conn_dead, c);
	if (sshio_attach(c->io, cause) != 0)
		return (-1);
	if (sd->settings.login_timeout > 0)
		evtimer_add(c->login_timer, &tv);
	return (0);
}

/* Pending connections sorted by address, then age (qsort). */
struct sshd_cand {
	struct sshd_addr	 addr;
	unsigned int		 seq;		/* 0: the oldest pending */
	struct sshd_conn	*c;
};

static int
sshd_cand_cmp(const void *a1, const void *b1)
{
	const struct sshd_cand	*a = a1, *b = b1;
	int			 d = memcmp(&a->addr, &b->addr, sizeof a->addr);

	if (d != 0)
		return (d);
	return (a->seq < b->seq ? -1 : a->seq > b->seq);
}

/*
 * The pool's victim: the oldest pending connection of the address that
 * holds the most (of those, the one waiting longest).  An agent alone on
 * its address is never the victim while another address holds two, so an
 * attacker replacing each dropped connection at once only drops his own.
 */
static struct sshd_conn *
sshd_pool_victim(struct sshd *sd)
{
	struct sshd_cand	*v = xcalloc(sd->npending, sizeof *v);
	struct sshd_conn	*c, *best = NULL;
	unsigned int		 i = 0, j, run, best_run = 0, best_seq = 0;

	TAILQ_FOREACH(c, &sd->pending, pentry) {
		v[i].addr = c->addr;
		v[i].seq = i;
		v[i].c = c;
		i++;
	}
	qsort(v, i, sizeof *v, sshd_cand_cmp);
	for (j = 0; j < i; j += run) {
		for (run = 1; j + run < i && memcmp(&v[j].addr,
		    &v[j + run].addr, sizeof v[j].addr) == 0; run++)
			;
		if (best == NULL || run > best_run ||
		    (run == best_run && v[j].seq < best_seq)) {
			best = v[j].c;
			best_run = run;
			best_seq = v[j].seq;
		}
	}
	free(v);
	return (best);
}

/* One line a second at most: a flood must not flood the log too. */
static void
sshd_log_drop(struct sshd *sd, struct sshd_conn *victim, const char *peer,
    unsigned int n, const char *where, const char *limit)
{
	time_t	now = time(NULL);

	if (now == sd->drop_logged) {
		sd->drop_quiet++;
		return;
	}
	if (sd->drop_quiet > 0)
		log_warnx("ssh: %u more connections not logged in were dropped "
		    "to make room (not logged one by one)", sd->drop_quiet);
	log_warnx("ssh: %s: dropped to make room for %s: %u connections not "
	    "logged in%s (%s)", victim->peer, peer, n, where, limit);
	sd->drop_logged = now;
	sd->drop_quiet = 0;
}

/*
 * Room for one more pending connection from @a: when its address holds its
 * cap of pending connections, that address's oldest is dropped; when all
 * addresses together hold theirs, sshd_pool_victim() is.  A logged-in agent
 * is never pending, so never dropped.
 */
static void
sshd_make_room(struct sshd *sd, const struct sshd_addr *a, const char *peer)
{
	struct sshd_conn	*c, *oldest = NULL;
	unsigned int		 n = 0;
	int			 per = sd->settings.max_unauth_per_addr;

	TAILQ_FOREACH(c, &sd->pending, pentry) {
		if (memcmp(&c->addr, a, sizeof *a) != 0)
			continue;
		if (oldest == NULL)
			oldest = c;
		n++;
	}
	if (per > 0 && n >= (unsigned int)per) {
		sshd_log_drop(sd, oldest, peer, n, " from one address",
		    "max_unauthenticated_per_address");
		sd->stats.dropped_addr++;
		oldest->quiet = 1;
		conn_close(oldest, "too many connections not logged in from "
		    "one address");
	}
	if (sd->settings.max_unauth > 0 &&
	    sd->npending >= (unsigned int)sd->settings.max_unauth) {
		oldest = sshd_pool_victim(sd);
		sshd_log_drop(sd, oldest, peer, sd->npending, "",
		    "max_unauthenticated");
		sd->stats.dropped_pool++;
		oldest->quiet = 1;
		conn_close(oldest, "too many connections not logged in");
	}
}

static void
sshd_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct sshd		*sd = arg;
	struct sshd_conn	*c;
	struct sshd_addr	 a;
	char			*peer = sshd_peer_name(sa), *cause = NULL;

	if (sd->settings.max_conns > 0 &&
	    sd->nconns >= (unsigned int)sd->settings.max_conns) {
		log_warnx("ssh: %s: refused: %u connections (max_connections)",
		    peer, sd->nconns);
		sd->stats.refused_full++;
		goto drop;
	}
	sshd_addr_of(sa, &a);
	sshd_make_room(sd, &a, peer);
	util_set_nodelay(fd);				/* pitfall 10 */
	if (sd->settings.keepalive > 0)
		util_set_keepalive(fd, sd->settings.keepalive);
	log_debug("ssh: %s: connected", peer);
	c = conn_new(sd, peer, &a, sshd_peer_addr(sa));	/* peer, ip transferred */
	if (conn_start(c, fd, &cause) != 0) {
		log_warnx("ssh: %s: %s", c->peer, cause);
		free(cause);
		if (c->s != NULL && ssh_get_fd(c->s) == SSH_INVALID_SOCKET)
			close(fd);
		c->closing = 1;
		c->why = xstrdup("setup failed");
		conn_destroy(c);
	}
	return;
drop:
	free(peer);
	close(fd);
}

/* Listens on "host:port" ("127.0.0.1:0" picks a free port). */
int
sshd_listen(struct sshd *sd, const char *hostport, char **cause)
{
	struct evutil_addrinfo	 hints, *ai = NULL;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof ss;
	char			*host = NULL, portstr[16];
	int			 port, rc, rv = -1;

	if (util_parse_hostport(hostport, &host, &port, cause) != 0)
		return (-1);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG;
	snprintf(portstr, sizeof portstr, "%d", port);
	rc = evutil_getaddrinfo(*host != '\0' ? host : NULL, portstr, &hints, &ai);
	if (rc != 0) {
		xasprintf(cause, "%s: %s", hostport, evutil_gai_strerror(rc));
		goto out;
	}
	sd->lev = evconnlistener_new_bind(sd->base, sshd_accept, sd,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, ai->ai_addr, (int)ai->ai_addrlen);
	if (sd->lev == NULL) {
		xasprintf(cause, "listen %s: %s", hostport, strerror(errno));
		goto out;
	}
	if (getsockname(evconnlistener_get_fd(sd->lev), (struct sockaddr *)&ss,
	    &sslen) == 0)
		sd->port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	log_info("ssh: listening on %s (port %d, host key %s)", hostport,
	    sd->port, sd->fingerprint);
	rv = 0;
out:
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	free(host);
	return (rv);
}

/* Drops every agent (down hooks run) and frees the server. */
void
sshd_free(struct sshd *sd)
{
	struct sshd_conn	*c;

	if (sd == NULL)
		return;
	if (sd->lev != NULL)
		evconnlistener_free(sd->lev);
	while ((c = TAILQ_FIRST(&sd->conns)) != NULL) {
		if (!c->closing) {
			c->closing = 1;
			c->why = xstrdup("gateway shutting down");
		}
		conn_destroy(c);
	}
	if (sd->bind != NULL)
		ssh_bind_free(sd->bind);
	free(sd->fingerprint);
	free(sd->host_key);
	free(sd);
}
