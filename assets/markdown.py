"""Small Markdown renderers for Dagster metadata (no pandas/tabulate needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def markdown_table(rows: Sequence[Mapping], max_cell: int = 60) -> str:
    if not rows:
        return "_no rows_"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = [str(row[c]).replace("|", "\\|").replace("\n", " ")[:max_cell] for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
