"""The release's last private stages (share, anonymized, provider exports, public release) stream their
tables in small batches and write exactly what the whole-table code (`build_release`) writes: the same
share and public tables (rows, order, schema, values) and byte-identical release directories, for a
share drawn from the project's own generated logs with classifier columns added, so that every release
filter drops rows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from classifiers.status import StageStatus
from pipeline import release, release_build
from pipeline.release import (
    TABLES,
    ReleaseWorkspace,
    anonymize,
    build,
    export_providers,
    rate,
    rows_in_order,
    select_candidates,
    share,
    stage_reports,
)
from pipeline.release_build import (
    ReleaseShare,
    anonymize_share,
    select_share,
    write_provider_exports,
    write_public_release,
    write_table,
)
from pipeline.release_config import FrequentPrompts, load_release_config, resolve_salt

ROOT = Path(__file__).resolve().parent.parent
BATCH_ROWS = 25  # the drawn share (~170 battles, ~400 conversations) spans many batches
JUDGE_KEY = b"share-streaming-test-judge-key"
FLAG_EVERY = 7  # every 7th row is flagged by "moderation", every 11th was not reached by "toxicity"
UNREACHED_EVERY = 11


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """The example config with all three stages required, a frequent-prompt rule a small share trips,
    and a blocked word, so that every kind of drop happens; its target an empty directory (no previous release)."""
    example = load_release_config(ROOT / "release_configs" / "example.yaml")
    filters = example.filters.model_copy(update={"too_frequent": FrequentPrompts(top=10, min_count=2),
                                                 "blocked_words": ["blockchain"]})
    target = example.targets[0].model_copy(update={"path": tmp_path_factory.mktemp("hub")})
    return example.model_copy(update={"required_stages": ["pii", "moderation", "toxicity"], "filters": filters,
                                      "targets": [target]})


def _classified(table: pa.Table) -> pa.Table:
    """The candidates as the toxicity stage leaves them: redacted, one moderation result, a score."""
    row = np.arange(len(table))
    flagged = pa.array(row % FLAG_EVERY == 0)
    categories = pa.StructArray.from_arrays([flagged], names=["harassment"])
    scores = pa.StructArray.from_arrays([pa.array(row / 1000.0)], names=["harassment"])
    moderation = pa.StructArray.from_arrays([categories, scores, flagged],
                                            names=["categories", "category_scores", "flagged"])
    toxicity = pa.array(row / len(table), mask=row % UNREACHED_EVERY == 3)
    return (table.append_column("redacted", pa.array(row % 2 == 0))
            .append_column("openai_moderation", moderation).append_column("toxicity", toxicity))


@pytest.fixture(scope="module")
def streamed(ingested, config, tmp_path_factory) -> ReleaseWorkspace:
    """Candidates drawn from the generated logs, classified, then the last stages streamed in small batches."""
    workdir = tmp_path_factory.mktemp("share") / "work"
    workdir.mkdir()
    (workdir / "cleaned").symlink_to(ingested[0])
    ws = ReleaseWorkspace(workdir, "share-streaming-test")
    salt = resolve_salt(config, {})
    select_candidates(config, salt, ws)
    for name in TABLES:
        ws.write("toxicity", name, _classified(ws.read("candidates", name)))
    for stage, name in (("language", "language"), ("redacted", "pii"), ("moderation", "moderation"),
                        ("toxicity", "toxicity")):
        ws.write_json(stage, "status", StageStatus(name, "ok", model=f"{name}-test").to_dict())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(release, "SHARE_BATCH_ROWS", BATCH_ROWS)
        share(config, salt, ws, JUDGE_KEY)
        anonymize(config, ws)
        export_providers(config, ws)
        rate(config, ws, bootstrap_rounds=5)
        build(config, ws)
    return ws


@pytest.fixture(scope="module")
def whole(streamed, config) -> ReleaseWorkspace:
    """The same release by the whole-table code, as the stages ran it before they streamed: each
    stage's whole table through Parquet (its file), then the public release and the provider exports."""
    ws = ReleaseWorkspace(streamed.workdir, "whole-table")
    shown = set(config.leaderboard_models)
    for name, table in _whole_share(streamed, config).tables.items():
        ws.write("share", name, table)
    share_read = ReleaseShare(streamed.read_json("share", "counts"), {},
                              tables={name: ws.read("share", name) for name in TABLES})
    for name, table in anonymize_share(share_read, shown, config.anonymous_label).items():
        ws.write("anonymized", name, table)
    parts = streamed.read_json("share", "manifest_parts")
    write_public_release(ws.public_dir, {name: ws.read("anonymized", name) for name in TABLES}, share_read.counts,
                         parts, None, shown, streamed.leaderboard_dir)
    write_provider_exports(ws.provider_dir, share_read, config, shown, parts)
    return ws


def _whole_share(ws: ReleaseWorkspace, config):
    return select_share(config, resolve_salt(config, {}), {n: ws.read("toxicity", n) for n in TABLES},
                        drawn_counts=ws.read_json("candidates", "counts"), stage_reports=stage_reports(ws))


