/*
 * jwt.c: the JOSE parts of OpenID Connect, with no I/O: compact JWS (ID
 * tokens) and JSON Web Key Sets, signature checks (RS256, ES256)
 * with OpenSSL, and the ID token claim checks.  Everything here is fed
 * bytes from the network, so it is fuzzed (tests/fuzz/fuzz-jwt.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "daemon/ident/ident.h"

#define JWT_MAX_LEN	16384	/* bytes of one compact token */
#define JWT_MAX_KEYS	64	/* keys kept from one set */
#define JWT_MIN_RSA	2048	/* bits */
#define JWT_IAT_MAX_AGE	600	/* s: an ID token issued longer ago is stale */

struct jwt {
	char		*alg;
	char		*kid;		/* NULL if the header has none */
	json_t		*claims;
	char		*input;		/* header.payload, what was signed */
	unsigned char	*sig;
	size_t		 siglen;
};

struct jwt_key {
	char		*kid;		/* NULL if none */
	char		*alg;		/* "RS256" or "ES256" */
	EVP_PKEY	*pkey;
};
struct jwt_keys {
	struct jwt_key	*keys;
	size_t		 n;
};

/* A JSON object from base64url @s; NULL if either layer is bad. */
static json_t *
jwt_b64_json(const char *s, size_t len)
{
	unsigned char	*raw;
	size_t		 rawlen;
	json_t		*j;

	if (codec_b64url_decode(s, len, &raw, &rawlen) == -1)
		return (NULL);
	j = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		return (NULL);
	}
	return (j);
}

/* Frees a parsed token; NULL is a no-op. */
void
jwt_free(struct jwt *t)
{
	if (t == NULL)
		return;
	free(t->alg);
	free(t->kid);
	json_decref(t->claims);
	free(t->input);
	free(t->sig);
	free(t);
}

/* Splits and decodes a compact JWS; its signature is not checked yet. */
struct jwt *
jwt_parse(const char *s, size_t len, char **cause)
{
	const char	*d1, *d2, *alg, *kid;
	struct jwt	*t = xcalloc(1, sizeof *t);
	json_t		*hdr = NULL;

	if (len == 0 || len > JWT_MAX_LEN || memchr(s, '\0', len) != NULL) {
		xasprintf(cause, "the ID token is empty, too long or not text");
		goto fail;
	}
	if ((d1 = memchr(s, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (d1 + 1 - s))) == NULL ||
	    memchr(d2 + 1, '.', len - (d2 + 1 - s)) != NULL) {
		xasprintf(cause, "the ID token is not header.payload.signature");
		goto fail;
	}
	if ((hdr = jwt_b64_json(s, d1 - s)) == NULL ||
	    (t->claims = jwt_b64_json(d1 + 1, d2 - d1 - 1)) == NULL) {
		xasprintf(cause, "the ID token's %s is not base64url JSON",
		    hdr == NULL ? "header" : "payload");
		goto fail;
	}
	if ((alg = json_string_value(json_object_get(hdr, "alg"))) == NULL) {
		xasprintf(cause, "the ID token's header has no alg");
		goto fail;
	}
	if (json_object_get(hdr, "crit") != NULL) {
		xasprintf(cause, "the ID token has critical header extensions");
		goto fail;
	}
	kid = json_string_value(json_object_get(hdr, "kid"));
	if (codec_b64url_decode(d2 + 1, len - (d2 + 1 - s), &t->sig,
	    &t->siglen) == -1) {
		xasprintf(cause, "the ID token's signature is not base64url");
		goto fail;
	}
	t->alg = xstrdup(alg);
	t->kid = kid != NULL ? xstrdup(kid) : NULL;
	t->input = xstrndup(s, d2 - s);
	json_decref(hdr);
	return (t);
fail:
	json_decref(hdr);
	jwt_free(t);
	return (NULL);
}

/* Borrowed views of a parsed token. */
const char *
jwt_alg(const struct jwt *t)
{
	return (t->alg);
}

const char *
jwt_kid(const struct jwt *t)
{
	return (t->kid);
}

