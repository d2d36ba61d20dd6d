/*
 * origin.c: does a browser request come from the gateway's own origin?
 * The same-origin rule for every request the login cookie authenticates
 * (the proxy's /user/ path and the hub API): Origin, else Sec-Fetch-Site,
 * else Referer, compared with public_url's origin (or the Host's) and
 * auth.allowed_origins.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/util.h>

#include "daemon/proxy/proxy.h"

/* An origin taken apart; pointers into the text it was parsed from. */
struct origin {
	int		 https;
	const char	*host;
	size_t		 hostlen;
	int		 port;
};

/*
 * Parses "scheme://host[:port]" at the start of @s; *@end is what follows
 * (the path of a URL, "" for an origin).  0, or -1 for anything else
 * ("null", other schemes, user info, a bad port).
 */
static int
origin_parse(const char *s, struct origin *o, const char **end)
{
	const char	*h, *p;
	long		 port;
	char		*ep;

	if (strncasecmp(s, "https://", 8) == 0) {
		o->https = 1;
		h = s + 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		o->https = 0;
		h = s + 7;
	} else
		return (-1);
	if (*h == '[') {			/* [v6]:port */
		if ((p = strchr(h, ']')) == NULL)
			return (-1);
		p++;
	} else
		p = h + strcspn(h, ":/?#@");
	if (*p == '@' || p == h)
		return (-1);
	o->host = h;
	o->hostlen = p - h;
	o->port = o->https ? 443 : 80;
	if (*p == ':') {
		if (!isdigit((unsigned char)p[1]))
			return (-1);
		port = strtol(p + 1, &ep, 10);
		if (port < 1 || port > 65535 || (*ep != '\0' && strchr("/?#", *ep) == NULL))
			return (-1);
		o->port = (int)port;
		p = ep;
	}
	if (*p != '\0' && strchr("/?#", *p) == NULL)
		return (-1);
	*end = p;
	return (0);
}

static int
origin_equal(const struct origin *a, const struct origin *b)
{
	return (a->https == b->https && a->port == b->port &&
	    a->hostlen == b->hostlen && strncasecmp(a->host, b->host, a->hostlen) == 0);
}

/* 1 if the origin @o is the gateway's: public_url's, the Host's, or listed. */
static int
origin_ours(const struct origin *o, const char *host, int tls)
{
	const struct config	*cfg = gate->cfg;
	struct origin		 own;
	const char		*end;
	char			*url, *uh;
	size_t			 i;
	int			 ok = 0;

	if ((uh = userhost_user(host)) != NULL) {
		free(uh);	/* a user's host: only its own origin */
		xasprintf(&url, "https://%s", host);
		ok = origin_parse(url, &own, &end) == 0 && *end == '\0' &&
		    origin_equal(o, &own);
		free(url);
		return (ok);
	}
	if (cfg->public_url != NULL && *cfg->public_url != '\0') {
		if (origin_parse(cfg->public_url, &own, &end) == 0 && origin_equal(o, &own))
			return (1);
	} else if (host != NULL && *host != '\0' && strpbrk(host, "/?#@") == NULL) {
		xasprintf(&url, "%s://%s", tls ? "https" : "http", host);
		ok = origin_parse(url, &own, &end) == 0 && *end == '\0' &&
		    origin_equal(o, &own);
		free(url);
		if (ok)
			return (1);
	}
	for (i = 0; i < cfg->nallowed_origins; i++) {
		if (origin_parse(cfg->allowed_origins[i], &own, &end) == 0 &&
		    origin_equal(o, &own))
			return (1);
	}
	return (0);
}

/* 0 if @s is a whole origin ("scheme://host[:port]") of this gateway. */
int
origin_is_ours(const char *s, const char *host, int tls)
{
	struct origin	 o;
	const char	*end;

	if (origin_parse(s, &o, &end) == -1 || *end != '\0')
		return (-1);
	return (origin_ours(&o, host, tls) ? 0 : -1);
}

