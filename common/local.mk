noinst_LIBRARIES += libnbcommon.a
libnbcommon_a_SOURCES = \
	common/common.h \
	common/log.c \
	common/xmalloc.c \
	common/util.c \
	common/codec.c \
	common/activity.c \
	common/sshio.c \
	common/pump.c \
	common/tunclient.c
COMMON_LIBS = libnbcommon.a $(LIBEVENT_LIBS) $(LIBSSH_LIBS) $(OPENSSL_LIBS) $(AX_PTHREAD_LIBS)
