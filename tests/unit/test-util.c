/* test-util.c: common/util.c helpers, common/codec.c's encodings and common/log.c's escaping. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/rand.h>

#include "common/common.h"
#include "tests/unit/tap.h"

static void
test_hostport(void)
{
	char	*host = NULL, *cause = NULL;
	int	 port = -1;

	ok(util_parse_hostport("127.0.0.1:8443", &host, &port, &cause) == 0, "v4 host:port");
	is_str(host, "127.0.0.1", "v4 host");
	is_int(port, 8443, "v4 port");
	free(host);
	ok(util_parse_hostport("[::1]:22", &host, &port, &cause) == 0, "v6 host:port");
	is_str(host, "::1", "v6 host");
	is_int(port, 22, "v6 port");
	free(host);
	ok(util_parse_hostport(":0", &host, &port, &cause) == 0, "empty host, port 0");
	free(host);
	ok(util_parse_hostport("nope", &host, &port, &cause) == -1, "no colon refused");
	has_str(cause, "not host:port", "cause names the problem");
	free(cause);
	cause = NULL;
	ok(util_parse_hostport("h:65536", &host, &port, &cause) == -1, "port too big refused");
	free(cause);
	cause = NULL;
	ok(util_parse_hostport("h:1x", &host, &port, &cause) == -1, "junk port refused");
	free(cause);
}

static void
test_tokens(void)
{
	char	*a = util_random_token(32), *b = util_random_token(32);

	is_int(strlen(a), 43, "32 random bytes are 43 base64url chars");
	ok(strcmp(a, b) != 0, "two tokens differ");
	ok(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43,
	    "token is base64url");
	ok(util_streq_ct(a, a), "constant-time equal");
	ok(!util_streq_ct(a, b), "constant-time unequal");
	ok(!util_streq_ct("abc", "abcd"), "prefix is not equal");
	ok(!util_streq_ct("", ""), "empty secret never matches");
	freestr(a);
	freestr(b);
}

static void
test_log_escape(void)
{
	char	b[64], tiny[8];

	log_escape(b, sizeof b, "alice\nFAKE LINE\r\tx");
	is_str(b, "alice\\nFAKE LINE\\r\\tx", "newline, return, tab escaped");
	log_escape(b, sizeof b, "a\x1b[31mb\x7f\x01");
	is_str(b, "a\\x1b[31mb\\x7f\\x01", "ESC, DEL and other controls as \\xNN");
	log_escape(b, sizeof b, "caf\xc3\xa9 \\ ok");
	is_str(b, "caf\xc3\xa9 \\ ok", "UTF-8 and plain bytes unchanged");
	log_escape(tiny, sizeof tiny, "\n\n\n\n");
	ok(strlen(tiny) < sizeof tiny && strchr(tiny, '\n') == NULL,
	    "a short buffer is cut, never overrun, and holds no newline");
}

static void
test_addr_match(void)
{
	is_int(util_addr_match("127.0.0.1", "127.0.0.1"), 1, "address equals itself");
	is_int(util_addr_match("127.0.0.2", "127.0.0.1"), 0, "another address");
	is_int(util_addr_match("10.1.200.7", "10.1.0.0/16"), 1, "in a /16");
	is_int(util_addr_match("10.2.0.7", "10.1.0.0/16"), 0, "outside a /16");
	is_int(util_addr_match("192.0.2.130", "192.0.2.128/25"), 1, "in a /25");
	is_int(util_addr_match("192.0.2.127", "192.0.2.128/25"), 0, "outside a /25");
	is_int(util_addr_match("::ffff:10.1.2.3", "10.1.0.0/16"), 1,
	    "an IPv4-mapped IPv6 address is its IPv4 address");
	is_int(util_addr_match("2001:db8::5", "2001:db8::/32"), 1, "IPv6 CIDR");
	is_int(util_addr_match("2001:db9::5", "2001:db8::/32"), 0, "outside an IPv6 CIDR");
	is_int(util_addr_match("1.2.3.4", "0.0.0.0/0"), 1, "/0 takes every IPv4 address");
	is_int(util_addr_match("1.2.3.4", "node01"), -1, "a name is no pattern");
	is_int(util_addr_match("1.2.3.4", "10.0.0.0/33"), -1, "too many bits");
	is_int(util_addr_match("1.2.3.4", "10.0.0.0/"), -1, "no bits");
	is_int(util_addr_match("1.2.3.4", "10.0.0.0/8x"), -1, "junk bits");
	is_int(util_addr_match("local", "10.0.0.0/8"), 0, "no address never matches");
}

static void
test_names(void)
{
	char	long65[66];

	memset(long65, 'a', 65);
	long65[65] = '\0';

	ok(util_user_name_valid("alice") && util_user_name_valid("_svc") &&
	    util_user_name_valid("a1.b-c_d"), "user names");
	ok(!util_user_name_valid("") && !util_user_name_valid("1alice") &&
	    !util_user_name_valid("-a") && !util_user_name_valid(".a") &&
	    !util_user_name_valid("Alice") && !util_user_name_valid("a b") &&
	    !util_user_name_valid("a/b") && !util_user_name_valid("al\xc3\xa9"),
	    "user names: no digit, '-' or '.' first, no capitals, spaces, '/', UTF-8");
	ok(util_user_name_valid("abcdefghijabcdefghijabcdefghij12") &&
	    !util_user_name_valid("abcdefghijabcdefghijabcdefghij123"),
	    "user names: 32 at most");

	ok(util_name_segment_valid("1lab", 4) && util_name_segment_valid("_x", 2) &&
	    util_name_segment_valid("a.b-c", 5), "segments may start with a digit");
	ok(!util_name_segment_valid("", 0) && !util_name_segment_valid(".a", 2) &&
	    !util_name_segment_valid("-a", 2) && !util_name_segment_valid("aB", 2) &&
	    !util_name_segment_valid("a/b", 3), "segments: no '.' or '-' first, no capitals, '/'");
	ok(util_name_segment_valid("ab/cd", 2), "a segment is the first n bytes");
	ok(util_name_segment_valid(long65, 64) && !util_name_segment_valid(long65, 65),
	    "segments: 64 at most");
	ok(util_server_name_valid("") && util_server_name_valid("lab") &&
	    util_server_name_valid("1lab"), "server names: the default, or a segment");
	ok(!util_server_name_valid("a/b") && !util_server_name_valid(".lab") &&
	    !util_server_name_valid("Lab"), "server names: no '/', '.' first or capitals");

	ok(util_batch_name_valid("Normal_Q.1-x") && util_batch_name_valid("0"),
	    "batch names: letters of both cases, digits");
	ok(!util_batch_name_valid("") && !util_batch_name_valid("-p") &&
	    !util_batch_name_valid(".q") && !util_batch_name_valid("a b") &&
	    !util_batch_name_valid("a,b") && !util_batch_name_valid("a=b"),
	    "batch names: never an option, a list or a setting");
	ok(!util_batch_name_valid(long65) && (long65[64] = '\0', util_batch_name_valid(long65)),
	    "batch names: 64 at most");
	long65[64] = 'a';

	ok(util_job_id_valid("1234") && util_job_id_valid("1234.pbs01") &&
	    util_job_id_valid("77_[1-3]") && util_job_id_valid("-1"), "job ids");
	ok(!util_job_id_valid("") && !util_job_id_valid("12 34") &&
	    !util_job_id_valid("12;rm") && !util_job_id_valid("1/2") &&
	    !util_job_id_valid(long65), "job ids: no spaces, ';', '/', 64 at most");
}

/* RFC 4648 section 10's vectors: "", "f", "fo", ..., "foobar". */
static void
test_b64_vectors(void)
{
	static const char	*std[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
				    "Zm9vYmE=", "Zm9vYmFy" };
	static const char	*url[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg",
				    "Zm9vYmE", "Zm9vYmFy" };
	unsigned char		*out;
	size_t			 i, len;
	char			*s;
	int			 good = 1;

	for (i = 0; i < nitems(std); i++) {
		s = codec_b64_encode("foobar", i);
		good &= strcmp(s, std[i]) == 0;
		free(s);
		s = codec_b64url_encode("foobar", i);
		good &= strcmp(s, url[i]) == 0;
		free(s);
		good &= codec_b64_decode(std[i], strlen(std[i]), &out, &len) == 0 &&
		    len == i && memcmp(out, "foobar", i) == 0 && out[len] == '\0';
		free(out);
		good &= codec_b64url_decode(url[i], strlen(url[i]), &out, &len) == 0 &&
		    len == i && memcmp(out, "foobar", i) == 0 && out[len] == '\0';
		free(out);
	}
	ok(good, "RFC 4648 vectors both ways, base64 and base64url, NUL after");
	s = codec_b64_encode("\xfb\xff\xbf", 3);
	is_str(s, "+/+/", "base64 uses + and /");
	free(s);
	s = codec_b64url_encode("\xfb\xff\xbf", 3);
	is_str(s, "-_-_", "base64url uses - and _");
	free(s);
}

