"""Plan a budget: which selector, how large a selector, how many training tokens, with bootstrap intervals.

A plan for one target task trains a model of ``train_params`` parameters on a fraction f of a pool of
``pool_tokens`` tokens chosen by a selector (method, selector_params). It pays

    selection_flops(method, selector_params, pool_tokens, n_tasks) + train_flops(train_params, f x pool_tokens)

from ``budget_flops`` and is scored by fitted utility curves (metric as a function of f, per task and method),
transferred to ``train_params`` by a size-aware fit (default: the bundled ``offset_exp_size`` paper fits). For
each candidate the best fraction is the argmax of the predicted metric over the fractions the budget affords
(curves may be non-monotone); the best plan is the candidate with the highest predicted metric, ties going to the
cheaper selector. Every bootstrap replicate of the fit is re-solved, which gives 90% intervals and ``p_best``,
the share of replicates in which a candidate is the best plan.

Assumptions (stated in every plan's notes): the curves in f transfer from the fitted pool to the user's pool;
they are trusted within the fitted fractions (0.025..1 for the paper) and extrapolated below; and unless the
form models it (``Form.selector_size_dependence``), selection quality does not depend on the selector's size,
so a smaller selector only saves cost (the paper's runs all use a 7B selector and cannot identify it).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import costs
from .fitting import _context
from .uncertainty import _quantiles

DEFAULT_SELECTORS = "random bm25 embed ppl:7e9 less:7e9"
"""The selector sizes the bundled fits measured (7B); smaller ones only save cost under the size-independence
assumption, so they are opt-in (e.g. ppl:1e9,7e9)."""
DEFAULT_FITS = "paper_offset_exp_size"
"""Bundled fit used by default (levels linear in log10 N_train per task, so any training size works)."""
MIN_FRACTION = 1e-3
"""Smallest fraction of the pool a plan may train on; a budget that cannot pay it for any candidate is too small."""
N_GRID = 600
"""Fractions (log-spaced from MIN_FRACTION to 1) on which the curves are evaluated; interpolated in log f between."""
MAP_TASKS = (1, 5, 10, 20)
"""n_tasks values of the break-even map (the paper's figure shares LESS over 1, 5, 10 and 20 tasks)."""
PLAN_COLUMNS = ["method", "selector_params", "fraction", "train_tokens", "selection_flops", "train_flops",
                "total_flops", "metric_pred", "metric_lo", "metric_hi", "pred_lo", "pred_hi", "p_best",
                "extrapolated", "selector_measured"]
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}


# ---- candidates ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """One selector option: a method and the size of its selector model (parameters; 0 for none)."""

    method: str
    selector_params: float

    @property
    def label(self) -> str:
        return self.method if self.selector_params == 0 else f"{self.method}:{self.selector_params:.3g}"


def _size(text: str, token: str) -> float:
    match = re.fullmatch(r"([0-9.]+(?:e[+-]?[0-9]+)?)([kmbgt]?)", text.strip().lower())
    if not match:
        raise ValueError(f"bad selector size '{text}' in '{token}': use e.g. 7e9 or 7B")
    value = float(match.group(1)) * _SUFFIX.get(match.group(2), 1.0)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"bad selector size '{text}' in '{token}': must be >= 0")
    return value


def parse_selectors(spec=None) -> list[Candidate]:
    """Candidates from a spec such as ``"ppl:1e9,7e9 less:7B embed bm25 random"`` (or a list of such tokens or
    Candidates). A method without sizes gets its default selector (costs.DEFAULT_SELECTOR_PARAMS)."""
    if spec is None:
        spec = DEFAULT_SELECTORS
    tokens = spec.split() if isinstance(spec, str) else list(spec)
    out: list[Candidate] = []
    for token in tokens:
        if isinstance(token, Candidate):
            items = [token]
        else:
            method, _, sizes = str(token).strip().lower().partition(":")
            if method not in costs.SELECTOR_COSTS:
                raise ValueError(f"unknown selector '{method}' in '{token}'; known: "
                                 f"{', '.join(sorted(costs.SELECTOR_COSTS))}")
            if sizes:
                values = [_size(s, token) for s in sizes.split(",") if s.strip()]
                if not values:
                    raise ValueError(f"no selector size after ':' in '{token}'")
            else:
                values = [costs.DEFAULT_SELECTOR_PARAMS.get(method, 0.0)]
            if not costs.selector_cost(method).uses_selector_model and any(v > 0 for v in values):
                raise ValueError(f"'{method}' uses no selector model; drop the size in '{token}'")
            items = [Candidate(method, v) for v in values]
        out.extend(c for c in items if c not in out)
    if not out:
        raise ValueError("no selectors given")
    return out


# ---- the planning problem -----------------------------------------------------------------------------------

def _load(fits):
    from ._paths import bundled_dir
    from .forecast import load_fits
    if fits is None:
        return load_fits(bundled_dir("fits") / DEFAULT_FITS), f"bundled fits/{DEFAULT_FITS}"
    if isinstance(fits, (str, Path)):
        return load_fits(fits), str(fits)
    boots = list(fits) if isinstance(fits, (list, tuple)) else [fits]
    return boots, "given fits"


