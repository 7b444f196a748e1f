"""Redacting Arrow tables of conversations: batched, across processes, cached, fail-closed.

Each row's listed conversation columns form one placeholder namespace (both sides of a battle). Texts
are analysed once per distinct content (within a batch, and across runs through a content-hash cache),
in worker processes that each hold one Presidio analyzer, while this process turns the analyses of
earlier batches into redacted rows. A row whose analysis or redaction fails goes to `failures` with the
reason and never into the output table. `TableRedactor.redact_batches` streams a table of any size in
bounded memory; `redact` holds one table.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from types import TracebackType

import duckdb
import pyarrow as pa
import spacy
from presidio_anonymizer import AnonymizerEngine

from redaction.digests import detection_code_digest, text_digest
from redaction.engine import TextAnalyzer
from redaction.nlp import require_model
from redaction.placeholders import redact_with_placeholders
from redaction.settings import RedactionSettings
from redaction.spans import Detection

AUDIT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("column", pa.string()),
        ("turn", pa.int32()),
        ("entity_type", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("score", pa.float64()),
        ("recognizer", pa.string()),
        ("placeholder", pa.string()),
    ]
)
FAILURES_SCHEMA = pa.schema([("id", pa.string()), ("reason", pa.string())])
REDACTED_COLUMN = "redacted"
MAX_CHUNK_TEXTS = 256  # texts per task sent to a worker, at most
WORKER_START_TIMEOUT_S = 600

Analyses = dict[str, list[Detection] | str]  # text -> its detections, or why its analysis failed


@dataclass(frozen=True)
class RedactionOutput:
    table: pa.Table  # input schema plus `redacted`; failed rows are absent
    audit: pa.Table  # AUDIT_SCHEMA: where each placeholder went, no raw values (private, for stewards)
    failures: pa.Table  # FAILURES_SCHEMA: rows held back, with why


def redact_table(
    table: pa.Table,
    conversation_columns: Sequence[str],
    id_column: str,
    settings: RedactionSettings | None = None,
    workers: int = 1,
    cache_path: Path | None = None,
    batch_rows: int = 512,
) -> RedactionOutput:
    """Redact the message contents of `conversation_columns` (list<struct<content, role>>) row by row."""
    with TableRedactor(settings, workers, cache_path, batch_rows) as redactor:
        return redactor.redact(table, conversation_columns, id_column)


class TableRedactor:
    """Worker processes, cache and anonymizer kept open across tables (battles, then conversations),
    so models load once. Use as a context manager; entering it waits until every worker is ready."""

    def __init__(
        self,
        settings: RedactionSettings | None = None,
        workers: int = 1,
        cache_path: Path | None = None,
        batch_rows: int = 512,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.settings = settings or RedactionSettings.default()
        self.workers = workers
        self.cache_path = cache_path
        self.batch_rows = batch_rows
        self.anonymizer = AnonymizerEngine()
        self._service: _InProcessAnalysis | _WorkerPoolAnalysis | None = None
        self._cache: AnalysisCache | _NoCache | None = None

    def __enter__(self) -> TableRedactor:
        if self.cache_path is None:
            self._cache = _NoCache()
        else:
            self._cache = AnalysisCache(Path(self.cache_path), analysis_fingerprint(self.settings))
        try:
            if self.workers == 1:
                self._service = _InProcessAnalysis(self.settings)
            else:
                self._service = _WorkerPoolAnalysis(self.settings, self.workers)
        except BaseException:
            self._cache.close()
            self._cache = None
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._service is not None:
            self._service.close()
        if self._cache is not None:
            self._cache.close()
        self._service = self._cache = None

    def redact(self, table: pa.Table, conversation_columns: Sequence[str], id_column: str) -> RedactionOutput:
        """A whole table at once; `redact_batches` streams one that should not be held in memory."""
        _check_columns(table.schema, conversation_columns, id_column)
        parts = list(self.redact_batches(table.to_batches(), conversation_columns, id_column))
        if not parts:
            return RedactionOutput(
                redacted_schema(table.schema).empty_table(), AUDIT_SCHEMA.empty_table(), FAILURES_SCHEMA.empty_table()
            )
        return _concat(parts)

    def redact_batches(
        self, batches: Iterable[pa.RecordBatch], conversation_columns: Sequence[str], id_column: str
    ) -> Iterator[RedactionOutput]:
        """One output per non-empty input batch, in input order, yielded as soon as its rows are done, so
        memory holds a few batches whatever the table's size. Each batch is cut into `batch_rows` slices
        that go to the workers ahead of time: this process redacts one while they analyse the next."""
        if self._service is None or self._cache is None:
            raise RuntimeError("TableRedactor is not open: use it in a `with` block")
        pending: deque[tuple[bool, _RowBatch, Analyses, Callable[[], Analyses]]] = deque()
        finished: list[RedactionOutput] = []  # slices of the batch being completed

        def finish_oldest() -> Iterator[RedactionOutput]:
            last_of_batch, *work = pending.popleft()
            finished.append(self._finish(*work))
            if last_of_batch:
                yield _concat(finished)
                finished.clear()

        for batch in batches:
            _check_columns(batch.schema, conversation_columns, id_column)
            for start in range(0, batch.num_rows, self.batch_rows):
                rows = _RowBatch(pa.Table.from_batches([batch.slice(start, self.batch_rows)]), conversation_columns,
                                 id_column)
                texts = rows.distinct_texts()
                cached = self._cache.lookup(texts)
                analysis = self._service.submit([text for text in texts if text not in cached])
                pending.append((start + self.batch_rows >= batch.num_rows, rows, cached, analysis))
                if len(pending) > self.workers:
                    yield from finish_oldest()
        while pending:
            yield from finish_oldest()

    def _finish(self, rows: _RowBatch, cached: Analyses, collect: Callable[[], Analyses]) -> RedactionOutput:
        assert self._cache is not None
        fresh = collect()
        self._cache.store({text: found for text, found in fresh.items() if not isinstance(found, str)})
        return rows.redact({**cached, **fresh}, self.settings, self.anonymizer)


def redacted_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of a redacted table: the input's, plus the `redacted` flag."""
    if REDACTED_COLUMN in schema.names:
        schema = schema.remove(schema.get_field_index(REDACTED_COLUMN))
    return schema.append(pa.field(REDACTED_COLUMN, pa.bool_()))


