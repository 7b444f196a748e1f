"""Release configuration as validated data: what one public release holds and under which policy.

One YAML file per release under `release_configs/` (see `release_configs/example.yaml` for every
key). Every mistake is reported with where and why, before any work: unknown or duplicate keys (with
the allowed ones), values of the wrong type (never coerced: `true` is not a fraction), bad or reversed
dates, a public fraction outside (0, 1], a provider name that is not a slug, a provider without models,
a model listed under two providers, names that collide, a version that names a branch or commit, a
referenced file that does not exist, a leaderboard given twice or not at all. Relative paths are
relative to the file, except a local target's `path` and the verify files, which are relative to the
work directory.

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
import re
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

from pipeline.errors import ConfigError
from pipeline.yamlfile import read_yaml_mapping

STAGES = ("pii", "moderation", "toxicity")
Stage = Literal["pii", "moderation", "toxicity"]
MIN_SALT_BYTES = 16
SALT_FINGERPRINT_MESSAGE = b"arena-release sampling salt fingerprint v1"

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Usable as a git tag and a Hub revision: no spaces, no "..", no leading dot or dash.
_VERSION = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
# Hub repo names: letters, digits, '.', '_', '-', at most 96, no '--' or '..', not starting or ending
# with '.' or '-'.
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_ID = rf"^{_REPO_PART}/{_REPO_PART}$"
HUB_NAME_MAX = 96
# A provider name becomes a directory name and the suffix of a Hub repo name (`<repo>-<provider>`).
PROVIDER_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_PLAIN_KEY = re.compile(r"^[\w.-]+$")
_HEX_REVISION = re.compile(r"^[0-9a-fA-F]{40}$")
# Names a Hub revision already means: a tag named so would be shadowed by, or shadow, a branch.
_RESERVED_VERSIONS = ("main", "master", "head", "refs")


class _Strict(BaseModel):
    """Unknown keys are errors and values are never coerced (`true` is not 1.0, `"5"` is not 5).
    Paths, dates and networks written as YAML strings are the exceptions, marked `_Lax` where used."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


_Lax = Field(strict=False)


class LogWindow(_Strict):
    """Log days released, both ends included (UTC dates, as in the tables' `day` column)."""

    start: dt.date = _Lax
    end: dt.date = _Lax

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
    file: Path | None = Field(default=None, strict=False)

    @model_validator(mode="before")
    @classmethod
    def _read_file(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        has_models, has_file = data.get("models") is not None, data.get("file") is not None
        if has_models == has_file:
            raise ValueError("give exactly one of 'models' (a list) or 'file' (a path)")
        if has_file and not has_models:
            if not isinstance(data["file"], str | Path):
                raise ValueError(f"file: expected a path, got {type(data['file']).__name__}")
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
    path: Path = _Lax

    def directory(self, workdir: Path) -> Path:
        """Where the target lives: a relative `path` is under the work directory (the release's own
        place, wherever the config file sits), an absolute one is used as written."""
        return resolve_path(self.path, workdir)


class HubTarget(_RepoTarget):
    """A Hugging Face Hub dataset repo; the token is read from `token_env` at publish time."""

    kind: Literal["hub"]
    endpoint: str | None = Field(default=None, pattern=r"^https?://")
    token_env: str = Field(default="HF_TOKEN", pattern=_ENV_NAME)


Target = Annotated[LocalTarget | HubTarget, Field(discriminator="kind")]

_S3_URI = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]*)?(\?.*)?$"
MAX_SIGNED_URL_S = 7 * 24 * 3600  # SigV4 presigned URLs live at most 7 days


class HubDelivery(_Strict):
    """A private repo in a namespace the provider controls, written with a token for that namespace
    (the provider's organization adds the publisher's account; nobody else's export lives there)."""

    kind: Literal["hub"]
    repo_id: str = Field(pattern=_REPO_ID)
    token_env: str = Field(pattern=_ENV_NAME)
    endpoint: str | None = Field(default=None, pattern=r"^https?://")

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]


class GatedDelivery(_Strict):
    """A gated repo (in the publisher's namespace): its files are served only to the accounts in `access`,
    which the publisher grants (and any other accepted account is revoked) at every publish."""

    kind: Literal["gated"]
    repo_id: str = Field(pattern=_REPO_ID)
    access: list[str] = Field(min_length=1)
    token_env: str = Field(default="HF_TOKEN", pattern=_ENV_NAME)
    endpoint: str | None = Field(default=None, pattern=r"^https?://")

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]


