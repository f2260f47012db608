"""Break-even four ways, with margins tied to the noise (issue 8)."""
import numpy as np
import pandas as pd
import pytest

from costlaw import fit
from costlaw import breakeven as be
from costlaw.bands import end_mc_band, interval_with_mc, log10_spread
from costlaw.noise import margins, panel_noise, verdict


@pytest.fixture(scope="module")
def fitted(paper_runs):
    return fit(paper_runs, "offset_exp")


def _shrink(table):
    return table[(table.definition == "shrink") & (table.task != "all")].reset_index(drop=True)


def test_margin_zero_keeps_the_legacy_ratio(fitted):
    table = be.breakeven_table(fitted, margin=0.0)
    pooled = table[(table.definition == "shrink") & (table.task == "all")].set_index("method").ratio
    assert 9.0 < pooled["less"] < 11.5  # the README's old 10.1x, a median over six panels


def test_larger_margin_never_lowers_a_ratio(fitted):
    ratios = [_shrink(be.breakeven_table(fitted, margin=m)).ratio.to_numpy() for m in (0.0, 0.05, 0.2)]
    for a, b in zip(ratios, ratios[1:]):
        assert np.all(b >= a * (1 - 1e-6))
    # a 0.05-point margin already turns PPL's 7B MMLU "win" (by < 0.005 points) into never
    first = _shrink(be.breakeven_table(fitted, margin=0.05))
    row = first[(first.task == "mmlu") & (first.train_model == "llama2-7b") & (first.method == "ppl")]
    assert np.isinf(row.ratio.iloc[0])


def test_default_margin_is_one_noise_sd(fitted):
    noise = panel_noise(fitted)
    assert (noise.noise_source == "residuals").all() and noise.noise_sd.between(0.1, 1.5).all()
    table = _shrink(be.breakeven_table(fitted))
    sd = noise.set_index(["task", "train_model"]).noise_sd
    assert np.allclose(table.margin, [sd[(t, m)] for t, m in zip(table.task, table.train_model)])


def test_residual_noise_is_one_computation(fitted):
    """panel_noise's residual rows, Bootstrap.noise_sd and FitArrays.noise_sd are the same numbers, bit for bit:
    sqrt(RSS / (n - k)) per panel."""
    from costlaw.fitarrays import FitArrays
    from costlaw.uncertainty import Bootstrap
    boot = Bootstrap(fitted, [], 0)
    noise = panel_noise(fitted).set_index(["task", "train_model"]).noise_sd
    assert noise.to_dict() == boot.noise_sd().to_dict() == FitArrays.from_bootstrap(boot).noise_sd()
    runs, k = fitted.runs_.assign(r=fitted.residuals_), fitted.n_params / len(noise)
    for (task, model), g in runs.groupby(["task", "train_model"]):
        assert np.isclose(noise[(task, model)], np.sqrt(np.sum(g.r ** 2) / (len(g) - k)), rtol=1e-12)


def test_lead_matches_wins(fitted):
    from costlaw.frontier import method_curves, panel_curves
    curves = panel_curves(method_curves(fitted))[("bbh", "llama2-70b")]
    ppl = next(c for c in curves if c.method == "ppl")
    contest = be.Contest(ppl, [c for c in curves if c.method != "ppl"])
    costs = np.geomspace(1e16, 1e21, 9)
    lead = contest.lead(costs)
    assert np.all((lead[1:] <= lead[:-1] + 1e-12) | np.isneginf(lead[1:]))  # dearer selection never helps
    for c, value in zip(costs, lead):
        assert contest.wins(c, 0.1) == (value > 0.1 + be.TIE)


def test_crossing_interpolates_and_flags_extrapolation():
    x = np.log10([1.0, 2.0, 10.0])
    r, extra = be._crossing(x, np.array([-1.0, -0.5, 0.5]))
    assert not extra and np.isclose(np.log10(r), np.log10(2) + 0.5 * (1 - np.log10(2)))
    r, extra = be._crossing(x, np.array([-1.0, -0.8, -0.2]))
    assert extra and r > 10
    r, extra = be._crossing(x, np.array([-1.0, -1.0, -1.5]))
    assert extra and np.isinf(r)
    r, extra = be._crossing(x, np.array([0.5, 0.8, 1.0]))
    assert extra and 0 < r < 1


