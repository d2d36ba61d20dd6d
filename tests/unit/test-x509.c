/*
 * test-x509.c: daemon/ident/x509.c against a real PKI made by tests/pki/make-pki.sh with the
 * openssl CLI (fork/exec): each credential accepted or refused with its own message.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

static char	*pki;		/* the PKI directory */
static char	*wrongcadir;	/* trusts only the wrong CA, has no CRL */

/* Reads DIR/name into a NUL-terminated buffer; aborts the test if missing. */
static char *
slurp(const char *name, size_t *lenp)
{
	char	*path, *buf = NULL;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;
	int	 fd;

	xasprintf(&path, "%s/%s", pki, name);
	if ((fd = open(path, O_RDONLY)) == -1) {
		tap_diag("cannot open %s", path);
		exit(1);
	}
	for (;;) {
		if (len + 4096 > cap)
			buf = xreallocarray(buf, 1, (cap = len + 8192));
		if ((n = read(fd, buf + len, cap - len - 1)) <= 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	close(fd);
	free(path);
	if (lenp != NULL)
		*lenp = len;
	return (buf);
}

static char *
pkipath(const char *name)
{
	char	*p;

	xasprintf(&p, "%s/%s", pki, name);
	return (p);
}

/* Verifies files @cert/@key from the PKI; returns x509_verify()'s result. */
static int
try(const char *cert, const char *key, const char *pass, const struct x509_policy *pol,
    struct x509_ident *id, char **cause)
{
	char	*c, *k = NULL;
	size_t	 cl, kl = 0;
	int	 rv;

	c = slurp(cert, &cl);
	if (key != NULL)
		k = slurp(key, &kl);
	free(*cause);
	*cause = NULL;
	rv = x509_verify(c, cl, k, kl, pass, pol, id, cause);
	if (rv != 0)
		tap_diag("  cause: %s", *cause ? *cause : "(null)");
	free(c);
	free(k);
	return (rv);
}

static int
make_pki(const char *srcdir)
{
	char	*script;
	pid_t	 pid;
	int	 status;

	xasprintf(&script, "%s/tests/pki/make-pki.sh", srcdir);
	if ((pid = fork()) == 0) {
		execl("/bin/sh", "sh", script, pki, (char *)NULL);
		_exit(127);
	}
	free(script);
	if (pid == -1 || waitpid(pid, &status, 0) == -1)
		return (-1);
	return (WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1);
}

static void
test_accept(struct x509_policy *pol)
{
	struct x509_ident	 id;
	char			*cause = NULL, *c, *k, *both;
	size_t			 cl, kl;
	time_t			 alice_end;

	ok(try("alice.pem", "alice.key", NULL, pol, &id, &cause) == 0, "alice's cert + key accepted");
	is_str(id.dn, "/C=US/O=Example/CN=Alice Smith", "DN in the grid's slash form");
	is_str(id.account, "alice", "mapped to the first account of the comma list");
	is_int(id.proxy, 0, "not a proxy");
	ok(id.key != NULL && EVP_PKEY_get_base_id(id.key) == EVP_PKEY_RSA, "the key is returned");
	ok(id.not_after > time(NULL) + 20 * 86400 && id.not_after < time(NULL) + 32 * 86400,
	    "not_after is alice's (30 days)");
	alice_end = id.not_after;
	x509_ident_free(&id);

	ok(try("alice.pem", "alice-enc.key", "alice-pass", pol, &id, &cause) == 0,
	    "encrypted key with the right passphrase");
	is_str(id.account, "alice", "encrypted key: alice");
	x509_ident_free(&id);

	ok(try("proxy.pem", "proxy.key", NULL, pol, &id, &cause) == 0, "RFC 3820 proxy accepted");
	is_int(id.proxy, 1, "proxy flagged");
	is_str(id.dn, "/C=US/O=Example/CN=Alice Smith", "proxy: the end-entity DN, not the proxy's");
	is_str(id.account, "alice", "proxy maps to alice");
	ok(id.not_after < alice_end && id.not_after <= time(NULL) + 86400 + 60,
	    "not_after is the proxy's (earliest along the chain)");
	x509_ident_free(&id);

	/* A proxy file: cert, key and chain in one PEM, no separate key. */
	c = slurp("proxy.pem", &cl);
	k = slurp("proxy.key", &kl);
	xasprintf(&both, "%s%s", c, k);
	ok(x509_verify(both, strlen(both), NULL, 0, NULL, pol, &id, &cause) == 0,
	    "key inside the chain PEM found");
	x509_ident_free(&id);
	free(both);
	free(c);
	free(k);
	free(cause);
}

static void
test_refuse(struct x509_policy *pol)
{
	struct x509_ident	 id;
	char			*cause = NULL, *want, *gm;

	ok(try("alice.pem", "alice-enc.key", "not-the-pass", pol, &id, &cause) == -1,
	    "wrong passphrase refused");
	has_str(cause, "wrong passphrase", "says wrong passphrase");
	ok(cause != NULL && strstr(cause, "not-the-pass") == NULL, "passphrase not in the message");
	ok(id.dn == NULL && id.key == NULL, "nothing filled on failure");

	ok(try("alice.pem", "alice-enc.key", NULL, pol, &id, &cause) == -1,
	    "encrypted key without passphrase refused");
	has_str(cause, "encrypted and no passphrase", "says a passphrase is needed");

	ok(try("expired.pem", "expired.key", NULL, pol, &id, &cause) == -1, "expired refused");
	has_str(cause, "the certificate expired on 2020-01-02 00:00:00 UTC", "expiry date named");

	ok(try("revoked.pem", "revoked.key", NULL, pol, &id, &cause) == -1, "revoked refused");
	has_str(cause, "the certificate was revoked on 20", "revocation date named");
	has_str(cause, "CN=Revoked User", "revoked cert named");

	ok(try("unmapped.pem", "unmapped.key", NULL, pol, &id, &cause) == -1, "unmapped refused");
	gm = pkipath("grid-mapfile");
	xasprintf(&want, "no account is mapped to DN /C=US/O=Example/CN=Mallory Unmapped in %s", gm);
	is_str(cause, want, "unmapped DN and grid-mapfile named");
	free(want);
	free(gm);

	ok(try("tampered.pem", "alice.key", NULL, pol, &id, &cause) == -1, "tampered refused");
	has_str(cause, "the chain is not valid: certificate signature failure", "signature failure");

	ok(try("wrongca-alice.pem", "wrongca-alice.key", NULL, pol, &id, &cause) == -1,
	    "other CA refused");
	is_str(cause, "not issued by a trusted CA (issuer /C=US/O=Example/CN=Wrong Test CA)",
	    "untrusted issuer named");

	ok(try("alice.pem", "unmapped.key", NULL, pol, &id, &cause) == -1, "someone else's key");
	is_str(cause, "the key does not match the certificate", "key mismatch");
	ok(try("proxy.pem", "alice.key", NULL, pol, &id, &cause) == -1,
	    "proxy chain with the EE key (not the proxy's) refused");
	is_str(cause, "the key does not match the certificate", "key must match the leaf");

	ok(try("badproxy.pem", "badproxy.key", NULL, pol, &id, &cause) == -1,
	    "proxy with a foreign subject refused");
	has_str(cause, "the chain is not valid: proxy subject name violation", "proxy naming rule");

	ok(try("proxy0.pem", "proxy0.key", NULL, pol, &id, &cause) == 0, "pathlen:0 proxy accepted");
	x509_ident_free(&id);
	ok(try("deepproxy.pem", "deepproxy.key", NULL, pol, &id, &cause) == -1,
	    "proxy below a pathlen:0 proxy refused");
	has_str(cause, "the chain is not valid: proxy path length constraint exceeded",
	    "proxy path length");

	pol->refuse_proxy = 1;
	ok(try("proxy.pem", "proxy.key", NULL, pol, &id, &cause) == -1, "proxy refused by policy");
	has_str(cause, "the chain is not valid: proxy certificates are not accepted", "says so");
	pol->refuse_proxy = 0;

	ok(try("grid-mapfile", "alice.key", NULL, pol, &id, &cause) == -1, "not PEM refused");
	is_str(cause, "no PEM certificate was found in the chain", "no certificate");
	ok(try("alice.pem", "alice.pem", NULL, pol, &id, &cause) == -1, "no key refused");
	is_str(cause, "no readable PEM private key was found", "no key");
	free(cause);
}

/* Client-authentication purpose of the leaf (and of the EEC under proxies), independent proxies. */
static void
test_purpose(struct x509_policy *pol)
{
	struct x509_ident	 id;
	char			*cause = NULL;

	ok(try("alice-client.pem", "alice-client.key", NULL, pol, &id, &cause) == 0,
	    "EKU clientAuth accepted");
	is_str(id.account, "alice", "EKU clientAuth: alice");
	x509_ident_free(&id);

	ok(try("alice-server.pem", "alice-server.key", NULL, pol, &id, &cause) == -1,
	    "EKU serverAuth only refused");
	is_str(cause, "the certificate is not for client authentication: its extended key "
	    "usage does not include client authentication (clientAuth); it lists serverAuth "
	    "(/C=US/O=Example/CN=Alice Smith)", "says which usage is missing and what it has");
	ok(id.dn == NULL && id.account == NULL, "nothing filled");

	ok(try("alice-nosig.pem", "alice-nosig.key", NULL, pol, &id, &cause) == -1,
	    "key usage without digitalSignature refused");
	has_str(cause, "its key usage does not include digitalSignature", "says digitalSignature");

	ok(try("serverproxy.pem", "serverproxy.key", NULL, pol, &id, &cause) == -1,
	    "good proxy of a server-only certificate refused");
	has_str(cause, "the certificate is not for client authentication: its extended key "
	    "usage", "the end-entity certificate under the proxy is checked");
	has_str(cause, "(/C=US/O=Example/CN=Alice Smith)", "the EEC named, not the proxy");

	ok(try("srvproxy.pem", "srvproxy.key", NULL, pol, &id, &cause) == -1,
	    "proxy with EKU serverAuth refused");
	has_str(cause, "the proxy certificate is not for client authentication", "the proxy named");

	ok(try("indproxy.pem", "indproxy.key", NULL, pol, &id, &cause) == -1,
	    "independent proxy refused by default");
	has_str(cause, "the proxy is an independent proxy (RFC 3820 policy id-ppl-independent)",
	    "says independent");
	has_str(cause, "CN=Alice Smith/CN=4715", "the proxy named");
	pol->allow_independent = 1;
	ok(try("indproxy.pem", "indproxy.key", NULL, pol, &id, &cause) == 0,
	    "independent proxy accepted when allowed");
	is_int(id.proxy, 1, "allowed independent proxy flagged as a proxy");
	x509_ident_free(&id);
	ok(try("serverproxy.pem", "serverproxy.key", NULL, pol, &id, &cause) == -1,
	    "allowing independent proxies does not lift the purpose check");
	pol->allow_independent = 0;
	free(cause);
}

static void
test_crl_modes(struct x509_policy *pol)
{
	struct x509_ident	 id;
	struct x509_policy	 p = *pol;
	char			*cause = NULL;

	p.check_crl = X509_CRL_OFF;
	ok(try("revoked.pem", "revoked.key", NULL, &p, &id, &cause) == 0, "CRL off: revoked passes");
	is_str(id.account, "bob", "revoked user maps to bob");
	x509_ident_free(&id);

	p.check_crl = X509_CRL_REQUIRE;
	ok(try("proxy.pem", "proxy.key", NULL, &p, &id, &cause) == 0,
	    "CRL required: the CA has one; a proxy's issuer needs none");
	x509_ident_free(&id);

	p.ca_dir = wrongcadir;
	ok(try("wrongca-alice.pem", "wrongca-alice.key", NULL, &p, &id, &cause) == -1,
	    "CRL required, CA without CRL: refused");
	has_str(cause, "the chain is not valid: unable to get certificate CRL", "CRL missing");
	p.check_crl = X509_CRL_IF_PRESENT;
	ok(try("wrongca-alice.pem", "wrongca-alice.key", NULL, &p, &id, &cause) == 0,
	    "CRL if present, CA without CRL: accepted");
	x509_ident_free(&id);

	p.ca_dir = "/nonexistent/ca";
	ok(try("alice.pem", "alice.key", NULL, &p, &id, &cause) == -1, "missing CA dir");
	has_str(cause, "the CA directory /nonexistent/ca cannot be read", "CA dir named");
	free(cause);
}

static void
test_gridmap(void)
{
	char	*path, *acct = NULL, *cause = NULL, *bad;

	path = pkipath("grid-mapfile");
	is_int(x509_gridmap_lookup(path, "/C=US/O=Example/CN=Bob \"Quoted\" Other", &acct, &cause),
	    RESULT_OK, "escaped quote in a DN");
	is_str(acct, "bob", "maps to bob");
	free(acct);
	is_int(x509_gridmap_lookup(path, "/C=US/O=Example/CN=alice smith", &acct, &cause),
	    RESULT_NOT_FOUND,
	    "DN match is exact");
	free(path);

	bad = pkipath("bad-gridmap");
	util_write_file(bad, "# x\n\"/CN=A\" ok\n\"/CN=B\" Root!\n", 29, 0600, &cause);
	is_int(x509_gridmap_lookup(bad, "/CN=Z", &acct, &cause), RESULT_INVALID,
	    "bad account refused");
	has_str(cause, "bad-gridmap:3: account 'Root!' is not a valid user name", "file:line");
	free(cause);
	cause = NULL;
	util_write_file(bad, "\"/CN=A ok\n", 10, 0600, &cause);
	is_int(x509_gridmap_lookup(bad, "/CN=Z", &acct, &cause), RESULT_INVALID,
	    "unterminated DN");
	has_str(cause, "bad-gridmap:1: unterminated quoted DN", "file:line");
	free(cause);
	cause = NULL;
	util_write_file(bad, "\"/CN=A\"\n", 8, 0600, &cause);
	is_int(x509_gridmap_lookup(bad, "/CN=A", &acct, &cause), RESULT_INVALID,
	    "no account");
	has_str(cause, "bad-gridmap:1: no account after the DN", "file:line");
	free(cause);
	cause = NULL;
	is_int(x509_gridmap_lookup("/nonexistent/map", "/CN=A", &acct, &cause),
	    RESULT_UNAVAILABLE, "no file");
	has_str(cause, "the grid-mapfile /nonexistent/map cannot be read", "file named");
	free(cause);
	free(bad);
}

int
main(void)
{
	struct x509_policy	 pol = { 0 };
	const char		*srcdir = getenv("NB_SRCDIR"), *tmp = getenv("TMPDIR");
	char			 tmpl[256];
	int			 failed;

	log_init("test-x509", LOG_WARN);
	if (srcdir == NULL)
		srcdir = ".";
	snprintf(tmpl, sizeof tmpl, "%s/test-x509.XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	xasprintf(&pki, "%s/pki", tmpl);
	ok(make_pki(srcdir) == 0, "tests/pki/make-pki.sh made the PKI in %s", pki);
	pol.ca_dir = pkipath("cadir");
	wrongcadir = pkipath("wrongcadir");
	pol.gridmap = pkipath("grid-mapfile");
	pol.check_crl = X509_CRL_IF_PRESENT;

	test_accept(&pol);
	test_refuse(&pol);
	test_purpose(&pol);
	test_crl_modes(&pol);
	test_gridmap();

	failed = tap_done();
	if (failed == 0)
		tap_rmtree(tmpl);
	else
		tap_diag("PKI kept in %s", pki);
	free((char *)pol.ca_dir);
	free((char *)pol.gridmap);
	free(wrongcadir);
	free(pki);
	return (failed);
}
