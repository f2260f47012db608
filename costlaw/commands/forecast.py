"""``costlaw forecast``: the predicted metric of a run, with intervals, from ``costlaw fit`` output."""
from __future__ import annotations

from .options import add_pilot_options, number, positive

COLUMNS = ["task", "train_model", "method", "form", "train_params", "fraction", "total_flops", "metric_pred",
           "lo", "hi", "pred_lo", "pred_hi", "extrapolated"]


def add_parser(subparsers):
    p = subparsers.add_parser("forecast", help="predict the metric of a run with a 90%% interval from `costlaw fit` "
                                               "output")
    p.add_argument("--fits", required=True, help="folder written by `costlaw fit`")
    p.add_argument("--train-params", type=positive(), required=True, help="parameters of the model to train")
    p.add_argument("--fraction", type=number(low=0, low_open=True, high=2), required=True,
                   help="share of the pool to train on, in (0, 2]")
    p.add_argument("--method", help="selection method (default: all fitted)")
    p.add_argument("--task", help="target task (default: all fitted)")
    add_pilot_options(p, "anchors the level there, gains are transferred from the fitted sizes")
    p.add_argument("--json", action="store_true", help="print JSON records")
    return p


PILOT_COLUMNS = ["task", "train_model", "method", "train_params", "fraction", "metric_pred", "pred_lo", "pred_hi",
                 "interval_df", "rule", "n_pilots", "n_sizes"]


def run(args) -> int:
    from ..forecast import forecast
    from ..store import load_fits
    if args.pilot or args.pilot_runs:
        return _run_pilot(args, load_fits(args.fits))
    table = forecast(load_fits(args.fits), args.train_params, args.fraction, method=args.method, task=args.task)
    if args.json:
        print(table[COLUMNS].to_json(orient="records"))
    else:
        print(table[COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _run_pilot(args, boots) -> int:
    import pandas as pd

    from ..pilot import parse_pilot, pilot_forecast, pilots_from_runs
    pilots = [parse_pilot(p) for p in args.pilot or []]
    if args.pilot_runs:
        from .options import read_runs_arg
        pilots += pilots_from_runs(read_runs_arg(args.pilot_runs))
    runs = pd.concat([b.fit.runs_ for b in boots], ignore_index=True)
    table = pilot_forecast(runs, args.train_params, pilots, args.fraction, args.method, args.task, args.rule)
    if args.json:
        print(table[PILOT_COLUMNS + ["interval"]].to_json(orient="records"))
    else:
        print(table[PILOT_COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        for note in table.interval.unique():
            print(f"interval: {note}")
    return 0
