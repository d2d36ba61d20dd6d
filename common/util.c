/*
 * util.c: small helpers shared by daemon and agent: the name rules, host:port
 * parsing, socket options, random tokens, constant-time compare, files.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common.h"

/*
 * Makes the event loop.  The epoll changelist folds the add/delete pairs of
 * write interest that every request causes into one epoll_ctl, or none.
 */
struct event_base *
util_event_base_new(void)
{
	struct event_config	*ec;
	struct event_base	*base;

	if ((ec = event_config_new()) == NULL)
		fatalx("event_config_new failed");
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	if ((base = event_base_new_with_config(ec)) == NULL)
		fatalx("event_base_new failed");
	event_config_free(ec);
	return (base);
}

/*
 * The name rules.  Each is one function; where two look alike they differ on
 * purpose (a Unix login may not start with a digit, a route segment may).
 */

/* Is @s made of [a-z0-9_.-] only, or of [A-Za-z0-9_.-] if @upper? */
static int
util_name_chars(const char *s, size_t n, int upper)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= '0' && s[i] <= '9') &&
		    !(upper && s[i] >= 'A' && s[i] <= 'Z') && s[i] != '_' &&
		    s[i] != '.' && s[i] != '-')
			return (0);
	}
	return (1);
}

/*
 * Is [s, s+n) a user or server name as routes use them:
 * [a-z0-9_][a-z0-9_.-]{0,63}?  The daemon and the agent must agree on it.
 */
int
util_name_segment_valid(const char *s, size_t n)
{
	return (n >= 1 && n <= 64 && s[0] != '.' && s[0] != '-' &&
	    util_name_chars(s, n, 0));
}

/* Is @s a user name as useradd accepts it by default: [a-z_][a-z0-9_.-]{0,31}? */
int
util_user_name_valid(const char *s)
{
	size_t	n = strlen(s);

	return (n >= 1 && n <= 32 && ((s[0] >= 'a' && s[0] <= 'z') ||
	    s[0] == '_') && util_name_chars(s, n, 0));
}

/* Is @s "" (a user's default server) or a named server: [a-z0-9_][a-z0-9_.-]{0,63}? */
int
util_server_name_valid(const char *s)
{
	return (*s == '\0' || util_name_segment_valid(s, strlen(s)));
}

/*
 * Is @s a queue, account, reservation, QOS or container name:
 * [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}?  They go into #SBATCH/#PBS lines
 * unquoted, so they need no quoting and cannot start an option.
 */
int
util_batch_name_valid(const char *s)
{
	size_t	n = strlen(s);

	return (n >= 1 && n <= 64 && s[0] != '.' && s[0] != '-' &&
	    util_name_chars(s, n, 1));
}

/* Is @s a batch job id as an agent reports it: [A-Za-z0-9._[]-]{1,64}? */
int
util_job_id_valid(const char *s)
{
	size_t	n = strlen(s);

	return (n >= 1 && n <= 64 && s[strspn(s, "0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._-[]")] == '\0');
}

/* Splits "host:port" or "[v6]:port"; fills *cause on error. */
int
util_parse_hostport(const char *s, char **host, int *port, char **cause)
{
	const char	*colon, *h = s;
	size_t		 hlen;
	char		*end;
	long		 p;

	if (*s == '[') {
		if ((colon = strstr(s, "]:")) == NULL)
			goto bad;
		h = s + 1;
		hlen = colon - h;
		colon++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		hlen = colon - s;
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 0 || p > 65535)
		goto bad;
	*host = xstrndup(h, hlen);
	*port = (int)p;
	return (0);
bad:
	xasprintf(cause, "'%s' is not host:port (port 0-65535)", s);
	return (-1);
}

/* Disables Nagle: the tunnel carries many small request/response turns. */
int
util_set_nodelay(int fd)
{
	int	on = 1;

	return (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on));
}

