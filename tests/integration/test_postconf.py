"""postconf (operator command): show and edit main.cf as Postfix's postconf.

The real build/bin/postconf against temporary main.cf files. Asserted:
- `postconf -d` lists exactly the parameters of docs/configuration.md
  with the same defaults, row by row, and the same as every service's
  own `-d` output (scripts/gen-config-doc.sh run against the binaries);
- `postconf` shows every parameter with its effective value, as
  written ($name not expanded); `-x` expands; `postconf name ...` and
  `-h name` (value only); `-n` only the names set in main.cf;
- precedence as in the services: POSTMESH_<name> beats -o, which
  beats main.cf; -d ignores all three; `-c dir` and $MAIL_CONFIG pick the main.cf;
- an unknown name: "postconf: warning: foo: unknown parameter" on
  stderr, exit 0 (as Postfix); a main.cf setting no service knows:
  "unused parameter: foo=bar"; warnings are "postconf: warning: ..."
  on stderr, never on stdout;
- `postconf -e 'name = value'` and `postconf name=value` replace a
  definition together with its continuation lines and keep comments,
  blank lines and every other line byte for byte; new names are
  appended; `-X` removes, `-#` comments out; main.cf is replaced by a
  rename (a new inode, no main.cf.tmp left); a multi-line value, a bad
  name and a missing main.cf exit 1 and change nothing; 20 editors at
  once lose no change (a lock on main.cf.tmp); a symlinked main.cf
  (main.cf -> ..data/main.cf) stays a link and its target is edited;
  as root, the edited file keeps its owner, group and mode.
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from pmtest import BIN, ROOT

POSTCONF = os.path.join(BIN, "postconf")

MAIN_CF = """\
# Postmesh main.cf for test_postconf
myhostname = mx.example.com

mydestination = $myhostname,
    localhost.$mydomain,
# a comment inside the continued value
\tlocalhost
relayhost=[smarthost.example]:587
  # an indented comment
