"""Moderation against a misbehaving endpoint (issue 17): answers cached per effective endpoint, the API key
masked wherever the endpoint echoes it, and an overall deadline for the stage's remote calls."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from moderation_server import Fault, ModerationServer

from classifiers.cache import ResultCache
from classifiers.moderation import ModerationError, ModerationSettings, ModerationTagger
from pipeline.masking import secrets_masked

API_KEY = "sk-test-0123456789abcdef-secret"


@pytest.fixture
def server() -> Iterator[ModerationServer]:
    with ModerationServer(api_key=API_KEY) as running:
        yield running


def test_the_cache_key_holds_the_endpoint_from_the_environment(server):
    cache = ResultCache()
    texts = ["hello there", "you idiot"]
    settings = ModerationSettings(max_retries=0, timeout_s=5)  # base_url unset: $OPENAI_BASE_URL decides
    with ModerationServer(api_key=API_KEY) as other:
        first = ModerationTagger(settings, cache, {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": server.base_url})
        assert [r.status for r in first.moderate(texts)] == ["ok", "ok"]
        second = ModerationTagger(settings, cache, {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": other.base_url})
        assert second.model_identity != first.model_identity
        assert second.model_identity == f"openai-moderation/omni-moderation-latest@{other.base_url}"
        assert [r.status for r in second.moderate(texts)] == ["ok", "ok"]
        assert other.request_count == 1  # not served from the first endpoint's answers
    again = ModerationTagger(settings, cache, {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": server.base_url + "/"})
    assert again.model_identity == first.model_identity
    again.moderate(texts)
    assert server.request_count == 1  # the same endpoint: cached


def test_the_default_endpoint_is_named_in_the_key():
    tagger = ModerationTagger(ModerationSettings(), ResultCache(), {})
    assert tagger.model_identity == "openai-moderation/omni-moderation-latest@https://api.openai.com/v1"


def test_an_echoed_key_is_masked_in_statuses_and_logs(server, caplog):
    server.queue(Fault("echo"))
    tagger = ModerationTagger(ModerationSettings(base_url=server.base_url, max_retries=0, timeout_s=5),
                              ResultCache(), {"OPENAI_API_KEY": API_KEY})
    with caplog.at_level(logging.DEBUG):
        [result] = tagger.moderate(["some text"])
    assert result.status.startswith("error: HTTP 400") and "***" in result.status
    assert API_KEY not in result.status and API_KEY not in caplog.text
    assert API_KEY not in str(tagger.status.to_dict())


def test_an_exception_holding_a_secret_leaves_masked_without_its_chain():
    with pytest.raises(ModerationError) as caught, secrets_masked([API_KEY], lambda text, _: ModerationError(text)):
        try:
            raise KeyError(f"no route for {API_KEY}")
        except KeyError as inner:
            raise ValueError("lookup failed") from inner
    assert API_KEY not in str(caught.value) and caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(ValueError, match="plain"), secrets_masked([API_KEY], lambda text, _: ModerationError(text)):
        raise ValueError("plain")  # no secret: the error leaves as it was


def test_a_hanging_endpoint_meets_the_stage_deadline(server):
    server.hold_after(0)  # every request waits until the server stops
    tagger = ModerationTagger(
        ModerationSettings(base_url=server.base_url, max_retries=0, timeout_s=60, deadline_s=1.0, batch_size=2),
        ResultCache(), {"OPENAI_API_KEY": API_KEY})
    started = time.monotonic()
    results = tagger.moderate([f"text {i}" for i in range(6)])
    assert time.monotonic() - started < 5
    assert all(r.status.startswith("error: deadline of 1s") for r in results)
    assert tagger.status.status == "partial" and "6 texts not moderated" in tagger.status.reason
    asked = server.request_count
    started = time.monotonic()
    later = tagger.moderate(["another text"])  # the deadline is the stage's: later batches do not wait again
    assert time.monotonic() - started < 1 and later[0].status.startswith("error: deadline")
    assert server.request_count == asked
