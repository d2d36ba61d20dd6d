/*
 * driver.c: runs a fuzz target over its stored corpus without libFuzzer, so
 * the ordinary (ASan) build replays every corpus file as a TAP test.
 * The corpus is $NB_SRCDIR/tests/fuzz/corpus/<target>/ unless paths are given.
 */
#include "config.h"

#include <dirent.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int n;

static void
run_file(const char *path)
{
	FILE	*f;
	uint8_t	*buf;
	long	 len;

	if ((f = fopen(path, "rb")) == NULL) {
		printf("not ok %d - %s: cannot open\n", ++n, path);
		return;
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = malloc(len > 0 ? len : 1);
	if (buf == NULL || fread(buf, 1, len, f) != (size_t)len) {
		printf("not ok %d - %s: cannot read\n", ++n, path);
		fclose(f);
		free(buf);
		return;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	printf("ok %d - %s replays cleanly\n", ++n, path);
	fflush(stdout);
}

static void
run_dir(const char *dir)
{
	struct dirent	**ents;
	char		 *path;
	int		  i, count;

	if ((count = scandir(dir, &ents, NULL, alphasort)) < 0) {
		run_file(dir);
		return;
	}
	for (i = 0; i < count; i++) {
		if (ents[i]->d_name[0] != '.') {
			if (asprintf(&path, "%s/%s", dir, ents[i]->d_name) == -1)
				abort();
			run_file(path);
			free(path);
		}
		free(ents[i]);
	}
	free(ents);
}

int
main(int argc, char **argv)
{
	const char	*src = getenv("NB_SRCDIR");
	char		*dir, *name = basename(argv[0]);
	int		 i;

	if (strncmp(name, "fuzz-", 5) == 0)
		name += 5;
	if (argc > 1) {
		for (i = 1; i < argc; i++)
			run_dir(argv[i]);
	} else {
		if (asprintf(&dir, "%s/tests/fuzz/corpus/%s", src != NULL ? src : ".", name) == -1)
			abort();
		run_dir(dir);
		free(dir);
	}
	printf("1..%d\n", n);
	return (n == 0);
}
