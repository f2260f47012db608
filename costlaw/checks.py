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


def check_bool(value, name: str) -> bool:
    """``value`` if it is a bool (true/false in TOML/YAML/JSON), else ``InputError`` naming ``name``."""
    if not isinstance(value, bool):
        raise InputError(f"{name} must be true or false, got {value!r}")
    return value


# ------------------------------------------------------------------------------------------------------------
# Declarative field checks: a table of name -> check, applied to a dict of settings (a config file's table).
# Each check is a callable (value, name) -> cleaned value that raises InputError naming the field.

def Number(**limits):
    """Check: a finite real within ``limits`` (see ``check_number``)."""
    return lambda value, name: check_number(value, name, **limits)


def Int(**limits):
    """Check: a whole number within ``limits`` (inclusive ``low``/``high``)."""
    return lambda value, name: check_int(value, name, **limits)


def Bool():
    """Check: true or false."""
    return check_bool


def Text(choices=None, allow_empty: bool = False):
    """Check: a string, optionally one of ``choices``."""
    def check(value, name):
        value = check_text(value, name, allow_empty=allow_empty)
        if choices is not None and value not in choices:
            raise InputError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    return check


def Optional(check):
    """Check: None, or what ``check`` accepts."""
    return lambda value, name: None if value is None else check(value, name)


def ListOf(check, nonempty: bool = True, single_ok: bool = True):
    """Check: a list whose every item passes ``check`` (a single value is taken as a one-item list when
    ``single_ok``); items are named ``name[i]``."""
    def run(value, name):
        if single_ok and not isinstance(value, (list, tuple)):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{name} must be a list, got {value!r}")
        if nonempty and not value:
            raise InputError(f"{name} must not be empty")
        return [check(v, f"{name}[{i}]") for i, v in enumerate(value)]
    return run


def Table():
    """Check: a mapping (a TOML table / YAML mapping); its entries are checked elsewhere."""
    def check(value, name):
        if not isinstance(value, dict):
            raise InputError(f"{name} must be a table of settings, got {value!r}")
        return value
    return check


def check_fields(values: dict, checks: dict, where: str = "", error=InputError) -> dict:
    """``values`` with every key that has a check in ``checks`` validated and cleaned (keys without one pass
    through unchanged; unknown keys are the caller's to refuse). A failure raises ``error`` whose message names
    the field as ``where`` + key, e.g. ``train.epochs must be positive, got -1``."""
    if not isinstance(values, dict):
        raise error(f"{where.rstrip('.') or 'settings'} must be a table of settings, got {values!r}")
    out = dict(values)
    for key, value in values.items():
        check = checks.get(key)
        if check is None:
            continue
        try:
            out[key] = check(value, f"{where}{key}")
        except InputError as err:
            if error is InputError:
                raise
            raise error(str(err)) from None
    return out


EXTRAPOLATION_REFUSED = 1000.0
"""How far beyond the fitted range (as a factor) a size may go before a forecast or plan is refused."""


def check_extrapolation(value: float, low: float, high: float, name: str, what: str = "the fitted runs",
                        refuse_factor: float = EXTRAPOLATION_REFUSED) -> bool:
    """Whether positive ``value`` lies within [low, high] (the range the fits saw). Outside it a ``CostlawWarning``
    says the prediction extrapolates; more than ``refuse_factor`` times beyond it, ``InputError`` refuses."""
    import warnings

    from .errors import CostlawWarning

    if low <= value <= high:
        return True
    factor = low / value if value < low else value / high
    text = f"{name} {value:.3g} is {factor:.3g}x outside the range of {what} ({low:.3g}..{high:.3g})"
    if factor > refuse_factor:
        raise InputError(f"{text}; refusing to extrapolate more than {refuse_factor:g}x")
    warnings.warn(f"{text}: the prediction extrapolates", CostlawWarning, stacklevel=3)
    return False
