/*
 * fuzz-config.c: libFuzzer target for daemon/core/config.c: any bytes given to
 * config_load_mem() must yield a config or an error list, never a crash.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* One input: parse, check the result's invariants, free. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*cfg;
	char		*cause = NULL;

	cfg = config_load_mem("fuzz.yaml", (const char *)data, size, &cause);
	if (cfg == NULL && cause == NULL)
		abort();	/* a refusal always says why */
	if (cfg != NULL && (cause != NULL || cfg->state_dir == NULL ||
	    cfg->state_dir[0] != '/' || cfg->admin_socket == NULL ||
	    cfg->tls_cert == NULL || cfg->tls_key == NULL ||
	    cfg->ssh_host_key == NULL))
		abort();	/* success means a complete config */
	if (cause != NULL && strchr(cause, '\r') != NULL)
		abort();	/* messages are sanitised, one a line */
	config_is_admin(cfg, "alice");
	config_free(cfg);
	free(cause);
	return (0);
}
