/*
 * main.c: nbgated's entry point: options, configuration, signals
 * (SIGHUP reloads, SIGTERM/SIGINT stop without touching any job), the loop.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/daemon.h"

static const char *main_config_path;
static char	*main_notify_path;	/* systemd's $NOTIFY_SOCKET, or NULL */

/*
 * systemd's readiness protocol (Type=notify): the socket is taken from the
 * environment once and removed from it, so ssh, sbatch and the notebook's
 * job never see it.
 */
static void
main_notify_init(void)
{
	const char		*p = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sun;

	if (p != NULL && (*p == '/' || *p == '@') && strlen(p) < sizeof sun.sun_path)
		main_notify_path = xstrdup(p);
	else if (p != NULL)
		log_warnx("NOTIFY_SOCKET: not a socket path; systemd is not told");
	if (unsetenv("NOTIFY_SOCKET") == -1)
		fatal("unsetenv");
}

/* Sends one state message ("READY=1", ...) to systemd, if it listens. */
static void
main_notify(const char *state)
{
	struct sockaddr_un	 sun;
	size_t			 n;
	int			 fd;

	if (main_notify_path == NULL)
		return;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	n = strlen(main_notify_path);
	memcpy(sun.sun_path, main_notify_path, n);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';	/* an abstract socket */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    offsetof(struct sockaddr_un, sun_path) + n) == -1)
		log_warn("telling systemd %s", state);
	if (fd != -1)
		close(fd);
}

static __dead void
usage(void)
{
	fprintf(stderr, "usage: nbgated [-dV] [-c config.yaml]\n"
	    "       nbgated --check-config config.yaml\n");
	exit(2);
}

static int
main_check_config(const char *path)
{
	struct config	*cfg;
	char		*cause = NULL;

	if ((cfg = config_load(path, &cause)) == NULL ||
	    session_check_templates(cfg, &cause) == -1) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		config_free(cfg);
		return (1);
	}
	printf("%s: configuration OK\n", path);
	config_free(cfg);
	return (0);
}

static void
main_sighup(evutil_socket_t sig, short what, void *arg)
{
	char		*cause = NULL;

	if (main_config_path == NULL) {
		log_info("reload: no configuration file; nothing to do");
		return;
	}
	main_notify("RELOADING=1");
	if (gate_reload_file(main_config_path, &cause) == -1)
		main_notify("READY=1\nSTATUS=reload refused: the running "
		    "configuration stays (see the log)");
	else
		main_notify("READY=1\nSTATUS=configuration reloaded");
	free(cause);
}

static void
main_sigterm(evutil_socket_t sig, short what, void *arg)
{
	log_info("%s: stopping (notebooks and their jobs keep running)",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	main_notify("STOPPING=1");
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check-config", required_argument, NULL, 'C' },
		{ "config", required_argument, NULL, 'c' },
		{ "config-keys", no_argument, NULL, 'K' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct event_base	*base;
	struct event		*ev_hup, *ev_term, *ev_int;
	struct config		*cfg;
	char			*cause = NULL, *ready;
	int			 ch, debug = 0;

	log_init("nbgated", LOG_INFO);
	main_notify_init();
	while ((ch = getopt_long(argc, argv, "c:dV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C':
			return (main_check_config(optarg));
		case 'c':
			main_config_path = optarg;
			break;
		case 'K':
			config_keys_print(stdout);
			return (0);
		case 'd':
			debug = 1;
			break;
		case 'V':
			printf("nbgated %s\n", PACKAGE_VERSION);
			return (0);
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (main_config_path != NULL)
		cfg = config_load(main_config_path, &cause);
	else
		cfg = config_default();
	if (cfg == NULL)
		fatalx("configuration errors:\n%s", cause);
	log_set_level(debug ? LOG_DEBUG : cfg->log_level);
	log_set_format(cfg->log_format);
	if (geteuid() == 0)
		log_warnx("running as root: run nbgated as an unprivileged user "
		    "(see nbgated(8) and its systemd unit)");
	signal(SIGPIPE, SIG_IGN);
	base = util_event_base_new();
	if (httpc_init(base, &cause) == -1)
		fatalx("%s", cause);
	if (gate_start(base, cfg, &cause) == -1)
		fatalx("%s", cause);
	ev_hup = evsignal_new(base, SIGHUP, main_sighup, base);
	ev_term = evsignal_new(base, SIGTERM, main_sigterm, base);
	ev_int = evsignal_new(base, SIGINT, main_sigterm, base);
	evsignal_add(ev_hup, NULL);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	log_info("nbgated %s ready", PACKAGE_VERSION);
	xasprintf(&ready, "READY=1\nSTATUS=serving HTTPS on port %d, agents on "
	    "port %d", gate->https_port, gate->ssh_port);
	main_notify(ready);
	free(ready);
	event_base_dispatch(base);
	gate_stop();
	httpc_shutdown();
	event_free(ev_hup);
	event_free(ev_term);
	event_free(ev_int);
	/*
	 * What gate_stop() closed may still have deferred callbacks queued: a
	 * tunnel's end told to a stream's other end idle in its route's pool
	 * (pump_free()), both ends freed since.  Each holds a reference to its
	 * bufferevent that only running it drops; event_base_free() would
	 * discard it and the pair would leak.  One pass runs them.
	 */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	free(main_notify_path);
	return (0);
}
