"""OpenAI moderation through the official `openai` client, with caching and per-row error status.

Texts are deduplicated, looked up in the cache, and the rest sent many per request with bounded
concurrency. The client retries 408/409/429/5xx and timeouts with backoff, honouring `retry-after`.
A row whose request still fails, or whose answer is malformed, gets an "error: ..." status and no
result; it is not cached, so the next run asks again. Without an API key the stage is "not_run":
every row says so, and a release config can make that an error instead (`required`).

Results are kept column-wise (`Moderations`: numpy matrices, not an object per message) and the
response body is parsed with orjson from the client's raw response, so a million-row release spends
its time waiting on the endpoint, not building Python objects.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import openai
import orjson
import pyarrow as pa
from openai.types.moderation import Categories
from pydantic import BaseModel, ConfigDict, Field

from classifiers.cache import ResultCache
from classifiers.status import StageStatus
from pipeline.masking import mask_secrets, secrets_masked

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
    """OpenAI's endpoint takes an array of inputs per request; it documents no fixed item limit, but
    rate limits count requests and tokens, so the defaults stay modest and each deployment tunes them."""

    model_config = ConfigDict(extra="forbid", strict=True)  # never coerced: `true` is not a batch size

    api_key_env: str = "OPENAI_API_KEY"
    base_url: str | None = None  # None: the client's default (OpenAI); any compatible endpoint works
    model: str = "omni-moderation-latest"
    batch_size: int = Field(32, ge=1, le=1024)
    max_concurrency: int = Field(4, ge=1, le=64)
    max_retries: int = Field(5, ge=0)
    timeout_s: float = Field(60.0, gt=0)
    # Answers are committed to the cache together, at most this long after they arrive (a commit costs
    # tens of ms, one per request was most of the stage's time): a killed run asks again for at most
    # this many seconds of answers.
    commit_interval_s: float = Field(0.5, gt=0)
    # All remote calls of the stage together may take this long; after it, the texts not answered yet get
    # an error status (the stage is "partial", says why, and a release requiring moderation drops them).
    # Without it, an endpoint that hangs costs timeout_s x (max_retries + 1) per batch.
    deadline_s: float = Field(1800.0, gt=0)
    required: bool = False  # a release config sets this so a missing key stops the run


class ModerationUnavailable(RuntimeError):
    """Moderation is required by the release config but cannot run."""


class ModerationError(RuntimeError):
    """A moderation call failed in a way no row status can hold; the message has the API key masked."""


DEFAULT_BASE_URL = "https://api.openai.com/v1"  # the openai client's own default


def effective_endpoint(settings: ModerationSettings, environ: Mapping[str, str]) -> str:
    """The endpoint the client really calls: `base_url`, else $OPENAI_BASE_URL (as the client reads it), else
    OpenAI's. Answers depend on it, so the cache key holds it; without credentials, query or trailing '/'."""
    url = urlsplit(settings.base_url or environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
    host = (url.hostname or "") + (f":{url.port}" if url.port else "")
    return urlunsplit((url.scheme, host, url.path, "", "")).rstrip("/")


@dataclass(frozen=True)
class ModerationResult:
    """One row of `Moderations`, for callers that look at a single text."""

    status: str  # "ok", "not_run" or "error: <reason>"
    flagged: bool | None = None
    categories: dict[str, bool | None] | None = None
    category_scores: dict[str, float | None] | None = None
    model: str | None = None  # the model the endpoint says answered

    @property
    def ok(self) -> bool:
        return self.status == OK

    def as_struct(self) -> dict[str, Any] | None:
        """The public `openai_moderation` value; None unless the row was really moderated."""
        if not self.ok:
            return None
        return {"categories": self.categories, "category_scores": self.category_scores, "flagged": self.flagged}


@dataclass(frozen=True)
class Moderations:
    """Moderation results of a sequence of texts, column-wise. Flags are 1.0 / 0.0 and scores floats,
    NaN where the endpoint gave no value; every value of a row whose status is not "ok" is NaN."""

    status: list[str]  # "ok", "not_run" or "error: <reason>"
    flagged: np.ndarray  # (n,)
    categories: np.ndarray  # (n, len(CATEGORY_NAMES))
    category_scores: np.ndarray  # (n, len(CATEGORY_NAMES))
    models: list[str | None]  # the model the endpoint says answered each row

    @classmethod
    def without_values(cls, count: int, status: str) -> Moderations:
        """`count` rows without a result, all with the same status."""
        width = len(CATEGORY_NAMES)
        return cls([status] * count, np.full(count, np.nan), np.full((count, width), np.nan),
                   np.full((count, width), np.nan), [None] * count)

    @classmethod
    def parse(cls, entries: Sequence[Any], models: Sequence[str | None]) -> Moderations:
        """Results from answer entries or cached values (`flagged`, `categories`, `category_scores`);
        a ValueError names the first that is not shaped as the API documents."""
        flags, category_rows, score_rows = [], [], []
        for row, entry in enumerate(entries):
            try:
                flagged, categories, scores = entry["flagged"], entry["categories"], entry["category_scores"]
            except (KeyError, TypeError):
                raise ValueError(f"result {row} lacks flagged, categories or category_scores") from None
            if type(flagged) is not bool or not isinstance(categories, dict) or not isinstance(scores, dict):
                raise ValueError(f"result {row}: flagged must be a boolean, categories and scores objects")
            row_flags = [categories.get(name) for name in CATEGORY_NAMES]
            row_scores = [scores.get(name) for name in CATEGORY_NAMES]
            for name, flag, score in zip(CATEGORY_NAMES, row_flags, row_scores, strict=True):
                if flag is not None and type(flag) is not bool:
                    raise ValueError(f"result {row}: category {name!r} is {flag!r}, not a boolean")
                if score is not None and type(score) not in (float, int):
                    raise ValueError(f"result {row}: score {name!r} is {score!r}, not a number")
            flags.append(flagged)
            category_rows.append(row_flags)
            score_rows.append(row_scores)
        width = len(CATEGORY_NAMES)
        # float arrays turn None (no value) into NaN
        return cls(
            [OK] * len(entries),
            np.array(flags, dtype=np.float64),
            np.array(category_rows, dtype=np.float64).reshape(-1, width),
            np.array(score_rows, dtype=np.float64).reshape(-1, width),
            list(models),
        )

    @classmethod
    def concat(cls, parts: Sequence[Moderations]) -> Moderations:
        if not parts:
            return cls.without_values(0, OK)
        return cls(
            [status for part in parts for status in part.status],
            np.concatenate([part.flagged for part in parts]),
            np.concatenate([part.categories for part in parts]),
            np.concatenate([part.category_scores for part in parts]),
            [model for part in parts for model in part.models],
        )

    def __len__(self) -> int:
        return len(self.status)

    def __getitem__(self, row: int) -> ModerationResult:
        if self.status[row] != OK:
            return ModerationResult(status=self.status[row])
        return ModerationResult(
            status=OK,
            flagged=bool(self.flagged[row]),
            categories=dict(zip(CATEGORY_NAMES, map(_flag, self.categories[row]), strict=True)),
            category_scores=dict(zip(CATEGORY_NAMES, map(_score, self.category_scores[row]), strict=True)),
            model=self.models[row],
        )

    def __iter__(self) -> Iterator[ModerationResult]:
        return (self[row] for row in range(len(self)))

    @property
    def ok(self) -> np.ndarray:
        return np.array([status == OK for status in self.status], dtype=bool)

    def take(self, rows: np.ndarray) -> Moderations:
        return Moderations([self.status[row] for row in rows], self.flagged[rows], self.categories[rows],
                           self.category_scores[rows], [self.models[row] for row in rows])

    def combine(self, rows: np.ndarray, row_count: int) -> Moderations:
        """One result per row over the results whose row is `rows[i]`: flagged if any is, category flags
        OR-ed, scores maxed. A row with any result missing gets the first missing one's status (a partial
        "not flagged" would lie); a row without results gets an error."""
        width = len(CATEGORY_NAMES)
        combined = Moderations.without_values(row_count, OK)
        np.fmax.at(combined.flagged, rows, self.flagged)
        np.fmax.at(combined.categories, rows, self.categories)
        np.fmax.at(combined.category_scores, rows, self.category_scores)
        present, first = np.unique(rows, return_index=True)
        for row, index in zip(present.tolist(), first.tolist(), strict=True):
            combined.models[row] = self.models[index]
        failing = np.flatnonzero(~self.ok)
        failed_rows, first_failure = np.unique(rows[failing], return_index=True)
        missing = np.ones(row_count, dtype=bool)
        missing[present] = False
        for row in np.flatnonzero(missing).tolist():
            combined.status[row] = "error: no text to moderate"
        for row, index in zip(failed_rows.tolist(), failing[first_failure].tolist(), strict=True):
            combined.status[row] = self.status[index]
        unresolved = missing.copy()
        unresolved[failed_rows] = True
        combined.flagged[unresolved] = np.nan
        combined.categories[unresolved] = np.full(width, np.nan)
        combined.category_scores[unresolved] = np.full(width, np.nan)
        for row in np.flatnonzero(unresolved).tolist():
            combined.models[row] = None
        return combined

    def structs(self) -> pa.StructArray:
        """The public `openai_moderation` values, null for every row that was not moderated."""

        def column(values: np.ndarray, kind: pa.DataType) -> pa.Array:
            unknown = np.isnan(values)
            return pa.array(np.where(unknown, 0, values).astype(kind.to_pandas_dtype()), kind, mask=unknown)

        categories = pa.StructArray.from_arrays(
            [column(self.categories[:, index], pa.bool_()) for index in range(len(CATEGORY_NAMES))], CATEGORY_NAMES
        )
        scores = pa.StructArray.from_arrays(
            [column(self.category_scores[:, index], pa.float64()) for index in range(len(CATEGORY_NAMES))],
            CATEGORY_NAMES,
        )
        return pa.StructArray.from_arrays(
            [categories, scores, column(self.flagged, pa.bool_())],
            fields=list(OPENAI_MODERATION),
            mask=pa.array(~self.ok, pa.bool_()),
        )

    def status_array(self) -> pa.StringArray:
        return pa.array(self.status, pa.string())


_Answer = tuple[Moderations, dict[str, dict[str, Any]]]  # one request's results, and what to cache of them


def _flag(value: float) -> bool | None:
    return None if np.isnan(value) else bool(value)


def _score(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


class ModerationTagger:
    def __init__(
        self,
        settings: ModerationSettings | None = None,
        cache: ResultCache | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.settings = settings or ModerationSettings()
        self._cache = cache or ResultCache()
        # What decides an answer: the model and the endpoint serving it (the other settings only shape
        # the requests).
        self.model_identity = f"openai-moderation/{self.settings.model}@{effective_endpoint(self.settings, environ)}"
        self.status = StageStatus(name="moderation", status=OK, model=self.settings.model)
        api_key = environ.get(self.settings.api_key_env)
        self._api_key = api_key
        self._deadline: float | None = None  # monotonic time, set by the first remote call
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
            base_url=self.settings.base_url or environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,
            max_retries=self.settings.max_retries,
            timeout=self.settings.timeout_s,
        )

    def moderate(self, texts: Sequence[str | None]) -> Moderations:
        """One result per text, from the cache or the endpoint; a null text gets an error row. Whatever the
        endpoint echoes, the API key never leaves in a status, a log line or an exception."""
        with secrets_masked([self._api_key], lambda text, _: ModerationError(text)):
            return self._moderate(texts)

    def _moderate(self, texts: Sequence[str | None]) -> Moderations:
        self.status.count("texts", len(texts))
        if self._client is None:
            self.status.count(NOT_RUN, len(texts))
            return Moderations.without_values(len(texts), NOT_RUN)
        unique = [text for text in dict.fromkeys(texts) if text is not None]
        cached = self._cache.lookup(self.model_identity, unique)
        missing = [text for text in unique if text not in cached]
        self.status.count("cached", len(cached))
        self.status.count("requested", len(missing))
        known = Moderations.concat(
            [
                Moderations.parse(list(cached.values()), [value.get("model") for value in cached.values()]),
                self._request_all(missing),
                Moderations.without_values(1, "error: no text"),
            ]
        )
        row_of = {text: row for row, text in enumerate([*cached, *missing])}
        no_text = len(row_of)
        rows = np.fromiter((no_text if text is None else row_of[text] for text in texts), np.int64, len(texts))
        results = known.take(rows)
        ok = results.ok
        self.status.count("flagged", int(np.sum(results.flagged == 1)))
        self.status.mark_errors(int(np.sum(~ok)))
        if self.status.model_version is None and ok.any():
            self.status.model_version = results.models[int(np.argmax(ok))]
        return results

    def _request_all(self, texts: list[str]) -> Moderations:
        """Send `texts` in batches, `max_concurrency` at a time, committing answers to the cache as they
        arrive (grouped: see `commit_interval_s`)."""
        size = self.settings.batch_size
        starts = range(0, len(texts), size)
        answers: dict[int, Moderations] = {}
        if self._deadline is None and texts:
            self._deadline = time.monotonic() + self.settings.deadline_s
        # Not a `with`: leaving it would wait for requests still hanging when the deadline passes.
        pool = ThreadPoolExecutor(max_workers=self.settings.max_concurrency)
        try:
            with self._cache.writer(self.model_identity, self.settings.commit_interval_s) as writer:
                waiting: dict[Future[_Answer], int] = {
                    pool.submit(self._request, texts[start : start + size]): start for start in starts
                } if self._time_left() > 0 else {}
                while waiting and self._time_left() > 0:
                    timeout = min(t for t in (writer.due_in(), self._time_left()) if t is not None)
                    done, _ = wait(waiting, timeout=timeout, return_when=FIRST_COMPLETED)
                    for future in done:
                        answers[waiting.pop(future)], to_cache = future.result()
                        writer.add(to_cache)
                    writer.flush_if_due()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        late = [start for start in starts if start not in answers]
        if late:
            reason = f"deadline of {self.settings.deadline_s:g}s for the stage's remote calls passed"
            log.warning("moderation: %s; %d texts not moderated", reason, sum(len(texts[s:s + size]) for s in late))
            for start in late:
                answers[start] = Moderations.without_values(len(texts[start:start + size]), f"error: {reason}")
            self.status.count("past_deadline", sum(len(texts[s:s + size]) for s in late))
            self.status.status = "partial"
            self.status.reason = f"{reason}: {self.status.counts['past_deadline']} texts not moderated"
        self.status.count("requests", len(starts) - len(late))
        return Moderations.concat([answers[start] for start in starts])

    def _time_left(self) -> float:
        return float("inf") if self._deadline is None else self._deadline - time.monotonic()

    def _request(self, batch: list[str]) -> _Answer:
        """One request through the client (its retries and backoff included); the raw body is parsed here.
        The answer's entries are cached as they came (`Moderations.parse` reads them back)."""
        assert self._client is not None
        try:
            response = self._client.moderations.with_raw_response.create(model=self.settings.model, input=batch)
            payload = orjson.loads(response.content)
            entries = payload["results"]
            if not isinstance(entries, list) or len(entries) != len(batch):
                raise ValueError(f"{len(entries) if isinstance(entries, list) else 'no'} results, {len(batch)} inputs")
            model = payload.get("model")
            model = model if isinstance(model, str) else None
            parsed = Moderations.parse(entries, [model] * len(batch))
        except openai.APIStatusError as error:
            return self._failed(batch, f"HTTP {error.status_code}: {error.message}")  # after any retries
        except openai.APITimeoutError:
            return self._failed(batch, f"timed out after {self.settings.max_retries} retries")
        except openai.APIConnectionError as error:
            return self._failed(batch, f"connection failed after retries: {error}")
        except (ValueError, KeyError, TypeError) as error:  # orjson's decode error is a ValueError
            return self._failed(batch, f"malformed response: {str(error).splitlines()[0]}")
        to_cache = {
            text: {"categories": entry["categories"], "category_scores": entry["category_scores"],
                   "flagged": entry["flagged"], "model": model}
            for text, entry in zip(batch, entries, strict=True)
        }
        return parsed, to_cache

    def _failed(self, batch: list[str], reason: str) -> _Answer:
        reason = mask_secrets(reason, [self._api_key])  # an endpoint may echo the key it was sent
        log.warning("moderation request for %d texts failed: %s", len(batch), reason)
        return Moderations.without_values(len(batch), f"error: {reason}"), {}
