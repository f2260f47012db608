"""Form uncertainty of plans: the best plan under each shipped per-panel form, the default form by held-out
(leave-one-out) error, and a verdict that says when the forms disagree."""
import numpy as np
import pandas as pd
import pytest

from costlaw.forecast import fit_groups
from costlaw.planner import Problem, plan
from costlaw.planner.forms import PANEL_FORMS, default_form, form_loo, same_winner

ARGS = dict(train_params=70e9, pool_tokens=1.0938e8, task="mmlu")


def test_spread_at_measured_size_has_three_forms():
    p = plan(1.5e19, gain=None, **ARGS)
    spread = p.form_spread
    assert list(spread.form) == list(PANEL_FORMS)
    assert spread.method.notna().all() and (spread.metric_lo <= spread.metric_pred).all()
    assert (spread.metric_pred <= spread.metric_hi).all()
    loo = form_loo()
    assert p.default_form == loo.idxmin() == default_form()          # the default is the held-out winner
    assert spread["default"].sum() == 1
    # the default form's row is the plan itself
    row = spread[spread.form == p.form].iloc[0]
    assert row.method == p.best["method"] and row.metric_pred == pytest.approx(p.best["metric_pred"])
    d = p.to_dict()
    assert len(d["form_spread"]) == 3 and d["default_form"] == p.default_form
    assert d["same_winner_across_forms"] == same_winner(spread)
    assert "form spread" in p.format()


def test_default_form_follows_the_loo_table():
    table = pd.DataFrame({"form": ["offset_exp", "power", "logistic"], "protocol": "loo",
                          "heldout_rmse": [0.9, 0.5, 0.7]})
    assert default_form(table) == "power"


def test_unmeasured_size_says_spread_unavailable():
    p = plan(1.5e19, 30e9, 1.0938e8, task="mmlu", gain=None)
    assert p.form_spread is None and "not available" in p.form_spread_note
    assert "form spread: not available" in p.format()


@pytest.mark.filterwarnings("ignore::costlaw.errors.CostlawWarning")  # the lifted fit has a rate at a bound
def test_forms_that_disagree_make_the_verdict_form_dependent(paper_runs):
    panel = paper_runs[(paper_runs.task == "mmlu") & np.isclose(paper_runs.train_params, 70e9)]
    # a constructed second "form": random selection made 3 points better, so random wins under it
    lifted = panel.assign(metric=np.where(panel.method == "random", panel.metric + 3.0, panel.metric))
    fits = {"offset_exp": fit_groups(panel, "offset_exp", n_boot=4),
            "lifted": fit_groups(lifted, "offset_exp", n_boot=4)}
    loo = pd.Series({"offset_exp": 0.7, "lifted": 0.8})
    problem = Problem(70e9, 1.0938e8, "mmlu", fits=fits["offset_exp"])
    p = plan(1.5e19, 70e9, 1.0938e8, gain=None, problem=problem, form_fits=fits, form_loo=loo)
    assert p.form_spread.set_index("form").loc["lifted", "method"] == "random"
    assert p.form_spread.set_index("form").loc["offset_exp", "method"] != "random"
    assert p.same_winner_across_forms is False and p.verdict == "depends on the form"
    assert p.default_form == "offset_exp"
    assert "depends on the form" in p.format()
    # the same forms agreeing: the verdict is the usual one
    same = plan(1.5e19, 70e9, 1.0938e8, gain=None, problem=problem, form_fits={"a": fits["offset_exp"]},
                form_loo=pd.Series({"a": 0.7}))
    assert same.same_winner_across_forms is True and same.verdict != "depends on the form"
