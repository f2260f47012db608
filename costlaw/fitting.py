"""The fitting engine shared by every curve form: bounds, a grid of starts, robust losses, independent blocks.

``fit(runs, form)`` lays the form's parameters out as one flat vector of entries (each a parameter, a group of its
``by`` columns given by an integer code, and a kind: level or slope), splits the runs into independent blocks
(groups of runs that share no free parameter), and solves every (block, start) problem at once with a vectorised
bounded Levenberg-Marquardt (``costlaw.levmar``) using the form's analytic Jacobian; robust losses, and any
problem the batch leaves unconverged, go to ``scipy.optimize.least_squares``. ``refit`` solves the same design
again under new run weights (bootstrap multiplicities, a left-out run), warm-started, all problems together.
The result, a ``CurveFit``, predicts by gathering entries by index, summarises, scores (RMSE, AIC, BIC), reports
parameters at a bound and underdetermined groups, and round-trips through JSON.
"""
from __future__ import annotations

import itertools
import json
import warnings
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import SimpleNamespace

import numpy as np
import pandas as pd

from . import levmar
from .curves import CURVE, Form, get_form
from .errors import CostlawWarning, FitError, InputError
from .fitarrays import find_groups, shared_form
from .schema import validate_runs

KEY_COLUMNS = ("task", "train_model", "method")
"""Columns a parameter's group can vary over; ``params_`` carries each as a column."""
from .choices import LOSSES  # noqa: E402  (with the other option choices, importable without pandas)
MAX_STARTS = 64
CHUNK_ELEMENTS = 2_000_000
"""Largest Jacobian (problems x residuals x parameters) one batched solve holds in memory at a time."""
BOUND_TOL = 1e-6
"""An entry within this share of its bound's span of a bound is reported as at the bound."""


def context(runs: pd.DataFrame) -> pd.DataFrame:
    """Columns every form may read: fraction, total_flops, train_flops_full, log10_params, log10_selector_params."""
    out = runs.copy()
    if "train_flops_full" not in out.columns:
        out["train_flops_full"] = out.train_flops / out.fraction
    out["log10_params"] = np.log10(out.train_params)
    selector = out["selector_params"].to_numpy(float) if "selector_params" in out.columns else np.zeros(len(out))
    out["log10_selector_params"] = np.log10(np.maximum(selector, 1.0))
    return out


_context = context  # the former private name, kept for callers not yet moved to ``context``


def group_codes(rows: pd.DataFrame, by) -> tuple[np.ndarray, list]:
    """Integer group code per row for the columns ``by`` and the groups' keys (tuples of str), in order of
    first appearance. No columns: one group, key ()."""
    by = list(by)
    if not by:
        return np.zeros(len(rows), dtype=np.intp), [()]
    codes, uniques = [], []
    for c in by:
        code, uniq = pd.factorize(rows[c], sort=False)
        codes.append(code)
        uniques.append([str(u) for u in uniq])
    if len(by) == 1:
        return codes[0].astype(np.intp), [(u,) for u in uniques[0]]
    dims = [max(len(u), 1) for u in uniques]
    combined = np.ravel_multi_index(codes, dims)
    code, uniq = pd.factorize(combined, sort=False)
    parts = np.unravel_index(uniq, dims)
    keys = [tuple(uniques[j][parts[j][i]] for j in range(len(by))) for i in range(len(uniq))]
    return code.astype(np.intp), keys


def _split(codes: np.ndarray, n: int) -> list:
    """Row indices per code 0..n-1."""
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.searchsorted(codes[order], np.arange(1, n)))


