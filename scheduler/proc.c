/*
 * proc.c: child processes off the event loop: fork/exec of an argv (never a
 * shell) in a new process group, stdin from a buffer, stdout/stderr into
 * evbuffers with a ceiling, a timeout that kills the group, reaping by SIGCHLD.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/common.h"
#include "scheduler/backend.h"

#define PROC_KILL_DELAY		2000	/* ms from TERM to KILL after a timeout */
#define PROC_GRACE		200	/* ms to wait for pipes after the child exits */

struct proc {
	struct event_base	*base;
	pid_t			 pid;
	int			 reaped;
	int			 wstatus;
	int			 fd[3];		/* our ends: stdin, stdout, stderr */
	struct event		*ev[3];
	struct evbuffer		*in;
	struct evbuffer		*out;
	struct evbuffer		*err;
	struct event		*ev_timeout;
	struct event		*ev_kill;
	struct event		*ev_grace;
	struct event		*ev_done;
	size_t			 max;
	int			 timed_out;
	int			 overflow;
	proc_done_cb		 cb;		/* NULL once cancelled */
	proc_stream_cb		 on_read;	/* streaming: stdin stays open */
	void			*arg;
	TAILQ_ENTRY(proc)	 entry;
};
static TAILQ_HEAD(, proc) procs = TAILQ_HEAD_INITIALIZER(procs);
static struct event	*proc_sigchld;
static int		 proc_count;

static void	proc_check(struct proc *);
static void	proc_free(struct proc *);

/* Signals the whole group, while the leader (or its zombie) still holds it. */
static void
proc_killpg(struct proc *p, int sig)
{
	if (p->pid > 0 && !p->reaped)
		kill(-p->pid, sig);
}

static void
proc_close(struct proc *p, int i)
{
	if (p->ev[i] != NULL) {
		event_free(p->ev[i]);
		p->ev[i] = NULL;
	}
	if (p->fd[i] != -1) {
		close(p->fd[i]);
		p->fd[i] = -1;
	}
}

static void
proc_sigchld_cb(evutil_socket_t sig, short events, void *arg)
{
	struct proc	*p, *next;
	pid_t		 r;

	for (p = TAILQ_FIRST(&procs); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);	/* proc_check() may free p */
		if (p->reaped)
			continue;
		while ((r = waitpid(p->pid, &p->wstatus, WNOHANG)) == -1 && errno == EINTR)
			;
		if (r == -1 && errno == ECHILD)
			p->wstatus = 127 << 8;	/* reaped by someone else */
		if (r == p->pid || (r == -1 && errno == ECHILD)) {
			p->reaped = 1;
			proc_count--;
			proc_check(p);
		}
	}
}

static void
proc_write_cb(evutil_socket_t fd, short events, void *arg)
{
	struct proc	*p = arg;

	if (evbuffer_write(p->in, fd) == -1 && errno != EAGAIN && errno != EINTR) {
		proc_close(p, 0);		/* EPIPE: the child stopped reading */
		return;
	}
	if (evbuffer_get_length(p->in) == 0 && p->on_read != NULL)
		event_del(p->ev[0]);	/* until proc_write() has more */
	else if (evbuffer_get_length(p->in) == 0)
		proc_close(p, 0);
}

static void
proc_read_cb(evutil_socket_t fd, short events, void *arg)
{
	struct proc	*p = arg;
	int		 i = fd == p->fd[1] ? 1 : 2;
	struct evbuffer	*b = i == 1 ? p->out : p->err;
	int		 n;

	n = evbuffer_read(b, fd, 65536);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && evbuffer_get_length(b) <= p->max) {
		if (p->on_read != NULL)
			p->on_read(p->out, p->err, p->arg);	/* may cancel p: touch nothing after */
		return;
	}
	if (n > 0) {
		p->overflow = 1;
		proc_killpg(p, SIGKILL);
	}
	proc_close(p, i);
	proc_check(p);
}

static void
proc_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct proc	*p = arg;
	struct timeval	 tv = { PROC_KILL_DELAY / 1000, (PROC_KILL_DELAY % 1000) * 1000 };

	p->timed_out = 1;
	proc_killpg(p, SIGTERM);
	evtimer_add(p->ev_kill, &tv);
}

static void
proc_kill_cb(evutil_socket_t fd, short events, void *arg)
{
	proc_killpg(arg, SIGKILL);
}

/* The child is gone but something it left behind holds the pipes: stop waiting. */
static void
proc_grace_cb(evutil_socket_t fd, short events, void *arg)
{
	struct proc	*p = arg;

	/*
	 * The pipes are held open, so some member of the group is alive and
	 * its id cannot have been reused: kill the stragglers.
	 */
	kill(-p->pid, SIGKILL);
	proc_close(p, 1);
	proc_close(p, 2);
	proc_check(p);
}

