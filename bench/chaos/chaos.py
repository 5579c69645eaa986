#!/usr/bin/env python3
"""Chaos run: tandem with a local model and two fake providers that flip between healthy,
failing, throttling, stalling and cutting streams, under concurrent streaming load.

    bench/chaos/chaos.py --build build --model models/stories260K.gguf --duration 180

Starts two `tandem-fake-upstream --cycle ...` processes (out of phase), writes a config whose rule
"chaos" is local-first (SLO: queue <= 2) then provider p1 then p2, starts tandem, and runs N
client threads sending streamed requests (OpenAI and Anthropic protocol, alternately) for the
duration. Each answer is checked: status, who answered (x-tandem-backend), fallbacks, time to
first content, an in-band error, exactly one start and one end, a provider's text exactly once.
A client backs off after an error answer (retry-after, at most 1 s), as the SDKs do. Prints a
Markdown table; exit 1 when anything was duplicated or truncated.
"""
import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

FAKE_TEXT = "Hello from the fake upstream."


def start(cmd, log):
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    return proc


def wait_port(path, pattern=r"listening on http://127\.0\.0\.1:(\d+)", timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path, "r", errors="replace") as f:
            m = re.search(pattern, f.read())
            if m:
                return int(m.group(1))
        time.sleep(0.1)
    raise RuntimeError("no 'listening on' line in " + path)


def config(p1, p2):
    provider = lambda name, port: {
        "name": name, "protocol": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "models": ["m"],
        "timeouts": {"connect": 2, "headers": 2, "idle": 3},
        "retry": {"max_attempts": 2, "base_delay_ms": 100, "max_delay_ms": 400, "max_retry_after_ms": 1000},
        "breaker": {"consecutive_failures": 3, "cooldown_ms": 3000, "half_open_probes": 1, "half_open_successes": 2},
    }
    return {
        "providers": [provider("p1", p1), provider("p2", p2)],
        "routing": {"rules": [{"name": "chaos", "match": {"exact": "chaos"}, "targets": [
            {"backend": "local", "model": "stories260K", "slo": {"max_queue": 2}},
            {"backend": "p1", "model": "m"}, {"backend": "p2", "model": "m"}]}]},
    }


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.answered = 0
        self.by_fallback = 0
        self.by_backend = {}
        self.in_band = 0
        self.protocol_errors = {}
        self.transport = 0
        self.duplicated = 0
        self.truncated = 0
        self.ttft = []

    def add(self, **kw):
        with self.lock:
            self.requests += 1
            for key, value in kw.items():
                if key == "status" and value != 200:
                    self.protocol_errors[value] = self.protocol_errors.get(value, 0) + 1
                elif key == "backend" and value:
                    self.by_backend[value] = self.by_backend.get(value, 0) + 1
                elif key == "ttft" and value is not None:
                    self.ttft.append(value)
                elif key in ("answered", "by_fallback", "in_band", "duplicated", "truncated", "transport") and value:
                    setattr(self, key, getattr(self, key) + 1)


