/*
 * test-template.c: scheduler/template.c and templates/{slurm,pbs}.sh:
 * syntax, quoting, refusals, and an injection matrix whose rendered scripts
 * are checked with sh -n and run by sh in a sandbox with recording stubs.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/daemon.h"
#include "scheduler/scheduler.h"
#include "tests/unit/tap.h"

static const char	*srcdir;
static char		*sandbox;	/* temp dir the scripts run in */
static struct config	*cfg;

/* Renders text with vars; the output or NULL (cause in *causep if given). */
static char *
render(const char *text, struct template_vars *vars, char **causep)
{
	char	*cause = NULL, *out;

	out = template_render(text, strlen(text), vars, &cause);
	if (causep != NULL)
		*causep = cause;
	else
		free(cause);
	return (out);
}

/* One variable set, rendered: expect exactly want. */
static void
expect(const char *text, const char *name, const char *value,
    const char *want, const char *what)
{
	struct template_vars	*vars = template_vars_new();
	char			*out, *cause = NULL;

	template_vars_set(vars, name, value, TEMPLATE_USER);
	template_vars_set(vars, "empty", "", TEMPLATE_USER);
	template_vars_set(vars, "raw", "a 'b' $c", TEMPLATE_TRUSTED);
	out = render(text, vars, &cause);
	is_str(out, want, "%s", what);
	if (cause != NULL)
		tap_diag("cause: %s", cause);
	free(out);
	free(cause);
	template_vars_free(vars);
}

/* One variable set, rendered: expect a refusal containing want. */
static void
refuse(const char *text, const char *name, const char *value,
    const char *want, const char *what)
{
	struct template_vars	*vars = template_vars_new();
	char			*out, *cause = NULL;

	template_vars_set(vars, name, value, TEMPLATE_USER);
	template_vars_set(vars, "raw", "trusted", TEMPLATE_TRUSTED);
	out = render(text, vars, &cause);
	ok(out == NULL, "%s: refused", what);
	has_str(cause, want, "%s: says why", what);
	free(out);
	free(cause);
	template_vars_free(vars);
}

static void
test_syntax(void)
{
	char	*q;

	expect("echo {{v}}\n", "v", "plain", "echo 'plain'\n", "quoted");
	expect("echo {{ v }}\n", "v", "it's", "echo 'it'\\''s'\n",
	    "' becomes '\\'' and spaces in tags are allowed");
	expect("echo --x={{v}}\n", "v", "", "echo --x=''\n", "empty is ''");
	expect("#SBATCH --partition={{v}}\n", "v", "debug",
	    "#SBATCH --partition=debug\n", "directive: bare");
	expect("{{#v}}\n#SBATCH --gres=gpu:{{v}}\n{{/v}}\nx\n", "v", "2",
	    "#SBATCH --gres=gpu:2\nx\n", "section shown, tag lines vanish");
	expect("{{#empty}}\n#SBATCH --gres=gpu:{{empty}}\n{{/empty}}\nx\n",
	    "v", "", "x\n", "empty section hidden");
	expect("{{^empty}}none{{/empty}}{{^v}}no{{/v}}\n", "v", "1", "none\n",
	    "inverted sections, inline");
	expect("{{#v}}{{#empty}}a{{/empty}}b{{^empty}}c{{/empty}}{{/v}}\n",
	    "v", "1", "bc\n", "nested sections");
	expect("{{! a {{v}} comment }}\nx{{! inline }}y\n", "v", "1", "xy\n",
	    "comments vanish, may hold braces");
	expect("{{{raw}}}\n", "v", "", "a 'b' $c\n", "trusted raw as is");
	expect("echo \"{{{raw}}}\"\n", "v", "", "echo \"a 'b' $c\"\n",
	    "raw may sit in quotes");
	expect("a}}b {c}\n", "v", "", "a}}b {c}\n", "lone braces are text");
	expect("no newline {{v}}", "v", "x", "no newline 'x'",
	    "last line without newline");
	expect("x \\\n  {{v}}\n", "v", "y", "x \\\n  'y'\n",
	    "line continuation is fine");
	expect("echo $(basename {{v}})\n", "v", "a b", "echo $(basename 'a b')\n",
	    "inside $( ) is fine");
	expect("a#{{v}}\n", "v", "$x", "a#'$x'\n", "# inside a word is no "
	    "comment");
	q = template_quote("a'b''c");
	is_str(q, "'a'\\''b'\\'''\\''c'", "template_quote");
	free(q);
}

