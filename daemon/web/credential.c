/*
 * credential.c: /hub/credential, a user's verified X.509 identity for
 * clusters that charge the user's own allocation: shown, uploaded (PEM),
 * fetched by MyProxy logon (answered through conn_defer()) or forgotten.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

#define CREDENTIAL_FORM_MAX	(256 * 1024)
#define CREDENTIAL_FIELD_MAX	(128 * 1024)

/* Opens one of the page's forms: POST /hub/credential, action=@action. */
static void
credential_form(struct evbuffer *b, const struct api_req *ar, const char *action)
{
	pages_form(b, ar, NULL, "/hub/credential");
	pages_hidden(b, "action", action);
}

/* The page for @user, with @error or @notice on top, status @code. */
static void
credential_render(struct api_resp *rs, int code, const struct api_req *ar,
    const char *user, const char *error, const char *notice)
{
	const struct config	*cfg = gate->cfg;
	const struct cred	*c = cred_get(user);
	const char *const	*acc;
	struct evbuffer		*b = pages_begin("Your credential", user);
	char			 when[40];
	struct tm		 tm;
	size_t			 i;

	if (error != NULL) {
		evbuffer_add_printf(b, "<p class=\"error\" role=\"alert\">");
		pages_esc(b, error);
		evbuffer_add_printf(b, "</p>\n");
	} else if (notice != NULL) {
		evbuffer_add_printf(b, "<p role=\"status\">");
		pages_esc(b, notice);
		evbuffer_add_printf(b, "</p>\n");
	}
	evbuffer_add_printf(b, "<p>Clusters that charge your own allocation run "
	    "your notebooks as you. nbgate logs in for you with a short-lived "
	    "certificate once you have shown who you are with your X.509 "
	    "credential. Your private key is only used to check that the "
	    "certificate is yours; nbgate does not keep it.</p>\n");
	if (c != NULL) {
		gmtime_r(&c->not_after, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
		evbuffer_add_printf(b, "<table><caption>Verified identity</caption>"
		    "<tbody><tr><th scope=\"row\">Subject</th><td id=\"cred-dn\">");
		pages_esc(b, c->dn);
		evbuffer_add_printf(b, "</td></tr><tr><th scope=\"row\">Account"
		    "</th><td id=\"cred-account\">");
		pages_esc(b, c->account);
		evbuffer_add_printf(b, "</td></tr><tr><th scope=\"row\">From</th>"
		    "<td>");
		pages_esc(b, c->source);
		evbuffer_add_printf(b, "</td></tr><tr><th scope=\"row\">Valid until"
		    "</th><td>%s</td></tr>", when);
		for (i = 0; i < cfg->nclusters; i++) {
			if (cfg->clusters[i].charging != CONFIG_USER)
				continue;
			evbuffer_add_printf(b, "<tr><th scope=\"row\">Allocations on ");
			pages_esc(b, cfg->clusters[i].name);
			evbuffer_add_printf(b, "</th><td>");
			if ((acc = session_accounts(cfg->clusters[i].name,
			    c->account)) == NULL)
				evbuffer_add_printf(b, "not known yet");
			for (; acc != NULL && *acc != NULL; acc++) {
				pages_esc(b, *acc);
				evbuffer_add_printf(b, "%s", acc[1] != NULL ? ", " : "");
			}
			evbuffer_add_printf(b, "</td></tr>");
		}
		evbuffer_add_printf(b, "</tbody></table>\n");
		credential_form(b, ar, "remove");
		evbuffer_add_printf(b, "<button type=\"submit\">Forget this "
		    "credential</button></form>\n");
	} else
		evbuffer_add_printf(b, "<p id=\"cred-none\">You have not given a "
		    "credential yet.</p>\n");
	evbuffer_add_printf(b, "<h2>Upload a certificate</h2>");
	credential_form(b, ar, "upload");
	evbuffer_add_printf(b, "<div class=\"field\"><label for=\"f-certificate\">"
	    "Certificate (PEM; a proxy certificate with its chain is fine)</label>"
	    "<textarea id=\"f-certificate\" name=\"certificate\" rows=\"8\" "
	    "cols=\"66\" required spellcheck=\"false\"></textarea></div>"
	    "<div class=\"field\"><label for=\"f-key\">Private key (PEM; leave "
	    "empty if it is in the box above)</label><textarea id=\"f-key\" "
	    "name=\"key\" rows=\"6\" cols=\"66\" spellcheck=\"false\" "
	    "autocomplete=\"off\"></textarea></div><div class=\"field\"><label "
	    "for=\"f-passphrase\">Key passphrase (if the key is encrypted)"
	    "</label><input id=\"f-passphrase\" name=\"passphrase\" type=\"password\" "
	    "autocomplete=\"off\" maxlength=\"1024\"></div><button type=\"submit\">"
	    "Verify and use</button></form>\n");
	if (cfg->cred_myproxy != NULL) {
		evbuffer_add_printf(b, "<h2>MyProxy logon</h2>");
		credential_form(b, ar, "myproxy");
		evbuffer_add_printf(b, "<div class=\"field\"><label for="
		    "\"f-username\">MyProxy user name at ");
		pages_esc(b, cfg->cred_myproxy);
		evbuffer_add_printf(b, "</label><input id=\"f-username\" name="
		    "\"username\" required maxlength=\"256\" autocomplete=\"username\">"
		    "</div><div class=\"field\"><label for=\"f-mp-passphrase\">MyProxy "
		    "passphrase</label><input id=\"f-mp-passphrase\" name=\"passphrase\" "
		    "type=\"password\" required maxlength=\"1024\" autocomplete="
		    "\"current-password\"></div><button type=\"submit\">Log on"
		    "</button></form>\n");
	}
	evbuffer_add_printf(b, "<p><a href=\"/hub/home\">Back to your servers</a>"
	    "</p>\n");
	pages_reply(rs, code, b, NULL);
}

/* A form value without the CRs a textarea sends. */
static char *
credential_text(json_t *form, const char *name)
{
	const char	*v = json_string_value(json_object_get(form, name));
	char		*t, *p, *q;

	if (v == NULL || *v == '\0')
		return (NULL);
	t = xstrdup(v);
	for (p = q = t; *p != '\0'; p++) {
		if (*p != '\r')
			*q++ = *p;
	}
	*q = '\0';
	return (t);
}

struct credential_wait {
	struct conn_defer	*d;
	char			*user;
};

static void
credential_myproxy_done(const struct cred *c, const char *cause, void *arg)
{
	struct credential_wait	*w = arg;
	struct api_resp		 rs;
	struct evbuffer		*b;

	memset(&rs, 0, sizeof rs);
	if (c != NULL) {
		session_credential(c);
		pages_redirect(&rs, "/hub/credential?verified=1");
	} else {
		b = pages_begin("MyProxy logon failed", w->user);
		evbuffer_add_printf(b, "<p class=\"error\" role=\"alert\">");
		pages_esc(b, cause);
		evbuffer_add_printf(b, "</p><p><a href=\"/hub/credential\">Back to "
		    "your credential</a></p>\n");
		pages_reply(&rs, 400, b, NULL);
	}
	conn_defer_answer(w->d, &rs);
	free(w->user);
	free(w);
}

/* GET or POST /hub/credential (remove, upload, myproxy). */
void
credential_page(const struct api_req *ar, struct api_resp *rs, int get)
{
	const struct cred	*c;
	json_t			*form;
	const char		*action, *mpuser, *pass;
	char			*chain = NULL, *key = NULL, *cause = NULL;
	struct credential_wait	*w;
	int			 rc;

	if (get) {
		credential_render(rs, 200, ar, ar->user, NULL, ar->query != NULL &&
		    strcmp(ar->query, "verified=1") == 0 ? "Your credential was "
		    "verified." : NULL);
		return;
	}
	if ((form = pages_post_form_max(ar, rs, CREDENTIAL_FORM_MAX,
	    CREDENTIAL_FIELD_MAX)) == NULL)
		return;
	action = json_string_value(json_object_get(form, "action"));
	pass = json_string_value(json_object_get(form, "passphrase"));
	if (pass != NULL && *pass == '\0')
		pass = NULL;
	if (action != NULL && strcmp(action, "remove") == 0) {
		if (cred_drop(ar->actor, ar->user) == -1)
			credential_render(rs, 404, ar, ar->user, "You have no "
			    "credential to forget.", NULL);
		else
			credential_render(rs, 200, ar, ar->user, NULL, "Your "
			    "credential was forgotten.");
	} else if (action != NULL && strcmp(action, "myproxy") == 0) {
		mpuser = json_string_value(json_object_get(form, "username"));
		if (mpuser == NULL || *mpuser == '\0' || strlen(mpuser) > 256 ||
		    pass == NULL)
			credential_render(rs, 400, ar, ar->user, "MyProxy logon: "
			    "give your MyProxy user name and passphrase.", NULL);
		else {
			w = xcalloc(1, sizeof *w);
			w->user = xstrdup(ar->user);
			if ((rc = cred_myproxy(ar->user, mpuser, pass,
			    credential_myproxy_done, w, &cause)) != 0) {
				credential_render(rs, rc == CRED_BUSY ? 429 : 400,
				    ar, ar->user, cause, NULL);
				free(cause);
				free(w->user);
				free(w);
			} else
				w->d = conn_defer(ar->conn);
		}
	} else if (action != NULL && strcmp(action, "upload") == 0) {
		chain = credential_text(form, "certificate");
		key = credential_text(form, "key");
		if (chain == NULL)
			credential_render(rs, 400, ar, ar->user, "Certificate: paste "
			    "your certificate (PEM).", NULL);
		else if ((c = cred_set_x509(ar->actor, ar->user, chain,
		    strlen(chain), key, key != NULL ? strlen(key) : 0, pass, NULL,
		    &cause)) == NULL) {
			xasprintf(&chain, "Your credential was not accepted: %s.",
			    cause);
			credential_render(rs, 400, ar, ar->user, chain, NULL);
			free(cause);
		} else {
			session_credential(c);
			pages_redirect(rs, "/hub/credential?verified=1");
		}
	} else
		credential_render(rs, 400, ar, ar->user, "This form has no known "
		    "action.", NULL);
	free(chain);
	freestr(key);
	json_decref(form);
}
