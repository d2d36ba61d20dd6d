bin_PROGRAMS += nbgate-agent
nbgate_agent_SOURCES = agent/agent.h agent/agent.c agent/notebook.c
nbgate_agent_LDADD = $(COMMON_LIBS)

# Unit test of notebook.c's pure parts (argv, base URL check, redaction).
check_PROGRAMS += tests/unit/test-notebook
tests_unit_test_notebook_SOURCES = tests/unit/test-notebook.c agent/agent.h agent/notebook.c
tests_unit_test_notebook_LDADD = libnbtest.a $(COMMON_LIBS)
TESTS += tests/unit/test-notebook
