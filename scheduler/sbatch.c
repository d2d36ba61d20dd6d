/*
 * sbatch.c: the #SBATCH directives of a batch script, the subset nbgate's
 * templates write and nothing else, read into struct sbatch_opts: for the
 * backends that submit without sbatch (libslurm in nbgate-slurmlib, slurmrestd).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/sbatch.h"


enum opt {
	O_PARTITION, O_TIME, O_NODES, O_NTASKS, O_CPUS, O_MEM, O_GRES, O_ACCOUNT,
	O_RESERVATION, O_QOS, O_NAME, O_COMMENT, O_OUTPUT, O_ERROR, O_CHDIR, O_SIGNAL
};
static const struct {
	const char	*name;
	int		 letter;	/* 0: long form only */
	enum opt	 opt;
} slurmlib_opts[] = {
	{ "partition",		'p',	O_PARTITION },
	{ "time",		't',	O_TIME },
	{ "nodes",		'N',	O_NODES },
	{ "ntasks",		'n',	O_NTASKS },
	{ "cpus-per-task",	'c',	O_CPUS },
	{ "mem",		0,	O_MEM },
	{ "gres",		0,	O_GRES },
	{ "signal",		0,	O_SIGNAL },
	{ "account",		'A',	O_ACCOUNT },
	{ "reservation",	0,	O_RESERVATION },
	{ "qos",		'q',	O_QOS },
	{ "job-name",		'J',	O_NAME },
	{ "comment",		0,	O_COMMENT },
	{ "output",		'o',	O_OUTPUT },
	{ "error",		'e',	O_ERROR },
	{ "chdir",		'D',	O_CHDIR },
};

int
sbatch_number(const char *s, unsigned long max, unsigned long *v)
{
	char	*end;

	if (*s < '0' || *s > '9')
		return (-1);
	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || *v > max)
		return (-1);
	return (0);
}

/* sbatch's forms: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S; to minutes, rounded up. */
static int
minutes(const char *s, uint32_t *mins)
{
	unsigned long	 f[4] = { 0, 0, 0, 0 }, d = 0, secs;
	const char	*p = s, *dash = strchr(s, '-');
	char		*tmp;
	size_t		 n = 0;
	int		 rc = 0;

	if (dash != NULL) {
		tmp = xstrndup(s, dash - s);
		rc = sbatch_number(tmp, 365, &d);
		free(tmp);
		p = dash + 1;
	}
	while (rc == 0 && n < 3) {
		tmp = xstrndup(p, strcspn(p, ":"));
		rc = sbatch_number(tmp, 100000, &f[n++]);
		p += strlen(tmp);
		free(tmp);
		if (*p != ':')
			break;
		p++;
	}
	if (rc == -1 || *p != '\0' || (dash == NULL && n == 1 && f[0] == 0))
		return (-1);
	if (dash != NULL)	/* D-H[:M[:S]] */
		secs = d * 86400 + f[0] * 3600 + f[1] * 60 + f[2];
	else if (n == 1)	/* M */
		secs = f[0] * 60;
	else if (n == 2)	/* M:S */
		secs = f[0] * 60 + f[1];
	else			/* H:M:S */
		secs = f[0] * 3600 + f[1] * 60 + f[2];
	*mins = (secs + 59) / 60;
	return (0);
}

/* 1024, 1024M, 4G, 1T, 512K: MiB. */
static int
megabytes(const char *s, uint64_t *mb)
{
	size_t		 len = strlen(s);
	unsigned long	 v, mul = 1;
	char		*tmp;
	int		 rc;

	if (len > 0 && strchr("KMGTkmgt", s[len - 1]) != NULL) {
		switch (toupper((unsigned char)s[len - 1])) {
		case 'K': mul = 0; break;
		case 'G': mul = 1024; break;
		case 'T': mul = 1024 * 1024; break;
		}
		len--;
	}
	tmp = xstrndup(s, len);
	rc = sbatch_number(tmp, 1UL << 40, &v);
	free(tmp);
	if (rc == -1)
		return (-1);
	*mb = mul == 0 ? (v + 1023) / 1024 : (uint64_t)v * mul;
	return (*mb == 0 ? -1 : 0);
}

