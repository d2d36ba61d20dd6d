/* tap.c: numbered ok/not ok lines, a diagnostic helper, and the closing plan. */
#define _XOPEN_SOURCE 700
#include <sys/stat.h>

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>

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
