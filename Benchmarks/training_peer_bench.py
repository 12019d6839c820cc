#!/usr/bin/env python3
"""LoRA training speed of the peer: PyTorch (CPU) + PEFT over a GGUF base dequantized to float32,
AdamW, the reference the Swift LoRA trainer is compared with. OPTIONAL: needs
scripts/install-training-peer.sh; the model loader is scripts/train_peer.py's load_model.

    python3 Benchmarks/training_peer_bench.py --model GGUF [--rank 16] [--alpha 32]
        [--targets q_proj,k_proj,v_proj,o_proj] [--batch 4] [--seq-len 128] [--steps 10]
        [--warmup-steps 2] [--threads 2] [--lr 2e-4] [--data JSONL] [--seed 0]

Each step: forward over batch x seq-len tokens, loss = token-level mean of the trained positions'
cross-entropy (train_peer.batch_loss), backward, AdamW step (lr --lr, torch's defaults otherwise),
gradients zeroed. Without --data the tokens are random ids below the vocabulary size, fresh every
step, and every position but the first is trained. --data: JSON lines {"tokens": [...],
"trained": [...]} ("trained" optional: all but the first), cut to seq-len, right-padded (padding
never trained), taken in order and cycled. PEFT's default initialization (B = 0); lora_dropout 0.

Prints one JSON line: tokens_per_second = batch * seq_len * steps / (time of the timed steps),
seconds_per_step (mean of the timed steps; warm-up steps are run first and not timed),
peak_rss_bytes (ru_maxrss of this process: model load included), and the configuration; also the
median and fastest step and every step's time, since a busy machine (a build next door) shows up as
a few slow steps: trust a run whose mean and median agree.
"""
import argparse
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))
sys.dont_write_bytecode = True  # no __pycache__ in scripts/ from importing train_peer


def batches(args, vocab, torch, train_peer):
    generator = torch.Generator().manual_seed(args.seed)
    if args.data is None:
        while True:
            tokens = torch.randint(0, vocab, (args.batch, args.seq_len), generator=generator)
            trained = torch.ones_like(tokens)
            trained[:, 0] = 0
            yield tokens, trained
    rows = []
    with open(args.data) as f:
        for line in f:
            if line.strip():
                item = json.loads(line)
                tokens = [int(t) for t in item["tokens"]][: args.seq_len]
                trained = [int(t) for t in item.get("trained", [0] + [1] * (len(tokens) - 1))][: args.seq_len]
                if tokens and trained[0]:
                    trained[0] = 0
                rows.append((tokens, trained))
    if not rows:
        sys.exit("%s holds no sequences" % args.data)
    i = 0
    while True:
        chunk = [rows[(i + k) % len(rows)] for k in range(args.batch)]
        i += args.batch
        yield train_peer.padded_batch([c[0] for c in chunk], [c[1] for c in chunk], length=args.seq_len)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32.0)
    p.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--data")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    import torch
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)
    import peft
    from peft import LoraConfig, get_peft_model
    import train_peer

    started = time.perf_counter()
    model, hp = train_peer.load_model(args.model, dtype="float32", attention="sdpa")
    targets = [t for t in args.targets.split(",") if t]
    config = LoraConfig(r=args.rank, lora_alpha=args.alpha, target_modules=targets, lora_dropout=0.0,
                        bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    model.train()
    trainable = [q for q in model.parameters() if q.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=args.lr)
    load_seconds = time.perf_counter() - started

    data = batches(args, hp["vocab"], torch, train_peer)
    times, losses = [], []
    for step in range(args.warmup_steps + args.steps):
        tokens, trained = next(data)
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss, _ = train_peer.batch_loss(model, tokens, trained)
        loss.backward()
        optimizer.step()
        elapsed = time.perf_counter() - t0
        losses.append(loss.item())
        if step >= args.warmup_steps:
            times.append(elapsed)
    total = sum(times)
    tokens_per_step = args.batch * args.seq_len
    print(json.dumps({
        "peer": "pytorch+peft",
        "tokens_per_second": tokens_per_step * len(times) / total if total else None,
        "seconds_per_step": total / len(times) if times else None,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "threads": args.threads, "batch": args.batch, "seq_len": args.seq_len, "rank": args.rank,
        "alpha": args.alpha, "targets": targets, "steps": len(times), "warmup_steps": args.warmup_steps,
        "lr": args.lr, "data": args.data or "random", "model": os.path.basename(args.model),
        "trainable_parameters": sum(q.numel() for q in trainable), "load_seconds": round(load_seconds, 2),
        "median_seconds_per_step": sorted(times)[len(times) // 2] if times else None,
        "fastest_step_seconds": min(times) if times else None,
        "step_seconds": [round(t, 4) for t in times], "first_loss": losses[0], "last_loss": losses[-1],
        "torch": torch.__version__, "peft": peft.__version__,
    }))


if __name__ == "__main__":
    main()
