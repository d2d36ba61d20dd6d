/*
 * common.h: what nbgated and nbgate-agent both link (libnbcommon.a):
 * logging, allocation, small helpers, and both halves' SSH plumbing.
 */
#ifndef NB_COMMON_H
#define NB_COMMON_H

#include <sys/types.h>
#include <stdarg.h>
#include <stddef.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <libssh/libssh.h>

#ifndef __dead
#define __dead __attribute__((__noreturn__))
#endif
#define NB_PRINTF(a, b) __attribute__((__format__(__printf__, a, b)))
#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#ifndef TAILQ_FOREACH_SAFE	/* BSD's; glibc's sys/queue.h lacks it */
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

/*
 * What went wrong, in the kinds a caller acts on: one convention for the
 * daemon's fallible calls that must say more than -1 (sessions, PAM, API
 * tokens, JWTs). RESULT_OK is 0. daemon/web/status.c alone turns a kind
 * into an HTTP status; the message for people stays a separate string.
 */
enum result_kind {
	RESULT_OK = 0,
	RESULT_INVALID,		/* malformed, or not allowed as asked */
	RESULT_DENIED,		/* who asks may not (wrong password, no credential) */
	RESULT_NOT_FOUND,	/* no such thing (token, server, key) */
	RESULT_CONFLICT,	/* clashes with what exists */
	RESULT_LIMIT,		/* over a configured limit; may work later */
	RESULT_EXPIRED,		/* was valid, is no longer */
	RESULT_UNAVAILABLE,	/* what it needs cannot be reached now */
	RESULT_INTERNAL		/* a failure of our own or of a library */
};

/* log.c */
enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
void	 log_init(const char *, int);
void	 log_set_level(int);
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };
void	 log_set_format(int);
void	 log_tag(const char *, long long, const char *, const char *);
int	 log_get_level(void);
int	 log_level_parse(const char *);
void	 log_escape(char *, size_t, const char *);	/* control bytes as \n, \xNN */
void	 log_debug(const char *, ...) NB_PRINTF(1, 2);
void	 log_info(const char *, ...) NB_PRINTF(1, 2);
void	 log_warnx(const char *, ...) NB_PRINTF(1, 2);
void	 log_warn(const char *, ...) NB_PRINTF(1, 2);	/* appends strerror(errno) */
__dead void fatal(const char *, ...) NB_PRINTF(1, 2);	/* appends strerror(errno) */
__dead void fatalx(const char *, ...) NB_PRINTF(1, 2);

/* xmalloc.c: allocation failure is fatal, nothing else is */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...) NB_PRINTF(2, 3);
int	 xvasprintf(char **, const char *, va_list) NB_PRINTF(2, 0);
void	 freezero(void *, size_t);		/* wipe then free; NULL is a no-op */
void	 freestr(char *);			/* wipe a secret string then free */

/* util.c */
struct event_base *util_event_base_new(void);
/* Name rules, one function each: 1 if the name is well formed, else 0. */
int	 util_name_segment_valid(const char *, size_t);	/* route user, server */
int	 util_user_name_valid(const char *);		/* a Unix login */
int	 util_server_name_valid(const char *);		/* "" or a named server */
int	 util_batch_name_valid(const char *);		/* queue, account, ... */
int	 util_job_id_valid(const char *);		/* a batch job id */
int	 util_parse_hostport(const char *, char **, int *, char **);
int	 util_set_nodelay(int);
int	 util_set_keepalive(int, int);
char	*util_random_token(size_t);		/* nbytes of randomness, base64url, caller frees */
int	 util_streq_ct(const char *, const char *);	/* constant-time string equality */
int	 util_mkdir_p(const char *, mode_t, char **);
int	 util_write_file(const char *, const void *, size_t, mode_t, char **);
/* Is IP address text @addr in @pattern (an address or CIDR)? 1, 0, or -1: bad pattern. */
int	 util_addr_match(const char *, const char *);

/* codec.c: base64 (padded), base64url (unpadded), hex, percent-encoding */
struct evbuffer;
char	*codec_b64_encode(const void *, size_t);	/* caller frees */
/* 0 and an owned *out (NUL after *outlen bytes), or -1: not canonical. */
int	 codec_b64_decode(const char *, size_t, unsigned char **, size_t *);
char	*codec_b64url_encode(const void *, size_t);	/* caller frees */
int	 codec_b64url_decode(const char *, size_t, unsigned char **, size_t *);
void	 codec_hex(char *, const void *, size_t);	/* out holds 2n + 1 */
int	 codec_unhex(void *, size_t, const char *, size_t);	/* exactly 2n digits */
void	 codec_pct_encode(struct evbuffer *, const char *, const char *);

