/*
 * conn-request.c: a browser's requests: the request parser, who is asking
 * (a token header or a cookie), the checks on a head, and where it goes:
 * /hub/ (conn-hub.c), a notebook (conn-up.c), or an answer right here.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <jansson.h>
#include <http_parser.h>

#include "daemon/proxy/proxy.h"
#include "daemon/proxy/conn.h"

#define CONN_ANON_BODY_MAX	(8 * 1024)	/* a login form before anyone is known */

static conn_connector_fn conn_connector = tunnel_connect;

/* Request parser callbacks. */
static int
conn_on_begin(http_parser *p)
{
	struct conn	*c = p->data;

	http_msg_reset(&c->req);
	c->req_head_done = c->req_done = c->req_chunked = 0;
	c->req_upgrade = c->req_head_method = 0;
	c->resp_started = c->resp_done = c->resp_chunked = c->resp_close = 0;
	if (c->local_body != NULL) {
		evbuffer_free(c->local_body);
		c->local_body = NULL;
	}
	free(c->local_user);
	c->local_user = NULL;
	c->head_start = time(NULL);
	c->in_head = 1;
	return (0);
}

static int
conn_on_url(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	if (http_msg_url(&c->req, at, len) == -1) {
		c->err_code = 414;
		return (-1);
	}
	return (0);
}

static int
conn_on_field(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	if (http_msg_field(&c->req, at, len) == -1) {
		c->err_code = 431;
		return (-1);
	}
	return (0);
}

static int
conn_on_value(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	if (http_msg_value(&c->req, at, len) == -1) {
		c->err_code = 431;
		return (-1);
	}
	return (0);
}

static int
conn_on_headers(http_parser *p)
{
	struct conn	*c = p->data;

	c->req_head_done = 1;
	c->in_head = 0;
	c->req_chunked = (p->flags & F_CHUNKED) != 0;
	c->req_keepalive = http_should_keep_alive(p);
	c->req_head_method = p->method == HTTP_HEAD;
	c->req_upgrade = p->upgrade;
	http_parser_pause(p, 1);
	return (0);
}

