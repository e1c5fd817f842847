/*
 * NAME
 *	test_qid - unit tests of pm_qid (validity, uniqueness in a process,
 *	across threads and fork()ed children, time order, shards, hostile
 *	input to pm_qid_valid, ids derived with pm_qid_derive)
 * DESCRIPTION
 *	Ids are generated in bulk (100k in one process), from several
 *	threads, and from children forked after the parent has made ids
 *	(the child must draw a new nonce). All of them together must be
 *	distinct. pm_qid_valid() gets truncated, over-long, NUL-embedded,
 *	8-bit and path-like strings.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pm_qid.h"
#include "pm_util.h"

#define N_IDS 100000
#define QID_SIZE (PM_QID_LEN + 1)
#define NONCE_OFF 11

static int
qid_cmp(const void *a, const void *b)
{
	return (strcmp(a, b));
}

/* Sort n ids (QID_SIZE apart); return the number of adjacent repeats. */
static size_t
count_dups(char *ids, size_t n)
{
	size_t i, d = 0;

	qsort(ids, n, QID_SIZE, qid_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(ids + (i - 1) * QID_SIZE, ids + i * QID_SIZE) == 0) {
			d++;
		}
	}
	return (d);
}

Test(qid, valid_unique_ordered)
{
	char *ids = pm_malloc((size_t) N_IDS * QID_SIZE), *id, *prev;
	int64_t before, after, t, tprev = 0;
	size_t i, invalid = 0, unordered = 0, badtime = 0, nonce = 0;

	before = pm_now_us();
	for (i = 0; i < N_IDS; i++) {
		pm_qid_new(ids + i * QID_SIZE);
	}
	after = pm_now_us();
	for (i = 0; i < N_IDS; i++) {
		id = ids + i * QID_SIZE;
		if (strlen(id) != PM_QID_LEN || !pm_qid_valid(id)) {
			invalid++;
		}
		t = pm_qid_time_us(id);
		/* an id may run ahead of the clock by one us per id */
		if (t < before || t > after + N_IDS || (i > 0 && t <= tprev)) {
			badtime++;
		}
		tprev = t;
		if (i > 0) {
			prev = id - QID_SIZE;
			if (strcmp(prev, id) >= 0) {
				unordered++;
			}
			if (strcmp(prev + NONCE_OFF, id + NONCE_OFF) != 0) {
				nonce++;
			}
		}
	}
	cr_expect(invalid == 0, "got %zu invalid ids, want 0 (first %s)",
	    invalid, ids);
	cr_expect(badtime == 0,
	    "got %zu ids with a bad or non-increasing "
	    "time, want 0",
	    badtime);
	cr_expect(unordered == 0,
	    "got %zu ids not after the previous one "
	    "in string order, want 0",
	    unordered);
	cr_expect(nonce == 0, "nonce changed %zu times in one process", nonce);
	cr_expect(count_dups(ids, N_IDS) == 0, "duplicate ids");
	free(ids);
}

#define T_THREADS 4
#define T_IDS 20000
#define F_CHILDREN 6
#define F_IDS 10000

static void *
qid_thread(void *arg)
{
	char *ids = arg;
	int i;

	for (i = 0; i < T_IDS; i++) {
		pm_qid_new(ids + (size_t) i * QID_SIZE);
	}
	return (NULL);
}

Test(qid, unique_threads_and_fork)
{
	size_t total = T_THREADS * T_IDS + (F_CHILDREN + 1) * F_IDS;
	char *ids = pm_calloc(total, QID_SIZE), *p, *nonces;
	pthread_t t[T_THREADS];
	char path[F_CHILDREN][64];
	size_t n = 0, i, j, bad = 0;
	int status, c;
	pid_t pid[F_CHILDREN];
	FILE *fp;

	/* threads in this process */
	for (i = 0; i < T_THREADS; i++) {
		pthread_create(&t[i], NULL, qid_thread,
		    ids + i * T_IDS * QID_SIZE);
	}
	for (i = 0; i < T_THREADS; i++) {
		pthread_join(t[i], NULL);
	}
	n = T_THREADS * T_IDS;
	/* the parent has a nonce now; children must not reuse it */
	for (c = 0; c < F_CHILDREN; c++) {
		snprintf(path[c], sizeof(path[c]), "/tmp/test_qid_%d_%d",
		    (int) getpid(), c);
		fflush(stdout);
		pid[c] = fork();
		cr_assert(pid[c] >= 0, "fork");
		if (pid[c] == 0) {
			char id[QID_SIZE];
			int k;

			if ((fp = fopen(path[c], "w")) == NULL) {
				_exit(2);
			}
			for (k = 0; k < F_IDS; k++) {
				pm_qid_new(id);
				fprintf(fp, "%s\n", id);
			}
			_exit(fclose(fp) == 0 ? 0 : 3);
		}
	}
	/* the parent goes on making ids while the children run */
	for (i = 0; i < F_IDS; i++) {
		pm_qid_new(ids + (n + i) * QID_SIZE);
	}
	n += F_IDS;
	nonces = pm_calloc(F_CHILDREN + 1, QID_SIZE);
	memcpy(nonces, ids + NONCE_OFF, PM_QID_LEN - NONCE_OFF);
	for (c = 0; c < F_CHILDREN; c++) {
		cr_assert(waitpid(pid[c], &status, 0) == pid[c], "waitpid");
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "child %d: status 0x%x", c, status);
		fp = fopen(path[c], "r");
		cr_assert(fp != NULL, "child %d wrote no file", c);
		for (i = 0; i < F_IDS; i++) {
			p = ids + n * QID_SIZE;
			if (fscanf(fp, "%19s", p) != 1 || !pm_qid_valid(p)) {
				bad++;
				continue;
			}
			if (i == 0) {
				memcpy(nonces + (c + 1) * QID_SIZE,
				    p + NONCE_OFF, PM_QID_LEN - NONCE_OFF);
			}
			n++;
		}
		fclose(fp);
		unlink(path[c]);
	}
	cr_expect(bad == 0, "got %zu unreadable or invalid child ids", bad);
	cr_expect(n == total, "got %zu ids, want %zu", n, total);
	for (i = 0; i <= F_CHILDREN; i++) {
		for (j = i + 1; j <= F_CHILDREN; j++) {
			cr_expect(strcmp(nonces + i * QID_SIZE,
			              nonces + j * QID_SIZE) != 0,
			    "processes %zu and %zu share nonce %s", i, j,
			    nonces + i * QID_SIZE);
		}
	}
	cr_expect(count_dups(ids, n) == 0,
	    "duplicate ids across threads "
	    "and processes");
	free(nonces);
	free(ids);
}

