"""Raw FastChat logs to cleaned Parquet tables, streaming, with every line accounted for.

Two steps, so a day can be (re)processed on its own:
1. `stage_days`: each log file of the given days is read line by line (plain, gzip, zstd or bzip2) in worker processes;
   each line becomes a staged battle, conversation state or feedback row, or a quarantine row with
   its reason. Raw IPs are turned into keyed judge hashes here and never leave this step.
2. `finalize`: DuckDB merges the staged days of a window: duplicate votes are quarantined, each
   conversation keeps its last logged state, and the counts must reconcile exactly
   (lines read = kept + merged + quarantined) or the step fails. Its battles are untagged:
   `pipeline.dedup.tag_battles` then tags high-frequency prompts over the whole window.
"""

from __future__ import annotations

import bz2
import gc
import gzip
import io
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import dedup, schemas
from pipeline.cleaning import WINNER_BY_VOTE, Battle, Chat, Cleaner, conv_metadata
from pipeline.cleaning_config import CleaningConfig, JudgeHasher
from pipeline.errors import IngestError
from pipeline.logrecords import BATTLE_VOTE_TYPES, RecordError, State, parse_line, record_type
from pipeline.manifest import sha256_file

LOG_NAME = re.compile(r"^(?P<day>\d{4}-\d{2}-\d{2})-conv\.json(?:\.gz|\.zst|\.bz2)?$")
LOG_NAME_PATTERN = "YYYY-MM-DD-conv.json[.gz|.zst|.bz2]"
ROWS_PER_FLUSH = 2000
# Rows per batch (and Parquet row group) when finalize streams a query into an output table.
OUTPUT_BATCH_ROWS = 16384
# Battles and states wait to be staged as a batch (the identity words, style counts and Arrow columns cost
# the same per call for 10 rows or 10,000): at most this many, or this many bytes of log lines, whichever
# comes first (bounded memory).
BATCH_ROWS = 8192
BATCH_BYTES = 32 << 20
# Staged files are read once by finalize: cheap compression beats small files there, and mostly
# unique texts gain nothing from dictionaries or statistics.
STAGED_COMPRESSION = "lz4"
READ_BUFFER = 1 << 20  # log lines average kilobytes; battles reach tens
# DuckDB spills to disk beyond this, so finalize stays within the memory target at any window size.
FINALIZE_MEMORY_LIMIT = "1GB"

# Roles of a CONVERSATION by position.
_ROLES = pa.array(["user", "assistant"], pa.string())
STAGED_BATTLES = pa.schema([f for f in schemas.BATTLES if f.name != "dedup_tag"])
STAGED_STATES = schemas.CONVERSATIONS.append(pa.field("n_messages", pa.int64())).append(
    pa.field("reject_reason", pa.string())
)
STAGED_TABLES = {
    "battles": STAGED_BATTLES,
    "states": STAGED_STATES,
    "feedback": schemas.FEEDBACK,
    "quarantine": schemas.QUARANTINE,
}


@dataclass(frozen=True)
class LogFile:
    path: Path
    source: str  # path relative to the logs directory, as stored in every row
    day: str


@dataclass
class Discovery:
    files: list[LogFile]
    skipped: list[tuple[str, str]]  # (relative path, why it is not a log this pipeline reads)
    entries: int = 0  # every file, link or other non-directory entry seen: each is read or skipped

    @property
    def days(self) -> list[str]:
        return sorted({f.day for f in self.files})

    def file_accounting(self) -> dict[str, Any]:
        """Entries seen = files read + files skipped (each with why); `reconciled` says whether it adds up."""
        return {"seen": self.entries, "read": len(self.files), "skipped": len(self.skipped),
                "reconciled": self.entries == len(self.files) + len(self.skipped)}


