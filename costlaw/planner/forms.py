"""Form uncertainty of a plan: the best plan re-scored under each shipped per-panel form, and the default form,
the one with the lowest leave-one-out error (``fits/paper_forms_loo/compare.csv``, written by ``costlaw compare``).

At a measured training size each form has a per-panel fit (``fits/paper_<form>``); the spread says, per form,
which (method, fraction) is best and its predicted metric with interval, and whether every form picks the same
winner. Size models exist for ``offset_exp`` only, so at unmeasured sizes the spread is not available.
"""
from __future__ import annotations

import csv
import math

import numpy as np

from ..errors import InputError
from ..tables import frame, records

PANEL_FORMS = ("offset_exp", "power", "logistic")
"""Forms shipped as per-panel paper fits (``fits/paper_<form>``): the form spread of a plan at measured sizes."""
FORM_LOO = "paper_forms_loo"
"""Shipped folder holding the forms' leave-one-out errors on the paper's runs (``compare.csv``)."""
SPREAD_COLUMNS = ["form", "method", "selector_params", "fraction", "metric_pred", "metric_lo", "metric_hi",
                  "p_best", "loo_rmse", "default"]


def compare_rows(folder: str) -> list[dict]:
    """The rows of a shipped ``costlaw compare`` table (``fits/<folder>/compare.csv``) as records of strings."""
    from .._paths import bundled_dir
    with open(bundled_dir("fits") / folder / "compare.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def protocol_errors(table, protocol: str, forms=PANEL_FORMS) -> dict:
    """{form: held-out RMSE (metric points)} of ``protocol`` from a ``costlaw compare`` table (a DataFrame or
    records), in the table's order (the first row of a form counts)."""
    out = {}
    for r in records(table):
        if r["protocol"] == protocol and r["form"] in forms and r["form"] not in out:
            out[r["form"]] = float(r["heldout_rmse"])
    return out


def loo_errors(table=None, forms=PANEL_FORMS) -> dict:
    """{form: leave-one-out RMSE (metric points)} from a ``costlaw compare`` table (default: the shipped one)."""
    loo = protocol_errors(compare_rows(FORM_LOO) if table is None else table, "loo", forms)
    if not loo:
        raise InputError(f"the comparison table has no leave-one-out rows for the forms {', '.join(forms)}")
    return loo


def form_loo(table=None, forms=PANEL_FORMS):
    """Leave-one-out RMSE (metric points) per form, a Series, from a ``costlaw compare`` table (default: the
    shipped one)."""
    import pandas as pd
    loo = loo_errors(table, forms)
    return pd.Series(list(loo.values()), index=pd.Index(list(loo), name="form"), name="heldout_rmse", dtype=float)


def default_form(table=None, forms=PANEL_FORMS) -> str:
    """The form with the lowest leave-one-out error (the default form of plans at measured sizes)."""
    loo = loo_errors(table, forms)
    return str(min(loo, key=loo.get))


def shipped_form_fits() -> dict:
    """{form: folder} of the shipped per-panel fits of every form in ``PANEL_FORMS``."""
    from .._paths import bundled_dir
    return {name: bundled_dir("fits") / f"paper_{name}" for name in PANEL_FORMS}


def form_spread(problem, budget_flops: float, form_fits: dict, loo=None, problems: dict | None = None):
    """``form_spread_records`` as a DataFrame (imports pandas)."""
    return frame(form_spread_records(problem, budget_flops, form_fits, loo, problems), SPREAD_COLUMNS)


def form_spread_records(problem, budget_flops: float, form_fits: dict, loo=None,
                        problems: dict | None = None) -> list[dict]:
    """The best plan at ``budget_flops`` under each form of ``form_fits`` ({form label: fits folder or loaded
    Bootstraps, per-panel}), with the same task, size, pool, candidates and margin as ``problem``: one record per
    form (``SPREAD_COLUMNS``); ``loo`` (RMSE per form label, a dict or Series) marks the default form (lowest).
    ``problems`` ({label: Problem}) reuses problems already built."""
    from .problem import Problem
    rows = []
    for label, fits in form_fits.items():
        p = (problems or {}).get(label) or Problem(
            problem.train_params, problem.pool_tokens, problem.task, problem.candidates, problem.n_tasks,
            problem.lora, fits, problem.min_fraction, len(problem.grid), problem.margin_given)
        ok = [r for r in p.records(budget_flops, p.solve([budget_flops]), 0) if r["affordable"]]
        best = ok[0] if ok else None
        rows.append({"form": label, "method": None if best is None else best["method"],
                     "selector_params": np.nan if best is None else float(best["selector_params"]),
                     **{c: np.nan if best is None else float(best[c])
                        for c in ("fraction", "metric_pred", "metric_lo", "metric_hi", "p_best")},
                     "loo_rmse": np.nan if loo is None else float(loo.get(label, np.nan)), "default": False})
    known = [i for i, r in enumerate(rows) if not math.isnan(r["loo_rmse"])]
    if known:  # the lowest error (the first of equals), as DataFrame.idxmin
        rows[min(known, key=lambda i: rows[i]["loo_rmse"])]["default"] = True
    return rows


def same_winner(spread) -> bool | None:
    """Whether every form picks the same (method, selector size); None without a spread (records or a
    DataFrame)."""
    rows = [] if spread is None else records(spread)
    methods = [r["method"] for r in rows]
    if not rows or all(m is None or (isinstance(m, float) and math.isnan(m)) for m in methods):
        return None
    labels = {(None if isinstance(m, float) else m, float(r["selector_params"])) for m, r in zip(methods, rows)}
    return len(labels) == 1
