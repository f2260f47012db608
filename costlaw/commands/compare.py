"""``costlaw compare``: score every curve form, in-sample (AIC/BIC) and on held-out runs."""
from __future__ import annotations

from pathlib import Path

from ..choices import ALL_PROTOCOLS, COMPARE_FORMS, LOSSES, PROTOCOLS
from ..curves import FORMS
from .options import N_BOOT_MIN, integer, log, name_in, read_runs_arg


def add_parser(subparsers):
    p = subparsers.add_parser("compare", help="score every curve form: AIC/BIC and held-out error under held-out "
                                              "protocols, with the forms' stacking weights")
    p.add_argument("runs", help="runs CSV in the costlaw schema ('paper' for the bundled runs)")
    p.add_argument("--out", default="results/compare", help="output folder for compare.csv (default results/compare)")
    p.add_argument("--form", action="append", type=name_in(FORMS),
                   help=f"form to compare (repeatable; default {', '.join(COMPARE_FORMS)}; `costlaw ls forms`)")
    p.add_argument("--loss", choices=LOSSES, help="fit loss (default: the form's)")
    p.add_argument("--protocol", action="append", choices=ALL_PROTOCOLS,
                   help=f"held-out protocol (repeatable; default {', '.join(PROTOCOLS)})")
    p.add_argument("--n-boot", type=integer(low=N_BOOT_MIN), default=40,
                   help="bootstrap refits for the prediction intervals (default 40)")
    p.add_argument("--seed", type=integer(low=0), default=0, help="bootstrap seed (default 0)")
    p.add_argument("--pilot-config", metavar="METHOD:FRACTION", action="append",
                   help="a pilot configuration of extrapolate_size_pilot (repeatable: the held-out size's runs at "
                        "each are its pilots, the first the reference; default random:0.025)")
    return p


def run(args) -> int:
    from ..compare import compare
    from ..io import prepare_out_dir, write_csv_atomic
    from ..pilot import parse_pilot_config, pilot_configs
    config = pilot_configs([parse_pilot_config(c) for c in args.pilot_config or ["random:0.025"]])
    runs = read_runs_arg(args.runs)
    out = prepare_out_dir(args.out)
    table = compare(runs, args.form or list(COMPARE_FORMS), loss=args.loss, n_boot=args.n_boot, seed=args.seed,
                    protocols=args.protocol or PROTOCOLS, log=log, pilot_config=config)
    path = write_csv_atomic(Path(out) / "compare.csv", table)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nwrote {path}")
    return 0
