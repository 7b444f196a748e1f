"""Fuzzed log lines through the public ingest: it never crashes on a bad line and always reconciles.

Each example is one tiny log directory holding a file of many fuzzed lines: arbitrary bytes, valid
FastChat records with a value replaced (wrong types, deep nesting, huge numbers, odd strings) or a
key deleted, then possibly truncated or with invalid UTF-8 spliced in. `ingest_logs` must account for
every line exactly once: kept, merged into a later state, or quarantined with a reason.
"""

from __future__ import annotations

import collections
import gzip
import json
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.cleaning_config import load_cleaning_config
from pipeline.ingest import ingest_logs
from tests.logbuilder import T0, battle, chat, state, vote

CONFIG = load_cleaning_config()
LOG_NAME = "2024-06-01-conv.json"
OUTPUT_TABLES = ("battles", "conversations", "feedback", "quarantine")


def valid_records() -> list[dict]:
    """One of each record kind the log holds: chat states (two of one conversation), votes, feedback."""
    a = state("model-x", [("What is the capital of France?", "Paris.")], conv_id="a" * 32)
    b = state("model-y", [("What is the capital of France?", "It is Paris.")], offset_turns=1, conv_id="b" * 32)
    longer = state("model-x", [("What is the capital of France?", "Paris."), ("And Spain?", "Madrid.")],
                   conv_id="a" * 32)
    return [
        chat(a, T0), chat(longer, T0 + 5), chat(b, T0 + 6),
        vote("leftvote", longer, b, T0 + 30), battle(kind="tievote", models=("model-x", "model-z"), named=True),
        battle(kind="bothbad_vote"),
        {"tstamp": T0 + 40, "type": "upvote", "model": "model-x", "state": a, "ip": "10.0.0.9"},
        {"tstamp": T0 + 41, "type": "share", "model": "model-y", "state": b, "ip": "10.0.0.9"},
    ]


VALID = valid_records()

