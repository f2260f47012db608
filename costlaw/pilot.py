"""Pilot-anchored forecasts for a training size nobody has run: anchor the level on cheap pilot runs at the new
size, transfer each method's gain from the measured sizes.

Log-linear extrapolation of levels from two sizes misses a third by several points (``compare``'s
``extrapolate_size``). A practitioner can cheaply measure the new model itself: one pilot run (e.g. random
selection on 2.5% of the pool) fixes its level. The gain of method m at fraction f over the pilot configuration,
G_s(m, f) = P_s(m, f) - P_s(pilot), is read off per-panel fits at each measured size s and transferred by a rule:

- ``headroom``: the gain as a share of the headroom to the metric's ceiling C (100 for accuracy in points),
  g = G_s / (C - P0_s), is constant across sizes; at the new size P = P0 + mean_s(g) (C - P0);
- ``absolute``: the gain in points is constant across sizes, P = P0 + mean_s(G_s);
- ``loglinear``: the gain is linear in log10 N_train across the measured sizes (needs two), extrapolated;
- ``pilot``: no gain transferred, P = P0 (the baseline to beat).

P0, the new size's level at the pilot configuration, is solved from each pilot run under the rule and averaged
over pilots. ``rule="auto"`` picks the rule with the lowest held-out error when each measured size is predicted
from the others anchored on its own pilot-configuration run (leave one size out); with two measured sizes that
choice is noisy, so the default is ``headroom``, the rule that wins ``costlaw compare --protocol
extrapolate_size_pilot`` on the paper's runs (70B from 7B + 13B).

Intervals (normal, ``level``) have variance sigma^2 (1 + 1/n_pilots) + s^2 / k:

- sigma^2 (1 + 1/n_pilots): the new run's noise plus the pilots' mean (the anchor moves every forecast with it).
  sigma is the run-to-run noise of the measured panels (``costlaw.noise``): the pooled seed sd where the runs
  repeat seeds, else the **smallest** residual sd over the measured panels. A residual sd is noise plus lack of fit,
  so each panel's is an upper bound on the noise; with the noise taken as common to all sizes, the smallest bound is
  the least contaminated estimate (one badly fitted panel, e.g. the paper's BBH 13B at 1.0 points against 0.23 and
  0.28, would otherwise set the noise of every forecast).
- s^2 / k: the standard error of the transferred gain. The rule says the gain (share of headroom, or points) is one
  number for all sizes; each of the k measured sizes gives an estimate of it, and the forecast uses their mean, so
  its uncertainty is s / sqrt(k), s the sd over the k sizes of the forecast made from each size alone (0 with one
  size). Where sizes differ for real (the rule does not hold), this under-states the error; the held-out
  coverage below is the check.

Measured with ``costlaw compare paper --protocol extrapolate_size_pilot`` (70B from 7B + 13B, one pilot): 90%
coverage 97% (the earlier rule, RMS panel noise plus the full spread s, gave 100%: too wide). The other
directions, by swapping which size is held out: 7B from 13B + 70B 95% (was 100%); 13B from 7B + 70B 21% (was
22%): BBH 13B departs from both neighbours by about 5 points, which no spread between 7B and 70B can announce.

For metrics where lower is better (``higher_is_better=False``, e.g. a loss), headroom is measured to the floor
``ceiling`` (default 0) instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from .errors import InputError

from .pilot_rules import RULES  # noqa: E402  (the names live where the command line reads them without pandas)
DEFAULT_RULE = "headroom"
"""The transfer rule that wins the held-out comparison on the paper's runs (``extrapolate_size_pilot``)."""
DEFAULT_PILOT = ("random", 0.025)
"""The cheapest informative pilot: random selection on 2.5% of the pool (the paper's smallest fraction)."""


@dataclass(frozen=True)
class Pilot:
    """One measured run at the new size: its selection method, fraction of the pool and metric."""

    method: str
    fraction: float
    metric: float


