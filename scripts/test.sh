#!/usr/bin/env bash
# The whole test suite: sets up the machine (OpenBLAS, the default model, the Python peers, a
# single-node Slurm), then
# runs `swift test` with the peers required, so a missing peer fails instead of being skipped.
#
# The kernel set is the CPU's best unless LOCO_CPU_FEATURES lowers it (scalar|avx2|avx512|neon|
# neon-dotprod); the tests pick their peers and expectations from the set that runs. On a CPU with
# AVX-512 (and LOCO_CPU_FEATURES unset) a second, short pass then runs the kernel and
# llama.cpp-order checks under LOCO_CPU_FEATURES=avx2 against llama.cpp built for AVX2, so the
# AVX2 path every laptop runs is checked on every run here too.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --peers
# A single-node Slurm on loopback for the cluster tests (ReleaseSlurmTests); where it cannot be
# installed or started they are skipped with the reason printed.
scripts/slurm-cluster.sh start || echo "test.sh: no Slurm cluster here; the Slurm tests will be skipped" >&2
export LOCO_REQUIRE_PEERS=1
export OPENBLAS_NUM_THREADS=1
# Tests that push the real model through the SDK run the release-built tool (debug is 10-50x slower).
swift build -c release --product loco
swift test "$@"
if [ -z "${LOCO_CPU_FEATURES:-}" ] && [ $# -eq 0 ] && grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    echo "== the AVX2 kernels (LOCO_CPU_FEATURES=avx2) against llama.cpp built for AVX2"
    LOCO_CPU_FEATURES=avx2 swift test --skip-build \
        --filter 'KernelTests|PanelProductTests|BatchDecoderTests|VectorExpTests|WeightMatrixTests|GGMLNumericsTests|RandomModelParityTests|smolLM2DecodeStepsAreBitIdenticalInLlamaCppOrder'
fi
