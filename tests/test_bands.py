"""Interval ends and their Monte Carlo error (issue 8: intervals that do not move with the seed)."""
from itertools import combinations

import numpy as np
import pytest

from costlaw import breakeven as be
from costlaw import fit
from costlaw.bands import (STABLE_LOG10, STABLE_SE_LOG10, interval_with_mc, log10_spread, printed_end, recombine,
                           recombined_cdf_sd)


def _seed_sd_and_mc(draw, n_seeds=150, n=400, level=0.9):
    """The sd over seeds of log10 of each interval end, and the median Monte Carlo error each seed reports."""
    ends, mc = [], []
    for seed in range(n_seeds):
        iv = interval_with_mc(draw(np.random.default_rng(seed), n), level)
        ends.append(np.log10([iv["lo"], iv["hi"]]))
        mc.append([iv["lo_mc"], iv["hi_mc"]])
    ends = np.where(np.isinf(ends), 0.0, ends)
    return np.std(ends, axis=0, ddof=1), np.median(mc, axis=0)


@pytest.mark.parametrize("p_never", [0.0, 0.5])
def test_mc_error_matches_the_spread_over_seeds(p_never):
    """The error one seed reports for an end (from its binomial rank band) is the sd of that end over seeds,
    within 30%: on a lognormal, and on one where half the draws are "never" (the lower end then sits in the
    finite part's tail)."""
    def draw(rng, n):
        x = 10 ** rng.normal(1.0, 0.5, n)
        return np.where(rng.random(n) < p_never, np.inf, x)
    sd, mc = _seed_sd_and_mc(draw)
    assert 0.7 < mc[0] / sd[0] < 1.3
    if p_never == 0:
        assert 0.7 < mc[1] / sd[1] < 1.3
    else:
        assert mc[1] == 0          # the upper end is "never" on every seed


def test_more_draws_make_an_end_stable():
    def draw(rng, n):
        return 10 ** rng.normal(1.0, 0.3, n)
    sd_small, _ = _seed_sd_and_mc(draw, n=100, n_seeds=60)
    sd_large, _ = _seed_sd_and_mc(draw, n=1600, n_seeds=60)
    assert 0.15 < sd_large[0] / sd_small[0] < 0.35      # 1 / sqrt(16) = 0.25
    assert interval_with_mc(draw(np.random.default_rng(0), 8000))["stable"]     # error 0.007 decades
    assert not interval_with_mc(draw(np.random.default_rng(0), 100))["stable"]


def test_upper_end_within_mc_error_of_never_is_reported_never():
    """4.5% "never" at n = 400: the 95% quantile is finite, but "never" is within Monte Carlo error of the 5%
    tail, so the upper end is reported as inf (wider, never narrower); with no "never" it stays finite."""
    rng = np.random.default_rng(0)
    x = 10 ** rng.normal(1.0, 0.3, 400)
    x[:18] = np.inf
    iv = interval_with_mc(x)
    assert np.isinf(iv["hi"]) and iv["hi_widened"] and iv["p_never"] == pytest.approx(0.045)
    iv0 = interval_with_mc(10 ** rng.normal(1.0, 0.3, 400))
    assert np.isfinite(iv0["hi"]) and not iv0["hi_widened"]


def test_recombine_uses_each_refit_equally():
    take = recombine(50, 3, 4, seed=1)
    assert take.shape == (200, 3)
    assert (take[:50] == np.arange(50)[:, None]).all()           # the refits as drawn come first
    for g in range(3):
        assert (np.bincount(take[:, g], minlength=50) == 4).all()
    assert (recombine(50, 3, 4, seed=1) == take).all()           # deterministic given the seed


def test_recombined_mc_error_matches_the_spread_over_seeds():
    """The 10% quantile of the median of five independent groups, each seed with 200 refits per group: recombined
    20 times, its spread over seeds is smaller than that of the 200 joint refits alone, and ``recombined_cdf_sd``
    predicts it: the sd over seeds of the true CDF at the seed's end, within 20%."""
    n, groups, q = 200, 5, 0.1
    truth = np.sort(np.median(np.random.default_rng(999).lognormal(size=(400_000, groups)), axis=1))
    plain, combined, predicted = [], [], []
    for seed in range(100):
        refits = np.random.default_rng(seed).lognormal(size=(n, groups))
        plain.append(np.quantile(np.median(refits, axis=1), q, method="inverted_cdf"))
        take = recombine(n, groups, 20, seed)
        stat = np.median(refits[take, np.arange(groups)], axis=1)
        end = np.quantile(stat, q, method="inverted_cdf")
        combined.append(end)
        predicted.append(recombined_cdf_sd(stat <= end, take, n)[0])
    cdf = lambda ends: np.searchsorted(truth, ends) / len(truth)        # noqa: E731
    assert np.std(cdf(combined)) < 0.8 * np.std(cdf(plain))
    assert 0.8 < np.median(predicted) / np.std(cdf(combined)) < 1.2


