"""Model comparison: every form scored in-sample (AIC, BIC) and on held-out runs under three protocols.

- ``loo``: leave one run out, refit (warm start), predict it.
- ``extrapolate_fraction``: fit the runs with fraction <= 0.25, predict the larger fractions.
- ``extrapolate_size``: fit the smaller model sizes with the form's size-aware variant (levels linear in
  log10 N_train, shapes shared across sizes), predict the largest size; needs two sizes to fit from.
- ``leave_size_out``: each training size held out in turn (``size_folds``): the form's size-aware variant fitted to
  the other sizes predicts it; rows ``leave_size_out@<model>`` per held-out size (``position``: interpolation,
  extrapolation up or down; ``:<task>`` rows per task) and ``leave_size_out`` pooled over every held-out run of
  every fold. Needs three sizes (two to fit from each time). Its pooled RMSE picks the default size model of
  ``costlaw plan`` at unmeasured sizes (``costlaw.planner.forms``).
- ``extrapolate_size_pilot``: as ``extrapolate_size``, plus one cheap pilot run at the largest size (random
  selection at 2.5% of the pool) that anchors its level; gains transferred from per-panel fits of the smaller
  sizes (``costlaw.pilot``; the default ``headroom`` rule, ``:<rule>`` rows for the others and ``:auto`` for the
  rule chosen inside each fold from the smaller sizes alone), scored on the largest size's other runs, with
  coverage's binomial interval, ``ranking_accuracy`` (share of (task, fraction) whose best method is predicted)
  beside ``ranking_baseline`` (the best method at the nearest measured size). Rows ``@<model>`` hold out each
  other size instead (interpolation, extrapolation down), ``:<task>`` rows score one task.
- ``extrapolate_data``: per curve, fit every point but the largest-data one (largest fraction), predict it.

Coverage is the share of held-out runs inside their 90% prediction interval (bootstrap refits plus the panel's
residual noise; for ``loo``, a normal interval around the held-out prediction whose variance is the jackknife
variance of the prediction over the leave-one-out refits themselves plus the panel's residual noise, so no extra
bootstrap is needed). Leave-one-out refits are solved together (``costlaw.fitting.refit`` with a zero weight).

With two or more forms, each pooled protocol row (``loo``, ``extrapolate_fraction``, ``extrapolate_size``,
``leave_size_out``, ``extrapolate_size_pilot@every``, ``extrapolate_data``) also carries ``stack_weight``: the forms' stacking weights, the simplex
weights whose combined held-out prediction has the lowest squared error over that protocol's held-out runs
(``costlaw.averaging``; they sum to 1 over the forms of the table).
"""
from __future__ import annotations

from statistics import NormalDist

import warnings

import numpy as np
import pandas as pd

from .errors import CostlawWarning, InputError, UnknownName
from .curves import available_forms, get_form, sized
from .fitting import context, fit, leave_one_out_refits
from .uncertainty import Bootstrap, bootstrap

from .choices import ALL_PROTOCOLS, COMPARE_FORMS, PROTOCOLS  # noqa: E402,F401  (option choices, without pandas)
FRACTION_CUTOFF = 0.25


def _scores(form, protocol, truth, pred, lo, hi, extra=None) -> dict:
    err = np.asarray(pred) - np.asarray(truth)
    inside = (np.asarray(truth) >= lo) & (np.asarray(truth) <= hi)
    row = {"form": form, "protocol": protocol, "n_heldout": len(err),
           "heldout_rmse": float(np.sqrt(np.mean(err ** 2))), "heldout_mae": float(np.mean(np.abs(err))),
           "coverage": float(np.mean(inside))}
    row.update(extra or {})
    return row


def leave_one_out(fitted, boot=None, level: float = 0.9) -> pd.DataFrame:
    """Held-out prediction of every run from a refit without it: columns of the runs plus heldout_pred, lo, hi.

    The interval is normal around the held-out prediction, with the jackknife variance of the run's prediction
    over the leave-one-out refits plus the residual noise of its panel (``boot``'s when given, else the fit's)."""
    runs = fitted.runs_
    preds, jack = np.empty(len(runs)), np.empty(len(runs))
    for rows, values in leave_one_out_refits(fitted):
        sub = runs.iloc[rows]
        block = fitted.predict(sub, values=values)            # refit i (row) predicting run j (column)
        preds[rows] = np.diag(block)
        m = len(rows)
        jack[rows] = (m - 1) / m * np.sum((block - block.mean(axis=0)) ** 2, axis=0)
    out = runs.assign(heldout_pred=preds)
    sd = (boot or Bootstrap(fitted, [], 0, level)).noise_sd()
    default = float(np.sqrt(np.mean(np.square(sd.to_numpy()))))
    noise = np.array([sd.get((t, m), default) for t, m in zip(runs.task, runs.train_model)])
    half = NormalDist().inv_cdf(0.5 + level / 2) * np.sqrt(jack + noise ** 2)
    out["lo"], out["hi"] = preds - half, preds + half
    return out


