"""Release after release on a local target: each release is found by the next one on the target itself,
and `datasets.load_dataset` of `main` gives the latest release's rows, never the previous one's cache."""

from __future__ import annotations

from pathlib import Path

import datasets
from battle_fixtures import LEADERBOARD, make_battles, make_conversations, release_config

from pipeline.publish import LocalTarget, publish_release
from pipeline.release import previous_release
from pipeline.release_build import build_release
from pipeline.release_config import Salt

SALT = Salt(b"continuity-test-salt-0123456789", "env:ARENA_RELEASE_SALT", "ARENA_RELEASE_SALT")
REPO = "arena/conversations"


def release(tmp_path: Path, version: str, end: str, battles, conversations, **config) -> dict:
    """Build `version` against the previous release found on the target, then publish it there."""
    target = {"kind": "local", "path": str(tmp_path / "hub"), "repo_id": REPO}
    settings = release_config(version=version, targets=[target], log_window={"start": "2024-06-01", "end": end},
                              **config)
    previous = previous_release(settings)
    manifest = build_release(settings, SALT, tmp_path / version, battles, conversations, previous=previous)
    publish_release(tmp_path / version, REPO, version, LocalTarget(tmp_path / "hub"), private=False)
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
    assert previous_release(again)["version"] == "2024.06.03"
