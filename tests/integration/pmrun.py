"""pmrun: run the integration tests; a skipped test fails the run.

    pmrun.py [name ...]

Runs the named tests (modules, classes or test ids, as `python3 -m
unittest` takes them), or every test_*.py in the current directory,
verbosely. The run fails (exit 1) when a test fails or errs, and also
when a test is skipped (skipTest, skipUnless, SkipTest in setUpClass)
unless tests/optional.txt (or the file named by $PM_TEST_OPTIONAL)
lists it as optional with a reason: a test that does not run proves nothing, and a skip that nobody
reads is how a broken peer or a missing package goes unnoticed in CI.
"""

import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OPTIONAL = os.path.join(HERE, "..", "optional.txt")


def load_optional(path):
    """{id: reason} from the optional list; a line without a reason is
    an error (the list says why, or the test is not optional)."""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if len(parts) < 2:
                raise SystemExit("%s:%d: %r has no reason" % (path, n, line))
            out[parts[0]] = parts[1]
    return out


def skipped_id(test):
    """The id of a skipped test; a skip in setUpClass/setUpModule is
    reported as "setUpClass (module.Class)": give module.Class."""
    tid = test.id()
    m = re.match(r"^set[Uu]p\w* \((.*)\)$", tid)
    return m.group(1) if m else tid


def is_optional(tid, optional):
    return any(tid == o or tid.startswith(o + ".") for o in optional)


def main(argv):
    args = list(argv[1:])
    path = os.environ.get("PM_TEST_OPTIONAL") or DEFAULT_OPTIONAL
    optional = load_optional(path)
    loader = unittest.TestLoader()
    if args:
        suite = loader.loadTestsFromNames(args)
    else:
        suite = loader.discover(".", pattern="test_*.py")
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    bad = []
    for test, reason in result.skipped:
        tid = skipped_id(test)
        if is_optional(tid, optional):
            print("optional skip: %s: %s" % (tid, reason))
        else:
            bad.append((tid, reason))
    for tid, reason in bad:
        print("FAIL: skipped and not in %s: %s (%s)"
              % (os.path.relpath(path), tid, reason))
    if bad:
        print("%d skipped test(s) not listed as optional" % len(bad))
    return 0 if result.wasSuccessful() and not bad else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
