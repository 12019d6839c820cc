#!/usr/bin/env bash
# Decode speed side by side: a forward-one-token loop in LocoLLM (`loco logits --decode`, the
# logits of every step read back) and in llama.cpp (llama-cpp-python evaluating single tokens),
# same model, same threads, alternating runs; prints the best of N runs of each (the machine is
# shared, so the best run is the one least disturbed).
#
#   scripts/inference_decode_bench.sh MODEL.gguf [THREADS=2] [RUNS=3] [TOKENS=128]
#
# Needs a release build of loco (LOCO=path, default .build/release/loco).
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 threads=${2:-2} runs=${3:-3} tokens=${4:-128}
loco=${LOCO:-.build/release/loco}
export OPENBLAS_NUM_THREADS=1
ids=$(python3 -c "print(','.join(str((7 * i + 1) % 32000) for i in range($tokens + 16)))")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
best_ours=0 best_theirs=0
for _ in $(seq "$runs"); do
    ours=$("$loco" logits --decode --threads "$threads" --model "$model" --tokens "$ids" --out "$out" 2>&1 \
        | sed -n 's/.*(\([0-9.]*\) tokens\/s).*/\1/p')
    theirs=$(python3 scripts/inference_peer.py decode-speed "$model" --tokens "$tokens" --prompt 16 --threads "$threads" \
        | python3 -c "import json,sys; print(round(json.load(sys.stdin)['tokens_per_second'], 1))")
    best_ours=$(python3 -c "print(max($best_ours, $ours))")
    best_theirs=$(python3 -c "print(max($best_theirs, $theirs))")
done
echo "$(basename "$model") threads=$threads: LocoLLM $best_ours tok/s, llama.cpp $best_theirs tok/s" \
     "(ratio $(python3 -c "print(round($best_ours / $best_theirs, 2))"))"