@dataclass
class Layout:
    """Where a fit's parameter values live: a flat vector of entries, each (parameter, group, kind).

    ``keys[name]`` lists the groups of a parameter (tuples of its ``by`` values); ``base[name]`` and
    ``slope[name]`` give each group's entry (slope: -1 when the parameter has none); ``ref[name]`` its slope
    covariate's reference. Entries carry bounds, starts, a ``free`` flag and their block. Every bootstrap
    replicate shares its point fit's layout, so evaluating all of them is one gather.
    """

    form: Form
    keys: dict
    base: dict
    slope: dict
    ref: dict
    entry_param: np.ndarray
    entry_group: np.ndarray
    entry_kind: np.ndarray           # "" (the value) or "slope"
    lower: np.ndarray
    upper: np.ndarray
    free: np.ndarray
    starts: list
    entry_block: np.ndarray          # block of each free entry (-1 for fixed entries)
    index: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.index:
            self.index = {name: {k: g for g, k in enumerate(keys)} for name, keys in self.keys.items()}

    @property
    def n_entries(self) -> int:
        return len(self.lower)

    def row_groups(self, rows: pd.DataFrame, name: str) -> np.ndarray:
        """Each row's group index for parameter ``name`` (KeyError naming a group the fit has not seen)."""
        p = self.form.param(name)
        codes, keys = group_codes(rows, p.by)
        return find_groups(self.index[name], keys, self.form.name, p)[codes]

    def gather(self, rows: pd.DataFrame, values: np.ndarray) -> dict:
        """Per-row parameter values for ``rows`` (with the context columns) from entry ``values`` (..., n_entries):
        {name: array (..., n_rows)}."""
        out = {}
        for p in self.form.params:
            g = self.row_groups(rows, p.name)
            v = values[..., self.base[p.name][g]]
            if p.slope_column:
                offset = rows[p.slope_column].to_numpy(float) - self.ref[p.name][g]
                v = v + values[..., self.slope[p.name][g]] * offset
            out[p.name] = v
        return out

    def table(self, values: np.ndarray) -> pd.DataFrame:
        """The entries as a DataFrame: param, group ('|'-joined key), task, train_model, method (the key as columns,
        '' where the parameter does not vary over one), kind, value, lo_bound, hi_bound, at_bound, fixed, ref, by."""
        groups = ["|".join(self.keys[n][g]) for n, g in zip(self.entry_param, self.entry_group)]
        key_columns = {}  # real key columns: the group's value, or "" where the parameter does not vary over it
        for col in KEY_COLUMNS:
            key_columns[col] = [dict(zip(self.form.param(n).by, self.keys[n][g])).get(col, "")
                                for n, g in zip(self.entry_param, self.entry_group)]
        refs = np.array([self.ref[n][g] if self.ref.get(n) is not None else np.nan
                         for n, g in zip(self.entry_param, self.entry_group)], float)
        return pd.DataFrame({
            "param": self.entry_param, "group": groups, **key_columns, "kind": self.entry_kind, "value": np.asarray(values, float),
            "lo_bound": self.lower, "hi_bound": self.upper, "at_bound": self.at_bound(values), "fixed": ~self.free,
            "ref": np.where(self.entry_kind == "slope", refs, np.nan),
            "by": [",".join(self.form.param(n).by) for n in self.entry_param]})

    def at_bound(self, values: np.ndarray) -> np.ndarray:
        span = np.where(np.isfinite(self.upper - self.lower), self.upper - self.lower, 1.0)
        near = (np.abs(values - self.lower) < BOUND_TOL * span) | (np.abs(values - self.upper) < BOUND_TOL * span)
        return near & self.free

    def to_dict(self) -> dict:
        return {"keys": {n: [list(k) for k in ks] for n, ks in self.keys.items()},
                "base": {n: v.tolist() for n, v in self.base.items()},
                "slope": {n: v.tolist() for n, v in self.slope.items()},
                "ref": {n: (None if v is None else v.tolist()) for n, v in self.ref.items()},
                "entry_param": self.entry_param.tolist(), "entry_group": self.entry_group.tolist(),
                "entry_kind": self.entry_kind.tolist(), "lower": self.lower.tolist(), "upper": self.upper.tolist(),
                "free": self.free.tolist(), "entry_block": self.entry_block.tolist()}

    @classmethod
    def from_dict(cls, form: Form, data: dict) -> "Layout":
        return cls(form, {n: [tuple(k) for k in ks] for n, ks in data["keys"].items()},
                   {n: np.array(v, np.intp) for n, v in data["base"].items()},
                   {n: np.array(v, np.intp) for n, v in data["slope"].items()},
                   {n: (None if v is None else np.array(v, float)) for n, v in data["ref"].items()},
                   np.array(data["entry_param"], object), np.array(data["entry_group"], np.intp),
                   np.array(data["entry_kind"], object), np.array(data["lower"], float),
                   np.array(data["upper"], float), np.array(data["free"], bool), [() for _ in data["lower"]],
                   np.array(data["entry_block"], np.intp))


def blocks(form: Form, runs: pd.DataFrame) -> tuple[np.ndarray, list]:
    """Independent blocks of runs (no free parameter spans two): a block code per row and the blocks' keys.
    Blocks split on the columns every free parameter varies over."""
    common = None
    for p in form.params:
        if p.fixed is None:
            common = set(p.by) if common is None else common & set(p.by)
    cols = [c for c in CURVE if c in (common or set())]
    return group_codes(runs, cols)


def build_layout(form: Form, runs: pd.DataFrame) -> tuple[Layout, dict]:
    """The layout of ``form`` on ``runs`` (with context columns) and the row mapping the solver needs:
    {"codes": per param row group codes, "block": row block codes, "n_blocks", "unidentified": [(name, key)]}."""
    keys, base, slope, ref = {}, {}, {}, {}
    e_param, e_group, e_kind, lower, upper, free, starts = [], [], [], [], [], [], []
    codes_by, unidentified = {}, []
    block, block_keys = blocks(form, runs)
    entry_block = []

    def add(name, g, kind, lo, hi, is_free, start, blk):
        e_param.append(name), e_group.append(g), e_kind.append(kind), lower.append(lo), upper.append(hi)
        free.append(is_free), starts.append(start), entry_block.append(blk if is_free else -1)
        return len(lower) - 1

    # the callables (bounds, starts, fixed values) read a group's rows: numeric and key columns, sliced from a
    # copy sorted by group (contiguous slices, not a take per group)
    keep = [c for c in runs.columns if c in CURVE or any(c in p.by for p in form.params)
            or pd.api.types.is_numeric_dtype(runs[c])]
    slim = runs[keep]
    for p in form.params:
        codes, pkeys = group_codes(runs, p.by)
        codes_by[p.name] = codes
        keys[p.name] = pkeys
        parts = _split(codes, len(pkeys))
        order = np.concatenate(parts) if parts else np.empty(0, np.intp)
        ordered = slim.iloc[order]
        ends = np.cumsum([len(ix) for ix in parts])
        groups = [ordered.iloc[e - len(ix):e] for ix, e in zip(parts, ends)]
        first_block = [int(block[ix[0]]) for ix in parts]
        b = np.empty(len(pkeys), np.intp)
        for g, rows in enumerate(groups):
            if p.fixed is not None:
                value = float(p.fixed(rows, slim))
                b[g] = add(p.name, g, "", value, value, False, (value,), -1)
                continue
            lo, hi = p.bounds(rows, slim) if callable(p.bounds) else p.bounds
            st = tuple(p.starts(rows, slim)) if callable(p.starts) else tuple(p.starts)
            b[g] = add(p.name, g, "", float(lo), float(hi), True, st or (0.5 * (lo + hi),), first_block[g])
        base[p.name] = b
        s = np.full(len(pkeys), -1, np.intp)
        r = None
        if p.slope_column:
            r = np.empty(len(pkeys))
            for g, rows in enumerate(groups):
                cov = rows[p.slope_column]
                r[g] = float(cov.mean())
                if p.fixed is None and cov.nunique() >= 2:
                    s[g] = add(p.name, g, "slope", -100.0, 100.0, True, (0.0,), first_block[g])
                else:
                    unidentified.append((p.name, pkeys[g], first_block[g]))
                    s[g] = add(p.name, g, "slope", 0.0, 0.0, False, (0.0,), -1)
        slope[p.name], ref[p.name] = s, r
    layout = Layout(form, keys, base, slope, ref, np.array(e_param, object), np.array(e_group, np.intp),
                    np.array(e_kind, object), np.array(lower, float), np.array(upper, float), np.array(free, bool),
                    starts, np.array(entry_block, np.intp))
    return layout, {"codes": codes_by, "block": block, "block_keys": block_keys, "unidentified": unidentified}


