/*
 * gate.c: nbgated's global state and its wiring: state directory, TLS
 * context, the HTTPS and admin listeners, the embedded SSH server and its
 * hooks into the route table, and reload.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/listener.h>
#include <openssl/ssl.h>

#include "daemon/daemon.h"

static struct gate	 gate_state;
static struct evconnlistener *gate_https, *gate_admin;

static void *
gate_ssh_auth(const char *user, ssh_key key, void *arg)
{
	struct route	*r = route_find(user), *n;

	if (r == NULL || route_dead(r))
		return (NULL);
	/* a successor's agent (sessions.continue) with its own key, before the switch */
	if ((n = route_next(r)) != NULL && route_key(n) != NULL &&
	    ssh_key_cmp(route_key(n), key, SSH_KEY_CMP_PUBLIC) == 0)
		r = n;
	else if (route_key(r) == NULL ||
	    ssh_key_cmp(route_key(r), key, SSH_KEY_CMP_PUBLIC) != 0)
		return (NULL);
	route_ref(r);
	return (r);
}

/* An administrator's route (no session, no scheduler): the secret binds at once. */
static void *
gate_enroll_now(struct route *r, const struct sshd_enroll *e,
    const unsigned char md[32], char **why)
{
	char	*fp;

	if (route_enroll(r, md, e->key, e->token, e->addr, why) != 0) {
		if (*why == NULL)
			xasprintf(why, "no such enrollment (already used)");
		store_audit(e->user, "enroll-refused", route_name(r), *why);
		gate->stats.enroll_refused++;
		return (NULL);
	}
	store_route_put(r);
	session_enrolled(r, e->job);
	fp = route_key_text(route_key(r));
	store_audit(e->user, "enroll", route_name(r), fp);
	free(fp);
	gate->stats.enroll_accepted++;
	log_info("route %s: agent enrolled%s%s", route_name(r),
	    e->job != NULL ? " from job " : "", e->job != NULL ? e->job : "");
	route_ref(r);
	return (r);
}

/*
 * A used secret again.  The same key: the answer to its enrollment was
 * lost, the agent goes on with its key.  Another key: two agents had the
 * secret.  For a session's route a claim of its job is held and checked
 * like an enrollment (the agent must not leave, and its job end, before
 * the scheduler answers) and, if it holds, the session ends with a
 * security alert (enroll.c).  Returns the route for a held connection.
 */
static void *
gate_enroll_reused(struct route *r, const struct sshd_enroll *e,
    const unsigned char md[32], char **why)
{
	const char	*first = route_enrolled_from(r);

	if (route_key(r) != NULL &&
	    ssh_key_cmp(route_key(r), e->key, SSH_KEY_CMP_PUBLIC) == 0) {
		xasprintf(why, "no such enrollment (already used)");
		return (NULL);
	}
	log_warnx("security: route %s: its used enrollment secret comes again "
	    "from %s (job %s) with another key; the agent enrolled from %s",
	    route_name(r), e->addr, e->job != NULL ? e->job : "-",
	    first != NULL ? first : "?");
	store_audit(e->user, "enroll-reused", route_name(r), e->addr);
	if (route_session(r) == 0 || enroll_check(r, e, md, 1, why) == -1) {
		if (*why == NULL)
			xasprintf(why, "no such enrollment (already used)");
		gate->stats.enroll_refused++;
		return (NULL);
	}
	route_ref(r);
	return (r);
}

/*
 * An agent enrolls.  A session's route binds the key only once the
 * scheduler confirmed the agent's job and node (enroll.c): the connection
 * is held until then, with no traffic.
 */
static void *
gate_ssh_enroll(const struct sshd_enroll *e, char **why, void *arg)
{
	struct route	*r = route_find(e->user), *n;
	unsigned char	 md[32];
	enum route_secret rs;

	if (r == NULL || route_dead(r)) {
		xasprintf(why, "no such route");
		return (NULL);
	}
	rs = route_enroll_match(r, e->secret, e->job, md, why);
	if (rs == ROUTE_SECRET_WRONG && (n = route_next(r)) != NULL) {
		/* a successor job's agent (sessions.continue): its own secret and job */
		free(*why);
		*why = NULL;
		r = n;
		rs = route_enroll_match(r, e->secret, e->job, md, why);
	}
	switch (rs) {
	case ROUTE_SECRET_WRONG:
		store_audit(e->user, "enroll-refused", route_name(r), *why);
		gate->stats.enroll_refused++;
		return (NULL);
	case ROUTE_SECRET_USED:
		return (gate_enroll_reused(r, e, md, why));
	case ROUTE_SECRET_PENDING:
		break;
	}
	if (route_session(r) == 0)
		return (gate_enroll_now(r, e, md, why));
	if (enroll_check(r, e, md, 0, why) == -1) {
		store_audit(e->user, "enroll-refused", route_name(r), *why);
		gate->stats.enroll_refused++;
		return (NULL);
	}
	log_info("route %s: agent from %s claims job %s: asking the scheduler",
	    route_name(r), e->addr, e->job != NULL ? e->job : "-");
	route_ref(r);
	return (r);
}