static uint32_t
fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h = (h ^ (uint8_t) *s) * 16777619u;
	}
	return (h);
}

Test(qid, shard)
{
	static const int shards[] = { 1, 2, 3, 16, 1024 };
	char id[QID_SIZE], copy[QID_SIZE], *longid;
	int counts[16] = { 0 }, s, i, bad = 0;
	size_t k;

	for (i = 0; i < 10000; i++) {
		pm_qid_new(id);
		memcpy(copy, id, sizeof(copy));
		for (k = 0; k < sizeof(shards) / sizeof(shards[0]); k++) {
			s = pm_qid_shard(id, shards[k]);
			if (s < 0 || s >= shards[k] ||
			    pm_qid_shard(copy, shards[k]) != s) {
				bad++;
			}
			if (shards[k] == 16 && s >= 0 && s < 16) {
				counts[s]++;
			}
		}
	}
	cr_expect(bad == 0, "got %d out of range or unstable shards", bad);
	/* consecutive ids share their nonce: the spread must still be even */
	for (i = 0; i < 16; i++) {
		cr_expect(counts[i] > 10000 / 16 / 2 &&
		        counts[i] < 10000 / 16 * 2,
		    "shard %d of 16: got %d ids, "
		    "want about %d",
		    i, counts[i], 10000 / 16);
	}
	/*
	 * Known answers: queued messages keep their shard across upgrades
	 * only if the hash never changes (32-bit FNV-1a of the id).
	 */
	for (i = 0; i < 100; i++) {
		pm_qid_new(id);
		for (k = 0; k < sizeof(shards) / sizeof(shards[0]); k++) {
			s = pm_qid_shard(id, shards[k]);
			cr_expect(s == (int) (fnv1a(id) % (uint32_t) shards[k]),
			    "shard(%s, %d): got %d, want %u", id, shards[k], s,
			    fnv1a(id) % (uint32_t) shards[k]);
		}
	}
	cr_expect(pm_qid_shard(id, 0) == 0, "0 shards: want 0");
	cr_expect(pm_qid_shard(id, -3) == 0, "-3 shards: want 0");
	cr_expect(pm_qid_shard(id, 1) == 0, "1 shard: want 0");
	/* hostile strings still give a shard in range */
	longid = pm_malloc(100001);
	memset(longid, '\xff', 100000);
	longid[100000] = 0;
	s = pm_qid_shard(longid, 13);
	cr_expect(s >= 0 && s < 13, "long string: got shard %d", s);
	s = pm_qid_shard("", 13);
	cr_expect(s >= 0 && s < 13, "empty string: got shard %d", s);
	s = pm_qid_shard("x", INT32_MAX);
	cr_expect(s >= 0, "INT32_MAX shards: got %d", s);
	free(longid);
}