def _files(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_every_filter_drops_rows_in_the_streamed_share(streamed):
    counts = streamed.read_json("share", "counts")
    dropped = {reason for per in counts.values() for reason, n in per["dropped"].items() if n}
    assert {"toxicity_not_checked", "too_short", "too_frequent", "blocked_word", "moderation_flagged"} <= dropped
    for name in TABLES:
        assert counts[name]["drawn"] > 4 * BATCH_ROWS
        assert pq.ParquetFile(streamed.table("share", name)).num_row_groups > 1


@pytest.mark.parametrize("name", TABLES)
def test_streamed_share_and_public_tables_equal_the_whole_table_ones(streamed, config, name):
    whole_share = _whole_share(streamed, config)
    written = streamed.read("share", name)
    assert written.schema.equals(whole_share.tables[name].schema, check_metadata=True)
    assert written.equals(whole_share.tables[name])
    assert streamed.read_json("share", "counts") == whole_share.counts
    assert streamed.read_json("share", "stages") == {
        table: {stage: s.to_dict() for stage, s in per.items()} for table, per in whole_share.stages.items()}

    public = anonymize_share(whole_share, set(config.leaderboard_models), config.anonymous_label)[name]
    streamed.write("whole-anonymized", name, public)  # through Parquet, as the whole-table stage wrote it
    public, anonymized = streamed.read("whole-anonymized", name), streamed.read("anonymized", name)
    assert anonymized.schema.equals(public.schema, check_metadata=True)
    assert anonymized.equals(public)
    groups = pq.ParquetFile(streamed.table("anonymized", name)).metadata
    assert groups.num_row_groups > 1 and all(groups.row_group(i).num_rows <= BATCH_ROWS
                                             for i in range(groups.num_row_groups))


def test_streamed_release_directories_are_byte_identical_to_the_whole_table_ones(streamed, whole):
    public = _files(streamed.public_dir)
    assert any(path.startswith("data/conversations/") for path in public)
    assert public == _files(whole.public_dir)
    providers = _files(streamed.provider_dir)
    assert len({path.split("/")[0] for path in providers}) > 1
    assert providers == _files(whole.provider_dir)


def test_shards_do_not_depend_on_how_the_table_is_chunked(tmp_path, monkeypatch):
    """A table read from many small row groups writes the bytes `pq.write_table` writes from one chunk."""
    monkeypatch.setattr(release_build, "ROWS_PER_GROUP", 40)
    rows = [{"id": f"r{i:03d}", "conversation": [{"role": "user", "content": "x" * (i % 37)}] * (1 + i % 3)}
            for i in range(230)]
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, tmp_path / "chunked.parquet", row_group_size=17)
    chunked = pq.read_table(tmp_path / "chunked.parquet")
    assert chunked["conversation"].num_chunks > 1
    [entry] = write_table(chunked, tmp_path / "streamed", "t", "v1", rows_per_file=1000)
    pq.write_table(chunked.combine_chunks(), tmp_path / "whole.parquet", compression="zstd", row_group_size=40)
    written = (tmp_path / "streamed" / entry["path"]).read_bytes()
    assert written == (tmp_path / "whole.parquet").read_bytes()


def test_rows_in_order_takes_any_order_from_small_row_groups(tmp_path):
    table = pa.table({"id": [f"r{i:03d}" for i in range(230)], "value": list(range(230))})
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path, row_group_size=17)
    for order in (np.random.default_rng(1).permutation(230), np.arange(230)[::-1], np.arange(230)):
        batches = list(rows_in_order(path, pa.array(order), 40))
        assert [len(b) for b in batches] == [40] * 5 + [30]
        assert pa.concat_tables(batches).equals(table.take(pa.array(order)))
    assert list(rows_in_order(path, pa.array([], pa.int64()), 40)) == []


def test_empty_share_streams_to_empty_public_tables(streamed, config, tmp_path):
    ws = ReleaseWorkspace(tmp_path / "work", "empty")
    ws.workdir.mkdir()
    (ws.workdir / "cleaned").symlink_to(streamed.cleaned_dir.resolve())
    for name in TABLES:
        ws.write("toxicity", name, streamed.read("toxicity", name).slice(0, 0))
    for stage in ("candidates", "language", "redacted", "moderation", "toxicity"):
        for suffix in ("counts", "status"):
            source = streamed.root / stage / f"{suffix}.json"
            if source.exists():
                ws.write_json(stage, suffix, json.loads(source.read_text()))
    ws.write_json("candidates", "counts", {n: {"input": 0, "in_window": 0, "drawn": 0} for n in TABLES})
    summary = share(config, resolve_salt(config, {}), ws, JUDGE_KEY)
    assert all(counts["public"] == 0 for counts in summary.counts.values())
    public = anonymize(config, ws)
    for name in TABLES:
        assert len(ws.read("anonymized", name)) == 0
        assert ws.read("anonymized", name).schema.equals(streamed.read("anonymized", name).schema)
        assert len(public[name]) == 0
