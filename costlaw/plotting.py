"""Figures in the spirit of the paper's: runs, fitted curves and the compute-optimal frontier per panel."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

METHOD_COLORS = {"random": "#7f7f7f", "bm25": "#1f77b4", "embed": "#2ca02c", "ppl": "#ff7f0e", "less": "#d62728"}


def color(method: str) -> str:
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return palette[hash(method) % len(palette)]


def save_figure(fig, path, dpi: int = 110):
    """Write ``fig`` to ``path`` (folders created) and close it; returns the figure."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return fig


def draw_panel(ax, runs: pd.DataFrame, curves: pd.DataFrame, frontier: pd.DataFrame | None = None,
               reference: pd.DataFrame | None = None, title: str = "", reference_label: str = "reference fit") -> None:
    """Runs as dots, ``curves`` (total_flops, metric_pred per method) as lines, ``reference`` curves dotted, the
    frontier as a grey band."""
    for method, g in runs.groupby("method", sort=False):
        ax.scatter(g.total_flops, g.metric, s=18, color=color(method), zorder=3, label=method)
    for method, g in curves.groupby("method", sort=False):
        ax.plot(g.total_flops, g.metric_pred, color=color(method), lw=1.4)
    if reference is not None:
        for i, (method, g) in enumerate(reference.groupby("method", sort=False)):
            ax.plot(g.total_flops, g.metric_pred, color=color(method), lw=0.8, ls=":", alpha=0.8,
                    label=f"{reference_label} (dotted)" if i == 0 else None)
    if frontier is not None and len(frontier):
        ax.plot(frontier.budget_flops, frontier.metric_pred, color="black", lw=3, alpha=0.25, zorder=1,
                label="frontier")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("total compute (FLOPs)")
    ax.set_ylabel("metric")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both", lw=0.4)


MAX_PANELS = 24
"""Panels drawn by ``panel_figures`` at most (the CSVs hold every panel; a figure of thousands is unreadable)."""


def panel_figures(runs, curves, frontier, out_dir: Path, form: str, reference_form: str | None = "paper",
                  max_panels: int = MAX_PANELS) -> list[Path]:
    """One PNG per (task, train_model) panel plus ``panels.png`` with all of them, for the first ``max_panels``
    panels (sorted by task and size); returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = runs[["task", "train_params", "train_model"]].drop_duplicates().sort_values(["task", "train_params"])
    keys = list(keys[["task", "train_model"]].drop_duplicates().itertuples(index=False, name=None))[:max_panels]
    ncols = min(3, len(keys))
    nrows = int(np.ceil(len(keys) / ncols))
    grid_fig, grid_axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.8 * nrows), squeeze=False)
    written = []

    def select(df, task, model, form_name):
        if df is None or not len(df):
            return None
        sel = (df.task == task) & (df.train_model == model)
        if "form" in df.columns:
            sel &= df.form == form_name
        return df[sel]

    fig, ax = plt.subplots(figsize=(6, 4.2))  # one figure for every single panel, cleared between them
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.12, top=0.92)  # fixed size: no tight_layout pass
    for i, (task, model) in enumerate(keys):
        parts = dict(runs=select(runs, task, model, None), curves=select(curves, task, model, form),
                     frontier=select(frontier, task, model, form),
                     reference=select(curves, task, model, reference_form) if reference_form != form else None,
                     reference_label=f"{reference_form} fit")
        title = f"{task} / {model}: {form} fit" + (f" ({reference_form} dotted)" if parts["reference"] is not None
                                                   and len(parts["reference"]) else "")
        ax.clear()
        draw_panel(ax, title=title, **parts)
        ax.legend(fontsize=7, loc="lower right")
        path = out_dir / f"{task}_{model}.png"
        fig.savefig(path, dpi=110)
        written.append(path)
        draw_panel(grid_axes.flat[i], title=f"{task} / {model}", **parts)
    plt.close(fig)
    for ax in list(grid_axes.flat)[len(keys):]:
        ax.set_visible(False)
    grid_axes.flat[0].legend(fontsize=7, loc="lower right")
    grid_fig.suptitle(f"runs, '{form}' fits and compute-optimal frontier (grey band)", fontsize=11)
    # fixed margins in inches (no tight_layout pass, which measures every tick label of every panel)
    width, height = grid_fig.get_size_inches()
    grid_fig.subplots_adjust(left=0.75 / width, right=1 - 0.2 / width, bottom=0.55 / height,
                             top=1 - 0.6 / height, wspace=0.25, hspace=0.4)
    path = out_dir / "panels.png"
    grid_fig.savefig(path, dpi=100)
    plt.close(grid_fig)
    return written + [path]
