"""Classifier results kept by content hash and model identity, so no text is scored or sent twice.

Results live in a DuckDB file. A commit costs tens of milliseconds whatever its size (at 1M battles,
one commit per moderation request was most of the stage's time), so stages write through a
`ResultWriter`: answers are committed together at most `interval_s` after they arrive, and whatever is
pending when the stage ends or fails. A killed run loses at most that interval's answers and resumes
by skipping everything committed. DuckDB lets one process write a file at a time: give each stage
(moderation, toxicity) its own file.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import orjson
import pyarrow as pa


def content_key(text: str) -> bytes:
    """A 128-bit BLAKE2b digest of the UTF-8 text: collision-safe at any realistic corpus size."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class ResultCache:
    """Maps (model identity, text) to a JSON-serialisable result, stored under the text's content key."""

    def __init__(self, path: Path | str = ":memory:") -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._connection = duckdb.connect(str(path))
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS results ("
            " model VARCHAR NOT NULL, key BLOB NOT NULL, value VARCHAR NOT NULL, PRIMARY KEY (model, key))"
        )

    def lookup(self, model: str, texts: Iterable[str]) -> dict[str, Any]:
        """Cached results of those `texts` that have one."""
        text_by_key = {content_key(text): text for text in texts}
        if not text_by_key:
            return {}
        self._connection.register("wanted_keys", pa.table({"key": pa.array(list(text_by_key), pa.binary())}))
        try:
            rows = self._connection.execute(
                "SELECT r.key, r.value FROM results r JOIN wanted_keys w ON r.key = w.key WHERE r.model = ?",
                [model],
            ).fetchall()
        finally:
            self._connection.unregister("wanted_keys")
        return {text_by_key[bytes(key)]: orjson.loads(value) for key, value in rows}

    def store(self, model: str, results: Mapping[str, Any]) -> None:
        """Commit one batch of results at once, so a run killed later keeps it."""
        if not results:
            return
        incoming = pa.table(
            {
                "key": pa.array([content_key(text) for text in results], pa.binary()),
                "value": pa.array([orjson.dumps(value).decode() for value in results.values()], pa.string()),
            }
        )
        self._connection.register("incoming_results", incoming)
        try:
            self._connection.execute(
                "INSERT OR IGNORE INTO results SELECT ?, key, value FROM incoming_results", [model]
            )
        finally:
            self._connection.unregister("incoming_results")

    def writer(self, model: str, interval_s: float) -> ResultWriter:
        return ResultWriter(self, model, interval_s)

    def count(self, model: str) -> int:
        [(total,)] = self._connection.execute("SELECT count(*) FROM results WHERE model = ?", [model]).fetchall()
        return int(total)

    def close(self) -> None:
        self._connection.close()


class ResultWriter:
    """Collects one stage's results and commits them together, at most `interval_s` after the first
    uncommitted one arrived (`due_in` tells a waiting caller when), and on leaving the `with` block,
    error or not."""

    def __init__(self, cache: ResultCache, model: str, interval_s: float) -> None:
        self._cache, self._model, self._interval_s = cache, model, interval_s
        self._pending: dict[str, Any] = {}
        self._first_pending_at = 0.0
        self.commits = 0

    def add(self, results: Mapping[str, Any]) -> None:
        if results and not self._pending:
            self._first_pending_at = time.monotonic()
        self._pending.update(results)
        self.flush_if_due()

    def flush_if_due(self) -> None:
        if self._pending and self.due_in() == 0.0:
            self.flush()

    def due_in(self) -> float | None:
        """Seconds until the pending results must be committed; None when nothing is pending."""
        if not self._pending:
            return None
        return max(0.0, self._first_pending_at + self._interval_s - time.monotonic())

    def flush(self) -> None:
        if self._pending:
            self._cache.store(self._model, self._pending)
            self._pending = {}
            self.commits += 1

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.flush()