/*
 * The same-origin rule for a request head @m on a connection that is TLS
 * or not: 0 if Origin is ours, or without Origin if Sec-Fetch-Site says
 * same-origin or none (typed, bookmarked), or without either if Referer is
 * ours; -1 and a static reason otherwise (no evidence at all is refused:
 * every browser sends one of them with the requests this rule covers).
 */
int
origin_check(const struct http_msg *m, int tls, const char **why)
{
	const char	*host = http_msg_get(m, "host");
	const char	*o = http_msg_get(m, "origin");
	const char	*site = http_msg_get(m, "sec-fetch-site");
	const char	*ref = http_msg_get(m, "referer"), *end;
	struct origin	 ro;

	if (http_msg_count(m, "origin") > 1 || http_msg_count(m, "referer") > 1 ||
	    http_msg_count(m, "sec-fetch-site") > 1) {
		*why = "the request names its origin twice";
		return (-1);
	}
	if (o != NULL) {
		if (origin_is_ours(o, host, tls) == 0)
			return (0);
		*why = "the request comes from another site (Origin)";
		return (-1);
	}
	if (site != NULL) {
		if (strcasecmp(site, "same-origin") == 0 || strcasecmp(site, "none") == 0)
			return (0);
		*why = "the request comes from another site (Sec-Fetch-Site)";
		return (-1);
	}
	if (ref != NULL) {
		if (origin_parse(ref, &ro, &end) == 0 && origin_ours(&ro, host, tls))
			return (0);
		*why = "the request comes from another site (Referer)";
		return (-1);
	}
	*why = "the request does not say where it comes from (no Origin, "
	    "Sec-Fetch-Site or Referer)";
	return (-1);
}

/*
 * proxy.user_hosts: each user's notebooks on a host name of their own, so
 * a notebook's JavaScript never runs in the hub's origin.  The user whose
 * host @host (a Host header) is (allocated), or NULL for any other host.
 * A user name is a DNS label here: no dots or underscores.
 */
char *
userhost_user(const char *host)
{
	const char	*pat = gate->cfg->proxy_user_hosts, *u, *rest;
	size_t		 hlen, pre, post, i;
	char		*user;

	if (*pat == '\0' || host == NULL || (u = strstr(pat, "{user}")) == NULL)
		return (NULL);
	hlen = strcspn(host, ":");
	pre = u - pat;
	rest = u + 6;
	post = strlen(rest);
	if (hlen <= pre + post || strncasecmp(host, pat, pre) != 0 ||
	    strncasecmp(host + hlen - post, rest, post) != 0)
		return (NULL);
	user = xstrndup(host + pre, hlen - pre - post);
	for (i = 0; user[i] != '\0'; i++)
		user[i] = tolower((unsigned char)user[i]);
	if (strpbrk(user, "._") != NULL || !util_name_segment_valid(user, strlen(user))) {
		free(user);
		return (NULL);
	}
	return (user);
}

/* The origin of @user's host: https://NAME[:PORT], the port public_url's. */
char *
userhost_url(const char *user, const char *host)
{
	const char	*pat = gate->cfg->proxy_user_hosts, *u = strstr(pat, "{user}");
	struct origin	 pub;
	const char	*end, *colon;
	char		*url, port[16] = "";

	if (origin_parse(gate->cfg->public_url, &pub, &end) == 0) {
		if (pub.port != 443)
			snprintf(port, sizeof port, ":%d", pub.port);
	} else if (host != NULL && (colon = strrchr(host, ':')) != NULL &&
	    strchr(colon, ']') == NULL)
		snprintf(port, sizeof port, ":%d", atoi(colon + 1));
	xasprintf(&url, "https://%.*s%s%s%s", (int)(u - pat), pat, user, u + 6, port);
	return (url);
}

/* The hub's URL (public_url without a trailing slash), allocated. */
char *
userhost_hub_url(void)
{
	const char	*p = gate->cfg->public_url;
	size_t		 n = strlen(p);

	while (n > 0 && p[n - 1] == '/')
		n--;
	return (xstrndup(p, n));
}
