#!/usr/bin/env bash
# Serves each model with tandem and runs tandem-load at several concurrencies; prints one table
# row per (model, concurrency). Usage:
#   bench/load/run_matrix.sh BUILD_DIR MODEL.gguf [MODEL.gguf ...]
# Env: CONCURRENCY ("1 4 16 64"), MAX_TOKENS (64), PORT (18080), PARALLEL (64), CTX (512).
set -euo pipefail
build=${1:?build dir}; shift
CONCURRENCY=${CONCURRENCY:-"1 4 16 64"}
MAX_TOKENS=${MAX_TOKENS:-64}
PORT=${PORT:-18080}
PARALLEL=${PARALLEL:-64}
CTX=${CTX:-512}
printf "| model | concurrency | requests | req/s | output tok/s | TTFT p50/p90/p99 ms | ITL p50/p90/p99 ms | errors |\n"
printf "|---|---|---|---|---|---|---|---|\n"
for model in "$@"; do
  "$build/tandem" --port "$PORT" --model "$model" --parallel "$PARALLEL" --ctx-size "$CTX" \
    --max-queue 1024 --log-level warn &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break; sleep 0.2; done
  for c in $CONCURRENCY; do
    requests=$(( c * 4 < 8 ? 8 : c * 4 ))
    report=$("$build/bench/load/tandem-load" --url "http://127.0.0.1:$PORT" -c "$c" -n "$requests" \
      --max-tokens "$MAX_TOKENS" --json - -q)
    python3 - "$model" "$c" "$report" <<'PY'
import json, os, sys
model, c, report = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
r = report
def pct(key):
    d = r.get(key, {})
    return "/".join(f"{d.get(p, 0):.1f}" for p in ("p50", "p90", "p99"))
print(f"| {os.path.basename(model)} | {c} | {r['requests_ok']} | {r['requests_per_s']:.2f} | "
      f"{r['output_tokens_per_s']:.1f} | {pct('ttft_ms')} | {pct('itl_ms')} | {r['requests_failed']} |")
PY
  done
  kill "$server"; wait "$server" 2>/dev/null || true
  trap - EXIT
done
