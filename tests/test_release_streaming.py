"""The private model stages stream their tables in bounded batches, and write exactly what the whole-table
code writes: same rows, order, schema and values, audit and failures included, for tables drawn from the
project's own generated logs. A re-run repeats no PII analysis; empty tables still get their schema.

The analyzer is made to fail on texts with an "@" (the planted e-mail addresses), so some rows fail
closed and the failures tables hold rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from classifiers.language import LanguageDetector
from classifiers.tagging import Classifiers, tag_battles, tag_conversations
from pipeline import release
from pipeline.release import TABLES, ReleaseWorkspace, classify, redact, select_candidates
from pipeline.release_config import load_release_config, resolve_salt
from pipeline.stage_settings import StageSettings
from redaction import TextAnalyzer
from redaction.table import redact_table

ROOT = Path(__file__).resolve().parent.parent
BATCH_ROWS = 25  # small, so the drawn share (~170 battles, ~400 conversations) spans many batches
WHOLE_TABLE_TAGGING = {"battles": tag_battles, "conversations": tag_conversations}
FAILING_MARKER = "@"


@pytest.fixture(scope="module", autouse=True)
def analyzer_failing_on_marker():
    real_analyze = TextAnalyzer.analyze

    def analyze(self, texts):
        if any(FAILING_MARKER in text for text in texts):
            raise RuntimeError("recognizer crashed")
        return real_analyze(self, texts)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TextAnalyzer, "analyze", analyze)
        yield


@pytest.fixture(scope="module")
def stage_settings(tmp_path_factory) -> StageSettings:
    """Pattern-only PII in this process (the analyzer patched above runs here, not in spawned workers)."""
    redaction = yaml.safe_load((ROOT / "redaction" / "default_settings.yaml").read_text())
    redaction["ner"]["enabled"] = False
    path = tmp_path_factory.mktemp("settings") / "redaction.yaml"
    path.write_text(yaml.safe_dump(redaction))
    return StageSettings(redaction_file=path, workers=1)


def _workspace(workdir: Path, cleaned: Path) -> ReleaseWorkspace:
    workdir.mkdir(parents=True)
    (workdir / "cleaned").symlink_to(cleaned)
    return ReleaseWorkspace(workdir, "streaming-test")


@pytest.fixture(scope="module")
def streamed(ingested, stage_settings, analyzer_failing_on_marker, tmp_path_factory) -> ReleaseWorkspace:
    """The share drawn from the generated logs, then language and redaction, streamed in small batches."""
    ws = _workspace(tmp_path_factory.mktemp("streamed") / "work", ingested[0])
    config = load_release_config(ROOT / "release_configs" / "example.yaml")
    select_candidates(config, resolve_salt(config, {}), ws)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(release, "STAGE_BATCH_ROWS", BATCH_ROWS)
        classify(ws, stage_settings, [], "language")
        redact(ws, stage_settings)
    return ws


def _same_file(ws: ReleaseWorkspace, stage: str, name: str, expected_stage: str) -> None:
    written, expected = ws.read(stage, name), ws.read(expected_stage, name)
    assert written.schema.equals(expected.schema, check_metadata=True), (written.schema, expected.schema)
    assert written.equals(expected), f"{stage}/{name} differs from the whole-table result"


@pytest.mark.parametrize("name", TABLES)
def test_streamed_language_stage_writes_what_whole_table_tagging_writes(streamed, stage_settings, name):
    candidates = streamed.read("candidates", name)
    assert len(candidates) > 4 * BATCH_ROWS
    classifiers = Classifiers(language=LanguageDetector(stage_settings.language))
    streamed.write("whole-language", name, WHOLE_TABLE_TAGGING[name](candidates, classifiers))
    _same_file(streamed, "language", name, "whole-language")
    row_groups = pq.ParquetFile(streamed.table("language", name)).metadata
    assert row_groups.num_row_groups > 1
    assert all(row_groups.row_group(i).num_rows <= BATCH_ROWS for i in range(row_groups.num_row_groups))


@pytest.mark.parametrize("name", TABLES)
def test_streamed_redaction_writes_what_whole_table_redaction_writes(streamed, stage_settings, name):
    columns, id_column = TABLES[name]
    output = redact_table(streamed.read("language", name), columns, id_column, stage_settings.redaction())
    for suffix, table in (("", output.table), ("_audit", output.audit), ("_failures", output.failures)):
        streamed.write("whole-redacted", f"{name}{suffix}", table)
        _same_file(streamed, "redacted", f"{name}{suffix}", "whole-redacted")
    assert len(output.audit) > 0
    counts = streamed.read_json("redacted", "counts")[name]
    assert counts == {"rows": len(output.table), "redacted": sum(output.table["redacted"].to_pylist()),
                      "failed": len(output.failures), "spans": len(output.audit)}
    assert pq.ParquetFile(streamed.table("redacted", name)).metadata.num_row_groups > 1


def test_some_rows_fail_closed_in_the_streamed_stage(streamed):
    failed = sum(streamed.read_json("redacted", "counts")[name]["failed"] for name in TABLES)
    assert failed > 0  # so the failures comparison above compares rows, not two empty tables


def test_a_streamed_rerun_repeats_no_analysis(streamed, stage_settings, monkeypatch):
    """Only the texts whose analysis failed (never cached) are analysed again."""
    tables = [name + suffix for name in TABLES for suffix in ("", "_audit", "_failures")]
    before = {name: streamed.read("redacted", name) for name in tables}
    analysed: list[str] = []
    failing_analyze = TextAnalyzer.analyze

    def recording(self, texts):
        analysed.extend(texts)
        return failing_analyze(self, texts)

    monkeypatch.setattr(TextAnalyzer, "analyze", recording)
    monkeypatch.setattr(release, "STAGE_BATCH_ROWS", BATCH_ROWS)
    redact(streamed, stage_settings)
    assert analysed and all(FAILING_MARKER in text for text in analysed)
    assert all(streamed.read("redacted", name).equals(table) for name, table in before.items())


def test_empty_tables_get_files_with_the_streamed_schema(streamed, stage_settings, tmp_path):
    ws = _workspace(tmp_path / "work", streamed.cleaned_dir.resolve())
    for name in TABLES:
        ws.write("candidates", name, streamed.read("candidates", name).slice(0, 0))
    classify(ws, stage_settings, [], "language")
    counts = redact(ws, stage_settings)
    assert counts == {name: {"rows": 0, "redacted": 0, "failed": 0, "spans": 0} for name in TABLES}
    for stage, suffixes in (("language", [""]), ("redacted", ["", "_audit", "_failures"])):
        for name in TABLES:
            for suffix in suffixes:
                empty, full = ws.read(stage, name + suffix), streamed.read(stage, name + suffix)
                assert len(empty) == 0 and empty.schema.equals(full.schema, check_metadata=True)