def _panel(metrics_ppl, metrics_rand, fractions, full=1e18, sel=1e17, n_train=7e9, n_sel=7e9):
    rows = []
    for method, metrics, s in (("ppl", metrics_ppl, sel), ("random", metrics_rand, 0.0)):
        for f, y in zip(fractions, metrics):
            rows.append({"task": "t", "train_model": "m", "train_params": n_train, "method": method,
                         "selector_params": n_sel if s else 0.0, "fraction": f, "pool_tokens": 1e8,
                         "selection_flops": s, "train_flops": f * full, "total_flops": s + f * full, "metric": y})
    return pd.DataFrame(rows)


def test_pareto_ratio_is_the_analytic_one():
    # ppl's run at f = 0.1 scores 5, random reaches 5 (within the margin) only at f = 0.5 (5e17 FLOPs):
    # it stays on the Pareto set while selection costs < 5e17 - 1e17 = 4e17 FLOPs
    runs = _panel([5.0, 5.1], [1.0, 5.0], [0.1, 0.5])
    table = pd.DataFrame({"task": ["t"], "train_model": ["m"], "noise_sd": [0.01], "margin": [0.0]})
    out = be.pareto_breakeven(runs, table, methods=("ppl",), n_draws=50)
    a = 1e17 / 7e9  # FLOPs per selector parameter of this panel
    assert np.isclose(out.ratio.iloc[0], 7e9 * a / 4e17)
    assert out.p_finite.iloc[0] == 1.0


def test_noise_from_repeated_seeds():
    rng = np.random.default_rng(0)
    runs = pd.concat([_panel(5 + 0.3 * rng.normal(size=3), 4 + 0.3 * rng.normal(size=3), [0.1, 0.5, 1.0])
                      .assign(seed=s) for s in range(4)], ignore_index=True)
    fitted = fit(runs, "offset_exp")
    noise = panel_noise(fitted)
    assert noise.noise_source.iloc[0] == "seeds" and noise.noise_dof.iloc[0] == 18
    assert 0.15 < noise.noise_sd.iloc[0] < 0.5
    assert (margins(noise, 0.25).margin == 0.25).all()


def test_verdicts():
    assert verdict(0.95) == "wins" and verdict(0.05) == "does not win" and verdict(0.5) == "indistinguishable"


def test_mc_band_shrinks_with_more_refits():
    rng = np.random.default_rng(1)
    small, large = rng.lognormal(size=50), rng.lognormal(size=20000)
    w_small = log10_spread(*end_mc_band(small, 0.05))
    w_large = log10_spread(*end_mc_band(large, 0.05))
    assert w_large < w_small
    assert interval_with_mc(large)["stable"] and not interval_with_mc(small)["stable"]
    infinite = np.full(40, np.inf)
    assert interval_with_mc(infinite)["stable"]


def test_intervals_carry_win_probabilities(paper_runs):
    mmlu = paper_runs[paper_runs.task == "mmlu"]
    table = be.breakeven_intervals(fit(mmlu, "offset_exp"), n_boot=6, claims={"ppl": 5.0, "less": 10.0})
    panels = table[(table.definition == "shrink") & (table.task != "all")]
    assert panels.p_win.between(0, 1).all()
    assert set(panels.verdict) <= {"wins", "does not win", "indistinguishable"}
    assert table.p_within_claim.dropna().between(0, 1).all()
    assert list(pd.unique(table.definition)) == list(be.DEFINITIONS)


def test_reproduce_default_refits_agree_with_the_command():
    from costlaw.commands import reproduce as command
    from costlaw.reproduce import DEFAULT_N_BOOT
    assert command.DEFAULT_N_BOOT == DEFAULT_N_BOOT


