#!/usr/bin/env bash
# Prints the ggml CMake options for this CPU's instruction set (what GGML_NATIVE would pick, named
# one by one so that a build never uses an extension the CPU lacks): install-peers.sh and
# build-llama-server.sh build llama.cpp with them.
set -euo pipefail
flags="$(grep -m1 '^flags' /proc/cpuinfo || true)"
has() { [[ " $flags " == *" $1 "* ]]; }
out=""
has avx && out+=" -DGGML_AVX=ON"
has avx2 && out+=" -DGGML_AVX2=ON"
has fma && out+=" -DGGML_FMA=ON"
has f16c && out+=" -DGGML_F16C=ON"
has bmi2 && out+=" -DGGML_BMI2=ON"
if has avx512f && has avx512bw && has avx512dq && has avx512vl; then
    out+=" -DGGML_AVX512=ON"
    has avx512vbmi && out+=" -DGGML_AVX512_VBMI=ON"
    has avx512_vnni && out+=" -DGGML_AVX512_VNNI=ON"
    has avx512_bf16 && out+=" -DGGML_AVX512_BF16=ON"
fi
has avx_vnni && out+=" -DGGML_AVX_VNNI=ON"
echo "${out# }"
