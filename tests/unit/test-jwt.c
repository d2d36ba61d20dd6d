/*
 * test-jwt.c: daemon/ident/jwt.c and the pure parts of daemon/ident/oidc.c: base64url,
 * RS256 and ES256 tokens signed here with fresh OpenSSL keys and checked
 * against their JWKS (tampering, wrong kid, alg none/HS256, weak keys),
 * every claim rule, discovery documents, and the user name mapping.
 */
#include "config.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

#define NOW	1800000000LL

static char *
b64(const void *p, size_t len)
{
	return (codec_b64url_encode(p, len));
}

static char *
b64s(const char *s)
{
	return (b64(s, strlen(s)));
}

/* A BIGNUM parameter of @k as base64url, left-padded to @pad bytes (0: none). */
static char *
bnparam(EVP_PKEY *k, const char *name, int pad)
{
	BIGNUM		*bn = NULL;
	unsigned char	 buf[1024];
	int		 n;
	char		*out;

	if (EVP_PKEY_get_bn_param(k, name, &bn) != 1)
		abort();
	n = pad > 0 ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	out = b64(buf, (size_t)n);
	BN_free(bn);
	return (out);
}

/* A token over @hdr and @claims (JSON texts) signed with @k (or not, NULL). */
static char *
sign(EVP_PKEY *k, const char *hdr, const char *claims)
{
	char		*h = b64s(hdr), *p = b64s(claims), *input, *sig, *out;
	unsigned char	 der[512], raw[64];
	const unsigned char *dp = der;
	size_t		 len = sizeof der;
	EVP_MD_CTX	*md = EVP_MD_CTX_new();
	ECDSA_SIG	*es;

	xasprintf(&input, "%s.%s", h, p);
	if (k == NULL)
		sig = xstrdup("");
	else {
		if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
		    EVP_DigestSign(md, der, &len, (unsigned char *)input,
		    strlen(input)) != 1)
			abort();
		if (EVP_PKEY_is_a(k, "EC")) {	/* DER -> r || s */
			es = d2i_ECDSA_SIG(NULL, &dp, (long)len);
			BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
			BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
			ECDSA_SIG_free(es);
			sig = b64(raw, 64);
		} else
			sig = b64(der, len);
	}
	xasprintf(&out, "%s.%s", input, sig);
	EVP_MD_CTX_free(md);
	free(h);
	free(p);
	free(input);
	free(sig);
	return (out);
}

static EVP_PKEY	*rsa, *ec, *rsa_small;
static char	*jwks;

static void
make_keys(void)
{
	char	*n, *e, *x, *y, *sn, *se;
	unsigned char	 pub[65];
	size_t		 len;

	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa_small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (rsa == NULL || ec == NULL || rsa_small == NULL ||
	    EVP_PKEY_get_octet_string_param(ec, OSSL_PKEY_PARAM_PUB_KEY, pub,
	    sizeof pub, &len) != 1 || len != 65)
		abort();
	n = bnparam(rsa, OSSL_PKEY_PARAM_RSA_N, 0);
	e = bnparam(rsa, OSSL_PKEY_PARAM_RSA_E, 0);
	sn = bnparam(rsa_small, OSSL_PKEY_PARAM_RSA_N, 0);
	se = bnparam(rsa_small, OSSL_PKEY_PARAM_RSA_E, 0);
	x = b64(pub + 1, 32);
	y = b64(pub + 33, 32);
	xasprintf(&jwks, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"use\":"
	    "\"sig\",\"n\":\"%s\",\"e\":\"%s\"},{\"kty\":\"EC\",\"kid\":\"e1\","
	    "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},{\"kty\":\"RSA\","
	    "\"kid\":\"weak\",\"n\":\"%s\",\"e\":\"%s\"},{\"kty\":\"oct\","
	    "\"kid\":\"s\",\"k\":\"c2VjcmV0\"},{\"kty\":\"RSA\",\"kid\":\"enc\","
	    "\"use\":\"enc\",\"n\":\"%s\",\"e\":\"%s\"}]}", n, e, x, y, sn, se, n,
	    e);
	free(n);
	free(e);
	free(sn);
	free(se);
	free(x);
	free(y);
}