def discover_logs(logs_dir: Path) -> Discovery:
    """Find `YYYY-MM-DD-conv.json[.gz|.zst|.bz2]` files at any depth (server{i}/... in production).

    Symlinked directories are followed (a directory reached twice, e.g. through a link loop, is walked once)
    and every other entry is listed as skipped with why: a dangling link, a file reached twice, a name that
    is not a daily log, an unreadable directory. Nothing under `logs_dir` is passed over silently."""
    logs_dir = Path(logs_dir)
    if not logs_dir.is_dir():
        raise IngestError(f"logs directory not found: {logs_dir}")
    discovery = Discovery(files=[], skipped=[])
    walked: set[tuple[int, int]] = set()
    read_files: dict[tuple[int, int], str] = {}

    def walk(directory: Path) -> None:
        stat = directory.stat()
        walked.add((stat.st_dev, stat.st_ino))
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as err:
            discovery.skipped.append((_relative(directory, logs_dir), f"directory not readable: {err.strerror}"))
            discovery.entries += 1
            return
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=True):
                target = path.stat()
                if (target.st_dev, target.st_ino) not in walked:
                    walk(path)
                else:  # a link loop, or a second link to a directory: its files are read once
                    discovery.entries += 1
                    discovery.skipped.append((_relative(path, logs_dir), "link to a directory already walked"))
                continue
            discovery.entries += 1
            source = _relative(path, logs_dir)
            why = _not_a_log(path, entry, read_files)
            if why:
                discovery.skipped.append((source, why))
                continue
            target = path.stat()
            read_files[(target.st_dev, target.st_ino)] = source
            discovery.files.append(LogFile(path=path, source=source, day=LOG_NAME.match(path.name)["day"]))

    walk(logs_dir)
    return discovery


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _not_a_log(path: Path, entry: os.DirEntry, read_files: dict[tuple[int, int], str]) -> str | None:
    """Why this entry is not read as a daily log, or None when it is one."""
    if entry.is_symlink() and not path.exists():
        return f"dangling symlink (to {os.readlink(path)})"
    if not entry.is_file(follow_symlinks=True):
        return "not a regular file"
    if path.name.startswith("vision-tmp-"):
        return "vision-arena log: not part of text releases"
    if not LOG_NAME.match(path.name):
        return f"file name is not {LOG_NAME_PATTERN}"
    target = path.stat()
    first = read_files.get((target.st_dev, target.st_ino))
    if first is not None:
        return f"same file as {first} (reached twice through a link): read once"
    return None


# ---------------------------------------------------------------- step 1: one day, per file


@dataclass
class FileStats:
    source: str
    bytes: int = 0
    sha256: str = ""  # of the file as stored: the release manifest lists its inputs with it
    lines: int = 0
    staged: Counter = field(default_factory=Counter)  # table -> rows staged
    quarantined: Counter = field(default_factory=Counter)  # reason -> lines

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "lines": self.lines,
            "staged": {table: rows for table, rows in self.staged.items() if rows},
            "quarantined": dict(self.quarantined),
        }


class _StagedWriter:
    """Appends Arrow tables per staged table to Parquet; small tables are buffered as rows first."""

    def __init__(self, prefix: Path):
        self.prefix = prefix
        self.rows: dict[str, list[dict]] = {"feedback": [], "quarantine": []}
        self.writers: dict[str, pq.ParquetWriter] = {}

    def add_row(self, table: str, row: dict) -> None:
        buffer = self.rows[table]
        buffer.append(row)
        if len(buffer) >= ROWS_PER_FLUSH:
            self._flush_rows(table)

    def write(self, table: str, data: pa.Table) -> None:
        if not data.num_rows:
            return
        if table not in self.writers:
            self.writers[table] = pq.ParquetWriter(
                f"{self.prefix}.{table}.parquet", STAGED_TABLES[table], compression=STAGED_COMPRESSION,
                use_dictionary=False, write_statistics=False,
            )
        self.writers[table].write_table(data)

    def _flush_rows(self, table: str) -> None:
        rows = self.rows[table]
        self.write(table, pa.Table.from_pylist(rows, schema=STAGED_TABLES[table]))
        rows.clear()

    def close(self) -> None:
        for table in self.rows:
            self._flush_rows(table)
        for writer in self.writers.values():
            writer.close()