/* A held enrollment's connection closed before its check ended. */
static void
gate_ssh_hold_gone(void *cookie, void *arg)
{
	enroll_gone(cookie);
}

static void
gate_ssh_up(struct tunnel *t, void *route, void *arg)
{
	struct route	*r = route;
	struct tunnel	*old;
	char		*why = NULL;

	if (route_dead(r)) {
		tunnel_kick(t, "route removed");
		return;
	}
	/* a successor's tunnel: it takes the route (the old job's object dies) */
	if (route_is_next(r) && session_continue_switch(r, &why) == -1) {
		log_warnx("route %s: successor's tunnel refused: %s", route_name(r), why);
		tunnel_kick(t, why);
		free(why);
		return;
	}
	if ((old = route_tunnel(r)) != NULL && old != t) {
		route_set_tunnel(r, NULL);
		tunnel_kick(old, "replaced by a new connection from the agent");
	}
	route_set_tunnel(r, t);
	log_info("route %s: tunnel up from %s", route_name(r), tunnel_peer(t));
	session_tunnel_up(r, tunnel_peer(t));
}

static void
gate_ssh_down(struct tunnel *t, void *route, const char *why, void *arg)
{
	struct route	*r = route;

	if (route_tunnel(r) == t) {
		route_set_tunnel(r, NULL);
		log_info("route %s: tunnel down: %s", route_name(r), why != NULL ? why : "closed");
		session_tunnel_down(r, why != NULL ? why : "closed");
	}
}

/* The agent said why it leaves (protocol 3): the session keeps it as the reason. */
static void
gate_ssh_exit(struct tunnel *t, void *route, const char *why, void *arg)
{
	session_agent_exit(route, why);
}

/* The agent's activity report (protocol 4): the session keeps it for the culler. */
static void
gate_ssh_activity(struct tunnel *t, void *route, const struct activity *a,
    void *arg)
{
	if (route_tunnel(route) == t)
		session_activity(route, a);
}

static void
gate_ssh_release(void *route, void *arg)
{
	route_unref(route);
}

static const struct sshd_hooks gate_ssh_hooks = {
	.auth = gate_ssh_auth,
	.enroll = gate_ssh_enroll,
	.up = gate_ssh_up,
	.down = gate_ssh_down,
	.exit = gate_ssh_exit,
	.activity = gate_ssh_activity,
	.release = gate_ssh_release,
	.hold_gone = gate_ssh_hold_gone,
};

static void
gate_ssh_settings(const struct config *cfg, struct sshd_settings *s)
{
	memset(s, 0, sizeof *s);
	s->host_key = cfg->ssh_host_key;
	s->login_timeout = cfg->ssh_login_timeout;
	s->max_conns = cfg->ssh_max_conns;
	s->max_unauth = cfg->ssh_max_unauth;
	s->max_unauth_per_addr = cfg->ssh_max_unauth_per_addr;
	s->keepalive = cfg->ssh_keepalive;
	s->stream_buffer = cfg->proxy_buffer;
}

static void
gate_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int len, void *arg)
{
	char	 host[INET6_ADDRSTRLEN] = "?";
	int	 port = 0;

	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;
		evutil_inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;
		evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		port = ntohs(sin6->sin6_port);
	}
	conn_accept(fd, host, port, CONN_TLS);
}

static void
gate_accept_admin(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct ucred	cred;
	socklen_t	clen = sizeof cred;
	char		*peer;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1) {
		close(fd);
		return;
	}
	xasprintf(&peer, "admin(uid %ld)", (long)cred.uid);
	conn_accept(fd, peer, 0, CONN_ADMIN);
	free(peer);
}

static void
gate_accept_error(struct evconnlistener *l, void *arg)
{
	log_warn("accept");
}

