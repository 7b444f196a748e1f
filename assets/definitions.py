"""The Dagster code location (loaded by workspace.yaml)."""

from __future__ import annotations

import dagster as dg

from assets import ingest
from assets.resources import ArenaStorage

defs = dg.Definitions(
    assets=[ingest.staged_day, ingest.cleaned_tables],
    asset_checks=[ingest.rows_reconcile],
    jobs=[ingest.stage_log_day],
    sensors=[ingest.new_log_days],
    resources={"storage": ArenaStorage()},
)
