#!/usr/bin/env python3
"""Writes the GGUF reader's test fixtures with gguf-py, and gguf-py's own reading of each as JSON.

    python3 scripts/make-gguf-fixtures.py [OUT_DIR]   # default Tests/GGUFFormatTests/Fixtures

The files are small and committed; rerunning this script must reproduce them byte for byte
(tensor bytes come from a seeded generator).
"""
import json
import os
import sys

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, GGUFWriter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_peer import dump  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "GGUFFormatTests", "Fixtures")


def finish(writer, path):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with open(path + ".json", "w") as f:
        json.dump(dump(path), f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


def raw_tensor(writer, rng, name, qtype, shape):
    """A tensor of random bytes of `qtype`; shape in ggml order (ne0 first)."""
    block, size = GGML_QUANT_SIZES[qtype]
    # gguf-py takes quantized data as uint8 in numpy order, the last axis being a row's bytes.
    byte_shape = list(reversed(shape[1:])) + [shape[0] // block * size]
    data = rng.integers(0, 256, size=byte_shape, dtype=np.uint8)
    writer.add_tensor(name, data, raw_dtype=qtype)


def value_types(path):
    w = GGUFWriter(path, "llama")
    w.add_uint8("test.u8", 255)
    w.add_int8("test.i8", -128)
    w.add_uint16("test.u16", 65535)
    w.add_int16("test.i16", -32768)
    w.add_uint32("test.u32", 4294967295)
    w.add_int32("test.i32", -2147483648)
    w.add_float32("test.f32", 3.1415927)
    w.add_float32("test.f32_neg_zero", -0.0)
    w.add_float32("test.f32_inf", float("inf"))
    w.add_float32("test.f32_nan", float("nan"))
    w.add_float32("test.f32_denormal", 1e-45)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "hello, GGUF")
    w.add_string("test.string_empty", "")
    w.add_string("test.string_unicode", "héllo wörld ✓ 你好 🦙\n\ttab")
    w.add_uint64("test.u64", 18446744073709551615)
    w.add_int64("test.i64", -9223372036854775808)
    w.add_float64("test.f64", 2.718281828459045)
    w.add_float64("test.f64_tiny", 5e-324)
    w.add_key_value("test.arr_u8", [0, 1, 254, 255], GGUFValueType.ARRAY, GGUFValueType.UINT8)
    w.add_key_value("test.arr_i8", [-128, 0, 127], GGUFValueType.ARRAY, GGUFValueType.INT8)
    w.add_key_value("test.arr_u16", [0, 65535], GGUFValueType.ARRAY, GGUFValueType.UINT16)
    w.add_key_value("test.arr_i16", [-32768, 32767], GGUFValueType.ARRAY, GGUFValueType.INT16)
    w.add_key_value("test.arr_u32", [0, 4294967295], GGUFValueType.ARRAY, GGUFValueType.UINT32)
    w.add_array("test.arr_i32", [-1, 0, 1, 2147483647])
    w.add_array("test.arr_f32", [0.5, -1.25, 1e30])
    w.add_array("test.arr_bool", [True, False, True])
    w.add_array("test.arr_string", ["a", "", "ĠHello", "<|im_start|>", "🦙"])
    w.add_key_value("test.arr_u64", [0, 18446744073709551615], GGUFValueType.ARRAY, GGUFValueType.UINT64)
    w.add_key_value("test.arr_i64", [-9223372036854775808, 9223372036854775807], GGUFValueType.ARRAY, GGUFValueType.INT64)
    w.add_key_value("test.arr_f64", [1.0, -2.5e-300], GGUFValueType.ARRAY, GGUFValueType.FLOAT64)
    w.add_array("test.arr_nested", [[1, 2], [3, 4, 5]])
    w.add_array("test.arr_nested_strings", [["x", "y"], ["z"]])
    w.add_array("test.arr_nested3", [[[1], [2, 3]], [[4]]])
    rng = np.random.default_rng(1)
    w.add_tensor("f32", rng.standard_normal((2, 8)).astype(np.float32))
    finish(w, path)


def aligned(path, alignment):
    w = GGUFWriter(path, "llama")
    if alignment != 32:
        w.add_custom_alignment(alignment)
    w.add_string("general.name", "alignment %d" % alignment)
    rng = np.random.default_rng(alignment)
    w.add_tensor("a.weight", rng.standard_normal((3, 5)).astype(np.float32))
    raw_tensor(w, rng, "b.weight", GGMLQuantizationType.Q4_0, [32, 3])
    w.add_tensor("c.weight", rng.standard_normal((7,)).astype(np.float16))
    raw_tensor(w, rng, "d.weight", GGMLQuantizationType.Q6_K, [256, 2])
    raw_tensor(w, rng, "e.weight", GGMLQuantizationType.Q8_0, [64, 1, 2, 3])
    finish(w, path)


def tensor_types(path):
    w = GGUFWriter(path, "llama")
    rng = np.random.default_rng(7)
    for qtype in GGMLQuantizationType:
        if qtype == GGMLQuantizationType.Q8_1:
            # gguf-py's size table still has Q8_1's old 40-byte block; ggml's is 36, so a Q8_1
            # tensor written by gguf-py is one ggml (and LocoLLM) reads with another size.
            continue
        block, _ = GGML_QUANT_SIZES[qtype]
        raw_tensor(w, rng, "t.%s" % qtype.name.lower(), qtype, [block * 2, 3])
    finish(w, path)


def no_tensors(path):
    w = GGUFWriter(path, "llama")
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "ab"])
    finish(w, path)


def version2(source, path):
    """gguf-py writes only version 3; version 2 has the same little-endian layout."""
    with open(source, "rb") as f:
        data = bytearray(f.read())
    data[4:8] = (2).to_bytes(4, "little")
    with open(path, "wb") as f:
        f.write(data)
    with open(path + ".json", "w") as f:
        json.dump(dump(path), f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    value_types(os.path.join(OUT, "value-types.gguf"))
    for alignment in (1, 32, 64):
        aligned(os.path.join(OUT, "align-%d.gguf" % alignment), alignment)
    tensor_types(os.path.join(OUT, "tensor-types.gguf"))
    no_tensors(os.path.join(OUT, "no-tensors.gguf"))
    version2(os.path.join(OUT, "align-32.gguf"), os.path.join(OUT, "version-2.gguf"))
    print("fixtures written to", os.path.abspath(OUT))


if __name__ == "__main__":
    main()
