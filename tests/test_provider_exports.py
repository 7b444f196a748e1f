"""Provider exports: each row marks the provider's own side; the blocking export checks pass on a clean
export and each kind of damage fails its own check."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from battle_fixtures import LEADERBOARD, PROVIDERS, make_battles, make_conversations, release_config

from pipeline import policy
from pipeline.card import CARD_NAME
from pipeline.manifest import MANIFEST_NAME, content_hash, file_entry, read_manifest, write_manifest
from pipeline.release_build import build_release, select_share
from pipeline.release_config import Salt
from pipeline.verify import verify_provider_export, verify_release

SALT = Salt(b"export-test-salt-0123456789abcdef", "env:ARENA_RELEASE_SALT", "ARENA_RELEASE_SALT")
CONFIG = release_config()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Provider exports of 400 battles and their conversations, and the private share they came from."""
    root = tmp_path_factory.mktemp("exports")
    battles = make_battles(400, seed=21)
    conversations = make_conversations(battles, singles=100, seed=21)
    tables = {"battles": battles, "conversations": conversations}
    build_release(CONFIG, SALT, root / "release", battles, conversations, provider_dir=root / "providers")
    share = select_share(CONFIG, SALT, tables)
    (root / "share").mkdir()
    for name, table in share.tables.items():
        pq.write_table(table, root / "share" / f"{name}.parquet")
    return root


@pytest.fixture
def export(built, tmp_path) -> Path:
    copy = tmp_path / "openai"
    shutil.copytree(built / "providers" / "openai", copy)
    return copy


def failed(report) -> set[str]:
    return {c.name for c in report.checks if c.status == "fail"}


def rows_of(export: Path, table: str) -> pa.Table:
    return pq.read_table(export / "data" / table)


def rewrite(export: Path, table: str, change: Callable[[list[dict]], list[dict]]) -> None:
    """Edit a table's rows, keeping checksums and counts in step so only the content checks can fail."""
    manifest = read_manifest(export)
    info = manifest["tables"][table]
    entry = info["files"][0]
    path = export / entry["path"]
    data = pq.read_table(path)
    rows = change(data.to_pylist())
    pq.write_table(pa.Table.from_pylist(rows, schema=data.schema), path)
    entry.update(file_entry(path, export), rows=len(rows))
    info["rows"] = info["counts"]["exported"] = len(rows)
    manifest["content_sha256"] = content_hash(manifest["tables"])
    write_manifest(manifest, export)


# ---------------------------------------------------------------------------------------- side marker


def test_side_marker_says_which_side_is_the_providers_own():
    share = make_battles(300, seed=3)
    openai = PROVIDERS["openai"]
    export = policy.provider_export(share, openai, LEADERBOARD, "anonymous")
    truth = share.filter(pc.or_(pc.is_in(share["model_a"], pa.array(openai)),
                                pc.is_in(share["model_b"], pa.array(openai))))
    sides = export["own_side"].to_pylist()
    for a, b, side in zip(truth["model_a"].to_pylist(), truth["model_b"].to_pylist(), sides, strict=True):
        assert side == ("both" if a in openai and b in openai else "a" if a in openai else "b")
    # The unreleased internal-preview-0815 stays anonymous but its rows are marked as openai's.
    preview = pc.or_(pc.equal(truth["model_a"], "internal-preview-0815"),
                     pc.equal(truth["model_b"], "internal-preview-0815"))
    marked = export.filter(preview)
    assert len(marked) > 0
    assert "internal-preview-0815" not in set(export["model_a"].to_pylist()) | set(export["model_b"].to_pylist())
    for row in marked.to_pylist():
        own = [row["model_a"]] if row["own_side"] == "a" else [row["model_b"]] if row["own_side"] == "b" else []
        assert all(model in ("anonymous", "gpt-4-0613") for model in own)


