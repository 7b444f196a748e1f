"""A release holds exactly the log days present now (issue 17): a day whose files were removed after it was
staged is dropped, and the accounting, the manifest and the changelog say so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from assets import ingest
from assets.resources import ArenaStorage, ReleaseSettings
from pipeline.card import _changelog
from pipeline.ingest import discover_logs

EXAMPLE = str(Path(__file__).resolve().parent.parent / "release_configs" / "example.yaml")


def test_a_day_removed_from_the_logs_is_dropped_and_said(synth_logs, tmp_path):
    logs = tmp_path / "logs"
    shutil.copytree(synth_logs, logs)
    storage = ArenaStorage(logs_dir=str(logs), workdir=str(tmp_path / "work"), workers=1)
    resources = {"storage": storage, "release": ReleaseSettings(config_file=EXAMPLE)}
    instance = dg.DagsterInstance.ephemeral()
    days = discover_logs(logs).days
    assert len(days) == 2
    instance.add_dynamic_partitions(ingest.log_days.name, days)
    for day in days:
        assert dg.materialize([ingest.staged_day], partition_key=day, instance=instance, resources=resources).success

    def cleaned() -> dict:
        result = dg.materialize([ingest.staged_day, ingest.cleaned_tables], selection=[ingest.cleaned_tables],
                                instance=instance, resources=resources)
        assert result.success
        return json.loads((tmp_path / "work" / "cleaned" / "accounting.json").read_text())

    assert cleaned()["days"] == days
    for path in logs.rglob(f"{days[1]}-conv.json*"):
        path.unlink()
    accounting = cleaned()
    assert accounting["days"] == [days[0]] and (tmp_path / "work" / "staging" / f"day={days[1]}").is_dir()
    assert [d["day"] for d in accounting["dropped_days"]] == [days[1]]
    assert all(entry["path"].split("/")[-1].startswith(days[0]) for entry in accounting["inputs"])
    battles = pq.read_table(tmp_path / "work" / "cleaned" / "untagged_battles.parquet", columns=["day"])
    assert set(battles["day"].to_pylist()) == {days[0]}


def test_the_changelog_names_the_dropped_days():
    previous = {"version": "v1", "tables": {"battles": {"rows": 10, "counts": {}}},
                "log_window": {"start": "a", "end": "b"},
                "public_fraction": 0.2, "leaderboard_models": [], "stages": {}, "config_hash": "x"}
    manifest = {**previous, "version": "v2", "tables": {"battles": {"rows": 6, "counts": {}}},
                "log_days": {"released": ["2024-06-01"], "dropped": [{"day": "2024-06-02", "why": "gone"}]}}
    assert "- log days dropped (their logs are gone): 2024-06-02" in _changelog(manifest, previous)
