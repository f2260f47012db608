"""Where the bundled ``data/`` and ``fits/`` folders are: beside the package in a checkout, inside it when installed."""
from __future__ import annotations

import importlib.util
from pathlib import Path


def bundled_dir(name: str) -> Path:
    """The repository folder ``name`` ('data' or 'fits'), found in a checkout or as the ``costlaw._<name>`` package."""
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    spec = importlib.util.find_spec(f"costlaw._{name}")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"costlaw's bundled '{name}' folder is missing from this installation")
    return Path(next(iter(spec.submodule_search_locations)))
