/*
 * store.c: nbgated's durable state in SQLite (state_dir/nbgate.db, 0600):
 * routes, API token digests, the audit log, sessions and the attribution
 * outbox.  Schema changes are
 * numbered migrations keyed on PRAGMA user_version.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon/core/core.h"

static sqlite3	*store_db;

static const char *store_migrations[] = {
	/* 1 */
	"CREATE TABLE routes (name TEXT PRIMARY KEY, owner TEXT NOT NULL,"
	" key TEXT NOT NULL, token TEXT, created INTEGER NOT NULL);"
	"CREATE TABLE tokens (digest TEXT PRIMARY KEY, user TEXT NOT NULL,"
	" created INTEGER NOT NULL, expires INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE audit (id INTEGER PRIMARY KEY, time INTEGER NOT NULL,"
	" actor TEXT NOT NULL, action TEXT NOT NULL, object TEXT, detail TEXT);",
	/* 2: agents enroll with a one-time secret (only its digest is kept) */
	"ALTER TABLE routes ADD COLUMN enroll TEXT;"
	"ALTER TABLE routes ADD COLUMN job TEXT;",
	/* 3: notebook sessions and their journal */
	"ALTER TABLE routes ADD COLUMN session INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE sessions (id INTEGER PRIMARY KEY, user TEXT NOT NULL,"
	" server TEXT NOT NULL, cluster TEXT NOT NULL, queue TEXT NOT NULL,"
	" account TEXT NOT NULL, container TEXT NOT NULL, walltime INTEGER NOT NULL,"
	" cores INTEGER NOT NULL, memory INTEGER NOT NULL, gpus INTEGER NOT NULL,"
	" options TEXT, actor TEXT, state TEXT NOT NULL, reason TEXT, job TEXT,"
	" job_dir TEXT, node TEXT, error_output TEXT, created REAL NOT NULL,"
	" started REAL,"
	" ready REAL, ended REAL);"
	"CREATE INDEX sessions_state ON sessions (state);"
	"CREATE INDEX sessions_user ON sessions (user);"
	"CREATE TABLE session_events (id INTEGER PRIMARY KEY,"
	" session INTEGER NOT NULL REFERENCES sessions (id), time REAL NOT NULL,"
	" state TEXT NOT NULL, cause TEXT);"
	"CREATE INDEX session_events_session ON session_events (session);",
	/* 4: service tokens: scopes, the users they act for, last use */
	"ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'user';"
	"ALTER TABLE tokens ADD COLUMN scopes TEXT;"
	"ALTER TABLE tokens ADD COLUMN users TEXT;"
	"ALTER TABLE tokens ADD COLUMN last_used INTEGER NOT NULL DEFAULT 0;",
	/* 5: charging: user: verified identities, and the account a job ran as */
	"CREATE TABLE credentials (user TEXT PRIMARY KEY, dn TEXT NOT NULL,"
	" account TEXT NOT NULL, source TEXT NOT NULL, not_after INTEGER NOT NULL,"
	" verified INTEGER NOT NULL);"
	"ALTER TABLE sessions ADD COLUMN run_as TEXT;",
	/* 6: attribution of community-account jobs (outbox.c) */
	"CREATE TABLE outbox (id INTEGER PRIMARY KEY, session INTEGER NOT NULL,"
	" user TEXT NOT NULL, cluster TEXT NOT NULL, job TEXT NOT NULL,"
	" submitted REAL NOT NULL, account TEXT NOT NULL, queue TEXT NOT NULL,"
	" cores INTEGER NOT NULL, memory INTEGER NOT NULL, gpus INTEGER NOT NULL,"
	" walltime INTEGER NOT NULL, unix_user TEXT NOT NULL,"
	" state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	" next_try REAL NOT NULL DEFAULT 0, last_error TEXT, answer TEXT,"
	" sent REAL, UNIQUE (session, job));"
	"CREATE INDEX outbox_state ON outbox (state, next_try);",
	/* 7: login cookies ended by a logout before their expiry (their MAC) */
	"CREATE TABLE revoked_cookies (mac TEXT PRIMARY KEY, expires INTEGER NOT NULL);",
	/* 8: each user's last spawn choices per cluster, for the form (session-start.c) */
	"CREATE TABLE spawn_choices (user TEXT NOT NULL, cluster TEXT NOT NULL,"
	" options TEXT NOT NULL, time REAL NOT NULL, PRIMARY KEY (user, cluster));",
	/* 9: a token's note (JupyterHub's "note": what it is for, from its maker) */
	"ALTER TABLE tokens ADD COLUMN note TEXT;",
	/* 10: continue in a new job: the successor's job and enrollment, the job before */
	"ALTER TABLE sessions ADD COLUMN next_job TEXT;"
	"ALTER TABLE sessions ADD COLUMN next_dir TEXT;"
	"ALTER TABLE sessions ADD COLUMN next_actor TEXT;"
	"ALTER TABLE sessions ADD COLUMN prev_job TEXT;"
	"ALTER TABLE sessions ADD COLUMN continued INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN prev_cancel INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE routes ADD COLUMN next_enroll TEXT;"
	"ALTER TABLE routes ADD COLUMN next_job TEXT;"
	"ALTER TABLE routes ADD COLUMN next_key TEXT;"
	"ALTER TABLE routes ADD COLUMN next_token TEXT;",
};

