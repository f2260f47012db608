"""Form uncertainty of plans: every answer the planner prints (a plan, a budget sweep, the break-even map, the
tipping point) re-solved under each shipped form, with the default form the one that wins held-out comparison.

- At a measured training size: the per-panel fits ``fits/paper_<form>`` of ``PANEL_FORMS``; the default is the
  lowest leave-one-out error (``fits/paper_forms_loo/compare.csv``).
- At an unmeasured size: the size models ``fits/paper_<form>_size`` (levels linear in log10 N_train); the default
  is the lowest held-out error with each measured size held out in turn and predicted from the others, pooled over
  the three folds (protocol ``leave_size_out``, ``fits/paper_size_forms_heldout/compare.csv``).

Both tables are written by ``costlaw compare`` (commands in fits/README.md) and also hold the forms' stacking
weights (``stack_weight``, ``costlaw.averaging``): every answer is also given for the model average of the forms
(``planner.averaged``: curves weighted by these weights), beside the per-form answers, never instead. With pilot
runs each form gives its own pilot-anchored forecast (gains transferred from that form's per-panel fits), the
default and the weights from their held-out comparison with each size held out in turn
(``fits/paper_pilot_forms_heldout``). A ``FormSet`` holds one
``Problem`` per form, built with the plan's task, size, pool, candidates and margin; its answers agree when every
form gives the same winner (plans, sweeps) or when every form's answer lies inside the default form's interval
(break-even ratios, tipping points); otherwise the verdict is "depends on the form".
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import InputError
from ..tables import is_missing, records

PANEL_FORMS = ("offset_exp", "power", "logistic")
"""Forms shipped as per-panel paper fits (``fits/paper_<form>``): the form spread of a plan at measured sizes."""
SIZE_FORMS = tuple(f"{name}_size" for name in PANEL_FORMS)
"""Their size models (``fits/paper_<form>_size``): the form spread at unmeasured sizes."""
FORM_LOO = "paper_forms_loo"
"""Shipped folder holding the forms' leave-one-out errors on the paper's runs (``compare.csv``)."""
SIZE_HELDOUT = "paper_size_forms_heldout"
"""Shipped folder holding the size models' held-out errors (``compare.csv``, protocol ``leave_size_out``: each of
7B, 13B and 70B predicted from fits of the other two, per held-out size and pooled)."""
SIZE_PROTOCOL = "leave_size_out"
"""The protocol whose pooled held-out error picks the default size model (``costlaw.compare``)."""
PILOT_FORMS_HELDOUT = "paper_pilot_forms_heldout"
"""Shipped folder holding the pilot-anchored forecasts of each form (gains from that form's per-panel fits) scored
with each size held out in turn (``compare.csv``, protocol ``extrapolate_size_pilot``; the ``@every`` rows carry
the forms' stacking weights): the default and the weights of pilot plans' form spread."""
PILOT_PROTOCOL = "extrapolate_size_pilot@every"
"""The row whose held-out error and stacking weights pilot plans' form spread uses."""
SPREAD_COLUMNS = ["form", "method", "selector_params", "fraction", "metric_pred", "metric_lo", "metric_hi",
                  "p_best", "heldout_rmse", "weight", "default", "others_within_margin"]
DEPENDS = "depends on the form"
"""The verdict of an answer whose forms disagree."""
SAME = "same under every form"


def compare_rows(folder: str) -> list[dict]:
    """The rows of a shipped ``costlaw compare`` table (``fits/<folder>/compare.csv``) as records of strings
    (read with ``csv``: plans import no pandas)."""
    from .._paths import bundled_dir
    with open(bundled_dir("fits") / folder / "compare.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def protocol_errors(table, protocol: str, forms=PANEL_FORMS) -> dict:
    """{form: held-out RMSE (metric points)} of ``protocol`` from a ``costlaw compare`` table (a DataFrame or
    records), in the table's order."""
    return {str(r["form"]): float(r["heldout_rmse"]) for r in records(table)
            if r["protocol"] == protocol and r["form"] in forms}


def loo_errors(table=None, forms=PANEL_FORMS) -> dict:
    """``form_loo`` as a dict {form: RMSE} (no pandas with the shipped table)."""
    loo = protocol_errors(compare_rows(FORM_LOO) if table is None else table, "loo", forms)
    if not loo:
        raise InputError(f"the comparison table has no leave-one-out rows for the forms {', '.join(forms)}")
    return loo


def size_errors(table=None, forms=PANEL_FORMS) -> dict:
    """``size_heldout`` as a dict {"<form>_size": RMSE} (no pandas with the shipped table)."""
    err = protocol_errors(compare_rows(SIZE_HELDOUT) if table is None else table, SIZE_PROTOCOL, forms)
    if not err:
        raise InputError(f"the comparison table has no {SIZE_PROTOCOL} rows for the forms {', '.join(forms)}")
    return {f"{f}_size": v for f, v in err.items()}


WEIGHT_SOURCES = {"panel": (FORM_LOO, "loo", ""), "size": (SIZE_HELDOUT, SIZE_PROTOCOL, "_size"),
                  "pilot": (PILOT_FORMS_HELDOUT, PILOT_PROTOCOL, "")}
"""Per kind of form set: (shipped folder, protocol row, label suffix) of its held-out errors and weights."""


def stack_weights(table=None, kind: str = "panel", forms=PANEL_FORMS) -> dict:
    """{label: stacking weight} of the forms from a ``costlaw compare`` table (default: the shipped one of
    ``kind``): ``panel``, the per-panel forms' from leave-one-out predictions (``fits/paper_forms_loo``);
    ``size``, the size models' (labels ``<form>_size``) from ``leave_size_out`` predictions
    (``fits/paper_size_forms_heldout``); ``pilot``, the forms' pilot-anchored forecasts' with each size held out in
    turn (``fits/paper_pilot_forms_heldout``). Empty when the table has no ``stack_weight`` for these forms."""
    folder, protocol, suffix = WEIGHT_SOURCES[kind]
    rows = records(compare_rows(folder) if table is None else table)
    out = {}
    for r in rows:
        if r["protocol"] == protocol and r["form"] in forms:
            try:
                w = float(r.get("stack_weight", ""))
            except (TypeError, ValueError):
                continue
            if math.isfinite(w):
                out[f"{r['form']}{suffix}"] = w
    return out


def pilot_errors(table=None, forms=PANEL_FORMS) -> dict:
    """{form: held-out RMSE} of the forms' pilot-anchored forecasts, each size held out in turn (the
    ``extrapolate_size_pilot@every`` rows; default: the shipped ``fits/paper_pilot_forms_heldout``)."""
    return protocol_errors(compare_rows(PILOT_FORMS_HELDOUT) if table is None else table, PILOT_PROTOCOL, forms)


def pilot_ranking(table=None, form: str | None = None) -> dict | None:
    """How often pilot-anchored forecasts pick the best method at a held-out size, over every direction (the
    ``extrapolate_size_pilot@every`` row of ``form`` in a ``costlaw compare`` table; default: the shipped
    ``fits/paper_pilot_forms_heldout`` and its default form, ``default_pilot_form``; the first such row of a
    table given without ``form``): {"hits", "n_ranked", "accuracy", "lo", "hi" (its 90% interval), "baseline"
    (the best method at the nearest measured size), "form"}; None without that row."""
    if table is None:
        table = compare_rows(PILOT_FORMS_HELDOUT)
        form = form or default_pilot_form()
    rows = records(table)
    row = next((r for r in rows if r["protocol"] == PILOT_PROTOCOL and (form is None or r["form"] == form)), None)
    if row is None:
        return None
    n = int(float(row["n_ranked"]))
    acc, base = float(row["ranking_accuracy"]), float(row["ranking_baseline"])
    return {"hits": int(round(acc * n)), "n_ranked": n, "accuracy": acc, "lo": float(row["ranking_lo"]),
            "hi": float(row["ranking_hi"]), "baseline": base, "baseline_hits": int(round(base * n)),
            "form": str(row["form"])}


def _series(errors: dict, index_name: str | None = None):
    import pandas as pd
    return pd.Series(list(errors.values()), index=pd.Index(list(errors), name=index_name), name="heldout_rmse",
                     dtype=float)


def form_loo(table=None, forms=PANEL_FORMS):
    """Leave-one-out RMSE (metric points) per form, a Series, from a ``costlaw compare`` table (default: the
    shipped one)."""
    return _series(loo_errors(table, forms), "form")


def size_heldout(table=None, forms=PANEL_FORMS):
    """Held-out RMSE (metric points) of each form's size model with each measured size held out in turn, pooled
    over the folds (protocol ``leave_size_out``), a Series indexed by the size form's name (``<form>_size``), from
    a ``costlaw compare`` table (default: the shipped one)."""
    return _series(size_errors(table, forms))


def _lowest(errors: dict) -> str:
    """The key of the lowest error (the first of equals, as ``Series.idxmin``)."""
    return str(min(errors, key=errors.get))


def default_form(table=None, forms=PANEL_FORMS) -> str:
    """The form with the lowest leave-one-out error (the default form of plans at measured sizes)."""
    return _lowest(loo_errors(table, forms))


def default_pilot_form(table=None, forms=PANEL_FORMS) -> str:
    """The form whose pilot-anchored forecasts have the lowest held-out error, each size held out in turn (the
    default of plans with pilot runs: its per-panel fits give the gains that are transferred)."""
    errors = pilot_errors(table, forms)
    return _lowest(errors) if errors else default_form(forms=forms)


def default_size_form(table=None, forms=PANEL_FORMS) -> str:
    """The size model with the lowest held-out error (the default of plans at unmeasured sizes), e.g.
    ``power_size``."""
    return _lowest(size_errors(table, forms))


def shipped_form_fits(size: bool = False) -> dict:
    """{form: folder} of the shipped fits of every form in ``PANEL_FORMS`` (``size``: their size models)."""
    from .._paths import bundled_dir
    return {name: bundled_dir("fits") / f"paper_{name}" for name in (SIZE_FORMS if size else PANEL_FORMS)}


def best_record(records: list) -> dict | None:
    """The best affordable plan of a budget's records (``Problem.records``: best first), None if none is."""
    return next((r for r in records if r["affordable"]), None)


def spread_row(label: str, best: dict | None, **extra) -> dict:
    """A record of ``SPREAD_COLUMNS``: form ``label``'s best plan ``best`` (NaN where there is none) and
    ``extra`` (heldout_rmse, weight, default, others_within_margin)."""
    return {"form": label, "method": None if best is None else best["method"],
            "selector_params": np.nan if best is None else best["selector_params"],
            **{c: np.nan if best is None else float(best[c])
               for c in ("fraction", "metric_pred", "metric_lo", "metric_hi", "p_best")}, **extra}


@dataclass
class FormSet:
    """One ``Problem`` per form (same task, size, pool, candidates and margin) and each form's held-out error."""

    problems: dict
    """{form label: Problem}, the default first."""
    errors: dict
    """{form label: held-out RMSE, metric points}."""
    basis: str
    """Which held-out error picks the default: ``leave-one-out`` or ``leave_size_out``."""
    weights: dict = field(default_factory=dict)
    """{form label: stacking weight} of the model average (``planner.averaged``); empty: no average."""

    @property
    def default(self) -> str:
        """The label with the lowest held-out error (the first when none is known)."""
        known = {k: v for k, v in self.errors.items() if k in self.problems and np.isfinite(v)}
        return min(known, key=known.get) if known else next(iter(self.problems))

    @property
    def labels(self) -> list:
        return list(self.problems)

    @cached_property
    def averaged(self):
        """The model-averaged Problem (``planner.averaged``), or None without weights for every form."""
        from .averaged import averaged_problem
        if not self.weights or set(self.weights) != set(self.problems):
            return None
        return averaged_problem(self.problems, self.weights)

    def describe_weights(self) -> str:
        """``stacking weights from leave-one-out predictions: offset_exp 0.73, power 0.27, logistic 0.00``."""
        from ..averaging import format_weights
        held = ("leave-one-out predictions" if self.basis == "leave-one-out" else
                "leave_size_out predictions (each measured size held out in turn)" if self.basis == SIZE_PROTOCOL
                else "pilot forecasts with each measured size held out in turn" if self.basis == "pilot"
                else "held-out predictions")
        return f"stacking weights from {held}: {format_weights(self.weights)}"

    def average_rows(self, budgets) -> list:
        """Per budget, the best plan of the model average (a record of ``SPREAD_COLUMNS``, form ``average``); None
        per budget without an average."""
        from .averaged import AVERAGE
        budgets = np.atleast_1d(np.asarray(budgets, float))
        avg = self.averaged
        if avg is None:
            return [None] * len(budgets)
        solved = avg.solve(budgets)
        return [spread_row(AVERAGE, best_record(avg.records(b, solved, i)), heldout_rmse=np.nan, weight=np.nan,
                           default=False, others_within_margin=False) for i, b in enumerate(budgets)]

    def describe(self) -> str:
        errs = ", ".join(f"{k} {self.errors.get(k, np.nan):.3g}" for k in self.problems)
        what = ("per-panel fits, default: lowest leave-one-out RMSE" if self.basis == "leave-one-out" else
                "pilot-anchored forecasts per form, default: lowest held-out RMSE with each size held out in turn"
                if self.basis == "pilot" else
                "size models, default: lowest held-out RMSE with each measured size held out in turn")
        return f"{len(self.problems)} forms ({what}: {errs})"

    def spreads(self, budgets) -> list:
        """Per budget, the best plan under each form: records of ``SPREAD_COLUMNS`` (one per form; as a DataFrame:
        ``costlaw.tables.frame``)."""
        budgets = np.atleast_1d(np.asarray(budgets, float))
        per_form = {}
        for label, p in self.problems.items():
            solved = p.solve(budgets)
            per_form[label] = [p.records(b, solved, i) for i, b in enumerate(budgets)]
        default = self.default
        out = []
        for i in range(len(budgets)):
            bests = {label: best_record(tables[i]) for label, tables in per_form.items()}
            picks = {(b["method"], float(b["selector_params"])) for b in bests.values() if b is not None}
            out.append([spread_row(label, best, heldout_rmse=float(self.errors.get(label, np.nan)),
                                   weight=float(self.weights.get(label, np.nan)), default=label == default,
                                   others_within_margin=within_margin(per_form[label][i], best, picks,
                                                                      self.problems[label].margin))
                        for label, best in bests.items()])
        return out

    def tipping_points(self, gain: float, budget: float | None = None) -> dict:
        """{label: Tipping} of each form."""
        from .results import tipping_point
        return {label: tipping_point(p, gain, budget) for label, p in self.problems.items()}


def problem_like(problem, fits):
    """A Problem with ``problem``'s task, size, pool, candidates, cost settings, margin and pilot runs (with its
    transfer rule), scored by ``fits``."""
    from .problem import Problem
    return Problem(problem.train_params, problem.pool_tokens, problem.task, problem.candidates, problem.n_tasks,
                   problem.lora, fits, problem.min_fraction, len(problem.grid), problem.margin_given,
                   problem.pilots, problem.rule)


def form_set(problem, form_fits: dict | None = None, form_errors=None, form_weights=None):
    """(FormSet or None, why not): the forms ``problem``'s answers are re-solved under.

    ``form_fits`` ({label: fits folder or loaded Bootstraps}) and ``form_errors`` (held-out RMSE per label, a
    Series or dict) give your own, ``form_weights`` ({label: weight}, summing to 1) their model average; by
    default, with the bundled fits, the shipped per-panel forms at a measured size and their size models
    elsewhere, with the shipped stacking weights; with pilot runs, each form's pilot-anchored forecast (gains from
    that form's per-panel fits), the default and weights from the shipped held-out comparison of pilot forecasts
    per form. None with fits of your own and no ``form_fits``."""
    basis = "given"
    if form_fits is None:
        if not problem.bundled:
            return None, ""
        measured = problem.fit_kind.startswith("per-panel")
        if problem.pilots:   # labelled by the per-panel form whose gains each forecast transfers
            form_fits = shipped_form_fits(size=not measured)
            form_fits = {name: form_fits[name if measured else f"{name}_size"] for name in PANEL_FORMS}
            basis, kind = "pilot", "pilot"
            if form_errors is None:
                form_errors = pilot_errors()
        else:
            form_fits = shipped_form_fits(size=not measured)
            if form_errors is None:
                form_errors = loo_errors() if measured else size_errors()
            basis, kind = ("leave-one-out", "panel") if measured else (SIZE_PROTOCOL, "size")
        if form_weights is None:
            form_weights = stack_weights(kind=kind)
    errors = {} if form_errors is None else {str(k): float(v) for k, v in dict(form_errors).items()}
    weights = {} if form_weights is None else {str(k): float(v) for k, v in dict(form_weights).items()}
    if weights and set(weights) != set(form_fits):
        raise InputError(f"form weights are for {', '.join(weights)}; the forms are {', '.join(form_fits)}")
    own = problem.form.name
    if problem.pilots:
        from ..curves import panel_form_name
        own = panel_form_name(own)
    reuse = own if problem.bundled and own in form_fits else None
    problems = {}
    for label, fits in form_fits.items():
        problems[label] = problem if label == reuse else problem_like(problem, fits)
    return FormSet(problems, errors, basis, weights), ""


def same_winner(spread) -> bool | None:
    """Whether every form of a spread (records or a DataFrame) picks the same (method, selector size); None
    without a spread."""
    rows = [] if spread is None else records(spread)
    if not rows or all(is_missing(r["method"]) for r in rows):
        return None
    labels = {(None if is_missing(r["method"]) else r["method"], float(r["selector_params"])) for r in rows}
    return len(labels) == 1


def within_margin(candidates: list, best: dict | None, picks: set, margin: float) -> bool:
    """Whether, under one form, every plan in ``picks`` ((method, selector_params) of each form's winner) is
    affordable and predicted within ``margin`` metric points of that form's ``best`` (``candidates``: the form's
    plan records at one budget)."""
    if best is None:
        return False
    pred = {(r["method"], float(r["selector_params"])): float(r["metric_pred"]) for r in candidates
            if r["affordable"]}
    return all(pick in pred and abs(float(best["metric_pred"]) - pred[pick]) <= margin for pick in picks)


def near_tie(spread) -> bool:
    """Whether the forms of a spread pick different winners only among plans that every form scores within its
    margin of its best (``others_within_margin`` in every row): the picks are indistinguishable, not a
    form-dependent answer."""
    rows = [] if spread is None else records(spread)
    return bool(rows) and all(bool(r.get("others_within_margin", False)) for r in rows)


def within(values, lo: float, hi: float) -> bool:
    """Whether every finite-or-infinite value lies in [lo, hi] (NaN counts as outside)."""
    values = np.asarray(values, float)
    return bool(np.all((values >= lo * (1 - 1e-9)) & (values <= hi * (1 + 1e-9))))
