/*
 * daemon.h: nbgated's top: gate.c wires the rooms together (core, ident,
 * proxy, sess, web: each a folder with one header) and main.c runs it.
 * Only gate.c, main.c and the tests include this.
 */
#ifndef NB_DAEMON_H
#define NB_DAEMON_H

#include "daemon/web/web.h"

/* gate.c: start, reload, stop */
int		 gate_start(struct event_base *, struct config *, char **);
int		 gate_reload(struct config *, char **);
/* Loads and checks FILE (templates too) and applies it; -1 and *cause (kept running). */
int		 gate_reload_file(const char *, char **);
/* Loads and checks FILE without applying it: 0, or -1 and *cause. */
int		 gate_check_file(const char *, char **);
void		 gate_stop(void);

#endif
