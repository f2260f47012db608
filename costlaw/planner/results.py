"""A single plan: ``plan()`` returns the best candidate, the runners-up and their intervals; the tipping point of diminishing returns."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from ..checks import check_number
from ..io import json_records, json_value
from .. import costs
from ..bands import percentile_interval
from ..tables import frame, normalise, records, text_table
from .candidates import MIN_FRACTION, PLAN_COLUMNS
from .problem import Problem


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
    by_form: dict | None = None
    """{form: {budget_flops, budget_lo, budget_hi, gain_at_budget}} under each form of the plan's form set
    (``planner.forms``); None without one."""
    default_form: str | None = None
    """The form these numbers are under (the held-out winner) when ``by_form`` is given."""
    higher_is_better: bool = True
    """False for a loss: gains are reductions of the metric."""
    average: dict | None = None
    """{budget_flops, budget_lo, budget_hi, gain_at_budget} of the forms' model average (``planner.averaged``),
    beside ``by_form`` (not among them); None without one."""

    @property
    def forms_agree(self) -> bool | None:
        """Whether every form's tipping point lies inside this (the default form's) interval; None without forms."""
        if not self.by_form:
            return None
        from .forms import within
        return within([v["budget_flops"] for v in self.by_form.values()], self.budget_lo, self.budget_hi)

    def to_dict(self) -> dict:
        out = {k: json_value(v) for k, v in vars(self).items() if k != "by_form"}
        out["by_form"] = (None if self.by_form is None else
                          {f: {k: json_value(v) for k, v in d.items()} for f, d in self.by_form.items()})
        out["average"] = None if self.average is None else {k: json_value(v) for k, v in self.average.items()}
        out["forms_agree"] = self.forms_agree
        return out

    def describe(self, budget: float | None = None) -> str:
        buys, add = ("buys", "add") if self.higher_is_better else ("lowers the metric by", "lower it by")
        text = (f"tipping point: beyond {self.budget_flops:.3g} FLOPs [{self.budget_lo:.3g}, {self.budget_hi:.3g}] "
                f"one more decade of compute {buys} less than {self.gain:g} points")
        if budget is not None and np.isfinite(self.gain_at_budget):
            side = "beyond" if budget >= self.budget_flops else "below"
            text += (f"; this budget is {side} it (10x it would {add} {self.gain_at_budget:.3g} "
                     f"[{self.gain_at_budget_lo:.3g}, {self.gain_at_budget_hi:.3g}] points)")
        if self.by_form:
            from .forms import DEPENDS, SAME
            per = ", ".join(f"{f}{' (default)' if f == self.default_form else ''} {v['budget_flops']:.3g}"
                            for f, v in self.by_form.items())
            text += (f"; under each form: {per}: " + (SAME if self.forms_agree else
                                                      f"{DEPENDS} (outside the default form's interval)"))
        if self.average:
            a = self.average
            text += (f"; the forms' model average: {a['budget_flops']:.3g} [{a['budget_lo']:.3g}, "
                     f"{a['budget_hi']:.3g}]")
        return text


@dataclass
class Plan:
    """The best plan at one budget and its runners-up; ``summary()`` ranks every candidate.

    Held as records (``rows``: one dict per candidate, best first; ``spread_rows``: one per form), so that making
    and printing a plan needs no pandas; ``table``, ``form_spread`` and ``summary()`` give DataFrames."""

    budget_flops: float
    train_params: float
    pool_tokens: float
    task: str
    n_tasks: float
    lora: bool
    form: str
    level: float
    rows: list
    """One record per candidate (``Problem.records``), best first, unaffordable last."""
    notes: list = field(default_factory=list)
    cheapest_flops: float = float("nan")
    tipping: Tipping | None = None
    margin: float = float("nan")
    """A plan beats another only by more than this (metric points)."""
    fit_kind: str = ""
    """Which fit scored the plan: a per-panel fit at a measured size, or a size model."""
    spread_rows: list | None = None
    """The best plan under each form, one record per form (``planner.forms.FormSet.spreads``); None where not
    available."""
    form_spread_note: str = ""
    """Why there is no form spread, or empty."""
    form_basis: str = ""
    """Which held-out error picks the default form of the spread (``leave-one-out``, ``leave_size_out``)."""
    higher_is_better: bool = True
    """False for a loss: the best plan has the lowest predicted metric."""
    average_row: dict | None = None
    """The best plan of the model average of the forms (``planner.averaged``; a record of
    ``planner.forms.SPREAD_COLUMNS``, form ``average``), beside the per-form answers; None without one."""
    form_weights: dict | None = None
    """{form: stacking weight} of the average; None without one."""
    weights_note: str = ""
    """Where the weights come from, in words."""

    def __post_init__(self):
        self.rows = normalise(records(self.rows))  # DataFrames given are kept as their records
        if self.spread_rows is not None:
            self.spread_rows = normalise(records(self.spread_rows))
        if self.average_row is not None:
            self.average_row = normalise([self.average_row])[0]

    @property
    def table(self):
        """``rows`` as a DataFrame (imports pandas)."""
        return frame(self.rows)

    @property
    def form_spread(self):
        """``spread_rows`` as a DataFrame (imports pandas), or None."""
        return None if self.spread_rows is None else frame(self.spread_rows)

    @property
    def same_winner_across_forms(self) -> bool | None:
        """Whether every form of the spread picks the same (method, selector size); None without a spread."""
        from .forms import same_winner
        return same_winner(self.spread_rows)

    @property
    def forms_near_tie(self) -> bool:
        """Whether the forms' different picks are all within every form's margin of its best (``forms.near_tie``)."""
        from .forms import near_tie
        return near_tie(self.spread_rows)

    @property
    def default_form(self) -> str | None:
        """The form with the lowest held-out error among the spread's forms; None without a spread."""
        marked = [r["form"] for r in self.spread_rows or [] if r["default"]]
        return str(marked[0]) if marked else None

    @property
    def verdict(self) -> str:
        """Whether the best plan beats the runner-up by more than the margin: "wins" when it does in at least
        ``noise.VERDICT_PROBABILITY`` of bootstrap refits (``p_lead``), else "indistinguishable" (the best point
        estimate, but within the noise of the runner-up); "only candidate" when nothing else fits; when the forms
        of the form spread pick different winners, "indistinguishable" if every form scores every form's pick
        within its margin of its best (``forms.near_tie``), else "depends on the form"."""
        from ..noise import VERDICT_PROBABILITY
        best = self.best
        if best is None:
            return "no plan"
        if self.same_winner_across_forms is False:
            return "indistinguishable" if self.forms_near_tie else "depends on the form"
        if best.get("next_method") is None or best.get("p_lead") is None:
            return "only candidate"
        return "wins" if best["p_lead"] >= VERDICT_PROBABILITY else "indistinguishable"

    def _affordable(self, yes: bool = True) -> list[dict]:
        return [r for r in self.rows if bool(r["affordable"]) == yes]

    # rows are normalised once (``__post_init__``), so their cells go to JSON one by one
    @property
    def best(self) -> dict | None:
        ok = self._affordable()
        return {c: json_value(ok[0][c]) for c in PLAN_COLUMNS} if ok else None

    @property
    def alternatives(self) -> list[dict]:
        return [{c: json_value(r[c]) for c in PLAN_COLUMNS} for r in self._affordable()[1:]]

    @property
    def unaffordable(self) -> list[dict]:
        cols = ["method", "selector_params", "selection_flops", "min_total_flops"]
        return [{c: json_value(r[c]) for c in cols} for r in self._affordable(False)]

    def summary(self):
        """Every candidate, best first, with its fraction, tokens, FLOPs, predicted metric and intervals (a
        DataFrame; ``rows`` holds the same as records)."""
        return self.table

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
                "form": self.form, "level": self.level, "notes": self.notes, "margin": json_value(self.margin),
                "verdict": self.verdict, "fit_kind": self.fit_kind, "higher_is_better": self.higher_is_better,
                "form_spread": None if self.spread_rows is None else json_records(self.spread_rows),
                "same_winner_across_forms": self.same_winner_across_forms, "default_form": self.default_form,
                "form_spread_note": self.form_spread_note or None, "form_basis": self.form_basis or None,
                "form_average": None if self.average_row is None else json_records([self.average_row])[0],
                "form_weights": self.form_weights, "form_weights_note": self.weights_note or None,
                "tipping": None if self.tipping is None else self.tipping.to_dict()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def format(self) -> str:
        """The plan as text: context, the best plan in words, the ranked candidates, notes and tipping point."""
        pct = f"{100 * self.level:.0f}%"
        lines = [f"costlaw plan: task {self.task}, {self.train_params:.3g}-parameter model, pool "
                 f"{self.pool_tokens:.4g} tokens, budget {self.budget_flops:.3g} FLOPs, n_tasks {self.n_tasks:g}, "
                 f"training {'LoRA 4N' if self.lora else '6N'} FLOPs per token; form {self.form}, {pct} intervals"
                 + ("" if self.higher_is_better else f"; lower {self.task} is better")]
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
            if self.same_winner_across_forms is False:
                lines.append("verdict: indistinguishable: the forms pick different winners, but every form scores "
                             f"every form's pick within the margin ({self.margin:.2g} points) of its best (form "
                             "spread below)" if self.forms_near_tie else
                             "verdict: depends on the form: the forms pick different winners (form spread below)")
            elif best.get("next_method") is not None and best.get("p_lead") is not None:
                verdict = self.verdict
                lines.append(
                    f"verdict: {verdict}: it beats the runner-up ({best['next_method']}) by more than the margin "
                    f"({self.margin:.2g} points) in {100 * best['p_lead']:.0f}% of refits"
                    + (f"; {best['method']} and {best['next_method']} are indistinguishable here"
                       if verdict != "wins" else ""))
            shown = [{"rank": i + 1, **r, "flag": "".join(("*" if not r["selector_measured"] else "",
                                                           "!" if r["extrapolated"] else ""))}
                     for i, r in enumerate(self._affordable())]
            cols = ["rank", "method", "selector_params", "fraction", "train_tokens", "selection_flops",
                    "train_flops", "total_flops", "metric_pred", "metric_lo", "metric_hi", "p_best", "flag"]
            lines.append(text_table(shown, cols, formatters={
                "selector_params": "{:.3g}".format, "fraction": "{:.4f}".format, "train_tokens": "{:.4g}".format,
                "selection_flops": "{:.4g}".format, "train_flops": "{:.4g}".format, "total_flops": "{:.4g}".format,
                "metric_pred": "{:.2f}".format, "metric_lo": "{:.2f}".format, "metric_hi": "{:.2f}".format,
                "p_best": "{:.2f}".format}))
        for u in self.unaffordable:
            lines.append(f"unaffordable: {u['method']} (selector {u['selector_params']:.3g}) needs at least "
                         f"{u['min_total_flops']:.3g} FLOPs ({u['selection_flops']:.3g} selection)")
        lines += self._spread_lines(pct)
        lines += [f"note: {n}" for n in self.notes]
        if self.tipping is not None:
            lines.append(self.tipping.describe(self.budget_flops))
        return "\n".join(lines)


    def _spread_lines(self, pct: str) -> list[str]:
        if self.spread_rows is None:
            return [f"form spread: {self.form_spread_note}"] if self.form_spread_note else []
        same = self.same_winner_across_forms
        kind, error = (("size model", "held-out error, each measured size held out in turn")
                       if self.form_basis == "leave_size_out" else
                       ("per-panel form", "leave-one-out error") if self.form_basis == "leave-one-out"
                       else ("form", "held-out error"))
        default = f"default {self.default_form}, the lowest {error}"
        if self.form_basis == "pilot":
            kind = "form's pilot-anchored forecast (gains from that form's per-panel fits)"
            default += " of pilot forecasts, each measured size held out in turn"
        lines = [f"form spread (best plan under each {kind}; {default}): "
                 + ("same winner under every form" if same else
                    "the forms pick different winners, all within the margin of each form's best" if
                    self.forms_near_tie else "the forms pick different winners: the answer depends on the form")]
        for r in (SimpleNamespace(**row) for row in self.spread_rows):
            if r.method is None:
                lines.append(f"  {r.form}: no plan")
                continue
            sel = "" if r.selector_params == 0 else f":{r.selector_params:.3g}"
            weight = "" if np.isnan(r.weight) else f", weight {r.weight:.2f}"
            rmse = "" if np.isnan(r.heldout_rmse) else f"; held-out RMSE {r.heldout_rmse:.3g}"
            lines.append(f"  {r.form}{' (default)' if r.default else ''}: {r.method}{sel} on {r.fraction:.3g} of "
                         f"the pool, {self.task} {r.metric_pred:.2f} [{r.metric_lo:.2f}, {r.metric_hi:.2f}] ({pct} "
                         f"CI), best in {100 * r.p_best:.0f}% of refits{rmse}{weight}")
        a = self.average_row
        if a is not None and a["method"] is not None:
            sel = "" if a["selector_params"] == 0 else f":{a['selector_params']:.3g}"
            lines.append(f"  averaged over the forms ({self.weights_note}): {a['method']}{sel} on "
                         f"{a['fraction']:.3g} of the pool, {self.task} {a['metric_pred']:.2f} [{a['metric_lo']:.2f}, "
                         f"{a['metric_hi']:.2f}] ({pct} CI), best in {100 * a['p_best']:.0f}% of refits")
        return lines


