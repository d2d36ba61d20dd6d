/*
 * slurmlib.c: nbgate-slurmlib, the only code that calls libslurm. A short-lived
 * helper run off nbgated's loop (sched-slurmlib.c): libslurm may exit() or block
 * this process, never the daemon. Prints JSON lines on stdout and nothing else.
 *
 *   nbgate-slurmlib query ID[,ID...] | submit (script on stdin) | cancel ID | queues |
 *                   list [USER] | nodes NODELIST | accounts USER | serve
 *
 * serve (nbgated's usual way, scheduler/helper.c): one process answers many
 * commands, one JSON line each way (see serve() below), so SLURM is asked
 * without a fork and libslurm initialisation per query.
 *
 * Exit status 0: done; 1: failed, with one {"error": "..."} line.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include <slurm/slurmdb.h>

#include "common/common.h"
#include "scheduler/sbatch.h"

/* Exported by libslurm 22.05 but not declared in its headers (an implicit int would truncate). */
extern char	*slurm_job_state_string(uint32_t);
extern char	*slurm_job_reason_string(enum job_state_reason);

#define SLURMLIB_MAX_IDS	256
#define SLURMLIB_SCRIPT_MAX	(1024 * 1024)
#define SLURMLIB_ALARM		120	/* seconds: a last resort, the daemon times out first */

static FILE	*out;	/* the real stdout; fd 1 itself points at stderr */

#ifdef __SANITIZE_ADDRESS__
/*
 * libslurm 22.05's slurm_submit_batch_job() leaks the controller's reply when it
 * refuses a job (e.g. an invalid account): not ours, and this process is short-lived.
 */
const char	*__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return ("leak:slurm_submit_batch_job\n");
}
#endif

static void
emit(json_t *o)
{
	char	*s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

	if (s != NULL)
		fprintf(out, "%s\n", s);
	free(s);
	json_decref(o);
}

static int
fail(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	emit(json_pack("{s:s}", "error", s));
	free(s);
	return (1);
}

/* --- subcommands ------------------------------------------------------------------------ */

