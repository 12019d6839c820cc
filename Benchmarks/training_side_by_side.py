#!/usr/bin/env python3
"""LoRA training speed and memory, LocoLLM (`loco train`) against PyTorch + PEFT on CPU
(Benchmarks/training_peer_bench.py), side by side in one run on the same model and the same data.

    python3 Benchmarks/training_side_by_side.py --model GGUF [--threads 1,2] [--steps 12]
        [--batch 4] [--seq-len 128] [--rank 16] [--targets q_proj,k_proj,v_proj,o_proj]
        [--loco .build/release/loco] [--json]

The data: batch x steps random sequences of exactly seq-len tokens, every position but the first
trained (the workload PEERS.md's PyTorch figures describe), written once as {"tokens", "trained"}
JSON lines and given to both; or, with --data, a pre-tokenized file such as `loco data tokenize`
writes from chat JSONL (sequences of varying length, only the assistant's tokens trained). Then the
peer pads each batch to seq-len and computes every position's logits, LocoLLM packs the sequences
and computes logits only where the loss needs them; both are reported in real (unpadded) tokens per
second: the mean sequence length times the batch over the mean step time. Both run AdamW at lr 2e-4, LoRA dropout 0, no validation. Tokens per
second count batch x seq-len per step over the steps after the first two (warm-up: allocation,
LocoLLM's one-time dequantization of the weights into its float cache). Peak RSS is each process's
ru_maxrss, model load included. Needs scripts/install-training-peer.sh for the peer.
"""
import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WARMUP = 2


def vocabulary(model):
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    sys.dont_write_bytecode = True
    import gguf
    reader = gguf.GGUFReader(model)
    for tensor in reader.tensors:
        if tensor.name == "token_embd.weight":
            return int(tensor.shape[1])
    raise SystemExit("no token_embd.weight in %s" % model)


def write_data(path, count, length, vocab, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(count):
            tokens = [rng.randrange(vocab) for _ in range(length)]
            f.write(json.dumps({"tokens": tokens, "trained": [0] + [1] * (length - 1)}) + "\n")


def mean_length(data, seq_len):
    with open(data) as f:
        lengths = [min(seq_len, len(json.loads(line)["tokens"])) for line in f if line.strip()]
    return sum(lengths) / len(lengths)


def run_loco(args, data, threads, out):
    targets = ",".join(t.replace("_proj", "") for t in args.targets.split(","))
    command = [args.loco, "train", "--model", args.model, "--data", data, "--out", out, "--steps", str(args.steps),
               "--batch", str(args.batch), "--max-seq-len", str(args.seq_len), "--rank", str(args.rank),
               "--alpha", str(2 * args.rank), "--targets", targets, "--dropout", "0", "--val-fraction", "0",
               "--eval-every", "0", "--checkpoint-every", "0", "--threads", str(threads), "--json"]
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    with open(os.path.join(out, "training-log.csv")) as f:
        rows = list(csv.DictReader(f))
    # Each step's time from its logged speed and the data's mean length (exact for the fixed-length
    # random data; for --data the per-step lengths vary around the mean).
    tokens = args.batch * mean_length(data, args.seq_len)
    seconds = sum(tokens / float(r["tokens_per_second"]) for r in rows[WARMUP:])
    result["steady_tokens_per_second"] = tokens * len(rows[WARMUP:]) / seconds
    return result


def run_peer(args, data, threads):
    command = [sys.executable, os.path.join(HERE, "training_peer_bench.py"), "--model", args.model, "--data", data,
               "--rank", str(args.rank), "--alpha", str(2 * args.rank), "--targets", args.targets, "--batch", str(args.batch),
               "--seq-len", str(args.seq_len), "--steps", str(args.steps - WARMUP), "--warmup-steps", str(WARMUP),
               "--threads", str(threads)]
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    result["real_tokens_per_second"] = args.batch * mean_length(data, args.seq_len) / result["seconds_per_step"]
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj")
    p.add_argument("--loco", default=os.path.join(ROOT, ".build/release/loco"))
    p.add_argument("--data", help="pre-tokenized JSONL ({\"tokens\", \"trained\"} lines) instead of random tokens")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.steps <= WARMUP:
        raise SystemExit("--steps must exceed the %d warm-up steps" % WARMUP)

    rows = []
    with tempfile.TemporaryDirectory() as work:
        data = args.data
        if data is None:
            data = os.path.join(work, "tokens.jsonl")
            write_data(data, args.batch * args.steps, args.seq_len, vocabulary(args.model), seed=0)
        for threads in [int(t) for t in args.threads.split(",")]:
            ours = run_loco(args, data, threads, os.path.join(work, "out-%d" % threads))
            peer = run_peer(args, data, threads)
            rows.append({
                "threads": threads,
                "loco_tokens_per_second": ours["steady_tokens_per_second"],
                "peer_tokens_per_second": peer["real_tokens_per_second"],
                "ratio": ours["steady_tokens_per_second"] / peer["real_tokens_per_second"],
                "loco_peak_rss_bytes": ours["peak_rss_bytes"],
                "peer_peak_rss_bytes": peer["peak_rss_bytes"],
                "loco_final_loss": ours["final_loss"],
            })
    if args.json:
        print(json.dumps({"model": os.path.basename(args.model), "batch": args.batch, "seq_len": args.seq_len,
                          "rank": args.rank, "targets": args.targets.split(","), "rows": rows}))
        return
    print("LoRA training, %s, batch %d x %d tokens, rank %d, %s, data %s" % (
        os.path.basename(args.model), args.batch, args.seq_len, args.rank, args.targets, args.data or "random tokens"))
    print("threads  loco tok/s  pytorch+peft tok/s  ratio  loco peak RSS  pytorch peak RSS")
    for r in rows:
        print("%7d  %10.1f  %18.1f  %5.2f  %10.2f GB  %13.2f GB" % (
            r["threads"], r["loco_tokens_per_second"], r["peer_tokens_per_second"], r["ratio"],
            r["loco_peak_rss_bytes"] / 1e9, r["peer_peak_rss_bytes"] / 1e9))


if __name__ == "__main__":
    main()
