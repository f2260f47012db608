import json

import numpy as np
import pandas as pd
import pytest

from costlaw import available_forms, fit, get_form
from costlaw.curves import exp_shape, logistic_shape, power_shape
from costlaw.fitting import CurveFit


@pytest.mark.parametrize("shape", [lambda f: exp_shape(f, 7.0), lambda f: exp_shape(f, -3.0),
                                   lambda f: power_shape(f, 0.5, -1.5), lambda f: logistic_shape(f, -2.0, 1.5)])
def test_shapes_are_anchored(shape):
    assert shape(np.array([1.0]))[0] == pytest.approx(1.0)
    assert abs(shape(np.array([1e-12]))[0]) < 1e-3
    f = np.geomspace(1e-3, 1, 50)
    assert np.all(np.diff(shape(f)) > 0)


def test_unknown_form_lists_available():
    with pytest.raises(KeyError, match="available: .*offset_exp"):
        get_form("cubic")


def test_offset_form_shares_levels(paper_runs):
    summary = fit(paper_runs, "offset_exp").summary()
    per_panel = summary.groupby(["task", "train_model"])[["P0", "Pfull"]].nunique()
    assert (per_panel == 1).all().all()
    assert summary.groupby(["task", "train_model"]).k.nunique().eq(5).all()


def test_offset_form_beats_paper_in_sample_with_fewer_params(paper_runs):
    paper, offset = fit(paper_runs, "paper"), fit(paper_runs, "offset_exp")
    assert offset.n_params < paper.n_params
    assert offset.aic < paper.aic
    assert paper.rmse == pytest.approx(0.45, abs=0.01)


def test_recovers_known_parameters():
    rng = np.random.default_rng(0)
    rows = []
    for method, k in (("random", 2.0), ("bm25", 12.0)):
        for f in (0.025, 0.05, 0.1, 0.25, 0.5, 1.0):
            metric = 40 + 5 * exp_shape(f, k) + rng.normal(0, 0.01)
            rows.append(dict(task="t", train_model="m", train_params=1e9, method=method, selector_params=0,
                             fraction=f, pool_tokens=1e6, selection_flops=0.0, train_flops=6e15 * f,
                             total_flops=6e15 * f, metric=metric))
    result = fit(pd.DataFrame(rows), "offset_exp").summary().set_index("method")
    assert result.loc["bm25", "k"] == pytest.approx(12.0, rel=0.1)
    assert result.loc["random", "k"] == pytest.approx(2.0, rel=0.1)
    assert result.P0.iloc[0] == pytest.approx(40, abs=0.1) and result.Pfull.iloc[0] == pytest.approx(45, abs=0.05)


@pytest.mark.parametrize("form", ["offset_exp", "paper", "offset_exp_size"])
def test_json_round_trip_predicts_the_same(paper_runs, form):
    fitted = fit(paper_runs, form)
    loaded = CurveFit.from_json(fitted.to_json())
    assert np.allclose(loaded.predict(paper_runs), fitted.predict(paper_runs))
    json.loads(fitted.to_json())


def test_size_form_forecasts_unseen_size_but_per_panel_form_refuses(paper_runs):
    new = paper_runs[paper_runs.train_model == "llama2-13b"].assign(train_model="llama2-34b", train_params=34e9)
    sized = fit(paper_runs, "offset_exp_size").predict(new)
    assert np.all(np.isfinite(sized))
    with pytest.raises(KeyError, match="does not model size"):
        fit(paper_runs, "offset_exp").predict(new)


def test_every_registered_form_fits(paper_runs):
    from costlaw.curves import get_form
    from costlaw.errors import InputError
    sub = paper_runs[paper_runs.task == "mmlu"]
    for name in available_forms():
        if get_form(name).higher_is_better is False:  # loss forms (decreasing): tests/test_loss_forms.py
            continue
        try:
            fitted = fit(sub, name)
        except InputError as err:  # a form that needs a column these runs lack (e.g. base_metric) says so
            assert "column" in str(err), name
            continue
        assert fitted.converged_ and fitted.rmse < 1.5, name


@pytest.mark.parametrize("form", ["paper", "offset_exp"])
def test_negative_metrics_fit(paper_runs, form):
    """Log-likelihood metrics are negative: every form must still fit (the paper's P0 >= 0 bound cannot hold)."""
    runs = paper_runs[paper_runs.task == "mmlu"].assign(metric=lambda d: d.metric - 100.0)
    fitted = fit(runs, form)
    shifted = fit(paper_runs[paper_runs.task == "mmlu"], "offset_exp")
    assert fitted.rmse < 1.0
    if form == "offset_exp":
        assert fitted.rmse == pytest.approx(shifted.rmse, rel=1e-3)


def _selector_runs(slope):
    rows = []
    for selector_params, k in ((1e8, 8.0 - slope), (1e9, 8.0), (1e10, 8.0 + slope)):
        for f in (0.025, 0.05, 0.1, 0.25, 0.5, 1.0):
            sel_flops = 2 * selector_params * 1e6
            rows.append(dict(task="t", train_model="m", train_params=1e9, method="ppl", selector_params=selector_params,
                             fraction=f, pool_tokens=1e6, selection_flops=sel_flops, train_flops=6e15 * f,
                             total_flops=sel_flops + 6e15 * f, metric=40 + 5 * exp_shape(f, k)))
    return pd.DataFrame(rows)


def test_selector_size_form_recovers_quality_slope():
    fitted = fit(_selector_runs(5.0), "offset_exp_selector")
    slope = fitted.params_[(fitted.params_.param == "k") & (fitted.params_.kind == "slope")].value.iloc[0]
    assert slope == pytest.approx(5.0, rel=1e-3) and not fitted.messages_
    grid = _selector_runs(5.0).iloc[:6].assign(selector_params=3e9)
    smaller = grid.assign(selector_params=3e8)
    assert (fitted.predict(grid)[:3] > fitted.predict(smaller)[:3]).all()  # a smaller selector ranks worse


def test_selector_size_not_identifiable_on_paper_runs(paper_runs):
    fitted = fit(paper_runs, "offset_exp_selector")
    assert len(fitted.messages_) == 30 and all("not identifiable" in m for m in fitted.messages_)
    assert fitted.n_params == fit(paper_runs, "offset_exp").n_params
    assert fitted.rmse == pytest.approx(fit(paper_runs, "offset_exp").rmse, rel=1e-6)