static int
set_string(char **field, const char *v)
{
	free(*field);
	*field = xstrdup(v);
	return (0);
}

/* --signal=[B:]SIG[@SECONDS]: SIG a name of USR1 USR2 TERM INT HUP, or 1-64. */
static int
warn_signal(struct sbatch_opts *d, const char *v)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM },
		{ "INT", SIGINT }, { "HUP", SIGHUP },
	};
	char		*sig;
	const char	*at;
	unsigned long	 n, secs = 60;	/* sbatch's default */
	size_t		 i;
	int		 rc = -1;

	if (strncmp(v, "B:", 2) == 0) {
		d->warn_batch = 1;
		v += 2;
	}
	if ((at = strchr(v, '@')) != NULL &&
	    sbatch_number(at + 1, 65535, &secs) == -1)
		return (-1);
	sig = xstrndup(v, at != NULL ? (size_t)(at - v) : strlen(v));
	if (strncmp(sig, "SIG", 3) == 0)
		memmove(sig, sig + 3, strlen(sig + 3) + 1);
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(sig, names[i].name) == 0) {
			d->warn_signal = names[i].sig;
			rc = 0;
		}
	}
	if (rc == -1 && sbatch_number(sig, 64, &n) == 0 && n > 0) {
		d->warn_signal = n;
		rc = 0;
	}
	free(sig);
	d->warn_time = secs;
	return (rc);
}

static int
apply(struct sbatch_opts *d, enum opt o, const char *v)
{
	unsigned long	 n, m;
	const char	*dash;
	char		*tmp;
	int		 rc;

	switch (o) {
	case O_PARTITION:	return (set_string(&d->partition, v));
	case O_ACCOUNT:		return (set_string(&d->account, v));
	case O_RESERVATION:	return (set_string(&d->reservation, v));
	case O_QOS:		return (set_string(&d->qos, v));
	case O_NAME:		return (set_string(&d->name, v));
	case O_COMMENT:		return (set_string(&d->comment, v));
	case O_OUTPUT:		return (set_string(&d->output, v));
	case O_ERROR:		return (set_string(&d->error, v));
	case O_CHDIR:		return (set_string(&d->chdir, v));
	case O_TIME:		return (minutes(v, &d->time_min));
	case O_MEM:		return (megabytes(v, &d->mem_mb));
	case O_SIGNAL:		return (warn_signal(d, v));
	case O_NTASKS:
		if (sbatch_number(v, 1000000, &n) == -1 || n == 0)
			return (-1);
		d->ntasks = n;
		return (0);
	case O_CPUS:
		if (sbatch_number(v, 65000, &n) == -1 || n == 0)
			return (-1);
		d->cpus = n;
		return (0);
	case O_NODES:	/* N or N-M */
		if ((dash = strchr(v, '-')) == NULL) {
			if (sbatch_number(v, 100000, &n) == -1 || n == 0)
				return (-1);
			d->nodes_min = d->nodes_max = n;
			return (0);
		}
		tmp = xstrndup(v, dash - v);
		rc = sbatch_number(tmp, 100000, &n);
		free(tmp);
		if (rc == -1 || sbatch_number(dash + 1, 100000, &m) == -1 || n == 0 || m < n)
			return (-1);
		d->nodes_min = n;
		d->nodes_max = m;
		return (0);
	case O_GRES:	/* gpu:N only */
		if (strncmp(v, "gpu:", 4) != 0 || sbatch_number(v + 4, 1024, &n) == -1 || n == 0)
			return (-1);
		d->gpus = n;
		return (0);
	}
	return (-1);
}

/* Letters, digits and _.:=/,%@+- only: nothing a shell or sbatch would treat specially. */
static int
word_safe(const char *w)
{
	for (; *w != '\0'; w++) {
		if (!isalnum((unsigned char)*w) && strchr("_.:=/,%@+-", *w) == NULL)
			return (0);
	}
	return (1);
}

