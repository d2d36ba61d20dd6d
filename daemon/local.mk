# Everything of nbgated but main() is in libnbdaemon.a so unit tests can link it.
noinst_LIBRARIES += libnbdaemon.a
libnbdaemon_a_SOURCES = \
	daemon/daemon.h \
	daemon/config.c \
	daemon/http.c \
	daemon/origin.c \
	daemon/peer.c \
	daemon/route.c \
	daemon/auth.c \
	daemon/tls.c \
	daemon/api.c \
	daemon/conn.c \
	daemon/gate.c \
	daemon/session.c \
	daemon/jobreq.c \
	daemon/enroll.c \
	daemon/metrics.c \
	daemon/pages.c \
	daemon/login.c \
	daemon/throttle.c \
	daemon/jwt.c \
	daemon/oidc.c \
	daemon/pam.c \
	daemon/store.c \
	daemon/x509.c \
	daemon/sshcert.c \
	daemon/myproxy.c \
	daemon/cred.c \
	daemon/httpc.c \
	daemon/outbox.c \
	daemon/usage.c
DAEMON_LIBS = libnbdaemon.a libnbsched.a libnbbackend.a libnbtunnel.a $(COMMON_LIBS) $(JANSSON_LIBS) $(YAML_LIBS) \
	$(SQLITE_LIBS) $(LIBCURL_LIBS) $(HTTP_PARSER_LIBS) $(PAM_LIBS)

sbin_PROGRAMS += nbgated
nbgated_SOURCES = daemon/main.c
nbgated_LDADD = $(DAEMON_LIBS)

# jobreq.c: spawn options checked against the cluster/queue config.
check_PROGRAMS += tests/unit/test-jobreq
tests_unit_test_jobreq_SOURCES = tests/unit/test-jobreq.c
tests_unit_test_jobreq_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-jobreq

EXTRA_DIST += daemon/openapi.yaml daemon/ATTRIBUTION.md
