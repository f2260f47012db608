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

**The averaged answer** is the answer of the averaged model, whose curves are sum_f w_f curve_f (never a weighted
median or mean of the forms' answers): ``AveragedFit`` presents several fits of the same runs as one, so that
break-even ratios (``breakeven.breakeven_table``) are solved on the averaged curves; the planner does the same on
its curve arrays (``planner.averaged``).

Nothing here imports pandas; ``stacking_weights`` imports scipy, ``AveragedFit.margin_table`` pandas, when called.
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


class AveragedForm:
    """The weighted sum of several forms as one form: ``form(rows, **params)`` = sum_f w_f form_f(rows, params_f),
    where the parameters of form f are passed as ``LABEL/NAME`` (``AveragedFit.param_values`` names them so)."""

    def __init__(self, forms: dict, weights: dict, name: str = "average"):
        self.forms, self.weights, self.name = dict(forms), dict(weights), name

    def __call__(self, rows, **params) -> np.ndarray:
        total = 0.0
        for label, form in self.forms.items():
            prefix = label + "/"
            own = {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}
            total = total + self.weights[label] * form(rows, **own)
        return np.asarray(total, float)

    @property
    def params(self) -> tuple:
        """Every form's parameters, named ``LABEL/NAME`` as ``__call__`` takes them: ``fitting.blocks`` reads them to
        split the runs into blocks that share no free parameter in any form (independent refits)."""
        from dataclasses import replace
        return tuple(replace(p, name=f"{label}/{p.name}") for label, form in self.forms.items() for p in form.params)

    def __repr__(self) -> str:
        return f"AveragedForm({self.name}: {format_weights(self.weights)})"


class AveragedFit:
    """Several ``CurveFit``s of the same runs presented as one fit whose curves are the model average
    sum_f w_f curve_f ({label: CurveFit}, {label: weight} summing to 1; forms with zero weight do not enter).

    It stands in for a fit wherever the curves are read through ``param_values`` and ``form`` (``frontier.CurveGrid``,
    hence ``breakeven.breakeven_table``) or ``predict`` / ``predict_grid``: every prediction is sum_f w_f
    prediction_f. Entry vectors (``values``, R x ``n_entries``) are the forms' entry vectors side by side, in the
    order of ``fits``, so refit i of the average is refit i of every form (give them the same resample:
    ``averaged_bootstrap``). Its
    ``form`` is an ``AveragedForm`` named ``name``. Raises InputError when the fits are not of the same runs or the
    weights are not a simplex over them."""

    def __init__(self, fits: dict, weights: dict, name: str = "average"):
        unknown = [k for k, v in dict(weights).items() if k not in fits and float(v) != 0]
        if unknown:
            raise InputError(f"form weights name forms without a fit: {', '.join(map(str, unknown))}")
        weights = check_weights({k: dict(weights).get(k, 0.0) for k in fits})
        used = [k for k, w in weights.items() if w > 0]
        self.fits = {k: fits[k] for k in used}
        self.weights = {k: weights[k] for k in used}
        base = self.fits[used[0]]
        keys = ("task", "train_model", "method", "fraction")
        for label in used[1:]:
            runs = self.fits[label].runs_
            if len(runs) != len(base.runs_) or any(not np.array_equal(runs[c].to_numpy(), base.runs_[c].to_numpy())
                                                   for c in keys):
                raise InputError(f"form '{label}' cannot be averaged with '{used[0]}': they were fitted to other runs")
        self.runs_ = base.runs_
        self.form = AveragedForm({k: f.form for k, f in self.fits.items()}, self.weights, name)
        self.ends = np.cumsum([len(f.x_) for f in self.fits.values()])
        """Where each form's entries end in an entry vector of the average."""

    @property
    def n_entries(self) -> int:
        return int(self.ends[-1])

    @property
    def x_(self) -> np.ndarray:
        """The point fits' entry vectors side by side."""
        return np.concatenate([f.x_ for f in self.fits.values()])

    def split(self, values: np.ndarray | None) -> dict:
        """{label: that form's part of ``values`` (..., n_entries)}; {label: None} for None (the point fits)."""
        if values is None:
            return {k: None for k in self.fits}
        values = np.asarray(values, float)
        if values.shape[-1] != self.n_entries:
            raise InputError(f"entry vectors of the average have {self.n_entries} entries, got {values.shape[-1]}")
        return dict(zip(self.fits, np.split(values, self.ends[:-1], axis=-1)))

    def param_values(self, rows, values: np.ndarray | None = None) -> dict:
        """Every form's per-row parameter values (``CurveFit.param_values``), named ``LABEL/NAME``."""
        out = {}
        for (label, f), v in zip(self.fits.items(), self.split(values).values()):
            out.update({f"{label}/{name}": p for name, p in f.param_values(rows, v).items()})
        return out

    def predict(self, rows, values: np.ndarray | None = None) -> np.ndarray:
        """sum_f w_f ``CurveFit.predict`` (metric units; (R, n_rows) with ``values``)."""
        return sum(self.weights[k] * f.predict(rows, v) for (k, f), v in zip(self.fits.items(),
                                                                               self.split(values).values()))

    def predict_grid(self, heads, fractions: list, values: np.ndarray | None = None) -> np.ndarray:
        """sum_f w_f ``CurveFit.predict_grid`` (metric units)."""
        return sum(self.weights[k] * f.predict_grid(heads, fractions, v)
                   for (k, f), v in zip(self.fits.items(), self.split(values).values()))

    def margin_table(self, margin: float | None = None):
        """``noise.margins`` of the average: per panel the weighted mean of the forms' run-to-run noise sd and
        degrees of freedom (``noise.panel_noise``), so that the default margin is the weighted mean of the forms'
        (as in ``planner.averaged``); ``margin`` (metric points) everywhere when given."""
        from .noise import margins, panel_noise
        tables = [panel_noise(f) for f in self.fits.values()]
        noise = tables[0].copy()
        for col in ("noise_sd", "noise_dof"):
            noise[col] = sum(w * t[col].to_numpy(float) for w, t in zip(self.weights.values(), tables))
        return margins(noise, margin)


class AveragedBootstrap:
    """Bootstrap refits of an ``AveragedFit`` (``averaged_bootstrap``): ``values`` (n_boot x ``fit.n_entries``), refit
    i being refit i of every form, their entry vectors side by side; ``seed`` the forms' bootstrap seed. It stands
    in for an ``uncertainty.Bootstrap`` where only the entry vectors are read (``breakeven.breakeven_intervals``'s
    ``boot``)."""

    def __init__(self, fit: AveragedFit, values: np.ndarray, seed):
        self.fit, self.values, self.seed = fit, np.asarray(values, float), seed

    @property
    def n_boot(self) -> int:
        return len(self.values)


def averaged_bootstrap(avg: AveragedFit, boots: dict) -> AveragedBootstrap:
    """The refits of ``avg`` from each form's ``uncertainty.Bootstrap`` ({label: Bootstrap} of ``avg.fits``' point
    fits). ``uncertainty.bootstrap`` draws its resamples from the seed and the runs alone, so bootstraps of fits of
    the same runs with the same seed and the same number of refits resample alike: refit i of each is refit i of
    the average. Raises InputError when a form's bootstrap is missing, is of another point fit, or the seeds or
    numbers of refits differ (a prefix of more refits is not the same resample)."""
    missing = [k for k in avg.fits if k not in boots]
    if missing:
        raise InputError(f"no bootstrap of form(s) {', '.join(missing)} to average")
    boots = {k: boots[k] for k in avg.fits}
    other = [k for k, b in boots.items() if not np.array_equal(np.asarray(b.fit.x_), np.asarray(avg.fits[k].x_))]
    if other:
        raise InputError(f"the bootstrap of form(s) {', '.join(other)} is not of the averaged fit")
    seeds = {str(b.seed) for b in boots.values()}
    sizes = {b.n_boot for b in boots.values()}
    if len(seeds) > 1 or len(sizes) > 1:
        raise InputError(f"averaged refits need the forms' bootstraps drawn alike (one seed, one number of refits); "
                         f"got seeds {sorted(seeds)} and refits {sorted(sizes)}")
    values = np.concatenate([b.values for b in boots.values()], axis=1)
    return AveragedBootstrap(avg, values, next(iter(boots.values())).seed)


def format_weights(weights: dict, digits: int = 2) -> str:
    """``offset_exp 0.74, power 0.26, logistic 0`` (in the dict's order)."""
    return ", ".join(f"{k} {v:.{digits}f}" for k, v in weights.items())
