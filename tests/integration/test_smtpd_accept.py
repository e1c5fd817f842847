"""smtpd out of file descriptors: the listener pauses, it does not spin.

smtpd's descriptor limit is lowered (prlimit on the running process)
to a few more than it holds, then clients connect until accept() fails
with EMFILE while more connections wait in the listen queue. A listener
that stays enabled then wakes at once, forever: 100% of a core and a
warning per wake. Wanted: over 2 s of that state smtpd uses under
0.5 s of CPU and logs a handful of warnings; once the clients close,
the waiting connections are served and a new session gets its 220.
"""

import os
import resource
import socket
import time
import unittest

from pmtest import RawSMTP, StackTest

HEADROOM = 12        # descriptors above what smtpd holds at rest
CLIENTS = 40         # well over HEADROOM: some wait in the listen queue


def cpu_seconds(pid):
    """utime + stime of pid, in seconds (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class AcceptEmfileTest(StackTest):

    def test_pause_on_emfile(self):
        pid = self.stack.svcs["smtpd"].proc.pid
        held = len(os.listdir("/proc/%d/fd" % pid))
        old = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE,
                         (held + HEADROOM, old[1]))
        clients = []
        try:
            for _ in range(CLIENTS):
                s = socket.create_connection(
                    ("127.0.0.1", self.stack.smtp_port), timeout=5)
                clients.append(s)
            # Let smtpd take what it can; the rest stay queued.
            time.sleep(0.5)
            greeted = 0
            for s in clients:
                s.settimeout(0.2)
                try:
                    if s.recv(512).startswith(b"220"):
                        greeted += 1
                except (socket.timeout, TimeoutError):
                    pass
            self.assertLess(greeted, CLIENTS,
                            "every client was served: fds not exhausted")
            warns0 = len(self.stack.log_lines("accept", "smtpd"))
            cpu0 = cpu_seconds(pid)
            time.sleep(2.0)
            cpu = cpu_seconds(pid) - cpu0
            warns = len(self.stack.log_lines("accept", "smtpd")) - warns0
            self.assertLess(cpu, 0.5, "smtpd used %.2fs of CPU in 2s while "
                            "out of descriptors, want < 0.5s" % cpu)
            self.assertLess(warns, 25, "%d accept warnings in 2s" % warns)
            self.assertTrue(self.stack.log_lines("pausing", "smtpd"),
                            "no warning about the paused listener")
        finally:
            for s in clients:
                s.close()
            resource.prlimit(pid, resource.RLIMIT_NOFILE, old)
        # Served again: the queued (closed) clients, then a new one.
        deadline = time.time() + 10
        while True:
            try:
                c = RawSMTP(self.stack.smtp_port, timeout=5)
                code, lines = c.reply()
                break
            except (ConnectionError, OSError):
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.assertEqual(code, 220, lines)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        c.cmd("QUIT")
        c.close()
        self.assertIsNone(self.stack.svcs["smtpd"].proc.poll())


if __name__ == "__main__":
    unittest.main()
