"""Utility-curve forms: metric of a finetuning run against the tokens it trained on and what selection cost.

A form is a small declaration (name, parameters with bounds, starting grid and scope, one vectorised function),
in the spirit of lifelines' parametric fitters; ``costlaw.fitting`` does the rest. Every curve is evaluated on
a runs-like table with the columns ``fraction`` (share of the pool trained on), ``total_flops`` and
``train_flops_full`` (FLOPs of training on the whole pool, the panel's compute unit).

A parameter's ``by`` names the columns it varies over: ``("task", "train_model")`` is one value per panel,
adding ``"method"`` one per curve. Removing ``train_model`` shares it across model sizes; with ``size=True`` it
becomes linear in log10(train_params) instead, so the form can forecast sizes it has not seen.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Callable

import sys

import numpy as np

from .errors import CostlawError
from .registry import Registry

PANEL = ("task", "train_model")
CURVE = ("task", "train_model", "method")


def level_bounds(rows: pd.DataFrame, all_rows: pd.DataFrame) -> tuple[float, float]:
    """Data-relative bounds for a level parameter (metric units): the observed range widened 3x each side."""
    lo, hi = float(rows.metric.min()), float(rows.metric.max())
    span = max(hi - lo, 1e-3 * max(abs(hi), 1.0))
    return lo - 3 * span - 1.0, hi + 3 * span + 1.0


_PANEL_MAX: list = [None, {}]
"""The table ``_panel_max`` last grouped and its per-panel maxima (held, so its identity cannot be reused)."""


def _panel_max(rows: pd.DataFrame, all_rows: pd.DataFrame) -> float:
    """Best metric of the rows' panel among ``all_rows`` (grouped once per table, not masked per call)."""
    if _PANEL_MAX[0] is not all_rows:
        _PANEL_MAX[:] = [all_rows, all_rows.groupby(list(PANEL), sort=False).metric.max().to_dict()]
    return float(_PANEL_MAX[1][(rows.task.iat[0], rows.train_model.iat[0])])


@dataclass(frozen=True)
class Param:
    """One parameter of a form: its bounds, starting values, scope and whether it is fixed by the data."""

    name: str
    bounds: tuple[float, float] | Callable = (-np.inf, np.inf)
    """(lo, hi), or a function (group rows, all rows) -> (lo, hi)."""
    starts: tuple[float, ...] | Callable = ()
    """Starting values tried (grid over all parameters); or a function of the group's rows."""
    by: tuple[str, ...] = PANEL
    """Columns the parameter varies over."""
    fixed: Callable | None = None
    """Function (group rows, all rows) -> value: the parameter is set from data, not fitted."""
    size: bool = False
    """Linear in log10(train_params) within its groups (adds a slope per decade, kind ``slope``)."""
    selector_size: bool = False
    """Linear in log10(selector_params) within its groups: selection quality as a function of selector size.
    Where a group's runs all use one selector size the slope is not identifiable: it is fixed at 0 and the fit
    says so."""
    doc: str = ""

    @property
    def slope_column(self) -> str | None:
        """The covariate of the parameter's slope, or None when it has none."""
        return "log10_params" if self.size else "log10_selector_params" if self.selector_size else None


