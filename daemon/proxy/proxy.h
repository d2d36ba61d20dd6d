/*
 * proxy.h: one browser connection from accept to close: message heads,
 * the route table (/user/NAME/ -> a notebook's tunnel), the same-origin
 * rule, connections per address, and the hook through which /hub/ requests
 * reach web/ (conn_set_hub) and progress streams leave (conn_stream).
 * Uses ident/ and core/.
 */
#ifndef NB_PROXY_H
#define NB_PROXY_H

#include <event2/bufferevent.h>

#include "tunnel/tunnel.h"
#include "daemon/ident/ident.h"

/* http.c */
#define HTTP_MAX_HEADERS	100
struct http_hdr {
	char	*name;
	char	*value;
	int	 connection;	/* this is a Connection header */
};
struct http_msg {			/* one request or response head */
	char		*url;		/* request target */
	char		*reason;	/* response reason phrase */
	struct http_hdr	*hdr;
	size_t		 nhdr;
	size_t		 hcap;		/* hdr slots allocated */
	char		*buf;		/* every string above, NUL-terminated, in order */
	size_t		 buflen;
	size_t		 bufcap;
	size_t		 size;		/* bytes so far, against limit */
	size_t		 limit;
	int		 in_value;
	int		 conn_hdr;	/* a Connection header is present */
};
void		 http_msg_init(struct http_msg *, size_t);
void		 http_msg_reset(struct http_msg *);
int		 http_msg_url(struct http_msg *, const char *, size_t);
int		 http_msg_reason(struct http_msg *, const char *, size_t);
int		 http_msg_field(struct http_msg *, const char *, size_t);
int		 http_msg_value(struct http_msg *, const char *, size_t);
const char	*http_msg_get(const struct http_msg *, const char *);
size_t		 http_msg_count(const struct http_msg *, const char *);
int		 http_list_has(const char *, const char *);
int		 http_hop_header(const struct http_msg *, const char *);
const char	*http_status_text(int);
void		 http_html_escape(struct evbuffer *, const char *);
void		 http_respond(struct evbuffer *, int, const char *, const char *,
		     struct evbuffer *, int, int);
struct evbuffer	*http_page(int, const char *, const char *);
char		*http_cookie_get(const char *, const char *);
char		*http_cookie_strip(const char *, const char *);
int		 http_cookie_count(const char *, const char *);
int		 http_conn_names_framing(const struct http_msg *);
int		 http_req_withheld(const struct http_hdr *);
int		 http_resp_withheld(const struct http_hdr *);
char		*http_location_prefix(const char *, const char *, const char *);
int		 http_user_path(const char *, char **, char **);

/* route.c: /user/<name>[/<server>]/ → the tunnel of that notebook */
struct route;
struct route	*route_add(const char *, const char *, ssh_key, const char *, char **);
int		 route_remove(const char *);
struct route	*route_find(const char *);
struct route	*route_lookup(const char *, const char *);
const char	*route_name(struct route *);
const char	*route_owner(struct route *);
const char	*route_token(struct route *);
int		 route_strip(struct route *);
void		 route_set_app(struct route *, int, int);
ssh_key		 route_key(struct route *);
struct tunnel	*route_tunnel(struct route *);
void		 route_set_tunnel(struct route *, struct tunnel *);
struct upool	*route_upool(struct route *);
unsigned long	 route_tunnel_gen(struct route *);
time_t		 route_created(struct route *);
void		 route_foreach(void (*)(struct route *, void *), void *);
size_t		 route_count(void);
size_t		 route_count_connected(void);
void		 route_clear(void);
void		 route_ref(struct route *);
void		 route_unref(struct route *);
int		 route_dead(struct route *);
int		 route_name_valid(const char *);
ssh_key		 route_key_parse(const char *, char **);
char		*route_key_text(ssh_key);
char		*route_enroll_begin(struct route *, const char *);
void		 route_enroll_restore(struct route *, const char *, const char *);
const char	*route_enroll_hex(struct route *);
const char	*route_job(struct route *);
void		 route_set_job(struct route *, const char *);
long long	 route_session(struct route *);
void		 route_touch(struct route *, time_t);
time_t		 route_activity(struct route *);
void		 route_set_session(struct route *, long long);
enum route_secret { ROUTE_SECRET_WRONG = -1, ROUTE_SECRET_PENDING = 0, ROUTE_SECRET_USED = 1 };
enum route_secret route_enroll_match(struct route *, const char *, const char *,
		     unsigned char [32], char **);
int		 route_enroll(struct route *, const unsigned char [32], ssh_key,
		     const char *, const char *, char **);
