"""peers: real remote peers for the delivery tests, on loopback.

Each helper starts a real program on a free 127.0.0.x port and stops it
by PID (SIGTERM, then SIGKILL):

- SmtpSink: Postfix's smtp-sink (Debian package postfix), every message
  dumped into a directory (-d), one file per transaction with the
  envelope as X-Mail-Args/X-Rcpt-Args headers in front of the content.
- PySink: tests/integration/sink_server.py under Debian's python3 with
  python3-aiosmtpd: scripted replies (451 the first N times, 550 for
  given recipients, no 8BITMIME ...), every message recorded.
- Dns: dnsmasq authoritative for ".test" (other names in .test are
  NXDOMAIN, names outside get REFUSED), with the MX and A records a
  test gives.
- Dovecot: Dovecot's LMTP server delivering into Maildirs under the
  test's directory (passwd-file users), run as root.

Nothing here is a mock: the peers are the programs a deployment talks
to. Helpers never kill by name, only the PIDs they started.
"""

import email
import email.policy
import glob
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import time

from pmtest import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
DNSMASQ = "/usr/sbin/dnsmasq"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def wait_tcp(host, port, timeout=15.0, proc=None, what="peer"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s: nothing on %s:%d after %.0fs"
                       % (what, host, port, timeout))


def wait_for(pred, timeout=30.0, interval=0.1, what="condition"):
    """Poll pred() until it returns a true value; return that value.
    On timeout return the last (false) value; callers assert on it."""
    deadline = time.time() + timeout
    val = pred()
    while not val and time.time() < deadline:
        time.sleep(interval)
        val = pred()
    return val


def _stop_proc(proc, timeout=10):
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _open_dir(path, mode=0o777):
    """A directory an unprivileged peer (user nobody) can write, with
    every parent traversable (mkdtemp makes 0700 directories)."""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    p = os.path.dirname(path)
    while p and p != "/":
        st = os.stat(p)
        if not st.st_mode & 0o001:
            os.chmod(p, st.st_mode | 0o011)
        p = os.path.dirname(p)


class Message:
    """One message a sink received: envelope and content bytes."""

    def __init__(self, mail_from, rcpt_tos, content, meta=None, path=None):
        self.mail_from = mail_from
        self.rcpt_tos = rcpt_tos
        self.content = content
        self.meta = meta or {}
        self.path = path

    @staticmethod
    def _addr(args):
        """"<a@b> SIZE=1" or "a@b" -> "a@b"."""
        if args is None:
            return None
        a = args.strip().split(" ")[0] if args.strip() else ""
        return a[1:-1] if a.startswith("<") and a.endswith(">") else a

    @property
    def sender(self):
        return self._addr(self.mail_from)

    @property
    def recipients(self):
        return [self._addr(r) for r in self.rcpt_tos]

    def parsed(self):
        return email.message_from_bytes(self.content,
                                        policy=email.policy.default)

    def header(self, name):
        return self.parsed().get(name)

    def __repr__(self):
        return "<Message from=%r to=%r %d bytes>" % (
            self.mail_from, self.rcpt_tos, len(self.content))


