"""notebooks/fits.ipynb executes end to end and draws its figures."""
from nbrun import n_images, run_notebook


def test_fits_notebook_executes(monkeypatch):
    outputs = run_notebook("fits.ipynb", monkeypatch)
    assert n_images(outputs) >= 2
    assert any("extrapolate_size" in str(o.get("data", {})) for o in outputs)
