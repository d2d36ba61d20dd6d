/*
 * transport.c: runs scheduler commands off the loop: locally as children
 * (proc.c), or on a login node through one persistent libssh session owned
 * by a worker thread per cluster, one exec channel per command.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libssh/libssh.h>

#include "common/common.h"
#include "scheduler/backend.h"

#define TRANSPORT_PATH	"/usr/local/bin:/usr/bin:/bin"
#define TRANSPORT_MAX	PROC_OUTPUT_MAX

struct transport_req {
	struct transport	*t;
	transport_cb		 cb;
	void			*arg;
	int			 timeout;
	char			*cmd;		/* SSH: the quoted command line */
	char			*input;
	size_t			 inlen;
	struct proc		*proc;		/* LOCAL */
	struct helper_req	*hreq;		/* LOCAL, through the helper */
	void			*http_req;	/* HTTP */
	char			*fragment;	/* HTTP: handed back as err */
	int			 cancelled;	/* SSH, while the worker runs it */
	/* SSH result, filled by the worker */
	int			 status;
	int			 timed_out;
	char			*error;
	struct evbuffer		*out;
	struct evbuffer		*err;
	TAILQ_ENTRY(transport_req) entry;
};
TAILQ_HEAD(transport_reqs, transport_req);

struct transport {
	struct event_base	*base;
	enum transport_kind	 kind;
	char			*name;
	char			*path;
	char			*slurm_conf;
	char			**env;		/* NAME=value, nenv of them */
	size_t			 nenv;
	char			*workdir;
	char			*host;
	int			 port;
	char			*user;
	char			*key_file;
	char			*key_mem;	/* OpenSSH private key text (under lock) */
	char			*cert_mem;	/* "type base64 [comment]" (under lock) */
	int			 rekeyed;	/* new key: reconnect before the next command */
	char			*hostkey;	/* "type base64" */
	int			 connect_timeout;
	struct transport_reqs	 local;		/* LOCAL: running children */
	struct proc_cred	 cred;		/* LOCAL: the account children run as */
	gid_t			*groups;
	int			 run_as;	/* LOCAL: cred applies (we are root) */
	char			*helper_path;	/* LOCAL: commands of this program go to... */
	struct helper		*helper;	/* ...its long-lived serve process */
	const struct transport_http *http;	/* HTTP */
	char			**helper_env;	/* the helper's, owned */
	/* SSH: the worker and its queues (pending, done) under lock */
	pthread_t		 thread;
	int			 started;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct transport_reqs	 pending;
	struct transport_reqs	 done;
	struct transport_req	*current;
	int			 stop;
	int			 notify[2];
	struct event		*ev_notify;
	ssh_session		 session;	/* worker only */
};

/* --- quoting ---------------------------------------------------------------------------- */

