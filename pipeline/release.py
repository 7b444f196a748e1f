"""A release, stage by stage. Each stage reads the previous stage's Parquet and writes its own, so
Dagster can show and re-run them one at a time and the CLI runs the same functions in order.

    cleaned tables (dedup-tagged) -> candidates (log window, keyed-hash draw) -> language
    -> redacted (PII) -> moderation -> toxicity -> share (release filters, drop reasons)
    -> anonymized (lmsys schemas, anonymous models) -> public release (card, manifest, with the
    leaderboard of all kept battles) -> verified -> published; share -> provider exports -> published

The public share is drawn before the model stages, so the slow and paid stages only see rows that
can be published; the draw depends on each id and the salt alone, so drawing early changes nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from classifiers.cache import ResultCache
from classifiers.language import LanguageDetector
from classifiers.moderation import ModerationTagger
from classifiers.status import StageStatus
from classifiers.tagging import Classifiers, ModerationLayout, tag_batches
from classifiers.toxicity import ToxicityScorer
from pipeline import policy
from pipeline.delivery import deliver_exports
from pipeline.errors import ReleaseBlocked
from pipeline.gate import apply_waivers, record_path, record_verification, require_verified
from pipeline.leak_scan import CleanStrings, LeakDetectors
from pipeline.manifest import MANIFEST_NAME, parse_manifest, read_manifest
from pipeline.publish import HubTarget, LocalTarget, PublishResult, PublishTarget, RetryPolicy, publish_release
from pipeline.rating_plots import write_plots
from pipeline.ratings import LeaderboardOptions, compute_leaderboard
from pipeline.release_build import (
    ReleaseShare,
    ShareInput,
    ShareSummary,
    check_continuity,
    child_dir,
    filter_share,
    manifest_parts,
    named_models,
    write_provider_exports,
    write_public_release,
)
from pipeline.release_config import HubTarget as HubTargetSpec
from pipeline.release_config import LocalTarget as LocalTargetSpec
from pipeline.release_config import ReleaseConfig, Salt, config_hash
from pipeline.stage_settings import StageSettings
from pipeline.takedown import load_takedowns, taken_down_ids
from pipeline.verify import VerifyOptions, VerifyReport, options_from_config, verify_provider_export, verify_release
from redaction.table import AUDIT_SCHEMA, FAILURES_SCHEMA, TableRedactor, redacted_schema

# Rows per batch when the public share is drawn from the cleaned tables: bounded memory at any window,
# few enough batches that rebuilding the B-side lookup of every battle per batch stays cheap.
DRAW_BATCH_ROWS = 100_000

# Rows per batch streamed through the model stages (language, redaction, moderation, toxicity): peak memory
# holds a few batches whatever the share's size; the classifiers' own chunk size, so each stage batches,
# caches and fans out to workers as it did over a whole table, and Parquet row groups of a useful size.
STAGE_BATCH_ROWS = 10_000

# Rows per batch through the release filters and into the public tables: the share holds whole
# conversations with their classifier results, so a few batches, never a table, are in memory.
SHARE_BATCH_ROWS = 10_000

# table -> (conversation columns, id column)
TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "battles": (("conversation_a", "conversation_b"), "question_id"),
    "conversations": (("conversation",), "conversation_id"),
}
# table -> moderation layout: one result per battle (chatbot_arena_conversations), per message (lmsys-chat-1m)
MODERATION_LAYOUTS: dict[str, ModerationLayout] = {"battles": "combined", "conversations": "per_message"}


@dataclass(frozen=True)
class ReleaseWorkspace:
    """Where one release's intermediate tables live: `<workdir>/releases/<version>/<stage>/`."""

    workdir: Path
    version: str

    @property
    def root(self) -> Path:
        return child_dir(self.workdir / "releases", self.version)

    @property
    def cleaned_dir(self) -> Path:
        return self.workdir / "cleaned"

    @property
    def cache_dir(self) -> Path:
        return self.workdir / "cache"

    @property
    def clean_strings_dir(self) -> Path:
        """The digests of texts the leak detectors found clean in this release (leak_scan.CleanStrings)."""
        return self.root / "clean_strings"

    @property
    def public_dir(self) -> Path:
        return self.root / "public"

    @property
    def provider_dir(self) -> Path:
        return self.root / "providers"

    @property
    def leaderboard_dir(self) -> Path:
        return self.root / "leaderboard"

    def table(self, stage: str, name: str) -> Path:
        return self.root / stage / f"{name}.parquet"

    def read(self, stage: str, name: str, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self.table(stage, name), columns=columns)

    def write(self, stage: str, name: str, table: pa.Table) -> None:
        with self.writer(stage, name, table.schema) as writer:
            writer.write_table(table)

    @contextlib.contextmanager
    def writer(self, stage: str, name: str, schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
        """A table written batch by batch, in place only once complete."""
        path = self.table(stage, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".parquet.tmp")
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            yield writer
        tmp.replace(path)

    def write_json(self, stage: str, name: str, data: Any) -> None:
        path = self.root / stage / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, default=str))

    def read_json(self, stage: str, name: str) -> Any:
        return json.loads((self.root / stage / f"{name}.json").read_text())


