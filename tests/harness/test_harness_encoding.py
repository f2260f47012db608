"""Prompt format, token budget and truncation, the answer-only metric, batching and timing (issue 9: 2, 3, 8)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from costlaw.harness.batches import (  # noqa: E402
    Encoder, collate, encode, length_buckets, lengths, token_logprobs, truncation_counts)
from costlaw.harness.config import ConfigError, SweepConfig  # noqa: E402
from costlaw.harness.data import Example  # noqa: E402
from costlaw.harness.evaluate import evaluate  # noqa: E402
from costlaw.harness.flops import PhaseMeter  # noqa: E402
from costlaw.harness.gradients import batch_gradients, per_example_gradients_loop  # noqa: E402
from costlaw.harness.models import task_tokenizer, tiny_model, train_tokenizer  # noqa: E402
from costlaw.harness.train import add_lora  # noqa: E402


@pytest.fixture(scope="module")
def tok(tiny_task, harness_cache):
    return task_tokenizer(tiny_task, harness_cache)


def test_long_prompt_is_cut_from_the_left_and_the_response_kept(tok):
    ex = Example("first words " + "filler " * 400 + "last words", "the answer")
    answer = tok("the answer", add_special_tokens=False)["input_ids"]
    for budget in (256, 64):
        e = encode(tok, [ex], max_tokens=budget)[0]
        assert e.tokens == budget and e.prompt_truncated and not e.response_truncated
        labelled = list(e.input_ids[e.prompt_tokens:])
        assert labelled == answer + [tok.eos_token_id]  # the loss is on the answer, not on a prompt token
        assert e.answer_count == len(answer)
        kept = tok.decode(e.input_ids[:e.prompt_tokens])
        assert "Response:" in kept and "first words" not in kept  # the end of the prompt survives
    short = encode(tok, [Example("hi", "yo")], max_tokens=256)[0]
    assert not short.prompt_truncated and truncation_counts([e, short]) == \
        {"examples": 2, "prompt_truncated": 1, "response_truncated": 0}


def test_a_response_longer_than_the_budget_keeps_its_start(tok):
    e = encode(tok, [Example("q", "word " * 100)], max_tokens=32)[0]
    assert e.tokens == 32 and e.prompt_tokens == 1 and e.response_truncated
    assert e.answer_count == 31 and not e.has_eos


def test_max_tokens_and_new_settings_are_checked_config_values():
    cfg = SweepConfig.from_dict({"methods": ["random"], "fractions": [0.1], "train_models": ["tiny-xs"],
                                 "max_tokens": 64, "dtype": "bf16", "selection_unit": "examples"})
    assert cfg.max_tokens == 64 and cfg.dtype == "bf16"
    for bad in ({"max_tokens": 0}, {"dtype": "fp8"}, {"selection_unit": "bytes"}, {"attention": "flash"}):
        with pytest.raises(ConfigError):
            SweepConfig.from_dict({"methods": ["random"], "fractions": [0.1], "train_models": ["tiny-xs"], **bad})


def _chat_tokenizer(bos_by_default):
    from tokenizers import processors

    t = train_tokenizer(["hello there", "what is two plus two", "four"], vocab_size=300)
    t.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                       "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    if bos_by_default:
        t.backend_tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", t.bos_token_id)])
    return t


def test_chat_template_and_bos_follow_the_tokenizer():
    ex = Example("what is two plus two", "four")
    t = _chat_tokenizer(bos_by_default=True)
    enc = Encoder(t)
    assert enc.prompt_text(ex) == "<|user|>what is two plus two\n<|assistant|>"
    e = enc.encode([ex])[0]
    assert e.input_ids[0] == t.bos_token_id and e.input_ids.count(t.bos_token_id) == 1
    assert t.decode(e.input_ids[e.prompt_tokens:e.prompt_tokens + e.answer_count]) == "four"
    plain = Encoder(_chat_tokenizer(bos_by_default=False), chat_template="never")
    e2 = plain.encode([ex])[0]
    assert e2.input_ids[0] != t.bos_token_id and plain.prompt_text(ex).startswith("### Instruction")
    multi = Example("u1\nu2", "a2", turns=(("user", "u1"), ("assistant", "a1"), ("user", "u2")))
    assert enc.prompt_text(multi) == "<|user|>u1\n<|assistant|>a1\n<|user|>u2\n<|assistant|>"


def _manual_answer_logprobs(model, encoded):
    """Per example: (mean log-prob of the answer tokens, log-prob of the eos), one unbatched forward each."""
    out = []
    for e in encoded:
        ids = torch.tensor([e.input_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        lp = [float(logp[t - 1, e.input_ids[t]]) for t in range(e.prompt_tokens, e.tokens)]
        out.append((np.mean(lp[:e.answer_count]), lp[e.answer_count]))
    return np.array(out)


def test_answer_prob_scores_answer_tokens_only(tiny_task, tok):
    model = tiny_model("tiny-xs", len(tok))
    test = tiny_task.test[:10]
    metrics = evaluate(model, tok, test, batch_size=4)
    manual = _manual_answer_logprobs(model, encode(tok, test))
    assert metrics["answer_loglik"] == pytest.approx(manual[:, 0].mean(), rel=1e-4)
    assert metrics["eos_loglik"] == pytest.approx(manual[:, 1].mean(), rel=1e-4)
    assert metrics["answer_prob"] == pytest.approx(100 * np.exp(manual[:, 0].mean()), rel=1e-4)


def test_single_token_options_are_read_from_one_forward_per_question(tiny_task, tok):
    model = tiny_model("tiny-s", len(tok))
    letters = ["A", "B", "C", "D"]
    assert all(len(tok(x, add_special_tokens=False)["input_ids"]) == 1 for x in letters)
    test = [Example(ex.prompt + "\nA. x\nB. y\nC. z\nD. w", letters[i % 4], ex.family, tuple(letters))
            for i, ex in enumerate(tiny_task.test[:12])]
    rows = []
    hook = model.register_forward_hook(lambda m, a, kw_out: None)
    hook.remove()
    hook = model.model.register_forward_hook(lambda m, args, out: rows.append(out[0].shape[0]))
    metrics = evaluate(model, tok, test, batch_size=4)
    hook.remove()
    assert sum(rows) == len(test)  # one sequence per question (the old path: 1 + 4 per question)
    from costlaw.harness.scoring import score_examples
    flat = [(ex, o) for ex in test for o in ex.options]
    s = score_examples(model, tok, [f[0] for f in flat], 8, responses=[f[1] for f in flat])
    per_option = (s.logp / s.count).reshape(len(test), 4)
    expected = np.mean([ex.options[int(np.argmax(p))] == ex.response for ex, p in zip(test, per_option)])
    assert metrics["mc_accuracy"] == pytest.approx(expected)


def test_small_sets_of_varied_length_do_not_fragment_into_batches_of_one():
    rng = np.random.default_rng(0)
    token_lengths = rng.lognormal(np.log(450), 0.35, 285).astype(int)  # an MMLU-5-shot-like validation set
    batches = length_buckets(token_lengths, 32)
    sizes = np.array([len(b) for b in batches])
    assert (sizes == 1).mean() < 0.1 and sizes.mean() > 4
    assert sorted(np.concatenate(batches)) == list(range(285))
    padded = sum(len(b) * token_lengths[b].max() for b in batches)
    assert padded / token_lengths.sum() - 1 < 0.03  # measured FLOPs stay within a few % of analytic


def test_gradient_pass_takes_log_softmax_at_response_positions_only(tiny_task, tok, monkeypatch):
    model = add_lora(tiny_model("tiny-xs", len(tok)))
    encoded = encode(tok, tiny_task.pool[:6])
    batch = collate(encoded, tok.pad_token_id)
    reference = per_example_gradients_loop(model, batch)

    def forbidden(*a, **k):
        raise AssertionError("full-vocabulary log_softmax over every position")

    monkeypatch.setattr(torch, "log_softmax", forbidden)
    monkeypatch.setattr(torch.nn.functional, "log_softmax", forbidden)
    np.testing.assert_allclose(batch_gradients(model, batch).numpy(), reference.numpy(), rtol=1e-3, atol=1e-6)


def test_phase_timing_synchronises_cuda(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: calls.append(1))
    meter = PhaseMeter("scoring")
    meter.step("k", lambda: torch.ones(2) @ torch.ones(2), 4.0)
    assert len(calls) == 2  # before starting the clock and before reading it


def test_token_logprobs_splits_answer_and_eos(tok):
    model = tiny_model("tiny-xs", len(tok))
    encoded = encode(tok, [Example("a b", "c d"), Example("e", "f")])
    batch = collate(encoded, tok.pad_token_id, masks=True)
    with torch.no_grad():
        total, count, _, eos = token_logprobs(model, batch)
        full, full_count, _, _ = token_logprobs(model, {k: batch[k] for k in ("input_ids", "attention_mask", "labels")})
    assert list(count) == [e.answer_count for e in encoded]
    np.testing.assert_allclose((total + eos).numpy(), full.numpy(), rtol=1e-5)
    assert list(full_count) == [e.tokens - e.prompt_tokens for e in encoded]
    assert lengths(encoded).tolist() == [e.tokens for e in encoded]
