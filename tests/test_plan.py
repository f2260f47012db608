"""costlaw plan: the planner on the bundled paper fits, its CLI, sweeps, break-even maps and tipping points."""
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from costlaw import costs
from costlaw._paths import bundled_dir
from costlaw.cli import main
from costlaw.planner import (Candidate, Problem, breakeven_map, parse_budgets, parse_selectors, plan, plan_budgets,
                             tipping_point)

POOL = costs.PAPER_POOL_TOKENS
MEASURED = "random bm25 embed ppl less"  # the selector sizes the paper ran (7B PPL and LESS)
KEYS = {"method", "selector_params", "fraction", "train_tokens", "selection_flops", "train_flops", "total_flops",
        "metric_pred", "metric_lo", "metric_hi"}


def test_parse_selectors():
    cands = parse_selectors("ppl:1e9,7B less embed bm25 random")
    assert cands[:2] == [Candidate("ppl", 1e9), Candidate("ppl", 7e9)]
    assert Candidate("less", costs.PAPER_SELECTOR_PARAMS) in cands
    assert Candidate("embed", costs.EMBED_PARAMS) in cands
    assert len(parse_selectors(None)) == 5  # the measured 7B sizes only; 1B is opt-in
    for bad, message in [("foo", "unknown selector 'foo'"), ("ppl:x", "bad selector size"),
                         ("bm25:1e9", "uses no selector model"), ("", "no selectors")]:
        with pytest.raises(ValueError, match=message):
            parse_selectors(bad)


def test_parse_budgets():
    assert np.allclose(parse_budgets("1e17:1e19:3"), [1e17, 1e18, 1e19])
    for bad in ["1e18", "1e19:1e17:3", "a:b:c", "1e17:1e18:0"]:
        with pytest.raises(ValueError, match="--budgets"):
            parse_budgets(bad)


def test_goal_7b_cheap_selector_with_measured_selectors():
    result = plan(2e18, 7e9, POOL, task="mmlu", selectors=MEASURED)
    assert result.best["method"] in ("bm25", "embed")
    assert result.best["metric_lo"] <= result.best["metric_pred"] <= result.best["metric_hi"]
    assert {u["method"] for u in result.unaffordable} == {"less"}  # 7B LESS alone costs 8.3e18


def test_goal_70b_expensive_selector():
    for spec in (None, MEASURED):
        result = plan(1.5e19, 70e9, POOL, task="mmlu", selectors=spec)
        assert result.best["method"] in ("ppl", "less"), spec


def test_plan_object():
    result = plan(2e18, 7e9, POOL, task="mmlu", selectors="random bm25 embed ppl:1e9,7e9 less:1e9,7e9")
    assert KEYS <= set(result.best) and result.alternatives and KEYS <= set(result.alternatives[0])
    summary = result.summary()
    assert len(summary) == 7 and summary.metric_pred.iloc[0] == result.best["metric_pred"]
    assert np.isclose(summary.p_best.sum(), 1.0)
    ppl1 = summary[(summary.method == "ppl") & (summary.selector_params == 1e9)].iloc[0]
    assert not ppl1.selector_measured  # the fits saw only 7B selectors
    data = json.loads(result.to_json())
    assert data["best"]["method"] == result.best["method"] and any("independent of selector size" in n for n in data["notes"])
    assert "best:" in result.format() and "tipping point" in result.format()


def test_too_small_budget_is_an_answer():
    result = plan(1e14, 7e9, POOL)
    assert result.best is None and result.alternatives == [] and "cannot pay" in result.message()


def test_lora_and_pool_change_costs():
    base = plan(2e18, 7e9, 2e8, task="bbh", selectors="bm25", gain=None)
    lora = plan(2e18, 7e9, 2e8, task="bbh", selectors="bm25", lora=True, gain=None)
    assert np.isclose(lora.best["train_flops"], costs.train_flops(7e9, lora.best["train_tokens"], lora=True))
    assert lora.best["train_tokens"] > base.best["train_tokens"]
    assert any("assumed to transfer" in n for n in base.notes)


def test_extrapolated_fraction_is_flagged():
    result = plan(5e16, 7e9, POOL, selectors="bm25", gain=None)
    assert result.best["fraction"] < 0.025 and result.best["extrapolated"]


