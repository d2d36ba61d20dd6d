/*
 * app.c: what the agent starts when the app is not Jupyter: the command line
 * of a remote desktop (nbgate-desktop) or of a web program, and what a
 * desktop needs before it starts: an X cookie and the socket it is reached on.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "agent/agent.h"

#define APP_COOKIE_BYTES	16	/* MIT-MAGIC-COOKIE-1 */
#define APP_XAUTH_NAME		"Xauthority"

/* Parses "jupyter", "desktop" or "web". */
int
app_type_parse(const char *s, enum app_type *t)
{
	if (strcmp(s, "jupyter") == 0)
		*t = APP_JUPYTER;
	else if (strcmp(s, "desktop") == 0)
		*t = APP_DESKTOP;
	else if (strcmp(s, "web") == 0)
		*t = APP_WEB;
	else
		return (-1);
	return (0);
}

/* "WIDTHxHEIGHT", digits only, each 1 to 5 of them: 0 or -1. */
int
app_geometry_check(const char *s)
{
	size_t	w = strspn(s, "0123456789"), h;

	if (w == 0 || w > 5 || s[w] != 'x')
		return (-1);
	h = strspn(s + w + 1, "0123456789");
	return (h == 0 || h > 5 || s[w + 1 + h] != '\0' ? -1 : 0);
}

/* @word with every {socket} and {port} replaced (an owned copy). */
static char *
app_word(const char *word, const char *sock, int port)
{
	char		*out = xstrdup(""), *old, num[16];
	const char	*p = word, *hit, *with;
	size_t		 skip;

	snprintf(num, sizeof num, "%d", port);
	for (;;) {
		const char *s1 = strstr(p, "{socket}"), *s2 = strstr(p, "{port}");

		if (s1 == NULL && s2 == NULL)
			break;
		if (s1 != NULL && (s2 == NULL || s1 < s2)) {
			hit = s1;
			with = sock != NULL ? sock : "";
			skip = 8;
		} else {
			hit = s2;
			with = num;
			skip = 6;
		}
		old = out;
		xasprintf(&out, "%s%.*s%s", old, (int)(hit - p), p, with);
		free(old);
		p = hit + skip;
	}
	old = out;
	xasprintf(&out, "%s%s", old, p);
	free(old);
	return (out);
}

/*
 * The argv after the runtime's prefix: the command's words and, for a
 * desktop, its geometry and the private directory (where its X cookie is and
 * its VNC socket goes); for a web app {socket} and {port} filled in.
 */
void
app_argv(const struct notebook_config *cfg, const char *dir, const char *sock,
    int port, void (*add)(char ***, size_t *, char *), char ***argv, size_t *n)
{
	char	*cmd, *w, *save = NULL;

	cmd = xstrdup(cfg->cmd);
	for (w = strtok_r(cmd, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save))
		add(argv, n, cfg->app == APP_WEB ? app_word(w, sock, port) : xstrdup(w));
	free(cmd);
	if (cfg->app == APP_DESKTOP) {
		add(argv, n, xstrdup(cfg->geometry));
		add(argv, n, xstrdup(dir != NULL ? dir : "."));
	}
}

/*
 * An X authority file in @dir (0600) holding one random cookie for any
 * display (FamilyWild, no display number): Xvnc reads it with -auth and
 * picks its own free display (-displayfd), and its clients find it through
 * XAUTHORITY. Without it any account on the node could open the display.
 */
static int
app_xauth(const char *dir, char **cause)
{
	static const char	 name[] = "MIT-MAGIC-COOKIE-1";
	unsigned char		 rec[2 + 2 + 2 + 2 + sizeof name - 1 + 2 +
				     APP_COOKIE_BYTES], *p = rec;
	char			*path;
	int			 rv;

	*p++ = 0xff;			/* family: FamilyWild */
	*p++ = 0xff;
	*p++ = 0; *p++ = 0;		/* address: none */
	*p++ = 0; *p++ = 0;		/* display number: none (any) */
	*p++ = 0; *p++ = sizeof name - 1;
	memcpy(p, name, sizeof name - 1);
	p += sizeof name - 1;
	*p++ = 0; *p++ = APP_COOKIE_BYTES;
	arc4random_buf(p, APP_COOKIE_BYTES);
	xasprintf(&path, "%s/%s", dir, APP_XAUTH_NAME);
	rv = util_write_file(path, rec, sizeof rec, 0600, cause);
	explicit_bzero(rec, sizeof rec);
	free(path);
	return (rv);
}

/*
 * A listening Unix socket at @path (0600, in the 0700 directory), where the
 * tunnel reaches the desktop's bridge (desktop.c). Returns the descriptor, or
 * -1 and *cause.
 */
static int
app_listen(const char *path, char **cause)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		xasprintf(cause, "%s is too long for a Unix socket", path);
		return (-1);
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return (-1);
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    chmod(path, 0600) == -1 || listen(fd, 64) == -1) {
		xasprintf(cause, "listening on %s: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

/*
 * Before a desktop starts: its cookie, and the socket the tunnel reaches
 * (returned, for the bridge). -1 and *cause on failure.
 */
int
app_prepare(const struct notebook_config *cfg, const char *dir,
    const char *sock, char **cause)
{
	if (cfg->app != APP_DESKTOP)
		return (-1);
	if (sock == NULL) {
		xasprintf(cause, "a desktop listens on a Unix socket only");
		return (-1);
	}
	if (app_xauth(dir, cause) != 0)
		return (-1);
	return (app_listen(sock, cause));
}

/* Removes what a desktop left in @dir (its cookie, socket, display number). */
void
app_cleanup(const struct notebook_config *cfg, const char *dir)
{
	static const char *const names[] = { APP_XAUTH_NAME, "vnc.sock", "display" };
	char			*path;
	size_t			 i;

	if (cfg->app != APP_DESKTOP || dir == NULL)
		return;
	for (i = 0; i < nitems(names); i++) {
		xasprintf(&path, "%s/%s", dir, names[i]);
		unlink(path);
		free(path);
	}
}
