# Everything of nbgated but main() is in libnbdaemon.a so unit tests can link it.
noinst_LIBRARIES += libnbdaemon.a
# Rooms, bottom up; each folder's header is its whole interface, and a room
# uses only those below it (tests/check-layers.py).
libnbdaemon_a_SOURCES = \
	daemon/core/core.h \
	daemon/core/cfg.h \
	daemon/core/cfg-walk.c \
	daemon/core/cfg-check.c \
	daemon/core/cfg-top.c \
	daemon/core/cfg-cluster.c \
	daemon/core/cfg-app.c \
	daemon/core/config.c \
	daemon/core/store.c \
	daemon/core/httpc.c \
	daemon/core/tls.c \
	daemon/core/state.c \
	daemon/ident/ident.h \
	daemon/ident/auth.c \
	daemon/ident/pam.c \
	daemon/ident/jwt.c \
	daemon/ident/oidc.c \
	daemon/ident/x509.c \
	daemon/ident/myproxy.c \
	daemon/ident/cred.c \
	daemon/ident/sshcert.c \
	daemon/ident/throttle.c \
	daemon/proxy/proxy.h \
	daemon/proxy/http.c \
	daemon/proxy/route.c \
	daemon/proxy/upool.c \
	daemon/proxy/peer.c \
	daemon/proxy/origin.c \
	daemon/proxy/conn.h \
	daemon/proxy/conn.c \
	daemon/proxy/conn-request.c \
	daemon/proxy/conn-up.c \
	daemon/proxy/conn-hub.c \
	daemon/proxy/h2.c \
	daemon/proxy/h2-stream.c \
	daemon/sess/sess.h \
	daemon/sess/jobreq.c \
	daemon/sess/session-int.h \
	daemon/sess/session.c \
	daemon/sess/session-cluster.c \
	daemon/sess/session-rest.c \
	daemon/sess/session-start.c \
	daemon/sess/session-track.c \
	daemon/sess/session-restore.c \
	daemon/sess/session-json.c \
	daemon/sess/session-extend.c \
	daemon/sess/session-continue.c \
	daemon/sess/enroll.c \
	daemon/sess/outbox.c \
	daemon/web/web.h \
	daemon/web/status.c \
	daemon/web/hub.c \
	daemon/web/api.c \
	daemon/web/api-admin.c \
	daemon/web/api-servers.c \
	daemon/web/api-users.c \
	daemon/web/api-creds.c \
	daemon/web/api-tokens.c \
	daemon/web/api-links.c \
	daemon/web/pages.c \
	daemon/web/home.c \
	daemon/web/extend.c \
	daemon/web/spawn.c \
	daemon/web/pending.c \
	daemon/web/credential.c \
	daemon/web/admin.c \
	daemon/web/login.c \
	daemon/web/oidc.c \
	daemon/web/usage.c \
	daemon/web/metrics.c \
	daemon/web/progress.c \
	daemon/daemon.h \
	daemon/gate.c
DAEMON_LIBS = libnbdaemon.a libnbsched.a libnbbackend.a libnbtunnel.a $(COMMON_LIBS) $(JANSSON_LIBS) $(YAML_LIBS) \
	$(SQLITE_LIBS) $(LIBCURL_LIBS) $(HTTP_PARSER_LIBS) $(PAM_LIBS) $(NGHTTP2_LIBS)

sbin_PROGRAMS += nbgated
nbgated_SOURCES = daemon/main.c
nbgated_LDADD = $(DAEMON_LIBS)

# sess/jobreq.c: spawn options checked against the cluster/queue config.
check_PROGRAMS += tests/unit/test-jobreq
tests_unit_test_jobreq_SOURCES = tests/unit/test-jobreq.c
tests_unit_test_jobreq_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-jobreq

EXTRA_DIST += daemon/openapi.yaml daemon/ATTRIBUTION.md daemon/JUPYTERHUB-API.md
