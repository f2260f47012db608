import numpy as np
import pandas as pd
import pytest

from costlaw import fit
from costlaw.compare import compare
from costlaw.reproduce import breakeven_with_intervals
from costlaw.uncertainty import bootstrap, resample


@pytest.fixture(scope="module")
def mmlu7(paper_runs):
    return paper_runs[paper_runs.task == "mmlu"]


def test_resample_keeps_curve_sizes(paper_runs):
    sample = resample(paper_runs, np.random.default_rng(1))
    assert sample.groupby(["task", "train_model", "method"]).size().eq(6).all()
    assert sample.index.duplicated().any()  # with replacement


def test_bootstrap_is_seeded_and_brackets_the_estimate(mmlu7):
    fitted = fit(mmlu7, "offset_exp")
    a = bootstrap(fitted, n_boot=12, seed=3).params()
    b = bootstrap(fitted, n_boot=12, seed=3).params()
    pd.testing.assert_frame_equal(a, b)
    assert (a.lo <= a.hi).all() and (a.se >= 0).all()
    levels = a[a.param.isin(["P0", "Pfull"])]
    assert ((levels.lo <= levels.value + 0.3) & (levels.value - 0.3 <= levels.hi)).all()


def test_prediction_interval_is_wider_than_confidence_interval(mmlu7):
    boot = bootstrap(fit(mmlu7, "offset_exp"), n_boot=15, seed=0)
    band = boot.predict(mmlu7)
    assert (band.pred_hi - band.pred_lo).mean() > (band.hi - band.lo).mean()
    assert (band.lo <= band.hi).all() and (band.pred_lo <= band.pred_hi).all()
    inside = (mmlu7.metric.to_numpy() >= band.pred_lo) & (mmlu7.metric.to_numpy() <= band.pred_hi)
    assert 0.6 < inside.mean() <= 1.0


def test_breakeven_intervals_contain_point(mmlu7):
    table = breakeven_with_intervals(fit(mmlu7, "offset_exp"), n_boot=8)
    assert {"ratio_lo", "ratio_hi", "p_win", "verdict", "margin"} <= set(table.columns)
    finite = table[np.isfinite(table.ratio)]
    assert (finite.ratio_lo <= finite.ratio_hi).all()
    assert (table.train_model == "pooled").sum() == 2 * 4  # four definitions, ppl and less


def test_compare_protocols(mmlu7):
    table = compare(mmlu7, forms=("paper", "offset_exp"), n_boot=5,
                    protocols=("extrapolate_fraction", "extrapolate_size"))
    assert set(table.protocol) >= {"in_sample", "extrapolate_fraction", "extrapolate_size", "extrapolate_size:mmlu"}
    row = table[(table.protocol == "extrapolate_fraction")]
    assert (row.n_heldout == 30).all()  # fractions 0.5 and 1.0 of 3 sizes x 5 methods
    assert (table.heldout_rmse >= 0).all() and table.coverage.between(0, 1).all()
    sized = table[table.protocol == "extrapolate_size"]
    assert (sized.heldout_rmse > 1.0).all()  # 7B and 13B do not pin down 70B's level
