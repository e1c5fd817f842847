/*
 * NAME
 *	test_smtpd_check - the smtpd layer against a real rewrite service
 * DESCRIPTION
 *	smtpd_check.c (from the smtpd role's library): the rewrite client,
 *	reference counting, and reloads while check threads run, against
 *	build/bin/rewrite (build/asan/bin/rewrite under ASan) started by
 *	the test on an ipc socket with the base configuration of
 *	smtpd_access_helper.h. A bad reload keeps the previous lists; a
 *	rewrite service that goes away gives a temporary failure, never a
 *	decision. The restriction rules themselves are tested in
 *	test_smtpd_access_rules.c.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smtpd_access_helper.h"
#include "smtpd_check.h"

static const char *
rewrite_binary(void)
{
#ifdef __SANITIZE_ADDRESS__
	if (access("build/asan/bin/rewrite", X_OK) == 0) {
		return ("build/asan/bin/rewrite");
	}
#endif
	return (access("build/bin/rewrite", X_OK) == 0 ? "build/bin/rewrite" :
	                                                 NULL);
}

static pid_t
rewrite_start(const char *bin, const char *url)
{
	char *argv[64];
	int argc = 0;
	const struct kv *kv;
	pid_t ppid = getpid();
	pid_t pid;
	int fd;
	int i;

	argv[argc++] = (char *) "rewrite";
	argv[argc++] = (char *) "-c";
	argv[argc++] = (char *) "/nonexistent";
	argv[argc++] = (char *) "-o";
	argv[argc++] = pm_asprintf("rewrite_listen=%s", url);
	argv[argc++] = (char *) "-o";
	argv[argc++] = (char *) "rewrite_metrics_listen=";
	for (kv = base_cfg; kv->name != NULL; kv++) {
		argv[argc++] = (char *) "-o";
		argv[argc++] = pm_asprintf("%s=%s", kv->name, kv->value);
	}
	argv[argc] = NULL;
	if ((pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != ppid) {
			_exit(1);
		}
		if ((fd = open("/dev/null", O_WRONLY)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, argv);
		_exit(127);
	}
	free(argv[4]);
	for (i = 8; i < argc; i += 2) {
		free(argv[i]); /* the "name=value" strings */
	}
	return (pid);
}

static void
layer_configure(const char *url, const char *rcpt_restrictions)
{
	const struct kv *kv;

	pm_cfg_reset();
	for (kv = base_cfg; kv->name != NULL; kv++) {
		pm_cfg_set(kv->name, kv->value);
	}
	pm_cfg_set("rewrite_service", url);
	pm_cfg_set("smtpd_recipient_restrictions", rcpt_restrictions);
	pm_common_params_bind();
}

static void
layer_rcpt(const char *rcpt, smtpd_check_result *res)
{
	smtpd_check_state st;

	memset(&st, 0, sizeof(st));
	st.client_addr = OUT;
	st.client_name = "unknown";
	st.helo = "h.test";
	st.sender = "s@x.test";
	st.recipient = rcpt;
	smtpd_check_rcpt(&st, res);
}

static void *
layer_thread(void *arg)
{
	smtpd_check_result res;
	long *bad = arg;
	int i;

	for (i = 0; i < 200; i++) {
		layer_rcpt(LOC, &res);
		if (res.code != 0 && res.code != 554) {
			(*bad)++;
		}
	}
	return (NULL);
}

Test(smtpd_check, smtpd_layer_with_rewrite_service)
{
	const char *bin = rewrite_binary();
	smtpd_check_result res;
	pthread_t t[4];
	long bad[4] = { 0 };
	char url[128];
	pid_t pid;
	int i;

	if (bin == NULL) {
		cr_skip_test(
		    "build/bin/rewrite not built: run make bins first");
	}
	snprintf(url, sizeof(url), "ipc:///tmp/pm-test-smtpd-check-%d.sock",
	    (int) getpid());
	pid = rewrite_start(bin, url);
	cr_assert_gt(pid, 0, "fork failed");
	layer_configure(url, "");
	smtpd_check_init();
	for (i = 0; i < 100; i++, usleep(100 * 1000)) {
		layer_rcpt(LOC, &res);
		if (res.code != 451) {
			break;
		}
	}
	cr_expect_eq(res.code, 0, "local recipient: got %d %s %s, want 0",
	    res.code, res.dsn, res.text);
	layer_rcpt(REM, &res);
	cr_expect_eq(res.code, 554, "relay: got %d, want 554", res.code);
	cr_expect_str_eq(res.text, "<x@remote.example>: Relay access denied");
	layer_rcpt("nobody@example.com", &res);
	cr_expect_eq(res.code, 550, "unknown user: got %d, want 550", res.code);
	cr_expect_str_eq(res.dsn, "5.1.1");
	cr_expect_str_eq(res.text,
	    "<nobody@example.com>: Recipient address "
	    "rejected: User unknown in local recipient table");
	cr_expect(smtpd_check_mynetworks("127.0.0.1"),
	    "127.0.0.1: not in "
	    "mynetworks");
	cr_expect(!smtpd_check_mynetworks(OUT), "192.0.2.1 in mynetworks");

	/* Reloads while check threads run: old lists stay valid. */
	for (i = 0; i < 4; i++) {
		cr_assert_eq(pthread_create(&t[i], NULL, layer_thread, &bad[i]),
		    0);
	}
	for (i = 0; i < 20; i++) {
		pm_cfg_set("smtpd_recipient_restrictions",
		    i % 2 ? "" : "reject");
		smtpd_check_reload();
		usleep(2000);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(bad[i], 0, "thread %d: %ld unexpected replies", i,
		    bad[i]);
	}
	pm_cfg_set("smtpd_recipient_restrictions", "reject");
	smtpd_check_reload();
	layer_rcpt(LOC, &res);
	cr_expect_eq(res.code, 554, "after reload: got %d, want 554", res.code);
	cr_expect_str_eq(res.text,
	    "<alice@example.com>: Recipient address "
	    "rejected: Access denied");
	/* A bad reload keeps the previous lists. */
	pm_cfg_set("smtpd_recipient_restrictions", "reject_bogus");
	smtpd_check_reload();
	layer_rcpt(LOC, &res);
	cr_expect_eq(res.code, 554, "after bad reload: got %d, want 554",
	    res.code);

	/* Rewrite service gone: a temporary failure, not a decision. */
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	layer_rcpt("y@other.example", &res);
	cr_expect_eq(res.code, 451, "rewrite down: got %d, want 451", res.code);
	cr_expect_str_eq(res.dsn, "4.3.0");
}
