/*
 * sshcert.c: mints short-lived OpenSSH user certificates (PROTOCOL.certkeys,
 * ssh-ed25519-cert-v01@openssh.com) for a freshly generated ed25519 user key, signed by
 * an ed25519 CA key read from an unencrypted openssh-key-v1 file. No critical options,
 * no extensions, random serial and nonce. Refused: encrypted or non-ed25519 CA keys,
 * malformed key files, empty or control-character principals and key ids, empty
 * validity windows. Private keys are wiped after use and never appear in messages.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "daemon/ident/ident.h"

#define SSHCERT_MAX_KEYFILE	(64 * 1024)
#define SSHCERT_ED25519		"ssh-ed25519"
#define SSHCERT_CERTTYPE	"ssh-ed25519-cert-v01@openssh.com"
#define SSHCERT_MAGIC		"openssh-key-v1"	/* followed by a NUL */
#define SSHCERT_BEGIN		"-----BEGIN OPENSSH PRIVATE KEY-----"
#define SSHCERT_END		"-----END OPENSSH PRIVATE KEY-----"
#define SSHCERT_USER_CERT	1

/* A growable byte buffer in SSH wire encoding. */
struct sshbuf {
	u_char	*d;
	size_t	 len;
	size_t	 cap;
};

/* A reader over SSH wire bytes. */
struct sshrd {
	const u_char	*p;
	size_t		 left;
};

static void
sb_put(struct sshbuf *b, const void *p, size_t n)
{
	u_char	*nd;

	if (b->len + n > b->cap) {
		/* Grow by hand so the old copy can be wiped: it may hold a key. */
		b->cap = (b->len + n) * 2 + 64;
		nd = xmalloc(b->cap);
		if (b->len != 0)
			memcpy(nd, b->d, b->len);
		freezero(b->d, b->len);
		b->d = nd;
	}
	memcpy(b->d + b->len, p, n);
	b->len += n;
}

static void
sb_u32(struct sshbuf *b, uint32_t v)
{
	u_char	x[4] = { v >> 24, v >> 16, v >> 8, v };

	sb_put(b, x, 4);
}

static void
sb_u64(struct sshbuf *b, uint64_t v)
{
	sb_u32(b, (uint32_t)(v >> 32));
	sb_u32(b, (uint32_t)v);
}

static void
sb_string(struct sshbuf *b, const void *p, size_t n)
{
	sb_u32(b, (uint32_t)n);
	sb_put(b, p, n);
}

static void
sb_cstring(struct sshbuf *b, const char *s)
{
	sb_string(b, s, strlen(s));
}

static void
sb_free(struct sshbuf *b)
{
	freezero(b->d, b->cap);
	memset(b, 0, sizeof *b);
}

static int
rd_u32(struct sshrd *r, uint32_t *v)
{
	if (r->left < 4)
		return (-1);
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return (0);
}

static int
rd_string(struct sshrd *r, const u_char **p, size_t *n)
{
	uint32_t	len;

	if (rd_u32(r, &len) != 0 || len > r->left)
		return (-1);
	*p = r->p;
	*n = len;
	r->p += len;
	r->left -= len;
	return (0);
}

/* Reads a string and compares it with @want. */
static int
rd_is(struct sshrd *r, const char *want)
{
	const u_char	*p;
	size_t		 n;

	if (rd_string(r, &p, &n) != 0)
		return (-1);
	return (n == strlen(want) && memcmp(p, want, n) == 0 ? 0 : -1);
}

/* The public key blob: string "ssh-ed25519", string pk. */
static void
sb_ed25519_pub(struct sshbuf *b, const u_char pk[32])
{
	sb_cstring(b, SSHCERT_ED25519);
	sb_string(b, pk, 32);
}

