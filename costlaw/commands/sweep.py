"""``costlaw sweep``: the measurement harness's command (its parser and handler live in ``costlaw.harness.cli``);
here only the check that the harness extra is installed, so that a core-only install says what to do in one line."""
from __future__ import annotations

import importlib.util

from ..errors import CostlawError

HARNESS_MODULES = ("torch", "transformers", "peft", "accelerate", "bm25s", "sentence_transformers")
"""Packages of the ``harness`` extra that a sweep imports."""


def add_parser(subparsers):
    from ..harness.cli import add_sweep_command  # argparse only; torch loads when a sweep runs
    return add_sweep_command(subparsers)


def missing_harness_modules() -> list[str]:
    """The harness extra's packages that are not installed."""
    return [m for m in HARNESS_MODULES if importlib.util.find_spec(m) is None]


def run(args) -> int:
    missing = missing_harness_modules()
    if missing:
        raise CostlawError(f"costlaw sweep needs the harness extra ({', '.join(missing)} not installed): "
                           f"pip install 'costlaw[harness]'")
    from ..checks import check_int
    from ..io import prepare_out_dir
    if args.limit is not None:
        check_int(args.limit, "--limit", low=1)
    prepare_out_dir(args.out)
    return args.func(args)
