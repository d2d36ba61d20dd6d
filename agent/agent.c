/*
 * agent.c: nbgate-agent: keeps a reverse tunnel from the gateway to one
 * notebook (TCP or Unix socket) up until SIGTERM/SIGINT; with --notebook it
 * first starts that notebook (notebook.c) and dials only once it answers.
 * When it goes on purpose it tells the gateway why (tunnel/PROTOCOL 8); a
 * notebook it started it watches and reports on (activity.c, section 9).
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/common.h"
#include "agent/agent.h"

struct agent {
	struct event_base	*base;
	struct tunclient	*tc;
	struct tunclient_config	 cfg;
	char			*gw_host;
	char			*target_host;
	int			 exitcode;
	int			 notebook;	/* --notebook: we start it */
	struct notebook_config	 nbcfg;
	struct notebook		*nb;
	struct actpoll		*ap;
	int			 activity;	/* s between reports; 0: none */
	char			*base_url;
	const char		*stop_why;	/* set once we are stopping */
	int			 ready;		/* the notebook answered */
	char			*secret;	/* enrollment secret (cfg borrows) */
	const char		*job_from;	/* where the job id came from */
	time_t			 walltime_at;	/* --walltime-signal-at; 0: none */
};

static __dead void
agent_usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "nbgate-agent: %s\n", why);
	fprintf(stderr, "usage: nbgate-agent --gateway HOST:PORT --route NAME "
	    "--hostkey-fingerprint SHA256:...\n"
	    "                    (--key FILE |\n"
	    "                     (--enroll-file FILE | --enroll-env NAME) "
	    "[--job-id ID])\n"
	    "                    [--backoff-max SECONDS] [--keepalive SECONDS] [-v]\n"
	    "                    (--target HOST:PORT | --target-unix PATH |\n"
	    "                     --notebook [--token-out FILE] "
	    "[--runtime singularity|apptainer|none]\n"
	    "                     [--image PATH] [--bind SPEC]... [--gpus] "
	    "[--base-url /user/NAME/[SERVER/]]\n"
	    "                     [--notebook-cmd CMD] [--notebook-app classic|server|lab]\n"
	    "                     [--workdir DIR] [--tcp] [--start-timeout SECONDS]\n"
	    "                     [--activity-interval SECONDS]\n"
	    "                     [--app jupyter|desktop|web] [--geometry WxH])\n"
	    "                    [--walltime-signal-at EPOCH]\n"
	    "--enroll-env NAME reads the one-time secret from $NAME and unsets it.\n"
	    "Enrolling, --job-id defaults to $SLURM_JOB_ID, else $PBS_JOBID.\n");
	exit(2);
}

static int
agent_seconds(const char *s, const char *opt)
{
	char	*end, *why;
	long	 v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 86400) {
		xasprintf(&why, "%s wants a number of seconds", opt);
		agent_usage(why);
	}
	return ((int)v);
}

/*
 * --walltime-signal-at: seconds since the epoch, digits only, at most a
 * minute in the past (the batch script computed it as the job started) and
 * within a year.
 */
static time_t
agent_epoch(const char *s)
{
	time_t		 now = time(NULL);
	long long	 v;
	char		*end;

	if (*s == '\0' || strspn(s, "0123456789") != strlen(s) ||
	    strlen(s) > 12)
		agent_usage("--walltime-signal-at wants a time in seconds since "
		    "the epoch");
	v = strtoll(s, &end, 10);
	if (v < (long long)now - AGENT_WALLTIME_LATE)
		agent_usage("--walltime-signal-at is in the past");
	if (v > (long long)now + 366 * 86400)
		agent_usage("--walltime-signal-at is more than a year ahead");
	return ((time_t)v);
}

/* Cuts @s at its first line end; exits if that is no enrollment secret. */
static void
agent_check_secret(char *s, const char *opt)
{
	char	*why;

	s[strcspn(s, "\r\n")] = '\0';
	if (s[0] == '\0' || strpbrk(s, " \t") != NULL) {
		xasprintf(&why, "%s: not an enrollment secret", opt);
		agent_usage(why);
	}
}