class _Worker:
    """Per-process state: the cleaner (config + judge hasher) built once, reused for every file."""

    cleaner: Cleaner | None = None

    @classmethod
    def init(cls, config: CleaningConfig, judge_key: bytes) -> None:
        hasher = JudgeHasher(judge_key)
        banned = frozenset(config.banned_judges) | {hasher(ip) for ip in config.banned_ips}
        cls.cleaner = Cleaner(config, hasher, banned)


def _stage_file(log: LogFile, out_prefix: str) -> FileStats:
    cleaner = _Worker.cleaner
    assert cleaner is not None, "worker not initialised"
    stager = _FileStager(cleaner, log, Path(out_prefix))
    # Parsed records are acyclic, but each allocates many lists and dicts: left on, the cycle collector
    # would traverse the batch waiting in memory again and again (~10% of staging's CPU).
    gc.disable()
    try:
        stager.read()
    finally:
        stager.close()
        gc.enable()
    # Hashed once here, where the file is read anyway, rather than by every release that lists it.
    stager.stats.bytes, stager.stats.sha256 = log.path.stat().st_size, sha256_file(log.path)
    return stager.stats


class _FileStager:
    """Stages one log file: each line is parsed and checked on its own, which decides its reason if it is
    quarantined; the battles and conversation states that pass wait in a bounded batch, staged at once."""

    def __init__(self, cleaner: Cleaner, log: LogFile, prefix: Path):
        self.cleaner = cleaner
        self.log = log
        self.stats = FileStats(source=log.source)
        self.writer = _StagedWriter(prefix)
        self.where = {"source_file": log.source, "day": log.day}
        self.battles: list[tuple[int, Battle]] = []
        self.chats: list[tuple[int, Chat]] = []
        self.batch_bytes = 0

    def read(self) -> None:
        limit = self.cleaner.config.max_line_bytes
        line_no = 0
        try:
            log = open_log(self.log.path)
        except OSError as err:
            raise IngestError(f"cannot read log {self.log.source}: {err.strerror or err}") from None
        try:
            with log:
                # At most limit + 1 bytes of a line are ever held: a longer line is quarantined from its
                # length alone, the rest of it skipped unread.
                while line := log.readline(limit + 1):
                    line_no += 1
                    if len(line) > limit:
                        size = len(line) if line.endswith(b"\n") else len(line) + _skip_rest_of_line(log)
                        self._quarantine(line_no, None, RecordError("oversized_line", f"{size} bytes > {limit}"), {})
                        continue
                    self._stage_line(line_no, line)
                    self.batch_bytes += len(line)
                    if self.batch_bytes >= BATCH_BYTES or len(self.battles) + len(self.chats) >= BATCH_ROWS:
                        self._flush_batch()
        except (OSError, EOFError, gzip.BadGzipFile, pa.ArrowException) as err:
            # A truncated or corrupt gzip stream: the lines already read are kept; the rest is counted
            # as one quarantined unreadable tail, with the error, so nothing disappears silently.
            line_no += 1
            self._quarantine(line_no, None, RecordError("unreadable_file", str(err)[:200]), {})
        self.stats.lines = line_no

    def _stage_line(self, line_no: int, line: bytes) -> None:
        cleaner = self.cleaner
        kind = None
        record: dict[str, Any] = {}
        try:
            record = parse_line(line, cleaner.config.max_line_bytes)
            kind = record_type(record)
            if kind == "chat":
                self.chats.append((line_no, cleaner.chat(record)))
            elif kind in BATTLE_VOTE_TYPES:
                self.battles.append((line_no, cleaner.battle(record, kind)))
            else:
                row = cleaner.feedback(record, kind)
                self.writer.add_row("feedback", {**row, **self.where, "source_line": line_no})
                self.stats.staged["feedback"] += 1
        except RecordError as err:
            self._quarantine(line_no, kind, err, record)

    def _quarantine(self, line_no: int, kind: str | None, err: RecordError, record: dict) -> None:
        self.writer.add_row("quarantine", _quarantine_row(self.where, line_no, kind, err, record))
        self.stats.quarantined[err.reason] += 1

    def _flush_batch(self) -> None:
        """Decide the batch's identity words, then stage its battles and states as Arrow columns."""
        self.cleaner.decide([b for _, b in self.battles])
        kept = []
        for line_no, b in self.battles:
            if b.rejected is None:
                kept.append((line_no, b))
                continue
            # Rejected by a batch rule (identity words, excluded models): the quarantine row's fields.
            kept_fields = {"tstamp": b.tstamp, "states": [{"conv_id": b.states[0].conv_id}]}
            self._quarantine(line_no, b.record_kind, RecordError(*b.rejected), kept_fields)
        self._write("battles", _battle_columns([b for _, b in kept]), [line_no for line_no, _ in kept])
        self._write("states", _chat_columns([c for _, c in self.chats]), [line_no for line_no, _ in self.chats])
        self.battles.clear()
        self.chats.clear()
        self.batch_bytes = 0

    def _write(self, table: str, columns: dict[str, Any], source_lines: list[int]) -> None:
        count = len(source_lines)
        if not count:
            return
        columns = {**columns, "language": pa.nulls(count, pa.string()), "day": [self.where["day"]] * count,
                   "source_file": [self.where["source_file"]] * count, "source_line": source_lines}
        if table == "battles":
            columns["conv_metadata"] = conv_metadata(columns["conversation_a"], columns["conversation_b"])
        schema = STAGED_TABLES[table]
        self.writer.write(table, pa.Table.from_arrays([_column(columns[f.name], f.type) for f in schema],
                                                      schema=schema))
        self.stats.staged[table] += count

    def close(self) -> None:
        if self.battles or self.chats:
            self._flush_batch()
        self.writer.close()


