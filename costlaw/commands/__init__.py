"""The ``costlaw`` subcommands. Each lives in a module of its own (here, or next to the package it drives) that
exposes ``add_parser(subparsers) -> ArgumentParser`` and ``run(args) -> int``; ``costlaw.cli`` only registers them.
To add a command: write such a module and name it in ``COMMANDS`` (see docs/extending.md)."""
from __future__ import annotations

COMMANDS = {
    "reproduce": "costlaw.commands.reproduce",
    "compare": "costlaw.commands.compare",
    "fit": "costlaw.commands.fit",
    "forecast": "costlaw.commands.forecast",
    "plan": "costlaw.planner.command",
    "sweep": "costlaw.commands.sweep",
    "ls": "costlaw.commands.ls",
}
"""Command name -> module with ``add_parser`` and ``run``, in the order ``costlaw --help`` lists them."""
