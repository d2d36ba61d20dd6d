/*
 * nbgatectl.c: the admin's command line.  Speaks the admin REST API over
 * nbgated's local admin socket (file permissions decide who may).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/common.h"

#define CTL_DEFAULT_SOCKET	LOCALSTATEDIR "/lib/nbgate/admin.sock"

static const char	*ctl_socket;
static int		 ctl_json;

static __dead void
usage(void)
{
	fprintf(stderr,
	    "usage: nbgatectl [-s socket] [--json] command ...\n"
	    "commands:\n"
	    "  status                                  daemon state and counters\n"
	    "  config check                            check the daemon's configuration file\n"
	    "                                          (and templates) without applying it\n"
	    "  reload                                  check and apply it (like SIGHUP), print\n"
	    "                                          the errors if it is refused\n"
	    "  credential show|forget USER             a user's verified identity (charging: user)\n"
	    "  route list                              routes and whether their agent is connected\n"
	    "  route add NAME --key FILE.pub [--token-file FILE]\n"
	    "                                          route /user/NAME/ to the agent with that key\n"
	    "  route add NAME --enroll [--enroll-out FILE] [--job-id ID] [--token-file FILE]\n"
	    "                                          route to the agent that enrolls with the printed\n"
	    "                                          (or written) one-time secret\n"
	    "  route del NAME                          remove a route (kicks its agent)\n"
	    "  token issue USER [--expires DURATION]   print a new API token for USER\n"
	    "  token issue --service NAME --scope SCOPE[,SCOPE...] (--users U1[,U2...] |\n"
	    "              --all-users) [--expires DURATION]\n"
	    "                                          print a new token for a service acting for\n"
	    "                                          those users; scopes as JupyterHub's (servers,\n"
	    "                                          read:servers, list:users, read:users, ...);\n"
	    "                                          DURATION: N[smhdw]\n"
	    "  token list                              tokens: id, owner, scopes, users, times\n"
	    "  token revoke ID|USER|--service NAME     revoke one token, all of USER's, or all of\n"
	    "                                          the service's\n"
	    "  login-url USER                          print a one-time login link for USER\n"
	    "  server list [--user USER] [--state STATE]\n"
	    "                                          notebook sessions (active, and the last ended\n"
	    "                                          one of each server)\n"
	    "  server start USER[/SERVER] [-o KEY=VALUE]... [--wait]\n"
	    "                                          start a notebook (keys: cluster, queue,\n"
	    "                                          walltime, cores, memory, gpus, container,\n"
	    "                                          account); --wait until it runs or fails\n"
	    "  server stop USER[/SERVER]               stop it (cancels its job)\n"
	    "  server show USER[/SERVER]               state, job, reason and the journal\n"
	    "  server continue USER[/SERVER]           continue it in a new job with the same\n"
	    "                                          options (sessions.continue)\n"
	    "  usage [--user USER] [--since DATE]      jobs and core-hours per gateway user and\n"
	    "                                          cluster: nbgate's and sacct's side by side\n"
	    "                                          (DATE: YYYY-MM-DD[THH:MM[:SS]], default 30\n"
	    "                                          days ago)\n"
	    "The socket is $NBGATE_SOCKET or %s unless -s is given.\n", CTL_DEFAULT_SOCKET);
	exit(2);
}

static size_t
ctl_collect(char *ptr, size_t size, size_t n, void *arg)
{
	struct { char *p; size_t len; } *b = arg;

	if (b->len + size * n > 16 * 1024 * 1024)
		return (0);
	b->p = xreallocarray(b->p, b->len + size * n + 1, 1);
	memcpy(b->p + b->len, ptr, size * n);
	b->len += size * n;
	b->p[b->len] = '\0';
	return (size * n);
}

/* Calls the admin API; returns the HTTP status (or exits) and the JSON answer. */
static long
ctl_call(const char *method, const char *path, json_t *body, json_t **answer)
{
	struct { char *p; size_t len; } b = { NULL, 0 };
	struct curl_slist	*hdrs = NULL;
	char			*url, *data = NULL, errbuf[CURL_ERROR_SIZE] = "";
	CURL			*curl;
	CURLcode		 rc;
	long			 code = 0;
	json_error_t		 jerr;

	if ((curl = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	xasprintf(&url, "http://nbgated%s", path);
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, ctl_socket);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ctl_collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	if (body != NULL) {
		data = json_dumps(body, JSON_COMPACT);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, data);
	}
	if ((rc = curl_easy_perform(curl)) != CURLE_OK) {
		fprintf(stderr, "nbgatectl: cannot reach nbgated at %s: %s\n", ctl_socket,
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		exit(1);
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	*answer = b.len > 0 ? json_loads(b.p, 0, &jerr) : json_object();
	if (*answer == NULL)
		*answer = json_pack("{s:s}", "message", b.p);
	if (data != NULL) {
		explicit_bzero(data, strlen(data));
		free(data);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	free(b.p);
	free(url);
	return (code);
}

/* Prints the answer: JSON as is with --json, else the message or @field. */
static int
ctl_print(long code, json_t *j, const char *field)
{
	const char	*msg = json_string_value(json_object_get(j, "message"));
	char		*s;
	int		 rv = code >= 200 && code < 300 ? 0 : 1;

	if (rv != 0)
		fprintf(stderr, "nbgatectl: %ld: %s\n", code, msg != NULL ? msg : "failed");
	else if (ctl_json) {
		s = json_dumps(j, JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
	} else if (field != NULL && json_string_value(json_object_get(j, field)) != NULL)
		printf("%s\n", json_string_value(json_object_get(j, field)));
	json_decref(j);
	return (rv);
}

static char *
ctl_read_line(const char *path)
{
	FILE	*f;
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;

	if ((f = fopen(path, "r")) == NULL)
		fatal("%s", path);
	if ((n = getline(&line, &cap, f)) <= 0)
		fatalx("%s: empty", path);
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	return (line);
}

static int
ctl_status(void)
{
	json_t	*j;
	long	 code = ctl_call("GET", "/hub/api/status", NULL, &j);

	if (code == 200 && !ctl_json) {
		printf("nbgated %s, up %llds\n", json_string_value(json_object_get(j, "version")),
		    (long long)json_integer_value(json_object_get(j, "uptime")));
		printf("https port %lld, ssh port %lld, ssh host key %s\n",
		    (long long)json_integer_value(json_object_get(j, "https_port")),
		    (long long)json_integer_value(json_object_get(j, "ssh_port")),
		    json_string_value(json_object_get(j, "ssh_fingerprint")));
		printf("routes %lld (%lld connected), connections %lld, websockets %lld, "
		    "requests %lld\n",
		    (long long)json_integer_value(json_object_get(j, "routes")),
		    (long long)json_integer_value(json_object_get(j, "tunnels")),
		    (long long)json_integer_value(json_object_get(j, "connections")),
		    (long long)json_integer_value(json_object_get(j, "websockets")),
		    (long long)json_integer_value(json_object_get(j, "requests")));
	}
	return (ctl_print(code, j, NULL));
}

static char	*ctl_join(json_t *);

/* config check / reload: prints the errors (FILE:LINE: key: problem) if any. */
static int
ctl_config(int apply)
{
	json_t		*j;
	long		 code = ctl_call(apply ? "POST" : "GET", apply ? "/hub/api/reload" :
			    "/hub/api/config/check", NULL, &j);
	const char	*errors = json_string_value(json_object_get(j, "errors"));
	const char	*path = json_string_value(json_object_get(j, "config"));
	int		 ok = json_is_true(json_object_get(j, apply ? "applied" : "ok"));

	if (ctl_json || (code != 200 && errors == NULL))
		return (ctl_print(code, j, NULL));
	if (ok)
		printf("%s: configuration OK%s\n", path, apply ? ", applied" : "");
	else
		fprintf(stderr, "%s%s\n", apply ? "not applied; nbgated keeps its running "
		    "configuration:\n" : "", errors != NULL ? errors : "refused");
	json_decref(j);
	return (ok ? 0 : 1);
}

/* credential show USER */
static int
ctl_credential(const char *user)
{
	json_t		*j, *c, *a;
	const char	*k;
	long		 code;
	char		*path;

	xasprintf(&path, "/hub/api/users/%s/credential", user);
	code = ctl_call("GET", path, NULL, &j);
	free(path);
	if (code == 200 && !ctl_json) {
		printf("%s: %s -> account %s (%s), expires %s\n", user,
		    json_string_value(json_object_get(j, "dn")),
		    json_string_value(json_object_get(j, "account")),
		    json_string_value(json_object_get(j, "source")),
		    json_string_value(json_object_get(j, "expires")));
		json_object_foreach(json_object_get(j, "clusters"), k, c) {
			a = json_object_get(c, "accounts");
			path = json_is_array(a) ? ctl_join(a) : xstrdup("(not known yet)");
			printf("  %s: may charge %s\n", k, path);
			free(path);
		}
	}
	return (ctl_print(code, j, NULL));
}

static int
ctl_route_list(void)
{
	json_t	*j, *r;
	size_t	 i;
	long	 code = ctl_call("GET", "/hub/api/routes", NULL, &j);

	if (code == 200 && !ctl_json) {
		printf("%-24s %-16s %-10s %s\n", "ROUTE", "OWNER", "AGENT", "KEY");
		json_array_foreach(json_object_get(j, "routes"), i, r) {
			printf("%-24s %-16s %-10s %s\n",
			    json_string_value(json_object_get(r, "name")),
			    json_string_value(json_object_get(r, "owner")),
			    json_is_true(json_object_get(r, "connected")) ? "connected" : "-",
			    json_string_value(json_object_get(r, "key_fingerprint")));
		}
	}
	return (ctl_print(code, j, NULL));
}

static int
ctl_route_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "token-file", required_argument, NULL, 't' },
		{ "enroll", no_argument, NULL, 'e' },
		{ "enroll-out", required_argument, NULL, 'o' },
		{ "job-id", required_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 }
	};
	char		*key = NULL, *token = NULL, *path, *cause = NULL, *line;
	const char	*job = NULL, *out = NULL, *secret;
	json_t		*body, *j;
	int		 ch, rv, enroll = 0;
	long		 code;

	optind = 0;	/* GNU getopt: full re-initialisation */
	while ((ch = getopt_long(argc, argv, "k:t:eo:J:", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': key = ctl_read_line(optarg); break;
		case 't': token = ctl_read_line(optarg); break;
		case 'e': enroll = 1; break;
		case 'o': enroll = 1; out = optarg; break;
		case 'J': job = optarg; break;
		default: usage();
		}
	}
	if (optind + 1 != argc || (key == NULL) == !enroll)
		usage();
	body = key != NULL ? json_pack("{s:s}", "key", key) :
	    json_pack("{s:b}", "enroll", 1);
	if (token != NULL)
		json_object_set_new(body, "token", json_string(token));
	if (job != NULL)
		json_object_set_new(body, "job_id", json_string(job));
	xasprintf(&path, "/hub/api/routes/%s", argv[optind]);
	code = ctl_call("POST", path, body, &j);
	secret = json_string_value(json_object_get(j, "enrollment"));
	if (code == 201 && secret != NULL && out != NULL) {
		xasprintf(&line, "%s\n", secret);
		if (util_write_file(out, line, strlen(line), 0600, &cause) != 0) {
			fprintf(stderr, "nbgatectl: %s\n", cause);
			code = 0;
		}
		freestr(line);
	} else if (code == 201 && secret != NULL && !ctl_json)
		printf("%s\n", secret);
	rv = ctl_print(code, j, NULL);
	if (rv == 0 && !ctl_json && secret == NULL)
		printf("route %s added\n", argv[optind]);
	json_decref(body);
	free(path);
	free(key);
	free(cause);
	freestr(token);
	return (rv);
}

static int
ctl_simple(const char *method, const char *prefix, const char *arg,
    const char *suffix, const char *field, const char *done)
{
	char	*path;
	json_t	*j;
	long	 code;
	int	 rv;

	xasprintf(&path, "%s%s%s", prefix, arg, suffix);
	code = ctl_call(method, path, NULL, &j);
	free(path);
	rv = ctl_print(code, j, field);
	if (rv == 0 && done != NULL && !ctl_json)
		printf("%s: %s\n", arg, done);
	return (rv);
}

/* "alice" or "alice/lab" as an API path: /hub/api/users/alice/server(s/lab). */
static char *
ctl_server_path(const char *route)
{
	const char	*slash = strchr(route, '/');
	char		*path;

	if (slash == NULL)
		xasprintf(&path, "/hub/api/users/%s/server", route);
	else
		xasprintf(&path, "/hub/api/users/%.*s/servers/%s", (int)(slash - route),
		    route, slash + 1);
	return (path);
}

static const char *
ctl_str(json_t *j, const char *key)
{
	const char	*s = json_string_value(json_object_get(j, key));

	return (s != NULL ? s : "-");
}

/* "30d", "12h", "90m", "3600s", "2w", "3600": seconds, or -1. */
static long long
ctl_duration(const char *s)
{
	char		*end;
	long long	 n;

	if (*s < '0' || *s > '9')
		return (-1);
	n = strtoll(s, &end, 10);
	if (n <= 0 || n > 10LL * 366 * 86400)
		return (-1);
	if (*end == '\0' || strcmp(end, "s") == 0)
		return (n);
	if (strcmp(end, "m") == 0)
		return (n * 60);
	if (strcmp(end, "h") == 0)
		return (n * 3600);
	if (strcmp(end, "d") == 0)
		return (n * 86400);
	if (strcmp(end, "w") == 0)
		return (n * 7 * 86400);
	return (-1);
}

/* "a,b,c" as a JSON array of strings. */
static json_t *
ctl_list(const char *s)
{
	json_t	*a = json_array();
	size_t	 n;
	char	*one;

	for (; *s != '\0'; s += n + (s[n] == ',')) {
		n = strcspn(s, ",");
		if (n == 0)
			continue;
		one = xstrndup(s, n);
		json_array_append_new(a, json_string(one));
		free(one);
	}
	return (a);
}

static int
ctl_token_issue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "service", required_argument, NULL, 'S' },
		{ "scope", required_argument, NULL, 'c' },
		{ "scopes", required_argument, NULL, 'c' },
		{ "users", required_argument, NULL, 'u' },
		{ "all-users", no_argument, NULL, 'a' },
		{ "expires", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*service = NULL, *scope = NULL, *users = NULL, *tok;
	long long	 expires = 0;
	json_t		*body, *j, *v;
	char		*path, *sc;
	int		 ch, all = 0, rv;
	long		 code;
	size_t		 i;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'S': service = optarg; break;
		case 'c': scope = optarg; break;
		case 'u': users = optarg; break;
		case 'a': all = 1; break;
		case 'j': ctl_json = 1; break;
		case 'e':
			if ((expires = ctl_duration(optarg)) == -1) {
				fprintf(stderr, "nbgatectl: --expires: N[smhdw], at most "
				    "10 years, not '%s'\n", optarg);
				return (2);
			}
			break;
		default: usage();
		}
	}
	if (service == NULL) {
		if (optind + 1 != argc || scope != NULL || users != NULL || all)
			usage();
		body = json_object();
	} else {
		if (optind != argc || scope == NULL || (users == NULL) == !all) {
			fprintf(stderr, "nbgatectl: a service token needs --scope and one "
			    "of --users or --all-users\n");
			return (2);
		}
		body = json_pack("{s:o}", "scopes", ctl_list(scope));
		if (all)
			json_object_set_new(body, "all_users", json_true());
		else
			json_object_set_new(body, "users", ctl_list(users));
	}
	if (expires > 0)
		json_object_set_new(body, "expires_in", json_integer(expires));
	if (service != NULL)
		xasprintf(&path, "/hub/api/services/%s/tokens", service);
	else
		xasprintf(&path, "/hub/api/users/%s/tokens", argv[optind]);
	code = ctl_call("POST", path, body, &j);
	free(path);
	json_decref(body);
	tok = json_string_value(json_object_get(j, "token"));
	if (code == 201 && tok != NULL && !ctl_json) {
		printf("%s\n", tok);	/* the only time it is shown */
		fflush(stdout);
		sc = xstrdup("");
		json_array_foreach(json_object_get(j, "scopes"), i, v) {
			path = sc;
			xasprintf(&sc, "%s%s%s", path, i > 0 ? "," : "",
			    json_string_value(v));
			free(path);
		}
		if (service != NULL)
			fprintf(stderr, "token %s for service %s: scopes %s, users %s, "
			    "expires %s\n", ctl_str(j, "id"), service, sc, all ? "all" :
			    users, ctl_str(j, "expires"));
		else
			fprintf(stderr, "token %s for %s, expires %s\n", ctl_str(j, "id"),
			    argv[optind], ctl_str(j, "expires"));
		free(sc);
	}
	/* --json prints the whole answer, token included, once */
	rv = ctl_print(code, j, NULL);
	return (rv);
}

