"""Fit a user's runs in groups, and forecast the metric of runs nobody has made.

``fit_groups`` fits and bootstraps each group (``costlaw.store`` saves and loads the results); ``forecast``
predicts a metric with a 90% interval for a training size, fraction and method, including sizes between or
beyond the fitted ones when the form models size (the ``*_size`` forms).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .checks import check_extrapolation, check_number
from .errors import CostlawWarning, InputError, UnknownName
from .fitting import fit
from .store import FIT_FILE, load_fits, save_fits  # noqa: F401  (their former home)
from .uncertainty import bootstrap


def fit_groups(runs: pd.DataFrame, form: str, by=(), n_boot: int = 50, seed: int = 0, loss=None) -> list:
    """Fit ``form`` separately to each group of ``by`` columns (all runs when empty); returns Bootstraps."""
    groups = [runs] if not by else [g for _, g in runs.groupby(list(by), sort=False)]
    return [bootstrap(fit(g, form, loss=loss), n_boot=n_boot, seed=seed) for g in groups]





def forecast(boots: list, train_params: float, fraction: float, method: str | None = None,
             task: str | None = None, train_model: str | None = None) -> pd.DataFrame:
    """Predicted metric (with lo/hi of the curve and pred_lo/pred_hi for a new run) for every fitted
    (task, method), or the ones named, at ``train_params`` and ``fraction`` of the pool.

    Column ``extrapolated`` marks queries outside the fitted sizes and fractions (a ``CostlawWarning`` says so);
    a size more than 1000x outside the fitted ones is refused (``InputError``), and a prediction outside the
    observed metric range widened by its span is warned about."""
    fraction = check_number(fraction, "fraction", low=0, low_open=True, high=2)
    train_params = check_number(train_params, "train_params", low=0, low_open=True)
    out = []
    for boot in boots:
        runs = boot.fit.runs_
        if boot.n_boot < 2:
            raise InputError(f"the fit of form '{boot.fit.form.name}' holds {boot.n_boot} bootstrap refits; intervals "
                             f"need at least 2: refit with `costlaw fit RUNS --out DIR --n-boot 50`")
        inside = check_extrapolation(train_params, runs.train_params.min(), runs.train_params.max(), "train_params",
                                     "the fitted model sizes")
        inside &= check_extrapolation(fraction, runs.fraction.min(), runs.fraction.max(), "fraction",
                                      "the fitted fractions")
        keys = runs[["task", "method"]].drop_duplicates()
        if task is not None:
            keys = keys[keys.task == task]
        if method is not None:
            keys = keys[keys.method == method]
        for t, m in keys.itertuples(index=False):
            rows = runs[(runs.task == t) & (runs.method == m)]
            same = rows[np.isclose(rows.train_params, train_params)]
            model = train_model or (same.train_model.iloc[0] if len(same) else f"{train_params:.3g}")
            per_param = float(np.median(rows.train_flops / rows.fraction / rows.train_params))
            sel = float(np.median(rows.selection_flops))
            full = per_param * train_params
            query = pd.DataFrame({"task": [t], "train_model": [model], "method": [m], "train_params": [train_params],
                                  "selector_params": [float(np.median(rows.selector_params))],
                                  "fraction": [fraction], "selection_flops": [sel], "train_flops": [fraction * full],
                                  "total_flops": [sel + fraction * full],
                                  "pool_tokens": [float(np.median(rows.pool_tokens))]})
            if "train_tokens" in rows:
                query["train_tokens"] = fraction * float(np.median(rows.train_tokens / rows.fraction))
            band = boot.predict(query)
            out.append(pd.concat([query, band.assign(form=boot.fit.form.name, extrapolated=not inside)], axis=1))
            lo, hi = float(rows.metric.min()), float(rows.metric.max())
            pred = float(band.metric_pred.iloc[0])
            if not lo - (hi - lo) - 1 <= pred <= hi + (hi - lo) + 1:
                warnings.warn(f"{t} {m}: predicted metric {pred:.4g} is far outside the observed {lo:.4g}..{hi:.4g}; "
                              f"the form is extrapolating beyond what the runs support", CostlawWarning, stacklevel=2)
    if not out:
        raise UnknownName(f"no fitted curve for task={task!r} method={method!r}")
    return pd.concat(out, ignore_index=True)
