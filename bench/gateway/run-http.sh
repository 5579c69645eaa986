#!/usr/bin/env bash
# The gateway over HTTP, in one run: the same load against tandem-fake-upstream directly and
# through tandem (OpenAI passthrough, and OpenAI -> Anthropic translation), non-streaming and
# streaming. Open loop at RATE req/s (latency from each request's due time, so queueing shows),
# then closed-loop saturation with CONCURRENCY clients. Prints one markdown table.
#   bench/gateway/run-http.sh [BUILD_DIR]
# wrk, when installed, adds a closed-loop table with a lighter load generator.
# Env: RATE (1000), SECONDS_EACH (5), OPEN_CLIENTS (256), CONCURRENCY (16), THREADS (1: load
# generator threads), IO_THREADS (1: tandem's), ACTOR_THREADS (tandem's default), FAKE_THREADS (1),
# STREAMS ("0 1": non-streaming and streaming), BASELINE (another tandem binary, e.g. a copy
# built before a change: it runs beside this one, on the same fake, and its rows are named
# "... (baseline)", alternating with this build's, so a before/after shares one run's load).
# ROUNDS (1): repeat every row that many times, alternating, and print medians: on a host whose
# speed drifts from minute to minute, one run of each row can mislead.
# Meaningful only on an idle machine: the fake, tandem and the load generator share its cores.
set -euo pipefail
build=${1:-build}
RATE=${RATE:-1000}
SECONDS_EACH=${SECONDS_EACH:-5}
OPEN_CLIENTS=${OPEN_CLIENTS:-256}
CONCURRENCY=${CONCURRENCY:-16}
THREADS=${THREADS:-1}
IO_THREADS=${IO_THREADS:-1}
ACTOR_THREADS=${ACTOR_THREADS:-}
FAKE_THREADS=${FAKE_THREADS:-1}
STREAMS=${STREAMS:-0 1}
BASELINE=${BASELINE:-}
ROUNDS=${ROUNDS:-1}
load="$build/bench/load/tandem-load"
for binary in "$build/tandem" "$build/tandem-fake-upstream" "$load"; do
  [ -x "$binary" ] || { echo "missing $binary: build it first (cmake --build $build)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_for_url() {  # file -> the first "listening on http://..." URL it logs
  for _ in $(seq 200); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$1" 2>/dev/null | head -1 | sed 's/listening on //')
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 0.05
  done
  echo "no 'listening on' line in $1:" >&2; cat "$1" >&2; exit 1
}

"$build/tandem-fake-upstream" --port 0 --threads "$FAKE_THREADS" >"$work/fake.log" 2>&1 &
pids+=($!)
fake=$(wait_for_url "$work/fake.log")
# Warnings only (an access-log line per request would be part of what is measured), so the port is
# chosen here and /health polled instead of reading "listening on".
started_url=""
start_tandem() {  # binary log -> started_url, once its /health answers
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  local extra=()
  [ -n "$ACTOR_THREADS" ] && extra+=(--actor-threads "$ACTOR_THREADS")
  OPENAI_BASE_URL="$fake/v1" OPENAI_API_KEY=sk-bench ANTHROPIC_BASE_URL="$fake" ANTHROPIC_API_KEY=sk-bench \
    "$1" --host 127.0.0.1 --port "$port" --io-threads "$IO_THREADS" "${extra[@]}" --log-level warn >"$2" 2>&1 &
  pids+=($!)
  started_url="http://127.0.0.1:$port"
  for _ in $(seq 200); do curl -fs "$started_url/health" >/dev/null 2>&1 && break; sleep 0.05; done
}
start_tandem "$build/tandem" "$work/tandem.log"
tandem=$started_url
baseline=""
if [ -n "$BASELINE" ]; then
  start_tandem "$BASELINE" "$work/baseline.log"
  baseline=$started_url
fi

run() {  # name url model stream(0/1) mode(open/closed) -> one JSON report on stdout
  local name=$1 url=$2 model=$3 stream=$4 mode=$5
  local args=(--url "$url" --model "$model" --duration "$SECONDS_EACH" --threads "$THREADS" --max-tokens 16 --json - -q)
  [ "$stream" = 0 ] && args+=(--no-stream)
  if [ "$mode" = open ]; then args+=(--rate "$RATE" -c "$OPEN_CLIENTS"); else args+=(-c "$CONCURRENCY"); fi
  "$load" "${args[@]}" | python3 -c 'import json,sys; r=json.load(sys.stdin); r["name"]=sys.argv[1]; r["mode"]=sys.argv[2]; r["round"]=int(sys.argv[3]); print(json.dumps(r))' "$name" "$mode" "$round"
}

