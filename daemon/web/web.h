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

/* status.c: an error kind as an HTTP status */
int		 status_code(enum result_kind);

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

/* api-admin.c: status, the configuration file, routes, orphans */
/* gate.c's reload and check of a configuration file: 0, or -1 and *cause. */
typedef int	(*api_config_fn)(const char *, char **);
void		 api_set_config_ops(api_config_fn, api_config_fn);
void		 api_status(struct hub_call *);
void		 api_config(struct hub_call *);
void		 api_routes_list(struct hub_call *);
void		 api_route_add(struct hub_call *);
void		 api_route_del(struct hub_call *);
void		 api_orphans(struct hub_call *);

/* api-users.c: JupyterHub's version, info, users (list, model, activity) */
void		 api_version(struct hub_call *);
void		 api_info(struct hub_call *);
void		 api_users_list(struct hub_call *);
void		 api_user_get(struct hub_call *);
void		 api_user_activity(struct hub_call *);
struct json_t	*api_server_model(const struct hub_call *, const struct session *);
void		 api_users_shutdown(void);

/* api-servers.c: users' servers and progress, sessions */
void		 api_server_get(struct hub_call *);
void		 api_server_start(struct hub_call *);
void		 api_server_stop(struct hub_call *);
void		 api_progress(struct hub_call *);
void		 api_sessions_list(struct hub_call *);
void		 api_session_get(struct hub_call *);

/* api-creds.c: a user's credential (charging: user) */
void		 api_cred_get(struct hub_call *);
void		 api_cred_set(struct hub_call *);
void		 api_cred_del(struct hub_call *);

/* api-tokens.c: API tokens, users' and services'; who a token is */
void		 api_whoami(struct hub_call *);
void		 api_tokens_list(struct hub_call *);
void		 api_token_revoke(struct hub_call *);
void		 api_tokens_issue(struct hub_call *);
void		 api_tokens_revoke(struct hub_call *);
void		 api_user_tokens_list(struct hub_call *);
void		 api_user_token_get(struct hub_call *);
void		 api_user_token_del(struct hub_call *);

/* api-links.c: one-time login links: made by an admin, redeemed by a browser */
void		 api_login_url(struct hub_call *);
void		 api_login_once(struct hub_call *);
void		 api_user_login(struct hub_call *);

/*
 * pages.c: the page kit every HTML page is made with: pages_begin() ..
 * pages_reply(); pages_esc() for text and attribute values; a POST form
 * opens with pages_form() and comes back through pages_post_form() (NULL:
 * the answer is set). pages_dispatch() answers /hub/home, logout,
 * credential, admin, spawn[/S], spawn-pending[/S] and stop[/S].
 */
#define PAGES_FORM_MAX		8192	/* bytes of a form body or query */
#define PAGES_FIELD_MAX		1024	/* bytes of one decoded value */
#define PAGES_FORM_OK		0
#define PAGES_FORM_FOREIGN	1	/* posted from another site */
#define PAGES_FORM_TYPE		2	/* not x-www-form-urlencoded */
#define PAGES_FORM_BAD		3	/* not a well-formed form: *cause */
#define PAGES_FORM_LARGE	4	/* larger than allowed: *cause */
int		 pages_dispatch(const struct api_req *, struct api_resp *);
struct evbuffer	*pages_begin(const char *, const char *);
void		 pages_reply(struct api_resp *, int, struct evbuffer *, const char *);
void		 pages_esc(struct evbuffer *, const char *);
void		 pages_script(struct evbuffer *, const char *);
void		 pages_hidden(struct evbuffer *, const char *, const char *);
void		 pages_option(struct evbuffer *, const char *, const char *,
		     const char *, const char *);
void		 pages_form(struct evbuffer *, const struct api_req *, const char *,
		     const char *);
void		 pages_form_token(struct evbuffer *, const char *, const char *,
		     const char *);
void		 pages_message(struct api_resp *, int, const char *, const char *,
		     const char *);
void		 pages_redirect(struct api_resp *, const char *);
void		 pages_moved(struct api_resp *, int, const char *, const char *,
		     const char *);
void		 pages_set_cookie(struct api_resp *, const char *, const char *,
		     const char *, int);
