"""Scoring the finetuned model on the target's test set: answer log-likelihood, multiple choice, exact match.

``answer_loglik`` is the mean over test examples of the mean log-probability per **answer token** (nats/token;
the end-of-sequence token is not part of the answer and is reported apart as ``eos_loglik``, the mean log-prob of
the eos after the answer, which says whether the model learned to stop). The primary metric ``answer_prob`` is
100 x exp(answer_loglik), the geometric-mean probability of an answer token in points (0-100, higher is better,
like an accuracy; the core's curve forms expect that range). ``exact_match``: every answer token is the greedy
argmax given the right prefix (greedy decoding starts with the answer), from the same forward pass.
``mc_accuracy`` picks the option of highest mean log-probability per token; when every option of a question is one
token (MMLU-style letters) all options are read off the answer pass's forward (one forward per question),
otherwise each option is scored as a response.
"""
from __future__ import annotations

import numpy as np

from .batches import as_encoder
from .flops import PhaseMeter
from .scoring import score_encoded

PRIMARY_METRIC = "answer_prob"


def single_token_options(tokenizer, examples):
    """Per example the option token ids if every option of every example is one distinct token, else None."""
    if not examples or not all(ex.options for ex in examples):
        return None
    k = len(examples[0].options)
    out = []
    for ex in examples:
        if len(ex.options) != k:
            return None
        ids = tokenizer(list(ex.options), add_special_tokens=False)["input_ids"]
        if any(len(i) != 1 for i in ids) or len({i[0] for i in ids}) != k:
            return None
        out.append([i[0] for i in ids])
    return out


def evaluate(model, tokenizer, test, batch_size: int = 32, meter: PhaseMeter | None = None) -> dict:
    """{answer_prob, answer_loglik, eos_loglik, exact_match, mc_accuracy} of ``model`` on ``test``.

    ``tokenizer`` may be an ``Encoder`` (prompt format and token budget); mc_accuracy is nan without options.
    """
    enc = as_encoder(tokenizer)
    encoded = enc.encode(test)
    cands = single_token_options(enc.tokenizer, test)
    s = score_encoded(model, encoded, enc.pad_token_id, batch_size, meter, candidates=cands)
    loglik = float(np.mean(s.logp / np.maximum(s.count, 1)))
    has_eos = np.array([e.has_eos for e in encoded])
    out = {"answer_prob": 100.0 * float(np.exp(loglik)), "answer_loglik": loglik, "exact_match": float(np.mean(s.exact)),
           "eos_loglik": float(np.mean(s.eos_logp[has_eos])) if has_eos.any() else float("nan")}
    with_options = [i for i, ex in enumerate(test) if ex.options]
    if cands is not None:
        picks = np.argmax(s.candidates, axis=1)
        out["mc_accuracy"] = float(np.mean([test[i].options[picks[i]] == test[i].response for i in range(len(test))]))
    elif with_options:
        exs = [test[i] for i in with_options]
        flat = [(j, opt) for j, ex in enumerate(exs) for opt in ex.options]
        opt_encoded = enc.encode([exs[j] for j, _ in flat], [o for _, o in flat])
        o = score_encoded(model, opt_encoded, enc.pad_token_id, batch_size, meter)
        per_token = o.logp / np.maximum(o.count, 1)
        correct, start = 0, 0
        for ex in exs:
            k = len(ex.options)
            correct += ex.options[int(np.argmax(per_token[start:start + k]))] == ex.response
            start += k
        out["mc_accuracy"] = correct / len(exs)
    else:
        out["mc_accuracy"] = float("nan")
    return out
