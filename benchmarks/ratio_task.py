"""The ``rules`` task's properties, measured: ``python benchmarks/ratio_task.py [RUNS_CSV] [--out DIR]``.

1. Lexical purity: the target share of BM25's and random's selections at 2/5/10% of the pool's tokens (computed
   here, no model needed), beside the pool's share.
2. Selector-size effect: the target share of PPL's and LESS's selections per selector size (from the runs).
3. Effect size against seed noise: per trained model and fraction, the seed-mean metric of every arm, the
   best model-based arm minus the best model-free one, and the seed standard deviation.

RUNS_CSV defaults to ``data/ratio/runs.csv`` (the ``ratio`` preset's runs shipped with the repository). Each table
is printed and written as CSV under ``--out`` (default ``results/ratio_task``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from costlaw.io import write_csv_atomic
from costlaw.ladder import arm_names


def lexical_purity(fractions=(0.02, 0.05, 0.1)) -> pd.DataFrame:
    """Target share of BM25 and random selections on the ``ratio`` preset's pool (token lengths: whitespace
    words + template, the ranking unit does not change which examples come first)."""
    from costlaw.harness.config import build_task
    from costlaw.harness.presets import preset
    from costlaw.harness.selectors import SelectionContext, get_selector
    from costlaw.harness.subset import select_top_tokens

    task = build_task(preset("ratio").task)
    family = np.array([ex.family for ex in task.pool])
    lengths = np.array([len(ex.text.split()) for ex in task.pool])
    rows = []
    for name in ("bm25", "random"):
        scores = get_selector(name).score(SelectionContext(task, 0)).scores
        for f in fractions:
            idx = select_top_tokens(scores, lengths, f)
            rows.append({"method": name, "fraction": f, "target_share": float((family[idx] == task.target_family).mean()),
                         "pool_target_share": task.pool_target_share})
    return pd.DataFrame(rows)


def selection_purity(runs: pd.DataFrame) -> pd.DataFrame:
    """Target share per arm and fraction (seeds and trained models averaged; model-based selections are shared)."""
    runs = runs.assign(arm=arm_names(runs))
    runs = runs[runs.fraction_nominal < 1]
    return runs.pivot_table(index=["method", "selector_params", "arm"], columns="fraction_nominal",
                            values="target_share").reset_index()


def effect_sizes(runs: pd.DataFrame) -> pd.DataFrame:
    """Per trained model and fraction < 1: best model-based and best model-free seed mean, their difference and
    the pooled seed standard deviation of the panel's points."""
    runs = runs.assign(arm=arm_names(runs))
    rows = []
    for (model, f), g in runs[runs.fraction_nominal < 1].groupby(["train_model", "fraction_nominal"], sort=False):
        means = g.groupby("arm").metric.mean()
        sds = g.groupby("arm").metric.std()
        based = g.selector_params.groupby(g.arm).first() > 0
        best_model, best_free = means[based].idxmax(), means[~based].idxmax()
        rows.append({"train_model": model, "train_params": g.train_params.iloc[0], "fraction": f,
                     "base_metric": g.base_metric.median(), "best_model_based": best_model,
                     "metric_model_based": means[best_model], "best_model_free": best_free,
                     "metric_model_free": means[best_free], "difference": means[best_model] - means[best_free],
                     "seed_sd": float(np.sqrt(np.mean(np.square(sds))))})
    out = pd.DataFrame(rows).sort_values(["train_params", "fraction"]).reset_index(drop=True)
    out["difference_in_sd"] = out.difference / out.seed_sd
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="?", default="data/ratio/runs.csv")
    parser.add_argument("--out", default="results/ratio_task")
    args = parser.parse_args(argv)
    runs = pd.read_csv(args.runs)
    tables = {"lexical_purity": lexical_purity(), "selection_purity": selection_purity(runs),
              "effect_sizes": effect_sizes(runs)}
    for name, table in tables.items():
        print(f"\n{name}:")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        write_csv_atomic(Path(args.out) / f"{name}.csv", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
