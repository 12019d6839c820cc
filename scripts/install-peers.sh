#!/usr/bin/env bash
# Installs the Python peers the tests compare against: gguf-py and llama-cpp-python (which compiles
# llama.cpp, 7-10 minutes on 2 cores the first time). Idempotent: a peer already installed with the
# same version and build flags is kept.
#
# llama.cpp is built for the instruction sets this CPU reports, except AMX: on the virtual
# machines here the AMX tile instructions trap (SIGILL) even where cpuinfo lists them.
set -euo pipefail

GGUF_VERSION=0.19.0
LLAMA_CPP_PYTHON_VERSION=0.3.36

pip_install() { python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"; }

if ! python3 -c "import gguf, numpy, sys; sys.exit(0 if gguf.__file__ else 1)" 2>/dev/null \
    || [ "$(python3 -c 'import importlib.metadata as m; print(m.version("gguf"))' 2>/dev/null)" != "$GGUF_VERSION" ]; then
    echo "installing gguf-py $GGUF_VERSION" >&2
    pip_install "gguf==$GGUF_VERSION" numpy
fi

"$(dirname "$0")/fetch-vocab-tests.sh"  # llama.cpp's tokenizer test vectors; before the early exit below

flags="$(grep -m1 '^flags' /proc/cpuinfo || true)"
has() { [[ " $flags " == *" $1 "* ]]; }
cmake_args="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF"
has avx && cmake_args+=" -DGGML_AVX=ON"
has avx2 && cmake_args+=" -DGGML_AVX2=ON"
has fma && cmake_args+=" -DGGML_FMA=ON"
has f16c && cmake_args+=" -DGGML_F16C=ON"
has bmi2 && cmake_args+=" -DGGML_BMI2=ON"
if has avx512f && has avx512bw && has avx512dq && has avx512vl; then
    cmake_args+=" -DGGML_AVX512=ON"
    has avx512vbmi && cmake_args+=" -DGGML_AVX512_VBMI=ON"
    has avx512_vnni && cmake_args+=" -DGGML_AVX512_VNNI=ON"
    has avx512_bf16 && cmake_args+=" -DGGML_AVX512_BF16=ON"
fi
has avx_vnni && cmake_args+=" -DGGML_AVX_VNNI=ON"
marker_value="$LLAMA_CPP_PYTHON_VERSION $cmake_args"

site="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
marker="$site/llama_cpp/.loco-build"
if python3 -c "import llama_cpp" 2>/dev/null && [ -f "$marker" ] && [ "$(cat "$marker")" = "$marker_value" ]; then
    exit 0
fi
echo "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION ($cmake_args); this takes several minutes" >&2
CMAKE_ARGS="$cmake_args" pip_install --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
# Its run-time dependencies, from wheels.
pip_install "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
echo "$marker_value" > "$marker"
