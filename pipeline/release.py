"""A release, stage by stage. Each stage reads the previous stage's Parquet and writes its own, so
Dagster can show and re-run them one at a time and the CLI runs the same functions in order.

    cleaned tables -> candidates (log window, public share) -> language -> moderation -> toxicity
    -> redacted (PII) -> leaderboard (all kept battles) -> public release + provider
    exports (filters, anonymous models, card, manifest) -> verified -> published

The public share is drawn before the model stages, so the slow and paid stages only see rows that
can be published; the draw depends on each id and the salt alone, so drawing early changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from classifiers.cache import ResultCache
from classifiers.language import LanguageDetector
from classifiers.moderation import ModerationTagger
from classifiers.tagging import Classifiers, tag_battles, tag_conversations
from classifiers.toxicity import ToxicityScorer
from pipeline import policy
from pipeline.publish import HubTarget, LocalTarget, PublishResult, publish_release
from pipeline.rating_plots import write_plots
from pipeline.ratings import LeaderboardOptions, compute_leaderboard
from pipeline.release_build import build_release
from pipeline.release_config import ReleaseConfig, Salt
from pipeline.stage_settings import StageSettings
from pipeline.verify import VerifyReport, options_from_config, verify_release
from redaction.table import TableRedactor

# table -> (conversation columns, id column)
TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "battles": (("conversation_a", "conversation_b"), "question_id"),
    "conversations": (("conversation",), "conversation_id"),
}


@dataclass(frozen=True)
class ReleaseWorkspace:
    """Where one release's intermediate tables live: `<workdir>/releases/<version>/<stage>/`."""

    workdir: Path
    version: str

    @property
    def root(self) -> Path:
        return self.workdir / "releases" / self.version

    @property
    def cleaned_dir(self) -> Path:
        return self.workdir / "cleaned"

    @property
    def cache_dir(self) -> Path:
        return self.workdir / "cache"

    @property
    def public_dir(self) -> Path:
        return self.root / "public"

    @property
    def provider_dir(self) -> Path:
        return self.root / "providers"

    @property
    def leaderboard_dir(self) -> Path:
        return self.root / "leaderboard"

    def table(self, stage: str, name: str) -> Path:
        return self.root / stage / f"{name}.parquet"

    def read(self, stage: str, name: str) -> pa.Table:
        return pq.read_table(self.table(stage, name))

    def write(self, stage: str, name: str, table: pa.Table) -> None:
        path = self.table(stage, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)

    def write_json(self, stage: str, name: str, data: Any) -> None:
        path = self.root / stage / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, default=str))

    def read_json(self, stage: str, name: str) -> Any:
        return json.loads((self.root / stage / f"{name}.json").read_text())


def select_candidates(config: ReleaseConfig, salt: Salt, ws: ReleaseWorkspace) -> dict[str, dict[str, int]]:
    """Rows in the log window that the keyed-hash draw puts in the public share."""
    battles = pq.read_table(ws.cleaned_dir / "battles.parquet")
    sources = {"battles": battles, "conversations": pq.read_table(ws.cleaned_dir / "conversations.parquet")}
    counts = {}
    for name, table in sources.items():
        drawn, counts[name] = policy.draw_public_share(table, policy.TABLE_KINDS[name], config.log_window,
                                                       salt.key, config.public_fraction, battles=battles)
        ws.write("candidates", name, drawn)
    ws.write_json("candidates", "counts", counts)
    return counts


CLASSIFIER_STAGES = ("language", "moderation", "toxicity")  # in order; each reads the previous one's output


def classify(ws: ReleaseWorkspace, settings: StageSettings, required: list[str], stage: str) -> dict[str, Any]:
    """One classifier stage over both tables; results cached by content hash and model identity."""
    source = "candidates" if stage == CLASSIFIER_STAGES[0] else CLASSIFIER_STAGES[CLASSIFIER_STAGES.index(stage) - 1]
    if stage == "language":
        classifiers = Classifiers(language=LanguageDetector(settings.language))
    else:
        cache = ResultCache(ws.cache_dir / f"{stage}.duckdb")
        if stage == "moderation":
            moderation = settings.moderation.model_copy(update={"required": "moderation" in required})
            classifiers = Classifiers(moderation=ModerationTagger(moderation, cache=cache))
        else:
            classifiers = Classifiers(toxicity=ToxicityScorer(settings.toxicity, cache=cache))
    ws.write(stage, "battles", tag_battles(ws.read(source, "battles"), classifiers))
    ws.write(stage, "conversations", tag_conversations(ws.read(source, "conversations"), classifiers))
    [status] = classifiers.statuses()
    ws.write_json(stage, "status", status.to_dict())
    return status.to_dict()


