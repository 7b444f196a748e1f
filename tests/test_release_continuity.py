"""Release after release on a local target: each release is found by the next one on the target itself,
and `datasets.load_dataset` of `main` gives the latest release's rows, never the previous one's cache."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from battle_fixtures import (
    BASE_TSTAMP,
    LEADERBOARD,
    battle,
    battles_table,
    example_config_data,
    make_battles,
    make_conversations,
    release_config,
)
from hubserver import HubServer

from pipeline.gate import UnverifiedReleaseError
from pipeline.manifest import read_manifest
from pipeline.publish import HubTarget, LocalTarget, publish_release
from pipeline.release import previous_release, previously_public_ids
from pipeline.release_build import build_release
from pipeline.release_config import Salt

SALT = Salt(b"continuity-test-salt-0123456789", "env:ARENA_RELEASE_SALT", "ARENA_RELEASE_SALT")
REPO = "arena/conversations"


def release(tmp_path: Path, version: str, end: str, battles, conversations, hub: HubServer | None = None,
            **config) -> dict:
    """Build `version` against the previous release found on the target (a local one, or the test Hub),
    then publish it there."""
    if hub is None:
        target, spec = LocalTarget(tmp_path / "hub"), {"kind": "local", "path": str(tmp_path / "hub"), "repo_id": REPO}
    else:
        target, spec = HubTarget(endpoint=hub.url), {"kind": "hub", "endpoint": hub.url, "repo_id": REPO}
        config.setdefault("providers", {})  # exports go to deliveries when the target is the Hub
        config.setdefault("sampling_salt", {"env": "ARENA_RELEASE_SALT"})  # no dev default with a Hub target
    settings = release_config(version=version, targets=[spec], log_window={"start": "2024-06-01", "end": end},
                              **config)
    previous = previous_release(settings, tmp_path)
    manifest = build_release(settings, SALT, tmp_path / version, battles, conversations, previous=previous,
                             previously_public=previously_public_ids(settings, previous, tmp_path))
    publish_release(tmp_path / version, REPO, version, target, private=False)
    return manifest


def load_main(tmp_path: Path, table: str) -> datasets.Dataset:
    path = str(LocalTarget(tmp_path / "hub").repo_path(REPO))
    return datasets.load_dataset(path, table, split="train", cache_dir=str(tmp_path / "hf-cache"))


def test_each_release_continues_the_one_on_the_target_and_loads_fresh(tmp_path):
    battles = make_battles(400, seed=31, days=6)
    conversations = make_conversations(battles, singles=50, seed=31)
    first = release(tmp_path, "2024.06.03", "2024-06-03", battles, conversations)
    assert first["previous_version"] is None
    assert len(load_main(tmp_path, "battles")) == first["tables"]["battles"]["rows"]

    # The next release names no previous manifest: it finds release 1 on the target. vicuna-13b has left
    # the leaderboard and keeps its name.
    second = release(tmp_path, "2024.06.06", "2024-06-06", battles, conversations,
                     leaderboard={"models": [m for m in LEADERBOARD if m != "vicuna-13b"]})
    assert second["previous_version"] == "2024.06.03"
    assert "vicuna-13b" in second["leaderboard_models"] and "vicuna-13b" not in second["current_leaderboard"]
    assert second["tables"]["battles"]["models"].get("vicuna-13b")
    card = (tmp_path / "2024.06.06" / "README.md").read_text()
    assert "left the leaderboard (still named: a model once on it keeps its name): `vicuna-13b`" in card
    for table in ("battles", "conversations"):
        rows = second["tables"][table]["rows"]
        assert rows > first["tables"][table]["rows"]
        assert len(load_main(tmp_path, table)) == rows  # the same cache directory, fresh rows

    # Release 2 again (a re-run): its predecessor is still release 1, not itself.
    again = release_config(version="2024.06.06", targets=[{"kind": "local", "path": str(tmp_path / "hub"),
                                                           "repo_id": REPO}])
    assert previous_release(again, tmp_path)["version"] == "2024.06.03"


def test_a_published_row_stays_published_unless_a_recorded_reason_removes_it(tmp_path):
    """Release 1 publishes battles on a prompt that is rare in its window; in release 2's window the prompt is
    among the most frequent, and a new blocked word appears: the first keeps its published rows (new ones on
    that prompt are dropped), the second withdraws them, and the changelog counts both."""
    frequent = "What is the capital of France? Please answer briefly."
    early = [battle(f"early-{i}", prompt=frequent, tstamp=BASE_TSTAMP + 3600 * i) for i in range(2)]
    other = [battle(f"other-{i}", prompt=f"Tell me a fact about the number {i}, and why it matters.",
                    tstamp=BASE_TSTAMP + 3600 * i) for i in range(4)]
    words = [battle(f"word-{i}", prompt=f"Explain blockchain consensus in simple terms, version {i}.",
                    tstamp=BASE_TSTAMP + 3600 * i) for i in range(3)]
    late = [battle(f"late-{i}", prompt=frequent, tstamp=BASE_TSTAMP + 4 * 86400 + 60 * i) for i in range(3)]
    battles = battles_table(early + other + words + late)
    rules = {"too_frequent": {"top": 10, "min_count": 3}}
    release(tmp_path, "r1", "2024-06-02", battles, None, public_fraction=1.0, filters=rules)
    published = {f"early-{i}" for i in range(2)} | {f"other-{i}" for i in range(4)} | {f"word-{i}" for i in range(3)}
    assert set(load_main(tmp_path, "battles")["question_id"]) == published

    second = release(tmp_path, "r2", "2024-06-06", battles, None, public_fraction=1.0,
                     filters={**rules, "blocked_words": ["blockchain"]})
    ids = set(load_main(tmp_path, "battles")["question_id"])
    assert {"early-0", "early-1"} <= ids and not ids & {f"late-{i}" for i in range(3)}
    assert not ids & {f"word-{i}" for i in range(3)}
    counts = second["tables"]["battles"]["counts"]
    assert counts["dropped"]["too_frequent"] == 3 and counts["kept_as_published"] == 2
    assert counts["previously_public"] == 9 and counts["withdrawn"] == {"blocked_word": 3}
    card = (tmp_path / "r2" / "README.md").read_text()
    assert "of the 9 rows r1 published, 6 are still published (2 of them although a filter" in card
    assert "withdrawn, text holds a blocked word (`blocked_word`): 3" in card


def test_a_takedown_list_removes_every_row_it_reaches_and_stays_private(tmp_path):
    battles = make_battles(300, seed=41, days=2)
    conversations = make_conversations(battles, singles=40, seed=41)
    first = release(tmp_path, "r1", "2024-06-03", battles, conversations)
    public = load_main(tmp_path, "battles").to_pandas()
    by_id, by_b_side, by_judge = public["question_id"][:3]
    b_side = battles.filter(pc.equal(battles["question_id"], by_b_side))["conv_id_b"][0].as_py()
    judge = public.loc[public["question_id"] == by_judge, "judge"].iloc[0]
    voter_battles = set(public.loc[public["judge"] == judge, "question_id"])
    (tmp_path / "takedowns.yaml").write_text(yaml.safe_dump(
        {"question_ids": [by_id], "conversation_ids": [b_side], "judges": [judge]}))

    second = release(tmp_path, "r2", "2024-06-03", battles, conversations,
                     takedowns=str(tmp_path / "takedowns.yaml"))
    removed = {by_id, by_b_side} | voter_battles
    ids = set(load_main(tmp_path, "battles")["question_id"])
    assert not ids & removed and ids | removed == set(public["question_id"])
    conversations_now = set(load_main(tmp_path, "conversations")["conversation_id"])
    assert not conversations_now & {by_id, b_side, by_b_side}
    counts = second["tables"]["battles"]["counts"]
    assert counts["dropped"]["taken_down"] == len(removed) == counts["withdrawn"]["taken_down"]
    assert second["tables"]["conversations"]["counts"]["dropped"]["taken_down"] >= 4  # both sides of 2 battles
    released = "".join(p.read_text() for p in (tmp_path / "r2").glob("*.md")) + json.dumps(second)
    assert judge not in released and b_side not in released and second["config"]["takedowns"] is True
    assert first["tables"]["battles"]["rows"] - len(removed) == second["tables"]["battles"]["rows"]


def test_the_takedown_command_rewrites_every_published_version(tmp_path, capsys, monkeypatch):
    from pipeline.cli import main
    from pipeline.verify import verify_release

    battles = make_battles(200, seed=43, days=2)
    conversations = make_conversations(battles, singles=20, seed=43)
    release(tmp_path, "r1", "2024-06-02", battles, conversations)
    release(tmp_path, "r2", "2024-06-03", battles, conversations)
    target = LocalTarget(tmp_path / "hub")
    taken = load_main(tmp_path, "battles")["question_id"][0]
    (tmp_path / "work" / "cleaned").mkdir(parents=True)
    pq.write_table(battles, tmp_path / "work" / "cleaned" / "battles.parquet")
    pq.write_table(conversations, tmp_path / "work" / "cleaned" / "conversations.parquet")
    (tmp_path / "takedowns.yaml").write_text(yaml.safe_dump({"question_ids": [taken]}))
    config = example_config_data() | {
        "targets": [{"kind": "local", "path": str(tmp_path / "hub"), "repo_id": REPO}],
        "takedowns": str(tmp_path / "takedowns.yaml")}
    # The rewritten versions pass the publishing gate first: the salt of the releases, and a canary file.
    monkeypatch.setenv("ARENA_RELEASE_SALT", SALT.key.decode())
    (tmp_path / "canaries.txt").write_text(f"{LEADERBOARD[0]}\n")  # published: the gate must refuse
    config["verify"] |= {"canary_file": str(tmp_path / "canaries.txt"), "pii_ground_truth": None,
                         "waivers": {"pii": "no PII planted in these fixtures"}}
    (tmp_path / "release.yaml").write_text(yaml.safe_dump(config))
    command = ["takedown", "--config", str(tmp_path / "release.yaml"), "--workdir", str(tmp_path / "work")]
    commits = {v: target.snapshot(REPO, v).commit for v in ("r1", "r2", "main")}
    with pytest.raises(UnverifiedReleaseError, match="did not pass verification.*canaries"):
        main(command)
    assert {v: target.snapshot(REPO, v).commit for v in commits} == commits  # nothing moved
    (tmp_path / "canaries.txt").write_text("93.184.216.34\n")

    assert main([*command, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would rewrite {REPO}@r1 (local snapshots): battles -1, conversations -2" in out and f"{REPO}@r2" in out
    assert {v: target.snapshot(REPO, v).commit for v in commits} == commits

    assert main(command) == 0
    for version in ("r1", "r2"):
        path = target.repo_path(REPO, version)
        assert taken not in set(datasets.load_dataset(str(path), "battles", split="train",
                                                      cache_dir=str(tmp_path / "hf-cache"))["question_id"])
        assert_card_matches_rewritten_data(path)
        report = verify_release(path)
        assert not [c.name for c in report.checks if c.status == "fail"
                    and c.name in ("manifest", "files", "counts", "card")]
    assert target.snapshot(REPO, "main").commit == target.snapshot(REPO, "r2").commit != commits["r2"]
    assert not (target.store(REPO) / "commits" / commits["r1"]).exists()  # the old data is gone
    assert main(command) == 0 and "no published version holds" in capsys.readouterr().out


def assert_card_matches_rewritten_data(path: Path, previous_version: str | None = None) -> None:
    """The card of a rewritten version states its rewritten counts and the removal (and, after the first
    version, a changelog line for it)."""
    manifest, card = read_manifest(path), (path / "README.md").read_text()
    rows = {name: pq.read_metadata(path / entry["path"]).num_rows
            for name, table in manifest["tables"].items() for entry in table["files"]}
    for name, count in rows.items():
        assert manifest["tables"][name]["rows"] == count and f"### `{name}`: {count:,} rows" in card
    removed = manifest["taken_down_after_release"]
    assert removed["battles"] >= 1 and "## Removed after publication" in card
    assert f"battles {removed['battles']:,}" in card and "predate" not in card
    if manifest["previous_version"]:
        assert "- removed after publication at the request of the people concerned (`taken_down`)" in card


def taken_down_bytes_reachable(hub: HubServer, question_id: str) -> list[str]:
    """Every commit some branch or tag of the test Hub's repo reaches whose battles files hold the id."""
    repo = hub.repo(REPO)
    return [oid for oid in repo.reachable() for path, blob in repo.commits[oid].files.items()
            if path.startswith("data/battles/")
            and question_id in pq.read_table(pa.BufferReader(blob.content))["question_id"].to_pylist()]


