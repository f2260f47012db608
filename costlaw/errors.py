"""Errors a user can cause. The CLI prints any ``CostlawError`` as one line and exits with status 2; every other
exception is a bug and keeps its traceback."""
from __future__ import annotations


class CostlawError(Exception):
    """Base of every error the user can cause: bad input, bad option, a missing or unwritable path."""


class InputError(CostlawError, ValueError):
    """A value the user gave is out of range or of the wrong kind (the message names the option or field)."""


class FitError(CostlawError, RuntimeError):
    """A fit cannot be made from the given runs (too few points, no finite start)."""


class UnknownName(CostlawError, KeyError):
    """A name not in a registry (form, selector, preset, ...): the message suggests near names and lists the rest."""

    def __str__(self) -> str:  # KeyError quotes its message; this one reads as a sentence
        return str(self.args[0]) if self.args else ""


class CostlawWarning(UserWarning):
    """Something the user should know about a result that is still returned (a parameter at a bound, an
    underdetermined fit); filter it with ``warnings.simplefilter("ignore", CostlawWarning)``."""
