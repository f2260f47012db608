"""A sweep on 1 process and on N torchrun processes (gloo on CPU, NCCL on GPUs): same subsets, metrics, FLOPs.

Runs the audit's ``dist`` sweep (random, ppl, gradient on tiny-xs, f = 0.3, 360-example pool) once in this process
and once under ``torchrun --nproc_per_node N``, each with its own cache, and prints per method the selected
examples, target share, metric, train / selection FLOPs (analytic and measured) and wall seconds of both, and the
relative differences. Run by hand (not a timed test; CI runs a smaller version in tests/harness).

    python benchmarks/harness_multiprocess.py [--processes 2] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

CONFIG = {
    "name": "dist", "methods": ["random", "ppl", "gradient"], "fractions": [0.3], "train_models": ["tiny-xs"],
    "selector_models": ["tiny-xs"], "seeds": [0], "pretrain_steps": 60,
    "task": {"generated": {"target": "copy", "pool_examples": 360, "validation_examples": 16, "test_examples": 32,
                           "pretrain_examples": 1000}},
    "train": {"epochs": 2, "batch_size": 16, "lr": 3e-3},
    "selectors": {"ppl": {"tuning_epochs": 3}, "gradient": {"warmup_epochs": 4, "checkpoints": 2,
                                                             "projection_dims": 256}},
}
COLUMNS = ["selected_examples", "target_share", "metric", "train_flops", "measured_train_flops", "selection_flops",
           "measured_selection_flops", "train_seconds", "selection_seconds"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    from costlaw.harness import sweep

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        one = sweep(dict(CONFIG, cache_dir=str(tmp / "c1")), tmp / "one", progress=False).set_index("method")
        one_s = time.perf_counter() - t
        (tmp / "cfg.json").write_text(json.dumps(dict(CONFIG, cache_dir=str(tmp / "c2"))))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        script = "import json, sys; from costlaw.harness import sweep; sweep(json.load(open(sys.argv[1])), sys.argv[2], progress=False)"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={args.processes}",
                        f"--master_port={port}", "--no-python", sys.executable, "-c", script, str(tmp / "cfg.json"),
                        str(tmp / "many")], check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
        many_s = time.perf_counter() - t
        many = pd.read_csv(tmp / "many" / "runs.csv").set_index("method")
    table = pd.concat({"1 process": one[COLUMNS], f"{args.processes} processes": many.loc[one.index, COLUMNS]}, axis=1)
    for col in COLUMNS[2:7]:
        table[("rel. diff", col)] = many.loc[one.index, col] / one[col] - 1
    pd.set_option("display.width", 200)
    print(table.T.to_string())
    print(f"wall: 1 process {one_s:.0f} s, {args.processes} processes {many_s:.0f} s")
    if args.json:
        out = {"wall_seconds": {"1": one_s, str(args.processes): many_s},
               "table": json.loads(table.T.to_json())}
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
