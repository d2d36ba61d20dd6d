bin_PROGRAMS += nbgate-agent
nbgate_agent_SOURCES = agent/agent.h agent/agent.c agent/notebook.c agent/kernels.c \
	agent/activity.c agent/app.c agent/desktop.c agent/netns.c
nbgate_agent_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
nbgate_agent_CPPFLAGS = $(AM_CPPFLAGS) -DLIBEXECDIR='"$(pkglibexecdir)"'
nbgate_agent_LDADD = $(COMMON_LIBS) $(JANSSON_LIBS)

# Unit test of activity.c's parsers and the report's encoding (common/activity.c).
check_PROGRAMS += tests/unit/test-activity
tests_unit_test_activity_SOURCES = tests/unit/test-activity.c agent/agent.h \
	agent/activity.c agent/notebook.c agent/kernels.c agent/app.c agent/desktop.c \
	agent/netns.c
tests_unit_test_activity_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_activity_LDADD = libnbtest.a $(COMMON_LIBS) $(JANSSON_LIBS)
TESTS += tests/unit/test-activity

# Unit test of notebook.c's pure parts (argv, base URL check, redaction).
check_PROGRAMS += tests/unit/test-notebook
tests_unit_test_notebook_SOURCES = tests/unit/test-notebook.c agent/agent.h agent/notebook.c \
	agent/app.c agent/desktop.c agent/netns.c
tests_unit_test_notebook_LDADD = libnbtest.a $(COMMON_LIBS)
TESTS += tests/unit/test-notebook

# The remote desktop the agent starts for --app desktop (Xvnc, twm, xterm;
# the agent serves noVNC): a helper, not a command people run.
dist_pkglibexec_SCRIPTS = agent/nbgate-desktop
