#!/usr/bin/env python3
"""ggml itself as a peer: its reference quantizers, dequantizers and dot products through ctypes.

The libraries are the ones llama-cpp-python ships (`llama_cpp/lib/libggml-base.so`,
`libggml-cpu.so`); nothing is compiled here. Importable (`quantize`, `dequantize`, `quantize_cpu`,
`vec_dot`) and a command line for the Swift tests:

    python3 scripts/ggml_peer.py quantize TYPE N_PER_ROW IN.f32 OUT.bin [--cpu]
        Quantizes rows of N_PER_ROW float32 values with ggml's reference quantizer
        (`ggml_quantize_chunk`, what llama-quantize runs without an importance matrix; Q8_1 and
        Q8_K through `quantize_row_*_ref`). --cpu uses the CPU backend's `from_float` instead, the
        quantizer llama.cpp applies to activations (it may round differently from the reference).
    python3 scripts/ggml_peer.py dequantize TYPE IN.bin OUT.f32 [TYPE IN.bin OUT.f32 ...]
        ggml's `to_float` (for Q8_K `dequantize_row_q8_K`); several files in one call.
    python3 scripts/ggml_peer.py batch N_PER_ROW IN.f32 OUT_DIR TYPE [TYPE ...]
        For each TYPE writes OUT_DIR/TYPE.q (reference quantizer) and, when ggml can dequantize
        the type, OUT_DIR/TYPE.f32 (ggml's dequantization of those bytes); prints a JSON summary.
    python3 scripts/ggml_peer.py vec-dot TYPE N_PER_ROW W.bin X.f32 OUT.f32
        For every row of weights W (TYPE) and row of activations X: X quantized by the CPU
        backend to the type's `vec_dot_type`, then ggml's `vec_dot`; writes one float32 per pair.
    python3 scripts/ggml_peer.py mul-mat TYPE N_PER_ROW W.bin X.f32 OUT.f32
        ggml-cpu's whole MUL_MAT of weights W (TYPE, rows of N_PER_ROW) with the rows of X, in a
        plain context on one thread (no repacked weights): the path llama.cpp takes for types it
        does not repack, e.g. the tiled K-quant GEMM from 8 rows of X and `vec_dot` below. Writes
        X rows x W rows float32 values, row-major.

All files are raw little-endian arrays. Destination buffers start zeroed: ggml's Q8_K leaves
`bsums` of an all-zero block unwritten, and zeroed memory makes that reproducible.
"""
import ctypes
import json
import os
import sys

import numpy as np

# ggml_type ids (ggml.h). Extend when a new type is needed; names follow gguf-py.
TYPE_IDS = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q8_1": 9,
    "Q2_K": 10, "Q3_K": 11, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "Q8_K": 15,
    "IQ2_XXS": 16, "IQ2_XS": 17, "IQ3_XXS": 18, "IQ1_S": 19, "IQ4_NL": 20, "IQ3_S": 21, "IQ2_S": 22,
    "IQ4_XS": 23, "IQ1_M": 29, "BF16": 30, "TQ1_0": 34, "TQ2_0": 35, "MXFP4": 39,
}
TYPE_NAMES = {v: k for k, v in TYPE_IDS.items()}

# Types that `ggml_quantize_chunk` rejects; their `_ref` quantizers are called directly.
_REF_ONLY = {"Q8_1": "quantize_row_q8_1_ref", "Q8_K": "quantize_row_q8_K_ref"}
# Types whose dequantizer is exported but missing from the type traits.
_DEQUANT_SYMBOLS = {"Q8_K": "dequantize_row_q8_K"}

_to_float_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
_from_float_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
_vec_dot_t = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t,
                              ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


class _Traits(ctypes.Structure):
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p),
                ("from_float_ref", ctypes.c_void_p)]


class _CpuTraits(ctypes.Structure):
    _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p),
                ("vec_dot_type", ctypes.c_int), ("nrows", ctypes.c_int64)]


_libs = {}


def library_dir():
    """The folder with llama-cpp-python's ggml libraries (ImportError when it is not installed):
    LLAMA_CPP_LIB_PATH when set (as llama-cpp-python itself honours it; the AVX2 build that
    scripts/install-peers.sh puts together on AVX-512 machines), else the package's own."""
    override = os.environ.get("LLAMA_CPP_LIB_PATH")
    if override:
        if not os.path.isfile(os.path.join(override, "libggml-cpu.so")):
            raise ImportError(f"LLAMA_CPP_LIB_PATH={override} holds no libggml-cpu.so")
        return override
    import importlib.util
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        raise ImportError("llama_cpp (llama-cpp-python) is not installed")
    return os.path.join(os.path.dirname(spec.origin), "lib")


