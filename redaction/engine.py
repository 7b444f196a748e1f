"""Finding PII in chat texts and redacting a group of texts with shared placeholders.

`TextAnalyzer` runs Presidio (the project's recognizers over the prose-NER engine) on batches of texts
and cleans the raw hits: allow-listed spans go, PERSON hits that are not name-shaped go, overlaps are
merged so no fragment of a value survives. `Redactor` turns one group's detections into placeholder
text (see placeholders.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import regex
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_anonymizer import AnonymizerEngine
from spacy.lang.en.stop_words import STOP_WORDS

from redaction.nlp import LANGUAGE, ProseNerNlpEngine
from redaction.placeholders import redact_with_placeholders
from redaction.recognizers import build_recognizers
from redaction.settings import RedactionSettings
from redaction.spans import Detection, RedactionResult, merge_overlaps


class TextAnalyzer:
    """Presidio analysis of texts in batches, returning cleaned detections per text."""

    def __init__(self, settings: RedactionSettings) -> None:
        self.settings = settings
        self.nlp_engine = ProseNerNlpEngine(settings.ner)
        self.nlp_engine.load()
        registry = RecognizerRegistry(recognizers=build_recognizers(settings), supported_languages=[LANGUAGE])
        self.analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=self.nlp_engine,
            supported_languages=[LANGUAGE],
            default_score_threshold=settings.score_threshold,
        )
        self.cleaner = SpanCleaner(settings)

    def analyze(self, texts: Sequence[str]) -> list[list[Detection]]:
        entities = list(self.settings.entities)
        detections = []
        for text, artifacts in self.nlp_engine.process_batch(texts, LANGUAGE):
            results = self.analyzer.analyze(
                text,
                LANGUAGE,
                entities=entities,
                nlp_artifacts=artifacts,
                score_threshold=self.settings.score_threshold,
            )
            detections.append(self.cleaner.clean(text, results))
        return detections


_NAME_PARTICLES = frozenset(
    {"van", "von", "de", "da", "del", "della", "der", "den", "di", "du", "la", "le", "bin", "binti", "ibn",
     "al", "el", "dos", "das", "ter", "ten", "y", "st."}
)  # fmt: skip
# A capitalised word, a Mc/Mac/O'/D' surname, or initials ("J.", "J.R.R."), with hyphenated parts.
_NAME_WORD = regex.compile(
    r"(?:(?:\p{Lu}\.)+|\p{Lu}\p{Ll}*\.?|(?:Mc|Mac|O'|O’|D'|D’)\p{Lu}\p{Ll}+)(?:[-'’]\p{Lu}?\p{Ll}+)*"
)
_POSSESSIVE = regex.compile(r"(?:['’]s?)$")


class SpanCleaner:
    """Turns Presidio results into final detections for one text."""

    def __init__(self, settings: RedactionSettings) -> None:
        self.allowed = frozenset(term.casefold() for term in settings.allow_list)
        self.non_name_words = frozenset(word.casefold() for word in settings.non_name_words)

    def clean(self, text: str, results: list[RecognizerResult]) -> list[Detection]:
        detections = []
        for result in results:
            start, end = result.start, result.end
            if result.entity_type == "PERSON":
                trimmed = self.name_span(text, start, end)
                if trimmed is None:
                    continue
                start, end = trimmed
            if text[start:end].strip().casefold() in self.allowed:
                continue
            recognizer = (result.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "unknown")
            detections.append(Detection(result.entity_type, start, end, round(result.score, 4), recognizer))
        return merge_overlaps(detections)

    def name_span(self, text: str, start: int, end: int) -> tuple[int, int] | None:
        """The span trimmed to the name (first line, no possessive or punctuation), or None if the
        span is not shaped like a person's name: every word capitalised (particles aside), no digits
        or code characters, no word that marks a product or generic term, and not a lone word that is
        a stop word or that the same text also writes in lower case ("Matches" ... "matches")."""
        value = text[start:end].split("\n", 1)[0]
        stripped = value.rstrip(" \t.,;:!?)\"'’")
        stripped = _POSSESSIVE.sub("", stripped).rstrip()
        leading = len(stripped) - len(stripped.lstrip(" \t(\"'‘“"))
        start, end = start + leading, start + len(stripped)
        words = text[start:end].split()
        if not words or any(word.casefold() in self.non_name_words for word in words):
            return None
        if not all(_NAME_WORD.fullmatch(word) or word.casefold() in _NAME_PARTICLES for word in words):
            return None
        if not any(len(word.rstrip(".")) > 1 for word in words):
            return None
        if len(words) == 1 and (
            words[0].casefold() in STOP_WORDS or regex.search(rf"\b{regex.escape(words[0].lower())}\b", text)
        ):
            return None
        return start, end


class Redactor:
    """Redacts groups of texts (all turns of a conversation, or both sides of a battle) so that one
    value gets one placeholder everywhere in the group."""

    def __init__(self, settings: RedactionSettings | None = None) -> None:
        self.settings = settings or RedactionSettings.default()
        self.analyzer = TextAnalyzer(self.settings)
        self.anonymizer = AnonymizerEngine()

    def redact_group(self, texts: Sequence[str]) -> RedactionResult:
        return redact_with_placeholders(texts, self.analyzer.analyze(texts), self.settings, self.anonymizer)
