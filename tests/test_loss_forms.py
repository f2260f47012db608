"""Fine-tuning scaling laws beyond accuracy: lower-is-better losses, the rectified law of Lin et al. (ICML 2024)
and a vanilla power law, fitted in log space, end to end through fit, compare and forecast (issue 8, item 7)."""
import json

import numpy as np
import pandas as pd
import pytest

from costlaw import fit
from costlaw.cli import main
from costlaw.schema import SchemaError, higher_is_better, validate_runs

POOL = 1e8


def rectified(tokens, log10_B, log10_Dl, beta, E):
    return E + 10 ** log10_B / (10 ** log10_Dl + tokens ** beta)


def loss_runs(noise=0.003, seed=0, fractions=np.geomspace(1e-3, 1, 8)):
    """A loss-valued runs table: three model sizes, three selectors, rectified-law curves, log-normal noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for size, model, floor in ((1e9, "m1b", 1.6), (3e9, "m3b", 1.4), (7e9, "m7b", 1.25)):
        for method, lb, sel in (("random", 4.0, 0.0), ("bm25", 3.9, 0.0), ("ppl", 3.7, 2 * 1e9 * POOL)):
            tokens = fractions * POOL
            loss = rectified(tokens, lb, 2.5, 0.45, floor) * np.exp(rng.normal(size=len(tokens)) * noise)
            for f, d, y in zip(fractions, tokens, loss):
                rows.append({"task": "val_loss", "train_model": model, "train_params": size, "method": method,
                             "selector_params": 1e9 if sel else 0.0, "fraction": f, "pool_tokens": POOL,
                             "train_tokens": d, "selection_flops": sel, "train_flops": 6 * size * d,
                             "total_flops": sel + 6 * size * d, "metric": y, "higher_is_better": False})
    return pd.DataFrame(rows)


def test_rectified_fit_recovers_planted_parameters():
    fractions = np.geomspace(1e-4, 1, 25)
    runs = loss_runs(noise=0.002, fractions=fractions)
    runs = runs[(runs.train_model == "m1b") & (runs.method == "random")]
    fitted = fit(runs, "rectified")
    values = dict(zip(fitted.params_.param, fitted.params_.value))
    assert abs(values["log10_B"] - 4.0) < 0.15 and abs(values["log10_Dl"] - 2.5) < 0.15
    assert abs(values["beta"] - 0.45) < 0.02 and abs(values["E"] - 1.6) < 0.02
    # the vanilla power law (D_l = 0) cannot bend at small D: clearly worse
    assert fit(runs, "power_law", warn=False).aic > fitted.aic + 10


def test_direction_column():
    runs = validate_runs(loss_runs())
    assert higher_is_better(runs) == {"val_loss": False}
    bad = loss_runs().assign(higher_is_better="maybe")
    with pytest.raises(SchemaError, match="higher_is_better"):
        validate_runs(bad)


def test_lower_is_better_orients_break_even_and_frontier():
    from costlaw.breakeven import breakeven_table
    from costlaw.frontier import budget_grid, frontier, method_curves, panel_curves
    fitted = fit(validate_runs(loss_runs()), "rectified", warn=False)
    curves = panel_curves(method_curves(fitted))[("val_loss", "m7b")]
    front = frontier(curves, budget_grid(curves, 50))
    assert (front.metric_pred > 0).all()                        # reported as losses, not negated
    assert np.all(np.diff(front.metric_pred.to_numpy()) <= 1e-9)  # more compute never raises the best loss
    table = breakeven_table(fitted, methods=("ppl",), margin=0.0)
    ppl = table[(table.definition == "shrink") & (table.task != "all")]
    assert (ppl.lead_free > 0).all()  # PPL's curve is lower (better) everywhere: it leads when free


def test_loss_table_end_to_end(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    loss_runs().to_csv(path, index=False)
    assert main(["fit", str(path), "--form", "rectified", "--out", str(tmp_path / "fit"), "--n-boot", "8"]) == 0
    assert main(["compare", str(path), "--form", "rectified", "--form", "power_law", "--protocol",
                 "extrapolate_data", "--protocol", "extrapolate_fraction", "--n-boot", "8",
                 "--out", str(tmp_path / "cmp")]) == 0
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    data = table[table.protocol == "extrapolate_data"].set_index("form")
    assert data.heldout_rmse["rectified"] < 0.05  # the largest-data point of each curve, from its smaller ones
    capsys.readouterr()
    assert main(["forecast", "--fits", str(tmp_path / "fit"), "--train-params", "3e9", "--fraction", "0.3",
                 "--method", "ppl", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    truth = rectified(0.3 * POOL, 3.7, 2.5, 0.45, 1.4)
    assert abs(row["metric_pred"] - truth) < 0.02 and row["pred_lo"] <= row["metric_pred"] <= row["pred_hi"]
