"""Names the command line offers as option choices, importable without pandas or scipy: the parsers of every
command are built from these (``costlaw --help`` imports no analysis module), and the modules that use them import
them from here.

- ``LOSSES``: fit losses (``costlaw.fitting``);
- ``PROTOCOLS``, ``ALL_PROTOCOLS``, ``COMPARE_FORMS``: held-out protocols and default forms of ``costlaw.compare``;
- ``RULES``: pilot transfer rules (``costlaw.pilot``).
"""
from __future__ import annotations

LOSSES = ("linear", "soft_l1", "huber", "cauchy")
"""Fit losses: ``linear`` least squares, or scipy's robust ``soft_l1`` / ``huber`` / ``cauchy``."""
PROTOCOLS = ("loo", "extrapolate_fraction", "extrapolate_size")
"""The default protocols of ``costlaw compare``."""
ALL_PROTOCOLS = PROTOCOLS + ("leave_size_out", "extrapolate_size_pilot", "extrapolate_data")
"""Every protocol: the defaults plus each training size held out in turn from the size models, pilot-anchored size
forecasts and the largest-data point of each curve."""
COMPARE_FORMS = ("paper", "offset_exp", "power", "logistic")
"""Forms ``costlaw compare`` scores by default."""
RULES = ("headroom", "absolute", "loglinear", "pilot")
"""How a method's gain transfers to the pilot's size (see ``costlaw.pilot``)."""
