"""Measured and analytic break-even ratios on a ladder of selector sizes and training sizes.

A *ladder* is a runs table in which a model-based selector (PPL, LESS) runs at several selector sizes and
several models are trained, every point with several seeds. Selector size is kept throughout: an **arm** is one
(method, selector model), e.g. ``less@tiny-s``; model-free methods (random, BM25) are arms of their own.

* **Measured break-even.** Per training model (panel) and arm, the seed-mean metric of each fraction and its
  total compute (selection + training FLOPs) give a step curve "best metric reachable with at most B FLOPs".
  The base model's zero-shot metric is a point of every curve at 0 FLOPs. An arm *wins* a panel when at some
  budget its curve beats every other arm's (and the zero-shot point) by more than the noise margin,
  ``z x sqrt(se_mine^2 + se_theirs^2)`` with the standard errors of the seed means. Its **measured ratio** is the
  smallest train-to-selector ratio N_train / N_sel on the ladder at which it wins; the largest ratio below it at
  which it does not win brackets the crossing from below. A seed bootstrap (seeds resampled within every point)
  gives its interval and a win probability per panel. ``inf``: it never wins within the ladder.
* **Analytic break-even** on the same runs: ``costlaw.breakeven`` on curves fitted per arm, with the zero-shot
  level P0 fixed to the measured ``base_metric`` (form ``offset_exp_anchored``): the smallest ratio at which the
  arm's fitted curve wins somewhere, per panel, with bootstrap intervals.
* **Selector-size surface.** ``offset_exp_selector_anchored``: metric as a function of the selected share f and
  log10(selector params) (each method's rate k linear in it), P0 anchored; scored by leaving one selector size
  out at a time and predicting it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from . import breakeven as be
from .curves import OFFSET_EXP, PANEL, Param, register_form
from .datasets import PAPER_CLAIMED_RATIO
from .errors import InputError
from .fitting import fit
from .frontier import CHEAP_METHODS, method_curves, panel_curves

Z_ONE_SIDED_95 = 1.6448536269514722
"""Default noise margin multiplier: a one-sided 95% normal quantile on the difference of two seed means."""
ZERO_SHOT = "zero-shot"
"""Arm name of the base model's point at 0 FLOPs."""


def _base_level(rows: pd.DataFrame, all_rows: pd.DataFrame) -> float:
    if "base_metric" not in rows or rows.base_metric.isna().all():
        raise InputError("P0 is anchored to the zero-shot metric: the runs need a 'base_metric' column")
    return float(rows.base_metric.median())


ANCHORED = register_form(replace(
    OFFSET_EXP, name="offset_exp_anchored",
    params=(Param("P0", fixed=_base_level, doc="zero-shot level: the base model's measured metric"),)
    + OFFSET_EXP.params[1:],
    doc="offset_exp with P0 fixed to the measured zero-shot metric (column base_metric) of each panel."))
ANCHORED_SELECTOR = register_form(replace(
    ANCHORED.share("offset_exp_selector_anchored", k="selector_size"), selector_size_dependence=True,
    doc="offset_exp_anchored with each method's rate k linear in log10(selector_params): a 2-D utility "
        "surface in (selected share, selector size)."))


def arm_names(runs: pd.DataFrame) -> pd.Series:
    """``method@selector_model`` for model-based runs (``selector_params`` > 0), ``method`` otherwise."""
    sel = runs.get("selector_model", pd.Series("", index=runs.index)).fillna("").astype(str)
    fallback = runs.selector_params.map(lambda p: f"{p:.3g}")
    label = sel.where(sel != "", fallback)
    return runs.method.where(runs.selector_params <= 0, runs.method + "@" + label)


def is_ladder(runs: pd.DataFrame) -> bool:
    """Whether ``runs`` hold a selector-size ladder: some model-based method at >= 2 selector sizes, >= 2
    training models and a measured zero-shot metric."""
    model_based = runs[runs.selector_params > 0]
    return bool(len(model_based) and model_based.groupby("method").selector_params.nunique().max() >= 2
                and runs.train_model.nunique() >= 2 and "base_metric" in runs and runs.base_metric.notna().all())


