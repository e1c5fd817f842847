/*
 * NAME
 *	test_table_pcre - unit tests for pcre: tables (PCRE2, pcre_table(5))
 * DESCRIPTION
 *	Table files are written into a mkdtemp() directory; each test is a
 *	table of lookups with the wanted result. The cases are PCRE-only
 *	syntax (lookahead, non-greedy, inline flags, \d \w \b, escaped
 *	delimiters), Postfix's pcre flags (i m s x A E U X), $n
 *	substitution, negation, if/endif, bad patterns that must be
 *	skipped with the file and line named, a catastrophic-backtracking
 *	pattern that must hit the match limit and fail the lookup quickly,
 *	over-long keys, and lookups from several threads at once.
 * LIMITS
 *	The match-limit case must finish well under a second.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pm_table.h"
#include "pm_util.h"

#define NOTFOUND ((const char *) 1)
#define LOOKUP_ERROR ((const char *) 2)

struct lookup {
	const char *key;
	const char *want; /* NOTFOUND: PM_ENOENT; LOOKUP_ERROR: other < 0 */
};

static char tmpdir[64];

static void
mkdir_tmp(void)
{
	strcpy(tmpdir, "/tmp/test_table_pcre.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp failed");
}

static void
rm_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (tmpdir[0] != 0 && system(cmd) != 0) {
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
	pm_table_set_pcre_match_limit(PM_TABLE_PCRE_MATCH_LIMIT);
}

static char *
write_file(const char *name, const char *data)
{
	char *path = pm_asprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "cannot create %s", path);
	cr_assert_eq(fwrite(data, 1, strlen(data), f), strlen(data),
	    "short write");
	fclose(f);
	return (path);
}

/* Whole file as a string (the log lines written while stdout went there). */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	pm_buf b;
	char chunk[4096];
	size_t n;

	cr_assert_not_null(f, "cannot read %s", path);
	pm_buf_init(&b, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		pm_buf_append(&b, chunk, n);
	}
	fclose(f);
	pm_buf_puts(&b, "");
	return (pm_buf_steal(&b, NULL));
}

/* Open "pcre:<tmpdir>/<name>" holding data; *log gets what it logged. */
static pm_table *
open_pcre(const char *name, const char *data, char **log)
{
	char *path = write_file(name, data), *spec, *logpath;
	const char *err = NULL;
	int fd, saved;
	pm_table *t;

	logpath = pm_asprintf("%s/%s.log", tmpdir, name);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0, "cannot create %s", logpath);
	fflush(stdout);
	saved = dup(1);
	cr_assert(dup2(fd, 1) == 1, "dup2 failed");
	spec = pm_asprintf("pcre:%s", path);
	t = pm_table_open(spec, &err);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(fd);
	cr_assert_not_null(t, "%s: got NULL (%s)", spec, err);
	if (log != NULL) {
		*log = slurp(logpath);
	}
	free(logpath);
	free(spec);
	free(path);
	return (t);
}

static void
check_lookups(pm_table *t, const struct lookup *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char *v = NULL;
		int rc = pm_table_get(t, l[i].key, &v);

		if (l[i].want == NOTFOUND) {
			cr_expect_eq(rc, PM_ENOENT,
			    "%s \"%s\": got rc %d value \"%s\", want not found",
			    pm_table_name(t), l[i].key, rc, rc == 0 ? v : "");
		} else if (l[i].want == LOOKUP_ERROR) {
			cr_expect(rc < 0 && rc != PM_ENOENT,
			    "%s \"%s\": got rc %d value \"%s\", want a lookup "
			    "error",
			    pm_table_name(t), l[i].key, rc, rc == 0 ? v : "");
		} else {
			cr_expect(rc == 0 && strcmp(v, l[i].want) == 0,
			    "%s \"%s\": got rc %d \"%s\", want \"%s\"",
			    pm_table_name(t), l[i].key, rc, rc == 0 ? v : "",
			    l[i].want);
		}
		if (rc == 0) {
			free(v);
		}
	}
}

