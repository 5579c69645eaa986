#!/usr/bin/env python3
"""How well the router's TTFT prediction matches the TTFT clients measure on a local model.

    bench/routing/ttft_prediction.py --build build --model models/stories260K.gguf --clients 1,2,4,8

Starts tandem (--log-level debug) with a rule whose local target carries an SLO the model always
meets (so every request is predicted, and served locally), warms it up, then for each load level
sends streamed requests with mixed prompt lengths from N concurrent clients (a closed loop), and
pairs each request's predicted TTFT (the router's debug line, by request id) with the TTFT the
client measured (first content delta). Prints, per level and overall, measured and predicted
p50 / p90, the mean absolute error and the mean signed error (predicted - measured: the bias).
"""
import argparse
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--model", default="models/stories260K.gguf")
    parser.add_argument("--requests", type=int, default=60, help="requests per load level")
    parser.add_argument("--clients", default="1,2,4,8", help="load levels: concurrent clients, comma-separated")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="engine threads (1: steadier on a busy machine)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="tandem-ttft-")
    config = {
        "providers": [{"name": "spare", "protocol": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}],
        "routing": {"rules": [{"name": "slo", "match": {"exact": "slo"}, "targets": [
            {"backend": "local", "model": os.path.basename(args.model).removesuffix(".gguf"), "slo": {"max_ttft_ms": 3600000}},
            {"backend": "spare", "model": "m"}]}]},
    }
    config_path = os.path.join(work, "config.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    log_path = os.path.join(work, "tandem.log")
    proc = subprocess.Popen([os.path.join(args.build, "tandem"), "--host", "127.0.0.1", "--port", "0", "--model",
                             args.model, "--parallel", str(args.parallel), "--max-queue", "64", "--batch-tokens", "64",
                             "--threads", str(args.threads),
                             "--log-level", "debug", "--config", config_path],
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    try:
        port = None
        for _ in range(300):
            with open(log_path) as f:
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", f.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.1)
        rng = random.Random(7)
        prompts = [" ".join(["Once upon a time there was a little dog."] * n) for n in (1, 4, 12, 30)]
        levels = [int(c) for c in args.clients.split(",")]
        measured = {}  # request id -> (clients, measured TTFT ms)

        def run_level(clients, requests):
            lock = threading.Lock()
            counter = iter(range(requests))

            def client():
                while True:
                    with lock:
                        if next(counter, None) is None:
                            return
                        prompt = rng.choice(prompts)
                    body = {"model": "slo", "stream": True, "max_tokens": args.max_tokens,
                            "messages": [{"role": "user", "content": prompt}]}
                    started = time.monotonic()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                    conn.request("POST", "/v1/chat/completions", json.dumps(body), {"content-type": "application/json"})
                    resp = conn.getresponse()
                    rid = resp.getheader("x-request-id")
                    ttft = None
                    for raw in resp:
                        line = raw.decode("utf-8", "replace")
                        if ttft is None and '"content":"' in line and '"content":""' not in line:
                            ttft = time.monotonic() - started
                    conn.close()
                    if ttft is not None:
                        with lock:
                            measured[rid] = (clients, ttft * 1000)

            threads = [threading.Thread(target=client) for _ in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        # Warm-up (not reported): the scheduler learns its step costs and request shapes.
        run_level(max(levels), args.warmup)
        measured.clear()
        for clients in levels:
            run_level(clients, args.requests)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    predicted = {}
    with open(log_path) as f:
        for m in re.finditer(r"\[(req_\w+)\] router: \S+ predicted TTFT (\w+) ms", f.read()):
            predicted[m.group(1)] = None if m.group(2) == "unknown" else float(m.group(2))

    def pct(values, q):
        values = sorted(values)
        return values[min(len(values) - 1, int(q * len(values)))]

    print(f"uptime: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (load at the end)")
    print("| clients | requests / predicted | measured p50 / p90 | predicted p50 / p90 | mean abs error | mean error (bias) |")
    print("| --- | --- | --- | --- | --- | --- |")
    all_pairs = []
    for clients in levels + [None]:
        rows = [(predicted.get(r), m) for r, (c, m) in measured.items() if clients is None or c == clients]
        pairs = [(p, m) for p, m in rows if p is not None]
        if clients is not None:
            all_pairs += pairs
        if not pairs:
            print(f"| {clients} | {len(rows)} / 0 | | | | |")
            continue
        errors = [p - m for p, m in pairs]
        label = "all" if clients is None else str(clients)
        print(f"| {label} | {len(rows)} / {len(pairs)} | {pct([m for _, m in pairs], 0.5):.0f} / {pct([m for _, m in pairs], 0.9):.0f} ms "
              f"| {pct([p for p, _ in pairs], 0.5):.0f} / {pct([p for p, _ in pairs], 0.9):.0f} ms "
              f"| {statistics.mean(abs(e) for e in errors):.0f} ms | {statistics.mean(errors):+.0f} ms |")
    if not all_pairs:
        print("no predictions paired with measurements; log:", log_path)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
