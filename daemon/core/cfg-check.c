/*
 * cfg-check.c: checks of single values (names, URLs, paths, host keys) the
 * key tables of cfg-top.c and cfg-cluster.c name in .check.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "daemon/core/core.h"
#include "daemon/core/cfg.h"

/* User names as useradd accepts them by default. */
int
cfg_check_user(const char *s, char **problem)
{
	if (util_user_name_valid(s))
		return (0);
	xasprintf(problem, "'%s' is not a user name ([a-z_][a-z0-9_.-]{0,31})",
	    s);
	return (-1);
}

/* Empty (derive from the request) or an http(s) URL. */
int
cfg_check_url(const char *s, char **problem)
{
	if (*s == '\0' || strncmp(s, "https://", 8) == 0 ||
	    strncmp(s, "http://", 7) == 0)
		return (0);
	xasprintf(problem, "'%s' is not an http:// or https:// URL", s);
	return (-1);
}

/* True if s is made only of characters in set, with a length in 1..max. */
static int
cfg_charset(const char *s, const char *set, size_t max)
{
	size_t	len = strlen(s);

	return (len >= 1 && len <= max && strspn(s, set) == len);
}

#define CFG_ALNUM	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* Cluster names appear in URLs, logs and paths: [a-z0-9_-], 32 at most. */
int
cfg_check_cluster_name(const char *s, char **problem)
{
	if (cfg_charset(s, "abcdefghijklmnopqrstuvwxyz0123456789_-", 32) &&
	    *s != '-')
		return (0);
	xasprintf(problem, "'%s' is not a cluster name (lowercase letters, "
	    "digits, '_', '-'; at most 32)", s);
	return (-1);
}

/*
 * Queue, account, reservation, QOS and container names. Queue, account,
 * reservation and QOS go into #SBATCH/#PBS lines unquoted, so they are held
 * to a charset that needs no quoting and cannot start an option.
 */
int
cfg_check_sched_name(const char *s, char **problem)
{
	if (util_batch_name_valid(s))
		return (0);
	xasprintf(problem, "'%s' is not a scheduler name (letters, digits, "
	    "'_', '.', '-'; at most 64; not starting with '-' or '.')", s);
	return (-1);
}

/* A PAM service: a file name in /etc/pam.d. */
int
cfg_check_pam_service(const char *s, char **problem)
{
	if (*s != '\0' && cfg_charset(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-",
	    64) && *s != '.')
		return (0);
	xasprintf(problem, "'%s' is not a PAM service name (lowercase letters, "
	    "digits, '_', '.', '-'; at most 64; not starting with '.')", s);
	return (-1);
}

/* An https:// URL without spaces, query or fragment (an OIDC issuer). */
int
cfg_check_https(const char *s, char **problem)
{
	if (strncmp(s, "https://", 8) == 0 && s[8] != '\0' && s[8] != '/' &&
	    cfg_charset(s, CFG_ALNUM ":/._~%-", 512))
		return (0);
	xasprintf(problem, "'%s' is not an https:// URL without query (e.g. "
	    "https://cilogon.org)", s);
	return (-1);
}

/* proxy.user_hosts: "" or a host name with one {user}, e.g. {user}.nb.example.org. */
int
cfg_check_user_hosts(const char *s, char **problem)
{
	const char	*u = strstr(s, "{user}");

	if (*s == '\0' || (u != NULL && strstr(u + 1, "{user}") == NULL &&
	    strcspn(s, "{") == (size_t)(u - s) && strchr(u + 6, '{') == NULL &&
	    cfg_charset(s, "abcdefghijklmnopqrstuvwxyz0123456789.-{}", 253) &&
	    (u[6] == '.' || u[6] == '-') && strchr(u + 6, '.') != NULL))
		return (0);
	xasprintf(problem, "'%s' is not a host name pattern: expected one {user} "
	    "followed by the rest of a name, e.g. {user}.nb.example.org (lowercase, "
	    "no port)", s);
	return (-1);
}

