#!/usr/bin/env python3
"""Whole-model quantization, LocoLLM (`loco quantize`, release build) against llama.cpp's quantizer
(llama_model_quantize through llama-cpp-python), side by side in one run, same input, same thread
count. Each side runs as its own process, alternating, so each gets a clean peak-RSS reading.

    python3 Benchmarks/quantize_peer_bench.py INPUT.gguf [--types Q8_0,Q4_K_M] [--repeats 3]
        [--threads 2] [--allow-requantize] [--json]

Prints per type: median seconds for each side, the ratio llama.cpp / ours (above 1: ours is
faster), peak RSS of each process, and whether the two outputs are byte-identical.
"""
import argparse
import filecmp
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FTYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11,
          "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18,
          "BF16": 32, "TQ1_0": 36, "TQ2_0": 37}


def timed(command):
    """Runs command; returns (seconds, peak RSS bytes)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit("failed: %s" % " ".join(command))
    return seconds, usage.ru_maxrss * 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("--types", default="Q8_0,Q4_0,Q4_K_M,Q6_K")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--allow-requantize", action="store_true")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()

    loco = os.path.join(ROOT, ".build", "release", "loco")
    peer = os.path.join(ROOT, "scripts", "llama_peer.py")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.types.split(","):
            ours_out, theirs_out = os.path.join(tmp, "ours.gguf"), os.path.join(tmp, "theirs.gguf")
            ours_cmd = [loco, "quantize", a.input, ours_out, name, "--threads", str(a.threads), "--quiet"]
            theirs_cmd = [sys.executable, peer, "quantize", a.input, theirs_out, str(FTYPES[name]), "--threads", str(a.threads)]
            if a.allow_requantize:
                ours_cmd.append("--allow-requantize")
                theirs_cmd.append("--allow-requantize")
            ours, theirs = [], []
            for _ in range(a.repeats):
                theirs.append(timed(theirs_cmd))
                ours.append(timed(ours_cmd))
            row = {
                "type": name,
                "ours_seconds": statistics.median(t for t, _ in ours),
                "llama_cpp_seconds": statistics.median(t for t, _ in theirs),
                "ours_peak_rss_bytes": max(m for _, m in ours),
                "llama_cpp_peak_rss_bytes": max(m for _, m in theirs),
                "identical": filecmp.cmp(ours_out, theirs_out, shallow=False),
            }
            row["ratio"] = row["llama_cpp_seconds"] / row["ours_seconds"]
            results.append(row)
    if a.json:
        json.dump({"input": a.input, "threads": a.threads, "results": results}, sys.stdout, indent=1)
        print()
        return
    print("input %s, %d threads, median of %d" % (a.input, a.threads, a.repeats))
    print("%-8s %10s %12s %8s %12s %14s %9s" % ("type", "ours s", "llama.cpp s", "ratio", "ours RSS", "llama.cpp RSS", "same"))
    for r in results:
        print("%-8s %10.2f %12.2f %8.2f %10.0f MB %12.0f MB %9s" % (
            r["type"], r["ours_seconds"], r["llama_cpp_seconds"], r["ratio"],
            r["ours_peak_rss_bytes"] / 1e6, r["llama_cpp_peak_rss_bytes"] / 1e6, r["identical"]))


if __name__ == "__main__":
    main()
