/*
 * daemon.h: nbgated's internal interfaces, grouped by file.
 * Structs are opaque unless the caller needs their fields.
 */
#ifndef NB_DAEMON_H
#define NB_DAEMON_H

#include <stddef.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "common/common.h"
#include "tunnel/tunnel.h"

/* config.c: the YAML configuration (see etc/nbgated.yaml) */
struct config {
	char		*path;		/* file it came from, NULL for built-in defaults */

	char		*state_dir;	/* keys, secrets, database */
	char		*public_url;	/* how browsers reach us, e.g. https://gw.example.org:8443 */
	int		 log_level;	/* enum log_level */

	char		*https_listen;	/* "host:port" */
	char		*ssh_listen;	/* "host:port" */
	char		*admin_socket;	/* path of the local admin socket */
	char		*admin_group;	/* group allowed on the admin socket, NULL: owner only */

	char		*tls_cert;	/* PEM chain */
	char		*tls_key;	/* PEM key */
	int		 tls_self_signed;	/* generate cert/key if missing */

	char		*ssh_host_key;
	int		 ssh_login_timeout;	/* seconds */
	int		 ssh_max_conns;
	int		 ssh_max_unauth;
	int		 ssh_keepalive;	/* seconds */

	int		 proxy_header_timeout;	/* seconds */
	int		 proxy_idle_timeout;	/* seconds */
	size_t		 proxy_max_header;	/* bytes of request head */
	size_t		 proxy_buffer;		/* bytes buffered per direction */
	int		 proxy_max_conns;	/* browser connections */

	char		**admins;	/* user names with admin rights */
	size_t		 nadmins;
	int		 cookie_max_age;	/* seconds */
};
struct config	*config_default(void);
struct config	*config_load(const char *, char **);
void		 config_free(struct config *);
int		 config_is_admin(const struct config *, const char *);

#endif
