/* test_sandbox.c - the seccomp allow-list, in a forked child per case: what
 * the running daemon needs passes (threads, as the lease writer will use
 * them; an SQLite WAL commit with fsync; eventfd hand-off), and what it
 * must never do (fork, exec, executable memory) kills the child with
 * SIGSYS. Skipped in sanitizer builds, which run without the filter. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox.h"

/* Runs fn in a child under the filter; returns its wait status. */
static int run_confined(int (*fn)(void))
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || sandbox_apply() <= 0)
			_exit(100);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_exit0(int status)
{
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void assert_sigsys(int status)
{
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* A writer thread: commits to SQLite in WAL mode with synchronous=FULL
 * and hands the outcome back through an eventfd, as the loop expects. */
struct job {
	const char *path;
	int efd;
	int rc;
};

static void *writer(void *arg)
{
	struct job *j = arg;
	sqlite3 *db = NULL;
	uint64_t one = 1;

	j->rc = sqlite3_open(j->path, &db);
	if (j->rc == SQLITE_OK)
		j->rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
				     "CREATE TABLE IF NOT EXISTS t(x);"
				     "BEGIN; INSERT INTO t VALUES (1); COMMIT;", NULL, NULL, NULL);
	sqlite3_close(db);
	if (write(j->efd, &one, sizeof(one)) != sizeof(one))
		j->rc = -1;
	return NULL;
}

static char db_path[64];

static int thread_commit(void)
{
	struct job j = { .path = db_path, .efd = eventfd(0, EFD_CLOEXEC), .rc = -1 };
	pthread_t t;
	uint64_t v;

	if (j.efd < 0 || pthread_create(&t, NULL, writer, &j) != 0)
		return 1;
	if (read(j.efd, &v, sizeof(v)) != sizeof(v) || pthread_join(t, NULL) != 0)
		return 2;
	return j.rc == SQLITE_OK ? 0 : 3;
}

static int do_fork(void)
{
	pid_t p = fork();

	if (p == 0)
		_exit(0);
	return 0;
}

static int do_exec(void)
{
	char *argv[] = { "/bin/true", NULL };

	execv(argv[0], argv);
	return 0;
}

static int do_exec_memory(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? 1 : 0;
}

static void test_thread_sqlite_eventfd(void **state)
{
	char dir[] = "/tmp/kidou-sandbox-XXXXXX";

	assert_non_null(mkdtemp(dir));
	snprintf(db_path, sizeof(db_path), "%s/leases.db", dir);
	assert_exit0(run_confined(thread_commit));
	/* twice: the second opens an existing WAL database */
	assert_exit0(run_confined(thread_commit));
	unlink(db_path);
	rmdir(dir);
}

static void test_fork_killed(void **state)
{
	assert_sigsys(run_confined(do_fork));
}

static void test_exec_killed(void **state)
{
	assert_sigsys(run_confined(do_exec));
}

static void test_executable_memory_killed(void **state)
{
	assert_sigsys(run_confined(do_exec_memory));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thread_sqlite_eventfd),
		cmocka_unit_test(test_fork_killed),
		cmocka_unit_test(test_exec_killed),
		cmocka_unit_test(test_executable_memory_killed),
	};

	if (sandbox_unsupported_build()) {
		printf("sandbox: sanitizer build, no filter to test\n");
		return 77;  /* meson: skipped */
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
