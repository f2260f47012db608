"""Work split over forked processes (``--jobs``): the same function on parts of the work, results in order.

Workers are forked, so they inherit the large shared inputs (a fit, its runs, a curve grid) without pickling
them; only each part's arguments and results travel. Every part is computed by the same code as with one job,
so results do not depend on the number of jobs. Where fork is unavailable, or ``jobs`` is 1, everything runs
in this process.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

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
    jobs = check_int(jobs, "jobs", low=1)
    context = _fork_context()
    if jobs == 1 or len(parts) <= 1 or context is None or _SHARED:   # _SHARED set: already inside map_parts
        return [fn(shared, part) for part in parts]
    _SHARED["shared"] = shared
    try:
        with ProcessPoolExecutor(min(jobs, len(parts)), mp_context=context) as pool:
            return list(pool.map(_call, [fn] * len(parts), parts))
    finally:
        _SHARED.clear()


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
    at ``result()``, when ``jobs`` is 1 or fork is unavailable. The arguments are inherited, not pickled."""

    def __init__(self, fn, *args, jobs: int = 1, **kwargs):
        self._call = (fn, args, kwargs)
        self._pool = None
        self._future: Future | None = None
        context = _fork_context()
        if check_int(jobs, "jobs", low=1) > 1 and context is not None:
            _BACKGROUND[id(self)] = self._call
            try:
                self._pool = ProcessPoolExecutor(1, mp_context=context)
                self._future = self._pool.submit(_run_background, id(self))   # the worker forks here
            finally:
                del _BACKGROUND[id(self)]

    def result(self):
        if self._future is None:
            fn, args, kwargs = self._call
            return fn(*args, **kwargs)
        try:
            return self._future.result()
        finally:
            self._pool.shutdown()


_BACKGROUND: dict = {}


def _run_background(key):
    fn, args, kwargs = _BACKGROUND[key]
    return fn(*args, **kwargs)
