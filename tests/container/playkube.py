#!/usr/bin/env python3
"""playkube: the Helm chart's rendered workloads under `podman play kube`.

Part of make container-test (tests/container/run.sh). Renders
helm/postmesh with tests/container/values-playkube.yaml, turns the output
into what podman 4.3's play kube runs, starts it on a podman network of
its own, passes mail through it and checks it arrived at a sink pod.

What podman play kube cannot do, and what this script does instead
(nothing else of the rendered objects is changed):
- StatefulSets (qmgr, the bundled Redis) are not supported: each becomes
  a Deployment with the same pod template; its volumeClaimTemplates
  become emptyDir volumes of the same names.
- Services are ignored, so there is no Service DNS: the host names of
  the headless Services in main.cf (<name>.<ns>.svc.<domain>) are
  replaced by the pod names podman's DNS answers (<name>-pod-0).
- podman 4.3 writes a Secret's `data` into its volumes still base64
  encoded (and ignores `stringData`): each Secret becomes a ConfigMap
  <name>-secret with the decoded values, and its volumes configMap
  volumes of the same items.
- podman ignores fsGroup and gives a ConfigMap volume's directory the
  file mode too (defaultMode 0644: a directory nobody may enter): every
  ConfigMap volume gets defaultMode 0755. The credentials are then
  readable by every user of the container (Postmesh warns about it).
- A ConfigMap or Secret volume is a podman volume named after the
  object, filled once: the test removes those volumes before and after.
- Only ConfigMaps and Deployments are passed on (NetworkPolicy,
  PDB, HPA and Service objects are ignored by podman anyway).
- podman 4.3 publishes every containerPort on the host (as hostPort when
  none is given), so the pods' equal ports (9100 ...) would collide:
  each gets a free hostPort on 127.0.0.1; smtpd's SMTP port is the one
  the test sends to.
The test adds one pod of its own: pm-sink, Postfix's smtp-sink from the
peers image, one file per message.

Asserts: every pod's containers run (Postmesh's as uid 10001), every
Postmesh container answers /readyz, and every message sent through
smtpd (unique Message-IDs) is found at the sink exactly once.

Usage: playkube.py HELM [--messages N]; environment: CONTAINERS_CONF,
PM_IMAGE, PM_PEERS_IMAGE.
"""

import argparse
import base64
import json
import os
import re
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VALUES = os.path.join(ROOT, "tests", "container", "values-playkube.yaml")
RELEASE = "pmk"
PEERS = os.environ.get("PM_PEERS_IMAGE", "localhost/postmesh-peers:latest")
IMAGE = os.environ.get("PM_IMAGE", "localhost/postmesh:latest")


def log(msg):
    print("playkube: %s" % msg, flush=True)


def podman(*args, check=True, capture=True, timeout=300):
    r = subprocess.run(["podman"] + list(args), check=False, timeout=timeout,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.STDOUT if capture else None,
                       text=True)
    if check and r.returncode != 0:
        raise RuntimeError("podman %s: exit %d\n%s" % (
            " ".join(args), r.returncode, r.stdout or ""))
    return r


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def render(helm):
    repo, tag = IMAGE.rsplit(":", 1)
    out = subprocess.run(
        [helm, "template", RELEASE, os.path.join(ROOT, "helm", "postmesh"),
         "-f", VALUES, "--set", "image.repository=%s" % repo,
         "--set", "image.tag=%s" % tag],
        check=True, stdout=subprocess.PIPE, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


SECRET_CM = "-secret"


def secret_as_configmap(sec):
    """The same keys and values, decoded, as a ConfigMap"""
    data = {k: base64.b64decode(v).decode()
            for k, v in (sec.get("data") or {}).items()}
    data.update(sec.get("stringData") or {})
    meta = dict(sec["metadata"])
    meta["name"] = meta["name"] + SECRET_CM
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": data}


def to_deployment(sts):
    spec = sts["spec"]
    tmpl = spec["template"]
    vols = tmpl["spec"].setdefault("volumes", [])
    for claim in spec.get("volumeClaimTemplates", []):
        vols.append({"name": claim["metadata"]["name"], "emptyDir": {}})
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": sts["metadata"],
        "spec": {"replicas": 1, "selector": spec["selector"],
                 "template": tmpl},
    }