@dataclass
class HubReleases:
    hub: HubServer
    target: HubTarget
    taken: str  # the taken-down battle
    third: dict  # r3's manifest
    command: list[str]  # the takedown command


@pytest.fixture
def hub_releases(tmp_path, monkeypatch) -> HubReleases:
    """Three releases on the (test) Hub: r1 and r2 hold a battle that is then taken down, r3 was built with
    the takedown list already; the cleaned tables and a config for the takedown command."""
    battles = make_battles(200, seed=47, days=2)
    conversations = make_conversations(battles, singles=20, seed=47)
    with HubServer(tokens={"hf-test-token": "arena"}) as hub:
        monkeypatch.setenv("HF_TOKEN", "hf-test-token")
        monkeypatch.setenv("ARENA_RELEASE_SALT", SALT.key.decode())
        release(tmp_path, "r1", "2024-06-02", battles, conversations, hub=hub)
        release(tmp_path, "r2", "2024-06-03", battles, conversations, hub=hub)
        target = HubTarget(endpoint=hub.url)
        published = pq.read_table(target.checkout(REPO, "r1", tmp_path / "before") / "data" / "battles"
                                  / "train-r1-00000-of-00001.parquet")
        taken = published["question_id"][0].as_py()
        (tmp_path / "takedowns.yaml").write_text(yaml.safe_dump({"question_ids": [taken]}))
        third = release(tmp_path, "r3", "2024-06-03", battles, conversations, hub=hub,
                        takedowns=str(tmp_path / "takedowns.yaml"))
        assert third["tables"]["battles"]["counts"]["withdrawn"] == {"taken_down": 1}
        assert taken_down_bytes_reachable(hub, taken)  # r1, r2, and main's history

        (tmp_path / "work" / "cleaned").mkdir(parents=True)
        pq.write_table(battles, tmp_path / "work" / "cleaned" / "battles.parquet")
        pq.write_table(conversations, tmp_path / "work" / "cleaned" / "conversations.parquet")
        config = example_config_data() | {
            "targets": [{"kind": "hub", "endpoint": hub.url, "repo_id": REPO}], "providers": {},
            "sampling_salt": {"env": "ARENA_RELEASE_SALT"},
            "takedowns": str(tmp_path / "takedowns.yaml")}
        config["verify"] |= {"canary_file": None, "pii_ground_truth": None,
                             "waivers": {"pii": "no PII planted in these fixtures",
                                         "canaries": "no canary file in these fixtures",
                                         "names": "no provider or blocked model: no unreleased name to look for"}}
        (tmp_path / "release.yaml").write_text(yaml.safe_dump(config))
        command = ["takedown", "--config", str(tmp_path / "release.yaml"), "--workdir", str(tmp_path / "work")]
        yield HubReleases(hub, target, taken, third, command)


