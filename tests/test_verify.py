"""`arena-release verify`: a clean release passes; each kind of damage fails its own check, and only it."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from battle_fixtures import (
    DEV_SALT,
    EXAMPLE_CONFIG,
    UNRELEASED,
    battle,
    battles_table,
    make_battles,
    make_conversations,
    release_config,
)

from pipeline import policy
from pipeline.commands import verify as verify_command
from pipeline.errors import ReleaseBlocked, UsageError
from pipeline.manifest import MANIFEST_NAME, content_hash, file_entry, read_manifest, write_manifest
from pipeline.release_build import build_release
from pipeline.release_config import Salt
from pipeline.verify import VerifyOptions, verify_release

SALT = Salt(b"verify-test-salt-0123456789abcdef", "env:ARENA_RELEASE_SALT", "ARENA_RELEASE_SALT")
NAME_ROW_VALUE = "Rosalind"
EMAIL = "rosalind.franklin@posteo.de"  # a real-looking domain: example domains are documentation, not PII


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A public release and provider exports from 400 battles and their conversations."""
    root = tmp_path_factory.mktemp("built")
    battles = make_battles(400, seed=11)
    conversations = make_conversations(battles, singles=100, seed=11)
    build_release(release_config(), SALT, root / "release", battles, conversations, provider_dir=root / "providers")
    return root


@pytest.fixture
def release(built, tmp_path) -> Path:
    copy = tmp_path / "release"
    shutil.copytree(built / "release", copy)
    return copy


@pytest.fixture
def truth(release, tmp_path) -> Path:
    """Planted PII of two published battles, as redaction would have left them: absent from the data."""
    first, second = pq.read_table(next((release / "data/battles").glob("*.parquet")))["question_id"][:2].to_pylist()
    path = tmp_path / "pii_ground_truth.jsonl"
    lines = [
        {"conv_id": first, "entity_type": "EMAIL_ADDRESS", "value": EMAIL},
        {"conv_id": first, "entity_type": "PERSON", "value": "Rosalind Franklin"},
        {"conv_id": second, "entity_type": "PERSON_FIRST", "value": NAME_ROW_VALUE},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def full_options(truth: Path | None = None, canaries: Path | None = None, **extra) -> VerifyOptions:
    return VerifyOptions(
        pii_ground_truth=truth, canary_file=canaries, salt=SALT.key, private_model_names=frozenset(UNRELEASED), **extra
    )


def statuses(report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def failed(report) -> set[str]:
    return {c.name for c in report.checks if c.status == "fail"}


def rewrite(release: Path, table: str, change: Callable[[list[dict]], list[dict]]) -> None:
    """Edit a table's rows and keep the manifest's checksums and counts in step, so that only the
    check that looks at the edited content can fail."""
    manifest = read_manifest(release)
    info = manifest["tables"][table]
    entry = info["files"][0]
    path = release / entry["path"]
    data = pq.read_table(path)
    rows = change(data.to_pylist())
    pq.write_table(pa.Table.from_pylist(rows, schema=data.schema), path)
    entry.update(file_entry(path, release), rows=len(rows))
    info["counts"]["drawn"] += len(rows) - info["rows"]
    info["rows"] = info["counts"]["public"] = len(rows)
    manifest["content_sha256"] = content_hash(manifest["tables"])
    write_manifest(manifest, release)


def set_prompt(index: int, text: str) -> Callable[[list[dict]], list[dict]]:
    def change(rows: list[dict]) -> list[dict]:
        rows[index]["conversation_a"][0]["content"] = text
        return rows

    return change


def test_a_clean_release_passes_every_check(release, truth, tmp_path):
    canaries = tmp_path / "canaries.txt"
    canaries.write_text("# raw IPs of the logs\n198.51.100.77\nCANARY-7f3a9c\n")
    report = verify_release(release, full_options(truth, canaries))
    assert report.ok, report.format()
    assert set(statuses(report).values()) == {"pass"}, report.format()


def test_provider_exports_pass_and_name_only_their_own_models(built):
    for provider in ("openai", "anthropic", "alpha-labs"):
        report = verify_release(built / "providers" / provider, full_options())
        assert report.ok, report.format()
        assert "fraction" not in statuses(report)  # the binomial bound is the public draw's
        assert statuses(report)["fraction_ids"] == "pass"  # every exported id is in the public share
        assert json.loads((built / "providers" / provider / MANIFEST_NAME).read_text())["provider"] == provider


def test_checks_that_lack_their_inputs_say_so(release):
    report = verify_release(release)
    assert report.ok
    skipped = {c.name: c.detail for c in report.checks if c.status == "skip"}
    assert set(skipped) == {"canaries", "pii", "names", "fraction_ids"}
    assert "salt is not at hand" in skipped["fraction_ids"]
    assert "did not run: fraction_ids, canaries, pii, names" in report.format()


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("my server at 93.184.216.7. refuses ssh", "93.184.216.7"),
        ("configure the interface with 10.0.1.40/27 please", "10.0.1.40"),
        ("ping 2a00:1450:85a3::8a2e:370:7334 works", "2a00:1450:85a3::8a2e:370:7334"),
        ("inet6 fe80::1ff:fe23:4567:890a%eth0 scope link", "fe80::1ff:fe23:4567:890a"),
        ("full form 2a00:1450:0000:0000:0000:ff00:0042:8329 here", "2a00:1450:0000:0000:0000:ff00:0042:8329"),
    ],
)
def test_a_raw_ip_in_any_message_fails(release, text, address):
    rewrite(release, "battles", set_prompt(3, text))
    report = verify_release(release, full_options())
    assert failed(report) == {"raw_ips"}
    detail = next(c.detail for c in report.checks if c.name == "raw_ips")
    assert "conversation_a[].content" in detail and "question_id=" in detail
    assert address not in report.format()  # located, and masked