static struct evconnlistener *
gate_listen_tcp(const char *hostport, int *port, char **cause)
{
	struct sockaddr_storage	 ss;
	int			 sslen = sizeof ss;
	socklen_t		 bl = sizeof ss;
	struct evconnlistener	*l;

	memset(&ss, 0, sizeof ss);
	if (evutil_parse_sockaddr_port(hostport, (struct sockaddr *)&ss, &sslen) == -1) {
		xasprintf(cause, "listen address '%s' is not host:port", hostport);
		return (NULL);
	}
	l = evconnlistener_new_bind(gate->base, gate_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 1024,
	    (struct sockaddr *)&ss, sslen);
	if (l == NULL) {
		xasprintf(cause, "cannot listen on %s: %s", hostport, strerror(errno));
		return (NULL);
	}
	evconnlistener_set_error_cb(l, gate_accept_error);
	getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &bl);
	*port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
	return (l);
}

static struct evconnlistener *
gate_listen_unix(const struct config *cfg, char **cause)
{
	struct sockaddr_un	 sun;
	struct evconnlistener	*l;
	struct group		*gr = NULL;
	mode_t			 old;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(cfg->admin_socket) >= sizeof sun.sun_path) {
		xasprintf(cause, "admin socket path too long: %s", cfg->admin_socket);
		return (NULL);
	}
	if (cfg->admin_group != NULL && (gr = getgrnam(cfg->admin_group)) == NULL) {
		xasprintf(cause, "admin group '%s' does not exist", cfg->admin_group);
		return (NULL);
	}
	strncpy(sun.sun_path, cfg->admin_socket, sizeof sun.sun_path - 1);
	unlink(cfg->admin_socket);
	old = umask(gr != NULL ? 0117 : 0177);
	l = evconnlistener_new_bind(gate->base, gate_accept_admin, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
	    (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (l == NULL) {
		xasprintf(cause, "cannot listen on %s: %s", cfg->admin_socket, strerror(errno));
		return (NULL);
	}
	if (gr != NULL && chown(cfg->admin_socket, (uid_t)-1, gr->gr_gid) == -1)
		log_warn("chown %s", cfg->admin_socket);
	return (l);
}

static int
gate_tls(const struct config *cfg, void **ctx, char **cause)
{
	if (cfg->tls_self_signed && access(cfg->tls_cert, F_OK) == -1 &&
	    access(cfg->tls_key, F_OK) == -1 &&
	    tls_self_signed(cfg->tls_cert, cfg->tls_key, cause) == -1)
		return (-1);
	if ((*ctx = tls_ctx_new(cfg->tls_cert, cfg->tls_key, cause)) == NULL)
		return (-1);
	tls_ctx_alpn(*ctx, cfg->proxy_http2);
	return (0);
}

/* tls.hsts: on, off, or auto (on unless the certificate is self-signed). */
static int
gate_hsts(const struct config *cfg, void *ctx)
{
	if (cfg->tls_hsts == CONFIG_HSTS_AUTO)
		return (!tls_ctx_self_issued(ctx));
	return (cfg->tls_hsts == CONFIG_HSTS_ON);
}

static void
gate_load_route(const char *name, const char *owner, const char *keytext,
    const char *token, const char *enroll, const char *job, long long session)
{
	char		*cause = NULL;
	ssh_key		 key = NULL;
	struct route	*r;

	if ((keytext != NULL && *keytext != '\0' &&
	    (key = route_key_parse(keytext, &cause)) == NULL) ||
	    (r = route_add(name, owner, key, token, &cause)) == NULL) {
		log_warnx("store: route %s not loaded: %s", name, cause);
		free(cause);
		return;
	}
	route_enroll_restore(r, enroll, job);
	route_set_session(r, session);
}

/* Opens the database and reloads routes and API tokens. */
static int
gate_store(const struct config *cfg, char **cause)
{
	char	*path;
	int	 rv;

	xasprintf(&path, "%s/nbgate.db", cfg->state_dir);
	rv = store_open(path, cause);
	free(path);
	if (rv == -1)
		return (-1);
	store_route_load(gate_load_route);
	store_token_load(auth_token_load);
	auth_revoked_load();
	log_info("store: %zu routes reloaded", route_count());
	return (0);
}

/* Brings everything up on @base with @cfg (owned from now on). */
int
gate_start(struct event_base *base, struct config *cfg, char **cause)
{
	struct sshd_settings	 ss;

	if (session_check_templates(cfg, cause) == -1)
		return (-1);
	gate = &gate_state;
	memset(gate, 0, sizeof *gate);
	gate->cfg = cfg;
	gate->base = base;
	gate->started = time(NULL);
	conn_set_hub(hub_dispatch);	/* web/ answers /hub/ */
	api_set_config_ops(gate_reload_file, gate_check_file);
	if (util_mkdir_p(cfg->state_dir, 0700, cause) == -1 ||
	    auth_init(cfg->state_dir, cause) == -1 ||
	    oidc_init(cfg, cause) == -1 ||
	    gate_tls(cfg, &gate->ssl_ctx, cause) == -1)
		return (-1);
	gate->hsts = gate_hsts(cfg, gate->ssl_ctx);
	if (gate_store(cfg, cause) == -1)
		return (-1);
	gate_ssh_settings(cfg, &ss);
	if ((gate->sshd = sshd_new(base, &ss, &gate_ssh_hooks, NULL, cause)) == NULL ||
	    sshd_listen(gate->sshd, cfg->ssh_listen, cause) == -1)
		return (-1);
	gate->ssh_port = sshd_port(gate->sshd);
	if ((gate_https = gate_listen_tcp(cfg->https_listen, &gate->https_port, cause)) == NULL ||
	    (gate_admin = gate_listen_unix(cfg, cause)) == NULL)
		return (-1);
	log_info("listening: https %s (port %d), ssh %s (port %d, host key %s), admin %s",
	    cfg->https_listen, gate->https_port, cfg->ssh_listen, gate->ssh_port,
	    sshd_fingerprint(gate->sshd), cfg->admin_socket);
	if (cred_init(cause) == -1 || outbox_init(base, cfg, cause) == -1 ||
	    session_init(cause) == -1)
		return (-1);
	metrics_init();
	return (0);
}

/* Loads and checks @path without applying it (config check, before a reload). */
int
gate_check_file(const char *path, char **cause)
{
	struct config	*cfg;

	if ((cfg = config_load(path, cause)) == NULL ||
	    session_check_templates(cfg, cause) == -1) {
		config_free(cfg);
		return (-1);
	}
	config_free(cfg);
	return (0);
}

/* SIGHUP or POST /hub/api/reload: @path checked (templates too), then applied. */
int
gate_reload_file(const char *path, char **cause)
{
	struct config	*cfg;

	gate->reload_time = time(NULL);
	free(gate->reload_error);
	gate->reload_error = NULL;
	if ((cfg = config_load(path, cause)) == NULL || gate_reload(cfg, cause) == -1) {
		log_warnx("reload failed, keeping the running configuration:\n%s", *cause);
		gate->reload_error = xstrdup(*cause);
		config_free(cfg);
		return (-1);
	}
	return (0);
}

/* Applies a new config (owned on success): TLS, limits, log level; listeners stay. */
int
gate_reload(struct config *cfg, char **cause)
{
	struct sshd_settings	 ss;
	void			*ctx;
	struct config		*old = gate->cfg;

	if (session_check_templates(cfg, cause) == -1 ||
	    gate_tls(cfg, &ctx, cause) == -1)
		return (-1);
	if (oidc_init(cfg, cause) == -1) {
		tls_ctx_free(ctx);
		return (-1);
	}
	if (strcmp(cfg->https_listen, old->https_listen) != 0 ||
	    strcmp(cfg->ssh_listen, old->ssh_listen) != 0 ||
	    strcmp(cfg->admin_socket, old->admin_socket) != 0 ||
	    strcmp(cfg->state_dir, old->state_dir) != 0)
		log_warnx("reload: listen addresses and state_dir change only on restart");
	tls_ctx_free(gate->ssl_ctx);
	gate->ssl_ctx = ctx;
	gate->hsts = gate_hsts(cfg, ctx);
	gate_ssh_settings(cfg, &ss);
	sshd_set_settings(gate->sshd, &ss);
	log_set_level(cfg->log_level);
	log_set_format(cfg->log_format);
	gate->cfg = cfg;
	session_reload(cfg);
	outbox_reload(cfg);
	config_free(old);
	log_info("reload: configuration %s applied", cfg->path != NULL ? cfg->path : "(built-in)");
	return (0);
}

/* Stops listening and drops every connection (notebooks and jobs keep running). */
void
gate_stop(void)
{
	if (gate_https != NULL)
		evconnlistener_free(gate_https);
	if (gate_admin != NULL) {
		evconnlistener_free(gate_admin);
		unlink(gate->cfg->admin_socket);
	}
	gate_https = gate_admin = NULL;
	login_shutdown();
	api_users_shutdown();
	oidc_shutdown();
	conn_close_all();
	metrics_shutdown();
	enroll_shutdown();
	session_shutdown();
	cred_shutdown();
	free(gate->reload_error);
	gate->reload_error = NULL;
	outbox_shutdown();
	if (gate->sshd != NULL)
		sshd_free(gate->sshd);
	gate->sshd = NULL;
	route_clear();
	auth_clear();
	store_close();
	tls_ctx_free(gate->ssl_ctx);
	gate->ssl_ctx = NULL;
	config_free(gate->cfg);
	gate->cfg = NULL;
}