PILOT_EVERY = "extrapolate_size_pilot@every"
"""The row of ``extrapolate_size_pilot`` pooling every held-out size (default rule)."""
STACKED = ("loo", "extrapolate_fraction", "extrapolate_size", "leave_size_out", PILOT_EVERY, "extrapolate_data")
"""Protocols whose pooled rows carry the forms' stacking weights (``stack_weight``)."""


def pilot_predictions(runs: pd.DataFrame, form, pilot_config=None, table: pd.DataFrame | None = None) -> tuple:
    """(run keys, forecasts, truth) of ``extrapolate_size_pilot`` with the default rule and each size held out in
    turn (the runs the ``@every`` row scores): from ``table`` (those per-run tables concatenated) when given, else
    computed (``costlaw.pilot.pilot_tables``)."""
    from .pilot import DEFAULT_PILOT, DEFAULT_RULE, pilot_tables
    if table is None:
        config = tuple(pilot_config or DEFAULT_PILOT)
        table = pd.concat(list(pilot_tables(runs, DEFAULT_RULE, config, 0.9, form).values()), ignore_index=True)
    keys = (table.task.astype(str) + "|" + table.train_model.astype(str) + "|" + table.method.astype(str) + "|"
            + table.fraction.map(repr)).to_numpy()
    return keys, table.metric_pred.to_numpy(float), table.metric.to_numpy(float)


def size_folds(runs: pd.DataFrame) -> list[dict]:
    """The folds of ``leave_size_out``: one per training size (ascending), each {"held_out": its train_model,
    "held_out_params", "train_sizes" (the sizes fitted, params), "position" ("interpolation" when the held-out
    size lies between fitted sizes, else "extrapolation up" / "extrapolation down"), "test" (mask of its runs)}.
    Empty with fewer than three sizes (a size model needs two sizes to fit)."""
    sizes = sorted(runs.train_params.unique())
    if len(sizes) < 3:
        return []
    folds = []
    for size in sizes:
        test = (runs.train_params == size).to_numpy()
        train = [s for s in sizes if s != size]
        position = ("interpolation" if train[0] < size < train[-1] else
                    "extrapolation up" if size > train[-1] else "extrapolation down")
        folds.append({"held_out": str(runs.train_model[test].iloc[0]), "held_out_params": float(size),
                      "train_sizes": [float(s) for s in train], "position": position, "test": test})
    return folds


def size_form(form):
    """The size-aware variant of ``form``: the registered ``<name>_size`` form when there is one, else
    ``curves.sized(form)``."""
    return get_form(f"{form.name}_size") if f"{form.name}_size" in available_forms() else sized(form)


def _size_heldout(runs, form, loss, n_boot, seed, size, made: dict) -> tuple:
    """(fit, band): ``form``'s size-aware variant fitted to the runs at every size but ``size`` (params) and its
    prediction band for the runs at ``size``; made once per size and kept in ``made`` ({size: (fit, band)}), so
    ``extrapolate_size`` and ``leave_size_out``'s fold of the largest size (the same fit) share it."""
    size = float(size)
    if size not in made:
        test = (runs.train_params == size).to_numpy()
        made[size] = _heldout(runs[~test], runs[test], size_form(form), loss, n_boot, seed)
    return made[size]


