"""Measured and analytic break-even ratios on a synthetic ladder whose crossing is known."""
import numpy as np
import pandas as pd
import pytest

from costlaw.errors import InputError
from costlaw.ladder import (ANCHORED, arm_names, analytic_breakeven, is_ladder, measured_breakeven,
                            measured_frontier, ratio_analysis, seed_points, selector_surface)
from costlaw.schema import validate_runs

POOL_TOKENS = 1e5
FRACTIONS = (0.05, 0.15, 0.4, 1.0)
TRAIN = {"t1": 1e5, "t2": 1e6, "t3": 1e7}
SELECTORS = {"s1": 1e4, "s2": 1e5}
BASE = 10.0


def quality(method, selector_params, fraction):
    """Ground truth: random learns linearly; ppl front-loads, more so with a bigger selector."""
    if method == "random":
        return BASE + 30 * fraction
    k = 8 + 6 * np.log10(selector_params / 1e4)
    return BASE + 30 * (1 - np.exp(-k * fraction)) / (1 - np.exp(-k))


def ladder_runs(noise=0.3, seeds=3, ppl_cost_per_param=None, seed=0):
    """Runs of random and ppl (two selector sizes) on three training sizes, Gaussian seed noise."""
    rng = np.random.default_rng(seed)
    per_param = ppl_cost_per_param or 60 * POOL_TOKENS  # selection FLOPs per selector parameter
    rows = []
    for tm, n_train in TRAIN.items():
        full = 6 * n_train * POOL_TOKENS
        arms = [("random", "", 0.0)] + [("ppl", s, n) for s, n in SELECTORS.items()]
        for method, sel, n_sel in arms:
            for f in FRACTIONS:
                for s in range(seeds):
                    sel_flops = per_param * n_sel
                    rows.append({"task": "syn", "train_model": tm, "train_params": n_train, "method": method,
                                 "selector_model": sel, "selector_params": n_sel, "fraction": f,
                                 "fraction_nominal": f, "pool_tokens": POOL_TOKENS, "selection_flops": sel_flops,
                                 "train_flops": f * full, "total_flops": sel_flops + f * full,
                                 "metric": quality(method, max(n_sel, 1.0), f) + noise * rng.normal(),
                                 "seed": s, "base_metric": BASE})
    return validate_runs(pd.DataFrame(rows))


def test_arms_and_points_keep_selector_size():
    runs = ladder_runs()
    assert set(arm_names(runs)) == {"random", "ppl@s1", "ppl@s2"}
    assert is_ladder(runs)
    assert not is_ladder(runs[runs.selector_model != "s2"])
    pts = seed_points(runs)
    assert len(pts) == 3 * 3 * len(FRACTIONS) and (pts.n_seeds == 3).all()
    assert (pts.metric_se > 0).all()


def test_measured_breakeven_finds_the_known_crossing():
    # selection costs 6 x N_sel x pool tokens = (1 / ratio) x the full training of the trained model. At f = 0.05
    # ppl@s1 reaches 19.9 and ppl@s2 25.0; random reaches 14.5 at f = 0.15 and 40 at f = 1. So a selector wins
    # where its selection costs at most 0.1 x full training (ratio >= 10) and loses at ratio 1.
    runs = ladder_runs(ppl_cost_per_param=6 * POOL_TOKENS)
    ratios, wins = measured_breakeven(runs, n_boot=100)
    by = ratios.set_index("arm")
    assert by.loc["ppl@s1", "measured_ratio"] == pytest.approx(10)
    assert np.isnan(by.loc["ppl@s1", "below_ratio"])  # the ladder's lowest rung already wins
    assert by.loc["ppl@s2", "measured_ratio"] == pytest.approx(10)
    assert by.loc["ppl@s2", "below_ratio"] == pytest.approx(1)
    assert by.loc["ppl@s2", "measured_lo"] <= 10 <= by.loc["ppl@s2", "measured_hi"]
    w = wins.set_index(["train_model", "arm"])
    assert not w.loc[("t1", "ppl@s2"), "wins"] and w.loc[("t2", "ppl@s2"), "wins"]
    assert w.loc[("t2", "ppl@s2"), "win_probability"] > 0.9 and w.loc[("t1", "ppl@s2"), "win_probability"] < 0.1
    # ten times dearer selection moves the crossing up one rung
    dear, _ = measured_breakeven(ladder_runs(ppl_cost_per_param=60 * POOL_TOKENS), n_boot=0)
    assert (dear.set_index("arm").measured_ratio == 100).all()


