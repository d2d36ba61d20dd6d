/*
 * notebook.c: the agent's notebook server: builds the container command line
 * (no shell), starts it in its own process group with its secret token in a
 * 0600 config file (removed once it answers; never in an environment or a
 * command line), probes it until it answers, and supervises it until it exits.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/common.h"
#include "agent/agent.h"

#define NB_TAIL_LINES	20		/* lines of output kept for the exit report */
#define NB_LINE_MAX	1024		/* longer lines are cut */
#define NB_PROBE_MS	50		/* between readiness probes (a connect + GET) */
#define NB_PROBE_TIMEOUT 5		/* seconds for one probe */
#define NB_STOP_MS	100		/* polling while stopping */
#define NB_STOP_KILL	10		/* seconds from SIGTERM to SIGKILL */
#define NB_STOP_GIVEUP	12		/* seconds until we stop waiting at all */
#define NB_TOKEN_BYTES	32
#define NB_CONF_NAME	"token.py"	/* in the private dir, until it answers */

extern char **environ;

enum nb_state { NB_STARTING, NB_READY, NB_STOPPING, NB_DONE };

struct notebook {
	struct event_base		*base;
	const struct notebook_config	*cfg;
	notebook_cb			 cb;
	void				*arg;
	enum nb_state			 state;
	char				*token;
	char				*dir;		/* private 0700 dir */
	char				*sock;		/* dir/nb.sock unless tcp */
	char				*conf;		/* dir/token.py until it answers */
	int				 port;		/* tcp only */
	int				 ns_fd;		/* isolated tcp: to the helper */
	int				 ns_child;	/* its other end, until forked */
	uint32_t			 ns_seq;
	struct desktop			*desk;		/* desktop: the bridge on sock */
	char				*vnc;		/* desktop: Xvnc's socket */
	pid_t				 pid;		/* also the process group */
	int				 reaped;
	int				 status;
	int				 out_fd;	/* the child's stdout+stderr */
	struct event			*out_ev;
	struct evbuffer			*out;		/* partial line */
	char				*tail[NB_TAIL_LINES];
	size_t				 ntail;		/* lines ever seen */
	struct event			*sigchld;
	struct event			*probe_timer;
	struct bufferevent		*probe;
	struct timespec			 started;
	struct event			*stop_timer;
	struct timespec			 stop_started;
	int				 killed;
	char				*fail;		/* reported as EXITED once stopped */
};

static const char *
nb_runtime_name(enum notebook_runtime rt)
{
	return (rt == NOTEBOOK_RUNTIME_APPTAINER ? "apptainer" : "singularity");
}

/* Parses "singularity", "apptainer" or "none". */
int
notebook_runtime_parse(const char *s, enum notebook_runtime *rt)
{
	if (strcmp(s, "singularity") == 0)
		*rt = NOTEBOOK_RUNTIME_SINGULARITY;
	else if (strcmp(s, "apptainer") == 0)
		*rt = NOTEBOOK_RUNTIME_APPTAINER;
	else if (strcmp(s, "none") == 0)
		*rt = NOTEBOOK_RUNTIME_NONE;
	else
		return (-1);
	return (0);
}

/*
 * Parses "classic", "server" or "lab"; "NotebookApp" and "ServerApp" (the
 * names of the agent before flavours) mean classic and server.
 */
int
notebook_flavour_parse(const char *s, enum notebook_flavour *f)
{
	if (strcmp(s, "classic") == 0 || strcmp(s, "NotebookApp") == 0)
		*f = NOTEBOOK_CLASSIC;
	else if (strcmp(s, "server") == 0 || strcmp(s, "ServerApp") == 0)
		*f = NOTEBOOK_SERVER;
	else if (strcmp(s, "lab") == 0)
		*f = NOTEBOOK_LAB;
	else
		return (-1);
	return (0);
}

/*
 * The command a flavour runs without --notebook-cmd. Jupyter Server as a
 * module: Debian's python3-jupyter-server has no jupyter-server script.
 */
const char *
notebook_default_cmd(enum notebook_flavour f)
{
	switch (f) {
	case NOTEBOOK_SERVER:
		return ("python3 -m jupyter_server");
	case NOTEBOOK_LAB:
		return ("jupyter-lab");
	default:
		return ("jupyter-notebook");
	}
}

/* The traitlets class the server's options belong to. */
static const char *
nb_app(const struct notebook_config *cfg)
{
	return (cfg->flavour == NOTEBOOK_CLASSIC ? "NotebookApp" : "ServerApp");
}

/*
 * Checks @url is "/user/<name>/" or "/user/<name>/<server>/" and, with
 * @route, that it is the route's own prefix (the gateway passes paths on
 * unchanged, so any other prefix would 404 behind it).
 */
