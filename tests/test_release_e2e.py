"""A whole release in-process through `arena-release run` (the Dagster assets and their checks), then
the same release with PII redaction misconfigured (names only): the blocking PII check must stop publishing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
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
    assert "moderation ... ok" in out and "WARN ran: moderation not run: environment variable OPENAI_API_KEY" in out
    assert_dagster_shows_the_release(tmp / "good" / "dagster_home", config, repo)

    # The same release again: every stage re-runs from its caches and publishing changes nothing.
    commits = sorted((tmp / "hub" / ".revisions").rglob("commits/*.json"))
    assert len(commits) == 5  # the public repo and four provider repos, one commit each
    assert run_release(tmp, logs, "good") == 0, capsys.readouterr().err
    assert "published_release ... ok" in capsys.readouterr().out
    assert sorted((tmp / "hub" / ".revisions").rglob("commits/*.json")) == commits


def assert_dagster_shows_the_release(home: Path, config: dict, repo: Path) -> None:
    """What the UI shows: moderation's `ran` check a WARN, every run tagged with the release, and
    published_release naming where the release went, its tag and commit."""
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    assert settings["run_queue"]["max_concurrent_runs"] >= 1
    instance = dg.DagsterInstance.from_config(str(home))
    runs = instance.get_runs()
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for run in runs for e in (
        log.get_dagster_event().asset_check_evaluation_data
        for log in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION))}
    moderation = evaluations["moderation", "ran"]
    assert not moderation.passed and moderation.severity == dg.AssetCheckSeverity.WARN
    assert evaluations["toxicity", "ran"].passed and evaluations["language", "ran"].passed
    assert runs and all(r.tags["arena/release"] == config["version"] and r.tags["arena/config"] == "release"
                        and r.tags["arena/target"] == f"local:{repo}" for r in runs)
    [publish] = [r for r in runs if r.tags.get("arena/published")]
    assert publish.tags["arena/published"].startswith("file://")
    assert publish.tags["arena/published"].endswith(config["version"])
    materialization = instance.get_latest_materialization_event(dg.AssetKey("published_release"))
    metadata = materialization.asset_materialization.metadata
    location = metadata[f"{config['targets'][0]['repo_id']} @ {config['version']}"]
    assert isinstance(location, dg.PathMetadataValue) and Path(location.path).is_dir()
    assert len(metadata[f"{config['targets'][0]['repo_id']} commit"].value) >= 7
    card = instance.get_latest_materialization_event(dg.AssetKey("release_build")).asset_materialization.metadata
    assert card["card"].value.startswith("```yaml\n") and "](data:image/png;base64," in card["card"].value


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
