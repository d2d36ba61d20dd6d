/*
 * pam.c: password checks with PAM. Every libpam call lives here. A check
 * may block (pam_faildelay, network PAM), so each attempt runs in a forked
 * child that reports one result over a pipe; the loop never waits on PAM.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "daemon/ident/ident.h"

#define PAM_TIMEOUT	30	/* s a child may take before it is killed */
#define PAM_RESULT_MAX	256	/* bytes of a child's result: code and reason */
#define PAM_REAP_MS	50	/* ms between tries to reap an exited child */

struct pam_attempt {
	pid_t			 pid;
	int			 fd;		/* the result pipe's read end */
	struct event		*ev_read;
	struct event		*ev_timer;	/* the timeout, then reaping */
	char			 buf[PAM_RESULT_MAX + 1];
	size_t			 len;
	int			 timed_out;
	int			 reap_tries;
	pam_attempt_cb		 cb;		/* NULL once it ran */
	void			*arg;
	TAILQ_ENTRY(pam_attempt) entry;
};
static TAILQ_HEAD(, pam_attempt) pam_list = TAILQ_HEAD_INITIALIZER(pam_list);
static unsigned int	 pam_count;

struct pam_secret {
	const char	*user;
	const char	*password;
};

/* Answers password prompts with the password, name prompts with the user. */
static int
pam_conv_cb(int n, const struct pam_message **msg, struct pam_response **resp,
    void *arg)
{
	struct pam_secret	*sec = arg;
	struct pam_response	*r;
	int			 i;

	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return (PAM_CONV_ERR);
	if ((r = calloc(n, sizeof *r)) == NULL)
		return (PAM_BUF_ERR);
	for (i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF)
			r[i].resp = strdup(sec->password);	/* PAM frees it */
		else if (msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
			r[i].resp = strdup(sec->user);
		else
			continue;	/* PAM_ERROR_MSG, PAM_TEXT_INFO: nobody reads them */
		if (r[i].resp == NULL)
			goto fail;
	}
	*resp = r;
	return (PAM_SUCCESS);
fail:
	for (i = 0; i < n; i++) {
		if (r[i].resp != NULL) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
	return (PAM_CONV_ERR);
}

/*
 * Checks @password for @user with PAM service @service: authentication and
 * account. Blocks. Returns RESULT_OK, RESULT_DENIED or RESULT_INTERNAL; *why
 * (caller frees) says what PAM said, never the password.
 */
enum result_kind
pam_check(const char *service, const char *user, const char *password,
    char **why)
{
	struct pam_secret	 sec = { user, password };
	struct pam_conv		 conv = { pam_conv_cb, &sec };
	pam_handle_t		*ph = NULL;
	enum result_kind code = RESULT_DENIED;
	int			 rv;

	if ((rv = pam_start(service, user, &conv, &ph)) != PAM_SUCCESS) {
		xasprintf(why, "pam_start: %s", pam_strerror(NULL, rv));
		return (RESULT_INTERNAL);
	}
	if ((rv = pam_authenticate(ph, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK)) !=
	    PAM_SUCCESS)
		xasprintf(why, "authentication: %s", pam_strerror(ph, rv));
	else if ((rv = pam_acct_mgmt(ph, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK)) !=
	    PAM_SUCCESS)
		xasprintf(why, "account: %s", pam_strerror(ph, rv));
	else {
		*why = xstrdup("accepted");
		code = RESULT_OK;
	}
	pam_end(ph, rv);
	return (code);
}

/* In the child: check, write the code and reason to @fd, exit. */
static __dead void
pam_child(int fd, const char *service, const char *user, char *password)
{
	struct sigaction	 sa;
	sigset_t		 set;
	char			*why = NULL, *out;
	size_t			 len, off = 0;
	ssize_t			 n;
	enum result_kind code;
	int			 sig;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	/* Nothing of the daemon's (listeners, tunnels, database) stays open here. */
	if (fd != 3 && dup2(fd, 3) == -1)
		_exit(1);
	if (syscall(SYS_close_range, 4U, ~0U, 0U) == -1) {
		for (sig = 4; sig < 1024; sig++)
			close(sig);
	}
	code = pam_check(service, user, password, &why);
	explicit_bzero(password, strlen(password));
	xasprintf(&out, "%c%s", '0' + code, why);
	len = strlen(out) > PAM_RESULT_MAX ? PAM_RESULT_MAX : strlen(out);
	while (off < len) {
		if ((n = write(3, out + off, len - off)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	_exit(0);
}

static void
pam_attempt_free(struct pam_attempt *pa)
{
	TAILQ_REMOVE(&pam_list, pa, entry);
	pam_count--;
	if (pa->ev_read != NULL)
		event_free(pa->ev_read);
	if (pa->ev_timer != NULL)
		event_free(pa->ev_timer);
	if (pa->fd != -1)
		close(pa->fd);
	free(pa);
}

/* Reaps the child if it exited; kills one that lingers. 1 if gone. */
static int
pam_reap(struct pam_attempt *pa)
{
	pid_t	r;

	while ((r = waitpid(pa->pid, NULL, WNOHANG)) == -1 && errno == EINTR)
		;
	if (r == pa->pid || (r == -1 && errno == ECHILD))
		return (1);
	if (++pa->reap_tries == 2000 / PAM_REAP_MS)
		kill(pa->pid, SIGKILL);	/* it answered, but does not exit */
	return (0);
}

static void
pam_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pam_attempt	*pa = arg;
	struct timeval		 tv = { 0, PAM_REAP_MS * 1000 };

	if (pa->cb != NULL) {		/* the timeout: the pipe then says EOF */
		log_warnx("pam: a check took longer than %d s; killed", PAM_TIMEOUT);
		pa->timed_out = 1;
		kill(pa->pid, SIGKILL);
		return;
	}
	if (pam_reap(pa))
		pam_attempt_free(pa);
	else
		evtimer_add(pa->ev_timer, &tv);
}

/* The child's result came in (or it died): tell the caller, then reap. */
static void
pam_done(struct pam_attempt *pa)
{
	struct timeval	 tv = { 0, PAM_REAP_MS * 1000 };
	pam_attempt_cb	 cb = pa->cb;
	enum result_kind code = RESULT_INTERNAL;
	const char	*why = "the PAM child process died";

	event_del(pa->ev_read);
	event_del(pa->ev_timer);
	pa->buf[pa->len] = '\0';
	if (pa->timed_out)
		why = "the PAM check timed out";
	else if (pa->len > 0 && (pa->buf[0] == '0' + RESULT_OK ||
	    pa->buf[0] == '0' + RESULT_DENIED ||
	    pa->buf[0] == '0' + RESULT_INTERNAL)) {
		code = (enum result_kind)(pa->buf[0] - '0');
		why = pa->buf + 1;
	}
	pa->cb = NULL;
	cb(code, why, pa->arg);
	if (pam_reap(pa))
		pam_attempt_free(pa);
	else
		evtimer_add(pa->ev_timer, &tv);
}

static void
pam_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pam_attempt	*pa = arg;
	ssize_t			 n;

	n = read(fd, pa->buf + pa->len, PAM_RESULT_MAX - pa->len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		pa->len += n;
		if (pa->len < PAM_RESULT_MAX)
			return;
	}
	pam_done(pa);
}

/*
 * Starts checking @password for @user with @service in a child; @cb runs
 * once, from the loop, with pam_check()'s result and a reason (borrowed). The caller
 * may wipe @password when this returns. NULL and *cause if it cannot start.
 */
struct pam_attempt *
pam_attempt_start(const char *service, const char *user, const char *password,
    pam_attempt_cb cb, void *arg, char **cause)
{
	struct pam_attempt	*pa;
	struct timeval		 tv = { PAM_TIMEOUT, 0 };
	int			 fds[2];
	pid_t			 pid;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		xasprintf(cause, "pipe: %s", strerror(errno));
		return (NULL);
	}
	if ((pid = fork()) == -1) {
		xasprintf(cause, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return (NULL);
	}
	if (pid == 0) {
		close(fds[0]);
		pam_child(fds[1], service, user, (char *)password);
	}
	close(fds[1]);
	pa = xcalloc(1, sizeof *pa);
	pa->pid = pid;
	pa->fd = fds[0];
	pa->cb = cb;
	pa->arg = arg;
	evutil_make_socket_nonblocking(pa->fd);
	pa->ev_read = event_new(gate->base, pa->fd, EV_READ | EV_PERSIST,
	    pam_read_cb, pa);
	pa->ev_timer = evtimer_new(gate->base, pam_timer_cb, pa);
	if (pa->ev_read == NULL || pa->ev_timer == NULL)
		fatalx("event_new failed");
	event_add(pa->ev_read, NULL);
	evtimer_add(pa->ev_timer, &tv);
	TAILQ_INSERT_TAIL(&pam_list, pa, entry);
	pam_count++;
	return (pa);
}

/* Children running or not yet reaped. */
unsigned int
pam_attempts(void)
{
	return (pam_count);
}

/* Kills and reaps every child without calling back (shutdown). */
void
pam_attempt_kill_all(void)
{
	struct pam_attempt	*pa;

	while ((pa = TAILQ_FIRST(&pam_list)) != NULL) {
		kill(pa->pid, SIGKILL);
		while (waitpid(pa->pid, NULL, 0) == -1 && errno == EINTR)
			;
		pam_attempt_free(pa);
	}
}