/* Reads a one-time enrollment secret (first line of a private file). */
static char *
agent_read_secret(const char *path)
{
	FILE	*f;
	char	*line = NULL;
	size_t	 cap = 0;

	if ((f = fopen(path, "r")) == NULL || getline(&line, &cap, f) <= 0)
		agent_usage("--enroll-file: cannot read the secret");
	fclose(f);
	agent_check_secret(line, "--enroll-file");
	return (line);
}

/*
 * Takes the one-time enrollment secret out of environment variable @name:
 * a copy for us, the original wiped (it stays in /proc/PID/environ
 * otherwise) and unset, so that nothing we start inherits it.
 */
static char *
agent_env_secret(const char *name)
{
	char	*v, *secret, *why;

	if (*name == '\0' || strchr(name, '=') != NULL)
		agent_usage("--enroll-env wants an environment variable's name");
	if ((v = getenv(name)) == NULL) {
		xasprintf(&why, "--enroll-env: $%s is not set", name);
		agent_usage(why);
	}
	secret = xstrdup(v);
	explicit_bzero(v, strlen(v));
	if (unsetenv(name) != 0)
		fatal("unsetenv %s", name);
	agent_check_secret(secret, "--enroll-env");
	return (secret);
}

/*
 * The batch job we run in, for enrollment: --job-id, else the first valid
 * one of $SLURM_JOB_ID and $PBS_JOBID (tunnel/PROTOCOL section 7).
 */
static void
agent_job_id(struct agent *a)
{
	static const char	*vars[] = { "SLURM_JOB_ID", "PBS_JOBID" };
	const char		*v;
	size_t			 i;

	if (a->cfg.job_id != NULL) {
		if (!util_job_id_valid(a->cfg.job_id))
			agent_usage("--job-id: letters, digits, '.', '_', '-', "
			    "'[', ']' only");
		a->job_from = "--job-id";
		return;
	}
	if (a->cfg.enroll_secret == NULL)
		return;
	for (i = 0; i < nitems(vars); i++) {
		if ((v = getenv(vars[i])) == NULL)
			continue;
		if (util_job_id_valid(v)) {
			a->cfg.job_id = v;
			a->job_from = vars[i];
			return;
		}
		log_warnx("agent: route %s: ignoring $%s: not a batch job id",
		    a->cfg.user, vars[i]);
	}
}

/* Exactly one of --key, --enroll-file and --enroll-env. */
static void
agent_credential(struct agent *a, int ncred)
{
	if (ncred > 1)
		agent_usage("--key, --enroll-file and --enroll-env exclude "
		    "each other");
	if (ncred == 0)
		agent_usage("one of --key, --enroll-file and --enroll-env is "
		    "required");
	a->cfg.enroll_secret = a->secret;
}

static void
agent_add_bind(struct agent *a, const char *spec)
{
	struct notebook_config	*nc = &a->nbcfg;

	if (spec[0] != '/' || strpbrk(spec, " \t\r\n") != NULL)
		agent_usage("--bind wants SRC[:DST[:OPTS]] with an absolute SRC");
	nc->binds = xreallocarray(nc->binds, nc->nbinds + 1, sizeof *nc->binds);
	nc->binds[nc->nbinds++] = spec;
}