def service_hosts(docs):
    """headless Service DNS name -> pod name under play kube"""
    hosts = {}
    for d in docs:
        if d["kind"] != "Service":
            continue
        name = d["metadata"]["name"]
        hosts[name] = name + "-pod-0"
    return hosts


def adapt(docs, smtp_port):
    hosts = service_hosts(docs)
    out = []
    for d in docs:
        kind = d["kind"]
        if kind == "StatefulSet":
            d = to_deployment(d)
            kind = "Deployment"
        if kind == "ConfigMap":
            for key, text in d.get("data", {}).items():
                # name.<ns>.svc.<domain> -> the pod podman names
                d["data"][key] = re.sub(
                    r"\b([a-z0-9-]+)\.[a-z0-9-]+\.svc(\.[a-z0-9.-]+)?\b",
                    lambda m: hosts.get(m.group(1), m.group(0)), text)
        elif kind == "Deployment":
            d["spec"]["replicas"] = 1
            for v in d["spec"]["template"]["spec"].get("volumes", []):
                if "secret" in v:
                    sec = v.pop("secret")
                    v["configMap"] = {"name": sec["secretName"] + SECRET_CM}
                    if "items" in sec:
                        v["configMap"]["items"] = sec["items"]
                if "configMap" in v:
                    v["configMap"]["defaultMode"] = 0o755
            for c in d["spec"]["template"]["spec"]["containers"]:
                for p in c.get("ports", []):
                    p["hostPort"] = smtp_port if p.get("name") == "smtp" \
                        else free_port()
                    p["hostIP"] = "127.0.0.1"
        elif kind == "Secret":
            d = secret_as_configmap(d)
        else:
            continue
        out.append(d)
    out.append(sink_deployment())
    return out


def sink_deployment():
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "pm-sink", "labels": {"app": "pm-sink"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "pm-sink"}},
            "template": {
                "metadata": {"labels": {"app": "pm-sink"}},
                "spec": {"containers": [{
                    "name": "sink", "image": PEERS,
                    "imagePullPolicy": "Never",
                    "command": ["/usr/sbin/smtp-sink", "-d", "/sink/%M.",
                                "-u", "peer", "0.0.0.0:2525", "256"],
                    "securityContext": {
                        "runAsUser": 0,
                        "capabilities": {"drop": ["ALL"],
                                         "add": ["SETUID", "SETGID"]}},
                    "volumeMounts": [{"name": "sink", "mountPath": "/sink"}],
                }],
                    "volumes": [{"name": "sink", "emptyDir": {}}]},
            },
        },
    }


def containers():
    """name -> state of every container of the play (not the infra)"""
    r = podman("ps", "-a", "--format", "json")
    states = {}
    for c in json.loads(r.stdout or "[]"):
        name = c["Names"][0] if c.get("Names") else ""
        if c.get("IsInfra") or name.endswith("-infra"):
            continue
        if name.startswith(RELEASE + "-") or name.startswith("pm-sink-"):
            states[name] = c.get("State", "")
    return states


def postmesh_containers():
    return [n for n in containers() if n.startswith(RELEASE + "-postmesh-")
            and "-redis-" not in n]


def wait_ready(timeout):
    deadline = time.time() + timeout
    pending, bad, restarts = [], {}, {}
    while time.time() < deadline:
        states = containers()
        bad = {n: s for n, s in states.items() if s != "running"}
        for n in bad:
            restarts[n] = restarts.get(n, 0) + 1
        looping = {n: c for n, c in restarts.items() if c >= 10}
        if looping:
            raise RuntimeError("containers not running in 10 looks: %s"
                               % looping)
        pending = [n for n in postmesh_containers() if podman(
            "exec", n, "/usr/bin/postmesh", "healthcheck", "readyz",
            check=False).returncode != 0]
        if not bad and not pending and states:
            return
        time.sleep(1)
    raise RuntimeError("not ready after %ds: not running %s, not ready %s"
                       % (timeout, bad, pending))


