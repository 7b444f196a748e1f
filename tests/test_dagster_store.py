"""The Dagster assets on a cluster-like deployment: each step in its own scratch directory (as one pod per
step would be), sharing nothing but an S3 store (a local S3 endpoint) for logs and tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from assets import ingest, release
from assets.resources import ArenaStorage, ReleaseSettings, release_executor
from pipeline.storage import StorageError, Store
from tests.s3server import s3_endpoint

EXAMPLE = str(Path(__file__).resolve().parent.parent / "release_configs" / "example.yaml")
DAYS = ["2024-06-01", "2024-06-02"]


@pytest.fixture()
def s3(monkeypatch):
    with s3_endpoint(monkeypatch) as endpoint:
        yield lambda prefix: f"s3://arena/{prefix}?endpoint_override={endpoint}&region=us-east-1"


def _materialize(assets, storage, instance, **kwargs):
    result = dg.materialize(assets, instance=instance, raise_on_error=True,
                            resources={"storage": storage, "release": ReleaseSettings(config_file=EXAMPLE)}, **kwargs)
    assert result.success
    return result


def _run(storage_for, instance) -> None:
    """Stage each day, then merge, tag and draw the candidates, every step in a fresh scratch."""
    for day in DAYS:
        _materialize([ingest.staged_day], storage_for(f"stage-{day}"), instance, partition_key=day)
    graph = [ingest.staged_day, ingest.cleaned_tables, ingest.rows_reconcile, ingest.dedup_tags,
             release.release_candidates]
    for step in (ingest.cleaned_tables, ingest.dedup_tags, release.release_candidates):
        _materialize(graph, storage_for(f"step-{step.key.path[-1]}"), instance, selection=[step])


def test_steps_in_separate_scratches_share_only_the_store(synth_logs, tmp_path, s3, monkeypatch):
    monkeypatch.setenv("ARENA_JUDGE_KEY", "a-key-from-a-kubernetes-secret")
    Store(s3("logs")).push(synth_logs, "")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(ingest.log_days.name, DAYS)
    _run(lambda name: ArenaStorage(logs_dir=s3("logs"), workdir=str(tmp_path / name), store=s3("tables"),
                                   workers=1), instance)
    local = tmp_path / "one-machine"
    _run(lambda _: ArenaStorage(logs_dir=str(synth_logs), workdir=str(local), workers=1), instance)

    pulled = tmp_path / "reader"
    store = Store(s3("tables"))
    for prefix in ("cleaned", "releases/2024.06-example/candidates"):
        assert store.pull(prefix, pulled) > 0
    for table in ("cleaned/battles.parquet", "cleaned/conversations.parquet", "cleaned/quarantine.parquet",
                  "releases/2024.06-example/candidates/battles.parquet"):
        assert pq.read_table(pulled / table).equals(pq.read_table(local / table)), table
    assert not (tmp_path / "step-cleaned_tables" / "logs").exists()  # only staging pods fetch logs
    assert sorted(p.name for p in (tmp_path / "stage-2024-06-02" / "staging").iterdir()) == ["day=2024-06-02"]


def test_a_remote_store_needs_the_judge_key_from_the_environment(tmp_path, s3, monkeypatch):
    monkeypatch.delenv("ARENA_JUDGE_KEY", raising=False)
    storage = ArenaStorage(logs_dir=str(tmp_path), workdir=str(tmp_path), store=s3("tables"))
    with pytest.raises(StorageError, match="ARENA_JUDGE_KEY is not set"):
        storage.judge_key(storage.cleaning())


def test_a_local_path_is_not_a_store(tmp_path):
    with pytest.raises(StorageError, match="leave the store unset"):
        ArenaStorage(workdir=str(tmp_path), store=str(tmp_path / "elsewhere")).durable()


def test_the_release_job_runs_one_pod_per_step_on_kubernetes(monkeypatch):
    code = "from assets.definitions import defs; print(defs.resolve_job_def('arena_release').executor_def.name)"
    env = {**os.environ, "ARENA_EXECUTOR": "k8s"}
    loaded = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert loaded.stdout.strip() == "k8s", loaded.stderr[-2000:]
    validated = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                               env=env, capture_output=True, text=True, timeout=300)
    assert validated.returncode == 0, validated.stderr[-2000:]
    monkeypatch.setenv("ARENA_EXECUTOR", "threads")
    with pytest.raises(ValueError, match="expected in_process, multiprocess or k8s"):
        release_executor()
