"""``costlaw fit``: fit a form to runs (optionally per group) and save it with its bootstrap refits."""
from __future__ import annotations

from ..curves import FORMS
from ..choices import LOSSES
from .options import N_BOOT_MIN, UsageError, integer, name_in, read_runs_arg


def add_parser(subparsers):
    p = subparsers.add_parser("fit", help="fit a form to runs; write fits.csv, curves.csv and fit.json (loads back)")
    p.add_argument("runs", help="runs CSV in the costlaw schema ('paper' for the bundled runs)")
    p.add_argument("--form", default="offset_exp", type=name_in(FORMS),
                   help="curve form (default offset_exp; *_size forms model size; `costlaw ls forms`)")
    p.add_argument("--by", help="comma-separated columns to fit separately, e.g. task")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--loss", choices=LOSSES, help="fit loss (default: the form's)")
    p.add_argument("--n-boot", type=integer(low=N_BOOT_MIN), default=50,
                   help="bootstrap refits stored for intervals (default 50)")
    p.add_argument("--seed", type=integer(low=0), default=0, help="bootstrap seed (default 0)")
    return p


def run(args) -> int:
    import pandas as pd

    from ..forecast import fit_groups
    from ..store import save_fits
    from ..io import prepare_out_dir
    runs = read_runs_arg(args.runs)
    by = [c.strip() for c in args.by.split(",")] if args.by else []
    missing = [c for c in by if c not in runs.columns]
    if missing or "" in by:
        raise UsageError(f"costlaw fit: --by names unknown column(s): {', '.join(missing) or repr(args.by)}")
    prepare_out_dir(args.out)
    boots = fit_groups(runs, args.form, by, n_boot=args.n_boot, seed=args.seed, loss=args.loss)
    path = save_fits(boots, args.out)
    stats = pd.DataFrame([b.fit.stats() for b in boots])
    print(stats.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nwrote fits.csv, curves.csv and {path}")
    return 0
