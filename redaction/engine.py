"""Finding PII in chat texts and redacting a group of texts with shared placeholders.

`TextAnalyzer` runs Presidio's recognizers (the project's, over the prose-NER engine) on batches of texts
and cleans the raw hits: allow-listed spans go, PERSON hits that are not name-shaped go, overlaps are
merged so no fragment of a value survives. `Redactor` turns one group's detections into placeholder
text (see placeholders.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import regex
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_anonymizer import AnonymizerEngine
from spacy.lang.en.stop_words import STOP_WORDS

from redaction.names import NAME_PARTICLES, SHAPE_CHECKED, NameLists, function_words, load_name_lists
from redaction.nlp import LANGUAGE, ProseNerNlpEngine
from redaction.placeholders import redact_with_placeholders
from redaction.recognizers import build_recognizers
from redaction.settings import RedactionSettings
from redaction.spans import Detection, RedactionResult, merge_overlaps


class TextAnalyzer:
    """Presidio analysis of texts in batches, returning cleaned detections per text."""

    def __init__(self, settings: RedactionSettings) -> None:
        self.settings = settings
        gazetteer = settings.name_gazetteer
        confirming = (
            load_name_lists(gazetteer.given_names, gazetteer.surnames, gazetteer.english_words)
            if gazetteer.enabled and gazetteer.confirm_ner
            else None
        )
        self.nlp_engine = ProseNerNlpEngine(settings.ner, confirming)
        self.nlp_engine.load()
        # In build order (the registry's own lookup order varies between processes, and so would which of
        # two equal-scored duplicate spans Presidio keeps).
        self.recognizers = build_recognizers(settings)
        registry = RecognizerRegistry(recognizers=self.recognizers, supported_languages=[LANGUAGE])
        self.analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=self.nlp_engine,
            supported_languages=[LANGUAGE],
            default_score_threshold=settings.score_threshold,
        )
        self.cleaner = SpanCleaner(settings, confirming)

    def analyze(self, texts: Sequence[str]) -> list[list[Detection]]:
        return [
            self.cleaner.clean(text, self._recognize(text, artifacts))
            for text, artifacts in self.nlp_engine.process_batch(texts, LANGUAGE)
        ]

    def _recognize(self, text: str, artifacts: NlpArtifacts) -> list[RecognizerResult]:
        """What AnalyzerEngine.analyze does, without its per-call set-up: every recognizer over the text,
        Presidio's context enhancer only where a weak match could be raised over the threshold by context
        words, then the threshold. No de-duplication here: a span inside another of its type is cleaned on
        its own, so a gazetteer name survives an NER span that ran on into an email ("Layla Boateng
        (layla@..."), which the cleaner drops; `merge_overlaps` joins what is left."""
        entities = list(self.settings.entities)
        threshold = self.settings.score_threshold
        results: list[RecognizerResult] = []
        for recognizer in self.recognizers:
            for result in recognizer.analyze(text, entities, artifacts) or ():
                metadata = result.recognition_metadata = result.recognition_metadata or {}
                metadata.setdefault(RecognizerResult.RECOGNIZER_NAME_KEY, recognizer.name)
                metadata.setdefault(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY, recognizer.id)
                results.append(result)
        if any(result.score < threshold for result in results):
            results = self.analyzer.context_aware_enhancer.enhance_using_context(
                text, results, artifacts, self.recognizers
            )
        return [result for result in results if result.score >= threshold]


# A capitalised word, a Mc/Mac/O'/D' surname, or initials ("J.", "J.R.R."), with hyphenated parts.
_NAME_WORD = regex.compile(
    r"(?:(?:\p{Lu}\.)+|\p{Lu}\p{Ll}*\.?|(?:Mc|Mac|O'|O’|D'|D’)\p{Lu}\p{Ll}+)(?:[-'’]\p{Lu}?\p{Ll}+)*"
)
_LATIN_LETTER = regex.compile(r"\p{Latin}")
_POSSESSIVE = regex.compile(r"(?:['’]s?)$")
_NEXT_CAPITALISED = regex.compile(r"[ \t]+(\p{Lu}\p{Ll}+)")
# Where a sentence starts: the text's or a line's start, or after a full stop, ! or ?, with any opening
# quote or bracket.
_SENTENCE_START = regex.compile(r"(?:^|[\n.!?¡¿])[\s\"'“‘(¡¿]*$")


class SpanCleaner:
    """Turns Presidio results into final detections for one text."""

    def __init__(self, settings: RedactionSettings, names: NameLists | None = None) -> None:
        self.names = names
        self.allowed = frozenset(term.casefold() for term in settings.allow_list)
        self.non_name_words = frozenset(word.casefold() for word in settings.non_name_words)

    def clean(self, text: str, results: list[RecognizerResult]) -> list[Detection]:
        detections = []
        for result in results:
            start, end = result.start, result.end
            if result.entity_type == "PERSON" and not (result.recognition_metadata or {}).get(SHAPE_CHECKED):
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
        if not _LATIN_LETTER.search(value):  # a name in another script: its own model's span, trimmed
            leading = len(value) - len(value.lstrip())
            value = value.strip()
            return (start + leading, start + leading + len(value)) if value else None
        stripped = value.rstrip(" \t.,;:!?)\"'’")
        stripped = _POSSESSIVE.sub("", stripped).rstrip()
        leading = len(stripped) - len(stripped.lstrip(" \t(\"'‘“"))
        start, end = start + leading, start + len(stripped)
        # Capitalised words before the name are not part of it ("Since Eric has ...", "Mein Kollege Udo").
        # The capitalised word right after the span counts with the words that follow the leading one
        # ("Mein Kollege Udo", with "Fabel" after it).
        after = _NEXT_CAPITALISED.match(text, end)
        following = [after.group(1)] if after else []
        while (leading_word := regex.match(r"(\S+)\s+(?=\S)", text[start:end])) and self._leads_name(
            text, start, leading_word.group(1), text[start + leading_word.end() : end].split() + following
        ):
            start += leading_word.end()
        end = start + self._name_length(text[start:end])
        words = text[start:end].split()
        if not words or any(self._marks_non_name(word, words) for word in words):
            return None
        if not all(
            _NAME_WORD.fullmatch(word) or word.casefold() in NAME_PARTICLES or (
                index and word.isalpha() and word.islower()
            )
            for index, word in enumerate(words)
        ):
            return None
        if not any(len(word.rstrip(".")) > 1 for word in words):
            return None
        if len(words) == 1 and (
            words[0].casefold() in STOP_WORDS or regex.search(rf"\b{regex.escape(words[0].lower())}\b", text)
        ):
            return None
        return start, end


    def _leads_name(self, text: str, start: int, word: str, rest: list[str]) -> bool:
        """Whether a span's first word stands before the name rather than in it: an English stop word, a
        function word of another language, unless a given name leads a surname with it ("Mein", "Ieri"; not
        "Ali Hoffmann"), a word that is no given name before a known given name and a surname ("Kollege Udo
        Fabel"), or a sentence's first word, capitalised by grammar, that is no given name before two more
        words ("Ayer Jaguar Vicente")."""
        folded = word.casefold()
        if folded in STOP_WORDS:
            return True
        names = self.names
        if names is None:
            return False
        if folded in function_words() and not (
            names.is_plain_given(word) or (names.is_given(word) and rest and names.ends_a_name(rest[0].strip(".,;:!?")))
        ):
            return True
        if names.is_given(word) or folded in NAME_PARTICLES:
            return False
        if any(
            names.is_given(later.strip(".,;:!?")) and later.casefold() not in NAME_PARTICLES
            for later in rest[:-1]
        ):
            return True
        return len(rest) >= 2 and bool(_SENTENCE_START.search(text, 0, start))

    def _name_length(self, value: str) -> int:
        """The length of a span up to its first lower-case word that is no particle, keeping a second given
        name written in lower case after a given name ("Jose luis", not "Jose luis siempre")."""
        words = list(regex.finditer(r"\S+", value))
        for index, word in enumerate(words):
            text = word.group()
            if index == 0 or not text[0].islower() or text.casefold() in NAME_PARTICLES:
                continue
            previous = words[index - 1].group()
            if self.names is not None and self.names.is_given(previous) and self.names.is_plain_given(text):
                continue
            return words[index - 1].end()
        return len(value)

    def _marks_non_name(self, word: str, words: list[str]) -> bool:
        """A word naming a product or generic term, unless it is the surname of a longer name ("Mary
        Jenkins", not "Jenkins" alone)."""
        if word.casefold() not in self.non_name_words:
            return False
        names = self.names
        return not (
            names is not None and len(words) > 1 and word == words[-1] and names.is_surname(word)
            and names.is_given(words[-2])
        )


class Redactor:
    """Redacts groups of texts (all turns of a conversation, or both sides of a battle) so that one
    value gets one placeholder everywhere in the group."""

    def __init__(self, settings: RedactionSettings | None = None) -> None:
        self.settings = settings or RedactionSettings.default()
        self.analyzer = TextAnalyzer(self.settings)
        self.anonymizer = AnonymizerEngine()

    def redact_group(self, texts: Sequence[str]) -> RedactionResult:
        return redact_with_placeholders(texts, self.analyzer.analyze(texts), self.settings, self.anonymizer)
