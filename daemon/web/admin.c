/*
 * admin.c: /hub/admin, every session in memory for the gateway's
 * administrators, filtered by user and state, each with Stop or Why; and
 * POST /hub/admin/stop, back to the same filters.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

/* The admin page's filters: ?user= and ?state=, both optional, validated. */
struct admin_filter {
	const struct api_req	*ar;
	const char		*user;	/* NULL: everyone */
	const char		*state;	/* NULL: every state */
	struct evbuffer		*b;
	size_t			 n;	/* rows shown */
};

/* 0 if @state names a session state. */
static int
admin_state_valid(const char *state)
{
	int	i;

	for (i = 0; i < SESSION_NSTATES; i++) {
		if (strcmp(state, session_state_name(i)) == 0)
			return (0);
	}
	return (-1);
}

/*
 * Reads and checks the filters of @vals (borrowed into @pa); -1 with a 400
 * page naming the parameter otherwise. @extra is the one other field allowed.
 */
static int
admin_filters(struct admin_filter *pa, json_t *vals, const char *extra,
    struct api_resp *rs)
{
	const char	*k, *bad = NULL;
	json_t		*v;
	char		*text;

	json_object_foreach(vals, k, v) {
		if (strcmp(k, "user") != 0 && strcmp(k, "state") != 0 &&
		    (extra == NULL || strcmp(k, extra) != 0) &&
		    strcmp(k, "_xsrf") != 0 && bad == NULL)
			bad = k;
	}
	pa->user = json_string_value(json_object_get(vals, "user"));
	pa->state = json_string_value(json_object_get(vals, "state"));
	if (pa->user != NULL && *pa->user == '\0')
		pa->user = NULL;
	if (pa->state != NULL && *pa->state == '\0')
		pa->state = NULL;
	if (bad != NULL)
		xasprintf(&text, "The address has a parameter this page does not "
		    "know: %s.", bad);
	else if (pa->user != NULL && !util_user_name_valid(pa->user))
		xasprintf(&text, "Parameter user is not a user name.");
	else if (pa->state != NULL && admin_state_valid(pa->state) == -1)
		xasprintf(&text, "Parameter state is not a session state (requested, "
		    "submitted, queued, starting, running, stopping, ended, unknown).");
	else
		return (0);
	pages_message(rs, 400, "Bad filter", text, pa->ar->user);
	free(text);
	return (-1);
}

/* "/hub/admin" with the filters of @pa (validated, so not escaped). */
static char *
admin_url(const struct admin_filter *pa)
{
	char	*url;

	xasprintf(&url, "/hub/admin%s%s%s%s%s", pa->user != NULL ||
	    pa->state != NULL ? "?" : "", pa->user != NULL ? "user=" : "",
	    pa->user != NULL ? pa->user : "", pa->user != NULL &&
	    pa->state != NULL ? "&state=" : pa->state != NULL ? "state=" : "",
	    pa->state != NULL ? pa->state : "");
	return (url);
}

/* A table cell with @s escaped. */
static void
admin_td(struct evbuffer *b, const char *s)
{
	evbuffer_add_printf(b, "<td>");
	pages_esc(b, s);
	evbuffer_add_printf(b, "</td>");
}

/* The last cell of an admin row: Stop if active, Why if it ended. */
static void
admin_action(struct admin_filter *pa, const struct session *s, json_t *st)
{
	const char	*err = json_string_value(json_object_get(st, "error_output"));
	const char	*reason = json_string_value(json_object_get(st, "reason"));
	struct evbuffer	*b = pa->b;
	char		 id[24];

	evbuffer_add_printf(b, "<td>");
	if (session_state(s) == SESSION_ENDED) {
		evbuffer_add_printf(b, "<details><summary>Why</summary><p>");
		pages_esc(b, reason != NULL ? reason : "(no reason recorded)");
		evbuffer_add_printf(b, "</p><pre>");
		pages_esc(b, err != NULL ? err : "(no error output)");
		evbuffer_add_printf(b, "</pre></details>");
	} else if (session_state(s) != SESSION_STOPPING) {
		pages_form(b, pa->ar, "inline", "/hub/admin/stop");
		snprintf(id, sizeof id, "%lld", session_id(s));
		pages_hidden(b, "session", id);
		if (pa->user != NULL)
			pages_hidden(b, "user", pa->user);
		if (pa->state != NULL)
			pages_hidden(b, "state", pa->state);
		evbuffer_add_printf(b, "<button type=\"submit\">Stop</button></form>");
	}
	evbuffer_add_printf(b, "</td></tr>\n");
}

