"""Precision, memory and architecture controls (issue 9: 5) and launches that would not distribute (1)."""
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from costlaw.harness import sweep  # noqa: E402
from costlaw.harness import models as models_mod  # noqa: E402
from costlaw.harness.batches import collate, encode  # noqa: E402
from costlaw.harness.config import ConfigError  # noqa: E402
from costlaw.harness.flops import PhaseMeter  # noqa: E402
from costlaw.harness.gradients import batch_gradients, gradient_dims, per_example_gradients_loop  # noqa: E402
from costlaw.harness.models import ModelSpec, lora_targets, load_model, model_shape, task_tokenizer, tiny_model  # noqa: E402
from costlaw.harness.precision import mixed_precision, using  # noqa: E402
from costlaw.harness.train import TrainConfig, add_lora, finetune  # noqa: E402


@pytest.fixture(scope="module")
def tok(tiny_task, harness_cache):
    return task_tokenizer(tiny_task, harness_cache)


def _gpt2(vocab):
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=2, n_positions=256,
                                      attn_implementation="eager"))


def _neox(vocab):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    return GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2,
                                            num_attention_heads=2, intermediate_size=64,
                                            attn_implementation="eager"))


@pytest.mark.parametrize("make,targets", [(_gpt2, ["c_attn", "attn.c_proj"]),
                                          (_neox, ["query_key_value", "attention.dense"])])
def test_lora_targets_follow_the_architecture(make, targets, tiny_task, tok):
    model = make(len(tok))
    assert lora_targets(model) == targets
    dense = sum(m.weight.numel() for m in model.modules() if type(m).__name__ in ("Linear", "Conv1D"))
    peft_model = add_lora(model, rank=4)
    assert gradient_dims(peft_model) > 0
    meter = PhaseMeter("training")
    finetune(peft_model, tok, tiny_task.pool[:32], TrainConfig(epochs=1, batch_size=8, lora=True), meter=meter)
    assert abs(meter.record.ratio - 1) < 0.05  # GPT-2's Conv1D layers are counted as matmuls too
    batch = collate(encode(tok, tiny_task.pool[:4]), tok.pad_token_id)
    np.testing.assert_allclose(batch_gradients(peft_model, batch).detach().numpy(),
                               per_example_gradients_loop(peft_model, batch).numpy(), rtol=1e-3, atol=1e-6)
    assert model_shape(peft_model).matmul_params == dense


def test_precision_is_fp32_on_cpu_and_bf16_autocast_with_fp32_weights_on_cuda(monkeypatch, tmp_path, tiny_task, tok):
    with using("bf16"):
        assert mixed_precision() == "no"  # CPU: fp32 whatever is asked
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    with using("auto"):
        assert mixed_precision() == "bf16"
    with using("fp32"):
        assert mixed_precision() == "no"
    monkeypatch.undo()
    folder = tmp_path / "bf16-model"
    tiny_model("tiny-xs", len(tok)).to(torch.bfloat16).save_pretrained(folder)
    tok.save_pretrained(folder)
    model, _ = load_model(ModelSpec.parse(str(folder)), tiny_task, tmp_path)
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # master weights, not pure half precision
    assert model.config._attn_implementation == "eager"  # CPU: FlopCounterMode needs eager attention
    sdpa, _ = load_model(ModelSpec.parse(str(folder)), tiny_task, tmp_path, attention="sdpa")
    assert sdpa.config._attn_implementation == "sdpa"


def test_gradient_checkpointing_gives_the_same_training(tiny_task, tok):
    out = []
    for gc in (False, True):
        torch.manual_seed(0)
        model = tiny_model("tiny-xs", len(tok))
        model = finetune(model, tok, tiny_task.pool[:48], TrainConfig(epochs=1, batch_size=16, gradient_checkpointing=gc))
        assert model.is_gradient_checkpointing == gc
        out.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    torch.testing.assert_close(out[0], out[1], rtol=1e-4, atol=1e-6)


def test_the_base_model_is_loaded_once_per_sweep(monkeypatch, harness_cache, tmp_path):
    calls = []
    real = models_mod.load_model

    def counting(spec, *a, **k):
        calls.append(spec.name)
        return real(spec, *a, **k)

    monkeypatch.setattr(models_mod, "load_model", counting)
    cfg = {"methods": ["random"], "fractions": [0.1, 0.2, 0.3], "train_models": ["tiny-xs"], "pretrain_steps": 20,
           "cache_dir": str(harness_cache), "train": {"epochs": 1},
           "task": {"generated": {"pool_examples": 120, "validation_examples": 4, "test_examples": 8,
                                  "pretrain_examples": 100}}}
    runs = sweep(cfg, tmp_path, progress=False)
    assert len(runs) == 3 and calls == ["tiny-xs"]  # was 1 + one per run
    assert runs.metric.nunique() == 3  # each run trained its own copy, not one model three times


def test_accelerate_cpu_launch_of_several_processes_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("MASTER_PORT", "29500")
    for k in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_RANK"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(ConfigError, match="torchrun"):
        sweep("smoke", tmp_path, progress=False)


@pytest.mark.skipif(not os.path.exists(os.path.join(os.path.dirname(sys.executable), "accelerate")),
                    reason="the accelerate command is not installed")
def test_accelerate_launch_cpu_two_processes_exits_with_a_clear_error(tmp_path):
    cmd = [os.path.join(os.path.dirname(sys.executable), "accelerate"), "launch", "--cpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "costlaw.harness", "sweep", "--preset", "smoke", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "torchrun" in proc.stderr, proc.stderr[-2000:]
