"""Long lines relayed within the SMTP line limit (issue 6, item 3a).

RFC 5321 4.5.3.1.6: a text line is at most 1,000 octets including
CRLF (not counting a dot doubled for transparency). The whole stack
relays a message with an unfolded 5,000-octet header and a 5,000-octet
body line (plus lines of exactly 998 and 999 octets and long lines that
start with ".") to aiosmtpd (tests/integration/sink_server.py), which
records the content as received, dot-unstuffed. Every received line
must be at most 998 octets plus CRLF (smtp_line_length_limit = 998,
Postfix's default), and removing the "<CR><LF><SPACE>" the smtp agent
inserted gives back the content as sent, byte for byte.
"""

import unittest

from peers import PySink
from pmtest import DeliveryTest


def pattern(n, salt=0):
    """n octets of letters and digits that do not repeat every line, so
    a lost, doubled or moved piece changes the content."""
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
    return bytes(alphabet[(i * 7 + i // 36 + salt) % 36] for i in range(n))


LONG_HEADER = b"X-Long-Header: " + pattern(5000)
BODY = (pattern(5000, 1) + b"\r\n"
        + b"." + pattern(2999, 2) + b"\r\n"        # starts with "."
        + pattern(998, 3) + b"\r\n"                # exactly the limit
        + pattern(999, 4) + b"\r\n"                # one over
        + pattern(998, 5) + b"." + pattern(5, 6) + b"\r\n"  # "." after a break
        + b"last line\r\n")
MSG = (b"From: <sender@client.test>\r\n"
       b"To: <rcpt@long.test>\r\n"
       b"Subject: long lines\r\n"
       b"Message-ID: <long-1@client.test>\r\n"
       + LONG_HEADER + b"\r\n"
       b"\r\n" + BODY)


class LongLineTest(DeliveryTest):
    """smtp_line_length_limit (default 998) on the wire."""

    @classmethod
    def start_peers(cls, workdir):
        cls.sink = PySink(workdir, name="long").start()
        cls.peers.append(cls.sink)
        return {
            "transport_maps": "inline:{long.test=smtp:[127.0.0.1]:%d}"
                              % cls.sink.port,
        }

    def test_long_lines_broken_and_restorable(self):
        qid = self.submit("sender@client.test", ["rcpt@long.test"], MSG)
        msgs = self.wait_count(self.sink, 1)
        got = msgs[0].content
        lines = got.split(b"\r\n")
        self.assertEqual(lines[-1], b"", "content ends with CRLF")
        for i, line in enumerate(lines[:-1]):
            self.assertLessEqual(
                len(line) + 2, 1000,
                "line %d is %d octets with CRLF, want at most 1000: %r..."
                % (i, len(line) + 2, line[:60]))
        # The original lines had no leading space, so every CRLF SPACE
        # in the content is a break the agent inserted.
        restored = got.replace(b"\r\n ", b"")
        self.assertTrue(restored.endswith(MSG),
                        "content after undoing the breaks differs:\n"
                        "got  %r\nwant ...%r" % (restored[-300:], MSG[-300:]))
        # The header stayed a header: its pieces are continuation lines.
        head = got.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        start = [i for i, ln in enumerate(head)
                 if ln.startswith(b"X-Long-Header: ")]
        self.assertEqual(len(start), 1, head)
        self.assertTrue(all(ln.startswith(b" ")
                            for ln in head[start[0] + 1:start[0] + 6]),
                        "the header's pieces are not continuation lines")
        # A line of exactly 998 octets goes out whole.
        self.assertIn(b"\r\n" + pattern(998, 3) + b"\r\n", got)
        self.wait_log("%s: removed" % qid, ("qmgr",))


if __name__ == "__main__":
    unittest.main()