def test_alpha_labs_finds_its_unreleased_model_in_every_row(built):
    battles = rows_of(built / "providers" / "alpha-labs", "battles")
    assert len(battles) > 0
    assert set(battles["model_a"].to_pylist()) | set(battles["model_b"].to_pylist()) == {"anonymous"}
    assert set(battles["own_side"].to_pylist()) <= {"a", "b", "both"} and battles["own_side"].null_count == 0
    conversations = rows_of(built / "providers" / "alpha-labs", "conversations")
    assert len(conversations) > 0 and conversations["own_model"].to_pylist() == [True] * len(conversations)


def test_exports_document_the_marker_and_keep_the_public_columns_first(built):
    for provider in PROVIDERS:
        export = built / "providers" / provider
        for table, marker in (("battles", "own_side"), ("conversations", "own_model")):
            names = pq.read_schema(next((export / "data" / table).glob("*.parquet"))).names
            assert names == [n for n, _ in policy.TABLE_KINDS[table].public_columns] + [marker]
        assert "`own_side`" in (export / CARD_NAME).read_text()
        assert verify_release(export).ok, verify_release(export).format()


# ---------------------------------------------------------------------------------------- export checks


def test_every_clean_export_passes_every_export_check(built):
    for provider in PROVIDERS:
        report = verify_provider_export(built / "providers" / provider, provider, CONFIG, built / "share")
        assert report.ok, report.format()
        assert {c.name for c in report.checks} == {
            "export_manifest", "export_rows", "export_opponents", "export_share", "export_other_providers",
            "export_unreleased", "export_terms"}


def test_an_export_checked_as_another_providers_fails(built):
    report = verify_provider_export(built / "providers" / "openai", "anthropic", CONFIG)
    assert failed(report) == {"export_manifest"}


@pytest.mark.parametrize(
    ("damage", "check"),
    [
        (lambda rows: [{**r, "model_b": "claude-1"} if r["own_side"] == "a" else r for r in rows], "export_opponents"),
        (lambda rows: [{**r, "own_side": None} for r in rows[:1]] + rows[1:], "export_rows"),
        (lambda rows: [{**r, "model_a": "vicuna-13b", "own_side": "a"} for r in rows[:1]] + rows[1:], "export_rows"),
    ],
)
def test_a_damaged_row_fails_its_check(export, damage, check):
    rewrite(export, "battles", damage)
    report = verify_provider_export(export, "openai", CONFIG)
    assert check in failed(report), report.format()
    assert "export_manifest" not in failed(report)


def test_rows_that_are_not_the_providers_fail_against_the_share(export, built):
    anthropic = rows_of(built / "providers" / "anthropic", "battles").to_pylist()
    stray = [{**r, "own_side": "a", "model_a": "anonymous", "model_b": "anonymous"} for r in anthropic
             if r["model_a"] != "gpt-4-0613" and r["model_b"] != "gpt-4-0613"][:1]
    rewrite(export, "battles", lambda rows: rows + stray)
    report = verify_provider_export(export, "openai", CONFIG, built / "share")
    assert failed(report) == {"export_share"}, report.format()
    rewrite(export, "battles", lambda rows: [{**r, "own_side": "b" if r["own_side"] == "a" else r["own_side"]}
                                             for r in rows[:-1]])
    assert "export_share" in failed(verify_provider_export(export, "openai", CONFIG, built / "share"))


def set_first_prompt(text: str) -> Callable[[list[dict]], list[dict]]:
    def change(rows: list[dict]) -> list[dict]:
        rows[0]["conversation_a"][0]["content"] = text
        return rows

    return change


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("compare this with claude-1 please", "export_other_providers"),
        ("as secret-model-alpha would say", "export_other_providers"),
        ("you are internal-preview-0815, right?", "export_unreleased"),
    ],
)
def test_a_model_name_the_export_must_not_show_fails_in_data(export, text, check):
    rewrite(export, "battles", set_first_prompt(text))
    report = verify_provider_export(export, "openai", CONFIG)
    assert failed(report) == {check}, report.format()
    assert "claude-1" not in report.format() and "internal-preview" not in report.format()