/* One word for a POSIX shell: single-quoted, with ' as '\''. */
char *
transport_quote(const char *s)
{
	size_t	 n = 3, i;
	char	*q, *p;

	for (i = 0; s[i] != '\0'; i++)
		n += s[i] == '\'' ? 4 : 1;
	p = q = xmalloc(n);
	*p++ = '\'';
	for (; *s != '\0'; s++) {
		if (*s == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else
			*p++ = *s;
	}
	*p++ = '\'';
	*p = '\0';
	return (q);
}

char *
transport_join(const char *const *argv)
{
	char	*line = NULL, *q, *tmp;
	size_t	 i;

	for (i = 0; argv[i] != NULL; i++) {
		q = transport_quote(argv[i]);
		xasprintf(&tmp, "%s%s%s", line != NULL ? line : "", i > 0 ? " " : "", q);
		free(q);
		free(line);
		line = tmp;
	}
	return (line != NULL ? line : xstrdup(""));
}

/* --- requests ----------------------------------------------------------------------------- */

static void
transport_req_free(struct transport_req *r)
{
	if (r->cmd != NULL)
		freestr(r->cmd);
	if (r->input != NULL)
		freezero(r->input, r->inlen);
	free(r->error);
	free(r->fragment);
	if (r->out != NULL)
		evbuffer_free(r->out);
	if (r->err != NULL)
		evbuffer_free(r->err);
	free(r);
}

static const char *
transport_text(struct evbuffer *b, size_t *len)
{
	*len = evbuffer_get_length(b);
	evbuffer_add(b, "", 1);
	return ((const char *)evbuffer_pullup(b, -1));
}

static void
transport_report(struct transport_req *r, int status, int timed_out, const char *error,
    struct evbuffer *out, struct evbuffer *err)
{
	struct transport_result	res;

	memset(&res, 0, sizeof res);
	res.status = status;
	res.timed_out = timed_out;
	res.error = error;
	res.out = transport_text(out, &res.outlen);
	res.err = transport_text(err, &res.errlen);
	r->cb(&res, r->arg);
}

/* --- LOCAL --------------------------------------------------------------------------------- */

static void
transport_local_done(const struct proc_result *pr, void *arg)
{
	struct transport_req	*r = arg;
	struct transport	*t = r->t;

	TAILQ_REMOVE(&t->local, r, entry);
	r->proc = NULL;
	transport_report(r, pr->exited ? pr->status : -1, pr->timed_out,
	    pr->overflow ? "scheduler command output too large" : NULL, pr->out, pr->err);
	transport_req_free(r);
}

/* What every local child gets: PATH, LANG=C and SLURM_CONF (owned strings). */
/*
 * The environment local commands and the helper run with (NULL-terminated,
 * owned): PATH, LANG, SLURM_CONF and the cluster's environment: lines, whose
 * PATH replaces ours.
 */
static char **
transport_local_env(struct transport *t)
{
	char	**env = xcalloc(4 + t->nenv, sizeof *env);
	size_t	  i, n = 2;

	xasprintf(&env[0], "PATH=%s", t->path);
	env[1] = xstrdup("LANG=C");
	if (t->slurm_conf != NULL)
		xasprintf(&env[n++], "SLURM_CONF=%s", t->slurm_conf);
	for (i = 0; i < t->nenv; i++) {
		if (strncmp(t->env[i], "PATH=", 5) == 0) {
			free(env[0]);
			env[0] = xstrdup(t->env[i]);
		} else
			env[n++] = xstrdup(t->env[i]);
	}
	return (env);
}

static void
transport_env_free(char **env)
{
	size_t	i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

static void
transport_local_spec(struct transport *t, struct proc_spec *spec, char *const *env)
{
	memset(spec, 0, sizeof *spec);
	spec->env = (const char *const *)env;
	spec->output_max = TRANSPORT_MAX;
	spec->dir = t->workdir;
	spec->cred = t->run_as ? &t->cred : NULL;
}

static void
transport_helper_done(int status, int timed_out, const char *error, struct evbuffer *out,
    struct evbuffer *err, void *arg)
{
	struct transport_req	*r = arg;

	TAILQ_REMOVE(&r->t->local, r, entry);
	r->hreq = NULL;
	transport_report(r, status, timed_out, error, out, err);
	transport_req_free(r);
}

static int
transport_local_run(struct transport_req *r, const char *const *argv, char **cause)
{
	struct transport	*t = r->t;
	struct proc_spec	 spec;
	char			**env;

	if (t->helper != NULL && argv[0] != NULL && strcmp(argv[0], t->helper_path) == 0) {
		r->hreq = helper_run(t->helper, argv + 1, r->input, r->inlen, r->timeout,
		    transport_helper_done, r, cause);
		if (r->hreq == NULL)
			return (-1);
		TAILQ_INSERT_TAIL(&t->local, r, entry);
		return (0);
	}
	env = transport_local_env(t);
	transport_local_spec(t, &spec, env);
	spec.argv = argv;
	spec.input = r->input;
	spec.inlen = r->inlen;
	spec.timeout = r->timeout;
	r->proc = proc_run(t->base, &spec, transport_local_done, r, cause);
	transport_env_free(env);
	if (r->proc == NULL)
		return (-1);
	TAILQ_INSERT_TAIL(&t->local, r, entry);
	return (0);
}

/* --- HTTP --------------------------------------------------------------------------------- */

static void
transport_http_done(long status, const char *error, const char *body, size_t len, void *arg)
{
	struct transport_req	*r = arg;
	struct evbuffer		*out, *err;

	TAILQ_REMOVE(&r->t->local, r, entry);
	r->http_req = NULL;
	if ((out = evbuffer_new()) == NULL || (err = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	evbuffer_add(out, body != NULL ? body : "", body != NULL ? len : 0);
	if (r->fragment != NULL)
		evbuffer_add(err, r->fragment, strlen(r->fragment));
	transport_report(r, error != NULL || status <= 0 ? -1 : (int)status, 0,
	    error != NULL ? error : status <= 0 ? "no answer" : NULL, out, err);
	evbuffer_free(out);
	evbuffer_free(err);
	transport_req_free(r);
}

/* {METHOD, API, PATH[#FRAGMENT]} to the caller's HTTP client. */
static int
transport_http_run(struct transport_req *r, const char *const *argv, char **cause)
{
	struct transport	*t = r->t;
	const char		*hash;
	char			*path;

	if (argv[0] == NULL || argv[1] == NULL || argv[2] == NULL || argv[3] != NULL) {
		*cause = xstrdup("http transport: a request is METHOD API PATH");
		return (-1);
	}
	if ((hash = strchr(argv[2], '#')) != NULL) {
		path = xstrndup(argv[2], hash - argv[2]);
		r->fragment = xstrdup(hash + 1);
	} else
		path = xstrdup(argv[2]);
	r->http_req = t->http->request(t->http->ctx, argv[0], argv[1], path, r->input,
	    r->inlen, r->timeout, transport_http_done, r, cause);
	free(path);
	if (r->http_req == NULL)
		return (-1);
	TAILQ_INSERT_TAIL(&t->local, r, entry);
	return (0);
}

/* --- SSH worker ------------------------------------------------------------------------------ */

static void
transport_ssh_close(struct transport *t)
{
	if (t->session != NULL) {
		ssh_disconnect(t->session);
		ssh_free(t->session);
		t->session = NULL;
	}
}

/* The server's key must be the pinned one, type and bits. */
static int
transport_ssh_hostkey(struct transport *t, char **cause)
{
	ssh_key		 key = NULL;
	char		*b64 = NULL, *got = NULL, *fp = NULL;
	unsigned char	*hash = NULL;
	size_t		 hlen;
	int		 rc = -1;

	if (ssh_get_server_publickey(t->session, &key) != SSH_OK ||
	    ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
		xasprintf(cause, "cannot read the host key");
		goto out;
	}
	xasprintf(&got, "%s %s", ssh_key_type_to_char(ssh_key_type(key)), b64);
	if (strcmp(got, t->hostkey) == 0) {
		rc = 0;
		goto out;
	}
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0)
		fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	xasprintf(cause, "host key mismatch: the server offered %s %s, not the pinned key",
	    ssh_key_type_to_char(ssh_key_type(key)), fp != NULL ? fp : "?");
out:
	ssh_clean_pubkey_hash(&hash);
	ssh_string_free_char(fp);
	ssh_string_free_char(b64);
	free(got);
	ssh_key_free(key);
	return (rc);
}

/* A certificate line "type base64 [comment]" attached to priv. */
static int
transport_cert_attach(const char *line, ssh_key priv)
{
	ssh_key		 cert = NULL;
	char		*type, *b64;
	int		 rc = -1;

	type = xstrndup(line, strcspn(line, " "));
	b64 = xstrdup(line + strlen(type) + (line[strlen(type)] == ' '));
	b64[strcspn(b64, " \n")] = '\0';
	if (ssh_pki_import_cert_base64(b64, ssh_key_type_from_name(type), &cert) == SSH_OK &&
	    ssh_pki_copy_cert_to_privkey(cert, priv) == SSH_OK)
		rc = 0;
	ssh_key_free(cert);
	free(type);
	free(b64);
	return (rc);
}

/*
 * Loads the private key: the one given in memory (with its certificate), or
 * the key file and, when KEY-cert.pub exists, the certificate beside it.
 */
static int
transport_ssh_auth(struct transport *t, char **cause)
{
	ssh_key		 priv = NULL, cert = NULL;
	char		*certpath = NULL, *key = NULL, *certline = NULL;
	struct stat	 sb;
	int		 rc = -1;

	pthread_mutex_lock(&t->lock);
	if (t->key_mem != NULL) {
		key = xstrdup(t->key_mem);
		certline = t->cert_mem != NULL ? xstrdup(t->cert_mem) : NULL;
	}
	t->rekeyed = 0;
	pthread_mutex_unlock(&t->lock);
	if (key != NULL) {
		if (ssh_pki_import_privkey_base64(key, NULL, NULL, NULL, &priv) != SSH_OK) {
			xasprintf(cause, "cannot load the key given for %s", t->user);
			goto out;
		}
		if (certline != NULL && transport_cert_attach(certline, priv) == -1) {
			xasprintf(cause, "cannot use the certificate given for %s", t->user);
			goto out;
		}
	} else {
		if (ssh_pki_import_privkey_file(t->key_file, NULL, NULL, NULL, &priv) != SSH_OK) {
			xasprintf(cause, "cannot load the key %s", t->key_file);
			goto out;
		}
		xasprintf(&certpath, "%s-cert.pub", t->key_file);
		if (stat(certpath, &sb) == 0) {
			if (ssh_pki_import_cert_file(certpath, &cert) != SSH_OK ||
			    ssh_pki_copy_cert_to_privkey(cert, priv) != SSH_OK) {
				xasprintf(cause, "cannot use the certificate %s", certpath);
				goto out;
			}
		}
	}
	if (ssh_userauth_publickey(t->session, NULL, priv) != SSH_AUTH_SUCCESS) {
		xasprintf(cause, "%s@%s refused the %s: %s", t->user, t->host,
		    certline != NULL ? "certificate" : "key", ssh_get_error(t->session));
		goto out;
	}
	rc = 0;
out:
	free(certpath);
	freestr(key);
	free(certline);
	ssh_key_free(cert);
	ssh_key_free(priv);
	return (rc);
}

static int
transport_ssh_connect(struct transport *t, char **cause)
{
	char	*type;
	long	 timeout = t->connect_timeout;
	int	 no = 0;

	if (t->session != NULL)
		return (0);
	if ((t->session = ssh_new()) == NULL)
		fatalx("ssh_new failed");
	type = xstrndup(t->hostkey, strcspn(t->hostkey, " "));
	ssh_options_set(t->session, SSH_OPTIONS_HOST, t->host);
	ssh_options_set(t->session, SSH_OPTIONS_PORT, &t->port);
	ssh_options_set(t->session, SSH_OPTIONS_USER, t->user);
	ssh_options_set(t->session, SSH_OPTIONS_TIMEOUT, &timeout);
	ssh_options_set(t->session, SSH_OPTIONS_PROCESS_CONFIG, &no);
	ssh_options_set(t->session, SSH_OPTIONS_HOSTKEYS, type);
	free(type);
	if (ssh_connect(t->session) != SSH_OK) {
		xasprintf(cause, "cannot connect: %s", ssh_get_error(t->session));
		goto fail;
	}
	if (transport_ssh_hostkey(t, cause) == -1 || transport_ssh_auth(t, cause) == -1)
		goto fail;
	log_info("%s: connected to %s@%s:%d", t->name, t->user, t->host, t->port);
	return (0);
fail:
	transport_ssh_close(t);
	return (-1);
}

static long long
transport_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static int
transport_ssh_stopping(struct transport *t)
{
	int	stop;

	pthread_mutex_lock(&t->lock);
	stop = t->stop || (t->current != NULL && t->current->cancelled);
	pthread_mutex_unlock(&t->lock);
	return (stop);
}

/* Reads both streams until EOF, the deadline, a ceiling or cancellation. */
static int
transport_ssh_read(struct transport *t, struct transport_req *r, ssh_channel ch,
    long long deadline)
{
	char	buf[16384];
	int	n, m, s;

	for (;;) {
		if (r->timeout > 0 && transport_now_ms() > deadline) {
			r->timed_out = 1;
			ssh_channel_request_send_signal(ch, "TERM");
			return (-1);
		}
		if (transport_ssh_stopping(t))
			return (-1);
		for (s = 0, m = 0; s < 2; s++) {
			n = ssh_channel_read_timeout(ch, buf, sizeof buf, s, s == 0 ? 100 : 0);
			if (n == SSH_ERROR) {
				xasprintf(&r->error, "ssh: %s", ssh_get_error(t->session));
				return (-1);
			}
			if (n > 0)
				evbuffer_add(s == 0 ? r->out : r->err, buf, n);
			m += n > 0 ? n : 0;
		}
		if (evbuffer_get_length(r->out) > TRANSPORT_MAX ||
		    evbuffer_get_length(r->err) > TRANSPORT_MAX) {
			r->error = xstrdup("scheduler command output too large");
			return (-1);
		}
		if (m == 0 && ssh_channel_is_eof(ch))
			return (0);
	}
}

/* Runs one request on its own channel; 0, or -1 when the session itself failed. */
static int
transport_ssh_exec(struct transport *t, struct transport_req *r)
{
	ssh_channel	 ch;
	long long	 deadline = transport_now_ms() + r->timeout;
	int		 rc = 0;

	if ((ch = ssh_channel_new(t->session)) == NULL ||
	    ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, r->cmd) != SSH_OK) {
		xasprintf(&r->error, "ssh %s: cannot run a command: %s", t->host,
		    ssh_get_error(t->session));
		rc = -1;
		goto out;
	}
	if (r->inlen > 0 && ssh_channel_write(ch, r->input, r->inlen) != (int)r->inlen) {
		xasprintf(&r->error, "ssh: cannot send input: %s", ssh_get_error(t->session));
		rc = -1;
		goto out;
	}
	ssh_channel_send_eof(ch);
	if (transport_ssh_read(t, r, ch, deadline) == 0) {
		ssh_channel_close(ch);
		r->status = ssh_channel_get_exit_status(ch);
		if (r->status < 0)
			r->error = xstrdup("ssh: the command ended without an exit status");
	}
out:
	if (ch != NULL) {
		ssh_channel_close(ch);
		ssh_channel_free(ch);
	}
	return (rc);
}

static void
transport_ssh_one(struct transport *t, struct transport_req *r)
{
	char	*cause = NULL;
	int	 attempt;

	r->status = -1;
	for (attempt = 0; attempt < 2; attempt++) {
		free(r->error);
		r->error = NULL;
		evbuffer_drain(r->out, evbuffer_get_length(r->out));
		evbuffer_drain(r->err, evbuffer_get_length(r->err));
		if (transport_ssh_connect(t, &cause) == -1) {
			xasprintf(&r->error, "ssh %s@%s:%d: %s", t->user, t->host, t->port, cause);
			free(cause);
			return;
		}
		if (transport_ssh_exec(t, r) == 0)
			return;
		/* a stale session (login node restarted): reconnect once */
		transport_ssh_close(t);
	}
}

static void *
transport_ssh_worker(void *arg)
{
	struct transport	*t = arg;
	struct transport_req	*r;
	char			 c = 0;
	int			 rekeyed;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->stop && TAILQ_EMPTY(&t->pending))
			pthread_cond_wait(&t->cond, &t->lock);
		if (t->stop)
			break;
		r = TAILQ_FIRST(&t->pending);
		TAILQ_REMOVE(&t->pending, r, entry);
		t->current = r;
		rekeyed = t->rekeyed;
		pthread_mutex_unlock(&t->lock);
		if (rekeyed)		/* a new key or certificate: log in afresh */
			transport_ssh_close(t);
		transport_ssh_one(t, r);
		pthread_mutex_lock(&t->lock);
		t->current = NULL;
		TAILQ_INSERT_TAIL(&t->done, r, entry);
		if (write(t->notify[1], &c, 1) == -1 && errno != EAGAIN)
			log_warn("%s: notify", t->name);
	}
	pthread_mutex_unlock(&t->lock);
	transport_ssh_close(t);
	return (NULL);
}

