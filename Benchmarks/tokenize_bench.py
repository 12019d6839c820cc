#!/usr/bin/env python3
"""Runs tokenize-benchmark (ours) and llama.cpp's llama_tokenize on the same texts; prints MB/s
and the ratio. Called by Benchmarks/tokenize-bench.sh."""
import argparse
import glob
import json
import os
import subprocess
import sys
import sysconfig
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def default_texts(folder):
    code = []
    size = 0
    for path in sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            code.append(f.read())
        size += len(code[-1].encode())
        if size > 4_000_000:
            break
    from tokenizer_corpus import corpus
    texts = {"python-stdlib": "".join(code), "multilingual-corpus": "\n".join(corpus(seed=2, count=40_000))}
    paths = {}
    for name, text in texts.items():
        paths[name] = os.path.join(folder, name + ".txt")
        with open(paths[name], "w", encoding="utf-8") as f:
            f.write(text)
    return paths


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("model")
    parser.add_argument("--file")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        texts = {os.path.basename(args.file): args.file} if args.file else default_texts(folder)
        rows = []
        for name, path in texts.items():
            ours = json.loads(subprocess.run([args.binary, args.model, path, "--iterations", str(args.iterations), "--json"],
                                             check=True, capture_output=True, text=True).stdout)
            peer = json.loads(subprocess.run([sys.executable, os.path.join(ROOT, "scripts/tokenizer_peer.py"), "bench",
                                              args.model, path, "--iterations", str(args.iterations)],
                                             check=True, capture_output=True, text=True).stdout)
            if ours["tokens"] != peer["tokens"]:
                sys.exit(f"{name}: token counts differ (ours {ours['tokens']}, llama.cpp {peer['tokens']}); no ratio")
            rows.append({"text": name, "bytes": ours["bytes"], "tokens": ours["tokens"], "ours": ours,
                         "llama_cpp_mb_per_s": peer["mb_per_s"],
                         "ratio_cold": ours["cold_mb_per_s"] / peer["mb_per_s"],
                         "ratio_warm": ours["warm_mb_per_s"] / peer["mb_per_s"],
                         "ratio_no_cache": ours["no_cache_mb_per_s"] / peer["mb_per_s"]})
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return
    print(f"model: {args.model}")
    print("| text | MB | tokens | llama.cpp MB/s | ours cold MB/s | ours warm MB/s | ours, no cache MB/s | pre-tokenizer MB/s | cold / llama.cpp |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        o = r["ours"]
        print(f"| {r['text']} | {r['bytes'] / 1e6:.2f} | {r['tokens']} | {r['llama_cpp_mb_per_s']:.1f} | {o['cold_mb_per_s']:.1f} | "
              f"{o['warm_mb_per_s']:.1f} | {o['no_cache_mb_per_s']:.1f} | {o['pre_tokenizer_mb_per_s']:.1f} | {r['ratio_cold']:.1f}x |")


if __name__ == "__main__":
    main()
