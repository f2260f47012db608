"""Form uncertainty of plans: the best plan under each shipped per-panel form, the default form by held-out
(leave-one-out) error, and a verdict that says when the forms disagree."""
import numpy as np
import pandas as pd
import pytest

from costlaw.forecast import fit_groups
from costlaw.planner import DEFAULT_FITS, Problem, breakeven_map, plan, plan_budgets, tipping_point
from costlaw.planner.forms import (PANEL_FORMS, SIZE_FORMS, default_form, default_size_form, form_loo,
                                   same_winner, shipped_form_fits, size_heldout,
                                   within_margin, near_tie)

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
    assert list(p.form_spread.form) == list(SIZE_FORMS) and p.form_basis == "leave_size_out"
    assert p.form == default_size_form() == p.default_form == size_heldout().idxmin()
    assert DEFAULT_FITS == f"paper_{default_size_form()}"
    assert p.fit_kind.startswith("size model")
    assert p.form_spread.method.notna().all() and p.form_spread["default"].sum() == 1
    assert "best plan under each size model" in p.format()


def test_default_size_form_follows_the_heldout_table():
    table = pd.DataFrame({"form": ["offset_exp", "power", "logistic", "offset_exp"],
                          "protocol": ["leave_size_out"] * 3 + ["loo"], "heldout_rmse": [0.9, 1.5, 0.7, 0.1]})
    assert default_size_form(table) == "logistic_size"


def test_sweep_carries_the_form_spread_at_every_budget():
    budgets = np.geomspace(1e17, 1e20, 7)
    sweep = plan_budgets(budgets, **ARGS)
    table = sweep.summary()
    forms = sweep.forms_table()
    assert len(forms) == 4 * len(budgets) and set(forms.form) == set(PANEL_FORMS) | {"average"}
    forms = forms[forms.form != "average"]
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
        assert row.metric_pred_average == pytest.approx(alone.average_row["metric_pred"])
    assert "pick the same winner at" in sweep.forms_agreement()


