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
    assert set(one.tables) == set(two.tables) >= {"breakeven", "forms", "compare"}
    for name, table in one.tables.items():
        pd.testing.assert_frame_equal(table, two.tables[name], check_exact=True, obj=name)
    assert one.streamed == two.streamed == ["curves", "frontier"]      # written as made, not held
    for name in one.streamed:
        assert (tmp_path / "one" / f"{name}.csv").read_bytes() == (tmp_path / "two" / f"{name}.csv").read_bytes()
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


def test_reproduce_at_scale_samples_and_cuts_refits_and_says_so(tmp_path, paper_runs):
    """Beyond scale_panels: form choice and held-out comparison on a sample of whole tasks, fewer break-even
    refits; every break-even ratio still covers every panel, and the report says what was cut."""
    from costlaw.reproduce import MIN_SCALE_REFITS, format_report, reproduce, scale_refits, scale_sample

    sample, n_panels, n_scored = scale_sample(paper_runs, 3, seed=0)
    assert (n_panels, n_scored) == (6, 3) and sample.task.nunique() == 1 and len(sample) == 90
    assert scale_sample(paper_runs, 6)[0] is paper_runs
    assert scale_refits(400, 600, 60) == MIN_SCALE_REFITS and scale_refits(400, 120, 60) == 200
    assert scale_refits(400, 60, 60) == 400 and scale_refits(30, 600, 60) == 30
    result = reproduce(None, tmp_path, figures=False, n_boot=100, protocols=("extrapolate_size",),
                       log=lambda *_: None, scale_panels=3)
    assert len(result.notes) == 2 and "sample of 3 panels" in result.notes[0] and "50 bootstrap" in result.notes[1]
    assert "At scale: 6 panels" in format_report(result)
    be = result.tables["breakeven"]
    offset = be[(be.form == list(result.fits)[-1]) & (be.definition == "shrink") & (be.task != "all")]
    assert len(offset) == 12 and (offset.n_boot == 50).all()          # 6 panels x ppl, less
    size = result.tables["compare"]
    size = size[size.protocol == "extrapolate_size"]
    assert (size.n_heldout == 30).all()                                 # the sampled task's 70B panel only


def _fails(message):
    from costlaw.errors import InputError
    raise InputError(message)


def test_background_process_exits_once_done_and_hands_errors_over():
    import time
    from costlaw.errors import InputError
    job = Background(sum, [1, 2, 3], jobs=2)
    for _ in range(200):                      # it hands its result over and exits before result() is called
        if not job._proc.is_alive():
            break
        time.sleep(0.05)
    assert not job._proc.is_alive() and job._proc.exitcode == 0       # its memory is not held until result()
    assert job.result() == 6
    with pytest.raises(InputError, match="bad value") as err:
        Background(_fails, "bad value", jobs=2).result()
    assert "in the background process" in str(err.value.__cause__)


def test_reproduce_defaults_to_one_process_beyond_the_memory_limit(monkeypatch, tmp_path, capsys):
    """Beyond ``ONE_JOB_RUNS`` runs the default --jobs of reproduce is 1 (memory of all processes under 1 GiB);
    an explicit --jobs wins; below it, the CPUs (``parallel.default_jobs``)."""
    import costlaw.reproduce as rep
    from costlaw.cli import main
    from costlaw.datasets import paper_runs
    from costlaw.parallel import default_jobs
    assert rep.default_reproduce_jobs(180) == default_jobs()
    assert rep.default_reproduce_jobs(rep.ONE_JOB_RUNS + 1) == 1
    seen = []

    class Stop(Exception):
        pass

    def fake(runs, out_dir, **kwargs):
        seen.append(kwargs["jobs"])
        raise Stop

    monkeypatch.setattr(rep, "reproduce", fake)
    monkeypatch.setattr(rep, "ONE_JOB_RUNS", 100)     # the 180 bundled runs count as "many"
    path = tmp_path / "runs.csv"
    paper_runs().to_csv(path, index=False)
    for extra, jobs in (([], 1), (["--jobs", "2"], 2)):
        with pytest.raises(Stop):
            main(["reproduce", "--runs", str(path), "--out", str(tmp_path / "out"), "--no-figures", *extra])
        assert seen[-1] == jobs
    assert "one process" in capsys.readouterr().err
    monkeypatch.setattr(rep, "ONE_JOB_RUNS", 10_000)
    with pytest.raises(Stop):
        main(["reproduce", "--runs", str(path), "--out", str(tmp_path / "out2"), "--no-figures"])
    assert seen[-1] == default_jobs()