class Problem:
    """A task, training size, pool, cost settings and candidates, with every candidate's curve evaluated on a
    fraction grid for the point fit and each bootstrap replicate (``curves``: samples x curve keys x grid)."""

    def __init__(self, train_params: float, pool_tokens: float, task: str | None = None, selectors=None,
                 n_tasks: float = 1, lora: bool = False, fits=None, min_fraction: float = MIN_FRACTION,
                 n_grid: int = N_GRID):
        if not train_params > 0:
            raise ValueError(f"train_params must be positive, got {train_params}")
        if not pool_tokens > 0:
            raise ValueError(f"pool_tokens must be positive, got {pool_tokens}")
        if not n_tasks >= 1:
            raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
        if not 0 < min_fraction < 1:
            raise ValueError(f"min_fraction must be in (0, 1), got {min_fraction}")
        self.train_params, self.pool_tokens = float(train_params), float(pool_tokens)
        self.n_tasks, self.lora, self.min_fraction = float(n_tasks), bool(lora), float(min_fraction)
        self.candidates = parse_selectors(selectors)
        boots, self.fits_source = _load(fits)
        tasks = [t for b in boots for t in pd.unique(b.fit.runs_.task)]
        if task is None:
            task = tasks[0]
        if task not in tasks:
            raise ValueError(f"no fitted curves for task '{task}'; fitted: {', '.join(tasks)}")
        self.task, self.other_tasks = task, [t for t in tasks if t != task]
        self.boot = next(b for b in boots if task in set(b.fit.runs_.task))
        self.form = self.boot.fit.form
        runs = self.boot.fit.runs_[self.boot.fit.runs_.task == task]
        self.runs = runs
        missing = sorted({c.method for c in self.candidates} - set(runs.method))
        if missing:
            raise ValueError(f"no fitted curve for method(s) {', '.join(missing)} on task '{task}'; fitted: "
                             f"{', '.join(pd.unique(runs.method))}")
        same = runs[np.isclose(runs.train_params, self.train_params, rtol=1e-3)]
        self.train_model = str(same.train_model.iloc[0]) if len(same) else f"{self.train_params:.3g}"
        self.full_train_flops = costs.train_flops(self.train_params, self.pool_tokens, lora=self.lora)
        self.fitted_fractions = (float(runs.fraction.min()), float(runs.fraction.max()))
        self.fitted_sizes = (float(runs.train_params.min()), float(runs.train_params.max()))
        self.fitted_pool_tokens = float(np.median(runs.pool_tokens))
        self.level = self.boot.level
        self._curve_depends_on_cost = (not self.form.models_selection_offset) or self.form.selector_size_dependence
        self._evaluate_curves(n_grid)

    # the curves ------------------------------------------------------------------------------------------
    def selection_flops(self, candidate: Candidate, n_tasks: float | None = None) -> float:
        return costs.selection_flops(candidate.method, candidate.selector_params, self.pool_tokens,
                                     self.n_tasks if n_tasks is None else n_tasks)

    def _key(self, c: Candidate):
        return (c.method, c.selector_params) if self._curve_depends_on_cost else (c.method, None)

    def _evaluate_curves(self, n_grid: int) -> None:
        self.log_grid = np.linspace(np.log(self.min_fraction), 0.0, max(int(n_grid), 2))
        self.grid = np.exp(self.log_grid)
        self.grid[-1] = 1.0
        keys = list(dict.fromkeys(self._key(c) for c in self.candidates))
        self.key_index = {k: i for i, k in enumerate(keys)}
        self.sel = np.array([self.selection_flops(c) for c in self.candidates])
        first = {}
        for c, s in zip(self.candidates, self.sel):
            first.setdefault(self._key(c), (c, s))
        heads = pd.DataFrame([{"task": self.task, "train_model": self.train_model, "method": c.method,
                               "train_params": self.train_params, "selector_params": c.selector_params,
                               "pool_tokens": self.pool_tokens, "n_tasks": self.n_tasks, "selection_flops": s}
                              for c, s in (first[k] for k in keys)])
        grid_rows = heads.loc[heads.index.repeat(len(self.grid))].reset_index(drop=True)
        grid_rows["fraction"] = np.tile(self.grid, len(keys))
        grid_rows["train_flops"] = grid_rows.fraction * self.full_train_flops
        grid_rows["total_flops"] = grid_rows.selection_flops + grid_rows.train_flops
        grid_rows = _context(grid_rows)
        head_rows = _context(heads.assign(fraction=1.0, train_flops=self.full_train_flops,
                                          total_flops=heads.selection_flops + self.full_train_flops))
        samples = []
        for fit in [self.boot.fit] + list(self.boot.replicates):
            params = fit._lookup(head_rows)  # one value per curve key, broadcast along the grid
            values = self.form(grid_rows, **{n: np.repeat(v, len(self.grid)) for n, v in params.items()})
            samples.append(values.reshape(len(keys), len(self.grid)))
        self.curves = np.stack(samples)                                     # samples x keys x grid
        self.run_max = np.maximum.accumulate(self.curves, axis=2)
        idx = np.arange(len(self.grid))
        self.run_arg = np.maximum.accumulate(np.where(self.curves >= self.run_max, idx, 0), axis=2)
        sd = self.boot.noise_sd()
        default = float(np.sqrt(np.mean(np.square(sd.to_numpy())))) if len(sd) else 0.0
        self.noise_sd = float(sd.get((self.task, self.train_model), default))

    # the solver ------------------------------------------------------------------------------------------
    def train_flops(self, fraction):
        """Training FLOPs of ``fraction`` of the pool (costs.train_flops, vectorised with the same rounding)."""
        per_token = costs.LORA_TRAIN_FLOPS_PER_PARAM_TOKEN if self.lora else costs.TRAIN_FLOPS_PER_PARAM_TOKEN
        return per_token * self.train_params * (np.asarray(fraction, float) * self.pool_tokens)

    def max_fraction(self, sel: np.ndarray, budgets: np.ndarray) -> np.ndarray:
        """Largest fraction (<= 1) each budget affords after selection; never lets total_flops exceed it."""
        frac = np.minimum((budgets[None, :] - sel[:, None]) / self.full_train_flops, 1.0)
        for _ in range(8):
            over = sel[:, None] + self.train_flops(frac) > budgets[None, :]
            frac = np.where(over, np.nextafter(frac, -np.inf), frac)
        return frac

    def _interp(self, keys: np.ndarray, frac: np.ndarray) -> np.ndarray:
        """Curves (all samples) at fractions ``frac`` (shape of keys), linear in log f: samples x shape."""
        step = self.log_grid[1] - self.log_grid[0]
        pos = (np.log(np.clip(frac, self.min_fraction, 1.0)) - self.log_grid[0]) / step
        lo = np.clip(np.floor(pos).astype(int), 0, len(self.grid) - 2)
        w = np.clip(pos - lo, 0.0, 1.0)
        return self.curves[:, keys, lo] * (1 - w) + self.curves[:, keys, lo + 1] * w

    def best_given(self, keys: np.ndarray, sel: np.ndarray, budgets: np.ndarray):
        """For curve keys and selection costs (length C) and budgets (B): the best metric of each candidate at
        each budget for every sample (samples x C x B; -inf where unaffordable) and the point fit's fraction."""
        frac_max = self.max_fraction(sel, budgets)
        ok = frac_max >= self.min_fraction
        kk = np.broadcast_to(keys[:, None], frac_max.shape)
        gi = np.clip(np.searchsorted(self.grid, frac_max, side="right") - 1, 0, None)
        on_grid = self.run_max[:, kk, gi]
        at_max = self._interp(kk, frac_max)
        use_max = at_max >= on_grid
        value = np.where(ok[None], np.where(use_max, at_max, on_grid), -np.inf)
        frac = np.where(use_max[0], frac_max, self.grid[self.run_arg[0, kk, gi]])
        return value, np.where(ok, frac, np.nan)

    def solve(self, budgets_flops) -> dict:
        """Every candidate at every budget: value (samples x C x B), fraction (C x B, point fit), order."""
        budgets = np.atleast_1d(np.asarray(budgets_flops, float))
        if not np.all(budgets > 0):
            raise ValueError("budgets must be positive FLOPs")
        keys = np.array([self.key_index[self._key(c)] for c in self.candidates])
        value, frac = self.best_given(keys, self.sel, budgets)
        return {"budgets": budgets, "value": value, "fraction": frac}

    def cheapest_flops(self) -> float:
        """Smallest budget any candidate can plan with (selection plus the minimum fraction)."""
        return float(np.min(self.sel) + self.min_fraction * self.full_train_flops)

    # plans -----------------------------------------------------------------------------------------------
    def rows(self, budget: float, solved: dict, b: int) -> pd.DataFrame:
        """One row per candidate at budget b of ``solved``, ranked best first (unaffordable last)."""
        value, frac = solved["value"][:, :, b], solved["fraction"][:, b]
        order = np.lexsort((self.sel, -np.where(np.isfinite(value[0]), value[0], -np.inf)))
        # p_best: re-solved per replicate; ties go to the cheaper selector
        by_cost = np.argsort(self.sel, kind="stable")
        winners = by_cost[np.argmax(value[1:][:, by_cost], axis=1)] if len(value) > 1 else by_cost[:0]
        feasible = np.isfinite(value[1:]).any(axis=1) if len(value) > 1 else np.array([], bool)
        counts = np.bincount(winners[feasible], minlength=len(self.candidates))
        p_best = counts / max(len(value) - 1, 1)
        keys = np.array([self.key_index[self._key(c)] for c in self.candidates])
        at = self._interp(keys, np.nan_to_num(frac, nan=self.min_fraction))  # samples x C, at the point's f
        lo, hi = _quantiles(at[1:], self.level) if len(at) > 1 else (at[0], at[0])
        rng = np.random.default_rng(self.boot.seed)
        noisy = at[1:] + rng.normal(size=at[1:].shape) * self.noise_sd if len(at) > 1 else at
        pred_lo, pred_hi = _quantiles(noisy, self.level)
        out = []
        for i in order:
            c, f = self.candidates[i], frac[i]
            affordable = bool(np.isfinite(value[0, i]))
            train = float(self.train_flops(f)) if affordable else np.nan
            out.append({
                "method": c.method, "selector_params": c.selector_params,
                "fraction": f if affordable else np.nan,
                "train_tokens": f * self.pool_tokens if affordable else np.nan,
                "selection_flops": self.sel[i], "train_flops": train,
                "total_flops": self.sel[i] + train if affordable else np.nan,
                "metric_pred": at[0, i] if affordable else np.nan,
                "metric_lo": lo[i] if affordable else np.nan, "metric_hi": hi[i] if affordable else np.nan,
                "pred_lo": pred_lo[i] if affordable else np.nan, "pred_hi": pred_hi[i] if affordable else np.nan,
                "p_best": p_best[i], "affordable": affordable,
                "min_total_flops": self.sel[i] + self.min_fraction * self.full_train_flops,
                "extrapolated": bool(affordable and (f < self.fitted_fractions[0] * (1 - 1e-9)
                                                     or not self._size_in_range())),
                "selector_measured": self._selector_measured(c),
            })
        return pd.DataFrame(out)

    def _size_in_range(self) -> bool:
        lo, hi = self.fitted_sizes
        return lo * (1 - 1e-3) <= self.train_params <= hi * (1 + 1e-3)

    def _selector_measured(self, c: Candidate) -> bool:
        if not costs.selector_cost(c.method).uses_selector_model:
            return True
        seen = self.runs.selector_params[self.runs.method == c.method].unique()
        return bool(np.any(np.isclose(seen, c.selector_params, rtol=1e-3)))

    def notes(self) -> list[str]:
        out = []
        if not self.form.selector_size_dependence:
            sizes = sorted({float(s) for m, s in zip(self.runs.method, self.runs.selector_params)
                            if costs.selector_cost(m).uses_selector_model and m not in ("embed",)})
            seen = ", ".join(f"{s:.3g}" for s in sizes) or "none"
            out.append(f"selection quality is assumed independent of selector size (the fits saw {seen} "
                       f"selectors): a smaller selector only saves cost; unmeasured sizes are marked *")
        lo, hi = self.fitted_fractions
        out.append(f"curves are trusted within the fitted fractions {lo:g}..{hi:g} of the pool; "
                   f"plans below {lo:g} are extrapolated (marked !)")
        if not self._size_in_range():
            out.append(f"train_params {self.train_params:.3g} is outside the fitted sizes "
                       f"{self.fitted_sizes[0]:.3g}..{self.fitted_sizes[1]:.3g}: the size model extrapolates (!)")
        if not np.isclose(self.pool_tokens, self.fitted_pool_tokens, rtol=0.01):
            out.append(f"curves in the fraction of the pool are assumed to transfer from the fitted pool "
                       f"({self.fitted_pool_tokens:.4g} tokens) to this one ({self.pool_tokens:.4g})")
        return out


