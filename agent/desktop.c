/*
 * desktop.c: the agent's bridge for a remote desktop: on the Unix socket the
 * tunnel reaches, it serves noVNC's files (GET, keep-alive) and turns a
 * WebSocket (RFC 6455) into the byte stream of Xvnc's RFB Unix socket, with
 * back-pressure both ways. websockify 0.10 cannot do it on Unix sockets (it
 * sets TCP_NODELAY on the browser's socket), and nothing here needs TCP.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/sha.h>

#include "common/common.h"
#include "agent/agent.h"

#define DESK_HEAD_MAX	(16 * 1024)	/* bytes of a request head */
#define DESK_HIGH	(1024 * 1024)	/* buffered one way: stop reading the other */
#define DESK_CHUNK	(64 * 1024)	/* RFB bytes per WebSocket frame */
#define DESK_WS_GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct desktop {
	struct event_base	*base;
	struct evconnlistener	*lis;
	char			*vnc;		/* Xvnc's RFB socket */
	char			*root;		/* noVNC's files */
	const char		*route;		/* for logs */
	unsigned long long	 relayed;	/* RFB bytes, both ways */
	time_t			 last;		/* when the latest went by */
};

struct dconn {
	struct desktop		*d;
	struct bufferevent	*bev;		/* the tunnel's stream */
	struct bufferevent	*vnc;		/* Xvnc, once a WebSocket */
	int			 close;		/* after what is queued */
};

static const struct {
	const char	*ext, *type;
} desk_types[] = {
	{ ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript" },
	{ ".css", "text/css" }, { ".svg", "image/svg+xml" }, { ".png", "image/png" },
	{ ".json", "application/json" }, { ".ico", "image/x-icon" },
	{ ".woff", "font/woff" }, { ".ttf", "font/ttf" }, { ".oga", "audio/ogg" },
	{ ".mp3", "audio/mpeg" },
};

/*
 * One WebSocket frame from a client at @p: 0 need more bytes, else the bytes
 * it takes (header and payload), or -1 if it breaks RFC 6455 (unmasked, RSV
 * bits, a fragmented or long control frame) or is over @max.
 */
int
desktop_frame(const unsigned char *p, size_t len, size_t max, struct wsframe *f)
{
	size_t		 hdr = 2, i;
	unsigned long long n;

	if (len < 2)
		return (0);
	f->fin = (p[0] & 0x80) != 0;
	f->opcode = p[0] & 0x0f;
	if ((p[0] & 0x70) != 0 || (p[1] & 0x80) == 0)
		return (-1);
	n = p[1] & 0x7f;
	if (f->opcode >= 8 && (n > 125 || !f->fin))
		return (-1);
	if (n == 126) {
		if (len < 4)
			return (0);
		n = (p[2] << 8) | p[3];
		hdr = 4;
	} else if (n == 127) {
		if (len < 10)
			return (0);
		for (n = 0, i = 2; i < 10; i++)
			n = (n << 8) | p[i];
		hdr = 10;
	}
	if (n > max)
		return (-1);
	if (len < hdr + 4 + n)
		return (0);
	memcpy(f->mask, p + hdr, 4);
	f->payload = p + hdr + 4;
	f->len = (size_t)n;
	return ((int)(hdr + 4 + n));
}

/* Adds a server frame's header (FIN, @opcode, no mask) for @n bytes. */
static void
desk_frame_head(struct evbuffer *out, int opcode, size_t n)
{
	unsigned char	h[10];
	size_t		i, hl = 2;

	h[0] = 0x80 | opcode;
	if (n < 126)
		h[1] = (unsigned char)n;
	else if (n < 65536) {
		h[1] = 126;
		h[2] = n >> 8;
		h[3] = n & 0xff;
		hl = 4;
	} else {
		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((unsigned long long)n >> (56 - 8 * i));
		hl = 10;
	}
	evbuffer_add(out, h, hl);
}

/* RFB bytes went by (input or screen): the desktop is in use. */
static void
desk_traffic(struct desktop *d, size_t n)
{
	if (n == 0)
		return;
	d->relayed += n;
	d->last = time(NULL);
}

static void
desk_free(struct dconn *c)
{
	if (c->vnc != NULL)
		bufferevent_free(c->vnc);
	bufferevent_free(c->bev);
	free(c);
}

/* Sends what is queued, then closes. */
static void
desk_finish(struct dconn *c)
{
	c->close = 1;
	if (c->vnc != NULL) {
		bufferevent_free(c->vnc);
		c->vnc = NULL;
	}
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		desk_free(c);
}

static void
desk_status(struct dconn *c, int code, const char *text)
{
	evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close"
	    "\r\n\r\n%s\n", code, text, strlen(text) + 1, text);
	desk_finish(c);
}

