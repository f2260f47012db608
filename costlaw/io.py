"""Atomic writes: results appear whole or not at all (temp file in the same folder, then os.replace), with the
permissions a normal file gets (0666 less the umask; ``mkstemp`` alone would leave them 0600). And
``prepare_out_dir``: check an output folder before the work, not after."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from .errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()
"""Mode of the files written here: what ``open(path, "w")`` would give under this process's umask."""


def prepare_out_dir(path, option: str = "--out") -> Path:
    """Make the output folder ``path`` (and its parents) and prove it writable, before any work is done.

    An existing file in its place raises ``InputError`` naming ``option``; a folder that cannot be made or written
    raises the ``OSError`` (permission, read-only file system, ...) with the path, which the CLI prints in one line."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is an existing file, not a folder")
    path.mkdir(parents=True, exist_ok=True)
    import tempfile
    fd, probe = tempfile.mkstemp(dir=path, prefix=".costlaw-write-check.", suffix=".tmp")
    os.close(fd)
    os.unlink(probe)
    return path


@contextlib.contextmanager
def atomic_writer(path):
    """A text file handle on a temporary file beside ``path`` that replaces ``path`` when the block ends
    without an error (and is removed when it fails): writers stream into it, no whole-file string in memory."""
    import tempfile
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            yield fh
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path, text: str) -> Path:
    with atomic_writer(path) as fh:
        fh.write(text)
    return Path(path)


def write_csv_atomic(path, table) -> Path:
    """Write ``table`` (a DataFrame) as CSV without its index, atomically; floats keep 10 significant digits.
    (Lists of records: ``costlaw.tables.write_csv``, same bytes, no pandas.)"""
    with atomic_writer(path) as fh:
        table.to_csv(fh, index=False, float_format="%.10g")
    return Path(path)


def write_csv_parts_atomic(path, tables) -> Path:
    """Write the DataFrames ``tables`` (an iterable, consumed one at a time) one after another as one CSV with
    one header, atomically: the same bytes as ``write_csv_atomic`` of their concatenation (same columns and
    dtypes), without holding them all."""
    with atomic_writer(path) as fh:
        first = True
        for table in tables:
            table.to_csv(fh, index=False, float_format="%.10g", header=first)
            first = False
    return Path(path)


def json_value(value):
    """``value`` as plain JSON: NumPy scalars to Python, NaN and infinities to None."""
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def json_records(table) -> list[dict]:
    """The rows of ``table`` (a DataFrame or a list of records) as JSON-ready dicts (``json_value`` applied to
    every cell)."""
    if isinstance(table, list):
        from .tables import normalise
        rows = normalise(table)
    else:
        rows = table.to_dict(orient="records")
    return [{k: json_value(v) for k, v in row.items()} for row in rows]