/* Random bytes of every length up to 200 survive both codecs. */
static void
test_b64_round_trip(void)
{
	unsigned char	 raw[200], *out;
	size_t		 n, len;
	char		*s;
	int		 good = 1;

	for (n = 0; n <= sizeof raw; n++) {
		if (RAND_bytes(raw, (int)n) != 1)
			fatalx("RAND_bytes failed");
		s = codec_b64_encode(raw, n);
		good &= strlen(s) == (n + 2) / 3 * 4;
		good &= codec_b64_decode(s, strlen(s), &out, &len) == 0 &&
		    len == n && memcmp(out, raw, n) == 0;
		free(out);
		free(s);
		s = codec_b64url_encode(raw, n);
		good &= strlen(s) == (n * 4 + 2) / 3 && strcspn(s, "+/=") == strlen(s);
		good &= codec_b64url_decode(s, strlen(s), &out, &len) == 0 &&
		    len == n && memcmp(out, raw, n) == 0;
		free(out);
		free(s);
	}
	ok(good, "random bytes 0..200 long round-trip through base64 and base64url");
}

/* Does the base64 (@url: base64url) decoder refuse @s, leaving nothing? */
static int
refused(int url, const char *s)
{
	unsigned char	*out = (unsigned char *)"x";
	size_t		 len = 1;
	int		 rv;

	rv = url ? codec_b64url_decode(s, strlen(s), &out, &len) :
	    codec_b64_decode(s, strlen(s), &out, &len);
	return (rv == -1 && out == NULL && len == 0);
}
#define b64_refused(s)		refused(0, (s))
#define b64url_refused(s)	refused(1, (s))

