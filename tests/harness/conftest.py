"""Shared fixtures: one smoke sweep per test session (its runs, phases and cache are reused by several tests)."""
import os

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def harness_cache(tmp_path_factory):
    """A cache folder (tokenizers, base checkpoints, selector scores) shared by the session's sweeps."""
    return tmp_path_factory.mktemp("harness-cache")


@pytest.fixture(scope="session")
def smoke_dir(tmp_path_factory, harness_cache):
    """A finished ``smoke`` preset sweep: the folder holding runs.csv and phases.csv."""
    pytest.importorskip("torch")
    from costlaw.harness import sweep
    from costlaw.harness.presets import preset

    out = tmp_path_factory.mktemp("smoke")
    cfg = preset("smoke")
    cfg.cache_dir = str(harness_cache)
    sweep(cfg, out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_task():
    """A small generated task (no model needed to build it)."""
    from costlaw.harness.pool import generated_task

    return generated_task(target="copy", pool_examples=600, validation_examples=16, test_examples=24,
                          pretrain_examples=300)
