"""Turning selector scores into a training subset: the top ``fraction`` of the pool's tokens or examples."""
from __future__ import annotations

import numpy as np


def select_top_tokens(scores, token_lengths, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of the highest-scored examples whose tokens first reach ``fraction`` of the pool's tokens.

    Ties are broken at random with ``seed`` (so a constant score is a random subset). ``fraction`` is a share of
    tokens in (0, 1]; returned indices are in score order, best first.
    """
    scores = np.asarray(scores, dtype=float)
    token_lengths = np.asarray(token_lengths, dtype=float)
    if scores.shape != token_lengths.shape:
        raise ValueError(f"scores {scores.shape} and token_lengths {token_lengths.shape} differ in shape")
    order = ranked(scores, fraction, seed)
    cumulative = np.cumsum(token_lengths[order])
    k = int(np.searchsorted(cumulative, fraction * cumulative[-1] - 1e-9)) + 1
    return order[:min(k, len(order))]


def select_top_examples(scores, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of the top ``int(fraction x examples)`` scored examples (at least one), as LESS and CCDS select.

    Ties are broken at random with ``seed``; indices in score order, best first.
    """
    order = ranked(np.asarray(scores, dtype=float), fraction, seed)
    return order[:max(1, int(fraction * len(scores)))]


def ranked(scores: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """All indices, best score first, ties broken at random with ``seed``; checks ``fraction`` and NaN scores."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    tiebreak = np.random.default_rng(seed).random(len(scores))
    return np.lexsort((tiebreak, -scores))