class ObjectStoreDelivery(_Strict):
    """Objects under `uri` (`s3://bucket/prefix`, written through pyarrow.fs with the publisher's
    credentials); the provider gets time-limited signed URLs, listed in a private delivery note."""

    kind: Literal["s3"]
    uri: str = Field(pattern=_S3_URI)
    url_expiry_s: int = Field(default=MAX_SIGNED_URL_S, ge=60, le=MAX_SIGNED_URL_S)

    @property
    def bucket_prefix(self) -> str:
        """`bucket/prefix/` without the scheme and the query (the endpoint options)."""
        return self.uri.removeprefix("s3://").split("?", 1)[0].rstrip("/") + "/"


Delivery = Annotated[HubDelivery | GatedDelivery | ObjectStoreDelivery, Field(discriminator="kind")]


class Publishing(_Strict):
    """How patiently and in what pieces releases are published."""

    max_rate_limit_wait_s: float = Field(default=3600.0, ge=0)  # the Hub's commit rate limit asks ~1 h
    max_files_per_commit: int = Field(default=100, ge=1)  # the Hub recommends < 100 files per commit
    # How file contents reach the Hub, decided here rather than by what is installed: LFS (tested
    # end to end against tests/hubserver.py) or Xet (huggingface_hub's default when hf_xet is present).
    transfer: Literal["lfs", "xet"] = "lfs"


GatedFieldType = Literal["text", "checkbox", "date_picker", "country"]


class GatedSelect(_Strict):
    """A gated-access field answered by picking one of `options`."""

    type: Literal["select"]
    options: list[str] = Field(min_length=1)


class Gating(_Strict):
    """Terms a person accepts on the Hub before the files are served to them: the public card's
    `extra_gated_prompt`, `extra_gated_fields` (label -> text, checkbox, date_picker, country or a select)
    and `extra_gated_button_content`, and a section of the card that states them. A Hub target's repo is
    gated (automatic approval) before its first file is committed, so that the Hub asks for them."""

    prompt: str = Field(min_length=1)
    fields: dict[str, GatedFieldType | GatedSelect] = {}
    button: str | None = Field(default=None, min_length=1)

    @field_validator("fields")
    @classmethod
    def _labelled(cls, fields: dict[str, Any]) -> dict[str, Any]:
        blank = [label for label in fields if not label.strip()]
        if blank:
            raise ValueError("every gated field needs a label (the question shown to the person)")
        return fields


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
    # Provider exports carry these terms instead of `license` (their header says `license: other`).
    provider_license_name: str = Field(default="arena-provider-early-access", pattern=r"^[a-z0-9][a-z0-9.-]*$")
    provider_terms: str = Field(
        default=(
            "Early access for the named provider's own evaluation of its models only. Do not redistribute, "
            "publish or share this data, or any part of it, before the public release that will contain it; "
            "delete it on request."
        ),
        min_length=1,
    )
    citation: str | None = None  # BibTeX; none: the card cites the repository at the release's tag
    # JSON written by the redaction benchmark: {"measured_on": "...", "figures": {"name": value, ...}}. Unset,
    # the card says loudly that PII recall was not measured for this release (no figure is ever invented).
    pii_evaluation: Path | None = Field(default=None, strict=False)
    # Access terms of the public repo (see Gating); none: the data is downloadable without accepting terms.
    gating: Gating | None = None


# Checks that cannot run without something from outside the release (a file, the private config, the salt).
WaivableCheck = Literal["canaries", "pii", "names", "fraction_ids"]


