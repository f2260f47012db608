"""The one tabular schema for measured runs, shared by the bundled data, the fitter, the solver and the harness.

One row is one finetuning run: a selector picked ``fraction`` of the pool's tokens, the training model was
finetuned on them, and the target ``task`` was scored. Compute is in FLOPs (floating-point operations, a
multiply-add counts as 2).

Required columns
    task             target task name (str)
    train_model      name of the finetuned model (str)
    train_params     parameters of the finetuned model (count)
    method           selection method: random, bm25, embed, ppl, less, ... (str)
    selector_params  parameters of the selector model; 0 where the method has none (count)
    fraction         share of the pool's tokens selected and trained on, in (0, 2] (2 = two epochs of the pool)
    pool_tokens      tokens in the whole candidate pool (count)
    selection_flops  compute spent selecting (FLOPs)
    train_flops      compute spent finetuning (FLOPs)
    total_flops      selection_flops + train_flops (FLOPs)
    metric           target-task score (e.g. accuracy in points; or a loss, with higher_is_better False)

Optional columns
    selector_model   name of the selector model (str)
    train_tokens     tokens trained on (count)
    seed             random seed (int)
    n_tasks          target tasks the selection cost is shared over (count, default 1)
    higher_is_better whether a larger metric is better (bool, default True; False for losses), one value per task
    pbar             the ``paper`` form's fixed asymptote Pbar of the run's panel (metric units; default: the
                     panel's best observed metric)
    source           where the row comes from (str)
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .errors import CostlawError, CostlawWarning

REQUIRED = (
    "task", "train_model", "train_params", "method", "selector_params", "fraction", "pool_tokens",
    "selection_flops", "train_flops", "total_flops", "metric",
)
OPTIONAL = ("selector_model", "train_tokens", "seed", "n_tasks", "source", "higher_is_better", "pbar")
STRING_COLUMNS = ("task", "train_model", "method")
NUMERIC_COLUMNS = tuple(c for c in REQUIRED if c not in STRING_COLUMNS)
#: Relative tolerance of the check total_flops == selection_flops + train_flops (figures round to 4-5 digits).
TOTAL_RTOL = 1e-3
PANEL = ["task", "train_model"]


class SchemaError(CostlawError, ValueError):
    """A runs table does not follow the schema; the message names the column and the offending rows."""


def _rows(mask: pd.Series, limit: int = 5) -> str:
    idx = list(np.flatnonzero(np.asarray(mask)))
    shown = ", ".join(str(i) for i in idx[:limit])
    return f"row{'s' if len(idx) > 1 else ''} {shown}{' ...' if len(idx) > limit else ''} ({len(idx)} in all)"


def validate_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Check a runs table against the schema and return a clean copy (numeric dtypes, str keys).

    Raises SchemaError naming exactly what is wrong: a missing column, a NaN, a negative FLOP count,
    a fraction outside (0, 2], or total_flops that is not selection_flops + train_flops.
    """
    if not isinstance(runs, pd.DataFrame):
        raise SchemaError(f"runs must be a pandas DataFrame, got {type(runs).__name__}")
    missing = [c for c in REQUIRED if c not in runs.columns]
    if missing:
        raise SchemaError(f"missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    if len(runs) == 0:
        raise SchemaError("the runs table has no rows")
    out = runs.reset_index(drop=True).copy()
    for col in STRING_COLUMNS:
        bad = out[col].isna()
        if bad.any():
            raise SchemaError(f"column '{col}' is empty at {_rows(bad)}")
        out[col] = out[col].astype(str)
    for col in NUMERIC_COLUMNS:
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() & out[col].notna()
        if bad.any():
            raise SchemaError(f"column '{col}' is not numeric at {_rows(bad)}")
        if values.isna().any():
            raise SchemaError(f"column '{col}' has NaN at {_rows(values.isna())}")
        if not np.isfinite(values).all():
            raise SchemaError(f"column '{col}' is infinite at {_rows(~np.isfinite(values))}")
        out[col] = values.astype(float)
    for col in ("selection_flops", "train_flops", "total_flops", "train_params", "selector_params", "pool_tokens"):
        bad = out[col] < 0
        if bad.any():
            raise SchemaError(f"column '{col}' is negative at {_rows(bad)}")
    for col in ("train_params", "pool_tokens"):
        bad = out[col] <= 0
        if bad.any():
            raise SchemaError(f"column '{col}' must be positive, is 0 at {_rows(bad)}")
    bad = (out["fraction"] <= 0) | (out["fraction"] > 2)
    if bad.any():
        raise SchemaError(f"column 'fraction' is outside (0, 2] at {_rows(bad)}")
    expected = out["selection_flops"] + out["train_flops"]
    bad = ~np.isclose(out["total_flops"], expected, rtol=TOTAL_RTOL, atol=1.0)
    if bad.any():
        raise SchemaError(
            f"total_flops != selection_flops + train_flops (rtol {TOTAL_RTOL}) at {_rows(bad)}"
        )
    if "n_tasks" in out.columns:
        n_tasks = pd.to_numeric(out["n_tasks"], errors="coerce")
        bad = n_tasks.isna() | (n_tasks < 1)
        if bad.any():
            raise SchemaError(f"column 'n_tasks' must be >= 1 at {_rows(bad)}")
    if "higher_is_better" in out.columns:
        truth = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
        values = out["higher_is_better"].map(lambda v: truth.get(str(v).strip().lower()))
        bad = values.isna()
        if bad.any():
            raise SchemaError(f"column 'higher_is_better' must be true or false at {_rows(bad)}")
        out["higher_is_better"] = values.astype(bool)
        mixed = out.groupby("task").higher_is_better.nunique() > 1
        if mixed.any():
            raise SchemaError(f"column 'higher_is_better' differs within task(s) {', '.join(mixed.index[mixed])}")
    dup = duplicate_runs(out)
    if dup.any():
        warnings.warn(f"{int(dup.sum())} duplicated run(s) at {_rows(dup)} repeat earlier rows (same run_id, or the "
                      f"same values in every column but timings); they count twice in fits, AIC and intervals: "
                      f"drop them (runs.drop_duplicates())", CostlawWarning, stacklevel=2)
    return out


def duplicate_runs(runs: pd.DataFrame) -> pd.Series:
    """Rows that repeat an earlier run: the same ``run_id`` where the table has one (a harness sweep), else the
    same values in every column except timings (``*_seconds``). Repeated seeds are not duplicates: their metrics
    differ."""
    if "run_id" in runs.columns:
        return runs["run_id"].duplicated(keep="first")
    cols = [c for c in runs.columns if not str(c).endswith("_seconds")]
    return runs.duplicated(cols, keep="first")


def read_runs(path) -> pd.DataFrame:
    """Read and validate a runs CSV; unreadable files raise SchemaError with the reason in one line."""
    try:
        runs = pd.read_csv(path)
    except FileNotFoundError:
        raise SchemaError(f"no such runs file: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, IsADirectoryError) as err:
        raise SchemaError(f"cannot read runs file {path}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    return validate_runs(runs)


def panels(runs: pd.DataFrame):
    """Iterate over (task, train_model) panels in a stable order, yielding ((task, train_model), rows)."""
    order = runs.sort_values(["task", "train_params"])[PANEL].drop_duplicates()
    for task, model in order.itertuples(index=False):
        yield (task, model), runs[(runs.task == task) & (runs.train_model == model)]


def higher_is_better(runs: pd.DataFrame) -> dict:
    """{task: whether a larger metric is better} (default True where the column is absent)."""
    if "higher_is_better" not in runs.columns:
        return {t: True for t in pd.unique(runs.task)}
    return {t: bool(v) for t, v in runs.groupby("task", sort=False).higher_is_better.first().items()}
