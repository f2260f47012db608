"""--jobs: work split over forked processes gives the same numbers as one process."""
import numpy as np
import pandas as pd
import pytest

from costlaw.parallel import Background, map_parts, split


def _scaled(shared, part):
    return shared[part] * 2.0


def test_map_parts_matches_a_loop_in_order():
    data = np.arange(10.0)
    parts = split(len(data), 3)
    assert [p.stop - p.start for p in parts] == [3, 4, 3] and parts[0].start == 0 and parts[-1].stop == 10
    assert split(2, 5) == [slice(0, 1), slice(1, 2)] and split(0, 3) == []
    serial = map_parts(_scaled, data, parts, jobs=1)
    forked = map_parts(_scaled, data, parts, jobs=3)
    assert all(np.array_equal(a, b) for a, b in zip(serial, forked))
    assert np.array_equal(np.concatenate(forked), data * 2)
    assert Background(sum, [1, 2, 3], jobs=2).result() == 6 == Background(sum, [1, 2, 3], jobs=1).result()


def test_reproduce_gives_the_same_tables_for_any_number_of_jobs(tmp_path):
    from costlaw.reproduce import reproduce

    kw = dict(n_boot=30, protocols=("extrapolate_fraction",), log=lambda *_: None)
    one = reproduce(None, tmp_path / "one", figures=False, jobs=1, **kw)
    two = reproduce(None, tmp_path / "two", figures=True, jobs=2, **kw)   # figures drawn in a worker
    assert one.form_choice == two.form_choice
    assert set(one.tables) == set(two.tables) >= {"breakeven", "forms", "compare", "frontier"}
    for name, table in one.tables.items():
        pd.testing.assert_frame_equal(table, two.tables[name], check_exact=True, obj=name)
    assert len(two.figures) == 7 and all(p.exists() for p in two.figures)


def test_bootstrap_and_breakeven_refits_split_over_jobs(paper_runs):
    from costlaw import fit
    from costlaw.breakeven import breakeven_refits
    from costlaw.uncertainty import bootstrap

    fitted = fit(paper_runs, "offset_exp", warn=False)
    one, three = bootstrap(fitted, n_boot=13, seed=4, jobs=1), bootstrap(fitted, n_boot=13, seed=4, jobs=3)
    assert np.array_equal(one.values, three.values) and np.array_equal(one.converged, three.converged)
    a, b = breakeven_refits(fitted, one.values, jobs=1), breakeven_refits(fitted, one.values, jobs=2, chunk=4)
    pd.testing.assert_frame_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1], equal_nan=True) and np.array_equal(a[2], b[2], equal_nan=True)
    with pytest.raises(Exception, match="jobs"):
        bootstrap(fitted, n_boot=4, jobs=0)
