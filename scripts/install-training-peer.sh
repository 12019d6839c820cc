#!/usr/bin/env bash
# OPTIONAL peer: installs PyTorch (CPU-only wheel) + transformers + PEFT, used by
# scripts/train_peer.py (reference LoRA gradients for one batch) and
# Benchmarks/training_peer_bench.py (reference LoRA training speed). Nothing in scripts/setup.sh or
# scripts/test.sh needs it; run it by hand when you want the training peer.
#
# torch comes from the CPU-only wheel in pip's find-links folder (/opt/wheels): a plain
# `pip install torch` would pull about 2.8 GB of GPU libraries. Idempotent: exits at once when the
# pinned versions are already installed.
set -euo pipefail

TORCH_VERSION=2.13.0+cpu
PEFT_VERSION=0.21.2
TRANSFORMERS_VERSION=5.24.0
SAFETENSORS_VERSION=0.8.0
ACCELERATE_VERSION=1.15.0

have() { [ "$(python3 -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null)" = "$2" ]; }

if have torch "$TORCH_VERSION" && have peft "$PEFT_VERSION" && have transformers "$TRANSFORMERS_VERSION" \
    && have safetensors "$SAFETENSORS_VERSION" && have accelerate "$ACCELERATE_VERSION"; then
    exit 0
fi
echo "installing the training peer: torch $TORCH_VERSION, peft $PEFT_VERSION, transformers $TRANSFORMERS_VERSION" >&2
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    "torch==$TORCH_VERSION" "peft==$PEFT_VERSION" "transformers==$TRANSFORMERS_VERSION" \
    "safetensors==$SAFETENSORS_VERSION" "accelerate==$ACCELERATE_VERSION"
