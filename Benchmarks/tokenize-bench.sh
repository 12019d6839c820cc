#!/usr/bin/env bash
# Encode throughput against llama.cpp's tokenizer (llama_tokenize through llama-cpp-python), same
# text, same vocabulary, one run. Both sides take the best of N runs over the whole text, with no
# BOS/EOS and special tokens read as text, and must produce the same number of tokens.
#   Benchmarks/tokenize-bench.sh [MODEL] [--file TEXT] [--iterations N] [--json]
# MODEL defaults to the default model. Without --file, two texts are measured: Python's standard
# library sources (code and English, ~4 MB) and the multilingual parity corpus
# (scripts/tokenizer_corpus.py, seed 2, 40 000 strings, ~2.5 MB).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
model=""
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then model="$1"; shift; fi
if [ -z "$model" ]; then
    model="${LOCO_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/locollm/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
    [ -f "$model" ] || { echo "no default model: run scripts/fetch-model.sh" >&2; exit 1; }
fi
swift build -c release --product tokenize-benchmark ${SWIFT_BUILD_FLAGS:-} >&2
binary="$(swift build -c release --product tokenize-benchmark ${SWIFT_BUILD_FLAGS:-} --show-bin-path)/tokenize-benchmark"
exec python3 Benchmarks/tokenize_bench.py "$binary" "$model" "$@"