static void
proc_done_cb_ev(evutil_socket_t fd, short events, void *arg)
{
	struct proc		*p = arg;
	struct proc_result	 r;

	memset(&r, 0, sizeof r);
	if (WIFEXITED(p->wstatus)) {
		r.exited = 1;
		r.status = WEXITSTATUS(p->wstatus);
	} else if (WIFSIGNALED(p->wstatus)) {
		r.status = -1;
		r.signal = WTERMSIG(p->wstatus);
	}
	r.timed_out = p->timed_out;
	r.overflow = p->overflow;
	r.out = p->out;
	r.err = p->err;
	TAILQ_REMOVE(&procs, p, entry);
	if (p->cb != NULL)
		p->cb(&r, p->arg);
	proc_free(p);
}

/* Finishes once the child is reaped and both output pipes are closed. */
static void
proc_check(struct proc *p)
{
	struct timeval	tv = { 0, PROC_GRACE * 1000 };

	if (!p->reaped)
		return;
	if (p->cb == NULL) {		/* cancelled: only the zombie was left */
		TAILQ_REMOVE(&procs, p, entry);
		proc_free(p);
		return;
	}
	if (p->fd[1] != -1 || p->fd[2] != -1) {
		if (!evtimer_pending(p->ev_grace, NULL))
			evtimer_add(p->ev_grace, &tv);
		return;
	}
	proc_close(p, 0);
	event_active(p->ev_done, EV_TIMEOUT, 0);
}

static void
proc_free(struct proc *p)
{
	int	i;

	for (i = 0; i < 3; i++)
		proc_close(p, i);
	if (p->ev_timeout != NULL)
		event_free(p->ev_timeout);
	if (p->ev_kill != NULL)
		event_free(p->ev_kill);
	if (p->ev_grace != NULL)
		event_free(p->ev_grace);
	if (p->ev_done != NULL)
		event_free(p->ev_done);
	if (p->in != NULL)
		evbuffer_free(p->in);
	if (p->out != NULL)
		evbuffer_free(p->out);
	if (p->err != NULL)
		evbuffer_free(p->err);
	free(p);
}

/* Kills the group and forgets the result; the zombie is reaped later. */
void
proc_cancel(struct proc *p)
{
	int	i;

	if (p == NULL)
		return;
	proc_killpg(p, SIGKILL);
	p->cb = NULL;
	for (i = 0; i < 3; i++)
		proc_close(p, i);
	evtimer_del(p->ev_timeout);
	evtimer_del(p->ev_kill);
	evtimer_del(p->ev_grace);
	event_del(p->ev_done);
	if (p->reaped) {
		TAILQ_REMOVE(&procs, p, entry);
		proc_free(p);
	}
}

/* Streaming: more bytes for the child's stdin; -1 once stdin is closed. */
int
proc_write(struct proc *p, const void *buf, size_t len)
{
	if (p->fd[0] == -1 || p->on_read == NULL)
		return (-1);
	evbuffer_add(p->in, buf, len);
	event_add(p->ev[0], NULL);
	return (0);
}

int
proc_running(void)
{
	return (proc_count);
}

/* argv[0] as an executable path, searched in env's PATH; NULL if none. */
static char *
proc_find(const char *name, const char *const *env)
{
	const char	*path = "/usr/bin:/bin", *s, *e;
	char		*try;
	struct stat	 sb;
	size_t		 i;

	if (strchr(name, '/') != NULL)
		return (access(name, X_OK) == 0 ? xstrdup(name) : NULL);
	for (i = 0; env != NULL && env[i] != NULL; i++) {
		if (strncmp(env[i], "PATH=", 5) == 0)
			path = env[i] + 5;
	}
	for (s = path; *s != '\0'; s = *e == ':' ? e + 1 : e) {
		if ((e = strchr(s, ':')) == NULL)
			e = s + strlen(s);
		if (e == s)
			continue;
		xasprintf(&try, "%.*s/%s", (int)(e - s), s, name);
		if (stat(try, &sb) == 0 && S_ISREG(sb.st_mode) && access(try, X_OK) == 0)
			return (try);
		free(try);
	}
	return (NULL);
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static __dead void
proc_child(const char *path, const struct proc_spec *spec, int in, int out, int err)
{
	static const char *const empty[] = { NULL };
	const char *const	*env = spec->env != NULL ? spec->env : empty;
	static const char	 msg[] = "nbgate: cannot execute the command\n";
	struct sigaction	 sa;
	sigset_t		 set;
	int			 sig, fd;

	setpgid(0, 0);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(err, 2) == -1)
		_exit(127);
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == -1) {
		for (fd = 3; fd < 1024; fd++)
			close(fd);
	}
	if (spec->cred != NULL && (setgroups(spec->cred->ngroups, spec->cred->groups) == -1 ||
	    setgid(spec->cred->gid) == -1 || setuid(spec->cred->uid) == -1))
		_exit(127);
	if (chdir(spec->dir != NULL ? spec->dir : "/") == -1)
		_exit(127);
	execve(path, (char *const *)spec->argv, (char *const *)env);
	if (write(2, msg, sizeof msg - 1) == -1)
		_exit(127);
	_exit(127);
}

