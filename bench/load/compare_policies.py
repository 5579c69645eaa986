#!/usr/bin/env python3
"""Alternating A/B runs of tandem's scheduling policies on one model, medians per load point.

    bench/load/compare_policies.py BUILD_DIR MODEL.gguf [--policy NAME=ARGS ...] [--load c16 ...]

Each repeat serves the model once per policy (in turn, so a change of machine load hits every
policy alike) and runs tandem-load (streaming, --endpoint completions by default) at each load:
`cN` is a closed loop of N clients (4N requests, at least 8), `rR` an open loop at R requests/s
for --seconds. Prints one row per (load, policy): medians over the repeats of TTFT p50 and p99,
ITL p50 and output tokens/s, with the machine's load average before and after.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
import urllib.request

DEFAULT_POLICIES = ["current="]


def wait_ready(port, server):
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit(f"tandem exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit("tandem did not become ready")


def run_load(args, port, load):
    cmd = [os.path.join(args.build, "bench/load/tandem-load"), "--url", f"http://127.0.0.1:{port}",
           "--endpoint", args.endpoint, "--max-tokens", str(args.max_tokens), "--json", "-", "-q"]
    if args.prompts:
        cmd += ["--prompts", args.prompts]
    if load.startswith("c"):
        c = int(load[1:])
        cmd += ["-c", str(c), "-n", str(max(8, c * args.requests_per_client))]
    elif load.startswith("r"):
        rate = float(load[1:])
        cmd += ["--rate", str(rate), "-c", "256", "-n", str(max(8, int(rate * args.seconds)))]
    else:
        raise SystemExit(f"load '{load}': cN or rR")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build")
    p.add_argument("model")
    p.add_argument("--policy", action="append", help="NAME=extra tandem flags (repeatable)")
    p.add_argument("--load", action="append", help="cN (closed loop) or rR (open loop); repeatable")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--parallel", type=int, default=64)
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--endpoint", default="completions")
    p.add_argument("--prompts", default="")
    p.add_argument("--requests-per-client", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--port", type=int, default=18090)
    args = p.parse_args()
    policies = [x.split("=", 1) for x in (args.policy or DEFAULT_POLICIES)]
    loads = args.load or ["c1", "c4", "c16", "c64"]
    results = {}  # (load, policy) -> list of reports
    print(f"# {os.path.basename(args.model)}; {args.endpoint}; max_tokens {args.max_tokens}; "
          f"--parallel {args.parallel} (unless a policy says otherwise); repeat {args.repeat}; "
          f"loadavg before {os.getloadavg()[0]:.1f}", flush=True)
    for rep in range(args.repeat):
        for name, extra in policies:
            flags = ["--parallel", str(args.parallel)] if "--parallel" not in extra else []
            cmd = [os.path.join(args.build, "tandem"), "--port", str(args.port), "--model", args.model,
                   "--ctx-size", str(args.ctx), "--max-queue", "4096", "--log-level", "warn"] + flags + shlex.split(extra)
            server = subprocess.Popen(cmd)
            try:
                wait_ready(args.port, server)
                for load in loads:
                    report = run_load(args, args.port, load)
                    report["loadavg"] = os.getloadavg()[0]
                    results.setdefault((load, name), []).append(report)
                    print(f"  rep {rep} {name:>14} {load:>5}: TTFT p50 {report['ttft_ms']['p50']:.0f} "
                          f"p99 {report['ttft_ms']['p99']:.0f} ms, {report['output_tokens_per_s']:.1f} tok/s, "
                          f"load {report['loadavg']:.1f}", file=sys.stderr, flush=True)
            finally:
                server.terminate()
                server.wait()
    # TTFT / ITL p50 (first token in units of one decode step of the same run) moves less with
    # the machine's load than either alone.
    print("| load | policy | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | TTFT p50 / ITL p50 | output tok/s | failed | loadavg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for load in loads:
        for name, _ in policies:
            reports = results[(load, name)]
            med = lambda f: statistics.median(f(r) for r in reports)
            print(f"| {load} | {name} | {med(lambda r: r['ttft_ms']['p50']):.0f} | {med(lambda r: r['ttft_ms']['p99']):.0f} | "
                  f"{med(lambda r: r['itl_ms']['p50']):.1f} | "
                  f"{med(lambda r: r['ttft_ms']['p50'] / max(r['itl_ms']['p50'], 1e-9)):.1f} | "
                  f"{med(lambda r: r['output_tokens_per_s']):.1f} | "
                  f"{sum(r['requests_failed'] for r in reports)} | "
                  f"{min(r['loadavg'] for r in reports):.1f}-{max(r['loadavg'] for r in reports):.1f} |")


if __name__ == "__main__":
    main()
