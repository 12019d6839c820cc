#!/usr/bin/env python3
"""llama.cpp (through llama-cpp-python) as the inference peer: tokens, logits, decode speed.

    python3 scripts/inference_peer.py tokenize MODEL TEXT_FILE [--limit N]
        Prints the comma-separated token ids of the file's text (no BOS; special tokens parsed).
    python3 scripts/inference_peer.py logits MODEL --tokens 1,2,3 --out OUT.f32 [--sequential]
        float32 logits of every position (rows = positions), F32 KV cache, flash attention off.
        --sequential evaluates one token per batch (llama.cpp's decode path) instead of one
        batch for all (its prefill path).
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
from llama_cpp import Llama  # noqa: E402


def open_model(path, n_ctx, n_batch, threads=2):
    return Llama(model_path=path, n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch, logits_all=True, type_k=0, type_v=0,
                 flash_attn=False, n_threads=threads, n_threads_batch=threads, verbose=False)


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
        llm = open_model(args.model, max(64, len(tokens)), 1 if args.sequential else max(64, len(tokens)))
        llm.eval(tokens)
        np.array(llm.scores[: len(tokens)], dtype="<f4").tofile(args.out)
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
