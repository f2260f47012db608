"""The smoke sweep end to end: schema, measured columns, FLOP agreement, selection effect, resume, atomic writes."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from costlaw.harness import sweep  # noqa: E402
from costlaw.harness.presets import preset  # noqa: E402
from costlaw.harness.runner import PHASES_FILE, RUNS_FILE, append_rows  # noqa: E402
from costlaw.schema import read_runs  # noqa: E402

EXTRA = ["metric_name", "answer_prob", "answer_loglik", "exact_match", "mc_accuracy", "measured_selection_flops",
         "measured_train_flops", "selection_seconds", "train_seconds", "target_share", "run_id"]


def test_smoke_runs_follow_the_schema(smoke_dir):
    runs = read_runs(smoke_dir / RUNS_FILE)
    cfg = preset("smoke")
    assert len(runs) == len(cfg.methods) * len(cfg.fractions) * len(cfg.seeds)
    assert set(runs.method) == {"random", "bm25", "embed", "ppl", "less"}
    for col in EXTRA:
        assert col in runs.columns, col
    assert runs.run_id.is_unique
    assert (runs.metric_name == "answer_prob").all() and np.allclose(runs.metric, runs.answer_prob)
    assert np.allclose(runs.answer_prob, 100 * np.exp(runs.answer_loglik))
    assert runs.metric.between(0, 100).all() and runs.base_metric.between(0, 100).all()
    assert (runs.train_tokens == runs.epochs * runs.fraction * runs.pool_tokens).all() or \
        np.allclose(runs.train_tokens, runs.epochs * runs.fraction * runs.pool_tokens)
    free = runs.method.isin(["random", "bm25"])
    assert (runs.loc[free, "selection_flops"] == 0).all()
    assert (runs.loc[~free, "selection_flops"] > 0).all()
    assert (runs.loc[~free, "selection_seconds"] > 0).all() and (runs.train_seconds > 0).all()


def test_measured_flops_within_five_percent_every_phase(smoke_dir):
    runs = pd.read_csv(smoke_dir / RUNS_FILE)
    assert np.allclose(runs.measured_train_flops, runs.train_flops, rtol=0.05)
    model_based = runs.selection_flops > 0
    assert np.allclose(runs.measured_selection_flops[model_based], runs.selection_flops[model_based], rtol=0.05)
    phases = pd.read_csv(smoke_dir / PHASES_FILE)
    counted = phases[phases.analytic_flops > 0]
    assert {"tuning", "scoring", "warmup", "gradients", "projection", "training", "evaluation"} <= set(counted.phase)
    ratio = counted.measured_flops / counted.analytic_flops
    assert ratio.between(0.95, 1.05).all(), counted.assign(ratio=ratio)


def test_lexical_and_embedding_selection_find_the_target(smoke_dir):
    runs = pd.read_csv(smoke_dir / RUNS_FILE)
    share = runs.pool_target_share.iloc[0]
    by = runs.set_index(["method", "fraction_nominal"]).target_share
    for fraction in preset("smoke").fractions:
        assert by[("random", fraction)] < 2 * share
        assert by[("bm25", fraction)] > 2 * share
        assert by[("embed", fraction)] > 2 * share


def test_resume_skips_finished_runs_and_reruns_lost_ones(smoke_dir, harness_cache, tmp_path):
    cfg = preset("smoke")
    cfg.cache_dir = str(harness_cache)
    before = pd.read_csv(smoke_dir / RUNS_FILE)
    again = sweep(cfg, smoke_dir, progress=False)  # everything finished: nothing reruns
    assert len(again) == len(before) and list(again.run_id) == list(before.run_id)
    partial = tmp_path / "partial"
    partial.mkdir()
    before.iloc[:-2].to_csv(partial / RUNS_FILE, index=False)  # as if killed before the last two finished
    resumed = sweep(cfg, partial, progress=False)
    assert len(resumed) == len(before) and resumed.run_id.is_unique
    assert set(resumed.run_id) == set(before.run_id)
    pd.testing.assert_frame_equal(resumed.iloc[:-2], before.iloc[:-2])
    cached = resumed.set_index("run_id").loc[before.run_id.iloc[-2:], "selection_flops"]
    assert np.allclose(cached, before.selection_flops.iloc[-2:])  # selector scores came from the cache


def test_limit_stops_early_and_append_is_atomic(harness_cache, tmp_path):
    cfg = preset("smoke")
    cfg.cache_dir = str(harness_cache)
    cfg.methods, cfg.fractions = ["random"], [0.1]
    runs = sweep(cfg, tmp_path, progress=False, limit=0)
    assert runs.empty and not (tmp_path / RUNS_FILE).exists()
    append_rows(tmp_path / "x.csv", [{"a": 1}])
    append_rows(tmp_path / "x.csv", [{"a": 2}])
    assert list(pd.read_csv(tmp_path / "x.csv").a) == [1, 2]
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_smoke_feeds_the_core_fitter_inputs(smoke_dir):
    runs = read_runs(smoke_dir / RUNS_FILE)
    assert np.allclose(runs.total_flops, runs.selection_flops + runs.train_flops)
    assert (runs.train_flops.groupby(runs.method).apply(lambda s: s.is_monotonic_increasing)).all()