def test_the_takedown_command_rewrites_hub_history(hub_releases, tmp_path, capsys):
    """The command rewrites r1 and r2, re-roots r3 (its history held r2), squashes main, and deletes the LFS
    objects nothing references: no branch or tag reaches the taken-down row anymore."""
    from pipeline.cli import main
    from pipeline.verify import verify_release

    hub, target, taken, third, command = (hub_releases.hub, hub_releases.target, hub_releases.taken,
                                          hub_releases.third, hub_releases.command)
    battles = make_battles(200, seed=47, days=2)
    conversations = make_conversations(battles, singles=20, seed=47)
    r3_files = target.snapshot(REPO, "r3").files
    refs = (dict(hub.repo(REPO).tags), dict(hub.repo(REPO).branches))

    assert main([*command, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would rewrite {REPO}@r1 (history rewritten): battles -1, conversations -2" in out
    assert f"would rewrite {REPO}@r2 (history rewritten): battles -1" in out and "@r3" not in out
    assert (dict(hub.repo(REPO).tags), dict(hub.repo(REPO).branches)) == refs  # nothing changed

    assert main(command) == 0
    repo = hub.repo(REPO)
    assert sorted(repo.branches) == ["main"] and sorted(repo.tags) == ["r1", "r2", "r3"]
    assert repo.branches["main"] == repo.tags["r3"] and all(repo.commits[oid].parent is None
                                                            for oid in repo.tags.values())
    assert not target.snapshot(REPO, "r3").files.keys() ^ r3_files.keys()
    assert all(d.same_content(r3_files[p]) for p, d in target.snapshot(REPO, "r3").files.items())
    assert taken_down_bytes_reachable(hub, taken) == []
    held = {blob.lfs_oid for oid in repo.reachable() for blob in repo.commits[oid].files.values()}
    assert set(repo.lfs_files) <= held  # the old data files' LFS objects were deleted
    for version in ("r1", "r2"):
        path = target.checkout(REPO, version, tmp_path / "after")
        assert taken not in pq.read_table(path / "data" / "battles")["question_id"].to_pylist()
        assert_card_matches_rewritten_data(path)
        report = verify_release(path)
        assert not [c.name for c in report.checks if c.status == "fail"
                    and c.name in ("manifest", "files", "counts", "card")]
    assert main(command) == 0 and "no published version holds" in capsys.readouterr().out

    # The next release continues from the rewritten r3 on the squashed main.
    fourth = release(tmp_path, "r4", "2024-06-03", battles, conversations, hub=hub,
                     takedowns=str(tmp_path / "takedowns.yaml"))
    assert fourth["previous_version"] == "r3"
    assert fourth["tables"]["battles"]["rows"] == third["tables"]["battles"]["rows"]


def test_a_hub_takedown_cut_off_part_way_completes_when_run_again(hub_releases):
    """The second super-squash fails (after main was squashed, before r1 and r2 moved): nothing half-done is
    served as done, and running the command again leaves no branch or tag reaching the row."""
    from huggingface_hub.errors import HfHubHTTPError

    from pipeline.cli import main

    hub = hub_releases.hub
    hub.inject("super_squash", after=1, status=500, message="storage unavailable")
    with pytest.raises(HfHubHTTPError, match="storage unavailable"):
        main(hub_releases.command)
    assert taken_down_bytes_reachable(hub, hub_releases.taken)  # r1 and r2 still hold it
    assert main(hub_releases.command) == 0
    repo = hub.repo(REPO)
    assert taken_down_bytes_reachable(hub, hub_releases.taken) == []
    assert sorted(repo.branches) == ["main"] and sorted(repo.tags) == ["r1", "r2", "r3"]