int
notebook_base_url_check(const char *url, const char *route, char **cause)
{
	const char	*p, *slash, *end;
	size_t		 n = strlen(url);

	if (strncmp(url, "/user/", 6) != 0 || n < 8 || url[n - 1] != '/')
		goto bad;
	p = url + 6;
	end = url + n - 1;
	slash = memchr(p, '/', end - p + 1);
	if (!util_name_segment_valid(p, slash - p))
		goto bad;
	if (slash != end && (memchr(slash + 1, '/', end - slash - 1) != NULL ||
	    !util_name_segment_valid(slash + 1, end - slash - 1)))
		goto bad;
	if (route != NULL && (strlen(route) != n - 7 ||
	    strncmp(route, url + 6, n - 7) != 0)) {
		xasprintf(cause, "--base-url %s does not match route %s "
		    "(expected /user/%s/)", url, route, route);
		return (-1);
	}
	return (0);
bad:
	xasprintf(cause, "--base-url must be /user/<name>/ or "
	    "/user/<name>/<server>/ (lower-case names)");
	return (-1);
}

static void
nb_argv_add(char ***argv, size_t *n, char *s)
{
	*argv = xreallocarray(*argv, *n + 2, sizeof **argv);
	(*argv)[(*n)++] = s;
	(*argv)[*n] = NULL;
}

static void NB_PRINTF(3, 4)
nb_argv_addf(char ***argv, size_t *n, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	nb_argv_add(argv, n, s);
}

/*
 * The runtime's "exec" prefix: --containall (private PID, IPC and mount
 * namespaces, a clean environment, no host $HOME or /tmp), the user's working
 * directory as the only home, the site's binds, and the agent's private
 * directory @dir (socket, token file) bound where it is on the host.
 */
static void
nb_argv_runtime(const struct notebook_config *cfg, const char *dir,
    char ***argv, size_t *n)
{
	size_t	i;

	nb_argv_add(argv, n, xstrdup(nb_runtime_name(cfg->runtime)));
	nb_argv_add(argv, n, xstrdup("exec"));
	nb_argv_add(argv, n, xstrdup("--containall"));
	nb_argv_add(argv, n, xstrdup("--home"));
	nb_argv_add(argv, n, xstrdup(cfg->workdir));
	nb_argv_add(argv, n, xstrdup("--pwd"));
	nb_argv_add(argv, n, xstrdup(cfg->workdir));
	for (i = 0; i < cfg->nbinds; i++) {
		nb_argv_add(argv, n, xstrdup("--bind"));
		nb_argv_add(argv, n, xstrdup(cfg->binds[i]));
	}
	if (dir != NULL) {
		nb_argv_add(argv, n, xstrdup("--bind"));
		nb_argv_add(argv, n, xstrdup(dir));
	}
	if (cfg->gpus)
		nb_argv_add(argv, n, xstrdup("--nv"));
	nb_argv_add(argv, n, xstrdup(cfg->image));
}

/*
 * Builds the notebook's argv (NULL-terminated, free with notebook_argv_free):
 * the runtime's "exec" prefix, then the command, then the server options.
 * @dir is the agent's private directory, holding the config file with the
 * token (NB_CONF_NAME) and, unless @sock is NULL, the Unix socket @sock;
 * with @sock NULL it listens on 127.0.0.1:@port. The token is never part of
 * it: process lists are public on clusters.
 */
char **
notebook_argv(const struct notebook_config *cfg, const char *dir,
    const char *sock, int port)
{
	char		**argv = NULL, *cmd, *w, *save = NULL;
	const char	 *app = nb_app(cfg);
	size_t		  n = 0;

	nb_argv_add(&argv, &n, NULL);	/* argv is never NULL, even if empty */
	n = 0;
	if (cfg->runtime != NOTEBOOK_RUNTIME_NONE)
		nb_argv_runtime(cfg, dir, &argv, &n);
	if (cfg->app != APP_JUPYTER) {
		app_argv(cfg, dir, sock, port, nb_argv_add, &argv, &n);
		return (argv);
	}
	cmd = xstrdup(cfg->cmd);
	for (w = strtok_r(cmd, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save))
		nb_argv_add(&argv, &n, xstrdup(w));
	free(cmd);
	nb_argv_add(&argv, &n, xstrdup("--no-browser"));
	if (dir != NULL)
		nb_argv_addf(&argv, &n, "--config=%s/%s", dir, NB_CONF_NAME);
	nb_argv_addf(&argv, &n, "--%s.base_url=%s", app, cfg->base_url);
	if (sock != NULL) {
		nb_argv_addf(&argv, &n, "--%s.sock=%s", app, sock);
		nb_argv_addf(&argv, &n, "--%s.sock_mode=0600", app);
	} else {
		nb_argv_addf(&argv, &n, "--%s.ip=127.0.0.1", app);
		nb_argv_addf(&argv, &n, "--%s.port=%d", app, port);
		nb_argv_addf(&argv, &n, "--%s.port_retries=0", app);
	}
	/* Jupyter Server calls it root_dir (notebook_dir is deprecated there) */
	nb_argv_addf(&argv, &n, "--%s.%s=%s", app, cfg->flavour == NOTEBOOK_CLASSIC ?
	    "notebook_dir" : "root_dir", cfg->workdir);
	if (cfg->flavour == NOTEBOOK_LAB)	/* what base_url redirects to */
		nb_argv_addf(&argv, &n, "--%s.default_url=/lab", app);
	/*
	 * Browsers reach it through the gateway under the gateway's host name;
	 * the socket is private and the token still required, so the
	 * loopback-only Host check would only get in the way.
	 */
	nb_argv_addf(&argv, &n, "--%s.allow_remote_access=True", app);
	if (cfg->as_root)
		nb_argv_add(&argv, &n, xstrdup("--allow-root"));
	return (argv);
}

