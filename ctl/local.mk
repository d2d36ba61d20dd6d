# nbgatectl: the admin's command line. It talks to nbgated only over the
# admin socket, so it links libnbcommon.a and nothing of daemon/.
bin_PROGRAMS += nbgatectl
nbgatectl_SOURCES = ctl/nbgatectl.c
nbgatectl_LDADD = libnbcommon.a $(JANSSON_LIBS) $(LIBCURL_LIBS) $(OPENSSL_LIBS) $(LIBEVENT_LIBS) $(LIBSSH_LIBS)
