"""Scoring the finetuned model on the target's test set: answer log-likelihood, multiple choice, exact match.

``answer_loglik`` is the mean over test examples of the mean log-probability per answer token (nats/token, eos
included); the primary metric ``answer_prob`` is 100 x exp(answer_loglik), the geometric-mean probability of an
answer token in points (0-100, higher is better, like an accuracy; the core's curve forms expect that range). ``exact_match`` is greedy exact match, computed from the same forward pass:
greedy decoding reproduces the answer and stops iff every answer token and the eos is the argmax given the
right prefix. ``mc_accuracy`` picks the option of highest mean log-probability per token.
"""
from __future__ import annotations

import numpy as np

from .flops import PhaseMeter
from .scoring import score_examples

PRIMARY_METRIC = "answer_prob"


def evaluate(model, tokenizer, test, batch_size: int = 32, meter: PhaseMeter | None = None) -> dict:
    """{answer_prob, answer_loglik, exact_match, mc_accuracy} of ``model`` on ``test`` (mc_accuracy nan without options)."""
    logp, count, exact = score_examples(model, tokenizer, test, batch_size, meter)
    loglik = float(np.mean(logp / np.maximum(count, 1)))
    out = {"answer_prob": 100.0 * float(np.exp(loglik)), "answer_loglik": loglik, "exact_match": float(np.mean(exact))}
    with_options = [ex for ex in test if ex.options]
    if with_options:
        flat = [(i, opt) for i, ex in enumerate(with_options) for opt in ex.options]
        lp, n, _ = score_examples(model, tokenizer, [with_options[i] for i, _ in flat], batch_size, meter,
                                  responses=[o for _, o in flat])
        per_token = lp / np.maximum(n, 1)
        correct, start = 0, 0
        for ex in with_options:
            k = len(ex.options)
            correct += ex.options[int(np.argmax(per_token[start:start + k]))] == ex.response
            start += k
        out["mc_accuracy"] = correct / len(with_options)
    else:
        out["mc_accuracy"] = float("nan")
    return out