class VerifySettings(_Strict):
    """What verification checks beyond the release itself, and which checks may be skipped, and why.

    `canary_file` and `pii_ground_truth` are private files the runs themselves may produce (sample logs
    write both), so a relative path is resolved under the work directory, not the config's directory.
    A check whose input is missing fails the publishing gate unless `waivers` names it with a reason.
    """

    canary_file: Path | None = Field(default=None, strict=False)
    pii_ground_truth: Path | None = Field(default=None, strict=False)
    allowed_ip_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = Field(default=[], strict=False)
    waivers: dict[WaivableCheck, str] = {}
    max_residual_pii_fraction: float = Field(default=0.01, ge=0, le=1, strict=True)
    residual_pii_min_rows: int = Field(default=10, ge=0, strict=True)

    @field_validator("waivers")
    @classmethod
    def _reasons(cls, waivers: dict[str, str]) -> dict[str, str]:
        empty = [name for name, reason in waivers.items() if not reason.strip()]
        if empty:
            raise ValueError(f"a waiver needs a reason: {', '.join(empty)}")
        return waivers

    def file(self, path: Path | None, workdir: Path) -> Path | None:
        """A verify file: absolute as written, relative under the work directory."""
        return None if path is None else resolve_path(path, workdir)

    def missing_files(self, workdir: Path) -> list[str]:
        """The verify files that are not there under `workdir`: checked before any data work, once the work
        directory is known (a run that generates sample logs writes both first)."""
        named = {"verify.canary_file": self.canary_file, "verify.pii_ground_truth": self.pii_ground_truth}
        return [f"{key}: {self.file(path, workdir)} is not a file" for key, path in named.items()
                if path is not None and not self.file(path, workdir).is_file()]


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
    deliveries: dict[str, Delivery] = {}
    publishing: Publishing = Publishing()
    # The previous release's manifest.json; by default the one on `main` of the first target's public repo.
    previous_manifest: Path | None = Field(default=None, strict=False)
    card: Card = Card()
    verify: VerifySettings = VerifySettings()
    # The private takedown list (pipeline/takedown.py), applied before every release; never published.
    takedowns: Path | None = Field(default=None, strict=False)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @field_validator("version")
    @classmethod
    def _not_a_revision(cls, version: str | None) -> str | None:
        if version is not None and (version.lower() in _RESERVED_VERSIONS or _HEX_REVISION.match(version)):
            raise ValueError(f"{version!r} would be read as a branch or commit, not a release tag: "
                             "use a release name such as v3 or 2024-06")
        return version

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
            check_provider_name(provider)
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
        problems = self._name_collisions()
        for target in self.targets:
            name = target.repo_id.split("/")[1]
            too_long = [p for p in self.providers if len(f"{name}-{p}") > HUB_NAME_MAX]
            if too_long:
                problems.append(f"target {target.repo_id}: the export repo name {name}-<provider> would be longer "
                                f"than {HUB_NAME_MAX} characters for {', '.join(too_long)}")
        if problems:
            raise ValueError("; ".join(problems))
        if self.sampling_salt.dev_default and any(t.kind == "hub" for t in self.targets):
            raise ValueError(
                "sampling_salt.dev_default is for local example releases only; with a hub target the "
                f"salt must come from the environment variable {self.sampling_salt.env} (remove dev_default)"
            )
        self._check_deliveries()
        return self

    def _check_deliveries(self) -> None:
        """Refuse any setup where one provider could read another's export."""
        unknown = sorted(set(self.deliveries) - set(self.providers))
        if unknown:
            raise ValueError(f"deliveries for {', '.join(unknown)}, which the providers map does not list")
        undelivered = sorted(set(self.providers) - set(self.deliveries))
        if undelivered and any(t.kind == "hub" for t in self.targets):
            raise ValueError(
                f"providers {', '.join(undelivered)} have no delivery: with a hub target their exports would be "
                "private repos in the public repo's namespace, which every member of that organization can read; "
                "give each a delivery (hub in its own namespace, gated with an access list, or s3)")
        deliveries = sorted(self.deliveries.items())
        public_namespaces = {t.repo_id.split("/")[0] for t in self.targets if t.kind == "hub"}
        public_tokens = {t.token_env for t in self.targets if t.kind == "hub"}
        problems = []
        for i, (provider, delivery) in enumerate(deliveries):
            if isinstance(delivery, HubDelivery):
                if delivery.namespace in public_namespaces:
                    problems.append(f"{provider}: {delivery.repo_id} is in the public repo's namespace, whose "
                                    "members can read every private repo in it (use the provider's namespace)")
                if delivery.token_env in public_tokens:
                    problems.append(f"{provider}: token_env {delivery.token_env} is also the public target's token")
            for other, theirs in deliveries[i + 1:]:
                problems += [f"{provider} and {other}: {why}" for why in _shared_access(delivery, theirs)]
        if problems:
            raise ValueError("deliveries let one provider read another's export: " + "; ".join(problems))

    def _name_collisions(self) -> list[str]:
        """Names that mean two things: the anonymous label used as a model, a shown model also blocked."""
        label = self.anonymous_label
        problems = []
        if label in self.leaderboard.models:
            problems.append(f"anonymous_label {label!r} is also a leaderboard model name")
        if label in self.filters.blocked_models:
            problems.append(f"anonymous_label {label!r} is also in filters.blocked_models")
        problems += [f"provider {p!r} lists the anonymous_label {label!r} as a model"
                     for p, models in self.providers.items() if label in models]
        both = sorted(set(self.leaderboard.models) & set(self.filters.blocked_models))
        if both:
            problems.append(f"on the leaderboard and in filters.blocked_models: {', '.join(both)}")
        return problems

    def referenced_files(self) -> dict[str, Path]:
        """Every file the config names, by key, resolved: each must exist before any work starts. (The
        verify files are resolved under the work directory, which runs may fill first: a missing one fails
        its check, and so the publishing gate.)"""
        named = {"leaderboard.file": self.leaderboard.file, "previous_manifest": self.previous_manifest,
                 "takedowns": self.takedowns, "card.pii_evaluation": self.card.pii_evaluation}
        return {key: self.path(path) for key, path in named.items() if path is not None}

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
        data["verify"] = {key: data["verify"][key]
                          for key in ("allowed_ip_networks", "waivers", "max_residual_pii_fraction",
                                      "residual_pii_min_rows")}
        data["targets"] = [t["kind"] for t in data["targets"]]
        data["deliveries"] = {"count": len(self.deliveries)}
        data["takedowns"] = self.takedowns is not None
        return data