def open_log(path: Path) -> BinaryIO:
    """A daily log as a binary stream of lines, decompressed by its suffix (.gz, .zst, .bz2, or none)."""
    suffix = path.suffix
    if suffix == ".gz":
        return gzip.open(path, "rb")
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    if suffix == ".zst":
        return io.BufferedReader(pa.input_stream(str(path), compression="zstd"), READ_BUFFER)
    return open(path, "rb", buffering=READ_BUFFER)


def _skip_rest_of_line(log: BinaryIO) -> int:
    """Read past the rest of the current line a chunk at a time; returns how many bytes it had."""
    skipped = 0
    while chunk := log.readline(READ_BUFFER):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def _column(values: Any, kind: pa.DataType) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(values, kind)


def _battle_columns(battles: list[Battle]) -> dict[str, Any]:
    """Staged battles as columns (`STAGED_BATTLES`, less those `_write` adds)."""
    states_a = [b.states[0] for b in battles]
    states_b = [b.states[1] for b in battles]
    return {
        "question_id": [s.conv_id for s in states_a],
        "conv_id_b": [s.conv_id for s in states_b],
        "model_a": [b.models[0] for b in battles],
        "model_b": [b.models[1] for b in battles],
        "winner": [WINNER_BY_VOTE[b.record_kind] for b in battles],
        "judge": [b.judge for b in battles],
        "conversation_a": _conversations(states_a),
        "conversation_b": _conversations(states_b),
        "turn": [(len(s.texts) + 1) // 2 for s in states_a],
        "anony": [b.anonymous for b in battles],
        "tstamp": [b.tstamp for b in battles],
    }


def _chat_columns(chats: list[Chat]) -> dict[str, Any]:
    """Staged conversation states as columns (`STAGED_STATES`, less those `_write` adds)."""
    states = [c.state for c in chats]
    return {
        "conversation_id": [s.conv_id for s in states],
        "model": [c.model for c in chats],
        "conversation": _conversations(states),
        "turn": [(len(s.texts) + 1) // 2 for s in states],
        "tstamp": [c.tstamp for c in chats],
        "judge": [c.judge for c in chats],
        "n_messages": [s.n_messages for s in states],
        "reject_reason": [c.reject for c in chats],
    }


def _conversations(states: list[State]) -> pa.ListArray:
    """States' texts as CONVERSATION lists: the user opens, and the two take turns."""
    lengths = np.fromiter((len(s.texts) for s in states), dtype=np.int32, count=len(states))
    offsets = np.zeros(len(states) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    position = np.arange(offsets[-1], dtype=np.int32) - np.repeat(offsets[:-1], lengths)
    content = pa.array(list(chain.from_iterable(s.texts for s in states)), pa.string())
    messages = pa.StructArray.from_arrays([content, _ROLES.take(position % 2)], fields=list(schemas.MESSAGE))
    return pa.ListArray.from_arrays(pa.array(offsets), messages, type=schemas.CONVERSATION)


def _quarantine_row(where: dict, line_no: int, kind: str | None, err: RecordError, record: dict) -> dict:
    state = record.get("state")
    if state is None and isinstance(record.get("states"), list) and record["states"]:
        state = record["states"][0]
    conv_id = state.get("conv_id") if isinstance(state, dict) else None
    tstamp = record.get("tstamp")
    return {
        **where,
        "source_line": line_no,
        "record_type": kind,
        "reason": err.reason,
        "detail": err.detail[:300],
        "conv_id": conv_id[:64] if isinstance(conv_id, str) else None,
        "tstamp": float(tstamp) if isinstance(tstamp, int | float) and not isinstance(tstamp, bool) else None,
    }


def _staged_prefix(day_dir: Path, log: LogFile) -> str:
    return str(day_dir / log.source.replace("/", "__"))


def stage_days(
    files: Iterable[LogFile], days: Iterable[str], stage_root: Path, config: CleaningConfig,
    judge_key: bytes, workers: int = 1,
) -> list[dict[str, Any]]:
    """Stage every log file of `days` into `stage_root/day=DAY/`, each day replaced atomically.

    One process pool serves all files of all days, largest first, so cores stay busy.
    """
    stage_root = Path(stage_root)
    stage_root.mkdir(parents=True, exist_ok=True)
    wanted = sorted(set(days))
    todo = sorted((f for f in files if f.day in wanted), key=lambda f: -f.path.stat().st_size)
    tmp_dirs = {day: Path(tempfile.mkdtemp(prefix=f".day={day}.", dir=stage_root)) for day in wanted}
    try:
        stats = _run_files([(f, _staged_prefix(tmp_dirs[f.day], f)) for f in todo], config, judge_key, workers)
        summaries = []
        for day in wanted:
            summary = {"day": day, "files": [s.to_json() for f, s in zip(todo, stats, strict=True) if f.day == day]}
            (tmp_dirs[day] / "stats.json").write_text(json.dumps(summary, indent=1))
            final_dir = stage_root / f"day={day}"
            if final_dir.exists():
                shutil.rmtree(final_dir)
            os.replace(tmp_dirs[day], final_dir)
            summaries.append(summary)
        return summaries
    finally:
        for tmp in tmp_dirs.values():
            shutil.rmtree(tmp, ignore_errors=True)


def _run_files(
    jobs: list[tuple[LogFile, str]], config: CleaningConfig, judge_key: bytes, workers: int
) -> list[FileStats]:
    if workers <= 1 or len(jobs) <= 1:
        _Worker.init(config, judge_key)
        return [_stage_file(*job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers, initializer=_Worker.init, initargs=(config, judge_key)) as pool:
        return list(pool.map(_stage_file, *zip(*jobs, strict=True)))


# ---------------------------------------------------------------- step 2: a window of days


class ReconciliationError(Exception):
    """Counts do not add up: some record would be lost or duplicated. Never publish past this."""


def finalize(
    stage_root: Path, days: list[str], out_dir: Path, dropped_days: Mapping[str, str] | None = None,
    discovery: Discovery | None = None,
) -> dict[str, Any]:
    """Merge staged days into (untagged) battles / conversations / feedback / quarantine Parquet + accounting.

    `dropped_days` (day -> why) are days once known but not released now, e.g. their logs are gone:
    the accounting lists them, so the release says what it no longer holds. `discovery` adds the files
    skipped under the logs directory, each with why, and the file count that must add up."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    day_dirs = [Path(stage_root) / f"day={d}" for d in days]
    missing = [str(d) for d in day_dirs if not (d / "stats.json").exists()]
    if missing:
        raise IngestError(f"days not staged yet: {', '.join(missing)}")
    file_stats = [f for d in day_dirs for f in json.loads((d / "stats.json").read_text())["files"]]

    con = duckdb.connect()
    con.execute(f"SET temp_directory = '{out_dir / '.duckdb_tmp'}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET memory_limit = '{FINALIZE_MEMORY_LIMIT}'")
    for table, schema in STAGED_TABLES.items():
        _register_staged(con, table, schema, day_dirs)

    con.execute("""
        CREATE TEMP TABLE vote_rank AS
        SELECT question_id, source_file, source_line,
               row_number() OVER (PARTITION BY question_id ORDER BY tstamp, source_file, source_line) AS rn
        FROM staged_battles""")
    con.execute("""
        CREATE TEMP TABLE state_rank AS
        SELECT conversation_id, source_file, source_line, reject_reason,
               row_number() OVER (PARTITION BY conversation_id
                                  ORDER BY n_messages DESC, tstamp DESC, source_file DESC, source_line DESC) AS rn
        FROM staged_states""")

    battles_cols = ", ".join(f"b.{f.name}" for f in STAGED_BATTLES)
    _write(con, out_dir / dedup.UNTAGGED_BATTLES, STAGED_BATTLES, f"""
        SELECT {battles_cols} FROM staged_battles b JOIN vote_rank r USING (source_file, source_line)
        WHERE r.rn = 1
        ORDER BY b.tstamp, b.question_id""")
    conv_cols = ", ".join(f"s.{f.name}" for f in schemas.CONVERSATIONS)
    _write(con, out_dir / "conversations.parquet", schemas.CONVERSATIONS, f"""
        SELECT {conv_cols} FROM staged_states s JOIN state_rank r USING (source_file, source_line)
        WHERE r.rn = 1 AND r.reject_reason IS NULL
        ORDER BY s.tstamp, s.conversation_id""")
    _write(con, out_dir / "feedback.parquet", schemas.FEEDBACK,
           "SELECT * FROM staged_feedback ORDER BY tstamp, source_file, source_line")
    _write(con, out_dir / "quarantine.parquet", schemas.QUARANTINE, """
        SELECT source_file, source_line, record_type, reason, detail, conv_id, tstamp, day
        FROM staged_quarantine
        UNION ALL
        SELECT b.source_file, b.source_line, 'vote', 'duplicate_vote',
               'question_id already voted; first vote kept', b.question_id, b.tstamp, b.day
        FROM staged_battles b JOIN vote_rank r USING (source_file, source_line) WHERE r.rn > 1
        UNION ALL
        SELECT s.source_file, s.source_line, 'chat', r.reject_reason,
               'last logged state of the conversation', s.conversation_id, s.tstamp, s.day
        FROM staged_states s JOIN state_rank r USING (source_file, source_line)
        WHERE r.rn = 1 AND r.reject_reason IS NOT NULL
        ORDER BY source_file, source_line""")

    accounting = _account(con, file_stats, days)
    accounting["dropped_days"] = [{"day": day, "why": why} for day, why in sorted((dropped_days or {}).items())]
    if discovery is not None:
        accounting["log_files"] = discovery.file_accounting()
        accounting["skipped_files"] = [{"file": f, "why": why} for f, why in discovery.skipped]
        if not accounting["log_files"]["reconciled"]:
            raise ReconciliationError(f"log files seen != read + skipped: {accounting['log_files']}")
    (out_dir / "accounting.json").write_text(json.dumps(accounting, indent=2))
    con.close()
    shutil.rmtree(out_dir / ".duckdb_tmp", ignore_errors=True)
    return accounting


def _register_staged(con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema, day_dirs: list[Path]) -> None:
    paths = [str(p) for d in day_dirs for p in sorted(d.glob(f"*.{table}.parquet"))]
    if paths:
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        con.execute(f"CREATE VIEW staged_{table} AS SELECT * FROM read_parquet([{listed}])")
    else:  # no file staged any row of this kind: an empty table of the right shape
        con.register(f"_empty_{table}", schema.empty_table())
        con.execute(f"CREATE VIEW staged_{table} AS SELECT * FROM _empty_{table}")


def _write(con: duckdb.DuckDBPyConnection, path: Path, schema: pa.Schema, sql: str) -> None:
    """Stream a query into Parquet with exactly `schema` (atomic: temp file, then rename)."""
    tmp = path.with_suffix(".parquet.tmp")
    reader = con.sql(sql).to_arrow_reader(batch_size=OUTPUT_BATCH_ROWS)
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(_conform(batch, schema))
    os.replace(tmp, path)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [batch.column(f.name).cast(f.type) for f in schema], schema=schema
    )


def _account(con: duckdb.DuckDBPyConnection, file_stats: list[dict], days: list[str]) -> dict[str, Any]:
    """Lines read must equal kept + merged + quarantined, per reason; raise if not."""
    lines_read = sum(f["lines"] for f in file_stats)
    kept = {
        "battles": con.execute("SELECT count(*) FROM vote_rank WHERE rn = 1").fetchone()[0],
        "conversations": con.execute(
            "SELECT count(*) FROM state_rank WHERE rn = 1 AND reject_reason IS NULL").fetchone()[0],
        "feedback": con.execute("SELECT count(*) FROM staged_feedback").fetchone()[0],
    }
    merged = {
        "superseded_state": con.execute("SELECT count(*) FROM state_rank WHERE rn > 1").fetchone()[0],
    }
    quarantined = Counter()
    for f in file_stats:
        quarantined.update(f["quarantined"])
    quarantined["duplicate_vote"] += con.execute("SELECT count(*) FROM vote_rank WHERE rn > 1").fetchone()[0]
    for reason, count in con.execute("""
            SELECT reject_reason, count(*) FROM state_rank WHERE rn = 1 AND reject_reason IS NOT NULL
            GROUP BY ALL""").fetchall():
        quarantined[reason] += count
    quarantined = Counter({k: v for k, v in quarantined.items() if v})
    accounted = sum(kept.values()) + sum(merged.values()) + sum(quarantined.values())
    accounting = {
        "days": days,
        "files": len(file_stats),
        "inputs": sorted(({"path": f["source"], "sha256": f["sha256"], "bytes": f["bytes"]} for f in file_stats),
                         key=lambda entry: entry["path"]),
        "lines_read": lines_read,
        "kept": kept,
        "merged": merged,
        "quarantined": dict(sorted(quarantined.items(), key=lambda kv: -kv[1])),
        "quarantined_total": sum(quarantined.values()),
        "reconciled": accounted == lines_read,
    }
    if accounted != lines_read:
        raise ReconciliationError(
            f"lines read {lines_read} != kept + merged + quarantined {accounted}: {accounting}"
        )
    return accounting


# ---------------------------------------------------------------- both steps


def judge_key_for(config: CleaningConfig, workdir: Path) -> bytes:
    return JudgeHasher.from_environment(config.judge_key_env, workdir).key


def ingest_logs(
    logs_dir: Path, out_dir: Path, config: CleaningConfig, workers: int = 1, days: list[str] | None = None,
) -> dict[str, Any]:
    """Stage every day found under `logs_dir` (or the given days), then finalize them into `out_dir`."""
    discovery = discover_logs(logs_dir)
    if not discovery.files:
        raise IngestError(f"no log files ({LOG_NAME_PATTERN}) under {logs_dir}")
    wanted = days or discovery.days
    absent = sorted(set(wanted) - set(discovery.days))
    if absent:
        raise IngestError(f"no log files for day(s) {', '.join(absent)} under {logs_dir}")
    out_dir = Path(out_dir)
    stage_root = out_dir / "staging"
    stage_days(discovery.files, wanted, stage_root, config, judge_key_for(config, out_dir), workers)
    accounting = finalize(stage_root, wanted, out_dir, discovery=discovery)
    accounting["dedup"] = dedup.tag_battles(out_dir, config.dedup)
    (out_dir / "accounting.json").write_text(json.dumps(accounting, indent=2))
    return accounting
