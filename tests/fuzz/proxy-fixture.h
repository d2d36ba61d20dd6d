/*
 * proxy-fixture.h: what the front end's fuzz targets (fuzz-http, fuzz-h2)
 * share: a gateway with route "alice" and an API token for her, whose
 * notebook answers with fz_resp, and one connection run to its end.
 */
#ifndef NB_PROXY_FIXTURE_H
#define NB_PROXY_FIXTURE_H

#include <sys/socket.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/bufferevent.h>

#include "daemon/daemon.h"

static struct gate	 fz_gate;
static char		*fz_token;	/* alice's API token, once fz_init() ran */
static const uint8_t	*fz_resp;	/* what the notebook answers */
static size_t		 fz_resplen;
static int		 fz_dummy_tunnel;

/* The notebook's side: a pair whose far end says fz_resp, then EOF. */
static struct tunnel_req *
fz_connect(struct tunnel *t, const char *origin, int port, tunnel_connect_cb cb,
    void *arg)
{
	struct bufferevent	*pair[2];

	if (bufferevent_pair_new(gate->base, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS, pair) == -1)
		abort();
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	bufferevent_write(pair[1], fz_resp, fz_resplen);
	bufferevent_flush(pair[1], EV_WRITE, BEV_FINISHED);
	bufferevent_free(pair[1]);
	cb(pair[0], NULL, arg);
	return (NULL);
}

/* The gateway, logging as @name; the caller may tighten gate->cfg after. */
static void
fz_init(const char *name)
{
	char		 dir[] = "/tmp/nbgate-fuzz.XXXXXX", *cause = NULL;
	char		 id[AUTH_TOKEN_ID_LEN + 1];
	ssh_key		 key = NULL;
	struct route	*r;

	log_init(name, LOG_ERR);
	if (mkdtemp(dir) == NULL || auth_init(dir, &cause) == -1)
		abort();
	gate = &fz_gate;
	gate->cfg = config_default();
	gate->cfg->proxy_max_header = 4096;
	gate->base = event_base_new();
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK ||
	    (r = route_add("alice", "alice", key, "nbtoken", &cause)) == NULL)
		abort();
	route_set_tunnel(r, (struct tunnel *)&fz_dummy_tunnel);	/* never dereferenced */
	conn_set_connector(fz_connect);
	fz_token = auth_token_issue("alice", 0, id);
}

/* Sends @data on a new connection of @kind and runs the loop until it is gone. */
static void
fz_run(enum conn_kind kind, const uint8_t *data, size_t size)
{
	int	 sv[2], i;
	char	 buf[65536];
	size_t	 off = 0;
	ssize_t	 n;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	conn_accept(sv[0], "fuzz", 1, kind);
	for (i = 0; i < 1000 && (off < size || i < 8); i++) {
		if (off < size && (n = write(sv[1], data + off, size - off)) > 0)
			off += n;
		if (off >= size)
			shutdown(sv[1], SHUT_WR);
		event_base_loop(gate->base, EVLOOP_NONBLOCK);
		while (read(sv[1], buf, sizeof buf) > 0)
			;
	}
	close(sv[1]);
	for (i = 0; i < 16 && conn_open() > 0; i++)
		event_base_loop(gate->base, EVLOOP_NONBLOCK);
	event_base_loop(gate->base, EVLOOP_NONBLOCK);	/* inner conns freed */
}

#endif /* NB_PROXY_FIXTURE_H */
