"""pipe_argv's conditional macros and { } grouping (Postfix's pipe(8)
and mac_expand(3); services/pipe/pipe_argv.c).

The whole stack plus one pipe instance (transport "condfilter", one
recipient per command) whose command is a Python script that records
its argv into a JSON file per run. pipe_argv uses ${name?{text}:{text}}
on a per-recipient macro (${extension}), on a per-message one
(${sasl_username}: the mail is sent without AUTH), ${name:text} on a
set value (an empty argument), and "{ -o a b }" grouping (one argument
with spaces). Asserted: the exact argv of a recipient with an extension
and of one without.
"""

import glob
import json
import os
import shutil
import tempfile
import time
import unittest

from pmtest import DeliveryTest

SCRIPT = r'''#!/usr/bin/python3
import json, os, sys
d = os.path.dirname(os.path.abspath(sys.argv[0]))
sys.stdin.buffer.read()
with open(os.path.join(d, "run-%d.json" % os.getpid()), "w") as f:
    json.dump(sys.argv, f)
'''


class PipeMacroTest(DeliveryTest):

    SERVICES = DeliveryTest.SERVICES + ("pipe",)
    PARAMS = {
        "relay_domains": "pipe.test",
        "pipe_transport": "condfilter",
        "pipe_argv": "%(script)s { -o a b } "
                     "${extension?{-e ${extension}}:{-noext}} "
                     "${sasl_username?{-a $sasl_username}:{-anon}} "
                     "${client_helo:nohelo} "
                     "{ helo=${client_helo?{$client_helo}} } "
                     "-- ${recipient}",
        "pipe_user": "nobody",
        "recipient_delimiter": "+",
        "condfilter_destination_recipient_limit": "1",
    }

    @classmethod
    def setUpClass(cls):
        cls.rundir = tempfile.mkdtemp(prefix="pmpipem-")
        os.chmod(cls.rundir, 0o777)
        cls.script = os.path.join(cls.rundir, "record.py")
        with open(cls.script, "w") as f:
            f.write(SCRIPT)
        os.chmod(cls.script, 0o755)
        cls.PARAMS = dict(PipeMacroTest.PARAMS)
        cls.PARAMS["pipe_argv"] = cls.PARAMS["pipe_argv"] % {
            "script": cls.script}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.rundir, ignore_errors=True)

    @classmethod
    def start_peers(cls, workdir):
        return {"transport_maps": "inline:{ pipe.test=condfilter }"}

    def runs(self):
        out = {}
        for p in glob.glob(os.path.join(self.rundir, "run-*.json")):
            with open(p) as f:
                try:
                    argv = json.load(f)
                except ValueError:
                    continue            # being written
            out[argv[-1]] = argv
        return out

    def test_conditionals_and_grouping(self):
        rcpts = ["ann+news@pipe.test", "bob@pipe.test"]
        qid = self.submit("sender@client.test", rcpts,
                          b"From: <sender@client.test>\r\n"
                          b"Subject: macros\r\n\r\nbody\r\n")
        deadline = time.time() + 30
        while len(self.runs()) < 2 and time.time() < deadline:
            time.sleep(0.1)
        got = self.runs()
        self.assertEqual(sorted(got), sorted(rcpts), self.logs_tail())
        self.wait_gone(qid)
        tail = ["-anon", "", "helo=client.test", "--"]
        self.assertEqual(got["ann+news@pipe.test"][1:],
                         ["-o a b", "-e news"] + tail
                         + ["ann+news@pipe.test"])
        self.assertEqual(got["bob@pipe.test"][1:],
                         ["-o a b", "-noext"] + tail + ["bob@pipe.test"])


if __name__ == "__main__":
    unittest.main()
