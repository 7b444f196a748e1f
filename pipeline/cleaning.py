"""FastChat battle and conversation semantics (REFERENCE §2), record by record and batch by batch.

Per record, in Python: structure, model resolution, judge hashing, the turn rules and server-injected
text, each raising `RecordError` with the reason FastChat would have dropped the record for. Per batch
of anonymous battles, in RE2 through Arrow: the identity words, one pass over the text for all words
(a Python `in` per word costs ~35 passes). `Battle.decide` applies the rules that follow them in
FastChat's order (identity words, then excluded models). The style counts of kept battles
(`conv_metadata`) are computed per batch too, over its conversation columns.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schemas
from pipeline.cleaning_config import CleaningConfig
from pipeline.logrecords import (
    RecordError,
    State,
    ip_of,
    parse_state,
    require,
    tstamp_of,
)

WINNER_BY_VOTE = {
    "leftvote": "model_a",
    "rightvote": "model_b",
    "tievote": "tie",
    "bothbad_vote": "tie (bothbad)",
}
ANONYMOUS_PUBLIC_NAMES = ("", "Model A", "Model B")
SERVER_TEXT_DETAIL = "server-injected text in a message"

# RE2 patterns, run by Arrow over whole columns (neither depends on where the previous match ended).
_CODE_BLOCK = r"(?s)```.*?```"
_BOLD = r"\*\*[^*\n]+\*\*|__[^_\n]+__"


def check_turns(state: State, config: CleaningConfig) -> None:
    """The per-state content rules, in FastChat's order; the text rules (server text, identity words)
    come after them, over the text of all states."""
    texts = state.texts
    if len(texts) < 2 or texts[0] is None:
        raise RecordError("no_message", f"{state.conv_id}: no user turn with a reply")
    if len(texts) % 2 or texts[-1] is None:
        raise RecordError("unfinished", f"{state.conv_id}: last prompt has no reply")
    marker = config.unfinished_marker
    for reply in texts[1::2]:
        if reply.endswith(marker):
            raise RecordError("unfinished", f"{state.conv_id}: reply still streaming when logged")
    user_texts = texts[0::2]
    if len(user_texts) > config.max_turns:
        raise RecordError("too_many_turns", f"{len(user_texts)} > {config.max_turns}")
    longest = max(map(len, user_texts))  # only the last text may be None, and it is a reply
    if longest > config.max_user_chars:
        raise RecordError("input_too_long", f"{longest} chars > {config.max_user_chars}")


def message_text(texts: list[str | None]) -> str:
    """All non-empty messages after the offsets, one per line: what the text rules search."""
    return "\n".join(filter(None, texts))


def check_server_text(text: str, config: CleaningConfig) -> None:
    for reason, needles in config.server_texts.items():
        for needle in needles:
            if needle in text:
                raise RecordError(reason, SERVER_TEXT_DETAIL)


class IdentityWords:
    """The identity words as one RE2 literal alternation, matched over a batch of lower-cased texts."""

    def __init__(self, words: list[str]):
        self.words = words
        self.pattern = literal_pattern(words) if words else None

    def first_words(self, lowered: list[str]) -> list[str | None]:
        """Per text, the first identity word (in configured order) it contains, or None."""
        found: list[str | None] = [None] * len(lowered)
        if self.pattern is None or not lowered:
            return found
        matched = pc.match_substring_regex(pa.array(lowered, pa.string()), self.pattern).fill_null(False)
        for index in np.flatnonzero(matched.to_numpy(zero_copy_only=False)):
            found[index] = next(word for word in self.words if word in lowered[index])
        return found


def literal_pattern(words: Iterable[str]) -> str:
    """An RE2 pattern matching any of `words` literally, as a trie (RE2 runs it in one DFA pass)."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, dict]) -> str:
        branches = [_literal_char(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(trie)


def _literal_char(char: str) -> str:
    return char if char.isascii() and char.isalnum() else f"\\x{{{ord(char):x}}}"


def public_models(record: dict[str, Any]) -> list[str]:
    public = require(record, "models", list)
    if len(public) != 2 or not all(isinstance(m, str) for m in public):
        raise RecordError("invalid_battle", "models is not a pair of strings")
    return public


def resolve_battle_models(
    public: list[str], states: Sequence[State]
) -> tuple[list[str], bool]:
    """FastChat's anonymous/named rule on the logged public names: (hidden model names, anony)."""
    hidden = [s.model_name for s in states]
    if (public[0] == "") != (public[1] == ""):
        raise RecordError("invalid_battle", "exactly one public model name is empty")
    anonymous = public[0] in ANONYMOUS_PUBLIC_NAMES
    if anonymous:
        if not all(hidden):
            raise RecordError("invalid_battle", "anonymous battle without hidden model names")
        return [str(m) for m in hidden], True
    if any(h and h not in p for h, p in zip(hidden, public, strict=True)):
        raise RecordError("invalid_battle", "named battle whose hidden names differ from the public ones")
    return list(public), False


def conv_metadata(conversation_a: pa.ListArray, conversation_b: pa.ListArray) -> pa.StructArray:
    """Style counts per battle of a batch (approximate tokens, markdown headers, list items, bold spans),
    from its CONVERSATION columns, all computed over the batch's replies at once in Arrow."""
    rows = len(conversation_a)
    user_parents, user_texts = _messages_of(conversation_a, "user")
    columns = {"sum_user_tokens": _sum_per_row(user_parents, _approx_tokens(user_texts), rows)}
    for side, conversation in (("a", conversation_a), ("b", conversation_b)):
        parents, replies = _messages_of(conversation, "assistant")
        prose = pc.replace_substring_regex(replies, _CODE_BLOCK, "")
        columns[f"sum_assistant_{side}_tokens"] = _sum_per_row(parents, _approx_tokens(replies), rows)
        columns[f"header_count_{side}"] = _sum_per_row(parents, _HEADER.counts(prose), rows)
        columns[f"list_count_{side}"] = _sum_per_row(parents, _LIST_ITEM.counts(prose), rows)
        columns[f"bold_count_{side}"] = _sum_per_row(
            parents, pc.count_substring_regex(prose, _BOLD).to_numpy(), rows)
    return pa.StructArray.from_arrays([pa.array(columns[f.name], f.type) for f in schemas.CONV_METADATA],
                                      fields=list(schemas.CONV_METADATA))


def _messages_of(conversation: pa.ListArray, role: str) -> tuple[np.ndarray, pa.Array]:
    """(row index, content) of each message of `role`, in order."""
    messages = pc.list_flatten(conversation)
    is_role = pc.equal(messages.field("role"), role)
    return pc.list_parent_indices(conversation).filter(is_role).to_numpy(), messages.field("content").filter(is_role)


def _approx_tokens(texts: pa.Array) -> np.ndarray:
    """About one BPE token per 4 UTF-8 bytes (English ~4 chars/token; CJK ~1 token/char)."""
    return (pc.binary_length(texts).to_numpy().astype(np.int64) + 3) // 4


def _sum_per_row(rows_of: np.ndarray, values, rows: int) -> np.ndarray:
    sums = np.zeros(rows, dtype=np.int64)
    np.add.at(sums, rows_of, np.asarray(values, dtype=np.int64))
    return sums


@functools.cache
def _re2_class(python_class: str) -> str:
    """Python's Unicode meaning of a class such as `\\s` or `\\d`, spelled out as an RE2 class of ranges
    (RE2's own `\\s` and `\\d` are ASCII only): its runs over every character in code point order."""
    code_points = np.arange(0x110000, dtype="<u4")
    every_char = code_points[(code_points < 0xD800) | (code_points > 0xDFFF)].tobytes().decode("utf-32-le")
    runs = re.findall(f"{python_class}+", every_char)
    return "[" + "".join(f"\\x{{{ord(run[0]):x}}}-\\x{{{ord(run[-1]):x}}}" for run in runs) + "]"


class LineStartPattern:
    """Counts per text the matches of `re.compile("^" + body, re.MULTILINE).findall`, in Arrow over a column,
    for a body ending in `\\s` whose other parts match no newline, except a leading `\\s*`.

    Such a match never spans a line start but the one after its final `\\s`, when that is the newline; and a
    leading `\\s*` that crosses blank lines lands where the next non-blank line's own start lands too. So
    the matches are the lines of the text where the body matches at the start, the line's end meeting the
    final `\\s` when a newline follows it. Python's Unicode `\\s` and `\\d` are spelled out for RE2."""

    def __init__(self, body: str):
        if not body.endswith(r"\s"):
            raise ValueError(f"line-start body must end in \\s: {body!r}")
        space, digit = _re2_class(r"\s"), _re2_class(r"\d")
        head = body[:-2].replace(r"\s", space).replace(r"\d", digit)
        self.at_line_end = f"^(?:{head})(?:{space}|$)"
        self.within_line = f"^(?:{head}){space}"

    def counts(self, texts: pa.Array) -> np.ndarray:
        """Matches per text (0 for a null)."""
        lines = pc.split_pattern(texts, "\n")
        flat = pc.list_flatten(lines)
        per_text = pc.list_value_length(lines).fill_null(0).to_numpy()
        hit = pc.match_substring_regex(flat, self.at_line_end).to_numpy(zero_copy_only=False)
        last_lines = np.cumsum(per_text)[per_text > 0] - 1
        # A match at the end of a text's last line has no newline after it to stand for the final \s.
        ends_text = last_lines[hit[last_lines]]
        hit[ends_text] = pc.match_substring_regex(flat.take(ends_text), self.within_line).to_numpy(
            zero_copy_only=False)
        return np.bincount(pc.list_parent_indices(lines).to_numpy()[hit], minlength=len(texts))


_HEADER = LineStartPattern(r"#{1,6}\s")
_LIST_ITEM = LineStartPattern(r"\s*(?:\d+\.|[-*+])\s")


@dataclass(slots=True)
class Battle:
    """A battle that passed the per-record rules; the identity words are decided with its batch."""

    record_kind: str
    states: list[State]
    models: list[str]
    anonymous: bool
    judge: str
    tstamp: float
    lowered: str | None  # lower-cased message text, where identity words apply (anonymous battles)
    excluded: str | None  # an excluded model: the reason unless an identity word comes first
    rejected: tuple[str, str] | None = None  # (reason, detail) once decided

    def decide(self, identity_word: str | None) -> None:
        """The rules decided per batch, in FastChat's order: identity words, then excluded models."""
        if identity_word is not None:
            self.rejected = ("identity_leak", identity_word)
        elif self.excluded is not None:
            self.rejected = ("excluded_model", self.excluded)


@dataclass(slots=True)
class Chat:
    state: State
    model: str
    judge: str
    tstamp: float
    reject: str | None  # why the conversation is unusable if this turns out to be its last state


class Cleaner:
    """Applies the cleaning config to parsed records; one instance per worker process."""

    def __init__(self, config: CleaningConfig, judge_of_ip, banned_judges: frozenset[str]):
        self.config = config
        self.judge_of_ip = functools.lru_cache(maxsize=1 << 16)(judge_of_ip)
        self.banned_judges = banned_judges
        self.excluded = frozenset(config.excluded_models)
        self.identity_words = IdentityWords(config.identity_words)

    def _judge(self, ip: str) -> str:
        judge = self.judge_of_ip(ip)
        if judge in self.banned_judges:
            raise RecordError("banned_user")
        return judge

    def excluded_model(self, models: list[str]) -> str | None:
        """The first of `models` that is excluded, if any."""
        for model in models:
            if model in self.excluded:
                return model
        return None

    def battle(self, record: dict[str, Any], kind: str) -> Battle:
        """A vote record's battle, or RecordError for a rule that needs no batch to decide."""
        tstamp = tstamp_of(record)
        raw_states = require(record, "states", list)
        if len(raw_states) != 2:
            raise RecordError("invalid_battle", f"{len(raw_states)} states instead of 2")
        states = [parse_state(raw, f"states[{i}]") for i, raw in enumerate(raw_states)]
        models, anonymous = resolve_battle_models(public_models(record), states)
        judge = self._judge(ip_of(record))
        for state in states:
            check_turns(state, self.config)
        text = message_text(states[0].texts + states[1].texts)
        check_server_text(text, self.config)
        models = [self.config.rename(m, tstamp) for m in models]
        return Battle(kind, states, models, anonymous, judge, tstamp,
                      text.lower() if anonymous else None, self.excluded_model(models))

    def decide(self, battles: list[Battle]) -> None:
        """Apply the identity words to a batch of battles, completing their verdicts."""
        anonymous = [b for b in battles if b.lowered is not None]
        words = self.identity_words.first_words([b.lowered for b in anonymous])
        for battle, word in zip(anonymous, words, strict=True):
            battle.decide(word)
        for battle in battles:
            if battle.lowered is None:
                battle.decide(None)

    def chat(self, record: dict[str, Any]) -> Chat:
        """A conversation state, whatever its content: only the conversation's last state decides
        its fate, and earlier states are merged into it whatever they held. RecordError only for
        a record that is not a usable state at all."""
        tstamp = tstamp_of(record)
        state = parse_state(record.get("state"))
        model = require(record, "model", str)
        judge = self._judge(ip_of(record))
        model = self.config.rename(model, tstamp)
        try:
            check_turns(state, self.config)
            check_server_text(message_text(state.texts), self.config)
        except RecordError as err:
            reject = err.reason
        else:
            reject = "excluded_model" if model in self.excluded else None
        return Chat(state, model, judge, tstamp, reject)

    def feedback(self, record: dict[str, Any], kind: str) -> dict[str, Any]:
        tstamp = tstamp_of(record)
        state = parse_state(record.get("state"))
        model = self.config.rename(require(record, "model", str), tstamp)
        return {
            "conversation_id": state.conv_id,
            "type": kind,
            "model": model,
            "judge": self._judge(ip_of(record)),
            "tstamp": tstamp,
        }
