"""A fitted form and its bootstrap refits as plain arrays: what the planner evaluates, without pandas.

``FitArrays`` holds a fit's form, its parameter layout (per parameter: the groups' keys and each group's entry and
slope entry in the flat vector), the point values, the replicates' values and the fitted runs as NumPy columns. It
gathers parameter values for rows by group key and evaluates the form, with the same arithmetic as
``CurveFit.param_values`` / ``CurveFit.predict`` (so the numbers are the same), and gives the per-panel residual
noise of ``Bootstrap.noise_sd``. ``costlaw.store.load_fit_arrays`` reads it straight from a ``fit.json``;
``FitArrays.from_bootstrap`` wraps a loaded ``Bootstrap``; ``bootstrap()`` gives the ``Bootstrap`` back (pandas)
for the work that needs it (refits, pilot forecasts).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .curves import Form, get_form
from .errors import UnknownName
from .noise import residual_noise_sd

CONTEXT_COLUMNS = ("train_flops_full", "log10_params", "log10_selector_params")
"""Columns derived from the runs (``fitting.context``), not stored in fit files."""


def context_columns(cols: dict) -> dict:
    """``cols`` (name -> array) with the context columns of ``costlaw.fitting.context``: train_flops_full,
    log10_params, log10_selector_params (same arithmetic)."""
    out = dict(cols)
    if "train_flops_full" not in out:
        out["train_flops_full"] = np.asarray(out["train_flops"]) / np.asarray(out["fraction"])
    out["log10_params"] = np.log10(np.asarray(out["train_params"]))
    n = len(out["train_params"])
    selector = np.asarray(out["selector_params"], float) if "selector_params" in out else np.zeros(n)
    out["log10_selector_params"] = np.log10(np.maximum(selector, 1.0))
    return out


def find_groups(index: dict, keys: list, form_name: str, param) -> np.ndarray:
    """Each key's group number in ``index`` ({group key: number}) of parameter ``param`` (a ``curves.Param``);
    ``UnknownName`` naming the first group the fit has not seen."""
    found = np.array([index.get(k, -1) for k in keys], dtype=np.intp)
    if (found < 0).any():
        missing = keys[int(np.flatnonzero(found < 0)[0])]
        hint = (" (this form does not model size; fit a size-aware form such as 'offset_exp_size')"
                if "train_model" in param.by else "")
        where = ", ".join(f"{c}={v}" for c, v in zip(param.by, missing))
        raise UnknownName(f"form '{form_name}' has no fitted '{param.name}' for {where}{hint}")
    return found


def numeric(cols: dict) -> SimpleNamespace:
    """The numeric (and boolean) columns of ``cols`` with attribute access, as forms read them."""
    return SimpleNamespace(**{c: v for c, v in cols.items() if isinstance(v, np.ndarray) and v.dtype.kind in "biufc"})


def shared_form(name: str, scopes: dict) -> Form:
    """The registered form ``name`` with the parameter scopes a fit file records (``CurveFit.from_dict`` and
    ``FitArrays`` read fits with it)."""
    form = get_form(name)
    form = form.share(form.name, **{n: tuple(s["by"]) for n, s in scopes.items()})
    return form.share(form.name, **{n: "size" if s["size"] else "selector_size"
                                    for n, s in scopes.items() if s["size"] or s.get("selector_size")})


class FitArrays:
    """A fit (``form``, layout, point values ``x``) with bootstrap values (``values``: n_boot x entries) and the
    fitted runs as columns (``runs``: name -> array, with the context columns)."""

    def __init__(self, form: Form, loss: str, keys: dict, base: dict, slope: dict, ref: dict, free: np.ndarray,
                 x: np.ndarray, values: np.ndarray, runs: dict, seed: int, level: float,
                 converged: np.ndarray | None = None, source=None):
        self.form, self.loss = form, loss
        self.keys, self.base, self.slope, self.ref = keys, base, slope, ref
        self.index = {name: {tuple(k): g for g, k in enumerate(ks)} for name, ks in keys.items()}
        self.free = np.asarray(free, bool)
        self.x = np.asarray(x, float)
        self.values = np.asarray(values, float).reshape(-1, len(self.x))
        self.runs = runs
        self.seed, self.level, self.converged = seed, level, converged
        self._source = source

    # ---- building --------------------------------------------------------------------------------------------
    @classmethod
    def from_group(cls, group: dict) -> "FitArrays":
        """From one group of a ``fit.json`` (format 2: ``fit``, ``seed``, ``level``, ``replicates``, ``converged``).
        Raises KeyError/TypeError/ValueError on a malformed group."""
        data = group["fit"]
        form = shared_form(data["form"], data["scopes"])
        layout = data["layout"]
        runs = context_columns({c: np.asarray(v) for c, v in data["runs"].items()})
        x = np.array(data["values"], float)
        converged = None if group.get("converged") is None else np.asarray(group["converged"], bool)
        out = cls(form, data["loss"], {n: [tuple(k) for k in ks] for n, ks in layout["keys"].items()},
                  {n: np.array(v, np.intp) for n, v in layout["base"].items()},
                  {n: np.array(v, np.intp) for n, v in layout["slope"].items()},
                  {n: (None if v is None else np.array(v, float)) for n, v in layout["ref"].items()},
                  np.array(layout["free"], bool), x, np.asarray(group["replicates"], float).reshape(-1, len(x)),
                  runs, group["seed"], group["level"], converged)
        out._group = group
        return out

    @classmethod
    def from_bootstrap(cls, boot) -> "FitArrays":
        """From a ``costlaw.uncertainty.Bootstrap`` (its point fit, layout, replicates and runs)."""
        if isinstance(boot, FitArrays):
            return boot
        fit, layout = boot.fit, boot.fit.layout_
        runs = {c: fit.runs_[c].to_numpy() for c in fit.runs_.columns if isinstance(c, str)}
        return cls(fit.form, fit.loss, layout.keys, layout.base, layout.slope, layout.ref, layout.free, fit.x_,
                   boot.values, runs, boot.seed, boot.level, boot.converged, source=boot)

    def bootstrap(self):
        """The ``Bootstrap`` (pandas) of this fit: the one it was made from, or built from its fit file's group."""
        if self._source is None:
            from .uncertainty import Bootstrap
            self._source = Bootstrap.from_dict(self._group)
        return self._source

    @property
    def fit(self):
        """The point fit as a ``CurveFit`` (pandas; built on first use)."""
        return self.bootstrap().fit

    # ---- what plans read -------------------------------------------------------------------------------------
    @property
    def n_boot(self) -> int:
        return len(self.values)

    @property
    def n_params(self) -> int:
        return int(self.free.sum())

    def unique(self, column: str, rows=None) -> list:
        """Distinct values of a run column (of ``rows``, a boolean mask, if given) in order of first appearance."""
        values = self.runs[column] if rows is None else self.runs[column][rows]
        return list(dict.fromkeys(values.tolist()))

    def param_values(self, rows: dict, values: np.ndarray | None = None) -> dict:
        """Per-row parameter values for ``rows`` (name -> array, with the context columns): {name: array}, or
        with ``values`` (R, n_entries) arrays (R, n_rows); as ``CurveFit.param_values``."""
        values = self.x if values is None else values
        out = {}
        for p in self.form.params:
            g = self._row_groups(rows, p)
            v = values[..., self.base[p.name][g]]
            if p.slope_column:
                offset = np.asarray(rows[p.slope_column], float) - self.ref[p.name][g]
                v = v + values[..., self.slope[p.name][g]] * offset
            out[p.name] = v
        return out

    def _row_groups(self, rows: dict, p) -> np.ndarray:
        n = len(next(iter(rows.values())))
        cols = [np.asarray(rows[c]).tolist() for c in p.by]
        keys = list(zip(*[[str(v) for v in col] for col in cols])) if cols else [()] * n
        return find_groups(self.index[p.name], keys, self.form.name, p)

    def predict(self, rows: dict, values: np.ndarray | None = None) -> np.ndarray:
        """The form at ``rows`` (name -> array with the columns the form reads and the context columns)."""
        params = self.param_values(rows, values)
        out = self.form(numeric(rows), **params)
        return np.broadcast_to(out, next(iter(params.values())).shape).copy() if params else out

    def residuals(self) -> np.ndarray:
        """Observed minus fitted metric of every run (metric units)."""
        if getattr(self, "_residuals", None) is None:
            self._residuals = np.asarray(self.runs["metric"]) - self.predict(self.runs)
        return self._residuals

    def noise_sd(self) -> dict:
        """Residual standard deviation per panel {(task, train_model): sd}: ``noise.residual_noise_sd`` (as
        ``Bootstrap.noise_sd``)."""
        return residual_noise_sd(self.runs["task"], self.runs["train_model"], self.residuals(), self.n_params)
