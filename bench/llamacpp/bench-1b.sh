#!/usr/bin/env bash
# The 1B-class shape of issue 13 (Llama-3.2-1B's: llama, dim 2048, 16 layers, 32/8 heads, ff
# 8192, vocab 128256, tied embeddings; random weights) in Q8_0 and Q4_K_M, made with
# `tandem synth-model` (F16) + `tandem quantize` into BUILD_DIR/bench-models on first use, then
# measured: a PROMPT-token prefill and a GENERATE-token greedy decode with `tandem generate`
# (tokens/s, median of REPEAT) and its peak resident memory against the file size (target for
# Q4_K_M: at most 1.15x). With SIDE_BY_SIDE=1 it then runs side-by-side.sh (llama.cpp) on them.
#   bench/llamacpp/bench-1b.sh BUILD_DIR
# Env: THREADS (2), PROMPT (512), GENERATE (64), REPEAT (3), TYPES ("Q4_K_M Q8_0"), SIDE_BY_SIDE (0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: bench-1b.sh BUILD_DIR}
THREADS=${THREADS:-2}
PROMPT=${PROMPT:-512}
GENERATE=${GENERATE:-64}
REPEAT=${REPEAT:-3}
TYPES=${TYPES:-"Q4_K_M Q8_0"}
models_dir="$build/bench-models"
mkdir -p "$models_dir"
source_model="$models_dir/bench-1B-F16.gguf"

if [ ! -f "$source_model" ]; then
  "$build/tandem" synth-model --out "$source_model.tmp" --dim 2048 --layers 16 --heads 32 --kv-heads 8 \
    --ff 8192 --vocab 128256 --ctx 8192 --rope-base 500000 --type F16 >&2
  mv "$source_model.tmp" "$source_model"
fi
models=()
for type in $TYPES; do
  out="$models_dir/bench-1B-$type.gguf"
  if [ ! -f "$out" ]; then
    "$build/tandem" quantize -t "$THREADS" "$source_model" "$out.tmp" "$type" >&2
    mv "$out.tmp" "$out"
  fi
  models+=("$out")
done

ids=$(seq -s, 100 $((100 + PROMPT - 1)))
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run_once() {  # model -> "prefill_tok_s decode_tok_s max_rss_kib"
  local log
  log=$(/usr/bin/time -v "$build/tandem" generate --model "$1" --tokens "$ids" -n "$GENERATE" --temp 0 \
    --threads "$THREADS" 2>&1 >/dev/null)
  local speeds rss
  speeds=$(echo "$log" | grep -o 'prompt: [0-9]* tokens, [0-9.]* tok/s; generated: [0-9]* tokens, [0-9.]* tok/s' |
    sed -E 's/prompt: [0-9]+ tokens, ([0-9.]+) tok\/s; generated: [0-9]+ tokens, ([0-9.]+) tok\/s/\1 \2/')
  rss=$(echo "$log" | sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\).*/\1/p')
  echo "$speeds $rss"
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nproc) cores; threads $THREADS; prompt $PROMPT, generate $GENERATE, median of $REPEAT; $(uptime | sed 's/.*load average/load average/')"
printf "| model | file MB | prefill tok/s | decode tok/s | peak RSS MB | RSS / file |\n|---|---|---|---|---|---|\n"
for model in "${models[@]}"; do
  prefill=(); decode=(); rss=()
  for _ in $(seq "$REPEAT"); do
    read -r p d r < <(run_once "$model"); prefill+=("$p"); decode+=("$d"); rss+=("$r")
  done
  bytes=$(stat -c %s "$model")
  peak=$(printf '%s\n' "${rss[@]}" | median)
  printf "| %s | %.0f | %.1f | %.1f | %.0f | %.2f |\n" "$(basename "$model")" "$(echo "$bytes / 1048576" | bc -l)" \
    "$(printf '%s\n' "${prefill[@]}" | median)" "$(printf '%s\n' "${decode[@]}" | median)" \
    "$(echo "$peak / 1024" | bc -l)" "$(echo "$peak * 1024 / $bytes" | bc -l)"
done
echo "$(uptime | sed 's/.*load average/load average after/')"
if [ "${SIDE_BY_SIDE:-0}" = 1 ]; then
  THREADS=$THREADS PROMPT=$PROMPT GENERATE=$GENERATE REPEAT=$REPEAT "$here/side-by-side.sh" "$build" "${models[@]}"
fi