static char *
ctl_join(json_t *a)
{
	char	*s = xstrdup(""), *old;
	json_t	*v;
	size_t	 i;

	json_array_foreach(a, i, v) {
		old = s;
		xasprintf(&s, "%s%s%s", old, i > 0 ? "," : "", json_string_value(v));
		free(old);
	}
	if (*s == '\0') {
		free(s);
		s = xstrdup("-");
	}
	return (s);
}

static int
ctl_token_list(int argc, char **argv)
{
	json_t	*j, *t;
	char	*sc, *us;
	size_t	 i;
	long	 code;
	int	 k;

	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0)
			ctl_json = 1;
		else
			usage();
	}
	code = ctl_call("GET", "/hub/api/tokens", NULL, &j);
	if (code == 200 && !ctl_json) {
		printf("%-12s %-8s %-16s %-32s %-20s %-20s %-20s %s\n", "ID", "KIND", "NAME",
		    "SCOPES", "USERS", "CREATED", "EXPIRES", "LAST USED");
		json_array_foreach(json_object_get(j, "tokens"), i, t) {
			sc = ctl_join(json_object_get(t, "scopes"));
			us = json_is_true(json_object_get(t, "all_users")) ? xstrdup("*all*") :
			    ctl_join(json_object_get(t, "users"));
			printf("%-12s %-8s %-16s %-32s %-20s %-20s %-20s %s%s\n",
			    ctl_str(t, "id"), ctl_str(t, "kind"), ctl_str(t, "name"), sc,
			    strcmp(ctl_str(t, "kind"), "user") == 0 ? "(self)" : us,
			    ctl_str(t, "created"), ctl_str(t, "expires"),
			    ctl_str(t, "last_used"),
			    json_is_true(json_object_get(t, "expired")) ? " (expired)" : "");
			free(sc);
			free(us);
		}
	}
	return (ctl_print(code, j, NULL));
}

