"""``costlaw reproduce``: fit the runs, derive frontiers and break-even ratios, write tables and figures."""
from __future__ import annotations

import time

from ..curves import FORMS
from .options import N_BOOT_MIN, integer, log, name_in, number

DEFAULT_N_BOOT = 400
"""Default bootstrap refits of the break-even intervals (costlaw.reproduce.DEFAULT_N_BOOT; a test keeps them equal)."""


def add_parser(subparsers):
    p = subparsers.add_parser("reproduce", help="fit the runs, derive frontiers and break-even ratios, write "
                                                "tables/figures")
    p.add_argument("--runs", help="runs CSV in the costlaw schema (default: the paper's 180 bundled runs)")
    p.add_argument("--out", default="results/paper", help="output folder (default: results/paper)")
    p.add_argument("--form", action="append", type=name_in(FORMS),
                   help="curve form to fit besides 'paper' (repeatable; default: the one of offset_exp, power, "
                        "logistic with the lowest leave-one-out error; `costlaw ls forms`)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--n-boot", type=integer(low=N_BOOT_MIN), default=DEFAULT_N_BOOT,
                   help=f"bootstrap refits for the ratio intervals (default {DEFAULT_N_BOOT})")
    p.add_argument("--max-boot", type=integer(low=N_BOOT_MIN),
                   help="add refits, up to this many, until every break-even interval end they can pin would "
                        "agree within 10%% across three seeds (default: none beyond --n-boot; docs/intervals.md)")
    p.add_argument("--seed", type=integer(low=0), default=0, help="bootstrap seed (default 0)")
    p.add_argument("--margin", type=number(low=0),
                   help="a win must exceed this many metric points (default: one run-to-run noise sd per panel)")
    p.add_argument("--loo", action="store_true", help="add leave-one-out to the held-out comparison (slower)")
    p.add_argument("--form-intervals", action="store_true",
                   help="give every form's pooled ratio in forms.csv a 90%% bootstrap interval too, each form "
                        "refitted on the same --n-boot resamples, and the model-averaged ratio its interval from "
                        "them (default: point estimates, the headline form's intervals as in breakeven.csv; "
                        "about 3 s more on the bundled runs)")
    p.add_argument("--jobs", type=integer(low=1),
                   help="processes to use (default: the available CPUs, at most 4; 1 beyond 60,000 runs, to keep "
                        "the memory of all processes under 1 GiB); results are the same for any number")
    return p


def run(args) -> int:
    from ..errors import InputError
    from ..io import prepare_out_dir
    if args.max_boot is not None and args.max_boot < args.n_boot:
        raise InputError(f"--max-boot ({args.max_boot}) must be at least --n-boot ({args.n_boot})")
    from .options import read_runs_arg
    start = time.perf_counter()
    runs = read_runs_arg(args.runs) if args.runs else None
    prepare_out_dir(args.out)
    if not args.no_figures:
        import matplotlib
        matplotlib.use("Agg")  # the command writes PNG files; it never opens a window
    from ..reproduce import ONE_JOB_RUNS, default_reproduce_jobs, format_report, reproduce
    jobs = args.jobs or default_reproduce_jobs(len(runs) if runs is not None else 0)
    if args.jobs is None and runs is not None and len(runs) > ONE_JOB_RUNS:
        log(f"{len(runs):,} runs: one process (beyond {ONE_JOB_RUNS:,} runs the default --jobs is 1, to keep "
            f"the memory under 1 GiB; --jobs N to use more)")
    protocols = ["extrapolate_fraction", "extrapolate_size"] + (["loo"] if args.loo else [])
    result = reproduce(runs, args.out, forms=args.form or None, figures=not args.no_figures,
                       n_boot=args.n_boot, seed=args.seed, protocols=protocols, margin=args.margin, log=log,
                       jobs=jobs, max_boot=args.max_boot, form_intervals=args.form_intervals)
    print(format_report(result))
    print(f"\nwrote {', '.join(sorted([*result.tables, *result.streamed]))} (.csv) and {len(result.figures)} figures to {args.out} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0
