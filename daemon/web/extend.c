/*
 * extend.c: Extend, a running server's walltime lengthened: the REST API's
 * POST .../server(s/{server})/extend and the home page's button (POST
 * /hub/extend[/SERVER]). Both wait for the scheduler's answer.  And the
 * home page's side of Continue in a new job (POST /hub/continue[/SERVER]).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

/* One Extend waiting for the scheduler; the browser may be gone (conn_defer). */
struct extend_wait {
	struct conn_defer	*d;
	int			 page;		/* answer with a page, not JSON */
	char			*user;
};

static void
extend_done(enum result_kind res, const char *msg, int limit, void *arg)
{
	struct extend_wait	*w = arg;
	struct api_resp		 rs;
	int			 code = status_code(res);

	memset(&rs, 0, sizeof rs);
	if (w->page && res == RESULT_OK)
		pages_redirect(&rs, "/hub/home");
	else if (w->page)
		pages_message(&rs, code, "Not extended", msg, w->user);
	else if (res == RESULT_OK)
		api_json(&rs, 200, json_pack("{s:i}", "time_limit", limit));
	else
		api_json(&rs, code, json_pack("{s:i,s:s}", "status", code, "message", msg));
	conn_defer_answer(w->d, &rs);
	free(w->user);
	free(w);
}

/* Starts an Extend for @user's @server, or answers @rs at once with why not. */
static void
extend_start(const struct api_req *ar, struct api_resp *rs, const char *actor,
    const char *user, const char *server, int page)
{
	struct extend_wait	*w;
	enum result_kind	 res;
	char			*msg = NULL;

	if (ar->conn == NULL) {		/* the admin socket cannot wait */
		api_error(rs, 503, "cannot wait for the scheduler here");
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->page = page;
	w->user = xstrdup(ar->user != NULL ? ar->user : user);
	if ((res = session_extend(actor, user, server, extend_done, w, &msg)) != RESULT_OK) {
		if (page)
			pages_message(rs, status_code(res), "Not extended", msg, ar->user);
		else
			api_json(rs, status_code(res), json_pack("{s:i,s:s}", "status",
			    status_code(res), "message", msg));
		free(w->user);
		free(w);
	} else
		w->d = conn_defer(ar->conn);	/* the callback comes later, from the loop */
	free(msg);
}

/* POST /hub/api/users/{user}/server(s/{server})/extend */
void
api_server_extend(struct hub_call *c)
{
	extend_start(c->ar, c->rs, c->ar->actor, c->user, c->server != NULL ?
	    c->server : "", 0);
}

/* POST /hub/extend[/SERVER]: the home page's Extend button. */
void
extend_post(const struct api_req *ar, struct api_resp *rs, const char *server)
{
	json_t	*form;

	if ((form = pages_post_form(ar, rs)) == NULL)
		return;
	extend_start(ar, rs, ar->user, ar->user, server, 1);
	json_decref(form);
}

/* A form with the Extend button, for a running server whose cluster allows it. */
static void
extend_button(struct evbuffer *b, const struct api_req *ar, const char *server,
    json_t *st)
{
	json_t	*x = json_object_get(st, "extend");
	char	 step[32], label[48];

	if (!json_is_integer(json_object_get(x, "step")))
		return;
	jobreq_fmt_duration(step, sizeof step, json_integer_value(json_object_get(x,
	    "step")));
	snprintf(label, sizeof label, "Extend by %s", step);	/* digits and d/h/m/s */
	home_button(b, ar, "/hub/extend", server, label);
}

/* A running server's buttons: Extend while it can grow; Continue in a new job where it cannot, or the scheduler refused. */
void
extend_form(struct evbuffer *b, const struct api_req *ar, const char *server,
    json_t *st)
{
	json_t	*x = json_object_get(st, "extend");

	if (json_is_object(x))
		extend_button(b, ar, server, st);
	if (json_is_object(json_object_get(st, "continue")) && (!json_is_object(x) ||
	    json_is_true(json_object_get(x, "refused"))))
		home_button(b, ar, "/hub/continue", server, "Continue in a new job");
}

/* POST /hub/continue[/SERVER]: the home page's Continue button. */
void
continue_post(const struct api_req *ar, struct api_resp *rs, const char *server)
{
	json_t			*form;
	char			*msg = NULL;
	enum result_kind	 res;

	if ((form = pages_post_form(ar, rs)) == NULL)
		return;
	if ((res = session_continue(ar->user, ar->user, server, &msg)) != RESULT_OK)
		pages_message(rs, status_code(res), "Not continued", msg, ar->user);
	else
		pages_redirect(rs, "/hub/home");
	free(msg);
	json_decref(form);
}

/* Above the servers table: a successor waiting, or a switch done, and what carries over. */
void
continue_notice(struct evbuffer *b, const char *server, json_t *st)
{
	json_t		*next = json_object_get(st, "successor");
	const char	*from = json_string_value(json_object_get(st, "continued_from"));
	const char	*note = json_string_value(json_object_get(json_object_get(st,
			    "carry_over"), "message"));
	const char	*why;

	if (note == NULL)
		return;
	evbuffer_add_printf(b, "<p class=\"notice continue\" role=\"status\">Server "
	    "<strong>");
	pages_esc(b, *server != '\0' ? server : "default");
	evbuffer_add_printf(b, "</strong>: ");
	if (json_is_object(next)) {
		evbuffer_add_printf(b, "continues in a new job");
		if (json_is_string(json_object_get(next, "job_id"))) {
			evbuffer_add_printf(b, " (job ");
			pages_esc(b, json_string_value(json_object_get(next, "job_id")));
			evbuffer_add_printf(b, ")");
		}
		evbuffer_add_printf(b, ", ");
		pages_esc(b, json_string_value(json_object_get(next, "phase")));
		if ((why = json_string_value(json_object_get(next,
		    "scheduler_reason"))) != NULL) {
			evbuffer_add_printf(b, ": ");
			pages_esc(b, why);
		}
		evbuffer_add_printf(b, ". ");
	} else if (from != NULL) {
		evbuffer_add_printf(b, "continued from job ");
		pages_esc(b, from);
		evbuffer_add_printf(b, " in a new job. ");
	}
	pages_esc(b, note);
	evbuffer_add_printf(b, "</p>\n");
}