def parse_pilot(text: str) -> Pilot:
    """``METHOD:FRACTION:METRIC`` (e.g. ``random:0.025:52.3``) -> Pilot."""
    parts = str(text).split(":")
    if len(parts) != 3:
        raise InputError(f"--pilot wants METHOD:FRACTION:METRIC (e.g. random:0.025:52.3), got '{text}'")
    method, fraction, metric = parts
    try:
        f, y = float(fraction), float(metric)
    except ValueError:
        raise InputError(f"--pilot '{text}': FRACTION and METRIC must be numbers") from None
    if not (0 < f <= 2) or not np.isfinite(y):
        raise InputError(f"--pilot '{text}': FRACTION must be in (0, 2] and METRIC finite")
    return Pilot(method.strip().lower(), f, y)


def pilots_from_runs(runs: pd.DataFrame) -> list:
    """Pilots from a runs table (every row one pilot)."""
    return [Pilot(str(m), float(f), float(y)) for m, f, y in zip(runs.method, runs.fraction, runs.metric)]


class PilotTransfer:
    """Per-panel fits of one task's measured sizes, ready to transfer gains to a new size anchored on pilots."""

    def __init__(self, runs: pd.DataFrame, task: str | None = None, form: str = "offset_exp",
                 ceiling: float | None = None, higher_is_better: bool | None = None, level: float = 0.9):
        from .fitting import fit
        tasks = list(pd.unique(runs.task))
        task = task or tasks[0]
        if task not in tasks:
            raise InputError(f"no runs for task '{task}'; the runs have {', '.join(tasks)}")
        self.task, self.level = task, level
        self.runs = runs[runs.task == task].reset_index(drop=True)
        self.sizes = np.array(sorted(self.runs.train_params.unique()), float)
        if len(self.sizes) < 1:
            raise InputError("pilot forecasts need runs of at least one measured size")
        if higher_is_better is None:
            from .schema import higher_is_better as direction
            higher_is_better = direction(self.runs)[task]
        self.higher_is_better = bool(higher_is_better)
        self.ceiling = float(ceiling if ceiling is not None else (100.0 if higher_is_better else 0.0))
        import warnings
        from .errors import CostlawWarning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CostlawWarning)
            self.fit = fit(self.runs, form)
        self.methods = list(pd.unique(self.runs.method))
        self._cache: dict = {}

    # ---- curves at measured sizes -------------------------------------------------------------------------
    def level_at(self, size: float, method: str, fraction) -> np.ndarray:
        """The per-panel fit's metric at a measured size (metric units)."""
        frac = np.atleast_1d(np.asarray(fraction, float))
        key = (float(size), method, frac.tobytes())
        if key not in self._cache:
            self._cache[key] = self._level_at(size, method, frac)
        return self._cache[key]

    def _level_at(self, size: float, method: str, fraction) -> np.ndarray:
        rows = self.runs[np.isclose(self.runs.train_params, size) & (self.runs.method == method)]
        if rows.empty:
            raise InputError(f"no runs of method '{method}' at {size:.3g} parameters for task '{self.task}'")
        frac = np.atleast_1d(np.asarray(fraction, float))
        head = rows.iloc[[0] * len(frac)].reset_index(drop=True)
        full = float(np.median(rows.train_flops / rows.fraction))
        sel = float(np.median(rows.selection_flops))
        head = head.assign(fraction=frac, train_flops=frac * full, selection_flops=sel, total_flops=sel + frac * full)
        return self.fit.predict(head)

    def _headroom(self, p0):
        return (self.ceiling - p0) if self.higher_is_better else (p0 - self.ceiling)

    def gains(self, sizes, pilot: Pilot, method: str, fraction) -> np.ndarray:
        """G_s (sizes x fractions): the gain of (method, fraction) over the pilot configuration at each size."""
        return np.stack([self.level_at(s, method, fraction) - self.level_at(s, pilot.method, [pilot.fraction])[0]
                         for s in sizes])

    # ---- transfer ------------------------------------------------------------------------------------------
    def _predict(self, rule: str, sizes, pilots: list, new_size: float, method: str, fraction) -> np.ndarray:
        """Point prediction at ``new_size`` from the measured ``sizes`` anchored on ``pilots``."""
        frac = np.atleast_1d(np.asarray(fraction, float))
        anchors = []
        for pilot in pilots:
            ref = pilots[0]
            g_pilot = self.gains(sizes, ref, pilot.method, [pilot.fraction])[:, 0]   # the pilot's own gain
            anchors.append(self._solve_p0(rule, sizes, ref, g_pilot, pilot.metric, new_size))
        p0 = float(np.mean(anchors))
        g = self.gains(sizes, pilots[0], method, frac)                                  # sizes x fractions
        return self._apply(rule, sizes, pilots[0], g, p0, new_size)

    def _apply(self, rule, sizes, ref: Pilot, g: np.ndarray, p0: float, new_size: float) -> np.ndarray:
        if rule == "pilot":
            return np.full(g.shape[1], p0)
        if rule == "absolute":
            return p0 + g.mean(axis=0)
        if rule == "headroom":
            base = np.array([self.level_at(s, ref.method, [ref.fraction])[0] for s in sizes])
            share = g / self._headroom(base)[:, None]
            return p0 + share.mean(axis=0) * self._headroom(p0) * (1 if self.higher_is_better else -1)
        if rule == "loglinear":
            x = np.log10(sizes)
            if len(sizes) < 2:
                return p0 + g.mean(axis=0)
            slope, intercept = np.polyfit(x, g, 1)
            return p0 + intercept + slope * np.log10(new_size)
        raise InputError(f"unknown transfer rule '{rule}'; known: {', '.join(RULES)}, auto")

    def _solve_p0(self, rule, sizes, ref: Pilot, g_pilot: np.ndarray, y: float, new_size: float) -> float:
        """The level P0 at the reference pilot configuration that makes the rule reproduce a pilot's metric y
        (the prediction is linear in P0, so two evaluations solve it)."""
        a = self._apply(rule, sizes, ref, g_pilot[:, None], 0.0, new_size)[0]
        b = self._apply(rule, sizes, ref, g_pilot[:, None], 1.0, new_size)[0] - a
        return (y - a) / b if abs(b) > 1e-12 else y

    # ---- held-out choice and calibration ---------------------------------------------------------------------
    def holdout(self, rule: str, pilot_config=DEFAULT_PILOT) -> pd.DataFrame:
        """Leave one measured size out: predict its runs from the other sizes, anchored on its own run at the
        pilot configuration (observed, else fitted). Columns: train_params, method, fraction, metric, pred."""
        rows = []
        for s in self.sizes:
            rest = self.sizes[~np.isclose(self.sizes, s)]
            if len(rest) == 0 or (rule == "loglinear" and len(rest) < 2):
                continue
            panel = self.runs[np.isclose(self.runs.train_params, s)]
            at = panel[(panel.method == pilot_config[0]) & np.isclose(panel.fraction, pilot_config[1])]
            y = float(at.metric.mean()) if len(at) else float(self.level_at(s, *pilot_config)[0])
            pilot = Pilot(pilot_config[0], pilot_config[1], y)
            test = panel.drop(index=at.index)
            for method, g in test.groupby("method", sort=False):
                pred = self._predict(rule, rest, [pilot], s, method, g.fraction.to_numpy())
                rows.append(pd.DataFrame({"train_params": s, "method": method, "fraction": g.fraction.to_numpy(),
                                          "metric": g.metric.to_numpy(), "pred": pred}))
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    def choose_rule(self, pilot_config=DEFAULT_PILOT) -> tuple[str, pd.DataFrame]:
        """The rule with the lowest leave-one-size-out RMSE (``pilot`` when fewer than two sizes), and the table
        rule, heldout_rmse, n."""
        scores = []
        for rule in RULES:
            h = self.holdout(rule, pilot_config)
            if len(h):
                scores.append({"rule": rule, "heldout_rmse": float(np.sqrt(np.mean((h.pred - h.metric) ** 2))),
                               "n": len(h)})
        table = pd.DataFrame(scores, columns=["rule", "heldout_rmse", "n"])
        if table.empty:
            return "pilot", table
        return str(table.sort_values("heldout_rmse").rule.iloc[0]), table

    def forecast(self, new_size: float, pilots: list, methods=None, fractions=None, rule: str = DEFAULT_RULE,
                 new_model: str | None = None) -> pd.DataFrame:
        """Forecasts at ``new_size`` for every (method, fraction) asked (default: the measured ones), anchored on
        ``pilots`` (Pilot list). Columns task, train_model, train_params, method, fraction, metric_pred, pred_lo,
        pred_hi, rule, heldout_rmse, n_pilots."""
        if not pilots:
            raise InputError("pilot forecasts need at least one pilot run (--pilot METHOD:FRACTION:METRIC)")
        for p in pilots:
            if p.method not in self.methods:
                raise InputError(f"pilot method '{p.method}' has no runs at the measured sizes; known: "
                                 f"{', '.join(self.methods)}")
        cfg = (pilots[0].method, pilots[0].fraction)
        table = None
        if rule == "auto":
            rule, table = self.choose_rule(cfg)
        if rule not in RULES:
            raise InputError(f"unknown transfer rule '{rule}'; known: {', '.join(RULES)}, auto")
        if table is None:
            table = self.choose_rule(cfg)[1]
        row = table[table.rule == rule]
        rmse = float(row.heldout_rmse.iloc[0]) if len(row) else float("nan")
        z = NormalDist().inv_cdf(0.5 + self.level / 2)
        sigma = self.noise_sd()
        methods = list(methods or self.methods)
        out = []
        for m in methods:
            frac = np.atleast_1d(fractions if fractions is not None else
                                 np.sort(self.runs[self.runs.method == m].fraction.unique()))
            pred = self._predict(rule, self.sizes, pilots, new_size, m, frac)
            spread = self._transfer_sd(rule, pilots, new_size, m, frac)
            sd = np.sqrt(sigma ** 2 * (1 + 1 / len(pilots)) + spread ** 2 / len(self.sizes))  # module docstring
            out.append(pd.DataFrame({"task": self.task, "train_model": new_model or f"{new_size:.3g}",
                                     "train_params": new_size, "method": m, "fraction": frac, "metric_pred": pred,
                                     "pred_lo": pred - z * sd, "pred_hi": pred + z * sd, "pred_sd": sd,
                                     "rule": rule, "heldout_rmse": rmse, "n_pilots": len(pilots)}))
        return pd.concat(out, ignore_index=True)

    def noise_sd(self) -> float:
        """Run-to-run noise at the new size (metric units), from the measured panels (``costlaw.noise``): the
        pooled seed sd of the panels with repeated seeds, else the smallest residual sd (each residual sd is
        noise plus lack of fit, an upper bound on the noise; see the module docstring)."""
        from .noise import panel_noise
        noise = panel_noise(self.fit)
        seeds = noise[noise.noise_source == "seeds"]
        if len(seeds):
            return float(np.sqrt(np.sum(seeds.noise_dof * seeds.noise_sd ** 2) / np.sum(seeds.noise_dof)))
        return float(noise.noise_sd.min())

    def _transfer_sd(self, rule, pilots, new_size, method, frac) -> np.ndarray:
        """How much the transferred gain depends on which measured size it comes from: s, the sd over measured
        sizes of the prediction made from each size alone (0 with one size). The forecast's transfer standard
        error is s / sqrt(number of sizes)."""
        if len(self.sizes) < 2 or rule == "pilot":
            return np.zeros(len(frac))
        single = "absolute" if rule == "loglinear" else rule
        preds = np.stack([self._predict(single, self.sizes[[i]], pilots, new_size, method, frac)
                          for i in range(len(self.sizes))])
        return preds.std(axis=0, ddof=1)


