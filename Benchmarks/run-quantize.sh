#!/usr/bin/env bash
# Whole-model quantization against llama.cpp, one run, same input and threads. The input is the
# default model converted once to F32 (the usual starting point of a quantization), so neither
# side requantizes; pass a FILE to use another input.
#   Benchmarks/run-quantize.sh [FILE] [--types Q8_0,Q4_K_M] [--repeats N] [--threads N] [--json]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
swift build -c release --product loco >&2
input=""
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then input="$1"; shift; fi
if [ -z "$input" ]; then
    store="${LOCO_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/locollm/models}"
    model="$store/SmolLM2-135M-Instruct.Q4_1.gguf"
    [ -f "$model" ] || { echo "no default model: run scripts/fetch-model.sh" >&2; exit 1; }
    input="$store/SmolLM2-135M-Instruct.F32.gguf"
    [ -f "$input" ] || .build/release/loco quantize "$model" "$input" F32 --allow-requantize --quiet >&2
fi
exec python3 Benchmarks/quantize_peer_bench.py "$input" "$@"