/* An id as nbgated makes them: 12 lowercase hex digits. */
static int
ctl_is_token_id(const char *s)
{
	return (strlen(s) == 12 && strspn(s, "0123456789abcdef") == 12);
}

static int
ctl_token_revoke(int argc, char **argv)
{
	json_t	*j;
	long	 code;
	char	*path;

	if (argc == 3 && strcmp(argv[1], "--service") == 0)
		return (ctl_simple("DELETE", "/hub/api/services/", argv[2], "/tokens",
		    NULL, "service tokens revoked"));
	if (argc == 3 && strcmp(argv[1], "--user") == 0)
		return (ctl_simple("DELETE", "/hub/api/users/", argv[2], "/tokens",
		    NULL, "tokens revoked"));
	if (argc == 3 && strcmp(argv[1], "--id") == 0)
		return (ctl_simple("DELETE", "/hub/api/tokens/", argv[2], "", NULL,
		    "token revoked"));
	if (argc != 2 || argv[1][0] == '-')
		usage();
	if (ctl_is_token_id(argv[1])) {
		xasprintf(&path, "/hub/api/tokens/%s", argv[1]);
		code = ctl_call("DELETE", path, NULL, &j);
		free(path);
		if (code != 404) {
			if (code == 204 && !ctl_json)
				printf("%s: token revoked\n", argv[1]);
			return (ctl_print(code, j, NULL));
		}
		json_decref(j);	/* no such id: a user's name then */
	}
	return (ctl_simple("DELETE", "/hub/api/users/", argv[1], "/tokens", NULL,
	    "tokens revoked"));
}

