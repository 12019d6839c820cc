#!/usr/bin/env python3
"""Peers that read LoRA adapters LocoLLM writes, for the Swift tests.

    python3 scripts/lora_peer.py read-gguf ADAPTER.gguf EXPECTED_DIR
        Reads the GGUF LoRA with gguf-py and compares it with EXPECTED_DIR (as written by
        make-lora-fixtures.py): general.type, adapter.type, architecture, alpha (by bit pattern),
        the tensor set, ggml shapes, F32 type and every value by bit pattern.
    python3 scripts/lora_peer.py read-peft FOLDER EXPECTED_DIR
        Reads adapter_config.json with json and adapter_model.safetensors by hand with numpy,
        and compares r, lora_alpha, target_modules, tensor names, shapes and values.
    python3 scripts/lora_peer.py llama-load BASE.gguf ADAPTER.gguf
        Loads the base in llama.cpp (llama-cpp-python) and the adapter with llama_adapter_lora_init.

Each prints JSON {"problems": [...], ...}; an empty list means agreement. llama-load exits 1 when
llama.cpp refuses the adapter.
"""
import json
import os
import struct
import sys

import numpy as np

LAYER_MODULES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def expected(folder):
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    pairs = {}
    for t in manifest["targets"]:
        a = np.fromfile(os.path.join(folder, t["name"] + ".a.f32"), dtype="<f4").reshape(t["a_shape"])
        b = np.fromfile(os.path.join(folder, t["name"] + ".b.f32"), dtype="<f4").reshape(t["b_shape"])
        pairs[t["name"]] = (a, b)
    return manifest, pairs


def expected_peft_b(folder, name, b):
    """B as a PEFT folder holds it: the fixture's Hugging Face row order where it differs
    (a llama base's attn_q / attn_k, expected/<target>.b-hf.f32), else the GGUF's."""
    path = os.path.join(folder, name + ".b-hf.f32")
    return np.fromfile(path, dtype="<f4").reshape(b.shape) if os.path.exists(path) else b


def same_bits(x, y):
    return x.shape == y.shape and np.array_equal(x.astype("<f4").view("<u4"), y.astype("<f4").view("<u4"))


def read_gguf(path, expected_dir):
    from gguf import GGUFReader, GGUFValueType
    manifest, pairs = expected(expected_dir)
    reader = GGUFReader(path)
    problems = []

    def field(key):
        f = reader.fields.get(key)
        if f is None:
            return None
        if f.types[0] == GGUFValueType.STRING:
            return bytes(f.parts[f.data[0]]).decode()
        if f.types[0] == GGUFValueType.FLOAT32:
            return float(np.float32(f.parts[f.data[0]][0]))
        return f.contents()

    for key, want in (("general.type", "adapter"), ("adapter.type", "lora"), ("general.architecture", manifest["architecture"])):
        if field(key) != want:
            problems.append("%s is %r, expected %r" % (key, field(key), want))
    alpha = reader.fields.get("adapter.lora.alpha")
    if alpha is None or alpha.types[0] != GGUFValueType.FLOAT32:
        problems.append("adapter.lora.alpha missing or not FLOAT32")
    elif np.float32(alpha.parts[alpha.data[0]][0]).view(np.uint32) != np.float32(manifest["alpha"]).view(np.uint32):
        problems.append("adapter.lora.alpha %r, expected %r" % (field("adapter.lora.alpha"), manifest["alpha"]))

    tensors = {t.name: t for t in reader.tensors}
    want_names = {n + s for n in pairs for s in (".lora_a", ".lora_b")}
    if set(tensors) != want_names:
        problems.append("tensors differ: extra %s, missing %s" % (sorted(set(tensors) - want_names), sorted(want_names - set(tensors))))
    for name, (A, B) in pairs.items():
        stored_a = A.T if name == "token_embd.weight" else A
        for suffix, want in ((".lora_a", stored_a), (".lora_b", B)):
            t = tensors.get(name + suffix)
            if t is None:
                continue
            if t.tensor_type.name != "F32":
                problems.append("%s is %s, expected F32" % (t.name, t.tensor_type.name))
                continue
            # gguf-py's shape is ggml's ne (innermost first); the data array is numpy order.
            if [int(n) for n in t.shape] != [want.shape[1], want.shape[0]]:
                problems.append("%s has ggml shape %s, expected %s" % (t.name, list(t.shape), [want.shape[1], want.shape[0]]))
                continue
            if not same_bits(np.asarray(t.data).reshape(want.shape), want):
                problems.append("%s values differ" % t.name)
    return {"problems": problems, "tensors": len(tensors)}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        blob = data[begin:end]
        if entry["dtype"] == "F32":
            values = np.frombuffer(blob, dtype="<f4")
        elif entry["dtype"] == "F16":
            values = np.frombuffer(blob, dtype="<f2").astype(np.float32)
        else:
            values = (np.frombuffer(blob, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        out[name] = (entry["dtype"], values.reshape(entry["shape"]))
    return header.get("__metadata__", {}), out


def peft_names(target):
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


def read_peft(folder, expected_dir):
    manifest, pairs = expected(expected_dir)
    problems = []
    with open(os.path.join(folder, "adapter_config.json")) as f:
        config = json.load(f)
    if config.get("peft_type") != "LORA":
        problems.append("peft_type %r" % config.get("peft_type"))
    if config.get("r") != manifest["rank"]:
        problems.append("r %r, expected %r" % (config.get("r"), manifest["rank"]))
    if np.float32(config.get("lora_alpha", 0)) != np.float32(manifest["alpha"]):
        problems.append("lora_alpha %r, expected %r" % (config.get("lora_alpha"), manifest["alpha"]))
    modules = sorted({peft_names(n)[2] for n in pairs})
    if sorted(config.get("target_modules") or []) != modules:
        problems.append("target_modules %r, expected %r" % (config.get("target_modules"), modules))
    for key in ("use_dora", "use_rslora", "fan_in_fan_out"):
        if config.get(key):
            problems.append("%s is set" % key)
    metadata, tensors = read_safetensors(os.path.join(folder, "adapter_model.safetensors"))
    want = {}
    for name, (A, B) in pairs.items():
        name_a, name_b, _ = peft_names(name)
        want[name_a] = A
        want[name_b] = expected_peft_b(expected_dir, name, B)
    if set(tensors) != set(want):
        problems.append("tensors differ: extra %s, missing %s" % (sorted(set(tensors) - set(want)), sorted(set(want) - set(tensors))))
    for name, values in want.items():
        if name in tensors and not same_bits(tensors[name][1], values):
            problems.append("%s differs" % name)
    return {"problems": problems, "tensors": len(tensors), "metadata": metadata}


def llama_load(base, adapter):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import llama_cpp
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    model = llama_cpp.llama_model_load_from_file(base.encode(), params)
    if not model:
        return {"problems": ["llama.cpp could not load the base %s" % base]}
    lora = llama_cpp.llama_adapter_lora_init(model, adapter.encode())
    problems = [] if lora else ["llama_adapter_lora_init refused %s" % adapter]
    if lora:
        llama_cpp.llama_adapter_lora_free(lora)
    llama_cpp.llama_model_free(model)
    return {"problems": problems}


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "read-gguf":
        result = read_gguf(*args)
    elif command == "read-peft":
        result = read_peft(*args)
    elif command == "llama-load":
        result = llama_load(*args)
    else:
        sys.exit("unknown command %s" % command)
    json.dump(result, sys.stdout)
    if command == "llama-load" and result["problems"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
