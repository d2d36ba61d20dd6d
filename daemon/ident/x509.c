/*
 * x509.c: checks a user's X.509 credential (certificate chain + private key) against a
 * grid-style hashed CA directory and maps its end-entity DN to a local account through a
 * grid-mapfile. RFC 3820 proxies are accepted (OpenSSL checks their naming and path
 * length; the DN that maps is the end-entity's). Refused, with a message a person can
 * read: expired or not-yet-valid certificates, issuers outside the CA directory, revoked
 * certificates (CRLs as HASH.rN), bad signatures, keys that do not match the leaf, DNs the
 * grid-mapfile does not map, certificates not meant for client authentication, and
 * independent proxies (unless allowed). Messages never hold key material or passphrases.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "daemon/ident/ident.h"

#define X509_MAX_CHAIN	16		/* certificates read from one PEM chain */

/* What the verify callback saw first: turned into the message after the verify. */
struct x509_vstate {
	int		 crl;		/* enum x509_crl_mode */
	int		 err;		/* first X509_V_ERR_*, 0 if none */
	char		*subject;	/* of the certificate in error */
	char		*issuer;
	char		*when;		/* notAfter, notBefore or revocation date */
};

/* Passphrase callback state: never prompts on a terminal. */
struct x509_pass {
	const char	*pass;
	int		 asked;
};

/* The grid's one-line form of a name (/C=US/O=Example/CN=...); caller frees. */
char *
x509_name_oneline(const X509_NAME *name)
{
	char	*s, *out;

	if (name == NULL || (s = X509_NAME_oneline(name, NULL, 0)) == NULL)
		return (xstrdup("(none)"));
	out = xstrdup(s);
	OPENSSL_free(s);
	return (out);
}

/* "YYYY-MM-DD HH:MM:SS UTC"; caller frees. */
static char *
x509_time_str(const ASN1_TIME *t)
{
	struct tm	 tm;
	char		 buf[64];

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return (xstrdup("(unknown date)"));
	if (strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		return (xstrdup("(unknown date)"));
	return (xstrdup(buf));
}

/* Seconds since the epoch of an ASN1_TIME; 0 if unreadable. */
static time_t
x509_time_t(const ASN1_TIME *t)
{
	ASN1_TIME	*epoch;
	int		 days, secs;
	time_t		 r = 0;

	if ((epoch = ASN1_TIME_set(NULL, 0)) == NULL)
		fatalx("ASN1_TIME_set failed");
	if (t != NULL && ASN1_TIME_diff(&days, &secs, epoch, t) == 1)
		r = (time_t)days * 86400 + secs;
	ASN1_TIME_free(epoch);
	return (r);
}

static int
x509_is_proxy(X509 *x)
{
	return ((X509_get_extension_flags(x) & EXFLAG_PROXY) != 0);
}

/* The revocation date of @x in the CRL the verifier was using. */
static char *
x509_revoked_when(X509_STORE_CTX *ctx, X509 *x)
{
	X509_CRL	*crl = X509_STORE_CTX_get0_current_crl(ctx);
	X509_REVOKED	*rev = NULL;

	if (crl == NULL || X509_CRL_get0_by_cert(crl, &rev, x) != 1 || rev == NULL)
		return (xstrdup("(unknown date)"));
	return (x509_time_str(X509_REVOKED_get0_revocationDate(rev)));
}

static int
x509_verify_cb(int ok, X509_STORE_CTX *ctx)
{
	struct x509_vstate	*vs = X509_STORE_CTX_get_app_data(ctx);
	X509			*x = X509_STORE_CTX_get_current_cert(ctx);
	int			 err = X509_STORE_CTX_get_error(ctx);

	if (ok)
		return (1);
	/* A CA without a CRL file is fine unless the policy wants CRLs; a
	 * proxy's issuer is a person, who never publishes one. */
	if (err == X509_V_ERR_UNABLE_TO_GET_CRL &&
	    (vs->crl == X509_CRL_IF_PRESENT || (x != NULL && x509_is_proxy(x))))
		return (1);
	if (vs->err != 0)
		return (0);
	vs->err = err;
	if (x != NULL) {
		vs->subject = x509_name_oneline(X509_get_subject_name(x));
		vs->issuer = x509_name_oneline(X509_get_issuer_name(x));
		if (err == X509_V_ERR_CERT_HAS_EXPIRED)
			vs->when = x509_time_str(X509_get0_notAfter(x));
		else if (err == X509_V_ERR_CERT_NOT_YET_VALID)
			vs->when = x509_time_str(X509_get0_notBefore(x));
		else if (err == X509_V_ERR_CERT_REVOKED)
			vs->when = x509_revoked_when(ctx, x);
	}
	return (0);
}

/* The sentence a person reads for the first verify error. */
static char *
x509_vstate_cause(const struct x509_vstate *vs)
{
	const char	*subj = vs->subject ? vs->subject : "(unknown)";
	const char	*when = vs->when ? vs->when : "(unknown date)";
	char		*c;

	switch (vs->err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		xasprintf(&c, "the certificate expired on %s (%s)", when, subj);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		xasprintf(&c, "the certificate is not valid before %s (%s)", when, subj);
		break;
	case X509_V_ERR_CERT_REVOKED:
		xasprintf(&c, "the certificate was revoked on %s (%s)", when, subj);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		xasprintf(&c, "not issued by a trusted CA (issuer %s)",
		    vs->issuer ? vs->issuer : "(unknown)");
		break;
	case X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED:
		xasprintf(&c, "the chain is not valid: proxy certificates are not accepted (%s)",
		    subj);
		break;
	default:
		xasprintf(&c, "the chain is not valid: %s (%s)",
		    X509_verify_cert_error_string(vs->err), subj);
		break;
	}
	return (c);
}

static int
x509_pass_cb(char *buf, int size, int rwflag, void *arg)
{
	struct x509_pass	*p = arg;
	size_t			 len;

	(void)rwflag;
	p->asked = 1;
	if (p->pass == NULL || size <= 0)
		return (-1);
	if ((len = strlen(p->pass)) > (size_t)size)
		return (-1);
	memcpy(buf, p->pass, len);
	return ((int)len);
}

/* Reads the certificates of a PEM chain, leaf first; NULL with *cause. */
static STACK_OF(X509) *
x509_read_chain(const char *pem, size_t len, char **cause)
{
	STACK_OF(X509)	*sk;
	BIO		*bio;
	X509		*x;

	if (pem == NULL || len == 0 || len > INT_MAX) {
		*cause = xstrdup("no certificate was given");
		return (NULL);
	}
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL || (sk = sk_X509_new_null()) == NULL)
		fatalx("out of memory");
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) >= X509_MAX_CHAIN) {
			X509_free(x);
			xasprintf(cause, "the chain has more than %d certificates", X509_MAX_CHAIN);
			goto fail;
		}
		if (sk_X509_push(sk, x) == 0)
			fatalx("out of memory");
	}
	ERR_clear_error();
	if (sk_X509_num(sk) == 0) {
		*cause = xstrdup("no PEM certificate was found in the chain");
		goto fail;
	}
	BIO_free(bio);
	return (sk);
