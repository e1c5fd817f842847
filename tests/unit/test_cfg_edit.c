/*
 * NAME
 *	test_cfg_edit - pm_cfg_edit() and postconf's pm_cfg helpers
 * DESCRIPTION
 *	pm_cfg_edit() on one main.cf with comments, blank lines, a
 *	definition with continuation lines (and a comment inside it), a
 *	"name=value" line without spaces and a last line without newline:
 *	set (replace, append), remove and comment out, each compared byte
 *	for byte; every occurrence of a name is edited; bad names, values
 *	with newlines and a missing main.cf change nothing; the file keeps
 *	its permission bits (and, as root, its group); a symbolic link to
 *	main.cf stays one, its target edited; no <path>.tmp is left.
 *	pm_cfg_declare(), pm_cfg_known(), pm_cfg_walk_file() and
 *	pm_cfg_main_path().
 */
#include <criterion/criterion.h>

#include "cfg_helper.h"
#include "pm_cfg_edit.h"

#define ORIG \
	"# Postmesh main.cf\n" \
	"\n" \
	"myhostname = mx.example.com\n" \
	"mydestination = $myhostname,\n" \
	"    localhost.$mydomain,\n" \
	"# inside the value\n" \
	"\tlocalhost\n" \
	"relayhost=[smarthost]:587\n" \
	"  # indented comment\n" \
	"smtpd_banner = $myhostname ESMTP"

static char *
slurp(const char *path)
{
	int fd = open(path, O_RDONLY);
	char *s;

	cr_assert(fd >= 0, "open %s", path);
	s = read_fd_all(fd);
	close(fd);
	return (s);
}

static void
edit_expect(pm_cfg_edit_op *ops, size_t n, int mode, const char *want)
{
	const char *path = write_maincf(ORIG, 0);
	char *err = NULL, *got, *tmp;

	cr_assert_eq(pm_cfg_edit(path, ops, n, mode, &err), 0, "edit: %s",
	    err ? err : "");
	got = slurp(path);
	cr_assert_str_eq(got, want);
	free(got);
	tmp = pm_asprintf("%s.tmp", path);
	cr_assert(access(tmp, F_OK) != 0, "%s left behind", tmp);
	free(tmp);
}

Test(cfg_edit, set_replaces_with_continuation_and_appends)
{
	pm_cfg_edit_op ops[] = {
		{ "mydestination", "a, b", 0 },
		{ "relayhost", "", 0 },
		{ "newparam", "1", 0 },
	};

	edit_expect(ops, 3, PM_CFG_EDIT_SET,
	    "# Postmesh main.cf\n"
	    "\n"
	    "myhostname = mx.example.com\n"
	    "mydestination = a, b\n"
	    "# inside the value\n"
	    "relayhost =\n"
	    "  # indented comment\n"
	    "smtpd_banner = $myhostname ESMTP\n"
	    "newparam = 1\n");
	cr_assert_eq(ops[0].found, 1);
	cr_assert_eq(ops[1].found, 1);
	cr_assert_eq(ops[2].found, 0);
	tmp_cleanup();
}

Test(cfg_edit, remove_and_comment_out)
{
	pm_cfg_edit_op rm[] = { { "mydestination", NULL, 0 },
		{ "smtpd_banner", NULL, 0 }, { "absent", NULL, 0 } };
	pm_cfg_edit_op co[] = { { "mydestination", NULL, 0 } };

	edit_expect(rm, 3, PM_CFG_EDIT_REMOVE,
	    "# Postmesh main.cf\n"
	    "\n"
	    "myhostname = mx.example.com\n"
	    "# inside the value\n"
	    "relayhost=[smarthost]:587\n"
	    "  # indented comment\n");
	cr_assert_eq(rm[2].found, 0);
	edit_expect(co, 1, PM_CFG_EDIT_COMMENT,
	    "# Postmesh main.cf\n"
	    "\n"
	    "myhostname = mx.example.com\n"
	    "#mydestination = $myhostname,\n"
	    "#    localhost.$mydomain,\n"
	    "# inside the value\n"
	    "#\tlocalhost\n"
	    "relayhost=[smarthost]:587\n"
	    "  # indented comment\n"
	    "smtpd_banner = $myhostname ESMTP");
	tmp_cleanup();
}

Test(cfg_edit, every_occurrence_and_prefix_names)
{
	const char *path = write_maincf("a = 1\nab = 2\na=3\n", 0);
	pm_cfg_edit_op ops[] = { { "a", "9", 0 } };
	char *err = NULL, *got;

	cr_assert_eq(pm_cfg_edit(path, ops, 1, PM_CFG_EDIT_SET, &err), 0);
	cr_assert_eq(ops[0].found, 2);
	got = slurp(path);
	cr_assert_str_eq(got, "a = 9\nab = 2\na = 9\n");
	free(got);
	tmp_cleanup();
}

