/* test-http.c: daemon/proxy/http.c message heads, fed by http_parser in pieces. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

#define NFILL	40

static int
on_url(http_parser *p, const char *at, size_t len)
{
	return (http_msg_url(p->data, at, len));
}

static int
on_field(http_parser *p, const char *at, size_t len)
{
	return (http_msg_field(p->data, at, len));
}

static int
on_value(http_parser *p, const char *at, size_t len)
{
	return (http_msg_value(p->data, at, len));
}

static int
on_headers(http_parser *p)
{
	return (0);
}

static http_parser_settings settings = {
	.on_url = on_url,
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_headers_complete = on_headers,
};

/* The value of filler header @i: lengths from 1 to ~120, so the buffer moves. */
static char *
fill_value(int i)
{
	char	*v;
	int	 n = 1 + (i * 37) % 120, k;

	v = xcalloc(1, (size_t)n + 1);
	for (k = 0; k < n; k++)
		v[k] = (char)('a' + (i + k) % 26);
	return (v);
}

static char *
request(int with_connection)
{
	char	*head, *v, *t;
	int	 i;

	xasprintf(&head, "GET /user/alice/lab/tree?x=%s HTTP/1.1\r\nHost: gw.example\r\n%s"
	    "X-Hop-Secret: 1\r\nTE: trailers\r\n",
	    "0123456789abcdef0123456789abcdef",
	    with_connection ? "Connection: keep-alive, X-Hop-Secret\r\n" : "");
	for (i = 0; i < NFILL; i++) {
		v = fill_value(i);
		xasprintf(&t, "%sX-Fill-%d: %s\r\n", head, i, v);
		free(head);
		free(v);
		head = t;
	}
	xasprintf(&t, "%s\r\n", head);
	free(head);
	return (t);
}

/* Parses @head into @m in pieces of @step bytes; the parser's errno. */
static enum http_errno
parse(struct http_msg *m, const char *head, size_t step)
{
	http_parser	p;
	size_t		len = strlen(head), off, n;

	http_parser_init(&p, HTTP_REQUEST);
	p.data = m;
	for (off = 0; off < len; off += n) {
		n = len - off < step ? len - off : step;
		if (http_parser_execute(&p, &settings, head + off, n) != n)
			break;
	}
	return (HTTP_PARSER_ERRNO(&p));
}

/* Every string of @m lies inside its one buffer. */
static int
inside(const struct http_msg *m, const char *s)
{
	return (s != NULL && s >= m->buf && s < m->buf + m->buflen);
}

static void
test_pieces(size_t step)
{
	struct http_msg	 m;
	char		*head = request(1), *v;
	int		 i, good = 1, placed = 1;

	http_msg_init(&m, 64 * 1024);
	is_int(parse(&m, head, step), HPE_OK, "step %zu: the head parses", step);
	is_str(m.url, "/user/alice/lab/tree?x=0123456789abcdef0123456789abcdef",
	    "step %zu: url", step);
	is_int((int)m.nhdr, NFILL + 4, "step %zu: every header kept", step);
	for (i = 0; i < NFILL; i++) {
		char	name[32];

		snprintf(name, sizeof name, "x-fill-%d", i);
		v = fill_value(i);
		if (http_msg_get(&m, name) == NULL || strcmp(http_msg_get(&m, name), v) != 0)
			good = 0;
		free(v);
	}
	ok(good, "step %zu: every value intact after the buffer moved", step);
	for (i = 0; i < (int)m.nhdr; i++)
		placed &= inside(&m, m.hdr[i].name) && inside(&m, m.hdr[i].value);
	ok(placed && inside(&m, m.url), "step %zu: every string points into the buffer", step);
	ok(m.bufcap > 512, "step %zu: the buffer grew (%zu bytes)", step, m.bufcap);
	is_str(http_msg_get(&m, "HOST"), "gw.example", "step %zu: lookup ignores case", step);
	ok(http_hop_header(&m, "Connection") && http_hop_header(&m, "te") &&
	    http_hop_header(&m, "X-Hop-Secret"),
	    "step %zu: Connection, TE and a name Connection lists are hop-by-hop", step);
	ok(!http_hop_header(&m, "Host") && !http_hop_header(&m, "X-Fill-3") &&
	    !http_hop_header(&m, "upgrades"),
	    "step %zu: other headers are end-to-end", step);
	ok(http_msg_url(&m, "y", 1) == -1 &&
	    strcmp(m.url, "/user/alice/lab/tree?x=0123456789abcdef0123456789abcdef") == 0,
	    "step %zu: a string that is not the last cannot grow (and is left as it was)", step);
	http_msg_reset(&m);
	ok(m.nhdr == 0 && m.buf == NULL && m.url == NULL, "step %zu: reset empties", step);
	free(head);
}

