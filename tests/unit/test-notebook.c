/* test-notebook.c: agent/notebook.c's pure parts: argv, base URL, redaction. */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/common.h"
#include "agent/agent.h"
#include "tests/unit/tap.h"

static char *
join(char **argv)
{
	size_t	 len = 1, i;
	char	*s;

	for (i = 0; argv[i] != NULL; i++)
		len += strlen(argv[i]) + 1;
	s = xcalloc(1, len);
	for (i = 0; argv[i] != NULL; i++) {
		if (i > 0)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return (s);
}

static void
test_argv(void)
{
	const char		*binds[] = { "/home", "/scratch:/scratch:ro" };
	struct notebook_config	 c = {
		.route = "alice", .runtime = NOTEBOOK_RUNTIME_SINGULARITY,
		.image = "/images/scipy.sif", .binds = binds, .nbinds = 2,
		.base_url = "/user/alice/", .cmd = "jupyter-notebook",
		.workdir = "/home/alice"
	};
	char			**argv, *s;

	argv = notebook_argv(&c, "/tmp/nbgate-abc", "/tmp/nbgate-abc/nb.sock", 0);
	s = join(argv);
	is_str(s, "singularity exec --containall --home /home/alice --pwd /home/alice "
	    "--bind /home --bind "
	    "/scratch:/scratch:ro --bind /tmp/nbgate-abc /images/scipy.sif "
	    "jupyter-notebook --no-browser --config=/tmp/nbgate-abc/token.py "
	    "--NotebookApp.base_url=/user/alice/ "
	    "--NotebookApp.sock=/tmp/nbgate-abc/nb.sock "
	    "--NotebookApp.sock_mode=0600 --NotebookApp.notebook_dir=/home/alice "
	    "--NotebookApp.allow_remote_access=True", "singularity, socket");
	free(s);
	notebook_argv_free(argv);

	c.runtime = NOTEBOOK_RUNTIME_APPTAINER;
	c.gpus = 1;
	c.nbinds = 0;
	c.tcp = 1;
	c.flavour = NOTEBOOK_SERVER;
	c.cmd = "  python3  -m\tnotebook ";
	c.as_root = 1;
	argv = notebook_argv(&c, "/tmp/nbgate-def", NULL, 40001);
	s = join(argv);
	is_str(s, "apptainer exec --containall --home /home/alice --pwd /home/alice "
	    "--bind /tmp/nbgate-def --nv /images/scipy.sif python3 -m "
	    "notebook --no-browser --config=/tmp/nbgate-def/token.py "
	    "--ServerApp.base_url=/user/alice/ "
	    "--ServerApp.ip=127.0.0.1 --ServerApp.port=40001 "
	    "--ServerApp.port_retries=0 --ServerApp.root_dir=/home/alice "
	    "--ServerApp.allow_remote_access=True --allow-root",
	    "apptainer, gpus, tcp, split command, ServerApp");
	free(s);
	notebook_argv_free(argv);

	c.runtime = NOTEBOOK_RUNTIME_NONE;
	argv = notebook_argv(&c, "/t", "/t/nb.sock", 0);
	is_str(argv[0], "python3", "runtime none: the command comes first");
	ok(strstr(s = join(argv), "--bind") == NULL, "runtime none: no binds");
	ok(strstr(s, "token") == NULL || strstr(s, "--config=/t/token.py") != NULL,
	    "runtime none: the token only through the config file");
	free(s);
	notebook_argv_free(argv);
	notebook_argv_free(NULL);
}

/* The command line notebook_argv() builds, as one string (owned). */
static char *
argv_joined(const struct notebook_config *c, const char *dir, const char *sock)
{
	char	**argv = notebook_argv(c, dir, sock, 0), *s = join(argv);

	notebook_argv_free(argv);
	return (s);
}

/* Each flavour: its options' class, its directory option, its landing page. */
static void
test_flavour(void)
{
	static const char *names[] = { "classic", "server", "lab", "NotebookApp",
	    "ServerApp" };
	static const enum notebook_flavour want[] = { NOTEBOOK_CLASSIC,
	    NOTEBOOK_SERVER, NOTEBOOK_LAB, NOTEBOOK_CLASSIC, NOTEBOOK_SERVER };
	struct notebook_config	 c = {
		.route = "alice", .runtime = NOTEBOOK_RUNTIME_NONE,
		.base_url = "/user/alice/", .workdir = "/w"
	};
	enum notebook_flavour	 f;
	char			*s;
	size_t			 i;

	for (i = 0; i < nitems(names); i++)
		ok(notebook_flavour_parse(names[i], &f) == 0 && f == want[i],
		    "flavour %s", names[i]);
	ok(notebook_flavour_parse("Lab", &f) == -1 &&
	    notebook_flavour_parse("", &f) == -1, "unknown flavours refused");
	is_str(notebook_default_cmd(NOTEBOOK_CLASSIC), "jupyter-notebook",
	    "classic runs jupyter-notebook");
	is_str(notebook_default_cmd(NOTEBOOK_SERVER), "python3 -m jupyter_server",
	    "server runs the jupyter_server module");
	is_str(notebook_default_cmd(NOTEBOOK_LAB), "jupyter-lab", "lab runs jupyter-lab");

	c.flavour = NOTEBOOK_LAB;
	c.cmd = notebook_default_cmd(NOTEBOOK_LAB);
	s = argv_joined(&c, "/t", "/t/nb.sock");
	is_str(s, "jupyter-lab --no-browser --config=/t/token.py "
	    "--ServerApp.base_url=/user/alice/ --ServerApp.sock=/t/nb.sock "
	    "--ServerApp.sock_mode=0600 --ServerApp.root_dir=/w "
	    "--ServerApp.default_url=/lab --ServerApp.allow_remote_access=True",
	    "lab: ServerApp options, lands on /lab");
	free(s);
	c.flavour = NOTEBOOK_SERVER;
	s = argv_joined(&c, "/t", "/t/nb.sock");
	ok(strstr(s, "default_url") == NULL && strstr(s, "NotebookApp") == NULL,
	    "server: no landing page, no NotebookApp");
	free(s);
}

static void
test_base_url(void)
{
	static const char *good[] = { "/user/alice/", "/user/alice/lab/",
	    "/user/a_b-c.d/x1/" };
	static const char *bad[] = { "/user/alice", "/user//", "/user/Alice/",
	    "/user/alice/lab/more/", "/hub/alice/", "/user/alice/../",
	    "/user/-x/", "/user/alice/lab", "user/alice/", "/user/" };
	char		*cause = NULL;
	size_t		 i;

	for (i = 0; i < nitems(good); i++)
		ok(notebook_base_url_check(good[i], NULL, &cause) == 0, "good: %s", good[i]);
	for (i = 0; i < nitems(bad); i++) {
		ok(notebook_base_url_check(bad[i], NULL, &cause) == -1, "bad: %s", bad[i]);
		free(cause);
		cause = NULL;
	}
	ok(notebook_base_url_check("/user/alice/lab/", "alice/lab", &cause) == 0,
	    "named server matches its route");
	ok(notebook_base_url_check("/user/alice/", "bob", &cause) == -1,
	    "another user's prefix is refused");
	has_str(cause, "does not match route bob", "and the cause says so");
	free(cause);
}

static void
test_redact(void)
{
	char	*s;

	s = notebook_redact("http://h:1/?token=SECRET and SECRET!", "SECRET");
	is_str(s, "http://h:1/?token=[token] and [token]!", "every occurrence redacted");
	free(s);
	s = notebook_redact("nothing here", "SECRET");
	is_str(s, "nothing here", "no secret: unchanged");
	free(s);
	s = notebook_redact("", "SECRET");
	is_str(s, "", "empty line");
	free(s);
	s = notebook_redact("abc", NULL);
	is_str(s, "abc", "no token yet");
	free(s);
}

/* app.c and desktop.c: a desktop's argv, geometry, and WebSocket frames. */
static void
test_desktop(void)
{
	struct notebook_config	 cfg = { .route = "alice/desk", .base_url =
				    "/user/alice/desk/", .cmd = "nbgate-desktop",
				    .workdir = "/w", .app = APP_DESKTOP,
				    .geometry = "1024x768",
				    .runtime = NOTEBOOK_RUNTIME_NONE };
	/* "Hello" masked with 37 fa 21 3d (RFC 6455 section 5.7) */
	static const unsigned char hello[] = { 0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const unsigned char unmasked[] = { 0x82, 0x05, 'H', 'e', 'l', 'l', 'o' };
	static const unsigned char rsv[] = { 0xc2, 0x80, 0, 0, 0, 0 };
	static const unsigned char bigping[] = { 0x89, 0xfe, 0x00, 0x80 };
	static const unsigned char frag_close[] = { 0x08, 0x80, 0, 0, 0, 0 };
	static const unsigned char len16[] = { 0x82, 0xfe, 0x01, 0x00 };
	static const unsigned char len64[] = { 0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0 };
	struct wsframe		 f;
	char			**argv = notebook_argv(&cfg, "/tmp/nbgate-x", "/tmp/nbgate-x/nb.sock", 0);
	enum app_type		 t;

	ok(argv[0] != NULL && strcmp(argv[0], "nbgate-desktop") == 0 && argv[1] != NULL &&
	    strcmp(argv[1], "1024x768") == 0 && argv[2] != NULL &&
	    strcmp(argv[2], "/tmp/nbgate-x") == 0 && argv[3] == NULL,
	    "desktop argv: nbgate-desktop GEOMETRY DIR, no Jupyter options");
	notebook_argv_free(argv);
	ok(app_type_parse("desktop", &t) == 0 && t == APP_DESKTOP &&
	    app_type_parse("vnc", &t) == -1, "--app parses");
	ok(app_geometry_check("1280x800") == 0 && app_geometry_check("1280x") == -1 &&
	    app_geometry_check("x800") == -1 && app_geometry_check("12;id x8") == -1 &&
	    app_geometry_check("123456x800") == -1, "--geometry: digits x digits only");
	is_int(desktop_frame(hello, sizeof hello, 1024, &f), (long long)sizeof hello,
	    "a masked binary frame is taken whole");
	ok(f.fin && f.opcode == 2 && f.len == 5 && (f.payload[0] ^ f.mask[0]) == 'H',
	    "  its opcode, length and mask");
	is_int(desktop_frame(hello, 5, 1024, &f), 0, "a partial frame needs more");
	is_int(desktop_frame(unmasked, sizeof unmasked, 1024, &f), -1,
	    "an unmasked client frame is refused");
	is_int(desktop_frame(rsv, sizeof rsv, 1024, &f), -1, "RSV bits are refused");
	is_int(desktop_frame(bigping, sizeof bigping, 1024, &f), -1,
	    "a control frame over 125 bytes is refused");
	is_int(desktop_frame(frag_close, sizeof frag_close, 1024, &f), -1,
	    "a fragmented control frame is refused");
	is_int(desktop_frame(len16, sizeof len16, 255, &f), -1,
	    "a frame over the limit is refused (16-bit length)");
	is_int(desktop_frame(len64, sizeof len64, 1024 * 1024, &f), -1,
	    "a 4 GiB frame is refused (64-bit length)");
}

/* A listener on 127.0.0.1: its port (the socket is left open in *fd). */
static int
listen_loopback(int *fd)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((*fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(*fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(*fd, 4) == -1 ||
	    getsockname(*fd, (struct sockaddr *)&sin, &len) == -1)
		return (-1);
	return (ntohs(sin.sin_port));
}

/* 0 if 127.0.0.1:@port takes a connection here, else errno. */
static int
connect_loopback(int port)
{
	struct sockaddr_in	sin;
	int			fd, rv = 0;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (errno);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		rv = errno;
	close(fd);
	return (rv);
}

/*
 * netns.c: an "app" in a namespace of its own listens on a loopback port
 * that the host cannot reach, and the helper hands over a socket to it.
 */
static void
test_netns(void)
{
	char		*cause = NULL, c = 0, why[256];
	int		 sp[2], l, s, port, status;
	uint32_t	 seq = 0;
	pid_t		 pid;

	if (netns_available(&cause) != 0) {
		tap_diag("skipped: %s", cause);
		ok(strstr(cause, "user namespaces are not available") != NULL,
		    "no user namespaces: the reason says so");
		free(cause);
		return;
	}
	ok(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0, "socketpair");
	if ((pid = fork()) == 0) {	/* the app: echoes one byte */
		close(sp[0]);
		if (netns_enter(why, sizeof why) != 0 ||
		    (port = listen_loopback(&l)) == -1 ||
		    write(sp[1], &port, sizeof port) != sizeof port ||
		    netns_helper(sp[1], port, why, sizeof why) != 0 ||
		    (s = accept(l, NULL, NULL)) == -1 || read(s, &c, 1) != 1 ||
		    write(s, &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(sp[1]);
	if (read(sp[0], &port, sizeof port) != sizeof port)
		port = 0;
	ok(port > 0, "the app listens on 127.0.0.1:%d in its namespace", port);
	is_int(connect_loopback(port), ECONNREFUSED,
	    "the node's own loopback has nothing on that port");
	s = netns_connect(sp[0], &seq, &cause);
	ok(s != -1, "the helper hands over a connected socket (%s)",
	    s == -1 ? cause : "ok");
	if (s != -1) {
		c = 'x';
		ok(write(s, &c, 1) == 1, "a byte to the app");
		c = 0;
		while (read(s, &c, 1) == -1 && errno == EAGAIN)
			usleep(1000);
		is_int(c, 'x', "and the app's echo back");
		close(s);
	}
	ok(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "the app ran to its end");
	free(cause);
	cause = NULL;
	s = netns_connect(sp[0], &seq, &cause);
	ok(s == -1 && cause != NULL, "once the app is gone the helper is too: %s",
	    cause != NULL ? cause : "-");
	free(cause);
	close(sp[0]);
}

/*
 * A node without user namespaces (a child of ours in a user namespace whose
 * user.max_user_namespaces is 0): netns_available() says why, and a web app
 * with --netns required does not start, naming listen: loopback-shared.
 */
static void
test_netns_refused(void)
{
	struct notebook_config	 c = {
		.route = "alice", .runtime = NOTEBOOK_RUNTIME_NONE, .tcp = 1,
		.netns = NOTEBOOK_NETNS_REQUIRED, .app = APP_WEB, .cmd = "true",
		.base_url = "/user/alice/", .workdir = "/", .start_timeout = 5
	};
	char			 got[1024] = "", *cause = NULL;
	int			 p[2], n = 0, status;
	pid_t			 pid;

	if (pipe(p) == -1)
		return;
	if ((pid = fork()) == 0) {
		struct event_base	*base;
		char			 why[256];
		size_t			 len;

		close(p[0]);
		if (netns_enter(why, sizeof why) != 0 ||
		    (n = open("/proc/sys/user/max_user_namespaces", O_WRONLY)) == -1 ||
		    write(n, "0", 1) != 1 || close(n) == -1)
			_exit(3);
		if (netns_available(&cause) == 0)
			_exit(4);
		len = strlen(cause);
		if (write(p[1], cause, len) != (ssize_t)len || write(p[1], "\n", 1) != 1)
			_exit(5);
		free(cause);
		cause = NULL;
		base = event_base_new();
		if (notebook_start(base, &c, NULL, NULL, &cause) != NULL)
			_exit(6);
		len = strlen(cause);
		_exit(write(p[1], cause, len) == (ssize_t)len ? 0 : 5);
	}
	close(p[1]);
	while (n >= 0 && (size_t)n < sizeof got - 1) {
		ssize_t r = read(p[0], got + n, sizeof got - 1 - (size_t)n);

		if (r <= 0)
			break;
		n += (int)r;
	}
	got[n > 0 ? n : 0] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid)
		status = -1;
	ok(status == 0, "a node without user namespaces, simulated (status %d)",
	    status);
	tap_diag("%s", got);
	has_str(got, "user namespaces are not available to this account on this node",
	    "  netns_available says so");
	has_str(got, "unshare(CLONE_NEWUSER | CLONE_NEWNET): No space left on device",
	    "  with the kernel's reason");
	has_str(got, "listen: loopback keeps the app's port in a network namespace",
	    "  --netns required: the app does not start, and the cause says why");
	has_str(got, "listen: loopback-shared", "  and what the site may write instead");
}

/* A Unix socket at @path: listening (@lis), else connected to it. */
static int
unix_sock(const char *path, int lis)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return (-1);
	if (lis ? bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(fd, 4) == -1 : connect(fd, (struct sockaddr *)&sun,
	    sizeof sun) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Runs @base until @fd is readable (at most ~2 s): 1 if it is. */
static int
spin(struct event_base *base, int fd)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	int		i;

	for (i = 0; i < 200; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (poll(&pfd, 1, 10) == 1)
			return (1);
	}
	return (0);
}

/* desktop.c counts the RFB bytes it relays, each way (activity.c reports them). */
static void
test_desktop_traffic(void)
{
	static const char	 req[] = "GET /websockify HTTP/1.1\r\nHost: x\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
	unsigned char		 frame[] = { 0x82, 0x83, 1, 2, 3, 4, 'a' ^ 1,
				    'b' ^ 2, 'c' ^ 3 }, buf[256];
	char			 dir[] = "/tmp/nbgate-test-XXXXXX", br[64], vnc[64];
	char			*cause = NULL;
	struct event_base	*base = event_base_new();
	struct desktop		*d = NULL;
	unsigned long long	 n = 1;
	int			 lv, lb, cl = -1, v = -1;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(br, sizeof br, "%s/br", dir);
	snprintf(vnc, sizeof vnc, "%s/vnc", dir);
	lv = unix_sock(vnc, 1);
	lb = unix_sock(br, 1);
	if (lv != -1 && lb != -1)
		d = desktop_new(base, lb, vnc, "/nonexistent", "t", &cause);
	ok(d != NULL, "a bridge to a stand-in for Xvnc's socket");
	if (d == NULL)
		goto out;
	cl = unix_sock(br, 0);
	ok(cl != -1 && write(cl, req, sizeof req - 1) == (ssize_t)sizeof req - 1 &&
	    spin(base, lv) && (v = accept(lv, NULL, NULL)) != -1,
	    "a WebSocket upgrade reaches the stand-in");
	ok(desktop_last(d, &n) == 0 && n == 0, "no RFB byte yet: never in use");
	spin(base, cl);
	if (read(cl, buf, sizeof buf) <= 0)	/* the 101 */
		buf[0] = 0;
	ok(write(cl, frame, sizeof frame) == sizeof frame && spin(base, v) &&
	    read(v, buf, sizeof buf) == 3 && memcmp(buf, "abc", 3) == 0,
	    "a key's bytes go through to the stand-in");
	ok(desktop_last(d, &n) > 0 && n == 3, "they count: 3 bytes, a time");
	ok(write(v, "xyzw", 4) == 4 && spin(base, cl) && read(cl, buf, sizeof buf) == 6,
	    "the screen's bytes come back in a frame");
	desktop_last(d, &n);
	is_int(n, 7, "they count too");
out:
	if (cl != -1)
		close(cl);
	if (v != -1)
		close(v);
	spin(base, -1);		/* the bridge sees both ends go */
	desktop_free(d);
	if (lv != -1)
		close(lv);
	unlink(br);
	unlink(vnc);
	rmdir(dir);
	free(cause);
	event_base_free(base);
}

/* desktop.c serves noVNC's files only from under its root: a target without its leading "/" is refused. */
static void
test_desktop_files(void)
{
	static const struct { const char *target; const char *status; } reqs[] = {
		{ "/vnc.html", "HTTP/1.1 200" },
		{ "x/vnc.html", "HTTP/1.1 404" },	/* would be the root's sibling novncx/ */
		{ "/../novncx/vnc.html", "HTTP/1.1 404" },
		{ "//vnc.html", "HTTP/1.1 404" },
	};
	char			 dir[] = "/tmp/nbgate-test-XXXXXX", root[64], sib[64];
	char			 br[64], vnc[64], f[96], req[128], buf[512];
	char			*cause = NULL;
	struct event_base	*base = event_base_new();
	struct desktop		*d = NULL;
	size_t			 i;
	ssize_t			 n;
	int			 lv, lb, cl, fd;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(root, sizeof root, "%s/novnc", dir);
	snprintf(sib, sizeof sib, "%s/novncx", dir);
	snprintf(br, sizeof br, "%s/br", dir);
	snprintf(vnc, sizeof vnc, "%s/vnc", dir);
	mkdir(root, 0700);
	mkdir(sib, 0700);
	snprintf(f, sizeof f, "%s/vnc.html", root);
	if ((fd = open(f, O_WRONLY | O_CREAT, 0600)) != -1 && write(fd, "page", 4) == 4)
		close(fd);
	snprintf(f, sizeof f, "%s/vnc.html", sib);
	if ((fd = open(f, O_WRONLY | O_CREAT, 0600)) != -1 && write(fd, "secret", 6) == 6)
		close(fd);
	lv = unix_sock(vnc, 1);
	lb = unix_sock(br, 1);
	if (lv != -1 && lb != -1)
		d = desktop_new(base, lb, vnc, root, "t", &cause);
	ok(d != NULL, "a bridge serving files from a root of its own");
	for (i = 0; d != NULL && i < nitems(reqs); i++) {
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", reqs[i].target);
		cl = unix_sock(br, 0);
		n = -1;
		if (cl != -1 && write(cl, req, strlen(req)) == (ssize_t)strlen(req) && spin(base, cl))
			n = read(cl, buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = '\0';
		ok(strncmp(buf, reqs[i].status, strlen(reqs[i].status)) == 0 &&
		    strstr(buf, "secret") == NULL, "attack desktop-file-outside-root: GET %s: %s",
		    reqs[i].target, reqs[i].status + 9);
		if (cl != -1)
			close(cl);
	}
	spin(base, -1);
	desktop_free(d);
	if (lv != -1)
		close(lv);
	unlink(br);
	unlink(vnc);
	unlink(f);
	rmdir(sib);
	snprintf(f, sizeof f, "%s/vnc.html", root);
	unlink(f);
	rmdir(root);
	rmdir(dir);
	free(cause);
	event_base_free(base);
}

int
main(void)
{
	test_argv();
	test_flavour();
	test_base_url();
	test_redact();
	test_desktop();
	test_netns();
	test_netns_refused();
	test_desktop_traffic();
	test_desktop_files();
	return (tap_done());
}
