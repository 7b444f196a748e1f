"""OpenAI moderation through the real `openai` client against a local server speaking the API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pytest
from moderation_server import CATEGORY_NAMES, SERVED_MODEL, Fault, ModerationServer, moderation_result
from pydantic import ValidationError

from classifiers.cache import ResultCache
from classifiers.language import LanguageDetector
from classifiers.moderation import (
    OPENAI_MODERATION,
    Moderations,
    ModerationSettings,
    ModerationTagger,
    ModerationUnavailable,
)
from classifiers.tagging import Classifiers, tag_battles, tag_conversations
from classifiers.toxicity import ToxicityScorer
from pipeline.schemas import BATTLES, CONVERSATIONS

API_KEY = "test-key"
ENVIRON = {"OPENAI_API_KEY": API_KEY}
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server() -> Iterator[ModerationServer]:
    with ModerationServer(api_key=API_KEY) as running:
        yield running


def tagger(server: ModerationServer, cache: ResultCache | None = None, **settings: object) -> ModerationTagger:
    options: dict[str, object] = {"base_url": server.base_url, "max_retries": 2, "timeout_s": 5.0} | settings
    return ModerationTagger(ModerationSettings(**options), cache=cache, environ=ENVIRON)


def test_results_follow_the_api_answer(server: ModerationServer) -> None:
    texts = ["I will kill you", "What a lovely day", "you idiot"]

    results = tagger(server).moderate(texts)

    for text, result in zip(texts, results, strict=True):
        expected = moderation_result(text)
        assert result.status == "ok" and result.model == SERVED_MODEL
        assert result.flagged == expected["flagged"]
        assert result.categories == expected["categories"]
        assert result.category_scores == expected["category_scores"]
    assert [r.flagged for r in results] == [True, False, True]
    assert results[0].categories["violence"] and not results[0].categories["harassment"]


def test_many_inputs_per_request_and_duplicates_sent_once(server: ModerationServer) -> None:
    texts = [f"message number {i}" for i in range(70)] + ["message number 3", "message number 5"]
    moderation = tagger(server, batch_size=32)

    results = moderation.moderate(texts)

    assert [len(inputs) for inputs in sorted(server.requests, key=len)] == [6, 32, 32]
    assert sorted(text for inputs in server.requests for text in inputs) == sorted(set(texts))
    assert results[70] == results[3] and len(results) == len(texts)
    assert moderation.status.counts["requests"] == 3 and moderation.status.counts["requested"] == 70


def test_concurrency_is_bounded(server: ModerationServer) -> None:
    server.latency_s = 0.2
    tagger(server, batch_size=2, max_concurrency=3).moderate([f"text {i}" for i in range(20)])
    assert server.request_count == 10
    assert server.peak_in_flight == 3


def test_warm_cache_makes_no_request(server: ModerationServer, tmp_path: Path) -> None:
    texts = [f"cached text {i}" for i in range(10)]
    cold = tagger(server, cache=ResultCache(tmp_path / "moderation.duckdb"))
    first = cold.moderate(texts)
    requests_after_cold = server.request_count

    warm = tagger(server, cache=ResultCache(tmp_path / "moderation.duckdb"))
    second = warm.moderate(texts)

    assert requests_after_cold == 1 and server.request_count == 1
    assert list(second) == list(first)
    assert warm.status.counts["cached"] == 10 and warm.status.counts["requested"] == 0


def test_cache_is_per_model(server: ModerationServer, tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "moderation.duckdb")
    tagger(server, cache=cache).moderate(["same text"])
    tagger(server, cache=cache, model="text-moderation-stable").moderate(["same text"])
    assert server.request_count == 2


def test_without_api_key_the_stage_is_not_run(server: ModerationServer, caplog: pytest.LogCaptureFixture) -> None:
    moderation = ModerationTagger(ModerationSettings(base_url=server.base_url), environ={})

    results = moderation.moderate(["I will kill you", "hello"])

    assert [r.status for r in results] == ["not_run", "not_run"]
    assert all(r.flagged is None and r.as_struct() is None for r in results)  # never a default "not flagged"
    assert moderation.status.status == "not_run" and "OPENAI_API_KEY" in moderation.status.reason
    assert "OPENAI_API_KEY" in caplog.text
    assert server.request_count == 0


def test_a_release_config_can_require_moderation() -> None:
    with pytest.raises(ModerationUnavailable, match="MY_KEY"):
        ModerationTagger(ModerationSettings(api_key_env="MY_KEY", required=True), environ={})


def test_rate_limit_is_retried_after_the_servers_delay(server: ModerationServer) -> None:
    server.queue(Fault("429", retry_after="1"))
    started = time.monotonic()

    [result] = tagger(server).moderate(["hello"])

    assert result.status == "ok"
    assert server.request_count == 2
    assert time.monotonic() - started >= 1.0  # the client waited as retry-after said


def test_server_errors_are_retried_with_backoff(server: ModerationServer) -> None:
    server.queue(Fault("500"), Fault("500"))
    [result] = tagger(server, max_retries=2).moderate(["hello"])
    assert result.status == "ok" and server.request_count == 3


def test_persistent_failure_gives_error_rows_that_the_next_run_retries(
    server: ModerationServer, tmp_path: Path
) -> None:
    cache = ResultCache(tmp_path / "moderation.duckdb")
    server.queue(Fault("500"), Fault("500"), Fault("500"))
    moderation = tagger(server, cache=cache, max_retries=2)

    failed = moderation.moderate(["hello", "world"])

    assert all(r.status.startswith("error: HTTP 500: ") for r in failed)
    assert all(r.as_struct() is None for r in failed)
    assert moderation.status.status == "partial" and moderation.status.counts["errors"] == 2
    assert cache.count(moderation.model_identity) == 0

    retried = tagger(server, cache=cache).moderate(["hello", "world"])
    assert [r.status for r in retried] == ["ok", "ok"] and server.request_count == 4


def test_timeouts_are_retried_then_reported(server: ModerationServer) -> None:
    server.queue(Fault("timeout", delay_s=1.5))
    [recovered] = tagger(server, timeout_s=0.5, max_retries=1).moderate(["slow once"])
    assert recovered.status == "ok"

    server.queue(Fault("timeout", delay_s=1.5), Fault("timeout", delay_s=1.5))
    [failed] = tagger(server, timeout_s=0.5, max_retries=1).moderate(["slow twice"])
    assert failed.status == "error: timed out after 1 retries"


@pytest.mark.parametrize("kind", ["malformed", "short"])
def test_malformed_answers_are_errors_not_defaults(server: ModerationServer, kind: str) -> None:
    server.queue(Fault(kind))
    moderation = tagger(server)

    results = moderation.moderate(["first", "second"])

    assert all(r.status.startswith("error: malformed response") for r in results)
    assert all(r.flagged is None for r in results)
    assert moderation.status.status == "partial"


def test_wrong_api_key_is_an_error_status(server: ModerationServer) -> None:
    moderation = ModerationTagger(ModerationSettings(base_url=server.base_url), environ={"OPENAI_API_KEY": "wrong"})
    [result] = moderation.moderate(["hello"])
    assert result.status.startswith("error: HTTP 401")


def test_null_text_is_an_error_row(server: ModerationServer) -> None:
    results = tagger(server).moderate([None, "hello"])
    assert [r.status for r in results] == ["error: no text", "ok"]


def test_killed_run_resumes_without_repeating_finished_batches(server: ModerationServer, tmp_path: Path) -> None:
    cache_path = tmp_path / "moderation.duckdb"
    texts = [f"resumable text {i}" for i in range(10)]
    server.hold_after(3)  # three batches answered, the fourth hangs until the run is killed
    script = textwrap.dedent(
        f"""
        from classifiers.cache import ResultCache
        from classifiers.moderation import ModerationSettings, ModerationTagger
        settings = ModerationSettings(base_url={server.base_url!r}, batch_size=2, max_concurrency=1,
                                      commit_interval_s=0.1)
        ModerationTagger(settings, cache=ResultCache({str(cache_path)!r}), environ={ENVIRON!r}).moderate({texts!r})
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, env=os.environ | {"PYTHONPATH": "."})
    try:
        deadline = time.monotonic() + 60
        while server.request_count < 4:
            assert child.poll() is None and time.monotonic() < deadline, "the run ended before it was killed"
            time.sleep(0.05)
        time.sleep(0.5)  # let the run commit the answers it has (it stores each as it arrives)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    server.release()
    cache = ResultCache(cache_path)
    survived = cache.lookup(tagger(server).model_identity, texts)
    answered = {text for inputs in server.requests[:3] for text in inputs}

    resumed = tagger(server, cache=cache, batch_size=2)
    results = resumed.moderate(texts)

    assert len(survived) >= 2 and set(survived) <= answered  # finished batches outlived the kill
    assert all(r.status == "ok" for r in results)
    assert resumed.status.counts["cached"] == len(survived)
    new_inputs = [text for inputs in server.requests[4:] for text in inputs]
    assert sorted(new_inputs) == sorted(set(texts) - set(survived))  # nothing finished is asked again