@pytest.mark.parametrize(
    "text",
    [
        "snmpwalk SNMPv2-SMI::enterprises.9.9.392.1.3.21.1.20 | grep STRING",
        "upgrade from version 1.2.3 to 4.5.6 and std::vector<int> v;",
        "the meeting is at 12:30:45 on 2024.06.01",
    ],
)
def test_ip_lookalikes_pass(release, text):
    rewrite(release, "battles", set_prompt(3, text))
    assert verify_release(release, full_options()).ok


def test_a_leak_is_found_with_the_clean_texts_of_earlier_scans_at_hand(release, tmp_path):
    """The texts an earlier verification found clean are not checked again; a text edited since is."""
    options = full_options(clean_strings=tmp_path / "clean")
    assert verify_release(release, options).ok
    assert list((tmp_path / "clean").rglob("*.npy"))
    rewrite(release, "battles", set_prompt(0, "write to rosalind.franklin@kings-college.co.uk today"))
    report = verify_release(release, options)
    assert failed(report) == {"pii_patterns"} and "email rosa…" in report.format()


def test_documentation_addresses_are_not_raw_ips(release):
    rewrite(release, "battles", set_prompt(3, "e.g. ping 192.0.2.10, 198.51.100.7, 203.0.113.9 or 2001:db8::1"))
    assert verify_release(release, full_options()).ok


def test_allowed_networks_and_string_columns_outside_messages(release):
    rewrite(release, "battles", set_prompt(3, "my router is 10.0.1.40"))
    allowed = full_options(allowed_ip_networks=(__import__("ipaddress").ip_network("10.0.0.0/8"),))
    assert verify_release(release, allowed).ok

    def judge_is_an_ip(rows):
        rows[0]["judge"] = "93.184.216.77"
        return rows

    rewrite(release, "battles", judge_is_an_ip)
    report = verify_release(release, allowed)
    assert failed(report) == {"raw_ips"} and " judge:" in report.format()


