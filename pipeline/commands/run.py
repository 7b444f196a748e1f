"""`arena-release run`: the steward's release job, in-process, with a progress line per stage.

It materializes the same Dagster assets as the UI, on a Dagster instance kept in the work directory
(`<workdir>/dagster_home`), so `DAGSTER_HOME=<workdir>/dagster_home dagster dev` shows these runs.
Without `--logs`, sample logs are generated into `<workdir>/logs` (once) for the config's window.
A log day already staged from the same files (path, size, mtime), cleaning rules and judge key is not
staged again, so a re-run after a failure, or the next release with new days, stages only what changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from pipeline.cleaning_config import load_cleaning_config
from pipeline.errors import UsageError
from pipeline.ingest import discover_logs, judge_key_for
from pipeline.instance import write_instance_settings
from pipeline.preflight import preflight
from pipeline.release_config import ReleaseConfig, load_release_config
from pipeline.stage_settings import load_stage_settings
from pipeline.synth import SynthSettings, generate
from pipeline.workdir import workdir_lock

# Dagster's console logger would print every step event; this command prints its own progress and
# explains failures itself (the full event log stays in the instance, visible in the UI).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
SAMPLE_DAYS = 7
SAMPLE_BATTLES_PER_DAY = 300


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run a whole release (ingest to publish) in-process")
    p.add_argument("--config", type=Path, required=True, help="release config, e.g. release_configs/example.yaml")
    p.add_argument("--version", help="the release's version (its tag); default: the config's `version`, else "
                                     "the last day of its log window")
    p.add_argument("--logs", type=Path, help="raw logs directory (default: sample logs in WORKDIR/logs)")
    p.add_argument("--workdir", type=Path, default=Path(".workdir"), help="intermediate tables, caches, runs")
    p.add_argument("--stages", type=Path, help="model stage settings (default pipeline/data/stages.yaml)")
    p.add_argument("--cleaning", type=Path, help="cleaning rules (default pipeline/data/cleaning.yaml)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.set_defaults(func=run)


def ensure_logs(args: argparse.Namespace, window_start) -> Path:
    if args.logs is not None:
        return args.logs
    logs = args.workdir / "logs"
    if not (logs.is_dir() and discover_logs(logs).files):
        print(f"no --logs given: generating {SAMPLE_DAYS} days of sample logs into {logs}")
        generate(logs, SynthSettings(days=SAMPLE_DAYS, battles_per_day=SAMPLE_BATTLES_PER_DAY,
                                     start_date=window_start), workers=args.workers)
    return logs


def run(args: argparse.Namespace) -> int:
    # Every configuration file is read and validated here, before any work: a mistake is one line.
    config = load_release_config(args.config, args.version)
    cleaning, stages = load_cleaning_config(args.cleaning), load_stage_settings(args.stages)
    args.workdir = args.workdir.resolve()
    # A missing key or an unwritable target fails here in seconds, not after the expensive stages.
    # (The verify files are checked once the sample logs that may hold them are there.)
    preflight(config, stages, cleaning, args.workdir, verify_inputs=False).raise_if_failed()
    with workdir_lock(args.workdir):  # one run per work directory; a killed run's temporaries go first
        return _release(args, config)


def _release(args: argparse.Namespace, config: ReleaseConfig) -> int:
    logs = ensure_logs(args, config.log_window.start).resolve()
    files = [f for f in discover_logs(logs).files
             if config.log_window.start.isoformat() <= f.day <= config.log_window.end.isoformat()]
    days = sorted({f.day for f in files})
    if not days:
        raise UsageError(f"no log day under {logs} falls in the config's window "
                         f"{config.log_window.start}..{config.log_window.end}")
    missing = config.verify.missing_files(args.workdir)
    if missing:
        raise UsageError("; ".join(missing) + " (relative verify paths are under the work directory; without "
                         "--logs the sample logs write logs/canaries.txt and logs/pii_ground_truth.jsonl there)")
    home = args.workdir / "dagster_home"
    write_instance_settings(home, workers_per_run=args.workers)
    os.environ["DAGSTER_HOME"] = str(home)

    import dagster as dg  # after DAGSTER_HOME is set

    from assets import ingest
    from assets.definitions import defs
    from assets.resources import ArenaStorage, ReleaseSettings

    resources = {
        "storage": ArenaStorage(logs_dir=str(logs), workdir=str(args.workdir), workers=args.workers,
                                cleaning_config=str(args.cleaning.resolve()) if args.cleaning else None),
        "release": ReleaseSettings(config_file=str(args.config.resolve()), version=config.version,
                                   stages_file=str(args.stages.resolve()) if args.stages else None),
    }
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(ingest.log_days.name, days)
    all_assets = list(defs.assets)
    checks = list(defs.asset_checks)
    ledger = StagingLedger(args.workdir / "staging", _rules_digest(args))
    logs_fingerprints = resources["storage"].log_fingerprints()  # what the new_log_days sensor compares too
    fingerprints = {day: ledger.fingerprint(logs_fingerprints[day]) for day in days}
    unchanged = [day for day in days if ledger.is_current(day, fingerprints[day])]
    # The staged days that changed, then every other asset in the graph's order (the order lives in
    # the assets' dependencies, so a stage added or moved there needs no change here).
    materializable = {key for asset in all_assets for key in asset.keys} - {ingest.staged_day.key}
    steps = [(f"staged_day {day}", ingest.staged_day.key, day) for day in days if day not in unchanged] + [
        (key.to_user_string(), key, None) for key in defs.resolve_asset_graph().toposorted_asset_keys
        if key in materializable
    ]
    tags = resources["release"].run_tags(resources["storage"], config)
    started = time.perf_counter()
    print(f"release {config.version}: {len(days)} log days from {logs}, work directory {args.workdir}")
    if unchanged:
        print(f"already staged from unchanged logs, not staged again: {', '.join(unchanged)}")
    for index, (label, key, partition) in enumerate(steps, start=1):
        step_started = time.perf_counter()
        print(f"[{index:>2}/{len(steps)}] {label} ...", end="", flush=True)
        result = dg.materialize([*all_assets, *checks], selection=[key], partition_key=partition,
                                instance=instance, resources=resources, raise_on_error=False,
                                tags=tags, run_config=QUIET)
        not_passed = [c for c in result.get_asset_check_evaluations() if not c.passed]
        failed_checks = [c for c in not_passed if c.severity == dg.AssetCheckSeverity.ERROR]
        if not result.success or failed_checks:
            print(" FAILED")
            _explain_failure(result, failed_checks)
            return 1
        if key == ingest.staged_day.key:
            ledger.record(partition, fingerprints[partition])
        warnings = "".join(f"; WARN {c.check_name}" + (f": {c.metadata['why'].value}" if "why" in c.metadata else "")
                           for c in not_passed if c.severity == dg.AssetCheckSeverity.WARN)
        print(f" ok ({time.perf_counter() - step_started:.1f}s{warnings})")
    print(_summary(args.workdir, config.version, time.perf_counter() - started))
    return 0


class StagingLedger:
    """Which staged days came from which inputs: `<stage_root>/fingerprints.json`, day -> fingerprint.

    A day is recorded only after its staging succeeded, so a run killed mid-stage re-stages it.
    """

    def __init__(self, stage_root: Path, rules_digest: str):
        self.stage_root = stage_root
        self.path = stage_root / "fingerprints.json"
        self.rules_digest = rules_digest

    def fingerprint(self, day_files: str) -> str:
        """The day's log files (names, sizes, modification times) under these cleaning rules and key."""
        return hashlib.sha256(f"{self.rules_digest}\n{day_files}".encode()).hexdigest()

    def _recorded(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def is_current(self, day: str, fingerprint: str) -> bool:
        staged = (self.stage_root / f"day={day}" / "stats.json").exists()
        return staged and self._recorded().get(day) == fingerprint

    def record(self, day: str, fingerprint: str) -> None:
        recorded = {**self._recorded(), day: fingerprint}
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(recorded, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def _rules_digest(args: argparse.Namespace) -> str:
    """What else decides staged rows: the cleaning rules and the judge key (hashed, never stored)."""
    cleaning = load_cleaning_config(args.cleaning)
    key = judge_key_for(cleaning, args.workdir)
    return hashlib.sha256(cleaning.model_dump_json().encode() + b"\0" + key).hexdigest()


def _explain_failure(result, failed_checks) -> None:
    for check in failed_checks:
        details = "; ".join(f"{k}: {v.value}" for k, v in check.metadata.items())
        print(f"  check {check.check_name} failed, publishing stopped: {details}", file=sys.stderr)
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None:  # Dagster wraps the stage's own exception: show that one
                error = error.cause
            print(f"  {event.step_key}: {error.message.strip()}", file=sys.stderr)


def _summary(workdir: Path, version: str, elapsed: float) -> str:
    from pipeline.gate import read_record

    root = workdir / "releases" / version
    lines = [f"release {version} done in {elapsed:.1f}s"]
    accounting = json.loads((workdir / "cleaned" / "accounting.json").read_text())
    lines.append(f"  ingest: {accounting['lines_read']:,} lines -> {accounting['kept']['battles']:,} battles, "
                 f"{accounting['kept']['conversations']:,} conversations, "
                 f"{accounting['quarantined_total']:,} quarantined (reconciled)")
    for dropped in accounting.get("dropped_days", []):
        lines.append(f"  log day {dropped['day']} dropped: {dropped['why']}")
    for skipped in accounting.get("skipped_files", []):
        lines.append(f"  skipped file {skipped['file']}: {skipped['why']}")
    statuses = {stage: json.loads((root / stage / "status.json").read_text())
                for stage in ("language", "moderation", "toxicity")}
    for name, status in statuses.items():
        flag = "" if status["status"] == "ok" else "   <-- NOT RUN"
        lines.append(f"  {name}: {status['status']} ({status.get('model') or '-'}) {status.get('reason') or ''}{flag}")
    for record_file in sorted((root / "verify").rglob("record.json")):
        record = read_record(record_file)
        if record is not None:
            statuses = [c["status"] for c in record.checks]
            lines.append(f"  verified {record.release}: {statuses.count('pass')} checks passed, "
                         f"{statuses.count('waived')} waived, {len(record.failures)} failed or not run")
    manifest = json.loads((root / "public" / "manifest.json").read_text())
    for name, table in manifest["tables"].items():
        lines.append(f"  public {name}: {table.get('rows', '?'):,} rows")
    board = json.loads((root / "leaderboard" / "leaderboard.json").read_text())
    top = list(board.items())[:5]
    lines.append("  leaderboard top 5: " + ", ".join(f"{m} {v['rating']:.0f}" for m, v in top))
    lines.append(f"  release directory: {root / 'public'}")
    return "\n".join(lines)
