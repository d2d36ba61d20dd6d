/* test-proc.c: scheduler/proc.c: children off the loop, output, timeouts, environment. */
#include "config.h"

#include <sys/time.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/common.h"
#include "scheduler/backend.h"
#include "tests/unit/tap.h"

static struct event_base *base;
static const char *const env_std[] = { "PATH=/usr/bin:/bin", "LANG=C", NULL };

struct result {
	int	 done;
	int	 calls;
	int	 exited, status, signal, timed_out, overflow;
	char	*out;
	size_t	 outlen;
	char	*err;
};

static char *
drain(struct evbuffer *b, size_t *len)
{
	size_t	 n = evbuffer_get_length(b);
	char	*s = xmalloc(n + 1);

	evbuffer_remove(b, s, n);
	s[n] = '\0';
	if (len != NULL)
		*len = n;
	return (s);
}

static void
done_cb(const struct proc_result *pr, void *arg)
{
	struct result	*r = arg;

	r->done = 1;
	r->calls++;
	r->exited = pr->exited;
	r->status = pr->status;
	r->signal = pr->signal;
	r->timed_out = pr->timed_out;
	r->overflow = pr->overflow;
	r->out = drain(pr->out, &r->outlen);
	r->err = drain(pr->err, NULL);
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* the clock libevent's timers use */
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static void
tick(evutil_socket_t fd, short events, void *arg)
{
}

/* Runs the loop until *flag is set or limit seconds pass (never blocks longer than 0.1 s). */
static void
loop_until(int *flag, double limit)
{
	struct timeval	tv = { 0, 100000 };
	double		end = now() + limit;

	while (!*flag && now() < end) {
		event_base_once(base, -1, EV_TIMEOUT, tick, NULL, &tv);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static int
run(struct result *r, const char *const *argv, const char *in, size_t inlen, int timeout,
    size_t max)
{
	struct proc_spec	 spec;
	char			*cause = NULL;

	memset(r, 0, sizeof *r);
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.env = env_std;
	spec.input = in;
	spec.inlen = inlen;
	spec.timeout = timeout;
	spec.output_max = max;
	if (proc_run(base, &spec, done_cb, r, &cause) == NULL) {
		tap_diag("proc_run: %s", cause);
		free(cause);
		return (-1);
	}
	loop_until(&r->done, 30);
	return (r->done ? 0 : -1);
}

static void
result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

static void
test_stdin_echo(void)
{
	const char *const argv[] = { "cat", NULL };
	struct result	 r;
	size_t		 n = 3 * 1024 * 1024, i;
	char		*in = xmalloc(n);

	for (i = 0; i < n; i++)
		in[i] = (char)(i * 7 + i / 4096);
	ok(run(&r, argv, in, n, 10000, 0) == 0, "cat ran");
	ok(r.exited && r.status == 0, "cat exits 0");
	is_int(r.outlen, n, "3 MiB of stdin came back");
	ok(r.out != NULL && memcmp(r.out, in, n) == 0, "byte for byte");
	is_int(r.calls, 1, "callback once");
	result_free(&r);
	free(in);
}

static void
test_stderr_exit(void)
{
	const char *const argv[] = { "sh", "-c", "echo out; echo 'to err' >&2; exit 3", NULL };
	const char *const sig[] = { "sh", "-c", "kill -9 $$", NULL };
	const char *const noin[] = { "sh", "-c", "read x; echo \"[$x]\"", NULL };
	struct result	 r;

	ok(run(&r, argv, NULL, 0, 5000, 0) == 0, "sh ran");
	ok(r.exited, "exited");
	is_int(r.status, 3, "exit code 3");
	is_str(r.out, "out\n", "stdout");
	is_str(r.err, "to err\n", "stderr captured apart");
	ok(!r.timed_out && !r.overflow, "no timeout, no overflow");
	result_free(&r);

	ok(run(&r, sig, NULL, 0, 5000, 0) == 0, "self-killing sh ran");
	ok(!r.exited, "not a normal exit");
	is_int(r.signal, SIGKILL, "killed by signal 9");
	result_free(&r);

	ok(run(&r, noin, NULL, 0, 5000, 0) == 0, "no input: EOF at once");
	is_str(r.out, "[]\n", "read saw EOF");
	result_free(&r);
}

static int
pid_gone(pid_t pid)
{
	char	 path[64], buf[512], *p;
	FILE	*f;
	int	 gone = 1;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (1);
	if (fgets(buf, sizeof buf, f) != NULL && (p = strrchr(buf, ')')) != NULL)
		gone = p[2] == 'Z' || p[2] == 'X';
	fclose(f);
	return (gone);
}

static void
test_timeout(void)
{
	const char *const argv[] = { "sh", "-c", "sleep 100 & echo $!; sleep 100", NULL };
	const char *const stub[] = { "sh", "-c",
	    "trap 'echo term' TERM; echo up; while :; do sleep 1; done", NULL };
	struct result	 r;
	double		 t0 = now();
	pid_t		 bg;
	int		 i;

	ok(run(&r, argv, NULL, 0, 300, 0) == 0, "sleeps ran");
	ok(now() - t0 < 2.0, "timeout of 0.3 s ended the run in %.2f s", now() - t0);
	ok(r.timed_out, "timed_out set");
	is_int(r.signal, SIGTERM, "group got TERM");
	bg = (pid_t)atol(r.out);
	ok(bg > 1, "background child's pid reported");
	for (i = 0; i < 50 && !pid_gone(bg); i++)
		usleep(20000);
	ok(pid_gone(bg), "background sleep (pid %ld) killed with the group", (long)bg);
	result_free(&r);

	/*
	 * Events, not a stopwatch: the child wrote "term" after TERM and lived
	 * on until KILL.  The one clock check is a lower bound, which a slow
	 * machine cannot break: timers never fire early (less 50 ms for a
	 * coarse monotonic clock).
	 */
	t0 = now();
	ok(run(&r, stub, NULL, 0, 300, 0) == 0, "TERM-surviving child ran");
	ok(now() - t0 >= 0.3 + 2.0 - 0.05, "KILL not before the 2 s after TERM (%.2f s)",
	    now() - t0);
	ok(r.timed_out && r.signal == SIGKILL, "killed by KILL");
	is_str(r.out, "up\nterm\n", "output before the timeout kept; KILL followed TERM");
	result_free(&r);
}

static void
test_ceiling(void)
{
	const char *const argv[] = { "head", "-c", "20000000", "/dev/zero", NULL };
	const char *const lingering[] = { "sh", "-c", "sleep 100 & echo done", NULL };
	struct result	 r;
	double		 t0;

	ok(run(&r, argv, NULL, 0, 10000, 1024 * 1024) == 0, "20 MB writer ran");
	ok(r.overflow, "overflow reported");
	ok(r.outlen <= 1024 * 1024 + 65536, "kept at most the ceiling plus one read (%zu)",
	    r.outlen);
	ok(!r.exited || r.status != 0, "writer did not finish normally");
	result_free(&r);

	t0 = now();
	ok(run(&r, lingering, NULL, 0, 10000, 0) == 0, "child leaving a background job ran");
	ok(now() - t0 < 1.5, "done without waiting for the straggler (%.2f s)", now() - t0);
	is_str(r.out, "done\n", "its output");
	ok(r.exited && r.status == 0, "exit 0");
	result_free(&r);
}

static void
test_env(void)
{
	const char *const argv[] = { "env", NULL };
	const char *const pwd[] = { "pwd", NULL };
	const char *const missing[] = { "no-such-command-nbgate", NULL };
	const char *const notexec[] = { "/etc/passwd", NULL };
	struct proc_spec spec;
	struct result	 r;
	char		*cause = NULL;

	setenv("NB_TEST_LEAK", "secret-value", 1);
	ok(run(&r, argv, NULL, 0, 5000, 0) == 0, "env ran");
	ok(r.out != NULL && strstr(r.out, "NB_TEST_LEAK") == NULL, "parent's variable not leaked");
	ok(r.out != NULL && strstr(r.out, "HOME=") == NULL, "nothing else inherited");
	has_str(r.out, "LANG=C\n", "LANG=C given");
	has_str(r.out, "PATH=/usr/bin:/bin\n", "PATH given");
	result_free(&r);

	ok(run(&r, pwd, NULL, 0, 5000, 0) == 0, "pwd ran");
	is_str(r.out, "/\n", "default working directory is /");
	result_free(&r);

	memset(&spec, 0, sizeof spec);
	spec.argv = missing;
	spec.env = env_std;
	ok(proc_run(base, &spec, done_cb, &r, &cause) == NULL, "unknown command refused");
	has_str(cause, "command not found", "cause says so");
	free(cause);
	cause = NULL;
	spec.argv = notexec;
	ok(proc_run(base, &spec, done_cb, &r, &cause) == NULL, "non-executable refused");
	free(cause);
}

static void
test_concurrent(void)
{
	struct result	 r[50];
	char		 name[50][16], want[64];
	const char	*argv[50][5];
	struct proc_spec spec;
	char		*cause = NULL;
	int		 i, all = 0, good = 0, started = 0, never = 0;
	double		 end;

	memset(&spec, 0, sizeof spec);
	spec.env = env_std;
	spec.timeout = 20000;
	for (i = 0; i < 50; i++) {
		memset(&r[i], 0, sizeof r[i]);
		snprintf(name[i], sizeof name[i], "job%d", i);
		argv[i][0] = "sh";
		argv[i][1] = "-c";
		argv[i][2] = "sleep 0.2; cat; echo \"$0\"";
		argv[i][3] = name[i];
		argv[i][4] = NULL;
		spec.argv = argv[i];
		spec.input = name[i];
		spec.inlen = strlen(name[i]);
		if (proc_run(base, &spec, done_cb, &r[i], &cause) != NULL)
			started++;
		else {
			tap_diag("%s", cause);
			free(cause);
			cause = NULL;
		}
	}
	is_int(started, 50, "50 started at once");
	end = now() + 30;
	while (all < 50 && now() < end) {
		loop_until(&never, 0.1);
		for (all = 0, i = 0; i < 50; i++)
			all += r[i].done;
	}
	for (i = 0; i < 50; i++) {
		snprintf(want, sizeof want, "%.15s%.15s\n", name[i], name[i]);
		if (r[i].done && r[i].calls == 1 && r[i].exited && r[i].status == 0 &&
		    strcmp(r[i].out, want) == 0)
			good++;
		result_free(&r[i]);
	}
	is_int(good, 50, "all 50 returned their own output, once");
	is_int(proc_running(), 0, "all reaped");
}

static void
test_cancel(void)
{
	const char *const argv[] = { "sleep", "100", NULL };
	struct proc_spec spec;
	struct proc	*p;
	struct result	 r;
	char		*cause = NULL;
	int		 never = 0;

	memset(&r, 0, sizeof r);
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.env = env_std;
	p = proc_run(base, &spec, done_cb, &r, &cause);
	ok(p != NULL, "sleep started");
	is_int(proc_running(), 1, "one running");
	proc_cancel(p);
	loop_until(&never, 0.5);
	is_int(proc_running(), 0, "cancelled child reaped");
	is_int(r.calls, 0, "no callback after cancel");
	proc_cancel(NULL);
}

int
main(void)
{
	log_init("test-proc", LOG_WARN);
	base = util_event_base_new();
	test_stdin_echo();
	test_stderr_exit();
	test_timeout();
	test_ceiling();
	test_env();
	test_concurrent();
	test_cancel();
	event_base_free(base);
	return (tap_done());
}