/* The Time left cell: while the job runs, until its walltime ends. */
static void
admin_time_left(struct evbuffer *b, json_t *st)
{
	json_t	*left = json_object_get(st, "time_left");
	char	 buf[32];

	buf[0] = '\0';
	if (json_is_integer(left))
		jobreq_fmt_duration(buf, sizeof buf, json_integer_value(left));
	admin_td(b, buf);
}

/* One row of the admin table, if it passes the filters. */
static void
admin_row(const struct session *s, void *arg)
{
	struct admin_filter	*pa = arg;
	json_t			*j, *st;
	double			 created, started, ready, ended;
	char			 age[32];

	if ((pa->user != NULL && strcmp(pa->user, session_user(s)) != 0) ||
	    (pa->state != NULL && strcmp(pa->state,
	    session_state_name(session_state(s))) != 0))
		return;
	j = session_json(s, 0);
	st = json_object_get(j, "state");
	session_times(s, &created, &started, &ready, &ended);
	jobreq_fmt_duration(age, sizeof age, (long long)(time(NULL) - created));
	evbuffer_add_printf(pa->b, "<tr><th scope=\"row\">");
	pages_esc(pa->b, session_user(s));
	evbuffer_add_printf(pa->b, "</th>");
	admin_td(pa->b, *session_server(s) != '\0' ? session_server(s) : "default");
	admin_td(pa->b, json_string_value(json_object_get(st, "cluster")));
	admin_td(pa->b, json_string_value(json_object_get(st, "queue")));
	admin_td(pa->b, json_string_value(json_object_get(st, "job_id")));
	admin_td(pa->b, session_state_name(session_state(s)));
	admin_td(pa->b, age);
	admin_time_left(pa->b, st);
	home_last_used(pa->b, st);
	admin_td(pa->b, json_string_value(json_object_get(st, "account")));
	admin_td(pa->b, json_string_value(json_object_get(st, "node")));
	admin_td(pa->b, json_string_value(json_object_get(st, "reason")));
	admin_action(pa, s, st);
	json_decref(j);
	pa->n++;
}

/* The filter form of the admin page. */
static void
admin_form(struct evbuffer *b, const struct admin_filter *pa)
{
	int	i;

	evbuffer_add_printf(b, "<form method=\"get\" action=\"/hub/admin\">"
	    "<div class=\"field\"><label for=\"f-user\">User</label><input id="
	    "\"f-user\" name=\"user\" maxlength=\"64\" value=\"%s\"></div><div "
	    "class=\"field\"><label for=\"f-state\">State</label><select id="
	    "\"f-state\" name=\"state\"><option value=\"\">any</option>",
	    pa->user != NULL ? pa->user : "");	/* validated */
	for (i = 0; i < SESSION_NSTATES; i++)
		pages_option(b, session_state_name(i), session_state_name(i), NULL,
		    pa->state != NULL ? pa->state : "");
	evbuffer_add_printf(b, "</select></div><button type=\"submit\">Filter"
	    "</button> <a href=\"/hub/admin\">Show all</a></form>\n");
}

