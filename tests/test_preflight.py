"""The preflight: every missing key and unreachable target found in seconds, before any data work,
in one plain paragraph; the same check first in `arena-release run` and as the Dagster job's first step."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from battle_fixtures import example_config_data
from hubserver import HubServer
from huggingface_hub import constants as hf_constants

from pipeline.cleaning_config import load_cleaning_config
from pipeline.cli import main
from pipeline.preflight import preflight
from pipeline.release_config import load_release_config
from pipeline.stage_settings import load_stage_settings

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hf_preflight_test_token"
SECRETS = ("ARENA_RELEASE_SALT", "OPENAI_API_KEY", "ARENA_JUDGE_KEY", "HF_TOKEN", "OPENAI_HF_TOKEN")


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch):
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)


def write_config(directory: Path, **changes) -> Path:
    config = example_config_data()
    config.update(changes)
    path = directory / "release.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def production(directory: Path, endpoint: str = "http://127.0.0.1:9") -> Path:
    """All stages required, a Hub target, the salt from the environment only."""
    return write_config(directory, required_stages=["pii", "moderation", "toxicity"],
                        sampling_salt={"env": "ARENA_RELEASE_SALT"},
                        targets=[{"kind": "hub", "repo_id": "lmsys/arena", "endpoint": endpoint}],
                        providers={"openai": ["gpt-4-0613"]},
                        deliveries={"openai": {"kind": "hub", "repo_id": "openai-arena/early-access",
                                               "token_env": "OPENAI_HF_TOKEN", "endpoint": endpoint}})


def with_verify_files(workdir: Path) -> Path:
    """The example config's verify files, where sample logs would have written them."""
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    (workdir / "logs" / "canaries.txt").write_text("192.168.77.1\n")
    (workdir / "logs" / "pii_ground_truth.jsonl").write_text("")
    return workdir


def check(config: Path, workdir: Path, environ: dict[str, str] | None = None):
    return preflight(load_release_config(config), load_stage_settings(), load_cleaning_config(), workdir,
                     environ=environ or {})


def test_example_config_passes_offline(tmp_path):
    without = check(ROOT / "release_configs" / "example.yaml", tmp_path / "work")
    assert [p.what for p in without.problems] == [
        f"verify.canary_file: {tmp_path / 'work' / 'logs' / 'canaries.txt'} is not a file; "
        f"verify.pii_ground_truth: {tmp_path / 'work' / 'logs' / 'pii_ground_truth.jsonl'} is not a file"]
    report = check(ROOT / "release_configs" / "example.yaml", with_verify_files(tmp_path / "work"))
    assert report.problems == []
    assert report.checked["sampling salt"] == "from dev_default"
    assert report.checked["target 1 (local example/chatbot-arena-conversations)"] == \
        f"{tmp_path / 'work' / 'hub'} is writable"


def test_every_missing_key_is_named_with_how_to_set_it_in_one_paragraph(tmp_path):
    started = time.perf_counter()
    report = check(production(tmp_path), with_verify_files(tmp_path / "work"))
    assert time.perf_counter() - started < 5
    message = report.message()
    assert "\n" not in message and message.startswith("Release 2024.06-example cannot start")
    assert len(report.problems) == 5, message
    for name in SECRETS:
        assert f"set {name} to" in message, (name, message)
    assert "(1) environment variable ARENA_RELEASE_SALT is not set" in message
    assert "requires moderation but OPENAI_API_KEY is not set" in message


def test_hub_target_must_answer_and_accept_the_token(tmp_path, monkeypatch):
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    keys = {"ARENA_RELEASE_SALT": "s" * 32, "OPENAI_API_KEY": "sk-test", "ARENA_JUDGE_KEY": "k" * 32,
            "OPENAI_HF_TOKEN": "hf_openaiWriter"}
    with_verify_files(tmp_path)
    with HubServer(tokens={TOKEN: "arena-bot"}) as server:
        config = production(tmp_path, endpoint=server.url)
        assert check(config, tmp_path, {**keys, "HF_TOKEN": TOKEN}).problems == []  # repo not there yet: fine
        refused = check(config, tmp_path, {**keys, "HF_TOKEN": "hf_wrong"})
    [problem] = refused.problems
    assert f"the Hub at {server.url} did not answer for lmsys/arena" in problem.what
    assert "hf_wrong" not in refused.message()  # the token never reaches a message
    [down] = check(config, tmp_path, {**keys, "HF_TOKEN": TOKEN}).problems  # the server is gone now
    assert "did not answer" in down.what