/* In the loop: hands finished SSH requests to their callbacks. */
static void
transport_notify_cb(evutil_socket_t fd, short events, void *arg)
{
	struct transport	*t = arg;
	struct transport_reqs	 done;
	struct transport_req	*r;
	char			 buf[256];

	while (read(fd, buf, sizeof buf) > 0)
		;
	TAILQ_INIT(&done);
	pthread_mutex_lock(&t->lock);
	TAILQ_CONCAT(&done, &t->done, entry);
	pthread_mutex_unlock(&t->lock);
	while ((r = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, r, entry);
		if (!r->cancelled)
			transport_report(r, r->error != NULL ? -1 : r->status, r->timed_out,
			    r->error, r->out, r->err);
		transport_req_free(r);
	}
}

static int
transport_ssh_start(struct transport *t, char **cause)
{
	if (pipe2(t->notify, O_CLOEXEC | O_NONBLOCK) == -1) {
		xasprintf(cause, "pipe: %s", strerror(errno));
		return (-1);
	}
	t->ev_notify = event_new(t->base, t->notify[0], EV_READ | EV_PERSIST,
	    transport_notify_cb, t);
	if (t->ev_notify == NULL || event_add(t->ev_notify, NULL) == -1)
		fatalx("event_new failed");
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	if (pthread_create(&t->thread, NULL, transport_ssh_worker, t) != 0) {
		xasprintf(cause, "cannot start the SSH worker");
		return (-1);
	}
	t->started = 1;
	return (0);
}

