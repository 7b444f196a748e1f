"""Object-store mirroring through pyarrow.fs against a local S3 endpoint."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.storage import StorageError, Store
from tests.s3server import s3_endpoint


@pytest.fixture()
def s3_uri(monkeypatch):
    with s3_endpoint(monkeypatch) as endpoint:
        yield f"s3://arena/prod?endpoint_override={endpoint}&region=us-east-1"


def _write_tables(root: Path) -> None:
    (root / "cleaned").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a", "b"]}), root / "cleaned" / "battles.parquet")
    (root / "cleaned" / "accounting.json").write_text('{"lines_read": 2}')


def test_push_then_pull_on_another_machine_gives_the_same_files(tmp_path, s3_uri):
    store = Store(s3_uri)
    assert not store.is_local
    writer, reader = tmp_path / "pod-a", tmp_path / "pod-b"
    _write_tables(writer)
    assert store.push(writer, "cleaned") == 2
    assert [f.path for f in store.list_files("cleaned")] == ["cleaned/accounting.json", "cleaned/battles.parquet"]
    assert store.pull("cleaned", reader) == 2
    assert pq.read_table(reader / "cleaned" / "battles.parquet").column("id").to_pylist() == ["a", "b"]
    accounting = "cleaned/accounting.json"
    assert (reader / accounting).read_bytes() == (writer / accounting).read_bytes()


def test_push_and_pull_mirror_removals(tmp_path, s3_uri):
    store = Store(s3_uri)
    writer, reader = tmp_path / "a", tmp_path / "b"
    _write_tables(writer)
    store.push(writer, "cleaned")
    store.pull("cleaned", reader)
    (writer / "cleaned" / "accounting.json").unlink()
    store.push(writer, "cleaned")
    assert [f.path for f in store.list_files("cleaned")] == ["cleaned/battles.parquet"]
    store.pull("cleaned", reader)
    assert sorted(p.name for p in (reader / "cleaned").iterdir()) == ["battles.parquet"]


def test_absent_prefix_lists_and_pulls_nothing(tmp_path, s3_uri):
    store = Store(s3_uri)
    assert store.list_files("releases/v9") == []
    assert store.pull("releases/v9", tmp_path) == 0
    assert not store.exists("releases/v9/manifest.json")


def test_local_store_copies_nothing(tmp_path):
    _write_tables(tmp_path)
    store = Store(tmp_path)
    assert store.is_local and store.local_path() == tmp_path.resolve()
    assert store.push(tmp_path, "cleaned") == 0 and store.pull("cleaned", tmp_path) == 0
    assert [f.path for f in store.list_files()] == ["cleaned/accounting.json", "cleaned/battles.parquet"]


def test_bad_uri_is_a_clear_error_without_the_query_string():
    with pytest.raises(StorageError, match="cannot open storage nosuch://bucket") as error:
        Store("nosuch://bucket/x?secret_key=hunter2")
    assert "hunter2" not in str(error.value)
