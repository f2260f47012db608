"""Work split over forked processes (``--jobs``): the same function on parts of the work, results in order.

Workers are forked, so they inherit the large shared inputs (a fit, its runs, a curve grid) without pickling
them; only each part's arguments and results travel. Every part is computed by the same code as with one job,
so results do not depend on the number of jobs. Where fork is unavailable, or ``jobs`` is 1, everything runs
in this process.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from .checks import check_int

_SHARED: dict = {}


def available_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_jobs() -> int:
    """Processes used when none are asked for: the available CPUs, at most 4."""
    return max(1, min(4, available_cpus()))


def _fork_context():
    try:
        return multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform
        return None


def _call(fn, part):
    return fn(_SHARED["shared"], part)


def map_parts(fn, shared, parts: list, jobs: int = 1) -> list:
    """``[fn(shared, part) for part in parts]``, over up to ``jobs`` forked processes; ``fn`` a module-level
    function, ``shared`` inherited by the workers (never pickled)."""
    return list(imap_parts(fn, shared, parts, jobs))


def imap_parts(fn, shared, parts: list, jobs: int = 1):
    """``map_parts`` as an iterator: the results in order, each as soon as it is done, so that the caller can use
    and drop them one at a time (with one job, each part is computed only when asked for)."""
    jobs = check_int(jobs, "jobs", low=1)
    context = _fork_context()
    if jobs == 1 or len(parts) <= 1 or context is None or _SHARED:
        for part in parts:
            yield fn(shared, part)
        return
    _SHARED["shared"] = shared
    try:
        with ProcessPoolExecutor(min(jobs, len(parts)), mp_context=context) as pool:
            yield from pool.map(_call, [fn] * len(parts), parts)
    finally:
        _SHARED.clear()


def split(n: int, parts: int) -> list[slice]:
    """``range(n)`` as up to ``parts`` contiguous slices of near-equal length (none empty)."""
    parts = max(1, min(parts, n))
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


class Background:
    """One function run in a forked process while this one goes on (``result()`` waits for it); in this process,
    at ``result()``, when ``jobs`` is 1 or fork is unavailable. The arguments are inherited, not pickled; the
    process exits as soon as it has handed its result over, so its memory is not held while this one goes on."""

    def __init__(self, fn, *args, jobs: int = 1, **kwargs):
        self._call = (fn, args, kwargs)
        self._proc = self._reader = None
        context = _fork_context()
        if check_int(jobs, "jobs", low=1) > 1 and context is not None:
            self._reader, writer = context.Pipe(duplex=False)
            self._proc = context.Process(target=_run_background, args=(self._call, writer))
            self._proc.start()                                    # forked here
            writer.close()

    def result(self):
        if self._proc is None:
            fn, args, kwargs = self._call
            return fn(*args, **kwargs)
        try:
            ok, value = self._reader.recv()
        except EOFError:
            raise RuntimeError(f"the background process of {self._call[0].__name__} ended without a result "
                               f"(exit code {self._proc.exitcode})") from None
        finally:
            self._reader.close()
            self._proc.join()
        if not ok:
            err, trace = value
            raise err from RuntimeError(f"in the background process:\n{trace}")
        return value


def _run_background(call, writer):
    fn, args, kwargs = call
    try:
        out = (True, fn(*args, **kwargs))
    except BaseException as err:   # handed to result(), which raises it with this process's traceback
        import traceback
        out = (False, (err, traceback.format_exc()))
    try:
        writer.send(out)
    except Exception as err:       # e.g. an exception that cannot be pickled
        writer.send((False, (RuntimeError(f"{type(err).__name__}: {err}"), repr(out[1]))))
    writer.close()
