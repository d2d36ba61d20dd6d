/*
 * test-sshcert.c: daemon/ident/sshcert.c. CA keys are made by the real ssh-keygen (fork/exec);
 * minted certificates are decoded field by field, their signature checked with OpenSSL
 * and the key + certificate loaded with libssh. Logins: tests/integration/test_sshcert.py.
 */
#include "config.h"

#include <sys/wait.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <openssl/evp.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

static char	*dir;

/* Runs ssh-keygen quietly with @av (NULL-terminated, av[0] unused). */
static int
run(char *const av[])
{
	pid_t	pid;
	int	status, fd;

	if ((pid = fork()) == 0) {
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		execvp("ssh-keygen", av);
		_exit(127);
	}
	if (pid == -1 || waitpid(pid, &status, 0) == -1)
		return (-1);
	return (WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1);
}

static char *
keygen(const char *name, const char *type, const char *pass)
{
	char	*path;

	xasprintf(&path, "%s/%s", dir, name);
	{
		char *const av[] = { "ssh-keygen", "-q", "-t", (char *)type, "-N", (char *)pass,
		    "-C", "test ca", "-f", path, NULL };
		if (run(av) != 0)
			tap_diag("ssh-keygen -t %s failed", type);
	}
	return (path);
}

/* Reader over wire bytes, just enough to decode the certificate. */
struct rd {
	const u_char	*p;
	size_t		 left;
	int		 bad;
};

static uint64_t
get_u(struct rd *r, int n)
{
	uint64_t	v = 0;

	if (r->left < (size_t)n) {
		r->bad = 1;
		return (0);
	}
	while (n-- > 0) {
		v = v << 8 | *r->p++;
		r->left--;
	}
	return (v);
}

static const u_char *
get_s(struct rd *r, size_t *n)
{
	const u_char	*p;

	*n = get_u(r, 4);
	if (r->bad || *n > r->left) {
		r->bad = 1;
		*n = 0;
		return ((const u_char *)"");
	}
	p = r->p;
	r->p += *n;
	r->left -= *n;
	return (p);
}

static int
s_is(const u_char *p, size_t n, const char *want)
{
	return (n == strlen(want) && memcmp(p, want, n) == 0);
}

static u_char *
unb64(const char *s, size_t *outlen)
{
	size_t	 n = strlen(s);
	u_char	*out = xmalloc(n);
	int	 r = EVP_DecodeBlock(out, (const u_char *)s, (int)n);

	*outlen = r < 0 ? 0 : (size_t)r - (s[n - 1] == '=') - (s[n - 2] == '=');
	return (out);
}

