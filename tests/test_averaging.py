"""Held-out protocol ``leave_size_out`` and model averaging across forms (``costlaw.averaging``)."""
import numpy as np
import pandas as pd
import pytest

from costlaw import compare as compare_module
from costlaw.averaging import AveragedFit, akaike_weights, check_weights, stacking_weights
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
    """The largest size's fold is extrapolate_size (compare fits it once for both): asked together, each protocol
    gives what it gives alone."""
    table = compare(paper_runs, ["offset_exp"], protocols=("extrapolate_size", "leave_size_out"), n_boot=5)
    big = table[table.protocol == "extrapolate_size"].iloc[0]
    fold = table[table.protocol == "leave_size_out@llama2-70b"].iloc[0]
    assert fold.position == "extrapolation up"
    for col in ("n_heldout", "heldout_rmse", "heldout_mae", "coverage"):
        assert fold[col] == pytest.approx(big[col])
    alone = pd.concat([compare(paper_runs, ["offset_exp"], protocols=(p,), n_boot=5)
                       for p in ("extrapolate_size", "leave_size_out")])
    alone = alone[alone.protocol != "in_sample"].set_index("protocol")
    together = table[table.protocol != "in_sample"].set_index("protocol").loc[alone.index, alone.columns]
    pd.testing.assert_frame_equal(together, alone)


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


def test_akaike_weights():
    w = akaike_weights([100.0, 102.0, 110.0])
    assert w.sum() == pytest.approx(1) and w[0] / w[1] == pytest.approx(np.e)


# the model-averaged break-even (reproduce's forms.csv) ----------------------------------------------------------
@pytest.fixture(scope="module")
def mmlu_fits(paper_runs):
    """offset_exp and power fitted to the MMLU runs (three panels: a small case)."""
    from costlaw.fitting import fit
    runs = paper_runs[paper_runs.task == "mmlu"].reset_index(drop=True)
    return {name: fit(runs, name, warn=False) for name in ("offset_exp", "power")}


def test_averaged_breakeven_with_weight_one_is_that_forms(mmlu_fits):
    from costlaw import breakeven as be
    from costlaw.reproduce import SPREAD_DEFINITIONS, averaged_ratios
    for name, f in mmlu_fits.items():
        avg = AveragedFit(mmlu_fits, {name: 1.0})
        assert list(avg.fits) == [name]
        got = be.breakeven_table(avg, margin_table=avg.margin_table())
        own = be.breakeven_table(f)
        assert set(got.form) == {"average"}
        pd.testing.assert_frame_equal(got.drop(columns="form"), own.drop(columns="form"))
        pooled = own[(own.task == "all") & own.definition.isin(SPREAD_DEFINITIONS)]
        assert averaged_ratios(mmlu_fits, {name: 1.0}) == {
            (d, m): r for d, m, r in zip(pooled.definition, pooled.method, pooled.ratio)}
        # a given margin is used as given, as for one form
        got = be.breakeven_table(avg, margin_table=avg.margin_table(0.1))
        pd.testing.assert_frame_equal(got.drop(columns="form"), be.breakeven_table(f, margin=0.1).drop(columns="form"))