json_t *
jwt_claims(const struct jwt *t)
{
	return (t->claims);
}

/* A BIGNUM from a base64url member of @jwk; NULL if absent or bad. */
static BIGNUM *
jwt_bn(json_t *jwk, const char *name, size_t *nbytes)
{
	const char	*s = json_string_value(json_object_get(jwk, name));
	unsigned char	*raw;
	size_t		 len;
	BIGNUM		*bn;

	if (s == NULL || codec_b64url_decode(s, strlen(s), &raw, &len) == -1)
		return (NULL);
	bn = len > 0 && len <= 2048 ? BN_bin2bn(raw, (int)len, NULL) : NULL;
	free(raw);
	if (nbytes != NULL)
		*nbytes = len;
	return (bn);
}

/* An RSA public key from n and e. */
static EVP_PKEY *
jwt_rsa_key(json_t *jwk)
{
	BIGNUM		*n = jwt_bn(jwk, "n", NULL), *e = jwt_bn(jwk, "e", NULL);
	OSSL_PARAM_BLD	*bld = NULL;
	OSSL_PARAM	*params = NULL;
	EVP_PKEY_CTX	*ctx = NULL;
	EVP_PKEY	*pkey = NULL;

	if (n == NULL || e == NULL || BN_num_bits(n) < JWT_MIN_RSA ||
	    BN_num_bits(n) > 16384 || BN_is_one(e) || !BN_is_odd(e))
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return (pkey);
}

/* A P-256 public key from x and y (32 bytes each), checked on the curve. */
static EVP_PKEY *
jwt_ec_key(json_t *jwk)
{
	const char	*crv = json_string_value(json_object_get(jwk, "crv"));
	const char	*xs = json_string_value(json_object_get(jwk, "x"));
	const char	*ys = json_string_value(json_object_get(jwk, "y"));
	unsigned char	*x = NULL, *y = NULL, pt[65];
	size_t		 xl, yl;
	OSSL_PARAM	 params[3];
	EVP_PKEY_CTX	*ctx = NULL, *chk = NULL;
	EVP_PKEY	*pkey = NULL;

	if (crv == NULL || strcmp(crv, "P-256") != 0 || xs == NULL || ys == NULL ||
	    codec_b64url_decode(xs, strlen(xs), &x, &xl) == -1 ||
	    codec_b64url_decode(ys, strlen(ys), &y, &yl) == -1 || xl != 32 ||
	    yl != 32)
		goto out;
	pt[0] = 0x04;
	memcpy(pt + 1, x, 32);
	memcpy(pt + 33, y, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    (char *)"prime256v1", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    pt, sizeof pt);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		pkey = NULL;
		goto out;
	}
	if ((chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_public_check(chk) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	free(x);
	free(y);
	return (pkey);
}

/* Frees a key set; NULL is a no-op. */
void
jwt_keys_free(struct jwt_keys *ks)
{
	size_t	i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++) {
		free(ks->keys[i].kid);
		free(ks->keys[i].alg);
		EVP_PKEY_free(ks->keys[i].pkey);
	}
	free(ks->keys);
	free(ks);
}

/* Adds one JWK to @ks if it is a signing key we can use; else skips it. */
static void
jwt_keys_add(struct jwt_keys *ks, json_t *jwk)
{
	const char	*kty = json_string_value(json_object_get(jwk, "kty"));
	const char	*use = json_string_value(json_object_get(jwk, "use"));
	const char	*alg = json_string_value(json_object_get(jwk, "alg"));
	const char	*kid = json_string_value(json_object_get(jwk, "kid"));
	const char	*want;
	EVP_PKEY	*pkey;
	struct jwt_key	*k;

	if (!json_is_object(jwk) || kty == NULL || (use != NULL &&
	    strcmp(use, "sig") != 0) || ks->n == JWT_MAX_KEYS)
		return;
	if (strcmp(kty, "RSA") == 0)
		want = "RS256";
	else if (strcmp(kty, "EC") == 0)
		want = "ES256";
	else
		return;
	if (alg != NULL && strcmp(alg, want) != 0)
		return;		/* e.g. PS256 or RSA-OAEP keys */
	pkey = *want == 'R' ? jwt_rsa_key(jwk) : jwt_ec_key(jwk);
	if (pkey == NULL)
		return;
	ks->keys = xreallocarray(ks->keys, ks->n + 1, sizeof *ks->keys);
	k = &ks->keys[ks->n++];
	k->kid = kid != NULL ? xstrdup(kid) : NULL;
	k->alg = xstrdup(want);
	k->pkey = pkey;
}

