"""costlaw: compute-constrained data selection for LLM finetuning.

The analytic core (schema, costs, curves, fitting, frontier, breakeven) needs only numpy, scipy, pandas and
matplotlib (imported only to draw figures); the measurement harness (``costlaw.harness``) needs the ``harness`` extra.
The names below are imported on first use (PEP 562), so that ``import costlaw`` and the command line load only
what they use (``costlaw plan`` never imports pandas).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "CurveFit": "fitting", "SchemaError": "schema", "available_forms": "curves", "fit": "fitting",
    "get_form": "curves", "paper_runs": "datasets", "plan": "planner", "ratio_analysis": "ladder",
    "read_runs": "schema", "register_form": "curves", "selection_flops": "costs", "train_flops": "costs",
    "validate_runs": "schema",
}
"""Public name -> the module of ``costlaw`` that defines it."""

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'costlaw' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