# JSON values of every shape, including the awkward ones: huge and negative numbers, floats at the
# edge of the tstamp range, empty and control-character strings, lone surrogate escapes.
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1e9, 1e10, 1e10 + 1, 2**63, 10**30, 1e308]),
    st.text(max_size=30),
    st.sampled_from(["", "▌", "\x00", "USER", "chat", "leftvote", "$MODERATION$", "a" * 5000, "Paris.▌",
                     "NETWORK ERROR DUE TO HIGH TRAFFIC", "I am made by OpenAI", "model-z", "10.9.9.9"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def paths(value, prefix=()):
    """Every path (keys and list indices) into a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def mutate(record: dict, path: tuple, replacement, delete: bool) -> dict:
    record = json.loads(json.dumps(record))
    if not path:
        return replacement
    parent = record
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return record


@st.composite
def mutated_record_line(draw) -> bytes:
    record = draw(st.sampled_from(VALID))
    path = draw(st.sampled_from(list(paths(record))))
    delete = bool(path) and draw(st.booleans())
    value = mutate(record, path, None if delete else draw(json_values), delete)
    line = json.dumps(value).encode()
    surgery = draw(st.sampled_from(["none", "truncate", "invalid_utf8", "nest"]))
    if surgery == "truncate":
        line = line[: draw(st.integers(0, len(line)))]
    elif surgery == "invalid_utf8":
        cut = draw(st.integers(0, len(line)))
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
        line = line[:cut] + bad + line[cut:]
    elif surgery == "nest":
        depth = draw(st.integers(1, 3000))
        nested = b"[" * depth + b"1" + b"]" * depth
        line = line.replace(b'"offset": ', b'"offset": ' + nested + b", \"x\": ", 1) if b'"offset"' in line else nested
    return line


lines = st.one_of(
    mutated_record_line(),
    st.binary(max_size=120).map(lambda b: b.replace(b"\n", b"")),
    st.sampled_from([json.dumps(r).encode() for r in VALID]),
    st.sampled_from([b"", b" ", b"\r", b"null", b"[]", b"{}", b'"chat"', b"1e999", b'{"type": "chat"}',
                     b'{"type": 1}', b'{"type": "leftvote", "states": "x"}', b"\xef\xbb\xbf{}"]),
)


def line_count(data: bytes) -> int:
    """Lines as a binary file iterates them: split after each b"\\n", a last unterminated line counts."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def ingest_and_check(data: bytes, compress: bool = False, truncate_gzip: int | None = None) -> dict:
    """Ingest one file holding `data` and check the accounting against the output tables."""
    with tempfile.TemporaryDirectory() as tmp:
        logs, out = Path(tmp) / "logs", Path(tmp) / "out"
        (logs / "server0").mkdir(parents=True)
        if compress:
            packed = gzip.compress(data)
            (logs / "server0" / f"{LOG_NAME}.gz").write_bytes(packed[:truncate_gzip])
        else:
            (logs / "server0" / LOG_NAME).write_bytes(data)
        accounting = ingest_logs(logs, out, CONFIG, workers=1)
        tables = {name: pq.read_table(out / f"{name}.parquet") for name in OUTPUT_TABLES}

    if not compress:
        assert accounting["lines_read"] == line_count(data)
    kept, merged, quarantined = accounting["kept"], accounting["merged"], accounting["quarantined"]
    assert accounting["reconciled"]
    assert sum(kept.values()) + sum(merged.values()) + sum(quarantined.values()) == accounting["lines_read"]
    assert accounting["quarantined_total"] == sum(quarantined.values())
    assert tables["battles"].num_rows == kept["battles"]
    assert tables["conversations"].num_rows == kept["conversations"]
    assert tables["feedback"].num_rows == kept["feedback"]
    assert collections.Counter(tables["quarantine"]["reason"].to_pylist()) == collections.Counter(quarantined)
    # No line is kept twice, or both kept and quarantined: the rows of all tables name distinct lines.
    seen = collections.Counter()
    for name in OUTPUT_TABLES:
        seen.update(tables[name]["source_line"].to_pylist())
    assert not [line for line, count in seen.items() if count > 1]
    assert all(1 <= line <= accounting["lines_read"] for line in seen)
    return accounting


# No example database: the suite leaves no .hypothesis/ behind; a failure prints its minimal example.
@settings(max_examples=100, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(lines, min_size=1, max_size=40), st.booleans())
@example([b"[" * 5000 + b"]" * 5000, b'{"tstamp": 1e400, "type": "chat"}'], True)
@example([json.dumps(r).encode() for r in VALID], False)
def test_fuzzed_lines_never_crash_and_always_reconcile(fuzzed: list[bytes], final_newline: bool):
    data = b"\n".join(fuzzed) + (b"\n" if final_newline else b"")
    ingest_and_check(data)


@settings(max_examples=15, deadline=None, database=None)
@given(st.lists(lines, min_size=1, max_size=20), st.floats(0.0, 1.0))
def test_truncated_gzip_logs_reconcile(fuzzed: list[bytes], keep: float):
    """A gzip log cut anywhere: the lines read before the cut are accounted for, the tail is one
    quarantined `unreadable_file` line, never a crash."""
    data = b"\n".join(fuzzed) + b"\n"
    size = len(gzip.compress(data))
    accounting = ingest_and_check(data, compress=True, truncate_gzip=max(1, int(size * keep)))
    if int(size * keep) < size:
        assert accounting["quarantined"].get("unreadable_file") == 1


def test_valid_records_are_kept():
    """The unmutated records are all kept, so a fuzzed failure is the mutation's doing, not the base's."""
    accounting = ingest_and_check(b"".join(json.dumps(r).encode() + b"\n" for r in VALID))
    assert accounting["kept"] == {"battles": 3, "conversations": 2, "feedback": 2}
    assert accounting["merged"] == {"superseded_state": 1}
    assert accounting["quarantined_total"] == 0