def test_a_canary_value_anywhere_fails(release, tmp_path):
    canaries = tmp_path / "canaries.txt"
    canaries.write_text("CANARY-7f3a9c\n")
    rewrite(
        release,
        "conversations",
        lambda rows: [
            {**r, "conversation": [*r["conversation"][:1], {"role": "assistant", "content": "x CANARY-7f3a9c y"}]}
            if i in (5, 9)  # the same text twice: each string is looked at once, each place reported
            else r
            for i, r in enumerate(rows)
        ],
    )
    report = verify_release(release, full_options(canaries=canaries))
    assert failed(report) == {"canaries"}
    ids = pq.read_table(next((release / "data/conversations").glob("*.parquet")))["conversation_id"]
    problems = next(c.problems for c in report.checks if c.name == "canaries")
    assert [re.search(r"_id=(\S+) ", p).group(1) for p in problems] == [ids[5].as_py(), ids[9].as_py()]


def test_planted_pii_fails_anywhere_and_single_names_in_their_own_conversation(release, truth):
    rewrite(release, "battles", set_prompt(10, f"mail me at {EMAIL} tomorrow"))
    report = verify_release(release, full_options(truth))
    assert failed(report) == {"pii", "pii_patterns"} and EMAIL not in report.format()


def test_a_planted_first_name_fails_only_in_its_own_conversation(release, truth):
    rewrite(release, "battles", set_prompt(10, f"{NAME_ROW_VALUE} is a common name in this unrelated chat"))
    assert verify_release(release, full_options(truth)).ok
    rewrite(release, "battles", set_prompt(1, f"Write a birthday poem for {NAME_ROW_VALUE}, she loves hiking"))
    assert failed(verify_release(release, full_options(truth))) == {"pii"}


def test_a_non_leaderboard_name_in_a_model_column_fails(release):
    def leak(rows):
        rows[0]["model_a"] = "secret-model-alpha"
        return rows

    rewrite(release, "battles", leak)
    report = verify_release(release, VerifyOptions(salt=SALT.key))
    assert failed(report) == {"models"} and "secret-model-alpha" in report.format()


def test_an_unreleased_model_name_in_text_fails_given_the_private_names(release):
    rewrite(release, "battles", set_prompt(2, "As Secret-Model-Alpha, I cannot answer that."))
    assert verify_release(release, VerifyOptions(salt=SALT.key)).ok
    assert failed(verify_release(release, full_options())) == {"names"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.append_column("ip", pa.array(["x"] * len(t))), "columns"),
        (lambda t: t.set_column(t.column_names.index("turn"), "turn", t["turn"].cast(pa.int32())), "turn is int32"),
        (
            lambda t: t.set_column(
                t.column_names.index("openai_moderation"), "openai_moderation", pa.array(["flagged"] * len(t))
            ),
            "openai_moderation is string, expected struct",
        ),
    ],
)
def test_a_schema_change_fails(release, change, message):
    manifest = read_manifest(release)
    entry = manifest["tables"]["battles"]["files"][0]
    path = release / entry["path"]
    pq.write_table(change(pq.read_table(path)), path)
    entry.update(file_entry(path, release))
    manifest["content_sha256"] = content_hash(manifest["tables"])
    write_manifest(manifest, release)
    report = verify_release(release, full_options())
    assert failed(report) == {"schema"} and message in report.format()


def test_counts_must_match_the_manifest_and_ids_be_unique(release):
    manifest = read_manifest(release)
    manifest["tables"]["conversations"]["rows"] += 1
    write_manifest(manifest, release)
    assert failed(verify_release(release, full_options())) == {"counts"}


def test_a_duplicated_battle_fails_counts(release):
    rewrite(release, "battles", lambda rows: rows + rows[:1])
    assert failed(verify_release(release, full_options())) == {"counts"}


