from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from battle_fixtures import (
    LEADERBOARD,
    PROVIDERS,
    UNRELEASED,
    battle,
    battles_table,
    chat,
    conversation,
    conversations_table,
    make_battles,
    make_conversations,
    moderation,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import policy
from pipeline.release_config import Filters, FrequentPrompts, LogWindow, TooShort

SALT = b"test-salt-0123456789abcdef"


def ids(n: int, seed: int = 0) -> list[str]:
    return [uuid.UUID(int=(seed << 64) + i).hex for i in range(n)]


def selected(values: list[str], fraction: float, salt: bytes = SALT) -> set[str]:
    mask = policy.public_share_mask(pa.array(values), salt, fraction).to_pylist()
    return {v for v, keep in zip(values, mask, strict=True) if keep}


# ---------------------------------------------------------------------------------------- sample


def test_share_is_the_keyed_hash_read_as_a_number_below_the_fraction():
    values = ids(200)
    expected = {
        v
        for v in values
        if int.from_bytes(hmac.new(SALT, v.encode(), hashlib.sha256).digest()[:8], "big") / 2**64 < 0.3
    }
    assert selected(values, 0.3) == expected


def test_share_rate_matches_the_fraction():
    n = 20_000
    count = len(selected(ids(n), 0.2))
    assert abs(count - 0.2 * n) < 5 * (n * 0.2 * 0.8) ** 0.5


def test_share_of_an_id_does_not_depend_on_the_rest_of_the_data():
    values = ids(500)
    together = selected(values, 0.2)
    alone = {v for v in values if selected([v], 0.2)}
    reshuffled = selected(list(reversed(values)) + ids(300, seed=9), 0.2) & set(values)
    assert together == alone == reshuffled


@settings(max_examples=25, deadline=None)
@given(st.floats(0.001, 1.0), st.floats(0.001, 1.0), st.integers(0, 2**32))
def test_share_is_monotone_in_the_fraction(a, b, seed):
    low, high = sorted((a, b))
    values = ids(300, seed)
    assert selected(values, low) <= selected(values, high)


def test_fraction_one_is_everything_and_out_of_range_is_refused():
    values = ids(50)
    assert selected(values, 1.0) == set(values)
    for bad in (0, -0.1, 1.01):
        with pytest.raises(ValueError, match="fraction"):
            policy.public_share_mask(pa.array(values), SALT, bad)


def test_another_salt_draws_another_share_and_ids_must_exist():
    values = ids(2000)
    assert selected(values, 0.2) != selected(values, 0.2, b"another-salt-0123456789")
    with pytest.raises(ValueError, match="without an id"):
        policy.public_share_mask(pa.array(["a", None]), SALT, 0.5)


def test_battle_sides_are_sampled_with_their_battle():
    battles = make_battles(40)
    conversations = make_conversations(battles, singles=10)
    keys = policy.conversation_share_ids(conversations, battles).to_pylist()
    by_conversation = dict(zip(conversations["conversation_id"].to_pylist(), keys, strict=True))
    for qid, conv_b in zip(battles["question_id"].to_pylist(), battles["conv_id_b"].to_pylist(), strict=True):
        assert by_conversation[qid] == qid
        assert by_conversation[conv_b] == qid
    singles = conversations["conversation_id"].to_pylist()[-10:]
    assert all(by_conversation[s] == s for s in singles)


# ---------------------------------------------------------------------------------------- models


def test_anonymize_models_keeps_only_leaderboard_names():
    table = battles_table(
        [
            battle("q1", model_a="gpt-4-0613", model_b="secret-model-alpha"),
            battle("q2", model_a="internal-preview-0815", model_b="claude-1"),
        ]
    )
    out = policy.anonymize_models(table, LEADERBOARD, "anonymous")
    assert out["model_a"].to_pylist() == ["gpt-4-0613", "anonymous"]
    assert out["model_b"].to_pylist() == ["anonymous", "claude-1"]
    chats = conversations_table([chat("c1", model="secret-model-alpha"), chat("c2", model="palm-2")])
    assert policy.anonymize_models(chats, LEADERBOARD, "hidden")["model"].to_pylist() == ["hidden", "palm-2"]
    with pytest.raises(ValueError, match="no model column"):
        policy.anonymize_models(pa.table({"x": [1]}), LEADERBOARD, "anonymous")


def test_provider_export_names_only_the_providers_own_leaderboard_models():
    share = make_battles(300, seed=3)
    for models in PROVIDERS.values():
        export = policy.provider_export(share, models, LEADERBOARD, "anonymous")
        own = set(models)
        involved = pc.or_(pc.is_in(share["model_a"], pa.array(models)), pc.is_in(share["model_b"], pa.array(models)))
        assert export["question_id"].to_pylist() == share.filter(involved)["question_id"].to_pylist()
        shown = set(export["model_a"].to_pylist()) | set(export["model_b"].to_pylist())
        assert shown <= (own & set(LEADERBOARD)) | {"anonymous"}
        private_rows = share.filter(involved)
        for side in ("model_a", "model_b"):
            for original, published in zip(private_rows[side].to_pylist(), export[side].to_pylist(), strict=True):
                expected = original if original in own and original in LEADERBOARD else "anonymous"
                assert published == expected
    alpha = policy.provider_export(share, PROVIDERS["alpha-labs"], LEADERBOARD, "anonymous")
    assert len(alpha) > 0
    assert set(alpha["model_a"].to_pylist()) | set(alpha["model_b"].to_pylist()) == {"anonymous"}


# ---------------------------------------------------------------------------------------- stages


def test_stage_status_follows_the_columns_and_the_reports():
    rows = [battle("q1"), battle("q2")]
    statuses = policy.stage_statuses(battles_table(rows, drop=("openai_moderation",)))
    assert statuses["pii"].status == "ok" and statuses["toxicity"].status == "ok"
    assert statuses["moderation"] == policy.StageStatus("moderation", "not_run", "no openai_moderation column")

    all_null = battles_table([battle("q1", redacted=None)])
    assert policy.stage_statuses(all_null)["pii"].reason == "redacted is null on every row"

    reports = {
        "pii": policy.StageStatus("pii", "ok", model="presidio", model_version="2.2.366"),
        "toxicity": policy.StageStatus("toxicity", "not_run", "no checkpoint available offline"),
        "moderation": policy.StageStatus("moderation", "ok", model="omni-moderation-latest"),
    }
    statuses = policy.stage_statuses(battles_table(rows, drop=("openai_moderation",)), reports)
    assert statuses["pii"].model == "presidio"
    assert statuses["toxicity"].reason == "no checkpoint available offline"
    assert statuses["moderation"].reason == "reported ok but no openai_moderation column"


def test_a_required_stage_that_did_not_run_blocks_the_release():
    table = battles_table([battle("q1")], drop=("openai_moderation", "toxicity"))
    statuses = {"battles": policy.stage_statuses(table)}
    policy.require_stages(statuses, ["pii"])
    with pytest.raises(policy.ReleaseBlocked) as err:
        policy.require_stages(statuses, ["pii", "moderation", "toxicity"])
    message = str(err.value)
    assert "battles: required stage 'moderation' did not run (no openai_moderation column)" in message
    assert "battles: required stage 'toxicity' did not run" in message


# ---------------------------------------------------------------------------------------- filters


def filter_rows(rows, filters=None, required=(), kind=policy.BATTLES, drop=()):
    make = battles_table if kind is policy.BATTLES else conversations_table
    result = policy.apply_public_filters(make(rows, drop=drop), kind, filters or Filters(), required)
    return result.kept[kind.id_column].to_pylist(), result.dropped


def test_each_release_filter_drops_and_counts_its_rows():
    rows = [
        battle("ok"),
        battle("short", prompt="hi there"),
        battle("bad", conversation_b=[{"content": None, "role": "user"}]),
        battle("empty", conversation_a=[]),
        battle("marker", prompt="Please rewrite this letter for <ANONYMIZED> at the bank tomorrow."),
        battle("word", conversation_b=conversation(battle("x")["conversation_a"][0]["content"], "Some FORBIDDEN text")),
        battle("model", model_b="blocked-model"),
        battle("flagged", openai_moderation=moderation(True)),
        battle("unchecked", redacted=None),
        battle("residue", prompt="Please charge my card 4111 1111 1111 1111 for the order, thank you."),
        battle("doc_ip", prompt="Why does ping 192.0.2.15 time out on my laptop? It worked yesterday."),
    ]
    filters = Filters(blocked_words=["forbidden"], blocked_models=["blocked-model"])
    kept, dropped = filter_rows(rows, filters, required=["pii"])
    assert kept == ["ok", "doc_ip"]
    assert dropped == {
        "pii_not_checked": 1,
        "bad_format": 2,
        "too_short": 1,
        "too_frequent": 0,
        "leftover_marker": 1,
        "blocked_word": 1,
        "blocked_model": 1,
        "moderation_flagged": 1,
        "residual_pii": 1,
    }


def test_a_row_is_counted_once_under_its_first_reason():
    rows = [battle("both", prompt="hi <redacted>", openai_moderation=moderation(True))]
    kept, dropped = filter_rows(rows)
    assert kept == [] and dropped["too_short"] == 1 and sum(dropped.values()) == 1


def test_too_short_follows_fastchat_and_can_be_turned_off():
    long_answer_short_prompt = battle("s1", prompt="  what is 2+2?  ")
    two_turns = battle("s2", conversation_a=conversation("hi", "hello", "and you?", "fine"))
    kept, dropped = filter_rows([long_answer_short_prompt, two_turns])
    assert kept == ["s2"] and dropped["too_short"] == 1
    kept, _ = filter_rows([long_answer_short_prompt], Filters(too_short=None))
    assert kept == ["s1"]
    kept, _ = filter_rows([long_answer_short_prompt], Filters(too_short=TooShort(min_prompt_chars=5)))
    assert kept == ["s1"]


def test_most_frequent_prompts_are_dropped_when_frequent_enough():
    spam = "Tell me a joke about computers and programmers please"
    rows = [battle(f"spam{i}", prompt=spam.upper() if i % 2 else spam) for i in range(12)]
    rows += [battle(f"rare{i}", prompt=f"A rare question number {i} about history and art") for i in range(5)]
    kept, dropped = filter_rows(rows)
    assert dropped["too_frequent"] == 12 and sorted(kept) == [f"rare{i}" for i in range(5)]
    kept, _ = filter_rows(rows, Filters(too_frequent=FrequentPrompts(top=10, min_count=13)))
    assert len(kept) == 17


def test_flagged_rows_stay_when_the_config_keeps_them():
    rows = [battle("flagged", openai_moderation=moderation(True))]
    assert filter_rows(rows, Filters(drop_moderation_flagged=False))[0] == ["flagged"]


def test_conversation_filters_read_per_message_moderation_and_missing_stage_rows():
    rows = [
        chat("c1"),
        chat("c2", openai_moderation=[moderation(False), moderation(True)]),
        chat("c3", openai_moderation=None),
        chat("c4", toxicity=None),
    ]
    kept, dropped = filter_rows(rows, required=["moderation", "toxicity"], kind=policy.CONVERSATIONS)
    assert kept == ["c1"]
    assert dropped["moderation_flagged"] == 1
    assert dropped["moderation_not_checked"] == 1
    assert dropped["toxicity_not_checked"] == 1


def test_filters_on_an_empty_table():
    kept, dropped = filter_rows([])
    assert kept == [] and set(dropped.values()) == {0}


def test_window_includes_both_ends():
    start = dt.datetime(2024, 6, 1, tzinfo=dt.UTC).timestamp()
    rows = [battle(f"d{i}", tstamp=start + i * 86400 + 10) for i in range(5)]
    window = LogWindow(start=dt.date(2024, 6, 2), end=dt.date(2024, 6, 4))
    kept = policy.select_window(battles_table(rows), window)
    assert kept["question_id"].to_pylist() == ["d1", "d2", "d3"]
    no_day = battles_table([battle("inside", day="2024-06-03"), battle("unknown", day=None)])
    assert policy.select_window(no_day, window)["question_id"].to_pylist() == ["inside"]


# ---------------------------------------------------------------------------------------- schema


def test_public_battles_have_the_lmsys_columns_and_no_private_ones():
    table = battles_table([battle("q2", tstamp=2e9), battle("q1", tstamp=1e9)], drop=("toxicity",))
    public = policy.to_public(table, policy.BATTLES)
    lmsys_33k = [
        "question_id",
        "model_a",
        "model_b",
        "winner",
        "judge",
        "conversation_a",
        "conversation_b",
        "turn",
        "anony",
        "language",
        "tstamp",
        "openai_moderation",
    ]
    assert public.column_names[: len(lmsys_33k)] == lmsys_33k
    assert {"openai_moderation_extra", "dedup_tag", "language_code", "redacted", "toxicity"} <= set(public.column_names)
    assert "toxic_chat_tag" not in public.column_names  # its fields name ToxicChat's taggers, which we do not run
    assert not {"conv_id_b", "day", "source_file", "source_line", "conv_metadata"} & set(public.column_names)
    assert public["question_id"].to_pylist() == ["q1", "q2"]
    assert public.schema.field("openai_moderation").type == policy.LMSYS_MODERATION
    assert public.schema.field("toxicity").type == policy.TOXICITY_VERDICT  # the stage did not run: typed nulls
    assert public["toxicity"].null_count == 2
    assert not [f.name for f in public.schema if f.type == pa.null()]


def test_moderation_splits_into_lmsys_categories_and_the_newer_ones():
    from classifiers.moderation import CATEGORY_NAMES, OPENAI_MODERATION

    scores = {name: 0.5 + i / 100 for i, name in enumerate(CATEGORY_NAMES)}
    result = {"categories": {name: name == "illicit" for name in CATEGORY_NAMES}, "category_scores": scores,
              "flagged": True}
    rows = [battle("q1", openai_moderation=result), battle("q2", openai_moderation=None)]
    table = battles_table(rows, drop=("openai_moderation",)).append_column(
        pa.field("openai_moderation", OPENAI_MODERATION), pa.array([result, None], OPENAI_MODERATION))
    public = policy.to_public(table, policy.BATTLES)
    first, second = public["openai_moderation"].to_pylist()
    assert list(first["categories"]) == list(policy.LMSYS_MODERATION_CATEGORIES)
    assert first["category_scores"]["violence/graphic"] == scores["violence/graphic"]
    assert first["flagged"] is True and not any(first["categories"].values())  # flagged by a newer category
    extra = public["openai_moderation_extra"].to_pylist()[0]
    assert "illicit" in policy.EXTRA_MODERATION_CATEGORIES and extra["categories"]["illicit"] is True
    assert extra["category_scores"]["illicit"] == scores["illicit"]
    assert second is None and public["openai_moderation_extra"].to_pylist()[1] is None


def test_public_conversations_follow_lmsys_chat_1m():
    public = policy.to_public(conversations_table([chat("c1")]), policy.CONVERSATIONS)
    assert public.column_names[:7] == [
        "conversation_id",
        "model",
        "conversation",
        "turn",
        "language",
        "openai_moderation",
        "redacted",
    ]
    assert "tstamp" not in public.column_names and "judge" not in public.column_names
    assert public.schema.field("openai_moderation").type == pa.list_(policy.LMSYS_MODERATION)
    first_message = public["openai_moderation"].to_pylist()[0][0]
    assert first_message["categories"]["harassment"] is False and first_message["categories"]["hate"] is None
    with pytest.raises(ValueError, match="missing columns model"):
        policy.to_public(conversations_table([chat("c1")]).drop(["model"]), policy.CONVERSATIONS)


def test_unreleased_fixture_models_are_not_on_the_fixture_leaderboard():
    assert not set(UNRELEASED) & set(LEADERBOARD)


# ---------------------------------------------------------------------------------------- releases


def build(tmp_path, name, battles, conversations=None, salt=SALT, previous=None, judge_key=None, **config):
    from battle_fixtures import release_config

    from pipeline.release_build import build_release
    from pipeline.release_config import Salt

    return build_release(
        release_config(**config),
        Salt(salt, "env:ARENA_RELEASE_SALT", "ARENA_RELEASE_SALT"),
        tmp_path / name,
        battles,
        conversations,
        previous=previous,
        provider_dir=tmp_path / f"{name}-providers",
        judge_key=judge_key,
    )


def published_ids(tmp_path, name, table="battles"):
    import pyarrow.parquet as pq

    return set(pq.read_table(tmp_path / name / "data" / table)[policy.TABLE_KINDS[table].id_column].to_pylist())


def test_a_later_release_keeps_every_public_row_and_leaks_no_held_back_one(tmp_path):
    battles = make_battles(600, seed=5, days=6)
    conversations = make_conversations(battles, singles=200, seed=5)
    early = {"start": "2024-06-01", "end": "2024-06-03"}
    first = build(tmp_path, "r1", battles, conversations, log_window=early)
    second = build(
        tmp_path,
        "r2",
        battles,
        conversations,
        previous=first,
        version="2024.07",
        log_window={"start": "2024-06-01", "end": "2024-06-06"},
    )
    third = build(
        tmp_path,
        "r3",
        battles,
        conversations,
        previous=second,
        version="2024.08",
        public_fraction=0.3,
        log_window={"start": "2024-06-01", "end": "2024-06-06"},
    )
    early_ids = set(
        policy.select_window(battles, LogWindow(start="2024-06-01", end="2024-06-03"))["question_id"].to_pylist()
    )
    for table in ("battles", "conversations"):
        r1, r2, r3 = (published_ids(tmp_path, name, table) for name in ("r1", "r2", "r3"))
        assert r1 and r1 <= r2 <= r3 and len(r3) > len(r2)
    assert published_ids(tmp_path, "r2") & early_ids == published_ids(tmp_path, "r1")
    assert third["tables"]["battles"]["rows"] > second["tables"]["battles"]["rows"] > first["tables"]["battles"]["rows"]


def test_held_back_battles_do_not_reach_the_public_through_their_conversations(tmp_path):
    battles = make_battles(300, seed=8)
    build(tmp_path, "r", battles, make_conversations(battles, singles=0, seed=8))
    public_battles = published_ids(tmp_path, "r")
    public_conversations = published_ids(tmp_path, "r", "conversations")
    side_b = dict(zip(battles["conv_id_b"].to_pylist(), battles["question_id"].to_pylist(), strict=True))
    battle_of = {c: side_b.get(c, c) for c in public_conversations}
    assert set(battle_of.values()) == public_battles


def test_provider_exports_are_subsets_of_the_public_share(tmp_path):
    battles = make_battles(300, seed=9)
    build(tmp_path, "r", battles)
    public = published_ids(tmp_path, "r")
    for provider in PROVIDERS:
        exported = published_ids(tmp_path / "r-providers", provider)
        assert exported and exported <= public


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"salt": b"a-different-salt-0123456789"}, "the sampling salt differs"),
        ({"public_fraction": 0.1}, "public_fraction 0.1 is lower than release 2024.06-example's 0.2"),
        ({}, "version '2024.06-example' is the previous release's version"),
    ],
)
def test_a_release_that_would_break_the_previous_ones_promises_is_blocked(tmp_path, change, message):
    battles = make_battles(50, seed=1)
    first = build(tmp_path, "r1", battles)
    with pytest.raises(policy.ReleaseBlocked, match=message):
        build(tmp_path, "r2", battles, previous=first, **change)
    assert not (tmp_path / "r2").exists()