static void
ctl_server_line(json_t *m)
{
	json_t		*st = json_object_get(m, "state");
	char		 left[32] = "-";

	if (json_is_integer(json_object_get(st, "time_left")))
		snprintf(left, sizeof left, "%lldm", (long long)json_integer_value(
		    json_object_get(st, "time_left")) / 60);
	printf("%-6lld %-24s %-10s %-10s %-10s %-8s %-6s %s\n",
	    (long long)json_integer_value(json_object_get(st, "session")),
	    ctl_str(st, "route"), ctl_str(st, "phase"), ctl_str(st, "cluster"),
	    ctl_str(st, "job_id"), ctl_str(st, "queue"), left, ctl_str(st, "reason"));
}

static int
ctl_server_list(int argc, char **argv)
{
	json_t	*j, *m;
	char	*path, *q = xstrdup("");
	char	*old;
	size_t	 i;
	long	 code;
	int	 k;

	for (k = 0; k < argc; k += 2) {
		if (k + 1 >= argc || (strcmp(argv[k], "--user") != 0 &&
		    strcmp(argv[k], "--state") != 0))
			usage();
		old = q;
		xasprintf(&q, "%s%s%s=%s", old, *old == '\0' ? "?" : "&", argv[k] + 2,
		    argv[k + 1]);
		free(old);
	}
	xasprintf(&path, "/hub/api/sessions%s", q);
	code = ctl_call("GET", path, NULL, &j);
	free(path);
	free(q);
	if (code == 200 && !ctl_json) {
		printf("%-6s %-24s %-10s %-10s %-10s %-8s %-6s %s\n", "ID", "SERVER", "STATE",
		    "CLUSTER", "JOB", "QUEUE", "LEFT", "REASON");
		json_array_foreach(json_object_get(j, "sessions"), i, m)
			ctl_server_line(m);
	}
	return (ctl_print(code, j, NULL));
}

