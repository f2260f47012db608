"""How much do break-even interval ends move with the bootstrap seed? (issue 8: intervals that do not move with
the seed.)

For each seed, ``costlaw.breakeven.breakeven_intervals`` on the paper's runs (``offset_exp``, default margins,
by default at ``costlaw reproduce``'s settings: 400 refits, no adaptive refits); per (definition, row, method)
the interval ends of every seed, their spread over the seeds in log10 (max - min; 0 when all are inf, inf when
some are and some are not), whether both ends are within 10% (log10(1.1) = 0.041), the ``stable`` flag the
output prints, the Monte Carlo standard error each seed's output gives its ends (``*_mc``, median over seeds)
and the share of "never" refits (``p_never``) with its spread over seeds. Writes a CSV; prints the table and a
summary (how many agree, how many of the others are flagged, CPU seconds per seed).

    python benchmarks/breakeven_seeds.py                       # the default: 400 refits, seeds 0 1 2
    python benchmarks/breakeven_seeds.py --n-boot 100
    python benchmarks/breakeven_seeds.py --max-boot 2000       # adaptive refits, up to 2000
    python benchmarks/breakeven_seeds.py --seeds 0 1 2 3 4 5 6 7 8 9   # + the mean over three-seed subsets
"""
from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np
import pandas as pd


def seed_spread(ends: np.ndarray) -> np.ndarray:
    """Largest pairwise ``bands.log10_spread`` over seeds (rows of ``ends``), per column."""
    from costlaw.bands import log10_spread

    spread = np.zeros(ends.shape[1])
    for i in range(len(ends)):
        for j in range(i + 1, len(ends)):
            spread = np.maximum(spread, log10_spread(ends[i], ends[j]))
    return spread


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-boot", type=int, default=400, help="refits (default 400, reproduce's)")
    parser.add_argument("--max-boot", type=int, default=None,
                        help="adaptive refits up to this many (default: none beyond --n-boot)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="results/bench/breakeven_seeds.csv")
    args = parser.parse_args(argv)
    from costlaw import fit
    from costlaw.bands import STABLE_LOG10
    from costlaw.breakeven import breakeven_intervals
    from costlaw.datasets import PAPER_CLAIMED_RATIO, paper_runs
    from costlaw.errors import CostlawWarning
    from costlaw.io import write_csv_atomic

    warnings.simplefilter("ignore", CostlawWarning)
    fitted = fit(paper_runs(), "offset_exp")
    tables, seconds = [], []
    for seed in args.seeds:
        start = time.process_time()
        t = breakeven_intervals(fitted, n_boot=args.n_boot, seed=seed, claims=PAPER_CLAIMED_RATIO,
                                max_boot=args.max_boot)
        seconds.append(time.process_time() - start)
        tables.append(t[t.definition != "pareto"].reset_index(drop=True))
    base = tables[0][["definition", "task", "train_model", "method", "ratio"]].copy()
    for end in ("ratio_lo", "ratio_hi"):
        ends = np.stack([t[end].to_numpy(float) for t in tables])        # seeds x rows
        for k, seed in enumerate(args.seeds):
            base[f"{end}_seed{seed}"] = ends[k]
        base[f"{end}_spread_log10"] = seed_spread(ends)
        base[f"{end}_mc"] = np.median([t[f"{end}_mc"].to_numpy(float) for t in tables], axis=0)
    p_never = np.stack([t.p_never.to_numpy(float) for t in tables])
    base["p_never"] = p_never.mean(axis=0)
    base["p_never_spread"] = p_never.max(axis=0) - p_never.min(axis=0)
    base["n_boot"] = np.max([t.n_boot.to_numpy(float) for t in tables], axis=0)
    base["within_10pct"] = (base.ratio_lo_spread_log10 <= STABLE_LOG10) & (base.ratio_hi_spread_log10 <= STABLE_LOG10)
    triples = list(itertools.combinations(range(len(args.seeds)), 3))
    agree = np.zeros(len(base))
    for tri in triples:       # with more than three seeds: the share of three-seed subsets that agree, per row
        ok = np.ones(len(base), bool)
        for end in ("ratio_lo", "ratio_hi"):
            ok &= seed_spread(np.stack([tables[k][end].to_numpy(float) for k in tri])) <= STABLE_LOG10
        agree += ok / len(triples)
    base["p_three_agree"] = agree
    base["flagged_stable"] = np.all([t.stable.to_numpy(bool) for t in tables], axis=0)
    write_csv_atomic(args.out, base)
    pd.set_option("display.width", 250)
    print(base[["definition", "task", "train_model", "method", "ratio", "ratio_lo_spread_log10", "ratio_lo_mc",
                "ratio_hi_spread_log10", "ratio_hi_mc", "p_never", "p_never_spread", "within_10pct",
                "flagged_stable"]].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    ok = base.within_10pct
    never = ~ok & (base.p_never >= 0.5)
    print(f"\n{int(ok.sum())} of {len(base)} intervals have both ends within 10% across seeds {args.seeds} at "
          f"n_boot {args.n_boot}" + (f" (adaptive up to {args.max_boot}; refits used: "
                                     f"{sorted(set(int(n) for t in tables for n in t.n_boot))})"
                                     if args.max_boot else "")
          + f"; {int((~ok & ~base.flagged_stable).sum())} of the other {int((~ok).sum())} are flagged unstable "
          f"(~) by the output; unflagged but moving: {int((~ok & base.flagged_stable).sum())}. Of the moving ones, "
          f"{int(never.sum())} are mostly 'never' (p_never >= 0.5; its spread over seeds at most "
          f"{base.p_never_spread[never].max() if never.any() else 0:.3f}). "
          f"{np.mean(seconds):.1f} CPU s per seed." + (
              f" Over the {len(triples)} three-seed subsets of these seeds: {agree.sum():.1f} of {len(base)} agree "
              f"on average." if len(triples) > 1 else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
