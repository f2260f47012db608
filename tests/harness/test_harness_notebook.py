"""notebooks/harness.ipynb runs (on the session's smoke sweep, which it resumes instead of rerunning)."""
from pathlib import Path

import pytest

pytest.importorskip("torch")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "harness.ipynb"


@pytest.mark.slow
def test_notebook_executes(smoke_dir, harness_cache, monkeypatch):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "store the notebook stripped"
    monkeypatch.setenv("COSTLAW_SMOKE_OUT", str(smoke_dir))
    monkeypatch.setenv("COSTLAW_HARNESS_CACHE", str(harness_cache))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
