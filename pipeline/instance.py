"""The Dagster instance's settings (`<DAGSTER_HOME>/dagster.yaml`): a run queue sized to the machine.

Every run (a staged day, a release) already spreads its work over all cores (`ARENA_WORKERS`), so
runs started side by side only fight for them: a backfill of seven days launched at once on two
cores is slower than the same days one after another. The queue therefore runs about one run per
`workers_per_run` cores, and never two releases at once (they share the work directory).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

RELEASE_JOB_TAG = "arena/job"  # the release job carries {RELEASE_JOB_TAG: "release"}


def instance_settings(cpus: int, workers_per_run: int) -> dict:
    """telemetry off; at most max(1, cpus // workers_per_run) runs at once, one of them a release."""
    return {
        "telemetry": {"enabled": False},
        "run_queue": {
            "max_concurrent_runs": max(1, cpus // max(1, workers_per_run)),
            "tag_concurrency_limits": [{"key": RELEASE_JOB_TAG, "value": "release", "limit": 1}],
        },
    }


def write_instance_settings(home: Path, cpus: int | None = None, workers_per_run: int | None = None) -> Path:
    """`home/dagster.yaml`, written once: a steward's own edits (README, "Backfills") are kept."""
    path = home / "dagster.yaml"
    if not path.exists():
        cpus = cpus or os.cpu_count() or 1
        workers = workers_per_run or int(os.environ.get("ARENA_WORKERS", cpus))
        home.mkdir(parents=True, exist_ok=True)
        path.write_text("# Written by arena-release (pipeline/instance.py); edit freely, it is not rewritten.\n"
                        + yaml.safe_dump(instance_settings(cpus, workers), sort_keys=False))
    return path
