#!/usr/bin/env bash
# Checks the ARM64 NEON kernels of Sources/CKernels on an x86-64 machine: cross-compiles every
# Sources/CKernels/*.c with Tests/CKernelsNEON/driver.c for aarch64 Linux and runs the driver
# under qemu-aarch64 twice, on a CPU with the dot product instructions (-cpu max: scalar, neon
# and neondot variants) and on one without (-cpu cortex-a53: scalar and neon). The driver compares
# every NEON kernel with the scalar code and with the committed ggml fixtures.
#
#   scripts/test-neon.sh            exit 0 when both runs pass; 77 (and "SKIP: <reason>") when
#                                   qemu or the cross libc cannot be installed; otherwise non-zero.
#
# Installs what it needs on first use (Debian, as root): qemu-user, libc6-dev-arm64-cross and
# libgcc-12-dev-arm64-cross; links with lld (the Swift toolchain's, or any ld.lld on PATH).
# On an ARM64 Linux machine it runs the driver natively instead (once, on the CPU it has).
# Environment: CC (clang to use), LOCO_NEON_BUILD_DIR (default .build/neon-check).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${LOCO_NEON_BUILD_DIR:-$ROOT/.build/neon-check}"
SYSROOT=/usr/aarch64-linux-gnu

skip() { echo "SKIP: $*"; exit 77; }

find_clang() {
    if [ -n "${CC:-}" ] && command -v "$CC" >/dev/null 2>&1; then echo "$CC"; return; fi
    for c in /opt/swift/usr/bin/clang "$(command -v clang 2>/dev/null || true)"; do
        if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return; fi
    done
}

CLANG="$(find_clang)"
[ -n "$CLANG" ] || skip "no clang found (set CC)"

NATIVE=0
case "$(uname -m)" in aarch64 | arm64) NATIVE=1 ;; esac