def test_a_release_made_with_another_judge_key_is_refused(tmp_path):
    battles = make_battles(50, seed=2)
    key = b"judge-key-of-the-first-release"
    first = build(tmp_path, "r1", battles, judge_key=key)
    assert set(first["judge_key"]) == {"fingerprint"} and "judge-key" not in json.dumps(first)
    same = build(tmp_path, "r2", battles, previous=first, version="2024.07", judge_key=key)
    assert same["judge_key"] == first["judge_key"] and same["previous_version"] == first["version"]
    with pytest.raises(policy.ReleaseBlocked, match=r"the judge key differs from release 2024.06-example's"):
        build(tmp_path, "r3", battles, previous=first, version="2024.07", judge_key=b"a-fresh-work-directory-key")
    assert not (tmp_path / "r3").exists()


def test_models_once_named_stay_named(tmp_path):
    battles = make_battles(200, seed=4)
    first = build(tmp_path, "r1", battles)
    second = build(
        tmp_path,
        "r2",
        battles,
        previous=first,
        version="2024.07",
        leaderboard={"models": [m for m in LEADERBOARD if m != "vicuna-13b"]},
    )
    assert "vicuna-13b" in second["leaderboard_models"]
    assert second["tables"]["battles"]["models"]["vicuna-13b"] == first["tables"]["battles"]["models"]["vicuna-13b"]