static void
test_b64_refused(void)
{
	unsigned char	*out;
	size_t		 len;

	ok(b64_refused("Zm9") && b64_refused("Zm9vY") && b64_refused("Zg="),
	    "base64: a length not a multiple of 4");
	ok(b64_refused("Zm9v\n") && b64_refused(" Zm9v") && b64_refused("Zm 9v") &&
	    b64_refused("Zm9v\f\f\f\f"), "base64: whitespace");
	ok(b64_refused("Zm9-") && b64_refused("Zm9_") && b64_refused("Zm9*") &&
	    b64_refused("Zm9\xc3"), "base64: characters outside the alphabet");
	ok(b64_refused("Zg==Zm9v") && b64_refused("Z=9v") && b64_refused("====") &&
	    b64_refused("Z===") && b64_refused("Zm=v"), "base64: '=' only at the end, two at most");
	ok(b64_refused("Zh==") && b64_refused("Zm9=") , "base64: bits past the data must be zero");
	ok(codec_b64_decode("Zm9v\0Zm9v", 8, &out, &len) == -1, "base64: a NUL inside");

	ok(b64url_refused("Zg==") && b64url_refused("Zg=") && b64url_refused("Zm8="),
	    "base64url: padding");
	ok(b64url_refused("+/+/") && b64url_refused("Zm9v+w") && b64url_refused("Zm9v/w"),
	    "base64url: '+' and '/'");
	ok(b64url_refused("Z") && b64url_refused("Zm9vY"), "base64url: a length of 4n+1");
	ok(b64url_refused("Zh") && b64url_refused("Zm9") && b64url_refused("aGVsbG9"),
	    "base64url: bits past the data must be zero");
	ok(b64url_refused("Zm 9v") && b64url_refused("Zm9v\n") && b64url_refused("Zm.v"),
	    "base64url: whitespace and other characters");
	ok(codec_b64url_decode("Zm\0v", 4, &out, &len) == -1, "base64url: a NUL inside");
}