def seed_points(runs: pd.DataFrame) -> pd.DataFrame:
    """Seed means per (panel, arm, fraction): n_seeds, metric (mean), metric_sd, metric_se, FLOP columns (mean).

    ``fraction_nominal`` (the harness's requested share) groups the seeds when present, else ``fraction``.
    """
    runs = runs.assign(arm=arm_names(runs))
    key = "fraction_nominal" if "fraction_nominal" in runs else "fraction"
    cols = list(PANEL) + ["train_params", "arm", "method", "selector_params", key]
    g = runs.groupby(cols, sort=True)
    out = g.agg(n_seeds=("metric", "size"), metric=("metric", "mean"), metric_sd=("metric", "std"),
                fraction_mean=("fraction", "mean"), selection_flops=("selection_flops", "mean"),
                train_flops=("train_flops", "mean"), total_flops=("total_flops", "mean"),
                base_metric=("base_metric", "median") if "base_metric" in runs else ("metric", "size"),
                ).reset_index()
    out["metric_sd"] = out.metric_sd.fillna(0.0)
    out["metric_se"] = out.metric_sd / np.sqrt(out.n_seeds)
    out["ratio"] = np.where(out.selector_params > 0, out.train_params / out.selector_params.where(out.selector_params > 0, 1),
                            np.nan)
    return out.rename(columns={key: "fraction_key"})


# ------------------------------------------------------------------------------------------------------------
# Measured frontier and wins

def _step_best(costs: np.ndarray, values: np.ndarray, ses: np.ndarray, budgets: np.ndarray):
    """Best value (and its se) among points with cost <= budget, per budget (-inf where none is affordable)."""
    order = np.argsort(costs, kind="stable")
    c, v, s = costs[order], values[order], ses[order]
    best_idx = np.maximum.accumulate(np.where(v >= np.maximum.accumulate(v), np.arange(len(v)), 0)) if len(v) else v
    pos = np.searchsorted(c, budgets, side="right") - 1
    ok = pos >= 0
    val = np.where(ok, v[best_idx[np.clip(pos, 0, None)]] if len(v) else 0, -np.inf)
    se = np.where(ok, s[best_idx[np.clip(pos, 0, None)]] if len(v) else 0, 0.0)
    return val, se


@dataclass
class _Panel:
    """One training model's arms as arrays: per arm the points' costs, seed matrices and seed means."""

    task: str
    train_model: str
    train_params: float
    base_metric: float
    arms: dict  # arm -> dict(costs, seeds: list of arrays, method, selector_params)

    def budgets(self) -> np.ndarray:
        return np.unique(np.concatenate([[0.0]] + [a["costs"] for a in self.arms.values()]))

    def means(self, draws=None):
        """Per arm (means, ses); ``draws`` maps arm -> list of index arrays resampling each point's seeds. The
        standard errors are always those of all seeds (a resample of 3 seeds would often understate them)."""
        out = {}
        for name, a in self.arms.items():
            m, s = [], []
            for j, seeds in enumerate(a["seeds"]):
                x = seeds if draws is None else seeds[draws[name][j]]
                m.append(x.mean())
                s.append(seeds.std(ddof=1) / np.sqrt(len(seeds)) if len(seeds) > 1 else 0.0)
            out[name] = (np.array(m), np.array(s))
        return out

    def wins(self, z: float, against: str = "all", draws=None) -> dict:
        """arm -> (wins, best gap over the others minus the margin, budget of that gap) for model-based arms."""
        stats = self.means(draws)
        budgets = self.budgets()
        curves = {name: _step_best(a["costs"], *stats[name], budgets) for name, a in self.arms.items()}
        zero = (np.full(len(budgets), self.base_metric), np.zeros(len(budgets)))
        out = {}
        for name, a in self.arms.items():
            if a["selector_params"] <= 0:
                continue
            others = [curves[o] for o, b in self.arms.items() if o != name
                      and (against == "all" or b["method"] in CHEAP_METHODS or b["selector_params"] <= 0)] + [zero]
            vals = np.stack([o[0] for o in others])
            ses = np.stack([o[1] for o in others])
            best = np.argmax(vals, axis=0)
            cols = np.arange(len(budgets))
            theirs, theirs_se = vals[best, cols], ses[best, cols]
            mine, mine_se = curves[name]
            gap = mine - theirs - z * np.sqrt(mine_se ** 2 + theirs_se ** 2)
            gap = np.where(np.isfinite(mine), gap, -np.inf)
            i = int(np.argmax(gap))
            out[name] = (bool(gap[i] > 0), float(gap[i]), float(budgets[i]))
        return out


