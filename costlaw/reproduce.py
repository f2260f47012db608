"""The main job: fit the runs with every requested form, derive frontiers and break-even ratios, write tables and
figures. ``costlaw reproduce`` runs it on the paper's bundled runs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import breakeven as be
from .curves import FORMS, get_form
from .datasets import PAPER_CLAIMED_RATIO, PAPER_PBAR, paper_runs
from .fitting import CurveFit, fit
from .frontier import budget_grid, frontier_columns, loglinear_front, panel_curves
from .io import write_csv_atomic, write_csv_parts_atomic
from .ladder import is_ladder, ratio_analysis
from .averaging import AveragedFit, akaike_weights, stacking_weights
from .compare import compare, leave_one_out
from .uncertainty import bootstrap

DEFAULT_N_BOOT = 400
"""Bootstrap refits for the break-even intervals (each interval end reports its Monte Carlo error)."""
COMPARE_N_BOOT = 40
"""Bootstrap refits behind the held-out coverages (the README's table uses the same count)."""
CURVE_POINTS = 60
SCALE_PANELS = 60
"""Up to this many (task, train_model) panels (1,800 runs of the paper's shape) ``reproduce`` computes everything
on every panel. Beyond it, so that time stays linear in runs: the headline-form choice (leave-one-out) and the
held-out comparison score a seeded sample of whole tasks holding about this many panels; the break-even refits
are cut to ``n_boot * SCALE_PANELS / panels`` (at least ``MIN_SCALE_REFITS``). Every fit, curve, frontier and
break-even ratio still covers every panel; the report and ``Reproduction.notes`` say what was sampled or cut."""
MIN_SCALE_REFITS = 50
"""Fewest break-even refits at scale (each interval end reports its Monte Carlo error)."""


ONE_JOB_RUNS = 60_000
"""Beyond this many runs the default ``--jobs`` of ``reproduce`` is 1 (``default_reproduce_jobs``): each extra
process holds its own fits (about 1.6 KB per run), so two processes at 180,000 runs would take about 1.6 GiB
together, one takes under 1 GiB (measured: 867 MiB, 469 s; two at 54,000 runs: 895 MiB summed PSS)."""


def default_reproduce_jobs(n_runs: int) -> int:
    """Processes ``reproduce`` uses when none are asked for: ``parallel.default_jobs()`` up to ``ONE_JOB_RUNS``
    runs, 1 beyond (to keep the peak memory of all its processes together under 1 GiB)."""
    from .parallel import default_jobs
    return 1 if n_runs > ONE_JOB_RUNS else default_jobs()


CURVE_ROWS = 200_000
"""Rows of curves.csv made and written at a time (``reproduce``: a few tens of MB, whatever the number of panels)."""


def curve_table(fit_: CurveFit, n_points: int = CURVE_POINTS) -> pd.DataFrame:
    """Fitted curves over each method's observed fraction range: task, train_model, method, form, fraction,
    total_flops, metric_pred (n_points log-spaced points per curve); ``CurveFit.curve_table``."""
    return fit_.curve_table(n_points)


def curve_parts(fit_: CurveFit, n_points: int = CURVE_POINTS, max_rows: int = CURVE_ROWS):
    """``curve_table`` in parts of whole curves of at most ``max_rows`` rows (their concatenation is the table)."""
    return fit_.curve_table(n_points, max_rows=max_rows)


FRONTIER_COLUMNS = ["task", "train_model", "form", "budget_flops", "best_method", "best_fraction", "metric_pred",
                    "runner_up", "lead", "margin", "indistinguishable"]


def frontier_table(fit_: CurveFit, n_budgets: int = 200, margin: float | None = None) -> pd.DataFrame:
    """Compute-optimal frontier of every panel: task, train_model, form, budget_flops, best_method,
    best_fraction, metric_pred, runner_up, lead (metric units over the runner-up), margin and
    ``indistinguishable`` (the lead is within the margin: the best method is not separable from the runner-up)."""
    parts = list(frontier_parts(fit_, n_budgets, margin))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=FRONTIER_COLUMNS)


def frontier_parts(fit_: CurveFit, n_budgets: int = 200, margin: float | None = None,
                   max_values: int | None = None):
    """``frontier_table`` in parts, one DataFrame per block of whole panels (``frontier.CurveGrid.panel_blocks``,
    at most ``max_values`` grid points; default ``frontier.PANEL_BLOCK_VALUES``): their concatenation is the
    table, and memory holds one block's curves at a time (``reproduce`` writes them as they come)."""
    from .frontier import CurveGrid
    from .noise import margin_lookup, margins, panel_noise
    margin_of = margin_lookup(margins(panel_noise(fit_), margin))
    grid = CurveGrid(fit_.runs_, 1200)   # method_curves' grid
    for block in grid.panel_blocks(max_values):
        parts = []
        for (task, model), curves in panel_curves(grid.curves(fit_, block)).items():
            front = frontier_columns(curves, budget_grid(curves, n_budgets))
            n = len(front["budget_flops"])
            parts.append({**front, "task": np.full(n, task, dtype=object),
                          "train_model": np.full(n, model, dtype=object), "margin": np.full(n, margin_of[(task, model)])})
        if not parts:
            continue
        table = pd.DataFrame({c: np.concatenate([p[c] for p in parts]) for c in parts[0]})   # one frame per block
        table["form"] = fit_.form.name
        table["indistinguishable"] = table.lead <= table.margin
        yield table[FRONTIER_COLUMNS]


