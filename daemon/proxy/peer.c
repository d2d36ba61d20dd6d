/*
 * peer.c: how many browser connections each client address holds, for the
 * proxy's per-address cap (proxy.max_connections_per_address).  A table of
 * addresses with a count; an address goes when its last connection does.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/proxy/proxy.h"

#define PEER_BUCKETS	4096	/* power of two */

struct peer {
	LIST_ENTRY(peer)	 entry;
	unsigned long		 n;	/* connections (and spliced WebSockets) */
	char			 addr[];
};
LIST_HEAD(peer_list, peer);
static struct peer_list peer_table[PEER_BUCKETS];

static struct peer_list *
peer_bucket(const char *addr)
{
	uint32_t	h = 2166136261u;	/* FNV-1a */

	for (; *addr != '\0'; addr++)
		h = (h ^ (unsigned char)*addr) * 16777619u;
	return (&peer_table[h & (PEER_BUCKETS - 1)]);
}

/* Counts one more connection from @addr; the returned handle is owned (peer_put). */
struct peer *
peer_get(const char *addr)
{
	struct peer_list	*b = peer_bucket(addr);
	struct peer		*p;
	size_t			 len;

	LIST_FOREACH(p, b, entry) {
		if (strcmp(p->addr, addr) == 0)
			break;
	}
	if (p == NULL) {
		len = strlen(addr) + 1;
		p = xcalloc(1, sizeof *p + len);
		memcpy(p->addr, addr, len);
		LIST_INSERT_HEAD(b, p, entry);
	}
	p->n++;
	return (p);
}

/* Counts one connection less; NULL is a no-op. */
void
peer_put(struct peer *p)
{
	if (p == NULL)
		return;
	if (--p->n == 0) {
		LIST_REMOVE(p, entry);
		free(p);
	}
}

/* Connections from the handle's address now. */
unsigned long
peer_count(const struct peer *p)
{
	return (p->n);
}