/* Frees what notebook_argv() returned; NULL is a no-op. */
void
notebook_argv_free(char **argv)
{
	size_t	i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/* Returns a copy of @line with every @secret replaced by "[token]". */
char *
notebook_redact(const char *line, const char *secret)
{
	struct evbuffer	*b = evbuffer_new();
	const char	*p = line, *hit;
	size_t		 n = secret != NULL ? strlen(secret) : 0, len;
	char		*out;

	if (b == NULL)
		fatalx("evbuffer_new");
	while (n > 0 && (hit = strstr(p, secret)) != NULL) {
		evbuffer_add(b, p, hit - p);
		evbuffer_add(b, "[token]", 7);
		p = hit + n;
	}
	evbuffer_add(b, p, strlen(p));
	len = evbuffer_get_length(b);
	out = xmalloc(len + 1);
	evbuffer_remove(b, out, len);
	out[len] = '\0';
	evbuffer_free(b);
	return (out);
}

static double
nb_since(const struct timespec *t0)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9);
}

/* Keeps the last NB_TAIL_LINES non-blank lines of output, redacted and cut. */
static void
nb_tail_add(struct notebook *nb, const char *line)
{
	char	*s;
	size_t	 slot = nb->ntail % NB_TAIL_LINES;

	if (line[strspn(line, " \t\r")] == '\0')
		return;
	s = notebook_redact(line, nb->token);
	if (strlen(s) > NB_LINE_MAX)
		s[NB_LINE_MAX] = '\0';
	log_debug("agent: route %s: notebook: %s", nb->cfg->route, s);
	free(nb->tail[slot]);
	nb->tail[slot] = s;
	nb->ntail++;
}

static const char *
nb_tail_last(struct notebook *nb)
{
	if (nb->ntail == 0)
		return ("(it printed nothing)");
	return (nb->tail[(nb->ntail - 1) % NB_TAIL_LINES]);
}

static void
nb_tail_log(struct notebook *nb)
{
	size_t	i = nb->ntail > NB_TAIL_LINES ? nb->ntail - NB_TAIL_LINES : 0;

	if (nb->ntail > 0)
		log_warnx("agent: route %s: the notebook's last output:", nb->cfg->route);
	for (; i < nb->ntail; i++)
		log_warnx("agent: route %s: notebook: %s", nb->cfg->route,
		    nb->tail[i % NB_TAIL_LINES]);
}

/* Splits what arrived into lines; at @eof the rest is a line too. */
static void
nb_out_lines(struct notebook *nb, int eof)
{
	char	*line;
	size_t	 n;

	while ((line = evbuffer_readln(nb->out, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		nb_tail_add(nb, line);
		free(line);
	}
	n = evbuffer_get_length(nb->out);
	if (n > NB_LINE_MAX || (eof && n > 0)) {
		line = xmalloc(n + 1);
		evbuffer_remove(nb->out, line, n);
		line[n] = '\0';
		nb_tail_add(nb, line);
		free(line);
	}
}

static void
nb_out_close(struct notebook *nb)
{
	if (nb->out_ev != NULL) {
		event_free(nb->out_ev);
		nb->out_ev = NULL;
	}
	if (nb->out_fd != -1) {
		close(nb->out_fd);
		nb->out_fd = -1;
	}
}

/* Reads what the pipe holds (bounded per call); closes it at EOF. */
static void
nb_out_drain(struct notebook *nb)
{
	int	i, n;

	for (i = 0; i < 64 && nb->out_fd != -1; i++) {
		n = evbuffer_read(nb->out, nb->out_fd, 16384);
		if (n > 0) {
			nb_out_lines(nb, 0);
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		nb_out_lines(nb, 1);
		nb_out_close(nb);
	}
}

static void
nb_out_read(evutil_socket_t fd, short what, void *arg)
{
	nb_out_drain(arg);
}

static void
nb_probe_end(struct notebook *nb)
{
	if (nb->probe != NULL) {
		bufferevent_free(nb->probe);
		nb->probe = NULL;
	}
}

/* Ends the notebook's life as far as the caller is concerned: one callback. */
static void
nb_done(struct notebook *nb, enum notebook_event ev, const char *why)
{
	nb->state = NB_DONE;
	evtimer_del(nb->probe_timer);
	evtimer_del(nb->stop_timer);
	nb_probe_end(nb);
	nb->cb(nb, ev, why, nb->arg);
}

static char *
nb_status_str(int status)
{
	char	*s;

	if (WIFSIGNALED(status))
		xasprintf(&s, "was killed by signal %d", WTERMSIG(status));
	else
		xasprintf(&s, "exited with status %d", WEXITSTATUS(status));
	return (s);
}

/* The notebook went away by itself: report why, with its last words. */
static void
nb_exited(struct notebook *nb)
{
	char	*st = nb_status_str(nb->status), *why;

	nb_out_drain(nb);
	nb_tail_log(nb);
	xasprintf(&why, "notebook %s: %s", st, nb_tail_last(nb));
	kill(-nb->pid, SIGKILL);	/* whatever is left of its group */
	nb_done(nb, NOTEBOOK_EXITED, why);
	free(why);
	free(st);
}

/* Reaps every child (the agent is their subreaper); notes the notebook's end. */
static void
nb_reap(struct notebook *nb)
{
	pid_t	pid;
	int	status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == nb->pid && !nb->reaped) {
			nb->reaped = 1;
			nb->status = status;
		}
	}
}

static void
nb_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct notebook	*nb = arg;

	nb_reap(nb);
	if (nb->reaped && (nb->state == NB_STARTING || nb->state == NB_READY))
		nb_exited(nb);
}

