"""Sweep configuration: methods x fractions x training sizes x selector sizes x seeds, from TOML, YAML or a dict.

Example (TOML)::

    methods = ["random", "bm25", "embed", "ppl", "gradient"]
    fractions = [0.05, 0.1, 0.25]        # shares of the pool's tokens
    train_models = ["tiny-s", "tiny-m"]  # built-in sizes, "smollm2-135m", or from_pretrained names/paths
    selector_models = ["tiny-s"]         # for ppl and gradient
    seeds = [0, 1]
    [task.generated]                     # or: [task] name/pool/validation/test = JSONL paths or "hf:NAME:SPLIT"
    target = "copy"
    pool_examples = 5000
    [train]
    epochs = 3
    [selectors.gradient]
    projection_dims = 1024
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, asdict
from pathlib import Path

from ..errors import CostlawError
from .fields import check_sweep_values
from .train import TrainConfig


class ConfigError(CostlawError, ValueError):
    """A sweep configuration is missing, unreadable or names something unknown; the message says what."""


TOP_KEYS = {"name", "task", "methods", "fractions", "train_models", "selector_models", "seeds", "train",
            "selectors", "pretrain_steps", "batch_size", "n_tasks", "cache_dir", "eval_base", "max_tokens",
            "chat_template", "dtype", "attention", "selection_unit", "gradient_memory_gb"}
SELECTION_UNITS = ("tokens", "examples")


@dataclass
class SweepConfig:
    """One sweep: every combination of its lists is a run (model-free selectors ignore selector_models)."""

    methods: list[str]
    fractions: list[float]
    train_models: list[str]
    selector_models: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    task: dict = field(default_factory=lambda: {"generated": {}})
    train: TrainConfig = field(default_factory=TrainConfig)
    selectors: dict = field(default_factory=dict)
    """Per-selector options, e.g. {"gradient": {"checkpoints": 2}, "ppl": {"tuning_epochs": 25}}."""
    pretrain_steps: int = 300
    batch_size: int = 128
    """Scoring, gradient and evaluation batch size (examples; buckets of equal length may be smaller)."""
    n_tasks: int = 1
    name: str = "sweep"
    cache_dir: str | None = None
    eval_base: bool = True
    """Also score each base model before finetuning (column base_metric)."""
    max_tokens: int = 1024
    """Token budget per example (prompt + response + eos; capped by the model's positions). Longer prompts are
    truncated from the left; the response is kept (runs columns ``*_truncated`` count the cut examples)."""
    chat_template: str = "auto"
    """``auto``: the tokenizer's chat template when it has one; ``never``: the fixed ``### Instruction`` one."""
    dtype: str = "auto"
    """``auto``/``bf16``: bf16 autocast with fp32 master weights on CUDA (fp32 on CPU); ``fp32``."""
    attention: str = "auto"
    """``auto`` (eager on CPU so FLOPs can be measured, SDPA on CUDA), ``eager`` or ``sdpa``."""
    selection_unit: str = "tokens"
    """``tokens``: top-scored examples until their tokens reach the fraction of the pool's tokens; ``examples``:
    the top fraction of the pool's examples (what LESS and CCDS's code do)."""
    gradient_memory_gb: float = 1.0
    """Memory for per-example LoRA gradients at once (GB): LESS's micro-batch size follows from it."""

    @classmethod
    def from_dict(cls, raw: dict) -> "SweepConfig":
        from .models import SMOLLM2, TINY_SIZES
        from .selectors import get_selector

        if not isinstance(raw, dict):
            raise ConfigError("a sweep config must be a mapping of keys to values")
        unknown = sorted(set(raw) - TOP_KEYS)
        if unknown:
            raise ConfigError(f"unknown config key{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(TOP_KEYS))}")
        for key in ("methods", "fractions", "train_models"):
            if not raw.get(key):
                raise ConfigError(f"config needs a non-empty '{key}' list")
        kw = check_sweep_values(raw, ConfigError)  # every value typed and range-checked (harness/fields.py)
        for key in ("methods", "fractions", "train_models", "selector_models", "seeds"):
            if key in kw and not isinstance(kw[key], list):
                kw[key] = [kw[key]]
        for m in kw["methods"]:
            try:
                sel = get_selector(m)
            except KeyError as err:
                raise ConfigError(err.args[0]) from None
            if sel.uses_selector_model and not kw.get("selector_models"):
                raise ConfigError(f"method '{m}' needs 'selector_models'")
        for f in kw["fractions"]:
            if not isinstance(f, (int, float)) or not 0 < f <= 1:
                raise ConfigError(f"fractions must be numbers in (0, 1], got {f!r}")
        for name in list(kw["train_models"]) + list(kw.get("selector_models", [])):
            if name not in TINY_SIZES and name != SMOLLM2 and not Path(name).exists() and "/" not in name:
                raise ConfigError(f"unknown model '{name}'; built-in: {', '.join(list(TINY_SIZES) + [SMOLLM2])}, "
                                  "or a from_pretrained name or path")
        choices = {"chat_template": ("auto", "never"), "dtype": ("auto", "fp32", "bf16"),
                   "attention": ("auto", "eager", "sdpa"), "selection_unit": SELECTION_UNITS}
        for key, allowed in choices.items():
            if key in kw and kw[key] not in allowed:
                raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {kw[key]!r}")
        if "max_tokens" in kw and (not isinstance(kw["max_tokens"], int) or kw["max_tokens"] < 8):
            raise ConfigError(f"max_tokens must be an integer >= 8, got {kw['max_tokens']!r}")
        task = kw.get("task", {"generated": {}})
        if not isinstance(task, dict) or not ("generated" in task or "rules" in task or "bigbench" in task
                                              or {"pool", "validation", "test"} <= set(task)):
            raise ConfigError("task needs a 'generated', 'rules' or 'bigbench' table or 'pool', 'validation' and "
                              "'test' sources")
        kw["task"] = task
        train = kw.get("train", {})
        try:
            kw["train"] = train if isinstance(train, TrainConfig) else TrainConfig(**train)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"bad [train] table: {err}") from None
        return cls(**kw)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["train"] = asdict(self.train)
        return out

    def key(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def load_config(path) -> SweepConfig:
    """Read a TOML (.toml) or YAML (.yaml/.yml) sweep config."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a config file (.toml, .yaml or .yml)")
    if not path.is_file():
        raise ConfigError(f"no such config file: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                import tomli as tomllib

            raw = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text)
        else:
            raise ConfigError(f"config must end in .toml, .yaml or .yml: {path}")
    except ConfigError:
        raise
    except Exception as err:  # tomllib and yaml raise their own error types
        raise ConfigError(f"cannot parse {path}: {str(err).splitlines()[0]}") from None
    return SweepConfig.from_dict(raw or {})


def build_task(spec: dict):
    """The :class:`~costlaw.harness.data.Task` a config's ``task`` table describes."""
    from .data import DataError, Task, read_examples
    from .pool import generated_task

    if "bigbench" in spec:
        from .bigbench import bigbench_task

        try:
            return bigbench_task(**(spec["bigbench"] or {}))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"bad [task.bigbench] table: {err}") from None
    if "rules" in spec:
        from .rules import rules_task

        try:
            return rules_task(**(spec["rules"] or {}))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"bad [task.rules] table: {err}") from None
    if "generated" in spec:
        try:
            return generated_task(**(spec["generated"] or {}))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"bad [task.generated] table: {err}") from None
    try:
        pool = read_examples(spec["pool"])
        validation = read_examples(spec["validation"])
        test = read_examples(spec["test"])
    except DataError as err:
        raise ConfigError(str(err)) from None
    name = spec.get("name") or Path(str(spec["test"])).stem
    pretrain = read_examples(spec["pretrain"]) if spec.get("pretrain") else []
    return Task(name, pool, validation, test, spec.get("target_family"), pretrain)
