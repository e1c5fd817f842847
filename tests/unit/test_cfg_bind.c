/*
 * NAME
 *	test_cfg_bind - typed parameter tables bound to variables
 * DESCRIPTION
 *	pm_cfg_bind_str/int/time/bool(): defaults, configured values and
 *	rebinding; bad values and out-of-range numbers are fatal (each case
 *	runs in a fork()ed child whose exit status and output are checked);
 *	pm_cfg_walk() in name order; and readers on eight threads at once.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <sys/wait.h>

#include "cfg_helper.h"

static char *b_str, *b_str2;
static long b_int, b_neg, b_time, b_time_m;
static int b_yes, b_no;

Test(cfg, bind_good)
{
	static const pm_cfg_str strs[] = {
		{ "t_str", "def", &b_str, 1, 10 },
		{ "t_str2", "$t_str-$mail_name", &b_str2, 0, 0 },
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		{ "t_int", 5, &b_int, 1, 100 },
		{ "t_neg", 0, &b_neg, -10, 10 },
		{ 0 },
	};
	static const pm_cfg_time times[] = {
		{ "t_time", "300s", &b_time, 's', 1, 0 },
		{ "t_time_m", "5", &b_time_m, 'm', 0, 3600 },
		{ 0 },
	};
	static const pm_cfg_bool bools[] = {
		{ "t_yes", 0, &b_yes },
		{ "t_no", 1, &b_no },
		{ 0 },
	};
	char *old;

	/* defaults */
	pm_cfg_bind_str(strs);
	pm_cfg_bind_int(ints);
	pm_cfg_bind_time(times);
	pm_cfg_bind_bool(bools);
	cr_expect(strcmp(b_str, "def") == 0, "t_str: got %s, want def", b_str);
	cr_expect(strcmp(b_str2, "def-Postmesh") == 0, "t_str2: got %s",
	    b_str2);
	cr_expect(b_int == 5, "t_int: got %ld, want 5", b_int);
	cr_expect(b_time == 300, "t_time: got %ld, want 300", b_time);
	cr_expect(b_time_m == 300, "t_time_m: got %ld, want 300", b_time_m);
	cr_expect(b_yes == 0 && b_no == 1, "bools: got %d %d, want 0 1", b_yes,
	    b_no);

	/* configured values; binding again frees the old string */
	pm_cfg_set("t_str", "0123456789");
	pm_cfg_set("t_int", "100");
	pm_cfg_set("t_neg", "-10");
	pm_cfg_set("t_time", "2h");
	pm_cfg_set("t_time_m", "60");
	pm_cfg_set("t_yes", "On");
	setenv("POSTMESH_t_no", "false", 1);
	old = b_str;
	pm_cfg_bind_str(strs);
	pm_cfg_bind_int(ints);
	pm_cfg_bind_time(times);
	pm_cfg_bind_bool(bools);
	cr_expect(b_str != old, "rebinding kept the old pointer");
	cr_expect(strcmp(b_str, "0123456789") == 0, "t_str: got %s", b_str);
	cr_expect(strcmp(b_str2, "0123456789-Postmesh") == 0, "t_str2: got %s",
	    b_str2);
	cr_expect(b_int == 100, "t_int: got %ld, want 100", b_int);
	cr_expect(b_neg == -10, "t_neg: got %ld, want -10", b_neg);
	cr_expect(b_time == 7200, "t_time: got %ld, want 7200", b_time);
	cr_expect(b_time_m == 3600, "t_time_m: got %ld, want 3600", b_time_m);
	cr_expect(b_yes == 1 && b_no == 0, "bools: got %d %d, want 1 0", b_yes,
	    b_no);
	unsetenv("POSTMESH_t_no");
	pm_cfg_reset();
}

