"""Time the release policy, release build and verify on ingested synthetic data, and print the figures.

    .venv/bin/python bench/bench_release.py [--battles 100000] [--ingested DIR] [--logs DIR]

Uses `bench/out/ingested-<battles>` and `bench/out/logs-<battles>` when present (bench_ingest.py
makes them), else generates and ingests that many battles first. The ingested tables carry no
classifier columns, so the bench releases with no required stage: it times the policy itself
(window and keyed-hash draw, filters on the drawn rows, anonymization, projection, Parquet, card,
manifest, provider exports) and verify, which then reports the unredacted planted names, as it must (rows
still holding structured PII are withheld by the residual-PII filter).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pyarrow.parquet as pq

from pipeline import policy
from pipeline.release_build import build_release
from pipeline.release_config import load_release_config, resolve_salt
from pipeline.verify import VerifyOptions, verify_release

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
T = TypeVar("T")


def timed(label: str, rows: int, step: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = step()
    elapsed = time.perf_counter() - started
    print(f"{label:<60} {elapsed:8.2f} s  {rows / max(elapsed, 1e-9):>12,.0f} rows/s  ({rows:,} rows)")
    return result


def ensure_ingested(battles: int, ingested: Path | None, logs: Path | None) -> tuple[Path, Path | None]:
    ingested = ingested or OUT / f"ingested-{battles}"
    logs = logs or OUT / f"logs-{battles}"
    if (ingested / "battles.parquet").exists():
        return ingested, logs if logs.exists() else None
    from pipeline.cleaning_config import load_cleaning_config
    from pipeline.ingest import ingest_logs
    from pipeline.synth import SynthSettings, generate

    os.environ.setdefault("ARENA_JUDGE_KEY", "bench-judge-key-0123456789abcdef")
    days = max(1, battles // 20_000)
    print(f"generating {battles:,} battles over {days} days and ingesting them (once; cached under {OUT})")
    generate(logs, SynthSettings(days=days, battles_per_day=battles // days, seed=1), workers=os.cpu_count() or 1)
    ingest_logs(logs, ingested, load_cleaning_config(), workers=os.cpu_count() or 1)
    return ingested, logs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=100_000)
    parser.add_argument("--ingested", type=Path)
    parser.add_argument("--logs", type=Path)
    args = parser.parse_args()
    ingested, logs = ensure_ingested(args.battles, args.ingested, args.logs)

    config = load_release_config(ROOT / "release_configs" / "example.yaml")
    # Unredacted rows: the residual-PII filter withholds the many that hold structured PII (timed with the
    # filters); the bound is lifted so the build goes on instead of blocking the release.
    config = config.model_copy(update={
        "required_stages": [], "verify": config.verify.model_copy(update={"max_residual_pii_fraction": 1.0})})
    salt = resolve_salt(config, {})
    battles = timed("read battles", 0, lambda: pq.read_table(ingested / "battles.parquet"))
    conversations = timed("read conversations", 0, lambda: pq.read_table(ingested / "conversations.parquet"))
    window = config.log_window
    print(
        f"battles {len(battles):,}, conversations {len(conversations):,}; window {window.start}..{window.end}; "
        f"{os.cpu_count()} CPUs"
    )

    for name, table in (("battles", battles), ("conversations", conversations)):
        kind = policy.TABLE_KINDS[name]
        drawn, counts = timed(f"{name}: window + keyed-hash draw (HMAC per id)", len(table),
                              lambda t=table, k=kind: policy.draw_public_share(
                                  t, k, window, salt.key, config.public_fraction, battles))
        print(f"    {counts}")
        filtered = timed(f"{name}: release filters on the drawn rows", len(drawn),
                         lambda d=drawn, k=kind: policy.apply_public_filters(d, k, config.filters))
        print(f"    dropped: {filtered.dropped}")
        share = filtered.kept
        timed(f"{name}: anonymize + public projection", len(share),
              lambda s=share, k=kind: policy.to_public(policy.anonymize_models(s, config.leaderboard_models,
                                                                               config.anonymous_label), k))
        filtered_all = timed(f"{name}: release filters on the whole window (for scale)", len(table),
                             lambda t=table, k=kind: policy.apply_public_filters(t, k, config.filters))
        del filtered_all

    release_dir, provider_dir = OUT / "release-bench", OUT / "release-bench-providers"
    total = len(battles) + len(conversations)
    manifest = timed(
        "build_release (all of it, 4 provider exports)",
        total,
        lambda: build_release(config, salt, release_dir, battles, conversations, provider_dir=provider_dir),
    )
    published = sum(t["rows"] for t in manifest["tables"].values())
    truth = logs / "pii_ground_truth.jsonl" if logs and (logs / "pii_ground_truth.jsonl").exists() else None
    options = VerifyOptions(
        pii_ground_truth=truth,
        salt=salt.key,
        private_model_names=frozenset({"secret-model-alpha", "internal-preview-0815"}),
    )
    report = timed("verify (public release)", published, lambda: verify_release(release_dir, options))
    print("    " + "\n    ".join(f"{c.status.upper():<4} {c.name}: {len(c.problems)} problems" for c in report.checks))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"published rows {published:,}; peak RSS {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