static void
test_refusals(void)
{
	char	 big[TEMPLATE_MAX_VALUE + 2];

	refuse("echo {{nope}}\n", "v", "x", "line 1: unknown variable 'nope'",
	    "unknown variable");
	refuse("a\n{{#nope}}{{/nope}}\n", "v", "x", "line 2: unknown variable",
	    "unknown section");
	refuse("{{{v}}}\n", "v", "x", "{{{v}}} is not trusted config text",
	    "raw of a user value");
	refuse("echo \"{{v}}\"\n", "v", "x", "{{v}} is inside quotes",
	    "placeholder in double quotes");
	refuse("echo '{{v}}'\n", "v", "x", "{{v}} is inside quotes",
	    "placeholder in single quotes");
	refuse("echo `{{v}}`\n", "v", "x", "{{v}} is inside quotes",
	    "placeholder in backquotes");
	refuse("echo \"a\nb {{v}}\"\n", "v", "x", "line 2: {{v}} is inside",
	    "quote spanning lines");
	refuse("echo ${{v}}\n", "v", "x", "after '\\' or '$'", "after $");
	refuse("echo \\{{v}}\n", "v", "x", "after '\\' or '$'",
	    "after a backslash");
	refuse("cat <<EOF\nx\nEOF\n", "v", "x", "line 1: here-documents",
	    "here-documents");
	refuse("echo \"x\n", "v", "x", "ends inside a \" quote",
	    "unbalanced quote");
	refuse("{{#v}}\na\n", "v", "x", "line 1: {{#v}} is never closed",
	    "unclosed section");
	refuse("{{#v}}{{/raw}}\n", "v", "x", "{{/raw}} does not close",
	    "mismatched close");
	refuse("{{/v}}\n", "v", "x", "{{/v}} does not close", "stray close");
	refuse("{{#v}}{{#v}}{{#v}}{{#v}}{{#v}}{{#v}}{{#v}}{{#v}}{{#v}}{{#v}}"
	    "{{#v}}{{#v}}{{#v}}{{#v}}{{#v}}{{#v}}{{#v}}\n", "v", "x",
	    "nested deeper than 16", "depth limit");
	refuse("echo {{v\n", "v", "x", "not closed on the same line",
	    "unterminated tag");
	refuse("echo {{V}}\n", "v", "x", "is not a tag", "bad name");
	refuse("echo {{v w}}\n", "v", "x", "is not a tag", "two words");
	refuse("echo {{v}}\n", "v", "a\nb", "{{v}}: value contains a line "
	    "break", "newline in a quoted value");
	refuse("echo {{v}}\n", "v", "a\rb", "contains a line break", "CR");
	refuse("echo {{v}}\n", "v", "a\tb", "control character", "tab");
	refuse("echo {{v}}\n", "v", "a\x7f", "control character", "DEL");
	refuse("echo {{v}}\n", "v", "a\xe2\x80\xa8", "Unicode line separator",
	    "U+2028");
	refuse("echo {{v}}\n", "v", "a\xe2\x80\xa9", "Unicode line separator",
	    "U+2029");
	refuse("echo {{v}}\n", "v", "a\xc2\x85", "Unicode line separator",
	    "U+0085");
	refuse("echo {{v}}\n", "v", "\xff", "not valid UTF-8", "bad UTF-8");
	refuse("echo {{v}}\n", "v", "\xed\xa0\x80", "not valid UTF-8",
	    "surrogate");
	refuse("echo {{v}}\n", "v", "\xc0\xaf", "not valid UTF-8", "overlong");
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	refuse("echo {{v}}\n", "v", big, "is too long", "value too long");
	refuse("#SBATCH -p {{v}}\n", "v", "a b", "not allowed in a directive",
	    "space in a directive");
	refuse("#SBATCH -p {{v}}\n", "v", "$(id)", "not allowed in a directive",
	    "$( ) in a directive");
	refuse("#PBS -q {{v}}\n", "v", "-W", "starts with '-'", "option "
	    "smuggled into a directive");
	refuse("#SBATCH -A {{v}}\n", "v", "", "is empty", "empty directive "
	    "value");
	refuse("x # {{v}}\n", "v", "a;b", "not allowed in a directive",
	    "trailing comment is checked like a directive");
}

/* A NUL byte in template text (C strings cannot carry one in a value). */
static void
test_nul(void)
{
	struct template_vars	*vars = template_vars_new();
	char			*out, *cause = NULL;

	out = template_render("a\0b\n", 4, vars, &cause);
	ok(out == NULL, "NUL in the template refused");
	has_str(cause, "line 1: the template contains a NUL byte", "NUL named");
	free(out);
	free(cause);
	template_vars_free(vars);
}

