from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from battle_fixtures import example_config_data

from pipeline.cleaning_config import ConfigError
from pipeline.release_config import (
    ReleaseConfig,
    config_hash,
    judge_key_fingerprint,
    load_release_config,
    require_shared_judge_key,
    resolve_salt,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "release_configs" / "example.yaml"


def example_data() -> dict:
    return example_config_data()


def write_config(tmp_path: Path, data: dict, name: str = "release.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def load_error(tmp_path: Path, data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        load_release_config(write_config(tmp_path, data))
    return str(err.value)


def test_example_config_loads_with_the_documented_defaults():
    config = load_release_config(EXAMPLE)
    assert config.public_fraction == 0.2
    assert config.anonymous_label == "anonymous"
    assert "secret-model-alpha" not in config.leaderboard_models
    assert config.providers["alpha-labs"] == ["secret-model-alpha"]
    assert config.path(config.targets[0].path) == EXAMPLE.parent / config.targets[0].path


def test_config_hash_is_stable_and_follows_content(tmp_path):
    assert config_hash(load_release_config(EXAMPLE)) == config_hash(load_release_config(EXAMPLE))
    data = example_data()
    data["public_fraction"] = 0.25
    assert config_hash(load_release_config(write_config(tmp_path, data))) != config_hash(load_release_config(EXAMPLE))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.update(bogus=1), "bogus: unknown key (allowed: version, log_window"),
        (lambda d: d["filters"].update(blockedwords=["x"]), "filters.blockedwords: unknown key (allowed: drop_"),
        (lambda d: d["targets"][0].update(repo="x/y"), "allowed: repo_id, private, kind, path"),
        (lambda d: d["log_window"].update(start="2024-13-01"), "log_window.start: Input should be a valid date"),
        (lambda d: d["log_window"].update(end="2024-05-01"), "log_window: end 2024-05-01 is before start 2024-06-01"),
        (lambda d: d.update(public_fraction=0), "public_fraction: must be in (0, 1], got 0"),
        (lambda d: d.update(public_fraction=1.5), "public_fraction: must be in (0, 1], got 1.5"),
        (lambda d: d["providers"].update(empty=[]), "providers: provider 'empty' lists no models"),
        (lambda d: d["providers"].update(dup=["palm-2"]), "providers: model 'palm-2' is under both"),
        (lambda d: d["leaderboard"].update(file="lb.txt"), "leaderboard: give exactly one of 'models'"),
        (lambda d: d.update(leaderboard={}), "leaderboard: give exactly one of 'models'"),
        (lambda d: d.update(version="v 1"), "version: String should match pattern"),
        (lambda d: d.update(required_stages=["pii", "vibes"]), "required_stages.1: Input should be 'pii'"),
        (lambda d: d.update(anonymous_label="palm-2"), "anonymous_label 'palm-2' is also a leaderboard model"),
        (lambda d: d.update(targets=[]), "targets: List should have at least 1 item"),
        (lambda d: d.update(targets=[{"kind": "hub", "repo_id": "o/a"}]), "sampling_salt.dev_default is for local"),
        (lambda d: d["targets"][0].update(repo_id="no-slash"), "targets.0.local.repo_id: String should match"),
        (lambda d: d.update(targets=[{"kind": "ftp", "path": "x"}]), "targets.0: Input tag 'ftp' found using 'kind'"),
        (lambda d: d["sampling_salt"].update(dev_default="short"), "sampling_salt.dev_default: String should have at"),
    ],
)
def test_every_mistake_gets_a_clear_message(tmp_path, edit, expected):
    data = example_data()
    edit(data)
    assert expected in load_error(tmp_path, data)


def test_several_mistakes_are_all_reported(tmp_path):
    data = example_data()
    data.update(public_fraction=2, bogus=True)
    message = load_error(tmp_path, data)
    assert "public_fraction" in message and "bogus: unknown key" in message


