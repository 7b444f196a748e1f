"""The instance settings `arena-release run` writes: a run queue sized to the machine, valid for Dagster."""

from __future__ import annotations

import dagster as dg
import yaml

from pipeline.instance import RELEASE_JOB_TAG, write_instance_settings


def test_run_queue_fits_the_cores_and_runs_one_release_at_a_time(tmp_path):
    path = write_instance_settings(tmp_path / "two_cores", cpus=2, workers_per_run=2)
    queue = yaml.safe_load(path.read_text())["run_queue"]
    assert queue["max_concurrent_runs"] == 1  # a 7-day backfill on 2 cores: one day after another
    assert queue["tag_concurrency_limits"] == [{"key": RELEASE_JOB_TAG, "value": "release", "limit": 1}]
    wide = yaml.safe_load(write_instance_settings(tmp_path / "wide", cpus=16, workers_per_run=4).read_text())
    assert wide["run_queue"]["max_concurrent_runs"] == 4
    instance = dg.DagsterInstance.from_config(str(tmp_path / "two_cores"))  # Dagster accepts the file
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_a_stewards_edits_are_kept(tmp_path):
    path = write_instance_settings(tmp_path, cpus=2, workers_per_run=2)
    path.write_text(path.read_text().replace("max_concurrent_runs: 1", "max_concurrent_runs: 3"))
    write_instance_settings(tmp_path, cpus=2, workers_per_run=2)
    assert yaml.safe_load(path.read_text())["run_queue"]["max_concurrent_runs"] == 3
