"""The fast plan path: `costlaw plan` imports no pandas, scipy or matplotlib, and its records, printed tables, CSV
and JSON are the ones the DataFrame path gives (pandas' to_string / to_csv / to_dict on the same records, the
pandas-built fits of ``load_fits``)."""
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from costlaw import costs
from costlaw._paths import bundled_dir
from costlaw.fitarrays import FitArrays
from costlaw.io import json_records
from costlaw.planner import PLAN_COLUMNS, Problem, breakeven_map, plan, plan_budgets
from costlaw.planner.forms import loo_errors
from costlaw.store import load_fit_arrays, load_fits
from costlaw.tables import csv_text, text_table

POOL = costs.PAPER_POOL_TOKENS
HEAVY = ("pandas", "scipy", "matplotlib")

PLANS = [  # (budget, train_params, task, selectors, n_tasks, lora): measured and unmeasured sizes, no plan, extras
    (1.5e19, 70e9, "mmlu", None, 1, False),
    (2e18, 7e9, "mmlu", None, 1, False),
    (2e18, 30e9, "bbh", None, 1, False),
    (1e15, 7e9, "mmlu", None, 1, False),
    (3e19, 13e9, "mmlu", "ppl:1e9,7e9 less:1e9,7e9 embed bm25 random", 5, True),
    (1e18, 7e9, "bbh", "random", 1, False),
]


