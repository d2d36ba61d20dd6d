/*
 * ident.h: who someone is: login cookies and API tokens, PAM, ID tokens
 * (JWT) and OpenID Connect's protocol, X.509 credentials and MyProxy, the
 * verified identities jobs are charged to, and the SSH certificates minted
 * from them. Uses core/.
 */
#ifndef NB_IDENT_H
#define NB_IDENT_H

#include <openssl/types.h>

#include "daemon/core/core.h"

/* auth.c: who is asking — login cookies, API tokens, one-time login codes */
#define AUTH_COOKIE	"__Host-nbgate-session"	/* __Host-: Secure, Path=/, no Domain */
#define AUTH_COOKIE_PREFIX	"__Host-nbgate-"	/* every login cookie of ours */
int		 auth_init(const char *, char **);
char		*auth_cookie_make(const char *, int);
char		*auth_cookie_check(const char *);
char		*auth_host_cookie_make(const char *, int);
char		*auth_host_cookie_check(const char *);
char		*auth_host_code_issue(const char *);
char		*auth_host_code_redeem(const char *);
#define AUTH_HOST_COOKIE	"__Host-nbgate-user"	/* a user host's own login */
void		 auth_cookie_revoke(const char *);	/* logout */
void		 auth_revoked_load(void);
/*
 * Token scopes, as JupyterHub names them (auth.c's table says which
 * implies which). A user's own token without scopes has AUTH_SCOPES_ALL:
 * whatever its user may do.
 */
#define AUTH_SCOPE_SERVERS	0x1	/* start servers (implies read, delete) */
#define AUTH_SCOPE_READ_SERVERS	0x2	/* server models and progress */
#define AUTH_SCOPE_READ_USERS	0x4	/* user models */
#define AUTH_SCOPE_LIST_USERS	0x8	/* GET /hub/api/users */
#define AUTH_SCOPE_READ_USERS_ACTIVITY 0x10	/* users' last_activity */
#define AUTH_SCOPE_DELETE_SERVERS 0x20	/* stop servers */
#define AUTH_SCOPE_ADMIN_USERS	0x40	/* implies users: read, list, activity */
#define AUTH_SCOPE_USERS_ACTIVITY 0x80	/* POST .../activity */
#define AUTH_SCOPE_ACCESS_SERVERS 0x100	/* the notebooks themselves */
#define AUTH_SCOPE_READ_HUB	0x200	/* GET /hub/api/info */
#define AUTH_SCOPE_TOKENS	0x400	/* issue and revoke a user's tokens */
#define AUTH_SCOPE_READ_TOKENS	0x800	/* list them */
#define AUTH_SCOPE_SERVER_STATE	0x1000	/* admin:server_state: a server's "state" */
#define AUTH_SCOPES_ALL		0x1fff
#define AUTH_TOKEN_ID_LEN	12	/* the id: the digest's first hex digits */
struct auth_token {			/* what an API token may do (no secret) */
	char		 id[AUTH_TOKEN_ID_LEN + 1];
	int		 service;	/* 0: a user's own token */
	const char	*name;		/* the user, or the service */
	unsigned int	 scopes;	/* AUTH_SCOPE_* */
	int		 all_users;	/* service: may act for every user */
	char		**users;	/* service: else for these */
	size_t		 nusers;
	time_t		 created, expires, last_used;	/* expires 0: never */
	char		*note;		/* what it is for, from its maker; or NULL */
};
char		*auth_token_issue(const char *, time_t, char [AUTH_TOKEN_ID_LEN + 1]);
char		*auth_token_issue_scoped(const char *, unsigned int, time_t,
		     char [AUTH_TOKEN_ID_LEN + 1]);
char		*auth_service_issue(const char *, unsigned int, const char *, time_t,
		     char [AUTH_TOKEN_ID_LEN + 1]);
char		*auth_token_check(const char *);
/* RESULT_OK and *tok, RESULT_EXPIRED or RESULT_NOT_FOUND */
enum result_kind auth_token_lookup(const char *, const struct auth_token **);
int		 auth_token_may_act(const struct auth_token *, const char *);
void		 auth_token_load(const char *, const char *, const char *, const char *,
		     const char *, time_t, time_t, time_t, const char *);
int		 auth_token_revoke_user(const char *);
int		 auth_token_revoke_service(const char *);
int		 auth_token_revoke_id(const char *);
#define AUTH_TOKEN_NOTE_MAX	255	/* bytes of a token's note */
int		 auth_token_note(const char *, const char *);
void		 auth_token_foreach(void (*)(const struct auth_token *, void *), void *);
int		 auth_scopes_parse(const char *, unsigned int *, char **);
char		*auth_scopes_text(unsigned int);
unsigned int	 auth_scopes_expand(unsigned int);
const char	*auth_scope_name(unsigned int);
char		*auth_code_issue(const char *);
char		*auth_code_redeem(const char *);
void		 auth_clear(void);

/* throttle.c: failure counters with backoff per "kind:name" (login.c, cred.c) */
void		 throttle_fail(int, const char *, unsigned int);
void		 throttle_reset(int, const char *);
long		 throttle_wait(int, const char *);	/* s left, or 0 */
void		 throttle_clear(void);

