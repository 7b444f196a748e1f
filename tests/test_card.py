"""Dataset card and manifest of a built release: what they say, and that they say nothing private."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from battle_fixtures import (
    EXAMPLE_CONFIG,
    LEADERBOARD,
    UNRELEASED,
    battle,
    battles_table,
    make_battles,
    make_conversations,
    moderation,
    release_config,
)
from pydantic import ValidationError

from pipeline.card import read_card_header, render_card
from pipeline.manifest import MANIFEST_NAME, file_entry, read_manifest, sha256_file
from pipeline.policy import StageStatus, public_share_mask
from pipeline.release_build import build_release
from pipeline.release_config import Salt, config_hash

SALT = Salt(b"card-test-salt-0123456789abcdef", "env:ARENA_RELEASE_SALT", "ARENA_RELEASE_SALT")
REPORTS = {
    "pii": StageStatus("pii", "ok", model="presidio-analyzer+en_core_web_sm", model_version="2.2.366"),
    "moderation": StageStatus("moderation", "not_run", "no OpenAI API key in the environment"),
}


def in_share(prefix: str) -> str:
    """An id with this prefix that the card tests' salt draws into the 20% public share."""
    return next(f"{prefix}-{i}" for i in range(1000) if public_share_mask([f"{prefix}-{i}"], SALT.key, 0.2)[0].as_py())


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("card")
    battles = make_battles(300, seed=21)
    rows = battles.to_pylist()
    flagged, short = (in_share(prefix) for prefix in ("flag-me", "too-short"))
    rows[0] = battle(flagged, openai_moderation=moderation(True), model_b="secret-model-alpha")
    rows[1] = battle(short, prompt="hey")
    battles = battles_table(rows)
    logs = root / "logs"
    logs.mkdir()
    (logs / "2024-06-01-conv.json").write_text('{"type": "chat"}\n')
    config = release_config(filters={"blocked_models": ["internal-preview-0815"], "blocked_words": ["zebra"]})
    manifest = build_release(
        config,
        SALT,
        root / "release",
        battles,
        make_conversations(battles, 50, seed=21),
        stage_reports=REPORTS,
        inputs=[file_entry(logs / "2024-06-01-conv.json", logs)],
    )
    return root / "release", manifest


def card_text(release) -> str:
    return (release[0] / "README.md").read_text()


def test_header_has_one_config_per_table_license_languages_and_tags(release):
    header = read_card_header(card_text(release))
    assert [c["config_name"] for c in header["configs"]] == ["battles", "conversations"]
    version = release[1]["version"]
    assert header["configs"][0]["data_files"] == [{"split": "train", "path": f"data/battles/train-{version}-*.parquet"}]
    assert header["license"] == "cc-by-4.0"
    assert header["language"] == ["de", "en"]
    assert header["size_categories"] == ["n<1K"]
    assert "text-generation" in header["task_categories"] and "chatbot-arena" in header["tags"]


def test_datasets_loads_each_config_from_the_card(release, tmp_path):
    import datasets

    for name in ("battles", "conversations"):
        loaded = datasets.load_dataset(str(release[0]), name, split="train", cache_dir=str(tmp_path))
        assert len(loaded) == release[1]["tables"][name]["rows"]
    assert set(loaded.column_names) >= {"conversation_id", "model", "conversation", "redacted"}


