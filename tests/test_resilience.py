"""Whole releases under failure and growth, through `arena-release run` and the real moderation client.

- A run killed (SIGKILL) while moderation requests are in flight, then re-run: the published release is
  byte-identical to an uninterrupted run's, nothing was published by the killed run, and the re-run sends
  no text the killed run already had answered (the moderation cache kept it).
- Two releases in a row, the second with a new log day: only the new day is staged, and every public row
  of the first release is in the second unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from battle_fixtures import example_config_data

from pipeline.cli import main
from pipeline.synth import SynthSettings, generate
from tests.moderation_server import ModerationServer

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "test-key"
JUDGE_KEY = os.environ["ARENA_JUDGE_KEY"]  # set by conftest; the killed subprocess gets the same
SYNTH = SynthSettings(days=2, battles_per_day=120, seed=23, start_date=dt.date(2024, 6, 1))
REPO = "example/chatbot-arena-conversations"


@pytest.fixture(scope="module")
def moderation_server():
    with ModerationServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def stages_file(tmp_path_factory, moderation_server) -> Path:
    """Moderation against the local server; pattern-only PII redaction and one worker, to stay fast."""
    tmp = tmp_path_factory.mktemp("stages")
    redaction = yaml.safe_load((ROOT / "redaction" / "default_settings.yaml").read_text())
    redaction["ner"]["enabled"] = False
    (tmp / "redaction.yaml").write_text(yaml.safe_dump(redaction))
    stages = yaml.safe_load((ROOT / "pipeline" / "data" / "stages.yaml").read_text())
    stages["moderation"] |= {"base_url": moderation_server.base_url, "batch_size": 8, "max_concurrency": 2}
    stages["redaction_file"] = str(tmp / "redaction.yaml")
    stages["workers"] = 1
    (tmp / "stages.yaml").write_text(yaml.safe_dump(stages))
    return tmp / "stages.yaml"


@pytest.fixture(autouse=True)
def moderation_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)


def write_config(directory: Path, version: str, end: str, logs: Path, previous_manifest: Path | None = None) -> Path:
    """The example config for the window 2024-06-01..`end`, publishing to `hub` under the work directory
    (a relative path, so configs in different directories are identical and so are their manifests), its
    verify files the sample logs' own."""
    config = example_config_data()
    config["verify"] |= {"canary_file": str(logs / "canaries.txt"),
                         "pii_ground_truth": str(logs / "pii_ground_truth.jsonl")}
    config["version"] = version
    config["log_window"] = {"start": "2024-06-01", "end": end}
    config["required_stages"] = ["pii", "moderation"]
    config["targets"] = [{**config["targets"][0], "path": "hub"}]
    config["previous_manifest"] = str(previous_manifest) if previous_manifest else None
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "release.yaml").write_text(yaml.safe_dump(config))
    return directory / "release.yaml"


def run_args(config: Path, logs: Path, stages: Path) -> list[str]:
    return ["run", "--config", str(config), "--logs", str(logs), "--workdir", str(config.parent / "work"),
            "--stages", str(stages), "--workers", "1"]


def release(args: list[str], capsys) -> str:
    """Run `arena-release run` in-process; its console output."""
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    return captured.out


