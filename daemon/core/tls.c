/*
 * tls.c: the HTTPS front end's OpenSSL context (TLS 1.2+), loaded from PEM
 * files, and a self-signed certificate for the demo when none is given.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "daemon/core/core.h"

static char *
tls_error(void)
{
	char		 buf[256];
	unsigned long	 e = ERR_get_error();

	ERR_clear_error();
	if (e == 0)
		return (xstrdup("unknown OpenSSL error"));
	ERR_error_string_n(e, buf, sizeof buf);
	return (xstrdup(buf));
}

/* Makes a server context from a certificate chain and key; NULL with *cause. */
void *
tls_ctx_new(const char *cert, const char *key, char **cause)
{
	SSL_CTX	*ctx;
	char	*e;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/*
	 * No session resumption: a server-side cache would cost memory per
	 * connection (thousands of idle WebSockets), and no tickets are sent
	 * (a browser reconnecting pays one full handshake).
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		e = tls_error();
		xasprintf(cause, "%s: cannot load certificate: %s", cert, e);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		e = tls_error();
		xasprintf(cause, "%s: cannot load private key: %s", key, e);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		e = tls_error();
		xasprintf(cause, "%s does not match %s: %s", key, cert, e);
		goto fail;
	}
	return (ctx);
fail:
	free(e);
	SSL_CTX_free(ctx);
	return (NULL);
}

/* 1 if the context's certificate issued itself (self-signed: no HSTS on auto). */
int
tls_ctx_self_issued(void *ctx)
{
	X509	*x = SSL_CTX_get0_certificate(ctx);

	return (x == NULL || X509_check_issued(x, x) == X509_V_OK);
}

/* Drops a reference to a context (connections keep theirs). */
void
tls_ctx_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

static int
tls_write_pem(const char *path, int key, void *obj, char **cause)
{
	FILE	*f;
	int	 fd, ok;

	unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    key ? 0600 : 0644)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	ok = key ? PEM_write_PrivateKey(f, obj, NULL, NULL, 0, NULL, NULL) :
	    PEM_write_X509(f, obj);
	if (fclose(f) != 0 || !ok) {
		xasprintf(cause, "%s: cannot write", path);
		return (-1);
	}
	return (0);
}

/* Writes a self-signed P-256 certificate for localhost and this host's name. */
int
tls_self_signed(const char *cert, const char *key, char **cause)
{
	EVP_PKEY	*pk = NULL;
	X509		*x = NULL;
	X509_NAME	*name;
	X509_EXTENSION	*ext;
	X509V3_CTX	 v3;
	char		 host[256] = "localhost", *san = NULL;
	int		 rv = -1;

	gethostname(host, sizeof host - 1);
	if ((pk = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL)
		fatalx("cannot make a key");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
	X509_set_pubkey(x, pk);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"nbgate self-signed", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)host, -1, -1, 0);
	X509_set_issuer_name(x, name);
	xasprintf(&san, "DNS:localhost,DNS:%s,IP:127.0.0.1,IP:::1", host);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san)) != NULL) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(x, pk, EVP_sha256()) == 0) {
		xasprintf(cause, "cannot sign the self-signed certificate");
		goto out;
	}
	if (tls_write_pem(key, 1, pk, cause) == -1 ||
	    tls_write_pem(cert, 0, x, cause) == -1)
		goto out;
	log_info("tls: made a self-signed certificate %s for %s", cert, host);
	rv = 0;
out:
	free(san);
	X509_free(x);
	EVP_PKEY_free(pk);
	return (rv);
}