/* A header's value in @head (NUL-separated lines), or NULL. */
static const char *
desk_header(char **lines, size_t n, const char *name)
{
	size_t	i, len = strlen(name);

	for (i = 1; i < n; i++) {
		if (strncasecmp(lines[i], name, len) == 0 && lines[i][len] == ':')
			return (lines[i] + len + 1 + strspn(lines[i] + len + 1, " \t"));
	}
	return (NULL);
}

/* noVNC's file at @path: "/" then [A-Za-z0-9._/-], no "..", under the root. */
static void
desk_file(struct dconn *c, const char *path, int head_only)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	const char	*type = "application/octet-stream", *dot;
	char		*file;
	struct stat	 st;
	size_t		 i;
	int		 fd;

	if (strcmp(path, "/") == 0)
		path = "/vnc.html";
	if (path[0] != '/' ||
	    path[strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._/-")] != '\0' || strstr(path, "..") != NULL ||
	    strstr(path, "//") != NULL) {
		desk_status(c, 404, "Not Found");
		return;
	}
	xasprintf(&file, "%s%s", c->d->root, path);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	free(file);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		if (fd != -1)
			close(fd);
		desk_status(c, 404, "Not Found");
		return;
	}
	if ((dot = strrchr(path, '.')) != NULL) {
		for (i = 0; i < nitems(desk_types); i++) {
			if (strcmp(dot, desk_types[i].ext) == 0)
				type = desk_types[i].type;
		}
	}
	evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
	    "Content-Length: %lld\r\nCache-Control: no-cache\r\n"
	    "X-Content-Type-Options: nosniff\r\n\r\n", type, (long long)st.st_size);
	if (head_only || st.st_size == 0)
		close(fd);
	else if (evbuffer_add_file(out, fd, 0, st.st_size) == -1)
		desk_finish(c);	/* the head went out with no body: end it */
}

static void	desk_vnc_read(struct bufferevent *, void *);
static void	desk_vnc_write(struct bufferevent *, void *);
static void	desk_vnc_event(struct bufferevent *, short, void *);
static void	desk_read(struct bufferevent *, void *);

/* The WebSocket handshake, then the bytes of Xvnc's socket. */
static void
desk_upgrade(struct dconn *c, const char *key, const char *proto)
{
	struct sockaddr_un	 sun;
	unsigned char		 md[SHA_DIGEST_LENGTH];
	char			*cat, *accept;

	if (key == NULL || strlen(key) != 24) {
		desk_status(c, 400, "Bad WebSocket handshake");
		return;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, c->d->vnc, strlen(c->d->vnc));	/* checked at start */
	c->vnc = bufferevent_socket_new(c->d->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->vnc == NULL)
		fatalx("bufferevent_socket_new");
	if (bufferevent_socket_connect(c->vnc, (struct sockaddr *)&sun,
	    sizeof sun) != 0) {
		desk_status(c, 502, "The desktop does not answer");
		return;
	}
	bufferevent_setcb(c->vnc, desk_vnc_read, desk_vnc_write, desk_vnc_event, c);
	bufferevent_setwatermark(c->vnc, EV_WRITE, DESK_HIGH / 2, 0);
	bufferevent_enable(c->vnc, EV_READ | EV_WRITE);
	xasprintf(&cat, "%s%s", key, DESK_WS_GUID);
	SHA1((unsigned char *)cat, strlen(cat), md);
	free(cat);
	accept = codec_b64_encode(md, sizeof md);
	evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 101 "
	    "Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n%s\r\n", accept, proto != NULL &&
	    strstr(proto, "binary") != NULL ? "Sec-WebSocket-Protocol: binary\r\n" :
	    "");
	free(accept);
}

