"""Form uncertainty of plans: the best plan under each shipped per-panel form, the default form by held-out
(leave-one-out) error, and a verdict that says when the forms disagree."""
import numpy as np
import pandas as pd
import pytest

from costlaw.forecast import fit_groups
from costlaw.planner import DEFAULT_FITS, Problem, breakeven_map, plan, plan_budgets, tipping_point
from costlaw.planner.forms import (PANEL_FORMS, SIZE_FORMS, default_form, default_size_form, form_loo,
                                   same_winner, shipped_form_fits, size_heldout)

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


def test_unmeasured_size_spread_uses_the_size_models():
    """At an unmeasured size the spread is over the shipped size models, the default the held-out winner."""
    p = plan(1.5e19, 30e9, 1.0938e8, task="mmlu", gain=None)
    assert list(p.form_spread.form) == list(SIZE_FORMS) and p.form_basis == "extrapolate_size"
    assert p.form == default_size_form() == p.default_form == size_heldout().idxmin()
    assert DEFAULT_FITS == f"paper_{default_size_form()}"
    assert p.fit_kind.startswith("size model")
    assert p.form_spread.method.notna().all() and p.form_spread["default"].sum() == 1
    assert "best plan under each size model" in p.format()


def test_default_size_form_follows_the_heldout_table():
    table = pd.DataFrame({"form": ["offset_exp", "power", "logistic", "offset_exp"],
                          "protocol": ["extrapolate_size"] * 3 + ["loo"], "heldout_rmse": [0.9, 1.5, 0.7, 0.1]})
    assert default_size_form(table) == "logistic_size"


def test_sweep_carries_the_form_spread_at_every_budget():
    budgets = np.geomspace(1e17, 1e20, 7)
    sweep = plan_budgets(budgets, **ARGS)
    table = sweep.summary()
    forms = sweep.forms_table()
    assert len(forms) == 3 * len(budgets) and set(forms.form) == set(PANEL_FORMS)
    for b, g in forms.groupby("budget_flops"):
        row = table[table.budget_flops == b].iloc[0]
        # each budget's spread is that budget's plan under each form, solved on its own
        alone = plan(b, gain=None, **ARGS)
        pd.testing.assert_frame_equal(g.drop(columns="budget_flops").reset_index(drop=True), alone.form_spread)
        assert row.forms_agree == same_winner(alone.form_spread)
        assert row.verdict == alone.verdict
        assert row.metric_pred_forms_min == pytest.approx(g.metric_pred.min())
        assert row.metric_pred_forms_max == pytest.approx(g.metric_pred.max())
        assert row.metric_pred_forms_min <= row.metric_pred <= row.metric_pred_forms_max
    assert "pick the same winner at" in sweep.forms_agreement()


def test_sweep_marks_budgets_where_forms_disagree(tmp_path):
    sweep = plan_budgets(np.geomspace(3e17, 3e19, 9), 30e9, 1.0938e8, task="mmlu")
    table = sweep.summary()
    split = table[table.forms_agree == False]  # noqa: E712
    assert len(split) and (split.verdict == "depends on the form").all()   # 30B: the size models disagree
    assert (table[table.forms_agree == True].verdict != "depends on the form").all()  # noqa: E712
    sweep.plot(tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").stat().st_size > 0


def test_breakeven_map_per_form():
    budgets = np.geomspace(3e17, 1e19, 5)
    bmap = breakeven_map(budgets, 70e9, 1.0938e8, task="mmlu", n_tasks_values=(1, 10))
    t = bmap.table
    assert bmap.forms == list(PANEL_FORMS) and bmap.default_form == default_form()
    cols = [f"ratio_{f}" for f in PANEL_FORMS]
    assert np.array_equal(t[f"ratio_{bmap.default_form}"], t.ratio)
    for form in PANEL_FORMS:  # each form's column is that form's own map
        alone = breakeven_map(budgets, 70e9, 1.0938e8, task="mmlu", n_tasks_values=(1, 10),
                              fits=shipped_form_fits()[form], forms=False).table
        assert np.allclose(alone.ratio, t[f"ratio_{form}"], rtol=1e-9) or \
            np.array_equal(alone.ratio, t[f"ratio_{form}"])
    assert (t.ratio_forms_min == t[cols].min(axis=1)).all() and (t.ratio_forms_max == t[cols].max(axis=1)).all()
    inside = (t[cols].ge(t.ratio_lo * (1 - 1e-9), axis=0) & t[cols].le(t.ratio_hi * (1 + 1e-9), axis=0)).all(axis=1)
    assert (t.forms_agree == inside).all()
    assert set(t.verdict[~t.forms_agree]) <= {"depends on the form"}
    assert set(t.verdict[t.forms_agree]) <= {"same under every form"}
    assert not t.forms_agree.all() and t.forms_agree.any()   # on these budgets some cells hinge on the form


def test_tipping_point_per_form():
    p = plan(1.5e19, gain=0.1, **ARGS)
    tip = p.tipping
    assert set(tip.by_form) == set(PANEL_FORMS) and tip.default_form == default_form()
    assert tip.by_form[tip.default_form]["budget_flops"] == tip.budget_flops
    for form in PANEL_FORMS:
        alone = tipping_point(Problem(**ARGS, fits=shipped_form_fits()[form]), 0.1, 1.5e19)
        assert tip.by_form[form]["budget_flops"] == pytest.approx(alone.budget_flops)
    values = [v["budget_flops"] for v in tip.by_form.values()]
    assert tip.forms_agree == all(tip.budget_lo <= v <= tip.budget_hi for v in values)
    assert "under each form" in tip.describe() and p.to_dict()["tipping"]["by_form"]


def test_plan_command_sweep_and_map_write_the_form_spread(tmp_path):
    import subprocess
    import sys
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-m", "costlaw.cli", "plan", "--budgets", "3e17:3e19:5", "--train-params",
                           "30e9", "--pool-tokens", "1.0938e8", "--task", "mmlu", "--map", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "pick the same winner at" in proc.stdout and "verdict" in proc.stdout
    assert "under each form" in proc.stdout and "inside the default form's interval" in proc.stdout
    sweep = pd.read_csv(out / "plan_sweep.csv")
    assert {"verdict", "forms_agree", "best_by_form", "metric_pred_forms_min", "metric_pred_forms_max"} <= set(sweep)
    forms = pd.read_csv(out / "plan_sweep_forms.csv")
    assert set(forms.form) == set(SIZE_FORMS) and len(forms) == 3 * len(sweep)
    bmap = pd.read_csv(out / "breakeven_map.csv")
    assert {f"ratio_{f}" for f in SIZE_FORMS} <= set(bmap) and {"forms_agree", "verdict"} <= set(bmap)
    assert (out / "plan_sweep.png").exists() and (out / "breakeven_map.png").exists()


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
