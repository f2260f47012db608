"""Invariants of the empirical Pareto set and of the compute-optimal frontier, on random runs and random curves."""
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from costlaw.frontier import MethodCurve, frontier, pareto_set

FLOPS = st.floats(1e15, 1e19, allow_nan=False)
METRIC = st.floats(0, 100, allow_nan=False)


def runs_table(points):
    return pd.DataFrame({"task": "t", "train_model": "m", "total_flops": [f for f, _ in points],
                         "metric": [m for _, m in points], "run": range(len(points))})


def dominates(a, b):
    """Run a dominates run b: no more compute, no lower metric, one of the two strictly."""
    return a.total_flops <= b.total_flops and a.metric >= b.metric and (
        a.total_flops < b.total_flops or a.metric > b.metric)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(FLOPS, METRIC), min_size=1, max_size=25))
def test_pareto_set_keeps_exactly_the_undominated_runs(points):
    runs = runs_table(points)
    kept = pareto_set(runs)
    kept_ids = set(kept.run)
    for _, r in runs.iterrows():
        dominated = any(dominates(o, r) for _, o in runs.iterrows())
        assert (r.run in kept_ids) == (not dominated)
    assert list(kept.total_flops) == sorted(kept.total_flops)


def curve(method, selection_flops, metric):
    fractions = np.linspace(0.01, 1.0, len(metric))
    return MethodCurve("t", "m", 1e9, method, selection_flops, 1e18, fractions, np.asarray(metric, float))


CURVES = st.lists(st.tuples(st.floats(0, 5e17), st.lists(METRIC, min_size=3, max_size=12)), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(CURVES, st.lists(st.floats(1e16, 3e18), min_size=1, max_size=20))
def test_frontier_is_monotone_within_budget_and_beats_every_curve(specs, budgets):
    curves = [curve(f"m{i}", sel, metric) for i, (sel, metric) in enumerate(specs)]
    budgets = np.unique(np.asarray(budgets))  # sorted, distinct
    table = frontier(curves, budgets)
    by_name = {c.method: c for c in curves}
    # more budget never buys a worse best plan
    assert np.all(np.diff(table.metric_pred.to_numpy()) >= -1e-12)
    for row in table.itertuples():
        best = by_name[row.best_method]
        # the plan fits in its budget
        assert best.selection_flops + row.best_fraction * best.train_flops_full <= row.budget_flops * (1 + 1e-12)
        # no single curve does better at this budget
        for c in curves:
            m, _ = c.best_at(np.array([row.budget_flops]))
            assert np.isnan(m[0]) or m[0] <= row.metric_pred + 1e-12
        assert row.lead >= 0
    # budgets that some curve can afford are all on the frontier
    affordable = [b for b in budgets if any(c.selection_flops + c.fractions[0] * c.train_flops_full <= b
                                            for c in curves)]
    assert len(table) == len(affordable)


@settings(max_examples=40, deadline=None)
@given(CURVES, st.tuples(st.floats(0, 5e17), st.lists(METRIC, min_size=3, max_size=12)),
       st.lists(st.floats(1e16, 3e18), min_size=1, max_size=10))
def test_adding_a_method_never_lowers_the_frontier(specs, extra, budgets):
    curves = [curve(f"m{i}", sel, metric) for i, (sel, metric) in enumerate(specs)]
    budgets = np.unique(np.asarray(budgets))  # sorted, distinct
    before = frontier(curves, budgets).set_index("budget_flops").metric_pred
    after = frontier(curves + [curve("extra", *extra)], budgets).set_index("budget_flops").metric_pred
    assert np.all(after.reindex(before.index).to_numpy() >= before.to_numpy() - 1e-12)