/* Decodes base64 ignoring whitespace; *out (caller freezeros *outlen bytes) or -1. */
static int
sshcert_unb64(const char *s, size_t slen, u_char **out, size_t *outlen)
{
	char	*clean = xmalloc(slen + 1);
	size_t	 n = 0, i;
	int	 rv;

	for (i = 0; i < slen; i++)
		if (s[i] != '\n' && s[i] != '\r' && s[i] != ' ' && s[i] != '\t')
			clean[n++] = s[i];
	rv = n == 0 ? -1 : codec_b64_decode(clean, n, out, outlen);
	freezero(clean, slen + 1);
	return (rv);
}

/*
 * Parses an unencrypted openssh-key-v1 ed25519 private key (the file body, armour
 * included) into its 32-byte seed and public key; -1 and *cause otherwise.
 */
int
sshcert_parse_privkey(const char *text, size_t len, u_char seed[32], u_char pk[32],
    char **cause)
{
	const char	*b, *e;
	u_char		*raw = NULL;
	size_t		 rawlen = 0, n, sn;
	const u_char	*p, *sk;
	struct sshrd	 r, priv;
	uint32_t	 nkeys, c1, c2;
	int		 rv = -1;

	if ((b = memmem(text, len, SSHCERT_BEGIN, strlen(SSHCERT_BEGIN))) == NULL ||
	    (e = memmem(b, len - (b - text), SSHCERT_END, strlen(SSHCERT_END))) == NULL) {
		*cause = xstrdup("not an OpenSSH private key (no BEGIN/END OPENSSH PRIVATE "
		    "KEY lines)");
		return (-1);
	}
	b += strlen(SSHCERT_BEGIN);
	if (sshcert_unb64(b, e - b, &raw, &rawlen) != 0 ||
	    rawlen < sizeof SSHCERT_MAGIC || memcmp(raw, SSHCERT_MAGIC, sizeof SSHCERT_MAGIC) != 0) {
		*cause = xstrdup("not an openssh-key-v1 private key (bad base64 or magic)");
		goto out;
	}
	r.p = raw + sizeof SSHCERT_MAGIC;
	r.left = rawlen - sizeof SSHCERT_MAGIC;
	if (rd_string(&r, &p, &n) != 0)
		goto bad;
	if (n != 4 || memcmp(p, "none", 4) != 0) {
		xasprintf(cause, "the key is encrypted (cipher %.*s); an unencrypted key is "
		    "needed", (int)(n > 32 ? 32 : n), p);
		goto out;
	}
	if (rd_is(&r, "none") != 0 || rd_string(&r, &p, &n) != 0 || rd_u32(&r, &nkeys) != 0)
		goto bad;
	if (nkeys != 1) {
		xasprintf(cause, "the file holds %u keys; one is needed", nkeys);
		goto out;
	}
	if (rd_string(&r, &p, &n) != 0 || rd_string(&r, &p, &n) != 0)
		goto bad;
	priv.p = p;
	priv.left = n;
	if (rd_u32(&priv, &c1) != 0 || rd_u32(&priv, &c2) != 0 || c1 != c2)
		goto bad;
	if (rd_is(&priv, SSHCERT_ED25519) != 0) {
		*cause = xstrdup("the key is not an ed25519 key");
		goto out;
	}
	if (rd_string(&priv, &p, &n) != 0 || n != 32 || rd_string(&priv, &sk, &sn) != 0 ||
	    sn != 64 || memcmp(sk + 32, p, 32) != 0)
		goto bad;
	memcpy(seed, sk, 32);
	memcpy(pk, p, 32);
	rv = 0;
	goto out;
bad:
	*cause = xstrdup("the openssh-key-v1 private key is malformed");
out:
	freezero(raw, rawlen);	/* the decoded bytes; what follows is padding */
	return (rv);
}

