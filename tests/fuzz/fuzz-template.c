/*
 * fuzz-template.c: libFuzzer target for scheduler/template.c. The input is
 * variables, one "name=value" a line ("!name=value" for trusted text), then
 * a line "%%", then the template; rendering must succeed or say why.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Undoes template_quote(): '...' pieces joined by \' ; NULL if malformed. */
static char *
unquote(const char *q)
{
	char	*out = xmalloc(strlen(q) + 1), *o = out;

	while (*q != '\0') {
		if (*q == '\\' && q[1] == '\'') {
			*o++ = '\'';
			q += 2;
		} else if (*q == '\'') {
			for (q++; *q != '\0' && *q != '\''; q++)
				*o++ = *q;
			if (*q++ != '\'')
				goto bad;
		} else
			goto bad;
	}
	*o = '\0';
	return (out);
bad:
	free(out);
	return (NULL);
}

/* Quoting must round-trip exactly. */
static void
check_quote(const char *value)
{
	char	*q = template_quote(value), *back = unquote(q);

	if (back == NULL || strcmp(back, value) != 0)
		abort();
	free(back);
	free(q);
}

/* Reads "name=value" lines up to "%%"; returns where the template starts. */
static const char *
read_vars(struct template_vars *vars, const char *p, const char *end)
{
	const char	*nl, *eq;
	char		*name, *value;
	int		 trusted;

	while (p < end && (nl = memchr(p, '\n', end - p)) != NULL) {
		if (nl - p == 2 && memcmp(p, "%%", 2) == 0)
			return (nl + 1);
		trusted = (*p == '!');
		eq = memchr(p, '=', nl - p);
		if (eq != NULL && eq > p + trusted && eq - p < 64) {
			name = xstrndup(p + trusted, eq - p - trusted);
			value = xstrndup(eq + 1, nl - eq - 1);
			template_vars_set(vars, name, value, trusted ?
			    TEMPLATE_TRUSTED : TEMPLATE_USER);
			check_quote(value);
			free(name);
			free(value);
		}
		p = nl + 1;
	}
	return (p);
}

/* One input: render, check the result's invariants, free. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct template_vars	*vars = template_vars_new();
	const char		*text, *end = (const char *)data + size;
	char			*out, *cause = NULL;

	text = read_vars(vars, (const char *)data, end);
	out = template_render(text, end - text, vars, &cause);
	if (out == NULL && (cause == NULL || strncmp(cause, "line ", 5) != 0))
		abort();	/* a refusal always says where and why */
	if (out != NULL && (cause != NULL ||
	    strlen(out) > TEMPLATE_MAX_OUTPUT))
		abort();
	free(out);
	free(cause);
	template_vars_free(vars);
	return (0);
}
