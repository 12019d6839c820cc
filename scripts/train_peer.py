#!/usr/bin/env python3
"""PyTorch + PEFT on CPU as the peer of LocoLLM's LoRA trainer: reference gradients for one batch.
OPTIONAL: needs scripts/install-training-peer.sh (torch, transformers, peft); nothing in
scripts/test.sh depends on it. make-init, make-batch and compare need only numpy and gguf-py.

    python3 scripts/train_peer.py grads --model GGUF --init PEFT_DIR --batch BATCH.json --out OUT_DIR
        [--dtype float64|float32] [--lora-layout gguf|hf]
        Builds a PyTorch model from the GGUF (dequantized with gguf-py; see load_model), wraps it
        with PEFT LoRA as PEFT_DIR/adapter_config.json says (lora_dropout must be 0), loads
        PEFT_DIR/adapter_model.safetensors as the starting A and B, computes the loss of the
        batch and backpropagates. Writes OUT_DIR/adapter_model.safetensors (F32: the gradient of
        the loss with respect to every lora_A / lora_B tensor, under the init file's key names),
        OUT_DIR/adapter_config.json (copied) and OUT_DIR/loss.json {"loss", "trained_tokens"}.
    python3 scripts/train_peer.py compare A_DIR B_DIR [--tolerance 1e-3]
        Per tensor of the two adapter_model.safetensors: max|a-b| / max|b| and cosine similarity;
        loss.json too when both folders have one. Exit 1 on a different key set or shape, or a
        relative error above the tolerance.
    python3 scripts/train_peer.py make-init --model GGUF --out DIR [--rank 4] [--alpha 8]
        [--targets q_proj,k_proj,v_proj,o_proj] [--seed 0]
        A PEFT adapter (F32) for the model's shapes: A ~ N(0, 1/n_in), B ~ N(0, 0.02^2), so the
        gradients of A and B are both non-zero.
    python3 scripts/train_peer.py make-batch --model GGUF --out BATCH.json [--sequences 2]
        [--length 24] [--ragged] [--seed 0]
        Random token ids below the vocabulary size and a random trained mask (about half the
        positions; position 0 never; at least one per sequence). --ragged draws each sequence's
        length between length/2 and length.
    python3 scripts/train_peer.py logits --model GGUF --tokens 1,2,3 [--out OUT.f32]
        [--against LLAMA.f32] [--dtype float32|float64]
        The loaded model's logits of every position (rows = positions, float32, the layout of
        inference_peer.py logits), and the max difference to another such file: the check that
        load_model reads the GGUF right.

BATCH.json: {"tokens": [[ids...], ...], "trained": [[0/1...], ...]}; trained[s][i] = 1 makes token i
of sequence s a target predicted from position i - 1. Loss = mean over all trained tokens of the
batch (one token-level mean, not a mean of per-sequence means) of -log softmax(logits[i-1])[token i].
Shorter sequences are padded on the right; with causal attention and positions 0..n-1 the padding
never reaches a real position, and padded positions are never trained.

Conventions:
- GGUF -> transformers: llama.cpp's converter permuted the rows of llama's attn_q / attn_k so that
  RoPE works on adjacent pairs; transformers rotates halves, so load_model undoes it
  (unpermute_rows). qwen3 is stored unpermuted (NEOX RoPE in both).
- --lora-layout gguf (default): LocoLLM reads and writes PEFT tensors with the values of the GGUF
  LoRA tensors (LoRAAdapter+PEFT.swift, make-lora-fixtures.py), so the rows of a llama q_proj /
  k_proj lora_B are in the GGUF's (permuted) order. The peer un-permutes B when loading it into
  the transformers model and permutes the gradient of B back, so the gradients are those of the
  adapter as LocoLLM applies it over the GGUF. --lora-layout hf: the tensors are in transformers'
  order (what PEFT saves after training the Hugging Face model; llama.cpp's convert_lora_to_gguf.py
  permutes lora_B when converting). A is never permuted (it acts on the layer's input).
- --dtype float64 also keeps RMSNorm and RoPE in float64 (transformers computes both in float32).
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys
import warnings

import numpy as np

try:  # only grads, logits and the benchmark need torch; the other subcommands run without it
    import torch
except ImportError:
    torch = None

LAYER_MODULES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
MODULE_TENSORS = {module.split(".")[1]: tensor for tensor, module in LAYER_MODULES.items()}
OTHER_LAYER_TENSORS = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
}


# ---------------------------------------------------------------------------------------------
# GGUF reading (numpy + gguf-py only)

def open_gguf(path):
    from gguf import GGUFReader
    return GGUFReader(path)


def field_value(reader, key, default=None):
    from gguf import GGUFValueType
    f = reader.fields.get(key)
    if f is None:
        return default
    if f.types[0] == GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode()
    if f.types[0] == GGUFValueType.ARRAY:
        return f.contents()
    value = f.parts[f.data[0]][0]
    return value.item() if hasattr(value, "item") else value


def hyperparameters(reader):
    """The model's shape from the GGUF metadata (and tensor shapes where metadata is optional)."""
    arch = field_value(reader, "general.architecture")
    if arch not in ("llama", "qwen3"):
        sys.exit("architecture %r: only llama and qwen3 are supported" % arch)
    shapes = {t.name: [int(n) for n in t.shape] for t in reader.tensors}

    def key(name, default=None):
        value = field_value(reader, "%s.%s" % (arch, name), default)
        if value is None:
            sys.exit("missing %s.%s" % (arch, name))
        return value

    width = int(key("embedding_length"))
    heads = int(key("attention.head_count"))
    head_dim = int(field_value(reader, arch + ".attention.key_length", 0) or width // heads)
    rope_dim = int(field_value(reader, arch + ".rope.dimension_count", 0) or head_dim)
    if rope_dim != head_dim:
        sys.exit("partial RoPE (rope.dimension_count %d, head dim %d) is not supported" % (rope_dim, head_dim))
    return {
        "arch": arch,
        "layers": int(key("block_count")),
        "width": width,
        "ffn": int(key("feed_forward_length")),
        "heads": heads,
        "kv_heads": int(field_value(reader, arch + ".attention.head_count_kv", 0) or heads),
        "head_dim": head_dim,
        "eps": float(key("attention.layer_norm_rms_epsilon")),
        "rope_base": float(field_value(reader, arch + ".rope.freq_base", 10000.0)),
        "context": int(field_value(reader, arch + ".context_length", 2048)),
        "vocab": shapes["token_embd.weight"][1],
        "tied": "output.weight" not in shapes,
        "shapes": shapes,
    }


def unpermute_rows(w, n_head):
    """GGUF row order -> transformers row order of a llama Q/K weight (or a LoRA B): the inverse of
    the converter's reshape(n_head, 2, d/2, ...).swapaxes(1, 2)."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def permute_rows(w, n_head):
    """transformers row order -> GGUF row order (what llama.cpp's converter does)."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def row_heads(hp, module):
    """The head count a LoRA B / weight of this module is permuted with, or None (not permuted)."""
    if hp["arch"] != "llama":
        return None
    return {"q_proj": hp["heads"], "k_proj": hp["kv_heads"]}.get(module)


def hf_name(gguf_name):
    if gguf_name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if gguf_name == "output_norm.weight":
        return "model.norm.weight"
    if gguf_name == "output.weight":
        return "lm_head.weight"
    parts = gguf_name.split(".")
    if len(parts) == 4 and parts[0] == "blk" and parts[3] == "weight":
        module = LAYER_MODULES.get(parts[2]) or OTHER_LAYER_TENSORS.get(parts[2])
        if module:
            return "model.layers.%s.%s.weight" % (parts[1], module)
    return None


def dequantized_weights(reader, hp):
    """Yields (transformers name, float32 numpy array) one tensor at a time, llama's Q/K un-permuted."""
    from gguf.quants import dequantize
    for t in reader.tensors:
        name = hf_name(t.name)
        if name is None:
            if t.name.startswith("rope_freqs"):
                sys.exit("rope_freqs (rope scaling) is not supported")
            continue
        values = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        values = values.reshape([int(n) for n in reversed(list(t.shape))])
        if hp["arch"] == "llama" and t.name.endswith((".attn_q.weight", ".attn_k.weight")):
            values = unpermute_rows(values, hp["heads"] if ".attn_q." in t.name else hp["kv_heads"])
        yield name, np.array(values, dtype=np.float32, order="C", copy=True)  # writable, off the mmap


# ---------------------------------------------------------------------------------------------
# safetensors (numpy; F32 written, F32/F16/BF16/F64 read)

def write_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        blob = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


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
        blob, dtype = data[begin:end], entry["dtype"]
        if dtype == "F32":
            values = np.frombuffer(blob, dtype="<f4")
        elif dtype == "F64":
            values = np.frombuffer(blob, dtype="<f8")
        elif dtype == "F16":
            values = np.frombuffer(blob, dtype="<f2").astype(np.float32)
        elif dtype == "BF16":
            values = (np.frombuffer(blob, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            sys.exit("%s: tensor %s has dtype %s" % (path, name, dtype))
        out[name] = values.reshape(entry["shape"]).astype(np.float64)
    return out


# ---------------------------------------------------------------------------------------------
# The PyTorch model

def _exact_rms_forward(self, hidden_states):
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def _exact_rotary_forward(self, x, position_ids):
    dim = self._loco_head_dim
    inv_freq = 1.0 / (self._loco_base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = position_ids[..., None].to(torch.float64) * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def load_model(path, dtype="float32", attention="sdpa"):
    """A transformers LlamaForCausalLM / Qwen3ForCausalLM holding the GGUF's weights, dequantized
    by gguf-py to float32 (then cast to dtype), tied embeddings when output.weight is absent. The
    config is built from the GGUF metadata alone, so random models without a tokenizer load too.
    Returns (model, hyperparameters); every base parameter is frozen."""
    import transformers
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*base_model_name_or_path.*")  # PEFT, on get_peft_model
    reader = open_gguf(path)
    hp = hyperparameters(reader)
    common = dict(
        vocab_size=hp["vocab"], hidden_size=hp["width"], intermediate_size=hp["ffn"],
        num_hidden_layers=hp["layers"], num_attention_heads=hp["heads"], num_key_value_heads=hp["kv_heads"],
        head_dim=hp["head_dim"], rms_norm_eps=hp["eps"], max_position_embeddings=hp["context"],
        rope_parameters={"rope_type": "default", "rope_theta": hp["rope_base"]},
        tie_word_embeddings=hp["tied"], attention_bias=False, hidden_act="silu", use_cache=False,
        bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )
    if hp["arch"] == "llama":
        config = transformers.LlamaConfig(mlp_bias=False, **common)
        model_class = transformers.LlamaForCausalLM
    else:
        config = transformers.Qwen3Config(use_sliding_window=False, **common)
        model_class = transformers.Qwen3ForCausalLM
    config._attn_implementation = attention
    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    with torch.no_grad():
        model = model_class(config)
        if hp["tied"]:
            model.tie_weights()
            assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
        params = dict(model.named_parameters(remove_duplicate=False))
        # One tensor at a time, so the peak memory is the model plus one dequantized tensor.
        loaded = set()
        for name, values in dequantized_weights(reader, hp):
            if name not in params:
                sys.exit("GGUF tensor for %s has no place in the model" % name)
            if tuple(params[name].shape) != values.shape:
                sys.exit("%s: shape %s in the GGUF, %s in the model" % (name, values.shape, tuple(params[name].shape)))
            params[name].copy_(torch.from_numpy(values))
            loaded.add(name)
        missing = sorted(set(params) - loaded - ({"lm_head.weight"} if hp["tied"] else set()))
        if missing:
            sys.exit("weights missing from the GGUF: %s" % missing[:8])
        del reader
        model = model.to(torch_dtype)
    model.eval()  # no dropout anywhere (the base has none; lora_dropout is checked to be 0)
    if dtype == "float64":
        for module in model.modules():
            kind = type(module).__name__
            if kind.endswith("RMSNorm"):
                module.forward = _exact_rms_forward.__get__(module)
            elif kind.endswith("RotaryEmbedding"):
                module._loco_head_dim, module._loco_base = hp["head_dim"], hp["rope_base"]
                module.forward = _exact_rotary_forward.__get__(module)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, hp


def batch_loss(model, tokens, trained):
    """Token-level mean of -log p(token i | tokens < i) over the trained positions.
    tokens, trained: [batch, length] integer tensors (right-padded). Returns (loss, count)."""
    logits = model(input_ids=tokens).logits
    logp = torch.log_softmax(logits[:, :-1, :], dim=-1)
    targets = tokens[:, 1:]
    mask = trained[:, 1:].to(logp.dtype)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    count = int(trained[:, 1:].sum())
    return -(picked * mask).sum() / count, count


def padded_batch(sequences, masks, length=None):
    length = length or max(len(s) for s in sequences)
    tokens = torch.zeros((len(sequences), length), dtype=torch.long)
    trained = torch.zeros((len(sequences), length), dtype=torch.long)
    for i, (s, m) in enumerate(zip(sequences, masks)):
        if len(s) != len(m):
            sys.exit("sequence %d: %d tokens but %d trained flags" % (i, len(s), len(m)))
        if m and m[0]:
            sys.exit("sequence %d: trained[0] must be 0 (nothing predicts the first token)" % i)
        tokens[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        trained[i, :len(m)] = torch.tensor(m, dtype=torch.long)
    return tokens, trained


def peft_key_to_parameter(key):
    """base_model.model.X.lora_A.weight -> base_model.model.X.lora_A.default.weight (PEFT's
    parameter name for the default adapter); lora_embedding_A -> lora_embedding_A.default."""
    for half in ("lora_A", "lora_B"):
        suffix = ".%s.weight" % half
        if key.endswith(suffix):
            return key[: -len(suffix)] + ".%s.default.weight" % half
    for half in ("lora_embedding_A", "lora_embedding_B"):
        if key.endswith("." + half):
            return key + ".default"
    sys.exit("%s is not a LoRA tensor name" % key)


def key_permutation(key, hp, layout):
    """Head count to (un)permute this PEFT tensor's rows with, or None."""
    if layout != "gguf" or not key.endswith(".lora_B.weight"):
        return None
    module = key.split(".")[-3]
    return row_heads(hp, module)


def wrap_with_lora(model, config_path, for_training=True):
    from peft import LoraConfig, get_peft_model
    config = LoraConfig.from_pretrained(os.path.dirname(config_path) or ".")
    if config.lora_dropout:
        sys.exit("lora_dropout is %r: must be 0 for a deterministic gradient" % config.lora_dropout)
    for key in ("use_dora", "fan_in_fan_out"):
        if getattr(config, key, False):
            sys.exit("%s is set: not what LocoLLM trains" % key)
    config.inference_mode = not for_training
    return get_peft_model(model, config), config


def logits(args):
    model, hp = load_model(args.model, dtype=args.dtype)
    tokens = torch.tensor([[int(t) for t in args.tokens.split(",")]], dtype=torch.long)
    with torch.no_grad():
        rows = model(input_ids=tokens).logits[0].to(torch.float64).numpy()
    if args.out:
        rows.astype("<f4").tofile(args.out)
    result = {"positions": int(rows.shape[0]), "vocab": int(rows.shape[1]), "dtype": args.dtype}
    if args.against:
        other = np.fromfile(args.against, dtype="<f4").astype(np.float64).reshape(rows.shape)
        result.update(max_abs_diff=float(np.abs(rows - other).max()), max_abs_logit=float(np.abs(other).max()),
                      same_argmax=bool((rows.argmax(-1) == other.argmax(-1)).all()))
    print(json.dumps(result))


def grads(args):
    model, hp = load_model(args.model, dtype=args.dtype)
    peft_model, config = wrap_with_lora(model, os.path.join(args.init, "adapter_config.json"))
    init = read_safetensors(os.path.join(args.init, "adapter_model.safetensors"))
    params = dict(peft_model.named_parameters())
    lora_params = {n: p for n, p in params.items() if ".lora_" in n}
    wanted = {peft_key_to_parameter(k): k for k in init}
    if set(wanted) != set(lora_params):
        sys.exit("adapter tensors and the PEFT model differ: only in the file %s, only in the model %s"
                 % (sorted(set(wanted) - set(lora_params))[:6], sorted(set(lora_params) - set(wanted))[:6]))
    with torch.no_grad():
        for pname, key in wanted.items():
            values = init[key]
            heads = key_permutation(key, hp, args.lora_layout)
            if heads:
                values = unpermute_rows(values, heads)
            p = lora_params[pname]
            if tuple(p.shape) != values.shape:
                sys.exit("%s: shape %s in the file, %s in the model" % (key, values.shape, tuple(p.shape)))
            p.copy_(torch.from_numpy(np.ascontiguousarray(values)).to(p.dtype))
            p.requires_grad_(True)
    with open(args.batch) as f:
        batch = json.load(f)
    tokens, trained = padded_batch(batch["tokens"], batch["trained"])
    if int(tokens.max()) >= hp["vocab"] or int(tokens.min()) < 0:
        sys.exit("token ids outside the vocabulary (%d)" % hp["vocab"])
    peft_model.train()  # dropout is 0 everywhere, so train and eval compute the same
    loss, count = batch_loss(peft_model, tokens, trained)
    loss.backward()
    out = {}
    for pname, key in wanted.items():
        g = lora_params[pname].grad
        g = np.zeros(tuple(lora_params[pname].shape)) if g is None else g.detach().to(torch.float64).numpy()
        heads = key_permutation(key, hp, args.lora_layout)
        if heads:
            g = permute_rows(g, heads)
        out[key] = g
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "adapter_model.safetensors"), out)
    shutil.copyfile(os.path.join(args.init, "adapter_config.json"), os.path.join(args.out, "adapter_config.json"))
    result = {"loss": loss.item(), "trained_tokens": count}
    with open(os.path.join(args.out, "loss.json"), "w") as f:
        json.dump(result, f)
    norms = [float(np.abs(v).max()) for v in out.values()]
    print(json.dumps(dict(result, tensors=len(out), dtype=args.dtype, lora_layout=args.lora_layout,
                          scale=config.lora_alpha / (math.sqrt(config.r) if config.use_rslora else config.r),
                          min_max_abs_grad=min(norms), max_max_abs_grad=max(norms))))


# ---------------------------------------------------------------------------------------------
# Subcommands without torch

def compare(args):
    a = read_safetensors(os.path.join(args.a, "adapter_model.safetensors"))
    b = read_safetensors(os.path.join(args.b, "adapter_model.safetensors"))
    failed = False
    if set(a) != set(b):
        print("key sets differ: only in %s: %s; only in %s: %s" % (args.a, sorted(set(a) - set(b))[:8], args.b, sorted(set(b) - set(a))[:8]))
        failed = True
    worst, lowest_cosine = (0.0, None), 1.0
    for key in sorted(set(a) & set(b)):
        x, y = a[key], b[key]
        if x.shape != y.shape:
            print("%s: shape %s vs %s" % (key, x.shape, y.shape))
            failed = True
            continue
        scale = float(np.abs(y).max())
        diff = float(np.abs(x - y).max())
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)
        norm = float(np.linalg.norm(x) * np.linalg.norm(y))
        cosine = float((x * y).sum() / norm) if norm > 0 else (1.0 if not x.any() and not y.any() else 0.0)
        bad = rel > args.tolerance
        failed |= bad
        if rel >= worst[0]:
            worst = (rel, key)
        lowest_cosine = min(lowest_cosine, cosine)
        if bad or args.verbose:
            print("%s %s  rel %.3e  cos %.9f  max|b| %.3e" % ("FAIL" if bad else "ok  ", key, rel, cosine, scale))
    print("%d tensors, worst relative error %.3e (%s), lowest cosine %.9f, tolerance %.1e"
          % (len(set(a) & set(b)), worst[0], worst[1], lowest_cosine, args.tolerance))
    paths = [os.path.join(d, "loss.json") for d in (args.a, args.b)]
    if all(os.path.exists(p) for p in paths):
        la, lb = (json.load(open(p)) for p in paths)
        rel = abs(la["loss"] - lb["loss"]) / max(abs(lb["loss"]), 1e-30)
        print("loss %.9g vs %.9g (rel %.3e), trained tokens %d vs %d" % (la["loss"], lb["loss"], rel, la["trained_tokens"], lb["trained_tokens"]))
        if rel > args.tolerance or la["trained_tokens"] != lb["trained_tokens"]:
            failed = True
    print("FAIL" if failed else "OK")
    sys.exit(1 if failed else 0)


def make_init(args):
    reader = open_gguf(args.model)
    hp = hyperparameters(reader)
    targets = [t for t in args.targets.split(",") if t]
    unknown = [t for t in targets if t not in MODULE_TENSORS]
    if unknown:
        sys.exit("unknown targets %s (known: %s)" % (unknown, ",".join(MODULE_TENSORS)))
    rng = np.random.default_rng(args.seed)
    tensors = {}
    for layer in range(hp["layers"]):
        for module in MODULE_TENSORS:  # canonical order, so the values depend only on the seed
            if module not in targets:
                continue
            gguf_name = "blk.%d.%s.weight" % (layer, MODULE_TENSORS[module])
            n_in, n_out = hp["shapes"][gguf_name][:2]
            base = "base_model.model.model.layers.%d.%s" % (layer, LAYER_MODULES[MODULE_TENSORS[module]])
            tensors[base + ".lora_A.weight"] = (rng.standard_normal((args.rank, n_in)) / np.sqrt(n_in)).astype(np.float32)
            tensors[base + ".lora_B.weight"] = (rng.standard_normal((n_out, args.rank)) * 0.02).astype(np.float32)
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "adapter_model.safetensors"), tensors)
    config = {
        "alpha_pattern": {}, "base_model_name_or_path": os.path.basename(args.model), "bias": "none",
        "fan_in_fan_out": False, "inference_mode": False, "init_lora_weights": True,
        "lora_alpha": args.alpha, "lora_dropout": 0.0, "modules_to_save": None, "peft_type": "LORA",
        "r": args.rank, "rank_pattern": {}, "target_modules": sorted(targets), "task_type": "CAUSAL_LM",
        "use_dora": False, "use_rslora": False,
    }
    with open(os.path.join(args.out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    print(json.dumps({"tensors": len(tensors), "rank": args.rank, "alpha": args.alpha, "targets": sorted(targets)}))


def make_batch(args):
    hp = hyperparameters(open_gguf(args.model))
    rng = np.random.default_rng(args.seed)
    tokens, trained = [], []
    for _ in range(args.sequences):
        n = int(rng.integers(max(2, args.length // 2), args.length + 1)) if args.ragged else args.length
        ids = rng.integers(0, hp["vocab"], n)
        mask = (rng.random(n) < 0.5).astype(int)
        mask[0] = 0
        if not mask[1:].any():
            mask[int(rng.integers(1, n))] = 1
        tokens.append([int(t) for t in ids])
        trained.append([int(m) for m in mask])
    with open(args.out, "w") as f:
        json.dump({"tokens": tokens, "trained": trained}, f)
    print(json.dumps({"sequences": len(tokens), "lengths": [len(t) for t in tokens],
                      "trained_tokens": int(sum(sum(m) for m in trained)), "vocab": hp["vocab"]}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("grads")
    p.add_argument("--model", required=True)
    p.add_argument("--init", required=True)
    p.add_argument("--batch", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--lora-layout", choices=["gguf", "hf"], default="gguf")
    p.add_argument("--threads", type=int)
    p = sub.add_parser("logits", help="float32 logits of every position (as inference_peer.py logits writes them)")
    p.add_argument("--model", required=True)
    p.add_argument("--tokens", required=True)
    p.add_argument("--out")
    p.add_argument("--against", help="another logits file (e.g. llama.cpp's) to report the max difference to")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float32")
    p = sub.add_parser("compare")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--tolerance", type=float, default=1e-3)
    p.add_argument("--verbose", action="store_true")
    p = sub.add_parser("make-init")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--rank", type=int, default=4)
    p.add_argument("--alpha", type=float, default=8.0)
    p.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("make-batch")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--sequences", type=int, default=2)
    p.add_argument("--length", type=int, default=24)
    p.add_argument("--ragged", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.command in ("grads", "logits"):
        if torch is None:
            sys.exit("torch is not installed: run scripts/install-training-peer.sh")
        if getattr(args, "threads", None):
            torch.set_num_threads(args.threads)
        grads(args) if args.command == "grads" else logits(args)
    elif args.command == "compare":
        compare(args)
    elif args.command == "make-init":
        make_init(args)
    else:
        make_batch(args)


if __name__ == "__main__":
    main()
