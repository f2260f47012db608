"""Built-in sweeps: ``smoke`` (CI, under 2 minutes on 2 cores) and ``demo`` (a real selection effect, under 15)."""
from __future__ import annotations

from ..registry import Registry
from .config import ConfigError, SweepConfig
from .ratio_presets import RATIO_PRESETS

PRESETS: Registry[dict] = Registry("preset")
for _name, _cfg in {
    "smoke": {
        "name": "smoke",
        "task": {"generated": {"target": "copy", "pool_examples": 600, "validation_examples": 16,
                               "test_examples": 32, "pretrain_examples": 1000}},
        "methods": ["random", "bm25", "embed", "ppl", "gradient"],
        "fractions": [0.1, 0.3],
        "train_models": ["tiny-xs"],
        "selector_models": ["tiny-xs"],
        "seeds": [0],
        "pretrain_steps": 60,
        "train": {"epochs": 2, "batch_size": 16, "lr": 3e-3},
        "selectors": {"ppl": {"tuning_epochs": 3}, "gradient": {"warmup_epochs": 2, "checkpoints": 2,
                                                                 "projection_dims": 256}},
    },
    "demo": {
        "name": "demo",
        "task": {"generated": {"target": "copy", "pool_examples": 2000, "validation_examples": 32,
                               "test_examples": 100, "pretrain_examples": 4000}},
        "methods": ["random", "bm25", "embed", "ppl", "gradient"],
        "fractions": [0.02, 0.05, 0.1, 0.2, 0.4],
        "train_models": ["tiny-s", "tiny-m"],
        "selector_models": ["tiny-s"],
        "seeds": [0, 1],
        "pretrain_steps": 300,
        "train": {"epochs": 2, "batch_size": 16, "lr": 2e-3},
        "selectors": {"ppl": {"tuning_epochs": 10}, "gradient": {"warmup_epochs": 4, "checkpoints": 2,
                                                                  "projection_dims": 1024}},
    },
}.items():
    PRESETS.register(_name, _cfg)
for _name, _cfg in RATIO_PRESETS.items():  # the break-even ladders (ratio_presets.py, docs/ratio.md)
    PRESETS.register(_name, _cfg)


def preset(name: str) -> SweepConfig:
    """A built-in sweep config by name; unknown names raise ConfigError listing the presets."""
    if name not in PRESETS:
        raise ConfigError(PRESETS.unknown_message(name))
    return SweepConfig.from_dict(PRESETS[name])