def select_candidates(config: ReleaseConfig, salt: Salt, ws: ReleaseWorkspace) -> dict[str, dict[str, int]]:
    """Rows in the log window that the keyed-hash draw puts in the public share, drawn batch by batch: the
    cleaned tables hold every conversation text of the window, far more than memory should."""
    # Combined once: each conversations batch looks its B sides up in these.
    battles = ws.cleaned_dir / "battles.parquet"
    battle_ids = pq.read_table(battles, columns=["question_id", "conv_id_b"]).combine_chunks()
    counts: dict[str, dict[str, int]] = {}
    for name in TABLES:
        source = pq.ParquetFile(ws.cleaned_dir / f"{name}.parquet")
        totals: Counter[str] = Counter({"input": 0, "in_window": 0, "drawn": 0})
        with ws.writer("candidates", name, source.schema_arrow) as writer:
            for batch in source.iter_batches(DRAW_BATCH_ROWS):
                drawn, batch_counts = policy.draw_public_share(
                    pa.Table.from_batches([batch]), policy.TABLE_KINDS[name], config.log_window, salt.key,
                    config.public_fraction, battles=battle_ids)
                writer.write_table(drawn)
                totals.update(batch_counts)
        counts[name] = dict(totals)
    ws.write_json("candidates", "counts", counts)
    return counts


# The private stages in order, each reading the previous one's tables. PII redaction comes before
# moderation and toxicity, so no third-party API ever sees unredacted text.
PRIVATE_STAGES = ("candidates", "language", "redacted", "moderation", "toxicity")
CLASSIFIER_STAGES = ("language", "moderation", "toxicity")


def _input_of(stage: str) -> str:
    return PRIVATE_STAGES[PRIVATE_STAGES.index(stage) - 1]


def classify(ws: ReleaseWorkspace, settings: StageSettings, required: list[str], stage: str) -> dict[str, Any]:
    """One classifier stage over both tables; results cached by content hash and model identity."""
    if stage == "language":
        classifiers = Classifiers(language=LanguageDetector(settings.language))
    else:
        cache = ResultCache(ws.cache_dir / f"{stage}.duckdb")
        if stage == "moderation":
            moderation = settings.moderation.model_copy(update={"required": "moderation" in required})
            classifiers = Classifiers(moderation=ModerationTagger(moderation, cache=cache))
        else:
            classifiers = Classifiers(toxicity=ToxicityScorer(settings.toxicity, cache=cache))
    try:
        for name, (columns, _) in TABLES.items():
            source = pq.ParquetFile(ws.table(_input_of(stage), name))
            # An empty table still goes through one (empty) batch, so its file has the tagged schema.
            batches = _nonempty(source.iter_batches(STAGE_BATCH_ROWS), source.schema_arrow)
            tagged = tag_batches(batches, columns, classifiers, moderation_layout=MODERATION_LAYOUTS[name])
            first = next(tagged)
            with ws.writer(stage, name, first.schema) as writer:
                for batch in itertools.chain([first], tagged):
                    writer.write_batch(batch)
    finally:
        classifiers.close()
    [status] = classifiers.statuses()
    ws.write_json(stage, "status", status.to_dict())
    return status.to_dict()


