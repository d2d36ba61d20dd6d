/*
 * fuzz-http.c: libFuzzer target for everything nbgated does with bytes from a
 * browser, the admin socket, or a notebook: HTTP parsing both ways, heads,
 * cookies, tokens, paths, routing, authorization, the JSON admin API, and
 * response framing/upgrades.  The first byte picks the mode:
 *   0: browser bytes on a plain connection; 1: admin-socket bytes;
 *   2..: a fixed, authorized request (chosen by the second byte) whose
 *        notebook answers with the rest of the input.
 */
#include "config.h"

#include <sys/socket.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "daemon/daemon.h"

static struct gate	 fz_gate;
static char		*fz_token;
static const uint8_t	*fz_resp;
static size_t		 fz_resplen;
static int		 fz_dummy_tunnel;

static const char *fz_requests[] = {
	"GET /user/alice/tree HTTP/1.1\r\nHost: x\r\n",
	"HEAD /user/alice/files/a HTTP/1.1\r\nHost: x\r\n",
	"GET /user/alice/api/kernels/k/channels HTTP/1.1\r\nHost: x\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\n",
	"POST /user/alice/api/contents HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n",
	"GET /user/alice/a HTTP/1.0\r\n",
};

/* The notebook's side: a pair whose far end says the fuzzed bytes, then EOF. */
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

static void
fz_init(void)
{
	char		 dir[] = "/tmp/nbgate-fuzz.XXXXXX", *cause = NULL;
	char		 id[AUTH_TOKEN_ID_LEN + 1];
	ssh_key		 key = NULL;
	struct route	*r;

	log_init("fuzz-http", LOG_ERR);
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
	for (i = 0; i < 1000 && (off < size || i < 4); i++) {
		if (off < size && (n = write(sv[1], data + off, size - off)) > 0)
			off += n;
		if (off >= size)
			shutdown(sv[1], SHUT_WR);
		event_base_loop(gate->base, EVLOOP_NONBLOCK);
		while (read(sv[1], buf, sizeof buf) > 0)
			;
	}
	close(sv[1]);
	for (i = 0; i < 8 && conn_open() > 0; i++)
		event_base_loop(gate->base, EVLOOP_NONBLOCK);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* One input, one connection. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer	*req;

	if (size < 1)
		return (0);
	if (fz_token == NULL)
		fz_init();
	if (data[0] < 2) {
		fz_run(data[0] & 1 ? CONN_ADMIN : CONN_PLAIN, data + 1, size - 1);
		return (0);
	}
	if (size < 2)
		return (0);
	req = evbuffer_new();
	evbuffer_add_printf(req, "%sAuthorization: token %s\r\n\r\n",
	    fz_requests[data[1] % nitems(fz_requests)], fz_token);
	if (data[1] % nitems(fz_requests) == 3)
		evbuffer_add_printf(req, "5\r\nhello\r\n0\r\n\r\n");
	fz_resp = data + 2;
	fz_resplen = size - 2;
	fz_run(CONN_PLAIN, evbuffer_pullup(req, -1), evbuffer_get_length(req));
	evbuffer_free(req);
	return (0);
}
