/*
 * fuzz-jwt.c: libFuzzer target for what nbgated reads from an OpenID
 * provider: key sets (JWKS), ID tokens (compact JWS, signature and claims)
 * and discovery documents. The first byte picks the mode:
 *   0: a key set;  1: an ID token, checked against an empty set;
 *   2: a discovery document;  3..: "JWKS\nTOKEN", the token checked against
 *   that set and, if it verifies, its claims (issuer https://idp.example,
 *   client nbgate, nonce n-0, at 1800000000).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/daemon.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fz_token(const char *tok, size_t len, const struct jwt_keys *ks)
{
	struct jwt_expect	 x = { "https://idp.example", "nbgate", "n-0",
				    1800000000, 120 };
	struct jwt		*t;
	char			*cause = NULL;

	if ((t = jwt_parse(tok, len, &cause)) == NULL) {
		free(cause);
		return;
	}
	if (jwt_verify(t, ks, &cause) == RESULT_OK && jwt_check(t, &x, &cause) == 0)
		(void)json_string_value(json_object_get(jwt_claims(t), "sub"));
	free(cause);
	jwt_free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*s = (const char *)data + 1, *nl;
	size_t		 len = size - 1;
	struct jwt_keys	*ks;
	struct oidc_meta m;
	char		*cause = NULL, *user;

	if (size == 0)
		return (0);
	switch (data[0]) {
	case 0:
		jwt_keys_free(jwt_keys_parse(s, len, &cause));
		break;
	case 1:
		fz_token(s, len, NULL);
		break;
	case 2:
		if (oidc_meta_parse(s, len, "https://idp.example", &m, &cause) == 0)
			oidc_meta_clear(&m);
		break;
	default:
		if ((nl = memchr(s, '\n', len)) == NULL)
			break;
		if ((ks = jwt_keys_parse(s, nl - s, &cause)) != NULL)
			fz_token(nl + 1, len - (nl + 1 - s), ks);
		jwt_keys_free(ks);
		break;
	}
	free(cause);
	cause = NULL;
	/* The name mapping sees claim values from the same tokens. */
	if (size > 1 && memchr(s, '\0', len) == NULL && len < 256) {
		user = xstrndup(s, len);
		free(oidc_map_user(user, "@example.org", "a@b alice\n# c\nx y\n",
		    &cause));
		free(user);
		free(cause);
	}
	return (0);
}
