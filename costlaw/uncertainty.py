"""Bootstrap uncertainty for fitted curves and everything derived from them.

Runs are resampled with replacement within each curve (task, train_model, method), so every curve keeps its
number of points. A resample changes only how often each run counts, never the design, so every replicate is the
point fit's design under multiplicity weights: all of them are solved together (``costlaw.fitting.refit``, a
batched Levenberg-Marquardt over (replicate, block) problems), warm-started from the point estimate, and share its
layout (bounds and data-derived fixed values, e.g. the paper's Pbar, stay the point fit's). Percentile intervals follow
for parameters, predictions, frontiers, break-even budgets and ratios. Prediction intervals add the panel's
residual noise (RSS / (n - k)) to the refitted curves, for comparison with new runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .bands import percentile_interval, prediction_band
from .checks import check_int
from .fitting import CurveFit, refit, replicate
from .noise import residual_noise_sd

CURVE_KEYS = ["task", "train_model", "method"]


def resample(runs: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Resample rows with replacement within each curve (task, train_model, method)."""
    groups = runs.groupby(CURVE_KEYS, sort=False).indices
    idx = np.concatenate([rng.choice(ix, size=len(ix), replace=True) for ix in groups.values()])
    return runs.iloc[idx]


def resample_counts(runs: pd.DataFrame, n_boot: int, rng: np.random.Generator, dtype=float) -> np.ndarray:
    """Multiplicity of each run in ``n_boot`` stratified resamples (n_boot x n_runs): the draws of ``resample``."""
    groups = runs.groupby(CURVE_KEYS, sort=False).indices.values()
    counts = np.zeros((n_boot, len(runs)), dtype)
    rep = np.arange(n_boot)[:, None]
    for ix in groups:
        draws = ix[rng.integers(0, len(ix), size=(n_boot, len(ix)))]
        np.add.at(counts, (np.broadcast_to(rep, draws.shape), draws), 1.0)
    return counts


BOOT_CHUNK_VALUES = 1_000_000
"""Most (refit, run) weights ``bootstrap`` solves at once (refits in chunks of this many over the runs): the batched
problems of a chunk take some 60 bytes a weight, about 60 MB, whatever the number of runs."""

quantiles = percentile_interval
"""Percentile interval along axis 0 without interpolating across inf (inverted CDF): ``bands.percentile_interval``."""