fail:
	BIO_free(bio);
	sk_X509_pop_free(sk, X509_free);
	return (NULL);
}

/* Reads the first PEM private key; NULL with *cause (never the passphrase). */
static EVP_PKEY *
x509_read_key(const char *pem, size_t len, const char *pass, char **cause)
{
	struct x509_pass	 p = { pass, 0 };
	EVP_PKEY		*k;
	BIO			*bio;

	if (pem == NULL || len == 0 || len > INT_MAX) {
		*cause = xstrdup("no private key was given");
		return (NULL);
	}
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		fatalx("out of memory");
	k = PEM_read_bio_PrivateKey(bio, NULL, x509_pass_cb, &p);
	BIO_free(bio);
	ERR_clear_error();
	if (k != NULL)
		return (k);
	if (p.asked && pass == NULL)
		*cause = xstrdup("the private key is encrypted and no passphrase was given");
	else if (p.asked)
		*cause = xstrdup("the private key could not be decrypted: wrong passphrase");
	else
		*cause = xstrdup("no readable PEM private key was found");
	return (NULL);
}

/*
 * A proxy's subject is its issuer's subject plus one CN (RFC 3820 3.4). OpenSSL
 * checks this too; checked again here so the rule holds whatever the library does.
 */
static int
x509_proxy_name_ok(X509 *proxy, X509 *issuer)
{
	X509_NAME		*ps = X509_get_subject_name(proxy);
	X509_NAME		*is = X509_get_subject_name(issuer);
	X509_NAME		*tmp;
	const X509_NAME_ENTRY	*last;
	int			 n = X509_NAME_entry_count(ps), ok;

	if (n != X509_NAME_entry_count(is) + 1 || n < 2)
		return (0);
	last = X509_NAME_get_entry(ps, n - 1);
	if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(last)) != NID_commonName)
		return (0);
	if (X509_NAME_ENTRY_set(last) == X509_NAME_ENTRY_set(X509_NAME_get_entry(ps, n - 2)))
		return (0);	/* multi-valued last RDN */
	if ((tmp = X509_NAME_dup(ps)) == NULL)
		fatalx("out of memory");
	X509_NAME_ENTRY_free(X509_NAME_delete_entry(tmp, n - 1));
	ok = X509_NAME_cmp(tmp, is) == 0;
	X509_NAME_free(tmp);
	return (ok);
}