no_such_parameter = 42
smtpd_banner = $myhostname ESMTP
"""


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("POSTMESH_") and k != "MAIL_CONFIG"}
    env.update(extra)
    return env


def doc_rows():
    rows = {}
    with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
        for line in f:
            m = re.match(r"^\| `([A-Za-z0-9_]+)` \| `(.*)` \| [^`]*\|$",
                         line.rstrip("\n"))
            if m:
                rows[m.group(1)] = m.group(2).replace("\\|", "|")
    return rows


class PostconfTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pm_postconf_")
        self.cf = os.path.join(self.dir, "main.cf")
        with open(self.cf, "w") as f:
            f.write(MAIN_CF)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_pc(self, *args, env=None, config=True):
        argv = [POSTCONF] + (["-c", self.dir] if config else []) + list(args)
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=30, env=env or clean_env())

    def lines(self, p):
        return dict(l.split(" =", 1) for l in p.stdout.splitlines())

    def read(self):
        with open(self.cf) as f:
            return f.read()

    # Parameters and defaults.

    def test_defaults_match_reference_and_services(self):
        p = self.run_pc("-d")
        self.assertEqual(p.returncode, 0, p.stderr)
        got = {k: v[1:] if v.startswith(" ") else v
               for k, v in self.lines(p).items()}
        rows = doc_rows()
        self.assertGreater(len(rows), 300)
        self.assertEqual(sorted(got), sorted(rows))
        for name, default in rows.items():
            if default.startswith("(computed: "):
                continue
            self.assertEqual(got[name], default, name)
        # myhostname is computed, fully qualified, as in the services
        self.assertIn(".", got["myhostname"])
        # the services themselves, not only the checked-in reference
        gen = subprocess.run(
            [os.path.join(ROOT, "scripts", "gen-config-doc.sh"), BIN],
            capture_output=True, text=True, timeout=120, cwd=ROOT)
        self.assertEqual(gen.returncode, 0, gen.stderr)
        svc = {}
        for line in gen.stdout.splitlines():
            m = re.match(r"^\| `([A-Za-z0-9_]+)` \| `(.*)` \| [^`]*\|$",
                         line)
            if m:
                svc[m.group(1)] = m.group(2).replace("\\|", "|")
        self.assertEqual(sorted(svc), sorted(got))
        for name, default in svc.items():
            if not default.startswith("(computed: "):
                self.assertEqual(got[name], default, name)

    def test_defaults_ignore_main_cf_and_environment(self):
        env = clean_env(POSTMESH_myorigin="env.example")
        p = self.run_pc("-d", "-o", "relayhost=cmd.example", "myorigin",
                        "relayhost", "smtpd_banner", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.splitlines(), [
            "myorigin = $myhostname", "relayhost =",
            "smtpd_banner = $myhostname ESMTP $mail_name"])
        self.assertNotIn("unused parameter", p.stderr)
        p = self.run_pc("-dx", "smtpd_banner", env=env)
        self.assertRegex(p.stdout, r"^smtpd_banner = \S+\.\S+ ESMTP "
                         r"Postmesh\n$")

    # Showing.

    def test_all_parameters_effective_values_as_written(self):
        p = self.run_pc()
        self.assertEqual(p.returncode, 0, p.stderr)
        got = self.lines(p)
        self.assertEqual(sorted(got), sorted(doc_rows()))
        self.assertEqual(got["myhostname"], " mx.example.com")
        self.assertEqual(got["mydestination"],
                         " $myhostname, localhost.$mydomain, localhost")
        self.assertEqual(got["relayhost"], " [smarthost.example]:587")
        self.assertEqual(got["myorigin"], " $myhostname")
        self.assertNotIn("no_such_parameter", got)
        self.assertIn("postconf: warning: %s: unused parameter: "
                      "no_such_parameter=42" % self.cf, p.stderr)

    def test_named_h_and_x(self):
        p = self.run_pc("relayhost", "myorigin")
        self.assertEqual(p.stdout, "relayhost = [smarthost.example]:587\n"
                                   "myorigin = $myhostname\n")
        p = self.run_pc("-h", "myorigin")
        self.assertEqual(p.stdout, "$myhostname\n")
        p = self.run_pc("-x", "mydestination", "myorigin")
        self.assertEqual(p.stdout,
                         "mydestination = mx.example.com, "
                         "localhost.example.com, localhost\n"
                         "myorigin = mx.example.com\n")
        p = self.run_pc("-hx", "smtpd_banner")
        self.assertEqual(p.stdout, "mx.example.com ESMTP\n")
        p = self.run_pc("-o", "myorigin=override.example", "-x", "myorigin")
        self.assertEqual(p.stdout, "myorigin = override.example\n")
        # the library's warnings are Postfix command lines on stderr
        p = self.run_pc("-x", "-o", "relayhost=$nothere", "relayhost")
        self.assertEqual(p.stdout, "relayhost =\n")
        self.assertIn("postconf: warning: undefined parameter: $nothere",
                      p.stderr)

    def test_n_only_main_cf(self):
        p = self.run_pc("-n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout,
                         "mydestination = $myhostname, "
                         "localhost.$mydomain, localhost\n"
                         "myhostname = mx.example.com\n"
                         "relayhost = [smarthost.example]:587\n"
                         "smtpd_banner = $myhostname ESMTP\n")
        self.assertIn("unused parameter: no_such_parameter=42", p.stderr)

    def test_environment_overrides_main_cf(self):
        env = clean_env(POSTMESH_relayhost="[env.example]",
                        POSTMESH_no_such_env="1")
        p = self.run_pc("relayhost", env=env)
        self.assertEqual(p.stdout, "relayhost = [env.example]\n")
        self.assertIn("postconf: warning: environment: unused parameter: "
                      "no_such_env=1", p.stderr)
        p = self.run_pc("-o", "relayhost=cmd.example", "relayhost", env=env)
        self.assertEqual(p.stdout, "relayhost = [env.example]\n")
        p = self.run_pc("-o", "relayhost=cmd.example", "relayhost")
        self.assertEqual(p.stdout, "relayhost = cmd.example\n")

    def test_config_dir_sources(self):
        # MAIL_CONFIG, as the services
        p = self.run_pc("relayhost", config=False,
                        env=clean_env(MAIL_CONFIG=self.dir))
        self.assertEqual(p.stdout, "relayhost = [smarthost.example]:587\n")
        # -c wins over MAIL_CONFIG
        other = os.path.join(self.dir, "other")
        os.mkdir(other)
        with open(os.path.join(other, "main.cf"), "w") as f:
            f.write("relayhost = other.example\n")
        p = subprocess.run([POSTCONF, "-c", other, "relayhost"],
                           capture_output=True, text=True, timeout=30,
                           env=clean_env(MAIL_CONFIG=self.dir))
        self.assertEqual(p.stdout, "relayhost = other.example\n")
        # a missing main.cf: defaults, with a warning
        p = subprocess.run([POSTCONF, "-c", os.path.join(self.dir, "none"),
                            "relayhost"], capture_output=True, text=True,
                           timeout=30, env=clean_env())
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout, "relayhost =\n")
        self.assertIn("not found", p.stderr)

    def test_unknown_parameter(self):
        p = self.run_pc("foo", "myhostname")
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout, "myhostname = mx.example.com\n")
        self.assertIn("postconf: warning: foo: unknown parameter\n",
                      p.stderr)

    def test_usage_errors(self):
        self.assertEqual(self.run_pc("-Z").returncode, 1)
        self.assertEqual(self.run_pc("-d", "-n").returncode, 1)
        self.assertEqual(self.run_pc("-e", "-X", "a").returncode, 1)

    # Editing.

    def test_edit_replaces_continuation_keeps_comments_appends(self):
        ino = os.stat(self.cf).st_ino
        os.chmod(self.cf, 0o640)
        p = self.run_pc("-e", "mydestination = a.example, b.example",
                        "relayhost=", "myorigin = example.net")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertEqual(self.read(), """\