def _shared_access(one: Any, two: Any) -> list[str]:
    """Why two providers' deliveries would let either read the other's export (empty: they would not)."""
    why = []
    hub_kinds = (HubDelivery, GatedDelivery)
    if isinstance(one, hub_kinds) and isinstance(two, hub_kinds):
        if one.repo_id == two.repo_id:
            why.append(f"both deliver to {one.repo_id}")
        elif one.namespace == two.namespace and HubDelivery in (type(one), type(two)):
            why.append(f"namespace {one.namespace} is one provider's, and its members could read the other's repo")
        if one.token_env == two.token_env and HubDelivery in (type(one), type(two)):
            why.append(f"both are written with ${one.token_env}: a provider's token must write its namespace only")
        if isinstance(one, GatedDelivery) and isinstance(two, GatedDelivery) and set(one.access) & set(two.access):
            why.append(f"accounts {', '.join(sorted(set(one.access) & set(two.access)))} are granted both repos")
    if isinstance(one, ObjectStoreDelivery) and isinstance(two, ObjectStoreDelivery):
        first, second = sorted((one.bucket_prefix, two.bucket_prefix))
        if second.startswith(first):
            why.append(f"s3://{second} is inside s3://{first}")
    return why


def check_provider_name(provider: str) -> str:
    """A provider name is a directory name and part of a Hub repo name: a lowercase slug, or a ValueError."""
    if not isinstance(provider, str) or not PROVIDER_SLUG.match(provider) or ".." in provider or "--" in provider:
        raise ValueError(
            f"provider name {provider!r} is not a slug: lowercase letters, digits, '.', '_' and '-', 1-64 "
            "characters, starting and ending with a letter or digit, no '..' or '--' (e.g. 'mistral-ai')"
        )
    return provider


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
    missing = [f"{key}: {file} is not a file" for key, file in config.referenced_files().items() if not file.is_file()]
    if missing:
        raise ConfigError(f"{path}: {one_line('; '.join(missing))}")
    return config


def describe_errors(err: ValidationError) -> str:
    """One clause per mistake: `where: what`, naming the allowed keys when a key is unknown."""
    clauses = []
    for error in err.errors():
        loc = [str(p) for p in error["loc"]]
        where = ".".join(p if _PLAIN_KEY.match(p) else repr(p) for p in loc) or "<top>"
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            clauses.append(f"{where}: unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else ""))
        else:
            clauses.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return one_line("; ".join(clauses))


def one_line(text: str) -> str:
    """One line whatever the file holds: a newline inside a name or value is shown escaped."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


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
