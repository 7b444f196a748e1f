"""Build one release directory from the private tables (classified and redacted), in steps that the
release assets run one at a time and `build_release` runs in a row.

For each table: the log window and the keyed-hash draw of the public share, the required stages,
the public filters; the public gets anonymized model names in the lmsys schemas, each provider its
own export of the same share. The release directory holds `data/<table>/*.parquet`, `manifest.json`,
`README.md` and its plots; provider exports go to a separate private directory, one per provider.

Before anything is written, the release is checked against the previous one: the same salt (a new
one would reshuffle the share and leak held-back rows), the same judge key (else every voter's `judge`
id changes), a fraction not lower, a new version. Models named in the previous release stay named ("is
or has been on the leaderboard"): the manifest's `leaderboard_models` accumulate release after release.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import policy
from pipeline.card import write_card
from pipeline.errors import ConfigError
from pipeline.leak_scan import LeakDetectors
from pipeline.manifest import (
    build_manifest,
    data_files_glob,
    file_entry,
    read_manifest,
    table_summary,
    write_manifest,
)
from pipeline.policy import ReleaseBlocked, StageStatus
from pipeline.release_config import (
    ReleaseConfig,
    Salt,
    VerifySettings,
    check_provider_name,
    config_hash,
    judge_key_fingerprint,
)
from pipeline.takedown import load_takedowns, taken_down_ids

ROWS_PER_FILE = 250_000
ROWS_PER_GROUP = 50_000


@dataclass(frozen=True)
class ShareSummary:
    """What the release filters decided, without the rows."""

    counts: dict[str, dict[str, Any]]  # per table: input, in_window, drawn, dropped (per reason), public
    stages: dict[str, dict[str, StageStatus]]  # per table: each classifier stage's status


@dataclass(frozen=True)
class ReleaseShare(ShareSummary):
    """The drawn rows that pass every release filter, with real model names (private): the public
    release and each provider's export are made from these, so an export is always a subset of it."""

    tables: dict[str, pa.Table]


@dataclass(frozen=True)
class ShareInput:
    """One drawn table for the release filters, read in batches of any of its columns: a table in
    memory (one batch), or a Parquet file streamed so that no stage holds every conversation text."""

    schema: pa.Schema
    num_rows: int
    batches: Callable[[Sequence[str] | None], Iterable[pa.Table]]  # columns (None: all) -> batches

    @classmethod
    def of_table(cls, table: pa.Table) -> ShareInput:
        return cls(table.schema, len(table), lambda columns: [table if columns is None else table.select(columns)])

    @classmethod
    def of_parquet(cls, path: Path, batch_rows: int) -> ShareInput:
        def batches(columns: Sequence[str] | None) -> Iterator[pa.Table]:
            for batch in pq.ParquetFile(path).iter_batches(batch_rows, columns=columns):
                yield pa.Table.from_batches([batch])

        source = pq.ParquetFile(path)
        return cls(source.schema_arrow, source.metadata.num_rows, batches)


