"""Bootstrap uncertainty for fitted curves and everything derived from them.

Runs are resampled with replacement within each curve (task, train_model, method), so every curve keeps its
number of points; each resample is refitted from the point estimate (a warm start). Percentile intervals follow
for parameters, predictions, frontiers, break-even budgets and ratios. Prediction intervals add the panel's
residual noise (RSS / (n - k)) to the refitted curves, for comparison with new runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .fitting import CurveFit, fit

CURVE_KEYS = ["task", "train_model", "method"]


def resample(runs: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Resample rows with replacement within each curve (task, train_model, method)."""
    groups = runs.groupby(CURVE_KEYS, sort=False).indices
    idx = np.concatenate([rng.choice(ix, size=len(ix), replace=True) for ix in groups.values()])
    return runs.iloc[idx]


def _quantiles(samples: np.ndarray, level: float):
    """Percentile interval along axis 0 without interpolating across inf (inverted CDF)."""
    alpha = (1 - level) / 2
    lo = np.quantile(samples, alpha, axis=0, method="inverted_cdf")
    hi = np.quantile(samples, 1 - alpha, axis=0, method="inverted_cdf")
    return lo, hi


@dataclass
class Bootstrap:
    """A point fit and its bootstrap refits; interval methods take a confidence ``level`` (default 0.9)."""

    fit: CurveFit
    replicates: list
    seed: int
    level: float = 0.9

    @property
    def n_boot(self) -> int:
        return len(self.replicates)

    def params(self) -> pd.DataFrame:
        """Every free parameter with its value, bootstrap se and percentile interval (lo, hi)."""
        table = self.fit.params_[~self.fit.params_.fixed].copy()
        keys = list(zip(table.param, table.group, table.kind))
        samples = np.array([r.params_.set_index(["param", "group", "kind"]).value.reindex(keys).to_numpy()
                            for r in self.replicates])
        table["se"] = np.nanstd(samples, axis=0, ddof=1)
        table["lo"], table["hi"] = _quantiles(samples, self.level)
        return table[["param", "group", "kind", "value", "se", "lo", "hi", "at_bound"]].reset_index(drop=True)

    def interval(self, statistic) -> pd.DataFrame:
        """Apply ``statistic(CurveFit) -> DataFrame`` (same shape each time) to the point fit and every
        replicate; returns the point table with ``<col>_lo``, ``<col>_hi`` for each numeric column."""
        point = statistic(self.fit)
        numeric = [c for c in point.columns if pd.api.types.is_numeric_dtype(point[c])]
        samples = np.stack([statistic(r)[numeric].to_numpy(float) for r in self.replicates])
        lo, hi = _quantiles(samples, self.level)
        out = point.copy()
        for j, col in enumerate(numeric):
            out[f"{col}_lo"], out[f"{col}_hi"] = lo[:, j], hi[:, j]
        return out

    def noise_sd(self) -> pd.Series:
        """Residual standard deviation per panel, RSS / (n - k) with k the panel's free parameters."""
        runs = self.fit.runs_.assign(_r=self.fit.residuals_)
        k_total = self.fit.n_params
        n_panels = runs.groupby(["task", "train_model"]).ngroups
        out = {}
        for key, g in runs.groupby(["task", "train_model"], sort=False):
            k = k_total / n_panels
            out[key] = float(np.sqrt(np.sum(g._r ** 2) / max(len(g) - k, 1.0)))
        return pd.Series(out)

    def predict(self, rows: pd.DataFrame, seed: int | None = None) -> pd.DataFrame:
        """metric_pred with a confidence interval (lo, hi) of the curve and a prediction interval
        (pred_lo, pred_hi) for a new run, which adds the panel's residual noise."""
        rows = rows.reset_index(drop=True)
        point = self.fit.predict(rows)
        samples = np.stack([r.predict(rows) for r in self.replicates])
        lo, hi = _quantiles(samples, self.level)
        sd = self.noise_sd()
        default = float(np.sqrt(np.mean(np.square(sd.to_numpy()))))
        noise = np.array([sd.get((t, m), default) for t, m in zip(rows.task, rows.train_model)])
        rng = np.random.default_rng(self.seed if seed is None else seed)
        noisy = samples + rng.normal(size=samples.shape) * noise
        pred_lo, pred_hi = _quantiles(noisy, self.level)
        return pd.DataFrame({"metric_pred": point, "lo": lo, "hi": hi, "pred_lo": pred_lo, "pred_hi": pred_hi})


def bootstrap(fitted: CurveFit, n_boot: int = 100, seed: int = 0, level: float = 0.9, progress=None) -> Bootstrap:
    """Refit ``fitted``'s form on ``n_boot`` stratified resamples of its runs (seeded)."""
    rng = np.random.default_rng(seed)
    reps = []
    iterator = range(n_boot) if progress is None else progress(range(n_boot))
    for _ in iterator:
        reps.append(fit(resample(fitted.runs_, rng), fitted.form, loss=fitted.loss, start=fitted, validate=False))
    return Bootstrap(fitted, reps, seed, level)