/*
 * pam.c: PAM checks in a child process, off the event loop. A check is
 * RESULT_OK (authenticated, account valid), RESULT_DENIED (wrong password,
 * unknown user, locked account) or RESULT_INTERNAL (PAM itself failed).
 */
struct pam_attempt;
typedef void	(*pam_attempt_cb)(enum result_kind, const char *, void *);
enum result_kind pam_check(const char *, const char *, const char *, char **);
struct pam_attempt *pam_attempt_start(const char *, const char *, const char *,
		     pam_attempt_cb, void *, char **);
unsigned int	 pam_attempts(void);
void		 pam_attempt_kill_all(void);

/*
 * jwt.c: ID tokens (compact JWS) and key sets (JWKS), no I/O; fuzzed.
 * _parse() returns an owned object (_free()) or NULL and *cause (caller
 * frees); jwt_verify() only after jwt_parse(), jwt_check() only after
 * jwt_verify() said RESULT_OK. jwt_verify() is RESULT_OK, RESULT_INVALID,
 * or RESULT_NOT_FOUND: no key with the token's kid (refetch the set once).
 */
struct jwt;
struct jwt_keys;
struct jwt_expect {
	const char	*issuer;
	const char	*client_id;
	const char	*nonce;		/* NULL: not checked */
	time_t		 now;
	int		 skew;		/* s of clock difference allowed */
};
struct jwt	*jwt_parse(const char *, size_t, char **);
void		 jwt_free(struct jwt *);
const char	*jwt_alg(const struct jwt *);
const char	*jwt_kid(const struct jwt *);
struct json_t	*jwt_claims(const struct jwt *);	/* borrowed */
enum result_kind jwt_verify(const struct jwt *, const struct jwt_keys *,
		     char **);
int		 jwt_check(const struct jwt *, const struct jwt_expect *, char **);
struct jwt_keys	*jwt_keys_parse(const char *, size_t, char **);
void		 jwt_keys_free(struct jwt_keys *);
size_t		 jwt_keys_count(const struct jwt_keys *);

/*
 * oidc.c: OpenID Connect's protocol half (auth.oidc): the provider's
 * discovery document and keys (cached), the authorization URL, and the
 * exchange of a code for a user name. oidc_meta_parse() and oidc_map_user()
 * are pure (tests, fuzzing); oidc_map_user() returns an owned name or NULL
 * and *cause; oidc_user_refusal() NULL if a mapped name may sign in, else an
 * owned reason.
 */
struct oidc_meta {			/* what we use of the discovery document */
	char		*authorization_endpoint;
	char		*token_endpoint;
	char		*jwks_uri;
	char		*userinfo_endpoint;	/* NULL if none */
	int		 auth_post;	/* client_secret_post, not _basic */
};
#define OIDC_OK		0
#define OIDC_EDOWN	1	/* the provider cannot be reached or used now */
#define OIDC_EEXPIRED	2	/* the code was refused: expired or used */
#define OIDC_ECLIENT	3	/* the provider refused the gateway's client */
#define OIDC_ENOTOKEN	4	/* the token endpoint sent no ID token */
#define OIDC_EVERIFY	5	/* the ID token did not verify */
#define OIDC_EUSERINFO	6	/* the userinfo answer is unusable */
#define OIDC_ENONAME	7	/* no user name claim */
#define OIDC_ENOACCOUNT	8	/* the claim maps to no user here */
#define OIDC_ERESERVED	9	/* it maps to a name that may not sign in */
#define OIDC_NERRORS	10
/* An exchange's end; borrowed, valid during the callback only. */
struct oidc_result {
	int		 error;		/* OIDC_OK or OIDC_E* */
	const char	*why;		/* not OK: for the log (remote text: clean it) */
	const char	*sub;		/* the verified ID token's subject, or NULL */
	const char	*value;		/* the user name claim's value, or NULL */
	const char	*user;		/* OK, ERESERVED: the mapped user name */
	const char	*cause;		/* ENOACCOUNT, ERESERVED: why not, a clause */
};
struct oidc_exchange;
typedef void	(*oidc_wait_cb)(const char *, void *);	/* error or NULL */
typedef void	(*oidc_exchange_cb)(const struct oidc_result *, void *);
int		 oidc_init(const struct config *, char **);
void		 oidc_clear(void);
int		 oidc_enabled(void);
int		 oidc_discovered(void);
int		 oidc_meta_fresh(void);
int		 oidc_discover(oidc_wait_cb, void *, char **);
char		*oidc_auth_url(const char *, const char *, const char *);
struct oidc_exchange *oidc_exchange_start(const char *, const char *, const char *,
		     oidc_exchange_cb, void *, char **);
void		 oidc_exchange_cancel(struct oidc_exchange *);
int		 oidc_meta_parse(const char *, size_t, const char *, struct oidc_meta *,
		     char **);
void		 oidc_meta_clear(struct oidc_meta *);
char		*oidc_map_user(const char *, const char *, const char *, char **);
char		*oidc_user_refusal(const struct config *, const char *, const char *);

