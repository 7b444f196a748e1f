"""The first step of a release run: `pipeline.preflight` in seconds, before any data work."""

import dagster as dg

from assets.markdown import markdown_table
from assets.resources import ArenaStorage, ReleaseSettings
from pipeline.errors import ConfigError, ReleaseBlocked
from pipeline.release_config import config_hash


@dg.asset(group_name="release", kinds={"python"})
def release_preflight(context: dg.AssetExecutionContext, storage: ArenaStorage,
                      release: ReleaseSettings) -> dg.MaterializeResult:
    """The config loads, every key its required stages and targets need is set, the targets answer.
    A problem fails the run here with what is missing and how to set it; the run is tagged with the
    release version, config name and hash, and target, so the Runs list tells releases apart."""
    try:
        config, report = release.preflight(storage)
        report.raise_if_failed()
    except (ConfigError, ReleaseBlocked) as err:
        raise dg.Failure(description=str(err), allow_retries=False) from None
    context.instance.add_run_tags(context.run.run_id, release.run_tags(storage, config))
    return dg.MaterializeResult(metadata={
        "version": config.version,
        "config": dg.MetadataValue.path(str(release.config_path.resolve())),
        "config sha256": config_hash(config),
        "checked": dg.MetadataValue.md(markdown_table([{"check": k, "result": v} for k, v in report.checked.items()])),
    })
