noinst_LIBRARIES += libnbtunnel.a
libnbtunnel_a_SOURCES = \
	tunnel/tunnel.h \
	tunnel/relay.c \
	tunnel/relay.h \
	tunnel/sshd.c \
	tunnel/tunnel.c
EXTRA_DIST += tunnel/PROTOCOL