/* GET /hub/admin[?user=&state=]: every session in memory. */
static void
admin_page(const struct api_req *ar, struct api_resp *rs)
{
	struct admin_filter	 pa = { .ar = ar };
	json_t			*vals;

	if ((vals = pages_query_page(ar, rs)) == NULL)
		return;
	if (admin_filters(&pa, vals, NULL, rs) == -1)
		goto out;
	pa.b = pages_begin("All sessions", ar->user);
	admin_form(pa.b, &pa);
	evbuffer_add_printf(pa.b, "<table><caption>Sessions in memory (active, "
	    "and the last ended one of each server)</caption><thead><tr>");
	evbuffer_add_printf(pa.b, "<th scope=\"col\">User</th><th scope=\"col\">"
	    "Server</th><th scope=\"col\">Cluster</th><th scope=\"col\">Queue</th>"
	    "<th scope=\"col\">Job</th><th scope=\"col\">State</th><th scope="
	    "\"col\">Age</th><th scope=\"col\">Time left</th><th scope=\"col\">"
	    "Last used</th><th scope="
	    "\"col\">Account</th><th scope=\"col\">Node</th><th scope=\"col\">"
	    "Reason</th><th scope=\"col\">Actions</th>"
	    "</tr></thead><tbody>\n");
	session_foreach(admin_row, &pa);
	if (pa.n == 0)
		evbuffer_add_printf(pa.b, "<tr><td colspan=\"13\">No sessions match."
		    "</td></tr>\n");
	evbuffer_add_printf(pa.b, "</tbody></table>\n");
	pages_reply(rs, 200, pa.b, NULL);
out:
	json_decref(vals);
}

/* POST /hub/admin/stop: session=ID, back to the admin page with its filters. */
static void
admin_stop(const struct api_req *ar, struct api_resp *rs)
{
	struct admin_filter	 pa = { .ar = ar };
	const struct session	*s;
	const char		*idv;
	json_t			*form;
	char			*msg = NULL, *end, *where;
	long long		 id = 0;
	enum result_kind	 res;
	int			 ended;

	if ((form = pages_post_form(ar, rs)) == NULL)
		return;
	if (admin_filters(&pa, form, "session", rs) == -1)
		goto out;
	if ((idv = json_string_value(json_object_get(form, "session"))) != NULL)
		id = strtoll(idv, &end, 10);
	if (idv == NULL || *idv == '\0' || *end != '\0' || id <= 0)
		pages_message(rs, 400, "Bad form", "The form has no session number.",
		    ar->user);
	else if ((s = session_by_id(id)) == NULL ||
	    session_state(s) == SESSION_ENDED)
		pages_message(rs, 409, "Not stopped", "This session has already "
		    "ended.", ar->user);
	else if ((res = session_stop(ar->user, session_user(s), session_server(s),
	    &ended, &msg)) != RESULT_OK)
		pages_message(rs, status_code(res), "Not stopped", msg,
		    ar->user);
	else {
		log_tag(ar->user, 0, NULL, NULL);
		log_info("pages: %s: stopped session %lld (%s)", ar->user, id,
		    session_user(s));
		where = admin_url(&pa);
		pages_redirect(rs, where);
		free(where);
	}
out:
	free(msg);
	json_decref(form);
}

/* /hub/admin and /hub/admin/stop: administrators only. */
void
admin_dispatch(const struct api_req *ar, struct api_resp *rs,
    const char *rest, int get, int post)
{
	if (ar->user == NULL)
		pages_message(rs, 401, "Not logged in", "You are not logged in. Use "
		    "the login link your gateway or administrator gave you.", NULL);
	else if (!config_is_admin(gate->cfg, ar->user)) {
		log_info("pages: %s: not an administrator: %s refused", ar->user,
		    ar->path);
		pages_message(rs, 403, "Administrators only", "This page is for "
		    "the gateway's administrators.", ar->user);
	} else if (*rest == '\0' && get)
		admin_page(ar, rs);
	else if (strcmp(rest, "/stop") == 0 && post)
		admin_stop(ar, rs);
	else if (*rest == '\0' || strcmp(rest, "/stop") == 0)
		pages_message(rs, 405, "Method not allowed", "This page does not take "
		    "that method.", ar->user);
	else
		pages_message(rs, 404, "Not found", "There is no such page.",
		    ar->user);
}