static int
store_exec(const char *sql, char **cause)
{
	char	*err = NULL;

	if (sqlite3_exec(store_db, sql, NULL, NULL, &err) != SQLITE_OK) {
		xasprintf(cause, "database: %s", err != NULL ? err : "error");
		sqlite3_free(err);
		return (-1);
	}
	return (0);
}

static int
store_migrate(char **cause)
{
	sqlite3_stmt	*st;
	int		 version = 0;
	size_t		 i;
	char		*sql;

	if (sqlite3_prepare_v2(store_db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > (int)nitems(store_migrations)) {
		xasprintf(cause, "database schema %d is newer than this nbgated knows (%zu)",
		    version, nitems(store_migrations));
		return (-1);
	}
	for (i = (size_t)version; i < nitems(store_migrations); i++) {
		xasprintf(&sql, "BEGIN; %s PRAGMA user_version = %zu; COMMIT;",
		    store_migrations[i], i + 1);
		if (store_exec(sql, cause) == -1) {
			free(sql);
			store_exec("ROLLBACK", NULL);
			return (-1);
		}
		free(sql);
		log_info("store: database schema now at version %zu", i + 1);
	}
	return (0);
fail:
	xasprintf(cause, "database: %s", sqlite3_errmsg(store_db));
	return (-1);
}

/* Opens (creating, 0600) the database at @path and brings its schema up to date. */
int
store_open(const char *path, char **cause)
{
	int	fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) != -1)
		close(fd);
	if (sqlite3_open_v2(path, &store_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", path, store_db != NULL ?
		    sqlite3_errmsg(store_db) : "cannot open");
		sqlite3_close(store_db);
		store_db = NULL;
		return (-1);
	}
	sqlite3_busy_timeout(store_db, 2000);
	if (store_exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	    " PRAGMA foreign_keys=ON;", cause) == -1 || store_migrate(cause) == -1) {
		sqlite3_close(store_db);
		store_db = NULL;
		return (-1);
	}
	return (0);
}

/* Closes the database. */
void
store_close(void)
{
	sqlite3_close(store_db);
	store_db = NULL;
}

/*
 * Runs one statement with parameters, one letter per '?': "t" text (NULL
 * binds NULL), "i" long long, "d" double.  0, or -1 and *cause (the caller
 * reports and frees it): SQLite failed, or @types does not fit @sql (an
 * unknown letter, or not one letter per '?').  Without a store, 0.
 */
int
store_run(char **cause, const char *sql, const char *types, ...)
{
	sqlite3_stmt	*st;
	va_list		 ap;
	int		 i, rc = SQLITE_OK;

	if (store_db == NULL)
		return (0);
	if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
		xasprintf(cause, "database: %s", sqlite3_errmsg(store_db));
		return (-1);
	}
	if (strspn(types, "tid") != strlen(types) ||
	    (size_t)sqlite3_bind_parameter_count(st) != strlen(types)) {
		xasprintf(cause, "database: parameter types \"%s\" do not fit "
		    "the statement", types);
		sqlite3_finalize(st);
		return (-1);
	}
	va_start(ap, types);
	for (i = 0; types[i] != '\0' && rc == SQLITE_OK; i++) {
		if (types[i] == 't')
			rc = sqlite3_bind_text(st, i + 1, va_arg(ap, const char *),
			    -1, SQLITE_TRANSIENT);
		else if (types[i] == 'd')
			rc = sqlite3_bind_double(st, i + 1, va_arg(ap, double));
		else
			rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, long long));
	}
	va_end(ap);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		xasprintf(cause, "database: %s", sqlite3_errmsg(store_db));
	sqlite3_finalize(st);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* Logs a failed write of @what @name (and frees @cause); returns -1. */
