/*
 * sched-fixture.h: what the scheduler parser tests share: a command's
 * output (status, stdout, stderr) as a backend's parser gets it.
 */
#ifndef NB_SCHED_FIXTURE_H
#define NB_SCHED_FIXTURE_H

#include <string.h>

#include "scheduler/backend.h"

static inline void
output(struct sched_output *o, int status, const char *out, const char *err)
{
	o->status = status;
	o->out = out;
	o->outlen = strlen(out);
	o->err = err;
	o->errlen = strlen(err);
}

#endif
