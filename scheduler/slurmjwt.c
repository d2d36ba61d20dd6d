/*
 * slurmjwt.c: HS256 JSON Web Tokens as SLURM's auth/jwt plugin takes them, the
 * kind `scontrol token` makes: {"alg":"HS256","typ":"JWT"} and
 * {"exp":..., "iat":..., "sun":USER}, signed with the cluster's jwt_key.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/common.h"
#include "scheduler/backend.h"

static char *
slurmjwt_b64json(json_t *j)
{
	char	*s, *b;

	if (j == NULL || (s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		fatalx("slurmjwt: cannot encode JSON");
	json_decref(j);
	b = codec_b64url_encode(s, strlen(s));
	free(s);
	return (b);
}

/*
 * A token for @user, issued at @now and valid for @lifetime seconds, signed
 * with @key (the jwt_key file's bytes). NULL and *cause for a bad argument.
 * The caller frees it (it is a credential: freezero()).
 */
char *
slurmjwt_token(const unsigned char *key, size_t keylen, const char *user, time_t now,
    int lifetime, char **cause)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;
	char		*head, *body, *signing, *sig, *token;

	if (keylen == 0 || keylen > INT_MAX || !sched_name_valid(user) || lifetime <= 0) {
		xasprintf(cause, "slurm token: empty key, bad user name or lifetime");
		return (NULL);
	}
	head = slurmjwt_b64json(json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT"));
	body = slurmjwt_b64json(json_pack("{s:I, s:I, s:s}", "exp", (json_int_t)now + lifetime,
	    "iat", (json_int_t)now, "sun", user));
	xasprintf(&signing, "%s.%s", head, body);
	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)signing,
	    strlen(signing), mac, &maclen) == NULL)
		fatalx("slurmjwt: HMAC failed");
	sig = codec_b64url_encode(mac, maclen);
	xasprintf(&token, "%s.%s", signing, sig);
	free(head);
	free(body);
	free(signing);
	free(sig);
	return (token);
}
