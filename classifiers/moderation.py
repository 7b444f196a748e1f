"""OpenAI moderation through the official `openai` client, with caching and per-row error status.

Texts are deduplicated, looked up in the cache, and the rest sent many per request with bounded
concurrency. The client retries 408/409/429/5xx and timeouts with backoff, honouring `retry-after`.
A row whose request still fails, or whose answer is malformed, gets an "error: ..." status and no
result; it is not cached, so the next run asks again. Without an API key the stage is "not_run":
every row says so, and a release config can make that an error instead (`required`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import openai
import pyarrow as pa
from openai.types.moderation import Categories
from pydantic import BaseModel, ConfigDict, Field

from classifiers.cache import ResultCache
from classifiers.status import StageStatus

log = logging.getLogger(__name__)

# The wire names the installed client knows ("harassment/threatening", ...): the public struct's fields.
CATEGORY_NAMES = [field.alias or name for name, field in Categories.model_fields.items()]
OPENAI_MODERATION = pa.struct(
    [
        ("categories", pa.struct([(name, pa.bool_()) for name in CATEGORY_NAMES])),
        ("category_scores", pa.struct([(name, pa.float64()) for name in CATEGORY_NAMES])),
        ("flagged", pa.bool_()),
    ]
)
OK = "ok"
NOT_RUN = "not_run"


class ModerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key_env: str = "OPENAI_API_KEY"
    base_url: str | None = None  # None: the client's default (OpenAI); any compatible endpoint works
    model: str = "omni-moderation-latest"
    batch_size: int = Field(32, ge=1)
    max_concurrency: int = Field(4, ge=1)
    max_retries: int = Field(5, ge=0)
    timeout_s: float = Field(60.0, gt=0)
    required: bool = False  # a release config sets this so a missing key stops the run


class ModerationUnavailable(RuntimeError):
    """Moderation is required by the release config but cannot run."""


@dataclass(frozen=True)
class ModerationResult:
    status: str  # "ok", "not_run" or "error: <reason>"
    flagged: bool | None = None
    categories: dict[str, bool | None] | None = None
    category_scores: dict[str, float | None] | None = None
    model: str | None = None  # the model the endpoint says answered

    @property
    def ok(self) -> bool:
        return self.status == OK

    @classmethod
    def error(cls, reason: str) -> ModerationResult:
        return cls(status=f"error: {reason}")

    def as_struct(self) -> dict[str, Any] | None:
        """The public `openai_moderation` value; None unless the row was really moderated."""
        if not self.ok:
            return None
        return {
            "categories": self.categories,
            "category_scores": self.category_scores,
            "flagged": self.flagged,
        }

    def cache_value(self) -> dict[str, Any]:
        return {**(self.as_struct() or {}), "model": self.model}

    @classmethod
    def from_cache(cls, value: Mapping[str, Any]) -> ModerationResult:
        return cls(
            status=OK,
            flagged=value["flagged"],
            categories=value["categories"],
            category_scores=value["category_scores"],
            model=value["model"],
        )


class _WireResult(BaseModel):
    """One entry of `results` as the API documents it; anything else is a malformed answer."""

    model_config = ConfigDict(strict=True)

    flagged: bool
    categories: dict[str, bool | None]
    category_scores: dict[str, float]


def combine(results: Sequence[ModerationResult]) -> ModerationResult:
    """One result for several texts: flagged if any is, category flags OR-ed, scores maxed.

    If any text has no result the combination has none either: a partial "not flagged" would lie.
    """
    if not results:
        return ModerationResult.error("no text to moderate")
    for result in results:
        if not result.ok:
            return result
    categories: dict[str, bool | None] = {}
    scores: dict[str, float | None] = {}
    for name in CATEGORY_NAMES:
        flags = [result.categories.get(name) for result in results if result.categories is not None]
        values = [result.category_scores.get(name) for result in results if result.category_scores is not None]
        known_flags = [flag for flag in flags if flag is not None]
        known_values = [value for value in values if value is not None]
        categories[name] = any(known_flags) if known_flags else None
        scores[name] = max(known_values) if known_values else None
    return ModerationResult(
        status=OK,
        flagged=any(result.flagged for result in results),
        categories=categories,
        category_scores=scores,
        model=results[0].model,
    )


class ModerationTagger:
    def __init__(
        self,
        settings: ModerationSettings | None = None,
        cache: ResultCache | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.settings = settings or ModerationSettings()
        self._cache = cache or ResultCache()
        endpoint = self.settings.base_url or "default-openai-endpoint"
        self.model_identity = f"openai-moderation/{self.settings.model}@{endpoint}"
        self.status = StageStatus(name="moderation", status=OK, model=self.settings.model)
        api_key = environ.get(self.settings.api_key_env)
        self._client: openai.OpenAI | None = None
        if not api_key:
            reason = f"moderation not run: environment variable {self.settings.api_key_env} is not set"
            if self.settings.required:
                raise ModerationUnavailable(f"{reason}, and the release config requires moderation")
            log.warning(reason)
            self.status.status = NOT_RUN
            self.status.reason = reason
            return
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=self.settings.base_url,
            max_retries=self.settings.max_retries,
            timeout=self.settings.timeout_s,
        )

    def moderate(self, texts: Sequence[str | None]) -> list[ModerationResult]:
        self.status.count("texts", len(texts))
        if self._client is None:
            self.status.count(NOT_RUN, len(texts))
            return [ModerationResult(status=NOT_RUN)] * len(texts)
        unique = [text for text in dict.fromkeys(texts) if text is not None]
        found = {
            text: ModerationResult.from_cache(value)
            for text, value in self._cache.lookup(self.model_identity, unique).items()
        }
        missing = [text for text in unique if text not in found]
        self.status.count("cached", len(unique) - len(missing))
        self.status.count("requested", len(missing))
        found.update(self._request_all(missing))
        results = [found[text] if text is not None else ModerationResult.error("no text") for text in texts]
        self.status.count("flagged", sum(1 for result in results if result.flagged))
        self.status.mark_errors(sum(1 for result in results if not result.ok))
        if self.status.model_version is None:
            self.status.model_version = next((result.model for result in results if result.ok), None)
        return results

    def _request_all(self, texts: list[str]) -> dict[str, ModerationResult]:
        """Send `texts` in batches, caching each batch as its answer arrives."""
        size = self.settings.batch_size
        batches = [texts[start : start + size] for start in range(0, len(texts), size)]
        results: dict[str, ModerationResult] = {}
        with ThreadPoolExecutor(max_workers=self.settings.max_concurrency) as pool:
            for future in as_completed([pool.submit(self._request, batch) for batch in batches]):
                answered = future.result()
                self._cache.store(
                    self.model_identity,
                    {text: result.cache_value() for text, result in answered.items() if result.ok},
                )
                results.update(answered)
        self.status.count("requests", len(batches))
        return results

    def _request(self, batch: list[str]) -> dict[str, ModerationResult]:
        assert self._client is not None
        try:
            response = self._client.moderations.create(model=self.settings.model, input=batch)
            payload = response.to_dict()
            entries = [_WireResult.model_validate(entry) for entry in payload["results"]]
            if len(entries) != len(batch):
                raise ValueError(f"{len(entries)} results for {len(batch)} inputs")
        except openai.APIStatusError as error:
            return self._failed(batch, f"HTTP {error.status_code}: {error.message}")  # after any retries
        except openai.APITimeoutError:
            return self._failed(batch, f"timed out after {self.settings.max_retries} retries")
        except openai.APIConnectionError as error:
            return self._failed(batch, f"connection failed after retries: {error}")
        except (ValueError, KeyError, TypeError) as error:  # JSON and pydantic errors are ValueErrors
            return self._failed(batch, f"malformed response: {str(error).splitlines()[0]}")
        model = payload.get("model")
        return {
            text: ModerationResult(
                status=OK,
                flagged=entry.flagged,
                categories={name: entry.categories.get(name) for name in CATEGORY_NAMES},
                category_scores={name: entry.category_scores.get(name) for name in CATEGORY_NAMES},
                model=model,
            )
            for text, entry in zip(batch, entries, strict=True)
        }

    def _failed(self, batch: list[str], reason: str) -> dict[str, ModerationResult]:
        log.warning("moderation request for %d texts failed: %s", len(batch), reason)
        return {text: ModerationResult.error(reason) for text in batch}