/* --- the transport --------------------------------------------------------------------- */

static int
transport_check(const struct transport_config *cfg, char **cause)
{
	if (cfg->kind == TRANSPORT_LOCAL && cfg->user != NULL && !sched_name_valid(cfg->user)) {
		xasprintf(cause, "local transport: bad user name");
		return (-1);
	}
	if (cfg->kind == TRANSPORT_LOCAL)
		return (0);
	if (cfg->kind == TRANSPORT_HTTP) {
		if (cfg->http == NULL || cfg->http->request == NULL || cfg->http->cancel == NULL) {
			xasprintf(cause, "http transport needs a client");
			return (-1);
		}
		return (0);
	}
	if (cfg->host == NULL || cfg->user == NULL ||
	    (cfg->key_file == NULL && cfg->key_text == NULL) || cfg->hostkey == NULL) {
		xasprintf(cause, "ssh transport needs host, user, a key and host key");
		return (-1);
	}
	if (strchr(cfg->hostkey, ' ') == NULL || cfg->port <= 0 || cfg->port > 65535) {
		xasprintf(cause, "ssh transport: bad host key line or port");
		return (-1);
	}
	return (0);
}

/* LOCAL as another account: root switches to it in each child; that account itself needs nothing. */
static int
transport_local_user(struct transport *t, const char *user, char **cause)
{
	struct passwd	*pw;
	int		 n = 64;

	if ((pw = getpwnam(user)) == NULL) {
		xasprintf(cause, "local transport: no user %s", user);
		return (-1);
	}
	if (pw->pw_uid == geteuid())
		return (0);
	if (geteuid() != 0) {
		xasprintf(cause, "local transport: commands run as %s, but nbgated runs as "
		    "uid %u, not root", user, (unsigned)geteuid());
		return (-1);
	}
	t->groups = xreallocarray(NULL, n, sizeof *t->groups);
	if (getgrouplist(user, pw->pw_gid, t->groups, &n) == -1) {
		t->groups = xreallocarray(t->groups, n, sizeof *t->groups);
		if (getgrouplist(user, pw->pw_gid, t->groups, &n) == -1) {
			xasprintf(cause, "local transport: cannot list the groups of %s", user);
			return (-1);
		}
	}
	t->cred.uid = pw->pw_uid;
	t->cred.gid = pw->pw_gid;
	t->cred.groups = t->groups;
	t->cred.ngroups = (size_t)n;
	t->run_as = 1;
	return (0);
}