class SmtpSink:
    """Postfix's smtp-sink dumping each transaction into dir (-d) and
    counting completed ones (-c).

    smtp-sink creates a transaction's file at MAIL FROM, writes it
    through a buffer and closes it at the end of DATA, just before it
    counts the message ("mesg=N" on stdout) and replies 250; an aborted
    transaction's file is removed. So a file is complete once as many
    messages are counted as there are files: count() is the counter,
    messages() waits (briefly) for files and counter to agree."""

    def __init__(self, workdir, host="127.0.0.1", port=None, extra=(),
                 name="smtp-sink"):
        self.host = host
        self.port = port or free_port(host)
        self.dir = os.path.join(workdir, name)
        self.extra = list(extra)
        self.proc = None
        self.log = os.path.join(workdir, name + ".log")
        self.counter = os.path.join(workdir, name + ".count")

    def start(self):
        _open_dir(self.dir)
        args = [SMTP_SINK, "-c"]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        args += ["-d", os.path.join(self.dir, "%Y%m%d%H%M%S.")]
        args += self.extra + ["%s:%d" % (self.host, self.port), "1024"]
        out = open(self.counter, "ab")
        err = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stdout=out, stderr=err)
        out.close()
        err.close()
        wait_tcp(self.host, self.port, proc=self.proc, what="smtp-sink")
        return self

    def stop(self):
        rc = _stop_proc(self.proc)
        self.proc = None
        return rc

    def files(self):
        return sorted(f for f in glob.glob(os.path.join(self.dir, "*"))
                      if os.path.isfile(f))

    def count(self):
        """Completed transactions (smtp-sink's mesg counter)."""
        try:
            with open(self.counter, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - 512))
                data = f.read()
        except FileNotFoundError:
            return 0
        for rec in reversed(data.split(b"\r")):
            if b"mesg=" in rec:
                try:
                    return int(rec.rsplit(b"mesg=", 1)[1].split()[0])
                except (ValueError, IndexError):
                    continue
        return 0

    def settled(self, timeout=5.0):
        """Wait until no transaction is half written (files == count);
        returns the file list."""
        deadline = time.time() + timeout
        files = self.files()
        while len(files) != self.count() and time.time() < deadline:
            time.sleep(0.05)
            files = self.files()
        return files

    def messages(self):
        out = []
        for f in self.settled():
            with open(f, "rb") as fh:
                raw = fh.read()
            out.append(self.parse(raw, f))
        return out

    @staticmethod
    def parse(raw, path=None):
        """Split smtp-sink's X-Mail-Args/X-Rcpt-Args/... prefix (LF line
        ends, added by smtp-sink) from the content as received. smtp-sink
        dumps the content with LF line ends too; content is returned with
        CRLF, as it was on the wire."""
        mail_from, rcpts = None, []
        lines = raw.split(b"\n")
        i = 0
        while i < len(lines):
            ln = lines[i]
            if ln.startswith(b"X-Mail-Args: "):
                mail_from = ln[13:].decode("utf-8", "replace").strip()
            elif ln.startswith(b"X-Rcpt-Args: "):
                rcpts.append(ln[13:].decode("utf-8", "replace").strip())
            elif ln.startswith((b"X-Client-", b"X-Helo-Args:")):
                pass
            elif ln.startswith(b"Received: ") and b"smtp-sink" in (
                    b"\n".join(lines[i:i + 3])):
                # smtp-sink's own Received: header (3 lines)
                i += 1
                while i < len(lines) and lines[i][:1] in (b"\t", b" "):
                    i += 1
                break
            else:
                break
            i += 1
        body = lines[i:]
        # smtp-sink ends the dump with one empty line of its own
        if len(body) >= 2 and body[-1] == b"" and body[-2] == b"":
            body = body[:-1]
        content = b"\r\n".join(body)
        return Message(mail_from, rcpts, content, path=path)


class PySink:
    """tests/integration/sink_server.py (aiosmtpd) with scripted replies."""

    def __init__(self, workdir, host="127.0.0.1", port=None, name="pysink",
                 defer_first=0, reject=(), no_8bitmime=False,
                 pipelining=True, smtputf8=False, data_delay=0.0,
                 tls_chain=None):
        self.host = host
        self.port = port or free_port(host)
        self.dir = os.path.join(workdir, name)
        self.log = os.path.join(workdir, name + ".log")
        self.args = ["--host", host, "--port", str(self.port),
                     "--dir", self.dir, "--defer-first", str(defer_first),
                     "--data-delay", str(data_delay)]
        for r in reject:
            self.args += ["--reject", r]
        if no_8bitmime:
            self.args.append("--no-8bitmime")
        if pipelining:
            self.args.append("--pipelining")
        if smtputf8:
            self.args.append("--smtputf8")
        if tls_chain:
            self.args += ["--tls-chain", tls_chain]
        self.proc = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [PY, os.path.join(HERE, "sink_server.py")] + self.args,
            stdout=out, stderr=subprocess.STDOUT)
        out.close()
        wait_tcp(self.host, self.port, proc=self.proc, what="sink_server")
        return self

    def stop(self):
        rc = _stop_proc(self.proc)
        self.proc = None
        return rc

    def count(self):
        return len(glob.glob(os.path.join(self.dir, "*.json")))

    def messages(self):
        out = []
        for meta_path in sorted(glob.glob(os.path.join(self.dir, "*.json"))):
            with open(meta_path) as f:
                meta = json.load(f)
            eml = meta_path[:-5] + ".eml"
            with open(eml, "rb") as f:
                content = f.read()
            out.append(Message(meta["mail_from"], meta["rcpt_tos"], content,
                               meta, eml))
        return out

    def events(self):
        try:
            with open(os.path.join(self.dir, "events.log")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []


def dns_query(port, name, qtype, host="127.0.0.1", timeout=1.0):
    """One UDP DNS query: (rcode, answer count), or None on timeout."""
    qid = os.getpid() & 0xFFFF
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (host, port))
        try:
            data, _ = s.recvfrom(4096)
        except (socket.timeout, TimeoutError):
            return None
    _id, flags, _qd, an, _ns, _ar = struct.unpack(">HHHHHH", data[:12])
    return flags & 0xF, an


