/*
 * main.c: nbgated's entry point: options, configuration, signals
 * (SIGHUP reloads, SIGTERM/SIGINT stop without touching any job), the loop.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/daemon.h"

static const char *main_config_path;

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
	struct config	*cfg;
	char		*cause = NULL;

	if (main_config_path == NULL) {
		log_info("reload: no configuration file; nothing to do");
		return;
	}
	if ((cfg = config_load(main_config_path, &cause)) == NULL ||
	    gate_reload(cfg, &cause) == -1) {
		log_warnx("reload failed, keeping the running configuration:\n%s", cause);
		config_free(cfg);
	}
	free(cause);
}

static void
main_sigterm(evutil_socket_t sig, short what, void *arg)
{
	log_info("%s: stopping (notebooks and their jobs keep running)",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check-config", required_argument, NULL, 'C' },
		{ "config", required_argument, NULL, 'c' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct event_base	*base;
	struct event		*ev_hup, *ev_term, *ev_int;
	struct config		*cfg;
	char			*cause = NULL;
	int			 ch, debug = 0;

	log_init("nbgated", LOG_INFO);
	while ((ch = getopt_long(argc, argv, "c:dV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C':
			return (main_check_config(optarg));
		case 'c':
			main_config_path = optarg;
			break;
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
	if (geteuid() == 0)
		log_warnx("running as root: run nbgated as an unprivileged user "
		    "(see etc/nbgated.service)");
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
	event_base_dispatch(base);
	gate_stop();
	httpc_shutdown();
	event_free(ev_hup);
	event_free(ev_term);
	event_free(ev_int);
	event_base_free(base);
	return (0);
}
