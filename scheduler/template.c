/*
 * template.c: renders batch-script templates. {{name}} is always shell
 * single-quoted (or, in a #-comment/directive line, held to a strict
 * charset); {{#name}}...{{/name}} is kept if name is non-empty, {{^name}}
 * ...{{/name}} if it is empty; {{{name}}} inserts admin-trusted config text
 * as is; {{! ... }} is a comment (to the last }} of its line).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

#define TPL_MAX_DEPTH	16	/* nested sections */
#define TPL_MAX_NAME	64
#define TPL_MAX_VARS	256

/* Directive-safe values: no quoting needed, cannot start an option. */
#define TPL_DIRECTIVE_SET	"abcdefghijklmnopqrstuvwxyz" \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:=/-"

struct template_var {
	char			*name;
	char			*value;
	enum template_kind	 kind;
};
struct template_vars {
	struct template_var	*v;
	size_t			 n;
};

/*
 * Where the output stands, as sh would read it: enough to know whether a
 * placeholder lands in plain words (quote it), in a comment (directive
 * charset) or somewhere quoting would not protect (refuse).
 */
struct tpl_sh {
	int		 quote;		/* 0, '\'', '"' or '`' */
	int		 escape;	/* last byte was an unquoted backslash */
	int		 comment;	/* inside a # comment or directive */
	int		 word_start;	/* a '#' here would start a comment */
	int		 heredoc;	/* saw an unquoted << */
	char		 prev;		/* last byte emitted */
};

struct tpl_tag {
	char		 kind;		/* 'v' {{x}}, 'r' {{{x}}}, '#^/!' */
	const char	*name;
	size_t		 nlen;
	size_t		 len;		/* bytes of the whole tag */
};

struct tpl {
	const struct template_vars *vars;
	struct evbuffer	*out;
	struct tpl_sh	 sh;
	struct {
		const char	*name;
		size_t		 nlen;
		size_t		 line;
		int		 counted;	/* added to off */
	}		 stack[TPL_MAX_DEPTH];
	size_t		 depth;
	size_t		 off;		/* sections on the stack that are empty */
	size_t		 line;
	char		*cause;
};

/* An empty set of variables. */
struct template_vars *
template_vars_new(void)
{
	return (xcalloc(1, sizeof(struct template_vars)));
}

/* Sets (or replaces) a variable; name is [a-z_][a-z0-9_]*. */
void
template_vars_set(struct template_vars *vars, const char *name,
    const char *value, enum template_kind kind)
{
	struct template_var	*v;
	size_t			 i;

	for (i = 0; i < vars->n; i++) {
		if (strcmp(vars->v[i].name, name) == 0)
			break;
	}
	if (i == vars->n) {
		if (vars->n == TPL_MAX_VARS)
			fatalx("%s: too many template variables", __func__);
		vars->v = xreallocarray(vars->v, vars->n + 1, sizeof *vars->v);
		vars->v[i].name = xstrdup(name);
		vars->v[i].value = NULL;
		vars->n++;
	}
	v = &vars->v[i];
	free(v->value);
	v->value = xstrdup(value);
	v->kind = kind;
}

/* A variable's value; borrowed, or NULL if unset. */
const char *
template_vars_get(const struct template_vars *vars, const char *name)
{
	size_t	i;

	for (i = 0; i < vars->n; i++) {
		if (strcmp(vars->v[i].name, name) == 0)
			return (vars->v[i].value);
	}
	return (NULL);
}

/* Frees a set of variables; NULL is a no-op. */
void
template_vars_free(struct template_vars *vars)
{
	size_t	i;

	if (vars == NULL)
		return;
	for (i = 0; i < vars->n; i++) {
		free(vars->v[i].name);
		free(vars->v[i].value);
	}
	free(vars->v);
	free(vars);
}

/* 'value' with every ' written '\'': safe as one sh word. Caller frees. */
char *
template_quote(const char *value)
{
	struct evbuffer	*b = evbuffer_new();
	const char	*p;
	char		*out;
	size_t		 len;

	if (b == NULL)
		fatalx("%s: evbuffer_new", __func__);
	evbuffer_add(b, "'", 1);
	for (p = value; *p != '\0'; p++) {
		if (*p == '\'')
			evbuffer_add(b, "'\\''", 4);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "'", 1);
	len = evbuffer_get_length(b);
	out = xmalloc(len + 1);
	evbuffer_remove(b, out, len);
	out[len] = '\0';
	evbuffer_free(b);
	return (out);
}

/* Records the first error, prefixed with the template line. */
static int NB_PRINTF(2, 3)
tpl_fail(struct tpl *t, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (t->cause != NULL)
		return (-1);
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(&t->cause, "line %zu: %s", t->line, msg);
	free(msg);
	return (-1);
}

