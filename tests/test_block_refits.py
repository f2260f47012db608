"""Adaptive refits only for the fitting blocks whose interval ends need them (issue 8: intervals that do not move
with the seed): blocks with different numbers of refits, recombined for the pooled rows."""
import numpy as np
import pandas as pd
import pytest

from costlaw import breakeven as be
from costlaw import fit
from costlaw.bands import recombine, recombined_cdf_parts, recombined_cdf_sd
from costlaw.uncertainty import bootstrap


def test_recombine_with_different_refits_per_group():
    sizes = [50, 120, 80]
    take = recombine(sizes, 3, 4, seed=1)
    assert take.shape == (4 * 120, 3)
    for g, n in enumerate(sizes):
        assert (take[:n, g] == np.arange(n)).all()                   # each group's refits as drawn come first
        used = np.bincount(take[:, g], minlength=n)
        assert len(used) == n and used.max() - used.min() <= 1        # every refit used equally often (to one)
    assert (recombine(sizes, 3, 4, seed=1) == take).all()             # deterministic given the seed
    assert (recombine([60, 60, 60], 3, 4, seed=1) == recombine(60, 3, 4, seed=1)).all()   # equal: as before


def test_recombined_sd_with_different_refits_per_group():
    """A statistic of group 0 alone: its CDF's Monte Carlo sd is binomial over group 0's refits, whatever the
    others have; equal counts given per group give the scalar answer."""
    rng = np.random.default_rng(0)
    sizes = np.array([300, 1200, 700])
    refits = [rng.normal(size=n) for n in sizes]
    take = recombine(sizes, 3, 10, seed=0)
    stat = refits[0][take[:, 0]] + 0 * refits[1][take[:, 1]]
    below = stat <= np.quantile(stat, 0.1)
    first, rest = recombined_cdf_parts(below, take, sizes)
    assert first[1, 0] < 1e-3 and first[2, 0] < 1e-3                 # the statistic does not use groups 1, 2
    sd = recombined_cdf_sd(below, take, sizes)[0]
    assert 0.8 < sd / np.sqrt(0.1 * 0.9 / 300) < 1.2
    even = recombine(300, 3, 10, seed=0)
    ind = refits[0][even[:, 0]] <= 0.0
    np.testing.assert_array_equal(recombined_cdf_sd(ind, even, [300, 300, 300]), recombined_cdf_sd(ind, even, 300))


def _parts_by_group(ind, take, n_rep):
    """recombined_cdf_parts one group and one column at a time (the definition; the library does all at once)."""
    ind = ind[:, None] if ind.ndim == 1 else ind
    sizes = np.broadcast_to(np.asarray(n_rep, np.intp), (take.shape[1],))
    first = np.zeros((take.shape[1], ind.shape[1]))
    for g in range(take.shape[1]):
        count = np.bincount(take[:, g], minlength=sizes[g])
        used = count > 0
        sums = np.stack([np.bincount(take[:, g], weights=ind[:, j], minlength=sizes[g])
                         for j in range(ind.shape[1])], axis=1)
        means = sums[used] / count[used][:, None]
        copies = float(np.mean(count[used]))
        within = np.mean(means * (1 - means), axis=0) * copies / max(copies - 1, 1)
        first[g] = np.maximum(np.var(means, axis=0, ddof=1) - within / copies, 0.0)
    p = ind.mean(axis=0)
    return first, np.maximum(p * (1 - p) - first.sum(axis=0), 0.0)


