"""Fidelity to LESS and CCDS (issue 9: 7): subtask max, lr-weighted checkpoints, LESS's preset, CCDS's PPL
thirds and query text, selection by examples."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from costlaw.harness.data import Example  # noqa: E402
from costlaw.harness.models import ModelSpec  # noqa: E402
from costlaw.harness.pool import generated_task  # noqa: E402
from costlaw.harness.selectors import (  # noqa: E402
    LESS_DEFAULTS, SelectionContext, aggregate_validation, ccds_text, get_selector, gradient_options, third_sampling)
from costlaw.harness.subset import select_top_examples  # noqa: E402


def test_less_aggregation_is_the_max_over_subtasks_of_the_mean_within():
    rng = np.random.default_rng(0)
    sims = rng.normal(size=(7, 6))
    validation = [Example("q", "a", fam) for fam in ["x", "x", "x", "y", "y", "y"]]
    less = sims.reshape(7, 2, 3).mean(-1).max(-1)  # LESS's matching.py: reshape(N, N_SUBTASKS, -1).mean(-1).max(-1)
    np.testing.assert_allclose(aggregate_validation(sims, validation), less)
    np.testing.assert_allclose(aggregate_validation(sims, validation, "mean"), sims.mean(1))
    assert not np.allclose(less, sims.mean(1))


def test_less_preset_and_lr_weighted_checkpoints(harness_cache):
    opts = gradient_options({"preset": "less", "projection_dims": 32})
    assert {k: opts[k] for k in ("lora_rank", "lora_alpha", "lr", "projection_dims")} == \
        {"lora_rank": 128, "lora_alpha": 512, "lr": 2e-5, "projection_dims": 32}
    assert opts["lr_schedule"] == "linear" and LESS_DEFAULTS["projection_dims"] == 8192
    task = generated_task(pool_examples=80, validation_examples=4, test_examples=4, pretrain_examples=100)
    ctx = SelectionContext(task, 0, harness_cache, ModelSpec.parse("tiny-xs", 20),
                           {"preset": "less", "lora_rank": 4, "lora_alpha": 16, "projection_dims": 32,
                            "min_warmup_examples": 32, "batch_size": 8}, batch_size=16)
    out = get_selector("gradient").score(ctx)
    lrs = out.extra["checkpoint_lrs"]
    assert len(lrs) == 4 and all(a > b for a, b in zip(lrs, lrs[1:]))  # linear decay: each epoch weighs less
    assert 5 < lrs[0] / lrs[-1] < 9  # LESS: the first epoch weighs ~6.6x the last
    assert np.isfinite(out.scores).all() and np.ptp(out.scores) > 0


def test_ccds_ppl_thirds_sample_at_random_within_the_band():
    nll = np.arange(90, dtype=float)[::-1]  # example i has rank 89 - i
    for band, lo, hi in (("low", 0, 30), ("mid", 30, 60)):
        picks = np.argsort(-third_sampling(nll, band, seed=1))[:20]
        ranks = 89 - picks
        assert ranks.min() >= lo and ranks.max() < hi  # all inside the band
        assert sorted(ranks) != list(range(lo, lo + 20))  # not the strict extremes
    assert not np.array_equal(third_sampling(nll, "low", 1), third_sampling(nll, "low", 2))
    ex = Example("Q?", "yes", turns=(("user", "first"), ("assistant", "x"), ("user", "Q?")))
    assert ccds_text(ex) == "first A: yes"


def test_bm25_reads_first_user_messages_and_one_query_per_subtask():
    pool = [Example("the cat sat", "dog dog dog"), Example("the cat sat", "bird"), Example("a fish", "swims")]
    validation = [Example("cat", "dog", "a"), Example("cat sat", "dog", "a"), Example("fish", "x", "b")]
    task = type("T", (), {"pool": pool, "validation": validation})()
    full = get_selector("bm25").score(SelectionContext(task)).scores
    ccds = get_selector("bm25").score(SelectionContext(task, options={"text": "first_user",
                                                                      "query": "subtask"})).scores
    assert full[0] > full[1]  # the response ("dog") leaks into the full-text score
    assert ccds[0] == pytest.approx(ccds[1])  # CCDS: the response is not part of the document
    assert ccds[2] > 0


def test_selection_by_examples_takes_the_top_fraction_of_examples():
    scores = np.arange(50.0)
    idx = select_top_examples(scores, 0.1)
    assert list(idx) == [49, 48, 47, 46, 45]
    assert len(select_top_examples(scores, 0.001)) == 1
