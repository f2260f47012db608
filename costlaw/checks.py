"""Typed, range-checked values: every number the user gives (a CLI option, a config field, a function argument)
passes through ``check_number``/``check_int`` with its name, so a bad value fails in one line that names it.

    check_number(x, "--train-params", low=0, low_open=True)     # a positive, finite float
    check_int(n, "--n-boot", low=0)                             # a non-negative int (bool and 2.5 refused)

Rules: booleans are not numbers; strings are not numbers (parse them first, see ``parse_number``); NaN is never a
value; infinity only with ``allow_inf=True``; an int-valued option refuses a fractional value rather than
truncating it.
"""
from __future__ import annotations

import math
import numbers

from .errors import InputError


def _range_text(low, high, low_open, high_open) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return "positive" if low == 0 and low_open else f"{'>' if low_open else '>='} {low:g}"
    return f"{'<' if high_open else '<='} {high:g}"


def check_number(value, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
                 high_open: bool = False, allow_inf: bool = False) -> float:
    """``value`` as a float, or ``InputError`` naming ``name`` when it is not a real number, is NaN, is infinite
    (unless ``allow_inf``) or lies outside [low, high] (open ends with ``low_open``/``high_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if math.isnan(x):
        raise InputError(f"{name} must be a number, got NaN")
    if math.isinf(x) and not allow_inf:
        raise InputError(f"{name} must be finite, got {x}")
    too_low = low is not None and (x <= low if low_open else x < low)
    too_high = high is not None and (x >= high if high_open else x > high)
    if too_low or too_high:
        raise InputError(f"{name} must be {_range_text(low, high, low_open, high_open)}, got {value!r}")
    return x


def check_int(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int, or ``InputError`` naming ``name``: bools, strings, fractional and non-finite values
    are refused; ``low``/``high`` are inclusive."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a whole number, got {value!r}")
    if not math.isfinite(float(value)) or float(value) != int(value):
        raise InputError(f"{name} must be a whole number, got {value!r}")
    n = int(value)
    check_number(n, name, low=low, high=high)
    return n


def parse_number(text: str, name: str, **limits) -> float:
    """A float from text (``1e18``, ``7e9``), then ``check_number``; ``1e400`` overflows to inf and is refused."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise InputError(f"{name} must be a number, got {text!r}") from None
    return check_number(value, name, **limits)


def parse_int(text: str, name: str, **limits) -> int:
    """An int from text (``30``; ``3e1`` and ``2.5`` are refused), then ``check_int``."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InputError(f"{name} must be a whole number, got {text!r}") from None
    return check_int(value, name, **limits)


def check_text(value, name: str, *, allow_empty: bool = False) -> str:
    """``value`` as a string, or ``InputError`` naming ``name`` when it is not a string (or is blank)."""
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, got {value!r}")
    if not allow_empty and not value.strip():
        raise InputError(f"{name} must not be empty")
    return value