def one_request(port, protocol, stats):
    if protocol == "openai":
        path, body, headers = "/v1/chat/completions", {"model": "chaos", "stream": True, "max_tokens": 24,
                                                       "messages": [{"role": "user", "content": "Once upon a time"}]}, {}
    else:
        path, body, headers = "/v1/messages", {"model": "chaos", "stream": True, "max_tokens": 24,
                                               "messages": [{"role": "user", "content": "Once upon a time"}]}, {"anthropic-version": "2023-06-01"}
    headers["content-type"] = "application/json"
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, json.dumps(body), headers)
        resp = conn.getresponse()
        backend = resp.getheader("x-tandem-backend", "")
        fallbacks = resp.getheader("x-tandem-fallbacks", "")
        if resp.status != 200:
            resp.read()
            stats.add(status=resp.status)
            # Back off as the SDKs do (they honour retry-after), at most a second.
            try:
                time.sleep(min(1.0, float(resp.getheader("retry-after", "0.2"))))
            except ValueError:
                time.sleep(0.2)
            return
        starts = ends = 0
        in_band = False
        ttft = None
        text = ""
        event = ""
        for raw in resp:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("event:"):
                event = line[6:].strip()
                continue
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                ends += 1
                continue
            try:
                obj = json.loads(data)
            except ValueError:
                continue
            if protocol == "openai":
                if "error" in obj:
                    in_band = True
                    continue
                for choice in obj.get("choices", []):
                    delta = choice.get("delta", {})
                    if delta.get("role"):
                        starts += 1
                    if delta.get("content"):
                        if ttft is None:
                            ttft = time.monotonic() - started
                        text += delta["content"]
            else:
                kind = obj.get("type", event)
                if kind == "message_start":
                    starts += 1
                elif kind == "message_stop":
                    ends += 1
                elif kind == "error":
                    in_band = True
                elif kind == "content_block_delta" and obj.get("delta", {}).get("text"):
                    if ttft is None:
                        ttft = time.monotonic() - started
                    text += obj["delta"]["text"]
        duplicated = starts > 1 or ends > 1 or (backend in ("p1", "p2") and text.count(FAKE_TEXT) > 1)
        truncated = not in_band and ends != 1
        if backend in ("p1", "p2") and not in_band and ends == 1 and text != FAKE_TEXT:
            truncated = True
        stats.add(status=200, backend=backend, ttft=ttft, answered=not in_band and not truncated,
                  by_fallback=bool(fallbacks) and not in_band, in_band=in_band, duplicated=duplicated,
                  truncated=truncated)
    except (OSError, http.client.HTTPException):
        stats.add(transport=True)
    finally:
        conn.close()


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--model", default="models/stories260K.gguf")
    parser.add_argument("--duration", type=float, default=180)
    parser.add_argument("--clients", type=int, default=6)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="tandem-chaos-")
    procs = []
    try:
        logs = {}
        for name, cycle, phase in (("p1", "healthy=6,failing=4,throttling=4,stalling=4,cutting=2", 0),
                                   ("p2", "healthy=6,stalling=4,healthy=4,failing=4,throttling=2", 9)):
            logs[name] = os.path.join(work, name + ".log")
            procs.append(start([os.path.join(args.build, "tandem-fake-upstream"), "--threads", "2", "--cycle", cycle,
                                "--phase", str(phase)], open(logs[name], "w")))
        ports = {name: wait_port(path) for name, path in logs.items()}
        config_path = os.path.join(work, "config.json")
        with open(config_path, "w") as f:
            json.dump(config(ports["p1"], ports["p2"]), f)
        tandem_log = os.path.join(work, "tandem.log")
        procs.append(start([os.path.join(args.build, "tandem"), "--host", "127.0.0.1", "--port", "0",
                            "--model", args.model, "--parallel", "2", "--max-queue", "4", "--config", config_path],
                           open(tandem_log, "w")))
        port = wait_port(tandem_log)

        stats = Stats()
        deadline = time.monotonic() + args.duration

        def client(index):
            protocol = "openai" if index % 2 == 0 else "anthropic"
            while time.monotonic() < deadline:
                one_request(port, protocol, stats)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics")
        metrics = conn.getresponse().read().decode()
        transitions = {}
        for m in re.finditer(r'tandem_breaker_transitions_total\{from="(\w+)",provider="(\w+)",to="(\w+)"\} (\d+)', metrics):
            transitions[f"{m.group(2)}: {m.group(1)}->{m.group(3)}"] = int(m.group(4))
        fallbacks = {}
        for m in re.finditer(r'tandem_router_fallbacks_total\{from="(\w+)",reason="(\w+)",to="(\w+)"\} (\d+)', metrics):
            fallbacks[f"{m.group(1)}->{m.group(3)} ({m.group(2)})"] = int(m.group(4))

        print(f"| measure | value |\n| --- | --- |")
        print(f"| duration, clients | {args.duration:.0f} s, {args.clients} |")
        print(f"| requests | {stats.requests} |")
        print(f"| answered | {stats.answered} |")
        print(f"| answered by fallback | {stats.by_fallback} |")
        print(f"| answered by backend | {', '.join(f'{k}: {v}' for k, v in sorted(stats.by_backend.items()))} |")
        print(f"| in-band errors | {stats.in_band} |")
        print(f"| protocol errors | {sum(stats.protocol_errors.values())} {dict(sorted(stats.protocol_errors.items()))} |")
        print(f"| transport errors | {stats.transport} |")
        print(f"| p50 / p99 TTFT | {percentile(stats.ttft, 0.5) * 1000:.0f} ms / {percentile(stats.ttft, 0.99) * 1000:.0f} ms |")
        print(f"| breaker transitions | {sum(transitions.values())} ({', '.join(f'{k}: {v}' for k, v in sorted(transitions.items()))}) |")
        print(f"| router fallbacks | {', '.join(f'{k}: {v}' for k, v in sorted(fallbacks.items()))} |")
        print(f"| duplicated | {stats.duplicated} |")
        print(f"| truncated | {stats.truncated} |")
        return 1 if stats.duplicated or stats.truncated else 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