/* One number of a usage row, or "-" when null (no sacct for it). */
static void
ctl_usage_num(char *buf, size_t len, json_t *v, int hours)
{
	if (json_is_null(v) || v == NULL)
		snprintf(buf, len, "-");
	else if (hours)
		snprintf(buf, len, "%.3f", json_number_value(v));
	else
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
}

static int
ctl_usage(int argc, char **argv)
{
	json_t		*j, *m, *v;
	const char	*k;
	char		*path, *q = xstrdup(""), *old, *esc;
	char		 a[32], b[32], c[32], d[32];
	size_t		 i;
	long		 code;
	int		 n;
	CURL		*curl = curl_easy_init();

	for (n = 0; n < argc; n += 2) {
		if (n + 1 >= argc || (strcmp(argv[n], "--user") != 0 &&
		    strcmp(argv[n], "--since") != 0))
			usage();
		esc = curl_easy_escape(curl, argv[n + 1], 0);
		old = q;
		xasprintf(&q, "%s%s%s=%s", old, *old == '\0' ? "?" : "&", argv[n] + 2,
		    esc);
		curl_free(esc);
		free(old);
	}
	curl_easy_cleanup(curl);
	xasprintf(&path, "/hub/api/usage%s", q);
	code = ctl_call("GET", path, NULL, &j);
	free(path);
	free(q);
	if (code == 200 && !ctl_json) {
		printf("since %s\n", ctl_str(j, "since"));
		printf("%-20s %-10s %8s %12s %10s %12s\n", "USER", "CLUSTER", "JOBS",
		    "CORE-HOURS", "SACCT-JOBS", "SACCT-CORE-H");
		json_array_foreach(json_object_get(j, "usage"), i, m) {
			ctl_usage_num(a, sizeof a, json_object_get(m, "jobs"), 0);
			ctl_usage_num(b, sizeof b, json_object_get(m, "core_hours"), 1);
			ctl_usage_num(c, sizeof c, json_object_get(m, "sacct_jobs"), 0);
			ctl_usage_num(d, sizeof d, json_object_get(m, "sacct_core_hours"), 1);
			printf("%-20s %-10s %8s %12s %10s %12s\n", ctl_str(m, "user"),
			    ctl_str(m, "cluster"), a, b, c, d);
		}
		json_object_foreach(json_object_get(j, "sources"), k, v)
			printf("cluster %s: %s\n", k, json_string_value(v) != NULL ?
			    json_string_value(v) : "?");
	}
	return (ctl_print(code, j, NULL));
}

