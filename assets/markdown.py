"""Small Markdown renderers for Dagster metadata (no pandas/tabulate needed)."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

# ![caption](relative/path.png): an image a card links next to itself
_LOCAL_IMAGE = re.compile(r"!\[(?P<caption>[^\]]*)\]\((?P<path>(?!\w+:)[^)\s]+\.png)\)")


def markdown_table(rows: Sequence[Mapping]) -> str:
    """Every value whole (the UI wraps long cells); pipes escaped and newlines flattened to keep the rows."""
    if not rows:
        return "_no rows_"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = [str(row[c]).replace("|", "\\|").replace("\n", " ") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_image(png: Path, caption: str) -> str:
    """The PNG inlined as a data URI, so the Dagster UI shows the plot itself."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return f"![{caption}](data:image/png;base64,{data})"


def card_preview(card: str, card_dir: Path) -> str:
    """A dataset card as the UI can show it: the YAML front matter in a code block (Markdown would
    run it together as one paragraph) and each plot the card links inlined, since the UI cannot
    follow a link relative to the card."""
    if card.startswith("---\n"):
        end = card.find("\n---", 4)
        if end > 0:
            card = f"```yaml\n{card[4:end + 1]}```{card[end + 4:]}"

    def inline(match: re.Match[str]) -> str:
        png = card_dir / match["path"]
        return markdown_image(png, match["caption"]) if png.is_file() else match[0]

    return _LOCAL_IMAGE.sub(inline, card)
