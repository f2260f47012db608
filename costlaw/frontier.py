"""Pareto sets of runs and compute-optimal frontiers of fitted curves.

Empirical Pareto set: the runs that no other run of the same panel matches or beats at lower or equal compute.
Compute-optimal frontier of a fit: for every budget B (FLOPs), the method m and fraction f maximising the
predicted metric subject to selection_flops(m) + f x train_flops_full <= B.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .schema import PANEL

CHEAP_METHODS = ("random", "bm25", "embed")
"""Selectors whose compute is negligible next to training (the paper's 'cheap' baselines)."""


def pareto_set(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs not dominated within their (task, train_model) panel: no other run has total_flops <= theirs and a
    metric >= theirs with one of the two strict. Returned sorted by panel and compute."""
    keep = []
    for _, g in runs.groupby(PANEL, sort=False):
        flops, metric = g.total_flops.to_numpy(), g.metric.to_numpy()
        better = ((flops[None, :] <= flops[:, None]) & (metric[None, :] >= metric[:, None])
                  & ((flops[None, :] < flops[:, None]) | (metric[None, :] > metric[:, None])))
        keep.append(g[~better.any(axis=1)])
    return pd.concat(keep).sort_values(PANEL + ["total_flops"]).reset_index(drop=True)


@dataclass
class MethodCurve:
    """One method's fitted curve in one panel, on a dense grid of fractions, with its compute offset."""

    task: str
    train_model: str
    train_params: float
    method: str
    selection_flops: float
    train_flops_full: float
    fractions: np.ndarray
    metric: np.ndarray
    """Oriented metric: the predicted metric times ``sign``, so that larger is always better."""
    sign: float = 1.0
    """+1 when a larger metric is better, -1 when smaller is (losses: ``higher_is_better`` False)."""

    def total_flops(self, selection_flops: float | None = None) -> np.ndarray:
        sel = self.selection_flops if selection_flops is None else selection_flops
        return sel + self.fractions * self.train_flops_full

    def best_at(self, budgets_flops: np.ndarray, selection_flops: float | None = None):
        """Best predicted metric and its fraction for each budget (NaN where the budget cannot pay the minimum)."""
        sel = self.selection_flops if selection_flops is None else selection_flops
        affordable = (np.asarray(budgets_flops, float) - sel) / self.train_flops_full
        idx = np.searchsorted(self.fractions, affordable, side="right") - 1
        if getattr(self, "_run_arg_of", None) is not self.metric:  # computed once per metric array
            self._run_arg, self._run_arg_of = _running_argmax(self.metric), self.metric
        run_arg = self._run_arg
        ok = idx >= 0
        pos = run_arg[np.clip(idx, 0, None)]
        return np.where(ok, self.metric[pos], np.nan), np.where(ok, self.fractions[pos], np.nan)


def _running_argmax(values: np.ndarray) -> np.ndarray:
    best = np.maximum.accumulate(values)
    idx = np.arange(len(values))
    return np.maximum.accumulate(np.where(values >= best, idx, 0))


PANEL_BLOCK_VALUES = 1_000_000
"""Most grid points (curves x fractions) of the panels worked on at once (``CurveGrid.panel_blocks``): their
curves, running arguments and frontier arrays take some tens of MB, whatever the number of panels."""
CURVE_BLOCK_VALUES = 250_000
"""``CurveGrid.curves`` evaluates a form on blocks of at most this many grid points (its temporaries, a dozen
arrays of this length, are what memory holds beside the curves)."""


class CurveGrid:
    """The dense fraction grids of every (panel, method) of a runs table, made once and evaluated for any fit of
    the same runs (the point fit and each bootstrap refit) without rebuilding tables.

    Each method is charged its median observed selection_flops in the panel; the fraction grid is log-spaced over
    the panel's observed fractions (or ``fraction_range``), plus the observed fractions.
    """

    def __init__(self, runs: pd.DataFrame, n_grid: int = 1200, fraction_range=None):
        heads, self.fractions, self.meta, self._tokens = [], [], [], []
        # every statistic in one groupby pass (no per-panel masks: linear in runs as panels grow)
        table = runs.assign(_full=runs.train_flops / runs.fraction,
                            _pool=runs.pool_tokens if "pool_tokens" in runs else np.nan)
        table["_tokens"] = table.train_tokens / table.fraction if "train_tokens" in runs else table._pool
        by_panel = table.groupby(PANEL, sort=False)
        panel_stats = by_panel.agg(lo=("fraction", "min"), hi=("fraction", "max"), full=("_full", "median"))
        panel_fractions = by_panel.fraction.unique()
        curves = table.groupby(PANEL + ["method"], sort=False).agg(
            sel=("selection_flops", "median"), params=("train_params", "first"),
            sel_params=("selector_params", "median"), pool=("_pool", "median"), tokens=("_tokens", "median"))
        rank = {key: i for i, key in enumerate(panel_stats.index)}
        keys = list(curves.index)
        order = sorted(range(len(keys)), key=lambda i: rank[keys[i][:2]])   # methods within panels, as they come
        lo_, hi_, full_ = (panel_stats[c].to_numpy(float) for c in ("lo", "hi", "full"))
        sel_, params_, sel_params_, pool_, tokens_ = (curves[c].to_numpy(float) for c in
                                                      ("sel", "params", "sel_params", "pool", "tokens"))
        grids = {}
        for i in order:
            task, model, method = keys[i]
            p = rank[(task, model)]
            if p not in grids:
                lo, hi = fraction_range or (lo_[p], hi_[p])
                grids[p] = np.unique(np.concatenate([np.geomspace(lo, hi, n_grid), panel_fractions.iloc[p]]))
            full, sel, params = float(full_[p]), float(sel_[i]), float(params_[i])
            heads.append({"task": task, "train_model": model, "method": method, "train_params": params,
                          "selector_params": float(sel_params_[i]), "fraction": 1.0,
                          "train_flops": full, "selection_flops": sel, "total_flops": sel + full})
            self.fractions.append(grids[p])
            self.meta.append((task, model, params, method, sel, full))
            self._tokens.append((float(pool_[i]), float(tokens_[i])))
        from .fitting import context
        from .schema import higher_is_better
        self.heads = context(pd.DataFrame(heads))
        better = higher_is_better(runs)
        self.signs = np.array([1.0 if better.get(m[0], True) else -1.0 for m in self.meta])
        counts = [len(f) for f in self.fractions]
        self._repeat = np.array(counts, int)
        self._ends = np.cumsum(counts)[:-1]
        # per curve; the per-point columns are made for a block of curves at a time (``block_columns``), so that
        # memory does not hold every point's columns at once (30,000 curves x 1,200 points at 180,000 runs)
        self._full = np.array([m[5] for m in self.meta], float)
        self._sel = np.array([m[4] for m in self.meta], float)
        self._pool = np.array([t[0] for t in self._tokens], float)
        self._tok = np.array([t[1] for t in self._tokens], float)

    @property
    def columns(self) -> SimpleNamespace:
        """Every grid point's columns (``block_columns`` of all curves)."""
        return self.block_columns(slice(0, len(self.meta)))

    def block_columns(self, curves: slice) -> SimpleNamespace:
        """Columns of the grid points of the curves ``curves`` (a slice of ``meta``): fraction, train_flops_full,
        train_flops, selection_flops, total_flops (FLOPs), pool_tokens, train_tokens (tokens)."""
        rep = self._repeat[curves]
        fraction = np.concatenate(self.fractions[curves]) if len(rep) else np.array([])
        full, sel = np.repeat(self._full[curves], rep), np.repeat(self._sel[curves], rep)
        pool, tokens = np.repeat(self._pool[curves], rep), np.repeat(self._tok[curves], rep)
        return SimpleNamespace(fraction=fraction, train_flops_full=full, train_flops=fraction * full,
                               selection_flops=sel, total_flops=sel + fraction * full, pool_tokens=pool,
                               train_tokens=fraction * tokens)

    def blocks(self, max_values: int = 2_000_000, curves: slice | None = None) -> list[slice]:
        """Consecutive curves (of ``curves``, default all) in slices holding at most ``max_values`` grid points
        (at least one curve each)."""
        first, stop = (0, len(self._repeat)) if curves is None else curves.indices(len(self._repeat))[:2]
        out, start, size = [], first, 0
        for i in range(first, stop):
            n = self._repeat[i]
            if size and size + n > max_values:
                out.append(slice(start, i))
                start, size = i, 0
            size += n
        if stop > first:
            out.append(slice(start, stop))
        return out

    def panel_blocks(self, max_values: int | None = None) -> list[slice]:
        """Consecutive curves in slices of whole panels holding at most ``max_values`` grid points (default
        ``PANEL_BLOCK_VALUES``; at least one panel each): work panel by panel (frontiers, break-even) on a block at
        a time, so that memory holds one block's curves however many panels there are."""
        max_values = PANEL_BLOCK_VALUES if max_values is None else max_values
        out, start, size = [], 0, 0
        for i, n in enumerate(self._repeat):
            new_panel = i == 0 or self.meta[i][:2] != self.meta[i - 1][:2]
            if new_panel and size + n > max_values and i > start:
                out.append(slice(start, i))
                start, size = i, 0
            size += n
        if len(self._repeat):
            out.append(slice(start, len(self._repeat)))
        return out

    def metric_arrays(self, fit, values: np.ndarray, curves: slice | None = None) -> list:
        """Oriented metric of every curve (or of the curves ``curves``, a slice of ``meta``) for every entry vector
        of ``values`` (R x n_entries, e.g. ``Bootstrap.values``) in one gather: a list (one per curve, in ``meta``
        order) of arrays (R x grid size)."""
        if not self.meta:
            return []
        values = np.atleast_2d(np.asarray(values, float))
        whole = curves is None or (curves.start in (None, 0) and curves.stop in (None, len(self.meta)))
        if whole:
            heads, repeat, signs, ends = self.heads, self._repeat, self.signs, self._ends
            columns = self.columns
        else:
            heads, repeat, signs = self.heads.iloc[curves], self._repeat[curves], self.signs[curves]
            columns = self.block_columns(curves)
            ends = np.cumsum(repeat)[:-1]
        params = {name: np.repeat(v, repeat, axis=-1) for name, v in fit.param_values(heads, values).items()}
        metric = fit.form(columns, **params) * np.repeat(signs, repeat)
        metric = np.broadcast_to(metric, (len(values), len(columns.fraction)))
        return np.split(metric, ends, axis=1)

    def curves(self, fit, curves: slice | None = None) -> list:
        """MethodCurves of ``fit`` on these grids (a CurveFit of the same panels and methods); ``curves``: only
        those of this slice of ``meta`` (e.g. a ``panel_blocks`` block; the same values as from all)."""
        if not self.meta:
            return []
        curves = slice(0, len(self.meta)) if curves is None else slice(*curves.indices(len(self.meta))[:2])
        parts = []
        for block in self.blocks(CURVE_BLOCK_VALUES, curves):   # bounded temporaries: a block at a time
            repeat = self._repeat[block]
            heads = self.heads if block == slice(0, len(self.meta)) else self.heads.iloc[block]
            params = {name: np.repeat(v, repeat) for name, v in fit.param_values(heads).items()}
            parts.append(fit.form(self.block_columns(block), **params) * np.repeat(self.signs[block], repeat))
        metric = np.concatenate(parts) if parts else np.empty(0)
        ends = np.cumsum(self._repeat[curves])[:-1]
        return [MethodCurve(task, model, n, method, sel, full, fractions, values, sign) for
                (task, model, n, method, sel, full), fractions, values, sign in
                zip(self.meta[curves], self.fractions[curves], np.split(metric, ends), self.signs[curves])]

    def shapes(self) -> list:
        """Every curve's MethodCurve without a metric (``metric`` None): its fractions and costs only, for work
        that supplies the metric itself (bootstrap refits, ``breakeven.ContestBatch``)."""
        return [MethodCurve(task, model, n, method, sel, full, fractions, None, sign) for
                (task, model, n, method, sel, full), fractions, sign in zip(self.meta, self.fractions, self.signs)]


def method_curves(fit, runs: pd.DataFrame | None = None, n_grid: int = 1200, fraction_range=None,
                  grid: CurveGrid | None = None) -> list[MethodCurve]:
    """Dense curves of every (panel, method) in ``runs`` (default: the fitted runs) from a ``CurveFit``
    (see ``CurveGrid``; pass ``grid`` to reuse one across refits)."""
    grid = grid or CurveGrid(fit.runs_ if runs is None else runs, n_grid, fraction_range)
    return grid.curves(fit)


def budget_grid(curves: list[MethodCurve], n: int = 400) -> np.ndarray:
    """Log-spaced budgets (FLOPs) from the cheapest to the most expensive point of the curves."""
    lo = min(c.total_flops()[0] for c in curves)
    hi = max(c.total_flops()[-1] for c in curves)
    return np.geomspace(lo, hi, n)


def frontier(curves: list[MethodCurve], budgets_flops: np.ndarray | None = None,
             selection_flops: dict | None = None) -> pd.DataFrame:
    """Compute-optimal frontier of one panel's curves: budget_flops, best_method, best_fraction, metric_pred,
    runner_up and lead (how much better the best method's plan is than the runner-up's, metric units; inf where
    only one method can afford the budget).

    ``selection_flops`` overrides a method's selection cost (FLOPs), e.g. to amortise it or try a smaller
    selector. Budgets no method can afford are left out.
    """
    return pd.DataFrame(frontier_columns(curves, budgets_flops, selection_flops))


def frontier_columns(curves: list[MethodCurve], budgets_flops: np.ndarray | None = None,
                     selection_flops: dict | None = None) -> dict:
    """``frontier``'s table as a dict of columns (arrays; task and train_model scalars), to concatenate many
    panels without a DataFrame each."""
    selection_flops = selection_flops or {}
    # ties (e.g. every method at the full pool) go to the cheaper selector
    curves = sorted(curves, key=lambda c: selection_flops.get(c.method, c.selection_flops))
    budgets = budget_grid(curves) if budgets_flops is None else np.asarray(budgets_flops, float)
    metric = np.full((len(curves), len(budgets)), -np.inf)
    frac = np.full((len(curves), len(budgets)), np.nan)
    for i, c in enumerate(curves):
        m, f = c.best_at(budgets, selection_flops.get(c.method))
        metric[i] = np.where(np.isnan(m), -np.inf, m)
        frac[i] = f
    best = np.argmax(metric, axis=0)
    cols = np.arange(len(budgets))
    ok = np.isfinite(metric[best, cols])
    others = metric.copy()
    others[best, cols] = -np.inf
    second = np.argmax(others, axis=0) if len(curves) > 1 else best
    with np.errstate(invalid="ignore"):
        lead = metric[best, cols] - others[second, cols] if len(curves) > 1 else np.full(len(budgets), np.inf)
    names = np.array([c.method for c in curves], dtype=object)
    return {
        "task": curves[0].task, "train_model": curves[0].train_model, "budget_flops": budgets[ok],
        "best_method": names[best[ok]], "best_fraction": frac[best, cols][ok],
        "metric_pred": metric[best, cols][ok] * curves[0].sign,
        "runner_up": np.where(np.isfinite(others[second, cols]), names[second], None)[ok],
        "lead": lead[ok],
    }


def panel_curves(curves: list[MethodCurve]) -> dict:
    """Group MethodCurves by (task, train_model)."""
    out: dict = {}
    for c in curves:
        out.setdefault((c.task, c.train_model), []).append(c)
    return out


def loglinear_front(runs: pd.DataFrame, methods=CHEAP_METHODS, level: float = 0.9) -> pd.DataFrame:
    """The paper's dashed "Pareto front": per panel, an OLS line of the best of ``methods`` at each fraction
    against log10(total_flops) (ordinary least squares), with its slope's t confidence interval.

    Columns task, train_model, intercept, slope_per_decade, slope_lo, slope_hi, r2, x0, y0, x1, y1 (the line's
    ends at the smallest and largest compute); panels with fewer than 3 fractions are left out. Not a frontier in
    the Pareto sense; kept to compare with the paper.
    """
    from scipy.special import stdtrit  # Student t quantile (scipy.stats would cost ~0.4 s of import here)

    rows = []
    cheap = runs[runs.method.isin(methods)]
    # the best cheap run per (panel, fraction), in one groupby; then each panel's points as arrays
    best_all = cheap.loc[cheap.groupby(PANEL + ["fraction"], sort=True).metric.idxmax()]
    where = best_all.groupby(PANEL, sort=False).indices
    flops, metric = best_all.total_flops.to_numpy(float), best_all.metric.to_numpy(float)
    for task, model in runs[PANEL].drop_duplicates().itertuples(index=False, name=None):
        at = where.get((task, model), np.empty(0, np.intp))
        if len(at) < 3:  # a line through fewer than 3 points has no confidence interval
            continue
        x = np.log10(flops[at])
        if np.ptp(x) == 0:  # no spread in compute: no line
            continue
        y = metric[at]
        (slope, intercept), cov = np.polyfit(x, y, 1, cov=True)   # OLS; cov scaled by RSS / (n - 2)
        slope, intercept = float(slope), float(intercept)
        half = float(stdtrit(len(x) - 2, 0.5 + level / 2)) * float(np.sqrt(cov[0, 0]))
        ends = np.array([x.min(), x.max()])
        line = intercept + slope * ends
        rows.append({"task": task, "train_model": model, "intercept": intercept, "slope_per_decade": slope,
                     "slope_lo": slope - half, "slope_hi": slope + half,
                     "r2": float(np.corrcoef(x, y)[0, 1]) ** 2 if np.ptp(y) else 0.0,
                     "x0": 10 ** ends[0], "y0": line[0], "x1": 10 ** ends[1], "y1": line[1]})
    return pd.DataFrame(rows, columns=["task", "train_model", "intercept", "slope_per_decade", "slope_lo", "slope_hi",
                                       "r2", "x0", "y0", "x1", "y1"])
