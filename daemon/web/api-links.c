/*
 * api-links.c: one-time login links: an admin makes one for a user (the REST
 * API), a browser redeems it at /hub/login/once; and proxy.user_hosts'
 * hand-over from the hub to a user's own host, redeemed at /hub/user-login.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "daemon/web/web.h"

#define API_HOST_COOKIE_AGE	3600	/* s: a user host's cookie, renewed through the hub */

/* POST /hub/api/users/{user}/login-url: a link that logs @user in, once, within 5 minutes. */
void
api_login_url(struct hub_call *c)
{
	const struct api_req	*ar = c->ar;
	const char		*user = c->user;
	char			*code = auth_code_issue(user), *url;

	if (gate->cfg->public_url != NULL && gate->cfg->public_url[0] != '\0')
		xasprintf(&url, "%s/hub/login/once?code=%s", gate->cfg->public_url, code);
	else if (!ar->admin_socket && ar->host != NULL)
		xasprintf(&url, "https://%s/hub/login/once?code=%s", ar->host, code);
	else
		xasprintf(&url, "https://localhost:%d/hub/login/once?code=%s",
		    gate->https_port, code);
	store_audit(ar->actor, "login-link", user, NULL);
	log_info("admin: one-time login link made for %s by %s", user, ar->actor);
	api_json(c->rs, 201, json_pack("{s:s,s:s,s:i}", "user", user, "url", url,
	    "expires_in", 300));
	freestr(url);
	freestr(code);
}

/* /hub/login/once?code=C: the admin's link; sets the login cookie. */
void
api_login_once(struct hub_call *c)
{
	struct api_resp	*rs = c->rs;
	const char	*q = c->ar->query;
	char		*code, *user, *cookie;

	if (q == NULL || strncmp(q, "code=", 5) != 0) {
		api_page(rs, 400, "Login link incomplete", "The link has no login code.");
		return;
	}
	code = xstrndup(q + 5, strcspn(q + 5, "&"));
	user = auth_code_redeem(code);
	freestr(code);
	if (user == NULL) {
		gate->stats.login_failures++;
		log_info("login: a login link was refused (used, expired or wrong)");
		api_page(rs, 403, "Login link not valid",
		    "This login link was already used or has expired. Ask your "
		    "administrator for a new one.");
		return;
	}
	cookie = auth_cookie_make(user, gate->cfg->cookie_max_age);
	xasprintf(&rs->headers, "Set-Cookie: %s=%s; Path=/; Max-Age=%d; HttpOnly; "
	    "Secure; SameSite=Lax\r\nLocation: /user/%s/\r\n", AUTH_COOKIE, cookie,
	    gate->cfg->cookie_max_age, user);
	log_tag(user, 0, NULL, NULL);
	log_info("login: %s logged in with a one-time link", user);
	freestr(cookie);
	api_page(rs, 302, "Logged in", "You are logged in; opening your notebook.");
	free(user);
}

/*
 * proxy.user_hosts: the hand-over from the hub to a user's own host.  The
 * code (one use, a minute, made by the hub for the logged-in visitor) says
 * who; this host's own cookie is set (host-only, shorter-lived than the
 * hub's: when it expires a page load fetches a new one from the hub), and
 * the browser goes on to the notebook page it asked for.
 */
void
api_user_login(struct hub_call *c)
{
	const struct api_req	*ar = c->ar;
	struct api_resp		*rs = c->rs;
	char	*hu = userhost_user(ar->host), *code = NULL, *who = NULL;
	char	*next = NULL, *dec = NULL, *prefix = NULL, *cookie;
	int	 age = gate->cfg->cookie_max_age < API_HOST_COOKIE_AGE ?
		    gate->cfg->cookie_max_age : API_HOST_COOKIE_AGE;

	if (hu == NULL) {
		api_page(rs, 404, "Not found", "There is no page at this address.");
		return;
	}
	if ((code = api_query_get(ar->query, "code")) == NULL ||
	    (who = auth_host_code_redeem(code)) == NULL) {
		gate->stats.login_failures++;
		api_page(rs, 403, "Link expired", "This hand-over link was already used "
		    "or has expired. Open your notebook again from the gateway's home page.");
		goto out;
	}
	xasprintf(&prefix, "/user/%s/", hu);
	if ((next = api_query_get(ar->query, "next")) != NULL)
		dec = evhttp_uridecode(next, 0, NULL);
	if (dec == NULL || strncmp(dec, prefix, strlen(prefix)) != 0 ||
	    strpbrk(dec, "\r\n\\") != NULL) {
		free(dec);
		dec = xstrdup(prefix);
	}
	cookie = auth_host_cookie_make(who, age);
	xasprintf(&rs->headers, "Set-Cookie: %s=%s; Path=/; Max-Age=%d; HttpOnly; "
	    "Secure; SameSite=Lax\r\nLocation: %s\r\n", AUTH_HOST_COOKIE, cookie, age, dec);
	freestr(cookie);
	log_info("%s: %s logged in on %s's host", ar->peer, who, hu);
	api_page(rs, 302, "Logged in", "Opening the notebook.");
out:
	free(hu);
	freestr(code);
	free(who);
	free(next);
	free(dec);
	free(prefix);
}

