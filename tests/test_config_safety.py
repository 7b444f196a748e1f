"""Config mistakes that used to pass validation and act late or wrongly (issue 17): a provider name used as a
path or repo name, coerced values, duplicate YAML keys, missing referenced files, names that collide."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from battle_fixtures import example_config_data

from pipeline.cleaning_config import load_cleaning_config
from pipeline.errors import ConfigError
from pipeline.release_build import child_dir
from pipeline.release_config import check_provider_name, load_release_config
from pipeline.stage_settings import load_stage_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "release_configs" / "example.yaml"


def example_data() -> dict:
    return example_config_data()


def load_error(tmp_path: Path, data: dict | str) -> str:
    path = tmp_path / "release.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_release_config(path)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name", ["/some/dir", "../../x", "Mistral AI", "a/b", "mistral ai", "..", ".hidden",
                                  "x--y", "x..y", "trailing-", "UPPER", "", "a" * 65, "naïve"])
def test_a_provider_name_that_is_not_a_slug_is_refused(tmp_path, name):
    data = example_data()
    data["providers"][name] = ["vicuna-13b"]
    assert "is not a slug" in load_error(tmp_path, data)


def test_slug_provider_names_load():
    for name in ("mistral-ai", "a", "x.y_z-1", "0" * 64):
        assert check_provider_name(name) == name


def test_provider_export_repo_names_fit_the_hub_limit(tmp_path):
    data = example_data()
    data["providers"] = {"p" * 64: ["vicuna-13b"]}
    data["targets"][0]["repo_id"] = "example/" + "c" * 40
    assert "longer than 96 characters" in load_error(tmp_path, data)


@pytest.mark.parametrize(("key", "value"), [
    ("public_fraction", True), ("public_fraction", "0.5"), ("version", 2024),
])
def test_values_are_not_coerced(tmp_path, key, value):
    data = example_data()
    data[key] = value
    assert f"{key}: Input should be a valid" in load_error(tmp_path, data)


def test_booleans_and_counts_are_not_coerced_in_nested_sections(tmp_path):
    data = example_data()
    data["filters"]["drop_moderation_flagged"] = "yes please"
    data["filters"]["too_short"]["max_messages"] = True
    message = load_error(tmp_path, data)
    assert "filters.drop_moderation_flagged: Input should be a valid boolean" in message
    assert "filters.too_short.max_messages: Input should be a valid integer" in message


def test_an_integer_fraction_is_still_a_number(tmp_path):
    data = example_data()
    data["public_fraction"] = 1
    path = tmp_path / "release.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_release_config(path).public_fraction == 1.0


def test_a_duplicate_key_is_an_error_naming_it_and_both_lines(tmp_path):
    text = EXAMPLE.read_text().replace("public_fraction: 0.2\n", "public_fraction: 0.2\npublic_fraction: 1.0\n")
    message = load_error(tmp_path, text)
    assert "duplicate key 'public_fraction'" in message and "first given on line" in message


def test_a_provider_listed_twice_is_an_error(tmp_path):
    text = EXAMPLE.read_text().replace("  google: [palm-2, gemini-1.5-pro]\n",
                                       "  google: [palm-2]\n  google: [gemini-1.5-pro]\n")
    assert "duplicate key 'google'" in load_error(tmp_path, text)


def test_duplicate_keys_are_errors_in_the_cleaning_and_stage_files(tmp_path):
    cleaning = tmp_path / "cleaning.yaml"
    cleaning.write_text("max_turns: 5\nmax_turns: 500\n")
    with pytest.raises(ConfigError, match="duplicate key 'max_turns'"):
        load_cleaning_config(cleaning)
    stages = tmp_path / "stages.yaml"
    stages.write_text("moderation:\n  batch_size: 4\n  batch_size: 8\n")
    with pytest.raises(ConfigError, match="duplicate key 'batch_size'"):
        load_stage_settings(stages)


def test_cleaning_values_are_not_coerced(tmp_path):
    cleaning = tmp_path / "cleaning.yaml"
    cleaning.write_text("max_turns: true\n")
    with pytest.raises(ConfigError, match="max_turns: Input should be a valid integer"):
        load_cleaning_config(cleaning)


@pytest.mark.parametrize("version", ["main", "Main", "HEAD", "0123456789abcdef0123456789abcdef01234567"])
def test_a_version_that_names_a_branch_or_commit_is_refused(tmp_path, version):
    data = example_data()
    data["version"] = version
    assert "would be read as a branch or commit" in load_error(tmp_path, data)


def test_every_referenced_file_must_exist_at_load_time(tmp_path):
    data = example_data()
    data["previous_manifest"] = "missing/manifest.json"
    assert "is not a file" in load_error(tmp_path, data)


def test_referenced_files_that_exist_load(tmp_path):
    data = example_data()
    (tmp_path / "previous").mkdir()
    (tmp_path / "previous" / "manifest.json").write_text("{}")
    data["previous_manifest"] = "previous/manifest.json"
    path = tmp_path / "release.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_release_config(path)
    assert config.referenced_files() == {"previous_manifest": tmp_path / "previous" / "manifest.json",
                                         "card.pii_evaluation": EXAMPLE.parent / "pii_evaluation.json"}


def test_verify_files_must_exist_under_the_work_directory_before_any_work(tmp_path, capsys):
    """They may be written by the run itself (sample logs), so they are checked once the work directory is
    known and the logs are there: one line, exit 2, nothing staged."""
    from pipeline.cli import main

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "2024-06-01-conv.json").write_text("")
    data = example_data()
    data["verify"] |= {"canary_file": "nowhere/canaries.txt"}
    (tmp_path / "release.yaml").write_text(yaml.safe_dump(data))
    code = main(["run", "--config", str(tmp_path / "release.yaml"), "--logs", str(logs),
                 "--workdir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 2 and "verify.canary_file: " + str(tmp_path / "work" / "nowhere" / "canaries.txt") in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "work" / "staging").exists()


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["providers"].update(labs=["anonymous"]), "provider 'labs' lists the anonymous_label"),
    (lambda d: d["filters"].update(blocked_models=["vicuna-13b"]), "on the leaderboard and in filters.blocked_models"),
    (lambda d: d["filters"].update(blocked_models=["anonymous"]), "anonymous_label 'anonymous' is also in filters"),
])
def test_names_may_not_collide(tmp_path, edit, expected):
    data = example_data()
    edit(data)
    assert expected in load_error(tmp_path, data)


def test_a_config_path_that_is_a_directory_or_not_utf8_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_release_config(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"version: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_release_config(binary)
    with pytest.raises(ConfigError, match="is a directory"):
        load_cleaning_config(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_config_is_one_line(tmp_path):
    path = tmp_path / "release.yaml"
    path.write_text(EXAMPLE.read_text())
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot read"):
        load_release_config(path)


@pytest.mark.parametrize("name", ["..", "a/b", "/etc", "."])
def test_a_directory_named_by_the_config_stays_under_its_parent(tmp_path, name):
    with pytest.raises(ConfigError, match="would leave it"):
        child_dir(tmp_path / "providers", name)


def test_a_symlink_out_of_the_workspace_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    parent = tmp_path / "providers"
    parent.mkdir()
    (parent / "labs").symlink_to(outside)
    with pytest.raises(ConfigError, match="would leave it"):
        child_dir(parent, "labs")
    assert (outside / "keep.txt").read_text() == "precious"
    assert child_dir(parent, "other") == parent / "other"


@pytest.mark.parametrize(("text", "expected"), [
    ("moderation:\n  batch_size: true\n", "moderation.batch_size: Input should be a valid integer"),
    ("moderation:\n  required: 'yes'\n", "moderation.required: Input should be a valid boolean"),
    ("toxicity:\n  threshold: true\n", "toxicity.threshold: Input should be a valid number"),
    ("language:\n  max_chars: '64'\n", "language.max_chars: Input should be a valid integer"),
])
def test_stage_settings_are_not_coerced(tmp_path, text, expected):
    path = tmp_path / "stages.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_stage_settings(path)


def test_stage_settings_paths_may_be_strings(tmp_path):
    path = tmp_path / "stages.yaml"
    path.write_text("language:\n  model_path: /models/lid.176.ftz\n")
    assert str(load_stage_settings(path).language.model_path) == "/models/lid.176.ftz"


@pytest.mark.parametrize("provider", ["../../escape", "/abs/escape", "Mistral AI"])
def test_provider_exports_refuse_an_unvalidated_name_before_touching_disk(tmp_path, provider):
    """Even a config built around validation cannot make the exports write or delete outside their folder."""
    from pipeline.release_build import ReleaseShare, write_provider_exports
    from pipeline.release_config import ReleaseConfig

    outside = tmp_path / "escape"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    config = load_release_config(EXAMPLE).model_copy(update={"providers": {provider: ["vicuna-13b"]}})
    assert isinstance(config, ReleaseConfig)
    share = ReleaseShare(counts={}, stages={}, tables={})
    with pytest.raises(ValueError, match="is not a slug"):
        write_provider_exports(tmp_path / "work" / "providers", share, config, set(), {})
    assert (outside / "keep.txt").read_text() == "precious" and not (tmp_path / "work").exists()
