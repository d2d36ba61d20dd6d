/*
 * relay.h: internal to tunnel/: a spliced WebSocket's bytes between its
 * ssh_channel and the browser's socket (see relay.c).
 */
#ifndef NBGATE_RELAY_H
#define NBGATE_RELAY_H

#include <event2/util.h>
#include <libssh/libssh.h>
#include <openssl/ssl.h>

struct event_base;
struct evbuffer;
struct sshio;
struct relay;
typedef void (*relay_done_cb)(struct relay *, const char *, void *);
typedef void (*relay_traffic_cb)(size_t, size_t, void *);

struct relay	*relay_new(struct event_base *, ssh_channel, size_t, struct sshio *,
		     evutil_socket_t, SSL *, struct evbuffer *, struct evbuffer *,
		     int, relay_done_cb, relay_traffic_cb, void *);
void		 relay_service(struct relay *);
void		 relay_close(struct relay *);
void		 relay_free(struct relay *);

#endif