/* A browser origin: http(s)://HOST[:PORT], nothing after it. */
int
cfg_check_origin(const char *s, char **problem)
{
	const char	*h = NULL;

	if (strncmp(s, "https://", 8) == 0)
		h = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		h = s + 7;
	if (h != NULL && *h != '\0' && *h != ':' && strpbrk(h, "/?#@") == NULL &&
	    cfg_charset(h, CFG_ALNUM ":.-[]", 300))
		return (0);
	xasprintf(problem, "'%s' is not an origin: expected https://HOST or "
	    "https://HOST:PORT, without a path", s);
	return (-1);
}

/* One printable word: no spaces or control characters, at most 256. */
int
cfg_check_word(const char *s, char **problem)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if ((u_char)s[i] <= 0x20 || (u_char)s[i] == 0x7f)
			break;
	}
	if (i > 0 && s[i] == '\0' && i <= 256)
		return (0);
	xasprintf(problem, "'%s' is not one word (printable, no spaces, at "
	    "most 256 characters)", s);
	return (-1);
}

/* The same, or empty for "none". */
int
cfg_check_word_opt(const char *s, char **problem)
{
	return (*s == '\0' ? 0 : cfg_check_word(s, problem));
}

/* A button's label: one line, 1 to 64 bytes. */
int
cfg_check_label(const char *s, char **problem)
{
	if (*s != '\0' && strlen(s) <= 64 && cfg_check_line(s, problem) == 0)
		return (0);
	free(*problem);
	*problem = NULL;
	xasprintf(problem, "must be one line of 1 to 64 characters");
	return (-1);
}

/* The same, or empty for "none". */
int
cfg_check_sched_name_opt(const char *s, char **problem)
{
	if (*s == '\0')
		return (0);
	return (cfg_check_sched_name(s, problem));
}

/* One line of text: no control characters. */
int
cfg_check_line(const char *s, char **problem)
{
	const char	*p;

	for (p = s; *p != '\0'; p++) {
		if (iscntrl((u_char)*p)) {
			xasprintf(problem, "must be one line without control "
			    "characters");
			return (-1);
		}
	}
	return (0);
}

/* An OpenID Connect subject: 1 to 255 characters, no control characters. */
int
cfg_check_sub(const char *s, char **problem)
{
	if (*s == '\0' || strlen(s) > 255) {
		xasprintf(problem, "must be 1 to 255 characters");
		return (-1);
	}
	return (cfg_check_line(s, problem));
}

/* A container image: empty, an absolute path, or a scheme://reference. */
int
cfg_check_image(const char *s, char **problem)
{
	const char	*p;

	for (p = s; *p != '\0'; p++) {
		if (iscntrl((u_char)*p) || isspace((u_char)*p))
			goto bad;
	}
	if (*s == '\0' || *s == '/' || (strstr(s, "://") != NULL && *s != ':'))
		return (0);
bad:
	xasprintf(problem, "'%s' is not an image path or URI (e.g. "
	    "/shared/images/scipy.sif, docker://jupyter/scipy-notebook)", s);
	return (-1);
}

/* A pinned SSH host key: "type base64" as in known_hosts, no host name. */
int
cfg_check_hostkey(const char *s, char **problem)
{
	const char	*sp = strchr(s, ' ');
	char		*type = NULL, *b64 = NULL;
	ssh_key		 key = NULL;
	int		 rc = -1;

	if (sp == NULL)
		goto out;
	type = xstrndup(s, sp - s);
	sp += strspn(sp, " ");
	b64 = xstrndup(sp, strcspn(sp, " "));
	if (ssh_key_type_from_name(type) == SSH_KEYTYPE_UNKNOWN ||
	    ssh_pki_import_pubkey_base64(b64, ssh_key_type_from_name(type),
	    &key) != SSH_OK)
		goto out;
	rc = 0;
out:
	if (rc == -1) {
		xasprintf(problem, "not an OpenSSH public key (\"ssh-ed25519 "
		    "AAAA...\", as in the login node's ssh_host_*_key.pub)");
	}
	ssh_key_free(key);
	free(type);
	free(b64);
	return (rc);
}

