"""Parse and structurally validate one FastChat log line (REFERENCE §1).

Every failure is a `RecordError` carrying a stable reason code, so the caller can quarantine the
line and count it; nothing here drops or repairs data silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

BATTLE_VOTE_TYPES = ("leftvote", "rightvote", "tievote", "bothbad_vote")
FEEDBACK_TYPES = ("upvote", "downvote", "flag", "share")
KNOWN_TYPES = ("chat", *BATTLE_VOTE_TYPES, *FEEDBACK_TYPES)


class RecordError(Exception):
    """A line that cannot be kept; `reason` is a short code, `detail` says what exactly."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class State:
    """A conversation state as logged: messages after `offset` are the user's conversation."""

    conv_id: str
    model_name: str | None
    n_messages: int  # all logged messages, few-shot turns included (a later state has more)
    texts: list[str | None]  # texts after the template's few-shot turns; even positions are the user's


def parse_line(line: bytes, max_line_bytes: int) -> dict[str, Any]:
    """Bytes of one line to a JSON object, or a RecordError saying why not."""
    if len(line) > max_line_bytes:
        raise RecordError("oversized_line", f"{len(line)} bytes > {max_line_bytes}")
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        # Only now look closer: no valid JSON is blank, and the checks copy or decode the whole line.
        if not line.strip():
            raise RecordError("blank_line") from None
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            raise RecordError("invalid_utf8", str(err)[:200]) from None
        raise RecordError("malformed_json", str(err)[:200]) from None
    if not isinstance(record, dict):
        raise RecordError("not_an_object", type(record).__name__)
    return record


def record_type(record: dict[str, Any]) -> str:
    kind = record.get("type")
    if kind is None:
        raise RecordError("missing_field", "type")
    if not isinstance(kind, str):
        raise RecordError("wrong_type", f"type is {type(kind).__name__}")
    if kind not in KNOWN_TYPES:
        raise RecordError("unknown_record_type", kind[:100])
    return kind


def require(record: dict[str, Any], field: str, kinds: type | tuple[type, ...]) -> Any:
    if field not in record or record[field] is None:
        raise RecordError("missing_field", field)
    value = record[field]
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in _as_tuple(kinds):
        raise RecordError("wrong_type", f"{field} is {type(value).__name__}")
    return value


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def tstamp_of(record: dict[str, Any]) -> float:
    tstamp = float(require(record, "tstamp", (int, float)))
    if not 1e9 <= tstamp <= 1e10:
        raise RecordError("invalid_value", f"tstamp {tstamp} outside plausible range")
    return tstamp


def ip_of(record: dict[str, Any]) -> str:
    ip = require(record, "ip", str)
    if not ip:
        raise RecordError("invalid_value", "empty ip")
    return ip


def parse_state(raw: Any, where: str = "state") -> State:
    """Validate a logged state's shape: messages are [role, text] pairs, offset within range.

    Values come from orjson, so exact type tests (`type(x) is str`) equal isinstance and are cheaper
    in this loop, which runs for every message of every logged line.
    """
    if type(raw) is not dict:
        raise RecordError("wrong_type" if raw is not None else "missing_field", where)
    conv_id = raw.get("conv_id")
    if type(conv_id) is not str or not conv_id:
        raise RecordError("invalid_state", f"{where}.conv_id missing or not a string")
    messages = raw.get("messages")
    if type(messages) is not list:
        raise RecordError("invalid_state", f"{where}.messages is not a list")
    last = len(messages) - 1
    for index, message in enumerate(messages):
        if type(message) is not list or len(message) != 2 or type(message[0]) is not str:
            raise RecordError("invalid_state", f"{where}.messages[{index}] is not a [role, text] pair")
        text = message[1]
        if type(text) is not str:
            if text is not None:
                raise RecordError("invalid_state", f"{where}.messages[{index}] text is {type(text).__name__}")
            if index != last:
                raise RecordError("invalid_state", f"{where}.messages[{index}] is null before the last message")
    offset = raw.get("offset", 0)
    if type(offset) is not int or not 0 <= offset <= len(messages):
        raise RecordError("invalid_state", f"{where}.offset {offset!r} out of range")
    model_name = raw.get("model_name")
    if model_name is not None and type(model_name) is not str:
        raise RecordError("invalid_state", f"{where}.model_name is {type(model_name).__name__}")
    texts = [message[1] for message in messages[offset:]]
    return State(conv_id=conv_id, model_name=model_name, n_messages=len(messages), texts=texts)

