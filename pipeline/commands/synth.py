"""`arena-release synth`: write synthetic FastChat logs."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.synth import SynthSettings, generate


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("synth", help="write synthetic FastChat arena logs (deterministic per seed)")
    p.add_argument("--out", type=Path, required=True, help="directory for server{i}/YYYY-MM-DD-conv.json")
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--battles-per-day", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--servers", type=int, default=4)
    p.add_argument("--start-date", type=dt.date.fromisoformat, default=SynthSettings.start_date)
    p.add_argument("--gzip", action="store_true", help="write .json.gz files")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.days < 1 or args.battles_per_day < 1 or args.servers < 1:
        raise UsageError("--days, --battles-per-day and --servers must be at least 1")
    settings = SynthSettings(days=args.days, battles_per_day=args.battles_per_day, seed=args.seed,
                             servers=args.servers, start_date=args.start_date, gzip=args.gzip)
    started = time.perf_counter()
    counts = generate(args.out, settings, workers=args.workers)
    elapsed = time.perf_counter() - started
    print(f"wrote {counts['battles']:,} battles, {counts['single_chats']:,} single-model chats, "
          f"{counts['lines']:,} log lines to {args.out} in {elapsed:.1f}s "
          f"(PII ground truth: {args.out / 'pii_ground_truth.jsonl'})")
    return 0