/* Syntax only PCRE has: the old ERE translation skipped or misread it. */
Test(table_pcre, pcre_syntax, .init = mkdir_tmp, .fini = rm_tmp)
{
	static const char tbl[] =
	    "/^(?=[^@]*@example\\.com$)(\\w+)@/ look $1\n"
	    "/^(?!postmaster@)[^@]+@local\\.test$/ not postmaster\n"
	    "/^(.+?)(\\+.*)?@plus\\.test$/ base $1\n"
	    "/^(?-i)CaseOnly$/ inline case\n"
	    "/^(?i)mixed$/i inline caseless\n"
	    "/\\bspam\\b/ word spam\n"
	    "/^\\d{3}-\\w+$/ digits-word\n"
	    "/^(?<user>[a-z]+)\\.(\\d+)$/ named $1 $2\n"
	    "/^x\\x41y$/ hex escape\n"
	    "/^(?>a+)b$/ atomic\n"
	    "/^\\Qa.b\\E$/ quoted\n"
	    "/^a\\|b$/ escaped bar\n"
	    "|^c\\|d$| escaped delimiter\n"
	    "/^\\h*tab\\h*$/ horizontal space\n";
	static const struct lookup lk[] = {
		{ "joe@example.com", "look joe" },
		{ "joe@example.comx", NOTFOUND },
		{ "alice@local.test", "not postmaster" },
		{ "postmaster@local.test", NOTFOUND },
		{ "a+b@plus.test", "base a" },
		{ "abc@plus.test", "base abc" },
		{ "CaseOnly", "inline case" },
		{ "caseonly", NOTFOUND },
		{ "MIXED", "inline caseless" },
		{ "buy spam now", "word spam" },
		{ "antispam", NOTFOUND },
		{ "123-abc_9", "digits-word" },
		{ "12-abc", NOTFOUND },
		{ "bob.42", "named bob 42" },
		{ "xAy", "hex escape" },
		{ "aaab", "atomic" },
		{ "a.b", "quoted" },
		{ "axb", NOTFOUND },
		{ "a|b", "escaped bar" },
		{ "a", NOTFOUND },
		{ "c|d", "escaped delimiter" },
		{ "c", NOTFOUND },
		{ " \ttab\t", "horizontal space" },
	};
	pm_table *t = open_pcre("syntax", tbl, NULL);

	check_lookups(t, lk, sizeof(lk) / sizeof(lk[0]));
	pm_table_close(t);
}

/* Postfix's pcre flags: i and s are on by default, each letter toggles. */
Test(table_pcre, flags, .init = mkdir_tmp, .fini = rm_tmp)
{
	static const char tbl[] =
	    "/^upper$/ default caseless\n"
	    "/^Exact$/i case sensitive\n"
	    "/^a.b$/ default dotall\n"
	    "/^c.d$/s no dotall\n"
	    "/^second$/m multiline\n"
	    "/^third$/ not multiline\n"
	    "/^ e f g $/x extended\n"
	    "/bar/A anchored\n"
	    "/^end$/E dollar endonly\n"
	    "/^end2$/ dollar before newline\n"
	    "/^(.*)-/U ungreedy $1\n"
	    "/^(.*)=/ greedy $1\n"
	    "/^xflag$/X obsolete X ignored\n"
	    "/^q$/q unknown flag\n"
	    "/^m1/!/^m1x/ two patterns are regexp: only\n";
	static const struct lookup lk[] = {
		{ "UPPER", "default caseless" },
		{ "Exact", "case sensitive" },
		{ "EXACT", NOTFOUND },
		{ "a\nb", "default dotall" },
		{ "c\nd", NOTFOUND },
		{ "first\nsecond", "multiline" },
		{ "first\nthird", NOTFOUND },
		{ "efg", "extended" },
		{ "foobar", NOTFOUND },
		{ "barfoo", "anchored" },
		{ "end\n", NOTFOUND },
		{ "end2\n", "dollar before newline" },
		{ "a-b-c", "ungreedy a" },
		{ "a=b=c", "greedy a=b" },
		{ "xflag", "obsolete X ignored" },
		{ "q", NOTFOUND },
		{ "m1", NOTFOUND },
	};
	char *log = NULL;
	pm_table *t = open_pcre("flags", tbl, &log);

	check_lookups(t, lk, sizeof(lk) / sizeof(lk[0]));
	cr_expect(strstr(log,
	              "line 13: ignoring obsolete regexp option "
	              "\"X\"") != NULL,
	    "got log \"%s\", want the X warning", log);
	cr_expect(strstr(log, "line 14: unknown regexp option \"q\"") != NULL,
	    "got log \"%s\", want the q warning", log);
	cr_expect(strstr(log, "line 15: unknown regexp option \"!\"") != NULL,
	    "got log \"%s\", want the ! warning", log);
	free(log);
	pm_table_close(t);
}

