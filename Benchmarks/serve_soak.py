#!/usr/bin/env python3
"""A soak of `loco serve`: mixed requests from several clients for a fixed time, with the server's
resident memory sampled throughout, to show that memory stays bounded.

    python3 Benchmarks/serve_soak.py [--minutes 20] [--clients 6] [--parallel 4] [--registry DIR]

The mix, chosen at random per request: streamed and whole chats through the Ollama and OpenAI
routes (the base, each registry adapter, `auto`), generate, embeddings, completions with prompt
log-probabilities, a client that hangs up after a few chunks, and bad requests (which must get a
4xx). It prints RSS after warm-up, at its highest and at the end, the request counts, and any
request that failed unexpectedly (which make the exit status 1).
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


PROMPTS = ["What is 25 percent of 240?", "Write a Python function that reverses a string.", "Name three rivers in Europe.",
           "Tell me a short story about a cat.", "How do I sort a list in Python?", "What is the capital of Japan?",
           "Explain rain to a child.", "Calculate the average of 3, 5 and 10."]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loco", default=os.path.join(ROOT, ".build/release/loco"))
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--registry")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the samples and counts here too")
    args = parser.parse_args()
    port = free_port()
    command = [args.loco, "serve", "--port", str(port), "--parallel", str(args.parallel), "--max-queue", "32", "--ctx", "1024"]
    if args.registry:
        command += ["--registry", args.registry]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    url = server.stdout.readline().split("listening on ")[1].split(" ")[0]
    models = [m["id"] for m in httpx.get(url + "/v1/models").json()["data"]]
    counts, failures = {}, []
    lock = threading.Lock()
    stop = time.time() + args.minutes * 60

    def count(kind, ok, detail=""):
        with lock:
            counts[kind] = counts.get(kind, 0) + 1
            if not ok:
                failures.append(f"{kind}: {detail}"[:300])

    def client(seed):
        rng = random.Random(seed)
        http = httpx.Client(timeout=300)
        while time.time() < stop:
            kind = rng.choice(["ollama_chat_stream", "openai_chat", "openai_chat_stream", "generate", "embed", "echo",
                               "hang_up", "bad"])
            model, prompt = rng.choice(models), rng.choice(PROMPTS)
            tokens = rng.randint(4, 96)
            try:
                if kind == "ollama_chat_stream":
                    with http.stream("POST", url + "/api/chat", json={"model": model, "messages": [{"role": "user", "content": prompt}],
                                                                      "options": {"num_predict": tokens, "seed": rng.randint(0, 99)}}) as r:
                        lines = [json.loads(line) for line in r.iter_lines() if line]
                    count(kind, r.status_code == 200 and lines[-1].get("done") is True, str(lines[-1:]))
                elif kind in ("openai_chat", "openai_chat_stream"):
                    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": tokens,
                            "temperature": rng.choice([0, 0.7]), "stream": kind.endswith("stream")}
                    r = http.post(url + "/v1/chat/completions", json=body)
                    count(kind, r.status_code == 200, r.text[:200])
                elif kind == "generate":
                    r = http.post(url + "/api/generate", json={"model": model, "prompt": prompt, "stream": False,
                                                              "options": {"num_predict": tokens}})
                    count(kind, r.status_code == 200 and r.json().get("done") is True, r.text[:200])
                elif kind == "embed":
                    r = http.post(url + "/api/embed", json={"model": models[0], "input": [prompt, prompt[::-1]]})
                    count(kind, r.status_code == 200 and len(r.json()["embeddings"]) == 2, r.text[:200])
                elif kind == "echo":
                    r = http.post(url + "/v1/completions", json={"model": model, "prompt": prompt, "max_tokens": 1, "echo": True,
                                                                "logprobs": 1, "temperature": 0})
                    count(kind, r.status_code == 200 and r.json()["choices"][0]["logprobs"]["token_logprobs"][0] is None, r.text[:200])
                elif kind == "hang_up":
                    with http.stream("POST", url + "/v1/chat/completions",
                                     json={"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 500,
                                           "stream": True}) as r:
                        for i, _ in enumerate(r.iter_lines()):
                            if i >= 3:
                                break
                    count(kind, True)
                else:
                    body = rng.choice(['{"model": 1}', "{oops", '{"model": "nope", "messages": []}',
                                       '{"model": "%s", "prompt": "x", "options": {"top_k": "many"}}' % models[0]])
                    path = rng.choice(["/api/chat", "/api/generate", "/v1/chat/completions"])
                    r = http.post(url + path, content=body, headers={"content-type": "application/json"})
                    count(kind, 400 <= r.status_code < 500, f"{path} {body}: {r.status_code}")
            except Exception as error:  # noqa: BLE001 - every unexpected failure is reported
                count(kind, False, repr(error))

    threads = [threading.Thread(target=client, args=(args.seed * 1000 + i,)) for i in range(args.clients)]
    samples = []
    begin = time.time()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        samples.append((round(time.time() - begin, 1), round(rss_mb(server.pid), 1)))
        time.sleep(10)
    for t in threads:
        t.join()
    samples.append((round(time.time() - begin, 1), round(rss_mb(server.pid), 1)))
    health = httpx.get(url + "/health").json()
    server.terminate()
    server.wait()
    warm = [r for s, r in samples if s >= 60] or [r for _, r in samples]
    print(f"soak: {args.minutes:g} min, {args.clients} clients, parallel {args.parallel}, {sum(counts.values())} requests: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"RSS: {samples[0][1]:.0f} MB at start, {warm[0]:.0f} MB after the first minute, highest {max(r for _, r in samples):.0f} MB, "
          f"{samples[-1][1]:.0f} MB at the end; after the first minute it ranged {min(warm):.0f}-{max(warm):.0f} MB")
    print(f"at the end: {health['running']} running, {health['waiting']} waiting; unexpected failures: {len(failures)}")
    for failure in failures[:20]:
        print("  " + failure)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"samples": samples, "counts": counts, "failures": failures}, f)
    sys.exit(1 if failures or health["running"] or health["waiting"] else 0)


if __name__ == "__main__":
    main()