def test_reproduce_reports_form_uncertainty(reproduced_paper, paper_runs):
    forms = pd.read_csv(reproduced_paper[0] / "forms.csv")
    assert set(forms.form) == {"offset_exp", "power", "logistic"}
    weights = forms.drop_duplicates("form")
    assert np.isclose(weights.akaike_weight.sum(), 1.0) and weights.default.sum() == 1
    assert weights.loc[weights.default, "loo_rmse"].iloc[0] == weights.loo_rmse.min()
    assert np.isclose(weights.stack_weight.sum(), 1.0) and (weights.stack_weight >= 0).all()
    # stacking weights are those of the shipped leave-one-out comparison of the same forms on the same runs
    from costlaw.planner.forms import FORM_LOO, compare_rows
    shipped = {r["form"]: float(r["stack_weight"]) for r in compare_rows(FORM_LOO) if r["protocol"] == "loo"}
    for r in weights.itertuples():
        assert r.stack_weight == pytest.approx(shipped[r.form], abs=1e-6)
    for _, g in forms.groupby(["definition", "method"]):
        assert g.ratio_avg.nunique(dropna=False) == 1 and g.ratio_avg_akaike.nunique(dropna=False) == 1
        # on these runs the averaged curves' break-even lies within the forms' spread (not guaranteed in general:
        # averaging curves can create or remove a crossing)
        assert (g.ratio_min <= g.ratio_avg).all() and (g.ratio_avg <= g.ratio_max).all()
        assert (g.ratio_min <= g.ratio_avg_akaike).all() and (g.ratio_avg_akaike <= g.ratio_max).all()
    # the averaged ratio is the break-even of the stacking-weighted average of the forms' curves
    from costlaw.reproduce import averaged_ratios
    fits = {name: fit(paper_runs, name, warn=False) for name in weights.form}
    got = averaged_ratios(fits, weights.set_index("form").stack_weight)
    for r in forms.drop_duplicates(["definition", "method"]).itertuples():
        assert r.ratio_avg == pytest.approx(got[(r.definition, r.method)], rel=1e-9)
    assert "Form uncertainty" in reproduced_paper[1] and "stacking weight" in reproduced_paper[1]


FORM_INTERVALS = ["ratio_lo", "ratio_hi", "ratio_lo_mc", "ratio_hi_mc", "lo_stable", "hi_stable", "p_never", "n_boot"]


def test_forms_csv_has_interval_columns_for_the_headline_form(reproduced_paper):
    """Without --form-intervals forms.csv has the interval columns: the headline form's are its breakeven.csv
    intervals, the other forms' and the average's are empty (point estimates: their refits would cost about 1 s
    of the 180-run reproduce's 5 s), and the printed table says how to get them."""
    forms = pd.read_csv(reproduced_paper[0] / "forms.csv")
    avg = ["ratio_avg_" + c.removeprefix("ratio_") for c in FORM_INTERVALS]
    assert set(FORM_INTERVALS + avg) <= set(forms.columns)
    head = forms[forms["default"]]
    assert head[["ratio_lo", "ratio_hi", "n_boot"]].notna().all().all() and (head.n_boot >= 400).all()
    breakeven = pd.read_csv(reproduced_paper[0] / "breakeven.csv")
    pooled = breakeven[(breakeven.form == "offset_exp") & (breakeven.task == "all")].set_index(["definition", "method"])
    for r in head.itertuples():
        assert r.ratio_lo == pooled.loc[(r.definition, r.method), "ratio_lo"]
        assert r.ratio_hi == pooled.loc[(r.definition, r.method), "ratio_hi"]
    assert forms.loc[~forms["default"], FORM_INTERVALS].isna().all().all()
    assert forms[avg].isna().all().all() and forms.ratio_avg.notna().all()
    assert ("power, logistic: point estimates (`costlaw reproduce --form-intervals`: every form and the average"
            in reproduced_paper[1])