/* Sizes: the template, and the rendered script. */
static void
test_limits(void)
{
	struct template_vars	*vars = template_vars_new();
	char			*text, *out, *cause = NULL;
	size_t			 len = TEMPLATE_MAX_SIZE + 1, i;

	text = xmalloc(len + 1);
	memset(text, '#', len);
	text[len] = '\0';
	out = template_render(text, len, vars, &cause);
	ok(out == NULL, "template over the size limit refused");
	has_str(cause, "the template is larger than", "size named");
	free(cause);
	free(text);

	/* 300 lines each quoting a 4000-byte value: over 1 MiB out. */
	text = xmalloc(300 * 8 + 1);
	for (i = 0; i < 300; i++)
		memcpy(text + i * 8, "x {{v}}\n", 8);
	text[300 * 8] = '\0';
	out = xmalloc(4001);
	memset(out, 'q', 4000);
	out[4000] = '\0';
	template_vars_set(vars, "v", out, TEMPLATE_USER);
	free(out);
	cause = NULL;
	out = template_render(text, strlen(text), vars, &cause);
	ok(out == NULL, "output over the limit refused");
	has_str(cause, "the script is larger than", "output limit named");
	free(cause);
	free(text);
	template_vars_free(vars);
}

/* Reads a file into a string; NULL if missing. *lenp gets its length. */
static char *
slurp(const char *path, size_t *lenp)
{
	char	*cause = NULL, *s;

	s = template_load(path, lenp, &cause);
	free(cause);
	return (s);
}

/* The variables for a default request on cluster/queue, session 42. */
static struct template_vars *
job_vars(const char *cluster, const char *options)
{
	const struct jobreq_env	 env = { "gw.example.org:2222",
				    "SHA256:abcdEFGH/+0123", "/user/alice/", "alice",
				    "c2VjcmV0LXNlY3JldA", NULL };
	struct jobreq		*req = NULL;
	struct template_vars	*vars;
	json_t			*opts;
	char			*field = NULL, *cause = NULL;
	char			*s;

	xasprintf(&s, "{\"cluster\": \"%s\"%s%s}", cluster,
	    options == NULL ? "" : ", ", options == NULL ? "" : options);
	opts = json_loads(s, 0, NULL);
	free(s);
	if (jobreq_from_options(cfg, "alice", "", opts, &req, &field,
	    &cause) == -1)
		fatalx("jobreq: %s", cause);
	json_decref(opts);
	req->session = 42;
	vars = jobreq_template_vars(req, config_cluster_find(cfg, cluster),
	    &env, &cause);
	if (vars == NULL)
		fatalx("vars: %s", cause);
	jobreq_free(req);
	return (vars);
}

/* Runs argv[0] with argv and env in the sandbox; the exit status. */
static int
run(char *const argv[], char *const env[])
{
	pid_t	pid;
	int	status, fd;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		if (chdir(sandbox) == -1)
			_exit(126);
		fd = open("out.log", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd == -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(126);
		execve(argv[0], argv, env);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == -1)
		fatal("waitpid");
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 128);
}

/* Writes a file in the sandbox. */
static void
put(const char *name, const char *text, mode_t mode)
{
	char	*path, *cause = NULL;

	xasprintf(&path, "%s/%s", sandbox, name);
	if (util_write_file(path, text, strlen(text), mode, &cause) == -1)
		fatalx("%s", cause);
	free(path);
}

/* Does the sandbox hold a file called name? */
static int
exists(const char *name)
{
	char		*path;
	struct stat	 sb;
	int		 rc;

	xasprintf(&path, "%s/%s", sandbox, name);
	rc = (stat(path, &sb) == 0);
	free(path);
	return (rc);
}

/* Removes a file from the sandbox, if there. */
static void
zap(const char *name)
{
	char	*path;

	xasprintf(&path, "%s/%s", sandbox, name);
	unlink(path);
	free(path);
}

/* Number of entries in the sandbox besides . and .. */
static int
nfiles(void)
{
	DIR		*d = opendir(sandbox);
	struct dirent	*e;
	int		 n = 0;

	if (d == NULL)
		fatal("opendir");
	while ((e = readdir(d)) != NULL)
		n += (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0);
	closedir(d);
	return (n);
}

/*
 * Stubs: the programs a script may run record their argv (NUL-separated)
 * in rec; anything an injection would run records its name in PWNED.
 */
