/*
 * fuzz-wsframe.c: libFuzzer target for the WebSocket frames a browser sends
 * to the agent's desktop bridge (agent/desktop.c): whatever the bytes, a frame
 * is refused, needs more, or is taken whole within the input and the limit.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "agent/agent.h"

#define FUZZ_MAX	4096	/* the bridge's limit, scaled down */

static volatile unsigned fuzz_sink;	/* the payloads were read */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wsframe	 f;
	size_t		 off = 0, i;
	unsigned	 sum = 0;
	int		 n;

	while (off < size) {
		n = desktop_frame(data + off, size - off, FUZZ_MAX, &f);
		if (n <= 0)
			break;
		if ((size_t)n > size - off || f.len > FUZZ_MAX ||
		    f.payload + f.len != data + off + n ||
		    (f.opcode >= 8 && (!f.fin || f.len > 125)))
			abort();
		for (i = 0; i < f.len; i++)	/* every payload byte is readable */
			sum += f.payload[i] ^ f.mask[i % 4];
		off += n;
	}
	fuzz_sink = sum;
	return (0);
}
