"""The wheel holds every module and every bundled file (the fits in fits/*/ were once left out, so `costlaw plan`
failed from a wheel). Builds the wheel from a copy of the tree, without build isolation (no index needed)."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _expected() -> set[str]:
    files = {str(p.relative_to(ROOT)) for p in (ROOT / "costlaw").rglob("*.py") if "__pycache__" not in p.parts}
    files |= {"costlaw/_data/" + str(p.relative_to(ROOT / "data")) for p in (ROOT / "data" / "paper").rglob("*")
              if p.is_file()}
    files |= {"costlaw/_fits/" + str(p.relative_to(ROOT / "fits")) for p in (ROOT / "fits").rglob("*") if p.is_file()}
    return files


def test_wheel_holds_every_module_and_bundled_file(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("costlaw", "data", "fits"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src),
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True)
    wheel, = (tmp_path / "dist").glob("costlaw-*.whl")
    names = {n for n in zipfile.ZipFile(wheel).namelist() if not n.startswith("costlaw-")}
    missing = sorted(_expected() - names)
    assert not missing, f"not in the wheel: {missing}"
    assert "costlaw/_fits/paper_offset_exp_size/fit.json" in names