def test_a_versioned_name_that_only_starts_like_another_providers_passes(export):
    rewrite(export, "battles", set_first_prompt("claude-1.3 and claude-1x and my-claude-1 are other names"))
    assert verify_provider_export(export, "openai", CONFIG).ok


@pytest.mark.parametrize("file", [CARD_NAME, MANIFEST_NAME])
def test_names_in_the_card_or_manifest_fail(export, file):
    path = export / file
    text = path.read_text()
    path.write_text(text.replace("openai", "openai (internal-preview-0815, vs claude-1)", 1))
    report = verify_provider_export(export, "openai", CONFIG)
    assert {"export_other_providers", "export_unreleased"} <= failed(report), report.format()


def test_a_public_license_on_an_export_card_fails(export):
    card = export / CARD_NAME
    text = card.read_text()
    assert "license: other" in text and "cc-by-4.0" not in text
    card.write_text(text.replace("license: other", "license: cc-by-4.0", 1))
    assert failed(verify_provider_export(export, "openai", CONFIG)) == {"export_terms"}
    card.write_text(text.replace(CONFIG.card.provider_terms, "Use freely."))
    assert failed(verify_provider_export(export, "openai", CONFIG)) == {"export_terms"}


def test_the_export_card_carries_the_configured_terms(tmp_path):
    terms = "Provider terms v2: internal evaluation only."
    config = release_config(card={"provider_terms": terms, "provider_license_name": "arena-terms-v2"})
    battles = make_battles(120, seed=4)
    build_release(config, SALT, tmp_path / "r", battles, provider_dir=tmp_path / "p")
    card = (tmp_path / "p" / "openai" / CARD_NAME).read_text()
    assert terms in card and "license_name: arena-terms-v2" in card
    assert verify_provider_export(tmp_path / "p" / "openai", "openai", config).ok
    assert json.loads((tmp_path / "r" / MANIFEST_NAME).read_text())["kind"] == "public"
    assert "license: cc-by-4.0" in (tmp_path / "r" / CARD_NAME).read_text()


def test_the_release_stage_checks_every_configured_providers_export(built, tmp_path, monkeypatch):
    """Each export gets the public release's checks and its own, recorded for the publishing gate."""
    from assets.release import RELEASE_CHECKS, provider_export_verification
    from pipeline.gate import read_record, record_path
    from pipeline.release import ReleaseWorkspace, verify_provider_exports

    monkeypatch.setenv("ARENA_RELEASE_SALT", SALT.key.decode())
    waived = {"canaries": "no canary file for these fixtures", "pii": "no PII planted in these fixtures"}
    config = CONFIG.model_copy(update={"verify": CONFIG.verify.model_copy(update={"waivers": waived})})
    ws = ReleaseWorkspace(tmp_path, config.version)
    shutil.copytree(built / "share", ws.root / "share")
    shutil.copytree(built / "providers", ws.provider_dir)
    reports = verify_provider_exports(config, ws)
    assert all(report.ok for report in reports.values()), {p: r.format() for p, r in reports.items()}
    assert {"fraction_ids", "raw_ips", "export_share", "export_terms"} <= {c.name for c in reports["openai"].checks}
    assert read_record(record_path(ws.root, "providers/openai")).passed
    shutil.rmtree(ws.provider_dir / "anthropic")
    rewrite(ws.provider_dir / "openai", "battles", set_first_prompt("ask claude-1"))
    reports = verify_provider_exports(config, ws)
    assert set(reports) == set(PROVIDERS)
    assert failed(reports["anthropic"]) == {"export_manifest"} and failed(reports["openai"]) == {
        "export_other_providers"} and reports["alpha-labs"].ok
    assert not read_record(record_path(ws.root, "providers/openai")).passed
    spec = next(iter(provider_export_verification.check_specs))
    assert spec.blocking and provider_export_verification in RELEASE_CHECKS