reports="$work/reports.jsonl"
for round in $(seq "$ROUNDS"); do
  for stream in $STREAMS; do
    for mode in open closed; do
      run direct "$fake" fake-model "$stream" "$mode" >>"$reports"
      for path in passthrough:openai translated:anthropic; do
        [ -n "$baseline" ] && run "${path%%:*} (baseline)" "$baseline" "${path#*:}/fake-model" "$stream" "$mode" >>"$reports"
        run "${path%%:*}" "$tandem" "${path#*:}/fake-model" "$stream" "$mode" >>"$reports"
      done
    done
  done
done

# The same closed loop with wrk, when it is installed (apt-get install wrk): it spends about half
# the CPU per request that tandem-load does, and on these 2 cores that CPU is taken from the server
# and the fake, so its saturation numbers are closer to what the server alone can do.
wrk_rows="$work/wrk.txt"
if command -v wrk >/dev/null && [[ " $STREAMS " == *" 0 "* ]]; then
  wrk_run() {  # name url model
    local script="$work/post.lua"
    printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[{"model":"%s","messages":[{"role":"user","content":"Hello there"}],"max_tokens":16,"stream":false}]]\n' "$3" >"$script"
    local out
    out=$(wrk -t "$THREADS" -c "$CONCURRENCY" -d "${SECONDS_EACH}s" --latency -s "$script" "$2/v1/chat/completions")
    local rps p50 non2xx
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    echo "$1|$rps|$p50|${non2xx:-0}" >>"$wrk_rows"
  }
  for round in $(seq "$ROUNDS"); do
    wrk_run direct "$fake" fake-model
    [ -n "$baseline" ] && wrk_run "passthrough (baseline)" "$baseline" openai/fake-model
    wrk_run passthrough "$tandem" openai/fake-model
  done
fi

echo "load: $(uptime | sed 's/.*load average/load average/'); $(nproc) cores; rate $RATE req/s open loop ($OPEN_CLIENTS clients), closed loop $CONCURRENCY clients, ${SECONDS_EACH}s each"
[ "$ROUNDS" -gt 1 ] && echo "each row: the median of $ROUNDS rounds (added latency: against the direct row of the same round)"
python3 - "$reports" <<'PY'
import json, sys
from statistics import median
rows = [json.loads(line) for line in open(sys.argv[1])]
direct = {(r["round"], r["stream"], r["mode"]): r for r in rows if r["name"] == "direct"}
groups = {}
for r in rows:
    groups.setdefault((r["stream"], r["mode"], r["name"]), []).append(r)
print("| path | stream | mode | ok | failed | req/s | latency p50 / p99 ms | added p50 / p99 ms | TTFT p50 ms |")
print("|---|---|---|---|---|---|---|---|---|")
for (stream, mode, name), runs in groups.items():
    lat = lambda q: median(r["latency_ms"][q] for r in runs)
    added = ""
    if name != "direct":
        gap = lambda q: median(r["latency_ms"][q] - direct[(r["round"], stream, mode)]["latency_ms"][q] for r in runs)
        added = f'{gap("p50"):+.2f} / {gap("p99"):+.2f}'
    print(f'| {name} | {"yes" if stream else "no"} | {mode} | {sum(r["requests_ok"] for r in runs)} '
          f'| {sum(r["requests_failed"] for r in runs)} | {median(r["requests_per_s"] for r in runs):.0f} '
          f'| {lat("p50"):.2f} / {lat("p99"):.2f} | {added} | {median(r["ttft_ms"]["p50"] for r in runs):.2f} |')
PY
if [ -s "$wrk_rows" ]; then
  echo
  echo "Non-streaming closed loop, $CONCURRENCY connections, load from wrk:"
  echo
  python3 - "$wrk_rows" <<'PY'
import sys
from statistics import median
groups = {}
for line in open(sys.argv[1]):
    name, rps, p50, non2xx = line.rstrip("\n").split("|")
    unit = 1000.0 if p50.endswith("ms") else 1.0 if p50.endswith("us") else 1e6
    groups.setdefault(name, []).append((float(rps), float(p50.rstrip("mus")) * unit, int(non2xx or 0)))
print("| path | req/s | latency p50 µs | non-2xx |")
print("|---|---|---|---|")
for name, runs in groups.items():
    print(f"| {name} | {median(r[0] for r in runs):.0f} | {median(r[1] for r in runs):.0f} | {sum(r[2] for r in runs)} |")
PY
fi