@dataclass
class Reproduction:
    """What ``reproduce`` made: the fits per form and every table it wrote."""

    runs: pd.DataFrame
    fits: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    """Every table written but ``streamed`` ones, by file stem."""
    figures: list = field(default_factory=list)
    ratio: object = None
    """A ``ladder.RatioAnalysis`` when the runs hold a selector-size ladder (measured vs analytic ratios)."""
    form_choice: str = ""
    """Which headline form ``reproduce`` picked and why (empty when the forms were given)."""
    notes: list = field(default_factory=list)
    """What was sampled or cut at scale (``SCALE_PANELS``); empty when everything covers every panel."""
    streamed: list = field(default_factory=list)
    """Tables written as they were made and not held in ``tables`` (``curves``, ``frontier``: millions of rows)."""

    def summary(self) -> pd.DataFrame:
        """One row per form: n_points, n_params, rmse, mae, aic, bic, converged."""
        return pd.DataFrame([f.stats() for f in self.fits.values()])


def breakeven_with_intervals(fitted: CurveFit, n_boot: int, seed: int = 0, level: float = 0.9,
                             margin: float | None = None, boot=None, jobs: int = 1,
                             max_boot: int | None = None) -> pd.DataFrame:
    """The four break-even definitions (``costlaw.breakeven``) per panel and pooled, with bootstrap intervals
    from ``n_boot`` refits (none when 0; adaptive up to ``max_boot``), margins, win probabilities and the paper's
    claim beside them."""
    return be.breakeven_intervals(fitted, n_boot=n_boot, seed=seed, level=level, margin=margin, boot=boot,
                                  claims=PAPER_CLAIMED_RATIO, jobs=jobs, max_boot=max_boot if n_boot else None)


SPREAD_FORMS = ("offset_exp", "power", "logistic")
"""Forms whose break-even answers are compared (each models selection as a compute offset)."""


def loo_scores(fitted: CurveFit) -> tuple[float, np.ndarray]:
    """(leave-one-out RMSE in metric points, the leave-one-out predictions of the fit's runs)."""
    held = leave_one_out(fitted)
    pred = held.heldout_pred.to_numpy()
    return float(np.sqrt(np.mean((pred - held.metric.to_numpy()) ** 2))), pred


def _fit_with_loo(shared, name):
    runs, loss = shared
    fitted = fit(runs, name, loss=loss, warn=False)
    return (fitted, *loo_scores(fitted))


def stacking_series(runs: pd.DataFrame, preds: dict) -> pd.Series:
    """Stacking weights per form (``costlaw.averaging.stacking_weights``) from each form's leave-one-out
    predictions of ``runs`` ({form: array})."""
    w = stacking_weights(np.column_stack(list(preds.values())), runs.metric.to_numpy())
    return pd.Series(w, index=list(preds), name="stack_weight")


def choose_form(runs: pd.DataFrame, forms=SPREAD_FORMS, loss: str | None = None, jobs: int = 1):
    """(form, why, loo, fits, stack): the form of ``forms`` with the lowest leave-one-out RMSE on ``runs``, a
    sentence saying so, the LOO RMSE per form, the fits (reused by ``form_spread``) and the forms' stacking
    weights from the same leave-one-out predictions; ``jobs``: processes the forms are fitted in."""
    from .parallel import map_parts
    done = map_parts(_fit_with_loo, (runs, loss), list(forms), jobs)
    fits = {name: f for name, (f, _, _) in zip(forms, done)}
    loo = pd.Series({name: e for name, (_, e, _) in zip(forms, done)}, name="heldout_rmse")
    stack = stacking_series(runs, {name: p for name, (_, _, p) in zip(forms, done)})
    best = str(loo.idxmin())
    others = ", ".join(f"{n} {v:.3f}" for n, v in loo.items() if n != best)
    why = (f"headline form {best}: lowest leave-one-out RMSE among {', '.join(forms)} ({best} {loo[best]:.3f}; "
           f"{others}); --form forces one")
    return best, why, loo, fits, stack


SPREAD_DEFINITIONS = ("shrink", "size", "pooled_mean")
"""Break-even definitions whose pooled answers ``form_spread`` compares across forms (a-c)."""


def _fit_and_breakeven(shared, name):
    """(fit, break-even table, bootstrap entry values or None) of form ``name``: the table given if it has what is
    asked (intervals when ``n_boot``), else solved here (with ``n_boot`` refits from ``seed``: the form's bootstrap
    from ``boots`` or made here)."""
    runs, fits, margin, tables, n_boot, seed, boots = shared
    fitted = fits.get(name) or fit(runs, name, warn=False)
    boot = boots.get(name)
    if name in tables and (not n_boot or "ratio_lo" in tables[name]):
        return fitted, tables[name], None if boot is None else boot.values
    if not n_boot:
        return fitted, be.breakeven_table(fitted, margin=margin), None
    boot = boot if boot is not None else bootstrap(fitted, n_boot=n_boot, seed=seed)
    return fitted, be.breakeven_intervals(fitted, n_boot=n_boot, seed=seed, margin=margin, boot=boot), boot.values