/* Fills the defaults and checks what --notebook needs. */
static void
agent_notebook_options(struct agent *a, int runtime_set)
{
	struct notebook_config	*nc = &a->nbcfg;
	char			*cause = NULL;

	if (a->cfg.target_host != NULL || a->cfg.target_unix != NULL)
		agent_usage("--notebook starts its own target: no --target/--target-unix");
	if (a->cfg.key_file != NULL && access(a->cfg.key_file, R_OK) != 0)
		agent_usage("--key: cannot read the key file");	/* before a notebook starts */
	if (nc->token_out == NULL && a->cfg.enroll_secret == NULL)
		agent_usage("--notebook needs --token-out FILE, or --enroll-file or "
		    "--enroll-env (the gateway needs the notebook's token)");
	if (!runtime_set)
		nc->runtime = NOTEBOOK_RUNTIME_SINGULARITY;
	if (nc->runtime == NOTEBOOK_RUNTIME_NONE &&
	    (nc->image != NULL || nc->nbinds > 0 || nc->gpus))
		agent_usage("--image, --bind and --gpus need a container runtime");
	if (nc->runtime != NOTEBOOK_RUNTIME_NONE && nc->image == NULL)
		agent_usage("--image is required with a container runtime");
	if (nc->base_url == NULL) {
		xasprintf(&a->base_url, "/user/%s/", a->cfg.user);
		nc->base_url = a->base_url;
	}
	if (notebook_base_url_check(nc->base_url, a->cfg.user, &cause) != 0)
		agent_usage(cause);
	if (nc->workdir == NULL)
		nc->workdir = getenv("HOME");
	if (nc->workdir == NULL || nc->workdir[0] != '/')
		agent_usage("--workdir must be an absolute path (default: $HOME)");
	if (nc->geometry != NULL && nc->app != APP_DESKTOP)
		agent_usage("--geometry is for --app desktop");
	if (nc->app == APP_DESKTOP && nc->geometry == NULL)
		nc->geometry = APP_DESKTOP_GEOMETRY;
	if (nc->app == APP_DESKTOP && nc->tcp)
		agent_usage("--app desktop listens on a Unix socket only (no --tcp)");
	if (nc->netns != NOTEBOOK_NETNS_NONE && (!nc->tcp || nc->app != APP_WEB))
		agent_usage("--netns is for --app web with --tcp (a Jupyter "
		    "server listens on a Unix socket)");
	if (nc->app == APP_WEB && nc->cmd == NULL)
		agent_usage("--app web needs --notebook-cmd (the program to run)");
	if (nc->cmd == NULL)
		nc->cmd = nc->app == APP_DESKTOP ? APP_DESKTOP_CMD :
		    notebook_default_cmd(nc->flavour);
	if (nc->cmd[strspn(nc->cmd, " \t")] == '\0')
		agent_usage("--notebook-cmd is empty");
	nc->route = a->cfg.user;
	nc->as_root = geteuid() == 0;	/* the notebook refuses root otherwise */
}

static void	agent_stop(struct agent *, int, const char *, int);

static void
agent_parse_hostport(const char *s, char **host, int *port)
{
	char	*cause = NULL;

	if (util_parse_hostport(s, host, port, &cause) != 0 || *port == 0)
		agent_usage(cause != NULL ? cause : "port 0 is not allowed");
}

