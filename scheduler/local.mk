# The scheduler bridge: job requests, batch-script templates (and, later,
# the backends). nbgated links libnbsched.a before libnbdaemon.a.
noinst_LIBRARIES += libnbsched.a
libnbsched_a_SOURCES = \
	scheduler/scheduler.h \
	scheduler/jobreq.c \
	scheduler/template.c

templatesdir = $(pkgdatadir)/templates
dist_templates_DATA = templates/slurm.sh templates/pbs.sh

check_PROGRAMS += tests/unit/test-jobreq tests/unit/test-template
tests_unit_test_jobreq_SOURCES = tests/unit/test-jobreq.c
tests_unit_test_jobreq_LDADD = libnbtest.a $(DAEMON_LIBS)
tests_unit_test_template_SOURCES = tests/unit/test-template.c
tests_unit_test_template_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-jobreq tests/unit/test-template

# libFuzzer target for template.c; replays its corpus in ordinary builds.
tests_fuzz_fuzz_template_SOURCES = tests/fuzz/fuzz-template.c
tests_fuzz_fuzz_template_LDADD = $(DAEMON_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-template
tests_fuzz_fuzz_template_LDFLAGS = -fsanitize=fuzzer
else
check_PROGRAMS += tests/fuzz/fuzz-template
tests_fuzz_fuzz_template_SOURCES += tests/fuzz/driver.c
TESTS += tests/fuzz/fuzz-template
endif
