# Unit tests (C, TAP) and integration tests (Python, TAP) all run from `make check`.
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
TEST_EXTENSIONS = .py .h2
PY_LOG_DRIVER = $(LOG_DRIVER)
PY_LOG_COMPILER = $(PYTHON3)
H2_LOG_DRIVER = $(LOG_DRIVER)
H2_LOG_COMPILER = $(PYTHON3) $(top_srcdir)/tests/over-h2/run.py
AM_TESTS_ENVIRONMENT = NB_BUILDDIR='$(abs_top_builddir)' NB_SRCDIR='$(abs_top_srcdir)'; export NB_BUILDDIR NB_SRCDIR;

noinst_LIBRARIES += libnbtest.a
libnbtest_a_SOURCES = tests/unit/tap.h tests/unit/tap.c

check_PROGRAMS += tests/unit/test-util tests/unit/test-config
tests_unit_test_util_SOURCES = tests/unit/test-util.c
tests_unit_test_util_LDADD = libnbtest.a $(COMMON_LIBS)
tests_unit_test_config_SOURCES = tests/unit/test-config.c
tests_unit_test_config_LDADD = libnbtest.a $(DAEMON_LIBS)

TESTS += tests/unit/test-util tests/unit/test-config

# Includes between folders go one way; the order of rooms is in the script.
TESTS += tests/check-layers.py
dist_noinst_SCRIPTS += tests/check-layers.py

# The manual pages: nbgated.yaml(5) current with the parser, all render.
TESTS += tests/check-man.py
dist_noinst_SCRIPTS += tests/check-man.py

check_PROGRAMS += tests/unit/test-auth
tests_unit_test_auth_SOURCES = tests/unit/test-auth.c
tests_unit_test_auth_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-auth

check_PROGRAMS += tests/unit/test-store
tests_unit_test_store_SOURCES = tests/unit/test-store.c
tests_unit_test_store_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-store

EXTRA_DIST += tests/integration tests/unit/data tests/standin \
	tests/browser/package.json tests/browser/package-lock.json tests/browser/notebook.js \
	tests/browser/spawn.js tests/browser/chromium.js tests/browser/oidc-provider.mjs tests/browser/oidc-login.js \
	tests/browser/desktop.js

check_PROGRAMS += tests/unit/test-http
tests_unit_test_http_SOURCES = tests/unit/test-http.c
tests_unit_test_http_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-http

check_PROGRAMS += tests/unit/test-upool
tests_unit_test_upool_SOURCES = tests/unit/test-upool.c
tests_unit_test_upool_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-upool
check_PROGRAMS += tests/unit/test-route
tests_unit_test_route_SOURCES = tests/unit/test-route.c
tests_unit_test_route_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-route

check_PROGRAMS += tests/unit/test-jwt
tests_unit_test_jwt_SOURCES = tests/unit/test-jwt.c
tests_unit_test_jwt_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-jwt

check_PROGRAMS += tests/unit/test-tunnel
tests_unit_test_tunnel_SOURCES = tests/unit/test-tunnel.c tests/unit/tunnel-fixture.c \
	tests/unit/tunnel-fixture.h
tests_unit_test_tunnel_LDADD = libnbtest.a libnbtunnel.a $(COMMON_LIBS)
TESTS += tests/unit/test-tunnel

# Integration tests: real nbgated, OpenSSH, Jupyter, nbgate-agent (see tests/integration/harness.py).
TESTS += \
	tests/integration/test_testenv.py \
	tests/integration/test_sched.py \
	tests/integration/test_slurmlib.py \
	tests/integration/test_proxy.py \
	tests/integration/test_h2.py \
	tests/integration/test_pool.py \
	tests/integration/test_badinput.py \
	tests/integration/test_jupyter.py \
	tests/integration/test_websocket.py \
	tests/integration/test_agent.py \
	tests/integration/test_session.py \
	tests/integration/test_gridengine.py \
	tests/integration/test_session_libslurm.py \
	tests/integration/test_slurmrestd.py \
	tests/integration/test_session_slurmrestd.py \
	tests/integration/test_systemd.py \
	tests/integration/test_progress.py \
	tests/integration/test_culling.py \
	tests/integration/test_walltime.py \
	tests/integration/test_apps.py \
	tests/integration/test_activity.py \
	tests/integration/test_flavour.py \
	tests/integration/test_pages.py \
	tests/integration/test_login_pam.py \
	tests/integration/test_oidc.py \
	tests/integration/test_browser_spawn.py \
	tests/integration/test_netns.py \
	tests/integration/test_enroll.py \
	tests/integration/test_browser.py \
	tests/integration/test_transfer.py \
	tests/integration/test_faults.py \
	tests/integration/test_api_tokens.py \
	tests/integration/test_jupyterhub_api.py \
	tests/integration/test_sshcert.py \
	tests/integration/test_myproxy.py \
	tests/integration/test_charging.py \
	tests/integration/test_attribution.py

# The Debian packages: build, lint, install into a fresh Debian 12 root,
# start, purge (README's "Installing on a gateway", word for word).
TESTS += tests/package/test_debian.py
EXTRA_DIST += tests/package

# Attack suite (tests/attack/): each check is one attack, refused; see SECURITY.md.
TESTS += \
	tests/attack/test_origin.py \
	tests/attack/test_http_limits.py \
	tests/attack/test_user_hosts.py \
	tests/attack/test_coisolation.py \
	tests/attack/test_ident.py \
	tests/attack/test_limits_ssh.py \
	tests/attack/test_myproxy_caps.py \
	tests/attack/test_log_injection.py \
	tests/attack/test_token_pages.py \
	tests/attack/test_pool_isolation.py \
	tests/attack/test_enroll_bind.py \
	tests/attack/test_h2.py \
	tests/attack/test_continue.py
