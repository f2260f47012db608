"""Pilot-anchored forecasts of an unmeasured training size (issue 8, finding 7)."""
import json

import numpy as np
import pandas as pd
import pytest

from costlaw._paths import bundled_dir
from costlaw.cli import main
from costlaw.errors import InputError
from costlaw.pilot import Pilot, PilotTransfer, parse_pilot, pilot_protocol, ranking_hits


FITS = bundled_dir("fits") / "paper_offset_exp"


def test_parse_pilot_config():
    from costlaw.pilot import parse_pilot_config
    assert parse_pilot_config("random:0.1") == ("random", 0.1)
    for bad in ("random", "random:0.1:3", "random:x", "random:5"):
        with pytest.raises(InputError):
            parse_pilot_config(bad)
    assert main(["compare", "paper", "--protocol", "extrapolate_size_pilot", "--pilot-config", "random:0.1:2"]) == 2


def test_parse_pilot():
    assert parse_pilot("random:0.025:52.3") == Pilot("random", 0.025, 52.3)
    for bad in ("random:0.025", "random:x:1", "random:3:1", "random:0.1:nan"):
        with pytest.raises(InputError):
            parse_pilot(bad)


def test_70b_from_7b_and_13b_with_one_pilot(paper_runs):
    scores, table = pilot_protocol(paper_runs)  # headroom rule, random at 2.5% of the pool as the pilot
    assert scores["n_heldout"] == 58 and scores["heldout_rmse"] < 1.0
    assert scores["coverage"] >= 0.8 and scores["coverage_lo"] < scores["coverage"] <= scores["coverage_hi"]
    assert scores["n_units"] == 2 and scores["rule"] == "mmlu:headroom,bbh:headroom"
    flat, _ = pilot_protocol(paper_runs, rule="pilot")   # "predict the pilot everywhere"
    loglinear, _ = pilot_protocol(paper_runs, rule="loglinear")
    assert scores["heldout_rmse"] < flat["heldout_rmse"] < loglinear["heldout_rmse"]
    # BBH's sources disagree (13B departs from 7B by ~5 points): its intervals are much wider than MMLU's, and
    # every two-source interval says it rests on one contrast
    half = ((table.pred_hi - table.pred_lo) / 2).groupby(table.task).mean()
    assert half["bbh"] > 5 * half["mmlu"]
    assert table.interval.str.contains("two sizes cannot pin it").all() and (table.n_sizes == 2).all()
    # ranking: (task, fraction) points with a unique observed best (the full pool ties every method) against the
    # best method at the nearest measured size
    assert scores["n_ranked"] == 10 and 0 <= scores["ranking_accuracy"] <= 1
    assert 0 <= scores["ranking_baseline"] <= 1 and scores["ranking_lo"] <= scores["ranking_accuracy"]


def test_ranking_hits_skip_ties():
    table = pd.DataFrame({"task": "t", "fraction": [0.1, 0.1, 1.0, 1.0], "method": ["a", "b", "a", "b"],
                          "metric": [1.0, 2.0, 3.0, 3.0], "metric_pred": [0.0, 5.0, 9.0, 0.0]})
    hits = ranking_hits(table)
    assert list(hits.index) == [("t", 0.1)] and hits.iloc[0]
    assert len(ranking_hits(pd.concat([table.assign(train_model=m) for m in "xy"]))) == 2   # one group per size
    assert ranking_hits(table.assign(metric_pred=[5.0, 0.0, 0, 0])).sum() == 0


def test_ranking_follows_the_metric_direction(paper_runs):
    """A loss (lower is better) made from the accuracies ranks the same methods best."""
    runs = paper_runs[paper_runs.task == "mmlu"]
    acc, _ = pilot_protocol(runs)
    loss, _ = pilot_protocol(runs.assign(metric=(100 - runs.metric) / 20, higher_is_better=False))
    assert loss["n_ranked"] == acc["n_ranked"] and loss["ranking_baseline"] == acc["ranking_baseline"]


