#!/usr/bin/env python3
"""`loco serve` against llama.cpp's own server (llama-server), side by side on loopback: the same
model, threads and parallel slots, the same requests. For each number of concurrent clients it
reports the aggregate generation rate (all clients' tokens over the wall time of the round) and the
time to first token under that load, per server, and the ratio.

    python3 Benchmarks/serve_peer_bench.py [--model M.gguf] [--clients 1,4,8] [--tokens 64] [--threads 2]

Each client streams one /v1/completions of `--tokens` tokens (ignore_eos, greedy) after a short
prompt of its own (distinct prompts, so neither server reuses another client's cache). Rounds
alternate between the servers and repeat (--rounds); the best round of each is kept, as
llama-bench does. Bounded: one round is at most clients x tokens tokens, with a time limit.
llama-server is built by scripts/build-llama-server.sh from the llama.cpp that llama-cpp-python
0.3.36 vendors.
"""
import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, process, seconds=180):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become ready")


def start(kind, args, model, parallel, context):
    port = free_port()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if kind == "loco":
        cmd = [args.loco, "serve", "--model", model, "--port", str(port), "--parallel", str(parallel),
               "--max-queue", str(max(64, 2 * parallel)), "--ctx", str(context), "--threads", str(args.threads)]
    else:
        cmd = [args.llama_server, "-m", model, "--port", str(port), "-np", str(parallel), "-c", str(context * parallel),
               "-t", str(args.threads), "-tb", str(args.threads), "--no-webui"]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process)
    return process, url


def peak_rss_mb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


PROMPTS = [
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Explain how a bicycle stays upright, for a ten-year-old.",
    "Describe a walk through a busy market on a rainy morning.",
    "List some ideas for a school science fair and explain each one.",
    "Tell me about the history of the printing press.",
    "Write a letter to a friend about a trip to the mountains.",
    "Explain what photosynthesis is and why it matters.",
    "Describe how to bake bread at home, step by step.",
]


def one_round(url, clients, tokens, limit):
    model = httpx.get(url + "/v1/models").json()["data"][0]["id"]
    results = [None] * clients
    barrier = threading.Barrier(clients)

    def client(i):
        body = {"model": model, "prompt": f"{PROMPTS[i % len(PROMPTS)]} (request {i})", "max_tokens": tokens,
                "temperature": 0, "ignore_eos": True, "stream": True}
        barrier.wait()
        begin = time.perf_counter()
        first = None
        count = 0
        with httpx.stream("POST", url + "/v1/completions", json=body, timeout=limit) as response:
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.read()[:300]}")
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("choices") and chunk["choices"][0].get("text"):
                    count += 1
                    if first is None:
                        first = time.perf_counter()
        results[i] = (begin, first, time.perf_counter(), count)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    begin = min(r[0] for r in results)
    end = max(r[2] for r in results)
    generated = sum(r[3] for r in results)
    ttft = [r[1] - r[0] for r in results if r[1] is not None]
    return {"tokens": generated, "seconds": end - begin, "tokens_per_second": generated / (end - begin),
            "ttft_median": statistics.median(ttft), "ttft_max": max(ttft)}


def main():
    default_model = os.path.expanduser("~/.cache/locollm/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=default_model)
    parser.add_argument("--loco", default=os.path.join(ROOT, ".build/release/loco"))
    parser.add_argument("--llama-server")
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=512, help="positions per slot")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--limit", type=float, default=300, help="seconds a round may take")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    if not args.llama_server:
        args.llama_server = subprocess.run(["bash", os.path.join(ROOT, "scripts/build-llama-server.sh")], check=True,
                                           capture_output=True, text=True).stdout.strip().splitlines()[-1]
    counts = [int(c) for c in args.clients.split(",")]
    rows = []
    for clients in counts:
        best = {}
        rss = {}
        servers = {kind: start(kind, args, args.model, clients, args.context) for kind in ("loco", "llama")}
        try:
            for kind, (_, url) in servers.items():
                one_round(url, 1, 8, args.limit)  # warm-up
            for _ in range(args.rounds):
                for kind, (_, url) in servers.items():
                    result = one_round(url, clients, args.tokens, args.limit)
                    if kind not in best or result["tokens_per_second"] > best[kind]["tokens_per_second"]:
                        best[kind] = result
            for kind, (process, _) in servers.items():
                rss[kind] = peak_rss_mb(process.pid)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait()
        row = {"clients": clients, "loco": best["loco"], "llama_server": best["llama"],
               "ratio": best["loco"]["tokens_per_second"] / best["llama"]["tokens_per_second"],
               "peak_rss_mb": {"loco": rss["loco"], "llama_server": rss["llama"]}}
        rows.append(row)
        print(f"{clients} clients: loco {best['loco']['tokens_per_second']:.1f} tok/s (TTFT median {best['loco']['ttft_median'] * 1000:.0f} ms), "
              f"llama-server {best['llama']['tokens_per_second']:.1f} tok/s (TTFT median {best['llama']['ttft_median'] * 1000:.0f} ms), "
              f"ratio {row['ratio']:.2f}", file=sys.stderr)
    print(f"\n{os.path.basename(args.model)}, {args.threads} threads, {args.tokens} tokens per client, CPU: {cpu_name()}, "
          f"LOCO_CPU_FEATURES={os.environ.get('LOCO_CPU_FEATURES', '(unset: the best set)')}\n")
    print("| clients | loco tok/s | llama-server tok/s | ratio | TTFT median loco / llama-server | TTFT max loco / llama-server | peak RSS loco / llama-server |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        l, s = r["loco"], r["llama_server"]
        print(f"| {r['clients']} | {l['tokens_per_second']:.1f} | {s['tokens_per_second']:.1f} | {r['ratio']:.2f} | "
              f"{l['ttft_median'] * 1000:.0f} / {s['ttft_median'] * 1000:.0f} ms | {l['ttft_max'] * 1000:.0f} / {s['ttft_max'] * 1000:.0f} ms | "
              f"{r['peak_rss_mb']['loco']:.0f} / {r['peak_rss_mb']['llama_server']:.0f} MB |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_name(), "model": args.model, "threads": args.threads, "tokens": args.tokens, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