def published(hub: Path) -> dict[str, str]:
    """Every published file of every repo's main revision: relative path -> sha256."""
    files = {}
    for repo_main in sorted(p for p in hub.glob("*/*") if p.is_symlink()):
        for directory, _, names in os.walk(repo_main, followlinks=True):
            for name in names:
                path = Path(directory) / name
                files[path.relative_to(hub).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def answered_inputs(server: ModerationServer, first: int, last: int) -> set[str]:
    return {text for request in server.requests[first:last] for text in request}


def test_killed_run_resumes_to_the_same_release_without_repeating_work(
        tmp_path, synth_release_logs, stages_file, moderation_server, capsys):
    logs = synth_release_logs
    baseline = write_config(tmp_path / "baseline", "resume-test", "2024-06-02", logs)
    release(run_args(baseline, logs, stages_file), capsys)
    expected = published(baseline.parent / "work" / "hub")
    assert any(path.endswith("manifest.json") for path in expected)
    baseline_requests = len(moderation_server.requests)
    texts = answered_inputs(moderation_server, 0, baseline_requests)
    assert len(texts) > 20

    # The same release in another directory, killed while moderation requests hang.
    resumed = write_config(tmp_path / "resumed", "resume-test", "2024-06-02", logs)
    assert resumed.read_bytes() == baseline.read_bytes()
    answered_before_kill = 3
    moderation_server.hold_after(baseline_requests + answered_before_kill)
    console = tmp_path / "killed-run.log"
    with open(console, "wb") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", *run_args(resumed, logs, stages_file)], cwd=ROOT,
            env={**os.environ, "OPENAI_API_KEY": API_KEY, "ARENA_JUDGE_KEY": JUDGE_KEY},
            stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        # Every client thread waits on a held request: all answers before them have arrived.
        while len(moderation_server.requests) < baseline_requests + answered_before_kill + 2:
            assert child.poll() is None, console.read_text()
            assert time.monotonic() < deadline, "the run never reached moderation"
            time.sleep(0.05)
        time.sleep(1.0)  # let the client commit the answered batches to its cache
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        moderation_server.release()
    progress = console.read_text()
    assert child.returncode == -signal.SIGKILL
    assert "moderation ..." in progress and "published_release" not in progress, progress
    assert not (resumed.parent / "work" / "hub").exists()  # nothing published by the killed run
    killed_requests = len(moderation_server.requests)
    answered = answered_inputs(moderation_server, baseline_requests,
                               baseline_requests + answered_before_kill)

    out = release(run_args(resumed, logs, stages_file), capsys)
    assert "already staged from unchanged logs, not staged again: 2024-06-01, 2024-06-02" in out
    assert "staged_day" not in out
    assert published(resumed.parent / "work" / "hub") == expected

    rerun = answered_inputs(moderation_server, killed_requests, len(moderation_server.requests))
    assert answered and not answered & rerun  # no text answered before the kill was sent again
    assert answered | rerun == texts  # and between them the two runs asked for every text once


@pytest.fixture(scope="module")
def synth_release_logs(tmp_path_factory) -> Path:
    logs = tmp_path_factory.mktemp("logs")
    generate(logs, SYNTH)
    return logs


def public_rows(repo: Path, table: str, id_column: str) -> dict[str, dict]:
    return {row[id_column]: row for row in pq.read_table(repo / "data" / table).to_pylist()}


def test_next_release_stages_only_new_days_and_keeps_public_rows(
        tmp_path, synth_release_logs, stages_file, capsys):
    logs = tmp_path / "logs"
    shutil.copytree(synth_release_logs, logs)
    first = write_config(tmp_path / "release", "v1", "2024-06-02", logs)
    out = release(run_args(first, logs, stages_file), capsys)
    assert "staged_day 2024-06-01 ... ok" in out and "staged_day 2024-06-02 ... ok" in out
    staging = tmp_path / "release" / "work" / "staging"
    before = {p.relative_to(staging): p.stat().st_mtime_ns for p in staging.glob("day=*/*")}
    v1_repo = tmp_path / "release" / "work" / "hub" / REPO
    v1 = {table: public_rows(v1_repo, table, key)
          for table, key in (("battles", "question_id"), ("conversations", "conversation_id"))}

    # A new day of logs arrives (the generator makes each day from (seed, day) alone).
    new_day = tmp_path / "new_day"
    generate(new_day, dataclasses.replace(SYNTH, days=1, start_date=dt.date(2024, 6, 3)))
    for path in new_day.glob("server*/2024-06-03-conv.json"):
        (logs / path.parent.name).mkdir(exist_ok=True)
        shutil.copy2(path, logs / path.parent.name / path.name)

    second = write_config(tmp_path / "release", "v2", "2024-06-03", logs,
                          previous_manifest=tmp_path / "release" / "work" / "releases" / "v1" / "public" /
                          "manifest.json")
    out = release(run_args(second, logs, stages_file), capsys)
    assert "already staged from unchanged logs, not staged again: 2024-06-01, 2024-06-02" in out
    assert "staged_day 2024-06-03 ... ok" in out
    assert "staged_day 2024-06-01" not in out and "staged_day 2024-06-02" not in out
    after = {p.relative_to(staging): p.stat().st_mtime_ns for p in staging.glob("day=*/*")}
    assert {k: v for k, v in after.items() if k in before} == before  # earlier days' staged files untouched
    assert any(str(k).startswith("day=2024-06-03") for k in after)

    v2_repo = tmp_path / "release" / "work" / "hub" / REPO
    for table, key in (("battles", "question_id"), ("conversations", "conversation_id")):
        v2 = public_rows(v2_repo, table, key)
        assert v1[table], table
        changed = [row_id for row_id, row in v1[table].items() if v2.get(row_id) != row]
        assert not changed, f"{table}: {len(changed)} of {len(v1[table])} public v1 rows differ or vanished in v2"
        assert len(v2) > len(v1[table])  # the new day added rows
