"""Efficiency of the harness on this machine (a benchmark to run by hand, not a timed test).

Reports (1) the measured matmul peak, (2) forward-scoring throughput and its achieved FLOP/s (FlopCounterMode
FLOPs / wall seconds) as a share of that peak, (3) batched per-example LoRA gradients against the
one-backward-per-example loop (LESS's method), (4) bm25s against rank_bm25 (CCDS's library).

    python benchmarks/harness_efficiency.py                       # CPU, fp32
    python benchmarks/harness_efficiency.py --device cuda --dtype bf16   # GPU: MFU against the card's peak
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from costlaw.harness.batches import collate, encode, length_buckets, lengths, token_logprobs  # noqa: E402
from costlaw.harness.flops import PhaseMeter  # noqa: E402
from costlaw.harness.gradients import batch_gradients, per_example_gradients_loop  # noqa: E402
from costlaw.harness.models import model_shape, task_tokenizer, tiny_model  # noqa: E402
from costlaw.harness.pool import generated_task  # noqa: E402
from costlaw.harness.train import add_lora  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_peak(device, dtype, n=2048, repeats=10) -> float:
    """Best FLOP/s of an n x n matmul (2 n^3 FLOPs)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def scoring_throughput(model, tok, examples, batch_size, device, repeats=2) -> dict:
    """Tokens/s and FLOP/s of length-bucketed forward scoring (FLOPs measured by FlopCounterMode)."""
    encoded = encode(tok, examples)
    token_lengths = lengths(encoded)
    batches = [collate([encoded[i] for i in idx], tok.pad_token_id) for idx in length_buckets(token_lengths, batch_size)]
    batches = [{k: v.to(device) for k, v in b.items()} for b in batches]
    shape = model_shape(model)
    meter = PhaseMeter("scoring")

    def one_pass():
        for b in batches:
            meter.step(tuple(b["input_ids"].shape), lambda: _forward(model, b), shape.forward_flops([b["input_ids"].shape[1]] * b["input_ids"].shape[0]))
        _sync(device)

    one_pass()  # warm-up; also counts the FLOPs of every shape once
    best = float("inf")
    for _ in range(repeats):
        meter.record.measured_flops = meter.record.analytic_flops = 0.0
        t = time.perf_counter()
        one_pass()
        best = min(best, time.perf_counter() - t)
    return {"tokens_per_s": token_lengths.sum() / best, "flops_per_s": meter.record.measured_flops / best,
            "measured_over_analytic": meter.record.ratio}


def _forward(model, batch):
    with torch.inference_mode():
        return token_logprobs(model, batch)


def gradient_speed(model, tok, examples, batch_size, device) -> dict:
    """Examples/s of batched per-example LoRA gradients and of the one-backward-per-example loop."""
    encoded = encode(tok, examples)
    idx_batches = length_buckets(lengths(encoded), batch_size, seed=0, max_padding=0.03)
    batches = [{k: v.to(device) for k, v in collate([encoded[i] for i in idx], tok.pad_token_id).items()}
               for idx in idx_batches]
    out = {}
    for name, fn in (("batched", batch_gradients), ("loop", per_example_gradients_loop)):
        fn(model, batches[0])
        _sync(device)
        t = time.perf_counter()
        for b in batches:
            fn(model, b)
        _sync(device)
        out[f"{name}_examples_per_s"] = len(encoded) / (time.perf_counter() - t)
    out["speedup"] = out["batched_examples_per_s"] / out["loop_examples_per_s"]
    return out


def bm25_speed(n_docs=20000, n_queries=32) -> dict:
    """Seconds to index and to score all documents for every query: bm25s against rank_bm25."""
    import bm25s
    from rank_bm25 import BM25Okapi

    task = generated_task(pool_examples=n_docs, validation_examples=n_queries, test_examples=4, pretrain_examples=10)
    docs = [ex.text.lower().split() for ex in task.pool]
    queries = [ex.text.lower().split() for ex in task.validation]
    t = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([ex.text for ex in task.pool], show_progress=False), show_progress=False)
    fast_index = time.perf_counter() - t
    q_tokens = bm25s.tokenize([ex.text for ex in task.validation], show_progress=False, return_ids=False)
    t = time.perf_counter()
    for q in q_tokens:
        retriever.get_scores(q)
    fast_query = time.perf_counter() - t
    t = time.perf_counter()
    slow = BM25Okapi(docs)
    slow_index = time.perf_counter() - t
    t = time.perf_counter()
    for q in queries:
        slow.get_scores(q)
    slow_query = time.perf_counter() - t
    return {"docs": n_docs, "queries": n_queries, "bm25s_index_s": fast_index, "bm25s_query_s": fast_query,
            "rank_bm25_index_s": slow_index, "rank_bm25_query_s": slow_query,
            "query_speedup": slow_query / fast_query}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="fp32", choices=DTYPES)
    parser.add_argument("--sizes", default="tiny-s,tiny-m,tiny-l")
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--batch-sizes", default="32,256")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    dtype = DTYPES[args.dtype]
    report = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "device": args.device if not args.device.startswith("cuda") else torch.cuda.get_device_name(),
              "dtype": args.dtype}
    peak = max(matmul_peak(args.device, dtype, n) for n in (1024, 2048, 4096))
    report["matmul_peak_flops_per_s"] = peak
    print(f"matmul peak ({args.dtype}, best of 1024^2, 2048^2, 4096^2): {peak / 1e9:.1f} GFLOP/s on {report['device']}, "
          f"{report['threads']} threads")
    task = generated_task(pool_examples=args.examples, validation_examples=8, test_examples=8, pretrain_examples=100)
    tok = task_tokenizer(task, os.environ.get("COSTLAW_HARNESS_CACHE", ".costlaw-bench-cache"))
    report["scoring"] = []
    print("\n| model | matmul params | batch | tokens/s | achieved GFLOP/s | share of peak | measured/analytic |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        model = tiny_model(size, len(tok)).to(args.device, dtype).eval()
        for bs in map(int, args.batch_sizes.split(",")):
            r = scoring_throughput(model, tok, task.pool, bs, args.device)
            r.update(model=size, batch=bs, matmul_params=model_shape(model).matmul_params,
                     share_of_peak=r["flops_per_s"] / peak)
            report["scoring"].append(r)
            print(f"| {size} | {r['matmul_params']:,} | {bs} | {r['tokens_per_s']:,.0f} | {r['flops_per_s'] / 1e9:.1f} "
                  f"| {r['share_of_peak']:.0%} | {r['measured_over_analytic']:.3f} |")
    print("\n| model | batch | batched ex/s | loop ex/s | speedup |")
    print("|---|---|---|---|---|")
    report["gradients"] = []
    for size in args.sizes.split(",")[:2]:
        model = add_lora(tiny_model(size, len(tok)).to(args.device, dtype))
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.02)
        r = gradient_speed(model, tok, task.pool[:256], 32, args.device)
        r.update(model=size, batch=32)
        report["gradients"].append(r)
        print(f"| {size} | 32 | {r['batched_examples_per_s']:.0f} | {r['loop_examples_per_s']:.0f} | {r['speedup']:.1f}x |")
    r = bm25_speed()
    report["bm25"] = r
    print(f"\nBM25 over {r['docs']:,} documents, {r['queries']} queries scored against all documents: bm25s index "
          f"{r['bm25s_index_s']:.2f} s, queries {r['bm25s_query_s']:.3f} s; rank_bm25 index {r['rank_bm25_index_s']:.2f} s, "
          f"queries {r['rank_bm25_query_s']:.2f} s ({r['query_speedup']:.0f}x slower)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