/* $n results, negation, if/endif, and rules that must be skipped. */
Test(table_pcre, results_negation_blocks, .init = mkdir_tmp, .fini = rm_tmp)
{
	static const char tbl[] =
	    "/^(\\w+)\\+(\\w+)@x\\.test$/ ${2}-$(1)-$$-$1\n"
	    "/^(e)(m)?pty@/ [$2]\n"
	    "/^(o)(u)@/ $3 out of range\n"
	    "!/^(n)@/ $1 in negative\n"
	    "/^(?:bad$1)@/ $0 is not a group\n"
	    "if /@if\\.test$/\n"
	    "/^a@/ A in if\n"
	    "if !/^b@/\n"
	    "/^c@/ C in nested\n"
	    "endif\n"
	    "endif\n"
	    "endif\n"
	    "/^a@/ A outside\n"
	    "!/[@.]/ no at sign\n"
	    "!!/^dbl\\.$/ double negation\n"
	    "/^ou@/ OU\n"
	    "if /^never/\n"
	    "/./ missing endif swallows\n";
	static const struct lookup lk[] = {
		{ "u+ext@x.test", "ext-u-$-u" },
		{ "epty@z.test", "[]" },
		{ "empty@z.test", "[m]" },
		{ "a@if.test", "A in if" },
		{ "c@if.test", "C in nested" },
		{ "b@if.test", NOTFOUND },
		{ "a@other.test", "A outside" },
		{ "plain", "no at sign" },
		{ "dbl.", "double negation" },
		{ "ou@z.test", "OU" },
		{ "never@z.test", "missing endif swallows" },
		{ "zzz@z.test", NOTFOUND },
	};
	char *log = NULL;
	pm_table *t = open_pcre("results", tbl, &log);

	check_lookups(t, lk, sizeof(lk) / sizeof(lk[0]));
	cr_expect(strstr(log, "line 3: out of range replacement index") != NULL,
	    "got log \"%s\", want the line 3 warning", log);
	cr_expect(strstr(log, "line 4: ") != NULL,
	    "got log \"%s\", want the "
	    "line 4 warning",
	    log);
	cr_expect(strstr(log, "line 12: ignoring ENDIF without matching IF") !=
	        NULL,
	    "got log \"%s\", want the line 12 warning", log);
	cr_expect(strstr(log, "IF has no matching ENDIF") != NULL,
	    "got log \"%s\", want the missing ENDIF warning", log);
	free(log);
	pm_table_close(t);
}

/* Patterns that do not compile: warned with file and line, skipped. */
Test(table_pcre, bad_patterns, .init = mkdir_tmp, .fini = rm_tmp)
{
	static const char tbl[] = "/^(abc/ unbalanced open\n"
	                          "/abc)/ unbalanced close\n"
	                          "/[abc/ open bracket\n"
	                          "/(?<bad/ bad group name\n"
	                          "/x{2,1}/ bad quantifier\n"
	                          "/(?=a/ open lookahead\n"
	                          "/\\/ no closing delimiter\n"
	                          "/a(?<=b+)c/ unbounded lookbehind\n"
	                          "/(/ lone paren\n"
	                          "/./ still works\n";
	static const struct lookup lk[] = {
		{ "abc", "still works" },
		{ "abc)", "still works" },
		{ "(", "still works" },
		{ "", NOTFOUND },
	};
	char *log = NULL, *want;
	pm_table *t = open_pcre("bad", tbl, &log);
	int line;

	check_lookups(t, lk, sizeof(lk) / sizeof(lk[0]));
	for (line = 1; line <= 9; line++) {
		want = pm_asprintf("pcre map %s/bad, line %d: ", tmpdir, line);
		cr_expect(strstr(log, want) != NULL,
		    "got log \"%s\", want "
		    "\"%s\"",
		    log, want);
		free(want);
	}
	free(log);
	pm_table_close(t);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double) ts.tv_sec + (double) ts.tv_nsec / 1e9);
}

/*
 * /^(a+)+$/ against 41 a's and a b backtracks about 2^41 times: the
 * match limit must stop it, and the lookup must fail (the caller
 * defers) rather than hang or fall through to the next rule.
 */