def _leave_size_out_rows(runs, name, form, loss, n_boot, seed, held, made: dict | None = None) -> list:
    """``leave_size_out`` rows of one form (per fold, per fold and task, pooled, pooled per task); records each
    fold's held-out predictions in ``held`` for stacking. ``made``: the size-aware fits already made
    (``_size_heldout``), reused and added to."""
    rows, idx, truth, pred, lo, hi = [], [], [], [], [], []
    made = {} if made is None else made
    for fold in size_folds(runs):
        test = fold["test"]
        size_fit, band = _size_heldout(runs, form, loss, n_boot, seed, fold["held_out_params"], made)
        label = f"leave_size_out@{fold['held_out']}"
        y, p = runs.metric[test].to_numpy(), band.metric_pred.to_numpy()
        l, h = band.pred_lo.to_numpy(), band.pred_hi.to_numpy()
        where = {"held_out": fold["held_out"], "position": fold["position"]}
        rows.append(_scores(name, label, y, p, l, h, {"n_params": size_fit.n_params, "aic": size_fit.aic,
                                                      "bic": size_fit.bic, **where}))
        tasks = runs.task[test].to_numpy()
        for task in dict.fromkeys(tasks):
            sel = tasks == task
            rows.append(_scores(name, f"{label}:{task}", y[sel], p[sel], l[sel], h[sel], where))
        idx.append(np.flatnonzero(test))
        for acc, v in ((truth, y), (pred, p), (lo, l), (hi, h)):
            acc.append(v)
    if not idx:
        return rows
    idx, truth, pred, lo, hi = (np.concatenate(v) for v in (idx, truth, pred, lo, hi))
    rows.append(_scores(name, "leave_size_out", truth, pred, lo, hi, {"position": "pooled"}))
    tasks = runs.task.to_numpy()[idx]
    for task in dict.fromkeys(tasks):
        sel = tasks == task
        rows.append(_scores(name, f"leave_size_out:{task}", truth[sel], pred[sel], lo[sel], hi[sel],
                            {"position": "pooled"}))
    held.setdefault("leave_size_out", {})[name] = (idx, pred, truth)
    return rows


def _add_stacking(table: pd.DataFrame, held: dict, forms) -> pd.DataFrame:
    """``stack_weight`` on each pooled protocol row from the forms' held-out predictions (every form scored on
    the same runs); NaN elsewhere. Unchanged with fewer than two forms."""
    from .averaging import stacking_weights
    if len(forms) < 2:
        return table
    table["stack_weight"] = np.nan
    for protocol, by_form in held.items():
        if list(by_form) != list(forms):
            continue
        idx0 = by_form[forms[0]][0]
        if not all(np.array_equal(v[0], idx0) for v in by_form.values()):
            continue
        preds = np.column_stack([by_form[f][1] for f in forms])
        weights = stacking_weights(preds, by_form[forms[0]][2])
        for f, w in zip(forms, weights):
            table.loc[(table.form == f) & (table.protocol == protocol), "stack_weight"] = w
    return table


def _heldout(train, test, form, loss, n_boot, seed):
    """Fit ``train``; return the fit and its prediction band for ``test``."""
    fitted = fit(train, form, loss=loss, warn=False)
    return fitted, bootstrap(fitted, n_boot=n_boot, seed=seed).predict(context(test))