def test_sweep_and_tipping():
    problem = Problem(13e9, POOL, "mmlu")
    sweep = plan_budgets(np.geomspace(1e16, 1e20, 9), 13e9, problem=problem)
    table = sweep.summary()
    assert table.method.isna().sum() == 0 and (table.total_flops <= table.budget_flops * (1 + 1e-12)).all()
    assert table.metric_pred.is_monotonic_increasing
    assert table.method.iloc[-1] == "random" and table.fraction.iloc[-1] == 1.0  # everyone ties at the full pool
    small, large = tipping_point(problem, 0.5), tipping_point(problem, 0.05)
    assert small.budget_flops <= large.budget_flops
    assert small.budget_lo <= small.budget_flops <= small.budget_hi


def test_breakeven_map_amortises_less():
    bmap = breakeven_map([1e17, 1e18], 13e9, POOL, "mmlu", selectors="random bm25 less", methods=("less",),
                         margin=0.0)
    table = bmap.summary().set_index(["n_tasks", "budget_flops"])
    assert set(bmap.table.n_tasks) == {1, 5, 10, 20}
    for budget in (1e17, 1e18):
        one = table.loc[(1, budget)]
        assert np.isfinite(one.ratio)
        for n in (5, 10, 20):  # competitors share nothing, so only LESS's cost per selector param changes
            assert np.isclose(table.loc[(n, budget)].ratio, one.ratio / n, rtol=0.03)


def test_cli_plan_json_and_text(capsys):
    assert main(["plan", "--budget", "1.5e19", "--train-params", "70e9", "--pool-tokens", str(POOL), "--task",
                 "mmlu", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["best"]["method"] in ("ppl", "less") and KEYS <= set(data["best"])
    assert main(["plan", "--budget", "1e13", "--train-params", "7e9", "--pool-tokens", "1e8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["best"] is None
    assert main(["plan", "--budget", "1e13", "--train-params", "7e9", "--pool-tokens", "1e8"]) == 0
    assert "cannot pay for even the cheapest" in capsys.readouterr().out


def test_cli_sweep_writes_table_figure_and_map(tmp_path, capsys):
    assert main(["plan", "--budgets", "1e17:1e19:5", "--train-params", "13e9", "--pool-tokens", str(POOL),
                 "--map", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "break-even train-to-selector ratio" in out and "tipping point" in out
    for name in ("plan_sweep.csv", "plan_sweep.png", "breakeven_map.csv", "breakeven_map.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("argv, message", [
    (["--budget", "1e18", "--train-params", "7e9", "--pool-tokens", "1e8", "--selectors", "foo"], "unknown selector"),
    (["--budget", "1e18", "--train-params", "7e9", "--pool-tokens", "1e8", "--task", "gsm8k"], "no fitted curves"),
    (["--budgets", "1e18", "--train-params", "7e9", "--pool-tokens", "1e8"], "--budgets wants a:b:n"),
    (["--budget", "-1", "--train-params", "7e9", "--pool-tokens", "1e8"], "must be positive"),
    (["--budget", "1e18", "--budgets", "1:2:3", "--train-params", "7e9", "--pool-tokens", "1e8"], "not allowed"),
    (["--budget", "1e18", "--train-params", "3e10", "--pool-tokens", "1e8", "--fits", "PANEL"], "does not model size"),
])
def test_cli_bad_input_exits_2_one_line(argv, message):
    argv = [a.replace("PANEL", str(bundled_dir("fits") / "paper_offset_exp")) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "costlaw.cli", "plan", *argv], capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_per_panel_fits_work_at_fitted_sizes():
    result = plan(5e18, 13e9, POOL, fits=bundled_dir("fits") / "paper_offset_exp", task="bbh", gain=None)
    assert result.best is not None and result.form == "offset_exp"


def test_cli_plan_is_fast_and_light():
    code = ("import sys, time; t = time.perf_counter(); from costlaw.cli import main; "
            "main(['plan', '--budget', '2e18', '--train-params', '7e9', '--pool-tokens', '1.0938e8']); "
            "print(time.perf_counter() - t, 'matplotlib' in sys.modules, 'torch' in sys.modules)")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    whole = time.perf_counter() - start
    seconds, mpl, torch = out.split()[-3:]
    assert (mpl, torch) == ("False", "False")
    assert whole < 6.0  # about 1.2 s on 2 cores; generous for loaded CI machines