def _concat(parts: list[RedactionOutput]) -> RedactionOutput:
    return RedactionOutput(
        table=pa.concat_tables([part.table for part in parts]),
        audit=pa.concat_tables([part.audit for part in parts]),
        failures=pa.concat_tables([part.failures for part in parts]),
    )


def _check_columns(schema: pa.Schema, conversation_columns: Sequence[str], id_column: str) -> None:
    if not conversation_columns:
        raise ValueError("redact_table: no conversation columns given")
    missing = [name for name in (*conversation_columns, id_column) if name not in schema.names]
    if missing:
        raise ValueError(f"redact_table: columns {missing} not in table (has {schema.names})")
    for name in conversation_columns:
        column_type = schema.field(name).type
        if not (
            pa.types.is_list(column_type)
            and pa.types.is_struct(column_type.value_type)
            and column_type.value_type.get_field_index("content") >= 0
        ):
            raise ValueError(f"redact_table: column {name!r} must be list<struct<content, role>>, got {column_type}")


class _RowBatch:
    """One batch of rows: their texts in group order, and how to rebuild the redacted columns."""

    def __init__(self, table: pa.Table, conversation_columns: Sequence[str], id_column: str) -> None:
        self.table = table
        self.columns = list(conversation_columns)
        self.ids = [None if v is None else str(v) for v in table.column(id_column).to_pylist()]
        self.conversations = {name: table.column(name).to_pylist() for name in self.columns}

    def distinct_texts(self) -> list[str]:
        seen: dict[str, None] = {}
        for conversations in self.conversations.values():
            for messages in conversations:
                for message in messages or ():
                    if isinstance(message.get("content"), str):
                        seen.setdefault(message["content"], None)
        return list(seen)

    def redact(
        self,
        analyses: dict[str, list[Detection] | str],
        settings: RedactionSettings,
        anonymizer: AnonymizerEngine,
    ) -> RedactionOutput:
        kept: list[int] = []
        audits: list[dict] = []
        failures: list[dict] = []
        flags: list[bool] = []
        new_columns: dict[str, list] = {name: [] for name in self.columns}
        for row, row_id in enumerate(self.ids):
            # (column, turn) of each text in the group, in order: all turns of column 1, then column 2, ...
            slots = [
                (name, turn, message["content"])
                for name in self.columns
                for turn, message in enumerate(self.conversations[name][row] or ())
                if isinstance(message.get("content"), str)
            ]
            try:
                errors = sorted({analyses[text] for *_, text in slots if isinstance(analyses[text], str)})
                if errors:
                    raise RuntimeError("analysis failed: " + "; ".join(errors))
                result = redact_with_placeholders(
                    [text for *_, text in slots], [analyses[text] for *_, text in slots], settings, anonymizer
                )
            except Exception as exc:  # fail closed: any failure holds the row back, with the reason
                failures.append({"id": row_id, "reason": f"{type(exc).__name__}: {exc}"})
                continue
            kept.append(row)
            flags.append(result.redacted)
            replacements = {(name, turn): text for (name, turn, _), text in zip(slots, result.texts, strict=True)}
            for name in self.columns:
                messages = self.conversations[name][row]
                new_columns[name].append(
                    None
                    if messages is None
                    else [
                        {**message, "content": replacements.get((name, turn), message["content"])}
                        for turn, message in enumerate(messages)
                    ]
                )
            audits.extend(
                {
                    "id": row_id,
                    "column": slots[span.text_index][0],
                    "turn": slots[span.text_index][1],
                    "entity_type": span.entity_type,
                    "start": span.start,
                    "end": span.end,
                    "score": span.score,
                    "recognizer": span.recognizer,
                    "placeholder": span.placeholder,
                }
                for span in result.spans
            )
        output = self.table.take(pa.array(kept, type=pa.int64()))
        for name in self.columns:
            field = output.schema.field(name)
            redacted = pa.array(new_columns[name], type=field.type)
            output = output.set_column(output.schema.get_field_index(name), field, redacted)
        if REDACTED_COLUMN in output.column_names:
            output = output.drop_columns([REDACTED_COLUMN])
        return RedactionOutput(
            table=output.append_column(REDACTED_COLUMN, pa.array(flags, type=pa.bool_())),
            audit=pa.Table.from_pylist(audits, schema=AUDIT_SCHEMA),
            failures=pa.Table.from_pylist(failures, schema=FAILURES_SCHEMA),
        )