/* -o key=value: numbers stay numbers, everything else is a string. */
static void
ctl_option(json_t *opts, const char *kv)
{
	const char	*eq = strchr(kv, '=');
	char		*key, *end;
	long long	 n;

	if (eq == NULL || eq == kv)
		fatalx("-o wants KEY=VALUE, not '%s'", kv);
	key = xstrndup(kv, (size_t)(eq - kv));
	n = strtoll(eq + 1, &end, 10);
	if (eq[1] != '\0' && *end == '\0')
		json_object_set_new(opts, key, json_integer(n));
	else
		json_object_set_new(opts, key, json_string(eq + 1));
	free(key);
}

static int
ctl_server_start(int argc, char **argv)
{
	json_t		*opts = json_object(), *j, *st;
	char		*path = ctl_server_path(argv[0]);
	const char	*phase;
	long		 code;
	int		 k, wait = 0;
	time_t		 end;

	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--wait") == 0)
			wait = 1;
		else if (strcmp(argv[k], "-o") == 0 && k + 1 < argc)
			ctl_option(opts, argv[++k]);
		else
			usage();
	}
	code = ctl_call("POST", path, json_pack("{s:o}", "user_options", opts), &j);
	if (code != 202 || !wait) {
		if (code == 202 && !ctl_json)
			printf("%s: session %lld %s\n", argv[0], (long long)json_integer_value(
			    json_object_get(json_object_get(j, "state"), "session")),
			    ctl_str(json_object_get(j, "state"), "phase"));
		free(path);
		if (code >= 400 && json_string_value(json_object_get(j, "field")) != NULL)
			fprintf(stderr, "nbgatectl: field %s\n", ctl_str(j, "field"));
		return (ctl_print(code, j, NULL));
	}
	json_decref(j);
	for (end = time(NULL) + 3600; time(NULL) < end; sleep(1)) {
		code = ctl_call("GET", path, NULL, &j);
		st = json_object_get(j, "state");
		phase = ctl_str(st, "phase");
		if (code != 200 || strcmp(phase, "running") == 0 ||
		    strcmp(phase, "ended") == 0)
			break;
		json_decref(j);
	}
	free(path);
	if (code == 200 && !ctl_json) {
		if (strcmp(phase, "running") == 0)
			printf("%s: running at %s (job %s on %s)\n", argv[0],
			    ctl_str(j, "url"), ctl_str(st, "job_id"), ctl_str(st, "node"));
		else {
			printf("%s: %s: %s\n", argv[0], phase, ctl_str(st, "reason"));
			if (json_string_value(json_object_get(st, "error_output")) != NULL)
				printf("--- the job's error output (end) ---\n%s\n",
				    ctl_str(st, "error_output"));
			json_decref(j);
			return (1);
		}
	}
	return (ctl_print(code, j, NULL));
}

