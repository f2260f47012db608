"""Tables as lists of records (one dict per row), printed and written without pandas.

The planner's command line answers in a fraction of a second, so it never imports pandas (about 0.5 s by itself);
its results are lists of records, and this module prints and writes them exactly as pandas would print and
write the same records as a DataFrame (``DataFrame.to_string(index=False, formatters=...)`` and
``to_csv(index=False, float_format="%.10g")``), which ``tests/test_plan_fast.py`` checks. ``frame`` makes the
DataFrame for the Python API (importing pandas then).

Each column's kind follows pandas' inference for a column built from the records: ``bool`` (all booleans),
``int`` (all integers), ``float`` (numbers with NaN/None as missing), ``str`` (strings with missing values, which
print as NaN), ``object`` (anything else, e.g. all None).
"""
from __future__ import annotations

import csv
import math
import numbers

import numpy as np

__all__ = ["column_kinds", "columns_of", "csv_text", "frame", "normalise", "records", "text_table", "write_csv"]


def columns_of(rows: list[dict], columns=None) -> list:
    """The columns of ``rows``: ``columns`` if given, else every key in order of first appearance."""
    if columns is not None:
        return list(columns)
    return list(dict.fromkeys(k for r in rows for k in r))


def is_missing(v) -> bool:
    """None or a float NaN (a missing cell of a record)."""
    return v is None or (isinstance(v, float) and math.isnan(v))


_TYPE_KINDS: dict = {}
"""type -> none, bool, int, float, str or other (memoised: a table's cells have few types)."""


def _type_kind(t) -> str:
    kind = _TYPE_KINDS.get(t)
    if kind is None:
        kind = ("none" if t is type(None) else "bool" if t in (bool, np.bool_)
                else "int" if issubclass(t, numbers.Integral) else "float" if issubclass(t, numbers.Real)
                else "str" if issubclass(t, str) else "other")
        _TYPE_KINDS[t] = kind
    return kind


def _kind(values) -> str:
    kinds = {_type_kind(type(v)) for v in values}
    if not kinds or kinds == {"none"}:
        return "object"
    if kinds == {"bool"} or kinds == {"int"}:
        return kinds.pop()
    if kinds <= {"int", "float", "none"}:  # numbers with missing values (None, NaN): float64
        return "float"
    if "str" in kinds and kinds <= {"str", "float", "none"}:  # strings with missing values, unless real floats
        if "float" not in kinds or all(v != v for v in values if _type_kind(type(v)) == "float"):
            return "str"
    return "object"


def column_kinds(rows: list[dict], columns=None) -> dict:
    """{column: kind} as pandas infers it for a DataFrame of ``rows`` (see the module doc)."""
    return {c: _kind([r.get(c) for r in rows]) for c in columns_of(rows, columns)}


def normalise(rows: list[dict], columns=None) -> list[dict]:
    """``rows`` with each value as the DataFrame of ``rows`` holds it: integers in a float column become floats
    (missing values stay as they are; ``json_value`` and the printers treat None and NaN alike)."""
    kinds = column_kinds(rows, columns)
    floats = [c for c, k in kinds.items() if k == "float"]
    if not floats:
        return rows
    out = []
    for r in rows:
        r = dict(r)
        for c in floats:
            v = r.get(c)
            if v is not None and not isinstance(v, float):
                r[c] = float(v)
        out.append(r)
    return out


def _cell_text(v, kind: str, formatter) -> str:
    if is_missing(v):
        return "None" if (v is None and kind == "object") else "NaN"
    if kind == "float":
        if formatter is None:
            raise ValueError("a float column needs a formatter (pandas' default float layout is not reproduced)")
        return formatter(float(v))
    if formatter is not None and kind != "float":
        return formatter(v)
    return str(v)


def text_table(rows: list[dict], columns=None, formatters: dict | None = None, float_format=None) -> str:
    """``rows`` as ``DataFrame.to_string(index=False, formatters=...)`` prints them: every column right-justified
    to its widest cell (a numeric column's header with one space more unless it has a formatter), one space apart. ``formatters``: {column: function} (as pandas, not applied to missing
    values); ``float_format``: the function for float columns without one."""
    columns = columns_of(rows, columns)
    if not rows:
        return f"Empty DataFrame\nColumns: [{', '.join(map(str, columns))}]\nIndex: []"
    kinds = column_kinds(rows, columns)
    formatters = dict(formatters or {})
    cells = []
    for c in columns:
        fmt = formatters.get(c, float_format if kinds[c] == "float" else None)
        # pandas pads a numeric column's header by one space unless the column has a formatter
        header = (" " if fmt is None and kinds[c] in ("int", "bool", "float") else "") + str(c)
        text = [header] + [_cell_text(r.get(c), kinds[c], fmt) for r in rows]
        width = max(len(t) for t in text)
        cells.append([t.rjust(width) for t in text])
    return "\n".join(" ".join(col[i] for col in cells) for i in range(len(rows) + 1))


def _csv_cell(v, kind: str, float_format: str) -> str:
    if is_missing(v):
        return ""
    if kind == "float":
        return float_format % float(v)
    if type(v).__name__ == "bool_":
        return str(bool(v))
    return str(v)


def csv_text(rows: list[dict], columns=None, float_format: str = "%.10g") -> str:
    """``rows`` as ``DataFrame.to_csv(index=False, float_format=float_format)`` writes them."""
    import io

    columns = columns_of(rows, columns)
    kinds = column_kinds(rows, columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_csv_cell(r.get(c), kinds[c], float_format) for c in columns])
    return out.getvalue()


def write_csv(path, rows: list[dict], columns=None):
    """Write ``rows`` as CSV (``csv_text``), atomically (``costlaw.io.write_text_atomic``); returns the path."""
    from .io import write_text_atomic
    return write_text_atomic(path, csv_text(rows, columns))


def frame(rows: list[dict], columns=None):
    """``rows`` as a pandas DataFrame (columns in order; imports pandas)."""
    import pandas as pd
    return pd.DataFrame(rows, columns=columns_of(rows, columns))


def records(table) -> list[dict]:
    """The rows of a DataFrame (or a list of records, returned as is) as records."""
    if isinstance(table, list):
        return table
    return table.to_dict(orient="records")
