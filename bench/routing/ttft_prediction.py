#!/usr/bin/env python3
"""How well the router's TTFT prediction matches the TTFT clients measure on a local model.

    bench/routing/ttft_prediction.py --build build --model models/stories260K.gguf --requests 120

Starts tandem (--log-level debug) with a rule whose local target carries an SLO the model always
meets (so every request is predicted, and served locally), sends streamed requests with mixed
prompt lengths from N concurrent clients, and pairs each request's predicted TTFT (the router's
debug line, by request id) with the TTFT the client measured (first content delta). Prints the
mean absolute error, the median ratio measured / predicted, and how many had no prediction yet.
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
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="tandem-ttft-")
    config = {
        "providers": [{"name": "spare", "protocol": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}],
        "routing": {"rules": [{"name": "slo", "match": {"exact": "slo"}, "targets": [
            {"backend": "local", "model": "stories260K", "slo": {"max_ttft_ms": 3600000}},
            {"backend": "spare", "model": "m"}]}]},
    }
    config_path = os.path.join(work, "config.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    log_path = os.path.join(work, "tandem.log")
    proc = subprocess.Popen([os.path.join(args.build, "tandem"), "--host", "127.0.0.1", "--port", "0", "--model",
                             args.model, "--parallel", str(args.parallel), "--max-queue", "64", "--batch-tokens", "64",
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
        measured = {}
        lock = threading.Lock()
        counter = iter(range(args.requests))
        rng = random.Random(7)
        prompts = [" ".join(["Once upon a time there was a little dog."] * n) for n in (1, 4, 12, 30)]

        def client():
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                    prompt = rng.choice(prompts)
                body = {"model": "slo", "stream": True, "max_tokens": 48, "messages": [{"role": "user", "content": prompt}]}
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
                        measured[rid] = ttft * 1000

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    predicted, unknown = {}, 0
    with open(log_path) as f:
        for m in re.finditer(r"\[(req_\w+)\] router: \S+ predicted TTFT (\w+) ms", f.read()):
            if m.group(2) == "unknown":
                unknown += 1
            else:
                predicted[m.group(1)] = float(m.group(2))
    pairs = [(predicted[r], measured[r]) for r in measured if r in predicted]
    if not pairs:
        print("no predictions paired with measurements; log:", log_path)
        return 1
    errors = [abs(p - m) for p, m in pairs]
    ratios = [m / p for p, m in pairs if p > 0]
    print(f"| measure | value |\n| --- | --- |")
    print(f"| requests measured / with a prediction / cold (no rates yet) | {len(measured)} / {len(pairs)} / {unknown} |")
    print(f"| measured TTFT p50 / p90 | {statistics.median([m for _, m in pairs]):.0f} ms / "
          f"{sorted(m for _, m in pairs)[int(0.9 * len(pairs))]:.0f} ms |")
    print(f"| predicted TTFT p50 / p90 | {statistics.median([p for p, _ in pairs]):.0f} ms / "
          f"{sorted(p for p, _ in pairs)[int(0.9 * len(pairs))]:.0f} ms |")
    print(f"| mean / median absolute error | {statistics.mean(errors):.0f} ms / {statistics.median(errors):.0f} ms |")
    if ratios:
        print(f"| median measured / predicted | {statistics.median(ratios):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
