"""The Grafana dashboard and the alert rules against a live Prometheus
(issue 8, item 4).

The whole stack (smtpd, cleanup, rewrite, qmgr, smtp, bounce, error,
discard, Redis with maxmemory 256mb) relays to a scripted sink that
answers 451 to the first transaction and 550 to one recipient, so sent,
deferred and bounced counters move. Debian's prometheus binary scrapes
every role's metrics port once a second (one job per role,
"postmesh-<role>", as in deploy/compose) and loads
deploy/prometheus/rules.yml. Then:

- every panel query and template variable query of
  deploy/grafana/postmesh.json ($job, $instance and $__rate_interval
  replaced as Grafana does) parses and returns data, and every series
  selector in it (metric name and label matchers, found by
  selectors() below) matches series Prometheus scraped, and its metric
  name is one Prometheus knows;
- every rule of rules.yml loaded and evaluated with health "ok", the
  selectors of the rules match scraped series too, and no alert fires
  on the healthy stack;
- the checker itself reports an unknown metric, an unknown label value
  and a parse error (so a dashboard naming a metric the services do
  not export fails this test);
- qmgr's Redis memory gauges carry what Redis says (maxmemory 256mb).
"""

import json
import os
import re
import shutil
import smtplib
import subprocess
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from peers import PySink
from pmtest import ROOT, DeliveryTest, free_port

DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "postmesh.json")
RULES = os.path.join(ROOT, "deploy", "prometheus", "rules.yml")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

# What Grafana puts in for the variables: "All" of $job and $instance
# (their allValue) and a rate window wide enough for 1 s scrapes.
GRAFANA_VARS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$job": ".*postmesh.*",
    "$instance": ".*",
}

# Identifiers in PromQL that are not metric names (functions and
# aggregations are told by the "(" after them).
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
LABEL_LIST = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# Aggregations may have "by (...)" between the name and the "(".
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar",
                "count", "count_values", "bottomk", "topk", "quantile"}


def grafana_expand(expr):
    for k in sorted(GRAFANA_VARS, key=len, reverse=True):
        expr = expr.replace(k, GRAFANA_VARS[k])
    return expr


def _skip_string(s, i):
    q = s[i]
    i += 1
    while i < len(s) and s[i] != q:
        i += 2 if s[i] == "\\" and q != "`" else 1
    return i + 1


def _skip_group(s, i, open_c, close_c):
    """i at open_c: the index after its matching close_c."""
    depth = 0
    while i < len(s):
        c = s[i]
        if c in "\"'`":
            i = _skip_string(s, i)
            continue
        if c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def selectors(expr):
    """The series selectors of a PromQL expression: 'name', 'name{...}'
    or '{...}' (a __name__ matcher), without range or offset."""
    out = []
    i, n = 0, len(expr)
    pending = None
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c in "\"'`":
            i = _skip_string(expr, i)
        elif c == "[":
            i = _skip_group(expr, i, "[", "]")
        elif c == "{":
            j = _skip_group(expr, i, "{", "}")
            out.append((pending or "") + expr[i:j])
            pending = None
            i = j
        elif c.isalpha() or c in "_:":
            m = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", expr[i:])
            ident = m.group(0)
            i += len(ident)
            while i < n and expr[i].isspace():
                i += 1
            nxt = expr[i] if i < n else ""
            if ident in LABEL_LIST:
                if nxt == "(":
                    i = _skip_group(expr, i, "(", ")")
            elif ident in KEYWORDS or ident in AGGREGATIONS or nxt == "(":
                pass
            elif nxt == "{":
                pending = ident
            else:
                out.append(ident)
        elif c.isdigit() or c == ".":
            m = re.match(r"[0-9.][0-9A-Za-z.]*", expr[i:])
            i += len(m.group(0))
        else:
            i += 1
    return out


def selector_name(sel):
    m = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", sel)
    return m.group(0) if m else None


def dashboard_queries(dash):
    """[(where, PromQL)] of every panel target and variable query
    (label_values(selector, label) gives its selector)."""
    out = []
    panels = []
    for p in dash["panels"]:
        panels.append(p)
        panels.extend(p.get("panels", []))
    for p in panels:
        for t in p.get("targets", []):
            out.append(("panel %r %s" % (p["title"], t.get("refId")),
                        t["expr"]))
    for v in dash["templating"]["list"]:
        if v.get("type") != "query":
            continue
        q = v["query"]
        q = q.get("query") if isinstance(q, dict) else q
        m = re.match(r"^\s*label_values\((.*),\s*([A-Za-z_]\w*)\s*\)\s*$", q)
        out.append(("variable $%s" % v["name"], m.group(1) if m else q))
    return out