@dataclass
class Bootstrap:
    """A point fit and its bootstrap refits; interval methods take a confidence ``level`` (default 0.9)."""

    fit: CurveFit
    replicates: list
    seed: int
    level: float = 0.9
    converged: np.ndarray | None = None
    """Per replicate: whether its refit converged in every block."""

    @classmethod
    def from_dict(cls, group: dict) -> "Bootstrap":
        """From one group of a ``fit.json`` (``fit``, ``seed``, ``level``, ``replicates``: rows of entry values in
        the point fit's layout, ``converged``), as ``costlaw.store.save_fits`` writes it. Raises
        KeyError/TypeError/ValueError on a malformed group."""
        point = CurveFit.from_dict(group["fit"])
        values = np.asarray(group["replicates"], float).reshape(-1, len(point.x_))
        converged = None if group.get("converged") is None else np.asarray(group["converged"], bool)
        return cls(point, [replicate(point, v) for v in values], group["seed"], group["level"], converged)

    @property
    def n_boot(self) -> int:
        return len(self.replicates)

    @property
    def values(self) -> np.ndarray:
        """Entry values of every replicate (n_boot x n_entries), in the point fit's layout."""
        if not self.replicates:
            return np.empty((0, len(self.fit.x_)))
        return np.stack([r.x_ for r in self.replicates])

    def params(self) -> pd.DataFrame:
        """Every free parameter with its value, bootstrap se and percentile interval (lo, hi)."""
        table = self.fit.params_
        free = ~table.fixed.to_numpy()
        samples = self.values[:, free]
        table = table[free].copy()
        table["se"] = np.nanstd(samples, axis=0, ddof=1) if len(samples) > 1 else np.nan
        table["lo"], table["hi"] = quantiles(samples, self.level) if len(samples) else (np.nan, np.nan)
        keys = [c for c in ("task", "train_model", "method") if c in table.columns]
        return table[["param", "group", *keys, "kind", "value", "se", "lo", "hi", "at_bound"]].reset_index(drop=True)

    def interval(self, statistic) -> pd.DataFrame:
        """Apply ``statistic(CurveFit) -> DataFrame`` (same shape each time) to the point fit and every
        replicate; returns the point table with ``<col>_lo``, ``<col>_hi`` for each numeric column."""
        point = statistic(self.fit)
        numeric = [c for c in point.columns if pd.api.types.is_numeric_dtype(point[c])]
        samples = np.stack([statistic(r)[numeric].to_numpy(float) for r in self.replicates])
        lo, hi = quantiles(samples, self.level)
        out = point.copy()
        for j, col in enumerate(numeric):
            out[f"{col}_lo"], out[f"{col}_hi"] = lo[:, j], hi[:, j]
        return out

    def noise_sd(self) -> pd.Series:
        """Residual standard deviation per panel, RSS / (n - k) with k the panel's free parameters
        (``noise.residual_noise_sd``), indexed by (task, train_model)."""
        runs = self.fit.runs_
        sd = residual_noise_sd(runs.task, runs.train_model, self.fit.residuals_, self.fit.n_params)
        return pd.Series(list(sd.values()), index=pd.MultiIndex.from_tuples(list(sd)), dtype=float)

    def predict(self, rows: pd.DataFrame, seed: int | None = None) -> pd.DataFrame:
        """metric_pred with a confidence interval (lo, hi) of the curve and a prediction interval
        (pred_lo, pred_hi) for a new run, which adds the panel's residual noise."""
        rows = rows.reset_index(drop=True)
        point = self.fit.predict(rows)
        samples = self.fit.predict(rows, values=self.values)
        lo, hi = quantiles(samples, self.level)
        sd = self.noise_sd()
        default = float(np.sqrt(np.mean(np.square(sd.to_numpy()))))
        noise = np.array([sd.get((t, m), default) for t, m in zip(rows.task, rows.train_model)])
        pred_lo, pred_hi = prediction_band(samples, noise, self.level, self.seed if seed is None else seed)
        return pd.DataFrame({"metric_pred": point, "lo": lo, "hi": hi, "pred_lo": pred_lo, "pred_hi": pred_hi})


def bootstrap(fitted: CurveFit, n_boot: int = 100, seed: int = 0, level: float = 0.9, progress=None,
              jobs: int = 1, resampled: np.ndarray | None = None) -> Bootstrap:
    """Refit ``fitted``'s form on ``n_boot`` stratified resamples of its runs (seeded), solved together in
    chunks of replicates (bounded memory). ``progress``: optional wrapper of an iterable (e.g. ``tqdm``),
    advanced per chunk. ``jobs``: processes the chunks are spread over (the same refits as with one).
    ``resampled``: per run, in how many of the first replicates it is resampled (default: all); in the others it
    counts once, so a fitting block left out of a replicate keeps its point values without a solve
    (``fitting.refit``). Give every run of a fitting block the same number (e.g. to refit only some panels)."""
    from .parallel import map_parts, split

    n_boot, jobs = check_int(n_boot, "n_boot", low=0), check_int(jobs, "jobs", low=1)
    rng = np.random.default_rng(seed)
    counts = resample_counts(fitted.runs_, n_boot, rng, dtype=np.float32)   # small integers: exact, half the memory
    if resampled is not None:
        counts[np.arange(n_boot)[:, None] >= np.asarray(resampled)[None, :]] = 1.0
    step = max(1, min(n_boot, BOOT_CHUNK_VALUES // max(len(fitted.runs_), 1)))
    parts = [slice(lo, min(lo + step, n_boot)) for lo in range(0, n_boot, step)]
    if jobs > 1 and len(parts) < jobs:
        parts = split(n_boot, jobs)
    values, converged = [], []
    if jobs > 1 and len(parts) > 1:
        for v, c in map_parts(_refit_part, (fitted, counts), parts, jobs):
            values.append(v)
            converged.append(c)
    else:
        for part in (parts if progress is None else progress(parts)):
            v, c = refit(fitted, counts[part])
            values.append(v)
            converged.append(c)
    values = np.concatenate(values) if values else np.empty((0, len(fitted.x_)))
    converged = np.concatenate(converged) if converged else np.empty(0, bool)
    return Bootstrap(fitted, [replicate(fitted, v) for v in values], seed, level, converged)


def _refit_part(shared, part):
    fitted, counts = shared
    return refit(fitted, counts[part])


_quantiles = quantiles  # the former private name
