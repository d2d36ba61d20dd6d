/*
 * log.c: one-line logs to stderr (journald adds the time when run by systemd),
 * as text or as JSON objects (log.format: json) that carry, besides the
 * message, the user, session and job a caller tagged the line with.
 * Callers never pass secrets; messages name their object ("route alice: ...").
 * Control bytes in a message are escaped, so a peer's newline cannot forge a line.
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
static int log_format = LOG_FORMAT_TEXT;

/* Fields of the next line only; per thread (SSH workers log too). */
static _Thread_local struct {
	char		user[64];
	char		job[64];
	char		cluster[64];
	long long	session;
	int		set;
} log_tags;

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

/* LOG_FORMAT_TEXT or LOG_FORMAT_JSON. */
void
log_set_format(int format)
{
	log_format = format;
}

/*
 * Tags the next log line of this thread with who and what it is about
 * (NULL / 0: not known). Text lines name these in their message already;
 * JSON lines carry them as fields.
 */
void
log_tag(const char *user, long long session, const char *job, const char *cluster)
{
	snprintf(log_tags.user, sizeof log_tags.user, "%s", user != NULL ? user : "");
	snprintf(log_tags.job, sizeof log_tags.job, "%s", job != NULL ? job : "");
	snprintf(log_tags.cluster, sizeof log_tags.cluster, "%s", cluster != NULL ?
	    cluster : "");
	log_tags.session = session;
	log_tags.set = 1;
}

/* @s as a JSON string (quotes included) into @b; control bytes escaped. */
static void
log_json_str(char *b, size_t len, const char *s)
{
	size_t		 o = 0;
	unsigned char	 c;

	if (len < 3)
		return;
	b[o++] = '"';
	for (; (c = (unsigned char)*s) != '\0' && o + 8 < len; s++) {
		if (c == '"' || c == '\\') {
			b[o++] = '\\';
			b[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(b + o, len - o, "\\u%04x", c);
		else
			b[o++] = (char)c;
	}
	b[o++] = '"';
	b[o] = '\0';
}

/*
 * @s into @b (@len bytes, NUL-terminated, cut short if need be) for one text
 * line: newline, return and tab as \n, \r, \t, other bytes below 0x20 and
 * 0x7f as \xNN; everything else, UTF-8 included, as it is.
 */
void
log_escape(char *b, size_t len, const char *s)
{
	size_t		 o = 0;
	unsigned char	 c;

	if (len == 0)
		return;
	for (; (c = (unsigned char)*s) != '\0' && o + 5 < len; s++) {
		if (c >= 0x20 && c != 0x7f) {
			b[o++] = (char)c;
			continue;
		}
		b[o++] = '\\';
		if (c == '\n')
			b[o++] = 'n';
		else if (c == '\r')
			b[o++] = 'r';
		else if (c == '\t')
			b[o++] = 't';
		else {
			b[o++] = 'x';
			codec_hex(b + o, &c, 1);	/* fits: o + 5 < len above */
			o += 2;
		}
	}
	b[o] = '\0';
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

/* One JSON object a line: time, level, program, pid, msg and the tags. */
static void
log_json_line(int level, const char *msg, const char *err)
{
	char		 stamp[32], m[2048 * 6 + 8], e[512], t[3][64 * 6 + 8];
	struct timespec	 ts;
	struct tm	 tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	log_json_str(m, sizeof m, msg);
	fprintf(stderr, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"prog\":"
	    "\"%s\",\"pid\":%ld,\"msg\":%s", stamp, ts.tv_nsec / 1000000,
	    log_prefix[level], log_name, (long)getpid(), m);
	if (err != NULL) {
		log_json_str(e, sizeof e, err);
		fprintf(stderr, ",\"error\":%s", e);
	}
	if (log_tags.set) {
		if (log_tags.user[0] != '\0') {
			log_json_str(t[0], sizeof t[0], log_tags.user);
			fprintf(stderr, ",\"user\":%s", t[0]);
		}
		if (log_tags.session > 0)
			fprintf(stderr, ",\"session\":%lld", log_tags.session);
		if (log_tags.job[0] != '\0') {
			log_json_str(t[1], sizeof t[1], log_tags.job);
			fprintf(stderr, ",\"job\":%s", t[1]);
		}
		if (log_tags.cluster[0] != '\0') {
			log_json_str(t[2], sizeof t[2], log_tags.cluster);
			fprintf(stderr, ",\"cluster\":%s", t[2]);
		}
		log_tags.set = 0;
	}
	fprintf(stderr, "}\n");
	fflush(stderr);
}

static void NB_PRINTF(2, 0)
log_vwrite(int level, const char *fmt, va_list ap, int with_errno)
{
	char		 stamp[32] = "", msg[2048], line[sizeof msg * 4];
	struct tm	 tm;
	time_t		 now;
	int		 saved = errno;

	if (level > log_level) {
		log_tags.set = 0;
		return;
	}
	if (log_stamp) {
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_format == LOG_FORMAT_JSON) {
		log_json_line(level, msg, with_errno ? strerror(saved) : NULL);
		errno = saved;
		return;
	}
	log_tags.set = 0;
	log_escape(line, sizeof line, msg);
	if (with_errno)
		fprintf(stderr, "%s%s[%ld]: %s: %s: %s\n", stamp, log_name,
		    (long)getpid(), log_prefix[level], line, strerror(saved));
	else
		fprintf(stderr, "%s%s[%ld]: %s: %s\n", stamp, log_name,
		    (long)getpid(), log_prefix[level], line);
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