/* One request head: a file, or the WebSocket. 0 more may follow, -1 not. */
static int
desk_request(struct dconn *c, char *head)
{
	char		*lines[64], *save = NULL, *l, *sp, *path, *q;
	const char	*up, *conn;
	size_t		 n = 0;
	int		 head_only;

	for (l = strtok_r(head, "\r\n", &save); l != NULL && n < nitems(lines);
	    l = strtok_r(NULL, "\r\n", &save))
		lines[n++] = l;
	if (n == 0 || (sp = strchr(lines[0], ' ')) == NULL ||
	    (path = sp + 1, (q = strchr(path, ' ')) == NULL)) {
		desk_status(c, 400, "Bad Request");
		return (-1);
	}
	*sp = *q = '\0';
	path[strcspn(path, "?#")] = '\0';
	head_only = strcmp(lines[0], "HEAD") == 0;
	if (strcmp(lines[0], "GET") != 0 && !head_only) {
		desk_status(c, 405, "Method Not Allowed");
		return (-1);
	}
	up = desk_header(lines, n, "Upgrade");
	if (up != NULL && strcasecmp(up, "websocket") == 0) {
		desk_upgrade(c, desk_header(lines, n, "Sec-WebSocket-Key"),
		    desk_header(lines, n, "Sec-WebSocket-Protocol"));
		return (-1);
	}
	desk_file(c, path, head_only);
	conn = desk_header(lines, n, "Connection");
	if (conn != NULL && strcasecmp(conn, "close") == 0) {
		desk_finish(c);
		return (-1);
	}
	return (0);
}

/* Frames from the browser: data to Xvnc, ping answered, close ends it. */
static void
desk_frames(struct dconn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct evbuffer	*to = bufferevent_get_output(c->vnc);
	struct wsframe	 f;
	unsigned char	*p, *data;
	size_t		 len, i;
	int		 n;

	while ((len = evbuffer_get_length(in)) > 0) {
		p = evbuffer_pullup(in, len);
		if ((n = desktop_frame(p, len, DESK_HIGH, &f)) == 0)
			return;
		if (n == -1 || f.opcode == 1 || (f.opcode > 2 && f.opcode < 8) ||
		    f.opcode > 10) {
			desk_frame_head(bufferevent_get_output(c->bev), 8, 2);
			evbuffer_add(bufferevent_get_output(c->bev), "\x03\xea", 2);
			desk_finish(c);	/* 1002: protocol error */
			return;
		}
		data = xmalloc(f.len + 1);
		for (i = 0; i < f.len; i++)
			data[i] = f.payload[i] ^ f.mask[i % 4];
		if (f.opcode == 0 || f.opcode == 2) {
			evbuffer_add(to, data, f.len);
			desk_traffic(c->d, f.len);
		}
		else if (f.opcode == 9) {
			desk_frame_head(bufferevent_get_output(c->bev), 10, f.len);
			evbuffer_add(bufferevent_get_output(c->bev), data, f.len);
		}
		free(data);
		evbuffer_drain(in, n);
		if (f.opcode == 8) {
			desk_frame_head(bufferevent_get_output(c->bev), 8, 0);
			desk_finish(c);
			return;
		}
	}
	if (evbuffer_get_length(to) > DESK_HIGH)
		bufferevent_disable(c->bev, EV_READ);
}

