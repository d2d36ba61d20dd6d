/*
 * activity.c: the agent's activity report (tunnel/PROTOCOL section 9), one
 * line of text the agent encodes and the gateway decodes: what the notebook
 * server and the job's processes have been doing.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* One field: its name and where its value goes. */
struct act_field {
	const char	*name;
	size_t		 off;
	long long	 max;
};

#define ACT_OFF(f)	offsetof(struct activity, f)
static const struct act_field act_fields[] = {
	{ "kernels", ACT_OFF(kernels), 1000000 },
	{ "busy", ACT_OFF(busy), 1000000 },
	{ "terminals", ACT_OFF(terminals), 1000000 },
	{ "connections", ACT_OFF(connections), 1000000 },
	{ "idle", ACT_OFF(idle), 100LL * 365 * 86400 },
	{ "cpu_ms", ACT_OFF(cpu_ms), 1LL << 53 },
};
#define ACT_NFIELDS	(sizeof act_fields / sizeof act_fields[0])

/* Encodes @a as one report line, newline included; caller frees. */
char *
activity_encode(const struct activity *a)
{
	char	*out;

	xasprintf(&out, "%s kernels=%lld busy=%lld terminals=%lld "
	    "connections=%lld idle=%lld cpu_ms=%lld\n", ACTIVITY_TAG,
	    a->kernels, a->busy, a->terminals, a->connections, a->idle,
	    a->cpu_ms);
	return (out);
}

/* Takes one "name=value" word into @a; unknown names are skipped. */
static int
act_word(const char *w, size_t n, struct activity *a)
{
	const struct act_field	*f;
	const char		*eq = memchr(w, '=', n);
	char			*end, num[24];
	long long		 v;
	size_t			 i, vlen;

	if (eq == NULL || eq == w)
		return (-1);
	if ((vlen = n - (size_t)(eq + 1 - w)) == 0)
		return (-1);
	for (i = 0; i < ACT_NFIELDS; i++) {
		f = &act_fields[i];
		if (strlen(f->name) == (size_t)(eq - w) &&
		    memcmp(f->name, w, (size_t)(eq - w)) == 0)
			break;
	}
	if (i == ACT_NFIELDS)
		return (0);	/* a later version's field, whatever its value */
	if (vlen >= sizeof num)
		return (-1);
	memcpy(num, eq + 1, vlen);
	num[vlen] = '\0';
	if (strspn(num, "0123456789") != vlen && strcmp(num, "-1") != 0)
		return (-1);
	errno = 0;
	v = strtoll(num, &end, 10);
	if (errno != 0 || *end != '\0' || v > f->max || (v < 0 &&
	    f->off != ACT_OFF(idle)))
		return (-1);
	*(long long *)((char *)a + f->off) = v;
	return (0);
}

/*
 * Decodes one report line (without its newline, at most ACTIVITY_LINE_MAX
 * bytes) into @a: 0, or -1 if it is not a report.  Absent fields are 0
 * (idle -1: unknown); fields of later versions are skipped.
 */
int
activity_decode(const char *line, size_t len, struct activity *a)
{
	size_t	 n, tag = strlen(ACTIVITY_TAG);

	memset(a, 0, sizeof *a);
	a->idle = -1;
	if (len > ACTIVITY_LINE_MAX || len < tag || memcmp(line, ACTIVITY_TAG,
	    tag) != 0 || (len > tag && line[tag] != ' '))
		return (-1);
	line += tag;
	len -= tag;
	while (len > 0) {
		if (*line == ' ') {
			line++;
			len--;
			continue;
		}
		for (n = 0; n < len && line[n] != ' '; n++) {
			if (line[n] < 0x21 || line[n] > 0x7e)
				return (-1);
		}
		if (act_word(line, n, a) != 0)
			return (-1);
		line += n;
		len -= n;
	}
	if (a->busy > a->kernels)
		return (-1);
	return (0);
}

/*
 * The leaving line (tunnel/PROTOCOL section 9): "nbgate-exit/1 " and the
 * reason with "\\", newline and tab written as "\\\\", "\\n" and "\\t", so
 * that it is one line; the agent sends it on the activity channel just
 * before its DISCONNECT.  Encodes @why (already cleaned); caller frees.
 */
char *
activity_leave_encode(const char *why)
{
	size_t	 tag = strlen(ACTIVITY_LEAVE_TAG), len = strlen(why);
	char	*out = xmalloc(tag + 2 * len + 2), *o;

	memcpy(out, ACTIVITY_LEAVE_TAG, tag);
	for (o = out + tag; *why != '\0'; why++) {
		if (*why == '\\' || *why == '\n' || *why == '\t') {
			*o++ = '\\';
			*o++ = *why == '\n' ? 'n' : *why == '\t' ? 't' : '\\';
		} else
			*o++ = *why;
	}
	*o++ = '\n';
	*o = '\0';
	return (out);
}

/*
 * Decodes a leaving line (without its newline, at most ACTIVITY_LEAVE_MAX
 * bytes): 1 and the raw reason in *@why (caller frees and cleans it); 0 if
 * the line is not one (a report, say); -1 if it is a broken one.
 */
int
activity_leave_decode(const char *line, size_t len, char **why)
{
	size_t	 tag = strlen(ACTIVITY_LEAVE_TAG), i;
	char	*out, *o;

	*why = NULL;
	if (len < tag || memcmp(line, ACTIVITY_LEAVE_TAG, tag) != 0)
		return (0);
	if (len > ACTIVITY_LEAVE_MAX || memchr(line, '\0', len) != NULL)
		return (-1);
	o = out = xmalloc(len - tag + 1);
	for (i = tag; i < len; i++) {
		if (line[i] != '\\') {
			*o++ = line[i];
			continue;
		}
		if (++i == len || strchr("nt\\", line[i]) == NULL) {
			free(out);
			return (-1);
		}
		*o++ = line[i] == 'n' ? '\n' : line[i] == 't' ? '\t' : '\\';
	}
	*o = '\0';
	*why = out;
	return (1);
}
