/*
 * spawn.c: the spawn form at /hub/spawn[/SERVER]: cluster and queue, the
 * queue's limits (walltime, cores, memory, GPUs), container and account,
 * each field with its hint and, after a refused start, its error, filled
 * in with the user's last choices (per cluster); and the POST that starts
 * the server (session_start()) or re-draws the form.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"
#include "scheduler/backend.h"

static const char *spawn_fields[] = {
	"cluster", "queue", "walltime", "cores", "memory", "gpus", "container",
	"account", "app", "desktop_geometry"
};

/* Writes bytes as GiB when whole, else MiB. */
static void
spawn_fmt_size(char *buf, size_t len, size_t v)
{
	const size_t	mib = 1024 * 1024;

	if (v != 0 && v % (1024 * mib) == 0)
		snprintf(buf, len, "%zuGiB", v / (1024 * mib));
	else
		snprintf(buf, len, "%zuMiB", v / mib + (v % mib != 0));
}

/* Cluster or queue changed: show that queue's limits (the form's reload button). */
static const char spawn_js[] =
	"(function(){var f="
	"document.querySelector('form[method=post]');['f-cluster','f-queue']"
	".forEach(function(i){var e=document.getElementById(i);if(e)e."
	"addEventListener('change',function(){var r=f.querySelector("
	"'button[value=reload]');if(f.requestSubmit)f.requestSubmit(r);else "
	"r.click();});});})();";

/* What the spawn form shows: entered values, and the field at fault. */
struct spawn_form {
	const struct api_req		*ar;
	const char			*server;
	json_t				*vals;	/* entered, or NULL */
	const char			*field;	/* at fault, or NULL */
	const char			*msg;
	const struct config_cluster	*c;
	const struct config_queue	*q;
};

/* The entered value of @name, or @def. */
static const char *
spawn_val(const struct spawn_form *sp, const char *name, const char *def)
{
	const char	*v = json_string_value(json_object_get(sp->vals, name));

	return (v != NULL ? v : def);
}

/* aria-describedby (hint, and error if at fault) of input @name. */
static void
spawn_aria(struct evbuffer *b, const struct spawn_form *sp, const char *name)
{
	int	bad = sp->field != NULL && strcmp(sp->field, name) == 0;

	evbuffer_add_printf(b, " aria-describedby=\"h-%s%s%s\"%s", name,
	    bad ? " e-" : "", bad ? name : "", bad ? " aria-invalid=\"true\"" : "");
}

/* The hint of input @name, then its error if it is at fault; closes the field. */
static void
spawn_hint(struct evbuffer *b, const struct spawn_form *sp, const char *name,
    const char *hint)
{
	evbuffer_add_printf(b, "<span class=\"hint\" id=\"h-%s\">", name);
	pages_esc(b, hint);
	evbuffer_add_printf(b, "</span>");
	if (sp->field != NULL && strcmp(sp->field, name) == 0) {
		evbuffer_add_printf(b, "<span class=\"error\" id=\"e-%s\">", name);
		pages_esc(b, sp->msg);
		evbuffer_add_printf(b, "</span>");
	}
	evbuffer_add_printf(b, "</div>\n");
}

/* A text or number input with its label, hint and error. */
static void
spawn_input(struct evbuffer *b, const struct spawn_form *sp, const char *name,
    const char *label, const char *value, const char *attrs, const char *hint)
{
	evbuffer_add_printf(b, "<div class=\"field\"><label for=\"f-%s\">%s</label>"
	    "<input id=\"f-%s\" name=\"%s\" %s value=\"", name, label, name, name,
	    attrs);
	pages_esc(b, value);
	evbuffer_add_printf(b, "\"");
	spawn_aria(b, sp, name);
	evbuffer_add_printf(b, ">");
	spawn_hint(b, sp, name, hint);
}

/* Opens a <select> with its label. */
static void
spawn_select(struct evbuffer *b, const struct spawn_form *sp, const char *name,
    const char *label)
{
	evbuffer_add_printf(b, "<div class=\"field\"><label for=\"f-%s\">%s</label>"
	    "<select id=\"f-%s\" name=\"%s\"", name, label, name, name);
	spawn_aria(b, sp, name);
	evbuffer_add_printf(b, ">");
}