/* Removes the token's config file: the notebook has read it once it answers. */
static void
nb_conf_remove(struct notebook *nb)
{
	if (nb->conf == NULL)
		return;
	if (unlink(nb->conf) == -1 && errno != ENOENT)
		log_warn("agent: route %s: unlink %s", nb->cfg->route, nb->conf);
	free(nb->conf);
	nb->conf = NULL;
}

static void
nb_ready(struct notebook *nb)
{
	nb->state = NB_READY;
	nb_conf_remove(nb);
	evtimer_del(nb->probe_timer);
	log_info("agent: route %s: notebook answers on %s after %.2f s", nb->cfg->route,
	    nb->sock != NULL ? nb->sock : "127.0.0.1", nb_since(&nb->started));
	nb->cb(nb, NOTEBOOK_READY, "ready", nb->arg);
}

static void
nb_probe_read(struct bufferevent *bev, void *arg)
{
	struct notebook	*nb = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	int		 ok;

	if ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF)) == NULL) {
		if (evbuffer_get_length(in) > 8192)
			nb_probe_end(nb);
		return;
	}
	ok = strlen(line) >= 12 && strncmp(line, "HTTP/1.", 7) == 0 &&
	    strncmp(line + 8, " 200", 4) == 0 && (line[12] == ' ' || line[12] == '\0');
	/* Xvnc speaks first: "RFB 003.008" */
	if (nb->cfg->app == APP_DESKTOP)
		ok = strncmp(line, "RFB 003.", 8) == 0;
	/* another app is up once it answers HTTP at all, short of a 5xx */
	else if (nb->cfg->app != APP_JUPYTER)
		ok = strlen(line) >= 12 && strncmp(line, "HTTP/1.", 7) == 0 &&
		    line[9] >= '1' && line[9] <= '4';
	if (!ok)
		log_debug("agent: route %s: probe: %.100s", nb->cfg->route, line);
	free(line);
	nb_probe_end(nb);
	if (ok)
		nb_ready(nb);
}

static void
nb_probe_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		nb_probe_end(arg);
}

