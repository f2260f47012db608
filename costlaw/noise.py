"""Run-to-run noise of the metric per panel, and the practical margin every "wins" in costlaw is measured against.

Noise (metric units, e.g. accuracy points) is estimated per panel (task, train_model):

- ``seeds``: when the runs repeat a configuration (task, train_model, method, fraction) with different ``seed``
  values, the pooled within-configuration standard deviation, sqrt(sum (y - mean)^2 / sum (n - 1));
- ``residuals``: otherwise, the residual standard deviation of the fit, sqrt(RSS / (n - k)), k the panel's share
  of the fit's free parameters. It also absorbs lack of fit, so it errs on the large side.

The **practical margin** of a panel is ``DEFAULT_MARGIN_SD`` x its noise (default 1: a method must beat the others
by more than one run-to-run standard deviation, the amount a single rerun of the same configuration moves by), or
a fixed number of metric points the user gives (``--margin POINTS``). A verdict is "wins" when the bootstrap
probability of winning by more than the margin is at least ``VERDICT_PROBABILITY``, "does not win" when it is at
most 1 - that, and "indistinguishable" in between.
"""
from __future__ import annotations

import numpy as np

from .errors import InputError

PANEL = ["task", "train_model"]
DEFAULT_MARGIN_SD = 1.0
"""Default margin in units of the panel's run-to-run noise standard deviation."""
VERDICT_PROBABILITY = 0.9
"""Bootstrap probability of winning by more than the margin needed to say "wins" (and 1 - it for "does not")."""
MIN_SEED_DOF = 2
"""Degrees of freedom from repeated seeds needed before they are used instead of the residuals."""


def _seed_noise(runs: pd.DataFrame) -> dict:
    """Pooled within-configuration sd per panel from repeated seeds: {(task, model): (sd, dof)}."""
    if "seed" not in runs.columns:
        return {}
    out = {}
    for panel, g in runs.groupby(PANEL, sort=False):
        groups = g.groupby(["method", "fraction"], sort=False).metric
        n = groups.transform("size")
        if g.seed.nunique() < 2 or (n > 1).sum() == 0:
            continue
        dev = (g.metric - groups.transform("mean")) ** 2
        dof = int((groups.size() - 1).sum())
        if dof >= MIN_SEED_DOF:
            out[panel] = (float(np.sqrt(dev.sum() / dof)), dof)
    return out


def residual_noise_sd(tasks, train_models, residuals: np.ndarray, n_params: int) -> dict:
    """Residual standard deviation per panel (metric units), sqrt(RSS / (n - k)) with n the panel's runs and k its
    share of the fit's ``n_params`` free parameters (n - k at least 1): {(task, train_model): sd}, panels in order
    of first appearance. NumPy only (the planner's ``FitArrays`` and ``Bootstrap`` both read it)."""
    panels = list(zip(np.asarray(tasks).tolist(), np.asarray(train_models).tolist()))
    keys = list(dict.fromkeys(panels))
    code = {k: i for i, k in enumerate(keys)}
    codes = np.array([code[k] for k in panels], np.intp)
    rss = np.bincount(codes, weights=np.asarray(residuals, float) ** 2, minlength=len(keys))
    n = np.bincount(codes, minlength=len(keys))
    k = n_params / max(len(keys), 1)
    sd = np.sqrt(rss / np.maximum(n - k, 1.0))
    return dict(zip(keys, sd.tolist()))


def panel_noise(fitted) -> pd.DataFrame:
    """Noise per panel of a ``CurveFit``'s runs: task, train_model, noise_sd (metric units), noise_source
    (``seeds`` or ``residuals``), noise_dof."""
    import pandas as pd
    runs = fitted.runs_
    residual_sd = residual_noise_sd(runs.task, runs.train_model, fitted.residuals_, fitted.n_params)
    k = fitted.n_params / max(len(residual_sd), 1)
    seeds = _seed_noise(runs)
    rows = []
    for (task, model), g in runs.groupby(PANEL, sort=False):
        if (task, model) in seeds:
            sd, dof = seeds[(task, model)]
            source = "seeds"
        else:
            sd, dof, source = residual_sd[(task, model)], max(len(g) - k, 1.0), "residuals"
        rows.append({"task": task, "train_model": model, "noise_sd": sd, "noise_source": source,
                     "noise_dof": float(dof)})
    return pd.DataFrame(rows)


def check_margin(margin) -> float | None:
    """Validate a user's margin (metric points, >= 0) or None for the noise-tied default."""
    if margin is None:
        return None
    try:
        value = float(margin)
    except (TypeError, ValueError):
        raise InputError(f"margin must be a number of metric points, got {margin!r}") from None
    if not np.isfinite(value) or value < 0:
        raise InputError(f"margin must be a finite number of metric points >= 0, got {margin!r}")
    return value


def margins(noise: pd.DataFrame, margin: float | None = None, factor: float = DEFAULT_MARGIN_SD) -> pd.DataFrame:
    """``noise`` with a ``margin`` column (metric points): ``margin`` everywhere when given, else
    ``factor`` x noise_sd; ``margin_source`` says which."""
    margin = check_margin(margin)
    out = noise.copy()
    if margin is None:
        out["margin"] = factor * out.noise_sd
        out["margin_source"] = f"{factor:g} x noise sd"
    else:
        out["margin"] = margin
        out["margin_source"] = "given"
    return out


def margin_lookup(table: pd.DataFrame) -> dict:
    """{(task, train_model): margin} from ``margins``' table."""
    return {(t, m): float(v) for t, m, v in zip(table.task, table.train_model, table.margin)}


def verdict(p_win: float, threshold: float = VERDICT_PROBABILITY) -> str:
    """"wins", "does not win" or "indistinguishable" from the probability of winning by more than the margin."""
    if not np.isfinite(p_win):
        return "n/a"
    if p_win >= threshold:
        return "wins"
    if p_win <= 1 - threshold:
        return "does not win"
    return "indistinguishable"