/* Cluster and queue: what the limits below depend on. */
static void
spawn_where(struct evbuffer *b, const struct spawn_form *sp)
{
	const struct config	*cfg = gate->cfg;
	const struct sched_queue *qs;
	char			*text;
	size_t			 i;

	if (cfg->nclusters > 1) {
		spawn_select(b, sp, "cluster", "Cluster");
		for (i = 0; i < cfg->nclusters; i++)
			pages_option(b, cfg->clusters[i].name, cfg->clusters[i].name,
			    NULL, sp->c->name);
		evbuffer_add_printf(b, "</select>");
		spawn_hint(b, sp, "cluster", "Where the job runs.");
	} else
		pages_hidden(b, "cluster", sp->c->name);
	spawn_select(b, sp, "queue", "Queue");
	for (i = 0; i < sp->c->nqueues; i++) {
		qs = session_queue_state(sp->c->name, sp->c->queues[i].name);
		if (qs == NULL)
			text = xstrdup(sp->c->queues[i].description);
		else if (!qs->available)
			xasprintf(&text, "%s%sdown: jobs wait until it is up again",
			    sp->c->queues[i].description, *sp->c->queues[i].description !=
			    '\0' ? "; " : "");
		else
			xasprintf(&text, "%s%s%d of %d cores idle now",
			    sp->c->queues[i].description, *sp->c->queues[i].description !=
			    '\0' ? "; " : "", qs->cpus_idle, qs->cpus_total);
		pages_option(b, sp->c->queues[i].name, sp->c->queues[i].name, text,
		    sp->q->name);
		free(text);
	}
	evbuffer_add_printf(b, "</select>");
	spawn_hint(b, sp, "queue", "The limits below are the chosen queue's; "
	    "after changing cluster or queue, press \"Show limits\".");
}

/* Walltime, cores, memory, gpus: inputs with the queue's limits. */
static void
spawn_limits(struct evbuffer *b, const struct spawn_form *sp)
{
	const struct config_queue	*q = sp->q;
	char				 def[32], lo[32], hi[32], attrs[128], *hint;

	jobreq_fmt_duration(def, sizeof def, q->walltime_def);
	jobreq_fmt_duration(lo, sizeof lo, q->walltime_min);
	jobreq_fmt_duration(hi, sizeof hi, q->walltime_max);
	snprintf(attrs, sizeof attrs, "type=\"text\" data-min=\"%d\" data-max=\"%d\" "
	    "required", q->walltime_min, q->walltime_max);
	xasprintf(&hint, "From %s to %s (default %s), e.g. 1h30m or 01:30:00.",
	    lo, hi, def);
	spawn_input(b, sp, "walltime", "Walltime", spawn_val(sp, "walltime", def),
	    attrs, hint);
	free(hint);
	snprintf(def, sizeof def, "%d", q->cores_def);
	snprintf(attrs, sizeof attrs, "type=\"number\" min=\"%d\" max=\"%d\" "
	    "step=\"1\" required", q->cores_min, q->cores_max);
	xasprintf(&hint, "From %d to %d (default %d).", q->cores_min, q->cores_max,
	    q->cores_def);
	spawn_input(b, sp, "cores", "Cores", spawn_val(sp, "cores", def), attrs,
	    hint);
	free(hint);
	spawn_fmt_size(def, sizeof def, q->memory_def);
	spawn_fmt_size(lo, sizeof lo, q->memory_min);
	spawn_fmt_size(hi, sizeof hi, q->memory_max);
	snprintf(attrs, sizeof attrs, "type=\"text\" data-min=\"%zu\" data-max="
	    "\"%zu\" required", q->memory_min, q->memory_max);
	xasprintf(&hint, "From %s to %s (default %s), e.g. 512MiB or 4GiB.", lo,
	    hi, def);
	spawn_input(b, sp, "memory", "Memory", spawn_val(sp, "memory", def), attrs,
	    hint);
	free(hint);
	if (q->gpus_max <= 0)
		return;
	snprintf(def, sizeof def, "%d", q->gpus_def);
	snprintf(attrs, sizeof attrs, "type=\"number\" min=\"%d\" max=\"%d\" "
	    "step=\"1\"", q->gpus_min, q->gpus_max);
	xasprintf(&hint, "From %d to %d (default %d).", q->gpus_min, q->gpus_max,
	    q->gpus_def);
	spawn_input(b, sp, "gpus", "GPUs", spawn_val(sp, "gpus", def), attrs, hint);
	free(hint);
}

/*
 * App: the notebook, or one of apps: offered on the cluster (the queue and
 * container are checked at the POST); a desktop's screen size.
 */
