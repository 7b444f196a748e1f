"""Public release policy over Arrow tables (REFERENCE §2-§4).

A release takes each cleaned private table through, in order: the log window and the keyed-hash
draw of the public share (first, so that slow stages only see the drawn rows; the draw does not
depend on content, so the order does not change what is published); the classifier stages the
config requires (a stage that did not run blocks the release, a row it did not reach is dropped);
FastChat's release filters (the first matching reason names the drop, every drop is counted); then,
for the public, model anonymization and the projection to the lmsys schemas. Provider exports start
from the same public share, so they are always a subset of what the public gets later, and show
only the provider's own leaderboard models.

The one filter that looks beyond its row, "most frequent prompts", counts prompts over the rows it
is given: a prompt that becomes frequent later can withdraw rows, never publish held-back ones.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from classifiers.moderation import CATEGORY_NAMES
from classifiers.status import StageStatus
from pipeline import schemas
from pipeline.errors import ReleaseBlocked
from pipeline.leak_scan import LeakDetectors, residual_pii_rows
from pipeline.release_config import Filters, FrequentPrompts, LogWindow

# A classifier stage is known by the columns it writes; its types are the stage's own and pass through.
STAGE_COLUMNS: dict[str, tuple[str, ...]] = {
    "pii": ("redacted",),
    "moderation": ("openai_moderation",),
    "toxicity": ("toxicity",),
}
CLASSIFIER_COLUMNS = ("openai_moderation", "openai_moderation_extra", "toxicity")
# Public columns that may be missing from the input (the stage did not run): published as nulls.
# Release filter reason of rows withheld because their redacted text still holds PII (see PublicFilter.reasons).
RESIDUAL_PII = "residual_pii"
OPTIONAL_COLUMNS = frozenset({*CLASSIFIER_COLUMNS, "redacted", "language", "language_code", "dedup_tag"})

# The categories of lmsys/chatbot_arena_conversations' and lmsys/lmsys-chat-1m's `openai_moderation` (the
# moderation API of 2023), in their order: `openai_moderation` has exactly these, so code written for those
# datasets casts ours to their features. Categories the API added since go to `openai_moderation_extra`.
LMSYS_MODERATION_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "self-harm", "self-harm/instructions",
    "self-harm/intent", "sexual", "sexual/minors", "violence", "violence/graphic",
)  # fmt: skip
EXTRA_MODERATION_CATEGORIES = tuple(c for c in CATEGORY_NAMES if c not in LMSYS_MODERATION_CATEGORIES)


def _moderation_type(categories: tuple[str, ...], with_flag: bool) -> pa.StructType:
    return pa.struct([
        ("categories", pa.struct([(name, pa.bool_()) for name in categories])),
        ("category_scores", pa.struct([(name, pa.float64()) for name in categories])),
        *([("flagged", pa.bool_())] if with_flag else []),
    ])


LMSYS_MODERATION = _moderation_type(LMSYS_MODERATION_CATEGORIES, with_flag=True)
# `flagged` stays in `openai_moderation`: it is the API's verdict over every category, extra ones included.
MODERATION_EXTRA = _moderation_type(EXTRA_MODERATION_CATEGORIES, with_flag=False)
# `toxicity` when the toxicity stage left no column: its verdict fields, all null.
TOXICITY_VERDICT = pa.struct([("flagged", pa.bool_()), ("max_score", pa.float64())])

DROP_REASONS = (
    "taken_down",
    "pii_not_checked",
    "moderation_not_checked",
    "toxicity_not_checked",
    "bad_format",
    "too_short",
    "too_frequent",
    "leftover_marker",
    "blocked_word",
    "blocked_model",
    "moderation_flagged",
)


@dataclass(frozen=True)
class TableKind:
    """How the policy reads one table; `public_columns` gives order and fixed types (None: pass-through);
    a provider export has the public columns, then `export_columns` (which side is the provider's own)."""

    name: str
    id_column: str
    conversation_columns: tuple[str, ...]
    model_columns: tuple[str, ...]
    public_columns: tuple[tuple[str, pa.DataType | None], ...]
    export_columns: tuple[tuple[str, pa.DataType], ...]

    @property
    def provider_columns(self) -> tuple[tuple[str, pa.DataType | None], ...]:
        return (*self.public_columns, *self.export_columns)


def _typed(schema: pa.Schema, *names: str) -> tuple[tuple[str, pa.DataType], ...]:
    return tuple((name, schema.field(name).type) for name in names)


# lmsys/chatbot_arena_conversations, plus the newer moderation categories, toxicity, dedup_tag, language_code and
# redacted. Not `toxic_chat_tag`: its fields name ToxicChat's own RoBERTa and T5 taggers, which this pipeline
# does not run; our toxicity model's results are in `toxicity`, the model named in the manifest.
BATTLES = TableKind(
    name="battles",
    id_column="question_id",
    conversation_columns=("conversation_a", "conversation_b"),
    model_columns=("model_a", "model_b"),
    public_columns=(
        *_typed(schemas.BATTLES, "question_id", "model_a", "model_b", "winner", "judge", "conversation_a",
                "conversation_b", "turn", "anony", "language", "tstamp"),
        ("openai_moderation", LMSYS_MODERATION),
        ("openai_moderation_extra", MODERATION_EXTRA),
        ("toxicity", None),
        ("dedup_tag", schemas.DEDUP_TAG),
        ("language_code", pa.string()),
        ("redacted", pa.bool_()),
    ),
    export_columns=(("own_side", pa.string()),),
)
# lmsys/lmsys-chat-1m (no tstamp, no user id), plus the newer moderation categories, language_code and toxicity.
CONVERSATIONS = TableKind(
    name="conversations",
    id_column="conversation_id",
    conversation_columns=("conversation",),
    model_columns=("model",),
    public_columns=(
        *_typed(schemas.CONVERSATIONS, "conversation_id", "model", "conversation", "turn", "language"),
        ("openai_moderation", pa.list_(LMSYS_MODERATION)),
        ("redacted", pa.bool_()),
        ("openai_moderation_extra", pa.list_(MODERATION_EXTRA)),
        ("language_code", pa.string()),
        ("toxicity", None),
    ),
    export_columns=(("own_model", pa.bool_()),),
)
TABLE_KINDS = {kind.name: kind for kind in (BATTLES, CONVERSATIONS)}


# ---------------------------------------------------------------------------------------- stages


def stage_statuses(table: pa.Table, reports: Mapping[str, StageStatus] | None = None) -> dict[str, StageStatus]:
    """Each stage's status for this table: the stage's own report, checked against the columns."""
    return stage_statuses_in([table], table.column_names, reports)


def present_stage_columns(column_names: Iterable[str]) -> list[str]:
    """The classifier stages' columns a table has: all that `stage_statuses_in` reads."""
    names = set(column_names)
    return [c for columns in STAGE_COLUMNS.values() for c in columns if c in names]


def stage_statuses_in(
    batches: Iterable[pa.Table], column_names: Iterable[str], reports: Mapping[str, StageStatus] | None = None
) -> dict[str, StageStatus]:
    """Each stage's status for a table read in batches (holding at least its stage columns).

    A stage that reports ok but left no column (or only nulls) did not run here, whatever it says;
    one that reports nothing is ok when its column holds values, with model and version unknown.
    """
    present = present_stage_columns(column_names)
    rows, nulls = 0, dict.fromkeys(present, 0)
    for batch in batches:
        rows += len(batch)
        for column in present:
            nulls[column] += batch[column].null_count
    statuses = {}
    for stage, columns in STAGE_COLUMNS.items():
        report = (reports or {}).get(stage)
        found = [c for c in columns if c in nulls]
        filled = [c for c in found if rows == 0 or nulls[c] < rows]
        if report is not None and report.status == "not_run":
            statuses[stage] = report
        elif not filled:
            why = f"no {' or '.join(columns)} column" if not found else f"{found[0]} is null on every row"
            prefix = "reported ok but " if report is not None else ""
            statuses[stage] = StageStatus(stage, "not_run", prefix + why)
        else:
            statuses[stage] = report or StageStatus(stage, "ok")
    return statuses


def require_stages(statuses: Mapping[str, Mapping[str, StageStatus]], required: Iterable[str]) -> None:
    """Raise ReleaseBlocked naming every (table, stage) the config requires that did not run."""
    missing = [
        f"{table}: required stage {stage!r} {_verdict(per_stage[stage])} ({per_stage[stage].reason})"
        for table, per_stage in statuses.items()
        for stage in required
        if per_stage[stage].status != "ok"
    ]
    if missing:
        raise ReleaseBlocked("; ".join(missing))


def _verdict(status: StageStatus) -> str:
    return "did not run" if status.status == "not_run" else f"is {status.status}"


# ---------------------------------------------------------------------------------------- filters


def select_window(table: pa.Table, window: LogWindow) -> pa.Table:
    """Rows whose `day` lies in the window, both ends included (the table itself when all do)."""
    day = table["day"]
    inside = pc.and_(pc.greater_equal(day, window.start.isoformat()), pc.less_equal(day, window.end.isoformat()))
    return table if inside.null_count == 0 and pc.all(inside).as_py() else table.filter(inside)


@dataclass(frozen=True)
class FilterResult:
    """The filtered table as a mask over its input, so that callers copy only what they publish."""

    table: pa.Table
    keep: pa.BooleanArray
    dropped: dict[str, int]  # every reason checked, zeros included, in check order

    @property
    def kept(self) -> pa.Table:
        return self.table.filter(self.keep)


def apply_public_filters(
    table: pa.Table, kind: TableKind, filters: Filters, required_stages: Iterable[str] = ()
) -> FilterResult:
    """Drop what must not be public; each dropped row is counted under its first matching reason."""
    public_filter = PublicFilter.prepare(table.schema, kind, filters, required_stages, prompts=[table])
    reasons = public_filter.reasons(table)
    return FilterResult(table, pc.is_null(reasons), public_filter.count(reasons))


@dataclass(frozen=True)
class PublicFilter:
    """The release filters of one table as SQL conditions (reason, condition) in check order, ready to
    judge its rows batch by batch: only "most frequent prompts" looks beyond a row, and it is decided
    over the whole table's prompts when the filter is prepared."""

    kind: TableKind
    checks: tuple[tuple[str, str], ...]
    params: dict[str, object]
    columns: tuple[str, ...]  # what the conditions read
    detectors: LeakDetectors  # verify's structured-PII and IP scans (with the config's allowed networks)

    @classmethod
    def prepare(
        cls, schema: pa.Schema, kind: TableKind, filters: Filters, required_stages: Iterable[str],
        prompts: Iterable[pa.Table], taken_down: pa.Array | None = None, detectors: LeakDetectors | None = None,
    ) -> PublicFilter:
        """`prompts`: the whole table, in batches holding at least its conversation columns. `taken_down`:
        ids of rows people asked to remove (pipeline.takedown), dropped before any other check. `detectors`:
        verify's leak scans as the release runs them (by default: no allowed networks, nothing remembered)."""
        names = set(schema.names)
        checks: list[tuple[str, str]] = []
        params: dict[str, object] = {}
        if taken_down is not None:
            params["taken_down"] = taken_down.to_pylist()
            checks.append(("taken_down", f"list_contains($taken_down, {kind.id_column})" if len(taken_down)
                           else "false"))
        for stage in required_stages:
            columns = [c for c in STAGE_COLUMNS[stage] if c in names] or ["NULL"]
            checks.append((f"{stage}_not_checked", " AND ".join(f"{c} IS NULL" for c in columns)))

        convs = kind.conversation_columns
        checks.append(("bad_format", _any(
            f"({c} IS NULL OR len({c}) = 0 OR list_bool_or([m.content IS NULL OR m.role IS NULL for m in {c}]))"
            for c in convs
        )))
        if filters.too_short is not None:
            params |= {"max_messages": filters.too_short.max_messages, "min_chars": filters.too_short.min_prompt_chars}
            checks.append(("too_short", _any(
                f"(len({c}) <= $max_messages AND list_bool_and([length(p) < $min_chars for p in {_prompts(c)}]))"
                for c in convs
            )))
        if filters.too_frequent is not None:
            frequent = _frequent_prompts(prompts, schema, convs, filters.too_frequent)
            params |= {"frequent": frequent} if frequent else {}
            checks.append(("too_frequent", _any(
                f"list_bool_and([list_contains($frequent, p) for p in {_prompts(c)}])" for c in convs
            ) if frequent else "false"))
        for reason, words, param in (
            ("leftover_marker", filters.leftover_markers, "markers"),
            ("blocked_word", filters.blocked_words, "blocked_words"),
        ):
            if words:
                params[param] = words
                checks.append((reason, _any(
                    f"list_bool_or([contains({_text(c)}, w) for w in ${param}])" for c in convs
                )))
        if filters.blocked_models:
            params["blocked_models"] = filters.blocked_models
            checks.append(("blocked_model", _any(f"list_contains($blocked_models, {m})" for m in kind.model_columns)))
        flagged = _flagged_sql(schema)
        if filters.drop_moderation_flagged and flagged:
            checks.append(("moderation_flagged", f"coalesce({flagged}, false)"))
        columns = (kind.id_column, *convs, *kind.model_columns, *(c for c in OPTIONAL_COLUMNS if c in names))
        return cls(kind, tuple(checks), params, tuple(dict.fromkeys(columns)), detectors or LeakDetectors())

    @property
    def reason_names(self) -> tuple[str, ...]:
        return (*(reason for reason, _ in self.checks), RESIDUAL_PII)

    def reasons(self, batch: pa.Table) -> pa.Array:
        """Per row of `batch`, the first reason whose condition holds, or null: aligned with its rows.

        Last, a row every filter kept is withheld as `residual_pii` when its redacted text still holds
        what verify's leak scans find (structured PII, an IP address): verify then finds nothing in what
        is published, and a redaction miss costs its row, not the release."""
        reasons = _first_reasons(_for_duckdb(batch, self.columns), self.checks, self.params)
        kept = np.flatnonzero(pc.is_null(reasons).to_numpy(zero_copy_only=False))
        if not len(kept):
            return reasons
        residue = np.zeros(len(batch), dtype=bool)
        residue[kept] = residual_pii_rows(batch.take(kept), self.kind.conversation_columns, self.detectors)
        return pc.if_else(pa.array(residue), pa.scalar(RESIDUAL_PII), reasons) if residue.any() else reasons

    def count(self, reasons: pa.Array) -> dict[str, int]:
        """Rows dropped per reason, every reason checked (zeros included) in check order."""
        counts = dict(zip(*(v.to_pylist() for v in pc.value_counts(reasons).flatten()), strict=True))
        return {reason: counts.get(reason, 0) for reason in self.reason_names}


def _any(conditions: Iterable[str]) -> str:
    return "(" + " OR ".join(conditions) + ")"


def _prompts(column: str) -> str:
    """User prompts as FastChat compares them: lower-cased, surrounding whitespace stripped."""
    return f"[lower(regexp_replace(m.content, '^\\s+|\\s+$', '', 'g')) for m in {column} if m.role = 'user']"


def _text(column: str) -> str:
    return f"lower(array_to_string([m.content for m in {column}], chr(10)))"


def _flagged_sql(schema: pa.Schema) -> str | None:
    """openai_moderation as a struct (one result) or a list of structs (one per message)."""
    if "openai_moderation" not in schema.names:
        return None
    kind = schema.field("openai_moderation").type
    if pa.types.is_struct(kind) and kind.get_field_index("flagged") >= 0:
        return "openai_moderation.flagged"
    if pa.types.is_list(kind) and pa.types.is_struct(kind.value_type):
        return "list_bool_or([r.flagged for r in openai_moderation])"
    return None


def _frequent_prompts(
    tables: Iterable[pa.Table], schema: pa.Schema, columns: tuple[str, ...], rule: FrequentPrompts
) -> list[str]:
    """FastChat's most frequent prompts, each row counted once (the two sides of a battle share
    their prompts); ties are broken by text so the set is deterministic. DuckDB reads the batches
    as a stream, holding only the prompt counts."""
    selected = pa.schema([schema.field(c) for c in columns])
    batches = (
        pa.RecordBatch.from_arrays(batch.columns, schema=selected)
        for table in tables for batch in _for_duckdb(table, columns).to_batches()
    )
    prompts = " || ".join(_prompts(c) for c in columns)
    sql = (
        f"SELECT p FROM (SELECT unnest(list_distinct({prompts})) AS p FROM t) WHERE p IS NOT NULL "
        f"GROUP BY p HAVING count(*) >= {rule.min_count} ORDER BY count(*) DESC, p LIMIT {rule.top}"
    )
    with duckdb.connect() as con:
        con.register("t", pa.RecordBatchReader.from_batches(selected, batches))
        return [row[0] for row in con.sql(sql).fetchall()]


def _for_duckdb(table: pa.Table, columns: Iterable[str]) -> pa.Table:
    """The columns DuckDB reads, with sliced chunks made whole: DuckDB refuses a struct below an offset."""
    selected = table.select(list(dict.fromkeys(columns)))
    whole = [
        pa.chunked_array([pa.concat_arrays(column.chunks)], column.type)
        if any(chunk.offset for chunk in column.chunks) else column
        for column in selected.columns
    ]
    return pa.Table.from_arrays(whole, schema=selected.schema)


def _first_reasons(table: pa.Table, checks: list[tuple[str, str]], params: dict[str, object]) -> pa.Array:
    """Per row, the first reason whose condition holds, or null: aligned with the table's rows."""
    if len(table) == 0:
        return pa.array([], pa.string())
    cases = " ".join(f"WHEN {condition} THEN '{reason}'" for reason, condition in checks)
    sql = f"SELECT CASE {cases} END AS reason FROM t ORDER BY __row"
    indexed = table.append_column("__row", pa.array(np.arange(len(table), dtype=np.int64)))
    with duckdb.connect() as con:
        con.register("t", indexed)
        return con.sql(sql, params=params).to_arrow_table()["reason"].combine_chunks()


# ---------------------------------------------------------------------------------------- sample


def public_share_mask(ids: pa.Array | pa.ChunkedArray | Iterable[str], salt: bytes, fraction: float) -> pa.BooleanArray:
    """True for ids in the public share: HMAC-SHA256(salt, id) read as a number in [0, 1) < fraction.

    Each id's draw depends only on the salt and the id, so the decision is the same in every run
    and every release, and a larger fraction only ever adds ids (monotone).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    draws = share_draws(ids, salt)
    if fraction == 1:
        return pa.array(np.ones(len(draws), dtype=bool))
    return pa.array(draws < np.uint64(int(fraction * 2.0**64)))


def share_draws(ids: pa.Array | pa.ChunkedArray | Iterable[str], salt: bytes) -> np.ndarray:
    """The first 8 bytes of HMAC-SHA256(salt, id) per id, as big-endian uint64 (uniform on [0, 2^64))."""
    values = ids.to_pylist() if isinstance(ids, pa.Array | pa.ChunkedArray) else list(ids)
    if any(v is None for v in values):
        raise ValueError("cannot sample a row without an id")
    digests = b"".join(hmac.digest(salt, v.encode(), hashlib.sha256)[:8] for v in values)
    return np.frombuffer(digests, dtype=">u8").astype(np.uint64)


def conversation_share_ids(conversations: pa.Table, battles: pa.Table) -> pa.ChunkedArray:
    """The id each conversation is sampled by: for the B side of a battle, the battle's question_id.

    The A side already has the battle's id (question_id is its conv_id), so both sides share their
    battle's fate: a held-back battle never reaches the public through its conversations.
    """
    own = conversations["conversation_id"]
    battle_index = pc.index_in(own, value_set=battles["conv_id_b"].combine_chunks())
    via_battle = battles["question_id"].combine_chunks().take(battle_index)
    return pa.chunked_array([pc.coalesce(via_battle, own.combine_chunks())])


def draw_public_share(
    table: pa.Table, kind: TableKind, window: LogWindow, salt: bytes, fraction: float, battles: pa.Table | None = None
) -> tuple[pa.Table, dict[str, int]]:
    """The rows of the window in the public share, and the counts a manifest reports for the draw.

    Drawing comes before the filters and the slow stages (the draw does not depend on content, so the
    order does not change what is published), and they then run on the drawn rows only. Conversations
    need every cleaned battle (`battles`) so that a battle's B side is drawn with its battle.
    """
    windowed = select_window(table, window)
    if kind is CONVERSATIONS:
        if battles is None:
            raise ValueError("drawing conversations needs the battles table (their sides are drawn with them)")
        share_ids = conversation_share_ids(windowed, battles)
    else:
        share_ids = windowed[kind.id_column]
    in_share = public_share_mask(share_ids, salt, fraction)
    drawn = windowed.filter(in_share)
    counts = {"input": len(table), "in_window": len(windowed), "drawn": len(drawn)}
    if kind is CONVERSATIONS:
        keyed_by_battle = pc.not_equal(share_ids, windowed[kind.id_column]).filter(in_share)
        counts["drawn_via_battle"] = pc.sum(keyed_by_battle).as_py() or 0
    return drawn, counts


# ---------------------------------------------------------------------------------------- models


def anonymize_models(table: pa.Table, leaderboard_models: Iterable[str], label: str) -> pa.Table:
    """Every model column: names not in `leaderboard_models` become `label`."""
    shown = pa.array(sorted(set(leaderboard_models)), pa.string())
    for name in _model_columns(table):
        values = table[name]
        kept = pc.if_else(pc.is_in(values, value_set=shown), values, pa.scalar(label, pa.string()))
        table = table.set_column(table.column_names.index(name), name, kept)
    return table


def provider_export(
    table: pa.Table, provider_models: Iterable[str], leaderboard_models: Iterable[str], label: str
) -> pa.Table:
    """Rows of the public share involving the provider's models, with the side marker; only its own
    leaderboard models named.

    Opponents are always `label`, and so is the provider's own model while it is not on the leaderboard:
    the marker (`own_side` in battles: a, b or both; `own_model` in conversations) is how the provider
    finds its answers without the export naming a model the policy keeps unnamed.
    """
    own = set(provider_models)
    own_values = pa.array(sorted(own), pa.string())
    columns = _model_columns(table)
    is_own = {name: pc.fill_null(pc.is_in(table[name], value_set=own_values), False) for name in columns}
    involved = is_own[columns[0]]
    for name in columns[1:]:
        involved = pc.or_(involved, is_own[name])
    if columns == ["model"]:
        marker_name, marker = "own_model", is_own["model"]
    else:
        a, b = is_own["model_a"], is_own["model_b"]
        marker_name = "own_side"
        marker = pc.if_else(pc.and_(a, b), "both", pc.if_else(a, "a", pc.if_else(b, "b", pa.scalar(None, pa.string()))))
    marked = table.append_column(marker_name, marker).filter(involved)
    return anonymize_models(marked, own & set(leaderboard_models), label)


def _model_columns(table: pa.Table) -> list[str]:
    columns = [c for c in table.column_names if c in ("model", "model_a", "model_b")]
    if not columns:
        raise ValueError("table has no model column (model, model_a, model_b)")
    return columns


# ---------------------------------------------------------------------------------------- schema


def to_public(table: pa.Table, kind: TableKind) -> pa.Table:
    """The public columns in their public order and types, rows sorted by time then id."""
    _require_public_columns(table.column_names, kind)
    return public_columns(table.take(public_order(table, kind)) if len(table) else table, kind)


def to_export(table: pa.Table, kind: TableKind) -> pa.Table:
    """A provider export (from `provider_export`) in public order: the public columns, then the marker."""
    _require_public_columns(table.column_names, kind)
    ordered = table.take(public_order(table, kind)) if len(table) else table
    return public_columns(ordered, kind, kind.provider_columns)


def public_order(keys: pa.Table, kind: TableKind) -> pa.Array:
    """The public row order (time, then id) as indices into `keys`, which needs only those two columns."""
    return pc.sort_indices(keys, sort_keys=[("tstamp", "ascending"), (kind.id_column, "ascending")])


def public_columns(
    table: pa.Table, kind: TableKind, columns: tuple[tuple[str, pa.DataType | None], ...] | None = None
) -> pa.Table:
    """The public columns (or `columns`) in their order and types, rows as given (a batch of the sorted
    table).

    `openai_moderation` is split into lmsys's categories and the newer ones; `toxicity` keeps the stage's own
    type. A classifier column whose stage did not run is all null, typed all the same.
    """
    _require_public_columns(table.column_names, kind)
    derived = _public_moderation(table)
    arrays, fields = [], []
    for name, fixed in columns or kind.public_columns:
        if name in derived:
            column = derived[name]
        elif name in table.column_names:
            column = table[name] if fixed is None else table[name].cast(fixed)
        else:
            column = pa.chunked_array([pa.nulls(len(table), fixed or TOXICITY_VERDICT)])
        arrays.append(column)
        fields.append(pa.field(name, column.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _public_moderation(table: pa.Table) -> dict[str, pa.ChunkedArray]:
    """`openai_moderation` (a result, or a list of them: one per message) as lmsys's categories and the rest."""
    if "openai_moderation" not in table.column_names or table["openai_moderation"].type == pa.null():
        return {}
    column = table["openai_moderation"].combine_chunks()
    if not pa.types.is_list(column.type):
        lmsys, extra = _split_moderation(column)
        return {"openai_moderation": pa.chunked_array([lmsys]), "openai_moderation_extra": pa.chunked_array([extra])}
    offsets, mask = column.offsets, column.is_null()  # offsets into `values`, the unsliced child
    lmsys, extra = _split_moderation(column.values)
    return {name: pa.chunked_array([pa.ListArray.from_arrays(offsets, values, mask=mask)])
            for name, values in (("openai_moderation", lmsys), ("openai_moderation_extra", extra))}


def _split_moderation(results: pa.StructArray) -> tuple[pa.StructArray, pa.StructArray]:
    """Moderation results as (lmsys's categories with `flagged`, the other categories); a category the
    results lack is null."""
    mask = results.is_null()

    def part(field: str, categories: tuple[str, ...], kind: pa.DataType) -> pa.StructArray:
        values = pc.struct_field(results, field)
        present = {values.type.field(i).name for i in range(values.type.num_fields)}
        return pa.StructArray.from_arrays(
            [pc.struct_field(values, name).cast(kind) if name in present else pa.nulls(len(results), kind)
             for name in categories], names=list(categories))

    def result(categories: tuple[str, ...], flagged: list[pa.Array]) -> pa.StructArray:
        fields = [part("categories", categories, pa.bool_()), part("category_scores", categories, pa.float64())]
        names = ["categories", "category_scores", *(["flagged"] if flagged else [])]
        return pa.StructArray.from_arrays([*fields, *flagged], names=names, mask=mask)

    flagged = pc.struct_field(results, "flagged").cast(pa.bool_())
    return result(LMSYS_MODERATION_CATEGORIES, [flagged]), result(EXTRA_MODERATION_CATEGORIES, [])


def _require_public_columns(column_names: Iterable[str], kind: TableKind) -> None:
    names = set(column_names)
    missing = [n for n, _ in kind.public_columns if n not in names and n not in OPTIONAL_COLUMNS]
    if missing:
        raise ValueError(f"{kind.name}: missing columns {', '.join(missing)}")
