#!/usr/bin/env bash
# The main job on the default model: sets up what is missing (OpenBLAS, the default model), builds
# `loco` in release and generates a reply to a fixed prompt with `loco run`, streaming the text to
# standard output and a statistics line (tokens, prefill and decode speed) to standard error.
# Any arguments go to `loco` instead, e.g. `scripts/run.sh embed --prompt "Hello" --json`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product loco >&2
if [ $# -eq 0 ]; then
    set -- run "Explain in one paragraph what a LoRA adapter is."
fi
exec .build/release/loco "$@"
