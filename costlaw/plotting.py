"""Figures in the spirit of the paper's: runs, fitted curves and the compute-optimal frontier per panel."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
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


def figure_panels(runs, max_panels: int = MAX_PANELS) -> list[tuple]:
    """The (task, train_model) panels ``panel_figures`` draws: the first ``max_panels`` sorted by task and size."""
    keys = runs[["task", "train_params", "train_model"]].drop_duplicates().sort_values(["task", "train_params"])
    return list(keys[["task", "train_model"]].drop_duplicates().itertuples(index=False, name=None))[:max_panels]


def panel_figures(runs, curves, frontier, out_dir: Path, form: str, reference_form: str | None = "paper",
                  max_panels: int = MAX_PANELS) -> list[Path]:
    """One PNG per (task, train_model) panel plus ``panels.png`` with all of them, for the first ``max_panels``
    panels (sorted by task and size); returns the paths written.

    Each panel is drawn once: its pixels are written as the panel's PNG and tiled (3 per row, under a title) into
    ``panels.png``, so the overview costs no second drawing."""
    from PIL import Image

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = figure_panels(runs, max_panels)
    written, tiles = [], []

    def select(df, task, model, form_name):
        if df is None or not len(df):
            return None
        sel = (df.task == task) & (df.train_model == model)
        if "form" in df.columns:
            sel &= df.form == form_name
        return df[sel]

    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=PANEL_DPI)  # one figure for every panel, cleared between them
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.12, top=0.92)  # fixed size: no tight_layout pass
    for task, model in keys:
        parts = dict(runs=select(runs, task, model, None), curves=select(curves, task, model, form),
                     frontier=select(frontier, task, model, form),
                     reference=select(curves, task, model, reference_form) if reference_form != form else None,
                     reference_label=f"{reference_form} fit")
        title = f"{task} / {model}: {form} fit" + (f" ({reference_form} dotted)" if parts["reference"] is not None
                                                   and len(parts["reference"]) else "")
        ax.clear()
        draw_panel(ax, title=title, **parts)
        ax.legend(fontsize=7, loc="lower right")
        fig.canvas.draw()
        tile = Image.frombuffer("RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba(), "raw", "RGBA", 0,
                                1).convert("RGB")
        path = out_dir / f"{task}_{model}.png"
        tile.save(path)
        written.append(path)
        tiles.append(tile)
    plt.close(fig)
    if not tiles:
        return written
    path = out_dir / "panels.png"
    tile_overview(tiles, f"runs, '{form}' fits and compute-optimal frontier (grey band)").save(path)
    return written + [path]


PANEL_DPI = 110
"""Pixels per inch of the panel PNGs (6 x 4.2 inches)."""


def tile_overview(tiles: list, title: str, ncols: int = 3):
    """The panel images (PIL, same size) tiled ``ncols`` per row under ``title``, as one PIL image."""
    from PIL import Image

    width, height = tiles[0].size
    ncols = min(ncols, len(tiles))
    nrows = -(-len(tiles) // ncols)
    head = plt.figure(figsize=(ncols * width / PANEL_DPI, 0.4), dpi=PANEL_DPI)
    head.text(0.5, 0.5, title, ha="center", va="center", fontsize=11)
    head.canvas.draw()
    banner = Image.frombuffer("RGBA", head.canvas.get_width_height(), head.canvas.buffer_rgba(), "raw", "RGBA", 0,
                              1).convert("RGB")
    plt.close(head)
    sheet = Image.new("RGB", (ncols * width, banner.size[1] + nrows * height), "white")
    sheet.paste(banner, (0, 0))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % ncols) * width, banner.size[1] + (i // ncols) * height))
    return sheet
