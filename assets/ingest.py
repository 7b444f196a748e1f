"""Ingest assets: one staged partition per log day, then the cleaned tables of the window's staged days,
then their dedup tags."""


import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from assets.markdown import markdown_table
from assets.preflight import release_preflight
from assets.resources import ArenaStorage, ReleaseSettings
from pipeline.dedup import UNTAGGED_BATTLES, tag_battles
from pipeline.ingest import finalize, stage_days
from pipeline.release_config import LogWindow

log_days = dg.DynamicPartitionsDefinition(name="log_days")
DAY_GONE = "no log file of this day under the logs directory any more"


@dg.asset(partitions_def=log_days, group_name="ingest", kinds={"python", "parquet"})
def staged_day(context: dg.AssetExecutionContext, storage: ArenaStorage) -> dg.MaterializeResult:
    """Every log line of one day parsed and validated: staged rows, or quarantine rows with reasons."""
    day = context.partition_key
    config = storage.cleaning()
    with storage.synced(writes=[f"staging/day={day}"]):
        files = storage.log_files(day)
        if not files:
            raise dg.Failure(f"no log files for {day} under {storage.logs_dir}")
        [summary] = stage_days(files, [day], storage.stage_root, config, storage.judge_key(config), storage.workers)
    lines = sum(f["lines"] for f in summary["files"])
    quarantined: dict[str, int] = {}
    for f in summary["files"]:
        for reason, count in f["quarantined"].items():
            quarantined[reason] = quarantined.get(reason, 0) + count
    return dg.MaterializeResult(metadata={
        "files": dg.MetadataValue.md(markdown_table(
            [{"file": f["source"], "lines": f["lines"], "quarantined": sum(f["quarantined"].values())}
             for f in summary["files"]])),
        "lines": lines,
        "quarantined": sum(quarantined.values()),
        "quarantine reasons": dg.MetadataValue.md(_reasons_table(quarantined)),
    })


def _reasons_table(counts: dict[str, int]) -> str:
    rows = sorted(counts.items(), key=lambda kv: -kv[1])
    return markdown_table([{"reason": reason, "lines": f"{count:,}"} for reason, count in rows])


@dg.asset(deps=[staged_day, release_preflight], group_name="ingest", kinds={"duckdb", "parquet"})
def cleaned_tables(
    context: dg.AssetExecutionContext, storage: ArenaStorage, release: ReleaseSettings
) -> dg.MaterializeResult:
    """Battles (not yet dedup-tagged), conversations, feedback and quarantine over the log days of the
    release's window present in the logs now, reconciled. A day known before whose files are gone is
    dropped and listed as such (accounting, manifest, changelog), never released from an old staging."""
    window = release.load()[0].log_window
    present = _in_window(storage.log_fingerprints(), window)
    gone = sorted(set(_in_window(context.instance.get_dynamic_partitions(log_days.name), window)) - set(present))
    unstaged = [d for d in present if not storage.is_staged(d)]
    if unstaged:
        raise dg.Failure(f"log days in the window not staged yet: {', '.join(unstaged)}: stage them first")
    if not present:
        raise dg.Failure(f"no log day in the window {window.start}..{window.end} under {storage.logs_dir}")
    if gone:
        context.log.warning(f"log days no longer in {storage.logs_dir}, dropped from this release: {', '.join(gone)}")
    with storage.synced(reads=[f"staging/day={d}" for d in present], writes=["cleaned"]):
        accounting = finalize(storage.stage_root, present, storage.cleaned_dir,
                              dropped_days={day: DAY_GONE for day in gone}, discovery=storage.discovery())
    return dg.MaterializeResult(metadata={
        "dagster/row_count": accounting["kept"]["battles"],
        "days": dg.MetadataValue.md(", ".join(present)),
        "dropped days": dg.MetadataValue.md(", ".join(gone) or "none"),
        "skipped files": dg.MetadataValue.md(markdown_table(accounting.get("skipped_files", []))),
        "lines read": accounting["lines_read"],
        "battles": accounting["kept"]["battles"],
        "conversations": accounting["kept"]["conversations"],
        "feedback": accounting["kept"]["feedback"],
        "quarantined": accounting["quarantined_total"],
        "drop reasons": dg.MetadataValue.md(_reasons_table(accounting["quarantined"])),
        "battles preview": dg.MetadataValue.md(
            _preview(storage.cleaned_dir / UNTAGGED_BATTLES, ["question_id", "model_a", "model_b", "winner",
                                                                 "turn", "anony", "day"])),
        "conversations preview": dg.MetadataValue.md(
            _preview(storage.cleaned_dir / "conversations.parquet", ["conversation_id", "model", "turn", "day"])),
        "accounting": dg.MetadataValue.json(accounting),
    })


