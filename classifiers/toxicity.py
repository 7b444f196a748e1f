"""Per-text toxicity scores from Detoxify (production) or alt-profanity-check (offline).

Detoxify takes an official model name (weights fetched from its GitHub release, so only where that
is reachable) or a local checkpoint with its Hugging Face config directory. alt-profanity-check
ships a trained linear model inside its wheel, so a machine that can download nothing still gets
real scores; its single score is reported under the label "toxicity". The stage status names the
model that scored the data. Results are cached by text and model identity; each batch is committed
as soon as it is scored.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from classifiers.cache import ResultCache
from classifiers.status import StageStatus

log = logging.getLogger(__name__)

Scores = dict[str, float]


class ToxicitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["detoxify", "profanity-check"] = "profanity-check"
    model_type: str = "original"  # an official Detoxify name, or the type of `checkpoint`
    checkpoint: Path | None = None
    huggingface_config_path: Path | None = None
    device: str = "auto"  # "auto": CUDA when present, else CPU
    batch_size: int = Field(64, ge=1)
    # Detoxify's tokenizer truncates to 512 tokens; cutting characters first bounds tokenizing cost.
    max_chars: int = Field(4000, gt=0)
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    flag_label: str = "toxicity"

    @model_validator(mode="after")
    def _check_backend_options(self) -> ToxicitySettings:
        if self.backend != "detoxify" and (self.checkpoint or self.huggingface_config_path):
            raise ValueError("checkpoint and huggingface_config_path only apply to the detoxify backend")
        if self.huggingface_config_path and not self.checkpoint:
            raise ValueError("huggingface_config_path needs a checkpoint")
        for path in (self.checkpoint, self.huggingface_config_path):
            if path is not None and not path.exists():
                raise ValueError(f"{path} does not exist")
        return self


class ToxicityModelUnavailable(RuntimeError):
    """The configured toxicity model cannot be loaded here."""


class _Backend(Protocol):
    labels: list[str]
    model: str  # what scored the data, for the manifest
    version: str  # identity of the exact weights, part of the cache key

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
            self.version = f"checkpoint sha256:{_file_sha256(settings.checkpoint)}"
        try:
            self._detoxify = Detoxify(
                settings.model_type,
                checkpoint=str(settings.checkpoint) if settings.checkpoint else None,
                device=device,
                huggingface_config_path=(
                    str(settings.huggingface_config_path) if settings.huggingface_config_path else None
                ),
            )
        except OSError as error:  # URLError, Hub errors and missing files are all OSErrors
            raise ToxicityModelUnavailable(
                f"cannot load Detoxify {settings.model_type!r} ({error}); give a local checkpoint with its "
                "huggingface_config_path, or use the profanity-check backend"
            ) from error
        self.labels = list(self._detoxify.class_names)
        self.model = f"detoxify {settings.model_type} (detoxify {metadata.version('detoxify')}, {device})"

    def predict(self, texts: list[str]) -> list[list[float]]:
        by_label = self._detoxify.predict(texts)
        if len(texts) == 1:  # Detoxify squeezes a batch of one to scalars
            by_label = {label: [value] for label, value in by_label.items()}
        return [list(row) for row in zip(*(by_label[label] for label in self.labels), strict=True)]


class _ProfanityCheckBackend:
    labels = ["toxicity"]

    def __init__(self) -> None:
        import profanity_check

        self._predict_prob = profanity_check.predict_prob
        self.version = f"alt-profanity-check {metadata.version('alt-profanity-check')}"
        self.model = f"{self.version} (linear model shipped in the wheel)"

    def predict(self, texts: list[str]) -> list[list[float]]:
        return [[float(probability)] for probability in self._predict_prob(texts)]


class ToxicityScorer:
    def __init__(self, settings: ToxicitySettings | None = None, cache: ResultCache | None = None) -> None:
        self.settings = settings or ToxicitySettings()
        self._backend: _Backend = (
            _DetoxifyBackend(self.settings) if self.settings.backend == "detoxify" else _ProfanityCheckBackend()
        )
        if self.settings.flag_label not in self._backend.labels:
            raise ValueError(f"flag_label {self.settings.flag_label!r} is not one of {self._backend.labels}")
        self._cache = cache or ResultCache()
        self.model_identity = f"toxicity/{self._backend.version}/max_chars={self.settings.max_chars}"
        self.status = StageStatus(
            name="toxicity", status="ok", model=self._backend.model, model_version=self._backend.version
        )

    @property
    def labels(self) -> list[str]:
        return self._backend.labels

    def score(self, texts: Sequence[str | None]) -> list[Scores | None]:
        """Scores per text (None for a null text), from the cache or the model."""
        unique = [text for text in dict.fromkeys(texts) if text is not None]
        found: dict[str, Scores] = self._cache.lookup(self.model_identity, unique)
        # Similar lengths in a batch keep Detoxify's padding short.
        missing = sorted((text for text in unique if text not in found), key=len)
        for start in range(0, len(missing), self.settings.batch_size):
            batch = missing[start : start + self.settings.batch_size]
            rows = self._backend.predict([text[: self.settings.max_chars] for text in batch])
            scored = {text: dict(zip(self.labels, row, strict=True)) for text, row in zip(batch, rows, strict=True)}
            self._cache.store(self.model_identity, scored)
            found.update(scored)
        results = [found[text] if text is not None else None for text in texts]
        self.status.count("texts", len(texts))
        self.status.count("cached", len(unique) - len(missing))
        self.status.count("scored", len(missing))
        self.status.count("toxic", sum(1 for scores in results if scores is not None and self.is_toxic(scores)))
        return results

    def is_toxic(self, scores: Scores) -> bool:
        return scores[self.settings.flag_label] >= self.settings.threshold


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