# ---- results ------------------------------------------------------------------------------------------------

def _clean(value):
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _records(table: pd.DataFrame) -> list[dict]:
    return [{k: _clean(v) for k, v in row.items()} for row in table.to_dict(orient="records")]


@dataclass
class Tipping:
    """Smallest budget beyond which one more decade of compute buys less than ``gain`` (metric units)."""

    gain: float
    budget_flops: float
    budget_lo: float
    budget_hi: float
    gain_at_budget: float
    """Predicted gain of the best plan from the plan's budget to ten times it (metric units), with interval."""
    gain_at_budget_lo: float
    gain_at_budget_hi: float

    def describe(self, budget: float | None = None) -> str:
        text = (f"tipping point: beyond {self.budget_flops:.3g} FLOPs [{self.budget_lo:.3g}, {self.budget_hi:.3g}] "
                f"one more decade of compute buys less than {self.gain:g} points")
        if budget is not None and np.isfinite(self.gain_at_budget):
            side = "beyond" if budget >= self.budget_flops else "below"
            text += (f"; this budget is {side} it (10x it would add {self.gain_at_budget:.3g} "
                     f"[{self.gain_at_budget_lo:.3g}, {self.gain_at_budget_hi:.3g}] points)")
        return text


@dataclass
class Plan:
    """The best plan at one budget and its runners-up; ``summary()`` ranks every candidate."""

    budget_flops: float
    train_params: float
    pool_tokens: float
    task: str
    n_tasks: float
    lora: bool
    form: str
    level: float
    table: pd.DataFrame
    notes: list = field(default_factory=list)
    cheapest_flops: float = float("nan")
    tipping: Tipping | None = None

    @property
    def best(self) -> dict | None:
        ok = self.table[self.table.affordable]
        return _records(ok.iloc[[0]][PLAN_COLUMNS])[0] if len(ok) else None

    @property
    def alternatives(self) -> list[dict]:
        return _records(self.table[self.table.affordable].iloc[1:][PLAN_COLUMNS])

    @property
    def unaffordable(self) -> list[dict]:
        return _records(self.table[~self.table.affordable][["method", "selector_params", "selection_flops",
                                                             "min_total_flops"]])

    def summary(self) -> pd.DataFrame:
        """Every candidate, best first, with its fraction, tokens, FLOPs, predicted metric and intervals."""
        return self.table.reset_index(drop=True)

    def message(self) -> str | None:
        """Why there is no plan, or None."""
        if self.best is not None:
            return None
        return (f"budget {self.budget_flops:.3g} FLOPs cannot pay for even the cheapest candidate: it needs at "
                f"least {self.cheapest_flops:.3g} FLOPs (selection plus {MIN_FRACTION:g} of the pool)")

    def to_dict(self) -> dict:
        return {"best": self.best, "alternatives": self.alternatives, "unaffordable": self.unaffordable,
                "message": self.message(), "budget_flops": self.budget_flops, "train_params": self.train_params,
                "pool_tokens": self.pool_tokens, "task": self.task, "n_tasks": self.n_tasks, "lora": self.lora,
                "form": self.form, "level": self.level, "notes": self.notes,
                "tipping": None if self.tipping is None else {k: _clean(v) for k, v in vars(self.tipping).items()}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def format(self) -> str:
        """The plan as text: context, the best plan in words, the ranked candidates, notes and tipping point."""
        pct = f"{100 * self.level:.0f}%"
        lines = [f"costlaw plan: task {self.task}, {self.train_params:.3g}-parameter model, pool "
                 f"{self.pool_tokens:.4g} tokens, budget {self.budget_flops:.3g} FLOPs, n_tasks {self.n_tasks:g}, "
                 f"training {'LoRA 4N' if self.lora else '6N'} FLOPs per token; form {self.form}, {pct} intervals"]
        best = self.best
        if best is None:
            lines.append(self.message())
        else:
            sel = "no selector model" if best["selector_params"] == 0 else f"a {best['selector_params']:.3g} selector"
            lines.append(
                f"best: {best['method']} ({sel}) on {best['fraction']:.3g} of the pool = {best['train_tokens']:.3g} "
                f"tokens; {best['selection_flops']:.3g} selection + {best['train_flops']:.3g} training = "
                f"{best['total_flops']:.3g} FLOPs; {self.task} {best['metric_pred']:.2f} [{best['metric_lo']:.2f}, "
                f"{best['metric_hi']:.2f}] ({pct} CI of the curve; a new run {best['pred_lo']:.2f}..{best['pred_hi']:.2f})"
                f"; best in {100 * best['p_best']:.0f}% of bootstrap refits")
            shown = self.table[self.table.affordable].copy()
            shown.insert(0, "rank", np.arange(1, len(shown) + 1))
            shown["flag"] = ["".join(("*" if not m else "", "!" if e else ""))
                             for m, e in zip(shown.selector_measured, shown.extrapolated)]
            cols = ["rank", "method", "selector_params", "fraction", "train_tokens", "selection_flops",
                    "train_flops", "total_flops", "metric_pred", "metric_lo", "metric_hi", "p_best", "flag"]
            lines.append(shown[cols].to_string(index=False, formatters={
                "selector_params": "{:.3g}".format, "fraction": "{:.4f}".format, "train_tokens": "{:.4g}".format,
                "selection_flops": "{:.4g}".format, "train_flops": "{:.4g}".format, "total_flops": "{:.4g}".format,
                "metric_pred": "{:.2f}".format, "metric_lo": "{:.2f}".format, "metric_hi": "{:.2f}".format,
                "p_best": "{:.2f}".format}))
        for u in self.unaffordable:
            lines.append(f"unaffordable: {u['method']} (selector {u['selector_params']:.3g}) needs at least "
                         f"{u['min_total_flops']:.3g} FLOPs ({u['selection_flops']:.3g} selection)")
        lines += [f"note: {n}" for n in self.notes]
        if self.tipping is not None:
            lines.append(self.tipping.describe(self.budget_flops))
        return "\n".join(lines)


def tipping_point(problem: Problem, gain: float = 0.1, budget: float | None = None, steps_per_decade: int = 20,
                  max_budget_flops: float | None = None) -> Tipping:
    """Smallest budget B such that for every budget from B on, the best plan at 10 B beats the best plan at B
    by less than ``gain`` metric units; with a bootstrap interval (each replicate re-solved)."""
    if not gain > 0:
        raise ValueError(f"gain must be positive, got {gain}")
    lo = problem.cheapest_flops()
    hi = max_budget_flops or 100 * (float(np.max(problem.sel)) + problem.full_train_flops)
    n = int(np.ceil(np.log10(hi / lo) * steps_per_decade)) + steps_per_decade + 1
    budgets = lo * 10 ** (np.arange(n) / steps_per_decade)
    frontier = problem.solve(budgets)["value"].max(axis=1)           # samples x budgets
    decade = frontier[:, steps_per_decade:] - frontier[:, :-steps_per_decade]
    small = decade < gain
    # all later budgets small too: reverse cumulative AND
    tail = np.flip(np.logical_and.accumulate(np.flip(small, axis=1), axis=1), axis=1)
    first = np.where(tail.any(axis=1), np.argmax(tail, axis=1), tail.shape[1] - 1)
    tips = budgets[first]
    t_lo, t_hi = _quantiles(tips[1:], problem.level) if len(tips) > 1 else (tips[0], tips[0])
    if budget is None:
        g = g_lo = g_hi = float("nan")
    else:
        pair = problem.solve([budget, 10 * budget])["value"].max(axis=1)
        with np.errstate(invalid="ignore"):
            gains = pair[:, 1] - pair[:, 0]
        g = float(gains[0])
        g_lo, g_hi = _quantiles(gains[1:], problem.level) if len(gains) > 1 else (g, g)
    return Tipping(gain, float(tips[0]), float(t_lo), float(t_hi), g, float(g_lo), float(g_hi))


def plan(budget_flops: float, train_params: float, pool_tokens: float = costs.PAPER_POOL_TOKENS,
         task: str | None = None, selectors=None, n_tasks: float = 1, lora: bool = False, fits=None,
         gain: float | None = 0.1, problem: Problem | None = None) -> Plan:
    """The best (method, selector_params, fraction) for ``budget_flops`` and its runners-up, with intervals.

    ``selectors``: a spec like ``"ppl:1e9,7e9 less:7e9 embed bm25 random"`` (default DEFAULT_SELECTORS);
    ``fits``: a `costlaw fit` folder or loaded Bootstraps (default: the bundled offset_exp_size paper fits);
    ``gain``: metric units per decade for the tipping point (None skips it).
    """
    if not budget_flops > 0:
        raise ValueError(f"budget_flops must be positive, got {budget_flops}")
    problem = problem or Problem(train_params, pool_tokens, task, selectors, n_tasks, lora, fits)
    solved = problem.solve([budget_flops])
    table = problem.rows(budget_flops, solved, 0)
    tip = tipping_point(problem, gain, budget_flops) if gain is not None else None
    return Plan(float(budget_flops), problem.train_params, problem.pool_tokens, problem.task, problem.n_tasks,
                problem.lora, problem.form.name, problem.level, table, problem.notes(), problem.cheapest_flops(), tip)


# ---- sweeps over budgets and the break-even map -------------------------------------------------------------

def parse_budgets(spec: str) -> np.ndarray:
    """``a:b:n`` -> n log-spaced budgets (FLOPs) from a to b inclusive."""
    parts = str(spec).split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        a, b, n = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise ValueError(f"--budgets wants a:b:n (e.g. 1e17:1e20:31), got '{spec}'") from None
    if not (0 < a <= b and n >= 1 and np.isfinite(b)):
        raise ValueError(f"--budgets a:b:n needs 0 < a <= b and n >= 1, got '{spec}'")
    return np.geomspace(a, b, n) if n > 1 else np.array([a])


@dataclass
class BudgetSweep:
    """The best plan at each budget (``summary()``: one row per budget; ``plans``: full Plans)."""

    plans: list

    def summary(self) -> pd.DataFrame:
        rows = []
        for p in self.plans:
            best = p.best or {c: np.nan for c in PLAN_COLUMNS}
            rows.append({"budget_flops": p.budget_flops, **best, "runner_up": (p.alternatives[0]["method"]
                         if p.alternatives else None)})
        return pd.DataFrame(rows)

    def to_json(self) -> str:
        return json.dumps({"plans": _records(self.summary())}, indent=1)

    def plot(self, path=None):
        """The frontier of best plans against budget, each region coloured by the winning method; PNG if path."""
        import matplotlib.pyplot as plt
        from .plotting import color
        table = self.summary().dropna(subset=["method"])
        fig, ax = plt.subplots(figsize=(7, 4.2))
        budgets = table.budget_flops.to_numpy()
        edges = np.sqrt(budgets[1:] * budgets[:-1]) if len(budgets) > 1 else budgets
        left = np.concatenate([[budgets[0]], edges]) if len(budgets) else budgets
        right = np.concatenate([edges, [budgets[-1]]]) if len(budgets) else budgets
        seen = set()
        for (m, s), a, b in zip(zip(table.method, table.selector_params), left, right):
            label = m if s == 0 else f"{m} ({s:.2g})"
            ax.axvspan(a, b, color=color(m), alpha=0.18 if s <= 1.5e9 else 0.32, lw=0,
                       label=None if label in seen else label)
            seen.add(label)
        ax.fill_between(budgets, table.metric_lo, table.metric_hi, color="black", alpha=0.15, lw=0,
                        label=f"{100 * self.plans[0].level:.0f}% CI")
        ax.plot(budgets, table.metric_pred, color="black", lw=1.6)
        ax.set_xscale("log")
        ax.set_xlabel("budget (FLOPs)")
        ax.set_ylabel(f"{self.plans[0].task} (predicted)")
        p = self.plans[0]
        ax.set_title(f"best plan per budget: {p.train_params:.3g}-param model, pool {p.pool_tokens:.3g} tokens, "
                     f"n_tasks {p.n_tasks:g}", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3, which="both", lw=0.4)
        fig.tight_layout()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=110)
            plt.close(fig)
        return fig