struct transport *
transport_new(struct event_base *base, const struct transport_config *cfg, char **cause)
{
	struct transport	*t;
	const char		*sp;

	if (transport_check(cfg, cause) == -1)
		return (NULL);
	t = xcalloc(1, sizeof *t);
	t->base = base;
	t->kind = cfg->kind;
	t->http = cfg->http;
	t->name = xstrdup(cfg->name != NULL ? cfg->name : "scheduler");
	t->path = xstrdup(cfg->path != NULL ? cfg->path : TRANSPORT_PATH);
	t->slurm_conf = cfg->slurm_conf != NULL ? xstrdup(cfg->slurm_conf) : NULL;
	if (cfg->nenv > 0) {
		t->env = xcalloc(cfg->nenv, sizeof *t->env);
		for (t->nenv = 0; t->nenv < cfg->nenv; t->nenv++)
			t->env[t->nenv] = xstrdup(cfg->env[t->nenv]);
	}
	t->workdir = cfg->workdir != NULL ? xstrdup(cfg->workdir) : NULL;
	t->host = cfg->host != NULL ? xstrdup(cfg->host) : NULL;
	t->port = cfg->port;
	t->user = cfg->user != NULL ? xstrdup(cfg->user) : NULL;
	t->key_file = cfg->key_file != NULL ? xstrdup(cfg->key_file) : NULL;
	t->key_mem = cfg->key_text != NULL ? xstrdup(cfg->key_text) : NULL;
	t->cert_mem = cfg->cert_line != NULL ? xstrdup(cfg->cert_line) : NULL;
	if (cfg->hostkey != NULL) {		/* keep "type base64", drop the comment */
		sp = strchr(cfg->hostkey, ' ');
		t->hostkey = xstrndup(cfg->hostkey, sp - cfg->hostkey + 1 + strcspn(sp + 1, " "));
	}
	t->connect_timeout = cfg->connect_timeout > 0 ? cfg->connect_timeout : 10;
	t->notify[0] = t->notify[1] = -1;
	TAILQ_INIT(&t->local);
	TAILQ_INIT(&t->pending);
	TAILQ_INIT(&t->done);
	if ((t->kind == TRANSPORT_SSH && transport_ssh_start(t, cause) == -1) ||
	    (t->kind == TRANSPORT_LOCAL && t->user != NULL &&
	    transport_local_user(t, t->user, cause) == -1)) {
		transport_free(t);
		return (NULL);
	}
	if (t->kind == TRANSPORT_LOCAL && cfg->helper != NULL) {
		struct proc_spec	spec;

		t->helper_path = xstrdup(cfg->helper);
		t->helper_env = transport_local_env(t);
		transport_local_spec(t, &spec, t->helper_env);
		t->helper = helper_new(base, t->helper_path, &spec);
	}
	return (t);
}