def test_averaged_breakeven_is_that_of_the_averaged_curves_by_hand(mmlu_fits):
    """Two forms at 0.6 / 0.4: each panel's curves averaged by hand, the margin the weighted mean of the forms',
    the shrink break-even solved on them (Contest, selector cost lines) equals the average's table."""
    from dataclasses import replace

    from costlaw import breakeven as be
    from costlaw.frontier import CurveGrid
    from costlaw.noise import margin_lookup, margins, panel_noise
    w = {"offset_exp": 0.6, "power": 0.4}
    avg = AveragedFit(mmlu_fits, w)
    runs = avg.runs_
    # predictions are the weighted sums of the forms'
    by_hand = sum(w[k] * f.predict(runs) for k, f in mmlu_fits.items())
    assert np.allclose(avg.predict(runs), by_hand, rtol=0, atol=1e-12)
    grid = CurveGrid(runs, 600)
    curves = {k: grid.curves(f) for k, f in mmlu_fits.items()}
    hand = [replace(a, metric=w["offset_exp"] * a.metric + w["power"] * b.metric)
            for a, b in zip(curves["offset_exp"], curves["power"])]
    m_of = {k: margin_lookup(margins(panel_noise(f))) for k, f in mmlu_fits.items()}
    lines = be.selector_cost_lines(runs, be.BREAKEVEN_METHODS)
    table = be.breakeven_table(avg, margin_table=avg.margin_table())
    panels = table[(table.definition == "shrink") & (table.task != "all")].set_index(["task", "train_model", "method"])
    expected = {}
    for c in hand:
        if c.method not in be.BREAKEVEN_METHODS:
            continue
        others = [o for o in hand if (o.task, o.train_model) == (c.task, c.train_model) and o.method != c.method]
        margin = sum(w[k] * m_of[k][(c.task, c.train_model)] for k in w)
        contest = be.Contest(c, others)
        c0, a, _ = lines[(c.task, c.train_model, c.method)]
        sel_star = contest.threshold(margin)
        ratio = c.train_params * a / (sel_star - c0) if sel_star > c0 else np.inf
        row = panels.loc[(c.task, c.train_model, c.method)]
        assert row.margin == pytest.approx(margin, rel=1e-12)
        assert row.lead_free == pytest.approx(contest.lead([0.0])[0], rel=1e-12)
        assert row.ratio == pytest.approx(ratio, rel=1e-12)
        expected.setdefault(c.method, []).append(ratio)
    assert len(panels) == 6 and sum(map(len, expected.values())) == 6
    pooled = table[(table.definition == "shrink") & (table.task == "all")].set_index("method").ratio
    for method, ratios in expected.items():   # three panels: the median is the middle one
        assert pooled[method] == pytest.approx(sorted(ratios)[1], rel=1e-12)
    # the averaged curves differ from both forms' (a real average, not one form's answer)
    for k, f in mmlu_fits.items():
        own = be.breakeven_table(f)
        assert not np.allclose(table.lead_free.dropna(), own.lead_free.dropna())


def test_averaged_fit_refuses_bad_inputs(mmlu_fits, paper_runs):
    from costlaw.fitting import fit
    with pytest.raises(InputError, match="sum to 1"):
        AveragedFit(mmlu_fits, {"offset_exp": 0.5})
    with pytest.raises(InputError, match="without a fit"):
        AveragedFit(mmlu_fits, {"offset_exp": 0.5, "logistic": 0.5})
    other = fit(paper_runs[paper_runs.task == "bbh"].reset_index(drop=True), "power", warn=False)
    with pytest.raises(InputError, match="other runs"):
        AveragedFit({"offset_exp": mmlu_fits["offset_exp"], "power": other}, {"offset_exp": 0.5, "power": 0.5})
    avg = AveragedFit(mmlu_fits, {"offset_exp": 0.5, "power": 0.5})
    assert avg.n_entries == sum(len(f.x_) for f in mmlu_fits.values())
    with pytest.raises(InputError, match="entries"):
        avg.predict(avg.runs_, np.zeros((2, avg.n_entries - 1)))
    # refit i of the average is refit i of every form: entry vectors side by side
    values = np.vstack([avg.x_, avg.x_])
    assert np.allclose(avg.predict(avg.runs_, values), avg.predict(avg.runs_)[None, :], rtol=0, atol=1e-12)


# intervals of the model-averaged break-even ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def mmlu_boots(mmlu_fits):
    """Each form's bootstrap, 30 refits from seed 3: the same resamples (the runs and the seed decide them)."""
    from costlaw.uncertainty import bootstrap
    return {name: bootstrap(f, n_boot=30, seed=3) for name, f in mmlu_fits.items()}


INTERVAL_COLUMNS = ["ratio", "ratio_lo", "ratio_hi", "ratio_lo_mc", "ratio_hi_mc", "lo_stable", "hi_stable",
                    "p_never", "n_boot", "n_draws"]


