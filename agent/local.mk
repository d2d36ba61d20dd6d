bin_PROGRAMS += nbgate-agent
nbgate_agent_SOURCES = agent/agent.c
nbgate_agent_LDADD = $(COMMON_LIBS)