def plan_budgets(budgets_flops, train_params: float, pool_tokens: float = costs.PAPER_POOL_TOKENS,
                 task: str | None = None, selectors=None, n_tasks: float = 1, lora: bool = False, fits=None,
                 problem: Problem | None = None) -> BudgetSweep:
    """The best plan at each of ``budgets_flops`` (one solve for all budgets)."""
    problem = problem or Problem(train_params, pool_tokens, task, selectors, n_tasks, lora, fits)
    budgets = np.atleast_1d(np.asarray(budgets_flops, float))
    solved = problem.solve(budgets)
    notes, cheapest = problem.notes(), problem.cheapest_flops()
    return BudgetSweep([Plan(float(b), problem.train_params, problem.pool_tokens, problem.task, problem.n_tasks,
                             problem.lora, problem.form.name, problem.level, problem.rows(b, solved, i), notes,
                             cheapest) for i, b in enumerate(budgets)])


@dataclass
class BreakevenMap:
    """Per method, budget and n_tasks: the largest selection cost and selector at which the method still gives
    the best plan, and the break-even train-to-selector ratio N_train / N_sel* (inf: never, even free)."""

    table: pd.DataFrame
    train_params: float
    task: str

    def summary(self) -> pd.DataFrame:
        return self.table.reset_index(drop=True)

    def to_json(self) -> str:
        return json.dumps({"breakeven_map": _records(self.table)}, indent=1)

    def plot(self, path=None):
        import matplotlib.pyplot as plt
        methods = list(pd.unique(self.table.method))
        fig, axes = plt.subplots(1, len(methods), figsize=(5.5 * len(methods), 4), squeeze=False)
        for ax, m in zip(axes.flat, methods):
            g = self.table[self.table.method == m]
            for n, h in g.groupby("n_tasks"):
                line, = ax.plot(h.budget_flops, h.ratio.replace(np.inf, np.nan), label=f"{n:g} task(s)")
                ax.fill_between(h.budget_flops, h.ratio_lo.replace(np.inf, np.nan),
                                h.ratio_hi.replace(np.inf, np.nan), color=line.get_color(), alpha=0.12, lw=0)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("budget (FLOPs)")
            ax.set_ylabel("break-even N_train / N_selector")
            ax.set_title(f"{m}: wins when the selector is smaller than N_train / ratio", fontsize=9)
            ax.grid(alpha=0.3, which="both", lw=0.4)
            ax.legend(fontsize=7)
        fig.suptitle(f"{self.task}, {self.train_params:.3g}-parameter model (gaps: never wins, even free)",
                     fontsize=10)
        fig.tight_layout()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=110)
            plt.close(fig)
        return fig


