import numpy as np
import pytest

pytest.importorskip("torch")

from costlaw.harness.subset import select_top_tokens  # noqa: E402


def test_top_tokens_reach_the_fraction_in_score_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 50, size=1000)
    scores = rng.random(1000)
    idx = select_top_tokens(scores, lengths, 0.2)
    share = lengths[idx].sum() / lengths.sum()
    assert 0.2 <= share < 0.2 + 50 / lengths.sum()
    assert np.all(np.diff(scores[idx]) <= 0)
    assert scores[idx].min() >= np.sort(scores)[::-1][len(idx) - 1]
    assert len(select_top_tokens(scores, lengths, 1.0)) == 1000


def test_constant_scores_give_seeded_random_subsets():
    lengths = np.full(100, 10)
    a = select_top_tokens(np.zeros(100), lengths, 0.1, seed=0)
    b = select_top_tokens(np.zeros(100), lengths, 0.1, seed=1)
    assert len(a) == len(b) == 10 and set(a) != set(b)


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5])
def test_rejects_fractions_outside_unit_interval(fraction):
    with pytest.raises(ValueError, match="fraction"):
        select_top_tokens(np.zeros(3), np.ones(3), fraction)