Test(table_pcre, match_limit, .init = mkdir_tmp, .fini = rm_tmp)
{
	static const char tbl[] = "/^(a+)+$/ catastrophic\n"
	                          "/./ fell through\n";
	static const char *key = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab";
	static const struct lookup lk[] = {
		{ "aaaa", "catastrophic" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", LOOKUP_ERROR },
		{ "b", "fell through" },
	};
	char *log = NULL, *v = NULL;
	pm_table *t;
	double t0, took;
	int rc;

	/* A configured limit: the lookup fails fast. */
	pm_table_set_pcre_match_limit(100000);
	t = open_pcre("limit", tbl, NULL);
	t0 = now();
	check_lookups(t, lk, sizeof(lk) / sizeof(lk[0]));
	took = now() - t0;
	/* Bounds catch a hang (backtracking runs for minutes without a
	 * limit), not speed: speed lives in `make bench`, and CI runs this
	 * under ASan on a shared machine. */
	cr_expect(took < 5.0,
	    "lookups with match limit 100000: took %.3f s, want no hang", took);
	pm_table_close(t);

	/* The default (PCRE2's own, as Postfix): an error, not a hang. */
	pm_table_set_pcre_match_limit(PM_TABLE_PCRE_MATCH_LIMIT);
	t = open_pcre("limit", tbl, NULL);
	t0 = now();
	rc = pm_table_get(t, key, &v);
	took = now() - t0;
	cr_expect(rc < 0 && rc != PM_ENOENT,
	    "default limit: got rc %d \"%s\","
	    " want a lookup error",
	    rc, rc == 0 ? v : "");
	cr_expect(took < 10.0, "default limit: took %.3f s, want no hang",
	    took);
	if (rc == 0) {
		free(v);
	}
	pm_table_close(t);

	/* The warning names the file and line. */
	pm_table_set_pcre_match_limit(1000);
	t = open_pcre("limit", tbl, NULL);
	{
		char *logpath = pm_asprintf("%s/get.log", tmpdir);
		int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int saved = dup(1);

		fflush(stdout);
		dup2(fd, 1);
		rc = pm_table_get(t, key, &v);
		fflush(stdout);
		dup2(saved, 1);
		close(saved);
		close(fd);
		log = slurp(logpath);
		free(logpath);
	}
	cr_expect(rc < 0 && rc != PM_ENOENT, "limit 1000: got rc %d", rc);
	cr_expect(strstr(log, "/limit, line 1: ") != NULL &&
	        strstr(log, "limit") != NULL,
	    "got log \"%s\", want file, line "
	    "and the limit named",
	    log);
	free(log);
	pm_table_close(t);
}

/* Client keys: over-long, 8-bit, control characters. */
Test(table_pcre, hostile_keys, .init = mkdir_tmp, .fini = rm_tmp)
{
	static const char tbl[] = "/^(\\w+)@sub\\.example\\.com$/ user $1\n"
	                          "/^(.*)@long\\.test$/ $1\n"
	                          "/^([\\x80-\\xff]+)$/ eight $1\n"
	                          "/\\r/ bare cr\n";
	pm_table *t = open_pcre("hostile", tbl, NULL);
	static const struct lookup lk[] = {
		{ "\xc3\xa9\xff", "eight \xc3\xa9\xff" },
		{ "a\rb", "bare cr" },
		{ "x@sub.example.com\nX-Injected: yes", NOTFOUND },
	};
	char *key, *v = NULL;
	size_t n = 200000;
	double t0;
	int rc;

	check_lookups(t, lk, sizeof(lk) / sizeof(lk[0]));
	key = pm_malloc(n + 1);
	memset(key, 'q', n);
	strcpy(key + n - strlen("@long.test"), "@long.test");
	rc = pm_table_get(t, key, &v);
	cr_expect(rc == 0 && strlen(v) == n - strlen("@long.test"),
	    "long key: got rc %d len %zu, want %zu", rc,
	    rc == 0 ? strlen(v) : 0, n - strlen("@long.test"));
	if (rc == 0) {
		free(v);
	}
	/* No rule matches a long word without '@': quick, not found. */
	memset(key, 'q', n);
	key[n] = 0;
	t0 = now();
	rc = pm_table_get(t, key, &v);
	cr_expect_eq(rc, PM_ENOENT, "long word: got rc %d, want not found", rc);
	cr_expect(now() - t0 < 5.0, "long word: took %.3f s, want no hang",
	    now() - t0);
	free(key);
	pm_table_close(t);
}

struct worker {
	pm_table *t;
	int id;
	int errors;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char key[64], want[64], *v;
	int i, rc;

	for (i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "u%d_%d@sub.example.com", w->id, i);
		snprintf(want, sizeof(want), "user u%d_%d", w->id, i);
		rc = pm_table_get(w->t, key, &v);
		if (rc != 0 || strcmp(v, want) != 0) {
			w->errors++;
		}
		if (rc == 0) {
			free(v);
		}
	}
	return (NULL);
}

/* Lookups run from many threads at once (smtpd's check pool). */
Test(table_pcre, threads, .init = mkdir_tmp, .fini = rm_tmp)
{
	pm_table *t = open_pcre("threads",
	    "/^(a+)+$/ never for these keys\n"
	    "/^(\\w+)@sub\\.example\\.com$/ user $1\n",
	    NULL);
	struct worker w[6];
	pthread_t th[6];
	int i;

	for (i = 0; i < 6; i++) {
		w[i].t = t;
		w[i].id = i;
		w[i].errors = 0;
		cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]),
		    0, "pthread_create failed");
	}
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(w[i].errors, 0,
		    "thread %d: got %d wrong results, "
		    "want 0",
		    i, w[i].errors);
	}
	pm_table_close(t);
}
