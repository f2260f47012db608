import numpy as np
import pytest

from costlaw.schema import REQUIRED, SchemaError, read_runs, validate_runs


def test_paper_runs_follow_schema(paper_runs):
    assert len(paper_runs) == 180
    assert set(REQUIRED) <= set(paper_runs.columns)
    assert paper_runs.groupby(["task", "train_model", "method"]).size().eq(6).all()


@pytest.mark.parametrize("column", ["metric", "total_flops", "fraction"])
def test_missing_column_is_named(paper_runs, column):
    with pytest.raises(SchemaError, match=f"missing required column: {column}"):
        validate_runs(paper_runs.drop(columns=[column]))


def test_nan_is_named_with_row(paper_runs):
    runs = paper_runs.copy()
    runs.loc[7, "metric"] = np.nan
    with pytest.raises(SchemaError, match=r"'metric' has NaN at row 7"):
        validate_runs(runs)


def test_negative_flops(paper_runs):
    runs = paper_runs.copy()
    runs.loc[3, "selection_flops"] = -1.0
    with pytest.raises(SchemaError, match="'selection_flops' is negative"):
        validate_runs(runs)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 2.5])
def test_fraction_outside_range(paper_runs, fraction):
    runs = paper_runs.copy()
    runs.loc[0, "fraction"] = fraction
    with pytest.raises(SchemaError, match=r"fraction' is outside \(0, 2\]"):
        validate_runs(runs)


def test_total_must_be_sum(paper_runs):
    runs = paper_runs.copy()
    runs.loc[5, "total_flops"] *= 1.01
    with pytest.raises(SchemaError, match="total_flops != selection_flops \\+ train_flops"):
        validate_runs(runs)
    runs.loc[5, "total_flops"] = paper_runs.loc[5, "total_flops"] * (1 + 1e-5)  # figure rounding is accepted
    validate_runs(runs)


def test_non_numeric(paper_runs):
    runs = paper_runs.astype({"train_params": object}).copy()
    runs.loc[2, "train_params"] = "seven"
    with pytest.raises(SchemaError, match="'train_params' is not numeric at row 2"):
        validate_runs(runs)


def test_read_runs_errors(tmp_path):
    with pytest.raises(SchemaError, match="no such runs file"):
        read_runs(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(SchemaError, match="cannot read runs file"):
        read_runs(empty)