def test_averaged_interval_with_weight_one_is_that_forms_interval(mmlu_fits, mmlu_boots):
    """The averaged curves with weight 1 on one form are that form's curves: with its bootstrap (same seed, same
    refits) the average's intervals, Monte Carlo errors, flags and shares of "never" are breakeven_intervals' of
    the form, row for row (per panel and pooled), without a difference."""
    from costlaw import breakeven as be
    from costlaw.averaging import averaged_bootstrap
    for name, f in mmlu_fits.items():
        avg = AveragedFit(mmlu_fits, {name: 1.0})
        boot = averaged_bootstrap(avg, mmlu_boots)
        assert boot.n_boot == 30 and boot.seed == 3
        got = be.breakeven_intervals(avg, n_boot=30, seed=3, boot=boot, margin_table=avg.margin_table())
        own = be.breakeven_intervals(f, n_boot=30, seed=3)          # bootstraps itself: the same resamples
        assert set(got.form) == {"average"} and len(got) == len(own)
        assert got.ratio_lo.notna().sum() >= 6
        pd.testing.assert_frame_equal(got[INTERVAL_COLUMNS], own[INTERVAL_COLUMNS])


def test_averaged_refits_are_the_forms_refits_side_by_side(mmlu_fits, mmlu_boots):
    from costlaw.averaging import averaged_bootstrap
    from costlaw.uncertainty import bootstrap
    avg = AveragedFit(mmlu_fits, {"offset_exp": 0.6, "power": 0.4})
    boot = averaged_bootstrap(avg, mmlu_boots)
    assert boot.values.shape == (30, avg.n_entries)
    for (label, part), b in zip(avg.split(boot.values).items(), mmlu_boots.values()):
        np.testing.assert_array_equal(part, b.values)
    # refit i of the average predicts the weighted sum of the forms' refit i
    runs = avg.runs_
    by_hand = sum(w * mmlu_fits[k].predict(runs, mmlu_boots[k].values) for k, w in avg.weights.items())
    np.testing.assert_allclose(avg.predict(runs, boot.values), by_hand, rtol=0, atol=1e-12)
    # forms drawn otherwise cannot be put side by side
    with pytest.raises(InputError, match="one seed"):
        averaged_bootstrap(avg, {**mmlu_boots, "power": bootstrap(mmlu_fits["power"], n_boot=30, seed=4)})
    with pytest.raises(InputError, match="one seed, one number of refits"):
        averaged_bootstrap(avg, {**mmlu_boots, "power": bootstrap(mmlu_fits["power"], n_boot=20, seed=3)})
    with pytest.raises(InputError, match="no bootstrap of form"):
        averaged_bootstrap(avg, {"offset_exp": mmlu_boots["offset_exp"]})
    with pytest.raises(InputError, match="not of the averaged fit"):
        averaged_bootstrap(avg, {"offset_exp": mmlu_boots["power"], "power": mmlu_boots["power"]})


def test_averaged_interval_holds_the_point_or_shows_the_knife_edge(mmlu_fits, mmlu_boots):
    """Two forms at 0.6 / 0.4: every pooled averaged ratio lies in its interval, or it sits where the refits
    split between finite and "never" (the point is inf while some refits break even, or finite while some
    never do): a knife edge the share p_never shows."""
    from costlaw.reproduce import averaged_intervals, averaged_ratios
    w = {"offset_exp": 0.6, "power": 0.4}
    got = averaged_intervals(mmlu_fits, w, mmlu_boots)
    point = averaged_ratios(mmlu_fits, w)
    assert {(d, m): r for d, m, r in zip(got.definition, got.method, got.ratio)} == point
    assert len(got) == 6 and got.ratio_lo.notna().all() and (got.n_boot == 30).all()
    for r in got.itertuples():
        inside = r.ratio_lo <= r.ratio <= r.ratio_hi
        knife_edge = 0 < r.p_never < 1 and (np.isinf(r.ratio) or np.isinf(r.ratio_hi))
        assert inside or knife_edge, r


# the model-averaged plan ----------------------------------------------------------------------------------------
PLAN7 = dict(train_params=7e9, pool_tokens=1.0938e8, task="mmlu")


