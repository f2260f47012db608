"""Batch sizes of length-bucketed scoring on sets of realistic, varied lengths (run by hand, not a timed test).

Compares equal-length buckets (``max_padding=0``, the old scoring batches) with the current scoring batches
(``SCORING_MAX_PADDING`` plus merging of small tail batches): share of batches of one example, mean batch size,
number of batches (= forward calls) and padding overhead (padded / real tokens - 1, what measured FLOPs exceed
analytic ones by). Lengths are lognormal around a median, as MMLU 5-shot prompts (285 validation examples,
median ~450 tokens), a 14k test set and a 270k pool (~300 tokens).

    python benchmarks/harness_batching.py [--json out.json]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from costlaw.harness.batches import SCORING_MAX_PADDING, length_buckets

SETS = {"mmlu-validation-285": (285, 450, 0.35), "test-14k": (14_000, 450, 0.35), "pool-270k": (270_000, 300, 0.8)}


def stats(token_lengths, batches) -> dict:
    sizes = np.array([len(b) for b in batches])
    padded = sum(len(b) * token_lengths[b].max() for b in batches)
    return {"batches": int(len(sizes)), "share_size_one": float((sizes == 1).mean()), "mean_size": float(sizes.mean()),
            "padding": float(padded / token_lengths.sum() - 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    rows = []
    for name, (n, median, sigma) in SETS.items():
        token_lengths = np.maximum(8, np.random.default_rng(0).lognormal(np.log(median), sigma, n).astype(int))
        for label, kw in (("equal-length (old)", dict(max_padding=0.0, min_size=1)),
                          ("current", dict(max_padding=SCORING_MAX_PADDING))):
            rows.append({"set": name, "batching": label, **stats(token_lengths, length_buckets(token_lengths,
                                                                                              args.batch_size, **kw))})
    print(f"{'set':22} {'batching':20} {'batches':>8} {'size-1':>7} {'mean':>6} {'padding':>8}")
    for r in rows:
        print(f"{r['set']:22} {r['batching']:20} {r['batches']:8d} {r['share_size_one']:7.1%} {r['mean_size']:6.1f} "
              f"{r['padding']:8.2%}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
