"""Ingest sees every file under the logs directory or says why not (issue 17): symlinked directories and link
loops, dangling links, compressed logs (.gz, .zst, .bz2), other names; files reconcile like lines do. An
oversized line is quarantined from its length alone, never held whole."""

from __future__ import annotations

import bz2
import gzip
import os
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cleaning_config import load_cleaning_config
from pipeline.errors import IngestError
from pipeline.ingest import discover_logs, ingest_logs
from tests.logbuilder import battle, write_log


def ingest(logs, out, **overrides):
    config = load_cleaning_config().model_copy(update=overrides)
    return ingest_logs(logs, out, config, workers=1)


def test_symlinked_directories_are_followed_and_loops_walked_once(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write_log(elsewhere, [battle(), battle()], server=7)
    logs = tmp_path / "logs"
    write_log(logs, [battle()])
    (logs / "archive").symlink_to(elsewhere)
    (elsewhere / "server7" / "loop").symlink_to(elsewhere)  # a link back up: walked once
    (logs / "mirror").symlink_to(elsewhere / "server7")  # the same directory through a second link
    (logs / "server1").mkdir()
    (logs / "server1" / "2024-06-01-conv.json").symlink_to(elsewhere / "server7" / "2024-06-01-conv.json")
    discovery = discover_logs(logs)
    assert [f.source for f in discovery.files] == ["archive/server7/2024-06-01-conv.json",
                                                   "server0/2024-06-01-conv.json"]
    assert dict(discovery.skipped) == {
        "archive/server7/loop": "link to a directory already walked",
        "mirror": "link to a directory already walked",
        "server1/2024-06-01-conv.json":
            "same file as archive/server7/2024-06-01-conv.json (reached twice through a link): read once",
    }
    accounting = ingest(logs, tmp_path / "out")
    assert accounting["lines_read"] == 3 and accounting["kept"]["battles"] == 3
    assert accounting["log_files"] == {"seen": 5, "read": 2, "skipped": 3, "reconciled": True}


def test_dangling_links_and_other_names_are_listed_with_why(tmp_path):
    logs = tmp_path / "logs"
    write_log(logs, [battle()])
    server = logs / "server0"
    (server / "2024-06-02-conv.json").symlink_to(tmp_path / "gone.json")
    for name in ("2024-06-03-conv.jsonl", "2024-06-01-conv.json.1", "notes.txt", "vision-tmp-2024-06-01-conv.json"):
        (server / name).write_text("{}\n")
    accounting = ingest(logs, tmp_path / "out")
    why = {entry["file"]: entry["why"] for entry in accounting["skipped_files"]}
    assert why["server0/2024-06-02-conv.json"].startswith("dangling symlink (to ")
    for name in ("2024-06-03-conv.jsonl", "2024-06-01-conv.json.1", "notes.txt"):
        assert why[f"server0/{name}"] == "file name is not YYYY-MM-DD-conv.json[.gz|.zst|.bz2]"
    assert why["server0/vision-tmp-2024-06-01-conv.json"].startswith("vision-arena log")
    assert accounting["log_files"] == {"seen": 6, "read": 1, "skipped": 5, "reconciled": True}


def test_gzip_zstd_and_bzip2_logs_are_read_like_plain_ones(tmp_path):
    plain = write_log(tmp_path / "plain", [battle(), battle(kind="tievote"), battle()])
    data = plain.read_bytes()
    logs = tmp_path / "logs"
    (logs / "server1").mkdir(parents=True)
    (logs / "server1" / "2024-06-01-conv.json.gz").write_bytes(gzip.compress(data))
    half = len(data) // 2  # two zstd frames, as an appending writer leaves them
    (logs / "server1" / "2024-06-02-conv.json.zst").write_bytes(
        pa.compress(data[:half], "zstd", asbytes=True) + pa.compress(data[half:], "zstd", asbytes=True))
    (logs / "server1" / "2024-06-03-conv.json.bz2").write_bytes(bz2.compress(data))
    accounting = ingest(logs, tmp_path / "out")
    assert accounting["files"] == 3 and accounting["lines_read"] == 9
    # The same three votes in each file: the first of each is kept, the copies are duplicate votes.
    assert accounting["kept"]["battles"] == 3 and accounting["quarantined"] == {"duplicate_vote": 6}
    assert accounting["skipped_files"] == [] and accounting["log_files"]["reconciled"]


def test_a_truncated_zstd_log_keeps_its_lines_and_counts_the_tail(tmp_path):
    data = write_log(tmp_path / "plain", [battle() for _ in range(200)]).read_bytes()
    logs = tmp_path / "logs"
    (logs / "server0").mkdir(parents=True)
    packed = pa.compress(data, "zstd", asbytes=True)
    (logs / "server0" / "2024-06-01-conv.json.zst").write_bytes(packed[: len(packed) // 2])
    accounting = ingest(logs, tmp_path / "out")
    assert accounting["quarantined"]["unreadable_file"] == 1 and accounting["reconciled"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_log_is_an_ingest_error(tmp_path):
    path = write_log(tmp_path / "logs", [battle()])
    path.chmod(0)
    with pytest.raises(IngestError, match="cannot read log server0/2024-06-01-conv.json"):
        ingest(tmp_path / "logs", tmp_path / "out")


def test_an_oversized_line_is_quarantined_without_being_read_whole(tmp_path):
    limit = 64 << 10
    huge = b'{"type": "chat", "text": "' + b"y" * (32 << 20) + b'"}\n'
    path = write_log(tmp_path / "logs", [battle()], raw_lines=[huge])
    write_log(tmp_path / "logs", [battle()])  # a line after it is read as usual
    tracemalloc.start()
    try:
        accounting = ingest(tmp_path / "logs", tmp_path / "out", max_line_bytes=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak:,} bytes for a {len(huge):,}-byte line"
    assert accounting["quarantined"] == {"oversized_line": 1} and accounting["kept"]["battles"] == 2
    [row] = pq.read_table(tmp_path / "out" / "quarantine.parquet").to_pylist()
    assert row["detail"] == f"{len(huge)} bytes > {limit}" and row["source_line"] == 2
    assert path.stat().st_size > len(huge)