int
store_failed(const char *what, const char *name, char *cause)
{
	log_warnx("store: %s %s: %s", what, name != NULL ? name : "-", cause);
	free(cause);
	return (-1);
}

/*
 * Records an API token's digest (never the token): @kind "user" or
 * "service", its @name, and for a service its @scopes and @users (comma
 * lists; users "*": every user).
 */
int
store_token_put(const char *digest, const char *kind, const char *name,
    const char *scopes, const char *users, time_t created, time_t expires)
{
	char	*cause = NULL;

	if (store_run(&cause, "INSERT OR REPLACE INTO tokens (digest, user, created,"
	    " expires, kind, scopes, users) VALUES (?, ?, ?, ?, ?, ?, ?)", "ttiittt",
	    digest, name, (long long)created, (long long)expires, kind, scopes,
	    users) == -1)
		return (store_failed("token of", name, cause));
	return (0);
}

/* Forgets the tokens of @kind named @name, or the one with @digest. */
int
store_token_del(const char *kind, const char *name, const char *digest)
{
	char	*cause = NULL;
	int	 rv;

	if (digest != NULL)
		rv = store_run(&cause, "DELETE FROM tokens WHERE digest = ?", "t",
		    digest);
	else
		rv = store_run(&cause, "DELETE FROM tokens WHERE kind = ? AND user = ?",
		    "tt", kind, name);
	if (rv == -1)
		return (store_failed("token of", name, cause));
	return (0);
}

/* Keeps a token's note (NULL: none). */
int
store_token_note(const char *digest, const char *note)
{
	char	*cause = NULL;

	if (store_run(&cause, "UPDATE tokens SET note = ? WHERE digest = ?",
	    "tt", note, digest) == -1)
		return (store_failed("token", "note", cause));
	return (0);
}

/* Notes when a token was last used. */
int
store_token_used(const char *digest, time_t when)
{
	char	*cause = NULL;

	if (store_run(&cause, "UPDATE tokens SET last_used = ? WHERE digest = ?",
	    "it", (long long)when, digest) == -1)
		return (store_failed("token", "use", cause));
	return (0);
}

/*
 * Calls @fn(digest, kind, name, scopes, users, created, expires, last_used,
 * note)
 * for every stored token; expired ones too (they answer "expired") until
 * they are a week past it.
 */
int
store_token_load(void (*fn)(const char *, const char *, const char *, const char *,
    const char *, time_t, time_t, time_t, const char *))
{
	sqlite3_stmt	*st;

	if (sqlite3_prepare_v2(store_db, "SELECT digest, kind, user, scopes, users,"
	    " created, expires, last_used, note FROM tokens"
	    " WHERE expires = 0 OR expires > ?",
	    -1, &st, NULL) != SQLITE_OK)
		return (-1);
	sqlite3_bind_int64(st, 1, (long long)time(NULL) - 7 * 86400);
	while (sqlite3_step(st) == SQLITE_ROW)
		fn((const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (const char *)sqlite3_column_text(st, 2),
		    (const char *)sqlite3_column_text(st, 3),
		    (const char *)sqlite3_column_text(st, 4),
		    (time_t)sqlite3_column_int64(st, 5),
		    (time_t)sqlite3_column_int64(st, 6),
		    (time_t)sqlite3_column_int64(st, 7),
		    (const char *)sqlite3_column_text(st, 8));
	sqlite3_finalize(st);
	return (0);
}

/* Appends to the audit log: who did what to which object. */
void
store_audit(const char *actor, const char *action, const char *object, const char *detail)
{
	char	*cause = NULL;

	if (store_run(&cause, "INSERT INTO audit (time, actor, action, object, detail)"
	    " VALUES (?, ?, ?, ?, ?)", "itttt", (long long)time(NULL), actor, action,
	    object, detail) == -1)
		store_failed("audit entry", action, cause);
}

/* Rows changed by the last INSERT, UPDATE or DELETE. */
int
store_changes(void)
{
	return (store_db != NULL ? sqlite3_changes(store_db) : 0);
}

/* The rowid of the last INSERT. */
long long
store_last_id(void)
{
	return (store_db != NULL ? (long long)sqlite3_last_insert_rowid(store_db) : 0);
}

/* Prepares a query for the caller to step and finalize; NULL if it fails (logged). */
sqlite3_stmt *
store_prepare(const char *sql)
{
	sqlite3_stmt	*st;

	if (store_db == NULL)
		return (NULL);
	if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("store: %s", sqlite3_errmsg(store_db));
		return (NULL);
	}
	return (st);
}
