"""Test certificates made with the openssl command: a test CA, and
server chains (RSA 2048 and ECDSA P-256) signed by it.

make_ca(dir) -> (ca_pem, ca_key)
make_chain(dir, ca, name, kind="rsa", org="Postmesh RSA") -> chain file:
    the private key, the leaf (CN and subjectAltName = name), the CA
    certificate, in the order of smtpd_tls_chain_files.
"""

import os
import subprocess


def _run(args):
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), out.stderr))


def make_ca(d, cn="Postmesh Test CA"):
    os.makedirs(d, exist_ok=True)
    key = os.path.join(d, "ca.key")
    pem = os.path.join(d, "ca.pem")
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
          "-keyout", key, "-out", pem, "-days", "2", "-subj", "/CN=" + cn,
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    return pem, key


def make_chain(d, ca, name, kind="rsa", org=None, tag=None):
    ca_pem, ca_key = ca
    tag = tag or kind
    org = org or ("Postmesh " + kind.upper())
    key = os.path.join(d, tag + ".key")
    csr = os.path.join(d, tag + ".csr")
    crt = os.path.join(d, tag + ".crt")
    if kind == "rsa":
        newkey = ["-newkey", "rsa:2048"]
    else:
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    _run(["openssl", "req", "-new"] + newkey + [
        "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/O=%s/CN=%s" % (org, name),
        "-addext", "subjectAltName=DNS:" + name])
    _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_pem,
          "-CAkey", ca_key, "-CAcreateserial", "-out", crt, "-days", "2",
          "-copy_extensions", "copy"])
    chain = os.path.join(d, tag + ".pem")
    with open(chain + ".tmp", "w") as out:
        for f in (key, crt, ca_pem):
            with open(f) as src:
                out.write(src.read())
    os.replace(chain + ".tmp", chain)
    return chain