/* Parses a JWKS document ({"keys": [...]}); keys we cannot use are skipped. */
struct jwt_keys *
jwt_keys_parse(const char *buf, size_t len, char **cause)
{
	struct jwt_keys	*ks;
	json_t		*j, *keys, *jwk;
	json_error_t	 err;
	size_t		 i;

	if ((j = json_loadb(buf, len, 0, &err)) == NULL) {
		xasprintf(cause, "the key set is not JSON (line %d: %s)", err.line,
		    err.text);
		return (NULL);
	}
	if (!json_is_array(keys = json_object_get(j, "keys"))) {
		xasprintf(cause, "the key set has no \"keys\" list");
		json_decref(j);
		return (NULL);
	}
	ks = xcalloc(1, sizeof *ks);
	json_array_foreach(keys, i, jwk)
		jwt_keys_add(ks, jwk);
	json_decref(j);
	if (ks->n == 0) {
		xasprintf(cause, "the key set has no RS256 or ES256 signing key");
		jwt_keys_free(ks);
		return (NULL);
	}
	return (ks);
}

/* How many usable keys a set holds. */
size_t
jwt_keys_count(const struct jwt_keys *ks)
{
	return (ks != NULL ? ks->n : 0);
}

/* The key to check @t with: by kid, or the only one of its alg if no kid. */
static const struct jwt_key *
jwt_keys_pick(const struct jwt_keys *ks, const struct jwt *t)
{
	const struct jwt_key	*found = NULL;
	size_t			 i, n = 0;

	for (i = 0; ks != NULL && i < ks->n; i++) {
		if (strcmp(ks->keys[i].alg, t->alg) != 0)
			continue;
		if (t->kid != NULL && ks->keys[i].kid != NULL &&
		    strcmp(t->kid, ks->keys[i].kid) == 0)
			return (&ks->keys[i]);
		if (t->kid == NULL) {
			found = &ks->keys[i];
			n++;
		}
	}
	return (n == 1 ? found : NULL);
}

/* An ES256 signature (r || s) as the DER OpenSSL verifies; NULL if bad. */
static unsigned char *
jwt_ecdsa_der(const unsigned char *sig, size_t len, size_t *derlen)
{
	ECDSA_SIG	*es;
	BIGNUM		*r, *s;
	unsigned char	*der = NULL;
	int		 n;

	if (len != 64 || (es = ECDSA_SIG_new()) == NULL)
		return (NULL);
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return (NULL);
	}
	n = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return (NULL);
	*derlen = (size_t)n;
	return (der);
}

/*
 * Checks @t's signature with the matching key of @ks: RESULT_OK,
 * RESULT_NOT_FOUND (no key with its kid: the caller may refetch the set
 * once) or RESULT_INVALID.
 */