class Dns:
    """dnsmasq on 127.0.0.1:port, authoritative for .test.

    mx: list of (domain, host, preference); a: list of (host, addr);
    txt: list of (name, text) (a DNS list's reason text).
    Use server_param as the value of dns_server."""

    def __init__(self, workdir, mx=(), a=(), txt=()):
        self.port = free_port(udp_too=True)
        self.mx = list(mx)
        self.a = list(a)
        self.txt = list(txt)
        self.log = os.path.join(workdir, "dnsmasq.log")
        self.proc = None

    @property
    def server_param(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        args = [DNSMASQ, "--no-daemon", "--port=%d" % self.port,
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--local=/test/", "--local-ttl=1",
                "--log-queries", "--log-facility=" + self.log,
                "--host-record=ready.test,127.0.0.9"]
        for dom, host, pref in self.mx:
            args.append("--mx-host=%s,%s,%d" % (dom, host, pref))
        for host, addr in self.a:
            args.append("--host-record=%s,%s" % (host, addr))
        for name, text in self.txt:
            args.append("--txt-record=%s,%s" % (name, text))
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dnsmasq exited: %s" % self.proc.returncode)
            r = dns_query(self.port, "ready.test", 1, timeout=0.2)
            if r and r[0] == 0 and r[1] >= 1:
                return self
            time.sleep(0.05)
        raise RuntimeError("dnsmasq does not answer")

    def stop(self):
        rc = _stop_proc(self.proc)
        self.proc = None
        return rc

    def queries(self):
        try:
            with open(self.log, errors="replace") as f:
                return [ln for ln in f if "query[" in ln]
        except FileNotFoundError:
            return []


class Dovecot:
    """Dovecot LMTP on 127.0.0.1:port, Maildirs under <dir>/mail/<user>.

    users: full addresses ("alice@lmtp.test"). As root, Dovecot's master
    delivers as user nobody; as any other user it runs rootless (its
    internal and login users, and the mail uid, are that user), so the
    LMTP tests run in a CI that is not root too."""

    def __init__(self, workdir, users, port=None, name="dovecot",
                 tls_chain=None, addresses=("127.0.0.1",)):
        self.dir = os.path.join(workdir, name)
        self.tls_chain = tls_chain   # PEM: key, certificate (STARTTLS)
        self.addresses = list(addresses)
        self.port = port or free_port()
        self.users = list(users)
        self.proc = None
        self.log = os.path.join(self.dir, "dovecot.log")

    def maildir(self, user):
        return os.path.join(self.dir, "mail", user)

    def start(self):
        for sub in ("run", "state"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        _open_dir(os.path.join(self.dir, "mail"))
        if os.geteuid() == 0:
            uid = gid = 65534    # nobody
            rootless = ""
        else:
            uid, gid = os.geteuid(), os.getegid()
            user = pwd.getpwuid(uid).pw_name
            group = grp.getgrgid(gid).gr_name
            rootless = ("default_internal_user = {u}\n"
                        "default_internal_group = {g}\n"
                        "default_login_user = {u}\n").format(u=user, g=group)
        with open(os.path.join(self.dir, "users"), "w") as f:
            for u in self.users:
                f.write("%s:{PLAIN}unused:%d:%d::%s\n"
                        % (u, uid, gid, self.maildir(u)))
        conf = os.path.join(self.dir, "dovecot.conf")
        ssl = "ssl = no"
        if self.tls_chain:
            ssl = ("ssl = yes\nssl_cert = <{c}\nssl_key = <{c}\n"
                   .format(c=self.tls_chain))
        with open(conf, "w") as f:
            f.write("""# written by tests/integration/peers.py
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols = lmtp
{ssl}
listen = {addrs}
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
service lmtp {{
  inet_listener lmtp {{
    address = {addrs}
    port = {port}
  }}
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
{rootless}""".format(d=self.dir, port=self.port, rootless=rootless,
                      ssl=ssl, addrs=" ".join(self.addresses)))
        out = open(os.path.join(self.dir, "dovecot.out"), "ab")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", conf],
                                     stdout=out, stderr=subprocess.STDOUT)
        out.close()
        for a in self.addresses:
            wait_tcp(a, self.port, proc=self.proc, what="dovecot")
        return self

    def stop(self):
        rc = _stop_proc(self.proc)
        self.proc = None
        return rc

    def delivered(self, user):
        """Contents (bytes) of the messages in user's Maildir new/+cur/."""
        out = []
        for sub in ("new", "cur"):
            for f in sorted(glob.glob(os.path.join(self.maildir(user), sub,
                                                   "*"))):
                with open(f, "rb") as fh:
                    out.append(fh.read())
        return out

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def smtp_source(port, count, sessions=10, sender="src@client.test",
                rcpt="rcpt@relay.test", size=None, host="127.0.0.1",
                timeout=600):
    """Run Postfix's smtp-source: count messages over sessions parallel
    sessions; returns (returncode, output)."""
    args = [SMTP_SOURCE, "-s", str(sessions), "-m", str(count),
            "-f", sender, "-t", rcpt, "-M", "client.test"]
    if size:
        args += ["-l", str(size)]
    args.append("%s:%d" % (host, port))
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


class Dsn:
    """A delivery status notification (RFC 3464) parsed with Python's
    email package: the report, its per-message and per-recipient fields
    (dicts with lower-case names) and the returned message part."""

    def __init__(self, content):
        self.msg = email.message_from_bytes(content,
                                            policy=email.policy.compat32)
        self.content_type = self.msg.get_content_type()
        self.report_type = self.msg.get_param("report-type")
        self.parts = (self.msg.get_payload()
                      if self.msg.is_multipart() else [])
        self.human = None
        self.status_part = None
        self.returned = None
        for p in self.parts:
            ct = p.get_content_type()
            if ct == "message/delivery-status" and self.status_part is None:
                self.status_part = p
            elif ct in ("message/rfc822", "text/rfc822-headers",
                        "message/global", "message/global-headers"):
                self.returned = p
            elif ct == "text/plain" and self.human is None:
                self.human = p
        self.per_message = {}
        self.per_rcpt = []
        if self.status_part is not None:
            blocks = self.status_part.get_payload()
            if isinstance(blocks, list) and blocks:
                self.per_message = self._fields(blocks[0])
                self.per_rcpt = [self._fields(b) for b in blocks[1:]]

    @staticmethod
    def _fields(block):
        return {k.lower(): " ".join(str(v).split())
                for k, v in block.items()}

    def rcpt(self, address):
        """The per-recipient block whose Final-Recipient is address."""
        for r in self.per_rcpt:
            fr = r.get("final-recipient", "")
            if fr.split(";", 1)[-1].strip().lower() == address.lower():
                return r
        return None

    def returned_bytes(self):
        """The returned message (or headers) as bytes, or b""."""
        if self.returned is None:
            return b""
        if self.returned.get_content_type() in ("message/rfc822",
                                                "message/global"):
            inner = self.returned.get_payload()
            if isinstance(inner, list) and inner:
                return inner[0].as_bytes()
        payload = self.returned.get_payload(decode=True)
        return payload or b""


def dsns_for(messages, address):
    """(message, Dsn) for every DSN among messages (a sink's) with a
    per-recipient block for address."""
    out = []
    for m in messages:
        if "multipart/report" not in (m.header("Content-Type") or ""):
            continue
        d = Dsn(m.content)
        if d.rcpt(address) is not None:
            out.append((m, d))
    return out
