#!/usr/bin/env python3
"""Writes a small random model GGUF that llama.cpp loads: llama, qwen3, qwen2, gemma3 or bitnet architecture, F32
or F16 weights, a tiny byte-level BPE vocabulary. Deterministic for a seed.

    python3 scripts/make-random-model.py OUT.gguf [--arch llama|qwen3|qwen2|gemma3|bitnet] [--width 256] [--ffn 256]
        [--layers 4] [--heads 4] [--kv-heads 1] [--head-dim D] [--vocab 256] [--tied] [--f16]
        [--window 8] [--scales] [--seed 0]

qwen2 gets random biases on the query, key and value projections (std 0.5). gemma3 gets Q/K norms, post-attention and post-FFN norms, a sliding window of --window positions
on five of every six blocks (llama.cpp's default pattern) with RoPE base 10000 there and 1e6 on
the others, and a tied output layer. bitnet gets the attention and FFN sub-norms
(`attn_sub_norm`, `ffn_sub_norm`), a tied output layer, and with --scales a one-float factor on
each projection (`attn_q.scale`, ..., `ffn_down.scale`, 0.5 to 1.5), as BitNet converters write them.

Used by the quantizer parity tests (widths that are multiples of 256 reach every K-quant) and,
later, by the inference parity tests.
"""
import argparse

import numpy as np
from gguf import GGUFWriter, GGMLQuantizationType


def byte_tokens():
    """GPT-2's byte-to-unicode map: the 256 single-byte tokens of a byte-level BPE vocabulary."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, (chr(c) for c in cs)))
    return [table[b] for b in range(256)]


def vocabulary(size):
    singles = byte_tokens()
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + singles
    types = [3, 3, 3] + [1] * 256
    merges = []
    letters = [singles[ord(" ")]] + [singles[b] for b in range(ord("a"), ord("z") + 1)]
    pairs = ((a, b) for a in letters for b in letters[1:])
    while len(tokens) < size:
        a, b = next(pairs)
        merges.append(a + " " + b)
        tokens.append(a + b)
        types.append(1)
    return tokens[:size], types[:size], merges


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--arch", default="llama", choices=["llama", "qwen3", "qwen2", "gemma3", "bitnet"])
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--ffn", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=1)
    p.add_argument("--head-dim", type=int)
    p.add_argument("--vocab", type=int, default=512)
    p.add_argument("--context", type=int, default=512)
    p.add_argument("--tied", action="store_true")
    p.add_argument("--f16", action="store_true")
    p.add_argument("--window", type=int, default=8, help="gemma3's sliding window")
    p.add_argument("--scales", action="store_true", help="bitnet: per-tensor factors on the projections")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--small-embeddings", action="store_true", help="token embeddings of std 1/sqrt(width) instead of 1")
    a = p.parse_args()

    rng = np.random.default_rng(a.seed)
    head_dim = a.head_dim or a.width // a.heads
    w = GGUFWriter(a.out, a.arch)
    w.add_name("random %s %dx%d seed %d" % (a.arch, a.layers, a.width, a.seed))
    w.add_block_count(a.layers)
    w.add_context_length(a.context)
    w.add_embedding_length(a.width)
    w.add_feed_forward_length(a.ffn)
    w.add_head_count(a.heads)
    w.add_head_count_kv(a.kv_heads)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_freq_base(1e6 if a.arch in ("qwen3", "gemma3") else 10000.0)
    w.add_layer_norm_rms_eps(1e-6 if a.arch in ("qwen3", "gemma3") else 1e-5)
    if a.arch == "gemma3":
        w.add_sliding_window(a.window)
        a.tied = True
    if a.arch == "bitnet":
        # llama.cpp's bitnet has no output.weight (the embeddings are the output layer), and its
        # sub-norm of the attention heads is n_embd wide.
        a.tied = True
        if a.heads * head_dim != a.width:
            p.error("bitnet needs heads x head dimension == width")
    if a.arch == "llama":
        w.add_rope_dimension_count(head_dim)
        w.add_vocab_size(a.vocab)
    w.add_file_type(1 if a.f16 else 0)
    tokens, types, merges = vocabulary(a.vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)

    dtype = np.float16 if a.f16 else np.float32

    def matrix(name, rows, cols, scale):
        # numpy shape (rows, cols) is ggml ne = [cols, rows]: rows of length cols.
        w.add_tensor(name, (rng.standard_normal((rows, cols)) * scale).astype(dtype))

    def vector(name, n):
        w.add_tensor(name, (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32))

    scale = 1.0 / np.sqrt(a.width)
    # --small-embeddings: rows of std 1/sqrt(width), as in real Gemma files (gemma3 multiplies
    # the looked-up rows by sqrt(width) and ties the output to them), for moderate logits and a
    # moderate training loss.
    matrix("token_embd.weight", a.vocab, a.width, scale if a.small_embeddings else 1.0)
    vector("output_norm.weight", a.width)
    if not a.tied:
        matrix("output.weight", a.vocab, a.width, scale)
    for i in range(a.layers):
        b = "blk.%d." % i
        vector(b + "attn_norm.weight", a.width)
        matrix(b + "attn_q.weight", a.heads * head_dim, a.width, scale)
        matrix(b + "attn_k.weight", a.kv_heads * head_dim, a.width, scale)
        matrix(b + "attn_v.weight", a.kv_heads * head_dim, a.width, scale)
        if a.arch == "qwen2":
            for name, n in (("attn_q.bias", a.heads * head_dim), ("attn_k.bias", a.kv_heads * head_dim), ("attn_v.bias", a.kv_heads * head_dim)):
                w.add_tensor(b + name, (0.5 * rng.standard_normal(n)).astype(np.float32))
        matrix(b + "attn_output.weight", a.width, a.heads * head_dim, 1.0 / np.sqrt(a.heads * head_dim))
        if a.arch in ("qwen3", "gemma3"):
            vector(b + "attn_q_norm.weight", head_dim)
            vector(b + "attn_k_norm.weight", head_dim)
        if a.arch == "gemma3":
            vector(b + "post_attention_norm.weight", a.width)
            vector(b + "post_ffw_norm.weight", a.width)
        vector(b + "ffn_norm.weight", a.width)
        matrix(b + "ffn_gate.weight", a.ffn, a.width, scale)
        matrix(b + "ffn_up.weight", a.ffn, a.width, scale)
        matrix(b + "ffn_down.weight", a.width, a.ffn, 1.0 / np.sqrt(a.ffn))
        if a.arch == "bitnet":
            vector(b + "attn_sub_norm.weight", a.width)
            vector(b + "ffn_sub_norm.weight", a.ffn)
            if a.scales:
                for name in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"):
                    w.add_tensor(b + name + ".scale", np.array([rng.uniform(0.5, 1.5)], dtype=np.float32))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