/* SSH with an in-memory key: replaces key and certificate; used from the next login on. */
void
transport_rekey(struct transport *t, const char *key, const char *cert)
{
	if (t->kind != TRANSPORT_SSH || t->key_mem == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	freestr(t->key_mem);
	free(t->cert_mem);
	t->key_mem = xstrdup(key);
	t->cert_mem = cert != NULL ? xstrdup(cert) : NULL;
	t->rekeyed = 1;
	pthread_mutex_unlock(&t->lock);
}

/* LOCAL with a helper: its children started so far (0: none, or no helper). */
unsigned long long
transport_helper_started(const struct transport *t)
{
	return (t->helper != NULL ? helper_started(t->helper) : 0);
}

enum transport_kind
transport_kind(const struct transport *t)
{
	return (t->kind);
}

/*
 * Stops the worker (waiting for the command it runs, which gives up at its
 * next 100 ms read slice) and frees every request without callbacks.
 */
void
transport_free(struct transport *t)
{
	struct transport_req	*r;
	size_t			 i;

	if (t == NULL)
		return;
	while ((r = TAILQ_FIRST(&t->local)) != NULL) {
		TAILQ_REMOVE(&t->local, r, entry);
		proc_cancel(r->proc);
		helper_cancel(r->hreq);
		if (r->http_req != NULL)
			t->http->cancel(r->http_req);
		transport_req_free(r);
	}
	helper_free(t->helper);
	free(t->helper_path);
	transport_env_free(t->helper_env);
	if (t->started) {
		pthread_mutex_lock(&t->lock);
		t->stop = 1;
		pthread_cond_signal(&t->cond);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->thread, NULL);
		TAILQ_CONCAT(&t->done, &t->pending, entry);
		while ((r = TAILQ_FIRST(&t->done)) != NULL) {
			TAILQ_REMOVE(&t->done, r, entry);
			transport_req_free(r);
		}
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->cond);
	}
	if (t->ev_notify != NULL)
		event_free(t->ev_notify);
	if (t->notify[0] != -1) {
		close(t->notify[0]);
		close(t->notify[1]);
	}
	free(t->name);
	free(t->path);
	free(t->slurm_conf);
	for (i = 0; i < t->nenv; i++)
		free(t->env[i]);
	free(t->env);
	free(t->workdir);
	free(t->host);
	free(t->user);
	free(t->groups);
	free(t->key_file);
	freestr(t->key_mem);
	free(t->cert_mem);
	free(t->hostkey);
	free(t);
}