def stage_statuses(ws: ReleaseWorkspace) -> dict[str, dict[str, Any]]:
    return {stage: ws.read_json(stage, "status") for stage in CLASSIFIER_STAGES}


def redact(ws: ReleaseWorkspace, settings: StageSettings) -> dict[str, dict[str, int]]:
    """PII replaced by consistent placeholders; rows whose redaction failed are held back, with why."""
    counts = {}
    with TableRedactor(settings.redaction(), workers=settings.workers,
                       cache_path=ws.cache_dir / "redaction.duckdb") as redactor:
        for name, (columns, id_column) in TABLES.items():
            output = redactor.redact(ws.read(CLASSIFIER_STAGES[-1], name), list(columns), id_column)
            ws.write("redacted", name, output.table)
            ws.write("redacted", f"{name}_audit", output.audit)
            ws.write("redacted", f"{name}_failures", output.failures)
            counts[name] = {"rows": len(output.table), "redacted": pc.sum(output.table["redacted"]).as_py() or 0,
                            "failed": len(output.failures), "spans": len(output.audit)}
    ws.write_json("redacted", "counts", counts)
    return counts


def rate(config: ReleaseConfig, ws: ReleaseWorkspace, bootstrap_rounds: int = 1000) -> dict[str, Any]:
    """Ratings from every kept battle in the window; published rows name leaderboard models only."""
    battles = policy.select_window(pq.read_table(ws.cleaned_dir / "battles.parquet"), config.log_window)
    leaderboard = compute_leaderboard(battles, LeaderboardOptions(bootstrap_rounds=bootstrap_rounds))
    published = leaderboard.restricted_to(set(config.leaderboard_models))
    ws.leaderboard_dir.mkdir(parents=True, exist_ok=True)
    table = published.to_json_dict()
    (ws.leaderboard_dir / "leaderboard.json").write_text(json.dumps(table, indent=2))
    plots = write_plots(published, ws.leaderboard_dir)
    return {"leaderboard": table, "plots": {name: str(path) for name, path in plots.items()},
            "battles_used": published.battles_used}


def build(config: ReleaseConfig, salt: Salt, ws: ReleaseWorkspace, logs_dir: Path) -> dict[str, Any]:
    """The public release directory and one private export per provider."""
    statuses = stage_statuses(ws)
    reports = {name: policy.StageStatus(status=s["status"] if s["status"] == "ok" else "not_run",
                                        reason=s.get("reason"), model=s.get("model"),
                                        version=s.get("model_version"))
               for name, s in statuses.items() if name in ("moderation", "toxicity")}
    reports["pii"] = policy.StageStatus("ok", model="presidio")
    inputs = sorted(p for p in Path(logs_dir).rglob("*-conv.json*") if p.is_file())
    return build_release(
        config, salt, ws.public_dir, ws.read("redacted", "battles"), ws.read("redacted", "conversations"),
        drawn_counts=ws.read_json("candidates", "counts"), stage_reports=reports, input_files=inputs,
        input_root=Path(logs_dir), provider_dir=ws.provider_dir, leaderboard_dir=ws.leaderboard_dir,
    )


def verify(config: ReleaseConfig, ws: ReleaseWorkspace) -> VerifyReport:
    return verify_release(ws.public_dir, options_from_config(config))


def publish(config: ReleaseConfig, ws: ReleaseWorkspace) -> list[PublishResult]:
    """One commit and one tag per repo and target: the public release, then each provider's, private."""
    results = []
    for spec in config.targets:
        target = (LocalTarget(config.path(spec.path)) if spec.kind == "local"
                  else HubTarget(endpoint=spec.endpoint, token_env=spec.token_env))
        results.append(publish_release(ws.public_dir, spec.repo_id, config.version, target, spec.private))
        for provider_dir in sorted(p for p in ws.provider_dir.glob("*") if p.is_dir()):
            repo_id = f"{spec.repo_id}-{provider_dir.name}"
            results.append(publish_release(provider_dir, repo_id, config.version, target, private=True))
    return results


