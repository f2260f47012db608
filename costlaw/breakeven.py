"""Break-even quantities, four ways: when does a costly selector (PPL, LESS) pay for itself?

Every "wins" below means *wins by more than a margin* m (metric points; per panel, by default one run-to-run
noise sd, see ``costlaw.noise``). The **lead** of a method in a panel, charged selection cost C, is the largest
amount by which its best plan beats the best plan of every other method at the same budget, over the budgets up
to the largest one any other method can spend (metric points; the plans are read off the fitted curves, each
method at its own costs). A method wins when its lead exceeds m. The break-even ratios (train-to-selector
parameter ratio r = N_train / N_sel; a selector of N_sel parameters costs C0 + a N_sel FLOPs) are:

(a) ``shrink``: selector shrunk within a panel (today's definition, with the margin). Keep the method's curve in
    the trained fraction and vary its selector's size: r*_a = N_train a / (C* - C0), C* the largest selection
    cost at which the lead still exceeds m. ``inf``: it never wins, even free. Pooled: the median over panels
    in log ratio (``log_median``).
(b) ``size``: the paper's setting. The selector stays at its measured size and the trained model grows; at each
    measured size the lead at the actual selection cost minus m is read off, and r*_b is where it crosses 0,
    interpolated linearly in log r between measured sizes (``extrapolated`` when beyond them). Per task and
    pooled (the mean over tasks of lead - m at each size).
(c) ``pooled_mean``: a pooled, finite-where-possible summary: the smallest r at which the mean over panels of
    (lead(r) - m) is positive, with leads clipped to +-(the panel's metric span) so that one panel where the
    method cannot afford to compete (lead -inf) or is alone (lead +inf) does not decide it.
(d) ``pareto``: model-free: the smallest r at which some run of the method, its selection cost rescaled to a
    selector of N_train / r, is on the empirical Pareto set of the panel's runs by more than m (no run of another
    method at equal or lower total compute comes within m of it), at a compute no larger than the dearest run of
    the other methods (as in (a), the budgets the others can spend). Its noise sensitivity is reported by jittering
    every run with the panel's noise (``pareto_breakeven``).

(a)-(c) get bootstrap intervals from refits of the curves (``breakeven_intervals``); (d) needs no fit.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from . import costs
from .bands import (STABLE_SE_LOG10, cdf_sd_from_parts, interval_with_mc, percentile_interval, recombine,
                    recombined_cdf_parts, recombined_cdf_sd)
from .checks import check_int
from .frontier import CHEAP_METHODS, CurveGrid, MethodCurve, budget_grid, panel_curves
from .schema import higher_is_better
from .noise import margin_lookup, margins as make_margins, panel_noise, verdict

DEFINITIONS = {
    "shrink": "(a) selector shrunk within a panel, trained model fixed",
    "size": "(b) selector fixed, trained model grown (interpolated in log size between measured sizes)",
    "pooled_mean": "(c) mean lead over panels reaches the margin",
    "pareto": "(d) some run on the empirical Pareto set (model-free)",
}
"""The four break-even definitions, in the order printed."""
TIE = 1e-6
"""Leads below this (metric units) are ties even with a zero margin; ties go to the cheaper selector."""
BREAKEVEN_METHODS = ("ppl", "less")


def _best(curves: list[MethodCurve], budgets: np.ndarray) -> np.ndarray:
    best = np.full(len(budgets), -np.inf)
    for c in curves:
        m, _ = c.best_at(budgets)
        best = np.fmax(best, np.where(np.isnan(m), -np.inf, m))
    return best


class Contest:
    """One method against the others in a panel on a fixed budget grid; the others' best is computed once.

    ``lead(selection_flops)`` is vectorised over selection costs (FLOPs).
    """

    def __init__(self, curve: MethodCurve, others: list[MethodCurve], n_budgets: int = 400):
        self.curve = curve
        lo = min([curve.fractions[0] * curve.train_flops_full] + [o.total_flops()[0] for o in others])
        self.hi = max(o.total_flops()[-1] for o in others)  # beyond it the others cannot spend more
        self.budgets = np.geomspace(lo, self.hi, n_budgets)
        self.theirs = _best(others, self.budgets)
        self._run_max = np.maximum.accumulate(curve.metric)

    def lead(self, selection_flops) -> np.ndarray:
        """Largest (mine - theirs) over the budgets, metric units, for each selection cost; -inf when the method
        cannot afford any budget in range; +inf when it can afford a budget no other method can."""
        sel = np.atleast_1d(np.asarray(selection_flops, float))
        affordable = (self.budgets[None, :] - sel[:, None]) / self.curve.train_flops_full
        idx = np.searchsorted(self.curve.fractions, affordable, side="right") - 1
        mine = np.where(idx >= 0, self._run_max[np.clip(idx, 0, None)], -np.inf)
        with np.errstate(invalid="ignore"):
            diff = np.where(np.isfinite(mine), mine - self.theirs[None, :], -np.inf)
        return np.max(diff, axis=1)

    def wins(self, selection_flops: float, margin: float = 0.0) -> bool:
        return bool(self.lead(selection_flops)[0] > margin + TIE)

    def threshold(self, margin: float = 0.0, tol: float = 0.005) -> float:
        """Largest selection cost (FLOPs) at which the lead exceeds ``margin``: 0 if never; the cost on a
        0.2-decade scan bisected in log10 cost to ``tol`` decades (see ``bisect_cost``)."""
        room = largest_winning_cost(self.curve, self._run_max[None, :], self.budgets, self.theirs[None, :], margin)
        return float(bisect_cost(room, self.curve.train_flops_full, tol)[0])


def largest_winning_cost(curve: MethodCurve, run_max: np.ndarray, budgets: np.ndarray, theirs: np.ndarray,
                         margin: float) -> np.ndarray:
    """Per refit (rows of ``run_max``, the running best of the method's oriented metric on ``curve.fractions``,
    and of ``theirs``, the others' best on ``budgets``), the largest selection cost (FLOPs) at which the lead
    exceeds ``margin``, in closed form: at budget b the method wins from the first fraction whose running best
    beats the others by the margin, so it wins at cost s exactly when s <= b - that fraction's training FLOPs
    for some b (-inf: never, not even at cost 0)."""
    frac_flops = np.append(curve.fractions * curve.train_flops_full, np.inf)
    room = np.empty(len(run_max))
    for r, (mine, other) in enumerate(zip(run_max, theirs)):
        with np.errstate(invalid="ignore"):
            first = np.searchsorted(mine, other + margin + TIE, side="right")   # mine is non-decreasing
        room[r] = np.max(budgets - frac_flops[first])
    return room


def bisect_cost(room: np.ndarray, train_flops_full: float, tol: float = 0.005) -> np.ndarray:
    """The break-even selection cost (FLOPs) reported for each largest winning cost ``room`` (R,): scanned from
    1e-9 to 1e3 times ``train_flops_full`` in 0.2-decade steps, the last winning step bisected to ``tol``
    decades (from below); 0 when it never wins, the scan's top when it wins there. All refits step at once."""
    grid = np.linspace(np.log10(1e-9 * train_flops_full), np.log10(1e3 * train_flops_full), 61)
    ok = 10 ** grid[None, :] <= room[:, None]                                          # R x 61, non-increasing
    first, last = ok[:, 0], ok[:, -1]
    i = np.clip(np.argmin(ok, axis=1) - 1, 0, len(grid) - 2)
    lo, hi = grid[i], grid[i + 1]
    todo = first & ~last
    while np.any(todo & (hi - lo > tol)):
        step = todo & (hi - lo > tol)
        mid = 0.5 * (lo + hi)
        w = 10 ** mid <= room
        lo, hi = np.where(step & w, mid, lo), np.where(step & ~w, mid, hi)
    return np.where(~first, 0.0, np.where(last, 10 ** grid[-1], 10 ** lo))


def wins(curve: MethodCurve, others: list[MethodCurve], selection_flops: float, margin: float = 0.0,
         n_budgets: int = 400) -> bool:
    """Whether ``curve``, charged ``selection_flops``, beats every curve of ``others`` by more than ``margin``
    (metric units) at some budget no larger than the largest budget the others can spend."""
    return Contest(curve, others, n_budgets).wins(selection_flops, margin)


def breakeven_selection_flops(curve: MethodCurve, others: list[MethodCurve], margin: float = 0.0,
                              tol: float = 0.005) -> float:
    """Largest selection cost (FLOPs) at which ``curve`` still wins by more than ``margin``: 0 if it never does."""
    return Contest(curve, others).threshold(margin, tol)


def breakeven_budget(curve: MethodCurve, baselines: list[MethodCurve], margin: float = 0.0,
                     n_budgets: int = 2000) -> float:
    """Smallest budget (FLOPs) at which ``curve`` at its own cost beats every baseline by more than ``margin``;
    NaN if none in range."""
    budgets = budget_grid([curve] + baselines, n_budgets)
    budgets = budgets[budgets <= max(b.total_flops()[-1] for b in baselines)]
    mine, _ = curve.best_at(budgets)
    theirs = _best(baselines, budgets)
    hit = np.flatnonzero(np.nan_to_num(mine, nan=-np.inf) > theirs + margin + TIE)
    return float(budgets[hit[0]]) if len(hit) else float("nan")


def selector_cost_lines(runs: pd.DataFrame, methods=None) -> dict:
    """{(task, train_model, method): (C0, a, N_sel)} of every panel and method of ``runs`` (only ``methods`` when
    given), from one groupby of medians: the method's selection cost in the panel as a fixed part C0 (FLOPs, e.g.
    LESS's random projection, which does not grow with the selector) plus a FLOPs per selector parameter, and
    the measured selector size N_sel (parameters)."""
    sub = runs if methods is None else runs[runs.method.isin(list(methods))]
    has_sel = "selector_params" in runs
    stats = sub.groupby(["task", "train_model", "method"], sort=False).agg(
        pool=("pool_tokens", "median"), sel=("selection_flops", "median"),
        **({"n_sel": ("selector_params", "median")} if has_sel else {}))
    n_sel = stats.n_sel.to_numpy(float) if has_sel else np.zeros(len(stats))
    return {key: _cost_line_values(key[2], float(pool), float(sel), float(n)) for key, pool, sel, n in
            zip(stats.index, stats.pool.to_numpy(float), stats.sel.to_numpy(float), n_sel)}


def panel_spans(runs: pd.DataFrame) -> dict:
    """{(task, train_model): the panel's metric range (max - min; 1.0 when flat)}, in one pass over the runs."""
    metric = runs.groupby(["task", "train_model"], sort=False).metric
    return {key: float(span) or 1.0 for key, span in (metric.max() - metric.min()).items()}


def _cost_line_values(method: str, pool: float, sel: float, n_sel: float) -> tuple[float, float, float]:
    known = method in costs.SELECTOR_COSTS  # arms such as 'ppl@s1' have no cost model: all cost scales
    c0 = costs.selection_flops_fixed(method, pool) if known else 0.0
    if n_sel > 0 and sel > c0:
        return c0, (sel - c0) / n_sel, n_sel
    if not known:
        return 0.0, sel / n_sel if n_sel > 0 else 1.0, n_sel
    a = costs.selection_flops_per_selector_param(method, pool)
    if a <= 0:                     # no selector model (random): no cost grows with a selector, no ratio
        return c0, 0.0, n_sel
    return c0, a, n_sel if n_sel > 0 else (sel - c0) / a


def _ratio(train_params: float, c0: float, a: float, sel_star: float) -> float:
    if a <= 0:
        return float("nan")        # no selector whose size could shrink
    return train_params * a / (sel_star - c0) if sel_star > c0 else float("inf")


# ---- (a), (b), (c): from fitted curves ---------------------------------------------------------------------
RATIO_GRID = np.geomspace(1e-2, 1e4, 121)
"""Train-to-selector ratios on which pooled leads are evaluated (definition c); interpolated in log r between."""


def _panel_contests(fitted, methods, n_grid, grid=None):
    """(task, model, method, curve, others, span) per contest, made a block of panels at a time
    (``CurveGrid.panel_blocks``): memory holds one block's curves, however many panels there are."""
    spans = panel_spans(fitted.runs_)
    grid = grid or CurveGrid(fitted.runs_, n_grid)    # as method_curves makes it
    for block in grid.panel_blocks():
        for (task, model), curves in panel_curves(grid.curves(fitted, block)).items():
            span = spans[(task, model)]
            by_name = {c.method: c for c in curves}
            for method in methods:
                if method in by_name and len(curves) > 1:
                    others = [c for c in curves if c.method != method]
                    yield task, model, method, by_name[method], others, span


def _crossing(log_r: np.ndarray, d: np.ndarray) -> tuple[float, bool]:
    """Smallest r above which the piecewise-linear d(log r) stays > 0, linear beyond the ends: (r, extrapolated).
    inf when d ends <= 0 and does not rise; 0 when d > 0 at every ratio down to 0 (``crossing_rows`` of one row;
    extrapolated unless d ends > 0 after a point <= 0)."""
    d = np.asarray(d, float)
    y = d[np.argsort(log_r)]
    return float(crossing_rows(log_r, d[None, :])[0]), bool(y[-1] <= 0 or not (y <= 0).any())


BREAKEVEN_COLUMNS = ["definition", "task", "train_model", "method", "form", "ratio", "extrapolated", "margin",
                     "lead_actual", "lead_free", "train_params", "selector_params", "actual_ratio",
                     "breakeven_selection_flops", "breakeven_budget_flops", "n_panels", "n_never", "metric_span"]
"""Columns of ``breakeven_table`` (also when it has no rows)."""


def breakeven_table(fitted, methods=BREAKEVEN_METHODS, cheap=CHEAP_METHODS, margin: float | None = None,
                    margin_table: pd.DataFrame | None = None, n_grid: int = 600,
                    grid: CurveGrid | None = None) -> pd.DataFrame:
    """Break-even ratios by definitions (a) shrink, (b) size and (c) pooled_mean from one fit.

    ``margin``: metric points (None: the noise-tied default); ``margin_table``: a precomputed
    ``noise.margins`` table (used by the bootstrap so that every refit is held to the point fit's margins);
    ``grid``: a ``frontier.CurveGrid`` of the point fit's runs, reused across refits.
    Columns: definition, task, train_model, method, form, ratio, extrapolated, margin, lead_actual (the lead at
    the measured selector, metric points), lead_free, train_params, selector_params, actual_ratio,
    breakeven_selection_flops, breakeven_budget_flops, n_panels, n_never. Pooled rows have task ``all``.
    """
    if margin_table is None:
        margin_table = make_margins(panel_noise(fitted), margin)
    m_of = margin_lookup(margin_table)
    cost_lines = {} if grid is None else grid.__dict__.setdefault("cost_lines", {})
    rows, lead_curves = [], []
    for task, model, method, curve, others, span in _panel_contests(fitted, methods, n_grid, grid):
        contest = Contest(curve, others)
        m = m_of[(task, model)]
        if (task, model, method) not in cost_lines:
            cost_lines.update(selector_cost_lines(fitted.runs_, methods))
        c0, a, n_sel = cost_lines[(task, model, method)]
        sel_star = contest.threshold(m)
        ratio = _ratio(curve.train_params, c0, a, sel_star)
        lead_actual, lead_free = contest.lead([curve.selection_flops, 0.0])
        baselines = [c for c in others if c.method in cheap]
        rows.append({"definition": "shrink", "task": task, "train_model": model, "method": method,
                     "form": fitted.form.name, "ratio": ratio, "extrapolated": False, "margin": m,
                     "lead_actual": lead_actual, "lead_free": lead_free, "train_params": curve.train_params,
                     "selector_params": n_sel, "actual_ratio": curve.train_params / n_sel if n_sel else np.inf,
                     "breakeven_selection_flops": sel_star,
                     "breakeven_budget_flops": breakeven_budget(curve, baselines, m) if baselines else np.nan,
                     "n_panels": 1, "n_never": int(np.isinf(ratio)), "metric_span": span})
        sel_grid = c0 + a * curve.train_params / RATIO_GRID
        lead_curves.append((method, np.clip(contest.lead(sel_grid) - m, -span, span)))
    table = pd.DataFrame(rows)
    if table.empty:  # no PPL/LESS curves: break-even does not apply; same columns, no rows
        return pd.DataFrame(columns=BREAKEVEN_COLUMNS)
    out = [table]
    form = fitted.form.name
    for method, g in table.groupby("method", sort=False):
        # (a) pooled: the median over panels (in log ratio: an even count averages the middle two geometrically)
        out.append(pd.DataFrame([{"definition": "shrink", "task": "all", "train_model": "pooled", "method": method,
                                  "form": form, "ratio": log_median(g.ratio), "extrapolated": False,
                                  "n_panels": len(g), "n_never": int(np.isinf(g.ratio).sum())}]))
        # (b) per task and pooled over tasks
        size_rows = []
        clipped = g.assign(d=np.clip(g.lead_actual - g.margin, -g.metric_span, g.metric_span))
        for task, h in clipped.groupby("task", sort=False):
            if h.train_params.nunique() < 2:
                continue
            r, extra = _crossing(np.log10(h.actual_ratio.to_numpy()), h.d.to_numpy())
            size_rows.append({"definition": "size", "task": task, "train_model": "all sizes", "method": method,
                              "form": form, "ratio": r, "extrapolated": extra, "n_panels": len(h),
                              "n_never": int(np.isinf(r))})
        by_size = clipped.groupby("train_params").agg(d=("d", "mean"), actual_ratio=("actual_ratio", "mean"),
                                                     n=("d", "size"))
        if len(by_size) >= 2:
            r, extra = _crossing(np.log10(by_size.actual_ratio.to_numpy()), by_size.d.to_numpy())
            size_rows.append({"definition": "size", "task": "all", "train_model": "pooled", "method": method,
                              "form": form, "ratio": r, "extrapolated": extra, "n_panels": int(by_size.n.sum()),
                              "n_never": int(np.isinf(r))})
        out.append(pd.DataFrame(size_rows))
        # (c) mean lead over panels
        mean = np.mean([d for mm, d in lead_curves if mm == method], axis=0)
        r = float(grid_crossing_rows(mean[None, :])[0])
        out.append(pd.DataFrame([{"definition": "pooled_mean", "task": "all", "train_model": "pooled",
                                  "method": method, "form": form, "ratio": r, "extrapolated": False,
                                  "n_panels": len(g), "n_never": int(np.isinf(r))}]))
    return pd.concat([o for o in out if not o.empty], ignore_index=True)


def log_median(ratios) -> float:
    """Median of positive ratios in log space (inf counts as the largest; 0 as the smallest): an even count
    takes the geometric mean of the middle two (``log_median_rows`` of one row)."""
    return float(log_median_rows(np.asarray(ratios, float).reshape(1, -1))[0])


def pooled_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """The pooled rows of ``breakeven_table`` (every definition)."""
    return table[table.task == "all"].reset_index(drop=True)


# ---- (a)-(c) for many refits at once ----------------------------------------------------------------------------
class ContestBatch:
    """``Contest`` for R refits at once: the same budget grid and the same bisection, every refit stepping together.

    ``mine`` (R x grid) is the method's oriented metric on ``curve.fractions`` in each refit; ``others`` pairs each
    other method's ``MethodCurve`` (its fractions and costs) with its metric (R x its grid). Leads in metric units.
    """

    def __init__(self, curve: MethodCurve, mine: np.ndarray, others: list, n_budgets: int = 400):
        self.curve = curve
        lo = min([curve.fractions[0] * curve.train_flops_full] + [o.total_flops()[0] for o, _ in others])
        self.hi = max(o.total_flops()[-1] for o, _ in others)
        self.budgets = np.geomspace(lo, self.hi, n_budgets)
        theirs = np.full((len(mine), n_budgets), -np.inf)
        for o, metric in others:
            idx = np.searchsorted(o.fractions, (self.budgets - o.selection_flops) / o.train_flops_full,
                                  side="right") - 1
            run = np.maximum.accumulate(metric, axis=1)[:, np.clip(idx, 0, None)]
            theirs = np.fmax(theirs, np.where((idx >= 0)[None, :] & ~np.isnan(run), run, -np.inf))
        self.theirs = theirs
        run_max = np.maximum.accumulate(mine, axis=1)
        self._run_max = np.concatenate([np.full((len(mine), 1), -np.inf), run_max], axis=1)  # [0]: unaffordable

    def _index(self, selection_flops: np.ndarray) -> np.ndarray:
        affordable = (self.budgets - selection_flops[..., None]) / self.curve.train_flops_full
        return np.searchsorted(self.curve.fractions, affordable, side="right")  # 0 where nothing is affordable

    LEAD_CHUNK_VALUES = 250_000
    """Most (cost, budget, refit) differences ``lead`` holds at once (2 MB: they stay in cache)."""

    def lead(self, selection_flops) -> np.ndarray:
        """Lead (R x S) at selection costs shared by every refit (S,), FLOPs; as ``Contest.lead`` per refit."""
        idx = self._index(np.atleast_1d(np.asarray(selection_flops, float)))          # S x B
        out = np.full((idx.shape[0], len(self.theirs)), -np.inf)  # costs at which no budget is affordable
        rows = np.flatnonzero(idx[:, -1] > 0)
        if len(rows):
            cols = np.any(idx[rows] > 0, axis=0)   # budgets unaffordable at every cost cannot hold the max
            if not hasattr(self, "_run_max_t"):      # refits last: each gathered (cost, budget) is one row
                self._run_max_t = np.ascontiguousarray(self._run_max.T)
            theirs = np.ascontiguousarray(self.theirs.T[cols])
            step = max(1, self.LEAD_CHUNK_VALUES // max(theirs.size, 1))
            for lo in range(0, len(rows), step):
                r = rows[lo:lo + step]
                diff = self._run_max_t[idx[np.ix_(r, cols)]]
                diff -= theirs
                # -inf - -inf is NaN: neither can afford the budget; fmax skips it, and a row of only those is -inf
                with np.errstate(invalid="ignore"):
                    out[r] = np.fmax.reduce(diff, axis=1)
            out[np.isnan(out)] = -np.inf
        return out.T

    def threshold(self, margin: float = 0.0, tol: float = 0.005) -> np.ndarray:
        """``Contest.threshold`` per refit (R,), FLOPs."""
        room = largest_winning_cost(self.curve, self._run_max[:, 1:], self.budgets, self.theirs, margin)
        return bisect_cost(room, self.curve.train_flops_full, tol)


def log_median_rows(ratios: np.ndarray) -> np.ndarray:
    """``log_median`` of each row of a 2-d array of ratios (R x n); nan for no columns."""
    r = np.sort(np.asarray(ratios, float), axis=1)
    n = r.shape[1]
    if n == 0:
        return np.full(len(r), np.nan)
    a, b = r[:, (n - 1) // 2], r[:, n // 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        mid = np.sqrt(a * b)
    return np.where(np.isinf(b), b, np.where(a == 0, np.where(b == 0, a, np.where(a > 0, mid, 0.0)), mid))


CHUNK_GRID_VALUES = 2_000_000
"""Most curve-grid values (refits x grid points of the curves of a block of panels) gathered at once by
``breakeven_refits``: 16 MB per array (the form makes a few at once); up to 100 refits at a time, the panels in
blocks (``contest_blocks``), so memory and the work per (refit, contest) stay flat as panels grow."""


def _contest_refits(shared, part: slice):
    """(ratio, lead, pooled-mean lead curves) of every contest for the refits ``values[part]``: ``chunk`` refits
    at a time, and within them blocks of panels whose curve grids hold at most ``CHUNK_GRID_VALUES`` values over
    the chunk (so the work per contest does not grow with the number of panels)."""
    fitted, grid, shapes, contests, values, chunk = shared
    n_rep = part.stop - part.start
    ratio = np.empty((n_rep, len(contests)))
    lead = np.empty((n_rep, len(contests)))
    curves_c = np.empty((n_rep, len(contests), len(RATIO_GRID)))
    for ks, r, ld, c in _contest_block_refits(fitted, grid, shapes, contests, values[part], chunk):
        ratio[:, ks], lead[:, ks], curves_c[:, ks] = r, ld, c
    return ratio, lead, curves_c


def _contest_block_refits(fitted, grid, shapes, contests, values, chunk):
    """Per block of consecutive contests (``contest_blocks``): (contest indices, ratio, lead (R x contests),
    lead curves (R x contests x ``RATIO_GRID``)) over all refits ``values``, ``chunk`` refits at a time; what a
    block holds is bounded by ``CHUNK_GRID_VALUES`` (its grid) and its contests' lead curves. Each contest's
    numbers do not depend on the blocks or chunks it is computed in."""
    n_rep = len(values)
    for first, ks in contest_blocks(contests, shapes, max(1, CHUNK_GRID_VALUES // max(chunk, 1))):
        ratio = np.empty((n_rep, len(ks)))
        lead = np.empty((n_rep, len(ks)))
        curves_c = np.empty((n_rep, len(ks), len(RATIO_GRID)))
        for start in range(0, n_rep, chunk):
            rows = slice(start, min(start + chunk, n_rep))
            metric = grid.metric_arrays(fitted, values[rows], first)   # curves first.start.. gathered together
            for j, k in enumerate(ks):
                task, model, method, me, others, span, m, c0, a, n_sel = contests[k]
                curve = shapes[me]
                contest = ContestBatch(curve, metric[me - first.start],
                                       [(shapes[o], metric[o - first.start]) for o in others])
                sel_star = contest.threshold(m)
                with np.errstate(divide="ignore"):
                    ratio[rows, j] = np.where(sel_star > c0, curve.train_params * a / np.where(
                        sel_star > c0, sel_star - c0, 1.0), np.inf)
                lead[rows, j] = contest.lead([curve.selection_flops])[:, 0]
                sel_grid = c0 + a * curve.train_params / RATIO_GRID
                curves_c[rows, j] = np.clip(contest.lead(sel_grid) - m, -span, span)
        yield np.asarray(ks, np.intp), ratio, lead, curves_c


def _contest_part_refits(shared, part: slice):
    """``_contest_block_refits`` of the contests ``contests[part]`` over every refit, as a list (a worker's part)."""
    fitted, grid, shapes, contests, values, chunk = shared
    return [(ks + part.start, *rest) for ks, *rest in
            _contest_block_refits(fitted, grid, shapes, contests[part], values, chunk)]


POOLED_PART_VALUES = 4_000_000
"""With ``jobs`` > 1 and the pooled sums made as the refits come (``contest_refits``'s ``draws_seed``), the
contests go to the workers in parts of about this many lead-curve values (refits x contests x ``RATIO_GRID``,
32 MB), taken in order by this process one part at a time."""


def pooled_draws(n_of, n_blocks: int, n_contests: int, seed: int = 0) -> np.ndarray:
    """The joint draws (``bands.recombine``) on which ``breakeven_intervals`` evaluates the pooled rows: for
    ``n_blocks`` independent blocks holding ``n_of`` refits (one number, or one per block) and ``n_contests``
    contests, ``recombine_copies`` copies (one when there is one block or none)."""
    sizes = np.atleast_1d(np.asarray(n_of, np.intp))
    n_rep = int(sizes.max())
    copies = recombine_copies(n_rep, n_contests) if n_blocks > 1 else 1
    return recombine(n_of if n_blocks else n_rep, max(n_blocks, 1), copies, seed)


def contest_blocks(contests: list, shapes: list, max_values: int) -> list:
    """Consecutive contests grouped so that the range of ``shapes`` they use holds at most ``max_values`` grid
    points (one contest alone may exceed it) and no shapes between them go unused (a subset of the contests, e.g.
    some panels only, gathers only its own): [(slice of shapes, contest indices)]."""
    cum = np.concatenate([[0], np.cumsum([len(c.fractions) for c in shapes])])
    blocks, ks, lo, hi = [], [], 0, 0
    for k, c in enumerate(contests):
        c_lo, c_hi = min(c[3], *c[4]), max(c[3], *c[4]) + 1
        if ks and (cum[max(hi, c_hi)] - cum[min(lo, c_lo)] > max_values or c_lo > hi or c_hi < lo):
            blocks.append((slice(lo, hi), ks))
            ks = []
        lo, hi = (min(lo, c_lo), max(hi, c_hi)) if ks else (c_lo, c_hi)
        ks.append(k)
    if ks:
        blocks.append((slice(lo, hi), ks))
    return blocks


def breakeven_refits(fitted, values: np.ndarray, methods=BREAKEVEN_METHODS, margin_table: pd.DataFrame | None = None,
                     grid: CurveGrid | None = None, margin: float | None = None, chunk: int | None = None,
                     jobs: int = 1):
    """Ratios and leads of ``breakeven_table`` for many refits of ``fitted`` at once: ``values`` (R x n_entries,
    e.g. ``Bootstrap.values``) in ``fitted``'s layout. Returns (keys, ratio, lead_actual): keys a DataFrame of
    the table's rows (definition, task, train_model, method, in ``breakeven_table``'s order), ratio and
    lead_actual arrays (R x rows; lead_actual NaN on pooled rows). Every refit is evaluated on one shared grid in
    one gather and bisected together (``ContestBatch``); ``chunk`` refits at a time (default: at most 100, fewer
    only for panels of very large grids) over blocks of panels holding at most ``CHUNK_GRID_VALUES`` values in all
    bound the memory and keep the work per (refit, contest) flat as panels grow; ``jobs``: processes the refits are
    split over (the same numbers as with one)."""
    refits = contest_refits(fitted, values, methods, margin_table, grid, margin, chunk, jobs)
    pooled_keys, pooled = refits.pooled()
    keys = pd.DataFrame(refits.keys + pooled_keys, columns=["definition", "task", "train_model", "method"])
    n_rep = len(refits.ratio)
    return (keys, np.concatenate([refits.ratio, pooled], axis=1),
            np.concatenate([refits.lead, np.full((n_rep, pooled.shape[1]), np.nan)], axis=1))


class ContestRefits:
    """Per-panel break-even quantities of R refits (``contest_refits``) and the pooled rows built from them.

    ``ratio``, ``lead`` (R x contests) and ``curves`` (R x contests x ``RATIO_GRID``: lead - margin, clipped to
    the panel's span) per contest (task, train_model, method); ``block`` gives each contest's independent fitting
    block (``fitting.blocks``: refits of different blocks are independent, so they may be recombined).
    ``n_of``: refits per block (default: R for all); a block with fewer has its first ``n_of[b]`` rows valid
    (NaN below them), so blocks may carry different numbers of refits (``add``).
    """

    def __init__(self, contests, shapes, ratio, lead, curves, block, n_of=None, pooled_sums=None):
        self.contests, self.shapes = contests, shapes
        self.ratio, self.lead, self.curves, self.block = ratio, lead, curves, np.asarray(block, np.intp)
        self.pooled_sums = pooled_sums
        """(take, {method: J x ``RATIO_GRID``}) when ``curves`` is None: per method, the sum over its contests
        (in order) of each joint draw's lead curve, the draws ``take`` (``contest_refits``' ``draws_seed``)."""
        self.keys = [("shrink", t, mo, me) for t, mo, me, *_ in contests]
        self.n_of = (np.full(self.n_blocks, len(ratio), np.intp) if n_of is None
                     else np.asarray(n_of, np.intp).copy())

    def add(self, other: "ContestRefits", extra) -> "ContestRefits":
        """These refits with, for each block b, the first ``extra[b]`` refits of ``other`` appended (its other
        rows unused): blocks then carry different numbers of refits."""
        if self.curves is None or other.curves is None:
            raise ValueError("refits made with draws_seed keep no lead curves: no more refits can be added")
        extra = np.asarray(extra, np.intp)
        n_new = self.n_of + extra
        n_rows = int(n_new.max()) if len(n_new) else 0
        arrays = []
        for mine, theirs in ((self.ratio, other.ratio), (self.lead, other.lead), (self.curves, other.curves)):
            out = np.full((n_rows,) + mine.shape[1:], np.nan)
            pairs = np.stack([self.n_of[self.block], extra[self.block]], axis=1)
            for n, e in np.unique(pairs, axis=0):        # the contests of blocks alike, together
                ks = np.flatnonzero((pairs[:, 0] == n) & (pairs[:, 1] == e))
                out[:n, ks] = mine[:n, ks]
                out[n:n + e, ks] = theirs[:e, ks]
            arrays.append(out)
        return ContestRefits(self.contests, self.shapes, *arrays, self.block, n_new)

    def contest_counts(self) -> np.ndarray:
        """Refits of each contest (its block's)."""
        return self.n_of[self.block]

    def panel_intervals(self, level: float = 0.9) -> dict:
        """``bands.interval_with_mc`` of every contest's ratio over its own block's refits."""
        out = {}
        for n in np.unique(self.n_of):
            ks = np.flatnonzero(self.contest_counts() == n)
            iv = interval_with_mc(self.ratio[:n, ks], level)
            for key, v in iv.items():
                out.setdefault(key, np.empty(len(self.contests), np.asarray(v).dtype))[ks] = v
        return out

    def share(self, hit: np.ndarray) -> np.ndarray:
        """Per contest, the share of its block's refits in which ``hit`` (R x contests, bool) holds."""
        counts = self.contest_counts()
        valid = np.arange(len(hit))[:, None] < counts[None, :]
        return np.sum(hit & valid, axis=0) / np.maximum(counts, 1)

    @property
    def n_blocks(self) -> int:
        return int(self.block.max()) + 1 if len(self.block) else 0

    def pooled(self, take: np.ndarray | None = None, uses: list | None = None) -> tuple[list, np.ndarray]:
        """(keys, ratios (J x pooled rows)) of the pooled rows (shrink, size, pooled_mean) on J joint draws:
        draw j takes, for the contests of block b, refit ``take[j, b]`` (default: refit j in every block, the
        refits as they were drawn). ``uses``: a list to which the blocks each pooled row depends on are appended
        (an array of block codes per row)."""
        n_rep = len(self.ratio)
        if take is None:
            take = np.broadcast_to(np.arange(n_rep)[:, None], (n_rep, max(self.n_blocks, 1)))
        if self.curves is None and not np.array_equal(take, self.pooled_sums[0]):
            raise ValueError("these refits keep only the pooled sums of the draws they were made for (draws_seed)")
        contests, shapes, n_draw = self.contests, self.shapes, len(take)
        keys, ratio_cols = [], []
        uses = [] if uses is None else uses
        for method in dict.fromkeys(c[2] for c in contests):
            ks = [k for k, c in enumerate(contests) if c[2] == method]
            rows = take[:, self.block[ks]]                                              # J x contests
            keys.append(("shrink", "all", "pooled", method))
            everywhere = np.unique(self.block[ks])
            uses.append(everywhere)
            ratio_cols.append(log_median_rows(self.ratio[rows, ks])[:, None])
            margin_k = np.array([contests[k][6] for k in ks])
            span_k = np.array([contests[k][5] for k in ks])
            d = np.clip(self.lead[rows, ks] - margin_k, -span_k, span_k)
            params = np.array([shapes[contests[k][3]].train_params for k in ks])
            actual = np.array([params[j] / contests[k][9] if contests[k][9] else np.inf for j, k in enumerate(ks)])
            tasks = [contests[k][0] for k in ks]
            for task in dict.fromkeys(tasks):
                cols = [j for j, t in enumerate(tasks) if t == task]
                if len(set(params[cols])) < 2:
                    continue
                keys.append(("size", task, "all sizes", method))
                uses.append(np.unique(self.block[np.asarray(ks)[cols]]))
                ratio_cols.append(crossing_rows(np.log10(actual[cols]), d[:, cols])[:, None])
            sizes = np.unique(params)
            if len(sizes) >= 2:
                keys.append(("size", "all", "pooled", method))
                uses.append(everywhere)
                member = params[None, :] == sizes[:, None]                               # sizes x panels
                x = np.log10((member * actual).sum(axis=1) / member.sum(axis=1))
                dm = d @ member.T / member.sum(axis=1)
                ratio_cols.append(crossing_rows(x, dm)[:, None])
            keys.append(("pooled_mean", "all", "pooled", method))
            uses.append(everywhere)
            if self.curves is None:                                      # summed as the refits were made
                mean = self.pooled_sums[1][method].copy()
            else:
                mean = np.zeros((n_draw, len(RATIO_GRID)))
                for j, k in enumerate(ks):                               # accumulate: no J x contests x grid array
                    mean += self.curves[rows[:, j], k]
            mean /= len(ks)
            ratio_cols.append(grid_crossing_rows(mean)[:, None])
        return keys, (np.concatenate(ratio_cols, axis=1) if ratio_cols else np.empty((n_draw, 0)))


def grid_crossing_rows(lead: np.ndarray) -> np.ndarray:
    """Per row of ``lead`` (rows x ``RATIO_GRID``): the ratio where the lead first turns > 0, interpolated in
    log r (definition c): ``RATIO_GRID[0]`` when it is > 0 from the start, inf when it never is."""
    x_grid = np.log10(RATIO_GRID)
    pos = lead > 0
    first = np.argmax(pos, axis=1)
    i = np.clip(first - 1, 0, len(x_grid) - 2)
    rows = np.arange(len(lead))
    y0, y1 = lead[rows, i], lead[rows, i + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        cross = 10 ** (x_grid[i] + (0 - y0) / (y1 - y0) * (x_grid[i + 1] - x_grid[i]))
    return np.where(~pos.any(axis=1), np.inf, np.where(first == 0, RATIO_GRID[0], cross))


def crossing_rows(log_r: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Per row of ``d`` (rows x points at ``log_r``): the smallest r above which the piecewise-linear d(log r)
    stays > 0, linear beyond the ends; inf when d ends <= 0 and does not rise, 0 when d > 0 at every ratio down
    to 0 (definition b)."""
    order = np.argsort(log_r)
    x, y = np.asarray(log_r, float)[order], np.asarray(d, float)[:, order]
    n_rows, n = y.shape
    if n == 1:
        return np.where(y[:, 0] > 0, 0.0, np.inf)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        slope_hi = (y[:, -1] - y[:, -2]) / (x[-1] - x[-2])
        above = np.where(slope_hi > 0, 10 ** (x[-1] - y[:, -1] / slope_hi), np.inf)      # ends <= 0
        neg = y <= 0
        i = np.clip(n - 1 - np.argmax(neg[:, ::-1], axis=1), 0, n - 2)                   # last y <= 0
        rows = np.arange(n_rows)
        t = -y[rows, i] / (y[rows, i + 1] - y[rows, i])
        inside = 10 ** (x[i] + t * (x[i + 1] - x[i]))
        slope_lo = (y[:, 1] - y[:, 0]) / (x[1] - x[0])
        below = np.where(slope_lo > 0, 10 ** (x[0] - y[:, 0] / slope_lo), 0.0)           # all > 0
    return np.where(y[:, -1] <= 0, above, np.where(neg.any(axis=1), inside, below))


def contest_refits(fitted, values: np.ndarray, methods=BREAKEVEN_METHODS, margin_table: pd.DataFrame | None = None,
                   grid: CurveGrid | None = None, margin: float | None = None, chunk: int | None = None,
                   jobs: int = 1, blocks: np.ndarray | None = None,
                   like: ContestRefits | None = None, draws_seed: int | None = None) -> ContestRefits:
    """The per-panel part of ``breakeven_refits``: every contest's ratio, lead and clipped lead curve per refit.
    ``blocks``: evaluate only the contests of these blocks (``panel_groups`` codes; the others are NaN).
    ``like``: an earlier result for the same fit, methods, margins and ``grid`` whose contests (curves, cost lines,
    margins, blocks) are reused instead of set up again (more refits of the same fit, ``breakeven_intervals``).
    ``draws_seed``: the pooled rows will be evaluated on ``pooled_draws(R, blocks, contests, draws_seed)`` only (no
    more refits to be added): then the lead curves (R x contests x ``RATIO_GRID``, the largest part by far) are
    not kept, only their sums per method on those draws (``ContestRefits.pooled_sums``), made block by block as
    the contests are evaluated (with ``jobs`` > 1, workers take parts of the contests, not of the refits); the
    same numbers as without."""
    grid = grid or CurveGrid(fitted.runs_, 600)
    if like is None:
        shapes, contests = contest_setup(fitted, grid, methods, margin_table, margin)
        group = panel_groups(fitted, contests)
    else:
        shapes, contests, group = like.shapes, like.contests, like.block
    panels: dict = {}
    for i, c in enumerate(shapes):
        panels.setdefault((c.task, c.train_model), []).append(i)
    values = np.atleast_2d(np.asarray(values, float))
    n_rep = len(values)
    if chunk is None:   # refits at a time; panels are blocked within a chunk (contest_blocks)
        panel_values = max([len(c.fractions) * len(idx) for idx in panels.values() for c in [shapes[idx[0]]]],
                           default=1)
        chunk = int(np.clip(CHUNK_GRID_VALUES // panel_values, 1, 100))
    from .parallel import imap_parts, map_parts, split
    if draws_seed is not None and blocks is None and len(contests):
        # the pooled-mean rows need only, per method, the sum over its contests of each draw's lead curve: summed
        # as the contests' blocks come (in contest order, as ``pooled`` would), the lead curves are never held
        n_blocks = int(group.max()) + 1
        take = pooled_draws(n_rep, n_blocks, len(contests), draws_seed)
        sums = {method: np.zeros((len(take), len(RATIO_GRID))) for method in dict.fromkeys(c[2] for c in contests)}
        ratio, lead = np.empty((n_rep, len(contests))), np.empty((n_rep, len(contests)))
        shared = (fitted, grid, shapes, contests, values, chunk)
        if jobs > 1:
            step = max(1, POOLED_PART_VALUES // max(n_rep * len(RATIO_GRID), 1))
            done = (b for part in imap_parts(_contest_part_refits, shared,
                                             split(len(contests), max(jobs, -(-len(contests) // step))), jobs)
                    for b in part)
        else:
            done = _contest_block_refits(*shared)
        for ks, r, ld, c in done:
            ratio[:, ks], lead[:, ks] = r, ld
            for j, k in enumerate(ks):
                sums[contests[k][2]] += c[take[:, group[k]], j]
        return ContestRefits(contests, shapes, ratio, lead, None, group, pooled_sums=(take, sums))
    ks = np.arange(len(contests)) if blocks is None else np.flatnonzero(np.isin(group, blocks))
    parts = split(n_rep, jobs) if jobs > 1 else [slice(0, n_rep)]
    done = map_parts(_contest_refits, (fitted, grid, shapes, [contests[k] for k in ks], values, chunk), parts, jobs)
    ratio, lead, curves_c = (np.concatenate([d[i] for d in done]) if done else np.empty((0, len(ks)))
                             for i in range(3))
    curves_c = curves_c.reshape(n_rep, len(ks), len(RATIO_GRID))
    if len(ks) < len(contests):       # only some blocks: the others' contests are NaN
        full = [np.full((n_rep, len(contests)) + a.shape[2:], np.nan) for a in (ratio, lead, curves_c)]
        for a, part in zip(full, (ratio, lead, curves_c)):
            a[:, ks] = part
        ratio, lead, curves_c = full
    return ContestRefits(contests, shapes, ratio, lead, curves_c, group)


def contest_setup(fitted, grid: CurveGrid, methods=BREAKEVEN_METHODS, margin_table: pd.DataFrame | None = None,
                  margin: float | None = None) -> tuple[list, list]:
    """(shapes, contests) of ``contest_refits``: every curve of ``grid`` for ``fitted`` (its fractions and costs;
    the metric is replaced per refit) and one contest per (panel, method of ``methods``) with rivals:
    (task, train_model, method, curve index, rival curve indices, span, margin, c0, a, n_sel)."""
    if margin_table is None:
        margin_table = make_margins(panel_noise(fitted), margin)
    m_of = margin_lookup(margin_table)
    runs = fitted.runs_
    shapes = grid.shapes()    # fractions and costs; every refit brings its own metric
    panels: dict = {}
    for i, c in enumerate(shapes):
        panels.setdefault((c.task, c.train_model), []).append(i)
    contests = []
    spans, lines = panel_spans(runs), selector_cost_lines(runs, methods)
    for (task, model), idx in panels.items():
        span = spans[(task, model)]
        by_name = {shapes[i].method: i for i in idx}
        for method in methods:
            if method in by_name and len(idx) > 1:
                c0, a, n_sel = lines[(task, model, method)]
                contests.append((task, model, method, by_name[method], [i for i in idx if i != by_name[method]],
                                 span, m_of[(task, model)], c0, a, n_sel))
    return shapes, contests


def panel_groups(fitted, contests) -> np.ndarray:
    """A group code per contest such that refits of different groups are independent: panels joined when some
    fitting block (``fitting.blocks``: runs sharing a free parameter) spans both; codes 0, 1, ... in order."""
    from .fitting import blocks

    runs = fitted.runs_
    row_block, _ = blocks(fitted.form, runs)
    parent: dict = {}

    def root(key):
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    pairs = pd.DataFrame({"task": runs.task.to_numpy(), "model": runs.train_model.to_numpy(), "block": row_block})
    for task, model, b in pairs.drop_duplicates().itertuples(index=False, name=None):   # union panels, blocks
        parent[root(("panel", task, model))] = root(("block", int(b)))
    roots = [root(("panel", c[0], c[1])) for c in contests]
    code = {r: i for i, r in enumerate(dict.fromkeys(roots))}
    return np.array([code[r] for r in roots], np.intp)


# ---- (d): model-free ------------------------------------------------------------------------------------------
def _pareto_ratio(mine: pd.DataFrame, others: pd.DataFrame, metric_mine, metric_others, c0, a, n_train, margin):
    """Smallest r at which some run of ``mine`` (selection cost C0 + a N_train / r) is undominated by ``others``
    by more than ``margin``; vectorised over jitter draws in the metric arrays (draws x runs)."""
    train_mine = np.asarray(mine.train_flops, float)
    total_o = np.asarray(others.total_flops, float)
    # other runs that come within the margin of each of my runs: draws x mine x others
    close = metric_others[:, None, :] >= metric_mine[:, :, None] - margin
    cheapest = np.min(np.where(close, total_o[None, None, :], np.inf), axis=2)      # draws x mine
    limit = np.minimum(cheapest, total_o.max())   # and no dearer than the dearest run of the others
    room = limit - train_mine[None, :] - c0                                           # selection it may spend
    with np.errstate(divide="ignore"):
        r = np.where(room > 0, n_train * a / np.where(room > 0, room, 1.0), np.inf)
    return np.min(r, axis=1)


def pareto_breakeven(runs: pd.DataFrame, margin_table: pd.DataFrame, methods=BREAKEVEN_METHODS,
                     n_draws: int = 400, seed: int = 0, level: float = 0.9) -> pd.DataFrame:
    """Definition (d) per panel and pooled (median over panels): ratio with margin 0 (``ratio_no_margin``) and
    with the margin (``ratio``), and its noise sensitivity: a percentile interval over ``n_draws`` copies of the
    runs with Gaussian noise of the panel's sd added (``ratio_lo``/``ratio_hi``) and ``p_finite``, the share of
    copies in which some run is on the Pareto set at a finite ratio."""
    rng = np.random.default_rng(seed)
    m_of = margin_lookup(margin_table)
    sd_of = {(t, m): float(s) for t, m, s in zip(margin_table.task, margin_table.train_model, margin_table.noise_sd)}
    rows, draws_by_method = [], {}
    better = higher_is_better(runs)
    lines = selector_cost_lines(runs, methods)
    cols = {c: runs[c].to_numpy() for c in ("method", "metric", "train_flops", "total_flops", "train_params")}
    where = runs.groupby(["task", "train_model"], sort=False).indices
    for task, model in runs[["task", "train_model"]].drop_duplicates().itertuples(index=False, name=None):
        at = where[(task, model)]                                          # panels in order of appearance
        panel = SimpleNamespace(**{c: v[at] for c, v in cols.items()})   # arrays: no DataFrame per method
        for method in methods:
            is_mine = panel.method == method
            if is_mine.all() or not is_mine.any():
                continue
            mine = SimpleNamespace(**{c: v[is_mine] for c, v in vars(panel).items()})
            others = SimpleNamespace(**{c: v[~is_mine] for c, v in vars(panel).items()})
            c0, a, n_sel = lines[(task, model, method)]
            n_train = float(mine.train_params[0])
            m, sd = m_of[(task, model)], sd_of[(task, model)]
            sign = 1.0 if better.get(task, True) else -1.0   # oriented: larger is better
            y_m, y_o = (sign * np.asarray(mine.metric, float)[None, :],
                        sign * np.asarray(others.metric, float)[None, :])
            r0 = float(_pareto_ratio(mine, others, y_m, y_o, c0, a, n_train, 0.0)[0])
            r = float(_pareto_ratio(mine, others, y_m, y_o, c0, a, n_train, m)[0])
            jit_m = y_m + rng.normal(size=(n_draws, y_m.shape[1])) * sd
            jit_o = y_o + rng.normal(size=(n_draws, y_o.shape[1])) * sd
            draws = _pareto_ratio(mine, others, jit_m, jit_o, c0, a, n_train, m)
            draws_by_method.setdefault(method, []).append(draws)
            lo, hi = percentile_interval(draws, level)
            rows.append({"definition": "pareto", "task": task, "train_model": model, "method": method,
                         "ratio": r, "ratio_lo": float(lo), "ratio_hi": float(hi), "ratio_no_margin": r0,
                         "p_finite": float(np.mean(np.isfinite(draws))), "margin": m, "train_params": n_train,
                         "selector_params": n_sel, "actual_ratio": n_train / n_sel if n_sel else np.inf,
                         "n_panels": 1, "n_never": int(np.isinf(r)), "extrapolated": False})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    pooled = []
    for method, g in table.groupby("method", sort=False):
        draws = np.array([log_median(d) for d in np.stack(draws_by_method[method]).T])
        lo, hi = percentile_interval(draws, level)
        pooled.append({"definition": "pareto", "task": "all", "train_model": "pooled", "method": method,
                       "ratio": log_median(g.ratio), "ratio_lo": float(lo), "ratio_hi": float(hi),
                       "ratio_no_margin": log_median(g.ratio_no_margin),
                       "p_finite": float(np.mean(np.isfinite(draws))), "n_panels": len(g),
                       "n_never": int(np.isinf(g.ratio).sum()), "extrapolated": False})
    return pd.concat([table, pd.DataFrame(pooled)], ignore_index=True)


# ---- all four, with intervals ----------------------------------------------------------------------------------
RECOMBINE_VALUES = 200_000_000
"""Most lead-curve values (joint draws x contests x ``RATIO_GRID``) the pooled rows are evaluated on."""


def recombine_copies(n_rep: int, n_contests: int, most: int = 20) -> int:
    """Copies of the refits recombined across independent panels for the pooled rows (``bands.recombine``): up to
    ``most``, fewer when the panels are many (``RECOMBINE_VALUES``)."""
    return int(np.clip(RECOMBINE_VALUES // max(n_rep * n_contests * len(RATIO_GRID), 1), 1, most))


def pooled_interval(draws: np.ndarray, take: np.ndarray, n_rep, level: float = 0.9, parts: bool = True) -> dict:
    """``bands.interval_with_mc`` of pooled ratios on recombined joint draws (``draws``: J x rows, ``take``: the
    refit of each group in each draw; ``n_rep``: refits per group, one number or one per group), with the Monte
    Carlo sd of the empirical CDF at each end from the draws' Hoeffding projections (``bands.recombined_cdf_sd``)
    instead of the independent-draw binomial. Recombined, it also gives each end's variance parts
    (``lo_first``/``hi_first``: groups x rows, ``lo_rest``/``hi_rest``: ``bands.recombined_cdf_parts``); with
    ``parts`` False it does not (the same interval and errors, from ``bands.recombined_cdf_sd``: memory not
    groups x rows, which grows as the square of the panels)."""
    sizes = np.atleast_1d(np.asarray(n_rep))
    if (sizes == sizes[0]).all() and len(take) <= sizes[0]:
        return interval_with_mc(draws, level)   # not recombined (one group, or too many panels): independent draws
    lo, hi = percentile_interval(draws, level)
    with np.errstate(invalid="ignore"):
        below = [np.where(np.isinf(end)[None, :], np.isfinite(draws), draws <= end[None, :]) for end in (lo, hi)]
    if not parts:
        sd = [recombined_cdf_sd(b, take, n_rep) for b in below]
        return interval_with_mc(draws, level, cdf_sd=sd, never_sd=recombined_cdf_sd(np.isinf(draws), take, n_rep))
    parts = [recombined_cdf_parts(b, take, n_rep) for b in below]
    sd = [cdf_sd_from_parts(first, rest, n_rep, len(take)) for first, rest in parts]
    out = interval_with_mc(draws, level, cdf_sd=sd, never_sd=recombined_cdf_sd(np.isinf(draws), take, n_rep))
    for end, (first, rest) in zip(("lo", "hi"), parts):
        out[f"{end}_first"], out[f"{end}_rest"] = first, rest
    return out


def allocate_refits(first: np.ndarray, rest: float, n_of: np.ndarray, shrink: float, max_boot: int):
    """Refits per group (at least ``n_of``, at most ``max_boot``) that make the Monte Carlo variance of a
    recombined statistic, sum_g first_g / n_g + ``rest``, at most ``shrink`` times what it is now, with the fewest
    refits in all (n_g proportional to sqrt(first_g) where not held at a bound: Lagrange); ``None`` when even
    ``max_boot`` refits everywhere cannot."""
    first, n_of = np.asarray(first, float), np.asarray(n_of, float)
    room = shrink * (np.sum(first / n_of) + rest) - rest
    if room <= 0:
        return None
    n_new, free = n_of.copy(), first > 0
    for _ in range(len(first) + 1):
        left = room - np.sum(first[~free] / n_new[~free])
        if not free.any() or left <= 0:
            break
        opt = np.sqrt(first) * np.sum(np.sqrt(first[free])) / left
        low, high = free & (opt < n_of), free & (opt > max_boot)
        if low.any():                 # groups that already have enough: keep theirs, share the rest
            free &= ~low
            continue
        if high.any():
            n_new[high], free = float(max_boot), free & ~high
            continue
        n_new[free] = opt[free]
        break
    if np.sum(first / n_new) > room * (1 + 1e-9) or (n_new > max_boot).any():
        return None
    return np.maximum(n_of, 100 * np.ceil(n_new / 100)).astype(np.intp)


def block_targets(refits: "ContestRefits", panel_iv: dict, pooled_iv: dict, uses: list, n_draw: int,
                  max_boot: int) -> np.ndarray:
    """Refits each fitting block should have so that every interval end that ``max_boot`` refits can pin has a
    Monte Carlo error within ``bands.STABLE_SE_LOG10``, the error shrinking as 1 / sqrt(refits): a per-panel
    end asks its own block for n (mc / tol)^2 refits; a pooled end asks only the blocks it depends on (``uses``),
    as many as ``allocate_refits`` finds from each block's share of its Monte Carlo variance (``pooled_interval``'s parts;
    all alike when the draws are not recombined). Ends no affordable count pins (thin tails) ask for nothing;
    an upper end widened to "never" neither. Multiples of 100; ``refits.n_of`` where nothing needs more."""
    tol = STABLE_SE_LOG10
    n_of, target = refits.n_of, refits.n_of.copy()
    counts = refits.contest_counts()
    for mc in (panel_iv["lo_mc"], np.where(panel_iv["hi_widened"], 0.0, panel_iv["hi_mc"])):
        mc = np.asarray(mc, float)
        with np.errstate(invalid="ignore", over="ignore"):
            need = counts * (mc / tol) ** 2
        for k in np.flatnonzero((mc > tol) & (need <= max_boot)):
            b = refits.block[k]
            target[b] = max(target[b], int(100 * np.ceil(need[k] / 100)))
    for end in ("lo", "hi"):
        mc = np.asarray(pooled_iv[f"{end}_mc"], float)
        if end == "hi":
            mc = np.where(pooled_iv["hi_widened"], 0.0, mc)
        for j in np.flatnonzero(mc > tol):
            bs = np.asarray(uses[j], np.intp)
            if f"{end}_first" in pooled_iv:
                want = allocate_refits(pooled_iv[f"{end}_first"][bs, j], pooled_iv[f"{end}_rest"][j] / n_draw,
                                       n_of[bs], (tol / mc[j]) ** 2, max_boot)
            else:               # independent draws: every block alike
                need = n_of[bs].max() * (mc[j] / tol) ** 2
                want = None if need > max_boot else np.full(len(bs), int(100 * np.ceil(need / 100)))
            if want is not None:
                target[bs] = np.maximum(target[bs], want)
    return np.maximum(n_of, np.minimum(target, max_boot))


def run_groups(fitted, refits: "ContestRefits") -> np.ndarray:
    """Per run of ``fitted.runs_``, the ``panel_groups`` code of its fitting block (-1: a block of no contest)."""
    from .fitting import blocks

    runs = fitted.runs_
    row_block, _ = blocks(fitted.form, runs)
    row_block = np.asarray(row_block, np.intp)
    pairs = pd.DataFrame({"task": runs.task.to_numpy(), "model": runs.train_model.to_numpy(), "block": row_block})
    groups = pd.DataFrame([(c[0], c[1], g) for c, g in zip(refits.contests, refits.block)],
                          columns=["task", "model", "group"]).drop_duplicates()
    found = pairs.drop_duplicates().merge(groups, on=["task", "model"])
    lookup = np.full(int(row_block.max()) + 1 if len(row_block) else 0, -1, np.intp)
    lookup[found.block.to_numpy(np.intp)] = found.group.to_numpy(np.intp)
    return lookup[row_block]


def breakeven_intervals(fitted, n_boot: int = 400, seed: int = 0, level: float = 0.9, margin: float | None = None,
                        methods=BREAKEVEN_METHODS, boot=None, claims: dict | None = None,
                        progress=None, jobs: int = 1, max_boot: int | None = None,
                        margin_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """All four definitions with intervals: (a)-(c) with bootstrap percentile intervals over ``n_boot`` refits
    (each end's Monte Carlo error in log10, ``ratio_lo_mc``/``ratio_hi_mc``, and ``stable``), (d) with its noise
    interval. ``p_win``: share of refits in which the method wins by more than the margin at its measured
    selector (per-panel rows); ``verdict`` from it. ``p_within_claim``: share of refits with a ratio at or
    below ``claims[method]`` (e.g. the paper's 5x / 10x). ``boot``: a ``Bootstrap`` of ``fitted`` to reuse.
    ``jobs``: processes the refits and their break-even are spread over (the same numbers as with one).
    ``max_boot``: add refits in seeded batches, up to this many, until every end they can pin has a Monte Carlo
    error within ``bands.STABLE_SE_LOG10`` (default: none beyond ``n_boot``), only to the fitting blocks (groups
    of panels, ``panel_groups``) whose ends need them (``block_targets``); batch i draws its resamples from seed
    ``[seed, i]`` and the other blocks keep their point values there, unsolved. Pooled rows are evaluated on
    recombinations of the panels' refits (``bands.recombine``, blocks with different numbers of refits used
    equally often each); ``n_boot``: the refits of the row's panel (the most of its panels, pooled rows);
    ``n_draws``: the draws its interval is read from; ``p_never``: share of "never";
    ``hi_widened``: an upper end within Monte Carlo error of "never", reported ``inf`` (``bands.interval_with_mc``).
    ``margin_table``: a precomputed ``noise.margins`` table (default: from ``fitted``'s panel noise and ``margin``).
    ``fitted`` may be an ``averaging.AveragedFit`` with ``boot`` its ``averaging.averaged_bootstrap`` and its
    ``margin_table``: the refits of the averaged curves (no refits added, ``max_boot`` at most ``n_boot``)."""
    from .uncertainty import bootstrap

    n_boot = check_int(n_boot, "n_boot", low=0)
    max_boot = n_boot if max_boot is None else check_int(max_boot, "max_boot", low=n_boot)
    if margin_table is None:
        margin_table = make_margins(panel_noise(fitted), margin)
    grid = CurveGrid(fitted.runs_, 600)
    point = breakeven_table(fitted, methods, margin_table=margin_table, grid=grid)
    if point.empty:  # no PPL/LESS curves: break-even is not applicable
        return pd.DataFrame(columns=["definition", "task", "train_model", "method", "form", "ratio", "ratio_lo",
                                     "ratio_hi", "margin", "p_win", "verdict"])
    noise = margin_table.set_index(["task", "train_model"]).noise_sd
    point["noise_sd"] = [noise.get((t, m), np.nan) for t, m in zip(point.task, point.train_model)]
    if n_boot > 0:
        if boot is None or boot.n_boot < n_boot:
            boot = bootstrap(fitted, n_boot=n_boot, seed=seed, level=level, progress=progress, jobs=jobs)
        values = boot.values[:n_boot]
        if max_boot <= n_boot:      # no refits to add: the lead curves need not be kept (pooled sums instead)
            del boot
        refits = contest_refits(fitted, values, methods, margin_table, grid, jobs=jobs,
                                draws_seed=seed if max_boot <= n_boot else None)
        del values
        batch, groups_of_runs = 0, None
        while True:
            n_of = refits.n_of if refits.n_blocks else np.array([n_boot])
            n_rep = int(n_of.max())
            take = pooled_draws(n_of if refits.n_blocks else n_boot, refits.n_blocks, len(refits.contests), seed)
            uses: list = []
            pooled_keys, pooled = refits.pooled(take, uses)
            adding = max_boot > n_rep and refits.n_blocks > 0   # only then are the variance parts needed
            ivs = [refits.panel_intervals(level), pooled_interval(pooled, take, n_of, level, parts=adding)]
            if not adding:
                break
            extra = block_targets(refits, ivs[0], ivs[1], uses, len(take), max_boot) - refits.n_of
            if not extra.any():
                break
            batch += 1    # more refits of the blocks that need them, seeded (seed, batch): deterministic
            if groups_of_runs is None:
                groups_of_runs = run_groups(fitted, refits)
            resampled = np.where(groups_of_runs >= 0, extra[np.maximum(groups_of_runs, 0)], 0)
            more = bootstrap(fitted, n_boot=int(extra.max()), seed=[seed, batch], level=level, progress=progress,
                             jobs=jobs, resampled=resampled).values
            for e in np.unique(extra[extra > 0]):      # each block's new refits only, evaluated once
                now = np.where(extra == e, e, 0)
                refits = refits.add(contest_refits(fitted, more[:e], methods, margin_table, grid, jobs=jobs,
                                                   blocks=np.flatnonzero(now), like=refits), now)
        same = np.array(refits.keys + pooled_keys, str).reshape(-1, 4)
        if same.shape != (len(point), 4) or (same != point[["definition", "task", "train_model", "method"]]
                                             .to_numpy(str)).any():
            raise AssertionError("breakeven_refits rows differ from breakeven_table's")  # a bug, not a user error
        k = refits.ratio.shape[1]
        names = {"lo": "ratio_lo", "hi": "ratio_hi", "lo_mc": "ratio_lo_mc", "hi_mc": "ratio_hi_mc"}
        for key in ivs[0]:
            point[names.get(key, key)] = np.concatenate([iv[key] for iv in ivs])
        counts = refits.contest_counts()
        point["n_draws"] = np.concatenate([counts, np.full(pooled.shape[1], len(take))]).astype(int)
        with np.errstate(invalid="ignore"):
            p_win = refits.share(refits.lead > point.margin.to_numpy(float)[None, :k] + TIE)
        point["p_win"] = np.concatenate([p_win, np.full(pooled.shape[1], np.nan)])
        if claims:
            claim = point.method.map(claims).to_numpy(float)
            with np.errstate(invalid="ignore"):
                point["p_within_claim"] = np.concatenate([refits.share(refits.ratio <= claim[None, :k]),
                                                          np.mean(pooled <= claim[None, k:], axis=0)])
        point["n_boot"] = np.concatenate([counts, [int(n_of[u].max()) for u in uses]]).astype(int)
        point["seed"] = seed
    point["verdict"] = [verdict(p) for p in point.get("p_win", pd.Series(np.nan, index=point.index))]
    # model-free, but held to this form's noise margins: labelled with the form
    pareto = pareto_breakeven(fitted.runs_, margin_table, methods, seed=seed, level=level).assign(form=fitted.form.name)
    out = pd.concat([point, pareto], ignore_index=True)
    out["margin_source"] = margin_table.margin_source.iloc[0]
    if claims:
        out["paper_claim"] = out.method.map(claims)
    order = {d: i for i, d in enumerate(DEFINITIONS)}
    out = out.sort_values(["definition", "method"], key=lambda s: s.map(order) if s.name == "definition" else s,
                          kind="stable").reset_index(drop=True)
    lead = ["definition", "task", "train_model", "method", "form", "ratio", "ratio_lo", "ratio_hi"]
    return out[[c for c in lead if c in out] + [c for c in out.columns if c not in lead]]
