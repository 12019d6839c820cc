#!/usr/bin/env python3
"""Writes small LoRA adapters for a base GGUF (e.g. a random model from make-random-model.py):
the same random adapter as a GGUF LoRA written by gguf-py (the peer writer) and as PEFT folders
written by hand with numpy, plus the exact values for the tests to compare against.

    python3 scripts/make-lora-fixtures.py BASE.gguf OUT_DIR [--rank 8] [--alpha 16]
        [--targets attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down,token_embd,output]
        [--seed 0]

OUT_DIR gets:
    adapter.gguf, adapter-f16.gguf      llama.cpp GGUF LoRA (general.type=adapter, adapter.type=lora,
                                        adapter.lora.alpha), F32 and F16 tensors
    peft-f32/, peft-f16/, peft-bf16/    adapter_config.json + adapter_model.safetensors
    expected/manifest.json              architecture, alpha, rank, and per target the shapes of
                                        A (rank x n_in) and B (n_out x rank) and their value files
    expected/<target>.a.f32, .b.f32     A and B, row-major little-endian float32
    expected/<target>.b-hf.f32          B in Hugging Face's row order, where the PEFT folders differ

Every value is non-zero and exactly representable in F32, F16 and BF16 (rounded to BF16's 8-bit
significand, magnitudes at least 2^-14), so all variants hold identical values and a reader that
loses or moves a value fails the comparison. Targets missing from the base (output of a tied
model) are left out. Deterministic for a seed.

The expected values and the GGUF files hold B in the base GGUF's row order. The PEFT folders hold it
in Hugging Face's, as PEFT saves it: for a llama base the rows of attn_q's and attn_k's B are
un-permuted (llama.cpp's converter interleaves each head's two RoPE halves; convert_lora_to_gguf.py
applies the same permutation to lora_B).
"""
import argparse
import json
import os
import struct

import numpy as np
from gguf import GGUFReader, GGUFWriter

LAYER_MODULES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def representable(values):
    """Rounds float32 values to BF16 precision (nearest even) and lifts tiny ones to +-2^-14."""
    bits = values.astype(np.float32).view(np.uint32)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    out = bits.astype(np.uint32).view(np.float32).copy()
    small = np.abs(out) < 2.0 ** -14
    out[small] = np.where(out[small] < 0, -(2.0 ** -14), 2.0 ** -14)
    return out


def peft_names(target):
    """PEFT tensor names of A and B for a GGUF target, and the short module name."""
    if target == "token_embd.weight":
        base = "base_model.model.model.embed_tokens"
        return base + ".lora_embedding_A", base + ".lora_embedding_B", "embed_tokens"
    if target == "output.weight":
        base = "base_model.model.lm_head"
        return base + ".lora_A.weight", base + ".lora_B.weight", "lm_head"
    _, block, tensor, _ = target.split(".")
    module = LAYER_MODULES[tensor]
    base = "base_model.model.model.layers.%s.%s" % (block, module)
    return base + ".lora_A.weight", base + ".lora_B.weight", module.split(".")[-1]