def _bootstrap_values(shared, name):
    fits, n_boot, seed = shared
    return bootstrap(fits[name], n_boot=n_boot, seed=seed).values


def form_bootstraps(fits: dict, n_boot: int, seed: int = 0) -> dict:
    """{form: entry values of its ``n_boot`` bootstrap refits from ``seed``} (one process; ``reproduce`` makes
    them in the background for ``form_spread``)."""
    return {name: _bootstrap_values((fits, n_boot, seed), name) for name in fits}


def bootstrap_of(fitted: CurveFit, values: np.ndarray, seed, level: float = 0.9):
    """The ``uncertainty.Bootstrap`` of ``fitted`` whose refits have the entry ``values`` (n_boot x entries)."""
    from .fitting import replicate
    from .uncertainty import Bootstrap
    return Bootstrap(fitted, [replicate(fitted, v) for v in values], seed, level)


FORM_INTERVAL_COLUMNS = ["ratio_lo", "ratio_hi", "ratio_lo_mc", "ratio_hi_mc", "lo_stable", "hi_stable", "p_never",
                         "n_boot"]
"""``breakeven_intervals`` columns ``form_spread`` carries per form, and as ``ratio_avg_<column>`` for the average
(``ratio_lo`` -> ``ratio_avg_lo``)."""


def form_spread(runs: pd.DataFrame, fits: dict | None = None, forms=SPREAD_FORMS, margin: float | None = None,
                loo: pd.Series | None = None, jobs: int = 1,
                tables: dict | None = None, stack: pd.Series | None = None, n_boot: int = 0, seed: int = 0,
                boots: dict | None = None, level: float = 0.9, averaged_only: bool = False) -> pd.DataFrame:
    """Form uncertainty of the pooled break-even answers (definitions a-c): each form's ratio with its AIC,
    Akaike weight exp(-dAIC/2) (normalised), leave-one-out RMSE and stacking weight (``costlaw.averaging``: the
    simplex weights whose combined leave-one-out prediction of the runs has the lowest squared error); per
    (definition, method) the spread (min, max), the model-averaged ratio ``ratio_avg`` (the break-even ratio of
    the stacking-weighted average of the forms' curves, ``averaged_ratios``; ``ratio_avg_akaike`` the same with
    Akaike weights, for comparison; point estimates) and the default form,
    the one with the lowest leave-one-out error (``default``). ``loo`` (RMSE per form) and ``stack`` (stacking
    weights per form) reuse what ``choose_form`` computed; without both, the forms' leave-one-out predictions are
    computed here. ``tables`` (break-even tables by form, ``breakeven_table`` or ``breakeven_intervals`` of the fit
    in ``fits`` with the same ``margin``) reuses point answers already computed; ``jobs``: processes the forms are
    fitted and solved in. Rows: per form, per method (in ``BREAKEVEN_METHODS`` order) the definitions in
    ``SPREAD_DEFINITIONS`` order.

    Intervals (``FORM_INTERVAL_COLUMNS``, NaN where not computed): a form whose table in ``tables`` has them
    (``breakeven_intervals``) keeps them. With ``n_boot`` > 0 the averaged ratio gets ``breakeven_intervals`` from
    ``n_boot`` refits drawn from ``seed`` (``ratio_avg_lo`` ...; ``averaged_intervals``), each form with weight
    bootstrapped (its ``uncertainty.Bootstrap`` from ``boots`` when given, e.g. the headline form's, else made
    here): every form's refit i is the same resample, so refit i of the average is refit i of each form; and so
    does every form unless ``averaged_only``."""
    from .parallel import map_parts
    boots = dict(boots or {})
    done = map_parts(_fit_and_breakeven, (runs, fits or {}, margin, tables or {}, 0 if averaged_only else n_boot,
                                          seed, boots), list(forms), jobs)
    fits = {name: f for name, (f, _, _) in zip(forms, done)}
    for name, (f, _, values) in zip(forms, done):
        if n_boot and name not in boots and values is not None:
            boots[name] = bootstrap_of(f, values, seed, level)
    order = {d: i for i, d in enumerate(SPREAD_DEFINITIONS)}
    rank = {m: i for i, m in enumerate(be.BREAKEVEN_METHODS)}
    tables = {}
    for name, (_, t, _) in zip(forms, done):
        t = t[(t.task == "all") & t.definition.isin(SPREAD_DEFINITIONS)]
        tables[name] = t.iloc[np.lexsort((t.definition.map(order).to_numpy(),
                                          t.method.map(lambda m: rank.get(m, len(rank))).to_numpy()))]
    if loo is None or stack is None:
        scores = {name: loo_scores(f) for name, f in fits.items()}
        loo = pd.Series({n: rmse for n, (rmse, _) in scores.items()}, name="heldout_rmse")
        stack = stacking_series(runs, {n: pred for n, (_, pred) in scores.items()})
    aic = pd.Series({n: f.aic for n, f in fits.items()})
    weight = pd.Series(akaike_weights(aic.to_numpy()), index=aic.index)
    best = str(loo.idxmin())
    rows = []
    for name, f in fits.items():
        t = tables[name]
        for r in t.to_dict("records"):
            rows.append({"definition": r["definition"], "method": r["method"], "form": name, "ratio": r["ratio"],
                         **{c: r.get(c, np.nan) for c in FORM_INTERVAL_COLUMNS},
                         "aic": aic[name], "akaike_weight": weight[name], "loo_rmse": loo[name],
                         "stack_weight": stack[name], "default": name == best})
    avg_columns = ["ratio_avg"] + ["ratio_avg_" + c.removeprefix("ratio_") for c in FORM_INTERVAL_COLUMNS]
    table = pd.DataFrame(rows, columns=["definition", "method", "form", "ratio", *FORM_INTERVAL_COLUMNS, "aic",
                                        "akaike_weight", "loo_rmse", "stack_weight", "default"])
    if n_boot:
        missing = [k for k, w in stack.items() if w > 0 and k not in boots]
        made = ([bootstrap(fits[missing[0]], n_boot=n_boot, seed=seed, jobs=jobs).values] if len(missing) == 1 else
                map_parts(_bootstrap_values, (fits, n_boot, seed), missing, jobs))
        boots.update({k: bootstrap_of(fits[k], values, seed, level) for k, values in zip(missing, made)})
        avg = averaged_intervals(fits, stack, boots, margin, level, jobs)
        stacked = {(r["definition"], r["method"]): [r["ratio"], *(r[c] for c in FORM_INTERVAL_COLUMNS)]
                   for r in avg.to_dict("records")}
    else:
        stacked = {k: [r] + [np.nan] * len(FORM_INTERVAL_COLUMNS) for k, r in averaged_ratios(fits, stack, margin)
                   .items()}
    akaike = averaged_ratios(fits, weight, margin)
    for (d, m), g in table.groupby(["definition", "method"], sort=False):
        idx = g.index
        table.loc[idx, "ratio_min"], table.loc[idx, "ratio_max"] = g.ratio.min(), g.ratio.max()
        for column, v in zip(avg_columns, stacked.get((d, m), [np.nan] * len(avg_columns))):
            table.loc[idx, column] = v
        table.loc[idx, "ratio_avg_akaike"] = akaike.get((d, m), np.nan)
    return table