const char	*route_enrolled_from(struct route *);
/* route.c: a successor job's route (sessions.continue), outside the table */
char		*route_next_begin(struct route *);
void		 route_next_restore(struct route *, const char *, const char *,
		     const char *, const char *);
struct route	*route_next(struct route *);
int		 route_is_next(struct route *);
void		 route_next_drop(struct route *);
struct route	*route_next_promote(struct route *);

/*
 * upool.c: a route's idle streams to its notebook, for the next browser
 * connection; route.c owns the pool, upool_put() takes a stream and
 * upool_take() hands one over (the caller's to close).
 */
struct upool;
struct upool	*upool_new(void);
void		 upool_put(struct upool *, struct bufferevent *);
struct bufferevent *upool_take(struct upool *);
void		 upool_flush(struct upool *);
void		 upool_free(struct upool *);
int		 upool_count(const struct upool *);

/* route.c: routes kept in the store across restarts */
int		 store_route_put(struct route *);
int		 store_route_del(const char *);
int		 store_route_load(void (*)(const char *, const char *, const char *,
		     const char *, const char *, const char *, long long));

/* peer.c: connections per client address */
struct peer;
struct peer	*peer_get(const char *);
void		 peer_put(struct peer *);
unsigned long	 peer_count(const struct peer *);

/* origin.c: the same-origin rule for cookie-authenticated requests */
int		 origin_is_ours(const char *, const char *, int);
int		 origin_check(const struct http_msg *, int, const char **);
char		*userhost_user(const char *);
char		*userhost_url(const char *, const char *);
char		*userhost_hub_url(void);

/*
 * The hub: what nbgated answers itself under /hub/ (web/ registers it with
 * conn_set_hub()). The proxy fills an api_req, the handler an api_resp.
 */
struct api_req {
	const char		*method;
	const char		*path;		/* without the query */
	const char		*query;		/* after '?', or NULL */
	const struct http_msg	*head;
	struct evbuffer		*body;
	const char		*user;		/* authenticated user, or NULL */
	int			 admin_socket;	/* came over the local admin socket */
	const char		*host;		/* Host header */
	int			 tls;		/* came over HTTPS */
	const char		*actor;		/* for the audit log */
	const char		*peer;		/* client address */
	struct conn		*conn;		/* for conn_defer() */
};
struct api_resp {
	int			 code;
	const char		*ctype;
	char			*headers;	/* extra header lines, allocated */
	struct evbuffer		*body;		/* allocated by the handler */
};

/* conn*.c: one browser (or admin socket) connection: parse, route, proxy */
/* CONN_H2C: HTTP/2 with prior knowledge on a plain socket (fuzzing only). */
enum conn_kind { CONN_TLS, CONN_ADMIN, CONN_PLAIN, CONN_H2C };
void		 conn_accept(int, const char *, int, enum conn_kind);
unsigned long	 conn_open(void);
typedef struct tunnel_req *(*conn_connector_fn)(struct tunnel *, const char *, int,
		     tunnel_connect_cb, void *);
void		 conn_set_connector(conn_connector_fn);
/* Who answers /hub/ requests: fills the response, or defers or streams it. */
typedef void	(*conn_hub_fn)(const struct api_req *, struct api_resp *);
void		 conn_set_hub(conn_hub_fn);
/* The user a request's cookie or token names (owned), or NULL; whether a cookie did. */
char		*conn_request_user(const struct http_msg *);
int		 conn_request_by_cookie(const struct http_msg *);
void		 conn_close_all(void);
/*
 * A /hub/ handler that answers later (PAM) calls conn_defer(ar->conn) and
 * leaves the response empty; it owns the handle and gives it back, once,
 * to conn_defer_answer(), which sends the response if the browser is still
 * there (and frees what the response holds either way).
 */
struct conn;
struct conn_defer;
struct api_resp;
struct conn_defer *conn_defer(struct conn *);
void		 conn_defer_answer(struct conn_defer *, struct api_resp *);
/*
 * A /hub/ handler that answers with Server-Sent Events calls
 * conn_stream(ar->conn, closed, arg) instead of filling the response: the
 * head goes out at once, then what conn_stream_send() queues (0, or -1 when
 * the client stopped reading: the stream is dropped and freed), with a
 * keepalive comment every 15 s, until conn_stream_end() closes it once sent.
 * @closed(arg) runs once if the stream goes any other way (the client left,
 * or did not read a keepalive, shutdown); the handle is invalid after it.
 */
struct conn_stream;
typedef void	(*conn_stream_closed_cb)(void *);
struct conn_stream *conn_stream(struct conn *, conn_stream_closed_cb, void *);
int		 conn_stream_send(struct conn_stream *, const char *, size_t);
void		 conn_stream_end(struct conn_stream *);

#endif