static void
make_sandbox(void)
{
	static const char *record[] = { "nbgate-agent", "sbatch", "qsub",
				    "singularity", "apptainer" };
	static const char *pwn[] = { "pwn", "id", "touch", "rm", "cat", "ls",
				    "echo2", "module" };
	static const char *tools[] = { "/bin/mkdir", "/bin/chmod",
				    "/bin/date" };
	char			*name, tmpl[] = "/tmp/test-template-XXXXXX";
	size_t			 i;

	if (mkdtemp(tmpl) == NULL)
		fatal("mkdtemp");
	sandbox = xstrdup(tmpl);
	xasprintf(&name, "%s/bin", sandbox);
	if (mkdir(name, 0700) == -1)
		fatal("mkdir");
	free(name);
	for (i = 0; i < nitems(record); i++) {
		xasprintf(&name, "bin/%s", record[i]);
		put(name, "#!/bin/sh\nfor a do printf '%s\\0' \"$a\"; done "
		    ">\"$NB_REC\"\n", 0700);
		free(name);
	}
	/* the script makes the user's working directory with these */
	for (i = 0; i < nitems(tools); i++) {
		xasprintf(&name, "%s/bin/%s", sandbox, tools[i] + 5);
		if (symlink(tools[i], name) == -1)
			fatal("symlink %s", name);
		free(name);
	}
	for (i = 0; i < nitems(pwn); i++) {
		xasprintf(&name, "bin/%s", pwn[i]);
		put(name, "#!/bin/sh\nprintf '%s\\n' \"$0\" >>\"$NB_MARK\"\n",
		    0700);
		free(name);
	}
}

/* Removes the sandbox (flat: bin/ and a few files). */
static void
remove_sandbox(void)
{
	char	*cmd[] = { "/bin/rm", "-rf", sandbox, NULL };
	char	*env[] = { NULL };

	run(cmd, env);
	free(sandbox);
}

/*
 * Mode of the working directory $HOME/@name a script made (-1 if none, or
 * not a directory); removes the tree of its first component.
 */
static int
workdir_take_named(const char *name)
{
	char		*path, *cmd[] = { "/bin/rm", "-rf", "--", NULL, NULL };
	char		*env[] = { NULL };
	struct stat	 sb;
	int		 mode = -1;

	xasprintf(&path, "%s/%s", sandbox, name);
	if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		mode = sb.st_mode & 07777;
	free(path);
	xasprintf(&cmd[3], "%s/%.*s", sandbox, (int)strcspn(name, "/"), name);
	run(cmd, env);
	free(cmd[3]);
	return (mode);
}

/* The same for the default one, $HOME/nbgate/alice. */
static int
workdir_take(void)
{
	return (workdir_take_named("nbgate/alice"));
}

/*
 * sh -n (and, if asked, bash -n) accept the script.  A missing /bin/bash
 * fails the check: an unchecked script must not pass as a checked one.
 */
static int
syntax_ok(const char *script, int with_bash)
{
	char	*sh[] = { "/bin/sh", "-n", "job.sh", NULL };
	char	*bash[] = { "/bin/bash", "-n", "job.sh", NULL };
	char	*env[] = { "PATH=/nonexistent", NULL };

	put("job.sh", script, 0600);
	if (run(sh, env) != 0)
		return (0);
	if (with_bash && access("/bin/bash", X_OK) != 0) {
		tap_diag("/bin/bash missing: bash -n cannot check the script");
		return (0);
	}
	return (!with_bash || run(bash, env) == 0);
}

/*
 * Runs a script with only the stubs on PATH; returns its exit status and
 * the recorded argv of the agent (NUL-separated) in *rec.
 */
static int
run_script(const char *script, char **rec, size_t *reclen)
{
	char	*sh[] = { "/bin/sh", "job.sh", NULL };
	char	*env[5], *path;
	int	 status, i;

	xasprintf(&env[0], "PATH=%s/bin", sandbox);
	xasprintf(&env[1], "NB_REC=%s/rec", sandbox);
	xasprintf(&env[2], "NB_MARK=%s/PWNED", sandbox);
	xasprintf(&env[3], "HOME=%s", sandbox);
	env[4] = NULL;
	put("job.sh", script, 0600);
	status = run(sh, env);
	xasprintf(&path, "%s/rec", sandbox);
	*rec = slurp(path, reclen);
	free(path);
	for (i = 0; i < 4; i++)
		free(env[i]);
	return (status);
}