def compare(runs: pd.DataFrame, forms=COMPARE_FORMS, loss: str | None = None, n_boot: int = 40, seed: int = 0,
            protocols=PROTOCOLS, log=None, fits: dict | None = None, pilot_config=None) -> pd.DataFrame:
    """Score each form under each protocol: form, protocol, n_heldout, heldout_rmse, heldout_mae, coverage,
    n_params, aic, bic (the last three of the full-data fit; for extrapolate_size, of the size-aware variant).

    ``fits``: full-data fits already made ({form name: CurveFit} of these runs and loss), reused, not refitted.
    ``pilot_config``: (method, fraction) of the pilot run of ``extrapolate_size_pilot`` (default random, 2.5%)."""
    unknown = [p for p in protocols if p not in ALL_PROTOCOLS]
    if unknown:
        raise UnknownName(f"unknown protocol '{unknown[0]}'; available: {', '.join(ALL_PROTOCOLS)}")
    for name in forms:  # every name checked before any fitting
        get_form(name)
    if "leave_size_out" in protocols and runs.train_params.nunique() < 3:
        raise InputError(f"leave_size_out needs runs at three or more training sizes (two to fit from each time); "
                         f"got {runs.train_params.nunique()}")
    rows, held = [], {}
    runs = runs.reset_index(drop=True)
    sizes = sorted(runs.train_params.unique())
    all_rows = np.arange(len(runs))

    def keep(protocol, rows_idx, pred, truth):
        held.setdefault(protocol, {})[name] = (np.asarray(rows_idx), np.asarray(pred, float),
                                               np.asarray(truth, float))
    for name in forms:
        form = get_form(name)
        if log:
            log(f"comparing form '{name}'")
        given = (fits or {}).get(name)
        reuse = given is not None and (loss is None or given.loss == loss)
        full = given if reuse else fit(runs, form, loss=loss, warn=False)
        if not reuse:  # what is wrong with the full-data fit (at a bound, underdetermined) is said once, here
            for text in full.diagnostics_.get("warnings", []):
                warnings.warn(text, CostlawWarning, stacklevel=2)
        stats = {"n_params": full.n_params, "aic": full.aic, "bic": full.bic}
        size_fits = {}   # the size-aware fits of this form, per held-out size (extrapolate_size, leave_size_out)
        rows.append(_scores(name, "in_sample", runs.metric, full.predict(runs), -np.inf, np.inf, stats))
        if "loo" in protocols:
            loo = leave_one_out(full)
            rows.append(_scores(name, "loo", loo.metric, loo.heldout_pred, loo.lo, loo.hi, stats))
            keep("loo", all_rows, loo.heldout_pred, loo.metric)
        if "extrapolate_fraction" in protocols:
            small = runs.fraction <= FRACTION_CUTOFF
            if small.any() and (~small).any():
                _, band = _heldout(runs[small], runs[~small], form, loss, n_boot, seed)
                rows.append(_scores(name, "extrapolate_fraction", runs.metric[~small], band.metric_pred,
                                    band.pred_lo, band.pred_hi, stats))
                keep("extrapolate_fraction", all_rows[~small], band.metric_pred, runs.metric[~small])
        if "extrapolate_size" in protocols and len(sizes) >= 3:  # two to fit, one to predict
            big = runs.train_params == sizes[-1]
            size_fit, band = _size_heldout(runs, form, loss, n_boot, seed, sizes[-1], size_fits)
            rows.append(_scores(name, "extrapolate_size", runs.metric[big], band.metric_pred, band.pred_lo,
                                band.pred_hi, {"n_params": size_fit.n_params, "aic": size_fit.aic,
                                               "bic": size_fit.bic}))
            keep("extrapolate_size", all_rows[big], band.metric_pred, runs.metric[big])
            for task in runs.task[big].unique():
                sel = (runs.task[big] == task).to_numpy()
                rows.append(_scores(name, f"extrapolate_size:{task}", runs.metric[big][sel],
                                    band.metric_pred[sel], band.pred_lo[sel], band.pred_hi[sel]))
        if "leave_size_out" in protocols:
            rows.extend(_leave_size_out_rows(runs, name, form, loss, n_boot, seed, held, size_fits))
        if "extrapolate_size_pilot" in protocols and len(sizes) >= 2:
            pilot_rows, every = _pilot_rows(runs, name, form, pilot_config)
            rows.extend(pilot_rows)
            if len(forms) > 1:   # per-run forecasts of every direction, for the forms' stacking weights
                keep(PILOT_EVERY, *pilot_predictions(runs, form, table=every))
        if "extrapolate_data" in protocols:
            last = runs.fraction == runs.groupby(["task", "train_model", "method"]).fraction.transform("max")
            if (~last).any():
                _, band = _heldout(runs[~last], runs[last], form, loss, n_boot, seed)
                rows.append(_scores(name, "extrapolate_data", runs.metric[last], band.metric_pred, band.pred_lo,
                                    band.pred_hi, stats))
                keep("extrapolate_data", all_rows[last], band.metric_pred, runs.metric[last])
    return _add_stacking(pd.DataFrame(rows), held, list(forms))


def _pilot_rows(runs: pd.DataFrame, name: str, form, pilot_config=None) -> tuple[list, pd.DataFrame]:
    """``extrapolate_size_pilot`` rows: every rule (and ``auto``, the nested choice) forecasting the largest
    size; the default rule and ``auto`` also with each other size held out (``@model``), overall and per task.
    Also the default rule's per-run forecasts of every direction (concatenated)."""
    from .pilot import DEFAULT_PILOT, DEFAULT_RULE, RULES, direction_scores, pilot_tables
    rows, config = [], tuple(pilot_config or DEFAULT_PILOT)
    largest = runs.train_params.max()
    default_runs = None
    for rule in (DEFAULT_RULE,) + tuple(r for r in RULES if r != DEFAULT_RULE) + ("auto",):
        label = "extrapolate_size_pilot" + ("" if rule == DEFAULT_RULE else f":{rule}")
        every = rule in (DEFAULT_RULE, "auto")
        tables = pilot_tables(runs, rule, config, form=form, held_out=None if every else [largest])
        if rule == DEFAULT_RULE:
            default_runs = pd.concat(list(tables.values()), ignore_index=True)
        table = direction_scores(tables)
        for row in table.to_dict("records"):
            if not every and row["task"] != "all":
                continue
            where = "" if np.isclose(row.pop("held_out_params"), largest) else f"@{row['held_out']}"
            task = row.pop("task")
            row.pop("held_out")
            rows.append({"form": name, "protocol": label + where + ("" if task == "all" else f":{task}"), **row})
    return rows, default_runs