/*
 * cred.c: verified identities of users for clusters with charging: user (the
 * DN, the account it maps to, the expiry; never a key). Borrowed pointers stay
 * valid until the next cred_* call that changes the user's identity.
 * cred_account_reserved(): NULL, or an owned reason no login may name an account.
 */
struct cred {
	char		*user;		/* gateway user */
	char		*dn;		/* certificate subject, or "login:NAME" */
	char		*account;	/* local account jobs run as */
	char		*source;	/* x509, x509-proxy, myproxy, login */
	time_t		 not_after;	/* the credential's expiry */
	time_t		 verified;
};
struct json_t;
typedef void (*cred_done_cb)(const struct cred *, const char *, void *);
int		 cred_init(char **);
void		 cred_shutdown(void);
const struct cred *cred_get(const char *);
const struct cred *cred_for_account(const char *);
const struct cred *cred_from_login(const char *);
char		*cred_account_reserved(const struct config *, const char *);
const struct cred *cred_set_x509(const char *, const char *, const char *, size_t,
		    const char *, size_t, const char *, const char *, char **);
#define CRED_BUSY	-2	/* cred_myproxy(): too many in flight or backing off */
int		 cred_myproxy(const char *, const char *, const char *, cred_done_cb,
		    void *, char **);
int		 cred_drop(const char *, const char *);
struct json_t	*cred_json(const struct cred *);

/*
 * x509.c: a user's X.509 credential (chain + key) checked against a hashed CA
 * directory (HASH.0, HASH.rN CRLs) and mapped to an account by a grid-mapfile.
 */
enum x509_crl_mode {
	X509_CRL_IF_PRESENT = 0,	/* check CRLs of CAs that have a HASH.rN file */
	X509_CRL_REQUIRE,		/* every CA must have a CRL */
	X509_CRL_OFF			/* never check CRLs */
};
struct x509_policy {
	const char	*ca_dir;	/* grid-style hashed CA directory */
	const char	*gridmap;	/* grid-mapfile path */
	int		 check_crl;	/* enum x509_crl_mode */
	int		 refuse_proxy;	/* 1: RFC 3820 proxies are refused */
	int		 allow_independent; /* 1: id-ppl-independent proxies too */
};
struct x509_ident {
	char		*dn;		/* end-entity subject, /C=US/O=.../CN=... form */
	char		*account;	/* mapped local account */
	time_t		 not_after;	/* earliest notAfter along the chain */
	int		 proxy;		/* 1 if the leaf is an RFC 3820 proxy */
	EVP_PKEY	*key;		/* the user's key, matches the leaf */
};
/* 0 and *out (free with x509_ident_free()), or -1 and *cause (caller frees). */
int		 x509_verify(const char *, size_t, const char *, size_t, const char *,
		    const struct x509_policy *, struct x509_ident *, char **);
void		 x509_ident_free(struct x509_ident *);
/*
 * RESULT_OK and *account (caller frees) if mapped, RESULT_NOT_FOUND if not,
 * else RESULT_UNAVAILABLE (unreadable) or RESULT_INVALID and *cause.
 */
enum result_kind x509_gridmap_lookup(const char *, const char *, char **,
		     char **);
char		*x509_name_oneline(const X509_NAME *);	/* caller frees */

/*
 * sshcert.c: short-lived OpenSSH user certificates (ed25519) for a fresh user key,
 * signed by an unencrypted openssh-key-v1 ed25519 CA key.
 */
/* 0 with *privkey_b64 (OpenSSH PEM text, caller freestr()s) and *cert_line
 * ("ssh-ed25519-cert-v01@openssh.com BASE64 KEYID", caller frees), or -1 and *cause. */
int		 sshcert_mint(const char *, const char *, const char *, time_t, time_t,
		    char **, char **, char **);
/* An unencrypted openssh-key-v1 ed25519 key's seed and public key; -1 and *cause. */
int		 sshcert_parse_privkey(const char *, size_t, unsigned char[32],
		    unsigned char[32], char **);

/*
 * myproxy.c: MyProxy GET (logon) over TLS, blocking: run it in a thread (it keeps
 * no global state). Writes to a closed peer need SIGPIPE ignored, as nbgated does.
 */
#define MYPROXY_PORT	7512
#define MYPROXY_TIMEOUT	30		/* seconds, connect to last byte */
struct myproxy_opts {
	const char	*host;
	int		 port;		/* MYPROXY_PORT */
	const char	*ca_dir;	/* hashed CA directory the server's cert must chain to */
	const char	*server_dn;	/* exact server DN expected, or NULL */
	const char	*server_name;	/* name the cert must carry (NAME, host/NAME,
					   myproxy/NAME); NULL: host */
	int		 timeout;	/* seconds for the whole logon; 0: MYPROXY_TIMEOUT */
};
/* 0 with *chain_pem (caller frees) and *key_pem (caller freestr()s), or -1, *cause. */
int		 myproxy_logon(const struct myproxy_opts *, const char *, const char *, int,
		    char **, char **, char **);

#endif