class Prometheus:
    """Debian's prometheus on a free loopback port with its own storage,
    scraping the given targets once a second; stopped by PID."""

    def __init__(self, workdir, jobs, rule_files=()):
        self.dir = os.path.join(workdir, "prometheus")
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.port = free_port()
        self.log = os.path.join(self.dir, "prometheus.log")
        self.config = os.path.join(self.dir, "prometheus.yml")
        lines = ["# written by tests/integration/test_dashboard.py",
                 "global:", "  scrape_interval: 1s",
                 "  evaluation_interval: 1s", "rule_files:"]
        lines += ["  - %s" % json.dumps(r) for r in rule_files] or ["  []"]
        lines.append("scrape_configs:")
        for job, target in sorted(jobs.items()):
            lines += ["  - job_name: %s" % json.dumps(job),
                      "    static_configs:",
                      "      - targets: [%s]" % json.dumps(target)]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        if not os.path.exists(PROMETHEUS):
            raise RuntimeError("%s not found: scripts/deps.sh installs "
                               "Debian's prometheus" % PROMETHEUS)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + self.config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited: " + self.text())
            try:
                with urllib.request.urlopen(
                        "http://127.0.0.1:%d/-/ready" % self.port,
                        timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("prometheus not ready: " + self.text())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-3000:]
        except FileNotFoundError:
            return ""

    def api(self, path, **params):
        """The JSON answer of /api/v1/<path>; errors (4xx) too."""
        qs = urllib.parse.urlencode(params, doseq=True)
        url = "http://127.0.0.1:%d/api/v1/%s?%s" % (self.port, path, qs)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            return json.loads(e.read().decode())

    def names(self):
        return set(self.api("label/__name__/values")["data"])

    def check(self, expr, want_data=True):
        """Problems with one expression: parse error, a selector that
        matches no scraped series, a metric name Prometheus does not
        know, no data at all (want_data). [] when all is well."""
        problems = []
        r = self.api("query", query=expr)
        if r.get("status") != "success":
            return ["does not parse or evaluate: %s: %s"
                    % (r.get("errorType"), r.get("error"))]
        if want_data and not r["data"]["result"]:
            problems.append("returns no data")
        names = self.names()
        start = time.time() - 600
        for sel in selectors(expr):
            name = selector_name(sel)
            if name is not None and name not in names:
                problems.append("metric %s is not exported" % name)
                continue
            s = self.api("series", **{"match[]": sel, "start": start})
            if s.get("status") != "success":
                problems.append("selector %s: %s" % (sel, s.get("error")))
            elif not s["data"]:
                problems.append("selector %s matches no series" % sel)
        return problems