def test_body_gives_counts_models_filters_stages_and_disclaimers(release):
    text = card_text(release)
    manifest = release[1]
    battles = manifest["tables"]["battles"]
    assert f"### `battles`: {battles['rows']:,} rows" in text
    assert "| `anonymous` |" in text and "| `gpt-4-0613` |" in text
    assert "dropped: flagged by the moderation stage (`moderation_flagged`) | 1 |" in text
    assert "dropped: at most 2 messages and every prompt under 16 characters (`too_short`) | 1 |" in text
    assert "1 blocked words, 1 blocked models" in text
    assert "| pii | battles | ok (required) | presidio-analyzer+en_core_web_sm | 2.2.366 |" in text
    assert "| moderation | battles | not_run | not reported | not reported | no OpenAI API key" in text
    assert "**Some classifier stages did not run:**" in text
    assert "## Disclaimers and terms" in text and "## Changes since" not in text
    for image in ("battle_counts.png", "win_fraction.png", "languages.png"):
        assert f"(images/{image})" in text
        assert (release[0] / "images" / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_card_and_manifest_name_no_unreleased_model_or_private_word(release):
    for name in ("README.md", MANIFEST_NAME):
        text = (release[0] / name).read_text()
        for private in (*UNRELEASED, "zebra", "card-test-salt"):
            assert private not in text, (name, private)


def test_manifest_records_config_inputs_counts_stages_and_code(release):
    path, manifest = release
    assert read_manifest(path) == json.loads((path / MANIFEST_NAME).read_text())
    config = release_config(filters={"blocked_models": ["internal-preview-0815"], "blocked_words": ["zebra"]})
    assert manifest["config_hash"] == config_hash(config)
    assert manifest["inputs"] == [
        {
            "path": "2024-06-01-conv.json",
            "sha256": sha256_file(path.parent / "logs" / "2024-06-01-conv.json"),
            "bytes": 17,
        }
    ]
    counts = manifest["tables"]["battles"]["counts"]
    assert counts["input"] == counts["in_window"] == 300
    assert counts["drawn"] == counts["public"] + sum(counts["dropped"].values()) < 300
    assert counts["dropped"]["moderation_flagged"] == counts["dropped"]["too_short"] == 1
    assert counts["public"] == manifest["tables"]["battles"]["rows"]
    assert manifest["stages"]["battles"]["moderation"] == {
        "status": "not_run",
        "reason": "no OpenAI API key in the environment",
        "model": None,
        "version": None,
    }
    assert manifest["salt"] == SALT.describe() and SALT.key.decode() not in json.dumps(manifest)
    assert set(manifest["code"]) == {"package", "git_commit", "git_dirty"}
    for entry in manifest["tables"]["battles"]["files"]:
        assert sha256_file(path / entry["path"]) == entry["sha256"]
        assert pq.ParquetFile(path / entry["path"]).metadata.num_rows == entry["rows"]


def test_the_same_release_built_twice_has_the_same_content_hash(release, tmp_path):
    battles = make_battles(300, seed=21)
    first = build_release(release_config(), SALT, tmp_path / "a", battles)
    second = build_release(release_config(), SALT, tmp_path / "b", battles)
    assert first["content_sha256"] == second["content_sha256"]
    other = build_release(release_config(public_fraction=0.3), SALT, tmp_path / "c", battles)
    assert other["content_sha256"] != first["content_sha256"]


def test_changelog_against_the_previous_manifest(release, tmp_path):
    _, previous = release
    manifest = json.loads(json.dumps(previous))
    manifest.update(
        version="2024.07",
        public_fraction=0.25,
        config_hash="0" * 64,
        leaderboard_models=sorted([*LEADERBOARD, "gemini-1.5-pro"]),
        current_leaderboard=sorted([*LEADERBOARD[1:], "gemini-1.5-pro"]),
        log_window={"start": "2024-06-01", "end": "2024-07-31"},
    )
    manifest["tables"]["battles"]["rows"] += 40
    manifest["stages"]["battles"]["moderation"] = {
        "status": "ok",
        "model": "omni-moderation-latest",
        "version": "2024-09-26",
        "reason": None,
    }
    text = render_card(manifest, previous)
    section = text[text.index("## Changes since 2024.06-example") :]
    rows = previous["tables"]["battles"]["rows"]
    assert f"- rows: battles {rows:,} -> {rows + 40:,}" in section
    assert "- log window: 2024-06-01..2024-06-30 -> 2024-06-01..2024-07-31" in section
    assert "- public share: 20% -> 25%" in section
    assert "- now named (joined the leaderboard): `gemini-1.5-pro`" in section
    assert f"- left the leaderboard (still named: a model once on it keeps its name): `{LEADERBOARD[0]}`" in section
    assert "- battles moderation: not_run -> ok omni-moderation-latest 2024-09-26" in section
    assert "- release config changed" in section


def test_provider_export_card_says_what_it_is(tmp_path):
    build_release(release_config(), SALT, tmp_path / "r", make_battles(200, seed=3), provider_dir=tmp_path / "p")
    text = (tmp_path / "p" / "openai" / "README.md").read_text()
    assert "Early access for openai; not for redistribution." in text
    assert "| `gpt-4-0613` |" in text and "`claude-1`" not in text


def test_card_has_a_pinned_load_snippet_collection_pii_limitations_citation_and_contact(release):
    text = card_text(release)
    repo, version = release[1]["repo_id"], release[1]["version"]
    assert repo == "example/chatbot-arena-conversations"
    assert f'battles = load_dataset("{repo}", "battles", split="train", revision="{version}")' in text
    for section in ("## Collection and terms", "## Personal information", "## Limitations", "## Citation",
                    "## Contact"):
        assert section in text, section
    assert "terms of use" in text and "presidio-analyzer+en_core_web_sm 2.2.366" in text
    assert "public figures and fictional characters included" in text  # the redaction policy, stated
    assert "OWNER/NAME" not in text and "REPO" not in text


def test_the_example_card_shows_the_measured_held_out_figures_and_what_measured_them(release):
    """release_configs/pii_evaluation.json, written by bench_redaction.py --write-evaluation, as a table."""
    evaluation = json.loads((EXAMPLE_CONFIG.parent / "pii_evaluation.json").read_text())
    assert evaluation["split"] == "test" and evaluation["bench"].startswith("bench/bench_redaction.py --heldout test")
    text = card_text(release)
    assert f"by `{evaluation['bench']}`, split `test`, on {evaluation['measured_at']}" in text
    assert "| held-out figure | rate | of |" in text and "NOT MEASURED" not in text
    assert any(name.startswith("names, ") for name in evaluation["figures"])
    assert any(name.startswith("structured, ") for name in evaluation["figures"])
    for name, figure in evaluation["figures"].items():
        assert figure["rate"] == round(figure["found"] / figure["total"], 3)
        assert f"| {name} | {figure['rate']:.3f} | {figure['found']:,} / {figure['total']:,} |" in text


def test_without_an_evaluation_the_card_says_pii_recall_was_not_measured(tmp_path):
    card = release_config().card.model_copy(update={"pii_evaluation": None})
    build_release(release_config(card=card.model_dump()), SALT, tmp_path / "r", make_battles(100, seed=2))
    text = (tmp_path / "r" / "README.md").read_text()
    assert "**Recall and precision: NOT MEASURED for this release**" in text  # never an invented figure


def test_gating_terms_reach_the_public_cards_header_and_body_but_not_an_export(tmp_path):
    gating = {"prompt": "You agree to use this data for research only.\nDo not try to identify anyone.",
              "fields": {"Affiliation": "text", "Country": "country", "I agree to the terms above": "checkbox",
                         "Intended use": {"type": "select", "options": ["research", "education"]}},
              "button": "Accept and access"}
    card = release_config().card.model_dump() | {"gating": gating}
    build_release(release_config(card=card), SALT, tmp_path / "r", make_battles(100, seed=4),
                  provider_dir=tmp_path / "p")
    text = (tmp_path / "r" / "README.md").read_text()
    header = read_card_header(text)
    assert header["extra_gated_prompt"] == gating["prompt"]
    assert header["extra_gated_fields"] == gating["fields"]
    assert header["extra_gated_button_content"] == "Accept and access"
    assert "## Access terms" in text and "> Do not try to identify anyone." in text
    assert "- Intended use (one of: research, education)" in text
    export = (tmp_path / "p" / "openai" / "README.md").read_text()
    assert "extra_gated_prompt" not in read_card_header(export) and "## Access terms" not in export
    no_terms = (tmp_path / "no-terms")
    build_release(release_config(), SALT, no_terms, make_battles(100, seed=4))
    assert not {key for key in read_card_header((no_terms / "README.md").read_text()) if key.startswith("extra_gated")}


@pytest.mark.parametrize("gating, problem", [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "terms", "fields": {"Affiliation": "number"}}, "fields"),
    ({"prompt": "terms", "fields": {"Use": {"type": "select", "options": []}}}, "options"),
    ({"prompt": "terms", "fields": {" ": "text"}}, "label"),
    ({"prompt": "terms", "extra": 1}, "extra"),
])
def test_gating_terms_are_validated(gating, problem):
    with pytest.raises(ValidationError, match=problem):
        release_config(card=release_config().card.model_dump() | {"gating": gating})


