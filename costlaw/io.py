"""Atomic writes: results appear whole or not at all (temp file in the same folder, then os.replace)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd


def write_text_atomic(path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_csv_atomic(path, table: pd.DataFrame) -> Path:
    """Write ``table`` as CSV without its index, atomically; floats keep 10 significant digits."""
    return write_text_atomic(path, table.to_csv(index=False, float_format="%.10g"))