def test_no_effect_never_wins_and_noise_widens_the_interval():
    runs = ladder_runs(ppl_cost_per_param=6 * POOL_TOKENS)
    same = runs.copy()
    rand = runs[runs.method == "random"].set_index(["train_model", "fraction", "seed"]).metric
    ppl = same.method == "ppl"
    same.loc[ppl, "metric"] = rand.reindex(list(zip(same.train_model[ppl], same.fraction[ppl], same.seed[ppl]))).to_numpy()
    ratios, wins = measured_breakeven(same, n_boot=20)
    assert np.isinf(ratios.measured_ratio).all() and not wins.wins.any() and (wins.win_probability <= 0.2).all()
    noisy, _ = measured_breakeven(ladder_runs(noise=8.0, ppl_cost_per_param=6 * POOL_TOKENS), n_boot=100)
    quiet, _ = measured_breakeven(runs, n_boot=100)
    width = lambda t: np.log10(t.measured_hi.clip(upper=1e9)) - np.log10(t.measured_lo)  # noqa: E731
    assert width(noisy).sum() > width(quiet).sum()


def test_free_selection_wins_everywhere_and_against_option():
    runs = ladder_runs(ppl_cost_per_param=1e-9)
    ratios, _ = measured_breakeven(runs, n_boot=0)
    assert (ratios.measured_ratio == ratios.ladder_lo).all()
    cheap, _ = measured_breakeven(runs, n_boot=0, against="cheap")
    assert (cheap.measured_ratio <= ratios.measured_ratio).all()
    with pytest.raises(InputError):
        measured_breakeven(runs, against="some")


def test_frontier_starts_at_zero_shot_and_is_monotone():
    front = measured_frontier(ladder_runs())
    for _, g in front.groupby("train_model"):
        assert g.iloc[0].best_arm == "zero-shot" and g.iloc[0].metric == BASE
        assert (np.diff(g.metric.to_numpy()) >= -1e-12).all()


def test_anchored_form_fixes_p0_to_base_metric():
    runs = ladder_runs()
    f = __import__("costlaw.fitting", fromlist=["fit"]).fit(runs.assign(method=arm_names(runs)), ANCHORED)
    p0 = f.params_[f.params_.param == "P0"]
    assert p0.fixed.all() and np.allclose(p0.value, BASE)
    with pytest.raises(InputError):
        __import__("costlaw.fitting", fromlist=["fit"]).fit(runs.drop(columns="base_metric"), ANCHORED)


def test_analytic_breakeven_agrees_with_the_measured_order():
    runs = ladder_runs()
    table = analytic_breakeven(runs)
    assert set(table.arm) == {"ppl@s1", "ppl@s2"}
    med = table.groupby("arm").ratio.median()
    # the analytic break-even is finite, and the same for both arms up to the ladder's resolution
    assert np.isfinite(med).all()
    assert 10 < med["ppl@s1"] < 1e4


def test_surface_predicts_a_held_out_selector_size_better_than_pooling():
    runs = ladder_runs()
    extra = ladder_runs(seed=1)
    extra = extra[extra.selector_model == "s2"].assign(selector_model="s3", selector_params=1e6,
                                                       selection_flops=lambda d: 60 * POOL_TOKENS * 1e6)
    extra["metric"] = [quality("ppl", 1e6, f) + 0.3 * e for f, e in
                       zip(extra.fraction, np.random.default_rng(2).normal(size=len(extra)))]
    extra["total_flops"] = extra.selection_flops + extra.train_flops
    runs = pd.concat([runs, extra], ignore_index=True)
    full, held = selector_surface(runs)
    assert set(held.held_out) == {"s1", "s2", "s3"}
    mid = held.set_index("held_out").loc["s2"]
    assert not mid.extrapolates and mid.rmse < mid.rmse_pooled
    slope = full.params_[(full.params_.param == "k") & (full.params_.kind == "slope")]
    assert (slope.value > 0).any()


def test_ratio_analysis_report_and_refusal():
    runs = ladder_runs()
    result = ratio_analysis(runs, n_boot=20, surface=False)
    s = result.summary()
    assert {"measured_ratio", "measured_lo", "measured_hi", "analytic_median", "analytic_ladder_ratio",
            "paper_claim"} <= set(s.columns)
    assert (s.paper_claim == 5.0).all()
    curves = result.tables()["ratio_curves"]
    assert set(curves.arm) == {"random", "ppl@s1", "ppl@s2"} and curves.metric_pred.notna().all()
    text = result.report()
    assert "ppl" in text and "5x" in text
    with pytest.raises(InputError):
        ratio_analysis(runs[runs.selector_model != "s2"])