class TableSink:
    """Collects written tables in memory: the sink of a release built from tables (tests, small inputs)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.parts: list[pa.Table] = []

    def write_table(self, table: pa.Table) -> None:
        self.parts.append(table)

    @property
    def table(self) -> pa.Table:
        return pa.concat_tables(self.parts) if self.parts else self.schema.empty_table()


# (table name, schema) -> where its kept rows are written, batch by batch: a ParquetWriter or a TableSink
OpenSink = Callable[[str, pa.Schema], AbstractContextManager[Any]]


def build_release(
    config: ReleaseConfig,
    salt: Salt,
    out_dir: Path,
    battles: pa.Table,
    conversations: pa.Table | None = None,
    *,
    drawn_counts: Mapping[str, Mapping[str, int]] | None = None,
    stage_reports: Mapping[str, StageStatus] | None = None,
    inputs: Sequence[Mapping[str, Any]] = (),
    provider_dir: Path | None = None,
    previous: Mapping[str, Any] | None = None,
    leaderboard_dir: Path | None = None,
    judge_key: bytes | None = None,
    previously_public: Mapping[str, pa.Array] | None = None,
) -> dict[str, Any]:
    """Write the public release to `out_dir` (and provider exports under `provider_dir`); returns the manifest.

    The same steps the release assets run one at a time: share, anonymize, public release, provider exports.
    The tables are the cleaned ones, drawn here; or, when `drawn_counts` is given, the rows that
    `policy.draw_public_share` drew earlier (so that slow stages saw only those), with the counts it
    returned per table. Rows drawn but missing now (held back upstream) are counted, not lost.
    `previous` is the previous release's manifest; by default the config's `previous_manifest`.
    `judge_key`: the key the `judge` ids were made with, fingerprinted in the manifest. `previously_public`:
    per table, the ids the previous release published (they stay public, see `filter_share`).
    Raises ReleaseBlocked when a required stage did not run or the release breaks continuity.
    """
    previous = previous_manifest(config, previous)
    tables = {"battles": battles} | ({"conversations": conversations} if conversations is not None else {})
    check_continuity(config, salt, previous, judge_key)
    share = select_share(config, salt, tables, drawn_counts=drawn_counts, stage_reports=stage_reports,
                         previously_public=previously_public)
    parts = manifest_parts(config, salt, share, inputs, judge_key)
    shown = named_models(config, previous)
    public = anonymize_share(share, shown, config.anonymous_label)
    manifest = write_public_release(Path(out_dir), public, share.counts, parts, previous, shown, leaderboard_dir)
    if provider_dir is not None:
        write_provider_exports(Path(provider_dir), share, config, shown, parts)
    return manifest


def previous_manifest(config: ReleaseConfig, previous: Mapping[str, Any] | None = None) -> Mapping[str, Any] | None:
    """The previous release's manifest: the one given, else the config's `previous_manifest`, else none."""
    if previous is None and config.previous_manifest is not None:
        return read_manifest(config.path(config.previous_manifest))
    return previous


def named_models(config: ReleaseConfig, previous: Mapping[str, Any] | None) -> set[str]:
    """Models shown by name: on the leaderboard now, or named in the previous release, which named every
    model named before it ("is or has been on the leaderboard")."""
    return set(config.leaderboard_models) | set(previous["leaderboard_models"] if previous else ())


def select_share(
    config: ReleaseConfig,
    salt: Salt,
    tables: Mapping[str, pa.Table],
    *,
    drawn_counts: Mapping[str, Mapping[str, int]] | None = None,
    stage_reports: Mapping[str, StageStatus] | None = None,
    previously_public: Mapping[str, pa.Array] | None = None,
) -> ReleaseShare:
    """The draw (unless done upstream), the required stages, then the release filters.

    Raises ReleaseBlocked when a required stage did not run.
    """
    drawn, counts = {}, {}
    for name, table in tables.items():
        if drawn_counts is None:
            drawn[name], counts[name] = policy.draw_public_share(
                table, policy.TABLE_KINDS[name], config.log_window, salt.key, config.public_fraction,
                tables["battles"],
            )
        else:
            drawn[name], counts[name] = table, dict(drawn_counts[name])
    sinks: dict[str, TableSink] = {}

    @contextlib.contextmanager
    def collect(name: str, schema: pa.Schema) -> Iterator[TableSink]:
        yield sinks.setdefault(name, TableSink(schema))

    inputs = {name: ShareInput.of_table(table) for name, table in drawn.items()}
    taken_down = (None if config.takedowns is None else
                  taken_down_ids(load_takedowns(config.path(config.takedowns)), tables["battles"],
                                 tables.get("conversations")))
    counts, stages = filter_share(config, inputs, counts, collect, stage_reports, held_back=drawn_counts is not None,
                                  previously_public=previously_public, taken_down=taken_down)
    return ReleaseShare(counts, stages, tables={name: sink.table for name, sink in sinks.items()})


# Filters whose verdict on a row depends on the other rows of the window: they may keep a row out of its first
# release, never take out a row already published (the next, larger window must not withdraw it silently).
WINDOW_DEPENDENT_REASONS = frozenset({"too_frequent"})


def filter_share(
    config: ReleaseConfig,
    inputs: Mapping[str, ShareInput],
    drawn_counts: Mapping[str, Mapping[str, int]],
    open_sink: OpenSink,
    stage_reports: Mapping[str, StageStatus] | None = None,
    *,
    held_back: bool = True,
    previously_public: Mapping[str, pa.Array] | None = None,
    taken_down: Mapping[str, pa.Array] | None = None,
    detectors: LeakDetectors | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, StageStatus]]]:
    """The required stages, then the release filters batch by batch, kept rows into `open_sink(name, schema)`;
    returns the counts (drawn, dropped per reason, public) and each table's stage statuses.

    Every stage status is known before anything is written. `held_back`: rows drawn but missing now
    (held back by an upstream stage) are counted as `held_back_upstream`. `previously_public`: per table, the
    ids the previous release published. Such a row stays public unless a recorded reason removes it (a
    window-dependent filter is not one); `withdrawn` counts those removed by reason, and those not reaching
    the filters at all (outside this window, or held back upstream) as `not_in_this_release`. `taken_down`:
    per table, the ids of rows people asked to remove, dropped first (the config's takedown list, resolved).
    `detectors`: verify's leak scans for the residual-PII filter, as the release runs them (by default: with
    the config's allowed networks, in this process, remembering nothing past the call).
    """
    stages = {
        name: policy.stage_statuses_in(source.batches(policy.present_stage_columns(source.schema.names)),
                                       source.schema.names, stage_reports)
        for name, source in inputs.items()
    }
    policy.require_stages(stages, config.required_stages)

    detectors = detectors or LeakDetectors(tuple(config.verify.allowed_ip_networks))
    counts = {}
    for name, source in inputs.items():
        drawn = dict(drawn_counts[name])
        missing = drawn["drawn"] - source.num_rows
        if missing < 0:
            raise ValueError(f"{name}: {source.num_rows} rows given but only {drawn['drawn']} were drawn")
        kind = policy.TABLE_KINDS[name]
        rule = policy.PublicFilter.prepare(source.schema, kind, config.filters, config.required_stages,
                                           prompts=source.batches(kind.conversation_columns),
                                           taken_down=None if taken_down is None else taken_down[name],
                                           detectors=detectors)
        dropped = {reason: 0 for reason in rule.reason_names}
        before = None if previously_public is None else previously_public.get(name, pa.array([], pa.string()))
        withdrawn: Counter[str] = Counter()
        public = kept_published = seen_published = 0
        with open_sink(name, source.schema) as sink:
            for batch in source.batches(None):
                reasons = rule.reasons(batch)
                if before is not None:
                    was_public = pc.is_in(batch[kind.id_column], value_set=before).combine_chunks()
                    stays = pc.and_(was_public, pc.is_in(reasons, value_set=pa.array(sorted(WINDOW_DEPENDENT_REASONS))))
                    reasons = pc.if_else(stays, pa.scalar(None, pa.string()), reasons)
                    kept_published += pc.sum(stays).as_py() or 0
                    seen_published += pc.sum(was_public).as_py() or 0
                    withdrawn.update(rule.count(reasons.filter(was_public)))
                kept = batch.filter(pc.is_null(reasons))
                for reason, count in rule.count(reasons).items():
                    dropped[reason] += count
                public += len(kept)
                if len(kept):
                    sink.write_table(kept)
        held = {"held_back_upstream": missing} if held_back else {}
        counts[name] = drawn | {"dropped": held | dropped, "public": public}
        if before is not None:
            withdrawn_now = {reason: n for reason, n in withdrawn.items() if n}
            absent = len(before) - seen_published
            counts[name] |= {"previously_public": len(before), "kept_as_published": kept_published,
                             "withdrawn": withdrawn_now | ({"not_in_this_release": absent} if absent else {})}
        _check_residue(name, dropped[policy.RESIDUAL_PII], public, config.verify)
    return counts, stages


def _check_residue(table: str, residue: int, public: int, settings: VerifySettings) -> None:
    """Raise ReleaseBlocked when redaction failed systematically: too many rows still held PII after it (a
    share above the bound, and at least `residual_pii_min_rows` rows, so one miss in a small release is a
    withheld row, not a blocked release)."""
    screened, max_fraction = residue + public, settings.max_residual_pii_fraction
    if residue and residue >= settings.residual_pii_min_rows and residue / screened > max_fraction:
        raise ReleaseBlocked(
            f"{table}: {residue:,} of {screened:,} rows ({residue / screened:.1%}) still hold structured PII or an "
            f"IP address after redaction, above verify.max_residual_pii_fraction ({max_fraction:.1%}): redaction "
            "failed systematically, so the release is blocked. Those rows are never published; fix redaction, "
            "or raise the bound in the release config if the residue is expected.")


def manifest_parts(
    config: ReleaseConfig, salt: Salt, share: ShareSummary, inputs: Sequence[Mapping[str, Any]] = (),
    judge_key: bytes | None = None,
    log_days: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What the public manifest and every provider's share: config, salt and judge key fingerprints, window,
    inputs (the log files as ingest recorded them: path, sha256, bytes), the log days released and dropped,
    stages."""
    evaluation = config.card.pii_evaluation
    return {
        "repo_id": config.targets[0].repo_id,
        "pii_evaluation": None if evaluation is None else json.loads(config.path(evaluation).read_text()),
        "current_leaderboard": list(config.leaderboard_models),
        "judge_key": None if judge_key is None else {"fingerprint": judge_key_fingerprint(judge_key)},
        "version": config.version,
        "config_view": config.public_view(),
        "config_sha256": config_hash(config),
        "salt": salt.describe(),
        "public_fraction": config.public_fraction,
        "anonymous_label": config.anonymous_label,
        "log_window": {"start": config.log_window.start.isoformat(), "end": config.log_window.end.isoformat()},
        "required_stages": list(config.required_stages),
        "inputs": [dict(entry) for entry in inputs],
        "log_days": dict(log_days) if log_days is not None else None,
        "stages": {name: {s: st.to_manifest() for s, st in per.items()} for name, per in share.stages.items()},
    }


def anonymize_share(share: ReleaseShare, shown: set[str], label: str) -> dict[str, pa.Table]:
    """The public tables: models not shown become `label`, columns as the lmsys schemas."""
    return {name: policy.to_public(policy.anonymize_models(table, shown, label), policy.TABLE_KINDS[name])
            for name, table in share.tables.items()}


def write_public_release(
    out_dir: Path,
    public: Mapping[str, pa.Table],
    counts: Mapping[str, dict[str, Any]],
    parts: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    shown: set[str],
    leaderboard_dir: Path | None = None,
) -> dict[str, Any]:
    """The public release directory (data, manifest, card with the leaderboard); returns the manifest."""
    return _write_release(out_dir, public, counts, previous, leaderboard_dir=leaderboard_dir, kind="public",
                          leaderboard_models=shown, **parts)


def write_provider_exports(
    provider_dir: Path, share: ReleaseShare, config: ReleaseConfig, shown: set[str], parts: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """One private release directory per provider: its models' rows of the share, opponents anonymous,
    each row marked with the provider's own side."""
    manifests = {}
    # Every name checked before any directory is touched: each one is emptied and rewritten.
    directories = {provider: child_dir(provider_dir, check_provider_name(provider)) for provider in config.providers}
    # The public config view lists the whole leaderboard: other providers' names have no place in an export.
    view = dict(parts["config_view"])
    view["leaderboard"] = {**view["leaderboard"], "models": {"count": len(view["leaderboard"]["models"])}}
    parts = {**parts, "config_view": view}
    for provider, models in config.providers.items():
        exported = {
            name: policy.to_export(
                policy.provider_export(table, models, shown, config.anonymous_label), policy.TABLE_KINDS[name]
            )
            for name, table in share.tables.items()
        }
        export_counts = {name: {**share.counts[name], "exported": len(t)} for name, t in exported.items()}
        own_current = [m for m in parts.get("current_leaderboard") or () if m in models]
        manifests[provider] = _write_release(
            directories[provider], exported, export_counts, None, kind="provider_export",
            leaderboard_models=set(models) & shown, provider=provider,
            **{**parts, "repo_id": f"{parts['repo_id']}-{provider}", "current_leaderboard": own_current},
        )
    return manifests


def child_dir(parent: Path, name: str) -> Path:
    """`parent/name`, for a name from the config used as a directory: it must stay directly under `parent`
    (no separator, no '..', not a symlink out), since the directory is emptied and rewritten."""
    child = parent / name
    if Path(name).name != name or name in (".", "..") or child.resolve().parent != parent.resolve():
        raise ConfigError(f"{name!r} cannot be used as a directory under {parent}: it would leave it")
    return child


def check_continuity(
    config: ReleaseConfig, salt: Salt, previous: Mapping[str, Any] | None, judge_key: bytes | None = None,
) -> None:
    """Raise ReleaseBlocked if this release would break a promise the previous one made."""
    if previous is None:
        return
    problems = []
    if previous["salt"]["fingerprint"] != salt.fingerprint:
        problems.append(
            f"the sampling salt differs from release {previous['version']}'s (fingerprint "
            f"{salt.fingerprint} vs {previous['salt']['fingerprint']}): a new salt reshuffles the public "
            "share and would publish rows that were held back"
        )
    before = (previous.get("judge_key") or {}).get("fingerprint")
    if judge_key is not None and before is not None and judge_key_fingerprint(judge_key) != before:
        problems.append(
            f"the judge key differs from release {previous['version']}'s (fingerprint "
            f"{judge_key_fingerprint(judge_key)} vs {before}): every voter's `judge` id would change between "
            "releases; set the judge key ($ARENA_JUDGE_KEY) that release used and stage the logs again"
        )
    if config.public_fraction < previous["public_fraction"]:
        problems.append(
            f"public_fraction {config.public_fraction} is lower than release {previous['version']}'s "
            f"{previous['public_fraction']}: rows already public would disappear"
        )
    if config.version == previous["version"]:
        problems.append(f"version {config.version!r} is the previous release's version")
    if problems:
        raise ReleaseBlocked("; ".join(problems))


def _write_release(
    out_dir: Path,
    public: Mapping[str, pa.Table],
    counts: Mapping[str, dict[str, Any]],
    previous: Mapping[str, Any] | None,
    leaderboard_dir: Path | None = None,
    **manifest_parts: Any,
) -> dict[str, Any]:
    """Data files, manifest and card of one release directory (emptied first: no stale files)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    tables = {}
    for name, table in public.items():
        kind = policy.TABLE_KINDS[name]
        tables[name] = {
            "rows": len(table),
            "files": write_table(table, out_dir, name, manifest_parts["version"]),
            "schema": [{"name": f.name, "type": str(f.type)} for f in table.schema],
            "counts": counts[name],
            **table_summary(table, kind.model_columns),
        }
    manifest = build_manifest(tables=tables, previous_version=previous["version"] if previous else None,
                              **manifest_parts)
    write_manifest(manifest, out_dir)
    write_card(out_dir, manifest, public, previous, leaderboard_dir)
    return manifest


def write_table(
    table: pa.Table, out_dir: Path, name: str, version: str, rows_per_file: int = ROWS_PER_FILE,
) -> list[dict]:
    """`data/<name>/train-<version>-XXXXX-of-YYYYY.parquet` shards (one, possibly empty, at least); their entries.

    Each row group is written from one contiguous slice, so a file's bytes do not depend on how the
    table's columns happen to be chunked (a table streamed in batches writes the same shards)."""
    folder = out_dir / "data" / name
    folder.mkdir(parents=True, exist_ok=True)
    shards = max(1, -(-len(table) // rows_per_file))
    entries = []
    for i in range(shards):
        path = out_dir / data_files_glob(name, version).replace("*", f"{i:05d}-of-{shards:05d}")
        part = table.slice(i * rows_per_file, rows_per_file)
        with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
            for start in range(0, max(len(part), 1), ROWS_PER_GROUP):
                writer.write_table(part.slice(start, ROWS_PER_GROUP).combine_chunks())
        entries.append({**file_entry(path, out_dir), "rows": len(part)})
    return entries
