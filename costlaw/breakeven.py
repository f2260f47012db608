"""Break-even quantities: the budget from which a selector beats the cheap ones, and the train-to-selector size
ratio from which it is compute-optimal at all.

Definition (break-even ratio). Fix a panel (task, training model of N_train parameters) and its fitted curves,
each a metric as a function of the trained fraction f of the pool. A selector of N_sel parameters costs
``a x N_sel`` FLOPs (a: FLOPs per selector parameter, linear for PPL and LESS), on top of ``f x C_full`` for
training. Keeping the method's curve in f fixed (selection quality does not depend on the selector's size; the
paper's runs, all with a 7B selector, cannot tell otherwise), the method is *compute-optimal for some budget*
when at some budget B its best plan strictly beats the best plan of every other method at their own costs.
That holds for all selection costs below a threshold C*; the break-even ratio is

    r* = N_train / N_sel*,   N_sel* = C* / a,

the smallest train-to-selector ratio at which the method wins anywhere. ``inf`` means it never wins, even free.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .costs import selection_flops_per_selector_param
from .frontier import CHEAP_METHODS, MethodCurve, budget_grid, method_curves, panel_curves

WIN_MARGIN = 1e-6
"""A method must beat the others by this much (metric units) to count as a win; ties go to the cheaper."""


def _best(curves: list[MethodCurve], budgets: np.ndarray, overrides: dict) -> np.ndarray:
    best = np.full(len(budgets), -np.inf)
    for c in curves:
        m, _ = c.best_at(budgets, overrides.get(c.method))
        best = np.fmax(best, np.where(np.isnan(m), -np.inf, m))
    return best


class _Contest:
    """One method against the others on a fixed budget grid; the others' best is computed once."""

    def __init__(self, curve: MethodCurve, others: list[MethodCurve], n_budgets: int = 800):
        self.curve = curve
        lo = min([curve.fractions[0] * curve.train_flops_full] + [o.total_flops()[0] for o in others])
        self.hi = max(o.total_flops()[-1] for o in others)  # beyond it the others cannot spend more
        self.budgets = np.geomspace(lo, self.hi, n_budgets)
        self.theirs = _best(others, self.budgets, {})

    def wins(self, selection_flops: float) -> bool:
        mine, _ = self.curve.best_at(self.budgets, selection_flops)
        return bool(np.any(np.nan_to_num(mine, nan=-np.inf) > self.theirs + WIN_MARGIN))


def wins(curve: MethodCurve, others: list[MethodCurve], selection_flops: float, n_budgets: int = 800) -> bool:
    """Whether ``curve``, charged ``selection_flops``, strictly beats every curve of ``others`` at some budget
    no larger than the largest budget the others can spend."""
    return _Contest(curve, others, n_budgets).wins(selection_flops)


def breakeven_selection_flops(curve: MethodCurve, others: list[MethodCurve], tol: float = 0.005) -> float:
    """Largest selection cost (FLOPs) at which ``curve`` still wins at some budget: 0 if it never wins.
    Bisection in log10 cost to ``tol`` decades."""
    contest = _Contest(curve, others)
    full = curve.train_flops_full
    lo, hi = 1e-9 * full, 1e3 * full
    if not contest.wins(lo):
        return 0.0
    if contest.wins(hi):
        return hi
    log_lo, log_hi = np.log10(lo), np.log10(hi)
    while log_hi - log_lo > tol:
        mid = 0.5 * (log_lo + log_hi)
        if contest.wins(10 ** mid):
            log_lo = mid
        else:
            log_hi = mid
    return 10 ** log_lo


def breakeven_budget(curve: MethodCurve, baselines: list[MethodCurve], n_budgets: int = 2000) -> float:
    """Smallest budget (FLOPs) at which ``curve`` at its own cost beats every baseline; NaN if none in range."""
    budgets = budget_grid([curve] + baselines, n_budgets)
    budgets = budgets[budgets <= max(b.total_flops()[-1] for b in baselines)]
    mine, _ = curve.best_at(budgets)
    theirs = _best(baselines, budgets, {})
    hit = np.flatnonzero(np.nan_to_num(mine, nan=-np.inf) > theirs + WIN_MARGIN)
    return float(budgets[hit[0]]) if len(hit) else float("nan")


def _curve_medians(runs: pd.DataFrame) -> dict:
    """Median selector_params and pool_tokens per curve (task, train_model, method), grouped once."""
    cols = ["selector_params", "pool_tokens"] if "selector_params" in runs else ["pool_tokens"]
    table = runs.groupby(["task", "train_model", "method"], sort=False)[cols].median()
    return {key: row for key, row in zip(table.index, table.to_dict(orient="records"))}


def _cost_per_selector_param(medians: dict, curve: MethodCurve) -> float:
    row = medians[(curve.task, curve.train_model, curve.method)]
    params = float(row.get("selector_params", 0.0))
    if params > 0 and curve.selection_flops > 0:
        return curve.selection_flops / params
    return selection_flops_per_selector_param(curve.method, float(row["pool_tokens"]))


def breakeven_table(fit, methods=("ppl", "less"), cheap=CHEAP_METHODS, n_grid: int = 600) -> pd.DataFrame:
    """Per panel and method: break-even budget against the cheap methods, break-even selection FLOPs and ratio.

    Columns: task, train_model, method, form, selector_params, actual_ratio, breakeven_budget_flops,
    breakeven_selection_flops, ratio (the break-even N_train / N_sel; inf = never compute-optimal).
    """
    rows = []
    medians = _curve_medians(fit.runs_)
    for (task, model), curves in panel_curves(method_curves(fit, n_grid=n_grid)).items():
        by_name = {c.method: c for c in curves}
        baselines = [c for c in curves if c.method in cheap]
        for method in methods:
            if method not in by_name:
                continue
            curve = by_name[method]
            others = [c for c in curves if c.method != method]
            per_param = _cost_per_selector_param(medians, curve)
            sel_star = breakeven_selection_flops(curve, others)
            n_sel_star = sel_star / per_param
            actual_sel_params = curve.selection_flops / per_param
            rows.append({
                "task": task, "train_model": model, "method": method, "form": fit.form.name,
                "selector_params": actual_sel_params, "actual_ratio": curve.train_params / actual_sel_params,
                "breakeven_budget_flops": breakeven_budget(curve, baselines) if baselines else float("nan"),
                "breakeven_selection_flops": sel_star,
                "ratio": curve.train_params / n_sel_star if n_sel_star > 0 else float("inf"),
            })
    return pd.DataFrame(rows, columns=BREAKEVEN_COLUMNS)  # no rows (no PPL/LESS runs): break-even not applicable


BREAKEVEN_COLUMNS = ["task", "train_model", "method", "form", "selector_params", "actual_ratio",
                     "breakeven_budget_flops", "breakeven_selection_flops", "ratio"]
POOLED_COLUMNS = ["task", "train_model", "method", "form", "ratio", "n_panels", "n_never"]


def pooled_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """One pooled row per (form, method): the median of the per-panel break-even ratios (inf counts as large)."""
    rows = []
    for (form, method), g in table.groupby(["form", "method"], sort=False):
        rows.append({"task": "all", "train_model": "pooled", "method": method, "form": form,
                     "ratio": float(np.median(g.ratio.to_numpy())), "n_panels": len(g),
                     "n_never": int(np.isinf(g.ratio).sum())})
    return pd.DataFrame(rows, columns=POOLED_COLUMNS)
