/*
 * sbatch.h: #SBATCH directives read without sbatch (sbatch.c); shared by the
 * nbgate-slurmlib helper and the slurmrestd backend, which both link it alone.
 */
#ifndef NB_SBATCH_H
#define NB_SBATCH_H

#include <stddef.h>
#include <stdint.h>

struct sbatch_opts {			/* NULL / 0: not given */
	char		*partition;
	char		*account;
	char		*reservation;
	char		*qos;
	char		*name;
	char		*comment;
	char		*output;	/* --output, --error, --chdir as written */
	char		*error;
	char		*chdir;
	uint32_t	 time_min;	/* --time, in minutes (rounded up) */
	uint64_t	 mem_mb;	/* --mem, MiB per node */
	uint32_t	 ntasks;
	uint32_t	 cpus;		/* --cpus-per-task */
	uint32_t	 nodes_min;
	uint32_t	 nodes_max;
	uint32_t	 gpus;		/* --gres=gpu:N */
	uint16_t	 warn_signal;	/* --signal=[B:]SIG[@SECONDS]: SIG, 0 none */
	uint16_t	 warn_time;	/* its seconds before the end (default 60) */
	int		 warn_batch;	/* B: only to the batch shell */
	size_t		 end;		/* offset of the first line after the directives */
};
/* Reads the directives (zeroed @d first by the caller); -1 and *cause names the line. */
int		 sbatch_parse(const char *, struct sbatch_opts *, char **);
void		 sbatch_opts_clear(struct sbatch_opts *);	/* frees, zeroes */
/* A decimal number in 0..max, nothing else. */
int		 sbatch_number(const char *, unsigned long, unsigned long *);

#endif