def _crossing_reference(x, y):
    """Definition (b)'s crossing of one row, written out branch by branch (x sorted)."""
    if len(x) == 1:
        return 0.0 if y[0] > 0 else np.inf
    if y[-1] <= 0:
        slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
        return 10 ** (x[-1] - y[-1] / slope) if slope > 0 else np.inf
    neg = np.flatnonzero(y <= 0)
    if len(neg):
        i = neg[-1]
        return 10 ** (x[i] + -y[i] / (y[i + 1] - y[i]) * (x[i + 1] - x[i]))
    slope = (y[1] - y[0]) / (x[1] - x[0])
    return 10 ** (x[0] - y[0] / slope) if slope > 0 else 0.0


def test_crossing_rows_match_a_row_by_row_reference():
    rng = np.random.default_rng(3)
    for x in (np.log10([1.0, 1.86, 10.0]), np.log10([10.0, 1.0, 1.86, 40.0]), np.log10([3.0])):
        d = rng.normal(size=(300, len(x)))
        d[:50] = np.abs(d[:50])        # all positive
        d[50:100] = -np.abs(d[50:100])  # all negative
        order = np.argsort(x)
        with np.errstate(divide="ignore", over="ignore"):
            want = np.array([_crossing_reference(x[order], row[order]) for row in d])
        np.testing.assert_allclose(be.crossing_rows(x, d), want, rtol=1e-12)
        got = [be._crossing(x, row) for row in d]        # one row, with its flag: interpolated only inside
        np.testing.assert_array_equal([r for r, _ in got], be.crossing_rows(x, d))
        inside = (d[:, order][:, -1] > 0) & (d <= 0).any(axis=1)
        np.testing.assert_array_equal([extra for _, extra in got], ~inside)


def test_grid_crossing_rows_interpolate_the_first_positive_lead():
    x = np.log10(be.RATIO_GRID)
    lead = np.tile(x - x[40] - 0.25 * (x[41] - x[40]), (4, 1))   # crosses a quarter of the way past point 40
    lead[1] = 1.0                                                # ahead everywhere: the grid's first ratio
    lead[2] = -1.0                                               # never ahead
    lead[3, 70:] = -1.0                                          # only the first crossing counts
    r = be.grid_crossing_rows(lead)
    want = 10 ** (x[40] + 0.25 * (x[41] - x[40]))
    np.testing.assert_allclose(r[[0, 3]], want, rtol=1e-12)
    assert r[1] == be.RATIO_GRID[0] and np.isinf(r[2])


def test_log_median_rows():
    np.testing.assert_allclose(be.log_median_rows(np.array([[100.0, 1.0], [1.0, 4.0], [2.0, 3.0]])),
                               [10.0, 2.0, np.sqrt(6.0)])
    assert be.log_median([0.0, 5.0]) == 0.0 and be.log_median([5.0, np.inf]) == np.inf
    assert be.log_median([2.0, np.inf, 8.0]) == 8.0 and np.isnan(be.log_median([]))


def test_block_targets_ask_for_the_resolvable_ends():
    tol = STABLE_SE_LOG10
    contests = [("t", "m", name) for name in ("a", "b", "c")]      # one contest per block
    refits = be.ContestRefits(contests, [], np.zeros((400, 3)), np.zeros((400, 3)), np.zeros((400, 3, 1)),
                              [0, 1, 2])
    panel = {"lo_mc": np.array([tol / 2, 2 * tol, 10 * tol]), "hi_mc": np.zeros(3), "hi_widened": np.zeros(3, bool)}
    pooled = {"lo_mc": np.zeros(0), "hi_mc": np.zeros(0), "hi_widened": np.zeros(0, bool)}
    # 2x the tolerance needs 4x the refits; 10x (a thin tail) would need 100x: beyond the cap, left flagged
    np.testing.assert_array_equal(be.block_targets(refits, panel, pooled, [], 400, 2000), [400, 1600, 400])
    np.testing.assert_array_equal(be.block_targets(refits, panel, pooled, [], 400, 1000), [400, 400, 400])
    panel["hi_mc"] = np.array([0.0, 0.0, 3 * tol])               # 9x: 3600 > 2000, unless widened to "never"
    np.testing.assert_array_equal(be.block_targets(refits, panel, pooled, [], 400, 4000), [400, 1600, 3600])
    panel["hi_widened"] = np.array([False, False, True])
    np.testing.assert_array_equal(be.block_targets(refits, panel, pooled, [], 400, 4000), [400, 1600, 400])


