#!/usr/bin/env python3
"""Writes the block-format fixtures: float rows, ggml's quantization of them and ggml's dequantization.

    python3 scripts/make-quant-fixtures.py [OUT_DIR]   # default Tests/QuantizationTests/Fixtures/blocks

ggml is the oracle (its reference quantizers through `ggml_peer.py`, i.e. the libraries
llama-cpp-python ships). Where gguf-py can quantize or dequantize a type, its bytes and floats are
compared with ggml's here; a disagreement is printed and gguf-py's output is stored beside ggml's
(`TYPE.gguf-py.q` / `TYPE.gguf-py.f32`) and named in the index, so it stays visible.

Files (raw little-endian):
    input.f32            every row, float32, ROWS x N_PER_ROW
    TYPE.q               ggml's bytes for every row, row after row
    TYPE.f32             ggml's dequantization of TYPE.q (absent when ggml has no dequantizer)
    index.json           row descriptions, per-type files, block sizes, the gguf-py verdicts and
                         llama_model_quantize's (`llama_quantize_peer.py`)

Deterministic: one seeded numpy Generator per distribution, so rerunning reproduces the files
byte for byte (for a given numpy and ggml). To add a type, add its name to TYPES.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ggml_peer  # noqa: E402
import llama_quantize_peer  # noqa: E402

# The types with fixtures. gguf-py names (GGMLQuantizationType).
TYPES = [
    "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q8_K", "TQ1_0", "TQ2_0",
    "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
]

N_PER_ROW = 512
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "QuantizationTests", "Fixtures", "blocks")

TINY = np.float32(2.0**-149)  # the smallest denormal


def f32(a):
    return np.asarray(a, dtype=np.float32)


def normal(rng):
    return [("standard normal", f32(rng.standard_normal(N_PER_ROW))),
            ("normal, sigma 0.02 (weight-like)", f32(rng.standard_normal(N_PER_ROW) * 0.02)),
            ("normal, sigma 300, mean 40", f32(rng.standard_normal(N_PER_ROW) * 300 + 40))]


def uniform(rng):
    return [("uniform [-1, 1)", f32(rng.uniform(-1, 1, N_PER_ROW))),
            ("uniform [0, 5) (one-signed)", f32(rng.uniform(0, 5, N_PER_ROW)))]


def heavy(rng):
    return [("Student-t, df 1.5", f32(rng.standard_t(1.5, N_PER_ROW))),
            ("Cauchy", f32(rng.standard_cauchy(N_PER_ROW))),
            ("normal with rare 1000x outliers", f32(rng.standard_normal(N_PER_ROW)
                                                    * np.where(rng.random(N_PER_ROW) < 0.01, 1000, 1)))]


def near_ternary(rng):
    t = rng.integers(-1, 2, N_PER_ROW)
    return [("{-1,0,1} * 0.7 + noise 0.01", f32(t * 0.7 + rng.standard_normal(N_PER_ROW) * 0.01)),
            ("{-1,0,1} * 3 + noise 0.3", f32(rng.integers(-1, 2, N_PER_ROW) * 3.0
                                              + rng.standard_normal(N_PER_ROW) * 0.3))]


def ties(rng):
    # Halves that meet the rounding modes exactly: with an amax of 127 every Q8_0 block has d = 1,
    # and with a signed max of 127 Q8_K has iscale = -1; the second row puts x/amax at +-0.5 for TQ.
    halves = f32(rng.integers(-253, 254, N_PER_ROW) / 2)
    halves[::32] = 127
    return [("halves in [-126.5, 126.5], 127 first in every block (rounding ties)", halves),
            ("{-1, -0.5, 0, 0.5, 1}, 1 first in every block (ternary ties)",
             f32(np.where(np.arange(N_PER_ROW) % 32 == 0, 1, rng.integers(-2, 3, N_PER_ROW) / 2)))]


def zero(rng):
    mixed = f32(rng.standard_normal(N_PER_ROW))
    mixed[:256] = 0              # a whole 256-block of zeros (K/TQ types)
    mixed[256 + 64:256 + 96] = 0  # and one 32-block of zeros in the other half
    mixed[256 + 128:256 + 160] = -0.0
    return [("all zero", f32(np.zeros(N_PER_ROW))), ("zero blocks among normal values", mixed)]


def tiny(rng):
    denormal = f32(rng.integers(-2**20, 2**20, N_PER_ROW)) * TINY
    mixed = f32(rng.standard_normal(N_PER_ROW) * 1e-30)
    mixed[1::2] = denormal[1::2]
    return [("normal * 1e-30", f32(rng.standard_normal(N_PER_ROW) * 1e-30)),
            ("1e-30 values interleaved with denormals", mixed),
            ("denormals only (scales overflow to infinity)", denormal)]


def huge(rng):
    extreme = f32(rng.uniform(-3.4e38, 3.4e38, N_PER_ROW))
    return [("normal * 1e30", f32(rng.standard_normal(N_PER_ROW) * 1e30)),
            ("uniform +-1e38", f32(rng.uniform(-1e38, 1e38, N_PER_ROW))),
            ("uniform +-3.4e38 (max - min overflows)", extreme)]


def boundary(rng):
    """Values within a few ulps of the truncation boundaries, where a fused multiply-add in
    `x*id + c` changes the result (a ggml built with FMA contraction differs on most blocks)."""
    rows = []
    for name, levels, lo, hi in [("Q4_0", -8, -8, 8), ("Q5_0", -16, -16, 16)]:
        s = rng.uniform(0.5, 2, (N_PER_ROW // 32, 1))
        k = rng.integers(lo, hi, (N_PER_ROW // 32, 32)) + 0.5
        x = k * s * (1 + rng.integers(-4, 5, k.shape) * 2.0**-24)
        x[:, 0] = levels * s[:, 0]
        rows.append((f"{name} truncation boundaries (k + 0.5) * d +- 4 ulp", f32(x.reshape(-1))))
    for name, levels in [("Q4_1", 15), ("Q5_1", 31)]:
        s = rng.uniform(0.5, 2, (N_PER_ROW // 32, 1))
        m = rng.uniform(-3, 0, (N_PER_ROW // 32, 1))
        k = rng.integers(0, levels, (N_PER_ROW // 32, 32)) + 0.5
        x = m + k * s * (1 + rng.integers(-4, 5, k.shape) * 2.0**-24)
        x[:, 0], x[:, 1] = m[:, 0], m[:, 0] + levels * s[:, 0]
        rows.append((f"{name} truncation boundaries min + (k + 0.5) * d +- 4 ulp", f32(x.reshape(-1))))
    return rows


DISTRIBUTIONS = [("normal", normal), ("uniform", uniform), ("heavy", heavy), ("near-ternary", near_ternary),
                 ("ties", ties), ("zero", zero), ("tiny", tiny), ("huge", huge), ("boundary", boundary)]


def gguf_py():
    try:
        from gguf import GGMLQuantizationType, quants
        return GGMLQuantizationType, quants
    except ImportError:
        return None, None


def describe(v):
    return v if isinstance(v, str) else f"differs in rows {v['differs_in_rows']}"


def compare_gguf_py(name, x, q, deq, gtypes, quants, out, entry, problems):
    """gguf-py's quantization and dequantization next to ggml's, row by row."""
    if gtypes is None or name not in gtypes.__members__:
        entry["gguf_py_quantize"] = entry["gguf_py_dequantize"] = "unavailable"
        return
    qtype = gtypes[name]
    rows = x.shape[0]
    try:
        theirs = np.asarray(quants.quantize(x, qtype), dtype=np.uint8).reshape(rows, -1)
    except (NotImplementedError, quants.QuantError):
        entry["gguf_py_quantize"] = "unsupported"
    else:
        bad = [r for r in range(rows) if not np.array_equal(theirs[r], q.reshape(rows, -1)[r])]
        entry["gguf_py_quantize"] = "identical" if not bad else {"differs_in_rows": bad, "file": name + ".gguf-py.q"}
        if bad:
            theirs.tofile(os.path.join(out, name + ".gguf-py.q"))
            problems.append(f"{name}: gguf-py quantize differs from ggml in rows {bad}")
    if deq is None:
        entry["gguf_py_dequantize"] = "no ggml dequantizer"
        return
    try:
        theirs = np.asarray(quants.dequantize(q.reshape(rows, -1), qtype), dtype=np.float32).reshape(rows, -1)
    except (NotImplementedError, quants.QuantError):
        entry["gguf_py_dequantize"] = "unsupported"
        return
    ours = deq.reshape(rows, -1)
    bad = [r for r in range(rows) if not np.array_equal(theirs[r].view(np.uint32), ours[r].view(np.uint32))]
    entry["gguf_py_dequantize"] = "identical" if not bad else {"differs_in_rows": bad, "file": name + ".gguf-py.f32"}
    if bad:
        theirs.tofile(os.path.join(out, name + ".gguf-py.f32"))
        problems.append(f"{name}: gguf-py dequantize differs from ggml (bit patterns) in rows {bad}")


def main():
    # Overflowing scales (denormal and huge rows) are intended; gguf-py's numpy warnings are noise.
    np.seterr(all="ignore")
    os.makedirs(OUT, exist_ok=True)
    rows = []
    for seed, (dist, make) in enumerate(DISTRIBUTIONS):
        for description, values in make(np.random.default_rng(1000 + seed)):
            assert values.shape == (N_PER_ROW,) and not np.isnan(values).any()
            rows.append((dist, description, values))
    x = np.stack([r[2] for r in rows]).astype("<f4")
    x.tofile(os.path.join(OUT, "input.f32"))

    gtypes, quants = gguf_py()
    index = {"n_per_row": N_PER_ROW, "input": "input.f32",
             "rows": [{"distribution": d, "description": s} for d, s, _ in rows], "types": {}}
    problems = []
    for name in TYPES:
        block, size = ggml_peer.traits(name)
        q = ggml_peer.quantize(name, x, N_PER_ROW)
        q.tofile(os.path.join(OUT, name + ".q"))
        entry = {"ggml_type": ggml_peer.type_id(name), "block_size": block, "block_bytes": size,
                 "quantized": name + ".q", "dequantized": None}
        deq = None
        if ggml_peer.can_dequantize(name):
            deq = ggml_peer.dequantize(name, q)
            deq.astype("<f4").tofile(os.path.join(OUT, name + ".f32"))
            entry["dequantized"] = name + ".f32"
        compare_gguf_py(name, x, q, deq, gtypes, quants, OUT, entry, problems)
        index["types"][name] = entry
        print(f"{name:6} quantize vs gguf-py: {describe(entry['gguf_py_quantize']):22} "
              f"dequantize vs gguf-py: {describe(entry['gguf_py_dequantize'])}")

    # llama-quantize itself (llama_model_quantize on a tiny llama GGUF holding these rows) must write
    # the bytes stored above; rows it refuses (infinite scales) are named in the verdict.
    llama_types = [t for t in TYPES if t in llama_quantize_peer.FTYPES]
    for name, verdict in llama_quantize_peer.check(x, N_PER_ROW, llama_types).items():
        index["types"][name]["llama_model_quantize"] = verdict
        same = isinstance(verdict, dict) and "identical" in verdict
        print(f"{name:6} llama_model_quantize vs ggml_quantize_chunk: "
              + (f"identical (rows left out: {verdict['rows_left_out']})" if same else str(verdict)))
        if not same:
            problems.append(f"{name}: llama_model_quantize differs from ggml_quantize_chunk: {verdict}")

    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"{len(rows)} rows of {N_PER_ROW}, {len(TYPES)} types, {total / 1024:.0f} KiB in {os.path.normpath(OUT)}")
    if problems:
        print("\ngguf-py and ggml DISAGREE (both outputs stored):\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    main()