def test_reproduce_form_intervals_gives_every_form_and_the_average_an_interval(tmp_path):
    import contextlib
    import io

    from costlaw.cli import main
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["reproduce", "--out", str(tmp_path), "--no-figures", "--n-boot", "40", "--form-intervals"]) == 0
    forms = pd.read_csv(tmp_path / "forms.csv")
    avg = ["ratio_avg_" + c.removeprefix("ratio_") for c in FORM_INTERVALS]
    assert forms[FORM_INTERVALS + avg].notna().all().all()
    assert (forms.n_boot == 40).all() and (forms.ratio_avg_n_boot == 40).all()
    assert ((forms.ratio_lo <= forms.ratio_hi) & (forms.ratio_avg_lo <= forms.ratio_avg_hi)).all()
    assert forms.p_never.between(0, 1).all() and forms.ratio_avg_p_never.between(0, 1).all()
    # the headline form's are breakeven.csv's, from the same refits
    breakeven = pd.read_csv(tmp_path / "breakeven.csv")
    pooled = breakeven[(breakeven.form == "offset_exp") & (breakeven.task == "all")].set_index(["definition", "method"])
    for r in forms[forms["default"]].itertuples():
        assert (r.ratio_lo, r.ratio_hi) == tuple(pooled.loc[(r.definition, r.method), ["ratio_lo", "ratio_hi"]])
    assert "90% interval from 40 bootstrap refits" in printed.getvalue()
    assert ": point estimates" not in printed.getvalue()


def test_form_spread_reuses_the_headline_forms_breakeven_as_if_solved_again(reproduced_paper, paper_runs):
    """reproduce hands the headline form's break-even table (with intervals) to form_spread: the ratios and their
    order are those a fresh point table gives."""
    from costlaw.reproduce import SPREAD_DEFINITIONS
    forms = pd.read_csv(reproduced_paper[0] / "forms.csv")
    got = forms[forms.form == "offset_exp"]
    fresh = be.breakeven_table(fit(paper_runs, "offset_exp", warn=False))
    fresh = fresh[(fresh.task == "all") & fresh.definition.isin(SPREAD_DEFINITIONS)]
    assert len(got) == len(fresh) == 3 * fresh.method.nunique() >= 6
    assert list(got.definition) == list(fresh.definition) and list(got.method) == list(fresh.method)
    np.testing.assert_allclose(got.ratio, fresh.ratio, rtol=1e-9)


def test_reproduce_picks_the_headline_form_by_leave_one_out(reproduced_paper):
    """Without --form the headline form is the LOO winner of the spread forms (offset_exp on the paper's runs)."""
    forms = pd.read_csv(reproduced_paper[0] / "forms.csv").drop_duplicates("form")
    winner = forms.loc[forms.loo_rmse.idxmin(), "form"]
    assert winner == "offset_exp"
    assert set(pd.read_csv(reproduced_paper[0] / "breakeven.csv").form) == {"paper", winner}
    assert f"headline form {winner}: lowest leave-one-out RMSE" in reproduced_paper[1]


def test_reproduce_form_option_forces_the_form(tmp_path):
    import contextlib
    import io

    from costlaw.cli import main
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["reproduce", "--out", str(tmp_path), "--form", "power", "--n-boot", "2", "--no-figures"]) == 0
    assert set(pd.read_csv(tmp_path / "breakeven.csv").form) == {"paper", "power"}
    assert "headline form" not in printed.getvalue()


def test_choose_form_takes_the_lowest_loo(paper_runs):
    from costlaw.reproduce import choose_form
    panel = paper_runs[paper_runs.task == "mmlu"]
    best, why, loo, fits, stack = choose_form(panel, ("offset_exp", "power"))
    assert stack.sum() == pytest.approx(1) and list(stack.index) == ["offset_exp", "power"]
    assert best == loo.idxmin() and set(fits) == {"offset_exp", "power"} and best in why


def test_reproduce_coverages_use_the_compare_refit_count():
    """`costlaw reproduce` prints held-out coverages from as many refits as `costlaw compare` (the README table)."""
    import inspect

    from costlaw.compare import compare
    from costlaw.commands import compare as command
    from costlaw.reproduce import COMPARE_N_BOOT
    assert COMPARE_N_BOOT == inspect.signature(compare).parameters["n_boot"].default == 40
    parser = __import__("argparse").ArgumentParser()
    command.add_parser(parser.add_subparsers())
    assert parser.parse_args(["compare", "paper"]).n_boot == COMPARE_N_BOOT