static void
agent_options(struct agent *a, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "gateway", required_argument, NULL, 'g' },
		{ "route", required_argument, NULL, 'r' },
		{ "key", required_argument, NULL, 'k' },
		{ "hostkey-fingerprint", required_argument, NULL, 'f' },
		{ "target", required_argument, NULL, 't' },
		{ "target-unix", required_argument, NULL, 'u' },
		{ "backoff-max", required_argument, NULL, 'b' },
		{ "keepalive", required_argument, NULL, 'K' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "notebook", no_argument, NULL, 'N' },
		{ "runtime", required_argument, NULL, 'R' },
		{ "image", required_argument, NULL, 'I' },
		{ "bind", required_argument, NULL, 'B' },
		{ "gpus", no_argument, NULL, 'G' },
		{ "base-url", required_argument, NULL, 'U' },
		{ "notebook-cmd", required_argument, NULL, 'C' },
		{ "notebook-app", required_argument, NULL, 'A' },
		{ "workdir", required_argument, NULL, 'W' },
		{ "tcp", no_argument, NULL, 'T' },
		{ "netns", required_argument, NULL, 'L' },
		{ "token-out", required_argument, NULL, 'O' },
		{ "start-timeout", required_argument, NULL, 'S' },
		{ "enroll-file", required_argument, NULL, 'E' },
		{ "enroll-env", required_argument, NULL, 'V' },
		{ "job-id", required_argument, NULL, 'J' },
		{ "activity-interval", required_argument, NULL, 'Y' },
		{ "app", required_argument, NULL, 'P' },
		{ "geometry", required_argument, NULL, 'D' },
		{ "walltime-signal-at", required_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 }
	};
	struct notebook_config	*nc = &a->nbcfg;
	int			 ch, runtime_set = 0, nbonly = 0;
	int			 key = 0, file = 0, env = 0;

	a->cfg.backoff_max = 60;
	a->activity = AGENT_ACTIVITY_INTERVAL;
	nc->start_timeout = 300;
	while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		if (strchr("RIBGUCAWTOSYPDL", ch) != NULL)
			nbonly = 1;
		switch (ch) {
		case 'g':
			agent_parse_hostport(optarg, &a->gw_host, &a->cfg.port);
			a->cfg.host = a->gw_host;
			break;
		case 'r': a->cfg.user = optarg; break;
		case 'k':
			a->cfg.key_file = optarg;
			key = 1;
			break;
		case 'E':
		case 'V':
			freestr(a->secret);
			a->secret = ch == 'E' ? agent_read_secret(optarg) :
			    agent_env_secret(optarg);
			if (ch == 'E')
				file = 1;
			else
				env = 1;
			break;
		case 'J': a->cfg.job_id = optarg; break;
		case 'X': a->walltime_at = agent_epoch(optarg); break;
		case 'Y':
			a->activity = strcmp(optarg, "0") == 0 ? 0 :
			    agent_seconds(optarg, "--activity-interval");
			break;
		case 'f': a->cfg.hostkey_pin = optarg; break;
		case 't':
			agent_parse_hostport(optarg, &a->target_host,
			    &a->cfg.target_port);
			a->cfg.target_host = a->target_host;
			break;
		case 'u': a->cfg.target_unix = optarg; break;
		case 'K':	/* a dead link is noticed after ~4 of these */
			a->cfg.keepalive = agent_seconds(optarg, "--keepalive");
			break;
		case 'b':
			a->cfg.backoff_max = agent_seconds(optarg, "--backoff-max");
			break;
		case 'v': log_set_level(LOG_DEBUG); break;
		case 'N': a->notebook = 1; break;
		case 'R':
			if (notebook_runtime_parse(optarg, &nc->runtime) != 0)
				agent_usage("--runtime is singularity, apptainer or none");
			runtime_set = 1;
			break;
		case 'I': nc->image = optarg; break;
		case 'B': agent_add_bind(a, optarg); break;
		case 'G': nc->gpus = 1; break;
		case 'U': nc->base_url = optarg; break;
		case 'C': nc->cmd = optarg; break;
		case 'A':
			if (notebook_flavour_parse(optarg, &nc->flavour) != 0)
				agent_usage("--notebook-app is classic (Notebook 6), "
				    "server (Jupyter Server) or lab (JupyterLab)");
			break;
		case 'P':
			if (app_type_parse(optarg, &nc->app) != 0)
				agent_usage("--app is jupyter, desktop or web");
			break;
		case 'D':
			if (app_geometry_check(optarg) != 0)
				agent_usage("--geometry wants WIDTHxHEIGHT, e.g. 1280x800");
			nc->geometry = optarg;
			break;
		case 'W': nc->workdir = optarg; break;
		case 'T': nc->tcp = 1; break;
		case 'L':
			if (strcmp(optarg, "required") == 0)
				nc->netns = NOTEBOOK_NETNS_REQUIRED;
			else if (strcmp(optarg, "preferred") == 0)
				nc->netns = NOTEBOOK_NETNS_PREFERRED;
			else if (strcmp(optarg, "none") != 0)
				agent_usage("--netns is required, preferred or none");
			break;
		case 'O': nc->token_out = optarg; break;
		case 'S':
			nc->start_timeout = agent_seconds(optarg, "--start-timeout");
			break;
		default: agent_usage(NULL);
		}
	}
	if (optind != argc)
		agent_usage("unexpected arguments");
	if (a->cfg.host == NULL || a->cfg.user == NULL ||
	    a->cfg.hostkey_pin == NULL)
		agent_usage("--gateway, --route and --hostkey-fingerprint are "
		    "required");
	agent_credential(a, key + file + env);
	agent_job_id(a);
	if (a->notebook)
		agent_notebook_options(a, runtime_set);
	else if (nbonly)
		agent_usage("notebook options need --notebook");
	else if ((a->cfg.target_host == NULL) == (a->cfg.target_unix == NULL))
		agent_usage("give exactly one of --target, --target-unix and --notebook");
}

static void
agent_state(struct tunclient *tc, enum tunclient_state st, const char *why,
    void *arg)
{
	struct agent	*a = arg;
	const char	*route = a->cfg.user;

	switch (st) {
	case TUNCLIENT_CONNECTING:
		log_debug("agent: route %s: connecting to %s:%d", route,
		    a->cfg.host, a->cfg.port);
		break;
	case TUNCLIENT_UP:
		log_info("agent: route %s: tunnel up %s", route, why);
		break;
	case TUNCLIENT_DOWN:
		log_warnx("agent: route %s: tunnel down: %s", route, why);
		break;
	case TUNCLIENT_FAILED:
		log_warnx("agent: route %s: giving up: %s", route, why);
		agent_stop(a, 2, "the tunnel failed for good", 0);
		break;
	}
}

