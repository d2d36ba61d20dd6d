/*
 * cred-cli.c: drives the credential library for the integration tests (test_sshcert.py,
 * test_myproxy.py). Secrets come on stdin, never in argv.
 *   cred-cli mint CAKEY PRINCIPAL KEYID AFTER BEFORE OUTDIR   -> OUTDIR/id, OUTDIR/id-cert.pub
 *   cred-cli login HOST PORT USER KNOWNHOSTS KEYFILE CERTFILE COMMAND   (libssh, prints output)
 *   cred-cli logon HOST PORT CADIR SERVERDN|- USER LIFETIME OUTDIR GRIDMAP (passphrase on
 *     stdin) -> OUTDIR/chain.pem, OUTDIR/key.pem; prints the x509_verify() identity
 * Exit 0 on success; 1 with "cred-cli: CAUSE" on stderr otherwise.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "daemon/daemon.h"

static int
fail(const char *what, const char *cause)
{
	fprintf(stderr, "cred-cli: %s: %s\n", what, cause ? cause : "(no cause)");
	return (1);
}

static int
write_out(const char *dir, const char *name, const char *text, mode_t mode)
{
	char	*path, *cause = NULL;
	int	 rv;

	xasprintf(&path, "%s/%s", dir, name);
	rv = util_write_file(path, text, strlen(text), mode, &cause);
	if (rv != 0)
		fail(path, cause);
	free(cause);
	free(path);
	return (rv);
}

static int
cmd_mint(char **av)
{
	char	*key = NULL, *cert = NULL, *cause = NULL, *line;
	int	 rv;

	if (sshcert_mint(av[0], av[1], av[2], (time_t)strtoll(av[3], NULL, 10),
	    (time_t)strtoll(av[4], NULL, 10), &key, &cert, &cause) != 0) {
		rv = fail("mint", cause);
		free(cause);
		return (rv);
	}
	xasprintf(&line, "%s\n", cert);
	rv = write_out(av[5], "id", key, 0600) || write_out(av[5], "id-cert.pub", line, 0644);
	freestr(key);
	free(cert);
	free(line);
	return (rv);
}

static char *
read_all(const char *path)
{
	FILE	*f;
	char	*buf;
	size_t	 n;

	if ((f = fopen(path, "re")) == NULL)
		return (NULL);
	buf = xmalloc(65537);
	n = fread(buf, 1, 65536, f);
	buf[n] = '\0';
	fclose(f);
	return (buf);
}

/* Logs in with libssh the way scheduler/transport.c does, from base64 key + cert. */
static int
cmd_login(char **av)
{
	ssh_session	 s;
	ssh_channel	 ch = NULL;
	ssh_key		 priv = NULL, cert = NULL;
	char		*key, *certline, *b64, buf[4096];
	int		 port = atoi(av[1]), no = 0, rv = 1, n;
	long		 timeout = 15;

	if ((key = read_all(av[4])) == NULL || (certline = read_all(av[5])) == NULL)
		return (fail("login", "cannot read key or certificate"));
	b64 = strchr(certline, ' ');
	if (b64 == NULL)
		return (fail("login", "no space in the certificate line"));
	*b64++ = '\0';
	b64[strcspn(b64, " \n")] = '\0';
	if (ssh_pki_import_privkey_base64(key, NULL, NULL, NULL, &priv) != SSH_OK)
		return (fail("login", "libssh cannot import the private key"));
	if (ssh_pki_import_cert_base64(b64, ssh_key_type_from_name(certline), &cert) != SSH_OK)
		return (fail("login", "libssh cannot import the certificate"));
	if (ssh_pki_copy_cert_to_privkey(cert, priv) != SSH_OK)
		return (fail("login", "libssh cannot attach the certificate to the key"));
	s = ssh_new();
	ssh_options_set(s, SSH_OPTIONS_HOST, av[0]);
	ssh_options_set(s, SSH_OPTIONS_PORT, &port);
	ssh_options_set(s, SSH_OPTIONS_USER, av[2]);
	ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
	ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
	ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, av[3]);
	if (ssh_connect(s) != SSH_OK) {
		fail("login: connect", ssh_get_error(s));
		goto out;
	}
	if (ssh_session_is_known_server(s) != SSH_KNOWN_HOSTS_OK) {
		fail("login", "the host key is not in the known hosts file");
		goto out;
	}
	if (ssh_userauth_publickey(s, NULL, priv) != SSH_AUTH_SUCCESS) {
		fail("login: publickey authentication refused", ssh_get_error(s));
		goto out;
	}
	if ((ch = ssh_channel_new(s)) == NULL || ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, av[6]) != SSH_OK) {
		fail("login: exec", ssh_get_error(s));
		goto out;
	}
	while ((n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, 15000)) > 0)
		fwrite(buf, 1, n, stdout);
	rv = ssh_channel_get_exit_status(ch) == 0 ? 0 : 1;
out:
	if (ch != NULL)
		ssh_channel_free(ch);
	ssh_disconnect(s);
	ssh_free(s);
	ssh_key_free(priv);
	ssh_key_free(cert);
	freestr(key);
	free(certline);
	return (rv);
}

/* MyProxy logon (passphrase on stdin), then x509_verify() of what came back. */
static int
cmd_logon(char **av)
{
	struct myproxy_opts	 o = { 0 };
	struct x509_policy	 pol = { 0 };
	struct x509_ident	 id;
	struct timespec		 t0, t1;
	char			*pass = NULL, *chain = NULL, *key = NULL, *cause = NULL;
	size_t			 cap = 0;
	int			 rv = 1;

	if (getline(&pass, &cap, stdin) == -1) {
		free(pass);
		return (fail("logon", "no passphrase on stdin"));
	}
	pass[strcspn(pass, "\n")] = '\0';
	o.host = av[0];
	o.port = atoi(av[1]);
	o.ca_dir = av[2];
	o.server_dn = strcmp(av[3], "-") == 0 ? NULL : av[3];
	o.timeout = getenv("CRED_TIMEOUT") != NULL ? atoi(getenv("CRED_TIMEOUT")) : 20;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (myproxy_logon(&o, av[4], pass, atoi(av[5]), &chain, &key, &cause) != 0) {
		fail("logon", cause);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("logon_ms=%ld\n", (long)((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000));
	if (write_out(av[6], "chain.pem", chain, 0644) || write_out(av[6], "key.pem", key, 0600))
		goto out;
	pol.ca_dir = av[2];
	pol.gridmap = av[7];
	if (x509_verify(chain, strlen(chain), key, strlen(key), NULL, &pol, &id, &cause) != 0) {
		fail("x509_verify", cause);
		goto out;
	}
	printf("dn=%s\naccount=%s\nproxy=%d\nnot_after=%lld\n", id.dn, id.account, id.proxy,
	    (long long)id.not_after);
	x509_ident_free(&id);
	rv = 0;
out:
	freestr(pass);
	free(chain);
	freestr(key);
	free(cause);
	return (rv);
}

int
main(int argc, char **argv)
{
	log_init("cred-cli", LOG_WARN);
	signal(SIGPIPE, SIG_IGN);	/* as nbgated does */
	if (argc == 8 && strcmp(argv[1], "mint") == 0)
		return (cmd_mint(argv + 2));
	if (argc == 9 && strcmp(argv[1], "login") == 0)
		return (cmd_login(argv + 2));
	if (argc == 10 && strcmp(argv[1], "logon") == 0)
		return (cmd_logon(argv + 2));
	fprintf(stderr, "usage: cred-cli mint|login|logon ... (see cred-cli.c)\n");
	return (2);
}