def test_unlisted_or_changed_files_fail(release):
    shutil.copy(next((release / "data/battles").glob("*.parquet")), release / "data/battles/extra.parquet")
    report = verify_release(release, full_options())
    assert "files" in failed(report) and "extra.parquet: data file not in the manifest" in report.format()
    (release / "data/battles/extra.parquet").unlink()
    with open(next((release / "data/conversations").glob("*.parquet")), "ab") as f:
        f.write(b"\0")
    report = verify_release(release, full_options())
    assert failed(report) == {"files", "counts"}, report.format()
    assert "sha256 differs" in report.format() and "not readable as Parquet" in report.format()
    assert "rows not countable, 1 data files unreadable" in report.format()


def test_a_held_back_row_is_caught_with_the_salt(release, built):
    public_ids = set(pq.read_table(next((release / "data/battles").glob("*.parquet")))["question_id"].to_pylist())
    held_back = next(b for b in make_battles(400, seed=11).to_pylist() if b["question_id"] not in public_ids)
    template = pq.read_table(next((release / "data/battles").glob("*.parquet"))).to_pylist()[0]
    extra = {**template, "question_id": held_back["question_id"]}
    rewrite(release, "battles", lambda rows: rows + [extra])
    report = verify_release(release, full_options())
    assert failed(report) == {"fraction_ids"} and "1 published ids are outside the public share" in report.format()
    without_salt = verify_release(release, VerifyOptions())
    assert without_salt.ok  # one extra row is within the count bound: only the salt can tell
    wrong_salt = verify_release(release, VerifyOptions(salt=b"another-salt-0123456789abcdef"))
    assert "not the release's" in wrong_salt.format()


def test_a_grossly_wrong_fraction_fails_without_the_salt(release):
    manifest = read_manifest(release)
    counts = manifest["tables"]["battles"]["counts"]
    counts["in_window"] = counts["input"] = counts["in_window"] * 3
    write_manifest(manifest, release)
    report = verify_release(release)
    assert failed(report) == {"fraction"} and "drawn, expected" in report.format()


def test_the_card_must_list_every_table_with_matching_globs(release):
    card = (release / "README.md").read_text()
    assert "path: data/conversations/train-" in card
    (release / "README.md").write_text(card.replace("path: data/conversations/train-", "path: data/conv/train-"))
    report = verify_release(release, full_options())
    assert failed(report) == {"card"} and "miss" in report.format()
    (release / "README.md").write_text(card.split("---\n", 2)[2])
    assert "no YAML header" in verify_release(release, full_options()).format()


def test_a_required_stage_marked_not_run_fails(release):
    manifest = read_manifest(release)
    manifest["stages"]["battles"]["pii"] = {"status": "not_run", "reason": "tampered"}
    write_manifest(manifest, release)
    assert failed(verify_release(release, full_options())) == {"stages"}


def test_no_manifest_is_one_clear_failure(release):
    (release / MANIFEST_NAME).unlink()
    report = verify_release(release)
    assert [c.name for c in report.checks] == ["manifest"] and not report.ok


def test_dev_salt_is_reported_loudly(built, tmp_path):
    battles = make_battles(50, seed=2)
    build_release(release_config(), Salt(DEV_SALT, "dev_default", "ARENA_RELEASE_SALT"), tmp_path / "r", battles)
    report = verify_release(tmp_path / "r")
    assert report.ok and statuses(report)["salt"] == "warn"


# ---------------------------------------------------------------------------------------- command


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    verify_command.register(parser.add_subparsers())
    args = parser.parse_args(["verify", *argv])
    return args.func(args)


def test_command_exit_codes(release, truth, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ARENA_RELEASE_SALT", SALT.key.decode())
    # Without a canary file or the private config, two checks cannot run: that fails, as at the gate ...
    assert run_cli(str(release), "--pii-ground-truth", str(truth)) == 1
    out = capsys.readouterr().out
    assert "FAIL  canaries" in out and "a check that did not run is not a pass" in out
    # ... unless the caller only wants what can be checked, and is told what was not.
    assert run_cli(str(release), "--pii-ground-truth", str(truth), "--allow-skipped") == 0
    out = capsys.readouterr().out
    assert "PASS  fraction_ids" in out and "every published id re-drawn" in out
    assert "OK: no check failed; did not run: canaries, names" in out
    rewrite(release, "battles", set_prompt(0, "reach me at 93.184.216.9"))
    assert run_cli(str(release), "--allow-skipped") == 1
    assert "FAIL  raw_ips" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError):
        run_cli(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError):
        run_cli(str(release), "--canaries", str(tmp_path / "missing.txt"))