def _in_window(days: Iterable[str], window: LogWindow) -> list[str]:
    """The days (YYYY-MM-DD) inside the window, both ends included, sorted."""
    return sorted(d for d in days if window.start.isoformat() <= d <= window.end.isoformat())


def _preview(path: Path, columns: list[str], rows: int = 10) -> str:
    """The first rows only: a preview must not read the whole table (and shows no conversation text)."""
    batch = next(pq.ParquetFile(path).iter_batches(rows, columns=columns), None)
    return markdown_table(batch.to_pylist()[:rows] if batch is not None else [])


@dg.asset(deps=[cleaned_tables], group_name="ingest", kinds={"duckdb", "parquet"})
def dedup_tags(storage: ArenaStorage) -> dg.MaterializeResult:
    """The cleaned battles with FastChat's high-frequency prompt tags (`dedup_tag`): the prompt counts and
    their cutoff span the whole window, so this runs after the staged days are merged. Nothing is dropped."""
    with storage.synced(reads=["cleaned"], writes=["cleaned"]):
        summary = tag_battles(storage.cleaned_dir, storage.cleaning().dedup)
    high, not_sampled = summary["high_freq_battles"], summary["not_sampled_battles"]
    return dg.MaterializeResult(metadata={
        "dagster/row_count": summary["battles"],
        "battles": summary["battles"],
        "high-frequency battles": high,
        "not sampled (rated out, kept)": not_sampled,
        "tags": dg.MetadataValue.md(markdown_table([
            {"dedup_tag": "ordinary prompt", "battles": f"{summary['battles'] - high:,}"},
            {"dedup_tag": "high_freq, sampled", "battles": f"{high - not_sampled:,}"},
            {"dedup_tag": "high_freq, not sampled", "battles": f"{not_sampled:,}"},
        ])),
    })


@dg.asset_check(asset=cleaned_tables, blocking=True, description="lines read = kept + merged + quarantined")
def rows_reconcile(storage: ArenaStorage) -> dg.AssetCheckResult:
    with storage.synced(reads=["cleaned/accounting.json"]):
        accounting = json.loads((storage.cleaned_dir / "accounting.json").read_text())
    accounted = (sum(accounting["kept"].values()) + sum(accounting["merged"].values())
                 + accounting["quarantined_total"])
    return dg.AssetCheckResult(
        passed=accounted == accounting["lines_read"],
        metadata={"lines read": accounting["lines_read"], "accounted": accounted},
    )


stage_log_day = dg.define_asset_job("stage_log_day", selection=[staged_day])


@dg.sensor(job=stage_log_day, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def new_log_days(context: dg.SensorEvaluationContext, storage: ArenaStorage) -> dg.SensorResult:
    """Registers each new log day as a partition and stages it; a changed file re-stages its day."""
    fingerprints = storage.log_fingerprints()
    known = set(context.instance.get_dynamic_partitions(log_days.name))
    cursor = json.loads(context.cursor) if context.cursor else {}
    changed = sorted(day for day, fp in fingerprints.items() if cursor.get(day) != fp)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=day,
                                    run_key=f"{day}:{hashlib.sha256(fingerprints[day].encode()).hexdigest()[:16]}")
                      for day in changed],
        dynamic_partitions_requests=[log_days.build_add_request(sorted(set(fingerprints) - known))],
        cursor=json.dumps(fingerprints),
    )
