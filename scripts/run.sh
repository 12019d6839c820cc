#!/usr/bin/env bash
# The main job on the default model: sets up what is missing, builds `loco` in release and runs it.
# With no arguments it inspects the default model; any arguments go to `loco` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product loco >&2
if [ $# -eq 0 ]; then
    set -- inspect
fi
exec .build/release/loco "$@"
