"""Per-text toxicity scores from Detoxify (production) or alt-profanity-check (offline).

Detoxify takes an official model name (weights fetched from its GitHub release, or torch's hub cache)
or a local checkpoint (an official .ckpt or one trained here). Either way the transformers config and
tokenizer come from the Hugging Face Hub unless `huggingface_config_path` names a local directory
with them (e.g. bert-base-uncased's config.json and vocab.txt for "original"), which keeps the stage
offline (HF_HUB_OFFLINE=1). A model that cannot be loaded leaves the stage "not_run" with the reason
and every text unscored, never default scores. alt-profanity-check
ships a trained linear model inside its wheel, so a machine that can download nothing still gets
real scores; its single score is reported under the label "toxicity". The stage status names the
model that scored the data. Results are cached by text and model identity, committed by the parent
process as batches are scored (grouped, at most `commit_interval_s` apart), so a killed run resumes.

With `workers` > 1, a large batch of new texts is spread over that many spawned processes, each
loading the model once (CPU only: on a CUDA device one process keeps the GPU busy).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from classifiers.cache import ResultCache
from classifiers.status import StageStatus
from classifiers.workers import LazyWorkerPool

log = logging.getLogger(__name__)

Scores = dict[str, float]
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model")
PARALLEL_MIN_TEXTS = 2_000  # below this, handing texts to other processes costs more than it saves
BATCHES_PER_TASK = 8  # batches a worker scores per task: enough to amortise the hand-over, small enough to stream


class ToxicitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # never coerced: `true` is not a threshold

    backend: Literal["detoxify", "profanity-check"] = "profanity-check"
    model_type: str = "original"  # an official Detoxify name, or the type of `checkpoint`
    checkpoint: Path | None = Field(None, strict=False)
    huggingface_config_path: Path | None = Field(None, strict=False)
    device: str = "auto"  # "auto": CUDA when present, else CPU
    # None: 64 for Detoxify (similar lengths keep padding short), 2048 for profanity-check (whose
    # scikit-learn pipeline spends milliseconds validating each call, whatever its size).
    batch_size: int | None = Field(None, ge=1)
    # Detoxify's tokenizer truncates to 512 tokens; cutting characters first bounds tokenizing cost.
    max_chars: int = Field(4000, gt=0)
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    flag_label: str = "toxicity"
    workers: int = Field(1, ge=1, le=64)  # processes for batches of at least PARALLEL_MIN_TEXTS new texts
    commit_interval_s: float = Field(2.0, gt=0)  # a killed run scores again at most this long a stretch

    @model_validator(mode="after")
    def _check_backend_options(self) -> ToxicitySettings:
        if self.backend != "detoxify" and (self.checkpoint or self.huggingface_config_path):
            raise ValueError("checkpoint and huggingface_config_path only apply to the detoxify backend")
        if self.batch_size is None:
            self.batch_size = 64 if self.backend == "detoxify" else 2048
        return self


class ToxicityModelUnavailable(RuntimeError):
    """The configured toxicity model cannot be loaded here."""


class _Backend(Protocol):
    labels: list[str]
    model: str  # what scored the data, for the manifest
    version: str  # identity of the exact weights, part of the cache key
    on_gpu: bool

    def predict(self, texts: list[str]) -> list[list[float]]: ...


class _DetoxifyBackend:
    def __init__(self, settings: ToxicitySettings) -> None:
        import torch
        from detoxify import Detoxify
        from detoxify.detoxify import MODEL_URLS

        device = settings.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if settings.checkpoint is None:
            if settings.model_type not in MODEL_URLS:
                raise ValueError(f"unknown Detoxify model {settings.model_type!r}; known: {sorted(MODEL_URLS)}")
            self.version = Path(MODEL_URLS[settings.model_type]).name
        else:
            if not settings.checkpoint.is_file():
                raise ToxicityModelUnavailable(f"Detoxify checkpoint {settings.checkpoint} does not exist")
            self.version = f"checkpoint sha256:{_file_sha256(settings.checkpoint)}"
        checkpoint: str | io.BytesIO | None = str(settings.checkpoint) if settings.checkpoint else None
        if settings.huggingface_config_path is not None:
            checkpoint = _with_local_config(settings, MODEL_URLS)
        try:
            self._detoxify = Detoxify(settings.model_type, checkpoint=checkpoint, device=device)
        except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as error:
            # URLError, Hub errors and missing files are OSErrors; a file that is no Detoxify checkpoint
            # fails in torch.load (RuntimeError, UnpicklingError) or Detoxify's own check (ValueError).
            raise ToxicityModelUnavailable(
                f"cannot load Detoxify {settings.checkpoint or settings.model_type} ({error}); give a local "
                "checkpoint and huggingface_config_path, or use the profanity-check backend"
            ) from error
        self.labels = list(self._detoxify.class_names)
        self.on_gpu = device.startswith("cuda")
        self.model = f"detoxify {settings.model_type} (detoxify {metadata.version('detoxify')}, {device})"

    def predict(self, texts: list[str]) -> list[list[float]]:
        by_label = self._detoxify.predict(texts)
        if len(texts) == 1:  # Detoxify squeezes a batch of one to scalars
            by_label = {label: [value] for label, value in by_label.items()}
        return [list(row) for row in zip(*(by_label[label] for label in self.labels), strict=True)]


def _with_local_config(settings: ToxicitySettings, model_urls: dict[str, str]) -> io.BytesIO:
    """The checkpoint (or official weights), its transformers config and tokenizer pointed at the local
    `huggingface_config_path`, for Detoxify to load as it loads any checkpoint.

    Detoxify 0.5.x reads the config class from the checkpoint's own `model_type` (a Hub name such as
    "bert-base-uncased" in the official ones) even when given `huggingface_config_path`, and then
    takes the label count from that directory's config; naming the directory as the model type keeps
    everything local and lets Detoxify set the label count from the checkpoint as usual.
    """
    import torch

    config_dir = settings.huggingface_config_path
    assert config_dir is not None
    missing = [name for name in ("config.json",) if not (config_dir / name).is_file()]
    if not any((config_dir / name).is_file() for name in TOKENIZER_FILES):
        missing.append(f"a tokenizer file ({', '.join(TOKENIZER_FILES)})")
    if missing:
        raise ToxicityModelUnavailable(f"huggingface_config_path {config_dir} lacks {' and '.join(missing)}")
    try:
        if settings.checkpoint is not None:
            loaded = torch.load(settings.checkpoint, map_location="cpu", weights_only=False)
        else:
            url = model_urls[settings.model_type]
            loaded = torch.hub.load_state_dict_from_url(url, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, pickle.UnpicklingError) as error:
        source = settings.checkpoint or settings.model_type
        raise ToxicityModelUnavailable(f"cannot read Detoxify weights {source} ({error})") from error
    try:
        loaded["config"]["arch"]["args"]["model_type"] = str(config_dir)
    except (KeyError, TypeError) as error:
        raise ToxicityModelUnavailable(
            f"{settings.checkpoint or settings.model_type} is not a Detoxify checkpoint (no config.arch.args)"
        ) from error
    buffer = io.BytesIO()
    torch.save(loaded, buffer)
    buffer.seek(0)
    return buffer


class _ProfanityCheckBackend:
    labels = ["toxicity"]
    on_gpu = False

    def __init__(self) -> None:
        import profanity_check

        self._predict_prob = profanity_check.predict_prob
        self.version = f"alt-profanity-check {metadata.version('alt-profanity-check')}"
        self.model = f"{self.version} (linear model shipped in the wheel)"

    def predict(self, texts: list[str]) -> list[list[float]]:
        return [[float(probability)] for probability in self._predict_prob(texts)]


def _load_backend(settings: ToxicitySettings) -> _Backend:
    return _DetoxifyBackend(settings) if settings.backend == "detoxify" else _ProfanityCheckBackend()


_worker_backend: _Backend | None = None
_worker_batch_size = 0


def _start_worker(settings: ToxicitySettings) -> None:
    """Load the model once per worker process; torch's threads are shared out between the workers."""
    global _worker_backend, _worker_batch_size
    if settings.backend == "detoxify":
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // settings.workers))
    _worker_backend, _worker_batch_size = _load_backend(settings), settings.batch_size


