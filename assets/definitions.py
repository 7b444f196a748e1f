"""The Dagster code location (loaded by workspace.yaml)."""

import dagster as dg

from assets import ingest, release
from assets.resources import ArenaStorage, ReleaseSettings

defs = dg.Definitions(
    assets=[ingest.staged_day, ingest.cleaned_tables, ingest.dedup_tags, *release.RELEASE_ASSETS],
    asset_checks=[ingest.rows_reconcile, *release.RELEASE_CHECKS],
    jobs=[ingest.stage_log_day, release.release_job],
    sensors=[ingest.new_log_days],
    schedules=[release.periodic_release],
    resources={"storage": ArenaStorage(), "release": ReleaseSettings()},
)