def test_command_reads_the_private_config(release, tmp_path, capsys):
    config = tmp_path / "release.yaml"
    data = json.loads(json.dumps(release_config().model_dump(mode="json")))
    data["sampling_salt"] = {"env": "ARENA_RELEASE_SALT_UNSET_IN_TESTS"}
    config.write_text(json.dumps(data))
    rewrite(release, "battles", set_prompt(0, "internal-preview-0815 says hello"))
    assert run_cli(str(release), "--config", str(config)) == 1
    assert "FAIL  names" in capsys.readouterr().out


def test_verify_a_published_hub_revision(built, tmp_path, monkeypatch, capsys):
    from huggingface_hub import HfApi
    from huggingface_hub import constants as hf_constants

    from tests.hubserver import HubServer

    token = "hf_verifyTestToken0123456789abcdef"
    with HubServer(tokens={token: "arena-bot"}, orgs={"arena": {"arena-bot"}}) as hub:
        monkeypatch.setenv("HF_TOKEN", token)
        monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
        api = HfApi(endpoint=hub.url, token=token)
        api.create_repo("arena/conversations", repo_type="dataset")
        api.upload_folder(
            repo_id="arena/conversations", repo_type="dataset", folder_path=built / "release", commit_message="release"
        )
        api.create_tag("arena/conversations", tag="2024.06-example", repo_type="dataset")
        tag = ("arena/conversations", "--revision", "2024.06-example", "--endpoint", hub.url)
        # The public's view: no private config, ground truth, canaries or salt, so four checks cannot run.
        assert run_cli(*tag) == 1
        out = capsys.readouterr().out
        assert "verify arena/conversations@2024.06-example" in out and "did not run (" in out
        assert run_cli(*tag, "--allow-skipped") == 0
        assert "did not run: fraction_ids, canaries, pii, names" in capsys.readouterr().out
        # The steward's: the private config with every input, and the salt: every check runs and passes.
        canaries, truth = tmp_path / "canaries.txt", tmp_path / "truth.jsonl"
        canaries.write_text("93.184.216.34\n")
        truth.write_text(json.dumps({"conv_id": "none", "entity_type": "PERSON", "value": "Rosalind Franklin"}) + "\n")
        data = json.loads(json.dumps(release_config().model_dump(mode="json")))
        data["verify"] |= {"canary_file": str(canaries), "pii_ground_truth": str(truth)}
        data["sampling_salt"] = {"env": "ARENA_RELEASE_SALT"}
        (tmp_path / "release.yaml").write_text(json.dumps(data))
        monkeypatch.setenv("ARENA_RELEASE_SALT", SALT.key.decode())
        assert run_cli(*tag, "--config", str(tmp_path / "release.yaml")) == 0
        out = capsys.readouterr().out
        assert "OK: no check failed" in out and "did not run" not in out and "PASS  fraction_ids" in out
        with pytest.raises(UsageError, match="cannot fetch"):
            run_cli("arena/missing", "--revision", "v0", "--endpoint", hub.url)


def test_single_battle_release_without_conversations(tmp_path):
    build_release(release_config(public_fraction=1.0), SALT, tmp_path / "r", battles_table([battle("only")]))
    report = verify_release(tmp_path / "r", VerifyOptions(salt=SALT.key))
    assert report.ok, report.format()


