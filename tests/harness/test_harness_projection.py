"""LESS's projection and per-example gradients within a memory budget (issue 9: 4)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from costlaw.harness.gradients import Projector, micro_batch_size, projected_gradients  # noqa: E402
from costlaw.harness.models import task_tokenizer, tiny_model  # noqa: E402
from costlaw.harness.train import add_lora  # noqa: E402


@pytest.mark.parametrize("kind", ["rademacher", "gaussian", "sparse"])
def test_projection_is_the_same_however_the_input_is_split_or_cached(kind):
    x = torch.randn(3, 10_000)
    small = dict(chunk_bytes=4 * 64 * 700 if kind != "sparse" else 5 * 700)  # chunks of 700 rows
    cached = Projector(10_000, 64, seed=3, kind=kind, **small)
    fresh = Projector(10_000, 64, seed=3, kind=kind, cache_bytes=0, **small)
    assert cached.cache and not fresh.cache and cached.chunk_rows == 700
    whole = cached(x)
    split = fresh(x[:, :4321]) + fresh(x[:, 4321:], offset=4321)
    torch.testing.assert_close(whole, split, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(whole, Projector(10_000, 64, seed=4, kind=kind, **small)(x))


@pytest.mark.parametrize("kind", ["rademacher", "sparse"])
def test_projection_preserves_cosines(kind):
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(20_000, generator=gen)
    x = torch.stack([base + torch.randn(20_000, generator=gen) * s for s in (0.5, 1.0, 2.0)] + [base])
    p = Projector(20_000, 2048, seed=0, kind=kind)(x)
    cos = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(x, dim=1).T
    pcos = torch.nn.functional.normalize(p, dim=1) @ torch.nn.functional.normalize(p, dim=1).T
    assert (pcos - cos).abs().max() < 0.08


def test_a_huge_projection_holds_one_chunk_not_the_matrix():
    proj = Projector(50_000_000, 8192, seed=0, cache_bytes=256 << 20)
    assert proj.matrix_bytes == 4 * 50_000_000 * 8192 and not proj.cache  # 1.6 TB if it were dense
    assert proj.chunk_rows * 8192 * 4 <= 64 << 20
    out = proj(torch.randn(2, 1000), offset=49_000_000)  # the last rows, generated on the fly
    assert out.shape == (2, 8192)
    assert micro_batch_size(50_000_000, 1 << 30, 128) == 2 and micro_batch_size(1000, 1 << 30, 128) == 128


def test_micro_batching_by_memory_budget_does_not_change_the_features(tiny_task, harness_cache):
    tok = task_tokenizer(tiny_task, harness_cache)
    model = add_lora(tiny_model("tiny-xs", len(tok)))
    dims = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    projector = Projector(dims, 32, seed=0)
    big = projected_gradients(model, tok, tiny_task.pool[:24], projector, 16)
    small = projected_gradients(model, tok, tiny_task.pool[:24], projector, 16,
                                gradient_memory_bytes=8 * dims * 3)  # 3 examples at a time
    np.testing.assert_allclose(big, small, rtol=1e-4, atol=1e-5)