static void
test_no_connection(void)
{
	struct http_msg	 m;
	char		*head = request(0);

	http_msg_init(&m, 64 * 1024);
	is_int(parse(&m, head, 5), HPE_OK, "without Connection: parses");
	ok(!http_hop_header(&m, "X-Hop-Secret"),
	    "a name is hop-by-hop only when a Connection header lists it");
	ok(http_hop_header(&m, "Keep-Alive") && http_hop_header(&m, "Proxy-Authorization"),
	    "the fixed hop-by-hop names still are");
	/* The same message reused after a reset. */
	http_msg_reset(&m);
	free(head);
	head = request(1);
	is_int(parse(&m, head, 64), HPE_OK, "reused after reset: parses");
	ok(http_hop_header(&m, "X-Hop-Secret"), "reused: its own Connection header counts");
	http_msg_reset(&m);
	free(head);
}

static void
test_limit(void)
{
	struct http_msg	 m;
	char		*head = request(1);

	http_msg_init(&m, 300);
	ok(parse(&m, head, 7) != HPE_OK, "a head over its limit is refused");
	ok(m.size > 300, "the size counted is past the limit (%zu)", m.size);
	http_msg_reset(&m);
	is_int((int)m.limit, 300, "reset keeps the limit");
	free(head);
}

/* An app whose prefix is stripped: its absolute-path redirects get it back. */
static void
test_location(void)
{
	static const struct {
		const char	*name, *value, *want;	/* want NULL: unchanged */
	} t[] = {
		{ "Location", "/login?next=/", "/user/alice/lab/login?next=/" },
		{ "location", "/", "/user/alice/lab/" },
		{ "Content-Location", "/a.html", "/user/alice/lab/a.html" },
		{ "Refresh", "5; url=/x", "5; url=/user/alice/lab/x" },
		{ "Refresh", "0;URL='/x'", "0;URL='/user/alice/lab/x'" },
		{ "Refresh", "5", NULL },
		{ "Location", "/user/alice/lab/", NULL },
		{ "Location", "/user/alice/lab", NULL },
		{ "Location", "/user/alice/lab?a=1", NULL },
		{ "Location", "/user/alice/labx", "/user/alice/lab/user/alice/labx" },
		{ "Location", "https://other.example/x", NULL },
		{ "Location", "//other.example/x", NULL },
		{ "Location", "/\\other.example/x", NULL },
		{ "Location", "next/", NULL },
		{ "Link", "</x>; rel=preload", NULL },
	};
	size_t	i;
	char	*got;

	for (i = 0; i < nitems(t); i++) {
		got = http_location_prefix(t[i].name, t[i].value, "/user/alice/lab");
		if (t[i].want == NULL)
			ok(got == NULL, "%s: %s stays as it is", t[i].name, t[i].value);
		else
			is_str(got, t[i].want, "%s: %s gets the prefix back", t[i].name,
			    t[i].value);
		free(got);
	}
}

int
main(void)
{
	log_init("test-http", LOG_WARN);
	test_pieces(1);
	test_pieces(3);
	test_pieces(64);
	test_pieces(100000);
	test_no_connection();
	test_limit();
	test_location();
	return (tap_done());
}