static void
test_hex(void)
{
	unsigned char	 raw[32], back[32], one;
	char		 hex[65];
	size_t		 i;

	for (i = 0; i < sizeof raw; i++)
		raw[i] = (unsigned char)(i * 37 + 5);
	codec_hex(hex, "\x00\x01\xab\xff", 4);
	is_str(hex, "0001abff", "hex: two lowercase digits a byte");
	codec_hex(hex, "", 0);
	is_str(hex, "", "hex: nothing is empty");
	codec_hex(hex, raw, sizeof raw);
	ok(strlen(hex) == 64 && codec_unhex(back, sizeof back, hex, 64) == 0 &&
	    memcmp(back, raw, sizeof raw) == 0, "hex: 32 bytes round-trip");
	ok(codec_unhex(&one, 1, "aB", 2) == 0 && one == 0xab, "unhex: either case");
	ok(codec_unhex(back, 32, hex, 63) == -1 && codec_unhex(back, 31, hex, 64) == -1,
	    "unhex: exactly two digits a byte");
	ok(codec_unhex(&one, 1, "0g", 2) == -1 && codec_unhex(&one, 1, " f", 2) == -1 &&
	    codec_unhex(&one, 1, "+f", 2) == -1 && codec_unhex(&one, 1, "f\0", 2) == -1,
	    "unhex: only hex digits");
}

static void
test_pct(void)
{
	static const struct {
		const char	*in, *keep, *want, *what;
	} t[] = {
		{ "AZaz09-._~", NULL, "AZaz09-._~", "RFC 3986 unreserved kept" },
		{ "a b/c?d=e&f+g%h#i:\x01\x7f\xc3\xa9", NULL,
		  "a%20b%2Fc%3Fd%3De%26f%2Bg%25h%23i%3A%01%7F%C3%A9",
		  "everything else as %XX, uppercase, byte by byte" },
		{ "/hub/x?a=1&b=%2F#t;u+v", "/:@",
		  "/hub/x%3Fa%3D1%26b%3D%252F%23t%3Bu%2Bv", "a keep set" },
		{ "", NULL, "", "nothing is empty" },
	};
	struct evbuffer	*b;
	size_t		 i;

	for (i = 0; i < nitems(t); i++) {
		if ((b = evbuffer_new()) == NULL)
			fatalx("evbuffer_new");
		codec_pct_encode(b, t[i].in, t[i].keep);
		evbuffer_add(b, "", 1);
		is_str((char *)evbuffer_pullup(b, -1), t[i].want, "percent: %s",
		    t[i].what);
		evbuffer_free(b);
	}
}

int
main(void)
{
	log_init("test-util", LOG_WARN);
	test_hostport();
	test_tokens();
	test_log_escape();
	test_addr_match();
	test_names();
	test_b64_vectors();
	test_b64_round_trip();
	test_b64_refused();
	test_hex();
	test_pct();
	return (tap_done());
}
