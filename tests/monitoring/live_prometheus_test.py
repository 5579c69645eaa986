#!/usr/bin/env python3
"""Runs every dashboard and rule expression of monitoring/ through a real Prometheus.

Starts the fake upstream, a tandem serving a local model plus a provider pointed at the fake,
and Debian's prometheus (loopback, free port, temporary storage) scraping tandem every second
with monitoring/rules loaded; puts a short load through both backends in both protocols; then
sends each expression to Prometheus's HTTP query API. Each must parse, return data (an alert:
its expression without the final threshold), and name only metrics tandem exports.

usage: live_prometheus_test.py TANDEM FAKE_UPSTREAM PROMETHEUS MODEL MONITORING_DIR
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

# ---------------------------------------------------------------------------------------------
# Metrics the dashboard or rules may name before tandem exports them: expressions naming them are
# only checked to parse. Empty: every expression must return data.
NOT_EXPORTED_YET = set()
# ---------------------------------------------------------------------------------------------

# Series Prometheus makes itself for every target.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
RATE_INTERVAL = "1m"  # what Grafana's $__rate_interval becomes here


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child process whose output is collected; `wait_for` finds a line matching a regex."""

    def __init__(self, args, name):
        self.name = name
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     errors="replace")
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def wait_for(self, pattern, timeout=60):
        regex = re.compile(pattern)
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    m = regex.search(line)
                    if m:
                        return m
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name}: no line matching {pattern!r}:\n" + "".join(self.lines[-40:]))
                self.cond.wait(min(left, 0.5))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def http(url, body=None, headers=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def load(tandem):
    """Local and cloud generations, both protocols, streamed and not, plus upstream errors."""
    user = [{"role": "user", "content": "Tell me a story"}]
    statuses = []
    for model in ("stories260K", "fake/fake-model", "fake/error-429", "fake/error-503", "chain", "chain", "chain"):
        for stream in (False, True):
            chat = {"model": model, "messages": user, "max_tokens": 8, "stream": stream}
            statuses.append((model, "openai", stream, http(f"{tandem}/v1/chat/completions", chat)[0]))
            statuses.append((model, "anthropic", stream,
                             http(f"{tandem}/v1/messages", chat, {"anthropic-version": "2023-06-01"})[0]))
    for model, protocol, stream, status in statuses:
        expected_ok = not model.startswith("fake/error")
        if expected_ok and status != 200:
            raise RuntimeError(f"load: {model} {protocol} stream={stream} answered {status}")
    return statuses


def exported_families(metrics_text):
    families = {}
    for line in metrics_text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            families[m.group(1)] = m.group(2)
    return families


def series_names(family, kind):
    if kind == "histogram":
        return {family + "_bucket", family + "_sum", family + "_count"}
    if kind == "summary":
        return {family, family + "_sum", family + "_count"}
    return {family}


def named_metrics(expr):
    """Metric names in a PromQL expression: tandem_* names, recorded level:metric:op names, and
    the few others we use. Label names and values are not metric names: matchers are dropped."""
    without_matchers = re.sub(r"\{[^}]*\}", "", expr)
    without_matchers = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_matchers)
    tokens = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_matchers))
    return {t for t in tokens if t.startswith("tandem_") or ":" in t or t in PROMETHEUS_OWN
            or t == "process_start_time_seconds"}


def base_family(name, families):
    for family, kind in families.items():
        if name in series_names(family, kind):
            return family
    for family in NOT_EXPORTED_YET:
        if name in {family, family + "_bucket", family + "_sum", family + "_count"}:
            return family
    return None


def load_yaml_exprs(path):
    """The expr of every rule in a rules file: a small reader for the layout monitoring/ uses
    (`- record:` / `- alert:` then `expr:` inline or as a `|` block), so no YAML module is needed."""
    rules = []
    current = None
    lines = open(path).read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- (record|alert): (\S+)", line)
        if m:
            current = {"kind": m.group(1), "name": m.group(2)}
            rules.append(current)
        m = re.match(r"(\s*)expr: (.*)$", line)
        if m and current is not None:
            indent = len(m.group(1))
            value = m.group(2).strip()
            if value in ("|", ">", "|-", ">-"):
                block = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                value = " ".join(b for b in block if b)
                current["expr"] = value
                continue
            current["expr"] = value
        i += 1
    return rules


def dashboard_exprs(path):
    dashboard = json.load(open(path))
    exprs = []
    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                exprs.append((panel["title"], target["expr"].replace("$__rate_interval", RATE_INTERVAL)))
            walk(panel.get("panels", []))
    walk(dashboard["panels"])
    return exprs


def without_threshold(expr):
    """An alert's expression without its final comparison with a number: the part that must
    return data even when nothing is wrong."""
    m = re.match(r"^(.*?)\s*(==|!=|>=|<=|>|<)\s*[-+0-9.e]+\s*$", expr, re.S)
    return m.group(1) if m else expr


