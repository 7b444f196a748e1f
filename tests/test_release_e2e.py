"""A whole release in-process through `arena-release run` (the Dagster assets and their checks); the same
release with PII redaction misconfigured (names only), which the residual-PII filter must catch; and the
publishing gate, which must refuse whatever did not pass verification, whichever way publishing is asked for."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml
from battle_fixtures import example_config_data

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
    config = example_config_data()
    config["targets"] = [{**config["targets"][0], "path": str(tmp / "hub")}]
    config["verify"] |= {"canary_file": str(tmp / "canaries.txt"),
                         "pii_ground_truth": str(logs / "pii_ground_truth.jsonl")}
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
    # The example names release_configs/pii_evaluation.json: the redaction benchmark's held-out test figures.
    assert "| held-out figure | rate | of |" in card and "split `test`" in card and "NOT MEASURED" not in card
    assert (repo / "images" / "leaderboard_ratings.png").read_bytes().startswith(b"\x89PNG")
    assert manifest["version"] == config["version"]
    assert manifest["stages"]["battles"]["pii"]["model"] == "presidio-analyzer"
    battles = pq.read_table(repo / "data" / "battles")
    leaderboard = set(config["leaderboard"]["models"]) | {config["anonymous_label"]}
    assert set(battles["model_a"].to_pylist()) | set(battles["model_b"].to_pylist()) <= leaderboard
    assert "anonymous" in battles["model_a"].to_pylist() + battles["model_b"].to_pylist()
    record_file = tmp / "good" / "releases" / config["version"] / "verify" / "public" / "record.json"
    record = json.loads(record_file.read_text())
    assert {c["name"]: c["status"] for c in record["checks"]}["canaries"] == "pass"
    assert not [c for c in record["checks"] if c["status"] in ("skip", "fail")]  # every check ran and passed
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


def own_target(config: dict, hub: Path) -> dict:
    """The fixture's config publishing to a repo of its own: a release from another work directory has
    another (local) judge key, which the releases already on the fixture's target would refuse."""
    config = copy.deepcopy(config)
    config["targets"] = [{**config["targets"][0], "path": str(hub)}]
    return config


def test_planted_leak_fails_the_check_and_blocks_publishing(release_setup, capsys):
    tmp, logs, config = release_setup
    config = own_target(config, tmp / "hub-leaky")
    redaction = yaml.safe_load((ROOT / "redaction" / "default_settings.yaml").read_text())
    redaction["entities"] = ["PERSON"]  # a misconfiguration: emails, phones, cards, keys... left in
    (tmp / "names_only.yaml").write_text(yaml.safe_dump(redaction))
    stages = yaml.safe_load((ROOT / "pipeline" / "data" / "stages.yaml").read_text())
    stages["redaction_file"] = str(tmp / "names_only.yaml")
    (tmp / "stages.yaml").write_text(yaml.safe_dump(stages))
    config["version"] = "2024.06-leaky"
    config["verify"] |= {"residual_pii_min_rows": 1}  # this small release withholds fewer than the default 10
    (tmp / "release.yaml").write_text(yaml.safe_dump(config))
    assert run_release(tmp, logs, "leaky", "--stages", str(tmp / "stages.yaml")) == 1
    captured = capsys.readouterr()
    # The rows still holding structured PII are withheld; that many of them means redaction failed.
    assert "public_share ... FAILED" in captured.out and "redaction failed systematically" in captured.err
    published = [p for p in (tmp / "hub-leaky").rglob("manifest.json") if "leaky" in p.read_text()]
    assert not published

    # With a bound that tolerates it, those rows are withheld, counted, and the rest is published: verify,
    # running the same detectors over every published string, then finds nothing (nor any planted value).
    config["version"] = "2024.06-residue"
    config["verify"] |= {"max_residual_pii_fraction": 1.0}
    (tmp / "release.yaml").write_text(yaml.safe_dump(config))
    assert run_release(tmp, logs, "leaky", "--stages", str(tmp / "stages.yaml")) == 0, capsys.readouterr().err
    repo = tmp / "hub-leaky" / config["targets"][0]["repo_id"]
    manifest = json.loads((repo / "manifest.json").read_text())
    assert manifest["version"] == "2024.06-residue"
    withheld = {name: t["counts"]["dropped"]["residual_pii"] for name, t in manifest["tables"].items()}
    assert sum(withheld.values()) and all(t["rows"] for t in manifest["tables"].values()), withheld
    assert "withheld: after redaction its text still held structured PII" in (repo / "README.md").read_text()
    record = json.loads((tmp / "leaky" / "releases" / "2024.06-residue" / "verify" / "public" / "record.json")
                        .read_text())
    assert {c["name"]: c["status"] for c in record["checks"]} | {"salt": "pass"} == dict.fromkeys(
        ["manifest", "files", "card", "schema", "counts", "stages", "fraction", "fraction_ids", "models", "raw_ips",
         "pii_patterns", "canaries", "pii", "names", "salt"], "pass")


