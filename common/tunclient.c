/*
 * tunclient.c: the agent's half of the tunnel: a non-blocking libssh client
 * that dials the gateway, checks its pinned host key, logs in as the route,
 * asks for one forward, pumps each forwarded channel to the notebook, sends
 * activity reports on a channel of its own, and says why when it leaves.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include "common.h"

#define TC_STREAM_BUFFER	(256 * 1024)
#define TC_KEEPALIVE		30	/* seconds, when the config says 0 */
#define TC_LEAVE_MS		1000	/* to say why we leave, at most */
#define TC_LEAVE_TAG		"nbgate-exit/1 "	/* tunnel/PROTOCOL 8 */

enum tc_phase { TC_IDLE, TC_TCP, TC_KEX, TC_AUTH, TC_FWD, TC_UP };
/* The activity channel (tunnel/PROTOCOL section 9), per connection. */
enum tc_act { TC_ACT_NONE, TC_ACT_OPENING, TC_ACT_OPEN, TC_ACT_REFUSED };

/*
 * A forwarded-tcpip open is answered only once the notebook answers: the
 * gateway then hears "refused" (and can say so) instead of an empty stream.
 */
struct tc_stream {
	struct tunclient	*tc;
	TAILQ_ENTRY(tc_stream)	 entry;
	ssh_message		 msg;		/* the open, until answered */
	struct bufferevent	*bev;		/* the notebook, while connecting */
	struct pump		*pump;		/* once open */
};

struct tunclient {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct tunclient_config	 cfg;		/* strings owned */
	tunclient_state_cb	 cb;
	void			*arg;
	enum tc_phase		 phase;
	int			 backoff;	/* seconds before the next retry */
	int			 keepalive;
	ssh_key			 key;
	char			*enroll;	/* the enrollment "password" until used */
	int			 enroll_denied;	/* refused: the gateway may know our key */
	ssh_session		 s;
	struct sshio		*io;
	struct bufferevent	*tcp;		/* TCP connect in progress */
	struct event		*retry;
	struct event		*ka;
	struct event		*reap;
	ssh_channel		 act;		/* activity reports, once open */
	enum tc_act		 act_state;
	char			*why;		/* pending teardown reason */
	enum tunclient_state	 next;		/* DOWN or FAILED after reap */
	TAILQ_HEAD(, tc_stream)	 streams;
};

static void	tc_connect(struct tunclient *);
static void	tc_service(void *);

static void
tc_stream_free(struct tc_stream *st)
{
	TAILQ_REMOVE(&st->tc->streams, st, entry);
	if (st->msg != NULL)
		ssh_message_free(st->msg);
	if (st->bev != NULL)
		bufferevent_free(st->bev);
	pump_free(st->pump);
	free(st);
}

static void
tc_state(struct tunclient *tc, enum tunclient_state st, const char *why)
{
	tc->cb(tc, st, why, tc->arg);
}

/* Schedules teardown of the session; DOWN retries later, FAILED never. */
static void
tc_lost(struct tunclient *tc, enum tunclient_state next, const char *why)
{
	if (tc->why != NULL)
		return;
	tc->why = xstrdup(why);
	tc->next = next;
	event_active(tc->reap, EV_TIMEOUT, 0);
}

static void
tc_teardown(struct tunclient *tc)
{
	struct tc_stream	*st;

	while ((st = TAILQ_FIRST(&tc->streams)) != NULL)
		tc_stream_free(st);
	if (tc->tcp != NULL) {
		evutil_socket_t fd = bufferevent_getfd(tc->tcp);

		bufferevent_free(tc->tcp);
		if (fd != -1)
			evutil_closesocket(fd);
		tc->tcp = NULL;
	}
	if (tc->io != NULL) {
		sshio_free(tc->io);
		tc->io = NULL;
	}
	if (tc->act != NULL)
		ssh_channel_free(tc->act);
	tc->act = NULL;
	tc->act_state = TC_ACT_NONE;
	sshio_close_session(tc->s);
	tc->s = NULL;
	evtimer_del(tc->ka);
	tc->phase = TC_IDLE;
}