# --- analysis, in this process or in worker processes -------------------------------------------


def analyze_isolating_failures(analyzer: TextAnalyzer, texts: list[str]) -> list[list[Detection] | str]:
    """Detections per text; a text whose analysis raises gets the error message instead, so one bad
    text fails only the rows that contain it."""
    try:
        return list(analyzer.analyze(texts))
    except Exception:
        pass
    results: list[list[Detection] | str] = []
    for text in texts:
        try:
            results.append(analyzer.analyze([text])[0])
        except Exception as exc:
            results.append(f"{type(exc).__name__}: {exc}")
    return results


class _InProcessAnalysis:
    def __init__(self, settings: RedactionSettings) -> None:
        self.analyzer = TextAnalyzer(settings)

    def submit(self, texts: list[str]) -> Callable[[], Analyses]:
        result = dict(zip(texts, analyze_isolating_failures(self.analyzer, texts), strict=True))
        return lambda: result

    def close(self) -> None:
        return None


_WORKER_ANALYZER: TextAnalyzer | None = None


def _start_worker(settings_data: dict, ready: Barrier) -> None:
    global _WORKER_ANALYZER
    _WORKER_ANALYZER = TextAnalyzer(RedactionSettings.from_dict(settings_data))
    ready.wait(WORKER_START_TIMEOUT_S)