/* One #SBATCH line's words, from i on; returns the next index or -1 with *cause. */
static int
option(struct sbatch_opts *d, char **w, int nw, int i, int line, char **cause)
{
	const char	*name = w[i], *eq = NULL, *value = NULL;
	size_t		 k, namelen;

	if (strncmp(name, "--", 2) == 0) {
		name += 2;
		eq = strchr(name, '=');
		namelen = eq != NULL ? (size_t)(eq - name) : strlen(name);
		for (k = 0; k < nitems(slurmlib_opts); k++) {
			if (strlen(slurmlib_opts[k].name) == namelen &&
			    strncmp(slurmlib_opts[k].name, name, namelen) == 0)
				break;
		}
		value = eq != NULL ? eq + 1 : NULL;
	} else if (name[0] == '-' && name[1] != '\0' && name[1] != '-') {
		for (k = 0; k < nitems(slurmlib_opts); k++) {
			if (slurmlib_opts[k].letter == name[1])
				break;
		}
		value = name[2] != '\0' ? name + 2 : NULL;
	} else {
		xasprintf(cause, "#SBATCH (line %d): unexpected word \"%s\"", line, w[i]);
		return (-1);
	}
	if (k == nitems(slurmlib_opts)) {
		xasprintf(cause, "#SBATCH (line %d): directive \"%.*s\" is not supported",
		    line, (int)strcspn(w[i], "="), w[i]);
		return (-1);
	}
	if (value == NULL) {
		if (i + 1 >= nw) {
			xasprintf(cause, "#SBATCH (line %d): %s needs a value", line, w[i]);
			return (-1);
		}
		value = w[++i];
	}
	if (*value == '\0' || apply(d, slurmlib_opts[k].opt, value) == -1) {
		xasprintf(cause, "#SBATCH (line %d): invalid value \"%s\" for --%s", line, value,
		    slurmlib_opts[k].name);
		return (-1);
	}
	return (i + 1);
}

static int
directive(struct sbatch_opts *d, const char *text, size_t len, int line, char **cause)
{
	char	*copy = xstrndup(text, len), *w[64], *p, *save = NULL;
	int	 nw = 0, i = 0, rc = 0;

	for (p = strtok_r(copy, " \t\r", &save); p != NULL; p = strtok_r(NULL, " \t\r", &save)) {
		if (!word_safe(p)) {
			xasprintf(cause, "#SBATCH (line %d): \"%s\" holds a character nbgate does "
			    "not allow in directives", line, p);
			rc = -1;
			goto out;
		}
		if (nw == (int)nitems(w)) {
			xasprintf(cause, "#SBATCH (line %d): too many words", line);
			rc = -1;
			goto out;
		}
		w[nw++] = p;
	}
	while (i < nw) {
		if ((i = option(d, w, nw, i, line, cause)) == -1) {
			rc = -1;
			goto out;
		}
	}
out:
	free(copy);
	return (rc);
}

/* Like sbatch: directives until the first line that is neither blank nor a comment. */
int
sbatch_parse(const char *script, struct sbatch_opts *d, char **cause)
{
	const char	*p = script, *nl;
	size_t		 len, skip;
	int		 line = 0;

	for (; *p != '\0'; p = nl + (*nl != '\0')) {
		nl = p + strcspn(p, "\n");
		len = nl - p;
		line++;
		skip = strspn(p, " \t\r");
		if (skip == len)
			continue;
		if (p[skip] != '#')
			break;
		if (len - skip >= 7 && strncmp(p + skip, "#SBATCH", 7) == 0) {
			if (len - skip > 7 && p[skip + 7] != ' ' && p[skip + 7] != '\t') {
				xasprintf(cause, "line %d: malformed #SBATCH line", line);
				return (-1);
			}
			if (directive(d, p + skip + 7, len - skip - 7, line, cause) == -1)
				return (-1);
		}
	}
	d->end = (size_t)(p - script);
	return (0);
}

/* Frees the strings and zeroes. */
void
sbatch_opts_clear(struct sbatch_opts *d)
{
	free(d->partition);
	free(d->account);
	free(d->reservation);
	free(d->qos);
	free(d->name);
	free(d->comment);
	free(d->output);
	free(d->error);
	free(d->chdir);
	memset(d, 0, sizeof *d);
}
