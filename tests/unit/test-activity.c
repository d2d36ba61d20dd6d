/* test-activity.c: the agent's parsing of the notebook's answers and the
 * activity report's encoding and decoding (tunnel/PROTOCOL section 9). */
#include "config.h"

#include <sys/wait.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "agent/agent.h"
#include "tests/unit/tap.h"

static int
dec(const char *line, struct activity *a)
{
	return (activity_decode(line, strlen(line), a));
}

static void
test_time(void)
{
	is_int(actpoll_time("2026-12-07T01:40:00.123456Z"), 1796607600,
	    "an ISO time with Z and microseconds");
	is_int(actpoll_time("2026-12-07T01:40:00Z"), 1796607600, "without a fraction");
	is_int(actpoll_time("2026-12-07T02:40:00+01:00"), 1796607600, "with +01:00");
	is_int(actpoll_time("2026-12-07T00:10:00-01:30"), 1796607600, "with -01:30");
	is_int(actpoll_time("2026-13-07T01:40:00Z"), 0, "month 13: refused");
	is_int(actpoll_time("2026-12-07 01:40:00Z"), 0, "no T: refused");
	is_int(actpoll_time("2026-12-07T01:40:00+1"), 0, "a bad offset: refused");
	is_int(actpoll_time(NULL), 0, "no time at all: 0");
}

static void
test_kernels(void)
{
	const char	*two = "[{\"id\": \"a\", \"name\": \"python3\", "
	    "\"last_activity\": \"2026-12-07T01:40:00.5Z\", \"execution_state\": "
	    "\"busy\", \"connections\": 0}, {\"id\": \"b\", \"last_activity\": "
	    "\"2026-12-07T01:41:40.000001Z\", \"execution_state\": \"idle\"}]";
	long long	 n = -1, busy = -1;
	time_t		 last = 0;

	is_int(actpoll_kernels(two, strlen(two), &n, &busy, &last), 0, "two kernels parse");
	is_int(n, 2, "two kernels");
	is_int(busy, 1, "one busy");
	is_int(last, 1796607700, "the latest last_activity");
	last = 1796607800;
	actpoll_kernels(two, strlen(two), &n, &busy, &last);
	is_int(last, 1796607800, "a later activity already known stays");
	last = 0;
	is_int(actpoll_kernels("[]", 2, &n, &busy, &last), 0, "no kernels parse");
	ok(n == 0 && busy == 0 && last == 0, "none, none busy, no time");
	is_int(actpoll_kernels("{\"message\": \"Forbidden\"}", 24, &n, &busy, &last),
	    -1, "an error object is not a list");
	is_int(actpoll_kernels("[{\"id\": ", 8, &n, &busy, &last), -1,
	    "cut JSON is refused");
	is_int(actpoll_kernels("[1, {\"execution_state\": \"starting\"}]", 36, &n,
	    &busy, &last), 0, "odd members are skipped");
	ok(n == 1 && busy == 0, "one kernel, starting is not busy");
	is_int(actpoll_terminals("[{\"name\": \"1\", \"last_activity\": "
	    "\"2026-12-07T01:50:00Z\"}]", 56, &n, &last), 0, "terminals parse");
	ok(n == 1 && last == 1796608200, "one terminal, its activity");
}

static void
test_codec(void)
{
	struct activity	 a = { .kernels = 3, .busy = 1, .terminals = 2,
			       .connections = 4, .idle = 0, .cpu_ms = 123456789 };
	struct activity	 b;
	char		*line;
	size_t		 len;

	line = activity_encode(&a);
	len = strlen(line);
	ok(len > 0 && line[len - 1] == '\n', "a report is one line");
	tap_diag("report: %zu bytes: %.*s", len, (int)len - 1, line);
	ok(len < 128, "a report is small (%zu bytes)", len);
	is_int(activity_decode(line, len - 1, &b), 0, "it decodes");
	ok(memcmp(&a, &b, sizeof a) == 0, "to the same values");
	free(line);
	a.idle = -1;
	line = activity_encode(&a);
	is_int(activity_decode(line, strlen(line) - 1, &b), 0, "idle -1 (unknown) decodes");
	is_int(b.idle, -1, "as -1");
	free(line);
	is_int(dec("nbgate-activity/1", &b), 0, "a bare tag is a report");
	ok(b.kernels == 0 && b.idle == -1, "of nothing known");
	is_int(dec("nbgate-activity/1 kernels=2 future=x7 busy=2", &b), 0,
	    "a later version's field is skipped");
	ok(b.kernels == 2 && b.busy == 2, "the known ones are taken");
	is_int(dec("nbgate-activity/2 kernels=1", &b), -1, "another tag: refused");
	is_int(dec("nbgate-activity/1x kernels=1", &b), -1, "a longer tag: refused");
	is_int(dec("nbgate-activity/1 kernels=1 busy=2", &b), -1,
	    "more busy than kernels: refused");
	is_int(dec("nbgate-activity/1 kernels=-3", &b), -1, "a negative count: refused");
	is_int(dec("nbgate-activity/1 idle=-2", &b), -1, "idle below -1: refused");
	is_int(dec("nbgate-activity/1 kernels=1e3", &b), -1, "not decimal: refused");
	is_int(dec("nbgate-activity/1 kernels=99999999999999999999", &b), -1,
	    "too large: refused");
	is_int(dec("nbgate-activity/1 kernels=", &b), -1, "an empty value: refused");
	is_int(dec("nbgate-activity/1 =3", &b), -1, "an empty name: refused");
	is_int(dec("nbgate-activity/1 kernels", &b), -1, "no '=': refused");
	is_int(dec("nbgate-activity/1 kernels=1\tbusy=1", &b), -1,
	    "control characters: refused");
	line = xcalloc(1, ACTIVITY_LINE_MAX + 2);
	memset(line, ' ', ACTIVITY_LINE_MAX + 1);
	memcpy(line, ACTIVITY_TAG, strlen(ACTIVITY_TAG));
	is_int(activity_decode(line, ACTIVITY_LINE_MAX + 1, &b), -1,
	    "a line over %d bytes: refused", ACTIVITY_LINE_MAX);
	is_int(activity_decode(line, ACTIVITY_LINE_MAX, &b), 0,
	    "one of exactly %d bytes is taken", ACTIVITY_LINE_MAX);
	free(line);
}