def _base():
    if "base" not in _libs:
        lib = ctypes.CDLL(os.path.join(library_dir(), "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
        lib.ggml_get_type_traits.restype = ctypes.POINTER(_Traits)
        lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
        lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                            ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
        _libs["base"] = lib
    return _libs["base"]


def _cpu():
    if "cpu" not in _libs:
        _base()
        lib = ctypes.CDLL(os.path.join(library_dir(), "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL)
        lib.ggml_get_type_traits_cpu.restype = ctypes.POINTER(_CpuTraits)
        lib.ggml_get_type_traits_cpu.argtypes = [ctypes.c_int]
        lib.ggml_cpu_init()
        _libs["cpu"] = lib
    return _libs["cpu"]


def type_id(name):
    return TYPE_IDS[name.upper()]


def traits(name):
    """(block size, bytes per block) of a type."""
    t = _base().ggml_get_type_traits(type_id(name)).contents
    return int(t.blck_size), int(t.type_size)


def row_bytes(name, n_per_row):
    block, size = traits(name)
    if n_per_row % block:
        raise ValueError(f"{name}: row length {n_per_row} is not a multiple of the block size {block}")
    return n_per_row // block * size


def _rows(values, n_per_row):
    values = np.ascontiguousarray(values, dtype="<f4").reshape(-1)
    if values.size % n_per_row:
        raise ValueError(f"{values.size} values are not whole rows of {n_per_row}")
    return values, values.size // n_per_row


def quantize(name, values, n_per_row):
    """ggml's reference quantization of `values` (rows of n_per_row) as uint8 bytes."""
    name = name.upper()
    values, nrows = _rows(values, n_per_row)
    out = np.zeros(nrows * row_bytes(name, n_per_row), dtype=np.uint8)
    if name in _REF_ONLY:
        fn = getattr(_base(), _REF_ONLY[name])
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn(values.ctypes.data, out.ctypes.data, values.size)
    else:
        written = _base().ggml_quantize_chunk(type_id(name), values.ctypes.data, out.ctypes.data, 0, nrows,
                                              n_per_row, None)
        assert written == out.size, (name, written, out.size)
    return out


def quantize_cpu(name, values, n_per_row):
    """The CPU backend's `from_float` (SIMD; used on activations) as uint8 bytes."""
    name = name.upper()
    values, nrows = _rows(values, n_per_row)
    fn = _cpu().ggml_get_type_traits_cpu(type_id(name)).contents.from_float
    if not fn:
        raise ValueError(f"{name}: the CPU backend has no from_float")
    out = np.zeros(nrows * row_bytes(name, n_per_row), dtype=np.uint8)
    stride = row_bytes(name, n_per_row)
    for r in range(nrows):
        _from_float_t(fn)(values.ctypes.data + 4 * r * n_per_row, out.ctypes.data + r * stride, n_per_row)
    return out


def can_dequantize(name):
    name = name.upper()
    return name in _DEQUANT_SYMBOLS or bool(_base().ggml_get_type_traits(type_id(name)).contents.to_float)


def dequantize(name, data):
    """ggml's dequantization of `data` (bytes of whole blocks) as float32."""
    name = name.upper()
    data = np.ascontiguousarray(np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray)
                                else data.view(np.uint8).reshape(-1))
    block, size = traits(name)
    if data.size % size:
        raise ValueError(f"{name}: {data.size} bytes are not whole blocks of {size}")
    n = data.size // size * block
    out = np.zeros(n, dtype="<f4")
    if name in _DEQUANT_SYMBOLS:
        fn = getattr(_base(), _DEQUANT_SYMBOLS[name])
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn(data.ctypes.data, out.ctypes.data, n)
    else:
        to_float = _base().ggml_get_type_traits(type_id(name)).contents.to_float
        if not to_float:
            raise ValueError(f"{name}: ggml has no dequantizer")
        _to_float_t(to_float)(data.ctypes.data, out.ctypes.data, n)
    return out


def vec_dot(name, weights, activations, n_per_row):
    """One float per (weight row, activation row): ggml's `vec_dot` of weights (bytes of `name`) with
    activations quantized by the CPU backend to the type's `vec_dot_type`. Returns (floats, that type)."""
    name = name.upper()
    cpu = _cpu().ggml_get_type_traits_cpu(type_id(name)).contents
    if not cpu.vec_dot:
        raise ValueError(f"{name}: the CPU backend has no vec_dot")
    dot_type = TYPE_NAMES[cpu.vec_dot_type]
    weights = np.ascontiguousarray(weights, dtype=np.uint8).reshape(-1)
    wstride = row_bytes(name, n_per_row)
    xq = quantize_cpu(dot_type, activations, n_per_row) if dot_type != "F32" else _rows(activations, n_per_row)[0]
    xstride = row_bytes(dot_type, n_per_row)
    rows = weights.size // wstride
    out = np.zeros(rows, dtype="<f4")
    s = ctypes.c_float()
    for r in range(rows):
        _vec_dot_t(cpu.vec_dot)(n_per_row, ctypes.byref(s), 0, weights.ctypes.data + r * wstride, 0,
                                xq.ctypes.data + r * xstride, 0, 1)
        out[r] = s.value
    return out, dot_type


class _InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


def mul_mat(name, weights, activations, n_per_row, threads=1):
    """ggml-cpu's MUL_MAT (graph compute in a plain context): X rows x W rows float32 values."""
    name = name.upper()
    base, cpu = _base(), _cpu()
    weights = np.ascontiguousarray(weights, dtype=np.uint8).reshape(-1)
    x, count = _rows(activations, n_per_row)
    rows = weights.size // row_bytes(name, n_per_row)
    base.ggml_init.restype = ctypes.c_void_p
    base.ggml_init.argtypes = [_InitParams]
    base.ggml_free.argtypes = [ctypes.c_void_p]
    base.ggml_new_tensor_2d.restype = ctypes.c_void_p
    base.ggml_new_tensor_2d.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    base.ggml_mul_mat.restype = ctypes.c_void_p
    base.ggml_mul_mat.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    base.ggml_new_graph.restype = ctypes.c_void_p
    base.ggml_new_graph.argtypes = [ctypes.c_void_p]
    base.ggml_build_forward_expand.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    base.ggml_get_data.restype = ctypes.c_void_p
    base.ggml_get_data.argtypes = [ctypes.c_void_p]
    cpu.ggml_graph_compute_with_ctx.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    size = weights.size + x.nbytes + 4 * rows * count + (64 << 20)
    ctx = base.ggml_init(_InitParams(size, None, False))
    try:
        w = base.ggml_new_tensor_2d(ctx, type_id(name), n_per_row, rows)
        a = base.ggml_new_tensor_2d(ctx, type_id("F32"), n_per_row, count)
        ctypes.memmove(base.ggml_get_data(w), weights.ctypes.data, weights.size)
        ctypes.memmove(base.ggml_get_data(a), x.ctypes.data, x.nbytes)
        out = base.ggml_mul_mat(ctx, w, a)
        graph = base.ggml_new_graph(ctx)
        base.ggml_build_forward_expand(graph, out)
        status = cpu.ggml_graph_compute_with_ctx(ctx, graph, threads)
        assert status == 0, status
        result = np.empty(rows * count, dtype="<f4")
        ctypes.memmove(result.ctypes.data, base.ggml_get_data(out), result.nbytes)
        return result
    finally:
        base.ggml_free(ctx)


def batch(n_per_row, values, out_dir, names):
    summary = {}
    os.makedirs(out_dir, exist_ok=True)
    for name in names:
        name = name.upper()
        q = quantize(name, values, n_per_row)
        q.tofile(os.path.join(out_dir, name + ".q"))
        entry = {"quantized": name + ".q", "dequantized": None}
        if can_dequantize(name):
            dequantize(name, q).tofile(os.path.join(out_dir, name + ".f32"))
            entry["dequantized"] = name + ".f32"
        summary[name] = entry
    return summary


def main(argv):
    usage = __doc__
    if len(argv) < 2:
        sys.exit(usage)
    command, args = argv[1], argv[2:]
    if command == "quantize" and len(args) in (4, 5):
        name, n, src, dst = args[0], int(args[1]), args[2], args[3]
        values = np.fromfile(src, dtype="<f4")
        (quantize_cpu if args[4:] == ["--cpu"] else quantize)(name, values, n).tofile(dst)
    elif command == "dequantize" and args and len(args) % 3 == 0:
        for name, src, dst in zip(args[0::3], args[1::3], args[2::3]):
            dequantize(name, np.fromfile(src, dtype=np.uint8)).tofile(dst)
    elif command == "batch" and len(args) >= 4:
        values = np.fromfile(args[1], dtype="<f4")
        json.dump(batch(int(args[0]), values, args[2], args[3:]), sys.stdout)
    elif command == "vec-dot" and len(args) == 5:
        name, n = args[0], int(args[1])
        out, dot_type = vec_dot(name, np.fromfile(args[2], dtype=np.uint8), np.fromfile(args[3], dtype="<f4"), n)
        out.tofile(args[4])
        json.dump({"vec_dot_type": dot_type, "rows": int(out.size)}, sys.stdout)
    elif command == "mul-mat" and len(args) == 5:
        name, n = args[0], int(args[1])
        mul_mat(name, np.fromfile(args[2], dtype=np.uint8), np.fromfile(args[3], dtype="<f4"), n).tofile(args[4])
    else:
        sys.exit(usage)


if __name__ == "__main__":
    main(sys.argv)