/* Moves the lexer over one byte of output that sh will read. */
static void
tpl_sh_feed(struct tpl_sh *sh, char c)
{
	int	was_start = sh->word_start;

	sh->word_start = 0;
	if (sh->comment) {
		if (c == '\n') {
			sh->comment = 0;
			sh->word_start = 1;
		}
	} else if (sh->escape) {
		sh->escape = 0;
		sh->word_start = (c == '\n') ? was_start : 0;
	} else if (sh->quote == '\'') {
		if (c == '\'')
			sh->quote = 0;
	} else if (sh->quote != 0) {
		if (c == '\\')
			sh->escape = 1;
		else if (c == sh->quote)
			sh->quote = 0;
	} else if (c == '\\')
		sh->escape = 1;
	else if (c == '\'' || c == '"' || c == '`')
		sh->quote = c;
	else if (c == '#' && was_start)
		sh->comment = 1;
	else {
		if (c == '<' && sh->prev == '<')
			sh->heredoc = 1;
		sh->word_start = (strchr(" \t\n;&|()<>", c) != NULL);
	}
	sh->prev = c;
}

/* Emits bytes that sh reads as written (template text, trusted values). */
static int
tpl_emit(struct tpl *t, const char *s, size_t len)
{
	size_t	i;

	if (t->off != 0 || len == 0)
		return (0);
	for (i = 0; i < len; i++) {
		tpl_sh_feed(&t->sh, s[i]);
		if (t->sh.heredoc) {
			return (tpl_fail(t, "here-documents (<<) are not "
			    "supported in templates"));
		}
	}
	if (evbuffer_get_length(t->out) + len > TEMPLATE_MAX_OUTPUT)
		return (tpl_fail(t, "the script is larger than %d bytes",
		    TEMPLATE_MAX_OUTPUT));
	evbuffer_add(t->out, s, len);
	return (0);
}

/* The variable called name (not NUL-terminated), or NULL. */
static const struct template_var *
tpl_lookup(const struct template_vars *vars, const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < vars->n; i++) {
		if (strlen(vars->v[i].name) == len &&
		    memcmp(vars->v[i].name, name, len) == 0)
			return (&vars->v[i]);
	}
	return (NULL);
}

/* Length of a UTF-8 sequence at s, or 0 if it is not valid (no overlongs,
 * no surrogates). */
static size_t
tpl_utf8_len(const u_char *s)
{
	size_t	n, i;
	u_int	cp;

	if (*s < 0x80)
		return (1);
	if (*s >= 0xc2 && *s <= 0xdf)
		n = 2, cp = *s & 0x1f;
	else if (*s >= 0xe0 && *s <= 0xef)
		n = 3, cp = *s & 0x0f;
	else if (*s >= 0xf0 && *s <= 0xf4)
		n = 4, cp = *s & 0x07;
	else
		return (0);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 ||
	    cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (n);
}

/* Why a value cannot be quoted safely, or NULL: one line of valid UTF-8. */
static const char *
tpl_bad_quoted(const char *value)
{
	const u_char	*p = (const u_char *)value;
	size_t		 n;

	if (strlen(value) > TEMPLATE_MAX_VALUE)
		return ("is too long");
	for (; *p != '\0'; p += n) {
		if (*p == '\n' || *p == '\r')
			return ("contains a line break");
		if (*p < 0x20 || *p == 0x7f)
			return ("contains a control character");
		if ((n = tpl_utf8_len(p)) == 0)
			return ("is not valid UTF-8");
		if ((p[0] == 0xc2 && p[1] == 0x85) || (p[0] == 0xe2 &&
		    p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)))
			return ("contains a Unicode line separator");
	}
	return (NULL);
}

/* Why a value cannot go into a #SBATCH/#PBS line unquoted, or NULL. */
static const char *
tpl_bad_directive(const char *value)
{
	size_t	len = strlen(value);

	if (len == 0)
		return ("is empty (put the line in a {{#section}})");
	if (len > TEMPLATE_MAX_VALUE)
		return ("is too long");
	if (strspn(value, TPL_DIRECTIVE_SET) != len)
		return ("has characters not allowed in a directive line "
		    "(letters, digits and _.:=/- only)");
	if (*value == '-')
		return ("starts with '-' in a directive line");
	return (NULL);
}

