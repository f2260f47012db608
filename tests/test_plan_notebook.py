"""notebooks/plan.ipynb (three planning scenarios) executes without errors and draws its figures."""
from nbrun import n_images, run_notebook


def test_plan_notebook_executes(monkeypatch):
    outputs = run_notebook("plan.ipynb", monkeypatch, timeout=300)
    assert n_images(outputs) >= 2
    text = "".join(o.get("text", "") for o in outputs)
    assert "small" in text and "large" in text and "tipping point" in text