def _nonempty(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """`batches`, or one empty batch of `schema` when there are none."""
    first = next(batches, None)
    return iter([pa.RecordBatch.from_pylist([], schema=schema)]) if first is None else itertools.chain([first], batches)


def stage_reports(ws: ReleaseWorkspace) -> dict[str, StageStatus]:
    """What each stage reported, by the name the release policy knows it by (pii, moderation, ...)."""
    reports = [StageStatus.from_dict(ws.read_json(stage, "status")) for stage in (*CLASSIFIER_STAGES, "redacted")]
    return {report.name: report for report in reports}


def redact(ws: ReleaseWorkspace, settings: StageSettings) -> dict[str, dict[str, int]]:
    """PII replaced by consistent placeholders; rows whose redaction failed are held back, with why."""
    counts = {}
    status = StageStatus("pii", "ok", model="presidio-analyzer", model_version=package_version("presidio-analyzer"))
    with TableRedactor(settings.redaction(), workers=settings.workers,
                       cache_path=ws.cache_dir / "redaction.duckdb") as redactor:
        for name, (columns, id_column) in TABLES.items():
            source = pq.ParquetFile(ws.table(_input_of("redacted"), name))
            totals = Counter({"rows": 0, "redacted": 0, "failed": 0, "spans": 0})
            with (ws.writer("redacted", name, redacted_schema(source.schema_arrow)) as rows,
                  ws.writer("redacted", f"{name}_audit", AUDIT_SCHEMA) as audit,
                  ws.writer("redacted", f"{name}_failures", FAILURES_SCHEMA) as failures):
                for part in redactor.redact_batches(source.iter_batches(STAGE_BATCH_ROWS), columns, id_column):
                    for writer, table in ((rows, part.table), (audit, part.audit), (failures, part.failures)):
                        if table.num_rows:
                            writer.write_table(table)
                    totals.update(rows=part.table.num_rows, redacted=pc.sum(part.table["redacted"]).as_py() or 0,
                                  failed=part.failures.num_rows, spans=part.audit.num_rows)
            counts[name] = dict(totals)
            status.count(f"{name} held back", totals["failed"])
    ws.write_json("redacted", "counts", counts)
    ws.write_json("redacted", "status", status.to_dict())
    return counts


def target_for(config: ReleaseConfig, spec: LocalTargetSpec | HubTargetSpec, workdir: Path) -> PublishTarget:
    """The publish target of a config's target entry (a local one's relative path is under `workdir`)."""
    return (LocalTarget(spec.directory(workdir)) if spec.kind == "local"
            else HubTarget(endpoint=spec.endpoint, token_env=spec.token_env, transfer=config.publishing.transfer,
                           terms_gated=config.card.gating is not None,
                           max_files_per_commit=config.publishing.max_files_per_commit))


def previous_release(config: ReleaseConfig, workdir: Path) -> dict[str, Any] | None:
    """The previous release's manifest: the config's `previous_manifest`, else the latest release on the first
    target (its public repo's `main`; when that is this very version, a re-run, the release before it)."""
    if config.previous_manifest is not None:
        return read_manifest(config.path(config.previous_manifest))
    spec = config.targets[0]
    target = target_for(config, spec, workdir)

    def at(revision: str) -> dict[str, Any] | None:
        text = target.read_file(spec.repo_id, revision, MANIFEST_NAME)
        return None if text is None else parse_manifest(text.decode(), f"{spec.repo_id}@{revision}/{MANIFEST_NAME}")

    latest = at("main")
    if latest is not None and latest["version"] == config.version:
        latest = at(latest["previous_version"]) if latest.get("previous_version") else None
    return latest


def previously_public_ids(config: ReleaseConfig, previous: dict[str, Any] | None,
                          workdir: Path) -> dict[str, pa.Array] | None:
    """Per table, the ids the previous release published, from its data files: beside the config's
    `previous_manifest`, else on the first target at the previous version's tag."""
    if previous is None:
        return None
    spec = config.targets[0]
    target = target_for(config, spec, workdir)

    def read(path: str) -> bytes | None:
        if config.previous_manifest is not None:
            local = config.path(config.previous_manifest).parent / path
            return local.read_bytes() if local.is_file() else None
        return target.read_file(spec.repo_id, previous["version"], path)

    ids = {}
    for name, table in previous["tables"].items():
        column = policy.TABLE_KINDS[name].id_column
        parts = []
        for entry in table["files"]:
            data = read(entry["path"])
            if data is None:
                raise ReleaseBlocked(f"{entry['path']} of release {previous['version']} cannot be read: without "
                                     "the rows it published, this release cannot keep them public")
            parts.append(pq.read_table(pa.BufferReader(data), columns=[column])[column].combine_chunks())
        ids[name] = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
    return ids


def release_takedowns(config: ReleaseConfig, ws: ReleaseWorkspace) -> dict[str, pa.Array] | None:
    """The config's takedown list as the ids it removes from each table, resolved over the whole cleaned
    tables (ids and judges only): a judge hash or a B side's id reaches rows outside this window's share too."""
    if config.takedowns is None:
        return None
    battles = pq.read_table(ws.cleaned_dir / "battles.parquet", columns=["question_id", "conv_id_b", "judge"])
    conversations = pq.read_table(ws.cleaned_dir / "conversations.parquet", columns=["conversation_id", "judge"])
    return taken_down_ids(load_takedowns(config.path(config.takedowns)), battles, conversations)


def read_previous(ws: ReleaseWorkspace) -> dict[str, Any] | None:
    """The previous release's manifest as the share stage found it (every later stage uses that one)."""
    return ws.read_json("share", "previous")


def share(config: ReleaseConfig, salt: Salt, ws: ReleaseWorkspace, judge_key: bytes, workers: int = 1) -> ShareSummary:
    """The drawn, classified, redacted rows that pass the release filters (real model names: private),
    streamed batch by batch; the frequent prompts are counted over the whole table first. The
    manifest lists the window's log files as ingest hashed them, and fingerprints the salt and `judge_key`.
    The previous release is looked up here, once, and checked against. The residual-PII filter's leak scans
    run on `workers` processes and remember the texts found clean for this release's verifications."""
    previous = previous_release(config, ws.workdir)
    check_continuity(config, salt, previous, judge_key)
    ws.write_json("share", "previous", previous)
    inputs = {name: ShareInput.of_parquet(ws.table(PRIVATE_STAGES[-1], name), SHARE_BATCH_ROWS) for name in TABLES}
    allowed = tuple(config.verify.allowed_ip_networks)
    detectors = LeakDetectors(allowed, CleanStrings.for_detectors(allowed, ws.clean_strings_dir), workers)
    try:
        counts, stages = filter_share(config, inputs, ws.read_json("candidates", "counts"),
                                      lambda name, schema: ws.writer("share", name, schema), stage_reports(ws),
                                      previously_public=previously_public_ids(config, previous, ws.workdir),
                                      taken_down=release_takedowns(config, ws), detectors=detectors)
    finally:
        detectors.close()
    detectors.clean.save()
    result = ShareSummary(counts, stages)
    ws.write_json("share", "counts", result.counts)
    ws.write_json("share", "stages", {name: {stage: status.to_dict() for stage, status in per.items()}
                                      for name, per in result.stages.items()})
    accounting = json.loads((ws.cleaned_dir / "accounting.json").read_text())
    log_days = {"released": accounting["days"], "dropped": accounting.get("dropped_days", [])}
    ws.write_json("share", "manifest_parts",
                  manifest_parts(config, salt, result, accounting["inputs"], judge_key, log_days))
    return result


def read_share(ws: ReleaseWorkspace) -> ReleaseShare:
    stages = ws.read_json("share", "stages")
    return ReleaseShare(
        tables={name: ws.read("share", name) for name in stages},
        counts=ws.read_json("share", "counts"),
        stages={name: {stage: StageStatus.from_dict(s) for stage, s in per.items()} for name, per in stages.items()},
    )


def anonymize(config: ReleaseConfig, ws: ReleaseWorkspace) -> dict[str, pa.Table]:
    """The public tables: the share in the lmsys schemas, models never on the leaderboard anonymous.

    Only the sort keys are read whole; the rows are taken in public order batch by batch. Returns the
    public tables without their conversations and classifier results (what the asset shows)."""
    shown = named_models(config, read_previous(ws))
    summaries = {}
    for name in ws.read_json("share", "stages"):
        kind, path = policy.TABLE_KINDS[name], ws.table("share", name)

        def public(rows: pa.Table, kind: policy.TableKind = kind) -> pa.Table:
            return policy.public_columns(policy.anonymize_models(rows, shown, config.anonymous_label), kind)

        order = policy.public_order(pq.read_table(path, columns=["tstamp", kind.id_column]), kind)
        with ws.writer("anonymized", name, public(pq.read_schema(path).empty_table()).schema) as writer:
            for rows in rows_in_order(path, order, SHARE_BATCH_ROWS):
                writer.write_table(public(rows))
        hidden = (*kind.conversation_columns, *policy.CLASSIFIER_COLUMNS)
        written = pq.read_schema(ws.table("anonymized", name)).names
        summaries[name] = ws.read("anonymized", name, columns=[c for c in written if c not in hidden])
    return summaries


def rows_in_order(path: Path, order: pa.Array, batch_rows: int) -> Iterator[pa.Table]:
    """The rows of a Parquet file in `order` (row indices into the file), `batch_rows` at a time.

    Each row group is read once, when first needed, and held only while a later batch still needs it:
    for a file close to that order (the share is in log order, near time order) only a few are held.
    """
    source = pq.ParquetFile(path)
    sizes = [source.metadata.row_group(i).num_rows for i in range(source.num_row_groups)]
    starts = np.cumsum([0, *sizes])
    indices = np.asarray(order, dtype=np.int64)
    group_of = np.searchsorted(starts, indices, side="right") - 1
    last_batch = np.full(len(sizes), -1)
    np.maximum.at(last_batch, group_of, np.arange(len(indices)) // batch_rows)
    held: dict[int, pa.Table] = {}
    for number, begin in enumerate(range(0, len(indices), batch_rows)):
        wanted, groups = indices[begin:begin + batch_rows], group_of[begin:begin + batch_rows]
        needed = np.unique(groups)
        for group in needed:
            if group not in held:
                held[group] = source.read_row_group(group)
        offset_in_read = np.zeros(len(sizes), dtype=np.int64)
        offset_in_read[needed] = np.cumsum([0, *(sizes[g] for g in needed[:-1])])
        read = pa.concat_tables([held[g] for g in needed])
        yield read.take(pa.array(wanted - starts[groups] + offset_in_read[groups]))
        for group in needed[last_batch[needed] == number]:
            del held[group]


def export_providers(config: ReleaseConfig, ws: ReleaseWorkspace) -> dict[str, dict[str, Any]]:
    """One private release directory per provider (its models' rows of the share, opponents anonymous)."""
    shutil.rmtree(ws.provider_dir, ignore_errors=True)  # a provider dropped from the config gets nothing
    shown = named_models(config, read_previous(ws))
    return write_provider_exports(ws.provider_dir, read_share(ws), config, shown,
                                  ws.read_json("share", "manifest_parts"))


def rate(config: ReleaseConfig, ws: ReleaseWorkspace, bootstrap_rounds: int = 1000) -> dict[str, Any]:
    """Ratings from every kept battle in the window; published rows name leaderboard models only."""
    path = ws.cleaned_dir / "battles.parquet"
    without_texts = [n for n in pq.read_schema(path).names if n not in ("conversation_a", "conversation_b")]
    battles = policy.select_window(pq.read_table(path, columns=without_texts), config.log_window)
    leaderboard = compute_leaderboard(battles, LeaderboardOptions(bootstrap_rounds=bootstrap_rounds))
    published = leaderboard.restricted_to(set(config.leaderboard_models))
    ws.leaderboard_dir.mkdir(parents=True, exist_ok=True)
    table = published.to_json_dict()
    (ws.leaderboard_dir / "leaderboard.json").write_text(json.dumps(table, indent=2))
    rated = {"battles_rated": published.battles_used, "excluded": published.dropped,
             "log_window": {"start": config.log_window.start.isoformat(), "end": config.log_window.end.isoformat()}}
    (ws.leaderboard_dir / "rated.json").write_text(json.dumps(rated, indent=2))
    plots = write_plots(published, ws.leaderboard_dir)
    return {"leaderboard": table, "plots": {name: str(path) for name, path in plots.items()},
            "battles_used": published.battles_used}


def build(config: ReleaseConfig, ws: ReleaseWorkspace) -> dict[str, Any]:
    """The public release directory: the anonymized tables, the manifest and the card (with the leaderboard)."""
    previous = read_previous(ws)
    public = {name: ws.read("anonymized", name) for name in ws.read_json("share", "counts")}
    return write_public_release(ws.public_dir, public, ws.read_json("share", "counts"),
                                ws.read_json("share", "manifest_parts"), previous,
                                named_models(config, previous), ws.leaderboard_dir)


def verify(config: ReleaseConfig, ws: ReleaseWorkspace, workers: int = 1) -> VerifyReport:
    """Verify the public release and record the outcome, bound to its bytes, for the publishing gate."""
    return _gated_and_recorded(config, ws, ws.public_dir, "public",
                               verify_release(ws.public_dir, _verify_options(config, ws, workers)))


def verify_provider_exports(config: ReleaseConfig, ws: ReleaseWorkspace, workers: int = 1) -> dict[str, VerifyReport]:
    """Verify every provider's export, as the public release is verified plus the checks that keep an
    export to its provider (verify_provider_export, against the private share), and record each outcome
    for the publishing gate. A provider without an export directory gets a failing report, no record."""
    reports = {}
    for provider in sorted(config.providers):
        directory = ws.provider_dir / provider
        exported = verify_provider_export(directory, provider, config, ws.root / "share")
        if directory.is_dir():
            general = verify_release(directory, _verify_options(config, ws, workers))
            exported.checks[:0] = general.checks
        reports[provider] = _gated_and_recorded(config, ws, directory, f"providers/{provider}", exported)
    return reports


def _verify_options(config: ReleaseConfig, ws: ReleaseWorkspace, workers: int) -> VerifyOptions:
    """The config's verify options; the texts found clean are shared with the release filters and every
    verification of this release (only byte-identical texts, under the same detector version)."""
    return replace(options_from_config(config, ws.workdir), clean_strings=ws.clean_strings_dir, workers=workers)


def _gated_and_recorded(config: ReleaseConfig, ws: ReleaseWorkspace, release_dir: Path, name: str,
                        report: VerifyReport) -> VerifyReport:
    """The report as the gate reads it (skips fail unless waived), recorded against the directory's bytes."""
    report = apply_waivers(report, config.verify.waivers)
    if release_dir.is_dir():
        record_verification(release_dir, name, config.version, config_hash(config), report,
                            record_path(ws.root, name))
    return report


def publish(config: ReleaseConfig, ws: ReleaseWorkspace, retry: RetryPolicy | None = None) -> list[PublishResult]:
    """Every provider's export to its delivery, then the public release to each target (one commit and
    one tag per repo). Exports first: a failure leaves the public release unpublished, and every step
    is idempotent, so a re-run completes what was left and repeats nothing.

    Before anything is uploaded, every directory passes the publishing gate: a passing verification
    record must cover exactly its bytes under this config (pipeline/gate.py), so one unverified export
    stops the whole release, not half of it; what is uploaded is what the gate hashed."""
    digest = config_hash(config)
    exports = {provider: require_verified(ws.provider_dir / provider, f"providers/{provider}", config.version,
                                          digest, record_path(ws.root, f"providers/{provider}"))
               for provider in sorted(config.providers)}
    public = require_verified(ws.public_dir, "public", config.version, digest, record_path(ws.root, "public"))
    retry = retry or RetryPolicy(max_rate_limit_wait_s=config.publishing.max_rate_limit_wait_s)
    results = deliver_exports(config, exports, ws.workdir, ws.root / "delivery", retry)
    for spec in config.targets:
        target = target_for(config, spec, ws.workdir)
        results.append(publish_release(public, spec.repo_id, config.version, target, spec.private, retry))
    return results
