/*
 * fuzz-h2.c: libFuzzer target for HTTP/2 frames from a browser: the nghttp2
 * session, the h2 limits, each stream's head rewritten as HTTP/1.1, bodies,
 * flow control, resets, and answers read back into h2.  Prior knowledge on
 * a plain socket (CONN_H2C); the client preface and an empty SETTINGS are
 * sent first.  The first byte picks what follows:
 *   0: the fuzzed frames;
 *   1: an authorized POST's HEADERS on stream 1 (the body is the fuzz's),
 *      then the fuzzed frames;
 *   2..: an authorized GET on stream 1; the notebook answers with the rest.
 */
#include "config.h"

#include <string.h>

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include "tests/fuzz/proxy-fixture.h"

static const char	 fz_okresp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

/* Adds a HEADERS frame on stream 1 for an authorized @method request. */
static void
fz_headers(struct evbuffer *out, const char *method, int end_stream)
{
	nghttp2_hd_deflater	*d;
	char			*auth;
	uint8_t			 block[1024], hd[9];
	ssize_t			 n;
	nghttp2_nv		 nv[5];

	xasprintf(&auth, "token %s", fz_token);
#define FZ_NV(i, k, v) do { nv[i].name = (uint8_t *)(k); nv[i].namelen = strlen(k); \
	nv[i].value = (uint8_t *)(v); nv[i].valuelen = strlen(v); nv[i].flags = 0; } while (0)
	FZ_NV(0, ":method", method);
	FZ_NV(1, ":scheme", "https");
	FZ_NV(2, ":authority", "x");
	FZ_NV(3, ":path", "/user/alice/x");
	FZ_NV(4, "authorization", auth);
#undef FZ_NV
	if (nghttp2_hd_deflate_new(&d, 4096) != 0 ||
	    (n = nghttp2_hd_deflate_hd(d, block, sizeof block, nv, nitems(nv))) < 0)
		abort();
	nghttp2_hd_deflate_del(d);
	hd[0] = (uint8_t)(n >> 16);
	hd[1] = (uint8_t)(n >> 8);
	hd[2] = (uint8_t)n;
	hd[3] = NGHTTP2_HEADERS;
	hd[4] = NGHTTP2_FLAG_END_HEADERS | (end_stream ? NGHTTP2_FLAG_END_STREAM : 0);
	memcpy(hd + 5, "\0\0\0\1", 4);
	evbuffer_add(out, hd, sizeof hd);
	evbuffer_add(out, block, (size_t)n);
	free(auth);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* One input, one connection. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer	*in;

	if (size < 1)
		return (0);
	if (fz_token == NULL) {
		fz_init("fuzz-h2");
		gate->cfg->proxy_h2_streams = 8;
		gate->cfg->proxy_h2_resets = 16;
	}
	in = evbuffer_new();
	evbuffer_add(in, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
	evbuffer_add(in, "\0\0\0\4\0\0\0\0\0", 9);	/* SETTINGS, empty */
	fz_resp = (const uint8_t *)fz_okresp;
	fz_resplen = sizeof fz_okresp - 1;
	if (data[0] == 1)
		fz_headers(in, "POST", 0);
	else if (data[0] >= 2) {
		fz_headers(in, "GET", 1);
		fz_resp = data + 1;
		fz_resplen = size - 1;
	}
	if (data[0] < 2)
		evbuffer_add(in, data + 1, size - 1);
	fz_run(CONN_H2C, evbuffer_pullup(in, -1), evbuffer_get_length(in));
	evbuffer_free(in);
	return (0);
}