def test_not_yaml_or_not_a_mapping_or_missing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_release_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_release_config(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_release_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("board.txt", "# current board\ngpt-4-0613\n\nclaude-1\n"),
        ("board.json", json.dumps(["gpt-4-0613", "claude-1"])),
        ("board.json", json.dumps([{"model": "gpt-4-0613", "rating": 1200}, {"model": "claude-1"}])),
        ("board.csv", "model,rating\ngpt-4-0613,1200\nclaude-1,1150\n"),
    ],
)
def test_leaderboard_file_is_read_relative_to_the_config(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    data = example_data()
    data["leaderboard"] = {"file": name}
    config = load_release_config(write_config(tmp_path, data))
    assert config.leaderboard_models == ["gpt-4-0613", "claude-1"]


def test_leaderboard_file_content_is_part_of_the_hash(tmp_path):
    data = example_data()
    data["leaderboard"] = {"file": "board.txt"}
    (tmp_path / "board.txt").write_text("gpt-4-0613\n")
    first = config_hash(load_release_config(write_config(tmp_path, data)))
    (tmp_path / "board.txt").write_text("gpt-4-0613\nclaude-1\n")
    assert config_hash(load_release_config(write_config(tmp_path, data))) != first


def test_bad_leaderboard_files(tmp_path):
    data = example_data()
    data["leaderboard"] = {"file": "missing.txt"}
    assert "cannot read leaderboard file" in load_error(tmp_path, data)
    (tmp_path / "board.csv").write_text("name\nx\n")
    data["leaderboard"] = {"file": "board.csv"}
    assert "expected a CSV with a 'model' column" in load_error(tmp_path, data)
    (tmp_path / "board.txt").write_text("a\nb\na\n")
    data["leaderboard"] = {"file": "board.txt"}
    assert "listed more than once: a" in load_error(tmp_path, data)


def test_salt_comes_from_the_environment_before_the_dev_default(tmp_path):
    config = load_release_config(EXAMPLE)
    from_env = resolve_salt(config, {"ARENA_RELEASE_SALT": "a-real-secret-of-32-bytes-or-so!!"})
    assert from_env.source == "env:ARENA_RELEASE_SALT" and not from_env.is_dev
    dev = resolve_salt(config, {})
    assert dev.is_dev and dev.key == b"example-dev-salt--not-a-secret"
    assert from_env.fingerprint != dev.fingerprint and "secret" not in from_env.fingerprint
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        resolve_salt(config, {"ARENA_RELEASE_SALT": "short"})


def test_without_dev_default_a_missing_salt_is_an_error(tmp_path):
    data = example_data()
    data["sampling_salt"] = {"env": "MY_SALT"}
    data["targets"] = [{"kind": "hub", "repo_id": "org/arena", "endpoint": "http://127.0.0.1:1"}]
    data["providers"] = {}  # with a hub target, providers need deliveries (tests/test_delivery.py)
    config = load_release_config(write_config(tmp_path, data))
    with pytest.raises(ConfigError, match="MY_SALT is not set"):
        resolve_salt(config, {})


def test_public_view_hides_private_names_and_words(tmp_path):
    data = example_data()
    data["filters"]["blocked_models"] = ["secret-model-alpha"]
    data["filters"]["blocked_words"] = ["private-term"]
    view = json.dumps(load_release_config(write_config(tmp_path, data)).public_view())
    for private in ("secret-model-alpha", "internal-preview-0815", "private-term", "not-a-secret", "../releases"):
        assert private not in view
    assert '"blocked_models": {"count": 1}' in view


def test_the_version_comes_from_the_launch_else_the_file_else_the_window(tmp_path):
    data = example_config_data()
    (tmp_path / "with.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "without.yaml").write_text(yaml.safe_dump({k: v for k, v in data.items() if k != "version"}))
    assert load_release_config(tmp_path / "with.yaml", "2024.07.01").version == "2024.07.01"
    assert load_release_config(tmp_path / "with.yaml").version == data["version"]
    assert load_release_config(tmp_path / "without.yaml").version == "2024-06-30"  # the window's last day
    with pytest.raises(ConfigError, match="version"):
        load_release_config(tmp_path / "with.yaml", "../main")


def test_a_hub_target_needs_the_judge_key_from_the_environment():
    local = ReleaseConfig.model_validate(example_config_data())
    require_shared_judge_key(local, "ARENA_JUDGE_KEY", {})  # a local release may use the work directory's key
    data = example_config_data()
    data["sampling_salt"].pop("dev_default")
    data["targets"] = [{"kind": "hub", "repo_id": "arena/conversations"}]
    data["providers"] = {}  # (with a hub target, exports need deliveries of their own)
    hub = ReleaseConfig.model_validate(data)
    with pytest.raises(ConfigError, match=r"\$ARENA_JUDGE_KEY is not set: a release to a hub target"):
        require_shared_judge_key(hub, "ARENA_JUDGE_KEY", {})
    require_shared_judge_key(hub, "ARENA_JUDGE_KEY", {"ARENA_JUDGE_KEY": "k" * 32})
    assert judge_key_fingerprint(b"k" * 32) != judge_key_fingerprint(b"j" * 32)
    assert "k" * 8 not in judge_key_fingerprint(b"k" * 32)
