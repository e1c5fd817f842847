#!/usr/bin/env python3
"""load.py: mail load for tests/container/run.sh, sent from the host.

    load.py OUT STOPFILE HOST:PORT [HOST:PORT ...]

Runs THREADS (env LOAD_THREADS, default 3) senders, spread over the
given smtpd addresses, until STOPFILE exists. Each message has a
Message-ID of its own (<load-T-N.RUN@postmesh.test>) and goes to
load@sink.test. A message counts as accepted only when the server
answered 250 to its DATA; every accepted Message-ID is written to OUT,
one per line, when the run ends. A refused message (4xx, connection
lost, timeout) is not retried: the next one gets a new ID. Prints
"sent N accepted A refused R" on stdout.
"""

import os
import smtplib
import sys
import threading
import time

RUN = "%x" % int(time.time())


def sender(tid, addr, stopfile, accepted, counts):
    host, port = addr.rsplit(":", 1)
    n = 0
    conn = None
    while not os.path.exists(stopfile):
        n += 1
        mid = "<load-%d-%d.%s@postmesh.test>" % (tid, n, RUN)
        msg = ("From: load@example.com\r\nTo: load@sink.test\r\n"
               "Subject: load %d-%d\r\nMessage-ID: %s\r\n\r\n"
               "container test load message\r\n" % (tid, n, mid))
        try:
            if conn is None:
                conn = smtplib.SMTP(host, int(port), timeout=20)
                conn.ehlo("load.example.com")
            conn.sendmail("load@example.com", ["load@sink.test"], msg)
            accepted.append(mid)
            counts[tid][0] += 1
        except (smtplib.SMTPException, OSError):
            counts[tid][1] += 1
            try:
                if conn is not None:
                    conn.close()
            except OSError:
                pass
            conn = None
            time.sleep(0.2)
        # a new session now and then, so that both replicas' restarts
        # are seen by live clients
        if conn is not None and n % 50 == 0:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            conn = None
    if conn is not None:
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            pass


def main():
    out, stopfile, addrs = sys.argv[1], sys.argv[2], sys.argv[3:]
    nthreads = int(os.environ.get("LOAD_THREADS", "3"))
    accepted = []
    counts = [[0, 0] for _ in range(nthreads)]
    threads = [threading.Thread(target=sender,
                                args=(t, addrs[t % len(addrs)], stopfile,
                                      accepted, counts))
               for t in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out, "w") as f:
        for mid in accepted:
            f.write(mid + "\n")
    acc = sum(c[0] for c in counts)
    ref = sum(c[1] for c in counts)
    print("sent %d accepted %d refused %d" % (acc + ref, acc, ref))


if __name__ == "__main__":
    main()
