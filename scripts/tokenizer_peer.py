#!/usr/bin/env python3
"""llama.cpp's tokenizer (through llama-cpp-python) and transformers-style Jinja rendering, as
peers for the Tokenization tests and benchmark.

    python3 scripts/tokenizer_peer.py corpus MODEL [--seed 1] [--count 3000]
        Tokenizes the seeded corpus of scripts/tokenizer_corpus.py with MODEL's vocabulary, in one
        process. Prints one JSON object per line: text, "plain" (no BOS/EOS, special tokens as
        text), "special" (special tokens parsed), "added" (BOS/EOS as the model says, parsed).
    python3 scripts/tokenizer_peer.py tokenize MODEL TEXT [--special] [--add-special]
        Prints the ids of TEXT as a JSON array.
    python3 scripts/tokenizer_peer.py bench MODEL FILE [--iterations 3]
        Times llama_tokenize on FILE's text (no BOS, special tokens as text); prints JSON with the
        token count and the best time and throughput.
    python3 scripts/tokenizer_peer.py chat CASES.json
        Renders chat templates with jinja2 as transformers' apply_chat_template does
        (ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, raise_exception,
        strftime_now, its tojson filter). CASES.json is a list of {template, bos_token, eos_token,
        messages, add_generation_prompt, enable_thinking (optional), date ("YYYY-MM-DD")}; prints
        a JSON list of {"text": ...} or {"error": ...}.
"""
import argparse
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def load_vocab(path):
    import llama_cpp
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(path.encode(), params)
    if not model:
        raise SystemExit(f"llama.cpp could not load {path}")
    return llama_cpp, model, llama_cpp.llama_model_get_vocab(model)


def tokenize(llama_cpp, vocab, data, add_special, parse_special):
    capacity = len(data) + 16
    buffer = (llama_cpp.llama_token * capacity)()
    n = llama_cpp.llama_tokenize(vocab, data, len(data), buffer, capacity, add_special, parse_special)
    if n < 0:
        raise SystemExit("llama_tokenize: buffer too small")
    return list(buffer[:n])


def command_corpus(args):
    from tokenizer_corpus import corpus
    llama_cpp, _, vocab = load_vocab(args.model)
    for text in corpus(args.seed, args.count):
        data = text.encode("utf-8")
        sys.stdout.write(json.dumps({
            "text": text,
            "plain": tokenize(llama_cpp, vocab, data, False, False),
            "special": tokenize(llama_cpp, vocab, data, False, True),
            "added": tokenize(llama_cpp, vocab, data, True, True),
        }) + "\n")


def command_tokenize(args):
    llama_cpp, _, vocab = load_vocab(args.model)
    print(json.dumps(tokenize(llama_cpp, vocab, args.text.encode("utf-8"), args.add_special, args.special)))


def command_bench(args):
    llama_cpp, _, vocab = load_vocab(args.model)
    with open(args.file, "rb") as f:
        data = f.read()
    best = None
    count = 0
    for _ in range(args.iterations):
        start = time.perf_counter()
        count = len(tokenize(llama_cpp, vocab, data, False, False))
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    print(json.dumps({"bytes": len(data), "tokens": count, "seconds": best, "mb_per_s": len(data) / best / 1e6}))


def command_chat(args):
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    with open(args.cases, encoding="utf-8") as f:
        cases = json.load(f)
    compiled = {}
    results = []
    for case in cases:
        today = datetime.datetime.strptime(case["date"], "%Y-%m-%d")
        key = (case["template"], case["date"])
        if key not in compiled:
            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
            env.filters["tojson"] = tojson
            env.globals["raise_exception"] = raise_exception
            env.globals["strftime_now"] = lambda fmt, today=today: today.strftime(fmt)
            compiled[key] = env.from_string(case["template"])
        kwargs = {"bos_token": case["bos_token"], "eos_token": case["eos_token"]}
        if case.get("enable_thinking") is not None:
            kwargs["enable_thinking"] = case["enable_thinking"]
        try:
            text = compiled[key].render(
                messages=case["messages"], tools=None, documents=None,
                add_generation_prompt=case["add_generation_prompt"], **kwargs)
            results.append({"text": text})
        except Exception as error:  # noqa: BLE001 - the test compares failing cases too
            results.append({"error": f"{type(error).__name__}: {error}"})
    json.dump(results, sys.stdout)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("corpus")
    p.add_argument("model")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--count", type=int, default=3000)
    p = sub.add_parser("tokenize")
    p.add_argument("model")
    p.add_argument("text")
    p.add_argument("--special", action="store_true")
    p.add_argument("--add-special", action="store_true")
    p = sub.add_parser("bench")
    p.add_argument("model")
    p.add_argument("file")
    p.add_argument("--iterations", type=int, default=3)
    p = sub.add_parser("chat")
    p.add_argument("cases")
    args = parser.parse_args()
    {"corpus": command_corpus, "tokenize": command_tokenize, "bench": command_bench, "chat": command_chat}[args.command](args)


if __name__ == "__main__":
    main()
