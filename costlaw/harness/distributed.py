"""What several processes (``torchrun`` / ``accelerate launch``) need to agree on, through accelerate.

A single process needs no launcher and every helper here is then a no-op. Under a launcher every rank runs the
same code (SPMD): work is sharded (``split_between_processes``), results gathered (``gather_object``), FLOPs summed,
and decisions that depend on files (is a score cached? is a base checkpoint there?) are taken once, on the main
process, and broadcast, so that all ranks always enter the same collectives.
"""
from __future__ import annotations

from contextlib import contextmanager


def process_state():
    """accelerate's PartialState; on a machine without CUDA it joins a torchrun/accelerate group over gloo."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def gather_meter(meter, state=None) -> None:
    """Sum what a PhaseMeter recorded since its last sum over processes, in place (seconds: the slowest).

    Every process calls it at the same point; afterwards all hold the same record.
    """
    if meter is None:
        return
    state = state or process_state()
    if state.num_processes == 1:
        return
    from accelerate.utils import gather_object

    rec, old = meter.record, meter.synced
    parts = gather_object([(rec.analytic_flops - old.analytic_flops, rec.measured_flops - old.measured_flops,
                            rec.seconds - old.seconds)])
    rec.analytic_flops = old.analytic_flops + sum(p[0] for p in parts)
    rec.measured_flops = old.measured_flops + sum(p[1] for p in parts)
    rec.seconds = old.seconds + max(p[2] for p in parts)
    old.analytic_flops, old.measured_flops, old.seconds = rec.analytic_flops, rec.measured_flops, rec.seconds


def from_main(value, state=None):
    """``value`` as the main process has it, on every process (a broadcast; identity for one process)."""
    state = state or process_state()
    if state.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    box = [value]
    broadcast_object_list(box, from_process=0)
    return box[0]


@contextmanager
def main_first(state=None):
    """Run the block on the main process first, then on the others (they find its files, e.g. a cached base)."""
    state = state or process_state()
    if state.num_processes == 1:
        yield
        return
    with state.main_process_first():
        yield


def sharded_map(items, fn, state=None) -> list:
    """``[fn(x) for x in items]`` with the items split between processes and the results gathered, in order.

    ``fn`` must not enter collectives (ranks hold different numbers of items).
    """
    state = state or process_state()
    if state.num_processes == 1:
        return [fn(x) for x in items]
    from accelerate.utils import gather_object

    numbered = list(enumerate(items))
    with state.split_between_processes(numbered) as mine:
        done = [(i, fn(x)) for i, x in mine]
    gathered = gather_object(done)
    return [r for _, r in sorted(gathered, key=lambda t: t[0])]


def ignored_launch() -> str | None:
    """Why this process looks like ``accelerate launch --cpu --num_processes N`` (N > 1), which accelerate runs as
    ONE process (its simple launcher; only ``--mpirun_hostfile`` starts several on CPU); None otherwise."""
    import os

    env = os.environ
    if env.get("ACCELERATE_USE_CPU", "").lower() not in ("true", "1", "yes") or "MASTER_PORT" not in env:
        return None
    if any(k in env for k in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_RANK")):
        return None
    return ("'accelerate launch --cpu --num_processes N' starts a single process on CPU; use "
            "'torchrun --nproc_per_node N -m costlaw.harness sweep ...' (or accelerate launch --mpirun_hostfile)")
