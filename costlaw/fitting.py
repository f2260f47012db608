"""The fitting engine shared by every curve form: bounds, a grid of starts, robust losses, joint fits.

``fit(runs, form)`` splits the runs into independent blocks (groups that share no free parameter), fits each
with ``scipy.optimize.least_squares`` from every start of the form's grid, keeps the best, and returns a
``CurveFit`` that predicts, summarises, scores (RMSE, AIC, BIC) and round-trips through JSON.
"""
from __future__ import annotations

import itertools
import json
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from statsmodels.tools import eval_measures

from .errors import FitError
from .curves import CURVE, PANEL, Form, columns, get_form
from .schema import validate_runs

LOSSES = ("linear", "soft_l1", "huber", "cauchy")




def _key(values) -> str:
    return "|".join(str(v) for v in values)


def _keys(rows: pd.DataFrame, cols) -> pd.Series:
    """Group key per row: the values of ``cols`` joined by '|' ('' when no columns)."""
    if not cols:
        return pd.Series("", index=rows.index)
    values = [rows[c].to_numpy() for c in cols]
    if all((v == v[0]).all() for v in values):  # a grid of one curve: one key for all rows
        return pd.Series("|".join(str(v[0]) for v in values), index=rows.index)
    first = rows[cols[0]].astype(str)
    return first.str.cat([rows[c].astype(str) for c in cols[1:]], sep="|") if len(cols) > 1 else first


def _context(runs: pd.DataFrame) -> pd.DataFrame:
    """Columns every form may read: fraction, total_flops, train_flops_full, log10_params."""
    out = runs.copy()
    if "train_flops_full" not in out.columns:
        out["train_flops_full"] = out.train_flops / out.fraction
    out["log10_params"] = np.log10(out.train_params)
    selector = out["selector_params"].to_numpy(float) if "selector_params" in out.columns else np.zeros(len(out))
    out["log10_selector_params"] = np.log10(np.maximum(selector, 1.0))
    return out


