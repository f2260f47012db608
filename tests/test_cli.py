import subprocess
import sys

import pandas as pd
import pytest

from costlaw.cli import main


@pytest.fixture(scope="module")
def reproduced(reproduced_paper):
    return reproduced_paper[0]


def test_reproduce_writes_every_table(reproduced):
    runs = pd.read_csv(reproduced / "runs.csv")
    assert len(runs) == 180
    fits = pd.read_csv(reproduced / "fits.csv")
    assert {"task", "train_model", "method", "form", "n_points", "rmse"} <= set(fits.columns)
    assert set(fits.form) == {"paper", "offset_exp"} and len(fits) == 60
    curves = pd.read_csv(reproduced / "curves.csv")
    assert curves.groupby(["task", "train_model", "method", "form"]).size().min() >= 50
    assert set(curves.form) >= {"paper"}
    frontier = pd.read_csv(reproduced / "frontier.csv")
    assert list(frontier.columns) == ["task", "train_model", "form", "budget_flops", "best_method",
                                      "best_fraction", "metric_pred", "runner_up", "lead", "margin",
                                      "indistinguishable"]
    assert (frontier.indistinguishable == (frontier.lead <= frontier.margin)).all()
    assert frontier.indistinguishable.any() and not frontier.indistinguishable.all()
    breakeven = pd.read_csv(reproduced / "breakeven.csv")
    assert {"task", "train_model", "method", "ratio"} <= set(breakeven.columns)
    pooled = breakeven[breakeven.train_model == "pooled"]
    # four definitions for ppl and less, for both forms (pareto is model-free but held to each form's margins)
    assert len(pooled) == 2 * 4 * 2
    assert set(breakeven.definition) == {"shrink", "size", "pooled_mean", "pareto"}
    assert {"margin", "p_win", "verdict", "ratio_lo", "ratio_hi", "stable", "paper_claim"} <= set(breakeven.columns)
    panels = breakeven[(breakeven.definition == "shrink") & (breakeven.task != "all") & (breakeven.form == "offset_exp")]
    assert panels.p_win.between(0, 1).all() and (panels.margin > 0).all()
    compare = pd.read_csv(reproduced / "compare.csv")
    assert {"form", "protocol", "n_heldout", "heldout_rmse", "heldout_mae", "coverage"} <= set(compare.columns)
    assert {"extrapolate_fraction", "extrapolate_size"} <= set(compare.protocol)
    assert len(pd.read_csv(reproduced / "front_line.csv")) == 6
    figures = list((reproduced / "figures").glob("*.png"))
    assert len(figures) == 7


def test_overview_tiles_the_panel_figures(reproduced):
    """panels.png is the six panel PNGs' pixels, 3 per row under a title banner (each panel drawn once)."""
    import numpy as np
    from PIL import Image

    sheet = np.asarray(Image.open(reproduced / "figures" / "panels.png").convert("RGB"))
    panel = np.asarray(Image.open(reproduced / "figures" / "mmlu_llama2-13b.png").convert("RGB"))
    h, w = panel.shape[:2]
    banner = sheet.shape[0] - 2 * h
    assert sheet.shape[1] == 3 * w and 0 < banner < h / 4
    assert (sheet[:banner] < 128).any()   # the title is drawn
    # sorted by task then size: mmlu 13B is the second tile of the second row
    assert np.array_equal(sheet[banner + h:banner + 2 * h, w:2 * w], panel)
    assert panel.std() > 10   # not blank


def test_reproduce_prints_ratios_beside_claim(reproduced_paper):
    out = reproduced_paper[1]
    assert "Break-even train-to-selector" in out and "paper's claim" in out and "pooled" in out
    for name in ("shrink", "size", "pooled_mean", "pareto", "margin: 1 x noise sd", "indistinguishable"):
        assert name in out


def test_reproduce_takes_a_margin(capsys, tmp_path):
    assert main(["reproduce", "--out", str(tmp_path), "--no-figures", "--n-boot", "6", "--margin", "0.1"]) == 0
    assert "margin: given" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "breakeven.csv")
    assert (table.margin.dropna() == 0.1).all()


def test_reproduce_on_user_runs(tmp_path, paper_runs):
    path = tmp_path / "mine.csv"
    paper_runs[paper_runs.task == "bbh"].to_csv(path, index=False)
    assert main(["reproduce", "--runs", str(path), "--out", str(tmp_path / "o"), "--no-figures"]) == 0
    assert set(pd.read_csv(tmp_path / "o" / "runs.csv").task) == {"bbh"}


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "--bogus"], "unrecognized arguments: --bogus"),
    (["reproduce", "--runs", "/nonexistent/runs.csv"], "no such runs file"),
    (["reproduce", "--form", "cubic", "--no-figures"], "unknown form 'cubic'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(argv, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "costlaw.cli", *argv, "--out", str(tmp_path)] if argv[0] == "reproduce"
                          else [sys.executable, "-m", "costlaw.cli", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_bad_schema_exits_2(tmp_path, paper_runs):
    path = tmp_path / "bad.csv"
    paper_runs.drop(columns=["metric"]).to_csv(path, index=False)
    proc = subprocess.run([sys.executable, "-m", "costlaw.cli", "reproduce", "--runs", str(path), "--out",
                           str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "missing required column: metric" in proc.stderr


def test_core_import_stays_light():
    code = "import sys, costlaw, costlaw.reproduce, costlaw.cli; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
