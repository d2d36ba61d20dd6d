/* test-util.c: common/util.c helpers and common/log.c's escaping. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

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

int
main(void)
{
	log_init("test-util", LOG_WARN);
	test_hostport();
	test_tokens();
	test_log_escape();
	test_addr_match();
	return (tap_done());
}
