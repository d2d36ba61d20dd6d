/*
 * tls.c: the HTTPS front end's OpenSSL context (TLS 1.2+), loaded from PEM
 * files, its session resumption (ticket keys that live in memory, across
 * config reloads), and a self-signed certificate when none is given.
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

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "daemon/core/core.h"

/*
 * Session resumption.  A new key for tickets every TLS_TICKET_ROTATE
 * seconds; the one before still opens tickets (and has them renewed) for
 * as long again, so a ticket is good for at most twice that and a stolen
 * key opens at most that window's sessions (forward secrecy).  The keys
 * never leave memory: a restart makes every client do one full handshake.
 * They belong to the process, not to a context, so a config reload (a new
 * context) keeps them.  Clients without tickets resume from each context's
 * session cache, bounded by TLS_CACHE_SIZE sessions (~1 KiB each).
 */
#define TLS_TICKET_ROTATE	(30 * 60)
#define TLS_SESSION_LIFETIME	(2 * TLS_TICKET_ROTATE)
#define TLS_CACHE_SIZE		4096
#define TLS_GROUPS		"X25519:P-256:X448:P-384:P-521"
/*
 * TLS 1.3 suites, AES-128-GCM first: what browsers ask for first, and its
 * SHA-256 key schedule (SHA-NI; SHA-384 has no such instructions) makes a
 * handshake ~7 % cheaper than OpenSSL's default order, AES-256-GCM first.
 */
#define TLS_SUITES		"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
				"TLS_CHACHA20_POLY1305_SHA256"

struct tls_tkey {
	unsigned char	name[16];
	unsigned char	aes[32];
	unsigned char	hmac[32];
	time_t		born;		/* 0: no key */
};
static struct tls_tkey	tls_tkeys[2];	/* [0] seals, [0] and [1] open */

/* Makes a new sealing key when the current one is due; forgets one too old. */
static void
tls_ticket_rotate(void)
{
	struct tls_tkey	*k = &tls_tkeys[0];
	time_t		 now = time(NULL);

	if (tls_tkeys[1].born != 0 && now - tls_tkeys[1].born >= 2 * TLS_TICKET_ROTATE)
		OPENSSL_cleanse(&tls_tkeys[1], sizeof tls_tkeys[1]);
	if (k->born != 0 && now - k->born < TLS_TICKET_ROTATE)
		return;
	tls_tkeys[1] = *k;
	if (RAND_bytes(k->name, sizeof k->name) != 1 ||
	    RAND_bytes(k->aes, sizeof k->aes) != 1 ||
	    RAND_bytes(k->hmac, sizeof k->hmac) != 1)
		fatalx("RAND_bytes failed");
	k->born = now;
}

static int
tls_ticket_keys(const struct tls_tkey *k, unsigned char *iv, EVP_CIPHER_CTX *cctx,
    EVP_MAC_CTX *hctx, int enc)
{
	OSSL_PARAM	params[3];

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    (void *)k->hmac, sizeof k->hmac);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return (-1);
	if (enc)
		return (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) == 1 ? 0 : -1);
	return (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) == 1 ? 0 : -1);
}

/*
 * OpenSSL's ticket key callback: seal with the current key; open with
 * either, 0: a key we do not have (a full handshake), -1: error.  An
 * opened ticket always answers 2 (renew): in TLS 1.3 OpenSSL sends a new
 * ticket after a resumed handshake only then, and browsers use a ticket
 * once, so with 1 every other new connection was a full handshake (wrk:
 * 3,798 resumed of 7,604; with 2: 10,086 of 10,097, +33 % connections/s).
 */
static int
tls_ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	int	i;

	tls_ticket_rotate();
	if (enc) {
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1)
			return (-1);
		memcpy(name, tls_tkeys[0].name, sizeof tls_tkeys[0].name);
		return (tls_ticket_keys(&tls_tkeys[0], iv, cctx, hctx, 1) == 0 ? 1 : -1);
	}
	for (i = 0; i < 2; i++) {
		if (tls_tkeys[i].born == 0 ||
		    CRYPTO_memcmp(name, tls_tkeys[i].name, sizeof tls_tkeys[i].name) != 0)
			continue;
		if (tls_ticket_keys(&tls_tkeys[i], iv, cctx, hctx, 0) == -1)
			return (-1);
		return (2);
	}
	return (0);
}

/* Session resumption for @ctx: tickets (keys above) and a bounded cache. */
static void
tls_ctx_resumption(SSL_CTX *ctx)
{
	static const unsigned char	sid_ctx[] = "nbgated";

	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ctx, TLS_CACHE_SIZE);
	SSL_CTX_set_timeout(ctx, TLS_SESSION_LIFETIME);
	SSL_CTX_set_num_tickets(ctx, 1);
	if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb) != 1)
		fatalx("cannot set the TLS ticket key callback");
}

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
	/* X25519 first: the cheapest key exchange, and what browsers send a share for. */
	if (SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1)
		fatalx("cannot set the TLS groups");
	if (SSL_CTX_set_ciphersuites(ctx, TLS_SUITES) != 1)
		fatalx("cannot set the TLS 1.3 cipher suites");
	tls_ctx_resumption(ctx);
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

/*
 * ALPN: "h2" first when HTTP/2 is on (proxy.http2), else "http/1.1"; a
 * client that offers neither, or no ALPN at all, gets HTTP/1.1 unnamed.
 */
static int
tls_alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char	 both[] = "\x02h2\x08http/1.1";
	const unsigned char		*ours = arg != NULL ? both : both + 3;
	unsigned char			*pick;

	if (SSL_select_next_proto(&pick, outlen, ours,
	    (unsigned int)(sizeof both - 1 - (ours - both)), in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return (SSL_TLSEXT_ERR_NOACK);
	*out = pick;
	return (SSL_TLSEXT_ERR_OK);
}

/* Sets which protocols @ctx offers by ALPN: h2 (if @h2) and HTTP/1.1. */
void
tls_ctx_alpn(void *ctx, int h2)
{
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, h2 ? (void *)1 : NULL);
}
