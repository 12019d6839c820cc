#!/usr/bin/env python3
"""ggml-cpu's float kernels as a peer for the Tensor tests (through ctypes, the libraries
llama-cpp-python ships; nothing is compiled here).

    python3 scripts/inference_ggml_numerics.py softmax IN.f32 OUT.f32
        ggml_vec_soft_max_f32 of IN with its maximum: writes the exponentials (not normalized)
        followed by the double sum ggml returns, as float64 (the last 8 bytes).
    python3 scripts/inference_ggml_numerics.py swiglu X.f32 G.f32 OUT.f32
        ggml_vec_swiglu_f32: silu(x) * g with ggml's vectorized exp.
    python3 scripts/inference_ggml_numerics.py dot N X.f32 Y.f32 OUT.f32
        ggml_vec_dot_f32 of consecutive N-value rows of X and Y, one float per row.

All files are raw little-endian arrays.
"""
import ctypes
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ggml_peer  # noqa: E402


def cpu():
    lib = ggml_peer._cpu()
    lib.ggml_vec_soft_max_f32.restype = ctypes.c_double
    lib.ggml_vec_soft_max_f32.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float]
    lib.ggml_vec_swiglu_f32.restype = None
    lib.ggml_vec_swiglu_f32.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.ggml_vec_dot_f32.restype = None
    lib.ggml_vec_dot_f32.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_void_p,
                                     ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return lib


def read(path):
    return np.ascontiguousarray(np.fromfile(path, dtype="<f4"))


def main():
    command = sys.argv[1]
    lib = cpu()
    if command == "softmax":
        x = read(sys.argv[2])
        y = np.zeros_like(x)
        total = lib.ggml_vec_soft_max_f32(x.size, y.ctypes.data, x.ctypes.data, float(x.max()))
        with open(sys.argv[3], "wb") as f:
            f.write(y.astype("<f4").tobytes())
            f.write(np.array([total], dtype="<f8").tobytes())
    elif command == "swiglu":
        x, g = read(sys.argv[2]), read(sys.argv[3])
        y = np.zeros_like(x)
        lib.ggml_vec_swiglu_f32(x.size, y.ctypes.data, x.ctypes.data, g.ctypes.data)
        y.astype("<f4").tofile(sys.argv[4])
    elif command == "dot":
        n = int(sys.argv[2])
        x, y = read(sys.argv[3]), read(sys.argv[4])
        out = np.zeros(x.size // n, dtype="<f4")
        s = ctypes.c_float()
        for r in range(out.size):
            lib.ggml_vec_dot_f32(n, ctypes.byref(s), 0, x.ctypes.data + 4 * r * n, 0, y.ctypes.data + 4 * r * n, 0, 1)
            out[r] = s.value
        out.tofile(sys.argv[5])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
