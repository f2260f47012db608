"""Model comparison: every form scored in-sample (AIC, BIC) and on held-out runs under three protocols.

- ``loo``: leave one run out, refit (warm start), predict it.
- ``extrapolate_fraction``: fit the runs with fraction <= 0.25, predict the larger fractions.
- ``extrapolate_size``: fit the smaller model sizes with the form's size-aware variant (levels linear in
  log10 N_train, shapes shared across sizes), predict the largest size; needs two sizes to fit from.

Coverage is the share of held-out runs inside their 90% prediction interval (bootstrap refits plus the panel's
residual noise; for ``loo``, the full-data interval's half-widths around the held-out prediction).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .curves import available_forms, get_form, sized
from .fitting import _blocks, _context, fit
from .uncertainty import bootstrap

PROTOCOLS = ("loo", "extrapolate_fraction", "extrapolate_size")
FRACTION_CUTOFF = 0.25
COMPARE_FORMS = ("paper", "offset_exp", "power", "logistic")


def _scores(form, protocol, truth, pred, lo, hi, extra=None) -> dict:
    err = np.asarray(pred) - np.asarray(truth)
    inside = (np.asarray(truth) >= lo) & (np.asarray(truth) <= hi)
    row = {"form": form, "protocol": protocol, "n_heldout": len(err),
           "heldout_rmse": float(np.sqrt(np.mean(err ** 2))), "heldout_mae": float(np.mean(np.abs(err))),
           "coverage": float(np.mean(inside))}
    row.update(extra or {})
    return row


def leave_one_out(fitted, boot=None, level: float = 0.9) -> pd.DataFrame:
    """Held-out prediction of every run from a refit without it: columns of the runs plus heldout_pred, lo, hi."""
    runs = fitted.runs_
    blocks = _blocks(fitted.form, runs)
    preds = np.empty(len(runs))
    for block in blocks:
        for i in block.index:
            rest = block.drop(index=i)
            refit = fit(rest, fitted.form, loss=fitted.loss, start=fitted, validate=False)
            preds[i] = refit.predict(runs.loc[[i]])[0]
    out = runs.assign(heldout_pred=preds)
    if boot is not None:
        band = boot.predict(runs)
        out["lo"] = preds - (band.metric_pred - band.pred_lo).to_numpy()
        out["hi"] = preds + (band.pred_hi - band.metric_pred).to_numpy()
    return out


def _heldout(train, test, form, loss, n_boot, seed):
    """Fit ``train``; return the fit and its prediction band for ``test``."""
    fitted = fit(train, form, loss=loss)
    return fitted, bootstrap(fitted, n_boot=n_boot, seed=seed).predict(_context(test))


def compare(runs: pd.DataFrame, forms=COMPARE_FORMS, loss: str | None = None, n_boot: int = 40, seed: int = 0,
            protocols=PROTOCOLS, log=None) -> pd.DataFrame:
    """Score each form under each protocol: form, protocol, n_heldout, heldout_rmse, heldout_mae, coverage,
    n_params, aic, bic (the last three of the full-data fit; for extrapolate_size, of the size-aware variant)."""
    rows = []
    runs = runs.reset_index(drop=True)
    sizes = sorted(runs.train_params.unique())
    for name in forms:
        form = get_form(name)
        if log:
            log(f"comparing form '{name}'")
        full = fit(runs, form, loss=loss)
        stats = {"n_params": full.n_params, "aic": full.aic, "bic": full.bic}
        rows.append(_scores(name, "in_sample", runs.metric, full.predict(runs), -np.inf, np.inf, stats))
        if "loo" in protocols:
            boot = bootstrap(full, n_boot=n_boot, seed=seed)
            loo = leave_one_out(full, boot)
            rows.append(_scores(name, "loo", loo.metric, loo.heldout_pred, loo.lo, loo.hi, stats))
        if "extrapolate_fraction" in protocols:
            small = runs.fraction <= FRACTION_CUTOFF
            if small.any() and (~small).any():
                _, band = _heldout(runs[small], runs[~small], form, loss, n_boot, seed)
                rows.append(_scores(name, "extrapolate_fraction", runs.metric[~small], band.metric_pred,
                                    band.pred_lo, band.pred_hi, stats))
        if "extrapolate_size" in protocols and len(sizes) >= 3:  # two to fit, one to predict
            big = runs.train_params == sizes[-1]
            size_form = get_form(f"{name}_size") if f"{name}_size" in available_forms() else sized(form)
            size_fit, band = _heldout(runs[~big], runs[big], size_form, loss, n_boot, seed)
            rows.append(_scores(name, "extrapolate_size", runs.metric[big], band.metric_pred, band.pred_lo,
                                band.pred_hi, {"n_params": size_fit.n_params, "aic": size_fit.aic,
                                               "bic": size_fit.bic}))
            for task in runs.task[big].unique():
                sel = (runs.task[big] == task).to_numpy()
                rows.append(_scores(name, f"extrapolate_size:{task}", runs.metric[big][sel],
                                    band.metric_pred[sel], band.pred_lo[sel], band.pred_hi[sel]))
    return pd.DataFrame(rows)
