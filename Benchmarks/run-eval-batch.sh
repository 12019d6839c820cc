#!/usr/bin/env bash
# Batched evaluation against one sequence at a time, same run, same suite: the generated math
# set (`loco data math`, its suite.jsonl), scored by `loco eval run --batch 1` and
# `--batch N`, alternating, the best of the repeats of each; prints items/s of both and the
# ratio, with the CPU.
#   Benchmarks/run-eval-batch.sh [--count 32] [--batch 16] [--max-tokens 128] [--repeats 2] [--model M]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
count=32 batch=16 max_tokens=128 repeats=2 model=()
while [ $# -gt 0 ]; do
    case "$1" in
        --count) count="$2"; shift 2 ;;
        --batch) batch="$2"; shift 2 ;;
        --max-tokens) max_tokens="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        --model) model=(--model "$2"); shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
swift build -c release --product loco >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
.build/release/loco data math --out "$work/math" --train 1 --test "$count" --seed 11 >&2
best() { python3 -c "import json,sys; print(max(json.load(open(f))['items_per_second'] for f in sys.argv[1:]))" "$@"; }
for r in $(seq "$repeats"); do
    for b in 1 "$batch"; do
        .build/release/loco eval run --suite "$work/math/suite.jsonl" "${model[@]}" --batch "$b" --max-tokens "$max_tokens" --json \
            2>/dev/null > "$work/b$b-$r.json"
    done
done
one=$(best "$work"/b1-*.json)
many=$(best "$work"/b"$batch"-*.json)
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
python3 -c "print(f'cpu: $cpu; math set, $count items, max $max_tokens tokens: batch 1 {$one:.3f} items/s, batch $batch {$many:.3f} items/s, ratio {$many/$one:.2f}x')"
