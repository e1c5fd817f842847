"""sink_server: a scripted SMTP server (aiosmtpd) for the delivery tests.

Run by tests/integration/peers.py as a subprocess of Debian's
/usr/bin/python3 (python3-aiosmtpd):

    sink_server.py --host 127.0.0.1 --port P --dir D [options]

Every accepted message is recorded in D as two files, written before
the 250 reply is sent (tmp file + rename, so a reader never sees half
a message):

    D/<n>.eml    the content exactly as received (dot-unstuffed, CRLF)
    D/<n>.json   {"mail_from", "rcpt_tos", "mail_options", "rcpt_options",
                  "helo", "peer", "eightbit": bool, "seq"}

D/events.log gets one line per SMTP transaction event ("DATA 451",
"RCPT <a> 550" ...), so tests can count attempts, and D/ready is
created once the server listens.

Options:
    --defer-first N     answer "451 4.3.0 try again later" to the first N
                        end-of-DATA (message-level temporary failure),
                        then accept.
    --reject ADDR       answer "550 5.1.1 <ADDR>: Recipient address
                        rejected: User unknown" to RCPT TO:<ADDR>
                        (repeatable; compared case-insensitively).
    --no-8bitmime       do not announce 8BITMIME in the EHLO reply
                        (a message with 8-bit bytes is still accepted
                        and recorded with "eightbit": true, so a test
                        can see the client broke the rule).
    --pipelining        announce PIPELINING (aiosmtpd reads commands
                        in order, so pipelined commands work).
    --smtputf8          announce SMTPUTF8.
    --data-delay S      wait S seconds before the end-of-DATA reply.
    --tls-chain FILE    offer STARTTLS with the key and certificate in
                        FILE (PEM); the .json then says "tls": true for
                        a message received over TLS.

The server stops on SIGTERM.
"""

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP


class Recorder:
    """aiosmtpd handler: scripted replies, records each message."""

    def __init__(self, opts):
        self.opts = opts
        self.dir = opts.dir
        self.reject = {a.lower() for a in opts.reject}
        self.deferred = 0
        self.seq = 0
        self.events = open(os.path.join(self.dir, "events.log"), "a",
                           buffering=1)

    def event(self, text):
        self.events.write(text + "\n")

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        out = []
        for r in responses:
            if self.opts.no_8bitmime and r[4:].upper() == "8BITMIME":
                continue
            out.append(r)
        extra = []
        if self.opts.pipelining:
            extra.append("250-PIPELINING")
        # keep "250 HELP" last
        return out[:-1] + extra + out[-1:]

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address.lower() in self.reject:
            self.event("RCPT <%s> 550" % address)
            return ("550 5.1.1 <%s>: Recipient address rejected: "
                    "User unknown" % address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(rcpt_options)
        self.event("RCPT <%s> 250" % address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if self.opts.data_delay:
            await asyncio.sleep(self.opts.data_delay)
        if self.deferred < self.opts.defer_first:
            self.deferred += 1
            self.event("DATA 451")
            return "451 4.3.0 try again later"
        self.seq += 1
        n = self.seq
        data = envelope.original_content or b""
        meta = {
            "seq": n,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": [list(o) for o in envelope.rcpt_options],
            "helo": session.host_name,
            "peer": list(session.peer) if session.peer else None,
            "eightbit": any(b > 127 for b in data),
            "tls": session.ssl is not None,
        }
        base = os.path.join(self.dir, "%06d" % n)
        for ext, blob in ((".eml", data),
                          (".json", json.dumps(meta).encode())):
            tmp = base + ext + ".tmp"
            with open(tmp, "wb") as f:
                f.write(blob)
            os.rename(tmp, base + ext)
        self.event("DATA 250 %d" % n)
        return "250 2.0.0 Ok: queued as S%06d" % n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--defer-first", type=int, default=0)
    p.add_argument("--reject", action="append", default=[])
    p.add_argument("--no-8bitmime", action="store_true")
    p.add_argument("--pipelining", action="store_true")
    p.add_argument("--smtputf8", action="store_true")
    p.add_argument("--data-delay", type=float, default=0.0)
    p.add_argument("--tls-chain", default="")
    opts = p.parse_args()
    os.makedirs(opts.dir, exist_ok=True)
    handler = Recorder(opts)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    tls = None
    if opts.tls_chain:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(opts.tls_chain)

    def factory():
        return SMTP(handler, hostname="sink.test", decode_data=False,
                    enable_SMTPUTF8=opts.smtputf8, ident="sink_server",
                    tls_context=tls)

    server = loop.run_until_complete(
        loop.create_server(factory, host=opts.host, port=opts.port,
                           reuse_address=True))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    open(os.path.join(opts.dir, "ready"), "w").close()
    loop.run_until_complete(stop.wait())
    server.close()
    loop.run_until_complete(server.wait_closed())
    return 0


if __name__ == "__main__":
    sys.exit(main())