/* Runs the OpenSSL verify; returns the verified chain (leaf first) or NULL with *cause. */
static STACK_OF(X509) *
x509_verify_chain(STACK_OF(X509) *certs, const struct x509_policy *pol, char **cause)
{
	struct x509_vstate	 vs = { 0 };
	STACK_OF(X509)		*untrusted = NULL, *chain = NULL;
	X509_STORE		*store;
	X509_STORE_CTX		*ctx;
	X509_LOOKUP		*lu;
	unsigned long		 flags = 0;
	struct stat		 sb;
	int			 i;

	if (pol->ca_dir == NULL) {
		*cause = xstrdup("no CA directory is set");
		return (NULL);
	}
	errno = 0;
	if (stat(pol->ca_dir, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "the CA directory %s cannot be read: %s", pol->ca_dir,
		    errno != 0 ? strerror(errno) : "not a directory");
		return (NULL);
	}
	if ((store = X509_STORE_new()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL ||
	    (untrusted = sk_X509_new_null()) == NULL)
		fatalx("out of memory");
	if ((lu = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir())) == NULL ||
	    X509_LOOKUP_add_dir(lu, pol->ca_dir, X509_FILETYPE_PEM) != 1)
		fatalx("X509_LOOKUP_add_dir failed");
	for (i = 1; i < sk_X509_num(certs); i++)
		if (sk_X509_push(untrusted, sk_X509_value(certs, i)) == 0)
			fatalx("out of memory");
	if (!pol->refuse_proxy)
		flags |= X509_V_FLAG_ALLOW_PROXY_CERTS;
	if (pol->check_crl != X509_CRL_OFF)
		flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
	X509_STORE_set_flags(store, flags);
	X509_STORE_set_verify_cb(store, x509_verify_cb);
	if (X509_STORE_CTX_init(ctx, store, sk_X509_value(certs, 0), untrusted) != 1)
		fatalx("X509_STORE_CTX_init failed");
	vs.crl = pol->check_crl;
	X509_STORE_CTX_set_app_data(ctx, &vs);
	if (X509_verify_cert(ctx) == 1) {
		if ((chain = X509_STORE_CTX_get1_chain(ctx)) == NULL)
			fatalx("out of memory");
	} else if (vs.err != 0)
		*cause = x509_vstate_cause(&vs);
	else
		xasprintf(cause, "the chain is not valid: %s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	ERR_clear_error();
	free(vs.subject);
	free(vs.issuer);
	free(vs.when);
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return (chain);
}

/* One grid-mapfile field: a quoted DN (\" and \\ escapes) or a bare word. */
static char *
x509_gridmap_field(char **pp)
{
	char	*p = *pp, *out, *o;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return (NULL);
	o = out = xmalloc(strlen(p) + 1);
	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (*p == '\0') {
				free(out);
				return (NULL);	/* unterminated */
			}
			*o++ = *p;
		}
		p++;
	} else
		while (*p != '\0' && *p != ' ' && *p != '\t')
			*o++ = *p++;
	*o = '\0';
	*pp = p;
	return (out);
}

/*
 * Looks @dn up in a grid-mapfile: the first line whose DN equals @dn exactly gives
 * the account (the first of a comma list). RESULT_OK and *account if mapped,
 * RESULT_NOT_FOUND if not, or *cause and RESULT_UNAVAILABLE if the file cannot
 * be read, RESULT_INVALID if a line is malformed.
 */
