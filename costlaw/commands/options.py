"""Shared pieces of the command modules: the one-line-error parser, typed and range-checked option types (built on
``costlaw.checks``), registry-checked names, and reading a runs argument."""
from __future__ import annotations

import argparse
import re
import sys

from ..checks import parse_int, parse_number
from ..errors import CostlawError, InputError


class UsageError(CostlawError):
    """Bad command-line syntax or option value (argparse's complaint, prefixed by the command's name)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``UsageError``), not usage text plus message, and that reads
    ``-7e9`` and ``-inf`` as values, not as options, so that the value's own check can name the problem."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse reads "-7e9" or "-1:1e20:3" as an option unless it matches this (no costlaw option starts
        # with a digit): then the value's own check can say what is wrong with it
        self._negative_number_matcher = re.compile(r"^-(\d|\.\d|inf\b|infinity\b|nan\b)", re.IGNORECASE)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _argument_type(parse, label: str, limits: dict):
    def convert(text):
        try:
            return parse(text, "", **limits)
        except InputError as err:
            raise argparse.ArgumentTypeError(str(err).strip()) from None
    convert.__name__ = label
    return convert


def number(**limits):
    """argparse ``type=`` for a finite float within ``limits`` (``low``, ``high``, ``low_open``, ...)."""
    return _argument_type(parse_number, "number", limits)


def positive():
    """argparse ``type=`` for a finite float > 0 (FLOPs, parameters, tokens)."""
    return number(low=0, low_open=True)


def integer(**limits):
    """argparse ``type=`` for an int within ``limits`` (``low``, ``high``, inclusive)."""
    return _argument_type(parse_int, "integer", limits)


def name_in(registry):
    """argparse ``type=`` for a name registered in ``registry`` (a ``costlaw.registry.Registry``); an unknown
    name fails with the registry's near names and list."""
    def convert(text):
        if text not in registry:
            raise argparse.ArgumentTypeError(registry.unknown_message(text))
        return text
    convert.__name__ = registry.kind
    return convert


def add_pilot_options(parser, use: str) -> None:
    """``--pilot`` (repeatable), ``--pilot-runs`` and ``--rule`` of ``forecast`` and ``plan``; ``use`` says what the
    pilots do in that command."""
    from ..choices import RULES
    parser.add_argument("--pilot", action="append", metavar="METHOD:FRACTION:METRIC",
                        help=f"a pilot run measured at --train-params (repeatable): {use} (costlaw.pilot)")
    parser.add_argument("--pilot-runs", help="runs CSV of pilot runs at --train-params (instead of, or besides, "
                                             "--pilot)")
    parser.add_argument("--rule", default="headroom", choices=[*RULES, "auto"],
                        help="how gains transfer to the pilot's size (default headroom; auto: by "
                             "leave-one-size-out error)")


def read_runs_arg(text: str):
    """The runs table a command argument names: ``paper`` for the bundled runs, else a CSV path (validated)."""
    if text == "paper":
        from ..datasets import paper_runs
        return paper_runs()
    from ..schema import read_runs
    return read_runs(text)


def log(message: str) -> None:
    """Progress line on stderr, ``[costlaw] ...``."""
    print(f"[costlaw] {message}", file=sys.stderr)


N_BOOT_MIN = 2
"""Fewest bootstrap refits a command accepts: an interval from fewer is a point pretending to be a range."""