/* One GET <base_url>api with the token; a 200 means the notebook is up. */
static void
nb_probe_start(struct notebook *nb)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = notebook_addr(nb, &ss);
	struct timeval		 tv = { NB_PROBE_TIMEOUT, 0 };
	struct sockaddr_un	*sun = (struct sockaddr_un *)&ss;
	char			*cause = NULL;
	int			 fd = -1;

	if (nb->vnc != NULL) {		/* a desktop: Xvnc itself, not the bridge */
		memset(sun->sun_path, 0, sizeof sun->sun_path);
		memcpy(sun->sun_path, nb->vnc, strlen(nb->vnc));	/* checked */
	}

	if (nb->ns_fd != -1 && (fd = notebook_connect(nb, &cause)) == -1) {
		log_debug("agent: route %s: probe: %s", nb->cfg->route, cause);
		free(cause);
		return;		/* not there yet */
	}
	nb->probe = bufferevent_socket_new(nb->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (nb->probe == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_setcb(nb->probe, nb_probe_read, NULL, nb_probe_event, nb);
	bufferevent_set_timeouts(nb->probe, &tv, &tv);
	if (fd == -1 && bufferevent_socket_connect(nb->probe,
	    (struct sockaddr *)&ss, len) != 0) {
		nb_probe_end(nb);	/* not there yet */
		return;
	}
	if (nb->cfg->app == APP_DESKTOP)
		;	/* it greets us */
	else if (nb->cfg->app != APP_JUPYTER)
		evbuffer_add_printf(bufferevent_get_output(nb->probe), "GET / HTTP/1.1"
		    "\r\nHost: localhost\r\nConnection: close\r\n\r\n");
	else
		evbuffer_add_printf(bufferevent_get_output(nb->probe),
		    "GET %sapi HTTP/1.1\r\nHost: localhost\r\nAuthorization: "
		    "token %s\r\nConnection: close\r\n\r\n", nb->cfg->base_url,
		    nb->token);
	bufferevent_enable(nb->probe, EV_READ | EV_WRITE);
}

static void
nb_probe_timer(evutil_socket_t fd, short what, void *arg)
{
	struct notebook	*nb = arg;

	if (nb_since(&nb->started) >= nb->cfg->start_timeout) {
		xasprintf(&nb->fail, "notebook did not answer within %d s",
		    nb->cfg->start_timeout);
		log_warnx("agent: route %s: %s, stopping it", nb->cfg->route, nb->fail);
		notebook_stop(nb);
		return;
	}
	if (nb->probe == NULL)
		nb_probe_start(nb);
}

static void
nb_stop_finish(struct notebook *nb)
{
	char	*why;

	nb_out_drain(nb);
	if (nb->fail == NULL) {
		nb_done(nb, NOTEBOOK_STOPPED, "stopped");
		return;
	}
	nb_tail_log(nb);
	xasprintf(&why, "%s: %s", nb->fail, nb_tail_last(nb));
	nb_done(nb, NOTEBOOK_EXITED, why);
	free(why);
}

/* While stopping: reap, and escalate to SIGKILL once NB_STOP_KILL s passed. */
static void
nb_stop_tick(evutil_socket_t fd, short what, void *arg)
{
	struct notebook	*nb = arg;
	double		 t = nb_since(&nb->stop_started);
	int		 gone;

	nb_reap(nb);
	gone = kill(-nb->pid, 0) == -1 && errno == ESRCH;
	if (nb->reaped && gone) {
		log_info("agent: route %s: notebook stopped after %.1f s", nb->cfg->route, t);
		nb_stop_finish(nb);
	} else if (t >= NB_STOP_KILL && !nb->killed) {
		log_warnx("agent: route %s: notebook still running %d s after SIGTERM, "
		    "sending SIGKILL", nb->cfg->route, NB_STOP_KILL);
		kill(-nb->pid, SIGKILL);
		nb->killed = 1;
	} else if (t >= NB_STOP_GIVEUP) {
		log_warnx("agent: route %s: notebook's process group %ld outlived SIGKILL",
		    nb->cfg->route, (long)nb->pid);
		nb_stop_finish(nb);
	}
}

/* Stops the notebook's process group: SIGTERM, SIGKILL after 10 s; then STOPPED. */
void
notebook_stop(struct notebook *nb)
{
	struct timeval	tv = { 0, NB_STOP_MS * 1000 };

	if (nb->state == NB_STOPPING || nb->state == NB_DONE)
		return;
	nb->state = NB_STOPPING;
	evtimer_del(nb->probe_timer);
	nb_probe_end(nb);
	clock_gettime(CLOCK_MONOTONIC, &nb->stop_started);
	if (kill(-nb->pid, SIGTERM) == -1 && errno != ESRCH)
		log_warn("agent: route %s: kill notebook group %ld", nb->cfg->route,
		    (long)nb->pid);
	evtimer_add(nb->stop_timer, &tv);
}

/*
 * The child's environment: ours, less any token or runtime directory that
 * came with the job, and (without a container, which has its own home) the
 * runtime directory inside the user's working directory: Jupyter writes its
 * token there (nbserver-PID.json), never into the account's shared home.
 */
static char **
nb_envp(struct notebook *nb, char **rundir)
{
	static const char *drop[] = { "JUPYTER_TOKEN=", "SINGULARITYENV_JUPYTER_TOKEN=",
	    "APPTAINERENV_JUPYTER_TOKEN=", "JUPYTER_TOKEN_FILE=",
	    "SINGULARITYENV_JUPYTER_TOKEN_FILE=", "APPTAINERENV_JUPYTER_TOKEN_FILE=",
	    "JUPYTER_RUNTIME_DIR=" };
	char		**envp;
	size_t		  n = 0, i, j, k;

	while (environ[n] != NULL)
		n++;
	envp = xcalloc(n + 2, sizeof *envp);
	for (i = j = 0; i < n; i++) {
		for (k = 0; k < nitems(drop); k++) {
			if (strncmp(environ[i], drop[k], strlen(drop[k])) == 0)
				break;
		}
		if (k == nitems(drop))
			envp[j++] = environ[i];
	}
	*rundir = NULL;
	if (nb->cfg->runtime == NOTEBOOK_RUNTIME_NONE) {
		xasprintf(rundir, "JUPYTER_RUNTIME_DIR=%s/.local/share/jupyter/runtime",
		    nb->cfg->workdir);
		envp[j] = *rundir;
	}
	return (envp);
}

static __dead void
nb_child(struct notebook *nb, char **argv, char **envp, int out, pid_t parent)
{
	sigset_t	none;
	char		why[256];
	int		null;

	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	prctl(PR_SET_PDEATHSIG, SIGTERM);	/* an agent killed -9 takes it along */
	if (getppid() != parent)
		_exit(1);
	if ((null = open("/dev/null", O_RDONLY)) != -1)
		dup2(null, 0);
	dup2(out, 1);
	dup2(out, 2);
	if (chdir(nb->cfg->workdir) == -1) {
		dprintf(2, "nbgate-agent: chdir %s: %s\n", nb->cfg->workdir,
		    strerror(errno));
		_exit(127);
	}
	if (nb->ns_child != -1) {
		close(nb->ns_fd);	/* the helper must see the agent hang up */
		if (netns_enter(why, sizeof why) != 0 ||
		    netns_helper(nb->ns_child, nb->port, why, sizeof why) != 0) {
			dprintf(2, "nbgate-agent: the app's network namespace: %s\n",
			    why);
			_exit(127);
		}
	}
	execvpe(argv[0], argv, envp);
	dprintf(2, "nbgate-agent: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static char *
nb_argv_str(char **argv)
{
	struct evbuffer	*b = evbuffer_new();
	char		*s;
	size_t		 i, len;

	if (b == NULL)
		fatalx("evbuffer_new");
	for (i = 0; argv[i] != NULL; i++)
		evbuffer_add_printf(b, "%s%s", i ? " " : "", argv[i]);
	len = evbuffer_get_length(b);
	s = xmalloc(len + 1);
	evbuffer_remove(b, s, len);
	s[len] = '\0';
	evbuffer_free(b);
	return (s);
}

/* Forks the notebook with its output on a pipe to us; no shell anywhere. */
static int
nb_spawn(struct notebook *nb, char **cause)
{
	char	**argv = notebook_argv(nb->cfg, nb->dir, nb->sock, nb->port), **envp;
	char	 *rundir;
	char	 *line = nb_argv_str(argv);
	int	  fds[2], rv = -1;
	pid_t	  parent = getpid();

	envp = nb_envp(nb, &rundir);
	log_info("agent: route %s: starting: %s", nb->cfg->route, line);
	if (pipe2(fds, O_CLOEXEC) == -1) {
		xasprintf(cause, "pipe: %s", strerror(errno));
		goto out;
	}
	if ((nb->pid = fork()) == -1) {
		xasprintf(cause, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		goto out;
	}
	if (nb->pid == 0)
		nb_child(nb, argv, envp, fds[1], parent);
	close(fds[1]);
	if (nb->ns_child != -1) {
		close(nb->ns_child);
		nb->ns_child = -1;
	}
	nb->out_fd = fds[0];
	evutil_make_socket_nonblocking(nb->out_fd);
	rv = 0;
out:
	free(rundir);
	free(envp);
	free(line);
	notebook_argv_free(argv);
	return (rv);
}

/* A free loopback port for --tcp (racy by nature; port_retries=0 catches it). */
static int
nb_free_port(char **cause)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof sin;
	int			fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return (-1);
	}
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		xasprintf(cause, "finding a free port: %s", strerror(errno));
	else
		port = ntohs(sin.sin_port);
	close(fd);
	return (port);
}

/*
 * With tcp, where the app's port is: in a network namespace of its own
 * (a socketpair to the helper that connects in there), or, only where the
 * site accepts it (netns preferred) and the node cannot, the shared loopback.
 */
static int
nb_netns(struct notebook *nb, char **cause)
{
	char	*why = NULL;
	int	 fds[2];

	if (nb->cfg->netns == NOTEBOOK_NETNS_NONE)
		return (0);
	if (netns_available(&why) != 0) {
		if (nb->cfg->netns == NOTEBOOK_NETNS_REQUIRED) {
			xasprintf(cause, "listen: loopback keeps the app's port in a "
			    "network namespace of its own, and %s; the site may "
			    "accept a port every account on the node can reach "
			    "with listen: loopback-shared", why);
			free(why);
			return (-1);
		}
		log_warnx("agent: route %s: %s: the app listens on the node's "
		    "shared loopback, as listen: loopback-shared accepts",
		    nb->cfg->route, why);
		free(why);
		return (0);
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == -1) {
		xasprintf(cause, "socketpair: %s", strerror(errno));
		return (-1);
	}
	nb->ns_fd = fds[0];
	nb->ns_child = fds[1];
	log_info("agent: route %s: the app's port is in a network namespace of "
	    "its own", nb->cfg->route);
	return (0);
}

/* Makes the private 0700 directory for the socket and token under $TMPDIR. */
static int
nb_make_dir(struct notebook *nb, char **cause)
{
	struct sockaddr_un	 sun;
	const char		*tmp = getenv("TMPDIR");

	if (tmp == NULL || *tmp != '/')
		tmp = "/tmp";
	xasprintf(&nb->dir, "%s/nbgate-XXXXXX", tmp);
	if (mkdtemp(nb->dir) == NULL) {
		xasprintf(cause, "mkdtemp %s: %s", nb->dir, strerror(errno));
		free(nb->dir);
		nb->dir = NULL;
		return (-1);
	}
	if (nb->cfg->tcp)
		return (0);
	xasprintf(&nb->sock, "%s/nb.sock", nb->dir);
	if (strlen(nb->sock) >= sizeof sun.sun_path) {
		xasprintf(cause, "%s is too long for a Unix socket: set TMPDIR "
		    "to a shorter directory", nb->sock);
		return (-1);
	}
	return (0);
}

/*
 * Python for the config file: the gateway adds the token to every request it
 * passes on, so pages need not carry it; Jupyter writes it into each page for
 * a logged-in user (data-jupyter-api-token, ?token= links; JupyterLab's page
 * config). Each hook is skipped where its module or attribute is missing.
 */
static const char nb_conf_hide[] =
    "# The gateway presents the token: pages need not show it.\n"
    "def _nbgate_hide_token(mod, cls):\n"
    "    try:\n"
    "        h = getattr(__import__(mod, fromlist=[cls]), cls)\n"
    "        ns = h.template_namespace.fget\n"
    "    except Exception:\n"
    "        return\n"
    "    h.template_namespace = property(lambda self: dict(ns(self), token=''))\n"
    "def _nbgate_hide_lab():\n"
    "    try:\n"
    "        from jupyterlab.labapp import LabApp as a\n"
    "        ih = a.initialize_handlers\n"
    "    except Exception:\n"
    "        return\n"
    "    def f(self):\n"
    "        ih(self)\n"
    "        self.serverapp.web_app.settings.setdefault('page_config_data', "
    "{})['token'] = ''\n"
    "    a.initialize_handlers = f\n";

/*
 * The token for the notebook: a config file of its own, 0600 in the private
 * 0700 directory, named by --config and removed once the notebook answers.
 * The token is base64url, so it needs no quoting in Python. Jupyter Server 2
 * takes it as IdentityProvider.token (ServerApp.token is deprecated there),
 * Jupyter Server 1 as ServerApp.token; a config file may name both.
 */
static int
nb_write_conf(struct notebook *nb, char **cause)
{
	const char	*app = nb_app(nb->cfg);
	char		*text;
	int		 rv;

	if (nb->token[strspn(nb->token, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_")] != '\0')
		fatalx("notebook token is not base64url");
	xasprintf(&nb->conf, "%s/%s", nb->dir, NB_CONF_NAME);
	if (nb->cfg->flavour == NOTEBOOK_CLASSIC)
		xasprintf(&text, "# nbgate-agent: this notebook's token, removed "
		    "once it started\nc.%s.token = '%s'\n%s"
		    "_nbgate_hide_token('notebook.base.handlers', 'IPythonHandler')\n",
		    app, nb->token, nb_conf_hide);
	else
		xasprintf(&text, "# nbgate-agent: this notebook's token, removed "
		    "once it started\nc.IdentityProvider.token = '%s'\n"
		    "c.%s.token = '%s'\n%s_nbgate_hide_token("
		    "'jupyter_server.base.handlers', 'JupyterHandler')\n"
		    "_nbgate_hide_lab()\n", nb->token, app, nb->token,
		    nb_conf_hide);
	rv = util_write_file(nb->conf, text, strlen(text), 0600, cause);
	freestr(text);
	return (rv);
}

static int
nb_write_token(struct notebook *nb, char **cause)
{
	char	*line;
	int	 rv;

	xasprintf(&line, "%s\n", nb->token);
	rv = util_write_file(nb->cfg->token_out, line, strlen(line), 0600, cause);
	freestr(line);
	return (rv);
}

/* A desktop's X cookie, and its bridge listening where the tunnel connects. */
static int
nb_desktop(struct notebook *nb, char **cause)
{
	int	 fd;

	if ((fd = app_prepare(nb->cfg, nb->dir, nb->sock, cause)) == -1)
		return (-1);
	xasprintf(&nb->vnc, "%s/%s", nb->dir, DESKTOP_VNC_SOCK);
	nb->desk = desktop_new(nb->base, fd, nb->vnc, DESKTOP_NOVNC, nb->cfg->route,
	    cause);	/* which checks nb->vnc fits a socket address */
	return (nb->desk == NULL ? -1 : 0);
}

/*
 * Starts the notebook: writes its token to cfg->token_out, spawns it and
 * probes it every NB_PROBE_MS. @cb hears READY once, then EXITED or STOPPED
 * once. Returns NULL with @cause if it could not even be started.
 */
struct notebook *
notebook_start(struct event_base *base, const struct notebook_config *cfg,
    notebook_cb cb, void *arg, char **cause)
{
	struct notebook	*nb = xcalloc(1, sizeof *nb);
	struct timeval	 tv = { 0, NB_PROBE_MS * 1000 };

	nb->base = base;
	nb->cfg = cfg;
	nb->cb = cb;
	nb->arg = arg;
	nb->pid = -1;
	nb->out_fd = -1;
	nb->ns_fd = nb->ns_child = -1;
	nb->token = util_random_token(NB_TOKEN_BYTES);
	if ((cfg->tcp && nb_netns(nb, cause) != 0) ||
	    (cfg->tcp && (nb->port = nb_free_port(cause)) == -1) ||
	    nb_make_dir(nb, cause) != 0 ||
	    (cfg->app == APP_JUPYTER && nb_write_conf(nb, cause) != 0))
		goto fail;
	if (cfg->app == APP_DESKTOP && nb_desktop(nb, cause) != 0)
		goto fail;
	if (nb->cfg->token_out != NULL && nb_write_token(nb, cause) != 0)
		goto fail;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("agent: route %s: PR_SET_CHILD_SUBREAPER", cfg->route);
	if ((nb->out = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	nb->sigchld = evsignal_new(base, SIGCHLD, nb_sigchld, nb);
	nb->probe_timer = event_new(base, -1, EV_PERSIST, nb_probe_timer, nb);
	nb->stop_timer = event_new(base, -1, EV_PERSIST, nb_stop_tick, nb);
	if (nb->sigchld == NULL || nb->probe_timer == NULL || nb->stop_timer == NULL)
		fatalx("event_new");
	evsignal_add(nb->sigchld, NULL);	/* before fork: no SIGCHLD is missed */
	if (nb_spawn(nb, cause) != 0)
		goto fail;
	nb->out_ev = event_new(base, nb->out_fd, EV_READ | EV_PERSIST, nb_out_read, nb);
	if (nb->out_ev == NULL)
		fatalx("event_new");
	event_add(nb->out_ev, NULL);
	clock_gettime(CLOCK_MONOTONIC, &nb->started);
	evtimer_add(nb->probe_timer, &tv);
	return (nb);
fail:
	notebook_free(nb);
	return (NULL);
}

/* The Unix socket the notebook listens on (borrowed), or NULL with tcp. */
/* Where the notebook listens, as a socket address (Unix socket or 127.0.0.1:port). */
socklen_t
notebook_addr(struct notebook *nb, struct sockaddr_storage *ss)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof *ss);
	if (nb->sock != NULL) {
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, nb->sock, strlen(nb->sock));	/* checked at start */
		return (sizeof *sun);
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons(nb->port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return (sizeof *sin);
}

const char *
notebook_sock(struct notebook *nb)
{
	return (nb->sock);
}

/* The notebook's token (secret; borrowed) for the gateway to present. */
const char *
notebook_token(struct notebook *nb)
{
	return (nb->token);
}

/* A desktop's last RFB byte through the agent's bridge (activity.c), or 0. */
time_t
notebook_traffic(struct notebook *nb)
{
	return (desktop_last(nb->desk, NULL));
}

/* Whether the app's port is in a network namespace of its own. */
int
notebook_isolated(struct notebook *nb)
{
	return (nb->ns_fd != -1);
}

/*
 * A connected, non-blocking socket to the isolated app (@arg is the
 * notebook), from its namespace's helper; -1 and *cause.
 */
int
notebook_connect(void *arg, char **cause)
{
	struct notebook	*nb = arg;

	if (nb->ns_fd == -1) {
		xasprintf(cause, "the app is not in a namespace of its own");
		return (-1);
	}
	return (netns_connect(nb->ns_fd, &nb->ns_seq, cause));
}

/* The loopback port the notebook listens on with tcp, else 0. */
int
notebook_port(struct notebook *nb)
{
	return (nb->port);
}

/* Frees @nb; a notebook still running is killed. NULL is a no-op. */
void
notebook_free(struct notebook *nb)
{
	size_t	i;

	if (nb == NULL)
		return;
	if (nb->pid > 0 && nb->state != NB_DONE)
		kill(-nb->pid, SIGKILL);
	nb_probe_end(nb);
	nb_out_close(nb);
	if (nb->sigchld != NULL)
		event_free(nb->sigchld);
	if (nb->probe_timer != NULL)
		event_free(nb->probe_timer);
	if (nb->stop_timer != NULL)
		event_free(nb->stop_timer);
	if (nb->out != NULL)
		evbuffer_free(nb->out);
	for (i = 0; i < NB_TAIL_LINES; i++)
		free(nb->tail[i]);
	if (nb->sock != NULL)
		unlink(nb->sock);
	if (nb->ns_fd != -1)
		close(nb->ns_fd);
	if (nb->ns_child != -1)
		close(nb->ns_child);
	desktop_free(nb->desk);
	app_cleanup(nb->cfg, nb->dir);
	nb_conf_remove(nb);
	if (nb->dir != NULL)
		rmdir(nb->dir);
	free(nb->sock);
	free(nb->vnc);
	free(nb->dir);
	free(nb->fail);
	freestr(nb->token);
	free(nb);
}