def test_answers_are_committed_together_within_the_interval(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "moderation.duckdb")
    with cache.writer("model", interval_s=0.3) as writer:
        writer.add({"a": 1})
        writer.add({"b": 2})
        assert cache.count("model") == 0 and 0 < writer.due_in() <= 0.3
        time.sleep(0.35)
        writer.add({"c": 3})
        assert cache.count("model") == 3 and writer.commits == 1 and writer.due_in() is None
        writer.add({"d": 4})
    assert cache.lookup("model", ["a", "d"]) == {"a": 1, "d": 4} and writer.commits == 2  # the rest on leaving


def test_combine_ors_flags_and_maxes_scores() -> None:
    calm, violent, rude = (moderation_result(text) for text in ("hello", "I will kill you", "you idiot"))
    results = Moderations.concat(
        [
            Moderations.parse([calm, violent, rude], [SERVED_MODEL] * 3),
            Moderations.without_values(1, "error: timeout"),
            Moderations.parse([calm], [SERVED_MODEL]),
        ]
    )
    # rows: 0 = calm + violent, 1 = rude + the failed text, 2 = no text at all, 3 = calm alone
    combined = results.combine(np.array([0, 0, 1, 1, 3]), row_count=4)

    assert combined.status == ["ok", "error: timeout", "error: no text to moderate", "ok"]
    assert combined[0].flagged is True and combined[0].categories["violence"] is True
    assert combined[0].categories["harassment"] is False
    assert combined[0].category_scores == {
        name: max(calm["category_scores"][name], violent["category_scores"][name]) for name in CATEGORY_NAMES
    }
    assert combined[3] == results[0]
    assert combined[1].as_struct() is None and combined[2].as_struct() is None  # never a partial "not flagged"
    assert combined.structs().to_pylist() == [combined[0].as_struct(), None, None, combined[3].as_struct()]


