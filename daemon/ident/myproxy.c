/*
 * myproxy.c: a blocking MyProxy GET (logon) client: TLS to the server, the server's
 * certificate verified against the grid CA directory and its name (host, host/NAME,
 * myproxy/NAME or an expected DN), then COMMAND=0 with user name and passphrase and a
 * certificate request for a fresh RSA key; the server answers with the proxy chain.
 * Refused: untrusted or misnamed servers, server errors (wrong passphrase ...), chains
 * that do not certify the key. Connect and I/O are bounded by a deadline. Run it off
 * the event loop (a thread); the passphrase never reaches a message.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "daemon/ident/ident.h"

#define MYPROXY_MAX_MSG		(64 * 1024)	/* one text response */
#define MYPROXY_MAX_CHAIN	(256 * 1024)	/* the delegated chain */
#define MYPROXY_MAX_CERTS	16
#define MYPROXY_KEY_BITS	2048

/* One connection's state. */
struct mp_conn {
	const struct myproxy_opts *opts;
	const char	*name;		/* the server name checked */
	int		 fd;
	SSL_CTX		*ctx;
	SSL		*ssl;
	struct evbuffer	*in;		/* bytes read, not yet consumed */
	time_t		 deadline;	/* monotonic seconds */
	int		 timeout;	/* seconds, for messages */
};

static time_t
mp_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec);
}

static char *
mp_ssl_error(void)
{
	char		 buf[256];
	unsigned long	 e = ERR_get_error();

	ERR_clear_error();
	if (e == 0)
		return (xstrdup("connection closed"));
	ERR_error_string_n(e, buf, sizeof buf);
	return (xstrdup(buf));
}

/* Sets the socket's send/receive timeouts to what is left before the deadline. */
static int
mp_arm(struct mp_conn *c, char **cause)
{
	struct timeval	tv;
	time_t		left = c->deadline - mp_now();

	if (left <= 0) {
		xasprintf(cause, "timed out after %d s talking to %s:%d", c->timeout,
		    c->opts->host, c->opts->port);
		return (-1);
	}
	errno = 0;	/* so mp_timed_out() sees this operation's errno only */
	tv.tv_sec = left;
	tv.tv_usec = 0;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return (0);
}

/* After a failed socket operation: 1 and *cause if it was the deadline. */
static int
mp_timed_out(struct mp_conn *c, char **cause)
{
	if (errno != EAGAIN && errno != EWOULDBLOCK && mp_now() < c->deadline)
		return (0);
	ERR_clear_error();
	xasprintf(cause, "timed out after %d s waiting for %s:%d", c->timeout, c->opts->host,
	    c->opts->port);
	return (1);
}

/* Connects one address within the deadline; the fd or -1 (errno set). */
static int
mp_connect_one(const struct addrinfo *ai, time_t deadline)
{
	struct pollfd	pfd;
	socklen_t	len = sizeof pfd.revents;
	int		fd, fl, err = 0, ms;

	if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)) == -1)
		return (-1);
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 && errno != EINPROGRESS)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	ms = (int)(deadline - mp_now()) * 1000;
	if (ms <= 0 || poll(&pfd, 1, ms) != 1) {
		errno = ETIMEDOUT;
		goto fail;
	}
	len = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0) {
		errno = err != 0 ? err : errno;
		goto fail;
	}
	fcntl(fd, F_SETFL, fl);
	return (fd);
fail:
	err = errno;
	close(fd);
	errno = err;
	return (-1);
}

static int
mp_connect(struct mp_conn *c, char **cause)
{
	struct addrinfo	 hints, *res, *ai;
	char		 port[16];
	int		 r;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof port, "%d", c->opts->port);
	if ((r = getaddrinfo(c->opts->host, port, &hints, &res)) != 0) {
		xasprintf(cause, "cannot resolve %s: %s", c->opts->host, gai_strerror(r));
		return (-1);
	}
	errno = 0;
	for (ai = res; ai != NULL && c->fd == -1; ai = ai->ai_next)
		c->fd = mp_connect_one(ai, c->deadline);
	freeaddrinfo(res);
	if (c->fd == -1) {
		xasprintf(cause, "cannot connect to %s:%d: %s", c->opts->host, c->opts->port,
		    strerror(errno ? errno : ECONNREFUSED));
		return (-1);
	}
	return (0);
}

