"""Fit a user's runs to a folder that loads back, and forecast the metric of runs nobody has made.

``save_fits`` writes ``fits.csv`` and ``curves.csv`` (the formats of ``costlaw reproduce``) and ``fit.json`` (every
fitted group with its bootstrap replicates); ``load_fits`` reads it back; ``forecast`` predicts a metric with a
90% interval for a training size, fraction and method, including sizes between or beyond the fitted ones when
the form models size (the ``*_size`` forms).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from .checks import check_number
from .errors import InputError, UnknownName
from .fitting import CurveFit, fit
from .io import write_csv_atomic, write_text_atomic
from .reproduce import curve_table
from .uncertainty import Bootstrap, bootstrap

FIT_FILE = "fit.json"


def fit_groups(runs: pd.DataFrame, form: str, by=(), n_boot: int = 50, seed: int = 0, loss=None) -> list:
    """Fit ``form`` separately to each group of ``by`` columns (all runs when empty); returns Bootstraps."""
    groups = [runs] if not by else [g for _, g in runs.groupby(list(by), sort=False)]
    return [bootstrap(fit(g, form, loss=loss), n_boot=n_boot, seed=seed) for g in groups]


def save_fits(boots: list, out_dir) -> Path:
    """Write fits.csv, curves.csv and fit.json into ``out_dir``."""
    out = Path(out_dir)
    write_csv_atomic(out / "fits.csv", pd.concat([b.fit.summary() for b in boots], ignore_index=True))
    write_csv_atomic(out / "curves.csv", pd.concat([curve_table(b.fit) for b in boots], ignore_index=True))
    payload = [{"fit": json.loads(b.fit.to_json()), "seed": b.seed, "level": b.level,
                "replicates": [r.params_.to_dict(orient="list") for r in b.replicates]} for b in boots]
    return write_text_atomic(out / FIT_FILE, json.dumps({"costlaw_fit_version": 1, "groups": payload}))


def load_fits(path) -> list:
    """Read what ``save_fits`` wrote (a folder or its fit.json) back into Bootstraps."""
    path = Path(path)
    path = path / FIT_FILE if path.is_dir() else path
    if not path.exists():
        raise InputError(f"no fitted results at {path}; make them with `costlaw fit RUNS --out DIR`")
    try:
        data = json.loads(path.read_text())
        groups = data["groups"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InputError(f"{path} is not a costlaw fit file") from None
    boots = []
    for g in groups:
        point = CurveFit.from_json(json.dumps(g["fit"]))
        reps = [replace(point, params_=pd.DataFrame(p)) for p in g["replicates"]]
        boots.append(Bootstrap(point, reps, g["seed"], g["level"]))
    return boots


def forecast(boots: list, train_params: float, fraction: float, method: str | None = None,
             task: str | None = None, train_model: str | None = None) -> pd.DataFrame:
    """Predicted metric (with lo/hi of the curve and pred_lo/pred_hi for a new run) for every fitted
    (task, method), or the ones named, at ``train_params`` and ``fraction`` of the pool."""
    fraction = check_number(fraction, "fraction", low=0, low_open=True, high=2)
    train_params = check_number(train_params, "train_params", low=0, low_open=True)
    out = []
    for boot in boots:
        runs = boot.fit.runs_
        keys = runs[["task", "method"]].drop_duplicates()
        if task is not None:
            keys = keys[keys.task == task]
        if method is not None:
            keys = keys[keys.method == method]
        for t, m in keys.itertuples(index=False):
            rows = runs[(runs.task == t) & (runs.method == m)]
            same = rows[np.isclose(rows.train_params, train_params)]
            model = train_model or (same.train_model.iloc[0] if len(same) else f"{train_params:.3g}")
            per_param = float(np.median(rows.train_flops / rows.fraction / rows.train_params))
            sel = float(np.median(rows.selection_flops))
            full = per_param * train_params
            query = pd.DataFrame({"task": [t], "train_model": [model], "method": [m], "train_params": [train_params],
                                  "selector_params": [float(np.median(rows.selector_params))],
                                  "fraction": [fraction], "selection_flops": [sel], "train_flops": [fraction * full],
                                  "total_flops": [sel + fraction * full]})
            band = boot.predict(query)
            out.append(pd.concat([query, band.assign(form=boot.fit.form.name)], axis=1))
    if not out:
        raise UnknownName(f"no fitted curve for task={task!r} method={method!r}")
    return pd.concat(out, ignore_index=True)
