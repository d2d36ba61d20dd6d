/*
 * home.c: /hub/home, a scientist's servers (Open, Progress, Stop, Start),
 * the named server box and the links to credential and admin pages; the
 * Stop form and POST /hub/stop[/SERVER].
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

struct home_acc {
	const char	*user;
	json_t		*servers;	/* name → server model; active wins */
};

static void
home_collect(const struct session *s, void *arg)
{
	struct home_acc	*acc = arg;
	json_t			*old;

	if (strcmp(session_user(s), acc->user) != 0)
		return;
	old = json_object_get(acc->servers, session_server(s));
	if (old != NULL && session_state(s) == SESSION_ENDED)
		return;
	json_object_set_new(acc->servers, session_server(s), session_json(s, 0));
}

static int
home_strcmp(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/* A form with one button that POSTs to @path[/SERVER]. */
void
home_button(struct evbuffer *b, const struct api_req *ar, const char *path,
    const char *server, const char *label)
{
	char	*action;

	xasprintf(&action, "%s%s%s", path, pages_slash(server), server);
	pages_form(b, ar, "inline", action);
	free(action);
	evbuffer_add_printf(b, "<button type=\"submit\">%s</button></form> ", label);
}

/* A form with one button that POSTs to /hub/stop[/SERVER]. */
void
home_stop_form(struct evbuffer *b, const struct api_req *ar,
    const char *server, const char *label)
{
	home_button(b, ar, "/hub/stop", server, label);
}

/* A running server's last use, "3m ago", and whether a kernel computes. */
void
home_last_used(struct evbuffer *b, json_t *st)
{
	json_t	*idle = json_object_get(st, "idle_seconds");
	char	 buf[32];

	evbuffer_add_printf(b, "<td>");
	if (json_is_integer(idle)) {
		jobreq_fmt_duration(buf, sizeof buf, json_integer_value(idle));
		pages_esc(b, buf);
		evbuffer_add_printf(b, " ago");
		if (json_integer_value(json_object_get(json_object_get(st,
		    "compute"), "kernels_busy")) > 0)
			evbuffer_add_printf(b, " (computing)");
	}
	evbuffer_add_printf(b, "</td>");
}

/* One row of the servers table. */
static void
home_row(struct evbuffer *b, const struct api_req *ar, const char *name,
    json_t *m)
{
	json_t		*st = json_object_get(m, "state");
	const char	*phase = json_string_value(json_object_get(st, "phase"));
	const char	*fields[] = { "queue", "cluster" };
	json_t		*left = json_object_get(st, "time_left");
	char		 buf[32];
	size_t		 i;

	if (phase == NULL)
		phase = "unknown";
	evbuffer_add_printf(b, "<tr><th scope=\"row\">");
	pages_esc(b, *name != '\0' ? name : "default");
	evbuffer_add_printf(b, "</th><td>");
	pages_esc(b, phase);
	for (i = 0; i < nitems(fields); i++) {
		evbuffer_add_printf(b, "</td><td>");
		pages_esc(b, json_string_value(json_object_get(st, fields[i])));
	}
	if (gate->cfg->napps > 0) {	/* the App column */
		evbuffer_add_printf(b, "</td><td class=\"app\">");
		pages_esc(b, json_string_value(json_object_get(st, "app")));
	}
	evbuffer_add_printf(b, "</td><td>");
	if (json_is_integer(left)) {
		jobreq_fmt_duration(buf, sizeof buf, json_integer_value(left));
		pages_esc(b, buf);
	}
	evbuffer_add_printf(b, "</td>");
	home_last_used(b, st);
	evbuffer_add_printf(b, "<td>");
	pages_esc(b, json_string_value(json_object_get(st, "job_id")));
	evbuffer_add_printf(b, "</td><td>");
	pages_esc(b, json_string_value(json_object_get(st, "reason")));
	evbuffer_add_printf(b, "</td><td>");
	if (json_is_true(json_object_get(m, "ready"))) {
		evbuffer_add_printf(b, "<a class=\"button\" href=\"");
		pages_esc(b, json_string_value(json_object_get(st, "open_url")) != NULL ?
		    json_string_value(json_object_get(st, "open_url")) :
		    json_string_value(json_object_get(m, "url")));
		evbuffer_add_printf(b, "\">Open</a> ");
	} else if (json_is_string(json_object_get(m, "pending")) &&
	    strcmp(phase, "stopping") != 0) {
		evbuffer_add_printf(b, "<a href=\"/hub/spawn-pending%s",
		    pages_slash(name));
		pages_esc(b, name);
		evbuffer_add_printf(b, "\">Progress</a> ");
	}
	if (strcmp(phase, "running") == 0)
		extend_form(b, ar, name, st);
	if (strcmp(phase, "ended") != 0 && strcmp(phase, "stopping") != 0)
		home_stop_form(b, ar, name, "Stop");
	else if (strcmp(phase, "ended") == 0) {
		home_button(b, ar, "/hub/relaunch", name, "Relaunch");
		evbuffer_add_printf(b, "<a href=\"/hub/spawn%s", pages_slash(name));
		pages_esc(b, name);
		evbuffer_add_printf(b, "\">Start</a>");
	}
	evbuffer_add_printf(b, "</td></tr>\n");
}

/* 1 if a cluster charges the user's own allocation. */
static int
home_user_charging(void)
{
	size_t	i;

	for (i = 0; i < gate->cfg->nclusters; i++) {
		if (gate->cfg->clusters[i].charging == CONFIG_USER)
			return (1);
	}
	return (0);
}

/* The walltime warnings of the user's servers, above the table. */
static void
home_warnings(struct evbuffer *b, json_t *servers, const char **names, size_t n)
{
	const char	*w;
	size_t		 i;

	for (i = 0; i < n; i++) {
		continue_notice(b, names[i], json_object_get(json_object_get(servers,
		    names[i]), "state"));
		w = json_string_value(json_object_get(json_object_get(json_object_get(
		    servers, names[i]), "state"), "walltime_warning"));
		if (w == NULL)
			continue;
		evbuffer_add_printf(b, "<p class=\"notice walltime-warning\" role="
		    "\"alert\">Server <strong>");
		pages_esc(b, *names[i] != '\0' ? names[i] : "default");
		evbuffer_add_printf(b, "</strong>: ");
		pages_esc(b, w);
		evbuffer_add_printf(b, "</p>\n");
	}
}

/* GET /hub/home: the user's servers, with Open, Stop and Start. */
void
home_page(const struct api_req *ar, struct api_resp *rs)
{
	struct home_acc	 acc = { ar->user, json_object() };
	struct evbuffer		*b;
	const char		*k, **names;
	json_t			*v;
	size_t			 n = 0, i;

	session_foreach(home_collect, &acc);
	names = xcalloc(json_object_size(acc.servers) + 1, sizeof *names);
	json_object_foreach(acc.servers, k, v)
		names[n++] = k;
	qsort(names, n, sizeof *names, home_strcmp);
	b = pages_begin("Your servers", ar->user);
	home_warnings(b, acc.servers, names, n);
	evbuffer_add_printf(b, "<table><caption>Servers of ");
	pages_esc(b, ar->user);
	evbuffer_add_printf(b, "</caption><thead><tr><th scope=\"col\">Server</th>"
	    "<th scope=\"col\">Phase</th><th scope=\"col\">Queue</th><th scope="
	    "\"col\">Cluster</th>%s<th scope=\"col\">Time left</th><th scope=\"col\">"
	    "Last used</th><th scope=\"col\">"
	    "Job</th><th scope=\"col\">Reason</th><th scope=\"col\">Actions</th>"
	    "</tr></thead><tbody>\n", gate->cfg->napps > 0 ?
	    "<th scope=\"col\">App</th>" : "");
	if (json_object_get(acc.servers, "") == NULL)
		evbuffer_add_printf(b, "<tr><th scope=\"row\">default</th><td>not "
		    "started</td><td></td><td></td>%s<td></td><td></td><td></td><td>"
		    "<a href=\"/hub/spawn\">Start</a></td></tr>\n",
		    gate->cfg->napps > 0 ? "<td></td>" : "");
	for (i = 0; i < n; i++)
		home_row(b, ar, names[i], json_object_get(acc.servers,
		    names[i]));
	evbuffer_add_printf(b, "</tbody></table>\n");
	if (gate->cfg->sess_named > 0)
		evbuffer_add_printf(b, "<h2>Named servers</h2><form method=\"get\" "
		    "action=\"/hub/spawn\"><div class=\"field\"><label for=\"f-server\">"
		    "Start a named server</label><input id=\"f-server\" name=\"server\" "
		    "required maxlength=\"64\" pattern=\"[a-z0-9_][a-z0-9_.\\-]*\" "
		    "aria-describedby=\"h-server\"><span class=\"hint\" id=\"h-server\">"
		    "Lowercase letters, digits, '_', '.', '-'; you may run %d named "
		    "server%s.</span></div><button type=\"submit\">Choose options"
		    "</button></form>\n", gate->cfg->sess_named,
		    gate->cfg->sess_named == 1 ? "" : "s");
	if (home_user_charging())
		evbuffer_add_printf(b, "<p><a href=\"/hub/credential\">Your "
		    "credential</a> (for clusters that charge your own allocation)"
		    "</p>\n");
	if (config_is_admin(gate->cfg, ar->user))
		evbuffer_add_printf(b, "<p><a href=\"/hub/admin\">All sessions "
		    "(administration)</a></p>\n");
	pages_reply(rs, 200, b, NULL);
	free(names);
	json_decref(acc.servers);
}

/* POST /hub/stop[/SERVER]. */
void
home_stop(const struct api_req *ar, struct api_resp *rs, const char *server)
{
	json_t	*form;
	char	*msg = NULL;
	enum result_kind res;
	int	 ended;

	if ((form = pages_post_form(ar, rs)) == NULL)
		return;
	if ((res = session_stop(ar->user, ar->user, server, &ended, &msg)) !=
	    RESULT_OK)
		pages_message(rs, status_code(res), "Not stopped", msg,
		    ar->user);
	else
		pages_redirect(rs, "/hub/home");
	free(msg);
	json_decref(form);
}

/* POST /hub/relaunch[/SERVER]: the ended server again, as it last ran. */
void
home_relaunch(const struct api_req *ar, struct api_resp *rs, const char *server)
{
	json_t		*form;
	char		*field = NULL, *msg = NULL, *where;
	enum result_kind res;

	if ((form = pages_post_form(ar, rs)) == NULL)
		return;
	if (session_relaunch(ar->user, ar->user, server, &res, &field, &msg) == NULL)
		pages_message(rs, status_code(res), "Not relaunched", msg, ar->user);
	else {
		xasprintf(&where, "/hub/spawn-pending%s%s", pages_slash(server), server);
		pages_redirect(rs, where);
		free(where);
	}
	free(field);
	free(msg);
	json_decref(form);
}

/* /hub/home for a visitor when password login is on: a link to it. */
void
home_login_link(struct api_resp *rs)
{
	struct evbuffer	*b = pages_begin("nbgate", NULL);

	evbuffer_add_printf(b, "<p>You are not logged in. <a class=\"button\" "
	    "href=\"/hub/login\">Log in</a>%s, or use a login link your "
	    "administrator gave you.</p>\n", gate->cfg->auth_pam ? " with your "
	    "cluster user name and password" : "");
	pages_reply(rs, 200, b, NULL);
}