static int
proc_pipes(int fds[3][2], char **cause)
{
	int	i, j;

	for (i = 0; i < 3; i++)
		fds[i][0] = fds[i][1] = -1;
	for (i = 0; i < 3; i++) {
		if (pipe2(fds[i], O_CLOEXEC) == -1) {
			xasprintf(cause, "pipe: %s", strerror(errno));
			for (j = 0; j < i; j++) {
				close(fds[j][0]);
				close(fds[j][1]);
			}
			return (-1);
		}
	}
	return (0);
}

static struct proc *
proc_alloc(struct event_base *base, const struct proc_spec *spec, proc_done_cb cb, void *arg)
{
	struct proc	*p = xcalloc(1, sizeof *p);

	p->base = base;
	p->fd[0] = p->fd[1] = p->fd[2] = -1;
	p->in = evbuffer_new();
	p->out = evbuffer_new();
	p->err = evbuffer_new();
	if (p->in == NULL || p->out == NULL || p->err == NULL)
		fatalx("evbuffer_new failed");
	if (spec->input != NULL && spec->inlen > 0)
		evbuffer_add(p->in, spec->input, spec->inlen);
	p->max = spec->output_max != 0 ? spec->output_max : PROC_OUTPUT_MAX;
	p->ev_timeout = evtimer_new(base, proc_timeout_cb, p);
	p->ev_kill = evtimer_new(base, proc_kill_cb, p);
	p->ev_grace = evtimer_new(base, proc_grace_cb, p);
	p->ev_done = event_new(base, -1, 0, proc_done_cb_ev, p);
	if (p->ev_timeout == NULL || p->ev_kill == NULL || p->ev_grace == NULL ||
	    p->ev_done == NULL)
		fatalx("event_new failed");
	p->cb = cb;
	p->on_read = spec->on_read;
	p->arg = arg;
	return (p);
}

static void
proc_watch(struct proc *p, int fds[3][2], int timeout)
{
	struct timeval	tv;
	int		i;

	p->fd[0] = fds[0][1];
	p->fd[1] = fds[1][0];
	p->fd[2] = fds[2][0];
	for (i = 0; i < 3; i++) {
		close(fds[i][i == 0 ? 0 : 1]);
		evutil_make_socket_nonblocking(p->fd[i]);
		p->ev[i] = event_new(p->base, p->fd[i], (i == 0 ? EV_WRITE : EV_READ) | EV_PERSIST,
		    i == 0 ? proc_write_cb : proc_read_cb, p);
		if (p->ev[i] == NULL)
			fatalx("event_new failed");
	}
	if (evbuffer_get_length(p->in) == 0 && p->on_read == NULL)
		proc_close(p, 0);
	for (i = 0; i < 3; i++) {
		if (i == 0 && evbuffer_get_length(p->in) == 0)
			continue;
		if (p->ev[i] != NULL)
			event_add(p->ev[i], NULL);
	}
	if (timeout > 0) {
		tv.tv_sec = timeout / 1000;
		tv.tv_usec = (timeout % 1000) * 1000;
		evtimer_add(p->ev_timeout, &tv);
	}
}

/* Starts spec's argv; the callback runs once from the loop unless cancelled. */
struct proc *
proc_run(struct event_base *base, const struct proc_spec *spec, proc_done_cb cb, void *arg,
    char **cause)
{
	struct proc	*p;
	char		*path;
	int		 fds[3][2], i;
	pid_t		 pid;

	if (spec->argv == NULL || spec->argv[0] == NULL) {
		*cause = xstrdup("empty command");
		return (NULL);
	}
	if ((path = proc_find(spec->argv[0], spec->env)) == NULL) {
		xasprintf(cause, "%s: command not found", spec->argv[0]);
		return (NULL);
	}
	if (proc_sigchld == NULL) {
		signal(SIGPIPE, SIG_IGN);	/* writes to a closed stdin report EPIPE */
		proc_sigchld = evsignal_new(base, SIGCHLD, proc_sigchld_cb, NULL);
		if (proc_sigchld == NULL || evsignal_add(proc_sigchld, NULL) == -1)
			fatalx("cannot watch SIGCHLD");
	}
	if (proc_pipes(fds, cause) == -1) {
		free(path);
		return (NULL);
	}
	if ((pid = fork()) == -1) {
		xasprintf(cause, "fork: %s", strerror(errno));
		for (i = 0; i < 3; i++) {
			close(fds[i][0]);
			close(fds[i][1]);
		}
		free(path);
		return (NULL);
	}
	if (pid == 0)
		proc_child(path, spec, fds[0][0], fds[1][1], fds[2][1]);
	free(path);
	setpgid(pid, pid);		/* also here: no race with an early kill */
	p = proc_alloc(base, spec, cb, arg);
	p->pid = pid;
	proc_count++;
	TAILQ_INSERT_TAIL(&procs, p, entry);
	proc_watch(p, fds, spec->timeout);
	return (p);
}
