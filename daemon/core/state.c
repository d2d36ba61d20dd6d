/*
 * state.c: nbgated's one global state (struct gate in core.h). gate.c, above
 * every room, points it at its storage at start and swaps the configuration
 * on reload; every room reads it.
 */
#include "config.h"

#include "daemon/core/core.h"

struct gate	*gate;