def test_nested_choice_never_reads_the_held_out_runs(paper_runs):
    """``auto`` picks the rule inside each outer fold from the source sizes alone: changing the held-out size's
    runs (all but the pilot) changes the errors but neither the rule nor any forecast or interval."""
    scores, table = pilot_protocol(paper_runs, rule="auto")
    big = paper_runs.train_params == paper_runs.train_params.max()
    pilot = (paper_runs.method == "random") & np.isclose(paper_runs.fraction, 0.025)
    rng = np.random.default_rng(0)
    changed = paper_runs.copy()
    changed.loc[big & ~pilot, "metric"] += rng.normal(0, 5, int((big & ~pilot).sum()))
    scores2, table2 = pilot_protocol(changed, rule="auto")
    assert scores2["rule"] == scores["rule"]
    for col in ("metric_pred", "pred_lo", "pred_hi", "rule"):
        assert (table2[col] == table[col]).all()
    assert not np.isclose(scores2["heldout_rmse"], scores["heldout_rmse"])
    # the pilot run itself is read: moving it moves the forecasts
    moved = paper_runs.copy()
    moved.loc[big & pilot, "metric"] += 1.0
    _, table3 = pilot_protocol(moved, rule="auto")
    assert not np.allclose(table3.metric_pred, table.metric_pred)


def _consistent_sources(paper_runs):
    """MMLU 7B and a 13B made from it by the headroom rule exactly (the same shares of headroom)."""
    seven = paper_runs[(paper_runs.task == "mmlu") & (paper_runs.train_params == 7e9)]
    p0 = float(seven[(seven.method == "random") & np.isclose(seven.fraction, 0.025)].metric.iloc[0])
    target = 53.0
    thirteen = seven.assign(train_params=13e9, train_model="llama2-13b", train_flops=seven.train_flops * 13 / 7,
                            metric=target + (seven.metric - p0) * (100 - target) / (100 - p0))
    thirteen["total_flops"] = thirteen.selection_flops + thirteen.train_flops
    return pd.concat([seven, thirteen], ignore_index=True)


def test_intervals_widen_when_sources_disagree(paper_runs):
    agree = _consistent_sources(paper_runs)
    pilots = [Pilot("random", 0.025, 60.0)]
    calm = PilotTransfer(agree, "mmlu").forecast(70e9, pilots, ["less"])
    noise = PilotTransfer(agree, "mmlu").noise_sd()
    assert np.allclose(calm.pred_sd, noise * np.sqrt(2), rtol=0.3)   # little beyond the noise of run and pilot
    apart = agree.copy()
    thirteen_less = (apart.train_params == 13e9) & (apart.method == "less")
    apart.loc[thirteen_less, "metric"] += np.where(apart.loc[thirteen_less, "fraction"] < 1, 2.0, 0.0)
    wide = PilotTransfer(apart, "mmlu").forecast(70e9, pilots, ["less"])
    assert (wide.pred_sd > 2 * calm.pred_sd).all() and (wide.sd_specific > calm.sd_specific).all()
    assert ((wide.pred_hi - wide.pred_lo) > 2 * (calm.pred_hi - calm.pred_lo)).all()
    single = PilotTransfer(agree[agree.train_params == 7e9], "mmlu")
    one = single.forecast(70e9, pilots, ["less"])
    assert (one.n_sizes == 1).all() and one.interval.str.startswith("noise only").all()
    assert np.isinf(one.interval_df).all() and np.allclose(one.pred_sd, single.noise_sd() * np.sqrt(2))


def test_pilot_reproduces_itself(paper_runs):
    small = paper_runs[(paper_runs.train_params < 7e10) & (paper_runs.task == "mmlu")]
    transfer = PilotTransfer(small, "mmlu")
    out = transfer.forecast(70e9, [Pilot("random", 0.025, 61.0)], ["random"], [0.025])
    assert np.isclose(out.metric_pred.iloc[0], 61.0)
    two = transfer.forecast(70e9, [Pilot("random", 0.025, 61.0), Pilot("random", 0.025, 61.4)], ["random"], [0.025])
    assert np.isclose(two.metric_pred.iloc[0], 61.2)
    assert (two.pred_hi - two.pred_lo).iloc[0] < (out.pred_hi - out.pred_lo).iloc[0]  # two pilots: less noise


