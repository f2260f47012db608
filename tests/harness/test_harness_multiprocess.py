"""A 2-process (torchrun, gloo on CPU) sweep reproduces the 1-process sweep (issue 9, defect 1)."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from costlaw.harness import sweep  # noqa: E402
from costlaw.harness.train import epoch_plan, rank_batches  # noqa: E402

CONFIG = {
    "name": "dist", "methods": ["random", "ppl", "gradient"], "fractions": [0.3], "train_models": ["tiny-xs"],
    "selector_models": ["tiny-xs"], "seeds": [0], "pretrain_steps": 30, "batch_size": 32,
    "task": {"generated": {"target": "copy", "pool_examples": 240, "validation_examples": 8, "test_examples": 16,
                           "pretrain_examples": 300}},
    "train": {"epochs": 2, "batch_size": 16, "lr": 3e-3},
    "selectors": {"ppl": {"tuning_epochs": 2}, "gradient": {"warmup_epochs": 3, "checkpoints": 2,
                                                             "projection_dims": 64}},
}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("world", [2, 3])
def test_every_rank_takes_the_same_steps_and_every_example_is_used_once(world):
    token_lengths = np.random.default_rng(0).integers(10, 60, 360)
    for epoch in epoch_plan(token_lengths, 16, 2, seed=0):
        shares = [rank_batches(epoch, world, r) for r in range(world)]
        assert len({len(s) for s in shares}) == 1  # equal step counts: no rank waits forever in DDP
        used = np.concatenate([idx for s in shares for idx, real in s if real])
        assert sorted(used) == list(range(360))  # each example exactly once per epoch


@pytest.mark.slow
def test_two_process_sweep_matches_one_process(tmp_path):
    cfg_path = tmp_path / "dist.json"
    one, two = tmp_path / "one", tmp_path / "two"
    cfg = dict(CONFIG, cache_dir=str(tmp_path / "cache1"))
    single = sweep(cfg, one, progress=False).set_index("method")
    cfg_path.write_text(json.dumps(dict(CONFIG, cache_dir=str(tmp_path / "cache2"))))
    script = ("import json, sys; from costlaw.harness import sweep; "
              "sweep(json.load(open(sys.argv[1])), sys.argv[2], progress=False)")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           f"--master_port={_free_port()}", "--no-python", sys.executable, "-c",
                           script, str(cfg_path), str(two)], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    double = pd.read_csv(two / "runs.csv").set_index("method")
    assert (double.processes == 2).all() and (single.processes == 1).all()
    assert len(double) == len(single) == 3
    for col in ("selected_examples", "fraction", "target_share"):  # the same subsets
        assert double[col].to_dict() == single.loc[double.index, col].to_dict(), col
    for col in ("metric", "train_flops", "selection_flops", "eval_flops"):  # FLOPs summed over both ranks
        np.testing.assert_allclose(double[col], single.loc[double.index, col], rtol=0.01, err_msg=col)
    # measured FLOPs also count a rank's weight-0 stand-in when a global batch has one example: a few % at most
    for col in ("measured_train_flops", "measured_selection_flops"):
        np.testing.assert_allclose(double[col], single.loc[double.index, col], rtol=0.05, err_msg=col)
    phases = pd.read_csv(two / "phases.csv")
    less = phases[(phases.method == "less")].set_index("phase")
    assert less.loc["gradients", "analytic_flops"] > 0 and less.loc["warmup", "analytic_flops"] > 0
    extras = [json.loads(p.read_text())["extra"] for p in (tmp_path / "cache2" / "scores").glob("*.json")]
    assert [len(e["checkpoint_lrs"]) for e in extras if "checkpoint_lrs" in e] == [2]  # LESS kept its checkpoints