@dataclass(frozen=True)
class Form:
    """A named utility-curve form: parameters and a vectorised ``function(rows, **params) -> metric``."""

    name: str
    params: tuple[Param, ...]
    function: Callable
    doc: str = ""
    loss: str = "linear"
    """Default loss of the fit (``linear`` least squares, or scipy's ``soft_l1`` / ``huber``)."""
    models_selection_offset: bool = True
    """True when selection compute is a known offset, False when it enters the curve as if it were training."""
    selector_size_dependence: bool = False
    """True when the form models selection quality as a function of the selector's size."""
    derived: Callable | None = None
    """Optional (curve's parameter values, its train_flops_full) -> extra summary columns, e.g. in other units."""
    jacobian: Callable | None = None
    """Optional ``jacobian(rows, **params) -> {name: d metric / d param}`` (elementwise, same shapes as the
    function's output). Without it the fit differentiates ``function`` numerically, one parameter at a time."""
    max_starts: int | None = None
    """Starting points the fit tries by default (None: every point of the grid, up to the fit's limit)."""
    higher_is_better: bool | None = None
    """The metric direction the form's shape models: False for decreasing curves such as losses (``rectified``,
    ``power_law``), None when it fits either."""
    log_space: bool = False
    """Fit log(metric) rather than the metric (positive metrics whose errors scale with the level, e.g. losses,
    as the scaling-law literature fits them); residuals, RMSE and AIC are still reported in metric units."""

    def __reduce_ex__(self, protocol):
        # a registered form pickles as its name (its functions may be lambdas), e.g. a fit sent between processes
        if self.name in FORMS and FORMS.get(self.name) is self:
            return get_form, (self.name,)
        return super().__reduce_ex__(protocol)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"form '{self.name}' has no parameter '{name}'; it has {', '.join(self.param_names)}")

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def __call__(self, rows, **params) -> np.ndarray:
        """Evaluate on ``rows`` (a DataFrame, or ``columns(rows)`` for speed in inner loops)."""
        if is_frame(rows):
            rows = columns(rows)
        return np.asarray(self.function(rows, **params), dtype=float)

    def derivatives(self, rows, **params) -> dict:
        """Partial derivatives of the metric with respect to each parameter, elementwise per row: the form's
        ``jacobian`` when it declares one, else central differences of ``function`` (one parameter at a time)."""
        if is_frame(rows):
            rows = columns(rows)
        if self.jacobian is not None:
            out = self.jacobian(rows, **params)
            return {name: np.asarray(out[name], dtype=float) for name in params if name in out}
        return numerical_derivatives(self.function, rows, params)

    def share(self, name: str | None = None, **scopes) -> "Form":
        """A copy with parameter scopes changed: ``share(k=("method",))`` shares k across panels.

        A scope is a tuple of columns, ``"size"`` for linear in log10(train_params) across sizes, or
        ``"selector_size"`` for linear in log10(selector_params) within the current groups.
        """
        params = []
        for p in self.params:
            scope = scopes.pop(p.name, None)
            if scope is None:
                params.append(p)
            elif scope == "size":
                params.append(replace(p, by=tuple(c for c in p.by if c != "train_model"), size=True))
            elif scope == "selector_size":
                params.append(replace(p, selector_size=True, size=False))
            else:
                params.append(replace(p, by=tuple(scope), size=False))
        if scopes:
            raise KeyError(f"form '{self.name}' has no parameter(s) {', '.join(scopes)}")
        return replace(self, name=name or f"{self.name}_shared", params=tuple(params))


def numerical_derivatives(function: Callable, rows, params: dict) -> dict:
    """Central differences of ``function(rows, **params)`` in each parameter (elementwise, as forms are)."""
    out = {}
    for name, value in params.items():
        value = np.asarray(value, float)
        step = 1e-6 * np.maximum(np.abs(value), 1.0)
        up = np.asarray(function(rows, **{**params, name: value + step}), float)
        down = np.asarray(function(rows, **{**params, name: value - step}), float)
        out[name] = (up - down) / (2 * step)
    return out


def is_frame(rows) -> bool:
    """Whether ``rows`` is a pandas DataFrame (without importing pandas: none exists before it is imported)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(rows, pd.DataFrame)


def columns(rows: pd.DataFrame) -> SimpleNamespace:
    """The numeric columns of ``rows`` as NumPy arrays with attribute access: form functions read
    ``rows.fraction`` etc. without pandas overhead in the optimiser's inner loop."""
    import pandas as pd
    return SimpleNamespace(**{c: rows[c].to_numpy() for c in rows.columns
                              if isinstance(c, str) and pd.api.types.is_numeric_dtype(rows[c])})