static void
spawn_apps(struct evbuffer *b, const struct spawn_form *sp)
{
	const struct config	*cfg = gate->cfg;
	const struct config_app	*a;
	const char		*cur = spawn_val(sp, "app", CONFIG_APP_DEFAULT);
	char			*hint;
	size_t			 i;
	int			 desktop = 0;

	if (cfg->napps == 0)
		return;
	spawn_select(b, sp, "app", "App");
	pages_option(b, CONFIG_APP_DEFAULT, "Jupyter notebook", NULL, cur);
	for (i = 0; i < cfg->napps; i++) {
		a = &cfg->apps[i];
		if (!config_app_offered(a, sp->c->name, NULL, NULL))
			continue;
		pages_option(b, a->name, a->name, a->description, cur);
		if (a->type == CONFIG_APP_DESKTOP)
			desktop = 1;
	}
	evbuffer_add_printf(b, "</select>");
	spawn_hint(b, sp, "app", "What the server runs.");
	if (!desktop)
		return;
	xasprintf(&hint, "Desktop apps only: WIDTHxHEIGHT, e.g. 1280x800; empty "
	    "for the app's own.");
	spawn_input(b, sp, "desktop_geometry", "Desktop size",
	    spawn_val(sp, "desktop_geometry", ""), "type=\"text\" maxlength=\"11\" "
	    "placeholder=\"1280x800\" pattern=\"[0-9]+x[0-9]+\"", hint);
	free(hint);
}

/* Container and account: the cluster's choices. */
static void
spawn_choices(struct evbuffer *b, const struct spawn_form *sp)
{
	const struct config_cluster	*c = sp->c;
	const struct cred		*cred;
	const char *const		*acc;
	const char			*cur;
	char				*text;
	size_t				 i;

	spawn_select(b, sp, "container", "Container");
	cur = spawn_val(sp, "container", c->default_container);
	for (i = 0; i < c->ncontainers; i++)
		pages_option(b, c->containers[i].name, c->containers[i].name,
		    c->containers[i].description, cur);
	evbuffer_add_printf(b, "</select>");
	spawn_hint(b, sp, "container", "The software environment of the notebook.");
	spawn_apps(b, sp);
	cur = spawn_val(sp, "account", "");
	if (c->naccounts > 0) {
		spawn_select(b, sp, "account", "Account");
		xasprintf(&text, "Default%s%s%s", c->charging == CONFIG_COMMUNITY ?
		    " (" : "", c->charging == CONFIG_COMMUNITY ? c->community_account :
		    "", c->charging == CONFIG_COMMUNITY ? ")" : "");
		pages_option(b, "", text, NULL, cur);
		free(text);
		for (i = 0; i < c->naccounts; i++)
			pages_option(b, c->accounts[i], c->accounts[i], NULL, cur);
		evbuffer_add_printf(b, "</select>");
		spawn_hint(b, sp, "account", "What the job is charged to.");
	} else if (c->charging == CONFIG_USER) {
		cred = cred_get(sp->ar->user);
		acc = cred != NULL ? session_accounts(c->name, cred->account) : NULL;
		if (cred == NULL) {
			evbuffer_add_printf(b, "<p class=\"error\" id=\"no-cred\">"
			    "Notebooks on this cluster run as you, charged to your "
			    "own allocation: first give nbgate your <a href=\""
			    "/hub/credential\">credential</a>.</p>");
		} else if (acc != NULL) {
			spawn_select(b, sp, "account", "Allocation");
			pages_option(b, "", "Your default", NULL, cur);
			for (; *acc != NULL; acc++)
				pages_option(b, *acc, *acc, NULL, cur);
			evbuffer_add_printf(b, "</select>");
			spawn_hint(b, sp, "account", "The allocations your account may "
			    "charge on this cluster.");
		} else
			spawn_input(b, sp, "account", "Allocation", cur, "type=\"text\" "
			    "maxlength=\"64\"", "Optional; empty for your default "
			    "allocation.");
	}
}

/* The spawn form for sp->server with status @code. */
static void
spawn_render(struct api_resp *rs, int code, struct spawn_form *sp)
{
	const struct config	*cfg = gate->cfg;
	const struct session	*s;
	const char		*v, *srv = sp->server;
	struct evbuffer		*b;
	char			*title, *action;

	if (cfg->nclusters == 0) {
		pages_message(rs, 503, "No clusters", "No clusters are set up on "
		    "this gateway.", sp->ar->user);
		return;
	}
	v = spawn_val(sp, "cluster", NULL);
	if (v == NULL || (sp->c = config_cluster_find(cfg, v)) == NULL)
		sp->c = &cfg->clusters[0];
	v = spawn_val(sp, "queue", NULL);
	if (v == NULL || (sp->q = config_queue_find(sp->c, v)) == NULL)
		sp->q = config_queue_find(sp->c, sp->c->default_queue);
	xasprintf(&title, "Start %s%s", *srv != '\0' ? "server " : "your default "
	    "server", srv);
	b = pages_begin(title, sp->ar->user);
	free(title);
	if ((s = session_find(sp->ar->user, srv)) != NULL &&
	    session_state(s) != SESSION_ENDED) {
		evbuffer_add_printf(b, "<p class=\"notice\">This server is %s. <a "
		    "href=\"/hub/spawn-pending%s", session_state_name(session_state(s)),
		    pages_slash(srv));
		pages_esc(b, srv);
		evbuffer_add_printf(b, "\">See its progress</a>.</p>\n");
	}
	if (sp->msg != NULL) {	/* also next to its field, when it has one */
		evbuffer_add_printf(b, "<p class=\"error\" role=\"alert\">The server "
		    "was not started: ");
		pages_esc(b, sp->msg);
		evbuffer_add_printf(b, "</p>\n");
	}
	xasprintf(&action, "/hub/spawn%s%s", pages_slash(srv), srv);
	pages_form(b, sp->ar, NULL, action);
	free(action);
	spawn_where(b, sp);
	spawn_limits(b, sp);
	spawn_choices(b, sp);
	evbuffer_add_printf(b, "<p><button type=\"submit\" name=\"_action\" "
	    "value=\"start\">Start</button> <button type=\"submit\" class=\""
	    "secondary\" name=\"_action\" value=\"reload\" formnovalidate>Show "
	    "limits</button></p></form>\n");
	pages_script(b, spawn_js);
	pages_reply(rs, code, b, NULL);
}