@pytest.mark.parametrize("chunk", [None, 300])
@pytest.mark.parametrize("sizes", [40, [30, 90, 55, 12]])
def test_recombined_parts_all_groups_at_once_match_group_by_group(sizes, chunk, monkeypatch):
    """Recombined draws (every refit used) and random draws (some refits unused, uneven use), several columns;
    groups in one chunk, or in chunks of one or two (``CDF_CHUNK``)."""
    from costlaw import bands
    if chunk:
        monkeypatch.setattr(bands, "CDF_CHUNK", chunk)   # one or two groups at a time
    rng = np.random.default_rng(3)
    n = np.broadcast_to(np.asarray(sizes), (4,))
    for take in (recombine(sizes, 4, 5, seed=2), np.stack([rng.integers(0, k, 150) for k in n], axis=1)):
        values = np.stack([rng.normal(size=k) for k in n.max() * np.ones(4, int)], axis=1)
        stat = values[take, np.arange(4)].sum(axis=1)
        ind = stat[:, None] <= np.array([-1.0, 0.0, 0.5, 9.0])[None, :]
        first, rest = recombined_cdf_parts(ind, take, sizes)
        ref_first, ref_rest = _parts_by_group(ind.astype(float), take, sizes)
        assert (ref_first[:, :3] > 0).any()                             # a test that could fail
        np.testing.assert_allclose(first, ref_first, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(rest, ref_rest, rtol=1e-9, atol=1e-15)
        scaled = (ref_first / n[:, None]).sum(axis=0) if np.ndim(sizes) else ref_first.sum(axis=0) / sizes
        np.testing.assert_allclose(recombined_cdf_sd(ind, take, sizes), np.sqrt(scaled + ref_rest / len(take)),
                                   rtol=1e-9)


def test_allocate_refits_goes_where_the_variance_is():
    # variance 3a / 400 now; a quarter of it: the groups that carry it get 4x, the idle one none
    got = be.allocate_refits(np.array([1.0, 0.0, 1.0]), 0.0, np.array([400, 400, 400]), 0.25, 2000)
    np.testing.assert_array_equal(got, [1600, 400, 1600])
    # unequal shares: refits in proportion to sqrt(share) (Lagrange), the fewest in all
    got = be.allocate_refits(np.array([4.0, 1.0]), 0.0, np.array([400, 400]), 0.5, 5000)
    assert got[0] == pytest.approx(2 * got[1], rel=0.1) and np.sum([4, 1] / got) <= 0.5 * 5 / 400
    assert be.allocate_refits(np.array([1.0, 1.0]), 0.0, np.array([400, 400]), 0.01, 2000) is None   # > cap
    assert be.allocate_refits(np.array([1.0]), 1.0, np.array([400]), 0.5, 2000) is None   # draws' part dominates


def test_bootstrap_of_some_blocks_leaves_the_others_at_the_point_fit(paper_runs):
    fitted = fit(paper_runs[paper_runs.task == "mmlu"], "offset_exp")
    contests = [(t, m) for t, m in fitted.runs_[["task", "train_model"]].drop_duplicates().itertuples(index=False)]
    refits = be.contest_refits(fitted, fitted.x_[None])
    groups = be.run_groups(fitted, refits)
    assert set(groups) == set(range(len(contests)))
    resampled = np.where(groups == 1, 3, 0)                       # block 1 in the first 3 replicates only
    values = bootstrap(fitted, n_boot=5, seed=[7, 1], resampled=resampled).values
    full = bootstrap(fitted, n_boot=5, seed=[7, 1]).values
    entries_1 = np.any(values[:3] != fitted.x_[None], axis=0)
    assert entries_1.any()
    np.testing.assert_allclose(values[:3][:, entries_1], full[:3][:, entries_1], rtol=1e-9)   # same draws
    np.testing.assert_array_equal(values[3:], np.repeat(fitted.x_[None], 2, axis=0))
    np.testing.assert_array_equal(values[:, ~entries_1], np.repeat(fitted.x_[None], 5, axis=0)[:, ~entries_1])


@pytest.fixture(scope="module")
def mmlu_adaptive(paper_runs):
    fitted = fit(paper_runs[paper_runs.task == "mmlu"], "offset_exp")
    fixed = be.breakeven_intervals(fitted, n_boot=100, seed=2)
    adaptive = be.breakeven_intervals(fitted, n_boot=100, seed=2, max_boot=400)
    return fitted, fixed, adaptive


def test_only_the_needy_blocks_get_more_refits(mmlu_adaptive):
    _, fixed, adaptive = mmlu_adaptive
    panel = adaptive.definition.eq("shrink") & adaptive.task.ne("all")
    counts = adaptive[panel].groupby("train_model").n_boot.agg(["min", "max"])
    assert (counts["min"] == counts["max"]).all()                     # PPL and LESS of a panel: one block
    assert counts["min"].min() == 100 and counts["max"].max() > 100   # some blocks more, some none
    same = panel & (adaptive.n_boot == 100)                           # untouched blocks: rows as without
    cols = ["ratio_lo", "ratio_hi", "ratio_lo_mc", "ratio_hi_mc", "p_win", "p_never"]
    pd.testing.assert_frame_equal(adaptive.loc[same, cols], fixed.loc[same, cols])
    pooled = adaptive.task.eq("all") & adaptive.definition.ne("pareto")
    assert (adaptive.n_boot[pooled] == counts["max"].max()).all()
    assert (adaptive.n_draws[pooled] > adaptive.n_boot[pooled]).all()   # recombined
    again = be.breakeven_intervals(mmlu_adaptive[0], n_boot=100, seed=2, max_boot=400)
    pd.testing.assert_frame_equal(again, adaptive)                    # deterministic given the seed


def test_pooled_rows_recombine_blocks_with_different_refits(mmlu_adaptive):
    """The pooled shrink ratio of each joint draw is the log-median over panels of each panel's own refit."""
    fitted, _, _ = mmlu_adaptive
    values = bootstrap(fitted, n_boot=60, seed=3).values
    refits = be.contest_refits(fitted, values[:30])
    more = be.contest_refits(fitted, values[30:], blocks=[0, 2])
    uneven = refits.add(more, [30, 0, 10])
    np.testing.assert_array_equal(uneven.n_of, [60, 30, 40])
    assert np.isnan(uneven.ratio[40:, uneven.block == 2]).all()
    take = recombine(uneven.n_of, 3, 3, seed=0)
    uses = []
    keys, pooled = uneven.pooled(take, uses)
    j = keys.index(("shrink", "all", "pooled", "less"))
    ks = [k for k, c in enumerate(uneven.contests) if c[2] == "less"]
    want = [be.log_median([uneven.ratio[take[d, uneven.block[k]], k] for k in ks]) for d in range(len(take))]
    np.testing.assert_allclose(pooled[:, j], want)
    assert np.isfinite(pooled).any() and not np.isnan(pooled).any()
    assert [set(u) for u in uses][j] == {0, 1, 2}
    full = be.contest_refits(fitted, values)                           # the same refits, all blocks
    for b, n in enumerate(uneven.n_of):
        ks = uneven.block == b
        np.testing.assert_allclose(uneven.ratio[:n, ks], full.ratio[:n, ks])