def _analyze_in_worker(texts: list[str]) -> list[list[Detection] | str]:
    assert _WORKER_ANALYZER is not None, "worker started without an analyzer"
    return analyze_isolating_failures(_WORKER_ANALYZER, texts)


def _worker_ready() -> bool:
    return _WORKER_ANALYZER is not None


class _WorkerPoolAnalysis:
    """Worker processes (spawned, so no state is shared by fork) that each load the analyzer once."""

    def __init__(self, settings: RedactionSettings, workers: int) -> None:
        if settings.ner.enabled:
            require_model(settings.ner.spacy_model)  # a clear error here, not a broken pool later
        context = multiprocessing.get_context("spawn")
        # Each worker waits for the others after loading, so a worker answers only once all are ready;
        # one future per worker spawns them all (the pool spawns a process per pending task).
        ready = context.Barrier(workers)
        self.workers = workers
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(settings.model_dump(mode="json"), ready),
        )
        try:
            for future in [self.pool.submit(_worker_ready) for _ in range(workers)]:
                future.result()
        except BaseException:
            self.pool.shutdown(cancel_futures=True)
            raise

    def submit(self, texts: list[str]) -> Callable[[], Analyses]:
        # Chunks small enough that every worker gets a share of a batch, large enough to batch NER.
        size = max(16, min(MAX_CHUNK_TEXTS, -(-len(texts) // (2 * self.workers))))
        futures = [self.pool.submit(_analyze_in_worker, texts[i : i + size]) for i in range(0, len(texts), size)]

        def collect() -> Analyses:
            results = [found for future in futures for found in future.result()]
            return dict(zip(texts, results, strict=True))

        return collect

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


# --- content-hash cache -------------------------------------------------------------------------


def analysis_fingerprint(settings: RedactionSettings) -> str:
    """Settings, code and model versions that determine an analysis."""
    model_version = (
        spacy.util.get_package_version(settings.ner.spacy_model) if settings.ner.enabled else None
    ) or "no-ner"
    parts = [settings.fingerprint(), detection_code_digest(), model_version]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class AnalysisCache:
    """Detections per text content, keyed by a hash of the text and the settings fingerprint, in DuckDB.

    It holds offsets and entity types, never text, but keys are hashes of private texts: keep the file
    as private as the raw logs."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = duckdb.connect(str(path))
        self.fingerprint = fingerprint
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS analyses ("
            "fingerprint VARCHAR, text_key VARCHAR, detections VARCHAR, PRIMARY KEY (fingerprint, text_key))"
        )

    def lookup(self, texts: list[str]) -> dict[str, list[Detection] | str]:
        if not texts:
            return {}
        self.connection.register("wanted", pa.table({"text_key": [text_digest(text).hex() for text in texts]}))
        try:
            found = self.connection.execute(
                "SELECT a.text_key, a.detections FROM analyses a JOIN wanted w ON a.text_key = w.text_key "
                "WHERE a.fingerprint = ?",
                [self.fingerprint],
            ).fetchall()
        finally:
            self.connection.unregister("wanted")
        stored = dict(found)
        return {
            text: [Detection(*fields) for fields in json.loads(stored[key])]
            for text in texts
            if (key := text_digest(text).hex()) in stored
        }

    def store(self, analyses: dict[str, list[Detection]]) -> None:
        if not analyses:
            return
        rows = pa.table(
            {
                "fingerprint": [self.fingerprint] * len(analyses),
                "text_key": [text_digest(text).hex() for text in analyses],
                "detections": [
                    json.dumps([[d.entity_type, d.start, d.end, d.score, d.recognizer] for d in found])
                    for found in analyses.values()
                ],
            }
        )
        self.connection.register("fresh", rows)
        try:
            self.connection.execute(
                "INSERT OR IGNORE INTO analyses SELECT fingerprint, text_key, detections FROM fresh"
            )
        finally:
            self.connection.unregister("fresh")

    def close(self) -> None:
        self.connection.close()


class _NoCache:
    def lookup(self, texts: list[str]) -> Analyses:
        return {}

    def store(self, analyses: dict[str, list[Detection]]) -> None:
        return None

    def close(self) -> None:
        return None
