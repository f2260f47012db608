"""The measurement harness: select, finetune, evaluate and count FLOPs, producing runs in costlaw's schema.

Optional (``pip install costlaw[harness]``); the analytic core never imports it, and importing this package
imports no torch or transformers until a function needs them.

    from costlaw.harness import sweep
    runs = sweep("smoke", "out/smoke")          # or a SweepConfig, a dict, or a .toml/.yaml path
"""
from __future__ import annotations

import os as _os
import sys as _sys

if "torch" not in _sys.modules:
    # OpenMP threads that spin while waiting slow torch 5-20x on a 2-core machine shared with other processes;
    # passive waiting costs little when the machine is idle. Only a default: the environment wins.
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def sweep(config_or_preset, out_dir, progress: bool = True, limit: int | None = None):
    """Run or resume a sweep into ``out_dir`` and return its runs table (see ``costlaw.harness.runner``)."""
    from .runner import sweep as _sweep

    return _sweep(config_or_preset, out_dir, progress=progress, limit=limit)


__all__ = ["sweep"]