/* {{name}}: quoted in shell words, checked in comments, else refused. */
static int
tpl_value(struct tpl *t, const struct template_var *v)
{
	const char	*why;
	char		*q;
	int		 rc;

	if (t->sh.comment) {
		if ((why = tpl_bad_directive(v->value)) != NULL)
			return (tpl_fail(t, "{{%s}}: value %s", v->name, why));
		if (evbuffer_get_length(t->out) + strlen(v->value) >
		    TEMPLATE_MAX_OUTPUT)
			return (tpl_fail(t, "the script is larger than %d "
			    "bytes", TEMPLATE_MAX_OUTPUT));
		evbuffer_add(t->out, v->value, strlen(v->value));
		t->sh.prev = '\0';
		return (0);
	}
	if (t->sh.quote != 0 || t->sh.escape || t->sh.prev == '$') {
		return (tpl_fail(t, "{{%s}} is inside quotes or after '\\' or "
		    "'$': write it bare, it is quoted for you", v->name));
	}
	if ((why = tpl_bad_quoted(v->value)) != NULL)
		return (tpl_fail(t, "{{%s}}: value %s", v->name, why));
	q = template_quote(v->value);
	rc = 0;
	if (evbuffer_get_length(t->out) + strlen(q) > TEMPLATE_MAX_OUTPUT)
		rc = tpl_fail(t, "the script is larger than %d bytes",
		    TEMPLATE_MAX_OUTPUT);
	else
		evbuffer_add(t->out, q, strlen(q));
	free(q);
	t->sh.prev = '\'';
	t->sh.word_start = 0;
	return (rc);
}

/* The last "}}" in [p, end), or NULL: comments may hold braces. */
static const char *
tpl_last_close(const char *p, const char *end)
{
	const char	*close = NULL, *q;

	while ((q = memmem(p, end - p, "}}", 2)) != NULL) {
		close = q;
		p = q + 1;
	}
	return (close);
}

/* Parses the tag at p ("{{..."); fills tag, or fails. */
static int
tpl_parse_tag(struct tpl *t, const char *p, const char *end,
    struct tpl_tag *tag)
{
	const char	*q = p + 2, *close;
	size_t		 clen = 2;

	tag->kind = 'v';
	if (q < end && *q == '{') {
		tag->kind = 'r';
		q++;
		clen = 3;
	} else if (q < end && *q != '\0' && strchr("#^/!", *q) != NULL)
		tag->kind = *q++;
	if (tag->kind == '!')
		close = tpl_last_close(q, end);
	else
		close = memmem(q, end - q, clen == 3 ? "}}}" : "}}", clen);
	if (close == NULL)
		return (tpl_fail(t, "'{{' is not closed on the same line"));
	tag->len = close + clen - p;
	if (tag->kind == '!')
		return (0);
	while (q < close && *q == ' ')
		q++;
	tag->name = q;
	while (q < close && (*q == '_' || (*q >= 'a' && *q <= 'z') ||
	    (q > tag->name && *q >= '0' && *q <= '9')))
		q++;
	tag->nlen = q - tag->name;
	while (q < close && *q == ' ')
		q++;
	if (tag->nlen == 0 || tag->nlen > TPL_MAX_NAME || q != close) {
		return (tpl_fail(t, "'%.*s' is not a tag (names are "
		    "[a-z_][a-z0-9_]*)", (int)(tag->len > 80 ? 80 : tag->len),
		    p));
	}
	return (0);
}

/* {{#name}} / {{^name}}: pushes a section, shown if name is non-empty /
 * empty. */
static int
tpl_open(struct tpl *t, const struct tpl_tag *tag,
    const struct template_var *v)
{
	int	empty = (*v->value == '\0');

	if (t->depth == TPL_MAX_DEPTH)
		return (tpl_fail(t, "sections nested deeper than %d",
		    TPL_MAX_DEPTH));
	t->stack[t->depth].name = tag->name;
	t->stack[t->depth].nlen = tag->nlen;
	t->stack[t->depth].line = t->line;
	t->stack[t->depth].counted = (t->off != 0 ||
	    (tag->kind == '#' ? empty : !empty));
	t->off += t->stack[t->depth].counted;
	t->depth++;
	return (0);
}

/* {{/name}}: pops the section it closes. */
static int
tpl_close(struct tpl *t, const struct tpl_tag *tag,
    const struct template_var *v)
{
	if (t->depth == 0 || t->stack[t->depth - 1].nlen != tag->nlen ||
	    memcmp(t->stack[t->depth - 1].name, tag->name, tag->nlen) != 0)
		return (tpl_fail(t, "{{/%s}} does not close the open section",
		    v->name));
	t->depth--;
	t->off -= t->stack[t->depth].counted;
	return (0);
}