/* Does the server certificate carry the name we expect? */
static int
mp_name_ok(struct mp_conn *c, X509 *peer, char **cause)
{
	X509_NAME	*subj = X509_get_subject_name(peer);
	char		*dn = x509_name_oneline(subj), cn[256], *want1, *want2;
	int		 ok, i;

	if (c->opts->server_dn != NULL)
		ok = strcmp(dn, c->opts->server_dn) == 0;
	else {
		ok = X509_check_host(peer, c->name, 0, 0, NULL) == 1 ||
		    X509_check_ip_asc(peer, c->name, 0) == 1;
		xasprintf(&want1, "host/%s", c->name);
		xasprintf(&want2, "myproxy/%s", c->name);
		for (i = -1; !ok && (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;) {
			ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));

			if (ASN1_STRING_length(s) >= (int)sizeof cn)
				continue;
			memcpy(cn, ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
			cn[ASN1_STRING_length(s)] = '\0';
			ok = strcasecmp(cn, want1) == 0 || strcasecmp(cn, want2) == 0;
		}
		free(want1);
		free(want2);
	}
	if (!ok)
		xasprintf(cause, "the server certificate %s is not the one expected for %s", dn,
		    c->opts->server_dn != NULL ? c->opts->server_dn : c->name);
	free(dn);
	return (ok ? 0 : -1);
}

static int
mp_tls(struct mp_conn *c, char **cause)
{
	X509		*peer;
	long		 vr;
	char		*e;

	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (c->opts->ca_dir == NULL || SSL_CTX_load_verify_dir(c->ctx, c->opts->ca_dir) != 1) {
		ERR_clear_error();
		xasprintf(cause, "the CA directory %s cannot be used",
		    c->opts->ca_dir ? c->opts->ca_dir : "(none)");
		return (-1);
	}
	if ((c->ssl = SSL_new(c->ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		fatalx("SSL_new failed");
	SSL_set_tlsext_host_name(c->ssl, c->name);
	if (mp_arm(c, cause) != 0)
		return (-1);
	if (SSL_connect(c->ssl) != 1) {
		if ((vr = SSL_get_verify_result(c->ssl)) != X509_V_OK)
			xasprintf(cause, "the MyProxy server %s:%d is not trusted: %s",
			    c->opts->host, c->opts->port, X509_verify_cert_error_string(vr));
		else if (mp_timed_out(c, cause) == 0) {
			e = mp_ssl_error();
			xasprintf(cause, "TLS with %s:%d failed: %s", c->opts->host,
			    c->opts->port, e);
			free(e);
		}
		return (-1);
	}
	if ((peer = SSL_get1_peer_certificate(c->ssl)) == NULL) {
		*cause = xstrdup("the MyProxy server sent no certificate");
		return (-1);
	}
	vr = mp_name_ok(c, peer, cause);
	X509_free(peer);
	return ((int)vr);
}

static int
mp_write(struct mp_conn *c, const void *p, size_t n, char **cause)
{
	char	*e;

	if (mp_arm(c, cause) != 0)
		return (-1);
	if (n > INT_MAX || SSL_write(c->ssl, p, (int)n) != (int)n) {
		if (mp_timed_out(c, cause) != 0)
			return (-1);
		e = mp_ssl_error();
		xasprintf(cause, "sending to %s:%d failed: %s", c->opts->host, c->opts->port, e);
		free(e);
		return (-1);
	}
	return (0);
}

/* Reads more bytes into c->in (at most @max buffered); 0, or -1 and *cause. */
static int
mp_read_more(struct mp_conn *c, size_t max, char **cause)
{
	char	 buf[16384];
	int	 n;

	if (mp_arm(c, cause) != 0)
		return (-1);
	if (evbuffer_get_length(c->in) >= max) {
		xasprintf(cause, "the MyProxy server sent more than %zu bytes", max);
		return (-1);
	}
	if ((n = SSL_read(c->ssl, buf, sizeof buf)) <= 0) {
		if (mp_timed_out(c, cause) == 0)
			xasprintf(cause, "the MyProxy server %s:%d closed the connection",
			    c->opts->host, c->opts->port);
		ERR_clear_error();
		return (-1);
	}
	evbuffer_add(c->in, buf, n);
	explicit_bzero(buf, sizeof buf);
	return (0);
}

/*
 * Reads one NUL-terminated response and checks RESPONSE=0; the server's ERROR lines
 * become *cause.
 */
static int
mp_response(struct mp_conn *c, char **cause)
{
	struct evbuffer_ptr	 nul;
	char			*msg, *line, *save, *err = NULL, *t, *q;
	int			 code = -1;

	for (;;) {
		/* Empty messages (a lone NUL the server sends first) carry nothing. */
		while (evbuffer_get_length(c->in) > 0 && *evbuffer_pullup(c->in, 1) == '\0')
			evbuffer_drain(c->in, 1);
		nul = evbuffer_search(c->in, "", 1, NULL);
		if (nul.pos != -1)
			break;
		if (mp_read_more(c, MYPROXY_MAX_MSG, cause) != 0)
			return (-1);
	}
	msg = xmalloc(nul.pos + 1);
	evbuffer_remove(c->in, msg, nul.pos + 1);
	for (q = msg; *q != '\0'; q++)		/* the server's words reach people */
		if ((*q < 0x20 && *q != '\n') || *q == 0x7f)
			*q = '?';
	for (line = strtok_r(msg, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "RESPONSE=", 9) == 0)
			code = atoi(line + 9);
		else if (strncmp(line, "ERROR=", 6) == 0 && (err == NULL || strlen(err) < 1024)) {
			t = err;
			xasprintf(&err, "%s%s%s", t ? t : "", t ? " " : "", line + 6);
			free(t);
		}
	}
	free(msg);
	if (code == 1)
		xasprintf(cause, "the MyProxy server refused: %s",
		    err != NULL ? err : "(no reason given)");
	else if (code == 2)
		*cause = xstrdup("the MyProxy server wants another authorization method "
		    "(not supported)");
	else if (code != 0)
		*cause = xstrdup("the MyProxy server sent no RESPONSE line");
	free(err);
	return (code == 0 ? 0 : -1);
}

/* A fresh RSA key and a DER certificate request for it. */
static EVP_PKEY *
mp_csr(u_char **der, int *derlen)
{
	EVP_PKEY	*k;
	X509_REQ	*req;
	X509_NAME	*n;

	if ((k = EVP_RSA_gen(MYPROXY_KEY_BITS)) == NULL || (req = X509_REQ_new()) == NULL ||
	    (n = X509_NAME_new()) == NULL)
		fatalx("key generation failed");
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const u_char *)"proxy", -1, -1, 0);
	if (X509_REQ_set_version(req, 0) != 1 || X509_REQ_set_subject_name(req, n) != 1 ||
	    X509_REQ_set_pubkey(req, k) != 1 || X509_REQ_sign(req, k, EVP_sha256()) <= 0)
		fatalx("certificate request failed");
	*der = NULL;
	if ((*derlen = i2d_X509_REQ(req, der)) <= 0)
		fatalx("i2d_X509_REQ failed");
	X509_NAME_free(n);
	X509_REQ_free(req);
	return (k);
}

