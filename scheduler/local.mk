# The scheduler bridge: batch-script templates (the backends are in
# backend.mk). nbgated links libnbdaemon.a before libnbsched.a.
noinst_LIBRARIES += libnbsched.a
libnbsched_a_SOURCES = \
	scheduler/scheduler.h \
	scheduler/template.c

templatesdir = $(pkgdatadir)/templates
dist_templates_DATA = templates/slurm.sh templates/pbs.sh templates/gridengine.sh

check_PROGRAMS += tests/unit/test-template
tests_unit_test_template_SOURCES = tests/unit/test-template.c
tests_unit_test_template_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-template

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
