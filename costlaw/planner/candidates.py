"""Candidate plans: selector specs such as ``ppl:1e9,7e9 less embed bm25 random``, and the planner's defaults."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import InputError
from .. import costs

DEFAULT_SELECTORS = "random bm25 embed ppl:7e9 less:7e9"
"""The selector sizes the bundled fits measured (7B); smaller ones only save cost under the size-independence
assumption, so they are opt-in (e.g. ppl:1e9,7e9)."""
DEFAULT_FITS = "paper_power_size"
"""Bundled size model used by default at unmeasured sizes (levels linear in log10 N_train per task): the one with
the lowest held-out error, ``planner.forms.default_size_form()`` (a test keeps the two equal)."""
MIN_FRACTION = 1e-3
"""Smallest fraction of the pool a plan may train on; a budget that cannot pay it for any candidate is too small."""
N_GRID = 600
"""Fractions (log-spaced from MIN_FRACTION to 1) on which the curves are evaluated; interpolated in log f between."""
MAP_TASKS = (1, 5, 10, 20)
"""n_tasks values of the break-even map (the paper's figure shares LESS over 1, 5, 10 and 20 tasks)."""
PLAN_COLUMNS = ["method", "selector_params", "fraction", "train_tokens", "selection_flops", "train_flops",
                "total_flops", "metric_pred", "metric_lo", "metric_hi", "pred_lo", "pred_hi", "p_best",
                "extrapolated", "selector_measured", "next_method", "lead_over_next", "p_lead"]
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}



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
        raise InputError(f"bad selector size '{text}' in '{token}': use e.g. 7e9 or 7B")
    value = float(match.group(1)) * _SUFFIX.get(match.group(2), 1.0)
    if not math.isfinite(value) or value < 0:
        raise InputError(f"bad selector size '{text}' in '{token}': must be >= 0")
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
            method, colon, sizes = str(token).strip().lower().partition(":")
            if method not in costs.SELECTOR_COSTS:
                raise InputError(f"unknown selector '{method}' in '{token}'; known: "
                                 f"{', '.join(sorted(costs.SELECTOR_COSTS))}")
            if colon and not sizes.strip():
                raise InputError(f"no selector size after ':' in '{token}'")
            if sizes:
                values = [_size(s, token) for s in sizes.split(",") if s.strip()]
                if not values:
                    raise InputError(f"no selector size after ':' in '{token}'")
            else:
                values = [costs.DEFAULT_SELECTOR_PARAMS.get(method, 0.0)]
            if not costs.selector_cost(method).uses_selector_model and any(v > 0 for v in values):
                raise InputError(f"'{method}' uses no selector model; drop the size in '{token}'")
            items = [Candidate(method, v) for v in values]
        out.extend(c for c in items if c not in out)
    if not out:
        raise InputError("no selectors given")
    return out
