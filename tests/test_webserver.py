"""The real Dagster webserver and daemon (`dagster dev -w workspace.yaml`) on localhost: a day is
staged and the release job runs, both launched through GraphQL; the test stops what it started."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dagster_graphql import DagsterGraphQLClient

from pipeline.synth import SynthSettings, generate

ROOT = Path(__file__).resolve().parent.parent
DAY = "2024-06-01"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dagster_dev(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "ARENA_WORKDIR": str(tmp_path / "work"),
           "ARENA_LOGS_DIR": str(tmp_path / "logs"), "ARENA_WORKERS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "dagster.log").open("w"),
        start_new_session=True,
    )
    client = None
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=30)
            client._execute("{ version }")
            break
        except Exception:
            client = None
            time.sleep(1)
    try:
        assert client is not None, (tmp_path / "dagster.log").read_text()[-3000:]
        yield client, home, tmp_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait(client: DagsterGraphQLClient, run_id: str, limit_s: float = 300) -> str:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(1)
    return "TIMEOUT"


def test_release_job_launched_through_graphql(dagster_dev):
    client, home, tmp_path = dagster_dev
    generate(tmp_path / "logs", SynthSettings(days=1, battles_per_day=120, seed=5,
                                              start_date=dt.date.fromisoformat(DAY)))
    os.environ["DAGSTER_HOME"] = str(home)
    import dagster as dg

    dg.DagsterInstance.get().add_dynamic_partitions("log_days", [DAY])
    config = yaml.safe_load((ROOT / "release_configs" / "example.yaml").read_text())
    config["targets"] = [{**config["targets"][0], "path": str(tmp_path / "hub")}]
    release_config = tmp_path / "release.yaml"
    release_config.write_text(yaml.safe_dump(config))
    resources = {"release": {"config": {"config_file": str(release_config), "bootstrap_rounds": 50}}}

    staged = client.submit_job_execution("stage_log_day", run_config={"resources": resources},
                                         tags={"dagster/partition": DAY})
    assert _wait(client, staged) == "SUCCESS"
    released = client.submit_job_execution("arena_release", run_config={"resources": resources})
    assert _wait(client, released) == "SUCCESS", (tmp_path / "dagster.log").read_text()[-3000:]
    manifest = tmp_path / "work" / "releases" / "2024.06-example" / "public" / "manifest.json"
    assert manifest.exists()
    assert list((tmp_path / "hub").rglob("manifest.json"))
