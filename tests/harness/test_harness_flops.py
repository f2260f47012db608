"""Analytic FLOPs (the cost model plus attention) against FlopCounterMode, for every phase and default size."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from costlaw import costs  # noqa: E402
from costlaw.harness.batches import encode, lengths  # noqa: E402
from costlaw.harness.flops import PhaseMeter  # noqa: E402
from costlaw.harness.gradients import Projector, gradient_dims, projected_gradients  # noqa: E402
from costlaw.harness.models import TINY_SIZES, model_shape, task_tokenizer, tiny_model  # noqa: E402
from costlaw.harness.scoring import score_examples  # noqa: E402
from costlaw.harness.train import TrainConfig, add_lora, finetune  # noqa: E402

SLOW_SIZES = {"tiny-l", "tiny-ml"}  # the two largest: most of this file's time; run with -m slow

TOLERANCE = 0.05


def _within(meter):
    rec = meter.record
    assert rec.analytic_flops > 0
    assert abs(rec.ratio - 1) <= TOLERANCE, f"{rec.phase}: measured/analytic = {rec.ratio:.4f}"
    return rec.ratio


@pytest.fixture(scope="module")
def tokenizer(tiny_task, harness_cache):
    return task_tokenizer(tiny_task, harness_cache)


@pytest.mark.parametrize("size", [pytest.param(s, marks=pytest.mark.slow) if s in SLOW_SIZES else s for s in TINY_SIZES])
def test_scoring_and_training_flops_agree(size, tiny_task, tokenizer):
    model = tiny_model(size, len(tokenizer))
    scoring = PhaseMeter("scoring")
    score_examples(model, tokenizer, tiny_task.pool[:160], batch_size=32, meter=scoring)
    _within(scoring)
    training = PhaseMeter("training")
    finetune(model, tokenizer, tiny_task.pool[:96], TrainConfig(epochs=1, batch_size=16), meter=training)
    _within(training)


def test_analytic_counts_are_the_cost_model_plus_attention(tiny_task, tokenizer):
    model = tiny_model("tiny-s", len(tokenizer))
    shape = model_shape(model)
    token_lengths = lengths(encode(tokenizer, tiny_task.pool[:50]))
    attention = 4 * shape.layers * shape.attention_dim * float((token_lengths.astype(float) ** 2).sum())
    n = shape.matmul_params
    assert shape.forward_flops(token_lengths) == pytest.approx(2 * n * token_lengths.sum() + attention)
    assert shape.train_flops(token_lengths) == pytest.approx(costs.train_flops(n, token_lengths.sum()) + 3 * attention)
    assert n == sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def test_lora_training_gradients_and_projection_flops_agree(tiny_task, tokenizer):
    model = add_lora(tiny_model("tiny-s", len(tokenizer)))
    warmup = PhaseMeter("warmup")
    finetune(model, tokenizer, tiny_task.pool[:64], TrainConfig(epochs=1, lora=True), meter=warmup)
    _within(warmup)
    grads, proj = PhaseMeter("gradients"), PhaseMeter("projection")
    projector = Projector(gradient_dims(model), 128)
    feats = projected_gradients(model, tokenizer, tiny_task.pool[:64], projector, 16, None, grads, proj)
    _within(grads)
    _within(proj)
    assert feats.shape == (64, 128)
    assert np.allclose(np.linalg.norm(feats, axis=1), 1, atol=1e-4)