def test_adaptive_refits_stop_where_they_should(paper_runs):
    fitted = fit(paper_runs[paper_runs.task == "mmlu"], "offset_exp")
    fixed = be.breakeven_intervals(fitted, n_boot=40, seed=2)
    adaptive = be.breakeven_intervals(fitted, n_boot=40, seed=2, max_boot=200)
    assert (fixed.n_boot.dropna() == 40).all()
    rows = adaptive[adaptive.definition != "pareto"]
    used = rows.n_boot.to_numpy(float)                               # per row: its panels' refits
    assert set(used) <= {40, 100, 200} and used.max() > 40
    again = be.breakeven_intervals(fitted, n_boot=40, seed=2, max_boot=200)
    assert again.ratio_lo.equals(adaptive.ratio_lo)                # deterministic given the seed
    # after the extra refits every end is either within the tolerance or would need more than the cap
    for end in ("ratio_lo_mc", "ratio_hi_mc"):
        mc = rows[end].to_numpy(float)
        need = used * (mc / (STABLE_SE_LOG10)) ** 2
        ok = (mc <= STABLE_SE_LOG10) | (need > 200) | rows.hi_widened.to_numpy(bool)
        assert ok.mean() >= 0.8   # the 1 / sqrt(n) prediction is approximate: most, not all


def test_unstable_ends_print_rounded_outwards():
    from costlaw.reproduce import _end_text

    assert _end_text(23.2, 0.03, True) == "23.2"
    assert _end_text(26.9, 0.02, False) == "~26" and _end_text(26.9, 0.02, False, upper=True) == "~27"
    assert _end_text(26.9, 0.03, False) == "~20" and _end_text(26.9, 0.03, False, upper=True) == "~50"
    assert _end_text(26.9, 0.1, False) == "~10" and _end_text(26.9, 0.1, False, upper=True) == "~100"
    assert _end_text(0.3, 0.1, False) == "~0.1" and _end_text(0.3, 0.04, False, upper=True) == "~0.5"
    assert _end_text(0.37, 0.02, False) == "~0.37" and _end_text(float("inf"), 0.1, False) == "inf~"
    assert _end_text(47.0, float("inf"), False) == "~10" and _end_text(50.0, 0.04, False) == "~50"


def test_printed_ends_never_narrow_the_interval():
    """A printed end is the computed one (stable, inf) or rounded outwards, by less than its grid's step."""
    rng = np.random.default_rng(5)
    for v, mc, stable in zip(10 ** rng.uniform(-2, 4, 500), 10 ** rng.uniform(-3, 0, 500), rng.random(500) < 0.3):
        lo, hi = printed_end(v, mc, stable), printed_end(v, mc, stable, upper=True)
        assert lo <= v <= hi
        assert (lo == v == hi) if stable else (v / lo < 10 + 1e-9 and hi / v < 10 + 1e-9)
    assert printed_end(np.inf, 0.1, False) == np.inf and printed_end(20.0, 0.1, None) == 20.0


def _three_seed_agreement(draw, n=400, trials=30):
    """Share of trials in which three seeds' interval ends (both) are within 10%: (raw, printed)."""
    def agree(values):
        return all(log10_spread(a, b) <= STABLE_LOG10 + 1e-12 for a, b in combinations(values, 2))
    raw = printed = 0
    for trial in range(trials):
        ivs = [interval_with_mc(draw(np.random.default_rng([trial, seed]), n)) for seed in range(3)]
        ends = [(end, [iv[end] for iv in ivs],
                 [printed_end(iv[end], iv[f"{end}_mc"], iv[f"{end}_stable"], end == "hi") for iv in ivs])
                for end in ("lo", "hi")]
        raw += all(agree(r) for _, r, _ in ends)
        printed += all(agree(p) for _, _, p in ends)
    return raw / trials, printed / trials


@pytest.mark.parametrize("sigma, p_never", [(0.3, 0.0), (0.5, 0.3), (0.8, 0.0), (0.5, 0.85)])
def test_printed_ends_agree_across_seeds_where_raw_ones_do_not(sigma, p_never):
    """Wide bootstrap distributions (log10 sd 0.3-0.8 decades, some "never"): at 400 draws the raw ends of three
    seeds are rarely within 10% of each other; the printed ones (rounded outwards to a grid set by their Monte
    Carlo error) mostly are."""
    def draw(rng, n):
        x = 10 ** rng.normal(1.0, sigma, n)
        return np.where(rng.random(n) < p_never, np.inf, x)
    raw, printed = _three_seed_agreement(draw)
    assert raw <= 0.35 and printed >= 0.6 and printed >= raw + 0.3


