"""notebooks/ratio.ipynb (measured frontier per trained size, the crossing, measured vs analytic) executes."""
from nbrun import n_images, run_notebook


def test_ratio_notebook_executes(monkeypatch):
    outputs = run_notebook("ratio.ipynb", monkeypatch, timeout=300)
    assert n_images(outputs) >= 3
    text = "".join(o.get("text", "") for o in outputs) + "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "measured_ratio" in text and "never within the ladder" in text
