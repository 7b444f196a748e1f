"""Release assets: candidates -> language -> moderation -> toxicity -> redacted -> leaderboard ->
release build -> published.

The release config file is a resource (`release.config_file`), so a steward picks it in the
launchpad. Blocking checks on `release_build` (PII leaks, anonymization leaks, schema, fraction,
accounting) stop `published_release` from running when any of them fails.
"""

import json
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from assets.ingest import cleaned_tables
from assets.markdown import markdown_image, markdown_table
from assets.resources import ArenaStorage, ReleaseSettings
from pipeline import release as stages

GROUP = "release"


@dg.asset(deps=[cleaned_tables], group_name=GROUP, kinds={"parquet"})
def release_candidates(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """Battles and conversations of the log window that the keyed-hash draw puts in the public share."""
    config, salt = release.load()
    counts = stages.select_candidates(config, salt, release.workspace(storage, config))
    return dg.MaterializeResult(metadata={
        "public fraction": config.public_fraction,
        "counts": dg.MetadataValue.md(markdown_table([{"table": k, **v} for k, v in counts.items()])),
    })


def _classifier_result(stage: str, status: dict) -> dict:
    """Status metadata, loud when the stage did not run."""
    metadata = {"status": status["status"].upper(), "model": status.get("model") or "-",
                "counts": dg.MetadataValue.json(status.get("counts", {}))}
    if status["status"] != "ok":
        metadata[f"{stage.upper()} NOT RUN"] = status.get("reason") or "no reason given"
    return metadata


@dg.asset(deps=[release_candidates], group_name=GROUP, kinds={"python"})
def language(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """fastText lid.176 on the user turns: language name, ISO code, confidence ("unknown" below threshold)."""
    config, _ = release.load()
    ws = release.workspace(storage, config)
    status = stages.classify(ws, release.stage_settings(), config.required_stages, "language")
    languages = pq.read_table(ws.table("language", "battles"), columns=["language"])["language"]
    rows = sorted(({"language": h["values"], "battles": h["counts"]} for h in languages.value_counts().to_pylist()),
                  key=lambda r: -r["battles"])
    return dg.MaterializeResult(metadata={**_classifier_result("language", status),
                                          "languages": dg.MetadataValue.md(markdown_table(rows[:20]))})


def _classifier_asset(stage: str, upstream: dg.AssetsDefinition, kind: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=stage, deps=[upstream], group_name=GROUP, kinds={kind}, description=description)
    def _asset(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
        config, _ = release.load()
        status = stages.classify(release.workspace(storage, config), release.stage_settings(),
                                 config.required_stages, stage)
        return dg.MaterializeResult(metadata=_classifier_result(stage, status))

    return _asset


moderation = _classifier_asset("moderation", language, "openai",
                               'OpenAI moderation (any compatible endpoint), cached; "not run" without an API key.')
toxicity = _classifier_asset("toxicity", moderation, "pytorch",
                             "Per-turn toxicity scores and a conversation flag (Detoxify, or the offline model).")


@dg.asset(deps=[toxicity], group_name=GROUP, kinds={"python"})
def redacted(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """PII replaced by NAME_1, EMAIL_1, ... consistently within each conversation; failures held back."""
    config, _ = release.load()
    counts = stages.redact(release.workspace(storage, config), release.stage_settings())
    return dg.MaterializeResult(metadata={
        "counts": dg.MetadataValue.md(markdown_table([{"table": k, **v} for k, v in counts.items()])),
        "rows held back (redaction failed)": sum(c["failed"] for c in counts.values()),
    })


@dg.asset(deps=[cleaned_tables], group_name=GROUP, kinds={"python"})
def leaderboard(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """Bradley-Terry ratings with bootstrap intervals over all kept battles; leaderboard models shown."""
    config, _ = release.load()
    result = stages.rate(config, release.workspace(storage, config), release.bootstrap_rounds)
    rows = [{"rank": v["rank"], "model": m, "rating": round(v["rating"], 1),
             "95% CI": f"{v['lower']:.1f} to {v['upper']:.1f}", "battles": v["battles"]}
            for m, v in result["leaderboard"].items()]
    return dg.MaterializeResult(metadata={
        "leaderboard": dg.MetadataValue.md(markdown_table(rows)),
        "battles rated": result["battles_used"],
        **{f"plot: {name}": dg.MetadataValue.md(markdown_image(Path(path), name))
           for name, path in result["plots"].items()},
    })


@dg.asset(deps=[redacted, leaderboard], group_name=GROUP, kinds={"parquet"})
def release_build(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """The public release directory (lmsys schemas, anonymous models, card, manifest) and provider exports."""
    config, salt = release.load()
    ws = release.workspace(storage, config)
    manifest = stages.build(config, salt, ws, storage.logs)
    report = stages.verify(config, ws)
    ws.write_json("verify", "report", [c.__dict__ for c in report.checks])
    tables = manifest["tables"]
    battles = tables.get("battles", {})
    return dg.MaterializeResult(metadata={
        "version": config.version,
        "rows": dg.MetadataValue.json({name: t.get("rows") for name, t in tables.items()}),
        "counts and drop reasons": dg.MetadataValue.md(markdown_table(
            [{"table": name, **{k: json.dumps(v) if isinstance(v, dict) else v for k, v in t["counts"].items()}}
             for name, t in tables.items()])),
        "models (public battles)": dg.MetadataValue.md(_histogram(battles.get("models", {}), "model")),
        "languages (public battles)": dg.MetadataValue.md(_histogram(battles.get("languages", {}), "language")),
        "release dir": dg.MetadataValue.path(str(ws.public_dir)),
        "card": dg.MetadataValue.md((ws.public_dir / "README.md").read_text()[:20000]),
    })


def _histogram(counts: dict[str, int], label: str) -> str:
    rows = sorted(counts.items(), key=lambda kv: -kv[1])[:25]
    return markdown_table([{label: key, "rows": value} for key, value in rows])


def _report_checks(storage: ArenaStorage, release: ReleaseSettings, names: tuple[str, ...]) -> dg.AssetCheckResult:
    config, _ = release.load()
    checks = release.workspace(storage, config).read_json("verify", "report")
    selected = [c for c in checks if c["name"] in names]
    failed = [c for c in selected if c["status"] == "fail"]
    return dg.AssetCheckResult(
        passed=bool(selected) and not failed,
        metadata={c["name"]: f"{c['status'].upper()}: {c['detail']}"[:2000] for c in selected}
        or {"error": f"no verify result for {names}"},
    )


def _blocking_check(name: str, names: tuple[str, ...], description: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=release_build, name=name, blocking=True, description=description)
    def _check(storage: ArenaStorage, release: ReleaseSettings) -> dg.AssetCheckResult:
        return _report_checks(storage, release, names)

    return _check


RELEASE_CHECKS = [
    _blocking_check("pii_leak_scan", ("pii", "canaries", "pii_patterns"),
                    "no planted ground-truth PII, canary value or structured-PII pattern in any public string"),
    _blocking_check("anonymization_leak_scan", ("models", "raw_ips", "names"),
                    "no non-leaderboard model name and no raw IP anywhere public"),
    _blocking_check("schema", ("manifest", "files", "schema", "card"), "lmsys-compatible schemas, files as listed"),
    _blocking_check("public_fraction", ("fraction",), "public share matches the keyed-hash draw"),
    _blocking_check("row_accounting", ("counts", "stages"), "row counts match the manifest; required stages ran"),
]


@dg.asset(deps=[release_build], group_name=GROUP, kinds={"huggingface"})
def published_release(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """One commit and a version tag per repo and target (Hub or local Hub-shaped directory)."""
    config, _ = release.load()
    results = stages.publish(config, release.workspace(storage, config))
    return dg.MaterializeResult(metadata={
        "published": dg.MetadataValue.md(markdown_table(
            [{"repo": r.repo_id, "version": r.version, "changed": r.changed, "url": r.url} for r in results])),
    })


release_job = dg.define_asset_job(
    "arena_release",
    selection=dg.AssetSelection.assets(release_candidates, language, moderation, toxicity, redacted, leaderboard,
                                       release_build,
                                       published_release, cleaned_tables),
    description="Finalize the staged days, then build, check and publish the release of the chosen config.",
    # One process: the stages run in order and each would otherwise re-import the model libraries.
    executor_def=dg.in_process_executor,
)

periodic_release = dg.ScheduleDefinition(
    name="weekly_release", job=release_job, cron_schedule="0 6 * * 1",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

