"""Form uncertainty of a plan: the best plan re-scored under each shipped per-panel form, and the default form,
the one with the lowest leave-one-out error (``fits/paper_forms_loo/compare.csv``, written by ``costlaw compare``).

At a measured training size each form has a per-panel fit (``fits/paper_<form>``); the spread says, per form,
which (method, fraction) is best and its predicted metric with interval, and whether every form picks the same
winner. Size models exist for ``offset_exp`` only, so at unmeasured sizes the spread is not available.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError

PANEL_FORMS = ("offset_exp", "power", "logistic")
"""Forms shipped as per-panel paper fits (``fits/paper_<form>``): the form spread of a plan at measured sizes."""
FORM_LOO = "paper_forms_loo"
"""Shipped folder holding the forms' leave-one-out errors on the paper's runs (``compare.csv``)."""
SPREAD_COLUMNS = ["form", "method", "selector_params", "fraction", "metric_pred", "metric_lo", "metric_hi",
                  "p_best", "loo_rmse", "default"]


def form_loo(table: pd.DataFrame | None = None, forms=PANEL_FORMS) -> pd.Series:
    """Leave-one-out RMSE (metric points) per form, from a ``costlaw compare`` table (default: the shipped one)."""
    if table is None:
        from .._paths import bundled_dir
        table = pd.read_csv(bundled_dir("fits") / FORM_LOO / "compare.csv")
    loo = table[(table.protocol == "loo") & table.form.isin(forms)].set_index("form").heldout_rmse
    if loo.empty:
        raise InputError(f"the comparison table has no leave-one-out rows for the forms {', '.join(forms)}")
    return loo.astype(float)


def default_form(table: pd.DataFrame | None = None, forms=PANEL_FORMS) -> str:
    """The form with the lowest leave-one-out error (the default form of plans at measured sizes)."""
    return str(form_loo(table, forms).idxmin())


def shipped_form_fits() -> dict:
    """{form: folder} of the shipped per-panel fits of every form in ``PANEL_FORMS``."""
    from .._paths import bundled_dir
    return {name: bundled_dir("fits") / f"paper_{name}" for name in PANEL_FORMS}


def form_spread(problem, budget_flops: float, form_fits: dict, loo: pd.Series | None = None,
                problems: dict | None = None) -> pd.DataFrame:
    """The best plan at ``budget_flops`` under each form of ``form_fits`` ({form label: fits folder or loaded
    Bootstraps, per-panel}), with the same task, size, pool, candidates and margin as ``problem``: one row per
    form (``SPREAD_COLUMNS``); ``loo`` (RMSE per form label) marks the default form (lowest). ``problems``
    ({label: Problem}) reuses problems already built."""
    from .problem import Problem
    rows = []
    for label, fits in form_fits.items():
        p = (problems or {}).get(label) or Problem(
            problem.train_params, problem.pool_tokens, problem.task, problem.candidates, problem.n_tasks,
            problem.lora, fits, problem.min_fraction, len(problem.grid), problem.margin_given)
        table = p.rows(budget_flops, p.solve([budget_flops]), 0)
        ok = table[table.affordable]
        best = ok.iloc[0] if len(ok) else None
        rows.append({"form": label, "method": None if best is None else best.method,
                     "selector_params": np.nan if best is None else best.selector_params,
                     **{c: np.nan if best is None else float(best[c])
                        for c in ("fraction", "metric_pred", "metric_lo", "metric_hi", "p_best")},
                     "loo_rmse": np.nan if loo is None else float(loo.get(label, np.nan))})
    out = pd.DataFrame(rows, columns=SPREAD_COLUMNS[:-1])
    out["default"] = False
    if out.loo_rmse.notna().any():
        out.loc[out.loo_rmse.idxmin(), "default"] = True
    return out


def same_winner(spread: pd.DataFrame | None) -> bool | None:
    """Whether every form picks the same (method, selector size); None without a spread."""
    if spread is None or spread.empty or spread.method.isna().all():
        return None
    labels = {(m, float(s)) for m, s in zip(spread.method, spread.selector_params)}
    return len(labels) == 1
