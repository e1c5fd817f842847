"""A skipped test fails the test run (issue 6, section 4).

tests/integration/run.sh (what `make test` runs) is copied with its
runner into a scratch directory next to a probe test module that has
one passing and one skipped test: the run must fail and name the
skipped test; once the test is listed in the optional file with a
reason, the run passes; a listing without a reason is refused. The
same for the unit tests: tests/unit/run.sh on a criterion binary with a
skipped test (cr_skip_test), which criterion leaves out of its
"Tested:" count and exit status.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT_RUN = os.path.join(HERE, "..", "unit", "run.sh")

CRITERION_PROBE = r'''
#include <criterion/criterion.h>
Test(probe, runs) { cr_assert(1); }
Test(probe, skipped) { cr_skip_test("peer not installed"); }
'''

PROBE = '''
import unittest


class Probe(unittest.TestCase):

    def test_runs(self):
        pass

    def test_skipped(self):
        self.skipTest("peer not installed")
'''


class SkipPolicyTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pm-runner-")
        for f in ("run.sh", "pmrun.py"):
            if os.path.exists(os.path.join(HERE, f)):
                shutil.copy(os.path.join(HERE, f), self.tmp)
        with open(os.path.join(self.tmp, "test_probe.py"), "w") as f:
            f.write(PROBE)
        self.optional = os.path.join(self.tmp, "optional.txt")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_sh(self, optional_lines):
        with open(self.optional, "w") as f:
            f.write("# probe\n" + "".join(l + "\n" for l in optional_lines))
        env = dict(os.environ, PM_TEST_OPTIONAL=self.optional)
        return subprocess.run([os.path.join(self.tmp, "run.sh")], env=env,
                              capture_output=True, text=True, timeout=120)

    def test_unlisted_skip_fails_the_run(self):
        out = self.run_sh([])
        text = out.stdout + out.stderr
        self.assertNotEqual(out.returncode, 0, "a skipped test passed the "
                            "run:\n" + text)
        self.assertIn("test_probe.Probe.test_skipped", text)
        self.assertIn("peer not installed", text)

    def test_listed_skip_passes(self):
        out = self.run_sh(["test_probe.Probe.test_skipped needs a peer "
                           "that CI lacks"])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        out = self.run_sh(["test_probe.Probe needs a peer that CI lacks"])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_listing_needs_a_reason(self):
        out = self.run_sh(["test_probe.Probe.test_skipped"])
        self.assertNotEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("has no reason", out.stdout + out.stderr)



class UnitSkipPolicyTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pm-unit-runner-")
        src = os.path.join(cls.tmp, "probe.c")
        with open(src, "w") as f:
            f.write(CRITERION_PROBE)
        subprocess.run(["cc", "-o", os.path.join(cls.tmp, "test_probe"), src,
                        "-lcriterion"], check=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_unit(self, optional_lines):
        path = os.path.join(self.tmp, "optional.txt")
        with open(path, "w") as f:
            f.write("".join(l + "\n" for l in optional_lines))
        env = dict(os.environ, PM_TEST_OPTIONAL=path)
        return subprocess.run([UNIT_RUN, self.tmp], env=env,
                              capture_output=True, text=True, timeout=120)

    def test_unlisted_skip_fails(self):
        out = self.run_unit([])
        self.assertNotEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("probe::skipped", out.stdout + out.stderr)

    def test_listed_skip_passes(self):
        out = self.run_unit(["probe::skipped needs a peer that CI lacks"])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)


if __name__ == "__main__":
    unittest.main()