def averaged_intervals(fits: dict, weights, boots: dict, margin: float | None = None, level: float = 0.9,
                       jobs: int = 1) -> pd.DataFrame:
    """The pooled rows (definitions in ``SPREAD_DEFINITIONS``) of ``breakeven.breakeven_intervals`` of the
    model-averaged curves (``averaging.AveragedFit`` of ``fits`` with ``weights``; margins
    ``AveragedFit.margin_table``): the ``averaged_ratios`` point with a percentile interval over refits, refit i
    of the average being refit i of every form (``averaging.averaged_bootstrap`` of ``boots``, {form:
    ``uncertainty.Bootstrap``} drawn with one seed and number of refits), each end's Monte Carlo error and
    stability flags, and the share of refits that never break even."""
    from .averaging import averaged_bootstrap
    avg = AveragedFit(fits, dict(weights))
    boot = averaged_bootstrap(avg, boots)
    t = be.breakeven_intervals(avg, n_boot=boot.n_boot, seed=boot.seed, level=level, boot=boot, jobs=jobs,
                               margin_table=avg.margin_table(margin))
    return t[(t.task == "all") & t.definition.isin(SPREAD_DEFINITIONS)].reset_index(drop=True)


def averaged_ratios(fits: dict, weights, margin: float | None = None) -> dict:
    """{(definition, method): pooled break-even ratio} of the model-averaged curves sum_f w_f curve_f
    (``averaging.AveragedFit`` of ``fits`` with ``weights``, {form: weight} or a Series) for the definitions in
    ``SPREAD_DEFINITIONS``: ``breakeven_table`` on the average's curves, on the same grids as each form's, with
    the weighted mean of the forms' margins (``AveragedFit.margin_table``; ``margin`` when given). Point
    estimates: no bootstrap."""
    avg = AveragedFit(fits, dict(weights))
    t = be.breakeven_table(avg, margin_table=avg.margin_table(margin))
    t = t[(t.task == "all") & t.definition.isin(SPREAD_DEFINITIONS)]
    return {(d, m): float(r) for d, m, r in zip(t.definition, t.method, t.ratio)}


