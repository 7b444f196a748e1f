"""`arena-release ingest`: raw logs to cleaned Parquet tables with full accounting."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from pipeline.cleaning_config import load_cleaning_config
from pipeline.ingest import ingest_logs
from pipeline.workdir import workdir_lock


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("ingest", help="read raw FastChat logs, clean, dedup-tag, write Parquet")
    p.add_argument("logs_dir", type=Path, help="directory of server{i}/YYYY-MM-DD-conv.json[.gz|.zst|.bz2] files")
    p.add_argument("--out", type=Path, required=True, help="output directory for the Parquet tables")
    p.add_argument("--cleaning", type=Path, help="YAML overriding pipeline/data/cleaning.yaml")
    p.add_argument("--days", nargs="+", metavar="YYYY-MM-DD", help="only these days (default: all found)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_cleaning_config(args.cleaning)
    started = time.perf_counter()
    with workdir_lock(args.out):
        accounting = ingest_logs(args.logs_dir, args.out, config, workers=args.workers, days=args.days)
    elapsed = time.perf_counter() - started
    print(format_accounting(accounting))
    kept = accounting["kept"]["battles"]
    print(f"ingested {accounting['lines_read']:,} lines in {elapsed:.1f}s "
          f"({kept / max(elapsed, 1e-9):,.0f} battles/s) -> {args.out}")
    return 0


def format_accounting(accounting: dict) -> str:
    """Lines read, then kept / merged / quarantined per reason: the table must add up."""
    width = 34
    lines = [f"{'lines read':<{width}} {accounting['lines_read']:>12,}"]
    for section in ("kept", "merged"):
        for name, count in accounting[section].items():
            lines.append(f"{section + ': ' + name:<{width}} {count:>12,}")
    for reason, count in accounting["quarantined"].items():
        lines.append(f"{'quarantined: ' + reason:<{width}} {count:>12,}")
    status = "reconciled" if accounting["reconciled"] else "NOT RECONCILED"
    lines.append(f"{'accounted (' + status + ')':<{width}} {accounting['lines_read']:>12,}")
    dedup = accounting.get("dedup", {})
    if dedup:
        lines.append(f"dedup: {dedup['high_freq_battles']:,} high-frequency battles tagged, "
                     f"{dedup['not_sampled_battles']:,} not sampled (kept, tagged)")
    for skipped in accounting.get("skipped_files", []):
        lines.append(f"skipped file {skipped['file']}: {skipped['why']}")
    return "\n".join(lines)
