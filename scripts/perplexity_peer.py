#!/usr/bin/env python3
"""llama.cpp's perplexity and KL-divergence method, computed from llama.cpp's own logits
(through llama-cpp-python), as the peer of `loco eval perplexity` and `loco eval kld`.

    python3 scripts/perplexity_peer.py perplexity MODEL TEXT --ctx N
        {"perplexity", "tokens_scored", "chunks", "text_tokens"}
    python3 scripts/perplexity_peer.py kld MODEL REFERENCE TEXT --ctx N
        {"mean_kld", "top1_agreement", "perplexity", "reference_perplexity", "tokens_scored"}
    python3 scripts/perplexity_peer.py choices MODEL SUITE.jsonl
        [{"id", "loglikelihoods"}] for the suite's multiple_choice items, as lm-evaluation-harness
        computes them: the continuation is " " + choice (no space when the prompt ends in
        whitespace or the choice starts with it); its tokens are those of prompt + continuation
        after the prompt's own (else the continuation tokenized alone); the sum of their
        log-probabilities from llama.cpp's logits of the whole sequence.

The method follows llama.cpp's tools/perplexity/perplexity.cpp: the text is tokenized with the
model's special tokens (BOS when the vocabulary adds one), cut into floor(tokens / ctx) chunks
(at least 2), each evaluated from an empty cache with its first token replaced by BOS (when the
vocabulary adds one); the logits at positions ctx/2 .. ctx-2 score the tokens after them.
Settings follow ../shared/PEERS.md: F32 KV cache, flash attention off.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from llama_cpp import Llama  # noqa: E402


def open_model(path, ctx):
    return Llama(model_path=path, n_ctx=ctx, n_batch=ctx, n_ubatch=ctx, logits_all=True, type_k=0, type_v=0,
                 flash_attn=False, n_threads=2, verbose=False)


def chunks(llm, text, ctx):
    data = text.encode("utf-8")
    tokens = llm.tokenize(data, add_bos=True, special=False)
    plain = llm.tokenize(data, add_bos=False, special=False)
    adds_bos = len(tokens) == len(plain) + 1
    count = len(tokens) // ctx
    if count < 2:
        sys.exit(f"the text has {len(tokens)} tokens; at least {2 * ctx} are needed")
    return tokens, count, adds_bos


def chunk_logits(llm, tokens, chunk, ctx, adds_bos):
    ids = list(tokens[chunk * ctx:(chunk + 1) * ctx])
    if adds_bos:
        ids[0] = llm.token_bos()
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[:ctx], dtype=np.float64)


def log_softmax(rows):
    top = rows.max(axis=1, keepdims=True)
    return rows - top - np.log(np.exp(rows - top).sum(axis=1, keepdims=True))


def scored(tokens, chunk, ctx):
    start = chunk * ctx
    rows = np.arange(ctx // 2, ctx - 1)
    return rows, np.array([tokens[start + r + 1] for r in rows])


def perplexity(model, text, ctx):
    llm = open_model(model, ctx)
    tokens, count, adds_bos = chunks(llm, text, ctx)
    nll = []
    for chunk in range(count):
        rows, targets = scored(tokens, chunk, ctx)
        logp = log_softmax(chunk_logits(llm, tokens, chunk, ctx, adds_bos)[rows])
        nll.extend(-logp[np.arange(len(rows)), targets])
    return {"perplexity": float(np.exp(np.mean(nll))), "tokens_scored": len(nll), "chunks": count, "text_tokens": len(tokens)}


def kld(model, reference, text, ctx):
    q_llm, p_llm = open_model(model, ctx), open_model(reference, ctx)
    tokens, count, adds_bos = chunks(q_llm, text, ctx)
    klds, nll_q, nll_p, agree = [], [], [], 0
    for chunk in range(count):
        rows, targets = scored(tokens, chunk, ctx)
        logq = log_softmax(chunk_logits(q_llm, tokens, chunk, ctx, adds_bos)[rows])
        logp = log_softmax(chunk_logits(p_llm, tokens, chunk, ctx, adds_bos)[rows])
        klds.extend(np.maximum(0, (np.exp(logp) * (logp - logq)).sum(axis=1)))
        index = np.arange(len(rows))
        nll_q.extend(-logq[index, targets])
        nll_p.extend(-logp[index, targets])
        agree += int((logq.argmax(axis=1) == logp.argmax(axis=1)).sum())
    return {"mean_kld": float(np.mean(klds)), "top1_agreement": agree / len(klds), "perplexity": float(np.exp(np.mean(nll_q))),
            "reference_perplexity": float(np.exp(np.mean(nll_p))), "tokens_scored": len(klds)}


def choices(model, suite):
    llm = open_model(model, 512)
    out = []
    for line in open(suite, encoding="utf-8"):
        if not line.strip():
            continue
        item = json.loads(line)
        if item.get("type") != "multiple_choice":
            continue
        context = item["prompt"]
        context_tokens = llm.tokenize(context.encode("utf-8"), add_bos=True, special=False)
        scores = []
        for choice in item["choices"]:
            continuation = choice if context[-1:].isspace() or choice[:1].isspace() else " " + choice
            whole = llm.tokenize((context + continuation).encode("utf-8"), add_bos=True, special=False)
            if len(whole) <= len(context_tokens) or whole[:len(context_tokens)] != context_tokens:
                whole = context_tokens + llm.tokenize(continuation.encode("utf-8"), add_bos=False, special=False)
            llm.reset()
            llm.eval(whole)
            rows = log_softmax(np.array(llm.scores[:len(whole)], dtype=np.float64))
            scores.append(float(sum(rows[i - 1, whole[i]] for i in range(len(context_tokens), len(whole)))))
        out.append({"id": str(item["id"]), "loglikelihoods": scores})
    return out


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("perplexity")
    p.add_argument("model")
    p.add_argument("text")
    p.add_argument("--ctx", type=int, required=True)
    p = sub.add_parser("kld")
    p.add_argument("model")
    p.add_argument("reference")
    p.add_argument("text")
    p.add_argument("--ctx", type=int, required=True)
    p = sub.add_parser("choices")
    p.add_argument("model")
    p.add_argument("suite")
    args = parser.parse_args()
    if args.command == "choices":
        print(json.dumps(choices(args.model, args.suite)))
        return
    text = open(args.text, encoding="utf-8").read()
    if args.command == "perplexity":
        print(json.dumps(perplexity(args.model, text, args.ctx)))
    else:
        print(json.dumps(kld(args.model, args.reference, text, args.ctx)))


if __name__ == "__main__":
    main()
