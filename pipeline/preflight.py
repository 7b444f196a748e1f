"""Before any data work: can this release run to the end as configured?

A release that needs a secret nobody set, or a target that cannot be written, should fail in seconds
with a plain reason, not after redaction has run for minutes. `preflight` checks, without touching
any data: the sampling salt, every key the config's required stages and targets need, the model
files a required stage loads, and that each target answers (a local directory that can be written,
a Hub endpoint that accepts the token). Every problem is reported at once, each with how to fix it.
`arena-release run` and the Dagster `release_preflight` asset both call it first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.cleaning_config import CleaningConfig
from pipeline.errors import ConfigError, ReleaseBlocked
from pipeline.release_config import HubTarget, LocalTarget, ReleaseConfig, resolve_salt
from pipeline.stage_settings import StageSettings

HUB_TIMEOUT_S = 10.0
ENVIRONMENT_HINT = "in the environment of `dagster dev` (or `arena-release run`)"


@dataclass(frozen=True)
class Problem:
    """Something that would stop the release later: what is wrong, and how to fix it."""

    what: str
    fix: str


@dataclass
class PreflightReport:
    """What was checked (for the run's metadata) and what is wrong."""

    version: str
    checked: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def ok(self, name: str, detail: str) -> None:
        self.checked[name] = detail

    def fail(self, name: str, what: str, fix: str) -> None:
        self.checked[name] = f"MISSING: {what}"
        self.problems.append(Problem(what, fix))

    def message(self) -> str:
        """One paragraph: every problem and its fix, numbered."""
        items = " ".join(f"({i}) {p.what}: {p.fix}." for i, p in enumerate(self.problems, start=1))
        return (f"Release {self.version} cannot start, nothing was built: {len(self.problems)} "
                f"problem{'s' if len(self.problems) > 1 else ''} found before any data work. {items}")

    def raise_if_failed(self) -> None:
        if self.problems:
            raise ReleaseBlocked(self.message())


def preflight(config: ReleaseConfig, stages: StageSettings, cleaning: CleaningConfig, workdir: Path,
              environ: Mapping[str, str] = os.environ, verify_inputs: bool = True) -> PreflightReport:
    """Every check, none of them reading data; the report lists each problem found. `verify_inputs`: the
    verify files must be there already (not before a run that writes them with its sample logs)."""
    report = PreflightReport(config.version)
    _check_salt(report, config, environ)
    if verify_inputs:
        missing = config.verify.missing_files(workdir)
        if missing:
            report.fail("verify files", "; ".join(missing),
                        "put them there (relative verify paths are under the work directory), or set the key "
                        "to null and waive its check under verify.waivers with a reason")
        else:
            report.ok("verify files", "present")
    _check_stages(report, config, stages, environ)
    _check_judge_key(report, config, cleaning, environ)
    for index, target in enumerate(config.targets):
        name = f"target {index + 1} ({target.kind} {target.repo_id})"
        if isinstance(target, LocalTarget):
            _check_local_target(report, name, target.directory(workdir))
        else:
            _check_hub_target(report, name, target, environ)
    for provider, delivery in sorted(config.deliveries.items()):
        token_env = getattr(delivery, "token_env", None)  # hub and gated deliveries write with a token
        if token_env and not environ.get(token_env):
            report.fail(f"delivery {provider}", f"{provider}'s export is written with {token_env}, which is not set",
                        f"set {token_env} to a Hub write token for {delivery.repo_id} {ENVIRONMENT_HINT}")
        elif token_env:
            report.ok(f"delivery {provider}", f"${token_env} is set")
    return report


def _check_salt(report: PreflightReport, config: ReleaseConfig, environ: Mapping[str, str]) -> None:
    env = config.sampling_salt.env
    try:
        salt = resolve_salt(config, environ)
    except ConfigError as err:
        report.fail("sampling salt", str(err).removeprefix("sampling salt: "),
                    f"set {env} to the release's secret sampling salt (at least 16 bytes, the same for every "
                    f"release) {ENVIRONMENT_HINT}")
        return
    report.ok("sampling salt", f"from {salt.source}")


def _check_stages(report: PreflightReport, config: ReleaseConfig, stages: StageSettings,
                  environ: Mapping[str, str]) -> None:
    required = config.required_stages
    if "pii" in required:
        try:
            stages.redaction()
            report.ok("pii", "redaction settings load")
        except ConfigError as err:
            report.fail("pii", f"the redaction settings do not load ({err})",
                        "fix the redaction_file named in the stage settings")
    if "moderation" in required:
        key_env = stages.moderation.api_key_env
        if environ.get(key_env):
            report.ok("moderation", f"${key_env} is set")
        else:
            report.fail("moderation", f"the config requires moderation but {key_env} is not set",
                        f"set {key_env} to an OpenAI API key {ENVIRONMENT_HINT}, or remove moderation from "
                        "required_stages")
    if "toxicity" in required:
        settings = stages.toxicity
        missing = [f"{label} {path}" for label, path, exists in (
            ("checkpoint", settings.checkpoint, settings.checkpoint and settings.checkpoint.is_file()),
            ("huggingface_config_path", settings.huggingface_config_path,
             settings.huggingface_config_path and settings.huggingface_config_path.is_dir()),
        ) if path is not None and not exists]
        if missing:
            report.fail("toxicity", f"the config requires toxicity but the Detoxify {' and '.join(missing)} "
                        "does not exist", "put the model files there or point the stage settings "
                        "(ARENA_STAGES_FILE) at where they are")
        else:
            report.ok("toxicity", f"{settings.backend} backend")


def _check_judge_key(report: PreflightReport, config: ReleaseConfig, cleaning: CleaningConfig,
                     environ: Mapping[str, str]) -> None:
    """A release leaving the machine needs the judge key that every release uses: a random local key
    would give this release's judge hashes no link to the previous ones."""
    env = cleaning.judge_key_env
    if environ.get(env):
        report.ok("judge key", f"${env} is set")
    elif all(isinstance(t, LocalTarget) for t in config.targets):
        report.ok("judge key", "local key of the work directory (local targets only)")
    else:
        report.fail("judge key", f"the config publishes to the Hub but {env} is not set",
                    f"set {env} to the judge HMAC key shared by every release {ENVIRONMENT_HINT}")


def _check_local_target(report: PreflightReport, name: str, directory: Path) -> None:
    existing = next(p for p in (directory, *directory.parents) if p.exists())
    if existing.is_dir() and os.access(existing, os.W_OK | os.X_OK):
        report.ok(name, f"{directory} is writable")
    else:
        report.fail(name, f"{directory} cannot be written ({existing} is not a writable directory)",
                    "give the target a path this user can write (relative paths are under the work directory)")


def _check_hub_target(report: PreflightReport, name: str, target: HubTarget, environ: Mapping[str, str]) -> None:
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import RepositoryNotFoundError

    token = environ.get(target.token_env, "").strip()
    if not token:
        report.fail(name, f"{target.token_env} is not set",
                    f"set {target.token_env} to a Hub write token for {target.repo_id} {ENVIRONMENT_HINT}")
        return
    endpoint = target.endpoint or constants.ENDPOINT  # as publishing resolves it (HF_ENDPOINT)
    try:
        HfApi(endpoint=endpoint, token=token).dataset_info(target.repo_id, timeout=HUB_TIMEOUT_S)
    except RepositoryNotFoundError:
        pass  # the first release creates it
    except Exception as err:  # unreachable, refused token, server error: all stop a publish later
        text = f"{type(err).__name__}: {err}".replace(token, "***").splitlines()[0]
        report.fail(name, f"the Hub at {endpoint} did not answer for {target.repo_id} ({text})",
                    f"check the endpoint and that {target.token_env} holds a valid token")
        return
    report.ok(name, f"{endpoint} answers")