def _panels(runs: pd.DataFrame) -> list[_Panel]:
    runs = runs.assign(arm=arm_names(runs))
    key = "fraction_nominal" if "fraction_nominal" in runs else "fraction"
    out = []
    for (task, model), g in runs.groupby(list(PANEL), sort=False):
        arms = {}
        for arm, a in g.groupby("arm", sort=True):
            pts = a.groupby(key, sort=True)
            arms[arm] = {"costs": pts.total_flops.mean().to_numpy(float),
                         "seeds": [p.metric.to_numpy(float) for _, p in pts],
                         "method": a.method.iloc[0], "selector_params": float(a.selector_params.iloc[0])}
        base = float(g.base_metric.median()) if "base_metric" in g else -np.inf
        out.append(_Panel(task, model, float(g.train_params.iloc[0]), base, arms))
    return out


def measured_frontier(runs: pd.DataFrame) -> pd.DataFrame:
    """The measured compute-optimal frontier per panel: at every budget that some point costs, the arm whose
    seed-mean metric is best among the points that budget affords. Columns task, train_model, train_params,
    budget_flops, best_arm, metric, metric_se (zero-shot at 0 FLOPs)."""
    rows = []
    for p in _panels(runs):
        stats = p.means()
        budgets = p.budgets()
        names = [ZERO_SHOT] + list(p.arms)
        vals = [np.full(len(budgets), p.base_metric)] + [_step_best(a["costs"], *stats[n], budgets)[0]
                                                         for n, a in p.arms.items()]
        ses = [np.zeros(len(budgets))] + [_step_best(a["costs"], *stats[n], budgets)[1] for n, a in p.arms.items()]
        vals, ses = np.stack(vals), np.stack(ses)
        best = np.argmax(vals, axis=0)
        cols = np.arange(len(budgets))
        rows.append(pd.DataFrame({"task": p.task, "train_model": p.train_model, "train_params": p.train_params,
                                  "budget_flops": budgets, "best_arm": np.array(names)[best],
                                  "metric": vals[best, cols], "metric_se": ses[best, cols]}))
    return pd.concat(rows, ignore_index=True)


def _ladder_ratio(ratios: np.ndarray, wins: np.ndarray) -> tuple[float, float]:
    """(smallest ratio that wins, largest smaller ratio that does not win) of one arm's panels."""
    order = np.argsort(ratios)
    r, w = ratios[order], wins[order]
    if not w.any():
        return float("inf"), float(r.max()) if len(r) else float("nan")
    first = int(np.argmax(w))
    return float(r[first]), float(r[first - 1]) if first > 0 else float("nan")