/* Writes an unencrypted openssh-key-v1 ed25519 key, armoured; caller freestr()s. */
static char *
sshcert_write_privkey(const u_char seed[32], const u_char pk[32], const char *comment)
{
	struct sshbuf	 outer = { 0 }, priv = { 0 }, pub = { 0 };
	u_char		 sk[64], pad;
	uint32_t	 check;
	char		*b64, *text, *t;
	size_t		 i, n;

	if (RAND_bytes((u_char *)&check, sizeof check) != 1)
		fatalx("RAND_bytes failed");
	sb_ed25519_pub(&pub, pk);
	sb_u32(&priv, check);
	sb_u32(&priv, check);
	sb_cstring(&priv, SSHCERT_ED25519);
	sb_string(&priv, pk, 32);
	memcpy(sk, seed, 32);
	memcpy(sk + 32, pk, 32);
	sb_string(&priv, sk, 64);
	explicit_bzero(sk, sizeof sk);
	sb_cstring(&priv, comment);
	for (pad = 1; priv.len % 8 != 0; pad++)
		sb_put(&priv, &pad, 1);
	sb_put(&outer, SSHCERT_MAGIC, sizeof SSHCERT_MAGIC);
	sb_cstring(&outer, "none");
	sb_cstring(&outer, "none");
	sb_string(&outer, "", 0);
	sb_u32(&outer, 1);
	sb_string(&outer, pub.d, pub.len);
	sb_string(&outer, priv.d, priv.len);
	b64 = codec_b64_encode(outer.d, outer.len);
	n = strlen(b64);
	t = text = xmalloc(n + n / 70 + 2 * sizeof SSHCERT_BEGIN + 8);
	t += strlen(memcpy(t, SSHCERT_BEGIN "\n", sizeof SSHCERT_BEGIN + 1));
	for (i = 0; i < n; i += 70) {
		memcpy(t, b64 + i, n - i < 70 ? n - i : 70);
		t += n - i < 70 ? n - i : 70;
		*t++ = '\n';
	}
	memcpy(t, SSHCERT_END "\n", sizeof SSHCERT_END + 1);
	freezero(b64, n + 1);
	sb_free(&outer);
	sb_free(&priv);
	sb_free(&pub);
	return (text);
}

/* Reads the CA key file (at most 64 KiB); caller freezeros. */
static char *
sshcert_read_file(const char *path, size_t *lenp, char **cause)
{
	char	*buf;
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (NULL);
	}
	buf = xmalloc(SSHCERT_MAX_KEYFILE + 1);
	while ((n = read(fd, buf + len, SSHCERT_MAX_KEYFILE - len)) > 0)
		len += n;
	close(fd);
	if (n == -1 || len == SSHCERT_MAX_KEYFILE) {
		xasprintf(cause, "%s: %s", path, n == -1 ? strerror(errno) : "file too large");
		freezero(buf, SSHCERT_MAX_KEYFILE + 1);
		return (NULL);
	}
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

static int
sshcert_text_ok(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 1024)
		return (0);
	for (; *s != '\0'; s++)
		if ((u_char)*s < 0x20 || *s == 0x7f)
			return (0);
	return (1);
}

/* A fresh ed25519 key pair via OpenSSL. */
static void
sshcert_keygen(u_char seed[32], u_char pk[32])
{
	EVP_PKEY	*k = NULL;
	EVP_PKEY_CTX	*ctx;
	size_t		 n1 = 32, n2 = 32;

	if ((ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL)) == NULL ||
	    EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &k) != 1 ||
	    EVP_PKEY_get_raw_private_key(k, seed, &n1) != 1 ||
	    EVP_PKEY_get_raw_public_key(k, pk, &n2) != 1 || n1 != 32 || n2 != 32)
		fatalx("ed25519 key generation failed");
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(ctx);
}

/* Signs @msg with the CA seed; the 64-byte signature into @sig. */
static int
sshcert_sign(const u_char seed[32], const u_char pk[32], const u_char *msg, size_t len,
    u_char sig[64], char **cause)
{
	EVP_PKEY	*k;
	EVP_MD_CTX	*md;
	u_char		 chk[32];
	size_t		 siglen = 64, n = 32;
	int		 rv = -1;

	if ((k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32)) == NULL)
		fatalx("EVP_PKEY_new_raw_private_key failed");
	if (EVP_PKEY_get_raw_public_key(k, chk, &n) != 1 || memcmp(chk, pk, 32) != 0) {
		*cause = xstrdup("the CA key's public half does not match its private half");
		EVP_PKEY_free(k);
		return (-1);
	}
	if ((md = EVP_MD_CTX_new()) == NULL)
		fatalx("out of memory");
	if (EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestSign(md, sig, &siglen, msg, len) == 1 && siglen == 64)
		rv = 0;
	else
		*cause = xstrdup("Ed25519 signing failed");
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return (rv);
}