def _start_values(layout: Layout) -> np.ndarray:
    return np.array([s[0] for s in layout.starts], float)


def _clip_inside(x, lo, hi):
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    return np.where(hi > lo, np.clip(x, lo + 1e-9 * span, hi - 1e-9 * span), lo)


class _Design:
    """The fit's blocks as batched least-squares problems: per block its rows and free entries, padded to
    buckets of equal shape; evaluates residuals and Jacobians of many (block, weights, parameters) at once."""

    def __init__(self, layout: Layout, runs: pd.DataFrame, maps: dict):
        self.layout, self.form = layout, layout.form
        self.y = runs.metric.to_numpy(float)
        if self.form.log_space:  # fit log(metric): residuals log(pred) - log(y)
            if not (self.y > 0).all():
                raise FitError(f"form '{self.form.name}' fits log(metric) and needs positive metrics")
            self.y = np.log(self.y)
        self.cols = {c: runs[c].to_numpy() for c in runs.columns
                     if isinstance(c, str) and pd.api.types.is_numeric_dtype(runs[c])}
        n_blocks = len(maps["block_keys"])
        self.block_rows = _split(maps["block"], n_blocks)
        free = np.flatnonzero(layout.free)
        self.block_entries = _split(layout.entry_block[free], n_blocks) if len(free) else [free] * n_blocks
        self.block_entries = [free[ix] for ix in self.block_entries]
        local = np.full(layout.n_entries, -1, np.intp)
        for entries in self.block_entries:
            local[entries] = np.arange(len(entries))
        # per parameter and row: the local column of its value and slope (-1: none), slope offset, fixed value
        self.row_base, self.row_slope, self.row_offset, self.row_fixed = {}, {}, {}, {}
        for p in self.form.params:
            g = maps["codes"][p.name]
            entry = layout.base[p.name][g]
            if not layout.free[entry].all():
                self.row_fixed[p.name] = layout.lower[entry]
            self.row_base[p.name] = np.where(layout.free[entry], local[entry], -1)
            if p.slope_column:
                sentry = layout.slope[p.name][g]
                self.row_slope[p.name] = np.where(layout.free[sentry], local[sentry], -1)
                self.row_offset[p.name] = runs[p.slope_column].to_numpy(float) - layout.ref[p.name][g]
        self.buckets = {}   # (n_free, padded rows) -> list of blocks
        for b, (rows, entries) in enumerate(zip(self.block_rows, self.block_entries)):
            m = len(rows)
            padded = 1 << max(int(np.ceil(np.log2(max(m, 1)))), 0)
            self.buckets.setdefault((len(entries), padded), []).append(b)
        self.bucket_of = {}
        self.bucket_rows = {}
        for key, bs in self.buckets.items():
            m = key[1]
            idx = np.zeros((len(bs), m), np.intp)
            mask = np.zeros((len(bs), m), bool)
            for j, b in enumerate(bs):
                rows = self.block_rows[b]
                idx[j, :len(rows)] = rows
                idx[j, len(rows):] = rows[0] if len(rows) else 0
                mask[j, :len(rows)] = True
                self.bucket_of[b] = (key, j)
            self.bucket_rows[key] = (idx, mask)

    def evaluate(self, x: np.ndarray, rows: np.ndarray, sqrt_w: np.ndarray, jacobian: bool = True):
        """Residuals (k, m) and Jacobian (k, m, p) at local parameters ``x`` (k, p) for problems whose rows are
        ``rows`` (k, m) with square-root weights ``sqrt_w`` (k, m; 0 for padding)."""
        cols = _Gather(self.cols, rows)
        values = {}
        kk = np.arange(len(x))[:, None]
        for p in self.form.params:
            col = self.row_base[p.name][rows]
            if p.name in self.row_fixed:
                fixed = self.row_fixed[p.name][rows]
                v = np.where(col >= 0, x[kk, np.maximum(col, 0)], fixed)
            else:
                v = x[kk, col]
            if p.name in self.row_slope:
                scol = self.row_slope[p.name][rows]
                v = v + np.where(scol >= 0, x[kk, np.maximum(scol, 0)], 0.0) * self.row_offset[p.name][rows]
            values[p.name] = v
        with np.errstate(all="ignore"):
            pred = self.form(cols, **values)
            if self.form.log_space:
                r = (np.log(np.maximum(pred, 1e-300)) - self.y[rows]) * sqrt_w
            else:
                r = (pred - self.y[rows]) * sqrt_w
            if not jacobian:
                return r, None
            derivs = self.form.derivatives(cols, **values)
            if self.form.log_space:  # d log f = df / f
                derivs = {k: v / np.maximum(pred, 1e-300) for k, v in derivs.items()}
        J = np.zeros(x.shape[:1] + rows.shape[1:] + x.shape[1:])
        for p in self.form.params:
            if p.name not in derivs:
                continue
            d = np.broadcast_to(derivs[p.name], rows.shape) * sqrt_w
            _scatter(J, self.row_base[p.name][rows], d)
            if p.name in self.row_slope:
                _scatter(J, self.row_slope[p.name][rows], d * self.row_offset[p.name][rows])
        return r, J

    def solve(self, problems: list, loss: str = "linear", f_scale: float = 0.5, progress=None,
              method: str = "lm") -> list:
        """Solve problems given as (block, x0 over the block's free entries, weights over its rows or None):
        method ``lm`` (batched, linear loss; robust losses and unconverged problems go to least_squares) or
        ``trf`` (scipy.optimize.least_squares per problem). Returns per problem (x, cost, converged, message)."""
        out = [None] * len(problems)
        by_bucket: dict = {}
        for i, (b, _, _) in enumerate(problems):
            by_bucket.setdefault(self.bucket_of[b][0], []).append(i)
        for key, ids in by_bucket.items():
            p, m = key
            idx, mask = self.bucket_rows[key]
            pos = np.array([self.bucket_of[problems[i][0]][1] for i in ids], np.intp)
            rows = idx[pos]
            sqrt_w = mask[pos].astype(float)
            for j, i in enumerate(ids):
                w = problems[i][2]
                if w is not None:
                    sqrt_w[j, :len(w)] *= np.sqrt(np.asarray(w, float))
            entries = (np.stack([self.block_entries[problems[i][0]] for i in ids]) if p
                       else np.zeros((len(ids), 0), np.intp))
            lo, hi = self.layout.lower[entries], self.layout.upper[entries]
            x0 = np.stack([problems[i][1] for i in ids]) if p else np.zeros((len(ids), 0))
            if p == 0:
                for j, i in enumerate(ids):
                    r, _ = self.evaluate(x0[j:j + 1], rows[j:j + 1], sqrt_w[j:j + 1], jacobian=False)
                    out[i] = (x0[j], 0.5 * float(np.sum(r ** 2)), True, "")
                continue
            if loss == "linear" and method == "lm":
                chunk = max(1, CHUNK_ELEMENTS // max(m * p, 1))
                for start in range(0, len(ids), chunk):
                    sl = slice(start, start + chunk)
                    R, W = rows[sl], sqrt_w[sl]
                    sol = levmar.solve(lambda x, which: self.evaluate(x, R[which], W[which]),
                                       _clip_inside(x0[sl], lo[sl], hi[sl]), lo[sl], hi[sl])
                    for j, i in enumerate(ids[sl]):
                        out[i] = (sol.x[j], float(sol.cost[j]), bool(sol.converged[j]), "")
                    if progress is not None:
                        progress(len(ids[sl]))
            for j, i in enumerate(ids):
                if out[i] is None or not out[i][2]:
                    start_x = x0[j] if out[i] is None or not np.isfinite(out[i][1]) else out[i][0]
                    polish = out[i] is not None and loss == "linear" and method == "lm"
                    out[i] = self._least_squares(start_x, rows[j], sqrt_w[j], lo[j], hi[j], loss, f_scale,
                                                 tight=method == "trf", max_nfev=50 * (p + 1) if polish else None)
        return out

    def _least_squares(self, x0, rows, sqrt_w, lo, hi, loss, f_scale, tight=False, max_nfev=None):
        """One problem by scipy's trf: to 1e-12 tolerances as the reference (``tight``), else scipy's defaults
        (the fallback for robust losses and for problems the batch left unconverged, often flat directions)."""
        from scipy.optimize import least_squares
        R, W = rows[None], sqrt_w[None]

        def fun(x):
            return self.evaluate(x[None], R, W, jacobian=False)[0][0]

        def jac(x):
            return self.evaluate(x[None], R, W)[1][0]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                tol = 1e-12 if tight else 1e-8
                res = least_squares(fun, _clip_inside(x0, lo, hi), jac=jac, bounds=(lo, hi), loss=loss,
                                    f_scale=f_scale, x_scale="jac", max_nfev=3000 if tight else max_nfev, ftol=tol,
                                    xtol=tol, gtol=tol)
            except ValueError as err:  # e.g. a residual that is not finite at the start
                return x0, np.inf, False, str(err)
        cost = float(res.cost) if np.all(np.isfinite(res.fun)) else np.inf
        return res.x, cost, bool(res.status > 0), "" if res.status > 0 else str(res.message)


def _scatter(J: np.ndarray, col: np.ndarray, d: np.ndarray) -> None:
    """J[k, m, col[k, m]] = d[k, m] where col >= 0 (each (k, m, col) is written by one parameter only)."""
    on = col >= 0
    if on.all():
        np.put_along_axis(J, col[..., None], d[..., None], axis=2)
    elif on.any():
        k, m = np.nonzero(on)
        J[k, m, col[on]] = d[on]


class _Gather:
    """Column arrays gathered at row indices on first access (forms read only the columns they need)."""

    def __init__(self, cols: dict, rows: np.ndarray):
        self._cols, self._rows = cols, rows

    def __getattr__(self, name):
        try:
            src = self._cols[name]
        except KeyError:
            raise AttributeError(name) from None
        value = src[self._rows]
        setattr(self, name, value)
        return value


@dataclass
class CurveFit:
    """A fitted form: parameter values per group (a flat vector ``x_`` in ``layout_``), fit statistics,
    predictions. Learned state ends in ``_``."""

    form: Form
    loss: str
    layout_: Layout
    x_: np.ndarray
    runs_: pd.DataFrame              # the runs fitted, with the context columns of ``context``
    converged_: bool
    messages_: list
    diagnostics_: dict = field(default_factory=dict)

    # ---- prediction -----------------------------------------------------------------------------------------
    def param_values(self, rows: pd.DataFrame, values: np.ndarray | None = None) -> dict:
        """Per-row parameter values for ``rows`` (with context columns): {name: array}; with ``values``
        (R, n_entries), e.g. bootstrap replicates, arrays of shape (R, n_rows)."""
        return self.layout_.gather(rows, self.x_ if values is None else values)

    _lookup = param_values  # the former private name

    def predict(self, rows: pd.DataFrame, values: np.ndarray | None = None) -> np.ndarray:
        """Predicted metric for rows with task, train_model, method, train_params, fraction and FLOP columns;
        with ``values`` (R, n_entries) one prediction per row and entry vector (R, n_rows)."""
        rows = context(rows.reset_index(drop=True))
        params = self.param_values(rows, values)
        out = self.form(rows, **params)
        return np.broadcast_to(out, next(iter(params.values())).shape).copy() if params else out

    def predict_grid(self, heads: pd.DataFrame, fractions: list, values: np.ndarray | None = None) -> np.ndarray:
        """Predicted metric along a grid of fractions for each curve of ``heads`` (one row per curve: task,
        train_model, method, train_params, selector_params, selection_flops and train_flops_full, FLOPs of training
        on the whole pool; tokens_full, tokens of the whole pool trained on, for forms in tokens). Parameters are
        looked up once per curve. Returns the predictions of every curve's grid, concatenated in head order
        (shape (sum of grid lengths,), or (R, ...) with ``values``)."""
        cols, params = self._grid_heads(heads, values)
        return self._grid(cols, params, fractions)

    def curve_functions(self, heads: pd.DataFrame, values: np.ndarray | None = None) -> list:
        """One function per curve of ``heads`` (as ``predict_grid``): fractions (array) -> predicted metric there
        (shape (n,), or (R, n) with ``values``). The parameters of every curve are looked up once, here (pandas);
        calling a function is NumPy only, with the arithmetic of ``predict_grid``, so ``curve_functions(heads)[i](f)``
        is ``predict_grid(heads.iloc[[i]], [f])`` bit for bit."""
        cols, params = self._grid_heads(heads, values)

        def curve(i: int):
            head = {c: v[i:i + 1] for c, v in cols.items()}
            own = {n: v[..., i:i + 1] for n, v in params.items()}
            return lambda fractions: self._grid(head, own, [np.atleast_1d(np.asarray(fractions, float))])

        return [curve(i) for i in range(len(heads))]

    def _grid_heads(self, heads: pd.DataFrame, values) -> tuple[dict, dict]:
        """(numeric head columns as arrays, parameter values per head) of ``predict_grid``'s ``heads``."""
        heads = context(heads.reset_index(drop=True).assign(fraction=1.0, train_flops=lambda h: h.train_flops_full))
        cols = {c: heads[c].to_numpy() for c in heads.columns
                if isinstance(c, str) and pd.api.types.is_numeric_dtype(heads[c])}
        return cols, self.param_values(heads, values)

    def _grid(self, heads: dict, params: dict, fractions: list) -> np.ndarray:
        """The form along ``fractions`` (one array per head) from head columns and parameters (``_grid_heads``)."""
        lengths = np.array([len(f) for f in fractions], dtype=np.intp)
        frac = np.concatenate([np.asarray(f, float) for f in fractions]) if len(fractions) else np.empty(0)
        cols = {c: np.repeat(v, lengths) for c, v in heads.items()}
        cols["fraction"] = frac
        if "tokens_full" in cols:  # tokens trained on at the full pool: forms in tokens (rectified, power_law)
            cols["train_tokens"] = frac * cols["tokens_full"]
        cols["train_flops"] = frac * cols["train_flops_full"]
        cols["total_flops"] = cols["selection_flops"] + cols["train_flops"]
        return self.form(SimpleNamespace(**cols), **{n: np.repeat(v, lengths, axis=-1) for n, v in params.items()})

    # ---- statistics -----------------------------------------------------------------------------------------
    @cached_property
    def residuals_(self) -> np.ndarray:
        return self.runs_.metric.to_numpy() - self.predict(self.runs_)

    @cached_property
    def params_(self) -> pd.DataFrame:
        """Every entry: param, group, kind, value, lo_bound, hi_bound, at_bound, fixed, ref, by."""
        return self.layout_.table(self.x_)

    @property
    def n_params(self) -> int:
        return int(self.layout_.free.sum())

    @property
    def rmse(self) -> float:
        return float(np.sqrt(np.mean(self.residuals_ ** 2)))

    def _llf(self) -> float:
        n = len(self.runs_)
        rss = float(np.sum(self.residuals_ ** 2))
        return -0.5 * n * (np.log(2 * np.pi * max(rss, 1e-300) / n) + 1)

    @property
    def aic(self) -> float:
        """Gaussian AIC with the noise variance as one more parameter: -2 llf + 2 (k + 1)."""
        return float(-2 * self._llf() + 2 * (self.n_params + 1))

    @property
    def bic(self) -> float:
        return float(-2 * self._llf() + np.log(len(self.runs_)) * (self.n_params + 1))

    @property
    def n_at_bound(self) -> int:
        """Free entries at a bound of their range (a bound that binds: the estimate is a bound, not an optimum)."""
        return int(self.layout_.at_bound(self.x_).sum())

    @cached_property
    def stderr_(self) -> np.ndarray:
        """Asymptotic standard error of every entry from the Jacobian at the optimum (per block:
        s^2 (J^T J)^-1 with s^2 = RSS / (n - k)); NaN for fixed entries, entries at a bound and blocks with no
        residual degrees of freedom."""
        layout, runs = self.layout_, self.runs_
        design = _Design(layout, runs, _row_maps(layout, runs))
        out = np.full(layout.n_entries, np.nan)
        at = layout.at_bound(self.x_)
        for rows, entries in zip(design.block_rows, design.block_entries):
            n, k = len(rows), len(entries)
            if not k or n <= k:
                continue
            r, J = design.evaluate(self.x_[entries][None], rows[None], np.ones((1, n)))
            inner = ~at[entries]
            Jf = J[0][:, inner]
            cov = np.linalg.pinv(Jf.T @ Jf) * float(np.sum(r[0] ** 2)) / (n - k)
            out[entries[inner]] = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        return out

    def __repr__(self) -> str:
        return (f"CurveFit(form={self.form.name!r}, loss={self.loss!r}, runs={len(self.runs_)}, "
                f"params={self.n_params}, rmse={self.rmse:.4g}, converged={self.converged_}, "
                f"at_bound={self.n_at_bound})")

    def report(self, max_params: int = 60) -> str:
        """A readable fit report in the spirit of lmfit's: statistics, every free parameter with its standard
        error and bounds (``*`` at a bound), warnings (at-bound, underdetermined) and the fitter's messages."""
        st = self.stats()
        n_blocks = len(blocks(self.form, self.runs_)[1])
        lines = [f"[[Fit]] form '{self.form.name}', loss '{self.loss}'",
                 f"    runs                 = {st['n_points']}",
                 f"    free parameters      = {st['n_params']} in {n_blocks} independent block(s)",
                 f"    converged            = {st['converged']}",
                 f"    rmse, mae (metric)   = {st['rmse']:.4g}, {st['mae']:.4g}",
                 f"    AIC, BIC             = {st['aic']:.4g}, {st['bic']:.4g}",
                 f"    at a bound           = {st['n_at_bound']}",
                 f"    underdetermined      = {st['n_underdetermined']} block(s)",
                 "[[Parameters]] value +/- standard error [lower bound, upper bound]; * at a bound"]
        table = self.params_.assign(stderr=self.stderr_)
        free = table[~table.fixed]
        for row in free.head(max_params).itertuples():
            name = f"{row.param}{'_slope' if row.kind else ''}[{row.group}]"
            se = f" +/- {row.stderr:.3g}" if np.isfinite(row.stderr) else ""
            lines.append(f"    {name:<34} = {row.value:.5g}{se}  [{row.lo_bound:.4g}, {row.hi_bound:.4g}]"
                         f"{' *' if row.at_bound else ''}")
        if len(free) > max_params:
            lines.append(f"    ... {len(free) - max_params} more (see params_)")
        fixed = table[table.fixed & (table.kind == "")]
        if len(fixed):
            lines.append(f"    ({len(fixed)} fixed from the data, e.g. {fixed.param.iloc[0]}[{fixed.group.iloc[0]}] = "
                         f"{fixed.value.iloc[0]:.5g})")
        notes = list(self.diagnostics_.get("warnings", [])) + list(self.messages_)
        if notes:
            lines.append("[[Warnings]]")
            lines.extend(f"    {n}" for n in notes)
        return "\n".join(lines)

    def summary(self) -> pd.DataFrame:
        """One row per fitted curve: task, train_model, method, form, n_points, rmse, one column per parameter."""
        runs = self.runs_
        codes, keys = group_codes(runs, CURVE)
        n = np.bincount(codes, minlength=len(keys))
        sq = np.bincount(codes, weights=self.residuals_ ** 2, minlength=len(keys))
        first = np.unique(codes, return_index=True)[1]
        heads = runs.iloc[first]
        values = self.param_values(heads)
        out = pd.DataFrame({"task": heads.task.to_numpy(), "train_model": heads.train_model.to_numpy(),
                            "method": heads.method.to_numpy(), "form": self.form.name, "n_points": n,
                            "rmse": np.sqrt(sq / np.maximum(n, 1))})
        for name, v in values.items():
            out[name] = np.asarray(v, float)
        if self.form.derived is not None:
            full = (heads.train_flops / heads.fraction).to_numpy(float)
            extra = [self.form.derived({k: float(v[i]) for k, v in values.items()}, float(full[i]))
                     for i in range(len(heads))]
            for col in (extra[0] if extra else {}):
                out[col] = [e[col] for e in extra]
        return out

    def curve_table(self, n_points: int = 60, max_rows: int | None = None):
        """Fitted curves over each method's observed fraction range: task, train_model, method, form, fraction,
        total_flops (FLOPs), metric_pred; ``n_points`` log-spaced fractions per curve, one prediction call.
        ``max_rows``: instead, an iterator of the table in parts of whole curves, at most ``max_rows`` rows each
        (their concatenation is the table; to write it without holding it)."""
        runs = self.runs_
        codes, keys = group_codes(runs, CURVE)
        frame = pd.DataFrame({"c": codes, "fraction": runs.fraction.to_numpy(float),
                              "full": (runs.train_flops / runs.fraction).to_numpy(float),
                              "sel": runs.selection_flops.to_numpy(float),
                              "selector_params": runs.selector_params.to_numpy(float),
                              "train_params": runs.train_params.to_numpy(float),
                              "tokens": (runs.train_tokens / runs.fraction if "train_tokens" in runs
                                         else runs.pool_tokens).to_numpy(float)})
        agg = frame.groupby("c", sort=True).agg(lo=("fraction", "min"), hi=("fraction", "max"), full=("full", "median"),
                                                sel=("sel", "median"), selector_params=("selector_params", "median"),
                                                train_params=("train_params", "first"), tokens=("tokens", "median"))
        t = np.linspace(0.0, 1.0, n_points)
        fractions = np.exp(np.log(agg.lo.to_numpy())[:, None] * (1 - t) + np.log(agg.hi.to_numpy())[:, None] * t)
        fractions[:, 0], fractions[:, -1] = agg.lo.to_numpy(), agg.hi.to_numpy()
        key = np.array(keys, dtype=object).reshape(len(keys), len(CURVE))
        heads = pd.DataFrame({"task": key[:, 0], "train_model": key[:, 1], "method": key[:, 2],
                              "train_params": agg.train_params.to_numpy(), "selector_params": agg.selector_params.to_numpy(),
                              "selection_flops": agg.sel.to_numpy(), "train_flops_full": agg.full.to_numpy(),
                              "tokens_full": agg.tokens.to_numpy()})
        if max_rows is None:
            return self._curve_rows(heads, fractions)
        return (self._curve_rows(heads.iloc[lo:lo + step], fractions[lo:lo + step])
                for step in [max(1, max_rows // max(n_points, 1))] for lo in range(0, len(heads), step))

    def _curve_rows(self, heads: pd.DataFrame, fractions: np.ndarray) -> pd.DataFrame:
        metric = self.predict_grid(heads, list(fractions))
        n_points = fractions.shape[1]
        rep = lambda col: np.repeat(heads[col].to_numpy(), n_points)
        return pd.DataFrame({"task": rep("task"), "train_model": rep("train_model"), "method": rep("method"),
                             "form": self.form.name, "fraction": fractions.ravel(),
                             "total_flops": rep("selection_flops") + fractions.ravel() * rep("train_flops_full"),
                             "metric_pred": metric})

    def stats(self) -> dict:
        resid = self.residuals_
        return {"form": self.form.name, "loss": self.loss, "n_points": len(self.runs_), "n_params": self.n_params,
                "rmse": self.rmse, "mae": float(np.mean(np.abs(resid))), "aic": self.aic, "bic": self.bic,
                "converged": self.converged_, "n_at_bound": self.n_at_bound,
                "n_underdetermined": len(self.diagnostics_.get("underdetermined", []))}

    # ---- serialisation --------------------------------------------------------------------------------------
    def to_dict(self, runs: bool = True) -> dict:
        data = {"form": self.form.name, "loss": self.loss, "converged": self.converged_, "messages": self.messages_,
                "scopes": {p.name: {"by": list(p.by), "size": p.size, "selector_size": p.selector_size}
                           for p in self.form.params},
                "layout": self.layout_.to_dict(), "values": self.x_.tolist(), "diagnostics": self.diagnostics_}
        if runs:
            drop = ["train_flops_full", "log10_params", "log10_selector_params"]
            data["runs"] = self.runs_.drop(columns=drop, errors="ignore").to_dict(orient="list")
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: dict) -> "CurveFit":
        form = shared_form(data["form"], data["scopes"])
        layout = Layout.from_dict(form, data["layout"])
        runs = context(pd.DataFrame(data["runs"]))
        return cls(form, data["loss"], layout, np.array(data["values"], float), runs, data["converged"],
                   data["messages"], data.get("diagnostics", {}))

    @classmethod
    def from_json(cls, text: str) -> "CurveFit":
        return cls.from_dict(json.loads(text))


def _grid(layout: Layout, entries: np.ndarray, max_starts: int):
    """Starting vectors for one block's free entries: the product over parameter names of their start lists."""
    by_name: dict[str, list[int]] = {}
    for j, e in enumerate(entries):
        by_name.setdefault(layout.entry_param[e] + layout.entry_kind[e], []).append(j)
    lengths = {n: max(len(layout.starts[entries[j]]) for j in ids) for n, ids in by_name.items()}
    combos = itertools.islice(itertools.product(*[range(lengths[n]) for n in by_name]), max(max_starts, 1))
    for combo in combos:
        x0 = np.empty(len(entries))
        for n, pos in zip(by_name, combo):
            for j in by_name[n]:
                st = layout.starts[entries[j]]
                x0[j] = st[pos % len(st)]
        yield x0


def fit(runs: pd.DataFrame, form: str | Form = "offset_exp", loss: str | None = None, f_scale: float = 0.5,
        max_starts: int | None = None, start: CurveFit | None = None, validate: bool = True,
        warn: bool = True, method: str = "lm") -> CurveFit:
    """Fit ``form`` to ``runs`` (the runs schema) and return a ``CurveFit``.

    loss: ``linear`` (least squares), ``soft_l1`` or ``huber`` (robust, with ``f_scale`` in metric units).
    Every start of the form's grid is tried (at most ``max_starts``; default the form's own ``max_starts``, else
    64) and the lowest cost kept. With ``start`` (a previous fit) one solve per block from its values instead.
    Parameters at a bound and underdetermined blocks are listed in ``diagnostics_`` and, with ``warn``, raised
    as ``CostlawWarning``. ``method``: ``lm`` (every (block, start) problem in one batched Levenberg-Marquardt)
    or ``trf`` (``scipy.optimize.least_squares`` per problem; slower, kept as the reference).
    """
    form = get_form(form)
    loss = loss or form.loss
    if loss not in LOSSES:
        raise InputError(f"unknown loss '{loss}'; available: {', '.join(LOSSES)}")
    max_starts = max_starts or form.max_starts or MAX_STARTS
    runs = context(validate_runs(runs) if validate else runs.reset_index(drop=True))
    layout, maps = build_layout(form, runs)
    design = _Design(layout, runs, maps)
    x = np.where(layout.free, 0.0, layout.lower)
    if start is not None:
        x0_all = _warm_values(layout, start)
    problems, owner = [], []
    for b, entries in enumerate(design.block_entries):
        lo, hi = layout.lower[entries], layout.upper[entries]
        starts = [x0_all[entries]] if start is not None else list(_grid(layout, entries, max_starts))
        for x0 in starts:
            problems.append((b, _clip_inside(x0, lo, hi), None))
            owner.append(b)
    if method not in ("lm", "trf"):
        raise InputError(f"unknown method '{method}'; available: lm, trf")
    solved = design.solve(problems, loss, f_scale, method=method)
    best: dict = {}
    for b, (xb, cost, conv, msg) in zip(owner, solved):
        if np.isfinite(cost) and (b not in best or cost < best[b][1]):
            best[b] = (xb, cost, conv, msg)
    messages, converged = [], True
    for b, entries in enumerate(design.block_entries):
        label = "|".join(maps["block_keys"][b]) or "all runs"
        if b not in best:
            raise FitError(f"form '{form.name}' gave no finite fit for {label}; check the runs or try another form")
        xb, _, conv, msg = best[b]
        x[entries] = xb
        if not conv:
            converged = False
            messages.append(f"{label}: did not converge ({msg or 'iteration limit'}); try loss='linear', more "
                            f"starts, or a form with fewer parameters")
    for name, key, _ in maps["unidentified"]:
        messages.append(f"{'|'.join(key)}: the selector-size slope of '{name}' for {'|'.join(key)} is not "
                        f"identifiable (its runs use one selector size); fixed at 0")
    fitted = CurveFit(form, loss, layout, x, runs, converged, messages)
    fitted.diagnostics_ = diagnose(fitted, design, maps)
    if warn:
        for text in fitted.diagnostics_["warnings"]:
            warnings.warn(text, CostlawWarning, stacklevel=2)
    return fitted


def diagnose(fitted: CurveFit, design: "_Design", maps: dict) -> dict:
    """Parameters at a bound and underdetermined blocks (fewer runs than free parameters, or every run at one
    fraction so that no shape parameter is identified), with one warning text per finding."""
    layout = fitted.layout_
    at = np.flatnonzero(layout.at_bound(fitted.x_))
    bound_rows = [{"param": layout.entry_param[e],
                   "group": "|".join(layout.keys[layout.entry_param[e]][layout.entry_group[e]]),
                   "kind": layout.entry_kind[e], "value": float(fitted.x_[e]),
                   "bound": ("lower" if abs(fitted.x_[e] - layout.lower[e]) <= abs(fitted.x_[e] - layout.upper[e])
                             else "upper")}
                  for e in at]
    under = []
    fraction = fitted.runs_.fraction.to_numpy(float)
    for b, (rows, entries) in enumerate(zip(design.block_rows, design.block_entries)):
        label = "|".join(maps["block_keys"][b]) or "all runs"
        reasons = []
        if len(rows) < len(entries):
            reasons.append("fewer runs than parameters")
        if len(entries) and len(np.unique(fraction[rows])) < 2:
            reasons.append("every run at one fraction")
        if reasons:
            under.append({"block": label, "n_points": len(rows), "n_params": len(entries),
                          "reason": " and ".join(reasons)})
    texts = []
    if bound_rows:
        shown = ", ".join(f"{r['param']}{'_slope' if r['kind'] else ''}[{r['group']}] = {r['value']:.4g} "
                          f"({r['bound']})" for r in bound_rows[:5])
        more = f" and {len(bound_rows) - 5} more" if len(bound_rows) > 5 else ""
        texts.append(f"form '{fitted.form.name}': {len(bound_rows)} parameter(s) at a bound: {shown}{more}; the "
                     f"estimate is the bound, not an optimum")
    if under:
        shown = ", ".join(f"{u['block']} ({u['reason']}: {u['n_points']} runs, {u['n_params']} parameters)"
                          for u in under[:5])
        more = f" and {len(under) - 5} more" if len(under) > 5 else ""
        texts.append(f"form '{fitted.form.name}' is underdetermined in {len(under)} block(s): {shown}{more}; "
                     f"its parameters there are not identified")
    return {"at_bound": bound_rows, "underdetermined": under, "warnings": texts}


def _warm_values(layout: Layout, start: CurveFit) -> np.ndarray:
    """Starting values from a previous fit (same parameter, group key and kind); the grid's first start elsewhere."""
    prev = start.layout_
    x0 = _start_values(layout)
    for e in np.flatnonzero(layout.free):
        name, kind = layout.entry_param[e], layout.entry_kind[e]
        key = layout.keys[name][layout.entry_group[e]]
        g = prev.index.get(name, {}).get(key)
        if g is None:
            continue
        src = prev.base[name][g] if kind == "" else prev.slope[name][g]
        if src >= 0:
            x0[e] = start.x_[src]
    return x0


def refit(fitted: CurveFit, weights: np.ndarray, loss: str | None = None, f_scale: float = 0.5,
          progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Refit ``fitted``'s design under run weights, warm-started from its values, all problems at once.

    ``weights`` (R, n_runs): a multiplicity per run of ``fitted.runs_`` (bootstrap counts; 0 leaves a run out).
    The layout, bounds and data-derived fixed values stay those of ``fitted``; a block whose weights are all 1
    keeps the point values without a solve. Returns entry values (R, n_entries) and converged flags (R,).
    """
    weights = np.atleast_2d(np.asarray(weights, float))
    layout, runs = fitted.layout_, fitted.runs_
    if weights.shape[1] != len(runs):
        raise ValueError(f"weights have {weights.shape[1]} columns for {len(runs)} runs")
    maps = _row_maps(layout, runs)
    design = _Design(layout, runs, maps)
    values = np.repeat(fitted.x_[None], len(weights), axis=0)
    converged = np.ones(len(weights), bool)
    problems, owner = [], []
    for b, (rows, entries) in enumerate(zip(design.block_rows, design.block_entries)):
        if not len(entries):
            continue
        w = weights[:, rows]
        changed = np.flatnonzero(np.any(w != 1.0, axis=1))
        for r in changed:
            problems.append((b, fitted.x_[entries], w[r]))
            owner.append((r, entries))
    solved = design.solve(problems, loss or fitted.loss, f_scale, progress=progress)
    for (r, entries), (xb, cost, conv, _) in zip(owner, solved):
        if np.isfinite(cost):
            values[r, entries] = xb
        converged[r] &= conv and np.isfinite(cost)
    return values, converged


def leave_one_out_refits(fitted: CurveFit, loss: str | None = None) -> list:
    """Refit ``fitted`` once per run with that run left out (weight 0), all problems solved together; only the
    run's block changes. Returns per block (row indices, entry values (n_rows_in_block, n_entries))."""
    layout, runs = fitted.layout_, fitted.runs_
    design = _Design(layout, runs, _row_maps(layout, runs))
    problems, owner = [], []
    for b, (rows, entries) in enumerate(zip(design.block_rows, design.block_entries)):
        if not len(entries):
            continue
        for j in range(len(rows)):
            w = np.ones(len(rows))
            w[j] = 0.0
            problems.append((b, fitted.x_[entries], w))
            owner.append((b, j))
    solved = design.solve(problems, loss or fitted.loss)
    out = {b: np.repeat(fitted.x_[None], len(rows), axis=0) for b, rows in enumerate(design.block_rows)}
    for (b, j), (xb, cost, _, _) in zip(owner, solved):
        if np.isfinite(cost):
            out[b][j, design.block_entries[b]] = xb
    return [(rows, out[b]) for b, rows in enumerate(design.block_rows)]


def _row_maps(layout: Layout, runs: pd.DataFrame) -> dict:
    """The row mapping of ``build_layout`` for a fitted layout (its runs)."""
    block, block_keys = blocks(layout.form, runs)
    return {"codes": {p.name: layout.row_groups(runs, p.name) for p in layout.form.params}, "block": block,
            "block_keys": block_keys, "unidentified": []}


def replicate(fitted: CurveFit, values: np.ndarray) -> CurveFit:
    """A CurveFit with ``fitted``'s layout and runs and the entry ``values`` (e.g. one bootstrap replicate)."""
    return replace(fitted, x_=np.asarray(values, float), diagnostics_=fitted.diagnostics_)