def measured_breakeven(runs: pd.DataFrame, z: float = Z_ONE_SIDED_95, against: str = "all", n_boot: int = 200,
                       seed: int = 0, level: float = 0.9) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measured break-even per model-based arm, and wins per (panel, arm).

    Returns (ratios, wins). ``ratios``: method, arm, selector_params, measured_ratio (smallest ladder ratio that
    wins; inf if none), below_ratio (largest smaller ratio that does not win), measured_lo / measured_hi
    (percentile interval over ``n_boot`` seed bootstraps), ladder_lo / ladder_hi (the ladder's ratio range).
    ``wins``: task, train_model, arm, ratio, wins, gap (best gap minus margin, metric units), budget_flops,
    win_probability (share of bootstraps in which it wins). ``against``: ``all`` other arms, or only the
    ``cheap`` ones (model-free methods); the zero-shot point is always an opponent.
    """
    if against not in ("all", "cheap"):
        raise InputError(f"against must be 'all' or 'cheap', got {against!r}")
    panels = _panels(runs)
    rng = np.random.default_rng(seed)
    rows = []
    for p in panels:
        for arm, (won, gap, budget) in p.wins(z, against).items():
            rows.append({"task": p.task, "train_model": p.train_model, "train_params": p.train_params, "arm": arm,
                         "method": p.arms[arm]["method"], "selector_params": p.arms[arm]["selector_params"],
                         "ratio": p.train_params / p.arms[arm]["selector_params"], "wins": won, "gap": gap,
                         "budget_flops": budget})
    wins = pd.DataFrame(rows)
    if wins.empty:
        raise InputError("no model-based selector runs (selector_params > 0) to measure a break-even for")
    boot_wins = np.zeros((n_boot, len(wins)), dtype=bool)
    for b in range(n_boot):
        col = 0
        for p in panels:
            draws = {name: [rng.integers(0, len(s), len(s)) for s in a["seeds"]] for name, a in p.arms.items()}
            res = p.wins(z, against, draws)
            for arm in res:
                boot_wins[b, col] = res[arm][0]
                col += 1
    wins["win_probability"] = boot_wins.mean(axis=0) if n_boot else np.nan
    out = []
    alpha = (1 - level) / 2
    for (task, arm), g in wins.groupby(["task", "arm"], sort=False):
        ratio, below = _ladder_ratio(g.ratio.to_numpy(), g.wins.to_numpy())
        samples = [_ladder_ratio(g.ratio.to_numpy(), boot_wins[b, g.index.to_numpy()])[0] for b in range(n_boot)]
        lo, hi = (np.quantile(samples, [alpha, 1 - alpha], method="inverted_cdf") if n_boot else (np.nan, np.nan))
        out.append({"task": task, "method": g.method.iloc[0], "arm": arm, "selector_params": g.selector_params.iloc[0],
                    "measured_ratio": ratio, "below_ratio": below, "measured_lo": float(lo), "measured_hi": float(hi),
                    "ladder_lo": float(g.ratio.min()), "ladder_hi": float(g.ratio.max()),
                    "n_panels": len(g), "n_wins": int(g.wins.sum())})
    return pd.DataFrame(out), wins


# ------------------------------------------------------------------------------------------------------------
# Analytic break-even on the same runs

def _arm_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with ``method`` replaced by the arm name (one fitted curve per method and selector size)."""
    return runs.assign(method=arm_names(runs))


def analytic_table(fitted, model_based, cheap, against: str = "all", n_grid: int = 600) -> pd.DataFrame:
    """Analytic break-even per (panel, model-based arm) of a fit to arm-labelled runs: the largest selection cost
    at which the arm's fitted curve still wins somewhere (``breakeven.breakeven_selection_flops``) against every
    other arm (``all``) or the model-free ones (``cheap``), as a ratio N_train / (that cost / cost per selector
    parameter)."""
    rows = []
    for (task, model), curves in panel_curves(method_curves(fitted, n_grid=n_grid)).items():
        for curve in curves:
            if curve.method not in model_based:
                continue
            others = [c for c in curves if c.method != curve.method and (against == "all" or c.method in cheap)]
            g = fitted.runs_[(fitted.runs_.train_model == model) & (fitted.runs_.method == curve.method)]
            n_sel = float(g.selector_params.median())
            per_param = curve.selection_flops / n_sel
            sel_star = be.breakeven_selection_flops(curve, others) if others else float("inf")
            rows.append({"task": task, "train_model": model, "arm": curve.method, "selector_params": n_sel,
                         "actual_ratio": curve.train_params / n_sel,
                         "ratio": curve.train_params / (sel_star / per_param) if sel_star > 0 else float("inf"),
                         "breakeven_selection_flops": sel_star})
    return pd.DataFrame(rows)


def analytic_breakeven(runs: pd.DataFrame, form=ANCHORED, against: str = "all", n_boot: int = 0, seed: int = 0,
                       level: float = 0.9, fitted=None) -> pd.DataFrame:
    """Analytic break-even per (panel, model-based arm) on curves fitted per arm (P0 anchored to the zero-shot
    metric): columns task, train_model, arm, method, selector_params, actual_ratio, ratio (N_train / N_sel at
    break-even; inf = never), breakeven_selection_flops, and ratio_lo / ratio_hi from ``n_boot`` bootstrap refits.
    ``fitted``: a fit of ``form`` to the arm-labelled runs, to reuse."""
    arm_runs = _arm_runs(runs)
    model_based = set(arm_runs.method[runs.selector_params > 0])
    cheap = set(arm_runs.method[runs.selector_params <= 0])
    fitted = fit(arm_runs, form) if fitted is None else fitted
    point = analytic_table(fitted, model_based, cheap, against)
    if n_boot > 0:
        from .uncertainty import bootstrap

        boot = bootstrap(fitted, n_boot=n_boot, seed=seed, level=level)
        ints = boot.interval(lambda f: analytic_table(f, model_based, cheap, against)[["ratio"]])
        point["ratio_lo"], point["ratio_hi"] = ints.ratio_lo.to_numpy(), ints.ratio_hi.to_numpy()
    point.insert(3, "method", point.arm.str.split("@").str[0])
    return point


def analytic_ladder_ratio(analytic: pd.DataFrame, column: str = "ratio") -> pd.DataFrame:
    """Per (task, arm): the analytic prediction of the measured ratio (the smallest ladder ratio N_train / N_sel
    that is at least that panel's analytic break-even) and the median analytic ratio over panels."""
    out = []
    for (task, arm), g in analytic.groupby(["task", "arm"], sort=False):
        wins = g.actual_ratio.to_numpy() >= g[column].to_numpy()
        out.append({"task": task, "arm": arm, "analytic_ladder_ratio": _ladder_ratio(g.actual_ratio.to_numpy(), wins)[0],
                    "analytic_median": float(np.median(g[column].to_numpy()))})
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------------------------------------
# The 2-D surface in (selected share, selector size)

def selector_surface(runs: pd.DataFrame, form=ANCHORED_SELECTOR, baseline=ANCHORED):
    """Fit the (selected share, selector size) surface and score it on held-out selector sizes.

    For every selector size of the model-based methods, the surface is fitted without that size's runs and
    predicts them (seed means). Returns (fit on all runs, held-out table: held_out (selector model),
    selector_params, method, n_points, rmse, rmse_pooled (a per-method curve that ignores selector size, fitted
    on the same runs), noise_se (rms standard error of the held-out seed means), extrapolates (the size lies
    outside the fitted sizes)).
    """
    full = fit(runs, form)
    sizes = sorted(runs.selector_params[runs.selector_params > 0].unique())
    points = seed_points(runs)
    rows = []
    for size in sizes:
        held = runs.selector_params == size
        train = runs[~held]
        left = sorted(train.selector_params[train.selector_params > 0].unique())
        if not left:
            continue
        test = points[points.selector_params == size]
        grid = test.assign(fraction=test.fraction_mean)
        name = str(runs.loc[held, "selector_model"].iloc[0]) if "selector_model" in runs else f"{size:.3g}"
        surface = fit(train, form)
        pooled = fit(train.assign(selector_params=np.where(train.selector_params > 0, size, 0.0)), baseline)
        for method, t in grid.groupby("method", sort=False):
            if method not in set(train.method[train.selector_params > 0]):
                continue
            err = surface.predict(t) - t.metric.to_numpy()
            err_pooled = pooled.predict(t.assign(selector_params=size)) - t.metric.to_numpy()
            rows.append({"held_out": name, "selector_params": size, "method": method, "n_points": len(t),
                         "rmse": float(np.sqrt(np.mean(err ** 2))),
                         "rmse_pooled": float(np.sqrt(np.mean(err_pooled ** 2))),
                         "noise_se": float(np.sqrt(np.mean(t.metric_se ** 2))),
                         "extrapolates": bool(size < min(left) or size > max(left))})
    return full, pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------------------
# Everything together

AGAINST = {"cheap": "the model-free arms (random, BM25) and zero-shot",
           "all": "every other arm (other selector sizes included) and zero-shot"}
"""Who an arm must beat, by name of the comparison."""


@dataclass
class RatioAnalysis:
    """Measured against analytic break-even ratios on a ladder; ``summary()`` is the side-by-side table.

    ``wins``, ``measured`` and ``analytic`` hold both comparisons (column ``against``: ``cheap`` or ``all``)."""

    points: pd.DataFrame
    frontier: pd.DataFrame
    wins: pd.DataFrame
    measured: pd.DataFrame
    analytic: pd.DataFrame
    surface_heldout: pd.DataFrame = field(default_factory=pd.DataFrame)
    z: float = Z_ONE_SIDED_95
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Fitted curves per (trained model, arm) of ``offset_exp_anchored`` (fraction, total_flops, metric_pred)."""

    def summary(self) -> pd.DataFrame:
        """Per (against, task, arm): measured ratio [interval] beside the analytic one and the paper's claim."""
        out = []
        for against, measured in self.measured.groupby("against", sort=False):
            analytic = self.analytic[self.analytic.against == against]
            ladder = analytic_ladder_ratio(analytic)
            ints = (analytic.groupby(["task", "arm"], sort=False)
                    .agg(analytic_lo=("ratio_lo", "median"), analytic_hi=("ratio_hi", "median")).reset_index()
                    if "ratio_lo" in analytic else pd.DataFrame(columns=["task", "arm", "analytic_lo", "analytic_hi"]))
            out.append(measured.merge(ladder, on=["task", "arm"], how="left").merge(ints, on=["task", "arm"], how="left"))
        out = pd.concat(out, ignore_index=True)
        out["paper_claim"] = out.method.map(PAPER_CLAIMED_RATIO)
        return out.sort_values(["against", "task", "method", "selector_params"], kind="stable").reset_index(drop=True)

    def tables(self) -> dict:
        return {"ratio": self.summary(), "ratio_points": self.points, "ratio_frontier": self.frontier,
                "ratio_wins": self.wins, "ratio_analytic": self.analytic, "ratio_surface": self.surface_heldout,
                "ratio_curves": self.curves}

    def report(self) -> str:
        s = self.summary()

        def fmt(v):
            return "-" if pd.isna(v) else "inf" if np.isinf(v) else f"{v:.3g}"

        lines = [f"Break-even train-to-selector ratio N_train / N_sel per selector size. Measured: the smallest ratio on "
                 f"the ladder at which the arm beats its opponents at some budget by more than {self.z:.2f} x the "
                 f"standard error of the seed means [90% seed-bootstrap interval]; analytic: costlaw's break-even on "
                 f"offset_exp_anchored fits of the same runs (median over training sizes [median bootstrap interval])."]
        for against, g in s.groupby("against", sort=False):
            lines.append(f"\nagainst {AGAINST[against]}:")
            table = pd.DataFrame({
                "method": g.method, "selector": g.arm.str.split("@").str[1],
                "N_sel": g.selector_params.map(lambda v: f"{v:.3g}"),
                "ladder": [f"{fmt(a)}-{fmt(b)}" for a, b in zip(g.ladder_lo, g.ladder_hi)],
                "measured": [f"{fmt(r)} [{fmt(lo)}, {fmt(hi)}]" for r, lo, hi in zip(g.measured_ratio, g.measured_lo,
                                                                                  g.measured_hi)],
                "loses_at": g.below_ratio.map(fmt),
                "analytic": [fmt(r) + (f" [{fmt(lo)}, {fmt(hi)}]" if pd.notna(lo) else "")
                             for r, lo, hi in zip(g.analytic_median, g.analytic_lo, g.analytic_hi)],
                "analytic_on_ladder": g.analytic_ladder_ratio.map(fmt),
                "paper": g.paper_claim.map(lambda v: f"{v:g}x" if pd.notna(v) else "-"),
            })
            lines.append(table.to_string(index=False))
        lines.append("  measured: inf = never within the ladder; loses_at: the largest smaller ladder ratio at which it "
                     "does not win; analytic_on_ladder: the smallest ladder ratio at which the fitted curves say it wins.")
        if len(self.surface_heldout):
            lines.append("\nSelector-size surface (offset_exp_selector_anchored) on held-out selector sizes: RMSE of seed "
                         "means (metric points) against a curve per method that ignores selector size (rmse_pooled):")
            lines.append(self.surface_heldout.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        return "\n".join(lines)


def ratio_analysis(runs: pd.DataFrame, z: float = Z_ONE_SIDED_95, n_boot: int = 200, n_boot_fit: int = 0,
                   seed: int = 0, surface: bool = True) -> RatioAnalysis:
    """Measured and analytic break-even per (method, selector size), against the model-free arms and against
    every arm; the measured frontier; the selector-size surface's held-out error. ``n_boot``: seed bootstraps of
    the measured ratio; ``n_boot_fit``: bootstrap refits for the analytic intervals (slower)."""
    if not is_ladder(runs):
        raise InputError("a ratio analysis needs a ladder: a model-based method at >= 2 selector sizes, >= 2 "
                         "training models and the zero-shot metric in column base_metric")
    fitted = fit(_arm_runs(runs), ANCHORED)
    measured, wins, analytic = [], [], []
    for against in AGAINST:
        m, w = measured_breakeven(runs, z, against, n_boot, seed)
        measured.append(m.assign(against=against))
        wins.append(w.assign(against=against))
        analytic.append(analytic_breakeven(runs, against=against, n_boot=n_boot_fit, seed=seed, fitted=fitted)
                        .assign(against=against))
    held = selector_surface(runs)[1] if surface else pd.DataFrame()
    curves = fitted.curve_table(60).rename(columns={"method": "arm"})
    return RatioAnalysis(seed_points(runs), measured_frontier(runs), pd.concat(wins, ignore_index=True),
                         pd.concat(measured, ignore_index=True), pd.concat(analytic, ignore_index=True), held, z,
                         curves)