def test_a_required_stage_missing_blocks_before_anything_is_written(tmp_path):
    battles = battles_table([battle("q1")], drop=("openai_moderation",))
    with pytest.raises(policy.ReleaseBlocked, match="battles: required stage 'moderation' did not run"):
        build(tmp_path, "r", battles, required_stages=["pii", "moderation"])
    assert not (tmp_path / "r").exists()


def test_drawing_first_then_building_publishes_the_same_rows_and_counts_what_was_held_back(tmp_path):
    from battle_fixtures import release_config

    from pipeline.release_build import build_release
    from pipeline.release_config import Salt
    from pipeline.verify import VerifyOptions, verify_release

    battles = make_battles(400, seed=12)
    conversations = make_conversations(battles, singles=100, seed=12)
    config = release_config()
    salt = Salt(SALT, "env:ARENA_RELEASE_SALT", "ARENA_RELEASE_SALT")
    whole = build_release(config, salt, tmp_path / "whole", battles, conversations)

    drawn_battles, battle_counts = policy.draw_public_share(
        battles, policy.BATTLES, config.log_window, SALT, config.public_fraction)
    drawn_conversations, conversation_counts = policy.draw_public_share(
        conversations, policy.CONVERSATIONS, config.log_window, SALT, config.public_fraction, battles)
    assert battle_counts["drawn"] == len(drawn_battles) < 400
    assert conversation_counts["drawn_via_battle"] > 0
    staged = build_release(config, salt, tmp_path / "staged", drawn_battles, drawn_conversations,
                           drawn_counts={"battles": battle_counts, "conversations": conversation_counts})
    assert staged["content_sha256"] == whole["content_sha256"]

    held_back = build_release(config, salt, tmp_path / "held", drawn_battles.slice(1), drawn_conversations,
                              drawn_counts={"battles": battle_counts, "conversations": conversation_counts})
    assert held_back["tables"]["battles"]["counts"]["dropped"]["held_back_upstream"] == 1
    assert verify_release(tmp_path / "held", VerifyOptions(salt=SALT)).ok
    with pytest.raises(ValueError, match="only"):
        build_release(config, salt, tmp_path / "bad", battles, drawn_conversations,
                      drawn_counts={"battles": battle_counts, "conversations": conversation_counts})