def breakeven_map(budgets_flops, train_params: float, pool_tokens: float = costs.PAPER_POOL_TOKENS,
                  task: str | None = None, selectors=None, n_tasks_values=MAP_TASKS, methods=("ppl", "less"),
                  lora: bool = False, fits=None, tol_decades: float = 0.005,
                  problem: Problem | None = None) -> BreakevenMap:
    """Break-even train-to-selector ratio of each of ``methods`` on a grid of budgets x n_tasks.

    As in costlaw.breakeven, the method's curve is kept fixed and its selection cost C varied: it gives the best
    plan at budget B (strictly, by WIN_MARGIN) for every C below a threshold C*(B, n_tasks), found by
    bisection in log C for the point fit and every replicate. With a FLOPs per selector parameter a(n_tasks)
    (shared work divided over n_tasks), N_sel* = C* / a and ratio = N_train / N_sel*. The competitors are the
    other methods' candidates at their own costs with the same n_tasks.
    """
    from .breakeven import WIN_MARGIN
    if problem is None:
        cands = parse_selectors(selectors)
        cands += [Candidate(m, costs.DEFAULT_SELECTOR_PARAMS.get(m, 0.0)) for m in methods
                  if m not in {c.method for c in cands}]
        problem = Problem(train_params, pool_tokens, task, cands, 1, lora, fits)
    if problem._curve_depends_on_cost:
        raise ValueError(f"form '{problem.form.name}' makes the curve depend on the selection cost; the "
                         f"break-even map needs a form with the selection cost as an offset")
    budgets = np.atleast_1d(np.asarray(budgets_flops, float))
    rows = []
    for method in methods:
        mine_key = problem.key_index.get((method, None))
        if mine_key is None:
            raise ValueError(f"break-even map: '{method}' is not among the selectors; add it to the spec")
        others = [i for i, c in enumerate(problem.candidates) if c.method != method]
        other_keys = np.array([problem.key_index[problem._key(problem.candidates[i])] for i in others])
        for n in n_tasks_values:
            other_sel = np.array([problem.selection_flops(problem.candidates[i], n) for i in others])
            theirs = (problem.best_given(other_keys, other_sel, budgets)[0].max(axis=1) if len(others)
                      else np.full((len(problem.curves), len(budgets)), -np.inf))

            def wins(sel_flops):  # sel_flops: samples x budgets
                frac_max = np.minimum((budgets[None, :] - sel_flops) / problem.full_train_flops, 1.0)
                ok = frac_max >= problem.min_fraction
                gi = np.clip(np.searchsorted(problem.grid, frac_max, side="right") - 1, 0, None)
                s_idx = np.arange(len(problem.curves))[:, None]
                on_grid = problem.run_max[s_idx, mine_key, gi]
                step = problem.log_grid[1] - problem.log_grid[0]
                pos = (np.log(np.clip(frac_max, problem.min_fraction, 1.0)) - problem.log_grid[0]) / step
                lo = np.clip(np.floor(pos).astype(int), 0, len(problem.grid) - 2)
                w = np.clip(pos - lo, 0.0, 1.0)
                curve = problem.curves[:, mine_key, :]
                at_max = curve[s_idx, lo] * (1 - w) + curve[s_idx, lo + 1] * w
                mine = np.where(ok, np.maximum(on_grid, at_max), -np.inf)
                return mine > theirs + WIN_MARGIN

            shape = theirs.shape
            free = wins(np.zeros(shape))
            log_lo = np.full(shape, np.log10(problem.full_train_flops) - 9.0)
            log_hi = np.broadcast_to(np.log10(budgets), shape).copy()
            free &= wins(10 ** log_lo)
            while np.max(log_hi - log_lo) > tol_decades:
                mid = 0.5 * (log_lo + log_hi)
                w = wins(10 ** mid)
                log_lo = np.where(w, mid, log_lo)
                log_hi = np.where(w, log_hi, mid)
            sel_star = np.where(free, 10 ** log_lo, 0.0)
            per_param = costs.selection_flops_per_selector_param(method, problem.pool_tokens, n)
            with np.errstate(divide="ignore"):
                ratio = np.where(sel_star > 0, problem.train_params * per_param / np.where(sel_star > 0, sel_star, 1),
                                 np.inf)
            r_lo, r_hi = _quantiles(ratio[1:], problem.level) if len(ratio) > 1 else (ratio[0], ratio[0])
            for b, budget in enumerate(budgets):
                rows.append({"method": method, "n_tasks": n, "budget_flops": budget,
                             "breakeven_selection_flops": sel_star[0, b],
                             "breakeven_selector_params": sel_star[0, b] / per_param, "ratio": ratio[0, b],
                             "ratio_lo": r_lo[b], "ratio_hi": r_hi[b]})
    return BreakevenMap(pd.DataFrame(rows), problem.train_params, problem.task)


