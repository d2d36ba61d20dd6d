/* tap.c: numbered ok/not ok lines, a diagnostic helper, and the closing plan. */
#define _XOPEN_SOURCE 700
#include <sys/stat.h>

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int tap_n, tap_failed;

/* Prints one test line; returns the condition. */
int
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;

	tap_n++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return (cond);
}

/* Prints a '#' diagnostic, line by line. */
void
tap_diag(const char *fmt, ...)
{
	char	buf[4096], *p, *nl;
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	for (p = buf; p != NULL; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		printf("# %s\n", p);
	}
	fflush(stdout);
}

/* Prints the plan; the exit status says whether everything passed. */
int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return (tap_failed != 0 || tap_n == 0);
}

static int
tap_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return (remove(path) == -1 ? -1 : 0);
}

/* Removes a test's scratch directory and everything in it (no shell); 0 or -1. */
int
tap_rmtree(const char *dir)
{
	return (nftw(dir, tap_rm_one, 16, FTW_DEPTH | FTW_PHYS));
}

/* The bytes of $NB_SRCDIR/@rel (or ./@rel), NUL-terminated; "" if unreadable. Caller frees. */
char *
tap_fixture(const char *rel, size_t *len)
{
	const char	*src = getenv("NB_SRCDIR");
	char		 path[4096], *buf = NULL;
	FILE		*f;
	long		 n = -1;

	*len = 0;
	snprintf(path, sizeof path, "%s/%s", src != NULL ? src : ".", rel);
	if ((f = fopen(path, "rb")) != NULL && fseek(f, 0, SEEK_END) == 0 &&
	    (n = ftell(f)) >= 0 && (buf = malloc(n + 1)) != NULL) {
		rewind(f);
		*len = fread(buf, 1, n, f);
	} else
		tap_diag("cannot read %s", path);
	if (f != NULL)
		fclose(f);
	if (buf == NULL && (buf = malloc(1)) == NULL)
		abort();
	buf[*len] = '\0';
	return (buf);
}
