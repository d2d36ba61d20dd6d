/*
 * fuzz-x509.c: libFuzzer target for daemon/ident/x509.c: any bytes given as a user's
 * credential (chain with the key inside, as a web upload would be) are accepted or
 * refused with a one-line reason, never a crash. No CA is trusted, so none passes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct x509_policy	 pol = { "/", "/dev/null", X509_CRL_IF_PRESENT, 0, 0 };
	struct x509_ident	 id;
	char			*cause = NULL;

	if (x509_verify((const char *)data, size, NULL, 0, "fuzz", &pol, &id, &cause) == 0)
		abort();	/* nothing is trusted under / */
	if (cause == NULL || strchr(cause, '\n') != NULL || id.dn != NULL || id.key != NULL)
		abort();	/* a refusal says why, on one line, and fills nothing */
	free(cause);
	return (0);
}
