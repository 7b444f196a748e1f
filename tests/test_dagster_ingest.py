"""The ingest assets in-process: partitions per day, cleaned tables, the blocking reconciliation check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

from assets import ingest
from assets.definitions import defs
from assets.resources import ArenaStorage, ReleaseSettings

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
    result = dg.materialize([ingest.staged_day, ingest.cleaned_tables, ingest.rows_reconcile],
                            selection=[ingest.cleaned_tables], instance=instance,
                            resources={"storage": storage, "release": ReleaseSettings(config_file=EXAMPLE)})
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    [materialization] = result.asset_materializations_for_node("cleaned_tables")
    assert materialization.metadata["battles"].value > 500
    assert (tmp_path / "cleaned" / "battles.parquet").exists()