def test_without_redaction_verify_finds_the_planted_pii_of_every_published_row(ingested, synth_logs, tmp_path,
                                                                                monkeypatch):
    """Real synthetic logs through the real ingest, released with no PII stage: the release filters withhold
    the rows still holding structured PII and, that many, block the release. Were that filter broken too,
    verify would still report every published conversation that had PII planted, and its raw IPs."""
    tables, _ = ingested
    battles, conversations = pq.read_table(tables / "battles.parquet"), pq.read_table(tables / "conversations.parquet")
    example_leaderboard = yaml.safe_load(EXAMPLE_CONFIG.read_text())["leaderboard"]
    config = release_config(required_stages=[], leaderboard=example_leaderboard)
    with pytest.raises(ReleaseBlocked, match="redaction failed systematically"):
        build_release(config, SALT, tmp_path / "r", battles, conversations)
    monkeypatch.setattr(policy, "residual_pii_rows", lambda table, *_: np.zeros(table.num_rows, dtype=bool))
    build_release(config, SALT, tmp_path / "r", battles, conversations)
    truth = synth_logs / "pii_ground_truth.jsonl"
    report = verify_release(tmp_path / "r", VerifyOptions(pii_ground_truth=truth, salt=SALT.key))
    assert failed(report) == {"raw_ips", "pii", "pii_patterns"}

    planted = [json.loads(line) for line in truth.read_text().splitlines()]
    published = set()
    for table, column in (("battles", "question_id"), ("conversations", "conversation_id")):
        published |= set(pq.read_table(tmp_path / "r" / "data" / table)[column].to_pylist())
    expected = {p["conv_id"] for p in planted if p["conv_id"] in published}
    expected_ips = {p["conv_id"] for p in planted if p["conv_id"] in published and p["entity_type"] == "IP_ADDRESS"}
    checks = {c.name: c for c in report.checks}
    reported = {re.search(r"_id=(\w+) ", problem).group(1) for problem in checks["pii"].problems}
    reported_ips = {re.search(r"_id=(\w+) ", problem).group(1) for problem in checks["raw_ips"].problems}
    assert expected and expected <= reported
    assert expected_ips and expected_ips <= reported_ips


def test_a_verify_input_that_cannot_be_read_fails_its_check(release, tmp_path):
    report = verify_release(release, full_options(truth=tmp_path / "missing.jsonl", canaries=tmp_path))
    assert failed(report) == {"pii", "canaries"}
    assert "cannot read " + str(tmp_path / "missing.jsonl") in report.format()


def test_canary_values_are_matched_literally(release, tmp_path):
    canaries = tmp_path / "canaries.txt"
    canaries.write_text("x.y\nab\\Ecd\n[tok]+(1)\n")
    rewrite(release, "battles", set_prompt(4, "xzy and abEcd and tok1 are not the canaries"))
    assert verify_release(release, full_options(canaries=canaries)).ok
    for text in ("see x.y here", "raw ab\\Ecd value", "a [tok]+(1) b"):
        rewrite(release, "battles", set_prompt(4, text))
        assert failed(verify_release(release, full_options(canaries=canaries))) == {"canaries"}, text


def test_a_model_named_by_an_earlier_leaderboard_is_not_an_unreleased_name(release):
    manifest = read_manifest(release)
    manifest["leaderboard_models"] = sorted([*manifest["leaderboard_models"], "internal-preview-0815"])
    write_manifest(manifest, release)
    rewrite(release, "battles", set_prompt(0, "internal-preview-0815 was on last month's leaderboard"))
    assert verify_release(release, full_options()).ok


def test_a_manifest_missing_what_verify_reads_is_one_clear_failure(release):
    manifest = read_manifest(release)
    del manifest["tables"]["battles"]["counts"]["drawn"]
    manifest["tables"]["conversations"]["files"][0].pop("sha256")
    write_manifest(manifest, release)
    report = verify_release(release)
    assert [c.name for c in report.checks] == ["manifest"]
    assert "tables.battles.counts lacks drawn" in report.format()
    assert "tables.conversations.files[0] needs path, sha256, bytes, rows" in report.format()