/* Dials the gateway; the tunnel's coming up is its signal that we are ready. */
static int
agent_dial(struct agent *a)
{
	char	*cause = NULL;

	if ((a->tc = tunclient_new(a->base, &a->cfg, agent_state, a, &cause)) == NULL) {
		log_warnx("agent: route %s: %s", a->cfg.user, cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/* Tells the gateway why we go, if the tunnel is up, and hangs up for good. */
static void
agent_leave(struct agent *a, const char *why)
{
	if (a->tc == NULL)
		return;
	tunclient_leave(a->tc, why);	/* at most about a second */
}

/* An activity report for the gateway, if the tunnel takes it (section 9). */
static int
agent_report(const char *line, void *arg)
{
	struct agent	*a = arg;

	if (a->tc == NULL || a->stop_why != NULL)
		return (-1);
	return (tunclient_report(a->tc, line));
}

static void
agent_notebook_event(struct notebook *nb, enum notebook_event ev, const char *why,
    void *arg)
{
	struct agent	*a = arg;

	switch (ev) {
	case NOTEBOOK_READY:
		if (notebook_sock(nb) != NULL)
			a->cfg.target_unix = notebook_sock(nb);
		else {
			a->cfg.target_host = "127.0.0.1";
			a->cfg.target_port = notebook_port(nb);
		}
		if (notebook_isolated(nb)) {	/* in there, through its helper */
			a->cfg.target_connect = notebook_connect;
			a->cfg.target_arg = nb;
		}
		a->cfg.notebook_token = notebook_token(nb);	/* sent at enrollment */
		a->ready = 1;
		if (agent_dial(a) != 0) {
			agent_stop(a, 2, "cannot dial the gateway", 0);
			break;
		}
		if (a->activity > 0 && a->nbcfg.app != APP_WEB)	/* web: nothing to count */
			a->ap = actpoll_new(a->base, nb, &a->nbcfg, a->activity,
			    agent_report, a);
		break;
	case NOTEBOOK_EXITED:
		log_warnx("agent: route %s: %s", a->cfg.user, why);
		a->exitcode = 1;
		agent_leave(a, why);	/* status and last output line */
		event_base_loopexit(a->base, NULL);
		break;
	case NOTEBOOK_STOPPED:
		log_info("agent: route %s: notebook stopped, tunnel closed, "
		    "exiting: %s", a->cfg.user, a->stop_why);
		event_base_loopexit(a->base, NULL);
		break;
	}
}

/*
 * The notebook's kernels stopped through its server (kernels.c), if it
 * answers: "N kernels stopped cleanly" or why not, for the leaving reason;
 * NULL when the agent runs no notebook.
 */
static char *
agent_kernels(struct agent *a)
{
	char	*cause = NULL, *said;
	int	 n;

	if (a->nb == NULL || a->nbcfg.app != APP_JUPYTER)
		return (NULL);		/* a tunnel only (--target), or no kernels */
	if (!a->ready)
		return (xstrdup("the notebook server was not up yet"));
	if ((n = kernels_stop(a->nb, &a->nbcfg, KERNELS_STOP_TIMEOUT, &cause)) == -1) {
		log_warnx("agent: route %s: %s", a->cfg.user, cause);
		xasprintf(&said, "kernels not stopped: %s", cause);
		free(cause);
		return (said);
	}
	log_info("agent: route %s: %d kernel%s stopped through the notebook server",
	    a->cfg.user, n, n == 1 ? "" : "s");
	xasprintf(&said, "%d kernel%s stopped cleanly", n, n == 1 ? "" : "s");
	return (said);
}

/*
 * Stops everything and exits @code: stops the kernels through the notebook
 * server, leaves the gateway saying why (the notebook is about to go), then
 * stops the notebook if we run one. @walltime: the scheduler's warning that
 * the job's time is nearly up (its reason starts with "walltime:").
 */
static void
agent_stop(struct agent *a, int code, const char *why, int walltime)
{
	char	*reason, *kernels;

	if (a->stop_why != NULL) {
		log_info("agent: route %s: already stopping (%s)", a->cfg.user,
		    a->stop_why);
		return;
	}
	a->stop_why = why;
	a->exitcode = code;
	kernels = agent_kernels(a);
	if (walltime)
		xasprintf(&reason, "walltime: the job's time limit is near (%s)%s%s%s",
		    why, kernels != NULL ? "; " : "", kernels != NULL ? kernels : "",
		    kernels != NULL ? ", the notebook server stopped" : "");
	else
		xasprintf(&reason, "stopped by %s%s%s", why, kernels != NULL ? "; " : "",
		    kernels != NULL ? kernels : "");
	free(kernels);
	agent_leave(a, reason);
	free(reason);
	if (a->nb == NULL) {
		log_info("agent: route %s: %s, closing", a->cfg.user, why);
		event_base_loopexit(a->base, NULL);
		return;
	}
	log_info("agent: route %s: %s: stopping the notebook", a->cfg.user, why);
	notebook_stop(a->nb);
}

/*
 * SIGUSR1 is the batch system's walltime warning (SLURM --signal=B:USR1@S
 * in templates/slurm.sh, Grid Engine's s_rt in templates/gridengine.sh;
 * --walltime-signal-at does the same for PBS); SIGTERM may be anything
 * (scancel, a stop, the time limit itself).
 */
static void
agent_signal(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGUSR1)
		agent_stop(arg, 0, "SIGUSR1 from the batch system", 1);
	else
		agent_stop(arg, 0, sig == SIGTERM ? "SIGTERM (walltime, scancel or "
		    "stop)" : "SIGINT", 0);
}

/*
 * --walltime-signal-at came: the batch system's early warning where it has
 * none of its own (PBS), so the same as SIGUSR1.
 */
static void
agent_walltime_timer(evutil_socket_t fd, short what, void *arg)
{
	agent_stop(arg, 0, "--walltime-signal-at, the agent's own timer", 1);
}

/* Arms the --walltime-signal-at timer, if given; NULL otherwise. */
static struct event *
agent_walltime_arm(struct agent *a)
{
	struct event	*ev;
	struct timeval	 tv = { 0, 0 };
	time_t		 now = time(NULL);

	if (a->walltime_at == 0)
		return (NULL);
	if (a->walltime_at > now)
		tv.tv_sec = a->walltime_at - now;
	ev = evtimer_new(a->base, agent_walltime_timer, a);
	evtimer_add(ev, &tv);
	log_info("agent: route %s: ending itself for the walltime in %lld s",
	    a->cfg.user, (long long)tv.tv_sec);
	return (ev);
}

int
main(int argc, char **argv)
{
	struct agent	 a;
	struct event	*sigterm, *sigint, *sigusr1, *wt;
	char		*cause = NULL;

	memset(&a, 0, sizeof a);
	log_init("nbgate-agent", LOG_INFO);
	agent_options(&a, argc, argv);
	if (a.cfg.enroll_secret != NULL && a.cfg.job_id != NULL)
		log_info("agent: route %s: enrolling from batch job %s (%s)",
		    a.cfg.user, a.cfg.job_id, a.job_from);
	signal(SIGPIPE, SIG_IGN);
	a.base = util_event_base_new();
	sigterm = evsignal_new(a.base, SIGTERM, agent_signal, &a);
	sigint = evsignal_new(a.base, SIGINT, agent_signal, &a);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	sigusr1 = evsignal_new(a.base, SIGUSR1, agent_signal, &a);
	evsignal_add(sigusr1, NULL);
	wt = agent_walltime_arm(&a);
	if (a.notebook) {
		a.nb = notebook_start(a.base, &a.nbcfg, agent_notebook_event, &a, &cause);
		if (a.nb == NULL) {
			fprintf(stderr, "nbgate-agent: cannot start the notebook: %s\n",
			    cause);
			exit(1);
		}
	} else if (agent_dial(&a) != 0)
		exit(2);
	event_base_dispatch(a.base);
	actpoll_free(a.ap);
	tunclient_free(a.tc);
	notebook_free(a.nb);
	event_free(sigterm);
	event_free(sigint);
	event_free(sigusr1);
	if (wt != NULL)
		event_free(wt);
	event_base_free(a.base);
	free(a.gw_host);
	free(a.target_host);
	free(a.base_url);
	free(a.nbcfg.binds);
	freestr(a.secret);
	return (a.exitcode);
}
