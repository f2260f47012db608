"""Saving and loading fits: a folder with ``fits.csv`` (one row per curve), ``curves.csv`` (fitted curves) and
``fit.json`` (every fitted group with its bootstrap replicates) that loads back into ``Bootstrap`` objects.

``fit.json`` carries a format version (``FORMAT_VERSION``); loading a file of another version fails with a
``CostlawError`` saying how to regenerate it. Replicates are stored compactly: one row of entry values per
replicate in the point fit's layout (not one parameter table each).

``load_fits`` gives ``Bootstrap`` objects (pandas); ``load_fit_arrays`` gives the same fits as ``FitArrays`` (NumPy
only: what ``costlaw plan`` reads).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import CostlawError, InputError
from .io import atomic_writer, write_csv_atomic

FIT_FILE = "fit.json"
FORMAT_VERSION = 2
"""Version of ``fit.json``: 2 stores each fit's parameter layout and its replicates as rows of entry values."""


def save_fits(boots: list, out_dir) -> Path:
    """Write fits.csv, curves.csv and fit.json for ``boots`` (a list of ``Bootstrap``) into ``out_dir``."""
    import pandas as pd
    out = Path(out_dir)
    write_csv_atomic(out / "fits.csv", pd.concat([b.fit.summary() for b in boots], ignore_index=True))
    curves = [b.fit.curve_table() for b in boots]
    write_csv_atomic(out / "curves.csv", curves[0] if len(curves) == 1 else pd.concat(curves, ignore_index=True))
    del curves  # freed before the JSON is built (the peak memory of large fits)
    path = out / FIT_FILE
    with atomic_writer(path) as fh:  # one group's JSON at a time (json.dump itself would encode in pure Python)
        fh.write(json.dumps({"costlaw_fit_version": FORMAT_VERSION})[:-1] + ', "groups": [')
        for i, b in enumerate(boots):
            group = {"fit": b.fit.to_dict(), "seed": b.seed, "level": b.level, "replicates": b.values.tolist(),
                     "converged": None if b.converged is None else np.asarray(b.converged, bool).tolist()}
            fh.write((", " if i else "") + json.dumps(group))
        fh.write("]}")
    return path


def _groups(path) -> tuple[Path, list]:
    """(fit.json path, its groups) of a folder or file written by ``save_fits``; checks the format version."""
    path = Path(path)
    path = path / FIT_FILE if path.is_dir() else path
    if not path.exists():
        raise InputError(f"no fitted results at {path}; make them with `costlaw fit RUNS --out DIR`")
    try:
        data = json.loads(path.read_text())
        version = data.get("costlaw_fit_version")
        groups = data["groups"]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise InputError(f"{path} is not a costlaw fit file") from None
    if version != FORMAT_VERSION:
        raise CostlawError(f"{path} has fit format version {version}, this costlaw reads version {FORMAT_VERSION}; "
                           f"refit with `costlaw fit RUNS --out DIR` to regenerate it")
    return path, groups


def _invalid(path, err) -> CostlawError:
    return CostlawError(f"{path} is not a valid costlaw fit file ({type(err).__name__}: {err})")


def _read_groups(path, read) -> list:
    """``read(group)`` of every group of the fit file at ``path``; a malformed group is the one-line
    ``CostlawError`` naming the file."""
    path, groups = _groups(path)
    out = []
    for g in groups:
        try:
            out.append(read(g))
        except (KeyError, TypeError, ValueError) as err:
            raise _invalid(path, err) from None
    return out


def load_fits(path) -> list:
    """Read what ``save_fits`` wrote (a folder or its fit.json) back into a list of ``Bootstrap``."""
    from .uncertainty import Bootstrap
    return _read_groups(path, Bootstrap.from_dict)


def load_fit_arrays(path) -> list:
    """Read what ``save_fits`` wrote (a folder or its fit.json) into a list of ``costlaw.fitarrays.FitArrays``:
    the same fits as ``load_fits``, as NumPy arrays (no pandas)."""
    from .fitarrays import FitArrays
    return _read_groups(path, FitArrays.from_group)
