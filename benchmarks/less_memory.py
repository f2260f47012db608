"""Peak memory of LESS selection when the LoRA gradient is huge (a benchmark to run by hand, not a timed test).

Part ``less``: a generated Llama (hidden 512, 8 layers) with LoRA rank 1536 on q/k/v/o, so one example's LoRA
gradient has 50.3M dims; the full LESS selector (warmup, Adam-preconditioned per-example gradients micro-batched to
``--gradient-memory-gb``, projection to 8192 dims with the sparse projector) on a small generated pool. A dense
fp32 projection matrix would need dims x 8192 x 4 bytes = 1.65 TB.

Part ``projector``: the dense Rademacher projector (LESS/TRAK's) generated on the fly in chunks, never cached, at
``--dims`` x 8192 (dense: 16 GB at 500k dims), projecting a few examples.

    python benchmarks/less_memory.py --part less
    python benchmarks/less_memory.py --part projector
Each part reports peak RSS (resource.ru_maxrss) and wall seconds as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # Linux: KiB


def less_part(args) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from costlaw.harness.models import ModelSpec, task_tokenizer
    from costlaw.harness.pool import generated_task
    from costlaw.harness.selectors import SelectionContext, get_selector

    task = generated_task(pool_examples=args.pool, validation_examples=8, test_examples=4, pretrain_examples=100)
    with tempfile.TemporaryDirectory() as tmp:
        tok = task_tokenizer(task, tmp)
        torch.manual_seed(0)
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=512, num_hidden_layers=8, intermediate_size=1376,
                          num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=512,
                          tie_word_embeddings=False, bos_token_id=1, eos_token_id=1, pad_token_id=2)
        folder = os.path.join(tmp, "generated-llama")
        LlamaForCausalLM(cfg).save_pretrained(folder)
        tok.save_pretrained(folder)
        base_rss = peak_rss_gb()
        ctx = SelectionContext(task, 0, tmp, ModelSpec.parse(folder),
                               {"lora_rank": args.rank, "lora_alpha": 2 * args.rank, "projection_dims": args.k,
                                "projection": "sparse", "warmup_epochs": 1, "checkpoints": 1,
                                "min_warmup_examples": 8, "batch_size": 8, "lr": 1e-4},
                               batch_size=16, gradient_memory_gb=args.gradient_memory_gb)
        start = time.perf_counter()
        out = get_selector("gradient").score(ctx)
        seconds = time.perf_counter() - start
    dims = out.extra["gradient_dims"]
    return {"part": "less", "gradient_dims": dims, "projection_dims": out.extra["projection_dims"],
            "pool_examples": args.pool, "gradient_memory_gb": args.gradient_memory_gb,
            "dense_projection_gb": 4.0 * dims * args.k / 2 ** 30, "peak_rss_gb_before": base_rss,
            "peak_rss_gb": peak_rss_gb(), "seconds": seconds, "finite_scores": bool(torch.isfinite(
                torch.as_tensor(out.scores)).all())}


def projector_part(args) -> dict:
    import torch

    from costlaw.harness.gradients import Projector

    proj = Projector(args.dims, args.k, seed=0, kind="rademacher", cache_bytes=0)
    grads = torch.randn(args.examples, args.dims)
    before = peak_rss_gb()
    start = time.perf_counter()
    out = proj(grads)
    seconds = time.perf_counter() - start
    # the projection preserves norms in expectation (JL): report the spread of |Px| / |x|
    ratio = (out.norm(dim=1) / grads.norm(dim=1)).numpy()
    return {"part": "projector", "dims": args.dims, "projection_dims": args.k, "examples": args.examples,
            "dense_matrix_gb": proj.matrix_bytes / 2 ** 30, "chunk_rows": proj.chunk_rows,
            "peak_rss_gb_before": before, "peak_rss_gb": peak_rss_gb(), "seconds": seconds,
            "norm_ratio_min": float(ratio.min()), "norm_ratio_max": float(ratio.max())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["less", "projector"], default="less")
    parser.add_argument("--rank", type=int, default=1536, help="LoRA rank (1536: 50.3M gradient dims)")
    parser.add_argument("--k", type=int, default=8192, help="projection dims")
    parser.add_argument("--pool", type=int, default=64)
    parser.add_argument("--gradient-memory-gb", type=float, default=1.0)
    parser.add_argument("--dims", type=int, default=500_000, help="projector part: gradient dims")
    parser.add_argument("--examples", type=int, default=4)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    result = less_part(args) if args.part == "less" else projector_part(args)
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
