#!/usr/bin/env bash
# tandem and llama.cpp side by side on the same GGUF files, in one run, alternating: a 512-token
# prefill (one batch) and a 64-token greedy decode of one sequence, tokens/s, median of REPEAT.
# llama.cpp comes from npm as prebuilt CPU libraries (node-llama-cpp; its ggml CPU backend picks
# its kernels at run time, like llama-server); this script installs the pinned version into
# bench/llamacpp/node_modules on first use.
#   bench/llamacpp/side-by-side.sh BUILD_DIR [MODEL.gguf ...]
# Default models: the bench-110M files tandem_engine_bench writes into BUILD_DIR/bench-models,
# else ../shared's synth-llama files. Env: THREADS (2), PROMPT (512), GENERATE (64), REPEAT (3);
# TANDEM_ISA (avx2, avxvnni, ...) caps tandem's kernels at that level (engine/README.md), to see
# a CPU without AVX-512 on this one; llama.cpp keeps the kernels its CPU backend picks.
# Meaningful only on an idle machine: llama.cpp's threads spin and slow down 10-20x when another
# process holds a core.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: side-by-side.sh BUILD_DIR [MODEL.gguf ...]}; shift
THREADS=${THREADS:-2}
PROMPT=${PROMPT:-512}
GENERATE=${GENERATE:-64}
REPEAT=${REPEAT:-3}
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  for f in "$build"/bench-models/bench-110M-{F32,Q8_0,Q4_K_M,Q4_0}.gguf; do [ -f "$f" ] && models+=("$f"); done
  if [ ${#models[@]} -eq 0 ]; then
    for f in "$here"/../../../shared/models/synth-llama-{F32,Q8_0,Q4_K_M,Q4_0}.gguf; do [ -f "$f" ] && models+=("$f"); done
  fi
fi
[ ${#models[@]} -gt 0 ] || { echo "no model files (run tandem_engine_bench once, or pass paths)" >&2; exit 1; }
if [ ! -d "$here/node_modules/node-llama-cpp" ]; then
  # (npm ci refuses this lock: node-llama-cpp lists optional binaries for other platforms that the
  # lock cannot pin; install honours the locked versions of what it installs.)
  (cd "$here" && npm install --omit=optional --ignore-scripts --no-audit --no-fund >&2)
fi

# The same prompt for both: token ids 100, 101, ... (no tokenizer difference can enter).
ids=$(seq -s, 100 $((100 + PROMPT - 1)))

tandem_run() {  # model -> "prefill_tok_s decode_tok_s"
  local line
  line=$("$build/tandem" generate --model "$1" --tokens "$ids" -n "$GENERATE" --temp 0 --threads "$THREADS" 2>&1 >/dev/null |
    grep -o 'prompt: [0-9]* tokens, [0-9.]* tok/s; generated: [0-9]* tokens, [0-9.]* tok/s')
  echo "$line" | sed -E 's/prompt: [0-9]+ tokens, ([0-9.]+) tok\/s; generated: [0-9]+ tokens, ([0-9.]+) tok\/s/\1 \2/'
}
llama_run() {
  node "$here/llamacpp_run.mjs" "$1" --prompt-ids "$ids" --generate "$GENERATE" --threads "$THREADS" |
    python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(r["prefill_tokens_per_s"], r["decode_tokens_per_s"])'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nproc) cores; tandem ISA ${TANDEM_ISA:-best}; threads $THREADS; prompt $PROMPT, generate $GENERATE, median of $REPEAT; $(uptime | sed 's/.*load average/load average/')"
printf "| model | tandem prefill tok/s | llama.cpp prefill tok/s | tandem decode tok/s | llama.cpp decode tok/s |\n|---|---|---|---|---|\n"
for model in "${models[@]}"; do
  tp=(); td=(); lp=(); ld=()
  for _ in $(seq "$REPEAT"); do
    read -r p d < <(tandem_run "$model"); tp+=("$p"); td+=("$d")
    read -r p d < <(llama_run "$model"); lp+=("$p"); ld+=("$d")
  done
  printf "| %s | %.1f | %.1f | %.1f | %.1f |\n" "$(basename "$model")" \
    "$(printf '%s\n' "${tp[@]}" | median)" "$(printf '%s\n' "${lp[@]}" | median)" \
    "$(printf '%s\n' "${td[@]}" | median)" "$(printf '%s\n' "${ld[@]}" | median)"
done