/* The leaving line: one line whatever the reason holds, and back intact. */
static void
test_leave(void)
{
	const char	*why = "notebook exited with status 3:\n\tC:\\tmp \\n é";
	char		*line, *back, *big;
	size_t		 len;

	line = activity_leave_encode(why);
	len = strlen(line);
	ok(len > 0 && line[len - 1] == '\n' && strchr(line, '\n') == line + len - 1
	    && strchr(line, '\t') == NULL, "leave: one line, no tab: %s", line);
	is_int(activity_leave_decode(line, len - 1, &back), 1, "leave: decodes");
	is_str(back, why, "leave: the reason comes back intact");
	free(back);
	free(line);
	is_int(activity_leave_decode("nbgate-activity/1 kernels=1", 27, &back), 0,
	    "leave: a report is not one");
	ok(back == NULL, "leave: nothing for a report");
	is_int(activity_leave_decode("nbgate-exit/1 a\\", 16, &back), -1,
	    "leave: a lone backslash at the end: broken");
	is_int(activity_leave_decode("nbgate-exit/1 a\\x", 17, &back), -1,
	    "leave: an unknown escape: broken");
	is_int(activity_leave_decode("nbgate-exit/1 a\0b", 17, &back), -1,
	    "leave: a NUL inside: broken");
	/* The longest reason an agent sends, every byte escaped, still fits. */
	big = xmalloc(TUNCLIENT_LEAVE_MAX + 1);
	memset(big, '\n', TUNCLIENT_LEAVE_MAX);
	big[TUNCLIENT_LEAVE_MAX] = '\0';
	line = activity_leave_encode(big);
	len = strlen(line);
	ok(len - 1 <= ACTIVITY_LEAVE_MAX, "leave: the longest is %zu bytes (at "
	    "most %d)", len - 1, ACTIVITY_LEAVE_MAX);
	is_int(activity_leave_decode(line, len - 1, &back), 1,
	    "leave: the longest decodes");
	ok(back != NULL && strcmp(back, big) == 0, "leave: the longest is intact");
	free(back);
	is_int(activity_leave_decode(line, ACTIVITY_LEAVE_MAX + 1, &back), -1,
	    "leave: a longer line is refused");
	free(line);
	free(big);
}

/* A child that spins: its CPU time shows in ours. */
static void
test_cpu(void)
{
	long long	 before = actpoll_cpu_ms(getpid()), after;
	struct timespec	 t0, now;
	pid_t		 pid;
	int		 status;

	ok(before >= 0, "the CPU time of our children reads (%lld ms)", before);
	if ((pid = fork()) == 0) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do
			clock_gettime(CLOCK_MONOTONIC, &now);
		while (now.tv_sec - t0.tv_sec < 2);
		_exit(0);
	}
	usleep(1500 * 1000);
	after = actpoll_cpu_ms(getpid());
	ok(after - before >= 300, "a child spinning 1.5 s adds its time (%lld ms)",
	    after - before);
	waitpid(pid, &status, 0);
	ok(actpoll_cpu_ms(1) >= 0 && actpoll_cpu_ms(getpid()) < after,
	    "a reaped child's time is gone from the sum");
}

/* kernels.c: the ids of GET /api/kernels, only those fit for a URL path. */
static void
test_kernel_ids(void)
{
	const char	*body = "[{\"id\":\"0d5c3a2e-1b2c-4d5e-8f90-aabbccddeeff\","
	    "\"name\":\"python3\"},{\"id\":\"../../api/shutdown\"},{\"name\":\"x\"},"
	    "{\"id\":\"abc-123\"}]";
	char		**ids;
	size_t		  n, i;

	ok(kernels_ids(body, strlen(body), &ids, &n) == 0, "kernel list parses");
	is_int(n, 2, "two ids kept: a path and a missing id are skipped");
	if (n == 2) {
		is_str(ids[0], "0d5c3a2e-1b2c-4d5e-8f90-aabbccddeeff", "the first id");
		is_str(ids[1], "abc-123", "the second id");
	}
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	ok(kernels_ids("{\"message\":\"Forbidden\"}", 24, &ids, &n) == -1,
	    "an error object is not a list");
	ok(kernels_ids("[]", 2, &ids, &n) == 0 && n == 0, "no kernels");
}

int
main(void)
{
	test_time();
	test_kernels();
	test_kernel_ids();
	test_codec();
	test_leave();
	test_cpu();
	return (tap_done());
}