# Postmesh main.cf for test_postconf
myhostname = mx.example.com

mydestination = a.example, b.example
# a comment inside the continued value
relayhost =
  # an indented comment
no_such_parameter = 42
smtpd_banner = $myhostname ESMTP
myorigin = example.net
""")
        st = os.stat(self.cf)
        self.assertNotEqual(st.st_ino, ino, "not replaced by a rename")
        self.assertEqual(st.st_mode & 0o777, 0o640)
        self.assertEqual(os.listdir(self.dir), ["main.cf"])
        p = self.run_pc("-x", "mydestination", "myorigin")
        self.assertEqual(p.stdout, "mydestination = a.example, b.example\n"
                                   "myorigin = example.net\n")

    def test_edit_keeps_owner_and_symlink(self):
        # ConfigMap style: main.cf -> ..data/main.cf stays a link
        data = os.path.join(self.dir, "..data")
        os.mkdir(data)
        real = os.path.join(data, "main.cf")
        os.rename(self.cf, real)
        os.symlink("..data/main.cf", self.cf)
        if os.geteuid() == 0:   # root editing a root:<group> 0640 main.cf
            os.chown(real, 0, 4242)
            os.chmod(real, 0o640)
        p = self.run_pc("-e", "myorigin = example.net")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.islink(self.cf), "link replaced by a file")
        self.assertIn("myorigin = example.net\n", self.read())
        self.assertEqual(sorted(os.listdir(data)), ["main.cf"])
        if os.geteuid() == 0:
            st = os.stat(real)
            self.assertEqual((st.st_uid, st.st_gid), (0, 4242))
            self.assertEqual(st.st_mode & 0o777, 0o640)

    def test_name_equals_value_without_e(self):
        p = self.run_pc("relayhost=[new.example]:25", "new_unknown=1")
        self.assertEqual(p.returncode, 0, p.stderr)
        text = self.read()
        self.assertIn("\nrelayhost = [new.example]:25\n", text)
        self.assertNotIn("smarthost", text)
        self.assertTrue(text.endswith("new_unknown = 1\n"), text)
        self.assertIn("postconf: warning: %s: unused parameter: "
                      "new_unknown=1" % self.cf, p.stderr)

    def test_remove_and_comment_out(self):
        p = self.run_pc("-X", "mydestination", "no_such_parameter")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.read(), """\
# Postmesh main.cf for test_postconf
myhostname = mx.example.com

# a comment inside the continued value
relayhost=[smarthost.example]:587
  # an indented comment
smtpd_banner = $myhostname ESMTP
""")
        self.assertEqual(self.run_pc("-h", "mydestination").stdout,
                         "$myhostname, localhost.$mydomain, localhost\n")
        p = self.run_pc("-#", "relayhost")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("\n#relayhost=[smarthost.example]:587\n", self.read())
        self.assertEqual(self.run_pc("-n").stdout,
                         "myhostname = mx.example.com\n"
                         "smtpd_banner = $myhostname ESMTP\n")

    def test_concurrent_edits_lose_nothing(self):
        procs = [subprocess.Popen(
            [POSTCONF, "-c", self.dir, "-e", "p_%d = %d" % (i, i)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
            for i in range(20)]
        for p in procs:
            p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0)
        text = self.read()
        for i in range(20):
            self.assertIn("\np_%d = %d\n" % (i, i), text)
        self.assertTrue(text.startswith(MAIN_CF), text)
        self.assertEqual(os.listdir(self.dir), ["main.cf"])

    def test_edit_refusals_change_nothing(self):
        for args in (["-e", "relayhost = a\ninjected = 1"],
                     ["-e", "bad name = 1"],
                     ["-e", "relayhost"],
                     ["-X", "relayhost=1"],
                     ["-e", "# comment = 1"]):
            p = self.run_pc(*args)
            self.assertEqual(p.returncode, 1, args)
            self.assertIn("postconf: fatal: ", p.stderr)
            self.assertEqual(self.read(), MAIN_CF, args)
        # no main.cf: an error as in Postfix (not a new file)
        empty = os.path.join(self.dir, "empty")
        os.mkdir(empty)
        p = subprocess.run([POSTCONF, "-c", empty, "-e", "relayhost = x"],
                           capture_output=True, text=True, timeout=30,
                           env=clean_env())
        self.assertEqual(p.returncode, 1)
        self.assertIn("postconf: fatal: open %s/main.cf for reading" % empty,
                      p.stderr)
        self.assertEqual(os.listdir(empty), [])


if __name__ == "__main__":
    unittest.main()
