"""The fast forms of the cleaning rules give exactly the answers of their plain definitions."""

from __future__ import annotations

import random
import re
import types

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline import ingest, schemas
from pipeline.cleaning import IdentityWords, LineStartPattern, conv_metadata
from pipeline.cleaning_config import load_cleaning_config
from pipeline.errors import ConfigError
from pipeline.logrecords import RecordError, parse_state

# Characters that stress the patterns: line breaks, Unicode spaces and digits, markers, NUL.
PIECES = ["\n", " ", "\t", "\x0b", "\r", "\u3000", "\u0663", "#", "##", "- ", "-", "*", "**", "+", "_", "__",
          "1.", "2", ".", "a", "\x00", "```"]


def random_text(rng: random.Random, pieces: int = 12) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(pieces + 1)))


@pytest.mark.parametrize("body", [r"#{1,6}\s", r"\s*(?:\d+\.|[-*+])\s"])
def test_line_start_pattern_counts_like_multiline_findall(body):
    plain = re.compile("^" + body, re.MULTILINE)
    rng = random.Random(0)
    texts = [random_text(rng) for _ in range(20000)]
    counts = LineStartPattern(body).counts(pa.array([*texts, None]))
    for text, count in zip(texts, counts, strict=False):
        assert count == len(plain.findall(text)), repr(text)
    assert counts[-1] == 0


def reference_conv_metadata(state_a, state_b) -> dict[str, int]:
    """FastChat's style counts, reply by reply, as first written."""
    code = re.compile(r"```.*?```", re.DOTALL)
    header = re.compile(r"^#{1,6}\s", re.MULTILINE)
    list_item = re.compile(r"^\s*(?:\d+\.|[-*+])\s", re.MULTILINE)
    bold = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")

    def tokens(text):
        return (len(text.encode()) + 3) // 4

    meta = {"sum_user_tokens": sum(tokens(t) for t in state_a.texts[0::2])}
    for side, state in (("a", state_a), ("b", state_b)):
        prose = [code.sub("", t) for t in state.texts[1::2]]
        meta[f"sum_assistant_{side}_tokens"] = sum(tokens(t) for t in state.texts[1::2])
        meta[f"header_count_{side}"] = sum(len(header.findall(t)) for t in prose)
        meta[f"list_count_{side}"] = sum(len(list_item.findall(t)) for t in prose)
        meta[f"bold_count_{side}"] = sum(len(bold.findall(t)) for t in prose)
    return meta


def test_columnar_style_counts_equal_reply_by_reply_counts():
    rng = random.Random(1)
    pairs = []
    for _ in range(5000):
        turns = rng.randrange(1, 4)
        pairs.append([types.SimpleNamespace(texts=[random_text(rng) for _ in range(2 * turns)]) for _ in "ab"])
    columns = [pa.array([[{"content": t, "role": ("user", "assistant")[i % 2]} for i, t in enumerate(side.texts)]
                         for side in sides], schemas.CONVERSATION) for sides in zip(*pairs, strict=True)]
    found = conv_metadata(*columns).to_pylist()
    for (a, b), meta in zip(pairs, found, strict=True):
        assert meta == reference_conv_metadata(a, b), (a.texts, b.texts)


def test_identity_words_in_one_pass_find_the_first_configured_word():
    words = load_cleaning_config().identity_words
    finder = IdentityWords(words)
    rng = random.Random(2)
    filler = ["the ", "model ", "\n", "é", "你好 ", "gpt", "-", "4", "claud", ".", "ai", "tü", "lu ", "uc ", "berkeley"]
    texts = ["".join(rng.choice(filler + words) if rng.random() < 0.05 else rng.choice(filler)
                     for _ in range(rng.randrange(30))).lower() for _ in range(3000)]
    expected = [next((w for w in words if w in text), None) for text in texts]
    assert finder.first_words(texts) == expected
    assert any(expected) and not all(expected)
    assert IdentityWords([]).first_words(["claude"]) == [None]


@pytest.mark.parametrize(("messages", "detail"), [
    ([["USER", "q"], ["ASSISTANT", 5]], "state.messages[1] text is int"),
    ([["USER", None], ["ASSISTANT", "a"]], "state.messages[0] is null before the last message"),
    ([["USER", "q", "extra"]], "state.messages[0] is not a [role, text] pair"),
    ([["USER", "q"], "ASSISTANT: a"], "state.messages[1] is not a [role, text] pair"),
    ([[None, "q"]], "state.messages[0] is not a [role, text] pair"),
    ([["USER", "q"], ["ASSISTANT", True]], "state.messages[1] text is bool"),
])
def test_bad_messages_name_the_first_bad_one(messages, detail):
    with pytest.raises(RecordError) as err:
        parse_state({"conv_id": "c", "messages": messages, "offset": 0})
    assert (err.value.reason, err.value.detail) == ("invalid_state", detail)


def test_good_state_with_pending_reply():
    state = parse_state({"conv_id": "c", "messages": [["S", "x"], ["T", "y"], ["USER", "q"], ["ASSISTANT", None]],
                         "offset": 2, "model_name": "m"})
    assert (state.n_messages, state.texts, state.model_name) == (4, ["q", None], "m")
    assert parse_state({"conv_id": "c", "messages": []}).texts == []


def test_tiny_batches_give_the_same_tables(ingested, synth_logs, tmp_path, monkeypatch):
    """Records wait in batches for the identity words; batch boundaries must not change any row."""
    monkeypatch.setattr(ingest, "BATCH_ROWS", 7)
    ingest.ingest_logs(synth_logs, tmp_path, load_cleaning_config(), workers=1)
    out, _ = ingested
    for name in ("battles", "conversations", "feedback", "quarantine"):
        assert pq.read_table(tmp_path / f"{name}.parquet").equals(pq.read_table(out / f"{name}.parquet")), name


@pytest.mark.parametrize("texts", [[""], ["ERROR\nDUE TO HIGH TRAFFIC"]])
def test_server_texts_that_would_match_beyond_one_message_are_refused(tmp_path, texts):
    """The rule searches the messages joined by newlines: an empty text would match every record, and one
    with a newline could match across two messages."""
    override = tmp_path / "cleaning.yaml"
    override.write_text(yaml.safe_dump({"server_texts": {"server_error": texts}}))
    with pytest.raises(ConfigError, match="server_error.*empty text or one with a newline"):
        load_cleaning_config(override)
