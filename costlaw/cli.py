"""The ``costlaw`` command line. Bad input exits with status 2 and one line naming the problem."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        raise UsageError(f"{self.prog}: {message}")


def _read_runs(path):
    from .schema import read_runs
    return read_runs(path)


def cmd_reproduce(args) -> int:
    import matplotlib
    matplotlib.use("Agg")  # the command writes PNG files; it never opens a window
    from .reproduce import format_report, reproduce
    start = time.perf_counter()
    runs = _read_runs(args.runs) if args.runs else None
    forms = args.form or ["offset_exp"]
    protocols = ["extrapolate_fraction", "extrapolate_size"] + (["loo"] if args.loo else [])
    result = reproduce(runs, args.out, forms=forms, figures=not args.no_figures, n_boot=args.n_boot, seed=args.seed,
                       protocols=protocols, margin=args.margin,
                       log=lambda m: print(f"[costlaw] {m}", file=sys.stderr))
    print(format_report(result))
    print(f"\nwrote {', '.join(sorted(result.tables))} (.csv) and {len(result.figures)} figures to {args.out} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def cmd_compare(args) -> int:
    from .compare import COMPARE_FORMS, PROTOCOLS, compare
    from .curves import get_form
    from .datasets import paper_runs
    from .io import write_csv_atomic
    runs = paper_runs() if args.runs == "paper" else _read_runs(args.runs)
    forms = args.form or list(COMPARE_FORMS)
    for name in forms:
        get_form(name)
    table = compare(runs, forms, loss=args.loss, n_boot=args.n_boot, seed=args.seed,
                    protocols=args.protocol or PROTOCOLS, log=lambda m: print(f"[costlaw] {m}", file=sys.stderr))
    path = write_csv_atomic(Path(args.out) / "compare.csv", table)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nwrote {path}")
    return 0


def cmd_fit(args) -> int:
    from .curves import get_form
    from .datasets import paper_runs
    from .forecast import fit_groups, save_fits
    runs = paper_runs() if args.runs == "paper" else _read_runs(args.runs)
    get_form(args.form)
    by = [c.strip() for c in args.by.split(",")] if args.by else []
    missing = [c for c in by if c not in runs.columns]
    if missing:
        raise UsageError(f"costlaw fit: --by names unknown column(s): {', '.join(missing)}")
    boots = fit_groups(runs, args.form, by, n_boot=args.n_boot, seed=args.seed, loss=args.loss)
    path = save_fits(boots, args.out)
    import pandas as pd
    stats = pd.DataFrame([b.fit.stats() for b in boots])
    print(stats.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nwrote fits.csv, curves.csv and {path}")
    return 0


def cmd_forecast(args) -> int:
    from .forecast import forecast, load_fits
    table = forecast(load_fits(args.fits), args.train_params, args.fraction, method=args.method, task=args.task)
    cols = ["task", "train_model", "method", "form", "train_params", "fraction", "total_flops", "metric_pred",
            "lo", "hi", "pred_lo", "pred_hi"]
    if args.json:
        print(table[cols].to_json(orient="records"))
    else:
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def cmd_plan(args) -> int:
    from .planner import run_plan_command
    return run_plan_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="costlaw", description="Compute-constrained data selection: fits, frontiers, plans.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)
    p = sub.add_parser("reproduce", help="fit the runs, derive frontiers and break-even ratios, write tables/figures")
    p.add_argument("--runs", help="runs CSV in the costlaw schema (default: the paper's 180 bundled runs)")
    p.add_argument("--out", default="results/paper", help="output folder (default: results/paper)")
    p.add_argument("--form", action="append", help="curve form to fit besides 'paper' (repeatable; default offset_exp)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--n-boot", type=int, default=100, help="bootstrap refits for the ratio intervals (default 100)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--margin", type=float, help="a win must exceed this many metric points (default: one "
                                                "run-to-run noise sd per panel)")
    p.add_argument("--loo", action="store_true", help="add leave-one-out to the held-out comparison (slower)")
    p.set_defaults(handler=cmd_reproduce)

    p = sub.add_parser("compare", help="score every curve form: AIC/BIC and held-out error under three protocols")
    p.add_argument("runs", help="runs CSV in the costlaw schema ('paper' for the bundled runs)")
    p.add_argument("--out", default="results/compare", help="output folder for compare.csv")
    p.add_argument("--form", action="append", help="form to compare (repeatable; default paper, offset_exp, "
                                                   "power, logistic)")
    p.add_argument("--loss", choices=["linear", "soft_l1", "huber", "cauchy"], help="fit loss (default: the form's)")
    p.add_argument("--protocol", action="append", choices=["loo", "extrapolate_fraction", "extrapolate_size"],
                   help="held-out protocol (repeatable; default all three)")
    p.add_argument("--n-boot", type=int, default=40, help="bootstrap refits for the prediction intervals")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_compare)

    p = sub.add_parser("fit", help="fit a form to runs; write fits.csv, curves.csv and fit.json (loads back)")
    p.add_argument("runs", help="runs CSV in the costlaw schema ('paper' for the bundled runs)")
    p.add_argument("--form", default="offset_exp", help="curve form (default offset_exp; *_size forms model size)")
    p.add_argument("--by", help="comma-separated columns to fit separately, e.g. task")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--loss", choices=["linear", "soft_l1", "huber", "cauchy"])
    p.add_argument("--n-boot", type=int, default=50, help="bootstrap refits stored for intervals (default 50)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_fit)

    p = sub.add_parser("forecast", help="predict the metric of a run with a 90%% interval from `costlaw fit` output")
    p.add_argument("--fits", required=True, help="folder written by `costlaw fit`")
    p.add_argument("--train-params", type=float, required=True, help="parameters of the model to train")
    p.add_argument("--fraction", type=float, required=True, help="share of the pool to train on, in (0, 2]")
    p.add_argument("--method", help="selection method (default: all fitted)")
    p.add_argument("--task", help="target task (default: all fitted)")
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(handler=cmd_forecast)

    p = sub.add_parser("plan", help="best selector, selector size and training tokens for a FLOP budget, "
                                    "with 90%% intervals; sweeps over budgets and break-even maps")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget", type=float, help="FLOPs for selection + training of one task")
    budget.add_argument("--budgets", help="a:b:n: n log-spaced budgets (FLOPs) from a to b, the best plan at each")
    p.add_argument("--train-params", type=float, required=True, help="parameters of the model to finetune")
    p.add_argument("--pool-tokens", type=float, required=True, help="tokens in the pool to select from")
    p.add_argument("--task", help="target task of the fits (default: the first fitted)")
    p.add_argument("--selectors", help="candidates, e.g. 'ppl:1e9,7e9 less:1e9,7e9 embed bm25 random' (the default)")
    p.add_argument("--n-tasks", type=float, default=1, help="tasks sharing the target-independent selection work")
    p.add_argument("--lora", action="store_true", help="charge LoRA training at 4N FLOPs per token (default 6N)")
    p.add_argument("--fits", help="folder written by `costlaw fit` (default: bundled paper offset_exp_size fits)")
    p.add_argument("--gain", type=float, default=0.1, help="tipping point: metric gain per decade of compute")
    p.add_argument("--margin", type=float, help="a plan beats another only by more than this many metric points "
                                                "(default: one run-to-run noise sd of the panel)")
    p.add_argument("--map", action="store_true", help="also the break-even ratio map of PPL and LESS over the "
                                                      "budgets and n_tasks 1, 5, 10, 20")
    p.add_argument("--out", help="folder for plan.csv/json, or plan_sweep.csv/png and breakeven_map.csv/png")
    p.add_argument("--json", action="store_true", help="print one JSON object (best, alternatives, ...)")
    p.set_defaults(handler=cmd_plan)

    from .harness.cli import add_sweep_command  # argparse only; torch loads when a sweep runs
    add_sweep_command(sub).set_defaults(handler=lambda args: args.func(args))
    return parser


def main(argv=None) -> int:
    from .errors import CostlawError
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except UsageError as err:
        print(str(err), file=sys.stderr)
        return 2
    except (CostlawError, FileNotFoundError, KeyError, ValueError) as err:  # narrowed to CostlawError in issue 11
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"costlaw: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