enum result_kind
x509_gridmap_lookup(const char *path, const char *dn, char **account, char **cause)
{
	FILE	*f;
	char	*line = NULL, *p, *fdn, *acct;
	size_t	 cap = 0;
	int	 lineno = 0;
	enum result_kind rv = RESULT_NOT_FOUND;

	*account = NULL;
	if (path == NULL || (f = fopen(path, "re")) == NULL) {
		xasprintf(cause, "the grid-mapfile %s cannot be read: %s", path ? path : "(none)",
		    path ? strerror(errno) : "not set");
		return (RESULT_UNAVAILABLE);
	}
	while (rv == RESULT_NOT_FOUND && getline(&line, &cap, f) != -1) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		p = line + strspn(line, " \t");
		if (*p == '#' || *p == '\0')
			continue;
		if ((fdn = x509_gridmap_field(&p)) == NULL) {
			xasprintf(cause, "%s:%d: unterminated quoted DN", path, lineno);
			rv = RESULT_INVALID;
			break;
		}
		if ((acct = x509_gridmap_field(&p)) == NULL) {
			xasprintf(cause, "%s:%d: no account after the DN", path, lineno);
			free(fdn);
			rv = RESULT_INVALID;
			break;
		}
		acct[strcspn(acct, ",")] = '\0';
		if (!util_user_name_valid(acct)) {
			xasprintf(cause, "%s:%d: account '%s' is not a valid user name", path,
			    lineno, acct);
			rv = RESULT_INVALID;
		} else if (strcmp(fdn, dn) == 0) {
			*account = acct;	/* transferred */
			acct = NULL;
			rv = RESULT_OK;
		}
		free(fdn);
		free(acct);
	}
	free(line);
	fclose(f);
	return (rv);
}

/* The RFC 3820 policy language of proxy @x (NID_Independent, ...); NID_undef if unread. */
static int
x509_proxy_language(X509 *x)
{
	PROXY_CERT_INFO_EXTENSION	*pci;
	int				 nid = NID_undef;

	if ((pci = X509_get_ext_d2i(x, NID_proxyCertInfo, NULL, NULL)) == NULL)
		return (NID_undef);
	if (pci->proxyPolicy != NULL)
		nid = OBJ_obj2nid(pci->proxyPolicy->policyLanguage);
	PROXY_CERT_INFO_EXTENSION_free(pci);
	return (nid);
}

/* The extended key usages of @x by short name ("serverAuth, codeSigning"); caller frees. */
static char *
x509_eku_list(X509 *x)
{
	EXTENDED_KEY_USAGE	*eku;
	ASN1_OBJECT		*o;
	char			*out = xstrdup(""), *t, buf[80];
	int			 i, nid;

	if ((eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL)) == NULL)
		return (out);
	for (i = 0; i < sk_ASN1_OBJECT_num(eku) && i < 8; i++) {
		o = sk_ASN1_OBJECT_value(eku, i);
		if ((nid = OBJ_obj2nid(o)) != NID_undef)
			snprintf(buf, sizeof buf, "%s", OBJ_nid2sn(nid));
		else if (OBJ_obj2txt(buf, sizeof buf, o, 1) <= 0)
			snprintf(buf, sizeof buf, "?");
		xasprintf(&t, "%s%s%s", out, *out != '\0' ? ", " : "", buf);
		free(out);
		out = t;
	}
	EXTENDED_KEY_USAGE_free(eku);
	return (out);
}

/*
 * Why @x (the leaf, a proxy, or the end-entity certificate a proxy speaks for) may
 * not authenticate a TLS client: NULL if it may. Extended key usage, when present,
 * must list clientAuth; key usage, when present, digitalSignature; and OpenSSL's
 * SSL client purpose check (Netscape cert type, anyExtendedKeyUsage) must pass.
 */
static char *
x509_client_refusal(X509 *x)
{
	uint32_t	 flags = X509_get_extension_flags(x);
	char		*c = NULL, *list;

	if ((flags & EXFLAG_XKUSAGE) &&
	    (X509_get_extended_key_usage(x) & XKU_SSL_CLIENT) == 0) {
		list = x509_eku_list(x);
		xasprintf(&c, "its extended key usage does not include client "
		    "authentication (clientAuth); it lists %s", list);
		free(list);
	} else if ((flags & EXFLAG_KUSAGE) &&
	    (X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE) == 0)
		c = xstrdup("its key usage does not include digitalSignature");
	else if (X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0) != 1)
		c = xstrdup("it fails the TLS client purpose check (Netscape "
		    "certificate type or extended key usage)");
	ERR_clear_error();
	return (c);
}

/*
 * The use rules on a verified chain (leaf first): every certificate from the leaf
 * down to the end-entity one must be fit for TLS client authentication, and no
 * proxy may be independent (RFC 3820 id-ppl-independent: it carries none of its
 * issuer's rights, so it must not map to the issuer's account) unless @pol allows.
 */