def tipping_point(problem: Problem, gain: float = 0.1, budget: float | None = None, steps_per_decade: int = 20,
                  max_budget_flops: float | None = None) -> Tipping:
    """Smallest budget B such that for every budget from B on, the best plan at 10 B beats the best plan at B
    by less than ``gain`` metric units (for a loss: lowers it by less); with a bootstrap interval (each replicate
    re-solved)."""
    gain = check_number(gain, "gain", low=0, low_open=True)
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
    t_lo, t_hi = percentile_interval(tips[1:], problem.level) if len(tips) > 1 else (tips[0], tips[0])
    if budget is None:
        g = g_lo = g_hi = float("nan")
    else:
        pair = problem.solve([budget, 10 * budget])["value"].max(axis=1)
        with np.errstate(invalid="ignore"):
            gains = pair[:, 1] - pair[:, 0]
        g = float(gains[0])
        g_lo, g_hi = percentile_interval(gains[1:], problem.level) if len(gains) > 1 else (g, g)
    return Tipping(gain, float(tips[0]), float(t_lo), float(t_hi), g, float(g_lo), float(g_hi),
                   higher_is_better=problem.higher_is_better)


def plan(budget_flops: float, train_params: float, pool_tokens: float = costs.PAPER_POOL_TOKENS,
         task: str | None = None, selectors=None, n_tasks: float = 1, lora: bool = False, fits=None,
         gain: float | None = 0.1, problem: Problem | None = None, margin: float | None = None,
         form_fits: dict | None = None, form_loo=None, form_weights=None) -> Plan:
    """The best (method, selector_params, fraction) for ``budget_flops`` and its runners-up, with intervals.

    ``selectors``: a spec like ``"ppl:1e9,7e9 less:7e9 embed bm25 random"`` (default DEFAULT_SELECTORS);
    ``fits``: a `costlaw fit` folder or loaded Bootstraps (default: the bundled paper fits, per panel at the
    measured sizes, a size model elsewhere);
    ``gain``: metric units per decade for the tipping point (None skips it);
    ``form_fits``: {form label: fits} to solve the plan and its tipping point under each form (the form spread;
    default with the bundled fits: the shipped offset_exp, power and logistic fits, per panel at a measured size,
    their size models elsewhere), ``form_loo``: held-out RMSE per label (Series or dict) marking the default form
    (default: the shipped comparison, ``planner.forms``), ``form_weights``: {label: weight} (summing to 1) of the
    model-averaged plan beside the per-form ones (default with the bundled fits: the shipped stacking weights;
    ``Plan.average_row``).
    """
    from . import forms
    budget_flops = check_number(budget_flops, "budget_flops", low=0, low_open=True)
    problem = problem or Problem(train_params, pool_tokens, task, selectors, n_tasks, lora, fits, margin=margin)
    solved = problem.solve([budget_flops])
    table = problem.records(budget_flops, solved, 0)
    fs, why = forms.form_set(problem, form_fits, form_loo, form_weights)
    spread = None if fs is None else fs.spreads([budget_flops])[0]
    average = None if fs is None else fs.average_rows([budget_flops])[0]
    tip = None
    if gain is not None:
        tip = form_tipping(problem, fs, gain, budget_flops)
    return Plan(float(budget_flops), problem.train_params, problem.pool_tokens, problem.task, problem.n_tasks,
                problem.lora, problem.form.name, problem.level, table, problem.notes(), problem.cheapest_flops(), tip,
                problem.margin, problem.fit_kind, spread, why, "" if fs is None else fs.basis,
                problem.higher_is_better, average, None if average is None else dict(fs.weights),
                "" if average is None else fs.describe_weights())


def form_tipping(problem: Problem, fs, gain: float, budget: float | None = None) -> Tipping:
    """The tipping point of ``problem`` and, with a FormSet ``fs`` (``planner.forms``), under each of its forms
    (``Tipping.by_form``)."""
    if fs is None:
        return tipping_point(problem, gain, budget)
    tips = fs.tipping_points(gain, budget)
    own = next((label for label, p in fs.problems.items() if p is problem), None)
    tip = tips[own] if own is not None else tipping_point(problem, gain, budget)
    tip.by_form = {label: {"budget_flops": t.budget_flops, "budget_lo": t.budget_lo, "budget_hi": t.budget_hi,
                           "gain_at_budget": t.gain_at_budget} for label, t in tips.items()}
    tip.default_form = fs.default
    if fs.averaged is not None:
        t = tipping_point(fs.averaged, gain, budget)
        tip.average = {"budget_flops": t.budget_flops, "budget_lo": t.budget_lo, "budget_hi": t.budget_hi,
                       "gain_at_budget": t.gain_at_budget}
    return tip