def scale_sample(runs: pd.DataFrame, scale_panels: int = SCALE_PANELS, seed: int = 0):
    """(runs of the sampled tasks, panels, panels sampled): all the runs up to ``scale_panels`` panels; beyond,
    whole tasks in a seeded random order until they hold at least ``scale_panels`` panels (a task keeps all its
    model sizes, so size extrapolation can still be scored)."""
    panels = runs[["task", "train_model"]].drop_duplicates()
    if len(panels) <= scale_panels:
        return runs, len(panels), len(panels)
    per_task = panels.groupby("task", sort=False).size()
    order = np.random.default_rng(seed).permutation(len(per_task))
    take = int(np.searchsorted(np.cumsum(per_task.to_numpy()[order]), scale_panels)) + 1
    tasks = set(per_task.index[order[:take]])
    sample = runs[runs.task.isin(tasks)].reset_index(drop=True)
    return sample, len(panels), int(per_task[list(tasks)].sum())


def scale_refits(n_boot: int, n_panels: int, scale_panels: int = SCALE_PANELS) -> int:
    """Break-even refits for ``n_panels`` panels: ``n_boot`` up to ``scale_panels`` panels, then
    ``n_boot * scale_panels / n_panels`` but at least ``MIN_SCALE_REFITS`` (never more than ``n_boot``)."""
    if n_panels <= scale_panels or n_boot <= MIN_SCALE_REFITS:
        return n_boot
    return max(MIN_SCALE_REFITS, n_boot * scale_panels // n_panels)


def paper_fit_runs() -> pd.DataFrame:
    """The 185 runs of the paper's fit figure with its published Pbar per panel (column ``pbar``)."""
    runs = paper_runs("fitfigure")
    return runs.assign(pbar=[PAPER_PBAR[(t, m)] for t, m in zip(runs.task, runs.train_model)])


def reproduce(runs: pd.DataFrame | None = None, out_dir="results/paper", forms=None, figures: bool = True,
              n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
              protocols=("extrapolate_fraction", "extrapolate_size"), margin: float | None = None,
              log=print, jobs: int = 1, max_boot: int | None = None,
              scale_panels: int = SCALE_PANELS, form_intervals: bool = False) -> Reproduction:
    """Fit ``runs`` (default: the paper's 180) with each form and write runs/fits/curves/frontier/breakeven CSVs
    and per-panel PNGs into ``out_dir``. Break-even ratios of every form but ``paper`` (which has no noise
    model) get 90% bootstrap intervals from ``n_boot`` seeded resamples (more, up to ``max_boot``, where that pins
    an interval end; ``breakeven.breakeven_intervals``); every "wins" is by more than ``margin``
    metric points (None: one run-to-run noise sd per panel, ``costlaw.noise``). ``compare.csv`` scores the forms
    under ``protocols`` (add ``"loo"`` for leave-one-out, about 10 s per form more). ``forms`` None: besides
    ``paper``, the form of ``SPREAD_FORMS`` with the lowest leave-one-out error (``choose_form``, the same errors
    ``form_spread`` reports), said in ``Reproduction.form_choice``. ``jobs``: processes to use (forms fitted side
    by side, bootstrap refits and their break-even split, figures drawn while the rest is computed); every
    number is the same as with one. Beyond ``scale_panels`` panels some work is sampled or cut (``SCALE_PANELS``),
    as ``Reproduction.notes`` and the report say. ``form_intervals``: forms.csv's pooled ratio of every form and
    the averaged ratio get 90% intervals from the break-even refits (``form_spread``'s ``n_boot``; each
    spread form bootstrapped with the same seed, about twice the break-even work); otherwise only the headline
    form's ratios have them there (those of breakeven.csv)."""
    bundled = runs is None
    runs = paper_runs() if runs is None else runs
    out = Path(out_dir)
    spread_fits, loo, stack, choice, notes = {}, None, None, "", []
    scored, n_panels, n_scored = scale_sample(runs, scale_panels, seed)
    if n_scored < n_panels:
        notes.append(f"{n_panels} panels: the headline-form choice and forms.csv's loo_rmse (leave-one-out) and "
                     f"the held-out comparison (compare.csv) score a seeded sample of {n_scored} panels (whole "
                     f"tasks); every fit, frontier and break-even ratio covers all {n_panels}")
        log(notes[-1])
    if forms is None:
        log(f"choosing the headline form among {', '.join(SPREAD_FORMS)} by leave-one-out error")
        best, choice, loo, spread_fits, stack = choose_form(scored, jobs=jobs)
        if scored is not runs:
            spread_fits = {}   # fitted on the sample: every form is fitted on all the runs below
        log(choice)
        forms = [best]
    forms = list(dict.fromkeys(["paper", *forms]))
    for name in forms:
        get_form(name)
    from .parallel import Background
    spreading, prefetch = all(name in FORMS for name in SPREAD_FORMS), None
    refits = scale_refits(n_boot, n_panels, scale_panels)
    # form_spread's refits: the break-even refits with form_intervals (the headline form's bootstrap reused), else
    # none: point estimates (their intervals cost about 1 s wall at the bundled 180 runs, issue 12's 5 s line)
    spread_boot = refits if form_intervals else 0
    if spreading and spread_boot and spread_fits and stack is not None:
        # the bootstraps form_spread needs but the headline form's (reused), made beside the rest from the start
        wanted = {k: f for k, f in spread_fits.items() if k not in forms}
        prefetch = Background(form_bootstraps, wanted, spread_boot, seed, jobs=jobs) if wanted else None
    comparing = None
    if protocols and scored is not runs:
        # at scale the held-out comparison needs none of the fits below: with jobs > 1 its process is forked now,
        # from this process before it holds them (less memory copied into it)
        comparing = Background(compare, scored, forms, n_boot=COMPARE_N_BOOT, seed=seed, protocols=protocols,
                               fits={}, jobs=jobs)
    result = Reproduction(runs, form_choice=choice, notes=notes)
    for name in forms:
        # the paper's own fit: its form on the 185 runs of its fit figure with its Pbar, which reproduces the
        # published curves; every other form on the 180 runs
        data = paper_fit_runs() if bundled and name == "paper" else runs
        log(f"fitting form '{name}' to {len(data)} runs")
        result.fits[name] = spread_fits.get(name) or fit(data, name, warn=False)  # the report lists its warnings
    result.tables["runs"] = runs
    result.tables["fits"] = pd.concat([f.summary() for f in result.fits.values()], ignore_index=True)
    # curves.csv and frontier.csv (millions of rows at scale) are written a block of curves or panels at a time,
    # not held; the figures keep their panels' rows
    shown = None
    if figures:
        from .plotting import figure_panels
        shown = figure_panels(runs)
    drawn = {"curves": [], "frontier": []}

    def made(name, make):
        for f in result.fits.values():
            for table in make(f):      # a block of curves or panels at a time: memory holds one block
                if shown is not None:
                    drawn[name].append(table[pd.MultiIndex.from_frame(table[["task", "train_model"]]).isin(shown)])
                yield table
    write_csv_parts_atomic(out / "curves.csv", made("curves", curve_parts))
    write_csv_parts_atomic(out / "frontier.csv", made("frontier", lambda f: frontier_parts(f, margin=margin)))
    result.streamed = ["curves", "frontier"]
    drawn = {name: pd.concat(parts, ignore_index=True) for name, parts in drawn.items() if parts}
    # with jobs > 1 the held-out comparison and the figures are made beside the rest (each in one process)
    if protocols and scored is runs:
        same_runs = {k: f for k, f in result.fits.items() if len(f.runs_) == len(runs)}
        comparing = Background(compare, scored, forms, n_boot=COMPARE_N_BOOT, seed=seed, protocols=protocols,
                               fits=same_runs, jobs=jobs)
    drawing = Background(_draw_figures, runs, drawn.get("curves"), drawn.get("frontier"), out / "figures",
                         forms, log, jobs=jobs) if figures else None
    if refits < n_boot:
        notes.append(f"{n_panels} panels: break-even intervals from {refits} bootstrap refits instead of {n_boot} "
                     f"(n_boot x {scale_panels} / panels, at least {MIN_SCALE_REFITS}; the Monte Carlo error of each "
                     f"interval end is in breakeven.csv)")
        log(notes[-1])
        n_boot = refits
        max_boot = None if max_boot is None else max(refits, scale_refits(max_boot, n_panels, scale_panels))
    adaptive = max_boot is not None and max_boot > n_boot
    log(f"break-even budgets and train-to-selector ratios ({n_boot} bootstrap refits per form"
        + (f"; more, up to {max_boot}, for the panels whose interval ends need them)" if adaptive else ")"))
    boots = {}
    if spreading and n_boot and form_intervals:   # the headline form's refits, reused by form_spread
        boots = {name: bootstrap(f, n_boot=n_boot, seed=seed, jobs=jobs) for name, f in result.fits.items()
                 if name in SPREAD_FORMS}
    breakeven = pd.concat([breakeven_with_intervals(f, 0 if name == "paper" else n_boot, seed, margin=margin,
                                                    jobs=jobs, max_boot=max_boot, boot=boots.get(name))
                           for name, f in result.fits.items()], ignore_index=True)
    if adaptive and breakeven.get("n_boot", pd.Series(dtype=float)).notna().any():
        used = breakeven.n_boot.dropna()
        log(f"break-even refits per panel: {int(used.min())} to {int(used.max())}")
    result.tables["breakeven"] = breakeven
    if spreading:
        log(f"form uncertainty: break-even under {', '.join(SPREAD_FORMS)} (AIC weights, leave-one-out errors; "
            + (f"every form and the average with intervals from {spread_boot} refits)" if form_intervals else
               "point estimates; --form-intervals for their intervals)"))
        if prefetch is not None:
            boots.update({k: bootstrap_of(result.fits.get(k) or spread_fits[k], v, seed)
                          for k, v in prefetch.result().items()})
        if loo is None and scored is not runs:   # leave-one-out errors of the sample, as the choice would use
            loo, stack = choose_form(scored, jobs=jobs)[2::2]
        made = {name: breakeven[breakeven.form == name] for name in SPREAD_FORMS if name in result.fits}
        result.tables["forms"] = form_spread(runs, {**spread_fits, **result.fits}, margin=margin, loo=loo,
                                             stack=stack, jobs=jobs, tables=made, n_boot=spread_boot, seed=seed,
                                             boots=boots, averaged_only=not form_intervals)
    result.tables["stats"] = result.summary()
    result.tables["front_line"] = loglinear_front(runs)
    if is_ladder(runs):
        log("measured and analytic break-even per (method, selector size) on the ladder")
        result.ratio = ratio_analysis(runs, n_boot=200, n_boot_fit=min(n_boot, 20), seed=seed)
        result.tables.update(result.ratio.tables())
    if comparing is not None:
        log(f"held-out comparison: {', '.join(protocols)}")
        result.tables["compare"] = comparing.result()
    for name, table in result.tables.items():
        write_csv_atomic(out / f"{name}.csv", table)
    if drawing is not None:
        result.figures = drawing.result()
    return result


def _draw_figures(runs, curves, frontier, out_dir, forms, log):
    from .plotting import MAX_PANELS, panel_figures
    main_form = forms[-1] if len(forms) > 1 else forms[0]
    n_panels = len(runs[["task", "train_model"]].drop_duplicates())
    if n_panels > MAX_PANELS:
        log(f"figures for the first {MAX_PANELS} of {n_panels} panels (the CSVs hold all of them)")
    return panel_figures(runs, curves, frontier, out_dir, form=main_form)


def selector_size_note(runs: pd.DataFrame) -> str:
    """Whether the runs can tell how selection quality depends on the selector's size."""
    model_based = runs[runs.selector_params > 0]
    sizes = model_based.groupby("method").selector_params.nunique()
    varied = sorted(sizes[sizes > 1].index)
    if varied:
        return (f"Selector size varies for {', '.join(varied)}: fit form 'offset_exp_selector' to model selection "
                f"quality against selector size.")
    return ("Selection quality vs selector size: not identifiable from these runs (each selector method uses one "
            "selector size); ratios assume a method's curve does not depend on its selector's size.")


def _ratio_text(v: float) -> str:
    return "inf" if np.isinf(v) else ">1e4" if v >= 1e4 else f"{v:.3g}" if v < 100 else f"{v:.0f}"


def _end_text(v: float, mc: float, stable, upper: bool = False) -> str:
    """An interval end as printed: 3 significant figures when stable; else '~' and the number
    ``bands.printed_end`` rounds it to outwards (two figures, the 1-2-5 series or a power of ten, by its Monte Carlo
    error), so that another seed prints the same and the printed interval is never narrower than the computed one."""
    from .bands import printed_end

    if stable is None or pd.isna(stable) or bool(stable) or np.isinf(v) or v >= 1e4 or v <= 0:
        return _ratio_text(v) + ("" if stable is None or pd.isna(stable) or bool(stable) else "~")
    shown = printed_end(v, mc, stable, upper)
    return "~" + np.format_float_positional(float(f"{shown:.3g}"), trim="-")


def breakeven_cell(row) -> str:
    """'10.1 [5.1, inf]' plus flags: e extrapolated beyond the measured sizes; an interval end that moves with the
    bootstrap seed by more than about 10% is printed '~', rounded outwards to a figure other seeds print too
    ('[~20, inf]', ``bands.printed_end``); a "never" answer that is not certain gets the share of refits that say
    never ('never 92%')."""
    text = _ratio_text(row.ratio)
    if "ratio_lo" in row and pd.notna(row.get("ratio_lo")):
        lo = _end_text(row.ratio_lo, row.get("ratio_lo_mc", np.nan), row.get("lo_stable", row.get("stable")))
        hi = _end_text(row.ratio_hi, row.get("ratio_hi_mc", np.nan), row.get("hi_stable", row.get("stable")),
                       upper=True)
        text += f" [{lo}, {hi}]"
    if bool(row.get("extrapolated", False)) is True:
        text += " e"
    p_never = row.get("p_never", np.nan)
    if np.isinf(row.ratio) and pd.notna(p_never) and 0 < p_never < 1:
        text += f" never {p_never:.0%}"
    return text


def format_breakeven(table: pd.DataFrame) -> str:
    """The four break-even definitions side by side per form, per panel and pooled, with the paper's claim."""
    if table.empty:
        return ("Break-even train-to-selector size ratio: not applicable (no ppl or less runs to weigh against the "
                "cheap methods)")
    lines = []
    t = table.copy()
    t["cell"] = t.apply(breakeven_cell, axis=1)
    t["where"] = np.where(t.task == "all", "pooled", t.task + " " + t.train_model.astype(str))
    margin_text = t.margin_source.iloc[0] if "margin_source" in t else ""
    for form, g in t.groupby("form", sort=False):
        lines.append(f"Break-even train-to-selector ratio N_train / N_sel, form '{form}', 90% intervals "
                     f"(margin: {margin_text}; inf = never; e = extrapolated; ~ = interval end that moves with the "
                     f"seed, rounded outwards to 2 figures, 1-2-5 or a power of ten by its Monte Carlo error; "
                     f"never N% = share of refits that never break even):")
        for method, h in g.groupby("method", sort=False):
            pivot = h.pivot_table(index="where", columns="definition", values="cell", aggfunc="first", sort=False)
            pivot = pivot[[d for d in be.DEFINITIONS if d in pivot.columns]]
            panel = h[(h.definition == "shrink") & (h.task != "all")].set_index("where")
            if "p_win" in panel and panel.p_win.notna().any():
                pivot["p_win"] = panel.p_win.reindex(pivot.index).map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
                pivot["verdict"] = panel.verdict.reindex(pivot.index).fillna("")
            claim = PAPER_CLAIMED_RATIO.get(method)
            lines.append(f"  {method} (paper's claim ~{claim:g}x):" if claim else f"  {method}:")
            lines.append("    " + pivot.fillna("").to_string().replace("\n", "\n    "))
            pooled = h[(h.task == "all") & h.get("p_within_claim", pd.Series(np.nan, index=h.index)).notna()]
            if claim and len(pooled):
                lines.append("    P(ratio <= claim) over refits: " + ", ".join(
                    f"{r.definition} {r.p_within_claim:.2f}" for r in pooled.itertuples()))
    lines.append("  definitions: " + "; ".join(f"{k}: {v}" for k, v in be.DEFINITIONS.items()))
    return "\n".join(lines)


def format_form_spread(table: pd.DataFrame) -> str:
    """One line per (definition, method): each form's pooled ratio, the spread and the weighted answer, each with
    its 90% interval where it has one (as ``breakeven_cell`` prints them)."""
    avg_cols = {"ratio_avg_" + c.removeprefix("ratio_"): c for c in FORM_INTERVAL_COLUMNS}
    has_avg = "ratio_avg_lo" in table and table.ratio_avg_lo.notna().any()
    bare = list(dict.fromkeys(table.form[table.ratio_lo.isna()] if "ratio_lo" in table else table.form))
    how = (f"the stacking average's 90% interval from {int(table.ratio_avg_n_boot.max())} bootstrap refits, refit i "
           f"of every form the same resample (~ and never N% as in breakeven.csv's table)" if has_avg else
           "the stacking average a point estimate")
    if bare:
        how += (f"; {', '.join(bare)}: point estimates (`costlaw reproduce --form-intervals`: every form"
                + ("" if has_avg else " and the average") + " with a 90% interval)")
    how += "; the Akaike-weighted one a point estimate"
    lines = ["\nForm uncertainty of the pooled ratios (default form: lowest leave-one-out error; averaged: "
             "break-even of the forms' curves averaged with their stacking weights from leave-one-out "
             f"predictions, Akaike-weighted beside it; {how}):"]
    weights = table.drop_duplicates("form").set_index("form")
    lines.append("  " + ", ".join(f"{f} stacking weight {w.stack_weight:.2f}, AIC weight {w.akaike_weight:.2f}, "
                                  f"LOO RMSE {w.loo_rmse:.3f}" + (" (default)" if w.default else "")
                                  for f, w in weights.iterrows()))
    for (d, m), g in table.groupby(["definition", "method"], sort=False):
        per = ", ".join(f"{r.form} {breakeven_cell(r)}" for _, r in g.iterrows())
        first = g.iloc[0]
        avg = pd.Series({"ratio": first.ratio_avg, **{c: first.get(a, np.nan) for a, c in avg_cols.items()}})
        lines.append(f"  {d:11s} {m:4s}: {per}; spread {_ratio_text(g.ratio_min.iloc[0])}-"
                     f"{_ratio_text(g.ratio_max.iloc[0])}; averaged {breakeven_cell(avg)} "
                     f"(Akaike {_ratio_text(g.ratio_avg_akaike.iloc[0])})")
    return "\n".join(lines)


def format_report(result: Reproduction) -> str:
    """The tables ``costlaw reproduce`` prints."""
    lines = [f"At scale: {n}" for n in result.notes]
    lines += [result.form_choice] if result.form_choice else []
    stats = result.summary()
    lines.append("Fits (all panels):")
    lines.append(stats.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    notes = [w for f in result.fits.values() for w in f.diagnostics_.get("warnings", [])]
    if notes:
        lines.append("Fit warnings (CurveFit.report() has the details):")
        lines.extend(f"  {w}" for w in notes)
    rmse = result.tables["fits"].pivot_table(index=["task", "train_model"], columns="form", values="rmse",
                                             aggfunc=lambda r: float(np.sqrt(np.mean(np.square(r)))), sort=False)
    lines.append("\nRMSE per panel (metric points):")
    lines.append(rmse.to_string(float_format=lambda v: f"{v:.3f}"))
    lines.append("")
    lines.append(format_breakeven(result.tables["breakeven"]))
    if "forms" in result.tables:
        lines.append(format_form_spread(result.tables["forms"]))
    lines.append(selector_size_note(result.runs))
    if result.ratio is not None:
        lines.append("\n" + result.ratio.report())
    if "compare" in result.tables:
        table = result.tables["compare"]
        table = table[table.protocol != "in_sample"]
        lines.append("\nHeld-out error (metric points) and coverage of 90% prediction intervals:")
        lines.append(table.pivot_table(index="protocol", columns="form", values=["heldout_rmse", "coverage"],
                                       sort=False).to_string(float_format=lambda v: f"{v:.3f}"))
    return "\n".join(lines)