@dataclass
class _Design:
    """Maps a flat parameter vector onto per-row parameter arrays for one block of runs."""

    form: Form
    rows: pd.DataFrame
    all_rows: pd.DataFrame
    names: list = field(default_factory=list)    # (param, group key, kind) per free entry; kind in {"", "slope"}
    lower: list = field(default_factory=list)
    upper: list = field(default_factory=list)
    starts: list = field(default_factory=list)   # per free entry: tuple of starting values
    index: dict = field(default_factory=dict)    # param name -> per-row index into theta (or fixed values)
    slope_index: dict = field(default_factory=dict)  # param -> per-row entry index (len(names): fixed at 0)
    slope_offset: dict = field(default_factory=dict)  # param -> per-row covariate minus its group's reference
    refs: dict = field(default_factory=dict)         # (param, group) -> reference covariate value
    fixed: dict = field(default_factory=dict)        # param name -> {group key: value}
    unidentified: list = field(default_factory=list)  # (param, group) whose slope cannot be fitted

    def build(self) -> "_Design":
        for p in self.form.params:
            keys = _keys(self.rows, list(p.by))
            groups = {k: self.rows[keys == k] for k in pd.unique(keys)}
            if p.fixed is not None:
                self.fixed[p.name] = {k: float(p.fixed(g, self.all_rows)) for k, g in groups.items()}
                self.index[p.name] = keys.map(self.fixed[p.name]).to_numpy(float)
                continue
            slot = {}
            for k, g in groups.items():
                lo, hi = p.bounds(g, self.all_rows) if callable(p.bounds) else p.bounds
                starts = tuple(p.starts(g, self.all_rows)) if callable(p.starts) else tuple(p.starts) or (0.5 * (lo + hi),)
                slot[k] = len(self.names)
                self.names.append((p.name, k, ""))
                self.lower.append(lo), self.upper.append(hi), self.starts.append(starts)
            self.index[p.name] = keys.map(slot).to_numpy(int)
            if p.slope_column:
                sslot = {}
                for k, g in groups.items():
                    self.refs[(p.name, k)] = float(g[p.slope_column].mean())
                    if g[p.slope_column].nunique() < 2:
                        self.unidentified.append((p.name, k))
                        sslot[k] = -1
                        continue
                    sslot[k] = len(self.names)
                    self.names.append((p.name, k, "slope"))
                    self.lower.append(-100.0), self.upper.append(100.0), self.starts.append((0.0,))
                self.slope_index[p.name] = np.array(keys.map(sslot).to_numpy(int))
                ref = keys.map({k: self.refs[(p.name, k)] for k in groups}).to_numpy(float)
                self.slope_offset[p.name] = self.rows[p.slope_column].to_numpy(float) - ref
        for name, idx in self.slope_index.items():  # unidentified slopes read a 0 appended to theta
            idx[idx < 0] = len(self.names)
        return self

    def values(self, theta: np.ndarray) -> dict:
        out = {}
        padded = np.append(theta, 0.0)
        for p in self.form.params:
            idx = self.index[p.name]
            if p.fixed is not None:
                out[p.name] = idx
                continue
            v = theta[idx]
            if p.slope_column:
                v = v + padded[self.slope_index[p.name]] * self.slope_offset[p.name]
            out[p.name] = v
        return out

    def sparsity(self) -> np.ndarray:
        """Which free entries each row's prediction depends on (rows x entries), for a sparse Jacobian."""
        pattern = np.zeros((len(self.rows), len(self.names)), dtype=bool)
        rows = np.arange(len(self.rows))
        for p in self.form.params:
            if p.fixed is None:
                pattern[rows, self.index[p.name]] = True
                if p.slope_column:
                    fitted = self.slope_index[p.name] < len(self.names)
                    pattern[rows[fitted], self.slope_index[p.name][fitted]] = True
        return pattern

    def warm_start(self, start: "CurveFit") -> np.ndarray:
        """Starting vector from a previous fit's values (same parameter, group and kind); grid start elsewhere."""
        table = start.params_.set_index(["param", "group", "kind"]).value
        x0 = np.array([table.get(name, self.starts[i][0]) for i, name in enumerate(self.names)], float)
        lo, hi = np.array(self.lower), np.array(self.upper)
        span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
        return np.clip(x0, lo + 1e-9 * span, hi - 1e-9 * span)

    def grid(self, max_starts: int):
        """Starting vectors: the product over parameter names of each name's start list."""
        by_name: dict[str, list[int]] = {}
        for i, (name, _, kind) in enumerate(self.names):
            by_name.setdefault(name + kind, []).append(i)
        lengths = {n: max(len(self.starts[i]) for i in ids) for n, ids in by_name.items()}
        combos = list(itertools.product(*[range(lengths[n]) for n in by_name]))[:max_starts]
        lo, hi = np.array(self.lower), np.array(self.upper)
        for combo in combos:
            x0 = np.empty(len(self.names))
            for n, pos in zip(by_name, combo):
                for i in by_name[n]:
                    x0[i] = self.starts[i][pos % len(self.starts[i])]
            span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
            yield np.clip(x0, lo + 1e-9 * span, hi - 1e-9 * span)


