# The scheduler bridge's execution half: processes, transports (local/SSH),
# SLURM, PBS CLI and Grid Engine backends, batched tracking. Standalone library + tests.
noinst_LIBRARIES += libnbbackend.a
libnbbackend_a_SOURCES = \
	scheduler/backend.h \
	scheduler/proc.c \
	scheduler/transport.c \
	scheduler/helper.c \
	scheduler/slurmjwt.c \
	scheduler/sbatch.h \
	scheduler/sbatch.c \
	scheduler/sched.c \
	scheduler/sched-track.c \
	scheduler/sched-slurm.c \
	scheduler/sched-pbs.c \
	scheduler/sched-gridengine.c \
	scheduler/sched-slurmlib.c \
	scheduler/sched-slurmrest.c
libnbbackend_a_CPPFLAGS = $(AM_CPPFLAGS) -DLIBEXECDIR='"$(pkglibexecdir)"'
BACKEND_LIBS = libnbbackend.a $(COMMON_LIBS) $(JANSSON_LIBS)

check_PROGRAMS += tests/unit/test-proc tests/unit/test-sched-parse tests/unit/sched-cli
tests_unit_test_proc_SOURCES = tests/unit/test-proc.c
tests_unit_test_proc_LDADD = libnbtest.a $(BACKEND_LIBS)
tests_unit_test_sched_parse_SOURCES = tests/unit/test-sched-parse.c tests/unit/sched-fixture.h
tests_unit_test_sched_parse_LDADD = libnbtest.a $(BACKEND_LIBS)
tests_unit_sched_cli_SOURCES = tests/unit/sched-cli.c
tests_unit_sched_cli_LDADD = $(DAEMON_LIBS)	# slurmrestd: nbgated's HTTP client
TESTS += tests/unit/test-proc tests/unit/test-sched-parse
check_PROGRAMS += tests/unit/test-sched-gridengine
tests_unit_test_sched_gridengine_SOURCES = tests/unit/test-sched-gridengine.c
tests_unit_test_sched_gridengine_LDADD = libnbtest.a $(BACKEND_LIBS)
TESTS += tests/unit/test-sched-gridengine

check_PROGRAMS += tests/unit/test-slurmrest-parse
tests_unit_test_slurmrest_parse_SOURCES = tests/unit/test-slurmrest-parse.c tests/unit/sched-fixture.h
tests_unit_test_slurmrest_parse_LDADD = libnbtest.a $(BACKEND_LIBS)
TESTS += tests/unit/test-slurmrest-parse

check_PROGRAMS += tests/unit/test-slurmjwt
tests_unit_test_slurmjwt_SOURCES = tests/unit/test-slurmjwt.c
tests_unit_test_slurmjwt_LDADD = libnbtest.a $(BACKEND_LIBS)
TESTS += tests/unit/test-slurmjwt

# libFuzzer target for the scheduler output parsers; replays its corpus otherwise.
tests_fuzz_fuzz_sched_SOURCES = tests/fuzz/fuzz-sched.c
tests_fuzz_fuzz_sched_LDADD = $(BACKEND_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-sched
tests_fuzz_fuzz_sched_LDFLAGS = -fsanitize=fuzzer
else
check_PROGRAMS += tests/fuzz/fuzz-sched
tests_fuzz_fuzz_sched_SOURCES += tests/fuzz/driver.c
TESTS += tests/fuzz/fuzz-sched
endif

# libslurm through a helper program (only file that links -lslurm); optional.
check_PROGRAMS += tests/unit/test-slurmlib-parse
tests_unit_test_slurmlib_parse_SOURCES = tests/unit/test-slurmlib-parse.c tests/unit/sched-fixture.h
tests_unit_test_slurmlib_parse_LDADD = libnbtest.a $(BACKEND_LIBS)
TESTS += tests/unit/test-slurmlib-parse
if HAVE_LIBSLURM
pkglibexec_PROGRAMS = nbgate-slurmlib
nbgate_slurmlib_SOURCES = scheduler/slurmlib.c
nbgate_slurmlib_LDADD = libnbbackend.a $(COMMON_LIBS) $(JANSSON_LIBS) $(SLURM_LIBS)
endif