def ranking_accuracy(table: pd.DataFrame, truth_col: str = "metric", pred_col: str = "metric_pred",
                     higher_is_better: bool = True) -> float:
    """Share of (task, fraction) groups where the predicted best method is the observed best."""
    hits = []
    for _, g in table.groupby(["task", "fraction"], sort=False):
        if g.method.nunique() < 2:
            continue
        pick = (g[pred_col].idxmax() if higher_is_better else g[pred_col].idxmin())
        best = (g[truth_col].idxmax() if higher_is_better else g[truth_col].idxmin())
        hits.append(g.method[pick] == g.method[best])
    return float(np.mean(hits)) if hits else float("nan")


def pilot_protocol(runs: pd.DataFrame, pilot_config=DEFAULT_PILOT, rule: str = DEFAULT_RULE, level: float = 0.9,
                   form: str = "offset_exp", held_out: float | None = None) -> tuple[dict, pd.DataFrame]:
    """``extrapolate_size_pilot``: per task, fit the other sizes, take the held-out size's run at the pilot
    configuration as the pilot, forecast its other runs. ``held_out`` (parameters) is the largest size by default
    (extrapolation); a smaller measured size checks the other directions. Returns (scores, per-run table)."""
    sizes = sorted(runs.train_params.unique())
    if len(sizes) < 2:
        raise InputError("extrapolate_size_pilot needs at least two training sizes")
    big = sizes[-1] if held_out is None else float(held_out)
    if not np.isclose(sizes, big).any():
        raise InputError(f"held-out size {big:.3g} is not a measured size; measured: "
                         f"{', '.join(f'{s:.3g}' for s in sizes)}")
    tables = []
    for task, g in runs.groupby("task", sort=False):
        here = np.isclose(g.train_params, big)
        train, test = g[~here], g[here]
        at = test[(test.method == pilot_config[0]) & np.isclose(test.fraction, pilot_config[1])]
        if at.empty or train.empty:
            continue
        transfer = PilotTransfer(train, task, form=form, level=level)
        pilots = [Pilot(pilot_config[0], pilot_config[1], float(y)) for y in at.metric]
        rest = test.drop(index=at.index)
        for m, h in rest.groupby("method", sort=False):
            fc = transfer.forecast(big, pilots, [m], h.fraction.to_numpy(), rule=rule,
                                   new_model=str(h.train_model.iloc[0]))
            tables.append(fc.assign(metric=h.metric.to_numpy()))
    table = pd.concat(tables, ignore_index=True)
    err = table.metric_pred - table.metric
    inside = (table.metric >= table.pred_lo) & (table.metric <= table.pred_hi)
    scores = {"n_heldout": len(table), "heldout_rmse": float(np.sqrt(np.mean(err ** 2))),
              "heldout_mae": float(np.mean(np.abs(err))), "coverage": float(inside.mean()),
              "ranking_accuracy": ranking_accuracy(table), "rule": ",".join(pd.unique(table.rule))}
    return scores, table


def pilot_forecast(runs: pd.DataFrame, train_params: float, pilots: list, fraction: float | None = None,
                   method: str | None = None, task: str | None = None, rule: str = DEFAULT_RULE,
                   form: str = "offset_exp", level: float = 0.9) -> pd.DataFrame:
    """Forecast a run at ``train_params`` anchored on ``pilots`` (measured there), from the measured sizes in
    ``runs`` (e.g. the runs behind a ``costlaw fit`` folder): one row per method (or ``method``) at ``fraction``
    (default: the measured fractions)."""
    transfer = PilotTransfer(runs, task, form=form, level=level)
    methods = [method] if method else None
    if method and method not in transfer.methods:
        raise InputError(f"no runs of method '{method}' for task '{transfer.task}'; known: "
                         f"{', '.join(transfer.methods)}")
    fractions = None if fraction is None else [fraction]
    return transfer.forecast(train_params, pilots, methods, fractions, rule=rule)
