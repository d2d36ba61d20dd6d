/*
 * fuzz-sched.c: libFuzzer target for the scheduler output parsers (SLURM
 * squeue/sacct/sbatch/sinfo/sacctmgr/scontrol show node, PBS qsub/qstat -f, Grid Engine qstat
 * -xml/qstat -j/qacct/qstat -g c, job listings). The first byte picks the backend (bit 0; bits 6-7
 * 01: Grid Engine), the parser and the exit status; the rest is stdout (and stderr).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "scheduler/backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ids[] = { "7706400", "7706401", "4321", "4322.pbs01.example.org",
	    "812.torque-srv.example.org", "7706410" };
	const struct sched_ops	*ops;
	struct sched_output	 o;
	struct sched_job	 jobs[nitems(ids)];
	struct sched_queue	*q = NULL;
	struct sched_listed	*l = NULL;
	struct sched_used	*u = NULL;
	char			*text, *cause = NULL, *id = NULL, **v = NULL;
	size_t			 i, n = 0;
	time_t			 t;

	if (size < 1)
		return (0);
	ops = data[0] & 1 ? &sched_pbs_ops : &sched_slurm_ops;
	if ((data[0] & 0xc0) == 0x40)
		ops = &sched_gridengine_ops;
	text = xmalloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	o.status = (data[0] >> 4) == 15 ? 153 : (data[0] >> 4) & 3;
	o.out = text;
	o.outlen = size - 1;
	o.err = text;
	o.errlen = (data[0] & 8) ? size - 1 : 0;
	memset(jobs, 0, sizeof jobs);
	for (i = 0; i < nitems(ids); i++) {
		jobs[i].id = ids[i];
		jobs[i].st.exit_code = -1;
	}
	switch ((data[0] >> 1) & 3) {
	case 0:
		ops->query_parse(&o, jobs, nitems(ids), &cause);
		break;
	case 1:
		ops->history_parse(&o, jobs, nitems(ids), &cause);
		break;
	case 2:
		ops->submit_parse(&o, &id, &cause);
		break;
	case 3:
		if (ops->queues_parse != NULL)
			ops->queues_parse(&o, &q, &n, &cause);
		sched_queues_free(q, n);
		n = 0;
		free(cause);
		cause = NULL;
		if (ops->accounts_parse != NULL)
			ops->accounts_parse(&o, &v, &n, &cause);
		sched_strings_free(v, n);
		free(cause);
		cause = NULL;
		if (ops->estimate_parse != NULL)
			ops->estimate_parse(&o, "7706400", &t, &cause);
		free(cause);
		cause = NULL;
		n = 0;
		ops->list_parse(&o, &l, &n, &cause);
		sched_listed_free(l, n);
		free(cause);
		cause = NULL;
		n = 0;
		v = NULL;
		ops->nodes_parse(&o, &v, &n, &cause);	/* a job's hosts */
		sched_strings_free(v, n);
		free(cause);
		cause = NULL;
		n = 0;
		if (ops->usage_parse != NULL)
			ops->usage_parse(&o, &u, &n, &cause);
		sched_used_free(u, n);
		break;
	}
	for (i = 0; i < nitems(ids); i++)
		sched_status_clear(&jobs[i].st);
	free(id);
	free(cause);
	free(text);
	return (0);
}