/*
 * Mints a user certificate for a new ed25519 key: *privkey_b64 is the key in OpenSSH
 * format (caller freestr()s), *cert_line "ssh-ed25519-cert-v01@openssh.com BASE64
 * KEYID" (caller frees). 0, or -1 and *cause.
 */
int
sshcert_mint(const char *ca_key_file, const char *principal, const char *key_id,
    time_t valid_after, time_t valid_before, char **privkey_b64, char **cert_line,
    char **cause)
{
	struct sshbuf	 cert = { 0 }, princ = { 0 }, sig = { 0 };
	u_char		 ca_seed[32], ca_pk[32], seed[32], pk[32], nonce[32], s[64];
	uint64_t	 serial;
	char		*file = NULL, *why = NULL, *b64;
	size_t		 flen = 0;
	int		 rv = -1;

	*privkey_b64 = *cert_line = *cause = NULL;
	if (!sshcert_text_ok(principal) || strchr(principal, ',') != NULL) {
		*cause = xstrdup("principal: empty, too long or has control characters or commas");
		return (-1);
	}
	if (!sshcert_text_ok(key_id)) {
		*cause = xstrdup("key id: empty, too long or has control characters");
		return (-1);
	}
	if (valid_after < 0 || valid_before <= valid_after) {
		*cause = xstrdup("validity: valid_before must be after valid_after");
		return (-1);
	}
	if ((file = sshcert_read_file(ca_key_file, &flen, cause)) == NULL)
		return (-1);
	if (sshcert_parse_privkey(file, flen, ca_seed, ca_pk, &why) != 0) {
		xasprintf(cause, "CA key %s: %s", ca_key_file, why);
		goto out;
	}
	sshcert_keygen(seed, pk);
	if (RAND_bytes(nonce, sizeof nonce) != 1 ||
	    RAND_bytes((u_char *)&serial, sizeof serial) != 1)
		fatalx("RAND_bytes failed");

	sb_cstring(&cert, SSHCERT_CERTTYPE);
	sb_string(&cert, nonce, sizeof nonce);
	sb_string(&cert, pk, 32);
	sb_u64(&cert, serial);
	sb_u32(&cert, SSHCERT_USER_CERT);
	sb_cstring(&cert, key_id);
	sb_cstring(&princ, principal);
	sb_string(&cert, princ.d, princ.len);
	sb_u64(&cert, (uint64_t)valid_after);
	sb_u64(&cert, (uint64_t)valid_before);
	sb_string(&cert, "", 0);	/* critical options */
	sb_string(&cert, "", 0);	/* extensions */
	sb_string(&cert, "", 0);	/* reserved */
	sb_ed25519_pub(&sig, ca_pk);	/* the signature key, borrowing sig */
	sb_string(&cert, sig.d, sig.len);
	sb_free(&sig);
	if (sshcert_sign(ca_seed, ca_pk, cert.d, cert.len, s, &why) != 0) {
		xasprintf(cause, "CA key %s: %s", ca_key_file, why);
		goto out;
	}
	sb_cstring(&sig, SSHCERT_ED25519);
	sb_string(&sig, s, 64);
	sb_string(&cert, sig.d, sig.len);

	b64 = codec_b64_encode(cert.d, cert.len);
	xasprintf(cert_line, "%s %s %s", SSHCERT_CERTTYPE, b64, key_id);
	free(b64);
	*privkey_b64 = sshcert_write_privkey(seed, pk, key_id);
	rv = 0;
out:
	explicit_bzero(ca_seed, sizeof ca_seed);
	explicit_bzero(seed, sizeof seed);
	freezero(file, SSHCERT_MAX_KEYFILE + 1);
	free(why);
	sb_free(&cert);
	sb_free(&princ);
	sb_free(&sig);
	return (rv);
}
