"""Release configuration as validated data: what one public release holds and under which policy.

One YAML file per release under `release_configs/` (see `release_configs/example.yaml` for every
key). Every mistake is reported with where and why: unknown keys (with the allowed ones), bad or
reversed dates, a public fraction outside (0, 1], a provider without models, a model listed under
two providers, a leaderboard given twice or not at all. Relative paths are relative to the file.

The sampling salt is never written in the file: the config names the environment variable holding
it. Only a local example may also carry a `dev_default`, used (and recorded as such) when the
variable is unset; a config with a Hub target refuses one.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline.cleaning_config import ConfigError, read_yaml_mapping

STAGES = ("pii", "moderation", "toxicity")
Stage = Literal["pii", "moderation", "toxicity"]
MIN_SALT_BYTES = 16
SALT_FINGERPRINT_MESSAGE = b"arena-release sampling salt fingerprint v1"

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Usable as a git tag and a Hub revision: no spaces, no "..", no leading dot or dash.
_VERSION = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_REPO_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogWindow(_Strict):
    """Log days released, both ends included (UTC dates, as in the tables' `day` column)."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> LogWindow:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Leaderboard(_Strict):
    """Models on the leaderboard: listed inline (`models`) or read from `file`, never both.

    `file` is a text file (one name a line, `#` comments), a JSON list (of names, or of objects with
    a "model" key) or a CSV with a `model` column. Its names are read at load time, so the config
    hash covers the file's content.
    """

    models: list[str]
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _read_file(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        has_models, has_file = data.get("models") is not None, data.get("file") is not None
        if has_models == has_file:
            raise ValueError("give exactly one of 'models' (a list) or 'file' (a path)")
        if has_file and not has_models:
            path = resolve_path(Path(data["file"]), (info.context or {}).get("base_dir"))
            data = {**data, "models": _read_model_list(path)}
        return data

    @field_validator("models")
    @classmethod
    def _names(cls, models: list[str]) -> list[str]:
        cleaned = [m.strip() for m in models]
        if not cleaned:
            raise ValueError("the leaderboard lists no models")
        if any(not m for m in cleaned):
            raise ValueError("empty model name")
        duplicates = sorted({m for m in cleaned if cleaned.count(m) > 1})
        if duplicates:
            raise ValueError(f"listed more than once: {', '.join(duplicates)}")
        return cleaned


class SamplingSalt(_Strict):
    """Where the HMAC key of the public sample comes from. The value itself never sits here."""

    env: str = Field(pattern=_ENV_NAME)
    dev_default: str | None = Field(default=None, min_length=MIN_SALT_BYTES)


class TooShort(_Strict):
    """FastChat: at most `max_messages` messages and every prompt shorter than `min_prompt_chars`."""

    max_messages: int = Field(default=2, ge=1)
    min_prompt_chars: int = Field(default=16, ge=1)


class FrequentPrompts(_Strict):
    """FastChat: drop conversations whose prompts are all among the `top` most frequent ones.

    A prompt also needs `min_count` rows to count as frequent, so a small release does not lose
    ordinary prompts that merely tie at the top with a count of one or two.
    """

    top: int = Field(default=10, ge=1)
    min_count: int = Field(default=10, ge=2)


class Filters(_Strict):
    """FastChat's release filters for the 33K set (REFERENCE §2); every drop is counted by reason."""

    drop_moderation_flagged: bool = True
    too_short: TooShort | None = TooShort()
    too_frequent: FrequentPrompts | None = FrequentPrompts()
    leftover_markers: list[str] = ["<anonymized>", "<redacted>"]
    blocked_words: list[str] = []
    blocked_models: list[str] = []

    @field_validator("leftover_markers", "blocked_words")
    @classmethod
    def _lowercase_non_empty(cls, words: list[str]) -> list[str]:
        if any(not w.strip() for w in words):
            raise ValueError("empty entry")
        return [w.lower() for w in words]


class _RepoTarget(_Strict):
    """A dataset repo named `repo_id` (owner/name); one commit and one tag (the version) per release."""

    repo_id: str = Field(pattern=_REPO_ID)
    private: bool = False


class LocalTarget(_RepoTarget):
    """A directory laid out like the Hub (see pipeline/publish.py), for local and offline releases."""

    kind: Literal["local"]
    path: Path


class HubTarget(_RepoTarget):
    """A Hugging Face Hub dataset repo; the token is read from `token_env` at publish time."""

    kind: Literal["hub"]
    endpoint: str | None = Field(default=None, pattern=r"^https?://")
    token_env: str = Field(default="HF_TOKEN", pattern=_ENV_NAME)


Target = Annotated[LocalTarget | HubTarget, Field(discriminator="kind")]


class Card(_Strict):
    """Dataset card text that is not computed from the data."""

    title: str = "Chatbot Arena conversations"
    license: str = "cc-by-4.0"
    summary: str = (
        "Crowd-sourced pairwise human preferences between chatbot answers, collected in the arena, "
        "with the conversations they judged."
    )
    collection: str = (
        "Users chat with two anonymous models side by side (or one named model) on the arena website and "
        "vote for the better answer. Before using the site they accept its terms of use, which say that "
        "their conversations and votes may be released publicly for research."
    )
    contact: str | None = None
    citation: str | None = None  # BibTeX; none: the card cites the repository at the release's tag
    # JSON written by the redaction benchmark: {"measured_on": "...", "figures": {"name": value, ...}}. Unset,
    # the card says loudly that PII recall was not measured for this release (no figure is ever invented).
    pii_evaluation: Path | None = None


class VerifySettings(_Strict):
    """What `arena-release verify` checks beyond the release itself."""

    canary_file: Path | None = None
    pii_ground_truth: Path | None = None
    allowed_ip_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []


class ReleaseConfig(_Strict):
    # The release's tag. Usually given at launch (`arena-release run --version`, the launchpad's
    # `release.version`); else this default; else the last day of the log window.
    version: str | None = Field(default=None, pattern=_VERSION)
    log_window: LogWindow
    leaderboard: Leaderboard
    providers: dict[str, list[str]] = {}
    public_fraction: float = 0.2
    sampling_salt: SamplingSalt
    anonymous_label: str = Field(default="anonymous", min_length=1)
    required_stages: list[Stage] = list(STAGES)
    filters: Filters = Filters()
    targets: list[Target] = Field(min_length=1)
    # The previous release's manifest.json; by default the one on `main` of the first target's public repo.
    previous_manifest: Path | None = None
    card: Card = Card()
    verify: VerifySettings = VerifySettings()
    # The private takedown list (pipeline/takedown.py), applied before every release; never published.
    takedowns: Path | None = None

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @field_validator("public_fraction")
    @classmethod
    def _fraction(cls, fraction: float) -> float:
        if not 0 < fraction <= 1:
            raise ValueError(f"must be in (0, 1], got {fraction}")
        return fraction

    @field_validator("providers")
    @classmethod
    def _providers(cls, providers: dict[str, list[str]]) -> dict[str, list[str]]:
        owner: dict[str, str] = {}
        for provider, models in providers.items():
            if not provider.strip():
                raise ValueError("empty provider name")
            if not models:
                raise ValueError(f"provider {provider!r} lists no models")
            for model in models:
                if not model.strip():
                    raise ValueError(f"provider {provider!r}: empty model name")
                if owner.get(model, provider) != provider:
                    raise ValueError(f"model {model!r} is under both {owner[model]!r} and {provider!r}")
                owner[model] = provider
        return providers

    @field_validator("required_stages")
    @classmethod
    def _unique_stages(cls, stages: list[str]) -> list[str]:
        return sorted(set(stages), key=STAGES.index)

    @model_validator(mode="after")
    def _consistent(self) -> ReleaseConfig:
        if self.anonymous_label in self.leaderboard.models:
            raise ValueError(f"anonymous_label {self.anonymous_label!r} is also a leaderboard model name")
        if self.sampling_salt.dev_default and any(t.kind == "hub" for t in self.targets):
            raise ValueError(
                "sampling_salt.dev_default is for local example releases only; with a hub target the "
                f"salt must come from the environment variable {self.sampling_salt.env} (remove dev_default)"
            )
        return self

    @property
    def leaderboard_models(self) -> list[str]:
        return self.leaderboard.models

    def path(self, path: Path) -> Path:
        """A path from this config, resolved against the directory of the config file."""
        return resolve_path(path, self._base_dir)

    def public_view(self) -> dict[str, Any]:
        """The config as a public manifest shows it: no provider map, blocked names or words, salt
        default or local paths. Those may name unreleased models or hold private terms; the manifest
        gives their counts and the config hash covers them.
        """
        data = self.model_dump(mode="json")
        data["providers"] = {"count": len(self.providers)}
        data["sampling_salt"]["dev_default"] = self.sampling_salt.dev_default is not None
        local_paths = ((data["leaderboard"], "file"), (data, "previous_manifest"), (data["card"], "pii_evaluation"))
        for owner, key in local_paths:
            owner[key] = owner[key] and Path(owner[key]).name
        filters = data["filters"]
        for key in ("blocked_models", "blocked_words"):
            filters[key] = {"count": len(filters[key])}
        data["verify"] = {"allowed_ip_networks": data["verify"]["allowed_ip_networks"]}
        data["targets"] = [t["kind"] for t in data["targets"]]
        data["takedowns"] = self.takedowns is not None
        return data


def resolve_path(path: Path, base_dir: Path | None) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() or base_dir is None else Path(base_dir) / path


def _read_model_list(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"cannot read leaderboard file {path}: {err.strerror or err}") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"leaderboard file {path} is not valid JSON: {err}") from None
        if not isinstance(items, list):
            raise ValueError(f"leaderboard file {path}: expected a JSON list")
        names = [item.get("model") if isinstance(item, dict) else item for item in items]
        if not all(isinstance(n, str) for n in names):
            raise ValueError(f"leaderboard file {path}: every entry must be a name or have a string 'model'")
        return names
    if suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        if not rows or "model" not in rows[0]:
            raise ValueError(f"leaderboard file {path}: expected a CSV with a 'model' column and rows")
        return [row["model"] for row in rows]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def load_release_config(path: Path, version: str | None = None) -> ReleaseConfig:
    """Read and validate one release config, its version the one given at launch (else the file's, else
    the window's last day); raises ConfigError saying where and what is wrong."""
    path = Path(path)
    data = read_yaml_mapping(path)
    if version is not None:
        data = {**data, "version": version}
    base_dir = path.resolve().parent
    try:
        config = ReleaseConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as err:
        raise ConfigError(f"{path}: {describe_errors(err)}") from None
    if config.version is None:
        config = config.model_copy(update={"version": config.log_window.end.isoformat()})
    config._base_dir = base_dir
    return config


def describe_errors(err: ValidationError) -> str:
    """One clause per mistake: `where: what`, naming the allowed keys when a key is unknown."""
    clauses = []
    for error in err.errors():
        loc = [str(p) for p in error["loc"]]
        where = ".".join(loc) or "<top>"
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            clauses.append(f"{where}: unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else ""))
        else:
            clauses.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(clauses)


def _allowed_keys(loc: list[str]) -> list[str] | None:
    """The keys of the mapping at `loc`, following fields, list indexes and `kind` tags."""
    candidates: list[type[BaseModel]] = [ReleaseConfig]
    for part in loc:
        tagged = [m for m in candidates if _kind_tag(m) == part]
        if tagged:
            candidates = tagged
        elif not part.isdigit():
            fields = [m.model_fields[part] for m in candidates if part in m.model_fields]
            if not fields:
                return None
            candidates = _models_in(fields[0].annotation)
    return list(candidates[0].model_fields) if len(candidates) == 1 else None


def _kind_tag(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    return get_args(field.annotation)[0] if field else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def config_hash(config: ReleaseConfig) -> str:
    """sha256 of the canonical JSON of the whole config (leaderboard file contents included)."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Salt:
    """The sampling key and where it came from; `fingerprint` identifies it without revealing it."""

    key: bytes
    source: str
    env: str

    @property
    def is_dev(self) -> bool:
        return self.source == "dev_default"

    @property
    def fingerprint(self) -> str:
        return hmac.new(self.key, SALT_FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]

    def describe(self) -> dict[str, str]:
        return {"env": self.env, "source": self.source, "fingerprint": self.fingerprint}


JUDGE_KEY_FINGERPRINT_MESSAGE = b"arena-release judge key fingerprint v1"


def judge_key_fingerprint(key: bytes) -> str:
    """Identifies the judge HMAC key without revealing it: two releases with the same one match."""
    return hmac.new(key, JUDGE_KEY_FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]


def require_shared_judge_key(config: ReleaseConfig, key_env: str, environ: Mapping[str, str] = os.environ) -> None:
    """A release to a non-local target needs the judge key from the environment, as it needs the salt:
    a work directory's own random key gives every voter a different `judge` id in every environment."""
    remote = sorted({t.kind for t in config.targets if t.kind != "local"})
    if remote and not environ.get(key_env):
        raise ConfigError(
            f"${key_env} is not set: a release to a {'/'.join(remote)} target needs the judge key from the "
            "environment (the same in every environment and every release), not a work directory's own key"
        )


def resolve_salt(config: ReleaseConfig, environ: Mapping[str, str] = os.environ) -> Salt:
    """The salt from the named environment variable, else the config's dev default, else an error."""
    spec = config.sampling_salt
    value = environ.get(spec.env)
    if value:
        if len(value.encode()) < MIN_SALT_BYTES:
            raise ConfigError(f"sampling salt in ${spec.env} must be at least {MIN_SALT_BYTES} bytes")
        return Salt(value.encode(), f"env:{spec.env}", spec.env)
    if spec.dev_default:
        return Salt(spec.dev_default.encode(), "dev_default", spec.env)
    raise ConfigError(
        f"sampling salt: environment variable {spec.env} is not set and the config has no dev_default"
    )
