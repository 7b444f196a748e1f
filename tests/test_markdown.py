"""Metadata Markdown: long values whole, and a dataset card the Dagster UI shows as it reads."""

from __future__ import annotations

import base64

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from assets.markdown import card_preview, markdown_table  # noqa: E402


def test_long_values_are_not_cut():
    url = "https://huggingface.co/datasets/lmsys/chatbot-arena-conversations/tree/2024.06-a-long-version-name"
    reason = "dropped: every prompt is among the 10 most frequent ones seen at least 10 times | kept none"
    table = markdown_table([{"url": url, "why": reason}])
    assert url in table
    assert reason.replace("|", "\\|") in table
    assert len(table.splitlines()) == 3


def test_card_preview_shows_its_front_matter_as_yaml_and_inlines_its_plots(tmp_path):
    (tmp_path / "images").mkdir()
    fig = plt.figure(figsize=(1, 1))
    fig.savefig(tmp_path / "images" / "languages.png")
    plt.close(fig)
    card = ("---\nlicense: cc-by-4.0\npretty_name: Arena\n---\n# Arena\n\n"
            "![Languages](images/languages.png)\n\n![Gone](images/missing.png)\n\n"
            "![Remote](https://example.org/plot.png)\n")
    preview = card_preview(card, tmp_path)
    assert preview.startswith("```yaml\nlicense: cc-by-4.0\npretty_name: Arena\n```\n# Arena")
    png = base64.b64encode((tmp_path / "images" / "languages.png").read_bytes()).decode()
    assert f"![Languages](data:image/png;base64,{png})" in preview
    assert "![Gone](images/missing.png)" in preview  # no file: left as written, not dropped
    assert "![Remote](https://example.org/plot.png)" in preview