/* Acts on one parsed tag. */
static int
tpl_do_tag(struct tpl *t, const struct tpl_tag *tag)
{
	const struct template_var	*v;

	if (tag->kind == '!')
		return (0);
	if ((v = tpl_lookup(t->vars, tag->name, tag->nlen)) == NULL) {
		return (tpl_fail(t, "unknown variable '%.*s'", (int)tag->nlen,
		    tag->name));
	}
	switch (tag->kind) {
	case '#':
	case '^':
		return (tpl_open(t, tag, v));
	case '/':
		return (tpl_close(t, tag, v));
	case 'r':
		if (v->kind != TEMPLATE_TRUSTED) {
			return (tpl_fail(t, "{{{%s}}} is not trusted config "
			    "text: use {{%s}}", v->name, v->name));
		}
		return (tpl_emit(t, v->value, strlen(v->value)));
	default:
		if (t->off != 0)
			return (0);
		return (tpl_value(t, v));
	}
}

/* A line holding only one section or comment tag: it leaves no line. */
static int
tpl_standalone(struct tpl *t, const char *line, size_t len)
{
	const char	*p = line, *end = line + len;
	struct tpl_tag	 tag;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p < 5 || p[0] != '{' || p[1] != '{' ||
	    p[2] == '\0' || strchr("#^/!", p[2]) == NULL)
		return (0);
	if (tpl_parse_tag(t, p, end, &tag) == -1)
		return (-1);
	p += tag.len;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p != end)
		return (0);
	if (tpl_do_tag(t, &tag) == -1)
		return (-1);
	return (1);
}

/* Renders one line (without its '\n'); nl says whether it had one. */
static int
tpl_line(struct tpl *t, const char *line, size_t len, int nl)
{
	const char	*p = line, *end = line + len, *tag_at;
	struct tpl_tag	 tag;
	int		 rc;

	if ((rc = tpl_standalone(t, line, len)) != 0)
		return (rc == 1 ? 0 : -1);
	while ((tag_at = memmem(p, end - p, "{{", 2)) != NULL) {
		if (tpl_emit(t, p, tag_at - p) == -1 ||
		    tpl_parse_tag(t, tag_at, end, &tag) == -1 ||
		    tpl_do_tag(t, &tag) == -1)
			return (-1);
		p = tag_at + tag.len;
	}
	if (tpl_emit(t, p, end - p) == -1)
		return (-1);
	return (nl ? tpl_emit(t, "\n", 1) : 0);
}

/* Checks what only the end of the text can tell. */
static int
tpl_finish(struct tpl *t)
{
	if (t->depth != 0) {
		t->line = t->stack[t->depth - 1].line;
		return (tpl_fail(t, "{{#%.*s}} is never closed",
		    (int)t->stack[t->depth - 1].nlen,
		    t->stack[t->depth - 1].name));
	}
	if (t->sh.quote != 0) {
		return (tpl_fail(t, "the script ends inside a %c quote",
		    t->sh.quote));
	}
	return (0);
}

/* Renders a template; the owned script, or NULL and *cause. */
char *
template_render(const char *text, size_t len,
    const struct template_vars *vars, char **cause)
{
	struct tpl	 t;
	const char	*p = text, *end = text + len, *nl;
	char		*out = NULL;
	size_t		 n;

	memset(&t, 0, sizeof t);
	t.vars = vars;
	t.sh.word_start = 1;
	if ((t.out = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	if (len > TEMPLATE_MAX_SIZE) {
		tpl_fail(&t, "the template is larger than %d bytes",
		    TEMPLATE_MAX_SIZE);
		goto out;
	}
	if (memchr(text, '\0', len) != NULL) {
		t.line = 1;
		tpl_fail(&t, "the template contains a NUL byte");
		goto out;
	}
	while (p < end) {
		t.line++;
		nl = memchr(p, '\n', end - p);
		n = (nl == NULL ? end : nl) - p;
		if (tpl_line(&t, p, n, nl != NULL) == -1)
			goto out;
		p += n + (nl != NULL);
	}
	if (tpl_finish(&t) == -1)
		goto out;
	n = evbuffer_get_length(t.out);
	out = xmalloc(n + 1);
	evbuffer_remove(t.out, out, n);
	out[n] = '\0';
out:
	evbuffer_free(t.out);
	if (out == NULL && cause != NULL)
		*cause = t.cause;
	else
		free(t.cause);
	return (out);
}

/* Reads a template file; the owned text (NUL-terminated) and its length. */
char *
template_load(const char *path, size_t *lenp, char **cause)
{
	char	*buf = xmalloc(TEMPLATE_MAX_SIZE + 1);
	size_t	 len = 0;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	while (len <= TEMPLATE_MAX_SIZE) {
		n = read(fd, buf + len, TEMPLATE_MAX_SIZE + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > TEMPLATE_MAX_SIZE) {
		xasprintf(cause, "%s: larger than %d bytes", path,
		    TEMPLATE_MAX_SIZE);
		free(buf);
		return (NULL);
	}
	buf[len] = '\0';
	*lenp = len;
	return (buf);
fail:
	xasprintf(cause, "%s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	free(buf);
	return (NULL);
}
