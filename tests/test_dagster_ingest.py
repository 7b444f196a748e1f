"""The ingest assets in-process: partitions per day, cleaned tables, the blocking reconciliation check."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assets import ingest
from assets.definitions import defs
from assets.resources import ArenaStorage, ReleaseSettings
from pipeline import schemas
from pipeline.ingest import discover_logs

EXAMPLE = str(Path(__file__).resolve().parent.parent / "release_configs" / "example.yaml")


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)
    proc = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_ingest_assets_materialize_per_day(synth_logs, tmp_path):
    storage = ArenaStorage(logs_dir=str(synth_logs), workdir=str(tmp_path), workers=1)
    instance = dg.DagsterInstance.ephemeral()
    days = ["2024-06-01", "2024-06-02"]
    instance.add_dynamic_partitions(ingest.log_days.name, days)
    for day in days:
        result = dg.materialize([ingest.staged_day], partition_key=day, instance=instance,
                                resources={"storage": storage})
        assert result.success
    result = dg.materialize([ingest.staged_day, ingest.cleaned_tables, ingest.rows_reconcile, ingest.dedup_tags],
                            selection=[ingest.cleaned_tables, ingest.dedup_tags], instance=instance,
                            resources={"storage": storage, "release": ReleaseSettings(config_file=EXAMPLE)})
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    [cleaned] = result.asset_materializations_for_node("cleaned_tables")
    assert cleaned.metadata["battles"].value > 500
    assert "| reason | lines |" in cleaned.metadata["drop reasons"].value
    [tagged] = result.asset_materializations_for_node("dedup_tags")
    assert tagged.metadata["battles"].value == cleaned.metadata["battles"].value
    battles = pq.read_table(tmp_path / "cleaned" / "battles.parquet")
    assert battles.schema == schemas.BATTLES and battles["dedup_tag"].null_count == 0
    assert pc.sum(pc.struct_field(battles["dedup_tag"], "high_freq")).as_py() == \
        tagged.metadata["high-frequency battles"].value


def test_release_graph_runs_every_stage_as_its_own_asset():
    """The issue's order: dedup tags before the release; PII redaction before moderation (no third-party
    API sees unredacted text); anonymization and provider exports after the share; checks block publishing."""
    graph = defs.resolve_asset_graph()

    def upstream(name: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(name)).parent_keys}

    assert upstream("cleaned_tables") == {"staged_day", "release_preflight"}  # keys checked before any merge
    assert upstream("dedup_tags") == {"cleaned_tables"}
    assert upstream("release_candidates") == {"dedup_tags"}
    assert upstream("redacted") == {"language"} and upstream("moderation") == {"redacted"}
    assert upstream("public_share") == {"toxicity"}
    assert upstream("anonymized") == upstream("provider_exports") == {"public_share"}
    assert upstream("release_build") == {"anonymized", "leaderboard"}
    assert upstream("published_release") == {"release_build", "provider_exports"}
    blocking = {c.name for c in defs.asset_checks for c in c.check_specs if c.blocking}
    assert {"pii_leak_scan", "anonymization_leak_scan", "schema", "public_fraction", "row_accounting"} <= blocking


def test_new_log_days_sensor_registers_and_stages_new_or_changed_days_only(synth_logs, tmp_path):
    logs = tmp_path / "logs"
    shutil.copytree(synth_logs, logs)
    storage = ArenaStorage(logs_dir=str(logs), workdir=str(tmp_path / "work"))
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor: str | None) -> dg.SensorResult:
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"storage": storage})
        return ingest.new_log_days(context)

    first = tick(None)
    days = sorted({f.day for f in discover_logs(logs).files})
    assert [r.partition_key for r in first.run_requests] == days
    assert first.dynamic_partitions_requests[0].partition_keys == days
    assert tick(first.cursor).run_requests == []  # nothing new: nothing staged again
    changed = next(p for p in sorted(logs.rglob(f"{days[0]}-conv.json*")))
    changed.write_bytes(changed.read_bytes() + b'{"type": "chat"}\n')
    assert [r.partition_key for r in tick(first.cursor).run_requests] == [days[0]]
