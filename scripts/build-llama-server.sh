#!/usr/bin/env bash
# Builds llama.cpp's own server (`llama-server`) from the llama.cpp sources that the
# llama-cpp-python source distribution vendors (the same version the parity tests use), for the
# side-by-side serving benchmark (Benchmarks/serve_peer_bench.py). Prints the binary's path.
# Built once into the peers folder; the instruction set follows this CPU (as install-peers.sh).
set -euo pipefail
LLAMA_CPP_PYTHON_VERSION=0.3.36
peers="${LOCO_PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/locollm/peers}"
prefix="$peers/llama-server-$LLAMA_CPP_PYTHON_VERSION"
args="-DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF $("$(dirname "$0")/ggml-isa-flags.sh")"
if [ -x "$prefix/bin/llama-server" ] && [ "$(cat "$prefix/.loco-build" 2>/dev/null)" = "$args" ]; then
    echo "$prefix/bin/llama-server"
    exit 0
fi
if ! command -v cmake >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq cmake >/dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "building llama-server ($args); this takes several minutes" >&2
python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$work" >&2
tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
src="$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)"
# shellcheck disable=SC2086
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release $args >&2
cmake --build "$work/build" --target llama-server -j "$(nproc)" >&2
rm -rf "$prefix"
mkdir -p "$prefix/bin"
cp "$work/build/bin/llama-server" "$prefix/bin/"
echo "$args" > "$prefix/.loco-build"
echo "$prefix/bin/llama-server"
