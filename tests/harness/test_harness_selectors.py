"""Selectors: the registry, a real selection effect, and batched per-example gradients equal to the loop."""
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from costlaw import costs  # noqa: E402
from costlaw.harness.batches import collate, encode, lengths  # noqa: E402
from costlaw.harness.gradients import batch_gradients, per_example_gradients_loop  # noqa: E402
from costlaw.harness.models import ModelSpec, model_shape, task_tokenizer, tiny_model  # noqa: E402
from costlaw.harness.selectors import PPLMidSelector, SelectionContext, get_selector  # noqa: E402
from costlaw.harness.subset import select_top_tokens  # noqa: E402
from costlaw.harness.train import add_lora  # noqa: E402


def _target_share(task, scores, fraction=0.1):
    token_lengths = np.array([len(ex.text) for ex in task.pool])
    idx = select_top_tokens(scores, token_lengths, fraction)
    return np.mean([task.pool[i].family == task.target_family for i in idx])


def test_unknown_selector_lists_available():
    with pytest.raises(KeyError, match="available: .*bm25.*embed.*gradient.*ppl.*random"):
        get_selector("nope")
    assert get_selector("less").name == "gradient" and get_selector("ppl-top").name == "ppl"


def test_bm25_picks_the_target_family_random_does_not(tiny_task):
    ctx = SelectionContext(tiny_task, seed=0)
    bm25 = get_selector("bm25").score(ctx)
    rand = get_selector("random").score(ctx)
    assert len(bm25.scores) == len(tiny_task.pool)
    assert bm25.flops() == 0 and bm25.phases[0].seconds > 0
    share = tiny_task.pool_target_share
    assert _target_share(tiny_task, bm25.scores) >= 3 * share
    assert _target_share(tiny_task, rand.scores) < 2 * share


def test_ppl_mid_prefers_the_median():
    nll = np.array([1.0, 5.0, 3.0, 2.0, 4.0])
    assert np.argmax(PPLMidSelector.rank(nll)) == 2


def test_ppl_costs_follow_the_cost_model(tiny_task, harness_cache):
    ctx = SelectionContext(tiny_task, 0, Path(harness_cache), ModelSpec.parse("tiny-xs", pretrain_steps=5),
                           {"tuning_epochs": 2})
    out = get_selector("ppl").score(ctx)
    tok = task_tokenizer(tiny_task, harness_cache)
    pool_t, val_t = (lengths(encode(tok, s)).astype(float) for s in (tiny_task.pool, tiny_task.validation))
    shape = model_shape(tiny_model("tiny-xs", len(tok)))
    cost = costs.PPLCost(tuning_tokens=val_t.sum(), tuning_epochs=2, lora=False).flops(out.selector_params,
                                                                                      pool_t.sum())
    attention = 4 * shape.layers * shape.attention_dim
    expected = cost + attention * ((pool_t ** 2).sum() + 3 * 2 * (val_t ** 2).sum())
    assert out.flops() == pytest.approx(expected, rel=1e-9)
    assert out.flops(measured=True) == pytest.approx(expected, rel=0.05)
    assert [p.phase for p in out.phases] == ["tuning", "scoring"]


def test_batched_per_example_gradients_equal_the_loop(tiny_task, harness_cache):
    tok = task_tokenizer(tiny_task, harness_cache)
    model = add_lora(tiny_model("tiny-s", len(tok)))
    with torch.no_grad():  # B = 0 at initialisation would make every gradient of A zero
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    batch = collate(encode(tok, tiny_task.pool[:12]), tok.pad_token_id)
    fast, slow = batch_gradients(model, batch), per_example_gradients_loop(model, batch)
    assert fast.shape == slow.shape and fast.abs().max() > 0
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-6)