/* Bad values at bind time are fatal: run each in a child. */
Test(cfg, bind_fatal)
{
	static const struct {
		char kind; /* s i t b */
		const char *value;
		int exit;
		const char *want;
	} cases[] = {
		{ 'i', "42", 0, "" },
		{ 'i', "12abc", 1,
		    "fatal: bad numerical configuration: t_int "
		    "= 12abc" },
		{ 'i', "99999999999999999999", 1, "bad numerical" },
		{ 'i', "", 1, "bad numerical configuration: t_int = " },
		{ 'i', "5", 1, "fatal: invalid t_int parameter value 5 < 10" },
		{ 'i', "1001", 1, "invalid t_int parameter value 1001 > 1000" },
		{ 'i', "$t_ref", 1,
		    "bad numerical configuration: t_int = abc" },
		{ 't', "90s", 0, "" },
		{ 't', "10x", 1, "fatal: invalid time value: t_time = 10x" },
		{ 't', "-1", 1, "invalid time value" },
		{ 't', "1h", 1, "invalid t_time parameter value 3600 > 600" },
		{ 't', "0", 1, "invalid t_time parameter value 0 < 1" },
		{ 'b', "maybe", 1,
		    "fatal: bad boolean configuration: t_bool = "
		    "maybe" },
		{ 'b', "no", 0, "" },
		{ 's', "", 1, "fatal: bad string length 0 < 1: t_str = " },
		{ 's', "toolong", 1,
		    "bad string length 7 > 3: t_str = toolong" },
		{ 's', "a\001b", 1, "bad string length 3 > 2: t_str2 = a?b" },
		{ 's', "ok", 0, "" },
	};
	size_t i;
	int status, fd;
	pid_t pid;
	char tmpl[64], *out;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(tmpl, sizeof(tmpl), "/tmp/test_cfg_fatalXXXXXX");
		fd = mkstemp(tmpl);
		cr_assert(fd >= 0, "mkstemp");
		unlink(tmpl);
		fflush(stdout);
		pid = fork();
		cr_assert(pid >= 0, "fork");
		if (pid == 0) {
			static long l;
			static int b;
			static char *s;
			pm_cfg_int ti[] = { { "t_int", 10, &l, 10, 1000 },
				{ 0 } };
			pm_cfg_time tt[] = {
				{ "t_time", "60s", &l, 's', 1, 600 }, { 0 }
			};
			pm_cfg_bool tb[] = { { "t_bool", 1, &b }, { 0 } };
			pm_cfg_str ts[] = { { "t_str", "x", &s, 1, 3 }, { 0 } };
			pm_cfg_str ts2[] = { { "t_str2", "x", &s, 0, 2 },
				{ 0 } };

			/* stderr too: LSan notes about the parent's threads */
			dup2(fd, 1);
			dup2(fd, 2);
			pm_cfg_set("t_ref", "abc");
			switch (cases[i].kind) {
			case 'i':
				pm_cfg_set("t_int", cases[i].value);
				pm_cfg_bind_int(ti);
				break;
			case 't':
				pm_cfg_set("t_time", cases[i].value);
				pm_cfg_bind_time(tt);
				break;
			case 'b':
				pm_cfg_set("t_bool", cases[i].value);
				pm_cfg_bind_bool(tb);
				break;
			default:
				pm_cfg_set(cases[i].value[0] == 'a' ? "t_str2" :
				                                      "t_str",
				    cases[i].value);
				pm_cfg_bind_str(cases[i].value[0] == 'a' ? ts2 :
				                                           ts);
				break;
			}
			fflush(stdout);
			_exit(0);
		}
		cr_assert(waitpid(pid, &status, 0) == pid, "waitpid");
		out = read_fd_all(fd);
		close(fd);
		cr_expect(WIFEXITED(status) &&
		        WEXITSTATUS(status) == cases[i].exit,
		    "%c %s: got status 0x%x, want exit %d", cases[i].kind,
		    cases[i].value, status, cases[i].exit);
		cr_expect(strstr(out, cases[i].want) != NULL,
		    "%c %s: got \"%s\", want \"%s\"", cases[i].kind,
		    cases[i].value, out, cases[i].want);
		if (cases[i].exit == 0) {
			cr_expect(out[0] == 0, "%c %s: unexpected output %s",
			    cases[i].kind, cases[i].value, out);
		}
		free(out);
	}
}

typedef struct walk_st {
	int n;
	int sorted;
	char last[128];
	int saw_custom, saw_host;
	char custom_def[64], custom_val[64];
} walk_st;

static void
walk_fn(const char *name, const char *defval, const char *value, void *arg)
{
	walk_st *w = arg;

	if (w->n > 0 && strcmp(w->last, name) >= 0) {
		w->sorted = 0;
	}
	snprintf(w->last, sizeof(w->last), "%s", name);
	w->n++;
	if (strcmp(name, "zz_walk") == 0) {
		w->saw_custom = 1;
		snprintf(w->custom_def, sizeof(w->custom_def), "%s", defval);
		snprintf(w->custom_val, sizeof(w->custom_val), "%s", value);
	}
	if (strcmp(name, "myhostname") == 0 && strchr(defval, '.') != NULL &&
	    strcmp(value, "walk.example") == 0) {
		w->saw_host = 1;
	}
	/* a callback may call back into pm_cfg */
	free(pm_cfg_get("mail_name"));
}

Test(cfg, walk)
{
	static const pm_cfg_str strs[] = {
		{ "zz_walk", "dflt", &b_str, 0, 0 },
		{ 0 },
	};
	walk_st w;
	int nlib = 0;
	const pm_param_default *p;

	for (p = pm_param_defaults; p->name != NULL; p++) {
		nlib++;
	}
	pm_cfg_set("zz_walk", "v-$mail_name");
	pm_cfg_set("zz_unknown_not_walked", "1");
	pm_cfg_set("myhostname", "walk.example");
	pm_cfg_bind_str(strs);
	memset(&w, 0, sizeof(w));
	w.sorted = 1;
	pm_cfg_walk(walk_fn, &w);
	cr_expect(w.n == nlib + 1, "got %d parameters, want %d", w.n, nlib + 1);
	cr_expect(w.sorted, "not in name order");
	cr_expect(w.saw_custom && strcmp(w.custom_def, "dflt") == 0 &&
	        strcmp(w.custom_val, "v-Postmesh") == 0,
	    "zz_walk: got def=%s value=%s, want dflt v-Postmesh", w.custom_def,
	    w.custom_val);
	cr_expect(w.saw_host, "myhostname: computed default or value wrong");
	pm_cfg_reset();
}

static void *
thread_reader(void *arg)
{
	const char *want = arg;
	char *v;
	long bad = 0;
	int i;

	for (i = 0; i < 3000; i++) {
		v = pm_cfg_get("mydestination");
		if (v == NULL || strcmp(v, want) != 0) {
			bad++;
		}
		free(v);
		if (pm_cfg_raw("mail_name") == NULL) {
			bad++;
		}
		v = pm_cfg_expand("$myorigin/$mydomain");
		if (strcmp(v, "t.example.org/example.org") != 0) {
			bad++;
		}
		free(v);
	}
	return ((void *) bad);
}

Test(cfg, threads)
{
	pthread_t t[8];
	const char *want = "t.example.org, localhost.example.org, localhost";
	void *bad;
	long total = 0;
	int i;

	pm_cfg_set("myhostname", "t.example.org");
	for (i = 0; i < 8; i++) {
		pthread_create(&t[i], NULL, thread_reader, (void *) want);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], &bad);
		total += (long) bad;
	}
	cr_expect(total == 0, "got %ld wrong reads, want 0", total);
	pm_cfg_reset();
}