/* The remote command line: argv, after env(1) with the configured variables if any. */
static char *
transport_ssh_command(const struct transport *t, const char *const *argv)
{
	const char	**v;
	char		 *cmd;
	size_t		  n = 0, i;

	if (t->nenv == 0)
		return (transport_join(argv));
	while (argv[n] != NULL)
		n++;
	v = xcalloc(n + t->nenv + 2, sizeof *v);
	v[0] = "env";
	for (i = 0; i < t->nenv; i++)
		v[1 + i] = t->env[i];
	for (i = 0; i < n; i++)
		v[1 + t->nenv + i] = argv[i];
	cmd = transport_join(v);
	free(v);
	return (cmd);
}

/* Queues a command; NULL and *cause if it cannot even start. */
struct transport_req *
transport_run(struct transport *t, const char *const *argv, const char *input, size_t len,
    int timeout, transport_cb cb, void *arg, char **cause)
{
	struct transport_req	*r = xcalloc(1, sizeof *r);

	r->t = t;
	r->cb = cb;
	r->arg = arg;
	r->timeout = timeout;
	if (input != NULL && len > 0) {
		r->input = xmalloc(len);
		memcpy(r->input, input, len);
		r->inlen = len;
	}
	if (t->kind == TRANSPORT_HTTP) {
		if (transport_http_run(r, argv, cause) == -1) {
			transport_req_free(r);
			return (NULL);
		}
		return (r);
	}
	if (t->kind == TRANSPORT_LOCAL) {
		if (transport_local_run(r, argv, cause) == -1) {
			transport_req_free(r);
			return (NULL);
		}
		return (r);
	}
	r->cmd = transport_ssh_command(t, argv);
	if ((r->out = evbuffer_new()) == NULL || (r->err = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	pthread_mutex_lock(&t->lock);
	TAILQ_INSERT_TAIL(&t->pending, r, entry);
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	return (r);
}

/* Forgets a request: no callback. A running SSH command is abandoned by the worker. */
void
transport_cancel(struct transport_req *r)
{
	struct transport	*t;

	if (r == NULL)
		return;
	t = r->t;
	if (t->kind == TRANSPORT_LOCAL || t->kind == TRANSPORT_HTTP) {
		TAILQ_REMOVE(&t->local, r, entry);
		proc_cancel(r->proc);
		helper_cancel(r->hreq);
		if (r->http_req != NULL)
			t->http->cancel(r->http_req);
		transport_req_free(r);
		return;
	}
	pthread_mutex_lock(&t->lock);
	if (t->current == r) {
		r->cancelled = 1;	/* the worker moves it to done; the loop frees it */
		r = NULL;
	} else {
		/* still pending, or done and not yet delivered */
		struct transport_req	*p;
		int			 pending = 0;

		TAILQ_FOREACH(p, &t->pending, entry) {
			if (p == r)
				pending = 1;
		}
		if (pending)
			TAILQ_REMOVE(&t->pending, r, entry);
		else
			TAILQ_REMOVE(&t->done, r, entry);
	}
	pthread_mutex_unlock(&t->lock);
	if (r != NULL)
		transport_req_free(r);
}
