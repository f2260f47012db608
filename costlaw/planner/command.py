"""The ``costlaw plan`` command: argument handling, printed tables, CSV/JSON/PNG outputs.

It imports no pandas, scipy.stats or matplotlib unless a figure is asked for (``--out`` with a sweep): tables are
records printed and written by ``costlaw.tables`` (the bytes pandas would write)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import costs
from ..errors import InputError
from ..io import json_records
from ..tables import is_missing, text_table, write_csv
from .candidates import DEFAULT_SELECTORS, Candidate
from .problem import Problem
from .forms import form_set
from .results import form_tipping, plan
from .sweeps import breakeven_map, parse_budgets, plan_budgets


def _table_text(rows: list[dict], columns=None) -> str:
    """Records as the plan command prints them: floats to 4 significant digits."""
    return text_table(rows, columns, float_format="{:.4g}".format)


def add_parser(subparsers):
    """Register ``costlaw plan`` and its options on an argparse subparsers object."""
    from ..commands.options import add_pilot_options, number, positive
    p = subparsers.add_parser("plan", help="best selector, selector size and training tokens for a FLOP budget, "
                                           "with 90%% intervals; sweeps over budgets and break-even maps")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget", type=positive(), help="FLOPs for selection + training of one task")
    budget.add_argument("--budgets", help="a:b:n: n log-spaced budgets (FLOPs) from a to b, the best plan at each")
    p.add_argument("--train-params", type=positive(), required=True, help="parameters of the model to finetune")
    p.add_argument("--pool-tokens", type=positive(), required=True, help="tokens in the pool to select from")
    p.add_argument("--task", help="target task of the fits (default: the first fitted)")
    p.add_argument("--selectors", help=f"candidates, e.g. 'ppl:1e9,7e9 less:1e9,7e9 embed bm25 random' "
                                       f"(default '{DEFAULT_SELECTORS}')")
    p.add_argument("--n-tasks", type=number(low=1), default=1,
                   help="tasks sharing the target-independent selection work (default 1)")
    p.add_argument("--lora", action="store_true", help="charge LoRA training at 4N FLOPs per token (default 6N)")
    p.add_argument("--fits", help="folder written by `costlaw fit` (default: the bundled paper fits, per panel at "
                                  "the measured sizes 7B/13B/70B, the power_size size model elsewhere; every "
                                  "answer also under each shipped form)")
    p.add_argument("--gain", type=positive(), default=0.1,
                   help="tipping point: metric gain per decade of compute (default 0.1)")
    p.add_argument("--map", action="store_true", help="also the break-even ratio map of PPL and LESS over the "
                                                      "budgets and n_tasks 1, 5, 10, 20")
    add_pilot_options(p, "plan from pilot-anchored forecasts instead of the size model")
    p.add_argument("--margin", type=number(low=0), help="a plan beats another only by more than this many metric "
                                                        "points (default: one run-to-run noise sd of the panel)")
    p.add_argument("--out", help="folder for plan.csv/json, or plan_sweep.csv/png and breakeven_map.csv/png")
    p.add_argument("--json", action="store_true", help="print one JSON object (best, alternatives, ...)")
    return p


def run(args) -> int:
    """Handler of ``costlaw plan`` (see ``run_plan_command``)."""
    return run_plan_command(args)


def run_plan_command(args) -> int:
    """Handler of `costlaw plan` (args from argparse): prints a plan, or a sweep over budgets and a break-even
    map; with --out writes CSV, JSON and PNG files. A budget too small for any candidate is an answer: exit 0."""
    from ..io import prepare_out_dir, write_text_atomic
    budgets = parse_budgets(args.budgets) if args.budgets is not None else None
    if args.out:
        prepare_out_dir(args.out)
    problem = Problem(args.train_params, args.pool_tokens, args.task, args.selectors, args.n_tasks, args.lora,
                      args.fits, margin=getattr(args, "margin", None), pilots=_pilots(args), rule=args.rule)
    out = Path(args.out) if args.out else None
    written = []
    if args.budgets is None:
        result = plan(args.budget, args.train_params, gain=args.gain, problem=problem)
        payload = result.to_dict()
        text = [result.format()]
        budgets = np.array([args.budget])
        if out is not None:
            written += [write_csv(out / "plan.csv", result.rows),
                        write_text_atomic(out / "plan.json", result.to_json())]
    else:
        sweep = plan_budgets(budgets, args.train_params, problem=problem)
        table = sweep.records()
        fs = form_set(problem)[0] if args.gain else None
        tip = form_tipping(problem, fs, args.gain) if args.gain else None
        forms = sweep.forms_records()
        payload = {"plans": json_records(table), "notes": problem.notes(),
                   "forms": None if forms is None else json_records(forms),
                   "tipping": None if tip is None else tip.to_dict()}
        cols = ["budget_flops", "method", "selector_params", "fraction", "train_tokens", "selection_flops",
                "train_flops", "total_flops", "metric_pred", "metric_lo", "metric_hi", "p_best", "runner_up"]
        shown = [{c: r[c] for c in cols} for r in table]
        for row, r in zip(shown, table):
            if sweep.has_forms:  # the form spread of each budget's best plan; * where the forms pick other winners
                lo, hi = r["metric_pred_forms_min"], r["metric_pred_forms_max"]
                row["forms"] = ("" if is_missing(lo) else f"{lo:.2f}..{hi:.2f}") + ("*" if r["forms_agree"] is False
                                                                                   else "")
            if sweep.has_average:  # the model average's winner and prediction, beside the forms'
                row["average"] = ("" if is_missing(r["metric_pred_average"]) else
                                  f"{r['best_average']} {r['metric_pred_average']:.2f}")
            row["verdict"] = r["verdict"]
        text = [f"costlaw plan: task {problem.task}, {problem.train_params:.3g}-parameter model, pool "
                f"{problem.pool_tokens:.4g} tokens, n_tasks {problem.n_tasks:g}, {len(budgets)} budgets; form "
                f"{problem.form.name}, {100 * problem.level:.0f}% intervals", _table_text(shown)]
        if any(is_missing(r["method"]) for r in table):
            text.append(f"budgets below {problem.cheapest_flops():.3g} FLOPs cannot pay for even the cheapest "
                        f"candidate (no plan)")
        if sweep.has_forms:
            text.append(f"forms: the best plan's predicted metric over the forms, * where they pick different "
                        f"winners; {sweep.forms_agreement()}")
            if sweep.has_average:
                text.append(f"average: the best plan of the forms' model average ({sweep.plans[0].weights_note}); "
                            f"the verdict stays the forms'")
        elif sweep.plans and sweep.plans[0].form_spread_note:
            text.append(f"form spread: {sweep.plans[0].form_spread_note}")
        text += [f"note: {n}" for n in problem.notes()] + ([tip.describe()] if tip else [])
        if out is not None:
            written += [write_csv(out / "plan_sweep.csv", table), _save(sweep, out / "plan_sweep.png")]
            if forms is not None:
                written.append(write_csv(out / "plan_sweep_forms.csv", forms))
    if args.map:
        methods = [m for m in MAP_METHODS if m in set(problem.run_columns["method"].tolist())]
        if not methods:
            raise InputError(f"--map draws the break-even map of {' and '.join(MAP_METHODS)}; the fits have no "
                             f"curve for either on task '{problem.task}'")
        bmap = breakeven_map(budgets, args.train_params, methods=methods,
                             problem=_with_map_methods(problem, methods))
        payload["breakeven_map"] = json_records(bmap.rows)
        hidden = {f"ratio_{f}" for f in bmap.forms or []} | {"ratio_average_lo", "ratio_average_hi"}
        shown = [{c: v for c, v in r.items() if c not in hidden} for r in bmap.rows]
        text += ["break-even train-to-selector ratio (N_train / N_selector; the method gives the best plan when its "
                 "selector is smaller than N_train / ratio; inf: never, even free):",
                 _table_text(shown)]
        if bmap.forms_agreement():
            text.append(bmap.forms_agreement() + " (each form's ratio: ratio_<form> in breakeven_map.csv)")
        if bmap.weights:
            from ..averaging import format_weights
            text.append(f"ratio_average: the break-even ratio of the forms' model average (stacking weights "
                        f"{format_weights(bmap.weights)}; its interval: ratio_average_lo/_hi in breakeven_map.csv)")
        if out is not None:
            written += [write_csv(out / "breakeven_map.csv", bmap.rows)]
            if len(budgets) > 1:
                written.append(_save(bmap, out / "breakeven_map.png"))
    if args.json:
        print(json.dumps(payload, indent=1))
    else:
        print("\n".join(text))
        if written:
            print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0


def _save(result, path: Path) -> Path:
    import matplotlib.pyplot as plt
    fig = result.plot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


MAP_METHODS = ("ppl", "less")
"""Methods of the break-even map (``--map``), those the fits have curves for."""


def _with_map_methods(problem: Problem, methods=MAP_METHODS) -> Problem:
    """The problem, with PPL and LESS (default selectors) added when the spec left them out."""
    have = {c.method for c in problem.candidates}
    extra = [Candidate(m, costs.DEFAULT_SELECTOR_PARAMS[m]) for m in methods if m not in have]
    if not extra:
        return problem
    wider = Problem(problem.train_params, problem.pool_tokens, problem.task, problem.candidates + extra, 1,
                    problem.lora, [problem.boot], problem.min_fraction, len(problem.grid), problem.margin_given,
                    problem.pilots, problem.rule)
    wider.bundled = problem.bundled  # the same bundled fits: the map gets the bundled form spread
    return wider


def _pilots(args) -> list:
    """Pilot runs from --pilot and --pilot-runs (``costlaw.pilot``, imported only when there are any)."""
    given, runs = getattr(args, "pilot", None) or [], getattr(args, "pilot_runs", None)
    if not given and not runs:
        return []
    from ..pilot import parse_pilot, pilots_from_runs
    pilots = [parse_pilot(p) for p in given]
    if runs:
        from ..commands.options import read_runs_arg
        pilots += pilots_from_runs(read_runs_arg(runs))
    return pilots
