/*
 * agent.c: nbgate-agent: keeps a reverse tunnel from the gateway to one
 * notebook (TCP or Unix socket) up until SIGTERM/SIGINT.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/common.h"

struct agent {
	struct event_base	*base;
	struct tunclient	*tc;
	struct tunclient_config	 cfg;
	char			*gw_host;
	char			*target_host;
	int			 failed;
};

static __dead void
agent_usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "nbgate-agent: %s\n", why);
	fprintf(stderr, "usage: nbgate-agent --gateway HOST:PORT --route NAME "
	    "--key FILE --hostkey-fingerprint SHA256:...\n"
	    "                    (--target HOST:PORT | --target-unix PATH) "
	    "[--backoff-max SECONDS] [-v]\n");
	exit(2);
}

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
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	char	*end;
	int	 ch;

	a->cfg.backoff_max = 60;
	while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'g':
			agent_parse_hostport(optarg, &a->gw_host, &a->cfg.port);
			a->cfg.host = a->gw_host;
			break;
		case 'r': a->cfg.user = optarg; break;
		case 'k': a->cfg.key_file = optarg; break;
		case 'f': a->cfg.hostkey_pin = optarg; break;
		case 't':
			agent_parse_hostport(optarg, &a->target_host,
			    &a->cfg.target_port);
			a->cfg.target_host = a->target_host;
			break;
		case 'u': a->cfg.target_unix = optarg; break;
		case 'b':
			a->cfg.backoff_max = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || a->cfg.backoff_max < 1)
				agent_usage("--backoff-max wants a number of seconds");
			break;
		case 'v': log_set_level(LOG_DEBUG); break;
		default: agent_usage(NULL);
		}
	}
	if (optind != argc)
		agent_usage("unexpected arguments");
	if (a->cfg.host == NULL || a->cfg.user == NULL ||
	    a->cfg.key_file == NULL || a->cfg.hostkey_pin == NULL)
		agent_usage("--gateway, --route, --key and --hostkey-fingerprint "
		    "are required");
	if ((a->cfg.target_host == NULL) == (a->cfg.target_unix == NULL))
		agent_usage("give exactly one of --target and --target-unix");
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
		a->failed = 1;
		event_base_loopexit(a->base, NULL);
		break;
	}
}

static void
agent_signal(evutil_socket_t sig, short what, void *arg)
{
	struct agent	*a = arg;

	log_info("agent: route %s: signal %d, closing", a->cfg.user, (int)sig);
	event_base_loopexit(a->base, NULL);
}

int
main(int argc, char **argv)
{
	struct agent	 a;
	struct event	*sigterm, *sigint;
	char		*cause = NULL;

	memset(&a, 0, sizeof a);
	log_init("nbgate-agent", LOG_INFO);
	agent_options(&a, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	a.base = util_event_base_new();
	sigterm = evsignal_new(a.base, SIGTERM, agent_signal, &a);
	sigint = evsignal_new(a.base, SIGINT, agent_signal, &a);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	if ((a.tc = tunclient_new(a.base, &a.cfg, agent_state, &a, &cause)) == NULL) {
		fprintf(stderr, "nbgate-agent: %s\n", cause);
		exit(2);
	}
	event_base_dispatch(a.base);
	tunclient_free(a.tc);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(a.base);
	free(a.gw_host);
	free(a.target_host);
	return (a.failed ? 2 : 0);
}
