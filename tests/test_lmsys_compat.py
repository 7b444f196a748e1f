"""Code written for lmsys's datasets reads ours: the published tables cast to the features of
`lmsys/chatbot_arena_conversations` and `lmsys/lmsys-chat-1m`, as their cards declare them
(tests/data/lmsys_features.yaml), loaded with `datasets` from a release built here."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
import yaml
from battle_fixtures import battle, battles_table, chat, conversations_table, moderation, release_config

from pipeline import policy
from pipeline.release_build import build_release
from pipeline.release_config import Salt

FEATURES = yaml.safe_load((Path(__file__).parent / "data" / "lmsys_features.yaml").read_text())
LMSYS = {"battles": "chatbot_arena_conversations", "conversations": "lmsys-chat-1m"}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lmsys") / "release"
    battles = battles_table([battle(f"q{i}", openai_moderation=moderation(i == 0),
                                    prompt=f"Explain how a compiler turns source code into machine code, case {i}.")
                             for i in range(12)])
    conversations = conversations_table([chat(f"c{i}", prompt=f"Write a short poem about the sea, number {i}.")
                                         for i in range(12)])
    config = release_config(public_fraction=1.0, filters={"drop_moderation_flagged": False})
    build_release(config, Salt(b"lmsys-compat-test-salt", "env:S", "S"), out, battles, conversations)
    return out


@pytest.mark.parametrize("table", ["battles", "conversations"])
def test_published_tables_cast_to_the_lmsys_features(release, table):
    features = datasets.Features._from_yaml_list(FEATURES[LMSYS[table]])
    loaded = datasets.load_dataset("parquet", data_files=str(release / "data" / table / "*.parquet"),
                                   split="train", cache_dir=str(release.parent / "cache"))
    assert len(loaded) == 12
    # Every lmsys column but toxic_chat_tag is published, with a type that casts to theirs.
    shared = [name for name in features if name != "toxic_chat_tag"]
    assert set(shared) <= set(loaded.column_names) and "toxic_chat_tag" not in loaded.column_names
    cast = loaded.select_columns(shared).cast(datasets.Features({name: features[name] for name in shared}))
    row = cast[0]
    result = row["openai_moderation"] if table == "battles" else row["openai_moderation"][0]
    assert set(result["categories"]) == set(policy.LMSYS_MODERATION_CATEGORIES)
    if table == "battles":
        assert any(r["openai_moderation"]["flagged"] for r in cast)