def write_safetensors(path, tensors, dtype):
    """tensors: list of (name, float32 array). Writes dtype F32, F16 or BF16, sorted by name."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name, values in sorted(tensors):
        if dtype == "F32":
            blob = values.astype("<f4").tobytes()
        elif dtype == "F16":
            blob = values.astype("<f2").tobytes()
        else:
            blob = (values.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(values.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def to_hf_rows(b, heads):
    """GGUF row order -> Hugging Face's, within each of `heads` heads: GGUF row 2i + j is HF row
    j * d/2 + i (the inverse of llama.cpp's permute)."""
    rows, rank = b.shape
    d = rows // heads
    return b.reshape(heads, d // 2, 2, rank).swapaxes(1, 2).reshape(rows, rank)


def field_int(reader, key):
    field = reader.fields.get(key)
    return None if field is None else int(field.parts[field.data[0]][0])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base")
    p.add_argument("out")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--targets", default="attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    reader = GGUFReader(a.base)
    field = reader.fields["general.architecture"]
    arch = bytes(field.parts[field.data[0]]).decode()
    shapes = {t.name: [int(n) for n in t.shape] for t in reader.tensors}
    wanted = set(a.targets.split(","))

    def order(name):
        if name == "token_embd.weight":
            return (0, 0, 0)
        if name.startswith("blk."):
            _, block, tensor, _ = name.split(".")
            return (1, int(block), list(LAYER_MODULES).index(tensor))
        return (2, 0, 0)

    targets = []
    for name in shapes:
        if name in ("token_embd.weight", "output.weight"):
            if name.split(".")[0] in wanted:
                targets.append(name)
        elif name.startswith("blk.") and name.endswith(".weight") and name.split(".")[2] in wanted:
            targets.append(name)
    targets.sort(key=order)

    rng = np.random.default_rng(a.seed)
    r = a.rank
    pairs = {}
    for name in targets:
        ne0, ne1 = shapes[name][:2]
        # A linear layer's ggml [n_in, n_out]; the embedding's [n_embd, n_vocab] takes token ids.
        n_in, n_out = (ne1, ne0) if name == "token_embd.weight" else (ne0, ne1)
        A = representable(rng.standard_normal((r, n_in)) / np.sqrt(n_in))
        B = representable(rng.standard_normal((n_out, r)) * 0.05)
        pairs[name] = (A, B)

    # B as PEFT holds it: a llama base's attn_q / attn_k rows in Hugging Face's order.
    peft_b = {}
    for name, (A, B) in pairs.items():
        kind = name.split(".")[2] if name.startswith("blk.") else ""
        if arch == "llama" and kind in ("attn_q", "attn_k"):
            heads = field_int(reader, "llama.attention.head_count")
            if kind == "attn_k":
                heads = field_int(reader, "llama.attention.head_count_kv") or heads
            peft_b[name] = to_hf_rows(B, heads)

    os.makedirs(os.path.join(a.out, "expected"), exist_ok=True)
    manifest = {"architecture": arch, "alpha": a.alpha, "rank": r, "targets": []}
    for name, (A, B) in pairs.items():
        A.astype("<f4").tofile(os.path.join(a.out, "expected", name + ".a.f32"))
        B.astype("<f4").tofile(os.path.join(a.out, "expected", name + ".b.f32"))
        if name in peft_b:
            peft_b[name].astype("<f4").tofile(os.path.join(a.out, "expected", name + ".b-hf.f32"))
        manifest["targets"].append({"name": name, "a_shape": list(A.shape), "b_shape": list(B.shape)})
    with open(os.path.join(a.out, "expected", "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)

    for file_name, dtype in (("adapter.gguf", np.float32), ("adapter-f16.gguf", np.float16)):
        w = GGUFWriter(os.path.join(a.out, file_name), arch)
        w.add_type("adapter")
        w.add_string("adapter.type", "lora")
        w.add_float32("adapter.lora.alpha", a.alpha)
        for name, (A, B) in pairs.items():
            # numpy (rows, cols) is ggml [cols, rows]. The embedding's A is stored transposed:
            # llama.cpp gathers one row of it per token.
            stored_a = A.T if name == "token_embd.weight" else A
            w.add_tensor(name + ".lora_a", np.ascontiguousarray(stored_a).astype(dtype))
            w.add_tensor(name + ".lora_b", B.astype(dtype))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    modules = sorted({peft_names(name)[2] for name in pairs})
    config = {
        "alpha_pattern": {}, "base_model_name_or_path": "random-%s" % arch, "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "lora_alpha": a.alpha, "lora_dropout": 0.0,
        "modules_to_save": None, "peft_type": "LORA", "r": r, "rank_pattern": {},
        "target_modules": modules, "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False,
    }
    for dtype in ("F32", "F16", "BF16"):
        folder = os.path.join(a.out, "peft-" + dtype.lower())
        os.makedirs(folder, exist_ok=True)
        tensors = []
        for name, (A, B) in pairs.items():
            name_a, name_b, _ = peft_names(name)
            tensors += [(name_a, A), (name_b, peft_b.get(name, B))]
        write_safetensors(os.path.join(folder, "adapter_model.safetensors"), tensors, dtype)
        with open(os.path.join(folder, "adapter_config.json"), "w") as f:
            json.dump(config, f, indent=2)


if __name__ == "__main__":
    main()