static char *
read_stdin(size_t *lenp)
{
	char	*buf = xmalloc(SLURMLIB_SCRIPT_MAX + 1);
	size_t	 len = 0;
	ssize_t	 n;

	while (len < SLURMLIB_SCRIPT_MAX) {
		n = read(STDIN_FILENO, buf + len, SLURMLIB_SCRIPT_MAX - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

static void
env_add(char ***env, uint32_t *n, const char *name, const char *value)
{
	if (value == NULL)
		return;
	*env = xreallocarray(*env, *n + 1, sizeof **env);
	xasprintf(&(*env)[(*n)++], "%s=%s", name, value);
}

/* What the description owns: its environment and GPU request (the rest is the sbatch_opts'). */
static void
desc_free(job_desc_msg_t *d)
{
	uint32_t	i;

	for (i = 0; i < d->env_size; i++)
		free(d->environment[i]);
	free(d->environment);
	free(d->tres_per_node);
}

/* The batch job's own environment: small but never empty (libslurm needs one). */
static void
desc_env(job_desc_msg_t *d)
{
	struct passwd	*pw = getpwuid(getuid());
	const char	*path = getenv("PATH");

	env_add(&d->environment, &d->env_size, "PATH",
	    path != NULL ? path : "/usr/local/bin:/usr/bin:/bin");
	env_add(&d->environment, &d->env_size, "HOME", pw != NULL ? pw->pw_dir : "/");
	if (pw != NULL)
		env_add(&d->environment, &d->env_size, "USER", pw->pw_name);
	env_add(&d->environment, &d->env_size, "SLURM_CONF", getenv("SLURM_CONF"));
}

/* The script's #SBATCH directives (read into @o) into the job description, which borrows @o's strings. */
static int
desc_directives(job_desc_msg_t *d, struct sbatch_opts *o, const char *script, char **cause)
{
	if (sbatch_parse(script, o, cause) == -1)
		return (-1);
	d->partition = o->partition;
	d->account = o->account;
	d->reservation = o->reservation;
	d->qos = o->qos;
	d->name = o->name;
	d->comment = o->comment;
	d->std_out = o->output;
	d->std_err = o->error;
	d->work_dir = o->chdir;
	if (o->time_min != 0)
		d->time_limit = o->time_min;
	if (o->mem_mb != 0)
		d->pn_min_memory = o->mem_mb;
	if (o->ntasks != 0)
		d->num_tasks = o->ntasks;
	if (o->cpus != 0)
		d->cpus_per_task = o->cpus;
	if (o->nodes_min != 0) {
		d->min_nodes = o->nodes_min;
		d->max_nodes = o->nodes_max;
	}
	if (o->gpus != 0)
		xasprintf(&d->tres_per_node, "gres:gpu:%u", o->gpus);
	if (o->warn_signal != 0) {	/* --signal: the early end (walltime_signal) */
		d->warn_signal = o->warn_signal;
		d->warn_time = o->warn_time;
		if (o->warn_batch)
			d->warn_flags |= KILL_JOB_BATCH;
	}
	return (0);
}

/* Parses the script (owned, NUL-terminated) before libslurm is touched: a refusal needs no controller. */
static int
submit_prepare(job_desc_msg_t *d, struct sbatch_opts *o, char **script, size_t len)
{
	char	*cause = NULL, cwd[PATH_MAX];

	slurm_init_job_desc_msg(d);
	if (len == 0 || len >= SLURMLIB_SCRIPT_MAX || strlen(*script) != len)
		return (fail("the batch script on stdin is empty, too long or holds a NUL byte"));
	if (strncmp(*script, "#!", 2) != 0)
		return (fail("the batch script does not start with #!"));
	if (desc_directives(d, o, *script, &cause) == -1) {
		fail("%s", cause);
		free(cause);
		return (1);
	}
	if (d->work_dir == NULL) {
		if (getcwd(cwd, sizeof cwd) == NULL)
			return (fail("getcwd: %s", strerror(errno)));
		d->work_dir = o->chdir = xstrdup(cwd);
	}
	d->script = *script;
	d->user_id = getuid();
	d->group_id = getgid();
	desc_env(d);
	return (0);
}

static int
cmd_submit(job_desc_msg_t *d)
{
	submit_response_msg_t	*resp = NULL;

	if (slurm_submit_batch_job(d, &resp) != SLURM_SUCCESS)
		return (fail("%s", slurm_strerror(errno)));
	emit(json_pack("{s:I}", "id", (json_int_t)resp->job_id));
	slurm_free_submit_response_response_msg(resp);
	return (0);
}

static int
parse_ids(const char *list, uint32_t *ids, size_t *np)
{
	char		*copy = xstrdup(list), *p, *save = NULL;
	unsigned long	 v;
	size_t		 n = 0;
	int		 rc = 0;

	for (p = strtok_r(copy, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
		if (n == SLURMLIB_MAX_IDS || sbatch_number(p, UINT32_MAX - 2, &v) == -1 || v == 0) {
			rc = -1;
			break;
		}
		ids[n++] = v;
	}
	free(copy);
	*np = n;
	return (n == 0 ? -1 : rc);
}

static json_t *
job_json(const slurm_job_info_t *j)
{
	struct passwd	*pw = NULL;
	json_t		*o;

	if (j->user_name == NULL)	/* not always filled in: ask the local user database */
		pw = getpwuid(j->user_id);
	o = json_pack("{s:I, s:s?, s:s?, s:I, s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}",
	    "id", (json_int_t)j->job_id,
	    "state", slurm_job_state_string(j->job_state),
	    "reason", slurm_job_reason_string((enum job_state_reason)j->state_reason),
	    "start_time", (json_int_t)j->start_time, "end_time", (json_int_t)j->end_time,
	    "nodes", j->nodes, "partition", j->partition, "account", j->account,
	    "user", j->user_name != NULL ? j->user_name : pw != NULL ? pw->pw_name : NULL, "name", j->name, "comment", j->comment);
	if (o != NULL && j->time_limit != NO_VAL && j->time_limit != INFINITE)
		json_object_set_new(o, "time_limit", json_integer((json_int_t)j->time_limit));
	if (o != NULL && j->exit_code != NO_VAL) {
		json_object_set_new(o, "exit_code", json_integer(WIFEXITED(j->exit_code) ?
		    WEXITSTATUS(j->exit_code) : 0));
		json_object_set_new(o, "signal", json_integer(WIFSIGNALED(j->exit_code) ?
		    WTERMSIG(j->exit_code) : 0));
	}
	return (o);
}

/* One slurm_load_jobs RPC (every job), filtered to the ids asked for. */
static int
cmd_query(const char *list)
{
	uint32_t	 ids[SLURMLIB_MAX_IDS];
	size_t		 n, i, k;
	job_info_msg_t	*msg = NULL;
	json_t		*o;

	if (parse_ids(list, ids, &n) == -1)
		return (fail("invalid job id list"));
	if (slurm_load_jobs(0, &msg, SHOW_ALL) != SLURM_SUCCESS)
		return (fail("%s", slurm_strerror(errno)));
	for (i = 0; i < msg->record_count; i++) {
		for (k = 0; k < n && ids[k] != msg->job_array[i].job_id; k++)
			;
		if (k < n && (o = job_json(&msg->job_array[i])) != NULL)
			emit(o);
	}
	slurm_free_job_info_msg(msg);
	return (0);
}

/* A job that has not finished: pending, running, suspended, or still completing. */
static int
job_unfinished(const slurm_job_info_t *j)
{
	return ((j->job_state & JOB_STATE_BASE) < JOB_COMPLETE ||
	    (j->job_state & JOB_COMPLETING) != 0);
}

/* One slurm_load_job_user RPC (the controller filters): user's unfinished jobs, or ours. */
static int
cmd_list(const char *user)
{
	struct passwd	*pw;
	job_info_msg_t	*msg = NULL;
	uid_t		 uid = getuid();
	uint32_t	 i;
	json_t		*o;

	if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL)
			return (fail("unknown user %s", user));
		uid = pw->pw_uid;
	}
	if (slurm_load_job_user(&msg, uid, SHOW_ALL) != SLURM_SUCCESS)
		return (fail("%s", slurm_strerror(errno)));
	for (i = 0; i < msg->record_count; i++) {
		if (job_unfinished(&msg->job_array[i]) &&
		    (o = job_json(&msg->job_array[i])) != NULL)
			emit(o);
	}
	slurm_free_job_info_msg(msg);
	return (0);
}

/* Like scancel without --signal: SIGKILL to the whole job, which cancels it. */
static int
cmd_cancel(const char *id)
{
	uint32_t	ids[1];
	size_t		n;

	if (strchr(id, ',') != NULL || parse_ids(id, ids, &n) == -1)
		return (fail("invalid job id"));
	if (slurm_kill_job(ids[0], SIGKILL, 0) != SLURM_SUCCESS)
		return (fail("%s", slurm_strerror(errno)));
	emit(json_pack("{s:I}", "cancelled", (json_int_t)ids[0]));
	return (0);
}

static int
cmd_queues(void)
{
	partition_info_msg_t	*msg = NULL;
	partition_info_t	*p;
	uint32_t		 i;

	if (slurm_load_partitions(0, &msg, SHOW_ALL) != SLURM_SUCCESS)
		return (fail("%s", slurm_strerror(errno)));
	for (i = 0; i < msg->record_count; i++) {
		p = &msg->partition_array[i];
		emit(json_pack("{s:s?, s:s, s:I, s:I, s:I, s:b}", "name", p->name,
		    "state", p->state_up == PARTITION_UP ? "UP" : "DOWN",
		    "max_time", p->max_time == INFINITE || p->max_time == NO_VAL ? (json_int_t)-1 :
		    (json_int_t)p->max_time * 60, "nodes", (json_int_t)p->total_nodes,
		    "cpus", (json_int_t)p->total_cpus, "default",
		    (p->flags & PART_FLAG_DEFAULT) != 0));
	}
	slurm_free_partition_info_msg(msg);
	return (0);
}

/* NodeAddr of each node of a hostlist ("n[1-3],gpu1"), from one slurm_load_node RPC. */
static int
cmd_nodes(const char *list)
{
	node_info_msg_t	*msg = NULL;
	node_info_t	*nd;
	hostlist_t	 hl;
	uint32_t	 i;

	if ((hl = slurm_hostlist_create(list)) == NULL)
		return (fail("invalid node list"));
	if (slurm_load_node(0, &msg, SHOW_ALL) != SLURM_SUCCESS) {
		slurm_hostlist_destroy(hl);
		return (fail("%s", slurm_strerror(errno)));
	}
	for (i = 0; i < msg->record_count; i++) {
		nd = &msg->node_array[i];
		if (nd->name != NULL && slurm_hostlist_find(hl, nd->name) != -1)
			emit(json_pack("{s:s, s:s}", "name", nd->name, "addr",
			    nd->node_addr != NULL ? nd->node_addr : nd->name));
	}
	slurm_free_node_info_msg(msg);
	slurm_hostlist_destroy(hl);
	return (0);
}

/* The accounts a user has associations with, from slurmdbd (what sacctmgr asks). */
static int
cmd_accounts(const char *user)
{
	slurmdb_assoc_cond_t	 cond;
	slurmdb_assoc_rec_t	*a;
	ListIterator		 it;
	List			 users, got;
	uint16_t		 flags = 0;
	void			*db;

	if ((db = slurmdb_connection_get(&flags)) == NULL)
		return (fail("cannot reach slurmdbd: %s", slurm_strerror(errno)));
	memset(&cond, 0, sizeof cond);
	users = slurm_list_create(NULL);
	slurm_list_append(users, (void *)user);
	cond.user_list = users;
	got = slurmdb_associations_get(db, &cond);
	slurm_list_destroy(users);
	if (got == NULL) {
		slurmdb_connection_close(&db);
		return (fail("slurmdbd: %s", slurm_strerror(errno)));
	}
	it = slurm_list_iterator_create(got);
	while ((a = slurm_list_next(it)) != NULL) {
		if (a->acct != NULL && a->user != NULL && strcmp(a->user, user) == 0)
			emit(json_pack("{s:s}", "account", a->acct));
	}
	slurm_list_iterator_destroy(it);
	slurm_list_destroy(got);
	slurmdb_connection_close(&db);
	return (0);
}

/* libslurm exits the process when it cannot read its configuration: say why first. */
static int
config_readable(void)
{
	const char	*conf = getenv("SLURM_CONF");
	int		 fd;

	if (conf == NULL || *conf == '\0')
		conf = "/etc/slurm/slurm.conf";
	if ((fd = open(conf, O_RDONLY)) == -1)
		return (fail("cannot read slurm.conf %s: %s", conf, strerror(errno)));
	close(fd);
	return (0);
}

/*
 * One command; a submit's script is @script (owned here). libslurm is
 * initialised on first use (*inited), so a refusal or a missing slurm.conf
 * never reaches it.
 */
static int
dispatch(int argc, char **argv, char *script, size_t len, int *inited)
{
	job_desc_msg_t		 desc;
	struct sbatch_opts	 opts;
	int			 rc;

	memset(&desc, 0, sizeof desc);
	memset(&opts, 0, sizeof opts);
	if (strcmp(argv[1], "submit") == 0 &&
	    (rc = submit_prepare(&desc, &opts, &script, len)) != 0)
		goto out;
	if ((rc = config_readable()) != 0)
		goto out;
	if (!*inited) {
		slurm_init(NULL);
		*inited = 1;
	}
	if (strcmp(argv[1], "submit") == 0)
		rc = cmd_submit(&desc);
	else if (strcmp(argv[1], "query") == 0)
		rc = cmd_query(argv[2]);
	else if (strcmp(argv[1], "cancel") == 0)
		rc = cmd_cancel(argv[2]);
	else if (strcmp(argv[1], "list") == 0)
		rc = cmd_list(argc == 3 ? argv[2] : NULL);
	else if (strcmp(argv[1], "nodes") == 0)
		rc = cmd_nodes(argv[2]);
	else if (strcmp(argv[1], "accounts") == 0)
		rc = cmd_accounts(argv[2]);
	else
		rc = cmd_queues();
out:
	desc_free(&desc);
	sbatch_opts_clear(&opts);
	free(script);
	return (rc);
}

/* A known subcommand with as many words after it as it takes. */
static int
usage_ok(int argc, char **argv)
{
	static const struct {
		const char	*name;
		int		 min, max;	/* words after the name */
	} cmds[] = {
		{ "submit", 0, 0 }, { "queues", 0, 0 }, { "query", 1, 1 }, { "cancel", 1, 1 },
		{ "list", 0, 1 }, { "nodes", 1, 1 }, { "accounts", 1, 1 }, { "serve", 0, 0 },
	};
	size_t	i;

	for (i = 0; argc >= 2 && i < nitems(cmds); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0)
			return (argc - 2 >= cmds[i].min && argc - 2 <= cmds[i].max);
	}
	return (0);
}

/*
 * serve: one request per stdin line, {"argv": [WORDS...], "input": TEXT},
 * answered in order by one line {"status": N, "out": TEXT} on stdout, where
 * out is what the one-shot command would have printed. Ends at EOF; a
 * request running past SLURMLIB_ALARM ends the process (the daemon restarts it).
 */
static void
serve_one(FILE *real, const char *line, size_t linelen, int *inited)
{
	json_t		*j, *a, *in, *ans;
	char		*args[4] = { "nbgate-slurmlib", NULL, NULL, NULL }, *buf = NULL, *s;
	char		*script = NULL;
	size_t		 blen = 0, i, n = 0;
	int		 rc;

	if ((out = open_memstream(&buf, &blen)) == NULL)
		fatalx("open_memstream failed");
	j = json_loadb(line, linelen, 0, NULL);
	a = json_object_get(j, "argv");
	in = json_object_get(j, "input");
	for (i = 0; json_is_array(a) && i < json_array_size(a) && i < 2; i++) {
		if ((args[1 + i] = (char *)json_string_value(json_array_get(a, i))) != NULL)
			n++;
	}
	if (!json_is_array(a) || json_array_size(a) != n || !json_is_string(in) ||
	    !usage_ok((int)n + 1, args) || strcmp(args[1], "serve") == 0)
		rc = fail("serve: a request is {\"argv\": [COMMAND, ...], \"input\": TEXT}");
	else {
		script = xstrndup(json_string_value(in), json_string_length(in));
		rc = dispatch((int)n + 1, args, script,	/* transferred */
		    json_string_length(in), inited);
	}
	fclose(out);
	out = NULL;
	ans = json_pack("{s:i, s:s%}", "status", rc, "out", buf != NULL ? buf : "",
	    buf != NULL ? blen : (size_t)0);
	if (ans == NULL || (s = json_dumps(ans, JSON_COMPACT)) == NULL)
		fatalx("cannot encode an answer");
	fprintf(real, "%s\n", s);
	fflush(real);
	free(s);
	json_decref(ans);
	json_decref(j);
	free(buf);
}

static int
serve(FILE *real)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;
	int	 inited = 0;

	alarm(0);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		alarm(SLURMLIB_ALARM);
		serve_one(real, line, (size_t)n, &inited);
		alarm(0);
	}
	free(line);
	if (inited)
		slurm_fini();
	return (0);
}

int
main(int argc, char **argv)
{
	FILE	*real;
	char	*script = NULL;
	size_t	 len = 0;
	int	 fd, inited = 0;

	signal(SIGPIPE, SIG_IGN);
	alarm(SLURMLIB_ALARM);
	/* stdout is for JSON lines only: anything else anyone prints goes to stderr */
	if ((fd = dup(STDOUT_FILENO)) == -1 || dup2(STDERR_FILENO, STDOUT_FILENO) == -1 ||
	    (out = fdopen(fd, "w")) == NULL)
		return (1);
	if (!usage_ok(argc, argv)) {
		fail("usage: nbgate-slurmlib query ID[,ID...] | submit | cancel ID | queues | "
		    "list [USER] | nodes NODELIST | accounts USER | serve");
		fclose(out);
		return (1);
	}
	if (strcmp(argv[1], "serve") == 0) {
		real = out;
		out = NULL;
		fd = serve(real);
		return (fclose(real) != 0 ? 1 : fd);
	}
	if (strcmp(argv[1], "submit") == 0)
		script = read_stdin(&len);
	fd = dispatch(argc, argv, script, len, &inited);	/* script transferred */
	if (inited)
		slurm_fini();
	if (fclose(out) != 0)
		return (1);
	return (fd);
}