static void
tc_reap(evutil_socket_t fd, short what, void *arg)
{
	struct tunclient	*tc = arg;
	struct timeval		 tv;
	long			 ms;
	char			*why = tc->why;

	tc_teardown(tc);
	tc->why = NULL;
	if (tc->next == TUNCLIENT_FAILED) {
		tc_state(tc, TUNCLIENT_FAILED, why);
		free(why);
		return;
	}
	/* 1 s doubling to backoff_max, each wait jittered to 75-125%. */
	ms = tc->backoff * 1000L * (750 + (long)(arc4random() % 500)) / 1000;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(tc->retry, &tv);
	tc->backoff = tc->backoff * 2 > tc->cfg.backoff_max ?
	    tc->cfg.backoff_max : tc->backoff * 2;
	tc_state(tc, TUNCLIENT_DOWN, why);	/* may free tc: last */
	free(why);
}

static void
tc_retry(evutil_socket_t fd, short what, void *arg)
{
	tc_connect(arg);
}

static void
tc_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct tunclient	*tc = arg;

	if (tc->phase != TC_UP || !sshio_fd_alive(tc->io))
		return;
	ssh_send_ignore(tc->s, "");	/* not ssh_send_keepalive (pitfall 15) */
	sshio_update(tc->io);
}

static void
tc_stream_done(struct pump *p, const char *why, void *arg)
{
	struct tc_stream	*st = arg;

	if (why != NULL)
		log_debug("agent: route %s: stream ended: %s", st->tc->cfg.user, why);
	tc_stream_free(st);
}

