"""Cleaning rules as validated data: rename table, identity words, limits, bans, dedup, judge key.

Defaults live in `pipeline/data/cleaning.yaml`; a deployment overrides them with its own file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import ConfigError
from pipeline.yamlfile import read_yaml_mapping

DEFAULTS_PATH = Path(__file__).parent / "data" / "cleaning.yaml"


class _Strict(BaseModel):
    """Unknown keys are errors and values are never coerced (`true` is not 1); dates may be strings."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ModelRename(_Strict):
    """Rename `from_` to `to` for records logged in [after, before) (UTC dates, both optional)."""

    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)
    after: dt.date | None = Field(default=None, strict=False)
    before: dt.date | None = Field(default=None, strict=False)

    @model_validator(mode="after")
    def _window_is_ordered(self) -> ModelRename:
        if self.after and self.before and self.after >= self.before:
            raise ValueError(f"rename {self.from_!r}: 'after' {self.after} is not before 'before' {self.before}")
        return self

    def applies_at(self, tstamp: float) -> bool:
        if self.after is None and self.before is None:  # most rules: no date to compute, per record
            return True
        day = dt.datetime.fromtimestamp(tstamp, dt.UTC).date()
        return (self.after is None or day >= self.after) and (self.before is None or day < self.before)


class DedupSettings(_Strict):
    prompt_key_chars: int = Field(gt=0)
    quantile: float = Field(gt=0, lt=1)
    seed: int


class CleaningConfig(_Strict):
    identity_words: list[str]
    server_texts: dict[str, list[str]]
    unfinished_marker: str = Field(min_length=1)
    max_user_chars: int = Field(gt=0)
    max_turns: int = Field(gt=0)
    max_line_bytes: int = Field(gt=0)
    model_renames: list[ModelRename]
    excluded_models: list[str]
    banned_ips: list[str]
    banned_judges: list[str]
    dedup: DedupSettings
    judge_key_env: str = Field(min_length=1)

    @field_validator("identity_words")
    @classmethod
    def _lower(cls, words: list[str]) -> list[str]:
        return [w.lower() for w in words if w.strip()]

    @field_validator("server_texts")
    @classmethod
    def _reasons_are_named(cls, texts: dict[str, list[str]]) -> dict[str, list[str]]:
        for reason, needles in texts.items():
            if not reason.isidentifier() or not needles:
                raise ValueError(f"server_texts: reason {reason!r} needs an identifier name and texts")
            # An empty text would match every record; one with a newline could match across two
            # messages, which the rule searches joined by newlines.
            if not all(needles) or any("\n" in needle for needle in needles):
                raise ValueError(f"server_texts: {reason!r} has an empty text or one with a newline")
        return texts

    @cached_property
    def renames_by_name(self) -> dict[str, list[ModelRename]]:
        table: dict[str, list[ModelRename]] = {}
        for rule in self.model_renames:
            table.setdefault(rule.from_, []).append(rule)
        return table

    def rename(self, model: str, tstamp: float) -> str:
        for rule in self.renames_by_name.get(model, ()):
            if rule.applies_at(tstamp):
                return rule.to
        return model


def load_cleaning_config(path: Path | None = None) -> CleaningConfig:
    """Defaults, overlaid key by key with `path` when given."""
    data = read_yaml_mapping(DEFAULTS_PATH)
    if path is not None:
        data.update(read_yaml_mapping(path))
    try:
        return CleaningConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path or DEFAULTS_PATH}: {_describe(err)}") from None


def _describe(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<top>'}: {e['msg']}" for e in err.errors()
    )


class JudgeHasher:
    """judge = HMAC-SHA256(secret, ip): stable per user, not reversible without the secret."""

    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ConfigError("the judge HMAC key must be at least 16 bytes")
        self._key = key

    @property
    def key(self) -> bytes:
        return self._key

    def __call__(self, ip: str) -> str:
        return hmac.new(self._key, ip.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]

    @classmethod
    def from_environment(cls, env_var: str, workdir: Path) -> JudgeHasher:
        """The key from `env_var`; for local runs without it, a random key kept in the workdir."""
        value = os.environ.get(env_var)
        if value:
            return cls(value.encode())
        key_file = Path(workdir) / ".secrets" / "judge_hmac_key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return cls(key_file.read_text().strip().encode())
