"""Analytic against measured FLOPs, per phase and model, for a finished sweep: ``python benchmarks/flops_table.py DIR``.

Reads ``DIR/phases.csv`` (one row per phase per run) and prints a markdown table; each selector phase is counted
once (the cached scores are reused by many runs), training and evaluation are summed over runs.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def flops_table(sweep_dir) -> pd.DataFrame:
    phases = pd.read_csv(Path(sweep_dir) / "phases.csv")
    phases["selector_model"] = phases["selector_model"].fillna("")
    selection = phases[~phases.phase.isin(["training", "evaluation"])]
    selection = selection.drop_duplicates(["method", "selector_model", "phase", "analytic_flops", "measured_flops"])
    selection = selection.assign(model=selection.selector_model)
    rest = phases[phases.phase.isin(["training", "evaluation"])].assign(model=lambda d: d.train_model)
    both = pd.concat([selection, rest])
    both = both[both.analytic_flops > 0]
    table = both.groupby(["phase", "model"], sort=False)[["analytic_flops", "measured_flops", "seconds"]].sum()
    table["measured / analytic"] = table.measured_flops / table.analytic_flops
    return table


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python benchmarks/flops_table.py SWEEP_DIR", file=sys.stderr)
        return 2
    table = flops_table(argv[0])
    print("| phase | model | analytic FLOPs | measured FLOPs | measured / analytic | seconds |")
    print("|---|---|---|---|---|---|")
    for (phase, model), r in table.iterrows():
        print(f"| {phase} | {model} | {r.analytic_flops:.4g} | {r.measured_flops:.4g} | {r['measured / analytic']:.4f} "
              f"| {r.seconds:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
