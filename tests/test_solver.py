import numpy as np
import pandas as pd
import pytest

from costlaw import fit
from costlaw.breakeven import breakeven_table, wins
from costlaw.frontier import budget_grid, frontier, method_curves, panel_curves, pareto_set


@pytest.fixture(scope="module")
def fitted(paper_runs):
    return fit(paper_runs, "offset_exp")


def test_pareto_set_is_undominated(paper_runs):
    front = pareto_set(paper_runs)
    for (task, model), g in front.groupby(["task", "train_model"]):
        panel = paper_runs[(paper_runs.task == task) & (paper_runs.train_model == model)]
        for row in g.itertuples():
            better = panel[(panel.total_flops <= row.total_flops) & (panel.metric > row.metric)]
            assert better.empty
        # sorted by compute, a Pareto set never decreases in metric (exact ties all stay)
        assert np.all(np.diff(g.metric.to_numpy()) >= 0)
    assert 0 < len(front) < len(paper_runs)


def test_frontier_monotone_and_above_every_curve(fitted):
    for key, curves in panel_curves(method_curves(fitted)).items():
        budgets = budget_grid(curves, 300)
        front = frontier(curves, budgets)
        assert np.all(np.diff(front.metric_pred.to_numpy()) >= -1e-12), key
        spend = front.budget_flops.to_numpy()
        for c in curves:
            mine, _ = c.best_at(spend)
            assert np.all(np.nan_to_num(mine, nan=-np.inf) <= front.metric_pred.to_numpy() + 1e-9)
        # plans never exceed their budget
        cost = np.array([next(c for c in curves if c.method == m).selection_flops for m in front.best_method])
        cost = cost + front.best_fraction.to_numpy() * curves[0].train_flops_full
        assert np.all(cost <= spend * (1 + 1e-9))


def test_free_selector_with_better_curve_dominates(fitted):
    curves = panel_curves(method_curves(fitted))[("mmlu", "llama2-7b")]
    best = curves[0]
    free = [c for c in curves] + [type(best)(**{**best.__dict__, "method": "free", "selection_flops": 0.0,
                                                "metric": np.maximum.reduce([c.metric for c in curves]) + 0.01})]
    front = frontier(free)
    assert (front.best_method == "free").all()
    assert wins(free[-1], curves, 0.0)


def test_cheaper_never_hurts(fitted):
    curves = panel_curves(method_curves(fitted))[("mmlu", "llama2-70b")]
    less = next(c for c in curves if c.method == "less")
    others = [c for c in curves if c.method != "less"]
    costs = np.geomspace(1e15, 1e20, 12)
    results = [wins(less, others, c) for c in costs]
    # winning is monotone: once a cost is too high, every higher cost is too
    assert results == sorted(results, reverse=True)


def test_breakeven_table(fitted):
    table = breakeven_table(fitted, margin=0.0)
    table = table[(table.definition == "shrink") & (table.task != "all")]
    assert set(table.method) == {"ppl", "less"} and len(table) == 12
    assert (table.ratio > 0).all()
    assert np.allclose(table.actual_ratio, table.train_params / 7e9)
    # the break-even ratio is below the actual one exactly where the method wins at its actual cost
    curves = panel_curves(method_curves(fitted))
    for row in table.itertuples():
        mine = next(c for c in curves[(row.task, row.train_model)] if c.method == row.method)
        others = [c for c in curves[(row.task, row.train_model)] if c.method != row.method]
        assert wins(mine, others, mine.selection_flops) == (row.ratio < row.actual_ratio)


def test_loglinear_front_reproduces_the_papers_dashed_lines(paper_runs):
    """The paper's "Pareto front" lines of MMLU 7B, MMLU 13B and BBH 7B are OLS fits of the best cheap run per
    fraction against log10 FLOPs (the other three follow no rule we found)."""
    from costlaw.datasets import _data_dir
    from costlaw.frontier import loglinear_front

    lines = loglinear_front(paper_runs).set_index(["task", "train_model"])
    paper = pd.read_csv(_data_dir() / "source" / "pareto_lines.csv").set_index(["task", "model"])
    for key in [("mmlu", "llama2-7b"), ("mmlu", "llama2-13b"), ("bbh", "llama2-7b")]:
        assert lines.loc[key, "y0"] == pytest.approx(paper.loc[key, "y0"], abs=1e-3)
        assert lines.loc[key, "y1"] == pytest.approx(paper.loc[key, "y1"], abs=1e-3)
    assert (lines.slope_lo < lines.slope_per_decade).all() and (lines.slope_per_decade < lines.slope_hi).all()
    # the same OLS line, t interval and r2 as scipy.stats.linregress (not imported by reproduce: slow to import)
    from scipy.stats import linregress, t as student_t
    for (task, model), row in lines.iterrows():
        panel = paper_runs[(paper_runs.task == task) & (paper_runs.train_model == model)]
        cheap = panel[panel.method.isin(["random", "bm25", "embed"])]
        best = cheap.loc[cheap.groupby("fraction").metric.idxmax()]
        ols = linregress(np.log10(best.total_flops.to_numpy()), best.metric.to_numpy(float))
        half = student_t.ppf(0.95, len(best) - 2) * ols.stderr
        assert row.slope_per_decade == pytest.approx(ols.slope, rel=1e-9)
        assert row.slope_hi - row.slope_per_decade == pytest.approx(half, rel=1e-9)
        assert row.r2 == pytest.approx(ols.rvalue ** 2, rel=1e-9)


def test_frontier_reports_the_lead_over_the_runner_up(fitted):
    curves = panel_curves(method_curves(fitted))[("mmlu", "llama2-70b")]
    front = frontier(curves, budget_grid(curves, 100))
    assert (front.lead >= 0).all()
    assert (front.runner_up.dropna() != front.best_method[front.runner_up.notna()]).all()


def test_curve_grid_blocks_give_the_same_curves(paper_runs, monkeypatch):
    """``CurveGrid.curves`` evaluates the form a block of grid points at a time (``CURVE_BLOCK_VALUES``): small
    blocks (a curve or two each) give the same curves, bit for bit."""
    from costlaw import frontier as fr
    fitted = fit(paper_runs, "offset_exp", warn=False)
    whole = method_curves(fitted)
    monkeypatch.setattr(fr, "CURVE_BLOCK_VALUES", 1500)
    grid = fr.CurveGrid(fitted.runs_)
    assert len(grid.blocks(fr.CURVE_BLOCK_VALUES)) > len(whole) / 2
    small = grid.curves(fitted)
    assert [(c.task, c.train_model, c.method) for c in small] == [(c.task, c.train_model, c.method) for c in whole]
    for a, b in zip(small, whole):
        np.testing.assert_array_equal(a.metric, b.metric)
        np.testing.assert_array_equal(a.fractions, b.fractions)