/* An admin's extra #SBATCH/#PBS option: one line, starting with '-'. */
int
cfg_check_directive(const char *s, char **problem)
{
	if (*s == '-' && cfg_check_line(s, problem) == 0)
		return (0);
	free(*problem);
	*problem = NULL;
	xasprintf(problem, "'%s' is not one scheduler option on one line "
	    "(e.g. --qos=normal)", s);
	return (-1);
}

/* NAME=value for scheduler commands: a variable name, a value on one line. */
int
cfg_check_env(const char *s, char **problem)
{
	size_t	n = strspn(s, CFG_ALNUM "_");

	if (n > 0 && n <= 64 && s[n] == '=' && !isdigit((u_char)s[0]) &&
	    strlen(s) <= 4096 && cfg_check_line(s, problem) == 0)
		return (0);
	free(*problem);
	*problem = NULL;
	xasprintf(problem, "'%s' is not NAME=value on one line (e.g. "
	    "SGE_ROOT=/opt/sge)", s);
	return (-1);
}

/* A container bind: SRC[:DST[:OPTS]], absolute paths, no spaces or commas. */
int
cfg_check_bind(const char *s, char **problem)
{
	if (*s == '/' && cfg_charset(s, CFG_ALNUM "_./:+@-", 1024))
		return (0);
	xasprintf(problem, "'%s' is not a bind (/path or /src:/dst[:ro]; "
	    "letters, digits and _./:+@- only)", s);
	return (-1);
}

/* An IP address or a CIDR block (node_addresses). */
int
cfg_check_cidr(const char *s, char **problem)
{
	if (util_addr_match("::", s) != -1)
		return (0);
	xasprintf(problem, "'%s' is not an IP address or CIDR block (e.g. "
	    "10.1.0.0/16, 192.0.2.7, 2001:db8::/32)", s);
	return (-1);
}

/*
 * Where job output goes: it is written into #SBATCH/#PBS lines, so only a
 * quiet charset; relative paths are relative to the job's submit directory.
 */
int
cfg_check_output_dir(const char *s, char **problem)
{
	if (cfg_charset(s, CFG_ALNUM "_./-", 512) && *s != '-')
		return (0);
	xasprintf(problem, "'%s' is not an output directory (letters, digits "
	    "and _./- only)", s);
	return (-1);
}

/*
 * Each user's working directory: "$HOME/..." (the job's home) or an
 * absolute path, with {user} in it (one directory per gateway user, the
 * point of it on a community account), no "." or ".." segment.
 */
int
cfg_check_workdir(const char *s, char **problem)
{
	const char	*rest = strncmp(s, "$HOME/", 6) == 0 ? s + 6 : s;
	char		*copy = xstrdup(rest), *seg, *save = NULL;
	int		 ok;

	ok = (rest != s || *s == '/') && strstr(s, "{user}") != NULL &&
	    cfg_charset(rest, CFG_ALNUM "_./-{}", 512);
	for (seg = copy; ok && (seg = strstr(seg, "{user}")) != NULL; )
		memcpy(seg, "uuuuuu", 6);	/* no braces but {user}'s */
	ok = ok && strpbrk(copy, "{}") == NULL;
	for (seg = strtok_r(copy, "/", &save); ok && seg != NULL;
	    seg = strtok_r(NULL, "/", &save))
		ok = strcmp(seg, ".") != 0 && strcmp(seg, "..") != 0;
	free(copy);
	if (ok)
		return (0);
	xasprintf(problem, "'%s' is not a working directory ($HOME/... or an "
	    "absolute path containing {user}; letters, digits and _./- only, "
	    "no . or .. segments)", s);
	return (-1);
}
