"""Pilot-anchored forecasts of an unmeasured training size (issue 8, finding 7)."""
import json

import numpy as np
import pandas as pd
import pytest

from costlaw._paths import bundled_dir
from costlaw.cli import main
from costlaw.errors import InputError
from costlaw.pilot import Pilot, PilotTransfer, parse_pilot, pilot_protocol


FITS = bundled_dir("fits") / "paper_offset_exp"


def test_parse_pilot():
    assert parse_pilot("random:0.025:52.3") == Pilot("random", 0.025, 52.3)
    for bad in ("random:0.025", "random:x:1", "random:3:1", "random:0.1:nan"):
        with pytest.raises(InputError):
            parse_pilot(bad)


def test_70b_from_7b_and_13b_with_one_pilot(paper_runs):
    scores, table = pilot_protocol(paper_runs)  # headroom rule, random at 2.5% of the pool as the pilot
    assert scores["n_heldout"] == 58 and scores["heldout_rmse"] < 1.0
    assert 0.8 <= scores["coverage"] <= 0.97   # calibrated 90% intervals (100% with the earlier, too wide rule)
    flat, _ = pilot_protocol(paper_runs, rule="pilot")   # "predict the pilot everywhere"
    loglinear, _ = pilot_protocol(paper_runs, rule="loglinear")
    assert scores["heldout_rmse"] < flat["heldout_rmse"] < loglinear["heldout_rmse"]
    assert 0 <= scores["ranking_accuracy"] <= 1


def test_pilot_reproduces_itself(paper_runs):
    small = paper_runs[(paper_runs.train_params < 7e10) & (paper_runs.task == "mmlu")]
    transfer = PilotTransfer(small, "mmlu")
    out = transfer.forecast(70e9, [Pilot("random", 0.025, 61.0)], ["random"], [0.025])
    assert np.isclose(out.metric_pred.iloc[0], 61.0)
    two = transfer.forecast(70e9, [Pilot("random", 0.025, 61.0), Pilot("random", 0.025, 61.4)], ["random"], [0.025])
    assert np.isclose(two.metric_pred.iloc[0], 61.2)
    assert (two.pred_hi - two.pred_lo).iloc[0] < (out.pred_hi - out.pred_lo).iloc[0]  # two pilots: less noise


def test_forecast_cli_with_pilots(capsys, tmp_path):
    assert main(["forecast", "--fits", str(FITS), "--train-params", "34e9", "--fraction", "0.1",
                 "--task", "mmlu", "--method", "ppl", "--pilot", "random:0.025:60.1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and rows[0]["rule"] == "headroom" and rows[0]["pred_lo"] < rows[0]["metric_pred"]
    assert main(["forecast", "--fits", str(FITS), "--train-params", "34e9", "--fraction", "0.1",
                 "--pilot", "nosuch:0.025:60"]) == 2


def test_plan_with_a_pilot(capsys):
    from costlaw.planner import Problem, plan
    problem = Problem(34e9, 1.0938e8, "mmlu", pilots=[Pilot("random", 0.025, 60.1)], n_grid=200)
    assert problem.fit_kind.startswith("pilot-anchored")
    assert np.isclose(problem.predict("random", [0.025])[0], 60.1, atol=0.05)
    result = plan(1e19, 34e9, 1.0938e8, "mmlu", problem=problem, gain=None)
    assert result.best is not None and result.verdict in ("wins", "indistinguishable")
    assert any("does not transfer well" in n for n in result.notes)
    assert main(["plan", "--budget", "1e19", "--train-params", "34e9", "--pool-tokens", "1.0938e8", "--task", "mmlu",
                 "--pilot", "random:0.025:60.1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fit_kind"].startswith("pilot-anchored")


def test_pilot_intervals_other_directions(paper_runs):
    """7B from 13B + 70B stays calibrated; 13B from 7B + 70B is under-covered (BBH 13B departs from both
    neighbours by about 5 points: no spread between the other sizes announces it) and is pinned here so a change
    that hides it shows."""
    small, _ = pilot_protocol(paper_runs, held_out=7e9)
    assert small["n_heldout"] == 58 and 0.8 <= small["coverage"] <= 0.97
    middle, table = pilot_protocol(paper_runs, held_out=13e9)
    assert middle["coverage"] < 0.5 and middle["heldout_rmse"] > 3
    bbh = table[table.task == "bbh"]
    assert np.sqrt(np.mean((bbh.metric_pred - bbh.metric) ** 2)) > 4
    with pytest.raises(InputError):
        pilot_protocol(paper_runs, held_out=34e9)


def test_noise_is_the_least_contaminated_panel(paper_runs):
    from costlaw.noise import panel_noise
    transfer = PilotTransfer(paper_runs[(paper_runs.task == "bbh") & (paper_runs.train_params < 7e10)], "bbh")
    noise = panel_noise(transfer.fit)
    assert (noise.noise_source == "residuals").all()
    assert np.isclose(transfer.noise_sd(), noise.noise_sd.min()) and noise.noise_sd.max() > 2 * transfer.noise_sd()


def test_noise_from_repeated_seeds(paper_runs):
    runs = paper_runs[(paper_runs.task == "mmlu") & (paper_runs.train_params < 7e10)]
    twice = pd.concat([runs.assign(seed=0), runs.assign(seed=1, metric=runs.metric + 0.2)], ignore_index=True)
    transfer = PilotTransfer(twice, "mmlu")
    assert np.isclose(transfer.noise_sd(), 0.2 / np.sqrt(2))   # each pair: sd |d| / sqrt(2)
