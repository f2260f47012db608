import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from costlaw._paths import bundled_dir
from costlaw.cli import main
from costlaw.forecast import fit_groups, forecast, load_fits, save_fits


def test_fit_writes_files_that_load_back(tmp_path, paper_runs):
    runs = paper_runs[paper_runs.task == "bbh"]
    boots = fit_groups(runs, "offset_exp", n_boot=5)
    save_fits(boots, tmp_path)
    loaded = load_fits(tmp_path)
    assert np.allclose(loaded[0].fit.predict(runs), boots[0].fit.predict(runs))
    assert len(loaded[0].replicates) == 5
    assert {"task", "train_model", "method", "form", "n_points", "rmse", "k"} <= set(pd.read_csv(tmp_path / "fits.csv"))


def test_fit_by_task_fits_groups_separately(tmp_path, paper_runs):
    assert main(["fit", "paper", "--by", "task", "--out", str(tmp_path), "--n-boot", "3"]) == 0
    data = json.loads((tmp_path / "fit.json").read_text())
    assert len(data["groups"]) == 2


def test_forecast_interpolates_size_with_interval():
    boots = load_fits(bundled_dir("fits") / "paper_offset_exp_size")
    table = forecast(boots, train_params=30e9, fraction=0.25, method="bm25")
    assert set(table.task) == {"mmlu", "bbh"}
    assert ((table.lo <= table.metric_pred) & (table.metric_pred <= table.hi)).all()
    assert ((table.pred_lo <= table.lo) & (table.hi <= table.pred_hi)).all()
    # between 13B and 70B: between their fitted levels
    at13 = forecast(boots, 13e9, 0.25, method="bm25", task="mmlu").metric_pred.iloc[0]
    at70 = forecast(boots, 70e9, 0.25, method="bm25", task="mmlu").metric_pred.iloc[0]
    assert at13 < table[table.task == "mmlu"].metric_pred.iloc[0] < at70


def test_forecast_refuses_unseen_size_without_size_model():
    boots = load_fits(bundled_dir("fits") / "paper_offset_exp")
    with pytest.raises(KeyError, match="does not model size"):
        forecast(boots, train_params=30e9, fraction=0.25)
    assert len(forecast(boots, train_params=13e9, fraction=0.25, task="mmlu")) == 5


@pytest.mark.parametrize("argv, message", [
    (["forecast", "--fits", "/nonexistent", "--train-params", "1e9", "--fraction", "0.1"], "no fitted results"),
    (["forecast", "--fits", "FITS", "--train-params", "1e9", "--fraction", "3"], "--fraction: must be in (0, 2]"),
    (["fit", "paper", "--by", "colour", "--out", "OUT"], "unknown column(s): colour"),
])
def test_cli_errors(argv, message, tmp_path):
    argv = [a.replace("FITS", str(bundled_dir("fits") / "paper_offset_exp")).replace("OUT", str(tmp_path)) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "costlaw.cli", *argv], capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("folder, form", [("paper_offset_exp", "offset_exp"), ("paper_offset_exp_size", "offset_exp_size"),
                                          ("paper_power", "power"), ("paper_logistic", "logistic"),
                                          ("paper_power_size", "power_size"), ("paper_logistic_size", "logistic_size")])
def test_shipped_fits_are_fresh(folder, form, tmp_path, paper_runs):
    """Fails when fits/ is stale: regenerate with the commands in fits/README.md."""
    shipped = pd.read_csv(bundled_dir("fits") / folder / "fits.csv")
    boots = fit_groups(paper_runs, form, n_boot=0)
    save_fits(boots, tmp_path)
    fresh = pd.read_csv(tmp_path / "fits.csv")
    pd.testing.assert_frame_equal(shipped, fresh, check_exact=False, rtol=1e-6, atol=1e-8)
    stored = json.loads((bundled_dir("fits") / folder / "fit.json").read_text())
    assert len(stored["groups"][0]["replicates"]) == 50


def test_shipped_form_loo_is_fresh(paper_runs):
    """Fails when fits/paper_forms_loo/compare.csv (the planner's default form) is stale: fits/README.md."""
    from costlaw.compare import compare
    from costlaw.planner.forms import PANEL_FORMS, form_loo
    shipped = form_loo()
    fresh = form_loo(compare(paper_runs, list(PANEL_FORMS), protocols=("loo",)))
    pd.testing.assert_series_equal(shipped.sort_index(), fresh.sort_index(), check_exact=False, rtol=1e-6)


def test_shipped_size_heldout_is_fresh(paper_runs):
    """Fails when fits/paper_size_forms_heldout/compare.csv (the planner's default size model) is stale."""
    from costlaw.compare import compare
    from costlaw.planner.forms import PANEL_FORMS, size_heldout
    shipped = size_heldout()
    table = compare(paper_runs, list(PANEL_FORMS), protocols=("leave_size_out",))
    fresh = size_heldout(table)
    pd.testing.assert_series_equal(shipped.sort_index(), fresh.sort_index(), check_exact=False, rtol=1e-6)
    stored = pd.read_csv(bundled_dir("fits") / "paper_size_forms_heldout" / "compare.csv")
    pd.testing.assert_frame_equal(stored, table.reset_index(drop=True), check_exact=False, rtol=1e-6,
                                  check_dtype=False)


def test_shipped_pilot_ranking_is_fresh(paper_runs):
    """Fails when the ranking numbers pilot plans print (the default pilot form's row of
    fits/paper_pilot_forms_heldout/compare.csv) are stale."""
    from costlaw.compare import compare
    from costlaw.planner.forms import default_pilot_form, pilot_ranking
    shipped = pilot_ranking()
    assert shipped["form"] == default_pilot_form()
    fresh = pilot_ranking(compare(paper_runs, [shipped["form"]], protocols=("extrapolate_size_pilot",)))
    assert shipped is not None and shipped.keys() == fresh.keys() and fresh["form"] == shipped["form"]
    for key in shipped.keys() - {"form"}:
        assert shipped[key] == pytest.approx(fresh[key], rel=1e-6)
