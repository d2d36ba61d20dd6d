/* test-store.c: daemon/core/store.c's store_run: parameters by type letter, failures through cause. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "daemon/daemon.h"
#include "tests/unit/tap.h"

/* Did store_run fail and say @want in *cause?  Frees it. */
static int
run_refused(int rv, char **cause, const char *want)
{
	int	good = rv == -1 && *cause != NULL && strstr(*cause, want) != NULL;

	if (!good)
		tap_diag("   got: %d, '%s'", rv, *cause != NULL ? *cause : "(null)");
	free(*cause);
	*cause = NULL;
	return (good);
}

static void
test_run(const char *dbpath)
{
	sqlite3_stmt	*st;
	char		*cause = NULL;
	int		 good = 0;

	is_int(store_run(&cause, "CREATE TABLE t (s TEXT, i INTEGER, d REAL)", ""), 0,
	    "without a store, nothing to do");
	ok(store_open(dbpath, &cause) == 0, "store opens %s", dbpath);
	is_int(store_run(&cause, "CREATE TABLE t (s TEXT, i INTEGER, d REAL)", ""), 0,
	    "a statement without parameters");
	is_int(store_run(&cause, "INSERT INTO t VALUES (?, ?, ?)", "tid", "x",
	    42LL, 1.5), 0, "text, integer and real parameters");
	is_int(store_run(&cause, "INSERT INTO t VALUES (?, ?, ?)", "tid", NULL,
	    -1LL, 0.0), 0, "NULL text binds NULL");
	if ((st = store_prepare("SELECT s, i, d FROM t ORDER BY i DESC")) != NULL) {
		good = sqlite3_step(st) == SQLITE_ROW &&
		    strcmp((const char *)sqlite3_column_text(st, 0), "x") == 0 &&
		    sqlite3_column_int64(st, 1) == 42 && sqlite3_column_double(st, 2) == 1.5 &&
		    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL;
		sqlite3_finalize(st);
	}
	ok(good, "the rows read back as written");
	ok(cause == NULL, "no cause when all went well");

	ok(run_refused(store_run(&cause, "INSERT INTO t VALUES (?, ?, ?)", "tix",
	    "y", 1LL, 2LL), &cause, "\"tix\""), "an unknown type letter is refused");
	ok(run_refused(store_run(&cause, "INSERT INTO t VALUES (?, ?, ?)", "ti",
	    "y", 1LL), &cause, "do not fit"), "too few letters are refused");
	ok(run_refused(store_run(&cause, "DELETE FROM t WHERE i = ?", "ii", 1LL, 2LL),
	    &cause, "do not fit"), "too many letters are refused");
	ok(run_refused(store_run(&cause, "INSERT INTO nope VALUES (?)", "i", 1LL),
	    &cause, "no such table"), "SQLite's error is the cause");
	ok(run_refused(store_run(&cause, "INSERT INTO t (s, i) VALUES (?, ?) x", "ti",
	    "y", 1LL), &cause, "database: "), "a statement that does not parse");
	ok(run_refused(store_run(&cause, "COMMIT", ""), &cause, "database: "),
	    "a failing step (no transaction to commit)");
	if ((st = store_prepare("SELECT count(*) FROM t")) != NULL) {
		good = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 2;
		sqlite3_finalize(st);
	}
	ok(good, "nothing refused was written");
	store_close();
}

int
main(void)
{
	char	dir[] = "/tmp/nbgate-test-store.XXXXXX", db[64];

	log_init("test-store", LOG_WARN);
	if (mkdtemp(dir) == NULL ||
	    snprintf(db, sizeof db, "%s/nbgate.db", dir) >= (int)sizeof db)
		return (1);
	test_run(db);
	tap_rmtree(dir);
	return (tap_done());
}