/*
 * The user's last choices (on the cluster asked for, else the one used
 * last) fill what the query does not say; not when it names another queue.
 */
static void
spawn_prefill(struct spawn_form *sp)
{
	const char	*cl = spawn_val(sp, "cluster", NULL), *q = spawn_val(sp, "queue", NULL);
	const char	*k, *lastq;
	json_t		*last, *v;

	if ((last = session_last_choices(sp->ar->user, cl)) == NULL)
		return;
	lastq = json_string_value(json_object_get(last, "queue"));
	if (q == NULL || (lastq != NULL && strcmp(q, lastq) == 0)) {
		json_object_foreach(last, k, v) {
			if (json_is_string(v) && json_object_get(sp->vals, k) == NULL)
				json_object_set(sp->vals, k, v);
		}
	}
	json_decref(last);
}

/* GET /hub/spawn[/SERVER][?cluster=&queue=] (or ?server=NAME: go there). */
void
spawn_get(const struct api_req *ar, struct api_resp *rs,
    const char *server)
{
	struct spawn_form	 sp = { .ar = ar, .server = server };
	const char		*named;
	char			*where;

	if ((sp.vals = pages_query_page(ar, rs)) == NULL)
		return;
	if ((named = spawn_val(&sp, "server", NULL)) != NULL) {
		if (*server != '\0' || *named == '\0' || !util_server_name_valid(named))
			pages_message(rs, 400, "Not a server name", "A server name is "
			    "lowercase letters, digits, '_', '.' and '-', at most 64.",
			    ar->user);
		else {
			xasprintf(&where, "/hub/spawn/%s", named);
			pages_redirect(rs, where);
			free(where);
		}
	} else {
		spawn_prefill(&sp);
		spawn_render(rs, 200, &sp);
	}
	json_decref(sp.vals);
}

/* POST /hub/spawn[/SERVER]: start (or re-show the form for another queue). */
void
spawn_post(const struct api_req *ar, struct api_resp *rs,
    const char *server)
{
	struct spawn_form	 sp = { .ar = ar, .server = server };
	const char		*k, *action;
	json_t			*form, *opts, *v;
	char			*field = NULL, *msg = NULL, *where;
	size_t			 i;
	enum result_kind	 res;

	if ((form = pages_post_form(ar, rs)) == NULL)
		return;
	opts = json_object();
	json_object_foreach(form, k, v) {
		for (i = 0; i < nitems(spawn_fields); i++) {
			if (strcmp(k, spawn_fields[i]) == 0)
				json_object_set(opts, k, v);
		}
		if (!json_object_get(opts, k) && strcmp(k, "_xsrf") != 0 &&
		    strcmp(k, "_action") != 0) {
			xasprintf(&msg, "The form has a field this page does not "
			    "know: %s.", k);
			pages_message(rs, 400, "Bad form", msg, ar->user);
			goto out;
		}
	}
	sp.vals = opts;
	action = json_string_value(json_object_get(form, "_action"));
	if (action != NULL && strcmp(action, "reload") == 0) {
		spawn_render(rs, 200, &sp);
		goto out;
	}
	if (session_start(ar->user, ar->user, server, opts, &res, &field,
	    &msg) == NULL) {
		sp.field = field;
		sp.msg = msg;
		spawn_render(rs, status_code(res), &sp);
		goto out;
	}
	xasprintf(&where, "/hub/spawn-pending%s%s", pages_slash(server), server);
	pages_redirect(rs, where);
	free(where);
out:
	free(field);
	free(msg);
	json_decref(opts);
	json_decref(form);
}