static int
ctl_server_show(const char *route)
{
	json_t	*j, *st, *e;
	char	*path = ctl_server_path(route);
	long	 code = ctl_call("GET", path, NULL, &j);
	size_t	 i;

	free(path);
	if (code == 200 && !ctl_json) {
		st = json_object_get(j, "state");
		printf("session %lld, %s: %s\n", (long long)json_integer_value(
		    json_object_get(st, "session")), route, ctl_str(st, "phase"));
		printf("  cluster %s, queue %s, job %s, node %s, container %s\n",
		    ctl_str(st, "cluster"), ctl_str(st, "queue"), ctl_str(st, "job_id"),
		    ctl_str(st, "node"), ctl_str(st, "container"));
		printf("  reason: %s\n", ctl_str(st, "reason"));
		json_array_foreach(json_object_get(j, "events"), i, e)
			printf("  %s  %-16s %s\n", ctl_str(e, "time"), ctl_str(e, "event"),
			    ctl_str(e, "cause"));
		if (json_string_value(json_object_get(st, "error_output")) != NULL)
			printf("--- the job's error output (end) ---\n%s\n",
			    ctl_str(st, "error_output"));
	}
	return (ctl_print(code, j, NULL));
}

/* POST .../continue: the running server goes on in a successor job. */
static int
ctl_server_continue(const char *route)
{
	json_t		*j, *next;
	char		*path = ctl_server_path(route), *cpath;
	const char	*job;
	long		 code;

	xasprintf(&cpath, "%s/continue", path);
	free(path);
	code = ctl_call("POST", cpath, NULL, &j);
	free(cpath);
	if (code == 202 && !ctl_json) {
		next = json_object_get(json_object_get(j, "state"), "successor");
		job = json_string_value(json_object_get(next, "job_id"));
		printf("%s: continues in a new job (%s%s%s)\n", route,
		    ctl_str(next, "phase"), job != NULL ? ", job " : "",
		    job != NULL ? job : "");
	}
	return (ctl_print(code, j, NULL));
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	log_init("nbgatectl", LOG_WARN);
	if ((ctl_socket = getenv("NBGATE_SOCKET")) == NULL)
		ctl_socket = CTL_DEFAULT_SOCKET;
	while ((ch = getopt_long(argc, argv, "+s:j", longopts, NULL)) != -1) {
		if (ch == 's')
			ctl_socket = optarg;
		else if (ch == 'j')
			ctl_json = 1;
		else
			usage();
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(argv[0], "status") == 0 && argc == 1)
		return (ctl_status());
	if (strcmp(argv[0], "config") == 0 && argc == 2 && strcmp(argv[1], "check") == 0)
		return (ctl_config(0));
	if (strcmp(argv[0], "reload") == 0 && argc == 1)
		return (ctl_config(1));
	if (strcmp(argv[0], "credential") == 0 && argc == 3 &&
	    strcmp(argv[1], "show") == 0)
		return (ctl_credential(argv[2]));
	if (strcmp(argv[0], "credential") == 0 && argc == 3 &&
	    strcmp(argv[1], "forget") == 0)
		return (ctl_simple("DELETE", "/hub/api/users/", argv[2], "/credential",
		    NULL, "credential forgotten"));
	if (strcmp(argv[0], "route") == 0 && argc >= 2) {
		if (strcmp(argv[1], "list") == 0 && argc == 2)
			return (ctl_route_list());
		if (strcmp(argv[1], "add") == 0)
			return (ctl_route_add(argc - 1, argv + 1));
		if (strcmp(argv[1], "del") == 0 && argc == 3)
			return (ctl_simple("DELETE", "/hub/api/routes/", argv[2], "", NULL,
			    "route removed"));
	}
	if (strcmp(argv[0], "token") == 0 && argc >= 2) {
		if (strcmp(argv[1], "issue") == 0)
			return (ctl_token_issue(argc - 1, argv + 1));
		if (strcmp(argv[1], "list") == 0)
			return (ctl_token_list(argc - 1, argv + 1));
		if (strcmp(argv[1], "revoke") == 0)
			return (ctl_token_revoke(argc - 1, argv + 1));
	}
	if (strcmp(argv[0], "server") == 0 && argc >= 2) {
		if (strcmp(argv[1], "list") == 0)
			return (ctl_server_list(argc - 2, argv + 2));
		if (strcmp(argv[1], "start") == 0 && argc >= 3)
			return (ctl_server_start(argc - 2, argv + 2));
		if (strcmp(argv[1], "stop") == 0 && argc == 3) {
			char *path = ctl_server_path(argv[2]);
			json_t *j;
			long code = ctl_call("DELETE", path, NULL, &j);
			free(path);
			if (code >= 200 && code < 300 && !ctl_json)
				printf("%s: %s\n", argv[2], code == 202 ? "stopping" : "stopped");
			return (ctl_print(code, j, NULL));
		}
		if (strcmp(argv[1], "show") == 0 && argc == 3)
			return (ctl_server_show(argv[2]));
		if (strcmp(argv[1], "continue") == 0 && argc == 3)
			return (ctl_server_continue(argv[2]));
	}
	if (strcmp(argv[0], "usage") == 0)
		return (ctl_usage(argc - 1, argv + 1));
	if (strcmp(argv[0], "login-url") == 0 && argc == 2)
		return (ctl_simple("POST", "/hub/api/users/", argv[1], "/login-url",
		    "url", NULL));
	usage();
}