def check_signature(name: str, form: Form) -> None:
    """Refuse a form whose function does not take ``rows`` and exactly its declared parameters (by keyword).

    Run by the form registry on ``register_form``, so a typo fails when the form is declared, not at fit time."""
    import inspect

    try:
        sig = inspect.signature(form.function)
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return
    params = list(sig.parameters.values())
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise CostlawError(f"form '{name}': its function must take the rows as its first argument")
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params)
    named = {p.name: p for p in params[1:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    declared = form.param_names
    if len(set(declared)) != len(declared):
        raise CostlawError(f"form '{name}' declares a parameter twice: {', '.join(declared)}")
    missing = [n for n in declared if n not in named and not takes_any]
    extra = [n for n, p in named.items() if n not in declared and p.default is p.empty]
    if missing or extra:
        raise CostlawError(f"form '{name}': parameters {declared} do not match its function's arguments "
                           f"{list(named)}" + (f" (not taken: {', '.join(missing)})" if missing else "")
                           + (f" (not declared: {', '.join(extra)})" if extra else ""))


FORMS: Registry[Form] = Registry("form", check=check_signature)
"""Every registered form by name (``register_form`` adds, ``get_form`` looks up)."""


def register_form(form: Form, replace: bool = False) -> Form:
    """Register ``form`` under ``form.name``. A taken name is refused unless ``replace=True`` (the bundled fits
    load forms by name, so silently replacing a built-in would change what they evaluate); the form's function
    must take exactly its declared parameters."""
    return FORMS.register(form.name, form, replace=replace)


def get_form(name: str | Form) -> Form:
    """The registered form ``name``; an unknown name fails (``UnknownName``) with near names and the list."""
    if isinstance(name, Form):
        return name
    return FORMS.get(name)


def available_forms() -> list[str]:
    """Names of the registered forms, in registration order."""
    return FORMS.names()


# ----------------------------------------------------------------------------------------------------------
# Shapes h(f) with h(0) = 0 and h(1) = 1, so that P0 is the zero-shot level and Pfull the full-pool point.

def exp_shape(fraction, rate):
    """(1 - exp(-k f)) / (1 - exp(-k)); k < 0 bends the other way, k -> 0 is linear."""
    fraction, rate = np.broadcast_arrays(np.asarray(fraction, float), np.asarray(rate, float))
    small = np.abs(rate) < 1e-8
    if not small.any():   # the usual case, without the two extra passes of the guard
        return np.expm1(-rate * fraction) / np.expm1(-rate)
    safe = np.where(small, 1.0, rate)
    return np.where(small, fraction, np.expm1(-safe * fraction) / np.expm1(-safe))


def exp_shape_drate(fraction, rate):
    """d exp_shape / d rate; f(1 - f)/2 as rate -> 0."""
    fraction, rate = np.broadcast_arrays(np.asarray(fraction, float), np.asarray(rate, float))
    small = np.abs(rate) < 1e-6
    safe = np.where(small, 1.0, rate)
    denom = np.expm1(-safe)
    num = -fraction * np.exp(-safe * fraction) * denom + np.exp(-safe) * np.expm1(-safe * fraction)
    return np.where(small, 0.5 * fraction * (1 - fraction), num / denom ** 2)


def exp_shape_and_drate(fraction, rate):
    """(``exp_shape``, ``exp_shape_drate``) together, sharing their exponentials (the same numbers)."""
    fraction, rate = np.broadcast_arrays(np.asarray(fraction, float), np.asarray(rate, float))
    small = np.abs(rate) < 1e-6
    if small.any():
        return exp_shape(fraction, rate), exp_shape_drate(fraction, rate)
    e_f, e_1 = np.expm1(-rate * fraction), np.expm1(-rate)
    num = -fraction * np.exp(-rate * fraction) * e_1 + np.exp(-rate) * e_f
    return e_f / e_1, num / e_1 ** 2


def _offset_exp_jacobian(rows, P0, Pfull, k):
    shape, d_k = exp_shape_and_drate(rows.fraction, k)
    return _level_derivatives(P0, Pfull, shape, k=d_k)


def power_shape(fraction, alpha, log10_scale):
    """Saturating power law in trained tokens: (1 - (1 + f/s)^-a) / (1 - (1 + 1/s)^-a)."""
    scale = 10.0 ** np.asarray(log10_scale, float)
    return -np.expm1(-alpha * np.log1p(fraction / scale)) / -np.expm1(-alpha * np.log1p(1.0 / scale))


def power_shape_derivatives(fraction, alpha, log10_scale):
    """(d power_shape / d alpha, d power_shape / d log10_scale)."""
    scale = 10.0 ** np.asarray(log10_scale, float)
    u, big_u = np.log1p(fraction / scale), np.log1p(1.0 / scale)
    num, den = -np.expm1(-alpha * u), -np.expm1(-alpha * big_u)
    eu, ebig = np.exp(-alpha * u), np.exp(-alpha * big_u)
    d_alpha = (u * eu * den - num * big_u * ebig) / den ** 2
    du = -np.log(10.0) * (fraction / scale) / (1.0 + fraction / scale)
    dbig = -np.log(10.0) * (1.0 / scale) / (1.0 + 1.0 / scale)
    d_scale = (alpha * eu * du * den - num * alpha * ebig * dbig) / den ** 2
    return d_alpha, d_scale


def logistic_shape(fraction, mu, width):
    """Logistic in log trained tokens, normalised to 1 at the full pool: s((ln f - mu)/w) / s(-mu/w)."""
    log_f = np.log(np.maximum(np.asarray(fraction, float), 1e-300))
    return np.exp(-np.logaddexp(0.0, -(log_f - mu) / width) + np.logaddexp(0.0, mu / width))


def logistic_shape_derivatives(fraction, mu, width):
    """(d logistic_shape / d mu, d logistic_shape / d width)."""
    log_f = np.log(np.maximum(np.asarray(fraction, float), 1e-300))
    shape = logistic_shape(fraction, mu, width)
    z, z0 = -(log_f - mu) / width, mu / width
    sig, sig0 = 1.0 / (1.0 + np.exp(-z)), 1.0 / (1.0 + np.exp(-z0))   # d softplus / dz
    d_mu = shape * (-sig + sig0) / width
    d_width = shape * (-sig * (log_f - mu) - sig0 * mu) / width ** 2
    return d_mu, d_width


def _levels(rows, P0, Pfull, shape):
    return P0 + (Pfull - P0) * shape


def _level_derivatives(P0, Pfull, shape, **shape_derivatives):
    """Derivatives of P0 + (Pfull - P0) shape: the levels', and each shape parameter's through the shape."""
    out = {"P0": 1.0 - shape, "Pfull": shape + 0.0 * P0}
    out.update({name: (Pfull - P0) * d for name, d in shape_derivatives.items()})
    return out


def _paper_jacobian(rows, P0, Pbar, rate):
    x = rows.total_flops / rows.train_flops_full
    decay = np.exp(-rate * x)
    return {"P0": decay + 0.0 * P0, "Pbar": -np.expm1(-rate * x) + 0.0 * P0, "rate": (Pbar - P0) * x * decay}


def _power_jacobian(rows, P0, Pfull, alpha, log10_s):
    d_alpha, d_scale = power_shape_derivatives(rows.fraction, alpha, log10_s)
    return _level_derivatives(P0, Pfull, power_shape(rows.fraction, alpha, log10_s), alpha=d_alpha,
                              log10_s=d_scale)


def _logistic_jacobian(rows, P0, Pfull, width, mu):
    d_mu, d_width = logistic_shape_derivatives(rows.fraction, mu, width)
    return _level_derivatives(P0, Pfull, logistic_shape(rows.fraction, mu, width), width=d_width, mu=d_mu)


LEVELS = (
    Param("P0", level_bounds, lambda r, a: (float(r.metric.min()) - 0.5,), doc="zero-shot level, metric units"),
    Param("Pfull", level_bounds, lambda r, a: (float(r.metric[r.fraction == r.fraction.max()].mean()),),
          doc="metric after training on the whole pool, metric units"),
)

def paper_pbar(rows: pd.DataFrame, all_rows: pd.DataFrame) -> float:
    """The paper form's fixed asymptote of the rows' panel: the runs' ``pbar`` column when given (the user's
    Pbar: where the paper had an unplotted two-epoch run, its Pbar is that run's score), else the panel's best
    observed metric."""
    if "pbar" in rows.columns and rows.pbar.notna().any():
        return float(rows.pbar.dropna().median())
    return _panel_max(rows, all_rows)


def _paper_p0_bounds(rows: pd.DataFrame, all_rows: pd.DataFrame) -> tuple[float, float]:
    """[0, Pbar] as in the paper for non-negative metrics; for others (e.g. log-likelihoods) the level bounds
    below Pbar."""
    top = paper_pbar(rows, all_rows)
    if top > 0 and rows.metric.min() >= 0:
        return 0.0, top
    return min(level_bounds(rows, all_rows)[0], top - 1.0), top


PAPER = register_form(Form(
    name="paper",
    params=(
        Param("P0", _paper_p0_bounds, lambda r, a: (float(r.metric.min()), 0.5 * float(r.metric.min())),
              by=CURVE, doc="level at zero compute, bounded in [0, Pbar] as in the paper"),
        Param("Pbar", fixed=paper_pbar, doc="asymptote, fixed per panel: the runs' pbar column when given, else "
                                             "the panel's best observed metric (paper)"),
        Param("rate", (0.0, 1e4), lambda r, a: (float(np.median(r.train_flops_full)) / 1e18, 0.1, 1.0, 10.0, 100.0),
              by=CURVE,
              doc="exponent per full-pool training compute: g_per_flop x train_flops_full"),
    ),
    function=lambda rows, P0, Pbar, rate: P0 + (Pbar - P0) * -np.expm1(-rate * rows.total_flops / rows.train_flops_full),
    doc="Yin & Rush (2025): P0 + (Pbar - P0)(1 - exp(-g C)) with C the TOTAL compute, per method; Pbar fixed. "
        "Fitted as in the paper from one start (P0 at the curve's lowest metric, g = 1 per 1e18 FLOPs); pass "
        "max_starts to try the grid.",
    models_selection_offset=False,
    derived=lambda values, train_flops_full: {"g_per_flop": values["rate"] / train_flops_full},
    jacobian=_paper_jacobian,
    max_starts=1,
))

OFFSET_EXP = register_form(Form(
    name="offset_exp",
    params=LEVELS + (Param("k", (-30.0, 80.0), (0.5, 5.0, 30.0), by=CURVE,
                           doc="front-loading of the method's gains; larger = better early selection"),),
    function=lambda rows, P0, Pfull, k: _levels(rows, P0, Pfull, exp_shape(rows.fraction, k)),
    jacobian=_offset_exp_jacobian,
    doc="P0 + (Pfull - P0)(1 - exp(-k f))/(1 - exp(-k)): f the trained share of the pool, selection cost an "
        "offset; zero-shot P0 and full-pool Pfull shared by all methods of a panel, one rate k per method.",
))

POWER = register_form(Form(
    name="power",
    params=LEVELS + (
        Param("alpha", (0.02, 5.0), (0.3, 1.0), doc="power-law exponent, shared by the panel's methods"),
        Param("log10_s", (-5.0, 3.0), (-2.0, 0.0), by=CURVE,
              doc="log10 of the fraction where the method's gains saturate; smaller = better early selection"),
    ),
    function=lambda rows, P0, Pfull, alpha, log10_s: _levels(rows, P0, Pfull, power_shape(rows.fraction, alpha, log10_s)),
    jacobian=_power_jacobian,
    doc="Saturating power law in trained tokens, P0 + (Pfull - P0)(1 - (1 + f/s)^-a)/(1 - (1 + 1/s)^-a), "
        "shared levels and exponent, one scale s per method.",
))

LOGISTIC = register_form(Form(
    name="logistic",
    params=LEVELS + (
        Param("width", (0.05, 20.0), (1.0, 3.0), doc="logistic width in ln(fraction), shared by the panel"),
        Param("mu", (-15.0, 8.0), (-4.0, -1.0), by=CURVE, doc="ln(fraction) of the method's midpoint"),
    ),
    function=lambda rows, P0, Pfull, width, mu: _levels(rows, P0, Pfull, logistic_shape(rows.fraction, mu, width)),
    jacobian=_logistic_jacobian,
    doc="Logistic in log trained tokens (log compute less the selection offset), normalised to reach Pfull at "
        "the full pool; shared levels and width, one midpoint per method.",
))

register_form(OFFSET_EXP.share("offset_exp_pooled", k=("method",)))
register_form(replace(OFFSET_EXP.share("offset_exp_selector", k="selector_size"), selector_size_dependence=True,
                      doc="offset_exp with each method's rate k linear in log10(selector_params): a smaller, "
                          "cheaper selector may rank worse. Needs runs that vary the selector's size."))

LEVEL_PARAMS = ("P0", "Pfull", "Pbar")
"""Parameters that are metric levels; a sized form makes them linear in log10(train_params)."""


def panel_form_name(name: str) -> str:
    """The per-panel form a size model extends (``power_size`` -> ``power``); any other name as it is."""
    return name[:-len("_size")] if name.endswith("_size") else name


def sized(form: Form | str, name: str | None = None) -> Form:
    """The size-aware variant of a form: its levels linear in log10(train_params) per task (fixed levels become
    fitted), its shape parameters shared across model sizes. Used to forecast sizes nobody has run."""
    form = get_form(form)
    params = []
    for p in form.params:
        if "train_model" not in p.by:
            params.append(p)
        elif p.name in LEVEL_PARAMS:
            bounds = level_bounds if p.fixed is not None or p.name == "P0" else p.bounds
            starts = p.starts if p.fixed is None else (lambda r, a: (float(r.metric.max()),))
            params.append(replace(p, by=tuple(c for c in p.by if c != "train_model"), size=True, fixed=None,
                                  bounds=bounds, starts=starts or (lambda r, a: (float(r.metric.mean()),))))
        else:
            params.append(replace(p, by=tuple(c for c in p.by if c != "train_model")))
    # a new form, not the paper's procedure: it tries its whole start grid
    return replace(form, name=name or f"{form.name}_size", params=tuple(params), max_starts=None)


def train_tokens(rows) -> np.ndarray:
    """Tokens trained on, D: the ``train_tokens`` column when the rows have it, else fraction x pool_tokens."""
    tokens = getattr(rows, "train_tokens", None)
    if tokens is not None:
        return np.asarray(tokens, float)
    return np.asarray(rows.fraction, float) * np.asarray(rows.pool_tokens, float)


def _loss_floor_bounds(rows: pd.DataFrame, all_rows: pd.DataFrame) -> tuple[float, float]:
    """The irreducible loss E in [0, the curve's smallest observed metric]."""
    return 0.0, max(float(rows.metric.min()), 1e-9)


def _loss_floor_starts(rows: pd.DataFrame, all_rows: pd.DataFrame) -> tuple[float, ...]:
    low = float(rows.metric.min())
    return (0.9 * low, 0.5 * low)


RECTIFIED = register_form(Form(
    name="rectified",
    params=(
        Param("log10_B", (-5.0, 30.0), (2.0, 5.0), by=CURVE, doc="log10 of the scale B (metric x tokens^beta)"),
        Param("log10_Dl", (-5.0, 20.0), (1.0, 4.0), by=CURVE,
              doc="log10 of the pre-learned data size D_l (in units of tokens^beta)"),
        Param("beta", (0.01, 3.0), (0.3, 0.7), by=CURVE, doc="data exponent"),
        Param("E", _loss_floor_bounds, _loss_floor_starts, by=CURVE, doc="irreducible loss, metric units"),
    ),
    function=lambda rows, log10_B, log10_Dl, beta, E: (
        E + 10.0 ** log10_B / (10.0 ** log10_Dl + train_tokens(rows) ** beta)),
    doc="Rectified scaling law of Lin et al. (ICML 2024) for fine-tuning loss: L(D) = B / (D_l + D^beta) + E, "
        "D the tokens trained on, per curve; fitted in log space. Lower is better.",
    loss="linear", log_space=True, max_starts=16, higher_is_better=False,
))

POWER_LAW = register_form(Form(
    name="power_law",
    params=(
        Param("log10_B", (-5.0, 30.0), (2.0, 5.0), by=CURVE, doc="log10 of the scale B (metric x tokens^beta)"),
        Param("beta", (0.01, 3.0), (0.3, 0.7), by=CURVE, doc="data exponent"),
        Param("E", _loss_floor_bounds, _loss_floor_starts, by=CURVE, doc="irreducible loss, metric units"),
    ),
    function=lambda rows, log10_B, beta, E: E + 10.0 ** log10_B / train_tokens(rows) ** beta,
    doc="Vanilla power law in the data size, L(D) = B / D^beta + E (the rectified law with D_l = 0), per curve; "
        "fitted in log space. Lower is better.",
    loss="linear", log_space=True, max_starts=8, higher_is_better=False,
))


for _base in (PAPER, OFFSET_EXP, POWER, LOGISTIC):
    register_form(sized(_base))