def test_forecast_cli_with_pilots(capsys, tmp_path):
    assert main(["forecast", "--fits", str(FITS), "--train-params", "34e9", "--fraction", "0.1",
                 "--task", "mmlu", "--method", "ppl", "--pilot", "random:0.025:60.1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and rows[0]["rule"] == "headroom" and rows[0]["pred_lo"] < rows[0]["metric_pred"]
    assert main(["forecast", "--fits", str(FITS), "--train-params", "34e9", "--fraction", "0.1",
                 "--pilot", "nosuch:0.025:60"]) == 2


def test_plan_with_a_pilot(capsys):
    from costlaw.planner import Problem, plan
    problem = Problem(34e9, 1.0938e8, "mmlu", pilots=[Pilot("random", 0.025, 60.1)], n_grid=200)
    assert problem.fit_kind.startswith("pilot-anchored")
    assert np.isclose(problem.predict("random", [0.025])[0], 60.1, atol=0.05)
    result = plan(1e19, 34e9, 1.0938e8, "mmlu", problem=problem, gain=None)
    assert result.best is not None and result.verdict in ("wins", "indistinguishable")
    assert any("not predictable across sizes" in n for n in result.notes)
    assert not any("one contrast" in n for n in result.notes)   # the shipped fits measured three sizes
    assert main(["plan", "--budget", "1e19", "--train-params", "34e9", "--pool-tokens", "1.0938e8", "--task", "mmlu",
                 "--pilot", "random:0.025:60.1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fit_kind"].startswith("pilot-anchored")


def test_pilot_intervals_other_directions(paper_runs):
    """7B from 13B + 70B is covered; 13B from 7B + 70B is not (BBH 13B departs from both neighbours by about 5
    points and 7B and 70B agree, so nothing measured at them announces it): pinned so a change that hides it
    shows."""
    from costlaw.pilot import pilot_directions
    table = pilot_directions(paper_runs)
    assert set(table.held_out) == {"llama2-7b", "llama2-13b", "llama2-70b", "every"} and len(table) == 10
    every = table[table.held_out == "every"].iloc[0]
    assert every.n_heldout == 174 and every.n_units == 6 and every.n_ranked == 30
    # six (size, task) units carry less evidence than 174 independent runs would: a wider interval
    assert every.coverage_unit_lo < every.coverage_lo and every.coverage_unit_hi > every.coverage_hi
    small = table[(table.held_out == "llama2-7b") & (table.task == "all")].iloc[0]
    assert small.n_heldout == 58 and small.coverage >= 0.9
    middle = table.set_index(["held_out", "task"]).loc["llama2-13b"]
    assert middle.loc["all", "coverage"] < 0.5 and middle.loc["all", "heldout_rmse"] > 3
    assert middle.loc["bbh", "heldout_rmse"] > 4 and middle.loc["bbh", "coverage_hi"] < 0.5
    with pytest.raises(InputError):
        pilot_protocol(paper_runs, held_out=34e9)


def test_compare_pilot_rows(paper_runs):
    from costlaw.compare import compare
    import warnings

    from costlaw.errors import CostlawWarning
    with warnings.catch_warnings():   # the full-data fit's parameter at a bound is said elsewhere
        warnings.simplefilter("ignore", CostlawWarning)
        table = compare(paper_runs, forms=["offset_exp"], protocols=["extrapolate_size_pilot"])
        ten = compare(paper_runs, forms=["offset_exp"], protocols=["extrapolate_size_pilot"],
                      pilot_config=("random", 0.1)).set_index("protocol")
    table = table.set_index("protocol")
    for row in ("extrapolate_size_pilot", "extrapolate_size_pilot:auto", "extrapolate_size_pilot@llama2-13b",
                "extrapolate_size_pilot:auto@llama2-7b:bbh", "extrapolate_size_pilot:pilot"):
        assert row in table.index
    assert table.loc["extrapolate_size_pilot:auto", "rule"] == "mmlu:absolute,bbh:pilot"
    assert table.loc["extrapolate_size_pilot", "n_heldout"] == 58
    assert not np.isclose(ten.loc["extrapolate_size_pilot", "heldout_rmse"],
                          table.loc["extrapolate_size_pilot", "heldout_rmse"])


def test_noise_is_the_least_contaminated_panel(paper_runs):
    from costlaw.noise import panel_noise
    transfer = PilotTransfer(paper_runs[(paper_runs.task == "bbh") & (paper_runs.train_params < 7e10)], "bbh")
    noise = panel_noise(transfer.fit)
    assert (noise.noise_source == "residuals").all()
    assert np.isclose(transfer.noise_sd(), noise.noise_sd.min()) and noise.noise_sd.max() > 2 * transfer.noise_sd()


def test_noise_from_repeated_seeds(paper_runs):
    runs = paper_runs[(paper_runs.task == "mmlu") & (paper_runs.train_params < 7e10)]
    twice = pd.concat([runs.assign(seed=0), runs.assign(seed=1, metric=runs.metric + 0.2)], ignore_index=True)
    transfer = PilotTransfer(twice, "mmlu")
    assert np.isclose(transfer.noise_sd(), 0.2 / np.sqrt(2))   # each pair: sd |d| / sqrt(2)


def test_plan_from_two_sizes_says_its_intervals_are_wide(paper_runs):
    from costlaw.forecast import fit_groups
    from costlaw.planner import Problem, plan
    two = paper_runs[(paper_runs.task == "mmlu") & (paper_runs.train_params < 7e10)]
    boots = fit_groups(two, "offset_exp_size", n_boot=2)
    problem = Problem(70e9, 1.0938e8, "mmlu", fits=boots, pilots=[Pilot("random", 0.025, 68.6)], n_grid=100)
    result = plan(1.5e19, 70e9, 1.0938e8, "mmlu", problem=problem, gain=None)
    assert any("two measured sizes (one contrast)" in n for n in result.notes)


def test_pilot_configs():
    from costlaw.pilot import DEFAULT_PILOT, pilot_configs
    assert pilot_configs(None) == [DEFAULT_PILOT]
    assert pilot_configs(("bm25", 0.05)) == [("bm25", 0.05)]
    assert pilot_configs([("random", 0.025), ("bm25", 0.025), ("random", 0.025)]) == [("random", 0.025),
                                                                                        ("bm25", 0.025)]
    with pytest.raises(InputError):
        pilot_configs([])


def test_pilots_that_disagree_with_the_transfer_widen_the_interval(paper_runs):
    """Pilots at two configurations: where they sit where the transfer puts them, they update the sources'
    between-size variance (df-weighted, one more df: a narrower interval than one pilot's, never below the
    noise); where one departs by 4 points, the new size's own departure (1 df) takes over and the interval widens
    to cover a departure of that size."""
    transfer = PilotTransfer(paper_runs[(paper_runs.task == "mmlu") & (paper_runs.train_params < 7e10)], "mmlu")
    anchor = Pilot("random", 0.025, 61.0)
    at_bm25 = float(transfer.forecast(70e9, [anchor], ["bm25"], [0.025]).metric_pred.iloc[0])
    alone = transfer.forecast(70e9, [anchor], ["less"], [0.1])
    agree = transfer.forecast(70e9, [anchor, Pilot("bm25", 0.025, at_bm25)], ["less"], [0.1])
    assert transfer.pilot_departure("headroom", [anchor, Pilot("bm25", 0.025, at_bm25)], 70e9)["var"] == 0.0
    assert (agree.between_from == "sources+pilots").all() and agree.interval.str.contains("updated").all()
    assert (agree.interval_df > alone.interval_df).all()
    assert ((agree.pred_hi - agree.pred_lo) < (alone.pred_hi - alone.pred_lo)).all()
    assert (agree.pred_sd > transfer.noise_sd()).all()
    off = [anchor, Pilot("bm25", 0.025, at_bm25 + 4.0)]
    own = transfer.pilot_departure("headroom", off, 70e9)
    assert own["df"] == 1 and own["n_configs"] == 2 and own["rmse"] > 1.5
    wide = transfer.forecast(70e9, off, ["less"], [0.1])
    assert (wide.between_from == "pilots").all() and wide.interval.str.contains("pilots depart").all()
    assert (wide.pred_sd > 3 * agree.pred_sd).all() and (wide.interval_df < 3).all()
    assert (wide.pred_hi - wide.metric_pred > 4.0).all()
    # repeated seeds at one configuration differ by noise only: no departure is read from them
    assert transfer.pilot_departure("headroom", [anchor, Pilot("random", 0.025, 65.0)], 70e9) is None


def test_two_pilot_configurations_cover_the_13b_departure(paper_runs):
    """BBH 13B departs from 7B and 70B by ~5 points: one pilot cannot see it (7% covered), pilots at two
    configurations (random and BM25 at 2.5% of the pool, 5% of a full run in all) show it in their own
    disagreement with the transfer."""
    one, _ = pilot_protocol(paper_runs[paper_runs.task == "bbh"], held_out=13e9)
    two, table = pilot_protocol(paper_runs[paper_runs.task == "bbh"], [("random", 0.025), ("bm25", 0.025)],
                                held_out=13e9)
    assert one["coverage"] < 0.2 and two["coverage"] >= 0.9
    assert two["n_heldout"] == 28 and (table.between_from == "pilots").all()
    assert not ((table.method == "bm25") & np.isclose(table.fraction, 0.025)).any()   # pilots are not scored


def test_compare_cli_repeats_pilot_config(tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", "paper", "--form", "offset_exp", "--protocol", "extrapolate_size_pilot",
                 "--pilot-config", "random:0.025", "--pilot-config", "bm25:0.025", "--out", str(out)]) == 0
    table = pd.read_csv(out / "compare.csv")
    every = table[table.protocol == "extrapolate_size_pilot@every"].iloc[0]
    assert every.n_heldout == 168   # 174 runs less the three sizes' x two tasks' BM25 2.5% pilots


def test_plan_notes_say_what_the_pilots_can_show():
    from costlaw.planner import Problem
    one = Problem(34e9, 1.0938e8, "mmlu", pilots=[Pilot("random", 0.025, 60.1)], n_grid=100)
    assert any("a second configuration" in n for n in one.notes())
    at_bm25 = float(one.predict("bm25", [0.025])[0])
    off = Problem(34e9, 1.0938e8, "mmlu", pilots=[Pilot("random", 0.025, 60.1), Pilot("bm25", 0.025, at_bm25 + 4)],
                  n_grid=100)
    assert any("pilots disagree with the transfer" in n for n in off.notes())
    assert not any("a second configuration" in n for n in off.notes())
    # the refit samples of the plan carry the wider between-size variance
    assert np.std(off.curves[1:], axis=0).mean() > 3 * np.std(one.curves[1:], axis=0).mean()
    # pilots that follow the transfer update the sources' variance: the plan says so, and its samples narrow
    agree = Problem(34e9, 1.0938e8, "mmlu", pilots=[Pilot("random", 0.025, 60.1), Pilot("bm25", 0.025, at_bm25)],
                    n_grid=100)
    assert any("updates the between-size variance" in n for n in agree.notes())
    assert np.std(agree.curves[1:], axis=0).mean() < np.std(one.curves[1:], axis=0).mean()


def test_pilot_plans_default_to_the_form_whose_pilot_forecasts_do_best():
    """With the bundled fits, a plan with pilots transfers gains from the per-panel fits of the form that wins the
    shipped held-out comparison of pilot forecasts (each size held out in turn), which its form spread marks as
    the default; without pilots, the leave-one-out winner."""
    from costlaw.planner import Problem
    from costlaw.planner.forms import default_form, default_pilot_form, form_set, pilot_errors
    errors = pilot_errors()
    assert default_pilot_form() == min(errors, key=errors.get)
    problem = Problem(13e9, 1.0938e8, "mmlu", pilots=[Pilot("random", 0.025, 53.0)], n_grid=100)
    assert problem.form.name == default_pilot_form()
    forms, _ = form_set(problem)
    assert forms.default == problem.form.name and forms.problems[forms.default] is problem
    assert Problem(13e9, 1.0938e8, "mmlu", n_grid=100).form.name == default_form()


def _dataframe_level(transfer, size, method, fraction):
    """The per-panel fit's level along ``fraction`` the DataFrame way: the (size, method) runs' first row with the
    fraction and FLOP columns replaced (median full-pool training FLOPs and selection FLOPs), ``CurveFit.predict``."""
    runs = transfer.runs
    rows = runs[np.isclose(runs.train_params, size) & (runs.method == method)]
    frac = np.atleast_1d(np.asarray(fraction, float))
    full = float(np.median(rows.train_flops / rows.fraction))
    sel = float(np.median(rows.selection_flops))
    head = rows.iloc[[0] * len(frac)].reset_index(drop=True)
    head = head.assign(fraction=frac, train_flops=frac * full, selection_flops=sel, total_flops=sel + frac * full)
    return transfer.fit.predict(head)


@pytest.mark.parametrize("form", ["offset_exp", "power", "logistic", "paper"])
def test_pilot_curves_equal_the_dataframe_predict_path(paper_runs, form):
    """PilotTransfer's NumPy curves (``CurveFit.curve_functions``, parameters gathered once per (size, method)) are
    the DataFrame ``CurveFit.predict`` levels on the paper's runs: bit for bit for the forms in the fraction (the
    ones pilot plans use); within 1e-12 for ``paper``, which reads total_flops / train_flops_full (the DataFrame
    path rebuilt train_flops_full as (f x full) / f)."""
    grid = np.geomspace(0.01, 1.0, 41)
    for task in ("mmlu", "bbh"):
        transfer = PilotTransfer(paper_runs[paper_runs.task == task], task, form=form)
        for size in transfer.sizes:
            for method in transfer.methods:
                for frac in (grid, [0.025], [0.1, 0.5]):
                    fast, slow = transfer.level_at(size, method, frac), _dataframe_level(transfer, size, method, frac)
                    if form == "paper":
                        np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=0)
                    else:
                        assert np.array_equal(fast, slow), (task, size, method)
        with pytest.raises(InputError, match="no runs of method 'nope'"):
            transfer.level_at(transfer.sizes[0], "nope", [0.1])
        with pytest.raises(InputError, match="no runs of method 'random' at 5e"):
            transfer.level_at(5e12, "random", [0.1])


def test_curve_functions_are_predict_grid(paper_runs):
    """``CurveFit.curve_functions(heads)[i](f)`` is ``predict_grid(heads.iloc[[i]], [f])`` bit for bit, for the point
    fit and for a stack of parameter vectors."""
    transfer = PilotTransfer(paper_runs[paper_runs.task == "mmlu"], "mmlu", form="power")
    fit = transfer.fit
    runs = fit.runs_
    heads = runs.groupby(["train_model", "method"], sort=False).head(1).assign(
        train_flops_full=lambda h: h.train_flops / h.fraction).reset_index(drop=True)
    values = np.vstack([fit.x_, fit.x_ * 1.01, fit.x_ * 0.99])
    grid = np.geomspace(0.02, 1.0, 17)
    for vals in (None, values):
        functions = fit.curve_functions(heads, vals)
        assert len(functions) == len(heads)
        for i, curve in enumerate(functions):
            assert np.array_equal(curve(grid), fit.predict_grid(heads.iloc[[i]], [grid], vals))
        whole = fit.predict_grid(heads, [grid] * len(heads), vals)
        assert np.array_equal(np.concatenate([f(grid) for f in functions], axis=-1), whole)


def test_pilot_curves_of_token_forms_follow_the_fraction(paper_runs):
    """Forms in tokens read train_tokens: the curves scale the pool's tokens with the fraction (they used to carry
    the first run's train_tokens, a level flat in the fraction), and meet the fit at the runs."""
    transfer = PilotTransfer(paper_runs[paper_runs.task == "mmlu"], "mmlu", form="power_law")
    rows = transfer.runs[(transfer.runs.train_params == 7e9) & (transfer.runs.method == "random")]
    level = transfer.level_at(7e9, "random", rows.fraction.to_numpy())
    assert np.ptp(level) > 0.01
    np.testing.assert_allclose(level, transfer.fit.predict(rows), rtol=1e-9)


def test_forecast_without_intervals_and_pilot_plan_imports(paper_runs, tmp_path):
    """``intervals=False`` gives the same table less pred_lo/pred_hi; a pilot plan (which draws its own samples)
    imports no scipy or matplotlib."""
    import subprocess
    import sys
    transfer = PilotTransfer(paper_runs[paper_runs.task == "bbh"], "bbh")
    pilots = [Pilot("random", 0.025, 41.0), Pilot("bm25", 0.025, 42.2)]
    full = transfer.forecast(30e9, pilots, rule="auto")
    bare = transfer.forecast(30e9, pilots, rule="auto", intervals=False)
    pd.testing.assert_frame_equal(bare, full.drop(columns=["pred_lo", "pred_hi"]), check_exact=True)
    argv = ["plan", "--budget", "1e18", "--train-params", "3e10", "--pool-tokens", "1.0938e8", "--task", "mmlu",
            "--pilot", "random:0.025:58.0", "--pilot", "bm25:0.025:58.6", "--json"]
    code = ("import sys\nfrom costlaw.cli import main\nassert main(%r) == 0\n"
            "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'matplotlib'}))" % (argv,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED []", out[-500:]


def test_shared_transfer_is_reused_only_for_the_same_inputs(paper_runs):
    """A sweep's spread, its tipping point and a break-even map build the same pilot transfers: ``shared_transfer``
    gives the same object for equal inputs (a copy of the runs too) and a new one when any value differs."""
    from costlaw import pilot
    runs = paper_runs[paper_runs.task == "mmlu"]
    first = pilot.shared_transfer(runs, "mmlu", form="power")
    assert pilot.shared_transfer(runs.copy(), "mmlu", form="power") is first
    changed = runs.copy()
    changed.loc[changed.index[3], "metric"] += 1e-9
    assert pilot.shared_transfer(changed, "mmlu", form="power") is not first
    assert pilot.shared_transfer(runs, "mmlu", form="power", level=0.8) is not first
    assert pilot.shared_transfer(runs, "mmlu", form="logistic") is not first
