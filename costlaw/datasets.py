"""Bundled data: the paper's 180 runs in the runs schema, and its published fitted curves as a reference.

Yin & Rush (2025), "Compute-Constrained Data Selection", ICLR. Values recovered from the vector geometry of the
figure PDFs in their repository (oseyosey/CCDS); see ``data/paper/README.md`` for provenance.
``python -m costlaw.datasets`` regenerates ``data/paper/runs*.csv`` from ``data/paper/source/``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import InputError
from ._paths import bundled_dir
from .costs import EMBED_PARAMS, PAPER_POOL_TOKENS, PAPER_SELECTOR_PARAMS
from .schema import validate_runs

PAPER_SELECTORS = {"ppl": ("llama2-7b", PAPER_SELECTOR_PARAMS), "less": ("llama2-7b", PAPER_SELECTOR_PARAMS),
                   "embed": ("gtr-t5-base", EMBED_PARAMS)}
PAPER_SOURCE = "Yin & Rush 2025, recovered from figure PDFs (oseyosey/CCDS)"
PAPER_PBAR = {("mmlu", "llama2-7b"): 47.42, ("mmlu", "llama2-13b"): 55.50, ("mmlu", "llama2-70b"): 70.05,
              ("bbh", "llama2-7b"): 42.19, ("bbh", "llama2-13b"): 52.78, ("bbh", "llama2-70b"): 71.25}
"""The paper's fixed asymptote Pbar per (task, model) panel, in accuracy points."""
PAPER_CLAIMED_RATIO = {"ppl": 5.0, "less": 10.0}
"""The paper's headline: PPL pays off at ~5x, LESS at ~10x train-to-selector size ratio."""


def _data_dir() -> Path:
    return bundled_dir("data") / "paper"


def convert_paper_sweep(sweep: pd.DataFrame, source_name: str) -> pd.DataFrame:
    """Turn the paper's (task, model, params_b, method, fraction, flops, accuracy) rows into the runs schema.

    total_flops is the plotted x value. For PPL and LESS, train_flops is the panel's full-pool training charge
    times the fraction and selection_flops the rest; the methods the paper charged nothing (random, BM25, Embed)
    get selection_flops 0 and train_flops = total_flops.
    """
    full = sweep[(sweep.method == "random") & (sweep.fraction == 1.0)].set_index(["task", "model"])["flops"]
    out = pd.DataFrame({
        "task": sweep.task, "train_model": sweep.model, "train_params": sweep.params_b * 1e9,
        "method": sweep.method,
    })
    out["selector_model"] = [PAPER_SELECTORS.get(m, ("", 0.0))[0] for m in sweep.method]
    out["selector_params"] = [PAPER_SELECTORS.get(m, ("", 0.0))[1] for m in sweep.method]
    out["fraction"] = sweep.fraction
    out["pool_tokens"] = PAPER_POOL_TOKENS
    out["train_tokens"] = sweep.fraction * PAPER_POOL_TOKENS
    charged = sweep.method.isin(["ppl", "less"])
    train = pd.Series([full[(t, m)] * f for t, m, f in zip(sweep.task, sweep.model, sweep.fraction)], sweep.index)
    out["train_flops"] = train.where(charged, sweep.flops)
    out["selection_flops"] = (sweep.flops - train).where(charged, 0.0)
    out["total_flops"] = sweep.flops
    out["metric"] = sweep.accuracy
    out["n_tasks"] = 1
    out["source"] = f"{PAPER_SOURCE}: {source_name}"
    cols = ["task", "train_model", "train_params", "method", "selector_model", "selector_params", "fraction",
            "pool_tokens", "train_tokens", "selection_flops", "train_flops", "total_flops", "metric", "n_tasks",
            "source"]
    return validate_runs(out[cols])


def paper_runs(variant: str = "sweep") -> pd.DataFrame:
    """The paper's runs in the runs schema.

    variant ``sweep``: the 180 runs of its main figure (2 tasks x 3 sizes x 5 methods x 6 fractions).
    variant ``fitfigure``: the 185 runs of its fit figure (two 7B MMLU points differ, plus 5 two-epoch runs at
    fraction 2.0), the data its published curves were fitted to.
    """
    files = {"sweep": "runs.csv", "fitfigure": "runs_fitfigure.csv"}
    if variant not in files:
        raise InputError(f"unknown variant '{variant}'; known: {', '.join(files)}")
    return validate_runs(pd.read_csv(_data_dir() / files[variant]))


def paper_fit_params() -> pd.DataFrame:
    """The paper's 30 fitted curves as parameters: accuracy = P0 + (Pbar - P0)(1 - exp(-g_per_flop x flops)).

    Columns task, model, method, P0, Pbar, g_per_flop (1/FLOPs), flops_min, flops_max (the plotted range).
    """
    return pd.read_csv(_data_dir() / "source" / "paper_fit_params.csv")


def paper_fit_curves() -> pd.DataFrame:
    """The paper's fitted curves as drawn: 30 polylines of 100 vertices (task, model, method, flops, accuracy_fit)."""
    return pd.read_csv(_data_dir() / "source" / "paper_fit_curves.csv")


def _regenerate() -> None:
    source = _data_dir() / "source"
    for name, out in (("paper_sweep.csv", "runs.csv"), ("paper_sweep_fitfigure.csv", "runs_fitfigure.csv")):
        runs = convert_paper_sweep(pd.read_csv(source / name), name)
        runs.to_csv(_data_dir() / out, index=False, float_format="%.10g")
        print(f"wrote {_data_dir() / out} ({len(runs)} runs)")


if __name__ == "__main__":
    _regenerate()
