"""Model averaging across curve forms: weights from held-out predictions (stacking), Akaike weights, and the
weighted answers built from them.

**Stacking** (Breiman 1996, "Stacked regressions"; Yao, Vehtari, Simpson & Gelman 2018 for the M-open case): the
weights w on the simplex (w_k >= 0, sum 1) that minimise the mean squared error of the weighted prediction
sum_k w_k pred_k on held-out runs, where pred_k are each form's predictions of runs it was not fitted to (one
held-out protocol of ``costlaw.compare``: leave-one-out for per-panel forms, ``leave_size_out`` for size models).
It is the default because it scores what an averaged answer uses, the combined prediction out of sample; it
keeps weight on forms whose errors differ from the best one's (the averaged prediction gains from them), and
gives none to a form whose predictions add nothing. Akaike weights exp(-dAIC/2) rank in-sample fit with a
parameter penalty and, with 180 runs, put nearly all weight on one form even where the held-out errors of the
forms are within 5% of each other (on the paper's runs: logistic 0.95 by AIC, while leave-one-out favours
offset_exp); they are reported beside, not used.

Nothing here imports pandas; ``stacking_weights`` imports scipy when called.
"""
from __future__ import annotations

import numpy as np

from .errors import InputError


def stacking_weights(preds, truth) -> np.ndarray:
    """Simplex weights (one per column of ``preds``, n_runs x n_forms held-out predictions, metric points) that
    minimise the mean squared error of ``preds @ w`` against ``truth`` (SLSQP from equal weights; ties resolved
    towards equal weights). Returns an array summing to 1, each in [0, 1]."""
    from scipy.optimize import minimize
    X, y = np.asarray(preds, float), np.asarray(truth, float)
    if X.ndim != 2 or X.shape[0] != len(y) or X.shape[1] == 0:
        raise InputError(f"stacking needs held-out predictions of the same runs per form (got {X.shape} for "
                         f"{len(y)} runs)")
    ok = np.all(np.isfinite(X), axis=1) & np.isfinite(y)
    if not ok.any():
        raise InputError("stacking needs at least one held-out run with finite predictions")
    X, y = X[ok], y[ok]
    k = X.shape[1]
    if k == 1:
        return np.ones(1)
    scale = max(float(np.mean((X - y[:, None]) ** 2)), 1e-12)   # well-conditioned objective

    def loss(w):
        r = X @ w - y
        return float(np.mean(r ** 2)) / scale

    def grad(w):
        return 2 * X.T @ (X @ w - y) / len(y) / scale

    res = minimize(loss, np.full(k, 1 / k), jac=grad, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                   constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1, "jac": lambda w: np.ones(k)}],
                   options={"ftol": 1e-12, "maxiter": 500})
    w = np.clip(res.x, 0.0, None)
    w[w < 1e-6] = 0.0
    return w / w.sum()


def akaike_weights(aic) -> np.ndarray:
    """Akaike weights exp(-(AIC - min AIC) / 2), normalised to sum 1."""
    a = np.asarray(aic, float)
    w = np.exp(-(a - np.nanmin(a)) / 2)
    w = np.where(np.isfinite(w), w, 0.0)
    return w / w.sum()


def check_weights(weights: dict) -> dict:
    """{label: weight} as floats, checked: finite, >= 0, summing to 1 (within 1e-6); renormalised exactly."""
    w = {str(k): float(v) for k, v in dict(weights).items()}
    values = np.array(list(w.values()))
    if not w or not np.all(np.isfinite(values)) or np.any(values < 0) or abs(values.sum() - 1) > 1e-6:
        raise InputError(f"form weights must be finite, non-negative and sum to 1; got {w}")
    total = values.sum()
    return {k: v / total for k, v in w.items()}


def weighted_log_median(ratios, weights) -> float:
    """Weighted median of positive ratios in log space (inf counts as the largest): the smallest ratio at which
    the cumulative weight reaches one half. Forms with zero weight never decide it."""
    r, w = np.asarray(ratios, float), np.asarray(weights, float)
    keep = w > 0
    r, w = r[keep], w[keep]
    if not len(r):
        return float("nan")
    r = np.where(np.isnan(r), np.inf, r)
    order = np.argsort(r, kind="stable")
    cum = np.cumsum(w[order]) / w.sum()
    return float(r[order][min(int(np.searchsorted(cum, 0.5 - 1e-12)), len(r) - 1)])


def format_weights(weights: dict, digits: int = 2) -> str:
    """``offset_exp 0.74, power 0.26, logistic 0`` (in the dict's order)."""
    return ", ".join(f"{k} {v:.{digits}f}" for k, v in weights.items())