static void
test_b64(void)
{
	unsigned char	*out;
	size_t		 len;
	char		*s;

	s = b64s("hello?>");
	is_str(s, "aGVsbG8_Pg", "base64url without padding, - and _");
	ok(codec_b64url_decode(s, strlen(s), &out, &len) == 0 && len == 7 &&
	    memcmp(out, "hello?>", 7) == 0, "round trip");
	free(out);
	free(s);
	ok(codec_b64url_decode("aGVsbG8=", 8, &out, &len) == -1, "padding refused");
	ok(codec_b64url_decode("aGV+bG8", 7, &out, &len) == -1, "'+' refused");
	ok(codec_b64url_decode("aGVsb", 5, &out, &len) == -1, "length 4n+1 refused");
	ok(codec_b64url_decode("aGVsbG9", 7, &out, &len) == -1,
	    "non-canonical trailing bits refused");
	ok(codec_b64url_decode("", 0, &out, &len) == 0 && len == 0, "empty is empty");
	free(out);
}

/*
 * Parses and verifies @tok against the test set: RESULT_OK, RESULT_INVALID
 * or RESULT_NOT_FOUND.
 */
static int
verify(const char *tok, const char *set, char **cause)
{
	struct jwt_keys	*ks = jwt_keys_parse(set, strlen(set), cause);
	struct jwt	*t;
	int		 rv;

	if (ks == NULL)
		return (99);
	free(*cause);
	*cause = NULL;
	if ((t = jwt_parse(tok, strlen(tok), cause)) == NULL)
		rv = 98;
	else
		rv = jwt_verify(t, ks, cause);
	jwt_free(t);
	jwt_keys_free(ks);
	return (rv);
}

static const char *claims_ok = "{\"iss\":\"https://idp.example\",\"aud\":"
    "\"nbgate\",\"sub\":\"alice\",\"nonce\":\"n-0\",\"iat\":1800000000,"
    "\"exp\":1800000600,\"preferred_username\":\"alice\"}";