def _publish_alone(tmp: Path, logs: Path, workdir: str):
    """Materialize `published_release` by itself, as a steward can from the UI, on a fresh instance."""
    import dagster as dg

    from assets.definitions import defs
    from assets.release import published_release
    from assets.resources import ArenaStorage, ReleaseSettings

    resources = {"storage": ArenaStorage(logs_dir=str(logs), workdir=str(tmp / workdir), workers=1),
                 "release": ReleaseSettings(config_file=str(tmp / "release.yaml"))}
    result = dg.materialize([*defs.assets, *defs.asset_checks], selection=[published_release.key],
                            instance=dg.DagsterInstance.ephemeral(), resources=resources, raise_on_error=False)
    failures = [e.step_failure_data.error for e in result.all_events if e.is_step_failure]
    return result.success, " ".join(f"{e.message} {e.cause.message if e.cause else ''}" for e in failures)


def test_the_gate_refuses_what_did_not_pass_on_every_path(release_setup, capsys):
    """A failing blocking check stops the run; publishing alone afterwards is refused too; so is a check
    that did not run, until the config waives it with a reason; and so are bytes changed after verification."""
    tmp, logs, config = release_setup
    config = own_target(config, tmp / "hub-gate")
    hub = tmp / "hub-gate" / config["targets"][0]["repo_id"]
    tags = hub.parent.parent / ".revisions" / config["targets"][0]["repo_id"] / "tags"

    # 1. A canary value that is published (a model name no provider owns, so only the public release shows
    # it) fails pii_leak_scan; publishing alone afterwards is refused.
    (tmp / "leaky_canaries.txt").write_text("llama-3-70b-instruct\n")
    config["version"] = "2024.06-gate-canary"
    config["verify"] |= {"canary_file": str(tmp / "leaky_canaries.txt")}
    (tmp / "release.yaml").write_text(yaml.safe_dump(config))
    assert run_release(tmp, logs, "gate") == 1
    assert "check pii_leak_scan failed, publishing stopped" in capsys.readouterr().err
    published, why = _publish_alone(tmp, logs, "gate")
    assert not published and "did not pass verification" in why and "canaries" in why, why
    assert not (tags / "2024.06-gate-canary").exists()

    # 2. No canary file and no ground truth: those checks cannot run, and that fails the release.
    config["version"] = "2024.06-gate-skip"
    config["verify"] |= {"canary_file": None, "pii_ground_truth": None}
    (tmp / "release.yaml").write_text(yaml.safe_dump(config))
    assert run_release(tmp, logs, "gate") == 1
    assert "a check that did not run is not a pass" in capsys.readouterr().err
    assert not (tags / "2024.06-gate-skip").exists()

    # 3. Waived by name, with reasons: published, and the waivers are in the manifest and the card.
    config["verify"]["waivers"] = {"canaries": "no raw-IP list for this test release",
                                   "pii": "no planted PII in these logs' truth file"}
    (tmp / "release.yaml").write_text(yaml.safe_dump(config))
    assert run_release(tmp, logs, "gate") == 0, capsys.readouterr().err
    assert (tags / "2024.06-gate-skip").exists()
    manifest = json.loads((hub / "manifest.json").read_text())
    assert manifest["config"]["verify"]["waivers"] == config["verify"]["waivers"]
    card = (hub / "README.md").read_text()
    assert "**Waived checks**" in card and "`canaries`: no raw-IP list for this test release" in card

    # 4. One byte changed after verification: refused, naming the file.
    card_file = tmp / "gate" / "releases" / "2024.06-gate-skip" / "public" / "README.md"
    card_file.write_text(card_file.read_text() + " ")
    published, why = _publish_alone(tmp, logs, "gate")
    assert not published and "changed after verification: README.md" in why, why
    # 5. A config changed after verification (here: a waiver's reason) must be verified again.
    card_file.write_text(card_file.read_text()[:-1])
    config["verify"]["waivers"]["pii"] = "another reason"
    (tmp / "release.yaml").write_text(yaml.safe_dump(config))
    published, why = _publish_alone(tmp, logs, "gate")
    assert not published and "verified under another release config" in why, why