/* argv as the stub records it: each argument followed by a NUL. */
static char *
want_argv(const struct template_vars *vars, size_t *lenp)
{
	/* option, variable ("" for a bare flag; optional ones only when set) */
	static const char *args[] = { "--notebook", "", "--gateway",
				    "gateway", "--route", "route",
				    "--hostkey-fingerprint", "hostkey_fp",
				    "--enroll-env", "=NBGATE_ENROLL",
				    "--keepalive", "keepalive",
				    "--activity-interval", "activity_interval",
				    "--workdir", "@workdir",
				    "--runtime", "runtime", "--image", "image",
				    "--bind", "binds", "--gpus", "container_gpus",
				    "--notebook-app", "notebook_app",
				    "--notebook-cmd", "notebook_cmd",
				    "--base-url", "base_url" };
	const char	*v;
	char		*out = xmalloc(8 * TEMPLATE_MAX_VALUE);
	size_t		 len = 0, i, n;
	int		 flag;

	for (i = 0; i < nitems(args); i += 2) {
		flag = strcmp(args[i], "--gpus") == 0 || *args[i + 1] == '\0';
		if (*args[i + 1] != '\0' && *args[i + 1] != '=' &&
		    *args[i + 1] != '@' &&
		    *template_vars_get(vars, args[i + 1]) == '\0')
			continue;	/* an empty section */
		n = strlen(args[i]) + 1;
		memcpy(out + len, args[i], n);
		len += n;
		if (flag)
			continue;
		if (*args[i + 1] == '@') {	/* a path, under $HOME or not */
			if (*template_vars_get(vars, "workdir_home") != '\0') {
				memcpy(out + len, sandbox, strlen(sandbox));
				len += strlen(sandbox);
				out[len++] = '/';
			}
			v = template_vars_get(vars, args[i + 1] + 1);
		} else
			v = *args[i + 1] == '=' ? args[i + 1] + 1 :
			    template_vars_get(vars, args[i + 1]);
		n = strlen(v) + 1;
		memcpy(out + len, v, n);
		len += n;
	}
	*lenp = len;
	return (out);
}

static void
test_real(const char *name, const char *cluster, const char *options,
    const char **want, const char **unwanted)
{
	struct template_vars	*vars = job_vars(cluster, options);
	char			*path, *text, *out, *cause = NULL, *rec, *exp;
	size_t			 len, reclen, explen;
	int			 status;

	xasprintf(&path, "%s/templates/%s", srcdir, name);
	if ((text = slurp(path, &len)) == NULL)
		fatalx("cannot read %s", path);
	template_vars_set(vars, "prologue", "module load singularity",
	    TEMPLATE_TRUSTED);
	out = template_render(text, len, vars, &cause);
	ok(out != NULL, "%s (%s) renders", name, options == NULL ? "defaults" :
	    options);
	if (out == NULL) {
		tap_diag("%s", cause);
		goto out;
	}
	ok(strncmp(out, "#!/bin/sh\n#", 11) == 0, "%s: shebang first, "
	    "template comments gone", name);
	ok(strstr(out, "{{") == NULL, "%s: no tags left", name);
	for (; *want != NULL; want++)
		has_str(out, *want, "%s: has %.*s", name,
		    (int)strcspn(*want, "\n"), *want);
	for (; unwanted != NULL && *unwanted != NULL; unwanted++)
		ok(strstr(out, *unwanted) == NULL, "%s: no %s", name, *unwanted);
	ok(syntax_ok(out, 1), "%s: sh -n and bash -n", name);
	/* Run it with the agent found on PATH: the stub. */
	free(out);
	template_vars_set(vars, "agent", "nbgate-agent", TEMPLATE_USER);
	if ((out = template_render(text, len, vars, &cause)) == NULL)
		goto out;
	status = run_script(out, &rec, &reclen);
	exp = want_argv(vars, &explen);
	ok(status == 0 && rec != NULL && reclen == explen &&
	    memcmp(rec, exp, explen) == 0, "%s: runs, agent gets its argv",
	    name);
	ok(exists("PWNED"), "%s: prologue ran (module is a marker stub)", name);
	ok(workdir_take() == 0700, "%s: the job made $HOME/nbgate/alice, mode 0700",
	    name);
	zap("PWNED");
	zap("rec");
	free(rec);
	free(exp);
out:
	free(out);
	free(cause);
	free(text);
	free(path);
	template_vars_free(vars);
}