static void
test_signatures(void)
{
	char		*tok, *cause = NULL, *bad;
	struct jwt_keys	*ks;

	ks = jwt_keys_parse(jwks, strlen(jwks), &cause);
	is_int(jwt_keys_count(ks), 2, "JWKS: the RSA and EC signing keys kept; "
	    "1024-bit RSA, oct and use=enc keys skipped");
	jwt_keys_free(ks);

	tok = sign(rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims_ok);
	is_int(verify(tok, jwks, &cause), RESULT_OK, "RS256 verifies with kid r1");
	bad = xstrdup(tok);
	bad[strchr(bad, '.') - bad + 5] ^= 1;	/* a payload byte */
	is_int(verify(bad, jwks, &cause), RESULT_INVALID, "RS256: a changed payload "
	    "does not verify");
	has_str(cause, "does not verify", "... and says so");
	free(cause);
	cause = NULL;
	free(bad);
	bad = xstrdup(tok);
	bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'A' ? 'B' : 'A';
	is_int(verify(bad, jwks, &cause), RESULT_INVALID, "RS256: a changed signature "
	    "does not verify");
	free(cause);
	cause = NULL;
	free(bad);
	free(tok);

	tok = sign(rsa, "{\"alg\":\"RS256\",\"kid\":\"r2\"}", claims_ok);
	is_int(verify(tok, jwks, &cause), RESULT_NOT_FOUND, "unknown kid: NOKEY (refetch)");
	free(cause);
	cause = NULL;
	free(tok);

	tok = sign(rsa, "{\"alg\":\"RS256\",\"kid\":\"weak\"}", claims_ok);
	is_int(verify(tok, jwks, &cause), RESULT_NOT_FOUND, "a 1024-bit key is not used");
	free(cause);
	cause = NULL;
	free(tok);

	tok = sign(rsa, "{\"alg\":\"RS256\"}", claims_ok);
	is_int(verify(tok, jwks, &cause), RESULT_OK, "no kid: the only RS256 key");
	free(cause);
	cause = NULL;
	free(tok);

	tok = sign(ec, "{\"alg\":\"ES256\",\"kid\":\"e1\"}", claims_ok);
	is_int(verify(tok, jwks, &cause), RESULT_OK, "ES256 verifies with kid e1");
	bad = xstrdup(tok);
	bad[strchr(bad, '.') - bad + 5] ^= 1;
	is_int(verify(bad, jwks, &cause), RESULT_INVALID, "ES256: a changed payload "
	    "does not verify");
	free(cause);
	cause = NULL;
	free(bad);
	free(tok);

	tok = sign(ec, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims_ok);
	is_int(verify(tok, jwks, &cause), RESULT_INVALID, "an EC signature labelled "
	    "RS256 does not verify");
	free(cause);
	cause = NULL;
	free(tok);

	tok = sign(NULL, "{\"alg\":\"none\"}", claims_ok);
	is_int(verify(tok, jwks, &cause), RESULT_INVALID, "alg none refused");
	has_str(cause, "not RS256 or ES256", "... naming the algorithm");
	free(cause);
	cause = NULL;
	free(tok);

	tok = sign(rsa, "{\"alg\":\"HS256\",\"kid\":\"s\"}", claims_ok);
	is_int(verify(tok, jwks, &cause), RESULT_INVALID, "HS256 refused (no shared keys)");
	free(cause);
	cause = NULL;
	free(tok);

	tok = sign(rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[\"x\"]}",
	    claims_ok);
	is_int(verify(tok, jwks, &cause), 98, "crit headers refused");
	free(cause);
	cause = NULL;
	free(tok);

	is_int(verify("a.b", jwks, &cause), 98, "two parts refused");
	free(cause);
	cause = NULL;
	is_int(verify("e30.e30.e30.e30", jwks, &cause), 98, "four parts refused");
	free(cause);
	cause = NULL;
	is_int(verify("x", "{\"keys\":[]}", &cause), 99, "an empty key set is "
	    "refused");
	has_str(cause, "no RS256 or ES256 signing key", "... with a reason");
	free(cause);
	cause = NULL;
	is_int(verify("x", "[1]", &cause), 99, "a key set without keys refused");
	free(cause);
	cause = NULL;
	is_int(verify("x", "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
	    "\"AQ\",\"y\":\"AQ\"}]}", &cause), 99, "a short EC point is skipped");
	free(cause);
}

/* jwt_check() of @claims signed with the RSA key; 0 or -1 with *cause. */
static int
check(const char *claims, const char *nonce, char **cause)
{
	struct jwt_expect	 x = { "https://idp.example", "nbgate", nonce,
				    (time_t)NOW, 120 };
	char			*tok = sign(rsa, "{\"alg\":\"RS256\"}", claims);
	struct jwt		*t = jwt_parse(tok, strlen(tok), cause);
	int			 rv = t != NULL ? jwt_check(t, &x, cause) : -2;

	jwt_free(t);
	free(tok);
	return (rv);
}

static void
claim_case(const char *claims, const char *nonce, int want, const char *why,
    const char *what)
{
	char	*cause = NULL;

	is_int(check(claims, nonce, &cause), want, "%s", what);
	if (why != NULL)
		has_str(cause, why, "... %s: the reason", what);
	free(cause);
}

static void
test_claims(void)
{
	claim_case(claims_ok, "n-0", 0, NULL, "good claims pass");
	claim_case(claims_ok, "n-1", -1, "nonce", "another nonce refused");
	claim_case("{\"iss\":\"https://idp.example\",\"aud\":\"nbgate\",\"sub\":"
	    "\"a\",\"iat\":1800000000,\"exp\":1800000600}", "n-0", -1, "nonce",
	    "a missing nonce refused");
	claim_case("{\"iss\":\"https://evil.example\",\"aud\":\"nbgate\",\"sub\":"
	    "\"a\",\"nonce\":\"n-0\",\"iat\":1800000000,\"exp\":1800000600}",
	    "n-0", -1, "(iss)", "another issuer refused");
	claim_case("{\"iss\":\"https://idp.example\",\"aud\":\"other\",\"sub\":"
	    "\"a\",\"nonce\":\"n-0\",\"iat\":1800000000,\"exp\":1800000600}",
	    "n-0", -1, "(aud)", "another audience refused");
	claim_case("{\"iss\":\"https://idp.example\",\"aud\":[\"other\","
	    "\"nbgate\"],\"sub\":\"a\",\"nonce\":\"n-0\",\"iat\":1800000000,"
	    "\"exp\":1800000600}", "n-0", -1, "(azp)",
	    "several audiences without azp refused");
	claim_case("{\"iss\":\"https://idp.example\",\"aud\":[\"other\","
	    "\"nbgate\"],\"azp\":\"nbgate\",\"sub\":\"a\",\"nonce\":\"n-0\","
	    "\"iat\":1800000000,\"exp\":1800000600}", "n-0", 0, NULL,
	    "several audiences with azp = client pass");
	claim_case("{\"iss\":\"https://idp.example\",\"aud\":\"nbgate\",\"azp\":"
	    "\"other\",\"sub\":\"a\",\"nonce\":\"n-0\",\"iat\":1800000000,"
	    "\"exp\":1800000600}", "n-0", -1, "(azp)", "azp of another party "
	    "refused");
	claim_case("{\"iss\":\"https://idp.example\",\"aud\":\"nbgate\",\"sub\":"
	    "\"a\",\"nonce\":\"n-0\",\"iat\":1799999000,\"exp\":1799999800}",
	    "n-0", -1, "expired", "expired refused");
	claim_case("{\"iss\":\"https://idp.example\",\"aud\":\"nbgate\",\"sub\":"
	    "\"a\",\"nonce\":\"n-0\",\"iat\":1799999500,\"exp\":1799999900}",
	    "n-0", 0, NULL, "expired 100 s ago: within the skew");
	claim_case("{\"iss\":\"https://idp.example\",\"aud\":\"nbgate\",\"sub\":"
	    "\"a\",\"nonce\":\"n-0\",\"iat\":1800000500,\"exp\":1800001000}",
	    "n-0", -1, "iat", "issued in the future refused");
	claim_case("{\"iss\":\"https://idp.example\",\"aud\":\"nbgate\",\"sub\":"
	    "\"a\",\"nonce\":\"n-0\",\"iat\":1790000000,\"exp\":1900000000}",
	    "n-0", -1, "iat", "issued long ago refused");
	claim_case("{\"iss\":\"https://idp.example\",\"aud\":\"nbgate\",\"sub\":"
	    "\"a\",\"nonce\":\"n-0\",\"iat\":1800000000,\"nbf\":1800001000,"
	    "\"exp\":1800002000}", "n-0", -1, "nbf", "not yet valid refused");
	claim_case("{\"iss\":\"https://idp.example\",\"aud\":\"nbgate\","
	    "\"nonce\":\"n-0\",\"iat\":1800000000,\"exp\":1800000600}", "n-0",
	    -1, "(sub)", "no subject refused");
	claim_case("{\"iss\":\"https://idp.example\",\"aud\":\"nbgate\",\"sub\":"
	    "\"a\",\"nonce\":\"n-0\",\"exp\":\"soon\",\"iat\":1800000000}", "n-0",
	    -1, "exp or iat", "a string exp refused");
}

static void
meta_case(const char *doc, int want, int post, const char *why,
    const char *what)
{
	struct oidc_meta	 m;
	char			*cause = NULL;
	int			 rv;

	rv = oidc_meta_parse(doc, strlen(doc), "https://idp.example", &m, &cause);
	is_int(rv, want, "discovery: %s", what);
	if (rv == 0) {
		is_int(m.auth_post, post, "discovery: %s: auth method", what);
		is_str(m.token_endpoint, "https://idp.example/token",
		    "discovery: %s: token endpoint", what);
	}
	if (why != NULL)
		has_str(cause, why, "discovery: %s: the reason", what);
	oidc_meta_clear(&m);
	free(cause);
}

#define DOC(extra, iss, tok) "{\"issuer\":\"" iss "\",\"authorization_endpoint\":" \
	"\"https://idp.example/auth\",\"token_endpoint\":\"" tok "\"," \
	"\"jwks_uri\":\"https://idp.example/jwks\"" extra "}"

static void
test_discovery(void)
{
	meta_case(DOC("", "https://idp.example", "https://idp.example/token"), 0,
	    0, NULL, "minimal document, basic auth by default");
	meta_case(DOC(",\"token_endpoint_auth_methods_supported\":["
	    "\"client_secret_post\"]", "https://idp.example",
	    "https://idp.example/token"), 0, 1, NULL, "only _post offered");
	meta_case(DOC(",\"token_endpoint_auth_methods_supported\":["
	    "\"client_secret_post\",\"client_secret_basic\"]",
	    "https://idp.example", "https://idp.example/token"), 0, 0, NULL,
	    "both offered: basic");
	meta_case(DOC(",\"token_endpoint_auth_methods_supported\":["
	    "\"private_key_jwt\"]", "https://idp.example",
	    "https://idp.example/token"), -1, 0, "neither", "no secret method");
	meta_case(DOC(",\"code_challenge_methods_supported\":[\"plain\"]",
	    "https://idp.example", "https://idp.example/token"), -1, 0, "S256",
	    "no S256 PKCE");
	meta_case(DOC("", "https://evil.example", "https://idp.example/token"),
	    -1, 0, "another issuer", "issuer mismatch");
	meta_case(DOC("", "https://idp.example", "http://idp.example/token"), -1,
	    0, "token_endpoint", "plain http endpoint");
	meta_case("[]", -1, 0, "not a JSON object", "not an object");
	meta_case(DOC(",\"userinfo_endpoint\":\"http://idp.example/me\"",
	    "https://idp.example", "https://idp.example/token"), -1, 0,
	    "userinfo_endpoint", "plain http userinfo endpoint");
	meta_case(DOC(",\"userinfo_endpoint\":\"https://idp.example/me\"",
	    "https://idp.example", "https://idp.example/token"), 0, 0, NULL,
	    "with a userinfo endpoint");
}

static void
map_case(const char *value, const char *suffix, const char *map,
    const char *want, const char *what)
{
	char	*cause = NULL, *user = oidc_map_user(value, suffix, map, &cause);

	if (want != NULL)
		is_str(user, want, "map: %s", what);
	else
		ok(user == NULL && cause != NULL, "map: %s: refused (%s)", what,
		    cause != NULL ? cause : "");
	free(user);
	free(cause);
}

static void
test_map(void)
{
	const char	*map = "# people\nalice@uni.example alice\n"
			    "bob@other.example\tbobby\n\nbad@x Bad!\n";

	map_case("alice", NULL, NULL, "alice", "no mapping: as is");
	map_case("Alice", NULL, NULL, NULL, "no mapping: not a Unix name");
	map_case("alice@example.org", "@example.org", NULL, "alice",
	    "suffix stripped");
	map_case("alice@evil.org", "@example.org", NULL, NULL,
	    "another domain refused");
	map_case("@example.org", "@example.org", NULL, NULL,
	    "nothing left after the suffix refused");
	map_case("alice@uni.example", "", map, "alice", "map file");
	map_case("bob@other.example", "", map, "bobby", "map file, tab");
	map_case("carol@uni.example", "", map, NULL, "not in the map refused");
	map_case("# people", "", map, NULL, "comments are not entries");
	map_case("bad@x", "", map, NULL, "a mapped name that is not a Unix name");
	map_case("carol@example.org", "@example.org", map, "carol",
	    "map then suffix");
}

static void
refusal_case(const struct config *cfg, const char *user, const char *sub,
    const char *want, const char *what)
{
	char	*c = oidc_user_refusal(cfg, user, sub);

	if (want == NULL)
		ok(c == NULL, "reserved: %s: accepted (%s)", what, c != NULL ? c : "");
	else
		has_str(c, want, "reserved: %s", what);
	free(c);
}

/* Reserved names: root, system accounts, community accounts, admins. */
static void
test_reserved(void)
{
	struct config			cfg;
	struct config_cluster		cl[2];
	struct config_oidc_admin	oa = { .name = "carol", .sub = "sub-carol" };
	char				*admins[] = { "carol", "frank" };
	struct passwd			*pw = getpwuid(geteuid());

	memset(&cfg, 0, sizeof cfg);
	memset(cl, 0, sizeof cl);
	cl[0].name = "hpc";
	cl[0].login_user = "nbcomm";
	cl[1].name = "uhpc";
	cfg.clusters = cl;
	cfg.nclusters = 2;
	cfg.admins = admins;
	cfg.nadmins = 2;
	cfg.oidc_admins = &oa;
	cfg.noidc_admins = 1;
	refusal_case(&cfg, "dave", "sub-dave", NULL, "a normal name");
	refusal_case(&cfg, "root", "sub-x", "superuser", "root");
	if (getpwnam("daemon") != NULL)
		refusal_case(&cfg, "daemon", "sub-x", "system account on the "
		    "gateway (uid", "daemon");
	if (getpwnam("nobody") != NULL)
		refusal_case(&cfg, "nobody", "sub-x", "system account", "nobody");
	if (pw != NULL && pw->pw_uid != 0)
		refusal_case(&cfg, pw->pw_name, "sub-x", "the gateway's own "
		    "account", "nbgated's own account");
	refusal_case(&cfg, "nbcomm", "sub-x", "the account cluster hpc runs "
	    "jobs as", "a cluster's login_user");
	refusal_case(&cfg, "carol", "sub-carol", NULL, "the admin with her sub");
	refusal_case(&cfg, "carol", "sub-mallory", "an administrator's name",
	    "the admin's name with another sub");
	refusal_case(&cfg, "carol", NULL, "an administrator's name",
	    "the admin's name without a sub");
	refusal_case(&cfg, "frank", "sub-carol", "an administrator's name",
	    "an admin not in auth.oidc.admins, even with another admin's sub");
}

int
main(void)
{
	log_init("test-jwt", LOG_WARN);
	make_keys();
	test_b64();
	test_signatures();
	test_claims();
	test_discovery();
	test_map();
	test_reserved();
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa_small);
	EVP_PKEY_free(ec);
	free(jwks);
	return (tap_done());
}