/* A socket to the notebook, connecting; NULL if it cannot even start. */
static struct bufferevent *
tc_target(struct tunclient *tc)
{
	struct bufferevent	*bev;
	struct sockaddr_un	 sun;
	char			*cause = NULL;
	int			 fd = -1;

	if (tc->cfg.target_connect != NULL &&
	    (fd = tc->cfg.target_connect(tc->cfg.target_arg, &cause)) == -1) {
		log_warnx("agent: route %s: %s", tc->cfg.user, cause);
		free(cause);
		return (NULL);
	}
	bev = bufferevent_socket_new(tc->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		fatalx("bufferevent_socket_new failed");
	if (fd != -1)
		return (bev);		/* connected already */
	if (tc->cfg.target_unix == NULL) {
		if (bufferevent_socket_connect_hostname(bev, tc->dns, AF_UNSPEC,
		    tc->cfg.target_host, tc->cfg.target_port) == 0)
			return (bev);
	} else {
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		if (strlen(tc->cfg.target_unix) < sizeof sun.sun_path) {
			memcpy(sun.sun_path, tc->cfg.target_unix,
			    strlen(tc->cfg.target_unix));
			if (bufferevent_socket_connect(bev,
			    (struct sockaddr *)&sun, sizeof sun) == 0)
				return (bev);
		}
	}
	bufferevent_free(bev);
	return (NULL);
}

/* The notebook answered (or not): answer the channel open accordingly. */
static void
tc_target_ready(struct tc_stream *st, const char *err)
{
	struct tunclient	*tc = st->tc;
	ssh_channel		 ch = NULL;

	if (st->msg == NULL)
		return;
	if (err == NULL)
		ch = ssh_message_channel_request_open_reply_accept(st->msg);
	else {
		log_warnx("agent: route %s: cannot reach the notebook: %s",
		    tc->cfg.user, err);
		ssh_message_reply_default(st->msg);	/* open failure */
	}
	ssh_message_free(st->msg);
	st->msg = NULL;
	if (ch == NULL)
		tc_stream_free(st);
	else {
		st->pump = pump_new(ch, st->bev, TC_STREAM_BUFFER, tc->io,
		    tc_stream_done, st);	/* bev transferred */
		st->bev = NULL;
	}
	sshio_update(tc->io);
}

/* A socket connected at once (Unix) reports through the write callback. */
static void
tc_target_writecb(struct bufferevent *bev, void *arg)
{
	tc_target_ready(arg, NULL);
}

static void
tc_target_event(struct bufferevent *bev, short what, void *arg)
{
	int	dnserr = bufferevent_socket_get_dns_error(bev);

	if (what & BEV_EVENT_CONNECTED) {
		/* Request heads and bodies arrive in pieces: no Nagle delays. */
		if (((struct tc_stream *)arg)->tc->cfg.target_unix == NULL)
			util_set_nodelay(bufferevent_getfd(bev));
		tc_target_ready(arg, NULL);
	} else
		tc_target_ready(arg, dnserr != 0 ? evutil_gai_strerror(dnserr) :
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void
tc_stream_start(struct tunclient *tc, ssh_message msg)
{
	struct tc_stream	*st = xcalloc(1, sizeof *st);

	log_debug("agent: route %s: stream from %s:%d", tc->cfg.user,
	    ssh_message_channel_request_open_originator(msg),
	    ssh_message_channel_request_open_originator_port(msg));
	st->tc = tc;
	st->msg = msg;				/* transferred */
	TAILQ_INSERT_TAIL(&tc->streams, st, entry);
	if ((st->bev = tc_target(tc)) == NULL) {
		tc_target_ready(st, "cannot start connecting");
		return;
	}
	bufferevent_setcb(st->bev, NULL, tc_target_writecb, tc_target_event, st);
	if (tc->cfg.target_connect != NULL)
		tc_target_ready(st, NULL);	/* may free st: last */
}

/* Picks up the gateway's channel opens (and refuses anything else). */
static void
tc_accept(struct tunclient *tc)
{
	ssh_message	msg;

	while (tc->why == NULL && (msg = ssh_message_get(tc->s)) != NULL) {
		if (ssh_message_type(msg) == SSH_REQUEST_CHANNEL_OPEN &&
		    ssh_message_subtype(msg) == SSH_CHANNEL_FORWARDED_TCPIP) {
			tc_stream_start(tc, msg);
			continue;
		}
		ssh_message_reply_default(msg);
		ssh_message_free(msg);
	}
}

static int
tc_check_hostkey(struct tunclient *tc)
{
	ssh_key		 key = NULL;
	unsigned char	*hash = NULL;
	size_t		 hlen;
	char		*fp = NULL, *why;
	int		 ok = 0;

	if (ssh_get_server_publickey(tc->s, &key) == SSH_OK &&
	    ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &hlen) == SSH_OK)
		fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	if (fp != NULL && strcmp(fp, tc->cfg.hostkey_pin) == 0)
		ok = 1;
	else {
		xasprintf(&why, "gateway host key %s does not match the pinned "
		    "%s: wrong gateway, or its key changed", fp != NULL ? fp : "?",
		    tc->cfg.hostkey_pin);
		tc_lost(tc, TUNCLIENT_FAILED, why);
		free(why);
	}
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return (ok);
}

static void
tc_step_kex(struct tunclient *tc)
{
	char	*why;
	int	 rc;

	if ((rc = ssh_connect(tc->s)) == SSH_AGAIN)
		return;
	if (rc != SSH_OK) {
		xasprintf(&why, "ssh: %s", ssh_get_error(tc->s));
		tc_lost(tc, TUNCLIENT_DOWN, why);
		free(why);
		return;
	}
	if (tc_check_hostkey(tc))
		tc->phase = TC_AUTH;
}

/*
 * Enrollment (tunnel/PROTOCOL section 7): the first login presents the
 * one-time secret and our new public key as a password.  If that answer
 * is lost, the gateway may already know our key: later logins use the key.
 */
static int
tc_step_enroll(struct tunclient *tc)
{
	char	*why;
	int	 rc;

	if ((rc = ssh_userauth_password(tc->s, NULL, tc->enroll)) == SSH_AUTH_AGAIN)
		return (0);
	if (rc == SSH_AUTH_SUCCESS) {
		freestr(tc->enroll);
		tc->enroll = NULL;
		log_info("agent: route %s: enrolled with the gateway", tc->cfg.user);
		tc->phase = TC_FWD;
		return (0);
	}
	if (rc == SSH_AUTH_ERROR) {	/* the link, not the answer: enroll again later */
		xasprintf(&why, "ssh: %s", ssh_get_error(tc->s));
		tc_lost(tc, TUNCLIENT_DOWN, why);
		free(why);
		return (0);
	}
	tc->enroll_denied = 1;
	return (1);
}

static void
tc_step_auth(struct tunclient *tc)
{
	char	*why;
	int	 rc;

	if (tc->enroll != NULL && !tc->enroll_denied && tc_step_enroll(tc) == 0)
		return;
	if ((rc = ssh_userauth_publickey(tc->s, NULL, tc->key)) == SSH_AUTH_AGAIN)
		return;
	if (rc == SSH_AUTH_SUCCESS) {
		if (tc->enroll != NULL) {
			freestr(tc->enroll);	/* the gateway had our key */
			tc->enroll = NULL;
		}
		tc->phase = TC_FWD;
		return;
	}
	if (tc->enroll != NULL) {
		xasprintf(&why, "the gateway refused the enrollment for route %s "
		    "(the one-time secret was already used or is wrong: if this agent "
		    "did not use it, someone else may have)", tc->cfg.user);
		tc_lost(tc, TUNCLIENT_FAILED, why);
		free(why);
		return;
	}
	if (rc == SSH_AUTH_ERROR)
		xasprintf(&why, "ssh: %s", ssh_get_error(tc->s));
	else	/* may be transient: the route may not be registered yet */
		xasprintf(&why, "the gateway refused the key for route %s",
		    tc->cfg.user);
	tc_lost(tc, TUNCLIENT_DOWN, why);
	free(why);
}

static void
tc_step_forward(struct tunclient *tc)
{
	struct timeval	 tv = { tc->keepalive, 0 };
	char		*why;
	int		 rc;

	if ((rc = ssh_channel_listen_forward(tc->s, "localhost", 0,
	    NULL)) == SSH_AGAIN)
		return;
	if (rc != SSH_OK) {
		xasprintf(&why, "the gateway refused the forward: %s",
		    ssh_get_error(tc->s));
		tc_lost(tc, TUNCLIENT_DOWN, why);
		free(why);
		return;
	}
	tc->phase = TC_UP;
	tc->backoff = 1;
	evtimer_add(tc->ka, &tv);
	if ((tc->act = ssh_channel_new(tc->s)) != NULL)
		tc->act_state = TC_ACT_OPENING;
	xasprintf(&why, "via %s:%d", tc->cfg.host, tc->cfg.port);
	tc_state(tc, TUNCLIENT_UP, why);
	free(why);
}

/*
 * Opens the activity channel: a "direct-tcpip" to ACTIVITY_HOST, which a
 * gateway of protocol 4 takes and an older one refuses (no reports then).
 */
static void
tc_act_service(struct tunclient *tc)
{
	int	rc;

	if (tc->act_state == TC_ACT_OPEN && (ssh_channel_is_closed(tc->act) ||
	    ssh_channel_is_eof(tc->act))) {
		log_info("agent: route %s: the gateway closed the activity "
		    "channel", tc->cfg.user);
		tc->act_state = TC_ACT_REFUSED;
	}
	if (tc->act_state != TC_ACT_OPENING)
		return;
	rc = ssh_channel_open_forward(tc->act, ACTIVITY_HOST, 0, "127.0.0.1", 0);
	sshio_update(tc->io);
	if (rc == SSH_AGAIN)
		return;
	if (rc == SSH_OK) {
		tc->act_state = TC_ACT_OPEN;
		log_debug("agent: route %s: activity channel open", tc->cfg.user);
		return;
	}
	log_info("agent: route %s: the gateway takes no activity reports "
	    "(tunnel protocol before 4): browser activity only", tc->cfg.user);
	ssh_channel_free(tc->act);
	tc->act = NULL;
	tc->act_state = TC_ACT_REFUSED;
}

/* Sends one report line (newline included); -1 if there is no channel. */
int
tunclient_report(struct tunclient *tc, const char *line)
{
	size_t	len = strlen(line);

	if (tc->phase != TC_UP || tc->why != NULL ||
	    tc->act_state != TC_ACT_OPEN)
		return (-1);
	if (ssh_channel_window_size(tc->act) < len)
		return (-1);	/* the gateway is not reading: skip this one */
	if (ssh_channel_write(tc->act, line, (uint32_t)len) != (int)len)
		return (-1);
	sshio_update(tc->io);
	return (0);
}

/* After every poll: advance the login, accept channels, retry stream I/O. */
static void
tc_service(void *arg)
{
	struct tunclient	*tc = arg;
	struct tc_stream	*st;

	if (tc->why != NULL)
		return;
	if (tc->phase == TC_KEX)
		tc_step_kex(tc);
	if (tc->phase == TC_AUTH && tc->why == NULL)
		tc_step_auth(tc);
	if (tc->phase == TC_FWD && tc->why == NULL)
		tc_step_forward(tc);
	if (tc->phase != TC_UP || tc->why != NULL)
		return;
	tc_accept(tc);
	tc_act_service(tc);
	TAILQ_FOREACH(st, &tc->streams, entry) {
		if (st->pump != NULL)
			pump_service(st->pump);	/* never frees: done is deferred */
	}
}

static void
tc_dead(void *arg)
{
	struct tunclient	*tc = arg;
	const char		*err = ssh_get_error(tc->s);
	char			*why;

	xasprintf(&why, "connection lost%s%s", *err != '\0' ? ": " : "", err);
	tc_lost(tc, TUNCLIENT_DOWN, why);
	free(why);
}

static int
tc_session(struct tunclient *tc, evutil_socket_t fd, char **cause)
{
	bool		 no = false;
	int		 verbosity = 0;
	socket_t	 sfd = fd;
	const char	*ciphers;

	if ((tc->s = ssh_new()) == NULL)
		fatalx("ssh_new failed");
	ssh_options_set(tc->s, SSH_OPTIONS_PROCESS_CONFIG, &no);
	ssh_options_set(tc->s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
	ssh_options_set(tc->s, SSH_OPTIONS_HOST, tc->cfg.host);
	ssh_options_set(tc->s, SSH_OPTIONS_PORT, &tc->cfg.port);
	ssh_options_set(tc->s, SSH_OPTIONS_USER, tc->cfg.user);
	ssh_options_set(tc->s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
	ssh_options_set(tc->s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
	ssh_options_set(tc->s, SSH_OPTIONS_FD, &sfd);	/* fd transferred */
	if ((ciphers = sshio_ciphers_client()) != NULL) {
		ssh_options_set(tc->s, SSH_OPTIONS_CIPHERS_C_S, ciphers);
		ssh_options_set(tc->s, SSH_OPTIONS_CIPHERS_S_C, ciphers);
	}
	ssh_set_blocking(tc->s, 0);
	if (ssh_connect(tc->s) == SSH_ERROR) {
		xasprintf(cause, "ssh: %s", ssh_get_error(tc->s));
		return (-1);
	}
	tc->io = sshio_new(tc->base, tc->s, tc_service, tc_dead, tc);
	if (sshio_attach(tc->io, cause) != 0)
		return (-1);
	tc->phase = TC_KEX;
	return (0);
}

static void
tc_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct tunclient	*tc = arg;
	evutil_socket_t		 fd = bufferevent_getfd(bev);
	char			*cause = NULL, *why;
	int			 dnserr;

	if (!(what & BEV_EVENT_CONNECTED)) {
		dnserr = bufferevent_socket_get_dns_error(bev);
		xasprintf(&why, "cannot connect to %s:%d: %s", tc->cfg.host,
		    tc->cfg.port, dnserr != 0 ? evutil_gai_strerror(dnserr) :
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		tc_lost(tc, TUNCLIENT_DOWN, why);
		free(why);
		return;
	}
	bufferevent_setfd(bev, -1);	/* the fd is libssh's from here */
	bufferevent_free(bev);
	tc->tcp = NULL;
	util_set_nodelay(fd);
	util_set_keepalive(fd, tc->keepalive);
	if (tc_session(tc, fd, &cause) != 0) {
		tc_lost(tc, TUNCLIENT_DOWN, cause);
		free(cause);
		return;
	}
	tc_service(tc);
	sshio_update(tc->io);
}

static void
tc_connect(struct tunclient *tc)
{
	tc->phase = TC_TCP;
	tc->tcp = bufferevent_socket_new(tc->base, -1, 0);
	if (tc->tcp == NULL)
		fatalx("bufferevent_socket_new failed");
	bufferevent_setcb(tc->tcp, NULL, NULL, tc_tcp_event, tc);
	if (bufferevent_socket_connect_hostname(tc->tcp, tc->dns, AF_UNSPEC,
	    tc->cfg.host, tc->cfg.port) != 0)
		tc_lost(tc, TUNCLIENT_DOWN, "cannot start connecting");
	tc_state(tc, TUNCLIENT_CONNECTING, NULL);
}

static void
tc_copy_config(struct tunclient *tc, const struct tunclient_config *cfg)
{
	tc->cfg = *cfg;
	tc->cfg.host = xstrdup(cfg->host);
	tc->cfg.user = xstrdup(cfg->user);
	tc->cfg.hostkey_pin = xstrdup(cfg->hostkey_pin);
	tc->cfg.key_file = cfg->key_file != NULL ? xstrdup(cfg->key_file) : NULL;
	tc->cfg.enroll_secret = tc->cfg.job_id = tc->cfg.notebook_token = NULL;
	tc->cfg.target_host = cfg->target_host ? xstrdup(cfg->target_host) : NULL;
	tc->cfg.target_unix = cfg->target_unix ? xstrdup(cfg->target_unix) : NULL;
	if (tc->cfg.backoff_max < 1)
		tc->cfg.backoff_max = 60;
}

/* "nbgate-enroll/1 SECRET KEYTYPE KEY64 JOB TOKEN", "-" for what is absent. */
static char *
tc_enroll_line(ssh_key key, const struct tunclient_config *cfg)
{
	char	*b64 = NULL, *line;

	if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK)
		fatalx("cannot export the agent's public key");
	xasprintf(&line, "nbgate-enroll/1 %s %s %s %s %s", cfg->enroll_secret,
	    ssh_key_type_to_char(ssh_key_type(key)), b64,
	    cfg->job_id != NULL ? cfg->job_id : "-",
	    cfg->notebook_token != NULL ? cfg->notebook_token : "-");
	ssh_string_free_char(b64);
	return (line);
}

/* Starts dialling now; @cb hears every state change.  NULL + @cause if misconfigured. */
struct tunclient *
tunclient_new(struct event_base *base, const struct tunclient_config *cfg,
    tunclient_state_cb cb, void *arg, char **cause)
{
	struct tunclient	*tc;
	ssh_key			 key = NULL;

	if (cfg->host == NULL || cfg->user == NULL ||
	    (cfg->key_file == NULL && cfg->enroll_secret == NULL) ||
	    cfg->hostkey_pin == NULL ||
	    (cfg->target_host == NULL) == (cfg->target_unix == NULL)) {
		xasprintf(cause, "incomplete tunnel configuration");
		return (NULL);
	}
	if (strncmp(cfg->hostkey_pin, "SHA256:", 7) != 0) {
		xasprintf(cause, "host key fingerprint must look like SHA256:...");
		return (NULL);
	}
	if (cfg->key_file != NULL && ssh_pki_import_privkey_file(cfg->key_file,
	    NULL, NULL, NULL, &key) != SSH_OK) {
		xasprintf(cause, "%s: cannot read the private key", cfg->key_file);
		return (NULL);
	}
	if (cfg->key_file == NULL && (cfg->enroll_secret == NULL ||
	    ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)) {
		xasprintf(cause, "no key file, and no enrollment secret to enroll a new key");
		return (NULL);
	}
	tc = xcalloc(1, sizeof *tc);
	tc->base = base;
	tc->cb = cb;
	tc->arg = arg;
	tc->key = key;
	if (cfg->enroll_secret != NULL)
		tc->enroll = tc_enroll_line(key, cfg);
	tc->backoff = 1;
	tc_copy_config(tc, cfg);
	tc->keepalive = cfg->keepalive > 0 ? cfg->keepalive : TC_KEEPALIVE;
	TAILQ_INIT(&tc->streams);
	tc->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (tc->dns == NULL)
		tc->dns = evdns_base_new(base, 0);	/* no resolv.conf: hosts only */
	tc->retry = evtimer_new(base, tc_retry, tc);
	tc->ka = event_new(base, -1, EV_PERSIST, tc_keepalive, tc);
	tc->reap = event_new(base, -1, 0, tc_reap, tc);
	if (tc->dns == NULL || tc->retry == NULL || tc->ka == NULL ||
	    tc->reap == NULL)
		fatalx("libevent setup failed");
	tc_connect(tc);
	return (tc);
}

/* The valid UTF-8 character at @p: its length (1-4) and code point, or 0. */
static size_t
tc_utf8(const unsigned char *p, uint32_t *cp)
{
	size_t	n, i;

	if (p[0] < 0x80) {
		*cp = p[0];
		return (1);
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return (0);
	*cp = p[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return (0);
		*cp = (*cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && (*cp < 0x800 || (*cp >= 0xd800 && *cp <= 0xdfff))) ||
	    (n == 4 && (*cp < 0x10000 || *cp > 0x10ffff)))
		return (0);	/* overlong, surrogate, beyond Unicode */
	return (n);
}

/*
 * A leaving reason (tunnel/PROTOCOL section 8) made safe to send, log or
 * show: valid UTF-8 (a '?' for each invalid byte), no control characters
 * but newline and tab, no trailing blanks, at most @max bytes, cut between
 * characters.  Both halves use it: the agent before sending, the gateway
 * on what it received.  Caller frees.
 */
char *
tunclient_reason_clean(const char *in, size_t max)
{
	const unsigned char	*p = (const unsigned char *)in;
	char			*out = xmalloc(max + 1);
	size_t			 len = 0, n;
	uint32_t		 cp;

	while (*p != '\0') {
		if ((n = tc_utf8(p, &cp)) == 0) {
			if (len + 1 > max)
				break;
			out[len++] = '?';
			p++;
			continue;
		}
		if ((cp < 0x20 && cp != '\n' && cp != '\t') ||
		    (cp >= 0x7f && cp < 0xa0)) {
			p += n;
			continue;
		}
		if (len + n > max)
			break;
		memcpy(out + len, p, n);
		len += n;
		p += n;
	}
	while (len > 0 && strchr(" \t\n", out[len - 1]) != NULL)
		len--;
	out[len] = '\0';
	return (out);
}

static long
tc_ms_left(const struct timespec *t0)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (TC_LEAVE_MS - (now.tv_sec - t0->tv_sec) * 1000L -
	    (now.tv_nsec - t0->tv_nsec) / 1000000L);
}

/*
 * After our SSH_MSG_DISCONNECT: half-close, then read until the gateway
 * hangs up (it has read the reason) or time is up, so that closing with
 * unread input cannot become a reset that loses what we sent.  Closes @fd.
 */
static void
tc_drain(int fd, const struct timespec *t0)
{
	struct pollfd	pfd;
	char		buf[4096];
	long		left;
	ssize_t		n;
	int		rc;

	shutdown(fd, SHUT_WR);
	while ((left = tc_ms_left(t0)) > 0) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if ((rc = poll(&pfd, 1, (int)left)) == -1 && errno == EINTR)
			continue;
		if (rc <= 0)
			break;
		n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			break;
	}
	close(fd);
}

/*
 * libssh 0.10 writes a packet at once only if it has seen the socket
 * writable since its last write; otherwise it queues it, and
 * ssh_disconnect() throws the queue away.  So poll, on an event of our
 * own, until everything is out and that has been seen (no POLLOUT wanted).
 */
static void
tc_flush(ssh_session s, const struct timespec *t0)
{
	ssh_event	ev;
	long		left;

	if ((ev = ssh_event_new()) == NULL)
		fatalx("ssh_event_new failed");
	if (ssh_event_add_session(ev, s) == SSH_OK) {
		while ((ssh_get_poll_flags(s) & SSH_WRITE_PENDING) &&
		    ssh_is_connected(s) && (left = tc_ms_left(t0)) > 0)
			ssh_event_dopoll(ev, left < 100 ? (int)left : 100);
		ssh_event_remove_session(ev, s);
	}
	ssh_event_free(ev);
}

/*
 * Sends the reason on the activity channel too (section 9): a gateway can
 * lose the DISCONNECT's text (see tunnel/sshd.c, conn_act_leave), never a
 * channel's data.  A channel still opening is waited for, within half the
 * time to leave; a refused one is left to ssh_disconnect() to free.
 */
static void
tc_leave_line(struct tunclient *tc, const char *text, const struct timespec *t0)
{
	struct pollfd	 pfd;
	char		*line;
	long		 left;
	size_t		 len;
	int		 rc;

	pfd.fd = ssh_get_fd(tc->s);
	pfd.events = POLLIN;
	/* Half the time at most: the DISCONNECT must still go. */
	while (tc->act_state == TC_ACT_OPENING &&
	    (left = tc_ms_left(t0) - TC_LEAVE_MS / 2) > 0) {
		rc = ssh_channel_open_forward(tc->act, ACTIVITY_HOST, 0,
		    "127.0.0.1", 0);
		if (rc == SSH_OK)
			tc->act_state = TC_ACT_OPEN;
		else if (rc != SSH_AGAIN)
			tc->act_state = TC_ACT_REFUSED;
		else if (pfd.fd == SSH_INVALID_SOCKET ||
		    poll(&pfd, 1, left < 100 ? (int)left : 100) == -1)
			break;
	}
	if (tc->act_state != TC_ACT_OPEN || ssh_channel_is_closed(tc->act) ||
	    ssh_channel_is_eof(tc->act))
		return;
	line = activity_leave_encode(text);
	len = strlen(line);
	if (ssh_channel_window_size(tc->act) >= len)
		ssh_channel_write(tc->act, line, (uint32_t)len);
	free(line);
}

/* Sends the reason with our SSH_MSG_DISCONNECT, within TC_LEAVE_MS. */
static void
tc_goodbye(struct tunclient *tc, const char *why)
{
	struct tc_stream	*st;
	struct timespec		 t0;
	char			*text, *line;
	socket_t		 fd = ssh_get_fd(tc->s);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((st = TAILQ_FIRST(&tc->streams)) != NULL)
		tc_stream_free(st);	/* no channel callbacks from here */
	sshio_free(tc->io);		/* the session polls on our event now */
	tc->io = NULL;
	text = tunclient_reason_clean(why, TUNCLIENT_LEAVE_MAX);
	tc_leave_line(tc, text, &t0);
	xasprintf(&line, "%s%s", TC_LEAVE_TAG, text);
	ssh_session_set_disconnect_message(tc->s, line);
	tc_flush(tc->s, &t0);
	ssh_disconnect(tc->s);	/* the fd stays open (SSH_OPTIONS_FD) */
	tc->act = NULL;		/* ssh_disconnect() freed every channel */
	if (fd != SSH_INVALID_SOCKET)
		tc_drain(fd, &t0);
	log_debug("agent: route %s: told the gateway why we leave (%ld ms): %s",
	    tc->cfg.user, TC_LEAVE_MS - tc_ms_left(&t0), text);
	free(line);
	free(text);
}

/*
 * Leaves on purpose: if the tunnel is up, tells the gateway @why
 * (tunnel/PROTOCOL section 8) and hangs up; never dials again and reports
 * no more states.  Blocks at most about TC_LEAVE_MS.  Free with
 * tunclient_free() afterwards.  NULL is a no-op.
 */
void
tunclient_leave(struct tunclient *tc, const char *why)
{
	if (tc == NULL)
		return;
	evtimer_del(tc->retry);
	event_del(tc->reap);	/* a pending teardown would report DOWN */
	if (tc->phase == TC_UP && tc->why == NULL && sshio_fd_alive(tc->io))
		tc_goodbye(tc, why);
	tc_teardown(tc);
	free(tc->why);
	tc->why = NULL;
}

/* Hangs up (no state callback) and frees. */
void
tunclient_free(struct tunclient *tc)
{
	if (tc == NULL)
		return;
	tc_teardown(tc);
	event_free(tc->retry);
	event_free(tc->ka);
	event_free(tc->reap);
	evdns_base_free(tc->dns, 0);
	ssh_key_free(tc->key);
	free(tc->why);
	free((char *)tc->cfg.host);
	free((char *)tc->cfg.user);
	free((char *)tc->cfg.hostkey_pin);
	free((char *)tc->cfg.key_file);
	freestr(tc->enroll);
	free((char *)tc->cfg.target_host);
	free((char *)tc->cfg.target_unix);
	free(tc);
}