def test_pooled_interval_without_recombination_is_the_plain_one():
    rng = np.random.default_rng(4)
    draws = 10 ** rng.normal(1.0, 0.3, (300, 2))
    plain = interval_with_mc(draws)
    same = be.pooled_interval(draws, recombine(300, 6, 1), 300)
    for key in ("lo", "hi", "lo_mc", "hi_mc"):
        np.testing.assert_array_equal(same[key], plain[key])


def test_panels_fitted_apart_are_recombined_apart(paper_runs):
    """offset_exp fits each panel in its own block: six groups for the six panels' contests (PPL and LESS of a
    panel share one); a form with parameters shared across sizes joins the panels it spans."""
    fitted = fit(paper_runs, "offset_exp")
    contests = [(t, m) for t, m in paper_runs[["task", "train_model"]].drop_duplicates().itertuples(index=False)
                for _ in ("ppl", "less")]
    groups = be.panel_groups(fitted, contests)
    assert len(set(groups)) == 6 and all(groups[0::2] == groups[1::2])
    shared = fit(paper_runs, "offset_exp_size")
    assert len(set(be.panel_groups(shared, contests))) < 6


def _seed_spread(ends: np.ndarray) -> np.ndarray:
    """Largest pairwise log10 distance between seeds (rows of ``ends``), per column."""
    return np.max([log10_spread(a, b) for a, b in combinations(ends, 2)], axis=0)


def test_default_printed_ends_agree_across_three_seeds(paper_runs):
    """Issue 8, item 3, at ``costlaw reproduce``'s default (400 refits, no adaptive refits), seeds 0, 1, 2: every
    end that moves by more than 10% between the seeds is flagged '~' on some seed, every printed end is the raw one
    or wider, and the printed ends agree across the seeds for most intervals, more often than the raw ends
    (``benchmarks/breakeven_seeds.py`` measures it over ten seeds and 120 three-seed subsets)."""
    from costlaw.reproduce import DEFAULT_N_BOOT

    fitted = fit(paper_runs, "offset_exp")
    tables = [be.breakeven_intervals(fitted, n_boot=DEFAULT_N_BOOT, seed=seed) for seed in (0, 1, 2)]
    tables = [t[t.definition != "pareto"].reset_index(drop=True) for t in tables]
    raw_ok = printed_ok = np.ones(len(tables[0]), bool)
    for end in ("lo", "hi"):
        raw = np.stack([t[f"ratio_{end}"].to_numpy(float) for t in tables])
        shown = np.stack([[printed_end(v, mc, s, end == "hi") for v, mc, s in
                           zip(t[f"ratio_{end}"], t[f"ratio_{end}_mc"], t[f"{end}_stable"])] for t in tables])
        assert (shown <= raw).all() if end == "lo" else (shown >= raw).all()
        moves = _seed_spread(raw) > STABLE_LOG10 + 1e-12
        flagged = np.any([~t[f"{end}_stable"].to_numpy(bool) for t in tables], axis=0)
        assert (flagged[moves]).all()
        raw_ok = raw_ok & ~moves
        printed_ok = printed_ok & (_seed_spread(shown) <= STABLE_LOG10 + 1e-12)
    assert printed_ok.sum() > raw_ok.sum() and printed_ok.mean() >= 0.7


def test_stable_range_constant():
    from scipy.stats import studentized_range
    from costlaw.bands import STABLE_RANGE_SD, STABLE_WIDENED_Z
    from scipy.stats import norm
    assert STABLE_RANGE_SD == pytest.approx(studentized_range.ppf(0.99, 3, 1e6), abs=1e-3)
    assert STABLE_WIDENED_Z == pytest.approx(norm.ppf(0.995), abs=1e-3)


def test_an_end_called_stable_agrees_across_three_seeds():
    """The issue's check, per output: three seeds' ends are within 10% of each other, or the output flags the end
    unstable. Draws whose ends' Monte Carlo error straddles the threshold (log10 sd 0.06-0.12 at 400 refits):
    among ends a seed calls stable, at most 2% disagree with the other two seeds (1% by design)."""
    called = broken = 0
    for sigma in (0.06, 0.08, 0.1, 0.12):
        for trial in range(150):
            ivs = [interval_with_mc(10 ** np.random.default_rng([trial, seed, int(sigma * 100)]).normal(1, sigma, 400))
                   for seed in range(3)]
            for end in ("lo", "hi"):
                values = [iv[end] for iv in ivs]
                moving = any(log10_spread(a, b) > STABLE_LOG10 + 1e-12 for a, b in combinations(values, 2))
                stable = [bool(iv[f"{end}_stable"]) for iv in ivs]
                called += sum(stable)
                broken += moving * sum(stable)
    assert called > 300                       # the straddle: many ends are called stable, many are not
    assert broken / called <= 0.015          # at 0.9 (2.9 sd) it was 2.3%
