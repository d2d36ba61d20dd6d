/*
 * httpc.c: outgoing HTTP(S) requests on the event loop. Every libcurl call
 * lives here; the multi "socket" interface hands curl's sockets and timer
 * to libevent, so no request ever blocks the loop.
 */
#include "config.h"

#include <sys/queue.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "daemon/core/core.h"

#define HTTPC_BODY_MAX		(1024 * 1024)	/* bytes of a response body */
#define HTTPC_TIMEOUT_MS	30000		/* when the caller gives none */
#define HTTPC_CONNECT_MS	10000		/* at most, for the connection */

struct httpc_req {
	CURL			*easy;
	struct curl_slist	*headers;
	char			 errbuf[CURL_ERROR_SIZE];
	char			*body;		/* the response so far */
	size_t			 len;
	int			 too_large;
	httpc_cb		 cb;
	void			*arg;
	TAILQ_ENTRY(httpc_req)	 entry;
};

/* One per socket curl watches; curl_multi_assign() keeps it. */
struct httpc_sock {
	curl_socket_t		 fd;
	struct event		*ev;
};

static struct event_base	*httpc_base;
static CURLM			*httpc_multi;
static struct event		*httpc_timer;
static TAILQ_HEAD(, httpc_req)	 httpc_reqs = TAILQ_HEAD_INITIALIZER(httpc_reqs);

static void	httpc_done(void);

static void
httpc_req_free(struct httpc_req *req)
{
	if (req == NULL)
		return;
	TAILQ_REMOVE(&httpc_reqs, req, entry);
	if (req->easy != NULL) {
		curl_multi_remove_handle(httpc_multi, req->easy);
		curl_easy_cleanup(req->easy);
	}
	curl_slist_free_all(req->headers);
	free(req->body);
	free(req);
}

/* Hand every finished transfer to its callback, then free it. */
static void
httpc_done(void)
{
	struct httpc_result	 res;
	struct httpc_req	*req;
	CURLMsg			*msg;
	char			*priv, *ctype;
	int			 left;

	while ((msg = curl_multi_info_read(httpc_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		req = (struct httpc_req *)priv;
		memset(&res, 0, sizeof res);
		curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &res.status);
		ctype = NULL;
		curl_easy_getinfo(req->easy, CURLINFO_CONTENT_TYPE, &ctype);
		res.content_type = ctype;
		if (req->too_large ||
		    msg->data.result == CURLE_FILESIZE_EXCEEDED)
			res.error = "response too large";
		else if (msg->data.result != CURLE_OK)
			res.error = req->errbuf[0] != '\0' ? req->errbuf :
			    curl_easy_strerror(msg->data.result);
		res.body = req->body != NULL ? req->body : "";
		res.bodylen = req->len;
		req->cb(&res, req->arg);
		httpc_req_free(req);
	}
}

static void
httpc_sock_event(evutil_socket_t fd, short what, void *arg)
{
	int	 flags = 0, running;

	(void)arg;
	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(httpc_multi, fd, flags, &running);
	httpc_done();
}

static void
httpc_timer_event(evutil_socket_t fd, short what, void *arg)
{
	int	 running;

	(void)fd;
	(void)what;
	(void)arg;
	curl_multi_socket_action(httpc_multi, CURL_SOCKET_TIMEOUT, 0, &running);
	httpc_done();
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl asks, or stop. */
static int
httpc_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct httpc_sock	*s = sockp;
	short			 kind = EV_PERSIST;

	(void)easy;
	(void)userp;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_free(s->ev);
			free(s);
		}
		curl_multi_assign(httpc_multi, fd, NULL);
		return (0);
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->fd = fd;
		curl_multi_assign(httpc_multi, fd, s);
	} else
		event_free(s->ev);
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	s->ev = event_new(httpc_base, fd, kind, httpc_sock_event, NULL);
	if (s->ev == NULL)
		fatalx("%s: event_new", __func__);
	event_add(s->ev, NULL);
	return (0);
}

/* CURLMOPT_TIMERFUNCTION: curl wants to be called in ms (-1: never). */
static int
httpc_timer_cb(CURLM *multi, long ms, void *userp)
{
	struct timeval	 tv;

	(void)multi;
	(void)userp;
	if (ms < 0) {
		evtimer_del(httpc_timer);
		return (0);
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(httpc_timer, &tv);
	return (0);
}

static size_t
httpc_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct httpc_req	*req = arg;
	size_t			 len = size * n;

	if (len > HTTPC_BODY_MAX - req->len) {
		req->too_large = 1;
		return (0);	/* curl aborts with CURLE_WRITE_ERROR */
	}
	req->body = xreallocarray(req->body, 1, req->len + len + 1);
	memcpy(req->body + req->len, data, len);
	req->len += len;
	req->body[req->len] = '\0';
	return (len);
}