@dataclass
class CurveFit:
    """A fitted form: parameter values per group, fit statistics, predictions. Learned state ends in ``_``."""

    form: Form
    loss: str
    params_: pd.DataFrame           # param, group, kind, value, bounds, at_bound, fixed, ref (slope covariate), by
    runs_: pd.DataFrame              # the runs fitted, with the context columns of ``_context``
    converged_: bool
    messages_: list

    # ---- prediction -----------------------------------------------------------------------------------------
    def _lookup(self, rows: pd.DataFrame) -> dict:
        out = {}
        table = self.params_
        for p in self.form.params:
            sub = table[table.param == p.name]
            keys = _keys(rows, list(p.by))
            base = dict(zip(sub.group[sub.kind == ""], sub.value[sub.kind == ""]))
            missing = sorted(set(keys) - set(base))
            if missing:
                what = ", ".join(f"{c}" for c in p.by)
                hint = (" (this form does not model size; fit a size-aware form such as 'offset_exp_size')"
                        if "train_model" in p.by else "")
                raise KeyError(f"form '{self.form.name}' has no fitted '{p.name}' for {what} = {missing[0]}{hint}")
            v = keys.map(base).to_numpy(float)
            if p.slope_column:
                slope = dict(zip(sub.group[sub.kind == "slope"], sub.value[sub.kind == "slope"]))
                ref = dict(zip(sub.group[sub.kind == "slope"], sub.ref[sub.kind == "slope"]))
                v = v + keys.map(slope).to_numpy(float) * (rows[p.slope_column].to_numpy() - keys.map(ref).to_numpy(float))
            out[p.name] = v
        return out

    def curve_params(self, rows: pd.DataFrame) -> dict:
        """Parameter values (name -> array, one per row) at ``rows`` (runs-like: task, train_model, method,
        train_params, selector_params): evaluate a curve's parameters once, then its form on a dense grid."""
        return self._lookup(_context(rows.reset_index(drop=True)))

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """Predicted metric for rows with task, train_model, method, train_params, fraction and FLOP columns."""
        rows = _context(rows.reset_index(drop=True))
        return self.form(rows, **self._lookup(rows))

    # ---- statistics -----------------------------------------------------------------------------------------
    @property
    def residuals_(self) -> np.ndarray:
        return self.runs_.metric.to_numpy() - self.predict(self.runs_)

    @property
    def n_params(self) -> int:
        return int((~self.params_.fixed).sum())

    @property
    def rmse(self) -> float:
        return float(np.sqrt(np.mean(self.residuals_ ** 2)))

    def _llf(self) -> float:
        n = len(self.runs_)
        rss = float(np.sum(self.residuals_ ** 2))
        return -0.5 * n * (np.log(2 * np.pi * max(rss, 1e-300) / n) + 1)

    @property
    def aic(self) -> float:
        """Gaussian AIC with the noise variance as one more parameter (statsmodels' eval_measures)."""
        return float(eval_measures.aic(self._llf(), len(self.runs_), self.n_params + 1))

    @property
    def bic(self) -> float:
        return float(eval_measures.bic(self._llf(), len(self.runs_), self.n_params + 1))

    def summary(self) -> pd.DataFrame:
        """One row per fitted curve: task, train_model, method, form, n_points, rmse, one column per parameter."""
        runs = self.runs_.assign(_resid=self.residuals_)
        curves = runs.groupby(list(CURVE), sort=False)
        rows = []
        for (task, model, method), g in curves:
            first = g.iloc[[0]]
            values = self._lookup(_context(first))
            row = {"task": task, "train_model": model, "method": method, "form": self.form.name,
                   "n_points": len(g), "rmse": float(np.sqrt(np.mean(g._resid ** 2)))}
            row.update({name: float(v[0]) for name, v in values.items()})
            if self.form.derived is not None:
                row.update(self.form.derived(row, float(first.train_flops.iloc[0] / first.fraction.iloc[0])))
            rows.append(row)
        return pd.DataFrame(rows)

    def stats(self) -> dict:
        return {"form": self.form.name, "loss": self.loss, "n_points": len(self.runs_), "n_params": self.n_params,
                "rmse": self.rmse, "mae": float(np.mean(np.abs(self.residuals_))), "aic": self.aic, "bic": self.bic,
                "converged": self.converged_}

    # ---- serialisation --------------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({
            "form": self.form.name, "loss": self.loss, "converged": self.converged_, "messages": self.messages_,
            "scopes": {p.name: {"by": list(p.by), "size": p.size, "selector_size": p.selector_size}
                       for p in self.form.params},
            "params": self.params_.to_dict(orient="records"),
            "runs": self.runs_.drop(columns=["train_flops_full", "log10_params", "log10_selector_params"], errors="ignore").to_dict(orient="list"),
        }, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "CurveFit":
        data = json.loads(text)
        form = get_form(data["form"])
        form = form.share(form.name, **{n: tuple(s["by"]) for n, s in data["scopes"].items()})
        form = form.share(form.name, **{n: "size" if s["size"] else "selector_size"
                                        for n, s in data["scopes"].items() if s["size"] or s.get("selector_size")})
        runs = pd.DataFrame(data["runs"])
        return cls(form, data["loss"], pd.DataFrame(data["params"]), _context(runs), data["converged"],
                   data["messages"])