def _form_set(budget_kw=PLAN7, weights=None):
    from costlaw.planner import Problem
    from costlaw.planner.forms import form_set
    problem = Problem(budget_kw["train_params"], budget_kw["pool_tokens"], budget_kw["task"])
    return problem, form_set(problem, form_weights=weights)[0]


def test_shipped_weights_are_the_stacking_weights_and_sum_to_one():
    from costlaw.planner.forms import SIZE_FORMS, PANEL_FORMS, stack_weights
    for kind, labels in (("panel", PANEL_FORMS), ("size", SIZE_FORMS), ("pilot", PANEL_FORMS)):
        w = stack_weights(kind=kind)
        assert list(w) == list(labels) and sum(w.values()) == pytest.approx(1)
        assert all(0 <= v <= 1 for v in w.values())
    _, fs = _form_set()
    assert fs.weights == stack_weights()


def test_averaged_curves_are_the_weighted_sum_of_the_forms():
    problem, fs = _form_set()
    avg = fs.averaged
    w = fs.weights
    expect = sum(w[k] * fs.problems[k].curves for k in fs.problems)   # every refit too
    np.testing.assert_allclose(avg.curves, expect, rtol=0, atol=1e-12)
    fracs = np.geomspace(0.01, 1, 13)
    for method in ("random", "bm25", "embed", "ppl"):
        hand = sum(w[k] * fs.problems[k].predict(method, fracs) for k in fs.problems)
        np.testing.assert_allclose(avg.predict(method, fracs), hand, atol=1e-9)


def test_averaged_plan_equals_a_hand_weighted_combination():
    from costlaw.planner import plan
    p = plan(2e18, gain=None, **PLAN7)
    a, w = p.average_row, p.form_weights
    assert a is not None and a["form"] == "average" and sum(w.values()) == pytest.approx(1)
    _, fs = _form_set()
    # its prediction is the weighted sum of each form's prediction of the same plan
    hand = sum(w[k] * fs.problems[k].predict(a["method"], [a["fraction"]])[0] for k in fs.problems)
    assert a["metric_pred"] == pytest.approx(hand, abs=1e-9)
    # and no form's pick does better under the averaged curves
    budget = 2e18
    for r in p.spread_rows:
        frac = r["fraction"]
        assert frac * fs.problems[r["form"]].full_train_flops <= budget
        theirs = sum(w[k] * fs.problems[k].predict(r["method"], [frac])[0] for k in fs.problems)
        assert theirs <= a["metric_pred"] + 1e-6
    # it lies within the forms' spread of predictions for the same plan
    per = [fs.problems[k].predict(a["method"], [a["fraction"]])[0] for k in fs.problems]
    assert min(per) - 1e-9 <= a["metric_pred"] <= max(per) + 1e-9
    assert a["metric_lo"] <= a["metric_pred"] <= a["metric_hi"]


def test_weight_one_on_a_form_gives_that_forms_plan():
    from costlaw.planner import plan
    for form in ("offset_exp", "power"):
        w = {"offset_exp": 0.0, "power": 0.0, "logistic": 0.0, form: 1.0}
        p = plan(2e18, gain=None, form_weights=w, **PLAN7)
        row = next(r for r in p.spread_rows if r["form"] == form)
        for c in ("method", "selector_params", "fraction", "metric_pred", "metric_lo", "metric_hi", "p_best"):
            assert p.average_row[c] == pytest.approx(row[c]) if c != "method" else p.average_row[c] == row[c]


def test_averaging_leaves_the_verdict_and_spread_alone():
    from costlaw.planner import plan
    a = plan(1.5e19, 30e9, 1.0938e8, task="mmlu", gain=None)
    b = plan(1.5e19, 30e9, 1.0938e8, task="mmlu", gain=None,
             form_weights={"offset_exp_size": 1.0, "power_size": 0.0, "logistic_size": 0.0})
    assert a.verdict == b.verdict == "indistinguishable" and a.same_winner_across_forms is False
    strip = lambda rows: [{k: v for k, v in r.items() if k != "weight"} for r in rows]  # noqa: E731
    assert strip(a.spread_rows) == strip(b.spread_rows)
    assert [r["weight"] for r in a.spread_rows] == pytest.approx([0.333, 0.667, 0.0], abs=0.01)
    d = a.to_dict()
    assert d["form_average"]["form"] == "average" and d["form_weights"] == a.form_weights
    assert "averaged over the forms" in a.format() and "stacking weights" in a.format()