EXTRA_DIST += tests/attack tests/browser/attack.js tests/browser/userhosts.js

# The proxy's and the attack suite's checks again over HTTP/2 (harness: NB_HTTP=h2): each
# tests/over-h2/NAME.h2 names the test file that tests/over-h2/run.py runs that way.
TESTS += \
	tests/over-h2/test_proxy.h2 \
	tests/over-h2/test_pool.h2 \
	tests/over-h2/test_badinput.h2 \
	tests/over-h2/test_jupyterhub_api.h2 \
	tests/over-h2/test_origin.h2 \
	tests/over-h2/test_http_limits.h2 \
	tests/over-h2/test_user_hosts.h2 \
	tests/over-h2/test_token_pages.h2 \
	tests/over-h2/test_pool_isolation.h2 \
	tests/over-h2/test_coisolation.h2 \
	tests/over-h2/test_ident.h2 \
	tests/over-h2/test_enroll_bind.h2
EXTRA_DIST += tests/over-h2

# Fuzz targets: libFuzzer binaries with --enable-fuzzing (CC=clang); otherwise the
# same targets linked with a small driver replay the stored corpus as TAP tests.
FUZZ_TARGETS = tests/fuzz/fuzz-http tests/fuzz/fuzz-config tests/fuzz/fuzz-x509 tests/fuzz/fuzz-jwt \
	tests/fuzz/fuzz-activity tests/fuzz/fuzz-h2 tests/fuzz/fuzz-wsframe
tests_fuzz_fuzz_h2_SOURCES = tests/fuzz/fuzz-h2.c tests/fuzz/proxy-fixture.h
tests_fuzz_fuzz_h2_LDADD = $(DAEMON_LIBS)
tests_fuzz_fuzz_wsframe_SOURCES = tests/fuzz/fuzz-wsframe.c agent/agent.h agent/desktop.c
tests_fuzz_fuzz_wsframe_LDADD = $(COMMON_LIBS)
tests_fuzz_fuzz_activity_SOURCES = tests/fuzz/fuzz-activity.c agent/agent.h agent/activity.c \
	agent/notebook.c agent/app.c agent/desktop.c agent/netns.c
tests_fuzz_fuzz_activity_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_activity_LDADD = $(COMMON_LIBS) $(JANSSON_LIBS)
tests_fuzz_fuzz_http_SOURCES = tests/fuzz/fuzz-http.c tests/fuzz/proxy-fixture.h
tests_fuzz_fuzz_http_LDADD = $(DAEMON_LIBS)
tests_fuzz_fuzz_jwt_SOURCES = tests/fuzz/fuzz-jwt.c
tests_fuzz_fuzz_jwt_LDADD = $(DAEMON_LIBS)
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz-config.c
tests_fuzz_fuzz_config_LDADD = $(DAEMON_LIBS)
tests_fuzz_fuzz_x509_SOURCES = tests/fuzz/fuzz-x509.c
tests_fuzz_fuzz_x509_LDADD = $(DAEMON_LIBS)
if FUZZING
noinst_PROGRAMS += $(FUZZ_TARGETS)
tests_fuzz_fuzz_http_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_config_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_x509_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_jwt_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_activity_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_h2_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_wsframe_LDFLAGS = -fsanitize=fuzzer
else
check_PROGRAMS += $(FUZZ_TARGETS)
tests_fuzz_fuzz_http_SOURCES += tests/fuzz/driver.c
tests_fuzz_fuzz_config_SOURCES += tests/fuzz/driver.c
tests_fuzz_fuzz_x509_SOURCES += tests/fuzz/driver.c
tests_fuzz_fuzz_jwt_SOURCES += tests/fuzz/driver.c
tests_fuzz_fuzz_activity_SOURCES += tests/fuzz/driver.c
tests_fuzz_fuzz_h2_SOURCES += tests/fuzz/driver.c
tests_fuzz_fuzz_wsframe_SOURCES += tests/fuzz/driver.c
TESTS += $(FUZZ_TARGETS)
endif
EXTRA_DIST += tests/fuzz/corpus

# Credentials for user credential mode: X.509 (grid-mapfile), MyProxy, SSH certificates.
check_PROGRAMS += tests/unit/test-x509
tests_unit_test_x509_SOURCES = tests/unit/test-x509.c
tests_unit_test_x509_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-x509
EXTRA_DIST += tests/pki
check_PROGRAMS += tests/unit/cred-cli
tests_unit_cred_cli_SOURCES = tests/unit/cred-cli.c
tests_unit_cred_cli_LDADD = $(DAEMON_LIBS)
check_PROGRAMS += tests/unit/test-sshcert
tests_unit_test_sshcert_SOURCES = tests/unit/test-sshcert.c
tests_unit_test_sshcert_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-sshcert
check_PROGRAMS += tests/unit/test-httpc
tests_unit_test_httpc_SOURCES = tests/unit/test-httpc.c
tests_unit_test_httpc_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-httpc

# web/hub.c: the /hub/ route table parses and no entry shadows another.
check_PROGRAMS += tests/unit/test-hub
tests_unit_test_hub_SOURCES = tests/unit/test-hub.c
tests_unit_test_hub_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-hub

check_PROGRAMS += tests/unit/test-usage
tests_unit_test_usage_SOURCES = tests/unit/test-usage.c
tests_unit_test_usage_LDADD = libnbtest.a $(DAEMON_LIBS)
TESTS += tests/unit/test-usage
