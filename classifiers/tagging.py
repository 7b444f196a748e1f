"""Adds language, moderation and toxicity columns to battles and conversations, a chunk at a time.

Columns added (an existing `language` column is filled in place):
- `language`, `language_code`, `language_confidence`: from the user turns of the first conversation
  column, joined in order (in a battle both sides carry the same user turns). "unknown"/"und" below
  the detector's confidence threshold or when there is no user text.
- `openai_moderation` and `openai_moderation_status`, in one of two layouts:
  "per_message" (lmsys-chat-1m): one result per message, as lists parallel to the conversation;
  "combined" (chatbot_arena_conversations): one result per row over every message of every
  conversation column, flagged if any message is, scores maxed. Status is "ok", "not_run" or
  "error: ..." (per message in the list layout). `openai_moderation` is null for a row unless every
  message of it was moderated: never a default "not flagged", and the release policy drops a row
  whose moderation is null as not checked.
- `toxicity`: a struct with `flagged` (max_score >= the scorer's threshold), `max_score` (the
  scorer's flag label, over all messages of the row; both null when no message had text) and, per
  conversation column, `<column>_scores`: one struct of the model's label scores per message.

Every message of every row is sent to the classifiers; each classifier deduplicates and caches, so
the user turns a battle repeats on both sides are scored once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from classifiers.language import LanguageDetector
from classifiers.moderation import ModerationTagger
from classifiers.status import StageStatus
from classifiers.toxicity import ToxicityScorer

ModerationLayout = Literal["per_message", "combined"]


@dataclass
class Classifiers:
    """The stages to run; a stage left as None is skipped (its columns are not added), so each stage
    can run as its own step over the previous step's output."""

    language: LanguageDetector | None = None
    moderation: ModerationTagger | None = None
    toxicity: ToxicityScorer | None = None

    def statuses(self) -> list[StageStatus]:
        """What each stage that ran did, for the release manifest."""
        return [stage.status for stage in (self.language, self.moderation, self.toxicity) if stage is not None]

    def close(self) -> None:
        """Stop the worker processes the toxicity stage may have started."""
        if self.toxicity is not None:
            self.toxicity.close()


@dataclass(frozen=True)
class _Messages:
    """The messages of one conversation column, flattened, with each row's slice of them."""

    contents: pa.Array
    roles: pa.Array
    offsets: np.ndarray  # row i owns messages offsets[i]:offsets[i + 1]

    @classmethod
    def of(cls, column: pa.Array) -> _Messages:
        lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
        flat = pc.list_flatten(column)
        offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        # struct_field keeps a null message null (`.field()` would read whatever lies under it).
        contents, roles = pc.struct_field(flat, "content"), pc.struct_field(flat, "role")
        return cls(contents=contents, roles=roles, offsets=offsets)

    @property
    def rows(self) -> np.ndarray:
        """The row index of every message."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))

    def as_lists(self, values: pa.Array, missing: np.ndarray | None = None) -> pa.ListArray:
        """Per-message `values` regrouped into one list per row, parallel to the conversation;
        rows where `missing` is true get a null list."""
        mask = None if missing is None else pa.array(missing, pa.bool_())
        return pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), values, mask=mask)


def tag_conversations(table: pa.Table, classifiers: Classifiers, *, chunk_rows: int = 10_000) -> pa.Table:
    """lmsys-chat-1m shape: one moderation result per message."""
    return tag_table(table, ["conversation"], classifiers, moderation_layout="per_message", chunk_rows=chunk_rows)


def tag_battles(table: pa.Table, classifiers: Classifiers, *, chunk_rows: int = 10_000) -> pa.Table:
    """chatbot_arena_conversations shape: one moderation result per battle."""
    return tag_table(
        table,
        ["conversation_a", "conversation_b"],
        classifiers,
        moderation_layout="combined",
        chunk_rows=chunk_rows,
    )


def tag_table(
    table: pa.Table,
    conversation_columns: Sequence[str],
    classifiers: Classifiers,
    *,
    moderation_layout: ModerationLayout,
    chunk_rows: int = 10_000,
) -> pa.Table:
    # An empty table still goes through one (empty) batch, so the result has the tagged schema.
    batches = table.to_batches(max_chunksize=chunk_rows) or [pa.RecordBatch.from_pylist([], schema=table.schema)]
    tagged = list(tag_batches(batches, conversation_columns, classifiers, moderation_layout=moderation_layout))
    return pa.Table.from_batches(tagged)


def tag_batches(
    batches: Iterable[pa.RecordBatch],
    conversation_columns: Sequence[str],
    classifiers: Classifiers,
    *,
    moderation_layout: ModerationLayout,
) -> Iterator[pa.RecordBatch]:
    """Stream-friendly form of `tag_table`: each batch is tagged and yielded on its own."""
    if not conversation_columns:
        raise ValueError("tagging needs at least one conversation column")
    if moderation_layout == "per_message" and len(conversation_columns) != 1:
        raise ValueError("the per_message moderation layout is for tables with one conversation column")
    for batch in batches:
        missing = [name for name in conversation_columns if name not in batch.schema.names]
        if missing:
            raise KeyError(f"conversation columns {missing} are not in the table ({batch.schema.names})")
        messages = [_Messages.of(batch.column(name)) for name in conversation_columns]
        columns = dict(zip(batch.schema.names, batch.columns, strict=True))
        if classifiers.language is not None:
            columns.update(_language_columns(batch.column(conversation_columns[0]), classifiers.language))
        if classifiers.moderation is not None:
            columns.update(_moderation_columns(messages, classifiers.moderation, moderation_layout))
        if classifiers.toxicity is not None:
            columns.update(_toxicity_columns(messages, conversation_columns, classifiers.toxicity))
        yield pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))


def user_text(conversation: pa.Array) -> pa.Array:
    """Each row's user turns joined by newlines: what the language detector reads."""
    messages = _Messages.of(conversation)
    is_user = pc.fill_null(pc.equal(messages.roles, "user"), False)
    user_texts = pc.filter(pc.fill_null(messages.contents, ""), is_user)
    user_rows = messages.rows[is_user.to_numpy(zero_copy_only=False)]
    row_count = len(messages.offsets) - 1
    user_offsets = np.concatenate([[0], np.cumsum(np.bincount(user_rows, minlength=row_count))])
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(user_offsets, pa.int32()), user_texts), "\n")