def test_bad_weights_are_refused():
    from costlaw.planner import plan
    with pytest.raises(InputError):
        plan(2e18, gain=None, form_weights={"offset_exp": 0.5, "power": 0.6, "logistic": 0.0}, **PLAN7)


def test_sweep_and_map_average_columns():
    from costlaw.planner import breakeven_map, plan, plan_budgets
    budgets = np.geomspace(1e18, 1e20, 4)
    sweep = plan_budgets(budgets, 70e9, 1.0938e8, task="mmlu")
    for r, b in zip(sweep.records(), budgets):
        alone = plan(b, 70e9, 1.0938e8, task="mmlu", gain=None).average_row
        assert r["metric_pred_average"] == pytest.approx(alone["metric_pred"])
        assert r["best_average"].split(":")[0] == alone["method"]
    one = {"offset_exp": 0.0, "power": 1.0, "logistic": 0.0}
    bmap = breakeven_map(budgets, 70e9, 1.0938e8, task="mmlu", form_weights=one)
    for r in bmap.rows:   # all weight on one form: the average's ratio is that form's
        assert r["ratio_average"] == pytest.approx(r["ratio_power"]) or r["ratio_average"] == r["ratio_power"]
    assert bmap.weights == one


def test_tipping_point_of_the_average():
    from costlaw.planner import plan
    p = plan(2e18, **PLAN7)
    one = plan(2e18, form_weights={"offset_exp": 1.0, "power": 0.0, "logistic": 0.0}, **PLAN7)
    assert one.tipping.average["budget_flops"] == pytest.approx(one.tipping.by_form["offset_exp"]["budget_flops"])
    lo = min(v["budget_flops"] for v in p.tipping.by_form.values())
    hi = max(v["budget_flops"] for v in p.tipping.by_form.values())
    assert p.tipping.average is not None and lo / 2 <= p.tipping.average["budget_flops"] <= 2 * hi
    assert "model average" in p.tipping.describe()


# plan --pilot with a form spread --------------------------------------------------------------------------------
def test_pilot_plan_has_a_form_spread_and_average():
    from costlaw.pilot import Pilot
    from costlaw.planner import Problem, plan
    from costlaw.planner.forms import PANEL_FORMS, form_set, pilot_errors, stack_weights
    problem = Problem(34e9, 1.0938e8, "mmlu", pilots=[Pilot("random", 0.025, 60.1)], n_grid=200)
    p = plan(1e19, 34e9, 1.0938e8, "mmlu", problem=problem, gain=None)
    assert p.form_basis == "pilot" and list(p.form_spread.form) == list(PANEL_FORMS)
    err = pilot_errors()
    assert p.default_form == min(err, key=err.get)       # the held-out winner among pilot forecasts
    own = problem.form.name[:-len("_size")]
    row = next(r for r in p.spread_rows if r["form"] == own)    # the plan's own form's row is the plan itself
    assert row["method"] == p.best["method"] and row["metric_pred"] == pytest.approx(p.best["metric_pred"])
    fs = form_set(problem)[0]
    for label, q in fs.problems.items():   # each form: a pilot-anchored forecast with that form's gains
        assert q.pilots == problem.pilots and q.fit_kind.startswith("pilot-anchored")
        assert f"per-panel {label} fits" in q.fit_kind
        assert q.predict("random", [0.025])[0] == pytest.approx(60.1, abs=0.05)   # every form anchored on the pilot
    w = stack_weights(kind="pilot")
    assert p.form_weights == w and [r["weight"] for r in p.spread_rows] == [w[f] for f in PANEL_FORMS]
    a = p.average_row
    hand = sum(w[k] * fs.problems[k].predict(a["method"], [a["fraction"]])[0] for k in fs.problems)
    assert a["metric_pred"] == pytest.approx(hand, abs=1e-9)
    assert "averaged over the forms (stacking weights from pilot forecasts" in p.format()
    assert p.verdict in ("wins", "indistinguishable", "depends on the form")
    assert p.same_winner_across_forms == (len({(r["method"], r["selector_params"]) for r in p.spread_rows}) == 1)