# ---- the `costlaw plan` command -----------------------------------------------------------------------------

def _table_text(table: pd.DataFrame) -> str:
    def fmt(v):
        return "{:.4g}".format(v) if isinstance(v, (float, np.floating)) else str(v)
    return table.to_string(index=False, formatters={c: fmt for c in table.columns if table[c].dtype.kind == "f"})


def run_plan_command(args) -> int:
    """Handler of `costlaw plan` (args from argparse): prints a plan, or a sweep over budgets and a break-even
    map; with --out writes CSV, JSON and PNG files. A budget too small for any candidate is an answer: exit 0."""
    from .io import write_csv_atomic, write_text_atomic
    problem = Problem(args.train_params, args.pool_tokens, args.task, args.selectors, args.n_tasks, args.lora,
                      args.fits)
    out = Path(args.out) if args.out else None
    written = []
    if args.budgets is None:
        result = plan(args.budget, args.train_params, gain=args.gain, problem=problem)
        payload = result.to_dict()
        text = [result.format()]
        budgets = np.array([args.budget])
        if out is not None:
            written += [write_csv_atomic(out / "plan.csv", result.summary()),
                        write_text_atomic(out / "plan.json", result.to_json())]
    else:
        budgets = parse_budgets(args.budgets)
        sweep = plan_budgets(budgets, args.train_params, problem=problem)
        table = sweep.summary()
        tip = tipping_point(problem, args.gain) if args.gain else None
        payload = {"plans": _records(table), "notes": problem.notes(),
                   "tipping": None if tip is None else {k: _clean(v) for k, v in vars(tip).items()}}
        cols = ["budget_flops", "method", "selector_params", "fraction", "train_tokens", "selection_flops",
                "train_flops", "total_flops", "metric_pred", "metric_lo", "metric_hi", "p_best", "runner_up"]
        text = [f"costlaw plan: task {problem.task}, {problem.train_params:.3g}-parameter model, pool "
                f"{problem.pool_tokens:.4g} tokens, n_tasks {problem.n_tasks:g}, {len(budgets)} budgets; form "
                f"{problem.form.name}, {100 * problem.level:.0f}% intervals", _table_text(table[cols])]
        if table.method.isna().any():
            text.append(f"budgets below {problem.cheapest_flops():.3g} FLOPs cannot pay for even the cheapest "
                        f"candidate (no plan)")
        text += [f"note: {n}" for n in problem.notes()] + ([tip.describe()] if tip else [])
        if out is not None:
            written += [write_csv_atomic(out / "plan_sweep.csv", table), _save(sweep, out / "plan_sweep.png")]
    if args.map:
        bmap = breakeven_map(budgets, args.train_params, problem=_with_map_methods(problem))
        payload["breakeven_map"] = _records(bmap.table)
        text += ["break-even train-to-selector ratio (N_train / N_selector; the method gives the best plan when its "
                 "selector is smaller than N_train / ratio; inf: never, even free):",
                 _table_text(bmap.table)]
        if out is not None:
            written += [write_csv_atomic(out / "breakeven_map.csv", bmap.table)]
            if len(budgets) > 1:
                written.append(_save(bmap, out / "breakeven_map.png"))
    if args.json:
        print(json.dumps(payload, indent=1))
    else:
        print("\n".join(text))
        if written:
            print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0


def _save(result, path: Path) -> Path:
    import matplotlib.pyplot as plt
    fig = result.plot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _with_map_methods(problem: Problem, methods=("ppl", "less")) -> Problem:
    """The problem, with PPL and LESS (default selectors) added when the spec left them out."""
    have = {c.method for c in problem.candidates}
    extra = [Candidate(m, costs.DEFAULT_SELECTOR_PARAMS[m]) for m in methods if m not in have]
    if not extra:
        return problem
    return Problem(problem.train_params, problem.pool_tokens, problem.task, problem.candidates + extra, 1,
                   problem.lora, [problem.boot], problem.min_fraction, len(problem.grid))
