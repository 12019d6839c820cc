#!/usr/bin/env python3
"""Writes the row-kernel fixture: what ggml's CPU backend (from llama-cpp-python) computes for
activation quantization, dot products and dequantization, for the CKernels tests to compare with.

    python3 scripts/make-kernel-fixtures.py [OUT_DIR]   # default Tests/QuantizationTests/Fixtures/kernels

It calls ggml through ctypes, the functions llama.cpp itself uses at run time:
  - ggml_get_type_traits_cpu(type)->from_float: the activation quantizer (Q8_0, Q8_1, Q8_K);
  - ggml_get_type_traits_cpu(type)->vec_dot: the dot product of a weight row with quantized
    activations (vec_dot_type names their format);
  - ggml_get_type_traits(type)->to_float: dequantize_row_*.
Inputs come from a seeded generator, so rerunning reproduces the file unless ggml changes.
Output: ggml-kernels.json (binary fields base64, dots as float32 bit patterns in hex).
"""
import base64
import ctypes
import json
import os
import struct
import sys

import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "QuantizationTests", "Fixtures", "kernels")

N = 2048            # values per row: 8 super-blocks, 64 blocks of 32
ROWS = 3            # weight rows per format
DEQUANTIZED = 512   # values of row 0 kept dequantized (blocks are independent)

# name, ggml type id, values per block, bytes per block, byte offsets of the half scales
# (d, and dmin / m where the format has one).
FORMATS = [
    ("q4_0", 2, 32, 18, [0]),
    ("q4_1", 3, 32, 20, [0, 2]),
    ("q5_0", 6, 32, 22, [0]),
    ("q5_1", 7, 32, 24, [0, 2]),
    ("q8_0", 8, 32, 34, [0]),
    ("q2_K", 10, 256, 84, [80, 82]),
    ("q3_K", 11, 256, 110, [108]),
    ("q4_K", 12, 256, 144, [0, 2]),
    ("q5_K", 13, 256, 176, [0, 2]),
    ("q6_K", 14, 256, 210, [208]),
    ("tq1_0", 34, 256, 54, [52]),
    ("tq2_0", 35, 256, 66, [64]),
]
ACTIVATIONS = [("q8_0", 8, 32, 34), ("q8_1", 9, 32, 36), ("q8_K", 15, 256, 292)]


class TypeTraitsCPU(ctypes.Structure):
    _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p),
                ("vec_dot_type", ctypes.c_int), ("nrows", ctypes.c_int64)]


class TypeTraits(ctypes.Structure):
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p),
                ("from_float_ref", ctypes.c_void_p)]


FROM_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
VEC_DOT = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                           ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


def load_ggml():
    import llama_cpp
    lib = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    base = ctypes.CDLL(os.path.join(lib, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    cpu = ctypes.CDLL(os.path.join(lib, "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL)
    cpu.ggml_cpu_init.restype = None
    cpu.ggml_cpu_init()
    cpu.ggml_get_type_traits_cpu.restype = ctypes.POINTER(TypeTraitsCPU)
    cpu.ggml_get_type_traits_cpu.argtypes = [ctypes.c_int]
    base.ggml_get_type_traits.restype = ctypes.POINTER(TypeTraits)
    base.ggml_get_type_traits.argtypes = [ctypes.c_int]
    return base, cpu, llama_cpp.__version__


def activation_rows(rng):
    """Row 0: random values, block magnitudes spread over 1e-3...1e2. Row 1: the edge cases."""
    x = rng.standard_normal(N).astype(np.float32)
    x *= np.repeat(np.float32(10.0) ** rng.uniform(-3, 2, N // 32).astype(np.float32), 32)
    y = rng.standard_normal(N).astype(np.float32)
    # Q8_0/Q8_1 blocks with amax 127 (scale exactly 1) and halfway values: half-to-even rounding
    # gives 2, -2, 4 where roundf would give 3, -3, 5.
    for b in range(4):
        blk = y[32 * b: 32 * b + 32]
        blk[:] = np.float32(0.5) + rng.integers(-60, 60, 32).astype(np.float32)
        blk[0] = 127
    # Q8_K super-block 1: largest magnitude reached twice with opposite signs, negative first, so
    # the signed max (and with it the sign of every quant) depends on taking the first.
    sb = y[256:512]
    sb[:] = rng.standard_normal(256).astype(np.float32)
    sb[10], sb[200] = -4.0, 4.0
    # Super-block 2: positive max first.
    sb = y[512:768]
    sb[:] = rng.standard_normal(256).astype(np.float32)
    sb[3], sb[100] = 3.0, -3.0
    # Super-block 7: all zeros (d = 0; ggml leaves bsums unwritten, the buffer here starts zeroed).
    y[1792:2048] = 0
    return [x, y]


def weight_row(rng, block, size, halves):
    nb = N // block
    data = rng.integers(0, 256, size=(nb, size), dtype=np.uint8)
    for off in halves:
        scale = (rng.uniform(0.001, 0.05, nb) * rng.choice([-1.0, 1.0], nb)).astype(np.float16)
        data[:, off:off + 2] = scale.view(np.uint8).reshape(nb, 2)
    return data.tobytes()


def b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


def main():
    base, cpu, version = load_ggml()
    rng = np.random.default_rng(20261127)
    acts = activation_rows(rng)

    quantized = {}  # (activation format, row) -> bytes
    activation_json = []
    for r, x in enumerate(acts):
        entry = {"floats": b64(x.tobytes())}
        for name, tid, block, size in ACTIVATIONS:
            out = ctypes.create_string_buffer(N // block * size)
            traits = cpu.ggml_get_type_traits_cpu(tid).contents
            FROM_FLOAT(traits.from_float)(x.ctypes.data, ctypes.addressof(out), N)
            quantized[(tid, r)] = out.raw
            entry[name] = b64(out.raw)
        activation_json.append(entry)

    formats_json = []
    for name, tid, block, size, halves in FORMATS:
        traits = cpu.ggml_get_type_traits_cpu(tid).contents
        assert traits.nrows == 1, name
        rows, dots = [], []
        for _ in range(ROWS):
            w = weight_row(rng, block, size, halves)
            wbuf = ctypes.create_string_buffer(w, len(w))
            row_dots = []
            for r in range(len(acts)):
                a = quantized[(traits.vec_dot_type, r)]
                abuf = ctypes.create_string_buffer(a, len(a))
                s = ctypes.c_float(0)
                VEC_DOT(traits.vec_dot)(N, ctypes.addressof(s), 0, ctypes.addressof(wbuf), 0,
                                        ctypes.addressof(abuf), 0, 1)
                row_dots.append("%08x" % struct.unpack("<I", struct.pack("<f", s.value))[0])
            rows.append(b64(w))
            dots.append(row_dots)
        deq = np.zeros(DEQUANTIZED, dtype=np.float32)
        first = ctypes.create_string_buffer(base64.b64decode(rows[0]), N // block * size)
        TO_FLOAT(base.ggml_get_type_traits(tid).contents.to_float)(ctypes.addressof(first), deq.ctypes.data, DEQUANTIZED)
        formats_json.append({"name": name, "type": tid, "rows": rows, "dots": dots,
                             "dequantized": b64(deq.tobytes())})

    os.makedirs(OUT, exist_ok=True)
    doc = {
        "generator": "scripts/make-kernel-fixtures.py",
        "peer": "ggml from llama-cpp-python %s (libggml-cpu x86 build)" % version,
        "n": N,
        "dequantizedCount": DEQUANTIZED,
        "activations": activation_json,
        "formats": formats_json,
    }
    with open(os.path.join(OUT, "ggml-kernels.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