static void
test_templates(void)
{
	static const char *slurm[] = { "#SBATCH --job-name=nbgate-alice\n",
	    "#SBATCH --comment=nbgate:user=alice:session=42\n",
	    "#SBATCH --partition=debug\n", "#SBATCH --time=01:00:00\n",
	    "#SBATCH --nodes=1\n", "#SBATCH --ntasks=1\n",
	    "#SBATCH --cpus-per-task=1\n", "#SBATCH --mem=2048M\n",
	    "#SBATCH --account=community\n",
	    "#SBATCH --output=/scratch/nbgate/jobs/42/job.out\n",
	    "#SBATCH --error=/scratch/nbgate/jobs/42/job.err\n",
	    "#SBATCH --qos=normal\n#SBATCH --constraint=lustre\n",
	    "NBGATE_USER='alice'\n",
	    "nbgate_workdir=\"$HOME\"/'nbgate/alice'\n",
	    "\nmodule load singularity\n",
	    "NBGATE_ENROLL='c2VjcmV0LXNlY3JldA' "
	    "$nbgate_exec '/opt/nbgate/bin/nbgate-agent' --notebook \\\n"
	    "    --gateway 'gw.example.org:2222' \\\n"
	    "    --route 'alice' \\\n"
	    "    --hostkey-fingerprint 'SHA256:abcdEFGH/+0123' \\\n"
	    "    --enroll-env NBGATE_ENROLL \\\n"
	    "    --workdir \"$nbgate_workdir\" \\\n"
	    "    --runtime 'singularity' \\\n"
	    "    --image '/shared/images/scipy.sif' \\\n"
	    "    --bind '/home,/scratch:/scratch:rw' \\\n"
	    "    --notebook-app 'lab' \\\n"
	    "    --notebook-cmd 'python3 -m jupyterlab --LabApp.x=a'\\''b' \\\n"
	    "    --base-url '/user/alice/'\n", NULL };
	static const char *slurm_no[] = { "--gres", "--reservation", "TOKEN",
	    NULL };
	static const char *slurm2[] = { "#SBATCH --partition=gpu\n",
	    "#SBATCH --gres=gpu:2\n", "#SBATCH --time=01:30:00\n",
	    "#SBATCH --mem=10240M\n", "#SBATCH --cpus-per-task=3\n",
	    "#SBATCH --account=alloc-42\n", NULL };
	static const char *slurm3[] = { "#SBATCH --reservation=maint_2024\n",
	    "#SBATCH --qos=high\n", "#SBATCH --time=48:00:00\n",
	    "#SBATCH --cpus-per-task=8\n", "#SBATCH --mem=16384M\n", NULL };
	static const char *pbs[] = { "#PBS -N nb-alice\n", "#PBS -q batch\n",
	    "#PBS -l select=1:ncpus=2:mem=4096mb,walltime=00:30:00\n",
	    "#PBS -v NBGATE_USER=alice,NBGATE_SESSION=42\n",
	    "#PBS -o .nbgate/jobs/42/job.out\n", "--runtime 'none'",
	    "--notebook-app 'server' \\\n    --base-url", NULL };
	static const char *pbs_no[] = { "#PBS -A", "ngpus", "#SBATCH", NULL };

	test_real("slurm.sh", "expanse", NULL, slurm, slurm_no);
	test_real("slurm.sh", "expanse", "\"queue\": \"gpu\", \"gpus\": 2, "
	    "\"walltime\": \"1h30m\", \"memory\": \"10GiB\", \"cores\": \"3\", "
	    "\"account\": \"alloc-42\"", slurm2, NULL);
	test_real("slurm.sh", "expanse", "\"queue\": \"compute\", "
	    "\"walltime\": \"48:00:00\"", slurm3, NULL);
	test_real("pbs.sh", "comet", NULL, pbs, pbs_no);
}

/*
 * The early end (sessions.walltime_signal, jobreq_walltime_signal): SLURM's
 * --signal, Grid Engine's s_rt and PBS's agent timer are rendered with the
 * right value when it is on, and not at all when it is off or the walltime
 * is not over twice the signal. The PBS script gives the agent the job's
 * start plus the walltime less the signal, in seconds since the epoch.
 */
