/*
 * fuzz-http.c: libFuzzer target for everything nbgated does with a browser's
 * (or the admin socket's) bytes: HTTP parsing, heads, cookies, tokens, paths,
 * routing, authorization, and the JSON admin API.  The first byte picks the
 * kind of connection; the rest is sent over a socketpair.
 */
#include "config.h"

#include <sys/socket.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"

static struct gate	fz_gate;

static void
fz_init(void)
{
	char	 dir[] = "/tmp/nbgate-fuzz.XXXXXX", *cause = NULL;
	ssh_key	 key = NULL;

	log_init("fuzz-http", LOG_ERR);
	if (mkdtemp(dir) == NULL || auth_init(dir, &cause) == -1)
		abort();
	gate = &fz_gate;
	gate->cfg = config_default();
	gate->cfg->proxy_max_header = 4096;
	gate->base = event_base_new();
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK ||
	    route_add("alice", "alice", key, "nbtoken", &cause) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Feeds one input as one connection and runs the loop until it is gone. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 ready;
	int		 sv[2], i;
	char		 buf[65536];
	size_t		 off = 1;
	ssize_t		 n;

	if (!ready) {
		fz_init();
		ready = 1;
	}
	if (size < 1 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return (0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	conn_accept(sv[0], "fuzz", 1, data[0] & 1 ? CONN_ADMIN : CONN_PLAIN);
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
	return (0);
}
