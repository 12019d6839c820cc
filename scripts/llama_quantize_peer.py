#!/usr/bin/env python3
"""llama.cpp's model quantizer as a peer: does `llama_model_quantize` write the bytes of `ggml_quantize_chunk`?

    python3 scripts/llama_quantize_peer.py N_PER_ROW IN.f32 TYPE [TYPE ...]   # JSON verdicts on stdout

`ggml_peer.quantize` calls ggml's reference quantizers directly; llama-quantize reaches them
through its own recipe, threading and chunking. This writes a tiny F32 llama-architecture GGUF
with gguf-py (one block; `token_embd.weight` holds the given rows, widths N_PER_ROW, a multiple of
256), quantizes it with `llama_model_quantize` (`pure`, so every 2-D weight gets the file type's
base type: Q3_K_S -> Q3_K, Q4_K_S -> Q4_K, Q5_K_S -> Q5_K), reads the result with gguf-py and
compares every quantized tensor with `ggml_quantize_chunk` on the same floats.

Importable: `check(values, n_per_row, names) -> {TYPE: verdict}`.
"""
import ctypes
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ggml_peer  # noqa: E402

# llama_ftype whose `pure` recipe stores every quantizable weight as TYPE.
FTYPES = {
    "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9,
    "Q2_K": 10, "Q3_K": 11, "Q4_K": 14, "Q5_K": 16, "Q6_K": 18,
    "TQ1_0": 36, "TQ2_0": 37,
}


def tiny_llama(path, rows, n_per_row, rng):
    """An F32 llama GGUF: one block of width n_per_row, token_embd = `rows`, other weights random."""
    from gguf import GGUFWriter

    n_embd, n_ff, n_head = n_per_row, 2 * n_per_row, 2
    n_vocab = rows.shape[0]
    w = GGUFWriter(path, "llama")
    w.add_name("loco quantizer cross-check")
    w.add_context_length(64)
    w.add_embedding_length(n_embd)
    w.add_block_count(1)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_vocab_size(n_vocab)
    w.add_file_type(0)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"<t{i}>" for i in range(n_vocab)])
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types([1] * n_vocab)

    def weight(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    w.add_tensor("token_embd.weight", np.ascontiguousarray(rows, dtype=np.float32))
    w.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    w.add_tensor("output.weight", weight(n_vocab, n_embd))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
    for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
        w.add_tensor(f"blk.0.{name}.weight", weight(n_embd, n_embd))
    w.add_tensor("blk.0.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
    w.add_tensor("blk.0.ffn_gate.weight", weight(n_ff, n_embd))
    w.add_tensor("blk.0.ffn_up.weight", weight(n_ff, n_embd))
    w.add_tensor("blk.0.ffn_down.weight", weight(n_embd, n_ff))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _quiet_llama():
    import llama_cpp

    callback = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)(lambda level, text, data: None)
    llama_cpp.llama_log_set(callback, None)
    return llama_cpp, callback


def check(values, n_per_row, names):
    """Per type: "identical" (naming the rows left out), or the tensors whose bytes differ.

    Rows whose quantization has an infinite or NaN scale are left out: llama-quantize validates its
    output and refuses such a file (`ggml_validate_row_data`), so it has nothing to compare there.
    """
    from gguf import GGUFReader

    llama_cpp, keep_alive = _quiet_llama()
    rows = np.asarray(values, dtype=np.float32).reshape(-1, n_per_row)
    verdicts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            finite = [r for r in range(rows.shape[0])
                      if np.isfinite(ggml_peer.dequantize(name, ggml_peer.quantize(name, rows[r], n_per_row))).all()]
            source = os.path.join(tmp, name + ".f32.gguf")
            tiny_llama(source, rows[finite], n_per_row, np.random.default_rng(7))
            inputs = {t.name: np.array(t.data, dtype=np.float32) for t in GGUFReader(source).tensors}
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = FTYPES[name]
            params.pure = True
            params.nthread = 2
            target = os.path.join(tmp, name + ".gguf")
            status = llama_cpp.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params))
            if status != 0:
                verdicts[name] = f"llama_model_quantize failed ({status})"
                continue
            differ, compared = [], []
            for t in GGUFReader(target).tensors:
                if t.tensor_type.name != name:
                    continue
                x = inputs[t.name]
                compared.append(t.name)
                if not np.array_equal(np.asarray(t.data, dtype=np.uint8).reshape(-1), ggml_peer.quantize(name, x, x.shape[-1])):
                    differ.append(t.name)
            left_out = [r for r in range(rows.shape[0]) if r not in finite]
            if "token_embd.weight" not in compared:
                verdicts[name] = f"token_embd.weight was not stored as {name} (compared {compared})"
            elif differ:
                verdicts[name] = {"differ": differ, "compared": compared, "rows_left_out": left_out}
            else:
                verdicts[name] = {"identical": compared, "rows_left_out": left_out}
    del keep_alive
    return verdicts


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    n = int(argv[1])
    values = np.fromfile(argv[2], dtype="<f4")
    json.dump(check(values, n, [a.upper() for a in argv[3:]]), sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(sys.argv)
