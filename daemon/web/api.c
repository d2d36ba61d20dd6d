/*
 * api.c: what the REST API's handlers share: JSON answers and errors, a
 * JSON body, query parameters, the bearer token. The handlers are in the
 * api_*.c files by resource; hub.c says who may call which.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "daemon/web/web.h"

/* Answers @code with @j (consumed) as JSON; 500 if it cannot be encoded. */
void
api_json(struct api_resp *rs, int code, json_t *j)
{
	char	*s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	if (s == NULL) {	/* e.g. text that is not UTF-8 */
		code = 500;
		s = xstrdup("{\"status\":500,\"message\":\"the answer could not be "
		    "encoded as JSON\"}");
	}
	rs->code = code;
	rs->ctype = "application/json";
	rs->body = evbuffer_new();
	evbuffer_add_printf(rs->body, "%s\n", s);
	free(s);
	json_decref(j);
}

/* Answers 200 {@key: @list} (consumed). */
void
api_json_list(struct api_resp *rs, const char *key, json_t *list)
{
	api_json(rs, 200, json_pack("{s:o}", key, list));
}

/* Answers {"status": @code, "message": @msg}. */
void
api_error(struct api_resp *rs, int code, const char *msg)
{
	api_json(rs, code, json_pack("{s:i,s:s}", "status", code, "message", msg));
}

/* Answers @code with a small HTML page. */
void
api_page(struct api_resp *rs, int code, const char *title, const char *text)
{
	rs->code = code;
	rs->ctype = "text/html; charset=utf-8";
	rs->body = http_page(code, title, text);
}

/* Parses a JSON object body; NULL with a 400 already set otherwise. */
json_t *
api_body_object(const struct api_req *ar, struct api_resp *rs)
{
	json_error_t	 err;
	json_t		*j;
	size_t		 len = evbuffer_get_length(ar->body);
	const char	*ct = http_msg_get(ar->head, "content-type");
	char		*msg;

	if (ct != NULL && strncasecmp(ct, "application/json", 16) != 0) {
		api_error(rs, 415, "the body must be application/json");
		return (NULL);
	}
	j = json_loadb((const char *)evbuffer_pullup(ar->body, -1), len, 0, &err);
	if (j == NULL || !json_is_object(j)) {
		xasprintf(&msg, "the body is not a JSON object: %s",
		    j == NULL ? err.text : "wrong type");
		api_error(rs, 400, msg);
		free(msg);
		json_decref(j);
		return (NULL);
	}
	return (j);
}

/* Adds header lines @extra (allocated, consumed) in front of rs->headers. */
void
api_add_headers(struct api_resp *rs, char *extra)
{
	char	*h;

	xasprintf(&h, "%s%s", extra, rs->headers != NULL ? rs->headers : "");
	free(rs->headers);
	free(extra);
	rs->headers = h;
}

/* A query parameter's value (owned), or NULL. */
char *
api_query_get(const char *q, const char *name)
{
	size_t	 n = strlen(name), len;

	while (q != NULL && *q != '\0') {
		len = strcspn(q, "&");
		if (len > n && strncmp(q, name, n) == 0 && q[n] == '=')
			return (xstrndup(q + n + 1, len - n - 1));
		q += len + (q[len] == '&');
	}
	return (NULL);
}

/* The bearer token of a request ("Authorization: token X"), or NULL. */
const char *
api_bearer(const struct api_req *ar)
{
	const char	*auth = http_msg_get(ar->head, "authorization");

	if (auth == NULL || strncasecmp(auth, "token ", 6) != 0)
		return (NULL);
	return (auth + 6);
}
