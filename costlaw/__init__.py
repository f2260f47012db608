"""costlaw: compute-constrained data selection for LLM finetuning.

The analytic core (schema, costs, curves, fitting, frontier, breakeven) needs only numpy, scipy, pandas and
matplotlib (imported only to draw figures); the measurement harness (``costlaw.harness``) needs the ``harness`` extra.
"""
from .costs import selection_flops, train_flops
from .curves import available_forms, get_form, register_form
from .datasets import paper_runs
from .fitting import CurveFit, fit
from .ladder import ratio_analysis
from .planner import plan
from .schema import SchemaError, read_runs, validate_runs

__version__ = "0.1.0"
__all__ = ["CurveFit", "SchemaError", "available_forms", "fit", "get_form", "paper_runs", "plan", "ratio_analysis", "read_runs",
           "register_form", "selection_flops", "train_flops", "validate_runs"]
