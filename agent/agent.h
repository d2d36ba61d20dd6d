/*
 * agent.h: nbgate-agent's internal interfaces, grouped by file.
 */
#ifndef NB_AGENT_H
#define NB_AGENT_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

/* notebook.c: start, probe and supervise the notebook server */
enum notebook_runtime {
	NOTEBOOK_RUNTIME_NONE,		/* run the command directly */
	NOTEBOOK_RUNTIME_SINGULARITY,	/* singularity exec ... IMAGE command */
	NOTEBOOK_RUNTIME_APPTAINER	/* apptainer exec ... IMAGE command */
};

/* Which Jupyter application runs, and so which options it is given. */
enum notebook_flavour {
	NOTEBOOK_CLASSIC,	/* Notebook 6: NotebookApp, lands on /tree */
	NOTEBOOK_SERVER,	/* Jupyter Server: ServerApp */
	NOTEBOOK_LAB		/* JupyterLab on Jupyter Server: ServerApp, /lab */
};

/* What runs (--app): a Jupyter server, a remote desktop, any web program. */
enum app_type {
	APP_JUPYTER,
	APP_DESKTOP,		/* nbgate-desktop GEOMETRY DIR; desktop.c bridges */
	APP_WEB			/* the command, {socket}/{port} filled in */
};

/* With tcp: whether the port is kept from the node's other accounts (netns.c). */
enum notebook_netns {
	NOTEBOOK_NETNS_NONE,		/* the node's shared loopback */
	NOTEBOOK_NETNS_REQUIRED,	/* its own namespace, or refuse to start */
	NOTEBOOK_NETNS_PREFERRED	/* its own namespace, else the shared loopback */
};

/* All strings are borrowed and must outlive the notebook. */
struct notebook_config {
	const char		*route;		/* for logs: "alice", "alice/lab" */
	enum notebook_runtime	 runtime;
	const char		*image;		/* container image (runtime != none) */
	const char	       **binds;		/* --bind specs, nbinds of them */
	size_t			 nbinds;
	int			 gpus;		/* add --nv */
	int			 tcp;		/* 127.0.0.1:free port, not a Unix socket */
	enum notebook_netns	 netns;		/* tcp: in a network namespace of its own? */
	const char		*base_url;	/* "/user/alice/" */
	const char		*cmd;		/* inside the image; split on blanks, no shell */
	enum notebook_flavour	 flavour;	/* options and token class */
	const char		*workdir;	/* cwd, notebook_dir, the container's home */
	const char		*token_out;	/* 0600 file the token is written to, or NULL */
	int			 start_timeout;	/* seconds until it must answer */
	int			 as_root;	/* pass --allow-root (tests run as root) */
	enum app_type		 app;
	const char		*geometry;	/* desktop: "WxH" */
};

enum notebook_event {
	NOTEBOOK_READY,		/* answers on its socket/port: dial the gateway */
	NOTEBOOK_EXITED,	/* died or never answered; why says which */
	NOTEBOOK_STOPPED	/* gone after notebook_stop() */
};

struct notebook;
typedef void (*notebook_cb)(struct notebook *, enum notebook_event, const char *,
	    void *);

int	 notebook_runtime_parse(const char *, enum notebook_runtime *);
int	 notebook_flavour_parse(const char *, enum notebook_flavour *);
const char *notebook_default_cmd(enum notebook_flavour);
int	 notebook_base_url_check(const char *, const char *, char **);
char	**notebook_argv(const struct notebook_config *, const char *, const char *,
	    int);
void	 notebook_argv_free(char **);
char	*notebook_redact(const char *, const char *);
struct notebook *notebook_start(struct event_base *, const struct notebook_config *,
	    notebook_cb, void *, char **);
void	 notebook_stop(struct notebook *);
struct sockaddr_storage;
socklen_t notebook_addr(struct notebook *, struct sockaddr_storage *);	/* where it listens */
const char *notebook_sock(struct notebook *);	/* borrowed; NULL with tcp */
int	 notebook_port(struct notebook *);	/* 0 unless tcp */
const char *notebook_token(struct notebook *);	/* borrowed, secret */
int	 notebook_isolated(struct notebook *);	/* tcp in its own namespace */
time_t	 notebook_traffic(struct notebook *);	/* desktop: last RFB byte, or 0 */
int	 notebook_connect(void *, char **);	/* isolated: a connected socket */
void	 notebook_free(struct notebook *);

/* app.c: the command line and setup of apps other than Jupyter */
#ifdef LIBEXECDIR
#define APP_DESKTOP_CMD		LIBEXECDIR "/nbgate-desktop"
#else
#define APP_DESKTOP_CMD		"nbgate-desktop"	/* on $PATH (unit tests) */
#endif
#define APP_DESKTOP_GEOMETRY	"1280x800"
int	 app_type_parse(const char *, enum app_type *);
int	 app_geometry_check(const char *);
void	 app_argv(const struct notebook_config *, const char *, const char *, int,
	    void (*)(char ***, size_t *, char *), char ***, size_t *);
int	 app_prepare(const struct notebook_config *, const char *, const char *,
	    char **);
void	 app_cleanup(const struct notebook_config *, const char *);

/* netns.c: a TCP-only app in a network namespace of its own, reached by fd passing */
int	 netns_enter(char *, size_t);
int	 netns_available(char **);
int	 netns_helper(int, int, char *, size_t);
int	 netns_connect(int, uint32_t *, char **);

/* desktop.c: noVNC's files and WebSocket <-> RFB on the tunnel's Unix socket */
#define DESKTOP_NOVNC		"/usr/share/novnc"
#define DESKTOP_VNC_SOCK	"vnc.sock"	/* Xvnc's, in the private directory */
struct wsframe {
	int			 fin, opcode;
	unsigned char		 mask[4];
	const unsigned char	*payload;	/* masked, in the caller's bytes */
	size_t			 len;
};
int	 desktop_frame(const unsigned char *, size_t, size_t, struct wsframe *);
struct desktop;
struct desktop *desktop_new(struct event_base *, int, const char *, const char *,
	    const char *, char **);
time_t	 desktop_last(const struct desktop *, unsigned long long *);
void	 desktop_free(struct desktop *);

/* kernels.c: the notebook's kernels stopped through its REST API (blocking, bounded) */
#define KERNELS_STOP_TIMEOUT	15	/* s for all of it: with the notebook's stop, within SLURM's KillWait (30 s) */
int	 kernels_ids(const char *, size_t, char ***, size_t *);
int	 kernels_stop(struct notebook *, const struct notebook_config *, int, char **);

/* activity.c: what the notebook and job do, reported (tunnel/PROTOCOL 9) */
#define AGENT_BUSY_POLL		5	/* s between looks at the kernels */
#define AGENT_ACTIVITY_INTERVAL	60	/* s between reports, by default */
#define AGENT_WALLTIME_LATE	60	/* s --walltime-signal-at may be past */
struct actpoll;
typedef int (*actpoll_cb)(const char *, void *);	/* a report line: 0 sent */
time_t	 actpoll_time(const char *);
int	 actpoll_kernels(const char *, size_t, long long *, long long *, time_t *);
int	 actpoll_terminals(const char *, size_t, long long *, time_t *);
long long actpoll_cpu_ms(pid_t);
struct actpoll *actpoll_new(struct event_base *, struct notebook *,
	    const struct notebook_config *, int, actpoll_cb, void *);
void	 actpoll_free(struct actpoll *);

#endif