Test(qid, valid_hostile)
{
	static const struct {
		const char *s;
		size_t len; /* 0: strlen; else bytes incl. embedded NULs */
		int want;
	} cases[] = {
		{ "0123456789BCDFGHJKL", 0, 1 },
		{ "bbbbbbbbbbbbbbbbbbb", 0, 1 },
		{ "ZZZZZZZZZZZZZZZZZZZ", 0, 1 },
		{ "", 0, 0 },
		{ "0123456789BCDFGHJK", 0, 0 },   /* 18: truncated */
		{ "0123456789BCDFGHJKLM", 0, 0 }, /* 20: too long */
		{ "0123456789BCDFGHJKA", 0, 0 },  /* vowel */
		{ "0123456789BCDFGHJKa", 0, 0 },  /* lower case */
		{ "0123456789bcdfghjkl", 0, 0 },  /* lower case */
		{ "0123456789BCDFGHJK\n", 0, 0 },
		{ "0123456789BCDFGHJK\r", 0, 0 },
		{ "0123456789BCDFGHJKL\n", 0, 0 },
		{ " 123456789BCDFGHJKL", 0, 0 },
		{ "../../../etc/passwd", 0, 0 },
		{ "0123456789BCDFGH/KL", 0, 0 },
		{ "0123456789BCDFGH{KL", 0, 0 },
		{ "0123456789BCDFGH:KL", 0, 0 },
		{ "0123456789BCDFGH\xffKL", 0, 0 },
		{ "0123456789BCDFGH\x80KL", 0, 0 },
		{ "01234\0006789BCDFGHJKL", 20, 0 }, /* NUL inside */
		{ "0123456789BCDFGHJK\0L", 20, 0 },
		{ "%s%s%s%s%s%s%s%s%s%s", 0, 0 },
	};
	char id[QID_SIZE], *p, *show;
	size_t i, len;
	int got;

	cr_expect(pm_qid_valid(NULL) == 0, "NULL: want 0");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* copy into an exact-size heap buffer: ASan sees overreads */
		len = cases[i].len ? cases[i].len : strlen(cases[i].s);
		p = pm_malloc(len + 1);
		memcpy(p, cases[i].s, len);
		p[len] = 0;
		got = pm_qid_valid(p);
		show = pm_printable_dup(cases[i].s, len, 60);
		cr_expect(got == cases[i].want,
		    "valid(case %zu \"%s\"): got %d, want %d", i, show, got,
		    cases[i].want);
		free(show);
		free(p);
	}
	/* every single-character corruption of a real id is caught */
	pm_qid_new(id);
	for (i = 0; i < PM_QID_LEN; i++) {
		static const char badc[] = { 'A', 'a', '!', '\x7f', '\xc3',
			' ' };
		size_t k;

		for (k = 0; k < sizeof(badc); k++) {
			char c = id[i];

			id[i] = badc[k];
			cr_expect(!pm_qid_valid(id),
			    "corrupt id %s at %zu "
			    "accepted",
			    id, i);
			id[i] = c;
		}
	}
	cr_expect(pm_qid_valid(id), "restored id %s rejected", id);
	cr_expect(pm_qid_time_us("") == -1, "time of empty: want -1");
	cr_expect(pm_qid_time_us("012") == -1, "time of short: want -1");
	cr_expect(pm_qid_time_us("0123456789A") == -1,
	    "time with vowel: "
	    "want -1");
}

/*
 * pm_qid_derive: the id of a bounce notice is a function of (original
 * id, kind, part), valid, with the original's time part; different
 * inputs give different ids (issue 6, 3g).
 */
Test(qid, derive)
{
	static const struct {
		unsigned kind, part;
	} in[] = { { 1, 0 }, { 2, 0 }, { 3, 0 }, { 4, 0 }, { 1, 1 }, { 1, 2 },
		{ 1, 399 }, { 2, 1 }, { 0, 0 }, { 4294967295u, 4294967295u } };
	enum { NIN = sizeof(in) / sizeof(in[0]), NORIG = 50 };
	static char got[NORIG][NIN][PM_QID_LEN + 1];
	char orig[NORIG][PM_QID_LEN + 1], again[PM_QID_LEN + 1];
	size_t o, i, o2, i2;

	for (o = 0; o < NORIG; o++) {
		pm_qid_new(orig[o]);
		for (i = 0; i < NIN; i++) {
			cr_assert_eq(pm_qid_derive(got[o][i], orig[o],
			                 in[i].kind, in[i].part),
			    0);
			cr_expect(pm_qid_valid(got[o][i]),
			    "derived %s is not"
			    " a valid id",
			    got[o][i]);
			cr_expect(strncmp(got[o][i], orig[o], 11) == 0,
			    "derived %s: time part is not %s's", got[o][i],
			    orig[o]);
			cr_expect(strcmp(got[o][i], orig[o]) != 0);
			cr_expect_eq(pm_qid_derive(again, orig[o], in[i].kind,
			                 in[i].part),
			    0);
			cr_expect_str_eq(again, got[o][i],
			    "derive is not "
			    "stable: got %s, then %s",
			    got[o][i], again);
		}
	}
	for (o = 0; o < NORIG; o++) {
		for (i = 0; i < NIN; i++) {
			for (o2 = o; o2 < NORIG; o2++) {
				for (i2 = (o2 == o ? i + 1 : 0); i2 < NIN;
				     i2++) {
					cr_expect(strcmp(got[o][i],
					              got[o2][i2]) != 0,
					    "%s twice", got[o][i]);
				}
			}
		}
	}
	cr_expect_eq(pm_qid_derive(again, "not-an-id", 1, 0), PM_EINVAL);
	cr_expect_eq(pm_qid_derive(again, NULL, 1, 0), PM_EINVAL);
}