static void
test_fields(const char *cakey)
{
	char		*key = NULL, *line = NULL, *cause = NULL, *b64, *kid, *cafile, *t;
	u_char		*blob, seed[32], pk[32], ca_seed[32], ca_pk[32];
	const u_char	*p, *signed_end, *sig;
	size_t		 blen, n, m, flen = 0;
	struct rd	 r, q;
	EVP_PKEY	*ca;
	EVP_MD_CTX	*md;
	ssh_key		 skey = NULL, scert = NULL;
	FILE		*f;

	ok(sshcert_mint(cakey, "alice", "nbgate: /C=US/O=Example/CN=Alice Smith", 1000000,
	    4000000000LL, &key, &line, &cause) == 0, "minted with an ssh-keygen CA key");
	if (cause != NULL)
		tap_diag("cause: %s", cause);
	if (line == NULL)
		return;
	ok(strncmp(line, "ssh-ed25519-cert-v01@openssh.com AAAA", 37) == 0, "cert line type");
	kid = strstr(line, " nbgate: /C=US");
	ok(kid != NULL && strcmp(kid, " nbgate: /C=US/O=Example/CN=Alice Smith") == 0,
	    "cert line ends with the key id");
	b64 = xstrndup(line + 33, strcspn(line + 33, " "));
	blob = unb64(b64, &blen);
	r = (struct rd){ blob, blen, 0 };
	p = get_s(&r, &n);
	ok(s_is(p, n, "ssh-ed25519-cert-v01@openssh.com"), "blob type");
	get_s(&r, &n);
	is_int(n, 32, "32-byte nonce");
	p = get_s(&r, &n);
	ok(sshcert_parse_privkey(key, strlen(key), seed, pk, &cause) == 0, "own key parses back");
	ok(n == 32 && memcmp(p, pk, 32) == 0, "certified key is the returned key's public half");
	get_u(&r, 8);
	is_int(get_u(&r, 4), 1, "user certificate");
	p = get_s(&r, &n);
	ok(s_is(p, n, "nbgate: /C=US/O=Example/CN=Alice Smith"), "key id records the DN");
	p = get_s(&r, &n);
	q = (struct rd){ p, n, 0 };
	p = get_s(&q, &m);
	ok(s_is(p, m, "alice") && q.left == 0, "one principal: alice");
	is_int(get_u(&r, 8), 1000000, "valid after");
	is_int(get_u(&r, 8), 4000000000LL, "valid before");
	get_s(&r, &n);
	is_int(n, 0, "no critical options");
	get_s(&r, &n);
	is_int(n, 0, "no extensions");
	get_s(&r, &n);
	p = get_s(&r, &n);
	cafile = xmalloc(65536);
	f = fopen(cakey, "r");
	flen = f != NULL ? fread(cafile, 1, 65535, f) : 0;
	if (f != NULL)
		fclose(f);
	ok(sshcert_parse_privkey(cafile, flen, ca_seed, ca_pk, &cause) == 0, "CA key parses");
	q = (struct rd){ p, n, 0 };
	get_s(&q, &m);
	p = get_s(&q, &m);
	ok(m == 32 && memcmp(p, ca_pk, 32) == 0, "signature key is the CA's");
	signed_end = r.p;
	p = get_s(&r, &n);
	q = (struct rd){ p, n, 0 };
	p = get_s(&q, &m);
	ok(s_is(p, m, "ssh-ed25519"), "signature type");
	sig = get_s(&q, &m);
	ok(!r.bad && r.left == 0, "nothing after the signature");
	ca = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, ca_pk, 32);
	md = EVP_MD_CTX_new();
	ok(m == 64 && EVP_DigestVerifyInit(md, NULL, NULL, NULL, ca) == 1 &&
	    EVP_DigestVerify(md, sig, 64, blob, signed_end - blob) == 1,
	    "Ed25519 signature verifies with the CA public key");
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(ca);

	ok(ssh_pki_import_privkey_base64(key, NULL, NULL, NULL, &skey) == SSH_OK,
	    "libssh imports the private key");
	ok(ssh_pki_import_cert_base64(b64, SSH_KEYTYPE_ED25519_CERT01, &scert) == SSH_OK,
	    "libssh imports the certificate");
	ok(skey != NULL && scert != NULL && ssh_pki_copy_cert_to_privkey(scert, skey) == SSH_OK,
	    "libssh attaches the certificate to the key");
	ssh_key_free(skey);
	ssh_key_free(scert);
	ok(strstr(key, "-----BEGIN OPENSSH PRIVATE KEY-----\n") == key, "key is OpenSSH PEM");
	free(b64);
	t = NULL;
	ok(sshcert_mint(cakey, "alice", "k", 1, 2, &t, &b64, &cause) == 0 &&
	    strcmp(t, key) != 0, "a second mint makes a different key");
	freestr(t);
	free(b64);
	free(blob);
	free(cafile);
	freestr(key);
	free(line);
	free(cause);
}

static void
refused(const char *cakey, const char *principal, const char *kid, time_t a, time_t b,
    const char *want, const char *what)
{
	char	*key = NULL, *line = NULL, *cause = NULL;

	ok(sshcert_mint(cakey, principal, kid, a, b, &key, &line, &cause) == -1 &&
	    key == NULL && line == NULL, "refused: %s", what);
	has_str(cause, want, "  message: %s", want);
	free(cause);
}

int
main(void)
{
	char	 tmpl[] = "/tmp/test-sshcert.XXXXXX", *ca, *enc, *rsa, *junk, *cause = NULL;
	int	 failed;

	log_init("test-sshcert", LOG_WARN);
	if ((dir = mkdtemp(tmpl)) == NULL)
		return (1);
	ca = keygen("ca", "ed25519", "");
	enc = keygen("enc", "ed25519", "secret-pass");
	rsa = keygen("rsa", "rsa", "");
	xasprintf(&junk, "%s/junk", dir);
	util_write_file(junk, "hello\n", 6, 0600, &cause);

	test_fields(ca);
	refused(enc, "alice", "k", 1, 2, "the key is encrypted (cipher aes256-ctr); an "
	    "unencrypted key is needed", "encrypted CA key");
	refused(rsa, "alice", "k", 1, 2, "the key is not an ed25519 key", "RSA CA key");
	refused(junk, "alice", "k", 1, 2, "not an OpenSSH private key", "not a key");
	refused("/nonexistent/ca", "alice", "k", 1, 2, "/nonexistent/ca: No such file",
	    "missing file");
	refused(ca, "", "k", 1, 2, "principal:", "empty principal");
	refused(ca, "alice\nbob", "k", 1, 2, "principal:", "newline in principal");
	refused(ca, "alice,bob", "k", 1, 2, "principal:", "comma in principal");
	refused(ca, "alice", "k\r", 1, 2, "key id:", "control character in key id");
	refused(ca, "alice", "k", 2, 2, "validity:", "empty window");

	failed = tap_done();
	if (failed == 0)
		tap_rmtree(dir);
	else
		tap_diag("keys kept in %s", dir);
	free(ca);
	free(enc);
	free(rsa);
	free(junk);
	free(cause);
	return (failed);
}