def _same_json(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _pandas_text(rows, columns, formatters=None, float_format=None):
    table = pd.DataFrame(rows)[columns]
    formatters = dict(formatters or {})
    if float_format is not None:
        formatters.update({c: float_format for c in columns if table[c].dtype.kind == "f" and c not in formatters})
    return table.to_string(index=False, formatters=formatters)


@pytest.mark.parametrize("argv", [
    ["--budget", "1.5e19", "--train-params", "70e9", "--task", "mmlu"],
    ["--budget", "2e18", "--train-params", "7e9", "--json"],
    ["--budgets", "1e17:1e20:5", "--train-params", "30e9", "--map"],
    ["--budget", "1.5e19", "--train-params", "70e9", "--out", "{tmp}"],
])
def test_plan_command_imports_no_pandas_scipy_matplotlib(argv, tmp_path):
    """A behaviour test (not a timed one): after `costlaw plan` the heavy libraries were never imported."""
    argv = ["plan", "--pool-tokens", "1.0938e8", *[a.format(tmp=tmp_path) for a in argv]]
    code = ("import sys\nfrom costlaw.cli import main\nassert main(%r) == 0\n"
            "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & set(%r)))" % (argv, HEAVY))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED []", out[-500:]


def test_plan_sweep_figure_still_imports_matplotlib(tmp_path):
    """--out on a sweep draws a PNG: that path imports matplotlib (and writes the figure)."""
    argv = ["plan", "--budgets", "1e17:1e20:4", "--train-params", "30e9", "--pool-tokens", "1.0938e8",
            "--out", str(tmp_path)]
    code = ("import sys\nfrom costlaw.cli import main\nassert main(%r) == 0\nprint('LOADED', 'matplotlib' in "
            "sys.modules)" % (argv,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED True" and (tmp_path / "plan_sweep.png").stat().st_size > 0


def test_fit_arrays_equal_the_loaded_bootstraps():
    """The arrays read straight from fit.json give the same curves, noise and margins as the pandas-loaded fits."""
    for name in ("paper_offset_exp_size", "paper_power"):
        boots = load_fits(bundled_dir("fits") / name)
        arrays = load_fit_arrays(bundled_dir("fits") / name)
        for b, a in zip(boots, arrays):
            assert np.array_equal(a.values, b.values) and np.array_equal(a.x, b.fit.x_)
            assert np.array_equal(a.residuals(), b.fit.residuals_)
            assert a.noise_sd() == {k: float(v) for k, v in b.noise_sd().items()}
            wrapped = FitArrays.from_bootstrap(b)
            assert np.array_equal(wrapped.predict(wrapped.runs), b.fit.predict(b.fit.runs_))
    for train_params in (7e9, 30e9):
        a = Problem(train_params, POOL, "mmlu", fits=bundled_dir("fits") / "paper_offset_exp_size")
        b = Problem(train_params, POOL, "mmlu", fits=load_fits(bundled_dir("fits") / "paper_offset_exp_size"))
        assert np.array_equal(a.curves, b.curves) and a.noise_sd == b.noise_sd and a.margin == b.margin


def test_problem_curves_equal_the_dataframe_path():
    """Problem's curves from column arrays are the CurveFit.predict_grid (DataFrame) curves, bit for bit."""
    p = Problem(30e9, POOL, "mmlu", selectors="ppl:1e9,7e9 less embed bm25 random")
    fit = p.boot.fit
    first = {}
    for c, s in zip(p.candidates, p.sel):
        first.setdefault(p.key(c), (c, s))
    assert list(first) == list(p.key_index)
    heads = pd.DataFrame([{"task": p.task, "train_model": p.train_model, "method": c.method,
                           "train_params": p.train_params, "selector_params": c.selector_params,
                           "selection_flops": s, "train_flops_full": p.full_train_flops} for c, s in first.values()])
    grid = fit.predict_grid(heads, [p.grid] * len(heads), values=np.vstack([fit.x_[None], p.boot.values]))
    expected = np.minimum(grid.reshape(len(p.curves), len(heads), len(p.grid)), p.ceiling[:, :, None])
    assert np.array_equal(p.curves, expected)


@pytest.mark.parametrize("case", PLANS)
def test_plan_records_match_the_dataframe_path(case):
    budget, train_params, task, selectors, n_tasks, lora = case
    result = plan(budget, train_params, POOL, task=task, selectors=selectors, n_tasks=n_tasks, lora=lora)
    table = result.table  # the DataFrame of the records
    ok = table[table.affordable]
    assert _same_json(result.best, json_records(ok.iloc[[0]][PLAN_COLUMNS])[0] if len(ok) else None)
    assert _same_json(result.alternatives, json_records(ok.iloc[1:][PLAN_COLUMNS]))
    assert _same_json(json_records(result.rows), json_records(table))
    assert csv_text(result.rows) == table.to_csv(index=False, float_format="%.10g")
    if result.spread_rows is not None:
        assert _same_json(json_records(result.spread_rows), json_records(result.form_spread))
    if result.best is not None:  # the ranked table as pandas prints it
        shown = ok.copy()
        shown.insert(0, "rank", np.arange(1, len(shown) + 1))
        shown["flag"] = ["".join(("*" if not m else "", "!" if e else ""))
                         for m, e in zip(shown.selector_measured, shown.extrapolated)]
        fmt = {c: "{:.4g}".format for c in ("train_tokens", "selection_flops", "train_flops", "total_flops")}
        fmt.update({"selector_params": "{:.3g}".format, "fraction": "{:.4f}".format, "p_best": "{:.2f}".format,
                    **{c: "{:.2f}".format for c in ("metric_pred", "metric_lo", "metric_hi")}})
        cols = ["rank", "method", "selector_params", "fraction", "train_tokens", "selection_flops", "train_flops",
                "total_flops", "metric_pred", "metric_lo", "metric_hi", "p_best", "flag"]
        assert shown[cols].to_string(index=False, formatters=fmt) in result.format()


def test_sweep_and_map_records_match_the_dataframe_path():
    budgets = np.geomspace(1e14, 1e20, 9)  # the first budgets afford nothing: NaN rows
    sweep = plan_budgets(budgets, 30e9, POOL, task="mmlu")
    rows, table = sweep.records(), sweep.summary()
    assert _same_json(json_records(rows), json_records(table))
    assert csv_text(rows) == table.to_csv(index=False, float_format="%.10g")
    cols = list(table.columns)
    assert text_table(rows, cols, float_format="{:.4g}".format) == _pandas_text(rows, cols, float_format="{:.4g}".format)
    bmap = breakeven_map(budgets[-3:], 30e9, POOL, task="mmlu", n_tasks_values=(1, 5))
    assert _same_json(json_records(bmap.rows), json_records(bmap.table))
    assert csv_text(bmap.rows) == bmap.table.to_csv(index=False, float_format="%.10g")
    cols = list(bmap.table.columns)
    assert (text_table(bmap.rows, cols, float_format="{:.4g}".format)
            == _pandas_text(bmap.rows, cols, float_format="{:.4g}".format))


@pytest.mark.parametrize("rows", [
    [{"a": 1, "s": "x", "f": 1.5, "n": None, "b": True, "e": ""}, {"a": 22, "s": None, "f": np.nan, "n": None,
                                                                  "b": False, "e": ""}],
    [{"m": np.nan, "x": 1.0, "bn": True}, {"m": "ppl", "x": 2, "bn": np.nan}],
    [{"rank": 1, "method": "a,b", "q": 'say "hi"', "v": np.inf, "w": -0.0}, {"rank": 10, "method": None, "q": "",
                                                                            "v": 1e20, "w": 1 / 3}],
    [{"only": None}], [{"only": np.nan}, {"only": np.nan}], [{"t": np.bool_(True), "i": np.int64(3)}],
    [{"x": None, "y": 1, "z": True}, {"x": np.nan, "y": None, "z": None}],
])
def test_tables_print_and_write_as_pandas(rows):
    cols = list(dict.fromkeys(k for r in rows for k in r))
    fmt = "{:.4g}".format
    assert text_table(rows, cols, float_format=fmt) == _pandas_text(rows, cols, float_format=fmt)
    assert csv_text(rows) == pd.DataFrame(rows).to_csv(index=False, float_format="%.10g")
    assert _same_json(json_records(rows), json_records(pd.DataFrame(rows)))


def test_compare_table_read_without_pandas_equals_read_csv():
    table = pd.read_csv(bundled_dir("fits") / "paper_forms_loo" / "compare.csv")
    expected = table[table.protocol == "loo"].set_index("form").heldout_rmse.astype(float).to_dict()
    assert loo_errors() == expected and all(not math.isnan(v) for v in expected.values())


@pytest.mark.parametrize("name", ["paper_offset_exp", "paper_power", "paper_logistic", "paper_offset_exp_size",
                                  "paper_power_size", "paper_logistic_size"])
def test_broadcast_curves_equal_curves_on_repeated_parameters(name):
    """Problem evaluates forms with parameters broadcast along the grid: bit for bit the values of the same form
    on parameters repeated at every grid point."""
    from costlaw.fitarrays import context_columns, numeric
    from costlaw.planner.problem import grid_values
    folder = bundled_dir("fits") / name
    if not (folder / "fit.json").exists():
        pytest.skip(f"fits/{name} is not shipped")
    for train_params in ((7e9, 70e9) if not name.endswith("_size") else (7e9, 30e9)):
        p = Problem(train_params, POOL, "bbh", "ppl:1e9,7e9 less embed bm25 random", fits=folder)
        entries = np.vstack([p.boot.x[None], p.boot.values])
        heads = {"task": np.array([p.task] * len(p.key_index)),
                 "train_model": np.array([p.train_model] * len(p.key_index)),
                 "method": np.array([m for m, _ in p.key_index]), "train_params": np.full(len(p.key_index),
                                                                                          p.train_params),
                 "selector_params": np.full(len(p.key_index), 7e9)}
        params = p.boot.param_values(context_columns({**heads, "fraction": np.ones(len(heads["task"])),
                                                             "train_flops": np.ones(len(heads["task"]))}),
                                     values=entries)
        n_keys, n_grid = len(p.key_index), len(p.grid)
        cols = context_columns({**{c: np.repeat(v, n_grid) for c, v in heads.items()},
                                       "fraction": np.tile(p.grid, n_keys), "train_flops_full": np.full(
                                           n_keys * n_grid, p.full_train_flops), "selection_flops": np.zeros(
                                           n_keys * n_grid)})
        cols["train_flops"] = cols["fraction"] * p.full_train_flops
        cols["total_flops"] = cols["selection_flops"] + cols["train_flops"]
        fast = grid_values(p.form, cols, params, (len(entries), n_keys, n_grid))
        slow = p.form(numeric(cols), **{n: np.repeat(v, n_grid, axis=-1) for n, v in params.items()})
        assert np.array_equal(fast, slow.reshape(fast.shape))


def test_import_costlaw_is_lazy_and_every_public_name_resolves():
    code = ("import sys, costlaw\nprint(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pandas', 'scipy', "
            "'matplotlib'}))\nnames = [getattr(costlaw, n) for n in costlaw.__all__]\n"
            "from costlaw import CurveFit, fit, plan, paper_runs, read_runs\nprint(len(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    import costlaw
    assert out[0] == "[]" and int(out[-1]) == len(costlaw.__all__) > 10
    with pytest.raises(AttributeError):
        costlaw.no_such_name  # noqa: B018


def test_intervals_of_all_budgets_at_once_equal_one_budget_at_a_time():
    """Problem computes the curve intervals and prediction bands of every budget in one pass: the numbers of
    bands.percentile_interval / prediction_band called budget by budget."""
    from costlaw.bands import percentile_interval, prediction_band
    p = Problem(30e9, POOL, "mmlu", "ppl:1e9,7e9 less embed bm25 random")
    budgets = np.geomspace(1e16, 1e20, 7)
    solved = p.solve(budgets)
    keys = np.array([p.key_index[p.key(c)] for c in p.candidates])
    for b in range(len(budgets)):
        at = p._interp(keys, np.nan_to_num(solved["fraction"][:, b], nan=p.min_fraction))
        lo, hi = percentile_interval(at[1:], p.level)
        pred_lo, pred_hi = prediction_band(at[1:], p.noise_sd, p.level, p.boot.seed)
        got = {(r["method"], r["selector_params"]): r for r in p.records(budgets[b], solved, b)}
        for i, c in enumerate(p.candidates):
            r = got[(c.method, c.selector_params)]
            if r["affordable"]:
                assert (r["metric_pred"], r["metric_lo"], r["metric_hi"], r["pred_lo"], r["pred_hi"]) == (
                    at[0, i], lo[i], hi[i], pred_lo[i], pred_hi[i])


@pytest.mark.parametrize("argv", [["--help"], ["fit", "--help"], ["compare", "--help"], ["forecast", "--help"],
                                  ["ls", "forms"]])
def test_command_parsers_import_no_pandas(argv):
    """Parsers are built from costlaw.choices: help and listings load no pandas, scipy or matplotlib."""
    code = ("import sys\nfrom costlaw.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & set(%r)))" % (argv, HEAVY))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED []", out[-300:]


def _one_dimensional(rows, P0, Pfull, k):
    if np.ndim(rows.fraction) != 1:
        raise ValueError("one-dimensional rows only")
    return np.ravel(P0 + (Pfull - P0) * rows.fraction ** (1 / k))


@pytest.mark.parametrize("function", [_one_dimensional, lambda rows, P0, Pfull, k: np.ravel(
    P0 + (Pfull - P0) * rows.fraction ** (1 / k))])
def test_a_form_that_is_not_elementwise_is_evaluated_on_repeated_parameters(function):
    """grid_values falls back to one row per grid point for a form that fails on, or flattens, keys x grid columns."""
    from costlaw.curves import OFFSET_EXP, Form
    from costlaw.fitarrays import numeric
    from costlaw.planner.problem import grid_values

    form = Form("flat_test", OFFSET_EXP.params, function)
    cols = {"fraction": np.tile(np.linspace(0.01, 1, 5), 2)}
    params = {"P0": np.array([[40.0, 41.0], [39.0, 40.0]]), "Pfull": np.array([[60.0, 61.0], [59.0, 60.0]]),
              "k": np.array([[3.0, 5.0], [4.0, 6.0]])}
    expected = _one_dimensional(numeric(cols), **{n: np.repeat(v, 5, axis=-1) for n, v in params.items()})
    assert np.array_equal(grid_values(form, cols, params, (2, 2, 5)), expected.reshape(2, 2, 5))


@pytest.mark.parametrize("given", [None, "2"])
def test_plan_loads_numpy_with_one_blas_thread_and_restores_the_environment(given):
    """`costlaw plan` starts no BLAS thread pool (unless OPENBLAS_NUM_THREADS says otherwise) and leaves the
    environment as it found it (subprocesses see the user's settings)."""
    import os
    code = ("import io, contextlib, os\nfrom costlaw.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['plan', '--budget', '1e18', '--train-params', '7e9', '--pool-tokens', '1e8'])\n"
            "try:\n    import threadpoolctl\n    threads = sorted({i['num_threads'] for i in threadpoolctl.threadpool_info()"
            " if i['internal_api'] == 'openblas'})\nexcept ImportError:\n    threads = None\n"
            "print(os.environ.get('OPENBLAS_NUM_THREADS'), os.environ.get('OMP_NUM_THREADS'), threads)")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                          "MKL_NUM_THREADS")}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    blas, omp, threads = out.split(maxsplit=2)
    assert (blas, omp) == (str(given), "None")
    assert threads.strip() in ("None", "[]", f"[{given or 1}]")
