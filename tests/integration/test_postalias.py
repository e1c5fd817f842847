"""postalias and newaliases (issue 11): aliases files into redis: tables.

A real redis-server and a real aliases file (comments, continuation
lines, a quoted name, every kind of target: addresses, \\user, a quoted
local part, |command quoted and not, /file, a maildir/, :include:).
Asserted:
- `postalias texthash:FILE` checks the file: exit 0, no warnings;
- `postalias redis:pm:alias: FILE` loads it: one key per name, the
  value the text of the file's value (continuation lines joined);
- `postalias -q key` answers from the redis: table and from the
  texthash: file alike (keys case-folded); an unknown key exits 1;
- a bad line is reported as "FILE, line N: reason" with exit 1, and
  Redis is not changed by a file with errors;
- a reload after an alias was removed removes it from Redis and leaves
  keys outside the prefix alone;
- Redis down: loading and querying exit 75 (EX_TEMPFAIL), never 0 or
  "not found";
- newaliases loads every table of alias_database.
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from pmtest import BIN, RedisServer

ALIASES = """\
# Postmesh test aliases
MAILER-DAEMON: postmaster
postmaster: root

Root: admin@example.com, \\root
staff: alice,
\tbob@example.com,
# a comment inside a continued value
  "|/usr/bin/logger -t staff",
  /var/log/staff.log, /var/mail/staff/,
  :include:/etc/postmesh/staff.list
"Mail Admin": "john doe"@example.com
pipe: |/usr/bin/procmail
"""

WANT = {
    "mailer-daemon": "postmaster",
    "postmaster": "root",
    "root": "admin@example.com, \\root",
    "staff": 'alice, bob@example.com, "|/usr/bin/logger -t staff", '
             "/var/log/staff.log, /var/mail/staff/, "
             ":include:/etc/postmesh/staff.list",
    "mail admin": '"john doe"@example.com',
    "pipe": "|/usr/bin/procmail",
}


class PostaliasTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pm-postalias-")
        cls.redis = RedisServer(cls.dir).start()
        cls.conf = os.path.join(cls.dir, "conf")
        os.makedirs(cls.conf)
        cls.aliases = os.path.join(cls.dir, "aliases")
        cls.write_conf()

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def write_conf(cls, extra=""):
        with open(os.path.join(cls.conf, "main.cf"), "w") as f:
            f.write("redis_server = %s\nredis_timeout = 2s\n%s"
                    % (cls.redis.addr, extra))

    def setUp(self):
        self.redis.client().flushall()
        self.write_conf()
        with open(self.aliases, "w") as f:
            f.write(ALIASES)

    def run_cmd(self, name, *args):
        p = subprocess.run([os.path.join(BIN, name), "-c", self.conf]
                           + list(args), capture_output=True, text=True,
                           timeout=60)
        return p.returncode, p.stdout, p.stderr

    def postalias(self, *args):
        return self.run_cmd("postalias", *args)

    def redis_table(self, prefix="pm:alias:"):
        r = self.redis.client()
        return {k.decode()[len(prefix):]: r.get(k).decode()
                for k in r.scan_iter(match=prefix + "*")}

    def test_check_texthash(self):
        rc, out, err = self.postalias("texthash:" + self.aliases)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("warning", err)
        # a bare file name is texthash: too
        rc, out, err = self.postalias(self.aliases)
        self.assertEqual(rc, 0, err)

    def test_load_and_query(self):
        rc, out, err = self.postalias("redis:pm:alias:", self.aliases)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.redis_table(), WANT)
        for table in ("redis:pm:alias:", "texthash:" + self.aliases):
            for key, want in (("staff", WANT["staff"]), ("ROOT", WANT["root"]),
                              ("Mail Admin", WANT["mail admin"])):
                rc, out, err = self.postalias("-q", key, table)
                self.assertEqual((rc, out), (0, want + "\n"),
                                 "%s %s: %s" % (table, key, err))
            rc, out, err = self.postalias("-q", "nobody", table)
            self.assertEqual((rc, out), (1, ""), err)
        # the first table that knows the key answers
        rc, out, _ = self.postalias("-q", "pipe", "redis:nothing:",
                                    "redis:pm:alias:")
        self.assertEqual((rc, out), (0, "|/usr/bin/procmail\n"))

    def test_bad_line_reported_and_not_loaded(self):
        self.assertEqual(self.postalias("redis:pm:alias:", self.aliases)[0], 0)
        bad = os.path.join(self.dir, "bad-aliases")
        with open(bad, "w") as f:
            f.write(ALIASES.replace("pipe: |/usr/bin/procmail",
                                    "pipe: |/usr/bin/procmail\n"
                                    "broken line here\n"
                                    'quote: "unterminated'))
        lines = ALIASES.count("\n")
        rc, out, err = self.postalias("texthash:" + bad)
        self.assertEqual(rc, 1, err)
        self.assertIn("%s, line %d: unquoted white space in name"
                      % (bad, lines + 1), err)
        self.assertIn("%s, line %d: unbalanced quote" % (bad, lines + 2), err)
        rc, out, err = self.postalias("redis:pm:alias:", bad)
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, r"redis:pm:alias: not changed")
        self.assertEqual(self.redis_table(), WANT)

    def test_reload_removes_gone_alias(self):
        r = self.redis.client()
        r.set("pm:aliasX", "other")  # not under the prefix
        self.assertEqual(self.postalias("redis:pm:alias:", self.aliases)[0], 0)
        with open(self.aliases, "w") as f:
            f.write(re.sub(r"(?m)^pipe:.*\n", "", ALIASES))
        rc, out, err = self.postalias("redis:pm:alias:", self.aliases)
        self.assertEqual(rc, 0, err)
        want = dict(WANT)
        del want["pipe"]
        self.assertEqual(self.redis_table(), want)
        self.assertEqual(r.get("pm:aliasX"), b"other")
        rc, out, _ = self.postalias("-q", "pipe", "redis:pm:alias:")
        self.assertEqual((rc, out), (1, ""))

    def test_newaliases(self):
        self.write_conf("alias_maps = redis:pm:alias:\n"
                        "alias_database = redis:pm:alias: %s\n" % self.aliases)
        rc, out, err = self.run_cmd("newaliases")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.redis_table(), WANT)
        # default: alias_database = $alias_maps, each file checked
        self.write_conf("alias_maps = texthash:%s\n" % self.aliases)
        with open(self.aliases, "a") as f:
            f.write("oops\n")
        rc, out, err = self.run_cmd("newaliases")
        self.assertEqual(rc, 1, err)
        self.assertIn("%s, line %d: need name:value pair"
                      % (self.aliases, ALIASES.count("\n") + 1), err)


class PostaliasRedisDownTest(unittest.TestCase):
    def test_redis_down_is_tempfail(self):
        d = tempfile.mkdtemp(prefix="pm-postalias-down-")
        try:
            redis_srv = RedisServer(d).start()
            addr = redis_srv.addr
            redis_srv.stop()
            conf = os.path.join(d, "conf")
            os.makedirs(conf)
            with open(os.path.join(conf, "main.cf"), "w") as f:
                f.write("redis_server = %s\nredis_timeout = 1s\n" % addr)
            src = os.path.join(d, "aliases")
            with open(src, "w") as f:
                f.write(ALIASES)
            for args in (["redis:pm:alias:", src],
                         ["-q", "root", "redis:pm:alias:"]):
                p = subprocess.run([os.path.join(BIN, "postalias"), "-c",
                                    conf] + args, capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual(p.returncode, 75, p.stderr)
                self.assertEqual(p.stdout, "")
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