def _language_columns(conversation: pa.Array, detector: LanguageDetector) -> dict[str, pa.Array]:
    names, codes, confidences = detector.detect_array(user_text(conversation))
    return {"language": names, "language_code": codes, "language_confidence": confidences}


def _moderation_columns(
    messages: list[_Messages], tagger: ModerationTagger, layout: ModerationLayout
) -> dict[str, pa.Array]:
    results = tagger.moderate([text for part in messages for text in part.contents.to_pylist()])
    if layout == "per_message":
        [only] = messages
        incomplete = np.bincount(only.rows[~results.ok], minlength=len(only.offsets) - 1) > 0
        return {
            "openai_moderation": only.as_lists(results.structs(), missing=incomplete),
            "openai_moderation_status": only.as_lists(results.status_array()),
        }
    # All columns' messages, concatenated column by column: each row's in conversation order.
    rows = np.concatenate([part.rows for part in messages])
    combined = results.combine(rows, len(messages[0].offsets) - 1)
    return {"openai_moderation": combined.structs(), "openai_moderation_status": combined.status_array()}


def _toxicity_columns(messages: list[_Messages], names: Sequence[str], scorer: ToxicityScorer) -> dict[str, pa.Array]:
    scores = scorer.score([text for part in messages for text in part.contents.to_pylist()])
    score_type = pa.struct([(label, pa.float64()) for label in scorer.labels])
    flag_label = scorer.settings.flag_label
    max_score = np.full(len(messages[0].offsets) - 1, np.nan)
    per_column: dict[str, pa.Array] = {}
    start = 0
    for name, part in zip(names, messages, strict=True):
        part_scores = scores[start : start + int(part.offsets[-1])]
        start += int(part.offsets[-1])
        per_column[f"{name}_scores"] = part.as_lists(pa.array(part_scores, score_type))
        flag_scores = np.array([np.nan if s is None else s[flag_label] for s in part_scores], dtype=np.float64)
        np.fmax.at(max_score, part.rows, flag_scores)
    unscored = np.isnan(max_score)
    fields = {
        "flagged": pa.array(max_score >= scorer.settings.threshold, pa.bool_(), mask=unscored),
        "max_score": pa.array(max_score, pa.float64(), mask=unscored),
        **per_column,
    }
    return {"toxicity": pa.StructArray.from_arrays(list(fields.values()), names=list(fields))}
