"""The model-averaged plan: one ``Problem`` whose curves are the weighted combination of each form's curves.

For weights w_f (stacking weights from held-out predictions, ``costlaw.averaging``; read from the shipped
comparison tables, ``planner.forms.stack_weights``) the averaged curve of each candidate at each fraction is
sum_f w_f curve_f, for the point fits and for each bootstrap refit (refit i of every form is fitted to the same
stratified resample of the runs, so refit i of the average is the averaged model refitted to that resample).
Everything the planner solves on a Problem (the best plan, p_best, leads, the tipping point, the break-even map)
is then solved on the average exactly as on one form. Each form's curve is capped at its own full-pool level
before averaging, so the average never exceeds the weighted cap. Run-to-run noise and the default margin are the
weighted means of the forms'. Forms with zero weight do not enter.
"""
from __future__ import annotations

import copy

import numpy as np

from ..averaging import check_weights
from ..errors import InputError
from ..noise import DEFAULT_MARGIN_SD

AVERAGE = "average"
"""The label of the model-averaged answer beside the per-form ones."""


def averaged_problem(problems: dict, weights: dict):
    """A Problem (a copy of the first of ``problems``, {label: Problem} solved on the same grid and candidates)
    whose curves are the ``weights``-weighted sum ({label: weight}, summing to 1) of the forms' curves. Raises
    InputError when the problems cannot be combined (other candidates, grid or metric direction)."""
    weights = check_weights({k: weights.get(k, 0.0) for k in problems})
    used = [k for k, w in weights.items() if w > 0]
    base = next(iter(problems.values()))
    for label in used:
        p = problems[label]
        if (p.candidates != base.candidates or p.key_index != base.key_index or p.sign != base.sign
                or not np.array_equal(p.grid, base.grid)):
            raise InputError(f"form '{label}' cannot be averaged with the others: its plan has other candidates, "
                             f"fractions or metric direction")
    n = min(len(problems[k].curves) for k in used)
    w = np.array([weights[k] for k in used])
    avg = copy.copy(base)
    avg.set_curves(sum(wk * problems[k].curves[:n] for wk, k in zip(w, used)))
    avg.ceiling = sum(wk * problems[k].ceiling[:n] for wk, k in zip(w, used))
    avg.noise_sd = float(sum(wk * problems[k].noise_sd for wk, k in zip(w, used)))
    avg.margin = (DEFAULT_MARGIN_SD * avg.noise_sd if base.margin_given is None else base.margin_given)
    avg.weights = weights
    avg.fit_kind = "average of " + ", ".join(f"{k} ({weights[k]:.2f})" for k in used)
    return avg