static void
test_walltime_signal(void)
{
	static const struct {
		const char	*name, *line;
	} t[] = {
		{ "slurm.sh", "#SBATCH --signal=B:USR1@300\n" },
		{ "gridengine.sh", "#$ -l s_rt=00:55:00\n" },
		{ "pbs.sh", "    --walltime-signal-at \"$nbgate_signal_at\" \\\n" },
	};
	struct template_vars	*vars;
	char			*path, *text, *out, *cause = NULL, *rec, *p;
	size_t			 len, reclen, i;
	long long		 at = -1, want;
	int			 mode, status;

	for (i = 0; i < nitems(t); i++) {
		xasprintf(&path, "%s/templates/%s", srcdir, t[i].name);
		if ((text = slurp(path, &len)) == NULL)
			fatalx("cannot read %s", path);
		for (mode = 0; mode < 3; mode++) {	/* off, on, too short */
			vars = job_vars("comet", mode == 2 ?
			    "\"walltime\": \"10m\"" : "\"walltime\": \"1h\"");
			jobreq_walltime_signal(vars, mode == 2 ? 600 : 3600,
			    mode == 0 ? 0 : 300);
			out = template_render(text, len, vars, &cause);
			ok(out != NULL && (strstr(out, t[i].line) != NULL) ==
			    (mode == 1), "%s: early end %s: %.*s", t[i].name,
			    mode == 0 ? "off, no" : mode == 1 ? "on, has" :
			    "on but 10 min walltime, no",
			    (int)strcspn(t[i].line, "\n"), t[i].line);
			if (out == NULL)
				tap_diag("%s", cause);
			ok(out != NULL && syntax_ok(out, 1), "%s: early end %s: "
			    "sh -n and bash -n", t[i].name, mode == 0 ? "off" :
			    mode == 1 ? "on" : "too short");
			if (out != NULL && mode == 1 && strcmp(t[i].name,
			    "pbs.sh") == 0) {
				free(out);
				template_vars_set(vars, "agent", "nbgate-agent",
				    TEMPLATE_USER);
				out = template_render(text, len, vars, &cause);
				want = (long long)time(NULL) + 3300;
				status = run_script(out, &rec, &reclen);
				p = rec == NULL ? NULL : memmem(rec, reclen,
				    "--walltime-signal-at", 21);
				if (p != NULL && p + 21 < rec + reclen)
					at = strtoll(p + 21, NULL, 10);
				ok(status == 0 && at >= want && at <= want + 5,
				    "pbs.sh: the agent gets --walltime-signal-at "
				    "start + 3300 s (%lld, want %lld)", at, want);
				workdir_take();
				zap("rec");
				free(rec);
			}
			free(out);
			free(cause);
			cause = NULL;
			template_vars_free(vars);
		}
		free(text);
		free(path);
	}
}

/* Every value an injection could use, against every variable. */
static const char *payloads[] = {
	"$(pwn)", "`pwn`", "; pwn", "a'b", "'; pwn; '", "\"; pwn; \"",
	"x\n#SBATCH --uid=0", "x\rpwn", "\\", "a\\'b", "${IFS}pwn", "$HOME",
	"*", "~root", "-x", "--uid=0", "|pwn", "&pwn&", ">file", "<job.sh",
	"!", "#x", "a b", "'", "''", "\"", "$((1+1))", "\xe2\x80\xa8pwn",
	"\xe2\x80\xa9", "\xc2\x85", "\xff", "x\x01y", "\t", "caf\xc3\xa9",
	"{{user}}", "{{{prologue}}}", "}}", "%j", ",",
};

/* Variables the templates put into directive lines, and only-quoted ones. */
static const char *directive_vars[] = { "user", "session", "cluster",
    "queue", "walltime", "cores", "memory_mb", "gpus", "account",
    "reservation", "qos", "job_name", "comment", "pbs_name", "job_dir",
    "walltime_signal", "walltime_soft", "walltime_soft_s" };
static const char *quoted_vars[] = { "agent", "gateway", "hostkey_fp",
    "image", "runtime", "base_url", "binds", "route", "enroll", "keepalive",
    "activity_interval",
    "container_gpus", "workdir", "notebook_app", "notebook_cmd" };

/* Would a quoted value refuse this payload (line breaks, controls, ...)? */
static int
unquotable(const char *p)
{
	const u_char	*u = (const u_char *)p;

	for (; *u != '\0'; u++) {
		if (*u < 0x20 || *u == 0x7f || *u == 0xff ||
		    (u[0] == 0xe2 && u[1] == 0x80) || (u[0] == 0xc2 &&
		    u[1] == 0x85))
			return (1);
	}
	return (strlen(p) > TEMPLATE_MAX_VALUE);
}