def test_required_toxicity_model_files_must_exist(tmp_path):
    stages = yaml.safe_load((ROOT / "pipeline" / "data" / "stages.yaml").read_text())
    stages["toxicity"] = {"backend": "detoxify", "checkpoint": str(tmp_path / "missing.ckpt")}
    (tmp_path / "stages.yaml").write_text(yaml.safe_dump(stages))
    config = load_release_config(write_config(tmp_path, required_stages=["pii", "toxicity"]))
    report = preflight(config, load_stage_settings(tmp_path / "stages.yaml"), load_cleaning_config(),
                       with_verify_files(tmp_path), environ={})
    [problem] = report.problems
    assert f"Detoxify checkpoint {tmp_path / 'missing.ckpt'} does not exist" in problem.what


def test_local_target_paths_resolve_under_the_work_directory_and_must_be_writable(tmp_path):
    config = load_release_config(write_config(tmp_path, targets=[
        {"kind": "local", "path": "hub", "repo_id": "o/relative"},
        {"kind": "local", "path": str(tmp_path / "elsewhere"), "repo_id": "o/absolute"}]))
    relative, absolute = config.targets
    assert relative.directory(tmp_path / "work") == tmp_path / "work" / "hub"  # not next to the config file
    assert absolute.directory(tmp_path / "work") == tmp_path / "elsewhere"
    (tmp_path / "blocker").write_text("a file where the target's parent should be")
    blocked = load_release_config(write_config(tmp_path, targets=[
        {"kind": "local", "path": str(tmp_path / "blocker" / "hub"), "repo_id": "o/r"}]))
    [problem] = check_config(blocked, with_verify_files(tmp_path)).problems
    assert f"{tmp_path / 'blocker' / 'hub'} cannot be written" in problem.what


def check_config(config, workdir: Path):
    return preflight(config, load_stage_settings(), load_cleaning_config(), workdir, environ={})


def test_cli_fails_in_seconds_before_any_work(tmp_path, capsys):
    started = time.perf_counter()
    code = main(["run", "--config", str(production(tmp_path)), "--workdir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 2 and time.perf_counter() - started < 10
    assert "cannot start, nothing was built" in err and "set OPENAI_API_KEY to" in err
    assert not (tmp_path / "work").exists()  # no sample logs generated, nothing staged


def test_dagster_step_fails_with_the_plain_reason_and_a_passing_one_tags_the_run(tmp_path):
    from assets.preflight import release_preflight
    from assets.resources import ArenaStorage, ReleaseSettings

    instance = dg.DagsterInstance.ephemeral()
    storage = ArenaStorage(workdir=str(with_verify_files(tmp_path / "work")), logs_dir=str(tmp_path / "logs"))
    failed = dg.materialize([release_preflight], instance=instance, raise_on_error=False, resources={
        "storage": storage, "release": ReleaseSettings(config_file=str(production(tmp_path)))})
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.is_step_failure]
    assert failure.step_failure_data.user_failure_data.description.startswith("Release 2024.06-example cannot")

    passed = dg.materialize([release_preflight], instance=instance, resources={
        "storage": storage, "release": ReleaseSettings(config_file=str(ROOT / "release_configs" / "example.yaml"))})
    tags = instance.get_run_by_id(passed.run_id).tags
    assert tags["arena/release"] == "2024.06-example" and tags["arena/config"] == "example"
    assert len(tags["arena/config_sha256"]) == 16
    assert tags["arena/target"] == f"local:{tmp_path / 'work' / 'hub' / 'example' / 'chatbot-arena-conversations'}"
