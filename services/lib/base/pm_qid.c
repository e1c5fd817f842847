/*
 * NAME
 *	pm_qid - queue ids unique across processes and hosts, time-ordered
 * DESCRIPTION
 *	See pm_qid.h. The nonce comes from getrandom(); the time part is
 *	kept strictly increasing under a mutex.
 */
#include "pm_qid.h"
#include "pm_util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define QID_TIME_CHARS 11
#define QID_NONCE_CHARS 8

static const char qid_alpha[] = "0123456789BCDFGHJKLMNPQRSTVWXYZb";

static pthread_mutex_t qid_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t qid_last_us;
static uint64_t qid_nonce;
static pid_t qid_pid;

static int
qid_digit(char c)
{
	const char *p;

	if (c == 0 || (p = strchr(qid_alpha, c)) == NULL) {
		return (-1);
	}
	return ((int) (p - qid_alpha));
}

static void
qid_encode(char *out, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		out[i] = qid_alpha[v & 31];
		v >>= 5;
	}
}

void
pm_qid_new(char *buf)
{
	int64_t now;

	pthread_mutex_lock(&qid_lock);
	if (qid_pid != getpid()) {
		/* first use, or a fork: a child must not share the nonce */
		uint64_t r = 0;

		if (getrandom(&r, sizeof(r), 0) != (ssize_t) sizeof(r)) {
			r = (uint64_t) pm_now_us() ^
			    ((uint64_t) getpid() << 20);
		}
		qid_nonce = r & ((1ULL << 40) - 1);
		qid_pid = getpid();
	}
	now = pm_now_us();
	if (now <= qid_last_us) {
		now = qid_last_us + 1;
	}
	qid_last_us = now;
	pthread_mutex_unlock(&qid_lock);

	qid_encode(buf, (uint64_t) now, QID_TIME_CHARS);
	qid_encode(buf + QID_TIME_CHARS, qid_nonce, QID_NONCE_CHARS);
	buf[PM_QID_LEN] = 0;
}

int
pm_qid_valid(const char *s)
{
	int i;

	if (s == NULL) {
		return (0);
	}
	for (i = 0; i < PM_QID_LEN; i++) {
		if (qid_digit(s[i]) < 0) {
			return (0);
		}
	}
	return (s[PM_QID_LEN] == 0);
}

int64_t
pm_qid_time_us(const char *qid)
{
	uint64_t v = 0;
	int i, d;

	for (i = 0; i < QID_TIME_CHARS; i++) {
		if ((d = qid_digit(qid[i])) < 0) {
			return (-1);
		}
		v = (v << 5) | (uint64_t) d;
	}
	return ((int64_t) v);
}

int
pm_qid_shard(const char *qid, int nshards)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	const unsigned char *p;

	if (nshards <= 1) {
		return (0);
	}
	for (p = (const unsigned char *) qid; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return ((int) (h % (uint32_t) nshards));
}

int
pm_qid_derive(char *buf, const char *qid, unsigned kind, unsigned part)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a, 64 bits */
	char tail[32];
	const unsigned char *p;
	int n;

	if (!pm_qid_valid(qid)) {
		return (PM_EINVAL);
	}
	n = snprintf(tail, sizeof(tail), "/%u/%u", kind, part);
	PM_ASSERT(n > 0 && (size_t) n < sizeof(tail));
	for (p = (const unsigned char *) qid; *p; p++) {
		h = (h ^ *p) * 1099511628211ULL;
	}
	for (p = (const unsigned char *) tail; *p; p++) {
		h = (h ^ *p) * 1099511628211ULL;
	}
	/* fold the 64 bits into the 40 of the nonce */
	h ^= h >> 40;
	memcpy(buf, qid, QID_TIME_CHARS);
	qid_encode(buf + QID_TIME_CHARS, h & ((1ULL << 40) - 1),
	    QID_NONCE_CHARS);
	buf[PM_QID_LEN] = 0;
	return (0);
}
