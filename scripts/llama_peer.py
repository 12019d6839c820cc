#!/usr/bin/env python3
"""llama.cpp (through llama-cpp-python) as a peer for the Swift tests.

    python3 scripts/llama_peer.py load FILE
        Loads the model fully and prints JSON: vocabulary size, parameter count, description.
    python3 scripts/llama_peer.py logits FILE --tokens 1,2,3 [--out OUT.f32]
        Evaluates the tokens and writes float32 little-endian logits for every position
        (rows = positions) to OUT, or prints a JSON summary (shape, argmax per position).
    python3 scripts/llama_peer.py same-logits FILE_A FILE_B --tokens 1,2,3
        Prints JSON with the largest absolute logit difference between two models.
    python3 scripts/llama_peer.py quantize IN OUT FTYPE [--allow-requantize] [--pure] [--threads N]
        Runs llama.cpp's quantizer (llama_model_quantize, no importance matrix); FTYPE is a
        llama_ftype number. Prints JSON with the status.

Settings follow ../shared/PEERS.md: F32 KV cache, flash attention off, one thread pool of
OPENBLAS_NUM_THREADS=1, so the numbers are comparable across runs.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from llama_cpp import Llama  # noqa: E402


def open_model(path, n_ctx=512):
    return Llama(model_path=path, n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, type_k=0, type_v=0,
                 flash_attn=False, n_threads=2, verbose=False)


def logits(path, tokens):
    llm = open_model(path, max(64, len(tokens)))
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)], dtype=np.float32), llm


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("load")
    p.add_argument("file")
    p = sub.add_parser("logits")
    p.add_argument("file")
    p.add_argument("--tokens", required=True)
    p.add_argument("--out")
    p = sub.add_parser("same-logits")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--tokens", required=True)
    p = sub.add_parser("quantize")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("ftype", type=int)
    p.add_argument("--allow-requantize", action="store_true")
    p.add_argument("--pure", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    if args.command == "load":
        llm = open_model(args.file, 64)
        json.dump({"n_vocab": llm.n_vocab(), "n_params": int(llm.model_params if False else llm._model.n_params()),
                   "desc": llm._model.desc()}, sys.stdout)
    elif args.command == "logits":
        tokens = [int(t) for t in args.tokens.split(",")]
        out, _ = logits(args.file, tokens)
        if args.out:
            out.astype("<f4").tofile(args.out)
        json.dump({"shape": list(out.shape), "argmax": [int(i) for i in out.argmax(axis=1)]}, sys.stdout)
    elif args.command == "quantize":
        import llama_cpp
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = args.ftype
        params.allow_requantize = args.allow_requantize
        params.pure = args.pure
        params.nthread = args.threads
        status = llama_cpp.llama_model_quantize(args.input.encode(), args.output.encode(), params)
        json.dump({"status": int(status)}, sys.stdout)
        sys.exit(0 if status == 0 else 1)
    elif args.command == "same-logits":
        tokens = [int(t) for t in args.tokens.split(",")]
        a, _ = logits(args.a, tokens)
        b, _ = logits(args.b, tokens)
        json.dump({"shape": list(a.shape), "max_abs_diff": float(np.abs(a - b).max()),
                   "max_abs_logit": float(np.abs(a).max())}, sys.stdout)


if __name__ == "__main__":
    main()