def send(port, n):
    ids = []
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        for i in range(n):
            mid = "<playkube-%d-%d@client.test>" % (os.getpid(), i)
            msg = ("From: <a@client.test>\r\nTo: <rcpt%d@relay.test>\r\n"
                   "Subject: play kube %d\r\nMessage-ID: %s\r\n\r\n"
                   "through the chart's Deployments\r\n" % (i, i, mid))
            s.sendmail("a@client.test", ["rcpt%d@relay.test" % i], msg)
            ids.append(mid)
    return ids


def sink_ids():
    r = podman("exec", "pm-sink-pod-0-sink", "/bin/sh", "-c",
               "cat /sink/* 2>/dev/null", check=False)
    return re.findall(r"^Message-ID: (<[^>]+>)", r.stdout or "",
                      re.M | re.I)


def cleanup(play, docs):
    """Pods first (play kube --down), then what podman made of the
    ConfigMaps (Secrets included) and emptyDirs: named volumes. Never `volume rm
    -f`: podman 4.3 can deadlock on it while pods still restart."""
    podman("play", "kube", "--down", play, check=False)
    pods = [n for n in podman("pod", "ps", "--format", "{{.Name}}",
                              check=False).stdout.split()
            if n.startswith(RELEASE + "-") or n.startswith("pm-sink-")]
    if pods:
        podman("pod", "rm", "-f", "-t", "2", *pods, check=False)
    vols = set()
    for d in docs:
        name = d["metadata"]["name"]
        if d["kind"] == "ConfigMap":
            vols.add(name)
        elif d["kind"] == "Deployment":
            for v in d["spec"]["template"]["spec"].get("volumes", []):
                if "emptyDir" in v:
                    vols.add(v["name"])
    for v in sorted(vols):
        podman("volume", "rm", v, check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("helm")
    ap.add_argument("--messages", type=int, default=50)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()

    t0 = time.time()
    port = free_port()
    docs = adapt(render(a.helm), port)
    kinds = {}
    for d in docs:
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
    log("rendered and adapted: %s" % kinds)
    tmp = tempfile.mkdtemp(prefix="pm-playkube-")
    play = os.path.join(tmp, "play.yaml")
    with open(play, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    net = "pm-playkube-%d" % os.getpid()
    cleanup(play, docs)  # what an interrupted run may have left
    podman("network", "create", net)
    ok = False
    try:
        r = podman("play", "kube", "--network", net, play, check=False,
                   timeout=600)
        if r.returncode != 0:
            raise RuntimeError("podman play kube failed:\n%s" % r.stdout)
        wait_ready(180)
        log("every pod running and ready after %.1f s" % (time.time() - t0))
        for n in postmesh_containers():
            uid = podman("exec", n, "/usr/bin/id", "-u").stdout.strip()
            if uid != "10001":
                raise RuntimeError("%s runs as uid %s, want 10001" % (n, uid))
        log("every Postmesh container runs as uid 10001: %s"
            % " ".join(sorted(postmesh_containers())))
        sent = send(port, a.messages)
        deadline = time.time() + 120
        got = []
        while time.time() < deadline:
            got = sink_ids()
            if set(sent) <= set(got):
                break
            time.sleep(0.5)
        missing = set(sent) - set(got)
        dups = len(got) - len(set(got))
        if missing:
            raise RuntimeError("%d of %d messages not at the sink"
                               % (len(missing), len(sent)))
        if dups:
            raise RuntimeError("%d duplicates at the sink" % dups)
        log("%d messages through smtpd, all at the sink once (%.1f s)"
            % (len(sent), time.time() - t0))
        ok = True
    finally:
        if not ok:
            for n in sorted(containers()):
                r = podman("logs", "--tail", "15", n, check=False)
                print("---- %s\n%s" % (n, r.stdout), file=sys.stderr)
        if not a.keep:
            cleanup(play, docs)
            podman("network", "rm", "-f", net, check=False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