class DashboardTest(DeliveryTest):
    PARAMS = {}

    @classmethod
    def start_peers(cls, workdir):
        cls.stack.redis.extra += ["--maxmemory", "256mb"]
        cls.sink = PySink(workdir, name="dashsink", defer_first=1,
                          reject=("nobody@relay.test",)).start()
        cls.peers.append(cls.sink)
        return {"transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:%d}"
                                  % cls.sink.port}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        st = cls.stack
        jobs = {"postmesh-" + n: "127.0.0.1:%d" % st.ports[n + "_metrics"]
                for n in st.names}
        cls.jobs = jobs
        cls.prom = Prometheus(st.tmp, jobs, rule_files=[RULES])
        cls.peers.append(cls.prom)   # stopped with the peers
        try:
            cls.prom.start()
        except Exception:
            cls.tearDownClass()
            raise

    def send(self, rcpts):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as c:
            c.sendmail("sender@client.test", rcpts,
                       b"Subject: dashboard test\r\n\r\nhello\r\n")

    def wait_query(self, expr, timeout=60.0):
        """Wait until expr has a non-empty result; return it."""
        deadline = time.time() + timeout
        while True:
            r = self.prom.api("query", query=expr)
            if r.get("status") == "success" and r["data"]["result"]:
                return r["data"]["result"]
            if time.time() > deadline:
                self.fail("no result for %s: %s\n%s\n%s" % (
                    expr, r, self.prom.text(), self.logs_tail()))
            time.sleep(0.5)

    def ensure_traffic(self):
        """Mail that was sent, deferred and bounced, seen by Prometheus,
        and every target scraped (once per class)."""
        cls = type(self)
        if getattr(cls, "_traffic", False):
            return
        # first transaction: 451 (deferred), then sent on the retry;
        # nobody@ gets 550 (bounced)
        self.send(["ok@relay.test"])
        self.send(["nobody@relay.test"])
        for status in ("sent", "deferred", "bounced"):
            self.wait_query('postmesh_qmgr_recipients_total{status="%s"} > 0'
                            % status)
        self.wait_query('count(up{job=~".*postmesh.*"} == 1) == %d'
                        % len(self.jobs))
        # two scrapes after the last change, so rate() has two points
        time.sleep(3)
        cls._traffic = True

    def test_dashboard_queries(self):
        self.ensure_traffic()
        with open(DASHBOARD) as f:
            dash = json.load(f)
        queries = dashboard_queries(dash)
        self.assertGreater(len(queries), 20)
        problems = []
        for where, expr in queries:
            for p in self.prom.check(grafana_expand(expr)):
                problems.append("%s: %s: %s" % (where, expr, p))
        self.assertEqual(problems, [], "\n".join(problems))

    def test_rules_loaded_and_quiet(self):
        self.ensure_traffic()
        with open(RULES) as f:
            want = sorted(re.findall(r"^\s*- alert: (\w+)", f.read(), re.M))
        self.assertGreater(len(want), 5)
        deadline = time.time() + 30
        while True:
            groups = self.prom.api("rules")["data"]["groups"]
            rules = [r for g in groups if g["name"] == "postmesh"
                     for r in g["rules"]]
            evaluated = [r for r in rules
                         if not r.get("lastEvaluation", "").startswith("0001")]
            if len(evaluated) == len(want) or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(sorted(r["name"] for r in rules), want)
        problems = []
        for r in rules:
            if r.get("health") != "ok" or r.get("lastError"):
                problems.append("%s: health %s: %s" % (
                    r["name"], r.get("health"), r.get("lastError")))
            if r.get("state") != "inactive":
                problems.append("%s is %s on a healthy stack" % (
                    r["name"], r.get("state")))
            for p in self.prom.check(r["query"], want_data=False):
                problems.append("%s: %s" % (r["name"], p))
        self.assertEqual(problems, [], "\n".join(problems))

    def test_checker_finds_bad_queries(self):
        """The check above fails on what it must find."""
        self.ensure_traffic()
        bad = self.prom.check(grafana_expand(
            'sum(rate(postmesh_smtpd_no_such_metric_total'
            '{job=~"$job"}[$__rate_interval]))'))
        self.assertIn("metric postmesh_smtpd_no_such_metric_total is not "
                      "exported", bad)
        bad = self.prom.check('max(postmesh_qmgr_queue_messages'
                              '{queue="no_such_queue"})')
        self.assertTrue(any("matches no series" in p for p in bad), bad)
        bad = self.prom.check('{__name__=~"postmesh_nothing_.+"}')
        self.assertTrue(any("matches no series" in p for p in bad), bad)
        bad = self.prom.check("sum(rate(postmesh_smtpd_sessions_total[1m])")
        self.assertTrue(bad and bad[0].startswith("does not parse"), bad)
        self.assertEqual(self.prom.check("up"), [])

    def test_selectors(self):
        """The selector finder on the shapes the dashboard uses."""
        self.assertEqual(selectors(
            'max by (namespace, job) (sum without (queue) '
            '(a_b{queue=~"x|y", job="}"})) / on (job) group_left (le) '
            'deriv(c[30m:1m]) offset 5m > 0.5 and bool count(x) + '
            '{__name__=~"d_.+"} or histogram_quantile(0.99, e_bucket)'),
            ['a_b{queue=~"x|y", job="}"}', "c", "x", '{__name__=~"d_.+"}',
             "e_bucket"])

    def test_redis_memory_gauges(self):
        """qmgr_gauges.c: INFO memory, as Prometheus scraped it."""
        self.ensure_traffic()
        r = self.wait_query("postmesh_qmgr_redis_maxmemory_bytes")
        self.assertEqual([float(x["value"][1]) for x in r],
                         [256.0 * 1024 * 1024])
        used = self.stack.r().info("memory")["used_memory"]
        r = self.wait_query("postmesh_qmgr_redis_used_memory_bytes")
        got = float(r[0]["value"][1])
        self.assertTrue(used / 4 < got < used * 4,
                        "used_memory: Prometheus %d, Redis %d" % (got, used))


if __name__ == "__main__":
    unittest.main()
