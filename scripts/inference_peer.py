#!/usr/bin/env python3
"""llama.cpp (through llama-cpp-python) as the inference peer: tokens, logits, embeddings, greedy
generation, decode speed.

    python3 scripts/inference_peer.py tokenize MODEL TEXT_FILE [--limit N]
        Prints the comma-separated token ids of the file's text (no BOS; special tokens parsed).
    python3 scripts/inference_peer.py logits MODEL --tokens 1,2,3 --out OUT.f32 [--sequential]
        [--lora ADAPTER.gguf [--lora-scale S]]
        float32 logits of every position (rows = positions), F32 KV cache, flash attention off.
        --sequential evaluates one token per batch (llama.cpp's decode path) instead of one
        batch for all (its prefill path).
    python3 scripts/inference_peer.py embed MODEL (--tokens 1,2,3 | --text-file FILE) [--normalize] [--sequential]
        Prints the JSON array of the text's embedding with pooling_type MEAN: the mean over
        positions of the hidden states after the output norm. --text-file goes through
        Llama.embed (which tokenizes it: BOS added, special tokens not parsed); --tokens runs
        the given ids through the same calls Llama.embed makes (one sequence in one batch, the
        KV cache cleared first), since Llama.embed 0.3.36 accepts only strings.
        --sequential (with --tokens) is llama.cpp's own other float order: pooling_type NONE,
        one token per decode (its decode path), the per-token vectors averaged here in double.
    python3 scripts/inference_peer.py generate MODEL --tokens 1,2,3 [--max-tokens 32]
        Greedy generation: the prompt in one batch, then the argmax token evaluated one at a
        time, stopping after an end-of-generation token (included) or --max-tokens tokens.
        Prints JSON {"generated": [ids], "top2": [[id, logit, id, logit], ...]} with the two
        most likely tokens and their logits at each step.
    python3 scripts/inference_peer.py decode-speed MODEL [--tokens 128] [--prompt 16] [--threads 2]
        Prints JSON: tokens/s of evaluating single tokens one after another (after a short
        prompt), the way a generation loop runs, with logits of each step read back.

OPENBLAS_NUM_THREADS=1 as in ../shared/PEERS.md, so OpenBLAS never fights ggml's threads.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import llama_cpp  # noqa: E402
from llama_cpp import Llama  # noqa: E402


def open_model(path, n_ctx, n_batch, threads=2, logits_all=True, **extra):
    return Llama(model_path=path, n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch, logits_all=logits_all, type_k=0, type_v=0,
                 flash_attn=False, n_threads=threads, n_threads_batch=threads, verbose=False, **extra)


def embed(args):
    """The MEAN-pooled embedding of a text file (through Llama.embed) or of token ids."""
    if args.text_file is not None:
        with open(args.text_file, encoding="utf-8") as f:
            text = f.read()
        count = len(text.encode()) + 8  # never fewer slots than tokens: one token per byte at most
    else:
        tokens = [int(t) for t in args.tokens.split(",")]
        count = len(tokens)
    # A multiple of 256: llama.cpp pads the context to one, and with a batch shorter than the
    # padded context its MEAN pooling fails an assertion (ggml_can_mul_mat) past 256 tokens.
    size = -(-count // 256) * 256
    if args.sequential:
        llm = open_model(args.model, size, 1, logits_all=False, embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_NONE)
        rows = []
        for i, token in enumerate(tokens):
            llm._batch.reset()
            llm._batch.batch.n_tokens = 1
            llm._batch.batch.token[0], llm._batch.batch.pos[0] = token, i
            llm._batch.batch.seq_id[0][0], llm._batch.batch.n_seq_id[0], llm._batch.batch.logits[0] = 0, 1, True
            llm._ctx.decode(llm._batch)
            rows.append(np.array(llama_cpp.llama_get_embeddings_ith(llm._ctx.ctx, -1)[: llm.n_embd()], dtype=np.float64))
        vector = list(np.mean(rows, axis=0))
        return [v / float(np.linalg.norm(vector)) for v in vector] if args.normalize else vector
    # The whole sequence in one micro-batch: llama.cpp pools a sequence only within one.
    llm = open_model(args.model, size, size, logits_all=False, embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN)
    if args.text_file is not None:
        return llm.embed(text, normalize=args.normalize)
    # What Llama.embed does for one input, with our ids instead of its tokenization.
    llm._batch.reset()
    llm._batch.add_sequence(tokens, 0, True)
    llm._ctx.kv_cache_clear()
    llm._ctx.decode(llm._batch)
    vector = list(llama_cpp.llama_get_embeddings_seq(llm._ctx.ctx, 0)[: llm.n_embd()])
    return [v / float(np.linalg.norm(vector)) for v in vector] if args.normalize else vector


def generate(args):
    """Greedy tokens after the prompt, with the top two logits of each step."""
    tokens = [int(t) for t in args.tokens.split(",")]
    size = -(-(len(tokens) + args.max_tokens) // 256) * 256
    llm = open_model(args.model, size, size, logits_all=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    n_vocab = llm.n_vocab()
    generated, top2 = [], []
    llm.eval(tokens)
    while len(generated) < args.max_tokens:
        # Only the last position has logits (logits_all off, as in a generation loop).
        row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(n_vocab,))
        first, second = (int(i) for i in np.argsort(-row, kind="stable")[:2])
        top2.append([first, float(row[first]), second, float(row[second])])
        generated.append(first)
        if llama_cpp.llama_vocab_is_eog(vocab, first) or len(generated) == args.max_tokens:
            break
        llm.eval([first])
    return {"generated": generated, "top2": top2}


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tokenize")
    p.add_argument("model")
    p.add_argument("text_file")
    p.add_argument("--limit", type=int)
    p = sub.add_parser("logits")
    p.add_argument("model")
    p.add_argument("--tokens", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--sequential", action="store_true")
    p.add_argument("--lora", help="a GGUF LoRA adapter to apply (llama.cpp's --lora)")
    p.add_argument("--lora-scale", type=float, default=1.0)
    p = sub.add_parser("embed")
    p.add_argument("model")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--tokens")
    source.add_argument("--text-file")
    p.add_argument("--normalize", action="store_true")
    p.add_argument("--sequential", action="store_true")
    p = sub.add_parser("generate")
    p.add_argument("model")
    p.add_argument("--tokens", required=True)
    p.add_argument("--max-tokens", type=int, default=32)
    p = sub.add_parser("decode-speed")
    p.add_argument("model")
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--prompt", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    if args.command == "tokenize":
        llm = Llama(model_path=args.model, n_ctx=64, vocab_only=True, verbose=False)
        with open(args.text_file, encoding="utf-8") as f:
            tokens = llm.tokenize(f.read().encode(), add_bos=False, special=True)
        print(",".join(str(t) for t in tokens[: args.limit]))
    elif args.command == "logits":
        tokens = [int(t) for t in args.tokens.split(",")]
        extra = {"lora_path": args.lora, "lora_scale": args.lora_scale} if args.lora else {}
        llm = open_model(args.model, max(64, len(tokens)), 1 if args.sequential else max(64, len(tokens)), **extra)
        llm.eval(tokens)
        np.array(llm.scores[: len(tokens)], dtype="<f4").tofile(args.out)
    elif args.command == "embed":
        if args.sequential and args.tokens is None:
            parser.error("--sequential needs --tokens")
        json.dump([float(v) for v in embed(args)], sys.stdout)
    elif args.command == "generate":
        json.dump(generate(args), sys.stdout)
    elif args.command == "decode-speed":
        llm = open_model(args.model, args.prompt + args.tokens + 8, 64, args.threads)
        vocab = llm.n_vocab()
        prompt = [(7 * i + 1) % vocab for i in range(args.prompt)]
        llm.eval(prompt)
        token = prompt[-1]
        start = time.perf_counter()
        for _ in range(args.tokens):
            llm.eval([token])
            token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        seconds = time.perf_counter() - start
        json.dump({"tokens": args.tokens, "seconds": seconds, "tokens_per_second": args.tokens / seconds,
                   "threads": args.threads}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
