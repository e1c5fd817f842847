"""The environment of a local command (Postfix's local(8) "EXTERNAL
COMMAND DELIVERY"; services/local/local_target.c).

The stack plus local with mailbox_command = a Python script that dumps
its environment as JSON. Mail comes in over SMTP (smtplib), so the
message has client attributes:
- with SMTP AUTH (PLAIN as alice), MAIL FROM ENVID= and AUTH=: the
  command sees CLIENT_ADDRESS, CLIENT_HOSTNAME, CLIENT_HELO,
  CLIENT_PROTOCOL, SASL_METHOD, SASL_USERNAME, SASL_SENDER, ENVID, with
  USER, LOGNAME, HOME, SENDER, RECIPIENT, ORIGINAL_RECIPIENT, LOCAL,
  DOMAIN, EXTENSION; a byte outside command_expansion_filter ("#" in
  the extension, "<" in the ENVID) arrives as "_", as Postfix censors;
- without AUTH and ENVID: no SASL_* and no ENVID variable at all (as
  Postfix, which exports only non-empty values), the CLIENT_* still.
"""

import json
import os
import smtplib
import time
import unittest

from pmtest import DELIVERY_SERVICES, DeliveryTest, queue_id_of
from test_submission import write_passwd

ALICE = 4242

SCRIPT = r'''import json, os, sys
sys.stdin.buffer.read()
out = sys.argv[1]
with open(out + ".tmp", "w") as f:
    json.dump(dict(os.environ), f)
os.rename(out + ".tmp", out)
'''


class LocalEnvTest(DeliveryTest):

    SERVICES = DELIVERY_SERVICES + ("local",)
    PARAMS = {
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_tls_auth_only": "no",
        "smtpd_sasl_type": "crypt",
    }

    @classmethod
    def start_peers(cls, workdir):
        os.chmod(workdir, 0o755)
        cls.out = os.path.join(workdir, "out")
        os.makedirs(cls.out)
        os.chmod(cls.out, 0o777)
        users = os.path.join(workdir, "users")
        with open(users, "w") as f:
            f.write("alice %d:%d:\n" % (ALICE, ALICE))
        script = os.path.join(workdir, "envdump.py")
        with open(script, "w") as f:
            f.write(SCRIPT)
        os.chmod(script, 0o644)
        passwd = os.path.join(workdir, "sasl_passwd")
        write_passwd(passwd)
        return {
            "myorigin": "example.test",
            "local_recipient_maps": "texthash:" + users,
            "recipient_delimiter": "+",
            "mailbox_command": "/usr/bin/python3 %s %s/$sender.json"
                               % (script, cls.out),
            "smtpd_sasl_password_maps": passwd,
        }

    def send(self, sender, rcpt, mail_opts=(), auth=False):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port,
                          timeout=30) as c:
            c.ehlo("helo.client.test")
            if auth:
                c.user, c.password = "alice", "alice-secret"
                code, text = c.auth("PLAIN", c.auth_plain)
                self.assertEqual(code, 235, text)
            code, text = c.mail(sender, list(mail_opts))
            self.assertEqual(code, 250, text)
            code, text = c.rcpt(rcpt)
            self.assertEqual(code, 250, text)
            code, text = c.data(b"From: <sender@client.test>\r\n"
                                b"Subject: env\r\n\r\nbody\r\n")
            self.assertEqual(code, 250, text)
            return queue_id_of(text.decode())

    def env_of(self, sender, qid):
        path = os.path.join(self.out, sender + ".json")
        deadline = time.time() + 30
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.1)
        self.assertTrue(os.path.exists(path), self.logs_tail())
        self.wait_gone(qid)
        with open(path) as f:
            return json.load(f)

    def test_env_with_auth_and_envid(self):
        qid = self.send("s1@client.test", "alice+a#b@example.test",
                        ["ENVID=id+3Cx", "AUTH=alice+2Bs@example.test"],
                        auth=True)
        env = self.env_of("s1@client.test", qid)
        want = {
            "USER": "alice", "LOGNAME": "alice",
            "SENDER": "s1@client.test",
            "RECIPIENT": "alice+a_b@example.test",
            "ORIGINAL_RECIPIENT": "alice+a_b@example.test",
            "LOCAL": "alice+a_b", "DOMAIN": "example.test",
            "EXTENSION": "a_b",
            "CLIENT_ADDRESS": "127.0.0.1",
            "CLIENT_HELO": "helo.client.test",
            "SASL_METHOD": "PLAIN", "SASL_USERNAME": "alice",
            "SASL_SENDER": "alice+s@example.test",
            "ENVID": "id_x",
        }
        self.assertEqual({k: env.get(k) for k in want}, want, env)
        self.assertTrue(env["CLIENT_PROTOCOL"].startswith("ESMTP"), env)
        self.assertNotEqual(env.get("CLIENT_HOSTNAME", ""), "", env)
        self.assertIn("HOME", env)

    def test_env_without_auth(self):
        qid = self.send("s2@client.test", "alice+plain@example.test")
        env = self.env_of("s2@client.test", qid)
        self.assertEqual(env.get("CLIENT_ADDRESS"), "127.0.0.1", env)
        self.assertEqual(env.get("CLIENT_HELO"), "helo.client.test", env)
        self.assertEqual(env.get("CLIENT_PROTOCOL"), "ESMTP", env)
        for k in ("SASL_METHOD", "SASL_USERNAME", "SASL_SENDER", "ENVID"):
            self.assertNotIn(k, env)


if __name__ == "__main__":
    unittest.main()