/*
 * Parses "count byte + count DER certificates" from c->in, consuming them; 1 done,
 * 0 need more, -1 bad.
 */
static int
mp_parse_chain(struct mp_conn *c, STACK_OF(X509) **out, char **cause)
{
	size_t		 len = evbuffer_get_length(c->in);
	const u_char	*p = evbuffer_pullup(c->in, -1), *start = p, *end = p + len;
	STACK_OF(X509)	*sk;
	X509		*x;
	int		 n, i;

	if (len == 0)
		return (0);
	if ((n = p[0]) < 1 || n > MYPROXY_MAX_CERTS) {
		xasprintf(cause, "the MyProxy server sent a chain of %d certificates", n);
		return (-1);
	}
	if ((sk = sk_X509_new_null()) == NULL)
		fatalx("out of memory");
	for (p++, i = 0; i < n; i++) {
		if ((x = d2i_X509(NULL, &p, end - p)) == NULL) {
			ERR_clear_error();
			sk_X509_pop_free(sk, X509_free);
			return (0);	/* incomplete (a bad one ends at the size cap) */
		}
		if (sk_X509_push(sk, x) == 0)
			fatalx("out of memory");
	}
	evbuffer_drain(c->in, p - start);
	*out = sk;
	return (1);
}

/* PEM text of the chain and the key; both caller frees (key: freestr). */
static void
mp_pem(STACK_OF(X509) *sk, EVP_PKEY *k, char **chain_pem, char **key_pem)
{
	BIO	*b;
	char	*p;
	long	 n;
	int	 i;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		fatalx("out of memory");
	for (i = 0; i < sk_X509_num(sk); i++)
		if (PEM_write_bio_X509(b, sk_X509_value(sk, i)) != 1)
			fatalx("PEM_write_bio_X509 failed");
	n = BIO_get_mem_data(b, &p);
	*chain_pem = xstrndup(p, n);
	BIO_free(b);
	if ((b = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1)
		fatalx("PEM_write_bio_PrivateKey failed");
	n = BIO_get_mem_data(b, &p);
	*key_pem = xstrndup(p, n);
	BIO_free(b);
}

static int
mp_field_ok(const char *s)
{
	return (s != NULL && *s != '\0' && strlen(s) < 1024 && strchr(s, '\n') == NULL);
}

/* The GET exchange on an open, verified connection. */
static int
mp_get(struct mp_conn *c, const char *user, const char *pass, int lifetime,
    char **chain_pem, char **key_pem, char **cause)
{
	STACK_OF(X509)	*sk = NULL;
	EVP_PKEY	*k = NULL;
	u_char		*der = NULL;
	char		*req;
	int		 derlen, r, rv = -1;

	/* "0": no GSI delegation from the client, as every MyProxy client sends. */
	if (mp_write(c, "0", 1, cause) != 0)
		return (-1);
	xasprintf(&req, "VERSION=MYPROXYv2\nCOMMAND=0\nUSERNAME=%s\nPASSPHRASE=%s\n"
	    "LIFETIME=%d\n", user, pass, lifetime);
	r = mp_write(c, req, strlen(req) + 1, cause);	/* with its NUL */
	freestr(req);
	if (r != 0 || mp_response(c, cause) != 0)
		return (-1);
	k = mp_csr(&der, &derlen);
	if (mp_write(c, der, derlen, cause) != 0)
		goto out;
	while ((r = mp_parse_chain(c, &sk, cause)) == 0)
		if (mp_read_more(c, MYPROXY_MAX_CHAIN, cause) != 0)
			break;
	if (r != 1)
		goto out;
	if (X509_check_private_key(sk_X509_value(sk, 0), k) != 1) {
		ERR_clear_error();
		*cause = xstrdup("the MyProxy server returned a certificate for another key");
		goto out;
	}
	if (mp_response(c, cause) != 0)
		goto out;
	mp_pem(sk, k, chain_pem, key_pem);
	rv = 0;
out:
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	sk_X509_pop_free(sk, X509_free);
	return (rv);
}

/*
 * Logs on to a MyProxy server as @user: 0 with *chain_pem (the delegated proxy first)
 * and *key_pem (its fresh key, unencrypted PEM; caller freestr()s), or -1 and *cause.
 * Blocks for up to opts->timeout seconds.
 */
int
myproxy_logon(const struct myproxy_opts *opts, const char *user, const char *pass,
    int lifetime, char **chain_pem, char **key_pem, char **cause)
{
	struct mp_conn	c = { .opts = opts, .fd = -1 };
	int		rv = -1;

	*chain_pem = *key_pem = *cause = NULL;
	if (opts->host == NULL || opts->port <= 0 || opts->port > 65535) {
		*cause = xstrdup("myproxy: no server host or a bad port");
		return (-1);
	}
	if (!mp_field_ok(user) || !mp_field_ok(pass)) {
		*cause = xstrdup("the user name and passphrase must be non-empty single lines");
		return (-1);
	}
	if (lifetime <= 0) {
		*cause = xstrdup("the proxy lifetime must be positive");
		return (-1);
	}
	c.name = opts->server_name != NULL ? opts->server_name : opts->host;
	if ((c.in = evbuffer_new()) == NULL)
		fatalx("out of memory");
	c.timeout = opts->timeout > 0 ? opts->timeout : MYPROXY_TIMEOUT;
	c.deadline = mp_now() + c.timeout;
	if (mp_connect(&c, cause) == 0 && mp_tls(&c, cause) == 0 &&
	    mp_get(&c, user, pass, lifetime, chain_pem, key_pem, cause) == 0)
		rv = 0;
	if (c.ssl != NULL) {
		SSL_shutdown(c.ssl);
		SSL_free(c.ssl);
	}
	SSL_CTX_free(c.ctx);
	evbuffer_free(c.in);
	if (c.fd != -1)
		close(c.fd);
	ERR_clear_error();
	return (rv);
}