def test_card_shows_the_redaction_benchmark_figures_when_given(tmp_path):
    evaluation = {"measured_on": "bench/bench_redaction.py on 500 labelled prompts",
                  "figures": {"structured recall": 0.981, "person recall": 0.874}}
    (tmp_path / "pii.json").write_text(json.dumps(evaluation))
    card = release_config().card.model_copy(update={"pii_evaluation": tmp_path / "pii.json"})
    manifest = build_release(release_config(card=card.model_dump()), SALT, tmp_path / "r", make_battles(100, seed=2))
    text = (tmp_path / "r" / "README.md").read_text()
    assert "Measured on bench/bench_redaction.py on 500 labelled prompts" in text
    assert "| structured recall | 0.981 |" in text and "NOT MEASURED" not in text
    assert manifest["config"]["card"]["pii_evaluation"] == "pii.json"  # the file's name, not its local path


def test_leaderboard_json_beside_the_card_says_which_battles_were_rated(tmp_path):
    from pipeline.card import write_card

    board = {"gpt-4-0613": {"rating": 1100.0, "lower": 1090.0, "upper": 1110.0, "rank": 1, "battles": 40}}
    rated = {"battles_rated": 40, "excluded": {"named (not anonymous) battle": 7, "not in the dedup sample": 2},
             "log_window": {"start": "2024-06-01", "end": "2024-06-30"}}
    (tmp_path / "lb").mkdir()
    (tmp_path / "lb" / "leaderboard.json").write_text(json.dumps(board))
    (tmp_path / "lb" / "rated.json").write_text(json.dumps(rated))
    manifest = build_release(release_config(), SALT, tmp_path / "r", make_battles(100, seed=3))
    write_card(tmp_path / "r", manifest, {}, None, tmp_path / "lb")
    document = json.loads((tmp_path / "r" / "leaderboard.json").read_text())
    assert document["models"] == board and document["battles_rated"] == 40 and document["version"] == "2024.06-example"
    text = (tmp_path / "r" / "README.md").read_text()
    assert "Rated: 40 battles, those of the log window 2024-06-01 to 2024-06-30 after cleaning" in text
    assert "anonymous votes and in the dedup sample (excluded: named (not anonymous) battle: 7" in text
    assert "every kept battle" not in text
