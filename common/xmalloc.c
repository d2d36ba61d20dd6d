/*
 * xmalloc.c: allocation wrappers; running out of memory is the one fatal
 * error once the loop runs.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* malloc() or die. */
void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		fatalx("out of memory (%zu bytes)", size);
	return (p);
}

/* calloc() or die. */
void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		fatalx("out of memory (%zu x %zu bytes)", n, size);
	return (p);
}

/* reallocarray() or die. */
void *
xreallocarray(void *old, size_t n, size_t size)
{
	void	*p;

	if (size != 0 && n > SIZE_MAX / size)
		fatalx("allocation overflow (%zu x %zu)", n, size);
	if ((p = realloc(old, n * size == 0 ? 1 : n * size)) == NULL)
		fatalx("out of memory (%zu x %zu bytes)", n, size);
	return (p);
}

/* strdup() or die. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatalx("out of memory");
	return (p);
}

/* strndup() or die. */
char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		fatalx("out of memory");
	return (p);
}

/* vasprintf() or die. */
int
xvasprintf(char **ret, const char *fmt, va_list ap)
{
	int	n;

	if ((n = vasprintf(ret, fmt, ap)) < 0)
		fatalx("out of memory");
	return (n);
}

/* asprintf() or die. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = xvasprintf(ret, fmt, ap);
	va_end(ap);
	return (n);
}

/* Wipes then frees; for buffers that held secrets. */
void
freezero(void *p, size_t len)
{
	if (p == NULL)
		return;
	/*
	 * memset + a barrier instead of explicit_bzero(): the same guarantee
	 * (the compiler must assume p's bytes are read), and AddressSanitizer
	 * checks memset's range, so a wrong @len is caught in test builds.
	 */
	memset(p, 0, len);
	__asm__ __volatile__("" : : "r"(p) : "memory");
	free(p);
}

/* Wipes a secret NUL-terminated string then frees it. */
void
freestr(char *s)
{
	if (s != NULL)
		freezero(s, strlen(s));
}