def _score_in_worker(texts: list[str]) -> list[list[float]]:
    assert _worker_backend is not None, "worker process started without _start_worker"
    batches = (texts[start : start + _worker_batch_size] for start in range(0, len(texts), _worker_batch_size))
    return [row for batch in batches for row in _worker_backend.predict(batch)]


class ToxicityScorer:
    """Scores texts with the configured model; a model that cannot be loaded makes the stage "not_run"
    (with the reason, logged as an error) and leaves every text unscored."""

    def __init__(self, settings: ToxicitySettings | None = None, cache: ResultCache | None = None) -> None:
        self.settings = settings or ToxicitySettings()
        self._cache = cache or ResultCache()
        self._backend: _Backend | None = None
        self._pool = LazyWorkerPool(self.settings.workers, _start_worker, (self.settings,))
        try:
            self._backend = _load_backend(self.settings)
        except ToxicityModelUnavailable as error:
            log.error("toxicity stage not run: %s", error)
            self.model_identity = ""
            self.status = StageStatus(name="toxicity", status="not_run", reason=str(error), model=self._wanted_model())
            return
        if self.settings.flag_label not in self._backend.labels:
            raise ValueError(f"flag_label {self.settings.flag_label!r} is not one of {self._backend.labels}")
        self.model_identity = f"toxicity/{self._backend.version}/max_chars={self.settings.max_chars}"
        self.status = StageStatus(
            name="toxicity", status="ok", model=self._backend.model, model_version=self._backend.version
        )

    @property
    def labels(self) -> list[str]:
        return self._backend.labels if self._backend is not None else [self.settings.flag_label]

    def score(self, texts: Sequence[str | None]) -> list[Scores | None]:
        """Scores per text (None for a null text, or for every text when the model is not loaded), from
        the cache or the model."""
        self.status.count("texts", len(texts))
        if self._backend is None:
            self.status.count("not_scored", sum(1 for text in texts if text is not None))
            return [None] * len(texts)
        unique = [text for text in dict.fromkeys(texts) if text is not None]
        found: dict[str, Scores] = self._cache.lookup(self.model_identity, unique)
        # Similar lengths in a batch keep Detoxify's padding short.
        missing = sorted((text for text in unique if text not in found), key=len)
        with self._cache.writer(self.model_identity, self.settings.commit_interval_s) as writer:
            for batch, rows in self._predicted(missing):
                scored = {text: dict(zip(self.labels, row, strict=True)) for text, row in zip(batch, rows, strict=True)}
                writer.add(scored)
                found.update(scored)
        results = [found[text] if text is not None else None for text in texts]
        self.status.count("cached", len(unique) - len(missing))
        self.status.count("scored", len(missing))
        self.status.count("toxic", sum(1 for scores in results if scores is not None and self.is_toxic(scores)))
        return results

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        self._pool.close()

    def _predicted(self, texts: list[str]) -> Iterator[tuple[list[str], list[list[float]]]]:
        """(texts, their label scores), task by task, in order: here, or in the worker processes when
        there are enough texts and more than one worker would help."""
        assert self._backend is not None
        clipped = [text[: self.settings.max_chars] for text in texts]
        if self.settings.workers == 1 or len(texts) < PARALLEL_MIN_TEXTS or self._backend.on_gpu:
            for start in range(0, len(texts), self.settings.batch_size):
                end = start + self.settings.batch_size
                yield texts[start:end], self._backend.predict(clipped[start:end])
            return
        # A few tasks per worker even out the load; each is at most BATCHES_PER_TASK batches, to stream.
        task = min(self.settings.batch_size * BATCHES_PER_TASK, -(-len(texts) // (self.settings.workers * 4)))
        starts = range(0, len(texts), task)
        answers = self._pool.map(_score_in_worker, [clipped[start : start + task] for start in starts])
        for start, rows in zip(starts, answers, strict=True):
            yield texts[start : start + task], rows

    def _wanted_model(self) -> str:
        if self.settings.backend != "detoxify":
            return self.settings.backend
        where = f" ({self.settings.checkpoint})" if self.settings.checkpoint else ""
        return f"detoxify {self.settings.model_type}{where}"

    def is_toxic(self, scores: Scores) -> bool:
        return scores[self.settings.flag_label] >= self.settings.threshold


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
