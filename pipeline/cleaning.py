"""FastChat battle and conversation semantics (REFERENCE §2), one record at a time.

`clean_battle` and `clean_chat` turn a parsed record into a row for the battles or conversations
table, or raise `RecordError` with the reason FastChat would have dropped it for.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pipeline.cleaning_config import CleaningConfig
from pipeline.logrecords import RecordError, State, parse_state, require, tstamp_of

WINNER_BY_VOTE = {
    "leftvote": "model_a",
    "rightvote": "model_b",
    "tievote": "tie",
    "bothbad_vote": "tie (bothbad)",
}
ANONYMOUS_PUBLIC_NAMES = ("", "Model A", "Model B")

_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:\d+\.|[-*+])\s", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def to_conversation(state: State) -> list[dict[str, str]]:
    """Messages after the offset as {content, role}; roles by position, whatever the template says."""
    return [
        {"content": text, "role": "user" if i % 2 == 0 else "assistant"}
        for i, text in enumerate(state.texts)
    ]


def check_content(states: list[State], config: CleaningConfig, anonymous: bool) -> None:
    """The content rules shared by battles and conversations, in FastChat's order."""
    for state in states:
        texts = state.texts
        if len(texts) < 2 or texts[0] is None:
            raise RecordError("no_message", f"{state.conv_id}: no user turn with a reply")
        if len(texts) % 2 or texts[-1] is None:
            raise RecordError("unfinished", f"{state.conv_id}: last prompt has no reply")
        if any(reply.endswith(config.unfinished_marker) for reply in texts[1::2]):
            raise RecordError("unfinished", f"{state.conv_id}: reply still streaming when logged")
        user_texts = texts[0::2]
        if len(user_texts) > config.max_turns:
            raise RecordError("too_many_turns", f"{len(user_texts)} > {config.max_turns}")
        longest = max(len(t) for t in user_texts if t is not None)
        if longest > config.max_user_chars:
            raise RecordError("input_too_long", f"{longest} chars > {config.max_user_chars}")
    joined = "\n".join(t for s in states for t in s.texts if t)
    for reason, needles in config.server_texts.items():
        if any(needle in joined for needle in needles):
            raise RecordError(reason, "server-injected text in a message")
    if anonymous:
        lowered = joined.lower()
        for word in config.identity_words:
            if word in lowered:
                raise RecordError("identity_leak", word)


def resolve_battle_models(record: dict[str, Any], states: list[State]) -> tuple[list[str], bool]:
    """FastChat's anonymous/named rule: (hidden model names, anony)."""
    public = require(record, "models", list)
    if len(public) != 2 or not all(isinstance(m, str) for m in public):
        raise RecordError("invalid_battle", "models is not a pair of strings")
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


def conv_metadata(state_a: State, state_b: State) -> dict[str, int]:
    """Style counts per side (approximate tokens, markdown headers, list items, bold spans)."""
    meta = {"sum_user_tokens": sum(approx_tokens(t) for t in state_a.texts[0::2])}
    for side, state in (("a", state_a), ("b", state_b)):
        replies = state.texts[1::2]
        prose = [_CODE_BLOCK.sub("", t) if "```" in t else t for t in replies]
        meta[f"sum_assistant_{side}_tokens"] = sum(approx_tokens(t) for t in replies)
        meta[f"header_count_{side}"] = sum(len(_HEADER.findall(t)) for t in prose if "#" in t)
        meta[f"list_count_{side}"] = sum(len(_LIST_ITEM.findall(t)) for t in prose)
        meta[f"bold_count_{side}"] = sum(len(_BOLD.findall(t)) for t in prose if "**" in t or "__" in t)
    return meta


def approx_tokens(text: str) -> int:
    """About one BPE token per 4 UTF-8 bytes (English ~4 chars/token; CJK ~1 token/char)."""
    return (len(text.encode("utf-8")) + 3) // 4


class Cleaner:
    """Applies the cleaning config to parsed records; one instance per worker process."""

    def __init__(self, config: CleaningConfig, judge_of_ip, banned_judges: frozenset[str]):
        self.config = config
        self.judge_of_ip = functools.lru_cache(maxsize=1 << 16)(judge_of_ip)
        self.banned_judges = banned_judges
        self.excluded = frozenset(config.excluded_models)

    def _judge(self, record: dict[str, Any]) -> str:
        ip = require(record, "ip", str)
        if not ip:
            raise RecordError("invalid_value", "empty ip")
        judge = self.judge_of_ip(ip)
        if judge in self.banned_judges:
            raise RecordError("banned_user")
        return judge

    def _models_allowed(self, models: list[str]) -> None:
        for model in models:
            if model in self.excluded:
                raise RecordError("excluded_model", model)

    def clean_battle(self, record: dict[str, Any], kind: str) -> dict[str, Any]:
        tstamp = tstamp_of(record)
        raw_states = require(record, "states", list)
        if len(raw_states) != 2:
            raise RecordError("invalid_battle", f"{len(raw_states)} states instead of 2")
        states = [parse_state(raw, f"states[{i}]") for i, raw in enumerate(raw_states)]
        models, anonymous = resolve_battle_models(record, states)
        judge = self._judge(record)
        check_content(states, self.config, anonymous)
        models = [self.config.rename(m, tstamp) for m in models]
        self._models_allowed(models)
        conversation_a, conversation_b = to_conversation(states[0]), to_conversation(states[1])
        return {
            "question_id": states[0].conv_id,
            "conv_id_b": states[1].conv_id,
            "model_a": models[0],
            "model_b": models[1],
            "winner": WINNER_BY_VOTE[kind],
            "judge": judge,
            "conversation_a": conversation_a,
            "conversation_b": conversation_b,
            "turn": (len(conversation_a) + 1) // 2,
            "anony": anonymous,
            "language": None,
            "tstamp": tstamp,
            "conv_metadata": conv_metadata(states[0], states[1]),
        }

    def clean_chat(self, record: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """A conversation-state row plus the reason its content is unusable (None when clean).

        The reason is not raised: only the conversation's last state decides its fate, and earlier
        states are merged into it whatever they held.
        """
        tstamp = tstamp_of(record)
        state = parse_state(record.get("state"))
        model = require(record, "model", str)
        judge = self._judge(record)
        model = self.config.rename(model, tstamp)
        reject = None
        try:
            check_content([state], self.config, anonymous=False)
            self._models_allowed([model])
        except RecordError as err:
            reject = err.reason
        conversation = to_conversation(state)
        row = {
            "conversation_id": state.conv_id,
            "model": model,
            "conversation": conversation,
            "turn": (len(conversation) + 1) // 2,
            "language": None,
            "tstamp": tstamp,
            "judge": judge,
            "n_messages": len(state.messages),
        }
        return row, reject

    def clean_feedback(self, record: dict[str, Any], kind: str) -> dict[str, Any]:
        tstamp = tstamp_of(record)
        state = parse_state(record.get("state"))
        model = self.config.rename(require(record, "model", str), tstamp)
        return {
            "conversation_id": state.conv_id,
            "type": kind,
            "model": model,
            "judge": self._judge(record),
            "tstamp": tstamp,
        }
