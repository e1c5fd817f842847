/*
 * NAME
 *	qstore_helper - the Redis server and messages of the qstore tests
 * SUMMARY
 *	#include "qstore_helper.h"
 * DESCRIPTION
 *	For the test_qstore_*.c files: the test's redis-server srv (see
 *	redis_helper.h; the suite's fini calls rh_stop(&srv)), open_qs()
 *	with the Functions loaded, qs_fs_store() (an "fs:" body store in
 *	the server's directory), leak_check(), and the enqueue side's
 *	fixtures: msg_init() (a message with awkward recipients),
 *	expect_same(), expect_body() and make_body().
 * LIMITS
 *	open_qs() uses a command timeout of QS_TIMEOUT_MS (2000 unless the
 *	test file defines it before the #include).
 * SECURITY
 *	Test code only.
 */
#ifndef QSTORE_HELPER_H
#define QSTORE_HELPER_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_qid.h"
#include "pm_qstore.h"
#include "pm_util.h"
#include "redis_helper.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#ifndef QS_TIMEOUT_MS
#define QS_TIMEOUT_MS 2000
#endif

static rh_server srv;

/*
 * Called at the end of each test: criterion ignores assertions in a
 * suite's fini, and LeakSanitizer alone does not fail a test.
 */
static inline void
leak_check(void)
{
#ifdef __SANITIZE_ADDRESS__
	cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked");
#endif
}

/* "fs:<server dir>/bodies"; the server's directory must exist. */
static inline const char *
qs_fs_store(void)
{
	static char store[96];

	cr_assert(srv.dir[0] != 0, "no server directory yet");
	snprintf(store, sizeof(store), "fs:%s/bodies", srv.dir);
	return (store);
}

static inline pm_qstore *
open_qs(const char *store, int nshards)
{
	pm_qstore *qs = pm_qstore_open(srv.addr, QS_TIMEOUT_MS, store, nshards);
	int rc;

	cr_assert(qs != NULL, "pm_qstore_open(%s, %s) failed", srv.addr, store);
	rc = pm_qstore_load_functions(qs);
	cr_assert_eq(rc, 0, "load_functions: got %d, want 0", rc);
	return (qs);
}

/* Messages. */

/* A message with four awkward recipients (quoted, UTF-8, literal). */
static inline void
msg_init(pm_qmsg *m, int nshards)
{
	static pm_qrcpt std_rcpt[] = {
		{ "alice@example.com", "", 0, NULL, NULL, NULL, NULL },
		{ "\"john q. doe\"@example.com",
		    "rfc822;\"john q. doe\"@example.com", 2 | 4, NULL, NULL,
		    NULL, NULL },
		{ "j\xc3\xb6rg@b\xc3\xbc"
		  "cher.example",
		    "utf-8;j\xc3\xb6rg", 8, NULL, NULL, NULL, NULL },
		{ "\"a\\\"b c\"@[192.0.2.7]", "", 1, NULL, NULL, NULL, NULL },
	};

	memset(m, 0, sizeof(*m));
	pm_qid_new(m->qid);
	m->shard = pm_qid_shard(m->qid, nshards);
	m->sender = "sender@example.org";
	m->arrival_us = pm_now_us();
	m->client_name = "mail.example.net";
	m->client_addr = "192.0.2.1";
	m->client_port = "41234";
	m->helo_name = "mail.example.net";
	m->protocol = "ESMTP";
	m->sasl_username = "";
	m->dsn_envid = "ENV-1";
	m->dsn_ret = 2;
	m->body_type = 2;
	m->flags = 3;
	m->nrcpt = sizeof(std_rcpt) / sizeof(std_rcpt[0]);
	m->rcpt = std_rcpt;
}

static inline void
expect_same(const pm_qmsg *want, const pm_qmsg *got)
{
	size_t i;

	cr_expect_str_eq(got->qid, want->qid);
	cr_expect_eq(got->shard, want->shard);
	cr_expect_str_eq(got->sender, want->sender);
	cr_expect_eq(got->arrival_us, want->arrival_us,
	    "arrival: got %lld, "
	    "want %lld",
	    (long long) got->arrival_us, (long long) want->arrival_us);
	cr_expect_eq(got->size, want->size, "size: got %zu, want %zu",
	    got->size, want->size);
	cr_expect_str_eq(got->client_name, want->client_name);
	cr_expect_str_eq(got->client_addr, want->client_addr);
	cr_expect_str_eq(got->client_port, want->client_port);
	cr_expect_str_eq(got->helo_name, want->helo_name);
	cr_expect_str_eq(got->protocol, want->protocol);
	cr_expect_str_eq(got->sasl_username, want->sasl_username);
	cr_expect_str_eq(got->dsn_envid, want->dsn_envid);
	cr_expect_eq(got->dsn_ret, want->dsn_ret);
	cr_expect_eq(got->body_type, want->body_type);
	cr_expect_eq(got->flags, want->flags);
	cr_expect_eq(got->attempts, 0);
	cr_expect_eq(got->next_attempt_us, 0);
	cr_assert_eq(got->nrcpt, want->nrcpt, "nrcpt: got %zu, want %zu",
	    got->nrcpt, want->nrcpt);
	for (i = 0; i < got->nrcpt; i++) {
		cr_expect_str_eq(got->rcpt[i].address, want->rcpt[i].address,
		    "rcpt %zu: got <%s>, want <%s>", i, got->rcpt[i].address,
		    want->rcpt[i].address);
		cr_expect_str_eq(got->rcpt[i].orcpt, want->rcpt[i].orcpt);
		cr_expect_eq(got->rcpt[i].notify, want->rcpt[i].notify);
		cr_expect_str_eq(got->rcpt[i].status, PM_RCPT_TODO);
		cr_expect_str_eq(got->rcpt[i].dsn, "");
		cr_expect_str_eq(got->rcpt[i].text, "");
	}
}

static inline void
expect_body(pm_qstore *qs, const char *qid, const char *want, size_t len)
{
	char *data = NULL;
	size_t got = 0;
	int rc;

	rc = pm_qstore_body_get(qs, qid, &data, &got);
	cr_assert_eq(rc, 0, "body_get: got %d (%s), want 0", rc,
	    pm_strerror(rc));
	cr_assert_eq(got, len, "body length: got %zu, want %zu", got, len);
	cr_expect(memcmp(data, want, len) == 0, "body differs");
	cr_expect_eq(data[len], 0, "body not NUL-terminated");
	free(data);
}

/* A body with every awkward byte: NUL, bare CR and LF, 8-bit. */
static inline char *
make_body(size_t len, unsigned seed)
{
	char *b = pm_malloc(len + 1);
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (char) (seed >> 16);
	}
	return (b);
}

#endif
