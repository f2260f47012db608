"""Held-out protocol ``leave_size_out`` and model averaging across forms (``costlaw.averaging``)."""
import numpy as np
import pandas as pd
import pytest

from costlaw import compare as compare_module
from costlaw.averaging import akaike_weights, check_weights, stacking_weights, weighted_log_median
from costlaw.compare import compare, size_folds
from costlaw.errors import InputError


# leave_size_out -----------------------------------------------------------------------------------------------
def test_size_folds_hold_out_each_size_once(paper_runs):
    folds = size_folds(paper_runs)
    sizes = sorted(paper_runs.train_params.unique())
    assert [f["held_out_params"] for f in folds] == sizes
    held = np.zeros(len(paper_runs), int)
    for f in folds:
        held += f["test"]
        assert f["held_out_params"] not in f["train_sizes"]
        assert sorted(f["train_sizes"] + [f["held_out_params"]]) == sizes
        assert set(paper_runs.train_params[f["test"]]) == {f["held_out_params"]}
    assert np.all(held == 1)   # every run held out exactly once
    assert [f["position"] for f in folds] == ["extrapolation down", "interpolation", "extrapolation up"]
    assert size_folds(paper_runs[paper_runs.train_params < sizes[-1]]) == []   # two sizes: nothing to hold out


def test_leave_size_out_never_trains_on_the_held_out_size(paper_runs, monkeypatch):
    seen = []
    real = compare_module._heldout

    def spy(train, test, form, loss, n_boot, seed):
        seen.append((set(train.train_params), set(test.train_params)))
        return real(train, test, form, loss, n_boot, seed)
    monkeypatch.setattr(compare_module, "_heldout", spy)
    table = compare(paper_runs, ["offset_exp"], protocols=("leave_size_out",), n_boot=5)
    assert len(seen) == 3
    for train, test in seen:
        assert len(test) == 1 and not (train & test) and len(train) == 2
    per_size = table[table.protocol.str.match(r"^leave_size_out@[^:]+$")]
    assert len(per_size) == 3 and set(per_size.held_out) == set(paper_runs.train_model)
    pooled = table[table.protocol == "leave_size_out"].iloc[0]
    assert pooled.n_heldout == len(paper_runs) == per_size.n_heldout.sum()
    # pooled RMSE and coverage are those of every held-out run, i.e. the run-weighted folds
    mse = np.sum(per_size.heldout_rmse ** 2 * per_size.n_heldout) / per_size.n_heldout.sum()
    assert pooled.heldout_rmse == pytest.approx(np.sqrt(mse))
    assert pooled.coverage == pytest.approx(np.average(per_size.coverage, weights=per_size.n_heldout))


def test_leave_size_out_largest_fold_is_extrapolate_size(paper_runs):
    table = compare(paper_runs, ["offset_exp"], protocols=("extrapolate_size", "leave_size_out"), n_boot=5)
    big = table[table.protocol == "extrapolate_size"].iloc[0]
    fold = table[table.protocol == "leave_size_out@llama2-70b"].iloc[0]
    assert fold.position == "extrapolation up"
    for col in ("n_heldout", "heldout_rmse", "heldout_mae", "coverage"):
        assert fold[col] == pytest.approx(big[col])


def test_shipped_size_table_picks_the_pooled_winner():
    from costlaw.planner.forms import SIZE_HELDOUT, compare_rows, default_size_form
    rows = [r for r in compare_rows(SIZE_HELDOUT) if r["protocol"] == "leave_size_out"]
    assert len(rows) == 3
    best = min(rows, key=lambda r: float(r["heldout_rmse"]))["form"]
    assert default_size_form() == f"{best}_size"


# stacking -----------------------------------------------------------------------------------------------------
def test_stacking_recovers_a_convex_combination():
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, 200))
    y = 0.3 * a + 0.7 * b
    w = stacking_weights(np.column_stack([a, b, c]), y)
    assert w.sum() == pytest.approx(1) and np.all(w >= 0)
    assert w == pytest.approx([0.3, 0.7, 0.0], abs=1e-5)


def test_stacking_two_forms_matches_the_closed_form():
    rng = np.random.default_rng(1)
    y = rng.normal(size=300)
    a, b = y + rng.normal(0, 0.5, 300), y + rng.normal(0, 1.0, 300) + 0.2
    w = stacking_weights(np.column_stack([a, b]), y)
    closed = -np.dot(b - y, a - b) / np.dot(a - b, a - b)
    assert w[0] == pytest.approx(np.clip(closed, 0, 1), abs=1e-5)
    assert w[0] > w[1]          # the form with the smaller held-out error gets more weight


def test_stacking_weights_follow_the_heldout_scores_in_the_shipped_tables():
    from costlaw.planner.forms import FORM_LOO, compare_rows
    rows = [r for r in compare_rows(FORM_LOO) if r["protocol"] == "loo"]
    w = {r["form"]: float(r["stack_weight"]) for r in rows}
    rmse = {r["form"]: float(r["heldout_rmse"]) for r in rows}
    assert sum(w.values()) == pytest.approx(1)
    assert max(w, key=w.get) == min(rmse, key=rmse.get)


def test_compare_stacking_column_equals_stacking_of_loo_predictions(paper_runs):
    from costlaw.compare import leave_one_out
    from costlaw.fitting import fit
    forms = ["offset_exp", "power"]
    table = compare(paper_runs, forms, protocols=("loo",))
    loo = {f: leave_one_out(fit(paper_runs, f, warn=False)) for f in forms}
    expect = stacking_weights(np.column_stack([loo[f].heldout_pred for f in forms]), loo[forms[0]].metric)
    got = table[table.protocol == "loo"].set_index("form").stack_weight[forms].to_numpy()
    assert got == pytest.approx(expect, abs=1e-6)
    assert table[table.protocol == "in_sample"].stack_weight.isna().all()


def test_single_form_table_has_no_stacking_column(paper_runs):
    assert "stack_weight" not in compare(paper_runs, ["offset_exp"], protocols=("loo",)).columns


def test_bad_stacking_inputs():
    with pytest.raises(InputError):
        stacking_weights(np.ones((3, 2)), np.ones(4))
    with pytest.raises(InputError):
        check_weights({"a": 0.5, "b": 0.6})
    with pytest.raises(InputError):
        check_weights({"a": -0.1, "b": 1.1})


def test_akaike_weights_and_weighted_median():
    w = akaike_weights([100.0, 102.0, 110.0])
    assert w.sum() == pytest.approx(1) and w[0] / w[1] == pytest.approx(np.e)
    assert weighted_log_median([2.0, 10.0, np.inf], [0.3, 0.3, 0.4]) == 10.0
    assert weighted_log_median([2.0, 10.0, np.inf], [0.6, 0.0, 0.4]) == 2.0
    assert weighted_log_median([2.0, 10.0, np.inf], [0.1, 0.0, 0.9]) == np.inf
