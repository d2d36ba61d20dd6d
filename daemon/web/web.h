/*
 * web.h: everything under /hub/: the REST API, the HTML pages, password and
 * OIDC login, usage and metrics. The top room below gate.c: uses every
 * other room, and none uses it. Who may open which URL: hub.c's table.
 */
#ifndef NB_WEB_H
#define NB_WEB_H

#include "daemon/sess/sess.h"

struct session;
struct json_t;
struct auth_token;

/*
 * hub.c: the route table of /hub/: for each method and path, who may call
 * it and what answers; hub_dispatch() is what conn_set_hub() is given. A
 * handler gets the request, the response to fill, and the names the path
 * carried ({user}, {server}, {name}: owned by the hub, freed after).
 */
struct hub_call {
	const struct api_req	*ar;	/* a service's: actor "service:S for U" */
	struct api_resp		*rs;
	const struct auth_token	*tok;	/* the service token calling, or NULL */
	char			*user;	/* {user}, or NULL */
	char			*server;	/* {server}, or NULL: the default "" */
	char			*name;	/* {route}, {service}, {id}, {session}, {page} */
};
void		 hub_dispatch(const struct api_req *, struct api_resp *);
const char	*hub_lookup(const char *, const char *);	/* tests: the pattern */
int		 hub_table_check(char **);			/* tests: 0 or -1 */

/* api.c: what the REST API's handlers share */
void		 api_json(struct api_resp *, int, struct json_t *);	/* consumes */
void		 api_json_list(struct api_resp *, const char *, struct json_t *);
void		 api_error(struct api_resp *, int, const char *);
void		 api_page(struct api_resp *, int, const char *, const char *);
struct json_t	*api_body_object(const struct api_req *, struct api_resp *);
void		 api_add_headers(struct api_resp *, char *);	/* consumes the lines */
char		*api_query_get(const char *, const char *);	/* a ?k=v value, owned */
const char	*api_bearer(const struct api_req *);

/* api_admin.c: status, the configuration file, routes, orphans */
/* gate.c's reload and check of a configuration file: 0, or -1 and *cause. */
typedef int	(*api_config_fn)(const char *, char **);
void		 api_set_config_ops(api_config_fn, api_config_fn);
void		 api_status(struct hub_call *);
void		 api_config(struct hub_call *);
void		 api_routes_list(struct hub_call *);
void		 api_route_add(struct hub_call *);
void		 api_route_del(struct hub_call *);
void		 api_orphans(struct hub_call *);

/* api_servers.c: users, their servers and progress, sessions */
void		 api_users_list(struct hub_call *);
void		 api_user_get(struct hub_call *);
void		 api_server_get(struct hub_call *);
void		 api_server_start(struct hub_call *);
void		 api_server_stop(struct hub_call *);
void		 api_progress(struct hub_call *);
void		 api_sessions_list(struct hub_call *);
void		 api_session_get(struct hub_call *);

/* api_creds.c: a user's credential (charging: user) */
void		 api_cred_get(struct hub_call *);
void		 api_cred_set(struct hub_call *);
void		 api_cred_del(struct hub_call *);

/* api_tokens.c: API tokens, users' and services'; who a token is */
void		 api_whoami(struct hub_call *);
void		 api_tokens_list(struct hub_call *);
void		 api_token_revoke(struct hub_call *);
void		 api_tokens_issue(struct hub_call *);
void		 api_tokens_revoke(struct hub_call *);

/* api_links.c: one-time login links: made by an admin, redeemed by a browser */
void		 api_login_url(struct hub_call *);
void		 api_login_once(struct hub_call *);
void		 api_user_login(struct hub_call *);

/* pages.c: HTML pages under /hub/: home, spawn[/S], spawn-pending[/S], stop[/S] */
int		 pages_dispatch(const struct api_req *, struct api_resp *);
struct json_t	*pages_form_parse(const char *, size_t, char **);
/* Helpers for login.c: a page is pages_begin() .. pages_reply(). */
struct evbuffer	*pages_begin(const char *, const char *);
void		 pages_reply(struct api_resp *, int, struct evbuffer *, const char *);
int		 pages_same_origin(const struct api_req *);
int		 pages_xsrf_check(const struct api_req *, const char *);
void		 pages_xsrf(const char *, char [65]);

/* login.c: /hub/login: password login (auth.pam), rate-limited; the OIDC button */
int		 login_dispatch(const struct api_req *, struct api_resp *);
int		 login_next_valid(const char *);
void		 login_shutdown(void);

/*
 * oidc.c: OpenID Connect login (auth.oidc): /hub/oauth_login and
 * /hub/oauth_callback, answered through conn_defer() while the provider is
 * asked. oidc_meta_parse() and oidc_map_user() are pure (tests, fuzzing);
 * oidc_map_user() returns an owned name or NULL and *cause;
 * oidc_user_refusal() NULL if a mapped name may sign in, else an owned reason.
 */
struct oidc_meta {			/* what we use of the discovery document */
	char		*authorization_endpoint;
	char		*token_endpoint;
	char		*jwks_uri;
	char		*userinfo_endpoint;	/* NULL if none */
	int		 auth_post;	/* client_secret_post, not _basic */
};
int		 oidc_init(const struct config *, char **);
void		 oidc_shutdown(void);
int		 oidc_enabled(void);
int		 oidc_dispatch(const struct api_req *, struct api_resp *);
int		 oidc_meta_parse(const char *, size_t, const char *, struct oidc_meta *,
		     char **);
void		 oidc_meta_clear(struct oidc_meta *);
char		*oidc_map_user(const char *, const char *, const char *, char **);
char		*oidc_user_refusal(const struct config *, const char *, const char *);

/* metrics.c: Prometheus text at /hub/metrics */
void		 metrics_init(void);
void		 metrics_shutdown(void);
struct evbuffer	*metrics_render(void);

/* usage.c: GET /hub/api/usage: per-user jobs and core-hours, nbgate vs sacct */
void		 usage_api(const struct api_req *, struct api_resp *);
int		 usage_sacct_parse(char *, const char **, char **, long long *,
		     long long *);

/* progress.c: a session's progress, one event or a stream of them */
struct json_t	*progress_event(const struct session *, int *);
void		 progress_stream(struct conn *, const struct session *);

#endif