static void
desk_read(struct bufferevent *bev, void *arg)
{
	struct dconn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
	char		*head;
	size_t		 n;
	int		 rc;

	while (!c->close && c->vnc == NULL) {
		end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (end.pos == -1) {
			if (evbuffer_get_length(in) > DESK_HEAD_MAX)
				desk_status(c, 431, "Request Header Fields Too Large");
			return;
		}
		n = end.pos + 4;
		head = xmalloc(n + 1);
		evbuffer_remove(in, head, n);
		head[n] = '\0';
		rc = desk_request(c, head);
		free(head);
		if (rc == -1)
			break;
	}
	if (!c->close && c->vnc != NULL)
		desk_frames(c);
}

/* The browser's side drained: free a closing stream, or read Xvnc again. */
static void
desk_write(struct bufferevent *bev, void *arg)
{
	struct dconn	*c = arg;

	if (c->close) {
		desk_free(c);
		return;
	}
	if (c->vnc != NULL)
		bufferevent_enable(c->vnc, EV_READ);
}

static void
desk_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		desk_free(arg);
}

/* Xvnc's bytes, as binary frames of at most DESK_CHUNK. */
static void
desk_vnc_read(struct bufferevent *bev, void *arg)
{
	struct dconn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	size_t		 n;

	while ((n = evbuffer_get_length(in)) > 0) {
		if (n > DESK_CHUNK)
			n = DESK_CHUNK;
		desk_frame_head(out, 2, n);
		evbuffer_remove_buffer(in, out, n);
		desk_traffic(c->d, n);
	}
	if (evbuffer_get_length(out) > DESK_HIGH)
		bufferevent_disable(bev, EV_READ);
}

/* Xvnc took what was queued: read the browser again. */
static void
desk_vnc_write(struct bufferevent *bev, void *arg)
{
	struct dconn	*c = arg;

	if (!c->close)
		bufferevent_enable(c->bev, EV_READ);
}

static void
desk_vnc_event(struct bufferevent *bev, short what, void *arg)
{
	struct dconn	*c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		log_info("agent: route %s: the desktop closed a connection",
		    c->d->route);
		desk_frame_head(bufferevent_get_output(c->bev), 8, 0);
		desk_finish(c);
	}
}

static void
desk_accept(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct desktop	*d = arg;
	struct dconn	*c = xcalloc(1, sizeof *c);

	c->d = d;
	c->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_setcb(c->bev, desk_read, desk_write, desk_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, DESK_HIGH / 2, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/*
 * Serves the desktop on listening socket @fd (taken): noVNC from @root,
 * WebSockets to @vnc. NULL with *cause if @vnc cannot be a socket address.
 */
struct desktop *
desktop_new(struct event_base *base, int fd, const char *vnc, const char *root,
    const char *route, char **cause)
{
	struct sockaddr_un	 sun;
	struct desktop		*d;

	if (strlen(vnc) >= sizeof sun.sun_path) {
		xasprintf(cause, "%s is too long for a Unix socket", vnc);
		close(fd);
		return (NULL);
	}
	d = xcalloc(1, sizeof *d);
	d->base = base;
	d->vnc = xstrdup(vnc);
	d->root = xstrdup(root);
	d->route = route;
	evutil_make_socket_nonblocking(fd);
	d->lis = evconnlistener_new(base, desk_accept, d, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (d->lis == NULL)
		fatalx("evconnlistener_new");
	return (d);
}

/* When RFB bytes last went through the bridge (0: never), and how many in all. */
time_t
desktop_last(const struct desktop *d, unsigned long long *relayed)
{
	if (relayed != NULL)
		*relayed = d != NULL ? d->relayed : 0;
	return (d != NULL ? d->last : 0);
}

/* Stops listening; streams already open end with the agent. NULL is a no-op. */
void
desktop_free(struct desktop *d)
{
	if (d == NULL)
		return;
	evconnlistener_free(d->lis);
	free(d->vnc);
	free(d->root);
	free(d);
}