def _blocks(form: Form, runs: pd.DataFrame) -> list[pd.DataFrame]:
    """Independent groups of runs: split on the columns every free parameter varies over."""
    common = None
    for p in form.params:
        if p.fixed is not None:
            continue
        cols = set(p.by)
        common = cols if common is None else common & cols
    cols = [c for c in ("task", "train_model", "method") if c in (common or set())]
    if not cols:
        return [runs]
    return [g for _, g in runs.groupby(cols, sort=False)]


def fit(runs: pd.DataFrame, form: str | Form = "offset_exp", loss: str | None = None, f_scale: float = 0.5,
        max_starts: int = 64, start: CurveFit | None = None, validate: bool = True) -> CurveFit:
    """Fit ``form`` to ``runs`` (the runs schema) and return a ``CurveFit``.

    loss: ``linear`` (least squares), ``soft_l1`` or ``huber`` (robust, with ``f_scale`` in metric units).
    Every start of the form's grid is tried (at most ``max_starts``) and the lowest cost kept. With ``start``
    (a previous fit, e.g. for bootstrap or cross-validation refits), one joint solve from its values instead.
    """
    form = get_form(form)
    loss = loss or form.loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss '{loss}'; available: {', '.join(LOSSES)}")
    runs = _context(validate_runs(runs) if validate else runs.reset_index(drop=True))
    rows_out, messages, converged = [], [], True
    blocks = _blocks(form, runs)
    joint = start is not None and len(blocks) > 6  # warm refits: one sparse solve beats many small ones
    for block in ([runs] if joint else blocks):
        design = _Design(form, block, runs).build()
        y = block.metric.to_numpy(float)
        arrays = columns(block)

        def residuals(theta):
            return form(arrays, **design.values(theta)) - y

        best = None
        starts = [design.warm_start(start)] if start is not None else design.grid(max_starts)
        sparsity = design.sparsity() if joint else None
        for x0 in starts:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = least_squares(residuals, x0, bounds=(design.lower, design.upper), loss=loss, f_scale=f_scale,
                                    x_scale="jac", max_nfev=3000, jac_sparsity=sparsity,
                                    tr_solver="lsmr" if sparsity is not None else None)
            if np.all(np.isfinite(res.fun)) and (best is None or res.cost < best.cost):
                best = res
        label = _key(block[list(PANEL)].iloc[0]) if len(block) else "?"
        if best is None:
            raise FitError(f"form '{form.name}' gave no finite fit for {label}; check the runs or try another form")
        if best.status <= 0:
            converged = False
            messages.append(f"{label}: did not converge ({best.message}); try loss='linear', more starts, or a "
                            f"form with fewer parameters")
        for name, group in design.unidentified:
            messages.append(f"{label}: the selector-size slope of '{name}' for {group} is not identifiable (its runs "
                            f"use one selector size); fixed at 0")
        lo, hi = np.array(design.lower), np.array(design.upper)
        span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
        at_bound = (np.abs(best.x - lo) < 1e-6 * span) | (np.abs(best.x - hi) < 1e-6 * span)
        for (name, group, kind), value, l, h, b in zip(design.names, best.x, lo, hi, at_bound):
            rows_out.append({"param": name, "group": group, "kind": kind, "value": float(value), "lo_bound": l,
                             "hi_bound": h, "at_bound": bool(b), "fixed": False,
                             "ref": design.refs.get((name, group), np.nan), "by": ",".join(form.param(name).by)})
        for name, group in design.unidentified:
            rows_out.append({"param": name, "group": group, "kind": "slope", "value": 0.0, "lo_bound": 0.0,
                             "hi_bound": 0.0, "at_bound": False, "fixed": True, "ref": design.refs[(name, group)],
                             "by": ",".join(form.param(name).by)})
        for name, groups in design.fixed.items():
            for group, value in groups.items():
                rows_out.append({"param": name, "group": group, "kind": "", "value": value, "lo_bound": value,
                                 "hi_bound": value, "at_bound": False, "fixed": True,
                                 "ref": np.nan, "by": ",".join(form.param(name).by)})
    params = pd.DataFrame(rows_out).drop_duplicates(subset=["param", "group", "kind"])
    return CurveFit(form, loss, params.reset_index(drop=True), runs, converged, messages)
