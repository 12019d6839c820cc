#!/usr/bin/env python3
"""Prefill and decode speed, LocoLLM (`loco bench --json`, release build) against llama.cpp
(llama-cpp-python, the same file, the same thread count), side by side in one run. Each side runs
in its own process so each gets a clean peak-RSS reading; the fastest of --repetitions is kept on
both sides, as llama-bench and `loco bench` do.

    python3 Benchmarks/inference_peer_bench.py MODEL.gguf [--threads 1,2] [--prompt-tokens 128,512]
        [--gen-tokens 128] [--repetitions 3] [--lora ADAPTER.gguf] [--json]

    python3 Benchmarks/inference_peer_bench.py --peer MODEL THREADS PROMPT GEN REPS   (one llama.cpp run)

The report names the CPU, our kernel set and llama.cpp's build (its system info). An AVX2 run on an
AVX-512 machine: LOCO_CPU_FEATURES=avx2 with LLAMA_CPP_LIB_PATH naming the AVX2 build that
scripts/install-peers.sh puts in ~/.cache/locollm/peers/llama-cpp-python-0.3.36-avx2/lib.
LOCO_BIN names another `loco` binary.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def peer(model, threads, prompt_tokens, gen_tokens, repetitions, lora=None):
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    from llama_cpp import Llama
    extra = {"lora_path": lora} if lora else {}
    llm = Llama(model_path=model, n_ctx=prompt_tokens + gen_tokens + 8, n_batch=512, n_ubatch=512,
                n_threads=threads, n_threads_batch=threads, flash_attn=False, verbose=False, **extra)
    import numpy as np

    def last_argmax():
        # Only the batch's last position has logits (logits_all is off, as in llama-bench).
        return int(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).argmax())

    rng = random.Random(1)
    prompt = [rng.randrange(llm.n_vocab()) for _ in range(prompt_tokens)]
    best_prefill = best_decode = float("inf")
    for _ in range(repetitions):
        llm.reset()
        llm._ctx.memory_clear(True) if hasattr(llm._ctx, "memory_clear") else None
        start = time.perf_counter()
        llm.eval(prompt)
        best_prefill = min(best_prefill, time.perf_counter() - start)
        token = last_argmax()
        start = time.perf_counter()
        for _ in range(gen_tokens):
            llm.eval([token])
            token = last_argmax()
        best_decode = min(best_decode, time.perf_counter() - start)
    import llama_cpp
    return {"prefill_tokens_per_second": prompt_tokens / best_prefill,
            "decode_tokens_per_second": gen_tokens / best_decode,
            "system_info": llama_cpp.llama_print_system_info().decode().strip()}


def run(command):
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        sys.exit("failed: %s" % " ".join(command))
    result = json.loads(out)
    result["peak_rss_bytes"] = usage.ru_maxrss * 1024
    return result


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        model, threads, prompt, gen, reps = sys.argv[2], *map(int, sys.argv[3:7])
        json.dump(peer(model, threads, prompt, gen, reps, sys.argv[7] if len(sys.argv) > 7 else None), sys.stdout)
        return
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--prompt-tokens", default="128,512")
    p.add_argument("--gen-tokens", type=int, default=128)
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--lora", help="a GGUF LoRA adapter both sides apply unmerged (ours: --adapter)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    loco = os.environ.get("LOCO_BIN") or os.path.join(ROOT, ".build", "release", "loco")
    rows = []
    for threads in map(int, a.threads.split(",")):
        for prompt in map(int, a.prompt_tokens.split(",")):
            theirs = run([sys.executable, os.path.abspath(__file__), "--peer", a.model, str(threads), str(prompt),
                          str(a.gen_tokens), str(a.repetitions)] + ([a.lora] if a.lora else []))
            ours = run([loco, "bench", "--model", a.model, "--threads", str(threads), "--prompt-tokens", str(prompt),
                        "--gen-tokens", str(a.gen_tokens), "--repetitions", str(a.repetitions), "--json"]
                       + (["--adapter", a.lora] if a.lora else []))
            machine = {"cpu": ours.get("cpu", "?"), "kernels": ours.get("kernels", "?"),
                       "peer_build": theirs.get("system_info", "?")}
            rows.append({
                "threads": threads, "prompt_tokens": prompt, "gen_tokens": a.gen_tokens,
                "ours": {k: ours[k] for k in ("prefill_tokens_per_second", "decode_tokens_per_second", "peak_rss_bytes")},
                "llama_cpp": theirs,
                "prefill_ratio": ours["prefill_tokens_per_second"] / theirs["prefill_tokens_per_second"],
                "decode_ratio": ours["decode_tokens_per_second"] / theirs["decode_tokens_per_second"],
                "weight_bytes": ours["weight_bytes"],
            })
    if a.json:
        json.dump({"model": a.model, **machine, "results": rows}, sys.stdout, indent=1)
        print()
        return
    print("model %s (ratios: ours / llama.cpp, above 1 is faster)" % a.model)
    print("cpu %s; our kernels %s; llama.cpp %s" % (machine["cpu"], machine["kernels"], machine["peer_build"]))
    print("%3s %6s | %9s %9s %6s | %8s %8s %6s | %8s %8s" % ("thr", "prompt", "pp ours", "pp llama", "ratio",
                                                         "tg ours", "tg llama", "ratio", "RSS ours", "RSS llama"))
    for r in rows:
        print("%3d %6d | %9.1f %9.1f %6.2f | %8.1f %8.1f %6.2f | %6.0f MB %6.0f MB" % (
            r["threads"], r["prompt_tokens"], r["ours"]["prefill_tokens_per_second"],
            r["llama_cpp"]["prefill_tokens_per_second"], r["prefill_ratio"], r["ours"]["decode_tokens_per_second"],
            r["llama_cpp"]["decode_tokens_per_second"], r["decode_ratio"], r["ours"]["peak_rss_bytes"] / 1e6,
            r["llama_cpp"]["peak_rss_bytes"] / 1e6))


if __name__ == "__main__":
    main()
