"""Bounded memory at scale (issue 12): work done a block at a time gives the same numbers as all at once, and the
blocks follow their memory budgets."""
import numpy as np
import pandas as pd
import pytest

from costlaw import breakeven as be
from costlaw import fit
from costlaw import uncertainty
from costlaw.frontier import CurveGrid
from costlaw.reproduce import curve_parts, curve_table, frontier_parts, frontier_table


@pytest.fixture(scope="module")
def fitted(paper_runs):
    return fit(paper_runs, "offset_exp", warn=False)


def test_panel_blocks_hold_whole_panels_within_the_budget(fitted):
    grid = CurveGrid(fitted.runs_, 600)
    panel_points = {}
    for (task, model, *_), f in zip(grid.meta, grid.fractions):
        panel_points[(task, model)] = panel_points.get((task, model), 0) + len(f)
    budget = 2 * max(panel_points.values())
    blocks = grid.panel_blocks(budget)
    assert len(blocks) > 1 and blocks[0].start == 0 and blocks[-1].stop == len(grid.meta)
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:]))            # consecutive, all curves
    every = grid.curves(fitted)
    for block in blocks:
        panels = list(dict.fromkeys(m[:2] for m in grid.meta[block]))
        assert sum(panel_points[p] for p in panels) <= budget                     # the budget holds
        inside = {m[:2] for m in grid.meta[block]}
        outside = {m[:2] for m in grid.meta[:block.start] + grid.meta[block.stop:]}
        assert not inside & outside                                               # whole panels only
        for a, b in zip(grid.curves(fitted, block), every[block]):
            assert (a.task, a.method) == (b.task, b.method) and np.array_equal(a.metric, b.metric)
    assert all(len({m[:2] for m in grid.meta[b]}) == 1 for b in grid.panel_blocks(1))   # a panel at least
    shapes = grid.shapes()
    assert all(s.metric is None and np.array_equal(s.fractions, c.fractions) and s.method == c.method
               for s, c in zip(shapes, every))


def test_frontier_and_curve_tables_in_parts_equal_the_whole(fitted):
    whole = frontier_table(fitted)
    parts = list(frontier_parts(fitted, max_values=3000))
    assert len(parts) > 1
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole, check_exact=True)
    curves = curve_table(fitted)
    rows = list(curve_parts(fitted, max_rows=250))
    assert len(rows) > 1 and max(len(r) for r in rows) <= 250
    pd.testing.assert_frame_equal(pd.concat(rows, ignore_index=True), curves, check_exact=True)


@pytest.fixture(scope="module")
def refit_values(fitted):
    return uncertainty.bootstrap(fitted, n_boot=24, seed=3).values


@pytest.mark.parametrize("jobs", [1, 2])
def test_pooled_sums_made_as_the_contests_come_equal_the_kept_curves(fitted, refit_values, jobs, monkeypatch):
    monkeypatch.setattr(be, "POOLED_PART_VALUES", 24 * len(be.RATIO_GRID) * 3)   # several parts for the workers
    monkeypatch.setattr(be, "CHUNK_GRID_VALUES", 20_000)                           # several blocks of contests
    kept = be.contest_refits(fitted, refit_values, chunk=7)
    summed = be.contest_refits(fitted, refit_values, chunk=7, jobs=jobs, draws_seed=5)
    assert summed.curves is None and kept.curves.shape == (24, len(kept.contests), len(be.RATIO_GRID))
    assert np.array_equal(kept.ratio, summed.ratio) and np.array_equal(kept.lead, summed.lead)
    take = be.pooled_draws(24, kept.n_blocks, len(kept.contests), 5)
    assert np.array_equal(summed.pooled_sums[0], take)
    keys_a, a = kept.pooled(take)
    keys_b, b = summed.pooled(take)
    assert keys_a == keys_b and np.array_equal(a, b, equal_nan=True)             # bit for bit
    with pytest.raises(ValueError, match="draws_seed"):
        summed.pooled(be.pooled_draws(24, kept.n_blocks, len(kept.contests), 6))
    with pytest.raises(ValueError, match="draws_seed"):
        summed.add(kept, np.ones(kept.n_blocks, np.intp))


def test_breakeven_intervals_unchanged_by_the_blocks(fitted, monkeypatch):
    base = be.breakeven_intervals(fitted, n_boot=20, seed=1)
    monkeypatch.setattr(be, "CHUNK_GRID_VALUES", 5_000)
    monkeypatch.setattr(uncertainty, "BOOT_CHUNK_VALUES", 3 * len(fitted.runs_))
    monkeypatch.setattr("costlaw.frontier.PANEL_BLOCK_VALUES", 2_000)
    small = be.breakeven_intervals(fitted, n_boot=20, seed=1)
    pd.testing.assert_frame_equal(base, small, check_exact=True)


def test_bootstrap_chunks_follow_the_budget_and_change_nothing(fitted, monkeypatch):
    one = uncertainty.bootstrap(fitted, n_boot=11, seed=2)
    sizes = []
    real = uncertainty.refit

    def counted(fit_, weights, *a, **k):
        sizes.append(weights.size)
        return real(fit_, weights, *a, **k)

    monkeypatch.setattr(uncertainty, "refit", counted)
    monkeypatch.setattr(uncertainty, "BOOT_CHUNK_VALUES", 4 * len(fitted.runs_))
    chunked = uncertainty.bootstrap(fitted, n_boot=11, seed=2)
    assert [s // len(fitted.runs_) for s in sizes] == [4, 4, 3]                  # refits per chunk: the budget
    assert np.array_equal(one.values, chunked.values) and np.array_equal(one.converged, chunked.converged)


@pytest.mark.parametrize("n_rep", [40, [40, 25, 40, 33, 40]])
@pytest.mark.parametrize("n_cols", [1, 2, 7])
def test_recombined_cdf_sums_equal_the_parts_without_the_groups_by_columns_array(n_rep, n_cols, monkeypatch):
    from costlaw import bands
    rng = np.random.default_rng(4)
    take = bands.recombine(n_rep, 5, 3, seed=2)
    ind = rng.random((len(take), n_cols)) < rng.random(n_cols)
    monkeypatch.setattr(bands, "CDF_CHUNK", 3 * (len(take) + 40 * n_cols + 1))          # groups in chunks of 3
    first, rest = bands.recombined_cdf_parts(ind, take, n_rep)
    scaled, rest_s = bands.recombined_cdf_sums(ind, take, n_rep)
    assert np.array_equal(rest, rest_s)                                                  # bit for bit
    assert np.array_equal(np.sqrt((scaled / n_rep if np.ndim(n_rep) == 0 else scaled) + rest_s / len(take)),
                          bands.cdf_sd_from_parts(first, rest, n_rep, len(take)))
    draws = np.exp(rng.normal(size=(len(take), n_cols)))
    a, b = be.pooled_interval(draws, take, n_rep), be.pooled_interval(draws, take, n_rep, parts=False)
    assert "lo_first" in a and "lo_first" not in b
    for key in b:
        assert np.array_equal(a[key], b[key], equal_nan=True)