void		 pages_login_cookie(struct api_resp *, const char *);
const char	*pages_slash(const char *);
struct json_t	*pages_form_parse(const char *, size_t, char **);
struct json_t	*pages_form_parse_max(const char *, size_t, size_t, size_t, char **);
struct json_t	*pages_query(const struct api_req *, char **);
struct json_t	*pages_query_page(const struct api_req *, struct api_resp *);
int		 pages_form_read(const struct api_req *, size_t, size_t,
		     struct json_t **, char **);
struct json_t	*pages_post_form(const struct api_req *, struct api_resp *);
struct json_t	*pages_post_form_max(const struct api_req *, struct api_resp *,
		     size_t, size_t);
char		*pages_cookie(const struct api_req *);	/* owned, or NULL */
int		 pages_xsrf_check(const struct api_req *, const char *);
void		 pages_xsrf(const char *, char [65]);

/* home.c: /hub/home (the user's servers) and POST /hub/stop[/S] */
void		 home_page(const struct api_req *, struct api_resp *);
void		 home_login_link(struct api_resp *);
void		 home_stop(const struct api_req *, struct api_resp *, const char *);
void		 home_relaunch(const struct api_req *, struct api_resp *, const char *);
void		 home_button(struct evbuffer *, const struct api_req *, const char *,
		     const char *, const char *);
void		 home_stop_form(struct evbuffer *, const struct api_req *,
		     const char *, const char *);
void		 home_last_used(struct evbuffer *, struct json_t *);

/* spawn.c: the spawn form, GET and POST /hub/spawn[/S] */
void		 spawn_get(const struct api_req *, struct api_resp *, const char *);
void		 spawn_post(const struct api_req *, struct api_resp *, const char *);

/* pending.c: GET /hub/spawn-pending[/S], the progress page */
void		 pending_page(const struct api_req *, struct api_resp *, const char *);

/* extend.c: Extend (a running server's walltime), in the API and on the home page */
struct hub_call;
void		 api_server_extend(struct hub_call *);
void		 api_server_relaunch(struct hub_call *);	/* api-servers.c */
void		 extend_post(const struct api_req *, struct api_resp *, const char *);
void		 extend_form(struct evbuffer *, const struct api_req *, const char *,
		     struct json_t *);
/* extend.c: Continue in a new job (sessions.continue) */
void		 api_server_continue(struct hub_call *);	/* api-servers.c */
void		 continue_post(const struct api_req *, struct api_resp *, const char *);
void		 continue_notice(struct evbuffer *, const char *, struct json_t *);

/* credential.c: /hub/credential, the user's X.509 identity (charging: user) */
void		 credential_page(const struct api_req *, struct api_resp *, int);

/* admin.c: /hub/admin[/stop], every session, for administrators */
void		 admin_dispatch(const struct api_req *, struct api_resp *,
		     const char *, int, int);

/* login.c: /hub/login: password login (auth.pam), rate-limited; the OIDC button; /hub/logout */
int		 login_dispatch(const struct api_req *, struct api_resp *);
void		 login_logout(const struct api_req *, struct api_resp *, int, int);
int		 login_next_valid(const char *);
void		 login_shutdown(void);

/*
 * oidc.c: OpenID Connect's pages (auth.oidc): /hub/oauth_login and
 * /hub/oauth_callback, answered through conn_defer() while ident/oidc.c
 * asks the provider; oidc_shutdown() answers every browser still waiting.
 */
int		 oidc_dispatch(const struct api_req *, struct api_resp *);
void		 oidc_shutdown(void);

/* metrics.c: Prometheus text at /hub/metrics */
void		 metrics_init(void);
void		 metrics_shutdown(void);
struct evbuffer	*metrics_render(void);

/* usage.c: GET /hub/api/usage: per-user jobs and core-hours, nbgate vs sacct */
void		 usage_api(const struct api_req *, struct api_resp *);
char		*usage_comment_user(const char *);

/* progress.c: a session's progress, one event or a stream of them */
struct json_t	*progress_event(const struct session *, int *);
void		 progress_stream(struct conn *, const struct session *, int);

#endif
