"""Plans across budgets (``plan_budgets``) and the break-even map over budgets and ``n_tasks`` (``breakeven_map``)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import math

import numpy as np

from ..errors import InputError
from .. import costs
from ..bands import percentile_interval
from ..io import json_records
from ..tables import frame, is_missing, records
from .candidates import MAP_TASKS, PLAN_COLUMNS, Candidate, parse_selectors
from .forms import DEPENDS, SAME, within
from .problem import Problem
from .results import Plan


def parse_budgets(spec: str) -> np.ndarray:
    """``a:b:n`` -> n log-spaced budgets (FLOPs) from a to b inclusive."""
    parts = str(spec).split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        a, b, n = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise InputError(f"--budgets wants a:b:n (e.g. 1e17:1e20:31), got '{spec}'") from None
    if not (0 < a <= b and n >= 1 and np.isfinite(b)):
        raise InputError(f"--budgets a:b:n needs 0 < a <= b and n >= 1, got '{spec}'")
    return np.geomspace(a, b, n) if n > 1 else np.array([a])


@dataclass
class BudgetSweep:
    """The best plan at each budget (``summary()``: one row per budget; ``plans``: full Plans)."""

    plans: list

    @property
    def has_forms(self) -> bool:
        """Whether the plans carry a form spread (``Plan.spread_rows``)."""
        return any(p.spread_rows is not None for p in self.plans)

    @property
    def has_average(self) -> bool:
        """Whether the plans carry a model average of the forms (``Plan.average_row``)."""
        return any(p.average_row is not None for p in self.plans)

    def records(self) -> list[dict]:
        """One record per budget: the best plan (``PLAN_COLUMNS``; NaN where none), the runner-up and the verdict;
        with a form spread also ``forms_agree`` (every form picks the same winner), ``best_by_form`` (each form's
        winner) and ``metric_pred_forms_min``/``_max`` (the best plan's predicted metric over the forms); with a
        model average (``Plan.average_row``) also ``best_average`` (its winner) and ``fraction_average``,
        ``metric_pred_average``, ``metric_lo_average``, ``metric_hi_average``."""
        rows = []
        has_forms, has_average = self.has_forms, self.has_average
        for p in self.plans:
            best = p.best or {c: np.nan for c in PLAN_COLUMNS}
            row = {"budget_flops": p.budget_flops, **best, "runner_up": (p.alternatives[0]["method"]
                   if p.alternatives else None), "verdict": p.verdict}
            if has_forms:
                spread = p.spread_rows or []
                row["forms_agree"] = p.same_winner_across_forms
                row["best_by_form"] = " ".join(_winner(r) for r in spread)
                pred = [float(r["metric_pred"]) for r in spread if not math.isnan(float(r["metric_pred"]))]
                row["metric_pred_forms_min"] = min(pred) if pred else np.nan  # as Series.min/max: NaN skipped
                row["metric_pred_forms_max"] = max(pred) if pred else np.nan
            if has_average:
                a = p.average_row or {"form": "average", "method": None, "selector_params": np.nan}
                row["best_average"] = _winner(a).split("=", 1)[1]
                for c in ("fraction", "metric_pred", "metric_lo", "metric_hi"):
                    row[f"{c}_average"] = a.get(c, np.nan)
            rows.append(row)
        return rows

    def summary(self):
        """``records`` as a DataFrame (imports pandas)."""
        return frame(self.records())

    def forms_records(self) -> list[dict] | None:
        """Long table of the form spread: one record per (budget, form) (``planner.forms.SPREAD_COLUMNS``), then
        the model average's (form ``average``) where there is one; None without a spread."""
        if not self.has_forms:
            return None
        return [{"budget_flops": p.budget_flops, **r} for p in self.plans
                for r in (p.spread_rows or []) + ([p.average_row] if p.average_row is not None else [])]

    def forms_table(self):
        """``forms_records`` as a DataFrame (imports pandas), or None."""
        rows = self.forms_records()
        return None if rows is None else frame(rows)

    def forms_agreement(self) -> str:
        """In words: at how many budgets the forms agree on the winner."""
        if not self.has_forms:
            return ""
        table = [r for r in self.records() if not is_missing(r["method"])]
        agree = sum(1 for r in table if r["forms_agree"] is None or bool(r["forms_agree"]))
        depends = sum(1 for r in table if r["verdict"] == DEPENDS)
        p = next(p for p in self.plans if p.spread_rows is not None)
        forms = ", ".join(r["form"] + (" (default)" if r["default"] else "") for r in p.spread_rows)
        text = f"forms ({forms}) pick the same winner at {agree} of {len(table)} budgets"
        if agree < len(table):
            text += (f"; at {len(table) - agree - depends} of the others their picks are within the margin "
                     f"(indistinguishable), at {depends} the verdict is '{DEPENDS}' (marked in the plot)")
        return text

    def to_json(self) -> str:
        return json.dumps({"plans": json_records(self.records())}, indent=1)

    def plot(self, path=None):
        """The frontier of best plans against budget, each region coloured by the winning method; PNG if path."""
        import matplotlib.pyplot as plt

        from ..plotting import color
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
        if self.has_forms:  # every form's best plan, and the budgets where the forms pick different winners
            forms = self.forms_table().dropna(subset=["method"])
            for i, (form, g) in enumerate(forms[~forms["default"]].groupby("form", sort=False)):
                ax.plot(g.budget_flops, g.metric_pred, color="black", lw=0.9, ls=("--", ":", "-.")[i % 3],
                        label="best plan of the forms' model average" if form == "average" else
                        f"best plan under {form}")
            split = table[table.verdict == DEPENDS]
            if len(split):
                ax.plot(split.budget_flops, split.metric_pred, "x", color="crimson", ms=6,
                        label=DEPENDS)
        ax.set_xscale("log")
        ax.set_xlabel("budget (FLOPs)")
        ax.set_ylabel(f"{self.plans[0].task} (predicted" + ("" if self.plans[0].higher_is_better
                                                             else "; lower is better") + ")")
        p = self.plans[0]
        ax.set_title(f"best plan per budget: {p.train_params:.3g}-param model, pool {p.pool_tokens:.3g} tokens, "
                     f"n_tasks {p.n_tasks:g}", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3, which="both", lw=0.4)
        fig.tight_layout()
        if path is not None:
            from ..plotting import save_figure
            save_figure(fig, path)
        return fig


def _winner(r: dict) -> str:
    """``form=method[:selector size]`` of a form spread record (``none`` without a plan)."""
    if r["method"] is None:
        return f"{r['form']}=none"
    size = "" if r["selector_params"] == 0 else f":{r['selector_params']:.3g}"
    return f"{r['form']}={r['method']}{size}"


def plan_budgets(budgets_flops, train_params: float, pool_tokens: float = costs.PAPER_POOL_TOKENS,
                 task: str | None = None, selectors=None, n_tasks: float = 1, lora: bool = False, fits=None,
                 problem: Problem | None = None, form_fits: dict | None = None, form_loo=None,
                 forms: bool = True, form_weights=None) -> BudgetSweep:
    """The best plan at each of ``budgets_flops`` (one solve for all budgets), each with its form spread
    (``Plan.form_spread``) and model average (``Plan.average_row``; ``form_fits``/``form_loo``/``form_weights`` as
    in ``plan``; ``forms=False`` skips both)."""
    from .forms import form_set
    problem = problem or Problem(train_params, pool_tokens, task, selectors, n_tasks, lora, fits)
    budgets = np.atleast_1d(np.asarray(budgets_flops, float))
    solved = problem.solve(budgets)
    notes, cheapest = problem.notes(), problem.cheapest_flops()
    fs, why = form_set(problem, form_fits, form_loo, form_weights) if forms else (None, "")
    spreads = fs.spreads(budgets) if fs is not None else [None] * len(budgets)
    averages = fs.average_rows(budgets) if fs is not None else [None] * len(budgets)
    basis = "" if fs is None else fs.basis
    weights = None if fs is None or fs.averaged is None else dict(fs.weights)
    weights_note = "" if weights is None else fs.describe_weights()
    return BudgetSweep([Plan(float(b), problem.train_params, problem.pool_tokens, problem.task, problem.n_tasks,
                             problem.lora, problem.form.name, problem.level, problem.records(b, solved, i), notes,
                             cheapest, None, problem.margin, problem.fit_kind, spreads[i], why, basis,
                             problem.higher_is_better, averages[i], weights, weights_note)
                        for i, b in enumerate(budgets)])


@dataclass
class BreakevenMap:
    """Per method, budget and n_tasks: the largest selection cost and selector at which the method still gives
    the best plan, and the break-even train-to-selector ratio N_train / N_sel* (inf: never, even free)."""

    rows: list
    """One record per method, n_tasks and budget."""
    train_params: float
    task: str
    forms: list | None = None
    """Labels of the forms the map was re-solved under (columns ``ratio_<form>``); None without a form spread."""
    default_form: str | None = None
    form_basis: str = ""
    form_note: str = ""
    """Why there is no form spread, or empty."""
    weights: dict | None = None
    """{form: stacking weight} of the model-averaged ratio (columns ``ratio_average``, ``_lo``, ``_hi``); None
    without one."""

    def __post_init__(self):
        self.rows = records(self.rows)  # a DataFrame given is kept as its records

    @property
    def table(self):
        """``rows`` as a DataFrame (imports pandas)."""
        return frame(self.rows)

    def summary(self):
        return self.table

    def forms_agreement(self) -> str:
        """In words: in how many cells every form's ratio lies inside the default form's interval."""
        if not self.forms:
            return f"form spread: {self.form_note}" if self.form_note else ""
        agree = sum(bool(r["forms_agree"]) for r in self.rows)
        names = ", ".join(f + (" (default)" if f == self.default_form else "") for f in self.forms)
        text = (f"forms ({names}): every form's ratio inside the default form's interval in {agree} of "
                f"{len(self.rows)} cells")
        if agree < len(self.rows):
            text += f"; the others say '{DEPENDS}' (verdict column; x in the plot)"
        return text

    def to_json(self) -> str:
        return json.dumps({"breakeven_map": json_records(self.rows)}, indent=1)

    def plot(self, path=None):
        import matplotlib.pyplot as plt
        import pandas as pd
        table = self.table
        methods = list(pd.unique(table.method))
        fig, axes = plt.subplots(1, len(methods), figsize=(5.5 * len(methods), 4), squeeze=False)
        for ax, m in zip(axes.flat, methods):
            g = table[table.method == m]
            cols = ["ratio"] + [f"ratio_{f}" for f in (self.forms or [])]
            if not np.isfinite(g[cols].to_numpy(float)).any():
                ax.text(0.5, 0.5, f"{m} never wins by more than the margin"
                        + (" under any form" if self.forms else ""), ha="center", va="center",
                        transform=ax.transAxes, fontsize=9)
                ax.set_axis_off()
                continue
            for n, h in g.groupby("n_tasks"):
                line, = ax.plot(h.budget_flops, h.ratio.replace(np.inf, np.nan), label=f"{n:g} task(s)")
                ax.fill_between(h.budget_flops, h.ratio_lo.replace(np.inf, np.nan),
                                h.ratio_hi.replace(np.inf, np.nan), color=line.get_color(), alpha=0.12, lw=0)
                if "ratio_average" in h:
                    ax.plot(h.budget_flops, h.ratio_average.replace(np.inf, np.nan), color=line.get_color(),
                            lw=1.2, ls=(0, (1, 1)), label="forms' model average" if n == g.n_tasks.iloc[0] else None)
                for i, f in enumerate(f for f in (self.forms or []) if f != self.default_form):
                    ax.plot(h.budget_flops, h[f"ratio_{f}"].replace(np.inf, np.nan), color=line.get_color(),
                            lw=0.8, ls=("--", ":")[i % 2], label=f"under {f}" if n == g.n_tasks.iloc[0] else None)
                if self.forms:
                    split = h[~h.forms_agree.astype(bool)]   # at the default's ratio, else (never) the others'
                    at = split.ratio.where(np.isfinite(split.ratio), split.ratio_forms_min)
                    ax.plot(split.budget_flops, at.replace(np.inf, np.nan), "x", color="crimson", ms=5,
                            label=DEPENDS if n == g.n_tasks.iloc[0] and len(split) else None)
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
            from ..plotting import save_figure
            save_figure(fig, path)
        return fig


def breakeven_map(budgets_flops, train_params: float, pool_tokens: float = costs.PAPER_POOL_TOKENS,
                  task: str | None = None, selectors=None, n_tasks_values=MAP_TASKS, methods=("ppl", "less"),
                  lora: bool = False, fits=None, tol_decades: float = 0.005,
                  problem: Problem | None = None, margin: float | None = None, forms: bool = True,
                  form_fits: dict | None = None, form_loo=None, form_weights=None) -> BreakevenMap:
    """Break-even train-to-selector ratio of each of ``methods`` on a grid of budgets x n_tasks.

    As in costlaw.breakeven, the method's curve is kept fixed and its selection cost C varied: it gives the best
    plan at budget B (by more than the problem's margin) for every C below a threshold C*(B, n_tasks), found by
    bisection in log C for the point fit and every replicate. With a FLOPs per selector parameter a(n_tasks)
    (shared work divided over n_tasks), N_sel* = C* / a and ratio = N_train / N_sel*. The competitors are the
    other methods' candidates at their own costs with the same n_tasks.

    Form spread (``forms``; ``form_fits``/``form_loo`` as in ``plan``): the map is re-solved under each form of
    the problem's form set (``planner.forms``): columns ``ratio_<form>``, ``ratio_forms_min``/``_max``,
    ``forms_agree`` (every form's ratio inside this form's interval [ratio_lo, ratio_hi]) and ``verdict``
    ("same under every form" or "depends on the form"); with weights (``form_weights``, default the shipped
    stacking weights) the model average's ratio and interval, ``ratio_average``, ``ratio_average_lo``/``_hi``.
    """
    from .forms import form_set
    if problem is None:
        cands = parse_selectors(selectors)
        cands += [Candidate(m, costs.DEFAULT_SELECTOR_PARAMS.get(m, 0.0)) for m in methods
                  if m not in {c.method for c in cands}]
        problem = Problem(train_params, pool_tokens, task, cands, 1, lora, fits, margin=margin)
    budgets = np.atleast_1d(np.asarray(budgets_flops, float))
    table = _map_table(problem, budgets, methods, n_tasks_values, tol_decades)
    fs, why = form_set(problem, form_fits, form_loo, form_weights) if forms else (None, "")
    if fs is None:
        return BreakevenMap(table, problem.train_params, problem.task, form_note=why)
    for label, p in fs.problems.items():
        other = table if p is problem else _map_table(p, budgets, methods, n_tasks_values, tol_decades)
        for row, theirs in zip(table, other):
            row[f"ratio_{label}"] = theirs["ratio"]
    cols = [f"ratio_{label}" for label in fs.problems]
    avg = fs.averaged
    if avg is not None:   # the model average's ratio and its interval, beside the forms' (not among them)
        for row, theirs in zip(table, _map_table(avg, budgets, methods, n_tasks_values, tol_decades)):
            row["ratio_average"], row["ratio_average_lo"] = theirs["ratio"], theirs["ratio_lo"]
            row["ratio_average_hi"] = theirs["ratio_hi"]
    for row in table:
        values = [float(row[c]) for c in cols]
        known = [v for v in values if not math.isnan(v)]  # as DataFrame.min/max(axis=1): NaN skipped
        row["ratio_forms_min"] = min(known) if known else np.nan
        row["ratio_forms_max"] = max(known) if known else np.nan
        row["forms_agree"] = within(values, row["ratio_lo"], row["ratio_hi"])
        row["verdict"] = SAME if row["forms_agree"] else DEPENDS
    return BreakevenMap(table, problem.train_params, problem.task, forms=list(fs.problems),
                        default_form=fs.default, form_basis=fs.basis,
                        weights=None if avg is None else dict(fs.weights))


def _map_table(problem: Problem, budgets: np.ndarray, methods, n_tasks_values, tol_decades: float) -> list[dict]:
    """The break-even map of one problem (one form): one record per (method, n_tasks, budget)."""
    if problem._curve_depends_on_cost:
        raise InputError(f"form '{problem.form.name}' makes the curve depend on the selection cost; the "
                         f"break-even map needs a form with the selection cost as an offset")
    rows = []
    for method in methods:
        mine_key = problem.key_index.get((method, None))
        if mine_key is None:
            raise InputError(f"break-even map: '{method}' is not among the selectors; add it to the spec")
        others = [i for i, c in enumerate(problem.candidates) if c.method != method]
        other_keys = np.array([problem.key_index[problem.key(problem.candidates[i])] for i in others])
        for n in n_tasks_values:
            other_sel = np.array([problem.selection_flops(problem.candidates[i], n) for i in others])
            theirs = (problem.best_given(other_keys, other_sel, budgets)[0].max(axis=1) if len(others)
                      else np.full((len(problem.curves), len(budgets)), -np.inf))

            def wins(sel_flops):  # sel_flops: samples x budgets
                return problem.wins(mine_key, sel_flops, theirs, budgets)

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
            per_param = costs.selection_flops_per_selector_param(method, problem.pool_tokens, n, problem.lora)
            fixed = costs.selection_flops_fixed(method, problem.pool_tokens, n, problem.lora)
            room = sel_star - fixed  # the part of the selection cost that grows with the selector
            with np.errstate(divide="ignore"):
                ratio = np.where(room > 0, problem.train_params * per_param / np.where(room > 0, room, 1), np.inf)
            r_lo, r_hi = percentile_interval(ratio[1:], problem.level) if len(ratio) > 1 else (ratio[0], ratio[0])
            for b, budget in enumerate(budgets):
                rows.append({"method": method, "n_tasks": n, "budget_flops": budget,
                             "breakeven_selection_flops": sel_star[0, b],
                             "breakeven_selector_params": max(sel_star[0, b] - fixed, 0.0) / per_param,
                             "ratio": ratio[0, b], "margin": problem.margin,
                             "ratio_lo": r_lo[b], "ratio_hi": r_hi[b]})
    return rows