int
httpc_init(struct event_base *base, char **cause)
{
	if (httpc_multi != NULL)
		return (0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		*cause = xstrdup("libcurl: global initialisation failed");
		return (-1);
	}
	if ((httpc_multi = curl_multi_init()) == NULL) {
		curl_global_cleanup();
		*cause = xstrdup("libcurl: curl_multi_init failed");
		return (-1);
	}
	httpc_base = base;
	httpc_timer = evtimer_new(base, httpc_timer_event, NULL);
	if (httpc_timer == NULL)
		fatalx("%s: evtimer_new", __func__);
	curl_multi_setopt(httpc_multi, CURLMOPT_SOCKETFUNCTION, httpc_sock_cb);
	curl_multi_setopt(httpc_multi, CURLMOPT_TIMERFUNCTION, httpc_timer_cb);
	return (0);
}

void
httpc_shutdown(void)
{
	if (httpc_multi == NULL)
		return;
	while (!TAILQ_EMPTY(&httpc_reqs))
		httpc_req_free(TAILQ_FIRST(&httpc_reqs));
	curl_multi_cleanup(httpc_multi);
	httpc_multi = NULL;
	event_free(httpc_timer);
	httpc_timer = NULL;
	httpc_base = NULL;
	curl_global_cleanup();
}

/* A method is an HTTP token: letters only is enough for us. */
static int
httpc_method_valid(const char *m)
{
	if (*m == '\0' || strlen(m) > 16)
		return (0);
	for (; *m != '\0'; m++)
		if (!isupper((unsigned char)*m))
			return (0);
	return (1);
}

static int
httpc_setup(struct httpc_req *req, const struct httpc_opts *o, char **cause)
{
	CURL		*e = req->easy;
	const char	*method;
	size_t		 i;
	int		 rc = 0;

	method = o->method != NULL ? o->method : (o->body != NULL ? "POST" : "GET");
	if (!httpc_method_valid(method)) {
		xasprintf(cause, "bad HTTP method");
		return (-1);
	}
	if (strncmp(o->url, "https://", 8) != 0 && strncmp(o->url, "http://", 7) != 0) {
		xasprintf(cause, "%s: only http:// and https:// URLs", o->url);
		return (-1);
	}
	for (i = 0; o->headers != NULL && o->headers[i] != NULL; i++) {
		if (strpbrk(o->headers[i], "\r\n") != NULL ||
		    strchr(o->headers[i], ':') == NULL) {
			xasprintf(cause, "bad request header");
			return (-1);
		}
		req->headers = curl_slist_append(req->headers, o->headers[i]);
		if (req->headers == NULL)
			fatalx("%s: curl_slist_append", __func__);
	}
	rc |= curl_easy_setopt(e, CURLOPT_URL, o->url);
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    (long)(o->timeout_ms > 0 ? o->timeout_ms : HTTPC_TIMEOUT_MS));
	rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)HTTPC_CONNECT_MS);
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, httpc_write_cb);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)req);
	rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
	rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, "nbgated/" PACKAGE_VERSION);
	rc |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)HTTPC_BODY_MAX);
	if (o->cafile != NULL)
		rc |= curl_easy_setopt(e, CURLOPT_CAINFO, o->cafile);
	if (o->body != NULL) {
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)o->bodylen);
		rc |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->body);
	}
	if (strcmp(method, "GET") == 0 && o->body == NULL)
		rc |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "HEAD") == 0)
		rc |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "POST") != 0 || o->body == NULL)
		rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (rc != CURLE_OK) {
		xasprintf(cause, "libcurl refused an option");
		return (-1);
	}
	return (0);
}

struct httpc_req *
httpc_request(const struct httpc_opts *o, httpc_cb cb, void *arg, char **cause)
{
	struct httpc_req	*req;

	if (httpc_multi == NULL) {
		*cause = xstrdup("HTTP client not started");
		return (NULL);
	}
	if (o->url == NULL) {
		*cause = xstrdup("no URL");
		return (NULL);
	}
	req = xcalloc(1, sizeof *req);
	req->cb = cb;
	req->arg = arg;
	TAILQ_INSERT_TAIL(&httpc_reqs, req, entry);
	if ((req->easy = curl_easy_init()) == NULL)
		fatalx("%s: curl_easy_init", __func__);
	if (httpc_setup(req, o, cause) == -1)
		goto fail;
	/* Starts nothing now: curl arms the timer, the loop does the rest. */
	if (curl_multi_add_handle(httpc_multi, req->easy) != CURLM_OK) {
		*cause = xstrdup("libcurl: curl_multi_add_handle failed");
		goto fail;
	}
	return (req);
fail:
	httpc_req_free(req);
	return (NULL);
}

void
httpc_cancel(struct httpc_req *req)
{
	httpc_req_free(req);
}