Test(cfg_edit, refusals_change_nothing)
{
	const char *path = write_maincf(ORIG, 0);
	pm_cfg_edit_op nl[] = { { "relayhost", "x\ninjected = 1", 0 } };
	pm_cfg_edit_op bad[] = { { "bad name", "1", 0 } };
	pm_cfg_edit_op ok[] = { { "relayhost", "x", 0 } };
	char *err = NULL, *got, *missing;

	cr_assert_eq(pm_cfg_edit(path, nl, 1, PM_CFG_EDIT_SET, &err),
	    PM_EINVAL);
	cr_assert(strstr(err, "multi-line") != NULL, "%s", err);
	free(err);
	cr_assert_eq(pm_cfg_edit(path, bad, 1, PM_CFG_EDIT_SET, &err),
	    PM_EINVAL);
	free(err);
	got = slurp(path);
	cr_assert_str_eq(got, ORIG);
	free(got);
	missing = pm_asprintf("%s/nodir/main.cf", tmp_dir);
	cr_assert_eq(pm_cfg_edit(missing, ok, 1, PM_CFG_EDIT_SET, &err),
	    PM_EIO);
	free(err);
	free(missing);
	missing = pm_asprintf("%s/other.cf", tmp_dir);
	cr_assert_eq(pm_cfg_edit(missing, ok, 1, PM_CFG_EDIT_SET, &err),
	    PM_EIO);
	cr_assert(strstr(err, "for reading") != NULL, "%s", err);
	free(err);
	cr_assert(access(missing, F_OK) != 0, "missing main.cf created");
	free(missing);
	missing = pm_asprintf("%s/other.cf.tmp", tmp_dir);
	cr_assert(access(missing, F_OK) != 0, "%s left behind", missing);
	free(missing);
	tmp_cleanup();
}

Test(cfg_edit, keeps_mode)
{
	const char *path = write_maincf("a = 1\n", 0);
	pm_cfg_edit_op ops[] = { { "a", "2", 0 } };
	struct stat st;
	char *err = NULL;

	cr_assert_eq(chmod(path, 0640), 0);
	cr_assert_eq(pm_cfg_edit(path, ops, 1, PM_CFG_EDIT_SET, &err), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640);
	tmp_cleanup();
}

/* main.cf -> real.cf (a ConfigMap's link): the link stays, the target
 * is edited; as root, the target's group is kept too. */
Test(cfg_edit, edits_link_target_keeps_owner)
{
	const char *path = write_maincf("a = 1\n", 0);
	pm_cfg_edit_op ops[] = { { "a", "2", 0 } };
	char *real = pm_asprintf("%s/real.cf", tmp_dir), *got, *err = NULL;
	struct stat st;

	cr_assert_eq(rename(path, real), 0);
	cr_assert_eq(symlink("real.cf", path), 0);
	if (geteuid() == 0) {
		cr_assert_eq(chown(real, 0, 12345), 0);
	}
	cr_assert_eq(pm_cfg_edit(path, ops, 1, PM_CFG_EDIT_SET, &err), 0,
	    "edit: %s", err ? err : "");
	cr_assert_eq(lstat(path, &st), 0);
	cr_expect(S_ISLNK(st.st_mode), "the link was replaced");
	got = slurp(real);
	cr_expect_str_eq(got, "a = 2\n");
	cr_assert_eq(stat(real, &st), 0);
	if (geteuid() == 0) {
		cr_expect_eq(st.st_gid, 12345, "group %u",
		    (unsigned) st.st_gid);
	}
	free(got);
	unlink(real);
	free(real);
	tmp_cleanup();
}

typedef struct seen {
	char buf[512];
} seen;

static void
collect(const char *name, const char *value, int known, void *arg)
{
	seen *s = arg;
	size_t len = strlen(s->buf);

	snprintf(s->buf + len, sizeof(s->buf) - len, "%s=%s/%d;", name, value,
	    known);
}

Test(cfg_edit, declare_known_walk_file)
{
	const char *path = write_maincf("zz_declared = file\n"
	                                "myorigin = example.net\n"
	                                "aa_unknown = x\n",
	    0);
	seen s = { { 0 } };
	char *p;

	pm_cfg_reset();
	cr_assert_eq(pm_cfg_load(path), 0);
	cr_assert(pm_cfg_known("myorigin"));
	cr_assert(!pm_cfg_known("zz_declared"));
	cr_assert(!pm_cfg_known("no_such_thing"));
	pm_cfg_declare("zz_declared", "dflt");
	pm_cfg_declare("zz_other", "other $myorigin");
	cr_assert(pm_cfg_known("zz_declared"));
	cr_assert_str_eq(pm_cfg_raw("zz_declared"), "file");
	cr_assert_str_eq(pm_cfg_raw("zz_other"), "other $myorigin");
	p = pm_cfg_get("zz_other");
	cr_assert_str_eq(p, "other example.net");
	free(p);
	pm_cfg_walk_file(collect, &s);
	cr_assert_str_eq(s.buf,
	    "aa_unknown=x/0;myorigin=example.net/1;zz_declared=file/1;");
	pm_cfg_reset();
	tmp_cleanup();
}

Test(cfg_edit, main_path)
{
	char *p;

	p = pm_cfg_main_path("/x/y");
	cr_assert_str_eq(p, "/x/y/main.cf");
	free(p);
	setenv("MAIL_CONFIG", "/mc", 1);
	p = pm_cfg_main_path(NULL);
	cr_assert_str_eq(p, "/mc/main.cf");
	free(p);
	unsetenv("MAIL_CONFIG");
	p = pm_cfg_main_path(NULL);
	cr_assert_str_eq(p, "/etc/postmesh/main.cf");
	free(p);
}
