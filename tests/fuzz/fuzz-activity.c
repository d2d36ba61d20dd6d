/*
 * fuzz-activity.c: libFuzzer target for the activity reports of tunnel
 * protocol 4: what nbgated decodes from an agent, and what the agent parses
 * from its notebook server. The first byte picks the mode:
 *   0: a report line (activity_decode);  3: a leaving line;  1: /api/kernels;
 *   2: /api/terminals;  4..: a notebook time (actpoll_time).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "agent/agent.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct activity	 a;
	long long	 n, busy;
	time_t		 last = 0;
	char		*s, *line;

	if (size < 1)
		return (0);
	s = xmalloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0]) {
	case 0:
		if (activity_decode(s, size - 1, &a) == 0) {
			line = activity_encode(&a);	/* what decodes re-encodes */
			if (activity_decode(line, strlen(line) - 1, &a) != 0)
				abort();
			free(line);
		}
		break;
	case 3:
		if (activity_leave_decode(s, size - 1, &line) == 1) {
			char	*back, *again = activity_leave_encode(line);

			/* what decodes re-encodes, and decodes the same */
			if (activity_leave_decode(again, strlen(again) - 1,
			    &back) != 1 || strcmp(back, line) != 0)
				abort();
			free(back);
			free(again);
			free(line);
		}
		break;
	case 1:
		(void)actpoll_kernels(s, size - 1, &n, &busy, &last);
		break;
	case 2:
		(void)actpoll_terminals(s, size - 1, &n, &last);
		break;
	default:
		(void)actpoll_time(s);
		break;
	}
	free(s);
	return (0);
}