def test_unknown_categories_stay_null_not_false() -> None:
    answer = moderation_result("hello")
    del answer["categories"]["violence"], answer["category_scores"]["violence"]
    answer["categories"]["hate"] = None

    [result] = Moderations.parse([answer], [SERVED_MODEL])

    assert result.categories["violence"] is None and result.categories["hate"] is None
    assert result.category_scores["violence"] is None
    assert result.as_struct() == Moderations.parse([answer], [None]).structs().to_pylist()[0]


@pytest.mark.parametrize(
    "broken",
    [
        {"flagged": "yes"},
        {"categories": {"violence": 1}},
        {"category_scores": {"violence": "high"}},
        {"category_scores": None},
    ],
)
def test_wrongly_typed_answers_are_malformed(server: ModerationServer, broken: dict[str, object]) -> None:
    answer = {"model": SERVED_MODEL, "results": [moderation_result("a") | broken]}
    server.queue(Fault("body", body=orjson.dumps(answer)))
    [result] = tagger(server).moderate(["a"])
    assert result.status.startswith("error: malformed response: result 0")


def test_public_struct_shape() -> None:
    assert [field.name for field in OPENAI_MODERATION] == ["categories", "category_scores", "flagged"]
    assert all(field.type == pa.bool_() for field in OPENAI_MODERATION.field("categories").type)
    assert all(field.type == pa.float64() for field in OPENAI_MODERATION.field("category_scores").type)
    assert OPENAI_MODERATION.field("flagged").type == pa.bool_()
    assert "harassment/threatening" in CATEGORY_NAMES


def test_settings_are_validated() -> None:
    with pytest.raises(ValidationError):
        ModerationSettings(batch_size=0)
    with pytest.raises(ValidationError):
        ModerationSettings(concurrency=3)  # a typo of max_concurrency


CONVERSATION_ROWS = [
    [
        {"role": "user", "content": "How do I bake bread?"},
        {"role": "assistant", "content": "Mix flour, water and yeast."},
        {"role": "user", "content": "I will kill you"},
        {"role": "assistant", "content": "I cannot help with that."},
    ],
    [{"role": "user", "content": "Tell me a joke"}, {"role": "assistant", "content": "Why did the chicken..."}],
]


