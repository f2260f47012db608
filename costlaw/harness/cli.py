"""``costlaw sweep``: argparse wiring (``add_sweep_command``) and its handler (``run_sweep``)."""
from __future__ import annotations

import argparse
import sys


def add_sweep_command(subparsers) -> argparse.ArgumentParser:
    """Register ``sweep`` on an argparse subparsers object; the handler is ``run_sweep`` (set as ``func``)."""
    p = subparsers.add_parser(
        "sweep", help="run selectors, finetune, evaluate and count FLOPs; write DIR/runs.csv",
        description="Run methods x fractions x training sizes x selector sizes x seeds from a TOML/YAML config or "
                    "a built-in preset; appends each finished run to DIR/runs.csv and resumes where it stopped.")
    p.add_argument("config", nargs="?", help="sweep config (.toml, .yaml or .yml)")
    from ..commands.options import name_in
    from .presets import PRESETS
    p.add_argument("--preset", type=name_in(PRESETS),
                   help=f"built-in config instead of CONFIG: {', '.join(PRESETS)} (`costlaw ls presets`; smoke: CI, "
                        f"<2 min; demo: <15 min)")
    p.add_argument("--out", required=True, help="output folder (runs.csv, phases.csv, cache/)")
    p.add_argument("--limit", type=int, default=None, help="stop after this many new runs")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run_sweep)
    return p


def run_sweep(args) -> int:
    """Run the sweep ``args`` describe; 0 on success, 2 with a one-line message on bad input."""
    from .config import ConfigError

    def fail(msg: str) -> int:
        print(f"costlaw sweep: error: {msg}", file=sys.stderr)
        return 2

    if bool(args.config) == bool(args.preset):
        return fail("give either CONFIG or --preset (smoke, demo)")
    try:
        from .config import load_config
        from .presets import preset
        from .runner import sweep

        cfg = preset(args.preset) if args.preset else load_config(args.config)
        runs = sweep(cfg, args.out, progress=not args.no_progress, limit=args.limit)
    except ConfigError as err:
        return fail(str(err))
    print(f"{len(runs)} runs in {args.out}/runs.csv")
    return 0


def main(argv=None) -> int:
    """``python -m costlaw.harness sweep ...`` until the core CLI wires the subcommand in."""
    parser = argparse.ArgumentParser(prog="costlaw")
    sub = parser.add_subparsers(dest="command", required=True)
    add_sweep_command(sub)
    args = parser.parse_args(argv)
    return args.func(args)