@pytest.mark.parametrize("margin", [None, 0.0])
def test_refits_vectorised_match_the_per_refit_tables(fitted, margin):
    """``breakeven_refits`` (all refits bisected at once) gives ``breakeven_table``'s ratios per refit: the same
    rows, the same inf / zero pattern, finite ratios within the bisection's 0.005 decades, the same leads."""
    from costlaw.frontier import CurveGrid
    from costlaw.uncertainty import bootstrap

    table = margins(panel_noise(fitted), margin)
    boot = bootstrap(fitted, n_boot=4, seed=3)
    grid = CurveGrid(fitted.runs_, 600)
    ref = [be.breakeven_table(r, margin_table=table, grid=grid) for r in [fitted] + boot.replicates]
    keys, ratio, lead = be.breakeven_refits(fitted, np.vstack([fitted.x_[None], boot.values]), margin_table=table)
    assert (keys.to_numpy(str) == ref[0][list(keys.columns)].to_numpy(str)).all()
    want = np.stack([t.ratio.to_numpy(float) for t in ref])
    assert ratio.shape == want.shape
    assert np.array_equal(np.isinf(ratio), np.isinf(want)) and np.array_equal(ratio == 0, want == 0)
    assert np.isfinite(want).any() and np.isinf(want).any()  # both kinds are exercised
    fin = np.isfinite(want) & (want > 0)
    assert np.max(np.abs(np.log10(ratio[fin]) - np.log10(want[fin]))) <= 0.005
    lead_want = np.stack([t.lead_actual.to_numpy(float) for t in ref])
    np.testing.assert_allclose(lead, lead_want, rtol=0, atol=1e-9)


def _bisected_threshold(contest, margin, tol=0.005):
    """The former ``Contest.threshold``: a 0.2-decade scan of leads, then bisection on ``Contest.wins``."""
    full = contest.curve.train_flops_full
    grid = np.linspace(np.log10(1e-9 * full), np.log10(1e3 * full), 61)
    ok = contest.lead(10 ** grid) > margin + be.TIE
    if not ok[0]:
        return 0.0
    if ok[-1]:
        return float(10 ** grid[-1])
    i = int(np.argmin(ok)) - 1
    lo, hi = grid[i], grid[i + 1]
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if contest.wins(10 ** mid, margin) else (lo, mid)
    return float(10 ** lo)


def test_contest_batch_threshold_matches_contest(fitted):
    """Per panel, the closed-form thresholds of ``Contest`` and ``ContestBatch`` (one refit) are the bisection
    on leads they replace (margins 0, 0.3 points, 100 points: never)."""
    from costlaw.frontier import CurveGrid
    from costlaw.uncertainty import bootstrap

    grid = CurveGrid(fitted.runs_, 600)
    checked = 0
    for fit_ in [fitted] + bootstrap(fitted, n_boot=2, seed=5).replicates:
        checked += _check_thresholds(grid, fit_)
    assert checked >= 36


def _check_thresholds(grid, fitted):
    curves = grid.curves(fitted)
    arrays = grid.metric_arrays(fitted, fitted.x_[None])
    checked = 0
    for i, c in enumerate(curves):
        if c.method not in be.BREAKEVEN_METHODS:
            continue
        others = [j for j, o in enumerate(curves) if (o.task, o.train_model) == (c.task, c.train_model) and j != i]
        contest = be.Contest(c, [curves[j] for j in others])
        batch = be.ContestBatch(c, arrays[i], [(curves[j], arrays[j]) for j in others])
        for m in (0.0, 0.3, 100.0):
            want = _bisected_threshold(contest, m)
            assert contest.threshold(m) == pytest.approx(want, rel=1e-12)
            got = float(batch.threshold(m)[0])
            assert (got == 0) == (want == 0)
            if want > 0:
                assert abs(np.log10(got) - np.log10(want)) <= 0.005
            checked += 1
    return checked


def test_cost_lines_of_every_method(paper_runs):
    """Every method of the runs has a cost line, including random (no selector: no cost grows with one)."""
    lines = be.selector_cost_lines(paper_runs)
    assert {m for _, _, m in lines} == set(paper_runs.method)
    c0, a, n_sel = lines[("mmlu", "llama2-7b", "random")]
    assert a == 0.0 and n_sel == 0.0
    c0, a, n_sel = lines[("mmlu", "llama2-7b", "less")]
    assert a > 0 and n_sel == pytest.approx(7e9, rel=0.1)
