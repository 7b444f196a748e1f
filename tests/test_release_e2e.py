"""A whole release in-process through `arena-release run` (the Dagster assets and their checks), then
the same release with PII redaction misconfigured (names only): the blocking PII check must stop publishing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.cli import main
from pipeline.synth import SynthSettings, generate

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def release_setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("release")
    logs = tmp / "logs"
    generate(logs, SynthSettings(days=2, battles_per_day=250, seed=11, start_date=dt.date(2024, 6, 1)))
    truth = [json.loads(line) for line in (logs / "pii_ground_truth.jsonl").read_text().splitlines()]
    structured = sorted({t["value"] for t in truth if t["entity_type"] not in ("PERSON", "PRIVATE_KEY")})
    (tmp / "canaries.txt").write_text("\n".join(structured) + "\n")
    config = yaml.safe_load((ROOT / "release_configs" / "example.yaml").read_text())
    config["targets"] = [{**config["targets"][0], "path": str(tmp / "hub")}]
    config["verify"]["canary_file"] = str(tmp / "canaries.txt")
    (tmp / "release.yaml").write_text(yaml.safe_dump(config))
    return tmp, logs, config


def run_release(tmp: Path, logs: Path, workdir: str, *extra: str) -> int:
    return main(["run", "--config", str(tmp / "release.yaml"), "--logs", str(logs),
                 "--workdir", str(tmp / workdir), "--workers", "1", *extra])


def test_release_runs_end_to_end_and_publishes(release_setup, capsys):
    tmp, logs, config = release_setup
    assert run_release(tmp, logs, "good") == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "published_release ... ok" in out and "moderation: not_run" in out and "NOT RUN" in out
    ran = ("dedup_tags", "release_candidates", "language", "redacted", "moderation", "toxicity", "public_share",
           "anonymized", "provider_exports", "leaderboard", "release_build")
    assert all(f"] {asset} ..." in out for asset in ran), out  # each its own step (moderation warns inline)
    repo = tmp / "hub" / config["targets"][0]["repo_id"]
    manifest = json.loads((repo / "manifest.json").read_text())
    card = (repo / "README.md").read_text()
    assert "## Leaderboard" in card and "images/leaderboard_ratings.png" in card
    assert (repo / "images" / "leaderboard_ratings.png").read_bytes().startswith(b"\x89PNG")
    assert manifest["version"] == config["version"]
    assert manifest["stages"]["battles"]["pii"]["model"] == "presidio-analyzer"
    battles = pq.read_table(repo / "data" / "battles")
    leaderboard = set(config["leaderboard"]["models"]) | {config["anonymous_label"]}
    assert set(battles["model_a"].to_pylist()) | set(battles["model_b"].to_pylist()) <= leaderboard
    assert "anonymous" in battles["model_a"].to_pylist() + battles["model_b"].to_pylist()
    report = json.loads((tmp / "good" / "releases" / config["version"] / "verify" / "report.json").read_text())
    assert {c["name"]: c["status"] for c in report}["canaries"] == "pass"
    assert any(p.is_dir() for p in (tmp / "hub").glob("*/*-openai"))  # provider export, private repo
    assert battles["dedup_tag"].null_count == 0  # the release reads the dedup_tags asset's battles

    # The same release again: every stage re-runs from its caches and publishing changes nothing.
    commits = sorted((tmp / "hub" / ".revisions").rglob("commits/*.json"))
    assert len(commits) == 5  # the public repo and four provider repos, one commit each
    assert run_release(tmp, logs, "good") == 0, capsys.readouterr().err
    assert "published_release ... ok" in capsys.readouterr().out
    assert sorted((tmp / "hub" / ".revisions").rglob("commits/*.json")) == commits


def test_the_next_release_needs_only_a_version_at_launch(release_setup, capsys):
    """After the release above: `run --version` alone makes the next one. It finds its predecessor on the
    target, keeps every row it published, the same judge key and names, and loads fresh from `main`."""
    import datasets

    tmp, logs, config = release_setup
    assert run_release(tmp, logs, "good", "--version", "2024.06-next") == 0, capsys.readouterr().err
    repo = tmp / "hub" / config["targets"][0]["repo_id"]
    before = json.loads((tmp / "hub" / ".revisions" / config["targets"][0]["repo_id"] / "tags" / config["version"]
                         / "manifest.json").read_text())
    manifest = json.loads((repo / "manifest.json").read_text())
    assert manifest["version"] == "2024.06-next" and manifest["previous_version"] == config["version"]
    assert manifest["judge_key"] == before["judge_key"] and manifest["salt"] == before["salt"]
    battles = manifest["tables"]["battles"]
    assert battles["counts"]["previously_public"] == before["tables"]["battles"]["rows"] == battles["rows"]
    assert battles["counts"]["withdrawn"] == {}
    assert f"## Changes since {config['version']}" in (repo / "README.md").read_text()
    assert json.loads((repo / "leaderboard.json").read_text())["battles_rated"] > 0
    loaded = datasets.load_dataset(str(repo), "battles", split="train", cache_dir=str(tmp / "hf-cache"))
    assert len(loaded) == battles["rows"]
    assert [f.name for f in (repo / "data" / "battles").iterdir()] == ["train-2024.06-next-00000-of-00001.parquet"]


def test_planted_leak_fails_the_check_and_blocks_publishing(release_setup, capsys):
    tmp, logs, config = release_setup
    redaction = yaml.safe_load((ROOT / "redaction" / "default_settings.yaml").read_text())
    redaction["entities"] = ["PERSON"]  # a misconfiguration: emails, phones, cards, keys... left in
    (tmp / "names_only.yaml").write_text(yaml.safe_dump(redaction))
    stages = yaml.safe_load((ROOT / "pipeline" / "data" / "stages.yaml").read_text())
    stages["redaction_file"] = str(tmp / "names_only.yaml")
    (tmp / "stages.yaml").write_text(yaml.safe_dump(stages))
    config["version"] = "2024.06-leaky"
    (tmp / "release.yaml").write_text(yaml.safe_dump(config))
    assert run_release(tmp, logs, "leaky", "--stages", str(tmp / "stages.yaml")) == 1
    captured = capsys.readouterr()
    assert "release_build ... FAILED" in captured.out
    assert "check pii_leak_scan failed, publishing stopped" in captured.err
    published = [p for p in (tmp / "hub").rglob("manifest.json") if "leaky" in p.read_text()]
    assert not published
