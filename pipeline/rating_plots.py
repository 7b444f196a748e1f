"""PNG figures of a leaderboard: ratings with interval whiskers, win-fraction and battle-count heatmaps.

Rendered with matplotlib's Agg canvas on standalone Figures (no pyplot state), so they are safe in
worker threads and never need a display. Plot a leaderboard already restricted for publication:
the figures name every model they are given.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipeline.ratings import Leaderboard, Score

ANNOTATE_UP_TO = 25  # models; larger heatmaps get no per-cell numbers
PNG_METADATA = {"Software": None}  # no matplotlib version in the file: same input, same bytes


def ratings_png(leaderboard: Leaderboard, style_control: bool = False) -> bytes:
    """Each model's rating as a point with its interval as whiskers, best at the top."""
    scores = [_score(row.style if style_control else row.score, row.model) for row in leaderboard.rows]
    order = np.argsort([-score.rating for score in scores], kind="stable")
    models = [leaderboard.models[index] for index in order]
    scores = [scores[index] for index in order]
    rating = np.array([score.rating for score in scores])
    whiskers = np.array([rating - [score.lower for score in scores], [score.upper for score in scores] - rating])
    figure = _figure(width=8.0, height=1.5 + 0.25 * len(models))
    axes = figure.add_subplot()
    positions = np.arange(len(models))[::-1]
    axes.errorbar(rating, positions, xerr=whiskers, fmt="o", color="tab:blue", ecolor="tab:gray", capsize=3)
    axes.set_yticks(positions, models)
    axes.set_xlabel("rating")
    level = f"{leaderboard.confidence:.0%} intervals ({_interval_label(leaderboard, style_control)})"
    title = "Style-controlled ratings" if style_control else "Bradley–Terry ratings"
    axes.set_title(f"{title}, {level}")
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def win_fraction_png(leaderboard: Leaderboard) -> bytes:
    """Share of decided (non-tied) battles the row model won against the column model."""
    return _heatmap(
        leaderboard.win_fraction,
        leaderboard.models,
        title="Win fraction, row over column (ties excluded)",
        colormap="RdBu",
        value_range=(0.0, 1.0),
        cell_format="{:.2f}",
    )


def battle_count_png(leaderboard: Leaderboard) -> bytes:
    """Battles between each pair of models, ties included."""
    counts = leaderboard.battle_counts.astype(np.float64)
    return _heatmap(
        np.where(counts > 0, counts, np.nan),
        leaderboard.models,
        title="Battles per pair of models (ties included)",
        colormap="viridis",
        value_range=(0.0, float(np.nanmax(counts)) if counts.size else 1.0),
        cell_format="{:.0f}",
    )


def write_plots(leaderboard: Leaderboard, directory: Path) -> dict[str, Path]:
    """Write every figure as PNG into `directory`; returns {figure name: path}."""
    directory.mkdir(parents=True, exist_ok=True)
    figures = {
        "ratings": ratings_png(leaderboard),
        "win_fraction": win_fraction_png(leaderboard),
        "battle_counts": battle_count_png(leaderboard),
    }
    if leaderboard.style_coefficients is not None:
        figures["style_control_ratings"] = ratings_png(leaderboard, style_control=True)
    paths = {}
    for name, png in figures.items():
        paths[name] = directory / f"{name}.png"
        paths[name].write_bytes(png)
    return paths


def _score(score: Score | None, model: str) -> Score:
    if score is None:
        raise ValueError(f"leaderboard has no style-controlled rating for {model!r}")
    return score


def _interval_label(leaderboard: Leaderboard, style_control: bool) -> str:
    if style_control or leaderboard.interval_method == "sandwich":
        return "sandwich"
    return f"bootstrap, {leaderboard.bootstrap_rounds} rounds"


def _heatmap(
    matrix: np.ndarray,
    models: tuple[str, ...],
    title: str,
    colormap: str,
    value_range: tuple[float, float],
    cell_format: str,
) -> bytes:
    size = max(5.0, 2.5 + 0.35 * len(models))
    figure = _figure(width=size + 2.0, height=size)
    axes = figure.add_subplot()
    image = axes.imshow(
        np.ma.masked_invalid(matrix), cmap=colormap, vmin=value_range[0], vmax=value_range[1], aspect="equal"
    )
    ticks = np.arange(len(models))
    axes.set_xticks(ticks, models, rotation=90)
    axes.set_yticks(ticks, models)
    axes.set_xlabel("column model")
    axes.set_ylabel("row model")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, shrink=0.8)
    if len(models) <= ANNOTATE_UP_TO:
        for (row, column), value in np.ndenumerate(matrix):
            if np.isfinite(value):
                axes.text(column, row, cell_format.format(value), ha="center", va="center", fontsize=7)
    return _png(figure)


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata=PNG_METADATA)
    return buffer.getvalue()
