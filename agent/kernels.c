/*
 * kernels.c: stops the notebook's kernels through the notebook server's own
 * REST API (GET, then DELETE /api/kernels/ID) before the server goes, so
 * each kernel ends the way Jupyter ends one (a shutdown request: its
 * atexit hooks run, the server closes its files) and not by a signal.
 * Blocking and bounded in time: the agent runs it only while leaving.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/common.h"
#include "agent/agent.h"

#define KN_BODY_MAX	(1024 * 1024)	/* bytes of one answer */
#define KN_MAX		256		/* kernels stopped at most */

static long long
kn_ms_left(const struct timespec *deadline)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((deadline->tv_sec - now.tv_sec) * 1000LL +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000);
}

/* Waits until @fd is ready for @events or the deadline passes: 0 or -1. */
static int
kn_wait(int fd, short events, const struct timespec *deadline)
{
	struct pollfd	pfd = { .fd = fd, .events = events };
	long long	ms;
	int		rv;

	do {
		if ((ms = kn_ms_left(deadline)) <= 0)
			return (-1);
		rv = poll(&pfd, 1, (int)ms);
	} while (rv == -1 && errno == EINTR);
	return (rv == 1 ? 0 : -1);
}

/* Writes all of @buf before the deadline: 0 or -1. */
static int
kn_write(int fd, const char *buf, size_t len, const struct timespec *deadline)
{
	ssize_t	n;

	while (len > 0) {
		if (kn_wait(fd, POLLOUT, deadline) == -1)
			return (-1);
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return (-1);
		}
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Reads to EOF (HTTP/1.0: the server closes): the owned answer, or NULL. */
static char *
kn_read(int fd, size_t *lenp, const struct timespec *deadline)
{
	char	*buf = xmalloc(KN_BODY_MAX + 1);
	size_t	 len = 0;
	ssize_t	 n;

	for (;;) {
		if (len == KN_BODY_MAX || kn_wait(fd, POLLIN, deadline) == -1)
			goto fail;
		if ((n = read(fd, buf + len, KN_BODY_MAX - len)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*lenp = len;
	return (buf);
fail:
	free(buf);
	return (NULL);
}

/*
 * One request to the notebook (HTTP/1.0, the token in a header): the
 * status code and the owned body in *body (may be NULL), or -1.
 */
static int
kn_request(struct notebook *nb, const struct notebook_config *cfg, const char *method,
    const char *path, char **body, const struct timespec *deadline)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = notebook_addr(nb, &ss);
	char			*req = NULL, *all = NULL, *p;
	size_t			 len;
	int			 fd, code = -1;

	if (body != NULL)
		*body = NULL;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&ss, sslen) == -1 && (errno != EINPROGRESS ||
	    kn_wait(fd, POLLOUT, deadline) == -1))
		goto out;
	xasprintf(&req, "%s %s%s HTTP/1.0\r\nHost: localhost\r\nAuthorization: token %s\r\n"
	    "Content-Length: 0\r\n\r\n", method, cfg->base_url, path, notebook_token(nb));
	if (kn_write(fd, req, strlen(req), deadline) == -1 ||
	    (all = kn_read(fd, &len, deadline)) == NULL)
		goto out;
	if (len < 12 || strncmp(all, "HTTP/1.", 7) != 0 ||
	    sscanf(all + 8, " %3d", &code) != 1 || code < 100 || code > 599) {
		code = -1;
		goto out;
	}
	if (body != NULL && (p = strstr(all, "\r\n\r\n")) != NULL)
		*body = xstrdup(p + 4);
out:
	freestr(req);	/* holds the token */
	free(all);
	close(fd);
	return (code);
}

/* 1 if @id can be a kernel id in a URL path (a UUID: hex and '-'). */
static int
kn_id_ok(const char *id)
{
	size_t	len = strlen(id);

	return (len > 0 && len <= 64 && strspn(id, "0123456789abcdefABCDEF-") == len);
}

/*
 * The ids in a GET /api/kernels answer (a JSON array of objects with "id"):
 * 0 and an owned list (ids that are not UUID-like are skipped), -1 if the
 * answer is not such an array.
 */
int
kernels_ids(const char *body, size_t len, char ***idsp, size_t *np)
{
	json_t		*j, *k;
	const char	*id;
	size_t		 i;

	*idsp = NULL;
	*np = 0;
	if ((j = json_loadb(body, len, 0, NULL)) == NULL || !json_is_array(j)) {
		json_decref(j);
		return (-1);
	}
	json_array_foreach(j, i, k) {
		id = json_string_value(json_object_get(k, "id"));
		if (id == NULL || !kn_id_ok(id) || *np == KN_MAX)
			continue;
		*idsp = xreallocarray(*idsp, *np + 1, sizeof **idsp);
		(*idsp)[(*np)++] = xstrdup(id);
	}
	json_decref(j);
	return (0);
}

/*
 * Stops every kernel of the notebook within @timeout seconds: the number
 * stopped (DELETE answered 204), or -1 and *cause if they could not be
 * listed. The server waits for each kernel to shut down before it answers.
 */
int
kernels_stop(struct notebook *nb, const struct notebook_config *cfg, int timeout,
    char **cause)
{
	struct timespec	 deadline;
	char		*body = NULL, **ids = NULL, *path;
	size_t		 n = 0, i;
	int		 code, stopped = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout;
	code = kn_request(nb, cfg, "GET", "api/kernels", &body, &deadline);
	if (code != 200 || body == NULL || kernels_ids(body, strlen(body), &ids, &n) == -1) {
		xasprintf(cause, "cannot list the kernels (%s)", code == -1 ?
		    "no answer" : code == 200 ? "not a list" : "refused");
		free(body);
		return (-1);
	}
	free(body);
	for (i = 0; i < n; i++) {
		xasprintf(&path, "api/kernels/%s", ids[i]);
		code = kn_request(nb, cfg, "DELETE", path, NULL, &deadline);
		if (code == 204)
			stopped++;
		else
			log_warnx("agent: route %s: kernel %s not stopped (%s)", cfg->route,
			    ids[i], code == -1 ? "no answer in time" : "refused");
		free(path);
		free(ids[i]);
	}
	free(ids);
	return (stopped);
}
