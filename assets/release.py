"""Release assets, in order:

    dedup_tags -> release_candidates -> language -> redacted -> moderation -> toxicity -> public_share
    -> anonymized -> release_build (+ leaderboard) -> published_release;  public_share -> provider_exports

The release config is a resource (`release.config`: a config of release_configs/ by name, or
`release.config_file`), so a steward picks it in the launchpad; `release_preflight` checks it, its
keys and its targets before any data work. Blocking checks on `release_build` (PII leaks,
anonymization leaks, schema, fraction, accounting) stop `published_release` from running when any of
them fails. Each asset calls one stage
function of `pipeline.release`, the same ones `arena-release run` materializes.
"""

import json
import urllib.parse
import urllib.request
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assets.ingest import cleaned_tables, dedup_tags
from assets.markdown import card_preview, markdown_image, markdown_table
from assets.preflight import release_preflight
from assets.resources import ArenaStorage, ReleaseSettings, release_executor
from pipeline import release as stages
from pipeline.gate import UnverifiedReleaseError, read_record, record_path
from pipeline.instance import RELEASE_JOB_TAG

GROUP = "release"


@dg.asset(deps=[dedup_tags], group_name=GROUP, kinds={"parquet"})
def release_candidates(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """Battles and conversations of the log window that the keyed-hash draw puts in the public share."""
    with release.stage(storage, reads=["/cleaned"], writes=["candidates"]) as (config, salt, ws):
        counts = stages.select_candidates(config, salt, ws)
    return dg.MaterializeResult(metadata={
        "public fraction": config.public_fraction,
        "counts": dg.MetadataValue.md(markdown_table([{"table": k, **v} for k, v in counts.items()])),
    })


def _classifier_result(stage: str, status: dict, required: list[str], extra: dict | None = None,
                       ) -> dg.MaterializeResult:
    """Status metadata, loud when the stage did not run, and the stage's `ran` check: a WARN on the
    graph when it did not run (an ERROR if the config requires it, which the preflight should have
    caught before any work)."""
    counts = sorted((status.get("counts") or {}).items())
    metadata = {"status": status["status"].upper(), "model": status.get("model") or "-",
                "model version": status.get("model_version") or "-",
                "counts": dg.MetadataValue.md(markdown_table([{"count": k, "value": f"{v:,}"} for k, v in counts]))}
    ran = status["status"] == "ok"
    if not ran:
        metadata[f"{stage.upper()} NOT RUN"] = status.get("reason") or "no reason given"
    check = dg.AssetCheckResult(
        check_name="ran", passed=ran,
        severity=dg.AssetCheckSeverity.ERROR if stage in required else dg.AssetCheckSeverity.WARN,
        metadata={"status": status["status"].upper(), "required": stage in required,
                  "why": status.get("reason") or "-"})
    return dg.MaterializeResult(metadata={**metadata, **(extra or {})}, check_results=[check])


def _ran_check(stage: str) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec("ran", asset=stage, description=f"{stage} ran (WARN when it did not)")]


