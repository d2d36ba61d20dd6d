/*
 * log.c: one-line logs to stderr (journald adds the time when run by systemd).
 * Callers never pass secrets; messages name their object ("route alice: ...").
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char *log_name = "nbgate";
static int log_level = LOG_INFO;
static int log_stamp;

static const char *log_prefix[] = { "error", "warning", "info", "debug" };

/* Sets the program name and level; timestamps only when stderr is not journald. */
void
log_init(const char *name, int level)
{
	log_name = name;
	log_level = level;
	log_stamp = getenv("JOURNAL_STREAM") == NULL;
}

/* Changes the level (config reload). */
void
log_set_level(int level)
{
	log_level = level;
}

/* Returns the level in force. */
int
log_get_level(void)
{
	return (log_level);
}

/* Parses "error", "warning", "info", "debug"; -1 if none. */
int
log_level_parse(const char *s)
{
	size_t	i;

	for (i = 0; i < nitems(log_prefix); i++) {
		if (strcasecmp(s, log_prefix[i]) == 0)
			return ((int)i);
	}
	if (strcasecmp(s, "warn") == 0)
		return (LOG_WARN);
	return (-1);
}

static void NB_PRINTF(2, 0)
log_vwrite(int level, const char *fmt, va_list ap, int with_errno)
{
	char		 stamp[32] = "", msg[2048];
	struct tm	 tm;
	time_t		 now;
	int		 saved = errno;

	if (level > log_level)
		return;
	if (log_stamp) {
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (with_errno)
		fprintf(stderr, "%s%s[%ld]: %s: %s: %s\n", stamp, log_name,
		    (long)getpid(), log_prefix[level], msg, strerror(saved));
	else
		fprintf(stderr, "%s%s[%ld]: %s: %s\n", stamp, log_name,
		    (long)getpid(), log_prefix[level], msg);
	fflush(stderr);
	errno = saved;
}

#define LOG_FN(name, level, with_errno)			\
void							\
name(const char *fmt, ...)				\
{							\
	va_list	ap;					\
	va_start(ap, fmt);				\
	log_vwrite(level, fmt, ap, with_errno);		\
	va_end(ap);					\
}

/* Level-specific loggers. */
LOG_FN(log_debug, LOG_DEBUG, 0)
LOG_FN(log_info, LOG_INFO, 0)
LOG_FN(log_warnx, LOG_WARN, 0)
LOG_FN(log_warn, LOG_WARN, 1)

/* Logs and exits: only at startup or on allocation failure. */
void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, fmt, ap, 1);
	va_end(ap);
	exit(1);
}

/* Like fatal() without errno. */
void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, fmt, ap, 0);
	va_end(ap);
	exit(1);
}