def test_shipped_pilot_forms_heldout_is_fresh(paper_runs):
    """Fails when fits/paper_pilot_forms_heldout (the default and weights of pilot plans' form spread) is stale:
    regenerate with the command in fits/README.md."""
    from costlaw.compare import pilot_predictions
    from costlaw.planner.forms import PANEL_FORMS, pilot_errors, stack_weights
    preds = {f: pilot_predictions(paper_runs, f) for f in PANEL_FORMS}
    keys, _, truth = preds[PANEL_FORMS[0]]
    assert all(np.array_equal(k, keys) and np.array_equal(t, truth) for k, _, t in preds.values())
    rmse = {f: float(np.sqrt(np.mean((p - truth) ** 2))) for f, (_, p, _) in preds.items()}
    assert pilot_errors() == pytest.approx(rmse, rel=1e-6)     # the @every rows score exactly these forecasts
    fresh = stacking_weights(np.column_stack([preds[f][1] for f in PANEL_FORMS]), truth)
    assert list(stack_weights(kind="pilot").values()) == pytest.approx(list(fresh), abs=1e-6)


def test_pilot_plan_command_json_has_the_spread(capsys):
    import json
    from costlaw.cli import main
    assert main(["plan", "--budget", "1e19", "--train-params", "34e9", "--pool-tokens", "1.0938e8", "--task", "mmlu",
                 "--pilot", "random:0.025:60.1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["form_basis"] == "pilot" and len(data["form_spread"]) == 3
    assert data["form_average"]["form"] == "average" and sum(data["form_weights"].values()) == pytest.approx(1)


def test_leave_size_out_needs_three_sizes_cli(tmp_path, paper_runs, capsys):
    from costlaw.cli import main
    two = tmp_path / "two.csv"
    paper_runs[paper_runs.train_params < paper_runs.train_params.max()].to_csv(two, index=False)
    code = main(["compare", str(two), "--form", "offset_exp", "--protocol", "leave_size_out",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "three or more training sizes" in err[0]


def test_weights_for_other_forms_are_refused():
    from costlaw.planner import plan
    with pytest.raises(InputError, match="form weights are for"):
        plan(2e18, gain=None, form_weights={"offset_exp": 0.5, "paper": 0.5}, **PLAN7)


def test_sweep_csv_and_json_carry_the_weights(tmp_path, capsys):
    import json
    from costlaw.cli import main
    from costlaw.planner.forms import stack_weights
    args = ["plan", "--budgets", "1e18:1e20:3", "--train-params", "7e9", "--pool-tokens", "1.0938e8", "--task", "bbh"]
    assert main(args + ["--out", str(tmp_path)]) == 0
    forms = pd.read_csv(tmp_path / "plan_sweep_forms.csv")
    w = stack_weights()
    for _, g in forms.groupby("budget_flops"):
        per = g[g.form != "average"].set_index("form").weight
        assert per.to_dict() == pytest.approx(w) and per.sum() == pytest.approx(1)
        assert g[g.form == "average"].weight.isna().all() and (g.form == "average").sum() == 1
    sweep = pd.read_csv(tmp_path / "plan_sweep.csv")
    avg = forms[forms.form == "average"].set_index("budget_flops").metric_pred
    assert sweep.set_index("budget_flops").metric_pred_average.to_numpy() == pytest.approx(avg.to_numpy())
    capsys.readouterr()
    assert main(args + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {r["form"] for r in data["forms"]} == set(w) | {"average"}
    assert all("metric_pred_average" in r for r in data["plans"])