static int
x509_check_use(STACK_OF(X509) *chain, const struct x509_policy *pol, char **cause)
{
	X509	*x;
	char	*why, *subj;
	int	 i, proxy;

	for (i = 0; i < sk_X509_num(chain); i++) {
		x = sk_X509_value(chain, i);
		proxy = x509_is_proxy(x);
		if (proxy && !pol->allow_independent &&
		    x509_proxy_language(x) == NID_Independent) {
			subj = x509_name_oneline(X509_get_subject_name(x));
			xasprintf(cause, "the proxy is an independent proxy (RFC 3820 "
			    "policy id-ppl-independent), which carries none of its "
			    "issuer's rights; independent proxies are refused here "
			    "(%s)", subj);
			free(subj);
			return (-1);
		}
		if ((why = x509_client_refusal(x)) != NULL) {
			subj = x509_name_oneline(X509_get_subject_name(x));
			xasprintf(cause, "the %s is not for client authentication: "
			    "%s (%s)", proxy ? "proxy certificate" : "certificate",
			    why, subj);
			free(subj);
			free(why);
			return (-1);
		}
		if (!proxy)
			break;	/* the end-entity certificate: CAs follow */
	}
	return (0);
}

/* Fills @out from a verified chain (leaf first). */
static int
x509_ident_fill(STACK_OF(X509) *chain, struct x509_ident *out, char **cause)
{
	X509	*x, *ee = NULL;
	time_t	 t;
	int	 i, n = sk_X509_num(chain);

	out->not_after = 0;
	for (i = 0; i < n; i++) {
		x = sk_X509_value(chain, i);
		t = x509_time_t(X509_get0_notAfter(x));
		if (out->not_after == 0 || t < out->not_after)
			out->not_after = t;
		if (!x509_is_proxy(x))
			continue;
		if (i + 1 >= n || !x509_proxy_name_ok(x, sk_X509_value(chain, i + 1))) {
			xasprintf(cause, "the chain is not valid: the proxy subject is not its "
			    "issuer's subject plus one CN");
			return (-1);
		}
		out->proxy = 1;
	}
	for (i = 0; i < n && ee == NULL; i++)
		if (!x509_is_proxy(sk_X509_value(chain, i)))
			ee = sk_X509_value(chain, i);
	if (ee == NULL) {
		*cause = xstrdup("the chain is not valid: no end-entity certificate");
		return (-1);
	}
	out->dn = x509_name_oneline(X509_get_subject_name(ee));
	return (0);
}

/*
 * Verifies a user's chain (PEM, leaf first; a proxy file with the key inside works
 * when @key_pem is NULL) and key against @pol. 0 and *out filled (x509_ident_free),
 * or -1 and *cause (caller frees).
 */
int
x509_verify(const char *chain_pem, size_t chainlen, const char *key_pem, size_t keylen,
    const char *passphrase, const struct x509_policy *pol, struct x509_ident *out,
    char **cause)
{
	STACK_OF(X509)	*certs = NULL, *chain = NULL;
	EVP_PKEY	*key = NULL;
	enum result_kind m;
	int		 rv = -1;

	memset(out, 0, sizeof *out);
	*cause = NULL;
	if ((certs = x509_read_chain(chain_pem, chainlen, cause)) == NULL)
		goto out;
	if (key_pem == NULL) {
		key_pem = chain_pem;
		keylen = chainlen;
	}
	if ((key = x509_read_key(key_pem, keylen, passphrase, cause)) == NULL)
		goto out;
	if ((chain = x509_verify_chain(certs, pol, cause)) == NULL)
		goto out;
	if (X509_check_private_key(sk_X509_value(certs, 0), key) != 1) {
		ERR_clear_error();
		*cause = xstrdup("the key does not match the certificate");
		goto out;
	}
	if (x509_ident_fill(chain, out, cause) != 0 ||
	    x509_check_use(chain, pol, cause) != 0)
		goto out;
	if ((m = x509_gridmap_lookup(pol->gridmap, out->dn, &out->account,
	    cause)) == RESULT_NOT_FOUND)
		xasprintf(cause, "no account is mapped to DN %s in %s", out->dn, pol->gridmap);
	if (m != RESULT_OK)
		goto out;
	out->key = key;		/* transferred */
	key = NULL;
	rv = 0;
out:
	if (rv != 0)
		x509_ident_free(out);
	EVP_PKEY_free(key);
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(chain, X509_free);
	return (rv);
}

/* Frees what x509_verify() filled in; the struct itself is the caller's. */
void
x509_ident_free(struct x509_ident *id)
{
	if (id == NULL)
		return;
	free(id->dn);
	free(id->account);
	EVP_PKEY_free(id->key);
	memset(id, 0, sizeof *id);
}