def test_sweep_marks_budgets_where_forms_disagree(tmp_path):
    sweep = plan_budgets(np.geomspace(3e17, 3e19, 9), 30e9, 1.0938e8, task="mmlu")
    table = sweep.summary()
    split = table[table.forms_agree == False]  # noqa: E712
    assert len(split)   # 30B: the size models pick different winners
    for p in sweep.plans:
        if p.same_winner_across_forms is False:  # near tie -> indistinguishable, else the answer depends on the form
            assert p.verdict == ("indistinguishable" if all(r["others_within_margin"] for r in p.spread_rows)
                                 else "depends on the form")
    # here the picks differ by hundredths of a point against a ~1-point margin: indistinguishable, not form-dependent
    assert (split.verdict == "indistinguishable").all()
    assert (table[table.forms_agree == True].verdict != "depends on the form").all()  # noqa: E712
    sweep.plot(tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").stat().st_size > 0
    # with a margin far below the picks' differences the same budgets depend on the form
    tight = plan_budgets(np.geomspace(3e17, 3e19, 9), 30e9, 1.0938e8,
                         problem=Problem(30e9, 1.0938e8, "mmlu", margin=1e-4))
    split = tight.summary()[tight.summary().forms_agree == False]  # noqa: E712
    assert len(split) and (split.verdict == "depends on the form").all()
    assert "the verdict is 'depends on the form'" in tight.forms_agreement()


def test_near_tie_needs_every_form_to_score_every_pick_within_its_margin():
    rows = [{"method": "a", "selector_params": 0.0, "metric_pred": 50.0, "affordable": True},
            {"method": "b", "selector_params": 0.0, "metric_pred": 49.5, "affordable": True}]
    picks = {("a", 0.0), ("b", 0.0)}
    assert within_margin(rows, rows[0], picks, margin=0.6)
    assert not within_margin(rows, rows[0], picks, margin=0.4)
    assert not within_margin(rows[:1], rows[0], picks, margin=10)     # a pick this form cannot afford
    assert near_tie([{"others_within_margin": True}, {"others_within_margin": True}])
    assert not near_tie([{"others_within_margin": True}, {"others_within_margin": False}])
    assert not near_tie([])


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
    assert set(forms.form) == set(SIZE_FORMS) | {"average"} and len(forms) == 4 * len(sweep)
    assert {"best_average", "metric_pred_average"} <= set(sweep) and "average" in proc.stdout
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


# ---------------------------------------------------------------------------------------------------------------
# lower-is-better metrics (losses): the planner minimises them

def _loss_runs():
    from test_loss_forms import loss_runs
    return loss_runs()


@pytest.mark.filterwarnings("ignore::costlaw.errors.CostlawWarning")
def test_plan_on_a_loss_mirrors_the_plan_on_its_negation():
    """offset_exp is closed under negating the metric, so a loss table and the same table negated (higher is
    better) must give the same plan, with metric, intervals and full-pool cap mirrored."""
    runs = _loss_runs()
    runs = runs[runs.train_model == "m3b"]
    score = runs.assign(metric=-runs.metric, higher_is_better=True)
    loss_fit, score_fit = fit_groups(runs, "offset_exp", n_boot=20), fit_groups(score, "offset_exp", n_boot=20)
    sel = "random bm25 ppl:1e9"
    for budget in (3e16, 3e17, 3e18):
        lo_plan = plan(budget, 3e9, 1e8, selectors=sel, fits=loss_fit, gain=0.05)
        hi_plan = plan(budget, 3e9, 1e8, selectors=sel, fits=score_fit, gain=0.05)
        a, b = lo_plan.summary(), hi_plan.summary()
        assert list(a.method) == list(b.method) and not lo_plan.higher_is_better
        assert np.allclose(a.fraction, b.fraction, rtol=1e-6, equal_nan=True)
        assert np.allclose(a.metric_pred, -b.metric_pred, atol=2e-3, equal_nan=True)
        assert np.allclose(a.metric_lo, -b.metric_hi, atol=5e-3, equal_nan=True)
        assert np.allclose(a.lead_over_next, b.lead_over_next, atol=2e-3, equal_nan=True)
        assert (a.lead_over_next.dropna() >= 0).all() and lo_plan.verdict == hi_plan.verdict
        assert lo_plan.tipping.budget_flops == pytest.approx(hi_plan.tipping.budget_flops, rel=0.2)
        assert "lowers the metric by" in lo_plan.format() and "lower val_loss is better" in lo_plan.format()


@pytest.mark.filterwarnings("ignore::costlaw.errors.CostlawWarning")
def test_loss_plan_is_the_lowest_affordable_prediction_and_never_below_the_full_pool_level():
    runs = _loss_runs()
    boot = fit_groups(runs[runs.train_model == "m7b"], "offset_exp", n_boot=10)
    problem = Problem(7e9, 1e8, "val_loss", "random bm25 ppl:1e9", fits=boot)
    pfull = boot[0].fit.params_.set_index("param").value["Pfull"]
    for budget in (1e17, 1e18, 1e19):
        p = plan(budget, 7e9, 1e8, problem=problem, gain=None)
        table = p.summary()[p.summary().affordable]
        for r in table.itertuples():   # brute force: the lowest predicted loss over the affordable fractions
            top = (budget - r.selection_flops) / problem.full_train_flops
            f = np.geomspace(problem.min_fraction, min(top, 1.0), 4000)
            assert r.metric_pred == pytest.approx(problem.predict(r.method, f).min(), abs=2e-3)
        assert table.metric_pred.iloc[0] == table.metric_pred.min()
        assert (table.metric_pred >= pfull - 1e-9).all()          # the full-pool level is a floor


def test_plan_command_on_a_loss_table(tmp_path, capsys):
    """End to end: `costlaw fit` a loss table with the rectified law, then `costlaw plan --fits`."""
    import json
    from costlaw.cli import main
    path = tmp_path / "runs.csv"
    _loss_runs().to_csv(path, index=False)
    assert main(["fit", str(path), "--form", "rectified", "--out", str(tmp_path / "fit"), "--n-boot", "8"]) == 0
    capsys.readouterr()
    args = ["plan", "--fits", str(tmp_path / "fit"), "--train-params", "3e9", "--pool-tokens", "1e8",
            "--selectors", "random bm25 ppl:1e9"]
    assert main(args + ["--budget", "1e18", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["higher_is_better"] is False and out["best"]["method"] == "ppl"   # the planted lowest loss
    assert all(out["best"]["metric_pred"] <= a["metric_pred"] for a in out["alternatives"])
    assert out["best"]["metric_lo"] <= out["best"]["metric_pred"] <= out["best"]["metric_hi"]
    assert out["best"]["lead_over_next"] > 0 and out["verdict"] == "wins"
    assert main(args + ["--budgets", "1e16:1e19:7", "--map", "--out", str(tmp_path / "plan")]) == 0
    text = capsys.readouterr().out
    assert "lowers the metric by" in text and "lower is better" in text
    sweep = pd.read_csv(tmp_path / "plan" / "plan_sweep.csv")
    assert np.all(np.diff(sweep.metric_pred) <= 1e-9)      # more compute never raises the best loss
    assert (pd.read_csv(tmp_path / "plan" / "breakeven_map.csv").method == "ppl").all()


def test_pilot_anchored_loss_forecast_falls_with_data():
    """Headroom transfer of a loss: the gain (negative) times the headroom to the floor, not its mirror."""
    from costlaw.pilot import PilotTransfer, parse_pilot
    from costlaw.schema import validate_runs
    runs = validate_runs(_loss_runs())
    fractions = np.geomspace(1e-3, 1, 9)
    fc = PilotTransfer(runs, "val_loss").forecast(5e9, [parse_pilot("random:0.025:10")], ["random"], fractions)
    pred = fc.metric_pred.to_numpy()
    assert np.all(np.diff(pred) < 0) and pred[-1] < 10 < pred[0]
    # between the measured neighbours' full-pool losses (3B 3.72, 7B 3.58 on the planted curves)
    m3, m7 = (runs[(runs.train_model == m) & (runs.method == "random") & (runs.fraction == 1)].metric.iloc[0]
              for m in ("m3b", "m7b"))
    assert min(m3, m7) - 0.5 < pred[-1] < max(m3, m7) + 0.5


def test_unmeasured_size_plan_states_the_size_models_heldout_error():
    p = plan(6e18, 30e9, 1.0938e8, task="mmlu", gain=None)
    note = next(n for n in p.notes if n.startswith("size models are rough"))
    from costlaw.planner.forms import SIZE_HELDOUT, compare_rows
    rows = {r["protocol"]: r for r in compare_rows(SIZE_HELDOUT) if f"{r['form']}_size" == p.form}
    fold = rows["leave_size_out@llama2-13b"]       # 30B lies between measured sizes: the interpolation fold
    assert fold["position"] == "interpolation"
    assert f"{float(fold['heldout_rmse']):.2g} points RMSE" in note and "interpolation" in note
    assert f"{size_heldout()[p.form]:.2g} and" in note and "--pilot" in note
    up = next(n for n in plan(6e18, 140e9, 1.0938e8, task="mmlu", gain=None).notes
              if n.startswith("size models are rough"))
    assert f"{float(rows['leave_size_out@llama2-70b']['heldout_rmse']):.2g} points RMSE" in up
    assert "extrapolation up" in up
    assert not any(n.startswith("size models are rough") for n in plan(1.5e19, gain=None, **ARGS).notes)
