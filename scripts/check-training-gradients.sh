#!/usr/bin/env bash
# Checks LocoLLM's LoRA gradients against PyTorch + PEFT on the same GGUF for one batch: a random
# tiny llama and qwen3 model (and any GGUF given as arguments), every projection adapted, rank 4,
# random A and nonzero B, two ragged sequences with partial loss masks. PEFT folders hold llama's
# query/key B rows in Hugging Face's order on both sides (--lora-layout hf). Optional: needs
# scripts/install-training-peer.sh (torch, peft, transformers); not part of scripts/test.sh.
#
#   scripts/check-training-gradients.sh [MODEL.gguf ...]
#
# Tolerance: 1e-3 of each tensor's largest gradient (PyTorch runs in float64, LocoLLM in float32
# over a few hundred accumulated terms; the observed differences are ~1e-5).
set -euo pipefail
cd "$(dirname "$0")/.."
loco="${LOCO:-.build/release/loco}"
[ -x "$loco" ] || swift build -c release --product loco >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

models=("$@")
if [ ${#models[@]} -eq 0 ]; then
    python3 scripts/make-random-model.py "$work/llama.gguf" --arch llama --layers 2 --width 128 --ffn 256 --heads 4 --kv-heads 2 --seed 3
    python3 scripts/make-random-model.py "$work/qwen3.gguf" --arch qwen3 --layers 2 --width 128 --ffn 256 --heads 4 --kv-heads 2 --head-dim 64 --tied --seed 4
    models=("$work/llama.gguf" "$work/qwen3.gguf")
fi

status=0
for model in "${models[@]}"; do
    name="$(basename "$model" .gguf)"
    echo "== $name"
    python3 scripts/train_peer.py make-init --model "$model" --out "$work/$name-init" --rank 4 --alpha 8 \
        --targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj --seed 1
    python3 scripts/train_peer.py make-batch --model "$model" --out "$work/$name-batch.json" --sequences 2 --length 24 --ragged --seed 2
    "$loco" train-gradients --model "$model" --initial "$work/$name-init" --batch "$work/$name-batch.json" --out "$work/$name-ours"
    python3 scripts/train_peer.py grads --model "$model" --init "$work/$name-init" --batch "$work/$name-batch.json" --out "$work/$name-peer" \
        --lora-layout hf
    python3 scripts/train_peer.py compare "$work/$name-ours" "$work/$name-peer" --tolerance 1e-3 || status=1
done
exit $status
