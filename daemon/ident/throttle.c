/*
 * throttle.c: failure counters with exponential backoff, one per "kind:name"
 * (a login name, an address, a MyProxy user name), shared by the password
 * login form (login.c) and MyProxy logons (cred.c). Bounded and self-expiring.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/ident/ident.h"

#define THROTTLE_BACKOFF_MAX	300	/* s */
#define THROTTLE_FORGET		900	/* s after its last failure a counter goes */
#define THROTTLE_COUNTERS_MAX	4096

/* Failures of one kind:name ("u:alice", "p:192.0.2.1", ...). */
struct throttle {
	char			*key;
	unsigned int		 n;
	time_t			 last;
	time_t			 until;		/* refused before this */
	TAILQ_ENTRY(throttle)	 entry;
};
static TAILQ_HEAD(, throttle) throttles = TAILQ_HEAD_INITIALIZER(throttles);
static size_t		 nthrottles;

static void
throttle_free(struct throttle *f)
{
	TAILQ_REMOVE(&throttles, f, entry);
	nthrottles--;
	free(f->key);
	free(f);
}

/* The counter of @kind:@name, after forgetting stale ones; NULL if none. */
static struct throttle *
throttle_find(int kind, const char *name)
{
	struct throttle	*f, *next;
	time_t		 now = time(NULL);

	for (f = TAILQ_FIRST(&throttles); f != NULL; f = next) {
		next = TAILQ_NEXT(f, entry);
		if (f->last + THROTTLE_FORGET < now && f->until < now)
			throttle_free(f);
		else if (f->key[0] == kind && strcmp(f->key + 2, name) == 0)
			return (f);
	}
	return (NULL);
}

/* Counts a failure of @kind:@name; past @free_n ones, each doubles the wait. */
void
throttle_fail(int kind, const char *name, unsigned int free_n)
{
	struct throttle	*f = throttle_find(kind, name);
	time_t		 now = time(NULL);
	unsigned int	 over;
	long		 wait;

	if (f == NULL) {
		if (nthrottles == THROTTLE_COUNTERS_MAX)	/* the oldest goes */
			throttle_free(TAILQ_FIRST(&throttles));
		f = xcalloc(1, sizeof *f);
		xasprintf(&f->key, "%c:%s", kind, name);
		nthrottles++;
	} else
		TAILQ_REMOVE(&throttles, f, entry);
	TAILQ_INSERT_TAIL(&throttles, f, entry);	/* oldest first */
	f->n++;
	f->last = now;
	if (f->n > free_n) {
		over = f->n - free_n - 1;
		wait = over >= 9 ? THROTTLE_BACKOFF_MAX : 1L << over;
		if (wait > THROTTLE_BACKOFF_MAX)
			wait = THROTTLE_BACKOFF_MAX;
		f->until = now + wait;
	}
}

/* A success forgets @kind:@name's failures. */
void
throttle_reset(int kind, const char *name)
{
	struct throttle	*f;

	if ((f = throttle_find(kind, name)) != NULL)
		throttle_free(f);
}

/* Seconds @kind:@name must still wait, or 0. */
long
throttle_wait(int kind, const char *name)
{
	struct throttle	*f = throttle_find(kind, name);
	time_t		 now = time(NULL);

	return (f != NULL && f->until > now ? (long)(f->until - now) : 0);
}

/* Forgets every counter (shutdown). */
void
throttle_clear(void)
{
	while (!TAILQ_EMPTY(&throttles))
		throttle_free(TAILQ_FIRST(&throttles));
}
