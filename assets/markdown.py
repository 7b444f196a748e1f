"""Small Markdown renderers for Dagster metadata (no pandas/tabulate needed)."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path


def markdown_table(rows: Sequence[Mapping], max_cell: int = 60) -> str:
    if not rows:
        return "_no rows_"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = [str(row[c]).replace("|", "\\|").replace("\n", " ")[:max_cell] for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_image(png: Path, caption: str) -> str:
    """The PNG inlined as a data URI, so the Dagster UI shows the plot itself."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return f"![{caption}](data:image/png;base64,{data})"
