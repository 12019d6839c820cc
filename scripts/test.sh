#!/usr/bin/env bash
# The whole test suite: sets up the machine (OpenBLAS, the default model, the Python peers), then
# runs `swift test` with the peers required, so a missing peer fails instead of being skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --peers
export LOCO_REQUIRE_PEERS=1
export OPENBLAS_NUM_THREADS=1
# Tests that push the real model through the SDK run the release-built tool (debug is 10-50x slower).
swift build -c release --product loco
swift test "$@"