/* sshio.c: drive one non-blocking libssh session from a libevent loop */
struct sshio;
typedef void (*sshio_cb)(void *);
struct sshio *sshio_new(struct event_base *, ssh_session, sshio_cb, sshio_cb, void *);
int	 sshio_attach(struct sshio *, char **);
void	 sshio_update(struct sshio *);
void	 sshio_cork(struct sshio *);
int	 sshio_fd_alive(struct sshio *);
void	 sshio_free(struct sshio *);
void	 sshio_close_session(ssh_session);	/* disconnect, free, close the fd */
/*
 * The agent link's ciphers (both ways): with AES instructions here the agent
 * asks for AES-256-GCM first (SSH takes the client's first choice the server
 * has), and a gateway without them does not offer AES-GCM, so the link uses
 * AES-GCM only when both ends have AES instructions and ChaCha20-Poly1305
 * otherwise.  NULL: libssh's own list (ChaCha20-Poly1305 first).
 */
const char *sshio_ciphers_client(void);
const char *sshio_ciphers_server(void);

/* pump.c: bytes between an ssh_channel and a bufferevent, with back-pressure */
struct pump;
typedef void (*pump_done_cb)(struct pump *, const char *, void *);
struct pump *pump_new(ssh_channel, struct bufferevent *, size_t, struct sshio *,
	    pump_done_cb, void *);
void	 pump_service(struct pump *);
/* Gateway WebSockets: a spliced stream's channel moves to a relay (tunnel/relay.c). */
struct pump *pump_of(struct bufferevent *);
void	*pump_arg(struct pump *);
ssh_channel pump_release(struct pump *, size_t *);
ssh_channel pump_channel(struct pump *);
void	 pump_free(struct pump *);

/* activity.c: the agent's activity report (tunnel/PROTOCOL section 9) */
#define ACTIVITY_TAG		"nbgate-activity/1"
#define ACTIVITY_LINE_MAX	512	/* bytes of one report, newline excluded */
#define ACTIVITY_HOST		"nbgate-activity"	/* the channel's "host" */
struct activity {
	long long	 kernels;	/* kernels the notebook server runs */
	long long	 busy;		/* of them, executing now */
	long long	 terminals;
	long long	 connections;	/* WebSockets to kernels (browser tabs) */
	long long	 idle;		/* seconds since the notebook or the job last did something; -1 unknown */
	long long	 cpu_ms;	/* CPU time of the job's processes, ms */
};
char	*activity_encode(const struct activity *);	/* caller frees */
int	 activity_decode(const char *, size_t, struct activity *);
/* The agent's reason for leaving, on the same channel (section 9). */
#define ACTIVITY_LEAVE_TAG	"nbgate-exit/1 "
#define ACTIVITY_LEAVE_MAX	(2 * TUNCLIENT_LEAVE_MAX + 16)	/* escaped, with the tag */
char	*activity_leave_encode(const char *);	/* caller frees */
int	 activity_leave_decode(const char *, size_t, char **);

/* tunclient.c: the agent's half of the tunnel (libssh client) */
enum tunclient_state {
	TUNCLIENT_CONNECTING,
	TUNCLIENT_UP,		/* authenticated, forward granted */
	TUNCLIENT_DOWN,		/* lost; will retry after backoff */
	TUNCLIENT_FAILED	/* permanent: host key mismatch */
};
struct tunclient_config {
	const char	*host;		/* gateway SSH host */
	int		 port;
	const char	*user;		/* route name the agent serves, e.g. "alice" */
	const char	*hostkey_pin;	/* "SHA256:..." fingerprint of the gateway host key */
	const char	*key_file;	/* agent private key (OpenSSH format), or NULL to enroll */
	const char	*enroll_secret;	/* one-time secret: the agent makes its own key */
	const char	*job_id;	/* batch job the agent runs in (enrollment), or NULL */
	const char	*notebook_token; /* handed to the gateway at enrollment, or NULL */
	const char	*target_host;	/* local notebook: host:port ... */
	int		 target_port;
	const char	*target_unix;	/* ... or a Unix socket path */
	/* If set, each stream's socket comes from here (connected, non-blocking;
	 * -1 and *cause), target_host/target_unix naming it only for logs. */
	int		(*target_connect)(void *, char **);
	void		*target_arg;
	int		 backoff_max;	/* seconds */
	int		 keepalive;	/* seconds; 0: 30 */
};
struct tunclient;
typedef void (*tunclient_state_cb)(struct tunclient *, enum tunclient_state, const char *, void *);
struct tunclient *tunclient_new(struct event_base *, const struct tunclient_config *,
	    tunclient_state_cb, void *, char **);
#define TUNCLIENT_LEAVE_MAX	900	/* bytes of a leaving reason sent */
void	 tunclient_leave(struct tunclient *, const char *);	/* blocks <= ~1 s */
char	*tunclient_reason_clean(const char *, size_t);	/* caller frees */
/* Sends one activity report line if the gateway took the channel: 0, or -1. */
int	 tunclient_report(struct tunclient *, const char *);
void	 tunclient_free(struct tunclient *);

#endif
