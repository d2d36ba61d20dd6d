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

#include <string.h>

#include <event2/buffer.h>

#include "tests/fuzz/proxy-fixture.h"

static const char *fz_requests[] = {
	"GET /user/alice/tree HTTP/1.1\r\nHost: x\r\n",
	"HEAD /user/alice/files/a HTTP/1.1\r\nHost: x\r\n",
	"GET /user/alice/api/kernels/k/channels HTTP/1.1\r\nHost: x\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\n",
	"POST /user/alice/api/contents HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n",
	"GET /user/alice/a HTTP/1.0\r\n",
};

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* One input, one connection. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer	*req;

	if (size < 1)
		return (0);
	if (fz_token == NULL)
		fz_init("fuzz-http");
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
