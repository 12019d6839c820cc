#!/usr/bin/env bash
# Puts llama.cpp's tokenizer test vectors (models/ggml-vocab-*.gguf with their .inp/.out files, as
# test-tokenizer-0 uses them) into the cache, from the llama-cpp-python source distribution, which
# vendors llama.cpp. Does nothing when they are already there. Not committed: ~75 MB.
# The folder is $LOCO_VOCAB_TESTS, else $XDG_CACHE_HOME/locollm/vocab-tests, else
# ~/.cache/locollm/vocab-tests.
set -euo pipefail
VERSION=0.3.36
dir="${LOCO_VOCAB_TESTS:-${XDG_CACHE_HOME:-$HOME/.cache}/locollm/vocab-tests}"
marker="$dir/.llama-cpp-python-$VERSION"
if [ -f "$marker" ]; then
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "fetching llama.cpp's tokenizer test vectors into $dir (llama-cpp-python==$VERSION source distribution)" >&2
python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    "llama-cpp-python==$VERSION" -d "$work" >&2
mkdir -p "$dir"
python3 - "$work" "$dir" <<'PY'
import glob, os, sys, tarfile
work, target = sys.argv[1], sys.argv[2]
archive = glob.glob(os.path.join(work, "llama_cpp_python-*.tar.gz"))[0]
count = 0
with tarfile.open(archive) as tar:
    for member in tar.getmembers():
        name = os.path.basename(member.name)
        if member.isfile() and "/vendor/llama.cpp/models/" in member.name and name.startswith("ggml-vocab-"):
            partial = os.path.join(target, name + ".partial")
            with tar.extractfile(member) as src, open(partial, "wb") as dst:
                dst.write(src.read())
            os.replace(partial, os.path.join(target, name))
            count += 1
print(f"{count} files", file=sys.stderr)
PY
touch "$marker"