def main():
    tandem_bin, fake_bin, prometheus_bin, model, monitoring = (os.path.abspath(a) for a in sys.argv[1:6])
    failures = []
    work = tempfile.mkdtemp(prefix="tandem-prometheus-")
    processes = []
    try:
        fake = Process([fake_bin], "fake upstream")
        processes.append(fake)
        fake_url = fake.wait_for(r"listening on (http://\S+)").group(1)
        config = os.path.join(work, "tandem.json")
        with open(config, "w") as f:
            # A rule whose first target always fails (503, retried, then its breaker opens) and
            # whose second, another provider (breakers are per provider), answers: fallbacks,
            # retries and breaker transitions get data.
            # Prices turn the token counts into spend.
            prices = {"fake-model": {"input": 3.0, "output": 15.0}}
            json.dump({"providers": [{"name": "fake", "protocol": "openai", "base_url": fake_url + "/v1",
                                      "models": ["fake-model"], "prices": prices},
                                     {"name": "backup", "protocol": "openai", "base_url": fake_url + "/v1",
                                      "models": ["fake-model"], "prices": prices}],
                       "routing": {"rules": [{"name": "chain", "match": {"exact": "chain"},
                                              "targets": [{"backend": "fake", "model": "error-503"},
                                                          {"backend": "backup", "model": "fake-model"}],
                                              "fallback_on": ["upstream_failure", "breaker_open"]}]}}, f)
        tandem = Process([tandem_bin, "--port", "0", "--model", model, "--config", config], "tandem")
        processes.append(tandem)
        tandem_port = int(tandem.wait_for(r"listening on http://[^:]+:(\d+)").group(1))
        tandem_url = f"http://127.0.0.1:{tandem_port}"

        prometheus_port = free_port()
        rules_dir = os.path.join(monitoring, "rules")
        prometheus_config = os.path.join(work, "prometheus.yml")
        with open(prometheus_config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {os.path.join(rules_dir, 'recording.yml')}
  - {os.path.join(rules_dir, 'alerts.yml')}
scrape_configs:
  - job_name: tandem
    static_configs:
      - targets: ["127.0.0.1:{tandem_port}"]
""")
        prometheus = Process([prometheus_bin, f"--config.file={prometheus_config}",
                              f"--storage.tsdb.path={os.path.join(work, 'data')}",
                              f"--web.listen-address=127.0.0.1:{prometheus_port}"], "prometheus")
        processes.append(prometheus)
        prometheus.wait_for(r"Server is ready to receive web requests", timeout=60)
        api = f"http://127.0.0.1:{prometheus_port}/api/v1"

        def query(expr):
            url = f"{api}/query?" + urllib.parse.urlencode({"query": expr})
            status, body = http(url)
            return status, json.loads(body) if body.startswith("{") else {"status": "error", "error": body}

        # A first scrape before the load, so rates have a starting point; then the load, then
        # enough scrapes (and rule evaluations) after it.
        deadline = time.time() + 60
        while query('up{job="tandem"}')[1].get("data", {}).get("result") in (None, []):
            if time.time() > deadline:
                raise RuntimeError("prometheus never scraped tandem")
            time.sleep(0.5)
        load(tandem_url)
        time.sleep(6)

        metrics_text = http(f"{tandem_url}/metrics")[1]
        families = exported_families(metrics_text)
        recorded = {}  # name -> the metrics its expression names
        expressions = []  # (where, expr, must_have_data_expr)
        for file in ("recording.yml", "alerts.yml"):
            for rule in load_yaml_exprs(os.path.join(rules_dir, file)):
                if "expr" not in rule:
                    failures.append(f"{file}: {rule['name']} has no expr")
                    continue
                if rule["kind"] == "record":
                    recorded[rule["name"]] = named_metrics(rule["expr"])
                    expressions.append((f"{file} {rule['name']}", rule["expr"], rule["expr"]))
                else:
                    expressions.append((f"{file} {rule['name']}", rule["expr"], without_threshold(rule["expr"])))
        for title, expr in dashboard_exprs(os.path.join(monitoring, "grafana", "dashboards", "tandem.json")):
            expressions.append((f"dashboard panel '{title}'", expr, expr))
        # The recorded series are queried like any other.
        for name in sorted(recorded):
            expressions.append((f"recorded series {name}", name, name))

        checked_for_data = 0
        for where, expr, data_expr in expressions:
            names = named_metrics(expr)
            waiting_for_wire11 = set()
            for name in set(names):
                if ":" in name:
                    if name not in recorded:
                        failures.append(f"{where}: {name} is no recording rule")
                        continue
                    # A recorded series has data once the metrics it is computed from do.
                    names = names | recorded[name]
            for name in names:
                if ":" in name:
                    continue
                if name in PROMETHEUS_OWN:
                    continue
                family = base_family(name, families)
                if family is None:
                    failures.append(f"{where}: names {name}, which tandem does not export")
                elif family in NOT_EXPORTED_YET and family not in families:
                    waiting_for_wire11.add(family)
            status, answer = query(expr)
            if answer.get("status") != "success":
                failures.append(f"{where}: does not parse: {answer.get('error')}\n    {expr}")
                continue
            if waiting_for_wire11:
                continue
            status, answer = query(data_expr)
            result = answer.get("data", {}).get("result", [])
            checked_for_data += 1
            if not result:
                failures.append(f"{where}: returns no data\n    {data_expr}")
        print(f"{len(expressions)} expressions parsed; {checked_for_data} returned data "
              f"(the rest wait for {sorted(NOT_EXPORTED_YET - set(families))})")
        if checked_for_data == 0:
            failures.append("no expression was checked for data")
    finally:
        for process in reversed(processes):
            process.stop()
    if failures:
        print("FAILED:\n" + "\n".join("  " + f for f in failures))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
