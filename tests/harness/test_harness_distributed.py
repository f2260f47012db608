"""Data-parallel scoring under torchrun: 2 CPU processes (gloo) give the single-process scores and FLOPs."""
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("torch")

from costlaw.harness.flops import PhaseMeter  # noqa: E402
from costlaw.harness.models import task_tokenizer, tiny_model  # noqa: E402
from costlaw.harness.pool import generated_task  # noqa: E402
from costlaw.harness.scoring import score_examples  # noqa: E402

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from accelerate import PartialState
    from costlaw.harness.flops import PhaseMeter
    from costlaw.harness.models import task_tokenizer, tiny_model
    from costlaw.harness.pool import generated_task
    from costlaw.harness.scoring import score_examples

    state = PartialState(cpu=True)
    task = generated_task(pool_examples=120, validation_examples=4, test_examples=4, pretrain_examples=50)
    tok = task_tokenizer(task, sys.argv[1])
    meter = PhaseMeter("scoring")
    logp, count = score_examples(tiny_model("tiny-xs", len(tok)), tok, task.pool, 8, meter)[:2]
    if state.is_main_process:
        np.savez(sys.argv[2], logp=logp, count=count, flops=meter.record.measured_flops,
                 processes=state.num_processes)
    state.wait_for_everyone()
    state.destroy_process_group()  # a gloo group left alive can abort at interpreter exit
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_scoring_matches_one_process(tmp_path, harness_cache):
    task = generated_task(pool_examples=120, validation_examples=4, test_examples=4, pretrain_examples=50)
    tok = task_tokenizer(task, harness_cache)  # trained before the launch, so the processes only read it
    meter = PhaseMeter("scoring")
    logp, count = score_examples(tiny_model("tiny-xs", len(tok)), tok, task.pool, 8, meter)[:2]
    script = tmp_path / "score.py"
    script.write_text(SCRIPT)
    out = tmp_path / "dp.npz"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           f"--master_port={_free_port()}", str(script), str(harness_cache), str(out)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dp = np.load(out)
    assert int(dp["processes"]) == 2
    np.testing.assert_allclose(dp["logp"], logp, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(dp["count"], count)
    assert float(dp["flops"]) == pytest.approx(meter.record.measured_flops)