@dg.asset(deps=[release_candidates], group_name=GROUP, kinds={"python"}, check_specs=_ran_check("language"))
def language(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """fastText lid.176 on the user turns: language name, ISO code, confidence ("unknown" below threshold)."""
    with release.stage(storage, reads=["candidates"], writes=["language"]) as (config, _, ws):
        status = stages.classify(ws, release.stage_settings(), config.required_stages, "language")
        languages = pq.read_table(ws.table("language", "battles"), columns=["language"])["language"]
    rows = sorted(({"language": h["values"], "battles": h["counts"]} for h in languages.value_counts().to_pylist()),
                  key=lambda r: -r["battles"])
    return _classifier_result("language", status, config.required_stages,
                              {"languages": dg.MetadataValue.md(markdown_table(rows[:20]))})


def _classifier_asset(stage: str, upstream: dg.AssetsDefinition, kind: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=stage, deps=[upstream], group_name=GROUP, kinds={kind}, description=description,
              check_specs=_ran_check(stage))
    def _asset(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
        reads, writes = [upstream.key.path[-1], "/cache"], [stage, "/cache"]
        with release.stage(storage, reads=reads, writes=writes) as (config, _, ws):
            status = stages.classify(ws, release.stage_settings(), config.required_stages, stage)
        return _classifier_result(stage, status, config.required_stages)

    return _asset


@dg.asset(deps=[language], group_name=GROUP, kinds={"python"})
def redacted(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """PII replaced by NAME_1, EMAIL_1, ... consistently within each conversation; failures held back.
    Before moderation, so no third-party API sees unredacted text."""
    with release.stage(storage, reads=["language", "/cache"], writes=["redacted", "/cache"]) as (_, _, ws):
        counts = stages.redact(ws, release.stage_settings())
        entities = pa.concat_tables([pq.read_table(ws.table("redacted", f"{name}_audit"), columns=["entity_type"])
                                     for name in counts])["entity_type"]
    return dg.MaterializeResult(metadata={
        "counts": dg.MetadataValue.md(markdown_table([{"table": k, **v} for k, v in counts.items()])),
        "rows held back (redaction failed)": sum(c["failed"] for c in counts.values()),
        "placeholders by entity type": dg.MetadataValue.md(_histogram(_value_counts(entities), "entity type")),
    })


moderation = _classifier_asset("moderation", redacted, "openai",
                               'OpenAI moderation (any compatible endpoint) on redacted text, cached; '
                               '"not run" without an API key.')
toxicity = _classifier_asset("toxicity", moderation, "pytorch",
                             "Per-turn toxicity scores and a conversation flag (Detoxify, or the offline model).")


@dg.asset(deps=[dedup_tags], group_name=GROUP, kinds={"python"})
def leaderboard(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """Bradley-Terry ratings with bootstrap intervals over all kept battles; leaderboard models shown."""
    with release.stage(storage, reads=["/cleaned"], writes=["leaderboard"]) as (config, _, ws):
        result = stages.rate(config, ws, release.bootstrap_rounds)
    rows = [{"rank": v["rank"], "model": m, "rating": round(v["rating"], 1),
             "95% CI": f"{v['lower']:.1f} to {v['upper']:.1f}", "battles": v["battles"]}
            for m, v in result["leaderboard"].items()]
    return dg.MaterializeResult(metadata={
        "leaderboard": dg.MetadataValue.md(markdown_table(rows)),
        "battles rated": result["battles_used"],
        **{f"plot: {name}": dg.MetadataValue.md(markdown_image(Path(path), name))
           for name, path in result["plots"].items()},
    })


@dg.asset(deps=[toxicity], group_name=GROUP, kinds={"parquet"})
def public_share(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """The drawn rows that pass every release filter, each drop counted under its reason. Real model
    names (private): the public release and the provider exports are both made from it."""
    reads = ["/cleaned/accounting.json", "candidates", "language", "redacted", "moderation", "toxicity"]
    if release.load()[0].takedowns is not None:  # resolved over the whole cleaned tables (their ids and judges)
        reads += ["/cleaned/battles.parquet", "/cleaned/conversations.parquet"]
    with release.stage(storage, reads=reads, writes=["share", "clean_strings"]) as (config, salt, ws):
        share = stages.share(config, salt, ws, storage.judge_key(storage.cleaning()), release.stage_settings().workers)
    drops = [{"table": name, "reason": reason, "rows": f"{count:,}"}
             for name, counts in share.counts.items() for reason, count in counts["dropped"].items() if count]
    stage_rows = [{"table": name, "stage": stage, "status": s.status, "model": s.model or "-", "why": s.reason}
                  for name, per in share.stages.items() for stage, s in per.items()]
    return dg.MaterializeResult(metadata={
        "dagster/row_count": sum(counts["public"] for counts in share.counts.values()),
        "rows": dg.MetadataValue.md(markdown_table(
            [{"table": name, **{k: v for k, v in counts.items() if k != "dropped"}}
             for name, counts in share.counts.items()])),
        "drop reasons": dg.MetadataValue.md(markdown_table(drops) if drops else "_nothing dropped_"),
        "stages": dg.MetadataValue.md(markdown_table(stage_rows)),
    })


@dg.asset(deps=[public_share], group_name=GROUP, kinds={"parquet"})
def anonymized(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """The public tables: the share in the lmsys schemas, models that never were on the leaderboard
    labelled anonymous."""
    with release.stage(storage, reads=["share"], writes=["anonymized"]) as (config, _, ws):
        public = stages.anonymize(config, ws)
    metadata: dict[str, object] = {"dagster/row_count": sum(len(t) for t in public.values())}
    for name, table in public.items():
        models = [table[c] for c in ("model", "model_a", "model_b") if c in table.column_names]
        metadata[f"{name}: rows"] = len(table)
        metadata[f"{name}: models"] = dg.MetadataValue.md(
            _histogram(_value_counts(pa.chunked_array([c for m in models for c in m.chunks], pa.string())), "model"))
        metadata[f"{name}: languages"] = dg.MetadataValue.md(_histogram(_value_counts(table["language"]), "language"))
        preview = [c for c in ("question_id", "conversation_id", "model_a", "model_b", "model", "winner", "turn",
                               "language") if c in table.column_names]
        first_rows = table.select(preview).slice(0, 10).to_pylist()
        metadata[f"{name}: preview"] = dg.MetadataValue.md(markdown_table(first_rows))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(deps=[public_share], group_name=GROUP, kinds={"parquet"})
def provider_exports(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """One private release per provider: its models' rows of the public share, opponents anonymous, and
    its own model named only while on the leaderboard."""
    reads, writes = ["share", "clean_strings"], ["providers", "verify/providers", "clean_strings"]
    with release.stage(storage, reads=reads, writes=writes) as (config, _, ws):
        manifests = stages.export_providers(config, ws)
        reports = stages.verify_provider_exports(config, ws, release.stage_settings().workers)
    rows = [{"provider": provider, **{f"{name} rows": t["rows"] for name, t in manifest["tables"].items()},
             "models named": ", ".join(manifest["leaderboard_models"]) or "none",
             "verified": "PASS" if reports[provider].ok else "FAIL"}
            for provider, manifest in manifests.items()]
    return dg.MaterializeResult(metadata={
        "providers": len(manifests),
        "exports": dg.MetadataValue.md(markdown_table(rows)),
    })


@dg.asset(deps=[anonymized, leaderboard], group_name=GROUP, kinds={"parquet"})
def release_build(storage: ArenaStorage, release: ReleaseSettings) -> dg.MaterializeResult:
    """The public release directory: the anonymized tables as Parquet shards, the manifest and the
    dataset card (with the leaderboard); then verified, for the blocking checks below."""
    # clean_strings: the texts the leak scans found clean in this release, shared by its stages (see pipeline.leak_scan)
    reads = ["share", "anonymized", "leaderboard", "clean_strings"]
    writes = ["public", "verify/public", "clean_strings"]
    with release.stage(storage, reads=reads, writes=writes) as (config, _, ws):
        manifest = stages.build(config, ws)
        report = stages.verify(config, ws, release.stage_settings().workers)
        card = card_preview((ws.public_dir / "README.md").read_text(), ws.public_dir)
    tables = manifest["tables"]
    battles = tables.get("battles", {})
    return dg.MaterializeResult(metadata={
        "version": config.version,
        "dagster/row_count": sum(t["rows"] for t in tables.values()),
        "rows": dg.MetadataValue.md(markdown_table([{"table": name, "rows": t["rows"], "files": len(t["files"])}
                                                    for name, t in tables.items()])),
        "counts and drop reasons": dg.MetadataValue.md(markdown_table(
            [{"table": name, **{k: json.dumps(v) if isinstance(v, dict) else v for k, v in t["counts"].items()}}
             for name, t in tables.items()])),
        "models (public battles)": dg.MetadataValue.md(_histogram(battles.get("models", {}), "model")),
        "languages (public battles)": dg.MetadataValue.md(_histogram(battles.get("languages", {}), "language")),
        "verify": dg.MetadataValue.md(markdown_table(
            [{"check": c.name, "status": c.status, "detail": c.detail} for c in report.checks])),
        "release dir": dg.MetadataValue.path(str(ws.public_dir)),
        "content sha256": manifest["content_sha256"],
        "card": dg.MetadataValue.md(card),
    })


def _value_counts(values: pa.ChunkedArray) -> dict[str, int]:
    return {str(h["values"]): h["counts"] for h in pc.value_counts(values).to_pylist()}


def _histogram(counts: dict[str, int], label: str) -> str:
    rows = sorted(counts.items(), key=lambda kv: -kv[1])[:25]
    return markdown_table([{label: key, "rows": value} for key, value in rows])


def _recorded_checks(storage: ArenaStorage, release: ReleaseSettings, name: str) -> list[dict[str, str]]:
    """The checks of the verification record the publishing gate reads (none when never verified)."""
    with release.stage(storage, reads=["verify"]) as (_, _, ws):
        record = read_record(record_path(ws.root, name))
    return record.checks if record else []


def _check_result(checks: list[dict[str, str]], names: tuple[str, ...]) -> dg.AssetCheckResult:
    """Passes only when every named check ran and passed (a waived one shows its reason); a check that is
    missing or did not run fails, as it fails the publishing gate."""
    selected = {c["name"]: c for c in checks if c["name"] in names}
    missing = [n for n in names if n not in selected]
    failed = [c for c in selected.values() if c["status"] not in ("pass", "warn", "waived")]
    metadata = {c["name"]: f"{c['status'].upper()}: {c['detail']}" for c in selected.values()}
    metadata |= {n: "MISSING: this check has no verification result" for n in missing}
    return dg.AssetCheckResult(passed=not failed and not missing, metadata=metadata)


def _blocking_check(name: str, names: tuple[str, ...], description: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=release_build, name=name, blocking=True, description=description)
    def _check(storage: ArenaStorage, release: ReleaseSettings) -> dg.AssetCheckResult:
        return _check_result(_recorded_checks(storage, release, "public"), names)

    return _check


@dg.asset_check(asset=provider_exports, name="provider_export_verification", blocking=True,
                description="each export passed the public release's checks and its own: only its provider's "
                            "rows, marked; opponents anonymous; no other provider's or unreleased model name "
                            "anywhere; provider terms, not a public license")
def provider_export_verification(storage: ArenaStorage, release: ReleaseSettings) -> dg.AssetCheckResult:
    with release.stage(storage, reads=["verify"]) as (config, _, ws):
        records = {p: read_record(record_path(ws.root, f"providers/{p}")) for p in config.providers}
    failures = {p: "; ".join(r.failures) if r else "never verified" for p, r in records.items()
                if r is None or not r.passed}
    return dg.AssetCheckResult(
        passed=not failures,
        metadata={p: f"FAIL: {why}" for p, why in failures.items()}
        | {p: "PASS" for p in records if p not in failures} or {"providers": "none configured"},
    )


RELEASE_CHECKS = [
    _blocking_check("pii_leak_scan", ("pii", "canaries", "pii_patterns"),
                    "no planted ground-truth PII, canary value or structured-PII pattern in any public string"),
    _blocking_check("anonymization_leak_scan", ("models", "raw_ips", "names"),
                    "no non-leaderboard model name and no raw IP anywhere public"),
    _blocking_check("schema", ("manifest", "files", "schema", "card"), "lmsys-compatible schemas, files as listed"),
    _blocking_check("public_fraction", ("fraction", "fraction_ids"), "public share matches the keyed-hash draw"),
    _blocking_check("row_accounting", ("counts", "stages"), "row counts match the manifest; required stages ran"),
    provider_export_verification,
]


@dg.asset(deps=[release_build, provider_exports], group_name=GROUP, kinds={"huggingface"})
def published_release(context: dg.AssetExecutionContext, storage: ArenaStorage,
                      release: ReleaseSettings) -> dg.MaterializeResult:
    """One commit and a version tag per repo and target (Hub or local Hub-shaped directory)."""
    with release.stage(storage, reads=["public", "providers", "verify"], writes=["delivery"]) as (config, _, ws):
        try:
            results = stages.publish(config, ws)
        except UnverifiedReleaseError as refused:
            raise dg.Failure(description=f"Not published: {refused}", allow_retries=False) from None
    public = [r for r in results if r.repo_id in {t.repo_id for t in config.targets}]
    context.instance.add_run_tags(context.run.run_id, {"arena/published": " ".join(r.url for r in public)})
    return dg.MaterializeResult(metadata={
        "published": dg.MetadataValue.md(markdown_table(
            [{"repo": r.repo_id, "tag": r.version, "commit": r.commit, "changed": r.changed, "url": r.url}
             for r in results])),
        **{f"{r.repo_id} @ {r.version}": _location(r.url) for r in public},
        **{f"{r.repo_id} commit": r.commit for r in public},
    })


def _location(url: str) -> dg.MetadataValue:
    """A local target's file URL as a path, a Hub URL as a link."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return dg.MetadataValue.path(urllib.request.url2pathname(parsed.path))
    return dg.MetadataValue.url(url)


# In materialization order (the order `arena-release run` shows them).
RELEASE_ASSETS = [release_preflight, release_candidates, language, redacted, moderation, toxicity, public_share,
                  anonymized, provider_exports, leaderboard, release_build, published_release]

release_job = dg.define_asset_job(
    "arena_release",
    selection=dg.AssetSelection.assets(cleaned_tables, dedup_tags, *RELEASE_ASSETS),
    description="Finalize the staged days, then build, check and publish the release of the chosen config.",
    executor_def=release_executor(),
    tags={RELEASE_JOB_TAG: "release"},  # dagster.yaml's run queue runs one release at a time (pipeline/instance.py)
)

periodic_release = dg.ScheduleDefinition(
    name="weekly_release", job=release_job, cron_schedule="0 6 * * 1",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

