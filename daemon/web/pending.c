/*
 * pending.c: /hub/spawn-pending[/SERVER], the page a scientist watches while
 * the job waits and starts: the phase and progress now (progress_event()),
 * then live from the progress stream; why it failed; Cancel.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

/* The pending page's live updates (textContent only; same-origin URLs only). */
static const char pending_js[] =
	"(function(){var $=function(i){return document.getElementById(i)};"
	"if(!window.EventSource)return;var es=new EventSource($('progress-url')"
	".getAttribute('data-url'));es.onmessage=function(x){var d;try{d=JSON."
	"parse(x.data)}catch(e){return}if(typeof d.message==='string')$('msg')."
	"textContent=d.message;if(typeof d.phase==='string')$('phase')."
	"textContent=d.phase;if(typeof d.progress==='number')$('bar').value="
	"d.progress;if(d.ready&&typeof d.url==='string'&&d.url.charAt(0)==='/'"
	"&&d.url.charAt(1)!=='/'&&d.url.charAt(1)!=='\\\\'){es.close();location."
	"assign(d.url)}if(d.failed){es.close();$('failure').hidden=false;$("
	"'errout').textContent=d.error_output||'(no error output)';var c=$("
	"'cancel');if(c)c.hidden=true}}})();";

/* Once the job runs: its time left, and the walltime warning when given. */
static void
pending_time_left(struct evbuffer *b, json_t *ev)
{
	json_t		*left = json_object_get(ev, "time_left");
	const char	*w = json_string_value(json_object_get(ev, "walltime_warning"));
	char		 buf[32];

	if (!json_is_integer(left))
		return;
	jobreq_fmt_duration(buf, sizeof buf, json_integer_value(left));
	evbuffer_add_printf(b, "<p>Time left: <strong id=\"time-left\">");
	pages_esc(b, buf);
	evbuffer_add_printf(b, "</strong></p>\n");
	if (w != NULL) {
		evbuffer_add_printf(b, "<p class=\"notice walltime-warning\" role="
		    "\"alert\">");
		pages_esc(b, w);
		evbuffer_add_printf(b, "</p>\n");
	}
}

/* GET /hub/spawn-pending[/SERVER]: the phase now, live with JS. */
void
pending_page(const struct api_req *ar, struct api_resp *rs,
    const char *server)
{
	const struct session	*s = session_find(ar->user, server);
	json_t			*ev;
	const char		*url, *err;
	struct evbuffer		*b;
	int			 final;

	if (s == NULL) {
		pages_message(rs, 404, "No such server", "This server has not been "
		    "started. Start it from your servers page.", ar->user);
		return;
	}
	ev = progress_event(s, &final);
	url = json_string_value(json_object_get(ev, "url"));
	err = json_string_value(json_object_get(ev, "error_output"));
	b = pages_begin(*server != '\0' ? "Starting a named server" :
	    "Starting your server", ar->user);
	evbuffer_add_printf(b, "<p id=\"progress-url\" data-url=\"/hub/api/users/");
	pages_esc(b, ar->user);
	evbuffer_add_printf(b, "/server%s", *server != '\0' ? "s/" : "");
	pages_esc(b, server);
	evbuffer_add_printf(b, "/progress\">Server: <strong>");
	pages_esc(b, *server != '\0' ? server : "default");
	evbuffer_add_printf(b, "</strong>; phase: <strong id=\"phase\">");
	pages_esc(b, json_string_value(json_object_get(ev, "phase")));
	evbuffer_add_printf(b, "</strong></p><label for=\"bar\">Progress</label>"
	    "<progress id=\"bar\" max=\"100\" value=\"%d\"></progress>"
	    "<p id=\"msg\" role=\"status\" aria-live=\"polite\">",
	    (int)json_integer_value(json_object_get(ev, "progress")));
	pages_esc(b, json_string_value(json_object_get(ev, "message")));
	evbuffer_add_printf(b, "</p>\n");
	pending_time_left(b, ev);
	if (url != NULL) {
		evbuffer_add_printf(b, "<p><a class=\"button\" href=\"");
		pages_esc(b, url);
		evbuffer_add_printf(b, "\">Open your notebook</a></p>\n");
	}
	evbuffer_add_printf(b, "<section id=\"failure\"%s><h2>Why it failed</h2>"
	    "<pre id=\"errout\">", json_is_true(json_object_get(ev, "failed")) ?
	    "" : " hidden");
	pages_esc(b, err != NULL ? err : "(no error output)");
	evbuffer_add_printf(b, "</pre></section>\n<p>");
	if (!final) {
		evbuffer_add_printf(b, "<span id=\"cancel\">");
		home_stop_form(b, ar, server, "Cancel");
		evbuffer_add_printf(b, "</span> ");
	}
	evbuffer_add_printf(b, "<a href=\"/hub/spawn-pending%s", pages_slash(server));
	pages_esc(b, server);
	evbuffer_add_printf(b, "\">Refresh</a> · <a href=\"/hub/home\">Your servers"
	    "</a></p>\n");
	pages_script(b, pending_js);
	pages_reply(rs, 200, b, NULL);
	json_decref(ev);
}