static int
conn_on_body(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;
	struct evbuffer	*out;

	if (c->phase == PH_LOCAL) {
		if (evbuffer_get_length(c->local_body) + len > c->local_max) {
			c->err_code = 413;
			return (-1);
		}
		evbuffer_add(c->local_body, at, len);
		return (0);
	}
	if (c->up == NULL)
		return (0);	/* the stream died; the response side reports it */
	out = bufferevent_get_output(c->up);
	if (c->req_chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	conn_feed_move(&c->rfeed, at, len, out);
	if (c->req_chunked)
		evbuffer_add(out, "\r\n", 2);
	gate->stats.bytes_up += len;
	return (0);
}

static int
conn_on_complete(http_parser *p)
{
	struct conn	*c = p->data;

	c->req_done = 1;
	if (c->phase == PH_PROXY && c->up != NULL && c->req_chunked)
		evbuffer_add(bufferevent_get_output(c->up), "0\r\n\r\n", 5);
	http_parser_pause(p, 1);
	return (0);
}

static const http_parser_settings conn_req_settings = {
	.on_message_begin = conn_on_begin,
	.on_url = conn_on_url,
	.on_header_field = conn_on_field,
	.on_header_value = conn_on_value,
	.on_headers_complete = conn_on_headers,
	.on_body = conn_on_body,
	.on_message_complete = conn_on_complete,
};

/*
 * Who is asking: an API token header, or else the one cookie @name that
 * @check turns into a user (allocated), or NULL.  A head with two such
 * cookies (one tossed in by a sibling host) or two Cookie headers proves
 * no one.
 */
static char *
conn_request_who(const struct http_msg *m, const char *name,
    char *(*check)(const char *))
{
	const char	*auth = http_msg_get(m, "authorization");
	const char	*cookie = http_msg_get(m, "cookie");
	char		*v, *user = NULL;

	if (auth != NULL && strncasecmp(auth, "token ", 6) == 0)
		return (auth_token_check(auth + 6));
	if (cookie == NULL || http_msg_count(m, "cookie") > 1 ||
	    http_cookie_count(cookie, name) != 1)
		return (NULL);
	if ((v = http_cookie_get(cookie, name)) != NULL) {
		user = check(v);
		free(v);
	}
	return (user);
}

/* Who is asking on the hub's host: a token header or the login cookie. */
char *
conn_request_user(const struct http_msg *m)
{
	return (conn_request_who(m, AUTH_COOKIE, auth_cookie_check));
}

/* 1 if the head's credential is the login cookie (not an API token header). */
int
conn_request_by_cookie(const struct http_msg *m)
{
	const char	*auth = http_msg_get(m, "authorization");

	return (auth == NULL || strncasecmp(auth, "token ", 6) != 0);
}

/* Checks what a proxy request head must satisfy; 0 or an HTTP status. */
static int
conn_check_head(struct conn *c)
{
	const char	*te = http_msg_get(&c->req, "transfer-encoding");

	if (c->req.url == NULL || c->req.url[0] != '/')
		return (400);
	if (c->rp.http_major == 1 && c->rp.http_minor >= 1 &&
	    http_msg_count(&c->req, "host") != 1)
		return (400);
	if (http_msg_count(&c->req, "host") > 1 ||
	    http_msg_count(&c->req, "content-length") > 1 ||
	    http_msg_count(&c->req, "transfer-encoding") > 1)
		return (400);
	if (te != NULL && strcasecmp(te, "chunked") != 0)
		return (501);
	if (te != NULL && http_msg_get(&c->req, "content-length") != NULL)
		return (400);
	if (http_conn_names_framing(&c->req))
		return (400);	/* "Connection: content-length" would unframe the body */
	return (0);
}

/*
 * The same-origin rule at the proxy: a request the login cookie
 * authenticates that may change something (not GET, HEAD or OPTIONS), and
 * every upgrade, must come from the gateway's own pages.  The notebook
 * cannot check this itself: the token nbgated adds turns its own XSRF and
 * Origin checks off.  0 to go on, -1 when refused (answered).
 */
static int
conn_check_origin(struct conn *c, const char *user)
{
	enum http_method	 m = c->rp.method;
	const char		*why, *o = http_msg_get(&c->req, "origin");

	if (!conn_request_by_cookie(&c->req) ||
	    (!c->req_upgrade && (m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS)))
		return (0);
	if (origin_check(&c->req, c->tls, &why) == 0)
		return (0);
	gate->stats.refused++;
	gate->stats.cross_origin++;
	log_warnx("%s: user %s: %s %s refused: %s%s%s", c->peer, user,
	    c->req_upgrade ? "upgrade of" : http_method_str(m), c->req.url, why,
	    o != NULL ? ": " : "", o != NULL ? o : "");
	conn_fail(c, 403, "Request from another site refused",
	    "This request to your notebook did not come from this gateway's own "
	    "pages (another web site, or a page on another host name, tried to "
	    "use your login). It was refused and nothing was changed. If you "
	    "clicked something on this gateway, reload the page and try again.");
	return (-1);
}

/* Proxies the request head just parsed to route @r. */
static void
conn_proxy(struct conn *c, struct route *r)
{
	c->phase = PH_PROXY;
	gate->stats.requests++;
	route_touch(r, time(NULL));
	if (c->up != NULL && c->up_reusable && c->up_r == r &&
	    c->up_gen == route_tunnel_gen(r) &&
	    evbuffer_get_length(bufferevent_get_input(c->up)) == 0) {
		conn_send_head(c);
		return;
	}
	conn_up_release(c);	/* another route's: back to its own pool */
	conn_up_drop(c);
	route_ref(r);
	c->up_r = r;		/* the object, not the name: a route re-added is another */
	c->up_gen = route_tunnel_gen(r);
	c->route = xstrdup(route_name(r));
	if ((c->up = upool_take(route_upool(r))) != NULL) {
		gate->stats.up_reused++;
		/*
		 * The notebook may close an idle stream as it is taken: a
		 * request that is safe to send twice and has no body goes
		 * again on a new stream if it gets no byte of an answer.
		 */
		c->up_retry = (c->rp.method == HTTP_GET || c->rp.method == HTTP_HEAD ||
		    c->rp.method == HTTP_OPTIONS) && !c->req_chunked && !c->req_upgrade &&
		    (c->rp.content_length == 0 || c->rp.content_length == ULLONG_MAX);
		conn_send_head(c);
		return;
	}
	conn_up_connect(c);
}

/* Opens a new stream through the tunnel of c->up_r (its answer: conn_up_ready). */
void
conn_up_connect(struct conn *c)
{
	struct tunnel	*t = route_tunnel(c->up_r);

	if (t == NULL) {
		conn_up_ready(NULL, "the notebook's tunnel closed", c);
		return;
	}
	gate->stats.up_opened++;
	c->phase = PH_WAIT_UP;
	c->treq = conn_connector(t, c->peer, c->peer_port, conn_up_ready, c);
}

/* 1 if the request carries a valid service token (no user of its own). */
static int
conn_service_token(struct conn *c)
{
	const char		*auth = http_msg_get(&c->req, "authorization");
	const struct auth_token	*tok;

	return (auth != NULL && strncasecmp(auth, "token ", 6) == 0 &&
	    auth_token_lookup(auth + 6, &tok) == RESULT_OK);
}

/*
 * A /hub/ request: who it is from is settled before any of its body is
 * read, and that decides how much body it may have: none before a login
 * but the login form's few KiB, proxy.max_body_size after.  0 to read on;
 * -1 when refused (answered).
 */
static int
conn_local_begin(struct conn *c)
{
	const char		*cl = http_msg_get(&c->req, "content-length");
	unsigned long long	 len = cl != NULL ? strtoull(cl, NULL, 10) : 0;
	int			 api = strncmp(c->req.url, "/hub/api/", 9) == 0;

	if (!c->admin)
		c->local_user = conn_request_user(&c->req);
	if (c->admin || c->local_user != NULL || conn_service_token(c))
		c->local_max = gate->cfg->proxy_max_body;
	else if (strncmp(c->req.url, "/hub/login", 10) == 0)
		c->local_max = CONN_ANON_BODY_MAX;
	else
		c->local_max = 0;
	if (c->local_max == 0 && (c->req_chunked || len > 0)) {
		/*
		 * Answered as its handler answers anyone unknown (401, 403),
		 * without its body, which is never read: the connection closes.
		 */
		gate->stats.refused++;
		c->req_keepalive = 0;
		c->local_body = evbuffer_new();
		conn_local(c);
		return (-1);
	}
	if (len > c->local_max) {
		gate->stats.bad_requests++;
		if (api)
			conn_fail_json(c, 413, "the request body is too large");
		else
			conn_fail(c, 413, "Request too large",
			    "The request body is too large.");
		return (-1);
	}
	return (0);
}

/*
 * proxy.user_hosts: every user's notebooks on a host of their own
 * (alice.nb.example.org), with a host-only cookie of its own, so that a
 * notebook's JavaScript never runs in the hub's origin nor with the hub's
 * cookie.  A user's host serves /user/<that user>/ and the hand-over
 * /hub/user-login, nothing of the hub.  -1 when answered.
 */
static int
conn_userhost_hub(struct conn *c)
{
	char	*hu;

	if (*gate->cfg->proxy_user_hosts == '\0' || c->admin ||
	    (hu = userhost_user(http_msg_get(&c->req, "host"))) == NULL)
		return (0);
	free(hu);
	if (strncmp(c->req.url, "/hub/user-login?", 16) == 0)
		return (0);
	conn_fail(c, 404, "Not on this host", "This host serves one user's notebooks "
	    "only; the gateway's pages are on its main address.");
	return (-1);
}

/* Redirects to @url (allocated: freed here) with a short page. */
static void
conn_redirect(struct conn *c, char *url)
{
	char	*hdr;

	xasprintf(&hdr, "Location: %s\r\n", url);
	conn_reply(c, 302, "text/html; charset=utf-8", hdr,
	    http_page(302, "Moved", "Opening your notebook."), c->req_keepalive);
	free(hdr);
	free(url);
}

/* Not logged in on a user's host: a page load goes to the hub to log in. 0 if sent. */
static int
conn_userhost_back(struct conn *c)
{
	enum http_method	 m = c->rp.method;
	char			*hub, *url;

	if ((m != HTTP_GET && m != HTTP_HEAD) || c->req_upgrade)
		return (-1);
	hub = userhost_hub_url();
	xasprintf(&url, "%s%s", hub, c->req.url);
	free(hub);
	conn_redirect(c, url);
	return (0);
}

/* On the hub's host: a page load of /user/NAME/ is handed over to NAME's host. */
static void
conn_userhost_send(struct conn *c, const char *user, const char *name)
{
	enum http_method	 m = c->rp.method;
	char			*code, *next, *base, *url;

	if ((m != HTTP_GET && m != HTTP_HEAD) || c->req_upgrade) {
		conn_fail(c, 403, "Notebook on its own host", "Notebooks are served on "
		    "their own host name here; reload the notebook's page.");
		return;
	}
	code = auth_host_code_issue(user);
	if ((next = evhttp_encode_uri(c->req.url)) == NULL)
		fatalx("out of memory");
	base = userhost_url(name, http_msg_get(&c->req, "host"));
	xasprintf(&url, "%s/hub/user-login?code=%s&next=%s", base, code, next);
	freestr(code);
	free(next);
	free(base);
	conn_redirect(c, url);
}

/* Decides what the request just parsed gets. */
static void
conn_request(struct conn *c)
{
	char		*user = NULL, *name = NULL, *second = NULL, *text;
	char		*host_user = NULL;
	struct route	*r;
	int		 code;

	if ((code = conn_check_head(c)) != 0) {
		gate->stats.bad_requests++;
		conn_fail(c, code, "Bad request", "The request was malformed or ambiguous.");
		return;
	}
	if (c->admin || strncmp(c->req.url, "/user/", 6) != 0) {
		if (conn_userhost_hub(c) == -1 || conn_local_begin(c) == -1)
			return;
		c->phase = PH_LOCAL;
		c->local_body = evbuffer_new();
		http_parser_pause(&c->rp, 0);
		return;
	}
	if (c->req_upgrade && c->req_chunked) {
		conn_fail(c, 400, "Bad request", "An upgrade request cannot have a body.");
		return;
	}
	if (http_user_path(c->req.url, &name, &second) == -1) {
		gate->stats.bad_requests++;
		conn_fail(c, 400, "Bad request", "That is not a valid notebook address.");
		goto out;
	}
	if (*gate->cfg->proxy_user_hosts != '\0' && !c->admin &&
	    (host_user = userhost_user(http_msg_get(&c->req, "host"))) != NULL) {
		if (strcmp(name, host_user) != 0) {
			conn_fail(c, 404, "Not on this host", "This host serves only "
			    "its own user's notebooks.");
			goto out;
		}
		user = conn_request_who(&c->req, AUTH_HOST_COOKIE,
		    auth_host_cookie_check);
		if (user == NULL && conn_userhost_back(c) == 0)
			goto out;	/* to the hub, to log in there */
	} else
		user = conn_request_user(&c->req);
	if (user == NULL) {
		gate->stats.refused++;
		conn_fail(c, 401, "Please log in",
		    "You are not logged in to this gateway. Log in first, then open "
		    "your notebook again.");
		goto out;
	}
	if (strcmp(user, name) != 0 &&
	    !(gate->cfg->admin_access && config_is_admin(gate->cfg, user))) {
		gate->stats.refused++;
		log_info("%s: user %s refused access to /user/%s/", c->peer, user, name);
		conn_fail(c, 403, "Not your notebook",
		    "This notebook belongs to another user. You can only open your own.");
		goto out;
	}
	if (conn_check_origin(c, user) == -1)
		goto out;
	if (*gate->cfg->proxy_user_hosts != '\0' && host_user == NULL) {
		conn_userhost_send(c, user, name);	/* never served in the hub's origin */
		goto out;
	}
	if ((r = route_lookup(name, second)) == NULL || route_tunnel(r) == NULL) {
		xasprintf(&text, "%s is not connected to the gateway right now. If you "
		    "just started it, it may still be waiting in the queue or starting; "
		    "this page can be reloaded in a moment.",
		    r == NULL ? "No notebook" : "The notebook");
		conn_fail(c, 503, "Notebook not connected", text);
		free(text);
		goto out;
	}
	if (strcmp(user, name) != 0 &&
	    (c->route == NULL || strcmp(c->route, route_name(r)) != 0)) {
		/* auth.admin_access: every connection an administrator opens */
		log_warnx("%s: administrator %s opens %s's notebook %s", c->peer, user,
		    name, route_name(r));
		store_audit(user, "admin-access", route_name(r), c->req.url);
		gate->stats.admin_access++;
	}
	conn_proxy(c, r);
out:
	free(user);
	free(host_user);
	free(name);
	free(second);
}

/* Feeds browser bytes to the request parser while the far side has room. */
void
conn_parse(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec	 v;
	enum http_errno		 e;
	size_t			 n;

	while (!c->closing && evbuffer_get_length(in) > 0) {
		if (c->up != NULL &&
		    evbuffer_get_length(bufferevent_get_output(c->up)) >= conn_limit()) {
			bufferevent_disable(c->bev, EV_READ);
			return;
		}
		if (c->phase == PH_UPGRADED) {
			evbuffer_add_buffer(bufferevent_get_output(c->up), in);
			break;
		}
		if (HTTP_PARSER_ERRNO(&c->rp) == HPE_PAUSED)
			break;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		conn_feed_start(&c->rfeed, in, v.iov_base);
		n = http_parser_execute(&c->rp, &conn_req_settings, v.iov_base, v.iov_len);
		conn_feed_end(&c->rfeed, n);
		e = HTTP_PARSER_ERRNO(&c->rp);
		if (e != HPE_OK && e != HPE_PAUSED) {
			gate->stats.bad_requests++;
			log_info("%s: bad request: %s", c->peer, http_errno_description(e));
			conn_fail(c, c->err_code != 0 ? c->err_code : 400, "Bad request",
			    c->err_code == 413 ? "The request body is too large." :
			    c->err_code != 0 ? "The request head is too large." :
			    "The request was malformed or ambiguous.");
			return;
		}
		if (c->req_head_done && c->phase == PH_HEAD) {
			c->req_head_done = 0;
			conn_request(c);
			continue;
		}
		if (c->req_done && c->phase == PH_LOCAL) {
			conn_local(c);
			continue;
		}
	}
	/* A paused parser with a growing backlog: stop reading the browser. */
	if (!c->closing && c->phase != PH_UPGRADED &&
	    evbuffer_get_length(in) >= conn_limit())
		bufferevent_disable(c->bev, EV_READ);
	else if (!c->closing)
		bufferevent_enable(c->bev, EV_READ);
}

/* Replaces how streams to notebooks are opened (tests and fuzzing only). */
void
conn_set_connector(conn_connector_fn fn)
{
	conn_connector = fn != NULL ? fn : tunnel_connect;
}