/* TCP keepalive that notices a dead peer after about 3 * idle seconds. */
int
util_set_keepalive(int fd, int idle)
{
	int	on = 1, cnt = 3;
	unsigned int timeout = (unsigned int)idle * 4 * 1000;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) == -1)
		return (-1);
	return (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout,
	    sizeof timeout));
}

/* Returns @n random bytes as unpadded base64url; caller frees (freestr). */
char *
util_random_token(size_t n)
{
	unsigned char	*raw = xmalloc(n);
	char		*out;

	if (RAND_bytes(raw, (int)n) != 1)
		fatalx("RAND_bytes failed");
	out = codec_b64url_encode(raw, n);
	freezero(raw, n);
	return (out);
}

/* Compares two secrets without leaking where they differ. */
int
util_streq_ct(const char *a, const char *b)
{
	size_t		 la = strlen(a), lb = strlen(b), i;
	unsigned char	 d = la != lb;

	for (i = 0; i < la; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i % (lb ? lb : 1)];
	return (d == 0 && lb != 0);
}

/* mkdir -p with @mode for the directories it creates. */
int
util_mkdir_p(const char *path, mode_t mode, char **cause)
{
	char	*p = xstrdup(path), *s;
	int	 rv = -1;

	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) == -1 && errno != EEXIST) {
			xasprintf(cause, "mkdir %s: %s", p, strerror(errno));
			goto out;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	rv = 0;
out:
	free(p);
	return (rv);
}

/* Writes a whole file atomically (temp + rename) with @mode. */
int
util_write_file(const char *path, const void *data, size_t len, mode_t mode,
    char **cause)
{
	char		*tmp;
	const char	*d = data;
	ssize_t		 n;
	int		 fd, rv = -1;

	xasprintf(&tmp, "%s.tmp%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) == -1) {
		xasprintf(cause, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	while (len > 0) {
		if ((n = write(fd, d, len)) == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "%s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			goto out;
		}
		d += n;
		len -= n;
	}
	if (fsync(fd) == -1 || close(fd) == -1 || rename(tmp, path) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rv = 0;
out:
	free(tmp);
	return (rv);
}

/* Parses IP address text into 16 bytes (IPv4 as ::ffff:a.b.c.d); 0, or -1. */
static int
util_addr_parse(const char *s, unsigned char a[16])
{
	struct in_addr	v4;

	if (inet_pton(AF_INET6, s, a) == 1)
		return (0);
	if (inet_pton(AF_INET, s, &v4) != 1)
		return (-1);
	memset(a, 0, 10);
	a[10] = a[11] = 0xff;
	memcpy(a + 12, &v4, 4);
	return (0);
}

/*
 * Is the address @addr in @pattern: one address, or ADDR/BITS?  IPv4 and
 * IPv4-mapped IPv6 addresses compare equal.  1 if it is, 0 if not (or if
 * @addr is no address), -1 if @pattern is neither.
 */
int
util_addr_match(const char *addr, const char *pattern)
{
	unsigned char	 a[16], p[16];
	char		*copy = xstrdup(pattern), *slash, *end;
	long		 bits = 128;
	int		 v4, i, rv = -1;

	if ((slash = strchr(copy, '/')) != NULL)
		*slash++ = '\0';
	if (util_addr_parse(copy, p) == -1)
		goto out;
	v4 = strchr(copy, ':') == NULL;
	if (slash != NULL) {
		errno = 0;
		bits = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || errno != 0 || bits < 0 ||
		    bits > (v4 ? 32 : 128))
			goto out;
		if (v4)
			bits += 96;
	}
	rv = 0;
	if (util_addr_parse(addr, a) == -1)
		goto out;
	for (i = 0; bits >= 8; i++, bits -= 8) {
		if (a[i] != p[i])
			goto out;
	}
	if (bits > 0 && ((a[i] ^ p[i]) & (0xff << (8 - bits)) & 0xff) != 0)
		goto out;
	rv = 1;
out:
	free(copy);
	return (rv);
}