@pytest.fixture(scope="module")
def offline_models() -> tuple[LanguageDetector, ToxicityScorer]:
    return LanguageDetector(), ToxicityScorer()


def test_conversations_get_one_result_per_message(
    server: ModerationServer, offline_models: tuple[LanguageDetector, ToxicityScorer]
) -> None:
    rows = [{name: None for name in CONVERSATIONS.names} | {"conversation": c} for c in CONVERSATION_ROWS]
    table = pa.Table.from_pylist(rows, schema=CONVERSATIONS)

    tagged = tag_conversations(table, Classifiers(*offline_models[:1], tagger(server), offline_models[1]))

    assert tagged.schema.field("openai_moderation").type == pa.list_(OPENAI_MODERATION)
    first, second = tagged.column("openai_moderation").to_pylist()
    assert [m["flagged"] for m in first] == [False, False, True, False]
    assert [m["flagged"] for m in second] == [False, False]
    assert tagged.column("openai_moderation_status").to_pylist() == [["ok"] * 4, ["ok"] * 2]


def test_battles_get_one_combined_result_and_errors_stay_visible(
    server: ModerationServer, offline_models: tuple[LanguageDetector, ToxicityScorer]
) -> None:
    rows = [
        {name: None for name in BATTLES.names} | {"conversation_a": conversation, "conversation_b": conversation}
        for conversation in CONVERSATION_ROWS
    ]
    table = pa.Table.from_pylist(rows, schema=BATTLES)
    classifiers = Classifiers(offline_models[0], tagger(server, batch_size=3, max_concurrency=1), offline_models[1])
    server.queue(Fault("500"), Fault("500"), Fault("500"))  # the first batch of three texts fails for good

    tagged = tag_battles(table, classifiers)

    assert tagged.schema.field("openai_moderation").type == OPENAI_MODERATION
    statuses = tagged.column("openai_moderation_status").to_pylist()
    moderation = tagged.column("openai_moderation").to_pylist()
    assert statuses[0].startswith("error: HTTP 500") and statuses[1] == "ok"
    for status, result, conversation in zip(statuses, moderation, CONVERSATION_ROWS, strict=True):
        if status == "ok":
            assert result["flagged"] == any(moderation_result(m["content"])["flagged"] for m in conversation)
        else:
            assert result is None  # an unscorable battle has no result, not a "not flagged" one
    assert sum(len(inputs) for inputs in server.requests[3:]) == 6 - 3  # each distinct text sent once


def test_a_conversation_with_an_unmoderated_message_has_no_result(
    server: ModerationServer, offline_models: tuple[LanguageDetector, ToxicityScorer]
) -> None:
    rows = [{name: None for name in CONVERSATIONS.names} | {"conversation": c} for c in CONVERSATION_ROWS]
    table = pa.Table.from_pylist(rows, schema=CONVERSATIONS)
    moderation = tagger(server, batch_size=4, max_concurrency=1, max_retries=0)
    server.queue(Fault("malformed"))  # the first request: the four messages of the first conversation

    tagged = tag_conversations(table, Classifiers(offline_models[0], moderation, offline_models[1]))

    statuses = tagged.column("openai_moderation_status").to_pylist()
    assert all(status.startswith("error: malformed response") for status in statuses[0])
    assert statuses[1] == ["ok", "ok"]
    first, second = tagged.column("openai_moderation").to_pylist()
    assert first is None  # the release policy drops it as "moderation not checked"
    assert [m["flagged"] for m in second] == [False, False]


def test_not_run_is_explicit_in_every_row(offline_models: tuple[LanguageDetector, ToxicityScorer]) -> None:
    rows = [{name: None for name in CONVERSATIONS.names} | {"conversation": c} for c in CONVERSATION_ROWS]
    table = pa.Table.from_pylist(rows, schema=CONVERSATIONS)
    classifiers = Classifiers(offline_models[0], ModerationTagger(environ={}), offline_models[1])

    tagged = tag_conversations(table, classifiers)

    assert tagged.column("openai_moderation_status").to_pylist() == [["not_run"] * 4, ["not_run"] * 2]
    assert tagged.column("openai_moderation").null_count == 2
    assert classifiers.statuses()[1].to_dict()["status"] == "not_run"