enum result_kind
jwt_verify(const struct jwt *t, const struct jwt_keys *ks, char **cause)
{
	const struct jwt_key	*k;
	EVP_MD_CTX		*md = NULL;
	unsigned char		*der = NULL;
	const unsigned char	*sig = t->sig;
	size_t			 siglen = t->siglen;
	enum result_kind rv = RESULT_INVALID;

	if (strcmp(t->alg, "RS256") != 0 && strcmp(t->alg, "ES256") != 0) {
		xasprintf(cause, "the ID token is signed with %.32s, not RS256 or "
		    "ES256", t->alg);
		return (RESULT_INVALID);
	}
	if ((k = jwt_keys_pick(ks, t)) == NULL) {
		xasprintf(cause, "no %s key with the ID token's key id in the "
		    "provider's key set", t->alg);
		return (RESULT_NOT_FOUND);
	}
	if (*t->alg == 'E') {
		if ((der = jwt_ecdsa_der(t->sig, t->siglen, &siglen)) == NULL) {
			xasprintf(cause, "the ID token's ES256 signature is "
			    "malformed");
			return (RESULT_INVALID);
		}
		sig = der;
	}
	if ((md = EVP_MD_CTX_new()) == NULL)
		fatalx("EVP_MD_CTX_new failed");
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)t->input,
	    strlen(t->input)) == 1)
		rv = RESULT_OK;
	else
		xasprintf(cause, "the ID token's signature does not verify");
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	return (rv);
}

/* A NumericDate claim; -1 if absent or not a number. */
static int
jwt_time(json_t *claims, const char *name, long long *v)
{
	json_t	*j = json_object_get(claims, name);
	double	 d;

	if (json_is_integer(j))
		*v = json_integer_value(j);
	else if (json_is_real(j) && (d = json_real_value(j)) > 0 && d < 1e15)
		*v = (long long)d;
	else
		return (-1);
	return (0);
}

/* aud holds the client id; with several audiences azp must be ours. */
static int
jwt_check_aud(json_t *claims, const char *client_id, char **cause)
{
	json_t		*aud = json_object_get(claims, "aud"), *v;
	const char	*azp = json_string_value(json_object_get(claims, "azp"));
	size_t		 i;
	int		 found = 0;

	if (json_is_string(aud))
		found = strcmp(json_string_value(aud), client_id) == 0;
	else if (json_is_array(aud)) {
		json_array_foreach(aud, i, v) {
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), client_id) == 0)
				found = 1;
		}
	}
	if (!found) {
		xasprintf(cause, "the ID token is not for this gateway (aud)");
		return (-1);
	}
	if ((json_is_array(aud) && json_array_size(aud) > 1 && azp == NULL) ||
	    (json_object_get(claims, "azp") != NULL && (azp == NULL ||
	    strcmp(azp, client_id) != 0))) {
		xasprintf(cause, "the ID token was issued to another party (azp)");
		return (-1);
	}
	return (0);
}

/* Checks iss, aud/azp, exp, iat, nbf and nonce of a verified token. */
int
jwt_check(const struct jwt *t, const struct jwt_expect *x, char **cause)
{
	json_t		*c = t->claims;
	const char	*iss = json_string_value(json_object_get(c, "iss"));
	const char	*nonce = json_string_value(json_object_get(c, "nonce"));
	long long	 exp, iat, nbf, now = (long long)x->now;

	if (iss == NULL || strcmp(iss, x->issuer) != 0) {
		xasprintf(cause, "the ID token comes from another issuer (iss)");
		return (-1);
	}
	if (jwt_check_aud(c, x->client_id, cause) == -1)
		return (-1);
	if (json_string_value(json_object_get(c, "sub")) == NULL) {
		xasprintf(cause, "the ID token has no subject (sub)");
		return (-1);
	}
	if (jwt_time(c, "exp", &exp) == -1 || jwt_time(c, "iat", &iat) == -1) {
		xasprintf(cause, "the ID token lacks exp or iat");
		return (-1);
	}
	if (exp + x->skew < now) {
		xasprintf(cause, "the ID token has expired (exp)");
		return (-1);
	}
	if (iat > now + x->skew || iat + JWT_IAT_MAX_AGE + x->skew < now ||
	    (jwt_time(c, "nbf", &nbf) == 0 && nbf > now + x->skew)) {
		xasprintf(cause, "the ID token's issue time is off (iat/nbf): "
		    "check the clocks");
		return (-1);
	}
	if (x->nonce != NULL && (nonce == NULL || !util_streq_ct(nonce,
	    x->nonce))) {
		xasprintf(cause, "the ID token's nonce is not the one this "
		    "login sent");
		return (-1);
	}
	return (0);
}