if [ "$NATIVE" = 0 ]; then
    # What the cross build and the emulator need, installed once.
    missing=()
    command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
    [ -f "$SYSROOT/lib/libc.so.6" ] && [ -f "$SYSROOT/include/stdio.h" ] || missing+=(libc6-dev-arm64-cross)
    ls /usr/lib/gcc-cross/aarch64-linux-gnu/*/crtbeginS.o >/dev/null 2>&1 || missing+=(libgcc-12-dev-arm64-cross)
    if [ "${#missing[@]}" -gt 0 ]; then
        command -v apt-get >/dev/null 2>&1 || skip "needs ${missing[*]} and there is no apt-get"
        [ "$(id -u)" = 0 ] || skip "needs ${missing[*]} (install them as root)"
        echo "installing ${missing[*]}"
        mkdir -p "$(dirname "$BUILD")"
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
               DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$BUILD.apt.log" 2>&1; then
            skip "could not install ${missing[*]} (see $BUILD.apt.log)"
        fi
    fi
    command -v qemu-aarch64 >/dev/null 2>&1 || skip "qemu-aarch64 is not available"
    [ -f "$SYSROOT/lib/libc.so.6" ] || skip "the aarch64 cross libc is not available"
fi

# Linker: lld next to the clang, or on PATH; else the GNU cross linker if present.
LINK=()
if [ "$NATIVE" = 0 ]; then
    if [ -x "$(dirname "$CLANG")/ld.lld" ] || command -v ld.lld >/dev/null 2>&1; then
        LINK=(-fuse-ld=lld)
    elif ! command -v aarch64-linux-gnu-ld >/dev/null 2>&1; then
        skip "no linker for aarch64 (ld.lld or binutils-aarch64-linux-gnu)"
    fi
fi

mkdir -p "$BUILD/objects" "$BUILD/fixtures/kernels" "$BUILD/fixtures/blocks"
TARGET=()
[ "$NATIVE" = 0 ] && TARGET=(--target=aarch64-linux-gnu)
CFLAGS=(-std=gnu11 -O2 -Wall -Werror -I "$ROOT/Sources/CKernels/include" -I "$ROOT/Sources/CKernels")

# Compile only what changed (objects newer than their source and every header).
newest_header=""
for h in "$ROOT"/Sources/CKernels/*.h "$ROOT"/Sources/CKernels/include/*.h; do
    if [ -z "$newest_header" ] || [ "$h" -nt "$newest_header" ]; then newest_header="$h"; fi
done
objects=()
for src in "$ROOT"/Sources/CKernels/*.c "$ROOT"/Tests/CKernelsNEON/driver.c; do
    obj="$BUILD/objects/$(basename "$src" .c).o"
    objects+=("$obj")
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_header" -nt "$obj" ] || [ "$0" -nt "$obj" ]; then
        "$CLANG" "${TARGET[@]}" "${CFLAGS[@]}" -c "$src" -o "$obj"
    fi
done
"$CLANG" "${TARGET[@]}" "${LINK[@]}" -o "$BUILD/driver" "${objects[@]}" -lm -ldl -lpthread

# The dequantizers must not fuse a multiply and an add (bit identity with ggml): no fused
# instruction may appear in their object code. (The random tests rarely see the difference:
# most scale products are exact.)
OBJDUMP="$(dirname "$CLANG")/llvm-objdump"
[ -x "$OBJDUMP" ] || OBJDUMP="$(command -v llvm-objdump || true)"
if [ -n "$OBJDUMP" ]; then
    fused="$("$OBJDUMP" -d "$BUILD/objects/dequantize.o" | grep -cE '\s(fmla|fmls|fmadd|fmsub|fnmadd|fnmsub)\s' || true)"
    if [ "$fused" != 0 ]; then
        echo "FAIL: dequantize.o has $fused fused multiply-add instructions"
        exit 1
    fi
    echo "dequantize.o: no fused multiply-add instructions"
fi

# The ggml fixtures as plain files for the driver (base64 JSON -> raw bytes), once per change.
FIXTURE="$ROOT/Tests/QuantizationTests/Fixtures/kernels/ggml-kernels.json"
if [ ! -f "$BUILD/fixtures/kernels/meta.txt" ] || [ "$FIXTURE" -nt "$BUILD/fixtures/kernels/meta.txt" ]; then
    python3 - "$FIXTURE" "$BUILD/fixtures/kernels" <<'EOF'
import base64, json, os, struct, sys
fixture = json.load(open(sys.argv[1]))
out = sys.argv[2]
def write(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
for r, row in enumerate(fixture["activations"]):
    write(f"act{r}.f32", base64.b64decode(row["floats"]))
    for key in ("q8_0", "q8_1", "q8_K"):
        write(f"act{r}.{key}", base64.b64decode(row[key]))
rows = 0
for fmt in fixture["formats"]:
    rows = len(fmt["rows"])
    for r, data in enumerate(fmt["rows"]):
        write(f"{fmt['name']}.row{r}", base64.b64decode(data))
    write(f"{fmt['name']}.dots", b"".join(struct.pack("<I", int(v, 16)) for dots in fmt["dots"] for v in dots))
    write(f"{fmt['name']}.deq", base64.b64decode(fmt["dequantized"]))
with open(os.path.join(out, "meta.txt"), "w") as f:
    f.write(f"{fixture['n']} {fixture['dequantizedCount']} {len(fixture['activations'])} {rows}\n")
EOF
fi
cp -p "$ROOT"/Tests/QuantizationTests/Fixtures/blocks/*.q "$ROOT"/Tests/QuantizationTests/Fixtures/blocks/*.f32 "$BUILD/fixtures/blocks/"

status=0
run() {
    local label="$1"
    shift
    echo "== $label"
    # Unset LOCO_CPU_FEATURES: a mask from the caller would hide the variants under test.
    if env -u LOCO_CPU_FEATURES "$@" "$BUILD/driver" "$BUILD/fixtures"; then :; else status=1; fi
}
if [ "$NATIVE" = 1 ]; then
    run "native"
else
    run "qemu-aarch64 -cpu max (NEON + dotprod)" qemu-aarch64 -L "$SYSROOT" -cpu max
    run "qemu-aarch64 -cpu cortex-a53 (NEON, no dotprod)" qemu-aarch64 -L "$SYSROOT" -cpu cortex-a53
fi
exit $status