/* One payload in one variable of one template: refused, or inert. */
static int
inject(const char *text, size_t len, const char *cluster, const char *var,
    const char *payload, int quoted, char **why)
{
	struct template_vars	*vars = job_vars(cluster, NULL);
	char			*out, *cause = NULL, *rec = NULL, *exp = NULL;
	char			*want;
	size_t			 reclen = 0, explen;
	int			 status, good = 0;

	template_vars_set(vars, "agent", "nbgate-agent", TEMPLATE_USER);
	template_vars_set(vars, "prologue", ":", TEMPLATE_TRUSTED);
	template_vars_set(vars, var, payload, TEMPLATE_USER);
	out = template_render(text, len, vars, &cause);
	if (out == NULL) {
		xasprintf(&want, "{{%s}}", var);
		good = (cause != NULL && strstr(cause, want) != NULL &&
		    (!quoted || unquotable(payload)));
		free(want);
		xasprintf(why, "refused: %s", cause);
		goto out;
	}
	if (!quoted || unquotable(payload)) {
		xasprintf(why, "rendered but should be refused");
		goto out;
	}
	if (!syntax_ok(out, 0)) {
		xasprintf(why, "sh -n fails");
		goto out;
	}
	status = run_script(out, &rec, &reclen);
	exp = want_argv(vars, &explen);
	if (strcmp(var, "agent") == 0)
		good = (status == 127 && rec == NULL);	/* not found, exactly */
	else if (strcmp(var, "workdir") == 0 && strlen(payload) > NAME_MAX)
		good = (status == 1 && rec == NULL);	/* mkdir refuses, job stops */
	else
		good = (status == 0 && rec != NULL && reclen == explen &&
		    memcmp(rec, exp, explen) == 0);
	if (strcmp(var, "workdir") == 0 && strlen(payload) <= NAME_MAX)
		good = good && workdir_take_named(payload) == 0700;
	workdir_take();
	if (exists("PWNED") || exists("file") || nfiles() != 3 + (rec != NULL))
		good = 0;
	xasprintf(why, "status %d, argv %s, %d files%s", status,
	    rec == NULL ? "none" : "differs", nfiles(),
	    exists("PWNED") ? ", INJECTED" : "");
out:
	zap("PWNED");
	zap("rec");
	zap("file");
	free(rec);
	free(exp);
	free(out);
	free(cause);
	template_vars_free(vars);
	return (good);
}

/* Runs the matrix for one template; one TAP line per variable. */
static void
test_matrix_one(const char *name, const char *cluster)
{
	char		*path, *text, *why = NULL, *long_ok, *long_bad;
	const char	*var;
	size_t		 len, i, j, nv = nitems(directive_vars) +
			    nitems(quoted_vars);
	int		 all, quoted;
	char		*tag;

	xasprintf(&path, "%s/templates/%s", srcdir, name);
	if ((text = slurp(path, &len)) == NULL)
		fatalx("cannot read %s", path);
	long_ok = xmalloc(TEMPLATE_MAX_VALUE + 1);
	memset(long_ok, 'A', TEMPLATE_MAX_VALUE);
	memcpy(long_ok + TEMPLATE_MAX_VALUE - 7, "$(pwn)", 7);
	long_bad = xmalloc(TEMPLATE_MAX_VALUE * 2);
	memset(long_bad, 'B', TEMPLATE_MAX_VALUE * 2 - 1);
	long_bad[TEMPLATE_MAX_VALUE * 2 - 1] = '\0';
	for (i = 0; i < nv; i++) {
		quoted = i >= nitems(directive_vars);
		var = quoted ? quoted_vars[i - nitems(directive_vars)] :
		    directive_vars[i];
		xasprintf(&tag, "{{%s}}", var);
		all = (strstr(text, tag) != NULL);
		free(tag);
		if (!all)
			continue;	/* this template does not use it */
		for (j = 0; j < nitems(payloads) + 2 && all; j++) {
			free(why);
			why = NULL;
			all = inject(text, len, cluster, var, j ==
			    nitems(payloads) ? long_ok : j == nitems(payloads) +
			    1 ? long_bad : payloads[j], quoted, &why);
		}
		ok(all, "%s: %zu payloads in %s: %s", name, nitems(payloads) + 2,
		    var, quoted ? "quoted and inert, or refused if unquotable" :
		    "refused (directive line)");
		if (!all)
			tap_diag("payload %zu: %s", j - 1, why);
	}
	free(why);
	free(long_ok);
	free(long_bad);
	free(text);
	free(path);
}

static void
test_matrix(void)
{
	test_matrix_one("slurm.sh", "expanse");
	test_matrix_one("pbs.sh", "comet");
}

int
main(void)
{
	char	*path, *cause = NULL;

	log_init("test-template", LOG_WARN);
	if ((srcdir = getenv("NB_SRCDIR")) == NULL)
		srcdir = ".";
	xasprintf(&path, "%s/tests/unit/data/clusters.yaml", srcdir);
	if ((cfg = config_load(path, &cause)) == NULL)
		fatalx("%s", cause);
	free(path);
	make_sandbox();
	test_syntax();
	test_refusals();
	test_nul();
	test_limits();
	test_templates();
	test_walltime_signal();
	test_matrix();
	remove_sandbox();
	config_free(cfg);
	return (tap_done());
}
